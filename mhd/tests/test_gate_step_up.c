/* The gate's step-up rules (RFC 9470) over real libmicrohttpd: a route that needs an acr or a
 * recent authentication answers 401 with the exact challenge and an authz.deny.v1 body, per
 * method and on the normalised path, before the policy decides, on every request (a cached
 * token included); rules from a gate file; the errors of rules. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "gatenet.h"

static gate_fixture fx;
static gate_log logbuf = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* A token of @p role with @p acr (NULL: none) and auth_time @p age seconds ago (< 0: none). */
static char *mint(ts_testutil_role role, const char *acr, long age)
{
    ts_testutil_token *b = ts_testutil_token_new(fx.key, NULL);
    static const char *const aud[] = {GT_AUDIENCE};
    assert_non_null(b);
    assert_int_equal(ts_testutil_token_set_issuer(b, GT_ISSUER, NULL), TS_OK);
    assert_int_equal(ts_testutil_token_set_audience(b, aud, 1, NULL), TS_OK);
    assert_int_equal(ts_testutil_token_set_principal(b, ts_testutil_principal_get(role), NULL),
                     TS_OK);
    if (acr)
        assert_int_equal(ts_testutil_token_set_claim_string(b, "acr", acr, NULL), TS_OK);
    if (age >= 0) {
        char at[32];
        snprintf(at, sizeof at, "%lld", (long long)time(NULL) - age);
        assert_int_equal(ts_testutil_token_set_claim_json(b, "auth_time", at, NULL), TS_OK);
    }
    char *t = ts_testutil_token_mint(b, TS_TESTUTIL_FLAW_NONE, NULL);
    ts_testutil_token_free(b);
    assert_non_null(t);
    return t;
}

static const char *const mfa[] = {"urn:mfa", "phr"};
static const ts_mhd_step_up rules[] = {
    {"/v1/nodes/*", "DELETE", mfa, 2, 0},
    {"/v1/whoami", NULL, NULL, 0, 300},
};

static void request(const gate_service *s, const char *method, const char *path, const char *tok,
                    int status, const char *www)
{
    static gate_reply r;
    char h[512];
    gate_request(s->port, method, path, tok, &r);
    const char *got = gate_header(&r, "WWW-Authenticate", h, sizeof h);
    if (r.status != status || strcmp(got, www) != 0)
        fail_msg("%s %s: %d [%s] %s, want %d [%s]", method, path, r.status, got, r.body, status,
                 www);
    if (status == 401 && strstr(www, "insufficient_user_authentication") &&
        (!strstr(r.body, "\"schema_version\":\"authz.deny.v1\"") ||
         !strstr(r.body, "\"code\":\"AUTHN_STEP_UP\"") ||
         !strstr(r.body, "\"reason\":\"insufficient_user_authentication\"")))
        fail_msg("%s %s: body %s", method, path, r.body);
}

#define WWW_ACR                                                                                    \
    "Bearer realm=\"gate-test\", error=\"insufficient_user_authentication\", "                     \
    "acr_values=\"urn:mfa phr\""
#define WWW_AGE                                                                                    \
    "Bearer realm=\"gate-test\", error=\"insufficient_user_authentication\", max_age=\"300\""

static void test_step_up(void **state)
{
    (void)state;
    gate_log_clear(&logbuf);
    ts_mhd_gate_options o = gate_options(&fx, &logbuf);
    o.realm = "gate-test";
    o.step_up = rules;
    o.n_step_up = 2;
    gate_service s;
    memset(&s, 0, sizeof s); /* the counters start at 0 */
    ts_error err;
    s.gate = ts_mhd_gate_new(&o, &err);
    if (!s.gate)
        fail_msg("%s: %s", err.where, err.msg);
    assert_int_equal(gate_service_start(&s), 0);
    char *admin_pwd = mint(TS_TESTUTIL_ADMIN, "pwd", -1),
         *admin_mfa = mint(TS_TESTUTIL_ADMIN, "urn:mfa", -1),
         *admin_none = mint(TS_TESTUTIL_ADMIN, NULL, -1),
         *admin_phr = mint(TS_TESTUTIL_ADMIN, "phr", 10),
         *viewer_mfa = mint(TS_TESTUTIL_VIEWER, "urn:mfa", -1),
         *viewer_pwd = mint(TS_TESTUTIL_VIEWER, "pwd", -1),
         *old = mint(TS_TESTUTIL_VIEWER, NULL, 3600), *fresh = mint(TS_TESTUTIL_VIEWER, NULL, 10);

    /* The acr rule: DELETE below /v1/nodes only. */
    request(&s, "DELETE", "/v1/nodes/n1", admin_pwd, 401, WWW_ACR);
    request(&s, "DELETE", "/v1/nodes/n1", admin_pwd, 401, WWW_ACR); /* cached: judged again */
    request(&s, "DELETE", "/v1/nodes/n1", admin_none, 401, WWW_ACR);
    request(&s, "DELETE", "/v1/nodes/../nodes/n1", admin_pwd, 401, WWW_ACR);
    request(&s, "DELETE", "/v1/nodes/n1", admin_mfa, 200, "");
    request(&s, "DELETE", "/v1/nodes/n1", admin_phr, 200, "");
    request(&s, "GET", "/v1/nodes/n1", admin_pwd, 200, "");
    request(&s, "GET", "/v1/nodes", admin_pwd, 200, "");
    /* Step-up before the policy: a viewer with the acr is then refused by the policy. */
    request(&s, "DELETE", "/v1/nodes/n1", viewer_pwd, 401, WWW_ACR);
    request(&s, "DELETE", "/v1/nodes/n1", viewer_mfa, 403, "");
    /* A bad token is authn's refusal, not a step-up. */
    request(&s, "DELETE", "/v1/nodes/n1", fx.expired, 401,
            "Bearer realm=\"gate-test\", error=\"invalid_token\"");
    assert_true(gate_log_has(&logbuf, "\"reason\":\"insufficient_user_authentication\"",
                             "\"acr\":\"pwd\"", "\"jti\":", "\"path\":\"/v1/nodes/n1\"", NULL));
    assert_false(gate_log_has(&logbuf, admin_pwd, NULL)); /* never the token */

    /* The age rule, on an authn-only path: max_age in the challenge. */
    request(&s, "GET", "/v1/whoami", old, 401, WWW_AGE);
    request(&s, "GET", "/v1/whoami", admin_pwd, 401, WWW_AGE); /* no auth_time */
    request(&s, "GET", "/v1/whoami", fresh, 200, "");
    request(&s, "POST", "/v1/whoami", fresh, 200, "");
    ts_free(admin_pwd), ts_free(admin_mfa), ts_free(admin_none), ts_free(admin_phr);
    ts_free(viewer_mfa), ts_free(viewer_pwd), ts_free(old), ts_free(fresh);
    gate_service_stop(&s);
    /* Each request served (200) handed its principal on and got it freed; no other did. */
    assert_int_equal(atomic_load(&s.principals), 6);
}

/* Rules from a gate file behave the same; mistakes name the rule and the member. */
static void test_step_up_file(void **state)
{
    (void)state;
    char text[1024], path[192];
    snprintf(text, sizeof text,
             "{\"issuers\": \"" GT_ISSUER "\", \"audiences\": \"" GT_AUDIENCE "\", "
             "\"jwks\": \"%s\", \"realm\": \"gate-test\", \"authn_only_paths\": [\"/v1/whoami\"], "
             "\"routes\": [{\"method\": \"DELETE\", \"pattern\": \"/v1/nodes/:id\", \"object\": "
             "\"metadata:nodes\"}], "
             "\"step_up\": [{\"path\": \"/v1/nodes/*\", \"method\": \"DELETE\", \"acr_values\": "
             "[\"urn:mfa\", \"phr\"]}, {\"path\": \"/v1/whoami\", \"max_age_s\": 300}]}",
             fx.jwks_path);
    snprintf(path, sizeof path, "%s", gt_write(&fx, "step_up.json", text));
    ts_mhd_gate_options base = TS_MHD_GATE_OPTIONS_INIT;
    base.log = gate_log_line;
    base.log_ud = &logbuf;
    gate_service s;
    memset(&s, 0, sizeof s);
    ts_error err;
    s.gate = ts_mhd_gate_new_file(path, &base, &err);
    if (!s.gate)
        fail_msg("%s: %s", err.where, err.msg);
    assert_int_equal(gate_service_start(&s), 0);
    char *pwd = mint(TS_TESTUTIL_ADMIN, "pwd", 3600), *mfa_tok = mint(TS_TESTUTIL_ADMIN, "phr", 5);
    request(&s, "DELETE", "/v1/nodes/n1", pwd, 401, WWW_ACR);
    request(&s, "DELETE", "/v1/nodes/n1", mfa_tok, 200, "");
    request(&s, "GET", "/v1/whoami", pwd, 401, WWW_AGE);
    request(&s, "GET", "/v1/whoami", mfa_tok, 200, "");
    gate_service_stop(&s);
    ts_free(pwd);
    ts_free(mfa_tok);

#define START                                                                                      \
    "{\"issuers\": \"" GT_ISSUER "\", \"audiences\": \"" GT_AUDIENCE "\", \"jwks\": \"%s\", "
    static const struct {
        const char *text, *where, *says;
    } cases[] = {
        {START "\"step_up\": {}}", "step_up", "expected an array"},
        {START "\"step_up\": [{\"acr_values\": [\"a\"]}]}", "step_up[0].path", "missing"},
        {START "\"step_up\": [{\"path\": \"/a\"}]}", "step_up[0].acr_values", "acr_values or"},
        {START "\"step_up\": [{\"path\": \"/a\", \"acr_values\": []}]}", "step_up[0].acr_values",
         "non-empty array"},
        {START "\"step_up\": [{\"path\": \"/a\", \"acr_values\": [\"a b\"]}]}",
         "step_up[0].acr_values[0]", "space"},
        {START "\"step_up\": [{\"path\": \"/a\", \"acr_values\": [7]}]}",
         "step_up[0].acr_values[0]", "expected a string"},
        {START "\"step_up\": [{\"path\": \"/a\", \"max_age_s\": -5}]}", "step_up[0].max_age_s",
         "integer from 0"},
        {START "\"step_up\": [{\"path\": \"a\", \"max_age_s\": 5}]}", "step_up[0].path", "/path"},
        {START "\"step_up\": [{\"path\": \"/a\", \"max_age_s\": 5, \"acr\": \"x\"}]}",
         "step_up[0].acr", "unknown member"},
        {START "\"step_up\": [{\"path\": \"/a\", \"max_age_s\": 5, \"method\": \"\"}]}",
         "step_up[0].method", "empty"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *at = strstr(cases[i].text, "%s"); /* the JWKS file's path goes there */
        snprintf(text, sizeof text, "%.*s%s%s", (int)(at - cases[i].text), cases[i].text,
                 fx.jwks_path, at + 2);
        snprintf(path, sizeof path, "%s", gt_write(&fx, "bad.json", text));
        ts_error_clear(&err);
        ts_mhd_gate *g = ts_mhd_gate_new_file(path, NULL, &err);
        if (g) {
            ts_mhd_gate_free(g);
            fail_msg("case %zu accepted: %s", i, text);
        }
        if (!strstr(err.where, cases[i].where) || !strstr(err.msg, cases[i].says))
            fail_msg("case %zu: where \"%s\", message \"%s\": want \"%s\" and \"%s\"", i, err.where,
                     err.msg, cases[i].where, cases[i].says);
    }
}

int main(void)
{
    if (gate_fixture_init(&fx) != 0) {
        fprintf(stderr, "set-up failed\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step_up),
        cmocka_unit_test(test_step_up_file),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    gate_fixture_cleanup(&fx);
    return rc;
}
