/* P-256 arithmetic mod p (field, Montgomery form) and mod n (scalars); variable time, public
   data only. Limbs are little-endian 64-bit words. */
#include <string.h>

#include "jose/p256.h"

__extension__ typedef unsigned __int128 ts_u128;

/* p = 2^256 - 2^224 + 2^192 + 2^96 - 1, n = the order of the generator (SEC 2, FIPS 186-4). */
static const uint64_t P[4] = {0xffffffffffffffffu, 0x00000000ffffffffu, 0x0000000000000000u,
                              0xffffffff00000001u};
static const uint64_t N[4] = {0xf3b9cac2fc632551u, 0xbce6faada7179e84u, 0xffffffffffffffffu,
                              0xffffffff00000000u};
/* 2^512 mod p and mod n convert into Montgomery form; -m^-1 mod 2^64 drives the reduction
   (for p it is 1 because p = -1 mod 2^64). */
static const uint64_t RR_P[4] = {0x0000000000000003u, 0xfffffffbffffffffu, 0xfffffffffffffffeu,
                                 0x00000004fffffffdu};
static const uint64_t RR_N[4] = {0x83244c95be79eea2u, 0x4699799c49bd6fa6u, 0x2845b2392b6bec59u,
                                 0x66e12d94f3d95620u};
#define P_N0 1u
#define N_N0 0xccd1c8aaee00bc4fu

const ts_p256_fe ts_authn__p256_fe_one = {
    {0x0000000000000001u, 0xffffffff00000000u, 0xffffffffffffffffu, 0x00000000fffffffeu}};
const ts_p256_fe ts_authn__p256_fe_b = {
    {0xd89cdf6229c4bddfu, 0xacf005cd78843090u, 0xe5a220abf7212ed6u, 0xdc30061d04874834u}};

static uint64_t add4(uint64_t r[4], const uint64_t a[4], const uint64_t b[4])
{
    ts_u128 c = 0;
    for (int i = 0; i < 4; i++) {
        c += (ts_u128)a[i] + b[i];
        r[i] = (uint64_t)c;
        c >>= 64;
    }
    return (uint64_t)c;
}

/* @return the borrow (1 when a < b). */
static uint64_t sub4(uint64_t r[4], const uint64_t a[4], const uint64_t b[4])
{
    uint64_t borrow = 0;
    for (int i = 0; i < 4; i++) {
        ts_u128 d = (ts_u128)a[i] - b[i] - borrow;
        r[i] = (uint64_t)d;
        borrow = (uint64_t)(d >> 64) & 1u;
    }
    return borrow;
}

static bool geq4(const uint64_t a[4], const uint64_t b[4])
{
    for (int i = 3; i >= 0; i--)
        if (a[i] != b[i])
            return a[i] > b[i];
    return true;
}

static bool is_zero4(const uint64_t a[4])
{
    return (a[0] | a[1] | a[2] | a[3]) == 0;
}

/* Montgomery product a*b*2^-256 mod m (CIOS) for a, b < m; the result is fully reduced. */
static void mont_mul(uint64_t r[4], const uint64_t a[4], const uint64_t b[4], const uint64_t m[4],
                     uint64_t m0)
{
    uint64_t t[6] = {0};
    for (int i = 0; i < 4; i++) {
        ts_u128 c = 0;
        for (int j = 0; j < 4; j++) {
            c += (ts_u128)a[j] * b[i] + t[j];
            t[j] = (uint64_t)c;
            c >>= 64;
        }
        c += t[4];
        t[4] = (uint64_t)c;
        t[5] = (uint64_t)(c >> 64);
        uint64_t q = t[0] * m0;
        c = ((ts_u128)q * m[0] + t[0]) >> 64;
        for (int j = 1; j < 4; j++) {
            c += (ts_u128)q * m[j] + t[j];
            t[j - 1] = (uint64_t)c;
            c >>= 64;
        }
        c += t[4];
        t[3] = (uint64_t)c;
        t[4] = t[5] + (uint64_t)(c >> 64);
    }
    /* t < 2m: one conditional subtraction. */
    uint64_t s[4];
    uint64_t borrow = sub4(s, t, m);
    memcpy(r, (t[4] || !borrow) ? s : t, sizeof s);
}

static void load_be(uint64_t r[4], const uint8_t in[32])
{
    for (int i = 0; i < 4; i++) {
        uint64_t w = 0;
        for (int j = 0; j < 8; j++)
            w = (w << 8) | in[(3 - i) * 8 + j];
        r[i] = w;
    }
}

static void store_be(uint8_t out[32], const uint64_t a[4])
{
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 8; j++)
            out[(3 - i) * 8 + j] = (uint8_t)(a[i] >> (56 - 8 * j));
}

/* ---- field -------------------------------------------------------------------------------- */

bool ts_authn__p256_fe_from_bytes(ts_p256_fe *r, const uint8_t in[32])
{
    uint64_t a[4];
    load_be(a, in);
    if (geq4(a, P))
        return false;
    mont_mul(r->v, a, RR_P, P, P_N0);
    return true;
}

void ts_authn__p256_fe_to_bytes(uint8_t out[32], const ts_p256_fe *a)
{
    static const uint64_t one[4] = {1, 0, 0, 0};
    uint64_t t[4];
    mont_mul(t, a->v, one, P, P_N0);
    store_be(out, t);
}

/* Montgomery product mod p. p's limbs are (2^64 - 1, 2^32 - 1, 0, 2^64 - 2^32 + 1), so -p^-1 is
   1 mod 2^64, each reduction word q is the low limb itself, and q*p0 + t0 = q*2^64 exactly:
   two multiplications per word instead of four. */
static void mont_mul_p(uint64_t r[4], const uint64_t a[4], const uint64_t b[4])
{
    uint64_t t[6] = {0};
    for (int i = 0; i < 4; i++) {
        ts_u128 c = 0;
        for (int j = 0; j < 4; j++) {
            c += (ts_u128)a[j] * b[i] + t[j];
            t[j] = (uint64_t)c;
            c >>= 64;
        }
        c += t[4];
        t[4] = (uint64_t)c;
        t[5] = (uint64_t)(c >> 64);
        uint64_t q = t[0];
        c = (ts_u128)q + (ts_u128)q * P[1] + t[1];
        t[0] = (uint64_t)c;
        c = (c >> 64) + t[2];
        t[1] = (uint64_t)c;
        c = (c >> 64) + (ts_u128)q * P[3] + t[3];
        t[2] = (uint64_t)c;
        c = (c >> 64) + t[4];
        t[3] = (uint64_t)c;
        t[4] = t[5] + (uint64_t)(c >> 64);
    }
    uint64_t s[4];
    uint64_t borrow = sub4(s, t, P);
    memcpy(r, (t[4] || !borrow) ? s : t, sizeof s);
}

void ts_authn__p256_fe_mul(ts_p256_fe *r, const ts_p256_fe *a, const ts_p256_fe *b)
{
    mont_mul_p(r->v, a->v, b->v);
}

void ts_authn__p256_fe_sqr(ts_p256_fe *r, const ts_p256_fe *a)
{
    mont_mul_p(r->v, a->v, a->v);
}

void ts_authn__p256_fe_add(ts_p256_fe *r, const ts_p256_fe *a, const ts_p256_fe *b)
{
    uint64_t carry = add4(r->v, a->v, b->v);
    if (carry || geq4(r->v, P))
        sub4(r->v, r->v, P);
}

void ts_authn__p256_fe_sub(ts_p256_fe *r, const ts_p256_fe *a, const ts_p256_fe *b)
{
    if (sub4(r->v, a->v, b->v))
        add4(r->v, r->v, P);
}

void ts_authn__p256_fe_inv(ts_p256_fe *r, const ts_p256_fe *a)
{
    static const uint64_t e[4] = {0xfffffffffffffffdu, 0x00000000ffffffffu, 0x0000000000000000u,
                                  0xffffffff00000001u}; /* p - 2 */
    ts_p256_fe x = ts_authn__p256_fe_one;
    for (int i = 255; i >= 0; i--) {
        ts_authn__p256_fe_sqr(&x, &x);
        if ((e[i / 64] >> (i % 64)) & 1u)
            ts_authn__p256_fe_mul(&x, &x, a);
    }
    *r = x;
}

bool ts_authn__p256_fe_is_zero(const ts_p256_fe *a)
{
    return is_zero4(a->v);
}

bool ts_authn__p256_fe_equal(const ts_p256_fe *a, const ts_p256_fe *b)
{
    return memcmp(a->v, b->v, sizeof a->v) == 0;
}

/* ---- scalars ------------------------------------------------------------------------------ */

void ts_authn__p256_scalar_from_bytes(ts_p256_scalar *r, const uint8_t in[32])
{
    load_be(r->v, in);
}

void ts_authn__p256_scalar_to_bytes(uint8_t out[32], const ts_p256_scalar *a)
{
    store_be(out, a->v);
}

bool ts_authn__p256_scalar_in_range(const ts_p256_scalar *a)
{
    return !is_zero4(a->v) && !geq4(a->v, N);
}

void ts_authn__p256_scalar_reduce(ts_p256_scalar *r, const ts_p256_scalar *a)
{
    *r = *a;
    if (geq4(r->v, N))
        sub4(r->v, r->v, N);
}

void ts_authn__p256_scalar_mul(ts_p256_scalar *r, const ts_p256_scalar *a, const ts_p256_scalar *b)
{
    uint64_t t[4];
    mont_mul(t, a->v, b->v, N, N_N0); /* a*b/R */
    mont_mul(r->v, t, RR_N, N, N_N0); /* *R^2/R */
}

/* a >> k for 1 <= k <= 63. */
static void shr4(uint64_t a[4], unsigned k)
{
    for (int i = 0; i < 3; i++)
        a[i] = (a[i] >> k) | (a[i + 1] << (64 - k));
    a[3] >>= k;
}

/* x / 2^k mod n for x < n and 1 <= k <= 63: add the multiple m*n (m < 2^k) that clears the low
   k bits, then shift; (x + m*n) / 2^k < n, so no correction is needed. */
static void div2k_mod_n(uint64_t x[4], unsigned k)
{
    uint64_t m = (x[0] * N_N0) & ((UINT64_C(1) << k) - 1u), t[5];
    ts_u128 c = 0;
    for (int j = 0; j < 4; j++) {
        c += (ts_u128)m * N[j] + x[j];
        t[j] = (uint64_t)c;
        c >>= 64;
    }
    t[4] = (uint64_t)c;
    for (int j = 0; j < 4; j++)
        x[j] = (t[j] >> k) | (t[j + 1] << (64 - k));
}

/* Strips the factors of two of a nonzero u, dividing x by the same power of two mod n. */
static void strip_twos(uint64_t u[4], uint64_t x[4])
{
    while (!(u[0] & 1u)) {
        unsigned k = u[0] ? (unsigned)__builtin_ctzll(u[0]) : 63u;
        shr4(u, k);
        div2k_mod_n(x, k);
    }
}

static void sub_mod_n(uint64_t r[4], const uint64_t a[4], const uint64_t b[4])
{
    if (sub4(r, a, b))
        add4(r, r, N);
}

static bool is_one4(const uint64_t a[4])
{
    return a[0] == 1 && (a[1] | a[2] | a[3]) == 0;
}

/* Invariants: x1*a = u and x2*a = v (mod n); u, v stay positive because gcd(a, n) = 1 (n is
   prime), so they never become equal before one of them reaches 1, and neither is zero at the
   top of the loop. */
bool ts_authn__p256_scalar_inv(ts_p256_scalar *r, const ts_p256_scalar *a)
{
    if (!ts_authn__p256_scalar_in_range(a))
        return false;
    uint64_t u[4], v[4], x1[4] = {1, 0, 0, 0}, x2[4] = {0, 0, 0, 0};
    memcpy(u, a->v, sizeof u);
    memcpy(v, N, sizeof v);
    while (!is_one4(u) && !is_one4(v)) {
        strip_twos(u, x1);
        strip_twos(v, x2);
        if (geq4(u, v)) {
            sub4(u, u, v);
            sub_mod_n(x1, x1, x2);
        } else {
            sub4(v, v, u);
            sub_mod_n(x2, x2, x1);
        }
    }
    memcpy(r->v, is_one4(u) ? x1 : x2, sizeof r->v);
    return true;
}
