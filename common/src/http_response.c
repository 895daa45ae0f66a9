/* An incremental HTTP/1.x response parser: one state machine over bytes as they arrive, bounded
   heads, strict framing (a response that could be read two ways is refused), the body capped. */
#define _POSIX_C_SOURCE 200809L
#include "common/http_response.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/hex.h"
#include "common/mem.h"

/* The body buffer's first size; it doubles from there up to max_body. */
#define FIRST_CAP 16384u

typedef enum state {
    S_STATUS,     /* a status line (of an interim or the final response) */
    S_HEADERS,    /* header lines up to the empty line */
    S_BODY_LEN,   /* Content-Length bytes */
    S_BODY_CLOSE, /* everything until the connection closes */
    S_CHUNK_SIZE, /* a chunk-size line */
    S_CHUNK_DATA, /* a chunk's bytes */
    S_CHUNK_END,  /* the line end after a chunk's bytes */
    S_TRAILERS,   /* trailer lines up to the empty line */
    S_DONE,
    S_ERROR,
} state;

struct ts_common__http_resp {
    ts_common__http_resp_opts o;
    state st;
    ts_status err;
    char why[160];
    size_t head_bytes;   /* all head lines so far (interim heads and trailers too) */
    unsigned head_lines; /* header lines of the current head or trailers */
    int status;
    bool has_cl, chunked;
    uint64_t cl;
    uint64_t remaining; /* of the Content-Length or of the current chunk */
    char *location;
    size_t location_len;
    char *body;
    size_t body_len, body_cap;
    size_t line_len;
    char line[TS_COMMON__HTTP_HEAD_MAX]; /* the line being assembled */
};

ts_common__http_resp *ts_common__http_resp_new(const ts_common__http_resp_opts *opts)
{
    ts_common__http_resp *p = malloc(sizeof *p);
    if (!p)
        return NULL;
    memset(p, 0, offsetof(ts_common__http_resp, line));
    p->o = *opts;
    p->st = S_STATUS;
    return p;
}

static void drop_body(ts_common__http_resp *p)
{
    if (p->body) {
        ts_common__memzero(p->body, p->body_cap + 1);
        free(p->body);
    }
    p->body = NULL;
    p->body_len = p->body_cap = 0;
}

void ts_common__http_resp_free(ts_common__http_resp *p)
{
    if (!p)
        return;
    drop_body(p);
    free(p->location);
    /* Only the line buffer's used part can hold anything: a trailer or header value. */
    ts_common__memzero(p->line, p->line_len);
    free(p);
}

static TS_PRINTF(3, 4) ts_status fail(ts_common__http_resp *p, ts_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->why, sizeof p->why, fmt, ap);
    va_end(ap);
    p->st = S_ERROR;
    p->err = st;
    return st;
}

static ts_status too_big(ts_common__http_resp *p)
{
    return fail(p, TS_ELIMIT, "response body larger than %zu bytes", p->o.max_body);
}

/* Append body bytes, growing the buffer by doubling up to max_body; the old buffer is wiped. */
static ts_status append(ts_common__http_resp *p, const char *d, size_t n)
{
    if (n > p->o.max_body - p->body_len)
        return too_big(p);
    if (n > p->body_cap - p->body_len) {
        size_t nc = p->body_cap ? p->body_cap : FIRST_CAP;
        while (nc < p->body_len + n && nc <= SIZE_MAX / 4)
            nc *= 2;
        if (nc < p->body_len + n || nc > p->o.max_body)
            nc = p->o.max_body;
        char *nb = malloc(nc + 1);
        if (!nb)
            return fail(p, TS_ENOMEM, "out of memory");
        if (p->body_len)
            memcpy(nb, p->body, p->body_len);
        size_t len = p->body_len;
        drop_body(p);
        p->body = nb;
        p->body_len = len;
        p->body_cap = nc;
    }
    memcpy(p->body + p->body_len, d, n);
    p->body_len += n;
    return TS_OK;
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* RFC 9110 tchar. */
static bool is_tchar(char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool name_is(const char *name, size_t n, const char *want)
{
    return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

static void report(const ts_common__http_resp *p, const char *line, size_t n)
{
    if (p->o.on_header)
        p->o.on_header(line, n, p->o.header_ud);
}

static ts_status status_line(ts_common__http_resp *p, const char *l, size_t n, size_t raw)
{
    /* "HTTP/1.x SSS[ reason]" */
    if (n < 12 || memcmp(l, "HTTP/1.", 7) != 0 || l[7] < '0' || l[7] > '9' || l[8] != ' ' ||
        l[9] < '1' || l[9] > '9' || l[10] < '0' || l[10] > '9' || l[11] < '0' || l[11] > '9' ||
        (n > 12 && l[12] != ' '))
        return fail(p, TS_EPARSE, "the response does not start with an HTTP/1.x status line");
    p->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
    report(p, p->line, raw);
    p->head_lines = 0;
    p->has_cl = p->chunked = false;
    p->cl = 0;
    free(p->location);
    p->location = NULL;
    p->location_len = 0;
    p->st = S_HEADERS;
    return TS_OK;
}

/* A header or trailer line: "name: value" with nothing between name and colon. */
static ts_status field_line(ts_common__http_resp *p, const char *l, size_t n, const char **name,
                            size_t *name_len, const char **value, size_t *value_len)
{
    if (++p->head_lines > TS_COMMON__HTTP_HEAD_LINES)
        return fail(p, TS_EPARSE, "more than %u header lines in a response head",
                    TS_COMMON__HTTP_HEAD_LINES);
    if (is_ows(l[0]))
        return fail(p, TS_EPARSE, "obsolete line folding in the response head");
    const char *colon = memchr(l, ':', n);
    if (!colon)
        return fail(p, TS_EPARSE, "a response header line has no colon");
    *name = l;
    *name_len = (size_t)(colon - l);
    if (*name_len == 0)
        return fail(p, TS_EPARSE, "a response header has an empty name");
    for (size_t i = 0; i < *name_len; i++)
        if (!is_tchar(l[i]))
            return fail(p, TS_EPARSE,
                        "a response header name has white space or a character no name has");
    const char *v = colon + 1, *e = l + n;
    while (v < e && is_ows(*v))
        v++;
    while (e > v && is_ows(e[-1]))
        e--;
    *value = v;
    *value_len = (size_t)(e - v);
    return TS_OK;
}

static ts_status header(ts_common__http_resp *p, const char *l, size_t n)
{
    const char *name, *v;
    size_t nl, vl;
    if (field_line(p, l, n, &name, &nl, &v, &vl) != TS_OK)
        return p->err;
    if (name_is(name, nl, "Content-Length")) {
        uint64_t cl = 0;
        if (vl == 0)
            return fail(p, TS_EPARSE, "Content-Length is empty");
        for (size_t i = 0; i < vl; i++) {
            if (v[i] < '0' || v[i] > '9')
                return fail(p, TS_EPARSE, "Content-Length is not a decimal number");
            if (cl > (UINT64_MAX - 9) / 10)
                return fail(p, TS_EPARSE, "Content-Length is too large");
            cl = cl * 10 + (uint64_t)(v[i] - '0');
        }
        if (p->has_cl && cl != p->cl)
            return fail(p, TS_EPARSE, "two different Content-Length values");
        p->has_cl = true;
        p->cl = cl;
    } else if (name_is(name, nl, "Transfer-Encoding")) {
        if (vl != 7 || strncasecmp(v, "chunked", 7) != 0)
            return fail(p, TS_EPARSE, "Transfer-Encoding other than chunked");
        if (p->chunked)
            return fail(p, TS_EPARSE, "Transfer-Encoding chunked given twice");
        p->chunked = true;
    } else if (name_is(name, nl, "Location")) {
        char *loc = malloc(vl + 1);
        if (!loc)
            return fail(p, TS_ENOMEM, "out of memory");
        memcpy(loc, v, vl);
        loc[vl] = '\0';
        free(p->location);
        p->location = loc;
        p->location_len = vl;
    }
    return TS_OK;
}

/* The empty line after a head: what frames the body. */
static ts_status end_of_head(ts_common__http_resp *p)
{
    if (p->has_cl && p->chunked)
        return fail(p, TS_EPARSE, "the response has both Content-Length and Transfer-Encoding");
    if (p->status < 200) {
        p->st = S_STATUS; /* an interim response: the final one follows */
        return TS_OK;
    }
    if (p->status == 204 || p->status == 304)
        p->st = S_DONE;
    else if (p->chunked)
        p->st = S_CHUNK_SIZE;
    else if (p->has_cl) {
        if (p->cl > p->o.max_body)
            return too_big(p);
        p->remaining = p->cl;
        p->st = p->cl ? S_BODY_LEN : S_DONE;
    } else
        p->st = S_BODY_CLOSE;
    return TS_OK;
}

static ts_status chunk_size(ts_common__http_resp *p, const char *l, size_t n)
{
    uint64_t size = 0;
    size_t i = 0;
    for (; i < n && ts_common__hexval(l[i]) >= 0; i++) {
        if (size > (UINT64_MAX >> 4))
            return fail(p, TS_EPARSE, "a chunk size is too large");
        size = size * 16 + (uint64_t)ts_common__hexval(l[i]);
    }
    if (i == 0)
        return fail(p, TS_EPARSE, "a chunk-size line does not start with a hex number");
    while (i < n && is_ows(l[i]))
        i++;
    if (i < n && l[i] != ';')
        return fail(p, TS_EPARSE, "a chunk-size line has bytes after its size");
    /* Extensions (";name=value") carry nothing a client of ours uses. */
    if (size > p->o.max_body - p->body_len)
        return too_big(p);
    if (size == 0) {
        p->head_lines = 0;
        p->st = S_TRAILERS;
    } else {
        p->remaining = size;
        p->st = S_CHUNK_DATA;
    }
    return TS_OK;
}

static ts_status trailer(ts_common__http_resp *p, const char *l, size_t n, size_t raw)
{
    if (n == 0) {
        p->st = S_DONE;
        return TS_OK;
    }
    const char *name, *v;
    size_t nl, vl;
    if (field_line(p, l, n, &name, &nl, &v, &vl) != TS_OK)
        return p->err;
    report(p, p->line, raw);
    return TS_OK;
}

/* One whole line in p->line (p->line_len bytes, the LF included). */
static ts_status line(ts_common__http_resp *p)
{
    size_t raw = p->line_len;
    size_t n = raw - 1;
    if (n > 0 && p->line[n - 1] == '\r')
        n--;
    const char *l = p->line;
    if (memchr(l, '\r', n))
        return fail(p, TS_EPARSE, "a CR not followed by LF in the response");
    if (memchr(l, '\0', n))
        return fail(p, TS_EPARSE, "a NUL byte in a response line");
    switch (p->st) {
    case S_STATUS:
        return status_line(p, l, n, raw);
    case S_HEADERS:
        if (n == 0) {
            report(p, l, raw);
            return end_of_head(p);
        }
        if (header(p, l, n) != TS_OK)
            return p->err;
        report(p, l, raw);
        return TS_OK;
    case S_CHUNK_SIZE:
        return chunk_size(p, l, n);
    case S_CHUNK_END:
        if (n != 0)
            return fail(p, TS_EPARSE, "a chunk's data is not followed by a line end");
        p->st = S_CHUNK_SIZE;
        return TS_OK;
    case S_TRAILERS:
        return trailer(p, l, n, raw);
    default:
        return fail(p, TS_EINTERNAL, "parser in no line state");
    }
}

/* Assemble a line from the bytes at @p d; @return how many were taken (all of them when the
   line is not complete yet), or SIZE_MAX on error. */
static size_t take_line(ts_common__http_resp *p, const char *d, size_t n)
{
    const char *lf = memchr(d, '\n', n);
    size_t take = lf ? (size_t)(lf - d) + 1 : n;
    bool head = p->st == S_STATUS || p->st == S_HEADERS || p->st == S_TRAILERS;
    if (head) {
        if (take > TS_COMMON__HTTP_HEAD_MAX - p->head_bytes - p->line_len) {
            fail(p, TS_EPARSE, "response head larger than %u bytes", TS_COMMON__HTTP_HEAD_MAX);
            return SIZE_MAX;
        }
    } else {
        size_t max = p->st == S_CHUNK_SIZE ? TS_COMMON__HTTP_CHUNK_LINE_MAX : 2;
        if (take > max - p->line_len) {
            if (p->st == S_CHUNK_SIZE)
                fail(p, TS_EPARSE, "a chunk-size line longer than %u bytes",
                     TS_COMMON__HTTP_CHUNK_LINE_MAX);
            else
                fail(p, TS_EPARSE, "a chunk's data is not followed by a line end");
            return SIZE_MAX;
        }
    }
    memcpy(p->line + p->line_len, d, take);
    p->line_len += take;
    if (lf) {
        if (head)
            p->head_bytes += p->line_len;
        ts_status st = line(p);
        ts_common__memzero(p->line, p->line_len);
        p->line_len = 0;
        if (st != TS_OK)
            return SIZE_MAX;
    }
    return take;
}

ts_status ts_common__http_resp_feed(ts_common__http_resp *p, const char *d, size_t n)
{
    while (n > 0 && p->st != S_DONE && p->st != S_ERROR) {
        size_t take;
        switch (p->st) {
        case S_BODY_LEN:
        case S_CHUNK_DATA:
            take = p->remaining < n ? (size_t)p->remaining : n;
            if (append(p, d, take) != TS_OK)
                return p->err;
            p->remaining -= take;
            if (p->remaining == 0)
                p->st = p->st == S_BODY_LEN ? S_DONE : S_CHUNK_END;
            break;
        case S_BODY_CLOSE:
            take = n;
            if (append(p, d, take) != TS_OK)
                return p->err;
            break;
        default:
            take = take_line(p, d, n);
            if (take == SIZE_MAX)
                return p->err;
            break;
        }
        d += take;
        n -= take;
    }
    return p->st == S_ERROR ? p->err : TS_OK;
}

ts_status ts_common__http_resp_eof(ts_common__http_resp *p)
{
    switch (p->st) {
    case S_DONE:
        return TS_OK;
    case S_ERROR:
        return p->err;
    case S_BODY_CLOSE:
        p->st = S_DONE;
        return TS_OK;
    case S_STATUS:
        if (p->head_bytes == 0 && p->line_len == 0)
            return fail(p, TS_EPARSE, "the server closed the connection without a response");
        return fail(p, TS_EPARSE, "the server closed the connection in the response head");
    case S_HEADERS:
        return fail(p, TS_EPARSE, "the server closed the connection in the response head");
    case S_BODY_LEN:
        return fail(p, TS_EPARSE,
                    "the server closed the connection %llu bytes before the body's end",
                    (unsigned long long)p->remaining);
    default:
        return fail(p, TS_EPARSE, "the server closed the connection in the chunked body");
    }
}

bool ts_common__http_resp_done(const ts_common__http_resp *p)
{
    return p->st == S_DONE;
}

int ts_common__http_resp_status(const ts_common__http_resp *p)
{
    return p->status;
}

const char *ts_common__http_resp_location(const ts_common__http_resp *p, size_t *len)
{
    if (len)
        *len = p->location_len;
    return p->location;
}

const char *ts_common__http_resp_why(const ts_common__http_resp *p)
{
    return p->why;
}

char *ts_common__http_resp_take_body(ts_common__http_resp *p, size_t *len)
{
    char *b = p->body;
    if (!b && !(b = malloc(1)))
        return NULL;
    b[p->body_len] = '\0';
    *len = p->body_len;
    p->body = NULL;
    p->body_len = p->body_cap = 0;
    return b;
}
