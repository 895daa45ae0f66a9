/* The gateway's admin listener: /health, /metrics and the gateway's JWKS over libmicrohttpd,
 * bounded by tokensmith-mhd's limits (admin.h). GET and HEAD only; nothing is ever read from a
 * request but its method and path. */
#define _POSIX_C_SOURCE 200809L

#include "admin.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include <tokensmith/mhd.h>

#include "common/listen.h"

/* Few and short connections: monitoring and the upstreams that fetch the JWKS. */
#define ADMIN_CONNECTIONS 64u

struct ts_gateway__admin {
    ts_gateway__admin_source src;
    ts_mhd_limits *limits;
    struct MHD_Daemon *mhd;
    uint16_t port;
};

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, const char *type,
                              const char *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result error(struct MHD_Connection *conn, unsigned status, const char *what)
{
    char body[96];
    int n = snprintf(body, sizeof body, "{\"error\":\"%s\"}", what);
    return answer(conn, status, "application/json", body, (size_t)n);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    ts_gateway__admin *a = cls;
    (void)version;
    (void)upload_data;
    if (!*req_cls) { /* first call: the head only; wait for the (ignored) body */
        *req_cls = a;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0; /* a body is read and ignored */
        return MHD_YES;
    }
    if (strcmp(url, "/authz/diagnostics") == 0 && a->src.guard)
        return ts_authz_mhd_diagnostics(a->src.guard, conn, method) == TS_HOOK_RESPONDED ? MHD_YES
                                                                                         : MHD_NO;
    bool known = strcmp(url, "/health") == 0 || strcmp(url, "/metrics") == 0 ||
                 strcmp(url, "/.well-known/jwks.json") == 0;
    if (!known)
        return error(conn, MHD_HTTP_NOT_FOUND, "not_found");
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed");
    if (strcmp(url, "/health") == 0) {
        static const char ok[] = "{\"status\":\"ok\"}";
        return answer(conn, MHD_HTTP_OK, "application/json", ok, sizeof ok - 1);
    }
    ts_common__secbuf b = {0};
    enum MHD_Result rc;
    if (strcmp(url, "/metrics") == 0) {
        a->src.metrics(a->src.ud, &b);
        rc = b.oom ? error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out_of_memory")
                   : answer(conn, MHD_HTTP_OK, "text/plain; version=0.0.4", b.p ? b.p : "", b.n);
    } else {
        ts_error err;
        ts_error_clear(&err);
        ts_status st = a->src.jwks(a->src.ud, &b, &err);
        rc = st != TS_OK || b.oom
                 ? error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "keys_unavailable")
                 : answer(conn, MHD_HTTP_OK, "application/jwk-set+json", b.p ? b.p : "", b.n);
    }
    ts_common__secbuf_wipe(&b);
    return rc;
}

ts_gateway__admin *ts_gateway__admin_start(const char *listen, ts_gateway__admin_source src,
                                           ts_error *err)
{
    return ts_gateway__admin_start_tls(listen, src, NULL, err);
}

ts_gateway__admin *ts_gateway__admin_start_tls(const char *listen, ts_gateway__admin_source src,
                                               const ts_gateway__tls *tls, ts_error *err)
{
    ts_gateway__admin *a = calloc(1, sizeof *a);
    if (!a) {
        ts_error_set(err, TS_ENOMEM, "admin_listen", "out of memory");
        return NULL;
    }
    a->src = src;
    ts_mhd_limits_options lo = TS_MHD_LIMITS_OPTIONS_INIT;
    lo.handler = on_request;
    lo.handler_cls = a;
    lo.max_connections = ADMIN_CONNECTIONS;
    lo.check_framing = true;
    int fd = -1;
    if (!(a->limits = ts_mhd_limits_new(&lo, err)) ||
        ts_common__listen_bind(listen, "admin_listen", &fd, &a->port, err) != TS_OK) {
        ts_gateway__admin_stop(a);
        return NULL;
    }
    /* With TLS: the process's pair through the certificate callback (reloads apply to the next
     * handshake), the same priorities as the check listeners, no client certificate asked. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ITC |
                     ts_gateway__tls_mhd_flags(tls);
    a->mhd = MHD_start_daemon(flags, 0, ts_mhd_limits_accept, a->limits, ts_mhd_limits_handler,
                              a->limits, MHD_OPTION_ARRAY, ts_mhd_limits_mhd_options(a->limits),
                              MHD_OPTION_ARRAY, ts_gateway__tls_mhd_options(tls),
                              MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd, MHD_OPTION_CONNECTION_LIMIT,
                              ADMIN_CONNECTIONS + 8u, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                              (size_t)16384, MHD_OPTION_END);
    if (!a->mhd) {
        int e = errno;
        close(fd); /* on success the daemon owns it */
        ts_error_set(err, TS_EIO, "admin_listen", "cannot serve on %s: %s", listen,
                     e ? strerror(e) : "libmicrohttpd refused the options");
        ts_gateway__admin_stop(a);
        return NULL;
    }
    return a;
}

uint16_t ts_gateway__admin_port(const ts_gateway__admin *a)
{
    return a->port;
}

void ts_gateway__admin_stop(ts_gateway__admin *a)
{
    if (!a)
        return;
    if (a->mhd)
        MHD_stop_daemon(a->mhd);
    ts_mhd_limits_free(a->limits);
    free(a);
}
