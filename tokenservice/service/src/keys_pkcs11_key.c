/* One signing key in a PKCS#11 token: found by its label, its public half read from the token
 * for the JWKS (so the kid is the RFC 7638 thumbprint of exactly what the token signs with),
 * and signatures made in the token through the session pool (keys_pkcs11.c).
 *
 * The attributes are data from the token: their lengths are bounded before use, the EC point's
 * DER wrapping is read with OpenSSL's d2i, the curve is recognised by comparing the DER of its
 * OID byte for byte, and the result goes through ts_jwk_parse(), which refuses a point off the
 * curve or an RSA modulus under 2048 bits. */
#define _GNU_SOURCE

#include "keys_pkcs11_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/evp.h>

struct ts_svc_p11_key {
    ts_svc_p11 *p;
    char label[TS_SVC_P11_LABEL]; /* CKA_LABEL: the configured one, or a rotation's */
    atomic_ulong h; /* the private key object; found again after the token forgot handles */
    ts_jwk *pub;
};

#define ATTR_MAX 2048u /* an RSA-16384 modulus; EC points and parameters are far shorter */

/* DER of the named curves' OIDs (prime256v1 1.2.840.10045.3.1.7, secp384r1 1.3.132.0.34). */
static const uint8_t OID_P256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t OID_P384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};

static CK_RV get_attr(const ts_svc_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                      CK_ATTRIBUTE_TYPE type, void *buf, CK_ULONG cap, CK_ULONG *len)
{
    CK_ATTRIBUTE a = {type, buf, cap};
    CK_RV rv = p->f->C_GetAttributeValue(s, o, &a, 1);
    if (rv == CKR_OK && (a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen > cap))
        rv = CKR_ATTRIBUTE_TYPE_INVALID;
    *len = rv == CKR_OK ? a.ulValueLen : 0;
    return rv;
}

/* Objects of @p cls matching @p label (or @p id when given): at most two are looked for. */
static CK_RV find(const ts_svc_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, const char *label,
                  const void *id, CK_ULONG id_len, CK_OBJECT_HANDLE out[2], CK_ULONG *n)
{
    CK_ATTRIBUTE t[2] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_LABEL, NULL, 0}};
    if (id) {
        t[1].type = CKA_ID;
        t[1].pValue = (void *)(uintptr_t)id;
        t[1].ulValueLen = id_len;
    } else {
        t[1].pValue = (void *)(uintptr_t)label;
        t[1].ulValueLen = (CK_ULONG)strlen(label);
    }
    *n = 0;
    CK_RV rv = p->f->C_FindObjectsInit(s, t, 2);
    if (rv != CKR_OK)
        return rv;
    rv = p->f->C_FindObjects(s, out, 2, n);
    CK_RV fin = p->f->C_FindObjectsFinal(s);
    return rv != CKR_OK ? rv : fin;
}

/* An attribute of the private key, else of its public key (same CKA_ID, else same label):
 * tokens differ in which object carries CKA_EC_POINT. */
static CK_RV pub_attr(const ts_svc_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv,
                      const char *label, const uint8_t *id, CK_ULONG id_len, CK_ATTRIBUTE_TYPE type,
                      uint8_t *buf, CK_ULONG *len)
{
    CK_RV rv = get_attr(p, s, priv, type, buf, ATTR_MAX, len);
    if (rv == CKR_OK && *len)
        return rv;
    CK_OBJECT_HANDLE o[2];
    CK_ULONG n = 0;
    rv = find(p, s, CKO_PUBLIC_KEY, label, id_len ? id : NULL, id_len, o, &n);
    if (rv == CKR_OK && n == 0 && id_len)
        rv = find(p, s, CKO_PUBLIC_KEY, label, NULL, 0, o, &n);
    if (rv != CKR_OK)
        return rv;
    if (n != 1)
        return CKR_ATTRIBUTE_TYPE_INVALID;
    return get_attr(p, s, o[0], type, buf, ATTR_MAX, len);
}

static char *b64(const uint8_t *v, size_t n)
{
    char *out = NULL;
    size_t ol = 0;
    ts_error e;
    ts_error_clear(&e);
    return ts_b64url_encode(v, n, &out, &ol, &e) == TS_OK ? out : NULL;
}

/* {"kty":"EC",...} or {"kty":"RSA",...} from the token's attributes, parsed and checked. */
static ts_jwk *ec_jwk(const ts_svc_p11 *p, const char *label, const uint8_t *params, CK_ULONG pl,
                      const uint8_t *pt, CK_ULONG ptl, ts_error *err)
{
    const char *crv = NULL;
    size_t c = 0;
    if (pl == sizeof OID_P256 && memcmp(params, OID_P256, pl) == 0) {
        crv = "P-256";
        c = 32;
    } else if (pl == sizeof OID_P384 && memcmp(params, OID_P384, pl) == 0) {
        crv = "P-384";
        c = 48;
    } else {
        ts_error_set(err, TS_EUNSUPPORTED, "pkcs11KeyLabel",
                     "key \"%s\" in token \"%s\" is on a curve other than P-256 and P-384", label,
                     p->o.token_label);
        return NULL;
    }
    /* CKA_EC_POINT is the DER OCTET STRING of the uncompressed point (PKCS#11 v2.40 §2.3.3);
     * some tokens give the bare point. */
    const uint8_t *q = pt;
    size_t ql = ptl;
    ASN1_OCTET_STRING *os = NULL;
    if (!(ptl == 1 + 2 * c && pt[0] == 0x04)) {
        const unsigned char *d = pt;
        os = d2i_ASN1_OCTET_STRING(NULL, &d, (long)ptl);
        if (!os || d != pt + ptl) {
            ASN1_OCTET_STRING_free(os);
            os = NULL;
            q = NULL;
        } else {
            q = ASN1_STRING_get0_data(os);
            ql = (size_t)ASN1_STRING_length(os);
        }
    }
    if (!q || ql != 1 + 2 * c || q[0] != 0x04) {
        ASN1_OCTET_STRING_free(os);
        ts_error_set(err, TS_EINVAL, "pkcs11KeyLabel",
                     "key \"%s\" in token \"%s\": CKA_EC_POINT is not an uncompressed %s point",
                     label, p->o.token_label, crv);
        return NULL;
    }
    char *x = b64(q + 1, c), *y = b64(q + 1 + c, c);
    ASN1_OCTET_STRING_free(os);
    char json[512];
    int n = x && y ? snprintf(json, sizeof json,
                              "{\"kty\":\"EC\",\"crv\":\"%s\",\"x\":\"%s\","
                              "\"y\":\"%s\"}",
                              crv, x, y)
                   : -1;
    ts_free(x);
    ts_free(y);
    if (n < 0 || (size_t)n >= sizeof json) {
        ts_error_set(err, TS_ENOMEM, "pkcs11KeyLabel", "out of memory");
        return NULL;
    }
    return ts_jwk_parse(json, (size_t)n, err);
}

static ts_jwk *rsa_jwk(const uint8_t *mod, CK_ULONG ml, const uint8_t *exp, CK_ULONG el,
                       ts_error *err)
{
    while (ml && !*mod) /* base64url of the unsigned value, without leading zero bytes */
        mod++, ml--;
    while (el && !*exp)
        exp++, el--;
    char *n = b64(mod, ml), *e = b64(exp, el);
    size_t cap = (n ? strlen(n) : 0) + (e ? strlen(e) : 0) + 64;
    char *json = n && e ? malloc(cap) : NULL;
    int w = json ? snprintf(json, cap, "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"}", n, e) : -1;
    ts_free(n);
    ts_free(e);
    ts_jwk *k = NULL;
    if (w < 0 || (size_t)w >= cap)
        ts_error_set(err, TS_ENOMEM, "pkcs11KeyLabel", "out of memory");
    else
        k = ts_jwk_parse(json, (size_t)w, err);
    free(json);
    return k;
}

/* The private key labelled @p label and its public JWK (unbound). */
static ts_status locate(ts_svc_p11 *p, CK_SESSION_HANDLE s, const char *label,
                        CK_OBJECT_HANDLE *obj, ts_jwk **pub, bool *lost, ts_error *err)
{
    *lost = false;
    CK_OBJECT_HANDLE o[2];
    CK_ULONG n = 0;
    char rvb[32];
    CK_RV rv = find(p, s, CKO_PRIVATE_KEY, label, NULL, 0, o, &n);
    *lost = ts_svc_p11__lost(rv);
    if (rv != CKR_OK)
        return ts_error_set(err, TS_EIO, "pkcs11KeyLabel", "cannot search token \"%s\": %s",
                            p->o.token_label, ts_svc_p11__rv(rv, rvb, sizeof rvb));
    if (n == 0)
        return ts_error_set(err, TS_ENOTFOUND, "pkcs11KeyLabel",
                            "no private key labelled \"%s\" in token \"%s\" of %s", label,
                            p->o.token_label, p->o.module);
    if (n > 1)
        return ts_error_set(err, TS_EINVAL, "pkcs11KeyLabel",
                            "more than one private key is labelled \"%s\" in token \"%s\"", label,
                            p->o.token_label);
    *obj = o[0];
    CK_KEY_TYPE kt = 0;
    CK_BBOOL can_sign = CK_FALSE;
    CK_ULONG l = 0;
    uint8_t id[256];
    CK_ULONG idl = 0;
    if (get_attr(p, s, o[0], CKA_KEY_TYPE, &kt, sizeof kt, &l) != CKR_OK ||
        get_attr(p, s, o[0], CKA_SIGN, &can_sign, sizeof can_sign, &l) != CKR_OK)
        return ts_error_set(err, TS_EIO, "pkcs11KeyLabel",
                            "cannot read the type of key \"%s\" in token \"%s\"", label,
                            p->o.token_label);
    if (get_attr(p, s, o[0], CKA_ID, id, sizeof id, &idl) != CKR_OK)
        idl = 0;
    if (!can_sign)
        return ts_error_set(err, TS_EINVAL, "pkcs11KeyLabel",
                            "key \"%s\" in token \"%s\" may not sign (CKA_SIGN is false)", label,
                            p->o.token_label);
    uint8_t *a = malloc(ATTR_MAX), *b = malloc(ATTR_MAX);
    CK_ULONG al = 0, bl = 0;
    ts_status st = TS_OK;
    if (!a || !b) {
        st = ts_error_set(err, TS_ENOMEM, "pkcs11KeyLabel", "out of memory");
    } else if (kt == CKK_EC || kt == CKK_RSA) {
        CK_ATTRIBUTE_TYPE ta = kt == CKK_EC ? CKA_EC_PARAMS : CKA_MODULUS;
        CK_ATTRIBUTE_TYPE tb = kt == CKK_EC ? CKA_EC_POINT : CKA_PUBLIC_EXPONENT;
        if (pub_attr(p, s, o[0], label, id, idl, ta, a, &al) != CKR_OK ||
            pub_attr(p, s, o[0], label, id, idl, tb, b, &bl) != CKR_OK)
            st = ts_error_set(err, TS_EINVAL, "pkcs11KeyLabel",
                              "cannot read the public half of key \"%s\" in token \"%s\" (from "
                              "the private key or a public key of the same CKA_ID or label)",
                              label, p->o.token_label);
        else if (!(*pub = kt == CKK_EC ? ec_jwk(p, label, a, al, b, bl, err)
                                       : rsa_jwk(a, al, b, bl, err)))
            st = err && err->code ? err->code : TS_EINVAL;
    } else {
        st = ts_error_set(err, TS_EUNSUPPORTED, "pkcs11KeyLabel",
                          "key \"%s\" in token \"%s\" is of type 0x%lx: only EC (P-256, P-384) "
                          "and RSA keys sign",
                          label, p->o.token_label, (unsigned long)kt);
    }
    free(a);
    free(b);
    return st;
}

ts_svc_p11_key *ts_svc_p11_key_find(ts_svc_p11 *p, ts_jws_alg want, ts_error *err)
{
    return ts_svc_p11_key_find_label(p, p->o.key_label, want, err);
}

ts_svc_p11_key *ts_svc_p11_key_find_label(ts_svc_p11 *p, const char *label, ts_jws_alg want,
                                          ts_error *err)
{
    if (!label || !*label || strlen(label) >= TS_SVC_P11_LABEL) {
        ts_error_set(err, TS_EINVAL, "pkcs11KeyLabel", "empty or too long key label");
        return NULL;
    }
    ts_svc_p11_key *k = calloc(1, sizeof *k);
    if (!k) {
        ts_error_set(err, TS_ENOMEM, "pkcs11KeyLabel", "out of memory");
        return NULL;
    }
    k->p = p;
    snprintf(k->label, sizeof k->label, "%s", label);
    int i = ts_svc_p11__take(p, err);
    if (i < 0) {
        free(k);
        return NULL;
    }
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    ts_jwk *pub = NULL;
    bool lost = false;
    ts_error first; /* the caller's record only gets the failure that stands */
    ts_error_clear(&first);
    ts_status st = locate(p, p->s[i].h, k->label, &h, &pub, &lost, &first);
    if (st != TS_OK && !lost && err)
        *err = first;
    if (lost) { /* the session was lost since it was last used: once more */
        ts_svc_p11__release(p, i, CKR_SESSION_HANDLE_INVALID);
        if ((i = ts_svc_p11__take(p, err)) < 0) {
            free(k);
            return NULL;
        }
        st = locate(p, p->s[i].h, k->label, &h, &pub, &lost, err);
    }
    ts_svc_p11__release(p, i, CKR_OK);
    ts_jws_alg alg = TS_JWS_ALG_UNKNOWN;
    if (st == TS_OK) {
        const char *crv = ts_jwk_curve(pub);
        alg = crv ? (strcmp(crv, "P-256") == 0 ? TS_JWS_ES256 : TS_JWS_ES384)
                  : (want == TS_JWS_RS256 ? TS_JWS_RS256 : TS_JWS_PS256);
        if (want != TS_JWS_ALG_UNKNOWN && want != alg)
            st = ts_error_set(err, TS_EINVAL, "pkcs11KeyLabel",
                              "key \"%s\" in token \"%s\" signs %s, but algorithm %s was asked "
                              "for",
                              k->label, p->o.token_label, ts_jws_alg_name(alg),
                              ts_jws_alg_name(want));
    }
    if (st == TS_OK && !(k->pub = ts_jwk_with(pub, NULL, alg, err)))
        st = err && err->code ? err->code : TS_ENOMEM;
    ts_jwk_free(pub);
    if (st != TS_OK) {
        ts_svc_p11_key_free(k);
        return NULL;
    }
    atomic_init(&k->h, (unsigned long)h);
    return k;
}

void ts_svc_p11_key_free(ts_svc_p11_key *k)
{
    if (!k)
        return;
    ts_jwk_free(k->pub);
    free(k);
}

const ts_jwk *ts_svc_p11_key_public(const ts_svc_p11_key *k)
{
    return k ? k->pub : NULL;
}

const char *ts_svc_p11_key_label(const ts_svc_p11_key *k)
{
    return k ? k->label : "";
}

/* After a reopen: the key's handle again, if the label still names this very key. */
static ts_status relocate(ts_svc_p11_key *k, CK_SESSION_HANDLE s, ts_error *err)
{
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    ts_jwk *pub = NULL;
    bool lost = false;
    ts_status st = locate(k->p, s, k->label, &h, &pub, &lost, err);
    if (st == TS_OK && strcmp(ts_jwk_thumbprint(pub), ts_jwk_thumbprint(k->pub)) != 0)
        st = ts_error_set(err, TS_EINVAL, "pkcs11KeyLabel",
                          "the key labelled \"%s\" in token \"%s\" is no longer the one with kid "
                          "%s (reload the keys: SIGHUP)",
                          k->label, k->p->o.token_label, ts_jwk_kid(k->pub));
    ts_jwk_free(pub);
    if (st == TS_OK)
        atomic_store(&k->h, (unsigned long)h);
    return st;
}

ts_status ts_svc_p11_key_sign(ts_jws_alg alg, const void *input, size_t input_len, uint8_t *sig,
                              size_t sig_cap, size_t *sig_len, void *ud, ts_error *err)
{
    ts_svc_p11_key *k = ud;
    ts_svc_p11 *p = k->p;
    if (alg != ts_jwk_alg(k->pub))
        return ts_error_set(err, TS_EUNSUPPORTED, "sign", "key %s signs %s, not %s",
                            ts_jwk_kid(k->pub), ts_jws_alg_name(ts_jwk_alg(k->pub)),
                            ts_jws_alg_name(alg));
    CK_RSA_PKCS_PSS_PARAMS pss = {CKM_SHA256, CKG_MGF1_SHA256, 32};
    CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned dl = 0;
    const void *data = input;
    CK_ULONG data_len = (CK_ULONG)input_len;
    if (alg == TS_JWS_ES256 || alg == TS_JWS_ES384) {
        /* CKM_ECDSA signs a digest the caller made, and answers R||S as JWS wants it. */
        if (!EVP_Digest(input, input_len, digest, &dl,
                        alg == TS_JWS_ES256 ? EVP_sha256() : EVP_sha384(), NULL))
            return ts_error_set(err, TS_EINTERNAL, "sign", "digest failed");
        data = digest;
        data_len = dl;
    } else if (alg == TS_JWS_RS256) {
        mech.mechanism = CKM_SHA256_RSA_PKCS;
    } else if (alg == TS_JWS_PS256) {
        mech.mechanism = CKM_SHA256_RSA_PKCS_PSS;
        mech.pParameter = &pss;
        mech.ulParameterLen = sizeof pss;
    } else {
        return ts_error_set(err, TS_EUNSUPPORTED, "sign", "%s is not signed through PKCS#11",
                            ts_jws_alg_name(alg));
    }
    char rvb[32];
    CK_RV rv = CKR_OK;
    for (int attempt = 0; attempt < 2; attempt++) {
        int i = ts_svc_p11__take(p, err);
        if (i < 0)
            return err && err->code ? err->code : TS_EIO;
        CK_SESSION_HANDLE s = p->s[i].h;
        if (attempt == 1 && relocate(k, s, err) != TS_OK) {
            ts_svc_p11__release(p, i, CKR_OK);
            return err && err->code ? err->code : TS_EIO;
        }
        CK_ULONG n = (CK_ULONG)sig_cap;
        rv = p->f->C_SignInit(s, &mech, (CK_OBJECT_HANDLE)atomic_load(&k->h));
        if (rv == CKR_OK)
            rv = p->f->C_Sign(s, (CK_BYTE_PTR)(uintptr_t)data, data_len, sig, &n);
        ts_svc_p11__release(p, i, rv);
        if (rv == CKR_OK) {
            *sig_len = (size_t)n;
            return TS_OK;
        }
        if (!ts_svc_p11__lost(rv))
            break;
    }
    return ts_error_set(err, TS_EIO, "sign", "token \"%s\" did not sign with key \"%s\": %s",
                        p->o.token_label, k->label, ts_svc_p11__rv(rv, rvb, sizeof rvb));
}
