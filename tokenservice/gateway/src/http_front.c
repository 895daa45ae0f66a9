/*
 * The gateway's HTTP check listener (http_front.h) on the gateway's own HTTP/1.1 server
 * (check_httpd.h). Every check is a catch-all request under http.prefix, whatever its method:
 * Envoy and Istio mirror the client's method and path (prefix + path, Host as sent), nginx sends
 * a GET to a fixed location and names the original request in two headers. The answer must be
 * exactly 200 to allow (Envoy reads 202 and 204 as denials, nginx any 2xx as an allow), a 4xx
 * to deny, and 503 when nothing was decided, so that the proxy's own fail-open or fail-closed
 * setting applies. Nothing here decides: the checker does. The front's own refusals (outside the
 * prefix, header bounds, a body too large, nginx's headers missing, and the server's framing
 * checks) are tokensmith-mhd's answers: a JSON body, Cache-Control: no-store and Connection:
 * close; none reaches the checker.
 *
 * The path is the request target as sent, escapes kept (as ts_authz_mhd_keep_escapes() keeps
 * them under libmicrohttpd): the checker must tell "%2F" from "/" and sees escapes and the
 * query exactly as the proxy sent them.
 *
 * The stop drains: a check in flight at SIGTERM still gets its answer, since a dropped one is
 * decided by the proxy's failure setting (Envoy's failure_mode_allow fails open), not by us.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "check_httpd.h"
#include "http_front.h"

/* A body is read and ignored up to this size (Envoy's with_request_body sends one); a larger
 * one is 413, as Envoy itself answers for a body over its max_request_bytes. */
#define BODY_MAX (64u * 1024u)
/* A keep-alive connection without a request is closed after this long (libmicrohttpd's
 * connection timeout under tokensmith-mhd, TS_MHD_DEFAULT_IDLE_TIMEOUT_S). */
#define IDLE_MS 30000u
/* Envoy's header for the request headers to delete before forwarding (honoured on 200). */
#define ENVOY_REMOVE "x-envoy-auth-headers-to-remove"
/* nginx relays only the status and WWW-Authenticate of a denial; the deny JSON also goes in
 * this header, for `auth_request_set` and an error_page (docs/gateway.md). */
#define NGINX_DENY "x-tokensmith-deny"

struct ts_gateway__http_front {
    const ts_gateway_config *cfg;
    ts_gateway__checker checker;
    ts_gateway__httpd *httpd;
    size_t prefix_len;
    unsigned max_header_bytes;
    const char *uri_name, *method_name; /* the nginx headers, or NULL */
    size_t uri_len, method_len;
    bool nginx; /* either is configured */
};

/* ---------------------------------------------------------------------------------------- */
/* Answers                                                                                   */

#define LIT(s) s, sizeof s - 1

static void cannot_decide(ts_gateway__httpd_answer *a)
{
    ts_gateway__httpd_answer_start(a, 503);
    ts_gateway__httpd_answer_header(a, LIT("Cache-Control"), LIT("no-store"));
    ts_gateway__httpd_answer_header(a, LIT("Retry-After"), LIT("1"));
    ts_gateway__httpd_answer_end(a, NULL, 0);
}

/* The server frames the answer itself; a checker cannot set these. */
static bool framing_header(const ts_gateway__vheader *h)
{
    return (h->name_len == 14 && strcasecmp(h->name, "content-length") == 0) ||
           (h->name_len == 17 && strcasecmp(h->name, "transfer-encoding") == 0) ||
           (h->name_len == 10 && strcasecmp(h->name, "connection") == 0);
}

/* Envoy's list of request headers to delete: "a, b, c", written in place. The names are HTTP
 * tokens (ts_gateway__verdict_add_remove() checked them). */
static void remove_header(ts_gateway__httpd_answer *a, const ts_gateway__verdict *v)
{
    ts_gateway__httpd_answer_put(a, LIT(ENVOY_REMOVE ": "));
    for (size_t i = 0; i < v->n_remove; i++) {
        if (i)
            ts_gateway__httpd_answer_put(a, LIT(", "));
        ts_gateway__httpd_answer_put(a, v->remove[i], strlen(v->remove[i]));
    }
    ts_gateway__httpd_answer_put(a, LIT("\r\n"));
}

/* The deny JSON as a header value: without its final newline, and only if it is one line of
 * visible ASCII and spaces (authz.deny.v1 is written that way). 0: it cannot be one. */
static size_t deny_header_len(const ts_gateway__verdict *v)
{
    size_t n = v->body_len;
    while (n && (v->body[n - 1] == '\n' || v->body[n - 1] == '\r' || v->body[n - 1] == ' '))
        n--;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v->body[i] < 0x20 || (unsigned char)v->body[i] > 0x7e)
            return 0;
    return n;
}

static void answer(const ts_gateway__http_front *f, ts_gateway__httpd_answer *a,
                   const ts_gateway__verdict *v)
{
    bool allow = v->decision == TS_GATEWAY__ALLOW;
    /* Only 200 allows, and a refusal must be a 4xx: a denial with any other status (a 2xx
     * would pass nginx, a 3xx redirect the client) is a checker fault, not an answer. */
    if (!allow &&
        (v->decision != TS_GATEWAY__DENY || v->http_status < 400 || v->http_status > 499)) {
        cannot_decide(a);
        return;
    }
    ts_gateway__httpd_answer_start(a, allow ? 200 : v->http_status);
    /* The verdict's names are tokens and its values free of CR, LF and NUL
     * (ts_gateway__verdict_add_header() checked them): they go out as they are. */
    for (size_t i = 0; i < v->n_headers; i++)
        if (!framing_header(&v->headers[i]))
            ts_gateway__httpd_answer_header(a, v->headers[i].name, v->headers[i].name_len,
                                            v->headers[i].value, v->headers[i].value_len);
    ts_gateway__httpd_answer_header(a, LIT("Cache-Control"), LIT("no-store"));
    size_t dl;
    if (allow && v->n_remove)
        remove_header(a, v);
    else if (!allow && f->nginx && v->body && (dl = deny_header_len(v)) > 0)
        ts_gateway__httpd_answer_header(a, LIT(NGINX_DENY), v->body, dl);
    /* an allow never carries a body */
    ts_gateway__httpd_answer_end(a, allow ? NULL : v->body, allow ? 0 : v->body_len);
}

/* ---------------------------------------------------------------------------------------- */
/* From the HTTP request to the checker's input                                              */

/* nginx's two headers, in one pass over the lines: false when one is configured and absent,
 * or repeated (a bad check request, 400). */
static bool nginx_headers(const ts_gateway__http_front *f, const ts_gateway__http_head *rq,
                          const ts_gateway__header **uri, const ts_gateway__header **method)
{
    *uri = *method = NULL;
    if (!f->nginx)
        return true;
    unsigned n_uri = 0, n_method = 0;
    for (size_t i = 0; i < rq->n_headers; i++) {
        const ts_gateway__header *h = &rq->headers[i];
        if (f->uri_name && h->name.len == f->uri_len && strcasecmp(h->name.ptr, f->uri_name) == 0 &&
            n_uri++ == 0)
            *uri = h;
        else if (f->method_name && h->name.len == f->method_len &&
                 strcasecmp(h->name.ptr, f->method_name) == 0 && n_method++ == 0)
            *method = h;
    }
    return (!f->uri_name || n_uri == 1) && (!f->method_name || n_method == 1);
}

static void on_request(const ts_gateway__http_head *rq, ts_gateway__httpd_answer *a, void *ud)
{
    const ts_gateway__http_front *f = ud;
    /* Path (and query) of the Envoy convention: the target minus the prefix. */
    const char *url = rq->target.ptr;
    if (strncmp(url, f->cfg->http.prefix, f->prefix_len) != 0 || url[f->prefix_len] != '/') {
        ts_gateway__httpd_refuse(a, 404, "not a check path (outside http.prefix)");
        return;
    }
    if (rq->header_bytes > f->max_header_bytes) {
        ts_gateway__httpd_refuse(a, 431, "request headers too large");
        return;
    }
    const ts_gateway__header *uri, *method;
    if (!nginx_headers(f, rq, &uri, &method)) {
        ts_gateway__httpd_refuse(a, 400,
                                 "the original URI or method header is missing or repeated");
        return;
    }
    ts_gateway__input in = {.front = TS_GATEWAY__FRONT_HTTP,
                            .method = rq->method,
                            .host = {"", 0},
                            .path = {url + f->prefix_len, rq->target.len - f->prefix_len},
                            .headers = rq->headers,
                            .n_headers = rq->n_headers,
                            .peer_address = {"", 0}};
    if (method)
        in.method = method->value;
    if (uri)
        in.path = uri->value;
    if (rq->host)
        in.host = rq->host->value;
    ts_gateway__verdict v;
    ts_gateway__verdict_init(&v);
    f->checker.fn(&in, &v, f->checker.ud);
    answer(f, a, &v);
    ts_gateway__verdict_cleanup(&v);
}

/* ---------------------------------------------------------------------------------------- */
/* Life cycle                                                                                */

static unsigned or_default(unsigned v, unsigned d)
{
    return v ? v : d;
}

ts_gateway__http_front *ts_gateway__http_front_start(const ts_gateway_config *cfg,
                                                     ts_gateway__checker checker, ts_error *err)
{
    return ts_gateway__http_front_start_tls(cfg, checker, NULL, err);
}

ts_gateway__http_front *ts_gateway__http_front_start_tls(const ts_gateway_config *cfg,
                                                         ts_gateway__checker checker,
                                                         const ts_common__tls_conn_options *tls,
                                                         ts_error *err)
{
    if (!cfg || !checker.fn) {
        ts_error_set(err, TS_EINVAL, "listen", "no configuration or no checker");
        return NULL;
    }
    if (cfg->http.prefix[0] && cfg->http.prefix[0] != '/') {
        ts_error_set(err, TS_EINVAL, "http.prefix", "'%s' does not start with '/'",
                     cfg->http.prefix);
        return NULL;
    }
    ts_gateway__http_front *f = calloc(1, sizeof *f);
    if (!f) {
        ts_error_set(err, TS_ENOMEM, "listen", "out of memory");
        return NULL;
    }
    f->cfg = cfg;
    f->checker = checker;
    f->prefix_len = strlen(cfg->http.prefix);
    f->max_header_bytes = or_default(cfg->limits.max_header_bytes, 16384u);
    f->uri_name = cfg->http.original_uri_header[0] ? cfg->http.original_uri_header : NULL;
    f->method_name = cfg->http.original_method_header[0] ? cfg->http.original_method_header : NULL;
    f->nginx = f->uri_name || f->method_name;
    f->uri_len = strlen(cfg->http.original_uri_header);
    f->method_len = strlen(cfg->http.original_method_header);
    int64_t t = cfg->limits.request_timeout_ms;
    ts_gateway__httpd_options o = {
        .listen = cfg->listen,
        .threads = or_default(cfg->threads, 1u),
        .max_connections = or_default(cfg->limits.max_connections, 1024u),
        .max_headers = or_default(cfg->limits.max_headers, 100u),
        .max_header_bytes = f->max_header_bytes,
        /* limits.request_timeout, within 1 s..10 min */
        .deadline_ms = t <= 0       ? 5000u
                       : t < 1000   ? 1000u
                       : t > 600000 ? 600000u
                                    : (unsigned)t,
        .idle_ms = IDLE_MS,
        .body_max = BODY_MAX,
        .fn = on_request,
        .ud = f,
        .tls = tls,
    };
    if (!(f->httpd = ts_gateway__httpd_start(&o, err))) {
        free(f);
        return NULL;
    }
    return f;
}

uint16_t ts_gateway__http_front_port(const ts_gateway__http_front *f)
{
    return f ? ts_gateway__httpd_port(f->httpd) : 0;
}

void ts_gateway__http_front_stop(ts_gateway__http_front *f)
{
    if (!f)
        return;
    ts_gateway__httpd_stop(f->httpd); /* drains: see check_httpd.h */
    free(f);
}
