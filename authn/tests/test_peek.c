/* ts_authn_peek_issuer(): the unverified iss under the verifier's bounds. Each refusal is one
   exact reason, the verifier refuses every token peek refuses (a token must never be routed on
   an issuer that the verifier would not even read), and nothing else of the token matters. */
#define _POSIX_C_SOURCE 200809L
#include "testkit.h"

/* A value that a call must overwrite. */
static char untouched[] = "untouched";

static ts_jwk *key;
static ts_jwks *set;
static ts_authn_verifier *verifier;

static int setup(void **state)
{
    (void)state;
    key = ts_jwk_generate(TS_JWS_ES256, NULL);
    if (!key)
        return -1;
    ts_jwk *keys[] = {key};
    set = ts_jwks_new(keys, 1, NULL);
    static const char *iss[] = {"https://issuer.test"}, *aud[] = {"svc-a"};
    ts_authn_options o = TS_AUTHN_OPTIONS_INIT;
    o.issuers = iss;
    o.n_issuers = 1;
    o.audiences = aud;
    o.n_audiences = 1;
    o.keys = set;
    o.now = tk_clock;
    verifier = ts_authn_verifier_new(&o, NULL);
    return set && verifier ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    ts_authn_verifier_free(verifier);
    ts_jwks_free(set);
    ts_jwk_free(key);
    return 0;
}

static char *mint(const char *payload)
{
    char hdr[256];
    tk_header(hdr, sizeof hdr, key, TS_JWS_ES256);
    return tk_mint(key, TS_JWS_ES256, hdr, payload);
}

/* Peek at @p tok; on a refusal the verifier must refuse it too. */
static ts_authn_reason peek(const char *tok, size_t len, char **iss, ts_error *err)
{
    ts_authn_reason r = ts_authn_peek_issuer(tok, len, 0, iss, err);
    if (r != TS_AUTHN_OK) {
        assert_null(*iss);
        ts_authn_principal *p = NULL;
        ts_authn_reason v = ts_authn_verify(verifier, tok, len, &p, NULL, NULL);
        if (v == TS_AUTHN_OK)
            fail_msg("peek refused (%s) what the verifier accepts", ts_authn_reason_str(r));
        ts_authn_principal_free(p);
    }
    return r;
}

static void test_issuer(void **state)
{
    (void)state;
    char claims[512];
    tk_claims(claims, sizeof claims, NULL);
    char *tok = mint(claims);
    char *iss = NULL;
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(peek(tok, strlen(tok), &iss, &err), TS_AUTHN_OK);
    assert_string_equal(iss, "https://issuer.test");
    ts_free(iss);
    /* (pointer, length): bytes after the token are not read. */
    size_t n = strlen(tok);
    char *padded = malloc(n + 8);
    memcpy(padded, tok, n);
    memcpy(padded + n, ".x.y.zz", 8);
    assert_int_equal(peek(padded, n, &iss, NULL), TS_AUTHN_OK);
    assert_string_equal(iss, "https://issuer.test");
    ts_free(iss);
    free(padded);
    /* The signature is not looked at: a forged token names its issuer all the same (which is
       why the result is a lookup key and never a verdict). */
    char *forged = strdup(tok);
    char *sig = strrchr(forged, '.') + 1;
    sig[0] = sig[0] == 'A' ? 'B' : 'A';
    assert_int_equal(ts_authn_peek_issuer(forged, strlen(forged), 0, &iss, NULL), TS_AUTHN_OK);
    assert_string_equal(iss, "https://issuer.test");
    ts_free(iss);
    ts_authn_principal *p = NULL;
    assert_int_equal(ts_authn_verify(verifier, forged, strlen(forged), &p, NULL, NULL),
                     TS_AUTHN_BAD_SIGNATURE);
    free(forged);
    ts_free(tok);
    /* Escapes are decoded: the issuer as the verifier compares it. */
    tok = mint("{\"iss\":\"https:\\/\\/issuer.t\\u0065st\",\"sub\":\"a\"}");
    assert_int_equal(peek(tok, strlen(tok), &iss, NULL), TS_AUTHN_OK);
    assert_string_equal(iss, "https://issuer.test");
    ts_free(iss);
    ts_free(tok);
}

/* Claims that name no issuer. */
static void test_claim_refusals(void **state)
{
    (void)state;
    const struct {
        const char *payload;
        ts_authn_reason r;
        const char *where;
    } cases[] = {
        {"{\"sub\":\"a\"}", TS_AUTHN_MISSING_CLAIM, "iss"},
        {"{\"iss\":5}", TS_AUTHN_INVALID_CLAIM, "iss"},
        {"{\"iss\":null}", TS_AUTHN_INVALID_CLAIM, "iss"},
        {"{\"iss\":[\"https://issuer.test\"]}", TS_AUTHN_INVALID_CLAIM, "iss"},
        {"{\"iss\":\"\"}", TS_AUTHN_INVALID_CLAIM, "iss"},
        /* A NUL would cut the name short ("https://issuer.test" must not be picked): the
           parser refuses the escape, as the verifier's does. */
        {"{\"iss\":\"https://issuer.test\\u0000.evil\"}", TS_AUTHN_MALFORMED, "payload"},
        /* Duplicate members: the verifier refuses them, so peek may not pick either one. */
        {"{\"iss\":\"https://evil\",\"iss\":\"https://issuer.test\"}", TS_AUTHN_MALFORMED,
         "payload"},
        {"[\"https://issuer.test\"]", TS_AUTHN_MALFORMED, "payload"},
        {"\"https://issuer.test\"", TS_AUTHN_MALFORMED, "payload"},
        {"{\"iss\":\"https://issuer.test\"", TS_AUTHN_MALFORMED, "payload"},
        {"{\"iss\":\"https://issuer.test\"} x", TS_AUTHN_MALFORMED, "payload"},
        {"{\"iss\":\"https://issuer.test\",\"a\":[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]}",
         TS_AUTHN_MALFORMED, "payload"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *tok = mint(cases[i].payload);
        char *iss = untouched;
        ts_error err;
        ts_error_clear(&err);
        ts_authn_reason r = peek(tok, strlen(tok), &iss, &err);
        if (r != cases[i].r)
            fail_msg("%s: %s, want %s (%s)", cases[i].payload, ts_authn_reason_str(r),
                     ts_authn_reason_str(cases[i].r), err.msg);
        assert_string_equal(err.where, cases[i].where);
        ts_free(tok);
    }
}

/* The structure and the bounds, as the verifier judges them. */
static void test_structure_refusals(void **state)
{
    (void)state;
    char claims[512];
    tk_claims(claims, sizeof claims, NULL);
    char *good = mint(claims);
    const char *d1 = strchr(good, '.'), *d2 = strchr(d1 + 1, '.');
    char hdr[256], pay[1024], sig[256];
    snprintf(hdr, sizeof hdr, "%.*s", (int)(d1 - good), good);
    snprintf(pay, sizeof pay, "%.*s", (int)(d2 - d1 - 1), d1 + 1);
    snprintf(sig, sizeof sig, "%s", d2 + 1);
    char t[8][2048];
    snprintf(t[0], sizeof t[0], "%s.%s", hdr, pay);           /* two parts */
    snprintf(t[1], sizeof t[1], "%s.%s.%s.x", hdr, pay, sig); /* four parts */
    snprintf(t[2], sizeof t[2], ".%s.%s", pay, sig);          /* empty header */
    snprintf(t[3], sizeof t[3], "%s..%s", hdr, sig);          /* empty payload */
    snprintf(t[4], sizeof t[4], "%s=.%s.%s", hdr, pay, sig);  /* padding in the header */
    snprintf(t[5], sizeof t[5], "%s.%s=.%s", hdr, pay, sig);  /* padding in the payload */
    snprintf(t[6], sizeof t[6], "%s.+%s.%s", hdr, pay, sig);  /* base64, not base64url */
    snprintf(t[7], sizeof t[7], "%s.%s .%s", hdr, pay, sig);  /* white space */
    static const char *const where[] = {"token",  "token",   "token",   "token",
                                        "header", "payload", "payload", "payload"};
    for (size_t i = 0; i < 8; i++) {
        char *iss = NULL;
        ts_error err;
        ts_error_clear(&err);
        ts_authn_reason r = peek(t[i], strlen(t[i]), &iss, &err);
        if (r != TS_AUTHN_MALFORMED)
            fail_msg("case %zu: %s (%s)", i, ts_authn_reason_str(r), err.msg);
        assert_string_equal(err.where, where[i]);
    }
    ts_free(good);

    /* A header over 8 KiB (decoded) is refused before the payload is read. */
    size_t big = 8300;
    char *h = malloc(big + 64);
    int hn = snprintf(h, big + 64, "{\"alg\":\"ES256\",\"kid\":\"%s\",\"x\":\"", ts_jwk_kid(key));
    memset(h + hn, 'a', big - (size_t)hn);
    memcpy(h + big, "\"}", 3);
    char *tok = tk_mint(key, TS_JWS_ES256, h, claims);
    char *iss = NULL;
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(peek(tok, strlen(tok), &iss, &err), TS_AUTHN_MALFORMED);
    assert_int_equal(err.code, TS_ELIMIT);
    assert_string_equal(err.where, "header");
    ts_free(tok);
    free(h);
}

/* Size: the default cap, a caller's cap, and nothing at all. */
static void test_size(void **state)
{
    (void)state;
    char *pad = malloc(20000), claims[21000];
    memset(pad, 'p', 19999);
    pad[19999] = '\0';
    snprintf(claims, sizeof claims, "{\"iss\":\"https://issuer.test\",\"pad\":\"%.*s\"}", 11500,
             pad);
    char *tok = mint(claims); /* about 15.5 KiB */
    size_t n = strlen(tok);
    assert_true(n > 15000 && n <= TS_AUTHN_DEFAULT_MAX_TOKEN_BYTES);
    char *iss = NULL;
    assert_int_equal(peek(tok, n, &iss, NULL), TS_AUTHN_OK);
    ts_free(iss);
    ts_free(tok);
    snprintf(claims, sizeof claims, "{\"iss\":\"https://issuer.test\",\"pad\":\"%s\"}", pad);
    tok = mint(claims); /* about 27 KiB */
    n = strlen(tok);
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(peek(tok, n, &iss, &err), TS_AUTHN_TOO_LARGE);
    assert_int_equal(err.code, TS_ELIMIT);
    assert_int_equal(ts_authn_peek_issuer(tok, n, n - 1, &iss, NULL), TS_AUTHN_TOO_LARGE);
    assert_int_equal(ts_authn_peek_issuer(tok, n, n, &iss, NULL), TS_AUTHN_OK);
    assert_string_equal(iss, "https://issuer.test");
    ts_free(iss);
    ts_free(tok);
    free(pad);

    iss = untouched;
    assert_int_equal(ts_authn_peek_issuer(NULL, 0, 0, &iss, NULL), TS_AUTHN_MISSING_TOKEN);
    assert_null(iss);
    assert_int_equal(ts_authn_peek_issuer("", 0, 0, &iss, NULL), TS_AUTHN_MISSING_TOKEN);
    assert_int_equal(ts_authn_peek_issuer("a.b.c", 5, 0, NULL, NULL), TS_AUTHN_INTERNAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_issuer),
        cmocka_unit_test(test_claim_refusals),
        cmocka_unit_test(test_structure_refusals),
        cmocka_unit_test(test_size),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
