/* Verified-token cache: an entry is the SHA-256 of a verified token, so that no other token
   (two spellings of one signature, the same signature under another payload) can ever share an
   entry, and the cache never holds a bearer token itself (a core dump or a memory disclosure
   gives hashes, as the store's records do); 4-way set-associative with striped locks; an entry
   dies at its exp.

   Cost: the set is chosen by a cheap seeded hash of the token's length and last 16 bytes (its
   signature, which a client cannot choose for a token that verifies: only verified tokens are
   stored), and each entry keeps that tail too. A token whose tail and length match no entry of
   its set is a miss without hashing; otherwise its SHA-256 is taken with the stripe's own
   digest context, reused under the stripe's lock (no allocation per request), and decides. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "authn_internal.h"

#define WAYS 4u
#define STRIPES 64u
#define TAIL 16u

typedef struct entry {
    bool used;
    size_t len;
    unsigned char tail[TAIL]; /* the token's last bytes (all of it when shorter), zero-padded */
    unsigned char digest[32]; /* SHA-256 of the whole token */
    int64_t exp;
    ts_authn_principal *p;
} entry;

/* A lock, the digest context it guards and the counters of the sets it guards, on cache lines
   of their own: threads that look up different tokens never write the same line. */
typedef struct stripe {
    _Alignas(64) pthread_mutex_t mu;
    EVP_MD_CTX *md;
    uint64_t hits, misses;
    size_t used;
} stripe;

struct ts_authn__cache {
    size_t nsets; /* power of two */
    uint64_t seed;
    EVP_MD *sha256;
    entry *e; /* nsets * WAYS */
    stripe *stripes;
};

void ts_authn__cache_free(ts_authn__cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; c->e && i < c->nsets * WAYS; i++)
        ts_authn_principal_free(c->e[i].p);
    for (unsigned i = 0; c->stripes && i < STRIPES; i++) {
        EVP_MD_CTX_free(c->stripes[i].md);
        pthread_mutex_destroy(&c->stripes[i].mu);
    }
    EVP_MD_free(c->sha256);
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
    if (c->stripes) {
        memset(c->stripes, 0, STRIPES * sizeof *c->stripes);
        for (unsigned i = 0; i < STRIPES; i++)
            pthread_mutex_init(&c->stripes[i].mu, NULL);
    }
    c->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    bool ok = c->e && c->stripes && c->sha256;
    for (unsigned i = 0; ok && i < STRIPES; i++)
        ok = (c->stripes[i].md = EVP_MD_CTX_new()) != NULL;
    if (!ok) {
        ts_authn__cache_free(c);
        return NULL;
    }
    /* The seed spreads sets unpredictably; without randomness the spread is still fine. */
    if (RAND_bytes((unsigned char *)&c->seed, sizeof c->seed) != 1)
        c->seed = (uint64_t)(uintptr_t)c ^ (uint64_t)time(NULL);
    return c;
}

/* The token's last TAIL bytes (all of it when shorter), zero-padded. */
static void tail_of(const char *tok, size_t len, unsigned char out[TAIL])
{
    memset(out, 0, TAIL);
    size_t n = len < TAIL ? len : TAIL;
    memcpy(out, tok + len - n, n);
}

/* The set of a token: its length and tail, mixed with the seed. */
static size_t set_of(const ts_authn__cache *c, size_t len, const unsigned char tail[TAIL])
{
    uint64_t a, b;
    memcpy(&a, tail, 8);
    memcpy(&b, tail + 8, 8);
    uint64_t h = (a ^ c->seed) * 0x9e3779b97f4a7c15u;
    h ^= (b + (uint64_t)len) * 0xc2b2ae3d27d4eb4fu;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9u;
    h ^= h >> 32;
    return (size_t)(h & (c->nsets - 1));
}

/* SHA-256 of @p tok with the stripe's context (its lock held). */
static bool digest_of(const ts_authn__cache *c, stripe *st, const char *tok, size_t len,
                      unsigned char out[32])
{
    unsigned int n = 0;
    return EVP_DigestInit_ex2(st->md, c->sha256, NULL) == 1 &&
           EVP_DigestUpdate(st->md, tok, len) == 1 && EVP_DigestFinal_ex(st->md, out, &n) == 1 &&
           n == 32;
}

static bool may_match(const entry *e, size_t len, const unsigned char tail[TAIL])
{
    return e->used && e->len == len && memcmp(e->tail, tail, TAIL) == 0;
}

ts_authn_principal *ts_authn__cache_get(ts_authn__cache *c, const char *tok, size_t len,
                                        int64_t now)
{
    unsigned char tail[TAIL], d[32];
    tail_of(tok, len, tail);
    size_t s = set_of(c, len, tail);
    stripe *st = &c->stripes[s % STRIPES];
    ts_authn_principal *hit = NULL, *dead = NULL;
    bool hashed = false;
    pthread_mutex_lock(&st->mu);
    entry *set = &c->e[s * WAYS];
    for (unsigned w = 0; w < WAYS; w++) {
        if (!may_match(&set[w], len, tail))
            continue;
        if (!hashed && !(hashed = digest_of(c, st, tok, len, d)))
            break; /* cannot hash now: a miss */
        if (memcmp(set[w].digest, d, sizeof d) != 0)
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
    unsigned char tail[TAIL], d[32];
    tail_of(tok, len, tail);
    size_t s = set_of(c, len, tail);
    stripe *st = &c->stripes[s % STRIPES];
    ts_authn_principal *old = NULL;
    pthread_mutex_lock(&st->mu);
    if (!digest_of(c, st, tok, len, d)) {
        pthread_mutex_unlock(&st->mu); /* a cache that cannot hash just misses */
        return;
    }
    entry *set = &c->e[s * WAYS];
    /* Victim: same token, else an empty or dead way, else the one expiring first. */
    unsigned victim = 0;
    bool found = false;
    for (unsigned w = 0; w < WAYS && !found; w++)
        if (may_match(&set[w], len, tail) && memcmp(set[w].digest, d, sizeof d) == 0) {
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
    set[victim].len = len;
    memcpy(set[victim].tail, tail, TAIL);
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
