/* Kubernetes service-account tokens as bearer tokens of tokensmith's own API
   (oidc_k8s_bearer.h), with the cluster's keys in a provider's jwks_file: tokens minted by
   tokensmith-testutil (RS256 and ES256, an opaque kid as kube-apiserver writes it, no typ).
   The API's audience is accepted and the exchange's refused; a configuration where one could
   open the other is refused, naming the field; legacy Secret-based tokens are refused even where
   the exchange allows them; age, account, expiry and signature refusals; the caller returned,
   the subject template; references. Keys from discovery: test_oidc_k8s_bearer_discovery.c. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* The tokens come from tokensmith-testutil; a build that does not link it to this test has
   nothing to mint them with, and says so (ctest: skipped) instead of passing. */
#if defined(__has_include) && __has_include(<tokensmith/testutil.h>)

#include <time.h>
#include <unistd.h>

#include "k8s_bearer_fixture.h"

#define ISS "https://kubernetes.default.svc"

typedef struct world {
    ts_testutil_key *rsa;   /* RS256, published under KID_RSA */
    ts_testutil_key *ec;    /* ES256, published under KID_EC */
    ts_testutil_key *other; /* ES256, never published: signs under KID_EC anyway */
    ts_jwks *set;           /* what the cluster publishes */
    char dir[64];
    char jwks[96];
} world;

static world w;

static int setup(void **state)
{
    (void)state;
    ts_error e;
    w.rsa = ts_testutil_key_new(TS_JWS_RS256, &e);
    w.ec = ts_testutil_key_new(TS_JWS_ES256, &e);
    w.other = ts_testutil_key_new(TS_JWS_ES256, &e);
    if (!w.rsa || !w.ec || !w.other)
        return -1;
    w.set = cluster_set(w.rsa, w.ec);
    snprintf(w.dir, sizeof w.dir, "/tmp/ts-oidc-k8s-bearer-XXXXXX");
    if (!mkdtemp(w.dir))
        return -1;
    snprintf(w.jwks, sizeof w.jwks, "%s/jwks.json", w.dir);
    return ts_testutil_jwks_write(w.set, w.jwks, &e) == TS_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    unlink(w.jwks);
    rmdir(w.dir);
    ts_jwks_free(w.set);
    ts_testutil_key_free(w.rsa);
    ts_testutil_key_free(w.ec);
    ts_testutil_key_free(w.other);
    return 0;
}

/* ---- fixtures ----------------------------------------------------------------------------- */

/* The cluster of ISS with its keys in the jwks_file (max_token_age_s the default, an hour);
   @p extra is added to its members. */
static ts_oidc_config *cluster_config(const char *extra)
{
    char j[2048];
    snprintf(j, sizeof j,
             "{\"providers\":[{\"kind\":\"kubernetes\",\"issuer\":\"" ISS "\","
             "\"jwks_file\":\"%s\",\"accepted_audiences\":[\"" EXCHANGE_AUD "\"],"
             "\"identity_rules\":[{\"namespace\":\"boot\","
             "\"service_account\":\"bss\",\"scopes\":[\"read\"]}]%s}]}",
             w.jwks, extra);
    return config(j);
}

static ts_oidc_k8s_bearer *bearer(const char *extra)
{
    ts_oidc_config *c = cluster_config(extra);
    ts_oidc_k8s_bearer *b = bearer_of(c);
    ts_oidc_config_free(c); /* the verifier holds its own reference */
    return b;
}

/* The usual token: boot/bss of the cluster, for the API. */
static char *api_token(const ts_testutil_key *key)
{
    ts_testutil_token *b = projected(key, ISS, "boot", "bss", "su-1", API_AUD);
    char *t = mint(b, TS_TESTUTIL_FLAW_NONE);
    ts_testutil_token_free(b);
    return t;
}

/* ---- tokens of a cluster with a jwks_file --------------------------------------------------- */

static void test_accepted(void **state)
{
    (void)state;
    ts_oidc_k8s_bearer *b = bearer("");
    const ts_testutil_key *keys[2] = {w.rsa, w.ec};
    for (size_t i = 0; i < 2; i++) {
        ts_testutil_token *tb = projected(keys[i], ISS, "boot", "bss", "su-1", API_AUD);
        int64_t exp = (int64_t)time(NULL) + 600;
        ts_testutil_token_set_expires_at(tb, exp);
        char *t = mint(tb, TS_TESTUTIL_FLAW_NONE);
        ts_testutil_token_free(tb);
        assert_true(ts_oidc_k8s_bearer_handles(b, t, strlen(t)));
        ts_oidc_k8s_caller c;
        ts_authn_detail d;
        ts_error e;
        ts_error_clear(&e);
        ts_authn_reason r = ts_oidc_k8s_bearer_verify(b, t, strlen(t), &c, &d, &e);
        if (r != TS_AUTHN_OK)
            fail_msg("%zu: %s (%s: %s)", i, ts_authn_reason_str(r), e.where, e.msg);
        assert_string_equal(c.subject, "system:serviceaccount:boot:bss");
        assert_string_equal(c.account.namespace_name, "boot");
        assert_string_equal(c.account.name, "bss");
        assert_string_equal(c.account.uid, "su-1");
        assert_string_equal(c.account.pod_name, "bss-7d9");
        assert_string_equal(c.account.node_name, "n1");
        assert_false(c.account.legacy);
        assert_string_equal(c.issuer, ISS);
        assert_int_equal(c.exp, exp);
        ts_free(t);
    }
    ts_oidc_k8s_bearer_free(b);
}

/* The exchange's audience does not open the API, nor an audience of nobody's. */
static void test_audiences(void **state)
{
    (void)state;
    ts_oidc_k8s_bearer *b = bearer("");
    const char *wrong[] = {EXCHANGE_AUD, "https://kubernetes.default.svc.cluster.local",
                           API_AUD "x", "tokensmith-managemen"};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        ts_testutil_token *tb = projected(w.ec, ISS, "boot", "bss", "su-1", wrong[i]);
        expect(b, mint(tb, TS_TESTUTIL_FLAW_NONE), TS_AUTHN_WRONG_AUDIENCE);
        ts_testutil_token_free(tb);
    }
    /* No aud at all: a projected token always has one. */
    ts_testutil_token *tb = projected(w.ec, ISS, "boot", "bss", "su-1", API_AUD);
    ts_testutil_token_remove_claim(tb, "aud");
    char *t = mint(tb, TS_TESTUTIL_FLAW_NONE);
    ts_oidc_k8s_caller c;
    ts_error e;
    assert_int_not_equal(ts_oidc_k8s_bearer_verify(b, t, strlen(t), &c, NULL, &e), TS_AUTHN_OK);
    ts_free(t);
    ts_testutil_token_free(tb);
    ts_oidc_k8s_bearer_free(b);
}

/* A configuration where the exchange's token would open the API is refused, naming the field. */
static void test_audience_overlap(void **state)
{
    (void)state;
    static const char one[] =
        "{\"providers\":[{\"kind\":\"kubernetes\",\"issuer\":\"" ISS "\",\"accepted_audiences\":"
        "[\"" EXCHANGE_AUD "\",\"" API_AUD "\"],\"identity_rules\":[{\"namespace\":\"boot\","
        "\"service_account\":\"bss\"}]}]}";
    /* The second provider, after an OpenID provider that is no concern of the API. */
    static const char second[] =
        "{\"providers\":[{\"issuer\":\"https://idp.example\",\"client_id\":\"c\",\"name\":"
        "\"corp\"},{\"kind\":\"kubernetes\",\"issuer\":\"" ISS "\",\"accepted_audiences\":"
        "[\"" API_AUD "\"],\"identity_rules\":[{\"namespace\":\"boot\","
        "\"service_account\":\"bss\"}]}]}";
    const struct {
        const char *json, *where;
    } cases[] = {{one, "oidc.providers[0].accepted_audiences"},
                 {second, "oidc.providers[1].accepted_audiences"}};
    for (size_t i = 0; i < 2; i++) {
        ts_oidc_config *c = config(cases[i].json);
        ts_error e;
        ts_error_clear(&e);
        assert_null(ts_oidc_k8s_bearer_new(c, API_AUD, &e));
        assert_int_equal(e.code, TS_EINVAL);
        assert_string_equal(e.where, cases[i].where);
        assert_non_null(strstr(e.msg, API_AUD));
        /* The same configuration serves another API's audience. */
        ts_oidc_k8s_bearer *b = ts_oidc_k8s_bearer_new(c, "tokensmith-other-api", &e);
        assert_non_null(b);
        ts_oidc_k8s_bearer_free(b);
        ts_oidc_config_free(c);
    }
    /* Arguments, and a jwks_file that cannot be read. */
    ts_oidc_config *c = cluster_config("");
    ts_error e;
    ts_error_clear(&e);
    assert_null(ts_oidc_k8s_bearer_new(NULL, API_AUD, &e));
    assert_int_equal(e.code, TS_EINVAL);
    ts_error_clear(&e);
    assert_null(ts_oidc_k8s_bearer_new(c, "", &e));
    assert_int_equal(e.code, TS_EINVAL);
    ts_oidc_config_free(c);
    static const char missing[] =
        "{\"providers\":[{\"kind\":\"kubernetes\",\"issuer\":\"" ISS "\",\"jwks_file\":"
        "\"/nonexistent/ts-jwks.json\",\"accepted_audiences\":[\"" EXCHANGE_AUD "\"],"
        "\"identity_rules\":[{\"namespace\":\"boot\",\"service_account\":\"bss\"}]}]}";
    c = config(missing);
    ts_error_clear(&e);
    assert_null(ts_oidc_k8s_bearer_new(c, API_AUD, &e));
    assert_int_not_equal(e.code, TS_OK);
    ts_oidc_config_free(c);
}

/* Tokens of an issuer that is no Kubernetes provider of the configuration are not its own. */
static void test_unknown_issuer(void **state)
{
    (void)state;
    ts_oidc_k8s_bearer *b = bearer("");
    const char *issuers[] = {"https://other-cluster.example", ISS "/", "https://kubernetes"};
    for (size_t i = 0; i < 3; i++) {
        ts_testutil_token *tb = projected(w.ec, issuers[i], "boot", "bss", "su-1", API_AUD);
        char *t = mint(tb, TS_TESTUTIL_FLAW_NONE);
        assert_false(ts_oidc_k8s_bearer_handles(b, t, strlen(t)));
        expect(b, t, TS_AUTHN_WRONG_ISSUER);
        ts_testutil_token_free(tb);
    }
    /* Not a JWT; no verifier, or no caller to fill; a configuration whose only provider has
       that issuer but is an OpenID provider, not a cluster. */
    ts_oidc_k8s_caller cl;
    ts_error e;
    assert_false(ts_oidc_k8s_bearer_handles(b, "x.y.z", 5));
    assert_int_equal(ts_oidc_k8s_bearer_verify(b, "x.y.z", 5, &cl, NULL, &e),
                     TS_AUTHN_WRONG_ISSUER);
    char *t = api_token(w.ec);
    assert_false(ts_oidc_k8s_bearer_handles(NULL, t, strlen(t)));
    assert_int_equal(ts_oidc_k8s_bearer_verify(b, t, strlen(t), NULL, NULL, &e), TS_AUTHN_INTERNAL);
    ts_oidc_k8s_bearer_free(b);
    ts_oidc_config *c =
        config("{\"providers\":[{\"issuer\":\"" ISS "\",\"client_id\":\"c\",\"name\":\"x\"}]}");
    b = bearer_of(c);
    ts_oidc_config_free(c);
    assert_false(ts_oidc_k8s_bearer_handles(b, t, strlen(t)));
    expect(b, t, TS_AUTHN_WRONG_ISSUER);
    ts_oidc_k8s_bearer_free(b);
}

/* Legacy Secret-based tokens carry no audience: never a bearer of the API, whatever the
   exchange allows. */
static void test_legacy_refused(void **state)
{
    (void)state;
    ts_oidc_k8s_bearer *b = bearer(",\"allow_legacy_tokens\":true");
    static const char flat[] = "{\"iss\":\"kubernetes/serviceaccount\","
                               "\"kubernetes.io/serviceaccount/namespace\":\"boot\","
                               "\"kubernetes.io/serviceaccount/secret.name\":\"bss-token-x\","
                               "\"kubernetes.io/serviceaccount/service-account.name\":\"bss\","
                               "\"kubernetes.io/serviceaccount/service-account.uid\":\"su-9\","
                               "\"sub\":\"system:serviceaccount:boot:bss\"}";
    static const char head[] = "{\"alg\":\"ES256\",\"kid\":\"" KID_EC "\"}";
    ts_error e;
    char *t = ts_testutil_sign_raw(w.ec, TS_JWS_ES256, head, strlen(head), flat, strlen(flat), &e);
    assert_non_null(t);
    assert_false(ts_oidc_k8s_bearer_handles(b, t, strlen(t)));
    expect(b, t, TS_AUTHN_WRONG_ISSUER);
    /* The flat shape under the cluster's issuer, even with the API's audience and an exp. */
    ts_testutil_token *tb = projected(w.ec, ISS, "boot", "bss", "su-9", API_AUD);
    ts_testutil_token_remove_claim(tb, "kubernetes.io");
    assert_int_equal(ts_testutil_token_set_claim_string(
                         tb, "kubernetes.io/serviceaccount/namespace", "boot", &e),
                     TS_OK);
    assert_int_equal(ts_testutil_token_set_claim_string(
                         tb, "kubernetes.io/serviceaccount/service-account.name", "bss", &e),
                     TS_OK);
    assert_int_equal(ts_testutil_token_set_claim_string(
                         tb, "kubernetes.io/serviceaccount/service-account.uid", "su-9", &e),
                     TS_OK);
    expect(b, mint(tb, TS_TESTUTIL_FLAW_NONE), TS_AUTHN_MISSING_CLAIM);
    /* And without exp and aud, as a Secret's token really is. */
    ts_testutil_token_remove_claim(tb, "exp");
    ts_testutil_token_remove_claim(tb, "aud");
    t = mint(tb, TS_TESTUTIL_FLAW_NONE);
    ts_oidc_k8s_caller c;
    assert_int_not_equal(ts_oidc_k8s_bearer_verify(b, t, strlen(t), &c, NULL, &e), TS_AUTHN_OK);
    assert_string_equal(c.subject, "");
    ts_free(t);
    ts_testutil_token_free(tb);
    ts_oidc_k8s_bearer_free(b);
}

/* iat within the provider's max_token_age_s (the one-year default pod token refused). */
static void test_token_age(void **state)
{
    (void)state;
    ts_oidc_k8s_bearer *b = bearer("");
    int64_t now = (int64_t)time(NULL);
    ts_testutil_token *tb = projected(w.rsa, ISS, "boot", "bss", "su-1", API_AUD);
    ts_testutil_token_set_issued_at(tb, now - 3700);
    ts_testutil_token_set_not_before(tb, now - 3700);
    ts_testutil_token_set_expires_at(tb, now + 3600);
    expect(b, mint(tb, TS_TESTUTIL_FLAW_NONE), TS_AUTHN_INVALID_CLAIM);
    ts_testutil_token_set_issued_at(tb, now - 3000);
    expect(b, mint(tb, TS_TESTUTIL_FLAW_NONE), TS_AUTHN_OK);
    ts_testutil_token_remove_claim(tb, "iat");
    expect(b, mint(tb, TS_TESTUTIL_FLAW_NONE), TS_AUTHN_MISSING_CLAIM);
    ts_testutil_token_free(tb);
    ts_oidc_k8s_bearer_free(b);
    /* The provider's own bound, not a fixed one. */
    b = bearer(",\"max_token_age_s\":600");
    tb = projected(w.rsa, ISS, "boot", "bss", "su-1", API_AUD);
    ts_testutil_token_set_issued_at(tb, now - 900);
    expect(b, mint(tb, TS_TESTUTIL_FLAW_NONE), TS_AUTHN_INVALID_CLAIM);
    ts_testutil_token_free(tb);
    ts_oidc_k8s_bearer_free(b);
}

static void test_refused(void **state)
{
    (void)state;
    ts_oidc_k8s_bearer *b = bearer("");
    ts_error e;
    /* sub names another account than the claims: read neither way. */
    ts_testutil_token *tb = projected(w.ec, ISS, "boot", "bss", "su-1", API_AUD);
    assert_int_equal(ts_testutil_token_set_subject(tb, "system:serviceaccount:boot:admin", &e),
                     TS_OK);
    expect(b, mint(tb, TS_TESTUTIL_FLAW_NONE), TS_AUTHN_INVALID_CLAIM);
    assert_int_equal(ts_testutil_token_set_subject(tb, "system:serviceaccount:kube-system:bss", &e),
                     TS_OK);
    expect(b, mint(tb, TS_TESTUTIL_FLAW_NONE), TS_AUTHN_INVALID_CLAIM);
    ts_testutil_token_free(tb);
    /* No account in the claims. */
    tb = projected(w.ec, ISS, "boot", "bss", "su-1", API_AUD);
    ts_testutil_token_remove_claim(tb, "kubernetes.io");
    expect(b, mint(tb, TS_TESTUTIL_FLAW_NONE), TS_AUTHN_MISSING_CLAIM);
    ts_testutil_token_free(tb);
    const ts_testutil_key *keys[2] = {w.rsa, w.ec};
    for (size_t i = 0; i < 2; i++) {
        tb = projected(keys[i], ISS, "boot", "bss", "su-1", API_AUD);
        expect(b, mint(tb, TS_TESTUTIL_FLAW_EXPIRED), TS_AUTHN_EXPIRED);
        expect(b, mint(tb, TS_TESTUTIL_FLAW_BAD_SIGNATURE), TS_AUTHN_BAD_SIGNATURE);
        expect(b, mint(tb, TS_TESTUTIL_FLAW_ALG_NONE), TS_AUTHN_ALG_NOT_ALLOWED);
        char *t = mint(tb, TS_TESTUTIL_FLAW_UNKNOWN_KID);
        ts_oidc_k8s_caller c;
        assert_int_not_equal(ts_oidc_k8s_bearer_verify(b, t, strlen(t), &c, NULL, &e), TS_AUTHN_OK);
        ts_free(t);
        ts_testutil_token_free(tb);
    }
    /* Another key under the cluster's kid. */
    tb = projected(w.other, ISS, "boot", "bss", "su-1", API_AUD);
    expect(b, mint(tb, TS_TESTUTIL_FLAW_NONE), TS_AUTHN_BAD_SIGNATURE);
    ts_testutil_token_free(tb);
    /* A payload swapped after signing: another account under the cluster's signature. */
    char *t = api_token(w.ec);
    tb = projected(w.ec, ISS, "kube-system", "admin", "su-0", API_AUD);
    char *u = mint(tb, TS_TESTUTIL_FLAW_NONE);
    ts_testutil_token_free(tb);
    const char *t2 = strrchr(t, '.'), *u2 = strrchr(u, '.');
    size_t n = (size_t)(u2 - u) + strlen(t2) + 1;
    char *forged = malloc(n);
    assert_non_null(forged);
    snprintf(forged, n, "%.*s%s", (int)(u2 - u), u, t2); /* u's header and payload, t's sig */
    ts_free(u);
    ts_free(t);
    ts_oidc_k8s_caller c;
    assert_int_equal(ts_oidc_k8s_bearer_verify(b, forged, strlen(forged), &c, NULL, &e),
                     TS_AUTHN_BAD_SIGNATURE);
    assert_string_equal(c.account.name, "");
    free(forged);
    ts_oidc_k8s_bearer_free(b);
}

/* The subject through the provider's template; a template naming {uid} needs the uid. */
static void test_subject_template(void **state)
{
    (void)state;
    ts_oidc_k8s_bearer *b =
        bearer(",\"name\":\"c1\",\"subject_template\":\"{provider}:{namespace}:{name}:{uid}\"");
    char *t = api_token(w.rsa);
    ts_oidc_k8s_caller c;
    ts_error e;
    ts_error_clear(&e);
    ts_authn_reason r = ts_oidc_k8s_bearer_verify(b, t, strlen(t), &c, NULL, &e);
    if (r != TS_AUTHN_OK)
        fail_msg("%s (%s: %s)", ts_authn_reason_str(r), e.where, e.msg);
    assert_string_equal(c.subject, "c1:boot:bss:su-1");
    assert_string_equal(c.account.uid, "su-1");
    ts_free(t);
    ts_testutil_token *tb = projected(w.rsa, ISS, "boot", "bss", NULL, API_AUD);
    t = mint(tb, TS_TESTUTIL_FLAW_NONE);
    ts_error_clear(&e);
    assert_int_equal(ts_oidc_k8s_bearer_verify(b, t, strlen(t), &c, NULL, &e),
                     TS_AUTHN_MISSING_CLAIM);
    assert_string_equal(e.where, "kubernetes.io.serviceaccount.uid");
    assert_string_equal(c.subject, "");
    ts_free(t);
    ts_oidc_k8s_bearer_free(b);
    /* Without {uid} in the template, an account without one is fine. */
    b = bearer("");
    expect(b, mint(tb, TS_TESTUTIL_FLAW_NONE), TS_AUTHN_OK);
    ts_testutil_token_free(tb);
    ts_oidc_k8s_bearer_free(b);
}

/* References: the last free frees (ASan's leak check), and the configuration lives as long. */
static void test_refs(void **state)
{
    (void)state;
    ts_oidc_config *cfg = cluster_config("");
    ts_oidc_k8s_bearer *b = bearer_of(cfg);
    assert_ptr_equal(ts_oidc_k8s_bearer_config(b), cfg);
    ts_oidc_config_free(cfg);
    assert_ptr_equal(ts_oidc_k8s_bearer_ref(b), b);
    assert_null(ts_oidc_k8s_bearer_ref(NULL));
    assert_null(ts_oidc_k8s_bearer_config(NULL));
    ts_oidc_k8s_bearer_free(b);
    /* One reference left: the verifier and its configuration still work. */
    assert_string_equal(ts_oidc_config_issuer(ts_oidc_k8s_bearer_config(b), 0), ISS);
    expect(b, api_token(w.ec), TS_AUTHN_OK);
    ts_oidc_k8s_bearer_free(b);
    ts_oidc_k8s_bearer_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted),
        cmocka_unit_test(test_audiences),
        cmocka_unit_test(test_audience_overlap),
        cmocka_unit_test(test_unknown_issuer),
        cmocka_unit_test(test_legacy_refused),
        cmocka_unit_test(test_token_age),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_subject_template),
        cmocka_unit_test(test_refs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

#else

int main(void)
{
    fputs("skipped: this test mints its tokens with tokensmith-testutil, which is not linked\n",
          stderr);
    return 77;
}

#endif
