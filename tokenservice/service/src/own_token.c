/* Access tokens this service signed, presented back to it (/oauth/revoke, /oauth/introspect):
 * the signature is checked against the keys it publishes (its own and other replicas'), and the
 * issuer must be this one. Expiry is the caller's concern: a revocation needs nothing for an
 * expired token, an introspection answers it inactive. */
#define _GNU_SOURCE

#include "svc_internal.h"

#include <string.h>

#include <tokensmith/jose.h>

#define OWN_TOKEN_MAX (16u * 1024u) /* longer is none of ours */

static json_t *decode_json(const char *in, size_t len)
{
    uint8_t *raw = NULL;
    size_t rlen = 0;
    ts_error e;
    ts_error_clear(&e);
    if (ts_b64url_decode(in, len, &raw, &rlen, &e) != TS_OK)
        return NULL;
    json_t *j = json_loadb((const char *)raw, rlen, JSON_REJECT_DUPLICATES, NULL);
    ts_free(raw);
    if (!json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

json_t *ts_svc__own_token(ts_svc *s, const char *tok, size_t len)
{
    if (len == 0 || len > OWN_TOKEN_MAX)
        return NULL;
    const char *d1 = memchr(tok, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
    if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok)))
        return NULL;
    json_t *hdr = decode_json(tok, (size_t)(d1 - tok));
    const char *alg_name = json_string_value(json_object_get(hdr, "alg"));
    const char *kid = json_string_value(json_object_get(hdr, "kid"));
    ts_jws_alg alg = alg_name ? ts_jws_alg_parse(alg_name, strlen(alg_name)) : TS_JWS_ALG_UNKNOWN;
    json_t *claims = NULL;
    ts_error e;
    ts_error_clear(&e);
    const char *doc = kid && alg != TS_JWS_ALG_UNKNOWN ? ts_svc_keyring_jwks_json(s->keys) : NULL;
    ts_jwks *set = doc ? ts_jwks_parse(doc, strlen(doc), &e) : NULL;
    const ts_jwk *key = set ? ts_jwks_find(set, kid, strlen(kid)) : NULL;
    uint8_t *sig = NULL;
    size_t slen = 0;
    if (key && (ts_jwk_allowed_algs(key) & TS_JWS_ALG_BIT(alg)) &&
        ts_b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - tok), &sig, &slen, &e) == TS_OK &&
        ts_jws_verify_raw(key, alg, tok, (size_t)(d2 - tok), sig, slen, &e) == TS_OK) {
        claims = decode_json(d1 + 1, (size_t)(d2 - d1 - 1));
        const char *iss = json_string_value(json_object_get(claims, "iss"));
        const char *jti = json_string_value(json_object_get(claims, "jti"));
        if (!iss || strcmp(iss, s->cfg.issuer) != 0 || !jti || !*jti ||
            strlen(jti) > TS_STORE_JTI_MAX || !json_is_integer(json_object_get(claims, "exp"))) {
            json_decref(claims);
            claims = NULL;
        }
    }
    ts_free(sig);
    ts_jwks_free(set);
    json_decref(hdr);
    return claims;
}
