/* One token exchange: validate the subject token by its type, then map and narrow. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "oidc_internal.h"

ts_oidc_reason ts_oidc_exchange(ts_oidc *rp, const ts_oidc_exchange_request *req,
                                ts_oidc_claims **out, ts_error *err)
{
    if (out)
        *out = NULL;
    if (!rp || !req || !out)
        return ts_error_set(err, TS_EINVAL, "ts_oidc_exchange", "NULL argument"), TS_OIDC_INTERNAL;
    const char *t = req->subject_token_type;
    char *claims = NULL;
    ts_oidc_reason r;
    if (t && strcmp(t, TS_OIDC_TOKEN_TYPE_ID_TOKEN) == 0) {
        r = ts_oidc_verify_id_token(rp, req->subject_token, req->subject_token_len, req->nonce,
                                    &claims, err);
    } else if (t && strcmp(t, TS_OIDC_TOKEN_TYPE_ACCESS_TOKEN) == 0) {
        r = ts_oidc_introspect(rp, req->issuer, req->subject_token, req->subject_token_len, &claims,
                               err);
    } else {
        ts_error_set(err, TS_EUNSUPPORTED, "subject_token_type",
                     "subject_token_type must be %s or %s", TS_OIDC_TOKEN_TYPE_ID_TOKEN,
                     TS_OIDC_TOKEN_TYPE_ACCESS_TOKEN);
        return TS_OIDC_UNSUPPORTED_TOKEN_TYPE;
    }
    if (r == TS_OIDC_OK)
        r = ts_oidc_map_claims(rp->cfg, claims, strlen(claims), &req->narrow, out, err);
    free(claims);
    return r;
}
