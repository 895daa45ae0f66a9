/* Refusals as every front answers them (refusal.c): the status by reason, the authz.deny.v1
   body byte for byte (the shapes docs/authn.md shows), the RFC 6750 challenge with and without
   a realm, the request id rule and what untrusted method and path bytes become. */
#include "testkit.h"

/* A value that a call must overwrite. */
static char untouched[] = "untouched";

static const ts_authn_refused_request rq42 = {.method = "GET",
                                              .method_len = 3,
                                              .path = "/api/things",
                                              .path_len = 11,
                                              .request_id = "req-42",
                                              .request_id_len = 6};

static char *body_of(ts_authn_reason r, const ts_authn_refused_request *rq)
{
    char *b = NULL;
    size_t n = 0;
    ts_error err;
    ts_error_clear(&err);
    if (ts_authn_refusal_body(r, rq, &b, &n, &err) != TS_OK)
        fail_msg("refusal body: %s", err.msg);
    assert_int_equal(n, strlen(b));
    return b;
}

static void test_status(void **state)
{
    (void)state;
    assert_int_equal(ts_authn_refusal_status(TS_AUTHN_OK), 0);
    assert_int_equal(ts_authn_refusal_status(TS_AUTHN_INTERNAL), 503);
    static const ts_authn_reason verdicts[] = {
        TS_AUTHN_MISSING_TOKEN,    TS_AUTHN_TOO_LARGE,      TS_AUTHN_MALFORMED,
        TS_AUTHN_KEYS_UNAVAILABLE, TS_AUTHN_BAD_SIGNATURE,  TS_AUTHN_EXPIRED,
        TS_AUTHN_WRONG_ISSUER,     TS_AUTHN_WRONG_AUDIENCE, TS_AUTHN_UNKNOWN_KID};
    for (size_t i = 0; i < sizeof verdicts / sizeof verdicts[0]; i++)
        assert_int_equal(ts_authn_refusal_status(verdicts[i]), 401);
}

/* The exact bytes of the three shapes (what the hook has always sent). */
static void test_body_golden(void **state)
{
    (void)state;
    static const char common[] =
        "\"decision\":\"deny\",%s\"mode\":\"enforce\",\"principal\":{\"id\":\"\",\"type\":"
        "\"unknown\"},\"input\":{\"object\":\"/api/things\",\"action\":\"GET\"},"
        "\"policy_version\":\"\",\"request\":{\"method\":\"GET\",\"path\":\"/api/things\"},"
        "\"request_id\":\"req-42\"%s}\n";
    const struct {
        ts_authn_reason r;
        const char *head, *reason, *details;
    } cases[] = {
        {TS_AUTHN_MISSING_TOKEN, "AUTHN_REQUIRED\",\"message\":\"authentication required",
         "\"reason\":\"no_principal\",", ""},
        {TS_AUTHN_BAD_SIGNATURE, "AUTHN_INVALID\",\"message\":\"invalid token",
         "\"reason\":\"invalid_token\",", ",\"details\":{\"authn_reason\":\"bad_signature\"}"},
        {TS_AUTHN_KEYS_UNAVAILABLE, "AUTHN_INVALID\",\"message\":\"invalid token",
         "\"reason\":\"invalid_token\",", ",\"details\":{\"authn_reason\":\"keys_unavailable\"}"},
        {TS_AUTHN_INTERNAL,
         "AUTHN_UNAVAILABLE\",\"message\":\"authentication could not be completed",
         "\"reason\":\"internal_error\",", ",\"details\":{\"authn_reason\":\"internal_error\"}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char tail[1024], want[1200];
        snprintf(tail, sizeof tail, common, cases[i].reason, cases[i].details);
        snprintf(want, sizeof want, "{\"schema_version\":\"authz.deny.v1\",\"code\":\"%s\",%s",
                 cases[i].head, tail);
        char *b = body_of(cases[i].r, &rq42);
        assert_string_equal(b, want);
        ts_free(b);
    }
    /* The first shape exactly as docs/authn.md prints it. */
    char *b = body_of(TS_AUTHN_MISSING_TOKEN, &rq42);
    assert_string_equal(
        b, "{\"schema_version\":\"authz.deny.v1\",\"code\":\"AUTHN_REQUIRED\",\"message\":"
           "\"authentication required\",\"decision\":\"deny\",\"reason\":\"no_principal\","
           "\"mode\":\"enforce\",\"principal\":{\"id\":\"\",\"type\":\"unknown\"},\"input\":{"
           "\"object\":\"/api/things\",\"action\":\"GET\"},\"policy_version\":\"\",\"request\":{"
           "\"method\":\"GET\",\"path\":\"/api/things\"},\"request_id\":\"req-42\"}\n");
    ts_free(b);
}

/* Untrusted bytes: lengths are honoured (no NUL needed), a request id is echoed only when it
   is 1-128 bytes of visible ASCII, and text that is not UTF-8 is left out, never copied raw. */
static void test_body_untrusted(void **state)
{
    (void)state;
    ts_authn_refused_request rq = {.method = "GETX",
                                   .method_len = 3,
                                   .path = "/a/b?c",
                                   .path_len = 4,
                                   .request_id = "abcdef",
                                   .request_id_len = 3};
    char *b = body_of(TS_AUTHN_EXPIRED, &rq);
    assert_non_null(strstr(b, "\"input\":{\"object\":\"/a/b\",\"action\":\"GET\"}"));
    assert_non_null(strstr(b, "\"request_id\":\"abc\""));
    ts_free(b);

    char longest[129];
    memset(longest, '7', 128);
    static const struct {
        const char *id;
        size_t len;
        bool echoed;
    } ids[] = {{"a b", 3, false},   {"a\"b", 3, true},     {"caf\xc3\xa9", 5, false},
               {"x\x01", 2, false}, {"x\x7f", 2, false},   {"", 0, false},
               {NULL, 0, false},    {"a-b_c.d:e", 9, true}};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        rq.request_id = ids[i].id;
        rq.request_id_len = ids[i].len;
        b = body_of(TS_AUTHN_EXPIRED, &rq);
        if ((strstr(b, "\"request_id\"") != NULL) != ids[i].echoed)
            fail_msg("request id %zu: %s", i, b);
        ts_free(b);
    }
    rq.request_id = longest;
    rq.request_id_len = 128;
    b = body_of(TS_AUTHN_EXPIRED, &rq);
    assert_non_null(strstr(b, "\"request_id\":\"7777"));
    ts_free(b);
    rq.request_id_len = 129;
    longest[128] = '7';
    rq.request_id = longest;
    b = body_of(TS_AUTHN_EXPIRED, &rq);
    assert_null(strstr(b, "\"request_id\""));
    ts_free(b);

    /* A path that is not UTF-8: left out of input and request; the rest stays. */
    rq.path = "/caf\xe9";
    rq.path_len = 5;
    rq.request_id = NULL;
    b = body_of(TS_AUTHN_EXPIRED, &rq);
    assert_non_null(strstr(b, "\"input\":{\"action\":\"GET\"}"));
    assert_non_null(strstr(b, "\"request\":{\"method\":\"GET\"}"));
    assert_null(strstr(b, "caf"));
    ts_free(b);
    /* NULL method and path: empty strings. */
    ts_authn_refused_request none = {0};
    b = body_of(TS_AUTHN_MISSING_TOKEN, &none);
    assert_non_null(strstr(b, "\"request\":{\"method\":\"\",\"path\":\"\"}"));
    ts_free(b);
}

static void test_body_errors(void **state)
{
    (void)state;
    char *b = untouched;
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_authn_refusal_body(TS_AUTHN_OK, &rq42, &b, NULL, &err), TS_EINVAL);
    assert_null(b);
    assert_int_equal(ts_authn_refusal_body(TS_AUTHN_EXPIRED, NULL, &b, NULL, NULL), TS_EINVAL);
    assert_int_equal(ts_authn_refusal_body(TS_AUTHN_EXPIRED, &rq42, NULL, NULL, NULL), TS_EINVAL);
}

static void test_challenge(void **state)
{
    (void)state;
    const struct {
        ts_authn_reason r;
        const char *realm, *want;
    } cases[] = {
        {TS_AUTHN_MISSING_TOKEN, NULL, "Bearer"},
        {TS_AUTHN_MISSING_TOKEN, "api", "Bearer realm=\"api\""},
        {TS_AUTHN_MALFORMED, NULL, "Bearer error=\"invalid_token\""},
        {TS_AUTHN_EXPIRED, "api", "Bearer realm=\"api\", error=\"invalid_token\""},
        {TS_AUTHN_KEYS_UNAVAILABLE, "", "Bearer realm=\"\", error=\"invalid_token\""},
        {TS_AUTHN_INTERNAL, "api", NULL},
        {TS_AUTHN_INTERNAL, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *w = untouched;
        assert_int_equal(ts_authn_refusal_challenge(cases[i].r, cases[i].realm, &w, NULL), TS_OK);
        if (cases[i].want)
            assert_string_equal(w, cases[i].want);
        else
            assert_null(w);
        ts_free(w);
    }
    /* A long realm is never cut. */
    char realm[2001], want[2100];
    memset(realm, 'x', 2000);
    realm[2000] = '\0';
    snprintf(want, sizeof want, "Bearer realm=\"%s\", error=\"invalid_token\"", realm);
    char *w = NULL;
    assert_int_equal(ts_authn_refusal_challenge(TS_AUTHN_EXPIRED, realm, &w, NULL), TS_OK);
    assert_string_equal(w, want);
    ts_free(w);
    /* What a quoted-string cannot carry unescaped is refused, for a 503 too. */
    static const char *const bad[] = {"a\"b", "a\\b", "a\rb", "a\nb", "a\x01", "\x7f"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ts_error err;
        ts_error_clear(&err);
        w = untouched;
        assert_int_equal(ts_authn_refusal_challenge(TS_AUTHN_INTERNAL, bad[i], &w, &err),
                         TS_EINVAL);
        assert_null(w);
        assert_string_equal(err.where, "realm");
    }
    assert_int_equal(ts_authn_refusal_challenge(TS_AUTHN_OK, NULL, &w, NULL), TS_EINVAL);
    assert_int_equal(ts_authn_refusal_challenge(TS_AUTHN_EXPIRED, NULL, NULL, NULL), TS_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status),         cmocka_unit_test(test_body_golden),
        cmocka_unit_test(test_body_untrusted), cmocka_unit_test(test_body_errors),
        cmocka_unit_test(test_challenge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
