/* Strict reading of the upstream claims carried into an internal token: control characters in
   any carried string, and a wrongly typed email_verified, refuse the exchange as invalid_claim
   (HTTP 400), never a server error and never a silent drop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <tokensmith/oidc.h>

static const char cfg_json[] =
    "{\"providers\":[{\"issuer\":\"https://idp.example.com\",\"client_id\":\"ts\","
    "\"group_claims\":[\"groups\",\"roles\"],\"group_scopes\":{\"admins\":[\"admin\"]},"
    "\"audiences\":[\"smd\"]}]}";

static int setup(void **state)
{
    ts_error e;
    ts_error_clear(&e);
    *state = ts_oidc_config_parse(cfg_json, strlen(cfg_json), &e);
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    ts_oidc_config_free(*state);
    return 0;
}

/* Map `{"iss":..., <members>}`; on success *out holds the claims. */
static ts_oidc_reason map(const ts_oidc_config *c, const char *members, ts_oidc_claims **out,
                          ts_error *e)
{
    char claims[1024];
    snprintf(claims, sizeof claims, "{\"iss\":\"https://idp.example.com\",%s}", members);
    ts_error_clear(e);
    *out = NULL;
    return ts_oidc_map_claims(c, claims, strlen(claims), NULL, out, e);
}

typedef struct refusal {
    const char *members;
    const char *where;
} refusal;

static void test_control_characters_refused(void **state)
{
    const ts_oidc_config *c = *state;
    static const refusal cases[] = {
        {"\"sub\":\"alice\\nadmin\"", "sub"},
        {"\"sub\":\"alice\\r\"", "sub"},
        {"\"sub\":\"\\u0000alice\"", NULL}, /* NUL: the JSON parser refuses it first */
        {"\"sub\":\"a\\u001bb\"", "sub"},
        {"\"sub\":\"a\\u007fb\"", "sub"},
        {"\"sub\":\"a\\u0085b\"", "sub"}, /* C1: NEL */
        {"\"sub\":\"a\\u009fb\"", "sub"},
        {"\"sub\":\"alice\",\"name\":\"Alice\\nRole: admin\"", "name"},
        {"\"sub\":\"alice\",\"email\":\"a@example.com\\t\"", "email"},
        {"\"sub\":\"alice\",\"acr\":\"urn:mfa\\n\"", "acr"},
        {"\"sub\":\"alice\",\"amr\":[\"pwd\",\"otp\\n\"]", "amr"},
        {"\"sub\":\"alice\",\"amr\":\"pwd\\n\"", "amr"},
        {"\"sub\":\"alice\",\"groups\":[\"admins\",\"ops\\n\"]", "groups"},
        {"\"sub\":\"alice\",\"roles\":\"ops\\u0007\"", "roles"},
        {"\"sub\":\"\"", "sub"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ts_oidc_claims *o;
        ts_error e;
        ts_oidc_reason r = map(c, cases[i].members, &o, &e);
        ts_oidc_reason want = cases[i].where ? TS_OIDC_INVALID_CLAIM : TS_OIDC_MALFORMED;
        if (r != want || (cases[i].where && strcmp(e.where, cases[i].where) != 0))
            fail_msg("case %zu (%s): %s at %s: %s", i, cases[i].members, ts_oidc_reason_str(r),
                     e.where, e.msg);
        assert_null(o);
    }
    /* The token endpoint answers a client error, never a server error. */
    int status = 0;
    assert_string_equal(ts_oidc_reason_oauth_error(TS_OIDC_INVALID_CLAIM, &status),
                        "invalid_request");
    assert_int_equal(status, 400);
}

static void test_other_characters_kept(void **state)
{
    const ts_oidc_config *c = *state;
    ts_oidc_claims *o;
    ts_error e;
    /* Non-ASCII text, U+00A0 (just past C1) and U+2028 are not control characters (Cc). */
    assert_int_equal(map(c,
                         "\"sub\":\"zo\\u00eb|1\",\"name\":\"Zo\\u00eb\\u00a0Q\\u2028\","
                         "\"amr\":[\"pwd\"],\"groups\":\"admins\"",
                         &o, &e),
                     TS_OIDC_OK);
    assert_string_equal(o->sub, "zo\xc3\xab|1");
    assert_string_equal(o->upstream_sub, "zo\xc3\xab|1");
    assert_string_equal(o->name, "Zo\xc3\xab\xc2\xa0Q\xe2\x80\xa8");
    assert_int_equal(o->n_scopes, 1);
    ts_oidc_claims_free(o);
}

static void test_email_verified_type(void **state)
{
    const ts_oidc_config *c = *state;
    static const char *const wrong[] = {"\"true\"", "\"false\"", "1", "0", "[true]", "{}"};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        char m[128];
        snprintf(m, sizeof m, "\"sub\":\"alice\",\"email\":\"a@x\",\"email_verified\":%s",
                 wrong[i]);
        ts_oidc_claims *o;
        ts_error e;
        ts_oidc_reason r = map(c, m, &o, &e);
        if (r != TS_OIDC_INVALID_CLAIM || strcmp(e.where, "email_verified") != 0)
            fail_msg("email_verified %s: %s at %s", wrong[i], ts_oidc_reason_str(r), e.where);
    }
    static const struct {
        const char *value;
        int want;
    } right[] = {{"true", 1}, {"false", 0}, {"null", -1}};
    for (size_t i = 0; i < sizeof right / sizeof right[0]; i++) {
        char m[128];
        snprintf(m, sizeof m, "\"sub\":\"alice\",\"email_verified\":%s", right[i].value);
        ts_oidc_claims *o;
        ts_error e;
        assert_int_equal(map(c, m, &o, &e), TS_OIDC_OK);
        assert_int_equal(o->email_verified, right[i].want);
        ts_oidc_claims_free(o);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_control_characters_refused),
        cmocka_unit_test(test_other_characters_kept),
        cmocka_unit_test(test_email_verified_type),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
