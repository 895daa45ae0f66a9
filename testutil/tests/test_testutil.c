/* tokensmith-testutil against the real authn verifier and authz loader: tokens it mints pass,
   every flaw is refused for its own reason, the JWKS server feeds a remote key source, and
   fragment directories load as policy. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <tokensmith/authn.h>
#include <tokensmith/testutil.h>

static const char *const issuers[] = {TS_TESTUTIL_ISSUER};
static const char *const audiences[] = {TS_TESTUTIL_AUDIENCE};

static ts_authn_verifier *verifier_for(const ts_jwks *keys, ts_authn_keysource *ks, bool nist)
{
    ts_authn_options o = TS_AUTHN_OPTIONS_INIT;
    o.issuers = issuers;
    o.n_issuers = 1;
    o.audiences = audiences;
    o.n_audiences = 1;
    o.keys = keys;
    o.keysource = ks;
    o.require_nist_claims = nist;
    o.require_rfc7638_kid = true;
    o.disable_cache = true;
    ts_error err;
    ts_error_clear(&err);
    ts_authn_verifier *v = ts_authn_verifier_new(&o, &err);
    if (!v)
        fail_msg("verifier: %s", err.msg);
    return v;
}

static ts_authn_reason verify(const ts_authn_verifier *v, const char *tok, ts_authn_principal **p)
{
    ts_authn_principal *tmp = NULL;
    ts_authn_reason r = ts_authn_verify(v, tok, strlen(tok), p ? p : &tmp, NULL, NULL);
    ts_authn_principal_free(tmp);
    return r;
}

static void test_keys(void **state)
{
    (void)state;
    static const struct {
        ts_jws_alg alg;
        ts_jwk_type kty;
        const char *curve;
        unsigned bits;
    } cases[] = {{TS_JWS_PS256, TS_JWK_RSA, NULL, 2048},
                 {TS_JWS_RS256, TS_JWK_RSA, NULL, 2048},
                 {TS_JWS_ES256, TS_JWK_EC, "P-256", 256},
                 {TS_JWS_ES384, TS_JWK_EC, "P-384", 384},
                 {TS_JWS_ES512, TS_JWK_EC, "P-521", 521}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ts_error err;
        ts_error_clear(&err);
        ts_testutil_key *k = ts_testutil_key_new(cases[i].alg, &err);
        assert_non_null(k);
        const ts_jwk *j = ts_testutil_key_jwk(k);
        assert_int_equal(ts_jwk_kty(j), cases[i].kty);
        assert_int_equal(ts_jwk_bits(j), cases[i].bits);
        if (cases[i].curve)
            assert_string_equal(ts_jwk_curve(j), cases[i].curve);
        assert_true(ts_jwk_is_private(j));
        assert_int_equal(ts_jwk_alg(j), cases[i].alg);
        assert_string_equal(ts_testutil_key_kid(k), ts_jwk_thumbprint(j));
        /* Both PEM forms name the same key. */
        char *pub = ts_testutil_key_public_pem(k, &err),
             *priv = ts_testutil_key_private_pem(k, &err);
        assert_non_null(pub);
        assert_non_null(priv);
        ts_jwk *a = ts_jwk_from_pem(pub, strlen(pub), &err),
               *b = ts_jwk_from_pem(priv, strlen(priv), &err);
        assert_non_null(a);
        assert_non_null(b);
        assert_false(ts_jwk_is_private(a));
        assert_string_equal(ts_jwk_thumbprint(a), ts_testutil_key_kid(k));
        assert_string_equal(ts_jwk_thumbprint(b), ts_testutil_key_kid(k));
        ts_jwk_free(a);
        ts_jwk_free(b);
        ts_free(pub);
        ts_free(priv);
        ts_testutil_key_free(k);
    }
    /* Two keys are never the same key. */
    ts_testutil_key *x = ts_testutil_key_p256(NULL), *y = ts_testutil_key_p256(NULL);
    assert_string_not_equal(ts_testutil_key_kid(x), ts_testutil_key_kid(y));
    ts_testutil_key_free(x);
    ts_testutil_key_free(y);
    ts_error err;
    ts_error_clear(&err);
    assert_null(ts_testutil_key_new(TS_JWS_ALG_UNKNOWN, &err));
    assert_int_equal(err.code, TS_EINVAL);
    ts_testutil_key_free(NULL);
}

/* Tokens of every algorithm verify with authn, from a key set and the claims asked for. */
static void test_builder_verifies(void **state)
{
    (void)state;
    enum { N = 9 };
    const ts_jws_alg algs[N] = {TS_JWS_RS256, TS_JWS_RS384, TS_JWS_RS512,
                                TS_JWS_PS256, TS_JWS_PS384, TS_JWS_PS512,
                                TS_JWS_ES256, TS_JWS_ES384, TS_JWS_ES512};
    ts_testutil_key *keys[N];
    for (size_t i = 0; i < N; i++)
        assert_non_null(keys[i] = ts_testutil_key_new(algs[i], NULL));
    ts_jwks *set = ts_testutil_jwks((const ts_testutil_key *const *)keys, N, NULL);
    assert_non_null(set);
    assert_int_equal(ts_jwks_count(set), N);
    assert_false(ts_jwk_is_private(ts_jwks_get(set, 0)));
    ts_authn_verifier *v = verifier_for(set, NULL, false);
    for (size_t i = 0; i < N; i++) {
        ts_error err;
        ts_error_clear(&err);
        ts_testutil_token *b = ts_testutil_token_new(keys[i], &err);
        assert_non_null(b);
        const char *roles[] = {"viewer", "auditor"};
        assert_int_equal(ts_testutil_token_set_roles(b, roles, 2, &err), TS_OK);
        assert_int_equal(ts_testutil_token_set_scope(b, "read write", &err), TS_OK);
        assert_int_equal(ts_testutil_token_set_subject(b, "carol", &err), TS_OK);
        assert_int_equal(ts_testutil_token_set_claim_json(b, "ctx", "{\"n\":[1,2]}", &err), TS_OK);
        assert_int_equal(ts_testutil_token_set_claim_string(b, "principal_type", "service", &err),
                         TS_OK);
        char *tok = ts_testutil_token_mint(b, TS_TESTUTIL_FLAW_NONE, &err);
        assert_non_null(tok);
        ts_authn_principal *p = NULL;
        ts_authn_reason r = verify(v, tok, &p);
        if (r != TS_AUTHN_OK)
            fail_msg("%s: %s", ts_jws_alg_name(algs[i]), ts_authn_reason_str(r));
        assert_string_equal(ts_authn_principal_id(p), "carol");
        assert_int_equal(ts_authn_principal_type_of(p), TS_AUTHN_PRINCIPAL_SERVICE);
        size_t n = 0;
        const char *const *got = ts_authn_principal_roles(p, &n);
        assert_int_equal(n, 2);
        assert_string_equal(got[0], "viewer");
        assert_string_equal(got[1], "auditor");
        assert_true(ts_authn_principal_has_scope(p, "write"));
        assert_non_null(strstr(ts_authn_principal_claims_json(p), "\"ctx\":{\"n\":[1,2]}"));
        assert_string_equal(ts_authn_principal_kid(p), ts_testutil_key_kid(keys[i]));
        ts_authn_principal_free(p);
        ts_free(tok);
        ts_testutil_token_free(b);
    }
    /* The published JWK names its algorithm: a PS256 key signing RS256 is refused. */
    ts_testutil_token *b = ts_testutil_token_new(keys[3], NULL);
    assert_int_equal(ts_testutil_token_set_alg(b, TS_JWS_RS256, NULL), TS_OK);
    assert_int_not_equal(ts_testutil_token_set_alg(b, TS_JWS_ES256, NULL), TS_OK);
    char *tok = ts_testutil_token_mint(b, TS_TESTUTIL_FLAW_NONE, NULL);
    assert_int_equal(verify(v, tok, NULL), TS_AUTHN_ALG_NOT_ALLOWED);
    ts_free(tok);
    ts_testutil_token_free(b);
    ts_authn_verifier_free(v);
    ts_jwks_free(set);
    for (size_t i = 0; i < N; i++)
        ts_testutil_key_free(keys[i]);
}

/* One builder: a valid token and each flaw, refused for exactly its reason. */
static void test_flaws(void **state)
{
    (void)state;
    ts_testutil_key *k = ts_testutil_key_p256(NULL);
    const ts_testutil_key *keys[] = {k};
    ts_jwks *set = ts_testutil_jwks(keys, 1, NULL);
    ts_authn_verifier *v = verifier_for(set, NULL, true);
    ts_testutil_token *b = ts_testutil_token_new(k, NULL);
    assert_int_equal(ts_testutil_token_set_nist(b, NULL), TS_OK);
    static const struct {
        ts_testutil_flaw flaw;
        ts_authn_reason want;
    } cases[] = {
        {TS_TESTUTIL_FLAW_NONE, TS_AUTHN_OK},
        {TS_TESTUTIL_FLAW_EXPIRED, TS_AUTHN_EXPIRED},
        {TS_TESTUTIL_FLAW_NOT_YET_VALID, TS_AUTHN_NOT_YET_VALID},
        {TS_TESTUTIL_FLAW_WRONG_ISSUER, TS_AUTHN_WRONG_ISSUER},
        {TS_TESTUTIL_FLAW_WRONG_AUDIENCE, TS_AUTHN_WRONG_AUDIENCE},
        {TS_TESTUTIL_FLAW_BAD_SIGNATURE, TS_AUTHN_BAD_SIGNATURE},
        {TS_TESTUTIL_FLAW_ALG_NONE, TS_AUTHN_ALG_NOT_ALLOWED},
        {TS_TESTUTIL_FLAW_UNKNOWN_KID, TS_AUTHN_UNKNOWN_KID},
        {TS_TESTUTIL_FLAW_MISSING_KID, TS_AUTHN_BAD_KID},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ts_error err;
        ts_error_clear(&err);
        char *tok = ts_testutil_token_mint(b, cases[i].flaw, &err);
        assert_non_null(tok);
        ts_authn_reason r = verify(v, tok, NULL);
        if (r != cases[i].want)
            fail_msg("%s: got %s, want %s", ts_testutil_flaw_name(cases[i].flaw),
                     ts_authn_reason_str(r), ts_authn_reason_str(cases[i].want));
        ts_free(tok);
    }
    /* The builder itself is unchanged by the flaws: its next token is still good. */
    char *tok = ts_testutil_token_mint(b, TS_TESTUTIL_FLAW_NONE, NULL);
    assert_int_equal(verify(v, tok, NULL), TS_AUTHN_OK);
    ts_free(tok);
    /* Without the NIST claims a strict verifier refuses. */
    ts_testutil_token_remove_claim(b, "auth_level");
    tok = ts_testutil_token_mint(b, TS_TESTUTIL_FLAW_NONE, NULL);
    assert_int_equal(verify(v, tok, NULL), TS_AUTHN_MISSING_CLAIM);
    ts_free(tok);
    /* A fixed clock: exp follows now. */
    ts_testutil_token_set_now(b, 1000);
    char *claims = ts_testutil_token_claims(b, NULL);
    assert_non_null(strstr(claims, "\"exp\":1300"));
    assert_non_null(strstr(claims, "\"iat\":1000"));
    ts_free(claims);
    assert_string_equal(ts_testutil_flaw_name(TS_TESTUTIL_FLAW_ALG_NONE), "alg_none");
    ts_error err;
    ts_error_clear(&err);
    assert_null(ts_testutil_token_mint(b, (ts_testutil_flaw)99, &err));
    assert_int_equal(err.code, TS_EINVAL);
    ts_error_clear(&err);
    assert_int_equal(ts_testutil_token_set_claim_json(b, "x", "{bad", &err), TS_EPARSE);
    ts_testutil_token_free(b);
    ts_authn_verifier_free(v);
    ts_jwks_free(set);
    ts_testutil_key_free(k);
}

static void test_principals(void **state)
{
    (void)state;
    ts_testutil_key *k = ts_testutil_key_rsa2048(NULL);
    const ts_testutil_key *keys[] = {k};
    ts_jwks *set = ts_testutil_jwks(keys, 1, NULL);
    ts_authn_verifier *v = verifier_for(set, NULL, false);
    const char *names[] = {"admin", "operator", "viewer", "service"};
    for (unsigned i = 0; i < TS_TESTUTIL_ROLE_COUNT; i++) {
        const ts_testutil_principal *f = ts_testutil_principal_get((ts_testutil_role)i);
        assert_non_null(f);
        assert_string_equal(f->name, names[i]);
        assert_string_equal(f->roles[0], names[i]);
        char *tok =
            ts_testutil_mint_for(k, (ts_testutil_role)i, NULL, NULL, TS_TESTUTIL_FLAW_NONE, NULL);
        ts_authn_principal *p = NULL;
        assert_int_equal(verify(v, tok, &p), TS_AUTHN_OK);
        assert_string_equal(ts_authn_principal_id(p), f->id);
        assert_string_equal(ts_authn_principal_type_str(ts_authn_principal_type_of(p)), f->type);
        ts_authz_principal ap = ts_testutil_principal_authz(f);
        assert_string_equal(ap.id, f->id);
        assert_int_equal(ap.nroles, 1);
        ts_authn_principal_free(p);
        ts_free(tok);
    }
    assert_null(ts_testutil_principal_get((ts_testutil_role)7));
    /* Issuer and audience of the one-call form. */
    char *tok = ts_testutil_mint_for(k, TS_TESTUTIL_VIEWER, "https://other", NULL,
                                     TS_TESTUTIL_FLAW_NONE, NULL);
    assert_int_equal(verify(v, tok, NULL), TS_AUTHN_WRONG_ISSUER);
    ts_free(tok);
    ts_authn_verifier_free(v);
    ts_jwks_free(set);
    ts_testutil_key_free(k);
}

/* A time claim set by name is explicit, whatever its type: set_now() re-bases only the ones
 * the builder chose itself, so a string `exp` (a hostile test's) survives it. */
static void test_claim_string_time_is_explicit(void **state)
{
    (void)state;
    ts_testutil_key *k = ts_testutil_key_p256(NULL);
    ts_testutil_token *b = ts_testutil_token_new(k, NULL);
    assert_non_null(b);
    assert_int_equal(ts_testutil_token_set_claim_string(b, "exp", "soon", NULL), TS_OK);
    ts_testutil_token_set_now(b, 1000);
    char *claims = ts_testutil_token_claims(b, NULL);
    assert_non_null(claims);
    assert_non_null(strstr(claims, "\"exp\":\"soon\""));
    assert_non_null(strstr(claims, "\"iat\":1000")); /* the others are re-based */
    ts_free(claims);
    ts_testutil_token_free(b);
    ts_testutil_key_free(k);
}

/* Raw signing: the header exactly as given, checked by authn's own signature code. */
static void test_sign_raw(void **state)
{
    (void)state;
    ts_testutil_key *k = ts_testutil_key_p384(NULL);
    char hdr[256];
    snprintf(hdr, sizeof hdr, "{\"alg\":\"ES384\",\"kid\":\"%s\"}", ts_testutil_key_kid(k));
    const char *payload = "{\"hello\":1}";
    char *tok =
        ts_testutil_sign_raw(k, TS_JWS_ES384, hdr, strlen(hdr), payload, strlen(payload), NULL);
    assert_non_null(tok);
    const char *dot2 = strrchr(tok, '.');
    uint8_t *sig = NULL;
    size_t n = 0;
    assert_int_equal(ts_b64url_decode(dot2 + 1, strlen(dot2 + 1), &sig, &n, NULL), TS_OK);
    assert_int_equal(n, 96);
    assert_int_equal(ts_jws_verify_raw(ts_testutil_key_jwk(k), TS_JWS_ES384, tok,
                                       (size_t)(dot2 - tok), sig, n, NULL),
                     TS_OK);
    sig[0] ^= 1;
    assert_int_equal(ts_jws_verify_raw(ts_testutil_key_jwk(k), TS_JWS_ES384, tok,
                                       (size_t)(dot2 - tok), sig, n, NULL),
                     TS_EINVAL);
    ts_free(sig);
    ts_free(tok);
    ts_error err;
    ts_error_clear(&err);
    assert_null(ts_testutil_sign_raw(k, TS_JWS_RS256, "{}", 2, "{}", 2, &err));
    assert_int_equal(err.code, TS_EINVAL);
    ts_testutil_key_free(k);
}

/* The JWKS server feeds a remote key source; failures and rotation behave as asked. */
static void test_jwks_server(void **state)
{
    (void)state;
    ts_testutil_key *k1 = ts_testutil_key_p256(NULL), *k2 = ts_testutil_key_rsa2048(NULL);
    const ts_testutil_key *one[] = {k1}, *both[] = {k1, k2};
    ts_jwks *s1 = ts_testutil_jwks(one, 1, NULL), *s2 = ts_testutil_jwks(both, 2, NULL);
    ts_error err;
    ts_error_clear(&err);
    ts_testutil_jwks_server *srv = ts_testutil_jwks_server_start(s1, &err);
    assert_non_null(srv);
    assert_true(ts_testutil_jwks_server_port(srv) > 0);
    assert_non_null(strstr(ts_testutil_jwks_server_url(srv), "http://127.0.0.1:"));

    const char *url = ts_testutil_jwks_server_url(srv);
    ts_authn_keysource_options ko = TS_AUTHN_KEYSOURCE_OPTIONS_INIT;
    ko.urls = &url;
    ko.n_urls = 1;
    ts_authn_keysource *ks = ts_authn_keysource_new(&ko, &err);
    assert_non_null(ks);
    ts_authn_verifier *v = verifier_for(NULL, ks, false);
    char *t1 = ts_testutil_mint_for(k1, TS_TESTUTIL_ADMIN, NULL, NULL, TS_TESTUTIL_FLAW_NONE, NULL);
    char *t2 = ts_testutil_mint_for(k2, TS_TESTUTIL_ADMIN, NULL, NULL, TS_TESTUTIL_FLAW_NONE, NULL);
    assert_int_equal(verify(v, t1, NULL), TS_AUTHN_OK);
    unsigned long before = ts_testutil_jwks_server_requests(srv);
    assert_true(before >= 1);
    /* Rotation: the second key is served from now on and found after a refresh. */
    assert_int_equal(verify(v, t2, NULL), TS_AUTHN_UNKNOWN_KID);
    assert_int_equal(ts_testutil_jwks_server_set_keys(srv, s2, &err), TS_OK);
    assert_int_equal(ts_authn_keysource_refresh(ks, &err), TS_OK);
    assert_int_equal(verify(v, t2, NULL), TS_AUTHN_OK);
    assert_true(ts_testutil_jwks_server_requests(srv) > before);
    /* Failures: a refresh reports them, the last good keys stay. */
    ts_testutil_jwks_server_set_behavior(srv, TS_TESTUTIL_JWKS_FAIL);
    ts_error_clear(&err);
    assert_int_not_equal(ts_authn_keysource_refresh(ks, &err), TS_OK);
    ts_testutil_jwks_server_set_behavior(srv, TS_TESTUTIL_JWKS_GARBAGE);
    ts_error_clear(&err);
    assert_int_not_equal(ts_authn_keysource_refresh(ks, &err), TS_OK);
    assert_int_equal(verify(v, t1, NULL), TS_AUTHN_OK);
    ts_testutil_jwks_server_set_behavior(srv, TS_TESTUTIL_JWKS_SERVE);
    ts_testutil_jwks_server_set_max_age(srv, 120);
    assert_int_equal(ts_authn_keysource_refresh(ks, NULL), TS_OK);

    ts_free(t1);
    ts_free(t2);
    ts_authn_verifier_free(v);
    ts_authn_keysource_free(ks);
    ts_testutil_jwks_server_stop(srv);
    ts_jwks_free(s1);
    ts_jwks_free(s2);
    ts_testutil_key_free(k1);
    ts_testutil_key_free(k2);
}

/* Fragment directories load through the authz library and change the policy_version. */
static void test_policy_dir(void **state)
{
    (void)state;
    ts_error err;
    ts_error_clear(&err);
    ts_testutil_policy_dir *d = ts_testutil_policy_dir_new(&err);
    assert_non_null(d);
    const char *path = ts_testutil_policy_dir_path(d);
    const char *base[] = {"# deployment fragment", "p, role:service, boot:configs, read"};
    assert_int_equal(ts_testutil_policy_dir_write(d, "10-base.csv", base, 2, &err), TS_OK);
    ts_authz_source_options so = TS_AUTHZ_SOURCE_OPTIONS_INIT;
    so.policy_dir = path;
    ts_authz_bundle *empty = ts_authz_bundle_load(&so, &err);
    assert_non_null(empty);
    assert_int_equal(ts_authz_bundle_fragment_count(empty), 1);
    const char *lines[] = {"p, role:viewer, minisvc:policy, read", "g, user:dave, role:viewer, *"};
    assert_int_equal(ts_testutil_policy_dir_write(d, "20-extra.csv", lines, 2, &err), TS_OK);
    ts_authz_bundle *one = ts_authz_bundle_load(&so, &err);
    assert_non_null(one);
    assert_int_equal(ts_authz_bundle_fragment_count(one), 2);
    assert_string_not_equal(ts_authz_bundle_policy_version(one),
                            ts_authz_bundle_policy_version(empty));
    /* The fragment is on disk with one line each. */
    char file[4096], *text = NULL;
    snprintf(file, sizeof file, "%s/20-extra.csv", path);
    assert_int_equal(ts_testutil_read_file(file, &text, NULL, &err), TS_OK);
    assert_string_equal(text,
                        "p, role:viewer, minisvc:policy, read\ng, user:dave, role:viewer, *\n");
    ts_free(text);
    /* Names are checked. */
    ts_error_clear(&err);
    assert_int_equal(ts_testutil_policy_dir_write(d, "../x.csv", lines, 1, &err), TS_EINVAL);
    assert_int_equal(ts_testutil_write_fragment(path, "x.txt", lines, 1, NULL), TS_EINVAL);
    assert_int_equal(ts_testutil_policy_dir_remove(d, "20-extra.csv", NULL), TS_OK);
    ts_authz_bundle *again = ts_authz_bundle_load(&so, &err);
    assert_string_equal(ts_authz_bundle_policy_version(again),
                        ts_authz_bundle_policy_version(empty));
    assert_int_equal(ts_testutil_policy_dir_write(d, "30-left.csv", lines, 1, NULL), TS_OK);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    ts_testutil_policy_dir_free(d);
    struct stat st;
    assert_int_not_equal(stat(dir, &st), 0); /* removed with its files */
    ts_authz_bundle_free(empty);
    ts_authz_bundle_free(one);
    ts_authz_bundle_free(again);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),       cmocka_unit_test(test_builder_verifies),
        cmocka_unit_test(test_flaws),      cmocka_unit_test(test_principals),
        cmocka_unit_test(test_sign_raw),   cmocka_unit_test(test_jwks_server),
        cmocka_unit_test(test_policy_dir), cmocka_unit_test(test_claim_string_time_is_explicit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
