/* The bounds of the service's libmicrohttpd listeners and the admin listener (loopback or a
 * Unix socket only; HTTPS with adminTls). */
#define _GNU_SOURCE

#include "svc_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/listen.h"
#include "tls.h"

/* Connections the admin listener (one operator, local) takes at once. */
#define ADMIN_CONNECTIONS 16u

/* Summaries of refused and timed-out connections, as service log lines. */
static void limits_log(const char *line, size_t len, void *ud)
{
    if (len >= 2 && line[0] == '{' && line[len - 1] == '}')
        ts_svc__log_members(ud, "warn", "connections refused or closed", line + 1, len - 2);
}

void ts_svc__limits_options(ts_svc *s, MHD_AccessHandlerCallback handler,
                            MHD_RequestCompletedCallback completed, unsigned max_per_address,
                            unsigned max_connections, ts_mhd_limits_options *lo)
{
    *lo = (ts_mhd_limits_options)TS_MHD_LIMITS_OPTIONS_INIT;
    lo->handler = handler;
    lo->handler_cls = s;
    lo->completed = completed;
    lo->completed_cls = s;
    lo->max_per_address = max_per_address;
    lo->max_connections = max_connections;
    lo->head_timeout_ms = (unsigned)s->cfg.request_head_timeout_s * 1000u;
    lo->body_timeout_ms = (unsigned)s->cfg.request_body_timeout_s * 1000u;
    lo->idle_timeout_s = s->cfg.connection_timeout_s;
    lo->log = limits_log;
    lo->log_ud = s;
}

/* The main and admin listeners' bounds, around the service's own handler. */
ts_mhd_limits *ts_svc__new_limits(ts_svc *s, unsigned max_per_address, unsigned max_connections,
                                  ts_error *err)
{
    ts_mhd_limits_options lo;
    ts_svc__limits_options(s, ts_svc__on_request, ts_svc__on_completed, max_per_address,
                           max_connections, &lo);
    return ts_mhd_limits_new(&lo, err);
}

ts_status ts_svc__start_admin(ts_svc *s, ts_error *err)
{
    const char *al = s->cfg.admin_listen;
    /* Checked again here: the admin API must never face the network. */
    if (!ts_svc_listen_is_local(al))
        return ts_error_set(err, TS_EINVAL, "adminListen", "'%s' is not local", al);
    /* HTTPS only with adminTls (tls_svc.c; refused there for a Unix socket). */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ITC |
                     ts_svc__tls_listener_flags(s, TS_SVC_LISTENER_ADMIN);
    if (!(s->admin_limits = ts_svc__new_limits(s, 0, ADMIN_CONNECTIONS, err)))
        return err ? err->code : TS_EINTERNAL;
    ts_svc__tls_tickets(s, flags, s->admin_limits);
    if (strncmp(al, "unix:", 5) == 0) {
        const char *path = al + 5;
        struct sockaddr_un un;
        memset(&un, 0, sizeof un);
        un.sun_family = AF_UNIX;
        if (strlen(path) >= sizeof un.sun_path)
            return ts_error_set(err, TS_EINVAL, "adminListen", "socket path too long");
        memcpy(un.sun_path, path, strlen(path) + 1);
        struct stat sb;
        if (lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode))
            unlink(path); /* left over from a previous run */
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return ts_error_set(err, TS_EIO, "adminListen", "socket: %s", strerror(errno));
        mode_t old = umask(0177);
        int rc = bind(fd, (struct sockaddr *)&un, (socklen_t)sizeof un);
        int e = errno;
        umask(old);
        if (rc != 0 || listen(fd, 16) != 0) {
            if (rc == 0)
                e = errno;
            close(fd);
            return ts_error_set(err, TS_EIO, "adminListen", "cannot listen on %s: %s", path,
                                strerror(e));
        }
        s->admin_unix = true;
        s->admin = MHD_start_daemon(
            flags, 0, ts_mhd_limits_accept, s->admin_limits, ts_mhd_limits_handler, s->admin_limits,
            MHD_OPTION_ARRAY, ts_mhd_limits_mhd_options(s->admin_limits), MHD_OPTION_LISTEN_SOCKET,
            (MHD_socket)fd, MHD_OPTION_CONNECTION_LIMIT, ADMIN_CONNECTIONS + 8u, MHD_OPTION_END);
        if (!s->admin)
            close(fd); /* on success the daemon owns it */
    } else {
        struct sockaddr_storage ss;
        socklen_t sl;
        ts_status st = ts_common__listen_parse(al, "listen", &ss, &sl, err);
        if (st != TS_OK)
            return st;
        if (!ts_svc_peer_is_local((const struct sockaddr *)&ss))
            return ts_error_set(err, TS_EINVAL, "adminListen",
                                "'%s' resolves to a non-loopback "
                                "address",
                                al);
        if (ss.ss_family == AF_INET6)
            flags |= MHD_USE_IPv6;
        s->admin = MHD_start_daemon(
            flags, 0, ts_mhd_limits_accept, s->admin_limits, ts_mhd_limits_handler, s->admin_limits,
            MHD_OPTION_ARRAY, ts_mhd_limits_mhd_options(s->admin_limits), MHD_OPTION_ARRAY,
            ts_svc__tls_listener_options(s, TS_SVC_LISTENER_ADMIN), MHD_OPTION_SOCK_ADDR,
            (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, ADMIN_CONNECTIONS + 8u,
            MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1, MHD_OPTION_END);
    }
    if (!s->admin)
        return ts_error_set(err, TS_EIO, "adminListen", "cannot listen on %s: %s", al,
                            errno ? strerror(errno) : "libmicrohttpd refused the options");
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->admin, MHD_DAEMON_INFO_BIND_PORT);
    s->admin_port = di ? di->port : 0;
    return TS_OK;
}
