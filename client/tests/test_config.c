/* Option validation (config.c) and construction: every rule names its field, a field the
 * grant does not use is refused, and a state file in use is refused. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "client_internal.h"

#define EP "http://127.0.0.1:1/oauth/token"

static ts_client_options cc(void)
{
    ts_client_options o = TS_CLIENT_OPTIONS_INIT;
    o.token_endpoint = EP;
    o.grant = TS_CLIENT_GRANT_CLIENT_CREDENTIALS;
    o.auth = TS_CLIENT_AUTH_SECRET_BASIC;
    o.client_id = "svc";
    o.client_secret = "s3cret";
    return o;
}

static void expect(const ts_client_options *o, ts_status want, const char *where, const char *msg)
{
    ts_error err;
    ts_error_clear(&err);
    ts_status st = ts_client__config_check(o, &err);
    if (st != want)
        fail_msg("status %s (%s: %s), want %s", ts_status_str(st), err.where, err.msg,
                 ts_status_str(want));
    if (want == TS_OK)
        return;
    assert_string_equal(err.where, where);
    if (!strstr(err.msg, msg))
        fail_msg("'%s' does not say '%s'", err.msg, msg);
}

static void test_valid(void **state)
{
    (void)state;
    ts_client_options o = cc();
    expect(&o, TS_OK, NULL, NULL);
    const char *aud[] = {"smd", "bss"};
    const char *res[] = {"https://api.example/"};
    ts_client_param p[] = {{"requested_issuer", "external-idp"}};
    ts_client_options x = TS_CLIENT_OPTIONS_INIT;
    x.token_endpoint = "https://idp.example/token?tenant=a";
    x.grant = TS_CLIENT_GRANT_TOKEN_EXCHANGE;
    x.subject_token = "eyJ.x.y";
    x.subject_token_type = TS_CLIENT_TOKEN_TYPE_ID_TOKEN;
    x.actor_token = "act";
    x.actor_token_type = TS_CLIENT_TOKEN_TYPE_ACCESS_TOKEN;
    x.audiences = aud;
    x.n_audiences = 2;
    x.resources = res;
    x.n_resources = 1;
    x.scope = "read write";
    x.params = p;
    x.n_params = 1;
    x.requested_token_type = TS_CLIENT_TOKEN_TYPE_ACCESS_TOKEN;
    expect(&x, TS_OK, NULL, NULL);
    ts_client_options t = TS_CLIENT_OPTIONS_INIT;
    t.token_endpoint = EP;
    t.grant = TS_CLIENT_GRANT_TOKENSMITH;
    t.bootstrap_token = "00ff";
    t.state_file = "/tmp/x.json";
    expect(&t, TS_OK, NULL, NULL);
}

static void test_endpoint_and_auth(void **state)
{
    (void)state;
    ts_client_options o = cc();
    o.token_endpoint = NULL;
    expect(&o, TS_EINVAL, "token_endpoint", "is required");
    o.token_endpoint = "http://idp.example/token";
    expect(&o, TS_EINVAL, "token_endpoint", "must be https://");
    o.allow_plain_http = true;
    expect(&o, TS_OK, NULL, NULL);
    o.token_endpoint = "ftp://idp.example/token";
    expect(&o, TS_EINVAL, "token_endpoint", "must be an https:// or http:// URL");
    o.token_endpoint = "https://idp.example/token#frag";
    expect(&o, TS_EINVAL, "token_endpoint", "fragment");
    o.token_endpoint = "https://idp.example/to ken";
    expect(&o, TS_EINVAL, "token_endpoint", "visible ASCII");
    o = cc();
    o.client_secret = NULL;
    expect(&o, TS_EINVAL, "client_secret", "is required with client_secret_basic");
    o = cc();
    o.auth = TS_CLIENT_AUTH_SECRET_POST;
    o.client_id = NULL;
    expect(&o, TS_EINVAL, "client_id", "is required");
    o = cc();
    o.auth = TS_CLIENT_AUTH_NONE;
    expect(&o, TS_EINVAL, "client_secret", "auth is none");
    o.client_secret = NULL;
    expect(&o, TS_OK, NULL, NULL); /* a public client */
    o.auth = (ts_client_auth)7;
    expect(&o, TS_EINVAL, "auth", "unknown");
    o = cc();
    o.client_secret = "tab\there";
    expect(&o, TS_EINVAL, "client_secret", "printable ASCII");
    o = cc();
    o.version = 2;
    expect(&o, TS_EINVAL, "version", "not supported");
    o.version = 0;
    expect(&o, TS_EINVAL, "version", "not supported");
    expect(NULL, TS_EINVAL, "options", "NULL");
}

static void test_grant_fields(void **state)
{
    (void)state;
    ts_client_options o = cc();
    o.bootstrap_token = "00ff";
    expect(&o, TS_EINVAL, "bootstrap_token", "not used by the client_credentials grant");
    o = cc();
    o.state_file = "/tmp/s";
    expect(&o, TS_EINVAL, "state_file", "not used by the client_credentials grant");
    o = cc();
    o.subject_token = "x";
    expect(&o, TS_EINVAL, "subject_token", "not used");
    o = cc();
    o.grant = (ts_client_grant)9;
    expect(&o, TS_EINVAL, "grant", "unknown grant");

    ts_client_options x = cc();
    x.grant = TS_CLIENT_GRANT_TOKEN_EXCHANGE;
    expect(&x, TS_EINVAL, "subject_token", "exactly one");
    x.subject_token = "s";
    expect(&x, TS_EINVAL, "subject_token_type", "is required");
    x.subject_token_type = TS_CLIENT_TOKEN_TYPE_JWT;
    expect(&x, TS_OK, NULL, NULL);
    x.subject_token_fn = ts_client_token_fn_client;
    expect(&x, TS_EINVAL, "subject_token", "exactly one");
    x.subject_token_fn = NULL;
    x.actor_token = "a";
    expect(&x, TS_EINVAL, "actor_token_type", "is required with an actor token");
    x.actor_token = NULL;
    x.actor_token_type = TS_CLIENT_TOKEN_TYPE_JWT;
    expect(&x, TS_EINVAL, "actor_token_type", "without an actor token");
    x.actor_token_type = NULL;
    x.subject_token = "two words";
    expect(&x, TS_EINVAL, "subject_token", "visible ASCII");

    ts_client_options r = TS_CLIENT_OPTIONS_INIT;
    r.token_endpoint = EP;
    r.grant = TS_CLIENT_GRANT_REFRESH_TOKEN;
    expect(&r, TS_EINVAL, "refresh_token", "is required");
    r.state_file = "/tmp/s";
    expect(&r, TS_OK, NULL, NULL);
    const char *aud[] = {"a"};
    r.audiences = aud;
    r.n_audiences = 1;
    expect(&r, TS_EINVAL, "audiences", "not used by the refresh_token grant");

    ts_client_options t = TS_CLIENT_OPTIONS_INIT;
    t.token_endpoint = EP;
    t.grant = TS_CLIENT_GRANT_TOKENSMITH;
    expect(&t, TS_EINVAL, "bootstrap_token", "is required");
    t.bootstrap_token = "a\nb";
    expect(&t, TS_EINVAL, "bootstrap_token", "visible ASCII");
    t.bootstrap_token = "00ff";
    t.refresh_token = "r";
    expect(&t, TS_EINVAL, "refresh_token", "not used by the tokensmith grant");
}

static void test_lists_and_params(void **state)
{
    (void)state;
    ts_client_options o = cc();
    o.n_audiences = 1;
    expect(&o, TS_EINVAL, "audiences", "no array");
    const char *aud[] = {"ok", ""};
    o.audiences = aud;
    o.n_audiences = 2;
    expect(&o, TS_EINVAL, "audiences[1]", "must not be empty");
    o = cc();
    const char *res[] = {"not-a-uri"};
    o.resources = res;
    o.n_resources = 1;
    expect(&o, TS_EINVAL, "resources[0]", "absolute URI");
    const char *res2[] = {"https://x/#f"};
    o.resources = res2;
    expect(&o, TS_EINVAL, "resources[0]", "absolute URI");
    o = cc();
    o.scope = "a  b";
    expect(&o, TS_EINVAL, "scope", "single spaces");
    o.scope = " a";
    expect(&o, TS_EINVAL, "scope", "single spaces");
    o.scope = "a\"b";
    expect(&o, TS_EINVAL, "scope", "RFC 6749");
    o = cc();
    ts_client_param p[] = {{"grant_type", "password"}};
    o.params = p;
    o.n_params = 1;
    expect(&o, TS_EINVAL, "params[0].name", "grant_type is set by the client itself");
    ts_client_param p2[] = {{"x", "1"}, {"x", "2"}};
    o.params = p2;
    o.n_params = 2;
    expect(&o, TS_EINVAL, "params[1].name", "given twice");
    ts_client_param p3[] = {{"x", "a\r\nb"}};
    o.params = p3;
    o.n_params = 1;
    expect(&o, TS_EINVAL, "params[0].value", "printable ASCII");
    ts_client_param p4[] = {{"x", NULL}};
    o.params = p4;
    expect(&o, TS_EINVAL, "params[0].value", "is NULL");
}

static void test_bounds(void **state)
{
    (void)state;
    ts_client_options o = cc();
    o.refresh_at_pct = 0;
    expect(&o, TS_EINVAL, "refresh_at_pct", "0 is outside 1..99");
    o = cc();
    o.refresh_at_pct = 100;
    expect(&o, TS_EINVAL, "refresh_at_pct", "outside");
    o = cc();
    o.refresh_jitter_pct = 51;
    expect(&o, TS_EINVAL, "refresh_jitter_pct", "outside");
    o = cc();
    o.backoff_max_ms = 10;
    expect(&o, TS_EINVAL, "backoff_max_ms", "outside 1000..");
    o = cc();
    o.max_response_bytes = 100;
    expect(&o, TS_EINVAL, "max_response_bytes", "outside");
    o = cc();
    o.max_token_bytes = o.max_response_bytes + 1;
    expect(&o, TS_EINVAL, "max_token_bytes", "outside");
    o = cc();
    o.connect_timeout_ms = o.timeout_ms + 1;
    expect(&o, TS_EINVAL, "connect_timeout_ms", "outside");
    o = cc();
    o.min_valid_s = 86401;
    expect(&o, TS_EINVAL, "min_valid_s", "outside");
    o = cc();
    o.ca_file = "/nonexistent/ca.pem";
    expect(&o, TS_EINVAL, "ca_file", "cannot be read");
}

/* ts_client_new(): the state file's lock refuses a second client on one family, and a state
 * file of another endpoint is refused before anything is sent. */
static void test_state_file_guards(void **state)
{
    (void)state;
    char dir[] = "/tmp/ts-client-config-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/state.json", dir);
    ts_client_options o = TS_CLIENT_OPTIONS_INIT;
    o.token_endpoint = EP;
    o.grant = TS_CLIENT_GRANT_TOKENSMITH;
    o.bootstrap_token = "00ff";
    o.state_file = path;
    /* error.h's reuse rule: a success leaves the caller's record as it was, even though the
     * missing state file was looked for. */
    ts_error err;
    ts_error_set(&err, TS_EIO, "before", "an earlier failure");
    ts_client *a = ts_client_new(&o, &err);
    assert_non_null(a);
    assert_int_equal(err.code, TS_EIO);
    assert_string_equal(err.msg, "an earlier failure");
    ts_client *b = ts_client_new(&o, &err);
    assert_null(b);
    assert_int_equal(err.code, TS_EINVAL);
    assert_string_equal(err.where, path);
    assert_non_null(strstr(err.msg, "in use by another client"));
    ts_client_free(a);
    b = ts_client_new(&o, &err); /* free released it */
    assert_non_null(b);
    ts_client_free(b);

    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"format\":\"tokensmith-client-state\",\"version\":1,\"token_endpoint\":"
          "\"https://other.example/token\",\"refresh_token\":\"abcd\"}",
          f);
    fclose(f);
    assert_null(ts_client_new(&o, &err));
    assert_int_equal(err.code, TS_EINVAL);
    assert_non_null(strstr(err.msg, "another token endpoint"));
    f = fopen(path, "w");
    fputs("{\"format\":\"something-else\"}", f);
    fclose(f);
    assert_null(ts_client_new(&o, &err));
    assert_int_equal(err.code, TS_EPARSE);
    assert_non_null(strstr(err.msg, "not a tokensmith client state file"));
    f = fopen(path, "w");
    fputs("{\"format\":", f);
    fclose(f);
    assert_null(ts_client_new(&o, &err));
    assert_int_equal(err.code, TS_EPARSE);
    assert_non_null(strstr(err.msg, "not JSON"));

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),        cmocka_unit_test(test_endpoint_and_auth),
        cmocka_unit_test(test_grant_fields), cmocka_unit_test(test_lists_and_params),
        cmocka_unit_test(test_bounds),       cmocka_unit_test(test_state_file_guards),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
