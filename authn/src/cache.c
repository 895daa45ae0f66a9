/* Verified-token cache: an entry is found by the exact token bytes, compared in full, so that no
   other token (two spellings of one signature, the same signature under another payload) can
   ever share an entry; 4-way set-associative with striped locks; an entry dies at its exp.

   Why not a SHA-256 of the token as the key: hashing a ~700-byte token was a third of the
   gate's cost per request, while a comparison of the bytes costs a few dozen nanoseconds. The
   set is chosen by a cheap hash of the token's last bytes (its signature, which the client
   cannot choose for a token that verifies: only verified tokens are ever stored), mixed with a
   per-cache random seed; that hash only picks where to look, never decides a hit. The copy of
   a token lives as long as its entry and is wiped when the entry goes; it is never logged. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "authn_internal.h"
#include "common/mem.h"

#define WAYS 4u
#define STRIPES 64u

typedef struct entry {
    char *tok; /* the token's bytes; NULL = empty */
    size_t len;
    int64_t exp;
    ts_authn_principal *p;
} entry;

/* A lock and the counters of the sets it guards, on a cache line of their own: threads that
   look up different tokens never write the same line. */
typedef struct stripe {
    _Alignas(64) pthread_mutex_t mu;
    uint64_t hits, misses;
    size_t used;
} stripe;

struct ts_authn__cache {
    size_t nsets; /* power of two */
    uint64_t seed;
    entry *e; /* nsets * WAYS */
    stripe *stripes;
};

ts_authn__cache *ts_authn__cache_new(size_t entries)
{
    size_t sets = 1;
    while (sets * WAYS < entries && sets < ((size_t)1 << 24))
        sets <<= 1;
    ts_authn__cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->e = calloc(sets * WAYS, sizeof *c->e);
    c->stripes = aligned_alloc(_Alignof(stripe), STRIPES * sizeof *c->stripes);
    if (!c->e || !c->stripes) {
        free(c->e);
        free(c->stripes);
        free(c);
        return NULL;
    }
    memset(c->stripes, 0, STRIPES * sizeof *c->stripes);
    c->nsets = sets;
    /* The seed spreads sets unpredictably; without randomness the spread is still fine. */
    if (RAND_bytes((unsigned char *)&c->seed, sizeof c->seed) != 1)
        c->seed = (uint64_t)(uintptr_t)c ^ (uint64_t)time(NULL);
    for (unsigned i = 0; i < STRIPES; i++)
        pthread_mutex_init(&c->stripes[i].mu, NULL);
    return c;
}

static void entry_clear(entry *e)
{
    if (e->tok) {
        ts_common__memzero(e->tok, e->len);
        free(e->tok);
    }
    e->tok = NULL;
    e->len = 0;
    e->p = NULL;
}

void ts_authn__cache_free(ts_authn__cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nsets * WAYS; i++) {
        ts_authn_principal_free(c->e[i].p);
        entry_clear(&c->e[i]);
    }
    for (unsigned i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&c->stripes[i].mu);
    free(c->stripes);
    free(c->e);
    free(c);
}

/* The set of a token: its length and last 16 bytes (8 when shorter), mixed with the seed. */
static size_t set_of(const ts_authn__cache *c, const char *tok, size_t len)
{
    uint64_t a = 0, b = 0;
    if (len >= 16) {
        memcpy(&a, tok + len - 16, 8);
        memcpy(&b, tok + len - 8, 8);
    } else {
        memcpy(&a, tok, len < 8 ? len : 8);
        if (len > 8)
            memcpy(&b, tok + 8, len - 8);
    }
    uint64_t h = (a ^ c->seed) * 0x9e3779b97f4a7c15u;
    h ^= (b + (uint64_t)len) * 0xc2b2ae3d27d4eb4fu;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9u;
    h ^= h >> 32;
    return (size_t)(h & (c->nsets - 1));
}

static bool same(const entry *e, const char *tok, size_t len)
{
    return e->tok && e->len == len && memcmp(e->tok, tok, len) == 0;
}

ts_authn_principal *ts_authn__cache_get(ts_authn__cache *c, const char *tok, size_t len,
                                        int64_t now)
{
    size_t s = set_of(c, tok, len);
    stripe *st = &c->stripes[s % STRIPES];
    ts_authn_principal *hit = NULL, *dead = NULL;
    char *dead_tok = NULL;
    size_t dead_len = 0;
    pthread_mutex_lock(&st->mu);
    entry *set = &c->e[s * WAYS];
    for (unsigned w = 0; w < WAYS; w++) {
        if (same(&set[w], tok, len)) {
            if (now < set[w].exp) {
                hit = ts_authn_principal_ref(set[w].p);
            } else {
                dead = set[w].p;
                dead_tok = set[w].tok;
                dead_len = set[w].len;
                set[w].tok = NULL;
                set[w].p = NULL;
                st->used--;
            }
            break;
        }
    }
    if (hit)
        st->hits++;
    else
        st->misses++;
    pthread_mutex_unlock(&st->mu);
    ts_authn_principal_free(dead);
    entry gone = {dead_tok, dead_len, 0, NULL};
    entry_clear(&gone);
    return hit;
}

void ts_authn__cache_put(ts_authn__cache *c, const char *tok, size_t len, int64_t now,
                         ts_authn_principal *p)
{
    if (p->exp <= now)
        return;
    /* The copy is made outside the lock; a cache that cannot grow just misses. */
    char *copy = malloc(len ? len : 1);
    if (!copy)
        return;
    memcpy(copy, tok, len);
    size_t s = set_of(c, tok, len);
    stripe *st = &c->stripes[s % STRIPES];
    entry old = {NULL, 0, 0, NULL};
    pthread_mutex_lock(&st->mu);
    entry *set = &c->e[s * WAYS];
    /* Victim: same token, else an empty or dead way, else the one expiring first. */
    unsigned victim = 0;
    bool found = false;
    for (unsigned w = 0; w < WAYS && !found; w++)
        if (same(&set[w], tok, len)) {
            victim = w;
            found = true;
        }
    for (unsigned w = 0; w < WAYS && !found; w++)
        if (!set[w].tok || set[w].exp <= now) {
            victim = w;
            found = true;
        }
    if (!found)
        for (unsigned w = 1; w < WAYS; w++)
            if (set[w].exp < set[victim].exp)
                victim = w;
    old = set[victim];
    if (!old.tok)
        st->used++;
    set[victim].tok = copy;
    set[victim].len = len;
    set[victim].exp = p->exp;
    set[victim].p = ts_authn_principal_ref(p);
    pthread_mutex_unlock(&st->mu);
    ts_authn_principal_free(old.p);
    entry_clear(&old);
}

void ts_authn__cache_stats(const ts_authn__cache *cc, uint64_t *hits, uint64_t *misses,
                           size_t *entries)
{
    ts_authn__cache *c = (ts_authn__cache *)(uintptr_t)cc; /* the locks are not state */
    uint64_t h = 0, m = 0;
    size_t u = 0;
    for (unsigned i = 0; c && i < STRIPES; i++) {
        pthread_mutex_lock(&c->stripes[i].mu);
        h += c->stripes[i].hits;
        m += c->stripes[i].misses;
        u += c->stripes[i].used;
        pthread_mutex_unlock(&c->stripes[i].mu);
    }
    if (hits)
        *hits = h;
    if (misses)
        *misses = m;
    if (entries)
        *entries = u;
}
