/* p11_keygen: make a signing key pair inside a PKCS#11 token, as an operator would with
 * pkcs11-tool, so that the tests sign with keys that never existed outside the token.
 *
 *   p11_keygen MODULE TOKEN_LABEL PIN KEY_LABEL ec256|ec384|rsa2048 [ID_HEX]
 *   p11_keygen MODULE TOKEN_LABEL PIN KEY_LABEL relabel-to NEW_LABEL
 *   p11_keygen MODULE TOKEN_LABEL PIN LABEL_PREFIX list
 *
 * The second form gives every object labelled KEY_LABEL the label NEW_LABEL (a rotation moves
 * the label from the old key to a new one). The third prints one line per key object whose
 * label starts with LABEL_PREFIX, sorted by nothing: `private LABEL token=1 private=1
 * sensitive=1 extractable=0 sign=1` or `public LABEL token=1` (what pkcs11-tool --list-objects
 * would show of them).
 * The private key is CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, not extractable, CKA_SIGN; the
 * public key carries the same label and CKA_ID. Prints nothing; exit 0 made, 1 failed (the
 * PKCS#11 function and its CKR code on stderr). Test-only: the PIN is an argument. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

static int fail(const char *what, CK_RV rv)
{
    fprintf(stderr, "p11_keygen: %s: CKR 0x%lx\n", what, (unsigned long)rv);
    return 1;
}

static CK_SLOT_ID find_slot(CK_FUNCTION_LIST_PTR f, const char *label, int *ok)
{
    CK_SLOT_ID slots[64];
    CK_ULONG n = 64;
    *ok = 0;
    if (f->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
        return 0;
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO ti;
        if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
            continue;
        size_t l = sizeof ti.label;
        while (l && ti.label[l - 1] == ' ')
            l--;
        if (l == strlen(label) && memcmp(ti.label, label, l) == 0) {
            *ok = 1;
            return slots[i];
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 6 || argc > 7) {
        fprintf(stderr, "usage: p11_keygen MODULE TOKEN_LABEL PIN KEY_LABEL "
                        "ec256|ec384|rsa2048 [ID_HEX] | relabel-to NEW_LABEL | list\n");
        return 2;
    }
    const char *label = argv[4], *type = argv[5];
    unsigned char id[32];
    size_t idl = 0;
    const char *idhex = argc == 7 && strcmp(type, "relabel-to") != 0 ? argv[6] : "01";
    for (; idhex[0] && idhex[1] && idl < sizeof id; idhex += 2) {
        unsigned v = 0;
        if (sscanf(idhex, "%2x", &v) != 1)
            return 2;
        id[idl++] = (unsigned char)v;
    }
    void *dl = dlopen(argv[1], RTLD_NOW);
    if (!dl) {
        fprintf(stderr, "p11_keygen: %s\n", dlerror());
        return 1;
    }
    CK_C_GetFunctionList get = NULL;
    *(void **)&get = dlsym(dl, "C_GetFunctionList");
    CK_FUNCTION_LIST_PTR f = NULL;
    if (!get || get(&f) != CKR_OK)
        return fail("C_GetFunctionList", CKR_GENERAL_ERROR);
    CK_RV rv = f->C_Initialize(NULL);
    if (rv != CKR_OK)
        return fail("C_Initialize", rv);
    int ok = 0;
    CK_SLOT_ID slot = find_slot(f, argv[2], &ok);
    if (!ok)
        return fail("no such token", CKR_TOKEN_NOT_PRESENT);
    CK_SESSION_HANDLE s;
    if ((rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s)) !=
        CKR_OK)
        return fail("C_OpenSession", rv);
    if ((rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)argv[3], (CK_ULONG)strlen(argv[3]))) !=
        CKR_OK)
        return fail("C_Login", rv);
    if (strcmp(type, "list") == 0) {
        CK_OBJECT_HANDLE objs[64];
        CK_ULONG n = 0;
        if ((rv = f->C_FindObjectsInit(s, NULL, 0)) != CKR_OK ||
            (rv = f->C_FindObjects(s, objs, 64, &n)) != CKR_OK ||
            (rv = f->C_FindObjectsFinal(s)) != CKR_OK)
            return fail("C_FindObjects", rv);
        for (CK_ULONG i = 0; i < n; i++) {
            char lab[256] = "";
            CK_OBJECT_CLASS cls = 0;
            CK_BBOOL tok = 0, prv = 0, sen = 0, ext = 0, sig = 0;
            CK_ATTRIBUTE a[] = {{CKA_LABEL, lab, sizeof lab - 1},
                                {CKA_CLASS, &cls, sizeof cls},
                                {CKA_TOKEN, &tok, sizeof tok}};
            if (f->C_GetAttributeValue(s, objs[i], a, 3) != CKR_OK)
                continue;
            lab[a[0].ulValueLen < sizeof lab ? a[0].ulValueLen : 0] = '\0';
            if (strncmp(lab, label, strlen(label)) != 0)
                continue;
            if (cls == CKO_PRIVATE_KEY) {
                CK_ATTRIBUTE b[] = {{CKA_PRIVATE, &prv, sizeof prv},
                                    {CKA_SENSITIVE, &sen, sizeof sen},
                                    {CKA_EXTRACTABLE, &ext, sizeof ext},
                                    {CKA_SIGN, &sig, sizeof sig}};
                if (f->C_GetAttributeValue(s, objs[i], b, 4) != CKR_OK)
                    return fail("C_GetAttributeValue", CKR_GENERAL_ERROR);
                printf("private %s token=%d private=%d sensitive=%d extractable=%d sign=%d\n", lab,
                       tok, prv, sen, ext, sig);
            } else if (cls == CKO_PUBLIC_KEY) {
                printf("public %s token=%d\n", lab, tok);
            }
        }
        f->C_CloseSession(s);
        f->C_Finalize(NULL);
        dlclose(dl);
        return 0;
    }
    if (strcmp(type, "relabel-to") == 0) {
        CK_ATTRIBUTE find = {CKA_LABEL, (void *)(uintptr_t)label, (CK_ULONG)strlen(label)};
        CK_ATTRIBUTE to = {CKA_LABEL, argv[6], (CK_ULONG)strlen(argv[6])};
        CK_OBJECT_HANDLE objs[8];
        CK_ULONG n = 0;
        if ((rv = f->C_FindObjectsInit(s, &find, 1)) != CKR_OK ||
            (rv = f->C_FindObjects(s, objs, 8, &n)) != CKR_OK ||
            (rv = f->C_FindObjectsFinal(s)) != CKR_OK)
            return fail("C_FindObjects", rv);
        if (n == 0)
            return fail("no object with the label", CKR_ARGUMENTS_BAD);
        for (CK_ULONG i = 0; i < n; i++)
            if ((rv = f->C_SetAttributeValue(s, objs[i], &to, 1)) != CKR_OK)
                return fail("C_SetAttributeValue", rv);
        f->C_CloseSession(s);
        f->C_Finalize(NULL);
        dlclose(dl);
        return 0;
    }
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ULONG bits = 2048;
    CK_BYTE e[] = {0x01, 0x00, 0x01};
    static CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    static CK_BYTE p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
    CK_MECHANISM mech = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
    CK_ATTRIBUTE pub[6] = {
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_VERIFY, &yes, sizeof yes},
        {CKA_LABEL, (void *)(uintptr_t)label, (CK_ULONG)strlen(label)},
        {CKA_ID, id, (CK_ULONG)idl},
        {CKA_EC_PARAMS, p256, sizeof p256},
        {0, NULL, 0},
    };
    CK_ULONG npub = 5;
    if (strcmp(type, "ec384") == 0) {
        pub[4].pValue = p384;
        pub[4].ulValueLen = sizeof p384;
    } else if (strcmp(type, "rsa2048") == 0) {
        mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
        pub[4].type = CKA_MODULUS_BITS;
        pub[4].pValue = &bits;
        pub[4].ulValueLen = sizeof bits;
        pub[5].type = CKA_PUBLIC_EXPONENT;
        pub[5].pValue = e;
        pub[5].ulValueLen = sizeof e;
        npub = 6;
    } else if (strcmp(type, "ec256") != 0) {
        fprintf(stderr, "p11_keygen: unknown type %s\n", type);
        return 2;
    }
    CK_ATTRIBUTE priv[] = {
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_PRIVATE, &yes, sizeof yes},
        {CKA_SENSITIVE, &yes, sizeof yes},
        {CKA_EXTRACTABLE, &no, sizeof no},
        {CKA_SIGN, &yes, sizeof yes},
        {CKA_LABEL, (void *)(uintptr_t)label, (CK_ULONG)strlen(label)},
        {CKA_ID, id, (CK_ULONG)idl},
    };
    CK_OBJECT_HANDLE hpub, hpriv;
    rv = f->C_GenerateKeyPair(s, &mech, pub, npub, priv, sizeof priv / sizeof priv[0], &hpub,
                              &hpriv);
    if (rv != CKR_OK)
        return fail("C_GenerateKeyPair", rv);
    f->C_Logout(s);
    f->C_CloseSession(s);
    f->C_Finalize(NULL);
    dlclose(dl);
    return 0;
}
