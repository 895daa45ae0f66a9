/* Go (RE2) regular expressions on top of PCRE2, and the per-snapshot cache of compiled code.
 *
 * Go's regexp is linear-time; PCRE2 backtracks. Every match therefore runs under a match,
 * depth and heap limit, and hitting one is an evaluation error rather than a slow decision.
 *
 * Patterns are rewritten before compiling so that RE2 syntax keeps its RE2 meaning:
 *  - `$` matches only at the very end (PCRE2_DOLLAR_ENDONLY), as RE2 without (?m);
 *  - `\v` is the vertical-tab character and `\s` excludes it, as in RE2;
 *  - `\1`..`\7` alone are rejected (RE2 has no back-references); `\0`, `\12`, `\123` are octal;
 *  - a `{` that is not a valid RE2 repeat is a literal (newer PCRE2 reads `{,n}` as a repeat);
 *  - repeat counts above 1000 are rejected, as RE2 does;
 *  - a quantified assertion (`^*`, `\b+`) is wrapped in a group: RE2 accepts it, PCRE2 not;
 *  - PCRE2-only syntax that would change meaning or escape the limits is refused as RE2 does:
 *    look-around, atomic groups, possessive quantifiers, `(*VERB)`, `(?|`, `(?#`, `(?R)`,
 *    `\C`, `\K`, `\g`, `\k`, `\R`, `\X`, `\h`, `\N`, `\Z`, `\G`, `\e` and the like.
 * Matching is in UTF-8 mode, as Go's. A subject that is not valid UTF-8 is matched as Go does:
 * each invalid byte is read as U+FFFD (offsets are mapped back to the original bytes).
 * Remaining differences: `\S` inside a class still excludes VT; PCRE2's nesting limit (250
 * groups) is lower than Go's (1000); POSIX collating elements `[[.a.]]` are errors in PCRE2;
 * capture names starting with a digit are errors in PCRE2; `\x` takes 0-2 hex digits. */
#define PCRE2_CODE_UNIT_WIDTH 8

#define _POSIX_C_SOURCE 200809L
#include <pcre2.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "util/utf8.h"

#define DEFAULT_MAX_ENTRIES 4096u
#define MAX_BUCKETS 65536u
#define MATCH_LIMIT 5000000u
#define DEPTH_LIMIT 10000u
#define HEAP_LIMIT_KIB 16384u
#define GO_MAX_REPEAT 1000u

typedef struct rx_entry {
    struct rx_entry *next;
    uint64_t hash;
    size_t klen;
    pcre2_code *code;
    char key[];
} rx_entry;

struct ts_regex_cache {
    pthread_rwlock_t lock;
    size_t max_entries;
    size_t count;
    size_t nbuckets; /* power of two */
    rx_entry **buckets;
    pcre2_match_context *mctx; /* immutable after creation, shared by all matches */
    bool jit;
};

static pcre2_match_context *new_match_context(void)
{
    pcre2_match_context *m = pcre2_match_context_create(NULL);
    if (m) {
        pcre2_set_match_limit(m, MATCH_LIMIT);
        pcre2_set_depth_limit(m, DEPTH_LIMIT);
        pcre2_set_heap_limit(m, HEAP_LIMIT_KIB);
    }
    return m;
}

ts_regex_cache *ts_authz__regex_cache_new(size_t max_entries)
{
    ts_regex_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->max_entries = max_entries ? max_entries : DEFAULT_MAX_ENTRIES;
    c->nbuckets = 16;
    while (c->nbuckets < c->max_entries && c->nbuckets < MAX_BUCKETS)
        c->nbuckets *= 2;
    c->buckets = calloc(c->nbuckets, sizeof *c->buckets);
    c->mctx = new_match_context();
    uint32_t jit = 0;
    c->jit = pcre2_config(PCRE2_CONFIG_JIT, &jit) >= 0 && jit;
    if (!c->buckets || !c->mctx || pthread_rwlock_init(&c->lock, NULL) != 0) {
        pcre2_match_context_free(c->mctx);
        free(c->buckets);
        free(c);
        return NULL;
    }
    return c;
}

void ts_authz__regex_cache_free(ts_regex_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nbuckets; i++) {
        rx_entry *e = c->buckets[i];
        while (e) {
            rx_entry *next = e->next;
            pcre2_code_free(e->code);
            free(e);
            e = next;
        }
    }
    pthread_rwlock_destroy(&c->lock);
    pcre2_match_context_free(c->mctx);
    free(c->buckets);
    free(c);
}

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

/* ---- compile / lookup ------------------------------------------------------------------- */

static ts_status compile(const char *pat, size_t plen, bool jit, const char *fname,
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

/* Find or compile @p pat. *owned tells the caller to free the code after use. */
static ts_status get_code(ts_regex_cache *c, const char *pat, size_t plen, const char *fname,
                          pcre2_code **out, bool *owned, ts_error *err)
{
    *owned = false;
    if (!c) {
        *owned = true;
        return compile(pat, plen, false, fname, out, err);
    }
    uint64_t h = ts_str_hash(pat, plen);
    size_t b = (size_t)h & (c->nbuckets - 1);
    pthread_rwlock_rdlock(&c->lock);
    for (rx_entry *e = c->buckets[b]; e; e = e->next) {
        if (e->hash == h && e->klen == plen && memcmp(e->key, pat, plen) == 0) {
            *out = e->code;
            pthread_rwlock_unlock(&c->lock);
            return TS_OK; /* entries live until the cache is freed */
        }
    }
    bool full = c->count >= c->max_entries;
    pthread_rwlock_unlock(&c->lock);

    pcre2_code *code = NULL;
    ts_status st = compile(pat, plen, c->jit && !full, fname, &code, err);
    if (st != TS_OK)
        return st;
    if (full) {
        *out = code;
        *owned = true;
        return TS_OK;
    }
    rx_entry *ne = malloc(sizeof *ne + plen + 1);
    pthread_rwlock_wrlock(&c->lock);
    for (rx_entry *e = c->buckets[b]; e; e = e->next) {
        if (e->hash == h && e->klen == plen && memcmp(e->key, pat, plen) == 0) {
            /* another thread compiled it meanwhile */
            pthread_rwlock_unlock(&c->lock);
            free(ne);
            pcre2_code_free(code);
            *out = e->code;
            return TS_OK;
        }
    }
    if (!ne || c->count >= c->max_entries) {
        pthread_rwlock_unlock(&c->lock);
        free(ne);
        *out = code;
        *owned = true;
        return TS_OK;
    }
    ne->hash = h;
    ne->klen = plen;
    ne->code = code;
    memcpy(ne->key, pat, plen);
    ne->key[plen] = '\0';
    ne->next = c->buckets[b];
    c->buckets[b] = ne;
    c->count++;
    pthread_rwlock_unlock(&c->lock);
    *out = code;
    return TS_OK;
}

/* ---- matching ----------------------------------------------------------------------------- */

/* Go reads each invalid byte as U+FFFD: build that subject and a map back to byte offsets. */
static bool sanitize(const char *s, size_t n, char **out, size_t *outlen, size_t **map)
{
    char *b = malloc(3 * n + 1);
    size_t *m = malloc((3 * n + 1) * sizeof *m);
    if (!b || !m) {
        free(b);
        free(m);
        return false;
    }
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        size_t l = ts_utf8_seq_len((const unsigned char *)s + i, n - i);
        if (l) {
            for (size_t j = 0; j < l; j++) {
                m[k] = i + j;
                b[k++] = s[i + j];
            }
            i += l;
        } else {
            m[k] = i;
            b[k++] = (char)0xEF;
            m[k] = i + 1; /* mid-character offsets never end a match */
            b[k++] = (char)0xBF;
            m[k] = i + 1;
            b[k++] = (char)0xBD;
            i++;
        }
    }
    m[k] = n;
    *out = b;
    *outlen = k;
    *map = m;
    return true;
}

ts_status ts_authz__regex_exec(ts_regex_cache *c, const char *fname, const char *pat, size_t plen,
                               const char *s, size_t slen, bool *match, size_t *caps,
                               size_t max_caps, size_t *ncaps, ts_error *err)
{
    pcre2_code *code = NULL;
    bool owned = false;
    *match = false;
    if (!s)
        s = "";
    if (!pat)
        pat = "";
    ts_status st = get_code(c, pat, plen, fname, &code, &owned, err);
    if (st != TS_OK)
        return st;

    uint32_t capcount = 0;
    (void)pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &capcount);
    if (ncaps)
        *ncaps = capcount;
    pcre2_match_context *mctx = c ? c->mctx : new_match_context();
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
    char *alt = NULL;
    size_t *map = NULL;
    if (!mctx || !md) {
        st = ts_error_set(err, TS_ENOMEM, fname, "%s: out of memory", fname);
        goto done;
    }
    const char *subj = s;
    size_t sl = slen;
    int rc = pcre2_match(code, (PCRE2_SPTR)subj, sl, 0, 0, md, mctx);
    if (rc <= PCRE2_ERROR_UTF8_ERR1 && rc >= PCRE2_ERROR_UTF8_ERR21) {
        if (!sanitize(s, slen, &alt, &sl, &map)) {
            st = ts_error_set(err, TS_ENOMEM, fname, "%s: out of memory", fname);
            goto done;
        }
        subj = alt;
        rc = pcre2_match(code, (PCRE2_SPTR)subj, sl, 0, 0, md, mctx);
    }
    if (rc == PCRE2_ERROR_NOMATCH) {
        st = TS_OK;
    } else if (rc == PCRE2_ERROR_NOMEMORY) {
        st = ts_error_set(err, TS_ENOMEM, fname, "%s: out of memory", fname);
    } else if (rc < 0) {
        PCRE2_UCHAR msg[160];
        if (pcre2_get_error_message(rc, msg, sizeof msg) < 0)
            memcpy(msg, "match failed", 13);
        st = ts_error_set(err, TS_EEVAL, fname, "%s: regular expression `%.*s`: %s", fname,
                          (int)(plen > 120 ? 120 : plen), pat, (const char *)msg);
    } else {
        *match = true;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        uint32_t nov = pcre2_get_ovector_count(md);
        for (size_t g = 1; caps && g <= max_caps; g++) {
            size_t a = TS_REGEX_UNSET, e = TS_REGEX_UNSET;
            if (g < nov && ov[2 * g] != PCRE2_UNSET) {
                a = ov[2 * g];
                e = ov[2 * g + 1];
                if (map) {
                    a = map[a];
                    e = map[e];
                }
            }
            caps[2 * (g - 1)] = a;
            caps[2 * (g - 1) + 1] = e;
        }
        st = TS_OK;
    }
done:
    free(alt);
    free(map);
    pcre2_match_data_free(md);
    if (!c)
        pcre2_match_context_free(mctx);
    if (owned)
        pcre2_code_free(code);
    return st;
}

ts_status ts_authz__regex_search(ts_regex_cache *c, const char *pat, size_t plen, const char *s,
                                 size_t slen, bool *match, ts_error *err)
{
    return ts_authz__regex_exec(c, "regexMatch", pat, plen, s, slen, match, NULL, 0, NULL, err);
}

size_t ts_authz__regex_cache_size(ts_regex_cache *c)
{
    if (!c)
        return 0;
    pthread_rwlock_rdlock(&c->lock);
    size_t n = c->count;
    pthread_rwlock_unlock(&c->lock);
    return n;
}
