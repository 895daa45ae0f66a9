/* What keys_pkcs11.c (module, token, sessions) shares with keys_pkcs11_key.c (the key). */
#ifndef TS_SVC_KEYS_PKCS11_INT_H
#define TS_SVC_KEYS_PKCS11_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include <p11-kit/pkcs11.h> /* the standard PKCS#11 v2.40 header; nothing of p11-kit is linked */

#include "keys_pkcs11.h"

/* Sessions in the pool: a session serves one thread at a time (PKCS#11 §5.6), so this is how
 * many signatures the token computes at once; more signing threads wait their turn. */
#define TS_SVC_P11_SESSIONS 16

typedef struct ts_svc_p11_session {
    CK_SESSION_HANDLE h;
    bool open;
    bool busy;
} ts_svc_p11_session;

struct ts_svc_p11_module; /* keys_pkcs11.c: one per loaded module, shared in the process */

struct ts_svc_p11 {
    struct ts_svc_p11_module *mod;
    CK_FUNCTION_LIST_PTR f;
    CK_SLOT_ID slot;
    ts_svc_p11_options o;
    char describe[TS_SVC_P11_PATH + 2 * TS_SVC_P11_LABEL];
    pthread_mutex_t mu; /* the pool; never held while the token works */
    pthread_cond_t cv;  /* a session was given back */
    pthread_mutex_t login_mu;
    ts_svc_p11_session s[TS_SVC_P11_SESSIONS];
    atomic_ulong reopens;
};

/** A pooled session for the calling thread, opened (and the user logged in) when needed.
 *  @return its index, or -1 with @p err set. Give it back with ts_svc_p11__release(). */
int ts_svc_p11__take(ts_svc_p11 *p, ts_error *err);
/** Give session @p i back with the result of its last call: a result that says the session or
 *  login is lost (ts_svc_p11__lost()) leaves it to be reopened by its next user. */
void ts_svc_p11__release(ts_svc_p11 *p, int i, CK_RV why);
/** A read-write session of its own (object creation and destruction need one; the pool's are
 *  read-only), the user logged in. Close it with C_CloseSession. */
ts_status ts_svc_p11__open_rw(ts_svc_p11 *p, CK_SESSION_HANDLE *h, ts_error *err);
/** Whether @p rv says the session or the login is gone, so that reopening may help. */
bool ts_svc_p11__lost(CK_RV rv);
/** "CKR_PIN_INCORRECT" or "CKR_0x..." for @p rv; @p buf holds the latter. */
const char *ts_svc_p11__rv(CK_RV rv, char *buf, size_t cap);

#endif
