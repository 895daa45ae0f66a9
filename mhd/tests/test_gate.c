/* The gate over real libmicrohttpd on loopback: public paths, 401s with WWW-Authenticate, the
 * policy's 200s and 403s, unmapped routes, shadow and off modes, the scope-to-role table, a
 * policy reload (directly and through the SIGHUP helper), metrics and diagnostics through the
 * accessors, the connection bounds built from the same options, and the errors of the options
 * themselves. The service under test keeps the principal in its request context and frees it in
 * its completion callback, as the documentation says (AddressSanitizer finds any leak). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "gatenet.h"

static gate_fixture fx;
static gate_log logbuf = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Build a gate from @p o and serve it. */
static void start(gate_service *s, const ts_mhd_gate_options *o)
{
    memset(s, 0, sizeof *s);
    ts_error err;
    ts_error_clear(&err);
    s->gate = ts_mhd_gate_new(o, &err);
    if (!s->gate)
        fail_msg("ts_mhd_gate_new: %s: %s", err.where, err.msg);
    assert_int_equal(gate_service_start(s), 0);
}

static void expect(const gate_service *s, const char *method, const char *path, const char *token,
                   int status, const char *body_part)
{
    static gate_reply r;
    gate_request(s->port, method, path, token, &r);
    if (r.status != status || (body_part && !strstr(r.body, body_part)))
        fail_msg("%s %s: %d %s, want %d with \"%s\"", method, path, r.status, r.body, status,
                 body_part ? body_part : "");
}

static void test_enforce(void **state)
{
    (void)state;
    gate_log_clear(&logbuf);
    ts_mhd_gate_options o = gate_options(&fx, &logbuf);
    o.realm = "gate-test";
    gate_service s;
    start(&s, &o);
    static gate_reply r;
    char h[256];

    /* Public paths: no token read, no decision, no principal. */
    expect(&s, "GET", "/health", NULL, 200, "who=-");
    expect(&s, "GET", "/public/x", fx.bad_signature, 200, "who=-");
    expect(&s, "GET", "/public/../v1/nodes", NULL, 401, "AUTHN_REQUIRED");

    /* No token: 401, WWW-Authenticate without an error attribute (RFC 6750 §3.1). */
    gate_request(s.port, "GET", "/v1/nodes", NULL, &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(gate_header(&r, "WWW-Authenticate", h, sizeof h),
                        "Bearer realm=\"gate-test\"");
    assert_non_null(strstr(r.body, "\"code\":\"AUTHN_REQUIRED\""));
    /* A bad token: 401 with error="invalid_token" and the reason in the body and the log. */
    const char *bad[] = {fx.bad_signature, fx.expired, fx.wrong_audience, "not-a-jwt"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gate_request(s.port, "GET", "/v1/nodes", bad[i], &r);
        assert_int_equal(r.status, 401);
        assert_string_equal(gate_header(&r, "WWW-Authenticate", h, sizeof h),
                            "Bearer realm=\"gate-test\", error=\"invalid_token\"");
        assert_non_null(strstr(r.body, "\"code\":\"AUTHN_INVALID\""));
    }
    assert_true(gate_log_has(&logbuf, "\"component\":\"authn\"", "bad_signature", NULL));
    assert_true(gate_log_has(&logbuf, "\"component\":\"authn\"", "expired", NULL));

    /* Allowed: the handler gets the verified caller. */
    expect(&s, "GET", "/v1/nodes", fx.viewer, 200, "who=viewer@tokensmith.test");
    expect(&s, "GET", "/v1/nodes/n1", fx.service, 200, "who=boot-agent");
    expect(&s, "DELETE", "/v1/nodes/n1", fx.admin, 200, "who=admin@tokensmith.test");
    /* The scope-to-role table: scope "read" is role viewer. */
    expect(&s, "GET", "/v1/nodes", fx.reader_scope, 200, "who=reader-svc");
    expect(&s, "DELETE", "/v1/nodes/n1", fx.reader_scope, 403, "AUTHZ_DENIED");

    /* Denied by the policy: 403 with an authz.deny.v1 body, logged with the same reason. */
    gate_request(s.port, "DELETE", "/v1/nodes/n1", fx.viewer, &r);
    assert_int_equal(r.status, 403);
    assert_non_null(strstr(r.body, "\"schema_version\":\"authz.deny.v1\""));
    assert_non_null(strstr(r.body, "\"code\":\"AUTHZ_DENIED\""));
    assert_non_null(strstr(r.body, "\"reason\":\"policy_denied\""));
    assert_string_equal(gate_header(&r, "WWW-Authenticate", h, sizeof h), "");
    assert_true(gate_log_has(&logbuf, "\"decision\":\"deny\"", "\"reason\":\"policy_denied\"",
                             "\"mode\":\"enforce\"", NULL));
    /* Roles from the token and from its scopes add up: the service fixture (role service,
     * which boot:configs refuses) also has scope "read", hence role viewer. */
    expect(&s, "GET", "/v1/boot/configs", fx.service, 200, "who=boot-agent");

    /* A route the table does not map: 403 unmapped, whoever asks. */
    expect(&s, "GET", "/v1/elsewhere", fx.admin, 403, "\"code\":\"AUTHZ_UNMAPPED\"");
    expect(&s, "POST", "/v1/nodes", fx.admin, 403, "\"reason\":\"unmapped_route\"");
    /* Unmapped without a token is still authn's 401: no decision without a caller. */
    expect(&s, "GET", "/v1/elsewhere", NULL, 401, "AUTHN_REQUIRED");

    /* An authn-only path: a token is needed, no decision is made (nor logged). */
    expect(&s, "GET", "/v1/whoami", NULL, 401, "AUTHN_REQUIRED");
    expect(&s, "GET", "/v1/whoami", fx.bad_signature, 401, "AUTHN_INVALID");
    gate_log_clear(&logbuf);
    expect(&s, "GET", "/v1/whoami", fx.viewer, 200, "who=viewer@tokensmith.test");
    expect(&s, "GET", "/v1/nodes/../whoami/", fx.service, 200, "who=boot-agent");
    assert_false(gate_log_has(&logbuf, "\"decision\":", NULL));
    /* Exact, as public paths are: below it the route table decides. */
    expect(&s, "GET", "/v1/whoami/x", fx.viewer, 403, "AUTHZ_UNMAPPED");
    expect(&s, "GET", "/v1/whoami/../boot/configs", fx.admin, 200, "who=admin@tokensmith.test");

    /* Every principal handed to the handler was freed by its completion callback. */
    gate_service_stop(&s);
    assert_int_equal(atomic_load(&s.principals), 8);
}

static void test_shadow_never_blocks(void **state)
{
    (void)state;
    gate_log_clear(&logbuf);
    ts_mhd_gate_options o = gate_options(&fx, &logbuf);
    o.mode = TS_AUTHZ_MODE_SHADOW;
    gate_service s;
    start(&s, &o);
    /* What enforce refuses is served, and logged with what enforce would have done. */
    expect(&s, "DELETE", "/v1/nodes/n1", fx.viewer, 200, "who=viewer@tokensmith.test");
    expect(&s, "GET", "/v1/elsewhere", fx.viewer, 200, "who=viewer@tokensmith.test");
    expect(&s, "GET", "/v1/boot/configs", fx.service, 200, "who=boot-agent");
    assert_true(gate_log_has(&logbuf, "\"decision\":\"deny\"", "\"reason\":\"policy_denied\"",
                             "\"mode\":\"shadow\"", NULL));
    assert_true(
        gate_log_has(&logbuf, "\"reason\":\"unmapped_route\"", "\"mode\":\"shadow\"", NULL));
    /* authn still refuses: without a verified caller the handler would have no principal. */
    expect(&s, "GET", "/v1/nodes", NULL, 401, "AUTHN_REQUIRED");
    expect(&s, "GET", "/v1/nodes", fx.expired, 401, "AUTHN_INVALID");
    gate_service_stop(&s);
}

static void test_off_and_allow_unmapped(void **state)
{
    (void)state;
    gate_log_clear(&logbuf);
    ts_mhd_gate_options o = gate_options(&fx, &logbuf);
    o.mode = TS_AUTHZ_MODE_OFF;
    gate_service s;
    start(&s, &o);
    expect(&s, "DELETE", "/v1/nodes/n1", fx.viewer, 200, "who=viewer@tokensmith.test");
    expect(&s, "GET", "/v1/nodes", NULL, 401, "AUTHN_REQUIRED");
    assert_false(gate_log_has(&logbuf, "\"decision\":", NULL)); /* off records nothing */
    gate_service_stop(&s);

    o = gate_options(&fx, &logbuf);
    o.allow_unmapped = true;
    start(&s, &o);
    expect(&s, "GET", "/v1/elsewhere", fx.viewer, 200, "who=viewer@tokensmith.test");
    expect(&s, "DELETE", "/v1/nodes/n1", fx.viewer, 403, "AUTHZ_DENIED"); /* mapped: decided */
    gate_service_stop(&s);

    /* No route table at all: every protected request is unmapped. */
    o = gate_options(&fx, &logbuf);
    o.routes = NULL;
    o.n_routes = 0;
    start(&s, &o);
    expect(&s, "GET", "/v1/nodes", fx.admin, 403, "AUTHZ_UNMAPPED");
    expect(&s, "GET", "/health", NULL, 200, "who=-");
    gate_service_stop(&s);
}

static void test_reload(void **state)
{
    (void)state;
    char dir[192];
    snprintf(dir, sizeof dir, "%s/policy", fx.dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    ts_mhd_gate_options o = gate_options(&fx, &logbuf);
    o.policy_dir = dir;
    gate_service s;
    start(&s, &o);
    ts_authz_authorizer *a = ts_mhd_gate_authorizer(s.gate);
    assert_non_null(a);
    char before[TS_AUTHZ_POLICY_VERSION_LEN + 1], after[TS_AUTHZ_POLICY_VERSION_LEN + 1];
    ts_authz_authorizer_policy_version(a, before);
    expect(&s, "DELETE", "/v1/nodes/n1", fx.viewer, 403, "AUTHZ_DENIED");

    /* A fragment granting viewers delete, then a reload through the accessor. */
    static const char *const grant[] = {"p, role:viewer, metadata:nodes, delete"};
    assert_int_equal(ts_testutil_write_fragment(dir, "10-grant.csv", grant, 1, NULL), TS_OK);
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_authz_reload(a, &err), TS_OK);
    ts_authz_authorizer_policy_version(a, after);
    assert_string_not_equal(before, after);
    expect(&s, "DELETE", "/v1/nodes/n1", fx.viewer, 200, "who=viewer@tokensmith.test");

    /* Through the SIGHUP helper (SIGHUP is blocked in every thread: see main()). */
    static const char *const revoke[] = {"# nothing granted"};
    assert_int_equal(ts_testutil_write_fragment(dir, "10-grant.csv", revoke, 1, NULL), TS_OK);
    ts_authz_sighup *hup = ts_authz_sighup_start(a, &err);
    assert_non_null(hup);
    assert_int_equal(kill(getpid(), SIGHUP), 0);
    for (int i = 0; i < 500 && ts_authz_sighup_count(hup) == 0; i++)
        sleep_ms(10);
    assert_int_equal(ts_authz_sighup_count(hup), 1);
    expect(&s, "DELETE", "/v1/nodes/n1", fx.viewer, 403, "AUTHZ_DENIED");

    /* Metrics and diagnostics through the guard's accessor; cache statistics of the
     * verifier. */
    static char buf[65536];
    size_t len = 0;
    assert_int_equal(ts_authz_guard_metrics(ts_mhd_gate_guard(s.gate), buf, sizeof buf, &len, &err),
                     TS_OK);
    assert_non_null(strstr(buf, "authz_decisions_total{decision=\"deny\""));
    assert_int_equal(
        ts_authz_guard_diagnostics(ts_mhd_gate_guard(s.gate), buf, sizeof buf, &len, &err), TS_OK);
    assert_non_null(strstr(buf, "\"policy_source\":\"baseline+fragments\""));
    uint64_t hits = 0, misses = 0;
    size_t entries = 0;
    ts_authn_verifier_cache_stats(ts_mhd_gate_verifier(s.gate), &hits, &misses, &entries);
    assert_true(hits >= 2); /* the same viewer token, verified once */
    assert_non_null(ts_mhd_gate_keysource(s.gate));
    ts_authz_sighup_stop(hup);
    gate_service_stop(&s);
}

/* The connection bounds from the same options: the daemon runs the limits' accept policy and
 * handler, the framing checks answer before the gate, and the gate still decides. */
static void test_limits(void **state)
{
    (void)state;
    gate_service s;
    memset(&s, 0, sizeof s);
    ts_mhd_gate_options o = gate_options(&fx, &logbuf);
    assert_null(ts_mhd_gate_limits(NULL));
    o.limits.handler = gate_handler;
    o.limits.handler_cls = &s;
    o.limits.completed = gate_completed;
    o.limits.completed_cls = &s;
    o.limits.max_per_address = 4;
    ts_error err;
    ts_error_clear(&err);
    s.gate = ts_mhd_gate_new(&o, &err);
    assert_non_null(s.gate);
    assert_non_null(ts_mhd_gate_limits(s.gate));
    assert_int_equal(gate_service_start(&s), 0);
    expect(&s, "GET", "/v1/nodes", fx.viewer, 200, "who=viewer@tokensmith.test");
    expect(&s, "DELETE", "/v1/nodes/n1", fx.viewer, 403, "AUTHZ_DENIED");
    static gate_reply r;
    gate_request_ex(s.port, "GET", "/v1/nodes", fx.viewer,
                    "Content-Length: 0\r\nContent-Length: 0\r\n", &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "More than one Content-Length header"));
    ts_mhd_limits_stats st;
    ts_mhd_limits_get_stats(ts_mhd_gate_limits(s.gate), &st);
    assert_true(st.accepted >= 3);
    assert_int_equal(st.rejected_requests, 1);
    gate_service_stop(&s);
    assert_int_equal(atomic_load(&s.principals), 1);
}

/* A JWKS URL: nothing is fetched while the gate is built, so an issuer that is not answering
 * yet costs nothing; the first token waits for the first fetch and is verified. */
static void test_jwks_url(void **state)
{
    (void)state;
    const ts_testutil_key *k[] = {fx.key};
    ts_jwks *set = ts_testutil_jwks(k, 1, NULL);
    ts_testutil_jwks_server *js = ts_testutil_jwks_server_start(set, NULL);
    ts_jwks_free(set);
    assert_non_null(js);
    ts_testutil_jwks_server_set_behavior(js, TS_TESTUTIL_JWKS_FAIL); /* the issuer is down */
    const char *url = ts_testutil_jwks_server_url(js);
    ts_mhd_gate_options o = gate_options(&fx, &logbuf);
    o.jwks = &url;
    gate_service s;
    start(&s, &o);
    assert_int_equal(ts_testutil_jwks_server_requests(js), 0);
    ts_testutil_jwks_server_set_behavior(js, TS_TESTUTIL_JWKS_SERVE); /* and now it answers */
    expect(&s, "GET", "/v1/nodes", fx.viewer, 200, "who=viewer@tokensmith.test");
    assert_int_equal(ts_testutil_jwks_server_requests(js), 1);
    expect(&s, "GET", "/v1/nodes", fx.admin, 200, "who=admin@tokensmith.test");
    assert_int_equal(ts_testutil_jwks_server_requests(js), 1); /* cached */
    gate_service_stop(&s);
    ts_testutil_jwks_server_stop(js);
}

/* authn's public-path rule as the gate uses it for its authn-only paths. */
static void test_is_public(void **state)
{
    (void)state;
    ts_mhd_gate_options o = gate_options(&fx, &logbuf);
    ts_mhd_gate *g = ts_mhd_gate_new(&o, NULL);
    assert_non_null(g);
    static const char *const pub[] = {"/a", "/b/*"};
    ts_authn_mhd_options mo = TS_AUTHN_MHD_OPTIONS_INIT;
    mo.verifier = ts_mhd_gate_verifier(g);
    mo.public_paths = pub;
    mo.n_public_paths = 2;
    ts_authn_mhd *h = ts_authn_mhd_new(&mo, NULL);
    assert_non_null(h);
    static const struct {
        const char *url;
        bool pub;
    } cases[] = {
        {"/a", true},     {"/a/", true},    {"/x/../a", true},  {"//a", true},    {"/a/x", false},
        {"/ab", false},   {"/A", false},    {"/b", true},       {"/b/c/d", true}, {"/bc", false},
        {"/a%zz", false}, {"/a%00", false}, {"/b/../c", false}, {"", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (ts_authn_mhd_is_public(h, cases[i].url) != cases[i].pub)
            fail_msg("%s: public %d, want %d", cases[i].url, !cases[i].pub, cases[i].pub);
    assert_false(ts_authn_mhd_is_public(NULL, "/a"));
    assert_false(ts_authn_mhd_is_public(h, NULL));
    ts_authn_mhd_free(h);
    ts_mhd_gate_free(g);
}

/* TS_MHD_GATE_OPTIONS_INIT gives the version and the documented defaults, by field name. */
static void test_defaults(void **state)
{
    (void)state;
    _Static_assert(offsetof(ts_mhd_gate_options, version) == 0, "version first");
    ts_mhd_gate_options o = TS_MHD_GATE_OPTIONS_INIT;
    assert_int_equal(o.version, TS_MHD_GATE_OPTIONS_VERSION);
    assert_null(o.issuers);
    assert_null(o.jwks);
    assert_int_equal(o.n_routes, 0);
    assert_int_equal(o.mode, TS_AUTHZ_MODE_ENFORCE);
    assert_int_equal(o.action_style, TS_AUTHZ_ACTION_REST);
    assert_false(o.allow_unmapped);
    assert_int_equal(o.token_cache, TS_MHD_GATE_DEFAULT_CACHE);
    assert_int_equal(o.decision_cache, TS_MHD_GATE_DEFAULT_CACHE);
    assert_int_equal(o.log_allow_sample, TS_MHD_GATE_DEFAULT_LOG_ALLOW_SAMPLE);
    assert_int_equal(TS_MHD_GATE_DEFAULT_LOG_ALLOW_SAMPLE, 100);
    assert_null(o.log);
    assert_false(o.raw_paths);
    assert_null(o.limits.handler);
    assert_int_equal(o.limits.version, TS_MHD_LIMITS_OPTIONS_VERSION);
    assert_int_equal(o.limits.max_per_address, TS_MHD_DEFAULT_MAX_PER_ADDRESS);

    /* The sampling: the first allowed decision is logged, the next 99 are not; every refusal
     * is. */
    gate_log_clear(&logbuf);
    o = gate_options(&fx, &logbuf);
    gate_service s;
    start(&s, &o);
    for (int i = 0; i < 5; i++)
        expect(&s, "GET", "/v1/nodes", fx.viewer, 200, "who=viewer@tokensmith.test");
    for (int i = 0; i < 3; i++)
        expect(&s, "DELETE", "/v1/nodes/n1", fx.viewer, 403, "AUTHZ_DENIED");
    gate_service_stop(&s);
    unsigned allows = 0, denies = 0;
    for (const char *p = logbuf.text; (p = strstr(p, "\"event\":\"authz.decision\"")); p++) {
        const char *nl = strchr(p, '\n');
        const char *d = strstr(p, "\"decision\":\"");
        if (d && (!nl || d < nl))
            strncmp(d + 12, "allow", 5) == 0 ? allows++ : denies++;
    }
    assert_int_equal(allows, 1);
    assert_int_equal(denies, 3);
}

/* Options that cannot work are refused, naming the option. */
static void test_option_errors(void **state)
{
    (void)state;
    static const ts_authz_route empty_pattern[] = {{"GET", "", "metadata:nodes", NULL}};
    static const char *const bad_public[] = {"health"};
    static const char *const no_such_file[] = {"/nonexistent/jwks.json"};
    static const char *const empty_issuer[] = {""};
    static const struct {
        const char *what, *where;
    } cases[] = {
        {"no jwks", "jwks"},
        {"jwks file missing", "/nonexistent/jwks.json"},
        {"empty issuer", "issuers"},
        {"bad public path", "public_paths"},
        {"bad route", "route 1"},
        {"bad mode", "mode"},
        {"bad version", "ts_mhd_gate_options"},
        {"policy dir missing", "/nonexistent/policy"},
        {"bad authn-only path", "authn_only_paths"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ts_mhd_gate_options o = gate_options(&fx, &logbuf);
        switch (i) {
        case 0:
            o.jwks = NULL, o.n_jwks = 0;
            break;
        case 1:
            o.jwks = no_such_file;
            break;
        case 2:
            o.issuers = empty_issuer;
            break;
        case 3:
            o.public_paths = bad_public, o.n_public_paths = 1;
            break;
        case 4:
            o.routes = empty_pattern, o.n_routes = 1;
            break;
        case 5:
            o.mode = (ts_authz_mode)7;
            break;
        case 6:
            o.version = 99;
            break;
        case 7:
            o.policy_dir = "/nonexistent/policy";
            break;
        case 8:
            o.authn_only_paths = bad_public;
            break;
        }
        ts_error err;
        ts_error_clear(&err);
        ts_mhd_gate *g = ts_mhd_gate_new(&o, &err);
        if (g) {
            ts_mhd_gate_free(g);
            fail_msg("%s: accepted", cases[i].what);
        }
        assert_int_not_equal(err.code, TS_OK);
        if (cases[i].where && !strstr(err.where, cases[i].where) &&
            !strstr(err.msg, cases[i].where))
            fail_msg("%s: where \"%s\", message \"%s\": want \"%s\"", cases[i].what, err.where,
                     err.msg, cases[i].where);
    }
    /* NULL arguments of the check: an error, never a pass. */
    ts_authn_principal *p = (ts_authn_principal *)(uintptr_t)1;
    assert_int_equal(ts_mhd_gate_check(NULL, NULL, "GET", "/", &p), TS_HOOK_ERROR);
    assert_null(p);
    assert_null(ts_mhd_gate_new(NULL, NULL));
    ts_mhd_gate_free(NULL);
}

int main(void)
{
    /* The SIGHUP helper needs SIGHUP blocked in every thread: before any starts. */
    ts_error err;
    ts_error_clear(&err);
    if (ts_authz_sighup_block(&err) != TS_OK || gate_fixture_init(&fx) != 0) {
        fprintf(stderr, "set-up failed: %s\n", err.msg);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enforce),
        cmocka_unit_test(test_shadow_never_blocks),
        cmocka_unit_test(test_off_and_allow_unmapped),
        cmocka_unit_test(test_reload),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_jwks_url),
        cmocka_unit_test(test_is_public),
        cmocka_unit_test(test_option_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    gate_fixture_cleanup(&fx);
    return rc;
}
