/* Group commit: every write of the SQLite backend goes through ts_store__sq_write(), which lets the
 * writes of concurrent callers share one transaction and so one fsync.
 *
 * Leader/follower, no extra thread: a caller queues its request; if no batch is running it
 * becomes the leader, takes up to TS_SQ_WRITE_BATCH_MAX queued requests (its own first), runs
 * BEGIN IMMEDIATE, each request in its own savepoint, and one COMMIT, then hands every request
 * its status and wakes its caller. Requests that queued meanwhile form the next batch, led by
 * the oldest of them, so that a leader returns to its own caller as soon as its batch is
 * committed. The queue's mutex is never held while SQL runs. */
#include "sqlite_internal.h"

#include <string.h>

struct ts_sq_req {
    ts_sq_txn_fn fn;
    void *arg;
    ts_status st;
    ts_error e;  /* this request's own error, copied to the caller's at the end */
    bool failed; /* st is final: this request failed on its own, do not replay it */
    bool done;   /* st is final and the caller may return */
    bool lead;   /* the caller is to lead the next batch */
    pthread_cond_t cv;
    ts_sq_req *next;
};

void ts_store__sq_writer_init(ts_sq_writer *w)
{
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
}

void ts_store__sq_writer_destroy(ts_sq_writer *w)
{
    pthread_mutex_destroy(&w->mu);
}

ts_store__commit_meter *ts_store__sq_meter(void *impl)
{
    return &((ts_sq_store *)impl)->meter;
}

void ts_store__sq_write_stats(ts_sq_store *s, ts_sq_write_stats *out)
{
    ts_sq_writer *w = &s->w;
    pthread_mutex_lock(&w->mu);
    out->batches = w->batches;
    out->commits = w->commits;
    out->requests = w->requests;
    out->max_batch = w->max_batch;
    out->queued = w->queued;
    pthread_mutex_unlock(&w->mu);
}

/* Run one cached transaction-control statement (SAVEPOINT, RELEASE, ROLLBACK TO). */
static ts_status step_ctl(ts_sq_conn *c, ts_sq_stmt_id id, const char *sql, ts_error *err)
{
    sqlite3_stmt *q = ts_store__sq_stmt(c, id, sql, err);
    if (!q)
        return err->code != TS_OK ? err->code : TS_EIO;
    int rc = sqlite3_step(q);
    ts_status st = rc == SQLITE_DONE ? TS_OK : ts_store__sq_fail(c, sql, err);
    sqlite3_reset(q);
    return st;
}

/* Give every request of @p b that has no final status yet the batch's error. */
static void fail_rest(ts_sq_req **b, size_t n, ts_status st, const ts_error *e)
{
    for (size_t i = 0; i < n; i++) {
        if (b[i]->failed)
            continue;
        b[i]->st = st;
        b[i]->e = *e;
        b[i]->failed = true;
    }
}

typedef enum run_result {
    RUN_OK,     /* fn's changes are in the transaction */
    RUN_FAILED, /* fn failed; its changes were undone, the transaction goes on */
    RUN_ABORTED /* the transaction is gone (rolled back); the batch must start again */
} run_result;

static run_result run_one(ts_sq_conn *c, ts_sq_req *r)
{
    ts_error_clear(&r->e);
    ts_status st = step_ctl(c, TS_SQ_SP_BEGIN, "SAVEPOINT ts_req", &r->e);
    if (st == TS_OK) {
        st = r->fn(c, r->arg, &r->e);
        if (st == TS_OK)
            st = step_ctl(c, TS_SQ_SP_RELEASE, "RELEASE ts_req", &r->e);
        if (st == TS_OK && !sqlite3_get_autocommit(c->db))
            return RUN_OK;
        if (st == TS_OK)
            st = ts_error_set(&r->e, TS_EINTERNAL, "group commit",
                              "the batch's transaction ended inside a request");
    }
    r->st = st;
    r->failed = true;
    /* Some failures (I/O errors, a full disk, out of memory) make SQLite roll back the whole
     * transaction, not just the statement: then nothing is left to roll back to. */
    ts_store__sq_reset_all(c);
    if (!sqlite3_get_autocommit(c->db)) {
        ts_error ignore;
        ts_error_clear(&ignore);
        if (step_ctl(c, TS_SQ_SP_ROLLBACK, "ROLLBACK TO ts_req", &ignore) == TS_OK &&
            step_ctl(c, TS_SQ_SP_RELEASE, "RELEASE ts_req", &ignore) == TS_OK &&
            !sqlite3_get_autocommit(c->db))
            return RUN_FAILED;
    }
    ts_store__sq_rollback(c);
    return RUN_ABORTED;
}

/* Run the batch @p b of @p n requests in one transaction; every request ends with a final
 * status. @return whether the batch committed. */
static bool run_batch(ts_sq_store *s, ts_sq_req **b, size_t n, uint64_t *begun)
{
    ts_error e;
    ts_error_clear(&e);
    ts_sq_conn *c = NULL;
    ts_status st = ts_store__sq_acquire(s, &c, &e);
    if (st != TS_OK) {
        fail_rest(b, n, st, &e);
        return false;
    }
    bool committed = false;
    /* Each replay follows a request that failed for good, so there are at most n + 1 passes. */
    for (;;) {
        size_t live = 0;
        for (size_t i = 0; i < n; i++)
            live += b[i]->failed ? 0u : 1u;
        if (live == 0)
            break;
        (*begun)++;
        uint64_t t0 = ts_store__mono_us();
        st = ts_store__sq_begin(c, &e);
        if (st != TS_OK) {
            ts_store__sq_rollback(c);
            fail_rest(b, n, st, &e);
            break;
        }
        bool aborted = false;
        for (size_t i = 0; i < n && !aborted; i++)
            if (!b[i]->failed)
                aborted = run_one(c, b[i]) == RUN_ABORTED;
        if (aborted)
            continue;
        /* One COMMIT, and with synchronous=FULL one fsync, for the whole batch. */
        st = ts_store__sq_commit(c, &e);
        if (st != TS_OK) {
            fail_rest(b, n, st, &e);
            break;
        }
        for (size_t i = 0; i < n; i++)
            if (!b[i]->failed)
                b[i]->st = TS_OK;
        ts_store__commit_note(&s->meter, live, ts_store__mono_us() - t0);
        committed = true;
        break;
    }
    ts_store__sq_release(s, c);
    return committed;
}

/* Called by the leader with the queue's mutex held: detach the next batch. The leader is the
 * oldest queued request, so its own request is always in the batch it runs. */
static size_t take_batch(ts_sq_writer *w, ts_sq_req **b)
{
    size_t n = 0;
    while (w->head && n < TS_SQ_WRITE_BATCH_MAX) {
        b[n++] = w->head;
        w->head = w->head->next;
    }
    if (!w->head)
        w->tail = NULL;
    w->queued -= n;
    return n;
}

static void lead(ts_sq_store *s)
{
    ts_sq_writer *w = &s->w;
    ts_sq_req *b[TS_SQ_WRITE_BATCH_MAX];
    size_t n = take_batch(w, b);
    pthread_mutex_unlock(&w->mu);

    uint64_t begun = 0;
    bool committed = run_batch(s, b, n, &begun);

    pthread_mutex_lock(&w->mu);
    w->batches += begun;
    w->commits += committed ? 1u : 0u;
    w->requests += n;
    if (n > w->max_batch)
        w->max_batch = n;
    /* The next leader is woken first: the write lock stays idle until it runs. The signals
     * go out with the mutex held, so that no waiter can free its condition variable before. */
    if (w->head) {
        w->head->lead = true;
        pthread_cond_signal(&w->head->cv);
    } else {
        w->leading = false;
    }
    /* b[0] is the leader's own request: it returns by itself. */
    b[0]->done = true;
    for (size_t i = 1; i < n; i++) {
        b[i]->done = true;
        pthread_cond_signal(&b[i]->cv);
    }
}

ts_status ts_store__sq_write(ts_sq_store *s, ts_sq_txn_fn fn, void *arg, ts_error *err)
{
    ts_sq_writer *w = &s->w;
    ts_sq_req r;
    memset(&r, 0, sizeof r);
    r.fn = fn;
    r.arg = arg;
    r.st = TS_EINTERNAL;
    ts_error_clear(&r.e);
    pthread_cond_init(&r.cv, NULL);

    pthread_mutex_lock(&w->mu);
    if (w->tail)
        w->tail->next = &r;
    else
        w->head = &r;
    w->tail = &r;
    w->queued++;
    if (!w->leading) {
        w->leading = true;
        r.lead = true;
    }
    while (!r.done && !r.lead)
        pthread_cond_wait(&r.cv, &w->mu);
    if (!r.done)
        lead(s);
    pthread_mutex_unlock(&w->mu);
    pthread_cond_destroy(&r.cv);

    if (r.st != TS_OK && err)
        *err = r.e;
    return r.st;
}
