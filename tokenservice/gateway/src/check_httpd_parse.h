/*
 * The HTTP check listener's request reading (check_httpd_parse.c): where a request head ends,
 * the head itself (request line, header lines, the framing that says where its body ends) and a
 * chunked body. No I/O and no allocation: the caller holds the bytes and the header array, so
 * the fuzzer (fuzz/fuzz_gateway_http.c) and the unit tests drive it with plain buffers.
 *
 * The rules are tokensmith-mhd's framing checks (mhd/src/framing.c) written for bytes instead of
 * a libmicrohttpd connection, plus the line syntax libmicrohttpd enforced before them, made
 * stricter where two parsers could disagree: CRLF only (a bare LF or CR is refused), no
 * obs-fold, no white space before the colon, one Content-Length of digits only, and
 * Transfer-Encoding exactly "chunked" and never beside Content-Length.
 *
 * Thread-safety: no state besides the caller's.
 */
#ifndef TS_GATEWAY_CHECK_HTTPD_PARSE_H
#define TS_GATEWAY_CHECK_HTTPD_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw_internal.h"

/** A request head, parsed in place: every string points into the caller's buffer and is
 *  NUL-terminated there (the parser overwrites the colon and the end of each line). */
typedef struct ts_gateway__http_head {
    ts_gateway__str method;
    ts_gateway__str target;      /**< as sent: escapes and query untouched */
    bool http11;                 /**< HTTP/1.1; else HTTP/1.0 */
    ts_gateway__header *headers; /**< the caller's array */
    size_t n_headers;
    size_t header_bytes;            /**< names and values plus ": " and CRLF each, as on the wire */
    const ts_gateway__header *host; /**< the Host line, or NULL */
    bool chunked;                   /**< Transfer-Encoding: chunked */
    uint64_t length;                /**< Content-Length (0 when absent or chunked) */
    bool close;           /**< Connection: close, or HTTP/1.0 without Connection: keep-alive */
    bool expect_continue; /**< HTTP/1.1 and Expect: 100-continue */
    /* On refusal: the status (400, 431, 505) and a short reason for the JSON body. */
    unsigned status;
    const char *why;
} ts_gateway__http_head;

/** Saturation of Content-Length: larger numbers read as this (the listener refuses them). */
#define TS_GATEWAY__HTTP_LENGTH_MAX (UINT64_C(1) << 62)

/** Where the head in @p buf[0..len) ends: the offset just past its blank line; 0 when it has
 *  not ended yet; SIZE_MAX when a line ends in a bare LF (refused: 400). @p from is where the
 *  previous call stopped looking (its @p len), so a head that arrives byte by byte is scanned
 *  once in all. */
size_t ts_gateway__http_head_end(const char *buf, size_t len, size_t from);

/** Parse the complete head @p buf[0..len) (len as ts_gateway__http_head_end() gave it) into
 *  @p out, with at most @p cap header lines stored in @p hdrs.
 *  @return true; false with out->status and out->why (the head is refused; the connection
 *  must close after the answer, since where the next request starts is unknown). */
bool ts_gateway__http_parse_head(char *buf, size_t len, ts_gateway__header *hdrs, size_t cap,
                                 ts_gateway__http_head *out);

/** A chunked body being read (RFC 9112 §7.1), extensions and trailers skipped, bounded. */
typedef struct ts_gateway__chunked {
    int state;
    uint64_t left; /* data bytes left in the current chunk */
    unsigned digits;
    size_t line; /* bytes of the current extension or trailer section */
} ts_gateway__chunked;

typedef enum ts_gateway__chunked_result {
    TS_GATEWAY__CHUNKED_MORE = 0, /**< all of the input consumed, the body goes on */
    TS_GATEWAY__CHUNKED_DONE = 1, /**< the body ended; *used bytes of the input were its own */
    TS_GATEWAY__CHUNKED_BAD = 2,  /**< not chunked encoding: refuse 400 and close */
} ts_gateway__chunked_result;

/** Read @p n bytes of a chunked body: *used of them were consumed, *data counts the body's
 *  payload bytes (added to). Start with a zeroed @p c. */
ts_gateway__chunked_result ts_gateway__chunked_feed(ts_gateway__chunked *c, const char *p, size_t n,
                                                    size_t *used, uint64_t *data);

#endif
