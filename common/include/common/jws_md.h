/* The message digest of each JWS algorithm (RFC 7518 §3.1), for the code that signs with
 * OpenSSL: authn's JWS core and testutil's deliberately flawed tokens. Header-only, so that
 * libraries without OpenSSL never link it. Private to tokensmith. */
#ifndef TS_COMMON_JWS_MD_H
#define TS_COMMON_JWS_MD_H

#include <openssl/evp.h>

#include <tokensmith/jose.h>

/** @return the digest of @p alg, or NULL for an algorithm without one (none, unknown). */
static inline const EVP_MD *ts_common__jws_md(ts_jws_alg alg)
{
    switch (alg) {
    case TS_JWS_RS256:
    case TS_JWS_PS256:
    case TS_JWS_ES256:
        return EVP_sha256();
    case TS_JWS_RS384:
    case TS_JWS_PS384:
    case TS_JWS_ES384:
        return EVP_sha384();
    case TS_JWS_RS512:
    case TS_JWS_PS512:
    case TS_JWS_ES512:
        return EVP_sha512();
    default:
        return NULL;
    }
}

#endif
