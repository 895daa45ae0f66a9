/* Versioned schema of the SQLite backend. Migration N creates version N+1 from version N; a
 * new database runs them all, so fresh and upgraded stores are built by the same code. */
#define _POSIX_C_SOURCE 200809L
#include "sqlite_internal.h"

#include <string.h>
#include <unistd.h>

/* Version 1: the tables. */
static const char MIGRATE_0_TO_1[] =
    "CREATE TABLE schema_version (version INTEGER NOT NULL);"
    "INSERT INTO schema_version (version) VALUES (1);"
    "CREATE TABLE bootstrap_tokens ("
    "  token_hash TEXT PRIMARY KEY NOT NULL CHECK (length(token_hash) = 64),"
    "  id TEXT NOT NULL UNIQUE,"
    "  subject TEXT NOT NULL,"
    "  audience TEXT NOT NULL,"
    "  scope TEXT NOT NULL DEFAULT '',"
    "  binding_id TEXT NOT NULL DEFAULT '',"
    "  ttl_s INTEGER NOT NULL,"
    "  refresh_ttl_s INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL,"
    "  consumed_at INTEGER,"
    "  consumed_by TEXT,"
    "  family_id TEXT);"
    "CREATE TABLE refresh_families ("
    "  family_id TEXT PRIMARY KEY NOT NULL,"
    "  subject TEXT NOT NULL,"
    "  audience TEXT NOT NULL,"
    "  scope TEXT NOT NULL DEFAULT '',"
    "  current_hash TEXT NOT NULL UNIQUE CHECK (length(current_hash) = 64),"
    "  issued_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL,"
    "  last_used_at INTEGER NOT NULL DEFAULT 0,"
    "  usage_count INTEGER NOT NULL DEFAULT 0,"
    "  revoked_at INTEGER,"
    "  revoke_reason TEXT);"
    "CREATE TABLE refresh_rotated ("
    "  token_hash TEXT PRIMARY KEY NOT NULL CHECK (length(token_hash) = 64),"
    "  family_id TEXT NOT NULL REFERENCES refresh_families (family_id) ON DELETE CASCADE,"
    "  rotated_at INTEGER NOT NULL);"
    "CREATE INDEX refresh_rotated_family ON refresh_rotated (family_id);"
    "CREATE TABLE audit_log ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  at INTEGER NOT NULL,"
    "  type TEXT NOT NULL,"
    "  subject TEXT NOT NULL DEFAULT '',"
    "  ref_id TEXT NOT NULL DEFAULT '',"
    "  hash_prefix TEXT NOT NULL DEFAULT '' CHECK (length(hash_prefix) <= 8),"
    "  peer TEXT NOT NULL DEFAULT '',"
    "  detail TEXT CHECK (detail IS NULL OR json_valid(detail)));";

/* Version 2: replay and reissue counters, expiry indexes for collection, and an append-only
 * audit log (rows may be deleted by retention, never changed). */
static const char MIGRATE_1_TO_2[] =
    "ALTER TABLE bootstrap_tokens ADD COLUMN replay_attempts INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE bootstrap_tokens ADD COLUMN reissue_count INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX bootstrap_tokens_expires ON bootstrap_tokens (expires_at);"
    "CREATE INDEX refresh_families_expires ON refresh_families (expires_at);"
    "CREATE INDEX audit_log_at ON audit_log (at);"
    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;"
    "UPDATE schema_version SET version = 2;";

/* Version 3: public signing keys published by the token service replicas (published_keys.c);
 * never private material, checked before it is written. */
static const char MIGRATE_2_TO_3[] =
    "CREATE TABLE published_keys ("
    "  kid TEXT PRIMARY KEY NOT NULL CHECK (length(kid) BETWEEN 1 AND 64),"
    "  alg TEXT NOT NULL,"
    "  jwk TEXT NOT NULL CHECK (length(jwk) <= 8192 AND json_valid(jwk)),"
    "  published_at INTEGER NOT NULL,"
    "  last_seen INTEGER NOT NULL,"
    "  not_after INTEGER NOT NULL);"
    "CREATE INDEX published_keys_not_after ON published_keys (not_after);"
    "UPDATE schema_version SET version = 3;";

/* Version 4: the upstream provider configuration shared by the token service's processes
 * (oidc_config.c), one row. The document holds client secrets. */
static const char MIGRATE_3_TO_4[] =
    "CREATE TABLE oidc_config ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  version INTEGER NOT NULL CHECK (version > 0),"
    "  document TEXT NOT NULL CHECK (length(CAST(document AS BLOB)) BETWEEN 1 AND 262144 AND "
    "json_valid(document)),"
    "  updated_at INTEGER NOT NULL,"
    "  updated_by TEXT NOT NULL CHECK (length(CAST(updated_by AS BLOB)) BETWEEN 1 AND 127));"
    "UPDATE schema_version SET version = 4;";

/* Version 5: the token mappings shared by the token service's processes (shared_docs.c), one
 * row; the service checks the model, the table that it is bounded JSON. */
static const char MIGRATE_4_TO_5[] =
    "CREATE TABLE mappings ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  version INTEGER NOT NULL CHECK (version > 0),"
    "  document TEXT NOT NULL CHECK (length(CAST(document AS BLOB)) BETWEEN 1 AND 1048576 AND "
    "json_valid(document)),"
    "  updated_at INTEGER NOT NULL,"
    "  updated_by TEXT NOT NULL CHECK (length(CAST(updated_by AS BLOB)) BETWEEN 1 AND 127));"
    "UPDATE schema_version SET version = 5;";

/* Version 6: revocation (sqlite_revoke.c). The access tokens the service issued, by jti, so
 * that revoking a family or a subject finds them, and the revocations verifiers poll by seq
 * (AUTOINCREMENT: a seq is never handed out twice, also after collection). Both go once their
 * token's exp has passed. A family index by subject for the bulk revocation (IF NOT EXISTS:
 * the migration also runs over a store whose later tables were dropped by hand). Families
 * learn their client ("" for a public one, and for every family created before), so that only
 * that client may introspect their refresh tokens. */
static const char MIGRATE_5_TO_6[] =
    "CREATE TABLE issued_tokens ("
    "  jti TEXT PRIMARY KEY NOT NULL CHECK (length(jti) BETWEEN 1 AND 64),"
    "  subject TEXT NOT NULL,"
    "  family_id TEXT NOT NULL DEFAULT '',"
    "  client_id TEXT NOT NULL DEFAULT '',"
    "  issued_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL,"
    "  revoked_at INTEGER);"
    "CREATE INDEX issued_tokens_family ON issued_tokens (family_id) WHERE family_id <> '';"
    "CREATE INDEX issued_tokens_subject ON issued_tokens (subject);"
    "CREATE INDEX issued_tokens_expires ON issued_tokens (expires_at);"
    "CREATE TABLE revocations ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  jti TEXT NOT NULL UNIQUE CHECK (length(jti) BETWEEN 1 AND 64),"
    "  expires_at INTEGER NOT NULL,"
    "  revoked_at INTEGER NOT NULL,"
    "  reason TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX revocations_expires ON revocations (expires_at);"
    "CREATE INDEX IF NOT EXISTS refresh_families_subject ON refresh_families (subject);"
    "UPDATE schema_version SET version = 6;";

/* Part of version 6, run by migrate_locked() only when the column is missing: SQLite has no
 * ADD COLUMN IF NOT EXISTS, and refresh_families is not among the tables dropped by hand. */
static const char MIGRATE_6_FAMILY_CLIENT[] =
    "ALTER TABLE refresh_families ADD COLUMN client_id TEXT NOT NULL DEFAULT '';";

static const char *const MIGRATIONS[TS_STORE_SCHEMA_VERSION] = {
    MIGRATE_0_TO_1, MIGRATE_1_TO_2, MIGRATE_2_TO_3, MIGRATE_3_TO_4, MIGRATE_4_TO_5, MIGRATE_5_TO_6};

static ts_status query_int(ts_sq_conn *c, const char *sql, int64_t *out, bool *has_row,
                           ts_error *err)
{
    sqlite3_stmt *st = NULL;
    *has_row = false;
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
        return ts_store__sq_fail(c, "schema", err);
    int rc = sqlite3_step(st);
    ts_status ret = TS_OK;
    if (rc == SQLITE_ROW) {
        *has_row = true;
        *out = sqlite3_column_int64(st, 0);
        if (sqlite3_step(st) == SQLITE_ROW)
            ret = ts_error_set(err, TS_EINVAL, "schema_version",
                               "schema_version holds more than one row; the store is damaged");
    } else if (rc != SQLITE_DONE) {
        ret = ts_store__sq_fail(c, "schema", err);
    }
    sqlite3_finalize(st);
    return ret;
}

static ts_status migrate_locked(ts_sq_conn *c, ts_error *err)
{
    int64_t n = 0, version = 0;
    bool row = false;
    ts_status st = query_int(c,
                             "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                             "name = 'schema_version'",
                             &n, &row, err);
    if (st != TS_OK)
        return st;
    if (n == 0) {
        st = query_int(c, "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'", &n,
                       &row, err);
        if (st != TS_OK)
            return st;
        if (n != 0)
            return ts_error_set(err, TS_EINVAL, "schema_version",
                                "the database has tables but no schema_version: not a "
                                "tokensmith store");
    } else {
        st = query_int(c, "SELECT version FROM schema_version", &version, &row, err);
        if (st != TS_OK)
            return st;
        if (!row || version < 1)
            return ts_error_set(err, TS_EINVAL, "schema_version",
                                "schema_version is empty or invalid; the store is damaged");
    }
    if (version > TS_STORE_SCHEMA_VERSION)
        return ts_error_set(err, TS_EUNSUPPORTED, "schema_version",
                            "the store has schema version %lld, newer than the %d this "
                            "tokensmith supports; upgrade tokensmith (the store was not changed)",
                            (long long)version, TS_STORE_SCHEMA_VERSION);
    for (int64_t v = version; v < TS_STORE_SCHEMA_VERSION; v++) {
        st = ts_store__sq_exec(c, MIGRATIONS[v], "migration", err);
        if (st == TS_OK && v == 5) {
            st = query_int(c,
                           "SELECT count(*) FROM pragma_table_info('refresh_families') WHERE "
                           "name = 'client_id'",
                           &n, &row, err);
            if (st == TS_OK && n == 0)
                st = ts_store__sq_exec(c, MIGRATE_6_FAMILY_CLIENT, "migration", err);
        }
        if (st != TS_OK)
            return st;
    }
    return TS_OK;
}

ts_status ts_store__sq_schema_migrate(ts_sq_conn *c, void *arg, ts_error *err)
{
    (void)arg;
    return migrate_locked(c, err);
}

ts_status ts_store__sqlite_version(const char *path, unsigned *out, ts_error *err)
{
    *out = 0;
    if (!path || !*path || access(path, F_OK) != 0)
        return TS_OK; /* no file yet: a new store */
    ts_sq_conn c = {0};
    if (sqlite3_open_v2(path, &c.db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW, NULL) !=
        SQLITE_OK) {
        ts_status st = c.db ? ts_store__sq_fail(&c, path, err)
                            : ts_error_set(err, TS_ENOMEM, path, "out of memory");
        sqlite3_close_v2(c.db);
        return st;
    }
    int64_t n = 0, version = 0;
    bool row = false;
    ts_status st = query_int(&c,
                             "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                             "name = 'schema_version'",
                             &n, &row, err);
    if (st == TS_OK && n == 1)
        st = query_int(&c, "SELECT version FROM schema_version", &version, &row, err);
    sqlite3_close_v2(c.db);
    if (st == TS_OK)
        *out = version > 0 && version < 1000000 ? (unsigned)version : 0;
    return st;
}
