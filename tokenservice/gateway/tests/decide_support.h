/* What gateway.test_decide and gateway.test_core_life share: one fixture (core_fixture.h), a
 * log sink, a core built on it, hand-made check inputs, and the assertions every refusal and
 * every allow must pass (a refusal never carries an Authorization; an allow's token verifies
 * against the core's own JWKS). */
#ifndef TS_GATEWAY_TESTS_DECIDE_SUPPORT_H
#define TS_GATEWAY_TESTS_DECIDE_SUPPORT_H

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

FX_UNUSED static void capture(const char *line, size_t len, void *ud)
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

FX_UNUSED static int setup(void **state)
{
    (void)state;
    fx_setup(&fx);
    loglen = 0;
    logbuf[0] = '\0';
    return 0;
}

FX_UNUSED static int teardown(void **state)
{
    (void)state;
    fx_teardown(&fx);
    return 0;
}

FX_UNUSED static ts_gateway__core *core_new(void)
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

FX_UNUSED static ts_gateway__str S(const char *z)
{
    return (ts_gateway__str){z, strlen(z)};
}

FX_UNUSED static void req_init(req *r, const char *method, const char *path)
{
    memset(r, 0, sizeof *r);
    r->in.front = TS_GATEWAY__FRONT_HTTP;
    r->in.method = S(method);
    r->in.host = S("api.test");
    r->in.path = S(path);
    r->in.peer_address = S("");
}

FX_UNUSED static void req_header(req *r, const char *name, const char *value)
{
    assert_true(r->n < MAX_H);
    r->h[r->n++] = (ts_gateway__header){S(name), S(value)};
    r->in.headers = r->h;
    r->in.n_headers = r->n;
}

FX_UNUSED static void req_bearer(req *r, const char *token)
{
    size_t i = r->auth[0][0] ? 1 : 0;
    snprintf(r->auth[i], sizeof r->auth[i], "Bearer %s", token);
    req_header(r, "Authorization", r->auth[i]);
}

FX_UNUSED static const char *vheader(const ts_gateway__verdict *v, const char *name)
{
    for (size_t i = 0; i < v->n_headers; i++)
        if (strcasecmp(v->headers[i].name, name) == 0)
            return v->headers[i].value;
    return NULL;
}

FX_UNUSED static bool vremoves(const ts_gateway__verdict *v, const char *name)
{
    for (size_t i = 0; i < v->n_remove; i++)
        if (strcasecmp(v->remove[i], name) == 0)
            return true;
    return false;
}

FX_UNUSED static void check(ts_gateway__core *c, req *r, ts_gateway__verdict *v)
{
    ts_gateway__verdict_init(v);
    ts_gateway__check(&r->in, v, c);
}

/* No request passes without a verified token: a refusal has no Authorization to send upstream
 * and is never ALLOW. */
FX_UNUSED static void assert_refused(const ts_gateway__verdict *v, unsigned status)
{
    if (v->decision == TS_GATEWAY__ALLOW)
        fail_msg("allowed (%s), want %u", v->reason, status);
    assert_int_equal(v->http_status, status);
    assert_null(vheader(v, "authorization"));
    assert_null(vheader(v, "x-tokensmith-subject"));
}

/* A deny: status, authz.deny.v1 body with @p code, the WWW-Authenticate value (NULL: none). */
FX_UNUSED static void assert_deny(ts_gateway__core *c, const ts_gateway__verdict *v,
                                  unsigned status, const char *code, const char *challenge)
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
FX_UNUSED static ts_authn_principal *upstream_verify(ts_gateway__core *c,
                                                     const ts_gateway__verdict *v, const char *aud)
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

#endif
