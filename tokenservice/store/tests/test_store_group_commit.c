/* Group commit in the SQLite backend: concurrent writes share transactions, a failing request
 * leaves the rest of its batch committed, a failed BEGIN or COMMIT fails the whole batch and
 * leaves the database consistent, reuse detection still sees one winner, and another process
 * can write the same file at the same time. */
#include "store_test_util.h"

#include <pthread.h>
#include <sys/wait.h>
#include <time.h>

#include "fault_vfs.h"
#include "sqlite_internal.h"

static ts_store *open_store_sync(const char *path, ts_store_sync sync, unsigned busy_ms)
{
    ts_store_options o = TS_STORE_OPTIONS_INIT;
    o.path = path;
    o.synchronous = sync;
    o.busy_timeout_ms = busy_ms;
    ts_error err;
    ts_error_clear(&err);
    ts_store *s = ts_store_new(&o, &err);
    if (!s)
        fail_msg("ts_store_new: %s (%s)", err.msg, err.where);
    return s;
}

static ts_sq_write_stats stats_of(ts_store *s)
{
    ts_sq_write_stats w;
    ts_store__sq_write_stats(ts_store__impl(s), &w);
    return w;
}

static void new_family(ts_store *s, char first[TS_STORE_HASH_LEN + 1], ts_store_family *out)
{
    random_hash(first);
    ts_store_family_params p = {"svc", "smd", "read", 3600, first, "10.0.0.1", T0};
    ts_error err;
    ts_error_clear(&err);
    if (ts_store_family_create(s, &p, out, &err) != TS_OK)
        fail_msg("family_create: %s", err.msg);
}

static int64_t usage_of(ts_store *s, const char *family_id)
{
    ts_store_family f;
    assert_int_equal(ts_store_family_get(s, family_id, &f, NULL), TS_OK);
    return f.usage_count;
}

/* ---- 32 threads rotating their own families ------------------------------------------- */

#define CHAIN_THREADS 32
#define CHAIN_LEN 40

typedef struct chain {
    ts_store *s;
    pthread_barrier_t *barrier;
    char hash[TS_STORE_HASH_LEN + 1];
    ts_store_family fam;
    int ok;
} chain;

static void *chain_main(void *arg)
{
    chain *c = arg;
    pthread_barrier_wait(c->barrier);
    for (int i = 0; i < CHAIN_LEN; i++) {
        char next[TS_STORE_HASH_LEN + 1];
        random_hash(next);
        ts_store_rotate_result r;
        if (ts_store_refresh_rotate(c->s, c->hash, next, "10.0.0.1", T0 + 1 + i, &r, NULL) ==
                TS_OK &&
            r.outcome == TS_STORE_ROTATE_OK && r.family.usage_count == i + 1)
            c->ok++;
        memcpy(c->hash, next, sizeof next);
    }
    return NULL;
}

static void test_concurrent_writes_share_commits(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    /* synchronous=FULL as in production: each commit waits for its fsync, and the requests
     * arriving meanwhile must ride along with the next one. */
    ts_store *s = open_store_sync(t.db, TS_STORE_SYNC_FULL, 5000);
    static chain ch[CHAIN_THREADS];
    pthread_t th[CHAIN_THREADS];
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, CHAIN_THREADS);
    for (int i = 0; i < CHAIN_THREADS; i++) {
        memset(&ch[i], 0, sizeof ch[i]);
        ch[i].s = s;
        ch[i].barrier = &barrier;
        new_family(s, ch[i].hash, &ch[i].fam);
    }
    ts_sq_write_stats before = stats_of(s);
    for (int i = 0; i < CHAIN_THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, chain_main, &ch[i]), 0);
    for (int i = 0; i < CHAIN_THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&barrier);
    ts_sq_write_stats after = stats_of(s);

    uint64_t requests = after.requests - before.requests;
    uint64_t commits = after.commits - before.commits;
    assert_int_equal(requests, CHAIN_THREADS * CHAIN_LEN);
    for (int i = 0; i < CHAIN_THREADS; i++) {
        assert_int_equal(ch[i].ok, CHAIN_LEN);
        assert_int_equal(usage_of(s, ch[i].fam.id), CHAIN_LEN);
    }
    assert_int_equal(audit_of(s, "refresh_token_rotated").n, CHAIN_THREADS * CHAIN_LEN);
    print_message("%llu requests in %llu commits (largest batch %llu)\n",
                  (unsigned long long)requests, (unsigned long long)commits,
                  (unsigned long long)after.max_batch);
    /* Batches really form: on average at least four requests per fsync. */
    assert_true(commits > 0);
    assert_true(commits * 4 <= requests);
    assert_true(after.max_batch > 1 && after.max_batch <= TS_SQ_WRITE_BATCH_MAX);
    assert_int_equal(after.queued, 0);
    assert_int_equal(ts_store_check(s, true, NULL), TS_OK);
    ts_store_free(s);
    tdir_remove(&t);
}

/* ---- Deterministic batches: a gate request holds the leader while others queue -------- */

typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool entered, open;
} gate;

static void gate_init(gate *g)
{
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->entered = g->open = false;
}

static void gate_destroy(gate *g)
{
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
}

static ts_status gate_txn(ts_sq_conn *c, void *arg, ts_error *err)
{
    (void)c;
    (void)err;
    gate *g = arg;
    pthread_mutex_lock(&g->mu);
    g->entered = true;
    pthread_cond_broadcast(&g->cv);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    return TS_OK;
}

typedef struct gate_run {
    ts_store *s;
    gate *g;
    ts_status st;
} gate_run;

static void *gate_main(void *arg)
{
    gate_run *r = arg;
    r->st = ts_store__sq_write(ts_store__impl(r->s), gate_txn, r->g, NULL);
    return NULL;
}

/* Start a leader that blocks inside its batch; returns once it is there. */
static void gate_close(gate_run *run, pthread_t *th)
{
    assert_int_equal(pthread_create(th, NULL, gate_main, run), 0);
    pthread_mutex_lock(&run->g->mu);
    while (!run->g->entered)
        pthread_cond_wait(&run->g->cv, &run->g->mu);
    pthread_mutex_unlock(&run->g->mu);
}

static void gate_release(gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* Wait until @p n requests wait behind the gate, so that they form one batch. */
static void wait_queued(ts_store *s, uint64_t n)
{
    const struct timespec ms = {0, 1000000L};
    for (int i = 0; i < 10000 && stats_of(s).queued < n; i++)
        nanosleep(&ms, NULL);
    assert_int_equal(stats_of(s).queued, n);
}

typedef enum job_kind {
    JOB_ROTATE,      /* rotate hash to a fresh hash */
    JOB_DUP_FAMILY,  /* create a family whose first hash is taken: a constraint violation */
    JOB_WRITE_FAIL,  /* write an audit record, then fail */
    JOB_ABORT_TXN,   /* roll back the whole transaction underneath, then fail */
    JOB_ROTATE_USED, /* rotate a hash that was already rotated away */
} job_kind;

typedef struct job {
    ts_store *s;
    job_kind kind;
    const char *hash;
    ts_status st;
    ts_error err;
    ts_store_rotate_result r;
} job;

static ts_status write_fail_txn(ts_sq_conn *c, void *arg, ts_error *err)
{
    (void)arg;
    ts_status st =
        ts_store__sq_audit(c, T0, "test_must_not_commit", "svc", "x", NULL, "", NULL, err);
    if (st != TS_OK)
        return st;
    return ts_error_set(err, TS_EINVAL, "test", "this request fails after writing");
}

/* What SQLite does on some I/O and memory errors: the whole transaction is gone. */
static ts_status abort_txn(ts_sq_conn *c, void *arg, ts_error *err)
{
    (void)arg;
    ts_status st =
        ts_store__sq_audit(c, T0, "test_must_not_commit", "svc", "y", NULL, "", NULL, err);
    if (st != TS_OK)
        return st;
    sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    return ts_error_set(err, TS_EIO, "test", "the transaction was rolled back");
}

static void *job_main(void *arg)
{
    job *j = arg;
    ts_error_clear(&j->err);
    char next[TS_STORE_HASH_LEN + 1];
    random_hash(next);
    switch (j->kind) {
    case JOB_ROTATE:
    case JOB_ROTATE_USED:
        j->st = ts_store_refresh_rotate(j->s, j->hash, next, "10.0.0.1", T0 + 5, &j->r, &j->err);
        break;
    case JOB_DUP_FAMILY: {
        ts_store_family_params p = {"svc", "smd", "", 3600, j->hash, NULL, T0};
        j->st = ts_store_family_create(j->s, &p, NULL, &j->err);
        break;
    }
    case JOB_WRITE_FAIL:
        j->st = ts_store__sq_write(ts_store__impl(j->s), write_fail_txn, NULL, &j->err);
        break;
    case JOB_ABORT_TXN:
        j->st = ts_store__sq_write(ts_store__impl(j->s), abort_txn, NULL, &j->err);
        break;
    }
    return NULL;
}

#define MAX_JOBS 16

/* Run @p n jobs as one batch behind a gate; returns the stats before the gate opened. */
static ts_sq_write_stats run_batch_of(ts_store *s, job *jobs, size_t n)
{
    gate g;
    gate_init(&g);
    gate_run gr = {s, &g, TS_EINTERNAL};
    pthread_t gt, th[MAX_JOBS];
    gate_close(&gr, &gt);
    for (size_t i = 0; i < n; i++) {
        jobs[i].s = s;
        assert_int_equal(pthread_create(&th[i], NULL, job_main, &jobs[i]), 0);
        /* One at a time, so that the batch's order is the array's order. */
        wait_queued(s, i + 1);
    }
    ts_sq_write_stats before = stats_of(s);
    gate_release(&g);
    pthread_join(gt, NULL);
    for (size_t i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    gate_destroy(&g);
    assert_int_equal(gr.st, TS_OK);
    return before;
}

static void test_failing_request_spares_its_batch(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    char h[4][TS_STORE_HASH_LEN + 1], used[TS_STORE_HASH_LEN + 1];
    ts_store_family fam[4], used_fam;
    for (int i = 0; i < 4; i++)
        new_family(s, h[i], &fam[i]);
    new_family(s, used, &used_fam);
    char next[TS_STORE_HASH_LEN + 1];
    random_hash(next);
    ts_store_rotate_result r;
    assert_int_equal(ts_store_refresh_rotate(s, used, next, NULL, T0 + 1, &r, NULL), TS_OK);

    job jobs[7];
    memset(jobs, 0, sizeof jobs);
    jobs[0] = (job){.kind = JOB_ROTATE, .hash = h[0]};
    jobs[1] = (job){.kind = JOB_WRITE_FAIL};
    jobs[2] = (job){.kind = JOB_ROTATE, .hash = h[1]};
    jobs[3] = (job){.kind = JOB_DUP_FAMILY, .hash = h[3]};
    jobs[4] = (job){.kind = JOB_ROTATE, .hash = h[2]};
    jobs[5] = (job){.kind = JOB_ROTATE_USED, .hash = used};
    jobs[6] = (job){.kind = JOB_ROTATE, .hash = h[3]};
    ts_sq_write_stats before = run_batch_of(s, jobs, 7);
    ts_sq_write_stats after = stats_of(s);
    /* The gate's batch and one batch of seven, both committed. */
    assert_int_equal(after.commits - before.commits, 2);
    assert_int_equal(after.batches - before.batches, 2);
    assert_true(after.max_batch >= 7);

    for (int i = 0; i < 7; i++) {
        if (jobs[i].kind == JOB_ROTATE) {
            assert_int_equal(jobs[i].st, TS_OK);
            assert_int_equal(jobs[i].r.outcome, TS_STORE_ROTATE_OK);
        }
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(usage_of(s, fam[i].id), 1);
    assert_int_equal(jobs[1].st, TS_EINVAL);
    assert_string_equal(jobs[1].err.where, "test");
    assert_int_equal(audit_of(s, "test_must_not_commit").n, 0);
    assert_int_equal(jobs[3].st, TS_EINVAL);
    assert_non_null(strstr(jobs[3].err.msg, "constraint"));
    /* A used token is not an error: its reuse revokes its family, and that commits too. */
    assert_int_equal(jobs[5].st, TS_OK);
    assert_int_equal(jobs[5].r.outcome, TS_STORE_ROTATE_REUSE_DETECTED);
    ts_store_family f;
    assert_int_equal(ts_store_family_get(s, used_fam.id, &f, NULL), TS_OK);
    assert_true(f.revoked_at != 0);
    assert_int_equal(audit_of(s, "refresh_token_rotated").n, 5);
    assert_int_equal(ts_store_check(s, true, NULL), TS_OK);
    ts_store_free(s);
    tdir_remove(&t);
}

static void test_aborted_transaction_replays_the_rest(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    char h[3][TS_STORE_HASH_LEN + 1];
    ts_store_family fam[3];
    for (int i = 0; i < 3; i++)
        new_family(s, h[i], &fam[i]);
    job jobs[4];
    memset(jobs, 0, sizeof jobs);
    jobs[0] = (job){.kind = JOB_ROTATE, .hash = h[0]};
    jobs[1] = (job){.kind = JOB_ROTATE, .hash = h[1]};
    jobs[2] = (job){.kind = JOB_ABORT_TXN};
    jobs[3] = (job){.kind = JOB_ROTATE, .hash = h[2]};
    ts_sq_write_stats before = run_batch_of(s, jobs, 4);
    ts_sq_write_stats after = stats_of(s);
    /* The batch began twice: the second time without the request that broke it. */
    assert_int_equal(after.batches - before.batches, 3);
    assert_int_equal(after.commits - before.commits, 2);
    assert_int_equal(jobs[2].st, TS_EIO);
    assert_string_equal(jobs[2].err.where, "test");
    for (int i = 0; i < 3; i++) {
        job *j = &jobs[i == 2 ? 3 : i];
        assert_int_equal(j->st, TS_OK);
        assert_int_equal(j->r.outcome, TS_STORE_ROTATE_OK);
        /* Replayed from scratch: one rotation each, not two. */
        assert_int_equal(j->r.family.usage_count, 1);
        assert_int_equal(usage_of(s, fam[i].id), 1);
    }
    assert_int_equal(audit_of(s, "test_must_not_commit").n, 0);
    assert_int_equal(audit_of(s, "refresh_token_rotated").n, 3);
    assert_int_equal(ts_store_check(s, true, NULL), TS_OK);
    ts_store_free(s);
    tdir_remove(&t);
}

static void test_commit_failure_fails_the_batch(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store_sync(t.db, TS_STORE_SYNC_FULL, 5000);
    enum { N = 8 };
    char h[N][TS_STORE_HASH_LEN + 1];
    ts_store_family fam[N];
    for (int i = 0; i < N; i++)
        new_family(s, h[i], &fam[i]);
    int64_t audit_before = audit_of(s, "refresh_family_created").n;

    /* The gate's own batch changes nothing, so its COMMIT writes no WAL frame; the batch of
     * rotations writes a few frames, then the "disk" fills up in the middle of its COMMIT. */
    gate g;
    gate_init(&g);
    gate_run gr = {s, &g, TS_EINTERNAL};
    pthread_t gt, th[N];
    gate_close(&gr, &gt);
    job jobs[N];
    memset(jobs, 0, sizeof jobs);
    for (int i = 0; i < N; i++) {
        jobs[i] = (job){.s = s, .kind = JOB_ROTATE, .hash = h[i]};
        assert_int_equal(pthread_create(&th[i], NULL, job_main, &jobs[i]), 0);
    }
    wait_queued(s, N);
    ts_sq_write_stats before = stats_of(s);
    atomic_store(&fault_wal_writes_failed, 0);
    atomic_store(&fault_wal_writes_left, 2);
    gate_release(&g);
    pthread_join(gt, NULL);
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    atomic_store(&fault_wal_writes_left, -1);
    gate_destroy(&g);
    ts_sq_write_stats after = stats_of(s);

    assert_int_equal(gr.st, TS_OK);
    assert_true(atomic_load(&fault_wal_writes_failed) > 0);
    assert_int_equal(after.batches - before.batches, 2);
    assert_int_equal(after.commits - before.commits, 1);
    for (int i = 0; i < N; i++) {
        assert_int_equal(jobs[i].st, TS_EIO);
        assert_string_equal(jobs[i].err.where, "COMMIT");
        assert_non_null(strstr(jobs[i].err.msg, "disk is full"));
    }
    /* Nothing of the batch is visible, and the file is sound. */
    for (int i = 0; i < N; i++)
        assert_int_equal(usage_of(s, fam[i].id), 0);
    assert_int_equal(audit_of(s, "refresh_token_rotated").n, 0);
    assert_int_equal(audit_of(s, "refresh_family_created").n, audit_before);
    assert_int_equal(ts_store_check(s, true, NULL), TS_OK);
    /* Once the disk has room again the same grants go through. */
    for (int i = 0; i < N; i++) {
        char next[TS_STORE_HASH_LEN + 1];
        random_hash(next);
        ts_store_rotate_result r;
        assert_int_equal(ts_store_refresh_rotate(s, h[i], next, NULL, T0 + 9, &r, NULL), TS_OK);
        assert_int_equal(r.outcome, TS_STORE_ROTATE_OK);
    }
    ts_store_free(s);

    /* A fresh connection (as after a restart) sees the same consistent state. */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(t.db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "ok");
    sqlite3_finalize(q);
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT sum(usage_count) FROM refresh_families", -1, &q, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(q, 0), N);
    sqlite3_finalize(q);
    sqlite3_close(db);
    tdir_remove(&t);
}

static void test_begin_failure_fails_the_batch(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store_sync(t.db, TS_STORE_SYNC_NORMAL, 300);
    enum { N = 8 };
    char h[N][TS_STORE_HASH_LEN + 1];
    ts_store_family fam[N];
    for (int i = 0; i < N; i++)
        new_family(s, h[i], &fam[i]);
    /* Another process (here: another connection) holds the write lock past the timeout. */
    sqlite3 *other = NULL;
    assert_int_equal(sqlite3_open(t.db, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    ts_sq_write_stats before = stats_of(s);
    job jobs[N];
    pthread_t th[N];
    memset(jobs, 0, sizeof jobs);
    for (int i = 0; i < N; i++) {
        jobs[i] = (job){.s = s, .kind = JOB_ROTATE, .hash = h[i]};
        assert_int_equal(pthread_create(&th[i], NULL, job_main, &jobs[i]), 0);
    }
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    ts_sq_write_stats after = stats_of(s);
    for (int i = 0; i < N; i++) {
        assert_int_equal(jobs[i].st, TS_EIO);
        assert_string_equal(jobs[i].err.where, "BEGIN IMMEDIATE");
        assert_non_null(strstr(jobs[i].err.msg, "busy"));
    }
    assert_int_equal(after.requests - before.requests, N);
    assert_int_equal(after.commits - before.commits, 0);
    /* While the first leader waited out the timeout, the others queued into one batch. */
    assert_true(after.batches - before.batches < N);
    assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    for (int i = 0; i < N; i++)
        assert_int_equal(usage_of(s, fam[i].id), 0);
    assert_int_equal(ts_store_check(s, true, NULL), TS_OK);
    ts_store_free(s);
    tdir_remove(&t);
}

/* ---- 100 threads racing to rotate one token -------------------------------------------- */

#define RACERS 100

typedef struct racer {
    ts_store *s;
    const char *presented;
    pthread_barrier_t *barrier;
    ts_status st;
    ts_store_rotate_result r;
} racer;

static void *racer_main(void *arg)
{
    racer *rc = arg;
    char nh[TS_STORE_HASH_LEN + 1];
    random_hash(nh);
    pthread_barrier_wait(rc->barrier);
    rc->st = ts_store_refresh_rotate(rc->s, rc->presented, nh, "10.0.0.1", T0 + 1, &rc->r, NULL);
    return NULL;
}

static void test_race_on_one_token(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store_sync(t.db, TS_STORE_SYNC_FULL, 5000);
    char h0[TS_STORE_HASH_LEN + 1];
    ts_store_family fam;
    new_family(s, h0, &fam);
    static racer rs[RACERS];
    pthread_t th[RACERS];
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, RACERS);
    for (int i = 0; i < RACERS; i++) {
        memset(&rs[i], 0, sizeof rs[i]);
        rs[i].s = s;
        rs[i].presented = h0;
        rs[i].barrier = &barrier;
        assert_int_equal(pthread_create(&th[i], NULL, racer_main, &rs[i]), 0);
    }
    int ok = 0, reuse = 0, revoked = 0;
    for (int i = 0; i < RACERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(rs[i].st, TS_OK);
        ok += rs[i].r.outcome == TS_STORE_ROTATE_OK;
        reuse += rs[i].r.outcome == TS_STORE_ROTATE_REUSE_DETECTED;
        revoked += rs[i].r.outcome == TS_STORE_ROTATE_REVOKED;
    }
    pthread_barrier_destroy(&barrier);
    assert_int_equal(ok, 1);
    assert_int_equal(reuse, 1);
    assert_int_equal(revoked, RACERS - 2);
    ts_store_family f;
    assert_int_equal(ts_store_family_get(s, fam.id, &f, NULL), TS_OK);
    assert_int_equal(f.usage_count, 1);
    assert_string_equal(f.revoke_reason, "reuse_detected");
    assert_int_equal(audit_of(s, "refresh_token_rotated").n, 1);
    assert_int_equal(audit_of(s, "refresh_token_family_revoked").n, 1);
    /* The reuse is audited once. The later replays of the revoked family's old token share
     * already-revoked rows: one at once, and the rest counted in one more when the store
     * closes (all came within one replay_audit_interval_s). */
    assert_int_equal(audit_of(s, "refresh_token_replay_detected").n, 1);
    assert_int_equal(audit_of(s, "refresh_token_family_already_revoked").n, 1);
    ts_store_free(s);
    s = open_store_sync(t.db, TS_STORE_SYNC_NORMAL, 5000);
    audit_count ar = audit_of(s, "refresh_token_family_already_revoked");
    assert_int_equal(ar.n, 2);
    char want[32];
    snprintf(want, sizeof want, "{\"replays\":%d,", RACERS - 3);
    assert_non_null(strstr(ar.last_detail, want));
    ts_store_free(s);
    tdir_remove(&t);
}

/* ---- Another process writing the same file ---------------------------------------------- */

#define PROC_THREADS 8
#define PROC_ROUNDS 25
#define CHILD_WRITES 60

static int child_writes(const char *path, int ready_fd)
{
    ts_store_options o = TS_STORE_OPTIONS_INIT;
    o.path = path;
    o.synchronous = TS_STORE_SYNC_NORMAL;
    ts_store *s = ts_store_new(&o, NULL);
    if (!s)
        return 90;
    char go;
    if (read(ready_fd, &go, 1) != 1)
        return 91;
    int failures = 0;
    for (int i = 0; i < CHILD_WRITES; i++) {
        ts_store_bootstrap_params p = {"child", "smd", "", "", 600, 86400, T0};
        char tok[TS_STORE_TOKEN_LEN + 1];
        if (ts_store_bootstrap_create(s, &p, tok, NULL, NULL) != TS_OK)
            failures++;
    }
    ts_store_free(s);
    return failures > 80 ? 80 : failures;
}

typedef struct proc_worker {
    ts_store *s;
    char hash[TS_STORE_HASH_LEN + 1];
    ts_store_family fam;
    int ok;
} proc_worker;

static void *proc_main(void *arg)
{
    proc_worker *w = arg;
    for (int i = 0; i < PROC_ROUNDS; i++) {
        char next[TS_STORE_HASH_LEN + 1];
        random_hash(next);
        ts_store_rotate_result r;
        if (ts_store_refresh_rotate(w->s, w->hash, next, NULL, T0 + 1 + i, &r, NULL) == TS_OK &&
            r.outcome == TS_STORE_ROTATE_OK)
            w->ok++;
        memcpy(w->hash, next, sizeof next);
    }
    return NULL;
}

static void test_second_process_writes(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    /* Create the schema first, then fork before any thread or connection of this test. */
    ts_store *s = open_store(t.db, NULL);
    ts_store_free(s);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[1]);
        _exit(child_writes(t.db, fds[0]));
    }
    close(fds[0]);
    s = open_store(t.db, NULL);
    static proc_worker ws[PROC_THREADS];
    pthread_t th[PROC_THREADS];
    for (int i = 0; i < PROC_THREADS; i++) {
        memset(&ws[i], 0, sizeof ws[i]);
        ws[i].s = s;
        new_family(s, ws[i].hash, &ws[i].fam);
    }
    assert_int_equal(write(fds[1], "g", 1), 1);
    close(fds[1]);
    for (int i = 0; i < PROC_THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, proc_main, &ws[i]), 0);
    for (int i = 0; i < PROC_THREADS; i++)
        pthread_join(th[i], NULL);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    for (int i = 0; i < PROC_THREADS; i++) {
        assert_int_equal(ws[i].ok, PROC_ROUNDS);
        assert_int_equal(usage_of(s, ws[i].fam.id), PROC_ROUNDS);
    }
    assert_int_equal(audit_of(s, "bootstrap_token_created").n, CHILD_WRITES);
    assert_int_equal(audit_of(s, "refresh_token_rotated").n, PROC_THREADS * PROC_ROUNDS);
    assert_int_equal(ts_store_check(s, true, NULL), TS_OK);
    ts_store_free(s);
    tdir_remove(&t);
}

int main(void)
{
    if (fault_vfs_install() != SQLITE_OK) {
        fprintf(stderr, "cannot install the fault-injecting SQLite VFS\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_writes_share_commits),
        cmocka_unit_test(test_failing_request_spares_its_batch),
        cmocka_unit_test(test_aborted_transaction_replays_the_rest),
        cmocka_unit_test(test_commit_failure_fails_the_batch),
        cmocka_unit_test(test_begin_failure_fails_the_batch),
        cmocka_unit_test(test_race_on_one_token),
        cmocka_unit_test(test_second_process_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
