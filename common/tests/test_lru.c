/* Unit tests of the bounded LRU map (common/lru.h): exact LRU order for small maps, an exact
 * capacity for sharded ones, put versus replace, the bounds of keys, wiping (no block the map
 * frees still holds a value), counters, and many threads at once.
 *
 * The test is linked with --wrap=free: every free() called by the map goes through wrap_free()
 * below, which looks for value bytes in the block before it is released. */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/lru.h"

/* --- free(), watched ---------------------------------------------------------------------- */

void __real_free(void *p);
void __wrap_free(void *p);

/* Every value the wipe tests store starts with this marker. */
static const char SECRET[] = "SECRET-TOKEN:";
static atomic_size_t freed_with_secret; /* blocks freed while still holding the marker */
static atomic_size_t freed_blocks;      /* (atomic: test_threads frees from four threads) */

static bool holds_secret(const unsigned char *p, size_t n)
{
    size_t m = sizeof SECRET - 1;
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(p + i, SECRET, m) == 0)
            return true;
    return false;
}

void __wrap_free(void *p)
{
    if (p) {
        freed_blocks++;
        if (holds_secret(p, malloc_usable_size(p)))
            freed_with_secret++;
    }
    __real_free(p);
}

static void watch_reset(void)
{
    atomic_store(&freed_with_secret, 0);
    atomic_store(&freed_blocks, 0);
}

/* --- helpers ------------------------------------------------------------------------------ */

/* A capacity large enough for a sharded map (lru.c: 16 shards of at least 64). */
#define LRU_TEST_SHARDED 4096u

static void key_of(unsigned i, char *buf, size_t cap, size_t *len)
{
    int n = snprintf(buf, cap, "sub=user:%u|obj=/v1/nodes/%u|act=read", i, i * 7u);
    *len = (size_t)n;
}

static bool get(ts_common__lru *c, unsigned i, unsigned *value)
{
    char k[96];
    size_t n;
    key_of(i, k, sizeof k, &n);
    return ts_common__lru_get(c, k, n, value);
}

static void put(ts_common__lru *c, unsigned i)
{
    char k[96];
    size_t n;
    key_of(i, k, sizeof k, &n);
    ts_common__lru_put(c, k, n, &i);
}

static size_t present(ts_common__lru *c, unsigned upto)
{
    size_t found = 0;
    unsigned v;
    for (unsigned i = 0; i < upto; i++)
        found += get(c, i, &v);
    return found;
}

/* A value like the gateway's: a token's text in a fixed-size slot. */
typedef struct token_value {
    char jwt[64];
} token_value;

static token_value token(unsigned i, unsigned version)
{
    token_value t;
    memset(&t, 0, sizeof t);
    snprintf(t.jwt, sizeof t.jwt, "%seyJhbGciOi.%u.v%u", SECRET, i, version);
    return t;
}

static void put_token(ts_common__lru *c, unsigned i, unsigned version, bool replace)
{
    char k[96];
    size_t n;
    key_of(i, k, sizeof k, &n);
    token_value t = token(i, version);
    if (replace)
        ts_common__lru_replace(c, k, n, &t);
    else
        ts_common__lru_put(c, k, n, &t);
}

/* --- order and eviction ------------------------------------------------------------------- */

/* A small map is one shard: the least recently used entry goes first, and a get counts as use. */
static void test_small_map_is_exact_lru(void **state)
{
    (void)state;
    ts_common__lru *c = ts_common__lru_new(4, sizeof(unsigned), 0);
    assert_non_null(c);
    for (unsigned i = 0; i < 4; i++)
        put(c, i);
    unsigned v = 0;
    assert_true(get(c, 0, &v)); /* 0 is now the most recent; 1 the least */
    assert_int_equal(v, 0);
    put(c, 4);
    assert_false(get(c, 1, &v));
    for (unsigned i = 0; i < 5; i++)
        if (i != 1) {
            assert_true(get(c, i, &v));
            assert_int_equal(v, i);
        }
    /* A second put of a present key keeps the first value. */
    unsigned other = 99;
    char k[96];
    size_t n;
    key_of(2, k, sizeof k, &n);
    ts_common__lru_put(c, k, n, &other);
    assert_true(get(c, 2, &v));
    assert_int_equal(v, 2);
    uint64_t hits, misses;
    ts_common__lru_counts(c, &hits, &misses);
    assert_int_equal(hits, 1 + 4 + 1);
    assert_int_equal(misses, 1);
    ts_common__lru_free(c);
}

/* Eviction follows use, not insertion: of 0..2, touching 0 and 1 leaves 2 to go first, then 0. */
static void test_eviction_order_follows_use(void **state)
{
    (void)state;
    ts_common__lru *c = ts_common__lru_new(3, sizeof(unsigned), 0);
    assert_non_null(c);
    unsigned v;
    for (unsigned i = 0; i < 3; i++)
        put(c, i);
    assert_true(get(c, 0, &v));
    assert_true(get(c, 1, &v));
    put(c, 3); /* evicts 2 */
    assert_false(get(c, 2, &v));
    put(c, 4); /* evicts 0 (1 was used after it) */
    assert_false(get(c, 0, &v));
    assert_true(get(c, 1, &v));
    assert_true(get(c, 3, &v));
    assert_true(get(c, 4, &v));
    ts_common__lru_free(c);
}

/* A replace overwrites the value of a present key and makes it the most recent entry; of an
 * absent key, it stores like a put. */
static void test_replace(void **state)
{
    (void)state;
    ts_common__lru *c = ts_common__lru_new(3, sizeof(unsigned), 0);
    assert_non_null(c);
    for (unsigned i = 0; i < 3; i++)
        put(c, i);
    char k[96];
    size_t n;
    key_of(0, k, sizeof k, &n);
    unsigned fresh = 1000, v = 0;
    ts_common__lru_replace(c, k, n, &fresh);
    assert_true(ts_common__lru_get(c, k, n, &v));
    assert_int_equal(v, 1000);
    put(c, 3); /* 1 is now the least recently used, not 0 */
    assert_false(get(c, 1, &v));
    assert_true(get(c, 0, &v));
    assert_int_equal(v, 1000);
    key_of(7, k, sizeof k, &n);
    unsigned seven = 7;
    ts_common__lru_replace(c, k, n, &seven);
    assert_true(get(c, 7, &v));
    assert_int_equal(v, 7);
    assert_int_equal(present(c, 8), 3);
    ts_common__lru_free(c);
}

/* A large map is sharded; its shards' capacities add up to exactly the capacity asked for, and
 * recently stored entries are found. */
static void test_sharded_map_keeps_its_capacity(void **state)
{
    (void)state;
    const size_t caps[] = {1024, 1025, 1039, 5000};
    for (size_t t = 0; t < sizeof caps / sizeof *caps; t++) {
        ts_common__lru *c = ts_common__lru_new(caps[t], sizeof(unsigned), 0);
        assert_non_null(c);
        for (unsigned i = 0; i < 4 * caps[t]; i++)
            put(c, i);
        size_t found = present(c, 4 * (unsigned)caps[t]);
        /* Every shard received far more keys than it holds, so every shard is full. */
        assert_int_equal(found, caps[t]);
        /* The newest entries are kept: the last 100 stored are all present. */
        unsigned v;
        for (unsigned i = 4 * (unsigned)caps[t] - 100; i < 4 * caps[t]; i++)
            assert_true(get(c, i, &v));
        ts_common__lru_free(c);
    }
}

/* --- bounds ------------------------------------------------------------------------------- */

static void test_zero_capacity_drops_every_put(void **state)
{
    (void)state;
    ts_common__lru *c = ts_common__lru_new(0, sizeof(unsigned), 0);
    assert_non_null(c);
    put(c, 1);
    char k[96];
    size_t n;
    key_of(2, k, sizeof k, &n);
    unsigned two = 2, v;
    ts_common__lru_replace(c, k, n, &two);
    assert_false(get(c, 1, &v));
    assert_false(get(c, 2, &v));
    ts_common__lru_free(c);
}

/* A map of one holds exactly one entry, whatever is stored. */
static void test_capacity_one(void **state)
{
    (void)state;
    ts_common__lru *c = ts_common__lru_new(1, sizeof(unsigned), 0);
    assert_non_null(c);
    for (unsigned i = 0; i < 50; i++) {
        put(c, i);
        assert_int_equal(present(c, 50), 1);
        unsigned v;
        assert_true(get(c, i, &v));
        assert_int_equal(v, i);
    }
    ts_common__lru_free(c);
}

/* Keys are bytes: the empty key, keys with NUL bytes, keys that differ only in their last byte
 * or in length, and keys far longer than a hash step are all distinct entries. */
static void test_keys_are_bytes(void **state)
{
    (void)state;
    ts_common__lru *c = ts_common__lru_new(16, sizeof(unsigned), 0);
    assert_non_null(c);
    static char big_a[5000], big_b[5000];
    memset(big_a, 'x', sizeof big_a);
    memcpy(big_b, big_a, sizeof big_b);
    big_b[sizeof big_b - 1] = 'y';
    const struct {
        const void *k;
        size_t n;
    } keys[] = {
        {"", 0},         {"\0", 1},     {"\0\0", 2},   {"abcdefgh", 8}, {"abcdefgh", 7},
        {"abcdefgi", 8}, {big_a, 5000}, {big_b, 5000}, {big_a, 4999},
    };
    size_t nk = sizeof keys / sizeof *keys;
    for (unsigned i = 0; i < nk; i++)
        ts_common__lru_put(c, keys[i].k, keys[i].n, &i);
    for (unsigned i = 0; i < nk; i++) {
        unsigned v = 999;
        assert_true(ts_common__lru_get(c, keys[i].k, keys[i].n, &v));
        assert_int_equal(v, i);
    }
    ts_common__lru_free(c);
}

/* A key whose length cannot be stored (the entry's size would overflow) is dropped before a
 * byte of it is read; a value size no entry can hold is refused at construction. */
static void test_size_bounds(void **state)
{
    (void)state;
    ts_common__lru *c = ts_common__lru_new(4, sizeof(unsigned), 0);
    assert_non_null(c);
    char k[8] = "k";
    unsigned one = 1, v;
    ts_common__lru_put(c, k, SIZE_MAX - 8, &one); /* a read of that length would crash */
    ts_common__lru_replace(c, k, SIZE_MAX, &one);
    ts_common__lru_put(c, k, 1, &one);
    assert_true(ts_common__lru_get(c, k, 1, &v));
    assert_int_equal(v, 1);
    ts_common__lru_free(c);
    assert_null(ts_common__lru_new(4, SIZE_MAX, 0));
    assert_null(ts_common__lru_new(4, SIZE_MAX - 16, 0));
    ts_common__lru_free(NULL);
}

/* --- wiping ------------------------------------------------------------------------------- */

/* With TS_COMMON__LRU_WIPE no block the map frees still holds a value: not an evicted entry, not
 * a replaced value, not the unused copy of a put or replace, not the entries left at free. */
static void test_wipe(void **state)
{
    (void)state;
    ts_common__lru *c = ts_common__lru_new(4, sizeof(token_value), TS_COMMON__LRU_WIPE);
    assert_non_null(c);
    watch_reset();
    for (unsigned i = 0; i < 12; i++) /* 8 evictions */
        put_token(c, i, 1, false);
    put_token(c, 11, 2, false); /* present: the new copy goes unused */
    put_token(c, 10, 2, true);  /* replaced in place; the new copy goes unused */
    char k[96];
    size_t n;
    key_of(10, k, sizeof k, &n);
    token_value got, want = token(10, 2);
    assert_true(ts_common__lru_get(c, k, n, &got));
    assert_memory_equal(&got, &want, sizeof got);
    ts_common__lru_free(c);
    /* The watch saw them: 8 evicted, 2 unused copies, 4 left at free (and the map's own). */
    assert_true(atomic_load(&freed_blocks) >= 8 + 2 + 4);
    assert_int_equal(atomic_load(&freed_with_secret), 0);
}

/* Without the flag the same run frees blocks that still hold values: the check above sees them. */
static void test_no_wipe_without_the_flag(void **state)
{
    (void)state;
    ts_common__lru *c = ts_common__lru_new(4, sizeof(token_value), 0);
    assert_non_null(c);
    watch_reset();
    for (unsigned i = 0; i < 12; i++)
        put_token(c, i, 1, false);
    assert_int_equal(atomic_load(&freed_with_secret), 8); /* the evicted entries */
    put_token(c, 11, 2, false);
    assert_int_equal(atomic_load(&freed_with_secret), 9); /* the unused copy */
    ts_common__lru_free(c);
    assert_int_equal(atomic_load(&freed_with_secret), 13); /* the four left */
}

/* --- threads ------------------------------------------------------------------------------ */

typedef struct worker {
    ts_common__lru *c;
    unsigned base;
    size_t wrong;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    for (unsigned round = 0; round < 20000; round++) {
        unsigned i = w->base + round % 3000, v = 0;
        if (get(w->c, i, &v)) {
            if (v != i)
                w->wrong++;
        } else if (round % 2) {
            put(w->c, i);
        } else {
            char k[96];
            size_t n;
            key_of(i, k, sizeof k, &n);
            ts_common__lru_replace(w->c, k, n, &i);
        }
    }
    return NULL;
}

/* Threads reading, putting and replacing at once (TSan runs this): values never mix, counts
 * add up. */
static void test_clear(void **state)
{
    (void)state;
    /* A sharded map and a one-lock map: every entry gone, the map usable afterwards. */
    size_t caps[] = {8, LRU_TEST_SHARDED};
    for (size_t k = 0; k < sizeof caps / sizeof caps[0]; k++) {
        ts_common__lru *c = ts_common__lru_new(caps[k], sizeof(unsigned), TS_COMMON__LRU_WIPE);
        assert_non_null(c);
        for (unsigned i = 0; i < 8; i++)
            put(c, i);
        assert_int_equal(present(c, 8), 8);
        ts_common__lru_clear(c);
        assert_int_equal(present(c, 8), 0);
        put(c, 3);
        unsigned v = 0;
        assert_true(get(c, 3, &v));
        assert_int_equal(v, 3);
        assert_int_equal(present(c, 8), 1);
        ts_common__lru_free(c);
    }
}

static void test_threads(void **state)
{
    (void)state;
    ts_common__lru *c = ts_common__lru_new(2048, sizeof(unsigned), TS_COMMON__LRU_WIPE);
    assert_non_null(c);
    enum { N = 4 };
    pthread_t th[N];
    worker w[N];
    for (unsigned i = 0; i < N; i++) {
        w[i] = (worker){c, (i % 2) * 1000, 0}; /* overlapping key ranges */
        assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    for (unsigned i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].wrong, 0);
    }
    uint64_t hits, misses;
    ts_common__lru_counts(c, &hits, &misses);
    assert_int_equal(hits + misses, (uint64_t)N * 20000);
    assert_true(hits > 0);
    ts_common__lru_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_map_is_exact_lru),
        cmocka_unit_test(test_eviction_order_follows_use),
        cmocka_unit_test(test_replace),
        cmocka_unit_test(test_sharded_map_keeps_its_capacity),
        cmocka_unit_test(test_zero_capacity_drops_every_put),
        cmocka_unit_test(test_capacity_one),
        cmocka_unit_test(test_keys_are_bytes),
        cmocka_unit_test(test_size_bounds),
        cmocka_unit_test(test_wipe),
        cmocka_unit_test(test_no_wipe_without_the_flag),
        cmocka_unit_test(test_clear),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
