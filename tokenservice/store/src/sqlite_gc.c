/* Collection of expired records in the SQLite backend, in small batches so that the write
 * lock is never held for long while grants are being served. */
#include "sqlite_internal.h"

static ts_status run_batches(ts_sq_conn *c, const char *sql, int64_t cutoff, unsigned batch,
                             uint64_t *count, ts_error *err)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(c->db, sql, -1, &q, NULL) != SQLITE_OK)
        return ts_sq__fail(c, "collect", err);
    ts_status st = TS_OK;
    for (;;) {
        st = ts_sq__begin(c, err);
        if (st != TS_OK)
            break;
        sqlite3_reset(q);
        sqlite3_bind_int64(q, 1, cutoff);
        sqlite3_bind_int64(q, 2, batch);
        int rc = sqlite3_step(q);
        int n = sqlite3_changes(c->db);
        sqlite3_reset(q);
        if (rc != SQLITE_DONE) {
            st = ts_sq__fail(c, "collect", err);
            ts_sq__rollback(c);
            break;
        }
        st = ts_sq__commit(c, err);
        if (st != TS_OK)
            break;
        *count += (uint64_t)n;
        if ((unsigned)n < batch)
            break;
    }
    sqlite3_finalize(q);
    return st;
}

ts_status ts_sq__collect_expired(void *impl, const ts_store_gc_args *a, ts_store_gc_counts *out,
                                 ts_error *err)
{
    ts_sq_store *s = impl;
    ts_sq_conn *c = NULL;
    ts_status st = ts_sq__acquire(s, &c, err);
    if (st != TS_OK)
        return st;
    int64_t cut = a->now - a->retention_s;
    st = run_batches(c,
                     "DELETE FROM bootstrap_tokens WHERE rowid IN (SELECT rowid FROM "
                     "bootstrap_tokens WHERE expires_at <= ?1 OR consumed_at <= ?1 LIMIT ?2)",
                     cut, a->batch, &out->bootstrap_tokens, err);
    /* Rotated hashes first, so that their count is reported (the foreign key would cascade). */
    if (st == TS_OK)
        st = run_batches(c,
                         "DELETE FROM refresh_rotated WHERE rowid IN (SELECT r.rowid FROM "
                         "refresh_rotated r JOIN refresh_families f ON f.family_id = "
                         "r.family_id WHERE f.expires_at <= ?1 OR f.revoked_at <= ?1 LIMIT ?2)",
                         cut, a->batch, &out->rotated_hashes, err);
    if (st == TS_OK)
        st = run_batches(c,
                         "DELETE FROM refresh_families WHERE rowid IN (SELECT rowid FROM "
                         "refresh_families WHERE expires_at <= ?1 OR revoked_at <= ?1 LIMIT ?2)",
                         cut, a->batch, &out->families, err);
    if (st == TS_OK && a->audit_retention_s > 0)
        st = run_batches(c,
                         "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at "
                         "<= ?1 LIMIT ?2)",
                         a->now - a->audit_retention_s, a->batch, &out->audit_records, err);
    ts_sq__release(s, c);
    return st;
}
