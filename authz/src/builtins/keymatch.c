/* keyMatch, keyGet and the regex-based keyMatch2..5, keyGet2, keyGet3, as Go's
 * util/builtin_operators.go: the pattern is rewritten into a regex exactly as Go's
 * strings.Replace / Regexp.ReplaceAllString calls do (leftmost-first, non-overlapping), then
 * matched anchored. The rewritten regex is the cache key, so each policy pattern compiles once. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

bool ts_authz__key_match(ts_str k1, ts_str k2)
{
    const char *star = k2.len ? memchr(k2.ptr, '*', k2.len) : NULL;
    if (!star)
        return ts_str_eq(k1, k2);
    size_t i = (size_t)(star - k2.ptr);
    if (k1.len > i)
        return memcmp(k1.ptr, k2.ptr, i) == 0;
    return ts_str_eq(k1, ts_str_make(k2.ptr, i));
}

ts_str ts_authz__key_get(ts_str k1, ts_str k2)
{
    const char *star = k2.len ? memchr(k2.ptr, '*', k2.len) : NULL;
    if (star) {
        size_t i = (size_t)(star - k2.ptr);
        if (k1.len > i && memcmp(k1.ptr, k2.ptr, i) == 0)
            return ts_str_make(k1.ptr + i, k1.len - i);
    }
    return ts_str_make("", 0);
}

/* Placeholder syntaxes, each a Go regex used with ReplaceAllString. */
typedef enum ph_kind {
    PH_COLON,      /* :[^/]+        (keyMatch2, keyGet2) */
    PH_BRACE,      /* \{[^/]+\}     (keyMatch3, keyMatch4, keyMatch5) */
    PH_BRACE_LAZY, /* \{[^/]+?\}    (keyGet3) */
} ph_kind;

/* Leftmost match of the placeholder regex starting exactly at s[i]. @return its end, or 0. */
static size_t ph_match_at(const char *s, size_t n, size_t i, ph_kind k)
{
    size_t seg = i + 1;
    while (seg < n && s[seg] != '/')
        seg++; /* [^/]+ can reach up to here */
    if (k == PH_COLON)
        return (s[i] == ':' && seg > i + 1) ? seg : 0;
    if (s[i] != '{')
        return 0;
    if (k == PH_BRACE) {
        for (size_t j = seg; j-- > i + 2;)
            if (s[j] == '}')
                return j + 1;
    } else {
        for (size_t j = i + 2; j < seg; j++)
            if (s[j] == '}')
                return j + 1;
    }
    return 0;
}

typedef struct conv {
    char *re; /* ^...$, NUL-terminated */
    size_t len;
    ts_str *names; /* placeholder names, in order */
    size_t nnames;
    char *tmp; /* backing store of names */
} conv;

static void conv_free(conv *c)
{
    free(c->re);
    free(c->names);
    free(c->tmp);
}

/*
 * Go: every slash-star becomes slash-dot-star (strings.Replace), then
 * re.ReplaceAllString(key2, repl), then "^" + key2 + "$". Names are the placeholder text
 * without its delimiters.
 */
static ts_status convert(const char *fname, ts_str k2, ph_kind kind, const char *repl, conv *out,
                         ts_error *err)
{
    memset(out, 0, sizeof *out);
    if (k2.len > TS_REGEX_MAX_PATTERN)
        return ts_error_set(err, TS_EEVAL, fname, "%s: pattern too long (%zu bytes)", fname,
                            k2.len);
    size_t rl = strlen(repl);
    /* stage 1: slash-star -> slash-dot-star */
    char *s1 = malloc(2 * k2.len + 1);
    size_t n1 = 0;
    if (!s1)
        return ts_error_set(err, TS_ENOMEM, fname, "%s: out of memory", fname);
    for (size_t i = 0; i < k2.len;) {
        if (k2.ptr[i] == '/' && i + 1 < k2.len && k2.ptr[i + 1] == '*') {
            memcpy(s1 + n1, "/.*", 3);
            n1 += 3;
            i += 2;
        } else {
            s1[n1++] = k2.ptr[i++];
        }
    }
    /* stage 2: placeholders; each is at least 2 bytes and becomes rl bytes */
    size_t cap = 2 + n1 + (n1 / 2 + 1) * rl + 1;
    out->re = malloc(cap);
    out->names = malloc((n1 / 2 + 1) * sizeof *out->names);
    if (!out->re || !out->names) {
        free(s1);
        conv_free(out);
        memset(out, 0, sizeof *out);
        return ts_error_set(err, TS_ENOMEM, fname, "%s: out of memory", fname);
    }
    size_t n = 0;
    out->re[n++] = '^';
    for (size_t i = 0; i < n1;) {
        size_t end = ph_match_at(s1, n1, i, kind);
        if (end) {
            size_t a = i + 1, b = kind == PH_COLON ? end : end - 1;
            out->names[out->nnames++] = ts_str_make(s1 + a, b - a); /* rebased below */
            memcpy(out->re + n, repl, rl);
            n += rl;
            i = end;
        } else {
            out->re[n++] = s1[i++];
        }
    }
    out->re[n++] = '$';
    out->re[n] = '\0';
    out->len = n;
    out->tmp = s1; /* names point into s1 */
    return TS_OK;
}

static ts_status match_plain(const char *fname, ts_regex_cache *c, ts_str k1, ts_str k2,
                             ph_kind kind, bool *out, ts_error *err)
{
    conv cv;
    *out = false;
    ts_status st = convert(fname, k2, kind, "[^/]+", &cv, err);
    if (st == TS_OK)
        st = ts_authz__regex_exec(c, fname, cv.re, cv.len, k1.ptr, k1.len, out, NULL, 0, NULL, err);
    conv_free(&cv);
    return st;
}

ts_status ts_authz__key_match2(ts_regex_cache *c, ts_str k1, ts_str k2, bool *out, ts_error *err)
{
    return match_plain("keyMatch2", c, k1, k2, PH_COLON, out, err);
}

ts_status ts_authz__key_match3(ts_regex_cache *c, ts_str k1, ts_str k2, bool *out, ts_error *err)
{
    return match_plain("keyMatch3", c, k1, k2, PH_BRACE, out, err);
}

ts_status ts_authz__key_match5(ts_regex_cache *c, ts_str k1, ts_str k2, bool *out, ts_error *err)
{
    const char *q = k1.len ? memchr(k1.ptr, '?', k1.len) : NULL;
    if (q)
        k1.len = (size_t)(q - k1.ptr);
    return match_plain("keyMatch5", c, k1, k2, PH_BRACE, out, err);
}

ts_status ts_authz__key_match4(ts_regex_cache *c, ts_str k1, ts_str k2, bool *out, ts_error *err)
{
    static const char fname[] = "keyMatch4";
    conv cv;
    size_t *caps = NULL;
    size_t ncaps = 0;
    bool m = false;
    *out = false;
    ts_status st = convert(fname, k2, PH_BRACE, "([^/]+)", &cv, err);
    if (st != TS_OK)
        goto done;
    caps = malloc((2 * cv.nnames + 2) * sizeof *caps);
    if (!caps) {
        st = ts_error_set(err, TS_ENOMEM, fname, "%s: out of memory", fname);
        goto done;
    }
    st = ts_authz__regex_exec(c, fname, cv.re, cv.len, k1.ptr, k1.len, &m, caps, cv.nnames, &ncaps,
                              err);
    if (st != TS_OK || !m)
        goto done;
    if (ncaps != cv.nnames) {
        /* Go panics here; the panic surfaces as an enforce error */
        st = ts_error_set(err, TS_EEVAL, fname,
                          "KeyMatch4: number of tokens is not equal to number of values");
        goto done;
    }
    /* a repeated name must capture the same text as its first occurrence */
    for (size_t j = 0; j < cv.nnames; j++) {
        for (size_t i = 0; i < j; i++) {
            if (!ts_str_eq(cv.names[i], cv.names[j]))
                continue;
            size_t ai = caps[2 * i], bi = caps[2 * i + 1];
            size_t aj = caps[2 * j], bj = caps[2 * j + 1];
            ts_str vi =
                ai == TS_REGEX_UNSET ? ts_str_make("", 0) : ts_str_make(k1.ptr + ai, bi - ai);
            ts_str vj =
                aj == TS_REGEX_UNSET ? ts_str_make("", 0) : ts_str_make(k1.ptr + aj, bj - aj);
            if (!ts_str_eq(vi, vj))
                goto done;
            break;
        }
    }
    *out = true;
done:
    free(caps);
    conv_free(&cv);
    return st;
}

static ts_status key_get_n(const char *fname, ts_regex_cache *c, ts_str k1, ts_str k2, ts_str var,
                           ph_kind kind, const char *repl, ts_str *out, ts_error *err)
{
    conv cv;
    size_t *caps = NULL;
    size_t ncaps = 0;
    bool m = false;
    *out = ts_str_make("", 0);
    ts_status st = convert(fname, k2, kind, repl, &cv, err);
    if (st != TS_OK)
        return st;
    caps = malloc((2 * cv.nnames + 2) * sizeof *caps);
    if (!caps) {
        st = ts_error_set(err, TS_ENOMEM, fname, "%s: out of memory", fname);
        goto done;
    }
    st = ts_authz__regex_exec(c, fname, cv.re, cv.len, k1.ptr, k1.len, &m, caps, cv.nnames, &ncaps,
                              err);
    if (st != TS_OK || !m)
        goto done;
    for (size_t i = 0; i < cv.nnames; i++) {
        if (!ts_str_eq(cv.names[i], var))
            continue;
        if (i + 1 > ncaps) {
            /* Go indexes past the submatches and panics */
            st = ts_error_set(err, TS_EEVAL, fname, "%s: index out of range [%zu] with length %zu",
                              fname, i + 1, ncaps + 1);
            goto done;
        }
        if (caps[2 * i] != TS_REGEX_UNSET)
            *out = ts_str_make(k1.ptr + caps[2 * i], caps[2 * i + 1] - caps[2 * i]);
        break;
    }
done:
    free(caps);
    conv_free(&cv);
    return st;
}

ts_status ts_authz__key_get2(ts_regex_cache *c, ts_str k1, ts_str k2, ts_str var, ts_str *out,
                             ts_error *err)
{
    return key_get_n("keyGet2", c, k1, k2, var, PH_COLON, "([^/]+)", out, err);
}

ts_status ts_authz__key_get3(ts_regex_cache *c, ts_str k1, ts_str k2, ts_str var, ts_str *out,
                             ts_error *err)
{
    return key_get_n("keyGet3", c, k1, k2, var, PH_BRACE_LAZY, "([^/]+?)", out, err);
}
