/*
 * An HTTP/1.x response parser: pure and incremental (bytes in as they arrive, any split), for
 * the lean HTTP client (common/src/http_lean*.c). Private to tokensmith; no I/O.
 *
 * What it takes: a status line, header lines (CRLF or bare LF), interim 1xx responses (skipped:
 * the final response is the one that counts), and a body framed by Content-Length, by
 * Transfer-Encoding: chunked (chunk extensions ignored, trailers read), or by the connection's
 * close. 1xx, 204 and 304 responses have no body.
 *
 * What it refuses (the request-smuggling hygiene of RFC 9112 §6.3, and bounds):
 *  - both Content-Length and Transfer-Encoding, two different Content-Lengths, a
 *    Content-Length that is not a decimal number, a Transfer-Encoding other than "chunked";
 *  - white space before a header's colon, obsolete line folding, a CR not before LF, a NUL;
 *  - heads (all heads of the exchange, trailers included) over TS_COMMON__HTTP_HEAD_MAX bytes,
 *    over TS_COMMON__HTTP_HEAD_LINES lines in one head, a chunk-size line over
 *    TS_COMMON__HTTP_CHUNK_LINE_MAX bytes;
 *  - a body over max_body bytes (TS_ELIMIT), found as soon as a Content-Length or a chunk
 *    size announces it, else as the bytes arrive.
 *
 * on_header sees what libcurl's header callback sees, so that callers behave the same with
 * either client: each head's status line, its header lines and its empty last line, line ends
 * included, interim responses' heads too, and trailer lines.
 *
 * The body is kept in memory that is wiped before it is freed or moved (it may hold a token).
 * Thread-safety: one parser belongs to one thread at a time; no shared state.
 */
#ifndef TS_COMMON_HTTP_RESPONSE_H
#define TS_COMMON_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>

#include <tokensmith/error.h>

/** Bytes of all response heads of one exchange together (interim heads and trailers too). */
#define TS_COMMON__HTTP_HEAD_MAX 65536u
/** Header lines in one head (the status line not counted), or in the trailers. */
#define TS_COMMON__HTTP_HEAD_LINES 256u
/** Bytes of one chunk-size line, extensions and line end included. */
#define TS_COMMON__HTTP_CHUNK_LINE_MAX 4096u

typedef struct ts_common__http_resp ts_common__http_resp;

typedef struct ts_common__http_resp_opts {
    size_t max_body; /**< body cap in bytes */
    /** Each head line as it arrived (line end included); NULL: not called. */
    void (*on_header)(const char *line, size_t len, void *ud);
    void *header_ud;
} ts_common__http_resp_opts;

/** A parser at the start of a response. @return NULL when out of memory. */
ts_common__http_resp *ts_common__http_resp_new(const ts_common__http_resp_opts *opts);

/** Free @p p and wipe the body it still holds. NULL-safe. */
void ts_common__http_resp_free(ts_common__http_resp *p);

/**
 * Feed the next @p len bytes of the response. Bytes after the end of the response are ignored
 * (the client sent "Connection: close").
 * @return TS_OK; TS_EPARSE when the response is malformed or breaks a head bound (the reason:
 * ts_common__http_resp_why()); TS_ELIMIT when the body is larger than max_body; TS_ENOMEM.
 * After an error, every later call returns the same status.
 */
ts_status ts_common__http_resp_feed(ts_common__http_resp *p, const char *data, size_t len);

/**
 * The connection ended: completes a body framed by the close.
 * @return TS_OK when the response is complete; TS_EPARSE when it ended early (the reason says
 * where); an earlier error's status.
 */
ts_status ts_common__http_resp_eof(ts_common__http_resp *p);

/** True once a whole final response has been parsed. */
bool ts_common__http_resp_done(const ts_common__http_resp *p);

/** The final response's status code; 0 until its status line has been read. */
int ts_common__http_resp_status(const ts_common__http_resp *p);

/** The final response's Location header value (white space trimmed) and its length, or NULL. */
const char *ts_common__http_resp_location(const ts_common__http_resp *p, size_t *len);

/** Why the last call failed ("" when none did); static or owned by @p p. */
const char *ts_common__http_resp_why(const ts_common__http_resp *p);

/**
 * Move the body out: NUL-terminated heap memory (free()), never NULL on success; its length
 * without the NUL in @p len. The parser then holds no body. @return NULL when out of memory.
 */
char *ts_common__http_resp_take_body(ts_common__http_resp *p, size_t *len);

#endif
