/* Tokeniser with govaluate's (casbin fork v1.3.0) lexical rules. Casbin's behaviour depends on
 * quirks of that lexer, so they are reproduced deliberately:
 *  - a backslash escapes the next character in every token kind (strings, names, operators);
 *  - a string ends at the next quote of either kind;
 *  - operators are read as a maximal run of "non-alphanumeric" characters up to whitespace, so
 *    `a==-1` is the invalid token '==-' exactly as in Go;
 *  - date-like string literals become numbers (unix seconds). */
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr_internal.h"

typedef struct lexer {
    const char *s;
    size_t len;
    size_t pos;
    char *buf; /* decode buffer, len + 1 bytes */
    size_t blen;
} lexer;

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Bytes of multi-byte UTF-8 sequences count as letters (unicode.IsLetter approximated). */
static bool is_letter(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

static bool is_quote(unsigned char c)
{
    return c == '\'' || c == '"';
}

static bool c_numeric(unsigned char c)
{
    return is_digit(c) || c == '.';
}

static bool c_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool c_not_quote(unsigned char c)
{
    return !is_quote(c);
}

static bool c_not_rbracket(unsigned char c)
{
    return c != ']';
}

static bool c_varname(unsigned char c)
{
    return is_letter(c) || is_digit(c) || c == '_' || c == '.';
}

static bool c_operator(unsigned char c)
{
    return !(is_digit(c) || is_letter(c) || c == '(' || c == ')' || c == '[' || c == ']' ||
             is_quote(c));
}

/* govaluate's readUntilFalse: decodes into lx->buf, returns whether a terminator (condition
 * failure, or whitespace when @p brk_ws) was seen before the end of input. */
static bool read_until_false(lexer *lx, bool incl_ws, bool brk_ws, bool (*cond)(unsigned char))
{
    lx->blen = 0;
    while (lx->pos < lx->len) {
        unsigned char c = (unsigned char)lx->s[lx->pos++];
        if (c == '\\') {
            /* Go would index past the end here and panic; treat a trailing backslash as
             * nothing, which then surfaces as an unterminated token where relevant. */
            if (lx->pos < lx->len)
                lx->buf[lx->blen++] = lx->s[lx->pos++];
            continue;
        }
        if (is_space(c)) {
            if (brk_ws && lx->blen > 0)
                return true;
            if (!incl_ws)
                continue;
        }
        if (cond(c)) {
            lx->buf[lx->blen++] = (char)c;
        } else {
            lx->pos--;
            return true;
        }
    }
    return false;
}

static TS_PRINTF(3, 4) ts_status lex_error(ts_error *err, size_t col, const char *fmt, ...)
{
    char where[32], msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(where, sizeof where, "column %zu", col);
    return ts_error_set(err, TS_EPARSE, where, "%s", msg);
}

static bool op_known(const char *s)
{
    static const char *const ops[] = {
        "-",  "!",  "~",  "+",  "*", "/",  "%", "**", "&",  "|",  "^", "<<", ">>",
        "&&", "||", "==", "!=", ">", ">=", "<", "<=", "=~", "!~", "?", ":",  "??",
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(s, ops[i]) == 0)
            return true;
    return false;
}

static ts_status push(tok_list *l, const tok *t, ts_error *err)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 32;
        tok *nv = realloc(l->v, ncap * sizeof *nv);
        if (!nv)
            return ts_error_set(err, TS_ENOMEM, "matcher", "out of memory");
        l->v = nv;
        l->cap = ncap;
    }
    l->v[l->n++] = *t;
    return TS_OK;
}

static ts_status save_text(lexer *lx, ts_arena *arena, tok *t, ts_error *err)
{
    char *p = ts_authz__arena_strndup(arena, lx->buf, lx->blen);
    if (!p)
        return ts_error_set(err, TS_ENOMEM, "matcher", "out of memory");
    t->text = p;
    t->len = lx->blen;
    return TS_OK;
}

/* strconv.ParseFloat on a run of digits and dots. */
static bool parse_decimal(const char *s, size_t n, double *out)
{
    size_t dots = 0, digits = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.')
            dots++;
        else if (is_digit((unsigned char)s[i]))
            digits++;
        else
            return false;
    }
    if (dots > 1 || digits == 0)
        return false;
    errno = 0;
    char *end = NULL;
    double d = strtod(s, &end);
    if (end != s + n || isinf(d))
        return false;
    *out = d;
    return true;
}

static bool parse_hex(const char *s, size_t n, double *out)
{
    if (n == 0 || n > 16)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        unsigned d;
        if (is_digit(c))
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return false;
        v = (v << 4) | d;
    }
    *out = (double)v;
    return true;
}

ts_status ts_authz__expr_lex(const char *src, size_t len, ts_arena *arena, tok_list *out,
                             ts_error *err)
{
    lexer lx = {src, len, 0, NULL, 0};
    ts_status st = TS_OK;
    lx.buf = malloc(len + 1);
    if (!lx.buf)
        return ts_error_set(err, TS_ENOMEM, "matcher", "out of memory");
    int parens = 0;

    for (;;) {
        while (lx.pos < len && is_space((unsigned char)src[lx.pos]))
            lx.pos++;
        tok t;
        memset(&t, 0, sizeof t);
        t.col = lx.pos + 1;
        if (lx.pos >= len) {
            t.kind = TOK_EOF;
            st = push(out, &t, err);
            break;
        }
        unsigned char c = (unsigned char)src[lx.pos];

        if (c_numeric(c)) {
            if (c == '0' && lx.pos + 2 < len && src[lx.pos + 1] == 'x') {
                lx.pos += 2;
                read_until_false(&lx, false, true, c_hex);
                lx.buf[lx.blen] = '\0';
                if (!parse_hex(lx.buf, lx.blen, &t.num)) {
                    st = lex_error(err, t.col, "Unable to parse hex value '%s' to uint64", lx.buf);
                    break;
                }
            } else {
                read_until_false(&lx, false, true, c_numeric);
                lx.buf[lx.blen] = '\0';
                if (!parse_decimal(lx.buf, lx.blen, &t.num)) {
                    st = lex_error(err, t.col, "Unable to parse numeric value '%s' to float64",
                                   lx.buf);
                    break;
                }
            }
            t.kind = TOK_NUM;
        } else if (c == ',') {
            lx.pos++;
            t.kind = TOK_COMMA;
        } else if (c == '[') {
            lx.pos++;
            if (!read_until_false(&lx, true, false, c_not_rbracket)) {
                st = lex_error(err, t.col, "Unclosed parameter bracket");
                break;
            }
            lx.pos++; /* the ']' */
            t.kind = TOK_IDENT;
            if ((st = save_text(&lx, arena, &t, err)) != TS_OK)
                break;
        } else if (is_letter(c)) {
            read_until_false(&lx, false, true, c_varname);
            if ((st = save_text(&lx, arena, &t, err)) != TS_OK)
                break;
            if (strcmp(t.text, "true") == 0 || strcmp(t.text, "false") == 0) {
                t.kind = TOK_BOOL;
                t.b = t.text[0] == 't';
            } else if (strcmp(t.text, "in") == 0 || strcmp(t.text, "IN") == 0) {
                t.kind = TOK_OP;
                t.text = "in";
                t.len = 2;
            } else if (memchr(t.text, '.', t.len)) {
                if (t.text[t.len - 1] == '.') {
                    st = lex_error(err, t.col, "Hanging accessor on token '%s'", t.text);
                    break;
                }
                t.kind = TOK_ACCESS;
            } else {
                t.kind = TOK_IDENT;
            }
        } else if (is_quote(c)) {
            lx.pos++;
            if (!read_until_false(&lx, true, false, c_not_quote)) {
                st = lex_error(err, t.col, "Unclosed string literal");
                break;
            }
            lx.pos++; /* the closing quote */
            if (ts_authz__expr_parse_time(lx.buf, lx.blen, &t.num)) {
                t.kind = TOK_NUM;
                t.is_time = true;
            } else {
                t.kind = TOK_STR;
                if ((st = save_text(&lx, arena, &t, err)) != TS_OK)
                    break;
            }
        } else if (c == '(') {
            lx.pos++;
            t.kind = TOK_LPAREN;
            parens++;
        } else if (c == ')') {
            lx.pos++;
            t.kind = TOK_RPAREN;
            parens--;
        } else {
            read_until_false(&lx, false, true, c_operator);
            if ((st = save_text(&lx, arena, &t, err)) != TS_OK)
                break;
            if (t.len == 0 || !op_known(t.text)) {
                st = lex_error(err, t.col, "Invalid token: '%s'", t.text);
                break;
            }
            t.kind = TOK_OP;
        }
        if ((st = push(out, &t, err)) != TS_OK)
            break;
    }
    free(lx.buf);
    if (st == TS_OK && parens != 0)
        st = lex_error(err, 1, "Unbalanced parenthesis");
    return st;
}

/* ---- govaluate's date-like literals ------------------------------------------------------ */

static bool num_at(const char *s, size_t n, size_t at, size_t w, int *out)
{
    if (at + w > n)
        return false;
    int v = 0;
    for (size_t i = 0; i < w; i++) {
        if (!is_digit((unsigned char)s[at + i]))
            return false;
        v = v * 10 + (s[at + i] - '0');
    }
    *out = v;
    return true;
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

/* "2006-01-02" at the start of s. */
static bool date_part(const char *s, size_t n, int *y, int *mo, int *d)
{
    if (n < 10 || s[4] != '-' || s[7] != '-')
        return false;
    if (!num_at(s, n, 0, 4, y) || !num_at(s, n, 5, 2, mo) || !num_at(s, n, 8, 2, d))
        return false;
    return *mo >= 1 && *mo <= 12 && *d >= 1 && *d <= days_in_month(*y, *mo);
}

/* Numeric zone at s[at..]: "-07:00" (colon) or "-0700"; @p z_ok allows "Z" for Z07:00. */
static bool zone_part(const char *s, size_t n, size_t at, bool colon, int *off)
{
    size_t w = colon ? 6 : 5;
    if (at + w != n || (s[at] != '+' && s[at] != '-'))
        return false;
    int hh, mm;
    if (!num_at(s, n, at + 1, 2, &hh))
        return false;
    if (colon && s[at + 3] != ':')
        return false;
    if (!num_at(s, n, at + (colon ? 4 : 3), 2, &mm))
        return false;
    if (hh > 24 || mm > 60)
        return false;
    *off = (hh * 60 + mm) * 60 * (s[at] == '-' ? -1 : 1);
    return true;
}

bool ts_authz__expr_parse_time(const char *s, size_t n, double *secs)
{
    if (!memchr(s, ':', n) && !memchr(s, '-', n))
        return false;
    int y = 0, mo = 1, d = 1, h = 0, mi = 0, se = 0, off = 0;
    bool ok = false;

    if (n == 6 || n == 7) {
        /* time.Kitchen "3:04PM": year 0, January 1. */
        size_t hl = n - 5;
        if (num_at(s, n, 0, hl, &h) && s[hl] == ':' && num_at(s, n, hl + 1, 2, &mi) &&
            (s[hl + 3] == 'A' || s[hl + 3] == 'P') && s[hl + 4] == 'M' && h <= 12 && mi <= 59) {
            if (s[hl + 3] == 'P' && h < 12)
                h += 12;
            else if (s[hl + 3] == 'A' && h == 12)
                h = 0;
            y = 0;
            ok = true;
        }
    }
    if (!ok && n >= 10 && date_part(s, n, &y, &mo, &d)) {
        if (n == 10) {
            ok = true;
        } else if ((n == 16 || n == 19 || n == 25) && s[10] == ' ') {
            ok = num_at(s, n, 11, 2, &h) && s[13] == ':' && num_at(s, n, 14, 2, &mi);
            if (ok && n >= 19)
                ok = s[16] == ':' && num_at(s, n, 17, 2, &se);
            if (ok && n == 25)
                ok = zone_part(s, n, 19, true, &off);
        } else if (s[10] == 'T') {
            ok = num_at(s, n, 11, 2, &h);
            if (ok && n == 18) {
                ok = zone_part(s, n, 13, false, &off); /* 2006-01-02T15Z0700 */
            } else if (ok && n >= 21 && s[13] == ':' && num_at(s, n, 14, 2, &mi)) {
                if (n == 21) {
                    ok = zone_part(s, n, 16, false, &off);
                } else if (s[16] == ':' && num_at(s, n, 17, 2, &se)) {
                    if (n == 24)
                        ok = zone_part(s, n, 19, false, &off); /* ISO8601 with seconds */
                    else if (n == 25)
                        ok = zone_part(s, n, 19, true, &off); /* RFC3339 */
                    else if ((n == 34 || n == 35) && s[19] == '.') {
                        int frac;
                        ok = num_at(s, n, 20, 9, &frac) &&
                             zone_part(s, n, 29, n == 35, &off); /* nanosecond forms */
                    } else
                        ok = false;
                } else
                    ok = false;
            } else
                ok = false;
        }
        if (ok && (h > 23 || mi > 59 || se > 59))
            ok = false;
    }
    if (!ok)
        return false;
    int64_t days = days_from_civil(y, mo, d);
    *secs = (double)(days * 86400 + h * 3600 + mi * 60 + se - off);
    return true;
}
