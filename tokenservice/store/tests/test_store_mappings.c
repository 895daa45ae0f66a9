/* The shared token mappings document: put and get with versions, the compare-and-set that
 * refuses a stale version (also between threads racing on one version), the "mappings_changed"
 * audit record committed with each change and only with it, the bounds, independence from the
 * provider configuration, the migration that adds the table, and backends of ops version 4.
 * Runs on both backends. */
#include "store_test_util.h"

#include "store_internal.h"

#include <pthread.h>

#define DOC1 "{\"identity_rules\":[{\"name\":\"a\",\"namespace\":\"ns\"}]}"
#define DOC2 "{\"identity_rules\":[]}"
#define DETAIL "{\"kind\":\"identity_rules\",\"name\":\"a\",\"op\":\"create\"}"

static int64_t put_ok(ts_store *s, const char *doc, int64_t expected, int64_t now,
                      const char *actor)
{
    ts_error err;
    ts_error_clear(&err);
    int64_t v = -1;
    if (ts_store_mappings_put(s, doc, strlen(doc), expected, now, actor, DETAIL, &v, &err) != TS_OK)
        fail_msg("ts_store_mappings_put: %s (%s)", err.msg, err.where);
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
    ts_store_mappings_meta m;
    assert_int_equal(ts_store_mappings_get(s, 0, &doc, &len, &m, NULL), TS_OK);
    assert_null(doc);
    assert_int_equal(len, 0);
    assert_int_equal(m.version, 0);
    assert_int_equal(put_ok(s, DOC1, 0, T0, "user:alice"), 1);
    assert_int_equal(ts_store_mappings_get(s, 0, &doc, &len, &m, NULL), TS_OK);
    assert_non_null(doc);
    assert_string_equal(doc, DOC1);
    assert_int_equal(len, strlen(DOC1));
    assert_int_equal(m.version, 1);
    assert_int_equal(m.updated_at, T0);
    assert_string_equal(m.updated_by, "user:alice");
    ts_free(doc);
    /* A poller at version 1 gets the meta only. */
    assert_int_equal(ts_store_mappings_get(s, 1, &doc, &len, &m, NULL), TS_OK);
    assert_null(doc);
    assert_int_equal(m.version, 1);
    assert_int_equal(put_ok(s, DOC2, 1, T0 + 5, "user:bob"), 2);
    assert_int_equal(ts_store_mappings_get(s, 1, &doc, &len, &m, NULL), TS_OK);
    assert_non_null(doc);
    assert_string_equal(doc, DOC2);
    assert_string_equal(m.updated_by, "user:bob");
    ts_free(doc);
    audit_count a = audit_of(s, "mappings_changed");
    assert_int_equal(a.n, 2);
    assert_string_equal(a.last_ref, "mappings-v2");
    assert_string_equal(a.last_detail, DETAIL);
    /* A separate document: the provider configuration is untouched. */
    ts_store_oidc_config_meta om;
    assert_int_equal(ts_store_oidc_config_get(s, 0, &doc, &len, &om, NULL), TS_OK);
    assert_null(doc);
    assert_int_equal(om.version, 0);
    assert_int_equal(audit_of(s, "oidc_config_changed").n, 0);
    ts_store_free(s);
    tdir_remove(&t);
}

static void test_stale_version_refused(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    assert_int_equal(put_ok(s, DOC1, 0, T0, "a"), 1);
    ts_error err;
    ts_error_clear(&err);
    int64_t v = -1;
    /* A second creator and a writer of an old version both lose; nothing is written. */
    assert_int_equal(ts_store_mappings_put(s, DOC2, strlen(DOC2), 0, T0, "b", NULL, &v, &err),
                     TS_ECYCLE);
    assert_int_equal(v, 0);
    assert_string_equal(err.where, "mappings");
    ts_error_clear(&err);
    assert_int_equal(put_ok(s, DOC2, 1, T0, "a"), 2);
    assert_int_equal(ts_store_mappings_put(s, DOC1, strlen(DOC1), 1, T0, "b", NULL, &v, &err),
                     TS_ECYCLE);
    char *doc = NULL;
    size_t len = 0;
    ts_store_mappings_meta m;
    assert_int_equal(ts_store_mappings_get(s, 0, &doc, &len, &m, NULL), TS_OK);
    assert_string_equal(doc, DOC2);
    assert_int_equal(m.version, 2);
    ts_free(doc);
    assert_int_equal(audit_of(s, "mappings_changed").n, 2);
    ts_store_free(s);
    tdir_remove(&t);
}

typedef struct racer {
    ts_store *s;
    int won;
    int lost;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    ts_error err;
    ts_error_clear(&err);
    ts_status st =
        ts_store_mappings_put(r->s, DOC2, strlen(DOC2), 1, T0, "racer", NULL, NULL, &err);
    if (st == TS_OK)
        r->won = 1;
    else if (st == TS_ECYCLE)
        r->lost = 1;
    return NULL;
}

static void test_race_one_winner(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    assert_int_equal(put_ok(s, DOC1, 0, T0, "a"), 1);
    enum { N = 6 };
    racer r[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        r[i] = (racer){s, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, race, &r[i]), 0);
    }
    int won = 0, lost = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        won += r[i].won;
        lost += r[i].lost;
    }
    assert_int_equal(won, 1);
    assert_int_equal(lost, N - 1);
    assert_int_equal(audit_of(s, "mappings_changed").n, 2);
    ts_store_free(s);
    tdir_remove(&t);
}

static void test_bounds(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_store_mappings_put(s, "[]", 2, 0, T0, "a", NULL, NULL, &err), TS_EINVAL);
    assert_string_equal(err.where, "mappings");
    assert_int_equal(ts_store_mappings_put(s, "{", 1, 0, T0, "a", NULL, NULL, &err), TS_EINVAL);
    assert_int_equal(ts_store_mappings_put(s, "{}", 2, 0, T0, "", NULL, NULL, &err), TS_EINVAL);
    assert_int_equal(ts_store_mappings_put(s, "{}", 2, -1, T0, "a", NULL, NULL, &err), TS_EINVAL);
    size_t big = TS_STORE_MAPPINGS_MAX + 1;
    char *huge = malloc(big);
    assert_non_null(huge);
    memset(huge, ' ', big);
    huge[0] = '{';
    huge[big - 1] = '}';
    assert_int_equal(ts_store_mappings_put(s, huge, big, 0, T0, "a", NULL, NULL, &err), TS_EINVAL);
    free(huge);
    /* A secret-looking audit detail is refused like any other audit record's. */
    assert_int_equal(ts_store_mappings_put(s, "{}", 2, 0, T0, "a", "not json", NULL, &err),
                     TS_EINVAL);
    ts_store_mappings_meta m;
    char *doc = NULL;
    size_t len = 0;
    assert_int_equal(ts_store_mappings_get(s, 0, &doc, &len, &m, NULL), TS_OK);
    assert_int_equal(m.version, 0);
    assert_int_equal(audit_of(s, "mappings_changed").n, 0);
    ts_store_free(s);
    tdir_remove(&t);
}

/* Migration from the schema before the mappings table (the later ones go too): the first version
 * can be put, and the table refuses bad rows itself. */
static void test_migration_adds_table(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    static const char *const later[] = {"revocations", "issued_tokens", "mappings", NULL};
    ts_store *s = tdir_migrate_from(&t, later, 4, 3);
    char msg[256];
    assert_int_equal(put_ok(s, DOC1, 0, T0, "a"), 1);
    assert_false(tdir_sql(&t, "UPDATE mappings SET document = 'not json'", msg, sizeof msg));
    assert_false(tdir_sql(&t, "INSERT INTO mappings VALUES (2, 1, '{}', 1, 'a')", msg, sizeof msg));
    ts_store_free(s);
    tdir_remove(&t);
}

/* A backend written against ops version 4 still opens; the mappings calls say they cannot,
 * and a version-5 table without them is refused. */
static void test_older_ops_version(void **state)
{
    (void)state;
    SQLITE_ONLY();
    tdir t;
    tdir_make(&t);
    ts_store_options o = TS_STORE_OPTIONS_INIT;
    o.path = t.db;
    ts_error err;
    ts_error_clear(&err);
    void *impl = ts_store__sqlite_open(&o, &err);
    assert_non_null(impl);
    size_t end = offsetof(ts_store_backend_ops, mappings_put);
    ts_store_backend_ops *old = malloc(end);
    assert_non_null(old);
    memcpy(old, &ts_store__sqlite_ops, end);
    old->version = 4u;
    ts_store *s = ts_store_new_with_backend(old, impl, &o, &err);
    assert_non_null(s);
    assert_int_equal(ts_store_mappings_put(s, DOC1, strlen(DOC1), 0, T0, "a", NULL, NULL, &err),
                     TS_EUNSUPPORTED);
    char *doc = NULL;
    size_t len = 0;
    assert_int_equal(ts_store_mappings_get(s, 0, &doc, &len, NULL, NULL), TS_EUNSUPPORTED);
    /* The provider configuration still works through it. */
    assert_int_equal(ts_store_oidc_config_put(s, "{}", 2, 0, T0, "a", NULL, NULL, &err), TS_OK);
    ts_store_free(s);
    free(old);
    ts_store_backend_ops partial = ts_store__sqlite_ops;
    partial.mappings_get = NULL;
    impl = ts_store__sqlite_open(&o, NULL);
    assert_non_null(impl);
    assert_null(ts_store_new_with_backend(&partial, impl, &o, NULL));
    tdir_remove(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_versions),     cmocka_unit_test(test_stale_version_refused),
        cmocka_unit_test(test_race_one_winner),      cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_migration_adds_table), cmocka_unit_test(test_older_ops_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
