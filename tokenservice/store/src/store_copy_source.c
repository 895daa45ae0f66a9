/* The source side of ts_store_copy(): the rows of a SQLite store, read in one read transaction
 * (WAL gives it a snapshot, so the tables are read as of one moment even if a forgotten writer
 * is still running) and handed out one row at a time, so that memory does not grow with the
 * size of the store. */
#define _POSIX_C_SOURCE 200809L
#include "store_copy_internal.h"

#include <stdio.h>
#include <string.h>

ts_status ts_store__copy_src_open(ts_sq_store *sq, ts_store__copy_src *src, ts_error *err)
{
    memset(src, 0, sizeof *src);
    ts_sq_conn *c = NULL;
    ts_status st = ts_store__sq_acquire(sq, &c, err);
    if (st != TS_OK)
        return st;
    /* A deferred BEGIN: the snapshot is taken by the first read and kept until the end. */
    st = ts_store__sq_exec(c, "BEGIN", "copy.from", err);
    if (st != TS_OK) {
        ts_store__sq_release(sq, c);
        return st;
    }
    src->sq = sq;
    src->c = c;
    return TS_OK;
}

void ts_store__copy_src_close(ts_store__copy_src *src)
{
    if (!src || !src->c)
        return;
    ts_store__sq_release(src->sq, src->c); /* rolls the read transaction back */
    src->c = NULL;
}

/* The first integer of @p sql (no parameters). */
static ts_status src_int(ts_store__copy_src *src, const char *sql, int64_t *out, ts_error *err)
{
    sqlite3_stmt *q = NULL;
    *out = 0;
    if (sqlite3_prepare_v2(src->c->db, sql, -1, &q, NULL) != SQLITE_OK)
        return ts_store__sq_fail(src->c, "copy.from", err);
    ts_status st = TS_OK;
    if (sqlite3_step(q) == SQLITE_ROW)
        *out = sqlite3_column_int64(q, 0);
    else
        st = ts_store__sq_fail(src->c, "copy.from", err);
    sqlite3_finalize(q);
    return st;
}

ts_status ts_store__copy_src_audit_hwm(ts_store__copy_src *src, int64_t *out, ts_error *err)
{
    /* audit_log is AUTOINCREMENT: sqlite_sequence remembers the highest id ever given, also
     * once collection deleted that row. An audit reader that pages by id keeps its place. */
    return src_int(src,
                   "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = "
                   "'audit_log'), 0), coalesce((SELECT max(id) FROM audit_log), 0))",
                   out, err);
}

ts_status ts_store__copy_src_revocation_hwm(ts_store__copy_src *src, int64_t *out, ts_error *err)
{
    /* The same for revocations: a verifier's cursor (a seq) stays valid on the target. */
    return src_int(src,
                   "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = "
                   "'revocations'), 0), coalesce((SELECT max(seq) FROM revocations), 0))",
                   out, err);
}

ts_status ts_store__copy_src_scan(ts_store__copy_src *src, const ts_store__copy_table *t,
                                  ts_store__copy_row_fn fn, void *ud, uint64_t *rows, ts_error *err)
{
    char sql[512];
    *rows = 0;
    if (t->ncols > TS_STORE__COPY_MAX_COLS)
        return ts_error_set(err, TS_EINTERNAL, "copy.from", "table %s has too many columns",
                            t->name);
    snprintf(sql, sizeof sql, "SELECT %s FROM %s ORDER BY %s", t->columns, t->name, t->order);
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(src->c->db, sql, -1, &q, NULL) != SQLITE_OK)
        return ts_store__sq_fail(src->c, "copy.from", err);
    if ((unsigned)sqlite3_column_count(q) != t->ncols) {
        sqlite3_finalize(q);
        return ts_error_set(err, TS_EINTERNAL, "copy.from", "table %s: unexpected columns",
                            t->name);
    }
    const char *vals[TS_STORE__COPY_MAX_COLS];
    size_t lens[TS_STORE__COPY_MAX_COLS];
    ts_status st = TS_OK;
    int rc = SQLITE_DONE;
    while (st == TS_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        for (unsigned i = 0; i < t->ncols; i++) {
            int col = (int)i;
            if (sqlite3_column_type(q, col) == SQLITE_NULL) {
                vals[i] = NULL;
                lens[i] = 0;
                continue;
            }
            /* Text first, then its length (SQLite's rule: the conversion may change it). An
             * integer column gives its decimal text, which PostgreSQL's bigint reads back. */
            vals[i] = (const char *)sqlite3_column_text(q, col);
            lens[i] = (size_t)sqlite3_column_bytes(q, col);
            if (!vals[i]) {
                st = ts_error_set(err, TS_ENOMEM, "copy.from", "out of memory in SQLite");
                break;
            }
        }
        if (st == TS_OK)
            st = fn(vals, lens, ud, err);
        if (st == TS_OK)
            (*rows)++;
    }
    if (st == TS_OK && rc != SQLITE_DONE)
        st = ts_store__sq_fail(src->c, "copy.from", err);
    sqlite3_finalize(q);
    return st;
}
