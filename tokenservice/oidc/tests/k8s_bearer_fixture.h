/* Fixtures of the Kubernetes bearer-token tests (test_oidc_k8s_bearer*.c): service-account
   tokens as kube-apiserver writes them, minted by tokensmith-testutil, and the cluster's key set
   under kube-apiserver's opaque kids. Include after <cmocka.h>. */
#ifndef TS_OIDC_TEST_K8S_BEARER_FIXTURE_H
#define TS_OIDC_TEST_K8S_BEARER_FIXTURE_H

#include <stdio.h>
#include <string.h>

#include <tokensmith/oidc.h>
#include <tokensmith/oidc_k8s_bearer.h>
#include <tokensmith/testutil.h>

#define API_AUD "tokensmith-management"
#define EXCHANGE_AUD "tokensmith"
/* kube-apiserver's kid: base64url of a SHA-256 of the key, not an RFC 7638 thumbprint. */
#define KID_RSA "VGx6WUU1Q3QtR3BpbXBGR0NvT0hqTkJ5b0R1Zk9sZkpHbzlqcUJRaw"
#define KID_EC "c2VydmljZS1hY2NvdW50LWtleS1lYy0yMDI2LTEyLTA3LWExYjJjMw"

/* The public set of @p a and @p b under the cluster's opaque kids. */
static inline ts_jwks *cluster_set(const ts_testutil_key *a, const ts_testutil_key *b)
{
    ts_error e;
    ts_jwk *k[2] = {ts_jwk_with(ts_testutil_key_jwk(a), KID_RSA, TS_JWS_ALG_UNKNOWN, &e),
                    ts_jwk_with(ts_testutil_key_jwk(b), KID_EC, TS_JWS_ALG_UNKNOWN, &e)};
    assert_non_null(k[0]);
    assert_non_null(k[1]);
    ts_jwks *set = ts_jwks_new(k, 2, &e);
    assert_non_null(set);
    ts_jwk_free(k[0]);
    ts_jwk_free(k[1]);
    return set;
}

static inline ts_oidc_config *config(const char *json)
{
    ts_error e;
    ts_error_clear(&e);
    ts_oidc_config *c = ts_oidc_config_parse(json, strlen(json), &e);
    if (!c)
        fail_msg("%s: %s (%s)", e.where, e.msg, json);
    return c;
}

static inline ts_oidc_k8s_bearer *bearer_of(ts_oidc_config *c)
{
    ts_error e;
    ts_error_clear(&e);
    ts_oidc_k8s_bearer *b = ts_oidc_k8s_bearer_new(c, API_AUD, &e);
    if (!b)
        fail_msg("ts_oidc_k8s_bearer_new: %s: %s", e.where, e.msg);
    return b;
}

/* A projected token of @p iss for ns/sa as kube-apiserver writes it: no typ, the opaque kid of
   the key, nested kubernetes.io claims (with the account's uid unless @p uid is NULL). */
static inline ts_testutil_token *projected(const ts_testutil_key *key, const char *iss,
                                           const char *ns, const char *sa, const char *uid,
                                           const char *aud)
{
    ts_error e;
    ts_testutil_token *b = ts_testutil_token_new(key, &e);
    assert_non_null(b);
    char sub[256], k8s[1024];
    snprintf(sub, sizeof sub, "system:serviceaccount:%s:%s", ns, sa);
    char uidm[128] = "";
    if (uid)
        snprintf(uidm, sizeof uidm, ",\"uid\":\"%s\"", uid);
    snprintf(k8s, sizeof k8s,
             "{\"namespace\":\"%s\",\"node\":{\"name\":\"n1\",\"uid\":\"nu-1\"},"
             "\"pod\":{\"name\":\"%s-7d9\",\"uid\":\"pu-1\"},"
             "\"serviceaccount\":{\"name\":\"%s\"%s}}",
             ns, sa, sa, uidm);
    const char *auds[1] = {aud};
    assert_int_equal(ts_testutil_token_set_issuer(b, iss, &e), TS_OK);
    assert_int_equal(ts_testutil_token_set_subject(b, sub, &e), TS_OK);
    assert_int_equal(ts_testutil_token_set_audience(b, auds, 1, &e), TS_OK);
    assert_int_equal(ts_testutil_token_set_claim_json(b, "kubernetes.io", k8s, &e), TS_OK);
    assert_int_equal(ts_testutil_token_set_typ(b, NULL, &e), TS_OK);
    assert_int_equal(ts_testutil_token_set_kid(
                         b, ts_testutil_key_alg(key) == TS_JWS_RS256 ? KID_RSA : KID_EC, &e),
                     TS_OK);
    return b;
}

static inline char *mint(const ts_testutil_token *b, ts_testutil_flaw flaw)
{
    ts_error e;
    char *t = ts_testutil_token_mint(b, flaw, &e);
    if (!t)
        fail_msg("mint: %s: %s", e.where, e.msg);
    return t;
}

/* Verify @p t (freed here) and expect @p want; a refusal leaves the caller cleared. */
static inline void expect(ts_oidc_k8s_bearer *b, char *t, ts_authn_reason want)
{
    ts_oidc_k8s_caller c;
    memset(&c, 0x5a, sizeof c);
    ts_error e;
    ts_error_clear(&e);
    ts_authn_reason r = ts_oidc_k8s_bearer_verify(b, t, strlen(t), &c, NULL, &e);
    if (r != want)
        fail_msg("%s (%s: %s), want %s", ts_authn_reason_str(r), e.where, e.msg,
                 ts_authn_reason_str(want));
    if (r != TS_AUTHN_OK) {
        assert_string_equal(c.subject, "");
        assert_string_equal(c.account.name, "");
        assert_int_equal(c.exp, 0);
    }
    ts_free(t);
}

#endif
