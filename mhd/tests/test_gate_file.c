/* The gate from a JSON file (ts_mhd_gate_new_file): a file with every member builds a gate
 * that behaves as the options say over real libmicrohttpd, members replace the fields of the
 * base options and callbacks come from there, and every kind of mistake is refused with the
 * file and the member named. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gatenet.h"

static gate_fixture fx;
static gate_log logbuf = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* A complete file: every member the format has. %s is the JWKS file. */
static const char full[] =
    "{\n"
    "  \"issuers\": [\"" GT_ISSUER "\"],\n"
    "  \"audiences\": \"" GT_AUDIENCE "\",\n"
    "  \"jwks\": [\"%s\"],\n"
    "  \"scope_roles\": {\"read\": \"viewer\", \"write\": \"operator\"},\n"
    "  \"public_paths\": [\"/health\", \"/public/*\"],\n"
    "  \"authn_only_paths\": [\"/v1/whoami\"],\n"
    "  \"realm\": \"from-file\",\n"
    "  \"token_cache\": 100,\n"
    "  \"mode\": \"enforce\",\n"
    "  \"routes\": [\n"
    "    {\"method\": \"GET\", \"pattern\": \"/v1/nodes\", \"object\": \"metadata:nodes\"},\n"
    "    {\"method\": \"DELETE\", \"pattern\": \"/v1/nodes/:id\", \"object\": "
    "\"metadata:nodes\", \"action\": \"delete\"}\n"
    "  ],\n"
    "  \"action_style\": \"rest\",\n"
    "  \"allow_unmapped\": false,\n"
    "  \"policy_from_env\": false,\n"
    "  \"decision_cache\": 0,\n"
    "  \"raw_paths\": false,\n"
    "  \"log_allow_sample\": 1,\n"
    "  \"limits\": {\"max_per_address\": 8, \"ipv6_prefix\": 56, \"max_connections\": 100,\n"
    "             \"head_timeout_ms\": 5000, \"body_timeout_ms\": 5000, \"idle_timeout_s\": 5,\n"
    "             \"check_framing\": true, \"log_interval_ms\": 1000}\n"
    "}\n";

/* @p tmpl with its "%s" replaced by the JWKS file's path. */
static void with_jwks(const char *tmpl, char *out, size_t cap)
{
    const char *at = strstr(tmpl, "%s");
    if (!at)
        snprintf(out, cap, "%s", tmpl);
    else
        snprintf(out, cap, "%.*s%s%s", (int)(at - tmpl), tmpl, fx.jwks_path, at + 2);
}

static void test_file_gate(void **state)
{
    (void)state;
    char text[4096];
    with_jwks(full, text, sizeof text);
    char path[192];
    snprintf(path, sizeof path, "%s", gt_write(&fx, "gate.json", text));
    gate_service s;
    memset(&s, 0, sizeof s);
    /* What a file cannot hold comes from the base options: the log and the limits' handler. */
    ts_mhd_gate_options base = TS_MHD_GATE_OPTIONS_INIT;
    base.log = gate_log_line;
    base.log_ud = &logbuf;
    base.limits.handler = gate_handler;
    base.limits.handler_cls = &s;
    base.limits.completed = gate_completed;
    base.limits.completed_cls = &s;
    ts_error err;
    ts_error_clear(&err);
    s.gate = ts_mhd_gate_new_file(path, &base, &err);
    if (!s.gate)
        fail_msg("%s: %s", err.where, err.msg);
    assert_non_null(ts_mhd_gate_limits(s.gate));
    assert_int_equal(gate_service_start(&s), 0);

    static gate_reply r;
    char h[128];
    gate_request(s.port, "GET", "/v1/nodes", NULL, &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(gate_header(&r, "WWW-Authenticate", h, sizeof h),
                        "Bearer realm=\"from-file\"");
    gate_request(s.port, "GET", "/health", NULL, &r);
    assert_int_equal(r.status, 200);
    gate_request(s.port, "GET", "/v1/nodes", fx.reader_scope, &r); /* scope read: viewer */
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "who=reader-svc"));
    gate_request(s.port, "DELETE", "/v1/nodes/n1", fx.viewer, &r);
    assert_int_equal(r.status, 403);
    gate_request(s.port, "DELETE", "/v1/nodes/n1", fx.admin, &r);
    assert_int_equal(r.status, 200);
    gate_request(s.port, "GET", "/v1/whoami", fx.service, &r); /* authn-only */
    assert_int_equal(r.status, 200);
    gate_request(s.port, "GET", "/v1/groups", fx.admin, &r); /* not in the file's table */
    assert_int_equal(r.status, 403);
    assert_non_null(strstr(r.body, "AUTHZ_UNMAPPED"));
    assert_true(gate_log_has(&logbuf, "\"reason\":\"unmapped_route\"", NULL));
    gate_service_stop(&s);

    /* A member replaces the base's field; the others stay: shadow from the file, the base's
     * routes and log, no limits (the base has no handler and the file no "limits"). */
    with_jwks("{\"issuers\": \"" GT_ISSUER "\", \"audiences\": [\"" GT_AUDIENCE
              "\"], \"jwks\": \"%s\", \"mode\": \"shadow\"}",
              text, sizeof text);
    snprintf(path, sizeof path, "%s", gt_write(&fx, "shadow.json", text));
    ts_mhd_gate_options o = gate_options(&fx, &logbuf);
    o.mode = TS_AUTHZ_MODE_ENFORCE;
    memset(&s, 0, sizeof s);
    s.gate = ts_mhd_gate_new_file(path, &o, &err);
    assert_non_null(s.gate);
    assert_null(ts_mhd_gate_limits(s.gate));
    assert_int_equal(gate_service_start(&s), 0);
    gate_request(s.port, "DELETE", "/v1/nodes/n1", fx.viewer, &r); /* shadow: served */
    assert_int_equal(r.status, 200);
    gate_request(s.port, "GET", "/public/x", NULL, &r); /* the base's public paths */
    assert_int_equal(r.status, 200);
    gate_service_stop(&s);
}

/* Each broken file is refused, naming the file and the member. %s: the JWKS file. */
static void test_file_errors(void **state)
{
    (void)state;
#define OK_START "{\"issuers\": \"" GT_ISSUER "\", \"audiences\": \"" GT_AUDIENCE "\", "
    static const struct {
        const char *text, *where, *says;
    } cases[] = {
        {OK_START "\"jwks\": \"%s\", \"audience\": \"x\"}", "audience", "unknown member"},
        {OK_START "\"jwks\": \"%s\", \"routes\": [{\"method\": \"GET\", \"pattern\": \"/a\", "
                  "\"object\": \"o\"}, {\"method\": \"GET\", \"pattern\": \"/b\", \"object\": 7}]}",
         "routes[1].object", "expected a string"},
        {OK_START "\"jwks\": \"%s\", \"routes\": [{\"method\": \"GET\", \"object\": \"o\"}]}",
         "routes[0].pattern", "missing"},
        {OK_START "\"jwks\": \"%s\", \"routes\": [{\"method\": \"GET\", \"pattern\": \"/a\", "
                  "\"object\": \"o\", \"verb\": \"read\"}]}",
         "routes[0].verb", "unknown member"},
        {OK_START "\"jwks\": \"%s\", \"routes\": {}}", "routes", "expected an array"},
        {OK_START "\"jwks\": \"%s\", \"mode\": \"enforcing\"}", "mode", "\"shadow\""},
        {OK_START "\"jwks\": \"%s\", \"mode\": 2}", "mode", "\"enforce\""},
        {OK_START "\"jwks\": \"%s\", \"scope_roles\": {\"read\": [\"viewer\"]}}",
         "scope_roles.read", "expected a string"},
        {OK_START "\"jwks\": \"%s\", \"scope_roles\": [\"read=viewer\"]}", "scope_roles",
         "expected an object"},
        {OK_START "\"jwks\": \"%s\", \"token_cache\": -1}", "token_cache", "integer from 0"},
        {OK_START "\"jwks\": \"%s\", \"decision_cache\": 1.5}", "decision_cache", "integer from 0"},
        {OK_START "\"jwks\": \"%s\", \"allow_unmapped\": \"yes\"}", "allow_unmapped",
         "true or false"},
        {OK_START "\"jwks\": \"%s\", \"action_style\": \"crud\"}", "action_style", "\"rest\""},
        {OK_START "\"jwks\": \"%s\", \"public_paths\": [\"/health\", 3]}", "public_paths[1]",
         "expected a string"},
        {OK_START "\"jwks\": \"%s\", \"public_paths\": [\"health\"]}", "public_paths", "\"/path\""},
        {OK_START "\"jwks\": [\"%s\", \"\"]}", "jwks[1]", "empty string"},
        {OK_START "\"jwks\": \"%s\", \"authn_only_paths\": [\"/a*\"]}", "authn_only_paths",
         "\"/path\""},
        {OK_START "\"jwks\": \"%s\", \"limits\": {\"max_per_address\": 4}}", "limits",
         "limits.handler"},
        {"{\"issuers\": \"" GT_ISSUER "\", \"issuers\": \"x\", \"jwks\": \"%s\"}", "", "duplicate"},
        {"{\"issuers\": \"" GT_ISSUER "\",\n \"jwks\": \"%s\",\n}", "", "line 3"},
        {"[\"%s\"]", "", "expected a JSON object"},
        {"{\"issuers\": [], \"audiences\": \"" GT_AUDIENCE "\", \"jwks\": \"%s\"}", "issuers",
         "at least one issuer"},
        {OK_START "\"jwks\": \"%s\", \"realm\": \"a\\\"b\"}", "realm", "quotes"},
        {OK_START "\"jwks\": \"%s\", \"policy_dir\": \"/nonexistent/policy\"}",
         "/nonexistent/policy", "No such file"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[2048], path[192];
        with_jwks(cases[i].text, text, sizeof text);
        snprintf(path, sizeof path, "%s", gt_write(&fx, "bad.json", text));
        ts_error err;
        ts_error_clear(&err);
        ts_mhd_gate *g = ts_mhd_gate_new_file(path, NULL, &err);
        if (g) {
            ts_mhd_gate_free(g);
            fail_msg("case %zu accepted: %s", i, text);
        }
        /* `where` is "<file>: <member>", the message says what is wrong. */
        bool where_ok = strstr(err.where, cases[i].where) != NULL;
        bool file_ok = strncmp(err.where, path, strlen(path)) == 0;
        if (!where_ok || !strstr(err.msg, cases[i].says) || !file_ok)
            fail_msg("case %zu: where \"%s\", message \"%s\": want \"%s\" and \"%s\"", i, err.where,
                     err.msg, cases[i].where, cases[i].says);
    }
    /* A missing file, and a file over the size bound. */
    ts_error err;
    ts_error_clear(&err);
    assert_null(ts_mhd_gate_new_file("/nonexistent/gate.json", NULL, &err));
    assert_non_null(strstr(err.where, "/nonexistent/gate.json"));
    static char big[(1u << 20) + 16];
    memset(big, ' ', sizeof big - 1);
    big[0] = '{';
    big[sizeof big - 2] = '}';
    char path[192];
    snprintf(path, sizeof path, "%s", gt_write(&fx, "big.json", big));
    ts_error_clear(&err);
    assert_null(ts_mhd_gate_new_file(path, NULL, &err));
    assert_int_equal(err.code, TS_ELIMIT);
    assert_null(ts_mhd_gate_new_file(NULL, NULL, &err));
}

int main(void)
{
    if (gate_fixture_init(&fx) != 0) {
        fprintf(stderr, "set-up failed\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_gate),
        cmocka_unit_test(test_file_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    gate_fixture_cleanup(&fx);
    return rc;
}
