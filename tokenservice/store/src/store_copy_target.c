/* The target side of ts_store_copy(): one PostgreSQL transaction that locks the store's tables
 * against other writers, checks that they are empty (or, forced, empties them), streams every
 * table of the source into them and moves the audit id sequence past the copied ids. Any
 * failure rolls all of it back (ALTER TABLE ... RESTART is transactional, unlike setval()), so
 * the target is either the source's copy or exactly what it was. */
#define _POSIX_C_SOURCE 200809L
#include "store_copy_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* EXCLUSIVE mode: readers go on, every other writer (a replica someone forgot to stop,
 * `bootstrap-token create`) waits until the copy committed or rolled back, so that the
 * emptiness checked here still holds at the commit, and no audit id is taken meanwhile. The
 * wait is bounded by the statement timeout. */
static const char LOCK_SQL[] =
    "LOCK TABLE bootstrap_tokens, refresh_families, refresh_rotated, audit_log, "
    "published_keys, oidc_config, mappings, issued_tokens, revocations IN EXCLUSIVE MODE";

static const char COUNT_SQL[] =
    "SELECT (SELECT count(*) FROM bootstrap_tokens), (SELECT count(*) FROM refresh_families), "
    "(SELECT count(*) FROM refresh_rotated), (SELECT count(*) FROM audit_log), "
    "(SELECT count(*) FROM published_keys), (SELECT count(*) FROM oidc_config), "
    "(SELECT count(*) FROM mappings), (SELECT count(*) FROM issued_tokens), "
    "(SELECT count(*) FROM revocations), "
    "coalesce(pg_sequence_last_value(pg_get_serial_sequence('audit_log', 'id')::regclass), 0), "
    "coalesce(pg_sequence_last_value(pg_get_serial_sequence('revocations', 'seq')::regclass), 0)";

/* One statement whatever the tables hold (a million audit records would take a DELETE past
 * the statement timeout), transactional like the rest; the identity sequence continues. Its
 * ACCESS EXCLUSIVE lock also holds readers off until the copy ends: only with force. */
static const char EMPTY_SQL[] = "TRUNCATE refresh_rotated, refresh_families, bootstrap_tokens, "
                                "audit_log, published_keys, oidc_config, mappings, "
                                "issued_tokens, revocations CONTINUE IDENTITY";

typedef struct target_state {
    int64_t rows[TS_COPY_TABLES]; /* rows the target holds before the copy */
    int64_t last_audit_id;        /* the sequence's last value, 0 if never used */
    int64_t last_revocation_seq;  /* the same for revocations */
} target_state;

static ts_status read_state(ts_pg_conn *c, target_state *ts, ts_error *err)
{
    PGresult *r = PQexec(c->pg, COUNT_SQL);
    ts_status st = TS_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        st = ts_store__pg_fail(c, r, "copy.to", err);
    } else {
        for (int i = 0; i < TS_COPY_TABLES; i++)
            ts->rows[i] = ts_store__pg_get_i64(r, 0, i);
        ts->last_audit_id = ts_store__pg_get_i64(r, 0, TS_COPY_TABLES);
        ts->last_revocation_seq = ts_store__pg_get_i64(r, 0, TS_COPY_TABLES + 1);
    }
    PQclear(r);
    return st;
}

static ts_status refuse_not_empty(const target_state *ts, ts_error *err)
{
    return ts_error_set(
        err, TS_EINVAL, "copy.not_empty",
        "target not empty (%" PRId64 " bootstrap tokens, %" PRId64 " refresh families, %" PRId64
        " audit records, %" PRId64 " published keys, %" PRId64 " provider configurations, %" PRId64
        " mappings documents, %" PRId64 " issued tokens, %" PRId64
        " revocations): nothing was copied",
        ts->rows[TS_COPY_BOOTSTRAP], ts->rows[TS_COPY_FAMILIES], ts->rows[TS_COPY_AUDIT],
        ts->rows[TS_COPY_KEYS], ts->rows[TS_COPY_OIDC], ts->rows[TS_COPY_MAPPINGS],
        ts->rows[TS_COPY_ISSUED], ts->rows[TS_COPY_REVOCATIONS]);
}

/* One table: every source row through a COPY stream; the server must report as many rows
 * inserted as were read. */
static ts_status copy_table(ts_pg_conn *c, ts_store__copy_src *src, ts_store__copy_table_id id,
                            ts_store__copy_stream *stream, uint64_t *count, ts_error *err)
{
    const ts_store__copy_table *t = &ts_store__copy_tables[id];
    uint64_t read = 0;
    ts_store__copy_stream_init(stream, c, t);
    ts_status st = ts_store__copy_src_scan(src, t, ts_store__copy_stream_row, stream, &read, err);
    if (st == TS_OK)
        st = ts_store__copy_stream_finish(stream, err);
    ts_store__copy_stream_cleanup(stream);
    if (st == TS_OK && stream->written != read)
        st = ts_error_set(err, TS_EINTERNAL, "copy.to",
                          "%s: %" PRIu64 " rows read but %" PRIu64 " written", t->name, read,
                          stream->written);
    if (st == TS_OK)
        *count = read;
    return st;
}

/* New audit records get ids after every copied one, and after every id either store ever gave
 * out: a reader that pages through the audit log by id never sees an id twice nor goes back.
 * The same for the revocations' seq (@p table and @p column), a verifier's cursor. */
static ts_status move_sequence(ts_pg_conn *c, const char *table, const char *column,
                               int64_t src_hwm, int64_t dst_last, int64_t *next, ts_error *err)
{
    int64_t last = src_hwm > dst_last ? src_hwm : dst_last;
    *next = last + 1;
    if (last <= 0)
        return TS_OK; /* no id was ever taken: the sequence starts at 1 */
    char sql[128];
    snprintf(sql, sizeof sql, "ALTER TABLE %s ALTER COLUMN %s RESTART WITH %" PRId64, table, column,
             *next);
    return ts_store__pg_exec(c, sql, "copy.to", err);
}

ts_status ts_store__copy_txn(ts_pg_conn *c, void *arg, ts_error *err)
{
    ts_store__copy_job *job = arg;
    ts_store_copy_counts *n = &job->counts;
    memset(n, 0, sizeof *n); /* this run may be a retry: start afresh */
    target_state ts;
    memset(&ts, 0, sizeof ts);
    ts_status st = ts_store__pg_exec(c, LOCK_SQL, "copy.to", err);
    if (st == TS_OK)
        st = read_state(c, &ts, err);
    if (st != TS_OK)
        return st;
    int64_t held = 0;
    for (int i = 0; i < TS_COPY_TABLES; i++)
        held += ts.rows[i];
    if (held > 0 && !job->force)
        return refuse_not_empty(&ts, err);
    if (held > 0) {
        st = ts_store__pg_exec(c, EMPTY_SQL, "copy.to", err);
        if (st != TS_OK)
            return st;
        n->replaced = (uint64_t)held;
    }
    int64_t src_hwm = 0, src_rev_hwm = 0;
    st = ts_store__copy_src_audit_hwm(job->src, &src_hwm, err);
    if (st == TS_OK)
        st = ts_store__copy_src_revocation_hwm(job->src, &src_rev_hwm, err);
    if (st != TS_OK)
        return st;
    /* 64 KiB of buffer: on the heap, not on a pool thread's stack. */
    ts_store__copy_stream *stream = malloc(sizeof *stream);
    if (!stream)
        return ts_error_set(err, TS_ENOMEM, "copy.to", "out of memory");
    uint64_t *dst[TS_COPY_TABLES] = {
        [TS_COPY_BOOTSTRAP] = &n->bootstrap_tokens, [TS_COPY_FAMILIES] = &n->families,
        [TS_COPY_ROTATED] = &n->rotated_hashes,     [TS_COPY_AUDIT] = &n->audit_records,
        [TS_COPY_KEYS] = &n->published_keys,        [TS_COPY_OIDC] = &n->oidc_config,
        [TS_COPY_MAPPINGS] = &n->mappings,          [TS_COPY_ISSUED] = &n->issued_tokens,
        [TS_COPY_REVOCATIONS] = &n->revocations};
    for (int i = 0; st == TS_OK && i < TS_COPY_TABLES; i++)
        st = copy_table(c, job->src, (ts_store__copy_table_id)i, stream, dst[i], err);
    free(stream);
    if (st == TS_OK)
        st = move_sequence(c, "audit_log", "id", src_hwm, ts.last_audit_id, &n->next_audit_id, err);
    int64_t next_seq = 0;
    if (st == TS_OK)
        st = move_sequence(c, "revocations", "seq", src_rev_hwm, ts.last_revocation_seq, &next_seq,
                           err);
    return st;
}
