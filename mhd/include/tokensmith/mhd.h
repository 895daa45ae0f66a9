/**
 * @file mhd.h
 * @brief tokensmith-mhd: what a libmicrohttpd service needs around its own handlers, so that
 *        no client can hold its connections, smuggle a second request past it, or starve it.
 *
 * Objects:
 *  - ::ts_mhd_limits: the bounds of one daemon (MHD_start_daemon() call). It counts the
 *    connections per client address (IPv6 aggregated by prefix, /64 by default) and in total,
 *    refuses (closes) a connection over either limit, gives each request a deadline for its
 *    whole head and another for its body, and checks the framing of each request before the
 *    server's handler sees it. It wraps the server's access handler and completion callback:
 *    the server keeps both, unchanged.
 *  - ts_mhd_check_framing(): the request-smuggling checks on their own, in one call.
 *
 * Use (a thread pool or an internal polling thread; one ::ts_mhd_limits per daemon):
 * @code
 *   ts_mhd_limits_options lo = TS_MHD_LIMITS_OPTIONS_INIT;
 *   lo.handler = on_request;     lo.handler_cls = app;
 *   lo.completed = on_completed; lo.completed_cls = app;
 *   ts_mhd_limits *lim = ts_mhd_limits_new(&lo, &err);
 *   d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0,
 *                        ts_mhd_limits_accept, lim, ts_mhd_limits_handler, lim,
 *                        MHD_OPTION_ARRAY, ts_mhd_limits_mhd_options(lim),
 *                        ... the server's other options ..., MHD_OPTION_END);
 *   ...
 *   MHD_stop_daemon(d);
 *   ts_mhd_limits_free(lim);
 * @endcode
 * The option array holds MHD_OPTION_NOTIFY_CONNECTION, MHD_OPTION_NOTIFY_COMPLETED and
 * MHD_OPTION_CONNECTION_TIMEOUT: the server must not pass those three (nor
 * MHD_OPTION_URI_LOG_CALLBACK) itself. docs/mhd.md has the details, and which answers come from
 * libmicrohttpd itself.
 *
 * Ownership: ts_mhd_limits_new() returns an object the caller frees with ts_mhd_limits_free(),
 * after MHD_stop_daemon() of the daemon that uses it. The handler's and callbacks' `cls`
 * pointers are borrowed and must outlive the daemon.
 * Thread-safety: the callbacks may run in any number of libmicrohttpd threads at once;
 * ts_mhd_limits_get_stats() may be called from any thread. One watchdog thread per object
 * enforces the deadlines; it is stopped and joined by ts_mhd_limits_free().
 * @since 0.1.0
 */
#ifndef TOKENSMITH_MHD_H
#define TOKENSMITH_MHD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include <tokensmith/error.h>
#include <tokensmith/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------ */
/* Framing checks                                                                             */

/** What a check did to the request (the same three outcomes as authn's and authz's hooks). */
typedef enum ts_mhd_verdict {
    TS_MHD_CONTINUE = 0, /**< go on with the request */
    TS_MHD_RESPONDED,    /**< a 400 was queued: return MHD_YES from the handler */
    TS_MHD_ERROR,        /**< queueing failed: return MHD_NO (libmicrohttpd closes) */
} ts_mhd_verdict;

/**
 * Refuse a request whose framing two HTTP parsers could read differently (request smuggling),
 * in one call. Call it on the access handler's first call for a request (headers only). Refused:
 *  - two or more `Content-Length` headers;
 *  - `Transfer-Encoding` together with `Content-Length`;
 *  - a `Transfer-Encoding` other than exactly `chunked`, more than one, or any in HTTP/1.0;
 *  - HTTP/1.1 without `Host`, or more than one `Host`;
 *  - white space in a header field name (`Content-Length : 5`), which libmicrohttpd 0.9.75
 *    keeps as a different header while a proxy may read it as the real one.
 * A refused request gets `400` with `{"error":"invalid_request","error_description":"..."}`,
 * `Cache-Control: no-store` and `Connection: close`; libmicrohttpd then reads no body and
 * closes the connection after the answer.
 * @param version the handler's `version` argument ("HTTP/1.1").
 * @since 0.1.0
 */
TS_API ts_mhd_verdict ts_mhd_check_framing(struct MHD_Connection *conn, const char *version);

/**
 * Queue `status` with the JSON body `{"error":"invalid_request","error_description":D}`,
 * `Cache-Control: no-store` and `Connection: close`. @p description must be JSON-safe text (no
 * quote, backslash or control character); it is copied.
 * @return the result of MHD_queue_response().
 * @since 0.1.0
 */
TS_API enum MHD_Result ts_mhd_queue_invalid_request(struct MHD_Connection *conn, unsigned status,
                                                    const char *description);

/* ------------------------------------------------------------------------------------------ */
/* Connection limits and request deadlines                                                    */

typedef struct ts_mhd_limits ts_mhd_limits;

/** Receives one JSON line (no newline), e.g. the periodic summary of refusals. */
typedef void (*ts_mhd_log_fn)(const char *line, size_t len, void *ud);

#define TS_MHD_LIMITS_OPTIONS_VERSION 1u
#define TS_MHD_DEFAULT_MAX_PER_ADDRESS 32u   /**< connections per client address */
#define TS_MHD_DEFAULT_IPV6_PREFIX 64u       /**< IPv6 clients share a /64 */
#define TS_MHD_DEFAULT_MAX_CONNECTIONS 1000u /**< connections in total */
#define TS_MHD_DEFAULT_HEAD_TIMEOUT_MS 10000u
#define TS_MHD_DEFAULT_BODY_TIMEOUT_MS 30000u
#define TS_MHD_DEFAULT_IDLE_TIMEOUT_S 30u
#define TS_MHD_DEFAULT_LOG_INTERVAL_MS 10000u

typedef struct ts_mhd_limits_options {
    unsigned version; /**< TS_MHD_LIMITS_OPTIONS_VERSION */
    /** The server's own access handler (required) and its `cls`. It is called exactly as
     *  libmicrohttpd would call it, with its own per-request `void **req_cls`. */
    MHD_AccessHandlerCallback handler;
    void *handler_cls;
    /** The server's completion callback (may be NULL), called once for each request its
     *  handler saw, with the same `req_cls`; never for a request refused here. */
    MHD_RequestCompletedCallback completed;
    void *completed_cls;
    /** Open connections per client address; over it a new one is closed at once. 0: none.
     *  IPv4 (and IPv4-mapped IPv6) by address, IPv6 by `ipv6_prefix`, Unix sockets as one. */
    unsigned max_per_address;
    unsigned ipv6_prefix; /**< 1..128 */
    /** Open connections in total; over it a new one is closed at once. 0: no limit here.
     *  Keep libmicrohttpd's MHD_OPTION_CONNECTION_LIMIT above it (docs/mhd.md). */
    unsigned max_connections;
    /** The whole request head (request line and headers) must arrive within this time: from
     *  the connection's start for its first request, from the first byte after the previous
     *  answer for a later one. 0: no deadline (not recommended). */
    unsigned head_timeout_ms;
    /** The whole body must arrive within this time from the end of the head. 0: none. */
    unsigned body_timeout_ms;
    /** Idle time after which libmicrohttpd closes a connection (MHD_OPTION_CONNECTION_TIMEOUT,
     *  given through ts_mhd_limits_mhd_options()); a keep-alive connection between requests is
     *  governed by it, not by the head deadline. At least 1. */
    unsigned idle_timeout_s;
    /** Run ts_mhd_check_framing() on every request before the handler sees it. */
    bool check_framing;
    /** Optional sink for a summary line, at most once per `log_interval_ms` and only when
     *  something was refused or closed since the last one. No request content is logged. */
    ts_mhd_log_fn log;
    void *log_ud;
    unsigned log_interval_ms;
} ts_mhd_limits_options;

#define TS_MHD_LIMITS_OPTIONS_INIT                                                                 \
    {                                                                                              \
        .version = TS_MHD_LIMITS_OPTIONS_VERSION, .handler = NULL, .handler_cls = NULL,            \
        .completed = NULL, .completed_cls = NULL,                                                  \
        .max_per_address = TS_MHD_DEFAULT_MAX_PER_ADDRESS,                                         \
        .ipv6_prefix = TS_MHD_DEFAULT_IPV6_PREFIX,                                                 \
        .max_connections = TS_MHD_DEFAULT_MAX_CONNECTIONS,                                         \
        .head_timeout_ms = TS_MHD_DEFAULT_HEAD_TIMEOUT_MS,                                         \
        .body_timeout_ms = TS_MHD_DEFAULT_BODY_TIMEOUT_MS,                                         \
        .idle_timeout_s = TS_MHD_DEFAULT_IDLE_TIMEOUT_S, .check_framing = true, .log = NULL,       \
        .log_ud = NULL, .log_interval_ms = TS_MHD_DEFAULT_LOG_INTERVAL_MS                          \
    }

/**
 * Build the bounds for one daemon and start its watchdog thread.
 * Fails (TS_EINVAL) without a handler, with an `ipv6_prefix` outside 1..128, an
 * `idle_timeout_s` of 0, or an unknown options version.
 * Ownership: free with ts_mhd_limits_free() after MHD_stop_daemon().
 * @since 0.1.0
 */
TS_API TS_NODISCARD ts_mhd_limits *ts_mhd_limits_new(const ts_mhd_limits_options *opt,
                                                     ts_error *err);

/** Stop and join the watchdog and free @p l. Call after MHD_stop_daemon(). NULL-safe. */
TS_API void ts_mhd_limits_free(ts_mhd_limits *l);

/**
 * The options to give MHD_start_daemon() as `MHD_OPTION_ARRAY, ts_mhd_limits_mhd_options(l)`:
 * MHD_OPTION_NOTIFY_CONNECTION, MHD_OPTION_NOTIFY_COMPLETED and MHD_OPTION_CONNECTION_TIMEOUT
 * (`idle_timeout_s`), ending in MHD_OPTION_END. Borrowed, valid until @p l is freed.
 */
TS_API const struct MHD_OptionItem *ts_mhd_limits_mhd_options(const ts_mhd_limits *l);

/** MHD_start_daemon()'s accept policy (`apc`), with `apc_cls` = the ::ts_mhd_limits. */
TS_API enum MHD_Result ts_mhd_limits_accept(void *cls, const struct sockaddr *addr,
                                            socklen_t addrlen);

/** MHD_start_daemon()'s access handler (`dh`), with `dh_cls` = the ::ts_mhd_limits. */
TS_API enum MHD_Result ts_mhd_limits_handler(void *cls, struct MHD_Connection *conn,
                                             const char *url, const char *method,
                                             const char *version, const char *upload_data,
                                             size_t *upload_data_size, void **req_cls);

/** Counters since ts_mhd_limits_new() (`connections`: open now). */
typedef struct ts_mhd_limits_stats {
    uint64_t connections;         /**< open now, as counted here */
    uint64_t accepted;            /**< connections admitted */
    uint64_t refused_per_address; /**< closed at once: their address had max_per_address */
    uint64_t refused_total;       /**< closed at once: max_connections were open */
    uint64_t head_timeouts;       /**< closed: the request head missed its deadline */
    uint64_t body_timeouts;       /**< closed: the request body missed its deadline */
    uint64_t rejected_requests;   /**< answered 400 by the framing checks */
} ts_mhd_limits_stats;

/** Copy the counters into @p out. Any thread. */
TS_API void ts_mhd_limits_get_stats(const ts_mhd_limits *l, ts_mhd_limits_stats *out);

#ifdef __cplusplus
}
#endif
#endif
