/* The store's commit statistics (ts_store_commit_stats_get(), behind the service's
 * tokensmith_store_commit_* histograms): one sample per committed transaction, the writes of a
 * SQLite group commit summed in the batch sizes, buckets that add up, and zeros for a store the
 * statistics cannot see. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>

#include <tokensmith/store.h>

#define T0 INT64_C(1750000000)
#define THREADS 8
#define PER_THREAD 25

typedef struct fixture {
    char dir[64];
    char db[96];
    ts_store *s;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/ts-commit-stats-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->db, sizeof f->db, "%s/store.db", f->dir);
    ts_store_options o = TS_STORE_OPTIONS_INIT;
    o.path = f->db;
    ts_error err;
    ts_error_clear(&err);
    f->s = ts_store_new(&o, &err);
    if (!f->s) {
        print_error("ts_store_new: %s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ts_store_free(f->s);
    char path[160];
    const char *const files[] = {"store.db", "store.db-wal", "store.db-shm", "store.db-journal"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", f->dir, files[i]);
        unlink(path);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* One family per call: one write, so one request in some committed batch. */
static void create_family(ts_store *s, unsigned id)
{
    char hash[TS_STORE_HASH_LEN + 1];
    snprintf(hash, sizeof hash, "%064x", id);
    ts_store_family_params p = {"svc", "smd", "read", 3600, hash, "10.0.0.1", T0};
    ts_error err;
    ts_error_clear(&err);
    if (ts_store_family_create(s, &p, NULL, &err) != TS_OK)
        fail_msg("ts_store_family_create: %s", err.msg);
}

static uint64_t total(const uint64_t *counts, unsigned n)
{
    uint64_t t = 0;
    for (unsigned i = 0; i <= n; i++)
        t += counts[i];
    return t;
}

/* What every snapshot satisfies: each commit is in exactly one bucket of each histogram, the
 * bounds ascend, and no batch exceeds the group commit's 256. */
static void consistent(const ts_store_commit_stats *st)
{
    assert_int_equal(total(st->latency, TS_STORE_COMMIT_LATENCY_BUCKETS), st->commits);
    assert_int_equal(total(st->batch, TS_STORE_COMMIT_BATCH_BUCKETS), st->commits);
    for (unsigned i = 1; i < TS_STORE_COMMIT_LATENCY_BUCKETS; i++)
        assert_true(st->latency_le_us[i] > st->latency_le_us[i - 1]);
    for (unsigned i = 1; i < TS_STORE_COMMIT_BATCH_BUCKETS; i++)
        assert_true(st->batch_le[i] > st->batch_le[i - 1]);
    assert_int_equal(st->batch_le[TS_STORE_COMMIT_BATCH_BUCKETS - 1], 256);
    assert_int_equal(st->batch[TS_STORE_COMMIT_BATCH_BUCKETS], 0);
    assert_true(st->batch_sum >= st->commits);
}

static void test_one_sample_per_sequential_write(void **state)
{
    fixture *f = *state;
    ts_store_commit_stats a, b;
    ts_store_commit_stats_get(f->s, &a);
    consistent(&a);
    assert_true(a.commits >= 1); /* the schema migration at open */
    for (unsigned i = 0; i < 5; i++)
        create_family(f->s, 1000 + i);
    ts_store_commit_stats_get(f->s, &b);
    consistent(&b);
    /* One caller at a time: five batches of one. */
    assert_int_equal(b.commits - a.commits, 5);
    assert_int_equal(b.batch_sum - a.batch_sum, 5);
    assert_int_equal(b.batch[0] - a.batch[0], 5);
    assert_true(b.latency_sum_us > a.latency_sum_us);
}

typedef struct worker {
    ts_store *s;
    unsigned base;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    for (unsigned i = 0; i < PER_THREAD; i++)
        create_family(w->s, w->base + i);
    return NULL;
}

static void test_group_commits_sum_their_writes(void **state)
{
    fixture *f = *state;
    ts_store_commit_stats a, b;
    ts_store_commit_stats_get(f->s, &a);
    pthread_t th[THREADS];
    worker w[THREADS];
    for (unsigned t = 0; t < THREADS; t++) {
        w[t] = (worker){f->s, 10000 + t * 100};
        assert_int_equal(pthread_create(&th[t], NULL, work, &w[t]), 0);
    }
    for (unsigned t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    ts_store_commit_stats_get(f->s, &b);
    consistent(&b);
    /* Every write counted once, in some batch; batches may hold several. */
    assert_int_equal(b.batch_sum - a.batch_sum, THREADS * PER_THREAD);
    assert_true(b.commits - a.commits >= 1);
    assert_true(b.commits - a.commits <= THREADS * PER_THREAD);
}

static void test_no_store(void **state)
{
    (void)state;
    ts_store_commit_stats st;
    memset(&st, 0xff, sizeof st);
    ts_store_commit_stats_get(NULL, &st);
    assert_int_equal(st.commits, 0);
    assert_int_equal(st.batch_sum, 0);
    assert_int_equal(st.latency_sum_us, 0);
    assert_int_equal(st.latency_le_us[0], 100); /* the bounds are there all the same */
    consistent(&st);
    ts_store_commit_stats_get(NULL, NULL); /* no crash */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_sample_per_sequential_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commits_sum_their_writes, setup, teardown),
        cmocka_unit_test(test_no_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
