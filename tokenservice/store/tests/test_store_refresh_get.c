/* Looking up a refresh token's family without rotating it (ts_store_refresh_get()), and the
 * client a family was issued to, on SQLite and (as store.pg.test_store_refresh_get) on
 * PostgreSQL: current and rotated hashes, nothing written by a lookup, the client through
 * family creation, redemption and reissue, the migration that adds the column, the copy to
 * PostgreSQL, and an older backend table. */
#include "store_test_util.h"

#include "store_internal.h"

static void new_family(ts_store *s, const char *client, const char *first_hash, int64_t now,
                       ts_store_family *fam)
{
    ts_store_family_params fp = {"svc-a", "smd", "node:read", 7200, first_hash, "10.0.0.2", now};
    ts_error err;
    ts_error_clear(&err);
    if (ts_store_family_create_client(s, &fp, client, fam, &err) != TS_OK)
        fail_msg("family_create: %s (%s)", err.msg, err.where);
}

static int count_any(const ts_store_audit_entry *e, void *ud)
{
    (void)e;
    (*(int *)ud)++;
    return 0;
}

static int audit_rows(ts_store *s)
{
    int n = 0;
    assert_int_equal(ts_store_audit_list(s, 0, 10000, count_any, &n, NULL), TS_OK);
    return n;
}

static void test_current_and_rotated(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    char h1[TS_STORE_HASH_LEN + 1], h2[TS_STORE_HASH_LEN + 1], h3[TS_STORE_HASH_LEN + 1];
    random_hash(h1);
    random_hash(h2);
    random_hash(h3);
    ts_store_family fam;
    new_family(s, "client-a", h1, T0, &fam);
    assert_string_equal(fam.client_id, "client-a");

    ts_store_family got;
    bool current = false;
    int rows = audit_rows(s);
    assert_int_equal(ts_store_refresh_get(s, h1, &got, &current, NULL), TS_OK);
    assert_true(current);
    assert_string_equal(got.id, fam.id);
    assert_string_equal(got.client_id, "client-a");
    assert_string_equal(got.subject, "svc-a");
    assert_string_equal(got.scope, "node:read");
    assert_int_equal(got.expires_at, T0 + 7200);
    assert_int_equal(got.usage_count, 0);
    /* Read-only: no audit record, and the token still rotates. */
    assert_int_equal(audit_rows(s), rows);

    ts_store_rotate_result rr;
    assert_int_equal(ts_store_refresh_rotate(s, h1, h2, "10.0.0.2", T0 + 10, &rr, NULL), TS_OK);
    assert_int_equal(rr.outcome, TS_STORE_ROTATE_OK);
    assert_string_equal(rr.family.client_id, "client-a");
    rows = audit_rows(s);
    assert_int_equal(ts_store_refresh_get(s, h1, &got, &current, NULL), TS_OK);
    assert_false(current);
    assert_string_equal(got.id, fam.id);
    assert_string_equal(got.client_id, "client-a");
    assert_int_equal(got.usage_count, 1);
    assert_int_equal(got.revoked_at, 0); /* looking at a rotated hash is not a replay */
    assert_int_equal(ts_store_refresh_get(s, h2, &got, &current, NULL), TS_OK);
    assert_true(current);
    assert_int_equal(audit_rows(s), rows);

    /* Unknown and malformed hashes. */
    ts_error err;
    ts_error_clear(&err);
    current = true;
    assert_int_equal(ts_store_refresh_get(s, h3, &got, &current, &err), TS_ENOTFOUND);
    assert_false(current);
    assert_string_equal(got.id, "");
    assert_int_equal(ts_store_refresh_get(s, "abc", &got, &current, NULL), TS_EINVAL);
    assert_int_equal(ts_store_refresh_get(s, h2, NULL, &current, NULL), TS_EINVAL);
    assert_int_equal(ts_store_refresh_get(s, h2, &got, NULL, NULL), TS_EINVAL);
    assert_int_not_equal(ts_store_refresh_get(NULL, h2, &got, &current, NULL), TS_OK);

    /* A revoked family is still found, with its state. */
    bool revoked = false;
    assert_int_equal(ts_store_family_revoke(s, fam.id, "operator", T0 + 20, &revoked, NULL), TS_OK);
    assert_true(revoked);
    assert_int_equal(ts_store_refresh_get(s, h2, &got, &current, NULL), TS_OK);
    assert_true(current);
    assert_int_equal(got.revoked_at, T0 + 20);
    assert_string_equal(got.revoke_reason, "operator");
    ts_store_free(s);
    tdir_remove(&t);
}

static void test_client_of_families(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    char h[TS_STORE_HASH_LEN + 1];
    random_hash(h);
    ts_store_family fam;
    new_family(s, NULL, h, T0, &fam); /* a public client */
    assert_string_equal(fam.client_id, "");
    ts_store_family got;
    assert_int_equal(ts_store_family_get(s, fam.id, &got, NULL), TS_OK);
    assert_string_equal(got.client_id, "");

    /* A client id is a name: bounded, no control characters. */
    char bad[TS_STORE_MAX_NAME_LEN + 2];
    memset(bad, 'c', sizeof bad - 1);
    bad[sizeof bad - 1] = '\0';
    random_hash(h);
    ts_store_family_params fp = {"svc-a", "smd", "", 7200, h, NULL, T0};
    assert_int_equal(ts_store_family_create_client(s, &fp, bad, NULL, NULL), TS_EINVAL);
    assert_int_equal(ts_store_family_create_client(s, &fp, "a\nb", NULL, NULL), TS_EINVAL);

    /* Redemption by a client records it; plain redemption records none. */
    char tok[TS_STORE_TOKEN_LEN + 1], bh[TS_STORE_HASH_LEN + 1], rh[TS_STORE_HASH_LEN + 1];
    make_bootstrap(s, T0, tok, bh);
    random_hash(rh);
    ts_store_redeem_result res;
    assert_int_equal(
        ts_store_bootstrap_redeem_client(s, bh, "10.0.0.3", T0 + 1, rh, "a\tb", &res, NULL),
        TS_EINVAL);
    assert_int_equal(
        ts_store_bootstrap_redeem_client(s, bh, "10.0.0.3", T0 + 1, rh, "client-b", &res, NULL),
        TS_OK);
    assert_int_equal(res.outcome, TS_STORE_REDEEM_OK);
    assert_string_equal(res.family.client_id, "client-b");
    bool current = false;
    assert_int_equal(ts_store_refresh_get(s, rh, &got, &current, NULL), TS_OK);
    assert_true(current);
    assert_string_equal(got.id, res.family.id);
    assert_string_equal(got.client_id, "client-b");

    make_bootstrap(s, T0, tok, bh);
    random_hash(rh);
    assert_int_equal(ts_store_bootstrap_redeem(s, bh, "10.0.0.3", T0 + 1, rh, &res, NULL), TS_OK);
    assert_int_equal(res.outcome, TS_STORE_REDEEM_OK);
    assert_int_equal(ts_store_refresh_get(s, rh, &got, &current, NULL), TS_OK);
    assert_string_equal(got.client_id, "");
    ts_store_free(s);

    /* A lost-response reissue gives the new family the client of the retry. */
    ts_store_options o = TS_STORE_OPTIONS_INIT;
    o.redeem_retry_grace_s = 30;
    s = open_store(t.db, &o);
    make_bootstrap(s, T0, tok, bh);
    random_hash(rh);
    assert_int_equal(
        ts_store_bootstrap_redeem_client(s, bh, "10.0.0.4", T0 + 1, rh, "client-c", &res, NULL),
        TS_OK);
    assert_int_equal(res.outcome, TS_STORE_REDEEM_OK);
    random_hash(rh);
    assert_int_equal(
        ts_store_bootstrap_redeem_client(s, bh, "10.0.0.4", T0 + 2, rh, "client-c", &res, NULL),
        TS_OK);
    assert_int_equal(res.outcome, TS_STORE_REDEEM_REISSUED);
    assert_int_equal(ts_store_refresh_get(s, rh, &got, &current, NULL), TS_OK);
    assert_string_equal(got.id, res.family.id);
    assert_string_equal(got.client_id, "client-c");
    ts_store_free(s);
    tdir_remove(&t);
}

/* A store of the previous schema (no client column, no revocation tables) migrates; its
 * families have no client. */
static void test_migration_adds_client(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    char h[TS_STORE_HASH_LEN + 1];
    random_hash(h);
    ts_store_family fam;
    new_family(s, "client-a", h, T0, &fam);
    ts_store_free(s);
    bool pg = test_backend_is_pg();
    char sql[512], msg[256];
    snprintf(sql, sizeof sql,
             "DROP TABLE revocations; DROP TABLE issued_tokens; ALTER TABLE refresh_families "
             "DROP COLUMN client_id; UPDATE schema_version SET version = %d;",
             pg ? TS_STORE_PG_SCHEMA_VERSION - 1 : TS_STORE_SCHEMA_VERSION - 1);
    if (!tdir_sql(&t, sql, msg, sizeof msg))
        fail_msg("%s: %s", sql, msg);
    s = open_store(t.db, NULL);
    ts_store_family got;
    bool current = false;
    assert_int_equal(ts_store_refresh_get(s, h, &got, &current, NULL), TS_OK);
    assert_true(current);
    assert_string_equal(got.id, fam.id);
    assert_string_equal(got.client_id, "");
    random_hash(h);
    new_family(s, "client-b", h, T0, &fam);
    assert_int_equal(ts_store_refresh_get(s, h, &got, &current, NULL), TS_OK);
    assert_string_equal(got.client_id, "client-b");
    ts_store_free(s);
    tdir_remove(&t);
}

/* The copy to PostgreSQL carries the families' clients. */
static void test_copy_carries_client(void **state)
{
    (void)state;
    if (!test_backend_is_pg()) {
        print_message("needs PostgreSQL: runs as store.pg.test_store_refresh_get\n");
        skip();
    }
    tdir t;
    tdir_make(&t);
    char src[600];
    snprintf(src, sizeof src, "%s/source.db", t.dir);
    ts_store *s = open_store(src, NULL);
    char h1[TS_STORE_HASH_LEN + 1], h2[TS_STORE_HASH_LEN + 1];
    random_hash(h1);
    random_hash(h2);
    ts_store_family fam;
    new_family(s, "client-a", h1, T0, &fam);
    ts_store_rotate_result rr;
    assert_int_equal(ts_store_refresh_rotate(s, h1, h2, "10.0.0.2", T0 + 1, &rr, NULL), TS_OK);
    ts_store_free(s);
    ts_store_options fo = TS_STORE_OPTIONS_INIT, to = TS_STORE_OPTIONS_INIT;
    fo.path = src;
    to.path = t.db;
    ts_store_copy_counts c;
    ts_error err;
    ts_error_clear(&err);
    if (ts_store_copy(&fo, &to, 0, &c, &err) != TS_OK)
        fail_msg("ts_store_copy: %s (%s)", err.msg, err.where);
    s = open_store(t.db, NULL);
    ts_store_family got;
    bool current = true;
    assert_int_equal(ts_store_refresh_get(s, h1, &got, &current, NULL), TS_OK);
    assert_false(current);
    assert_string_equal(got.client_id, "client-a");
    assert_int_equal(ts_store_refresh_get(s, h2, &got, &current, NULL), TS_OK);
    assert_true(current);
    assert_string_equal(got.id, fam.id);
    ts_store_free(s);
    tdir_remove(&t);
}

/* A backend table of version 5 has no refresh_get: the call says so. */
static void test_older_ops_version(void **state)
{
    (void)state;
    SQLITE_ONLY();
    tdir t;
    tdir_make(&t);
    ts_store_options o = TS_STORE_OPTIONS_INIT;
    o.path = t.db;
    void *impl = ts_store__sqlite_open(&o, NULL);
    assert_non_null(impl);
    size_t end = offsetof(ts_store_backend_ops, token_issued);
    ts_store_backend_ops *old = malloc(end);
    assert_non_null(old);
    memcpy(old, &ts_store__sqlite_ops, end);
    old->version = 5u;
    ts_store *s = ts_store_new_with_backend(old, impl, &o, NULL);
    assert_non_null(s);
    char h[TS_STORE_HASH_LEN + 1];
    random_hash(h);
    ts_store_family got;
    bool current = false;
    assert_int_equal(ts_store_refresh_get(s, h, &got, &current, NULL), TS_EUNSUPPORTED);
    ts_store_free(s);
    free(old);
    tdir_remove(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_current_and_rotated),   cmocka_unit_test(test_client_of_families),
        cmocka_unit_test(test_migration_adds_client), cmocka_unit_test(test_copy_carries_client),
        cmocka_unit_test(test_older_ops_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
