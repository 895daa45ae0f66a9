/* POST /oauth/token: the request checks every grant shares (and the form endpoints, revoke and
 * introspect, share too), then the grant. */
#define _GNU_SOURCE

#include "svc_internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

static enum MHD_Result grant_exchange(ts_svc *s, struct MHD_Connection *conn, req *rq,
                                      const char *path, const ts_form *form)
{
    char key[TS_STORE_MAX_PEER_LEN + 1];
    ts_svc__client_key(s, conn, rq, key, sizeof key);
    /* The metrics' grant label: the subject token type says which exchange this is, before
     * the limiter or any check may refuse it. */
    const char *stt = ts_form_get(form, "subject_token_type", NULL);
    if (stt && strcmp(stt, TS_SVC_TT_BOOTSTRAP) == 0)
        rq->grant = TS_SVC_GK_BOOTSTRAP;
    else if (stt && (strcmp(stt, TS_SVC_TT_ID_TOKEN) == 0 || strcmp(stt, TS_SVC_TT_ACCESS) == 0 ||
                     strcmp(stt, TS_OIDC_TOKEN_TYPE_JWT) == 0))
        rq->grant = TS_SVC_GK_UPSTREAM;
    char retry[24];
    if (ts_svc__limited(s, key, retry))
        return ts_svc__oauth_error(s, conn, rq, path, 429, "too_many_requests", TS_SVC_MSG_LIMITED,
                                   NULL, "Retry-After", retry);
    /* Upstream identity: OpenID ID tokens and access tokens, and JWTs (Kubernetes
     * service-account tokens; the oidc library refuses a jwt of any other issuer). Without
     * any upstream provider a jwt is a token type this service does not take at all. */
    bool upstream =
        stt && (strcmp(stt, TS_SVC_TT_ID_TOKEN) == 0 || strcmp(stt, TS_SVC_TT_ACCESS) == 0);
    if (stt && strcmp(stt, TS_OIDC_TOKEN_TYPE_JWT) == 0) {
        oidc_gen *g = ts_svc__gen_acquire(s);
        upstream = g != NULL;
        ts_svc__gen_release(s, g);
    }
    if (!upstream && (!stt || strcmp(stt, TS_SVC_TT_BOOTSTRAP) != 0))
        return ts_svc__oauth_error(s, conn, rq, path, 400, "invalid_request",
                                   "Invalid subject_token_type parameter", NULL, NULL, NULL);
    /* Parameters every token exchange checks alike, before the subject token is looked at. */
    size_t tlen = 0;
    const char *tok = ts_form_get(form, "subject_token", &tlen);
    if (ts_svc__blank(tok))
        return ts_svc__oauth_error(s, conn, rq, path, 400, "invalid_request",
                                   "Missing or empty subject_token parameter", NULL, NULL, NULL);
    const char *rtt = ts_form_get(form, "requested_token_type", NULL);
    if (rtt && strcmp(rtt, TS_SVC_TT_ACCESS) != 0)
        return ts_svc__oauth_error(s, conn, rq, path, 400, "invalid_request",
                                   "Unsupported requested_token_type parameter", NULL, NULL, NULL);
    if (ts_form_get(form, "actor_token", NULL))
        return ts_svc__oauth_error(s, conn, rq, path, 400, "invalid_request",
                                   "actor_token is not supported", NULL, NULL, NULL);
    if (upstream)
        return ts_svc__grant_oidc(s, conn, rq, path, form, stt, tok, tlen, key);

    return ts_svc__grant_bootstrap(s, conn, rq, path, tok, tlen, key);
}

static enum MHD_Result count_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    (void)kind;
    (void)key;
    (void)value;
    (*(unsigned *)cls)++;
    return MHD_YES;
}

static bool form_content_type(const char *ct)
{
    static const char want[] = "application/x-www-form-urlencoded";
    if (!ct || strncasecmp(ct, want, sizeof want - 1) != 0)
        return false;
    char c = ct[sizeof want - 1];
    return c == '\0' || c == ';' || c == ' ' || c == '\t';
}

ts_form *ts_svc__read_form(ts_svc *s, struct MHD_Connection *conn, req *rq, const char *path,
                           enum MHD_Result *r)
{
    unsigned nargs = 0;
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, count_arg, &nargs);
    if (nargs > 0 || strchr(path, '?')) {
        *r = ts_svc__oauth_error(
            s, conn, rq, path, 400, "invalid_request",
            "Parameters must be sent in the request body, not in the URL query", NULL, NULL, NULL);
        return NULL;
    }
    if (rq->too_big) {
        char d[96];
        snprintf(d, sizeof d, "Request body exceeds %u bytes", s->cfg.max_body_bytes);
        *r = ts_svc__oauth_error(s, conn, rq, path, 413, "invalid_request", d, NULL, NULL, NULL);
        return NULL;
    }
    const char *ct =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!form_content_type(ct)) {
        *r = ts_svc__oauth_error(s, conn, rq, path, 400, "invalid_request",
                                 "Content-Type must be application/x-www-form-urlencoded", NULL,
                                 NULL, NULL);
        return NULL;
    }
    ts_form *form = NULL;
    ts_error e;
    ts_error_clear(&e);
    if (ts_form_parse(rq->body, rq->len, &form, &e) != TS_OK) {
        char reason[sizeof e.where + sizeof e.msg + 4];
        snprintf(reason, sizeof reason, "%s: %s", e.where, e.msg);
        json_t *f = json_object();
        json_object_set_new(f, "reason", json_string(reason));
        *r = ts_svc__oauth_error(s, conn, rq, path, 400, "invalid_request",
                                 "Failed to parse request", f, NULL, NULL);
        return NULL;
    }
    return form;
}

enum MHD_Result ts_svc__token_endpoint(ts_svc *s, struct MHD_Connection *conn, req *rq,
                                       const char *path)
{
    enum MHD_Result r;
    ts_form *form = ts_svc__read_form(s, conn, rq, path, &r);
    if (!form)
        return r;
    const char *gt = ts_form_get(form, "grant_type", NULL);
    if (!gt || !*gt) {
        r = ts_svc__oauth_error(s, conn, rq, path, 400, "invalid_request",
                                "Missing grant_type parameter", NULL, NULL, NULL);
    } else if (strcmp(gt, TS_SVC_GRANT_EXCHANGE) == 0) {
        r = grant_exchange(s, conn, rq, path, form);
    } else if (strcmp(gt, TS_SVC_GRANT_REFRESH) == 0) {
        rq->grant = TS_SVC_GK_REFRESH;
        r = ts_svc__grant_refresh(s, conn, rq, path, form);
    } else {
        char d[128];
        snprintf(d, sizeof d, "Grant type '%.64s' is not supported", gt);
        r = ts_svc__oauth_error(s, conn, rq, path, 400, "unsupported_grant_type", d, NULL, NULL,
                                NULL);
    }
    ts_form_free(form);
    return r;
}
