/* The revocation source: the list payload's bounds, the signed answer (key, typ, issuer),
   full lists and deltas by cursor, expiry, fail-open and fail-closed staleness, the verifier
   refusing a revoked jti (from its verified-token cache too) and lookups concurrent with
   refreshes. */
#include <pthread.h>

#include "testkit.h"

#include <tokensmith/authn_revocations.h>

#include "authn_internal.h"
#include "revocations_internal.h"

static const char *iss[] = {"https://issuer.test"};
static const char *aud[] = {"svc-a"};

typedef struct fx {
    ts_jwk *key, *other;
    ts_jwks *keys;
    int64_t now;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    f->key = ts_jwk_generate(TS_JWS_ES256, NULL);
    f->other = ts_jwk_generate(TS_JWS_ES256, NULL);
    char *j = ts_jwk_to_json(f->key, NULL);
    ts_jwk *pub = ts_jwk_parse(j, strlen(j), NULL);
    ts_free(j);
    f->keys = ts_jwks_new(&pub, 1, NULL);
    ts_jwk_free(pub);
    f->now = TK_NOW;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    ts_jwks_free(f->keys);
    ts_jwk_free(f->key);
    ts_jwk_free(f->other);
    free(f);
    return 0;
}

static ts_authn_revocations *source(fx *f, bool fail_open)
{
    ts_authn_revocations_options o = TS_AUTHN_REVOCATIONS_OPTIONS_INIT;
    o.issuer = iss[0];
    o.keys = f->keys;
    o.max_stale_s = 60;
    o.fail_open = fail_open;
    o.now = tk_clock;
    o.now_ud = &f->now;
    ts_error err;
    ts_authn_revocations *rs = ts_authn_revocations_new(&o, &err);
    if (!rs)
        fail_msg("source: %s: %s", err.where, err.msg);
    return rs;
}

/* A signed answer: @p typ in the header, signed by @p key (kid of f->key, so that a signature
   by another key is a bad signature, not an unknown kid). */
static char *answer_by(fx *f, const ts_jwk *key, const char *typ, const char *payload)
{
    char hdr[256];
    snprintf(hdr, sizeof hdr, "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"%s\"}",
             ts_jwk_kid(f->key), typ);
    return tk_mint(key, TS_JWS_ES256, hdr, payload);
}

static ts_status apply(fx *f, ts_authn_revocations *rs, const char *payload, ts_error *err)
{
    char *a = answer_by(f, f->key, "revocation-list+jwt", payload);
    ts_error_clear(err);
    ts_status st = ts_authn_revocations_apply(rs, a, strlen(a), err);
    ts_free(a);
    return st;
}

static ts_authn_reason check(const ts_authn_revocations *rs, const char *jti)
{
    return ts_authn_revocations_check(rs, jti, strlen(jti));
}

static void parse_bounds(void **state)
{
    (void)state;
    static const struct {
        const char *json, *where;
    } bad[] = {
        {"{\"seq\":1,\"full\":true,\"revoked\":[]}", "iss"},
        {"{\"iss\":\"i\",\"seq\":-1,\"full\":true,\"revoked\":[]}", "seq"},
        {"{\"iss\":\"i\",\"seq\":1,\"full\":1,\"revoked\":[]}", "full"},
        {"{\"iss\":\"i\",\"seq\":1,\"full\":false,\"revoked\":[]}", "since"},
        {"{\"iss\":\"i\",\"seq\":1,\"since\":2,\"full\":false,\"revoked\":[]}", "since"},
        {"{\"iss\":\"i\",\"seq\":1,\"full\":true,\"more\":\"x\",\"revoked\":[]}", "more"},
        {"{\"iss\":\"i\",\"seq\":1,\"full\":true,\"revoked\":{}}", "revoked"},
        {"{\"iss\":\"i\",\"seq\":1,\"full\":true,\"revoked\":[{\"jti\":\"a b\",\"exp\":1}]}",
         "revoked"},
        {"{\"iss\":\"i\",\"seq\":1,\"full\":true,\"revoked\":[{\"jti\":\"\",\"exp\":1}]}",
         "revoked"},
        {"{\"iss\":\"i\",\"seq\":1,\"full\":true,\"revoked\":[{\"jti\":\"a\",\"exp\":\"1\"}]}",
         "revoked"},
        {"{\"iss\":\"i\",\"seq\":1,\"full\":true,\"revoked\":[7]}", "revoked"},
        {"[1]", "payload"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ts_authn__revlist l;
        ts_error err;
        ts_error_clear(&err);
        assert_int_equal(ts_authn__revlist_parse(bad[i].json, strlen(bad[i].json), &l, &err),
                         TS_EINVAL);
        assert_string_equal(err.where, bad[i].where);
    }
    /* A jti longer than 255 bytes. */
    char big[400];
    memset(big, 'x', sizeof big);
    int n = snprintf(big, sizeof big,
                     "{\"iss\":\"i\",\"seq\":1,\"full\":true,\"revoked\":[{\"jti\":\"");
    memset(big + n, 'a', 256);
    snprintf(big + n + 256, sizeof big - (size_t)n - 256, "\",\"exp\":1}]}");
    ts_authn__revlist l;
    assert_int_equal(ts_authn__revlist_parse(big, strlen(big), &l, NULL), TS_EINVAL);
    /* More than TS_AUTHN_REVOCATIONS_MAX_BATCH entries in one answer. */
    size_t cap = (size_t)TS_AUTHN_REVOCATIONS_MAX_BATCH * 32 + 128, o = 0;
    char *huge = malloc(cap);
    o += (size_t)snprintf(huge, cap, "{\"iss\":\"i\",\"seq\":1,\"full\":true,\"revoked\":[");
    for (unsigned i = 0; i <= TS_AUTHN_REVOCATIONS_MAX_BATCH; i++)
        o += (size_t)snprintf(huge + o, cap - o, "%s{\"jti\":\"j%u\",\"exp\":9}", i ? "," : "", i);
    snprintf(huge + o, cap - o, "]}");
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_authn__revlist_parse(huge, strlen(huge), &l, &err), TS_EINVAL);
    assert_string_equal(err.where, "revoked");
    free(huge);
    const char *ok = "{\"iss\":\"i\",\"seq\":3,\"since\":1,\"full\":false,\"more\":true,"
                     "\"revoked\":[{\"jti\":\"a\",\"exp\":5},{\"jti\":\"b\",\"exp\":6}]}";
    assert_int_equal(ts_authn__revlist_parse(ok, strlen(ok), &l, NULL), TS_OK);
    assert_int_equal(l.n, 2);
    assert_true(l.more);
    assert_false(l.full);
    assert_int_equal(l.since, 1);
    assert_int_equal(l.e[1].exp, 6);
    ts_authn__revlist_clear(&l);
}

static void signature_typ_issuer(void **state)
{
    fx *f = *state;
    ts_authn_revocations *rs = source(f, false);
    const char *p = "{\"iss\":\"https://issuer.test\",\"iat\":1,\"seq\":1,\"full\":true,"
                    "\"revoked\":[{\"jti\":\"j-1\",\"exp\":1800000000}]}";
    ts_error err;
    char *a = answer_by(f, f->other, "revocation-list+jwt", p);
    ts_error_clear(&err);
    assert_int_equal(ts_authn_revocations_apply(rs, a, strlen(a), &err), TS_EINVAL);
    assert_string_equal(err.where, "signature");
    ts_free(a);
    a = answer_by(f, f->key, "at+jwt", p); /* an access token is not a list */
    assert_int_equal(ts_authn_revocations_apply(rs, a, strlen(a), &err), TS_EINVAL);
    assert_string_equal(err.where, "header");
    ts_free(a);
    /* A payload changed after signing. */
    a = answer_by(f, f->key, "revocation-list+jwt", p);
    char *d = strchr(a, '.');
    d[2] = d[2] == 'A' ? 'B' : 'A';
    assert_int_equal(ts_authn_revocations_apply(rs, a, strlen(a), &err), TS_EINVAL);
    ts_free(a);
    assert_int_equal(apply(f, rs,
                           "{\"iss\":\"https://other.test\",\"seq\":1,\"full\":true,\"revoked\":"
                           "[]}",
                           &err),
                     TS_EINVAL);
    assert_string_equal(err.where, "iss");
    /* Nothing applied: still unavailable (fail-closed, no list yet). */
    assert_int_equal(check(rs, "j-1"), TS_AUTHN_REVOCATIONS_UNAVAILABLE);
    assert_int_equal(apply(f, rs, p, &err), TS_OK);
    assert_int_equal(check(rs, "j-1"), TS_AUTHN_REVOKED);
    assert_int_equal(check(rs, "j-2"), TS_AUTHN_OK);
    assert_int_equal(ts_authn_revocations_check(rs, NULL, 0), TS_AUTHN_OK);
    ts_authn_revocations_free(rs);
}

static void deltas_and_expiry(void **state)
{
    fx *f = *state;
    ts_authn_revocations *rs = source(f, false);
    ts_error err;
    char p[512];
    snprintf(p, sizeof p,
             "{\"iss\":\"https://issuer.test\",\"seq\":4,\"full\":true,\"revoked\":["
             "{\"jti\":\"a\",\"exp\":%lld},{\"jti\":\"b\",\"exp\":%lld},{\"jti\":\"old\","
             "\"exp\":%lld}]}",
             TK_NOW + 100, TK_NOW + 10, TK_NOW - 1);
    assert_int_equal(apply(f, rs, p, &err), TS_OK);
    assert_int_equal(ts_authn_revocations_cursor(rs), 4);
    assert_int_equal(ts_authn_revocations_count(rs), 2); /* "old" expired already */
    /* A delta that does not start at the cursor is refused, nothing applied. */
    snprintf(p, sizeof p,
             "{\"iss\":\"https://issuer.test\",\"seq\":9,\"since\":3,\"full\":false,"
             "\"revoked\":[{\"jti\":\"c\",\"exp\":%lld}]}",
             TK_NOW + 100);
    assert_int_equal(apply(f, rs, p, &err), TS_EINVAL);
    assert_string_equal(err.where, "since");
    assert_int_equal(check(rs, "c"), TS_AUTHN_OK);
    /* Later, b has expired: the next delta drops it and adds c. */
    f->now = TK_NOW + 20;
    snprintf(p, sizeof p,
             "{\"iss\":\"https://issuer.test\",\"seq\":9,\"since\":4,\"full\":false,"
             "\"revoked\":[{\"jti\":\"c\",\"exp\":%lld}]}",
             TK_NOW + 100);
    assert_int_equal(apply(f, rs, p, &err), TS_OK);
    assert_int_equal(ts_authn_revocations_cursor(rs), 9);
    assert_int_equal(ts_authn_revocations_count(rs), 2);
    assert_int_equal(check(rs, "a"), TS_AUTHN_REVOKED);
    assert_int_equal(check(rs, "b"), TS_AUTHN_OK);
    assert_int_equal(check(rs, "c"), TS_AUTHN_REVOKED);
    /* A full list replaces everything. */
    assert_int_equal(
        apply(f, rs, "{\"iss\":\"https://issuer.test\",\"seq\":12,\"full\":true,\"revoked\":[]}",
              &err),
        TS_OK);
    assert_int_equal(check(rs, "a"), TS_AUTHN_OK);
    assert_int_equal(ts_authn_revocations_count(rs), 0);
    ts_authn_revocations_free(rs);
}

static void staleness(void **state)
{
    fx *f = *state;
    ts_authn_revocations *closed = source(f, false), *open = source(f, true);
    ts_error err;
    const char *p = "{\"iss\":\"https://issuer.test\",\"seq\":1,\"full\":true,\"revoked\":"
                    "[{\"jti\":\"a\",\"exp\":1800000000}]}";
    assert_int_equal(check(closed, "x"), TS_AUTHN_REVOCATIONS_UNAVAILABLE);
    assert_int_equal(check(open, "x"), TS_AUTHN_OK);
    assert_int_equal(apply(f, closed, p, &err), TS_OK);
    assert_int_equal(apply(f, open, p, &err), TS_OK);
    assert_int_equal(check(closed, "x"), TS_AUTHN_OK);
    f->now += 61; /* max_stale_s 60 */
    assert_int_equal(check(closed, "x"), TS_AUTHN_REVOCATIONS_UNAVAILABLE);
    assert_int_equal(check(open, "x"), TS_AUTHN_OK);
    assert_int_equal(check(open, "a"), TS_AUTHN_REVOKED); /* the last list still counts */
    /* An empty delta at the cursor makes the list fresh again. */
    assert_int_equal(apply(f, closed,
                           "{\"iss\":\"https://issuer.test\",\"seq\":1,\"since\":1,\"full\":false,"
                           "\"revoked\":[]}",
                           &err),
                     TS_OK);
    assert_int_equal(check(closed, "x"), TS_AUTHN_OK);
    assert_int_equal(ts_authn_refusal_status(TS_AUTHN_REVOCATIONS_UNAVAILABLE), 503);
    assert_int_equal(ts_authn_refusal_status(TS_AUTHN_REVOKED), 401);
    assert_string_equal(ts_authn_reason_str(TS_AUTHN_REVOKED), "revoked");
    ts_authn_revocations_free(closed);
    ts_authn_revocations_free(open);
}

static void verifier_refuses_cached(void **state)
{
    fx *f = *state;
    ts_authn_revocations *rs = source(f, false);
    ts_authn_options o = TS_AUTHN_OPTIONS_INIT;
    o.issuers = iss;
    o.n_issuers = 1;
    o.audiences = aud;
    o.n_audiences = 1;
    o.keys = f->keys;
    o.now = tk_clock;
    o.now_ud = &f->now;
    o.revocations = rs;
    ts_error err;
    ts_authn_verifier *v = ts_authn_verifier_new(&o, &err);
    assert_non_null(v);
    char hdr[256], claims[1024];
    tk_header(hdr, sizeof hdr, f->key, TS_JWS_ES256);
    tk_claims(claims, sizeof claims, NULL); /* jti j-1 */
    char *tok = tk_mint(f->key, TS_JWS_ES256, hdr, claims);
    ts_authn_principal *p = NULL;
    /* Fail-closed without a list: 503-class refusal. */
    assert_int_equal(ts_authn_verify(v, tok, strlen(tok), &p, NULL, NULL),
                     TS_AUTHN_REVOCATIONS_UNAVAILABLE);
    assert_null(p);
    assert_int_equal(
        apply(f, rs, "{\"iss\":\"https://issuer.test\",\"seq\":1,\"full\":true,\"revoked\":[]}",
              &err),
        TS_OK);
    assert_int_equal(ts_authn_verify(v, tok, strlen(tok), &p, NULL, NULL), TS_AUTHN_OK);
    ts_authn_principal_free(p);
    p = ts_authn__verify_cached(v, tok, strlen(tok));
    assert_non_null(p); /* cached */
    ts_authn_principal_free(p);
    assert_int_equal(apply(f, rs,
                           "{\"iss\":\"https://issuer.test\",\"seq\":2,\"since\":1,\"full\":false,"
                           "\"revoked\":[{\"jti\":\"j-1\",\"exp\":1800000000}]}",
                           &err),
                     TS_OK);
    assert_null(ts_authn__verify_cached(v, tok, strlen(tok)));
    ts_error_clear(&err);
    assert_int_equal(ts_authn_verify(v, tok, strlen(tok), &p, NULL, &err), TS_AUTHN_REVOKED);
    assert_null(p);
    assert_string_equal(err.where, "jti");
    ts_free(tok);
    ts_authn_verifier_free(v);
    ts_authn_revocations_free(rs);
}

typedef struct reader {
    ts_authn_revocations *rs;
    atomic_bool *stop;
    unsigned long seen;
} reader;

static void *read_loop(void *arg)
{
    reader *r = arg;
    while (!atomic_load(r->stop)) {
        ts_authn_reason x = ts_authn_revocations_check(r->rs, "j0", 2);
        r->seen += x == TS_AUTHN_REVOKED;
        (void)ts_authn_revocations_check(r->rs, "nope", 4);
    }
    return NULL;
}

static void concurrent_refresh(void **state)
{
    fx *f = *state;
    ts_authn_revocations *rs = source(f, true);
    ts_error err;
    assert_int_equal(apply(f, rs,
                           "{\"iss\":\"https://issuer.test\",\"seq\":0,\"full\":true,\"revoked\":"
                           "[{\"jti\":\"j0\",\"exp\":1800000000}]}",
                           &err),
                     TS_OK);
    atomic_bool stop;
    atomic_init(&stop, false);
    reader rd[2] = {{rs, &stop, 0}, {rs, &stop, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, read_loop, &rd[i]), 0);
    for (unsigned i = 1; i <= 50; i++) {
        char p[256];
        snprintf(p, sizeof p,
                 "{\"iss\":\"https://issuer.test\",\"seq\":%u,\"since\":%u,\"full\":false,"
                 "\"revoked\":[{\"jti\":\"j%u\",\"exp\":1800000000}]}",
                 i, i - 1, i);
        assert_int_equal(apply(f, rs, p, &err), TS_OK);
    }
    atomic_store(&stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(ts_authn_revocations_count(rs), 51);
    assert_true(rd[0].seen > 0 || rd[1].seen > 0);
    ts_authn_revocations_free(rs);
}

static void options_refused(void **state)
{
    fx *f = *state;
    ts_authn_revocations_options o = TS_AUTHN_REVOCATIONS_OPTIONS_INIT;
    ts_error err;
    assert_null(ts_authn_revocations_new(&o, &err));
    assert_string_equal(err.where, "issuer");
    o.issuer = iss[0];
    assert_null(ts_authn_revocations_new(&o, &err));
    assert_string_equal(err.where, "keys");
    o.keys = f->keys;
    o.url = "http://example.com/oauth/revocations";
    assert_null(ts_authn_revocations_new(&o, &err));
    assert_string_equal(err.where, "url");
    o.url = NULL;
    o.poll_interval_ms = 10;
    assert_null(ts_authn_revocations_new(&o, &err));
    assert_string_equal(err.where, "poll_interval_ms");
    ts_authn_revocations_free(NULL);
    assert_int_equal(ts_authn_revocations_check(NULL, "a", 1), TS_AUTHN_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_bounds),
        cmocka_unit_test_setup_teardown(signature_typ_issuer, setup, teardown),
        cmocka_unit_test_setup_teardown(deltas_and_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(staleness, setup, teardown),
        cmocka_unit_test_setup_teardown(verifier_refuses_cached, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_refresh, setup, teardown),
        cmocka_unit_test_setup_teardown(options_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
