/* Crash injection into the refresh family's protocol, against a real `tokensmith serve`. A
 * child process runs one renewal and dies (_exit) at step k of it (ts_client__step: before
 * anything, after the credential left the state file, at the first byte of the answer, with
 * the whole answer, parsed, persisted, published, after the hook); then a new client starts
 * from the state file, as a restarted service would. For every k, of a refresh and of the
 * bootstrap exchange:
 *  - the server never sees a rotated refresh token or a consumed bootstrap token again (no
 *    revocation, no replay in its log);
 *  - where the outcome was unknowable (k after the credential left the file, before the
 *    successor was written) the new client does not present it, and says so without a
 *    request; with a new bootstrap token it recovers;
 *  - elsewhere it continues the same family without a new bootstrap token.
 * A temporary file left by a write that crashed half-way lies beside the state file all along
 * and is ignored. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "client_internal.h"
#include "serve_fixture.h"

#define CRASHED 42

static int crash_step;

static void crash_hook(int step, void *ud)
{
    (void)ud;
    if (step == crash_step)
        _exit(CRASHED);
}

static ts_client_options options(const char *boot, const char *path)
{
    ts_client_options o = TS_CLIENT_OPTIONS_INIT;
    o.token_endpoint = srv.endpoint;
    o.grant = TS_CLIENT_GRANT_TOKENSMITH;
    o.bootstrap_token = boot;
    o.state_file = path;
    o.backoff_initial_ms = 1;
    o.backoff_max_ms = 1;
    return o;
}

/* One renewal in a child that dies at step @p k (0: it does not). @return its exit status. */
static int run_child(const char *boot, const char *path, int k)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        ts_client_options o = options(boot, path);
        ts_client *c = ts_client_new(&o, NULL);
        if (!c)
            _exit(3);
        crash_step = k;
        ts_client__set_step_hook(c, crash_hook, NULL);
        char tok[4096];
        ts_error err;
        ts_status st = ts_client_token_get(c, tok, sizeof tok, NULL, &err);
        ts_client_free(c);
        _exit(st == TS_OK ? 0 : 4);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* A write of the state file that died half-way leaves its temporary file behind. */
static void leave_torn_temporary(const char *path, int k)
{
    char tmp[400];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d.%d", path, 99990 + k, k);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs("{\"format\":\"tokensmith-client-state\",\"version\":1,\"refresh_tok", f);
    fclose(f);
}

static size_t count(const char *event)
{
    return serve_fixture_count(&srv, event, NULL);
}

static size_t requests(void)
{
    return serve_fixture_count(&srv, "\"path\":\"/oauth/token\"", NULL);
}

static void no_harm_done(void)
{
    assert_int_equal(serve_fixture_revocations(&srv), 0);
    assert_int_equal(count("bootstrap_token_replay_attempted"), 0);
    assert_int_equal(count("refresh_token_not_found"), 0);
}

/* A new client on @p path: TS_OK with the token, or the failure. */
static ts_status recover(const char *boot, const char *path, ts_error *err)
{
    ts_client_options o = options(boot, path);
    ts_client *c = ts_client_new(&o, err);
    if (!c)
        return err->code;
    char tok[4096];
    ts_status st = ts_client_token_get(c, tok, sizeof tok, NULL, err);
    if (st == TS_OK) {
        /* The family it holds goes on: one more rotation. */
        ts_client_invalidate(c, 0);
        st = ts_client_token_get(c, tok, sizeof tok, NULL, err);
    }
    ts_client_free(c);
    return st;
}

/* Steps after which the server may have acted on the credential while the state file does not
 * yet hold the successor. */
static bool unknowable(int k)
{
    return k >= TS_CLIENT__STEP_MARKED && k < TS_CLIENT__STEP_PERSISTED;
}

static void test_crash_during_refresh(void **state)
{
    (void)state;
    char b0[65], path[300];
    assert_true(serve_fixture_bootstrap(&srv, b0));
    snprintf(path, sizeof path, "%s/refresh.json", srv.dir);
    assert_int_equal(run_child(b0, path, 0), 0); /* the family starts */
    const char *boot = b0;
    char fresh[TS_CLIENT__STEP_LAST + 1][65];
    for (int k = TS_CLIENT__STEP_BEGIN; k <= TS_CLIENT__STEP_LAST; k++) {
        leave_torn_temporary(path, k);
        size_t exchanged0 = count("bootstrap_token_exchanged");
        size_t rotated0 = count("refresh_token_rotated");
        assert_int_equal(run_child(boot, path, k), CRASHED);
        ts_error err;
        ts_error_clear(&err);
        if (unknowable(k)) {
            /* The refresh token is not presented again, and with the bootstrap token already
             * used, the client says so without asking the server. */
            size_t before = requests();
            assert_int_equal(recover(boot, path, &err), TS_EINVAL);
            if (!strstr(err.msg, "was presented before"))
                fail_msg("step %d: unclear: %s", k, err.msg);
            assert_int_equal(requests(), before);
            assert_true(serve_fixture_bootstrap(&srv, fresh[k]));
            boot = fresh[k];
            ts_status st = recover(boot, path, &err);
            if (st != TS_OK)
                fail_msg("step %d: no recovery: %s", k, err.msg);
            assert_int_equal(count("bootstrap_token_exchanged") - exchanged0, 1);
        } else {
            ts_status st = recover(boot, path, &err);
            if (st != TS_OK)
                fail_msg("step %d: %s", k, err.msg);
            assert_int_equal(count("bootstrap_token_exchanged") - exchanged0, 0);
            /* The child's refresh (if it got that far) and the new client's two. */
            size_t want = k >= TS_CLIENT__STEP_PERSISTED ? 3 : 2;
            assert_int_equal(count("refresh_token_rotated") - rotated0, want);
        }
        no_harm_done();
    }
}

static void test_crash_during_bootstrap(void **state)
{
    (void)state;
    for (int k = TS_CLIENT__STEP_BEGIN; k <= TS_CLIENT__STEP_LAST; k++) {
        char boot[65], path[300];
        assert_true(serve_fixture_bootstrap(&srv, boot));
        snprintf(path, sizeof path, "%s/bootstrap-%d.json", srv.dir, k);
        leave_torn_temporary(path, k);
        size_t exchanged0 = count("bootstrap_token_exchanged");
        assert_int_equal(run_child(boot, path, k), CRASHED);
        bool sent = k >= TS_CLIENT__STEP_ANSWERED;
        assert_int_equal(count("bootstrap_token_exchanged") - exchanged0, sent ? 1 : 0);
        ts_error err;
        ts_error_clear(&err);
        if (unknowable(k)) {
            size_t before = requests();
            assert_int_equal(recover(boot, path, &err), TS_EINVAL);
            assert_int_equal(requests(), before);
            char again[65];
            assert_true(serve_fixture_bootstrap(&srv, again));
            if (recover(again, path, &err) != TS_OK)
                fail_msg("step %d: no recovery: %s", k, err.msg);
        } else if (recover(boot, path, &err) != TS_OK) {
            fail_msg("step %d: %s", k, err.msg);
        }
        no_harm_done();
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crash_during_refresh),
        cmocka_unit_test(test_crash_during_bootstrap),
    };
    return cmocka_run_group_tests(tests, serve_fixture_setup, serve_fixture_teardown);
}
