/* libFuzzer target: the lean HTTP client's response parser (common/http_response.h). The first
 * byte picks the body cap and a piece size; the rest is the response, parsed once whole and once
 * in pieces of that size. Both runs must end the same way (status, completion, error, body,
 * every head line), every head line must end in LF, a body never passes its cap, and an error
 * always says why. Deterministic and bounded: the input is the whole state. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/http_response.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct run {
    ts_status st;
    bool done;
    int status;
    char *body;
    size_t body_len;
    size_t lines, line_bytes;
    uint64_t line_hash;
} run;

static void on_line(const char *line, size_t len, void *ud)
{
    run *r = ud;
    if (len == 0 || line[len - 1] != '\n')
        __builtin_trap();
    r->lines++;
    r->line_bytes += len;
    for (size_t i = 0; i < len; i++)
        r->line_hash = (r->line_hash ^ (unsigned char)line[i]) * 1099511628211u;
}

static void parse(const char *d, size_t n, size_t max_body, size_t piece, run *r)
{
    memset(r, 0, sizeof *r);
    r->line_hash = 14695981039346656037u;
    ts_common__http_resp_opts o = {.max_body = max_body, .on_header = on_line, .header_ud = r};
    ts_common__http_resp *p = ts_common__http_resp_new(&o);
    if (!p)
        __builtin_trap();
    r->st = TS_OK;
    for (size_t at = 0; at < n && r->st == TS_OK; at += piece)
        r->st = ts_common__http_resp_feed(p, d + at, n - at < piece ? n - at : piece);
    if (r->st == TS_OK && !ts_common__http_resp_done(p))
        r->st = ts_common__http_resp_eof(p);
    r->done = ts_common__http_resp_done(p);
    r->status = ts_common__http_resp_status(p);
    if (r->st == TS_OK) {
        if (!r->done)
            __builtin_trap();
        r->body = ts_common__http_resp_take_body(p, &r->body_len);
        if (!r->body || r->body_len > max_body || r->body[r->body_len] != '\0')
            __builtin_trap();
    } else {
        if (r->st != TS_EPARSE && r->st != TS_ELIMIT && r->st != TS_ENOMEM)
            __builtin_trap();
        if (ts_common__http_resp_why(p)[0] == '\0')
            __builtin_trap();
    }
    if (r->line_bytes > TS_COMMON__HTTP_HEAD_MAX)
        __builtin_trap();
    ts_common__http_resp_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t max_body = (size_t)(data[0] & 0x0f) * 64;
    size_t piece = (size_t)(data[0] >> 4) + 1;
    const char *d = (const char *)data + 1;
    size_t n = size - 1;
    run whole, pieces;
    parse(d, n, max_body, n ? n : 1, &whole);
    parse(d, n, max_body, piece, &pieces);
    if (whole.st != pieces.st || whole.done != pieces.done || whole.status != pieces.status ||
        whole.lines != pieces.lines || whole.line_bytes != pieces.line_bytes ||
        whole.line_hash != pieces.line_hash || whole.body_len != pieces.body_len ||
        (whole.body && memcmp(whole.body, pieces.body, whole.body_len) != 0))
        __builtin_trap();
    free(whole.body);
    free(pieces.body);
    return 0;
}
