/* A running graph on a moved clock: a file source feeding a file sink (bare token, mode 0600,
 * replaced when the file changes, removed once the token expires), a uds sink (mode 0660,
 * answers GET / and its http_path with the response, 404 elsewhere, 405 to POST, 503 once the
 * token expired), the answers of http sinks in every expiry format, /health and /metrics, and a
 * failing source counted and backed off. */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent_test.h"
#include "rt_internal.h"

static atomic_llong clock_ms;

static int64_t test_now(void *ud)
{
    (void)ud;
    return atomic_load(&clock_ms);
}

static char dir[64];

static void write_text(const char *name, const char *text)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* The content of DIR/name, or "" when it does not exist. */
static const char *read_text(const char *name)
{
    static char buf[4096];
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    buf[0] = '\0';
    FILE *f = fopen(p, "r");
    if (!f)
        return buf;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Wait up to 5 s for DIR/name to read @p want. */
static bool wait_text(const char *name, const char *want)
{
    for (int i = 0; i < 500; i++) {
        if (strcmp(read_text(name), want) == 0)
            return true;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return false;
}

/* One raw HTTP/1.0 request on the uds sink; the whole answer into @p out. */
static void uds_at(const char *sock, const char *method, const char *path, char *out, size_t cap)
{
    struct sockaddr_un un;
    memset(&un, 0, sizeof un);
    un.sun_family = AF_UNIX;
    snprintf(un.sun_path, sizeof un.sun_path, "%s/%s", dir, sock);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&un, sizeof un), 0);
    char rq[256];
    int n = snprintf(rq, sizeof rq, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                     method, path);
    assert_int_equal(write(fd, rq, (size_t)n), n);
    size_t len = 0;
    ssize_t k;
    while (len + 1 < cap && (k = read(fd, out + len, cap - 1 - len)) > 0)
        len += (size_t)k;
    out[len] = '\0';
    close(fd);
}

static void uds_get(const char *method, const char *path, char *out, size_t cap)
{
    uds_at("s.sock", method, path, out, cap);
}

static ts_agent_config *load_cfg(void)
{
    char text[3072];
    snprintf(
        text, sizeof text,
        "settings: {listen: none, retry: {attempts: 2, base_delay_ms: 100, max_delay_ms: 400}}\n"
        "sources:\n"
        "  f:\n"
        "    type: file\n"
        "    path: %s/src\n"
        "    parse: {tokens: [{id: t, expiration: {source: manual, manual_ttl_seconds: 100}}]}\n"
        "  gone:\n"
        "    type: file\n"
        "    required: false\n"
        "    path: %s/missing\n"
        "    parse: {tokens: [{id: t, expiration: {source: manual, manual_ttl_seconds: 100}}]}\n"
        "sinks:\n"
        "  out: {type: file, source_id: f, path: %s/out}\n"
        "  sock:\n"
        "    type: uds\n"
        "    source_id: f\n"
        "    path: %s/s.sock\n"
        "    http_path: /token\n"
        "    response:\n"
        "      content_type: application/json\n"
        "      headers: {X-Exp: {type: expiration, format: unix}}\n"
        "      body:\n"
        "        access_token: {type: token}\n"
        "        expires_in: {type: expiration}\n"
        "        at: {type: expiration, format: rfc3339}\n"
        "        kind: {type: string, value: Bearer}\n"
        "  mine: {type: uds, source_id: f, path: %s/m.sock, allowed_uids: [%u]}\n"
        "  other: {type: uds, source_id: f, path: %s/o.sock, allowed_uids: [%u]}\n",
        dir, dir, dir, dir, dir, (unsigned)getuid(), dir, (unsigned)getuid() + 4242u);
    ts_error err;
    ts_agent_config *cfg = agent_parse(text, true, &err);
    if (!cfg)
        fail_msg("%s: %s", err.where, err.msg);
    return cfg;
}

static void test_graph(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/agent_rt_graph.XXXXXX");
    assert_non_null(mkdtemp(dir));
    atomic_store(&clock_ms, 1800000000000LL);
    write_text("src", "first-token\n");
    ts_agent_config *cfg = load_cfg();
    ts_agent__log *log = ts_agent__log_new(2, TS_AGENT_LOG_WARN, TS_AGENT_LOG_JSON);
    ts_agent__graph_hooks hooks = {.now_ms = test_now};
    ts_error err;
    ts_error_clear(&err);
    ts_agent__graph *g = ts_agent__graph_new(cfg, log, &hooks, &err);
    if (!g)
        fail_msg("%s: %s", err.where, err.msg);
    char p[256];
    struct stat sb;
    snprintf(p, sizeof p, "%s/s.sock", dir);
    assert_int_equal(stat(p, &sb), 0);
    assert_true(S_ISSOCK(sb.st_mode));
    assert_int_equal(sb.st_mode & 0777, 0660);

    /* Before the first fetch: 503. */
    char ans[4096];
    uds_get("GET", "/", ans, sizeof ans);
    assert_non_null(strstr(ans, "HTTP/1.1 503"));
    assert_non_null(strstr(ans, "no valid token for source 'f'"));

    assert_int_equal(ts_agent__graph_start(g, &err), TS_OK);
    assert_true(wait_text("out", "first-token")); /* bare, no newline */
    snprintf(p, sizeof p, "%s/out", dir);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    uds_get("GET", "/", ans, sizeof ans);
    assert_non_null(strstr(ans, "HTTP/1.1 200"));
    assert_non_null(strstr(ans, "Cache-Control: no-store"));
    assert_non_null(strstr(ans, "X-Exp: 1800000100"));
    assert_non_null(strstr(ans, "{\"access_token\":\"first-token\",\"expires_in\":100,"
                                "\"at\":\"2027-01-15T08:01:40Z\",\"kind\":\"Bearer\"}"));
    uds_get("GET", "/token", ans, sizeof ans);
    assert_non_null(strstr(ans, "HTTP/1.1 200"));
    /* SO_PEERCRED: our uid is allowed on one socket, not on the other */
    uds_at("m.sock", "GET", "/", ans, sizeof ans);
    assert_non_null(strstr(ans, "HTTP/1.1 200"));
    uds_at("o.sock", "GET", "/", ans, sizeof ans);
    assert_non_null(strstr(ans, "HTTP/1.1 403"));
    assert_null(strstr(ans, "first-token"));
    uds_get("GET", "/other", ans, sizeof ans);
    assert_non_null(strstr(ans, "HTTP/1.1 404"));
    uds_get("POST", "/", ans, sizeof ans);
    assert_non_null(strstr(ans, "HTTP/1.1 405"));

    /* A new token in the file, fetched at its refresh time (100 s life, 30 s margin: at most
     * 70 s after the fetch). */
    write_text("src", "second-token");
    atomic_fetch_add(&clock_ms, 71000);
    assert_true(wait_text("out", "second-token"));

    /* The source fails from now on: the last good token stays until it expires, then the
     * file is removed and the socket answers 503. */
    snprintf(p, sizeof p, "%s/src", dir);
    unlink(p);
    atomic_fetch_add(&clock_ms, 50000);
    struct timespec ts = {0, 300 * 1000000L};
    nanosleep(&ts, NULL);
    assert_string_equal(read_text("out"), "second-token");
    atomic_fetch_add(&clock_ms, 60000); /* past 71 + 100 s */
    assert_true(wait_text("out", ""));
    snprintf(p, sizeof p, "%s/out", dir);
    assert_int_not_equal(stat(p, &sb), 0);
    uds_get("GET", "/", ans, sizeof ans);
    assert_non_null(strstr(ans, "HTTP/1.1 503"));

    ts_agent__answer a;
    assert_int_equal(ts_agent__health_answer(g, &a), TS_OK);
    assert_int_equal(a.status, 503); /* f is required and has no token; gone is not required */
    assert_non_null(strstr(a.body, "\"status\":\"unavailable\""));
    ts_agent__answer_clear(&a);
    assert_int_equal(ts_agent__metrics_answer(g, 1, 2, NULL, &a), TS_OK);
    assert_non_null(strstr(a.body, "tokensmith_agent_source_valid{source=\"f\"} 0\n"));
    assert_non_null(strstr(a.body, "tokensmith_agent_source_refreshes_total{source=\"f\"} 2\n"));
    assert_non_null(strstr(a.body, "tokensmith_agent_source_failing{source=\"gone\"} 1\n"));
    assert_non_null(strstr(a.body, "tokensmith_agent_sink_writes_total{sink=\"out\"} 2\n"));
    assert_non_null(strstr(a.body, "tokensmith_agent_reloads_total{result=\"refused\"} 2\n"));
    assert_null(strstr(a.body, "token\"} ")); /* no token value anywhere */
    ts_agent__answer_clear(&a);

    ts_agent__graph_free(g);
    snprintf(p, sizeof p, "%s/s.sock", dir);
    assert_int_not_equal(stat(p, &sb), 0); /* the socket is removed at stop */
    ts_agent_config_free(cfg);
    ts_agent__log_free(log);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_graph)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
