/*
 * http_load's answer parsing: the status line and the headers that frame a body
 * (Content-Length, Transfer-Encoding, Connection), and chunked bodies decoded in place as they
 * arrive. Strict: anything this client does not implement is a transport error.
 */
#include <stdlib.h>
#include <string.h>

#include "http_load_internal.h"

/* ------------------------------------------------------------------------------------------ */
/* Answer parsing                                                                             */

static bool name_is(const char *p, size_t n, const char *lower)
{
    size_t l = strlen(lower);
    if (n != l)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        if (ch != lower[i])
            return false;
    }
    return true;
}

/* Whether the comma-separated token list [p, p+n) holds @p token (case-insensitively). */
static bool has_token(const char *p, size_t n, const char *token)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == ','))
            i++;
        size_t s = i;
        while (i < n && p[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (p[e - 1] == ' ' || p[e - 1] == '\t'))
            e--;
        if (e > s && name_is(p + s, e - s, token))
            return true;
    }
    return false;
}

/* Parse the head resp[0, head_len) (ending in CRLFCRLF). @return 0, or -1 when malformed or
 * using a framing this client does not implement. */
int hl__parse_head(conn *k, size_t head_len)
{
    const char *p = k->resp, *end = k->resp + head_len - 2; /* end: at the final CRLF */
    /* "HTTP/1.x SSS" then SP or CRLF. */
    if (head_len < 14 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') ||
        p[8] != ' ')
        return -1;
    int st = 0;
    for (int i = 9; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        st = st * 10 + (p[i] - '0');
    }
    if (st < 100 || st > 599 || (p[12] != ' ' && p[12] != '\r'))
        return -1;
    bool keep_alive = p[7] == '1', chunked = false;
    bool close = false;
    long long clen = -1;
    const char *line = memchr(p, '\n', head_len);
    if (!line)
        return -1;
    line++;
    while (line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end + 2 - line));
        if (!eol || eol == line || eol[-1] != '\r')
            return -1;
        size_t n = (size_t)(eol - 1 - line);
        if (line[0] == ' ' || line[0] == '\t')
            return -1; /* obsolete line folding */
        const char *colon = memchr(line, ':', n);
        if (!colon || colon == line)
            return -1;
        size_t nl = (size_t)(colon - line);
        const char *v = colon + 1, *ve = line + n;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        size_t vl = (size_t)(ve - v);
        if (name_is(line, nl, "content-length")) {
            if (vl == 0 || vl > 12)
                return -1;
            long long x = 0;
            for (size_t i = 0; i < vl; i++) {
                if (v[i] < '0' || v[i] > '9')
                    return -1;
                x = x * 10 + (v[i] - '0');
            }
            if (clen >= 0 && clen != x)
                return -1; /* conflicting lengths */
            clen = x;
        } else if (name_is(line, nl, "transfer-encoding")) {
            /* No Accept-Encoding or TE is sent, so "chunked" is the only coding allowed. */
            if (chunked || !name_is(v, vl, "chunked"))
                return -1;
            chunked = true;
        } else if (name_is(line, nl, "connection")) {
            if (has_token(v, vl, "close"))
                close = true;
            else if (has_token(v, vl, "keep-alive"))
                keep_alive = true;
        }
        line = eol + 1;
    }
    if (chunked && clen >= 0)
        return -1; /* both framings: refuse rather than guess (request smuggling) */
    if (st == 204 || st == 304 || (st >= 100 && st < 200)) {
        clen = 0;
        chunked = false;
    } else if (clen < 0 && !chunked) {
        close = true; /* the body ends when the server closes */
    }
    k->chunked = chunked;
    k->cstate = 0;
    k->csize = 0;
    k->cdigits = 0;
    k->ppos = head_len;
    k->dtotal = 0;
    k->status = st;
    k->clen = clen;
    k->close_after = close || !keep_alive;
    k->head_len = head_len;
    return 0;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/*
 * Decode @p n chunked bytes at @p in. With @p out, chunk data is appended there at k->rlen
 * (in place: out never passes in); without, it is only counted (beyond the kept prefix).
 * @return the bytes consumed (fewer than @p n once the body is complete), or -1 when malformed.
 */
long hl__chunk_feed(conn *k, const char *in, size_t n, char *out)
{
    size_t i = 0;
    while (i < n && k->cstate != CS_DONE) {
        char ch = in[i];
        switch (k->cstate) {
        case CS_SIZE: {
            int v = hexval(ch);
            if (v >= 0) {
                if (++k->cdigits > 12)
                    return -1; /* no chunk of a terabyte */
                k->csize = k->csize * 16 + (unsigned)v;
            } else if (k->cdigits && (ch == ';' || ch == ' ' || ch == '\t')) {
                k->cstate = CS_EXT;
            } else if (k->cdigits && ch == '\r') {
                k->cstate = CS_SIZE_LF;
            } else {
                return -1;
            }
            i++;
            break;
        }
        case CS_EXT:
            if (ch == '\r')
                k->cstate = CS_SIZE_LF;
            i++;
            break;
        case CS_SIZE_LF:
            if (ch != '\n')
                return -1;
            k->cstate = k->csize ? CS_DATA : CS_TRAILER;
            i++;
            break;
        case CS_DATA: {
            size_t take = n - i < k->csize ? n - i : (size_t)k->csize;
            if (out) {
                memmove(out + k->rlen, in + i, take);
                k->rlen += take;
            }
            k->dtotal += take;
            k->csize -= take;
            i += take;
            if (!k->csize)
                k->cstate = CS_DATA_CR;
            break;
        }
        case CS_DATA_CR:
        case CS_TRAILER_LINE:
            if (k->cstate == CS_DATA_CR && ch != '\r')
                return -1;
            if (ch == '\r')
                k->cstate = k->cstate == CS_DATA_CR ? CS_DATA_LF : CS_TRAILER_LF;
            i++;
            break;
        case CS_DATA_LF:
        case CS_TRAILER_LF:
        case CS_END_LF:
            if (ch != '\n')
                return -1;
            k->cstate = k->cstate == CS_DATA_LF  ? CS_SIZE
                        : k->cstate == CS_END_LF ? CS_DONE
                                                 : CS_TRAILER;
            k->cdigits = 0;
            i++;
            break;
        case CS_TRAILER:
            k->cstate = ch == '\r' ? CS_END_LF : CS_TRAILER_LINE;
            i++;
            break;
        default:
            return -1;
        }
    }
    return (long)i;
}

/* Look for the end of the head. @return its length, 0 when not there yet. */
size_t hl__find_head_end(conn *k)
{
    size_t i = k->scanned > 3 ? k->scanned - 3 : 0;
    for (; i + 4 <= k->rlen; i++)
        if (k->resp[i] == '\r' && k->resp[i + 1] == '\n' && k->resp[i + 2] == '\r' &&
            k->resp[i + 3] == '\n')
            return i + 4;
    k->scanned = k->rlen;
    return 0;
}
