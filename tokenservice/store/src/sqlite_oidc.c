/* The shared provider configuration in the SQLite backend (see oidc_config.c for the checks):
 * a compare-and-set on the single row and its audit record in one write transaction. */
#include "sqlite_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

typedef struct put_args {
    const ts_store_oidc_config_put_args *a;
    int64_t version;
} put_args;

static ts_status stored_version(ts_sq_conn *c, int64_t *out, ts_error *err)
{
    sqlite3_stmt *q = ts_store__sq_stmt(
        c, TS_SQ_OIDC_VERSION, "SELECT coalesce((SELECT version FROM oidc_config WHERE id = 1), 0)",
        err);
    if (!q)
        return err && err->code != TS_OK ? err->code : TS_EIO;
    int rc = sqlite3_step(q);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? TS_OK : ts_store__sq_fail(c, "oidc config", err);
}

static ts_status put_txn(ts_sq_conn *c, void *arg, ts_error *err)
{
    put_args *p = arg;
    const ts_store_oidc_config_put_args *a = p->a;
    p->version = 0; /* the batch may be replayed: computed afresh each time */
    sqlite3_stmt *q =
        a->expected_version == 0
            ? ts_store__sq_stmt(c, TS_SQ_OIDC_INSERT,
                                "INSERT INTO oidc_config (id, version, document, updated_at, "
                                "updated_by) VALUES (1, ?1 + 1, ?2, ?3, ?4) ON CONFLICT (id) DO "
                                "NOTHING",
                                err)
            : ts_store__sq_stmt(c, TS_SQ_OIDC_UPDATE,
                                "UPDATE oidc_config SET version = version + 1, document = ?2, "
                                "updated_at = ?3, updated_by = ?4 WHERE id = 1 AND version = ?1",
                                err);
    if (!q)
        return err && err->code != TS_OK ? err->code : TS_EIO;
    sqlite3_bind_int64(q, 1, a->expected_version);
    sqlite3_bind_text(q, 2, a->json, (int)a->len, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, a->now);
    ts_store__sq_bind_text(q, 4, a->actor);
    int rc = sqlite3_step(q);
    int changed = rc == SQLITE_DONE ? sqlite3_changes(c->db) : 0;
    ts_status st = TS_OK;
    if (rc != SQLITE_DONE) {
        /* Never the document's text in a message: a CHECK failure names the constraint only,
         * but say what is wrong in our words. */
        if ((sqlite3_extended_errcode(c->db) & 0xff) == SQLITE_CONSTRAINT)
            st = ts_error_set(err, TS_EINVAL, "oidc_config",
                              "the configuration is not a valid JSON document of at most %u "
                              "bytes",
                              TS_STORE_OIDC_CONFIG_MAX);
        else
            st = ts_store__sq_fail(c, "oidc config", err);
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q); /* no pointer to the caller's document stays behind */
    if (st != TS_OK)
        return st;
    int64_t stored = 0;
    st = stored_version(c, &stored, err);
    if (st != TS_OK)
        return st;
    if (changed != 1)
        return ts_error_set(err, TS_ECYCLE, "oidc_config",
                            "the stored configuration is at version %" PRId64 ", not %" PRId64
                            ": another change came first",
                            stored, a->expected_version);
    p->version = stored;
    char ref[48];
    snprintf(ref, sizeof ref, "oidc-config-v%" PRId64, stored);
    return ts_store__sq_audit(c, a->now, "oidc_config_changed", NULL, ref, NULL, a->actor,
                              a->detail, err);
}

ts_status ts_store__sq_oidc_config_put(void *impl, const ts_store_oidc_config_put_args *a,
                                       int64_t *new_version, ts_error *err)
{
    put_args p = {a, 0};
    ts_status st = ts_store__sq_write(impl, put_txn, &p, err);
    *new_version = st == TS_OK ? p.version : 0;
    return st;
}

ts_status ts_store__sq_oidc_config_get(void *impl, int64_t have_version, ts_store_oidc_config_fn fn,
                                       void *ud, ts_error *err)
{
    ts_sq_store *s = impl;
    ts_sq_conn *c = NULL;
    ts_status st = ts_store__sq_acquire(s, &c, err);
    if (st != TS_OK)
        return st;
    sqlite3_stmt *q = ts_store__sq_stmt(c, TS_SQ_OIDC_GET,
                                        "SELECT version, updated_at, updated_by, CASE WHEN "
                                        "version > ?1 THEN document END FROM oidc_config WHERE "
                                        "id = 1",
                                        err);
    if (!q) {
        st = err && err->code != TS_OK ? err->code : TS_EIO;
    } else {
        sqlite3_bind_int64(q, 1, have_version);
        ts_store_oidc_config_meta m;
        memset(&m, 0, sizeof m);
        const char *doc = NULL;
        size_t len = 0;
        int rc = sqlite3_step(q);
        if (rc == SQLITE_ROW) {
            m.version = sqlite3_column_int64(q, 0);
            m.updated_at = sqlite3_column_int64(q, 1);
            ts_store__sq_col_text(q, 2, m.updated_by, sizeof m.updated_by);
            doc = (const char *)sqlite3_column_text(q, 3);
            len = doc ? (size_t)sqlite3_column_bytes(q, 3) : 0;
        }
        /* The front end's callback only copies the document. */
        if (rc == SQLITE_ROW || rc == SQLITE_DONE)
            st = fn(&m, doc, len, ud, err);
        else
            st = ts_store__sq_fail(c, "oidc config", err);
        sqlite3_reset(q);
    }
    ts_store__sq_release(s, c);
    return st;
}
