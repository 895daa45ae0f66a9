/* The replica's cache of the token mappings (tokenservice/service/src/mappings_cache.c) on a
 * real SQLite store: the empty set when nothing is stored, no re-read before the interval, a
 * re-read after ts_svc__maps_changed(), a reference held across a reload stays valid (ASan
 * would report a use after free), a stored document the model refuses keeps the last good set,
 * and many threads acquiring while another writes (single flight: each version is loaded once,
 * and no thread sees a version go backwards). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mappings_cache.h"
#include "svc_internal.h"

static char dir[64];
static char db[96];

static ts_svc *service(void)
{
    snprintf(dir, sizeof dir, "/tmp/ts-maps-cache-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/ts.db", dir);
    ts_svc *s = calloc(1, sizeof *s);
    assert_non_null(s);
    ts_store_options so = TS_STORE_OPTIONS_INIT;
    so.path = db;
    so.max_connections = 12;
    ts_error e;
    s->store = ts_store_new(&so, &e);
    if (!s->store)
        fail_msg("store: %s", e.msg);
    s->text_logs = true;
    return s;
}

static void service_free(ts_svc *s)
{
    ts_svc__maps_stop(s);
    ts_store_free(s->store);
    free(s);
    char p[128];
    snprintf(p, sizeof p, "%s-wal", db);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", db);
    unlink(p);
    unlink(db);
    rmdir(dir);
}

static int64_t put(ts_svc *s, const char *doc, int64_t expected)
{
    ts_error e;
    int64_t v = 0;
    if (ts_store_mappings_put(s->store, doc, strlen(doc), expected, 1000, "test", NULL, &v, &e) !=
        TS_OK)
        fail_msg("put: %s", e.msg);
    return v;
}

static const char RULE[] = "{\"identity_rules\":[{\"name\":\"r\",\"namespace\":\"ns\","
                           "\"service_account\":\"sa\",\"scopes\":[\"a\"]}]}";

static void test_reload(void **state)
{
    (void)state;
    ts_svc *s = service();
    ts_error e;
    assert_int_equal(ts_svc__maps_start(s, &e), TS_OK);
    ts_svc_map_set *m0 = ts_svc__maps_acquire(s);
    assert_int_equal(m0->version, 0);
    assert_int_equal(m0->n_rules, 0);
    assert_int_equal(put(s, RULE, 0), 1);
    /* Within the interval: the set in use. */
    ts_svc_map_set *m = ts_svc__maps_acquire(s);
    assert_ptr_equal(m, m0);
    ts_svc_map_set_free(m);
    /* The local write's hook: read at once. */
    ts_svc__maps_changed(s);
    ts_svc_map_set *m1 = ts_svc__maps_acquire(s);
    assert_int_equal(m1->version, 1);
    assert_int_equal(m1->n_rules, 1);
    assert_non_null(ts_svc_map_rule_find(m1, NULL, "ns", "sa"));
    /* The old set is still whole for whoever holds it. */
    assert_int_equal(m0->n_rules, 0);
    assert_null(ts_svc_map_rule_find(m0, NULL, "ns", "sa"));
    ts_svc_map_set_free(m0);
    /* Unchanged version: the same set, not a new copy. */
    ts_svc__maps_changed(s);
    m = ts_svc__maps_acquire(s);
    assert_ptr_equal(m, m1);
    ts_svc_map_set_free(m);
    /* A document the model refuses: the last good set stays. */
    assert_int_equal(put(s, "{\"identity_rules\":[{\"name\":\"bad name\"}]}", 1), 2);
    ts_svc__maps_changed(s);
    m = ts_svc__maps_acquire(s);
    assert_ptr_equal(m, m1);
    ts_svc_map_set_free(m);
    /* The next good version replaces it. */
    assert_int_equal(put(s, "{}", 2), 3);
    ts_svc__maps_changed(s);
    m = ts_svc__maps_acquire(s);
    assert_int_equal(m->version, 3);
    assert_int_equal(m->n_rules, 0);
    ts_svc_map_set_free(m);
    ts_svc_map_set_free(m1);
    service_free(s);
}

/* Started with a document stored: it is in use from the first exchange. */
static void test_start_with_document(void **state)
{
    (void)state;
    ts_svc *s = service();
    put(s, RULE, 0);
    ts_error e;
    assert_int_equal(ts_svc__maps_start(s, &e), TS_OK);
    ts_svc_map_set *m = ts_svc__maps_acquire(s);
    assert_int_equal(m->version, 1);
    assert_int_equal(m->n_rules, 1);
    ts_svc_map_set_free(m);
    service_free(s);
}

typedef struct worker {
    ts_svc *s;
    volatile int *stop;
    unsigned long acquired;
    int backwards;
} worker;

static void *acquire_loop(void *ud)
{
    worker *w = ud;
    int64_t last = 0;
    while (!*w->stop) {
        ts_svc_map_set *m = ts_svc__maps_acquire(w->s);
        if (m->version < last)
            w->backwards = 1;
        last = m->version;
        /* Read it as an exchange would, while others may replace it. */
        if (m->n_rules && !ts_svc_map_rule_find(m, NULL, "ns", "sa"))
            w->backwards = 1;
        ts_svc_map_set_free(m);
        w->acquired++;
        ts_svc__maps_changed(w->s); /* keep every acquire due: the worst case for the lock */
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    ts_svc *s = service();
    ts_error e;
    assert_int_equal(ts_svc__maps_start(s, &e), TS_OK);
    volatile int stop = 0;
    enum { N = 6 };
    worker w[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        w[i] = (worker){s, &stop, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, acquire_loop, &w[i]), 0);
    }
    for (int64_t v = 0; v < 20; v++) {
        put(s, RULE, v);
        usleep(5000);
    }
    stop = 1;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_false(w[i].backwards);
        assert_true(w[i].acquired > 0);
    }
    ts_svc__maps_changed(s);
    ts_svc_map_set *m = ts_svc__maps_acquire(s);
    assert_int_equal(m->version, 20);
    ts_svc_map_set_free(m);
    service_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reload),
        cmocka_unit_test(test_start_with_document),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
