/* The dedicated ES256 verifier (jose/p256.h): field and scalar arithmetic against BIGNUM, point
   edge cases and u1*G + u2*Q against EC_POINT, RFC 6979 known answers, and every verification
   decision against OpenSSL's on the same inputs, including crafted corner cases. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "testkit.h"

#include "jose/p256.h"

static const uint8_t P_BE[32] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
                                 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff,
                                 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static EC_GROUP *grp;
static BIGNUM *bn_p, *bn_n;
static BN_CTX *bnc;

/* ---- helpers ------------------------------------------------------------------------------ */

static void hex_into(uint8_t *out, size_t n, const char *hex)
{
    assert_int_equal(strlen(hex), 2 * n);
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

static void rand_bytes(uint8_t *out, size_t n)
{
    assert_int_equal(RAND_bytes(out, (int)n), 1);
}

static void bn_to32(const BIGNUM *bn, uint8_t out[32])
{
    assert_int_equal(BN_bn2binpad(bn, out, 32), 32);
}

static BIGNUM *bn_from32(const uint8_t in[32])
{
    BIGNUM *bn = BN_bin2bn(in, 32, NULL);
    assert_non_null(bn);
    return bn;
}

static void rand_below(BIGNUM *r, const BIGNUM *m)
{
    assert_int_equal(BN_rand_range(r, m), 1);
}

static void pub_xy(const EVP_PKEY *pk, uint8_t x[32], uint8_t y[32])
{
    BIGNUM *bx = NULL, *by = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_X, &bx), 1);
    assert_int_equal(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_Y, &by), 1);
    bn_to32(bx, x);
    bn_to32(by, y);
    BN_free(bx);
    BN_free(by);
}

static EVP_PKEY *gen_key(void)
{
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    assert_non_null(pk);
    return pk;
}

/* A public P-256 EVP_PKEY from coordinates; NULL when OpenSSL refuses the point. */
static EVP_PKEY *pkey_from_xy(const uint8_t x[32], const uint8_t y[32])
{
    uint8_t oct[65];
    oct[0] = 0x04;
    memcpy(oct + 1, x, 32);
    memcpy(oct + 33, y, 32);
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    assert_non_null(b);
    assert_int_equal(
        OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0), 1);
    assert_int_equal(OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, oct, 65), 1);
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(b);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *pk = NULL;
    if (!ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pk = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(b);
    return pk;
}

static void point_xy(const EC_POINT *pt, uint8_t x[32], uint8_t y[32])
{
    BIGNUM *bx = BN_new(), *by = BN_new();
    assert_int_equal(EC_POINT_get_affine_coordinates(grp, pt, bx, by, bnc), 1);
    bn_to32(bx, x);
    bn_to32(by, y);
    BN_free(bx);
    BN_free(by);
}

static EVP_PKEY *pkey_from_point(const EC_POINT *pt)
{
    uint8_t x[32], y[32];
    point_xy(pt, x, y);
    EVP_PKEY *pk = pkey_from_xy(x, y);
    assert_non_null(pk);
    return pk;
}

static ts_p256_table *table_for(const EVP_PKEY *pk)
{
    ts_p256_table *t = ts_authn__p256_table_from_pkey(pk);
    assert_non_null(t);
    return t;
}

static size_t sig_to_der(const uint8_t sig[64], unsigned char *der, size_t cap)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
    assert_true(es && r && s && ECDSA_SIG_set0(es, r, s));
    unsigned char *p = der;
    int n = i2d_ECDSA_SIG(es, &p);
    ECDSA_SIG_free(es);
    assert_true(n > 0 && (size_t)n <= cap);
    return (size_t)n;
}

static void der_to_sig(const unsigned char *der, size_t len, uint8_t sig[64])
{
    const unsigned char *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)len);
    assert_non_null(es);
    const BIGNUM *r = NULL, *s = NULL;
    ECDSA_SIG_get0(es, &r, &s);
    bn_to32(r, sig);
    bn_to32(s, sig + 32);
    ECDSA_SIG_free(es);
}

static void ossl_sign_msg(EVP_PKEY *pk, const void *msg, size_t len, uint8_t sig[64])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char der[80];
    size_t dl = sizeof der;
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pk), 1);
    assert_int_equal(EVP_DigestSign(ctx, der, &dl, msg, len), 1);
    EVP_MD_CTX_free(ctx);
    der_to_sig(der, dl, sig);
}

static void ossl_sign_digest(EVP_PKEY *pk, const uint8_t digest[32], uint8_t sig[64])
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pk, NULL);
    unsigned char der[80];
    size_t dl = sizeof der;
    assert_int_equal(EVP_PKEY_sign_init(ctx), 1);
    assert_int_equal(EVP_PKEY_sign(ctx, der, &dl, digest, 32), 1);
    EVP_PKEY_CTX_free(ctx);
    der_to_sig(der, dl, sig);
}

static bool ossl_verify_msg(EVP_PKEY *pk, const void *msg, size_t len, const uint8_t sig[64])
{
    unsigned char der[80];
    size_t dl = sig_to_der(sig, der, sizeof der);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pk), 1);
    int rc = EVP_DigestVerify(ctx, der, dl, msg, len);
    EVP_MD_CTX_free(ctx);
    return rc == 1;
}

static bool ossl_verify_digest(EVP_PKEY *pk, const uint8_t digest[32], const uint8_t sig[64])
{
    unsigned char der[80];
    size_t dl = sig_to_der(sig, der, sizeof der);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pk, NULL);
    assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
    int rc = EVP_PKEY_verify(ctx, der, dl, digest, 32);
    EVP_PKEY_CTX_free(ctx);
    return rc == 1;
}

static void hexdump(const char *what, const uint8_t *b, size_t n)
{
    fprintf(stderr, "%s: ", what);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "%02x", b[i]);
    fprintf(stderr, "\n");
}

/* Both verifiers on SHA-256(msg); they must agree, and with @p expect unless it is -1. */
static bool same_msg(EVP_PKEY *pk, const ts_p256_table *t, const void *msg, size_t len,
                     const uint8_t sig[64], int expect)
{
    bool ours = ts_authn__p256_verify(t, msg, len, sig);
    bool theirs = ossl_verify_msg(pk, msg, len, sig);
    if (ours != theirs || (expect >= 0 && ours != (expect == 1))) {
        uint8_t x[32], y[32];
        pub_xy(pk, x, y);
        hexdump("key x", x, 32);
        hexdump("key y", y, 32);
        hexdump("msg", msg, len);
        hexdump("sig", sig, 64);
        fail_msg("ours %d, OpenSSL %d, expected %d", ours, theirs, expect);
    }
    return ours;
}

static bool same_digest(EVP_PKEY *pk, const ts_p256_table *t, const uint8_t digest[32],
                        const uint8_t sig[64], int expect)
{
    bool ours = ts_authn__p256_verify_digest(t, digest, sig);
    bool theirs = ossl_verify_digest(pk, digest, sig);
    if (ours != theirs || (expect >= 0 && ours != (expect == 1))) {
        hexdump("digest", digest, 32);
        hexdump("sig", sig, 64);
        fail_msg("ours %d, OpenSSL %d, expected %d", ours, theirs, expect);
    }
    return ours;
}

/* ---- arithmetic --------------------------------------------------------------------------- */

static void test_field_against_bignum(void **state)
{
    (void)state;
    uint8_t pm1[32], buf[32], out[32];
    ts_p256_fe a, b, r;
    /* p itself and anything above is not a field element; p - 1 is. */
    assert_false(ts_authn__p256_fe_from_bytes(&a, P_BE));
    memset(buf, 0xff, sizeof buf);
    assert_false(ts_authn__p256_fe_from_bytes(&a, buf));
    BIGNUM *t = BN_dup(bn_p);
    BN_sub_word(t, 1);
    bn_to32(t, pm1);
    assert_true(ts_authn__p256_fe_from_bytes(&a, pm1));
    ts_authn__p256_fe_to_bytes(out, &a);
    assert_memory_equal(out, pm1, 32);
    ts_authn__p256_fe_to_bytes(out, &ts_authn__p256_fe_one);
    memset(buf, 0, sizeof buf);
    buf[31] = 1;
    assert_memory_equal(out, buf, 32);

    BIGNUM *x = BN_new(), *y = BN_new(), *z = BN_new();
    for (int i = 0; i < 2000; i++) {
        /* Mostly random, sometimes the extremes 0, 1, p-1. */
        if (i < 9) {
            BN_set_word(x, (BN_ULONG)(i % 3 == 2 ? 0 : i % 3));
            BN_set_word(y, (BN_ULONG)(i / 3 == 2 ? 0 : i / 3));
            if (i % 3 == 2)
                BN_copy(x, t);
            if (i / 3 == 2)
                BN_copy(y, t);
        } else {
            rand_below(x, bn_p);
            rand_below(y, bn_p);
        }
        uint8_t xb[32], yb[32];
        bn_to32(x, xb);
        bn_to32(y, yb);
        assert_true(ts_authn__p256_fe_from_bytes(&a, xb));
        assert_true(ts_authn__p256_fe_from_bytes(&b, yb));

        ts_authn__p256_fe_mul(&r, &a, &b);
        ts_authn__p256_fe_to_bytes(out, &r);
        BN_mod_mul(z, x, y, bn_p, bnc);
        bn_to32(z, buf);
        assert_memory_equal(out, buf, 32);

        ts_authn__p256_fe_sqr(&r, &a);
        ts_authn__p256_fe_to_bytes(out, &r);
        BN_mod_sqr(z, x, bn_p, bnc);
        bn_to32(z, buf);
        assert_memory_equal(out, buf, 32);

        ts_authn__p256_fe_add(&r, &a, &b);
        ts_authn__p256_fe_to_bytes(out, &r);
        BN_mod_add(z, x, y, bn_p, bnc);
        bn_to32(z, buf);
        assert_memory_equal(out, buf, 32);

        ts_authn__p256_fe_sub(&r, &a, &b);
        ts_authn__p256_fe_to_bytes(out, &r);
        BN_mod_sub(z, x, y, bn_p, bnc);
        bn_to32(z, buf);
        assert_memory_equal(out, buf, 32);

        if (i % 10 == 0 && !BN_is_zero(x)) {
            ts_authn__p256_fe_inv(&r, &a);
            ts_authn__p256_fe_to_bytes(out, &r);
            assert_non_null(BN_mod_inverse(z, x, bn_p, bnc));
            bn_to32(z, buf);
            assert_memory_equal(out, buf, 32);
        }
    }
    /* The Montgomery constant b is the curve's b. */
    BIGNUM *cb = BN_new();
    assert_int_equal(EC_GROUP_get_curve(grp, z, NULL, cb, bnc), 1);
    assert_int_equal(BN_cmp(z, bn_p), 0);
    ts_authn__p256_fe_to_bytes(out, &ts_authn__p256_fe_b);
    bn_to32(cb, buf);
    assert_memory_equal(out, buf, 32);
    BN_free(cb);
    BN_free(x);
    BN_free(y);
    BN_free(z);
    BN_free(t);
}

static void test_scalar_against_bignum(void **state)
{
    (void)state;
    uint8_t nb[32], buf[32], out[32];
    bn_to32(bn_n, nb);
    ts_p256_scalar a, b, r;
    /* Range checks: 0 and n out, 1 and n-1 in. */
    memset(buf, 0, sizeof buf);
    ts_authn__p256_scalar_from_bytes(&a, buf);
    assert_false(ts_authn__p256_scalar_in_range(&a));
    assert_false(ts_authn__p256_scalar_inv(&r, &a));
    ts_authn__p256_scalar_from_bytes(&a, nb);
    assert_false(ts_authn__p256_scalar_in_range(&a));
    assert_false(ts_authn__p256_scalar_inv(&r, &a));
    ts_authn__p256_scalar_reduce(&r, &a); /* n mod n = 0 */
    ts_authn__p256_scalar_to_bytes(out, &r);
    assert_memory_equal(out, buf, 32);
    buf[31] = 1;
    ts_authn__p256_scalar_from_bytes(&a, buf);
    assert_true(ts_authn__p256_scalar_in_range(&a));
    BIGNUM *x = BN_new(), *y = BN_new(), *z = BN_new();
    BN_copy(x, bn_n);
    BN_sub_word(x, 1);
    bn_to32(x, buf);
    ts_authn__p256_scalar_from_bytes(&a, buf);
    assert_true(ts_authn__p256_scalar_in_range(&a));
    /* 2^256 - 1 reduces to 2^256 - 1 - n. */
    memset(buf, 0xff, sizeof buf);
    ts_authn__p256_scalar_from_bytes(&a, buf);
    assert_false(ts_authn__p256_scalar_in_range(&a));
    ts_authn__p256_scalar_reduce(&r, &a);
    ts_authn__p256_scalar_to_bytes(out, &r);
    BN_bin2bn(buf, 32, x);
    BN_nnmod(z, x, bn_n, bnc);
    bn_to32(z, buf);
    assert_memory_equal(out, buf, 32);

    for (int i = 0; i < 2000; i++) {
        if (i == 0) {
            BN_copy(x, bn_n);
            BN_sub_word(x, 1);
            BN_copy(y, x);
        } else if (i == 1) {
            BN_one(x);
            BN_one(y);
        } else {
            rand_below(x, bn_n);
            rand_below(y, bn_n);
        }
        uint8_t xb[32], yb[32];
        bn_to32(x, xb);
        bn_to32(y, yb);
        ts_authn__p256_scalar_from_bytes(&a, xb);
        ts_authn__p256_scalar_from_bytes(&b, yb);
        ts_authn__p256_scalar_mul(&r, &a, &b);
        ts_authn__p256_scalar_to_bytes(out, &r);
        BN_mod_mul(z, x, y, bn_n, bnc);
        bn_to32(z, buf);
        assert_memory_equal(out, buf, 32);
        if (BN_is_zero(x)) {
            assert_false(ts_authn__p256_scalar_inv(&r, &a));
            continue;
        }
        assert_true(ts_authn__p256_scalar_inv(&r, &a));
        ts_authn__p256_scalar_to_bytes(out, &r);
        assert_non_null(BN_mod_inverse(z, x, bn_n, bnc));
        bn_to32(z, buf);
        assert_memory_equal(out, buf, 32);
    }
    BN_free(x);
    BN_free(y);
    BN_free(z);
}

/* ---- points ------------------------------------------------------------------------------- */

static void assert_point_eq(const ts_p256_jacobian *j, const EC_POINT *pt)
{
    uint8_t x[32], y[32], ex[32], ey[32];
    if (EC_POINT_is_at_infinity(grp, pt)) {
        assert_false(ts_authn__p256_point_to_bytes(j, x, y));
        return;
    }
    assert_true(ts_authn__p256_point_to_bytes(j, x, y));
    point_xy(pt, ex, ey);
    assert_memory_equal(x, ex, 32);
    assert_memory_equal(y, ey, 32);
}

static EC_POINT *mul_g(const BIGNUM *k)
{
    EC_POINT *pt = EC_POINT_new(grp);
    assert_int_equal(EC_POINT_mul(grp, pt, k, NULL, NULL, bnc), 1);
    return pt;
}

static void affine_of(const EC_POINT *pt, ts_p256_affine *a)
{
    uint8_t x[32], y[32];
    point_xy(pt, x, y);
    assert_true(ts_authn__p256_point_from_bytes(a, x, y));
}

static void test_point_edge_cases(void **state)
{
    (void)state;
    BIGNUM *k = BN_new();
    ts_p256_affine g, g2, negg, neg3;
    ts_p256_jacobian acc, inf, r;
    BN_one(k);
    EC_POINT *G = mul_g(k);
    affine_of(G, &g);
    BN_set_word(k, 2);
    EC_POINT *G2 = mul_g(k);
    affine_of(G2, &g2);
    BN_set_word(k, 3);
    EC_POINT *G3 = mul_g(k);
    BN_set_word(k, 4);
    EC_POINT *G4 = mul_g(k);
    BN_set_word(k, 6);
    EC_POINT *G6 = mul_g(k);
    EC_POINT *O = EC_POINT_new(grp);
    EC_POINT_set_to_infinity(grp, O);

    /* The published 2G. */
    uint8_t x[32], y[32], ex[32];
    hex_into(ex, 32, "7cf27b188d034f7e8a52380304b51ac3c08969e277f21b35a60b48fc47669978");
    point_xy(G2, x, y);
    assert_memory_equal(x, ex, 32);

    memset(&inf, 0, sizeof inf);
    /* infinity + G = G; 2 * infinity = infinity */
    ts_authn__p256_point_add_affine(&r, &inf, &g);
    assert_point_eq(&r, G);
    ts_authn__p256_point_double(&r, &inf);
    assert_point_eq(&r, O);
    /* G + G inside the addition is a doubling, Z = 1 and Z != 1 alike. */
    ts_authn__p256_point_from_affine(&acc, &g);
    ts_authn__p256_point_add_affine(&r, &acc, &g);
    assert_point_eq(&r, G2);
    ts_authn__p256_point_double(&acc, &acc);
    assert_point_eq(&acc, G2);
    ts_authn__p256_point_add_affine(&r, &acc, &g2); /* acc = 2G with Z != 1, plus 2G */
    assert_point_eq(&r, G4);
    ts_authn__p256_point_add_affine(&acc, &acc, &g); /* in place: 3G */
    assert_point_eq(&acc, G3);
    ts_authn__p256_point_double(&acc, &acc);
    assert_point_eq(&acc, G6);
    /* P + (-P) = infinity, and the accumulator carries on from there. */
    ts_authn__p256_point_neg(&negg, &g);
    ts_authn__p256_point_from_affine(&acc, &g);
    ts_authn__p256_point_add_affine(&r, &acc, &negg);
    assert_point_eq(&r, O);
    ts_authn__p256_point_add_affine(&r, &r, &g2);
    assert_point_eq(&r, G2);
    ts_authn__p256_point_from_affine(&acc, &g);
    ts_authn__p256_point_add_affine(&acc, &acc, &g2); /* 3G, Z != 1 */
    affine_of(G3, &neg3);
    ts_authn__p256_point_neg(&neg3, &neg3);
    ts_authn__p256_point_add_affine(&r, &acc, &neg3);
    assert_point_eq(&r, O);
    /* G - 2G = -G */
    ts_authn__p256_point_neg(&neg3, &g2);
    ts_authn__p256_point_from_affine(&acc, &g);
    ts_authn__p256_point_add_affine(&r, &acc, &neg3);
    EC_POINT_invert(grp, G, bnc);
    assert_point_eq(&r, G);

    /* Points that are not on the curve, or have a coordinate >= p, are refused. */
    ts_p256_affine bad;
    point_xy(G2, x, y);
    y[31] ^= 1;
    assert_false(ts_authn__p256_point_from_bytes(&bad, x, y));
    assert_false(ts_authn__p256_point_from_bytes(&bad, P_BE, y));
    memset(x, 0, sizeof x);
    memset(y, 0, sizeof y);
    assert_false(ts_authn__p256_point_from_bytes(&bad, x, y));
    /* x and y + p would be the same point mod p but is not canonical. */
    point_xy(G2, x, y);
    BIGNUM *yy = bn_from32(y);
    BN_add(yy, yy, bn_p);
    if (BN_num_bytes(yy) <= 32) {
        bn_to32(yy, y);
        assert_false(ts_authn__p256_point_from_bytes(&bad, x, y));
    }
    BN_free(yy);
    assert_true(ts_authn__p256_table_bytes() >= 32 * 64 * sizeof(ts_p256_affine));

    EC_POINT_free(G);
    EC_POINT_free(G2);
    EC_POINT_free(G3);
    EC_POINT_free(G4);
    EC_POINT_free(G6);
    EC_POINT_free(O);
    BN_free(k);
}

/* u1*G + u2*Q through the comb tables against EC_POINT_mul, for the generator and a random
   key as Q; Q = G makes u2 = n - u1 cancel to infinity and u1 = u2 hit doubling mid-sum. */
static void check_double_mul(const ts_p256_table *t, const EC_POINT *q, const BIGNUM *u1,
                             const BIGNUM *u2)
{
    uint8_t b1[32], b2[32];
    bn_to32(u1, b1);
    bn_to32(u2, b2);
    ts_p256_scalar s1, s2;
    ts_authn__p256_scalar_from_bytes(&s1, b1);
    ts_authn__p256_scalar_from_bytes(&s2, b2);
    ts_p256_jacobian r;
    assert_true(ts_authn__p256_double_mul(&r, &s1, t, &s2));
    EC_POINT *e = EC_POINT_new(grp);
    assert_int_equal(EC_POINT_mul(grp, e, u1, q, u2, bnc), 1);
    assert_point_eq(&r, e);
    EC_POINT_free(e);
}

static void test_double_mul(void **state)
{
    (void)state;
    BIGNUM *u1 = BN_new(), *u2 = BN_new(), *one = BN_new();
    BN_one(one);
    EC_POINT *G = mul_g(one);
    EVP_PKEY *pk = gen_key();
    ts_p256_table *tq = table_for(pk);
    uint8_t x[32], y[32];
    pub_xy(pk, x, y);
    EC_POINT *Q = EC_POINT_new(grp);
    BIGNUM *bx = bn_from32(x), *by = bn_from32(y);
    assert_int_equal(EC_POINT_set_affine_coordinates(grp, Q, bx, by, bnc), 1);
    const ts_p256_table *tg = ts_authn__p256_base_table();
    assert_non_null(tg);

    /* Scalars that stress the signed recoding: 0, 1, n-1, all-ones windows, single bits. */
    BIGNUM *special[12];
    for (int i = 0; i < 12; i++)
        special[i] = BN_new();
    BN_zero(special[0]);
    BN_one(special[1]);
    BN_sub(special[2], bn_n, one);
    BN_set_word(special[3], 64);
    BN_set_word(special[4], 65);
    BN_set_word(special[5], 127);
    BN_set_word(special[6], 128);
    BN_lshift(special[7], one, 255);
    BN_lshift(special[8], one, 252);
    BN_sub(special[8], special[8], one); /* 252 one bits */
    BN_lshift(special[9], one, 7 * 36);
    BN_rshift1(special[10], bn_n);
    BN_sub(special[11], bn_n, special[6]);
    for (int i = 0; i < 12; i++)
        for (int j = 0; j < 12; j++) {
            check_double_mul(tq, Q, special[i], special[j]);
            check_double_mul(tg, G, special[i], special[j]);
        }
    for (int i = 0; i < 300; i++) {
        rand_below(u1, bn_n);
        rand_below(u2, bn_n);
        check_double_mul(tq, Q, u1, u2);
        check_double_mul(tg, G, u1, u1);                          /* 2*u1*G */
        assert_int_equal(BN_mod_sub(u2, bn_n, u1, bn_n, bnc), 1); /* (n - u1) mod n */
        check_double_mul(tg, G, u1, u2);                          /* infinity */
    }
    /* Scalars >= n are refused. */
    uint8_t nb[32];
    bn_to32(bn_n, nb);
    ts_p256_scalar sn, s1;
    ts_authn__p256_scalar_from_bytes(&sn, nb);
    ts_authn__p256_scalar_from_bytes(&s1, nb);
    s1.v[0] = 1;
    ts_p256_jacobian r;
    assert_false(ts_authn__p256_double_mul(&r, &sn, tq, &s1));
    assert_false(ts_authn__p256_double_mul(&r, &s1, tq, &sn));

    for (int i = 0; i < 12; i++)
        BN_free(special[i]);
    BN_free(bx);
    BN_free(by);
    EC_POINT_free(Q);
    EC_POINT_free(G);
    ts_authn__p256_table_free(tq);
    EVP_PKEY_free(pk);
    BN_free(u1);
    BN_free(u2);
    BN_free(one);
}

/* ---- verification against OpenSSL --------------------------------------------------------- */

/* RFC 6979 §A.2.5: P-256 with SHA-256 over "sample" and "test". */
static void test_known_answers(void **state)
{
    (void)state;
    static const struct {
        const char *msg, *r, *s;
        int ok;
    } v[] = {
        {"sample", "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716",
         "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8", 1},
        {"test", "F1ABB023518351CD71D881567B1EA663ED3EFCF6C5132B354F28D3B0B7D38367",
         "019F4113742A2B14BD25926B49C649155F267E60D3814B4C0CC84250E46F0083", 1},
        /* each signature over the other message */
        {"test", "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716",
         "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8", 0},
        {"sample", "F1ABB023518351CD71D881567B1EA663ED3EFCF6C5132B354F28D3B0B7D38367",
         "019F4113742A2B14BD25926B49C649155F267E60D3814B4C0CC84250E46F0083", 0},
        /* (r, n - s) is the same signature's twin and verifies too */
        {"sample", "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716",
         "0834E36AD29A83BF2BC9385E491D6099C8FDF9D1ED67AA7EA5F51F93782857A9", 1},
        /* s off by one */
        {"sample", "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716",
         "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA9", 0},
    };
    uint8_t x[32], y[32], sig[64];
    hex_into(x, 32, "60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6");
    hex_into(y, 32, "7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299");
    EVP_PKEY *pk = pkey_from_xy(x, y);
    assert_non_null(pk);
    ts_p256_table *t = table_for(pk);
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        hex_into(sig, 32, v[i].r);
        hex_into(sig + 32, 32, v[i].s);
        same_msg(pk, t, v[i].msg, strlen(v[i].msg), sig, v[i].ok);
    }
    ts_authn__p256_table_free(t);
    EVP_PKEY_free(pk);
}

static void test_differential_random(void **state)
{
    (void)state;
    enum { KEYS = 50, MSGS = 40 };
    EVP_PKEY *prev = NULL;
    ts_p256_table *prev_t = NULL;
    unsigned accepted = 0;
    for (int k = 0; k < KEYS; k++) {
        EVP_PKEY *pk = gen_key();
        ts_p256_table *t = table_for(pk);
        for (int m = 0; m < MSGS; m++) {
            uint8_t msg[96], sig[64], bad[64];
            size_t len = (size_t)(m * 7 % 97);
            rand_bytes(msg, sizeof msg);
            ossl_sign_msg(pk, msg, len, sig);
            accepted += same_msg(pk, t, msg, len, sig, 1);
            /* one flipped bit anywhere in r or s */
            memcpy(bad, sig, 64);
            uint8_t pick;
            rand_bytes(&pick, 1);
            bad[pick % 64] ^= (uint8_t)(1u << (pick / 64 * 2 + (m & 1)));
            same_msg(pk, t, msg, len, bad, 0);
            /* one flipped bit in the message */
            if (len) {
                msg[pick % len] ^= (uint8_t)(1u << (pick % 8));
                same_msg(pk, t, msg, len, sig, 0);
                msg[pick % len] ^= (uint8_t)(1u << (pick % 8));
            }
            /* another key */
            if (prev)
                same_msg(prev, prev_t, msg, len, sig, 0);
            /* random r, s: in range or not, both must refuse */
            rand_bytes(bad, 64);
            if (m % 4 == 0)
                bad[0] = bad[32] = 0; /* below n */
            same_msg(pk, t, msg, len, bad, 0);
        }
        ts_authn__p256_table_free(prev_t);
        EVP_PKEY_free(prev);
        prev = pk;
        prev_t = t;
    }
    assert_int_equal(accepted, KEYS * MSGS);
    ts_authn__p256_table_free(prev_t);
    EVP_PKEY_free(prev);
}

/* A key with one bit of x flipped (and the matching y, when that x is on the curve) does not
   verify the original key's signature; the flipped x with the old y is no point at all, for
   both implementations. */
static void test_flipped_key(void **state)
{
    (void)state;
    EVP_PKEY *pk = gen_key();
    uint8_t msg[] = "flipped key", sig[64], x[32], y[32];
    ossl_sign_msg(pk, msg, sizeof msg, sig);
    pub_xy(pk, x, y);
    EC_POINT *pt = EC_POINT_new(grp);
    int tried = 0;
    for (int bit = 0; bit < 256; bit++) {
        uint8_t fx[32], fy[32];
        memcpy(fx, x, 32);
        fx[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        ts_p256_affine a;
        EVP_PKEY *fk = pkey_from_xy(fx, y);
        assert_int_equal(ts_authn__p256_point_from_bytes(&a, fx, y), fk != NULL);
        EVP_PKEY_free(fk);
        BIGNUM *bx = bn_from32(fx);
        ERR_set_mark();
        int on = EC_POINT_set_compressed_coordinates(grp, pt, bx, y[31] & 1, bnc);
        ERR_pop_to_mark();
        BN_free(bx);
        if (on != 1)
            continue;
        point_xy(pt, fx, fy);
        assert_true(ts_authn__p256_point_from_bytes(&a, fx, fy));
        fk = pkey_from_xy(fx, fy);
        assert_non_null(fk);
        ts_p256_table *t = table_for(fk);
        same_msg(fk, t, msg, sizeof msg, sig, 0);
        tried++;
        ts_authn__p256_table_free(t);
        EVP_PKEY_free(fk);
    }
    assert_true(tried > 0);
    EC_POINT_free(pt);
    EVP_PKEY_free(pk);
}

static void put_bn(uint8_t *out, const BIGNUM *bn)
{
    bn_to32(bn, out);
}

/* r, s at and around the bounds: 0, 1, n-1, n, n+1, p-1, p, 2^256-1. */
static void test_bounds(void **state)
{
    (void)state;
    EVP_PKEY *pk = gen_key();
    ts_p256_table *t = table_for(pk);
    uint8_t msg[] = "bounds", sig[64], good[64];
    ossl_sign_msg(pk, msg, sizeof msg, good);
    BIGNUM *v[8];
    for (int i = 0; i < 8; i++)
        v[i] = BN_new();
    BN_zero(v[0]);
    BN_one(v[1]);
    BN_sub(v[2], bn_n, v[1]);
    BN_copy(v[3], bn_n);
    BN_add(v[4], bn_n, v[1]);
    BN_sub(v[5], bn_p, v[1]);
    BN_copy(v[6], bn_p);
    BN_lshift(v[7], v[1], 256);
    BN_sub(v[7], v[7], v[1]);
    for (int i = 0; i < 8; i++) {
        for (int j = 0; j < 8; j++) {
            put_bn(sig, v[i]);
            put_bn(sig + 32, v[j]);
            same_msg(pk, t, msg, sizeof msg, sig, 0);
        }
        /* the valid r with a bound s and the other way round */
        memcpy(sig, good, 32);
        put_bn(sig + 32, v[i]);
        same_msg(pk, t, msg, sizeof msg, sig, 0);
        memcpy(sig + 32, good + 32, 32);
        put_bn(sig, v[i]);
        same_msg(pk, t, msg, sizeof msg, sig, 0);
    }
    /* s replaced by s + n (same value mod n, out of range) is refused when it fits 32 bytes. */
    BIGNUM *s = bn_from32(good + 32);
    BN_add(s, s, bn_n);
    if (BN_num_bytes(s) <= 32) {
        memcpy(sig, good, 32);
        put_bn(sig + 32, s);
        same_msg(pk, t, msg, sizeof msg, sig, 0);
    }
    BN_free(s);
    for (int i = 0; i < 8; i++)
        BN_free(v[i]);
    ts_authn__p256_table_free(t);
    EVP_PKEY_free(pk);
}

/* e = 0 mod n makes u1 = 0: a digest of zeros, and a digest equal to n. */
static void test_u1_zero(void **state)
{
    (void)state;
    uint8_t digests[2][32], sig[64];
    memset(digests[0], 0, 32);
    bn_to32(bn_n, digests[1]);
    for (int k = 0; k < 10; k++) {
        EVP_PKEY *pk = gen_key();
        ts_p256_table *t = table_for(pk);
        for (int d = 0; d < 2; d++) {
            ossl_sign_digest(pk, digests[d], sig);
            same_digest(pk, t, digests[d], sig, 1);
            same_digest(pk, t, digests[1 - d], sig, 1); /* the same e */
            sig[63] ^= 1;
            same_digest(pk, t, digests[d], sig, 0);
        }
        ts_authn__p256_table_free(t);
        EVP_PKEY_free(pk);
    }
}

/* e = -r*d makes u1*G + u2*Q the point at infinity, reached by the last addition of the sum
   being the negation of the accumulator: it must be refused. */
static void test_sum_at_infinity(void **state)
{
    (void)state;
    BIGNUM *d = NULL, *r = BN_new(), *s = BN_new(), *e = BN_new();
    for (int k = 0; k < 20; k++) {
        EVP_PKEY *pk = gen_key();
        ts_p256_table *t = table_for(pk);
        assert_int_equal(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_PRIV_KEY, &d), 1);
        do
            rand_below(r, bn_n);
        while (BN_is_zero(r));
        do
            rand_below(s, bn_n);
        while (BN_is_zero(s));
        BN_mod_mul(e, r, d, bn_n, bnc);
        BN_mod_sub(e, bn_n, e, bn_n, bnc);
        uint8_t digest[32], sig[64];
        bn_to32(e, digest);
        bn_to32(r, sig);
        bn_to32(s, sig + 32);
        same_digest(pk, t, digest, sig, 0);
        /* and directly: u1*G + u2*Q is infinity */
        ts_p256_scalar se, sr, ss, w, u1, u2;
        ts_authn__p256_scalar_from_bytes(&se, digest);
        ts_authn__p256_scalar_from_bytes(&sr, sig);
        ts_authn__p256_scalar_from_bytes(&ss, sig + 32);
        assert_true(ts_authn__p256_scalar_inv(&w, &ss));
        ts_authn__p256_scalar_mul(&u1, &se, &w);
        ts_authn__p256_scalar_mul(&u2, &sr, &w);
        ts_p256_jacobian R;
        assert_true(ts_authn__p256_double_mul(&R, &u1, t, &u2));
        assert_true(ts_authn__p256_fe_is_zero(&R.z));
        BN_clear_free(d);
        d = NULL;
        ts_authn__p256_table_free(t);
        EVP_PKEY_free(pk);
    }
    BN_free(r);
    BN_free(s);
    BN_free(e);
}

/* x(R) in [n, p): the signature's r is x(R) - n. A key is made for a chosen R with
   Q = R - (e/r)G so that (r, s = r) verifies (u2 = 1, u1*G + Q = R). */
static void test_x_above_n(void **state)
{
    (void)state;
    BIGNUM *x = BN_new(), *r = BN_new(), *k = BN_new(), *e = BN_new();
    EC_POINT *R = EC_POINT_new(grp), *T = EC_POINT_new(grp), *Q = EC_POINT_new(grp);
    int found = 0;
    for (unsigned t = 1; found < 6 && t < 200; t++) {
        /* near n and near p */
        if (t % 2) {
            BN_copy(x, bn_n);
            BN_add_word(x, t);
        } else {
            BN_copy(x, bn_p);
            BN_sub_word(x, t);
        }
        ERR_set_mark();
        int on = EC_POINT_set_compressed_coordinates(grp, R, x, (int)(t / 2 % 2), bnc);
        ERR_pop_to_mark();
        if (on != 1)
            continue;
        found++;
        BN_sub(r, x, bn_n);
        uint8_t msg[16], digest[32], sig[64];
        memcpy(msg, "x above n", 9);
        rand_bytes(msg + 9, 7);
        SHA256(msg, sizeof msg, digest);
        BN_bin2bn(digest, 32, e);
        BN_nnmod(e, e, bn_n, bnc);
        assert_non_null(BN_mod_inverse(k, r, bn_n, bnc));
        BN_mod_mul(k, k, e, bn_n, bnc);
        assert_int_equal(EC_POINT_mul(grp, T, k, NULL, NULL, bnc), 1);
        assert_int_equal(EC_POINT_invert(grp, T, bnc), 1);
        assert_int_equal(EC_POINT_add(grp, Q, R, T, bnc), 1);
        EVP_PKEY *pk = pkey_from_point(Q);
        ts_p256_table *tab = table_for(pk);
        bn_to32(r, sig);
        bn_to32(r, sig + 32);
        same_msg(pk, tab, msg, sizeof msg, sig, 1);
        msg[0] ^= 1;
        same_msg(pk, tab, msg, sizeof msg, sig, 0);
        msg[0] ^= 1;
        /* r = x(R) itself is at or above n: refused */
        bn_to32(x, sig);
        same_msg(pk, tab, msg, sizeof msg, sig, 0);
        ts_authn__p256_table_free(tab);
        EVP_PKEY_free(pk);
    }
    assert_true(found >= 4);
    EC_POINT_free(R);
    EC_POINT_free(T);
    EC_POINT_free(Q);
    BN_free(x);
    BN_free(r);
    BN_free(k);
    BN_free(e);
}

/* ---- through the JWS layer ---------------------------------------------------------------- */

typedef struct shared_case {
    const ts_jwk *key;
    const char *input;
    const uint8_t *sig;
    pthread_barrier_t *start;
    int good, bad;
} shared_case;

static void *verify_thread(void *arg)
{
    shared_case *c = arg;
    uint8_t bad[64];
    memcpy(bad, c->sig, 64);
    bad[10] ^= 0x40;
    pthread_barrier_wait(c->start);
    for (int i = 0; i < 20; i++) {
        if (ts_jws_verify_raw(c->key, TS_JWS_ES256, c->input, strlen(c->input), c->sig, 64, NULL) ==
            TS_OK)
            c->good++;
        if (ts_jws_verify_raw(c->key, TS_JWS_ES256, c->input, strlen(c->input), bad, 64, NULL) ==
            TS_OK)
            c->bad++;
    }
    return NULL;
}

static void test_threads_build_one_table(void **state)
{
    (void)state;
    for (int round = 0; round < 4; round++) {
        ts_jwk *key = ts_jwk_generate(TS_JWS_ES256, NULL);
        assert_non_null(key);
        assert_null(atomic_load(&key->p256));
        const char *input = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ0aHJlYWRzIn0";
        uint8_t sig[64];
        ossl_sign_msg(key->pkey, input, strlen(input), sig);
        pthread_barrier_t start;
        assert_int_equal(pthread_barrier_init(&start, NULL, 4), 0);
        pthread_t th[4];
        shared_case c[4];
        for (int i = 0; i < 4; i++) {
            c[i] = (shared_case){key, input, sig, &start, 0, 0};
            assert_int_equal(pthread_create(&th[i], NULL, verify_thread, &c[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
            assert_int_equal(pthread_join(th[i], NULL), 0);
            assert_int_equal(c[i].good, 20);
            assert_int_equal(c[i].bad, 0);
        }
        pthread_barrier_destroy(&start);
        assert_non_null(atomic_load(&key->p256));
        ts_jwk_free(key);
    }
}

static void test_jws_layer(void **state)
{
    (void)state;
    ts_jwk *key = ts_jwk_generate(TS_JWS_ES256, NULL);
    const char *input = "header.payload";
    uint8_t sig[64];
    ossl_sign_msg(key->pkey, input, strlen(input), sig);
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_jws_verify_raw(key, TS_JWS_ES256, input, strlen(input), sig, 64, &err),
                     TS_OK);
    assert_non_null(atomic_load(&key->p256));
    /* the existing checks still apply: length, algorithm */
    assert_int_equal(ts_jws_verify_raw(key, TS_JWS_ES256, input, strlen(input), sig, 63, &err),
                     TS_EINVAL);
    assert_int_not_equal(ts_jws_verify_raw(key, TS_JWS_ES384, input, strlen(input), sig, 64, &err),
                         TS_OK);
    sig[40] ^= 1;
    assert_int_equal(ts_jws_verify_raw(key, TS_JWS_ES256, input, strlen(input), sig, 64, &err),
                     TS_EINVAL);
    ts_jwk_free(key);
    /* P-384 keys keep the OpenSSL path and never get a table. */
    ts_jwk *k384 = ts_jwk_generate(TS_JWS_ES384, NULL);
    char *tok = NULL;
    assert_int_equal(ts_jws_sign(k384, TS_JWS_ES384, NULL, "{}", 2, &tok, NULL, NULL), TS_OK);
    assert_non_null(tok);
    const char *d2 = strrchr(tok, '.');
    uint8_t raw[96];
    size_t n = 0;
    assert_true(ts_authn__b64url_decode_buf(d2 + 1, strlen(d2 + 1), raw, sizeof raw, &n));
    assert_int_equal(ts_jws_verify_raw(k384, TS_JWS_ES384, tok, (size_t)(d2 - tok), raw, n, NULL),
                     TS_OK);
    assert_null(atomic_load(&k384->p256));
    ts_free(tok);
    ts_jwk_free(k384);
}

static int setup(void **state)
{
    (void)state;
    grp = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    bnc = BN_CTX_new();
    bn_p = BN_new();
    bn_n = BN_dup(EC_GROUP_get0_order(grp));
    if (!grp || !bnc || !bn_p || !bn_n || !EC_GROUP_get_curve(grp, bn_p, NULL, NULL, bnc))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    EC_GROUP_free(grp);
    BN_CTX_free(bnc);
    BN_free(bn_p);
    BN_free(bn_n);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_field_against_bignum),
        cmocka_unit_test(test_scalar_against_bignum),
        cmocka_unit_test(test_point_edge_cases),
        cmocka_unit_test(test_double_mul),
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_differential_random),
        cmocka_unit_test(test_flipped_key),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_u1_zero),
        cmocka_unit_test(test_sum_at_infinity),
        cmocka_unit_test(test_x_above_n),
        cmocka_unit_test(test_threads_build_one_table),
        cmocka_unit_test(test_jws_layer),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
