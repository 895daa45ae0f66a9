/*
 * Decision cache: a bounded LRU from a key (every input of a decision, policy_version
 * included) to a result. One mutex: a hit is a hash probe and two list splices, far below the
 * cost of the engine call it saves. A new policy_version changes every key, so entries of an
 * old policy are never returned and age out.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "contract/contract.h"
#include "util/str.h"

typedef struct entry {
    struct entry *prev, *next; /* LRU list, most recent first */
    struct entry *chain;       /* hash bucket chain */
    uint64_t hash;
    ts_authz_verdict decision;
    const char *reason;
    char rule[256];
    char subject[TS_AUTHZ_HTTP_MAX_NAME + 16];
    size_t klen;
    char *key; /* klen bytes, allocated with the entry */
} entry;

struct ts_decision_cache {
    pthread_mutex_t lock;
    entry **buckets;
    size_t nbuckets, n, cap;
    entry head; /* sentinel of the LRU list */
    uint64_t hits, misses;
};

ts_decision_cache *ts_authz__cache_new(size_t capacity)
{
    ts_decision_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->nbuckets = 16;
    while (c->nbuckets < capacity * 2)
        c->nbuckets *= 2;
    c->buckets = calloc(c->nbuckets, sizeof *c->buckets);
    if (!c->buckets) {
        free(c);
        return NULL;
    }
    c->cap = capacity;
    c->head.prev = c->head.next = &c->head;
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

void ts_authz__cache_free(ts_decision_cache *c)
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

static void push_front(ts_decision_cache *c, entry *e)
{
    e->next = c->head.next;
    e->prev = &c->head;
    c->head.next->prev = e;
    c->head.next = e;
}

static entry **find_slot(ts_decision_cache *c, uint64_t h, const char *key, size_t klen)
{
    entry **pp = &c->buckets[h & (c->nbuckets - 1)];
    while (*pp && !((*pp)->hash == h && (*pp)->klen == klen && memcmp((*pp)->key, key, klen) == 0))
        pp = &(*pp)->chain;
    return pp;
}

bool ts_authz__cache_get(ts_decision_cache *c, const char *key, size_t klen, ts_authz_result *out)
{
    uint64_t h = ts_str_hash(key, klen);
    pthread_mutex_lock(&c->lock);
    entry *e = *find_slot(c, h, key, klen);
    if (e) {
        unlink_lru(e);
        push_front(c, e);
        out->decision = e->decision;
        out->reason = e->reason;
        memcpy(out->rule, e->rule, sizeof out->rule);
        memcpy(out->subject, e->subject, sizeof out->subject);
        c->hits++;
    } else {
        c->misses++;
    }
    pthread_mutex_unlock(&c->lock);
    return e != NULL;
}

void ts_authz__cache_put(ts_decision_cache *c, const char *key, size_t klen,
                         const ts_authz_result *r)
{
    if (c->cap == 0)
        return;
    uint64_t h = ts_str_hash(key, klen);
    entry *n = malloc(sizeof *n + klen);
    if (!n)
        return; /* a cache that cannot grow just misses */
    n->hash = h;
    n->decision = r->decision;
    n->reason = r->reason;
    memcpy(n->rule, r->rule, sizeof n->rule);
    memcpy(n->subject, r->subject, sizeof n->subject);
    n->klen = klen;
    n->key = (char *)(n + 1);
    memcpy(n->key, key, klen);
    n->chain = NULL;
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
        entry **pp = find_slot(c, old->hash, old->key, old->klen);
        *pp = old->chain;
        c->n--;
        free(old);
    }
    pthread_mutex_unlock(&c->lock);
}

void ts_authz__cache_counts(ts_decision_cache *c, uint64_t *hits, uint64_t *misses)
{
    pthread_mutex_lock(&c->lock);
    *hits = c->hits;
    *misses = c->misses;
    pthread_mutex_unlock(&c->lock);
}
