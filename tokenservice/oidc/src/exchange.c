/* One token exchange: pick the path by the subject token (a Kubernetes provider's JWT, an ID
   token, an introspected access token), validate, then map and narrow. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include <tokensmith/authn.h>

#include "oidc_internal.h"

static bool is(const char *t, const char *want)
{
    return t && strcmp(t, want) == 0;
}

/* The Kubernetes provider named by the token's unverified `iss`, or NULL (not a JWT, another
   issuer; *legacy when `iss` is the legacy Secret-based tokens' one). Only a key to the verifier
   that then decides; never a trust decision. */
static ts_oidc__rp_provider *kubernetes_provider(ts_oidc *rp, const ts_oidc_exchange_request *req,
                                                 bool *legacy)
{
    char *iss = NULL;
    *legacy = false;
    if (!req->subject_token ||
        ts_authn_peek_issuer(req->subject_token, req->subject_token_len,
                             TS_AUTHN_DEFAULT_MAX_TOKEN_BYTES, &iss, NULL) != TS_AUTHN_OK)
        return NULL;
    ts_oidc__rp_provider *p = ts_oidc__rp_find(rp, iss, strlen(iss));
    *legacy = !p && strcmp(iss, TS_OIDC__K8S_LEGACY_ISSUER) == 0;
    ts_free(iss);
    return p && ts_oidc__rp_config(p)->kind == TS_OIDC__KIND_KUBERNETES ? p : NULL;
}

/* Legacy Secret-based tokens say "kubernetes/serviceaccount" whichever cluster signed them: the
   providers that allow them are tried in configuration order and the keys decide (for all but
   the signing cluster the kid is unknown or the signature bad, and the next one is tried). */
static ts_oidc_reason legacy_exchange(ts_oidc *rp, const ts_oidc_exchange_request *req,
                                      ts_oidc_claims **out, ts_error *err)
{
    ts_oidc_reason r = TS_OIDC_WRONG_ISSUER;
    ts_error_set(err, TS_EINVAL, "iss",
                 "a legacy service-account token, and no kubernetes provider allows them "
                 "(allow_legacy_tokens)");
    for (size_t i = 0; i < rp->cfg->n; i++) {
        const ts_oidc__provider *c = &rp->cfg->p[i];
        if (c->kind != TS_OIDC__KIND_KUBERNETES || !c->allow_legacy_tokens)
            continue;
        r = ts_oidc__k8s_exchange(rp, ts_oidc__rp_find(rp, c->issuer, strlen(c->issuer)), req, out,
                                  err);
        if (r != TS_OIDC_UNKNOWN_KID && r != TS_OIDC_BAD_SIGNATURE &&
            r != TS_OIDC_KEYS_UNAVAILABLE && r != TS_OIDC_DISCOVERY_FAILED)
            return r;
    }
    return r;
}

ts_oidc_reason ts_oidc_exchange(ts_oidc *rp, const ts_oidc_exchange_request *req,
                                ts_oidc_claims **out, ts_error *err)
{
    if (out)
        *out = NULL;
    if (!rp || !req || !out)
        return ts_error_set(err, TS_EINVAL, "ts_oidc_exchange", "NULL argument"), TS_OIDC_INTERNAL;
    const char *t = req->subject_token_type;
    bool known = is(t, TS_OIDC_TOKEN_TYPE_ID_TOKEN) || is(t, TS_OIDC_TOKEN_TYPE_ACCESS_TOKEN) ||
                 is(t, TS_OIDC_TOKEN_TYPE_JWT);
    if (!known) {
        ts_error_set(err, TS_EUNSUPPORTED, "subject_token_type",
                     "subject_token_type must be %s, %s or %s", TS_OIDC_TOKEN_TYPE_ID_TOKEN,
                     TS_OIDC_TOKEN_TYPE_ACCESS_TOKEN, TS_OIDC_TOKEN_TYPE_JWT);
        return TS_OIDC_UNSUPPORTED_TOKEN_TYPE;
    }
    /* A service-account token is one whatever type the client calls it. */
    bool legacy;
    ts_oidc__rp_provider *k8s = kubernetes_provider(rp, req, &legacy);
    if (k8s)
        return ts_oidc__k8s_exchange(rp, k8s, req, out, err);
    if (legacy)
        return legacy_exchange(rp, req, out, err);
    if (is(t, TS_OIDC_TOKEN_TYPE_JWT)) {
        ts_error_set(err, TS_EINVAL, "iss",
                     "a subject token of type jwt must come from a kubernetes provider");
        return TS_OIDC_WRONG_ISSUER;
    }
    char *claims = NULL;
    ts_oidc_reason r;
    if (is(t, TS_OIDC_TOKEN_TYPE_ID_TOKEN))
        r = ts_oidc_verify_id_token(rp, req->subject_token, req->subject_token_len, req->nonce,
                                    &claims, err);
    else
        r = ts_oidc_introspect(rp, req->issuer, req->subject_token, req->subject_token_len, &claims,
                               err);
    if (r == TS_OIDC_OK)
        r = ts_oidc_map_claims(rp->cfg, claims, strlen(claims), &req->narrow, out, err);
    free(claims);
    return r;
}
