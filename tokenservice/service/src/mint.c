/* Access-token minting: claims JSON and the JWS. */
#include "mint.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jw.h"

ts_status ts_svc_mint(const ts_svc_config *c, const ts_svc_keyring *kr, const ts_svc_mint_args *a,
                      char **jwt_out, char jti_out[TS_SVC_JTI_LEN + 1], ts_error *err)
{
    *jwt_out = NULL;
    ts_status st = ts_svc_new_jti(jti_out, err);
    if (st != TS_OK)
        return st;
    int64_t exp = a->now + c->access_ttl_s;
    if (a->exp > 0 && a->exp < exp)
        exp = a->exp;
    /* Written directly (no document tree): this runs once per grant. */
    const char *written[24];
    size_t nw = 0;
#define CLAIM(name) (written[nw++] = (name))
    ts_svc_jw w;
    ts_svc_jw_init(&w);
    ts_svc_jw_open(&w);
    ts_svc_jw_kstr(&w, CLAIM("iss"), c->issuer);
    ts_svc_jw_kstr(&w, CLAIM("sub"), a->subject);
    if (a->n_audiences > 0)
        ts_svc_jw_kstrs(&w, CLAIM("aud"), a->audiences, a->n_audiences);
    else
        ts_svc_jw_kstrs(&w, CLAIM("aud"), &a->audience, 1);
    ts_svc_jw_kint(&w, CLAIM("exp"), exp);
    ts_svc_jw_kint(&w, CLAIM("nbf"), a->now);
    ts_svc_jw_kint(&w, CLAIM("iat"), a->now);
    ts_svc_jw_kstr(&w, CLAIM("jti"), jti_out);
    if (a->scope && *a->scope)
        ts_svc_jw_kstr(&w, CLAIM("scope"), a->scope);
    if (a->principal_type)
        ts_svc_jw_kstr(&w, CLAIM("principal_type"), a->principal_type);
    /* Break-glass tokens say so whatever the NIST setting, so that verifiers can refuse them
     * (authn's reject_local_mint) without depending on auth_methods being present. */
    if (a->auth_method && strcmp(a->auth_method, TS_SVC_BREAK_GLASS_METHOD) == 0)
        ts_svc_jw_kraw(&w, CLAIM("break_glass"), "true", 4);
    if (c->cluster_id[0])
        ts_svc_jw_kstr(&w, CLAIM("cluster_id"), c->cluster_id);
    if (c->openchami_id[0])
        ts_svc_jw_kstr(&w, CLAIM("openchami_id"), c->openchami_id);
    if (c->nist_claims) {
        /* session_exp may not lie more than a day past iat (verifiers of the original refuse
         * it), and never after the family that backs the session ends. */
        int64_t sexp = a->session_end;
        if (sexp > a->now + 86400)
            sexp = a->now + 86400;
        if (sexp < a->now + 1)
            sexp = a->now + 1;
        ts_svc_jw_kstr(&w, CLAIM("auth_level"), c->auth_level);
        ts_svc_jw_kint(&w, CLAIM("auth_factors"), (int64_t)c->auth_factors);
        if (a->n_auth_methods > 0)
            ts_svc_jw_kstrs(&w, CLAIM("auth_methods"), a->auth_methods, a->n_auth_methods);
        else
            ts_svc_jw_kstrs(&w, CLAIM("auth_methods"), &a->auth_method, 1);
        ts_svc_jw_kstr(&w, CLAIM("session_id"), a->session_id);
        ts_svc_jw_kint(&w, CLAIM("session_exp"), sexp);
        ts_svc_jw_kstrs(&w, CLAIM("auth_events"), &a->auth_event, 1);
    }
#undef CLAIM
    if (a->extra_claims) { /* carried upstream claims never replace ours */
        json_t *x = json_loads(a->extra_claims, 0, NULL);
        const char *k;
        json_t *v;
        if (json_is_object(x))
            json_object_foreach(x, k, v)
            {
                bool ours = false;
                for (size_t i = 0; i < nw && !ours; i++)
                    ours = strcmp(written[i], k) == 0;
                char *t = ours ? NULL : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
                if (t)
                    ts_svc_jw_kraw(&w, k, t, strlen(t));
                free(t);
            }
        json_decref(x);
    }
    ts_svc_jw_close(&w);
    size_t plen = 0;
    char *payload = ts_svc_jw_take(&w, &plen);
    if (!payload)
        return ts_error_set(err, TS_ENOMEM, "mint", "cannot encode claims");
    size_t out_len;
    /* The keyring signs with its active key (a key file's, or inside a PKCS#11 token). */
    st = ts_svc_keyring_sign(kr, c->token_type, payload, plen, jwt_out, &out_len, err);
    free(payload);
    return st;
}
