/* Kubernetes providers: configuration (strict, errors naming the field), identity rules (order,
   globs), and the exchange of service-account tokens signed here with an opaque kid and read
   from a jwks_file (no network): the mapped claims exactly, and the refusals (audience, age,
   legacy shape, unmapped account, tampering, a JWT of an OpenID provider). */
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

#include <tokensmith/jose.h>
#include <tokensmith/oidc.h>

#include "oidc_internal.h"

#define ISS "https://kubernetes.default.svc"
#define NOW 1700000000LL

static ts_oidc_config *parse(const char *s, ts_error *e)
{
    ts_error_clear(e);
    return ts_oidc_config_parse(s, strlen(s), e);
}

/* ---- configuration ---------------------------------------------------------------------- */

static const char issue_example[] =
    "{\"providers\": [{\"kind\": \"kubernetes\", \"issuer\": \"https://kubernetes.default.svc\","
    " \"accepted_audiences\": [\"tokensmith\"], \"max_token_age_s\": 3600, \"audiences\": "
    "[\"smd\"], \"identity_rules\": [{\"namespace\": \"boot\", \"service_account\": \"bss\", "
    "\"scopes\": [\"read\"]}]}]}";

static void test_config_good(void **state)
{
    (void)state;
    ts_error e;
    ts_oidc_config *c = parse(issue_example, &e);
    if (!c)
        fail_msg("%s: %s", e.where, e.msg);
    assert_int_equal(ts_oidc_config_count(c), 1);
    assert_string_equal(ts_oidc_config_issuer(c, 0), ISS);
    assert_null(ts_oidc_config_client_id(c, 0));
    assert_string_equal(ts_oidc_config_subject_template(c, 0),
                        "system:serviceaccount:{namespace}:{name}");
    char *j = ts_oidc_config_to_json(c, true, &e);
    assert_non_null(j);
    assert_non_null(strstr(j, "\"kind\":\"kubernetes\""));
    assert_non_null(strstr(j, "\"allow_legacy_tokens\":false"));
    assert_non_null(strstr(j, "\"identity_rules\":[{\"namespace\":\"boot\",\"service_account\":"
                              "\"bss\",\"scopes\":[\"read\"],\"roles\":[]}]"));
    /* The canonical form parses back to itself. */
    ts_oidc_config *c2 = parse(j, &e);
    assert_non_null(c2);
    char *j2 = ts_oidc_config_to_json(c2, true, &e);
    assert_string_equal(j, j2);
    ts_free(j);
    ts_free(j2);
    ts_oidc_config_free(c2);
    ts_oidc_config_free(c);
}

#define K8S_HEAD "{\"kind\":\"kubernetes\",\"issuer\":\"" ISS "\",\"accepted_audiences\":[\"ts\"]"
#define RULE_OK "{\"namespace\":\"boot\",\"service_account\":\"bss\"}"

static void test_config_errors(void **state)
{
    (void)state;
    const struct {
        const char *json, *where;
    } cases[] = {
        {"{\"providers\":[{\"kind\":\"k8s\"}]}", "providers[0].kind"},
        {"{\"providers\":[{\"kind\":7}]}", "providers[0].kind"},
        {"{\"providers\":[" K8S_HEAD "}]}", "providers[0].identity_rules"},
        {"{\"providers\":[{\"kind\":\"kubernetes\",\"issuer\":\"" ISS
         "\",\"identity_rules\":[" RULE_OK "]}]}",
         "providers[0].accepted_audiences"},
        {"{\"providers\":[{\"kind\":\"kubernetes\",\"accepted_audiences\":[\"ts\"],"
         "\"identity_rules\":[" RULE_OK "]}]}",
         "providers[0].issuer"},
        {"{\"providers\":[" K8S_HEAD ",\"accepted_audiences\":[]}]}", NULL}, /* duplicate key */
        {"{\"providers\":[{\"kind\":\"kubernetes\",\"issuer\":\"" ISS
         "\",\"accepted_audiences\":[],\"identity_rules\":[" RULE_OK "]}]}",
         "providers[0].accepted_audiences"},
        {"{\"providers\":[" K8S_HEAD ",\"identity_rules\":[" RULE_OK
         ",{\"namespace\":\"Boot\",\"service_account\":\"x\"}]}]}",
         "providers[0].identity_rules[1].namespace"},
        {"{\"providers\":[" K8S_HEAD ",\"identity_rules\":[" RULE_OK
         ",{\"namespace\":\"a:b\",\"service_account\":\"x\"}]}]}",
         "providers[0].identity_rules[1].namespace"},
        {"{\"providers\":[" K8S_HEAD ",\"identity_rules\":[{\"namespace\":\"boot\"}]}]}",
         "providers[0].identity_rules[0].service_account"},
        {"{\"providers\":[" K8S_HEAD ",\"identity_rules\":[{\"namespace\":\"boot\","
         "\"service_account\":\"[a]\"}]}]}",
         "providers[0].identity_rules[0].service_account"},
        {"{\"providers\":[" K8S_HEAD ",\"identity_rules\":[{\"namespace\":\"boot\","
         "\"service_account\":\"bss\",\"scopes\":[\"a b\"]}]}]}",
         "providers[0].identity_rules[0].scopes[0]"},
        {"{\"providers\":[" K8S_HEAD ",\"identity_rules\":[{\"namespace\":\"boot\","
         "\"service_account\":\"bss\",\"roles\":[\"a,b\"]}]}]}",
         "providers[0].identity_rules[0].roles[0]"},
        {"{\"providers\":[" K8S_HEAD ",\"identity_rules\":[{\"namespace\":\"boot\","
         "\"service_account\":\"bss\",\"issuer\":\"https://other\"}]}]}",
         "providers[0].identity_rules[0].issuer"},
        {"{\"providers\":[" K8S_HEAD ",\"identity_rules\":[{\"namespace\":\"boot\","
         "\"service_account\":\"bss\",\"group\":\"x\"}]}]}",
         "providers[0].identity_rules[0].group"},
        {"{\"providers\":[" K8S_HEAD ",\"client_id\":\"x\",\"identity_rules\":[" RULE_OK "]}]}",
         "providers[0].client_id"},
        {"{\"providers\":[" K8S_HEAD ",\"group_scopes\":[],\"identity_rules\":[" RULE_OK "]}]}",
         "providers[0].group_scopes"},
        {"{\"providers\":[" K8S_HEAD ",\"client_secret\":\"s\",\"identity_rules\":[" RULE_OK "]}]}",
         "providers[0].client_secret"},
        {"{\"providers\":[" K8S_HEAD ",\"introspection\":false,\"identity_rules\":[" RULE_OK "]}]}",
         "providers[0].introspection"},
        {"{\"providers\":[" K8S_HEAD ",\"max_token_age_s\":0,\"identity_rules\":[" RULE_OK "]}]}",
         "providers[0].max_token_age_s"},
        {"{\"providers\":[" K8S_HEAD ",\"max_token_age_s\":31536000,\"identity_rules\":[" RULE_OK
         "]}]}",
         "providers[0].max_token_age_s"},
        {"{\"providers\":[" K8S_HEAD ",\"allow_legacy_tokens\":\"yes\",\"identity_rules\":[" RULE_OK
         "]}]}",
         "providers[0].allow_legacy_tokens"},
        {"{\"providers\":[" K8S_HEAD
         ",\"subject_template\":\"sa:{name}\",\"identity_rules\":[" RULE_OK "]}]}",
         "providers[0].subject_template"},
        {"{\"providers\":[" K8S_HEAD ",\"subject_template\":\"{provider}:{namespace}:{name}\","
         "\"identity_rules\":[" RULE_OK "]}]}",
         "providers[0].subject_template"},
        {"{\"providers\":[" K8S_HEAD ",\"subject_template\":\"{sub}\",\"identity_rules\":[" RULE_OK
         "]}]}",
         "providers[0].subject_template"},
        /* An OpenID provider whose users keep their sub: one of them could be
           "system:serviceaccount:boot:bss". */
        {"{\"providers\":[{\"issuer\":\"https://idp.example\",\"client_id\":\"c\"}," K8S_HEAD
         ",\"identity_rules\":[" RULE_OK "]}]}",
         "providers[1].subject_template"},
        /* Two clusters with the default template: the same account name in both. */
        {"{\"providers\":[" K8S_HEAD ",\"identity_rules\":[" RULE_OK "]},"
         "{\"kind\":\"kubernetes\",\"issuer\":\"https://c2.example\",\"accepted_audiences\":"
         "[\"ts\"],\"identity_rules\":[" RULE_OK "]}]}",
         "providers[1].subject_template"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ts_error e;
        ts_oidc_config *c = parse(cases[i].json, &e);
        if (c)
            fail_msg("accepted: %s", cases[i].json);
        if (cases[i].where && strcmp(e.where, cases[i].where) != 0)
            fail_msg("%s: where %s (%s), want %s", cases[i].json, e.where, e.msg, cases[i].where);
    }
    /* Named apart, both clusters (and a named OpenID provider) fit together. */
    static const char two[] =
        "{\"providers\":[{\"issuer\":\"https://"
        "idp.example\",\"client_id\":\"c\",\"name\":\"corp\"},"
        "{\"kind\":\"kubernetes\",\"issuer\":\"" ISS "\",\"name\":\"c1\",\"accepted_audiences\":"
        "[\"ts\"],\"subject_template\":\"{provider}:{namespace}:{name}\",\"identity_rules\":"
        "[" RULE_OK "]},{\"kind\":\"kubernetes\",\"issuer\":\"https://c2.example\",\"name\":\"c2\","
        "\"accepted_audiences\":[\"ts\"],\"subject_template\":\"{provider}:{namespace}:{name}\","
        "\"identity_rules\":[" RULE_OK "]}]}";
    ts_error e;
    ts_oidc_config *c = parse(two, &e);
    if (!c)
        fail_msg("%s: %s", e.where, e.msg);
    ts_oidc_config_free(c);
}

/* Hostile documents: deep nesting, a huge rules array, a duplicate member inside a rule. */
static void test_config_hostile(void **state)
{
    (void)state;
    static const char head[] = "{\"providers\":[" K8S_HEAD ",\"identity_rules\":";
    size_t cap = 64 * 1024;
    char *doc = malloc(cap);
    assert_non_null(doc);
    /* 3000 levels of arrays: refused by the parser's depth cap or as a rule that is no object. */
    size_t n = (size_t)snprintf(doc, cap, "%s", head);
    for (int i = 0; i < 3000; i++)
        doc[n++] = '[';
    for (int i = 0; i < 3000; i++)
        doc[n++] = ']';
    n += (size_t)snprintf(doc + n, cap - n, "}]}");
    ts_error e;
    ts_error_clear(&e);
    assert_null(ts_oidc_config_parse(doc, n, &e));
    assert_int_not_equal(e.code, TS_OK);
    /* 257 rules: one too many. */
    n = (size_t)snprintf(doc, cap, "%s[", head);
    for (int i = 0; i < 257; i++)
        n += (size_t)snprintf(doc + n, cap - n,
                              "%s{\"namespace\":\"n%d\",\"service_account\":\"*\"}", i ? "," : "",
                              i);
    n += (size_t)snprintf(doc + n, cap - n, "]}]}");
    ts_error_clear(&e);
    assert_null(ts_oidc_config_parse(doc, n, &e));
    assert_string_equal(e.where, "providers[0].identity_rules");
    assert_int_equal(e.code, TS_ELIMIT);
    free(doc);
    static const char dup[] = "{\"providers\":[" K8S_HEAD ",\"identity_rules\":[{\"namespace\":"
                              "\"a\",\"namespace\":\"*\",\"service_account\":\"x\"}]}]}";
    ts_error_clear(&e);
    assert_null(ts_oidc_config_parse(dup, strlen(dup), &e));
    assert_int_equal(e.code, TS_EPARSE);
}

static void test_glob(void **state)
{
    (void)state;
    const struct {
        const char *p, *s;
        bool m;
    } cases[] = {
        {"boot", "boot", true},
        {"boot", "boots", false},
        {"b*", "boot", true},
        {"*", "", true},
        {"*", "x", true},
        {"b?ot", "boot", true},
        {"b?ot", "bot", false},
        {"*-prod", "app-prod", true},
        {"*-prod", "app-prod2", false},
        {"a*b*c", "axxbyyc", true},
        {"a*b*c", "axxbyy", false},
        {"**", "abc", true},
        {"a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (ts_oidc__glob_match(cases[i].p, cases[i].s) != cases[i].m)
            fail_msg("%s ~ %s", cases[i].p, cases[i].s);
    assert_true(ts_oidc__glob_valid("app-*.x?"));
    assert_false(ts_oidc__glob_valid(""));
    assert_false(ts_oidc__glob_valid("a\\b"));
    assert_false(ts_oidc__glob_valid("a[b]"));
}

/* ---- exchange ---------------------------------------------------------------------------- */

typedef struct world {
    ts_jwk *key;   /* signs, kid "opaque-kid-1" */
    ts_jwk *other; /* another key under the same kid */
    char dir[64];
    char jwks[96];
} world;

static world w;

static int64_t clock_fn(void *ud)
{
    (void)ud;
    return NOW;
}

static int setup(void **state)
{
    (void)state;
    ts_error e;
    ts_jwk *k = ts_jwk_generate(TS_JWS_ES256, &e);
    ts_jwk *o = ts_jwk_generate(TS_JWS_ES256, &e);
    assert_non_null(k);
    assert_non_null(o);
    w.key = ts_jwk_with(k, "opaque-kid-1", TS_JWS_ALG_UNKNOWN, &e);
    w.other = ts_jwk_with(o, "opaque-kid-1", TS_JWS_ALG_UNKNOWN, &e);
    ts_jwk_free(k);
    ts_jwk_free(o);
    snprintf(w.dir, sizeof w.dir, "/tmp/ts-oidc-k8s-XXXXXX");
    assert_non_null(mkdtemp(w.dir));
    snprintf(w.jwks, sizeof w.jwks, "%s/jwks.json", w.dir);
    ts_jwks *set = ts_jwks_new(&w.key, 1, &e);
    char *j = ts_jwks_to_json(set, &e);
    FILE *f = fopen(w.jwks, "w");
    assert_non_null(f);
    fputs(j, f);
    fclose(f);
    ts_free(j);
    ts_jwks_free(set);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(w.jwks);
    rmdir(w.dir);
    ts_jwk_free(w.key);
    ts_jwk_free(w.other);
    return 0;
}

#define TEST_RULES                                                                                 \
    "{\"namespace\":\"boot\",\"service_account\":\"bss\",\"scopes\":[\"read\",\"write\"],"         \
    "\"roles\":[\"role:boot\"]},"                                                                  \
    "{\"namespace\":\"boot\",\"service_account\":\"*\",\"scopes\":[\"read\"]},"                    \
    "{\"namespace\":\"team-*\",\"service_account\":\"ci-?\",\"scopes\":[\"ci\"]}"

/* The cluster provider with @p rules (the inside of its identity_rules array) and an OpenID
 * provider next to it. */
static ts_oidc *relying_party_with(bool legacy, const char *rules)
{
    char cfg[2048];
    snprintf(cfg, sizeof cfg,
             "{\"providers\":[{\"kind\":\"kubernetes\",\"issuer\":\"" ISS "\","
             "\"jwks_file\":\"%s\",\"accepted_audiences\":[\"tokensmith\"],"
             "\"max_token_age_s\":3600,\"allow_legacy_tokens\":%s,"
             "\"audiences\":[\"smd\",\"bss\"],\"identity_rules\":[%s]},"
             "{\"issuer\":\"https://idp.example\",\"client_id\":\"c\",\"name\":\"corp\"}]}",
             w.jwks, legacy ? "true" : "false", rules);
    ts_error e;
    ts_oidc_config *c = parse(cfg, &e);
    if (!c)
        fail_msg("%s: %s", e.where, e.msg);
    ts_oidc_options o = TS_OIDC_OPTIONS_INIT;
    o.now = clock_fn;
    ts_oidc *rp = ts_oidc_new(c, &o, &e);
    assert_non_null(rp);
    ts_oidc_config_free(c);
    return rp;
}

static ts_oidc *relying_party(bool legacy)
{
    return relying_party_with(legacy, TEST_RULES);
}

/* A projected token for ns/sa; @p extra is inserted into the claims (or ""). */
static char *projected(const ts_jwk *key, const char *ns, const char *sa, const char *aud,
                       long long iat, const char *extra)
{
    char p[2048];
    snprintf(p, sizeof p,
             "{\"aud\":[\"%s\"],\"exp\":%lld,\"iat\":%lld,\"iss\":\"" ISS "\",\"jti\":\"j-1\","
             "\"kubernetes.io\":{\"namespace\":\"%s\",\"node\":{\"name\":\"n1\",\"uid\":\"nu\"},"
             "\"pod\":{\"name\":\"%s-7d9\",\"uid\":\"pu\"},\"serviceaccount\":{\"name\":\"%s\","
             "\"uid\":\"su-1\"},\"warnafter\":%lld},\"nbf\":%lld,"
             "\"sub\":\"system:serviceaccount:%s:%s\"%s}",
             aud, NOW + 3600, iat, ns, sa, sa, NOW + 3000, iat, ns, sa, extra);
    char *t = NULL;
    ts_error e;
    assert_int_equal(ts_jws_sign(key, TS_JWS_ES256, NULL, p, strlen(p), &t, NULL, &e), TS_OK);
    return t;
}

static ts_oidc_reason exchange(ts_oidc *rp, const char *tok, const char *type, const char *scope,
                               ts_oidc_claims **out, ts_error *e)
{
    ts_oidc_exchange_request rq;
    memset(&rq, 0, sizeof rq);
    rq.subject_token = tok;
    rq.subject_token_len = strlen(tok);
    rq.subject_token_type = type ? type : TS_OIDC_TOKEN_TYPE_JWT;
    rq.narrow.scope = scope;
    ts_error_clear(e);
    return ts_oidc_exchange(rp, &rq, out, e);
}

static void test_mapped(void **state)
{
    (void)state;
    ts_oidc *rp = relying_party(false);
    /* Claims a cluster never signs: they must not reach the issued token. */
    char *t = projected(w.key, "boot", "bss", "tokensmith", NOW - 60,
                        ",\"roles\":[\"admin\"],\"scope\":\"admin\",\"act\":{\"sub\":\"x\"},"
                        "\"may_act\":{\"sub\":\"y\"}");
    ts_oidc_claims *c = NULL;
    ts_error e;
    static const char *const types[] = {TS_OIDC_TOKEN_TYPE_JWT, TS_OIDC_TOKEN_TYPE_ID_TOKEN,
                                        TS_OIDC_TOKEN_TYPE_ACCESS_TOKEN};
    for (size_t i = 0; i < 3; i++) {
        ts_oidc_reason r = exchange(rp, t, types[i], NULL, &c, &e);
        if (r != TS_OIDC_OK)
            fail_msg("%s: %s (%s: %s)", types[i], ts_oidc_reason_str(r), e.where, e.msg);
        assert_string_equal(c->sub, "system:serviceaccount:boot:bss");
        assert_string_equal(c->upstream_sub, "system:serviceaccount:boot:bss");
        assert_string_equal(c->issuer, ISS);
        assert_string_equal(c->principal_type, "service");
        assert_int_equal(c->n_scopes, 2);
        assert_string_equal(c->scopes[0], "read");
        assert_string_equal(c->scopes[1], "write");
        assert_int_equal(c->n_roles, 1);
        assert_string_equal(c->roles[0], "role:boot");
        assert_int_equal(c->n_audiences, 2);
        assert_string_equal(c->k8s_namespace, "boot");
        assert_string_equal(c->k8s_service_account, "bss");
        assert_string_equal(c->k8s_uid, "su-1");
        assert_int_equal(c->exp, NOW + 3600);
        char *j = ts_oidc_claims_to_json(c, &e);
        assert_non_null(j);
        assert_null(strstr(j, "admin"));
        assert_null(strstr(j, "act"));
        ts_free(j);
        ts_oidc_claims_free(c);
        c = NULL;
    }
    /* The request narrows; it cannot widen. */
    assert_int_equal(exchange(rp, t, NULL, "read", &c, &e), TS_OIDC_OK);
    assert_int_equal(c->n_scopes, 1);
    ts_oidc_claims_free(c);
    assert_int_equal(exchange(rp, t, NULL, "admin", &c, &e), TS_OIDC_SCOPE_NOT_GRANTED);
    assert_null(c);
    ts_free(t);
    ts_oidc_free(rp);
}

static void test_rules_order(void **state)
{
    (void)state;
    ts_oidc *rp = relying_party(false);
    ts_oidc_claims *c = NULL;
    ts_error e;
    /* The second rule (boot/\*), not the first: one scope, no role. */
    char *t = projected(w.key, "boot", "other", "tokensmith", NOW - 60, "");
    assert_int_equal(exchange(rp, t, NULL, NULL, &c, &e), TS_OIDC_OK);
    assert_int_equal(c->n_scopes, 1);
    assert_string_equal(c->scopes[0], "read");
    assert_int_equal(c->n_roles, 0);
    ts_oidc_claims_free(c);
    ts_free(t);
    /* Globs on both. */
    t = projected(w.key, "team-a", "ci-1", "tokensmith", NOW - 60, "");
    assert_int_equal(exchange(rp, t, NULL, NULL, &c, &e), TS_OIDC_OK);
    assert_string_equal(c->scopes[0], "ci");
    ts_oidc_claims_free(c);
    ts_free(t);
    /* No rule: no grant, and the reason says so. */
    const char *unmapped[][2] = {{"team-a", "ci-12"}, {"default", "default"}, {"teamx", "ci-1"}};
    for (size_t i = 0; i < 3; i++) {
        c = NULL;
        t = projected(w.key, unmapped[i][0], unmapped[i][1], "tokensmith", NOW - 60, "");
        assert_int_equal(exchange(rp, t, NULL, NULL, &c, &e), TS_OIDC_NO_IDENTITY_RULE);
        assert_null(c);
        assert_string_equal(e.where, "identity_rules");
        ts_free(t);
    }
    int status = 0;
    assert_string_equal(ts_oidc_reason_oauth_error(TS_OIDC_NO_IDENTITY_RULE, &status),
                        "invalid_grant");
    assert_int_equal(status, 400);
    ts_oidc_free(rp);
}

/* ---- the caller's identity rules (ts_oidc_exchange_request.rules) ------------------------- */

typedef struct caller_rules {
    unsigned calls;
    char seen[256];            /* "iss ns/name" of the last call */
    const char *const *scopes; /* what the rule grants; NULL: no match */
    size_t n_scopes;
} caller_rules;

static bool caller_rule(const char *issuer, const char *ns, const char *name,
                        ts_oidc_rule_grant *out, void *ud)
{
    caller_rules *cr = ud;
    cr->calls++;
    snprintf(cr->seen, sizeof cr->seen, "%s %s/%s", issuer, ns, name);
    if (!cr->scopes || strcmp(ns, "payments") != 0)
        return false;
    static const char *const roles[] = {"role:payments"};
    out->scopes = cr->scopes;
    out->n_scopes = cr->n_scopes;
    out->roles = roles;
    out->n_roles = 1;
    return true;
}

static ts_oidc_reason exchange_with(ts_oidc *rp, const char *tok, const char *scope,
                                    caller_rules *cr, ts_oidc_claims **out, ts_error *e)
{
    ts_oidc_exchange_request rq;
    memset(&rq, 0, sizeof rq);
    rq.subject_token = tok;
    rq.subject_token_len = strlen(tok);
    rq.subject_token_type = TS_OIDC_TOKEN_TYPE_JWT;
    rq.narrow.scope = scope;
    rq.rules = caller_rule;
    rq.rules_ud = cr;
    ts_error_clear(e);
    return ts_oidc_exchange(rp, &rq, out, e);
}

static void test_caller_rules(void **state)
{
    (void)state;
    ts_oidc *rp = relying_party(false);
    ts_oidc_claims *c = NULL;
    ts_error e;
    static const char *const granted[] = {"pay.read", "pay.write"};
    caller_rules cr = {0, "", granted, 2};
    /* A configured rule matches: the caller's are not consulted. */
    char *t = projected(w.key, "boot", "bss", "tokensmith", NOW - 60, "");
    assert_int_equal(exchange_with(rp, t, NULL, &cr, &c, &e), TS_OIDC_OK);
    assert_int_equal(cr.calls, 0);
    assert_string_equal(c->scopes[0], "read");
    ts_oidc_claims_free(c);
    ts_free(t);
    /* None does: the caller's rule decides, with the verified issuer and account. */
    t = projected(w.key, "payments", "api-1", "tokensmith", NOW - 60, "");
    c = NULL;
    ts_oidc_reason r = exchange_with(rp, t, NULL, &cr, &c, &e);
    if (r != TS_OIDC_OK)
        fail_msg("%s (%s: %s)", ts_oidc_reason_str(r), e.where, e.msg);
    assert_int_equal(cr.calls, 1);
    assert_string_equal(cr.seen, ISS " payments/api-1");
    assert_int_equal(c->n_scopes, 2);
    assert_string_equal(c->scopes[1], "pay.write");
    assert_int_equal(c->n_roles, 1);
    assert_string_equal(c->roles[0], "role:payments");
    assert_string_equal(c->sub, "system:serviceaccount:payments:api-1");
    assert_int_equal(c->n_audiences, 2); /* the provider's */
    ts_oidc_claims_free(c);
    /* The request narrows that grant too, and cannot widen it. */
    c = NULL;
    assert_int_equal(exchange_with(rp, t, "pay.read", &cr, &c, &e), TS_OIDC_OK);
    assert_int_equal(c->n_scopes, 1);
    ts_oidc_claims_free(c);
    c = NULL;
    assert_int_equal(exchange_with(rp, t, "read", &cr, &c, &e), TS_OIDC_SCOPE_NOT_GRANTED);
    assert_null(c);
    /* A grant the configuration could not hold is refused, not carried. */
    static const char *const bad[] = {"has space"};
    caller_rules crb = {0, "", bad, 1};
    assert_int_equal(exchange_with(rp, t, NULL, &crb, &c, &e), TS_OIDC_INTERNAL);
    assert_null(c);
    /* No rule anywhere: no grant. */
    caller_rules none = {0, "", NULL, 0};
    assert_int_equal(exchange_with(rp, t, NULL, &none, &c, &e), TS_OIDC_NO_IDENTITY_RULE);
    assert_int_equal(none.calls, 1);
    assert_null(c);
    ts_free(t);
    assert_true(ts_oidc_glob_match("api-*", "api-1"));
    assert_false(ts_oidc_glob_match("api-?", "api-12"));
    assert_false(ts_oidc_glob_match(NULL, "x"));
    ts_oidc_free(rp);
}

/* "identity_rules": [] — the caller's rules (the stored token mappings) decide alone, and
 * without one that matches, nothing is granted. */
static void test_no_configured_rules(void **state)
{
    (void)state;
    ts_oidc *rp = relying_party_with(false, "");
    static const char *const granted[] = {"pay.read"};
    caller_rules cr = {0, "", granted, 1};
    ts_oidc_claims *c = NULL;
    ts_error e;
    char *t = projected(w.key, "payments", "api-1", "tokensmith", NOW - 60, "");
    ts_oidc_reason r = exchange_with(rp, t, NULL, &cr, &c, &e);
    if (r != TS_OIDC_OK)
        fail_msg("%s (%s: %s)", ts_oidc_reason_str(r), e.where, e.msg);
    assert_int_equal(cr.calls, 1);
    assert_int_equal(c->n_scopes, 1);
    assert_string_equal(c->scopes[0], "pay.read");
    ts_oidc_claims_free(c);
    c = NULL;
    ts_free(t);
    t = projected(w.key, "boot", "bss", "tokensmith", NOW - 60, "");
    assert_int_equal(exchange_with(rp, t, NULL, &cr, &c, &e), TS_OIDC_NO_IDENTITY_RULE);
    assert_null(c);
    assert_int_equal(exchange(rp, t, NULL, NULL, &c, &e), TS_OIDC_NO_IDENTITY_RULE);
    assert_null(c);
    ts_free(t);
    ts_oidc_free(rp);
}

static void expect_refused(ts_oidc *rp, char *t, ts_oidc_reason want)
{
    ts_oidc_claims *c = NULL;
    ts_error e;
    ts_oidc_reason r = exchange(rp, t, NULL, NULL, &c, &e);
    if (r != want)
        fail_msg("%s (%s: %s), want %s", ts_oidc_reason_str(r), e.where, e.msg,
                 ts_oidc_reason_str(want));
    assert_null(c);
    ts_free(t);
}

static void test_refused(void **state)
{
    (void)state;
    ts_oidc *rp = relying_party(false);
    expect_refused(rp, projected(w.key, "boot", "bss", "vault", NOW - 60, ""),
                   TS_OIDC_WRONG_AUDIENCE);
    /* The API server's own audience, not configured as ours. */
    expect_refused(rp,
                   projected(w.key, "boot", "bss", "https://kubernetes.default.svc.cluster.local",
                             NOW - 60, ""),
                   TS_OIDC_WRONG_AUDIENCE);
    expect_refused(rp, projected(w.key, "boot", "bss", "tokensmith", NOW - 3601, ""),
                   TS_OIDC_INVALID_CLAIM);
    expect_refused(rp, projected(w.other, "boot", "bss", "tokensmith", NOW - 60, ""),
                   TS_OIDC_BAD_SIGNATURE);
    /* A tampered payload: the account swapped after signing. */
    char *t = projected(w.key, "boot", "bss", "tokensmith", NOW - 60, "");
    char *d1 = strchr(t, '.'), *d2 = strrchr(t, '.');
    char *forged = NULL;
    const char *fp =
        "{\"aud\":[\"tokensmith\"],\"exp\":1700003600,\"iat\":1699999940,\"iss\":\"" ISS
        "\",\"kubernetes.io\":{\"namespace\":\"boot\",\"serviceaccount\":{\"name\":"
        "\"admin\"}},\"sub\":\"system:serviceaccount:boot:admin\"}";
    assert_int_equal(ts_b64url_encode(fp, strlen(fp), &forged, NULL, NULL), TS_OK);
    size_t n = (size_t)(d1 - t) + 1 + strlen(forged) + strlen(d2) + 1;
    char *tt = malloc(n);
    snprintf(tt, n, "%.*s.%s%s", (int)(d1 - t), t, forged, d2);
    ts_free(forged);
    ts_free(t);
    expect_refused(rp, tt, TS_OIDC_BAD_SIGNATURE); /* freed there */
    /* sub names another account than the nested claims. */
    char p[512];
    snprintf(p, sizeof p,
             "{\"aud\":[\"tokensmith\"],\"exp\":%lld,\"iat\":%lld,\"iss\":\"" ISS "\","
             "\"kubernetes.io\":{\"namespace\":\"boot\",\"serviceaccount\":{\"name\":\"bss\"}},"
             "\"sub\":\"system:serviceaccount:boot:admin\"}",
             NOW + 3600, NOW - 60);
    ts_error e;
    t = NULL;
    assert_int_equal(ts_jws_sign(w.key, TS_JWS_ES256, NULL, p, strlen(p), &t, NULL, &e), TS_OK);
    expect_refused(rp, t, TS_OIDC_INVALID_CLAIM);
    ts_oidc_free(rp);
}

/* The legacy Secret-token shape (flat claims) under the provider's issuer and audience: refused
   by default, read when allow_legacy_tokens. (A real legacy token also lacks exp and aud,
   which authn's verifier refuses before these rules are reached.) */
static void test_legacy(void **state)
{
    (void)state;
    char p[1024];
    snprintf(p, sizeof p,
             "{\"aud\":[\"tokensmith\"],\"exp\":%lld,\"iat\":%lld,\"iss\":\"" ISS "\","
             "\"kubernetes.io/serviceaccount/namespace\":\"boot\","
             "\"kubernetes.io/serviceaccount/secret.name\":\"bss-token-x\","
             "\"kubernetes.io/serviceaccount/service-account.name\":\"bss\","
             "\"kubernetes.io/serviceaccount/service-account.uid\":\"su-9\","
             "\"sub\":\"system:serviceaccount:boot:bss\"}",
             NOW + 3600, NOW - 60);
    char *t = NULL;
    ts_error e;
    assert_int_equal(ts_jws_sign(w.key, TS_JWS_ES256, NULL, p, strlen(p), &t, NULL, &e), TS_OK);
    ts_oidc *rp = relying_party(false);
    ts_oidc_claims *c = NULL;
    assert_int_equal(exchange(rp, t, NULL, NULL, &c, &e), TS_OIDC_MISSING_CLAIM);
    ts_oidc_free(rp);
    rp = relying_party(true);
    assert_int_equal(exchange(rp, t, NULL, NULL, &c, &e), TS_OIDC_OK);
    assert_string_equal(c->sub, "system:serviceaccount:boot:bss");
    assert_string_equal(c->k8s_uid, "su-9");
    ts_oidc_claims_free(c);
    ts_oidc_free(rp);
    ts_free(t);
}

/* A jwt subject token of an OpenID provider is no service-account token; a Kubernetes
   provider's claims never go through the OpenID mapping. */
static void test_routing(void **state)
{
    (void)state;
    ts_oidc *rp = relying_party(false);
    static const char p[] = "{\"iss\":\"https://idp.example\",\"sub\":\"alice\",\"aud\":\"c\"}";
    char *t = NULL;
    ts_error e;
    assert_int_equal(ts_jws_sign(w.key, TS_JWS_ES256, NULL, p, strlen(p), &t, NULL, &e), TS_OK);
    expect_refused(rp, t, TS_OIDC_WRONG_ISSUER);
    ts_oidc_exchange_request rq;
    memset(&rq, 0, sizeof rq);
    rq.subject_token = "x";
    rq.subject_token_len = 1;
    rq.subject_token_type = "urn:ietf:params:oauth:token-type:saml2";
    ts_oidc_claims *c = NULL;
    assert_int_equal(ts_oidc_exchange(rp, &rq, &c, &e), TS_OIDC_UNSUPPORTED_TOKEN_TYPE);
    ts_oidc_free(rp);
    ts_oidc_config *cfg = parse(issue_example, &e);
    static const char claims[] = "{\"iss\":\"" ISS "\",\"sub\":\"system:serviceaccount:boot:bss\"}";
    assert_int_equal(ts_oidc_map_claims(cfg, claims, strlen(claims), NULL, &c, &e),
                     TS_OIDC_WRONG_ISSUER);
    ts_oidc_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_good),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_config_hostile),
        cmocka_unit_test(test_glob),
        cmocka_unit_test(test_mapped),
        cmocka_unit_test(test_rules_order),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_legacy),
        cmocka_unit_test(test_routing),
        cmocka_unit_test(test_caller_rules),
        cmocka_unit_test(test_no_configured_rules),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
