/* libFuzzer target: the dedicated ES256 verifier against OpenSSL on arbitrary input, read as
   r||s (64 bytes) followed by the message, for the RFC 6979 §A.2.5 P-256 key. Both verify
   SHA-256(message), and, when the message has 32 bytes or more, its first 32 bytes as a raw
   digest (reaching digests at or above n). Any disagreement aborts. The key and its table are
   built at the first input and only read afterwards: no state carries from one input to the
   next. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "jose/p256.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t pub[65] = {0x04, 0x60, 0xfe, 0xd4, 0xba, 0x25, 0x5a, 0x9d, 0x31, 0xc9, 0x61,
                                0xeb, 0x74, 0xc6, 0x35, 0x6d, 0x68, 0xc0, 0x49, 0xb8, 0x92, 0x3b,
                                0x61, 0xfa, 0x6c, 0xe6, 0x69, 0x62, 0x2e, 0x60, 0xf2, 0x9f, 0xb6,
                                0x79, 0x03, 0xfe, 0x10, 0x08, 0xb8, 0xbc, 0x99, 0xa4, 0x1a, 0xe9,
                                0xe9, 0x56, 0x28, 0xbc, 0x64, 0xf2, 0xf1, 0xb2, 0x0c, 0x2d, 0x7e,
                                0x9f, 0x51, 0x77, 0xa3, 0xc2, 0x94, 0xd4, 0x46, 0x22, 0x99};

static EVP_PKEY *pkey;
static ts_p256_table *table;

static void init(void)
{
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (!b || !ctx ||
        !OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
        !OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub) ||
        !(params = OSSL_PARAM_BLD_to_param(b)) || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        abort();
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(b);
    EVP_PKEY_CTX_free(ctx);
    table = ts_authn__p256_table_from_pkey(pkey);
    if (!table)
        abort();
}

/* r||s as DER; OpenSSL itself refuses values out of [1, n-1]. */
static size_t to_der(const uint8_t sig[64], unsigned char *der, size_t cap)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
    if (!es || !r || !s || !ECDSA_SIG_set0(es, r, s))
        abort();
    unsigned char *p = der;
    int n = i2d_ECDSA_SIG(es, &p);
    ECDSA_SIG_free(es);
    if (n <= 0 || (size_t)n > cap)
        abort();
    return (size_t)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!pkey)
        init();
    if (size < 64)
        return 0;
    const uint8_t *sig = data, *msg = data + 64;
    size_t len = size - 64;
    unsigned char der[80];
    size_t dl = to_der(sig, der, sizeof der);

    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    if (!mctx || EVP_DigestVerifyInit(mctx, NULL, EVP_sha256(), NULL, pkey) != 1)
        abort();
    bool theirs = EVP_DigestVerify(mctx, der, dl, msg, len) == 1;
    EVP_MD_CTX_free(mctx);
    if (ts_authn__p256_verify(table, msg, len, sig) != theirs)
        abort();

    if (len >= 32) {
        EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new(pkey, NULL);
        if (!pctx || EVP_PKEY_verify_init(pctx) != 1)
            abort();
        theirs = EVP_PKEY_verify(pctx, der, dl, msg, 32) == 1;
        EVP_PKEY_CTX_free(pctx);
        if (ts_authn__p256_verify_digest(table, msg, sig) != theirs)
            abort();
    }
    return 0;
}
