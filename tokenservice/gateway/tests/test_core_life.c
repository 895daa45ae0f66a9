/* gateway.test_core_life: the decision core around its checks: keys fetched over HTTP at the
 * first token, OpenID discovery for an entry without jwks_uri (a failure is 503 and is not
 * retried at once), SIGHUP's reload of the policy (a bad fragment keeps the running one) and of
 * the keys, each part kept or reloaded on its own and reported so, four threads on one core,
 * and construction errors that name the entry at fault. */
#include "decide_support.h"

/* Keys over HTTP (a loopback JWKS URL), and an entry without jwks_uri: OpenID discovery on the
 * issuer at its first token; a failed discovery is 503 and is not retried at once. */
static void test_remote_keys_and_discovery(void **state)
{
    (void)state;
    ts_error err;
    ts_jwks *set = ts_testutil_jwks((const ts_testutil_key *const *)&fx.key_b, 1, &err);
    assert_non_null(set);
    ts_testutil_jwks_server *srv = ts_testutil_jwks_server_start(set, &err);
    assert_non_null(srv);
    ts_jwks_free(set);
    char issuer[64];
    snprintf(issuer, sizeof issuer, "http://127.0.0.1:%u", ts_testutil_jwks_server_port(srv));
    /* Entry 1 (Kubernetes) now fetches its keys over HTTP; entry 2 has no jwks_uri. */
    snprintf(fx.trust[1].jwks_uri, sizeof fx.trust[1].jwks_uri, "%s",
             ts_testutil_jwks_server_url(srv));
    fx_trust(&fx.trust[2], issuer, "", "gateway", TS_GATEWAY_TRUST_JWT);
    ts_gateway__core *c = core_new();
    assert_int_equal(ts_testutil_jwks_server_requests(srv), 0); /* nothing fetched at start */

    ts_testutil_token *b = fx_k8s_builder(&fx);
    char *sa = fx_mint(b);
    req r;
    req_init(&r, "GET", "/things/1");
    req_bearer(&r, sa);
    ts_gateway__verdict v;
    check(c, &r, &v);
    ts_authn_principal *p = upstream_verify(c, &v, "backend");
    ts_authn_principal_free(p);
    ts_gateway__verdict_cleanup(&v);
    unsigned long fetched = ts_testutil_jwks_server_requests(srv);
    assert_int_equal(fetched, 1);

    ts_testutil_token *d = ts_testutil_token_new(fx.key_b, &err);
    assert_int_equal(ts_testutil_token_set_issuer(d, issuer, &err), TS_OK);
    static const char *const aud[] = {"gateway"};
    assert_int_equal(ts_testutil_token_set_audience(d, aud, 1, &err), TS_OK);
    char *tok = fx_mint(d);
    req_init(&r, "GET", "/things/1");
    req_bearer(&r, tok);
    check(c, &r, &v); /* the server has no discovery document: 404 */
    assert_int_equal(v.decision, TS_GATEWAY__CANNOT_DECIDE);
    assert_refused(&v, 503);
    ts_gateway__verdict_cleanup(&v);
    assert_int_equal(ts_testutil_jwks_server_requests(srv), fetched + 1);
    check(c, &r, &v); /* within 30 s: no second discovery */
    assert_refused(&v, 503);
    ts_gateway__verdict_cleanup(&v);
    assert_int_equal(ts_testutil_jwks_server_requests(srv), fetched + 1);
    ts_free(tok);
    ts_testutil_token_free(d);
    ts_free(sa);
    ts_testutil_token_free(b);
    ts_gateway__core_free(c);
    ts_testutil_jwks_server_stop(srv);
}

/* Whether @p err names @p file (in where or in the message). */
static bool names(const ts_error *err, const char *file)
{
    return strstr(err->where, file) || strstr(err->msg, file);
}

/* SIGHUP: a new fragment changes the decision and the policy_version; a bad one keeps both. */
static void test_reload(void **state)
{
    (void)state;
    ts_gateway__core *c = core_new();
    char *nobody = fx_token_a(&fx, NULL, "auditor");
    req r;
    req_init(&r, "GET", "/things/1");
    req_bearer(&r, nobody);
    ts_gateway__verdict v;
    check(c, &r, &v);
    assert_deny(c, &v, 403, "AUTHZ_DENIED", NULL);
    ts_gateway__verdict_cleanup(&v);
    char before[65], after[65];
    ts_gateway__core_policy_version(c, before);

    ts_error err;
    static const char *const grant[] = {"p, role:auditor, gw:things, read"};
    assert_int_equal(ts_testutil_write_fragment(fx.policy, "20-auditor.csv", grant, 1, &err),
                     TS_OK);
    ts_gateway__reload_report rep;
    assert_int_equal(ts_gateway__core_reload(c, &rep), TS_OK);
    assert_int_equal(rep.policy, TS_OK);
    assert_int_equal(rep.keys, TS_OK);
    ts_gateway__core_policy_version(c, after);
    assert_string_not_equal(before, after);
    check(c, &r, &v);
    assert_int_equal(v.decision, TS_GATEWAY__ALLOW);
    assert_string_equal(vheader(&v, "x-tokensmith-policy-version"), after);
    ts_gateway__verdict_cleanup(&v);

    static const char *const broken[] = {"p, role:auditor"};
    assert_int_equal(ts_testutil_write_fragment(fx.policy, "30-broken.csv", broken, 1, &err),
                     TS_OK);
    assert_int_not_equal(ts_gateway__core_reload(c, &rep), TS_OK);
    assert_int_not_equal(rep.policy, TS_OK);
    assert_true(names(&rep.policy_err, "30-broken.csv"));
    assert_int_equal(rep.keys, TS_OK); /* the key directory, unchanged, was read again */
    ts_gateway__core_policy_version(c, before);
    assert_string_equal(before, after);
    check(c, &r, &v);
    assert_int_equal(v.decision, TS_GATEWAY__ALLOW);
    ts_gateway__verdict_cleanup(&v);
    ts_free(nobody);
    ts_gateway__core_free(c);
}

/* The gateway's JWKS, as the admin listener serves it. */
static void jwks_of(ts_gateway__core *c, char *out, size_t cap)
{
    ts_common__secbuf b = {0};
    ts_error err;
    assert_int_equal(ts_gateway__core_jwks(c, &b, &err), TS_OK);
    snprintf(out, cap, "%s", b.p ? b.p : "");
    ts_common__secbuf_wipe(&b);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, 0600), 0);
}

/* One SIGHUP, one part bad: the other part is reloaded all the same, and the report says which
 * was kept. A bad fragment beside a new key: the key is published; a bad key file
 * beside a new fragment: the fragment is in force; both bad: both kept. */
static void test_reload_parts(void **state)
{
    (void)state;
    ts_gateway__core *c = core_new();
    char pv0[65], pv[65], jwks0[8192], jwks[8192];
    ts_gateway__core_policy_version(c, pv0);
    jwks_of(c, jwks0, sizeof jwks0);

    /* a bad fragment and a new key (active.pem) */
    ts_error err;
    static const char *const broken[] = {"p, role:auditor"};
    assert_int_equal(ts_testutil_write_fragment(fx.policy, "30-broken.csv", broken, 1, &err),
                     TS_OK);
    ts_testutil_key *k = ts_testutil_key_new(TS_JWS_ES256, &err);
    assert_non_null(k);
    char *pem = ts_testutil_key_private_pem(k, &err);
    assert_non_null(pem);
    write_file(fx.keys, "active.pem", pem);
    ts_free(pem);
    ts_gateway__reload_report rep;
    assert_int_not_equal(ts_gateway__core_reload(c, &rep), TS_OK);
    assert_int_not_equal(rep.policy, TS_OK);
    assert_true(names(&rep.policy_err, "30-broken.csv"));
    assert_int_equal(rep.keys, TS_OK);
    ts_gateway__core_policy_version(c, pv);
    assert_string_equal(pv, pv0);
    jwks_of(c, jwks, sizeof jwks);
    assert_string_not_equal(jwks, jwks0);
    assert_non_null(strstr(jwks, ts_testutil_key_kid(k))); /* the new key is published */
    json_error_t je;
    json_t *j = json_loads(jwks, 0, &je);
    assert_non_null(j);
    assert_int_equal(json_array_size(json_object_get(j, "keys")), 2); /* beside the first */
    json_decref(j);
    memcpy(jwks0, jwks, sizeof jwks0);

    /* the fragment fixed, a bad key file beside it */
    static const char *const grant[] = {"p, role:auditor, gw:things, read"};
    assert_int_equal(ts_testutil_write_fragment(fx.policy, "30-broken.csv", grant, 1, &err), TS_OK);
    write_file(fx.keys, "bad.pem",
               "-----BEGIN PRIVATE KEY-----\nnot a key\n"
               "-----END PRIVATE KEY-----\n");
    assert_int_not_equal(ts_gateway__core_reload(c, &rep), TS_OK);
    assert_int_equal(rep.policy, TS_OK);
    assert_int_not_equal(rep.keys, TS_OK);
    assert_true(rep.keys_err.msg[0] != '\0');
    ts_gateway__core_policy_version(c, pv);
    assert_string_not_equal(pv, pv0);
    jwks_of(c, jwks, sizeof jwks);
    assert_string_equal(jwks, jwks0);

    /* both bad */
    assert_int_equal(ts_testutil_write_fragment(fx.policy, "40-broken.csv", broken, 1, &err),
                     TS_OK);
    memcpy(pv0, pv, sizeof pv0);
    assert_int_not_equal(ts_gateway__core_reload(c, &rep), TS_OK);
    assert_int_not_equal(rep.policy, TS_OK);
    assert_int_not_equal(rep.keys, TS_OK);
    assert_true(names(&rep.policy_err, "40-broken.csv"));
    assert_true(rep.keys_err.msg[0] != '\0');
    ts_gateway__core_policy_version(c, pv);
    assert_string_equal(pv, pv0);
    jwks_of(c, jwks, sizeof jwks);
    assert_string_equal(jwks, jwks0);
    ts_testutil_key_free(k);
    ts_gateway__core_free(c);
}

/* Many threads on one core: every answer is the same allow (the cache and the counters are
 * shared). */
typedef struct worker {
    ts_gateway__core *core;
    const char *token;
    int allowed;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < 25; i++) {
        req r;
        req_init(&r, i % 2 ? "GET" : "HEAD", "/things/7");
        req_bearer(&r, w->token);
        ts_gateway__verdict v;
        check(w->core, &r, &v);
        if (v.decision == TS_GATEWAY__ALLOW && vheader(&v, "authorization"))
            w->allowed++;
        ts_gateway__verdict_cleanup(&v);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    ts_gateway__core *c = core_new();
    char *tok = fx_token_a(&fx, NULL, "reader");
    worker w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){c, tok, 0};
        assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(w[i].allowed, 25);
    }
    ts_common__secbuf m = {0};
    ts_gateway__core_metrics(c, &m);
    assert_non_null(strstr(m.p, "result=\"allow\"} 100\n"));
    ts_common__secbuf_wipe(&m);
    ts_free(tok);
    ts_gateway__core_free(c);
}

static void test_construction_errors(void **state)
{
    (void)state;
    ts_gateway__core_options o = TS_GATEWAY__CORE_OPTIONS_INIT;
    o.log = capture;
    o.read_only_keys = true; /* --check: no key in the directory yet */
    ts_error err;
    assert_null(ts_gateway__core_new(&fx.cfg, &o, &err));
    o.read_only_keys = false;
    snprintf(fx.trust[0].jwks_uri, sizeof fx.trust[0].jwks_uri, "file:///nonexistent/j.json");
    assert_null(ts_gateway__core_new(&fx.cfg, &o, &err));
    assert_string_equal(err.where, "trust[0].jwks_uri");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_remote_keys_and_discovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_parts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_construction_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
