/* Verifier rules, principals and the verified-token cache. */
#include <pthread.h>

#include "testkit.h"

static const char *iss[] = {"https://other.test", "https://issuer.test"};
static const char *aud[] = {"svc-a", "svc-z"};

static ts_authn_options base_options(const ts_jwks *keys, int64_t *now)
{
    ts_authn_options o = TS_AUTHN_OPTIONS_INIT;
    o.issuers = iss;
    o.n_issuers = 2;
    o.audiences = aud;
    o.n_audiences = 2;
    o.keys = keys;
    o.now = tk_clock;
    o.now_ud = now;
    return o;
}

static ts_jwks *one_key_set(ts_jwk *k)
{
    char *j = ts_jwk_to_json(k, NULL);
    ts_jwk *pub = ts_jwk_parse(j, strlen(j), NULL);
    ts_free(j);
    ts_jwks *s = ts_jwks_new(&pub, 1, NULL);
    ts_jwk_free(pub);
    return s;
}

static void test_all_algorithms(void **state)
{
    (void)state;
    for (ts_jws_alg alg = TS_JWS_RS256; alg <= TS_JWS_ES512; alg++) {
        ts_jwk *k = ts_jwk_generate(alg, NULL);
        ts_jwks *s = one_key_set(k);
        int64_t now = TK_NOW;
        ts_authn_options o = base_options(s, &now);
        ts_authn_verifier *v = ts_authn_verifier_new(&o, NULL);
        assert_non_null(v);
        char claims[1024];
        tk_claims(claims, sizeof claims, NULL);
        char *tok = NULL;
        assert_int_equal(ts_jws_sign(k, alg, "at+jwt", claims, strlen(claims), &tok, NULL, NULL),
                         TS_OK);
        ts_authn_principal *p = NULL;
        ts_error err;
        ts_error_clear(&err);
        ts_authn_reason r = ts_authn_verify(v, tok, strlen(tok), &p, NULL, &err);
        if (r != TS_AUTHN_OK)
            fail_msg("%s: %s %s", ts_jws_alg_name(alg), ts_authn_reason_str(r), err.msg);
        assert_string_equal(ts_authn_principal_kid(p), ts_jwk_kid(k));
        ts_authn_principal_free(p);
        /* The allow-list removes an algorithm even when the key would fit. */
        ts_authn_options o2 = base_options(s, &now);
        o2.algorithms = TS_JWS_ALGS_ALL & ~TS_JWS_ALG_BIT(alg);
        ts_authn_verifier *v2 = ts_authn_verifier_new(&o2, NULL);
        assert_int_equal(ts_authn_verify(v2, tok, strlen(tok), &p, NULL, NULL),
                         TS_AUTHN_ALG_NOT_ALLOWED);
        ts_authn_verifier_free(v2);
        ts_free(tok);
        ts_authn_verifier_free(v);
        ts_jwks_free(s);
        ts_jwk_free(k);
    }
}

static void test_construction(void **state)
{
    (void)state;
    ts_jwk *k = ts_jwk_generate(TS_JWS_ES256, NULL);
    ts_jwks *s = one_key_set(k);
    int64_t now = TK_NOW;
    ts_authn_options o = base_options(s, &now);
    ts_error err;
    o.n_issuers = 0;
    ts_error_clear(&err);
    assert_null(ts_authn_verifier_new(&o, &err));
    assert_string_equal(err.where, "issuers");
    o = base_options(s, &now);
    o.n_audiences = 0;
    assert_null(ts_authn_verifier_new(&o, NULL));
    o = base_options(s, &now);
    o.leeway_s = 601;
    assert_null(ts_authn_verifier_new(&o, NULL));
    o.leeway_s = -1;
    assert_null(ts_authn_verifier_new(&o, NULL));
    o = base_options(NULL, &now);
    assert_null(ts_authn_verifier_new(&o, NULL));
    o = base_options(s, &now);
    o.algorithms = 1; /* the "unknown" bit only */
    assert_null(ts_authn_verifier_new(&o, NULL));
    o = base_options(s, &now);
    o.version = 99;
    assert_null(ts_authn_verifier_new(&o, NULL));
    assert_null(ts_authn_verifier_new(NULL, NULL));
    ts_authn_verifier_free(NULL);
    /* An empty (or NULL) issuer or audience is refused, naming the entry: an issuer "" would
       accept a token with "iss":"", an audience "" one with "aud":"". */
    static const char *const empty_iss[] = {"https://issuer.test", ""};
    static const char *const empty_aud[] = {"", "svc-a"};
    static const char *const null_aud[] = {"svc-a", NULL};
    struct {
        const char *const *iss, *const *aud;
        const char *where;
    } bad[] = {{empty_iss, aud, "issuers[1]"},
               {iss, empty_aud, "audiences[0]"},
               {iss, null_aud, "audiences[1]"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o = base_options(s, &now);
        o.issuers = bad[i].iss;
        o.audiences = bad[i].aud;
        ts_error_clear(&err);
        ts_authn_verifier *v = ts_authn_verifier_new(&o, &err);
        ts_authn_verifier_free(v);
        assert_null(v);
        assert_int_equal(err.code, TS_EINVAL);
        assert_string_equal(err.where, bad[i].where);
    }
    assert_string_equal(ts_authn_reason_str(TS_AUTHN_BAD_SIGNATURE), "bad_signature");
    assert_string_equal(ts_authn_reason_str(TS_AUTHN_UNKNOWN_KID), "unknown_kid");
    ts_jwks_free(s);
    ts_jwk_free(k);
}

static ts_authn_reason verify_at(ts_jwk *k, const ts_jwks *s, int64_t now, int leeway,
                                 const char *claims)
{
    ts_authn_options o = base_options(s, &now);
    o.leeway_s = leeway;
    o.disable_cache = true;
    ts_authn_verifier *v = ts_authn_verifier_new(&o, NULL);
    char *tok = NULL;
    assert_int_equal(ts_jws_sign(k, TS_JWS_ES256, "JWT", claims, strlen(claims), &tok, NULL, NULL),
                     TS_OK);
    ts_authn_principal *p = NULL;
    ts_authn_reason r = ts_authn_verify(v, tok, strlen(tok), &p, NULL, NULL);
    ts_authn_principal_free(p);
    ts_free(tok);
    ts_authn_verifier_free(v);
    return r;
}

static void test_time_and_leeway(void **state)
{
    (void)state;
    ts_jwk *k = ts_jwk_generate(TS_JWS_ES256, NULL);
    ts_jwks *s = one_key_set(k);
    char c[512];
    /* exp boundary: nbf and iat well in the past. */
    snprintf(c, sizeof c,
             "{\"iss\":\"https://issuer.test\",\"sub\":\"a\",\"aud\":\"svc-z\",\"exp\":%lld,"
             "\"nbf\":%lld,\"iat\":%lld}",
             TK_NOW, TK_NOW - 1000, TK_NOW - 1000);
    assert_int_equal(verify_at(k, s, TK_NOW - 1, 0, c), TS_AUTHN_OK);
    assert_int_equal(verify_at(k, s, TK_NOW, 0, c), TS_AUTHN_EXPIRED); /* exp is exclusive */
    assert_int_equal(verify_at(k, s, TK_NOW + 59, 60, c), TS_AUTHN_OK);
    assert_int_equal(verify_at(k, s, TK_NOW + 60, 60, c), TS_AUTHN_EXPIRED);
    assert_int_equal(verify_at(k, s, TK_NOW + 599, 600, c), TS_AUTHN_OK);
    /* nbf and iat boundaries: exp far ahead. */
    snprintf(c, sizeof c,
             "{\"iss\":\"https://issuer.test\",\"sub\":\"a\",\"aud\":\"svc-z\",\"exp\":%lld,"
             "\"nbf\":%lld}",
             TK_NOW + 5000, TK_NOW);
    assert_int_equal(verify_at(k, s, TK_NOW, 0, c), TS_AUTHN_OK);
    assert_int_equal(verify_at(k, s, TK_NOW - 1, 0, c), TS_AUTHN_NOT_YET_VALID);
    assert_int_equal(verify_at(k, s, TK_NOW - 60, 60, c), TS_AUTHN_OK);
    assert_int_equal(verify_at(k, s, TK_NOW - 61, 60, c), TS_AUTHN_NOT_YET_VALID);
    snprintf(c, sizeof c,
             "{\"iss\":\"https://issuer.test\",\"sub\":\"a\",\"aud\":\"svc-z\",\"exp\":%lld,"
             "\"iat\":%lld}",
             TK_NOW + 5000, TK_NOW);
    assert_int_equal(verify_at(k, s, TK_NOW - 60, 60, c), TS_AUTHN_OK);
    assert_int_equal(verify_at(k, s, TK_NOW - 61, 60, c), TS_AUTHN_NOT_YET_VALID);
    ts_jwks_free(s);
    ts_jwk_free(k);
}

static void test_typ_rules(void **state)
{
    (void)state;
    ts_jwk *k = ts_jwk_generate(TS_JWS_ES256, NULL);
    ts_jwks *s = one_key_set(k);
    int64_t now = TK_NOW;
    char claims[1024];
    tk_claims(claims, sizeof claims, NULL);
    const char *only_at[] = {"at+jwt"};
    ts_authn_options o = base_options(s, &now);
    o.typs = only_at;
    o.n_typs = 1;
    o.require_typ = true;
    ts_authn_verifier *v = ts_authn_verifier_new(&o, NULL);
    const char *typs[] = {"at+jwt", "AT+JWT", "application/at+jwt", "JWT", NULL};
    ts_authn_reason want[] = {TS_AUTHN_OK, TS_AUTHN_OK, TS_AUTHN_OK, TS_AUTHN_WRONG_TYP,
                              TS_AUTHN_WRONG_TYP};
    for (size_t i = 0; i < 5; i++) {
        char *tok = NULL;
        assert_int_equal(
            ts_jws_sign(k, TS_JWS_ES256, typs[i], claims, strlen(claims), &tok, NULL, NULL), TS_OK);
        ts_authn_principal *p = NULL;
        assert_int_equal(ts_authn_verify(v, tok, strlen(tok), &p, NULL, NULL), want[i]);
        ts_authn_principal_free(p);
        ts_free(tok);
    }
    ts_authn_verifier_free(v);
    ts_jwks_free(s);
    ts_jwk_free(k);
}

static void test_principal_mapping(void **state)
{
    (void)state;
    ts_jwk *k = ts_jwk_generate(TS_JWS_RS256, NULL);
    ts_jwks *s = one_key_set(k);
    int64_t now = TK_NOW;
    const ts_authn_scope_role sr[] = {{"tokens:admin", "admin"}, {"read", "viewer"}};
    ts_authn_options o = base_options(s, &now);
    o.scope_roles = sr;
    o.n_scope_roles = 2;
    o.domain_claim = "tenant";
    ts_authn_verifier *v = ts_authn_verifier_new(&o, NULL);
    char claims[2048];
    tk_claims(claims, sizeof claims,
              "\"roles\":[\"ops\",\"dev\",\"ops\"],\"groups\":\"team-x dev\","
              "\"scope\":\"read tokens:admin\",\"tenant\":\"acme\",\"custom\":{\"a\":1},"
              "\"name\":\"Alice\"");
    char *tok = NULL;
    assert_int_equal(ts_jws_sign(k, TS_JWS_RS256, NULL, claims, strlen(claims), &tok, NULL, NULL),
                     TS_OK);
    ts_authn_principal *p = NULL;
    ts_authn_detail d;
    assert_int_equal(ts_authn_verify(v, tok, strlen(tok), &p, &d, NULL), TS_AUTHN_OK);
    assert_string_equal(ts_authn_principal_id(p), "alice");
    assert_int_equal(ts_authn_principal_type_of(p), TS_AUTHN_PRINCIPAL_USER);
    size_t n = 0;
    const char *const *roles = ts_authn_principal_roles(p, &n);
    const char *want_roles[] = {"ops", "dev", "team-x", "admin", "viewer"};
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(roles[i], want_roles[i]);
    const char *const *scopes = ts_authn_principal_scopes(p, &n);
    assert_int_equal(n, 2);
    assert_string_equal(scopes[0], "read");
    assert_true(ts_authn_principal_has_scope(p, "tokens:admin"));
    assert_false(ts_authn_principal_has_scope(p, "tokens"));
    assert_string_equal(ts_authn_principal_domain(p), "acme");
    assert_string_equal(ts_authn_principal_issuer(p), "https://issuer.test");
    assert_string_equal(ts_authn_principal_jti(p), "j-1");
    assert_int_equal(ts_authn_principal_exp(p), TK_NOW + 3600);
    assert_string_equal(ts_authn_principal_claim_string(p, "name"), "Alice");
    assert_null(ts_authn_principal_claim_string(p, "custom"));
    assert_non_null(strstr(ts_authn_principal_claims_json(p), "\"custom\":{\"a\":1}"));
    ts_authn_principal_free(p);
    ts_free(tok);

    /* Services: an explicit claim, a client-credentials token, a service_id claim. */
    const char *svc[] = {"\"principal_type\":\"service\"", "\"client_id\":\"alice\"",
                         "\"service_id\":\"boot-svc\"", "\"client_id\":\"cli-1\""};
    ts_authn_principal_type want[] = {TS_AUTHN_PRINCIPAL_SERVICE, TS_AUTHN_PRINCIPAL_SERVICE,
                                      TS_AUTHN_PRINCIPAL_SERVICE, TS_AUTHN_PRINCIPAL_USER};
    for (size_t i = 0; i < 4; i++) {
        tk_claims(claims, sizeof claims, svc[i]);
        assert_int_equal(
            ts_jws_sign(k, TS_JWS_RS256, NULL, claims, strlen(claims), &tok, NULL, NULL), TS_OK);
        assert_int_equal(ts_authn_verify(v, tok, strlen(tok), &p, NULL, NULL), TS_AUTHN_OK);
        assert_int_equal(ts_authn_principal_type_of(p), want[i]);
        assert_string_equal(ts_authn_principal_type_str(want[i]),
                            want[i] == TS_AUTHN_PRINCIPAL_USER ? "user" : "service");
        ts_authn_principal_free(p);
        ts_free(tok);
    }
    ts_authn_verifier_free(v);
    ts_jwks_free(s);
    ts_jwk_free(k);
}

static void test_cache(void **state)
{
    (void)state;
    ts_jwk *k = ts_jwk_generate(TS_JWS_ES256, NULL);
    ts_jwks *s = one_key_set(k);
    int64_t now = TK_NOW;
    ts_authn_options o = base_options(s, &now);
    o.cache_entries = 8;
    ts_authn_verifier *v = ts_authn_verifier_new(&o, NULL);
    char claims[1024];
    tk_claims(claims, sizeof claims, NULL);
    char *tok = NULL;
    assert_int_equal(ts_jws_sign(k, TS_JWS_ES256, NULL, claims, strlen(claims), &tok, NULL, NULL),
                     TS_OK);
    ts_authn_principal *p1 = NULL, *p2 = NULL;
    assert_int_equal(ts_authn_verify(v, tok, strlen(tok), &p1, NULL, NULL), TS_AUTHN_OK);
    assert_int_equal(ts_authn_verify(v, tok, strlen(tok), &p2, NULL, NULL), TS_AUTHN_OK);
    assert_ptr_equal(p1, p2); /* the second answer came from the cache */
    uint64_t hits, misses;
    size_t used;
    ts_authn_verifier_cache_stats(v, &hits, &misses, &used);
    assert_int_equal(hits, 1);
    assert_int_equal(misses, 1);
    assert_int_equal(used, 1);
    ts_authn_principal_free(p1);
    ts_authn_principal_free(p2);
    /* A different spelling of the same signature is not a hit and is refused. */
    char *junk = malloc(strlen(tok) + 2);
    snprintf(junk, strlen(tok) + 2, "%s!", tok);
    assert_int_equal(ts_authn_verify(v, junk, strlen(junk), &p1, NULL, NULL), TS_AUTHN_MALFORMED);
    free(junk);
    /* At exp the entry is gone and the token is judged again (and refused past leeway). */
    now = TK_NOW + 3600;
    assert_int_equal(ts_authn_verify(v, tok, strlen(tok), &p1, NULL, NULL), TS_AUTHN_OK);
    ts_authn_verifier_cache_stats(v, &hits, &misses, &used);
    assert_int_equal(hits, 1);
    ts_authn_principal_free(p1);
    now = TK_NOW + 3600 + 60;
    assert_int_equal(ts_authn_verify(v, tok, strlen(tok), &p1, NULL, NULL), TS_AUTHN_EXPIRED);
    assert_null(p1);
    /* Bounded: many distinct tokens never grow it beyond its capacity. */
    now = TK_NOW;
    for (int i = 0; i < 40; i++) {
        char extra[64], c2[1024];
        snprintf(extra, sizeof extra, "\"n\":%d", i);
        tk_claims(c2, sizeof c2, extra);
        char *t = NULL;
        assert_int_equal(ts_jws_sign(k, TS_JWS_ES256, NULL, c2, strlen(c2), &t, NULL, NULL), TS_OK);
        assert_int_equal(ts_authn_verify(v, t, strlen(t), &p1, NULL, NULL), TS_AUTHN_OK);
        ts_authn_principal_free(p1);
        ts_free(t);
    }
    ts_authn_verifier_cache_stats(v, &hits, &misses, &used);
    assert_true(used <= 8);
    ts_authn_verifier_free(v);
    /* Off by flag. */
    o.disable_cache = true;
    v = ts_authn_verifier_new(&o, NULL);
    assert_int_equal(ts_authn_verify(v, tok, strlen(tok), &p1, NULL, NULL), TS_AUTHN_OK);
    assert_int_equal(ts_authn_verify(v, tok, strlen(tok), &p2, NULL, NULL), TS_AUTHN_OK);
    assert_ptr_not_equal(p1, p2);
    ts_authn_principal_free(p1);
    ts_authn_principal_free(p2);
    ts_authn_verifier_free(v);
    ts_free(tok);
    ts_jwks_free(s);
    ts_jwk_free(k);
}

/* The cache answers only for the exact bytes it verified: another token that shares its
 * signature, its length and its last bytes (where the cache looks first) is judged in full. */
static void test_cache_exact_bytes(void **state)
{
    (void)state;
    ts_jwk *k = ts_jwk_generate(TS_JWS_ES256, NULL);
    ts_jwks *s = one_key_set(k);
    int64_t now = TK_NOW;
    ts_authn_options o = base_options(s, &now);
    ts_authn_verifier *v = ts_authn_verifier_new(&o, NULL);
    char claims[1024];
    tk_claims(claims, sizeof claims, "\"roles\":[\"viewer\"]");
    char *tok = NULL;
    assert_int_equal(ts_jws_sign(k, TS_JWS_ES256, NULL, claims, strlen(claims), &tok, NULL, NULL),
                     TS_OK);
    ts_authn_principal *p = NULL;
    assert_int_equal(ts_authn_verify(v, tok, strlen(tok), &p, NULL, NULL), TS_AUTHN_OK);
    ts_authn_principal_free(p);
    /* One character of the payload changed (same length, same signature): not the cached
     * token, so its signature is checked, and fails. */
    char *forged = malloc(strlen(tok) + 1);
    memcpy(forged, tok, strlen(tok) + 1);
    char *dot = strchr(forged, '.');
    dot[5] = dot[5] == 'A' ? 'B' : 'A';
    p = NULL;
    assert_int_not_equal(ts_authn_verify(v, forged, strlen(forged), &p, NULL, NULL), TS_AUTHN_OK);
    assert_null(p);
    /* Its header changed instead: the same. */
    strcpy(forged, tok);
    forged[3] = forged[3] == 'A' ? 'B' : 'A';
    assert_int_not_equal(ts_authn_verify(v, forged, strlen(forged), &p, NULL, NULL), TS_AUTHN_OK);
    assert_null(p);
    /* A prefix of the token is not the token either. */
    assert_int_not_equal(ts_authn_verify(v, tok, strlen(tok) - 1, &p, NULL, NULL), TS_AUTHN_OK);
    assert_null(p);
    uint64_t hits, misses;
    ts_authn_verifier_cache_stats(v, &hits, &misses, NULL);
    assert_int_equal(hits, 0);
    /* The cached token itself still hits. */
    assert_int_equal(ts_authn_verify(v, tok, strlen(tok), &p, NULL, NULL), TS_AUTHN_OK);
    ts_authn_principal_free(p);
    ts_authn_verifier_cache_stats(v, &hits, &misses, NULL);
    assert_int_equal(hits, 1);
    free(forged);
    ts_authn_verifier_free(v);
    ts_free(tok);
    ts_jwks_free(s);
    ts_jwk_free(k);
}

typedef struct tharg {
    const ts_authn_verifier *v;
    char **toks;
    size_t n;
    int ok;
} tharg;

static void *worker(void *ud)
{
    tharg *a = ud;
    for (int round = 0; round < 50; round++)
        for (size_t i = 0; i < a->n; i++) {
            ts_authn_principal *p = NULL;
            if (ts_authn_verify(a->v, a->toks[i], strlen(a->toks[i]), &p, NULL, NULL) ==
                    TS_AUTHN_OK &&
                strcmp(ts_authn_principal_id(p), "alice") == 0)
                a->ok++;
            ts_authn_principal_free(p);
        }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    ts_jwk *k = ts_jwk_generate(TS_JWS_RS256, NULL);
    ts_jwks *s = one_key_set(k);
    int64_t now = TK_NOW;
    ts_authn_options o = base_options(s, &now);
    o.cache_entries = 16;
    ts_authn_verifier *v = ts_authn_verifier_new(&o, NULL);
    char *toks[32];
    for (int i = 0; i < 32; i++) {
        char extra[64], c[1024];
        snprintf(extra, sizeof extra, "\"n\":%d", i);
        tk_claims(c, sizeof c, extra);
        assert_int_equal(ts_jws_sign(k, TS_JWS_RS256, NULL, c, strlen(c), &toks[i], NULL, NULL),
                         TS_OK);
    }
    pthread_t th[4];
    tharg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (tharg){v, toks, 32, 0};
        pthread_create(&th[i], NULL, worker, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].ok, 50 * 32);
    }
    for (int i = 0; i < 32; i++)
        ts_free(toks[i]);
    ts_authn_verifier_free(v);
    ts_jwks_free(s);
    ts_jwk_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_algorithms),    cmocka_unit_test(test_construction),
        cmocka_unit_test(test_time_and_leeway),   cmocka_unit_test(test_typ_rules),
        cmocka_unit_test(test_principal_mapping), cmocka_unit_test(test_cache),
        cmocka_unit_test(test_cache_exact_bytes), cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
