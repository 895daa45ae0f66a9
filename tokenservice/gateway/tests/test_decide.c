/* gateway.test_decide: ts_gateway__check(), the algorithm every front asks, with JWKS files
 * and testutil tokens: allow with the translated Authorization (verified back against the
 * core's JWKS), each deny with its status, authz.deny.v1 body and WWW-Authenticate, public
 * paths, two Authorization lines, the client's x-tokensmith-* headers (strip and reject), wrong
 * audience, unknown issuer, a token of one issuer signed with another's key, shadow and off
 * modes, keys unavailable. Every refusal is checked not to carry an allow or a token. */
#include "core_fixture.h"

#include <jansson.h>
#include <pthread.h>
#include <strings.h>

#include <tokensmith/authn.h>

#include "core.h"
#include "core_internal.h"

static fixture fx;
static char logbuf[65536];
static size_t loglen;

static pthread_mutex_t loglock = PTHREAD_MUTEX_INITIALIZER;

static void capture(const char *line, size_t len, void *ud)
{
    (void)ud;
    pthread_mutex_lock(&loglock); /* test_threads logs from four threads */
    if (loglen + len + 1 < sizeof logbuf) {
        memcpy(logbuf + loglen, line, len);
        loglen += len;
        logbuf[loglen++] = '\n';
        logbuf[loglen] = '\0';
    }
    pthread_mutex_unlock(&loglock);
}

static int setup(void **state)
{
    (void)state;
    fx_setup(&fx);
    loglen = 0;
    logbuf[0] = '\0';
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fx_teardown(&fx);
    return 0;
}

static ts_gateway__core *core_new(void)
{
    ts_gateway__core_options o = TS_GATEWAY__CORE_OPTIONS_INIT;
    o.log = capture;
    ts_error err;
    ts_gateway__core *c = ts_gateway__core_new(&fx.cfg, &o, &err);
    if (!c)
        fail_msg("core: %s: %s", err.where, err.msg);
    return c;
}

#define MAX_H 8

typedef struct req {
    ts_gateway__header h[MAX_H];
    size_t n;
    char auth[2][4096];
    ts_gateway__input in;
} req;

static ts_gateway__str S(const char *z)
{
    return (ts_gateway__str){z, strlen(z)};
}

static void req_init(req *r, const char *method, const char *path)
{
    memset(r, 0, sizeof *r);
    r->in.front = TS_GATEWAY__FRONT_HTTP;
    r->in.method = S(method);
    r->in.host = S("api.test");
    r->in.path = S(path);
    r->in.peer_address = S("");
}

static void req_header(req *r, const char *name, const char *value)
{
    assert_true(r->n < MAX_H);
    r->h[r->n++] = (ts_gateway__header){S(name), S(value)};
    r->in.headers = r->h;
    r->in.n_headers = r->n;
}

static void req_bearer(req *r, const char *token)
{
    size_t i = r->auth[0][0] ? 1 : 0;
    snprintf(r->auth[i], sizeof r->auth[i], "Bearer %s", token);
    req_header(r, "Authorization", r->auth[i]);
}

static const char *vheader(const ts_gateway__verdict *v, const char *name)
{
    for (size_t i = 0; i < v->n_headers; i++)
        if (strcasecmp(v->headers[i].name, name) == 0)
            return v->headers[i].value;
    return NULL;
}

static bool vremoves(const ts_gateway__verdict *v, const char *name)
{
    for (size_t i = 0; i < v->n_remove; i++)
        if (strcasecmp(v->remove[i], name) == 0)
            return true;
    return false;
}

static void check(ts_gateway__core *c, req *r, ts_gateway__verdict *v)
{
    ts_gateway__verdict_init(v);
    ts_gateway__check(&r->in, v, c);
}

/* No request passes without a verified token: a refusal has no Authorization to send upstream
 * and is never ALLOW. */
static void assert_refused(const ts_gateway__verdict *v, unsigned status)
{
    if (v->decision == TS_GATEWAY__ALLOW)
        fail_msg("allowed (%s), want %u", v->reason, status);
    assert_int_equal(v->http_status, status);
    assert_null(vheader(v, "authorization"));
    assert_null(vheader(v, "x-tokensmith-subject"));
}

/* A deny: status, authz.deny.v1 body with @p code, the WWW-Authenticate value (NULL: none). */
static void assert_deny(ts_gateway__core *c, const ts_gateway__verdict *v, unsigned status,
                        const char *code, const char *challenge)
{
    assert_refused(v, status);
    assert_int_equal(v->decision, TS_GATEWAY__DENY);
    assert_non_null(v->body);
    json_t *b = json_loadb(v->body, v->body_len, 0, NULL);
    if (!b)
        fail_msg("body not JSON: %s", v->body);
    assert_string_equal(json_string_value(json_object_get(b, "schema_version")), "authz.deny.v1");
    assert_string_equal(json_string_value(json_object_get(b, "code")), code);
    const char *pv = json_string_value(json_object_get(b, "policy_version"));
    assert_non_null(pv);
    if (*pv) { /* authz and the gateway's own 400s name the policy; authn's refusals do not */
        char want[TS_AUTHZ_POLICY_VERSION_LEN + 1];
        ts_authz_authorizer_policy_version(c->authorizer, want);
        assert_string_equal(pv, want);
    } else {
        assert_int_equal(status, 401);
    }
    json_decref(b);
    assert_string_equal(vheader(v, "content-type"), "application/json; charset=utf-8");
    if (challenge)
        assert_string_equal(vheader(v, "www-authenticate"), challenge);
    else
        assert_null(vheader(v, "www-authenticate"));
}

/* The translated token, verified with the core's JWKS as an upstream would. */
static ts_authn_principal *upstream_verify(ts_gateway__core *c, const ts_gateway__verdict *v,
                                           const char *aud)
{
    assert_int_equal(v->decision, TS_GATEWAY__ALLOW);
    assert_int_equal(v->http_status, 200);
    const char *auth = vheader(v, "authorization");
    assert_non_null(auth);
    assert_memory_equal(auth, "Bearer ", 7);
    ts_common__secbuf jwks = {0};
    ts_error err;
    assert_int_equal(ts_gateway__core_jwks(c, &jwks, &err), TS_OK);
    ts_jwks *keys = ts_jwks_parse(jwks.p, jwks.n, &err);
    assert_non_null(keys);
    ts_common__secbuf_wipe(&jwks);
    const char *iss = FX_GATEWAY_ISSUER;
    ts_authn_options o = TS_AUTHN_OPTIONS_INIT;
    o.issuers = &iss;
    o.n_issuers = 1;
    o.audiences = &aud;
    o.n_audiences = 1;
    o.keys = keys;
    o.disable_cache = true;
    ts_authn_verifier *ver = ts_authn_verifier_new(&o, &err);
    assert_non_null(ver);
    ts_authn_principal *p = NULL;
    ts_authn_reason r = ts_authn_verify(ver, auth + 7, strlen(auth + 7), &p, NULL, &err);
    if (r != TS_AUTHN_OK)
        fail_msg("translated token: %s: %s", ts_authn_reason_str(r), err.msg);
    ts_authn_verifier_free(ver);
    ts_jwks_free(keys);
    return p;
}

static void test_allow_translates(void **state)
{
    (void)state;
    ts_gateway__core *c = core_new();
    char *tok = fx_token_a(&fx, NULL, "reader");
    req r;
    req_init(&r, "GET", "/things/1?x=%2F");
    req_bearer(&r, tok);
    req_header(&r, "x-request-id", "req-1");
    ts_gateway__verdict v;
    check(c, &r, &v);
    ts_authn_principal *p = upstream_verify(c, &v, "backend");
    assert_string_equal(ts_authn_principal_issuer(p), FX_GATEWAY_ISSUER);
    assert_string_equal(ts_authn_principal_id(p), TS_TESTUTIL_SUBJECT);
    assert_string_equal(ts_authn_principal_claim_string(p, "idp"), TS_TESTUTIL_ISSUER);
    assert_true(ts_authn_principal_exp(p) <= (int64_t)time(NULL) + TS_TESTUTIL_LIFETIME_S);
    assert_null(strstr(vheader(&v, "authorization"), tok)); /* never the caller's token */
    assert_string_equal(vheader(&v, "x-tokensmith-subject"), TS_TESTUTIL_SUBJECT);
    assert_string_equal(vheader(&v, "x-tokensmith-roles"), "reader");
    char pv[65];
    ts_gateway__core_policy_version(c, pv);
    assert_string_equal(vheader(&v, "x-tokensmith-policy-version"), pv);
    assert_null(v.body);
    ts_authn_principal_free(p);
    ts_gateway__verdict_cleanup(&v);

    /* The route's own audience. */
    char *writer = fx_token_a(&fx, NULL, "writer");
    req_init(&r, "POST", "/orders");
    req_bearer(&r, writer);
    check(c, &r, &v);
    p = upstream_verify(c, &v, "orders-api");
    ts_authn_principal_free(p);
    ts_gateway__verdict_cleanup(&v);

    /* A Kubernetes service account, granted by a policy binding. */
    ts_testutil_token *b = fx_k8s_builder(&fx);
    char *sa = fx_mint(b);
    req_init(&r, "GET", "/things/2");
    req_bearer(&r, sa);
    check(c, &r, &v);
    p = upstream_verify(c, &v, "backend");
    assert_string_equal(ts_authn_principal_id(p), FX_K8S_SUB);
    assert_string_equal(ts_authn_principal_claim_string(p, "idp"), FX_K8S_ISSUER);
    ts_authn_principal_free(p);
    ts_gateway__verdict_cleanup(&v);
    /* The log names the token by hash only. */
    assert_null(strstr(logbuf, tok));
    ts_free(sa);
    ts_testutil_token_free(b);
    ts_free(writer);
    ts_free(tok);

    ts_common__secbuf m = {0};
    ts_gateway__core_metrics(c, &m);
    assert_non_null(strstr(m.p, "gateway_checks_total{front=\"http\",mode=\"enforce\","
                                "result=\"allow\"} 3\n"));
    assert_non_null(strstr(m.p, "gateway_translations_total 3\n"));
    assert_non_null(strstr(m.p, "gateway_translation_cache_total{result=\"miss\"} 3\n"));
    assert_non_null(strstr(m.p, "\nauthz_decisions_total{")); /* the guard's own */
    ts_common__secbuf_wipe(&m);
    ts_gateway__core_free(c);
}

static void test_authn_refusals(void **state)
{
    (void)state;
    ts_gateway__core *c = core_new();
    ts_gateway__verdict v;
    req r;
    static const char invalid[] = "Bearer error=\"invalid_token\"";

    req_init(&r, "GET", "/things/1"); /* no credentials */
    check(c, &r, &v);
    assert_deny(c, &v, 401, "AUTHN_REQUIRED", "Bearer");
    ts_gateway__verdict_cleanup(&v);

    req_init(&r, "GET", "/things/1"); /* another scheme */
    req_header(&r, "authorization", "Basic dXNlcjpwYXNz");
    check(c, &r, &v);
    assert_deny(c, &v, 401, "AUTHN_REQUIRED", "Bearer");
    ts_gateway__verdict_cleanup(&v);

    req_init(&r, "GET", "/things/1");
    req_header(&r, "authorization", "Bearer a b");
    check(c, &r, &v);
    assert_deny(c, &v, 401, "AUTHN_INVALID", invalid);
    ts_gateway__verdict_cleanup(&v);

    ts_error err;
    static const ts_testutil_flaw flaws[] = {
        TS_TESTUTIL_FLAW_EXPIRED,  TS_TESTUTIL_FLAW_WRONG_AUDIENCE, TS_TESTUTIL_FLAW_BAD_SIGNATURE,
        TS_TESTUTIL_FLAW_ALG_NONE, TS_TESTUTIL_FLAW_UNKNOWN_KID,    TS_TESTUTIL_FLAW_WRONG_ISSUER};
    ts_testutil_token *b = ts_testutil_token_new(fx.key_a, &err);
    static const char *const role = "reader";
    assert_int_equal(ts_testutil_token_set_roles(b, &role, 1, &err), TS_OK);
    for (size_t i = 0; i < sizeof flaws / sizeof *flaws; i++) {
        char *tok = ts_testutil_token_mint(b, flaws[i], &err);
        assert_non_null(tok);
        req_init(&r, "GET", "/things/1");
        req_bearer(&r, tok);
        check(c, &r, &v);
        assert_deny(c, &v, 401, "AUTHN_INVALID", invalid);
        ts_gateway__verdict_cleanup(&v);
        ts_free(tok);
    }
    ts_testutil_token_free(b);

    /* Issuer A's iss, signed by issuer B's key (and B's kid). */
    char *cross = fx_token_a(&fx, fx.key_b, "reader");
    req_init(&r, "GET", "/things/1");
    req_bearer(&r, cross);
    check(c, &r, &v);
    assert_deny(c, &v, 401, "AUTHN_INVALID", invalid);
    ts_gateway__verdict_cleanup(&v);
    ts_free(cross);

    /* A Kubernetes token whose sub names another account than its claims. */
    b = fx_k8s_builder(&fx);
    assert_int_equal(ts_testutil_token_set_subject(b, "system:serviceaccount:kube-system:x", &err),
                     TS_OK);
    char *k = fx_mint(b);
    req_init(&r, "GET", "/things/1");
    req_bearer(&r, k);
    check(c, &r, &v);
    assert_deny(c, &v, 401, "AUTHN_INVALID", invalid);
    ts_gateway__verdict_cleanup(&v);
    assert_null(strstr(logbuf, k));
    assert_non_null(strstr(logbuf, "\"reason\":\"invalid_claim\""));
    ts_free(k);
    ts_testutil_token_free(b);
    ts_gateway__core_free(c);
}

static void test_authz_refusals(void **state)
{
    (void)state;
    ts_gateway__core *c = core_new();
    ts_gateway__verdict v;
    req r;
    char *nobody = fx_token_a(&fx, NULL, NULL);
    req_init(&r, "GET", "/things/1"); /* mapped, not granted */
    req_bearer(&r, nobody);
    check(c, &r, &v);
    assert_deny(c, &v, 403, "AUTHZ_DENIED", NULL);
    ts_gateway__verdict_cleanup(&v);

    req_init(&r, "GET", "/elsewhere"); /* unmapped */
    req_bearer(&r, nobody);
    check(c, &r, &v);
    assert_deny(c, &v, 403, "AUTHZ_UNMAPPED", NULL);
    ts_gateway__verdict_cleanup(&v);

    char *reader = fx_token_a(&fx, NULL, "reader");
    req_init(&r, "POST", "/orders"); /* a reader may not create orders */
    req_bearer(&r, reader);
    check(c, &r, &v);
    assert_deny(c, &v, 403, "AUTHZ_DENIED", NULL);
    ts_gateway__verdict_cleanup(&v);

    req_init(&r, "GET", "/things/%2e%2e/orders"); /* normalised: /orders, GET: unmapped */
    req_bearer(&r, reader);
    check(c, &r, &v);
    assert_refused(&v, 403);
    ts_gateway__verdict_cleanup(&v);
    ts_free(reader);
    ts_free(nobody);
    ts_gateway__core_free(c);
}

static void test_bad_requests(void **state)
{
    (void)state;
    ts_gateway__core *c = core_new();
    ts_gateway__verdict v;
    req r;
    char *tok = fx_token_a(&fx, NULL, "reader");

    req_init(&r, "GET", "/things/1"); /* two Authorization lines, both valid */
    req_bearer(&r, tok);
    req_bearer(&r, tok);
    check(c, &r, &v);
    assert_deny(c, &v, 400, "BAD_REQUEST", NULL);
    ts_gateway__verdict_cleanup(&v);

    req_init(&r, "GET", "/things/1"); /* the gRPC front saw two, joined */
    req_bearer(&r, tok);
    r.in.authorization_repeated = true;
    check(c, &r, &v);
    assert_deny(c, &v, 400, "BAD_REQUEST", NULL);
    ts_gateway__verdict_cleanup(&v);

    static const char *const bad[][2] = {
        {"", "/things/1"},
        {"G T", "/things/1"},
        {"GET", "things/1"},
        {"GET", ""},
        {"GET", "/things/%zz"},
        {"GET", "/things/%00"},
        {"GETGETGETGETGETGETGETGETGETGETGET", "/x"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        req_init(&r, bad[i][0], bad[i][1]);
        req_bearer(&r, tok);
        check(c, &r, &v);
        assert_deny(c, &v, 400, "BAD_REQUEST", NULL);
        ts_gateway__verdict_cleanup(&v);
    }
    /* A query is not the gateway's to judge: "100%" there is the upstream's business. */
    req_init(&r, "GET", "/things/1?discount=100%");
    req_bearer(&r, tok);
    check(c, &r, &v);
    assert_int_equal(v.decision, TS_GATEWAY__ALLOW);
    ts_gateway__verdict_cleanup(&v);
    static char long_path[TS_AUTHZ_HTTP_MAX_PATH + 2];
    memset(long_path, 'a', sizeof long_path - 1);
    long_path[0] = '/';
    req_init(&r, "GET", long_path);
    req_bearer(&r, tok);
    check(c, &r, &v);
    assert_deny(c, &v, 400, "BAD_REQUEST", NULL);
    ts_gateway__verdict_cleanup(&v);
    ts_free(tok);
    ts_gateway__core_free(c);
}

static void test_client_tokensmith_headers(void **state)
{
    (void)state;
    ts_gateway__core *c = core_new();
    ts_gateway__verdict v;
    req r;
    char *tok = fx_token_a(&fx, NULL, "reader");
    req_init(&r, "GET", "/things/1");
    req_bearer(&r, tok);
    req_header(&r, "X-Tokensmith-Subject", "admin");
    req_header(&r, "x-tokensmith-extra", "1");
    check(c, &r, &v);
    assert_int_equal(v.decision, TS_GATEWAY__ALLOW);
    assert_string_equal(vheader(&v, "x-tokensmith-subject"), TS_TESTUTIL_SUBJECT);
    assert_true(vremoves(&v, "x-tokensmith-extra"));
    assert_false(vremoves(&v, "x-tokensmith-subject")); /* replaced, not removed */
    ts_gateway__verdict_cleanup(&v);
    ts_gateway__core_free(c);

    /* Without the gateway's own headers, a forged one is removed. */
    fx.cfg.translate.headers = false;
    c = core_new();
    check(c, &r, &v);
    assert_int_equal(v.decision, TS_GATEWAY__ALLOW);
    assert_null(vheader(&v, "x-tokensmith-subject"));
    assert_true(vremoves(&v, "X-Tokensmith-Subject"));
    assert_true(vremoves(&v, "x-tokensmith-extra"));
    ts_gateway__verdict_cleanup(&v);
    ts_gateway__core_free(c);

    /* A subject no header can carry: the token has it, the headers leave it out, and the
     * client's header of that name is removed. */
    fx.cfg.translate.headers = true;
    c = core_new();
    ts_error err;
    ts_testutil_token *b = ts_testutil_token_new(fx.key_a, &err);
    static const char *const role = "reader";
    assert_int_equal(ts_testutil_token_set_roles(b, &role, 1, &err), TS_OK);
    assert_int_equal(ts_testutil_token_set_subject(b, "j\xc3\xb6rg", &err), TS_OK);
    char *umlaut = fx_mint(b);
    req u;
    req_init(&u, "GET", "/things/1");
    req_bearer(&u, umlaut);
    req_header(&u, "x-tokensmith-subject", "admin");
    check(c, &u, &v);
    ts_authn_principal *p = upstream_verify(c, &v, "backend");
    assert_string_equal(ts_authn_principal_id(p), "j\xc3\xb6rg");
    ts_authn_principal_free(p);
    assert_null(vheader(&v, "x-tokensmith-subject"));
    assert_true(vremoves(&v, "x-tokensmith-subject"));
    assert_string_equal(vheader(&v, "x-tokensmith-roles"), "reader");
    ts_gateway__verdict_cleanup(&v);
    ts_free(umlaut);
    ts_testutil_token_free(b);
    ts_gateway__core_free(c);

    /* "reject" (nginx, which cannot remove by pattern): 400 even with a valid token. */
    snprintf(fx.cfg.http.client_tokensmith_headers, sizeof fx.cfg.http.client_tokensmith_headers,
             "reject");
    c = core_new();
    check(c, &r, &v);
    assert_deny(c, &v, 400, "BAD_REQUEST", NULL);
    ts_gateway__verdict_cleanup(&v);
    ts_free(tok);
    ts_gateway__core_free(c);
}

static void test_public_paths(void **state)
{
    (void)state;
    ts_gateway__core *c = core_new();
    ts_gateway__verdict v;
    req r;
    req_init(&r, "GET", "/health");
    check(c, &r, &v);
    assert_int_equal(v.decision, TS_GATEWAY__ALLOW);
    assert_null(vheader(&v, "authorization"));
    assert_true(vremoves(&v, "authorization"));
    ts_gateway__verdict_cleanup(&v);

    /* A token that does not verify is removed, not passed on. */
    req_init(&r, "GET", "/public/a?q=1");
    req_bearer(&r, "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.");
    check(c, &r, &v);
    assert_int_equal(v.decision, TS_GATEWAY__ALLOW);
    assert_null(vheader(&v, "authorization"));
    assert_true(vremoves(&v, "authorization"));
    ts_gateway__verdict_cleanup(&v);

    /* A token that verifies is translated, without authorization (nobody has no role). */
    char *tok = fx_token_a(&fx, NULL, NULL);
    req_init(&r, "GET", "/public/a");
    req_bearer(&r, tok);
    check(c, &r, &v);
    ts_authn_principal *p = upstream_verify(c, &v, "backend");
    ts_authn_principal_free(p);
    ts_gateway__verdict_cleanup(&v);

    /* Not public: "/publicity", "/health/x". */
    req_init(&r, "GET", "/publicity");
    check(c, &r, &v);
    assert_deny(c, &v, 401, "AUTHN_REQUIRED", "Bearer");
    ts_gateway__verdict_cleanup(&v);
    req_init(&r, "GET", "/health/x");
    check(c, &r, &v);
    assert_deny(c, &v, 401, "AUTHN_REQUIRED", "Bearer");
    ts_gateway__verdict_cleanup(&v);
    ts_free(tok);
    ts_gateway__core_free(c);
}

static void test_shadow_and_off(void **state)
{
    (void)state;
    char *nobody = fx_token_a(&fx, NULL, NULL);
    static const char *const modes[] = {"shadow", "off"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(fx.cfg.authz.mode, sizeof fx.cfg.authz.mode, "%s", modes[i]);
        loglen = 0;
        ts_gateway__core *c = core_new();
        ts_gateway__verdict v;
        req r;
        req_init(&r, "GET", "/things/1"); /* denied in enforce mode */
        req_bearer(&r, nobody);
        check(c, &r, &v);
        ts_authn_principal *p = upstream_verify(c, &v, "backend");
        ts_authn_principal_free(p);
        ts_gateway__verdict_cleanup(&v);
        /* The route's audience in both modes. */
        req_init(&r, "POST", "/orders");
        req_bearer(&r, nobody);
        check(c, &r, &v);
        p = upstream_verify(c, &v, "orders-api");
        ts_authn_principal_free(p);
        ts_gateway__verdict_cleanup(&v);
        if (i == 0) /* shadow: the guard logged what enforce would have done */
            assert_non_null(strstr(logbuf, "\"decision\":\"deny\""));
        /* Authentication still refuses in every mode. */
        req_init(&r, "GET", "/things/1");
        check(c, &r, &v);
        assert_deny(c, &v, 401, "AUTHN_REQUIRED", "Bearer");
        ts_gateway__verdict_cleanup(&v);
        req_init(&r, "GET", "/things/1");
        req_bearer(&r, "x.y.z");
        check(c, &r, &v);
        assert_refused(&v, 401);
        ts_gateway__verdict_cleanup(&v);
        ts_gateway__core_free(c);
    }
    ts_free(nobody);
}

static void test_cannot_decide(void **state)
{
    (void)state;
    ts_gateway__core *c = core_new();
    ts_error err;
    ts_testutil_token *b = ts_testutil_token_new(fx.key_a, &err);
    assert_int_equal(ts_testutil_token_set_issuer(b, FX_DOWN_ISSUER, &err), TS_OK);
    static const char *const aud[] = {"gateway"};
    assert_int_equal(ts_testutil_token_set_audience(b, aud, 1, &err), TS_OK);
    char *tok = fx_mint(b);
    req r;
    req_init(&r, "GET", "/things/1");
    req_bearer(&r, tok);
    ts_gateway__verdict v;
    check(c, &r, &v);
    assert_int_equal(v.decision, TS_GATEWAY__CANNOT_DECIDE);
    assert_refused(&v, 503);
    assert_null(v.body);
    ts_gateway__verdict_cleanup(&v);

    /* The verdict a check starts from is never an allow: a NULL core decides nothing. */
    ts_gateway__verdict_init(&v);
    ts_gateway__check(&r.in, &v, NULL);
    assert_int_equal(v.decision, TS_GATEWAY__CANNOT_DECIDE);
    ts_gateway__verdict_cleanup(&v);
    ts_free(tok);
    ts_testutil_token_free(b);
    ts_gateway__core_free(c);
}

/* Keys over HTTP (a loopback JWKS URL), and an entry without jwks_uri: OpenID discovery on the
 * issuer at its first token; a failed discovery is 503 and is not retried at once. */
static void test_remote_keys_and_discovery(void **state)
{
    (void)state;
    ts_error err;
    ts_jwks *set = ts_testutil_jwks((const ts_testutil_key *const *)&fx.key_b, 1, &err);
    assert_non_null(set);
    ts_testutil_jwks_server *srv = ts_testutil_jwks_server_start(set, &err);
    assert_non_null(srv);
    ts_jwks_free(set);
    char issuer[64];
    snprintf(issuer, sizeof issuer, "http://127.0.0.1:%u", ts_testutil_jwks_server_port(srv));
    /* Entry 1 (Kubernetes) now fetches its keys over HTTP; entry 2 has no jwks_uri. */
    snprintf(fx.trust[1].jwks_uri, sizeof fx.trust[1].jwks_uri, "%s",
             ts_testutil_jwks_server_url(srv));
    fx_trust(&fx.trust[2], issuer, "", "gateway", TS_GATEWAY_TRUST_JWT);
    ts_gateway__core *c = core_new();
    assert_int_equal(ts_testutil_jwks_server_requests(srv), 0); /* nothing fetched at start */

    ts_testutil_token *b = fx_k8s_builder(&fx);
    char *sa = fx_mint(b);
    req r;
    req_init(&r, "GET", "/things/1");
    req_bearer(&r, sa);
    ts_gateway__verdict v;
    check(c, &r, &v);
    ts_authn_principal *p = upstream_verify(c, &v, "backend");
    ts_authn_principal_free(p);
    ts_gateway__verdict_cleanup(&v);
    unsigned long fetched = ts_testutil_jwks_server_requests(srv);
    assert_int_equal(fetched, 1);

    ts_testutil_token *d = ts_testutil_token_new(fx.key_b, &err);
    assert_int_equal(ts_testutil_token_set_issuer(d, issuer, &err), TS_OK);
    static const char *const aud[] = {"gateway"};
    assert_int_equal(ts_testutil_token_set_audience(d, aud, 1, &err), TS_OK);
    char *tok = fx_mint(d);
    req_init(&r, "GET", "/things/1");
    req_bearer(&r, tok);
    check(c, &r, &v); /* the server has no discovery document: 404 */
    assert_int_equal(v.decision, TS_GATEWAY__CANNOT_DECIDE);
    assert_refused(&v, 503);
    ts_gateway__verdict_cleanup(&v);
    assert_int_equal(ts_testutil_jwks_server_requests(srv), fetched + 1);
    check(c, &r, &v); /* within 30 s: no second discovery */
    assert_refused(&v, 503);
    ts_gateway__verdict_cleanup(&v);
    assert_int_equal(ts_testutil_jwks_server_requests(srv), fetched + 1);
    ts_free(tok);
    ts_testutil_token_free(d);
    ts_free(sa);
    ts_testutil_token_free(b);
    ts_gateway__core_free(c);
    ts_testutil_jwks_server_stop(srv);
}

/* SIGHUP: a new fragment changes the decision and the policy_version; a bad one keeps both. */
static void test_reload(void **state)
{
    (void)state;
    ts_gateway__core *c = core_new();
    char *nobody = fx_token_a(&fx, NULL, "auditor");
    req r;
    req_init(&r, "GET", "/things/1");
    req_bearer(&r, nobody);
    ts_gateway__verdict v;
    check(c, &r, &v);
    assert_deny(c, &v, 403, "AUTHZ_DENIED", NULL);
    ts_gateway__verdict_cleanup(&v);
    char before[65], after[65];
    ts_gateway__core_policy_version(c, before);

    ts_error err;
    static const char *const grant[] = {"p, role:auditor, gw:things, read"};
    assert_int_equal(ts_testutil_write_fragment(fx.policy, "20-auditor.csv", grant, 1, &err),
                     TS_OK);
    assert_int_equal(ts_gateway__core_reload(c, &err), TS_OK);
    ts_gateway__core_policy_version(c, after);
    assert_string_not_equal(before, after);
    check(c, &r, &v);
    assert_int_equal(v.decision, TS_GATEWAY__ALLOW);
    assert_string_equal(vheader(&v, "x-tokensmith-policy-version"), after);
    ts_gateway__verdict_cleanup(&v);

    static const char *const broken[] = {"p, role:auditor"};
    assert_int_equal(ts_testutil_write_fragment(fx.policy, "30-broken.csv", broken, 1, &err),
                     TS_OK);
    assert_int_not_equal(ts_gateway__core_reload(c, &err), TS_OK);
    ts_gateway__core_policy_version(c, before);
    assert_string_equal(before, after);
    check(c, &r, &v);
    assert_int_equal(v.decision, TS_GATEWAY__ALLOW);
    ts_gateway__verdict_cleanup(&v);
    ts_free(nobody);
    ts_gateway__core_free(c);
}

/* Many threads on one core: every answer is the same allow (the cache and the counters are
 * shared). */
typedef struct worker {
    ts_gateway__core *core;
    const char *token;
    int allowed;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < 25; i++) {
        req r;
        req_init(&r, i % 2 ? "GET" : "HEAD", "/things/7");
        req_bearer(&r, w->token);
        ts_gateway__verdict v;
        check(w->core, &r, &v);
        if (v.decision == TS_GATEWAY__ALLOW && vheader(&v, "authorization"))
            w->allowed++;
        ts_gateway__verdict_cleanup(&v);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    ts_gateway__core *c = core_new();
    char *tok = fx_token_a(&fx, NULL, "reader");
    worker w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){c, tok, 0};
        assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(w[i].allowed, 25);
    }
    ts_common__secbuf m = {0};
    ts_gateway__core_metrics(c, &m);
    assert_non_null(strstr(m.p, "result=\"allow\"} 100\n"));
    ts_common__secbuf_wipe(&m);
    ts_free(tok);
    ts_gateway__core_free(c);
}

static void test_construction_errors(void **state)
{
    (void)state;
    ts_gateway__core_options o = TS_GATEWAY__CORE_OPTIONS_INIT;
    o.log = capture;
    o.read_only_keys = true; /* --check: no key in the directory yet */
    ts_error err;
    assert_null(ts_gateway__core_new(&fx.cfg, &o, &err));
    o.read_only_keys = false;
    snprintf(fx.trust[0].jwks_uri, sizeof fx.trust[0].jwks_uri, "file:///nonexistent/j.json");
    assert_null(ts_gateway__core_new(&fx.cfg, &o, &err));
    assert_string_equal(err.where, "trust[0].jwks_uri");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_allow_translates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_authn_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_authz_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_tokensmith_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_public_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shadow_and_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cannot_decide, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remote_keys_and_discovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_construction_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
