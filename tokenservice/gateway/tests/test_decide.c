/* gateway.test_decide: ts_gateway__check(), the algorithm every front asks, with JWKS files
 * and testutil tokens: allow with the translated Authorization (verified back against the
 * core's JWKS), each deny with its status, authz.deny.v1 body and WWW-Authenticate, public
 * paths, two Authorization lines, the client's x-tokensmith-* headers (strip and reject), wrong
 * audience, unknown issuer, a token of one issuer signed with another's key, ambiguous paths
 * (a dot segment behind an encoded slash or a double escape), shadow and off modes, keys
 * unavailable, a Kubernetes caller's roles from the policy (and after a reload). Every refusal
 * is checked not to carry an allow or a token. */
#include "decide_support.h"

static void test_allow_translates(void **state)
{
    (void)state;
    ts_gateway__core *c = core_new();
    char *tok = fx_token_a(&fx, NULL, "reader");
    req r;
    req_init(&r, "GET", "/things/1?x=%2F");
    req_bearer(&r, tok);
    req_header(&r, "x-request-id", "req-1");
    ts_gateway__verdict v;
    check(c, &r, &v);
    ts_authn_principal *p = upstream_verify(c, &v, "backend");
    assert_string_equal(ts_authn_principal_issuer(p), FX_GATEWAY_ISSUER);
    assert_string_equal(ts_authn_principal_id(p), TS_TESTUTIL_SUBJECT);
    assert_string_equal(ts_authn_principal_claim_string(p, "idp"), TS_TESTUTIL_ISSUER);
    assert_true(ts_authn_principal_exp(p) <= (int64_t)time(NULL) + TS_TESTUTIL_LIFETIME_S);
    assert_null(strstr(vheader(&v, "authorization"), tok)); /* never the caller's token */
    assert_string_equal(vheader(&v, "x-tokensmith-subject"), TS_TESTUTIL_SUBJECT);
    assert_string_equal(vheader(&v, "x-tokensmith-roles"), "reader");
    char pv[65];
    ts_gateway__core_policy_version(c, pv);
    assert_string_equal(vheader(&v, "x-tokensmith-policy-version"), pv);
    assert_null(v.body);
    ts_authn_principal_free(p);
    ts_gateway__verdict_cleanup(&v);

    /* The route's own audience. */
    char *writer = fx_token_a(&fx, NULL, "writer");
    req_init(&r, "POST", "/orders");
    req_bearer(&r, writer);
    check(c, &r, &v);
    p = upstream_verify(c, &v, "orders-api");
    ts_authn_principal_free(p);
    ts_gateway__verdict_cleanup(&v);

    /* A Kubernetes service account, granted by a policy binding. */
    ts_testutil_token *b = fx_k8s_builder(&fx);
    char *sa = fx_mint(b);
    req_init(&r, "GET", "/things/2");
    req_bearer(&r, sa);
    check(c, &r, &v);
    p = upstream_verify(c, &v, "backend");
    assert_string_equal(ts_authn_principal_id(p), FX_K8S_SUB);
    assert_string_equal(ts_authn_principal_claim_string(p, "idp"), FX_K8S_ISSUER);
    ts_authn_principal_free(p);
    ts_gateway__verdict_cleanup(&v);
    /* The log names the token by hash only. */
    assert_null(strstr(logbuf, tok));
    ts_free(sa);
    ts_testutil_token_free(b);
    ts_free(writer);
    ts_free(tok);

    ts_common__secbuf m = {0};
    ts_gateway__core_metrics(c, &m);
    assert_non_null(strstr(m.p, "tokensmith_gateway_checks_total{front=\"http\",mode=\"enforce\","
                                "result=\"allow\"} 3\n"));
    assert_non_null(strstr(m.p, "tokensmith_gateway_translations_total 3\n"));
    assert_non_null(strstr(m.p, "gateway_translation_cache_total{result=\"miss\"} 3\n"));
    assert_non_null(strstr(m.p, "\nauthz_decisions_total{")); /* the guard's own */
    ts_common__secbuf_wipe(&m);
    ts_gateway__core_free(c);
}

static void test_authn_refusals(void **state)
{
    (void)state;
    ts_gateway__core *c = core_new();
    ts_gateway__verdict v;
    req r;
    static const char invalid[] = "Bearer error=\"invalid_token\"";

    req_init(&r, "GET", "/things/1"); /* no credentials */
    check(c, &r, &v);
    assert_deny(c, &v, 401, "AUTHN_REQUIRED", "Bearer");
    ts_gateway__verdict_cleanup(&v);

    req_init(&r, "GET", "/things/1"); /* another scheme */
    req_header(&r, "authorization", "Basic dXNlcjpwYXNz");
    check(c, &r, &v);
    assert_deny(c, &v, 401, "AUTHN_REQUIRED", "Bearer");
    ts_gateway__verdict_cleanup(&v);

    req_init(&r, "GET", "/things/1");
    req_header(&r, "authorization", "Bearer a b");
    check(c, &r, &v);
    assert_deny(c, &v, 401, "AUTHN_INVALID", invalid);
    ts_gateway__verdict_cleanup(&v);

    ts_error err;
    static const ts_testutil_flaw flaws[] = {
        TS_TESTUTIL_FLAW_EXPIRED,  TS_TESTUTIL_FLAW_WRONG_AUDIENCE, TS_TESTUTIL_FLAW_BAD_SIGNATURE,
        TS_TESTUTIL_FLAW_ALG_NONE, TS_TESTUTIL_FLAW_UNKNOWN_KID,    TS_TESTUTIL_FLAW_WRONG_ISSUER};
    ts_testutil_token *b = ts_testutil_token_new(fx.key_a, &err);
    static const char *const role = "reader";
    assert_int_equal(ts_testutil_token_set_roles(b, &role, 1, &err), TS_OK);
    for (size_t i = 0; i < sizeof flaws / sizeof *flaws; i++) {
        char *tok = ts_testutil_token_mint(b, flaws[i], &err);
        assert_non_null(tok);
        req_init(&r, "GET", "/things/1");
        req_bearer(&r, tok);
        check(c, &r, &v);
        assert_deny(c, &v, 401, "AUTHN_INVALID", invalid);
        ts_gateway__verdict_cleanup(&v);
        ts_free(tok);
    }
    ts_testutil_token_free(b);

    /* Issuer A's iss, signed by issuer B's key (and B's kid). */
    char *cross = fx_token_a(&fx, fx.key_b, "reader");
    req_init(&r, "GET", "/things/1");
    req_bearer(&r, cross);
    check(c, &r, &v);
    assert_deny(c, &v, 401, "AUTHN_INVALID", invalid);
    ts_gateway__verdict_cleanup(&v);
    ts_free(cross);

    /* A Kubernetes token whose sub names another account than its claims. */
    b = fx_k8s_builder(&fx);
    assert_int_equal(ts_testutil_token_set_subject(b, "system:serviceaccount:kube-system:x", &err),
                     TS_OK);
    char *k = fx_mint(b);
    req_init(&r, "GET", "/things/1");
    req_bearer(&r, k);
    check(c, &r, &v);
    assert_deny(c, &v, 401, "AUTHN_INVALID", invalid);
    ts_gateway__verdict_cleanup(&v);
    assert_null(strstr(logbuf, k));
    assert_non_null(strstr(logbuf, "\"reason\":\"invalid_claim\""));
    ts_free(k);
    ts_testutil_token_free(b);
    ts_gateway__core_free(c);
}

static void test_authz_refusals(void **state)
{
    (void)state;
    ts_gateway__core *c = core_new();
    ts_gateway__verdict v;
    req r;
    char *nobody = fx_token_a(&fx, NULL, NULL);
    req_init(&r, "GET", "/things/1"); /* mapped, not granted */
    req_bearer(&r, nobody);
    check(c, &r, &v);
    assert_deny(c, &v, 403, "AUTHZ_DENIED", NULL);
    ts_gateway__verdict_cleanup(&v);

    req_init(&r, "GET", "/elsewhere"); /* unmapped */
    req_bearer(&r, nobody);
    check(c, &r, &v);
    assert_deny(c, &v, 403, "AUTHZ_UNMAPPED", NULL);
    ts_gateway__verdict_cleanup(&v);

    char *reader = fx_token_a(&fx, NULL, "reader");
    req_init(&r, "POST", "/orders"); /* a reader may not create orders */
    req_bearer(&r, reader);
    check(c, &r, &v);
    assert_deny(c, &v, 403, "AUTHZ_DENIED", NULL);
    ts_gateway__verdict_cleanup(&v);

    req_init(&r, "GET", "/things/%2e%2e/orders"); /* normalised: /orders, GET: unmapped */
    req_bearer(&r, reader);
    check(c, &r, &v);
    assert_refused(&v, 403);
    ts_gateway__verdict_cleanup(&v);
    ts_free(reader);
    ts_free(nobody);
    ts_gateway__core_free(c);
}

static void test_bad_requests(void **state)
{
    (void)state;
    ts_gateway__core *c = core_new();
    ts_gateway__verdict v;
    req r;
    char *tok = fx_token_a(&fx, NULL, "reader");

    req_init(&r, "GET", "/things/1"); /* two Authorization lines, both valid */
    req_bearer(&r, tok);
    req_bearer(&r, tok);
    check(c, &r, &v);
    assert_deny(c, &v, 400, "BAD_REQUEST", NULL);
    ts_gateway__verdict_cleanup(&v);

    req_init(&r, "GET", "/things/1"); /* the gRPC front saw two, joined */
    req_bearer(&r, tok);
    r.in.authorization_repeated = true;
    check(c, &r, &v);
    assert_deny(c, &v, 400, "BAD_REQUEST", NULL);
    ts_gateway__verdict_cleanup(&v);

    static const char *const bad[][2] = {
        {"", "/things/1"},
        {"G T", "/things/1"},
        {"GET", "things/1"},
        {"GET", ""},
        {"GET", "/things/%zz"},
        {"GET", "/things/%00"},
        {"GETGETGETGETGETGETGETGETGETGETGET", "/x"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        req_init(&r, bad[i][0], bad[i][1]);
        req_bearer(&r, tok);
        check(c, &r, &v);
        assert_deny(c, &v, 400, "BAD_REQUEST", NULL);
        ts_gateway__verdict_cleanup(&v);
    }
    /* A query is not the gateway's to judge: "100%" there is the upstream's business. */
    req_init(&r, "GET", "/things/1?discount=100%");
    req_bearer(&r, tok);
    check(c, &r, &v);
    assert_int_equal(v.decision, TS_GATEWAY__ALLOW);
    ts_gateway__verdict_cleanup(&v);
    static char long_path[TS_AUTHZ_HTTP_MAX_PATH + 2];
    memset(long_path, 'a', sizeof long_path - 1);
    long_path[0] = '/';
    req_init(&r, "GET", long_path);
    req_bearer(&r, tok);
    check(c, &r, &v);
    assert_deny(c, &v, 400, "BAD_REQUEST", NULL);
    ts_gateway__verdict_cleanup(&v);
    ts_free(tok);
    ts_gateway__core_free(c);
}

static void test_client_tokensmith_headers(void **state)
{
    (void)state;
    ts_gateway__core *c = core_new();
    ts_gateway__verdict v;
    req r;
    char *tok = fx_token_a(&fx, NULL, "reader");
    req_init(&r, "GET", "/things/1");
    req_bearer(&r, tok);
    req_header(&r, "X-Tokensmith-Subject", "admin");
    req_header(&r, "x-tokensmith-extra", "1");
    check(c, &r, &v);
    assert_int_equal(v.decision, TS_GATEWAY__ALLOW);
    assert_string_equal(vheader(&v, "x-tokensmith-subject"), TS_TESTUTIL_SUBJECT);
    assert_true(vremoves(&v, "x-tokensmith-extra"));
    assert_false(vremoves(&v, "x-tokensmith-subject")); /* replaced, not removed */
    ts_gateway__verdict_cleanup(&v);
    ts_gateway__core_free(c);

    /* Without the gateway's own headers, a forged one is removed. */
    fx.cfg.translate.headers = false;
    c = core_new();
    check(c, &r, &v);
    assert_int_equal(v.decision, TS_GATEWAY__ALLOW);
    assert_null(vheader(&v, "x-tokensmith-subject"));
    assert_true(vremoves(&v, "X-Tokensmith-Subject"));
    assert_true(vremoves(&v, "x-tokensmith-extra"));
    ts_gateway__verdict_cleanup(&v);
    ts_gateway__core_free(c);

    /* A subject no header can carry: the token has it, the headers leave it out, and the
     * client's header of that name is removed. */
    fx.cfg.translate.headers = true;
    c = core_new();
    ts_error err;
    ts_testutil_token *b = ts_testutil_token_new(fx.key_a, &err);
    static const char *const role = "reader";
    assert_int_equal(ts_testutil_token_set_roles(b, &role, 1, &err), TS_OK);
    assert_int_equal(ts_testutil_token_set_subject(b, "j\xc3\xb6rg", &err), TS_OK);
    char *umlaut = fx_mint(b);
    req u;
    req_init(&u, "GET", "/things/1");
    req_bearer(&u, umlaut);
    req_header(&u, "x-tokensmith-subject", "admin");
    check(c, &u, &v);
    ts_authn_principal *p = upstream_verify(c, &v, "backend");
    assert_string_equal(ts_authn_principal_id(p), "j\xc3\xb6rg");
    ts_authn_principal_free(p);
    assert_null(vheader(&v, "x-tokensmith-subject"));
    assert_true(vremoves(&v, "x-tokensmith-subject"));
    assert_string_equal(vheader(&v, "x-tokensmith-roles"), "reader");
    ts_gateway__verdict_cleanup(&v);
    ts_free(umlaut);
    ts_testutil_token_free(b);
    ts_gateway__core_free(c);

    /* "reject" (nginx, which cannot remove by pattern): 400 even with a valid token. */
    snprintf(fx.cfg.http.client_tokensmith_headers, sizeof fx.cfg.http.client_tokensmith_headers,
             "reject");
    c = core_new();
    check(c, &r, &v);
    assert_deny(c, &v, 400, "BAD_REQUEST", NULL);
    ts_gateway__verdict_cleanup(&v);
    ts_free(tok);
    ts_gateway__core_free(c);
}

static void test_public_paths(void **state)
{
    (void)state;
    ts_gateway__core *c = core_new();
    ts_gateway__verdict v;
    req r;
    req_init(&r, "GET", "/health");
    check(c, &r, &v);
    assert_int_equal(v.decision, TS_GATEWAY__ALLOW);
    assert_null(vheader(&v, "authorization"));
    assert_true(vremoves(&v, "authorization"));
    ts_gateway__verdict_cleanup(&v);

    /* A token that does not verify is removed, not passed on. */
    req_init(&r, "GET", "/public/a?q=1");
    req_bearer(&r, "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.");
    check(c, &r, &v);
    assert_int_equal(v.decision, TS_GATEWAY__ALLOW);
    assert_null(vheader(&v, "authorization"));
    assert_true(vremoves(&v, "authorization"));
    ts_gateway__verdict_cleanup(&v);

    /* A token that verifies is translated, without authorization (nobody has no role). */
    char *tok = fx_token_a(&fx, NULL, NULL);
    req_init(&r, "GET", "/public/a");
    req_bearer(&r, tok);
    check(c, &r, &v);
    ts_authn_principal *p = upstream_verify(c, &v, "backend");
    ts_authn_principal_free(p);
    ts_gateway__verdict_cleanup(&v);

    /* Not public: "/publicity", "/health/x". */
    req_init(&r, "GET", "/publicity");
    check(c, &r, &v);
    assert_deny(c, &v, 401, "AUTHN_REQUIRED", "Bearer");
    ts_gateway__verdict_cleanup(&v);
    req_init(&r, "GET", "/health/x");
    check(c, &r, &v);
    assert_deny(c, &v, 401, "AUTHN_REQUIRED", "Bearer");
    ts_gateway__verdict_cleanup(&v);
    ts_free(tok);
    ts_gateway__core_free(c);
}

/* A dot segment that only a server reading encoded slashes or backslashes as separators, or
 * decoding twice, would resolve: the guard's reading ("/public/..%2Fthings" is under /public)
 * and the upstream's ("/things") differ, so the gateway decides neither: 400, with or without
 * a token. The same paths with the dots resolved by the guard itself are decided normally. */
static void test_ambiguous_paths(void **state)
{
    (void)state;
    ts_gateway__core *c = core_new();
    ts_gateway__verdict v;
    req r;
    char *tok = fx_token_a(&fx, NULL, "reader");
    static const char *const ambiguous[] = {
        "/public/..%2Forders",           "/public/..%2forders",        "/public/%2e%2e%2Forders",
        "/public/..%5Corders",           "/public/..\\orders",         "/public/%252e%252e/orders",
        "/public/%252E./orders",         "/public/x/..%2F..%2Forders", "/things/..%2F..%2Forders",
        "/things/%252e%252e%252forders", "/public/.%2Forders",         "/public/..%2F",
    };
    for (size_t i = 0; i < sizeof ambiguous / sizeof *ambiguous; i++) {
        for (int with = 0; with < 2; with++) {
            req_init(&r, "GET", ambiguous[i]);
            if (with)
                req_bearer(&r, tok);
            check(c, &r, &v);
            if (v.decision == TS_GATEWAY__ALLOW)
                fail_msg("%s (%s token) allowed", ambiguous[i], with ? "a" : "no");
            assert_deny(c, &v, 400, "BAD_REQUEST", NULL);
            ts_gateway__verdict_cleanup(&v);
        }
    }
    /* Encoded slashes without a dot segment, and dots that are not a segment: decided. */
    static const char *const fine[] = {"/things/a%2Fb", "/things/...%2Fx", "/things/a..b%5Cc",
                                       "/things/%252Fx", "/things/.hidden"};
    for (size_t i = 0; i < sizeof fine / sizeof *fine; i++) {
        req_init(&r, "GET", fine[i]);
        req_bearer(&r, tok);
        check(c, &r, &v);
        if (v.decision != TS_GATEWAY__ALLOW)
            fail_msg("%s: %u (%s), want an allow", fine[i], v.http_status, v.reason);
        ts_gateway__verdict_cleanup(&v);
    }
    /* Dots the guard resolves: decided on the normalised path ("GET /orders": no route). */
    req_init(&r, "GET", "/public/%2e%2e/orders");
    req_bearer(&r, tok);
    check(c, &r, &v);
    assert_deny(c, &v, 403, "AUTHZ_UNMAPPED", NULL);
    ts_gateway__verdict_cleanup(&v);
    req_init(&r, "GET", "/public/%2e%2e/orders");
    check(c, &r, &v);
    assert_deny(c, &v, 401, "AUTHN_REQUIRED", "Bearer");
    ts_gateway__verdict_cleanup(&v);
    ts_free(tok);
    ts_gateway__core_free(c);
}

static void test_shadow_and_off(void **state)
{
    (void)state;
    char *nobody = fx_token_a(&fx, NULL, NULL);
    static const char *const modes[] = {"shadow", "off"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(fx.cfg.authz.mode, sizeof fx.cfg.authz.mode, "%s", modes[i]);
        loglen = 0;
        ts_gateway__core *c = core_new();
        ts_gateway__verdict v;
        req r;
        req_init(&r, "GET", "/things/1"); /* denied in enforce mode */
        req_bearer(&r, nobody);
        check(c, &r, &v);
        ts_authn_principal *p = upstream_verify(c, &v, "backend");
        ts_authn_principal_free(p);
        ts_gateway__verdict_cleanup(&v);
        /* The route's audience in both modes. */
        req_init(&r, "POST", "/orders");
        req_bearer(&r, nobody);
        check(c, &r, &v);
        p = upstream_verify(c, &v, "orders-api");
        ts_authn_principal_free(p);
        ts_gateway__verdict_cleanup(&v);
        if (i == 0) /* shadow: the guard logged what enforce would have done */
            assert_non_null(strstr(logbuf, "\"decision\":\"deny\""));
        /* Authentication still refuses in every mode. */
        req_init(&r, "GET", "/things/1");
        check(c, &r, &v);
        assert_deny(c, &v, 401, "AUTHN_REQUIRED", "Bearer");
        ts_gateway__verdict_cleanup(&v);
        req_init(&r, "GET", "/things/1");
        req_bearer(&r, "x.y.z");
        check(c, &r, &v);
        assert_refused(&v, 401);
        ts_gateway__verdict_cleanup(&v);
        ts_gateway__core_free(c);
    }
    ts_free(nobody);
}

static void test_cannot_decide(void **state)
{
    (void)state;
    ts_gateway__core *c = core_new();
    ts_error err;
    ts_testutil_token *b = ts_testutil_token_new(fx.key_a, &err);
    assert_int_equal(ts_testutil_token_set_issuer(b, FX_DOWN_ISSUER, &err), TS_OK);
    static const char *const aud[] = {"gateway"};
    assert_int_equal(ts_testutil_token_set_audience(b, aud, 1, &err), TS_OK);
    char *tok = fx_mint(b);
    req r;
    req_init(&r, "GET", "/things/1");
    req_bearer(&r, tok);
    ts_gateway__verdict v;
    check(c, &r, &v);
    assert_int_equal(v.decision, TS_GATEWAY__CANNOT_DECIDE);
    assert_refused(&v, 503);
    assert_null(v.body);
    ts_gateway__verdict_cleanup(&v);

    /* The verdict a check starts from is never an allow: a NULL core decides nothing. */
    ts_gateway__verdict_init(&v);
    ts_gateway__check(&r.in, &v, NULL);
    assert_int_equal(v.decision, TS_GATEWAY__CANNOT_DECIDE);
    ts_gateway__verdict_cleanup(&v);
    ts_free(tok);
    ts_testutil_token_free(b);
    ts_gateway__core_free(c);
}

/* A Kubernetes caller's roles are the policy's (direct and inherited), in the translated token
 * and x-tokensmith-roles; a reload that changes the bindings changes them at the next check,
 * although the same token's translation was cached. */
static void roles_of_upstream(ts_gateway__core *c, const char *tok, const char *want)
{
    req r;
    req_init(&r, "GET", "/things/2");
    req_bearer(&r, tok);
    ts_gateway__verdict v;
    check(c, &r, &v);
    ts_authn_principal *p = upstream_verify(c, &v, "backend");
    size_t n = 0;
    const char *const *roles = ts_authn_principal_roles(p, &n);
    char got[256] = "";
    for (size_t i = 0, len = 0; i < n; i++)
        len += (size_t)snprintf(got + len, sizeof got - len, "%s%s", i ? "," : "", roles[i]);
    assert_string_equal(got, want);
    if (*want)
        assert_string_equal(vheader(&v, "x-tokensmith-roles"), want);
    else
        assert_null(vheader(&v, "x-tokensmith-roles"));
    ts_authn_principal_free(p);
    ts_gateway__verdict_cleanup(&v);
}

static void test_kubernetes_policy_roles(void **state)
{
    (void)state;
    ts_error err;
    static const char *const more[] = {"g, role:reader, role:x", "g, role:x, role:y"};
    assert_int_equal(ts_testutil_write_fragment(fx.policy, "20-roles.csv", more, 2, &err), TS_OK);
    ts_gateway__core *c = core_new();
    ts_testutil_token *b = fx_k8s_builder(&fx);
    char *sa = fx_mint(b);
    roles_of_upstream(c, sa, "role:reader,role:x,role:y");
    roles_of_upstream(c, sa, "role:reader,role:x,role:y"); /* from the cache */
    uint64_t hits, misses, signed_tokens;
    ts_gateway__translator_counts(c->translator, &hits, &misses, &signed_tokens);
    assert_int_equal(hits, 1);
    static const char *const fewer[] = {"g, role:x, role:y"};
    assert_int_equal(ts_testutil_write_fragment(fx.policy, "20-roles.csv", fewer, 1, &err), TS_OK);
    ts_gateway__reload_report rep;
    assert_int_equal(ts_gateway__core_reload(c, &rep), TS_OK);
    roles_of_upstream(c, sa, "role:reader");
    ts_gateway__translator_counts(c->translator, &hits, &misses, &signed_tokens);
    assert_int_equal(signed_tokens, 2);
    /* JWT callers keep the roles their token carries: the policy does not add to them. */
    char *tok = fx_token_a(&fx, NULL, "reader");
    roles_of_upstream(c, tok, "reader");
    ts_free(tok);
    ts_free(sa);
    ts_testutil_token_free(b);
    ts_gateway__core_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_allow_translates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_authn_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kubernetes_policy_roles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_authz_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_tokensmith_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_public_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ambiguous_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shadow_and_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cannot_decide, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
