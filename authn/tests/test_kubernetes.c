/* ts_authn_kubernetes_account(): the reading of a verified service-account token's claims.
   Principals are made from claim sets directly (the verifier's own path, principal.c), since
   what is checked here is what comes after verification: projected and legacy shapes, sub
   against the nested account, bounds, the maximum age, and exp only for allowed legacy tokens. */
#include "testkit.h"

#include <jansson.h>

#include "authn_internal.h"

#define NOW 1700000000LL
#define SUB "system:serviceaccount:boot:bss"

static ts_authn_principal *principal(const char *payload)
{
    json_error_t je;
    json_t *c = json_loads(payload, JSON_REJECT_DUPLICATES, &je);
    if (!c)
        fail_msg("bad test claims %s: %s", payload, je.text);
    ts_authn__mapping m;
    memset(&m, 0, sizeof m);
    char domain[] = "domain", type[] = "principal_type";
    m.domain_claim = domain;
    m.type_claim = type;
    ts_authn_principal *p = NULL;
    const char *bad = NULL;
    assert_int_equal(ts_authn__principal_new(c, payload, strlen(payload), &m, "kid", 0, &p, &bad),
                     TS_AUTHN_OK);
    json_decref(c);
    return p;
}

/* The reason for @p payload under @p rules, with the account in @p out. */
static ts_authn_reason run(const char *payload, const ts_authn_k8s_rules *rules,
                           ts_authn_k8s_account *out, ts_error *err)
{
    ts_authn_principal *p = principal(payload);
    ts_error_clear(err);
    ts_authn_reason r = ts_authn_kubernetes_account(p, rules, NOW, out, err);
    ts_authn_principal_free(p);
    return r;
}

#define PROJECTED(sub, k8s, times)                                                                 \
    "{\"iss\":\"https://kubernetes.default.svc\",\"sub\":\"" sub                                   \
    "\",\"aud\":[\"tokensmith\"]," times ",\"kubernetes.io\":" k8s "}"
#define TIMES "\"iat\":1699999000,\"nbf\":1699999000,\"exp\":1700003600"
#define FULL                                                                                       \
    "{\"namespace\":\"boot\",\"node\":{\"name\":\"node-1\",\"uid\":\"n-1\"},"                      \
    "\"pod\":{\"name\":\"bss-7d9f\",\"uid\":\"p-1\"},"                                             \
    "\"serviceaccount\":{\"name\":\"bss\",\"uid\":\"s-1\"},\"warnafter\":1700003000}"
#define LEGACY(sub)                                                                                \
    "{\"iss\":\"kubernetes/serviceaccount\",\"sub\":\"" sub "\","                                  \
    "\"kubernetes.io/serviceaccount/namespace\":\"boot\","                                         \
    "\"kubernetes.io/serviceaccount/secret.name\":\"bss-token-x7k2p\","                            \
    "\"kubernetes.io/serviceaccount/service-account.name\":\"bss\","                               \
    "\"kubernetes.io/serviceaccount/service-account.uid\":\"s-9\"}"

static void test_projected(void **state)
{
    (void)state;
    ts_authn_k8s_account a;
    ts_error err;
    assert_int_equal(run(PROJECTED(SUB, FULL, TIMES), NULL, &a, &err), TS_AUTHN_OK);
    assert_string_equal(a.namespace_name, "boot");
    assert_string_equal(a.name, "bss");
    assert_string_equal(a.uid, "s-1");
    assert_string_equal(a.pod_name, "bss-7d9f");
    assert_string_equal(a.pod_uid, "p-1");
    assert_string_equal(a.node_name, "node-1");
    assert_false(a.legacy);
    /* Only namespace and name are required. */
    assert_int_equal(
        run(PROJECTED(SUB, "{\"namespace\":\"boot\",\"serviceaccount\":{\"name\":\"bss\"}}", TIMES),
            NULL, &a, &err),
        TS_AUTHN_OK);
    assert_string_equal(a.uid, "");
    assert_string_equal(a.pod_name, "");
}

static void expect(const char *payload, const ts_authn_k8s_rules *rules, ts_authn_reason want,
                   const char *where)
{
    ts_authn_k8s_account a;
    ts_error err;
    ts_authn_reason r = run(payload, rules, &a, &err);
    if (r != want)
        fail_msg("%s: %s (%s: %s), want %s", payload, ts_authn_reason_str(r), err.where, err.msg,
                 ts_authn_reason_str(want));
    if (where)
        assert_string_equal(err.where, where);
    assert_string_equal(a.namespace_name, ""); /* nothing is left behind on a refusal */
    assert_string_equal(a.name, "");
}

static void test_refused(void **state)
{
    (void)state;
    expect(PROJECTED(SUB, "\"boot\"", TIMES), NULL, TS_AUTHN_MISSING_CLAIM, "kubernetes.io");
    expect(PROJECTED(SUB, "{\"namespace\":\"boot\"}", TIMES), NULL, TS_AUTHN_MISSING_CLAIM, NULL);
    expect(PROJECTED(SUB, "{\"serviceaccount\":{\"name\":\"bss\"}}", TIMES), NULL,
           TS_AUTHN_MISSING_CLAIM, NULL);
    expect(PROJECTED(SUB, "{\"namespace\":7,\"serviceaccount\":{\"name\":\"bss\"}}", TIMES), NULL,
           TS_AUTHN_INVALID_CLAIM, "kubernetes.io.namespace");
    expect(PROJECTED(SUB, "{\"namespace\":\"boot\",\"serviceaccount\":{\"name\":\"\"}}", TIMES),
           NULL, TS_AUTHN_INVALID_CLAIM, "kubernetes.io.serviceaccount.name");
    expect(PROJECTED(SUB,
                     "{\"namespace\":\"boot\",\"serviceaccount\":{\"name\":\"bss\",\"uid\":5}}",
                     TIMES),
           NULL, TS_AUTHN_INVALID_CLAIM, "kubernetes.io.serviceaccount.uid");
    expect(PROJECTED(SUB,
                     "{\"namespace\":\"boot\",\"serviceaccount\":{\"name\":\"bss\"},\"pod\":[1]}",
                     TIMES),
           NULL, TS_AUTHN_INVALID_CLAIM, NULL);
    expect(PROJECTED(SUB,
                     "{\"namespace\":\"boot\",\"serviceaccount\":{\"name\":\"bss\"},"
                     "\"node\":{\"name\":true}}",
                     TIMES),
           NULL, TS_AUTHN_INVALID_CLAIM, "kubernetes.io.node.name");
    /* sub and the nested claims name different accounts. */
    expect(PROJECTED("system:serviceaccount:boot:admin", FULL, TIMES), NULL, TS_AUTHN_INVALID_CLAIM,
           "sub");
    expect(PROJECTED("system:serviceaccount:other:bss", FULL, TIMES), NULL, TS_AUTHN_INVALID_CLAIM,
           "sub");
    expect(PROJECTED("bss", FULL, TIMES), NULL, TS_AUTHN_INVALID_CLAIM, "sub");
    /* No exp: only a legacy token may live forever. */
    expect(PROJECTED(SUB, FULL, "\"iat\":1699999000"), NULL, TS_AUTHN_MISSING_CLAIM, "exp");
}

static void test_bounds(void **state)
{
    (void)state;
    char name[300], payload[1024];
    memset(name, 'a', sizeof name - 1);
    name[TS_AUTHN_K8S_NAME_MAX] = '\0'; /* exactly at the bound */
    snprintf(payload, sizeof payload,
             PROJECTED("system:serviceaccount:boot:%s",
                       "{\"namespace\":\"boot\",\"serviceaccount\":{\"name\":\"%s\"}}", TIMES),
             name, name);
    ts_authn_k8s_account a;
    ts_error err;
    assert_int_equal(run(payload, NULL, &a, &err), TS_AUTHN_OK);
    assert_int_equal(strlen(a.name), TS_AUTHN_K8S_NAME_MAX);
    name[TS_AUTHN_K8S_NAME_MAX] = 'a';
    name[TS_AUTHN_K8S_NAME_MAX + 1] = '\0';
    snprintf(payload, sizeof payload,
             PROJECTED("system:serviceaccount:boot:%s",
                       "{\"namespace\":\"boot\",\"serviceaccount\":{\"name\":\"%s\"}}", TIMES),
             name, name);
    expect(payload, NULL, TS_AUTHN_INVALID_CLAIM, "kubernetes.io.serviceaccount.name");
}

static void test_max_age(void **state)
{
    (void)state;
    ts_authn_k8s_rules r = TS_AUTHN_K8S_RULES_INIT;
    r.max_token_age_s = 1000;
    ts_authn_k8s_account a;
    ts_error err;
    /* iat = NOW - 1000: exactly the maximum age. */
    assert_int_equal(
        run(PROJECTED(SUB, FULL, "\"iat\":1699999000,\"exp\":1700003600"), &r, &a, &err),
        TS_AUTHN_OK);
    expect(PROJECTED(SUB, FULL, "\"iat\":1699998999,\"exp\":1700003600"), &r,
           TS_AUTHN_INVALID_CLAIM, "iat");
    expect(PROJECTED(SUB, FULL, "\"exp\":1700003600"), &r, TS_AUTHN_MISSING_CLAIM, "iat");
    expect(PROJECTED(SUB, FULL, "\"iat\":\"1699999000\",\"exp\":1700003600"), &r,
           TS_AUTHN_MISSING_CLAIM, "iat");
    /* Without a maximum age an old iat is the verifier's business only. */
    assert_int_equal(run(PROJECTED(SUB, FULL, "\"iat\":1,\"exp\":1700003600"), NULL, &a, &err),
                     TS_AUTHN_OK);
}

static void test_legacy(void **state)
{
    (void)state;
    ts_authn_k8s_rules r = TS_AUTHN_K8S_RULES_INIT;
    /* Refused unless allowed, with or without exp. */
    expect(LEGACY(SUB), &r, TS_AUTHN_MISSING_CLAIM, "kubernetes.io");
    r.allow_legacy = true;
    ts_authn_k8s_account a;
    ts_error err;
    assert_int_equal(run(LEGACY(SUB), &r, &a, &err), TS_AUTHN_OK);
    assert_true(a.legacy);
    assert_string_equal(a.namespace_name, "boot");
    assert_string_equal(a.name, "bss");
    assert_string_equal(a.uid, "s-9");
    /* A legacy token has no iat: the maximum age is the projected tokens'. */
    r.max_token_age_s = 600;
    assert_int_equal(run(LEGACY(SUB), &r, &a, &err), TS_AUTHN_OK);
    /* Allowed legacy tokens still need sub to name the account. */
    expect(LEGACY("system:serviceaccount:boot:admin"), &r, TS_AUTHN_INVALID_CLAIM, "sub");
    /* A nested object that is not one is not a reason to fall back to the flat claims. */
    expect("{\"sub\":\"" SUB "\",\"kubernetes.io\":\"x\","
           "\"kubernetes.io/serviceaccount/namespace\":\"boot\","
           "\"kubernetes.io/serviceaccount/service-account.name\":\"bss\"}",
           &r, TS_AUTHN_MISSING_CLAIM, NULL);
}

static void test_arguments(void **state)
{
    (void)state;
    ts_authn_k8s_account a;
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_authn_kubernetes_account(NULL, NULL, NOW, &a, &err), TS_AUTHN_INTERNAL);
    ts_authn_principal *p = principal(PROJECTED(SUB, FULL, TIMES));
    ts_authn_k8s_rules r = TS_AUTHN_K8S_RULES_INIT;
    r.version = 99;
    assert_int_equal(ts_authn_kubernetes_account(p, &r, NOW, &a, &err), TS_AUTHN_INTERNAL);
    assert_int_equal(ts_authn_kubernetes_account(p, NULL, NOW, NULL, &err), TS_AUTHN_INTERNAL);
    ts_authn_principal_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_projected), cmocka_unit_test(test_refused),
        cmocka_unit_test(test_bounds),    cmocka_unit_test(test_max_age),
        cmocka_unit_test(test_legacy),    cmocka_unit_test(test_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
