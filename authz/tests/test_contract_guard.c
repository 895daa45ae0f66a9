/* Request mapping (path normalisation, REST actions, route tables) and the guard algorithm
 * without an HTTP server: exact deny bodies, decision lines, sampling, metrics, diagnostics. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>

#include <tokensmith/authz_http.h>

#include "contract_testutil.h"

static void test_path_normalize(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        bool decoded;
        const char *out; /* NULL: malformed */
    } v[] = {
        {"", false, "/"},
        {"/", false, "/"},
        {"a/b", false, "/a/b"},
        {"/a//b/./c/", false, "/a/b/c"},
        {"/a/b/../c", false, "/a/c"},
        {"/../../x", false, "/x"},
        {"/a/..", false, "/"},
        {"/...", false, "/..."},
        {"/a?x=1/../..", false, "/a"},
        {"/a%2Fb", false, "/a%2Fb"},
        {"/a%2fb/..", false, "/"},
        {"/a%2e%2e/b", false, "/a../b"},
        {"/x/%2e%2e/admin", false, "/admin"},
        {"/%41%62c", false, "/Abc"},
        {"/a%20b", false, "/a b"},
        {"/a%zz", false, NULL},
        {"/a%4", false, NULL},
        {"/a%", false, NULL},
        {"/a%00b", false, NULL},
        {"/a%25", false, "/a%"},
        {"/a%41", true, "/a%41"}, /* already decoded: no second decoding */
        {"/a/../b", true, "/b"},
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        char out[TS_AUTHZ_HTTP_MAX_PATH + 1];
        size_t n = 0;
        ts_error err;
        ts_error_clear(&err);
        ts_status st = ts_authz_path_normalize(v[i].in, strlen(v[i].in), v[i].decoded, out,
                                               sizeof out, &n, &err);
        if (!v[i].out) {
            if (st == TS_OK)
                fail_msg("'%s' should be malformed, got '%s'", v[i].in, out);
            assert_string_equal(err.msg, "malformed URL path");
        } else {
            if (st != TS_OK || strcmp(out, v[i].out) != 0)
                fail_msg("'%s': want '%s', got '%s' (%s)", v[i].in, v[i].out, out, err.msg);
            assert_int_equal(n, strlen(v[i].out));
        }
    }
    /* Raw NUL bytes and oversize paths are refused. */
    char out[TS_AUTHZ_HTTP_MAX_PATH + 1];
    assert_int_not_equal(ts_authz_path_normalize("/a\0b", 4, false, out, sizeof out, NULL, NULL),
                         TS_OK);
    char *big = malloc(TS_AUTHZ_HTTP_MAX_PATH + 2);
    memset(big, 'a', TS_AUTHZ_HTTP_MAX_PATH + 1);
    big[0] = '/';
    assert_int_equal(ts_authz_path_normalize(big, TS_AUTHZ_HTTP_MAX_PATH + 1, false, out,
                                             sizeof out, NULL, NULL),
                     TS_ELIMIT);
    free(big);
}

static void test_rest_actions_and_modes(void **state)
{
    (void)state;
    assert_string_equal(ts_authz_rest_action("GET"), "read");
    assert_string_equal(ts_authz_rest_action("head"), "read");
    assert_string_equal(ts_authz_rest_action("POST"), "create");
    assert_string_equal(ts_authz_rest_action("PUT"), "update");
    assert_string_equal(ts_authz_rest_action("Patch"), "update");
    assert_string_equal(ts_authz_rest_action("DELETE"), "delete");
    assert_null(ts_authz_rest_action("PROPFIND"));
    ts_authz_mode m;
    assert_int_equal(ts_authz_mode_parse("shadow", &m, NULL), TS_OK);
    assert_int_equal(m, TS_AUTHZ_MODE_SHADOW);
    assert_int_equal(ts_authz_mode_parse("ENFORCE", &m, NULL), TS_EINVAL);
    assert_string_equal(ts_authz_mode_name(TS_AUTHZ_MODE_OFF), "off");
    assert_string_equal(ts_authz_mode_name(TS_AUTHZ_MODE_SHADOW), "shadow");
    assert_string_equal(ts_authz_mode_name(TS_AUTHZ_MODE_ENFORCE), "enforce");
    /* A value that is no mode is not reported as enforcing (nor any other mode). */
    assert_string_equal(ts_authz_mode_name((ts_authz_mode)42), "unknown");
    assert_string_equal(ts_authz_mode_name((ts_authz_mode)-1), "unknown");
}

static ts_authz_request req_of(const char *method, const char *path)
{
    ts_authz_request r = {method, path, strlen(path), false, NULL};
    return r;
}

static const char *dom_fn(const ts_authz_request *req, const ts_authz_principal *p, void *ud)
{
    (void)req;
    (void)p;
    return ud;
}

static void test_mappers(void **state)
{
    (void)state;
    ts_error err;
    ts_error_clear(&err);
    ts_authz_mapping m;
    ts_authz_request r;

    ts_authz_mapper *lit = ts_authz_mapper_path_new(TS_AUTHZ_ACTION_LITERAL, NULL, NULL, &err);
    r = req_of("PATCH", "/a/./b%2Fc/?q");
    assert_int_equal(ts_authz_mapper_map(lit, &r, NULL, &m, &err), TS_AUTHZ_MAP_OK);
    assert_true(m.mapped);
    assert_string_equal(m.object, "/a/b%2Fc");
    assert_string_equal(m.action, "PATCH");
    assert_null(m.domain);
    r = req_of("GET", "/%zz");
    assert_int_equal(ts_authz_mapper_map(lit, &r, NULL, &m, &err), TS_AUTHZ_MAP_BAD_REQUEST);
    ts_authz_mapper_free(lit);

    static char tenant[] = "tenant-x";
    ts_authz_mapper *rest = ts_authz_mapper_path_new(TS_AUTHZ_ACTION_REST, dom_fn, tenant, &err);
    r = req_of("POST", "/nodes");
    assert_int_equal(ts_authz_mapper_map(rest, &r, NULL, &m, &err), TS_AUTHZ_MAP_OK);
    assert_string_equal(m.action, "create");
    assert_string_equal(m.domain, "tenant-x");
    r = req_of("MKCOL", "/nodes");
    assert_int_equal(ts_authz_mapper_map(rest, &r, NULL, &m, &err), TS_AUTHZ_MAP_OK);
    assert_string_equal(m.action, "MKCOL");
    ts_authz_mapper_free(rest);

    static const ts_authz_route routes[] = {
        {"GET", "/boot/v1/configs/:id", "boot:configs", NULL},
        {"*", "/boot/v1/scripts/*", "boot:scripts", NULL},
        {"POST", "/admin/reindex", "smd:components", "update"},
    };
    ts_authz_mapper *rt =
        ts_authz_mapper_routes_new(routes, 3, TS_AUTHZ_ACTION_REST, NULL, NULL, &err);
    assert_non_null(rt);
    r = req_of("GET", "/boot/v1/configs/x1");
    assert_int_equal(ts_authz_mapper_map(rt, &r, NULL, &m, &err), TS_AUTHZ_MAP_OK);
    assert_true(m.mapped);
    assert_string_equal(m.object, "boot:configs");
    assert_string_equal(m.action, "read");
    r = req_of("HEAD", "/boot/v1/configs/x1");
    assert_int_equal(ts_authz_mapper_map(rt, &r, NULL, &m, &err), TS_AUTHZ_MAP_OK);
    assert_true(m.mapped);
    r = req_of("PUT", "/boot/v1/configs/x1");
    assert_int_equal(ts_authz_mapper_map(rt, &r, NULL, &m, &err), TS_AUTHZ_MAP_OK);
    assert_false(m.mapped);
    r = req_of("DELETE", "/boot/v1/scripts/a/b");
    assert_int_equal(ts_authz_mapper_map(rt, &r, NULL, &m, &err), TS_AUTHZ_MAP_OK);
    assert_string_equal(m.action, "delete");
    r = req_of("POST", "/admin/reindex");
    assert_int_equal(ts_authz_mapper_map(rt, &r, NULL, &m, &err), TS_AUTHZ_MAP_OK);
    assert_string_equal(m.action, "update");
    /* Matching happens on the normalised path. */
    r = req_of("GET", "/boot/v1/x/../configs/%61");
    assert_int_equal(ts_authz_mapper_map(rt, &r, NULL, &m, &err), TS_AUTHZ_MAP_OK);
    assert_true(m.mapped);
    r = req_of("GET", "/boot/v1/configs/a%2Fb/c");
    assert_int_equal(ts_authz_mapper_map(rt, &r, NULL, &m, &err), TS_AUTHZ_MAP_OK);
    assert_false(m.mapped);
    ts_authz_mapper_free(rt);

    static const ts_authz_route bad[] = {{"GET", "nodes", "x", NULL}};
    ts_error_clear(&err);
    assert_null(ts_authz_mapper_routes_new(bad, 1, TS_AUTHZ_ACTION_REST, NULL, NULL, &err));
    assert_string_equal(err.where, "route 1");
    assert_null(ts_authz_mapper_custom_new(NULL, NULL, NULL));
}

/* ---- guard ------------------------------------------------------------------------------- */

typedef struct gfx {
    ts_authz_authorizer *a;
    ts_authz_mapper *m;
    tu_log log;
    char pv[65];
} gfx;

static int gsetup(void **state)
{
    gfx *f = calloc(1, sizeof *f);
    tu_log_init(&f->log);
    ts_error err;
    ts_error_clear(&err);
    f->a = ts_authz_authorizer_new(NULL, &err);
    assert_non_null(f->a);
    ts_authz_authorizer_policy_version(f->a, f->pv);
    static const ts_authz_route routes[] = {{"GET", "/nodes/:id", "metadata:nodes", NULL},
                                            {"DELETE", "/nodes/:id", "metadata:nodes", NULL}};
    f->m = ts_authz_mapper_routes_new(routes, 2, TS_AUTHZ_ACTION_REST, NULL, NULL, &err);
    assert_non_null(f->m);
    *state = f;
    return 0;
}

static int gteardown(void **state)
{
    gfx *f = *state;
    ts_authz_mapper_free(f->m);
    ts_authz_authorizer_free(f->a);
    tu_log_free(&f->log);
    free(f);
    return 0;
}

static ts_authz_guard *guard(gfx *f, ts_authz_mode mode, unsigned sample, bool roles)
{
    ts_authz_guard_options o = TS_AUTHZ_GUARD_OPTIONS_INIT;
    o.mode = mode;
    o.authorizer = f->a;
    o.mapper = f->m;
    o.log = tu_log_sink;
    o.log_ud = &f->log;
    o.log_allow_sample = sample;
    o.include_roles = roles;
    ts_error err;
    ts_error_clear(&err);
    ts_authz_guard *g = ts_authz_guard_new(&o, &err);
    assert_non_null(g);
    return g;
}

static void test_deny_body_golden(void **state)
{
    gfx *f = *state;
    ts_authz_guard *g = guard(f, TS_AUTHZ_MODE_ENFORCE, 1, true);
    const char *line = tu_log_find(&f->log, "authz.start");
    assert_non_null(line);
    char want[1024];
    snprintf(want, sizeof want,
             "{\"event\":\"authz.start\",\"mode\":\"enforce\",\"policy_version\":\"%s\","
             "\"policy_source\":\"baseline-only\"}",
             f->pv);
    assert_string_equal(line, want);

    const char *roles[] = {"viewer", "x\"<y>"};
    ts_authz_principal p = {"alice", "user", roles, 2, NULL};
    ts_authz_request r = {"DELETE", "/nodes/n%201?x=1", 16, false, "req-7"};
    ts_authz_outcome out;
    assert_int_equal(ts_authz_guard_check(g, &r, &p, &out), TS_OK);
    assert_false(out.proceed);
    assert_int_equal(out.status, 403);
    snprintf(want, sizeof want,
             "{\"schema_version\":\"authz.deny.v1\",\"code\":\"AUTHZ_DENIED\",\"message\":"
             "\"access denied\",\"decision\":\"deny\",\"reason\":\"policy_denied\",\"mode\":"
             "\"enforce\",\"principal\":{\"id\":\"alice\",\"type\":\"user\",\"roles\":["
             "\"viewer\",\"x\\\"<y>\"]},\"input\":{\"object\":\"metadata:nodes\",\"action\":"
             "\"delete\"},\"policy_version\":\"%s\",\"request\":{\"method\":\"DELETE\",\"path\":"
             "\"/nodes/n 1\"},\"request_id\":\"req-7\"}\n",
             f->pv);
    assert_string_equal(out.body, want);
    assert_int_equal(out.body_len, strlen(want));
    line = tu_log_find(&f->log, "authz.decision");
    json_t *j = json_loads(line, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "reason")), "policy_denied");
    assert_string_equal(json_string_value(json_object_get(j, "principal_id")), "alice");
    assert_string_equal(json_string_value(json_object_get(j, "principal_type")), "user");
    assert_int_equal(json_integer_value(json_object_get(j, "roles_count")), 2);
    assert_string_equal(json_string_value(json_object_get(j, "request_id")), "req-7");
    assert_true(json_is_true(json_object_get(j, "enforced")));
    json_decref(j);
    ts_authz_outcome_cleanup(&out);
    ts_authz_outcome_cleanup(&out); /* idempotent */

    /* Untrusted text stays valid JSON: control bytes and invalid UTF-8 are escaped. */
    ts_authz_principal weird = {"a\x01\xff\n", "service", NULL, 0, NULL};
    ts_authz_request r2 = {"DELETE", "/nodes/%e2%82", 13, false, NULL};
    assert_int_equal(ts_authz_guard_check(g, &r2, &weird, &out), TS_OK);
    j = json_loads(out.body, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "principal"), "id")),
                        "a\x01\xef\xbf\xbd\n");
    json_decref(j);
    ts_authz_outcome_cleanup(&out);
    ts_authz_guard_free(g);
}

static void assert_printable_ascii(const char *line)
{
    for (const unsigned char *c = (const unsigned char *)line; *c; c++)
        if (*c < 0x20 || *c > 0x7e)
            fail_msg("byte 0x%02x at %zu in log line %s", *c,
                     (size_t)(c - (const unsigned char *)line), line);
}

/* A decision log line is printable ASCII whatever the request carried (docs/security.md): a
 * right-to-left override (U+202E) in the path would show "/nodes/exe.pdf" as "/nodes/fdp.exe"
 * to whoever reads the log, an ESC sequence would drive their terminal. Every non-ASCII code
 * point is a \u escape there; the deny body keeps UTF-8. */
static void test_log_lines_printable_ascii(void **state)
{
    gfx *f = *state;
    ts_authz_guard *g = guard(f, TS_AUTHZ_MODE_ENFORCE, 1, true);
    const char *roles[] = {"r\xc3\xa9le"};
    ts_authz_principal p = {"z\xc3\xbc\xf0\x9f\x98\x80", "user", roles, 1, NULL};
    ts_authz_request r = req_of("DELETE", "/nodes/%E2%80%AEfdp.exe%1B[2J%7F");
    r.request_id = "req-8";
    ts_authz_outcome out;
    tu_log_clear(&f->log);
    assert_int_equal(ts_authz_guard_check(g, &r, &p, &out), TS_OK);
    assert_int_equal(out.status, 403);
    const char *line = tu_log_find(&f->log, "authz.decision");
    assert_non_null(line);
    assert_printable_ascii(line);
    assert_non_null(strstr(line, "\"path\":\"/nodes/\\u202Efdp.exe\\u001B[2J\\u007F\""));
    assert_non_null(strstr(line, "\"principal_id\":\"z\\u00FC\\uD83D\\uDE00\""));
    assert_non_null(strstr(line, "\"roles\":[\"r\\u00E9le\"]"));
    json_t *j = json_loads(line, 0, NULL); /* and it still says what was requested */
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "path")), "/nodes/\xe2\x80\xae"
                                                                       "fdp.exe\x1b[2J\x7f");
    json_decref(j);
    /* The response body is for the client: UTF-8 as is. */
    assert_non_null(strstr(out.body, "\"path\":\"/nodes/\xe2\x80\xae"
                                     "fdp.exe\\u001B[2J\x7f\""));
    ts_authz_outcome_cleanup(&out);
    ts_authz_guard_free(g);
}

/* A role name with a control character: an error decision, refused with 403 in enforce mode
 * (the caller's fault, not the server's), recorded as a principal-stage error. */
static void test_invalid_principal(void **state)
{
    gfx *f = *state;
    ts_authz_guard *g = guard(f, TS_AUTHZ_MODE_ENFORCE, 1, false);
    const char *roles[] = {"viewer\x1f"
                           "admin"};
    ts_authz_principal p = {"alice", "user", roles, 1, NULL};
    ts_authz_request r = req_of("DELETE", "/nodes/1");
    ts_authz_outcome out;
    tu_log_clear(&f->log);
    assert_int_equal(ts_authz_guard_check(g, &r, &p, &out), TS_OK);
    assert_false(out.proceed);
    assert_int_equal(out.status, 403);
    assert_int_equal(out.decision, TS_AUTHZ_ERROR);
    assert_string_equal(out.reason, "invalid_principal");
    assert_string_equal(out.stage, "principal");
    json_t *j = json_loads(out.body, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "code")), "AUTHZ_DENIED");
    assert_string_equal(json_string_value(json_object_get(j, "decision")), "error");
    assert_string_equal(json_string_value(json_object_get(j, "reason")), "invalid_principal");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "details"), "error")),
                        "principal");
    json_decref(j);
    const char *line = tu_log_find(&f->log, "authz.decision");
    assert_non_null(line);
    assert_non_null(strstr(line, "\"detail\":\"role name contains a control character\""));
    ts_authz_outcome_cleanup(&out);
    char m[8192];
    size_t n = 0;
    assert_int_equal(ts_authz_guard_metrics(g, m, sizeof m, &n, NULL), TS_OK);
    char want[256];
    snprintf(want, sizeof want,
             "authz_errors_total{stage=\"principal\",mode=\"enforce\",policy_version=\"%s\"} 1\n",
             f->pv);
    assert_non_null(strstr(m, want));
    ts_authz_guard_free(g);
}

/* ts_authz_guard_check() echoes a request id into the log line and the deny body only when it
 * is 1-128 bytes of visible ASCII, as the libmicrohttpd hook does; otherwise it is left out. */
static void test_request_id_bounded(void **state)
{
    gfx *f = *state;
    ts_authz_guard *g = guard(f, TS_AUTHZ_MODE_ENFORCE, 1, false);
    const char *viewer[] = {"viewer"};
    ts_authz_principal p = {"alice", "user", viewer, 1, NULL};
    char max[129], over[130];
    memset(max, 'm', 128);
    max[128] = '\0';
    memset(over, 'o', 129);
    over[129] = '\0';
    static const char *const refused[] = {
        "a\nb", "a\r\n{\"forged\":1}", "\x1b[2J", "r\xe2\x80\xae", "a b", "\x7f", "tab\t", ""};
    for (size_t i = 0; i <= sizeof refused / sizeof refused[0]; i++) {
        ts_authz_request r = req_of("DELETE", "/nodes/1");
        r.request_id = i < sizeof refused / sizeof refused[0] ? refused[i] : over;
        ts_authz_outcome out;
        tu_log_clear(&f->log);
        assert_int_equal(ts_authz_guard_check(g, &r, &p, &out), TS_OK);
        assert_int_equal(out.status, 403);
        const char *line = tu_log_find(&f->log, "authz.decision");
        assert_non_null(line);
        if (strstr(line, "request_id") || strstr(out.body, "request_id"))
            fail_msg("request id %zu echoed: %s / %s", i, line, out.body);
        ts_authz_outcome_cleanup(&out);
    }
    const char *const kept[] = {"req-7", "~!@#$%^&*()_+{}|:<>?", max};
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        ts_authz_request r = req_of("DELETE", "/nodes/1");
        r.request_id = kept[i];
        ts_authz_outcome out;
        tu_log_clear(&f->log);
        assert_int_equal(ts_authz_guard_check(g, &r, &p, &out), TS_OK);
        json_t *j = json_loads(tu_log_find(&f->log, "authz.decision"), 0, NULL);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "request_id")), kept[i]);
        json_decref(j);
        j = json_loads(out.body, 0, NULL);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "request_id")), kept[i]);
        json_decref(j);
        ts_authz_outcome_cleanup(&out);
    }
    ts_authz_guard_free(g);
}

static void test_shadow_and_sampling(void **state)
{
    gfx *f = *state;
    ts_authz_guard *g = guard(f, TS_AUTHZ_MODE_SHADOW, 4, false);
    const char *viewer[] = {"viewer"};
    ts_authz_principal p = {"u", "user", viewer, 1, NULL};
    ts_authz_request allow = {"GET", "/nodes/1", 8, false, NULL};
    ts_authz_request deny = {"DELETE", "/nodes/1", 8, false, NULL};
    ts_authz_outcome out;
    tu_log_clear(&f->log);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(ts_authz_guard_check(g, &allow, &p, &out), TS_OK);
        assert_true(out.proceed);
        ts_authz_outcome_cleanup(&out);
    }
    assert_int_equal(f->log.n, 2); /* 1 in 4 allows */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ts_authz_guard_check(g, &deny, &p, &out), TS_OK);
        /* Shadow: records what enforce would do, never blocks, no body. */
        assert_true(out.proceed);
        assert_int_equal(out.decision, TS_AUTHZ_DENY);
        assert_int_equal(out.status, 403);
        assert_null(out.body);
        ts_authz_outcome_cleanup(&out);
    }
    assert_int_equal(f->log.n, 5); /* every deny */
    assert_non_null(strstr(f->log.lines[4], "\"enforced\":false"));
    assert_non_null(strstr(f->log.lines[4], "\"status\":403"));
    assert_null(strstr(f->log.lines[4], "\"roles\":"));
    /* Missing principal in shadow: logged as enforce would refuse it, request passes. */
    assert_int_equal(ts_authz_guard_check(g, &allow, NULL, &out), TS_OK);
    assert_true(out.proceed);
    assert_string_equal(out.reason, "no_principal");
    ts_authz_outcome_cleanup(&out);
    ts_authz_guard_free(g);
}

static void test_metrics_and_diagnostics(void **state)
{
    gfx *f = *state;
    ts_authz_guard *g = guard(f, TS_AUTHZ_MODE_ENFORCE, 1, false);
    const char *viewer[] = {"viewer"};
    ts_authz_principal p = {"u", "user", viewer, 1, NULL};
    ts_authz_request reqs[] = {{"GET", "/nodes/1", 8, false, NULL},
                               {"GET", "/nodes/2", 8, false, NULL},
                               {"DELETE", "/nodes/1", 8, false, NULL},
                               {"GET", "/other", 6, false, NULL},
                               {"GET", "/%zz", 4, false, NULL}};
    for (size_t i = 0; i < 5; i++) {
        ts_authz_outcome out;
        assert_int_equal(ts_authz_guard_check(g, &reqs[i], &p, &out), TS_OK);
        ts_authz_outcome_cleanup(&out);
    }
    char small[16];
    size_t need = 0;
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_authz_guard_metrics(g, small, sizeof small, &need, &err), TS_ELIMIT);
    assert_true(need > sizeof small);
    char *buf = malloc(need + 1);
    size_t len = 0;
    assert_int_equal(ts_authz_guard_metrics(g, buf, need + 1, &len, &err), TS_OK);
    assert_int_equal(len, need);
    char want[256];
    snprintf(want, sizeof want,
             "authz_decisions_total{decision=\"allow\",mode=\"enforce\",policy_version=\"%s\"} 2\n",
             f->pv);
    assert_non_null(strstr(buf, want));
    snprintf(want, sizeof want,
             "authz_decisions_total{decision=\"deny\",mode=\"enforce\",policy_version=\"%s\"} 2\n",
             f->pv);
    assert_non_null(strstr(buf, want));
    snprintf(want, sizeof want,
             "authz_decisions_total{decision=\"error\",mode=\"enforce\",policy_version=\"%s\"} 1\n",
             f->pv);
    assert_non_null(strstr(buf, want));
    snprintf(want, sizeof want,
             "authz_errors_total{stage=\"mapper\",mode=\"enforce\",policy_version=\"%s\"} 1\n",
             f->pv);
    assert_non_null(strstr(buf, want));
    assert_non_null(strstr(buf, "# TYPE authz_decisions_total counter\n"));
    assert_non_null(strstr(buf, "# TYPE authz_errors_total counter\n"));
    assert_null(strstr(buf, "object=")); /* no unbounded labels */
    free(buf);

    char diag[1024];
    assert_int_equal(ts_authz_guard_diagnostics(g, diag, sizeof diag, &len, &err), TS_OK);
    json_t *j = json_loads(diag, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "mode")), "enforce");
    assert_string_equal(json_string_value(json_object_get(j, "policy_version")), f->pv);
    assert_string_equal(json_string_value(json_object_get(j, "policy_source")), "baseline-only");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "rules"), "p")), 30);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "rules"), "g")), 2);
    json_decref(j);
    ts_authz_guard_free(g);
}

static void test_guard_options(void **state)
{
    gfx *f = *state;
    ts_authz_guard_options o = TS_AUTHZ_GUARD_OPTIONS_INIT;
    ts_error err;
    ts_error_clear(&err);
    assert_null(ts_authz_guard_new(&o, &err)); /* no authorizer */
    o.authorizer = f->a;
    const char *bad[] = {"public"};
    o.public_prefixes = bad;
    o.npublic_prefixes = 1;
    ts_error_clear(&err);
    assert_null(ts_authz_guard_new(&o, &err));
    assert_string_equal(err.where, "public_prefixes");
    /* No mapper: every route is unmapped; allow_unmapped lets it pass with a record. */
    const char *ok[] = {"/health/"};
    o.public_prefixes = ok;
    o.allow_unmapped = true;
    ts_authz_guard *g = ts_authz_guard_new(&o, &err);
    assert_non_null(g);
    ts_authz_principal p = {"u", "user", NULL, 0, NULL};
    ts_authz_request r = {"GET", "/x", 2, false, NULL};
    ts_authz_outcome out;
    assert_int_equal(ts_authz_guard_check(g, &r, &p, &out), TS_OK);
    assert_true(out.proceed);
    assert_true(out.decided);
    assert_string_equal(out.reason, "unmapped_route");
    ts_authz_outcome_cleanup(&out);
    ts_authz_request h = {"GET", "/health", 7, false, NULL};
    assert_int_equal(ts_authz_guard_check(g, &h, NULL, &out), TS_OK);
    assert_true(out.proceed);
    assert_false(out.decided);
    ts_authz_outcome_cleanup(&out);
    ts_authz_guard_free(g);
}

/* The strict libmicrohttpd decoder: well-formed escapes decoded, anything else left as is. */
static void test_strict_unescape(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
        bool bad;
    } cases[] = {
        {"/v1/nodes/n%31", "/v1/nodes/n1", false},
        {"/a%2Fb", "/a/b", false},
        {"/a%25zz", "/a%zz", false},
        {"/health%00/../admin", "/health%00/../admin", true},
        {"/health%zz", "/health%zz", true},
        {"/trailing%", "/trailing%", true},
        {"/half%4", "/half%4", true},
        {"/ok%41%zz", "/ok%41%zz", true}, /* one bad escape: nothing is decoded */
        {"/plain", "/plain", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s", cases[i].in);
        assert_int_equal(ts_authz_url_has_bad_escape(cases[i].in), cases[i].bad);
        size_t n = ts_authz_mhd_strict_unescape(NULL, NULL, buf);
        assert_string_equal(buf, cases[i].out);
        assert_int_equal(n, strlen(cases[i].out));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_normalize),
        cmocka_unit_test(test_strict_unescape),
        cmocka_unit_test(test_rest_actions_and_modes),
        cmocka_unit_test(test_mappers),
        cmocka_unit_test_setup_teardown(test_deny_body_golden, gsetup, gteardown),
        cmocka_unit_test_setup_teardown(test_log_lines_printable_ascii, gsetup, gteardown),
        cmocka_unit_test_setup_teardown(test_invalid_principal, gsetup, gteardown),
        cmocka_unit_test_setup_teardown(test_request_id_bounded, gsetup, gteardown),
        cmocka_unit_test_setup_teardown(test_shadow_and_sampling, gsetup, gteardown),
        cmocka_unit_test_setup_teardown(test_metrics_and_diagnostics, gsetup, gteardown),
        cmocka_unit_test_setup_teardown(test_guard_options, gsetup, gteardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
