/*
 * The agent's own small HTTP/1.x server (rt_httpd.c, rt_httpd_answer.c, rt_httpd_request.c): what
 * its listeners need and nothing more, so that `tokensmith agent` runs without libmicrohttpd and
 * its TLS dependency tree. It answers GET and HEAD with small bodies, one request per connection
 * (`Connection: close`), and refuses everything else itself: another method 405, a request body
 * 413, a malformed or ambiguous head 400 (the framing checks of tokensmith-mhd), a head over
 * TS_AGENT__HTTPD_MAX_HEAD 431, an HTTP version other than 1.x 505.
 *
 * Bounds (the values tokensmith-mhd gave the listeners before): connections in total and per
 * client address (a connection over either is closed at once), the whole request head within
 * head_timeout_ms of the accept (slowloris), the whole answer written within write_timeout_ms.
 *
 * One thread per server polls its listening socket and its connections (non-blocking); it sleeps
 * in poll() without a timeout while no connection is open, so an idle server costs no CPU.
 * The handler runs in that thread: it must be quick and must not block.
 *
 * Private to the agent library (ts_agent__httpd_*).
 */
#ifndef TS_AGENT_RT_HTTPD_H
#define TS_AGENT_RT_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <tokensmith/error.h>

#include "common/tls_conn.h"
#include "rt_internal.h"

/* ---------------------------------------------------------------------------------------- */
/* The server (rt_httpd.c)                                                                  */

#define TS_AGENT__HTTPD_MAX_HEAD 32768u         /**< libmicrohttpd's connection pool (32 KiB) */
#define TS_AGENT__HTTPD_HEAD_TIMEOUT_MS 10000u  /**< TS_MHD_DEFAULT_HEAD_TIMEOUT_MS */
#define TS_AGENT__HTTPD_WRITE_TIMEOUT_MS 30000u /**< TS_MHD_DEFAULT_IDLE_TIMEOUT_S */
#define TS_AGENT__HTTPD_LINGER_MS 2000u         /**< reading what the client still sends */
#define TS_AGENT__HTTPD_MAX_PER_ADDRESS 32u     /**< TS_MHD_DEFAULT_MAX_PER_ADDRESS */
#define TS_AGENT__HTTPD_MAX_CONNECTIONS 256u    /**< the listeners' total before */

typedef struct ts_agent__httpd ts_agent__httpd;

/** One request, as the handler sees it: always a GET or a HEAD without a body. */
typedef struct ts_agent__httpd_request {
    bool head;        /**< HEAD: the answer's body is not sent (its length is) */
    const char *path; /**< percent-decoded, without the query; NUL-terminated */
    int fd;           /**< the connection's socket, e.g. for SO_PEERCRED; do not close it */
    const struct sockaddr *peer; /**< the client's address */
    socklen_t peer_len;
} ts_agent__httpd_request;

/**
 * Fill @p a (zeroed on entry) with the answer to @p rq. The server sends it with its own
 * Content-Length, Date, `Cache-Control: no-store` and `Connection: close` and then clears it
 * with ts_agent__answer_clear(), also when the handler fails. A header whose name or value holds
 * CR, LF or NUL is left out. @return TS_OK; anything else answers 500 out_of_memory.
 */
typedef ts_status (*ts_agent__httpd_handler)(void *ud, const ts_agent__httpd_request *rq,
                                             ts_agent__answer *a);

typedef struct ts_agent__httpd_options {
    ts_agent__httpd_handler handler; /**< required */
    void *ud;
    unsigned max_connections;  /**< open at once; 0: TS_AGENT__HTTPD_MAX_CONNECTIONS */
    unsigned max_per_address;  /**< per IPv4 address or IPv6 /64; 0: no limit (Unix sockets) */
    unsigned head_timeout_ms;  /**< the whole head from the accept; 0: the default */
    unsigned write_timeout_ms; /**< the whole answer; 0: the default */
    unsigned linger_ms;        /**< after the answer, until the client closes; 0: the default */
    /** HTTPS only: each connection's TLS session made with these (borrowed until the stop;
     *  the handshake counts against head_timeout_ms). NULL: plain HTTP. */
    const ts_common__tls_conn_options *tls;
} ts_agent__httpd_options;

#define TS_AGENT__HTTPD_OPTIONS_INIT                                                               \
    {                                                                                              \
        .handler = NULL, .ud = NULL, .max_connections = TS_AGENT__HTTPD_MAX_CONNECTIONS,           \
        .max_per_address = 0, .head_timeout_ms = TS_AGENT__HTTPD_HEAD_TIMEOUT_MS,                  \
        .write_timeout_ms = TS_AGENT__HTTPD_WRITE_TIMEOUT_MS,                                      \
        .linger_ms = TS_AGENT__HTTPD_LINGER_MS, .tls = NULL                                        \
    }

/**
 * Serve on @p fd, a socket already bound and listening (TCP over IPv4 or IPv6, or a Unix
 * socket), in a thread of its own. The server takes @p fd over: it is closed by
 * ts_agent__httpd_stop(), or here on failure.
 * @return the server, or NULL with @p err (TS_EINVAL: no handler; TS_EIO: no thread or eventfd;
 * TS_ENOMEM).
 */
ts_agent__httpd *ts_agent__httpd_start(int fd, const ts_agent__httpd_options *o, ts_error *err);
/** Stop: wake and join the thread, close every connection and the listening socket, free.
 *  NULL-safe. Not from the handler. */
void ts_agent__httpd_stop(ts_agent__httpd *h);
/** The TCP port the listening socket is bound to; 0 for a Unix socket. */
unsigned ts_agent__httpd_port(const ts_agent__httpd *h);

/** A JSON answer {"error":"<error>"} with @p status (heap body). @return TS_OK or TS_ENOMEM. */
TS_NODISCARD ts_status ts_agent__httpd_plain(ts_agent__answer *a, unsigned status,
                                             const char *error);

/* ---------------------------------------------------------------------------------------- */
/* Answers on the wire (rt_httpd_answer.c)                                                  */

/** {"error":E,"error_description":D} with @p status, or ts_agent__httpd_plain() without
 *  @p description. @p error and @p description must be JSON-safe text. TS_OK or TS_ENOMEM. */
TS_NODISCARD ts_status ts_agent__httpd_refusal(ts_agent__answer *a, unsigned status,
                                               const char *error, const char *description);

/**
 * @p a as HTTP/1.1 bytes: status line, Date, Content-Type, Content-Length (the body's, also for
 * HEAD), Cache-Control: no-store, Allow for a 405, @p a's headers (one with CR, LF or NUL in its
 * name or value is left out), Connection: close, then the body unless @p head.
 * @return a heap buffer of *@p len bytes (it holds the token: wipe it before freeing), or NULL
 * when out of memory.
 */
char *ts_agent__httpd_serialize(const ts_agent__answer *a, bool head, size_t *len);

/* ---------------------------------------------------------------------------------------- */
/* The request head (rt_httpd_request.c): pure functions, no I/O                            */

/** Where the search for the end of a head stopped; start with TS_AGENT__HTTPD_SCAN_INIT. */
typedef struct ts_agent__httpd_scan {
    size_t pos;
    bool line_empty; /**< nothing but CR since the last LF */
    bool seen_line;  /**< a non-empty line (the request line) has ended */
} ts_agent__httpd_scan;
#define TS_AGENT__HTTPD_SCAN_INIT                                                                  \
    {                                                                                              \
        0, true, false                                                                             \
    }

/**
 * Look for the empty line that ends a request head in @p buf (@p len bytes, the same bytes as
 * before plus new ones), going on from where the last call on @p s stopped, so that a head
 * arriving a byte at a time is scanned once. Empty lines before the request line are skipped.
 * @return the length of the head through its empty line, or 0 while it is incomplete.
 */
size_t ts_agent__httpd_scan_head(ts_agent__httpd_scan *s, const char *buf, size_t len);

/** What a request head asks for, or the answer that refuses it. */
typedef struct ts_agent__httpd_head {
    unsigned status;           /**< 0: a GET or HEAD to serve; else the refusal's status */
    const char *error;         /**< the refusal's "error" (static) */
    const char *description;   /**< its "error_description" (static), or NULL */
    bool head;                 /**< HEAD */
    unsigned minor;            /**< HTTP/1.<minor> */
    size_t path_off, path_len; /**< the request target up to '?', raw, in the buffer */
} ts_agent__httpd_head;

/**
 * Parse a complete request head (@p buf, @p len bytes, through the empty line; any bytes are
 * safe): request line `METHOD SP TARGET SP HTTP/1.x`, header lines `name: value`, each ending in
 * CRLF or LF (a bare CR elsewhere is refused). Refused with 400 invalid_request and a
 * description: a malformed request line or header line, a folded header line, a control
 * character in a value, a Content-Length that is not digits, and tokensmith-mhd's framing
 * checks (two Content-Length, Transfer-Encoding with Content-Length or other than exactly
 * `chunked` or twice or in HTTP/1.0, HTTP/1.1 without Host or with two, white space in a
 * header name); then 505 for a version other than HTTP/1.x, 405 method_not_allowed for a
 * method other than GET and HEAD, 413 request_body_not_allowed for a Content-Length above 0 or
 * a Transfer-Encoding.
 */
void ts_agent__httpd_parse_head(const char *buf, size_t len, ts_agent__httpd_head *out);

/**
 * Percent-decode a request path as libmicrohttpd did (%XX with two hex digits is that byte;
 * any other '%' stays) into @p out, which holds at least @p len + 1 bytes, NUL-terminated.
 * @return the decoded length, or -1 when it would hold a NUL byte (%00).
 */
long ts_agent__httpd_decode_path(const char *in, size_t len, char *out);

#endif
