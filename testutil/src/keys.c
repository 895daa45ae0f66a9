/* Ephemeral keys, their PEM forms, key sets, and JWS signing independent of authn's. */
#define _POSIX_C_SOURCE 200809L
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil_internal.h"
#include "common/jws_md.h"
#include "common/ossl.h"

/* Deprecated alias of ts_free(), kept exported for programs built against 0.1.0. */
void ts_testutil_free(void *p)
{
    free(p);
}

static bool is_rsa_alg(ts_jws_alg a)
{
    return a >= TS_JWS_RS256 && a <= TS_JWS_PS512;
}

static bool is_ec_alg(ts_jws_alg a)
{
    return a >= TS_JWS_ES256 && a <= TS_JWS_ES512;
}

/* Bytes of one ES signature half (RFC 7518 §3.4). */
static size_t ec_half(ts_jws_alg a)
{
    return a == TS_JWS_ES256 ? 32u : a == TS_JWS_ES384 ? 48u : 66u;
}

bool ts_testutil__alg_fits(const ts_testutil_key *k, ts_jws_alg alg)
{
    if (!k || !ts_common__jws_md(alg))
        return false;
    int id = EVP_PKEY_get_base_id(k->pkey);
    if (id == EVP_PKEY_RSA)
        return is_rsa_alg(alg);
    if (id != EVP_PKEY_EC || !is_ec_alg(alg))
        return false;
    int bits = EVP_PKEY_get_bits(k->pkey);
    return (alg == TS_JWS_ES256 && bits == 256) || (alg == TS_JWS_ES384 && bits == 384) ||
           (alg == TS_JWS_ES512 && bits == 521);
}

/* The error of a failed OpenSSL call: TS_ENOMEM when its error queue records an allocation
 * failure (a lack of memory is never "cannot sign" or "bad key"), else TS_EINTERNAL with
 * @p what. Empties the queue. */
static ts_status ossl_failed(ts_error *err, const char *where, const char *what)
{
    if (ts_common__ossl_oom())
        return ts_error_set(err, TS_ENOMEM, where, "out of memory (%s)", what);
    return ts_error_set(err, TS_EINTERNAL, where, "%s", what);
}

char *ts_testutil__random_b64(size_t nbytes, ts_error *err)
{
    unsigned char buf[64];
    if (nbytes > sizeof buf) {
        ts_error_set(err, TS_EINVAL, "random", "at most %zu bytes", sizeof buf);
        return NULL;
    }
    if (RAND_bytes(buf, (int)nbytes) != 1) {
        ossl_failed(err, "random", "RAND_bytes failed");
        return NULL;
    }
    char *out = NULL;
    if (ts_b64url_encode(buf, nbytes, &out, NULL, err) != TS_OK)
        return NULL;
    return out; /* freed with ts_free(), as every string of every library */
}

static char *bio_string(BIO *b)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (s) {
        memcpy(s, data, (size_t)n);
        s[n] = '\0';
    }
    return s;
}

static char *pem_of(const EVP_PKEY *pkey, bool private_part, ts_error *err)
{
    BIO *b = BIO_new(BIO_s_mem());
    int ok = b && (private_part ? PEM_write_bio_PrivateKey(b, pkey, NULL, NULL, 0, NULL, NULL)
                                : PEM_write_bio_PUBKEY(b, pkey));
    char *s = ok ? bio_string(b) : NULL;
    BIO_free(b);
    if (!ok)
        ossl_failed(err, "pem", "cannot encode the key as PEM");
    else if (!s)
        ts_error_set(err, TS_ENOMEM, "pem", "out of memory");
    return s;
}

/* Takes ownership of @p pkey. */
static ts_testutil_key *wrap(EVP_PKEY *pkey, ts_jws_alg alg, ts_error *err)
{
    ts_testutil_key *k = calloc(1, sizeof *k);
    if (!k) {
        EVP_PKEY_free(pkey);
        ts_error_set(err, TS_ENOMEM, "key", "out of memory");
        return NULL;
    }
    k->pkey = pkey;
    k->alg = alg;
    if (!ts_testutil__alg_fits(k, alg)) {
        ts_error_set(err, TS_EINVAL, "alg", "%s does not fit this key", ts_jws_alg_name(alg));
        ts_testutil_key_free(k);
        return NULL;
    }
    char *pem = pem_of(pkey, true, err);
    ts_jwk *plain = pem ? ts_jwk_from_pem(pem, strlen(pem), err) : NULL;
    if (pem) {
        OPENSSL_cleanse(pem, strlen(pem));
        free(pem);
    }
    k->jwk = plain ? ts_jwk_with(plain, NULL, alg, err) : NULL;
    ts_jwk_free(plain);
    if (!k->jwk) {
        ts_testutil_key_free(k);
        return NULL;
    }
    return k;
}

ts_testutil_key *ts_testutil_key_new(ts_jws_alg alg, ts_error *err)
{
    EVP_PKEY *pkey = NULL;
    if (is_rsa_alg(alg))
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    else if (is_ec_alg(alg))
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC",
                                 alg == TS_JWS_ES256   ? "P-256"
                                 : alg == TS_JWS_ES384 ? "P-384"
                                                       : "P-521");
    else {
        ts_error_set(err, TS_EINVAL, "alg", "unsupported algorithm %d", (int)alg);
        return NULL;
    }
    if (!pkey) {
        char what[64];
        snprintf(what, sizeof what, "key generation failed for %s", ts_jws_alg_name(alg));
        ossl_failed(err, "keygen", what);
        return NULL;
    }
    return wrap(pkey, alg, err);
}

ts_testutil_key *ts_testutil_key_rsa2048(ts_error *err)
{
    return ts_testutil_key_new(TS_JWS_PS256, err);
}

ts_testutil_key *ts_testutil_key_p256(ts_error *err)
{
    return ts_testutil_key_new(TS_JWS_ES256, err);
}

ts_testutil_key *ts_testutil_key_p384(ts_error *err)
{
    return ts_testutil_key_new(TS_JWS_ES384, err);
}

ts_testutil_key *ts_testutil_key_load_pem(const char *path, ts_jws_alg alg, ts_error *err)
{
    if (!path)
        return ts_error_set(err, TS_EINVAL, "path", "path is NULL"), NULL;
    BIO *b = BIO_new_file(path, "r");
    EVP_PKEY *pkey = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (!pkey) {
        if (ts_common__ossl_oom())
            ts_error_set(err, TS_ENOMEM, path, "out of memory reading the key");
        else
            ts_error_set(err, TS_EPARSE, path, "not a readable unencrypted private key PEM");
        return NULL;
    }
    return wrap(pkey, alg, err);
}

void ts_testutil_key_free(ts_testutil_key *k)
{
    if (!k)
        return;
    EVP_PKEY_free(k->pkey);
    ts_jwk_free(k->jwk);
    free(k);
}

const ts_jwk *ts_testutil_key_jwk(const ts_testutil_key *k)
{
    return k ? k->jwk : NULL;
}

ts_jws_alg ts_testutil_key_alg(const ts_testutil_key *k)
{
    return k ? k->alg : TS_JWS_ALG_UNKNOWN;
}

const char *ts_testutil_key_kid(const ts_testutil_key *k)
{
    return k ? ts_jwk_kid(k->jwk) : NULL;
}

char *ts_testutil_key_private_pem(const ts_testutil_key *k, ts_error *err)
{
    if (!k)
        return ts_error_set(err, TS_EINVAL, "key", "key is NULL"), NULL;
    return pem_of(k->pkey, true, err);
}

char *ts_testutil_key_public_pem(const ts_testutil_key *k, ts_error *err)
{
    if (!k)
        return ts_error_set(err, TS_EINVAL, "key", "key is NULL"), NULL;
    return pem_of(k->pkey, false, err);
}

ts_jwks *ts_testutil_jwks(const ts_testutil_key *const *keys, size_t n, ts_error *err)
{
    ts_jwk **pub = calloc(n ? n : 1, sizeof *pub);
    if (!pub)
        return ts_error_set(err, TS_ENOMEM, "jwks", "out of memory"), NULL;
    size_t m = 0;
    ts_jwks *set = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!keys[i])
            continue;
        /* Through JSON: the set then holds public keys only, as a real JWKS would. */
        char *json = ts_jwk_to_json(keys[i]->jwk, err);
        pub[m] = json ? ts_jwk_parse(json, strlen(json), err) : NULL;
        ts_free(json);
        if (!pub[m])
            goto out;
        m++;
    }
    set = ts_jwks_new(pub, m, err);
out:
    for (size_t i = 0; i < m; i++)
        ts_jwk_free(pub[i]);
    free(pub);
    return set;
}

ts_status ts_testutil_jwks_write(const ts_jwks *set, const char *path, ts_error *err)
{
    if (!set)
        return ts_error_set(err, TS_EINVAL, "jwks", "key set is NULL");
    char *json = ts_jwks_to_json(set, err);
    if (!json)
        return err ? err->code : TS_EINTERNAL;
    ts_status st = ts_testutil_write_file(path, json, strlen(json), err);
    ts_free(json);
    return st;
}

/* DER ECDSA signature to the fixed-length R||S form JWS uses. */
static bool der_to_jose(const unsigned char *der, size_t der_len, size_t half, unsigned char *out)
{
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    if (!sig)
        return false;
    const BIGNUM *r = NULL, *s = NULL;
    ECDSA_SIG_get0(sig, &r, &s);
    bool ok = BN_bn2binpad(r, out, (int)half) == (int)half &&
              BN_bn2binpad(s, out + half, (int)half) == (int)half;
    ECDSA_SIG_free(sig);
    return ok;
}

static ts_status sign_bytes(const ts_testutil_key *k, ts_jws_alg alg, const char *in, size_t len,
                            unsigned char **sig, size_t *sig_len, ts_error *err)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char *der = NULL, *raw = NULL;
    size_t n = 0;
    bool no_memory = false; /* one of our own allocations failed (OpenSSL's: its queue says) */
    ts_status st = TS_EINTERNAL;
    if (!ctx || EVP_DigestSignInit(ctx, &pctx, ts_common__jws_md(alg), NULL, k->pkey) != 1)
        goto out;
    if (alg >= TS_JWS_PS256 && alg <= TS_JWS_PS512 &&
        (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
        goto out;
    if (EVP_DigestSign(ctx, NULL, &n, (const unsigned char *)in, len) != 1)
        goto out;
    if (!(der = malloc(n))) {
        no_memory = true;
        goto out;
    }
    if (EVP_DigestSign(ctx, der, &n, (const unsigned char *)in, len) != 1)
        goto out;
    if (is_ec_alg(alg)) {
        size_t half = ec_half(alg);
        if (!(raw = malloc(2 * half))) {
            no_memory = true;
            goto out;
        }
        if (!der_to_jose(der, n, half, raw))
            goto out;
        free(der);
        der = raw;
        raw = NULL;
        n = 2 * half;
    }
    *sig = der;
    *sig_len = n;
    der = NULL;
    st = TS_OK;
out:
    free(der);
    free(raw);
    EVP_MD_CTX_free(ctx);
    if (st == TS_OK)
        return TS_OK;
    if (no_memory) {
        ERR_clear_error();
        return ts_error_set(err, TS_ENOMEM, "sign", "out of memory");
    }
    char what[64];
    snprintf(what, sizeof what, "signing with %s failed", ts_jws_alg_name(alg));
    return ossl_failed(err, "sign", what);
}

/* b64url(@p data) appended to @p buf at @p *pos (the caller sized @p buf). */
static ts_status append_b64(char *buf, size_t *pos, const void *data, size_t len, ts_error *err)
{
    char *enc = NULL;
    size_t n = 0;
    if (len > 0 && ts_b64url_encode(data, len, &enc, &n, err) != TS_OK)
        return err ? err->code : TS_EINTERNAL;
    if (n)
        memcpy(buf + *pos, enc, n);
    *pos += n;
    buf[*pos] = '\0';
    ts_free(enc);
    return TS_OK;
}

static size_t b64_len(size_t n)
{
    return (n * 4 + 2) / 3;
}

char *ts_testutil_sign_raw(const ts_testutil_key *key, ts_jws_alg alg, const char *header,
                           size_t header_len, const char *payload, size_t payload_len,
                           ts_error *err)
{
    if (!key || !header || !payload)
        return ts_error_set(err, TS_EINVAL, "sign", "key, header and payload are required"), NULL;
    if (!ts_testutil__alg_fits(key, alg))
        return ts_error_set(err, TS_EINVAL, "alg", "%s does not fit this key",
                            ts_jws_alg_name(alg)),
               NULL;
    size_t cap = b64_len(header_len) + b64_len(payload_len) + b64_len(1024) + 4;
    char *tok = malloc(cap);
    if (!tok)
        return ts_error_set(err, TS_ENOMEM, "sign", "out of memory"), NULL;
    size_t pos = 0;
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    if (append_b64(tok, &pos, header, header_len, err) != TS_OK)
        goto fail;
    tok[pos++] = '.';
    if (append_b64(tok, &pos, payload, payload_len, err) != TS_OK ||
        sign_bytes(key, alg, tok, pos, &sig, &sig_len, err) != TS_OK)
        goto fail;
    tok[pos++] = '.';
    if (append_b64(tok, &pos, sig, sig_len, err) != TS_OK)
        goto fail;
    free(sig);
    return tok;
fail:
    free(sig);
    free(tok);
    return NULL;
}
