/*
 * ECDSA P-256 verification (ES256) with precomputed fixed-base comb tables.
 *
 * Verification only ever handles public data (keys, messages, signatures), so this code is
 * variable-time on purpose: it branches on values and indexes tables by scalar digits. It must
 * never be used with a private key or a secret nonce.
 *
 * u1*G + u2*Q is computed as a sum of table entries with no doublings: for a point P, row i of
 * its table holds the affine multiples 1*B_i .. 2^(W-1)*B_i of B_i = 2^(W*i) * P, and a scalar is
 * recoded into signed base-2^W digits, each picking one entry (negated when the digit is
 * negative). The generator's table is a process-wide constant computed once; a key's table is
 * built on its first ES256 verification and kept with the key.
 *
 * Field elements are 4 little-endian 64-bit limbs in Montgomery form (a*2^256 mod p), always
 * fully reduced into [0, p). Scalars are plain integers in the same limb layout.
 */
#ifndef TS_AUTHN_P256_H
#define TS_AUTHN_P256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

/** Signed digit width in bits; the table has TS_P256_ROWS rows of TS_P256_ENTRIES points. */
#define TS_P256_WINDOW 7
/* Rows cover 257 bits: the recoding of a 256-bit scalar can carry into bit 256. */
#define TS_P256_ROWS ((257 + TS_P256_WINDOW - 1) / TS_P256_WINDOW)
#define TS_P256_ENTRIES (1u << (TS_P256_WINDOW - 1))

typedef struct ts_p256_fe {
    uint64_t v[4];
} ts_p256_fe;

typedef struct ts_p256_scalar {
    uint64_t v[4];
} ts_p256_scalar;

typedef struct ts_p256_affine {
    ts_p256_fe x, y;
} ts_p256_affine;

/** Jacobian (X/Z^2, Y/Z^3); Z == 0 is the point at infinity. */
typedef struct ts_p256_jacobian {
    ts_p256_fe x, y, z;
} ts_p256_jacobian;

/** A comb table for one point; immutable once built, so it may be shared by threads. */
typedef struct ts_p256_table ts_p256_table;

/* ---- field arithmetic mod p (p256_field.c) ------------------------------------------------ */

/** Big-endian bytes to Montgomery form; @return false when the value is not below p. */
bool ts_authn__p256_fe_from_bytes(ts_p256_fe *r, const uint8_t in[32]);
void ts_authn__p256_fe_to_bytes(uint8_t out[32], const ts_p256_fe *a);
void ts_authn__p256_fe_mul(ts_p256_fe *r, const ts_p256_fe *a, const ts_p256_fe *b);
void ts_authn__p256_fe_sqr(ts_p256_fe *r, const ts_p256_fe *a);
void ts_authn__p256_fe_add(ts_p256_fe *r, const ts_p256_fe *a, const ts_p256_fe *b);
void ts_authn__p256_fe_sub(ts_p256_fe *r, const ts_p256_fe *a, const ts_p256_fe *b);
/** a^(p-2); the inverse of zero is zero. */
void ts_authn__p256_fe_inv(ts_p256_fe *r, const ts_p256_fe *a);
bool ts_authn__p256_fe_is_zero(const ts_p256_fe *a);
bool ts_authn__p256_fe_equal(const ts_p256_fe *a, const ts_p256_fe *b);
/** Montgomery form of 1 and of the curve coefficient b. */
extern const ts_p256_fe ts_authn__p256_fe_one;
extern const ts_p256_fe ts_authn__p256_fe_b;

/* ---- scalar arithmetic mod n (p256_field.c) ----------------------------------------------- */

/** Big-endian bytes as an integer (not reduced). */
void ts_authn__p256_scalar_from_bytes(ts_p256_scalar *r, const uint8_t in[32]);
void ts_authn__p256_scalar_to_bytes(uint8_t out[32], const ts_p256_scalar *a);
/** @return true when 1 <= a <= n-1. */
bool ts_authn__p256_scalar_in_range(const ts_p256_scalar *a);
/** a mod n for any 256-bit a (one subtraction suffices since 2n > 2^256). */
void ts_authn__p256_scalar_reduce(ts_p256_scalar *r, const ts_p256_scalar *a);
/** a*b mod n; a and b must be below n. */
void ts_authn__p256_scalar_mul(ts_p256_scalar *r, const ts_p256_scalar *a, const ts_p256_scalar *b);
/** a^-1 mod n by the binary extended Euclid; @return false when a is not in [1, n-1]. */
bool ts_authn__p256_scalar_inv(ts_p256_scalar *r, const ts_p256_scalar *a);

/* ---- points (p256.c) ---------------------------------------------------------------------- */

/** Affine point from big-endian coordinates; @return false unless both are below p and the
    point is on the curve (P-256 has cofactor 1, so such a point has order n). */
bool ts_authn__p256_point_from_bytes(ts_p256_affine *r, const uint8_t x[32], const uint8_t y[32]);
/** Affine big-endian coordinates; @return false for the point at infinity. */
bool ts_authn__p256_point_to_bytes(const ts_p256_jacobian *p, uint8_t x[32], uint8_t y[32]);
void ts_authn__p256_point_from_affine(ts_p256_jacobian *r, const ts_p256_affine *a);
void ts_authn__p256_point_neg(ts_p256_affine *r, const ts_p256_affine *a);
/** r = 2a (r may alias a). */
void ts_authn__p256_point_double(ts_p256_jacobian *r, const ts_p256_jacobian *a);
/** r = a + b, also when a is infinity, a == b (doubles) or a == -b (infinity); r may alias a. */
void ts_authn__p256_point_add_affine(ts_p256_jacobian *r, const ts_p256_jacobian *a,
                                     const ts_p256_affine *b);

/* ---- tables and verification (p256.c) ----------------------------------------------------- */

/** Bytes of one table: TS_P256_ROWS * TS_P256_ENTRIES affine points (151,552 for W = 7). */
size_t ts_authn__p256_table_bytes(void);
/** @return a new table for @p p (on the curve), or NULL when out of memory. */
ts_p256_table *ts_authn__p256_table_new(const ts_p256_affine *p);
/** Table for the public key of a P-256 EVP_PKEY; NULL when the key cannot be read, is not on
    the curve, or memory runs out (callers then verify with OpenSSL). */
ts_p256_table *ts_authn__p256_table_from_pkey(const EVP_PKEY *pkey);
void ts_authn__p256_table_free(ts_p256_table *t);
/** The generator's table, computed on first use (a constant; safe from any thread). */
const ts_p256_table *ts_authn__p256_base_table(void);

/** r = u1*G + u2*Q where Q is the point of @p q; both scalars must be below n.
    @return false when a scalar is out of range. */
bool ts_authn__p256_double_mul(ts_p256_jacobian *r, const ts_p256_scalar *u1,
                               const ts_p256_table *q, const ts_p256_scalar *u2);

/** ECDSA verification of a 32-byte digest with the signature r||s (32 bytes each, big-endian)
    against the key whose table is @p q. @return true only for a valid signature. */
bool ts_authn__p256_verify_digest(const ts_p256_table *q, const uint8_t digest[32],
                                  const uint8_t sig[64]);
/** As above on SHA-256(msg): ES256 (RFC 7518 §3.4). */
bool ts_authn__p256_verify(const ts_p256_table *q, const void *msg, size_t len,
                           const uint8_t sig[64]);

#endif
