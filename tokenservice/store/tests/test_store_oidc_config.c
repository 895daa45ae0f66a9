/* The shared upstream provider configuration: put and get with versions, the compare-and-set
 * that refuses a stale version (also between threads racing on one version), the audit record
 * committed with each change and only with it, the bounds, the migration that adds the table,
 * and backends of the previous ops versions. Runs on both backends. */
#include "store_test_util.h"

#include "store_internal.h"

#include <pthread.h>

#define DOC1 "{\"providers\":[{\"issuer\":\"https://idp.example\",\"client_secret\":\"s3cr3t\"}]}"
#define DOC2 "{\"providers\":[]}"
#define DETAIL "{\"status\":\"created\",\"issuers\":[\"https://idp.example\"]}"

static int64_t put_ok(ts_store *s, const char *doc, int64_t expected, int64_t now,
                      const char *actor)
{
    ts_error err;
    ts_error_clear(&err);
    int64_t v = -1;
    if (ts_store_oidc_config_put(s, doc, strlen(doc), expected, now, actor, DETAIL, &v, &err) !=
        TS_OK)
        fail_msg("ts_store_oidc_config_put: %s (%s)", err.msg, err.where);
    return v;
}

static void test_put_get_versions(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    char *doc = (char *)1;
    size_t len = 7;
    ts_store_oidc_config_meta m;
    /* Nothing stored: version 0, no document. */
    assert_int_equal(ts_store_oidc_config_get(s, 0, &doc, &len, &m, NULL), TS_OK);
    assert_null(doc);
    assert_int_equal(len, 0);
    assert_int_equal(m.version, 0);
    assert_int_equal(put_ok(s, DOC1, 0, T0, "replica-a"), 1);
    assert_int_equal(ts_store_oidc_config_get(s, 0, &doc, &len, &m, NULL), TS_OK);
    assert_non_null(doc);
    assert_string_equal(doc, DOC1); /* byte for byte */
    assert_int_equal(len, strlen(DOC1));
    assert_int_equal(m.version, 1);
    assert_int_equal(m.updated_at, T0);
    assert_string_equal(m.updated_by, "replica-a");
    ts_free(doc);
    /* A poller that has version 1 gets the meta, not the document. */
    assert_int_equal(ts_store_oidc_config_get(s, 1, &doc, &len, &m, NULL), TS_OK);
    assert_null(doc);
    assert_int_equal(m.version, 1);
    assert_int_equal(put_ok(s, DOC2, 1, T0 + 5, "127.0.0.1"), 2);
    assert_int_equal(ts_store_oidc_config_get(s, 1, &doc, &len, &m, NULL), TS_OK);
    assert_non_null(doc);
    assert_string_equal(doc, DOC2);
    assert_int_equal(m.version, 2);
    assert_int_equal(m.updated_at, T0 + 5);
    assert_string_equal(m.updated_by, "127.0.0.1");
    ts_free(doc);
    /* Each change has exactly one audit record, naming the version it wrote. */
    audit_count a = audit_of(s, "oidc_config_changed");
    assert_int_equal(a.n, 2);
    assert_string_equal(a.last_ref, "oidc-config-v2");
    assert_string_equal(a.last_detail, DETAIL);
    ts_store_free(s);
    tdir_remove(&t);
}

static void test_stale_version_refused(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    assert_int_equal(put_ok(s, DOC1, 0, T0, "replica-a"), 1);
    ts_error err;
    ts_error_clear(&err);
    int64_t v = -1;
    /* A second "first" write, and a write based on a version that is no longer current. */
    assert_int_equal(
        ts_store_oidc_config_put(s, DOC2, strlen(DOC2), 0, T0, "replica-b", NULL, &v, &err),
        TS_ECYCLE);
    assert_int_equal(v, 0);
    assert_non_null(strstr(err.msg, "version 1"));
    assert_int_equal(put_ok(s, DOC2, 1, T0 + 1, "replica-a"), 2);
    ts_error_clear(&err);
    assert_int_equal(
        ts_store_oidc_config_put(s, DOC1, strlen(DOC1), 1, T0 + 2, "replica-b", NULL, &v, &err),
        TS_ECYCLE);
    assert_null(strstr(err.msg, "s3cr3t"));
    ts_error_clear(&err);
    assert_int_equal(
        ts_store_oidc_config_put(s, DOC1, strlen(DOC1), 7, T0 + 2, "replica-b", NULL, &v, &err),
        TS_ECYCLE);
    /* Nothing of the refused writes is stored or audited. */
    char *doc = NULL;
    size_t len = 0;
    ts_store_oidc_config_meta m;
    assert_int_equal(ts_store_oidc_config_get(s, 0, &doc, &len, &m, NULL), TS_OK);
    assert_string_equal(doc, DOC2);
    assert_int_equal(m.version, 2);
    assert_string_equal(m.updated_by, "replica-a");
    ts_free(doc);
    assert_int_equal(audit_of(s, "oidc_config_changed").n, 2);
    ts_store_free(s);
    tdir_remove(&t);
}

/* Threads (each its own store, as replicas are) racing to change the same version: exactly one
 * wins, the others get TS_ECYCLE, and exactly one audit record is written. */
#define RACERS 8
typedef struct racer {
    const char *db;
    int64_t expected;
    ts_status st;
    pthread_barrier_t *go;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    ts_store *s = open_store(r->db, NULL);
    pthread_barrier_wait(r->go);
    r->st =
        ts_store_oidc_config_put(s, DOC2, strlen(DOC2), r->expected, T0, "racer", NULL, NULL, NULL);
    ts_store_free(s);
    return NULL;
}

static void test_race_one_winner(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    for (int64_t round = 0; round < 2; round++) { /* the first insert, then an update */
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, RACERS);
        racer r[RACERS];
        pthread_t th[RACERS];
        for (int i = 0; i < RACERS; i++) {
            r[i] = (racer){t.db, round, TS_EINTERNAL, &go};
            assert_int_equal(pthread_create(&th[i], NULL, race, &r[i]), 0);
        }
        int won = 0, lost = 0;
        for (int i = 0; i < RACERS; i++) {
            pthread_join(th[i], NULL);
            won += r[i].st == TS_OK;
            lost += r[i].st == TS_ECYCLE;
        }
        pthread_barrier_destroy(&go);
        assert_int_equal(won, 1);
        assert_int_equal(lost, RACERS - 1);
        assert_int_equal(audit_of(s, "oidc_config_changed").n, (int)round + 1);
    }
    ts_store_free(s);
    tdir_remove(&t);
}

static void expect_put(ts_store *s, const char *doc, size_t len, int64_t expected,
                       const char *actor, const char *detail, ts_status want, const char *where)
{
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_store_oidc_config_put(s, doc, len, expected, T0, actor, detail, NULL, &err),
                     want);
    if (where)
        assert_string_equal(err.where, where);
}

static void test_bounds(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    expect_put(s, NULL, 0, 0, "a", NULL, TS_EINVAL, "oidc_config");
    expect_put(s, "", 0, 0, "a", NULL, TS_EINVAL, "oidc_config");
    expect_put(s, "[1]", 3, 0, "a", NULL, TS_EINVAL, "oidc_config");
    expect_put(s, "{\"a\"\0:1}", 8, 0, "a", NULL, TS_EINVAL, "oidc_config");
    expect_put(s, DOC1, strlen(DOC1), -1, "a", NULL, TS_EINVAL, "expected_version");
    expect_put(s, DOC1, strlen(DOC1), 0, "", NULL, TS_EINVAL, "actor");
    expect_put(s, DOC1, strlen(DOC1), 0, NULL, NULL, TS_EINVAL, "actor");
    expect_put(s, DOC1, strlen(DOC1), 0, "a", "[1]", TS_EINVAL, "detail");
    /* Not JSON although it starts like an object: the database's check refuses it, and the
     * message does not quote it. */
    ts_error err;
    ts_error_clear(&err);
    const char *bad = "{\"client_secret\":\"s3cr3t\"";
    assert_int_equal(ts_store_oidc_config_put(s, bad, strlen(bad), 0, T0, "a", NULL, NULL, &err),
                     TS_EINVAL);
    assert_null(strstr(err.msg, "s3cr3t"));
    /* The size bound: at the limit accepted, one byte more refused. */
    size_t max = TS_STORE_OIDC_CONFIG_MAX;
    char *big = malloc(max + 2);
    assert_non_null(big);
    memset(big, ' ', max + 1);
    memcpy(big, "{\"x\":\"", 6);
    big[max - 2] = '"';
    big[max - 1] = '}';
    for (size_t i = 6; i < max - 2; i++)
        big[i] = 'a';
    expect_put(s, big, max + 1, 0, "a", NULL, TS_EINVAL, "oidc_config");
    int64_t v = 0;
    assert_int_equal(ts_store_oidc_config_put(s, big, max, 0, T0, "a", NULL, &v, NULL), TS_OK);
    assert_int_equal(v, 1);
    char *doc = NULL;
    size_t len = 0;
    assert_int_equal(ts_store_oidc_config_get(s, 0, &doc, &len, NULL, NULL), TS_OK);
    assert_int_equal(len, max);
    assert_memory_equal(doc, big, max);
    ts_free(doc);
    free(big);
    assert_int_equal(ts_store_oidc_config_get(s, -1, &doc, &len, NULL, NULL), TS_EINVAL);
    assert_int_equal(ts_store_oidc_config_get(s, 0, NULL, &len, NULL, NULL), TS_EINVAL);
    assert_int_equal(audit_of(s, "oidc_config_changed").n, 1);
    ts_store_free(s);
    tdir_remove(&t);
}

/* Migration from the schema before oidc_config (tdir_migrate_from(); the mappings table came
 * later still): the first version can be put, and the new table refuses bad rows itself. */
static void test_migration_adds_table(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    static const char *const later[] = {"revocations", "issued_tokens", "mappings", "oidc_config",
                                        NULL};
    ts_store *s = tdir_migrate_from(&t, later, 3, 2);
    char msg[256];
    assert_int_equal(put_ok(s, DOC1, 0, T0, "replica-a"), 1);
    /* The table's own checks hold even for a writer that bypasses the front end. */
    assert_false(tdir_sql(&t, "UPDATE oidc_config SET document = 'not json'", msg, sizeof msg));
    assert_false(
        tdir_sql(&t, "INSERT INTO oidc_config VALUES (2, 1, '{}', 1, 'a')", msg, sizeof msg));
    ts_store_free(s);
    tdir_remove(&t);
}

/* Backends written against ops versions 2 and 3 still open; the configuration calls say they
 * cannot, and a version-4 table without them is refused. */
static void test_older_ops_versions(void **state)
{
    (void)state;
    SQLITE_ONLY();
    tdir t;
    tdir_make(&t);
    ts_store_options o = TS_STORE_OPTIONS_INIT;
    o.path = t.db;
    const size_t ends[2] = {offsetof(ts_store_backend_ops, key_publish),
                            offsetof(ts_store_backend_ops, oidc_config_put)};
    for (unsigned i = 0; i < 2; i++) {
        ts_error err;
        ts_error_clear(&err);
        void *impl = ts_store__sqlite_open(&o, &err);
        assert_non_null(impl);
        /* Only that version's part of the table exists in such a caller's memory. */
        ts_store_backend_ops *old = malloc(ends[i]);
        assert_non_null(old);
        memcpy(old, &ts_store__sqlite_ops, ends[i]);
        old->version = 2u + i;
        ts_store *s = ts_store_new_with_backend(old, impl, &o, &err);
        assert_non_null(s);
        ts_error_clear(&err);
        assert_int_equal(
            ts_store_oidc_config_put(s, DOC1, strlen(DOC1), 0, T0, "a", NULL, NULL, &err),
            TS_EUNSUPPORTED);
        char *doc = NULL;
        size_t len = 0;
        assert_int_equal(ts_store_oidc_config_get(s, 0, &doc, &len, NULL, NULL), TS_EUNSUPPORTED);
        ts_store_free(s);
        free(old);
    }
    ts_store_backend_ops partial = ts_store__sqlite_ops;
    partial.oidc_config_get = NULL;
    void *impl = ts_store__sqlite_open(&o, NULL);
    assert_non_null(impl);
    assert_null(ts_store_new_with_backend(&partial, impl, &o, NULL));
    tdir_remove(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_versions),     cmocka_unit_test(test_stale_version_refused),
        cmocka_unit_test(test_race_one_winner),      cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_migration_adds_table), cmocka_unit_test(test_older_ops_versions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
