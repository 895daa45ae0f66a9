/* JWK: the key object (algorithm names, curves, accessors), construction from an EVP_PKEY with
 * RFC 7638 thumbprints, generation and JSON export. Parsing a JWK, PEM import and key files are
 * in jwk_import.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include "common/ossl.h"
#include "jose/jwk_internal.h"
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

/* The supported curves (see ts_jose_curve). */
static const ts_jose_curve curves[] = {
    {"P-256", "prime256v1", NID_X9_62_prime256v1, 32, 256, TS_JWS_ES256},
    {"P-384", "secp384r1", NID_secp384r1, 48, 384, TS_JWS_ES384},
    {"P-521", "secp521r1", NID_secp521r1, 66, 521, TS_JWS_ES512},
};

static const ts_jose_curve *curve_by_nid(int nid)
{
    for (size_t i = 0; i < sizeof curves / sizeof curves[0]; i++)
        if (curves[i].nid == nid)
            return &curves[i];
    return NULL;
}

static const ts_jose_curve *curve_by_group(const char *g)
{
    for (size_t i = 0; i < sizeof curves / sizeof curves[0]; i++)
        if (strcmp(curves[i].group, g) == 0 || strcmp(curves[i].crv, g) == 0)
            return &curves[i];
    return NULL;
}

const ts_jose_curve *ts_authn__jwk_curve_by_crv(const char *crv)
{
    const ts_jose_curve *c = NULL;
    for (size_t i = 0; i < sizeof curves / sizeof curves[0]; i++)
        if (strcmp(curves[i].crv, crv) == 0)
            c = &curves[i];
    return c;
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
    const ts_jose_curve *c = key && key->kty == TS_JWK_EC ? curve_by_nid(key->nid) : NULL;
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
    const ts_jose_curve *c = curve_by_nid(key->nid);
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

bool ts_authn__jwk_kid_ok(const char *kid, size_t len)
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
        const ts_jose_curve *c = NULL;
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
        if (!ts_authn__jwk_kid_ok(kid, kl)) {
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
