/* The client against a real `tokensmith serve` (the shortest access TTL, 60 s): a bootstrap
 * token, then many rotations of its refresh family (ahead of expiry, on the caller's thread
 * under a moved clock and on the background thread in real time), a restart that continues the
 * family from the state file, invalid_grant falling back to an unused bootstrap token, a server
 * that is down, and invalidation. Through all of it the server never revokes the family. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include "client_internal.h"
#include "common/digest.h"
#include "harness.h"
#include "serve_fixture.h"

typedef struct rotations {
    pthread_mutex_t mu;
    unsigned bootstrap, refresh, grant, persisted;
    uint64_t last_generation;
    char last_prefix[9];
} rotations;

static void on_rotation(const ts_client_rotation *r, void *ud)
{
    rotations *rs = ud;
    pthread_mutex_lock(&rs->mu);
    rs->bootstrap += r->event == TS_CLIENT_EVENT_BOOTSTRAP;
    rs->refresh += r->event == TS_CLIENT_EVENT_REFRESH;
    rs->grant += r->event == TS_CLIENT_EVENT_GRANT;
    rs->persisted += r->persisted;
    rs->last_generation = r->generation;
    memcpy(rs->last_prefix, r->token_hash_prefix, 9);
    pthread_mutex_unlock(&rs->mu);
}

/* Every log message, checked for what it must never hold: a token. tokensmith's bootstrap and
 * refresh tokens are 64 hex digits, its access tokens JWTs ("eyJ..."); a message names them by
 * 8-digit hash prefixes only. */
static void on_log(ts_client_log_level level, const char *msg, void *ud)
{
    (void)level;
    (void)ud;
    if (strstr(msg, "eyJ"))
        fail_msg("a log message holds a JWT: %s", msg);
    size_t run = 0;
    for (const char *p = msg; *p; p++) {
        bool hex = (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f');
        run = hex ? run + 1 : 0;
        if (run >= 32)
            fail_msg("a log message holds a long hex string: %s", msg);
    }
}

static void state_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s.json", srv.dir, name);
}

static ts_client_options tokensmith_options(const char *bootstrap, const char *state)
{
    ts_client_options o = TS_CLIENT_OPTIONS_INIT;
    o.token_endpoint = srv.endpoint;
    o.grant = TS_CLIENT_GRANT_TOKENSMITH;
    o.bootstrap_token = bootstrap;
    o.state_file = state;
    o.log = on_log;
    o.log_level = TS_CLIENT_LOG_DEBUG;
    o.backoff_initial_ms = 50;
    o.backoff_max_ms = 200;
    return o;
}

static size_t grants(const char *event)
{
    return serve_fixture_count(&srv, "\"path\":\"/oauth/token\"", "\"status\":200", event, NULL);
}

static size_t token_requests(void)
{
    return serve_fixture_count(&srv, "\"path\":\"/oauth/token\"", NULL);
}

/* Caller mode with a moved clock: each call past the renewal time (but while the token is
 * still good) renews on the caller's thread; 25 rotations in a few seconds. */
static void test_rotations_caller_mode(void **state)
{
    (void)state;
    char boot[65], path[300];
    assert_true(serve_fixture_bootstrap(&srv, boot));
    state_path(path, sizeof path, "caller");
    rotations rs = {.mu = PTHREAD_MUTEX_INITIALIZER};
    ts_client_options o = tokensmith_options(boot, path);
    o.min_valid_s = 10; /* handed out until 50 s of the 60 s */
    o.clock_ms = serve_fixture_clock;
    o.on_rotation = on_rotation;
    o.rotation_ud = &rs;
    size_t exchanged0 = grants("bootstrap_token_exchanged");
    size_t rotated0 = grants("refresh_token_rotated");
    ts_error err;
    ts_error_clear(&err);
    ts_client *c = ts_client_new(&o, &err);
    assert_non_null(c);
    char tok[4096], prev[4096] = "";
    ts_client_token_info info;
    uint64_t gen = 0;
    for (int i = 0; i <= 25; i++) {
        ts_status st = ts_client_token_get(c, tok, sizeof tok, &info, &err);
        if (st != TS_OK)
            fail_msg("rotation %d: %s: %s (%s)", i, ts_status_str(st), err.msg, err.where);
        assert_int_equal(info.generation, gen + 1);
        gen = info.generation;
        assert_string_not_equal(tok, prev);
        assert_string_equal(info.token_type, "Bearer");
        assert_int_equal(info.len, strlen(tok));
        assert_true(info.expires_at > (int64_t)time(NULL) + 50);
        /* A second call before the renewal time is a hit: the same token. */
        char again[4096];
        assert_int_equal(ts_client_token_get(c, again, sizeof again, &info, &err), TS_OK);
        assert_string_equal(again, tok);
        assert_int_equal(info.generation, gen);
        memcpy(prev, tok, sizeof tok);
        /* Past the renewal time (at most 75 % of 60 s), before the end of the window. */
        serve_fixture_clock_advance(46000);
    }
    /* The renewal in the loop's last step happens at the next call; none is pending. */
    assert_int_equal(grants("bootstrap_token_exchanged") - exchanged0, 1);
    assert_int_equal(grants("refresh_token_rotated") - rotated0, 25);
    assert_int_equal(serve_fixture_revocations(&srv), 0);
    assert_int_equal(rs.bootstrap, 1);
    assert_int_equal(rs.refresh, 25);
    assert_int_equal(rs.persisted, 26);
    assert_int_equal(rs.last_generation, gen);
    ts_client_stats stats;
    ts_client_stats_get(c, &stats);
    assert_int_equal(stats.tokens, 26);
    assert_int_equal(stats.failures, 0);
    assert_true(stats.has_refresh_token);
    assert_true(stats.refresh_expires_at > (int64_t)time(NULL) + 86000);
    /* The state file: mode 0600, the current refresh token, no lost one. */
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    ts_client_free(c);

    /* A restart continues the family from the file: a refresh, no new exchange. */
    c = ts_client_new(&o, &err);
    assert_non_null(c);
    assert_int_equal(ts_client_token_get(c, tok, sizeof tok, &info, &err), TS_OK);
    assert_int_equal(info.generation, 1);
    assert_int_equal(grants("bootstrap_token_exchanged") - exchanged0, 1);
    assert_int_equal(grants("refresh_token_rotated") - rotated0, 26);
    assert_int_equal(rs.refresh, 26);
    /* Invalidation by generation: the first call drops it, a stale second one does not. */
    assert_true(ts_client_invalidate(c, info.generation));
    assert_false(ts_client_invalidate(c, info.generation));
    assert_int_equal(ts_client_token_get(c, tok, sizeof tok, &info, &err), TS_OK);
    assert_int_equal(info.generation, 2);
    assert_false(ts_client_invalidate(c, 1));
    assert_int_equal(grants("refresh_token_rotated") - rotated0, 27);
    /* Flush: dropped, renewed at the next call. */
    ts_client_flush(c);
    char *dup = ts_client_token_dup(c, &info, &err);
    assert_non_null(dup);
    assert_int_equal(info.generation, 3);
    assert_int_equal(strlen(dup), info.len);
    ts_free(dup);
    assert_int_equal(serve_fixture_revocations(&srv), 0);
    ts_client_free(c);
    serve_fixture_clock_reset();
}

/* Background mode in real time: the thread renews at 2 % of the lifetime (about every 1.2 s)
 * and fetches the first token at once. */
static void test_rotations_background(void **state)
{
    (void)state;
    char boot[65], path[300];
    assert_true(serve_fixture_bootstrap(&srv, boot));
    state_path(path, sizeof path, "background");
    rotations rs = {.mu = PTHREAD_MUTEX_INITIALIZER};
    ts_client_options o = tokensmith_options(boot, path);
    o.background_refresh = true;
    o.refresh_at_pct = 2;
    o.refresh_jitter_pct = 0;
    o.on_rotation = on_rotation;
    o.rotation_ud = &rs;
    size_t rotated0 = grants("refresh_token_rotated");
    ts_error err;
    ts_client *c = ts_client_new(&o, &err);
    assert_non_null(c);
    double end = ts_harness_now() + 60;
    unsigned refreshes = 0;
    uint64_t last_gen = 0;
    while (ts_harness_now() < end && refreshes < 6) {
        char tok[4096];
        ts_client_token_info info;
        ts_status st = ts_client_token_get(c, tok, sizeof tok, &info, &err);
        if (st != TS_OK)
            fail_msg("%s: %s", ts_status_str(st), err.msg);
        assert_true(info.generation >= last_gen);
        last_gen = info.generation;
        pthread_mutex_lock(&rs.mu);
        refreshes = rs.refresh;
        pthread_mutex_unlock(&rs.mu);
        ts_harness_sleep_ms(100);
    }
    ts_client_free(c);
    assert_true(refreshes >= 6);
    assert_int_equal(rs.bootstrap, 1);
    assert_true(grants("refresh_token_rotated") - rotated0 >= 6);
    assert_int_equal(serve_fixture_revocations(&srv), 0);
}

static void write_state(const char *path, const char *refresh, const char *initial_sha)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "{\"format\":\"tokensmith-client-state\",\"version\":1,\"token_endpoint\":\"%s\"%s%s%s"
            "%s%s%s}",
            srv.endpoint, refresh ? ",\"refresh_token\":\"" : "", refresh ? refresh : "",
            refresh ? "\"" : "", initial_sha ? ",\"initial_sha256\":\"" : "",
            initial_sha ? initial_sha : "", initial_sha ? "\"" : "");
    fclose(f);
}

/* A family the server no longer knows (invalid_grant) is replaced from the bootstrap token if it
 * was never presented; if it was, the client says so, with the server's error. */
static void test_invalid_grant_fallback(void **state)
{
    (void)state;
    char boot[65], path[300];
    assert_true(serve_fixture_bootstrap(&srv, boot));
    state_path(path, sizeof path, "fallback");
    const char *unknown = "00000000000000000000000000000000000000000000000000000000deadbeef";
    write_state(path, unknown, NULL);
    rotations rs = {.mu = PTHREAD_MUTEX_INITIALIZER};
    ts_client_options o = tokensmith_options(boot, path);
    o.on_rotation = on_rotation;
    o.rotation_ud = &rs;
    size_t exchanged0 = grants("bootstrap_token_exchanged");
    ts_error err;
    ts_client *c = ts_client_new(&o, &err);
    assert_non_null(c);
    char tok[4096];
    ts_client_token_info info;
    assert_int_equal(ts_client_token_get(c, tok, sizeof tok, &info, &err), TS_OK);
    assert_int_equal(rs.bootstrap, 1);
    assert_int_equal(grants("bootstrap_token_exchanged") - exchanged0, 1);
    ts_client_free(c);

    /* Again, with the bootstrap token already presented (the file says so). */
    char sha[65];
    assert_true(ts_common__sha256_hex(boot, strlen(boot), sha));
    write_state(path, unknown, sha);
    c = ts_client_new(&o, &err);
    assert_non_null(c);
    ts_status st = ts_client_token_get(c, tok, sizeof tok, &info, &err);
    assert_int_equal(st, TS_EINVAL);
    assert_int_equal(info.oauth.http_status, 400);
    assert_string_equal(info.oauth.error, "invalid_grant");
    if (!strstr(err.msg, "the refresh family ended (invalid_grant)") ||
        !strstr(err.msg, "was presented before"))
        fail_msg("unclear: %s", err.msg);
    /* Within the backoff the same failure comes back at once, saying when the next try is. */
    st = ts_client_token_get(c, tok, sizeof tok, &info, &err);
    assert_int_equal(st, TS_EINVAL);
    assert_non_null(strstr(err.msg, "next attempt in"));
    ts_client_free(c);
    assert_int_equal(serve_fixture_revocations(&srv), 0);
}

/* The server down: the bootstrap token never left, so it is still unused; once the server is
 * back (and the backoff flushed) it is exchanged. */
static void test_server_down(void **state)
{
    (void)state;
    char boot[65], path[300];
    assert_true(serve_fixture_bootstrap(&srv, boot));
    state_path(path, sizeof path, "down");
    ts_client_options o = tokensmith_options(boot, path);
    size_t exchanged0 = grants("bootstrap_token_exchanged");
    ts_error err;
    ts_client *c = ts_client_new(&o, &err);
    assert_non_null(c);
    serve_fixture_stop(&srv);
    char tok[4096];
    ts_client_token_info info;
    ts_status st = ts_client_token_get(c, tok, sizeof tok, &info, &err);
    assert_int_equal(st, TS_EIO);
    assert_int_equal(info.oauth.http_status, 0);
    assert_string_equal(err.where, srv.endpoint);
    ts_client_stats stats;
    ts_client_stats_get(c, &stats);
    assert_int_equal(stats.failures, 1);
    assert_int_equal(stats.consecutive_failures, 1);
    assert_true(serve_fixture_restart(&srv, NULL));
    ts_client_flush(c);
    st = ts_client_token_get(c, tok, sizeof tok, &info, &err);
    if (st != TS_OK)
        fail_msg("%s: %s", ts_status_str(st), err.msg);
    assert_int_equal(grants("bootstrap_token_exchanged") - exchanged0, 1);
    ts_client_stats_get(c, &stats);
    assert_int_equal(stats.consecutive_failures, 0);
    ts_client_free(c);
    (void)token_requests;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rotations_caller_mode),
        cmocka_unit_test(test_rotations_background),
        cmocka_unit_test(test_invalid_grant_fallback),
        cmocka_unit_test(test_server_down),
    };
    return cmocka_run_group_tests(tests, serve_fixture_setup, serve_fixture_teardown);
}
