/* gateway.test_identity: verified principal -> the caller's identity (identity.c), with tokens
 * verified by their own trust entry (trust.c). Kubernetes projected service-account tokens:
 * nested kubernetes.io claims, an array aud, sub and namespace/name that disagree, a legacy
 * flat token, max_token_age, roles only from policy; principal types and roles from scope_roles
 * for JWT issuers. */
#include "core_fixture.h"

#include <tokensmith/authn.h>

#include "core_internal.h"

static fixture fx;

static int setup(void **state)
{
    (void)state;
    fx_setup(&fx);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fx_teardown(&fx);
    return 0;
}

typedef struct mapped {
    ts_authn_reason verify, map;
    ts_gateway__identity id;
    ts_authn_principal *p;
} mapped;

static ts_authn_scope_role scope_roles[1];

/* Verify @p token on the trust set of the fixture and map it. */
static mapped run(const char *token)
{
    mapped m;
    memset(&m, 0, sizeof m);
    scope_roles[0] = (ts_authn_scope_role){fx.scope_roles[0].scope, fx.scope_roles[0].role};
    ts_error err;
    ts_gateway__trustset *t = ts_gateway__trust_new(&fx.cfg, scope_roles, 1, &err);
    assert_non_null(t);
    const ts_gateway_trust *entry = NULL;
    m.verify = ts_gateway__trust_verify(t, token, strlen(token), &entry, &m.p, NULL, &err);
    m.map = TS_AUTHN_INTERNAL;
    if (m.verify == TS_AUTHN_OK) {
        assert_non_null(entry);
        m.map = ts_gateway__identity_map(entry, m.p, (int64_t)time(NULL), &m.id, &err);
    }
    ts_gateway__trust_free(t);
    return m;
}

static void done(mapped *m)
{
    ts_authn_principal_free(m->p);
}

static void test_projected_token(void **state)
{
    (void)state;
    ts_testutil_token *b = fx_k8s_builder(&fx);
    char *tok = fx_mint(b);
    mapped m = run(tok); /* aud is an array of two; the entry accepts "gateway" */
    assert_int_equal(m.verify, TS_AUTHN_OK);
    assert_int_equal(m.map, TS_AUTHN_OK);
    assert_string_equal(m.id.id, FX_K8S_SUB);
    assert_string_equal(m.id.type, "service");
    assert_true(m.id.kubernetes);
    assert_string_equal(m.id.k8s_namespace, "app");
    assert_string_equal(m.id.k8s_sa_name, "sa1");
    assert_string_equal(m.id.k8s_sa_uid, "u-1");
    ts_authz_principal ap = ts_gateway__identity_authz(&m.id);
    assert_string_equal(ap.id, FX_K8S_SUB);
    assert_string_equal(ap.type, "service");
    done(&m);
    ts_free(tok);
    ts_testutil_token_free(b);
}

static void expect_k8s(const char *claim, const char *json, const char *sub, ts_authn_reason want)
{
    ts_error err;
    ts_testutil_token *b = fx_k8s_builder(&fx);
    if (claim && json)
        assert_int_equal(ts_testutil_token_set_claim_json(b, claim, json, &err), TS_OK);
    else if (claim)
        ts_testutil_token_remove_claim(b, claim);
    if (sub)
        assert_int_equal(ts_testutil_token_set_subject(b, sub, &err), TS_OK);
    char *tok = fx_mint(b);
    mapped m = run(tok);
    assert_int_equal(m.verify, TS_AUTHN_OK);
    if (m.map != want)
        fail_msg("claim %s=%s sub %s: %s, want %s", claim ? claim : "-", json ? json : "-",
                 sub ? sub : "-", ts_authn_reason_str(m.map), ts_authn_reason_str(want));
    done(&m);
    ts_free(tok);
    ts_testutil_token_free(b);
}

static void test_kubernetes_claims_refused(void **state)
{
    (void)state;
    /* No nested claims at all (the legacy flat Secret token's shape). */
    expect_k8s("kubernetes.io", NULL, NULL, TS_AUTHN_MISSING_CLAIM);
    expect_k8s("kubernetes.io", "{\"namespace\":\"app\"}", NULL, TS_AUTHN_MISSING_CLAIM);
    expect_k8s("kubernetes.io", "{\"serviceaccount\":{\"name\":\"sa1\"}}", NULL,
               TS_AUTHN_MISSING_CLAIM);
    expect_k8s("kubernetes.io", "\"app\"", NULL, TS_AUTHN_MISSING_CLAIM);
    expect_k8s("kubernetes.io", "{\"namespace\":7,\"serviceaccount\":{\"name\":\"sa1\"}}", NULL,
               TS_AUTHN_INVALID_CLAIM);
    expect_k8s("kubernetes.io", "{\"namespace\":\"app\",\"serviceaccount\":{\"name\":\"\"}}", NULL,
               TS_AUTHN_INVALID_CLAIM);
    /* sub and the nested claims name different accounts. */
    expect_k8s(NULL, NULL, "system:serviceaccount:other:sa1", TS_AUTHN_INVALID_CLAIM);
    expect_k8s(NULL, NULL, "system:serviceaccount:app:sa2", TS_AUTHN_INVALID_CLAIM);
    expect_k8s(NULL, NULL, "sa1", TS_AUTHN_INVALID_CLAIM);
    expect_k8s("kubernetes.io", "{\"namespace\":\"app:sa1\",\"serviceaccount\":{\"name\":\"x\"}}",
               "system:serviceaccount:app:sa1:x", TS_AUTHN_OK); /* the sub it implies */
    expect_k8s("kubernetes.io",
               "{\"namespace\":\"app\",\"serviceaccount\":{\"name\":\"sa1\",\"uid\":5}}", NULL,
               TS_AUTHN_INVALID_CLAIM);
    /* Without uid: still the same account. */
    expect_k8s("kubernetes.io", "{\"namespace\":\"app\",\"serviceaccount\":{\"name\":\"sa1\"}}",
               NULL, TS_AUTHN_OK);
}

/* A Kubernetes caller is its namespace/name and nothing else (docs/gateway.md, "Kubernetes
 * identity": no roles of its own; policy fragments grant them). Roles, groups or a mapped scope
 * in the token must not become roles (nor a `domain` claim a domain): Kubernetes derives a
 * service account's groups from its namespace, never from token claims, and a policy binding
 * the account would otherwise not be the whole story of what it may do. */
static void test_kubernetes_roles_from_policy_only(void **state)
{
    (void)state;
    ts_error err;
    ts_testutil_token *b = fx_k8s_builder(&fx);
    static const char *const roles[] = {"admin"};
    assert_int_equal(ts_testutil_token_set_roles(b, roles, 1, &err), TS_OK);
    assert_int_equal(ts_testutil_token_set_claim_json(b, "groups", "[\"system:masters\"]", &err),
                     TS_OK);
    assert_int_equal(ts_testutil_token_set_scope(b, "things:read", &err), TS_OK);
    assert_int_equal(ts_testutil_token_set_claim_string(b, "domain", "tenant-a", &err), TS_OK);
    char *tok = fx_mint(b);
    mapped m = run(tok);
    assert_int_equal(m.verify, TS_AUTHN_OK);
    assert_int_equal(m.map, TS_AUTHN_OK);
    assert_string_equal(m.id.id, FX_K8S_SUB);
    assert_string_equal(m.id.type, "service");
    if (m.id.domain && *m.id.domain)
        fail_msg("a Kubernetes caller got the domain %s from its token", m.id.domain);
    if (m.id.n_roles)
        fail_msg("a Kubernetes caller got %zu roles from its token (first: %s)", m.id.n_roles,
                 m.id.roles[0]);
    ts_authz_principal ap = ts_gateway__identity_authz(&m.id);
    assert_int_equal(ap.nroles, 0);
    done(&m);
    ts_free(tok);
    ts_testutil_token_free(b);
}

static void test_legacy_token_without_exp(void **state)
{
    (void)state;
    ts_testutil_token *b = fx_k8s_builder(&fx);
    ts_testutil_token_remove_claim(b, "exp");
    char *tok = fx_mint(b);
    mapped m = run(tok);
    assert_int_not_equal(m.verify, TS_AUTHN_OK); /* authn refuses a token that never expires */
    done(&m);
    ts_free(tok);
    ts_testutil_token_free(b);
}

static void test_max_token_age(void **state)
{
    (void)state;
    ts_testutil_token *b = fx_k8s_builder(&fx);
    int64_t now = (int64_t)time(NULL);
    fx.trust[1].max_token_age_s = 3600;
    ts_testutil_token_set_issued_at(b, now - 7200);
    ts_testutil_token_set_not_before(b, now - 7200);
    char *old = fx_mint(b);
    mapped m = run(old);
    assert_int_equal(m.verify, TS_AUTHN_OK);
    assert_int_equal(m.map, TS_AUTHN_INVALID_CLAIM);
    done(&m);

    ts_testutil_token_set_issued_at(b, now - 60);
    char *young = fx_mint(b);
    m = run(young);
    assert_int_equal(m.map, TS_AUTHN_OK);
    done(&m);

    ts_testutil_token_remove_claim(b, "iat");
    char *no_iat = fx_mint(b);
    m = run(no_iat);
    assert_int_equal(m.verify, TS_AUTHN_OK);
    assert_int_equal(m.map, TS_AUTHN_MISSING_CLAIM);
    done(&m);

    /* Without the bound, the old token is fine. */
    fx.trust[1].max_token_age_s = 0;
    m = run(old);
    assert_int_equal(m.map, TS_AUTHN_OK);
    done(&m);
    ts_free(old);
    ts_free(young);
    ts_free(no_iat);
    ts_testutil_token_free(b);
}

static void test_jwt_types_and_roles(void **state)
{
    (void)state;
    ts_error err;
    ts_testutil_token *b = ts_testutil_token_new(fx.key_a, &err);
    assert_int_equal(ts_testutil_token_set_scope(b, "things:read other", &err), TS_OK);
    char *tok = fx_mint(b);
    mapped m = run(tok);
    assert_int_equal(m.map, TS_AUTHN_OK);
    assert_string_equal(m.id.id, TS_TESTUTIL_SUBJECT);
    assert_string_equal(m.id.type, "user");
    assert_false(m.id.kubernetes);
    assert_int_equal(m.id.n_roles, 1); /* from scope_roles */
    assert_string_equal(m.id.roles[0], "reader");
    done(&m);
    ts_free(tok);

    assert_int_equal(ts_testutil_token_set_claim_string(b, "principal_type", "service", &err),
                     TS_OK);
    tok = fx_mint(b);
    m = run(tok);
    assert_string_equal(m.id.type, "service");
    done(&m);

    /* The entry's principal_type wins over the token's. */
    snprintf(fx.trust[0].principal_type, sizeof fx.trust[0].principal_type, "user");
    m = run(tok);
    assert_string_equal(m.id.type, "user");
    done(&m);
    fx.trust[0].principal_type[0] = '\0';
    ts_free(tok);
    ts_testutil_token_free(b);
}

static void test_issuer_picks_its_own_keys(void **state)
{
    (void)state;
    ts_error err;
    /* iss of A signed with B's key: A's verifier does not know B's key. */
    ts_testutil_token *b = ts_testutil_token_new(fx.key_b, &err);
    char *tok = fx_mint(b);
    mapped m = run(tok);
    assert_int_not_equal(m.verify, TS_AUTHN_OK);
    assert_null(m.p);
    ts_free(tok);
    ts_testutil_token_free(b);

    /* iss of B (Kubernetes) signed with A's key, even with A's kid. */
    b = ts_testutil_token_new(fx.key_a, &err);
    assert_int_equal(ts_testutil_token_set_issuer(b, FX_K8S_ISSUER, &err), TS_OK);
    static const char *const aud[] = {"gateway"};
    assert_int_equal(ts_testutil_token_set_audience(b, aud, 1, &err), TS_OK);
    tok = fx_mint(b);
    m = run(tok);
    assert_int_not_equal(m.verify, TS_AUTHN_OK);
    ts_free(tok);
    ts_testutil_token_free(b);

    /* An issuer nobody trusts. */
    b = ts_testutil_token_new(fx.key_a, &err);
    assert_int_equal(ts_testutil_token_set_issuer(b, "https://stranger.test", &err), TS_OK);
    tok = fx_mint(b);
    m = run(tok);
    assert_int_equal(m.verify, TS_AUTHN_WRONG_ISSUER);
    ts_free(tok);
    ts_testutil_token_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_projected_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kubernetes_claims_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kubernetes_roles_from_policy_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_legacy_token_without_exp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_token_age, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jwt_types_and_roles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_issuer_picks_its_own_keys, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
