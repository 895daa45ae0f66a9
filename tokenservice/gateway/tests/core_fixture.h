/* What the decision core's unit tests share (test_decide, test_translate, test_identity): a
 * temporary directory with two issuers' JWKS files (A: a tokensmith-like issuer, B: a
 * Kubernetes-like one), a policy fragment, and a configuration filled by hand as
 * ts_gateway_config_finish() would leave it. Tokens are minted with tokensmith-testutil. */
#ifndef TS_GATEWAY_TESTS_CORE_FIXTURE_H
#define TS_GATEWAY_TESTS_CORE_FIXTURE_H

#define _POSIX_C_SOURCE 200809L /* mkdtemp */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <tokensmith/testutil.h>

#include "gateway_config.h"

#define FX_GATEWAY_ISSUER "https://gateway.test"
#define FX_K8S_ISSUER "https://k8s.test"
#define FX_DOWN_ISSUER "https://down.test"
#define FX_K8S_SUB "system:serviceaccount:app:sa1"
#define FX_K8S_CLAIMS                                                                              \
    "{\"namespace\":\"app\",\"serviceaccount\":{\"name\":\"sa1\",\"uid\":\"u-1\"}}"

typedef struct fixture {
    char dir[128];
    char keys[192], policy[192], jwks_a[192], jwks_b[192];
    ts_testutil_key *key_a, *key_b;
    ts_gateway_config cfg;
    ts_gateway_trust trust[3];
    ts_gateway_route routes[3];
    ts_gateway_scope_role scope_roles[1];
    char public_paths[2][TS_GATEWAY_STR];
} fixture;

#define FX_UNUSED __attribute__((unused))

static void fx_jwks(const ts_testutil_key *k, const char *path)
{
    ts_error err;
    ts_jwks *set = ts_testutil_jwks(&k, 1, &err);
    assert_non_null(set);
    assert_int_equal(ts_testutil_jwks_write(set, path, &err), TS_OK);
    ts_jwks_free(set);
}

static void fx_trust(ts_gateway_trust *t, const char *iss, const char *uri, const char *aud,
                     ts_gateway_trust_kind kind)
{
    memset(t, 0, sizeof *t);
    snprintf(t->issuer, sizeof t->issuer, "%s", iss);
    snprintf(t->jwks_uri, sizeof t->jwks_uri, "%s", uri);
    snprintf(t->audiences[0], sizeof t->audiences[0], "%s", aud);
    t->n_audiences = 1;
    t->kind = kind;
}

static void fx_route(ts_gateway_route *r, const char *method, const char *path, const char *object,
                     const char *audience)
{
    memset(r, 0, sizeof *r);
    snprintf(r->method, sizeof r->method, "%s", method);
    snprintf(r->path, sizeof r->path, "%s", path);
    snprintf(r->object, sizeof r->object, "%s", object);
    snprintf(r->audience, sizeof r->audience, "%s", audience);
}

/* Issuer A (file JWKS, audience TS_TESTUTIL_AUDIENCE), issuer B (Kubernetes, audience
 * "gateway"), issuer "down" (a JWKS URL nobody answers). Routes: GET /things/:id -> gw:things,
 * POST /orders -> gw:orders (audience "orders-api"). Policy: role:reader reads gw:things,
 * role:writer creates gw:orders, the service account sa1 is a reader. */
FX_UNUSED static void fx_setup(fixture *fx)
{
    memset(fx, 0, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/ts-gw-core-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->keys, sizeof fx->keys, "%s/keys", fx->dir);
    snprintf(fx->policy, sizeof fx->policy, "%s/policy", fx->dir);
    snprintf(fx->jwks_a, sizeof fx->jwks_a, "%s/a.json", fx->dir);
    snprintf(fx->jwks_b, sizeof fx->jwks_b, "%s/b.json", fx->dir);
    assert_int_equal(mkdir(fx->policy, 0700), 0);
    ts_error err;
    fx->key_a = ts_testutil_key_new(TS_JWS_ES256, &err);
    fx->key_b = ts_testutil_key_new(TS_JWS_ES256, &err);
    assert_non_null(fx->key_a);
    assert_non_null(fx->key_b);
    fx_jwks(fx->key_a, fx->jwks_a);
    fx_jwks(fx->key_b, fx->jwks_b);
    static const char *const lines[] = {
        "p, role:reader, gw:things, read",
        "p, role:writer, gw:orders, create",
        "g, service:" FX_K8S_SUB ", role:reader, *",
    };
    assert_int_equal(ts_testutil_write_fragment(fx->policy, "10-gw.csv", lines, 3, &err), TS_OK);

    ts_gateway_config *c = &fx->cfg;
    snprintf(c->issuer, sizeof c->issuer, "%s", FX_GATEWAY_ISSUER);
    snprintf(c->key_dir, sizeof c->key_dir, "%s", fx->keys);
    snprintf(c->log_format, sizeof c->log_format, "json");
    c->threads = 1;
    snprintf(c->translate.audience, sizeof c->translate.audience, "backend");
    c->translate.ttl_s = 300;
    c->translate.cache_entries = 100;
    c->translate.headers = true;
    snprintf(c->translate.token_type, sizeof c->translate.token_type, "JWT");
    snprintf(c->authz.mode, sizeof c->authz.mode, "enforce");
    snprintf(c->authz.policy_dir, sizeof c->authz.policy_dir, "%s", fx->policy);
    c->authz.log_allow_sample = 1;
    snprintf(fx->scope_roles[0].scope, sizeof fx->scope_roles[0].scope, "things:read");
    snprintf(fx->scope_roles[0].role, sizeof fx->scope_roles[0].role, "reader");
    c->authz.scope_roles = fx->scope_roles;
    c->authz.n_scope_roles = 1;
    fx_route(&fx->routes[0], "GET", "/things/:id", "gw:things", "");
    fx_route(&fx->routes[1], "POST", "/orders", "gw:orders", "orders-api");
    c->authz.routes = fx->routes;
    c->authz.n_routes = 2;
    snprintf(fx->public_paths[0], TS_GATEWAY_STR, "/health");
    snprintf(fx->public_paths[1], TS_GATEWAY_STR, "/public/*");
    c->authz.public_paths = fx->public_paths;
    c->authz.n_public_paths = 2;
    snprintf(c->http.client_tokensmith_headers, sizeof c->http.client_tokensmith_headers, "strip");
    c->limits.max_header_bytes = 16384;
    c->limits.max_headers = 100;
    char uri[TS_GATEWAY_URL];
    snprintf(uri, sizeof uri, "file://%s", fx->jwks_a);
    fx_trust(&fx->trust[0], TS_TESTUTIL_ISSUER, uri, TS_TESTUTIL_AUDIENCE, TS_GATEWAY_TRUST_JWT);
    snprintf(uri, sizeof uri, "file://%s", fx->jwks_b);
    fx_trust(&fx->trust[1], FX_K8S_ISSUER, uri, "gateway", TS_GATEWAY_TRUST_KUBERNETES);
    /* Port 1 on loopback: nothing listens, the fetch fails at once. */
    fx_trust(&fx->trust[2], FX_DOWN_ISSUER, "http://127.0.0.1:1/jwks.json", "gateway",
             TS_GATEWAY_TRUST_JWT);
    c->trust = fx->trust;
    c->n_trust = 3;
}

FX_UNUSED static void fx_teardown(fixture *fx)
{
    ts_testutil_key_free(fx->key_a);
    ts_testutil_key_free(fx->key_b);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    assert_int_equal(system(cmd), 0);
}

/* A token of issuer A (TS_TESTUTIL_*) with @p roles (comma-free, NULL: none). */
FX_UNUSED static char *fx_token_a(const fixture *fx, const ts_testutil_key *key, const char *role)
{
    ts_error err;
    ts_testutil_token *b = ts_testutil_token_new(key ? key : fx->key_a, &err);
    assert_non_null(b);
    if (role)
        assert_int_equal(ts_testutil_token_set_roles(b, &role, 1, &err), TS_OK);
    char *t = ts_testutil_token_mint(b, TS_TESTUTIL_FLAW_NONE, &err);
    assert_non_null(t);
    ts_testutil_token_free(b);
    return t;
}

/* A projected service-account token of issuer B for sa1 (audiences "gateway" and "other"). */
FX_UNUSED static ts_testutil_token *fx_k8s_builder(const fixture *fx)
{
    ts_error err;
    ts_testutil_token *b = ts_testutil_token_new(fx->key_b, &err);
    assert_non_null(b);
    static const char *const aud[] = {"gateway", "other"};
    assert_int_equal(ts_testutil_token_set_issuer(b, FX_K8S_ISSUER, &err), TS_OK);
    assert_int_equal(ts_testutil_token_set_subject(b, FX_K8S_SUB, &err), TS_OK);
    assert_int_equal(ts_testutil_token_set_audience(b, aud, 2, &err), TS_OK);
    assert_int_equal(ts_testutil_token_set_claim_json(b, "kubernetes.io", FX_K8S_CLAIMS, &err),
                     TS_OK);
    assert_int_equal(ts_testutil_token_set_typ(b, NULL, &err), TS_OK);
    return b;
}

FX_UNUSED static char *fx_mint(ts_testutil_token *b)
{
    ts_error err;
    char *t = ts_testutil_token_mint(b, TS_TESTUTIL_FLAW_NONE, &err);
    assert_non_null(t);
    return t;
}

#endif
