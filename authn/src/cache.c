/* Verified-token cache: keyed by SHA-256 of the token bytes, so two spellings of one signature
   never share an entry; 4-way set-associative with striped locks; an entry dies at its exp. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "authn_internal.h"

#define WAYS 4u
#define STRIPES 64u

typedef struct entry {
    unsigned char hash[32];
    int64_t exp;
    ts_authn_principal *p; /* NULL = empty */
} entry;

struct ts_authn__cache {
    size_t nsets; /* power of two */
    entry *e;     /* nsets * WAYS */
    pthread_mutex_t locks[STRIPES];
    atomic_uint_fast64_t hits, misses;
    atomic_size_t used;
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
    if (!c->e) {
        free(c);
        return NULL;
    }
    c->nsets = sets;
    for (unsigned i = 0; i < STRIPES; i++)
        pthread_mutex_init(&c->locks[i], NULL);
    atomic_init(&c->hits, 0);
    atomic_init(&c->misses, 0);
    atomic_init(&c->used, 0);
    return c;
}

void ts_authn__cache_free(ts_authn__cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nsets * WAYS; i++)
        ts_authn_principal_free(c->e[i].p);
    for (unsigned i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&c->locks[i]);
    free(c->e);
    free(c);
}

static size_t set_of(const ts_authn__cache *c, const unsigned char h[32])
{
    uint64_t v;
    memcpy(&v, h, sizeof v);
    return (size_t)(v & (c->nsets - 1));
}

ts_authn_principal *ts_authn__cache_get(ts_authn__cache *c, const unsigned char hash[32],
                                        int64_t now)
{
    size_t s = set_of(c, hash);
    pthread_mutex_t *mu = &c->locks[s % STRIPES];
    ts_authn_principal *hit = NULL, *dead = NULL;
    pthread_mutex_lock(mu);
    entry *set = &c->e[s * WAYS];
    for (unsigned w = 0; w < WAYS; w++) {
        if (set[w].p && memcmp(set[w].hash, hash, 32) == 0) {
            if (now < set[w].exp) {
                hit = ts_authn_principal_ref(set[w].p);
            } else {
                dead = set[w].p;
                set[w].p = NULL;
                atomic_fetch_sub(&c->used, 1);
            }
            break;
        }
    }
    pthread_mutex_unlock(mu);
    ts_authn_principal_free(dead);
    atomic_fetch_add_explicit(hit ? &c->hits : &c->misses, 1, memory_order_relaxed);
    return hit;
}

void ts_authn__cache_put(ts_authn__cache *c, const unsigned char hash[32], int64_t now,
                         ts_authn_principal *p)
{
    if (p->exp <= now)
        return;
    size_t s = set_of(c, hash);
    pthread_mutex_t *mu = &c->locks[s % STRIPES];
    ts_authn_principal *old = NULL;
    pthread_mutex_lock(mu);
    entry *set = &c->e[s * WAYS];
    /* Victim: same token, else an empty or dead way, else the one expiring first. */
    unsigned victim = 0;
    bool found = false;
    for (unsigned w = 0; w < WAYS && !found; w++)
        if (set[w].p && memcmp(set[w].hash, hash, 32) == 0) {
            victim = w;
            found = true;
        }
    for (unsigned w = 0; w < WAYS && !found; w++)
        if (!set[w].p || set[w].exp <= now) {
            victim = w;
            found = true;
        }
    if (!found)
        for (unsigned w = 1; w < WAYS; w++)
            if (set[w].exp < set[victim].exp)
                victim = w;
    old = set[victim].p;
    if (!old)
        atomic_fetch_add(&c->used, 1);
    memcpy(set[victim].hash, hash, 32);
    set[victim].exp = p->exp;
    set[victim].p = ts_authn_principal_ref(p);
    pthread_mutex_unlock(mu);
    ts_authn_principal_free(old);
}

void ts_authn__cache_stats(const ts_authn__cache *c, uint64_t *hits, uint64_t *misses,
                           size_t *entries)
{
    if (hits)
        *hits = c ? atomic_load(&c->hits) : 0;
    if (misses)
        *misses = c ? atomic_load(&c->misses) : 0;
    if (entries)
        *entries = c ? atomic_load(&c->used) : 0;
}
