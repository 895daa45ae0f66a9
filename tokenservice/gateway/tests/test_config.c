/* gateway.test_config: the gateway's configuration (config.c, config_file.c): every settings
 * row's bounds through ts_gateway_config_set(), the example file loaded verbatim, errors
 * that name the member's path, JSON null for policy_dir, duplicate and unknown members, the
 * size cap, the rules of finish() and precedence by the order of the sources. */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h" /* ts_svc_kind */
#include "gateway.h"
#include "gateway_config.h"
#include "gateway_settings.h"

/* The example, verbatim. */
static const char example[] =
    "{\"listen\": \"127.0.0.1:9001\",            \"grpc_listen\": \"127.0.0.1:9002\",\n"
    " \"admin_listen\": \"127.0.0.1:9003\",      \"issuer\": \"https://gateway.example\",\n"
    " \"home\": \"/var/lib/tokensmith-gateway\",\n"
    " \"trust\": [{\"issuer\": \"https://tokens.example\", \"jwks_uri\": "
    "\"http://127.0.0.1:8080/.well-known/jwks.json\",\n"
    "            \"audiences\": [\"gateway\"]}],\n"
    " \"translate\": {\"audience\": \"backend\", \"ttl\": \"5m\"},\n"
    " \"authz\": {\"mode\": \"enforce\", \"scope_roles\": {\"read\": \"viewer\", \"write\": "
    "\"operator\", \"admin\": \"admin\"},\n"
    "           \"routes\": [{\"method\": \"GET\", \"path\": \"/nodes\", \"object\": "
    "\"metadata:nodes\"},\n"
    "                      {\"method\": \"DELETE\", \"path\": \"/nodes/:id\", \"object\": "
    "\"metadata:nodes\"}],\n"
    "           \"policy_dir\": null}}\n";

static ts_gateway_config *fresh(void)
{
    ts_error err;
    ts_error_clear(&err);
    ts_gateway_config *c = ts_gateway_config_new(&err);
    assert_non_null(c);
    return c;
}

static ts_status load(ts_gateway_config *c, const char *json, ts_error *err)
{
    ts_error_clear(err);
    return ts_gateway_config_load_json(c, "gateway.json", json, strlen(json), err);
}

/* Load @p json into a fresh configuration, expect @p code and the message @p msg. */
static void refused(const char *json, ts_status code, const char *msg)
{
    ts_gateway_config *c = fresh();
    ts_error err;
    ts_status st = load(c, json, &err);
    if (st != code || strcmp(err.msg, msg) != 0)
        fail_msg("%s\n-> %d '%s' (want %d '%s')", json, st, err.msg, code, msg);
    assert_string_equal(err.where, "gateway.json");
    ts_gateway_config_free(c);
}

static void test_example_verbatim(void **state)
{
    (void)state;
    ts_gateway_config *c = fresh();
    ts_error err;
    assert_int_equal(load(c, example, &err), TS_OK);
    assert_int_equal(ts_gateway_config_finish(c, &err), TS_OK);
    assert_string_equal(c->listen, "127.0.0.1:9001");
    assert_string_equal(c->grpc_listen, "127.0.0.1:9002");
    assert_string_equal(c->admin_listen, "127.0.0.1:9003");
    assert_string_equal(c->issuer, "https://gateway.example");
    assert_string_equal(c->home, "/var/lib/tokensmith-gateway");
    assert_string_equal(c->key_dir, "/var/lib/tokensmith-gateway/keys");
    assert_int_equal(c->n_trust, 1);
    assert_string_equal(c->trust[0].issuer, "https://tokens.example");
    assert_string_equal(c->trust[0].jwks_uri, "http://127.0.0.1:8080/.well-known/jwks.json");
    assert_int_equal(c->trust[0].n_audiences, 1);
    assert_string_equal(c->trust[0].audiences[0], "gateway");
    assert_int_equal(c->trust[0].kind, TS_GATEWAY_TRUST_JWT);
    assert_string_equal(c->translate.audience, "backend");
    assert_int_equal(c->translate.ttl_s, 300);
    assert_string_equal(c->authz.mode, "enforce");
    assert_string_equal(c->authz.policy_dir, "");
    assert_int_equal(c->authz.n_scope_roles, 3);
    assert_string_equal(c->authz.scope_roles[1].scope, "write");
    assert_string_equal(c->authz.scope_roles[1].role, "operator");
    assert_int_equal(c->authz.n_routes, 2);
    assert_string_equal(c->authz.routes[1].method, "DELETE");
    assert_string_equal(c->authz.routes[1].path, "/nodes/:id");
    assert_string_equal(c->authz.routes[1].object, "metadata:nodes");
    assert_string_equal(c->authz.routes[1].audience, "");
    ts_gateway_config_free(c);
}

static void test_defaults(void **state)
{
    (void)state;
    ts_gateway_config *c = fresh();
    assert_string_equal(c->listen, "127.0.0.1:9001");
    assert_string_equal(c->grpc_listen, "127.0.0.1:9002");
    assert_string_equal(c->admin_listen, "127.0.0.1:9003");
    assert_string_equal(c->home, "./tokensmith-gateway");
    assert_string_equal(c->key_dir, "");
    assert_string_equal(c->log_format, "json");
    assert_int_equal(c->threads, 8);
    assert_int_equal(c->translate.ttl_s, 300);
    assert_int_equal(c->translate.cache_entries, 10000);
    assert_true(c->translate.headers);
    assert_string_equal(c->translate.token_type, "JWT");
    assert_string_equal(c->authz.mode, "enforce");
    assert_false(c->authz.allow_unmapped);
    assert_int_equal(c->authz.log_allow_sample, 100);
    assert_string_equal(c->http.client_tokensmith_headers, "strip");
    assert_int_equal(c->limits.max_header_bytes, 16384);
    assert_int_equal(c->limits.max_headers, 100);
    assert_int_equal(c->limits.grpc_max_message_bytes, 65536);
    assert_int_equal(c->limits.request_timeout_ms, 5000);
    assert_int_equal(c->limits.max_connections, 1024);
    ts_gateway_config_free(c);
}

static void expect_set(ts_gateway_config *c, const char *key, const char *v, bool ok)
{
    ts_error err;
    ts_error_clear(&err);
    ts_status st = ts_gateway_config_set(c, key, v, "--x", &err);
    if ((st == TS_OK) != ok)
        fail_msg("%s = '%s': %s (%s)", key, v, ok ? "refused" : "accepted", err.msg);
    if (!ok)
        assert_string_equal(err.where, "--x");
}

/* Every row: its bounds from the table itself, so a new row is covered when it is added. */
static void check_row(const char *key, ts_svc_kind kind, int64_t min, int64_t max,
                      const char *choices)
{
    if (strcmp(key, "grpc_listen") == 0)
        return; /* a listen address or "": below */
    ts_gateway_config *c = fresh();
    char v[2200];
    switch (kind) {
    case TS_SVC_K_UINT:
    case TS_SVC_K_DUR:
        snprintf(v, sizeof v, "%lld", (long long)min);
        expect_set(c, key, v, true);
        snprintf(v, sizeof v, "%lld", (long long)max);
        expect_set(c, key, v, true);
        snprintf(v, sizeof v, "%lld", (long long)max + 1);
        expect_set(c, key, v, false);
        if (min > 0) {
            snprintf(v, sizeof v, "%lld", (long long)min - 1);
            expect_set(c, key, v, false);
        }
        expect_set(c, key, "-1", false);
        expect_set(c, key, "ten", false);
        break;
    case TS_SVC_K_BOOL:
        expect_set(c, key, "true", true);
        expect_set(c, key, "false", true);
        expect_set(c, key, "yes", false);
        break;
    case TS_SVC_K_ENUM:
        for (const char *p = choices; *p;) {
            size_t l = strcspn(p, "|");
            snprintf(v, sizeof v, "%.*s", (int)l, p);
            expect_set(c, key, v, true);
            p += l + (p[l] == '|');
        }
        expect_set(c, key, "none-of-these", false);
        break;
    case TS_SVC_K_LISTEN:
        expect_set(c, key, "127.0.0.1:0", true);
        expect_set(c, key, "[::1]:65535", true);
        expect_set(c, key, "127.0.0.1", false);
        expect_set(c, key, "127.0.0.1:65536", false);
        expect_set(c, key, "", false);
        break;
    default: /* text: the field's length, and no control characters */
        memset(v, 'a', (size_t)max);
        v[0] = '/';
        v[max] = '\0';
        expect_set(c, key, v, true);
        v[max] = 'a';
        v[max + 1] = '\0';
        expect_set(c, key, v, false);
        expect_set(c, key, "a\tb", false);
        if (kind == TS_SVC_K_PATH)
            expect_set(c, key, "https://example/dir", false);
        break;
    }
    ts_gateway_config_free(c);
}

static void test_row_bounds(void **state)
{
    (void)state;
#define CHECK(id, key, flag, env, kind, min, max, choices, field, def, arg, help)                  \
    check_row(key, TS_SVC_K_##kind, min, TS_GATEWAY_ROW_MAX(max, field), choices);
    TS_GATEWAY_SETTINGS(CHECK)
#undef CHECK
    /* grpc_listen: "" turns it off, anything else is HOST:PORT */
    ts_gateway_config *c = fresh();
    expect_set(c, "grpc_listen", "", true);
    expect_set(c, "grpc_listen", "127.0.0.1:0", true);
    expect_set(c, "grpc_listen", "nonsense", false);
    expect_set(c, "no.such.setting", "1", false);
    /* the deadline is kept in milliseconds, given like every duration */
    expect_set(c, "limits.request_timeout", "2m", true);
    assert_int_equal(c->limits.request_timeout_ms, 120000);
    expect_set(c, "translate.ttl", "1h", true);
    assert_int_equal(c->translate.ttl_s, 3600);
    ts_gateway_config_free(c);
}

static void test_member_paths(void **state)
{
    (void)state;
    refused("{\"trust\":[{\"issuer\":\"https://a\",\"audiences\":[\"x\",7]}]}", TS_EINVAL,
            "trust[0].audiences[1]: not a string");
    refused(
        "{\"trust\":[{\"issuer\":\"https://a\",\"audiences\":[\"x\"]},{\"audiences\":[\"x\"]}]}",
        TS_EINVAL, "trust[1].issuer: required");
    refused("{\"trust\":[{\"issuer\":\"https://a\",\"audiences\":[]}]}", TS_EINVAL,
            "trust[0].audiences: at least one audience is required");
    refused("{\"trust\":[{\"issuer\":\"https://a\",\"audiences\":[\"x\"],\"kind\":\"k8s\"}]}",
            TS_EINVAL, "trust[0].kind: not \"jwt\" or \"kubernetes\"");
    refused("{\"trust\":[{\"issuer\":\"https://a\",\"audiences\":[\"x\"],\"jwks\":\"u\"}]}",
            TS_EINVAL, "trust[0].jwks: unknown member");
    refused("{\"trust\":{}}", TS_EINVAL, "trust: not an array");
    refused("{\"authz\":{\"routes\":[{\"method\":\"GET\",\"path\":\"/a\",\"object\":\"o\"},"
            "{\"method\":\"GET\",\"object\":\"o\"}]}}",
            TS_EINVAL, "authz.routes[1].path: required");
    refused("{\"authz\":{\"routes\":[{\"method\":\"GET\",\"path\":\"a\",\"object\":\"o\"}]}}",
            TS_EINVAL, "authz.routes[0].path: must start with '/'");
    refused("{\"authz\":{\"scope_roles\":{\"read\":1}}}", TS_EINVAL,
            "authz.scope_roles.read: not a string");
    refused("{\"authz\":{\"public_paths\":[\"/health\",\"x\"]}}", TS_EINVAL,
            "authz.public_paths[1]: must start with '/'");
    refused("{\"authz\":{\"bogus\":1}}", TS_EINVAL, "authz.bogus: unknown member");
    refused("{\"bogus\":1}", TS_EINVAL, "bogus: unknown member");
    refused("{\"translate\":\"5m\"}", TS_EINVAL, "translate: not an object");
    refused("{\"translate\":{\"ttl\":\"10s\"}}", TS_EINVAL,
            "translate.ttl: '10s' is not a duration between 30s and 3600s");
    refused("{\"translate\":{\"ttl\":true}}", TS_EINVAL,
            "translate.ttl: not a number (or a duration such as \"5m\")");
    refused("{\"translate\":{\"headers\":\"yes\"}}", TS_EINVAL,
            "translate.headers: not true or false");
    refused("{\"threads\":0}", TS_EINVAL, "threads: '0' is not an integer in 1..256");
    refused("{\"listen\":9001}", TS_EINVAL, "listen: not a string");
    refused("{\"authz\":{\"mode\":\"audit\"}}", TS_EINVAL,
            "authz.mode: 'audit' is not one of off|shadow|enforce");
    refused("[1]", TS_EPARSE, "the configuration must be a JSON object");
}

static void test_null_policy_dir(void **state)
{
    (void)state;
    ts_gateway_config *c = fresh();
    ts_error err;
    assert_int_equal(load(c, "{\"authz\":{\"policy_dir\":\"/etc/policy\"}}", &err), TS_OK);
    assert_string_equal(c->authz.policy_dir, "/etc/policy");
    assert_int_equal(load(c, "{\"authz\":{\"policy_dir\":null}}", &err), TS_OK);
    assert_string_equal(c->authz.policy_dir, "");
    /* null is "" for text, so a listener that must have an address refuses it */
    assert_int_equal(load(c, "{\"grpc_listen\":null}", &err), TS_OK);
    assert_string_equal(c->grpc_listen, "");
    ts_gateway_config_free(c);
    refused("{\"listen\":null}", TS_EINVAL, "listen: '' is not HOST:PORT or [ADDR]:PORT");
    refused("{\"threads\":null}", TS_EINVAL,
            "threads: not a number (or a duration such as \"5m\")");
}

static void test_duplicates(void **state)
{
    (void)state;
    ts_gateway_config *c = fresh();
    ts_error err;
    assert_int_equal(load(c, "{\"listen\":\"127.0.0.1:1\",\"listen\":\"127.0.0.1:2\"}", &err),
                     TS_EPARSE);
    assert_string_equal(err.where, "gateway.json");
    assert_non_null(strstr(err.msg, "duplicate"));
    assert_int_equal(
        load(c, "{\"authz\":{\"scope_roles\":{\"read\":\"viewer\",\"read\":\"admin\"}}}", &err),
        TS_EPARSE);
    assert_int_equal(load(c, "{\"trust\":[{\"issuer\":\"a\",\"issuer\":\"b\"}]}", &err), TS_EPARSE);
    ts_gateway_config_free(c);
}

static void test_size_and_bytes(void **state)
{
    (void)state;
    ts_gateway_config *c = fresh();
    ts_error err;
    size_t n = TS_GATEWAY_CONFIG_MAX_BYTES + 1;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    ts_error_clear(&err);
    assert_int_equal(ts_gateway_config_load_json(c, "big.json", big, n, &err), TS_ELIMIT);
    assert_int_equal(ts_gateway_config_load_json(c, "big.json", big, n - 1, &err), TS_EPARSE);
    big[n - 2] = '}';
    assert_int_equal(ts_gateway_config_load_json(c, "big.json", big, n - 1, &err), TS_OK);
    free(big);
    static const char nul[] = "{\"listen\":\"127.0.0.1:1\"}\0";
    assert_int_equal(ts_gateway_config_load_json(c, "n.json", nul, sizeof nul - 1, &err),
                     TS_EPARSE);
    assert_int_equal(load(c, "{\"listen\": ", &err), TS_EPARSE);
    assert_int_equal(load(c, "{\"issuer\":\"a\\u0000b\"}", &err), TS_EPARSE);
    ts_gateway_config_free(c);
}

static void test_finish_rules(void **state)
{
    (void)state;
    ts_gateway_config *c = fresh();
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_gateway_config_finish(c, &err), TS_EINVAL);
    assert_string_equal(err.where, "issuer");
    expect_set(c, "issuer", "https://gw", true);
    assert_int_equal(ts_gateway_config_finish(c, &err), TS_EINVAL);
    assert_string_equal(err.where, "translate.audience");
    expect_set(c, "translate.audience", "backend", true);
    assert_int_equal(ts_gateway_config_finish(c, &err), TS_EINVAL);
    assert_string_equal(err.where, "trust");
    assert_int_equal(load(c,
                          "{\"trust\":[{\"issuer\":\"https://t\",\"audiences\":[\"gw\"]}],"
                          "\"authz\":{\"routes\":[{\"method\":\"GET\",\"path\":\"/a\","
                          "\"object\":\"o\",\"audience\":\"one\"},{\"method\":\"PUT\","
                          "\"path\":\"/a\",\"object\":\"o\",\"audience\":\"two\"}]}}",
                          &err),
                     TS_OK);
    assert_int_equal(ts_gateway_config_finish(c, &err), TS_EINVAL);
    assert_string_equal(err.where, "authz.routes");
    assert_int_equal(load(c, "{\"authz\":{\"routes\":[]},\"home\":\"/srv/gw\"}", &err), TS_OK);
    assert_int_equal(ts_gateway_config_finish(c, &err), TS_OK);
    assert_string_equal(c->key_dir, "/srv/gw/keys");
    /* a field set directly, out of bounds, is caught by finish */
    c->threads = 0;
    assert_int_equal(ts_gateway_config_finish(c, &err), TS_EINVAL);
    assert_string_equal(err.where, "threads");
    ts_gateway_config_free(c);
}

/* defaults < file < variable < flag: whoever applies a source later wins, a bad value changes
 * nothing. */
static void test_precedence(void **state)
{
    (void)state;
    char path[] = "/tmp/ts_gateway_cfg_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static const char text[] = "{\"threads\": 4, \"translate\": {\"ttl\": 600}}";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    ts_gateway_config *c = fresh();
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_gateway_config_load_file(c, path, &err), TS_OK);
    assert_int_equal(c->threads, 4);
    assert_int_equal(c->translate.ttl_s, 600);
    expect_set(c, "threads", "6", true);  /* the variable */
    expect_set(c, "threads", "12", true); /* the flag */
    assert_int_equal(c->threads, 12);
    expect_set(c, "threads", "999", false);
    assert_int_equal(c->threads, 12);
    assert_int_equal(c->translate.ttl_s, 600);
    unlink(path);
    assert_int_equal(ts_gateway_config_load_file(c, path, &err), TS_EIO);
    ts_gateway_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_verbatim), cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_row_bounds),       cmocka_unit_test(test_member_paths),
        cmocka_unit_test(test_null_policy_dir),  cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_size_and_bytes),   cmocka_unit_test(test_finish_rules),
        cmocka_unit_test(test_precedence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
