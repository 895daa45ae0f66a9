/* systemd's service notifications ("READY=1", "WATCHDOG=1", ...) without libsystemd, for the
   long-running programs (`tokensmith agent`, `tokensmith gateway`): one datagram per message to
   $NOTIFY_SOCKET, and the watchdog's interval from $WATCHDOG_USEC. Needs nothing but libc, so
   that a lean program (tokensmith-agent) links no library for it. Private to tokensmith. */
#ifndef TS_COMMON_NOTIFY_H
#define TS_COMMON_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/**
 * Send @p msg ("READY=1") to $NOTIFY_SOCKET: a path, or '@' + a name in the abstract
 * namespace. Without the variable, or with another form (a relative path), nothing is sent.
 * @return true when the whole message was sent; false without the variable or on failure —
 * the caller runs the same either way (a service need not run under systemd).
 * Thread-safety: safe from any thread (reads the environment, opens its own socket).
 */
bool ts_common__notify(const char *msg);

/**
 * Every how many milliseconds WATCHDOG=1 is due: half of $WATCHDOG_USEC, as
 * sd_watchdog_enabled() advises, and at least 1.
 * @return 0 when the watchdog is off: no or a malformed $WATCHDOG_USEC, or $WATCHDOG_PID
 * naming another process.
 */
int64_t ts_common__watchdog_interval_ms(void);

#endif
