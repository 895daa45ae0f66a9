/* JWK: parse (RSA, EC P-256/384/521), PEM import, generation, RFC 7638 thumbprints, JSON export. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "common/file.h"
#include "common/ossl.h"
#include "jose/jose_internal.h"
#include "jose/p256.h"
#include "common/mem.h"
#include "common/jws_md.h"

static const char *const alg_names[] = {"unknown", "RS256", "RS384", "RS512", "PS256",
                                        "PS384",   "PS512", "ES256", "ES384", "ES512"};

const char *ts_jws_alg_name(ts_jws_alg alg)
{
    if ((unsigned)alg < sizeof alg_names / sizeof alg_names[0])
        return alg_names[alg];
    return "unknown";
}

ts_jws_alg ts_jws_alg_parse(const char *name, size_t len)
{
    if (!name || len != 5)
        return TS_JWS_ALG_UNKNOWN;
    for (unsigned a = TS_JWS_RS256; a <= TS_JWS_ES512; a++) {
        if (memcmp(name, alg_names[a], 5) == 0)
            return (ts_jws_alg)a;
    }
    return TS_JWS_ALG_UNKNOWN;
}

bool ts_authn__alg_is_rsa(ts_jws_alg alg)
{
    return alg >= TS_JWS_RS256 && alg <= TS_JWS_PS512;
}

bool ts_authn__alg_is_ec(ts_jws_alg alg)
{
    return alg >= TS_JWS_ES256 && alg <= TS_JWS_ES512;
}

const EVP_MD *ts_authn__alg_md(ts_jws_alg alg)
{
    return ts_common__jws_md(alg);
}

/* Curves by JWK name, OpenSSL group name, NID, coordinate bytes and the one ES alg each fits. */
static const struct curve {
    const char *crv;
    const char *group;
    int nid;
    unsigned coord;
    unsigned bits;
    ts_jws_alg alg;
} curves[] = {
    {"P-256", "prime256v1", NID_X9_62_prime256v1, 32, 256, TS_JWS_ES256},
    {"P-384", "secp384r1", NID_secp384r1, 48, 384, TS_JWS_ES384},
    {"P-521", "secp521r1", NID_secp521r1, 66, 521, TS_JWS_ES512},
};

static const struct curve *curve_by_nid(int nid)
{
    for (size_t i = 0; i < sizeof curves / sizeof curves[0]; i++)
        if (curves[i].nid == nid)
            return &curves[i];
    return NULL;
}

static const struct curve *curve_by_group(const char *g)
{
    for (size_t i = 0; i < sizeof curves / sizeof curves[0]; i++)
        if (strcmp(curves[i].group, g) == 0 || strcmp(curves[i].crv, g) == 0)
            return &curves[i];
    return NULL;
}

/* ---- accessors ---------------------------------------------------------------------------- */

ts_jwk *ts_jwk_ref(ts_jwk *key)
{
    if (key)
        atomic_fetch_add_explicit(&key->refs, 1, memory_order_relaxed);
    return key;
}

void ts_jwk_free(ts_jwk *key)
{
    if (!key)
        return;
    if (atomic_fetch_sub_explicit(&key->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < sizeof key->vtmpl / sizeof key->vtmpl[0]; i++) {
        EVP_MD_CTX_free(atomic_load(&key->vtmpl[i]));
        EVP_MD_CTX_free(atomic_load(&key->stmpl[i]));
    }
    ts_authn__p256_table_free(atomic_load(&key->p256));
    EVP_PKEY_free(key->pkey);
    free(key);
}

const char *ts_jwk_kid(const ts_jwk *key)
{
    return key ? key->kid : NULL;
}

const char *ts_jwk_thumbprint(const ts_jwk *key)
{
    return key ? key->thumbprint : NULL;
}

ts_jwk_type ts_jwk_kty(const ts_jwk *key)
{
    return key->kty;
}

const char *ts_jwk_curve(const ts_jwk *key)
{
    const struct curve *c = key && key->kty == TS_JWK_EC ? curve_by_nid(key->nid) : NULL;
    return c ? c->crv : NULL;
}

unsigned ts_jwk_bits(const ts_jwk *key)
{
    return key ? key->bits : 0;
}

bool ts_jwk_is_private(const ts_jwk *key)
{
    return key && key->priv;
}

ts_jws_alg ts_jwk_alg(const ts_jwk *key)
{
    return key ? key->alg : TS_JWS_ALG_UNKNOWN;
}

unsigned ts_jwk_allowed_algs(const ts_jwk *key)
{
    if (!key)
        return 0;
    if (key->alg != TS_JWS_ALG_UNKNOWN)
        return TS_JWS_ALG_BIT(key->alg);
    if (key->kty == TS_JWK_RSA) {
        unsigned m = 0;
        for (unsigned a = TS_JWS_RS256; a <= TS_JWS_PS512; a++)
            m |= TS_JWS_ALG_BIT(a);
        return m;
    }
    const struct curve *c = curve_by_nid(key->nid);
    return c ? TS_JWS_ALG_BIT(c->alg) : 0;
}

/* ---- canonical members and thumbprint ----------------------------------------------------- */

/* base64url of a big number: minimal octets (RSA) or left-padded to @p pad bytes (EC).
   TS_ENOMEM or TS_EINTERNAL (a number OpenSSL will not write) with *out NULL. */
static ts_status bn_b64(const BIGNUM *bn, unsigned pad, char **out)
{
    *out = NULL;
    int n = pad ? (int)pad : BN_num_bytes(bn);
    if (n <= 0 || n > 2048)
        return TS_EINTERNAL;
    unsigned char buf[2048];
    int got = pad ? BN_bn2binpad(bn, buf, n) : BN_bn2bin(bn, buf);
    if (got != n)
        return TS_EINTERNAL;
    *out = malloc(ts_authn__b64url_encoded_len((size_t)n) + 1);
    if (!*out)
        return TS_ENOMEM;
    ts_authn__b64url_encode_buf(buf, (size_t)n, *out);
    return TS_OK;
}

/* The key members as base64url: a=n,b=e for RSA; a=x,b=y for EC. Caller frees both.
   TS_ENOMEM, or TS_EINTERNAL when OpenSSL cannot give them (both NULL then). */
static ts_status key_members(const ts_jwk *key, char **a, char **b)
{
    BIGNUM *x = NULL, *y = NULL;
    ts_status st = TS_EINTERNAL;
    *a = *b = NULL;
    if (key->kty == TS_JWK_RSA) {
        if (!EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_RSA_N, &x) ||
            !EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_RSA_E, &y))
            goto out;
        if ((st = bn_b64(x, 0, a)) == TS_OK)
            st = bn_b64(y, 0, b);
    } else {
        if (!EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) ||
            !EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y))
            goto out;
        if ((st = bn_b64(x, key->coord, a)) == TS_OK)
            st = bn_b64(y, key->coord, b);
    }
out:
    BN_free(x);
    BN_free(y);
    if (st != TS_OK) {
        free(*a);
        free(*b);
        *a = *b = NULL;
    }
    return st;
}

static ts_status compute_thumbprint(ts_jwk *key)
{
    char *a, *b;
    ts_status st = key_members(key, &a, &b);
    if (st != TS_OK)
        return st;
    /* RFC 7638 §3: required members only, sorted, no white space. */
    size_t cap = strlen(a) + strlen(b) + 64;
    char *canon = malloc(cap);
    st = TS_ENOMEM;
    if (canon) {
        int n;
        if (key->kty == TS_JWK_RSA)
            n = snprintf(canon, cap, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", b, a);
        else
            n = snprintf(canon, cap, "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
                         ts_jwk_curve(key), a, b);
        st = TS_EINTERNAL;
        unsigned char md[SHA256_DIGEST_LENGTH];
        /* SHA256() can fail (it allocates): then there is no thumbprint, never a made-up one. */
        if (n > 0 && (size_t)n < cap && SHA256((const unsigned char *)canon, (size_t)n, md)) {
            ts_authn__b64url_encode_buf(md, sizeof md, key->thumbprint);
            st = TS_OK;
        }
        free(canon);
    }
    free(a);
    free(b);
    return st;
}

static bool kid_ok(const char *kid, size_t len)
{
    if (len == 0 || len > TS_JOSE_MAX_KID_BYTES)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)kid[i];
        if (c < 0x21 || c > 0x7E)
            return false;
    }
    return true;
}

ts_jwk *ts_authn__jwk_from_pkey(EVP_PKEY *pkey, bool priv, const char *kid, ts_jws_alg alg,
                                ts_error *err)
{
    ts_jwk *key = calloc(1, sizeof *key);
    if (!key) {
        ts_error_set(err, TS_ENOMEM, "jwk", "out of memory");
        return NULL;
    }
    atomic_init(&key->refs, 1);
    for (size_t i = 0; i < sizeof key->vtmpl / sizeof key->vtmpl[0]; i++) {
        atomic_init(&key->vtmpl[i], NULL);
        atomic_init(&key->stmpl[i], NULL);
    }
    atomic_init(&key->p256, NULL);
    int id = EVP_PKEY_get_base_id(pkey);
    if (id == EVP_PKEY_RSA) {
        key->kty = TS_JWK_RSA;
        int bits = EVP_PKEY_get_bits(pkey);
        if (bits <= 0) { /* OpenSSL could not tell (it allocates to answer) */
            ts_error_set(err, TS_EINTERNAL, "jwk", "cannot read the RSA key size");
            goto fail;
        }
        if (bits < (int)TS_JOSE_MIN_RSA_BITS || bits > (int)TS_JOSE_MAX_RSA_BITS) {
            ts_error_set(err, TS_EUNSUPPORTED, "jwk", "RSA key of %d bits (allowed %u to %u)", bits,
                         TS_JOSE_MIN_RSA_BITS, TS_JOSE_MAX_RSA_BITS);
            goto fail;
        }
        key->bits = (unsigned)bits;
        if (alg != TS_JWS_ALG_UNKNOWN && !ts_authn__alg_is_rsa(alg)) {
            ts_error_set(err, TS_EINVAL, "jwk.alg", "%s does not fit an RSA key",
                         ts_jws_alg_name(alg));
            goto fail;
        }
    } else if (id == EVP_PKEY_EC) {
        key->kty = TS_JWK_EC;
        char group[64];
        size_t glen = 0;
        const struct curve *c = NULL;
        if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                            &glen)) {
            ts_error_set(err, TS_EINTERNAL, "jwk.crv", "cannot read the EC curve");
            goto fail;
        }
        c = curve_by_group(group);
        if (!c) {
            ts_error_set(err, TS_EUNSUPPORTED, "jwk.crv",
                         "EC curve not supported (P-256, P-384, P-521 only)");
            goto fail;
        }
        key->nid = c->nid;
        key->coord = c->coord;
        key->bits = c->bits;
        if (alg != TS_JWS_ALG_UNKNOWN && alg != c->alg) {
            ts_error_set(err, TS_EINVAL, "jwk.alg", "%s does not fit an EC %s key",
                         ts_jws_alg_name(alg), c->crv);
            goto fail;
        }
    } else {
        ts_error_set(err, TS_EUNSUPPORTED, "jwk", "key type not supported (RSA and EC only)");
        goto fail;
    }
    key->alg = alg;
    key->priv = priv;
    key->pkey = pkey;
    ts_status st = compute_thumbprint(key);
    if (st != TS_OK) {
        ts_error_set(err, st, "jwk",
                     st == TS_ENOMEM ? "out of memory" : "cannot read the public key members");
        goto fail;
    }
    if (kid) {
        size_t kl = strlen(kid);
        if (!kid_ok(kid, kl)) {
            ts_error_set(err, TS_EINVAL, "jwk.kid",
                         "kid must be 1 to %u printable ASCII characters without spaces",
                         TS_JOSE_MAX_KID_BYTES);
            goto fail;
        }
        memcpy(key->kid, kid, kl + 1);
        key->kid_len = kl;
    } else {
        memcpy(key->kid, key->thumbprint, TS_JOSE_THUMBPRINT_LEN + 1);
        key->kid_len = TS_JOSE_THUMBPRINT_LEN;
    }
    if (!EVP_PKEY_up_ref(pkey)) {
        ts_error_set(err, TS_EINTERNAL, "jwk", "EVP_PKEY_up_ref failed");
        goto fail;
    }
    return key;
fail:
    free(key);
    return NULL;
}

ts_jwk *ts_jwk_with(const ts_jwk *key, const char *kid, ts_jws_alg alg, ts_error *err)
{
    if (!key) {
        ts_error_set(err, TS_EINVAL, "ts_jwk_with", "NULL key");
        return NULL;
    }
    return ts_authn__jwk_from_pkey(key->pkey, key->priv, kid ? kid : key->kid,
                                   alg != TS_JWS_ALG_UNKNOWN ? alg : key->alg, err);
}

/* ---- JWK JSON parsing --------------------------------------------------------------------- */

static const char *member_str(const json_t *obj, const char *name, const char *where, bool required,
                              ts_error *err, bool *bad)
{
    json_t *v = json_object_get(obj, name);
    if (!v) {
        if (required) {
            ts_error_set(err, TS_EPARSE, where, "member \"%s\" is missing", name);
            *bad = true;
        }
        return NULL;
    }
    if (!json_is_string(v)) {
        ts_error_set(err, TS_EPARSE, where, "member \"%s\" must be a string", name);
        *bad = true;
        return NULL;
    }
    return json_string_value(v);
}

/* Decode a base64url member into a BIGNUM-ready buffer; @p exact 0 = minimal octets required. */
static unsigned char *member_bytes(const char *s, const char *where, const char *name, size_t exact,
                                   size_t *len, ts_error *err)
{
    size_t sl = strlen(s);
    size_t cap = ts_authn__b64url_decoded_max(sl);
    unsigned char *buf = malloc(cap ? cap : 1);
    if (!buf) {
        ts_error_set(err, TS_ENOMEM, where, "out of memory");
        return NULL;
    }
    if (!ts_authn__b64url_decode_buf(s, sl, buf, cap, len) || *len == 0) {
        ts_error_set(err, TS_EPARSE, where, "member \"%s\" is not strict non-empty base64url",
                     name);
        free(buf);
        return NULL;
    }
    if (exact && *len != exact) {
        ts_error_set(err, TS_EPARSE, where, "member \"%s\" must be %zu bytes, got %zu", name, exact,
                     *len);
        free(buf);
        return NULL;
    }
    if (!exact && buf[0] == 0) {
        /* RFC 7518 §6.3.1: minimal octets; a second spelling would change the thumbprint. */
        ts_error_set(err, TS_EPARSE, where, "member \"%s\" has a leading zero octet", name);
        free(buf);
        return NULL;
    }
    return buf;
}

static EVP_PKEY *pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *pkey = NULL;
    if (params && ctx && EVP_PKEY_fromdata_init(ctx) > 0 &&
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    if (pkey && strcmp(type, "EC") == 0) {
        /* Independent check that the EC point lies on its curve. RSA keys are not passed to
         * EVP_PKEY_public_check: OpenSSL runs a Miller-Rabin test with random witnesses on the
         * modulus there, which costs milliseconds and can reject a valid key at random; the
         * caller has already checked the modulus size and the exponent. */
        EVP_PKEY_CTX *chk = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        int ok = chk ? EVP_PKEY_public_check(chk) : 0;
        EVP_PKEY_CTX_free(chk);
        if (ok != 1) {
            EVP_PKEY_free(pkey);
            pkey = NULL;
        }
    }
    return pkey;
}

ts_jwk *ts_authn__jwk_from_json(const json_t *obj, const char *where, ts_error *err)
{
    bool bad = false;
    const char *kty = member_str(obj, "kty", where, true, err, &bad);
    const char *kid = member_str(obj, "kid", where, false, err, &bad);
    const char *alg_s = member_str(obj, "alg", where, false, err, &bad);
    const char *use = member_str(obj, "use", where, false, err, &bad);
    if (bad)
        return NULL;
    if (use && strcmp(use, "sig") != 0) {
        ts_error_set(err, TS_EUNSUPPORTED, where, "use \"%s\" is not \"sig\"", use);
        return NULL;
    }
    ts_jws_alg alg = TS_JWS_ALG_UNKNOWN;
    if (alg_s) {
        alg = ts_jws_alg_parse(alg_s, strlen(alg_s));
        if (alg == TS_JWS_ALG_UNKNOWN) {
            ts_error_set(err, TS_EUNSUPPORTED, where, "alg \"%.32s\" is not supported", alg_s);
            return NULL;
        }
    }
    if (kid && !kid_ok(kid, strlen(kid))) {
        ts_error_set(err, TS_EINVAL, where,
                     "kid must be 1 to %u printable ASCII characters without spaces",
                     TS_JOSE_MAX_KID_BYTES);
        return NULL;
    }
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    unsigned char *a = NULL, *b = NULL, *pub = NULL;
    BIGNUM *n = NULL, *e = NULL;
    size_t al = 0, bl = 0;
    if (!bld) {
        ts_error_set(err, TS_ENOMEM, where, "out of memory");
        return NULL;
    }
    if (strcmp(kty, "RSA") == 0) {
        const char *ns = member_str(obj, "n", where, true, err, &bad);
        const char *es = bad ? NULL : member_str(obj, "e", where, true, err, &bad);
        if (bad)
            goto out;
        if (strlen(ns) > 4096) {
            ts_error_set(err, TS_ELIMIT, where, "member \"n\" is too long");
            goto out;
        }
        if (!(a = member_bytes(ns, where, "n", 0, &al, err)))
            goto out;
        if (strlen(es) > 16) {
            ts_error_set(err, TS_EPARSE, where, "member \"e\" is invalid");
            goto out;
        }
        if (!(b = member_bytes(es, where, "e", 0, &bl, err)))
            goto out; /* err says why */
        n = BN_bin2bn(a, (int)al, NULL);
        e = BN_bin2bn(b, (int)bl, NULL);
        if (!n || !e || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e)) {
            ts_error_set(err, TS_ENOMEM, where, "out of memory");
            goto out;
        }
        if (BN_num_bits(n) < (int)TS_JOSE_MIN_RSA_BITS) {
            ts_error_set(err, TS_EUNSUPPORTED, where, "RSA key of %d bits (at least %u)",
                         BN_num_bits(n), TS_JOSE_MIN_RSA_BITS);
            goto out;
        }
        if (!BN_is_odd(n)) {
            ts_error_set(err, TS_EPARSE, where, "member \"n\" is not a valid RSA modulus");
            goto out;
        }
        if (!BN_is_odd(e) || BN_is_one(e)) {
            ts_error_set(err, TS_EPARSE, where, "member \"e\" is not a valid RSA exponent");
            goto out;
        }
        pkey = pkey_fromdata("RSA", bld);
    } else if (strcmp(kty, "EC") == 0) {
        const char *crv = member_str(obj, "crv", where, true, err, &bad);
        const char *xs = bad ? NULL : member_str(obj, "x", where, true, err, &bad);
        const char *ys = bad ? NULL : member_str(obj, "y", where, true, err, &bad);
        if (bad)
            goto out;
        const struct curve *c = NULL;
        for (size_t i = 0; i < sizeof curves / sizeof curves[0]; i++)
            if (strcmp(curves[i].crv, crv) == 0)
                c = &curves[i];
        if (!c) {
            ts_error_set(err, TS_EUNSUPPORTED, where, "crv \"%.16s\" is not supported", crv);
            goto out;
        }
        if (strlen(xs) > 128 || strlen(ys) > 128) {
            ts_error_set(err, TS_EPARSE, where, "EC coordinate too long");
            goto out;
        }
        if (!(a = member_bytes(xs, where, "x", c->coord, &al, err)) ||
            !(b = member_bytes(ys, where, "y", c->coord, &bl, err)))
            goto out;
        pub = malloc(1 + 2 * (size_t)c->coord);
        if (!pub) {
            ts_error_set(err, TS_ENOMEM, where, "out of memory");
            goto out;
        }
        pub[0] = 0x04;
        memcpy(pub + 1, a, c->coord);
        memcpy(pub + 1 + c->coord, b, c->coord);
        if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, c->group, 0) ||
            !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub,
                                              1 + 2 * (size_t)c->coord)) {
            ts_error_set(err, TS_ENOMEM, where, "out of memory");
            goto out;
        }
        pkey = pkey_fromdata("EC", bld);
    } else {
        ts_error_set(err, TS_EUNSUPPORTED, where, "kty \"%.16s\" is not supported (RSA, EC)", kty);
        goto out;
    }
    /* The RSA members were checked above, so OpenSSL refusing them is its own failure; EC
       members it checks itself (the point must be on the curve). */
    if (!pkey && ts_common__ossl_oom())
        ts_error_set(err, TS_ENOMEM, where, "out of memory");
    else if (!pkey && strcmp(kty, "RSA") == 0)
        ts_error_set(err, TS_EINTERNAL, where, "OpenSSL cannot build the RSA key");
    else if (!pkey)
        ts_error_set(err, TS_EPARSE, where, "the key members do not form a valid %s public key",
                     kty);
out:
    BN_free(n);
    BN_free(e);
    free(a);
    free(b);
    free(pub);
    OSSL_PARAM_BLD_free(bld);
    if (!pkey)
        return NULL;
    ts_jwk *key = ts_authn__jwk_from_pkey(pkey, false, kid, alg, err);
    EVP_PKEY_free(pkey);
    return key;
}

ts_jwk *ts_jwk_parse(const char *json, size_t len, ts_error *err)
{
    if (!json) {
        ts_error_set(err, TS_EINVAL, "jwk", "NULL input");
        return NULL;
    }
    json_t *obj = ts_authn__json_parse_object(json, len, TS_JOSE_MAX_JWK_BYTES, "jwk", err);
    if (!obj)
        return NULL;
    ts_jwk *key = ts_authn__jwk_from_json(obj, "jwk", err);
    json_decref(obj);
    return key;
}

/* ---- PEM ---------------------------------------------------------------------------------- */

ts_jwk *ts_jwk_from_pem(const char *pem, size_t len, ts_error *err)
{
    if (!pem || len == 0 || len > TS_JOSE_MAX_JWK_BYTES || len > (size_t)INT32_MAX) {
        ts_error_set(err, TS_EINVAL, "pem", "empty or oversized PEM input");
        return NULL;
    }
    EVP_PKEY *pkey = NULL;
    bool priv = false;
    const char *begin = NULL;
    for (size_t i = 0; i + 11 <= len; i++) {
        if (memcmp(pem + i, "-----BEGIN ", 11) == 0) {
            begin = pem + i + 11;
            break;
        }
    }
    if (!begin) {
        ts_error_set(err, TS_EPARSE, "pem", "no PEM block (-----BEGIN ...) found");
        return NULL;
    }
    size_t rest = len - (size_t)(begin - pem);
#define LABEL_IS(s) (rest >= sizeof(s) - 1 && memcmp(begin, s, sizeof(s) - 1) == 0)
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio) {
        ts_error_set(err, TS_ENOMEM, "pem", "out of memory");
        return NULL;
    }
    if (LABEL_IS("CERTIFICATE-----")) {
        X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (cert)
            pkey = X509_get_pubkey(cert);
        X509_free(cert);
    } else if (LABEL_IS("ENCRYPTED PRIVATE KEY-----")) {
        BIO_free(bio);
        ts_error_set(err, TS_EUNSUPPORTED, "pem", "encrypted private keys are not supported");
        return NULL;
    } else {
        priv = LABEL_IS("PRIVATE KEY-----") || LABEL_IS("RSA PRIVATE KEY-----") ||
               LABEL_IS("EC PRIVATE KEY-----");
        /* The decoder never prompts: no passphrase callback is installed. */
        OSSL_DECODER_CTX *dctx = OSSL_DECODER_CTX_new_for_pkey(
            &pkey, "PEM", NULL, NULL, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, NULL, NULL);
        if (dctx && !OSSL_DECODER_from_bio(dctx, bio))
            pkey = NULL;
        OSSL_DECODER_CTX_free(dctx);
    }
#undef LABEL_IS
    BIO_free(bio);
    if (!pkey && ts_common__ossl_oom()) {
        ts_error_set(err, TS_ENOMEM, "pem", "out of memory");
        return NULL;
    }
    if (!pkey) {
        ts_error_set(err, TS_EPARSE, "pem",
                     "not a PEM public key, RSA public key, certificate or private key");
        return NULL;
    }
    ts_jwk *key = ts_authn__jwk_from_pkey(pkey, priv, NULL, TS_JWS_ALG_UNKNOWN, err);
    EVP_PKEY_free(pkey);
    return key;
}

ts_jwk *ts_jwk_load_file(const char *path, ts_error *err)
{
    size_t len = 0;
    char *buf = NULL;
    if (ts_common__read_file(path, TS_JOSE_MAX_JWK_BYTES, 0, &buf, &len, err) != TS_OK)
        return NULL;
    size_t i = 0;
    while (i < len && (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t'))
        i++;
    ts_error e2;
    ts_error_clear(&e2);
    ts_jwk *key =
        i < len && buf[i] == '{' ? ts_jwk_parse(buf, len, &e2) : ts_jwk_from_pem(buf, len, &e2);
    ts_common__memzero(buf, len);
    free(buf);
    if (!key)
        ts_error_set(err, e2.code, path, "%s: %s", e2.where, e2.msg);
    return key;
}

/* ---- generation and export ---------------------------------------------------------------- */

ts_jwk *ts_jwk_generate(ts_jws_alg alg, ts_error *err)
{
    EVP_PKEY *pkey = NULL;
    if (ts_authn__alg_is_rsa(alg)) {
        pkey = EVP_RSA_gen(2048);
    } else if (ts_authn__alg_is_ec(alg)) {
        const char *g = alg == TS_JWS_ES256 ? "P-256" : alg == TS_JWS_ES384 ? "P-384" : "P-521";
        pkey = EVP_EC_gen(g);
    } else {
        ts_error_set(err, TS_EINVAL, "ts_jwk_generate", "unsupported algorithm");
        return NULL;
    }
    if (!pkey) {
        ts_error_set(err, TS_EINTERNAL, "ts_jwk_generate", "key generation failed");
        return NULL;
    }
    ts_jwk *key = ts_authn__jwk_from_pkey(pkey, true, NULL, alg, err);
    EVP_PKEY_free(pkey);
    return key;
}

json_t *ts_authn__jwk_to_object(const ts_jwk *key)
{
    char *a, *b;
    if (key_members(key, &a, &b) != TS_OK)
        return NULL;
    json_t *o = json_object();
    int rc = 0;
    if (o) {
        if (key->kty == TS_JWK_RSA) {
            rc |= json_object_set_new(o, "kty", json_string("RSA"));
            rc |= json_object_set_new(o, "n", json_string(a));
            rc |= json_object_set_new(o, "e", json_string(b));
        } else {
            rc |= json_object_set_new(o, "kty", json_string("EC"));
            rc |= json_object_set_new(o, "crv", json_string(ts_jwk_curve(key)));
            rc |= json_object_set_new(o, "x", json_string(a));
            rc |= json_object_set_new(o, "y", json_string(b));
        }
        rc |= json_object_set_new(o, "kid", json_string(key->kid));
        if (key->alg != TS_JWS_ALG_UNKNOWN)
            rc |= json_object_set_new(o, "alg", json_string(ts_jws_alg_name(key->alg)));
        rc |= json_object_set_new(o, "use", json_string("sig"));
    }
    free(a);
    free(b);
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

char *ts_jwk_to_json(const ts_jwk *key, ts_error *err)
{
    json_t *o = key ? ts_authn__jwk_to_object(key) : NULL;
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s)
        ts_error_set(err, TS_ENOMEM, "ts_jwk_to_json", "cannot serialize the key");
    return s;
}
