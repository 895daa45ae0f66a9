/* Shared helpers for the store tests: a private temporary directory per test, a store opened
 * in it, and the same store taken back to an earlier schema to test its migration. Header-only
 * so that every test executable stays self-contained (each is built from its one source file).
 *
 * One suite, two backends. TS_STORE_TEST_BACKEND selects the store under test: "sqlite" (the
 * default) or "postgres". For PostgreSQL, TS_STORE_TEST_PG is a key=value conninfo of a
 * server where the tests may create databases (or TS_STORE_TEST_PG_FILE names a file holding
 * it, as the ctest fixture writes it, scripts/pg.sh); each tdir_make() then creates a fresh
 * database with a unique name, which tdir_remove() drops, so tests running in parallel never
 * share state, and tdir.db is that database's conninfo instead of a file path. When no server
 * is available the test exits 77 (skipped) with a message, or fails when TS_REQUIRE_PG=1. */
#ifndef STORE_TEST_UTIL_H
#define STORE_TEST_UTIL_H

#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include <tokensmith/store.h>

#define T0 INT64_C(1750000000) /* a fixed "now" */

typedef struct tdir {
    char dir[64];
    char db[600];    /* SQLite: the database file; PostgreSQL: the test database's conninfo */
    char pgname[64]; /* PostgreSQL: the test database's name, "" for SQLite */
} tdir;

static inline bool test_backend_is_pg(void)
{
    const char *b = getenv("TS_STORE_TEST_BACKEND");
    return b && strcmp(b, "postgres") == 0;
}

/* For tests that check a SQLite property (files, VFS faults): skipped on PostgreSQL. */
#define SQLITE_ONLY()                                                                              \
    do {                                                                                           \
        if (test_backend_is_pg()) {                                                                \
            print_message("SQLite-only test, skipped on PostgreSQL\n");                            \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* The server's conninfo from the environment, or skip (exit 77) / fail without one. */
static inline void test_pg_conninfo(char *out, size_t cap)
{
    const char *ci = getenv("TS_STORE_TEST_PG");
    const char *file = getenv("TS_STORE_TEST_PG_FILE");
    out[0] = '\0';
    if (ci && *ci) {
        snprintf(out, cap, "%s", ci);
    } else if (file && *file) {
        FILE *f = fopen(file, "r");
        if (f) {
            if (!fgets(out, (int)cap, f))
                out[0] = '\0';
            fclose(f);
            out[strcspn(out, "\n")] = '\0';
        }
    }
    if (out[0])
        return;
    const char *req = getenv("TS_REQUIRE_PG");
    if (req && strcmp(req, "1") == 0)
        fail_msg("no PostgreSQL server for the store tests (TS_STORE_TEST_PG unset, %s empty or "
                 "missing: see scripts/pg.sh) and TS_REQUIRE_PG=1",
                 file ? file : "TS_STORE_TEST_PG_FILE");
    fprintf(stderr, "SKIP: no PostgreSQL server for the store tests (scripts/pg.sh could not "
                    "start one; TS_STORE_TEST_PG unset). Set TS_REQUIRE_PG=1 to fail instead.\n");
    exit(77);
}

/* Run @p sql on the server (as the admin conninfo); fails the test on error. */
static inline void test_pg_admin(const char *admin, const char *sql)
{
    PGconn *c = PQconnectdb(admin);
    char msg[512] = "";
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(msg, sizeof msg, "cannot connect to the test server: %s", PQerrorMessage(c));
    } else {
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
            snprintf(msg, sizeof msg, "%s: %s", sql, PQerrorMessage(c));
        PQclear(r);
    }
    PQfinish(c);
    if (msg[0])
        fail_msg("%s", msg);
}

static inline void tdir_make(tdir *t)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/ts-store-test-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->db, sizeof t->db, "%s/store.db", t->dir);
    t->pgname[0] = '\0';
    if (!test_backend_is_pg())
        return;
    char admin[512];
    test_pg_conninfo(admin, sizeof admin);
    /* Unique across the parallel test processes: the temporary directory's random name. */
    snprintf(t->pgname, sizeof t->pgname, "ts_test_%ld_%s", (long)getpid(),
             strrchr(t->dir, '-') + 1);
    for (char *p = t->pgname; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            *p = (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : '_';
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", t->pgname);
    test_pg_admin(admin, sql);
    snprintf(t->db, sizeof t->db, "%s dbname=%s", admin, t->pgname);
}

static inline void tdir_remove(tdir *t)
{
    char p[700];
    static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
    if (t->pgname[0]) {
        char admin[512], sql[128];
        test_pg_conninfo(admin, sizeof admin);
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", t->pgname);
        test_pg_admin(admin, sql);
        snprintf(t->db, sizeof t->db, "%s/store.db", t->dir);
    }
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s%s", t->db, sfx[i]);
        unlink(p);
    }
    rmdir(t->dir);
}

/* Run raw SQL on the test's database, whatever the backend. @return true when it succeeded;
 * otherwise @p msg receives the database's message. */
static inline bool tdir_sql(const tdir *t, const char *sql, char *msg, size_t cap)
{
    msg[0] = '\0';
    if (t->pgname[0]) {
        PGconn *c = PQconnectdb(t->db);
        PGresult *r = PQexec(c, sql);
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
        if (!ok)
            snprintf(msg, cap, "%s", PQerrorMessage(c));
        PQclear(r);
        PQfinish(c);
        return ok;
    }
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(t->db, &db), SQLITE_OK);
    bool ok = sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
    if (!ok)
        snprintf(msg, cap, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
    return ok;
}

static inline ts_store *open_store(const char *path, const ts_store_options *base)
{
    ts_store_options o = TS_STORE_OPTIONS_INIT;
    if (base)
        o = *base;
    o.path = path;
    o.synchronous = TS_STORE_SYNC_NORMAL; /* tests need speed, not power-loss durability */
    ts_error err;
    ts_error_clear(&err);
    ts_store *s = ts_store_new(&o, &err);
    if (!s)
        fail_msg("ts_store_new: %s (%s)", err.msg, err.where);
    return s;
}

/* Create a bootstrap token with sane defaults; returns its hash in @p hash. */
static inline void make_bootstrap(ts_store *s, int64_t now, char token[TS_STORE_TOKEN_LEN + 1],
                                  char hash[TS_STORE_HASH_LEN + 1])
{
    ts_store_bootstrap_params p = {"boot-service", "smd", "node:read node:write", "", 600,
                                   86400,          now};
    ts_error err;
    ts_error_clear(&err);
    ts_store_bootstrap_record rec;
    if (ts_store_bootstrap_create(s, &p, token, &rec, &err) != TS_OK)
        fail_msg("bootstrap_create: %s", err.msg);
    char check[TS_STORE_HASH_LEN + 1];
    assert_int_equal(ts_store_token_hash(token, strlen(token), check, NULL), TS_OK);
    assert_string_equal(check, rec.token_hash);
    if (hash)
        memcpy(hash, rec.token_hash, TS_STORE_HASH_LEN + 1);
}

static inline void random_hash(char hash[TS_STORE_HASH_LEN + 1])
{
    char tok[TS_STORE_TOKEN_LEN + 1];
    assert_int_equal(ts_store_token_generate(tok, NULL), TS_OK);
    assert_int_equal(ts_store_token_hash(tok, strlen(tok), hash, NULL), TS_OK);
}

/* Migration from an earlier schema, on either backend: gives the test's database a store with
 * one bootstrap token, takes the database back to the earlier version by hand (drops @p tables,
 * in order: a NULL-terminated list of the tables that version lacks; then records @p sqlite_from
 * or @p pg_from, whichever backend is under test, as its schema version), checks that
 * ts_store_migrate() reports that version and the current one, and reopens the store, which must
 * still hold the token. @return the reopened store; the caller frees it. */
static inline ts_store *tdir_migrate_from(const tdir *t, const char *const *tables,
                                          unsigned sqlite_from, unsigned pg_from)
{
    ts_store *s = open_store(t->db, NULL);
    char tok[TS_STORE_TOKEN_LEN + 1], hash[TS_STORE_HASH_LEN + 1];
    make_bootstrap(s, T0, tok, hash);
    ts_store_free(s);
    bool pg = test_backend_is_pg();
    unsigned want_from = pg ? pg_from : sqlite_from;
    char sql[512], msg[256];
    int n = 0;
    for (size_t i = 0; tables[i] && n >= 0 && (size_t)n < sizeof sql; i++)
        n += snprintf(sql + n, sizeof sql - (size_t)n, "DROP TABLE %s; ", tables[i]);
    if (n >= 0 && (size_t)n < sizeof sql)
        n += snprintf(sql + n, sizeof sql - (size_t)n, "UPDATE schema_version SET version = %u;",
                      want_from);
    assert_true(n >= 0 && (size_t)n < sizeof sql);
    if (!tdir_sql(t, sql, msg, sizeof msg))
        fail_msg("%s: %s", sql, msg);
    unsigned from = 0, to = 0;
    ts_store_options o = TS_STORE_OPTIONS_INIT;
    o.path = t->db;
    ts_error err;
    ts_error_clear(&err);
    if (ts_store_migrate(&o, &from, &to, &err) != TS_OK)
        fail_msg("ts_store_migrate: %s (%s)", err.msg, err.where);
    assert_int_equal(from, want_from);
    assert_int_equal(to, pg ? TS_STORE_PG_SCHEMA_VERSION : TS_STORE_SCHEMA_VERSION);
    s = open_store(t->db, NULL);
    ts_store_bootstrap_record rec;
    assert_int_equal(ts_store_bootstrap_get(s, hash, &rec, NULL), TS_OK);
    return s;
}

/* Count audit records of @p type. */
typedef struct audit_count {
    const char *type;
    int n;
    char last_ref[64];
    char last_prefix[16];
    char last_detail[256];
} audit_count;

static inline int count_cb(const ts_store_audit_entry *e, void *ud)
{
    audit_count *c = ud;
    if (strcmp(e->type, c->type) == 0) {
        c->n++;
        snprintf(c->last_ref, sizeof c->last_ref, "%s", e->ref_id);
        snprintf(c->last_prefix, sizeof c->last_prefix, "%s", e->hash_prefix);
        snprintf(c->last_detail, sizeof c->last_detail, "%s", e->detail ? e->detail : "");
    }
    return 0;
}

static inline audit_count audit_of(ts_store *s, const char *type)
{
    audit_count c;
    memset(&c, 0, sizeof c);
    c.type = type;
    assert_int_equal(ts_store_audit_list(s, 0, 10000, count_cb, &c, NULL), TS_OK);
    return c;
}

#endif
