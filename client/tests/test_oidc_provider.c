/* The client against someone else's authorization server: node oidc-provider
 * (client/tests/provider.mjs) with client_credentials under client_secret_basic (a secret that
 * must be form-urlencoded before Basic) and client_secret_post, a wrong secret answered with a
 * structured invalid_client, and an RFC 8693 exchange of one client's token through another
 * client (the agent's chained sources), refused with invalid_grant for a subject token the
 * server never issued. Skips (77) without node or its node_modules (npm ci), as the other
 * oidc-provider tests do. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <tokensmith/client.h>

#ifndef TS_NODE_EXECUTABLE
#define TS_NODE_EXECUTABLE ""
#endif
#ifndef TS_PROVIDER_SCRIPT
#error "TS_PROVIDER_SCRIPT must name client/tests/provider.mjs"
#endif

static pid_t node_pid;
static int node_stdin = -1;
static char endpoint[128];

/* Start the provider; @return 0, 77 (skip: it said its modules are missing) or -1. */
static int start_provider(void)
{
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0)
        return -1;
    fflush(NULL);
    node_pid = fork();
    if (node_pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        int devnull = open("/dev/null", 1);
        if (devnull >= 0 && !getenv("TS_PROVIDER_STDERR"))
            dup2(devnull, 2); /* oidc-provider's development warnings */
        execl(TS_NODE_EXECUTABLE, "node", TS_PROVIDER_SCRIPT, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    node_stdin = in[1];
    FILE *f = fdopen(out[0], "r");
    char line[512] = "";
    bool got = f && fgets(line, sizeof line, f) != NULL;
    if (f)
        fclose(f);
    const char *k = got ? strstr(line, "\"token_endpoint\":\"") : NULL;
    if (!k) {
        int st = 0;
        waitpid(node_pid, &st, 0);
        node_pid = 0;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
            return 77;
        fprintf(stderr, "the provider did not start (status %d)\n", st);
        return -1;
    }
    k += 18;
    size_t n = strcspn(k, "\"");
    snprintf(endpoint, sizeof endpoint, "%.*s", (int)n, k);
    return 0;
}

static void stop_provider(void)
{
    if (node_stdin >= 0)
        close(node_stdin); /* it exits when its stdin closes */
    node_stdin = -1;
    if (node_pid > 0) {
        kill(node_pid, SIGTERM);
        waitpid(node_pid, NULL, 0);
    }
    node_pid = 0;
}

static ts_client_options cc(const char *id, const char *secret, ts_client_auth auth)
{
    ts_client_options o = TS_CLIENT_OPTIONS_INIT;
    o.token_endpoint = endpoint;
    o.grant = TS_CLIENT_GRANT_CLIENT_CREDENTIALS;
    o.auth = auth;
    o.client_id = id;
    o.client_secret = secret;
    return o;
}

static ts_client *make(const ts_client_options *o)
{
    ts_error err;
    ts_error_clear(&err);
    ts_client *c = ts_client_new(o, &err);
    if (!c)
        fail_msg("%s: %s", err.where, err.msg);
    return c;
}

static void test_client_credentials(void **state)
{
    (void)state;
    char tok[1024];
    ts_client_token_info info;
    ts_error err;
    ts_client_options o = cc("cc-basic", "basic secret:1/+", TS_CLIENT_AUTH_SECRET_BASIC);
    o.scope = "read";
    ts_client *c = make(&o);
    ts_status st = ts_client_token_get(c, tok, sizeof tok, &info, &err);
    if (st != TS_OK)
        fail_msg("basic: %s (HTTP %ld %s)", err.msg, info.oauth.http_status, info.oauth.error);
    assert_true(info.len > 20);
    assert_string_equal(info.token_type, "Bearer");
    /* expires_in 120, handed out with the default 30 s of margin. */
    assert_true(info.expires_at > 0);
    ts_client_free(c);

    o = cc("cc-post", "post-secret", TS_CLIENT_AUTH_SECRET_POST);
    c = make(&o);
    st = ts_client_token_get(c, tok, sizeof tok, &info, &err);
    if (st != TS_OK)
        fail_msg("post: %s (HTTP %ld %s)", err.msg, info.oauth.http_status, info.oauth.error);
    ts_client_free(c);

    /* The wrong secret: RFC 6749 5.2 invalid_client, 401, as a structured error. */
    o = cc("cc-post", "wrong", TS_CLIENT_AUTH_SECRET_POST);
    c = make(&o);
    assert_int_equal(ts_client_token_get(c, tok, sizeof tok, &info, &err), TS_EINVAL);
    assert_int_equal(info.oauth.http_status, 401);
    assert_string_equal(info.oauth.error, "invalid_client");
    assert_non_null(strstr(err.msg, "invalid_client"));
    ts_client_free(c);
}

static void test_token_exchange(void **state)
{
    (void)state;
    char tok[1024], first_tok[1024];
    ts_client_token_info info;
    ts_error err;
    ts_client_options a = cc("cc-basic", "basic secret:1/+", TS_CLIENT_AUTH_SECRET_BASIC);
    ts_client *first = make(&a);
    assert_int_equal(ts_client_token_get(first, first_tok, sizeof first_tok, &info, &err), TS_OK);

    ts_client_options x = TS_CLIENT_OPTIONS_INIT;
    x.token_endpoint = endpoint;
    x.grant = TS_CLIENT_GRANT_TOKEN_EXCHANGE;
    x.auth = TS_CLIENT_AUTH_SECRET_BASIC;
    x.client_id = "cc-basic";
    x.client_secret = "basic secret:1/+";
    x.subject_token_fn = ts_client_token_fn_client;
    x.subject_token_ud = first;
    x.subject_token_type = TS_CLIENT_TOKEN_TYPE_ACCESS_TOKEN;
    x.scope = "read";
    ts_client *second = make(&x);
    ts_status st = ts_client_token_get(second, tok, sizeof tok, &info, &err);
    if (st != TS_OK)
        fail_msg("exchange: %s (HTTP %ld %s)", err.msg, info.oauth.http_status, info.oauth.error);
    assert_string_not_equal(tok, first_tok);
    ts_client_free(second);
    ts_client_free(first);

    /* A subject token the server never issued. */
    x.subject_token_fn = NULL;
    x.subject_token_ud = NULL;
    x.subject_token = "never-issued-by-this-server";
    second = make(&x);
    assert_int_equal(ts_client_token_get(second, tok, sizeof tok, &info, &err), TS_EINVAL);
    assert_int_equal(info.oauth.http_status, 400);
    assert_string_equal(info.oauth.error, "invalid_grant");
    ts_client_free(second);
}

int main(void)
{
    if (!TS_NODE_EXECUTABLE[0]) {
        printf("SKIP: node not found\n");
        return 77;
    }
    signal(SIGPIPE, SIG_IGN);
    int rc = start_provider();
    if (rc == 77) {
        printf("SKIP: oidc-provider is not installed (npm ci)\n");
        return 77;
    }
    if (rc != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_credentials),
        cmocka_unit_test(test_token_exchange),
    };
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    stop_provider();
    return rc;
}
