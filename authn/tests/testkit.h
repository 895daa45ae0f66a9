/* Shared helpers of the authn unit tests: byte-exact tokens (headers and claims used verbatim,
   signed by authn's own internal signer) for hostile and parser tests. Tests that need ordinary
   valid or classically broken tokens, keys and JWKS files use tokensmith-testutil instead
   (<tokensmith/testutil.h>, see test_mhd.c), whose signer is independent of authn's. */
#ifndef TS_AUTHN_TESTKIT_H
#define TS_AUTHN_TESTKIT_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <tokensmith/authn.h>

#include "jose/jose_internal.h"

#define TK_NOW 1700000000LL

static inline int64_t tk_clock(void *ud)
{
    return ud ? *(const int64_t *)ud : TK_NOW;
}

/* Sign @p payload under @p header (both used verbatim) with @p key and the signing alg. */
static inline char *tk_mint(const ts_jwk *key, ts_jws_alg alg, const char *header,
                            const char *payload)
{
    char *tok = NULL;
    ts_error err;
    ts_error_clear(&err);
    ts_status st = ts_authn__jws_sign_header(key, alg, header, strlen(header), payload,
                                             strlen(payload), &tok, NULL, &err);
    if (st != TS_OK)
        fail_msg("mint failed: %s", err.msg);
    return tok;
}

/* A standard header for @p key: {"alg":..,"kid":..,"typ":"at+jwt"}. */
static inline void tk_header(char *buf, size_t cap, const ts_jwk *key, ts_jws_alg alg)
{
    snprintf(buf, cap, "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"at+jwt\"}", ts_jws_alg_name(alg),
             ts_jwk_kid(key));
}

/* Claims valid at TK_NOW for issuer https://issuer.test and audience svc-a, plus @p extra. */
static inline void tk_claims(char *buf, size_t cap, const char *extra)
{
    snprintf(buf, cap,
             "{\"iss\":\"https://issuer.test\",\"sub\":\"alice\",\"aud\":[\"svc-a\"],"
             "\"exp\":%lld,\"nbf\":%lld,\"iat\":%lld,\"jti\":\"j-1\"%s%s}",
             TK_NOW + 3600, TK_NOW - 10, TK_NOW - 10, extra && *extra ? "," : "",
             extra ? extra : "");
}

static inline char *tk_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) {
        b[n] = 0;
        if (len)
            *len = (size_t)n;
    }
    return b;
}

#endif
