/*
 * Request heads and chunked bodies for the HTTP check listener (check_httpd_parse.h). The
 * listener sits behind a proxy (Envoy, Istio, nginx) that has already parsed the client's
 * request once: every place where this parser could read a request's length differently from
 * that proxy is a request-smuggling hole, so each ambiguity is refused, never guessed (RFC 9112
 * §2.2, §5.2, §6.3, §11.2). The refusals and their texts are tokensmith-mhd's (framing.c).
 */
#include <string.h>
#include <strings.h>

#include "check_httpd_parse.h"

/* RFC 9110 §5.6.2 tchar, as a table: the name and method loops run over every byte of every
 * check's head. */
static const bool tchars[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,  ['~'] = 1, ['0'] = 1,
    ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,  ['7'] = 1, ['8'] = 1,
    ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1,  ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1,  ['N'] = 1, ['O'] = 1,
    ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,  ['V'] = 1, ['W'] = 1,
    ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,  ['d'] = 1, ['e'] = 1,
    ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1,  ['l'] = 1, ['m'] = 1,
    ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1,  ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

static bool tchar(unsigned char c)
{
    return tchars[c];
}

/* A field value's byte: VCHAR, obs-text, SP or HTAB (no other control, no DEL). */
static bool value_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

size_t ts_gateway__http_head_end(const char *buf, size_t len, size_t from)
{
    for (size_t i = from; i < len;) {
        const char *lf = memchr(buf + i, '\n', len - i);
        if (!lf)
            return 0;
        size_t at = (size_t)(lf - buf);
        if (at == 0 || buf[at - 1] != '\r')
            return SIZE_MAX;
        if (at >= 3 && buf[at - 2] == '\n' && buf[at - 3] == '\r')
            return at + 1;
        i = at + 1;
    }
    return 0;
}

static bool refuse(ts_gateway__http_head *out, unsigned status, const char *why)
{
    out->status = status;
    out->why = why;
    return false;
}

static bool eq(const ts_gateway__str *s, const char *lit)
{
    return s->len == strlen(lit) && strncasecmp(s->ptr, lit, s->len) == 0;
}

/* "METHOD SP target SP HTTP/1.x": one space each, as RFC 9112 §3 has it. @p end is the CR. */
static bool request_line(char *p, char *end, ts_gateway__http_head *out)
{
    char *m = p;
    while (p < end && tchar((unsigned char)*p))
        p++;
    if (p == m || p == end || *p != ' ')
        return refuse(out, 400, "malformed request line");
    out->method = (ts_gateway__str){m, (size_t)(p - m)};
    *p++ = '\0';
    char *t = p;
    /* Any visible byte, obs-text too: the checker judges the path, the parser only frames it. */
    while (p < end && (unsigned char)*p > 0x20 && *p != 0x7f)
        p++;
    if (p == t || p == end || *p != ' ')
        return refuse(out, 400, "malformed request line");
    out->target = (ts_gateway__str){t, (size_t)(p - t)};
    *p++ = '\0';
    size_t vlen = (size_t)(end - p);
    if (vlen == 8 && memcmp(p, "HTTP/1.1", 8) == 0)
        out->http11 = true;
    else if (vlen == 8 && memcmp(p, "HTTP/1.0", 8) == 0)
        out->http11 = false;
    else if (vlen == 8 && memcmp(p, "HTTP/", 5) == 0 && p[5] >= '0' && p[5] <= '9' && p[6] == '.' &&
             p[7] >= '0' && p[7] <= '9')
        return refuse(out, 505, "HTTP version not supported");
    else
        return refuse(out, 400, "malformed request line");
    return true;
}

/* Content-Length: digits only (no sign, no list "5, 5"), saturated. */
static bool content_length(const ts_gateway__str *v, uint64_t *n)
{
    if (v->len == 0)
        return false;
    uint64_t x = 0;
    for (size_t i = 0; i < v->len; i++) {
        if (v->ptr[i] < '0' || v->ptr[i] > '9')
            return false;
        x = x > TS_GATEWAY__HTTP_LENGTH_MAX / 10 ? TS_GATEWAY__HTTP_LENGTH_MAX
                                                 : x * 10 + (uint64_t)(v->ptr[i] - '0');
    }
    *n = x > TS_GATEWAY__HTTP_LENGTH_MAX ? TS_GATEWAY__HTTP_LENGTH_MAX : x;
    return true;
}

/* The tokens of a Connection value ("keep-alive, Upgrade"): whether @p tok is one of them. */
static bool has_token(const ts_gateway__str *v, const char *tok)
{
    size_t n = strlen(tok);
    const char *p = v->ptr, *end = v->ptr + v->len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        const char *s = p;
        while (p < end && *p != ',' && *p != ' ' && *p != '\t')
            p++;
        if ((size_t)(p - s) == n && strncasecmp(s, tok, n) == 0)
            return true;
    }
    return false;
}

typedef struct counts {
    unsigned length, te, host;
    bool te_other, keep_alive;
} counts;

/* What one header line means for the framing and the connection. */
static bool note_header(const ts_gateway__header *h, counts *c, ts_gateway__http_head *out)
{
    switch (h->name.len) { /* most lines are none of these: one compare of lengths */
    case 4:
    case 6:
    case 10:
    case 14:
    case 17:
        break;
    default:
        return true;
    }
    if (eq(&h->name, "content-length")) {
        if (c->length++ == 0 && !content_length(&h->value, &out->length))
            return refuse(out, 400, "Content-Length is not a number");
    } else if (eq(&h->name, "transfer-encoding")) {
        c->te++;
        /* Exactly "chunked": a list ("gzip, chunked") or another coding is not framed the same
         * way by every parser, and this listener decodes nothing else. */
        if (!eq(&h->value, "chunked"))
            c->te_other = true;
    } else if (eq(&h->name, "host")) {
        if (c->host++ == 0)
            out->host = h;
    } else if (eq(&h->name, "connection")) {
        if (has_token(&h->value, "close"))
            out->close = true;
        if (has_token(&h->value, "keep-alive"))
            c->keep_alive = true;
    } else if (eq(&h->name, "expect")) {
        out->expect_continue = eq(&h->value, "100-continue");
    }
    return true;
}

/* One "name: value" line, @p end at its CR. */
static bool header_line(char *p, char *end, ts_gateway__header *h, ts_gateway__http_head *out)
{
    if (*p == ' ' || *p == '\t')
        return refuse(out, 400, "obsolete line folding");
    char *name = p;
    while (p < end && tchar((unsigned char)*p))
        p++;
    if (p < end && (*p == ' ' || *p == '\t'))
        return refuse(out, 400, "White space in a header field name");
    if (p == name || p == end || *p != ':')
        return refuse(out, 400, "malformed header line");
    h->name = (ts_gateway__str){name, (size_t)(p - name)};
    *p++ = '\0';
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    char *v = p, *last = p;
    for (; p < end; p++) {
        if (!value_char((unsigned char)*p))
            return refuse(out, 400, "malformed header line");
        if (*p != ' ' && *p != '\t')
            last = p + 1;
    }
    *last = '\0'; /* the trailing white space or the CR */
    h->value = (ts_gateway__str){v, (size_t)(last - v)};
    out->header_bytes += h->name.len + h->value.len + 4;
    return true;
}

/* tokensmith-mhd's framing_problem(), on the counts. */
static bool framing(const counts *c, ts_gateway__http_head *out)
{
    if (c->length > 1)
        return refuse(out, 400, "More than one Content-Length header");
    if (c->te && c->length)
        return refuse(out, 400, "Transfer-Encoding together with Content-Length");
    if (c->te > 1)
        return refuse(out, 400, "More than one Transfer-Encoding header");
    if (c->te_other)
        return refuse(out, 400, "Unsupported Transfer-Encoding (only chunked is accepted)");
    if (c->te && !out->http11)
        return refuse(out, 400, "Transfer-Encoding in a request older than HTTP/1.1");
    if (out->http11 && c->host == 0)
        return refuse(out, 400, "HTTP/1.1 request without a Host header");
    if (c->host > 1)
        return refuse(out, 400, "More than one Host header");
    return true;
}

bool ts_gateway__http_parse_head(char *buf, size_t len, ts_gateway__header *hdrs, size_t cap,
                                 ts_gateway__http_head *out)
{
    *out = (ts_gateway__http_head){.headers = hdrs};
    if (len < 4 || memcmp(buf + len - 4, "\r\n\r\n", 4) != 0)
        return refuse(out, 400, "malformed request head");
    if (memchr(buf, '\0', len))
        return refuse(out, 400, "malformed request head");
    char *end = buf + len - 2; /* the final CRLF */
    char *cr = memchr(buf, '\r', len);
    if (!cr || cr[1] != '\n' || !request_line(buf, cr, out))
        return out->status ? false : refuse(out, 400, "malformed request line");
    counts c = {0};
    for (char *p = cr + 2; p < end;) {
        cr = memchr(p, '\r', (size_t)(end - p) + 1);
        if (!cr || cr[1] != '\n')
            return refuse(out, 400, "malformed header line"); /* a bare CR */
        if (out->n_headers == cap)
            return refuse(out, 431, "too many header lines");
        ts_gateway__header *h = &hdrs[out->n_headers];
        if (!header_line(p, cr, h, out) || !note_header(h, &c, out))
            return false;
        out->n_headers++;
        p = cr + 2;
    }
    if (!framing(&c, out))
        return false;
    out->chunked = c.te == 1;
    if (!out->http11 && !c.keep_alive)
        out->close = true;
    if (!out->http11)
        out->expect_continue = false;
    return true;
}

/* ---------------------------------------------------------------------------------------- */
/* Chunked bodies                                                                            */

enum {
    CH_SIZE = 0,     /* hex digits of a chunk size */
    CH_EXT,          /* a chunk extension, skipped up to its CR */
    CH_SIZE_LF,      /* the LF after a size line */
    CH_DATA,         /* chunk data */
    CH_DATA_CR,      /* the CRLF after chunk data */
    CH_DATA_LF,      /* */
    CH_TRAILER,      /* the start of a trailer line, or the final CRLF */
    CH_TRAILER_LINE, /* a trailer line, skipped up to its CR */
    CH_TRAILER_LF,   /* */
    CH_FINAL_LF,     /* the LF that ends the body */
};

/* Extensions and trailers are skipped but bounded: nothing here needs them. */
#define CHUNK_LINE_MAX 4096u
#define CHUNK_DIGITS_MAX 15u

static int hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

ts_gateway__chunked_result ts_gateway__chunked_feed(ts_gateway__chunked *c, const char *p, size_t n,
                                                    size_t *used, uint64_t *data)
{
    size_t i = 0;
    while (i < n) {
        char ch = p[i];
        switch (c->state) {
        case CH_SIZE:
            if (hex(ch) >= 0 && c->digits < CHUNK_DIGITS_MAX) {
                c->left = c->left * 16 + (uint64_t)hex(ch);
                c->digits++;
            } else if (c->digits && (ch == ';' || ch == '\r')) {
                c->state = ch == ';' ? CH_EXT : CH_SIZE_LF;
                c->line = 0;
            } else {
                return TS_GATEWAY__CHUNKED_BAD;
            }
            i++;
            break;
        case CH_EXT:
            if (ch == '\r')
                c->state = CH_SIZE_LF;
            else if (ch == '\n' || ++c->line > CHUNK_LINE_MAX)
                return TS_GATEWAY__CHUNKED_BAD;
            i++;
            break;
        case CH_SIZE_LF:
            if (ch != '\n')
                return TS_GATEWAY__CHUNKED_BAD;
            c->state = c->left ? CH_DATA : CH_TRAILER;
            c->digits = 0;
            c->line = 0;
            i++;
            break;
        case CH_DATA: {
            size_t take = n - i;
            if ((uint64_t)take > c->left)
                take = (size_t)c->left;
            c->left -= take;
            *data += take;
            i += take;
            if (c->left == 0)
                c->state = CH_DATA_CR;
            break;
        }
        case CH_DATA_CR:
        case CH_DATA_LF:
            if (ch != (c->state == CH_DATA_CR ? '\r' : '\n'))
                return TS_GATEWAY__CHUNKED_BAD;
            c->state = c->state == CH_DATA_CR ? CH_DATA_LF : CH_SIZE;
            i++;
            break;
        case CH_TRAILER:
            c->state = ch == '\r' ? CH_FINAL_LF : CH_TRAILER_LINE;
            if (ch == '\n' || ch == ' ' || ch == '\t')
                return TS_GATEWAY__CHUNKED_BAD;
            i++;
            break;
        case CH_TRAILER_LINE:
            if (ch == '\r')
                c->state = CH_TRAILER_LF;
            else if (ch == '\n' || ch == '\0' || ++c->line > CHUNK_LINE_MAX)
                return TS_GATEWAY__CHUNKED_BAD;
            i++;
            break;
        case CH_TRAILER_LF:
            if (ch != '\n')
                return TS_GATEWAY__CHUNKED_BAD;
            c->state = CH_TRAILER;
            i++;
            break;
        case CH_FINAL_LF:
            if (ch != '\n')
                return TS_GATEWAY__CHUNKED_BAD;
            *used = i + 1;
            return TS_GATEWAY__CHUNKED_DONE;
        default:
            return TS_GATEWAY__CHUNKED_BAD;
        }
    }
    *used = n;
    return TS_GATEWAY__CHUNKED_MORE;
}
