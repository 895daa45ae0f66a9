/* Verified-token cache: an entry is the SHA-256 of a verified token, so that no other token
   (two spellings of one signature, the same signature under another payload) can ever share an
   entry, and the cache never holds a bearer token itself (a core dump or a memory disclosure
   gives hashes, as the store's records do); 4-way set-associative with striped locks; an entry
   dies at its exp.

   Cost: the token is hashed once per lookup on the caller's stack, before any lock is taken
   (jose/sha256.c: no allocation, no provider round trip), so threads that present the same
   token never wait for each other's hashing; the set is chosen by the digest mixed with a
   per-cache random seed, and the lock held only to compare 32 bytes per way. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "authn_internal.h"
#include "common/hash.h"
#include "jose/sha256.h"

#define WAYS 4u
#define STRIPES 64u

typedef struct entry {
    bool used;
    unsigned char digest[32]; /* SHA-256 of the whole token */
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

void ts_authn__cache_free(ts_authn__cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; c->e && i < c->nsets * WAYS; i++)
        ts_authn_principal_free(c->e[i].p);
    for (unsigned i = 0; c->stripes && i < STRIPES; i++)
        pthread_mutex_destroy(&c->stripes[i].mu);
    free(c->stripes);
    free(c->e);
    free(c);
}

ts_authn__cache *ts_authn__cache_new(size_t entries)
{
    size_t sets = 1;
    while (sets * WAYS < entries && sets < ((size_t)1 << 24))
        sets <<= 1;
    ts_authn__cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->nsets = sets;
    c->e = calloc(sets * WAYS, sizeof *c->e);
    c->stripes = aligned_alloc(_Alignof(stripe), STRIPES * sizeof *c->stripes);
    if (!c->e || !c->stripes) {
        free(c->stripes);
        c->stripes = NULL;
        ts_authn__cache_free(c);
        return NULL;
    }
    memset(c->stripes, 0, STRIPES * sizeof *c->stripes);
    for (unsigned i = 0; i < STRIPES; i++)
        pthread_mutex_init(&c->stripes[i].mu, NULL);
    /* The seed spreads sets unpredictably; without randomness the spread is still fine. */
    if (RAND_bytes((unsigned char *)&c->seed, sizeof c->seed) != 1)
        c->seed = (uint64_t)(uintptr_t)c ^ (uint64_t)time(NULL);
    return c;
}

/* The set of a digest, mixed with the seed. */
static size_t set_of(const ts_authn__cache *c, const unsigned char d[32])
{
    uint64_t a;
    memcpy(&a, d, sizeof a);
    return (size_t)(ts_common__mix64(a ^ c->seed) & (c->nsets - 1));
}

static bool matches(const entry *e, const unsigned char d[32])
{
    return e->used && memcmp(e->digest, d, 32) == 0;
}

ts_authn_principal *ts_authn__cache_get(ts_authn__cache *c, const char *tok, size_t len,
                                        int64_t now)
{
    unsigned char d[32];
    ts_authn__sha256(tok, len, d);
    size_t s = set_of(c, d);
    stripe *st = &c->stripes[s % STRIPES];
    ts_authn_principal *hit = NULL, *dead = NULL;
    pthread_mutex_lock(&st->mu);
    entry *set = &c->e[s * WAYS];
    for (unsigned w = 0; w < WAYS; w++) {
        if (!matches(&set[w], d))
            continue;
        if (now < set[w].exp) {
            hit = ts_authn_principal_ref(set[w].p);
        } else {
            dead = set[w].p;
            memset(&set[w], 0, sizeof set[w]);
            st->used--;
        }
        break;
    }
    if (hit)
        st->hits++;
    else
        st->misses++;
    pthread_mutex_unlock(&st->mu);
    ts_authn_principal_free(dead);
    return hit;
}

void ts_authn__cache_put(ts_authn__cache *c, const char *tok, size_t len, int64_t now,
                         ts_authn_principal *p)
{
    if (p->exp <= now)
        return;
    unsigned char d[32];
    ts_authn__sha256(tok, len, d);
    size_t s = set_of(c, d);
    stripe *st = &c->stripes[s % STRIPES];
    ts_authn_principal *old = NULL;
    pthread_mutex_lock(&st->mu);
    entry *set = &c->e[s * WAYS];
    /* Victim: same token, else an empty or dead way, else the one expiring first. */
    unsigned victim = 0;
    bool found = false;
    for (unsigned w = 0; w < WAYS && !found; w++)
        if (matches(&set[w], d)) {
            victim = w;
            found = true;
        }
    for (unsigned w = 0; w < WAYS && !found; w++)
        if (!set[w].used || set[w].exp <= now) {
            victim = w;
            found = true;
        }
    if (!found)
        for (unsigned w = 1; w < WAYS; w++)
            if (set[w].exp < set[victim].exp)
                victim = w;
    old = set[victim].p;
    if (!set[victim].used)
        st->used++;
    set[victim].used = true;
    memcpy(set[victim].digest, d, sizeof d);
    set[victim].exp = p->exp;
    set[victim].p = ts_authn_principal_ref(p);
    pthread_mutex_unlock(&st->mu);
    ts_authn_principal_free(old);
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
