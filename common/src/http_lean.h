/*
 * The lean HTTP client's connection layer (http_lean_conn.c), used by its exchange
 * (http_lean.c): one TCP connection, TLS on it for https://, reads and writes bounded by the
 * exchange's deadline and its stop flag. Private to the lean client.
 */
#ifndef TS_COMMON_HTTP_LEAN_H
#define TS_COMMON_HTTP_LEAN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/http_url.h"

/** How a connection call ended. */
typedef enum ts_common__lean_rc {
    TS_COMMON__LEAN_OK,
    TS_COMMON__LEAN_FAIL,    /**< failed or timed out: the reason is in the why buffer */
    TS_COMMON__LEAN_STOPPED, /**< the stop flag was raised */
    TS_COMMON__LEAN_NOMEM,
} ts_common__lean_rc;

/** The exchange's bounds, in CLOCK_MONOTONIC milliseconds. */
typedef struct ts_common__lean_clock {
    int64_t deadline;         /**< the whole exchange */
    int64_t connect_deadline; /**< making the connection, TLS included (<= deadline) */
    unsigned timeout_ms;      /**< what deadline stands for, for messages */
    unsigned connect_ms;      /**< what connect_deadline stands for, for messages */
    const atomic_bool *stop;  /**< NULL: none */
} ts_common__lean_clock;

typedef struct ts_common__lean_conn ts_common__lean_conn;

/** CLOCK_MONOTONIC now, in milliseconds. */
int64_t ts_common__lean_now_ms(void);

/**
 * Connect to @p u's host and port (every address getaddrinfo gives, in turn, within the connect
 * deadline), then for https:// make TLS 1.2+ with the certificate verified against @p ca_file
 * (NULL: the system's store) and the host name or address checked.
 * @param why receives the reason on TS_COMMON__LEAN_FAIL.
 */
ts_common__lean_rc ts_common__lean_open(const ts_common__http_url *u, const char *ca_file,
                                        const ts_common__lean_clock *c, ts_common__lean_conn **out,
                                        char *why, size_t why_cap);

/** Write all @p len bytes; @p sent is set to true once any of them was written. */
ts_common__lean_rc ts_common__lean_write(ts_common__lean_conn *k, const char *data, size_t len,
                                         const ts_common__lean_clock *c, bool *sent, char *why,
                                         size_t why_cap);

/** Read what has arrived (waiting for some); *got 0 means the server closed the connection. */
ts_common__lean_rc ts_common__lean_read(ts_common__lean_conn *k, char *buf, size_t cap, size_t *got,
                                        const ts_common__lean_clock *c, char *why, size_t why_cap);

struct addrinfo;

/**
 * Look up @p host's addresses for @p port (http_lean_resolve.c): an address literal at once, a
 * name on a thread of its own, waited for until the connect deadline or the stop flag.
 * @param out on TS_COMMON__LEAN_OK, the addresses (freeaddrinfo()).
 * @param gai on TS_COMMON__LEAN_FAIL, getaddrinfo's code (EAI_SYSTEM: see @p sys_errno), or 0
 * when the deadline passed first.
 */
ts_common__lean_rc ts_common__lean_resolve(const char *host, unsigned port,
                                           const ts_common__lean_clock *c, struct addrinfo **out,
                                           int *gai, int *sys_errno);

/** Close and free. NULL-safe. */
void ts_common__lean_close(ts_common__lean_conn *k);

#endif
