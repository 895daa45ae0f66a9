/* The versioned shared documents in the SQLite backend: the provider configuration
 * (oidc_config.c) and the token mappings (mappings.c), each one row of its own table. A change
 * is a compare-and-set on the row and its audit record in one write transaction; the two
 * documents differ only in their table, bounds and audit type (the descriptors below). */
#include "sqlite_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

typedef struct sq_doc {
    const char *field;      /* names the document in messages: "oidc_config", "mappings" */
    const char *what;       /* "configuration", "mappings document" */
    unsigned max;           /* bytes */
    const char *audit_type; /* of the change's audit record */
    const char *ref_prefix; /* its ref_id: prefix + version */
    ts_sq_stmt_id insert, update, version, get;
    const char *insert_sql, *update_sql, *version_sql, *get_sql;
} sq_doc;

#define SQ_DOC_SQL(table)                                                                          \
    "INSERT INTO " table " (id, version, document, updated_at, updated_by) VALUES (1, ?1 + 1, "    \
    "?2, ?3, ?4) ON CONFLICT (id) DO NOTHING",                                                     \
        "UPDATE " table " SET version = version + 1, document = ?2, updated_at = ?3, "             \
        "updated_by = ?4 WHERE id = 1 AND version = ?1",                                           \
        "SELECT coalesce((SELECT version FROM " table " WHERE id = 1), 0)",                        \
        "SELECT version, updated_at, updated_by, CASE WHEN version > ?1 THEN document END "        \
        "FROM " table " WHERE id = 1"

static const sq_doc OIDC = {
    "oidc_config",   "configuration",          TS_STORE_OIDC_CONFIG_MAX, "oidc_config_changed",
    "oidc-config-v", TS_SQ_OIDC_INSERT,        TS_SQ_OIDC_UPDATE,        TS_SQ_OIDC_VERSION,
    TS_SQ_OIDC_GET,  SQ_DOC_SQL("oidc_config")};
static const sq_doc MAPPINGS = {
    "mappings",    "mappings document",   TS_STORE_MAPPINGS_MAX, "mappings_changed",
    "mappings-v",  TS_SQ_MAP_INSERT,      TS_SQ_MAP_UPDATE,      TS_SQ_MAP_VERSION,
    TS_SQ_MAP_GET, SQ_DOC_SQL("mappings")};

typedef struct put_args {
    const sq_doc *d;
    const ts_store_oidc_config_put_args *a;
    int64_t version;
} put_args;

static ts_status stored_version(ts_sq_conn *c, const sq_doc *d, int64_t *out, ts_error *err)
{
    sqlite3_stmt *q = ts_store__sq_stmt(c, d->version, d->version_sql, err);
    if (!q)
        return err && err->code != TS_OK ? err->code : TS_EIO;
    int rc = sqlite3_step(q);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? TS_OK : ts_store__sq_fail(c, d->field, err);
}

static ts_status put_txn(ts_sq_conn *c, void *arg, ts_error *err)
{
    put_args *p = arg;
    const sq_doc *d = p->d;
    const ts_store_oidc_config_put_args *a = p->a;
    p->version = 0; /* the batch may be replayed: computed afresh each time */
    sqlite3_stmt *q = a->expected_version == 0
                          ? ts_store__sq_stmt(c, d->insert, d->insert_sql, err)
                          : ts_store__sq_stmt(c, d->update, d->update_sql, err);
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
            st = ts_error_set(err, TS_EINVAL, d->field,
                              "the %s is not a valid JSON document of at most %u bytes", d->what,
                              d->max);
        else
            st = ts_store__sq_fail(c, d->field, err);
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q); /* no pointer to the caller's document stays behind */
    if (st != TS_OK)
        return st;
    int64_t stored = 0;
    st = stored_version(c, d, &stored, err);
    if (st != TS_OK)
        return st;
    if (changed != 1)
        return ts_error_set(err, TS_ECYCLE, d->field,
                            "the stored %s is at version %" PRId64 ", not %" PRId64
                            ": another change came first",
                            d->what, stored, a->expected_version);
    p->version = stored;
    char ref[48];
    snprintf(ref, sizeof ref, "%s%" PRId64, d->ref_prefix, stored);
    return ts_store__sq_audit(c, a->now, d->audit_type, NULL, ref, NULL, a->actor, a->detail, err);
}

static ts_status doc_put(const sq_doc *d, void *impl, const ts_store_oidc_config_put_args *a,
                         int64_t *new_version, ts_error *err)
{
    put_args p = {d, a, 0};
    ts_status st = ts_store__sq_write(impl, put_txn, &p, err);
    *new_version = st == TS_OK ? p.version : 0;
    return st;
}

static ts_status doc_get(const sq_doc *d, void *impl, int64_t have_version,
                         ts_store_oidc_config_fn fn, void *ud, ts_error *err)
{
    ts_sq_store *s = impl;
    ts_sq_conn *c = NULL;
    ts_status st = ts_store__sq_acquire(s, &c, err);
    if (st != TS_OK)
        return st;
    sqlite3_stmt *q = ts_store__sq_stmt(c, d->get, d->get_sql, err);
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
            st = ts_store__sq_fail(c, d->field, err);
        sqlite3_reset(q);
    }
    ts_store__sq_release(s, c);
    return st;
}

ts_status ts_store__sq_oidc_config_put(void *impl, const ts_store_oidc_config_put_args *a,
                                       int64_t *new_version, ts_error *err)
{
    return doc_put(&OIDC, impl, a, new_version, err);
}

ts_status ts_store__sq_oidc_config_get(void *impl, int64_t have_version, ts_store_oidc_config_fn fn,
                                       void *ud, ts_error *err)
{
    return doc_get(&OIDC, impl, have_version, fn, ud, err);
}

ts_status ts_store__sq_mappings_put(void *impl, const ts_store_oidc_config_put_args *a,
                                    int64_t *new_version, ts_error *err)
{
    return doc_put(&MAPPINGS, impl, a, new_version, err);
}

ts_status ts_store__sq_mappings_get(void *impl, int64_t have_version, ts_store_oidc_config_fn fn,
                                    void *ud, ts_error *err)
{
    return doc_get(&MAPPINGS, impl, have_version, fn, ud, err);
}
