/* The agent's HTTP servers: the listener of settings.listen (http sinks, /health, /metrics)
 * and one Unix socket per uds sink, each served by the agent's own small server (rt_httpd.c)
 * with the bounds `tokensmith serve`'s listeners have (connections per address and in total, a
 * deadline for the request head, the framing checks); they answer GET and HEAD only, without a
 * request body (the server refuses the rest). What a request gets is decided here. */
#define _GNU_SOURCE /* struct ucred */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/tls_conn.h"
#include "rt_httpd.h"
#include "rt_internal.h"

/* ---- uds sinks ------------------------------------------------------------------------- */

struct ts_agent__uds {
    ts_agent__graph *g;
    size_t sink;
    ts_agent__httpd *d;
    char path[108];
};

static bool peer_allowed(int fd, const ts_agent_sink *sk)
{
    if (sk->n_allowed_uids == 0)
        return true;
    struct ucred cr;
    socklen_t len = sizeof cr;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0)
        return false;
    for (size_t i = 0; i < sk->n_allowed_uids; i++)
        if (sk->allowed_uids[i] >= 0 && (uid_t)sk->allowed_uids[i] == cr.uid)
            return true;
    return false;
}

static ts_status uds_handler(void *ud, const ts_agent__httpd_request *rq, ts_agent__answer *a)
{
    ts_agent__uds *u = ud;
    const ts_agent_sink *sk = &ts_agent__graph_config(u->g)->sinks[u->sink];
    if (!peer_allowed(rq->fd, sk))
        return ts_agent__httpd_plain(a, 403, "forbidden");
    if (strcmp(rq->path, "/") != 0 && (!*sk->http_path || strcmp(rq->path, sk->http_path) != 0))
        return ts_agent__httpd_plain(a, 404, "not_found");
    return ts_agent__sink_answer(u->g, u->sink, a);
}

ts_agent__uds *ts_agent__uds_new(ts_agent__graph *g, size_t sink, ts_error *err)
{
    const ts_agent_sink *sk = &ts_agent__graph_config(g)->sinks[sink];
    ts_agent__uds *u = calloc(1, sizeof *u);
    if (!u) {
        ts_error_set(err, TS_ENOMEM, sk->id, "out of memory");
        return NULL;
    }
    u->g = g;
    u->sink = sink;
    struct sockaddr_un un;
    memset(&un, 0, sizeof un);
    un.sun_family = AF_UNIX;
    size_t pl = strlen(sk->path);
    if (pl >= sizeof un.sun_path || pl >= sizeof u->path) {
        free(u);
        ts_error_set(err, TS_EINVAL, sk->path, "socket path too long");
        return NULL;
    }
    memcpy(un.sun_path, sk->path, pl + 1);
    memcpy(u->path, sk->path, pl + 1);
    struct stat sb;
    if (lstat(sk->path, &sb) == 0) {
        if (!S_ISSOCK(sb.st_mode)) {
            free(u);
            ts_error_set(err, TS_EIO, sk->path, "exists and is not a socket");
            return NULL;
        }
        unlink(sk->path); /* left by an earlier run */
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    mode_t old = umask(0177); /* no one but us until the mode is set */
    int rc = fd < 0 ? -1 : bind(fd, (struct sockaddr *)&un, (socklen_t)sizeof un);
    int e = errno;
    umask(old);
    if (rc == 0 && chmod(sk->path, (mode_t)sk->mode) != 0)
        rc = -1, e = errno;
    if (rc == 0 && (sk->owner_uid >= 0 || sk->group_gid >= 0) &&
        chown(sk->path, sk->owner_uid >= 0 ? (uid_t)sk->owner_uid : (uid_t)-1,
              sk->group_gid >= 0 ? (gid_t)sk->group_gid : (gid_t)-1) != 0)
        rc = -1, e = errno;
    if (rc == 0 && listen(fd, 64) != 0)
        rc = -1, e = errno;
    if (rc != 0) {
        ts_error_set(err, TS_EIO, sk->path, "cannot listen on the socket: %s", strerror(e));
        if (fd >= 0) {
            close(fd);
            unlink(sk->path);
        }
        free(u);
        return NULL;
    }
    /* Unix-socket peers are one "address": no per-address cap, the total one only. */
    ts_agent__httpd_options o = TS_AGENT__HTTPD_OPTIONS_INIT;
    o.handler = uds_handler;
    o.ud = u;
    if (!(u->d = ts_agent__httpd_start(fd, &o, err))) { /* it closed fd */
        unlink(sk->path);
        free(u);
        return NULL;
    }
    return u;
}

void ts_agent__uds_free(ts_agent__uds *u)
{
    if (!u)
        return;
    ts_agent__httpd_stop(u->d);
    unlink(u->path);
    free(u);
}

/* ---- the listener ------------------------------------------------------------------------ */

struct ts_agent__listener {
    ts_agent__listener_hooks h;
    ts_agent__httpd *d;
    const ts_common__tls_handshake_counters *tls_counters; /* NULL without TLS */
};

static ts_status listener_handler(void *ud, const ts_agent__httpd_request *rq, ts_agent__answer *a)
{
    ts_agent__listener *l = ud;
    ts_agent__graph *g = l->h.acquire(l->h.ud);
    if (!g) {
        l->h.release(l->h.ud);
        return ts_agent__httpd_plain(a, 503, "unavailable");
    }
    const ts_agent_config *cfg = ts_agent__graph_config(g);
    const char *url = rq->path;
    ts_status st;
    if (strcmp(url, cfg->settings.health_path) == 0)
        st = ts_agent__health_answer(g, a);
    else if (cfg->settings.metrics_enabled && strcmp(url, cfg->settings.metrics_path) == 0) {
        uint64_t ok = 0, refused = 0;
        if (l->h.reloads)
            l->h.reloads(l->h.ud, &ok, &refused);
        st = ts_agent__metrics_answer(g, ok, refused, l->tls_counters, a);
    } else {
        size_t k = 0;
        for (; k < cfg->n_sinks; k++)
            if (cfg->sinks[k].type == TS_AGENT_SINK_HTTP && strcmp(cfg->sinks[k].path, url) == 0)
                break;
        st = k < cfg->n_sinks ? ts_agent__sink_answer(g, k, a)
                              : ts_agent__httpd_plain(a, 404, "not_found");
    }
    l->h.release(l->h.ud);
    return st;
}

/* HOST:PORT or [V6]:PORT, the host an IP address or localhost (the configuration checked). */
static ts_status parse_listen(const char *s, struct sockaddr_storage *ss, ts_error *err)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    size_t hl = colon ? (size_t)(colon - s) : 0;
    if (!colon || hl == 0 || hl >= sizeof host)
        return ts_error_set(err, TS_EINVAL, "settings.listen", "must be HOST:PORT");
    memcpy(host, s, hl);
    host[hl] = '\0';
    long port = strtol(colon + 1, NULL, 10);
    if (port < 0 || port > 65535)
        return ts_error_set(err, TS_EINVAL, "settings.listen", "bad port");
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (strcmp(host, "localhost") == 0)
        memcpy(host, "127.0.0.1", 10);
    if (host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &in6->sin6_addr) == 1)
            return TS_OK;
    } else {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &in4->sin_addr) == 1)
            return TS_OK;
    }
    return ts_error_set(err, TS_EINVAL, "settings.listen", "not an IP address");
}

ts_agent__listener *ts_agent__listener_new(const char *where, const ts_agent__listener_hooks *h,
                                           const struct ts_common__tls_conn_options *tls,
                                           ts_error *err)
{
    struct sockaddr_storage ss;
    if (parse_listen(where, &ss, err) != TS_OK)
        return NULL;
    ts_agent__listener *l = calloc(1, sizeof *l);
    if (!l) {
        ts_error_set(err, TS_ENOMEM, "settings.listen", "out of memory");
        return NULL;
    }
    l->h = *h;
    l->tls_counters = tls ? tls->counters : NULL;
    /* As libmicrohttpd bound it: SO_REUSEADDR, an IPv6 socket for IPv6 only. */
    int one = 1;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    socklen_t sl = ss.ss_family == AF_INET6 ? (socklen_t)sizeof(struct sockaddr_in6)
                                            : (socklen_t)sizeof(struct sockaddr_in);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        (ss.ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) ||
        bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, SOMAXCONN) != 0) {
        ts_error_set(err, TS_EIO, "settings.listen", "cannot listen on %s: %s", where,
                     strerror(errno));
        if (fd >= 0)
            close(fd);
        free(l);
        return NULL;
    }
    ts_agent__httpd_options o = TS_AGENT__HTTPD_OPTIONS_INIT;
    o.handler = listener_handler;
    o.ud = l;
    o.max_per_address = TS_AGENT__HTTPD_MAX_PER_ADDRESS;
    o.tls = tls;
    if (!(l->d = ts_agent__httpd_start(fd, &o, err))) { /* it closed fd */
        free(l);
        return NULL;
    }
    return l;
}

unsigned ts_agent__listener_port(const ts_agent__listener *l)
{
    return ts_agent__httpd_port(l->d);
}

void ts_agent__listener_free(ts_agent__listener *l)
{
    if (!l)
        return;
    ts_agent__httpd_stop(l->d);
    free(l);
}
