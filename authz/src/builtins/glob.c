/* globMatch: bmatcuk/doublestar v4 Match(pattern, name) with '/' as separator, ported step by
 * step (including its greedy single-backtrack `*` / `**` strategy, so results match Go's even
 * where that strategy is not a full glob search). Runes are decoded as Go does: an invalid
 * byte reads as U+FFFD.
 *
 * Bounds: doublestar recurses once per `{...}` alternative and may try exponentially many
 * combinations; recursion depth and the total number of steps are capped, and exceeding either
 * is an error (no decision) rather than a hang. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "util/utf8.h"

#define GLOB_MAX_PATTERN (64u * 1024u)
#define GLOB_MAX_DEPTH 64
#define GLOB_MAX_STEPS (1ul << 22)
#define RUNE_ERROR TS_UTF8_RUNE_ERROR
#define MAX_RUNE 0x10FFFFu
#define SEP '/'

typedef enum gres { G_FALSE = 0, G_TRUE = 1, G_BAD = -1, G_LIMIT = -2, G_NOMEM = -3 } gres;

typedef struct gctx {
    unsigned long steps;
    int depth;
} gctx;

/* utf8.DecodeRuneInString */
/* Go's utf8.DecodeRuneInString at s[i]: width 0 at the end, 1 for an invalid byte. */
static uint32_t decode(const char *s, size_t n, size_t i, size_t *w)
{
    if (i >= n) {
        *w = 0;
        return RUNE_ERROR;
    }
    return ts_utf8_decode((const unsigned char *)s + i, n - i, w);
}

/* ValidateWithSeparator */
static bool validate(const char *s, size_t l)
{
    size_t alt_depth = 0;
    for (size_t i = 0; i < l; i++) {
        switch (s[i]) {
        case '\\':
            if (++i >= l)
                return false;
            continue;
        case '[': {
            if (++i >= l)
                return false;
            if (s[i] == '^' || s[i] == '!')
                i++;
            if (i >= l || s[i] == ']')
                return false;
            bool closed = false;
            for (; i < l; i++) {
                if (s[i] == '\\') {
                    i++;
                } else if (s[i] == ']') {
                    closed = true;
                    break;
                }
            }
            if (!closed)
                return false;
            continue;
        }
        case '{':
            alt_depth++;
            continue;
        case '}':
            if (alt_depth == 0)
                return false;
            alt_depth--;
            continue;
        default:
            continue;
        }
    }
    return alt_depth == 0;
}

static long index_unescaped_byte(const char *s, size_t l, char c)
{
    for (size_t i = 0; i < l; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == c)
            return (long)i;
    }
    return -1;
}

static long index_matched_closing_alt(const char *s, size_t l)
{
    int alts = 1;
    for (size_t i = 0; i < l; i++) {
        if (s[i] == '\\') {
            i++;
        } else if (s[i] == '{') {
            alts++;
        } else if (s[i] == '}') {
            if (--alts == 0)
                return (long)i;
        }
    }
    return -1;
}

static long index_next_alt(const char *s, size_t l)
{
    int alts = 1;
    for (size_t i = 0; i < l; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '{')
            alts++;
        else if (s[i] == '}')
            alts--;
        else if (s[i] == ',' && alts == 1)
            return (long)i;
    }
    return -1;
}

/* a + b + c as a new heap string */
static char *concat3(const char *a, size_t al, const char *b, size_t bl, const char *c, size_t cl,
                     size_t *outl)
{
    char *p = malloc(al + bl + cl + 1);
    if (!p)
        return NULL;
    if (al)
        memcpy(p, a, al);
    if (bl)
        memcpy(p + al, b, bl);
    if (cl)
        memcpy(p + al + bl, c, cl);
    p[al + bl + cl] = '\0';
    *outl = al + bl + cl;
    return p;
}

static gres is_zero_length(gctx *g, const char *p, size_t l);

static gres try_zero_alt(gctx *g, const char *p, size_t a, size_t b, size_t closing, size_t l)
{
    size_t nl;
    char *np = concat3(p + a, b - a, p + closing + 1, l - closing - 1, "", 0, &nl);
    if (!np)
        return G_NOMEM;
    gres r = is_zero_length(g, np, nl);
    free(np);
    return r;
}

/* isZeroLengthPattern */
static gres is_zero_length(gctx *g, const char *p, size_t l)
{
    if (++g->steps > GLOB_MAX_STEPS || g->depth >= GLOB_MAX_DEPTH)
        return G_LIMIT;
    if (l == 0 || (l == 1 && p[0] == '*') || (l == 2 && memcmp(p, "**", 2) == 0) ||
        (l == 3 && (memcmp(p, "/**", 3) == 0 || memcmp(p, "**/", 3) == 0)) ||
        (l == 4 && memcmp(p, "/**/", 4) == 0))
        return G_TRUE;
    if (p[0] == '{') {
        long ci = index_matched_closing_alt(p + 1, l - 1);
        if (ci < 0)
            return G_BAD;
        size_t closing = (size_t)ci + 1;
        size_t pi = 1;
        g->depth++;
        for (;;) {
            long comma = index_next_alt(p + pi, closing - pi);
            if (comma < 0)
                break;
            size_t cidx = (size_t)comma + pi;
            gres r = try_zero_alt(g, p, pi, cidx, closing, l);
            if (r != G_FALSE) {
                g->depth--;
                return r;
            }
            pi = cidx + 1;
        }
        gres r = try_zero_alt(g, p, pi, closing, closing, l);
        g->depth--;
        return r;
    }
    return validate(p, l) ? G_FALSE : G_BAD;
}

static gres do_match(gctx *g, const char *pattern, size_t pat_len, const char *name,
                     size_t name_len, long ds_pat_bt, long ds_name_bt, long star_pat_bt,
                     long star_name_bt, size_t pat_idx, size_t name_idx);

static gres try_alt(gctx *g, const char *pattern, size_t pat_len, size_t before, size_t a, size_t b,
                    size_t closing, const char *name, size_t name_len, long dpb, long dnb, long spb,
                    long snb, size_t name_idx)
{
    size_t nl;
    char *np = concat3(pattern, before, pattern + a, b - a, pattern + closing + 1,
                       pat_len - closing - 1, &nl);
    if (!np)
        return G_NOMEM;
    gres r = do_match(g, np, nl, name, name_len, dpb, dnb, spb, snb, before, name_idx);
    free(np);
    return r;
}

/* doMatchWithSeparator(validate = true) */
static gres do_match(gctx *g, const char *pattern, size_t pat_len, const char *name,
                     size_t name_len, long ds_pat_bt, long ds_name_bt, long star_pat_bt,
                     long star_name_bt, size_t pat_idx, size_t name_idx)
{
    bool start_of_segment = true;
    size_t w, pw;
    if (g->depth >= GLOB_MAX_DEPTH)
        return G_LIMIT;
    while (name_idx < name_len) {
        if (++g->steps > GLOB_MAX_STEPS)
            return G_LIMIT;
        if (pat_idx < pat_len) {
            char pc = pattern[pat_idx];
            if (pc == '*') {
                if (++pat_idx < pat_len && pattern[pat_idx] == '*') {
                    pat_idx++;
                    if (start_of_segment) {
                        if (pat_idx >= pat_len)
                            return G_TRUE; /* the pattern ends in a doublestar segment */
                        uint32_t r = decode(pattern, pat_len, pat_idx, &pw);
                        if (r == SEP) {
                            pat_idx += pw;
                            ds_pat_bt = (long)pat_idx;
                            ds_name_bt = (long)name_idx;
                            star_pat_bt = -1;
                            star_name_bt = -1;
                            continue;
                        }
                    }
                }
                start_of_segment = false;
                star_pat_bt = (long)pat_idx;
                star_name_bt = (long)name_idx;
                continue;
            } else if (pc == '?') {
                start_of_segment = false;
                uint32_t nr = decode(name, name_len, name_idx, &w);
                if (nr != SEP) {
                    pat_idx++;
                    name_idx += w;
                    continue;
                }
                /* `?` cannot match the separator: fall through to backtracking */
            } else if (pc == '[') {
                start_of_segment = false;
                if (++pat_idx >= pat_len)
                    return G_BAD;
                uint32_t nr = decode(name, name_len, name_idx, &w);
                bool matched = false;
                bool negate = pattern[pat_idx] == '!' || pattern[pat_idx] == '^';
                if (negate)
                    pat_idx++;
                if (pat_idx >= pat_len || pattern[pat_idx] == ']')
                    return G_BAD;
                uint32_t last = MAX_RUNE;
                while (pat_idx < pat_len && pattern[pat_idx] != ']') {
                    uint32_t pr = decode(pattern, pat_len, pat_idx, &pw);
                    pat_idx += pw;
                    if (last < MAX_RUNE && pr == '-' && pat_idx < pat_len &&
                        pattern[pat_idx] != ']') {
                        if (pattern[pat_idx] == '\\')
                            pat_idx++;
                        pr = decode(pattern, pat_len, pat_idx, &pw);
                        pat_idx += pw;
                        if (last <= nr && nr <= pr) {
                            matched = true;
                            break;
                        }
                        last = MAX_RUNE;
                        continue;
                    }
                    if (pr == '\\') {
                        pr = decode(pattern, pat_len, pat_idx, &pw);
                        pat_idx += pw;
                    }
                    if (pr == nr) {
                        matched = true;
                        break;
                    }
                    last = pr;
                }
                if (matched == negate) {
                    if (pat_idx >= pat_len)
                        return G_BAD;
                    /* fall through to backtracking */
                } else {
                    long ci = index_unescaped_byte(pattern + pat_idx, pat_len - pat_idx, ']');
                    if (ci < 0)
                        return G_BAD;
                    pat_idx += (size_t)ci + 1;
                    name_idx += w;
                    continue;
                }
            } else if (pc == '{') {
                size_t before = pat_idx;
                pat_idx++;
                long ci = index_matched_closing_alt(pattern + pat_idx, pat_len - pat_idx);
                if (ci < 0)
                    return G_BAD;
                size_t closing = (size_t)ci + pat_idx;
                g->depth++;
                for (;;) {
                    long comma = index_next_alt(pattern + pat_idx, closing - pat_idx);
                    if (comma < 0)
                        break;
                    size_t cidx = (size_t)comma + pat_idx;
                    gres r =
                        try_alt(g, pattern, pat_len, before, pat_idx, cidx, closing, name, name_len,
                                ds_pat_bt, ds_name_bt, star_pat_bt, star_name_bt, name_idx);
                    if (r != G_FALSE) {
                        g->depth--;
                        return r;
                    }
                    pat_idx = cidx + 1;
                }
                gres r =
                    try_alt(g, pattern, pat_len, before, pat_idx, closing, closing, name, name_len,
                            ds_pat_bt, ds_name_bt, star_pat_bt, star_name_bt, name_idx);
                g->depth--;
                return r;
            } else {
                if (pc == '\\') {
                    if (++pat_idx >= pat_len)
                        return G_BAD;
                }
                uint32_t pr = decode(pattern, pat_len, pat_idx, &pw);
                uint32_t nr = decode(name, name_len, name_idx, &w);
                if (pr == nr) {
                    pat_idx += pw;
                    name_idx += w;
                    start_of_segment = pr == SEP;
                    continue;
                }
                if (pat_idx > 0 && pattern[pat_idx - 1] == '\\')
                    pat_idx--; /* back onto the backslash before backtracking/validating */
            }
        }

        if (star_pat_bt >= 0) {
            /* `*` backtrack, unless the name rune is the separator */
            uint32_t nr = decode(name, name_len, (size_t)star_name_bt, &w);
            if (nr != SEP) {
                star_name_bt += (long)w;
                pat_idx = (size_t)star_pat_bt;
                name_idx = (size_t)star_name_bt;
                start_of_segment = false;
                continue;
            }
        }
        if (ds_pat_bt >= 0) {
            /* `**` backtrack: advance name past the next separator */
            bool resumed = false;
            name_idx = (size_t)ds_name_bt;
            while (name_idx < name_len) {
                uint32_t nr = decode(name, name_len, name_idx, &w);
                name_idx += w;
                if (nr == SEP) {
                    ds_name_bt = (long)name_idx;
                    pat_idx = (size_t)ds_pat_bt;
                    start_of_segment = true;
                    resumed = true;
                    break;
                }
            }
            if (resumed)
                continue;
        }
        if (pat_idx < pat_len && !validate(pattern + pat_idx, pat_len - pat_idx))
            return G_BAD;
        return G_FALSE;
    }
    if (name_idx < name_len)
        return G_FALSE;
    return is_zero_length(g, pattern + pat_idx, pat_len - pat_idx);
}

ts_status ts_authz__glob_match(ts_str name, ts_str pattern, bool *out, ts_error *err)
{
    *out = false;
    if (pattern.len > GLOB_MAX_PATTERN)
        return ts_error_set(err, TS_EEVAL, "globMatch", "globMatch: pattern too long (%zu bytes)",
                            pattern.len);
    gctx g = {0, 0};
    gres r = do_match(&g, pattern.len ? pattern.ptr : "", pattern.len, name.len ? name.ptr : "",
                      name.len, -1, -1, -1, -1, 0, 0);
    switch (r) {
    case G_TRUE:
        *out = true;
        return TS_OK;
    case G_FALSE:
        return TS_OK;
    case G_BAD:
        return ts_error_set(err, TS_EEVAL, "globMatch", "globMatch: syntax error in pattern");
    case G_LIMIT:
        return ts_error_set(err, TS_EEVAL, "globMatch",
                            "globMatch: pattern too complex (alternatives or backtracking limit)");
    case G_NOMEM:
    default:
        return ts_error_set(err, TS_ENOMEM, "globMatch", "globMatch: out of memory");
    }
}
