/*
 * The HTTP/1.1 server under the gateway's HTTP check listener (http_front.c): a lean one of the
 * gateway's own, because a check is a small request answered from a cache in microseconds and
 * libmicrohttpd's per-request work (TCP_CORK/NODELAY toggled around every answer, several reads
 * and polls, a connection's memory zeroed after every request) was most of its cost.
 *
 *   check_httpd.c         threads, accept, epoll, connections, deadlines, the drain
 *   check_httpd_parse.c   request heads and chunked bodies (framing checks)
 *   check_httpd_answer.c  answers written into the connection's reused buffer
 *
 * What it does for every request before the handler sees it: the head's syntax and framing
 * checks (400), the head within 2 x max_header_bytes and max_headers lines (431), a body read
 * and ignored up to body_max (413 above, announced or counted), `Expect: 100-continue`, the
 * head and body deadlines (a slow head or body is cut), the connection bound, keep-alive and
 * pipelining (answers in order, one request at a time). Its own refusals close the connection.
 * With o->tls, HTTPS only: the TLS handshake comes first, within the head deadline.
 *
 * Ownership: the server borrows the handler's data until ts_gateway__httpd_stop().
 * Thread-safety: the handler is called from `threads` worker threads at once, each with its own
 * epoll set and connections; one request of a connection at a time.
 */
#ifndef TS_GATEWAY_CHECK_HTTPD_H
#define TS_GATEWAY_CHECK_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tokensmith/error.h>

#include "check_httpd_parse.h"
#include "common/tls_conn.h"

/** An answer being written: the bytes go out in one send() once the handler returns. */
typedef struct ts_gateway__httpd_answer {
    char *buf; /* the connection's output buffer, reused from request to request */
    size_t len, cap;
    bool failed;     /**< an allocation failed: the connection closes without an answer */
    bool head_only;  /**< a HEAD request: the body is counted, not sent */
    bool close;      /**< the connection closes after this answer ("Connection: close") */
    bool http10;     /* an HTTP/1.0 request: a kept connection says so (Connection: keep-alive) */
    size_t head_end; /* where answer_end() put the blank line */
} ts_gateway__httpd_answer;

/** Begin (or begin again, discarding what was written) an answer with @p status. */
void ts_gateway__httpd_answer_start(ts_gateway__httpd_answer *a, unsigned status);

/** Add "name: value". Both must be free of CR, LF and NUL (the caller checks what it did not
 *  write itself). */
void ts_gateway__httpd_answer_header(ts_gateway__httpd_answer *a, const char *name, size_t name_len,
                                     const char *value, size_t value_len);

/** Append raw bytes (a header line written in pieces, CRLF included), unchecked. */
void ts_gateway__httpd_answer_put(ts_gateway__httpd_answer *a, const char *p, size_t n);

/** End the head (Content-Length, Connection: close when closing) and add @p body. */
void ts_gateway__httpd_answer_end(ts_gateway__httpd_answer *a, const char *body, size_t len);

/** Make an ended answer close its connection after all (the stop began while the handler ran):
 *  "Connection: close" goes in before the blank line. */
void ts_gateway__httpd_answer_close(ts_gateway__httpd_answer *a);

/** The listener's own refusal: @p status with tokensmith-mhd's JSON body
 *  ({"error":"invalid_request","error_description":...}), Cache-Control: no-store, and the
 *  connection closed after it. @p why is a fixed text (no request bytes). */
void ts_gateway__httpd_refuse(ts_gateway__httpd_answer *a, unsigned status, const char *why);

/** Answer @p req (a complete request, body read) into @p a. Never blocks for long unless the
 *  check does (the worker's other connections wait meanwhile). */
typedef void (*ts_gateway__httpd_fn)(const ts_gateway__http_head *req, ts_gateway__httpd_answer *a,
                                     void *ud);

typedef struct ts_gateway__httpd_options {
    const char *listen; /**< "host:port" or a Unix socket, as ts_common__listen_bind() takes */
    unsigned threads;
    unsigned max_connections;
    unsigned max_headers;
    unsigned max_header_bytes;
    unsigned deadline_ms; /**< for a TLS handshake, a head (from its first byte) and a body */
    unsigned idle_ms;     /**< a keep-alive connection without a request, or an unread answer */
    uint64_t body_max;
    ts_gateway__httpd_fn fn;
    void *ud;
    /** HTTPS: every connection's TLS session is made with these (borrowed until the stop);
     *  NULL: plain HTTP. */
    const ts_common__tls_conn_options *tls;
} ts_gateway__httpd_options;

typedef struct ts_gateway__httpd ts_gateway__httpd;

/** Bind and start the worker threads. @return NULL with @p err. */
ts_gateway__httpd *ts_gateway__httpd_start(const ts_gateway__httpd_options *o, ts_error *err);

/** The bound port (0 for a Unix socket). */
uint16_t ts_gateway__httpd_port(const ts_gateway__httpd *s);

/** Drain and free: new connections are refused at once, requests whose head is in are answered
 *  (with Connection: close) and waited for at most deadline_ms + 1 s, then every connection is
 *  closed and the threads joined. NULL-safe. */
void ts_gateway__httpd_stop(ts_gateway__httpd *s);

#endif
