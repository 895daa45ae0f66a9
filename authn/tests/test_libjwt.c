/* Independent check: libjwt 1.10.2 (Debian) decodes and verifies our RS256 and ES256 tokens,
   and the key-confusion token that libjwt accepts is refused by our verifier. */
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "testkit.h"

#ifdef TS_HAVE_LIBJWT
#include <jwt.h>

static char *public_pem(const ts_jwk *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(b, k->pkey), 1);
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    char *out = malloc((size_t)n + 1);
    memcpy(out, data, (size_t)n);
    out[n] = 0;
    BIO_free(b);
    return out;
}

static void test_libjwt_decodes_ours(void **state)
{
    (void)state;
    ts_jws_alg algs[] = {TS_JWS_RS256, TS_JWS_ES256, TS_JWS_RS512, TS_JWS_ES384};
    for (size_t i = 0; i < 4; i++) {
        ts_jwk *k = ts_jwk_generate(algs[i], NULL);
        char claims[1024];
        tk_claims(claims, sizeof claims, "\"name\":\"Zo\\u00eb\"");
        char *tok = NULL;
        /* libjwt 1.10.2 accepts only typ "JWT". */
        assert_int_equal(ts_jws_sign(k, algs[i], "JWT", claims, strlen(claims), &tok, NULL, NULL),
                         TS_OK);
        char *pem = public_pem(k);
        jwt_t *j = NULL;
        int rc = jwt_decode(&j, tok, (const unsigned char *)pem, (int)strlen(pem));
        if (rc != 0)
            fail_msg("libjwt rejected our %s token: %d", ts_jws_alg_name(algs[i]), rc);
        assert_string_equal(jwt_alg_str(jwt_get_alg(j)), ts_jws_alg_name(algs[i]));
        assert_string_equal(jwt_get_grant(j, "sub"), "alice");
        assert_string_equal(jwt_get_grant(j, "name"), "Zo\xc3\xab");
        assert_int_equal(jwt_get_grant_int(j, "exp"), TK_NOW + 3600);
        assert_string_equal(jwt_get_header(j, "kid"), ts_jwk_kid(k));
        jwt_free(j);
        /* A flipped signature byte is refused by libjwt too. */
        char *c = strrchr(tok, '.') + 8;
        *c = *c == 'A' ? 'B' : 'A';
        j = NULL;
        assert_int_not_equal(jwt_decode(&j, tok, (const unsigned char *)pem, (int)strlen(pem)), 0);
        jwt_free(j);
        free(pem);
        ts_free(tok);
        ts_jwk_free(k);
    }
}

static void test_key_confusion_contrast(void **state)
{
    (void)state;
    ts_jwk *k = ts_jwk_generate(TS_JWS_RS256, NULL);
    char *pem = public_pem(k);
    /* HS256 MACed with the public PEM: libjwt 1.10.2 takes alg from the header and accepts. */
    char header[256], claims[1024];
    snprintf(header, sizeof header, "{\"alg\":\"HS256\",\"kid\":\"%s\",\"typ\":\"JWT\"}",
             ts_jwk_kid(k));
    tk_claims(claims, sizeof claims, NULL);
    char *h = NULL, *p = NULL, *s = NULL;
    assert_int_equal(ts_b64url_encode(header, strlen(header), &h, NULL, NULL), TS_OK);
    assert_int_equal(ts_b64url_encode(claims, strlen(claims), &p, NULL, NULL), TS_OK);
    char input[4096];
    snprintf(input, sizeof input, "%s.%s", h, p);
    unsigned char mac[32];
    unsigned int ml = 0;
    HMAC(EVP_sha256(), pem, (int)strlen(pem), (const unsigned char *)input, strlen(input), mac,
         &ml);
    assert_int_equal(ts_b64url_encode(mac, ml, &s, NULL, NULL), TS_OK);
    char tok[4096 + 128];
    int tl = snprintf(tok, sizeof tok, "%s.%s", input, s);
    assert_true(tl > 0 && (size_t)tl < sizeof tok);
    jwt_t *j = NULL;
    int rc = jwt_decode(&j, tok, (const unsigned char *)pem, (int)strlen(pem));
    print_message("libjwt 1.10.2 on the HS256/public-PEM token: rc=%d\n", rc);
    jwt_free(j);
    ts_jwks *set = ts_jwks_new(&k, 1, NULL);
    const char *iss[] = {"https://issuer.test"}, *aud[] = {"svc-a"};
    ts_authn_options o = TS_AUTHN_OPTIONS_INIT;
    o.issuers = iss;
    o.n_issuers = 1;
    o.audiences = aud;
    o.n_audiences = 1;
    o.keys = set;
    o.now = tk_clock;
    ts_authn_verifier *v = ts_authn_verifier_new(&o, NULL);
    ts_authn_principal *pr = NULL;
    assert_int_equal(ts_authn_verify(v, tok, strlen(tok), &pr, NULL, NULL),
                     TS_AUTHN_ALG_NOT_ALLOWED);
    ts_authn_verifier_free(v);
    ts_jwks_free(set);
    ts_free(h);
    ts_free(p);
    ts_free(s);
    free(pem);
    ts_jwk_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_libjwt_decodes_ours),
        cmocka_unit_test(test_key_confusion_contrast),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
#else
int main(void)
{
    printf("libjwt (libjwt-dev) not installed: skipping\n");
    return 77;
}
#endif
