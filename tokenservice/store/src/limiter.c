/* Failed-attempt limiter: per-key sliding window of failure times in a hash table with
 * chaining, keyed by SipHash-2-4 under a random key (peers choose their addresses, so bucket
 * placement must not be predictable), plus two recency lists, one of unblocked and one of
 * blocked keys, for pruning and eviction.
 *
 * Eviction prefers unblocked keys: otherwise an attacker with many addresses could fill the
 * table with fresh keys and push out the key that blocks it. A blocked key goes only when
 * every key is blocked, which takes max_keys * max_failures failures within one window. Keys
 * are mapped by ts_store_limiter_key() first (IPv6 by /64). */
#include "store_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

/* store_limiter.h spells the key limit out, since it does not include store.h. */
_Static_assert(TS_STORE_LIMITER_KEY_MAX == TS_STORE_MAX_PEER_LEN, "limiter key = peer length");

typedef struct entry {
    struct entry *next_in_bucket;
    struct entry *newer, *older; /* recency list of its kind: head = most recent failure */
    bool on_blocked;             /* which list: blocked when it was last counted */
    uint64_t hash;
    uint64_t last_ms; /* newest failure */
    unsigned n;       /* failures stored (<= max_failures) */
    unsigned head;    /* ring index of the oldest stored failure */
    size_t key_len;
    uint64_t *times; /* ring of max_failures timestamps, follows the key in memory */
    char key[];
} entry;

struct ts_store_limiter {
    pthread_mutex_t mu;
    unsigned max_failures;
    uint64_t window_ms;
    size_t max_keys;
    uint64_t sip_k0, sip_k1;
    entry **buckets;
    size_t n_buckets; /* power of two */
    size_t n_keys;
    entry *newest[2], *oldest[2]; /* [0]: unblocked keys, [1]: blocked keys */
};

/* Blocked keys whose block may have lapsed are looked at, oldest first, before a blocked key
 * is evicted; bounded so that eviction stays cheap whatever the table holds. */
#define LAPSED_SCAN 64

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = ROTL(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = ROTL(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = ROTL(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = ROTL(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = ROTL(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = ROTL(v2, 32);                                                                         \
    } while (0)

static uint64_t siphash(uint64_t k0, uint64_t k1, const unsigned char *in, size_t len)
{
    uint64_t v0 = k0 ^ UINT64_C(0x736f6d6570736575), v1 = k1 ^ UINT64_C(0x646f72616e646f6d);
    uint64_t v2 = k0 ^ UINT64_C(0x6c7967656e657261), v3 = k1 ^ UINT64_C(0x7465646279746573);
    uint64_t b = (uint64_t)len << 56;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t m = 0;
        for (int k = 7; k >= 0; k--)
            m = (m << 8) | in[i + (size_t)k];
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    for (size_t k = 0; i + k < len; k++)
        b |= (uint64_t)in[i + k] << (8 * k);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

ts_store_limiter *ts_store_limiter_new(const ts_store_limiter_options *opt, ts_error *err)
{
    if (!opt || opt->version != TS_STORE_LIMITER_OPTIONS_VERSION) {
        ts_error_set(err, TS_EINVAL, "limiter options", "options missing or of another version");
        return NULL;
    }
    if (opt->max_failures < 1 || opt->max_failures > 1000 || opt->window_ms < 1 ||
        opt->window_ms > UINT64_C(86400000) || opt->max_keys < 1 ||
        opt->max_keys > ((size_t)1 << 24)) {
        ts_error_set(err, TS_EINVAL, "limiter options",
                     "need 1..1000 failures, a 1 ms..1 day window and 1..16777216 keys");
        return NULL;
    }
    ts_store_limiter *l = calloc(1, sizeof *l);
    if (!l) {
        ts_error_set(err, TS_ENOMEM, "ts_store_limiter_new", "out of memory");
        return NULL;
    }
    l->max_failures = opt->max_failures;
    l->window_ms = opt->window_ms;
    l->max_keys = opt->max_keys;
    l->n_buckets = 16;
    while (l->n_buckets < opt->max_keys && l->n_buckets < ((size_t)1 << 20))
        l->n_buckets <<= 1;
    l->buckets = calloc(l->n_buckets, sizeof *l->buckets);
    unsigned char seed[16];
    if (!l->buckets || RAND_bytes(seed, sizeof seed) != 1) {
        free(l->buckets);
        free(l);
        ts_error_set(err, TS_ENOMEM, "ts_store_limiter_new", "out of memory or no randomness");
        return NULL;
    }
    memcpy(&l->sip_k0, seed, 8);
    memcpy(&l->sip_k1, seed + 8, 8);
    pthread_mutex_init(&l->mu, NULL);
    return l;
}

void ts_store_limiter_free(ts_store_limiter *l)
{
    if (!l)
        return;
    for (int k = 0; k < 2; k++)
        for (entry *e = l->newest[k]; e;) {
            entry *next = e->older;
            free(e);
            e = next;
        }
    free(l->buckets);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

static void list_unlink(ts_store_limiter *l, entry *e)
{
    int k = e->on_blocked;
    if (e->newer)
        e->newer->older = e->older;
    else
        l->newest[k] = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        l->oldest[k] = e->newer;
    e->newer = e->older = NULL;
}

static void list_push_newest(ts_store_limiter *l, entry *e, bool blocked)
{
    int k = blocked;
    e->on_blocked = blocked;
    e->older = l->newest[k];
    e->newer = NULL;
    if (l->newest[k])
        l->newest[k]->newer = e;
    l->newest[k] = e;
    if (!l->oldest[k])
        l->oldest[k] = e;
}

static void remove_entry(ts_store_limiter *l, entry *e)
{
    entry **pp = &l->buckets[e->hash & (l->n_buckets - 1)];
    while (*pp != e)
        pp = &(*pp)->next_in_bucket;
    *pp = e->next_in_bucket;
    list_unlink(l, e);
    l->n_keys--;
    free(e);
}

static bool in_window(const ts_store_limiter *l, uint64_t t, uint64_t now)
{
    return now < t || now - t < l->window_ms;
}

/* Keys whose newest failure has left the window carry no information: drop them. The lists
 * are ordered by newest failure, so only their tails need looking at. */
static void prune_idle(ts_store_limiter *l, uint64_t now)
{
    for (int k = 0; k < 2; k++)
        while (l->oldest[k] && !in_window(l, l->oldest[k]->last_ms, now))
            remove_entry(l, l->oldest[k]);
}

static entry *find(ts_store_limiter *l, const char *key, size_t len, uint64_t h)
{
    for (entry *e = l->buckets[h & (l->n_buckets - 1)]; e; e = e->next_in_bucket)
        if (e->hash == h && e->key_len == len && memcmp(e->key, key, len) == 0)
            return e;
    return NULL;
}

/* Drop stored failures that left the window; return how many remain. */
static unsigned expire_times(const ts_store_limiter *l, entry *e, uint64_t now)
{
    while (e->n > 0 && !in_window(l, e->times[e->head], now)) {
        e->head = (e->head + 1) % l->max_failures;
        e->n--;
    }
    return e->n;
}

/* Make room for one key: the unblocked key that failed least recently; if there is none, a
 * blocked key whose block has lapsed (it is unblocked in fact); only then the blocked key that
 * failed least recently. */
static void evict_one(ts_store_limiter *l, uint64_t now)
{
    if (l->oldest[0]) {
        remove_entry(l, l->oldest[0]);
        return;
    }
    entry *e = l->oldest[1];
    for (int i = 0; e && i < LAPSED_SCAN; i++, e = e->newer)
        if (expire_times(l, e, now) < l->max_failures) {
            remove_entry(l, e);
            return;
        }
    if (l->oldest[1])
        remove_entry(l, l->oldest[1]);
}

/* The key as counted, and its hash. */
typedef struct lkey {
    char k[TS_STORE_LIMITER_KEY_MAX + 1];
    size_t len;
    uint64_t h;
} lkey;

static void make_key(const ts_store_limiter *l, const char *key, size_t len, lkey *out)
{
    out->len = ts_store_limiter_key(key, key ? len : 0, out->k);
    out->h = siphash(l->sip_k0, l->sip_k1, (const unsigned char *)out->k, out->len);
}

bool ts_store_limiter_blocked(ts_store_limiter *l, const char *key, size_t key_len, uint64_t now_ms)
{
    return ts_store_limiter_retry_after_ms(l, key, key_len, now_ms) > 0;
}

uint64_t ts_store_limiter_retry_after_ms(ts_store_limiter *l, const char *key, size_t key_len,
                                         uint64_t now_ms)
{
    if (!l)
        return 0;
    lkey k;
    make_key(l, key, key_len, &k);
    pthread_mutex_lock(&l->mu);
    prune_idle(l, now_ms);
    entry *e = find(l, k.k, k.len, k.h);
    uint64_t wait = 0;
    if (e && expire_times(l, e, now_ms) >= l->max_failures) {
        /* Blocked until the oldest counted failure leaves the window (at least 1 ms). */
        uint64_t t = e->times[e->head];
        wait = t > now_ms ? l->window_ms : t + l->window_ms - now_ms;
    }
    pthread_mutex_unlock(&l->mu);
    return wait;
}

unsigned ts_store_limiter_fail(ts_store_limiter *l, const char *key, size_t key_len,
                               uint64_t now_ms)
{
    if (!l)
        return 0;
    lkey k;
    make_key(l, key, key_len, &k);
    pthread_mutex_lock(&l->mu);
    prune_idle(l, now_ms);
    entry *e = find(l, k.k, k.len, k.h);
    if (!e) {
        if (l->n_keys >= l->max_keys)
            evict_one(l, now_ms);
        size_t times_off = (sizeof(entry) + k.len + 1 + 7) & ~(size_t)7;
        e = calloc(1, times_off + sizeof(uint64_t) * l->max_failures);
        if (!e) {
            pthread_mutex_unlock(&l->mu);
            return 0;
        }
        e->hash = k.h;
        e->key_len = k.len;
        memcpy(e->key, k.k, k.len);
        e->times = (uint64_t *)(void *)((char *)e + times_off);
        size_t b = k.h & (l->n_buckets - 1);
        e->next_in_bucket = l->buckets[b];
        l->buckets[b] = e;
        l->n_keys++;
    } else {
        list_unlink(l, e);
        expire_times(l, e, now_ms);
    }
    if (e->n == l->max_failures) { /* full ring: the oldest failure makes room */
        e->head = (e->head + 1) % l->max_failures;
        e->n--;
    }
    e->times[(e->head + e->n) % l->max_failures] = now_ms;
    e->n++;
    if (now_ms > e->last_ms)
        e->last_ms = now_ms;
    list_push_newest(l, e, e->n >= l->max_failures);
    unsigned n = e->n;
    pthread_mutex_unlock(&l->mu);
    return n;
}

void ts_store_limiter_reset(ts_store_limiter *l, const char *key, size_t key_len)
{
    if (!l)
        return;
    lkey k;
    make_key(l, key, key_len, &k);
    pthread_mutex_lock(&l->mu);
    entry *e = find(l, k.k, k.len, k.h);
    if (e)
        remove_entry(l, e);
    pthread_mutex_unlock(&l->mu);
}

size_t ts_store_limiter_size(ts_store_limiter *l)
{
    if (!l)
        return 0;
    pthread_mutex_lock(&l->mu);
    size_t n = l->n_keys;
    pthread_mutex_unlock(&l->mu);
    return n;
}
