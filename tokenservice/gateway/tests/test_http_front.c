/* gateway.test_http_front: the HTTP check listener (http_front.c) on loopback, driven with
 * libcurl, deciding with a fake checker that records the input it got and answers a scripted
 * verdict (http_front_support.h). The Envoy HTTP conformance table (docs/gateway.md; no Envoy
 * binary is installable here, so this table is the evidence): the check path is prefix + the
 * client's path with its query, the method as received (HEAD, OPTIONS, POST with a body), Host
 * as sent; allow is exactly 200 with an empty body and the verdict's headers; a denial carries
 * its status, WWW-Authenticate and body; "cannot decide" is 503 with Retry-After; outside the
 * prefix is 404; never a 202 or 204. Then nginx's convention (X-Original-URI /
 * X-Original-Method). The listener's own bounds are gateway.test_http_front_bounds. */
#include "http_front_support.h"

/* ---------------------------------------------------------------------------------------- */
/* Envoy (and Istio) convention                                                              */

static void test_allow_exactly_200(void **state)
{
    (void)state;
    script s = {.decision = TS_GATEWAY__ALLOW,
                .headers = {{"Authorization", "Bearer internal.jwt.sig"},
                            {"x-tokensmith-subject", "alice"}},
                .remove = {"x-tokensmith-roles", "x-tokensmith-evil"}};
    script_set(&s);
    const char *h[] = {"Host: api.example.com:8443", "Authorization: Bearer client-token",
                       "X-Request-Id: r-1", NULL};
    reply r;
    request("GET", "/ext-authz/nodes/7?a=1&b=x+y&flag&e=&p=%2F%20", h, 0, false, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    char v[1024];
    assert_string_equal(header(&r, "Authorization", v, sizeof v), "Bearer internal.jwt.sig");
    assert_string_equal(header(&r, "x-tokensmith-subject", v, sizeof v), "alice");
    assert_string_equal(header(&r, "x-envoy-auth-headers-to-remove", v, sizeof v),
                        "x-tokensmith-roles, x-tokensmith-evil");
    assert_string_equal(header(&r, "Cache-Control", v, sizeof v), "no-store");

    assert_int_equal(calls(), 1);
    assert_int_equal(g_fake.front, TS_GATEWAY__FRONT_HTTP);
    assert_string_equal(g_fake.method, "GET");
    assert_string_equal(g_fake.host, "api.example.com:8443");
    /* prefix stripped, query kept as sent: escapes not decoded, '+' not a space */
    assert_string_equal(g_fake.path, "/nodes/7?a=1&b=x+y&flag&e=&p=%2F%20");
    assert_string_equal(recorded("authorization", NULL), "Bearer client-token");
    assert_string_equal(recorded("x-request-id", NULL), "r-1");
}

static void test_raw_path_kept(void **state)
{
    (void)state;
    reply r;
    request("GET", "/ext-authz/a%2Fb/%2e%2e/c", NULL, 0, false, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(g_fake.path, "/a%2Fb/%2e%2e/c");
    request("GET", "/ext-authz/", NULL, 0, false, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(g_fake.path, "/");
}

static void test_methods_as_received(void **state)
{
    (void)state;
    const char *methods[] = {"HEAD", "OPTIONS", "DELETE", "PATCH", "PUT", "GET"};
    reply r;
    for (size_t i = 0; i < sizeof methods / sizeof *methods; i++) {
        request(methods[i], "/ext-authz/nodes", NULL, 0, false, &r);
        assert_int_equal(r.rc, CURLE_OK);
        assert_int_equal(r.status, 200);
        assert_string_equal(g_fake.method, methods[i]);
        assert_string_equal(g_fake.path, "/nodes");
    }
    /* A POST with a body (Envoy's with_request_body): read, ignored, checked as POST. */
    request("POST", "/ext-authz/nodes", NULL, 1000, false, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(g_fake.method, "POST");
    request("POST", "/ext-authz/nodes", NULL, 3000, true, &r);
    assert_int_equal(r.status, 200);
    /* Envoy's ContentLengthEqualZero: a POST checked with Content-Length 0 */
    const char *zero[] = {"Content-Length: 0", NULL};
    request("POST", "/ext-authz/nodes", zero, 0, false, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(g_fake.method, "POST");
    assert_string_equal(recorded("content-length", NULL), "0");
    assert_int_equal(calls(), 9);
}

static const char deny_json[] =
    "{\"schema_version\":\"authz.deny.v1\",\"code\":\"AUTHN_INVALID_TOKEN\"}\n";

static void test_deny_401(void **state)
{
    (void)state;
    script s = {.decision = TS_GATEWAY__DENY,
                .status = 401,
                .headers = {{"WWW-Authenticate", "Bearer error=\"invalid_token\""},
                            {"Content-Type", "application/json"}},
                .body = deny_json};
    script_set(&s);
    reply r;
    request("GET", "/ext-authz/nodes", NULL, 0, false, &r);
    assert_int_equal(r.status, 401);
    char v[256];
    assert_string_equal(header(&r, "WWW-Authenticate", v, sizeof v),
                        "Bearer error=\"invalid_token\"");
    assert_string_equal(header(&r, "Content-Type", v, sizeof v), "application/json");
    assert_string_equal(header(&r, "Cache-Control", v, sizeof v), "no-store");
    assert_string_equal(r.body, deny_json);
    /* the nginx header is for nginx only */
    assert_null(header(&r, "x-tokensmith-deny", v, sizeof v));
    /* HEAD: the same answer without its body */
    request("HEAD", "/ext-authz/nodes", NULL, 0, false, &r);
    assert_int_equal(r.status, 401);
    assert_int_equal(r.body_len, 0);
    assert_non_null(header(&r, "WWW-Authenticate", v, sizeof v));
}

static void test_deny_403_and_400(void **state)
{
    (void)state;
    static const char body[] = "{\"schema_version\":\"authz.deny.v1\",\"code\":\"AUTHZ_DENIED\"}";
    script s = {.decision = TS_GATEWAY__DENY,
                .status = 403,
                .headers = {{"Content-Type", "application/json"}},
                .body = body};
    script_set(&s);
    reply r;
    request("DELETE", "/ext-authz/nodes/1", NULL, 0, false, &r);
    assert_int_equal(r.status, 403);
    assert_string_equal(r.body, body);
    s.status = 400;
    script_set(&s);
    request("GET", "/ext-authz/x", NULL, 0, false, &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.body, body);
}

static void test_cannot_decide_503(void **state)
{
    (void)state;
    script s = {.decision = TS_GATEWAY__CANNOT_DECIDE, .body = "keys unavailable"};
    script_set(&s);
    reply r;
    request("GET", "/ext-authz/nodes", NULL, 0, false, &r);
    assert_int_equal(r.status, 503);
    char v[64];
    assert_string_equal(header(&r, "Retry-After", v, sizeof v), "1");
    assert_string_equal(header(&r, "Cache-Control", v, sizeof v), "no-store");
    assert_int_equal(r.body_len, 0);
}

/* Envoy reads 202 and 204 as denials, nginx reads any 2xx as an allow: a checker's verdict
 * with another success or a non-4xx denial status never reaches the wire as such. */
static void test_never_202_or_204(void **state)
{
    (void)state;
    const struct {
        ts_gateway__decision d;
        unsigned status;
        long want;
    } rows[] = {
        {TS_GATEWAY__ALLOW, 202, 200}, {TS_GATEWAY__ALLOW, 204, 200},
        {TS_GATEWAY__DENY, 204, 503},  {TS_GATEWAY__DENY, 202, 503},
        {TS_GATEWAY__DENY, 200, 503},  {TS_GATEWAY__DENY, 302, 503},
        {TS_GATEWAY__DENY, 500, 503},  {(ts_gateway__decision)7, 200, 503},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        script s = {.decision = rows[i].d, .status = rows[i].status, .raw = true, .body = "x"};
        script_set(&s);
        reply r;
        request("GET", "/ext-authz/nodes", NULL, 0, false, &r);
        assert_int_equal(r.status, rows[i].want);
        assert_int_equal(r.body_len, 0); /* an allow's body never goes out either */
    }
}

static void test_outside_prefix_404(void **state)
{
    (void)state;
    const char *targets[] = {"/nodes",         "/ext-authzz/nodes", "/ext-authz",
                             "/ext-authz?x=1", "/EXT-AUTHZ/nodes",  "/"};
    for (size_t i = 0; i < sizeof targets / sizeof *targets; i++) {
        reply r;
        request("GET", targets[i], NULL, 0, false, &r);
        assert_int_equal(r.status, 404);
        char v[64];
        assert_string_equal(header(&r, "Cache-Control", v, sizeof v), "no-store");
        /* the listener's own refusal, as tokensmith-mhd's framing checks answer */
        assert_string_equal(header(&r, "Connection", v, sizeof v), "close");
        assert_non_null(strstr(r.body, "\"error\":\"invalid_request\""));
    }
    assert_int_equal(calls(), 0);
}

/* Two Authorization lines reach the checker as two (it answers 400): the front neither joins
 * nor drops them. */
static void test_headers_passed_as_lines(void **state)
{
    (void)state;
    const char *h[] = {"Authorization: Bearer a", "Authorization: Bearer b", NULL};
    reply r;
    request("GET", "/ext-authz/nodes", h, 0, false, &r);
    assert_int_equal(r.status, 200);
    int n = 0;
    assert_string_equal(recorded("authorization", &n), "Bearer a");
    assert_int_equal(n, 2);
}

/* ---------------------------------------------------------------------------------------- */
/* nginx convention                                                                          */

static void test_nginx_original_request(void **state)
{
    (void)state;
    const char *h[] = {"Host: shop.example", "X-Original-URI: /nodes/%2e%2e/admin?q=a+b",
                       "X-Original-Method: DELETE", NULL};
    reply r;
    request("GET", "/_ts_check", h, 0, false, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(g_fake.method, "DELETE");
    assert_string_equal(g_fake.path, "/nodes/%2e%2e/admin?q=a+b");
    assert_string_equal(g_fake.host, "shop.example");
}

static void test_nginx_deny_header(void **state)
{
    (void)state;
    script s = {.decision = TS_GATEWAY__DENY,
                .status = 403,
                .headers = {{"Content-Type", "application/json"}},
                .body = deny_json};
    script_set(&s);
    const char *h[] = {"X-Original-URI: /nodes", "X-Original-Method: GET", NULL};
    reply r;
    request("GET", "/auth", h, 0, false, &r);
    assert_int_equal(r.status, 403);
    assert_string_equal(r.body, deny_json);
    char v[512];
    /* the body without its newline, for auth_request_set */
    assert_string_equal(header(&r, "x-tokensmith-deny", v, sizeof v),
                        "{\"schema_version\":\"authz.deny.v1\",\"code\":\"AUTHN_INVALID_TOKEN\"}");
}

static void test_nginx_headers_required(void **state)
{
    (void)state;
    const char *no_uri[] = {"X-Original-Method: GET", NULL};
    const char *no_method[] = {"X-Original-URI: /nodes", NULL};
    const char *two_uris[] = {"X-Original-URI: /public", "X-Original-URI: /nodes",
                              "X-Original-Method: GET", NULL};
    const char *const *cases[] = {no_uri, no_method, two_uris, NULL};
    reply r;
    for (size_t i = 0; i < 4; i++) {
        request("GET", "/auth", cases[i], 0, false, &r);
        assert_int_equal(r.status, 400);
    }
    assert_int_equal(calls(), 0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
#define ENVOY(t) cmocka_unit_test_setup_teardown(t, setup_envoy, teardown)
#define NGINX(t) cmocka_unit_test_setup_teardown(t, setup_nginx, teardown)
    const struct CMUnitTest tests[] = {
        ENVOY(test_allow_exactly_200),       ENVOY(test_raw_path_kept),
        ENVOY(test_methods_as_received),     ENVOY(test_deny_401),
        ENVOY(test_deny_403_and_400),        ENVOY(test_cannot_decide_503),
        ENVOY(test_never_202_or_204),        ENVOY(test_outside_prefix_404),
        ENVOY(test_headers_passed_as_lines), NGINX(test_nginx_original_request),
        NGINX(test_nginx_deny_header),       NGINX(test_nginx_headers_required),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
