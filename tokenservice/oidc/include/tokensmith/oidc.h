/**
 * @file oidc.h
 * @brief Upstream OpenID Connect for the token service: provider configuration, discovery,
 *        ID token validation, optional RFC 7662 introspection and the mapping of upstream
 *        claims to internal ones, narrowed by the RFC 8693 request.
 *
 * Objects:
 *  - ::ts_oidc_config: the providers (several at once, selected by the token's `iss`, exact
 *    match), parsed from JSON and validated. Immutable and reference counted.
 *  - ::ts_oidc: the relying party built from a config. It discovers each provider lazily (or on
 *    ts_oidc_discover()), keeps the discovery document for a bounded time and verifies
 *    signatures through authn's remote JWKS key source (cache, unknown-kid refetch, stale keys
 *    kept up to their maximum age). A configuration change builds a new ::ts_oidc.
 *  - ::ts_oidc_claims: the internal claims to mint from, owned by the caller.
 *
 * Rejection is a result, not an error: the check functions return a stable ::ts_oidc_reason;
 * anything other than TS_OIDC_OK means the exchange must be refused.
 * Thread-safety: a const config, and a ::ts_oidc, may be used from any number of threads.
 * Ownership: strings returned as `char *` are freed with ts_free().
 * @since 0.1.0
 */
#ifndef TOKENSMITH_OIDC_H
#define TOKENSMITH_OIDC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tokensmith/error.h>
#include <tokensmith/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Bounds on configuration and on untrusted upstream input. */
#define TS_OIDC_MAX_CONFIG_BYTES (256u * 1024u) /**< configuration JSON */
#define TS_OIDC_MAX_PROVIDERS 32u               /**< providers in one configuration */
#define TS_OIDC_MAX_LIST 256u    /**< entries in any list (groups, scopes, audiences, ...) */
#define TS_OIDC_MAX_STRING 2048u /**< bytes in any configured string */
#define TS_OIDC_MAX_DOC_BYTES (256u * 1024u) /**< discovery and introspection bodies */
#define TS_OIDC_MAX_TIMEOUT_MS 60000u        /**< larger HTTP timeouts are refused */

/* ------------------------------------------------------------------------------------------ */
/* Reason codes                                                                               */

/**
 * Stable reason codes. Those shared with authn keep authn's strings (ts_authn_reason_str()).
 */
#define TS_OIDC_REASON_MAP(XX)                                                                     \
    XX(TS_OIDC_OK, "ok")                                                                           \
    XX(TS_OIDC_MISSING_TOKEN, "missing_token")                                                     \
    XX(TS_OIDC_TOO_LARGE, "too_large")                                                             \
    XX(TS_OIDC_MALFORMED, "malformed")                                                             \
    XX(TS_OIDC_ALG_NOT_ALLOWED, "alg_not_allowed")                                                 \
    XX(TS_OIDC_WRONG_TYP, "wrong_typ")                                                             \
    XX(TS_OIDC_CRIT_UNSUPPORTED, "crit_unsupported")                                               \
    XX(TS_OIDC_BAD_KID, "bad_kid")                                                                 \
    XX(TS_OIDC_UNKNOWN_KID, "unknown_kid")                                                         \
    XX(TS_OIDC_KEYS_UNAVAILABLE, "keys_unavailable")                                               \
    XX(TS_OIDC_BAD_SIGNATURE, "bad_signature")                                                     \
    XX(TS_OIDC_INVALID_CLAIM, "invalid_claim")                                                     \
    XX(TS_OIDC_MISSING_CLAIM, "missing_claim")                                                     \
    XX(TS_OIDC_EXPIRED, "expired")                                                                 \
    XX(TS_OIDC_NOT_YET_VALID, "not_yet_valid")                                                     \
    XX(TS_OIDC_WRONG_ISSUER, "wrong_issuer")                                                       \
    XX(TS_OIDC_WRONG_AUDIENCE, "wrong_audience")                                                   \
    XX(TS_OIDC_WRONG_AZP, "wrong_azp")                                                             \
    XX(TS_OIDC_WRONG_NONCE, "wrong_nonce")                                                         \
    XX(TS_OIDC_INACTIVE, "inactive_token")                                                         \
    XX(TS_OIDC_WRONG_CLIENT, "wrong_client")                                                       \
    XX(TS_OIDC_UNSUPPORTED_TOKEN_TYPE, "unsupported_token_type")                                   \
    XX(TS_OIDC_SCOPE_NOT_GRANTED, "scope_not_granted")                                             \
    XX(TS_OIDC_TARGET_NOT_ALLOWED, "target_not_allowed")                                           \
    XX(TS_OIDC_DISCOVERY_FAILED, "discovery_failed")                                               \
    XX(TS_OIDC_INTROSPECTION_FAILED, "introspection_failed")                                       \
    XX(TS_OIDC_INTERNAL, "internal_error")                                                         \
    XX(TS_OIDC_NO_IDENTITY_RULE, "no_identity_rule")

typedef enum ts_oidc_reason {
#define TS_OIDC_REASON_ENUM_(name, text) name,
    TS_OIDC_REASON_MAP(TS_OIDC_REASON_ENUM_)
#undef TS_OIDC_REASON_ENUM_
} ts_oidc_reason;

/** @return the stable code string ("wrong_azp", ...); never NULL. */
TS_API const char *ts_oidc_reason_str(ts_oidc_reason r);

/**
 * The RFC 8693 / RFC 6749 §5.2 `error` for a rejection, and its HTTP status:
 * "invalid_scope" (400) for a scope the mapping does not grant, "invalid_target" (400) for an
 * audience or resource not allowed, "server_error" (503) when the upstream provider could not
 * be reached or the library failed, "invalid_grant" (400) for a Kubernetes service account
 * that no identity rule maps (TS_OIDC_NO_IDENTITY_RULE, since 0.2.0: no rule, no grant), and
 * "invalid_request" (400) for every other problem with the subject token. @p http_status may be
 * NULL. @return a static string; NULL for TS_OIDC_OK.
 */
TS_API const char *ts_oidc_reason_oauth_error(ts_oidc_reason r, int *http_status);

/* ------------------------------------------------------------------------------------------ */
/* Configuration                                                                              */

typedef struct ts_oidc_config ts_oidc_config;

/**
 * Parse and validate a provider configuration:
 * `{"providers":[{"issuer":..., "client_id":..., ...}, ...]}`; the fields and their rules are
 * in docs/oidc.md. Unknown fields are refused, so that a typo never silently disables a check.
 * Two providers whose subject templates could give users of both the same internal subject
 * are refused (`where` names the later one's `subject_template`): with several providers,
 * each needs a `name` or a template that sets its subjects apart.
 * @return the config, or NULL with @p err's `where` naming the field
 *         ("providers[1].group_scopes.admins[0]").
 * Ownership: free with ts_oidc_config_free().
 */
TS_API TS_NODISCARD ts_oidc_config *ts_oidc_config_parse(const char *json, size_t len,
                                                         ts_error *err);

/** Take a reference. @return @p cfg. */
TS_API ts_oidc_config *ts_oidc_config_ref(ts_oidc_config *cfg);
/** Drop a reference. NULL-safe. */
TS_API void ts_oidc_config_free(ts_oidc_config *cfg);

/**
 * The configuration as canonical JSON (every field, defaults filled in). Client secrets are
 * written as "********" unless @p include_secrets.
 * Ownership: free with ts_free().
 */
TS_API TS_NODISCARD char *ts_oidc_config_to_json(const ts_oidc_config *cfg, bool include_secrets,
                                                 ts_error *err);

/** Number of providers. */
TS_API size_t ts_oidc_config_count(const ts_oidc_config *cfg);
/** The issuer of provider @p i, or NULL. Borrowed, valid while @p cfg lives. */
TS_API const char *ts_oidc_config_issuer(const ts_oidc_config *cfg, size_t i);
/** The client id of provider @p i, or NULL. Borrowed. */
TS_API const char *ts_oidc_config_client_id(const ts_oidc_config *cfg, size_t i);
/** The name of provider @p i, or NULL when it has none. Borrowed. @since 0.2.0 */
TS_API const char *ts_oidc_config_name(const ts_oidc_config *cfg, size_t i);
/**
 * The subject template of provider @p i (as configured, or the default: "{name}:{sub}" for a
 * named provider, "{sub}" otherwise), or NULL. Borrowed. @since 0.2.0
 */
TS_API const char *ts_oidc_config_subject_template(const ts_oidc_config *cfg, size_t i);

/* ------------------------------------------------------------------------------------------ */
/* Internal claims                                                                            */

/**
 * Claims mapped from a validated upstream token, narrowed by the request. Read-only.
 * Every string carried from upstream is free of control characters (C0, DEL, C1): a token
 * with one in `sub`, `name`, `email`, `acr`, `amr` or a group is refused (invalid_claim).
 */
typedef struct ts_oidc_claims {
    char *issuer;    /**< upstream `iss` (the provider's issuer) */
    char *client_id; /**< our client id at that provider */
    /**
     * The internal subject to mint: the upstream `sub` placed in the provider's
     * subject_template ("alice" or "corp:alice"), unique across the configured providers.
     * Since 0.2.0; before, it was the upstream value, now in upstream_sub.
     */
    char *sub;
    char *name;         /**< NULL when the upstream did not assert it */
    char *email;        /**< NULL when absent */
    int email_verified; /**< 1, 0, or -1 when absent */
    char **groups;      /**< upstream groups from the configured group claims */
    size_t n_groups;
    char **scopes; /**< granted scopes, after narrowing */
    size_t n_scopes;
    char **audiences; /**< granted audiences, after narrowing */
    size_t n_audiences;
    char **resources; /**< granted resources, after narrowing */
    size_t n_resources;
    char **amr; /**< upstream authentication methods */
    size_t n_amr;
    char *acr;          /**< NULL when absent */
    int64_t auth_time;  /**< 0 when absent */
    int64_t exp;        /**< upstream expiry; the minted token must not outlive it */
    char *upstream_sub; /**< the upstream `sub` as the provider sent it. @since 0.2.0 */
    /** "service" for a Kubernetes service account; NULL for a user of an OpenID provider.
     *  @since 0.2.0 */
    char *principal_type;
    char **roles; /**< roles of the matching identity rule (Kubernetes). @since 0.2.0 */
    size_t n_roles;
    /** The service account (Kubernetes providers; NULL otherwise): namespace, name and uid
     *  (NULL when the token has none), from the token's verified kubernetes.io claims.
     *  @since 0.2.0 */
    char *k8s_namespace;
    char *k8s_service_account;
    char *k8s_uid;
} ts_oidc_claims;

/** NULL-safe. */
TS_API void ts_oidc_claims_free(ts_oidc_claims *c);

/**
 * The claims as one JSON object (`sub` the internal subject, `upstream_sub`, `scope`
 * space-separated, `aud` an array, absent members omitted).
 * Ownership: free with ts_free().
 */
TS_API TS_NODISCARD char *ts_oidc_claims_to_json(const ts_oidc_claims *c, ts_error *err);

/** What the token-exchange request asks for; every member optional. Strings are not kept. */
typedef struct ts_oidc_narrow {
    const char *scope;            /**< space-delimited; NULL or "" = every granted scope */
    const char *const *audiences; /**< `audience` parameters; none = every allowed audience */
    size_t n_audiences;
    const char *const *resources; /**< `resource` parameters; none = every allowed resource */
    size_t n_resources;
} ts_oidc_narrow;

/**
 * Map verified upstream claims (a JSON object) to internal claims with the mapping of the
 * provider whose issuer equals the claims' `iss`: `sub` becomes the internal subject through
 * the provider's subject_template, groups (from the configured group claims) become scopes
 * through group_scopes; the request can only narrow that grant. A missing `sub` is
 * TS_OIDC_MISSING_CLAIM; an empty `sub`, a wrongly typed claim (`email_verified` not a boolean,
 * `auth_time` not an integer, ...) or a control character in a carried string is
 * TS_OIDC_INVALID_CLAIM.
 * @return TS_OIDC_OK with *out set; TS_OIDC_SCOPE_NOT_GRANTED, TS_OIDC_TARGET_NOT_ALLOWED,
 *         TS_OIDC_WRONG_ISSUER, TS_OIDC_MISSING_CLAIM or TS_OIDC_INVALID_CLAIM otherwise.
 * The claims must already be verified; this function checks none of their validity.
 * Ownership: free *out with ts_oidc_claims_free().
 */
TS_API TS_NODISCARD ts_oidc_reason ts_oidc_map_claims(const ts_oidc_config *cfg,
                                                      const char *claims_json, size_t len,
                                                      const ts_oidc_narrow *narrow,
                                                      ts_oidc_claims **out, ts_error *err);

/* ------------------------------------------------------------------------------------------ */
/* Relying party                                                                              */

typedef struct ts_oidc ts_oidc;

#define TS_OIDC_OPTIONS_VERSION 1u

/** Options of ts_oidc_new(). */
typedef struct ts_oidc_options {
    unsigned version; /**< TS_OIDC_OPTIONS_VERSION */
    /** Clock in Unix seconds for token times; NULL = time(). For tests. */
    int64_t (*now)(void *ud);
    void *now_ud;
} ts_oidc_options;

#define TS_OIDC_OPTIONS_INIT                                                                       \
    {                                                                                              \
        .version = TS_OIDC_OPTIONS_VERSION, .now = NULL, .now_ud = NULL                            \
    }

/**
 * Build a relying party for every provider of @p cfg (a reference is kept). No network access
 * happens here. @param opt may be NULL.
 * Ownership: free with ts_oidc_free() when no thread uses it any more.
 */
TS_API TS_NODISCARD ts_oidc *ts_oidc_new(ts_oidc_config *cfg, const ts_oidc_options *opt,
                                         ts_error *err);
/** NULL-safe. */
TS_API void ts_oidc_free(ts_oidc *rp);

/**
 * Run discovery now for the provider @p issuer (NULL: every provider) and fetch its keys:
 * `GET {issuer}/.well-known/openid-configuration` (the document's `issuer` must equal the
 * configured one byte for byte, `jwks_uri` must be https or loopback http), then the JWKS.
 * Use it to validate a new configuration before accepting it.
 * @return TS_OK, or an error whose message says which URL failed and why.
 */
TS_API TS_NODISCARD ts_status ts_oidc_discover(ts_oidc *rp, const char *issuer, ts_error *err);

/** The members of a discovery document that tokensmith uses, checked. @since 0.2.0 */
typedef struct ts_oidc_discovery {
    char *jwks_uri; /**< https:// (http:// only on loopback); never NULL after TS_OK */
    /** The same rule; NULL when the document has none. */
    char *introspection_endpoint;
} ts_oidc_discovery;

/**
 * Discovery without a relying party, for a caller that only needs a provider's keys (a trust
 * entry of `tokensmith gateway` configured without a jwks_uri): one blocking
 * `GET {issuer}/.well-known/openid-configuration` (a trailing '/' of the issuer removed first;
 * redirects not followed; 256 KiB body cap; @p timeout_ms for the whole request, connect
 * included), checked as ts_oidc_discover() checks it: HTTP 200; a JSON object, repeated members
 * refused at any depth; its `issuer` identical to @p issuer byte for byte (OpenID Connect
 * Discovery §4.3); `jwks_uri` present and https:// (http:// only for a loopback host);
 * `introspection_endpoint`, when present, the same. No caching and no retry: the caller keeps
 * the result and decides when to ask again.
 * @param issuer https:// (http:// only on loopback), without query or fragment, at most
 *        TS_OIDC_MAX_STRING bytes (TS_EINVAL, `where` "issuer", otherwise).
 * @param timeout_ms 0 = 5000; at most TS_OIDC_MAX_TIMEOUT_MS.
 * @param out on TS_OK the checked members; release with ts_oidc_discovery_cleanup(). On failure
 *        every member is NULL.
 * @return TS_OK, or the error with @p err's `where` naming the discovery URL and its message
 *         saying what failed (TS_EIO: unreachable or not 200; TS_ELIMIT: body too large;
 *         TS_EPARSE: not a JSON object; TS_EINVAL: a check above).
 * Thread-safety: no shared state (libcurl's global initialisation aside, done once).
 * @since 0.2.0
 */
TS_API TS_NODISCARD ts_status ts_oidc_discovery_fetch(const char *issuer, unsigned timeout_ms,
                                                      ts_oidc_discovery *out, ts_error *err);

/** Free the members of @p d and set them to NULL. NULL-safe. @since 0.2.0 */
TS_API void ts_oidc_discovery_cleanup(ts_oidc_discovery *d);

/**
 * Validate an ID token: size and structure, provider selected by the unverified `iss` (exact
 * match with a configured issuer), signature through the provider's JWKS with its allowed
 * algorithms, `iss`, `aud` containing the provider's client id, `azp` equal to the client id
 * when present or when `aud` has several values, `exp`, `iat` (required, not in the future
 * beyond the leeway), `nbf`, `sub` present, and `nonce` equal to @p nonce when @p nonce is not
 * NULL.
 * @param claims_json on TS_OIDC_OK the verified claims (the payload as signed); may be NULL.
 *        Ownership: free with ts_free().
 * @return TS_OIDC_OK or the reason of the rejection (details in @p err).
 */
TS_API TS_NODISCARD ts_oidc_reason ts_oidc_verify_id_token(ts_oidc *rp, const char *token,
                                                           size_t len, const char *nonce,
                                                           char **claims_json, ts_error *err);

/**
 * Introspect an opaque access token at the provider @p issuer (NULL: the only provider with a
 * client secret) per RFC 7662: URL-encoded form POST, client_secret_basic, timeouts, body cap.
 * The flat answer must say `"active": true`, carry `sub` and a future `exp`; `iss`, when
 * present, must equal the issuer; `client_id` must be one of the provider's
 * introspection_client_ids; `aud`, when present, must contain the client id. Only the claims
 * the answer returned are passed on (nothing is assumed for missing ones).
 * @param claims_json on TS_OIDC_OK the claims with `iss` set to the provider's issuer.
 * Ownership: free *claims_json with ts_free().
 */
TS_API TS_NODISCARD ts_oidc_reason ts_oidc_introspect(ts_oidc *rp, const char *issuer,
                                                      const char *token, size_t len,
                                                      char **claims_json, ts_error *err);

/** Subject token types accepted by ts_oidc_exchange(). */
#define TS_OIDC_TOKEN_TYPE_ID_TOKEN "urn:ietf:params:oauth:token-type:id_token"
#define TS_OIDC_TOKEN_TYPE_ACCESS_TOKEN "urn:ietf:params:oauth:token-type:access_token"
/** A JWT (RFC 8693 §3): accepted for Kubernetes providers only. @since 0.2.0 */
#define TS_OIDC_TOKEN_TYPE_JWT "urn:ietf:params:oauth:token-type:jwt"

/**
 * What an identity rule of the caller's grants a service account (ts_oidc_rule_fn). The
 * strings are borrowed: they must stay valid until ts_oidc_exchange() returns. Scopes must be
 * RFC 6749 scope-tokens and roles free of spaces and commas, as in a provider's identity_rules.
 * @since 0.3.0
 */
typedef struct ts_oidc_rule_grant {
    const char *const *scopes;
    size_t n_scopes;
    const char *const *roles;
    size_t n_roles;
} ts_oidc_rule_grant;

/**
 * Identity rules the caller keeps itself (the token service's stored token mappings),
 * consulted for a Kubernetes service account that none of its provider's `identity_rules`
 * matches: the configuration file's rules come first. Called at most once per exchange, after
 * the token is verified, with its verified issuer, the account's namespace and name.
 * @return true with @p out filled when one of the caller's rules matches; false when none does
 *         (the exchange is then refused with TS_OIDC_NO_IDENTITY_RULE: no rule, no grant).
 * A grant with a scope or role the configuration would refuse fails the exchange with
 * TS_OIDC_INTERNAL rather than carry it. Called on the exchanging thread; must not block for
 * long. @since 0.3.0
 */
typedef bool (*ts_oidc_rule_fn)(const char *issuer, const char *ns, const char *name,
                                ts_oidc_rule_grant *out, void *ud);

/**
 * The pattern rule of identity rules, for callers that keep rules of their own: '*' matches any
 * run of characters (also none), '?' exactly one, every other character itself; the whole of
 * @p s must match (false when either is NULL). Linear time (one backtrack point).
 * @since 0.3.0
 */
TS_API bool ts_oidc_glob_match(const char *pattern, const char *s);

/** One token-exchange request, as the token endpoint parsed it. */
typedef struct ts_oidc_exchange_request {
    const char *subject_token; /**< untrusted bytes */
    size_t subject_token_len;
    const char *subject_token_type; /**< one of TS_OIDC_TOKEN_TYPE_* */
    const char *nonce;              /**< expected ID token nonce, or NULL */
    const char *issuer;             /**< provider for introspection, or NULL */
    ts_oidc_narrow narrow;          /**< scope, audience and resource parameters */
    /** Identity rules after the provider's own, for Kubernetes subject tokens; NULL = none.
     *  @since 0.3.0 */
    ts_oidc_rule_fn rules;
    void *rules_ud; /**< passed to @c rules */
} ts_oidc_exchange_request;

/**
 * Validate the subject token (ID token, or access token through introspection) and map it:
 * ts_oidc_verify_id_token() or ts_oidc_introspect(), then ts_oidc_map_claims().
 * A JWT whose unverified `iss` is a Kubernetes provider (since 0.2.0) is validated as a
 * service-account token whatever its type says (TS_OIDC_TOKEN_TYPE_JWT, _ID_TOKEN or
 * _ACCESS_TOKEN): signature through the provider's keys (discovery or jwks_file, kid opaque),
 * `iss`, `aud` holding one of accepted_audiences, `exp`, `nbf`, `iat` within max_token_age_s,
 * the account read by ts_authn_kubernetes_account() (legacy tokens only when allowed); then
 * the first identity rule that matches the account grants its scopes and roles: the
 * provider's `identity_rules` in their order, then the request's @c rules callback (none
 * matches: TS_OIDC_NO_IDENTITY_RULE), `sub` comes from the provider's subject_template and
 * principal_type is "service"; the request narrows as for OpenID providers. Nothing else of
 * the token is carried (no `act`, `may_act`, roles or scopes of its own).
 * TS_OIDC_TOKEN_TYPE_JWT with any other issuer is TS_OIDC_WRONG_ISSUER.
 * @return TS_OIDC_OK with *out set, else the reason; ts_oidc_reason_oauth_error() gives the
 *         RFC 8693 error to answer with. Ownership: free *out with ts_oidc_claims_free().
 */
TS_API TS_NODISCARD ts_oidc_reason ts_oidc_exchange(ts_oidc *rp,
                                                    const ts_oidc_exchange_request *req,
                                                    ts_oidc_claims **out, ts_error *err);

/** JWKS fetches made for provider @p issuer so far (for tests and metrics); 0 if unknown. */
TS_API unsigned long ts_oidc_jwks_fetch_count(const ts_oidc *rp, const char *issuer);
/** Discovery fetches made for provider @p issuer so far; 0 if unknown. */
TS_API unsigned long ts_oidc_discovery_count(const ts_oidc *rp, const char *issuer);

#ifdef __cplusplus
}
#endif
#endif
