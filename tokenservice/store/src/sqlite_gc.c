/* Collection of expired records in the SQLite backend, in small batches so that the write
 * lock is never held for long while grants are being served. */
#include "sqlite_internal.h"

typedef struct gc_step {
    ts_sq_stmt_id id;
    const char *sql;
    int64_t cutoff;
    unsigned batch;
    uint64_t deleted; /* by the last run of the step (a replayed run overwrites it) */
} gc_step;

static ts_status gc_txn(ts_sq_conn *c, void *arg, ts_error *err)
{
    gc_step *g = arg;
    g->deleted = 0;
    sqlite3_stmt *q = ts_store__sq_stmt(c, g->id, g->sql, err);
    if (!q)
        return err->code != TS_OK ? err->code : TS_EIO;
    sqlite3_bind_int64(q, 1, g->cutoff);
    sqlite3_bind_int64(q, 2, g->batch);
    int rc = sqlite3_step(q);
    g->deleted = (uint64_t)sqlite3_changes64(c->db);
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? TS_OK : ts_store__sq_fail(c, "collect", err);
}

/* One write per batch of deletions, each sharing its commit with the grants of the moment. */
static ts_status run_batches(ts_sq_store *s, ts_sq_stmt_id id, const char *sql, int64_t cutoff,
                             unsigned batch, uint64_t *count, ts_error *err)
{
    gc_step g = {id, sql, cutoff, batch, 0};
    for (;;) {
        ts_status st = ts_store__sq_write(s, gc_txn, &g, err);
        if (st != TS_OK)
            return st;
        *count += g.deleted;
        if (g.deleted < batch)
            return TS_OK;
    }
}

/* The newest audit id. Ids only grow (AUTOINCREMENT), so at most max_rows rows have an id
 * above newest - max_rows, whatever gaps earlier deletions left. */
static ts_status audit_newest_id(ts_sq_store *s, int64_t *out, ts_error *err)
{
    *out = 0;
    ts_sq_conn *c = NULL;
    ts_status st = ts_store__sq_acquire(s, &c, err);
    if (st != TS_OK)
        return st;
    sqlite3_stmt *q = ts_store__sq_stmt(c, TS_SQ_GC_AUDIT_NEWEST,
                                        "SELECT coalesce(max(id), 0) FROM audit_log", err);
    if (!q) {
        st = err && err->code != TS_OK ? err->code : TS_EIO;
    } else {
        if (sqlite3_step(q) == SQLITE_ROW)
            *out = sqlite3_column_int64(q, 0);
        else
            st = ts_store__sq_fail(c, "collect", err);
        sqlite3_reset(q);
    }
    ts_store__sq_release(s, c);
    return st;
}

ts_status ts_store__sq_collect_expired(void *impl, const ts_store_gc_args *a,
                                       ts_store_gc_counts *out, ts_error *err)
{
    ts_sq_store *s = impl;
    int64_t cut = a->now - a->retention_s;
    ts_status st = run_batches(s, TS_SQ_GC_BOOTSTRAP,
                               "DELETE FROM bootstrap_tokens WHERE rowid IN (SELECT rowid FROM "
                               "bootstrap_tokens WHERE expires_at <= ?1 OR consumed_at <= ?1 "
                               "LIMIT ?2)",
                               cut, a->batch, &out->bootstrap_tokens, err);
    /* Rotated hashes first, so that their count is reported (the foreign key would cascade). */
    if (st == TS_OK)
        st = run_batches(s, TS_SQ_GC_ROTATED,
                         "DELETE FROM refresh_rotated WHERE rowid IN (SELECT r.rowid FROM "
                         "refresh_rotated r JOIN refresh_families f ON f.family_id = "
                         "r.family_id WHERE f.expires_at <= ?1 OR f.revoked_at <= ?1 LIMIT ?2)",
                         cut, a->batch, &out->rotated_hashes, err);
    if (st == TS_OK)
        st = run_batches(s, TS_SQ_GC_FAMILIES,
                         "DELETE FROM refresh_families WHERE rowid IN (SELECT rowid FROM "
                         "refresh_families WHERE expires_at <= ?1 OR revoked_at <= ?1 LIMIT ?2)",
                         cut, a->batch, &out->families, err);
    if (st == TS_OK && a->audit_retention_s > 0)
        st = run_batches(s, TS_SQ_GC_AUDIT,
                         "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at "
                         "<= ?1 LIMIT ?2)",
                         a->now - a->audit_retention_s, a->batch, &out->audit_records, err);
    /* Issued access tokens and revocations once their token's exp has passed: the token is
     * refused for its expiry from then on, revoked or not. */
    if (st == TS_OK)
        st = run_batches(s, TS_SQ_GC_ISSUED,
                         "DELETE FROM issued_tokens WHERE rowid IN (SELECT rowid FROM "
                         "issued_tokens WHERE expires_at <= ?1 LIMIT ?2)",
                         a->now, a->batch, &out->issued, err);
    if (st == TS_OK)
        st = run_batches(s, TS_SQ_GC_REVOCATIONS,
                         "DELETE FROM revocations WHERE seq IN (SELECT seq FROM revocations "
                         "WHERE expires_at <= ?1 LIMIT ?2)",
                         a->now, a->batch, &out->revocations, err);
    /* The size bound, whatever the ages: the oldest rows beyond audit_max_rows go. The cut is
     * fixed before deleting, so that a flood of new rows cannot keep collection running. */
    int64_t newest = 0;
    if (st == TS_OK && a->audit_max_rows > 0)
        st = audit_newest_id(s, &newest, err);
    if (st == TS_OK && a->audit_max_rows > 0 && newest > a->audit_max_rows)
        st = run_batches(s, TS_SQ_GC_AUDIT_ROWS,
                         "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE id "
                         "<= ?1 ORDER BY id LIMIT ?2)",
                         newest - a->audit_max_rows, a->batch, &out->audit_records, err);
    return st;
}
