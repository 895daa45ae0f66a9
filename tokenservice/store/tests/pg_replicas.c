/* The PostgreSQL backend as several replicas see it: two store handles on one database (as
 * two tokensmith processes would hold), racing on one bootstrap token and on one refresh
 * token; the single-statement grants (their one winner, their audit rows, all or nothing);
 * migrations when handles open together; a database newer than the binary; the server
 * restarted under a call in flight; an unreachable server at open. Needs TS_STORE_TEST_PG or
 * the ctest fixture (store_test_util.h); the restart test starts its own cluster with
 * scripts/pg.sh so that it disturbs no other test. */
#include "store_test_util.h"

#include <pthread.h>
#include <time.h>

static ts_store *open_pg(const char *conninfo, unsigned conns)
{
    ts_store_options o = TS_STORE_OPTIONS_INIT;
    o.max_connections = conns;
    return open_store(conninfo, &o);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Fails the test unless @p table holds @p n rows. */
static void assert_rows(const tdir *t, const char *table, int n)
{
    char sql[200], msg[256];
    snprintf(sql, sizeof sql,
             "DO $$BEGIN IF (SELECT count(*) FROM %s) <> %d THEN RAISE EXCEPTION 'rows'; END IF; "
             "END$$",
             table, n);
    if (!tdir_sql(t, sql, msg, sizeof msg))
        fail_msg("%s does not hold %d rows: %s", table, n, msg);
}

/* ---- 100-way race on one bootstrap token across two handles ------------------------------ */

typedef struct racer {
    ts_store *s;
    const char *hash;
    ts_status st;
    ts_store_redeem_result r;
    pthread_barrier_t *go;
    bool rotate; /* rotate the refresh token @p hash instead of redeeming */
    ts_store_rotate_result rot;
} racer;

static void *racer_main(void *arg)
{
    racer *r = arg;
    char refresh[TS_STORE_HASH_LEN + 1];
    random_hash(refresh);
    pthread_barrier_wait(r->go);
    if (r->rotate)
        r->st = ts_store_refresh_rotate(r->s, r->hash, refresh, "10.0.0.1", T0 + 2, &r->rot, NULL);
    else
        r->st = ts_store_bootstrap_redeem(r->s, r->hash, "10.0.0.1", T0 + 1, refresh, &r->r, NULL);
    return NULL;
}

static void test_race_two_replicas(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *a = open_pg(t.db, 8), *b = open_pg(t.db, 8);
    assert_string_equal(ts_store_backend_name(a), "postgresql");
    char tok[TS_STORE_TOKEN_LEN + 1], hash[TS_STORE_HASH_LEN + 1];
    make_bootstrap(a, T0, tok, hash);
    enum { N = 100 };
    racer rs[N];
    pthread_t th[N];
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, N);
    for (int i = 0; i < N; i++) {
        rs[i] = (racer){i % 2 ? b : a, hash, TS_EINTERNAL, {0}, &go, false, {0}};
        assert_int_equal(pthread_create(&th[i], NULL, racer_main, &rs[i]), 0);
    }
    int ok = 0, consumed = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(rs[i].st, TS_OK);
        ok += rs[i].r.outcome == TS_STORE_REDEEM_OK;
        consumed += rs[i].r.outcome == TS_STORE_REDEEM_ALREADY_CONSUMED;
    }
    pthread_barrier_destroy(&go);
    assert_int_equal(ok, 1);
    assert_int_equal(consumed, N - 1);
    assert_int_equal(audit_of(a, "bootstrap_token_exchanged").n, 1);
    assert_int_equal(audit_of(b, "refresh_family_created").n, 0); /* redeem audits "exchanged" */
    assert_int_equal(audit_of(b, "bootstrap_token_replay_attempted").n, N - 1);
    ts_store_bootstrap_record rec;
    assert_int_equal(ts_store_bootstrap_get(b, hash, &rec, NULL), TS_OK);
    assert_int_equal(rec.replay_attempts, N - 1);
    ts_store_free(a);
    ts_store_free(b);
    tdir_remove(&t);
}

/* ---- rotate on A, replay the old token on B ------------------------------------------------ */

static void test_replay_across_replicas(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *a = open_pg(t.db, 2), *b = open_pg(t.db, 2);
    char tok[TS_STORE_TOKEN_LEN + 1], hash[TS_STORE_HASH_LEN + 1];
    char h1[TS_STORE_HASH_LEN + 1], h2[TS_STORE_HASH_LEN + 1], h3[TS_STORE_HASH_LEN + 1];
    random_hash(h1);
    random_hash(h2);
    random_hash(h3);
    make_bootstrap(a, T0, tok, hash);
    ts_store_redeem_result rr;
    assert_int_equal(ts_store_bootstrap_redeem(a, hash, "10.0.0.1", T0 + 1, h1, &rr, NULL), TS_OK);
    assert_int_equal(rr.outcome, TS_STORE_REDEEM_OK);
    ts_store_rotate_result r;
    assert_int_equal(ts_store_refresh_rotate(a, h1, h2, "10.0.0.1", T0 + 2, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_ROTATE_OK);
    /* The old token, presented to the other replica: the family is revoked, audited once. */
    assert_int_equal(ts_store_refresh_rotate(b, h1, h3, "10.0.0.9", T0 + 3, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_ROTATE_REUSE_DETECTED);
    assert_true(r.replayed);
    assert_string_equal(r.family.id, rr.family.id);
    /* The thief's and the owner's next attempts, on either replica, find it revoked. */
    assert_int_equal(ts_store_refresh_rotate(a, h2, h3, "10.0.0.1", T0 + 4, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_ROTATE_REVOKED);
    assert_int_equal(ts_store_refresh_rotate(b, h1, h3, "10.0.0.9", T0 + 5, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_ROTATE_REVOKED);
    audit_count det = audit_of(a, "refresh_token_replay_detected");
    assert_int_equal(det.n, 1);
    assert_string_equal(det.last_ref, rr.family.id);
    assert_int_equal(audit_of(b, "refresh_token_family_revoked").n, 1);
    ts_store_family f;
    assert_int_equal(ts_store_family_get(a, rr.family.id, &f, NULL), TS_OK);
    assert_string_equal(f.revoke_reason, "reuse_detected");
    ts_store_free(a);
    ts_store_free(b);
    tdir_remove(&t);
}

/* ---- the single-statement grants: one winner, the rows they write, all or nothing --------- */

/* Waits until @p n sessions of the test's database wait for a row lock. */
static bool lock_waiters(PGconn *c, int n)
{
    for (int i = 0; i < 1000; i++) {
        PGresult *r = PQexec(c, "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                "current_database() AND wait_event_type = 'Lock'");
        int got = PQresultStatus(r) == PGRES_TUPLES_OK ? atoi(PQgetvalue(r, 0, 0)) : -1;
        PQclear(r);
        if (got == n)
            return true;
        sleep_ms(10);
    }
    return false;
}

/* Two replicas rotate one token at once, many times: exactly one rotates, the other sees a
 * rotated hash and revokes the family. In the odd rounds a third session holds the family's
 * row until both rotations wait for it inside their single statement, so that the loser's
 * UPDATE re-checks the winner's committed row (not merely runs after it). */
static void test_rotation_race_two_replicas(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *a = open_pg(t.db, 2), *b = open_pg(t.db, 2);
    PGconn *lock = PQconnectdb(t.db);
    assert_int_equal(PQstatus(lock), CONNECTION_OK);
    enum { ROUNDS = 12 };
    for (int round = 0; round < ROUNDS; round++) {
        char h0[TS_STORE_HASH_LEN + 1], sql[160];
        random_hash(h0);
        ts_store_family_params fp = {"svc", "smd", "read", 3600, h0, "10.0.0.1", T0};
        ts_store_family fam;
        assert_int_equal(ts_store_family_create(a, &fp, &fam, NULL), TS_OK);
        if (round % 2) {
            snprintf(sql, sizeof sql,
                     "BEGIN; SELECT 1 FROM refresh_families WHERE family_id = '%s' FOR UPDATE",
                     fam.id);
            PQclear(PQexec(lock, sql));
        }
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, 2);
        racer rs[2] = {{a, h0, TS_EINTERNAL, {0}, &go, true, {0}},
                       {b, h0, TS_EINTERNAL, {0}, &go, true, {0}}};
        pthread_t th[2];
        for (int i = 0; i < 2; i++)
            assert_int_equal(pthread_create(&th[i], NULL, racer_main, &rs[i]), 0);
        if (round % 2) {
            assert_true(lock_waiters(lock, 2));
            PQclear(PQexec(lock, "ROLLBACK"));
        }
        int ok = 0, reuse = 0;
        for (int i = 0; i < 2; i++) {
            pthread_join(th[i], NULL);
            assert_int_equal(rs[i].st, TS_OK);
            ok += rs[i].rot.outcome == TS_STORE_ROTATE_OK;
            reuse += rs[i].rot.outcome == TS_STORE_ROTATE_REUSE_DETECTED;
        }
        pthread_barrier_destroy(&go);
        assert_int_equal(ok, 1);
        assert_int_equal(reuse, 1);
        ts_store_family f;
        assert_int_equal(ts_store_family_get(b, fam.id, &f, NULL), TS_OK);
        assert_int_equal(f.usage_count, 1);
        assert_string_equal(f.revoke_reason, "reuse_detected");
    }
    PQfinish(lock);
    assert_int_equal(audit_of(a, "refresh_token_rotated").n, ROUNDS);
    assert_int_equal(audit_of(a, "refresh_token_replay_detected").n, ROUNDS);
    assert_int_equal(audit_of(b, "refresh_token_family_revoked").n, ROUNDS);
    ts_store_free(a);
    ts_store_free(b);
    tdir_remove(&t);
}

typedef struct want_row {
    int64_t at;
    const char *type, *ref_id, *hash, *peer, *detail;
} want_row;

typedef struct seen_rows {
    const want_row *want; /* 4 rows */
    int n;
} seen_rows;

static int check_row(const ts_store_audit_entry *e, void *ud)
{
    seen_rows *s = ud;
    assert_true(s->n < 4);
    const want_row *w = &s->want[s->n++];
    char prefix[TS_STORE_PREFIX_LEN + 1];
    ts_store_hash_prefix(w->hash, prefix);
    assert_int_equal(e->at, w->at);
    assert_string_equal(e->type, w->type);
    assert_string_equal(e->subject, "boot-service");
    assert_string_equal(e->ref_id, w->ref_id);
    assert_string_equal(e->hash_prefix, prefix);
    assert_string_equal(e->peer, w->peer);
    assert_string_equal(e->detail, w->detail);
    return 0;
}

/* The rows a redemption and two rotations write, field by field: what ts_store__pg_audit
 * writes for them (the SQLite backend writes the same rows, checked by running the same
 * steps on a SQLite store), and nothing else. */
static void grant_rows_on(const char *path)
{
    ts_store *s = open_pg(path, 2);
    char tok[TS_STORE_TOKEN_LEN + 1], bh[TS_STORE_HASH_LEN + 1], h[3][TS_STORE_HASH_LEN + 1];
    make_bootstrap(s, T0, tok, bh);
    for (int i = 0; i < 3; i++)
        random_hash(h[i]);
    ts_store_redeem_result rr;
    assert_int_equal(ts_store_bootstrap_redeem(s, bh, "10.0.0.7", T0 + 1, h[0], &rr, NULL), TS_OK);
    assert_int_equal(rr.outcome, TS_STORE_REDEEM_OK);
    /* The family written is the one the redemption returns (redeem_rules.c). */
    ts_store_family f;
    assert_int_equal(ts_store_family_get(s, rr.family.id, &f, NULL), TS_OK);
    assert_memory_equal(&f, &rr.family, sizeof f);
    assert_int_equal(f.issued_at, T0 + 1);
    assert_int_equal(f.expires_at, T0 + 1 + 86400);
    ts_store_rotate_result r;
    for (int i = 1; i < 3; i++) {
        assert_int_equal(
            ts_store_refresh_rotate(s, h[i - 1], h[i], "10.0.0.8", T0 + 1 + i, &r, NULL), TS_OK);
        assert_int_equal(r.outcome, TS_STORE_ROTATE_OK);
        assert_int_equal(r.family.usage_count, i);
    }
    char exchanged[96];
    snprintf(exchanged, sizeof exchanged, "{\"family_id\":\"%s\"}", rr.family.id);
    const want_row want[] = {
        {T0, "bootstrap_token_created", rr.record.id, bh, "",
         "{\"audience\":\"smd\",\"scope\":\"node:read node:write\",\"expires_at\":1750000600}"},
        {T0 + 1, "bootstrap_token_exchanged", rr.record.id, bh, "10.0.0.7", exchanged},
        {T0 + 2, "refresh_token_rotated", rr.family.id, h[0], "10.0.0.8", "{\"usage_count\":1}"},
        {T0 + 3, "refresh_token_rotated", rr.family.id, h[1], "10.0.0.8", "{\"usage_count\":2}"},
    };
    seen_rows seen = {want, 0};
    assert_int_equal(ts_store_audit_list(s, 0, 100, check_row, &seen, NULL), TS_OK);
    assert_int_equal(seen.n, 4);
    /* The rotated hash went into refresh_rotated with its rotation: presented again, reuse. */
    assert_int_equal(ts_store_refresh_rotate(s, h[0], h[2], "10.0.0.9", T0 + 5, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_ROTATE_REUSE_DETECTED);
    ts_store_free(s);
}

static void test_grant_audit_rows(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    grant_rows_on(t.db);
    char file[128];
    snprintf(file, sizeof file, "%s/same.db", t.dir);
    grant_rows_on(file); /* not a conninfo: the SQLite backend */
    unlink(file);
    tdir_remove(&t);
}

/* A grant's statement commits as a whole: when its audit insert fails, neither the token nor
 * the family changes, and the next attempt succeeds. */
static void test_grant_statement_atomic(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_pg(t.db, 2);
    char tok[TS_STORE_TOKEN_LEN + 1], bh[TS_STORE_HASH_LEN + 1];
    char h0[TS_STORE_HASH_LEN + 1], h1[TS_STORE_HASH_LEN + 1], msg[256];
    make_bootstrap(s, T0, tok, bh);
    random_hash(h0);
    random_hash(h1);
    assert_true(tdir_sql(&t,
                         "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN "
                         "RAISE EXCEPTION 'refused'; END$$; CREATE TRIGGER refuse BEFORE INSERT "
                         "ON audit_log FOR EACH ROW WHEN (NEW.type IN ('refresh_token_rotated', "
                         "'bootstrap_token_exchanged')) EXECUTE FUNCTION refuse()",
                         msg, sizeof msg));
    ts_store_redeem_result rr;
    assert_int_equal(ts_store_bootstrap_redeem(s, bh, "10.0.0.7", T0 + 1, h0, &rr, NULL), TS_EIO);
    ts_store_bootstrap_record rec;
    assert_int_equal(ts_store_bootstrap_get(s, bh, &rec, NULL), TS_OK);
    assert_int_equal(rec.consumed_at, 0);
    assert_rows(&t, "refresh_families", 0);
    assert_true(tdir_sql(&t, "ALTER TABLE audit_log DISABLE TRIGGER refuse", msg, sizeof msg));
    assert_int_equal(ts_store_bootstrap_redeem(s, bh, "10.0.0.7", T0 + 2, h0, &rr, NULL), TS_OK);
    assert_int_equal(rr.outcome, TS_STORE_REDEEM_OK);

    assert_true(tdir_sql(&t, "ALTER TABLE audit_log ENABLE TRIGGER refuse", msg, sizeof msg));
    ts_store_rotate_result r;
    assert_int_equal(ts_store_refresh_rotate(s, h0, h1, "10.0.0.7", T0 + 3, &r, NULL), TS_EIO);
    ts_store_family f;
    assert_int_equal(ts_store_family_get(s, rr.family.id, &f, NULL), TS_OK);
    assert_int_equal(f.usage_count, 0);
    assert_rows(&t, "refresh_rotated", 0);
    assert_true(tdir_sql(&t, "DROP TRIGGER refuse ON audit_log", msg, sizeof msg));
    assert_int_equal(ts_store_refresh_rotate(s, h0, h1, "10.0.0.7", T0 + 4, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_ROTATE_OK);
    assert_int_equal(r.family.usage_count, 1);
    ts_store_free(s);
    tdir_remove(&t);
}

/* ---- migrations: once when handles open together; a newer schema is refused ---------------- */

typedef struct opener {
    const char *conninfo;
    ts_store *s;
    ts_error err;
    pthread_barrier_t *go;
} opener;

static void *opener_main(void *arg)
{
    opener *o = arg;
    ts_store_options opt = TS_STORE_OPTIONS_INIT;
    opt.path = o->conninfo;
    opt.max_connections = 1;
    ts_error_clear(&o->err);
    pthread_barrier_wait(o->go);
    o->s = ts_store_new(&opt, &o->err);
    return NULL;
}

static void test_migrations_once(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    enum { N = 6 };
    opener os[N];
    pthread_t th[N];
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, N);
    for (int i = 0; i < N; i++) {
        os[i] = (opener){t.db, NULL, {0}, &go};
        assert_int_equal(pthread_create(&th[i], NULL, opener_main, &os[i]), 0);
    }
    /* Two migrations of one empty database would collide on CREATE TABLE: every open
     * succeeding means the schema was created once. */
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        if (!os[i].s)
            fail_msg("open %d: %s", i, os[i].err.msg);
    }
    pthread_barrier_destroy(&go);
    for (int i = 0; i < N; i++)
        ts_store_free(os[i].s);
    assert_rows(&t, "schema_version", 1);
    ts_store_options o = TS_STORE_OPTIONS_INIT;
    o.path = t.db;
    unsigned from = 99, to = 99;
    assert_int_equal(ts_store_migrate(&o, &from, &to, NULL), TS_OK);
    assert_int_equal(from, TS_STORE_PG_SCHEMA_VERSION);
    assert_int_equal(to, TS_STORE_PG_SCHEMA_VERSION);
    tdir_remove(&t);

    /* An empty database: from 0. */
    tdir_make(&t);
    o.path = t.db;
    assert_int_equal(ts_store_migrate(&o, &from, &to, NULL), TS_OK);
    assert_int_equal(from, 0);
    assert_int_equal(to, TS_STORE_PG_SCHEMA_VERSION);
    tdir_remove(&t);
}

static void test_newer_schema_refused(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store_free(open_pg(t.db, 1));
    char msg[256];
    assert_true(tdir_sql(&t, "UPDATE schema_version SET version = 99", msg, sizeof msg));
    ts_store_options o = TS_STORE_OPTIONS_INIT;
    o.path = t.db;
    ts_error err;
    ts_error_clear(&err);
    assert_null(ts_store_new(&o, &err));
    assert_int_equal(err.code, TS_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "schema version 99"));
    assert_non_null(strstr(err.msg, "upgrade tokensmith"));
    /* Nothing was changed. */
    assert_true(tdir_sql(&t,
                         "DO $$BEGIN IF (SELECT version FROM schema_version) <> 99 THEN "
                         "RAISE EXCEPTION 'changed'; END IF; END$$",
                         msg, sizeof msg));
    /* A database holding other tables is not taken over. */
    tdir_remove(&t);
    tdir_make(&t);
    assert_true(tdir_sql(&t, "CREATE TABLE someone_elses (x int)", msg, sizeof msg));
    o.path = t.db;
    assert_null(ts_store_new(&o, &err));
    assert_int_equal(err.code, TS_EINVAL);
    assert_non_null(strstr(err.msg, "not a tokensmith store"));
    tdir_remove(&t);
}

/* ---- the server restarted: the call in flight fails, the next ones succeed ----------------- */

typedef struct inflight {
    ts_store *s;
    const char *hash;
    ts_status st;
    ts_error err;
    ts_store_redeem_result r;
} inflight;

static void *inflight_main(void *arg)
{
    inflight *f = arg;
    char refresh[TS_STORE_HASH_LEN + 1];
    random_hash(refresh);
    ts_error_clear(&f->err);
    f->st = ts_store_bootstrap_redeem(f->s, f->hash, "10.0.0.1", T0 + 1, refresh, &f->r, &f->err);
    return NULL;
}

/* The restart test's private cluster, stopped by its teardown even when an assertion fails. */
static char restart_dir[64];

static int stop_restart_cluster(void **state)
{
    (void)state;
    if (restart_dir[0]) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "%s/scripts/pg.sh stop %s", TS_SOURCE_DIR, restart_dir);
        int rc = system(cmd);
        restart_dir[0] = '\0';
        return rc == 0 ? 0 : -1;
    }
    return 0;
}

static void test_restart_in_flight(void **state)
{
    (void)state;
    char *dir = restart_dir;
    snprintf(restart_dir, sizeof restart_dir, "/tmp/ts-pgr-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char cmd[512], admin[256];
    snprintf(cmd, sizeof cmd, "%s/scripts/pg.sh start %s", TS_SOURCE_DIR, dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    if (!fgets(admin, sizeof admin, p))
        admin[0] = '\0';
    int rc = pclose(p);
    admin[strcspn(admin, "\n")] = '\0';
    if (rc != 0 || !admin[0]) {
        const char *req = getenv("TS_REQUIRE_PG");
        if (req && strcmp(req, "1") == 0)
            fail_msg("scripts/pg.sh could not start a cluster and TS_REQUIRE_PG=1");
        print_message("scripts/pg.sh could not start a cluster: skipped\n");
        skip();
    }
    ts_store *s = open_pg(admin, 2);
    char tok[TS_STORE_TOKEN_LEN + 1], hash[TS_STORE_HASH_LEN + 1];
    inflight f;
    /* The restart ends the backend holding the lock and the one waiting for it at about the
     * same time: when the holder goes first, the waiting statement (autocommit) commits
     * before its own end, and the call rightly succeeds. That ordering is the server's, so
     * the cut is tried a few times, and must be seen. */
    for (int attempt = 0;; attempt++) {
        make_bootstrap(s, T0, tok, hash);
        /* Hold the token's row so that the redemption waits inside the server. */
        PGconn *lock = PQconnectdb(admin);
        assert_int_equal(PQstatus(lock), CONNECTION_OK);
        char sql[200];
        snprintf(sql, sizeof sql,
                 "BEGIN; SELECT 1 FROM bootstrap_tokens WHERE token_hash = '%s' FOR UPDATE", hash);
        PQclear(PQexec(lock, sql));
        f = (inflight){s, hash, TS_EINTERNAL, {0}, {0}};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, inflight_main, &f), 0);
        assert_true(lock_waiters(lock, 1)); /* the redemption waits inside the server */
        snprintf(cmd, sizeof cmd, "%s/scripts/pg.sh restart %s", TS_SOURCE_DIR, dir);
        assert_int_equal(system(cmd), 0);
        pthread_join(th, NULL);
        PQfinish(lock);
        if (f.st == TS_OK && f.r.outcome == TS_STORE_REDEEM_OK && attempt < 4) {
            print_message("the redemption committed before the restart ended it: again\n");
            continue;
        }
        break;
    }
    if (f.st != TS_EIO) /* cut, not retried on a new connection */
        fail_msg("the call in flight: %s (%s)", ts_status_str(f.st), f.err.msg);
    assert_string_equal(f.err.where, "store.unavailable");
    assert_int_equal(f.r.outcome, TS_STORE_REDEEM_NOT_FOUND);

    /* The next call, on the same handle, reconnects; the failed one consumed nothing. */
    char refresh[TS_STORE_HASH_LEN + 1];
    random_hash(refresh);
    ts_store_redeem_result r;
    ts_error err;
    ts_error_clear(&err);
    if (ts_store_bootstrap_redeem(s, hash, "10.0.0.1", T0 + 2, refresh, &r, &err) != TS_OK)
        fail_msg("after the restart: %s", err.msg);
    assert_int_equal(r.outcome, TS_STORE_REDEEM_OK);

    /* Restarted between calls: the pooled connections are dead, the next calls still work,
     * a rotation (one statement in autocommit, no BEGIN to find the connection dead) too. */
    assert_int_equal(system(cmd), 0);
    char next[TS_STORE_HASH_LEN + 1];
    random_hash(next);
    ts_store_rotate_result rot;
    if (ts_store_refresh_rotate(s, refresh, next, "10.0.0.1", T0 + 3, &rot, &err) != TS_OK)
        fail_msg("rotation after the second restart: %s", err.msg);
    assert_int_equal(rot.outcome, TS_STORE_ROTATE_OK);
    ts_store_bootstrap_record rec;
    if (ts_store_bootstrap_get(s, hash, &rec, &err) != TS_OK)
        fail_msg("after the second restart: %s", err.msg);
    assert_int_not_equal(rec.consumed_at, 0);
    assert_int_equal(ts_store_check(s, true, NULL), TS_OK);
    ts_store_free(s);
}

/* ---- an unreachable server at open: a clear error naming the host, never the password ----- */

static void test_unreachable(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "postgres://ts:hunter2secret@127.0.0.1:1/tokensmith?connect_timeout=2",
        "host=127.0.0.1 port=1 user=ts password=hunter2secret dbname=ts connect_timeout=2",
        "host=/nonexistent/ts-socket-dir user=ts password='hunter2secret' dbname=ts",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ts_store_options o = TS_STORE_OPTIONS_INIT;
        o.path = bad[i];
        ts_error err;
        ts_error_clear(&err);
        assert_null(ts_store_new(&o, &err));
        assert_int_equal(err.code, TS_EIO);
        assert_string_equal(err.where, "store.unavailable");
        assert_non_null(strstr(err.msg, i < 2 ? "127.0.0.1" : "/nonexistent/ts-socket-dir"));
        assert_null(strstr(err.msg, "hunter2"));
        assert_null(strstr(err.where, "hunter2"));
        unsigned from = 7, to = 7;
        assert_int_equal(ts_store_migrate(&o, &from, &to, &err), TS_EIO);
        assert_null(strstr(err.msg, "hunter2"));
    }
    char shown[256];
    ts_store_path_redact(bad[0], shown, sizeof shown);
    assert_null(strstr(shown, "hunter2"));
    assert_true(ts_store_path_is_postgres(bad[1]));
    assert_false(ts_store_path_is_postgres("/var/lib/tokensmith/store.db"));
}

int main(void)
{
    if (!test_backend_is_pg()) {
        fprintf(stderr, "SKIP: set TS_STORE_TEST_BACKEND=postgres (ctest sets it)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_race_two_replicas),
        cmocka_unit_test(test_replay_across_replicas),
        cmocka_unit_test(test_rotation_race_two_replicas),
        cmocka_unit_test(test_grant_audit_rows),
        cmocka_unit_test(test_grant_statement_atomic),
        cmocka_unit_test(test_migrations_once),
        cmocka_unit_test(test_newer_schema_refused),
        cmocka_unit_test_teardown(test_restart_in_flight, stop_restart_cluster),
        cmocka_unit_test(test_unreachable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
