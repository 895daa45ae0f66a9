/* Audit records and collection in the PostgreSQL backend. Records are inserted inside the
 * transaction of the change they describe; collection deletes in bounded batches (each its
 * own short transaction, rows picked by ctid) so that a large purge never holds many row
 * locks or a long transaction while grants are served. */
#include "pg_internal.h"

#include <stdlib.h>
#include <string.h>

#define AUDIT_INSERT_SQL "INSERT INTO " TS_PG_AUDIT_INTO " VALUES ($1, $2, $3, $4, $5, $6, $7)"

ts_status ts_store__pg_audit(ts_pg_conn *c, int64_t at, const char *type, const char *subject,
                             const char *ref_id, const char *hash, const char *peer,
                             const char *detail, ts_error *err)
{
    char prefix[TS_STORE_PREFIX_LEN + 1];
    ts_store_hash_prefix(hash, prefix);
    ts_pg_int when = ts_store__pg_i64(at);
    const char *p[] = {
        when.s,           type,  subject ? subject : "", ref_id ? ref_id : "", prefix,
        peer ? peer : "", detail};
    PGresult *r = ts_store__pg_run(c, TS_PG_AUDIT_INSERT, AUDIT_INSERT_SQL, 7, p, err);
    if (!r)
        return err ? err->code : TS_EIO;
    PQclear(r);
    return TS_OK;
}

ts_status ts_store__pg_audit_entry(ts_pg_conn *c, const ts_store_audit_entry *e, ts_error *err)
{
    ts_pg_int when = ts_store__pg_i64(e->at);
    const char *p[] = {when.s,
                       e->type,
                       e->subject ? e->subject : "",
                       e->ref_id ? e->ref_id : "",
                       e->hash_prefix ? e->hash_prefix : "",
                       e->peer ? e->peer : "",
                       e->detail};
    PGresult *r = ts_store__pg_run(c, TS_PG_AUDIT_INSERT, AUDIT_INSERT_SQL, 7, p, err);
    if (!r) {
        /* 22P02: invalid text representation (of the json column). */
        if (strcmp(c->sqlstate, "22P02") == 0)
            return ts_error_set(err, TS_EINVAL, "detail", "audit detail is not valid JSON");
        return err ? err->code : TS_EIO;
    }
    PQclear(r);
    return TS_OK;
}

static ts_status append_txn(ts_pg_conn *c, void *arg, ts_error *err)
{
    return ts_store__pg_audit_entry(c, arg, err);
}

ts_status ts_store__pg_audit_append(void *impl, const ts_store_audit_entry *e, ts_error *err)
{
    return ts_store__pg_txn(impl, append_txn, (void *)(uintptr_t)e, err);
}

typedef struct list_args {
    ts_store_audit_fn fn;
    void *ud;
} list_args;

static int list_row(const PGresult *rows, int i, void *ud)
{
    const list_args *l = ud;
    ts_store_audit_entry e;
    e.id = ts_store__pg_get_i64(rows, i, 0);
    e.at = ts_store__pg_get_i64(rows, i, 1);
    e.type = PQgetvalue(rows, i, 2);
    e.subject = PQgetvalue(rows, i, 3);
    e.ref_id = PQgetvalue(rows, i, 4);
    e.hash_prefix = PQgetvalue(rows, i, 5);
    e.peer = PQgetvalue(rows, i, 6);
    e.detail = PQgetisnull(rows, i, 7) ? NULL : PQgetvalue(rows, i, 7);
    return l->fn(&e, l->ud);
}

ts_status ts_store__pg_audit_list(void *impl, int64_t after_id, size_t limit, ts_store_audit_fn fn,
                                  void *ud, ts_error *err)
{
    list_args l = {fn, ud};
    ts_pg_int after = ts_store__pg_i64(after_id), lim = ts_store__pg_i64((int64_t)limit);
    const char *p[] = {after.s, lim.s};
    return ts_store__pg_rows(impl, TS_PG_AUDIT_LIST,
                             "SELECT id, at, type, subject, ref_id, hash_prefix, peer, detail "
                             "FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2",
                             2, p, list_row, &l, err);
}

typedef struct gc_step {
    ts_pg_stmt_id id;
    const char *sql;
    int64_t cutoff;
    unsigned batch;
    uint64_t deleted; /* by the last run of the step */
} gc_step;

static ts_status gc_txn(ts_pg_conn *c, void *arg, ts_error *err)
{
    gc_step *g = arg;
    g->deleted = 0;
    ts_pg_int cut = ts_store__pg_i64(g->cutoff), lim = ts_store__pg_i64((int64_t)g->batch);
    const char *p[] = {cut.s, lim.s};
    PGresult *r = ts_store__pg_run(c, g->id, g->sql, 2, p, err);
    if (!r)
        return err ? err->code : TS_EIO;
    g->deleted = strtoull(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return TS_OK;
}

static ts_status run_batches(ts_pg_store *s, ts_pg_stmt_id id, const char *sql, int64_t cutoff,
                             unsigned batch, uint64_t *count, ts_error *err)
{
    gc_step g = {id, sql, cutoff, batch, 0};
    for (;;) {
        ts_status st = ts_store__pg_txn(s, gc_txn, &g, err);
        if (st != TS_OK)
            return st;
        *count += g.deleted;
        if (g.deleted < batch)
            return TS_OK;
    }
}

static ts_status newest_txn(ts_pg_conn *c, void *arg, ts_error *err)
{
    PGresult *r = ts_store__pg_run(c, TS_PG_GC_AUDIT_NEWEST,
                                   "SELECT coalesce(max(id), 0) FROM audit_log", 0, NULL, err);
    if (!r)
        return err ? err->code : TS_EIO;
    *(int64_t *)arg = ts_store__pg_get_i64(r, 0, 0);
    PQclear(r);
    return TS_OK;
}

ts_status ts_store__pg_collect_expired(void *impl, const ts_store_gc_args *a,
                                       ts_store_gc_counts *out, ts_error *err)
{
    ts_pg_store *s = impl;
    int64_t cut = a->now - a->retention_s;
    ts_status st = run_batches(s, TS_PG_GC_BOOTSTRAP,
                               "DELETE FROM bootstrap_tokens WHERE ctid IN (SELECT ctid FROM "
                               "bootstrap_tokens WHERE expires_at <= $1 OR consumed_at <= $1 "
                               "LIMIT $2)",
                               cut, a->batch, &out->bootstrap_tokens, err);
    /* Rotated hashes first, so that their count is reported (the foreign key would cascade). */
    if (st == TS_OK)
        st = run_batches(s, TS_PG_GC_ROTATED,
                         "DELETE FROM refresh_rotated WHERE ctid IN (SELECT r.ctid FROM "
                         "refresh_rotated r JOIN refresh_families f ON f.family_id = "
                         "r.family_id WHERE f.expires_at <= $1 OR f.revoked_at <= $1 LIMIT $2)",
                         cut, a->batch, &out->rotated_hashes, err);
    if (st == TS_OK)
        st = run_batches(s, TS_PG_GC_FAMILIES,
                         "DELETE FROM refresh_families WHERE ctid IN (SELECT ctid FROM "
                         "refresh_families WHERE expires_at <= $1 OR revoked_at <= $1 LIMIT $2)",
                         cut, a->batch, &out->families, err);
    if (st == TS_OK && a->audit_retention_s > 0)
        st = run_batches(s, TS_PG_GC_AUDIT,
                         "DELETE FROM audit_log WHERE ctid IN (SELECT ctid FROM audit_log WHERE "
                         "at <= $1 LIMIT $2)",
                         a->now - a->audit_retention_s, a->batch, &out->audit_records, err);
    /* Issued access tokens and revocations once their token's exp has passed. */
    if (st == TS_OK)
        st = run_batches(s, TS_PG_GC_ISSUED,
                         "DELETE FROM issued_tokens WHERE ctid IN (SELECT ctid FROM "
                         "issued_tokens WHERE expires_at <= $1 LIMIT $2)",
                         a->now, a->batch, &out->issued, err);
    if (st == TS_OK)
        st = run_batches(s, TS_PG_GC_REVOCATIONS,
                         "DELETE FROM revocations WHERE ctid IN (SELECT ctid FROM revocations "
                         "WHERE expires_at <= $1 LIMIT $2)",
                         a->now, a->batch, &out->revocations, err);
    /* The size bound: the cut is fixed before deleting, so that a flood of new rows cannot
     * keep collection running. */
    int64_t newest = 0;
    if (st == TS_OK && a->audit_max_rows > 0)
        st = ts_store__pg_txn(s, newest_txn, &newest, err);
    if (st == TS_OK && a->audit_max_rows > 0 && newest > a->audit_max_rows)
        st = run_batches(s, TS_PG_GC_AUDIT_ROWS,
                         "DELETE FROM audit_log WHERE ctid IN (SELECT ctid FROM audit_log WHERE "
                         "id <= $1 ORDER BY id LIMIT $2)",
                         newest - a->audit_max_rows, a->batch, &out->audit_records, err);
    return st;
}
