/* Private parts shared by the testutil sources. */
#ifndef TS_TESTUTIL_INTERNAL_H
#define TS_TESTUTIL_INTERNAL_H

#include <openssl/evp.h>

#include <tokensmith/testutil.h>

struct ts_testutil_key {
    EVP_PKEY *pkey; /* the private key this library signs with */
    ts_jwk *jwk;    /* the same key as authn sees it, bound to alg */
    ts_jws_alg alg;
};

/* true when @p alg can be used with the key's type and size. */
bool ts_testutil__alg_fits(const ts_testutil_key *k, ts_jws_alg alg);

/* A fresh random string of @p nbytes random bytes, base64url-encoded. */
char *ts_testutil__random_b64(size_t nbytes, ts_error *err);

#endif
