/* gateway.test_http_front_bounds: the HTTP check listener's own bounds (docs/gateway.md, HTTP
 * "Bounds"), on loopback with libcurl and the fake checker of http_front_support.h: more header
 * lines than limits.max_headers or more bytes than limits.max_header_bytes is 431 and a head far
 * beyond them is refused by libmicrohttpd, none of them reaching the checker, and the listener
 * answers after; the largest translated token fits beside the largest accepted head; a body is
 * read and ignored up to 64 KiB, a larger one (announced or chunked) is 413. */
#include "http_front_support.h"

/* ---------------------------------------------------------------------------------------- */
/* The listener's bounds                                                                     */

static void test_header_bounds(void **state)
{
    (void)state;
    /* more lines than limits.max_headers (100) */
    const char *many[160];
    static char lines[150][32];
    for (int i = 0; i < 150; i++) {
        snprintf(lines[i], sizeof lines[i], "X-Flood-%d: v", i);
        many[i] = lines[i];
    }
    many[150] = NULL;
    reply r;
    request("GET", "/ext-authz/nodes", many, 0, false, &r);
    assert_int_equal(r.status, 431);
    /* one header over limits.max_header_bytes (16384) */
    static char big[20000];
    memcpy(big, "X-Big: ", 7);
    memset(big + 7, 'a', sizeof big - 8);
    const char *one[] = {big, NULL};
    request("GET", "/ext-authz/nodes", one, 0, false, &r);
    assert_int_equal(r.status, 431);
    /* far over the connection's memory: libmicrohttpd refuses it itself, or closes */
    static char huge[200000];
    memcpy(huge, "X-Huge: ", 8);
    memset(huge + 8, 'a', sizeof huge - 9);
    const char *two[] = {huge, NULL};
    request("GET", "/ext-authz/nodes", two, 0, false, &r);
    assert_true(r.rc != CURLE_OK || r.status >= 400);
    assert_int_equal(calls(), 0);
    /* and the listener still answers */
    request("GET", "/ext-authz/nodes", NULL, 0, false, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(calls(), 1);
}

/* The largest answer a verdict can ask for in practice (an Authorization of
 * TS_GATEWAY__VERDICT_MAX_VALUE bytes) fits beside the largest head the listener accepts. */
static void test_big_answer_fits(void **state)
{
    (void)state;
    static char token[TS_GATEWAY__VERDICT_MAX_VALUE + 1];
    memcpy(token, "Bearer ", 7);
    memset(token + 7, 't', sizeof token - 8);
    script s = {.decision = TS_GATEWAY__ALLOW, .headers = {{"Authorization", token}}};
    script_set(&s);
    static char big[16000];
    memcpy(big, "X-Big: ", 7);
    memset(big + 7, 'a', sizeof big - 8);
    const char *h[] = {big, NULL};
    reply r;
    request("GET", "/ext-authz/nodes", h, 0, false, &r);
    assert_int_equal(r.status, 200);
    static char v[sizeof token];
    assert_string_equal(header(&r, "Authorization", v, sizeof v), token);
}

static void test_body_bound(void **state)
{
    (void)state;
    reply r;
    request("POST", "/ext-authz/nodes", NULL, 65536, false, &r);
    assert_int_equal(r.status, 200);
    request("POST", "/ext-authz/nodes", NULL, 70000, false, &r); /* announced */
    assert_int_equal(r.status, 413);
    request("POST", "/ext-authz/nodes", NULL, 70000, true, &r); /* chunked: counted */
    assert_int_equal(r.status, 413);
    assert_int_equal(calls(), 1);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
#define ENVOY(t) cmocka_unit_test_setup_teardown(t, setup_envoy, teardown)
    const struct CMUnitTest tests[] = {
        ENVOY(test_header_bounds),
        ENVOY(test_big_answer_fits),
        ENVOY(test_body_bound),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
