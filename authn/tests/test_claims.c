/* Claim rules of the verifier at their edges: exp, nbf and iat (and the clock) over the whole
   64-bit range, control characters in the names a principal is made of, break-glass tokens,
   Kubernetes legacy Secret-based tokens (no exp, no aud) only where a verifier takes them. */
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

/* One verification of @p claims (ES256, typ JWT) at clock @p now, leeway 60 s; the message of
   a rejection in @p msg. */
static ts_authn_reason verify_msg(ts_jwk *k, const ts_jwks *s, int64_t now, bool nist,
                                  const char *claims, char *msg, size_t cap)
{
    ts_authn_options o = base_options(s, &now);
    o.disable_cache = true;
    o.require_nist_claims = nist;
    ts_authn_verifier *v = ts_authn_verifier_new(&o, NULL);
    assert_non_null(v);
    char *tok = NULL;
    assert_int_equal(ts_jws_sign(k, TS_JWS_ES256, "JWT", claims, strlen(claims), &tok, NULL, NULL),
                     TS_OK);
    ts_authn_principal *p = NULL;
    ts_error err;
    ts_error_clear(&err);
    ts_authn_reason r = ts_authn_verify(v, tok, strlen(tok), &p, NULL, &err);
    snprintf(msg, cap, "%s", err.msg);
    if (r == TS_AUTHN_OK)
        assert_non_null(p);
    else
        assert_null(p);
    ts_authn_principal_free(p);
    ts_free(tok);
    ts_authn_verifier_free(v);
    return r;
}

/* exp, nbf and iat are attacker-chosen 64-bit values and the clock may be anywhere in its
   range: no combination overflows (the test build traps on signed overflow), every decision is
   the exact one, and messages carry real numbers. */
static void test_extreme_times(void **state)
{
    (void)state;
    ts_jwk *k = ts_jwk_generate(TS_JWS_ES256, NULL);
    ts_jwks *s = one_key_set(k);
    static const char nist[] =
        ",\"auth_level\":\"IAL2\",\"auth_factors\":2,\"auth_methods\":[\"pwd\"],"
        "\"session_id\":\"s\",\"auth_events\":[\"e\"]";
    struct {
        int64_t now;
        const char *times; /* JSON members */
        bool nist;
        ts_authn_reason want;
        const char *msg; /* exact message, or NULL when accepted */
    } cases[] = {
        /* exp at the ends of the range and around 2^53 (the clock at TK_NOW). */
        {TK_NOW, "\"exp\":9223372036854775807", false, TS_AUTHN_OK, NULL},
        {TK_NOW, "\"exp\":-9223372036854775808", false, TS_AUTHN_EXPIRED,
         "token expired (exp -9223372036854775808 is out of range)"},
        {TK_NOW, "\"exp\":-9223372036854775807", false, TS_AUTHN_EXPIRED,
         "token expired (exp -9223372036854775807 is out of range)"},
        {TK_NOW, "\"exp\":9007199254740992", false, TS_AUTHN_OK, NULL},
        {TK_NOW, "\"exp\":-9007199254740992", false, TS_AUTHN_EXPIRED,
         "token expired 9007200954740992 s ago"},
        {TK_NOW, "\"exp\":-1", false, TS_AUTHN_EXPIRED, "token expired 1700000001 s ago"},
        {TK_NOW, "\"exp\":0", false, TS_AUTHN_EXPIRED, "token expired 1700000000 s ago"},
        /* nbf and iat at the ends of the range. */
        {TK_NOW, "\"exp\":9223372036854775807,\"nbf\":9223372036854775807", false,
         TS_AUTHN_NOT_YET_VALID, "token not valid for another 9223372035154775807 s"},
        {TK_NOW, "\"exp\":9223372036854775807,\"nbf\":-9223372036854775808", false, TS_AUTHN_OK,
         NULL},
        {TK_NOW, "\"exp\":9223372036854775807,\"iat\":9223372036854775807", false,
         TS_AUTHN_NOT_YET_VALID, "token issued 9223372035154775807 s in the future"},
        {TK_NOW, "\"exp\":9223372036854775807,\"iat\":-9223372036854775808", false, TS_AUTHN_OK,
         NULL},
        {TK_NOW, "\"exp\":9007199254740993,\"nbf\":-9007199254740993,\"iat\":-1", false,
         TS_AUTHN_OK, NULL},
        /* The clock at the ends of its range. */
        {INT64_MAX, "\"exp\":9223372036854775807", false, TS_AUTHN_OK, NULL},
        {INT64_MAX, "\"exp\":9223372036854775747", false, TS_AUTHN_EXPIRED,
         "token expired 60 s ago"},
        {INT64_MAX, "\"exp\":-9223372036854775808", false, TS_AUTHN_EXPIRED,
         "token expired (exp -9223372036854775808 is out of range)"},
        {INT64_MAX - 61, "\"exp\":9223372036854775807,\"nbf\":9223372036854775807", false,
         TS_AUTHN_NOT_YET_VALID, "token not valid for another 61 s"},
        {INT64_MAX - 60, "\"exp\":9223372036854775807,\"nbf\":9223372036854775807", false,
         TS_AUTHN_OK, NULL},
        {INT64_MAX - 60, "\"exp\":9223372036854775807,\"iat\":9223372036854775807", false,
         TS_AUTHN_OK, NULL},
        {INT64_MIN, "\"exp\":9223372036854775807,\"nbf\":9223372036854775807", false,
         TS_AUTHN_NOT_YET_VALID, "token not valid yet (nbf 9223372036854775807 is out of range)"},
        {INT64_MIN, "\"exp\":9223372036854775807,\"iat\":9223372036854775807", false,
         TS_AUTHN_NOT_YET_VALID,
         "token issued in the future (iat 9223372036854775807 is out of range)"},
        {INT64_MIN, "\"exp\":-9223372036854775808", false, TS_AUTHN_OK, NULL},
        {INT64_MIN + 60, "\"exp\":-9223372036854775808", false, TS_AUTHN_EXPIRED,
         "token expired 60 s ago"},
        {INT64_MIN, "\"exp\":-9223372036854775748,\"nbf\":-9223372036854775808", false, TS_AUTHN_OK,
         NULL},
        /* session_exp - iat with the two far apart (NIST claims). */
        {TK_NOW,
         "\"exp\":9223372036854775807,\"iat\":-9223372036854775808,"
         "\"session_exp\":9223372036854775807",
         true, TS_AUTHN_INVALID_CLAIM, "session_exp is more than 24 h after iat"},
        {TK_NOW,
         "\"exp\":9223372036854775807,\"iat\":1700000000,"
         "\"session_exp\":-9223372036854775808",
         true, TS_AUTHN_OK, NULL},
        /* Not integers: refused as such, never converted. */
        {TK_NOW, "\"exp\":1e300", false, TS_AUTHN_INVALID_CLAIM,
         "claim \"exp\" must be an integer NumericDate"},
        {TK_NOW, "\"exp\":-1e300", false, TS_AUTHN_INVALID_CLAIM,
         "claim \"exp\" must be an integer NumericDate"},
        {TK_NOW, "\"exp\":9.2233720368547758e18", false, TS_AUTHN_INVALID_CLAIM,
         "claim \"exp\" must be an integer NumericDate"},
        {TK_NOW, "\"exp\":9007199254740992.0", false, TS_AUTHN_INVALID_CLAIM,
         "claim \"exp\" must be an integer NumericDate"},
        {TK_NOW, "\"exp\":9223372036854775807,\"nbf\":1e300", false, TS_AUTHN_INVALID_CLAIM,
         "claim \"nbf\" must be an integer NumericDate"},
        {TK_NOW, "\"exp\":9223372036854775807,\"iat\":-1e300", false, TS_AUTHN_INVALID_CLAIM,
         "claim \"iat\" must be an integer NumericDate"},
        /* Beyond 64 bits: not a JSON number this parser keeps, so the payload is refused. */
        {TK_NOW, "\"exp\":9223372036854775808", false, TS_AUTHN_MALFORMED, NULL},
        {TK_NOW, "\"exp\":-9223372036854775809", false, TS_AUTHN_MALFORMED, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char c[1024], msg[256];
        snprintf(c, sizeof c,
                 "{\"iss\":\"https://issuer.test\",\"sub\":\"a\",\"aud\":\"svc-z\",%s%s}",
                 cases[i].times, cases[i].nist ? nist : "");
        ts_authn_reason r = verify_msg(k, s, cases[i].now, cases[i].nist, c, msg, sizeof msg);
        if (r != cases[i].want)
            fail_msg("case %zu (%s): %s, want %s (%s)", i, cases[i].times, ts_authn_reason_str(r),
                     ts_authn_reason_str(cases[i].want), msg);
        if (cases[i].msg && strcmp(msg, cases[i].msg) != 0)
            fail_msg("case %zu (%s): message \"%s\", want \"%s\"", i, cases[i].times, msg,
                     cases[i].msg);
    }
    ts_jwks_free(s);
    ts_jwk_free(k);
}

/* Control characters (bytes below 0x20, and 0x7f) in sub, a role or a scope taken from a token
   are refused with invalid_claim naming the claim: a role "viewer\u001fadmin" must never be
   confused with the two roles "viewer" and "admin" by whatever joins names downstream. */
static void test_control_characters(void **state)
{
    (void)state;
    ts_jwk *k = ts_jwk_generate(TS_JWS_ES256, NULL);
    ts_jwks *s = one_key_set(k);
    int64_t now = TK_NOW;
    const ts_authn_scope_role sr[] = {{"read", "viewer"}};
    ts_authn_options o = base_options(s, &now);
    o.scope_roles = sr;
    o.n_scope_roles = 1;
    ts_authn_verifier *v = ts_authn_verifier_new(&o, NULL);
    assert_non_null(v);
    static const struct {
        const char *sub, *extra; /* sub's JSON text; claims added to a valid token */
        const char *refused;     /* the claim named when refused, NULL when accepted */
    } cases[] = {
        {"\"alice\"", "\"roles\":[\"viewer\\u001fadmin\"]", "roles"},
        {"\"alice\"", "\"roles\":[\"viewer\",\"admin\"]", NULL},
        {"\"alice\"", "\"roles\":\"viewer\\u001fadmin\"", "roles"},
        {"\"alice\"", "\"roles\":[\"ok\",\"a\\u001bb\"]", "roles"},
        {"\"alice\"", "\"roles\":[\"x\\u007f\"]", "roles"},
        {"\"alice\"", "\"roles\":[\"\\u0001\"]", "roles"},
        {"\"alice\"", "\"roles\":[\"line\\nbreak\"]", "roles"},
        {"\"alice\"", "\"groups\":\"team\\tx dev\"", "groups"},
        {"\"alice\"", "\"groups\":[\"team-x\",\"dev\\r\"]", "groups"},
        {"\"alice\"", "\"roles\":[\"caf\\u00e9\",\"\\u0080\",\"~\"]", NULL}, /* not controls */
        {"\"alice\"", "\"roles\":[1,null,{\"a\":\"\\u0001\"}]", NULL}, /* not strings: skipped */
        {"\"alice\"", "\"other\":[\"\\u0001\"],\"name\":\"\\u001f\"", NULL}, /* not mapped */
        {"\"alice\"", "\"scope\":\"read\\u000bwrite\"", "scope"},
        {"\"alice\"", "\"scope\":\"read\\u001fwrite\"", "scope"},
        {"\"alice\"", "\"scope\":[\"read\",\"wr\\nite\"]", "scope"},
        {"\"alice\"", "\"scp\":[\"a\\u001fb\"]", "scp"},
        {"\"alice\"", "\"scope\":\"read write\",\"scp\":[\"x\"]", NULL},
        {"\"alice\\u001fadmin\"", "", "sub"},
        {"\"alice\\n\"", "", "sub"},
        {"\"\\u007falice\"", "", "sub"},
        {"\"al\\u001eice\"", "", "sub"},
        {"\"alice \\u00e9\"", "", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char c[1024];
        snprintf(c, sizeof c,
                 "{\"iss\":\"https://issuer.test\",\"sub\":%s,\"aud\":\"svc-z\",\"exp\":%lld%s%s}",
                 cases[i].sub, TK_NOW + 600, cases[i].extra[0] ? "," : "", cases[i].extra);
        char *tok = NULL;
        assert_int_equal(ts_jws_sign(k, TS_JWS_ES256, "JWT", c, strlen(c), &tok, NULL, NULL),
                         TS_OK);
        ts_authn_principal *p = NULL;
        ts_error err;
        ts_error_clear(&err);
        ts_authn_reason r = ts_authn_verify(v, tok, strlen(tok), &p, NULL, &err);
        if (!cases[i].refused) {
            if (r != TS_AUTHN_OK)
                fail_msg("case %zu (%s): %s: %s", i, c, ts_authn_reason_str(r), err.msg);
            ts_authn_principal_free(p);
        } else {
            if (r != TS_AUTHN_INVALID_CLAIM)
                fail_msg("case %zu (%s): %s, want invalid_claim", i, c, ts_authn_reason_str(r));
            assert_null(p);
            assert_string_equal(err.where, cases[i].refused);
            char want[128];
            snprintf(want, sizeof want, "claim \"%s\" contains a control character",
                     cases[i].refused);
            assert_string_equal(err.msg, want);
        }
        ts_free(tok);
    }
    /* NUL never gets this far: the claims parser refuses "\u0000" in any string. */
    char c[512];
    snprintf(c, sizeof c,
             "{\"iss\":\"https://issuer.test\",\"sub\":\"a\",\"aud\":\"svc-z\",\"exp\":%lld,"
             "\"roles\":[\"a\\u0000b\"]}",
             TK_NOW + 600);
    char *tok = NULL;
    assert_int_equal(ts_jws_sign(k, TS_JWS_ES256, "JWT", c, strlen(c), &tok, NULL, NULL), TS_OK);
    ts_authn_principal *p = NULL;
    assert_int_equal(ts_authn_verify(v, tok, strlen(tok), &p, NULL, NULL), TS_AUTHN_MALFORMED);
    ts_free(tok);
    /* Refusals are not cached: the same token is refused again. */
    snprintf(c, sizeof c,
             "{\"iss\":\"https://issuer.test\",\"sub\":\"a\",\"aud\":\"svc-z\",\"exp\":%lld,"
             "\"roles\":[\"viewer\\u001fadmin\"]}",
             TK_NOW + 600);
    assert_int_equal(ts_jws_sign(k, TS_JWS_ES256, "JWT", c, strlen(c), &tok, NULL, NULL), TS_OK);
    assert_int_equal(ts_authn_verify(v, tok, strlen(tok), &p, NULL, NULL), TS_AUTHN_INVALID_CLAIM);
    assert_int_equal(ts_authn_verify(v, tok, strlen(tok), &p, NULL, NULL), TS_AUTHN_INVALID_CLAIM);
    assert_null(p);
    ts_free(tok);
    ts_authn_verifier_free(v);
    ts_jwks_free(s);
    ts_jwk_free(k);
}

/* reject_local_mint refuses break-glass tokens and only those; off by default. A break-glass
   token says so with "break_glass" (whatever the service's NIST setting) or, from older
   services, with "local_user_mint" in auth_methods (present only with NIST claims on). */
static void test_reject_local_mint(void **state)
{
    (void)state;
    ts_jwk *k = ts_jwk_generate(TS_JWS_ES256, NULL);
    ts_jwks *s = one_key_set(k);
    int64_t now = TK_NOW;
    ts_authn_options o = base_options(s, &now);
    o.disable_cache = true;
    ts_authn_verifier *plain = ts_authn_verifier_new(&o, NULL);
    o.reject_local_mint = true;
    ts_authn_verifier *strict = ts_authn_verifier_new(&o, NULL);
    assert_non_null(plain);
    assert_non_null(strict);
    static const struct {
        const char *extra;   /* claims added to a valid token */
        const char *refused; /* err.where when refused, NULL when accepted */
    } cases[] = {
        {"\"auth_methods\":[\"local_user_mint\",\"operator_attested\"]", "auth_methods"},
        {"\"auth_methods\":[\"operator_attested\",\"local_user_mint\"]", "auth_methods"},
        {"\"auth_methods\":[\"bootstrap_exchange\"]", NULL},
        {"\"auth_methods\":[\"local_user_mint_x\",\"local\"]", NULL}, /* exact match only */
        {"\"auth_methods\":\"local_user_mint\"", NULL},               /* not an array */
        /* The break_glass claim: refused unless it is false; fail closed on other types. */
        {"\"break_glass\":true", "break_glass"},
        {"\"break_glass\":true,\"auth_methods\":[\"operator_attested\"]", "break_glass"},
        {"\"break_glass\":\"false\"", "break_glass"},
        {"\"break_glass\":null", "break_glass"},
        {"\"break_glass\":0", "break_glass"},
        {"\"break_glass\":1", "break_glass"},
        {"\"break_glass\":{}", "break_glass"},
        {"\"break_glass\":[]", "break_glass"},
        {"\"break_glass\":false", NULL},
        {"\"break_glass\":false,\"auth_methods\":[\"local_user_mint\"]", "auth_methods"},
        {"\"auth_methods\":[\"local_user_mint\"],\"break_glass\":true", "break_glass"},
        {"\"breakglass\":true,\"Break_Glass\":true", NULL}, /* other names are other claims */
        {"", NULL},                                         /* neither */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char c[512];
        snprintf(c, sizeof c,
                 "{\"iss\":\"https://issuer.test\",\"sub\":\"a\",\"aud\":\"svc-z\",\"exp\":%lld,"
                 "\"iat\":%lld%s%s}",
                 TK_NOW + 600, TK_NOW, cases[i].extra[0] ? "," : "", cases[i].extra);
        char *tok = NULL;
        assert_int_equal(ts_jws_sign(k, TS_JWS_ES256, "JWT", c, strlen(c), &tok, NULL, NULL),
                         TS_OK);
        ts_authn_principal *p = NULL;
        assert_int_equal(ts_authn_verify(plain, tok, strlen(tok), &p, NULL, NULL), TS_AUTHN_OK);
        ts_authn_principal_free(p);
        p = NULL;
        ts_error err;
        ts_error_clear(&err);
        ts_authn_reason r = ts_authn_verify(strict, tok, strlen(tok), &p, NULL, &err);
        if (!cases[i].refused) {
            if (r != TS_AUTHN_OK)
                fail_msg("case %zu (%s): %s: %s", i, cases[i].extra, ts_authn_reason_str(r),
                         err.msg);
            ts_authn_principal_free(p);
        } else {
            if (r != TS_AUTHN_INVALID_CLAIM)
                fail_msg("case %zu (%s): %s, want invalid_claim", i, cases[i].extra,
                         ts_authn_reason_str(r));
            assert_null(p);
            assert_string_equal(err.where, cases[i].refused);
            assert_non_null(strstr(err.msg, "break-glass"));
        }
        ts_free(tok);
    }
    ts_authn_verifier_free(strict);
    ts_authn_verifier_free(plain);
    ts_jwks_free(s);
    ts_jwk_free(k);
}

#define LEGACY_FLAT                                                                                \
    "\"kubernetes.io/serviceaccount/namespace\":\"boot\","                                         \
    "\"kubernetes.io/serviceaccount/secret.name\":\"bss-token-x7k2p\","                            \
    "\"kubernetes.io/serviceaccount/service-account.name\":\"bss\","                               \
    "\"kubernetes.io/serviceaccount/service-account.uid\":\"s-9\","                                \
    "\"sub\":\"system:serviceaccount:boot:bss\""

/* legacy_k8s_issuer waives exp and aud for exactly the legacy shape under exactly that issuer;
   everything else is judged as before, and without the option nothing changes. */
static void test_legacy_k8s(void **state)
{
    (void)state;
    ts_jwk *k = ts_jwk_generate(TS_JWS_ES256, NULL);
    ts_jwks *s = one_key_set(k);
    int64_t now = TK_NOW;
    ts_authn_options o = base_options(s, &now);
    ts_authn_verifier *plain = ts_authn_verifier_new(&o, NULL);
    o.legacy_k8s_issuer = "kubernetes/serviceaccount";
    ts_authn_verifier *legacy = ts_authn_verifier_new(&o, NULL);
    assert_non_null(plain);
    assert_non_null(legacy);
    struct {
        const char *claims;
        ts_authn_reason with, without; /* with and without the option */
        const char *where;             /* of the refusal with the option */
    } cases[] = {
        /* A real legacy token: no exp, aud, iat or nbf. */
        {"{\"iss\":\"kubernetes/serviceaccount\"," LEGACY_FLAT "}", TS_AUTHN_OK,
         TS_AUTHN_MISSING_CLAIM, NULL},
        /* exp or aud present: still judged. */
        {"{\"iss\":\"kubernetes/serviceaccount\",\"exp\":1600000000," LEGACY_FLAT "}",
         TS_AUTHN_EXPIRED, TS_AUTHN_EXPIRED, "exp"},
        {"{\"iss\":\"kubernetes/serviceaccount\",\"aud\":\"vault\"," LEGACY_FLAT "}",
         TS_AUTHN_WRONG_AUDIENCE, TS_AUTHN_MISSING_CLAIM, "aud"},
        {"{\"iss\":\"kubernetes/serviceaccount\",\"aud\":\"svc-a\"," LEGACY_FLAT "}", TS_AUTHN_OK,
         TS_AUTHN_MISSING_CLAIM, NULL},
        {"{\"iss\":\"kubernetes/serviceaccount\",\"nbf\":1800000000," LEGACY_FLAT "}",
         TS_AUTHN_NOT_YET_VALID, TS_AUTHN_MISSING_CLAIM, "nbf"},
        /* Another issuer with the flat claims, or the nested object as well: not legacy. */
        {"{\"iss\":\"https://issuer.test\"," LEGACY_FLAT "}", TS_AUTHN_MISSING_CLAIM,
         TS_AUTHN_MISSING_CLAIM, "exp"},
        {"{\"iss\":\"kubernetes/serviceaccountX\"," LEGACY_FLAT "}", TS_AUTHN_MISSING_CLAIM,
         TS_AUTHN_MISSING_CLAIM, "exp"},
        {"{\"iss\":\"kubernetes/serviceaccount\",\"kubernetes.io\":{}," LEGACY_FLAT "}",
         TS_AUTHN_MISSING_CLAIM, TS_AUTHN_MISSING_CLAIM, "exp"},
        /* The legacy issuer without the flat claims: not legacy either. */
        {"{\"iss\":\"kubernetes/serviceaccount\",\"sub\":\"x\"}", TS_AUTHN_MISSING_CLAIM,
         TS_AUTHN_MISSING_CLAIM, "exp"},
        /* The legacy issuer with exp and aud: the issuer is still only the legacy shape's. */
        {"{\"iss\":\"kubernetes/"
         "serviceaccount\",\"sub\":\"x\",\"aud\":\"svc-a\",\"exp\":1700000600}",
         TS_AUTHN_WRONG_ISSUER, TS_AUTHN_WRONG_ISSUER, "iss"},
        /* sub is still required. */
        {"{\"iss\":\"kubernetes/serviceaccount\","
         "\"kubernetes.io/serviceaccount/namespace\":\"boot\"}",
         TS_AUTHN_MISSING_CLAIM, TS_AUTHN_MISSING_CLAIM, "sub"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *tok = NULL;
        const char *c = cases[i].claims;
        assert_int_equal(ts_jws_sign(k, TS_JWS_ES256, NULL, c, strlen(c), &tok, NULL, NULL), TS_OK);
        ts_authn_principal *p = NULL;
        ts_error err;
        ts_error_clear(&err);
        ts_authn_reason r = ts_authn_verify(legacy, tok, strlen(tok), &p, NULL, &err);
        if (r != cases[i].with)
            fail_msg("case %zu: %s (%s), want %s", i, ts_authn_reason_str(r), err.msg,
                     ts_authn_reason_str(cases[i].with));
        if (r == TS_AUTHN_OK)
            assert_int_equal(ts_authn_principal_exp(p), 0);
        else
            assert_string_equal(err.where, cases[i].where);
        ts_authn_principal_free(p);
        p = NULL;
        r = ts_authn_verify(plain, tok, strlen(tok), &p, NULL, NULL);
        if (r != cases[i].without)
            fail_msg("case %zu without the option: %s", i, ts_authn_reason_str(r));
        ts_authn_principal_free(p);
        ts_free(tok);
    }
    o.legacy_k8s_issuer = "";
    ts_error err;
    ts_error_clear(&err);
    assert_null(ts_authn_verifier_new(&o, &err));
    assert_string_equal(err.where, "legacy_k8s_issuer");
    ts_authn_verifier_free(legacy);
    ts_authn_verifier_free(plain);
    ts_jwks_free(s);
    ts_jwk_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_extreme_times),
        cmocka_unit_test(test_control_characters),
        cmocka_unit_test(test_reject_local_mint),
        cmocka_unit_test(test_legacy_k8s),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
