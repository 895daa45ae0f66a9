/* Single flight against a real `tokensmith serve`, counted at the server: 64 threads asking a
 * cold cache at once cause exactly one grant; so do 64 threads after an invalidation, and 64
 * threads past the renewal time (one renews, the others keep the token they have); and a
 * background client asked by 64 threads as it starts. Readers copying tokens while the token
 * is replaced a hundred times see only whole tokens. Run under ThreadSanitizer too (label
 * concurrency). */
#define _POSIX_C_SOURCE 200809L
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

#include "client_internal.h"
#include "serve_fixture.h"

#define THREADS 64

typedef struct caller {
    ts_client *c;
    pthread_barrier_t *start;
    ts_status st;
    ts_client_token_info info;
    char tok[2048];
    char msg[256];
} caller;

static void *call(void *ud)
{
    caller *k = ud;
    ts_error err;
    ts_error_clear(&err);
    pthread_barrier_wait(k->start);
    k->st = ts_client_token_get(k->c, k->tok, sizeof k->tok, &k->info, &err);
    memcpy(k->msg, err.msg, sizeof k->msg);
    return NULL;
}

/* 64 threads call at once. @return how many token requests the server logged meanwhile. */
static size_t storm(ts_client *c, caller *k)
{
    size_t before = serve_fixture_count(&srv, "\"path\":\"/oauth/token\"", NULL);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, THREADS);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        memset(&k[i], 0, sizeof k[i]);
        k[i].c = c;
        k[i].start = &start;
        assert_int_equal(pthread_create(&t[i], NULL, call, &k[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < THREADS; i++)
        if (k[i].st != TS_OK)
            fail_msg("thread %d: %s: %s", i, ts_status_str(k[i].st), k[i].msg);
    return serve_fixture_count(&srv, "\"path\":\"/oauth/token\"", NULL) - before;
}

static ts_client *new_client(bool background)
{
    char boot[65], path[300];
    assert_true(serve_fixture_bootstrap(&srv, boot));
    snprintf(path, sizeof path, "%s/%s.json", srv.dir, background ? "bg" : "fg");
    ts_client_options o = TS_CLIENT_OPTIONS_INIT;
    o.token_endpoint = srv.endpoint;
    o.grant = TS_CLIENT_GRANT_TOKENSMITH;
    o.bootstrap_token = boot;
    o.state_file = path;
    o.min_valid_s = 10;
    o.clock_ms = background ? NULL : serve_fixture_clock;
    o.background_refresh = background;
    ts_error err;
    ts_client *c = ts_client_new(&o, &err);
    if (!c)
        fail_msg("%s: %s", err.where, err.msg);
    return c;
}

static void test_cold_cache(void **state)
{
    (void)state;
    static caller k[THREADS];
    ts_client *c = new_client(false);
    size_t exchanged0 = serve_fixture_count(&srv, "bootstrap_token_exchanged", NULL);
    assert_int_equal(storm(c, k), 1);
    assert_int_equal(serve_fixture_count(&srv, "bootstrap_token_exchanged", NULL) - exchanged0, 1);
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(k[i].info.generation, 1);
        assert_string_equal(k[i].tok, k[0].tok);
    }

    /* After an invalidation: one refresh for all of them. */
    size_t rotated0 = serve_fixture_count(&srv, "refresh_token_rotated", NULL);
    assert_true(ts_client_invalidate(c, 1));
    assert_int_equal(storm(c, k), 1);
    assert_int_equal(serve_fixture_count(&srv, "refresh_token_rotated", NULL) - rotated0, 1);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(k[i].info.generation, 2);

    /* Past the renewal time, the token still good: one caller renews, nobody waits for it
     * (each gets generation 2 or 3), one request. */
    serve_fixture_clock_advance(46000);
    assert_int_equal(storm(c, k), 1);
    for (int i = 0; i < THREADS; i++)
        assert_true(k[i].info.generation == 2 || k[i].info.generation == 3);
    char tok[2048];
    ts_client_token_info info;
    ts_error err;
    assert_int_equal(ts_client_token_get(c, tok, sizeof tok, &info, &err), TS_OK);
    assert_int_equal(info.generation, 3);
    ts_client_free(c);
    serve_fixture_clock_reset();
    assert_int_equal(serve_fixture_revocations(&srv), 0);
}

static void test_background_start(void **state)
{
    (void)state;
    static caller k[THREADS];
    size_t before = serve_fixture_count(&srv, "\"path\":\"/oauth/token\"", NULL);
    ts_client *c = new_client(true);
    /* The worker fetches at once; the 64 callers join its flight or find its token. */
    storm(c, k);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(k[i].info.generation, 1);
    ts_client_free(c);
    assert_int_equal(serve_fixture_count(&srv, "\"path\":\"/oauth/token\"", NULL) - before, 1);
}

typedef struct reader {
    ts_client *c;
    atomic_bool *stop;
    unsigned long reads, bad;
    uint64_t max_gen;
} reader;

static void *read_loop(void *ud)
{
    reader *r = ud;
    char tok[2048];
    ts_client_token_info info;
    ts_error err;
    while (!atomic_load(r->stop)) {
        if (ts_client_token_get(r->c, tok, sizeof tok, &info, &err) != TS_OK ||
            strlen(tok) != info.len || strncmp(tok, "eyJ", 3) != 0 || info.generation < r->max_gen)
            r->bad++;
        if (info.generation > r->max_gen)
            r->max_gen = info.generation;
        r->reads++;
    }
    return NULL;
}

static void test_hits_while_replaced(void **state)
{
    (void)state;
    ts_client *c = new_client(false);
    char tok[2048];
    ts_client_token_info info;
    ts_error err;
    assert_int_equal(ts_client_token_get(c, tok, sizeof tok, &info, &err), TS_OK);
    atomic_bool stop = false;
    reader r[8];
    pthread_t t[8];
    for (int i = 0; i < 8; i++) {
        r[i] = (reader){.c = c, .stop = &stop};
        assert_int_equal(pthread_create(&t[i], NULL, read_loop, &r[i]), 0);
    }
    /* Each invalidation frees the token the readers may be copying; a refresh replaces it. */
    for (int i = 0; i < 100; i++) {
        ts_client_invalidate(c, 0);
        assert_int_equal(ts_client_token_get(c, tok, sizeof tok, &info, &err), TS_OK);
    }
    atomic_store(&stop, true);
    unsigned long reads = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(r[i].bad, 0);
        reads += r[i].reads;
    }
    assert_true(reads > 0);
    ts_client_free(c);
    assert_int_equal(serve_fixture_revocations(&srv), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cold_cache),
        cmocka_unit_test(test_background_start),
        cmocka_unit_test(test_hits_while_replaced),
    };
    return cmocka_run_group_tests(tests, serve_fixture_setup, serve_fixture_teardown);
}
