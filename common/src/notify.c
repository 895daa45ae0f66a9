/* systemd's notification protocol without libsystemd (sd_notify(3)): one datagram to
 * $NOTIFY_SOCKET per message ("READY=1", "WATCHDOG=1", ...). A path starting with '@' is in the
 * abstract namespace. Without the variable nothing is sent. Only libc: tokensmith-agent links
 * this and must stay small (docs/agent.md). */
#define _POSIX_C_SOURCE 200809L

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/notify.h"

bool ts_common__notify(const char *msg)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path || (path[0] != '/' && path[0] != '@'))
        return false;
    struct sockaddr_un un;
    memset(&un, 0, sizeof un);
    un.sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (n >= sizeof un.sun_path)
        return false;
    memcpy(un.sun_path, path, n);
    if (path[0] == '@')
        un.sun_path[0] = '\0';
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    size_t mlen = strlen(msg);
    /* MSG_NOSIGNAL: a manager gone away must not kill the service with SIGPIPE. */
    ssize_t k = sendto(fd, msg, mlen, MSG_NOSIGNAL, (struct sockaddr *)&un, len);
    close(fd);
    return k == (ssize_t)mlen;
}

int64_t ts_common__watchdog_interval_ms(void)
{
    const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    if (!usec || !*usec)
        return 0;
    if (pid && *pid && strtol(pid, NULL, 10) != (long)getpid())
        return 0; /* meant for another process (a child that inherited the environment) */
    char *end;
    long long us = strtoll(usec, &end, 10);
    if (*end || us <= 0)
        return 0;
    int64_t ms = (int64_t)(us / 2000); /* half the timeout, as sd_watchdog_enabled() advises */
    return ms > 0 ? ms : 1;
}
