/* The client against a scripted loopback token endpoint that fails: the answers a broken or
 * hostile server gives (5xx, garbage, huge bodies, wrong content types, redirects, 429 with
 * Retry-After, a token issued expired), the backoff's bounds under a moved clock, and what
 * happens to a refresh token whose answer is lost, refused or never sent, or quoted back in an
 * error; log lines that name the endpoint and no credential. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "client_internal.h"
#include "common/digest.h"
#include "script_server.h"

/* ---- failures ------------------------------------------------------------------------------- */

static void expect_failure(ts_client *c, ts_status want, long http, const char *error,
                           const char *msg)
{
    char tok[256];
    ts_client_token_info info;
    ts_error err;
    ts_client_flush(c); /* past any backoff */
    ts_status st = script_get(c, tok, sizeof tok, &info, &err);
    if (st != want)
        fail_msg("%s, want %s: %s", ts_status_str(st), ts_status_str(want), err.msg);
    assert_int_equal(info.oauth.http_status, http);
    assert_string_equal(info.oauth.error, error);
    if (!strstr(err.msg, msg))
        fail_msg("'%s' does not say '%s'", err.msg, msg);
    if (http)
        assert_string_equal(err.where, script_endpoint());
}

static void test_bad_answers(void **state)
{
    (void)state;
    ts_client_options o = script_cc_options(TS_CLIENT_AUTH_SECRET_BASIC);
    ts_client *c = script_client(&o);
    script_answer(
        401, "application/json", "WWW-Authenticate: Basic realm=\"x\"\r\n",
        "{\"error\":\"invalid_client\",\"error_description\":\"client authentication failed\"}");
    expect_failure(c, TS_EINVAL, 401, "invalid_client",
                   "HTTP 401 invalid_client: client "
                   "authentication failed");
    script_answer(500, "text/html", NULL, "<h1>oops</h1>");
    expect_failure(c, TS_EIO, 500, "", "HTTP 500 without an OAuth error (Content-Type text/html)");
    script_answer(200, "application/json", NULL, "{\"access_token\":");
    expect_failure(c, TS_EPARSE, 200, "", "not a JSON object");
    script_answer(200, "text/plain", NULL, SCRIPT_TOKEN_OK);
    expect_failure(c, TS_EPARSE, 200, "", "Content-Type text/plain");
    script_answer(302, NULL, "Location: https://evil.example/token\r\n", "");
    expect_failure(c, TS_EIO, 302, "", "HTTP 302");
    /* Larger than max_response_bytes: refused while it arrives. */
    static char huge[200 * 1024];
    memset(huge, ' ', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    huge[0] = '{';
    huge[sizeof huge - 2] = '}';
    script_answer(200, "application/json", NULL, huge);
    expect_failure(c, TS_ELIMIT, 200, "", "token response larger than 65536 bytes");
    script_answer(200, "application/json", NULL,
                  "{\"access_token\":\"a\",\"token_type\":\"Bearer\","
                  "\"expires_in\":0}");
    expect_failure(c, TS_EPARSE, 200, "", "already expired");
    ts_client_free(c);
    /* Nobody listening. */
    ts_client_options d = script_cc_options(TS_CLIENT_AUTH_SECRET_BASIC);
    d.token_endpoint = "http://127.0.0.1:1/token";
    c = script_client(&d);
    expect_failure(c, TS_EIO, 0, "", "token request failed");
    ts_client_free(c);
}

typedef struct racer {
    ts_client *c;
    pthread_barrier_t *start;
    ts_status st;
} racer;

static void *race(void *ud)
{
    racer *r = ud;
    char tok[256];
    ts_error err;
    pthread_barrier_wait(r->start);
    r->st = ts_client_token_get(r->c, tok, sizeof tok, NULL, &err);
    return NULL;
}

/* A server whose tokens are spent before its answer arrives (1 s tokens, 600 ms answers): the
 * thread that waited for the renewal takes its token like the one that made it, instead of
 * asking again for another that would be just as short. */
static void test_short_lived_tokens(void **state)
{
    (void)state;
    ts_client_options o = script_cc_options(TS_CLIENT_AUTH_SECRET_POST);
    o.clock_ms = NULL;
    ts_client *c = script_client(&o);
    script_answer_token("{\"access_token\":\"brief\",\"token_type\":\"Bearer\",\"expires_in\":1}");
    script_delay(600);
    int before = script_requests();
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 4);
    racer r[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (racer){.c = c, .start = &start};
        assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(r[i].st, TS_OK);
    }
    pthread_barrier_destroy(&start);
    script_delay(0);
    assert_int_equal(script_requests() - before, 1);
    ts_client_free(c);
}

/* Backoff under a moved clock: after the n-th failure in a row, no request before a delay drawn
 * from 0..min(max, initial * 2^(n-1)); a call meanwhile fails at once with the same failure;
 * Retry-After is a floor. */
static void test_backoff(void **state)
{
    (void)state;
    ts_client_options o = script_cc_options(TS_CLIENT_AUTH_SECRET_BASIC);
    o.backoff_initial_ms = 1000;
    o.backoff_max_ms = 8000;
    ts_client *c = script_client(&o);
    script_answer(503, "application/json", NULL, "{\"error\":\"temporarily_unavailable\"}");
    char tok[256];
    ts_client_token_info info;
    ts_error err;
    const int64_t ceiling[] = {0, 1000, 2000, 4000, 8000, 8000, 8000};
    for (unsigned n = 1; n <= 6; n++) {
        int before = script_requests();
        assert_int_equal(script_get(c, tok, sizeof tok, &info, &err), TS_EIO);
        assert_int_equal(script_requests(), before + 1);
        ts_client_stats st;
        ts_client_stats_get(c, &st);
        assert_int_equal(st.consecutive_failures, n);
        assert_true(st.next_attempt_in_ms >= 0 && st.next_attempt_in_ms <= ceiling[n]);
        if (st.next_attempt_in_ms > 0) {
            /* Within the backoff: the same failure, no request. */
            assert_int_equal(script_get(c, tok, sizeof tok, &info, &err), TS_EIO);
            assert_non_null(strstr(err.msg, "next attempt in"));
            assert_int_equal(info.oauth.http_status, 503);
            assert_int_equal(script_requests(), before + 1);
        }
        script_clock_advance(st.next_attempt_in_ms);
    }
    /* Retry-After: 120 s, far above the 8 s cap. */
    script_answer(429, "application/json", "Retry-After: 120\r\n",
                  "{\"error\":\"too_many_requests\"}");
    assert_int_equal(script_get(c, tok, sizeof tok, &info, &err), TS_ELIMIT);
    assert_int_equal(info.oauth.retry_after_s, 120);
    ts_client_stats st;
    ts_client_stats_get(c, &st);
    assert_true(st.next_attempt_in_ms >= 120000);
    /* Success resets it. */
    script_answer_token(SCRIPT_TOKEN_OK);
    script_clock_advance(120000);
    assert_int_equal(script_get(c, tok, sizeof tok, &info, &err), TS_OK);
    ts_client_stats_get(c, &st);
    assert_int_equal(st.consecutive_failures, 0);
    assert_int_equal(st.next_attempt_in_ms, 0);
    assert_int_equal(st.failures, 7);
    assert_int_equal(st.tokens, 1);
    ts_client_free(c);
}

/* ---- a refresh token's fate ----------------------------------------------------------------- */

static char dir[64];

static ts_client_options refresh_options(const char *path)
{
    ts_client_options o = TS_CLIENT_OPTIONS_INIT;
    o.token_endpoint = script_endpoint();
    o.grant = TS_CLIENT_GRANT_REFRESH_TOKEN;
    o.refresh_token = "rt-initial";
    o.state_file = path;
    o.clock_ms = script_clock;
    o.timeout_ms = 500;
    o.connect_timeout_ms = 500;
    return o;
}

static void read_file(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    fclose(f);
}

static void test_refresh_token_fates(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ts-client-exchange-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char path[128], file[4096], req[16384], tok[256];
    ts_client_token_info info;
    ts_error err;
    snprintf(path, sizeof path, "%s/family.json", dir);
    ts_client_options o = refresh_options(path);
    ts_client *c = script_client(&o);

    /* The configured token, rotated by the server: the successor is in the file. */
    script_answer_token("{\"access_token\":\"at\",\"token_type\":\"Bearer\",\"expires_in\":600,"
                        "\"refresh_token\":\"rt-2\",\"refresh_expires_in\":86400}");
    assert_int_equal(script_get(c, tok, sizeof tok, &info, &err), TS_OK);
    script_last_request(req, sizeof req);
    assert_string_equal(script_body_of(req), "grant_type=refresh_token&refresh_token=rt-initial");
    read_file(path, file, sizeof file);
    assert_non_null(strstr(file, "\"refresh_token\":\"rt-2\""));
    assert_non_null(strstr(file, "\"refresh_expires_at\":"));

    /* A server that does not rotate: the same token stays. */
    script_answer_token("{\"access_token\":\"at\",\"token_type\":\"Bearer\",\"expires_in\":600}");
    ts_client_invalidate(c, 0);
    assert_int_equal(script_get(c, tok, sizeof tok, &info, &err), TS_OK);
    script_last_request(req, sizeof req);
    assert_string_equal(script_body_of(req), "grant_type=refresh_token&refresh_token=rt-2");
    read_file(path, file, sizeof file);
    assert_non_null(strstr(file, "\"refresh_token\":\"rt-2\""));

    /* 503: the server did not act; the token goes back into the file. */
    script_answer(503, "application/json", NULL, "{\"error\":\"temporarily_unavailable\"}");
    ts_client_invalidate(c, 0);
    assert_int_equal(script_get(c, tok, sizeof tok, &info, &err), TS_EIO);
    read_file(path, file, sizeof file);
    assert_non_null(strstr(file, "\"refresh_token\":\"rt-2\""));
    assert_null(strstr(file, "lost_refresh_token_prefix"));

    /* The answer lost after the request left (a timeout): never presented again. */
    script_silent();
    ts_client_flush(c);
    int before = script_requests();
    assert_int_equal(script_get(c, tok, sizeof tok, &info, &err), TS_EIO);
    assert_int_equal(script_requests(), before + 1);
    read_file(path, file, sizeof file);
    assert_null(strstr(file, "\"refresh_token\""));
    char prefix[9];
    ts_common__sha256_prefix("rt-2", 4, prefix);
    char want[64];
    snprintf(want, sizeof want, "\"lost_refresh_token_prefix\":\"%s\"", prefix);
    assert_non_null(strstr(file, want));
    script_answer_token(SCRIPT_TOKEN_OK);
    ts_client_flush(c);
    before = script_requests();
    assert_int_equal(script_get(c, tok, sizeof tok, &info, &err), TS_EINVAL);
    assert_non_null(strstr(err.msg, "was presented before"));
    assert_int_equal(script_requests(), before); /* nothing sent */
    ts_client_free(c);
    /* A restart says so too, and sends nothing. */
    c = script_client(&o);
    assert_int_equal(script_get(c, tok, sizeof tok, &info, &err), TS_EINVAL);
    assert_int_equal(script_requests(), before);
    ts_client_free(c);

    /* A server that quotes the refused token in its error text: blanked out, whole or cut. */
    snprintf(path, sizeof path, "%s/family-echo.json", dir);
    o = refresh_options(path);
    o.refresh_token = "rt-0123456789abcdef";
    c = script_client(&o);
    script_answer(400, "application/json", NULL,
                  "{\"error\":\"invalid_grant\",\"error_description\":\"refresh token "
                  "rt-0123456789abcdef is unknown; you sent rt-0123456789abcdef\"}");
    assert_int_equal(script_get(c, tok, sizeof tok, &info, &err), TS_EINVAL);
    assert_null(strstr(info.oauth.error_description, "rt-0123456789"));
    assert_null(strstr(err.msg, "rt-0123456789"));
    assert_string_equal(info.oauth.error_description,
                        "refresh token ******************* is unknown; you sent "
                        "*******************");
    /* Quoted where the message is cut to fit: the cut copy goes too. */
    char body[512], pad[200];
    memset(pad, 'x', 185);
    pad[185] = '\0';
    snprintf(body, sizeof body,
             "{\"error\":\"invalid_grant\",\"error_description\":\"%s rt-0123456789abcdef\"}", pad);
    script_answer(400, "application/json", NULL, body);
    ts_client_free(c);
    snprintf(path, sizeof path, "%s/family-echo2.json", dir);
    o = refresh_options(path);
    o.refresh_token = "rt-0123456789abcdef";
    c = script_client(&o);
    assert_int_equal(script_get(c, tok, sizeof tok, &info, &err), TS_EINVAL);
    assert_int_equal(strlen(err.msg), sizeof err.msg - 1); /* it was cut */
    assert_null(strstr(err.msg, "rt-01234"));
    ts_client_free(c);

    /* A fresh family; invalid_grant ends it. */
    snprintf(path, sizeof path, "%s/family2.json", dir);
    o = refresh_options(path);
    c = script_client(&o);
    script_answer(400, "application/json", NULL,
                  "{\"error\":\"invalid_grant\",\"error_description\":\"refresh token expired\"}");
    assert_int_equal(script_get(c, tok, sizeof tok, &info, &err), TS_EINVAL);
    assert_string_equal(info.oauth.error, "invalid_grant");
    read_file(path, file, sizeof file);
    assert_null(strstr(file, "\"refresh_token\""));
    assert_null(strstr(file, "lost_refresh_token_prefix"));
    ts_client_free(c);

    /* Nobody listening: the request never left, the token is still unused. */
    snprintf(path, sizeof path, "%s/family3.json", dir);
    o = refresh_options(path);
    o.token_endpoint = "http://127.0.0.1:1/token";
    c = script_client(&o);
    assert_int_equal(script_get(c, tok, sizeof tok, &info, &err), TS_EIO);
    read_file(path, file, sizeof file);
    assert_null(strstr(file, "initial_sha256")); /* still unused */
    ts_client_free(c);

    /* Freed while a refresh is in flight: the refresh finishes and its successor is kept. */
    snprintf(path, sizeof path, "%s/family4.json", dir);
    o = refresh_options(path);
    o.background_refresh = true;
    o.clock_ms = NULL;
    o.timeout_ms = 5000;
    script_answer_token("{\"access_token\":\"at\",\"token_type\":\"Bearer\",\"expires_in\":"
                        "600,\"refresh_token\":\"rt-after-free\"}");
    script_delay(300);
    before = script_requests();
    c = script_client(&o);
    while (script_requests() == before) {
        struct timespec d = {0, 1000000};
        nanosleep(&d, NULL);
    }
    ts_client_free(c); /* the server answers 300 ms later */
    script_delay(0);
    read_file(path, file, sizeof file);
    assert_non_null(strstr(file, "\"refresh_token\":\"rt-after-free\""));

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* ---- log lines --------------------------------------------------------------------------------
 */

typedef struct log_capture {
    pthread_mutex_t mu;
    char lines[16][768];
    int n;
} log_capture;

static void capture_log(ts_client_log_level level, const char *msg, void *ud)
{
    (void)level;
    log_capture *l = ud;
    pthread_mutex_lock(&l->mu);
    if (l->n < 16)
        snprintf(l->lines[l->n++], sizeof l->lines[0], "%s", msg);
    pthread_mutex_unlock(&l->mu);
}

/* A program with several clients (the agent's sources) tells their log lines apart by the
 * token endpoint each starts with: scheme, host, port and path, never the userinfo or query
 * of the configured URL (credentials can sit there), nor a token or the client secret that a
 * failing server quotes back. */
static void test_log_lines_name_the_endpoint(void **state)
{
    (void)state;
    char url[256], want[256], tok[256];
    const char *ep = script_endpoint(); /* http://127.0.0.1:PORT/token */
    snprintf(url, sizeof url, "http://user:pw-in-url@%s?api_key=key-in-query", ep + 7);
    snprintf(want, sizeof want, "%s: ", ep);
    log_capture l = {.mu = PTHREAD_MUTEX_INITIALIZER};
    ts_client_options o = script_cc_options(TS_CLIENT_AUTH_SECRET_POST);
    o.token_endpoint = url;
    o.allow_plain_http = true; /* userinfo before the loopback host */
    o.log = capture_log;
    o.log_ud = &l;
    o.log_level = TS_CLIENT_LOG_DEBUG;
    ts_client *c = script_client(&o);
    ts_client_token_info info;
    ts_error err;
    script_answer_token("{\"access_token\":\"at-never-in-a-log\",\"token_type\":\"Bearer\","
                        "\"expires_in\":3600}");
    assert_int_equal(script_get(c, tok, sizeof tok, &info, &err), TS_OK);
    char req[16384];
    script_last_request(req, sizeof req);
    assert_non_null(strstr(req, "POST /token?api_key=key-in-query HTTP/1.1\r\n"));
    script_answer(400, "application/json", NULL,
                  "{\"error\":\"invalid_client\",\"error_description\":\"secret p@ss/w+rd= "
                  "is wrong\"}");
    ts_client_flush(c);
    assert_int_equal(script_get(c, tok, sizeof tok, &info, &err), TS_EINVAL);
    ts_client_free(c);

    const char *never[] = {"pw-in-url",         "user:",     "api_key", "key-in-query",
                           "at-never-in-a-log", "p@ss/w+rd="};
    bool failure_seen = false, token_seen = false;
    assert_true(l.n >= 3); /* ready, new token, renewal failed */
    for (int i = 0; i < l.n; i++) {
        if (strncmp(l.lines[i], want, strlen(want)) != 0)
            fail_msg("a log line does not start with '%s': %s", want, l.lines[i]);
        for (size_t k = 0; k < sizeof never / sizeof never[0]; k++)
            if (strstr(l.lines[i], never[k]))
                fail_msg("a log line holds '%s': %s", never[k], l.lines[i]);
        failure_seen = failure_seen || (strstr(l.lines[i], "renewal failed (1 in a row)") &&
                                        strstr(l.lines[i], "invalid_client"));
        token_seen = token_seen || strstr(l.lines[i], "new token ") != NULL;
    }
    assert_true(failure_seen);
    assert_true(token_seen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_answers),
        cmocka_unit_test(test_short_lived_tokens),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_refresh_token_fates),
        cmocka_unit_test(test_log_lines_name_the_endpoint),
    };
    return cmocka_run_group_tests(tests, script_setup, script_teardown);
}
