/* Versioned schema of the PostgreSQL backend. Migration N creates version N+1 from version N;
 * a new database runs them all. They run at open (and by `tokensmith store migrate`) under a
 * session advisory lock, so that replicas starting together migrate once: the first takes
 * the lock and migrates, the others wait for it and then find the schema current. */
#include "pg_internal.h"

#include <stdio.h>
#include <string.h>

/* "tokensmt" as a 64-bit number: the advisory lock that serialises migrations. */
#define MIGRATE_LOCK "8389759016837558388"

/* Version 1: the tables of the SQLite schema version 2, in PostgreSQL types. The audit
 * detail is `json` (kept byte for byte, checked to be JSON); the audit log is append-only. */
static const char MIGRATE_0_TO_1[] =
    "CREATE TABLE schema_version (version integer NOT NULL);"
    "INSERT INTO schema_version (version) VALUES (1);"
    "CREATE TABLE bootstrap_tokens ("
    "  token_hash text PRIMARY KEY CHECK (length(token_hash) = 64),"
    "  id text NOT NULL UNIQUE,"
    "  subject text NOT NULL,"
    "  audience text NOT NULL,"
    "  scope text NOT NULL DEFAULT '',"
    "  binding_id text NOT NULL DEFAULT '',"
    "  ttl_s bigint NOT NULL,"
    "  refresh_ttl_s bigint NOT NULL,"
    "  created_at bigint NOT NULL,"
    "  expires_at bigint NOT NULL,"
    "  consumed_at bigint,"
    "  consumed_by text,"
    "  family_id text,"
    "  replay_attempts bigint NOT NULL DEFAULT 0,"
    "  reissue_count bigint NOT NULL DEFAULT 0);"
    "CREATE INDEX bootstrap_tokens_expires ON bootstrap_tokens (expires_at);"
    "CREATE INDEX bootstrap_tokens_consumed ON bootstrap_tokens (consumed_at);"
    "CREATE TABLE refresh_families ("
    "  family_id text PRIMARY KEY,"
    "  subject text NOT NULL,"
    "  audience text NOT NULL,"
    "  scope text NOT NULL DEFAULT '',"
    "  current_hash text NOT NULL UNIQUE CHECK (length(current_hash) = 64),"
    "  issued_at bigint NOT NULL,"
    "  expires_at bigint NOT NULL,"
    "  last_used_at bigint NOT NULL DEFAULT 0,"
    "  usage_count bigint NOT NULL DEFAULT 0,"
    "  revoked_at bigint,"
    "  revoke_reason text);"
    "CREATE INDEX refresh_families_expires ON refresh_families (expires_at);"
    "CREATE INDEX refresh_families_revoked ON refresh_families (revoked_at);"
    "CREATE TABLE refresh_rotated ("
    "  token_hash text PRIMARY KEY CHECK (length(token_hash) = 64),"
    "  family_id text NOT NULL REFERENCES refresh_families (family_id) ON DELETE CASCADE,"
    "  rotated_at bigint NOT NULL);"
    "CREATE INDEX refresh_rotated_family ON refresh_rotated (family_id);"
    "CREATE TABLE audit_log ("
    "  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  at bigint NOT NULL,"
    "  type text NOT NULL,"
    "  subject text NOT NULL DEFAULT '',"
    "  ref_id text NOT NULL DEFAULT '',"
    "  hash_prefix text NOT NULL DEFAULT '' CHECK (length(hash_prefix) <= 8),"
    "  peer text NOT NULL DEFAULT '',"
    "  detail json);"
    "CREATE INDEX audit_log_at ON audit_log (at);"
    "CREATE FUNCTION tokensmith_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$BEGIN RAISE EXCEPTION 'audit_log is append-only'; END$$;"
    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log FOR EACH ROW "
    "EXECUTE FUNCTION tokensmith_audit_append_only();";

/* Version 2: public signing keys published by the token service replicas (published_keys.c),
 * as in the SQLite schema version 3. The JWK is text (kept byte for byte), checked to be JSON. */
static const char MIGRATE_1_TO_2[] =
    "CREATE TABLE published_keys ("
    "  kid text PRIMARY KEY CHECK (length(kid) BETWEEN 1 AND 64),"
    "  alg text NOT NULL,"
    "  jwk text NOT NULL CHECK (length(jwk) <= 8192 AND jwk::json IS NOT NULL),"
    "  published_at bigint NOT NULL,"
    "  last_seen bigint NOT NULL,"
    "  not_after bigint NOT NULL);"
    "CREATE INDEX published_keys_not_after ON published_keys (not_after);";

/* Version 3: the upstream provider configuration shared by the replicas (oidc_config.c), one
 * row, as in the SQLite schema version 4. The document holds client secrets. */
static const char MIGRATE_2_TO_3[] =
    "CREATE TABLE oidc_config ("
    "  id smallint PRIMARY KEY CHECK (id = 1),"
    "  version bigint NOT NULL CHECK (version > 0),"
    "  document text NOT NULL CHECK (octet_length(document) BETWEEN 1 AND 262144 AND "
    "document::json IS NOT NULL),"
    "  updated_at bigint NOT NULL,"
    "  updated_by text NOT NULL CHECK (octet_length(updated_by) BETWEEN 1 AND 127));";

/* Version 4: the token mappings shared by the replicas (shared_docs.c), one row, as in the
 * SQLite schema version 5. */
static const char MIGRATE_3_TO_4[] =
    "CREATE TABLE mappings ("
    "  id smallint PRIMARY KEY CHECK (id = 1),"
    "  version bigint NOT NULL CHECK (version > 0),"
    "  document text NOT NULL CHECK (octet_length(document) BETWEEN 1 AND 1048576 AND "
    "document::json IS NOT NULL),"
    "  updated_at bigint NOT NULL,"
    "  updated_by text NOT NULL CHECK (octet_length(updated_by) BETWEEN 1 AND 127));";

/* Version 5: revocation (pg_revoke.c), as in the SQLite schema version 6: the access tokens
 * the service issued and the revocations verifiers poll by seq (an identity column, never
 * reused; pg_revoke.c makes seqs visible in increasing order). IF NOT EXISTS for the family
 * index: the migration also runs over a store whose later tables were dropped by hand.
 * Families learn their client, as in SQLite. */
static const char MIGRATE_4_TO_5[] =
    "CREATE TABLE issued_tokens ("
    "  jti text PRIMARY KEY CHECK (octet_length(jti) BETWEEN 1 AND 64),"
    "  subject text NOT NULL,"
    "  family_id text NOT NULL DEFAULT '',"
    "  client_id text NOT NULL DEFAULT '',"
    "  issued_at bigint NOT NULL,"
    "  expires_at bigint NOT NULL,"
    "  revoked_at bigint);"
    "CREATE INDEX issued_tokens_family ON issued_tokens (family_id) WHERE family_id <> '';"
    "CREATE INDEX issued_tokens_subject ON issued_tokens (subject);"
    "CREATE INDEX issued_tokens_expires ON issued_tokens (expires_at);"
    "CREATE TABLE revocations ("
    "  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  jti text NOT NULL UNIQUE CHECK (octet_length(jti) BETWEEN 1 AND 64),"
    "  expires_at bigint NOT NULL,"
    "  revoked_at bigint NOT NULL,"
    "  reason text NOT NULL DEFAULT '');"
    "CREATE INDEX revocations_expires ON revocations (expires_at);"
    "CREATE INDEX IF NOT EXISTS refresh_families_subject ON refresh_families (subject);"
    "ALTER TABLE refresh_families ADD COLUMN IF NOT EXISTS client_id text NOT NULL DEFAULT '';";

static const char *const MIGRATIONS[TS_STORE_PG_SCHEMA_VERSION] = {
    MIGRATE_0_TO_1, MIGRATE_1_TO_2, MIGRATE_2_TO_3, MIGRATE_3_TO_4, MIGRATE_4_TO_5};

/* One integer from a query without parameters; *found false when it gives no row. */
static ts_status query_int(ts_pg_conn *c, const char *sql, int64_t *out, bool *found, ts_error *err)
{
    PGresult *r = PQexec(c->pg, sql);
    ts_status st = TS_OK;
    *found = false;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        st = ts_store__pg_fail(c, r, "schema", err);
    } else if (PQntuples(r) > 1) {
        st = ts_error_set(err, TS_EINVAL, "schema_version",
                          "schema_version holds more than one row; the store is damaged");
    } else if (PQntuples(r) == 1) {
        *found = true;
        *out = ts_store__pg_get_i64(r, 0, 0);
    }
    PQclear(r);
    return st;
}

static ts_status migrate_locked(ts_pg_conn *c, unsigned *from, ts_error *err)
{
    int64_t n = 0, version = 0;
    bool row = false;
    ts_status st = query_int(
        c, "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()", &n, &row, err);
    int64_t has_version = 0;
    if (st == TS_OK)
        st = query_int(c, "SELECT (to_regclass('schema_version') IS NOT NULL)::int", &has_version,
                       &row, err);
    if (st != TS_OK)
        return st;
    if (!has_version) {
        if (n != 0)
            return ts_error_set(err, TS_EINVAL, "schema_version",
                                "the database has tables but no schema_version: not a "
                                "tokensmith store (use an empty database or schema)");
    } else {
        st = query_int(c, "SELECT version FROM schema_version", &version, &row, err);
        if (st != TS_OK)
            return st;
        if (!row || version < 1)
            return ts_error_set(err, TS_EINVAL, "schema_version",
                                "schema_version is empty or invalid; the store is damaged");
    }
    *from = (unsigned)version;
    if (version > TS_STORE_PG_SCHEMA_VERSION)
        return ts_error_set(err, TS_EUNSUPPORTED, "schema_version",
                            "the PostgreSQL store has schema version %lld, newer than the %d "
                            "this tokensmith supports; upgrade tokensmith (the database was not "
                            "changed)",
                            (long long)version, TS_STORE_PG_SCHEMA_VERSION);
    for (int64_t v = version; v < TS_STORE_PG_SCHEMA_VERSION; v++) {
        st = ts_store__pg_exec(c, MIGRATIONS[v], "migration", err);
        if (st == TS_OK && v + 1 > 1) {
            char sql[64];
            snprintf(sql, sizeof sql, "UPDATE schema_version SET version = %lld",
                     (long long)(v + 1));
            st = ts_store__pg_exec(c, sql, "migration", err);
        }
        if (st != TS_OK)
            return st;
    }
    return TS_OK;
}

ts_status ts_store__pg_migrate(ts_pg_conn *c, unsigned *from, unsigned *to, ts_error *err)
{
    unsigned before = 0;
    /* The lock is taken outside the transaction and held until the migration committed, so
     * that a second process reads the schema only once it is complete. statement_timeout
     * bounds the wait. */
    ts_status st =
        ts_store__pg_exec(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK ")", "migration lock", err);
    if (st != TS_OK)
        return st;
    st = ts_store__pg_exec(c, "BEGIN", "BEGIN", err);
    if (st == TS_OK)
        st = migrate_locked(c, &before, err);
    if (st == TS_OK)
        st = ts_store__pg_exec(c, "COMMIT", "COMMIT", err);
    else if (!c->broken)
        ts_store__pg_exec(c, "ROLLBACK", "ROLLBACK", NULL);
    if (!c->broken)
        ts_store__pg_exec(c, "SELECT pg_advisory_unlock(" MIGRATE_LOCK ")", "migration lock", NULL);
    if (from)
        *from = before;
    if (to)
        *to = st == TS_OK ? TS_STORE_PG_SCHEMA_VERSION : before;
    return st;
}
