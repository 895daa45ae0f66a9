/* Renewal times and backoff (schedule.c): exact bounds of the full-jitter backoff, the
 * refresh-ahead time with its jitter, the hand-out window, and exp read from a JWT. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "client_internal.h"

static void test_backoff_bounds(void **state)
{
    (void)state;
    /* The ceiling doubles from the initial delay and stops at the cap. */
    const uint64_t ceil_of[] = {0, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000};
    for (unsigned n = 1; n < sizeof ceil_of / sizeof ceil_of[0]; n++) {
        /* r = ceiling is the largest draw, ceiling + 1 wraps to 0. */
        assert_int_equal(ts_client__backoff_ms(n, 1000, 60000, ceil_of[n]), ceil_of[n]);
        assert_int_equal(ts_client__backoff_ms(n, 1000, 60000, ceil_of[n] + 1), 0);
        uint64_t rng = 42, lo = UINT64_MAX, hi = 0, sum = 0;
        for (int i = 0; i < 20000; i++) {
            uint64_t d = ts_client__backoff_ms(n, 1000, 60000, ts_client__rand(&rng));
            assert_true(d <= ceil_of[n]);
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
            sum += d;
        }
        /* Full jitter: the draws spread over the whole range, mean near half the ceiling. */
        assert_true(lo < ceil_of[n] / 20 + 1);
        assert_true(hi > ceil_of[n] - ceil_of[n] / 20 - 1);
        double mean = (double)sum / 20000.0;
        assert_true(mean > (double)ceil_of[n] * 0.45 && mean < (double)ceil_of[n] * 0.55);
    }
    assert_int_equal(ts_client__backoff_ms(0, 1000, 60000, 12345), 0);
    /* Huge failure counts neither overflow nor pass the cap. */
    assert_true(ts_client__backoff_ms(4000000000u, 1000, 3600000, UINT64_MAX - 1) <= 3600000);
}

static void test_schedule_window(void **state)
{
    (void)state;
    /* An hour-long token, 30 s skew, renewal at 75 % minus up to 10 %. */
    const int64_t t0 = 1000000, life = 3600000;
    uint64_t rng = 7;
    int64_t earliest = INT64_MAX, latest = 0;
    for (int i = 0; i < 5000; i++) {
        ts_client__times t = ts_client__schedule(t0, life, 30, 75, 10, ts_client__rand(&rng));
        assert_int_equal(t.usable_until_ms, t0 + life - 30000);
        assert_true(t.refresh_at_ms <= t0 + 2700000);
        assert_true(t.refresh_at_ms >= t0 + 2700000 - 360000);
        earliest = t.refresh_at_ms < earliest ? t.refresh_at_ms : earliest;
        latest = t.refresh_at_ms > latest ? t.refresh_at_ms : latest;
    }
    /* The jitter is used: draws span most of the 6 minutes. */
    assert_true(latest - earliest > 300000);
    /* No jitter: exactly 75 %. */
    ts_client__times t = ts_client__schedule(t0, life, 30, 75, 0, 99);
    assert_int_equal(t.refresh_at_ms, t0 + 2700000);
}

static void test_schedule_short_tokens(void **state)
{
    (void)state;
    /* tokensmith's shortest access token (60 s) with the default 30 s skew: handed out for 30 s,
     * renewed by then even though 75 % would be later. */
    ts_client__times t = ts_client__schedule(0, 60000, 30, 75, 10, 0);
    assert_int_equal(t.usable_until_ms, 30000);
    assert_int_equal(t.refresh_at_ms, 30000);
    /* Shorter than twice the skew: the first half of its life. */
    t = ts_client__schedule(0, 20000, 30, 75, 0, 0);
    assert_int_equal(t.usable_until_ms, 10000);
    assert_int_equal(t.refresh_at_ms, 10000);
    /* A low share renews early. */
    t = ts_client__schedule(0, 60000, 30, 5, 0, 0);
    assert_int_equal(t.refresh_at_ms, 3000);
    /* Jitter larger than the share never renews before the token was obtained. */
    t = ts_client__schedule(500, 60000, 0, 1, 50, 29999);
    assert_true(t.refresh_at_ms >= 500);
}

static void test_jwt_exp(void **state)
{
    (void)state;
    /* {"alg":"none"} . {"sub":"a","exp":1700000000} . sig */
    const char *jwt = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIiwiZXhwIjoxNzAwMDAwMDAwfQ.c2ln";
    assert_int_equal(ts_client__jwt_exp(jwt, strlen(jwt)), 1700000000);
    /* {"sub":"a"}: no exp. */
    const char *noexp = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.c2ln";
    assert_int_equal(ts_client__jwt_exp(noexp, strlen(noexp)), 0);
    /* {"exp":"soon"}: not a number. */
    const char *strexp = "eyJhbGciOiJub25lIn0.eyJleHAiOiJzb29uIn0.c2ln";
    assert_int_equal(ts_client__jwt_exp(strexp, strlen(strexp)), 0);
    assert_int_equal(ts_client__jwt_exp("opaque-token", 12), 0);
    assert_int_equal(ts_client__jwt_exp("a..b", 4), 0);
    assert_int_equal(ts_client__jwt_exp("a.!!!.b", 7), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_bounds),
        cmocka_unit_test(test_schedule_window),
        cmocka_unit_test(test_schedule_short_tokens),
        cmocka_unit_test(test_jwt_exp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
