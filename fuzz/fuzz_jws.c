/* libFuzzer target: the compact JWS parser and the whole verifier pipeline on arbitrary bytes.
   Invariants: no crash, no leak, every result is a known reason, a principal exactly when the
   token is accepted, and an accepted token is one of ours with all the mandatory claims.
   Determinism: the verifier is built at the first input and never changes afterwards (static
   keys and no key source, no cache, a fixed clock), so every input takes the same path alone
   or after any other. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tokensmith/authn.h>

#include "jose/jose_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Public halves of the test fixtures in authn/tests/data/keys; the seed corpus holds tokens
   signed with them (valid at the fixed clock), so mutations reach the claim checks. */
static const char keys_json[] =
    "{\"keys\":["
    "{\"kty\":\"RSA\",\"n\":\"0y1gcLNmBOUqaeTspXLOrT9ZR56b9fmZJbYt5GcAmBtS6jxddYMiBPjnwsKsMI4ZRv"
    "fZd-jbBpKuFEeWktNPo9Jfa7-"
    "uwj6BwEgboRb16T8Y6WUKYC23UG3JM8BrFDh4bEFQQtNKglexZkpC3Cyh3eXWmOSKQJtO5"
    "s6CRgIYUN80G6J3uMt5-8Qk40bRw7OylYYP4H5swK9nmcVForSF8im3fzDjhinUuFhcdEqy6nhzEWRBpEsCsernamoQ-"
    "qxu"
    "VmKXyxrQKBkmVGB6r76IvPvwPdGL2ViGiFIbbukDZUjoi2lSyWVaOichEnZwqUvQ8C4zG5phR04vYHAtwOwqgw\","
    "\"e\":\"AQAB\"},"
    "{\"kty\":\"EC\",\"x\":\"BfNI2T6N215RF3Wgyh-r9rP0s9c5h_oNmePXaXxeryU\","
    "\"y\":\"4XM8ePD5Pexgy9tHdhId1L5LWnf1V21f-ap_t5LBSoQ\",\"crv\":\"P-256\"}]}";

static int64_t fixed_clock(void *ud)
{
    (void)ud;
    return 1700000000;
}

static ts_authn_verifier *verifier(void)
{
    static ts_authn_verifier *v;
    if (!v) {
        static const char *iss[] = {"https://issuer.test"}, *aud[] = {"svc-a"};
        ts_jwks *set = ts_jwks_parse(keys_json, sizeof keys_json - 1, NULL);
        ts_authn_options o = TS_AUTHN_OPTIONS_INIT;
        o.issuers = iss;
        o.n_issuers = 1;
        o.audiences = aud;
        o.n_audiences = 1;
        o.keys = set;
        o.now = fixed_clock;
        o.disable_cache = true;
        v = ts_authn_verifier_new(&o, NULL);
        ts_jwks_free(set);
        if (!v)
            abort();
    }
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ts_authn_principal *p = NULL;
    ts_authn_detail d;
    ts_error err;
    ts_error_clear(&err);
    ts_authn_reason r = ts_authn_verify(verifier(), (const char *)data, size, &p, &d, &err);
    if (r > TS_AUTHN_INTERNAL || (r == TS_AUTHN_OK) != (p != NULL))
        abort();
    if (p && (!ts_authn_principal_id(p) || ts_authn_principal_exp(p) <= 1700000000 ||
              strcmp(ts_authn_principal_issuer(p), "https://issuer.test") != 0))
        abort();
    ts_authn_principal_free(p);
    /* The strict decoder must agree with itself on every segment-like input. */
    uint8_t *out = NULL;
    size_t n = 0;
    if (ts_b64url_decode((const char *)data, size, &out, &n, NULL) == TS_OK) {
        char *enc = NULL;
        size_t el = 0;
        if (ts_b64url_encode(out, n, &enc, &el, NULL) != TS_OK || el != size ||
            memcmp(enc, data, size) != 0)
            abort(); /* a strict decoding has exactly one spelling */
        ts_free(enc);
    }
    ts_free(out);
    return 0;
}
