/* The failed-attempt limiter: sliding window, pruning of idle keys, the key cap and what it
 * evicts, IPv6 /64 aggregation, Retry-After, reset, and concurrent use. */
#include "store_test_util.h"

#include <pthread.h>

static ts_store_limiter *mk(unsigned max, uint64_t window, size_t keys)
{
    ts_store_limiter_options o = TS_STORE_LIMITER_OPTIONS_INIT;
    o.max_failures = max;
    o.window_ms = window;
    o.max_keys = keys;
    ts_error err;
    ts_error_clear(&err);
    ts_store_limiter *l = ts_store_limiter_new(&o, &err);
    if (!l)
        fail_msg("limiter: %s", err.msg);
    return l;
}

#define K(s) s, strlen(s)

static void test_window(void **state)
{
    (void)state;
    ts_store_limiter_options def = TS_STORE_LIMITER_OPTIONS_INIT;
    assert_int_equal(def.max_failures, 10);
    assert_int_equal(def.window_ms, 60000);
    ts_store_limiter *l = mk(10, 60000, 100);
    uint64_t t = 1000000;
    for (unsigned i = 1; i <= 9; i++) {
        assert_int_equal(ts_store_limiter_fail(l, K("10.0.0.1"), t + i * 1000), i);
        assert_false(ts_store_limiter_blocked(l, K("10.0.0.1"), t + i * 1000));
    }
    assert_int_equal(ts_store_limiter_fail(l, K("10.0.0.1"), t + 10000), 10);
    /* The 11th attempt is refused, as in the original. */
    assert_true(ts_store_limiter_blocked(l, K("10.0.0.1"), t + 10000));
    /* Other keys are independent; a port-less key is a different key from one with a port. */
    assert_false(ts_store_limiter_blocked(l, K("10.0.0.2"), t + 10000));
    assert_false(ts_store_limiter_blocked(l, K("10.0.0.1:5555"), t + 10000));
    /* Sliding: the first failure (t+1000) leaves the window at t+61000. */
    assert_true(ts_store_limiter_blocked(l, K("10.0.0.1"), t + 60999));
    assert_false(ts_store_limiter_blocked(l, K("10.0.0.1"), t + 61000));
    /* One more failure refills it. */
    assert_int_equal(ts_store_limiter_fail(l, K("10.0.0.1"), t + 61000), 10);
    assert_true(ts_store_limiter_blocked(l, K("10.0.0.1"), t + 61000));
    /* Reset forgets. */
    ts_store_limiter_reset(l, K("10.0.0.1"));
    assert_false(ts_store_limiter_blocked(l, K("10.0.0.1"), t + 61000));
    assert_int_equal(ts_store_limiter_size(l), 0);
    /* More failures than the ring holds keep the count at the maximum. */
    for (int i = 0; i < 50; i++)
        ts_store_limiter_fail(l, K("x"), t + 100000);
    assert_int_equal(ts_store_limiter_fail(l, K("x"), t + 100000), 10);
    assert_true(ts_store_limiter_blocked(l, K("x"), t + 100000));
    ts_store_limiter_free(l);
    ts_store_limiter_free(NULL);
}

static void test_prune_and_cap(void **state)
{
    (void)state;
    ts_store_limiter *l = mk(3, 1000, 4);
    uint64_t t = 5000;
    ts_store_limiter_fail(l, K("a"), t);
    ts_store_limiter_fail(l, K("b"), t + 100);
    ts_store_limiter_fail(l, K("c"), t + 200);
    assert_int_equal(ts_store_limiter_size(l), 3);
    /* Once their failures leave the window, idle keys are dropped on the next call. */
    assert_false(ts_store_limiter_blocked(l, K("zzz"), t + 1150));
    assert_int_equal(ts_store_limiter_size(l), 1); /* only c remains */
    assert_false(ts_store_limiter_blocked(l, K("c"), t + 1200));
    assert_int_equal(ts_store_limiter_size(l), 0);

    /* The cap: a fifth key evicts the least recently failing one. */
    const char *keys[] = {"k1", "k2", "k3", "k4"};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++)
            ts_store_limiter_fail(l, K(keys[i]), t + 2000 + (uint64_t)i);
    ts_store_limiter_fail(l, K("k1"), t + 2010); /* k1 becomes the most recent */
    assert_int_equal(ts_store_limiter_size(l), 4);
    ts_store_limiter_fail(l, K("k5"), t + 2011);
    assert_int_equal(ts_store_limiter_size(l), 4);
    assert_true(ts_store_limiter_blocked(l, K("k1"), t + 2012));
    assert_false(ts_store_limiter_blocked(l, K("k2"), t + 2012)); /* evicted */
    assert_true(ts_store_limiter_blocked(l, K("k3"), t + 2012));
    assert_true(ts_store_limiter_blocked(l, K("k4"), t + 2012));
    /* Overlong keys are cut, not refused. */
    char longkey[400];
    memset(longkey, 'q', sizeof longkey);
    assert_int_equal(ts_store_limiter_fail(l, longkey, sizeof longkey, t + 2013), 1);
    assert_int_equal(ts_store_limiter_fail(l, longkey, TS_STORE_MAX_PEER_LEN, t + 2013), 2);
    ts_store_limiter_free(l);

    ts_store_limiter_options o = TS_STORE_LIMITER_OPTIONS_INIT;
    o.max_failures = 0;
    ts_error err;
    ts_error_clear(&err);
    assert_null(ts_store_limiter_new(&o, &err));
    assert_int_equal(err.code, TS_EINVAL);
}

static void key_is(const char *addr, const char *want)
{
    char out[TS_STORE_LIMITER_KEY_MAX + 1];
    size_t n = ts_store_limiter_key(addr, strlen(addr), out);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
}

/* An IPv6 address counts for its /64; an IPv4-mapped one for its IPv4 address. */
static void test_ipv6_aggregation(void **state)
{
    (void)state;
    key_is("2001:db8:1:2::1", "2001:db8:1:2::/64");
    key_is("2001:DB8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64");
    key_is("[2001:db8:1:2::9]", "2001:db8:1:2::/64");
    key_is("fe80::1%eth0", "fe80::/64");
    key_is("::1", "::/64");
    key_is("::ffff:192.0.2.7", "192.0.2.7");
    key_is("::ffff:c000:207", "192.0.2.7");
    key_is("192.0.2.7", "192.0.2.7");
    key_is("10.0.0.1:5555", "10.0.0.1:5555"); /* not an address: used as given */
    key_is("unix", "unix");
    key_is("2001:db8::zz", "2001:db8::zz");
    char out[TS_STORE_LIMITER_KEY_MAX + 1];
    assert_int_equal(ts_store_limiter_key(NULL, 5, out), 0);
    assert_string_equal(out, "");

    ts_store_limiter *l = mk(3, 60000, 100);
    uint64_t t = 1000;
    /* Two addresses of one /64 share a count and a block. */
    assert_int_equal(ts_store_limiter_fail(l, K("2001:db8:1:2::1"), t), 1);
    assert_int_equal(ts_store_limiter_fail(l, K("2001:db8:1:2:ffff::5"), t + 1), 2);
    assert_false(ts_store_limiter_blocked(l, K("2001:db8:1:2::77"), t + 2));
    assert_int_equal(ts_store_limiter_fail(l, K("[2001:db8:1:2::3]"), t + 2), 3);
    assert_true(ts_store_limiter_blocked(l, K("2001:db8:1:2::1"), t + 3));
    assert_true(ts_store_limiter_blocked(l, K("2001:db8:1:2:1:2:3:4"), t + 3));
    /* The neighbouring /64 is someone else. */
    assert_false(ts_store_limiter_blocked(l, K("2001:db8:1:3::1"), t + 3));
    assert_int_equal(ts_store_limiter_fail(l, K("2001:db8:1:3::1"), t + 3), 1);
    assert_int_equal(ts_store_limiter_size(l), 2);
    /* A mapped address and the IPv4 address are one host. */
    assert_int_equal(ts_store_limiter_fail(l, K("192.0.2.7"), t + 4), 1);
    assert_int_equal(ts_store_limiter_fail(l, K("::ffff:192.0.2.7"), t + 5), 2);
    assert_int_equal(ts_store_limiter_fail(l, K("[::ffff:192.0.2.7]"), t + 6), 3);
    assert_true(ts_store_limiter_blocked(l, K("192.0.2.7"), t + 7));
    /* Reset works on any address of the prefix. */
    ts_store_limiter_reset(l, K("2001:db8:1:2::abcd"));
    assert_false(ts_store_limiter_blocked(l, K("2001:db8:1:2::1"), t + 8));
    ts_store_limiter_free(l);
}

/* Filling a full table with unblocked keys never evicts a blocked key: an attacker with many
 * addresses cannot push out its own block. */
static void test_eviction_keeps_blocked_keys(void **state)
{
    (void)state;
    ts_store_limiter *l = mk(3, 60000, 100);
    uint64_t t = 5000;
    for (int i = 0; i < 3; i++)
        ts_store_limiter_fail(l, K("198.51.100.7"), t + (uint64_t)i);
    for (int i = 0; i < 3; i++)
        ts_store_limiter_fail(l, K("2001:db8:ffff:1::1"), t + 3 + (uint64_t)i);
    assert_true(ts_store_limiter_blocked(l, K("198.51.100.7"), t + 10));
    char key[64];
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof key, "2001:db8:%x:%x::1", i / 65536, i % 65536);
        assert_int_equal(ts_store_limiter_fail(l, key, strlen(key), t + 10 + (uint64_t)i), 1);
        assert_true(ts_store_limiter_size(l) <= 100);
    }
    assert_int_equal(ts_store_limiter_size(l), 100);
    assert_true(ts_store_limiter_blocked(l, K("198.51.100.7"), t + 10010));
    assert_true(ts_store_limiter_blocked(l, K("2001:db8:ffff:1::99"), t + 10010));
    /* The unblocked keys were evicted least recently failing first: the newest 98 remain. */
    snprintf(key, sizeof key, "2001:db8:0:%x::1", 9999 - 97);
    assert_int_equal(ts_store_limiter_fail(l, key, strlen(key), t + 10011), 2);
    ts_store_limiter_free(l);

    /* Only when every key is blocked does a blocked key go, and then one whose block has
     * lapsed first: k1 (failures at 0, 10, 900) is unblocked again at 1000, while k2 (100, 110,
     * 120) failed less recently but stays blocked until 1100. */
    l = mk(3, 1000, 3);
    const uint64_t k1[] = {0, 10, 900}, k2[] = {100, 110, 120}, k3[] = {950, 960, 970};
    for (int i = 0; i < 3; i++) {
        ts_store_limiter_fail(l, K("k1"), k1[i] + 10000);
        ts_store_limiter_fail(l, K("k2"), k2[i] + 10000);
        ts_store_limiter_fail(l, K("k3"), k3[i] + 10000);
    }
    assert_int_equal(ts_store_limiter_size(l), 3);
    ts_store_limiter_fail(l, K("k4"), 11005);
    assert_int_equal(ts_store_limiter_size(l), 3);
    assert_true(ts_store_limiter_blocked(l, K("k2"), 11005));
    assert_true(ts_store_limiter_blocked(l, K("k3"), 11005));
    assert_int_equal(ts_store_limiter_fail(l, K("k1"), 11006), 1); /* k1 was the one evicted */
    ts_store_limiter_free(l);
}

static void test_retry_after(void **state)
{
    (void)state;
    ts_store_limiter *l = mk(3, 60000, 10);
    assert_int_equal(ts_store_limiter_retry_after_ms(l, K("192.0.2.1"), 1000), 0);
    ts_store_limiter_fail(l, K("192.0.2.1"), 1000);
    ts_store_limiter_fail(l, K("192.0.2.1"), 2000);
    assert_int_equal(ts_store_limiter_retry_after_ms(l, K("192.0.2.1"), 2500), 0);
    ts_store_limiter_fail(l, K("192.0.2.1"), 3000);
    /* Blocked until the failure at 1000 leaves the window at 61000. */
    assert_int_equal(ts_store_limiter_retry_after_ms(l, K("192.0.2.1"), 3000), 58000);
    assert_int_equal(ts_store_limiter_retry_after_ms(l, K("192.0.2.1"), 60999), 1);
    assert_int_equal(ts_store_limiter_retry_after_ms(l, K("192.0.2.1"), 61000), 0);
    assert_false(ts_store_limiter_blocked(l, K("192.0.2.1"), 61000));
    assert_int_equal(ts_store_limiter_retry_after_ms(NULL, K("192.0.2.1"), 61000), 0);
    ts_store_limiter_free(l);
}

typedef struct worker {
    ts_store_limiter *l;
    int id;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    char key[32];
    for (int i = 0; i < 2000; i++) {
        if (i % 2)
            snprintf(key, sizeof key, "10.%d.%d.%d", w->id, i % 7, i % 300);
        else
            snprintf(key, sizeof key, "2001:db8:%d:%d::%d", w->id, i % 300, i % 7);
        ts_store_limiter_fail(w->l, key, strlen(key), (uint64_t)i);
        (void)ts_store_limiter_blocked(w->l, key, strlen(key), (uint64_t)i);
        if (i % 50 == 0)
            ts_store_limiter_reset(w->l, key, strlen(key));
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    ts_store_limiter *l = mk(10, 60000, 500);
    pthread_t th[8];
    worker w[8];
    for (int i = 0; i < 8; i++) {
        w[i].l = l;
        w[i].id = i;
        assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    assert_true(ts_store_limiter_size(l) <= 500);
    assert_true(ts_store_limiter_size(l) > 0);
    ts_store_limiter_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window),           cmocka_unit_test(test_prune_and_cap),
        cmocka_unit_test(test_ipv6_aggregation), cmocka_unit_test(test_eviction_keeps_blocked_keys),
        cmocka_unit_test(test_retry_after),      cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
