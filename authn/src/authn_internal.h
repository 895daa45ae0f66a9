/* Private contracts between the verifier, principals, the cache, key sources and the hook. */
#ifndef TS_AUTHN_INTERNAL_H
#define TS_AUTHN_INTERNAL_H

#include <stdatomic.h>

#include <jansson.h>

#include <tokensmith/authn.h>

/** The largest decoded JOSE header judged (ts_authn_verify() and ts_authn_peek_issuer()). */
#define TS_AUTHN__MAX_HEADER_BYTES 8192u

/* Refusals (refusal.c). */
/** The longest request id echoed back (authz's guard applies the same rule). */
#define TS_AUTHN__MAX_REQUEST_ID 128u
/** A request id to echo: 1 to TS_AUTHN__MAX_REQUEST_ID bytes of visible ASCII. */
bool ts_authn__request_id_ok(const char *id, size_t len);
/** A realm that fits a quoted-string unescaped: no quote, backslash or control but HTAB. */
bool ts_authn__realm_ok(const char *realm);

struct ts_authn_principal {
    atomic_uint refs;
    json_t *claims; /* owned; read-only after construction */
    char *claims_json;
    const char *id, *domain, *iss, *jti; /* borrowed from claims */
    ts_authn_principal_type type;
    char **roles;
    size_t n_roles;
    char **scopes;
    size_t n_scopes;
    int64_t exp;
    const char **amr; /* the string members of `amr`, borrowed from claims */
    size_t n_amr;
    char kid[TS_JOSE_MAX_KID_BYTES + 1];
};

/** Mapping rules, owned by the verifier. */
typedef struct ts_authn__mapping {
    char **role_claims;
    size_t n_role_claims;
    char **scope_from, **scope_to;
    size_t n_scope_roles;
    char *domain_claim;
    char *type_claim;
} ts_authn__mapping;

/**
 * Build a principal from verified claims (a reference to @p claims is taken on success);
 * @p payload is the verified claims text, kept as the principal's claims JSON.
 * @return TS_AUTHN_OK with @p *out set; TS_AUTHN_INVALID_CLAIM when `sub`, a role or a scope
 * holds a control character (a byte below 0x20, or 0x7f), @p *bad_claim then names the claim
 * (a static string or one of @p m); TS_AUTHN_INTERNAL when out of memory.
 */
ts_authn_reason ts_authn__principal_new(json_t *claims, const char *payload, size_t payload_len,
                                        const ts_authn__mapping *m, const char *kid, int64_t exp,
                                        ts_authn_principal **out, const char **bad_claim);

/**
 * Fetch one JWKS URL (remote key sources): the options' timeout, body cap and TTL bounds apply.
 * @p stop, when not NULL, is polled during the transfer (about once a second while waiting):
 * once it is true the transfer is abandoned.
 * @return the key set with its cache lifetime in @p *ttl, or NULL with @p err naming the URL.
 */
ts_jwks *ts_authn__jwks_fetch(const char *url, const ts_authn_keysource_options *o,
                              atomic_bool *stop, unsigned *ttl, ts_error *err);

/* Verified-token cache: striped locks, set-associative, entries expire at their exp. An entry
   is the SHA-256 of a verified token (cache.c). */
typedef struct ts_authn__cache ts_authn__cache;
ts_authn__cache *ts_authn__cache_new(size_t entries);
void ts_authn__cache_free(ts_authn__cache *c);
/** @return a new principal reference when the token @p tok (@p len bytes) is cached and alive
 *  at @p now, else NULL. */
ts_authn_principal *ts_authn__cache_get(ts_authn__cache *c, const char *tok, size_t len,
                                        int64_t now);
/** Keep @p p (a reference is taken) for the token until the principal's exp; a failed
 *  allocation just leaves it out. */
void ts_authn__cache_put(ts_authn__cache *c, const char *tok, size_t len, int64_t now,
                         ts_authn_principal *p);
/**
 * The verifier's cache alone: a new reference to the principal of @p token when it is cached
 * and alive (what ts_authn_verify() would answer for it), else NULL (the cache is off, the
 * token is not in it, or it expired) and nothing else is done. A cached token was verified: it
 * holds base64url characters and dots only.
 */
ts_authn_principal *ts_authn__verify_cached(const ts_authn_verifier *v, const char *token,
                                            size_t len);
void ts_authn__cache_stats(const ts_authn__cache *c, uint64_t *hits, uint64_t *misses,
                           size_t *entries);

/* Step-up (stepup.c). */
/** True when @p req asks for nothing (NULL, no acr values, no age limit). */
bool ts_authn__requirement_empty(const ts_authn_requirement *req);
/** ts_authn_require() with the clock and leeway given, @p req already checked. */
ts_authn_reason ts_authn__require(const ts_authn_principal *p, const ts_authn_requirement *req,
                                  int64_t now, int64_t leeway, bool *age_problem, ts_error *err);
/** The verifier's own requirement (its acr_values and max_auth_age_s); never NULL. */
const ts_authn_requirement *ts_authn__verifier_requirement(const ts_authn_verifier *v);
/** The verifier's clock, Unix seconds. */
int64_t ts_authn__verifier_now(const ts_authn_verifier *v);

#endif
