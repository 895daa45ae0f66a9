/*
 * A bounded LRU map: a chained hash table over the entries and a doubly linked list in order
 * of use. One mutex: a hit is a hash probe, at most two list splices and a copy, far below the
 * cost of the engine call the decision cache saves. The hash is computed before the lock is
 * taken, eight bytes at a time, and seeded per map: keys hold request fields (paths, names),
 * and a fixed hash would let a client pick keys that share one chain.
 */
#define _POSIX_C_SOURCE 200809L
#include "util/lru.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/hash.h"

typedef struct entry {
    struct entry *prev, *next; /* LRU list, most recent first */
    struct entry *chain;       /* hash bucket chain */
    uint64_t hash;
    size_t klen;
    /* followed by value_size bytes of value, then klen bytes of key */
} entry;

struct ts_lru {
    pthread_mutex_t lock;
    entry **buckets;
    size_t nbuckets, n, cap, value_size;
    uint64_t seed;
    entry head; /* sentinel of the LRU list */
    uint64_t hits, misses;
};

/* Eight bytes a step (a multiply and a shift each), then the finaliser. */
static uint64_t key_hash(const ts_lru *c, const void *key, size_t n)
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

static unsigned char *value_of(entry *e)
{
    return (unsigned char *)(e + 1);
}

static unsigned char *key_of(const ts_lru *c, entry *e)
{
    return value_of(e) + c->value_size;
}

ts_lru *ts_authz__lru_new(size_t capacity, size_t value_size)
{
    ts_lru *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->nbuckets = 16;
    while (c->nbuckets < capacity * 2 && c->nbuckets < ((size_t)1 << 30))
        c->nbuckets *= 2;
    c->buckets = calloc(c->nbuckets, sizeof *c->buckets);
    if (!c->buckets) {
        free(c);
        return NULL;
    }
    c->cap = capacity;
    c->value_size = value_size;
    /* Unpredictable enough for bucketing: the map's address (ASLR) and the clock. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    c->seed = ts_common__mix64((uint64_t)(uintptr_t)c ^
                               ts_common__mix64((uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 32));
    c->head.prev = c->head.next = &c->head;
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

void ts_authz__lru_free(ts_lru *c)
{
    if (!c)
        return;
    for (entry *e = c->head.next; e != &c->head;) {
        entry *next = e->next;
        free(e);
        e = next;
    }
    free(c->buckets);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static void unlink_lru(entry *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
}

static void push_front(ts_lru *c, entry *e)
{
    e->next = c->head.next;
    e->prev = &c->head;
    c->head.next->prev = e;
    c->head.next = e;
}

static entry **find_slot(ts_lru *c, uint64_t h, const void *key, size_t klen)
{
    entry **pp = &c->buckets[h & (c->nbuckets - 1)];
    while (*pp &&
           !((*pp)->hash == h && (*pp)->klen == klen && memcmp(key_of(c, *pp), key, klen) == 0))
        pp = &(*pp)->chain;
    return pp;
}

bool ts_authz__lru_get(ts_lru *c, const void *key, size_t klen, void *value)
{
    uint64_t h = key_hash(c, key, klen);
    pthread_mutex_lock(&c->lock);
    entry *e = *find_slot(c, h, key, klen);
    if (e) {
        if (c->head.next != e) { /* a hot entry is already first: no list writes */
            unlink_lru(e);
            push_front(c, e);
        }
        memcpy(value, value_of(e), c->value_size);
        c->hits++;
    } else {
        c->misses++;
    }
    pthread_mutex_unlock(&c->lock);
    return e != NULL;
}

void ts_authz__lru_put(ts_lru *c, const void *key, size_t klen, const void *value)
{
    if (c->cap == 0)
        return;
    uint64_t h = key_hash(c, key, klen);
    entry *n = malloc(sizeof *n + c->value_size + klen);
    if (!n)
        return; /* a cache that cannot grow just misses */
    n->hash = h;
    n->klen = klen;
    n->chain = NULL;
    memcpy(value_of(n), value, c->value_size);
    memcpy(key_of(c, n), key, klen);
    pthread_mutex_lock(&c->lock);
    entry **slot = find_slot(c, h, key, klen);
    if (*slot) { /* another thread stored it first */
        pthread_mutex_unlock(&c->lock);
        free(n);
        return;
    }
    *slot = n;
    push_front(c, n);
    if (++c->n > c->cap) {
        entry *old = c->head.prev;
        unlink_lru(old);
        entry **pp = find_slot(c, old->hash, key_of(c, old), old->klen);
        *pp = old->chain;
        c->n--;
        free(old);
    }
    pthread_mutex_unlock(&c->lock);
}

void ts_authz__lru_counts(ts_lru *c, uint64_t *hits, uint64_t *misses)
{
    pthread_mutex_lock(&c->lock);
    *hits = c->hits;
    *misses = c->misses;
    pthread_mutex_unlock(&c->lock);
}
