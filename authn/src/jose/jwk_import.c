/* JWK import: a JWK's JSON (RSA, EC P-256/384/521, each member checked as untrusted input), PEM
 * (public keys, certificates, private keys) and key files in either form. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/file.h"
#include "common/ossl.h"
#include "jose/jwk_internal.h"
#include "common/mem.h"

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
    if (kid && !ts_authn__jwk_kid_ok(kid, strlen(kid))) {
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
        const ts_jose_curve *c = ts_authn__jwk_curve_by_crv(crv);
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
