/* The request head of the agent's HTTP server: finding its end, parsing it, decoding its path.
 * Pure functions of their input (fuzz/fuzz_agent_request.c drives them).
 *
 * Strict on purpose: the listeners serve tokens, and a head that two parsers could read
 * differently (a proxy in front and this server) is refused rather than guessed at. The rules
 * and their answers are those the listeners had with libmicrohttpd and tokensmith-mhd's framing
 * checks (docs/mhd.md), except that a bare CR, a folded header line and a control character in
 * a value, which libmicrohttpd let through in some form, are refused too. A bare LF still ends a
 * line, as it did. */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "rt_httpd.h"
#include "common/hex.h"

size_t ts_agent__httpd_scan_head(ts_agent__httpd_scan *s, const char *buf, size_t len)
{
    for (; s->pos < len; s->pos++) {
        char c = buf[s->pos];
        if (c == '\n') {
            if (s->line_empty && s->seen_line)
                return ++s->pos;
            if (!s->line_empty)
                s->seen_line = true;
            s->line_empty = true;
        } else if (c != '\r') {
            s->line_empty = false;
        }
    }
    return 0;
}

/* RFC 9110 tchar: the characters of a method and of a header field name. */
static bool tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* The next line from @p *pos: [*start, *start + *n) without its CR LF or LF. False when no LF
 * is left, or the line holds a CR anywhere but before its LF (a bare CR). */
static bool next_line(const char *buf, size_t len, size_t *pos, size_t *start, size_t *n,
                      bool *bare_cr)
{
    const char *nl = *pos < len ? memchr(buf + *pos, '\n', len - *pos) : NULL;
    *bare_cr = false;
    if (!nl)
        return false;
    size_t end = (size_t)(nl - buf);
    *start = *pos;
    *n = end - *pos;
    *pos = end + 1;
    if (*n && buf[*start + *n - 1] == '\r')
        (*n)--;
    *bare_cr = memchr(buf + *start, '\r', *n) != NULL;
    return true;
}

static void refuse(ts_agent__httpd_head *out, unsigned status, const char *error,
                   const char *description)
{
    out->status = status;
    out->error = error;
    out->description = description;
}

static void bad(ts_agent__httpd_head *out, const char *description)
{
    refuse(out, 400, "invalid_request", description);
}

/* `METHOD SP TARGET SP HTTP/d.d`. False (with the refusal set) when it is not. */
static bool request_line(const char *l, size_t n, ts_agent__httpd_head *out, size_t base,
                         bool *get_or_head)
{
    size_t m = 0;
    while (m < n && tchar((unsigned char)l[m]))
        m++;
    if (m == 0 || m >= n || l[m] != ' ')
        return bad(out, "Malformed request line"), false;
    size_t t = m + 1, te = t;
    while (te < n && (unsigned char)l[te] > 0x20 && (unsigned char)l[te] < 0x7f)
        te++;
    if (te == t || te >= n || l[te] != ' ')
        return bad(out, "Malformed request line"), false;
    const char *v = l + te + 1;
    size_t vn = n - te - 1;
    if (vn != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
        v[7] < '0' || v[7] > '9')
        return bad(out, "Malformed request line"), false;
    if (v[5] != '1') {
        refuse(out, 505, "invalid_request", "HTTP version not supported");
        return false;
    }
    out->minor = (unsigned)(v[7] - '0');
    *get_or_head = (m == 3 && memcmp(l, "GET", 3) == 0) || (m == 4 && memcmp(l, "HEAD", 4) == 0);
    out->head = m == 4 && memcmp(l, "HEAD", 4) == 0;
    const char *q = memchr(l + t, '?', te - t);
    out->path_off = base + t;
    out->path_len = q ? (size_t)(q - (l + t)) : te - t;
    return true;
}

/* The headers that decide the framing, counted as tokensmith-mhd's check_framing does. */
typedef struct framing {
    unsigned content_length, transfer_encoding, host;
    bool te_not_chunked;
    bool cl_not_digits, cl_nonzero;
} framing;

static bool name_is(const char *l, size_t n, const char *name)
{
    return strlen(name) == n && strncasecmp(l, name, n) == 0;
}

/* One header line. False (with the refusal set) when it is malformed. */
static bool header_line(const char *l, size_t n, framing *f, ts_agent__httpd_head *out)
{
    if (l[0] == ' ' || l[0] == '\t')
        return bad(out, "Folded header line"), false;
    size_t k = 0;
    while (k < n && l[k] != ':') {
        if (l[k] == ' ' || l[k] == '\t')
            return bad(out, "White space in a header field name"), false;
        if (!tchar((unsigned char)l[k]))
            return bad(out, "Malformed header line"), false;
        k++;
    }
    if (k == n)
        return bad(out, "Header line without a colon"), false;
    if (k == 0)
        return bad(out, "Malformed header line"), false;
    size_t v = k + 1, ve = n;
    while (v < ve && (l[v] == ' ' || l[v] == '\t'))
        v++;
    while (ve > v && (l[ve - 1] == ' ' || l[ve - 1] == '\t'))
        ve--;
    for (size_t i = v; i < ve; i++) {
        unsigned char c = (unsigned char)l[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return bad(out, "Control character in a header value"), false;
    }
    if (name_is(l, k, "Content-Length")) {
        f->content_length++;
        if (v == ve)
            f->cl_not_digits = true;
        for (size_t i = v; i < ve; i++) {
            if (l[i] < '0' || l[i] > '9')
                f->cl_not_digits = true;
            else if (l[i] != '0')
                f->cl_nonzero = true;
        }
    } else if (name_is(l, k, "Transfer-Encoding")) {
        f->transfer_encoding++;
        /* Exactly "chunked": a list or another coding is not framed the same by every parser. */
        if (ve - v != 7 || strncasecmp(l + v, "chunked", 7) != 0)
            f->te_not_chunked = true;
    } else if (name_is(l, k, "Host")) {
        f->host++;
    }
    return true;
}

/* tokensmith-mhd's framing checks (mhd/src/framing.c), in its order. */
static const char *framing_problem(const framing *f, bool http11)
{
    if (f->cl_not_digits)
        return "Bad Content-Length";
    if (f->content_length > 1)
        return "More than one Content-Length header";
    if (f->transfer_encoding && f->content_length)
        return "Transfer-Encoding together with Content-Length";
    if (f->transfer_encoding > 1)
        return "More than one Transfer-Encoding header";
    if (f->te_not_chunked)
        return "Unsupported Transfer-Encoding (only chunked is accepted)";
    if (f->transfer_encoding && !http11)
        return "Transfer-Encoding in a request older than HTTP/1.1";
    if (http11 && f->host == 0)
        return "HTTP/1.1 request without a Host header";
    if (f->host > 1)
        return "More than one Host header";
    return NULL;
}

void ts_agent__httpd_parse_head(const char *buf, size_t len, ts_agent__httpd_head *out)
{
    memset(out, 0, sizeof *out);
    size_t pos = 0, start, n;
    bool cr, found;
    while ((found = next_line(buf, len, &pos, &start, &n, &cr)) && n == 0 && !cr)
        ; /* empty lines before the request line (RFC 9112 §2.2) */
    if (!found) {
        bad(out, "Incomplete request head");
        return;
    }
    if (cr) {
        bad(out, "Bare CR in the request head");
        return;
    }
    bool get_or_head = false;
    if (!request_line(buf + start, n, out, start, &get_or_head))
        return;
    framing f;
    memset(&f, 0, sizeof f);
    for (;;) {
        if (!next_line(buf, len, &pos, &start, &n, &cr)) {
            bad(out, "Incomplete request head");
            return;
        }
        if (cr) {
            bad(out, "Bare CR in the request head");
            return;
        }
        if (n == 0)
            break;
        if (!header_line(buf + start, n, &f, out))
            return;
    }
    if (pos != len) {
        bad(out, "Bytes after the request head");
        return;
    }
    const char *why = framing_problem(&f, out->minor >= 1);
    if (why) {
        bad(out, why);
        return;
    }
    if (!get_or_head) {
        refuse(out, 405, "method_not_allowed", NULL);
        return;
    }
    if (f.cl_nonzero || f.transfer_encoding) {
        refuse(out, 413, "request_body_not_allowed", NULL);
        return;
    }
}

long ts_agent__httpd_decode_path(const char *in, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (in[i] == '%' && i + 2 < len && (hi = ts_common__hexval(in[i + 1])) >= 0 &&
            (lo = ts_common__hexval(in[i + 2])) >= 0) {
            char c = (char)(hi * 16 + lo);
            if (c == '\0')
                return -1;
            out[o++] = c;
            i += 2;
        } else {
            if (in[i] == '\0')
                return -1;
            out[o++] = in[i];
        }
    }
    out[o] = '\0';
    return (long)o;
}
