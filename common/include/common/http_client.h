/*
 * One bounded HTTP exchange, for every library that fetches from another server (authn's remote
 * JWKS, oidc's discovery and introspection, the client library, the agent). Private to
 * tokensmith. Two implementations of this one contract; a program links exactly one:
 *  - ts_base_http (common/src/http_client.c), over libcurl: what the libraries link;
 *  - ts_base_http_lean (common/src/http_lean*.c), over plain sockets and OpenSSL, for programs
 *    that must stay small in memory. It does not use proxies (HTTPS_PROXY, http_proxy and
 *    the like are ignored), sends HTTP/1.1 only with "Connection: close", and starts OpenSSL's
 *    SSL part only at the first https:// exchange. Without ca_file it verifies against the
 *    system's CA directory first (read lazily; SSL_CERT_DIR) and, when that knows no root for
 *    the chain, against the system's CA file too (SSL_CERT_FILE, which alone is used when
 *    set). It looks a host name up on a thread of its own, so that the connect bound and the
 *    stop flag end a lookup that hangs (libcurl 7.88 reports the timeout but first waits for
 *    its resolver thread).
 * The same test (common.test_http_client and common.test_http_lean_contract) holds both to
 * every point below.
 *
 * What every exchange gets, whatever the caller asks:
 *  - a deadline for the whole exchange, connection included (timeout_ms; 0 means 10 s);
 *  - a cap on the response body, enforced while it arrives (libcurl's own cap covers only
 *    bodies with a Content-Length);
 *  - the URL rule: https://HOST, or http:// to a loopback host (127.0.0.1, localhost, [::1]);
 *    any http:// only when allow_plain_http says so;
 *  - no redirects unless max_redirects allows some (and then only to https://);
 *  - no signals (libcurl's CURLOPT_NOSIGNAL; the lean client sends with MSG_NOSIGNAL), so that
 *    it is safe on any thread;
 *  - libcurl's global initialisation, done once per process before the first exchange (the
 *    lean client has none).
 *
 * Errors name the URL without its credentials, query or fragment (ts_error.where,
 * ts_common__http_url_where()) and say what failed.
 * Thread-safety: no shared state after the one-time initialisation; exchanges may run
 * concurrently on any threads.
 */
#ifndef TS_COMMON_HTTP_CLIENT_H
#define TS_COMMON_HTTP_CLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <tokensmith/error.h>

typedef struct ts_common__http_req {
    const char *url;            /**< required */
    const char *const *headers; /**< request header lines ("Accept: ..."), or NULL */
    size_t n_headers;
    const char *body; /**< POST body, sent as it is; NULL for GET */
    size_t body_len;
    const char *user; /**< HTTP Basic credentials as sent, or NULL (borrowed) */
    const char *password;
    const char *user_agent; /**< NULL: "tokensmith" */
    unsigned timeout_ms;    /**< whole exchange, connect included; 0: 10000 */
    size_t max_body;        /**< response body cap in bytes */
    unsigned max_redirects; /**< 0: a redirect is answered as it is (3xx), not followed */
    bool allow_plain_http;  /**< any http:// URL, not only loopback ones */
    /** Set from another thread to end the exchange early (TS_EIO, "<label> stopped"); NULL:
     *  the exchange ends only by itself or its deadline. */
    const atomic_bool *stop;
    /** Called with each response header line (CRLF included); NULL: headers ignored. */
    void (*on_header)(const char *line, size_t len, void *ud);
    void *header_ud;
    /** Names the exchange in errors: "<label> failed: <reason>". NULL: "request". */
    const char *label;
    /** Names the body in errors: "<body_label> larger than N bytes". NULL: "response body". */
    const char *body_label;
    /** PEM file of the certificate authorities that https:// servers are verified against;
     *  NULL: the system's store. Verification itself is never turned off. */
    const char *ca_file;
    /** Bound on making the connection (TCP and TLS); 0, or more than timeout_ms: the whole
     *  exchange's deadline. */
    unsigned connect_timeout_ms;
    /** When not NULL, set to whether any of the request was written to a connection: false
     *  means the server cannot have acted on it (no connection, TLS failed), so a one-time
     *  credential in it is still unused; true means it may have, even when the exchange failed
     *  afterwards (a timeout, a reset). */
    bool *sent;
} ts_common__http_req;

/**
 * libcurl's global initialisation, once per process (later calls return at once); the lean
 * client does nothing here. Every
 * exchange does it first; a library that starts a thread of exchanges calls it before, on the
 * constructing thread, so that it happens at start-up rather than while the application runs.
 * @return TS_OK, or TS_EINTERNAL when libcurl cannot be initialised.
 */
ts_status ts_common__http_init(ts_error *err);

/**
 * Perform @p rq. Any HTTP status is a completed exchange: the caller judges it.
 * @param status the response status (0 when none arrived).
 * @param body on TS_OK the response body, NUL-terminated (heap; free with free()), never NULL.
 * @param body_len its length without the NUL.
 * @return TS_OK; TS_EINVAL when the URL breaks the URL rule ("URL must be https:// (http://
 * only on loopback)"); TS_ELIMIT when the body is larger than max_body; TS_EIO when the
 * exchange failed or was stopped; TS_ENOMEM.
 */
TS_NODISCARD ts_status ts_common__http(const ts_common__http_req *rq, long *status, char **body,
                                       size_t *body_len, ts_error *err);

/**
 * (Defined once in ts_base, common/src/http_url.c, for both implementations.)
 * The URL rule: true for https:// with a host, and for http:// whose host is 127.0.0.1,
 * localhost or [::1] (any http:// when @p allow_plain_http). Scheme and host compare without
 * regard to case; "http://localhost.example" is not loopback.
 */
bool ts_common__http_url_allowed(const char *url, bool allow_plain_http);

/**
 * (Defined once in ts_base, common/src/http_url.c, for both implementations.)
 * The opening of ts_common__http() in both: the outputs cleared (and `*rq->sent`), @p where
 * (of @p where_cap bytes) filled with the URL as errors show it, and the URL rule applied.
 * @return TS_OK; TS_EINVAL, set in @p err at @p where, when the URL breaks the rule.
 */
ts_status ts_common__http_begin(const ts_common__http_req *rq, long *status, char **body,
                                size_t *body_len, char *where, size_t where_cap, ts_error *err);

#endif
