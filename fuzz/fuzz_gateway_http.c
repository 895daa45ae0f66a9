/* libFuzzer target: the request reading of the gateway's HTTP check listener
 * (tokenservice/gateway/src/check_httpd_parse.c), i.e. what any client of the check port sends
 * before a check runs. Deterministic and bounded: no I/O, no threads, one input at a time.
 *
 * Input: the bytes of a connection, read as the listener reads them: the head's end searched
 * incrementally (byte 0 sets the piece size, 1..64, so a head split anywhere is found at the
 * same place), the head parsed in place, then the rest fed to the chunked reader when the head
 * says chunked. Seeds: fuzz/corpus/gateway_http/ (plain requests, chunked bodies, smuggling
 * attempts).
 *
 * Checked beyond "no crash": the end found incrementally is the end found at once; a parsed
 * head's strings lie inside the head, are NUL-terminated there and hold no CR, LF or NUL; a
 * header name is never empty; Content-Length and chunked never come together; a refusal has
 * a status and a reason; the chunked reader never consumes more than it was given. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The parser alone, compiled into the target: it needs nothing but its own header and the
 * gateway's contract types (tokenservice/gateway/src/gw_internal.h). */
#include "../tokenservice/gateway/src/check_httpd_parse.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HEADERS 100

static void check_str(const ts_gateway__str *s, const char *buf, size_t len, bool empty_ok)
{
    if (!s->ptr || s->ptr < buf || s->ptr + s->len >= buf + len || s->ptr[s->len] != '\0' ||
        (!empty_ok && s->len == 0))
        abort();
    for (size_t i = 0; i < s->len; i++)
        if (s->ptr[i] == '\0' || s->ptr[i] == '\r' || s->ptr[i] == '\n')
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    size_t piece = (size_t)(data[0] % 64) + 1;
    size_t len = size - 1;
    char *buf = malloc(len + 1);
    if (!buf)
        return 0;
    memcpy(buf, data + 1, len);
    buf[len] = '\0';

    size_t whole = ts_gateway__http_head_end(buf, len, 0), end = 0;
    for (size_t have = 0, from = 0; have < len && !end; from = have) {
        have = len - have < piece ? len : have + piece;
        end = ts_gateway__http_head_end(buf, have, from);
    }
    if (end != whole)
        abort();
    if (end == 0 || end == SIZE_MAX) {
        free(buf);
        return 0;
    }

    static ts_gateway__header hdrs[MAX_HEADERS];
    ts_gateway__http_head head;
    if (!ts_gateway__http_parse_head(buf, end, hdrs, MAX_HEADERS, &head)) {
        if (head.status < 400 || head.status > 599 || !head.why || !head.why[0])
            abort();
        free(buf);
        return 0;
    }
    check_str(&head.method, buf, end, false);
    check_str(&head.target, buf, end, false);
    if (head.n_headers > MAX_HEADERS || (head.chunked && head.length))
        abort();
    for (size_t i = 0; i < head.n_headers; i++) {
        check_str(&hdrs[i].name, buf, end, false);
        check_str(&hdrs[i].value, buf, end, true);
    }
    if (head.chunked) {
        ts_gateway__chunked c = {0};
        uint64_t body = 0;
        for (size_t at = end; at < len;) {
            size_t take = len - at < piece ? len - at : piece, used = 0;
            ts_gateway__chunked_result r =
                ts_gateway__chunked_feed(&c, buf + at, take, &used, &body);
            if (used > take || (r == TS_GATEWAY__CHUNKED_MORE && used != take))
                abort();
            if (r != TS_GATEWAY__CHUNKED_MORE)
                break;
            at += take;
        }
        if (body > len)
            abort();
    }
    free(buf);
    return 0;
}
