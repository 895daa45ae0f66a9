/* p11_nogen: a PKCS#11 module that is another module (TS_P11_NOGEN_MODULE, a path) in all but
 * key generation, which it refuses with CKR_FUNCTION_NOT_SUPPORTED: the token of an HSM that
 * cannot make keys, for the tests of rotation in a token. Test-only. */
#include <dlfcn.h>
#include <stdlib.h>

#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST list;

static CK_RV refuse_generate(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR pub,
                             CK_ULONG npub, CK_ATTRIBUTE_PTR priv, CK_ULONG npriv,
                             CK_OBJECT_HANDLE_PTR hpub, CK_OBJECT_HANDLE_PTR hpriv)
{
    (void)s, (void)m, (void)pub, (void)npub, (void)priv, (void)npriv, (void)hpub, (void)hpriv;
    return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out);

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out)
{
    const char *path = getenv("TS_P11_NOGEN_MODULE");
    void *dl = path ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
    CK_C_GetFunctionList get = NULL;
    if (dl)
        *(void **)&get = dlsym(dl, "C_GetFunctionList");
    CK_FUNCTION_LIST_PTR real = NULL;
    if (!get || get(&real) != CKR_OK || !real)
        return CKR_GENERAL_ERROR;
    list = *real;
    list.C_GenerateKeyPair = refuse_generate;
    *out = &list;
    return CKR_OK;
}
