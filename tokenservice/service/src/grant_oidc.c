/* RFC 8693 exchange of an upstream ID token (or, through introspection, access token), or of a
   Kubernetes service-account token (the oidc library's kubernetes providers), with the stored
   token mappings applied (docs/mappings.md, "How the exchange applies them"): identity rules
   after the providers' own, the resource mapping of the requested target, the claims of the
   issued scopes' mappings. */
#define _GNU_SOURCE

#include "svc_internal.h"

#include "mappings_cache.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

static void random_hex(char *out, size_t nbytes)
{
    unsigned char b[32];
    if (nbytes > sizeof b)
        nbytes = sizeof b;
    if (RAND_bytes(b, (int)nbytes) != 1)
        memset(b, 0, sizeof b);
    for (size_t i = 0; i < nbytes; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static json_t *str_array(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* The claims carried from the upstream identity into the internal token. */
static json_t *carried_claims(const ts_oidc_claims *cl)
{
    json_t *x = json_object();
    json_object_set_new(x, "idp", json_string(cl->issuer));
    if (cl->name)
        json_object_set_new(x, "name", json_string(cl->name));
    if (cl->email)
        json_object_set_new(x, "email", json_string(cl->email));
    if (cl->email_verified >= 0)
        json_object_set_new(x, "email_verified", json_boolean(cl->email_verified == 1));
    if (cl->n_amr)
        json_object_set_new(x, "amr", str_array(cl->amr, cl->n_amr));
    if (cl->acr)
        json_object_set_new(x, "acr", json_string(cl->acr));
    if (cl->auth_time > 0)
        json_object_set_new(x, "auth_time", json_integer(cl->auth_time));
    /* A service account: the roles its identity rule grants, and the account itself in the
     * shape the gateway's translated tokens use. Nothing else of the token is carried. */
    if (cl->n_roles)
        json_object_set_new(x, "roles", str_array(cl->roles, cl->n_roles));
    if (cl->k8s_namespace && cl->k8s_service_account) {
        json_t *sa = json_object();
        json_object_set_new(sa, "name", json_string(cl->k8s_service_account));
        if (cl->k8s_uid)
            json_object_set_new(sa, "uid", json_string(cl->k8s_uid));
        json_t *k = json_object();
        json_object_set_new(k, "namespace", json_string(cl->k8s_namespace));
        json_object_set_new(k, "serviceaccount", sa);
        json_object_set_new(x, "kubernetes.io", k);
    }
    return x;
}

/* What the exchange takes from the token mappings, decided before and after the library's
   exchange; logged and audited as "mappings". */
typedef struct applied_maps {
    const ts_svc_map_set *set; /* NULL when the service keeps none */
    const json_t *target;      /* the resource mapping of the requested target, or NULL */
    ts_svc_map_use use;        /* .rule: the stored identity rule that matched, or NULL */
    const char *const *aud;    /* the issued audiences */
    size_t n_aud;
} applied_maps;

/* The "mappings" member of the log and the audit detail: the document's version and the
   items used. NULL when out of memory. */
static json_t *maps_record(const applied_maps *am, const ts_oidc_claims *cl)
{
    json_t *r = json_object();
    if (!r || !am->set)
        return r;
    json_object_set_new(r, "version", json_integer(am->set->version));
    if (am->use.rule)
        json_object_set_new(r, "identity_rule", json_string(am->use.rule->name));
    else if (cl && cl->principal_type && strcmp(cl->principal_type, "service") == 0)
        json_object_set_new(r, "identity_rule_source", json_string("config"));
    return r;
}

static char *join_scopes(char *const *v, size_t n)
{
    size_t total = 1;
    for (size_t i = 0; i < n; i++)
        total += strlen(v[i]) + 1;
    char *out = malloc(total);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(v[i]);
        if (o)
            out[o++] = ' ';
        memcpy(out + o, v[i], l);
        o += l;
    }
    out[o] = '\0';
    return out;
}

static enum MHD_Result oidc_minted(ts_svc *s, struct MHD_Connection *conn, req *rq,
                                   const char *path, const ts_oidc_claims *cl,
                                   const applied_maps *am)
{
    int64_t now = (int64_t)time(NULL);
    int64_t exp = now + s->cfg.access_ttl_s;
    if (cl->exp > 0 && cl->exp < exp)
        exp = cl->exp; /* never outlive the upstream identity */
    /* The upstream token may still pass verification inside the clock leeway after its exp;
     * a token minted from it would be born expired (exp < nbf). Refuse instead, and also when
     * so little time is left that the caller could not use the result. */
    if (exp - now < TS_SVC_MIN_ISSUED_LIFETIME_S) {
        json_t *f = json_object();
        json_object_set_new(f, "reason", json_string("upstream_expiring"));
        json_object_set_new(f, "upstream_exp", json_integer(cl->exp));
        json_object_set_new(f, "idp", json_string(cl->issuer));
        /* RFC 8693 §2.2.2: an unacceptable subject token is invalid_request. */
        return ts_svc__oauth_error(s, conn, rq, path, 400, "invalid_request",
                                   "The subject token has expired or expires too soon to be "
                                   "exchanged",
                                   f, NULL, NULL);
    }
    char session[5 + 32 + 1] = "oidc-";
    random_hex(session + 5, 16);
    char *scope = join_scopes(cl->scopes, cl->n_scopes);
    json_t *x = carried_claims(cl);
    json_t *rec = maps_record(am, cl);
    ts_error e;
    ts_error_clear(&e);
    /* The mappings' claims after the carried ones: they never replace what the exchange says. */
    bool ok = x && rec &&
              (!am->set || ts_svc_map_claims(am->set, am->target, cl->scopes, cl->n_scopes, x, rec,
                                             &e) == TS_OK);
    char *extra = ok ? json_dumps(x, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(x);
    if (!scope || !extra) {
        free(scope);
        free(extra);
        json_decref(rec);
        return ts_svc__oauth_error(s, conn, rq, path, 500, "server_error", TS_SVC_MSG_INTERNAL,
                                   NULL, NULL, NULL);
    }
    ts_svc_mint_args ma = {
        .subject = cl->sub,
        .audience = am->aud[0],
        .audiences = am->aud,
        .n_audiences = am->n_aud,
        .scope = scope,
        .session_id = session,
        .session_end = exp,
        .auth_method = "oidc_exchange",
        .auth_event = "oidc_token_exchange",
        .now = now,
        .exp = exp,
        .extra_claims = extra,
        .principal_type = cl->principal_type ? cl->principal_type : "user",
    };
    char *jwt = NULL;
    char jti[TS_SVC_JTI_LEN + 1];
    ts_status st = ts_svc_mint(&s->cfg, s->keys, &ma, &jwt, jti, &e);
    free(extra);
    if (st != TS_OK) {
        free(scope);
        json_decref(rec);
        json_t *f = json_object();
        json_object_set_new(f, "reason", json_string(e.msg));
        return ts_svc__oauth_error(s, conn, rq, path, 500, "server_error", TS_SVC_MSG_INTERNAL, f,
                                   NULL, NULL);
    }
    /* The durable audit record comes first: no token leaves without it. */
    json_t *d = json_object();
    json_object_set_new(d, "issuer", json_string(cl->issuer));
    json_object_set_new(d, "scope", json_string(scope));
    json_object_set_new(d, "aud", str_array((char *const *)(uintptr_t)am->aud, am->n_aud));
    json_object_set_new(d, "exp", json_integer(exp));
    if (json_object_size(rec))
        json_object_set(d, "mappings", rec);
    char *detail = json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(d);
    ts_store_audit_entry ae = {0,        now,   "oidc_token_exchanged", cl->sub, jti, NULL,
                               rq->peer, detail};
    /* The token's record and its audit record are one commit (revocation by subject finds
     * it); an upstream exchange has no refresh family. */
    ts_store_issued it = {
        .jti = jti,
        .subject = cl->sub,
        .family_id = NULL,
        .client_id = NULL,
        .issued_at = now,
        .expires_at = exp,
    };
    st = detail ? ts_store_token_issued(s->store, &it, &ae, &e)
                : ts_error_set(&e, TS_ENOMEM, "audit", "out of memory");
    free(detail);
    if (st != TS_OK) {
        free(scope);
        json_decref(rec);
        OPENSSL_cleanse(jwt, strlen(jwt));
        ts_free(jwt);
        return ts_svc__store_failure(s, conn, rq, path, st, &e);
    }
    json_t *doc = json_object();
    json_object_set_new(doc, "access_token", json_string(jwt));
    json_object_set_new(doc, "issued_token_type", json_string(TS_SVC_TT_ACCESS));
    json_object_set_new(doc, "token_type", json_string("Bearer"));
    json_object_set_new(doc, "expires_in", json_integer(exp - now));
    if (*scope)
        json_object_set_new(doc, "scope", json_string(scope));
    OPENSSL_cleanse(jwt, strlen(jwt));
    ts_free(jwt);
    json_t *f = json_object();
    json_object_set_new(f, "audit_event", json_string("oidc_token_exchanged"));
    json_object_set_new(f, "subject", json_string(cl->sub));
    if (cl->upstream_sub) /* the provider's own sub, before its subject_template */
        json_object_set_new(f, "upstream_sub", json_string(cl->upstream_sub));
    json_object_set_new(f, "idp", json_string(cl->issuer));
    json_object_set_new(f, "scope", json_string(scope));
    json_object_set_new(f, "jti", json_string(jti));
    json_object_set_new(f, "kid", json_string(ts_jwk_kid(ts_svc_keyring_active(s->keys))));
    if (json_object_size(rec))
        json_object_set(f, "mappings", rec);
    json_decref(rec);
    free(scope);
    return ts_svc__send_json(s, conn, rq, "POST", path, 200, doc, "no-store", f);
}

/* RFC 8693 exchange of an upstream ID token (or, through introspection, access token). */
enum MHD_Result ts_svc__grant_oidc(ts_svc *s, struct MHD_Connection *conn, req *rq,
                                   const char *path, const ts_form *form, const char *stt,
                                   const char *tok, size_t tlen, const char *client)
{
    oidc_gen *g = ts_svc__gen_acquire(s);
    if (!g)
        return ts_svc__oauth_error(s, conn, rq, path, 400, "invalid_request",
                                   "No upstream OpenID provider is configured", NULL, NULL, NULL);
    const char *aud = ts_form_get(form, "audience", NULL);
    const char *res = ts_form_get(form, "resource", NULL);
    /* One set for the whole exchange: a reload meanwhile does not mix two versions. */
    ts_svc_map_set *maps = ts_svc__maps_acquire(s);
    applied_maps am;
    memset(&am, 0, sizeof am);
    am.set = maps;
    am.use.set = maps;
    ts_svc_map_target_rc trc = ts_svc_map_target(maps, res, aud, &am.target);
    ts_oidc_exchange_request xr;
    memset(&xr, 0, sizeof xr);
    xr.subject_token = tok;
    xr.subject_token_len = tlen;
    xr.subject_token_type = stt;
    xr.narrow.scope = ts_form_get(form, "scope", NULL);
    xr.rules = maps ? ts_svc_map_rule_cb : NULL;
    xr.rules_ud = &am.use;
    /* A mapped target is allowed by its mapping, written by an operator the management
     * API's policy let do so; the providers' audiences and resources narrow the others. */
    if (aud && *aud && !am.target) {
        xr.narrow.audiences = &aud;
        xr.narrow.n_audiences = 1;
    }
    if (res && *res && !am.target) {
        xr.narrow.resources = &res;
        xr.narrow.n_resources = 1;
    }
    const char *issued_aud =
        am.target ? json_string_value(json_object_get(am.target, "issued_audience")) : NULL;
    ts_oidc_claims *cl = NULL;
    ts_error e;
    ts_error_clear(&e);
    ts_oidc_reason r = ts_oidc_exchange(g->rp, &xr, &cl, &e);
    if (r == TS_OIDC_OK) {
        am.aud = issued_aud ? &issued_aud : (const char *const *)cl->audiences;
        am.n_aud = issued_aud ? 1 : cl->n_audiences;
    }
    enum MHD_Result ret;
    /* Decided after the subject token is verified: a caller without a valid token learns
     * nothing about which targets are mapped. */
    if (r == TS_OIDC_OK && trc == TS_SVC_MAP_TARGET_CONFLICT) {
        json_t *f = json_object();
        json_object_set_new(f, "reason", json_string("mapped_target_not_alone"));
        json_object_set_new(f, "mappings", maps_record(&am, cl));
        ret = ts_svc__oauth_error(s, conn, rq, path, 400, "invalid_target",
                                  "A mapped resource or audience must be the only target "
                                  "requested",
                                  f, NULL, NULL);
    } else if (r == TS_OIDC_OK && am.n_aud == 0) {
        json_t *f = json_object();
        json_object_set_new(f, "idp", json_string(cl->issuer));
        ret = ts_svc__oauth_error(s, conn, rq, path, 400, "invalid_target",
                                  "No audience is allowed for this provider", f, NULL, NULL);
    } else if (r == TS_OIDC_OK) {
        ret = oidc_minted(s, conn, rq, path, cl, &am);
    } else {
        int status = 400;
        const char *code = ts_oidc_reason_oauth_error(r, &status);
        json_t *f = json_object();
        json_object_set_new(f, "reason", json_string(ts_oidc_reason_str(r)));
        char detail[sizeof e.where + sizeof e.msg + 4];
        snprintf(detail, sizeof detail, "%s: %s", e.where, e.msg);
        json_object_set_new(f, "detail", json_string(detail));
        if (maps)
            json_object_set_new(f, "mappings_version", json_integer(maps->version));
        const char *desc = "The subject token is invalid";
        if (strcmp(code, "invalid_scope") == 0)
            desc = "The requested scope exceeds what the upstream identity grants";
        else if (strcmp(code, "invalid_target") == 0)
            desc = "The requested audience or resource is not allowed";
        else if (r == TS_OIDC_NO_IDENTITY_RULE)
            desc = "No identity rule maps this service account";
        else if (status >= 500)
            desc = "The upstream OpenID provider is unavailable; retry later";
        /* Every refusal of the presented token counts against the client: a client probing
         * with forged or malformed upstream tokens is blocked like one guessing bootstrap
         * tokens. Upstream outages (5xx) and scope or target choices do not count. */
        if (strcmp(code, "invalid_request") == 0 || strcmp(code, "invalid_grant") == 0) {
            unsigned fails =
                ts_store_limiter_fail(s->limiter, client, strlen(client), ts_svc__mono_ms());
            json_object_set_new(f, "client", json_string(client));
            json_object_set_new(f, "failures", json_integer(fails));
        }
        ret = ts_svc__oauth_error(s, conn, rq, path, (unsigned)status, code, desc, f,
                                  status == 503 ? "Retry-After" : NULL, status == 503 ? "5" : NULL);
    }
    ts_oidc_claims_free(cl);
    ts_svc_map_set_free(maps);
    ts_svc__gen_release(s, g);
    return ret;
}
