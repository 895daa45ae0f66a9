/* Step-up authentication (RFC 9470): acr and auth_time requirements of a verifier and of a
   single call, the principal's acr, amr and auth_time, the cache (a cached token is judged on
   every call), the challenge and the refusal body. */
#include "testkit.h"

#include "authn_internal.h"

static const char *iss[] = {"https://issuer.test"};
static const char *aud[] = {"svc-a"};

typedef struct fx {
    ts_jwk *key;
    ts_jwks *keys;
    int64_t now;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    f->key = ts_jwk_generate(TS_JWS_ES256, NULL);
    char *j = ts_jwk_to_json(f->key, NULL);
    ts_jwk *pub = ts_jwk_parse(j, strlen(j), NULL);
    ts_free(j);
    f->keys = ts_jwks_new(&pub, 1, NULL);
    ts_jwk_free(pub);
    f->now = TK_NOW;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    ts_jwks_free(f->keys);
    ts_jwk_free(f->key);
    free(f);
    return 0;
}

static ts_authn_verifier *verifier(fx *f, const char *const *acr, size_t n, int64_t max_age,
                                   bool cache)
{
    ts_authn_options o = TS_AUTHN_OPTIONS_INIT;
    o.issuers = iss;
    o.n_issuers = 1;
    o.audiences = aud;
    o.n_audiences = 1;
    o.keys = f->keys;
    o.now = tk_clock;
    o.now_ud = &f->now;
    o.disable_cache = !cache;
    o.acr_values = acr;
    o.n_acr_values = n;
    o.max_auth_age_s = max_age;
    ts_error err;
    ts_authn_verifier *v = ts_authn_verifier_new(&o, &err);
    if (!v)
        fail_msg("verifier: %s: %s", err.where, err.msg);
    return v;
}

static char *mint(fx *f, const char *extra)
{
    char hdr[256], claims[1024];
    tk_header(hdr, sizeof hdr, f->key, TS_JWS_ES256);
    tk_claims(claims, sizeof claims, extra);
    return tk_mint(f->key, TS_JWS_ES256, hdr, claims);
}

/* Verify @p extra's token; the error's `where` in @p where. */
static ts_authn_reason run(fx *f, const ts_authn_verifier *v, const char *extra, char *where)
{
    char *tok = mint(f, extra);
    ts_authn_principal *p = NULL;
    ts_error err;
    ts_error_clear(&err);
    ts_authn_reason r = ts_authn_verify(v, tok, strlen(tok), &p, NULL, &err);
    if (where)
        snprintf(where, sizeof err.where, "%s", err.where);
    if (r == TS_AUTHN_OK)
        assert_non_null(p);
    else
        assert_null(p);
    ts_authn_principal_free(p);
    ts_free(tok);
    return r;
}

static void test_acr_set(void **state)
{
    fx *f = *state;
    static const char *acr[] = {"urn:mfa", "phr"};
    ts_authn_verifier *v = verifier(f, acr, 2, 0, false);
    char where[64];
    assert_int_equal(run(f, v, "\"acr\":\"urn:mfa\"", NULL), TS_AUTHN_OK);
    assert_int_equal(run(f, v, "\"acr\":\"phr\"", NULL), TS_AUTHN_OK);
    assert_int_equal(run(f, v, "\"acr\":\"pwd\"", where),
                     TS_AUTHN_INSUFFICIENT_USER_AUTHENTICATION);
    assert_string_equal(where, "acr");
    /* Exact bytes: no case folding; a NUL never reaches the comparison. */
    assert_int_equal(run(f, v, "\"acr\":\"urn:MFA\"", NULL),
                     TS_AUTHN_INSUFFICIENT_USER_AUTHENTICATION);
    assert_int_equal(run(f, v, "\"acr\":\"phr\\u0000x\"", NULL),
                     TS_AUTHN_MALFORMED); /* NUL: refused by the parser */
    assert_int_equal(run(f, v, "\"acr\":[\"phr\"]", NULL),
                     TS_AUTHN_INSUFFICIENT_USER_AUTHENTICATION);
    /* Missing acr. */
    assert_int_equal(run(f, v, NULL, where), TS_AUTHN_INSUFFICIENT_USER_AUTHENTICATION);
    assert_string_equal(where, "acr");
    /* Other checks come first: an expired token is expired, whatever its acr. */
    f->now = TK_NOW + 7200;
    assert_int_equal(run(f, v, "\"acr\":\"pwd\"", NULL), TS_AUTHN_EXPIRED);
    f->now = TK_NOW;
    assert_string_equal(ts_authn_reason_str(TS_AUTHN_INSUFFICIENT_USER_AUTHENTICATION),
                        "insufficient_user_authentication");
    ts_authn_verifier_free(v);
}

static void test_auth_time(void **state)
{
    fx *f = *state;
    ts_authn_verifier *v = verifier(f, NULL, 0, 300, false); /* leeway 60 s */
    char where[64], extra[64];
    struct {
        int64_t age;
        ts_authn_reason want;
    } cases[] = {
        {0, TS_AUTHN_OK},
        {300, TS_AUTHN_OK},
        {360, TS_AUTHN_OK}, /* within the leeway */
        {361, TS_AUTHN_INSUFFICIENT_USER_AUTHENTICATION},
        {86400, TS_AUTHN_INSUFFICIENT_USER_AUTHENTICATION},
        {-60, TS_AUTHN_OK},            /* clock skew, within the leeway */
        {-61, TS_AUTHN_INVALID_CLAIM}, /* in the future: another login changes nothing */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(extra, sizeof extra, "\"auth_time\":%lld", (long long)(TK_NOW - cases[i].age));
        assert_int_equal(run(f, v, extra, where), cases[i].want);
        if (cases[i].want != TS_AUTHN_OK)
            assert_string_equal(where, "auth_time");
    }
    /* Missing, or not an integer. */
    assert_int_equal(run(f, v, NULL, where), TS_AUTHN_INSUFFICIENT_USER_AUTHENTICATION);
    assert_string_equal(where, "auth_time");
    assert_int_equal(run(f, v, "\"auth_time\":\"1700000000\"", NULL),
                     TS_AUTHN_INSUFFICIENT_USER_AUTHENTICATION);
    assert_int_equal(run(f, v, "\"auth_time\":1700000000.5", NULL),
                     TS_AUTHN_INSUFFICIENT_USER_AUTHENTICATION);
    /* Extremes never overflow (the test build traps on signed overflow). */
    assert_int_equal(run(f, v, "\"auth_time\":-9223372036854775808", NULL),
                     TS_AUTHN_INSUFFICIENT_USER_AUTHENTICATION);
    assert_int_equal(run(f, v, "\"auth_time\":9223372036854775807", NULL), TS_AUTHN_INVALID_CLAIM);
    ts_authn_verifier_free(v);
}

/* A cached token is judged again on every call: it ages out of max_age while still cached. */
static void test_cache_does_not_bypass(void **state)
{
    fx *f = *state;
    static const char *acr[] = {"mfa"};
    ts_authn_verifier *v = verifier(f, acr, 1, 300, true);
    char extra[96];
    snprintf(extra, sizeof extra, "\"acr\":\"mfa\",\"auth_time\":%lld", TK_NOW - 100);
    char *tok = mint(f, extra);
    ts_authn_principal *p = NULL;
    assert_int_equal(ts_authn_verify(v, tok, strlen(tok), &p, NULL, NULL), TS_AUTHN_OK);
    ts_authn_principal_free(p);
    uint64_t hits = 0, misses = 0;
    size_t entries = 0;
    f->now = TK_NOW + 200; /* 300 s old: within max_age */
    assert_int_equal(ts_authn_verify(v, tok, strlen(tok), &p, NULL, NULL), TS_AUTHN_OK);
    ts_authn_principal_free(p);
    ts_authn_verifier_cache_stats(v, &hits, &misses, &entries);
    assert_int_equal(hits, 1);
    f->now = TK_NOW + 400; /* 500 s old: past max_age + leeway, still cached and unexpired */
    ts_error err;
    assert_int_equal(ts_authn_verify(v, tok, strlen(tok), &p, NULL, &err),
                     TS_AUTHN_INSUFFICIENT_USER_AUTHENTICATION);
    assert_null(p);
    assert_string_equal(err.where, "auth_time");
    ts_authn_verifier_cache_stats(v, &hits, &misses, &entries);
    assert_int_equal(hits, 2);
    /* The hook's fast path asks the cache alone: it must not answer either. */
    assert_null(ts_authn__verify_cached(v, tok, strlen(tok)));
    f->now = TK_NOW + 200;
    p = ts_authn__verify_cached(v, tok, strlen(tok));
    assert_non_null(p);
    ts_authn_principal_free(p);
    ts_free(tok);
    f->now = TK_NOW;
    ts_authn_verifier_free(v);
}

/* ts_authn_require(): per call, on a verifier that requires nothing itself. */
static void test_require_per_call(void **state)
{
    fx *f = *state;
    ts_authn_verifier *v = verifier(f, NULL, 0, 0, true);
    char extra[160];
    snprintf(extra, sizeof extra, "\"acr\":\"pwd\",\"amr\":[\"pwd\",7,\"otp\"],\"auth_time\":%lld",
             TK_NOW - 1000);
    char *tok = mint(f, extra);
    ts_authn_principal *p = NULL;
    assert_int_equal(ts_authn_verify(v, tok, strlen(tok), &p, NULL, NULL), TS_AUTHN_OK);
    assert_string_equal(ts_authn_principal_acr(p), "pwd");
    size_t n = 0;
    const char *const *amr = ts_authn_principal_amr(p, &n);
    assert_int_equal(n, 2);
    assert_string_equal(amr[0], "pwd");
    assert_string_equal(amr[1], "otp");
    int64_t at = 0;
    assert_true(ts_authn_principal_auth_time(p, &at));
    assert_int_equal(at, TK_NOW - 1000);

    static const char *mfa[] = {"mfa", "pwd"};
    ts_authn_requirement rq = TS_AUTHN_REQUIREMENT_INIT;
    bool age = true;
    assert_int_equal(ts_authn_require(v, p, &rq, &age, NULL), TS_AUTHN_OK); /* nothing asked */
    assert_false(age);
    rq.acr_values = mfa;
    rq.n_acr_values = 1;
    ts_error err;
    assert_int_equal(ts_authn_require(v, p, &rq, &age, &err),
                     TS_AUTHN_INSUFFICIENT_USER_AUTHENTICATION);
    assert_false(age);
    assert_string_equal(err.where, "acr");
    rq.n_acr_values = 2;
    assert_int_equal(ts_authn_require(v, p, &rq, &age, NULL), TS_AUTHN_OK);
    rq.max_age_s = 900; /* 1000 s old, leeway 60 s */
    assert_int_equal(ts_authn_require(v, p, &rq, &age, &err),
                     TS_AUTHN_INSUFFICIENT_USER_AUTHENTICATION);
    assert_true(age);
    assert_string_equal(err.where, "auth_time");
    rq.max_age_s = 940;
    assert_int_equal(ts_authn_require(v, p, &rq, &age, NULL), TS_AUTHN_OK);
    /* Invalid requirements are the caller's fault. */
    static const char *bad[] = {"a b"};
    rq.acr_values = bad;
    rq.n_acr_values = 1;
    assert_int_equal(ts_authn_require(v, p, &rq, &age, NULL), TS_AUTHN_INTERNAL);
    assert_int_equal(ts_authn_require(v, NULL, &rq, &age, NULL), TS_AUTHN_INTERNAL);
    ts_authn_principal_free(p);
    ts_free(tok);

    /* No amr, no auth_time, no acr. */
    tok = mint(f, "\"amr\":\"pwd\"");
    assert_int_equal(ts_authn_verify(v, tok, strlen(tok), &p, NULL, NULL), TS_AUTHN_OK);
    assert_null(ts_authn_principal_acr(p));
    assert_null(ts_authn_principal_amr(p, &n));
    assert_int_equal(n, 0);
    assert_false(ts_authn_principal_auth_time(p, &at));
    assert_int_equal(at, 0);
    ts_authn_principal_free(p);
    ts_free(tok);
    ts_authn_verifier_free(v);
}

static void test_options_refused(void **state)
{
    fx *f = *state;
    static const char *const bad[][1] = {{""}, {"a b"}, {"a\"b"}, {"a\\b"}, {"a\tb"}, {NULL}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ts_authn_options o = TS_AUTHN_OPTIONS_INIT;
        o.issuers = iss;
        o.n_issuers = 1;
        o.audiences = aud;
        o.n_audiences = 1;
        o.keys = f->keys;
        o.acr_values = bad[i];
        o.n_acr_values = 1;
        ts_error err;
        assert_null(ts_authn_verifier_new(&o, &err));
        assert_string_equal(err.where, "acr_values[0]");
    }
    ts_authn_options o = TS_AUTHN_OPTIONS_INIT;
    o.issuers = iss;
    o.n_issuers = 1;
    o.audiences = aud;
    o.n_audiences = 1;
    o.keys = f->keys;
    o.max_auth_age_s = -1;
    ts_error err;
    assert_null(ts_authn_verifier_new(&o, &err));
    assert_string_equal(err.where, "max_auth_age_s");
}

static void test_challenge_and_body(void **state)
{
    (void)state;
    static const char *acr[] = {"urn:mfa", "phr"};
    ts_authn_requirement rq = TS_AUTHN_REQUIREMENT_INIT;
    rq.acr_values = acr;
    rq.n_acr_values = 2;
    rq.max_age_s = 300;
    char *w = NULL;
    assert_int_equal(ts_authn_stepup_challenge(&rq, false, NULL, &w, NULL), TS_OK);
    assert_string_equal(w, "Bearer error=\"insufficient_user_authentication\", "
                           "acr_values=\"urn:mfa phr\"");
    ts_free(w);
    assert_int_equal(ts_authn_stepup_challenge(&rq, true, "api", &w, NULL), TS_OK);
    assert_string_equal(w, "Bearer realm=\"api\", error=\"insufficient_user_authentication\", "
                           "acr_values=\"urn:mfa phr\", max_age=\"300\"");
    ts_free(w);
    rq.n_acr_values = 0;
    assert_int_equal(ts_authn_stepup_challenge(&rq, true, NULL, &w, NULL), TS_OK);
    assert_string_equal(w, "Bearer error=\"insufficient_user_authentication\", max_age=\"300\"");
    ts_free(w);
    ts_error err;
    assert_int_equal(ts_authn_stepup_challenge(&rq, true, "a\"b", &w, &err), TS_EINVAL);
    assert_null(w);
    assert_int_equal(
        ts_authn_refusal_challenge(TS_AUTHN_INSUFFICIENT_USER_AUTHENTICATION, NULL, &w, NULL),
        TS_OK);
    assert_string_equal(w, "Bearer error=\"insufficient_user_authentication\"");
    ts_free(w);
    assert_int_equal(ts_authn_refusal_status(TS_AUTHN_INSUFFICIENT_USER_AUTHENTICATION), 401);
    ts_authn_refused_request rq2 = {"GET", 3, "/admin", 6, NULL, 0};
    char *body = NULL;
    assert_int_equal(
        ts_authn_refusal_body(TS_AUTHN_INSUFFICIENT_USER_AUTHENTICATION, &rq2, &body, NULL, NULL),
        TS_OK);
    assert_string_equal(
        body, "{\"schema_version\":\"authz.deny.v1\",\"code\":\"AUTHN_STEP_UP\",\"message\":"
              "\"stronger or more recent authentication required\",\"decision\":\"deny\","
              "\"reason\":\"insufficient_user_authentication\",\"mode\":\"enforce\","
              "\"principal\":{\"id\":\"\",\"type\":\"unknown\"},\"input\":{\"object\":"
              "\"/admin\",\"action\":\"GET\"},\"policy_version\":\"\",\"request\":{\"method\":"
              "\"GET\",\"path\":\"/admin\"},\"details\":{\"authn_reason\":"
              "\"insufficient_user_authentication\"}}\n");
    ts_free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_acr_set, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_does_not_bypass, setup, teardown),
        cmocka_unit_test_setup_teardown(test_require_per_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_options_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_challenge_and_body, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
