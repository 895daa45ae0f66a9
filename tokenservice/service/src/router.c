/* Requests: the libmicrohttpd handler, body collection and routing. */
#define _GNU_SOURCE

#include "revocations.h"
#include "svc_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

bool ts_svc__is_get(const char *m)
{
    return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
}

static enum MHD_Result route(ts_svc *s, struct MHD_Connection *conn, req *rq, const char *url,
                             const char *method)
{
    char path[256];
    size_t l = strnlen(url, sizeof path);
    if (l >= sizeof path)
        l = sizeof path - 1;
    memcpy(path, url, l);
    path[l] = '\0';
    while (l > 1 && path[l - 1] == '/')
        path[--l] = '\0';
    if (strcmp(path, "/oauth/token") == 0 || strcmp(path, "/token") == 0) {
        rq->ep = TS_SVC_EP_TOKEN;
        if (strcmp(method, "POST") != 0)
            return ts_svc__method_not_allowed(s, conn, rq, method, path, "POST");
        return ts_svc__token_endpoint(s, conn, rq, path);
    }
    if (strcmp(path, "/oauth/revoke") == 0 || strcmp(path, "/oauth/introspect") == 0) {
        rq->ep = path[7] == 'r' ? TS_SVC_EP_REVOKE : TS_SVC_EP_INTROSPECT;
        if (strcmp(method, "POST") != 0)
            return ts_svc__method_not_allowed(s, conn, rq, method, path, "POST");
        return path[7] == 'r' ? ts_svc__revoke_endpoint(s, conn, rq, path)
                              : ts_svc__introspect_endpoint(s, conn, rq, path);
    }
    if (s->mtls && strcmp(path, "/service-identity/session") == 0) {
        rq->ep = TS_SVC_EP_SERVICE_IDENTITY;
        if (strcmp(method, "POST") != 0)
            return ts_svc__method_not_allowed(s, conn, rq, method, path, "POST");
        return ts_svc__service_identity_endpoint(s, conn, rq, path);
    }
    if (strcmp(path, "/oauth/revocations") == 0) {
        rq->ep = TS_SVC_EP_REVOCATIONS;
        if (!ts_svc__is_get(method))
            return ts_svc__method_not_allowed(s, conn, rq, method, path, "GET, HEAD");
        return ts_svc__revocations_endpoint(s, conn, rq, method, path);
    }
    if (strcmp(path, "/health") == 0) {
        rq->ep = TS_SVC_EP_HEALTH;
        if (!ts_svc__is_get(method))
            return ts_svc__method_not_allowed(s, conn, rq, method, path, "GET, HEAD");
        return ts_svc__health(s, conn, rq, method, path);
    }
    if (strcmp(path, "/.well-known/jwks.json") == 0) {
        rq->ep = TS_SVC_EP_JWKS;
        if (!ts_svc__is_get(method))
            return ts_svc__method_not_allowed(s, conn, rq, method, path, "GET, HEAD");
        return ts_svc__respond(s, conn, rq, method, path, 200, "application/json",
                               ts_svc_keyring_jwks_json(s->keys), "public, max-age=60", NULL, NULL,
                               NULL);
    }
    if (strcmp(path, "/.well-known/openid-configuration") == 0 ||
        strcmp(path, "/.well-known/oauth-authorization-server") == 0) {
        rq->ep = TS_SVC_EP_METADATA;
        if (!ts_svc__is_get(method))
            return ts_svc__method_not_allowed(s, conn, rq, method, path, "GET, HEAD");
        return ts_svc__respond(s, conn, rq, method, path, 200, "application/json", s->metadata,
                               "public, max-age=3600", NULL, NULL, NULL);
    }
    /* With a metrics listener of its own (metricsListen), /metrics is only there. */
    if (strcmp(path, "/metrics") == 0 && !s->cfg.metrics_listen[0])
        return ts_svc__metrics_endpoint(s, conn, rq, method, path);
    json_t *doc = json_object();
    bool bad = ts_authz_url_has_bad_escape(url); /* left undecoded by the strict decoder */
    json_object_set_new(doc, "error", json_string(bad ? "invalid_request" : "not_found"));
    json_object_set_new(
        doc, "error_description",
        json_string(bad ? "Malformed percent-encoding in the URL path" : "No such endpoint"));
    return ts_svc__send_json(s, conn, rq, method, path, bad ? 400 : 404, doc, "no-store", NULL);
}

/* GET /metrics: the Prometheus text of the service's counters (metrics.c). */
enum MHD_Result ts_svc__metrics_endpoint(ts_svc *s, struct MHD_Connection *conn, req *rq,
                                         const char *method, const char *path)
{
    rq->ep = TS_SVC_EP_METRICS;
    if (!ts_svc__is_get(method))
        return ts_svc__method_not_allowed(s, conn, rq, method, path, "GET, HEAD");
    ts_common__secbuf b = {0};
    ts_svc_metrics_text(s, &b);
    if (b.oom || !b.p) {
        ts_common__secbuf_wipe(&b);
        return MHD_NO;
    }
    enum MHD_Result r = ts_svc__respond_m(s, conn, rq, method, path, 200, TS_SVC_METRICS_CTYPE, b.p,
                                          b.n, "no-store", "", 0, NULL, NULL);
    ts_common__secbuf_wipe(&b);
    return r;
}

/* The metrics listener answers /metrics and nothing else. */
static enum MHD_Result route_metrics_listener(ts_svc *s, struct MHD_Connection *conn, req *rq,
                                              const char *url, const char *method)
{
    if (strcmp(url, "/metrics") == 0)
        return ts_svc__metrics_endpoint(s, conn, rq, method, url);
    json_t *doc = json_object();
    json_object_set_new(doc, "error", json_string("not_found"));
    json_object_set_new(doc, "error_description", json_string("No such endpoint"));
    return ts_svc__send_json(s, conn, rq, method, url, 404, doc, "no-store", NULL);
}

static enum MHD_Result dispatch(ts_svc *s, struct MHD_Connection *conn, req *rq, const char *url,
                                const char *method)
{
    const union MHD_ConnectionInfo *di = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_DAEMON);
    if (s->admin && di && di->daemon == s->admin) {
        rq->ep = TS_SVC_EP_ADMIN;
        return ts_svc__route_admin(s, conn, rq, url, method);
    }
    if (rq->metrics_only)
        return route_metrics_listener(s, conn, rq, url, method);
    return route(s, conn, rq, url, method);
}

/* The handler of every listener but the management API's: @p metrics_only for the metrics
 * listener's requests, which see GET /metrics and nothing else. */
static enum MHD_Result on_request(ts_svc *s, bool metrics_only, struct MHD_Connection *conn,
                                  const char *url, const char *method, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    req *rq = *req_cls;
    if (!rq) {
        rq = calloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO;
        rq->metrics_only = metrics_only;
        clock_gettime(CLOCK_MONOTONIC, &rq->start);
        ts_svc__request_id(conn, rq->id);
        ts_svc__peer_address(conn, rq->peer, sizeof rq->peer);
        *req_cls = rq;
        atomic_fetch_add(&s->inflight, 1);
        /* Refuse an announced oversized body before reading it. */
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > s->cfg.max_body_bytes) {
            rq->too_big = true;
            if (strcmp(method, "POST") == 0)
                return dispatch(s, conn, rq, url, method);
        }
        return MHD_YES;
    }
    if (rq->answered) {
        *upload_data_size = 0; /* discard the rest of a refused body */
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        if (!rq->too_big && rq->len + n <= s->cfg.max_body_bytes) {
            if (!rq->body) {
                rq->body = malloc(s->cfg.max_body_bytes);
                if (!rq->body)
                    return MHD_NO;
            }
            memcpy(rq->body + rq->len, upload_data, n);
            rq->len += n;
        } else {
            rq->too_big = true;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    return dispatch(s, conn, rq, url, method);
}

enum MHD_Result ts_svc__on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **req_cls)
{
    (void)version;
    return on_request(cls, false, conn, url, method, upload_data, upload_data_size, req_cls);
}

enum MHD_Result ts_svc__on_metrics_request(void *cls, struct MHD_Connection *conn, const char *url,
                                           const char *method, const char *version,
                                           const char *upload_data, size_t *upload_data_size,
                                           void **req_cls)
{
    (void)version;
    return on_request(cls, true, conn, url, method, upload_data, upload_data_size, req_cls);
}

void ts_svc__on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                          enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    ts_svc *s = cls;
    req *rq = *req_cls;
    if (!rq)
        return;
    atomic_fetch_sub(&s->inflight, 1);
    if (rq->body) {
        OPENSSL_cleanse(rq->body, rq->len);
        free(rq->body);
    }
    free(rq);
    *req_cls = NULL;
}
