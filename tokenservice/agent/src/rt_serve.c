/* The agent's HTTP servers: the listener of settings.listen (http sinks, /health, /metrics)
 * and one Unix socket per uds sink. Both are bounded as `tokensmith serve`'s listeners are
 * (tokensmith-mhd: connections per address and in total, deadlines for the head and the body,
 * framing checks); they answer GET and HEAD only, without a request body. */
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

#include <microhttpd.h>
#include <tokensmith/mhd.h>

#include "rt_internal.h"

#define MAX_CONNECTIONS 256u

int ts_agent__queue_answer(void *conn, const ts_agent__answer *a, bool head)
{
    static char empty[1];
    struct MHD_Response *r = MHD_create_response_from_buffer(
        head ? 0 : a->body_len, head ? empty : a->body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a->content_type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    for (size_t i = 0; i < a->n_hdrs; i++)
        MHD_add_response_header(r, a->hdr_names[i], a->hdr_values[i]);
    enum MHD_Result rc = MHD_queue_response(conn, a->status, r);
    MHD_destroy_response(r);
    return rc == MHD_YES ? MHD_YES : MHD_NO; /* an int for callers without microhttpd.h */
}

static enum MHD_Result plain(struct MHD_Connection *conn, unsigned status, const char *error)
{
    char body[160];
    snprintf(body, sizeof body, "{\"error\":\"%s\"}", error);
    ts_agent__answer a = {.status = status,
                          .content_type = "application/json",
                          .body = body,
                          .body_len = strlen(body)};
    return (enum MHD_Result)ts_agent__queue_answer(conn, &a, false);
}

/* The common front of both servers: GET or HEAD, no body. 0: go on; else the answer queued. */
static int front(struct MHD_Connection *conn, const char *method, bool *head, enum MHD_Result *rc)
{
    *head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    if (!*head && strcmp(method, MHD_HTTP_METHOD_GET) != 0) {
        *rc = plain(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed");
        return 1;
    }
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    if ((cl && strcmp(cl, "0") != 0) ||
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding")) {
        *rc = plain(conn, MHD_HTTP_CONTENT_TOO_LARGE, "request_body_not_allowed");
        return 1;
    }
    return 0;
}

static enum MHD_Result answer_with(struct MHD_Connection *conn, ts_status st, ts_agent__answer *a,
                                   bool head)
{
    if (st != TS_OK)
        return plain(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out_of_memory");
    enum MHD_Result rc = (enum MHD_Result)ts_agent__queue_answer(conn, a, head);
    ts_agent__answer_clear(a);
    return rc;
}

/* ---- uds sinks ------------------------------------------------------------------------- */

struct ts_agent__uds {
    ts_agent__graph *g;
    size_t sink;
    struct MHD_Daemon *d;
    ts_mhd_limits *limits;
    char path[108];
};

static bool peer_allowed(struct MHD_Connection *conn, const ts_agent_sink *sk)
{
    if (sk->n_allowed_uids == 0)
        return true;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct ucred cr;
    socklen_t len = sizeof cr;
    if (!ci || getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0)
        return false;
    for (size_t i = 0; i < sk->n_allowed_uids; i++)
        if (sk->allowed_uids[i] >= 0 && (uid_t)sk->allowed_uids[i] == cr.uid)
            return true;
    return false;
}

static enum MHD_Result uds_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **req_cls)
{
    (void)version, (void)upload_data, (void)upload_data_size, (void)req_cls;
    ts_agent__uds *u = cls;
    const ts_agent_sink *sk = &ts_agent__graph_config(u->g)->sinks[u->sink];
    bool head;
    enum MHD_Result rc;
    if (front(conn, method, &head, &rc))
        return rc;
    if (!peer_allowed(conn, sk))
        return plain(conn, MHD_HTTP_FORBIDDEN, "forbidden");
    if (strcmp(url, "/") != 0 && (!*sk->http_path || strcmp(url, sk->http_path) != 0))
        return plain(conn, MHD_HTTP_NOT_FOUND, "not_found");
    ts_agent__answer a;
    return answer_with(conn, ts_agent__sink_answer(u->g, u->sink, &a), &a, head);
}

static ts_mhd_limits *limits_for(MHD_AccessHandlerCallback h, void *cls, unsigned per_address,
                                 ts_error *err)
{
    ts_mhd_limits_options lo = TS_MHD_LIMITS_OPTIONS_INIT;
    lo.handler = h;
    lo.handler_cls = cls;
    lo.max_per_address = per_address;
    lo.max_connections = MAX_CONNECTIONS;
    return ts_mhd_limits_new(&lo, err);
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
    if (rc == 0 && !(u->limits = limits_for(uds_handler, u, 0, err)))
        rc = -2;
    if (rc == 0)
        u->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ITC, 0,
                                ts_mhd_limits_accept, u->limits, ts_mhd_limits_handler, u->limits,
                                MHD_OPTION_ARRAY, ts_mhd_limits_mhd_options(u->limits),
                                MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
                                MHD_OPTION_CONNECTION_LIMIT, MAX_CONNECTIONS + 8u, MHD_OPTION_END);
    if (rc == 0 && !u->d)
        rc = -1, e = EIO;
    if (rc != 0) {
        if (rc == -1)
            ts_error_set(err, TS_EIO, sk->path, "cannot listen on the socket: %s", strerror(e));
        if (fd >= 0)
            close(fd);
        if (fd >= 0 && rc != 0)
            unlink(sk->path);
        ts_mhd_limits_free(u->limits);
        free(u);
        return NULL;
    }
    return u;
}

void ts_agent__uds_free(ts_agent__uds *u)
{
    if (!u)
        return;
    MHD_stop_daemon(u->d);
    ts_mhd_limits_free(u->limits);
    unlink(u->path);
    free(u);
}

/* ---- the listener ------------------------------------------------------------------------ */

struct ts_agent__listener {
    ts_agent__listener_hooks h;
    struct MHD_Daemon *d;
    ts_mhd_limits *limits;
    unsigned port;
};

static enum MHD_Result listener_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                        const char *method, const char *version,
                                        const char *upload_data, size_t *upload_data_size,
                                        void **req_cls)
{
    (void)version, (void)upload_data, (void)upload_data_size, (void)req_cls;
    ts_agent__listener *l = cls;
    bool head;
    enum MHD_Result rc;
    if (front(conn, method, &head, &rc))
        return rc;
    ts_agent__graph *g = l->h.acquire(l->h.ud);
    if (!g) {
        l->h.release(l->h.ud);
        return plain(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable");
    }
    const ts_agent_config *cfg = ts_agent__graph_config(g);
    ts_agent__answer a;
    if (strcmp(url, cfg->settings.health_path) == 0)
        rc = answer_with(conn, ts_agent__health_answer(g, &a), &a, head);
    else if (cfg->settings.metrics_enabled && strcmp(url, cfg->settings.metrics_path) == 0) {
        uint64_t ok = 0, refused = 0;
        if (l->h.reloads)
            l->h.reloads(l->h.ud, &ok, &refused);
        rc = answer_with(conn, ts_agent__metrics_answer(g, ok, refused, &a), &a, head);
    } else {
        size_t k = 0;
        for (; k < cfg->n_sinks; k++)
            if (cfg->sinks[k].type == TS_AGENT_SINK_HTTP && strcmp(cfg->sinks[k].path, url) == 0)
                break;
        rc = k < cfg->n_sinks ? answer_with(conn, ts_agent__sink_answer(g, k, &a), &a, head)
                              : plain(conn, MHD_HTTP_NOT_FOUND, "not_found");
    }
    l->h.release(l->h.ud);
    return rc;
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

ts_agent__listener *ts_agent__listener_new(const char *listen, const ts_agent__listener_hooks *h,
                                           ts_error *err)
{
    struct sockaddr_storage ss;
    if (parse_listen(listen, &ss, err) != TS_OK)
        return NULL;
    ts_agent__listener *l = calloc(1, sizeof *l);
    if (!l) {
        ts_error_set(err, TS_ENOMEM, "settings.listen", "out of memory");
        return NULL;
    }
    l->h = *h;
    if (!(l->limits = limits_for(listener_handler, l, TS_MHD_DEFAULT_MAX_PER_ADDRESS, err))) {
        free(l);
        return NULL;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ITC;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    errno = 0;
    l->d = MHD_start_daemon(flags, 0, ts_mhd_limits_accept, l->limits, ts_mhd_limits_handler,
                            l->limits, MHD_OPTION_ARRAY, ts_mhd_limits_mhd_options(l->limits),
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_CONNECTION_LIMIT, MAX_CONNECTIONS + 8u, MHD_OPTION_END);
    if (!l->d) {
        ts_error_set(err, TS_EIO, "settings.listen", "cannot listen on %s: %s", listen,
                     errno ? strerror(errno) : "libmicrohttpd refused the options");
        ts_mhd_limits_free(l->limits);
        free(l);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_BIND_PORT);
    l->port = di ? di->port : 0;
    return l;
}

unsigned ts_agent__listener_port(const ts_agent__listener *l)
{
    return l->port;
}

void ts_agent__listener_free(ts_agent__listener *l)
{
    if (!l)
        return;
    MHD_stop_daemon(l->d);
    ts_mhd_limits_free(l->limits);
    free(l);
}
