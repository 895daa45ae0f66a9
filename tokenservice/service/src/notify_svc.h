/* What systemd sees of `tokensmith serve` under Type=notify (packaging/tokensmith.service):
 * READY=1 once every listener accepts connections, RELOADING=1 ... READY=1 around a SIGHUP,
 * STOPPING=1 when a stop begins, and WATCHDOG=1 from the run loop while $WATCHDOG_USEC asks for
 * it. The messages go out through common/notify.h (one datagram to $NOTIFY_SOCKET, no
 * libsystemd); outside systemd every call does nothing. */
#ifndef TS_SVC_NOTIFY_SVC_H
#define TS_SVC_NOTIFY_SVC_H

#include <signal.h>
#include <stdint.h>
#include <time.h>

/** The watchdog's state, owned by the run loop (one thread); zeroed = off. */
typedef struct ts_svc_notify {
    int64_t interval_ms; /* half of $WATCHDOG_USEC; 0 = no watchdog */
    int64_t next_ms;     /* CLOCK_MONOTONIC time of the next WATCHDOG=1 */
} ts_svc_notify;

/**
 * READY=1 with MAINPID= (this process) and a STATUS= naming @p port: call once every listener
 * accepts connections (after ts_svc_start()). Also arms the watchdog in @p n from
 * $WATCHDOG_USEC and $WATCHDOG_PID.
 */
void ts_svc__notify_ready(ts_svc_notify *n, uint16_t port);

/** RELOADING=1: a SIGHUP reload begins; ts_svc__notify_reloaded() ends it, whatever its
 *  outcome (the service keeps answering either way). */
void ts_svc__notify_reloading(void);
/** READY=1 after a reload. */
void ts_svc__notify_reloaded(void);

/** STOPPING=1: the stop has begun (before the listeners close and the drain). */
void ts_svc__notify_stopping(void);

/**
 * sigtimedwait(@p set, NULL, @p timeout) that sends WATCHDOG=1 whenever one is due while it
 * waits (and when it wakes), so that the beat comes from the loop that takes the signals: a
 * loop that hangs (a reload, a collection) stops the beat and systemd restarts the service.
 * @return the signal taken, or -1 with errno EAGAIN when @p timeout passed, or -1 with another
 * errno (EINTR) as sigtimedwait() returns it.
 */
int ts_svc__notify_sigwait(ts_svc_notify *n, const sigset_t *set, const struct timespec *timeout);

#endif
