/* ID tokens are routed to a provider by their unverified `iss`, read by authn's
   ts_authn_peek_issuer() under the verifier's bounds: a token that names no issuer, or that the
   verifier could not even parse, is refused with its reason before any network access (no
   discovery is started for it). The provider of this configuration listens nowhere, so a
   discovery attempt would show up as discovery_failed and in ts_oidc_discovery_count(). */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <tokensmith/jose.h>
#include <tokensmith/oidc.h>

#define ISSUER "http://127.0.0.1:1"

static const char config[] = "{\"providers\":[{\"issuer\":\"" ISSUER "\",\"client_id\":\"ts\","
                             "\"timeout_ms\":200}]}";

/* header.payload.signature, each part base64url-encoded from the given text. */
static char *token(const char *header, const char *payload)
{
    char *h = NULL, *p = NULL;
    assert_int_equal(ts_b64url_encode(header, strlen(header), &h, NULL, NULL), TS_OK);
    assert_int_equal(ts_b64url_encode(payload, strlen(payload), &p, NULL, NULL), TS_OK);
    size_t n = strlen(h) + strlen(p) + 16;
    char *t = malloc(n);
    snprintf(t, n, "%s.%s.c2ln", h, p);
    ts_free(h);
    ts_free(p);
    return t;
}

static void test_routing_refusals(void **state)
{
    (void)state;
    ts_error err;
    ts_error_clear(&err);
    ts_oidc_config *cfg = ts_oidc_config_parse(config, strlen(config), &err);
    assert_non_null(cfg);
    ts_oidc *rp = ts_oidc_new(cfg, NULL, &err);
    assert_non_null(rp);
    static const char hdr[] = "{\"alg\":\"RS256\",\"kid\":\"k\"}";
    const struct {
        const char *header, *payload;
        ts_oidc_reason r;
    } cases[] = {
        {hdr, "{\"sub\":\"a\"}", TS_OIDC_MISSING_CLAIM},
        {hdr, "{\"iss\":5,\"sub\":\"a\"}", TS_OIDC_INVALID_CLAIM},
        {hdr, "{\"iss\":\"\",\"sub\":\"a\"}", TS_OIDC_INVALID_CLAIM},
        {hdr, "{\"iss\":\"https://elsewhere.example\"}", TS_OIDC_WRONG_ISSUER},
        {hdr, "{\"iss\":\"" ISSUER "\",\"iss\":\"" ISSUER "\"}", TS_OIDC_MALFORMED},
        {hdr, "[\"" ISSUER "\"]", TS_OIDC_MALFORMED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *t = token(cases[i].header, cases[i].payload);
        ts_error_clear(&err);
        ts_oidc_reason r = ts_oidc_verify_id_token(rp, t, strlen(t), NULL, NULL, &err);
        if (r != cases[i].r)
            fail_msg("%s: %s, want %s (%s)", cases[i].payload, ts_oidc_reason_str(r),
                     ts_oidc_reason_str(cases[i].r), err.msg);
        free(t);
    }
    /* The provider's own issuer, but a header that is not base64url, or not three parts, or
       too large: the verifier would refuse it, so no discovery is started for it. */
    char *good = token(hdr, "{\"iss\":\"" ISSUER "\",\"sub\":\"a\"}");
    size_t n = strlen(good);
    char *bad = malloc(n + 2);
    bad[0] = '!';
    memcpy(bad + 1, good, n + 1);
    ts_error_clear(&err);
    assert_int_equal(ts_oidc_verify_id_token(rp, bad, n + 1, NULL, NULL, &err), TS_OIDC_MALFORMED);
    assert_string_equal(err.where, "header");
    assert_int_equal(
        ts_oidc_verify_id_token(rp, good, (size_t)(strrchr(good, '.') - good), NULL, NULL, NULL),
        TS_OIDC_MALFORMED);
    assert_int_equal(ts_oidc_discovery_count(rp, ISSUER), 0);
    /* The same token with its header intact does reach discovery, which fails here. */
    assert_int_equal(ts_oidc_verify_id_token(rp, good, n, NULL, NULL, NULL),
                     TS_OIDC_DISCOVERY_FAILED);
    assert_int_equal(ts_oidc_discovery_count(rp, ISSUER), 1);
    free(bad);
    free(good);
    ts_oidc_free(rp);
    ts_oidc_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routing_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
