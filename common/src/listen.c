/* Listening TCP sockets from "HOST:PORT" / "[V6]:PORT" (common/listen.h). The address is
 * resolved with getaddrinfo() so that a name (localhost) works as well as an address; the first
 * answer is taken, as a server that binds one socket must pick one. */
#define _POSIX_C_SOURCE 200809L
#include "common/listen.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Longer than any host name DNS allows (253) or any numeric address with a scope. */
#define HOST_MAX 256

ts_status ts_common__listen_parse(const char *addr, const char *where, struct sockaddr_storage *ss,
                                  socklen_t *sl, ts_error *err)
{
    const char *host_at, *port;
    size_t host_len;
    if (addr[0] == '[') {
        const char *rb = strchr(addr, ']');
        if (!rb || rb[1] != ':')
            return ts_error_set(err, TS_EINVAL, where, "'%s' is not [ADDR]:PORT", addr);
        host_at = addr + 1;
        host_len = (size_t)(rb - host_at);
        port = rb + 2;
    } else {
        const char *colon = strrchr(addr, ':');
        if (!colon)
            return ts_error_set(err, TS_EINVAL, where, "'%s' is not HOST:PORT", addr);
        host_at = addr;
        host_len = (size_t)(colon - addr);
        port = colon + 1;
    }
    /* Refused rather than cut: a shortened name could resolve to another host. The message
     * quotes only the start of the address, so that the reason still fits. */
    char host[HOST_MAX];
    if (host_len >= sizeof host)
        return ts_error_set(err, TS_EINVAL, where,
                            "'%.40s...': host too long (%zu bytes, at most %d)", addr, host_len,
                            HOST_MAX - 1);
    /* Checked here, not left to the resolver: it takes 99999 as port 34463. */
    size_t port_len = strlen(port);
    if (port_len == 0 || port_len > 5 || strspn(port, "0123456789") != port_len ||
        strtol(port, NULL, 10) > 65535)
        return ts_error_set(err, TS_EINVAL, where, "'%s': port must be a number from 0 to 65535",
                            addr);
    memcpy(host, host_at, host_len);
    host[host_len] = '\0';
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (rc != 0 || !res)
        return ts_error_set(err, TS_EINVAL, where, "'%s': %s", addr, gai_strerror(rc));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sl = res->ai_addrlen;
    freeaddrinfo(res);
    return TS_OK;
}

ts_status ts_common__listen_bind(const char *addr, const char *where, int *fd, uint16_t *port,
                                 ts_error *err)
{
    *fd = -1;
    if (port)
        *port = 0;
    struct sockaddr_storage ss;
    socklen_t sl;
    ts_status st = ts_common__listen_parse(addr, where, &ss, &sl, err);
    if (st != TS_OK)
        return st;
    int s = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return ts_error_set(err, TS_EIO, where, "socket: %s", strerror(errno));
    /* A restarted server binds its port again at once, past connections in TIME_WAIT. */
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(s, (struct sockaddr *)&ss, sl) != 0 || listen(s, SOMAXCONN) != 0) {
        int e = errno;
        close(s);
        return ts_error_set(err, TS_EIO, where, "cannot listen on %s: %s", addr, strerror(e));
    }
    struct sockaddr_storage bound;
    socklen_t bl = sizeof bound;
    if (port && getsockname(s, (struct sockaddr *)&bound, &bl) == 0)
        *port =
            ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)(void *)&bound)->sin6_port
                                              : ((struct sockaddr_in *)(void *)&bound)->sin_port);
    *fd = s;
    return TS_OK;
}
