/* Go (RE2) regular expressions compiled by PCRE2: a pattern is checked for UTF-8, rewritten so
 * that RE2 syntax keeps its RE2 meaning, then compiled (and JIT-compiled for the cache).
 *
 * The rewriting:
 *  - `$` matches only at the very end (PCRE2_DOLLAR_ENDONLY), as RE2 without (?m);
 *  - `\v` is the vertical-tab character and `\s` excludes it, as in RE2;
 *  - `\1`..`\7` alone are rejected (RE2 has no back-references); `\0`, `\12`, `\123` are octal;
 *  - a `{` that is not a valid RE2 repeat is a literal (newer PCRE2 reads `{,n}` as a repeat);
 *  - repeat counts above 1000 are rejected, as RE2 does;
 *  - a quantified assertion (`^*`, `\b+`) is wrapped in a group: RE2 accepts it, PCRE2 not;
 *  - PCRE2-only syntax that would change meaning or escape the limits is refused as RE2 does:
 *    look-around, atomic groups, possessive quantifiers, `(*VERB)`, `(?|`, `(?#`, `(?R)`,
 *    `\C`, `\K`, `\g`, `\k`, `\R`, `\X`, `\h`, `\N`, `\Z`, `\G`, `\e` and the like.
 * Remaining differences: `\S` inside a class still excludes VT; PCRE2's nesting limit (250
 * groups) is lower than Go's (1000); POSIX collating elements `[[.a.]]` are errors in PCRE2;
 * capture names starting with a digit are errors in PCRE2; `\x` takes 0-2 hex digits. */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "util/utf8.h"

#define GO_MAX_REPEAT 1000u

/* ---- UTF-8 (Go's unicode/utf8 acceptance rules) -------------------------------------------- */

static bool utf8_valid(const char *s, size_t n, size_t *bad_at)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t l = ts_utf8_seq_len(u + i, n - i);
        if (!l) {
            *bad_at = i;
            return false;
        }
        i += l;
    }
    return true;
}

/* ---- RE2 -> PCRE2 rewriting ---------------------------------------------------------------- */

typedef struct xbuf {
    char *p;
    size_t len, cap;
} xbuf;

static void xput(xbuf *b, const char *s, size_t n)
{
    /* capacity is reserved up front (8x the input), so this never overflows */
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void xputc(xbuf *b, char c)
{
    b->p[b->len++] = c;
}

enum prev_kind { PREV_NONE, PREV_ATOM, PREV_ASSERT, PREV_QUANT };

static ts_status tr_err(ts_error *err, const char *fname, const char *what, const char *pat,
                        size_t plen, size_t at)
{
    return ts_error_set(err, TS_EEVAL, fname,
                        "%s: error parsing regexp: %s at offset %zu in `%.*s`", fname, what, at,
                        (int)(plen > 120 ? 120 : plen), pat);
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Parse a Go repeat `{n}`, `{n,}`, `{n,m}` at p[i]. @return its length, 0 if the text is not a
 * repeat (then `{` is a literal), or (size_t)-1 for a count above Go's maximum. */
static size_t parse_repeat(const char *p, size_t n, size_t i)
{
    size_t j = i + 1;
    unsigned long lo = 0, hi = 0;
    size_t d = 0;
    while (j < n && is_digit(p[j]) && d < 8) {
        lo = lo * 10 + (unsigned long)(p[j] - '0');
        j++;
        d++;
    }
    if (d == 0 || d == 8 || j >= n)
        return 0;
    hi = lo;
    if (p[j] == ',') {
        j++;
        d = 0;
        hi = 0;
        while (j < n && is_digit(p[j]) && d < 8) {
            hi = hi * 10 + (unsigned long)(p[j] - '0');
            j++;
            d++;
        }
        if (d == 8 || j >= n)
            return 0;
        if (d == 0)
            hi = lo; /* {n,}: only lo is checked */
    }
    if (p[j] != '}')
        return 0;
    if (lo > GO_MAX_REPEAT || hi > GO_MAX_REPEAT || hi < lo)
        return (size_t)-1;
    return j + 1 - i;
}

/* Translate one escape at p[i] == '\\'. @return bytes consumed, 0 on error (err set). */
static size_t tr_escape(const char *p, size_t n, size_t i, bool in_class, xbuf *o,
                        enum prev_kind *prev, const char *fname, ts_error *err)
{
    if (i + 1 >= n) {
        tr_err(err, fname, "trailing backslash at end of expression", p, n, i);
        return 0;
    }
    char c = p[i + 1];
    *prev = PREV_ATOM;
    if (c >= '0' && c <= '7') {
        /* Go: a lone non-zero digit would be a back-reference (unsupported); otherwise up to
         * three octal digits. Emitted as \o{...} so PCRE2 never reads a back-reference. */
        if (c != '0' && (i + 2 >= n || p[i + 2] < '0' || p[i + 2] > '7')) {
            tr_err(err, fname, "invalid escape sequence", p, n, i);
            return 0;
        }
        size_t j = i + 1, k = 0;
        char digits[4];
        while (j < n && k < 3 && p[j] >= '0' && p[j] <= '7')
            digits[k++] = p[j++];
        xput(o, "\\o{", 3);
        xput(o, digits, k);
        xputc(o, '}');
        return j - i;
    }
    switch (c) {
    case 'a':
    case 'f':
    case 't':
    case 'n':
    case 'r':
    case 'd':
    case 'D':
    case 'w':
    case 'W':
        xput(o, p + i, 2);
        return 2;
    case 'x':
    case 'p':
    case 'P': {
        /* copy the argument too, so that its braces are not read as a repeat */
        size_t j = i + 2;
        if (j < n && p[j] == '{') {
            while (j < n && p[j] != '}')
                j++;
            if (j >= n) {
                tr_err(err, fname, "invalid escape sequence", p, n, i);
                return 0;
            }
            j++;
        } else if (c == 'x') {
            while (j < n && j < i + 4 &&
                   ((p[j] >= '0' && p[j] <= '9') || (p[j] >= 'a' && p[j] <= 'f') ||
                    (p[j] >= 'A' && p[j] <= 'F')))
                j++;
        } else if (j < n) {
            j++;
        }
        xput(o, p + i, j - i);
        return j - i;
    }
    case 'v':
        xput(o, "\\x0B", 4);
        return 2;
    case 's':
        if (in_class)
            xput(o, "\\t\\n\\f\\r ", 9);
        else
            xput(o, "[\\t\\n\\f\\r ]", 11);
        return 2;
    case 'S':
        if (in_class)
            xput(o, "\\S", 2);
        else
            xput(o, "[^\\t\\n\\f\\r ]", 12);
        return 2;
    case 'b':
    case 'B':
    case 'A':
    case 'z':
        if (in_class)
            break;
        xput(o, p + i, 2);
        *prev = PREV_ASSERT;
        return 2;
    default:
        if ((unsigned char)c < 0x80 && !is_alnum(c)) {
            xput(o, p + i, 2);
            return 2;
        }
        break;
    }
    tr_err(err, fname, "invalid escape sequence", p, n, i);
    return 0;
}

/* Rewrite Go syntax @p p into PCRE2 syntax in @p o (capacity >= 8 * n + 16). */
static ts_status translate(const char *p, size_t n, xbuf *o, const char *fname, ts_error *err)
{
    enum prev_kind prev = PREV_NONE;
    size_t atom_at = 0; /* output offset where the last atom began */
    size_t i = 0;
    while (i < n) {
        char c = p[i];
        size_t start = o->len;
        if (c == '\\' && i + 1 < n && p[i + 1] == 'Q') {
            /* literal text up to \E: copy verbatim (PCRE2 reads \Q...\E the same way) */
            size_t j = i + 2;
            while (j < n && !(p[j] == '\\' && j + 1 < n && p[j + 1] == 'E'))
                j++;
            size_t end = j < n ? j + 2 : n;
            xput(o, p + i, end - i);
            if (j > i + 2) {
                prev = PREV_ATOM;
                atom_at = start;
            }
            i = end;
            continue;
        }
        switch (c) {
        case '\\': {
            size_t used = tr_escape(p, n, i, false, o, &prev, fname, err);
            if (!used)
                return TS_EEVAL;
            atom_at = start;
            i += used;
            continue;
        }
        case '[': {
            /* copy a class, rewriting escapes; `]` first (after an optional `^`) is literal */
            size_t j = i + 1;
            xputc(o, '[');
            if (j < n && p[j] == '^')
                xputc(o, p[j++]);
            if (j < n && p[j] == ']')
                xputc(o, p[j++]);
            bool closed = false;
            while (j < n) {
                if (p[j] == ']') {
                    xputc(o, ']');
                    j++;
                    closed = true;
                    break;
                }
                if (p[j] == '[' && j + 1 < n && p[j + 1] == ':') {
                    /* POSIX class [:name:] */
                    size_t k = j + 2;
                    while (k + 1 < n && !(p[k] == ':' && p[k + 1] == ']'))
                        k++;
                    if (k + 1 < n) {
                        xput(o, p + j, k + 2 - j);
                        j = k + 2;
                        continue;
                    }
                }
                if (p[j] == '\\') {
                    enum prev_kind dummy;
                    size_t used = tr_escape(p, n, j, true, o, &dummy, fname, err);
                    if (!used)
                        return TS_EEVAL;
                    j += used;
                    continue;
                }
                xputc(o, p[j++]);
            }
            if (!closed)
                return tr_err(err, fname, "missing closing ]", p, n, i);
            prev = PREV_ATOM;
            atom_at = start;
            i = j;
            continue;
        }
        case '(':
            if (i + 1 < n && p[i + 1] == '*')
                return tr_err(err, fname, "missing argument to repetition operator: `*`", p, n,
                              i + 1);
            if (i + 1 < n && p[i + 1] == '?') {
                size_t j = i + 2;
                if (j < n && (p[j] == 'P' || p[j] == '<')) {
                    /* (?P<name> or (?<name>: names are word characters */
                    if (p[j] == 'P')
                        j++;
                    if (j >= n || p[j] != '<')
                        return tr_err(err, fname, "invalid or unsupported Perl syntax", p, n, i);
                    j++;
                    size_t name_at = j;
                    while (j < n && (is_alnum(p[j]) || p[j] == '_'))
                        j++;
                    if (j >= n || p[j] != '>' || j == name_at)
                        return tr_err(err, fname, "invalid named capture", p, n, i);
                    xput(o, p + i, j + 1 - i);
                    prev = PREV_NONE;
                    i = j + 1;
                    continue;
                } else {
                    /* flags: (?imsU-imsU) or (?imsU-imsU:...) */
                    while (j < n && (p[j] == 'i' || p[j] == 'm' || p[j] == 's' || p[j] == 'U' ||
                                     p[j] == '-'))
                        j++;
                    if (j >= n || (p[j] != ')' && p[j] != ':'))
                        return tr_err(err, fname, "invalid or unsupported Perl syntax", p, n, i);
                    xput(o, p + i, j + 1 - i);
                    i = j + 1;
                    if (p[j] == ':')
                        prev = PREV_NONE;
                    /* a bare flag group (?i) is no atom: prev stays */
                    continue;
                }
            }
            xputc(o, '(');
            prev = PREV_NONE;
            i++;
            continue;
        case ')':
        case '.':
            xputc(o, c);
            prev = PREV_ATOM;
            atom_at = start;
            i++;
            continue;
        case '|':
            xputc(o, c);
            prev = PREV_NONE;
            i++;
            continue;
        case '^':
        case '$':
            xputc(o, c);
            prev = PREV_ASSERT;
            atom_at = start;
            i++;
            continue;
        case '*':
        case '+':
        case '?':
        case '{': {
            size_t qlen = 1;
            if (c == '{') {
                qlen = parse_repeat(p, n, i);
                if (qlen == (size_t)-1)
                    return tr_err(err, fname, "invalid repeat count", p, n, i);
                if (qlen == 0) {
                    xput(o, "\\{", 2);
                    prev = PREV_ATOM;
                    atom_at = start;
                    i++;
                    continue;
                }
            }
            if (prev == PREV_NONE)
                return tr_err(err, fname, "missing argument to repetition operator", p, n, i);
            if (prev == PREV_QUANT)
                return tr_err(err, fname, "invalid nested repetition operator", p, n, i);
            if (prev == PREV_ASSERT) {
                /* wrap the assertion: (?:^)* */
                size_t alen = o->len - atom_at;
                memmove(o->p + atom_at + 3, o->p + atom_at, alen);
                memcpy(o->p + atom_at, "(?:", 3);
                o->len += 3;
                xputc(o, ')');
            }
            xput(o, p + i, qlen);
            i += qlen;
            if (i < n && p[i] == '?')
                xputc(o, p[i++]); /* lazy */
            prev = PREV_QUANT;
            continue;
        }
        default: {
            size_t l = ts_utf8_seq_len((const unsigned char *)p + i, n - i);
            if (!l)
                l = 1; /* unreachable: the pattern was validated */
            xput(o, p + i, l);
            prev = PREV_ATOM;
            atom_at = start;
            i += l;
            continue;
        }
        }
    }
    return TS_OK;
}

/* ---- compile ---------------------------------------------------------------------------- */

ts_status ts_authz__regex_compile(const char *pat, size_t plen, bool jit, const char *fname,
                                  pcre2_code **out, ts_error *err)
{
    size_t bad;
    if (plen > TS_REGEX_MAX_PATTERN)
        return ts_error_set(err, TS_EEVAL, fname, "%s: regular expression too long (%zu bytes)",
                            fname, plen);
    if (!utf8_valid(pat, plen, &bad))
        return tr_err(err, fname, "invalid UTF-8", pat, plen, bad);
    xbuf o = {malloc(8 * plen + 16), 0, 8 * plen + 16};
    if (!o.p)
        return ts_error_set(err, TS_ENOMEM, fname, "%s: out of memory", fname);
    ts_status st = translate(pat, plen, &o, fname, err);
    if (st != TS_OK) {
        free(o.p);
        return st;
    }
    int ec = 0;
    PCRE2_SIZE eoff = 0;
    pcre2_code *code =
        pcre2_compile((PCRE2_SPTR)o.p, o.len,
                      PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_NEVER_BACKSLASH_C, &ec, &eoff, NULL);
    free(o.p);
    if (!code) {
        if (ec == PCRE2_ERROR_HEAP_FAILED) /* not the pattern's fault */
            return ts_error_set(err, TS_ENOMEM, fname, "%s: out of memory", fname);
        PCRE2_UCHAR msg[160];
        if (pcre2_get_error_message(ec, msg, sizeof msg) < 0)
            memcpy(msg, "invalid pattern", 16);
        return ts_error_set(err, TS_EEVAL, fname, "%s: error parsing regexp: %s in `%.*s`", fname,
                            (const char *)msg, (int)(plen > 120 ? 120 : plen), pat);
    }
    if (jit)
        (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* on failure the interpreter runs */
    *out = code;
    return TS_OK;
}
