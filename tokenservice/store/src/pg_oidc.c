/* The shared provider configuration in the PostgreSQL backend (see oidc_config.c for the
 * checks). A change is one conditional statement on the single row (READ COMMITTED: a writer
 * that waited for another's row lock re-evaluates "version = expected" against the committed
 * row and matches nothing), followed by its audit record in the same transaction. */
#include "pg_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct put_args {
    const ts_store_oidc_config_put_args *a;
    int64_t version;
} put_args;

/* The document's own text never reaches a message: PostgreSQL's first line for a bad document
 * names only the type, but a constraint message could change with the server's version. */
static ts_status document_refused(ts_pg_conn *c, ts_error *err)
{
    if (strncmp(c->sqlstate, "23", 2) == 0 || strncmp(c->sqlstate, "22", 2) == 0)
        return ts_error_set(err, TS_EINVAL, "oidc_config",
                            "the configuration is not a valid JSON document of at most %u bytes",
                            TS_STORE_OIDC_CONFIG_MAX);
    return err ? err->code : TS_EIO;
}

static ts_status put_txn(ts_pg_conn *c, void *arg, ts_error *err)
{
    put_args *p = arg;
    const ts_store_oidc_config_put_args *a = p->a;
    p->version = 0;
    ts_pg_int exp = ts_store__pg_i64(a->expected_version), now = ts_store__pg_i64(a->now);
    const char *prm[] = {exp.s, a->json, now.s, a->actor};
    PGresult *r;
    if (a->expected_version == 0)
        r = ts_store__pg_run(c, TS_PG_OIDC_INSERT,
                             "INSERT INTO oidc_config (id, version, document, updated_at, "
                             "updated_by) SELECT 1, $1::bigint + 1, $2, $3, $4 ON CONFLICT (id) "
                             "DO NOTHING RETURNING version",
                             4, prm, err);
    else
        r = ts_store__pg_run(c, TS_PG_OIDC_UPDATE,
                             "UPDATE oidc_config SET version = version + 1, document = $2, "
                             "updated_at = $3, updated_by = $4 WHERE id = 1 AND version = $1 "
                             "RETURNING version",
                             4, prm, err);
    if (!r)
        return document_refused(c, err);
    bool won = PQntuples(r) == 1;
    if (won)
        p->version = ts_store__pg_get_i64(r, 0, 0);
    PQclear(r);
    if (!won) {
        r = ts_store__pg_run(c, TS_PG_OIDC_VERSION,
                             "SELECT coalesce((SELECT version FROM oidc_config WHERE id = 1), 0)",
                             0, NULL, err);
        if (!r)
            return err ? err->code : TS_EIO;
        int64_t stored = ts_store__pg_get_i64(r, 0, 0);
        PQclear(r);
        return ts_error_set(err, TS_ECYCLE, "oidc_config",
                            "the stored configuration is at version %" PRId64 ", not %" PRId64
                            ": another change came first",
                            stored, a->expected_version);
    }
    char ref[48];
    snprintf(ref, sizeof ref, "oidc-config-v%" PRId64, p->version);
    return ts_store__pg_audit(c, a->now, "oidc_config_changed", NULL, ref, NULL, a->actor,
                              a->detail, err);
}

ts_status ts_store__pg_oidc_config_put(void *impl, const ts_store_oidc_config_put_args *a,
                                       int64_t *new_version, ts_error *err)
{
    put_args p = {a, 0};
    ts_status st = ts_store__pg_txn(impl, put_txn, &p, err);
    *new_version = st == TS_OK ? p.version : 0;
    return st;
}

typedef struct get_args {
    int64_t have;
    PGresult *rows; /* kept past the transaction: the callback runs with no connection held */
} get_args;

static ts_status get_txn(ts_pg_conn *c, void *arg, ts_error *err)
{
    get_args *g = arg;
    PQclear(g->rows);
    ts_pg_int have = ts_store__pg_i64(g->have);
    const char *p[] = {have.s};
    g->rows = ts_store__pg_run(c, TS_PG_OIDC_GET,
                               "SELECT version, updated_at, updated_by, CASE WHEN version > $1 "
                               "THEN document END FROM oidc_config WHERE id = 1",
                               1, p, err);
    return g->rows ? TS_OK : (err ? err->code : TS_EIO);
}

ts_status ts_store__pg_oidc_config_get(void *impl, int64_t have_version, ts_store_oidc_config_fn fn,
                                       void *ud, ts_error *err)
{
    get_args g = {have_version, NULL};
    ts_status st = ts_store__pg_txn(impl, get_txn, &g, err);
    if (st == TS_OK) {
        ts_store_oidc_config_meta m;
        memset(&m, 0, sizeof m);
        const char *doc = NULL;
        size_t len = 0;
        if (PQntuples(g.rows) == 1) {
            m.version = ts_store__pg_get_i64(g.rows, 0, 0);
            m.updated_at = ts_store__pg_get_i64(g.rows, 0, 1);
            snprintf(m.updated_by, sizeof m.updated_by, "%s", PQgetvalue(g.rows, 0, 2));
            if (!PQgetisnull(g.rows, 0, 3)) {
                doc = PQgetvalue(g.rows, 0, 3);
                len = (size_t)PQgetlength(g.rows, 0, 3);
            }
        }
        st = fn(&m, doc, len, ud, err);
    }
    if (g.rows) {
        /* The document holds client secrets: wipe libpq's copy before it is freed. */
        if (PQntuples(g.rows) == 1 && !PQgetisnull(g.rows, 0, 3))
            memset(PQgetvalue(g.rows, 0, 3), 0, (size_t)PQgetlength(g.rows, 0, 3));
        PQclear(g.rows);
    }
    return st;
}
