/* Access-token minting: claims JSON and the JWS. */
#include "mint.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/rand.h>

static ts_status new_jti(char out[TS_SVC_JTI_LEN + 1], ts_error *err)
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1)
        return ts_error_set(err, TS_EINTERNAL, "jti", "CSPRNG failure");
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    static const char hx[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hx[b[i] >> 4];
        out[o++] = hx[b[i] & 15];
    }
    out[o] = '\0';
    return TS_OK;
}

ts_status ts_svc_mint(const ts_svc_config *c, const ts_svc_keyring *kr, const ts_svc_mint_args *a,
                      char **jwt_out, char jti_out[TS_SVC_JTI_LEN + 1], ts_error *err)
{
    *jwt_out = NULL;
    ts_status st = new_jti(jti_out, err);
    if (st != TS_OK)
        return st;
    int64_t exp = a->now + c->access_ttl_s;
    if (a->exp > 0 && a->exp < exp)
        exp = a->exp;
    json_t *cl = json_object();
    json_t *aud = json_array();
    if (!cl || !aud) {
        json_decref(cl);
        json_decref(aud);
        return ts_error_set(err, TS_ENOMEM, "mint", "out of memory");
    }
    if (a->n_audiences > 0)
        for (size_t i = 0; i < a->n_audiences; i++)
            json_array_append_new(aud, json_string(a->audiences[i]));
    else
        json_array_append_new(aud, json_string(a->audience));
    json_object_set_new(cl, "iss", json_string(c->issuer));
    json_object_set_new(cl, "sub", json_string(a->subject));
    json_object_set_new(cl, "aud", aud);
    json_object_set_new(cl, "exp", json_integer(exp));
    json_object_set_new(cl, "nbf", json_integer(a->now));
    json_object_set_new(cl, "iat", json_integer(a->now));
    json_object_set_new(cl, "jti", json_string(jti_out));
    if (a->scope && *a->scope)
        json_object_set_new(cl, "scope", json_string(a->scope));
    if (c->cluster_id[0])
        json_object_set_new(cl, "cluster_id", json_string(c->cluster_id));
    if (c->openchami_id[0])
        json_object_set_new(cl, "openchami_id", json_string(c->openchami_id));
    if (c->nist_claims) {
        /* session_exp may not lie more than a day past iat (verifiers of the original refuse
         * it), and never after the family that backs the session ends. */
        int64_t sexp = a->session_end;
        if (sexp > a->now + 86400)
            sexp = a->now + 86400;
        if (sexp < a->now + 1)
            sexp = a->now + 1;
        json_object_set_new(cl, "auth_level", json_string(c->auth_level));
        json_object_set_new(cl, "auth_factors", json_integer(c->auth_factors));
        json_t *m = json_array(), *e = json_array();
        if (a->n_auth_methods > 0)
            for (size_t i = 0; i < a->n_auth_methods; i++)
                json_array_append_new(m, json_string(a->auth_methods[i]));
        else
            json_array_append_new(m, json_string(a->auth_method));
        json_array_append_new(e, json_string(a->auth_event));
        json_object_set_new(cl, "auth_methods", m);
        json_object_set_new(cl, "session_id", json_string(a->session_id));
        json_object_set_new(cl, "session_exp", json_integer(sexp));
        json_object_set_new(cl, "auth_events", e);
    }
    if (a->extra_claims) {
        json_t *x = json_loads(a->extra_claims, 0, NULL);
        const char *k;
        json_t *v;
        if (json_is_object(x))
            json_object_foreach(x, k, v)
            {
                if (!json_object_get(cl, k))
                    json_object_set(cl, k, v);
            }
        json_decref(x);
    }
    char *payload = json_dumps(cl, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(cl);
    if (!payload)
        return ts_error_set(err, TS_ENOMEM, "mint", "cannot encode claims");
    size_t out_len;
    st = ts_jws_sign(ts_svc_keyring_active(kr), ts_svc_keyring_alg(kr), c->token_type, payload,
                     strlen(payload), jwt_out, &out_len, err);
    free(payload);
    return st;
}
