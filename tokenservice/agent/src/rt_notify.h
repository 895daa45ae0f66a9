/* systemd notifications over $NOTIFY_SOCKET (rt_notify.c). Private to the agent library. */
#ifndef TS_AGENT_RT_NOTIFY_H
#define TS_AGENT_RT_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Send @p msg ("READY=1") to $NOTIFY_SOCKET. @return true when sent; false without the
 *  variable or on failure (the agent runs the same either way). */
bool ts_agent__notify(const char *msg);

/** Every how many ms WATCHDOG=1 is due: half of $WATCHDOG_USEC; 0 when the watchdog is off or
 *  $WATCHDOG_PID names another process. */
int64_t ts_agent__watchdog_interval_ms(void);

#endif
