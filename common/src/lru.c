/*
 * A bounded LRU map: a chained hash table over the entries and a doubly linked list in order
 * of use, per shard. A hit is a hash probe, at most two list splices and a copy under the
 * shard's mutex, far below the cost of the work a cache saves (an engine call, a signature). A
 * map of at least LRU_SHARDS * LRU_MIN_PER_SHARD entries is split into LRU_SHARDS shards by the
 * key's hash, each with its own lock, list and share of the capacity (so its order of eviction
 * is least recently used within a shard); smaller maps are one shard, exactly LRU. The hash is
 * computed before the lock is taken, eight bytes at a time, and seeded per map: keys hold request
 * fields (paths, names), and a fixed hash would let a client pick keys that share one chain.
 * Entries leave the map under the lock but are wiped and freed after it is released.
 */
#define _POSIX_C_SOURCE 200809L
#include "common/lru.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/hash.h"
#include "common/mem.h"

#define LRU_SHARDS 16u
#define LRU_MIN_PER_SHARD 64u

typedef struct entry {
    struct entry *prev, *next; /* LRU list, most recent first */
    struct entry *chain;       /* hash bucket chain */
    uint64_t hash;
    size_t klen;
    /* followed by value_size bytes of value, then klen bytes of key */
} entry;

/* One lock's worth of the map, on cache lines of its own. */
typedef struct shard {
    _Alignas(64) pthread_mutex_t lock;
    entry **buckets;
    size_t nbuckets, n, cap;
    entry head; /* sentinel of the LRU list */
    uint64_t hits, misses;
} shard;

struct ts_common__lru {
    size_t value_size;
    size_t max_klen; /* longer keys would overflow an entry's size: never stored */
    bool wipe;
    uint64_t seed;
    unsigned nshards; /* a power of two */
    shard *shards;
};

/* Eight bytes a step (a multiply and a shift each), then the finaliser. */
static uint64_t key_hash(const ts_common__lru *c, const void *key, size_t n)
{
    const unsigned char *p = key;
    uint64_t h = c->seed ^ ((uint64_t)n * 0x9e3779b97f4a7c15u);
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15u;
        h ^= h >> 29;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    return ts_common__mix64(h ^ w);
}

/* The shard of a hash: its top bits (buckets use the low ones). */
static shard *shard_of(const ts_common__lru *c, uint64_t h)
{
    return &c->shards[(h >> 48) & (c->nshards - 1)];
}

static unsigned char *value_of(entry *e)
{
    return (unsigned char *)(e + 1);
}

static unsigned char *key_of(const ts_common__lru *c, entry *e)
{
    return value_of(e) + c->value_size;
}

/* Free an entry that is no longer reachable (or never was), wiped first if the map says so. */
static void discard(const ts_common__lru *c, entry *e)
{
    if (!e)
        return;
    if (c->wipe)
        ts_common__memzero(value_of(e), c->value_size + e->klen);
    free(e);
}

ts_common__lru *ts_common__lru_new(size_t capacity, size_t value_size, unsigned flags)
{
    if (value_size > SIZE_MAX - sizeof(entry))
        return NULL;
    ts_common__lru *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    /* Small maps keep exact LRU order under one lock; large ones are split so that threads
     * deciding different requests rarely take the same lock. */
    c->nshards = capacity >= (size_t)LRU_SHARDS * LRU_MIN_PER_SHARD ? LRU_SHARDS : 1;
    c->value_size = value_size;
    c->max_klen = SIZE_MAX - sizeof(entry) - value_size;
    c->wipe = (flags & TS_COMMON__LRU_WIPE) != 0;
    c->shards = aligned_alloc(_Alignof(shard), c->nshards * sizeof *c->shards);
    if (!c->shards) {
        free(c);
        return NULL;
    }
    memset(c->shards, 0, c->nshards * sizeof *c->shards);
    for (unsigned i = 0; i < c->nshards; i++) {
        shard *sh = &c->shards[i];
        /* The shards' capacities add up to exactly @p capacity. */
        sh->cap = capacity / c->nshards + (i < capacity % c->nshards);
        sh->nbuckets = 16;
        while (sh->nbuckets < sh->cap * 2 && sh->nbuckets < ((size_t)1 << 30))
            sh->nbuckets *= 2;
        sh->head.prev = sh->head.next = &sh->head;
        pthread_mutex_init(&sh->lock, NULL);
        if (!(sh->buckets = calloc(sh->nbuckets, sizeof *sh->buckets))) {
            c->nshards = i + 1; /* free what exists */
            ts_common__lru_free(c);
            return NULL;
        }
    }
    /* Unpredictable enough for bucketing: the map's address (ASLR) and the clock. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    c->seed = ts_common__mix64((uint64_t)(uintptr_t)c ^
                               ts_common__mix64((uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 32));
    return c;
}

void ts_common__lru_free(ts_common__lru *c)
{
    if (!c)
        return;
    for (unsigned i = 0; i < c->nshards; i++) {
        shard *sh = &c->shards[i];
        for (entry *e = sh->head.next; e && e != &sh->head;) {
            entry *next = e->next;
            discard(c, e);
            e = next;
        }
        free(sh->buckets);
        pthread_mutex_destroy(&sh->lock);
    }
    free(c->shards);
    free(c);
}

void ts_common__lru_clear(ts_common__lru *c)
{
    for (unsigned i = 0; i < c->nshards; i++) {
        shard *sh = &c->shards[i];
        pthread_mutex_lock(&sh->lock);
        entry *e = sh->head.next;
        sh->head.prev = sh->head.next = &sh->head;
        memset(sh->buckets, 0, sh->nbuckets * sizeof *sh->buckets);
        sh->n = 0;
        pthread_mutex_unlock(&sh->lock);
        /* The detached list is this thread's alone now: freed (and wiped) outside the lock. */
        while (e != &sh->head) {
            entry *next = e->next;
            discard(c, e);
            e = next;
        }
    }
}

static void unlink_lru(entry *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
}

static void push_front(shard *sh, entry *e)
{
    e->next = sh->head.next;
    e->prev = &sh->head;
    sh->head.next->prev = e;
    sh->head.next = e;
}

static entry **find_slot(const ts_common__lru *c, shard *sh, uint64_t h, const void *key,
                         size_t klen)
{
    entry **pp = &sh->buckets[h & (sh->nbuckets - 1)];
    while (*pp &&
           !((*pp)->hash == h && (*pp)->klen == klen && memcmp(key_of(c, *pp), key, klen) == 0))
        pp = &(*pp)->chain;
    return pp;
}

bool ts_common__lru_get(ts_common__lru *c, const void *key, size_t klen, void *value)
{
    uint64_t h = key_hash(c, key, klen);
    shard *sh = shard_of(c, h);
    pthread_mutex_lock(&sh->lock);
    entry *e = *find_slot(c, sh, h, key, klen);
    if (e) {
        if (sh->head.next != e) { /* a hot entry is already first: no list writes */
            unlink_lru(e);
            push_front(sh, e);
        }
        memcpy(value, value_of(e), c->value_size);
        sh->hits++;
    } else {
        sh->misses++;
    }
    pthread_mutex_unlock(&sh->lock);
    return e != NULL;
}

/* Put or replace. The new entry is built before the lock is taken; whatever is left over (the
 * unused new entry, or the evicted one) is discarded after it is released. A replaced value is
 * overwritten in place, so that no allocation is needed to get rid of a stale one. */
static void store(ts_common__lru *c, const void *key, size_t klen, const void *value, bool replace)
{
    if (klen > c->max_klen)
        return; /* no such key fits in memory */
    uint64_t h = key_hash(c, key, klen);
    shard *sh = shard_of(c, h);
    if (sh->cap == 0)
        return;
    entry *n = malloc(sizeof *n + c->value_size + klen);
    if (n) {
        n->hash = h;
        n->klen = klen;
        n->chain = NULL;
        memcpy(value_of(n), value, c->value_size);
        memcpy(key_of(c, n), key, klen);
    } else if (!replace) {
        return; /* a cache that cannot grow just misses */
    }
    entry *left = n;
    pthread_mutex_lock(&sh->lock);
    entry **slot = find_slot(c, sh, h, key, klen);
    if (*slot) { /* present (perhaps another thread stored it first) */
        if (replace) {
            memcpy(value_of(*slot), value, c->value_size);
            if (sh->head.next != *slot) {
                unlink_lru(*slot);
                push_front(sh, *slot);
            }
        }
    } else if (n) {
        *slot = n;
        push_front(sh, n);
        left = NULL;
        if (++sh->n > sh->cap) {
            entry *old = sh->head.prev;
            unlink_lru(old);
            entry **pp = find_slot(c, sh, old->hash, key_of(c, old), old->klen);
            *pp = old->chain;
            sh->n--;
            left = old;
        }
    }
    pthread_mutex_unlock(&sh->lock);
    discard(c, left);
}

void ts_common__lru_put(ts_common__lru *c, const void *key, size_t klen, const void *value)
{
    store(c, key, klen, value, false);
}

void ts_common__lru_replace(ts_common__lru *c, const void *key, size_t klen, const void *value)
{
    store(c, key, klen, value, true);
}

void ts_common__lru_counts(ts_common__lru *c, uint64_t *hits, uint64_t *misses)
{
    *hits = *misses = 0;
    for (unsigned i = 0; i < c->nshards; i++) {
        shard *sh = &c->shards[i];
        pthread_mutex_lock(&sh->lock);
        *hits += sh->hits;
        *misses += sh->misses;
        pthread_mutex_unlock(&sh->lock);
    }
}
