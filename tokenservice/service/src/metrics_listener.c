/* The metrics listener (metricsListen): GET /metrics on an address of its own, so that the
 * scraper's network need not reach the token endpoint, nor clients the metrics. It runs the
 * service's own request handling (ids, logs, drain, counters), marked so that the router answers
 * /metrics alone there; its bounds are the admin listener's: a few connections, one scraper's worth
 * per address, the service's head and body deadlines. */
#define _GNU_SOURCE

#include "svc_internal.h"
#include "tls.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/listen.h"

/* Connections at once: scrapers are few (a Prometheus pair, an operator's curl). */
#define METRICS_CONNECTIONS 16u
#define METRICS_PER_ADDRESS 4u

struct ts_svc_metrics_http {
    struct MHD_Daemon *d;
    ts_mhd_limits *limits;
    uint16_t port;
};

ts_status ts_svc__metrics_listen_start(ts_svc *s, ts_error *err)
{
    const char *addr = s->cfg.metrics_listen;
    if (!addr[0] || s->metrics_http)
        return TS_OK;
    struct ts_svc_metrics_http *m = calloc(1, sizeof *m);
    if (!m)
        return ts_error_set(err, TS_ENOMEM, "metricsListen", "out of memory");
    ts_mhd_limits_options lo;
    ts_svc__limits_options(s, ts_svc__on_metrics_request, ts_svc__on_completed, METRICS_PER_ADDRESS,
                           METRICS_CONNECTIONS, &lo);
    if (!(m->limits = ts_mhd_limits_new(&lo, err))) {
        free(m);
        return err ? err->code : TS_EINTERNAL;
    }
    ts_svc__tls_tickets(s, ts_svc__tls_listener_flags(s, TS_SVC_LISTENER_METRICS), m->limits);
    int fd = -1;
    ts_status st = ts_common__listen_bind(addr, "metricsListen", &fd, &m->port, err);
    if (st != TS_OK) {
        ts_mhd_limits_free(m->limits);
        free(m);
        return st;
    }
    /* One polling thread: a scrape is one short answer. libmicrohttpd's limit sits above ours
     * so that ours decides and is counted. The request head is small (GET /metrics). HTTPS
     * with the main listener's pair whenever it serves HTTPS (tls_svc.c). */
    m->d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ITC |
            ts_svc__tls_listener_flags(s, TS_SVC_LISTENER_METRICS),
        0, ts_mhd_limits_accept, m->limits, ts_mhd_limits_handler, m->limits, MHD_OPTION_ARRAY,
        ts_mhd_limits_mhd_options(m->limits), MHD_OPTION_ARRAY,
        ts_svc__tls_listener_options(s, TS_SVC_LISTENER_METRICS), MHD_OPTION_LISTEN_SOCKET,
        (MHD_socket)fd, MHD_OPTION_CONNECTION_LIMIT, METRICS_CONNECTIONS + 8u,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384, MHD_OPTION_UNESCAPE_CALLBACK,
        ts_authz_mhd_strict_unescape, NULL, MHD_OPTION_END);
    if (!m->d) {
        int e = errno;
        close(fd); /* on success the daemon owns it */
        ts_mhd_limits_free(m->limits);
        free(m);
        return ts_error_set(err, TS_EIO, "metricsListen", "cannot serve on %s: %s", addr,
                            e ? strerror(e) : "libmicrohttpd refused the options");
    }
    s->metrics_http = m;
    return TS_OK;
}

void ts_svc__metrics_listen_stop(ts_svc *s)
{
    if (!s || !s->metrics_http)
        return;
    MHD_stop_daemon(s->metrics_http->d);
    ts_mhd_limits_free(s->metrics_http->limits); /* after its daemon: joins the watchdog */
    free(s->metrics_http);
    s->metrics_http = NULL;
}

uint16_t ts_svc__metrics_listen_port(const ts_svc *s)
{
    return s && s->metrics_http ? s->metrics_http->port : 0;
}
