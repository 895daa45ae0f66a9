/* The upstream authentication context (amr, acr, auth_time) per provider: carried as it is by
   default, not at all with carry_auth_context false (nor read: a malformed one cannot refuse
   the exchange then), acr values renamed through acr_map (an unnamed one is not carried); the
   settings' errors and their canonical JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <tokensmith/oidc.h>

static ts_oidc_config *parse(const char *extra, ts_error *e)
{
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"providers\":[{\"issuer\":\"https://idp.example.com\",\"client_id\":\"ts\","
             "\"audiences\":[\"smd\"]%s}]}",
             extra);
    ts_error_clear(e);
    return ts_oidc_config_parse(cfg, strlen(cfg), e);
}

static ts_oidc_reason map(const ts_oidc_config *c, const char *members, ts_oidc_claims **out)
{
    char claims[1024];
    snprintf(claims, sizeof claims, "{\"iss\":\"https://idp.example.com\",\"sub\":\"alice\"%s}",
             members);
    ts_error e;
    ts_error_clear(&e);
    *out = NULL;
    return ts_oidc_map_claims(c, claims, strlen(claims), NULL, out, &e);
}

static const char ctx[] =
    ",\"acr\":\"urn:idp:mfa\",\"amr\":[\"pwd\",\"otp\"],\"auth_time\":1700000000";

static void test_default_carries(void **state)
{
    (void)state;
    ts_error e;
    ts_oidc_config *c = parse("", &e);
    assert_non_null(c);
    ts_oidc_claims *o = NULL;
    assert_int_equal(map(c, ctx, &o), TS_OIDC_OK);
    assert_string_equal(o->acr, "urn:idp:mfa");
    assert_int_equal(o->n_amr, 2);
    assert_int_equal(o->auth_time, 1700000000);
    ts_oidc_claims_free(o);
    char *j = ts_oidc_config_to_json(c, false, &e);
    assert_non_null(strstr(j, "\"carry_auth_context\":true,\"acr_map\":{}"));
    ts_free(j);
    ts_oidc_config_free(c);
}

static void test_not_carried(void **state)
{
    (void)state;
    ts_error e;
    ts_oidc_config *c = parse(",\"carry_auth_context\":false", &e);
    assert_non_null(c);
    ts_oidc_claims *o = NULL;
    assert_int_equal(map(c, ctx, &o), TS_OIDC_OK);
    assert_null(o->acr);
    assert_int_equal(o->n_amr, 0);
    assert_int_equal(o->auth_time, 0);
    char *cj = ts_oidc_claims_to_json(o, &e);
    assert_null(strstr(cj, "acr"));
    assert_null(strstr(cj, "auth_time"));
    ts_free(cj);
    ts_oidc_claims_free(o);
    /* Not read: a malformed context does not refuse the exchange. */
    assert_int_equal(map(c, ",\"auth_time\":\"yesterday\",\"acr\":\"a\\nb\"", &o), TS_OIDC_OK);
    ts_oidc_claims_free(o);
    char *j = ts_oidc_config_to_json(c, true, &e);
    assert_non_null(strstr(j, "\"carry_auth_context\":false"));
    ts_oidc_config *c2 = ts_oidc_config_parse(j, strlen(j), &e);
    char *j2 = ts_oidc_config_to_json(c2, true, &e);
    assert_string_equal(j, j2); /* the canonical form parses back to itself */
    ts_free(j);
    ts_free(j2);
    ts_oidc_config_free(c2);
    ts_oidc_config_free(c);
    /* Carried, it is checked. */
    c = parse("", &e);
    assert_int_equal(map(c, ",\"auth_time\":\"yesterday\"", &o), TS_OIDC_INVALID_CLAIM);
    assert_null(o);
    ts_oidc_config_free(c);
}

static void test_acr_map(void **state)
{
    (void)state;
    ts_error e;
    ts_oidc_config *c = parse(",\"acr_map\":{\"urn:idp:mfa\":\"mfa\",\"urn:idp:pwd\":\"pwd\"}", &e);
    assert_non_null(c);
    ts_oidc_claims *o = NULL;
    assert_int_equal(map(c, ctx, &o), TS_OIDC_OK);
    assert_string_equal(o->acr, "mfa");
    assert_int_equal(o->n_amr, 2); /* amr and auth_time as they are */
    assert_int_equal(o->auth_time, 1700000000);
    ts_oidc_claims_free(o);
    /* A value the map does not name is not carried; the rest of the context is. */
    assert_int_equal(map(c, ",\"acr\":\"urn:idp:MFA\",\"auth_time\":5", &o), TS_OIDC_OK);
    assert_null(o->acr);
    assert_int_equal(o->auth_time, 5);
    ts_oidc_claims_free(o);
    assert_int_equal(map(c, "", &o), TS_OIDC_OK);
    assert_null(o->acr);
    ts_oidc_claims_free(o);
    char *j = ts_oidc_config_to_json(c, false, &e);
    assert_non_null(strstr(j, "\"acr_map\":{\"urn:idp:mfa\":\"mfa\",\"urn:idp:pwd\":\"pwd\"}"));
    ts_free(j);
    ts_oidc_config_free(c);
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *extra, *where;
    } cases[] = {
        {",\"carry_auth_context\":\"no\"", "providers[0].carry_auth_context"},
        {",\"acr_map\":[\"a\"]", "providers[0].acr_map"},
        {",\"acr_map\":{\"a\":\"b c\"}", "providers[0].acr_map.a"},
        {",\"acr_map\":{\"a\":\"\"}", "providers[0].acr_map.a"},
        {",\"acr_map\":{\"a\":\"b\\\"\"}", "providers[0].acr_map.a"},
        {",\"acr_map\":{\"a\":7}", "providers[0].acr_map.a"},
        {",\"acr_map\":{\"a b\":\"c\"}", "providers[0].acr_map.a b"},
        {",\"acr_map\":{\"\":\"c\"}", "providers[0].acr_map."},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ts_error e;
        ts_oidc_config *c = parse(cases[i].extra, &e);
        if (c) {
            ts_oidc_config_free(c);
            fail_msg("case %zu accepted", i);
        }
        if (strcmp(e.where, cases[i].where) != 0)
            fail_msg("case %zu: where \"%s\", want \"%s\" (%s)", i, e.where, cases[i].where, e.msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_carries),
        cmocka_unit_test(test_not_carried),
        cmocka_unit_test(test_acr_map),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
