/* gateway.test_config: the gateway's configuration (config.c, config_file.c): every settings
 * row's bounds through ts_gateway_config_set(), the example file loaded verbatim, errors
 * that name the member's path, JSON null for policy_dir, duplicate and unknown members, the
 * size cap, the rules of finish() and precedence by the order of the sources; a trust entry's
 * revocation list members, from the file to the entry's verifier (trust.c). */
#define _POSIX_C_SOURCE 200809L

#include "core_fixture.h" /* cmocka, testutil, a hand-filled configuration */

#include <tokensmith/authn.h>

#include "config.h"        /* ts_svc_kind */
#include "core_internal.h" /* ts_gateway__trust_* */
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

#define REV_ENTRY(more) "{\"trust\":[{\"issuer\":\"https://a\",\"audiences\":[\"x\"]" more "}]}"

/* The members, their defaults, and every way to get them wrong, named by their path. */
static void test_revocations_members(void **state)
{
    (void)state;
    ts_gateway_config *c = fresh();
    ts_error err;
    assert_int_equal(load(c, REV_ENTRY(""), &err), TS_OK);
    assert_string_equal(c->trust[0].revocations, "");
    assert_int_equal(load(c, REV_ENTRY(",\"revocations\":null"), &err), TS_OK);
    assert_string_equal(c->trust[0].revocations, "");
    assert_int_equal(load(c, REV_ENTRY(",\"revocations\":\"https://a/oauth/revocations\""), &err),
                     TS_OK);
    assert_string_equal(c->trust[0].revocations, "https://a/oauth/revocations");
    assert_int_equal(c->trust[0].revocations_poll_s, 10);
    assert_int_equal(c->trust[0].revocations_max_stale_s, 300);
    assert_false(c->trust[0].revocations_fail_open);
    assert_int_equal(load(c,
                          REV_ENTRY(",\"revocations\":\"http://127.0.0.1:8080/oauth/revocations\","
                                    "\"revocations_poll\":\"1s\",\"revocations_max_stale\":"
                                    "\"2m\",\"revocations_fail_open\":true"),
                          &err),
                     TS_OK);
    assert_string_equal(c->trust[0].revocations, "http://127.0.0.1:8080/oauth/revocations");
    assert_int_equal(c->trust[0].revocations_poll_s, 1);
    assert_int_equal(c->trust[0].revocations_max_stale_s, 120);
    assert_true(c->trust[0].revocations_fail_open);
    assert_int_equal(
        load(c,
             REV_ENTRY(",\"revocations\":\"https://a/r\",\"revocations_poll\":30,"
                       "\"revocations_max_stale\":3600,\"revocations_fail_open\":false"),
             &err),
        TS_OK);
    assert_int_equal(c->trust[0].revocations_poll_s, 30);
    assert_int_equal(c->trust[0].revocations_max_stale_s, 3600);
    assert_false(c->trust[0].revocations_fail_open);
    ts_gateway_config_free(c);

    refused(REV_ENTRY(",\"revocations\":7"), TS_EINVAL, "trust[0].revocations: not a string");
    refused(REV_ENTRY(",\"revocations\":\"ftp://a/r\""), TS_EINVAL,
            "trust[0].revocations: not https:// (or http:// to a loopback host)");
    refused(REV_ENTRY(",\"revocations\":\"http://tokens.example/oauth/revocations\""), TS_EINVAL,
            "trust[0].revocations: not https:// (or http:// to a loopback host)");
    refused(REV_ENTRY(",\"revocations\":\"https://a/r\",\"revocations_poll\":\"0s\""), TS_EINVAL,
            "trust[0].revocations_poll: '0s' is not a duration between 1s and 3600s");
    refused(REV_ENTRY(",\"revocations\":\"https://a/r\",\"revocations_poll\":\"2h\""), TS_EINVAL,
            "trust[0].revocations_poll: '2h' is not a duration between 1s and 3600s");
    refused(REV_ENTRY(",\"revocations\":\"https://a/r\",\"revocations_poll\":true"), TS_EINVAL,
            "trust[0].revocations_poll: not a duration (\"5m\") or seconds");
    refused(REV_ENTRY(",\"revocations\":\"https://a/r\",\"revocations_max_stale\":\"2d\""),
            TS_EINVAL,
            "trust[0].revocations_max_stale: '2d' is not a duration between 1s and 86400s");
    refused(REV_ENTRY(",\"revocations\":\"https://a/r\",\"revocations_fail_open\":\"yes\""),
            TS_EINVAL, "trust[0].revocations_fail_open: not true or false");
    /* Without a list the others would silently do nothing. */
    refused(REV_ENTRY(",\"revocations_poll\":\"5s\""), TS_EINVAL,
            "trust[0].revocations_poll: applies only with revocations (a URL)");
    refused(REV_ENTRY(",\"revocations\":null,\"revocations_fail_open\":true"), TS_EINVAL,
            "trust[0].revocations_fail_open: applies only with revocations (a URL)");
    refused(REV_ENTRY(",\"revocations_max_stale\":\"1m\",\"revocations\":\"\""), TS_EINVAL,
            "trust[0].revocations_max_stale: applies only with revocations (a URL)");
    refused(REV_ENTRY(",\"revocation\":\"https://a/r\""), TS_EINVAL,
            "trust[0].revocation: unknown member");
    refused("{\"trust\":[{\"issuer\":\"https://a\",\"audiences\":[\"x\"]},{\"issuer\":"
            "\"https://b\",\"audiences\":[\"x\"],\"revocations\":\"https://b/r\","
            "\"revocations_poll\":\"-1s\"}]}",
            TS_EINVAL, "trust[1].revocations_poll: '-1s' is not a duration between 1s and 3600s");
}

/* finish(): the list may miss a poll before it is stale; fields set in code are checked too. */
static void test_revocations_finish(void **state)
{
    (void)state;
    ts_gateway_config *c = fresh();
    ts_error err;
    expect_set(c, "issuer", "https://gw", true);
    expect_set(c, "translate.audience", "backend", true);
    assert_int_equal(load(c,
                          REV_ENTRY(",\"revocations\":\"https://a/r\",\"revocations_poll\":"
                                    "\"1m\",\"revocations_max_stale\":\"60s\""),
                          &err),
                     TS_OK);
    assert_int_equal(ts_gateway_config_finish(c, &err), TS_EINVAL);
    assert_string_equal(err.where, "trust");
    assert_string_equal(err.msg,
                        "trust[0].revocations_max_stale: must be longer than revocations_poll "
                        "(60s)");
    c->trust[0].revocations_max_stale_s = 61;
    assert_int_equal(ts_gateway_config_finish(c, &err), TS_OK);
    c->trust[0].revocations_poll_s = 0;
    assert_int_equal(ts_gateway_config_finish(c, &err), TS_EINVAL);
    assert_string_equal(err.msg, "trust[0].revocations_poll: not a duration between 1s and 3600s");
    c->trust[0].revocations_poll_s = 10;
    c->trust[0].revocations_max_stale_s = 86401;
    assert_int_equal(ts_gateway_config_finish(c, &err), TS_EINVAL);
    assert_string_equal(err.msg,
                        "trust[0].revocations_max_stale: not a duration between 1s and 86400s");
    c->trust[0].revocations_max_stale_s = 300;
    snprintf(c->trust[0].revocations, sizeof c->trust[0].revocations, "http://a/r");
    assert_int_equal(ts_gateway_config_finish(c, &err), TS_EINVAL);
    assert_string_equal(err.msg,
                        "trust[0].revocations: not https:// (or http:// to a loopback host)");
    c->trust[0].revocations[0] = '\0'; /* no list: the other members are not looked at */
    c->trust[0].revocations_poll_s = 0;
    assert_int_equal(ts_gateway_config_finish(c, &err), TS_OK);
    ts_gateway_config_free(c);
}

/* The entry's verifier consults its list: nothing answers at the URL, so no list was ever
 * applied, which fail-closed refuses (503's reason) and fail-open lets pass; authn's own
 * refusal of an option is named by the member. */
static void test_revocations_reach_the_verifier(void **state)
{
    (void)state;
    fixture fx;
    fx_setup(&fx);
    fx.cfg.n_trust = 1;
    ts_gateway_trust *t = &fx.trust[0];
    /* Port 1 on loopback: nothing listens, every poll fails at once. */
    snprintf(t->revocations, sizeof t->revocations, "http://127.0.0.1:1/oauth/revocations");
    t->revocations_poll_s = 1;
    t->revocations_max_stale_s = 2;
    char *tok = fx_token_a(&fx, NULL, "reader");
    for (int open = 0; open < 2; open++) {
        t->revocations_fail_open = open;
        ts_error err;
        ts_error_clear(&err);
        ts_gateway__trustset *ts = ts_gateway__trust_new(&fx.cfg, NULL, 0, &err);
        assert_non_null(ts);
        const ts_gateway_trust *entry = NULL;
        ts_authn_principal *p = NULL;
        ts_authn_detail d;
        memset(&d, 0, sizeof d);
        ts_authn_reason r = ts_gateway__trust_verify(ts, tok, strlen(tok), &entry, &p, &d, &err);
        assert_int_equal(r, open ? TS_AUTHN_OK : TS_AUTHN_REVOCATIONS_UNAVAILABLE);
        assert_ptr_equal(entry, t);
        ts_authn_principal_free(p);
        ts_gateway__trust_free(ts);
    }
    /* Out of authn's range (a configuration made in code, finish() not called). */
    t->revocations_poll_s = 0;
    ts_error err;
    ts_error_clear(&err);
    assert_null(ts_gateway__trust_new(&fx.cfg, NULL, 0, &err));
    assert_int_equal(err.code, TS_EINVAL);
    assert_string_equal(err.where, "trust[0].revocations_poll");
    t->revocations_poll_s = 1;
    t->revocations_max_stale_s = 0;
    assert_null(ts_gateway__trust_new(&fx.cfg, NULL, 0, &err));
    assert_string_equal(err.where, "trust[0].revocations_max_stale");
    ts_free(tok);
    fx_teardown(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_verbatim),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_row_bounds),
        cmocka_unit_test(test_member_paths),
        cmocka_unit_test(test_null_policy_dir),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_size_and_bytes),
        cmocka_unit_test(test_finish_rules),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_revocations_members),
        cmocka_unit_test(test_revocations_finish),
        cmocka_unit_test(test_revocations_reach_the_verifier),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
