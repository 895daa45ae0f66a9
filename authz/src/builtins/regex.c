/* Go (RE2) regular expressions on top of PCRE2: the per-snapshot cache of compiled code and
 * matching.
 *
 * Go's regexp is linear-time; PCRE2 backtracks. Every match therefore runs under a match,
 * depth and heap limit, and hitting one is an evaluation error rather than a slow decision.
 *
 * Patterns are rewritten before compiling so that RE2 syntax keeps its RE2 meaning (see
 * regex_compile.c). Matching is in UTF-8 mode, as Go's. A subject that is not valid UTF-8 is
 * matched as Go does: each invalid byte is read as U+FFFD (offsets are mapped back to the
 * original bytes). */
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

/* ---- lookup ----------------------------------------------------------------------------- */

/* Find or compile @p pat. *owned tells the caller to free the code after use. */
static ts_status get_code(ts_regex_cache *c, const char *pat, size_t plen, const char *fname,
                          pcre2_code **out, bool *owned, ts_error *err)
{
    *owned = false;
    if (!c) {
        *owned = true;
        return ts_authz__regex_compile(pat, plen, false, fname, out, err);
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
    ts_status st = ts_authz__regex_compile(pat, plen, c->jit && !full, fname, &code, err);
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
