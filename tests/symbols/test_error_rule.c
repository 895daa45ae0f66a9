/* The ts_error reuse rule (error.h), in every library: a public function that fails records why,
 * replacing whatever the record held; one that succeeds leaves the record untouched. Each case
 * starts from a record that still holds an earlier, unrelated error ("stale"), as a caller that
 * reuses one ts_error for a sequence of calls has it. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include <tokensmith/authn.h>
#include <tokensmith/authz.h>
#include <tokensmith/authz_http.h>
#include <tokensmith/mhd.h>
#include <tokensmith/oidc.h>
#include <tokensmith/store.h>
#include <tokensmith/testutil.h>

static void stale(ts_error *err)
{
    ts_error_clear(err);
    (void)ts_error_set(err, TS_ECYCLE, "stale-where", "stale message");
}

/* After a failure that returned @p st (TS_OK: a NULL handle, any code): the record describes
 * this failure, not the stale one. */
static void assert_replaced(const ts_error *err, ts_status st, const char *what)
{
    bool code_ok = st == TS_OK ? err->code != TS_OK && err->code != TS_ECYCLE : err->code == st;
    if (!code_ok || strcmp(err->msg, "stale message") == 0 ||
        strcmp(err->where, "stale-where") == 0)
        fail_msg("%s: record still holds the earlier error or another code (code %s, where "
                 "'%s', msg '%s'; the call returned %s)",
                 what, ts_status_str(err->code), err->where, err->msg,
                 st == TS_OK ? "a failure" : ts_status_str(st));
}

static void assert_untouched(const ts_error *err, const char *what)
{
    if (err->code != TS_ECYCLE || strcmp(err->msg, "stale message") != 0 ||
        strcmp(err->where, "stale-where") != 0)
        fail_msg("%s: a successful call changed the record (code %s, msg '%s')", what,
                 ts_status_str(err->code), err->msg);
}

static void test_error_set_replaces(void **state)
{
    (void)state;
    ts_error err;
    stale(&err);
    assert_int_equal(ts_error_set(&err, TS_EPARSE, "f:3", "bad %s", "thing"), TS_EPARSE);
    assert_replaced(&err, TS_EPARSE, "ts_error_set");
    assert_string_equal(err.where, "f:3");
    assert_string_equal(err.msg, "bad thing");
    assert_int_equal(ts_error_set(NULL, TS_EIO, NULL, "x"), TS_EIO);
}

static void test_authz(void **state)
{
    (void)state;
    ts_error err;
    stale(&err);
    ts_authz_model *m = ts_authz_model_parse("[request_definition]\nr = sub\n", 29, "m.conf", &err);
    assert_null(m);
    assert_replaced(&err, TS_OK, "ts_authz_model_parse");
    /* A failure found several calls deep keeps its precise message (file and line). */
    static const char model[] = "[request_definition]\nr = sub, obj, act\n[policy_definition]\n"
                                "p = sub, obj, act\n[policy_effect]\n"
                                "e = some(where (p.eft == allow))\n[matchers]\n"
                                "m = r.sub == p.sub && r.obj == p.obj && r.act == p.act\n";
    ts_error_clear(&err);
    m = ts_authz_model_parse(model, strlen(model), "m.conf", &err);
    assert_non_null(m);
    ts_authz_policy *p = ts_authz_policy_new();
    assert_non_null(p);
    stale(&err);
    assert_int_equal(ts_authz_policy_load_csv(p, "p, alice, data1, read\n", 22, "a.csv", &err),
                     TS_OK);
    assert_untouched(&err, "ts_authz_policy_load_csv");
    ts_status st = ts_authz_policy_load_csv(p, "p, bob, \"x\n", 11, "b.csv", &err);
    assert_int_equal(st, TS_EPARSE);
    assert_replaced(&err, st, "ts_authz_policy_load_csv");
    if (!strstr(err.where, "b.csv:1") && !strstr(err.msg, "b.csv:1"))
        fail_msg("the record does not name b.csv:1 (where '%s', msg '%s')", err.where, err.msg);
    ts_authz_policy_free(p);
    ts_authz_model_free(m);
}

static void test_authn(void **state)
{
    (void)state;
    ts_error err;
    stale(&err);
    assert_null(ts_jwk_parse("{}", 2, &err));
    assert_replaced(&err, TS_OK, "ts_jwk_parse");
    stale(&err);
    uint8_t *out = NULL;
    size_t n = 0;
    assert_int_equal(ts_b64url_decode("aGk", 3, &out, &n, &err), TS_OK);
    assert_untouched(&err, "ts_b64url_decode");
    ts_free(out);
    ts_status st = ts_b64url_decode("aGk=", 4, &out, &n, &err);
    assert_int_not_equal(st, TS_OK);
    assert_replaced(&err, st, "ts_b64url_decode");
    /* A rejection is recorded the same way. */
    ts_jwk *k = ts_jwk_generate(TS_JWS_ES256, NULL);
    assert_non_null(k);
    ts_jwks *set = ts_jwks_new(&k, 1, NULL);
    const char *iss[] = {"https://issuer.test"}, *aud[] = {"api"};
    ts_authn_options o = TS_AUTHN_OPTIONS_INIT;
    o.issuers = iss;
    o.n_issuers = 1;
    o.audiences = aud;
    o.n_audiences = 1;
    o.keys = set;
    ts_authn_verifier *v = ts_authn_verifier_new(&o, NULL);
    assert_non_null(v);
    stale(&err);
    ts_authn_principal *pr = NULL;
    assert_int_equal(ts_authn_verify(v, "a.b", 3, &pr, NULL, &err), TS_AUTHN_MALFORMED);
    assert_replaced(&err, TS_EINVAL, "ts_authn_verify");
    ts_authn_verifier_free(v);
    ts_jwks_free(set);
    ts_jwk_free(k);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **req_cls)
{
    (void)cls, (void)c, (void)url, (void)method, (void)version, (void)data, (void)size;
    (void)req_cls;
    return MHD_NO;
}

static void test_mhd(void **state)
{
    (void)state;
    ts_error err;
    stale(&err);
    ts_mhd_limits_options lo = TS_MHD_LIMITS_OPTIONS_INIT;
    assert_null(ts_mhd_limits_new(&lo, &err)); /* no handler */
    assert_replaced(&err, TS_OK, "ts_mhd_limits_new");
    stale(&err);
    lo.handler = handler;
    ts_mhd_limits *l = ts_mhd_limits_new(&lo, &err);
    assert_non_null(l);
    assert_untouched(&err, "ts_mhd_limits_new");
    ts_mhd_limits_free(l);
}

static void test_store(void **state)
{
    (void)state;
    ts_error err;
    char h[TS_STORE_HASH_LEN + 1];
    stale(&err);
    assert_int_equal(ts_store_token_hash("abc", 3, h, &err), TS_OK);
    assert_untouched(&err, "ts_store_token_hash");
    assert_int_equal(ts_store_token_hash(NULL, 3, h, &err), TS_EINVAL);
    assert_replaced(&err, TS_EINVAL, "ts_store_token_hash");
    /* Through the backend: a lookup of an unknown token in a fresh database. */
    char dir[] = "/tmp/ts-error-rule-XXXXXX", db[64];
    assert_non_null(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/s.db", dir);
    ts_store_options so = TS_STORE_OPTIONS_INIT;
    so.path = db;
    ts_store *s = ts_store_new(&so, NULL);
    assert_non_null(s);
    assert_int_equal(ts_store_token_hash("unknown", 7, h, NULL), TS_OK);
    stale(&err);
    ts_store_bootstrap_record rec;
    ts_status st = ts_store_bootstrap_get(s, h, &rec, &err);
    assert_int_equal(st, TS_ENOTFOUND);
    assert_replaced(&err, st, "ts_store_bootstrap_get");
    ts_store_free(s);
    static const char *const sfx[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char f[80];
        snprintf(f, sizeof f, "%s%s", db, sfx[i]);
        unlink(f);
    }
    rmdir(dir);
}

static void test_oidc(void **state)
{
    (void)state;
    static const char good[] = "{\"providers\":[{\"issuer\":\"https://idp.example.com\","
                               "\"client_id\":\"tokensmith\"}]}";
    ts_error err;
    stale(&err);
    assert_null(ts_oidc_config_parse("{", 1, &err));
    assert_replaced(&err, TS_OK, "ts_oidc_config_parse");
    stale(&err);
    ts_oidc_config *c = ts_oidc_config_parse(good, strlen(good), &err);
    assert_non_null(c);
    assert_untouched(&err, "ts_oidc_config_parse");
    ts_oidc_config_free(c);
}

static void test_testutil(void **state)
{
    (void)state;
    ts_error err;
    stale(&err);
    assert_null(ts_testutil_key_new(TS_JWS_ALG_UNKNOWN, &err));
    assert_replaced(&err, TS_OK, "ts_testutil_key_new");
    stale(&err);
    ts_testutil_key *k = ts_testutil_key_p256(&err);
    assert_non_null(k);
    assert_untouched(&err, "ts_testutil_key_p256");
    ts_testutil_key_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_set_replaces),
        cmocka_unit_test(test_authz),
        cmocka_unit_test(test_authn),
        cmocka_unit_test(test_mhd),
        cmocka_unit_test(test_store),
        cmocka_unit_test(test_oidc),
        cmocka_unit_test(test_testutil),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
