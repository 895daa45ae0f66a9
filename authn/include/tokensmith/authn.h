/**
 * @file authn.h
 * @brief Verify TokenSmith (and other OAuth/OIDC) JWTs: the token verifier, key sources,
 *        principals, the verified-token cache and the libmicrohttpd request hook.
 *
 * Objects:
 *  - ::ts_authn_keysource: keys from PEM files, JWKS files and remote JWKS URLs. The only
 *    object with changing state (remote refreshes, JWKS files read again); internally
 *    synchronised.
 *  - ::ts_authn_verifier: immutable rules plus static keys and an optional key source. One
 *    verifier serves every thread; a configuration change builds a new verifier.
 *  - ::ts_authn_principal: the verified identity and every verified claim; immutable and
 *    reference counted (the cache shares them).
 *  - ::ts_authn_mhd: the libmicrohttpd hook (decides on the first handler call, headers only).
 *
 * Thread-safety: every function taking a const handle, and the key source, may be used from any
 * number of threads at once. Rejection is a result, not an error: ts_authn_verify() returns a
 * stable reason code; any code other than TS_AUTHN_OK means the request must be refused.
 * @since 0.1.0
 */
#ifndef TOKENSMITH_AUTHN_H
#define TOKENSMITH_AUTHN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tokensmith/error.h>
#include <tokensmith/export.h>
#include <tokensmith/hook.h>
#include <tokensmith/jose.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TS_AUTHN_DEFAULT_MAX_TOKEN_BYTES (16u * 1024u) /**< token size cap */
#define TS_AUTHN_DEFAULT_LEEWAY_S 60                   /**< clock skew for exp, nbf, iat */
#define TS_AUTHN_MAX_LEEWAY_S 600                      /**< larger leeway is refused */
#define TS_AUTHN_DEFAULT_CACHE_ENTRIES 4096u           /**< verified-token cache size */

/* ------------------------------------------------------------------------------------------ */
/* Reason codes                                                                               */

/** Stable reason codes (the strings are part of the log and CLI contract). New codes are
 *  appended: TS_AUTHN_INSUFFICIENT_USER_AUTHENTICATION (a valid token whose authentication
 *  context, `acr` or `auth_time`, does not meet a requirement: RFC 9470) @since 0.4.0;
 *  TS_AUTHN_REVOKED (a jti on the issuer's revocation list, tokensmith/authn_revocations.h) and
 *  TS_AUTHN_REVOCATIONS_UNAVAILABLE (fail-closed source without a fresh list: 503)
 *  @since 0.4.0. */
#define TS_AUTHN_REASON_MAP(XX)                                                                    \
    XX(TS_AUTHN_OK, "ok")                                                                          \
    XX(TS_AUTHN_MISSING_TOKEN, "missing_token")                                                    \
    XX(TS_AUTHN_TOO_LARGE, "too_large")                                                            \
    XX(TS_AUTHN_MALFORMED, "malformed")                                                            \
    XX(TS_AUTHN_ALG_NOT_ALLOWED, "alg_not_allowed")                                                \
    XX(TS_AUTHN_WRONG_TYP, "wrong_typ")                                                            \
    XX(TS_AUTHN_CRIT_UNSUPPORTED, "crit_unsupported")                                              \
    XX(TS_AUTHN_BAD_KID, "bad_kid")                                                                \
    XX(TS_AUTHN_UNKNOWN_KID, "unknown_kid")                                                        \
    XX(TS_AUTHN_KEYS_UNAVAILABLE, "keys_unavailable")                                              \
    XX(TS_AUTHN_BAD_SIGNATURE, "bad_signature")                                                    \
    XX(TS_AUTHN_INVALID_CLAIM, "invalid_claim")                                                    \
    XX(TS_AUTHN_MISSING_CLAIM, "missing_claim")                                                    \
    XX(TS_AUTHN_EXPIRED, "expired")                                                                \
    XX(TS_AUTHN_NOT_YET_VALID, "not_yet_valid")                                                    \
    XX(TS_AUTHN_WRONG_ISSUER, "wrong_issuer")                                                      \
    XX(TS_AUTHN_WRONG_AUDIENCE, "wrong_audience")                                                  \
    XX(TS_AUTHN_INTERNAL, "internal_error")                                                        \
    XX(TS_AUTHN_INSUFFICIENT_USER_AUTHENTICATION, "insufficient_user_authentication")              \
    XX(TS_AUTHN_REVOKED, "revoked")                                                                \
    XX(TS_AUTHN_REVOCATIONS_UNAVAILABLE, "revocations_unavailable")                                \
    XX(TS_AUTHN_CERTIFICATE_BINDING, "certificate_binding")

typedef enum ts_authn_reason {
#define TS_AUTHN_REASON_ENUM_(name, text) name,
    TS_AUTHN_REASON_MAP(TS_AUTHN_REASON_ENUM_)
#undef TS_AUTHN_REASON_ENUM_
} ts_authn_reason;

/** @return the stable code string ("bad_signature", ...); never NULL. */
TS_API const char *ts_authn_reason_str(ts_authn_reason r);

/* ------------------------------------------------------------------------------------------ */
/* Key sources                                                                                */

typedef struct ts_authn_keysource ts_authn_keysource;

#define TS_AUTHN_KEYSOURCE_OPTIONS_VERSION 1u

/** Options of ts_authn_keysource_new(). Strings are copied. */
typedef struct ts_authn_keysource_options {
    unsigned version;             /**< TS_AUTHN_KEYSOURCE_OPTIONS_VERSION */
    const char *const *pem_files; /**< PEM public keys, certificates or private keys */
    size_t n_pem_files;
    /** Local JWK Set files. Each is read again when it changes (device, inode, size or
     *  modification time): checked on an unknown kid, at most once per refetch_cooldown_s, and
     *  by ts_authn_keysource_refresh(). A file that then fails to read or parse keeps its last
     *  good keys (refresh reports why). @since 0.4.0 */
    const char *const *jwks_files;
    size_t n_jwks_files;
    const char *const *urls; /**< remote JWKS (http/https); keys of all URLs are merged */
    size_t n_urls;
    unsigned default_ttl_s; /**< cache lifetime without Cache-Control max-age (600) */
    unsigned min_ttl_s;     /**< max-age is clamped to [min_ttl_s, max_ttl_s] (60) */
    unsigned max_ttl_s;     /**< (86400) */
    unsigned max_stale_s;   /**< last good keys are dropped this long after their fetch (86400) */
    unsigned refetch_cooldown_s; /**< unknown-kid refetch at most once per this period (30) */
    unsigned timeout_ms;         /**< whole HTTP request, connect included (5000) */
    size_t max_body_bytes;       /**< JWKS body cap (1 MiB) */
    bool allow_insecure_http;    /**< permit http:// URLs other than loopback (false) */
    /** The longest a verification waits for a fetch in progress, in milliseconds (100; 0 = the
     *  default). Fetches run on the key source's own thread; a kid that has not arrived by
     *  then is unknown_kid for that request. The first fetch, while there are no keys at all,
     *  is waited for in full (at most timeout_ms per URL). */
    unsigned max_wait_ms;
} ts_authn_keysource_options;

#define TS_AUTHN_KEYSOURCE_OPTIONS_INIT                                                            \
    {                                                                                              \
        .version = TS_AUTHN_KEYSOURCE_OPTIONS_VERSION, .pem_files = NULL, .n_pem_files = 0,        \
        .jwks_files = NULL, .n_jwks_files = 0, .urls = NULL, .n_urls = 0, .default_ttl_s = 600,    \
        .min_ttl_s = 60, .max_ttl_s = 86400, .max_stale_s = 86400, .refetch_cooldown_s = 30,       \
        .timeout_ms = 5000, .max_body_bytes = TS_JOSE_MAX_JWKS_BYTES,                              \
        .allow_insecure_http = false, .max_wait_ms = 100                                           \
    }

/**
 * Build a key source. Files are read now (an unreadable or invalid file is an error); remote
 * URLs are fetched on first use, or now with ts_authn_keysource_refresh(). With URLs, the key
 * source starts one thread of its own that runs the fetches (one at a time).
 * Ownership: free with ts_authn_keysource_free() after every verifier using it.
 */
TS_API TS_NODISCARD ts_authn_keysource *
ts_authn_keysource_new(const ts_authn_keysource_options *opt, ts_error *err);

/** NULL-safe. Stops a fetch in progress (within about a second) and joins the key source's
 *  thread. */
TS_API void ts_authn_keysource_free(ts_authn_keysource *ks);

/**
 * Fetch every remote URL now, on the calling thread (blocking, bounded by timeout_ms per URL;
 * a fetch already in progress is waited for first). JWKS files that changed are read again
 * first, whatever the cooldown. On failure the last good keys stay in use and @p err says which
 * URL or file failed and why.
 */
TS_API TS_NODISCARD ts_status ts_authn_keysource_refresh(ts_authn_keysource *ks, ts_error *err);

/**
 * The current merged key set. When its lifetime is over a refetch starts in the background and
 * the caller keeps the current keys. Only a caller without any key waits: for the whole first
 * fetch, and at most max_wait_ms for any later one.
 * @return a reference (free with ts_jwks_free()) or NULL when no keys are available.
 */
TS_API ts_jwks *ts_authn_keysource_keys(ts_authn_keysource *ks, ts_error *err);

/**
 * Called on an unknown kid: start a background refetch of the remote URLs unless one ended
 * within refetch_cooldown_s, and wait at most max_wait_ms for the fetch due or running. JWKS
 * files are looked at too under the same cooldown (a stat; a read when one changed).
 * @return the current set (new when the fetch ended in time), as ts_authn_keysource_keys().
 */
TS_API ts_jwks *ts_authn_keysource_keys_for_unknown_kid(ts_authn_keysource *ks, ts_error *err);

/** Number of completed HTTP fetch attempts (for tests and metrics). */
TS_API unsigned long ts_authn_keysource_fetch_count(const ts_authn_keysource *ks);

/* ------------------------------------------------------------------------------------------ */
/* Principals                                                                                 */

typedef struct ts_authn_principal ts_authn_principal;

typedef enum ts_authn_principal_type {
    TS_AUTHN_PRINCIPAL_UNKNOWN = 0,
    TS_AUTHN_PRINCIPAL_USER,
    TS_AUTHN_PRINCIPAL_SERVICE,
} ts_authn_principal_type;

/** Map one OAuth scope to one role (the scope-to-role table of the options). */
typedef struct ts_authn_scope_role {
    const char *scope;
    const char *role;
} ts_authn_scope_role;

/** "user", "service" or "unknown". Static string. */
TS_API const char *ts_authn_principal_type_str(ts_authn_principal_type t);

/** The subject (`sub`). Borrowed, valid while @p p lives. */
TS_API const char *ts_authn_principal_id(const ts_authn_principal *p);
TS_API ts_authn_principal_type ts_authn_principal_type_of(const ts_authn_principal *p);
/** Roles, deduplicated, in first-seen order. Borrowed array of borrowed strings. */
TS_API const char *const *ts_authn_principal_roles(const ts_authn_principal *p, size_t *n);
/** Scopes from `scope` (space-separated string or array) and `scp`. Borrowed. */
TS_API const char *const *ts_authn_principal_scopes(const ts_authn_principal *p, size_t *n);
TS_API bool ts_authn_principal_has_scope(const ts_authn_principal *p, const char *scope);
/** The domain claim's value, or NULL. Borrowed. */
TS_API const char *ts_authn_principal_domain(const ts_authn_principal *p);
TS_API const char *ts_authn_principal_issuer(const ts_authn_principal *p);
TS_API const char *ts_authn_principal_kid(const ts_authn_principal *p);
TS_API const char *ts_authn_principal_jti(const ts_authn_principal *p);
TS_API int64_t ts_authn_principal_exp(const ts_authn_principal *p);
/** A string claim, or NULL when absent or not a string. Borrowed. */
TS_API const char *ts_authn_principal_claim_string(const ts_authn_principal *p, const char *name);
/** Every verified claim: the token's payload JSON exactly as signed. Borrowed. */
TS_API const char *ts_authn_principal_claims_json(const ts_authn_principal *p);
/** The authentication context class (`acr`, OIDC Core §2), or NULL when absent or not a string.
 *  Borrowed. @since 0.4.0 */
TS_API const char *ts_authn_principal_acr(const ts_authn_principal *p);
/** The authentication methods (`amr`, RFC 8176): the string members of the `amr` array in
 *  token order; none (NULL, @p n 0) when the claim is absent or not an array. Borrowed.
 *  @since 0.4.0 */
TS_API const char *const *ts_authn_principal_amr(const ts_authn_principal *p, size_t *n);
/** When the user last authenticated (`auth_time`, Unix seconds). @return false (and @p *t 0)
 *  when the claim is absent or not an integer. @since 0.4.0 */
TS_API bool ts_authn_principal_auth_time(const ts_authn_principal *p, int64_t *t);

TS_API ts_authn_principal *ts_authn_principal_ref(ts_authn_principal *p);
/** NULL-safe. */
TS_API void ts_authn_principal_free(ts_authn_principal *p);

/* ------------------------------------------------------------------------------------------ */
/* Verifier                                                                                   */

typedef struct ts_authn_verifier ts_authn_verifier;
typedef struct ts_authn_revocations ts_authn_revocations;

#define TS_AUTHN_OPTIONS_VERSION 1u

/** Options of ts_authn_verifier_new(). Arrays and strings are copied. */
typedef struct ts_authn_options {
    unsigned version; /**< TS_AUTHN_OPTIONS_VERSION */
    /** Accepted `iss` values, exact match; at least one, none empty or NULL (refused with
     *  TS_EINVAL, `err->where` "issuers[i]"). */
    const char *const *issuers;
    size_t n_issuers;
    /** Ours: `aud` must contain one of them; at least one, none empty or NULL ("audiences[i]"). */
    const char *const *audiences;
    size_t n_audiences;
    const ts_jwks *keys;           /**< static keys (referenced), may be NULL */
    ts_authn_keysource *keysource; /**< consulted after @p keys; borrowed, must outlive us */
    unsigned algorithms;           /**< allowed algorithms, TS_JWS_ALG_BIT() set; 0 = all nine */
    const char *const *typs;       /**< accepted `typ` values (case-insensitive, "application/"
                                      prefix allowed); NULL = {"JWT", "at+jwt"} */
    size_t n_typs;
    bool require_typ;                   /**< refuse tokens without `typ` (false) */
    bool require_rfc7638_kid;           /**< kid must look like a SHA-256 thumbprint (false) */
    int leeway_s;                       /**< for exp, nbf, iat; 0..600 seconds (60) */
    size_t max_token_bytes;             /**< 0 = TS_AUTHN_DEFAULT_MAX_TOKEN_BYTES */
    const char *const *required_claims; /**< extra claims that must be present and not null */
    size_t n_required_claims;
    bool require_nist_claims; /**< TokenSmith's auth_level, auth_factors >= 2, auth_methods,
                                 session_id, session_exp (<= iat + 86400), auth_events */
    /* Principal mapping. */
    const char *const *role_claims; /**< claims holding roles; NULL = {"roles", "groups"} */
    size_t n_role_claims;
    const ts_authn_scope_role *scope_roles; /**< scope-to-role table, may be NULL */
    size_t n_scope_roles;
    const char *domain_claim; /**< NULL = "domain" */
    const char *type_claim;   /**< claim naming "user"/"service"; NULL = "principal_type" */
    /* Verified-token cache. */
    bool disable_cache;   /**< false: cache successes keyed by SHA-256 of the token */
    size_t cache_entries; /**< 0 = TS_AUTHN_DEFAULT_CACHE_ENTRIES */
    /** Clock in Unix seconds; NULL = time(). For tests. */
    int64_t (*now)(void *ud);
    void *now_ud;
    /** Refuse break-glass tokens (minted offline by `tokensmith user-token create`) with
     * TS_AUTHN_INVALID_CLAIM: a `break_glass` claim that is present and not `false` (any other
     * value, `null` and non-booleans included), or `auth_methods` containing "local_user_mint"
     * (the older form, present only with NIST claims on). (false) */
    bool reject_local_mint;
    /** Step-up (RFC 9470), checked on every verification, a cached token's included: the
     *  token's `acr` must equal one of these (exact bytes); NULL/0 = any acr, or none. Each a
     *  non-empty value without space, quote, backslash or control character (it is echoed in
     *  the challenge's `acr_values`). A token that falls short is
     *  TS_AUTHN_INSUFFICIENT_USER_AUTHENTICATION. @since 0.4.0 */
    const char *const *acr_values;
    size_t n_acr_values;
    /** > 0: `auth_time` is required and may be at most this many seconds old (plus the
     *  leeway); 0: no age limit. Negative is refused. @since 0.4.0 */
    int64_t max_auth_age_s;
    /** The issuer's revocation list (tokensmith/authn_revocations.h), checked on every
     *  verification, a cached token's included: TS_AUTHN_REVOKED for a listed jti,
     *  TS_AUTHN_REVOCATIONS_UNAVAILABLE when fail-closed and stale. Borrowed, must outlive us;
     *  NULL = none. @since 0.4.0 */
    ts_authn_revocations *revocations;
    /** Kubernetes legacy Secret-based service-account tokens (authn_kubernetes.h): a token
     *  whose `iss` is exactly this value (the API server signs them as
     *  "kubernetes/serviceaccount") and that carries the flat
     *  `kubernetes.io/serviceaccount/namespace` claim and no nested `kubernetes.io` object is
     *  accepted without `exp` and without `aud`, which such tokens never carry. Every other check
     *  applies, and an `aud` or `exp` that is present is still judged. These tokens are valid
     *  until their Secret is deleted and bound to no audience: set this only where an operator
     *  explicitly allows them. They are not kept in the verified-token cache (it keeps tokens
     *  until their exp). NULL = none. @since 0.4.0 */
    const char *legacy_k8s_issuer;
} ts_authn_options;

#define TS_AUTHN_OPTIONS_INIT                                                                      \
    {                                                                                              \
        .version = TS_AUTHN_OPTIONS_VERSION, .issuers = NULL, .n_issuers = 0, .audiences = NULL,   \
        .n_audiences = 0, .keys = NULL, .keysource = NULL, .algorithms = 0, .typs = NULL,          \
        .n_typs = 0, .require_typ = false, .require_rfc7638_kid = false,                           \
        .leeway_s = TS_AUTHN_DEFAULT_LEEWAY_S, .max_token_bytes = 0, .required_claims = NULL,      \
        .n_required_claims = 0, .require_nist_claims = false, .role_claims = NULL,                 \
        .n_role_claims = 0, .scope_roles = NULL, .n_scope_roles = 0, .domain_claim = NULL,         \
        .type_claim = NULL, .disable_cache = false, .cache_entries = 0, .now = NULL,               \
        .now_ud = NULL, .reject_local_mint = false, .acr_values = NULL, .n_acr_values = 0,         \
        .max_auth_age_s = 0, .revocations = NULL, .legacy_k8s_issuer = NULL                        \
    }

/**
 * Build a verifier. Fails when no issuer or audience is given, the leeway is out of range, the
 * algorithm set is empty, or neither static keys nor a key source is given.
 * Ownership: free with ts_authn_verifier_free() when no thread uses it any more.
 */
TS_API TS_NODISCARD ts_authn_verifier *ts_authn_verifier_new(const ts_authn_options *opt,
                                                             ts_error *err);

/** NULL-safe. */
TS_API void ts_authn_verifier_free(ts_authn_verifier *v);

/** What a failed verification knew about the token, for logs (never the token itself). */
typedef struct ts_authn_detail {
    char kid[TS_JOSE_MAX_KID_BYTES + 1]; /**< header kid (printable ASCII only) or "" */
    char iss[256];                       /**< claim iss (printable ASCII only) or "" */
    char alg[16];                        /**< header alg or "" */
} ts_authn_detail;

/**
 * Verify a compact JWS token (the order of checks: size, structure, header, key, signature,
 * claims) and map it to a principal.
 * @param token untrusted bytes, need not be NUL-terminated.
 * @param out on TS_AUTHN_OK a new reference (free with ts_authn_principal_free()), else NULL.
 * @param detail may be NULL; filled for logging.
 * @param err may be NULL; gets the human message for any rejection ("where" names the part).
 * @return TS_AUTHN_OK or the reason of the rejection. Anything but TS_AUTHN_OK means deny.
 *         TS_AUTHN_INSUFFICIENT_USER_AUTHENTICATION (the verifier's acr_values or
 *         max_auth_age_s, since 0.4.0) comes last, after every other check passed; @p err's
 *         `where` is then "acr" or "auth_time", the one at fault.
 */
TS_API TS_NODISCARD ts_authn_reason ts_authn_verify(const ts_authn_verifier *v, const char *token,
                                                    size_t len, ts_authn_principal **out,
                                                    ts_authn_detail *detail, ts_error *err);

/** Cache statistics (hits, misses, entries in use). */
TS_API void ts_authn_verifier_cache_stats(const ts_authn_verifier *v, uint64_t *hits,
                                          uint64_t *misses, size_t *entries);

/**
 * The UNVERIFIED `iss` claim of a compact JWS, for a service that trusts several issuers, each
 * with its own verifier (own keys), to pick the verifier that then decides:
 * `ts_authn_peek_issuer()`, look the issuer up among the configured ones (exact bytes), then
 * ts_authn_verify() on that issuer's verifier, which checks `iss` again with the signature.
 *
 * THIS IS NEVER A TRUST DECISION. Nothing here is verified: anyone can write any `iss` into a
 * token. Use the result only as a key to find a verifier; never to accept, authorise, log as
 * the caller's identity or skip a check. Above all, do not merge the keys of several issuers
 * into one verifier and use this to "check" the issuer: one issuer's key would then sign for
 * another. The value is attacker-controlled text (any UTF-8 but NUL): sanitise it before
 * logging it, and log ts_authn_detail's `iss` after verification instead.
 *
 * Read under ts_authn_verify()'s bounds, so a token refused here is refused there too: at most
 * @p max_token_bytes; exactly three parts; header and payload non-empty and strict base64url;
 * the decoded header at most 8 KiB (not parsed); the payload a JSON object with duplicate
 * members refused and nesting capped at TS_JOSE_MAX_JSON_DEPTH; `iss` a non-empty string
 * without NUL. The signature part is not looked at.
 * @param token untrusted bytes, need not be NUL-terminated.
 * @param max_token_bytes the verifiers' `max_token_bytes`; 0 = TS_AUTHN_DEFAULT_MAX_TOKEN_BYTES.
 * @param iss on TS_AUTHN_OK a new NUL-terminated copy (free with ts_free()), else NULL.
 * @param err may be NULL; says why the issuer could not be read.
 * @return TS_AUTHN_OK; TS_AUTHN_MISSING_TOKEN (empty), TS_AUTHN_TOO_LARGE, TS_AUTHN_MALFORMED,
 *         TS_AUTHN_MISSING_CLAIM (no `iss`), TS_AUTHN_INVALID_CLAIM (`iss` not a non-empty
 *         string without NUL): each means deny, as from ts_authn_verify(); TS_AUTHN_INTERNAL
 *         when out of memory or @p iss is NULL.
 * Thread-safety: no shared state; any number of threads at once.
 * @since 0.2.0
 */
TS_API TS_NODISCARD ts_authn_reason ts_authn_peek_issuer(const char *token, size_t len,
                                                         size_t max_token_bytes, char **iss,
                                                         ts_error *err);

/* ------------------------------------------------------------------------------------------ */
/* Step-up: the authentication context a request needs (RFC 9470)                             */

#define TS_AUTHN_REQUIREMENT_VERSION 1u

/** An authentication context requirement, for one route or one verifier. Plain data, borrowed
 *  for the call. @since 0.4.0 */
typedef struct ts_authn_requirement {
    unsigned version; /**< TS_AUTHN_REQUIREMENT_VERSION */
    /** `acr` must equal one of these (exact bytes); NULL/0 = no acr requirement. Each a
     *  non-empty value without space, quote, backslash or control character. */
    const char *const *acr_values;
    size_t n_acr_values;
    /** > 0: `auth_time` is required and now - auth_time may not exceed it plus the leeway;
     *  0: no age limit. */
    int64_t max_age_s;
} ts_authn_requirement;

#define TS_AUTHN_REQUIREMENT_INIT                                                                  \
    {                                                                                              \
        .version = TS_AUTHN_REQUIREMENT_VERSION, .acr_values = NULL, .n_acr_values = 0,            \
        .max_age_s = 0                                                                             \
    }

/**
 * Whether @p req is well formed: a known version, acr values that are non-empty and hold no
 * space, quote, backslash or control character, a non-negative max_age_s.
 * @return TS_OK, or TS_EINVAL with `where` naming the field ("acr_values[i]", "max_age_s").
 * @since 0.4.0
 */
TS_API TS_NODISCARD ts_status ts_authn_requirement_check(const ts_authn_requirement *req,
                                                         ts_error *err);

/**
 * Whether a verified principal meets @p req, at the verifier's clock and with its leeway: the
 * per-route check of a front that verifies once and requires more on some routes. A cached
 * principal is judged each time (auth_time ages).
 *  - acr_values: `acr` a string equal to one of them, else
 *    TS_AUTHN_INSUFFICIENT_USER_AUTHENTICATION (`where` "acr"), a missing acr included;
 *  - max_age_s: `auth_time` an integer (absent or not an integer: insufficient, `where`
 *    "auth_time"), now - auth_time <= max_age_s + leeway (else insufficient), and not more than
 *    the leeway in the future (TS_AUTHN_INVALID_CLAIM: another login would not change it).
 * @param age_problem may be NULL; set true when auth_time (not acr) is at fault, so that the
 *        challenge carries `max_age` (ts_authn_stepup_challenge()).
 * @return TS_AUTHN_OK, the reason as said, or TS_AUTHN_INTERNAL for a NULL argument or an
 *         invalid requirement. Thread-safety: no shared state.
 * @since 0.4.0
 */
TS_API TS_NODISCARD ts_authn_reason ts_authn_require(const ts_authn_verifier *v,
                                                     const ts_authn_principal *p,
                                                     const ts_authn_requirement *req,
                                                     bool *age_problem, ts_error *err);

/**
 * The `WWW-Authenticate` value of a step-up refusal (RFC 9470 §3):
 * `Bearer error="insufficient_user_authentication"`, then `, acr_values="a b"` when the requirement
 * has acr values and
 * `, max_age="300"` when @p with_max_age and the requirement has an age limit; `realm="..."` first
 * when @p realm is not NULL (the rule of ts_authn_refusal_challenge()).
 * @return TS_OK with @p *challenge (free with ts_free()); TS_EINVAL for a NULL argument, an
 *         invalid requirement or realm; TS_ENOMEM. @since 0.4.0
 */
TS_API TS_NODISCARD ts_status ts_authn_stepup_challenge(const ts_authn_requirement *req,
                                                        bool with_max_age, const char *realm,
                                                        char **challenge, ts_error *err);

/* ------------------------------------------------------------------------------------------ */
/* Refusals                                                                                   */

/**
 * The HTTP status that answers a request refused for @p r: 503 for TS_AUTHN_INTERNAL
 * (verification could not be completed, which says nothing about the token: send
 * `Retry-After: 1` and no `WWW-Authenticate`), 401 for every other reason, 0 for TS_AUTHN_OK.
 * What ts_authn_mhd_check() answers; a front of its own (a proxy's auth service) uses the same.
 * @since 0.2.0
 */
TS_API int ts_authn_refusal_status(ts_authn_reason r);

/** The request a refusal is about, as received; plain data, nothing is kept. @since 0.2.0 */
typedef struct ts_authn_refused_request {
    const char *method; /**< untrusted bytes, need not be NUL-terminated; NULL = "" */
    size_t method_len;
    const char *path; /**< the request path as the application sees it; NULL = "" */
    size_t path_len;
    /** The client's X-Request-ID, or NULL: echoed only when 1 to 128 bytes of visible ASCII
     *  (authz's guard applies the same rule), otherwise left out. */
    const char *request_id;
    size_t request_id_len;
} ts_authn_refused_request;

/**
 * The `authz.deny.v1` body of a refusal for @p r (one JSON line ending in "\n"; send it with
 * `Content-Type: application/json; charset=utf-8` and `Cache-Control: no-store`), byte for byte
 * what ts_authn_mhd_check() sends (docs/authn.md shows the three shapes):
 *  - TS_AUTHN_MISSING_TOKEN, no credentials at all (no Authorization header, or another scheme
 *    than Bearer): `"code":"AUTHN_REQUIRED"`, `"reason":"no_principal"`, no `details`;
 *  - TS_AUTHN_INTERNAL: `"code":"AUTHN_UNAVAILABLE"`, `"reason":"internal_error"`;
 *  - TS_AUTHN_INSUFFICIENT_USER_AUTHENTICATION (since 0.4.0): `"code":"AUTHN_STEP_UP"`,
 *    `"reason":"insufficient_user_authentication"`;
 *  - every other reason: `"code":"AUTHN_INVALID"`, `"reason":"invalid_token"`;
 *  all but the first with `"details":{"authn_reason":"<ts_authn_reason_str(r)>"}`. Method and path
 * go into `input` and `request`; one that is not valid UTF-8 is left out.
 * @param body on TS_OK the body (free with ts_free()), else NULL. @param len may be NULL.
 * @return TS_OK; TS_EINVAL for a NULL argument or TS_AUTHN_OK; TS_ENOMEM.
 * Thread-safety: no shared state. @since 0.2.0
 */
TS_API TS_NODISCARD ts_status ts_authn_refusal_body(ts_authn_reason r,
                                                    const ts_authn_refused_request *rq, char **body,
                                                    size_t *len, ts_error *err);

/**
 * The `WWW-Authenticate` value of a refusal for @p r (RFC 6750 §3): `Bearer` (with
 * TS_AUTHN_MISSING_TOKEN: no error attribute when no credentials were sent, §3.1) or
 * `Bearer error="invalid_token"` (TS_AUTHN_INSUFFICIENT_USER_AUTHENTICATION, since 0.4.0:
 * `Bearer error="insufficient_user_authentication"` without acr_values: a front that knows
 * the requirement uses ts_authn_stepup_challenge()), each with `realm="..."` first when
 * @p realm is not NULL
 * (`Bearer realm="api", error="invalid_token"`). For TS_AUTHN_INTERNAL there is none (a 503:
 * other credentials would not change it): TS_OK with @p *challenge NULL.
 * @param realm may be NULL; refused (TS_EINVAL, `where` "realm") when it holds a quote, a
 *        backslash or a control character other than HTAB.
 * @param challenge on TS_OK the value (free with ts_free()) or NULL as said.
 * @return TS_OK; TS_EINVAL; TS_ENOMEM. Thread-safety: no shared state. @since 0.2.0
 */
TS_API TS_NODISCARD ts_status ts_authn_refusal_challenge(ts_authn_reason r, const char *realm,
                                                         char **challenge, ts_error *err);

/**
 * Parse an Authorization header value strictly: scheme "Bearer" (any case), one space, a
 * token of RFC 6750 b64token characters and nothing after it.
 * @return true with the token's position in @p value.
 */
TS_API bool ts_authn_parse_bearer(const char *value, size_t len, const char **token,
                                  size_t *token_len);

#ifdef __cplusplus
}
#endif
/* The libmicrohttpd hook and Kubernetes service-account tokens: headers of their own, part of
 * this API. */
#include <tokensmith/authn_kubernetes.h>
#include <tokensmith/authn_mhd.h>

#endif
