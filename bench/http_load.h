/**
 * @file http_load.h
 * @brief Event-driven HTTP/1.1 load client for the benchmarks (bench only, prefix hl_).
 *
 * A client holds C keep-alive TCP connections to one loopback server, split between T threads;
 * each thread runs one epoll loop over its connections. Every connection has at most one request
 * in flight (no pipelining), so C is the number of concurrent requests the server sees, while
 * the client spends one write, one read and a share of one epoll_wait per request instead of a
 * thread switch.
 *
 * A run (a benchmark phase) asks the caller for each connection's next request and hands each
 * answer back through two callbacks; both are called on the thread that owns the connection, so
 * state kept per connection index needs no locking. Connections stay open between runs.
 *
 * Over https (GnuTLS) each connection's handshake runs on the same event loop; with
 * HL_NEW_CONNECTION or HL_NEW_RESUMED every request opens its own connection (the latency then
 * includes the connect and the handshake), which is closed after the answer.
 *
 * Responses are parsed minimally but strictly: status line, headers up to CRLFCRLF,
 * Content-Length (or a body delimited by the server closing the connection), `Connection:
 * close` (the connection is reopened for the next request), and `Transfer-Encoding: chunked`
 * (decoded as it arrives; no other coding can come, since no Accept-Encoding or TE is sent: any
 * other, or chunked together with Content-Length, is a transport error).
 */
#ifndef TS_BENCH_HTTP_LOAD_H
#define TS_BENCH_HTTP_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tokensmith/error.h>

#define HL_MAX_CONNECTIONS 1024
#define HL_MAX_THREADS 64
/** Request line + headers + body of one request. */
#define HL_REQUEST_MAX 2048
/** Bytes of one answer kept for the done callback; longer bodies are read and dropped. */
#define HL_RESPONSE_MAX 16384
/** A request unanswered for this long is a transport error. */
#define HL_TIMEOUT_S 30.0

/** One request; the strings are read before the next callback returns. */
typedef struct hl_request {
    const char *method;       /**< "GET" or "POST" */
    const char *path;         /**< origin form, "/oauth/token" */
    const char *content_type; /**< NULL: no body and no Content-Type */
    const char *body;
    size_t body_len;
    /** Further header lines, each ending in CRLF ("Authorization: Bearer ...\r\n"), or NULL. */
    const char *headers;
} hl_request;

/** One complete answer. */
typedef struct hl_response {
    int status;       /**< 100..599 */
    const char *body; /**< not NUL-terminated; valid during the callback only */
    size_t body_len;  /**< bytes kept, < the body's length when @c truncated */
    bool truncated;   /**< the answer was longer than HL_RESPONSE_MAX */
} hl_response;

/**
 * Fill @p out with connection @p conn's next request. The request may still be dropped unsent
 * when the run's request budget is spent; only an answer (done) should advance the caller's state.
 * @return false when the connection has nothing more to send in this run.
 */
typedef bool (*hl_next_fn)(void *ud, size_t conn, hl_request *out);

/**
 * The answer to @p conn's last request, or NULL when it failed in transport (connect, send,
 * receive, timeout, malformed or chunked answer).
 * @return true when the answer counts as a success (its latency is recorded).
 */
typedef bool (*hl_done_fn)(void *ud, size_t conn, const hl_response *r);

/** How connections are used (http_load_tls.c has the TLS side). */
typedef enum hl_conn_mode {
    HL_KEEP_ALIVE = 0, /**< one connection (one TLS handshake) carries many requests */
    HL_NEW_CONNECTION, /**< a new connection per request: TCP connect, full TLS handshake */
    HL_NEW_RESUMED,    /**< a new connection per request, resuming the connection's last TLS
                            session (ticket); the first is a full handshake */
} hl_conn_mode;

typedef struct hl_options {
    const char *url; /**< "http://HOST:PORT" or "https://HOST:PORT", HOST numeric or "localhost" */
    size_t connections; /**< 1..HL_MAX_CONNECTIONS */
    unsigned threads;   /**< 1..HL_MAX_THREADS, at most @c connections */
} hl_options;

/** How connections are used, and TLS (hl_client_new_tls()). */
typedef struct hl_tls_options {
    hl_conn_mode mode; /**< HL_KEEP_ALIVE (the zero value) */
    /** https: the CA bundle (PEM) the server's certificate must chain to (its name is not
     *  checked: loopback); NULL = the system's. */
    const char *ca_file;
    /** https: a client certificate and its key (PEM), or NULL. */
    const char *cert_file, *key_file;
} hl_tls_options;

typedef struct hl_run {
    hl_next_fn next;
    hl_done_fn done;
    void *ud;
    uint64_t max_requests; /**< requests sent in all, at most */
    double max_seconds;    /**< no request starts later; those in flight are awaited */
} hl_run;

typedef struct hl_stats {
    uint64_t ok;               /**< answers @c done accepted */
    uint64_t failed;           /**< complete answers @c done rejected (non-200, bad body) */
    uint64_t transport_errors; /**< requests without a usable answer, stray bytes */
    uint64_t reconnects;       /**< connections reopened (server close, errors, stale idle) */
    uint64_t handshakes;       /**< TLS handshakes completed */
    uint64_t resumed;          /**< of which resumed a session */
    double seconds;            /**< wall time of the run */
    double *lat_us;            /**< one per accepted answer, unsorted; free() it */
    size_t nlat;
} hl_stats;

typedef struct hl_client hl_client;

/** Open @p o->connections connections (blocking until all are established). */
hl_client *hl_client_new(const hl_options *o, ts_error *err);

/** hl_client_new() with a connection mode and TLS options (@p t may be NULL: keep-alive, the
 *  system's CAs). TLS connections, and connections per request, are opened by the runs. */
hl_client *hl_client_new_tls(const hl_options *o, const hl_tls_options *t, ts_error *err);

/** Close every connection. NULL-safe. */
void hl_client_free(hl_client *c);

/**
 * Run until every connection is out of requests, @p r->max_requests were sent or
 * @p r->max_seconds passed, and every request in flight is answered. Not reentrant.
 * @param out filled on TS_OK; the caller frees out->lat_us.
 */
ts_status hl_client_run(hl_client *c, const hl_run *r, hl_stats *out, ts_error *err);

#endif
