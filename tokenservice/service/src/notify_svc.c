/* systemd's notifications for `tokensmith serve` (notify_svc.h): the service's messages and the
 * watchdog's beat folded into the run loop's wait for signals, as the gateway does it
 * (tokenservice/gateway/src/run.c), so that the beat proves the loop itself is alive. */
#define _POSIX_C_SOURCE 200809L

#include "notify_svc.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "common/notify.h"

static int64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void ts_svc__notify_ready(ts_svc_notify *n, uint16_t port)
{
    /* MAINPID: the process systemd watches is this one even when a wrapper (a shell, a
     * container's init) started it. */
    char msg[128];
    snprintf(msg, sizeof msg, "READY=1\nMAINPID=%ld\nSTATUS=listening on port %u", (long)getpid(),
             (unsigned)port);
    ts_common__notify(msg);
    n->interval_ms = ts_common__watchdog_interval_ms();
    n->next_ms = mono_ms() + n->interval_ms;
}

void ts_svc__notify_reloading(void)
{
    ts_common__notify("RELOADING=1\nSTATUS=reloading");
}

void ts_svc__notify_reloaded(void)
{
    ts_common__notify("READY=1\nSTATUS=running");
}

void ts_svc__notify_stopping(void)
{
    ts_common__notify("STOPPING=1\nSTATUS=stopping: draining requests in flight");
}

static void beat_if_due(ts_svc_notify *n)
{
    if (n->interval_ms <= 0)
        return;
    int64_t now = mono_ms();
    if (now < n->next_ms)
        return;
    ts_common__notify("WATCHDOG=1");
    n->next_ms = now + n->interval_ms;
}

int ts_svc__notify_sigwait(ts_svc_notify *n, const sigset_t *set, const struct timespec *timeout)
{
    int64_t total = (int64_t)timeout->tv_sec * 1000 + timeout->tv_nsec / 1000000;
    int64_t end = mono_ms() + total;
    for (;;) {
        int64_t now = mono_ms(), wait = end - now;
        if (n->interval_ms > 0 && n->next_ms - now < wait)
            wait = n->next_ms - now;
        if (wait < 0)
            wait = 0;
        struct timespec t = {(time_t)(wait / 1000), (long)(wait % 1000) * 1000000L};
        int sig = sigtimedwait(set, NULL, &t);
        int e = errno;
        beat_if_due(n);
        if (sig >= 0 || e != EAGAIN) {
            errno = e;
            return sig;
        }
        if (mono_ms() >= end) {
            errno = EAGAIN;
            return -1;
        }
    }
}
