/* Fetching an http source from a scripted loopback server: the request carries its headers
 * (literal, from the environment, a template over an input's token) and its JSON body; a JSON
 * answer gives the token; an answer whose Content-Type is not JSON, a 5xx and a missing
 * required value are refused with clear errors that quote no token. */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent_test.h"
#include "rt_internal.h"

/* The server: answers each connection with `reply` and keeps the last request. */
static int lfd;
static unsigned port;
static char reply[2048];
static char request[8192];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_int delay_ms; /* before each answer */

static void *serve(void *arg)
{
    (void)arg;
    for (;;) {
        int c = accept(lfd, NULL, NULL);
        if (c < 0)
            return NULL;
        char buf[8192];
        size_t len = 0;
        ssize_t k;
        /* The head, then as much body as Content-Length says. */
        while (len + 1 < sizeof buf && (k = read(c, buf + len, sizeof buf - 1 - len)) > 0) {
            len += (size_t)k;
            buf[len] = '\0';
            char *end = strstr(buf, "\r\n\r\n");
            if (!end)
                continue;
            char *cl = strstr(buf, "Content-Length: ");
            size_t want = cl ? strtoul(cl + 16, NULL, 10) : 0;
            if (len >= (size_t)(end + 4 - buf) + want)
                break;
        }
        pthread_mutex_lock(&mu);
        memcpy(request, buf, len + 1);
        size_t rl = strlen(reply);
        pthread_mutex_unlock(&mu);
        int d = atomic_load(&delay_ms);
        struct timespec ts = {d / 1000, (long)(d % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        if (write(c, reply, rl) < 0) {
        }
        close(c);
    }
}

static void set_reply(const char *status, const char *ctype, const char *body)
{
    pthread_mutex_lock(&mu);
    snprintf(
        reply, sizeof reply,
        "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
        status, ctype, strlen(body), body);
    pthread_mutex_unlock(&mu);
}

static ts_agent__graph *graph_for(ts_agent_config **cfg, const char *source_extra)
{
    char text[2048];
    snprintf(text, sizeof text,
             "settings: {listen: none}\n"
             "sources:\n"
             "  m:\n"
             "    type: http\n"
             "    request:\n"
             "      url: http://127.0.0.1:%u/token\n"
             "%s"
             "    parse:\n"
             "      tokens:\n"
             "        - id: t\n"
             "          pointer: /access_token\n"
             "          expiration: {source: json_body_field, pointer: /expires_in}\n"
             "sinks:\n"
             "  o: {type: file, source_id: m, path: /tmp/agent_rt_fetch_unused}\n",
             port, source_extra);
    ts_error err;
    *cfg = agent_parse(text, false, &err);
    if (!*cfg)
        fail_msg("%s: %s", err.where, err.msg);
    ts_agent__graph *g = ts_agent__graph_new(*cfg, NULL, NULL, &err);
    assert_non_null(g);
    return g;
}

static ts_status fetch(ts_agent__graph *g, char *value, ts_error *err)
{
    ts_agent__token t[1];
    memset(t, 0, sizeof t);
    atomic_bool stop;
    atomic_init(&stop, false);
    ts_error_clear(err);
    ts_status st = ts_agent__fetch_http_file(g, 0, &stop, t, err);
    if (st == TS_OK) {
        snprintf(value, 256, "%s", t[0].value);
        ts_agent__tokens_clear(t, 1);
    }
    return st;
}

static void test_headers_and_answer(void **state)
{
    (void)state;
    setenv("AGENT_RT_FETCH_KEY", "k-123", 1);
    ts_agent_config *cfg;
    ts_agent__graph *g =
        graph_for(&cfg, "      headers:\n"
                        "        Metadata-Flavor: Google\n"
                        "        X-Key: {from_env: AGENT_RT_FETCH_KEY, prefix: 'K '}\n"
                        "        X-Opt: {from_env: AGENT_RT_FETCH_NONE, required: false}\n");
    set_reply("200 OK", "application/json; charset=utf-8",
              "{\"access_token\":\"tok-A\",\"expires_in\":300}");
    char v[256];
    ts_error err;
    assert_int_equal(fetch(g, v, &err), TS_OK);
    assert_string_equal(v, "tok-A");
    pthread_mutex_lock(&mu);
    assert_non_null(strstr(request, "GET /token HTTP/1.1\r\n"));
    assert_non_null(strstr(request, "\r\nMetadata-Flavor: Google\r\n"));
    assert_non_null(strstr(request, "\r\nX-Key: K k-123\r\n"));
    assert_null(strstr(request, "X-Opt"));
    pthread_mutex_unlock(&mu);

    /* +json types count as JSON too */
    set_reply("200 OK", "application/vnd.x+json",
              "{\"access_token\":\"tok-B\",\"expires_in\":300}");
    assert_int_equal(fetch(g, v, &err), TS_OK);
    assert_string_equal(v, "tok-B");

    /* a token document served as HTML (a captive portal, an error page with status 200) */
    set_reply("200 OK", "text/html", "{\"access_token\":\"tok-C\",\"expires_in\":300}");
    assert_int_equal(fetch(g, v, &err), TS_EPARSE);
    assert_string_equal(err.msg,
                        "the answer's Content-Type is not JSON (application/json or +json)");

    set_reply("503 Service Unavailable", "application/json", "{\"access_token\":\"tok-D\"}");
    assert_int_equal(fetch(g, v, &err), TS_EIO);
    assert_string_equal(err.msg, "the server answered 503");
    assert_null(strstr(err.msg, "tok-D"));

    /* a required header whose variable is missing: no request at all */
    unsetenv("AGENT_RT_FETCH_KEY");
    pthread_mutex_lock(&mu);
    request[0] = '\0';
    pthread_mutex_unlock(&mu);
    assert_int_equal(fetch(g, v, &err), TS_ENOTFOUND);
    assert_string_equal(err.msg, "environment variable AGENT_RT_FETCH_KEY is not set");
    pthread_mutex_lock(&mu);
    assert_string_equal(request, "");
    pthread_mutex_unlock(&mu);
    ts_agent__graph_free(g);
    ts_agent_config_free(cfg);
}

static void test_post_body(void **state)
{
    (void)state;
    ts_agent_config *cfg;
    ts_agent__graph *g = graph_for(&cfg, "      method: POST\n"
                                         "      body:\n"
                                         "        audience: api\n"
                                         "        kind: \"a\\\"b\"\n");
    set_reply("200 OK", "application/json", "{\"access_token\":\"tok-E\",\"expires_in\":300}");
    char v[256];
    ts_error err;
    assert_int_equal(fetch(g, v, &err), TS_OK);
    assert_string_equal(v, "tok-E");
    pthread_mutex_lock(&mu);
    assert_non_null(strstr(request, "POST /token HTTP/1.1\r\n"));
    assert_non_null(strstr(request, "\r\nContent-Type: application/json\r\n"));
    assert_non_null(strstr(request, "\r\n\r\n{\"audience\":\"api\",\"kind\":\"a\\\"b\"}"));
    pthread_mutex_unlock(&mu);
    ts_agent__graph_free(g);
    ts_agent_config_free(cfg);
}

static atomic_bool first_pass_done;

static void on_first_pass(void *ud)
{
    (void)ud;
    atomic_store(&first_pass_done, true);
}

/* Four slow sources in one pass (0.6 s each, request_timeout_ms 1000): the refresh thread is
 * alive for the watchdog all along, since it marks each fetch, not only each pass. */
static void test_watchdog_slow_pass(void **state)
{
    (void)state;
    char text[2048];
    int n = snprintf(text, sizeof text,
                     "settings: {listen: none, request_timeout_ms: 1000}\nsources:\n");
    for (int i = 0; i < 4; i++)
        n += snprintf(text + n, sizeof text - (size_t)n,
                      "  s%d:\n"
                      "    type: http\n"
                      "    request: {url: 'http://127.0.0.1:%u/token'}\n"
                      "    parse: {tokens: [{id: t, pointer: /access_token, expiration: "
                      "{source: json_body_field, pointer: /expires_in}}]}\n",
                      i, port);
    snprintf(text + n, sizeof text - (size_t)n,
             "sinks:\n  o: {type: file, source_id: s0, path: /tmp/agent_rt_fetch_unused}\n");
    ts_error err;
    ts_agent_config *cfg = agent_parse(text, false, &err);
    if (!cfg)
        fail_msg("%s: %s", err.where, err.msg);
    set_reply("200 OK", "application/json", "{\"access_token\":\"tok-W\",\"expires_in\":300}");
    atomic_store(&delay_ms, 600);
    atomic_store(&first_pass_done, false);
    ts_agent__graph_hooks hooks = {.on_first_pass = on_first_pass};
    ts_agent__graph *g = ts_agent__graph_new(cfg, NULL, &hooks, &err);
    assert_non_null(g);
    assert_int_equal(ts_agent__graph_start(g, &err), TS_OK);
    int samples = 0;
    while (!atomic_load(&first_pass_done)) {
        assert_true(ts_agent__graph_alive(g, 0));
        samples++;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_true(samples >= 30); /* the pass took about 2.4 s */
    atomic_store(&delay_ms, 0);
    ts_agent__graph_free(g);
    ts_agent_config_free(cfg);
}

int main(void)
{
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 16) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &al) != 0)
        return 1;
    port = ntohs(a.sin_port);
    atomic_init(&delay_ms, 0);
    pthread_t th;
    pthread_create(&th, NULL, serve, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_headers_and_answer),
        cmocka_unit_test(test_post_body),
        cmocka_unit_test(test_watchdog_slow_pass),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    shutdown(lfd, SHUT_RDWR);
    close(lfd);
    pthread_join(th, NULL);
    return rc;
}
