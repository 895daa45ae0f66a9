/* The versioned shared documents in the PostgreSQL backend: the provider configuration
 * (oidc_config.c) and the token mappings (mappings.c), each one row of its own table. A change
 * is one conditional statement on the row (READ COMMITTED: a writer that waited for another's
 * row lock re-evaluates "version = expected" against the committed row and matches nothing),
 * followed by its audit record in the same transaction. */
#include "pg_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pg_doc {
    const char *field;      /* names the document in messages: "oidc_config", "mappings" */
    const char *what;       /* "configuration", "mappings document" */
    unsigned max;           /* bytes */
    const char *audit_type; /* of the change's audit record */
    const char *ref_prefix; /* its ref_id: prefix + version */
    ts_pg_stmt_id insert, update, version, get;
    const char *insert_sql, *update_sql, *version_sql, *get_sql;
} pg_doc;

#define PG_DOC_SQL(table)                                                                          \
    "INSERT INTO " table " (id, version, document, updated_at, updated_by) SELECT 1, "             \
    "$1::bigint + 1, $2, $3, $4 ON CONFLICT (id) DO NOTHING RETURNING version",                    \
        "UPDATE " table " SET version = version + 1, document = $2, updated_at = $3, "             \
        "updated_by = $4 WHERE id = 1 AND version = $1 RETURNING version",                         \
        "SELECT coalesce((SELECT version FROM " table " WHERE id = 1), 0)",                        \
        "SELECT version, updated_at, updated_by, CASE WHEN version > $1 THEN document END "        \
        "FROM " table " WHERE id = 1"

static const pg_doc OIDC = {
    "oidc_config",   "configuration",          TS_STORE_OIDC_CONFIG_MAX, "oidc_config_changed",
    "oidc-config-v", TS_PG_OIDC_INSERT,        TS_PG_OIDC_UPDATE,        TS_PG_OIDC_VERSION,
    TS_PG_OIDC_GET,  PG_DOC_SQL("oidc_config")};
static const pg_doc MAPPINGS = {
    "mappings",    "mappings document",   TS_STORE_MAPPINGS_MAX, "mappings_changed",
    "mappings-v",  TS_PG_MAP_INSERT,      TS_PG_MAP_UPDATE,      TS_PG_MAP_VERSION,
    TS_PG_MAP_GET, PG_DOC_SQL("mappings")};

typedef struct put_args {
    const pg_doc *d;
    const ts_store_oidc_config_put_args *a;
    int64_t version;
} put_args;

/* The document's own text never reaches a message: PostgreSQL's first line for a bad document
 * names only the type, but a constraint message could change with the server's version. */
static ts_status document_refused(ts_pg_conn *c, const pg_doc *d, ts_error *err)
{
    if (strncmp(c->sqlstate, "23", 2) == 0 || strncmp(c->sqlstate, "22", 2) == 0)
        return ts_error_set(err, TS_EINVAL, d->field,
                            "the %s is not a valid JSON document of at most %u bytes", d->what,
                            d->max);
    return err ? err->code : TS_EIO;
}

static ts_status put_txn(ts_pg_conn *c, void *arg, ts_error *err)
{
    put_args *p = arg;
    const pg_doc *d = p->d;
    const ts_store_oidc_config_put_args *a = p->a;
    p->version = 0;
    ts_pg_int exp = ts_store__pg_i64(a->expected_version), now = ts_store__pg_i64(a->now);
    const char *prm[] = {exp.s, a->json, now.s, a->actor};
    PGresult *r = a->expected_version == 0
                      ? ts_store__pg_run(c, d->insert, d->insert_sql, 4, prm, err)
                      : ts_store__pg_run(c, d->update, d->update_sql, 4, prm, err);
    if (!r)
        return document_refused(c, d, err);
    bool won = PQntuples(r) == 1;
    if (won)
        p->version = ts_store__pg_get_i64(r, 0, 0);
    PQclear(r);
    if (!won) {
        r = ts_store__pg_run(c, d->version, d->version_sql, 0, NULL, err);
        if (!r)
            return err ? err->code : TS_EIO;
        int64_t stored = ts_store__pg_get_i64(r, 0, 0);
        PQclear(r);
        return ts_error_set(err, TS_ECYCLE, d->field,
                            "the stored %s is at version %" PRId64 ", not %" PRId64
                            ": another change came first",
                            d->what, stored, a->expected_version);
    }
    char ref[48];
    snprintf(ref, sizeof ref, "%s%" PRId64, d->ref_prefix, p->version);
    return ts_store__pg_audit(c, a->now, d->audit_type, NULL, ref, NULL, a->actor, a->detail, err);
}

static ts_status doc_put(const pg_doc *d, void *impl, const ts_store_oidc_config_put_args *a,
                         int64_t *new_version, ts_error *err)
{
    put_args p = {d, a, 0};
    ts_status st = ts_store__pg_txn(impl, put_txn, &p, err);
    *new_version = st == TS_OK ? p.version : 0;
    return st;
}

typedef struct get_args {
    ts_store_oidc_config_fn fn;
    void *ud;
    ts_error *err;
    bool seen;
    ts_status st;
} get_args;

static int got_row(const PGresult *rows, int i, void *ud)
{
    get_args *g = ud;
    ts_store_oidc_config_meta m;
    memset(&m, 0, sizeof m);
    m.version = ts_store__pg_get_i64(rows, i, 0);
    m.updated_at = ts_store__pg_get_i64(rows, i, 1);
    snprintf(m.updated_by, sizeof m.updated_by, "%s", PQgetvalue(rows, i, 2));
    char *doc = PQgetisnull(rows, i, 3) ? NULL : PQgetvalue(rows, i, 3);
    size_t len = doc ? (size_t)PQgetlength(rows, i, 3) : 0;
    g->seen = true;
    g->st = g->fn(&m, doc, len, g->ud, g->err);
    /* The provider configuration holds client secrets: wipe libpq's copy before it is freed. */
    if (doc)
        memset(doc, 0, len);
    return 1;
}

static ts_status doc_get(const pg_doc *d, void *impl, int64_t have_version,
                         ts_store_oidc_config_fn fn, void *ud, ts_error *err)
{
    get_args g = {fn, ud, err, false, TS_OK};
    ts_pg_int have = ts_store__pg_i64(have_version);
    const char *p[] = {have.s};
    ts_status st = ts_store__pg_rows(impl, d->get, d->get_sql, 1, p, got_row, &g, err);
    if (st != TS_OK)
        return st;
    if (g.seen)
        return g.st;
    /* Nothing stored yet: the callback still hears it, as version 0. */
    ts_store_oidc_config_meta m;
    memset(&m, 0, sizeof m);
    return fn(&m, NULL, 0, ud, err);
}

ts_status ts_store__pg_oidc_config_put(void *impl, const ts_store_oidc_config_put_args *a,
                                       int64_t *new_version, ts_error *err)
{
    return doc_put(&OIDC, impl, a, new_version, err);
}

ts_status ts_store__pg_oidc_config_get(void *impl, int64_t have_version, ts_store_oidc_config_fn fn,
                                       void *ud, ts_error *err)
{
    return doc_get(&OIDC, impl, have_version, fn, ud, err);
}

ts_status ts_store__pg_mappings_put(void *impl, const ts_store_oidc_config_put_args *a,
                                    int64_t *new_version, ts_error *err)
{
    return doc_put(&MAPPINGS, impl, a, new_version, err);
}

ts_status ts_store__pg_mappings_get(void *impl, int64_t have_version, ts_store_oidc_config_fn fn,
                                    void *ud, ts_error *err)
{
    return doc_get(&MAPPINGS, impl, have_version, fn, ud, err);
}
