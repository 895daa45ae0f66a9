/**
 * @file testutil.h
 * @brief Test fixtures for services that use tokensmith: ephemeral keys, tokens minted with
 *        chosen claims (and deliberately broken ones), a loopback JWKS server, policy fragment
 *        writers and principal fixtures.
 *
 * **FOR TESTS ONLY. NEVER LINK THIS LIBRARY INTO A PRODUCTION BINARY.** It mints tokens for
 * any issuer and audience with throw-away keys, signs whatever header it is told to (including
 * `alg: none`), and serves keys over plain HTTP. A service that links it can forge its own
 * credentials.
 *
 * What it gives:
 *  - ::ts_testutil_key: a fresh private key (RSA-2048, EC P-256, P-384, P-521) with its
 *    ::ts_jwk (jose.h) and PEM forms. Signing is done by this library's own JWS code on
 *    OpenSSL, independent of authn's, so a test that verifies these tokens with authn checks
 *    two implementations against each other.
 *  - ::ts_testutil_token: a builder for access tokens that pass the authn verifier (iss, sub,
 *    aud, exp, nbf, iat, jti, roles, scope, any JSON claim, TokenSmith's NIST claims), and
 *    ::ts_testutil_flaw for the classic broken variants.
 *  - ::ts_testutil_jwks_server: a libmicrohttpd server on 127.0.0.1 and an ephemeral port
 *    serving a ::ts_jwks at `/.well-known/jwks.json`; counts requests; can fail on demand.
 *  - ::ts_testutil_policy_dir: a temporary policy fragment directory for the authz library.
 *  - ::ts_testutil_principal: admin, operator, viewer and service principals matching the
 *    roles of the baseline policy (policy/policy.csv).
 *
 * Errors: fallible calls take a ::ts_error out-parameter that may be NULL. A lack of memory
 * (also inside OpenSSL or jansson, as far as they report it) is TS_ENOMEM, never an invalid
 * argument, bad JSON or a failed signature; a setter that fails leaves the builder, and
 * ts_testutil_jwks_server_set_keys() the served set, as they were.
 * Ownership: strings returned as `char *` are freed with ts_free(); every handle
 * with the matching `_free`/`_stop` (NULL-safe).
 * Thread-safety: a key may sign from several threads at once; a builder or policy directory
 * belongs to one thread; the JWKS server's functions may be called from any thread.
 * @since 0.1.0
 */
#ifndef TOKENSMITH_TESTUTIL_H
#define TOKENSMITH_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tokensmith/authz_http.h>
#include <tokensmith/error.h>
#include <tokensmith/export.h>
#include <tokensmith/jose.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Defaults of a fresh token builder. */
#define TS_TESTUTIL_ISSUER "https://tokensmith.test"
#define TS_TESTUTIL_AUDIENCE "tokensmith-test"
#define TS_TESTUTIL_SUBJECT "test-user"
#define TS_TESTUTIL_LIFETIME_S 300
/** What the flawed variants put in place of the real values. */
#define TS_TESTUTIL_WRONG_ISSUER "https://wrong-issuer.invalid"
#define TS_TESTUTIL_WRONG_AUDIENCE "wrong-audience.invalid"

/**
 * Free a string returned by this library. NULL-safe.
 * @deprecated since 0.1.0: use ts_free() (export.h), the one free function of every tokensmith
 * library. Kept exported so that programs linked against an earlier build still load.
 */
TS_API TS_DEPRECATED("use ts_free()") void ts_testutil_free(void *p);

/* ------------------------------------------------------------------------------------------ */
/* Keys                                                                                       */

typedef struct ts_testutil_key ts_testutil_key;

/**
 * Generate a key for @p alg: RSA-2048 for RS and PS, P-256 for ES256, P-384 for ES384, P-521
 * for ES512. The key's ::ts_jwk is bound to @p alg (its JWKS entry names it) and its kid is
 * the RFC 7638 thumbprint. Ownership: free with ts_testutil_key_free().
 */
TS_API TS_NODISCARD ts_testutil_key *ts_testutil_key_new(ts_jws_alg alg, ts_error *err);

/** Shorthands: RSA-2048 bound to PS256, EC P-256 (ES256), EC P-384 (ES384). */
TS_API TS_NODISCARD ts_testutil_key *ts_testutil_key_rsa2048(ts_error *err);
TS_API TS_NODISCARD ts_testutil_key *ts_testutil_key_p256(ts_error *err);
TS_API TS_NODISCARD ts_testutil_key *ts_testutil_key_p384(ts_error *err);

/**
 * Load an unencrypted private key (PKCS#8, PKCS#1 or SEC1 PEM) for signing with @p alg, which
 * must fit the key. Ownership: free with ts_testutil_key_free().
 */
TS_API TS_NODISCARD ts_testutil_key *ts_testutil_key_load_pem(const char *path, ts_jws_alg alg,
                                                              ts_error *err);

/** NULL-safe. */
TS_API void ts_testutil_key_free(ts_testutil_key *k);

/** The private JWK (can sign with ts_jws_sign()). Borrowed, valid while @p k lives; take a
 *  reference with ts_jwk_ref() to keep it longer. */
TS_API const ts_jwk *ts_testutil_key_jwk(const ts_testutil_key *k);
/** The algorithm the key signs with. */
TS_API ts_jws_alg ts_testutil_key_alg(const ts_testutil_key *k);
/** The kid (RFC 7638 thumbprint). Borrowed. */
TS_API const char *ts_testutil_key_kid(const ts_testutil_key *k);
/** PKCS#8 private key PEM. Ownership: ts_free(). */
TS_API TS_NODISCARD char *ts_testutil_key_private_pem(const ts_testutil_key *k, ts_error *err);
/** SPKI public key PEM. Ownership: ts_free(). */
TS_API TS_NODISCARD char *ts_testutil_key_public_pem(const ts_testutil_key *k, ts_error *err);

/**
 * A key set of the public halves of @p keys (NULL entries skipped).
 * Ownership: free with ts_jwks_free().
 */
TS_API TS_NODISCARD ts_jwks *ts_testutil_jwks(const ts_testutil_key *const *keys, size_t n,
                                              ts_error *err);

/** Write `{"keys":[...]}` of @p set to @p path (replaced atomically). */
TS_API TS_NODISCARD ts_status ts_testutil_jwks_write(const ts_jwks *set, const char *path,
                                                     ts_error *err);

/**
 * Sign @p header and @p payload exactly as given (each base64url-encoded as is) with @p key
 * and @p alg, which must fit the key. For hostile tests: duplicate members, odd types, a header
 * naming another algorithm. Ownership: free the compact token with ts_free().
 */
TS_API TS_NODISCARD char *ts_testutil_sign_raw(const ts_testutil_key *key, ts_jws_alg alg,
                                               const char *header, size_t header_len,
                                               const char *payload, size_t payload_len,
                                               ts_error *err);

/* ------------------------------------------------------------------------------------------ */
/* Principal fixtures                                                                         */

/** The four roles of the baseline policy. */
typedef enum ts_testutil_role {
    TS_TESTUTIL_ADMIN = 0, /**< role admin: everything operator can do, and delete */
    TS_TESTUTIL_OPERATOR,  /**< role operator: read, create, update */
    TS_TESTUTIL_VIEWER,    /**< role viewer: read */
    TS_TESTUTIL_SERVICE,   /**< role service: read metadata:nodes and metadata:groups */
} ts_testutil_role;

#define TS_TESTUTIL_ROLE_COUNT 4u

/** A principal fixture. Static data; never freed. */
typedef struct ts_testutil_principal {
    const char *name;         /**< "admin", "operator", "viewer", "service" */
    const char *id;           /**< the `sub` ("admin@tokensmith.test", "boot-agent", ...) */
    const char *type;         /**< "user" or "service" (the `principal_type` claim) */
    const char *const *roles; /**< { name } */
    size_t nroles;
    const char *scope; /**< the OAuth scope string the token service would grant */
} ts_testutil_principal;

/** @return the fixture for @p role, or NULL for an unknown value. */
TS_API const ts_testutil_principal *ts_testutil_principal_get(ts_testutil_role role);

/** The fixture as the authz library's plain-data principal (pointers into static data). */
TS_API ts_authz_principal ts_testutil_principal_authz(const ts_testutil_principal *p);

/* ------------------------------------------------------------------------------------------ */
/* Tokens                                                                                     */

/** Deliberately broken variants of a token. */
typedef enum ts_testutil_flaw {
    TS_TESTUTIL_FLAW_NONE = 0,
    TS_TESTUTIL_FLAW_EXPIRED,        /**< exp an hour ago (beyond any leeway authn allows) */
    TS_TESTUTIL_FLAW_NOT_YET_VALID,  /**< nbf an hour ahead */
    TS_TESTUTIL_FLAW_WRONG_ISSUER,   /**< iss = TS_TESTUTIL_WRONG_ISSUER */
    TS_TESTUTIL_FLAW_WRONG_AUDIENCE, /**< aud = [TS_TESTUTIL_WRONG_AUDIENCE] */
    TS_TESTUTIL_FLAW_BAD_SIGNATURE,  /**< one signature byte flipped */
    TS_TESTUTIL_FLAW_ALG_NONE,       /**< header alg "none", empty signature */
    TS_TESTUTIL_FLAW_UNKNOWN_KID,    /**< a well-formed thumbprint-shaped kid of no known key */
    TS_TESTUTIL_FLAW_MISSING_KID,    /**< no kid in the header */
} ts_testutil_flaw;

/** @return "none", "expired", "not_yet_valid", ...; static. */
TS_API const char *ts_testutil_flaw_name(ts_testutil_flaw f);

typedef struct ts_testutil_token ts_testutil_token;

/**
 * A token builder signing with @p key (borrowed; must outlive the builder). Defaults: iss
 * TS_TESTUTIL_ISSUER, sub TS_TESTUTIL_SUBJECT, aud [TS_TESTUTIL_AUDIENCE], iat = nbf = now,
 * exp = now + TS_TESTUTIL_LIFETIME_S, a random jti; header typ "at+jwt", the key's alg and
 * kid. "now" is the wall clock unless ts_testutil_token_set_now() says otherwise.
 * Ownership: free with ts_testutil_token_free().
 */
TS_API TS_NODISCARD ts_testutil_token *ts_testutil_token_new(const ts_testutil_key *key,
                                                             ts_error *err);
/** NULL-safe. */
TS_API void ts_testutil_token_free(ts_testutil_token *b);

/** The reference time (Unix seconds) for iat, nbf, exp and the flaws; re-bases iat, nbf and
 *  exp unless they were set explicitly. */
TS_API void ts_testutil_token_set_now(ts_testutil_token *b, int64_t now);
TS_API TS_NODISCARD ts_status ts_testutil_token_set_issuer(ts_testutil_token *b, const char *iss,
                                                           ts_error *err);
TS_API TS_NODISCARD ts_status ts_testutil_token_set_subject(ts_testutil_token *b, const char *sub,
                                                            ts_error *err);
/** Replace `aud` with an array of @p n values (n = 1 still gives an array). */
TS_API TS_NODISCARD ts_status ts_testutil_token_set_audience(ts_testutil_token *b,
                                                             const char *const *aud, size_t n,
                                                             ts_error *err);
/** Absolute times (Unix seconds). They cannot report an error: should memory run out while
 *  one is stored (only possible after the claim was removed or set to something else than a
 *  number), the builder remembers it, and ts_testutil_token_mint() and
 *  ts_testutil_token_claims() fail with TS_ENOMEM from then on. */
TS_API void ts_testutil_token_set_expires_at(ts_testutil_token *b, int64_t exp);
TS_API void ts_testutil_token_set_not_before(ts_testutil_token *b, int64_t nbf);
TS_API void ts_testutil_token_set_issued_at(ts_testutil_token *b, int64_t iat);
/** `roles` as an array of @p n strings. */
TS_API TS_NODISCARD ts_status ts_testutil_token_set_roles(ts_testutil_token *b,
                                                          const char *const *roles, size_t n,
                                                          ts_error *err);
/** `scope` as the OAuth space-separated string. */
TS_API TS_NODISCARD ts_status ts_testutil_token_set_scope(ts_testutil_token *b, const char *scope,
                                                          ts_error *err);
/** Any claim from JSON text (`"42"`, `"[\"a\"]"`, `"{\"x\":1}"`); replaces a previous value,
 *  the registered ones included. */
TS_API TS_NODISCARD ts_status ts_testutil_token_set_claim_json(ts_testutil_token *b,
                                                               const char *name, const char *json,
                                                               ts_error *err);
/** A string claim; replaces a previous value, as ts_testutil_token_set_claim_json() does
 *  (`exp`, `nbf` or `iat` set this way is not re-based by ts_testutil_token_set_now()). */
TS_API TS_NODISCARD ts_status ts_testutil_token_set_claim_string(ts_testutil_token *b,
                                                                 const char *name,
                                                                 const char *value, ts_error *err);
/** Remove a claim (registered ones included: a token without `exp`). */
TS_API void ts_testutil_token_remove_claim(ts_testutil_token *b, const char *name);
/** Add the NIST claims TokenSmith issues (auth_level, auth_factors, auth_methods, session_id,
 *  session_exp, auth_events), for verifiers with require_nist_claims. All or none: on failure
 *  the claims are as they were. */
TS_API TS_NODISCARD ts_status ts_testutil_token_set_nist(ts_testutil_token *b, ts_error *err);
/** sub, principal_type, roles and scope of a fixture. All or none: on failure the claims are
 *  as they were. */
TS_API TS_NODISCARD ts_status ts_testutil_token_set_principal(ts_testutil_token *b,
                                                              const ts_testutil_principal *p,
                                                              ts_error *err);
/** Header `typ`; NULL leaves it out. */
TS_API TS_NODISCARD ts_status ts_testutil_token_set_typ(ts_testutil_token *b, const char *typ,
                                                        ts_error *err);
/** Header `kid` in place of the key's own. */
TS_API TS_NODISCARD ts_status ts_testutil_token_set_kid(ts_testutil_token *b, const char *kid,
                                                        ts_error *err);
/** Any extra header member from JSON text. */
TS_API TS_NODISCARD ts_status ts_testutil_token_set_header_json(ts_testutil_token *b,
                                                                const char *name, const char *json,
                                                                ts_error *err);
/** Sign with another algorithm of the key's family (an RSA key: any RS or PS). */
TS_API TS_NODISCARD ts_status ts_testutil_token_set_alg(ts_testutil_token *b, ts_jws_alg alg,
                                                        ts_error *err);

/**
 * The compact token of the builder's current state, with @p flaw applied to this token only
 * (the builder is not changed, so one builder yields a valid token and each broken variant).
 * Ownership: free with ts_free().
 */
TS_API TS_NODISCARD char *ts_testutil_token_mint(const ts_testutil_token *b, ts_testutil_flaw flaw,
                                                 ts_error *err);

/** The claims JSON the builder would sign now (no flaw). Ownership: ts_free(). */
TS_API TS_NODISCARD char *ts_testutil_token_claims(const ts_testutil_token *b, ts_error *err);

/**
 * One call: a token for fixture @p role from @p key with issuer @p iss and audience @p aud
 * (NULL: the defaults), and @p flaw. Ownership: ts_free().
 */
TS_API TS_NODISCARD char *ts_testutil_mint_for(const ts_testutil_key *key, ts_testutil_role role,
                                               const char *iss, const char *aud,
                                               ts_testutil_flaw flaw, ts_error *err);

/* ------------------------------------------------------------------------------------------ */
/* Loopback JWKS server                                                                       */

typedef struct ts_testutil_jwks_server ts_testutil_jwks_server;

/** What the server answers. */
typedef enum ts_testutil_jwks_behavior {
    TS_TESTUTIL_JWKS_SERVE = 0, /**< 200 with the key set */
    TS_TESTUTIL_JWKS_FAIL,      /**< 500 with a short text body */
    TS_TESTUTIL_JWKS_GARBAGE,   /**< 200, Content-Type JSON, a body that is not a JWKS */
    TS_TESTUTIL_JWKS_NOT_FOUND, /**< 404 */
} ts_testutil_jwks_behavior;

/**
 * Serve @p set (its public JSON, taken now) on 127.0.0.1 and an ephemeral port at
 * `/.well-known/jwks.json`; any other path is 404. @p set may be NULL (an empty set).
 * Ownership: stop and free with ts_testutil_jwks_server_stop().
 */
TS_API TS_NODISCARD ts_testutil_jwks_server *ts_testutil_jwks_server_start(const ts_jwks *set,
                                                                           ts_error *err);

/** Stop the server and free it. NULL-safe. */
TS_API void ts_testutil_jwks_server_stop(ts_testutil_jwks_server *s);

/** `http://127.0.0.1:PORT/.well-known/jwks.json`. Borrowed, valid until stopped. */
TS_API const char *ts_testutil_jwks_server_url(const ts_testutil_jwks_server *s);
TS_API unsigned short ts_testutil_jwks_server_port(const ts_testutil_jwks_server *s);
/** Requests received on any path since the start. */
TS_API unsigned long ts_testutil_jwks_server_requests(const ts_testutil_jwks_server *s);
/** Serve another key set from now on (key rotation). */
TS_API TS_NODISCARD ts_status ts_testutil_jwks_server_set_keys(ts_testutil_jwks_server *s,
                                                               const ts_jwks *set, ts_error *err);
TS_API void ts_testutil_jwks_server_set_behavior(ts_testutil_jwks_server *s,
                                                 ts_testutil_jwks_behavior b);
/** Send `Cache-Control: max-age=N` with the key set; 0 (the default) sends none. */
TS_API void ts_testutil_jwks_server_set_max_age(ts_testutil_jwks_server *s, unsigned seconds);

/* ------------------------------------------------------------------------------------------ */
/* Policy fragments                                                                           */

/**
 * Write @p n lines (each gets a "\n") to `dir/name`, replacing it atomically (written to a
 * hidden temporary file, then renamed), so that a reload never sees half a fragment.
 * @p name must be a plain file name ending in ".csv".
 */
TS_API TS_NODISCARD ts_status ts_testutil_write_fragment(const char *dir, const char *name,
                                                         const char *const *lines, size_t n,
                                                         ts_error *err);

typedef struct ts_testutil_policy_dir ts_testutil_policy_dir;

/** Create an empty temporary directory ($TMPDIR or /tmp) for fragments.
 *  Ownership: ts_testutil_policy_dir_free() removes it and its files. */
TS_API TS_NODISCARD ts_testutil_policy_dir *ts_testutil_policy_dir_new(ts_error *err);
/** Remove the fragments this object wrote, then the directory. NULL-safe. */
TS_API void ts_testutil_policy_dir_free(ts_testutil_policy_dir *d);
/** Borrowed, valid while @p d lives. */
TS_API const char *ts_testutil_policy_dir_path(const ts_testutil_policy_dir *d);
/** ts_testutil_write_fragment() into the directory. */
TS_API TS_NODISCARD ts_status ts_testutil_policy_dir_write(ts_testutil_policy_dir *d,
                                                           const char *name,
                                                           const char *const *lines, size_t n,
                                                           ts_error *err);
/** Delete one fragment. */
TS_API TS_NODISCARD ts_status ts_testutil_policy_dir_remove(ts_testutil_policy_dir *d,
                                                            const char *name, ts_error *err);

/* ------------------------------------------------------------------------------------------ */
/* Files                                                                                      */

/** Write @p len bytes to @p path, replacing it atomically. */
TS_API TS_NODISCARD ts_status ts_testutil_write_file(const char *path, const void *data, size_t len,
                                                     ts_error *err);

/** Read a whole file (at most 64 MiB). Ownership: *out (NUL-terminated) with
 *  ts_free(). */
TS_API TS_NODISCARD ts_status ts_testutil_read_file(const char *path, char **out, size_t *len,
                                                    ts_error *err);

#ifdef __cplusplus
}
#endif
#endif
