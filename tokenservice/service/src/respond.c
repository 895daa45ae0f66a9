/* Answers: every response goes through here, with its security headers and its log line. */
#define _GNU_SOURCE

#include "svc_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

double ts_svc__elapsed_ms(const req *rq)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - rq->start.tv_sec) * 1000.0 +
           (double)(now.tv_nsec - rq->start.tv_nsec) / 1e6;
}

/* Answer with @p body and log the request line with @p members (JSON object members without
   braces, may be empty) after the request's own fields. */
enum MHD_Result ts_svc__respond_m(ts_svc *s, struct MHD_Connection *conn, req *rq,
                                  const char *method, const char *path, unsigned status,
                                  const char *ctype, const char *body, size_t body_len,
                                  const char *cache, const char *members, size_t mlen,
                                  const char *extra_name, const char *extra_value)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(body_len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, "X-Request-Id", rq->id);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (cache) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, cache);
        if (strcmp(cache, "no-store") == 0)
            MHD_add_response_header(r, MHD_HTTP_HEADER_PRAGMA, "no-cache");
    }
    if (extra_name)
        MHD_add_response_header(r, extra_name, extra_value);
    if (atomic_load(&s->draining)) /* so that keep-alive clients go away during the drain */
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    rq->answered = true;
    double ms = ts_svc__elapsed_ms(rq);
    ts_svc_metrics_answer(&s->metrics, rq->ep, status, ms > 0 ? (uint64_t)(ms * 1000.0) : 0u);
    if (rq->ep == TS_SVC_EP_TOKEN && strcmp(method, "POST") == 0)
        ts_svc_metrics_grant(&s->metrics, rq->grant, status, rq->error);
    char shown[257];
    size_t pl = strnlen(path, 256);
    memcpy(shown, path, pl);
    shown[pl] = '\0';
    ts_svc_jw w;
    ts_svc_jw_init(&w);
    ts_svc_jw_kstr(&w, "request_id", rq->id);
    ts_svc_jw_kstr(&w, "method", method);
    ts_svc_jw_kstr(&w, "path", shown);
    ts_svc_jw_kint(&w, "status", status);
    ts_svc_jw_kstr(&w, "peer", rq->peer);
    ts_svc_jw_kreal(&w, "duration_ms", (double)(long)(ms * 1000) / 1000);
    if (mlen) {
        ts_svc_jw_raw(&w, ",", 1);
        ts_svc_jw_raw(&w, members, mlen);
    }
    if (!w.oom)
        ts_svc__log_members(s, status >= 500 ? "error" : (status >= 400 ? "warn" : "info"),
                            "request", w.ptr, w.len);
    ts_svc_jw_free(&w);
    return ret;
}

enum MHD_Result ts_svc__respond(ts_svc *s, struct MHD_Connection *conn, req *rq, const char *method,
                                const char *path, unsigned status, const char *ctype,
                                const char *body, const char *cache, json_t *log_fields,
                                const char *extra_name, const char *extra_value)
{
    size_t mlen;
    char *m = ts_svc__members_of(log_fields, &mlen);
    json_decref(log_fields);
    enum MHD_Result r =
        ts_svc__respond_m(s, conn, rq, method, path, status, ctype, body, strlen(body), cache,
                          m ? m : "", mlen, extra_name, extra_value);
    free(m);
    return r;
}

enum MHD_Result ts_svc__send_json(ts_svc *s, struct MHD_Connection *conn, req *rq,
                                  const char *method, const char *path, unsigned status,
                                  json_t *doc, const char *cache, json_t *log_fields)
{
    char *body = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (!body) {
        json_decref(log_fields);
        return MHD_NO;
    }
    enum MHD_Result r = ts_svc__respond(s, conn, rq, method, path, status, "application/json", body,
                                        cache, log_fields, NULL, NULL);
    OPENSSL_cleanse(body, strlen(body)); /* may hold tokens */
    free(body);
    return r;
}

enum MHD_Result ts_svc__oauth_error(ts_svc *s, struct MHD_Connection *conn, req *rq,
                                    const char *path, unsigned status, const char *code,
                                    const char *desc, json_t *log_fields, const char *extra_name,
                                    const char *extra_value)
{
    json_t *doc = json_object();
    json_object_set_new(doc, "error", json_string(code));
    json_object_set_new(doc, "error_description", json_string(desc));
    char *body = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (!body) {
        json_decref(log_fields);
        return MHD_NO;
    }
    if (!log_fields)
        log_fields = json_object();
    json_object_set_new(log_fields, "error", json_string(code));
    rq->error = code; /* the grant's result in the metrics */
    enum MHD_Result r = ts_svc__respond(s, conn, rq, "POST", path, status, "application/json", body,
                                        "no-store", log_fields, extra_name, extra_value);
    free(body);
    return r;
}

enum MHD_Result ts_svc__method_not_allowed(ts_svc *s, struct MHD_Connection *conn, req *rq,
                                           const char *method, const char *path, const char *allow)
{
    json_t *doc = json_object();
    json_object_set_new(doc, "error", json_string("invalid_request"));
    json_object_set_new(doc, "error_description", json_string("Method not allowed"));
    char *body = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (!body)
        return MHD_NO;
    enum MHD_Result r = ts_svc__respond(s, conn, rq, method, path, 405, "application/json", body,
                                        "no-store", NULL, MHD_HTTP_HEADER_ALLOW, allow);
    free(body);
    return r;
}

enum MHD_Result ts_svc__store_failure(ts_svc *s, struct MHD_Connection *conn, req *rq,
                                      const char *path, ts_status st, const ts_error *e)
{
    json_t *f = json_object();
    json_object_set_new(f, "reason", json_string(e->msg));
    if (st == TS_EIO)
        return ts_svc__oauth_error(s, conn, rq, path, 503, "temporarily_unavailable",
                                   TS_SVC_MSG_STORE_DOWN, f, "Retry-After", "1");
    return ts_svc__oauth_error(s, conn, rq, path, 500, "server_error", TS_SVC_MSG_INTERNAL, f, NULL,
                               NULL);
}
