/* Published signing keys: publish and list, the upsert that never shortens a key's lifetime,
 * expiry and collection, the bounds, the refusal of private key material, the migration that
 * adds the table, and a backend of the previous ops version. Runs on both backends. */
#include "store_test_util.h"

#include "store_internal.h"

#define JWK_EC                                                                                     \
    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","     \
    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\",\"alg\":\"ES256\",\"use\":\"sig\"}"
#define JWK_RSA "{\"kty\":\"RSA\",\"n\":\"0vx7agoebGcQSuuPiLJXZpt\",\"e\":\"AQAB\"}"
#define KID_A "AAAA-first-key_0000000000000000000000000000"
#define KID_B "BBBB-second-key_000000000000000000000000000"

typedef struct seen {
    int n;
    char kid[8][TS_STORE_KEY_KID_MAX + 1];
    char alg[8][16];
    char jwk[8][256];
    int64_t published_at[8], last_seen[8], not_after[8];
} seen;

static int collect_cb(const ts_store_published_key *k, void *ud)
{
    seen *s = ud;
    if (s->n < 8) {
        snprintf(s->kid[s->n], sizeof s->kid[0], "%s", k->kid);
        snprintf(s->alg[s->n], sizeof s->alg[0], "%s", k->alg);
        snprintf(s->jwk[s->n], sizeof s->jwk[0], "%s", k->jwk);
        s->published_at[s->n] = k->published_at;
        s->last_seen[s->n] = k->last_seen;
        s->not_after[s->n] = k->not_after;
    }
    s->n++;
    return 0;
}

static seen list_at(ts_store *s, int64_t now)
{
    seen out;
    memset(&out, 0, sizeof out);
    ts_error err;
    ts_error_clear(&err);
    if (ts_store_key_list(s, now, collect_cb, &out, &err) != TS_OK)
        fail_msg("ts_store_key_list: %s (%s)", err.msg, err.where);
    return out;
}

static void publish_ok(ts_store *s, const char *kid, const char *alg, const char *jwk, int64_t now,
                       int64_t not_after)
{
    ts_error err;
    ts_error_clear(&err);
    if (ts_store_key_publish(s, kid, alg, jwk, now, not_after, &err) != TS_OK)
        fail_msg("ts_store_key_publish(%s): %s (%s)", kid, err.msg, err.where);
}

static void test_publish_list_upsert(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    assert_int_equal(list_at(s, T0).n, 0);
    /* Published out of order, listed by kid. */
    publish_ok(s, KID_B, "PS256", JWK_RSA, T0, T0 + 1000);
    publish_ok(s, KID_A, "ES256", JWK_EC, T0 + 5, T0 + 600);
    seen l = list_at(s, T0 + 10);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.kid[0], KID_A);
    assert_string_equal(l.alg[0], "ES256");
    assert_string_equal(l.jwk[0], JWK_EC); /* byte for byte */
    assert_int_equal(l.published_at[0], T0 + 5);
    assert_int_equal(l.last_seen[0], T0 + 5);
    assert_int_equal(l.not_after[0], T0 + 600);
    assert_string_equal(l.kid[1], KID_B);
    assert_string_equal(l.alg[1], "PS256");
    /* A later publication refreshes last_seen and extends not_after; published_at stays. */
    publish_ok(s, KID_A, "ES256", JWK_EC, T0 + 60, T0 + 2000);
    l = list_at(s, T0 + 61);
    assert_int_equal(l.published_at[0], T0 + 5);
    assert_int_equal(l.last_seen[0], T0 + 60);
    assert_int_equal(l.not_after[0], T0 + 2000);
    /* A publication with a shorter lifetime never shortens it. */
    publish_ok(s, KID_A, "ES256", JWK_EC, T0 + 70, T0 + 900);
    l = list_at(s, T0 + 71);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.last_seen[0], T0 + 70);
    assert_int_equal(l.not_after[0], T0 + 2000);
    ts_store_free(s);
    tdir_remove(&t);
}

static void test_expiry_and_collection(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    publish_ok(s, KID_A, "ES256", JWK_EC, T0, T0 + 600);
    publish_ok(s, KID_B, "PS256", JWK_RSA, T0, T0 + 3600);
    /* Listed while now < not_after. */
    assert_int_equal(list_at(s, T0 + 599).n, 2);
    seen l = list_at(s, T0 + 600);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.kid[0], KID_B);
    /* Collection before expiry keeps both rows (listing at an earlier time shows them). */
    assert_int_equal(ts_store_collect_expired(s, T0 + 599, NULL, NULL), TS_OK);
    assert_int_equal(list_at(s, T0).n, 2);
    /* At not_after the expired row goes; the live one stays. */
    assert_int_equal(ts_store_collect_expired(s, T0 + 600, NULL, NULL), TS_OK);
    l = list_at(s, T0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.kid[0], KID_B);
    /* A key published again after its row was collected comes back as new. */
    publish_ok(s, KID_A, "ES256", JWK_EC, T0 + 700, T0 + 1300);
    l = list_at(s, T0 + 700);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.published_at[0], T0 + 700);
    ts_store_free(s);
    tdir_remove(&t);
}

static void expect_refused(ts_store *s, const char *kid, const char *alg, const char *jwk,
                           int64_t now, int64_t not_after, const char *where, const char *needle)
{
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_store_key_publish(s, kid, alg, jwk, now, not_after, &err), TS_EINVAL);
    assert_string_equal(err.where, where);
    if (needle && !strstr(err.msg, needle))
        fail_msg("message '%s' lacks '%s'", err.msg, needle);
}

static void test_bounds(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    char kid65[66];
    memset(kid65, 'a', 65);
    kid65[65] = '\0';
    expect_refused(s, kid65, "ES256", JWK_EC, T0, T0 + 60, "kid", "1..64");
    kid65[64] = '\0'; /* 64 is the bound itself: accepted */
    publish_ok(s, kid65, "ES256", JWK_EC, T0, T0 + 60);
    expect_refused(s, "", "ES256", JWK_EC, T0, T0 + 60, "kid", NULL);
    expect_refused(s, "a b", "ES256", JWK_EC, T0, T0 + 60, "kid", "base64url");
    expect_refused(s, "a'--", "ES256", JWK_EC, T0, T0 + 60, "kid", "base64url");
    expect_refused(s, KID_A, "", JWK_EC, T0, T0 + 60, "alg", NULL);
    expect_refused(s, KID_A, "ES-256", JWK_EC, T0, T0 + 60, "alg", NULL);
    expect_refused(s, KID_A, "ES256", JWK_EC, T0, T0, "not_after", NULL);
    expect_refused(s, KID_A, "ES256", JWK_EC, T0, T0 + INT64_C(11) * 366 * 86400, "not_after",
                   NULL);
    /* JWK: size, syntax, shape. */
    char *big = malloc(TS_STORE_KEY_JWK_MAX + 64);
    assert_non_null(big);
    int n = snprintf(big, 64, "{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"");
    memset(big + n, 'A', TS_STORE_KEY_JWK_MAX);
    memcpy(big + n + TS_STORE_KEY_JWK_MAX, "\"}", 3);
    expect_refused(s, KID_A, "PS256", big, T0, T0 + 60, "jwk", "8192");
    free(big);
    expect_refused(s, KID_A, "ES256", "[]", T0, T0 + 60, "jwk", "object");
    expect_refused(s, KID_A, "ES256", "{\"kty\":\"EC\"", T0, T0 + 60, "jwk", NULL);
    expect_refused(s, KID_A, "ES256", "{\"kty\":\"EC\"} x", T0, T0 + 60, "jwk", NULL);
    expect_refused(s, KID_A, "ES256", "{\"crv\":\"P-256\"}", T0, T0 + 60, "jwk", "kty");
    expect_refused(s, KID_A, "ES256", "{\"kty\":\"EC\",\"extra\":{\"a\":1}}", T0, T0 + 60, "jwk",
                   NULL);
    /* Only the 64-character key went in. */
    seen l = list_at(s, T0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.kid[0], kid65);
    ts_store_free(s);
    tdir_remove(&t);
}

static void test_private_jwk_refused(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    static const char *const priv[] = {
        /* an EC private key as JWK */
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83O\",\"y\":\"x_FE\",\"d\":\"jpsQnnGQ\"}",
        /* RSA private members without d */
        "{\"kty\":\"RSA\",\"n\":\"0vx7\",\"e\":\"AQAB\",\"p\":\"83i\",\"q\":\"3dfO\"}",
        /* a symmetric key */
        "{\"kty\":\"oct\",\"k\":\"GawgguFyGrWKav7AX4VKUg\"}",
        /* "d" spelled with an escape */
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83O\",\"y\":\"x_FE\",\"\\u0064\":\"jpsQ\"}",
    };
    for (size_t i = 0; i < sizeof priv / sizeof priv[0]; i++)
        expect_refused(s, KID_A, "ES256", priv[i], T0, T0 + 60, "jwk", i < 3 ? "private" : NULL);
    assert_int_equal(list_at(s, T0).n, 0); /* nothing reached the database */
    ts_store_free(s);
    tdir_remove(&t);
}

static void test_list_bound(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    char kid[32];
    /* TS_STORE_KEY_LIST_MAX live keys, then one more that expires earlier. */
    for (unsigned i = 0; i < TS_STORE_KEY_LIST_MAX; i++) {
        snprintf(kid, sizeof kid, "k%04u", i);
        publish_ok(s, kid, "ES256", JWK_EC, T0, T0 + 3600);
    }
    publish_ok(s, "zz-extra", "ES256", JWK_EC, T0, T0 + 60);
    seen l;
    memset(&l, 0, sizeof l);
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_store_key_list(s, T0, collect_cb, &l, &err), TS_ELIMIT);
    assert_int_equal(l.n, 0); /* refused before any callback */
    assert_non_null(strstr(err.msg, "256"));
    /* Expired rows do not count. */
    l = list_at(s, T0 + 60);
    assert_int_equal(l.n, TS_STORE_KEY_LIST_MAX);
    assert_string_equal(l.kid[0], "k0000");
    ts_store_free(s);
    tdir_remove(&t);
}

/* Migration from the schema before published_keys (tdir_migrate_from(): the records survive it,
 * on either backend): the key calls then work, and the new table refuses a bad row itself. */
static void test_migration_adds_table(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    /* Back to the version before published_keys (the later tables go too). */
    static const char *const later[] = {"revocations", "issued_tokens",  "mappings",
                                        "oidc_config", "published_keys", NULL};
    ts_store *s = tdir_migrate_from(&t, later, 2, 1);
    char msg[256];
    publish_ok(s, KID_A, "ES256", JWK_EC, T0, T0 + 60);
    assert_int_equal(list_at(s, T0).n, 1);
    /* The table's own checks hold even for a writer that bypasses the front end. */
    assert_false(tdir_sql(&t,
                          "INSERT INTO published_keys VALUES ('x', 'ES256', 'not json', 1, 1, 2)",
                          msg, sizeof msg));
    ts_store_free(s);
    tdir_remove(&t);
}

/* A backend written against ops version 2 still opens; the key calls say it cannot. */
static void test_ops_version_2_backend(void **state)
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
    /* Only the version-2 part of the table exists in such a caller's memory. */
    ts_store_backend_ops *v2 = malloc(offsetof(ts_store_backend_ops, key_publish));
    assert_non_null(v2);
    memcpy(v2, &ts_store__sqlite_ops, offsetof(ts_store_backend_ops, key_publish));
    v2->version = 2u;
    ts_store *s = ts_store_new_with_backend(v2, impl, &o, &err);
    assert_non_null(s);
    ts_error_clear(&err);
    assert_int_equal(ts_store_key_publish(s, KID_A, "ES256", JWK_EC, T0, T0 + 60, &err),
                     TS_EUNSUPPORTED);
    seen l;
    memset(&l, 0, sizeof l);
    assert_int_equal(ts_store_key_list(s, T0, collect_cb, &l, NULL), TS_EUNSUPPORTED);
    assert_int_equal(ts_store_collect_expired(s, T0, NULL, NULL), TS_OK);
    ts_store_free(s);
    free(v2);
    tdir_remove(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_list_upsert),
        cmocka_unit_test(test_expiry_and_collection),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_private_jwk_refused),
        cmocka_unit_test(test_list_bound),
        cmocka_unit_test(test_migration_adds_table),
        cmocka_unit_test(test_ops_version_2_backend),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
