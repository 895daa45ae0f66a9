/* P-256 points, comb tables and ECDSA verification; see p256.h. Variable time, public data only. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>

#include "jose/p256.h"
#include "jose/sha256.h"

struct ts_p256_table {
    ts_p256_affine pt[TS_P256_ROWS][TS_P256_ENTRIES]; /* pt[i][k] = (k+1) * 2^(W*i) * P */
};

#define fe_mul ts_authn__p256_fe_mul
#define fe_sqr ts_authn__p256_fe_sqr
#define fe_add ts_authn__p256_fe_add
#define fe_sub ts_authn__p256_fe_sub
#define fe_is_zero ts_authn__p256_fe_is_zero

/* ---- points ------------------------------------------------------------------------------- */

bool ts_authn__p256_point_from_bytes(ts_p256_affine *r, const uint8_t x[32], const uint8_t y[32])
{
    ts_p256_affine a;
    if (!ts_authn__p256_fe_from_bytes(&a.x, x) || !ts_authn__p256_fe_from_bytes(&a.y, y))
        return false;
    /* y^2 == x^3 - 3x + b */
    ts_p256_fe lhs, rhs, t;
    fe_sqr(&lhs, &a.y);
    fe_sqr(&rhs, &a.x);
    fe_mul(&rhs, &rhs, &a.x);
    fe_add(&t, &a.x, &a.x);
    fe_add(&t, &t, &a.x);
    fe_sub(&rhs, &rhs, &t);
    fe_add(&rhs, &rhs, &ts_authn__p256_fe_b);
    if (!ts_authn__p256_fe_equal(&lhs, &rhs))
        return false;
    *r = a;
    return true;
}

bool ts_authn__p256_point_to_bytes(const ts_p256_jacobian *p, uint8_t x[32], uint8_t y[32])
{
    if (fe_is_zero(&p->z))
        return false;
    ts_p256_fe zi, zi2, t;
    ts_authn__p256_fe_inv(&zi, &p->z);
    fe_sqr(&zi2, &zi);
    fe_mul(&t, &p->x, &zi2);
    ts_authn__p256_fe_to_bytes(x, &t);
    fe_mul(&t, &p->y, &zi2);
    fe_mul(&t, &t, &zi);
    ts_authn__p256_fe_to_bytes(y, &t);
    return true;
}

void ts_authn__p256_point_from_affine(ts_p256_jacobian *r, const ts_p256_affine *a)
{
    r->x = a->x;
    r->y = a->y;
    r->z = ts_authn__p256_fe_one;
}

void ts_authn__p256_point_neg(ts_p256_affine *r, const ts_p256_affine *a)
{
    static const ts_p256_fe zero = {{0, 0, 0, 0}};
    r->x = a->x;
    fe_sub(&r->y, &zero, &a->y);
}

/* dbl-2001-b (a = -3): 3M + 5S. Infinity (Z = 0) maps to Z3 = 0. */
void ts_authn__p256_point_double(ts_p256_jacobian *r, const ts_p256_jacobian *a)
{
    ts_p256_fe delta, gamma, beta, alpha, t, u, x3, y3, z3;
    fe_sqr(&delta, &a->z);
    fe_sqr(&gamma, &a->y);
    fe_mul(&beta, &a->x, &gamma);
    fe_sub(&t, &a->x, &delta);
    fe_add(&u, &a->x, &delta);
    fe_mul(&alpha, &t, &u);
    fe_add(&t, &alpha, &alpha);
    fe_add(&alpha, &t, &alpha); /* 3(X-delta)(X+delta) */
    fe_add(&t, &a->y, &a->z);
    fe_sqr(&z3, &t);
    fe_sub(&z3, &z3, &gamma);
    fe_sub(&z3, &z3, &delta); /* (Y+Z)^2 - gamma - delta = 2YZ */
    fe_add(&beta, &beta, &beta);
    fe_add(&beta, &beta, &beta); /* 4 beta */
    fe_add(&t, &beta, &beta);
    fe_sqr(&x3, &alpha);
    fe_sub(&x3, &x3, &t); /* alpha^2 - 8 beta */
    fe_sub(&t, &beta, &x3);
    fe_mul(&y3, &alpha, &t);
    fe_sqr(&gamma, &gamma);
    fe_add(&gamma, &gamma, &gamma);
    fe_add(&gamma, &gamma, &gamma);
    fe_add(&gamma, &gamma, &gamma); /* 8 gamma^2 */
    fe_sub(&y3, &y3, &gamma);
    r->x = x3;
    r->y = y3;
    r->z = z3;
}

/* madd-2007-bl: 7M + 4S, with the cases the formula does not cover handled first. */
void ts_authn__p256_point_add_affine(ts_p256_jacobian *r, const ts_p256_jacobian *a,
                                     const ts_p256_affine *b)
{
    if (fe_is_zero(&a->z)) {
        ts_authn__p256_point_from_affine(r, b);
        return;
    }
    ts_p256_fe z1z1, u2, s2, h, hh, i, j, rr, v, t, x3, y3, z3;
    fe_sqr(&z1z1, &a->z);
    fe_mul(&u2, &b->x, &z1z1);
    fe_mul(&s2, &b->y, &a->z);
    fe_mul(&s2, &s2, &z1z1);
    fe_sub(&h, &u2, &a->x);
    fe_sub(&rr, &s2, &a->y);
    if (fe_is_zero(&h)) {
        if (fe_is_zero(&rr)) { /* a == b */
            ts_authn__p256_point_double(r, a);
        } else { /* a == -b */
            memset(r, 0, sizeof *r);
        }
        return;
    }
    fe_add(&rr, &rr, &rr);
    fe_sqr(&hh, &h);
    fe_add(&i, &hh, &hh);
    fe_add(&i, &i, &i);
    fe_mul(&j, &h, &i);
    fe_mul(&v, &a->x, &i);
    fe_sqr(&x3, &rr);
    fe_sub(&x3, &x3, &j);
    fe_sub(&x3, &x3, &v);
    fe_sub(&x3, &x3, &v);
    fe_sub(&t, &v, &x3);
    fe_mul(&y3, &rr, &t);
    fe_mul(&t, &a->y, &j);
    fe_add(&t, &t, &t);
    fe_sub(&y3, &y3, &t);
    fe_add(&t, &a->z, &h);
    fe_sqr(&z3, &t);
    fe_sub(&z3, &z3, &z1z1);
    fe_sub(&z3, &z3, &hh);
    r->x = x3;
    r->y = y3;
    r->z = z3;
}

/* ---- tables ------------------------------------------------------------------------------- */

size_t ts_authn__p256_table_bytes(void)
{
    return sizeof(ts_p256_table);
}

/* One row: the multiples 1..E of base, and the next row's base 2^W * base, all made affine
   with a single inversion (Montgomery's trick). @return false if a Z is zero, which cannot
   happen for a point of prime order n (every multiple below n is finite) but is refused
   rather than trusted. */
static bool build_row(ts_p256_affine row[TS_P256_ENTRIES], ts_p256_affine *next,
                      const ts_p256_affine *base)
{
    enum { M = TS_P256_ENTRIES + 1 };
    ts_p256_jacobian jac[M];
    ts_p256_fe prefix[M], inv, zi, zi2;
    ts_authn__p256_point_from_affine(&jac[0], base);
    for (unsigned k = 1; k < TS_P256_ENTRIES; k++)
        ts_authn__p256_point_add_affine(&jac[k], &jac[k - 1], base);
    ts_authn__p256_point_double(&jac[M - 1], &jac[TS_P256_ENTRIES - 1]);
    prefix[0] = jac[0].z;
    for (unsigned k = 1; k < M; k++)
        fe_mul(&prefix[k], &prefix[k - 1], &jac[k].z);
    if (fe_is_zero(&prefix[M - 1]))
        return false;
    ts_authn__p256_fe_inv(&inv, &prefix[M - 1]);
    for (unsigned k = M; k-- > 0;) {
        if (k > 0) {
            fe_mul(&zi, &inv, &prefix[k - 1]);
            fe_mul(&inv, &inv, &jac[k].z);
        } else {
            zi = inv;
        }
        ts_p256_affine *out = k < TS_P256_ENTRIES ? &row[k] : next;
        fe_sqr(&zi2, &zi);
        fe_mul(&out->x, &jac[k].x, &zi2);
        fe_mul(&out->y, &jac[k].y, &zi2);
        fe_mul(&out->y, &out->y, &zi);
    }
    return true;
}

static bool build_table(ts_p256_table *t, const ts_p256_affine *p)
{
    ts_p256_affine base = *p;
    for (unsigned i = 0; i < TS_P256_ROWS; i++)
        if (!build_row(t->pt[i], &base, &base))
            return false;
    return true;
}

ts_p256_table *ts_authn__p256_table_new(const ts_p256_affine *p)
{
    ts_p256_table *t = malloc(sizeof *t);
    if (t && !build_table(t, p)) {
        free(t);
        t = NULL;
    }
    return t;
}

void ts_authn__p256_table_free(ts_p256_table *t)
{
    free(t);
}

static bool bn_coord(const EVP_PKEY *pkey, const char *name, uint8_t out[32])
{
    BIGNUM *bn = NULL;
    bool ok = EVP_PKEY_get_bn_param(pkey, name, &bn) == 1 && BN_bn2binpad(bn, out, 32) == 32;
    BN_free(bn);
    return ok;
}

ts_p256_table *ts_authn__p256_table_from_pkey(const EVP_PKEY *pkey)
{
    uint8_t x[32], y[32];
    ts_p256_affine q;
    /* Without the generator's table no table is useful: callers then use OpenSSL. */
    if (!pkey || !ts_authn__p256_base_table() || !bn_coord(pkey, OSSL_PKEY_PARAM_EC_PUB_X, x) ||
        !bn_coord(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, y) || !ts_authn__p256_point_from_bytes(&q, x, y))
        return NULL;
    return ts_authn__p256_table_new(&q);
}

/* The generator's table is a pure cache of a constant (computed, not shipped as 150 KB of
   source): it is filled exactly once, and read-only afterwards. */
static ts_p256_table base_table;
static bool base_ok;
static pthread_once_t base_once = PTHREAD_ONCE_INIT;

static void base_init(void)
{
    static const uint8_t gx[32] = {0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6,
                                   0xe5, 0x63, 0xa4, 0x40, 0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb,
                                   0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96};
    static const uint8_t gy[32] = {0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb,
                                   0x4a, 0x7c, 0x0f, 0x9e, 0x16, 0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31,
                                   0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5};
    ts_p256_affine g;
    base_ok = ts_authn__p256_point_from_bytes(&g, gx, gy) && build_table(&base_table, &g);
}

const ts_p256_table *ts_authn__p256_base_table(void)
{
    if (pthread_once(&base_once, base_init) != 0 || !base_ok)
        return NULL;
    return &base_table;
}

/* ---- verification ------------------------------------------------------------------------- */

/* Signed base-2^W digits d[i] in [-(2^(W-1) - 1), 2^(W-1)] with k = sum d[i] * 2^(W*i). The
   last row's window starts at or above bit 256 - W + 1, so the final carry is absorbed. */
static void recode(int d[TS_P256_ROWS], const ts_p256_scalar *k)
{
    unsigned carry = 0;
    for (unsigned i = 0; i < TS_P256_ROWS; i++) {
        unsigned bit = i * TS_P256_WINDOW, limb = bit / 64, off = bit % 64;
        uint64_t w = 0;
        if (limb < 4) {
            w = k->v[limb] >> off;
            if (off + TS_P256_WINDOW > 64 && limb + 1 < 4)
                w |= k->v[limb + 1] << (64 - off);
        }
        unsigned v = (unsigned)(w & ((1u << TS_P256_WINDOW) - 1u)) + carry;
        carry = v > TS_P256_ENTRIES ? 1u : 0u;
        d[i] = carry ? (int)v - (1 << TS_P256_WINDOW) : (int)v;
    }
}

static void add_digit(ts_p256_jacobian *acc, const ts_p256_table *t, unsigned row, int d)
{
    if (d > 0) {
        ts_authn__p256_point_add_affine(acc, acc, &t->pt[row][d - 1]);
    } else if (d < 0) {
        ts_p256_affine neg;
        ts_authn__p256_point_neg(&neg, &t->pt[row][-d - 1]);
        ts_authn__p256_point_add_affine(acc, acc, &neg);
    }
}

bool ts_authn__p256_double_mul(ts_p256_jacobian *r, const ts_p256_scalar *u1,
                               const ts_p256_table *q, const ts_p256_scalar *u2)
{
    const ts_p256_table *g = ts_authn__p256_base_table();
    ts_p256_scalar a, b;
    ts_authn__p256_scalar_reduce(&a, u1);
    ts_authn__p256_scalar_reduce(&b, u2);
    if (!g || memcmp(&a, u1, sizeof a) != 0 || memcmp(&b, u2, sizeof b) != 0)
        return false;
    int d1[TS_P256_ROWS], d2[TS_P256_ROWS];
    recode(d1, u1);
    recode(d2, u2);
    memset(r, 0, sizeof *r);
    for (unsigned i = 0; i < TS_P256_ROWS; i++) {
        add_digit(r, g, i, d1[i]);
        add_digit(r, q, i, d2[i]);
    }
    return true;
}

/* SEC 1 §4.1.4 / FIPS 186-4 §6.4.2. Comparing x(R) mod n with r without leaving Jacobian
   coordinates: x(R) lies in [0, p) and p < 2n, so x(R) mod n == r iff x(R) == r or
   x(R) == r + n (possible only when r + n < p); each test is X == c * Z^2. */
bool ts_authn__p256_verify_digest(const ts_p256_table *q, const uint8_t digest[32],
                                  const uint8_t sig[64])
{
    ts_p256_scalar r, s, e, w, u1, u2;
    ts_authn__p256_scalar_from_bytes(&r, sig);
    ts_authn__p256_scalar_from_bytes(&s, sig + 32);
    if (!q || !ts_authn__p256_scalar_in_range(&r) || !ts_authn__p256_scalar_in_range(&s))
        return false;
    ts_authn__p256_scalar_from_bytes(&e, digest); /* 256-bit digest: no truncation */
    ts_authn__p256_scalar_reduce(&e, &e);
    if (!ts_authn__p256_scalar_inv(&w, &s))
        return false;
    ts_authn__p256_scalar_mul(&u1, &e, &w);
    ts_authn__p256_scalar_mul(&u2, &r, &w);
    ts_p256_jacobian R;
    if (!ts_authn__p256_double_mul(&R, &u1, q, &u2) || fe_is_zero(&R.z))
        return false;
    ts_p256_fe z2, c, rz2;
    fe_sqr(&z2, &R.z);
    uint8_t rb[32];
    memcpy(rb, sig, 32);
    if (!ts_authn__p256_fe_from_bytes(&c, rb)) /* r < n < p: always succeeds */
        return false;
    fe_mul(&rz2, &c, &z2);
    if (ts_authn__p256_fe_equal(&rz2, &R.x))
        return true;
    /* r + n, when below p */
    static const uint8_t nb[32] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
                                   0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
    unsigned carry = 0;
    for (int i = 31; i >= 0; i--) {
        unsigned v = (unsigned)rb[i] + nb[i] + carry;
        rb[i] = (uint8_t)v;
        carry = v >> 8;
    }
    if (carry || !ts_authn__p256_fe_from_bytes(&c, rb))
        return false;
    fe_mul(&rz2, &c, &z2);
    return ts_authn__p256_fe_equal(&rz2, &R.x);
}

bool ts_authn__p256_verify(const ts_p256_table *q, const void *msg, size_t len,
                           const uint8_t sig[64])
{
    uint8_t digest[32];
    if (!q || (!msg && len))
        return false;
    ts_authn__sha256(msg ? msg : (const void *)"", len, digest);
    return ts_authn__p256_verify_digest(q, digest, sig);
}
