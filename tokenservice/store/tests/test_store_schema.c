/* Schema creation, migration from version 1, refusal of newer or foreign databases, file
 * modes, and option checks. */
#include "store_test_util.h"

#include <sqlite3.h>
#include <sys/stat.h>

static int64_t query_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void exec_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("sql: %s", msg);
    sqlite3_close(db);
}

static void test_fresh_schema(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    assert_string_equal(ts_store_backend_name(s), "sqlite");
    assert_int_equal(ts_store_check(s, true, NULL), TS_OK);
    ts_store_free(s);
    assert_int_equal(query_int(t.db, "SELECT version FROM schema_version"),
                     TS_STORE_SCHEMA_VERSION);
    assert_int_equal(query_int(t.db, "SELECT count(*) FROM sqlite_master WHERE type='table' AND "
                                     "name IN ('bootstrap_tokens','refresh_families',"
                                     "'refresh_rotated','audit_log')"),
                     4);
    /* Reopening is a no-op migration. */
    s = open_store(t.db, NULL);
    ts_store_free(s);
    assert_int_equal(query_int(t.db, "SELECT count(*) FROM schema_version"), 1);
    tdir_remove(&t);
}

/* The version-1 schema exactly as the first release wrote it. */
static const char V1_SCHEMA[] =
    "CREATE TABLE schema_version (version INTEGER NOT NULL);"
    "INSERT INTO schema_version (version) VALUES (1);"
    "CREATE TABLE bootstrap_tokens (token_hash TEXT PRIMARY KEY NOT NULL CHECK "
    "(length(token_hash) = 64), id TEXT NOT NULL UNIQUE, subject TEXT NOT NULL, audience TEXT "
    "NOT NULL, scope TEXT NOT NULL DEFAULT '', binding_id TEXT NOT NULL DEFAULT '', ttl_s INTEGER "
    "NOT NULL, refresh_ttl_s INTEGER NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER "
    "NOT NULL, consumed_at INTEGER, consumed_by TEXT, family_id TEXT);"
    "CREATE TABLE refresh_families (family_id TEXT PRIMARY KEY NOT NULL, subject TEXT NOT NULL, "
    "audience TEXT NOT NULL, scope TEXT NOT NULL DEFAULT '', current_hash TEXT NOT NULL UNIQUE "
    "CHECK (length(current_hash) = 64), issued_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, "
    "last_used_at INTEGER NOT NULL DEFAULT 0, usage_count INTEGER NOT NULL DEFAULT 0, revoked_at "
    "INTEGER, revoke_reason TEXT);"
    "CREATE TABLE refresh_rotated (token_hash TEXT PRIMARY KEY NOT NULL CHECK (length(token_hash) "
    "= 64), family_id TEXT NOT NULL REFERENCES refresh_families (family_id) ON DELETE CASCADE, "
    "rotated_at INTEGER NOT NULL);"
    "CREATE INDEX refresh_rotated_family ON refresh_rotated (family_id);"
    "CREATE TABLE audit_log (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, type TEXT "
    "NOT NULL, subject TEXT NOT NULL DEFAULT '', ref_id TEXT NOT NULL DEFAULT '', hash_prefix "
    "TEXT NOT NULL DEFAULT '' CHECK (length(hash_prefix) <= 8), peer TEXT NOT NULL DEFAULT '', "
    "detail TEXT CHECK (detail IS NULL OR json_valid(detail)));";

static void test_migrate_from_v1(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    char token[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char hash[TS_STORE_HASH_LEN + 1];
    assert_int_equal(ts_store_token_hash(token, strlen(token), hash, NULL), TS_OK);
    char sql[2048];
    snprintf(sql, sizeof sql,
             "%s INSERT INTO bootstrap_tokens (token_hash, id, subject, audience, scope, ttl_s, "
             "refresh_ttl_s, created_at, expires_at) VALUES ('%s', 'bt-legacy', 'svc', 'smd', "
             "'a b', 600, 86400, %lld, %lld);",
             V1_SCHEMA, hash, (long long)T0, (long long)(T0 + 600));
    exec_sql(t.db, sql);
    assert_int_equal(query_int(t.db, "SELECT version FROM schema_version"), 1);

    ts_store *s = open_store(t.db, NULL);
    assert_int_equal(query_int(t.db, "SELECT version FROM schema_version"),
                     TS_STORE_SCHEMA_VERSION);
    assert_int_equal(query_int(t.db, "SELECT count(*) FROM sqlite_master WHERE type='trigger' "
                                     "AND name='audit_log_append_only'"),
                     1);
    /* The old row survived and gained the new columns with their defaults. */
    ts_store_bootstrap_record rec;
    assert_int_equal(ts_store_bootstrap_get(s, hash, &rec, NULL), TS_OK);
    assert_string_equal(rec.id, "bt-legacy");
    assert_int_equal(rec.replay_attempts, 0);
    assert_int_equal(rec.reissue_count, 0);
    /* ...and works with the new code. */
    char rh[TS_STORE_HASH_LEN + 1];
    random_hash(rh);
    ts_store_redeem_result r;
    assert_int_equal(ts_store_bootstrap_redeem(s, hash, "10.0.0.1", T0 + 1, rh, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_REDEEM_OK);
    assert_string_equal(r.family.scope, "a b");
    assert_int_equal(ts_store_bootstrap_redeem(s, hash, "10.0.0.1", T0 + 2, rh, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_REDEEM_ALREADY_CONSUMED);
    assert_int_equal(r.record.replay_attempts, 1);
    ts_store_free(s);
    tdir_remove(&t);
}

static void test_refuse_newer_schema(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    ts_store_free(s);
    exec_sql(t.db, "UPDATE schema_version SET version = 99");
    ts_store_options o = TS_STORE_OPTIONS_INIT;
    o.path = t.db;
    ts_error err;
    ts_error_clear(&err);
    assert_null(ts_store_new(&o, &err));
    assert_int_equal(err.code, TS_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "99"));
    assert_non_null(strstr(err.msg, "newer"));
    /* Untouched. */
    assert_int_equal(query_int(t.db, "SELECT version FROM schema_version"), 99);
    tdir_remove(&t);
}

static void test_refuse_foreign_database(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    exec_sql(t.db, "CREATE TABLE something_else (x INTEGER)");
    ts_store_options o = TS_STORE_OPTIONS_INIT;
    o.path = t.db;
    ts_error err;
    ts_error_clear(&err);
    assert_null(ts_store_new(&o, &err));
    assert_int_equal(err.code, TS_EINVAL);
    assert_non_null(strstr(err.msg, "not a tokensmith store"));
    tdir_remove(&t);
}

static void test_file_modes(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    mode_t old = umask(0); /* even a permissive umask must not widen the store's mode */
    ts_store *s = open_store(t.db, NULL);
    char tok[TS_STORE_TOKEN_LEN + 1];
    make_bootstrap(s, T0, tok, NULL);
    umask(old);
    struct stat sb;
    assert_int_equal(stat(t.db, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    char wal[sizeof t.db + 8];
    snprintf(wal, sizeof wal, "%s-wal", t.db);
    assert_int_equal(stat(wal, &sb), 0); /* WAL mode is on */
    assert_int_equal(sb.st_mode & 0777, 0600);
    ts_store_free(s);
    /* An existing store with a loose mode is tightened on open. */
    assert_int_equal(chmod(t.db, 0644), 0);
    s = open_store(t.db, NULL);
    assert_int_equal(stat(t.db, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    ts_store_free(s);
    tdir_remove(&t);
}

static void test_journal_mode_is_wal(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    ts_store_free(s);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(t.db, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
    tdir_remove(&t);
}

static void test_bad_options(void **state)
{
    (void)state;
    ts_error err;
    ts_store_options o = TS_STORE_OPTIONS_INIT;
    ts_error_clear(&err);
    assert_null(ts_store_new(&o, &err)); /* no path */
    assert_int_equal(err.code, TS_EINVAL);
    o.path = ":memory:";
    ts_error_clear(&err);
    assert_null(ts_store_new(&o, &err));
    assert_int_equal(err.code, TS_EINVAL);
    o.path = "/nonexistent-dir/x/store.db";
    ts_error_clear(&err);
    assert_null(ts_store_new(&o, &err));
    assert_int_equal(err.code, TS_EIO);
    ts_store_options bad = TS_STORE_OPTIONS_INIT;
    bad.path = "/tmp/unused.db";
    bad.version = 7;
    ts_error_clear(&err);
    assert_null(ts_store_new(&bad, &err));
    assert_string_equal(err.where, "options.version");
    bad = (ts_store_options)TS_STORE_OPTIONS_INIT;
    bad.path = "/tmp/unused.db";
    bad.bootstrap_ttl_min_s = 7200; /* min > max */
    ts_error_clear(&err);
    assert_null(ts_store_new(&bad, &err));
    assert_string_equal(err.where, "options.bootstrap_ttl");
    bad = (ts_store_options)TS_STORE_OPTIONS_INIT;
    bad.path = "/tmp/unused.db";
    bad.max_connections = 0;
    ts_error_clear(&err);
    assert_null(ts_store_new(&bad, &err));
    assert_string_equal(err.where, "options.max_connections");
    bad = (ts_store_options)TS_STORE_OPTIONS_INIT;
    bad.path = "/tmp/unused.db";
    bad.page_cache_kib = 1;
    ts_error_clear(&err);
    assert_null(ts_store_new(&bad, &err));
    assert_string_equal(err.where, "options.page_cache_kib");
    bad = (ts_store_options)TS_STORE_OPTIONS_INIT;
    bad.path = "/tmp/unused.db";
    bad.redeem_retry_grace_s = 120;
    bad.gc_retention_s = 60;
    ts_error_clear(&err);
    assert_null(ts_store_new(&bad, &err));
    assert_string_equal(err.where, "options.gc_retention_s");
}

static void test_readonly_store(void **state)
{
    (void)state;
    if (geteuid() == 0) {
        skip(); /* root ignores file modes */
    }
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    ts_store_free(s);
    assert_int_equal(chmod(t.db, 0400), 0);
    ts_store_options o = TS_STORE_OPTIONS_INIT;
    o.path = t.db;
    ts_error err;
    ts_error_clear(&err);
    assert_null(ts_store_new(&o, &err));
    assert_int_equal(err.code, TS_EIO);
    chmod(t.db, 0600);
    tdir_remove(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_schema),        cmocka_unit_test(test_migrate_from_v1),
        cmocka_unit_test(test_refuse_newer_schema), cmocka_unit_test(test_refuse_foreign_database),
        cmocka_unit_test(test_file_modes),          cmocka_unit_test(test_journal_mode_is_wal),
        cmocka_unit_test(test_bad_options),         cmocka_unit_test(test_readonly_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
