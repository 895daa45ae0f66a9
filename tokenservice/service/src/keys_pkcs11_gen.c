/* Keys made and destroyed inside a PKCS#11 token, for key rotation (keys_rotation_token.c):
 * C_GenerateKeyPair with the attributes of a signing key that never leaves the token, and
 * C_DestroyObject for a retired key. Both need a read-write session, opened for the call
 * (the pool's sessions are read-only: signing never changes the token). */
#define _GNU_SOURCE

#include "keys_pkcs11_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

/* DER of the named curves' OIDs, as CKA_EC_PARAMS wants them. */
static const uint8_t OID_P256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t OID_P384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};

#define FIND_BATCH 16u

/* Objects labelled @p label (of @p cls, or any class when @p cls is NULL), at most @p cap. */
static CK_RV find_label(const ts_svc_p11 *p, CK_SESSION_HANDLE s, const CK_OBJECT_CLASS *cls,
                        const char *label, CK_OBJECT_HANDLE *out, CK_ULONG cap, CK_ULONG *n)
{
    CK_ATTRIBUTE t[2] = {{CKA_LABEL, (void *)(uintptr_t)label, (CK_ULONG)strlen(label)},
                         {CKA_CLASS, (void *)(uintptr_t)cls, sizeof *cls}};
    *n = 0;
    CK_RV rv = p->f->C_FindObjectsInit(s, t, cls ? 2 : 1);
    if (rv != CKR_OK)
        return rv;
    rv = p->f->C_FindObjects(s, out, cap, n);
    CK_RV fin = p->f->C_FindObjectsFinal(s);
    return rv != CKR_OK ? rv : fin;
}

/* Run @p op in a read-write session; a session or login lost is reopened once. */
typedef CK_RV (*rw_op)(ts_svc_p11 *p, CK_SESSION_HANDLE s, void *ud);

static ts_status with_rw(ts_svc_p11 *p, rw_op op, void *ud, CK_RV *rv_out, ts_error *err)
{
    CK_RV rv = CKR_OK;
    for (int attempt = 0; attempt < 2; attempt++) {
        CK_SESSION_HANDLE s;
        ts_status st = ts_svc_p11__open_rw(p, &s, err);
        if (st != TS_OK)
            return st;
        rv = op(p, s, ud);
        if (rv != CKR_SESSION_HANDLE_INVALID && rv != CKR_SESSION_CLOSED)
            p->f->C_CloseSession(s);
        if (!ts_svc_p11__lost(rv))
            break;
        atomic_fetch_add(&p->reopens, 1);
    }
    *rv_out = rv;
    return TS_OK;
}

typedef struct used_ud {
    const char *label;
    bool used;
} used_ud;

static CK_RV op_used(ts_svc_p11 *p, CK_SESSION_HANDLE s, void *ud)
{
    used_ud *u = ud;
    CK_OBJECT_HANDLE o[1];
    CK_ULONG n = 0;
    CK_RV rv = find_label(p, s, NULL, u->label, o, 1, &n);
    u->used = n > 0;
    return rv;
}

ts_status ts_svc_p11_label_used(ts_svc_p11 *p, const char *label, bool *used, ts_error *err)
{
    used_ud u = {label, false};
    CK_RV rv = CKR_OK;
    ts_status st = with_rw(p, op_used, &u, &rv, err);
    if (st != TS_OK)
        return st;
    if (rv != CKR_OK) {
        char rvb[32];
        return ts_error_set(err, TS_EIO, "pkcs11TokenLabel", "cannot search token \"%s\": %s",
                            p->o.token_label, ts_svc_p11__rv(rv, rvb, sizeof rvb));
    }
    *used = u.used;
    return TS_OK;
}

typedef struct gen_ud {
    ts_jws_alg alg;
    const char *label;
    CK_MECHANISM_TYPE mech;
} gen_ud;

static CK_RV op_generate(ts_svc_p11 *p, CK_SESSION_HANDLE s, void *ud)
{
    const gen_ud *g = ud;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    uint8_t id[16];
    if (RAND_bytes(id, sizeof id) != 1)
        return CKR_GENERAL_ERROR;
    CK_ULONG bits = 2048;
    static const uint8_t f4[] = {0x01, 0x00, 0x01};
    CK_ULONG ll = (CK_ULONG)strlen(g->label);
    void *lv = (void *)(uintptr_t)g->label;
    bool ec = g->mech == CKM_EC_KEY_PAIR_GEN;
    const uint8_t *oid = g->alg == TS_JWS_ES384 ? OID_P384 : OID_P256;
    CK_ULONG oidl = g->alg == TS_JWS_ES384 ? sizeof OID_P384 : sizeof OID_P256;
    CK_ATTRIBUTE pub[] = {
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_VERIFY, &yes, sizeof yes},
        {CKA_LABEL, lv, ll},
        {CKA_ID, id, sizeof id},
        {ec ? CKA_EC_PARAMS : CKA_MODULUS_BITS, ec ? (void *)(uintptr_t)oid : (void *)&bits,
         ec ? oidl : sizeof bits},
        {CKA_PUBLIC_EXPONENT, (void *)(uintptr_t)f4, sizeof f4},
    };
    /* The key signs and nothing else, and no one (not even the service) can read it out. */
    CK_ATTRIBUTE priv[] = {
        {CKA_TOKEN, &yes, sizeof yes},     {CKA_PRIVATE, &yes, sizeof yes},
        {CKA_SENSITIVE, &yes, sizeof yes}, {CKA_EXTRACTABLE, &no, sizeof no},
        {CKA_SIGN, &yes, sizeof yes},      {CKA_LABEL, lv, ll},
        {CKA_ID, id, sizeof id},
    };
    CK_MECHANISM m = {g->mech, NULL, 0};
    CK_OBJECT_HANDLE hpub = CK_INVALID_HANDLE, hpriv = CK_INVALID_HANDLE;
    CK_ULONG npub = ec ? 5 : 6; /* an EC key has no public exponent */
    return p->f->C_GenerateKeyPair(s, &m, pub, npub, priv, sizeof priv / sizeof priv[0], &hpub,
                                   &hpriv);
}

ts_status ts_svc_p11_generate(ts_svc_p11 *p, ts_jws_alg alg, const char *label, ts_error *err)
{
    if (!label || !*label || strlen(label) >= TS_SVC_P11_LABEL)
        return ts_error_set(err, TS_EINVAL, "pkcs11KeyLabel", "empty or too long key label");
    gen_ud g = {alg, label, CKM_EC_KEY_PAIR_GEN};
    const char *mech = "CKM_EC_KEY_PAIR_GEN";
    if (alg == TS_JWS_PS256 || alg == TS_JWS_RS256) {
        g.mech = CKM_RSA_PKCS_KEY_PAIR_GEN;
        mech = "CKM_RSA_PKCS_KEY_PAIR_GEN";
    } else if (alg != TS_JWS_ES256 && alg != TS_JWS_ES384) {
        return ts_error_set(err, TS_EINVAL, "alg", "cannot generate a %s key in a token",
                            ts_jws_alg_name(alg));
    }
    bool used = false;
    ts_status st = ts_svc_p11_label_used(p, label, &used, err);
    if (st != TS_OK)
        return st;
    if (used)
        return ts_error_set(err, TS_EINVAL, "pkcs11KeyLabel",
                            "token \"%s\" already holds an object labelled \"%s\"",
                            p->o.token_label, label);
    /* The mechanism list first: a token without it gets an error that says so, before any
     * attempt (some tokens answer an unknown mechanism with a vaguer code). */
    CK_MECHANISM_INFO mi;
    CK_RV rv = p->f->C_GetMechanismInfo(p->slot, g.mech, &mi);
    if (rv == CKR_OK && !(mi.flags & CKF_GENERATE_KEY_PAIR))
        rv = CKR_MECHANISM_INVALID;
    if (rv == CKR_OK && (st = with_rw(p, op_generate, &g, &rv, err)) != TS_OK)
        return st;
    if (rv == CKR_OK)
        return TS_OK;
    char rvb[32];
    bool cannot = rv == CKR_MECHANISM_INVALID || rv == CKR_FUNCTION_NOT_SUPPORTED ||
                  rv == CKR_TEMPLATE_INCONSISTENT || rv == CKR_ATTRIBUTE_VALUE_INVALID ||
                  rv == CKR_TOKEN_WRITE_PROTECTED || rv == CKR_ACTION_PROHIBITED;
    return ts_error_set(err, cannot ? TS_EUNSUPPORTED : TS_EIO, "pkcs11TokenLabel",
                        "token \"%s\" of %s did not generate a key pair for %s (C_GenerateKeyPair, "
                        "%s): %s",
                        p->o.token_label, p->o.module, ts_jws_alg_name(alg), mech,
                        ts_svc_p11__rv(rv, rvb, sizeof rvb));
}

typedef struct destroy_ud {
    const char *label;
    unsigned destroyed;
} destroy_ud;

static CK_RV op_destroy(ts_svc_p11 *p, CK_SESSION_HANDLE s, void *ud)
{
    destroy_ud *d = ud;
    static const CK_OBJECT_CLASS classes[] = {CKO_PRIVATE_KEY, CKO_PUBLIC_KEY};
    for (size_t c = 0; c < sizeof classes / sizeof classes[0]; c++) {
        CK_OBJECT_HANDLE o[FIND_BATCH];
        CK_ULONG n = 0;
        CK_RV rv = find_label(p, s, &classes[c], d->label, o, FIND_BATCH, &n);
        for (CK_ULONG i = 0; rv == CKR_OK && i < n; i++) {
            rv = p->f->C_DestroyObject(s, o[i]);
            if (rv == CKR_OK)
                d->destroyed++;
        }
        if (rv != CKR_OK)
            return rv;
    }
    return CKR_OK;
}

ts_status ts_svc_p11_destroy(ts_svc_p11 *p, const char *label, unsigned *destroyed, ts_error *err)
{
    destroy_ud d = {label, 0};
    CK_RV rv = CKR_OK;
    ts_status st = with_rw(p, op_destroy, &d, &rv, err);
    if (destroyed)
        *destroyed = d.destroyed;
    if (st != TS_OK)
        return st;
    if (rv != CKR_OK) {
        char rvb[32];
        return ts_error_set(err, TS_EIO, "pkcs11TokenLabel",
                            "cannot destroy key \"%s\" in token \"%s\": %s", label,
                            p->o.token_label, ts_svc_p11__rv(rv, rvb, sizeof rvb));
    }
    return TS_OK;
}
