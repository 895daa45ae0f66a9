/* Published signing keys in the SQLite backend (see published_keys.c for the checks). */
#include "sqlite_internal.h"

#include <stdint.h>

static ts_status publish_txn(ts_sq_conn *c, void *arg, ts_error *err)
{
    const ts_store_published_key *k = arg;
    /* not_after only grows: a publisher with a shorter lifetime never withdraws a key that
     * another one announced for longer. */
    sqlite3_stmt *q = ts_store__sq_stmt(
        c, TS_SQ_KEY_PUBLISH,
        "INSERT INTO published_keys (kid, alg, jwk, published_at, last_seen, not_after) VALUES "
        "(?1, ?2, ?3, ?4, ?4, ?5) ON CONFLICT (kid) DO UPDATE SET alg = excluded.alg, jwk = "
        "excluded.jwk, last_seen = max(last_seen, excluded.last_seen), not_after = "
        "max(not_after, excluded.not_after)",
        err);
    if (!q)
        return err && err->code != TS_OK ? err->code : TS_EIO;
    ts_store__sq_bind_text(q, 1, k->kid);
    ts_store__sq_bind_text(q, 2, k->alg);
    ts_store__sq_bind_text(q, 3, k->jwk);
    sqlite3_bind_int64(q, 4, k->published_at);
    sqlite3_bind_int64(q, 5, k->not_after);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? TS_OK : ts_store__sq_fail(c, "key publish", err);
}

ts_status ts_store__sq_key_publish(void *impl, const ts_store_published_key *k, ts_error *err)
{
    return ts_store__sq_write(impl, publish_txn, (void *)(uintptr_t)k, err);
}

ts_status ts_store__sq_key_list(void *impl, int64_t now, size_t max, ts_store_key_fn fn, void *ud,
                                ts_error *err)
{
    ts_sq_store *s = impl;
    ts_sq_conn *c = NULL;
    ts_status st = ts_store__sq_acquire(s, &c, err);
    if (st != TS_OK)
        return st;
    sqlite3_stmt *q = ts_store__sq_stmt(c, TS_SQ_KEY_LIST,
                                        "SELECT kid, alg, jwk, published_at, last_seen, "
                                        "not_after FROM published_keys WHERE not_after > ?1 "
                                        "ORDER BY kid LIMIT ?2",
                                        err);
    if (!q) {
        st = err && err->code != TS_OK ? err->code : TS_EIO;
    } else {
        sqlite3_bind_int64(q, 1, now);
        sqlite3_bind_int64(q, 2, (sqlite3_int64)max);
        int rc;
        /* The front end's callback only copies the row (published_keys.c). */
        while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
            const char *kid = (const char *)sqlite3_column_text(q, 0);
            const char *alg = (const char *)sqlite3_column_text(q, 1);
            const char *jwk = (const char *)sqlite3_column_text(q, 2);
            ts_store_published_key k = {kid ? kid : "",
                                        alg ? alg : "",
                                        jwk ? jwk : "",
                                        sqlite3_column_int64(q, 3),
                                        sqlite3_column_int64(q, 4),
                                        sqlite3_column_int64(q, 5)};
            if (fn(&k, ud) != 0) {
                rc = SQLITE_DONE;
                break;
            }
        }
        if (rc != SQLITE_DONE)
            st = ts_store__sq_fail(c, "key list", err);
        sqlite3_reset(q);
    }
    ts_store__sq_release(s, c);
    return st;
}

typedef struct gc_keys {
    int64_t now;
    unsigned batch;
    uint64_t deleted;
} gc_keys;

static ts_status gc_txn(ts_sq_conn *c, void *arg, ts_error *err)
{
    gc_keys *g = arg;
    g->deleted = 0;
    sqlite3_stmt *q = ts_store__sq_stmt(c, TS_SQ_KEY_GC,
                                        "DELETE FROM published_keys WHERE kid IN (SELECT kid "
                                        "FROM published_keys WHERE not_after <= ?1 LIMIT ?2)",
                                        err);
    if (!q)
        return err && err->code != TS_OK ? err->code : TS_EIO;
    sqlite3_bind_int64(q, 1, g->now);
    sqlite3_bind_int64(q, 2, g->batch);
    int rc = sqlite3_step(q);
    g->deleted = (uint64_t)sqlite3_changes64(c->db);
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? TS_OK : ts_store__sq_fail(c, "key collect", err);
}

ts_status ts_store__sq_key_collect(void *impl, int64_t now, unsigned batch, uint64_t *deleted,
                                   ts_error *err)
{
    gc_keys g = {now, batch, 0};
    *deleted = 0;
    for (;;) {
        ts_status st = ts_store__sq_write(impl, gc_txn, &g, err);
        if (st != TS_OK)
            return st;
        *deleted += g.deleted;
        if (g.deleted < batch)
            return TS_OK;
    }
}
