/* Unit tests of the bounded LRU map behind the decision cache: exact LRU order for small maps,
 * an exact capacity for sharded ones, counters, and many threads at once. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>

#include <cmocka.h>

#include "util/lru.h"

static void key_of(unsigned i, char *buf, size_t cap, size_t *len)
{
    int n = snprintf(buf, cap, "sub=user:%u|obj=/v1/nodes/%u|act=read", i, i * 7u);
    *len = (size_t)n;
}

static bool get(ts_lru *c, unsigned i, unsigned *value)
{
    char k[96];
    size_t n;
    key_of(i, k, sizeof k, &n);
    return ts_authz__lru_get(c, k, n, value);
}

static void put(ts_lru *c, unsigned i)
{
    char k[96];
    size_t n;
    key_of(i, k, sizeof k, &n);
    ts_authz__lru_put(c, k, n, &i);
}

static size_t present(ts_lru *c, unsigned upto)
{
    size_t found = 0;
    unsigned v;
    for (unsigned i = 0; i < upto; i++)
        found += get(c, i, &v);
    return found;
}

/* A small map is one shard: the least recently used entry goes first, and a get counts as use. */
static void test_small_map_is_exact_lru(void **state)
{
    (void)state;
    ts_lru *c = ts_authz__lru_new(4, sizeof(unsigned));
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
    ts_authz__lru_put(c, k, n, &other);
    assert_true(get(c, 2, &v));
    assert_int_equal(v, 2);
    uint64_t hits, misses;
    ts_authz__lru_counts(c, &hits, &misses);
    assert_int_equal(hits, 1 + 4 + 1);
    assert_int_equal(misses, 1);
    ts_authz__lru_free(c);
}

/* A large map is sharded; its shards' capacities add up to exactly the capacity asked for, and
 * recently stored entries are found. */
static void test_sharded_map_keeps_its_capacity(void **state)
{
    (void)state;
    const size_t caps[] = {1024, 1025, 1039, 5000};
    for (size_t t = 0; t < sizeof caps / sizeof *caps; t++) {
        ts_lru *c = ts_authz__lru_new(caps[t], sizeof(unsigned));
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
        ts_authz__lru_free(c);
    }
}

static void test_zero_capacity_drops_every_put(void **state)
{
    (void)state;
    ts_lru *c = ts_authz__lru_new(0, sizeof(unsigned));
    assert_non_null(c);
    put(c, 1);
    unsigned v;
    assert_false(get(c, 1, &v));
    ts_authz__lru_free(c);
}

typedef struct worker {
    ts_lru *c;
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
        } else {
            put(w->c, i);
        }
    }
    return NULL;
}

/* Threads reading and writing at once (TSan runs this): values never mix, counts add up. */
static void test_threads(void **state)
{
    (void)state;
    ts_lru *c = ts_authz__lru_new(2048, sizeof(unsigned));
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
    ts_authz__lru_counts(c, &hits, &misses);
    assert_int_equal(hits + misses, (uint64_t)N * 20000);
    assert_true(hits > 0);
    ts_authz__lru_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_map_is_exact_lru),
        cmocka_unit_test(test_sharded_map_keeps_its_capacity),
        cmocka_unit_test(test_zero_capacity_drops_every_put),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
