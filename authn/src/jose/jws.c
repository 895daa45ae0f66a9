/* JWS compact signing and raw signature verification on OpenSSL EVP (RFC 7515, RFC 7518). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ecdsa.h>
#include <openssl/obj_mac.h>
#include <openssl/rsa.h>

#include "common/ossl.h"
#include "common/utf8.h"
#include "jose/jose_internal.h"
#include "jose/p256.h"
#include "jose/sha256.h"

/* PSS salt is the digest length (RFC 7518 §3.5); other salt lengths are refused. */
static bool set_padding(EVP_PKEY_CTX *pctx, ts_jws_alg alg)
{
    if (alg >= TS_JWS_PS256 && alg <= TS_JWS_PS512)
        return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
               EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0;
    if (ts_authn__alg_is_rsa(alg))
        return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0;
    return true;
}

/* The key's initialised verification (or signing) context for @p alg, created on first use.
   Concurrent first uses may both build one; one wins the swap and the other is freed. */
static EVP_MD_CTX *ctx_template(ts_jwk *key, ts_jws_alg alg, bool sign)
{
    _Atomic(EVP_MD_CTX *) *slot = sign ? &key->stmpl[alg] : &key->vtmpl[alg];
    EVP_MD_CTX *t = atomic_load_explicit(slot, memory_order_acquire);
    if (t)
        return t;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    const EVP_MD *md = ts_authn__alg_md(alg);
    if (!ctx ||
        (sign ? EVP_DigestSignInit(ctx, &pctx, md, NULL, key->pkey)
              : EVP_DigestVerifyInit(ctx, &pctx, md, NULL, key->pkey)) <= 0 ||
        !set_padding(pctx, alg)) {
        EVP_MD_CTX_free(ctx);
        return NULL;
    }
    EVP_MD_CTX *expected = NULL;
    if (atomic_compare_exchange_strong_explicit(slot, &expected, ctx, memory_order_acq_rel,
                                                memory_order_acquire))
        return ctx;
    EVP_MD_CTX_free(ctx);
    return expected;
}

static EVP_MD_CTX *verify_template(ts_jwk *key, ts_jws_alg alg)
{
    return ctx_template(key, alg, false);
}

/* The key's P-256 comb table, built on first use like verify_template. NULL (memory short, or
   a point the table builder refuses) means: verify with OpenSSL instead, which decides. */
static const ts_p256_table *p256_table(ts_jwk *key)
{
    ts_p256_table *t = atomic_load_explicit(&key->p256, memory_order_acquire);
    if (t)
        return t;
    t = ts_authn__p256_table_from_pkey(key->pkey);
    if (!t)
        return NULL;
    ts_p256_table *expected = NULL;
    if (atomic_compare_exchange_strong_explicit(&key->p256, &expected, t, memory_order_acq_rel,
                                                memory_order_acquire))
        return t;
    ts_authn__p256_table_free(t);
    return expected;
}

static bool key_fits(const ts_jwk *key, ts_jws_alg alg)
{
    return (ts_jwk_allowed_algs(key) & TS_JWS_ALG_BIT(alg)) != 0;
}

ts_status ts_jws_verify_raw(const ts_jwk *key, ts_jws_alg alg, const void *input, size_t input_len,
                            const uint8_t *sig, size_t sig_len, ts_error *err)
{
    if (!key || !input || !sig)
        return ts_error_set(err, TS_EINVAL, "ts_jws_verify_raw", "NULL argument");
    if (!key_fits(key, alg))
        return ts_error_set(err, TS_EUNSUPPORTED, "alg", "%s cannot be used with key \"%s\"",
                            ts_jws_alg_name(alg), key->kid);
    unsigned char der[2 * 66 + 16];
    const unsigned char *vsig = sig;
    size_t vlen = sig_len;
    if (key->kty == TS_JWK_EC) {
        /* JWS carries R||S of fixed length; OpenSSL wants DER. Any other length is forged. */
        if (sig_len != 2 * (size_t)key->coord)
            return ts_error_set(err, TS_EINVAL, "signature", "ES signature must be %u bytes",
                                2 * key->coord);
        if (alg == TS_JWS_ES256 && key->nid == NID_X9_62_prime256v1) {
            const ts_p256_table *t = p256_table((ts_jwk *)(uintptr_t)key);
            if (t) {
                uint8_t digest[32];
                ts_authn__sha256(input, input_len, digest);
                if (!ts_authn__p256_verify_digest(t, digest, sig))
                    return ts_error_set(err, TS_EINVAL, "signature", "signature does not verify");
                return TS_OK;
            }
        }
        ECDSA_SIG *es = ECDSA_SIG_new();
        BIGNUM *r = BN_bin2bn(sig, (int)key->coord, NULL);
        BIGNUM *s = BN_bin2bn(sig + key->coord, (int)key->coord, NULL);
        if (!es || !r || !s || !ECDSA_SIG_set0(es, r, s)) {
            ECDSA_SIG_free(es);
            BN_free(r);
            BN_free(s);
            return ts_error_set(err, TS_ENOMEM, "signature", "out of memory");
        }
        unsigned char *p = der;
        int dl = i2d_ECDSA_SIG(es, &p);
        ECDSA_SIG_free(es);
        if (dl <= 0 || (size_t)dl > sizeof der)
            return ts_error_set(err, TS_EINTERNAL, "signature", "DER encoding failed");
        vsig = der;
        vlen = (size_t)dl;
    } else if (sig_len != (size_t)EVP_PKEY_get_size(key->pkey)) {
        return ts_error_set(err, TS_EINVAL, "signature", "RSA signature must be %d bytes",
                            EVP_PKEY_get_size(key->pkey));
    }
    EVP_MD_CTX *tmpl = verify_template((ts_jwk *)(uintptr_t)key, alg);
    EVP_MD_CTX *ctx = tmpl ? EVP_MD_CTX_new() : NULL;
    if (!ctx || !EVP_MD_CTX_copy_ex(ctx, tmpl)) {
        EVP_MD_CTX_free(ctx);
        return ts_error_set(err, TS_EINTERNAL, "verify", "cannot set up verification");
    }
    /* The copy is used once: no need for OpenSSL to duplicate it again inside the final step,
       an allocation whose failure it reports as a signature that does not verify. */
    EVP_MD_CTX_set_flags(ctx, EVP_MD_CTX_FLAG_FINALISE);
    int rc = EVP_DigestVerify(ctx, vsig, vlen, input, input_len);
    EVP_MD_CTX_free(ctx);
    if (rc != 1 && ts_common__ossl_oom()) /* a good signature may have failed for lack of memory */
        return ts_error_set(err, TS_ENOMEM, "signature", "out of memory");
    if (rc != 1)
        return ts_error_set(err, TS_EINVAL, "signature", "signature does not verify");
    return TS_OK;
}

static ts_status sign_raw(const ts_jwk *key, ts_jws_alg alg, const char *input, size_t len,
                          unsigned char *out, size_t *out_len, ts_error *err)
{
    EVP_MD_CTX *tmpl = ctx_template((ts_jwk *)(uintptr_t)key, alg, true);
    EVP_MD_CTX *ctx = tmpl ? EVP_MD_CTX_new() : NULL;
    unsigned char buf[2048]; /* RSA-16384 or a DER ECDSA signature at most */
    size_t sl = 0;
    int ok = ctx && EVP_MD_CTX_copy_ex(ctx, tmpl) &&
             EVP_DigestSign(ctx, NULL, &sl, (const void *)input, len) > 0 && sl <= sizeof buf &&
             EVP_DigestSign(ctx, buf, &sl, (const void *)input, len) > 0;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return ts_error_set(err, TS_EINTERNAL, "sign", "signing failed");
    if (key->kty == TS_JWK_RSA) {
        memcpy(out, buf, sl);
        *out_len = sl;
        return TS_OK;
    }
    const unsigned char *p = buf;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sl);
    const BIGNUM *r = NULL, *s = NULL;
    if (es)
        ECDSA_SIG_get0(es, &r, &s);
    ok = es && BN_bn2binpad(r, out, (int)key->coord) == (int)key->coord &&
         BN_bn2binpad(s, out + key->coord, (int)key->coord) == (int)key->coord;
    ECDSA_SIG_free(es);
    if (!ok)
        return ts_error_set(err, TS_EINTERNAL, "sign", "cannot convert the ECDSA signature");
    *out_len = 2 * (size_t)key->coord;
    return TS_OK;
}

/* json_string() refuses text that is not UTF-8 (RFC 3629), as this does. */
static bool is_utf8(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0, l; i < n; i += l)
        if ((l = ts_common__utf8_decode((const unsigned char *)s + i, n - i, NULL)) == 0)
            return false;
    return true;
}

/* The protected header {"alg","kid","typ"} as compact JSON (malloc), or NULL with err set. */
static char *sign_header(const ts_jwk *key, ts_jws_alg alg, const char *typ, ts_error *err)
{
    if (typ && !is_utf8(typ)) {
        ts_error_set(err, TS_EINVAL, "typ", "typ is not UTF-8");
        return NULL;
    }
    /* With every member valid, only a lack of memory can stop the header. */
    json_t *hdr = json_object();
    if (!hdr || json_object_set_new(hdr, "alg", json_string(ts_jws_alg_name(alg))) ||
        json_object_set_new(hdr, "kid", json_string(key->kid)) ||
        (typ && json_object_set_new(hdr, "typ", json_string(typ)))) {
        json_decref(hdr);
        ts_error_set(err, TS_ENOMEM, "ts_jws_sign", "out of memory");
        return NULL;
    }
    char *h = json_dumps(hdr, JSON_COMPACT);
    json_decref(hdr);
    if (!h)
        ts_error_set(err, TS_ENOMEM, "ts_jws_sign", "out of memory");
    return h;
}

ts_status ts_jws_sign(const ts_jwk *key, ts_jws_alg alg, const char *typ, const char *payload,
                      size_t payload_len, char **out, size_t *out_len, ts_error *err)
{
    if (!key || !out || (!payload && payload_len))
        return ts_error_set(err, TS_EINVAL, "ts_jws_sign", "NULL argument");
    *out = NULL;
    if (!key->priv)
        return ts_error_set(err, TS_EINVAL, "ts_jws_sign", "key \"%s\" is not a private key",
                            key->kid);
    if (!key_fits(key, alg))
        return ts_error_set(err, TS_EUNSUPPORTED, "alg", "%s cannot be used with key \"%s\"",
                            ts_jws_alg_name(alg), key->kid);
    char *h = sign_header(key, alg, typ, err);
    if (!h)
        return err ? err->code : TS_ENOMEM;
    ts_status st =
        ts_authn__jws_sign_header(key, alg, h, strlen(h), payload, payload_len, out, out_len, err);
    free(h);
    return st;
}

/* The signature callback of keys held here: sign_raw with the private key in ud. */
static ts_status own_signer(ts_jws_alg alg, const void *input, size_t input_len, uint8_t *sig,
                            size_t sig_cap, size_t *sig_len, void *ud, ts_error *err)
{
    (void)sig_cap; /* sign_raw writes at most 2048 bytes, the size of the caller's buffer */
    return sign_raw(ud, alg, input, input_len, sig, sig_len, err);
}

/* The expected length of a raw JWS signature by @p key: R||S for EC, the modulus for RSA. */
static size_t sig_length(const ts_jwk *key)
{
    return key->kty == TS_JWK_EC ? 2 * (size_t)key->coord : (size_t)EVP_PKEY_get_size(key->pkey);
}

/* header.payload, signed by fn, as a compact JWS. */
static ts_status assemble(const ts_jwk *key, ts_jws_alg alg, const char *h, size_t hl,
                          const char *payload, size_t payload_len, ts_jws_signer_fn fn, void *ud,
                          char **out, size_t *out_len, ts_error *err)
{
    *out = NULL;
    size_t he = ts_authn__b64url_encoded_len(hl), pe = ts_authn__b64url_encoded_len(payload_len);
    size_t cap = he + 1 + pe + 1 + ts_authn__b64url_encoded_len(2048) + 1;
    char *tok = malloc(cap);
    if (!tok)
        return ts_error_set(err, TS_ENOMEM, "ts_jws_sign", "out of memory");
    size_t n = ts_authn__b64url_encode_buf((const uint8_t *)h, hl, tok);
    tok[n++] = '.';
    n += ts_authn__b64url_encode_buf((const uint8_t *)payload, payload_len, tok + n);
    unsigned char sig[2048];
    size_t sl = 0;
    ts_status st = fn(alg, tok, n, sig, sizeof sig, &sl, ud, err);
    if (st == TS_OK && sl != sig_length(key))
        st = ts_error_set(err, TS_EINTERNAL, "sign",
                          "the signer returned %zu bytes, %s with key \"%s\" needs %zu", sl,
                          ts_jws_alg_name(alg), key->kid, sig_length(key));
    if (st != TS_OK) {
        free(tok);
        return st;
    }
    tok[n++] = '.';
    n += ts_authn__b64url_encode_buf(sig, sl, tok + n);
    *out = tok;
    if (out_len)
        *out_len = n;
    return TS_OK;
}

ts_status ts_jws_sign_external(const ts_jwk *public_key, ts_jws_alg alg, const char *typ,
                               const char *payload, size_t payload_len, ts_jws_signer_fn fn,
                               void *ud, char **out, size_t *out_len, ts_error *err)
{
    if (!public_key || !fn || !out || (!payload && payload_len))
        return ts_error_set(err, TS_EINVAL, "ts_jws_sign_external", "NULL argument");
    *out = NULL;
    if (!key_fits(public_key, alg))
        return ts_error_set(err, TS_EUNSUPPORTED, "alg", "%s cannot be used with key \"%s\"",
                            ts_jws_alg_name(alg), public_key->kid);
    char *h = sign_header(public_key, alg, typ, err);
    if (!h)
        return err ? err->code : TS_ENOMEM;
    ts_status st =
        assemble(public_key, alg, h, strlen(h), payload, payload_len, fn, ud, out, out_len, err);
    free(h);
    return st;
}

ts_status ts_authn__jws_sign_header(const ts_jwk *key, ts_jws_alg alg, const char *h, size_t hl,
                                    const char *payload, size_t payload_len, char **out,
                                    size_t *out_len, ts_error *err)
{
    return assemble(key, alg, h, hl, payload, payload_len, own_signer, (void *)(uintptr_t)key, out,
                    out_len, err);
}
