/*
 * The gateway's HTTP check listener (http_front.h) on libmicrohttpd, inside tokensmith-mhd's
 * bounds. Every check is a catch-all request under http.prefix, whatever its method: Envoy and
 * Istio mirror the client's method and path (prefix + path, Host as sent), nginx sends a GET to
 * a fixed location and names the original request in two headers. The answer must be exactly
 * 200 to allow (Envoy reads 202 and 204 as denials, nginx any 2xx as an allow), a 4xx to deny,
 * and 503 when nothing was decided, so that the proxy's own fail-open or fail-closed setting
 * applies. Nothing here decides: the checker does. The front's own refusals (outside the
 * prefix, header bounds, a body too large, nginx's headers missing) are tokensmith-mhd's
 * ts_mhd_queue_invalid_request() answers, as its framing checks give them: a JSON body,
 * Cache-Control: no-store and Connection: close; none reaches the checker.
 *
 * The stop drains: a check in flight at SIGTERM still gets its answer, since a dropped one is
 * decided by the proxy's failure setting (Envoy's failure_mode_allow fails open), not by us.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime(), nanosleep() */

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <tokensmith/authz_http.h>
#include <tokensmith/mhd.h>

#include "common/listen.h"
#include "http_front.h"

/* A body is read and ignored up to this size (Envoy's with_request_body sends one); a larger
 * one is 413, as Envoy itself answers for a body over its max_request_bytes. */
#define BODY_MAX (64u * 1024u)
/* Room in a connection's memory beyond the request head: libmicrohttpd builds the answer's
 * head there, and an allow carries the translated token (up to 8 KiB) and the names of the
 * client's headers to remove (at most the default 16 KiB request head). Not more: libmicrohttpd
 * zeroes a keep-alive connection's whole memory after every request, which showed as 6% of
 * the CPU of a cached check at 64 KiB. */
#define ANSWER_ROOM (24u * 1024u)
/* Envoy's header for the request headers to delete before forwarding (honoured on 200). */
#define ENVOY_REMOVE "x-envoy-auth-headers-to-remove"
/* nginx relays only the status and WWW-Authenticate of a denial; the deny JSON also goes in
 * this header, for `auth_request_set` and an error_page (docs/gateway.md). */
#define NGINX_DENY "x-tokensmith-deny"

struct ts_gateway__http_front {
    const ts_gateway_config *cfg;
    ts_gateway__checker checker;
    ts_mhd_limits *limits;
    struct MHD_Daemon *mhd;
    uint16_t port;
    unsigned max_headers;
    unsigned max_header_bytes;
    unsigned deadline_ms; /* limits.request_timeout as applied (1 s..10 min) */
    bool nginx;           /* an original URI or method header is configured */
    /* Requests whose handler has run and whose completion has not: the stop waits for them.
     * Counted per request, not per connection, so an idle keep-alive connection holds
     * nothing up. */
    atomic_uint inflight;
    atomic_bool draining; /* set by the stop: answers say Connection: close */
};

/* Per request: how much body arrived, and whether the answer is already queued. */
typedef struct request {
    size_t body_bytes;
    bool too_big;
    bool answered;
} request;

/* ---------------------------------------------------------------------------------------- */
/* Answers                                                                                   */

/* While the stop drains, every answer closes its connection: a proxy that keeps connections
 * alive then opens a new one for its next check (refused, so its own failure setting decides
 * at once) instead of sending it on a connection about to close. */
static bool add_close(const ts_gateway__http_front *f, struct MHD_Response *r)
{
    return !atomic_load(&f->draining) ||
           MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close") == MHD_YES;
}

static enum MHD_Result cannot_decide(const ts_gateway__http_front *f, struct MHD_Connection *conn)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    enum MHD_Result ok = MHD_YES;
    if (MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES ||
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1") != MHD_YES || !add_close(f, r))
        ok = MHD_NO;
    if (ok == MHD_YES)
        ok = MHD_queue_response(conn, MHD_HTTP_SERVICE_UNAVAILABLE, r);
    MHD_destroy_response(r);
    return ok;
}

/* libmicrohttpd frames the answer itself; a checker cannot set these. */
static bool framing_header(const char *name)
{
    return strcasecmp(name, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0 ||
           strcasecmp(name, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0 ||
           strcasecmp(name, MHD_HTTP_HEADER_CONNECTION) == 0;
}

/* Envoy's list of request headers to delete: "a, b, c". NULL on allocation failure. */
static char *join_remove(const ts_gateway__verdict *v)
{
    size_t n = 1;
    for (size_t i = 0; i < v->n_remove; i++)
        n += strlen(v->remove[i]) + 2;
    char *s = malloc(n), *w = s;
    if (!s)
        return NULL;
    for (size_t i = 0; i < v->n_remove; i++) {
        size_t len = strlen(v->remove[i]);
        if (i) {
            memcpy(w, ", ", 2);
            w += 2;
        }
        memcpy(w, v->remove[i], len);
        w += len;
    }
    *w = '\0';
    return s;
}

/* The deny JSON as a header value: without its final newline, and only if it is one line of
 * visible ASCII and spaces (authz.deny.v1 is written that way). NULL when it cannot be one. */
static char *deny_header(const ts_gateway__verdict *v)
{
    size_t n = v->body_len;
    while (n && (v->body[n - 1] == '\n' || v->body[n - 1] == '\r' || v->body[n - 1] == ' '))
        n--;
    if (n == 0)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v->body[i] < 0x20 || (unsigned char)v->body[i] > 0x7e)
            return NULL;
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, v->body, n);
        s[n] = '\0';
    }
    return s;
}

/* The verdict's headers, and the extra one of each kind of answer. false: one could not be
 * added, and the answer must not go out without it (an allow without the translated
 * Authorization would let the client's own token through). */
static bool add_headers(const ts_gateway__http_front *f, struct MHD_Response *r,
                        const ts_gateway__verdict *v, bool allow)
{
    for (size_t i = 0; i < v->n_headers; i++) {
        if (framing_header(v->headers[i].name))
            continue;
        if (MHD_add_response_header(r, v->headers[i].name, v->headers[i].value) != MHD_YES)
            return false;
    }
    if (MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES ||
        !add_close(f, r))
        return false;
    char *extra = NULL;
    const char *name = NULL;
    if (allow && v->n_remove) {
        extra = join_remove(v);
        name = ENVOY_REMOVE;
        if (!extra)
            return false;
    } else if (!allow && f->nginx && v->body) {
        extra = deny_header(v); /* NULL: not expressible as a header; the body still goes */
        name = NGINX_DENY;
    }
    bool ok = !extra || MHD_add_response_header(r, name, extra) == MHD_YES;
    free(extra);
    return ok;
}

static enum MHD_Result answer(const ts_gateway__http_front *f, struct MHD_Connection *conn,
                              const ts_gateway__verdict *v)
{
    bool allow = v->decision == TS_GATEWAY__ALLOW;
    /* Only 200 allows, and a refusal must be a 4xx: a denial with any other status (a 2xx
     * would pass nginx, a 3xx redirect the client) is a checker fault, not an answer. */
    if (!allow && (v->decision != TS_GATEWAY__DENY || v->http_status < 400 || v->http_status > 499))
        return cannot_decide(f, conn);
    size_t len = allow ? 0 : v->body_len;
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, len ? v->body : NULL, len ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_PERSISTENT);
    if (!r)
        return cannot_decide(f, conn);
    if (!add_headers(f, r, v, allow)) {
        MHD_destroy_response(r);
        return cannot_decide(f, conn);
    }
    enum MHD_Result ok = MHD_queue_response(conn, allow ? MHD_HTTP_OK : v->http_status, r);
    MHD_destroy_response(r);
    return ok;
}

/* ---------------------------------------------------------------------------------------- */
/* From the HTTP request to the checker's input                                              */

typedef struct headers_in {
    ts_gateway__header *h;
    size_t n, cap;
    size_t bytes;
    bool bad;
    const char *uri_name, *method_name; /* the nginx headers, or NULL */
    const ts_gateway__header *uri, *method, *host;
    unsigned n_uri, n_method;
} headers_in;

static bool has_ctl(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
            return true;
    return false;
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    headers_in *c = cls;
    if (!value) {
        value = "";
        value_size = 0;
    }
    /* An embedded NUL would make the name or value end early for whoever reads it as a C
     * string; CR and LF cannot appear on the wire but are checked, not assumed. */
    if (c->n == c->cap || !key || key_size == 0 || has_ctl(key, key_size) ||
        has_ctl(value, value_size)) {
        c->bad = true;
        return MHD_NO;
    }
    ts_gateway__header *h = &c->h[c->n++];
    *h = (ts_gateway__header){{key, key_size}, {value, value_size}};
    c->bytes += key_size + value_size + 4; /* ": " and CRLF, as on the wire */
    if (c->uri_name && strcasecmp(key, c->uri_name) == 0 && c->n_uri++ == 0)
        c->uri = h;
    if (c->method_name && strcasecmp(key, c->method_name) == 0 && c->n_method++ == 0)
        c->method = h;
    if (!c->host && strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
        c->host = h;
    return MHD_YES;
}

/* The query as received, rebuilt from libmicrohttpd's arguments (it splits the query off the
 * URL and hands it over only parsed): the escapes stay as sent (ts_authz_mhd_keep_escapes), a
 * '+' it turned into a space is turned back. Empty pieces ("a&&b", a final "&") come back as
 * "a&&b" and "a"; the guard does not read the query. */
typedef struct query {
    char *p; /* NULL while measuring */
    size_t len;
} query;

static void put(query *q, const char *s, size_t n, bool plus)
{
    for (size_t i = 0; i < n; i++) {
        if (q->p)
            q->p[q->len] = (plus && s[i] == ' ') ? '+' : s[i];
        q->len++;
    }
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    query *q = cls;
    if (q->len)
        put(q, "&", 1, false);
    put(q, key ? key : "", key ? key_size : 0, true);
    if (value) {
        put(q, "=", 1, false);
        put(q, value, value_size, true);
    }
    return MHD_YES;
}

/* Path (and query) of the Envoy convention: the URL minus the prefix. NULL: outside it. */
static const char *under_prefix(const ts_gateway__http_front *f, const char *url)
{
    size_t n = strlen(f->cfg->http.prefix);
    if (strncmp(url, f->cfg->http.prefix, n) != 0 || url[n] != '/')
        return NULL;
    return url + n;
}

/* "/path" + "?" + query into a new string (caller frees), or NULL on allocation failure. */
static char *envoy_path(struct MHD_Connection *conn, const char *path, size_t *len)
{
    query q = {NULL, 0};
    MHD_get_connection_values_n(conn, MHD_GET_ARGUMENT_KIND, collect_arg, &q);
    size_t plen = strlen(path), qlen = q.len;
    char *s = malloc(plen + 1 + qlen + 1);
    if (!s)
        return NULL;
    memcpy(s, path, plen);
    *len = plen;
    if (qlen) {
        s[plen] = '?';
        q = (query){s + plen + 1, 0};
        MHD_get_connection_values_n(conn, MHD_GET_ARGUMENT_KIND, collect_arg, &q);
        *len += 1 + q.len;
    }
    s[*len] = '\0';
    return s;
}

/* One nginx header: configured and absent, or repeated, is a bad check request (400). */
static bool one_of(const char *configured, unsigned n)
{
    return !configured || n == 1;
}

static enum MHD_Result check(ts_gateway__http_front *f, struct MHD_Connection *conn,
                             const char *url, const char *method)
{
    const char *path = under_prefix(f, url);
    if (!path)
        return ts_mhd_queue_invalid_request(conn, MHD_HTTP_NOT_FOUND,
                                            "not a check path (outside http.prefix)");
    ssize_t count = MHD_get_connection_values_n(conn, MHD_HEADER_KIND, NULL, NULL);
    if (count < 0 || (size_t)count > f->max_headers)
        return ts_mhd_queue_invalid_request(conn, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE,
                                            "too many header lines");
    headers_in hi = {.cap = (size_t)count};
    hi.uri_name = f->cfg->http.original_uri_header[0] ? f->cfg->http.original_uri_header : NULL;
    hi.method_name =
        f->cfg->http.original_method_header[0] ? f->cfg->http.original_method_header : NULL;
    if (count && !(hi.h = calloc((size_t)count, sizeof *hi.h)))
        return MHD_NO;
    MHD_get_connection_values_n(conn, MHD_HEADER_KIND, collect_header, &hi);
    enum MHD_Result ret;
    char *built = NULL;
    if (hi.bad) {
        ret = ts_mhd_queue_invalid_request(conn, MHD_HTTP_BAD_REQUEST, "malformed header line");
    } else if (hi.bytes > f->max_header_bytes) {
        ret = ts_mhd_queue_invalid_request(conn, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE,
                                           "request headers too large");
    } else if (!one_of(hi.uri_name, hi.n_uri) || !one_of(hi.method_name, hi.n_method)) {
        ret = ts_mhd_queue_invalid_request(
            conn, MHD_HTTP_BAD_REQUEST, "the original URI or method header is missing or repeated");
    } else {
        ts_gateway__input in = {.front = TS_GATEWAY__FRONT_HTTP,
                                .method = {method, strlen(method)},
                                .host = {"", 0},
                                .headers = hi.h,
                                .n_headers = hi.n,
                                .peer_address = {"", 0}};
        if (hi.method)
            in.method = hi.method->value;
        if (hi.host)
            in.host = hi.host->value;
        size_t plen = 0;
        if (hi.uri)
            in.path = hi.uri->value;
        else if ((built = envoy_path(conn, path, &plen)) != NULL)
            in.path = (ts_gateway__str){built, plen};
        if (!in.path.ptr) {
            ret = cannot_decide(f, conn);
        } else {
            ts_gateway__verdict v;
            ts_gateway__verdict_init(&v);
            f->checker.fn(&in, &v, f->checker.ud);
            ret = answer(f, conn, &v);
            ts_gateway__verdict_cleanup(&v);
        }
    }
    free(built);
    free(hi.h);
    return ret;
}

/* ---------------------------------------------------------------------------------------- */
/* libmicrohttpd callbacks                                                                   */

static bool announces_big_body(struct MHD_Connection *conn)
{
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!cl)
        return false;
    errno = 0;
    char *end = NULL;
    unsigned long long n = strtoull(cl, &end, 10);
    return errno != 0 || n > BODY_MAX; /* libmicrohttpd refused a non-number already */
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls)
{
    (void)version;
    (void)upload;
    ts_gateway__http_front *f = cls;
    request *rq = *req_cls;
    if (!rq) {
        if (!(rq = calloc(1, sizeof *rq)))
            return MHD_NO;
        *req_cls = rq;
        atomic_fetch_add(&f->inflight, 1); /* on_completed() takes it back */
        /* Refused before a byte of it is read; libmicrohttpd then closes the connection. */
        if (announces_big_body(conn)) {
            rq->answered = true;
            return ts_mhd_queue_invalid_request(conn, 413, "request body over 65536 bytes");
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (*upload_size > BODY_MAX - rq->body_bytes)
            rq->too_big = true; /* a chunked body: read to its end, counted, then 413 */
        else
            rq->body_bytes += *upload_size;
        *upload_size = 0;
        return MHD_YES;
    }
    if (rq->answered)
        return MHD_YES;
    rq->answered = true;
    if (rq->too_big)
        return ts_mhd_queue_invalid_request(conn, 413, "request body over 65536 bytes");
    return check(f, conn, url, method);
}

/* Once per request the handler saw (tokensmith-mhd's contract), answered or not: the
 * connection closed, timed out or the daemon stopped. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    ts_gateway__http_front *f = cls;
    if (!*req_cls)
        return; /* its handler could not allocate: never counted */
    free(*req_cls);
    *req_cls = NULL;
    atomic_fetch_sub(&f->inflight, 1);
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
    f->max_headers = or_default(cfg->limits.max_headers, 100u);
    f->max_header_bytes = or_default(cfg->limits.max_header_bytes, 16384u);
    f->nginx = cfg->http.original_uri_header[0] || cfg->http.original_method_header[0];
    atomic_init(&f->inflight, 0u);
    atomic_init(&f->draining, false);
    unsigned threads = or_default(cfg->threads, 1u);
    unsigned max_conn = or_default(cfg->limits.max_connections, 1024u);
    int64_t t = cfg->limits.request_timeout_ms;
    unsigned deadline_ms = t <= 0 ? 5000u : t < 1000 ? 1000u : t > 600000 ? 600000u : (unsigned)t;
    f->deadline_ms = deadline_ms;

    ts_mhd_limits_options lo = TS_MHD_LIMITS_OPTIONS_INIT;
    lo.handler = on_request;
    lo.handler_cls = f;
    lo.completed = on_completed;
    lo.completed_cls = f;
    lo.max_per_address = 0; /* every connection comes from the proxy */
    lo.max_connections = max_conn;
    lo.head_timeout_ms = deadline_ms;
    lo.body_timeout_ms = deadline_ms;
    lo.check_framing = true;
    if (!(f->limits = ts_mhd_limits_new(&lo, err))) {
        free(f);
        return NULL;
    }
    int fd = -1;
    if (ts_common__listen_bind(cfg->listen, "listen", &fd, &f->port, err) != TS_OK) {
        ts_gateway__http_front_stop(f);
        return NULL;
    }
    /* Raw paths: the checker must tell "%2F" from "/" and sees escapes exactly as sent. */
    f->mhd = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ITC, 0, ts_mhd_limits_accept,
        f->limits, ts_mhd_limits_handler, f->limits, MHD_OPTION_ARRAY,
        ts_mhd_limits_mhd_options(f->limits), MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT, max_conn + 64u * threads,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)f->max_header_bytes * 2u + ANSWER_ROOM,
        MHD_OPTION_UNESCAPE_CALLBACK, ts_authz_mhd_keep_escapes, NULL, MHD_OPTION_END);
    if (!f->mhd) {
        int e = errno;
        close(fd); /* on success the daemon owns it */
        ts_error_set(err, TS_EIO, "listen", "cannot serve on %s: %s", cfg->listen,
                     e ? strerror(e) : "libmicrohttpd refused the options");
        ts_gateway__http_front_stop(f);
        return NULL;
    }
    return f;
}

uint16_t ts_gateway__http_front_port(const ts_gateway__http_front *f)
{
    return f ? f->port : 0;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Stop accepting, let the requests in flight finish, then stop, as `tokensmith serve` does
 * (tokenservice/service/src/lifecycle.c). The wait is bounded by limits.request_timeout + 1 s:
 * a request whose head is in still gets its body within the deadline (tokensmith-mhd closes it
 * after), and the checker's own waits (a JWKS fetch, discovery) are bounded by their timeouts.
 * A check still running at the bound is cut off when the daemon stops, as before. */
static void drain(ts_gateway__http_front *f)
{
    atomic_store(&f->draining, true);
    MHD_socket ls = MHD_quiesce_daemon(f->mhd);
    /* A quiesced socket still listens: the kernel would complete new connections into its
     * backlog, to be reset only at the stop, and a proxy would wait on them. shutdown() ends the
     * listening at once (Linux: new connections are refused) while the descriptor stays open
     * for the daemon's threads; it is closed after MHD_stop_daemon(), as libmicrohttpd asks. */
    if (ls != MHD_INVALID_SOCKET)
        (void)shutdown(ls, SHUT_RDWR);
    int64_t until = mono_ms() + (int64_t)f->deadline_ms + 1000;
    while (atomic_load(&f->inflight) > 0 && mono_ms() < until) {
        struct timespec step = {0, 20 * 1000000L};
        nanosleep(&step, NULL);
    }
    MHD_stop_daemon(f->mhd);
    f->mhd = NULL;
    if (ls != MHD_INVALID_SOCKET)
        close(ls);
}

void ts_gateway__http_front_stop(ts_gateway__http_front *f)
{
    if (!f)
        return;
    if (f->mhd)
        drain(f);
    ts_mhd_limits_free(f->limits); /* after its daemon: joins the watchdog */
    free(f);
}
