/* ID token validation: the provider is chosen by the unverified `iss`, authn verifies the
   signature and the registered claims, and the OpenID Connect checks follow (azp, nonce). */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include <tokensmith/authn.h>

#include "oidc_internal.h"

static ts_oidc_reason oidc_checks(const ts_oidc__provider *c, const json_t *claims,
                                  const char *nonce, ts_error *err)
{
    const json_t *aud = json_object_get(claims, "aud");
    const json_t *azp = json_object_get(claims, "azp");
    /* OIDC Core §3.1.3.7 (4, 5): several audiences need an azp, and an azp must be us. */
    if (json_is_array(aud) && json_array_size(aud) > 1 && !azp)
        return ts_error_set(err, TS_EINVAL, "azp",
                            "claim \"azp\" is required when \"aud\" has several values"),
               TS_OIDC_WRONG_AZP;
    if (azp && (!json_is_string(azp) || strcmp(json_string_value(azp), c->client_id) != 0))
        return ts_error_set(err, TS_EINVAL, "azp", "authorized party is not client \"%.100s\"",
                            c->client_id),
               TS_OIDC_WRONG_AZP;
    if (nonce) {
        const char *got = json_string_value(json_object_get(claims, "nonce"));
        if (!got)
            return ts_error_set(err, TS_EINVAL, "nonce", "claim \"nonce\" is required"),
                   TS_OIDC_WRONG_NONCE;
        if (strcmp(got, nonce) != 0)
            return ts_error_set(err, TS_EINVAL, "nonce", "nonce does not match the request"),
                   TS_OIDC_WRONG_NONCE;
    }
    return TS_OIDC_OK;
}

ts_oidc_reason ts_oidc_verify_id_token(ts_oidc *rp, const char *token, size_t len,
                                       const char *nonce, char **claims_json, ts_error *err)
{
    if (claims_json)
        *claims_json = NULL;
    if (!rp)
        return ts_error_set(err, TS_EINVAL, "ts_oidc_verify_id_token", "NULL relying party"),
               TS_OIDC_INTERNAL;
    if (!token || len == 0)
        return ts_error_set(err, TS_EINVAL, "token", "no subject token"), TS_OIDC_MISSING_TOKEN;
    if (len > TS_AUTHN_DEFAULT_MAX_TOKEN_BYTES)
        return ts_error_set(err, TS_ELIMIT, "token", "token larger than %u bytes",
                            TS_AUTHN_DEFAULT_MAX_TOKEN_BYTES),
               TS_OIDC_TOO_LARGE;
    /* The unverified `iss`, only to pick the provider whose keys and rules then decide. */
    char *iss = NULL;
    ts_oidc_reason r = ts_oidc__from_authn(
        (int)ts_authn_peek_issuer(token, len, TS_AUTHN_DEFAULT_MAX_TOKEN_BYTES, &iss, err));
    if (r != TS_OIDC_OK)
        return r;
    ts_oidc__rp_provider *p = ts_oidc__rp_find(rp, iss, strlen(iss));
    if (!p) {
        ts_error_set(err, TS_EINVAL, "iss", "issuer \"%.150s\" is not a configured provider", iss);
        ts_free(iss);
        return TS_OIDC_WRONG_ISSUER;
    }
    ts_free(iss);
    const ts_oidc__provider *c = ts_oidc__rp_config(p);
    if (c->kind != TS_OIDC__KIND_OIDC)
        return ts_error_set(err, TS_EINVAL, "iss",
                            "issuer is a kubernetes provider: its tokens are not ID tokens"),
               TS_OIDC_WRONG_ISSUER;
    ts_oidc__live live;
    if (ts_oidc__live_get(rp, p, &live, err) != TS_OK)
        return TS_OIDC_DISCOVERY_FAILED;
    ts_authn_principal *pr = NULL;
    r = ts_oidc__from_authn((int)ts_authn_verify(live.verifier, token, len, &pr, NULL, err));
    ts_oidc__live_release(&live);
    if (r != TS_OIDC_OK)
        return r;
    const char *payload = ts_authn_principal_claims_json(pr);
    json_error_t je;
    json_t *claims = json_loads(payload, JSON_REJECT_DUPLICATES, &je);
    if (!claims) {
        ts_error_set(err, TS_EINTERNAL, "claims", "%s", je.text);
        r = TS_OIDC_INTERNAL;
    } else
        r = oidc_checks(c, claims, nonce, err);
    json_decref(claims);
    if (r == TS_OIDC_OK && claims_json && !(*claims_json = strdup(payload))) {
        ts_error_set(err, TS_ENOMEM, "claims", "out of memory");
        r = TS_OIDC_INTERNAL;
    }
    ts_authn_principal_free(pr);
    return r;
}
