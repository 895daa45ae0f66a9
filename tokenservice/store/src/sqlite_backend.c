/* SQLite backend: file creation, the connection pool, per-connection statement cache,
 * transactions, readiness checks, and the backend function table.
 *
 * Concurrency model: a pool of up to max_connections connections, each used by one thread at
 * a time (opened SQLITE_OPEN_NOMUTEX; the pool's mutex hands them out). Reads use a pooled
 * connection directly. Every write goes through ts_store__sq_write() (sqlite_write.c), which groups
 * the writes of concurrent threads into one BEGIN IMMEDIATE transaction; writers from other
 * processes queue on SQLite's write lock (waiting up to busy_timeout_ms) while WAL lets
 * readers proceed. */
#define _POSIX_C_SOURCE 200809L
#include "sqlite_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

ts_status ts_store__sq_fail(ts_sq_conn *c, const char *where, ts_error *err)
{
    int rc = sqlite3_extended_errcode(c->db);
    const char *msg = sqlite3_errmsg(c->db);
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
        return ts_error_set(err, TS_EINVAL, where, "store constraint violated: %s", msg);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return ts_error_set(err, TS_EIO, where,
                            "store is busy (another writer held the lock "
                            "longer than the busy timeout): %s",
                            msg);
    case SQLITE_FULL:
        return ts_error_set(err, TS_EIO, where, "store disk is full: %s", msg);
    case SQLITE_READONLY:
        return ts_error_set(err, TS_EIO, where, "store is read-only: %s", msg);
    case SQLITE_NOMEM:
        return ts_error_set(err, TS_ENOMEM, where, "out of memory in SQLite");
    default:
        return ts_error_set(err, TS_EIO, where, "store error: %s", msg);
    }
}

sqlite3_stmt *ts_store__sq_stmt(ts_sq_conn *c, ts_sq_stmt_id id, const char *sql, ts_error *err)
{
    sqlite3_stmt *st = c->stmt[id];
    if (!st) {
        if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
            ts_store__sq_fail(c, "prepare", err);
            return NULL;
        }
        c->stmt[id] = st;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

ts_status ts_store__sq_exec(ts_sq_conn *c, const char *sql, const char *where, ts_error *err)
{
    if (sqlite3_exec(c->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return ts_store__sq_fail(c, where, err);
    return TS_OK;
}

int ts_store__sq_bind_text(sqlite3_stmt *st, int i, const char *v)
{
    /* Bound without a copy (SQLITE_STATIC): every caller steps and resets the statement while
       the string lives, and ts_store__sq_stmt() clears the bindings before the next use. A
       copy could fail for lack of memory, and the statement would then run with NULL in place
       of the value: a token looked up as unknown, a row written without a member. */
    return sqlite3_bind_text(st, i, v ? v : "", -1, SQLITE_STATIC);
}

void ts_store__sq_col_text(sqlite3_stmt *st, int col, char *dst, size_t cap)
{
    ts_common__copyz(dst, cap, (const char *)sqlite3_column_text(st, col));
}

void ts_store__sq_reset_all(ts_sq_conn *c)
{
    for (size_t i = 0; i < TS_SQ_STMT_COUNT; i++)
        if (c->stmt[i])
            sqlite3_reset(c->stmt[i]);
}

ts_status ts_store__sq_begin(ts_sq_conn *c, ts_error *err)
{
    ts_store__sq_reset_all(c);
    return ts_store__sq_exec(c, "BEGIN IMMEDIATE", "BEGIN IMMEDIATE", err);
}

ts_status ts_store__sq_commit(ts_sq_conn *c, ts_error *err)
{
    ts_store__sq_reset_all(c);
    ts_status st = ts_store__sq_exec(c, "COMMIT", "COMMIT", err);
    if (st != TS_OK)
        ts_store__sq_rollback(c);
    return st;
}

void ts_store__sq_rollback(ts_sq_conn *c)
{
    ts_store__sq_reset_all(c);
    if (!sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

static void conn_close(ts_sq_conn *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < TS_SQ_STMT_COUNT; i++)
        sqlite3_finalize(c->stmt[i]);
    sqlite3_close_v2(c->db);
    free(c);
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Switching a fresh database to WAL needs an exclusive lock for a moment; when several
 * processes open it at once that can report SQLITE_BUSY without waiting, so retry. */
static ts_status set_wal(ts_sq_conn *c, unsigned timeout_ms, ts_error *err)
{
    unsigned waited = 0;
    for (;;) {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(c->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
        char mode[16] = "";
        if (rc == SQLITE_OK) {
            rc = sqlite3_step(st);
            if (rc == SQLITE_ROW)
                ts_store__sq_col_text(st, 0, mode, sizeof mode);
        }
        sqlite3_finalize(st);
        if (rc == SQLITE_ROW) {
            if (strcmp(mode, "wal") != 0)
                return ts_error_set(err, TS_EIO, "journal_mode",
                                    "the store's file system does not support WAL (mode '%s')",
                                    mode);
            return TS_OK;
        }
        if ((rc & 0xff) != SQLITE_BUSY || waited >= timeout_ms)
            return ts_store__sq_fail(c, "journal_mode", err);
        sleep_ms(10);
        waited += 10;
    }
}

static ts_status conn_open(ts_sq_store *s, ts_sq_conn **out, ts_error *err)
{
    *out = NULL;
    ts_sq_conn *c = calloc(1, sizeof *c);
    if (!c)
        return ts_error_set(err, TS_ENOMEM, "ts_store_new", "out of memory");
    int rc = sqlite3_open_v2(
        s->path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW, NULL);
    if (rc != SQLITE_OK) {
        ts_status st = c->db ? ts_store__sq_fail(c, s->path, err)
                             : ts_error_set(err, TS_ENOMEM, s->path, "out of memory");
        conn_close(c);
        return st;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, (int)s->busy_timeout_ms);
    ts_status st = set_wal(c, s->busy_timeout_ms, err);
    if (st == TS_OK)
        st = ts_store__sq_exec(c,
                               s->synchronous == TS_STORE_SYNC_FULL ? "PRAGMA synchronous=FULL"
                                                                    : "PRAGMA synchronous=NORMAL",
                               "synchronous", err);
    /* secure_delete: collected hashes and subjects are overwritten, not left in free pages. */
    if (st == TS_OK)
        st =
            ts_store__sq_exec(c, "PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON", "pragmas", err);
    if (st == TS_OK) {
        /* A negative cache_size is in KiB: the pool's memory stays bounded as audit records
         * accumulate. */
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA cache_size=-%u", s->page_cache_kib);
        st = ts_store__sq_exec(c, pragma, "page_cache_kib", err);
    }
    if (st != TS_OK) {
        conn_close(c);
        return st;
    }
    *out = c;
    return TS_OK;
}

ts_status ts_store__sq_acquire(ts_sq_store *s, ts_sq_conn **out, ts_error *err)
{
    *out = ts_common__pool_take(&s->pool);
    if (*out)
        return TS_OK;
    ts_status st = conn_open(s, out, err); /* a free slot: open a connection in it */
    if (st != TS_OK)
        ts_common__pool_slot_free(&s->pool);
    return st;
}

void ts_store__sq_release(ts_sq_store *s, ts_sq_conn *c)
{
    if (!c)
        return;
    /* A connection goes back clean even if a caller forgot to finish its transaction. */
    ts_store__sq_rollback(c);
    ts_common__pool_give(&s->pool, c);
}

static void close_conn(void *c)
{
    conn_close(c);
}

static void sq_destroy(void *impl)
{
    ts_sq_store *s = impl;
    if (!s)
        return;
    ts_common__pool_destroy(&s->pool, close_conn);
    ts_store__sq_writer_destroy(&s->w);
    free(s->path);
    free(s);
}

/* Create the database file ourselves so that it is 0600 from the first byte; SQLite gives its
 * -wal and -shm files the same mode. */
static ts_status create_file(const char *path, ts_error *err)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return ts_error_set(err, TS_EIO, path, "cannot open store file: %s", strerror(errno));
    struct stat sb;
    ts_status st = TS_OK;
    if (fstat(fd, &sb) != 0)
        st = ts_error_set(err, TS_EIO, path, "cannot stat store file: %s", strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        st = ts_error_set(err, TS_EINVAL, path, "store path is not a regular file");
    else if ((sb.st_mode & 077) != 0 && sb.st_uid == geteuid() && fchmod(fd, 0600) != 0)
        st = ts_error_set(err, TS_EIO, path, "cannot restrict store file to mode 0600: %s",
                          strerror(errno));
    close(fd);
    return st;
}

void *ts_store__sqlite_open(const ts_store_options *opt, ts_error *err)
{
    if (!opt->path || !*opt->path || strcmp(opt->path, ":memory:") == 0 ||
        strncmp(opt->path, "file:", 5) == 0) {
        ts_error_set(err, TS_EINVAL, "options.path",
                     "the SQLite store needs a file path (not in-memory or a URI)");
        return NULL;
    }
    if (sqlite3_threadsafe() == 0) {
        ts_error_set(err, TS_EUNSUPPORTED, "sqlite3_threadsafe",
                     "the linked SQLite was built without thread support");
        return NULL;
    }
    if (create_file(opt->path, err) != TS_OK)
        return NULL;
    ts_sq_store *s = calloc(1, sizeof *s);
    if (!s) {
        ts_error_set(err, TS_ENOMEM, "ts_store_new", "out of memory");
        return NULL;
    }
    s->path = strdup(opt->path);
    if (!s->path || !ts_common__pool_init(&s->pool, opt->max_connections)) {
        free(s->path);
        free(s);
        ts_error_set(err, TS_ENOMEM, "ts_store_new", "out of memory");
        return NULL;
    }
    s->busy_timeout_ms = opt->busy_timeout_ms;
    s->page_cache_kib = opt->page_cache_kib;
    s->synchronous = opt->synchronous;
    ts_store__sq_writer_init(&s->w);

    /* The write lock makes concurrent first opens (server and CLI) migrate exactly once. */
    if (ts_store__sq_write(s, ts_store__sq_schema_migrate, NULL, err) != TS_OK) {
        sq_destroy(s);
        return NULL;
    }
    return s;
}

/* A write that changes nothing: undone by a nested savepoint before its request ends. */
static ts_status check_write(ts_sq_conn *c, void *arg, ts_error *err)
{
    (void)arg;
    return ts_store__sq_exec(c,
                             "SAVEPOINT ts_check; UPDATE schema_version SET version = version; "
                             "ROLLBACK TO ts_check; RELEASE ts_check",
                             "check", err);
}

static ts_status integrity(ts_sq_conn *c, ts_error *err)
{
    sqlite3_stmt *q = NULL;
    ts_status st = TS_OK;
    if (sqlite3_prepare_v2(c->db, "PRAGMA integrity_check(1)", -1, &q, NULL) != SQLITE_OK)
        st = ts_store__sq_fail(c, "integrity_check", err);
    else if (sqlite3_step(q) != SQLITE_ROW)
        st = ts_store__sq_fail(c, "integrity_check", err);
    else if (strcmp((const char *)sqlite3_column_text(q, 0), "ok") != 0)
        st = ts_error_set(err, TS_EIO, "integrity_check", "store integrity check failed: %s",
                          (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    if (st != TS_OK)
        return st;
    if (sqlite3_prepare_v2(c->db, "PRAGMA foreign_key_check", -1, &q, NULL) != SQLITE_OK)
        st = ts_store__sq_fail(c, "foreign_key_check", err);
    else if (sqlite3_step(q) == SQLITE_ROW)
        st = ts_error_set(err, TS_EIO, "foreign_key_check",
                          "store has a dangling reference in table %s",
                          (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    return st;
}

static ts_status sq_check(void *impl, bool full, ts_error *err)
{
    ts_sq_store *s = impl;
    /* Taking the write lock and writing prove the file is writable and not wedged by another
     * process. */
    ts_status st = ts_store__sq_write(s, check_write, NULL, err);
    if (st != TS_OK || !full)
        return st;
    ts_sq_conn *c = NULL;
    st = ts_store__sq_acquire(s, &c, err);
    if (st != TS_OK)
        return st;
    st = integrity(c, err);
    ts_store__sq_release(s, c);
    return st;
}

const ts_store_backend_ops ts_store__sqlite_ops = {
    TS_STORE_BACKEND_OPS_VERSION,
    "sqlite",
    sq_destroy,
    sq_check,
    ts_store__sq_bootstrap_insert,
    ts_store__sq_bootstrap_get,
    ts_store__sq_bootstrap_redeem,
    ts_store__sq_family_insert,
    ts_store__sq_family_get,
    ts_store__sq_refresh_rotate,
    ts_store__sq_family_revoke,
    ts_store__sq_audit_append,
    ts_store__sq_audit_list,
    ts_store__sq_collect_expired,
    ts_store__sq_key_publish,
    ts_store__sq_key_list,
    ts_store__sq_key_collect,
    ts_store__sq_oidc_config_put,
    ts_store__sq_oidc_config_get,
    ts_store__sq_mappings_put,
    ts_store__sq_mappings_get,
    ts_store__sq_token_issued,
    ts_store__sq_jti_revoke,
    ts_store__sq_family_revoke_tokens,
    ts_store__sq_subject_revoke,
    ts_store__sq_jti_revoked,
    ts_store__sq_revocations_list,
    ts_store__sq_issued_get,
    ts_store__sq_refresh_get,
};
