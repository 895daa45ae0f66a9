/* gateway.test_http_front_bounds: the HTTP check listener's own bounds (docs/gateway.md, HTTP
 * "Bounds"), on loopback with libcurl and the fake checker of http_front_support.h: more header
 * lines than limits.max_headers or more bytes than limits.max_header_bytes is 431 and a head far
 * beyond them is refused by libmicrohttpd, none of them reaching the checker, and the listener
 * answers after; the largest translated token fits beside the largest accepted head; a body is
 * read and ignored up to 64 KiB, a larger one (announced or chunked) is 413; the stop drains:
 * a check in flight gets its answer (Connection: close) and a new connection is refused. */
#define _POSIX_C_SOURCE 200809L /* nanosleep() */

#include <stdatomic.h>
#include <time.h>

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

/* ---------------------------------------------------------------------------------------- */
/* The stop drains                                                                           */

static void sleep_ms(long ms)
{
    struct timespec d = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&d, NULL);
}

/* A checker that takes its time (a JWKS fetch on a slow upstream), then allows. */
static atomic_int g_slow_entered;

static void slow_check(const ts_gateway__input *in, ts_gateway__verdict *out, void *ud)
{
    (void)in;
    (void)ud;
    atomic_store(&g_slow_entered, 1);
    sleep_ms(1500);
    ts_gateway__verdict_decide(out, TS_GATEWAY__ALLOW, 200, "slow");
}

typedef struct probe {
    uint16_t port;
    long timeout_s;
    CURLcode rc;
    long status;
    char head[4096];
    size_t head_len;
} probe;

static size_t probe_head(char *p, size_t size, size_t n, void *ud)
{
    probe *pr = ud;
    size_t len = size * n, room = sizeof pr->head - 1 - pr->head_len;
    size_t take = len < room ? len : room;
    memcpy(pr->head + pr->head_len, p, take);
    pr->head_len += take;
    pr->head[pr->head_len] = '\0';
    return len;
}

static size_t probe_body(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

static void *probe_run(void *arg)
{
    probe *pr = arg;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/ext-authz/nodes", (unsigned)pr->port);
    CURL *c = curl_easy_init();
    if (!c) {
        pr->rc = CURLE_FAILED_INIT;
        return NULL;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, pr->timeout_s);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, probe_head);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, pr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, probe_body);
    pr->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &pr->status);
    curl_easy_cleanup(c);
    return NULL;
}

/* Whether @p head has the line @p want (case aside). */
static bool has_line(const char *head, const char *want)
{
    size_t n = strlen(want);
    for (const char *l = head; l && *l; l = strstr(l, "\r\n") ? strstr(l, "\r\n") + 2 : NULL)
        if (strncasecmp(l, want, n) == 0 && l[n] == '\r')
            return true;
    return false;
}

static void *stop_run(void *arg)
{
    ts_gateway__http_front_stop(arg);
    return NULL;
}

/* SIGTERM while a check runs: the stop waits for its answer (a dropped check would be decided
 * by the proxy's failure setting, fail-open behind Envoy with failure_mode_allow), the answer
 * closes the connection, and a new connection meanwhile is refused at once. */
static void test_stop_drains(void **state)
{
    (void)state;
    memset(&g_cfg, 0, sizeof g_cfg);
    snprintf(g_cfg.listen, sizeof g_cfg.listen, "127.0.0.1:0");
    snprintf(g_cfg.http.prefix, sizeof g_cfg.http.prefix, "/ext-authz");
    g_cfg.threads = 2;
    g_cfg.limits.request_timeout_ms = 5000;
    atomic_store(&g_slow_entered, 0);
    ts_error err;
    ts_error_clear(&err);
    ts_gateway__http_front *f =
        ts_gateway__http_front_start(&g_cfg, (ts_gateway__checker){slow_check, NULL}, &err);
    assert_non_null(f);
    uint16_t port = ts_gateway__http_front_port(f);

    probe inflight = {.port = port, .timeout_s = 20};
    pthread_t client, stopper;
    assert_int_equal(pthread_create(&client, NULL, probe_run, &inflight), 0);
    for (int i = 0; i < 500 && !atomic_load(&g_slow_entered); i++)
        sleep_ms(10);
    assert_true(atomic_load(&g_slow_entered));
    assert_int_equal(pthread_create(&stopper, NULL, stop_run, f), 0);
    sleep_ms(300); /* the stop has begun; the check has more than a second to go */
    probe late = {.port = port, .timeout_s = 1};
    probe_run(&late);
    assert_int_equal(late.rc, CURLE_COULDNT_CONNECT);

    assert_int_equal(pthread_join(client, NULL), 0);
    assert_int_equal(pthread_join(stopper, NULL), 0);
    assert_int_equal(inflight.rc, CURLE_OK);
    assert_int_equal(inflight.status, 200);
    assert_true(has_line(inflight.head, "Connection: close"));
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
#define ENVOY(t) cmocka_unit_test_setup_teardown(t, setup_envoy, teardown)
    const struct CMUnitTest tests[] = {
        ENVOY(test_header_bounds),
        ENVOY(test_big_answer_fits),
        ENVOY(test_body_bound),
        cmocka_unit_test(test_stop_drains),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
