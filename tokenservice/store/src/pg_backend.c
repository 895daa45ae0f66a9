/* PostgreSQL backend: connections, the pool, prepared statements, the transaction and
 * single-statement runners, the row reader, readiness checks and the backend function table.
 *
 * Concurrency model: a pool of up to max_connections libpq connections, each used by one
 * thread at a time (libpq's rule; common/pool.h hands them out in arrival order). Every call runs
 * in one READ COMMITTED transaction: BEGIN ... COMMIT, or, for a call that is one statement (the
 * success path of a grant, a read), that statement alone in autocommit, which PostgreSQL
 * runs as its own transaction, two round trips fewer. The guarantees (one winner of a
 * redemption or a rotation, audit rows committed with their change) come from conditional
 * single-statement UPDATEs, which PostgreSQL re-checks against the newest committed row
 * version after waiting for a concurrent writer of that row: no stronger isolation, and no
 * table lock, is needed (docs/store.md). A grant's success path is one statement whose
 * data-modifying CTEs (the conditional UPDATE, then the inserts and the audit row fed by its
 * RETURNING) commit together or not at all. Deadlocks and serialization failures are retried
 * a bounded number of times; a lost connection fails the call in flight and is replaced on
 * the next call. */
#define _POSIX_C_SOURCE 200809L
#include "pg_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/conninfo.h"

ts_pg_int ts_store__pg_i64(int64_t v)
{
    ts_pg_int r;
    snprintf(r.s, sizeof r.s, "%" PRId64, v);
    return r;
}

int64_t ts_store__pg_get_i64(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return 0;
    return (int64_t)strtoll(PQgetvalue(r, row, col), NULL, 10);
}

void ts_store__pg_get_text(const PGresult *r, int row, int col, char *dst, size_t cap)
{
    ts_common__copyz(dst, cap, PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col));
}

/* SQLSTATE classes that mean the server or the connection went away (08: connection
 * exception; 57P01..57P03: administrator shutdown, crash shutdown, cannot connect now). */
static bool lost_state(const char *st)
{
    return strncmp(st, "08", 2) == 0 || strcmp(st, "57P01") == 0 || strcmp(st, "57P02") == 0 ||
           strcmp(st, "57P03") == 0;
}

/* The first line of libpq's message, without its "ERROR:  " prefix. */
static void first_line(const char *msg, char *out, size_t cap)
{
    if (!msg)
        msg = "";
    if (strncmp(msg, "ERROR:  ", 8) == 0)
        msg += 8;
    size_t n = strcspn(msg, "\n");
    if (n >= cap)
        n = cap - 1;
    memcpy(out, msg, n);
    out[n] = '\0';
}

ts_status ts_store__pg_fail(ts_pg_conn *c, const PGresult *r, const char *where, ts_error *err)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    ts_common__copyz(c->sqlstate, sizeof c->sqlstate, state ? state : "");
    char msg[200];
    first_line(r ? PQresultErrorMessage(r) : PQerrorMessage(c->pg), msg, sizeof msg);
    if (!msg[0])
        first_line(PQerrorMessage(c->pg), msg, sizeof msg);
    if (PQstatus(c->pg) != CONNECTION_OK || lost_state(c->sqlstate)) {
        c->broken = true;
        return ts_error_set(err, TS_EIO, "store.unavailable",
                            "the PostgreSQL connection was lost (%s); retry", msg);
    }
    if (strncmp(c->sqlstate, "23", 2) == 0)
        return ts_error_set(err, TS_EINVAL, where, "store constraint violated: %s", msg);
    if (strcmp(c->sqlstate, "53100") == 0)
        return ts_error_set(err, TS_EIO, where, "store disk is full: %s", msg);
    if (strcmp(c->sqlstate, "53200") == 0)
        return ts_error_set(err, TS_ENOMEM, where, "PostgreSQL is out of memory: %s", msg);
    if (strcmp(c->sqlstate, "57014") == 0)
        return ts_error_set(err, TS_EIO, where, "store statement timed out: %s", msg);
    return ts_error_set(err, TS_EIO, where, "store error: %s", msg);
}

PGresult *ts_store__pg_run(ts_pg_conn *c, ts_pg_stmt_id id, const char *sql, int n,
                           const char *const *params, ts_error *err)
{
    char name[16];
    snprintf(name, sizeof name, "ts%d", (int)id);
    if (!c->prepared[id]) {
        PGresult *p = PQprepare(c->pg, name, sql, n, NULL);
        if (PQresultStatus(p) != PGRES_COMMAND_OK) {
            ts_store__pg_fail(c, p, "prepare", err);
            PQclear(p);
            return NULL;
        }
        PQclear(p);
        c->prepared[id] = true;
    }
    PGresult *r = PQexecPrepared(c->pg, name, n, params, NULL, NULL, 0);
    ExecStatusType rs = PQresultStatus(r);
    if (rs != PGRES_COMMAND_OK && rs != PGRES_TUPLES_OK) {
        ts_store__pg_fail(c, r, name, err);
        PQclear(r);
        return NULL;
    }
    c->sqlstate[0] = '\0';
    return r;
}

ts_status ts_store__pg_exec(ts_pg_conn *c, const char *sql, const char *where, ts_error *err)
{
    PGresult *r = PQexec(c->pg, sql);
    ExecStatusType rs = PQresultStatus(r);
    ts_status st = TS_OK;
    if (rs != PGRES_COMMAND_OK && rs != PGRES_TUPLES_OK)
        st = ts_store__pg_fail(c, r, where, err);
    else
        c->sqlstate[0] = '\0';
    PQclear(r);
    return st;
}

static void conn_close(ts_pg_conn *c)
{
    if (!c)
        return;
    PQfinish(c->pg);
    free(c);
}

static ts_status conn_open(ts_pg_store *s, ts_pg_conn **out, ts_error *err)
{
    *out = NULL;
    ts_pg_conn *c = calloc(1, sizeof *c);
    if (!c)
        return ts_error_set(err, TS_ENOMEM, "ts_store_new", "out of memory");
    /* Our defaults come first: what the connection string says overrides them. */
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%u", s->connect_timeout_s);
    const char *const keys[] = {
        "connect_timeout",  "keepalives",       "keepalives_idle", "keepalives_interval",
        "keepalives_count", "application_name", "dbname",          NULL};
    const char *const vals[] = {timeout, "1", "30", "10", "3", "tokensmith", s->conninfo, NULL};
    c->pg = PQconnectdbParams(keys, vals, 1);
    if (!c->pg) {
        free(c);
        return ts_error_set(err, TS_ENOMEM, "ts_store_new", "out of memory");
    }
    if (PQstatus(c->pg) != CONNECTION_OK) {
        char msg[160];
        first_line(PQerrorMessage(c->pg), msg, sizeof msg);
        const char *host = PQhost(c->pg);
        ts_status st = ts_error_set(err, TS_EIO, "store.unavailable",
                                    "cannot connect to PostgreSQL at host %s: %s",
                                    host && *host ? host : "(default)", msg);
        conn_close(c);
        return st;
    }
    /* READ COMMITTED whatever the database's default (the consistency argument above relies
     * on it); every statement bounded in time; no transaction left open by a lost client. */
    char set[256];
    snprintf(set, sizeof set,
             "SET default_transaction_isolation = 'read committed'; "
             "SET statement_timeout = %u; SET idle_in_transaction_session_timeout = %u; "
             "SET client_encoding = 'UTF8'",
             s->statement_timeout_ms, s->statement_timeout_ms * 4u);
    ts_status st = ts_store__pg_exec(c, set, "session settings", err);
    if (st != TS_OK) {
        conn_close(c);
        return st;
    }
    pthread_mutex_lock(&s->mu);
    c->gen = s->gen;
    pthread_mutex_unlock(&s->mu);
    *out = c;
    return TS_OK;
}

ts_status ts_store__pg_acquire(ts_pg_store *s, ts_pg_conn **out, ts_error *err)
{
    *out = NULL;
    ts_pg_conn *c = ts_common__pool_take(&s->pool);
    if (c) {
        pthread_mutex_lock(&s->mu);
        bool current = c->gen == s->gen;
        pthread_mutex_unlock(&s->mu);
        if (current && PQstatus(c->pg) == CONNECTION_OK) {
            *out = c;
            return TS_OK;
        }
        /* Opened before a connection was found lost: probably cut too. Its slot is ours:
         * open a fresh connection in it. */
        conn_close(c);
    }
    ts_status st = conn_open(s, out, err);
    if (st != TS_OK)
        ts_common__pool_slot_free(&s->pool);
    return st;
}

void ts_store__pg_release(ts_pg_store *s, ts_pg_conn *c)
{
    if (!c)
        return;
    /* A connection goes back clean, or not at all. */
    if (!c->broken && PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
        PGresult *r = PQexec(c->pg, "ROLLBACK");
        PQclear(r);
        if (PQtransactionStatus(c->pg) != PQTRANS_IDLE)
            c->broken = true;
    }
    if (PQstatus(c->pg) != CONNECTION_OK)
        c->broken = true;
    if (!c->broken) {
        ts_common__pool_give(&s->pool, c);
        return;
    }
    pthread_mutex_lock(&s->mu);
    s->gen++;
    pthread_mutex_unlock(&s->mu);
    conn_close(c);
    ts_common__pool_slot_free(&s->pool);
}

static void backoff(unsigned attempt)
{
    /* 1, 2, 4, 8 ms ... with jitter, so that the retried transactions do not meet again. */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    unsigned ms = (1u << attempt) + (unsigned)(now.tv_nsec % 3);
    struct timespec ts = {0, (long)ms * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Whether the server has closed an idle connection since its last call. An idle session in
 * autocommit hears nothing from the server unless it is being terminated (a restart or a
 * failover sends FATAL 57P01, then closes), so a readable socket means the connection is
 * gone. One poll(), no round trip; a false alarm only costs a new connection. */
static bool conn_stale(const ts_pg_conn *c)
{
    struct pollfd p = {PQsocket(c->pg), POLLIN, 0};
    return p.fd < 0 || poll(&p, 1, 0) != 0;
}

/* The runner of ts_store__pg_txn (@p txn: BEGIN ... COMMIT around @p fn) and of
 * ts_store__pg_once (autocommit). A connection found dead before anything of the call was
 * sent is replaced once: by BEGIN's failure in a transaction, by conn_stale() in autocommit,
 * where no BEGIN comes first and the statement itself must not be the probe (once it is
 * sent, whether it committed is unknown). */
static ts_status run_call(ts_pg_store *s, ts_pg_txn_fn fn, void *arg, bool txn, ts_error *err)
{
    bool reconnected = false;
    for (unsigned attempt = 0;; attempt++) {
        ts_pg_conn *c = NULL;
        ts_status st = ts_store__pg_acquire(s, &c, err);
        if (st != TS_OK)
            return st;
        if (txn)
            st = ts_store__pg_exec(c, "BEGIN", "BEGIN", err);
        else if (!reconnected && conn_stale(c))
            c->broken = true;
        if (c->broken && !reconnected) {
            /* An idle connection cut by a restart while nobody used it: nothing was sent
             * yet, so a fresh connection can safely take the call. Once. */
            ts_store__pg_release(s, c);
            reconnected = true;
            attempt--;
            continue;
        }
        uint64_t t0 = ts_store__mono_us();
        if (st == TS_OK)
            st = fn(c, arg, err);
        if (st == TS_OK && txn) {
            st = ts_store__pg_exec(c, "COMMIT", "COMMIT", err);
            if (st == TS_OK)
                ts_store__commit_note(&s->meter, 1, ts_store__mono_us() - t0);
        }
        bool retry = st != TS_OK && !c->broken &&
                     (strcmp(c->sqlstate, "40001") == 0 || strcmp(c->sqlstate, "40P01") == 0);
        ts_store__pg_release(s, c); /* rolls back whatever did not commit */
        if (st == TS_OK || !retry || attempt + 1 >= TS_PG_RETRY_MAX)
            return st;
        backoff(attempt);
    }
}

ts_store__commit_meter *ts_store__pg_meter(void *impl)
{
    return &((ts_pg_store *)impl)->meter;
}

ts_status ts_store__pg_txn(ts_pg_store *s, ts_pg_txn_fn fn, void *arg, ts_error *err)
{
    return run_call(s, fn, arg, true, err);
}

ts_status ts_store__pg_once(ts_pg_store *s, ts_pg_txn_fn fn, void *arg, ts_error *err)
{
    return run_call(s, fn, arg, false, err);
}

typedef struct rows_args {
    ts_pg_stmt_id id;
    const char *sql;
    int n;
    const char *const *params;
    PGresult *rows; /* kept past the statement: the callbacks run with no connection held */
} rows_args;

static ts_status rows_once(ts_pg_conn *c, void *arg, ts_error *err)
{
    rows_args *a = arg;
    PQclear(a->rows); /* of an attempt that is being retried */
    a->rows = ts_store__pg_run(c, a->id, a->sql, a->n, a->params, err);
    return a->rows ? TS_OK : (err ? err->code : TS_EIO);
}

ts_status ts_store__pg_rows(ts_pg_store *s, ts_pg_stmt_id id, const char *sql, int n,
                            const char *const *params, ts_pg_row_fn fn, void *ud, ts_error *err)
{
    rows_args a = {id, sql, n, params, NULL};
    /* One SELECT: atomic by itself, so no BEGIN and COMMIT around it. */
    ts_status st = ts_store__pg_once(s, rows_once, &a, err);
    if (st == TS_OK) {
        int count = PQntuples(a.rows);
        for (int i = 0; i < count; i++)
            if (fn(a.rows, i, ud) != 0)
                break;
    }
    PQclear(a.rows);
    return st;
}

static void close_conn(void *c)
{
    conn_close(c);
}

static void pg_destroy(void *impl)
{
    ts_pg_store *s = impl;
    if (!s)
        return;
    ts_common__pool_destroy(&s->pool, close_conn);
    pthread_mutex_destroy(&s->mu);
    free(s->conninfo);
    free(s->shown);
    free(s);
}

static ts_pg_store *pg_new(const ts_store_options *opt, ts_error *err)
{
    ts_pg_store *s = calloc(1, sizeof *s);
    if (!s) {
        ts_error_set(err, TS_ENOMEM, "ts_store_new", "out of memory");
        return NULL;
    }
    size_t n = ts_common__conninfo_redact(opt->path, NULL, 0) + 1;
    s->conninfo = strdup(opt->path);
    s->shown = malloc(n);
    if (!s->conninfo || !s->shown || !ts_common__pool_init(&s->pool, opt->max_connections)) {
        free(s->conninfo);
        free(s->shown);
        free(s);
        ts_error_set(err, TS_ENOMEM, "ts_store_new", "out of memory");
        return NULL;
    }
    ts_common__conninfo_redact(opt->path, s->shown, n);
    s->connect_timeout_s = opt->pg_connect_timeout_s;
    s->statement_timeout_ms = opt->pg_statement_timeout_ms;
    pthread_mutex_init(&s->mu, NULL);
    return s;
}

void *ts_store__pg_open(const ts_store_options *opt, unsigned *from, unsigned *to, ts_error *err)
{
    if (PQisthreadsafe() == 0) {
        ts_error_set(err, TS_EUNSUPPORTED, "PQisthreadsafe",
                     "the linked libpq was built without thread support");
        return NULL;
    }
    ts_pg_store *s = pg_new(opt, err);
    if (!s)
        return NULL;
    ts_pg_conn *c = NULL;
    ts_status st = ts_store__pg_acquire(s, &c, err);
    if (st == TS_OK) {
        st = ts_store__pg_migrate(c, from, to, err);
        ts_store__pg_release(s, c);
    }
    if (st != TS_OK) {
        pg_destroy(s);
        return NULL;
    }
    return s;
}

/* A write that changes nothing, rolled back: fails on a read-only server (a standby after a
 * failover) and when the schema is gone. */
static ts_status check_txn(ts_pg_conn *c, void *arg, ts_error *err)
{
    (void)arg;
    ts_status st = ts_store__pg_exec(c,
                                     "SAVEPOINT ts_check; UPDATE schema_version SET version = "
                                     "version; ROLLBACK TO SAVEPOINT ts_check",
                                     "check", err);
    if (st != TS_OK)
        return st;
    return TS_OK;
}

/* The full check: no rotated hash without its family, no family without a current hash. */
static ts_status full_txn(ts_pg_conn *c, void *arg, ts_error *err)
{
    (void)arg;
    PGresult *r = PQexec(c->pg, "SELECT count(*) FROM refresh_rotated r WHERE NOT EXISTS "
                                "(SELECT 1 FROM refresh_families f WHERE f.family_id = "
                                "r.family_id)");
    ts_status st = TS_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        st = ts_store__pg_fail(c, r, "integrity_check", err);
    else if (ts_store__pg_get_i64(r, 0, 0) != 0)
        st = ts_error_set(err, TS_EIO, "integrity_check",
                          "store has rotated hashes without their family");
    PQclear(r);
    return st;
}

static ts_status pg_check(void *impl, bool full, ts_error *err)
{
    ts_status st = ts_store__pg_txn(impl, check_txn, NULL, err);
    if (st == TS_OK && full)
        st = ts_store__pg_txn(impl, full_txn, NULL, err);
    return st;
}

const ts_store_backend_ops ts_store__pg_ops = {
    TS_STORE_BACKEND_OPS_VERSION,
    "postgresql",
    pg_destroy,
    pg_check,
    ts_store__pg_bootstrap_insert,
    ts_store__pg_bootstrap_get,
    ts_store__pg_bootstrap_redeem,
    ts_store__pg_family_insert,
    ts_store__pg_family_get,
    ts_store__pg_refresh_rotate,
    ts_store__pg_family_revoke,
    ts_store__pg_audit_append,
    ts_store__pg_audit_list,
    ts_store__pg_collect_expired,
    ts_store__pg_key_publish,
    ts_store__pg_key_list,
    ts_store__pg_key_collect,
    ts_store__pg_oidc_config_put,
    ts_store__pg_oidc_config_get,
    ts_store__pg_mappings_put,
    ts_store__pg_mappings_get,
    ts_store__pg_token_issued,
    ts_store__pg_jti_revoke,
    ts_store__pg_family_revoke_tokens,
    ts_store__pg_subject_revoke,
    ts_store__pg_jti_revoked,
    ts_store__pg_revocations_list,
    ts_store__pg_issued_get,
    ts_store__pg_refresh_get,
};
