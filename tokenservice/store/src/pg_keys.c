/* Published signing keys in the PostgreSQL backend (see published_keys.c for the checks). Each
 * call is one short statement: an upsert whose not_after only grows, so that concurrent
 * publications by several replicas need no lock and never shorten a key's lifetime. */
#include "pg_internal.h"

#include <stdlib.h>

static ts_status publish_txn(ts_pg_conn *c, void *arg, ts_error *err)
{
    const ts_store_published_key *k = arg;
    ts_pg_int at = ts_store__pg_i64(k->published_at), na = ts_store__pg_i64(k->not_after);
    const char *p[] = {k->kid, k->alg, k->jwk, at.s, na.s};
    PGresult *r = ts_store__pg_run(
        c, TS_PG_KEY_PUBLISH,
        "INSERT INTO published_keys AS t (kid, alg, jwk, published_at, last_seen, not_after) "
        "VALUES ($1, $2, $3, $4, $4, $5) ON CONFLICT (kid) DO UPDATE SET alg = excluded.alg, "
        "jwk = excluded.jwk, last_seen = greatest(t.last_seen, excluded.last_seen), not_after = "
        "greatest(t.not_after, excluded.not_after)",
        5, p, err);
    if (!r)
        return err ? err->code : TS_EIO;
    PQclear(r);
    return TS_OK;
}

ts_status ts_store__pg_key_publish(void *impl, const ts_store_published_key *k, ts_error *err)
{
    return ts_store__pg_txn(impl, publish_txn, (void *)(uintptr_t)k, err);
}

typedef struct list_args {
    ts_store_key_fn fn;
    void *ud;
} list_args;

static int list_row(const PGresult *rows, int i, void *ud)
{
    const list_args *l = ud;
    ts_store_published_key k = {PQgetvalue(rows, i, 0),           PQgetvalue(rows, i, 1),
                                PQgetvalue(rows, i, 2),           ts_store__pg_get_i64(rows, i, 3),
                                ts_store__pg_get_i64(rows, i, 4), ts_store__pg_get_i64(rows, i, 5)};
    return l->fn(&k, l->ud);
}

ts_status ts_store__pg_key_list(void *impl, int64_t now, size_t max, ts_store_key_fn fn, void *ud,
                                ts_error *err)
{
    list_args l = {fn, ud};
    ts_pg_int at = ts_store__pg_i64(now), lim = ts_store__pg_i64((int64_t)max);
    const char *p[] = {at.s, lim.s};
    return ts_store__pg_rows(impl, TS_PG_KEY_LIST,
                             "SELECT kid, alg, jwk, published_at, last_seen, not_after FROM "
                             "published_keys WHERE not_after > $1 ORDER BY kid COLLATE \"C\" "
                             "LIMIT $2",
                             2, p, list_row, &l, err);
}

typedef struct gc_keys {
    int64_t now;
    unsigned batch;
    uint64_t deleted;
} gc_keys;

static ts_status gc_txn(ts_pg_conn *c, void *arg, ts_error *err)
{
    gc_keys *g = arg;
    g->deleted = 0;
    ts_pg_int now = ts_store__pg_i64(g->now), lim = ts_store__pg_i64((int64_t)g->batch);
    const char *p[] = {now.s, lim.s};
    PGresult *r = ts_store__pg_run(c, TS_PG_KEY_GC,
                                   "DELETE FROM published_keys WHERE ctid IN (SELECT ctid FROM "
                                   "published_keys WHERE not_after <= $1 LIMIT $2)",
                                   2, p, err);
    if (!r)
        return err ? err->code : TS_EIO;
    g->deleted = strtoull(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return TS_OK;
}

ts_status ts_store__pg_key_collect(void *impl, int64_t now, unsigned batch, uint64_t *deleted,
                                   ts_error *err)
{
    gc_keys g = {now, batch, 0};
    *deleted = 0;
    for (;;) {
        ts_status st = ts_store__pg_txn(impl, gc_txn, &g, err);
        if (st != TS_OK)
            return st;
        *deleted += g.deleted;
        if (g.deleted < batch)
            return TS_OK;
    }
}
