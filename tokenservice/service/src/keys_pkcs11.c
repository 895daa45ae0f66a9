/* A PKCS#11 token for signing: the module loaded with dlopen (no link to any PKCS#11 library,
 * so a site's HSM module is chosen by configuration), the token found by its label, the user
 * logged in, and a pool of sessions that signing threads take turns on (keys_pkcs11_int.h).
 *
 * The PIN is read from its file or variable only to log in, and wiped right after; a login
 * lost later (the token was reset, every session closed) reads it again. It is never logged. */
#define _GNU_SOURCE

#include "keys_pkcs11_int.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/file.h"
#include "common/mem.h"

#define PIN_MAX 256u

/* PKCS#11 is initialised once per process (C_Initialize twice is CKR_CRYPTOKI_ALREADY_
 * INITIALIZED, and one C_Finalize ends every user's sessions), so every ts_svc_p11 of one
 * module shares this record, and the last one to go finalises the module. A process-wide
 * table is the only faithful model of that process-wide state; it is guarded by its mutex. */
typedef struct ts_svc_p11_module {
    struct ts_svc_p11_module *next;
    void *dl;
    CK_FUNCTION_LIST_PTR f;
    unsigned refs;
    bool finalize; /* we initialised it (not someone else in the process) */
} module;

static pthread_mutex_t modules_mu = PTHREAD_MUTEX_INITIALIZER;
static module *modules;

const char *ts_svc_p11__rv(CK_RV rv, char *buf, size_t cap)
{
    static const struct {
        CK_RV rv;
        const char *name;
    } names[] = {
        {CKR_OK, "CKR_OK"},
        {CKR_HOST_MEMORY, "CKR_HOST_MEMORY"},
        {CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR"},
        {CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED"},
        {CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD"},
        {CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR"},
        {CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED"},
        {CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID"},
        {CKR_KEY_TYPE_INCONSISTENT, "CKR_KEY_TYPE_INCONSISTENT"},
        {CKR_KEY_FUNCTION_NOT_PERMITTED, "CKR_KEY_FUNCTION_NOT_PERMITTED"},
        {CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID"},
        {CKR_MECHANISM_PARAM_INVALID, "CKR_MECHANISM_PARAM_INVALID"},
        {CKR_OBJECT_HANDLE_INVALID, "CKR_OBJECT_HANDLE_INVALID"},
        {CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT"},
        {CKR_PIN_LOCKED, "CKR_PIN_LOCKED"},
        {CKR_PIN_EXPIRED, "CKR_PIN_EXPIRED"},
        {CKR_PIN_LEN_RANGE, "CKR_PIN_LEN_RANGE"},
        {CKR_SESSION_CLOSED, "CKR_SESSION_CLOSED"},
        {CKR_SESSION_COUNT, "CKR_SESSION_COUNT"},
        {CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID"},
        {CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT"},
        {CKR_TOKEN_NOT_RECOGNIZED, "CKR_TOKEN_NOT_RECOGNIZED"},
        {CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN"},
        {CKR_USER_PIN_NOT_INITIALIZED, "CKR_USER_PIN_NOT_INITIALIZED"},
        {CKR_DATA_LEN_RANGE, "CKR_DATA_LEN_RANGE"},
        {CKR_BUFFER_TOO_SMALL, "CKR_BUFFER_TOO_SMALL"},
        {CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED"},
        {CKR_FUNCTION_NOT_SUPPORTED, "CKR_FUNCTION_NOT_SUPPORTED"},
        {CKR_TEMPLATE_INCONSISTENT, "CKR_TEMPLATE_INCONSISTENT"},
        {CKR_ATTRIBUTE_VALUE_INVALID, "CKR_ATTRIBUTE_VALUE_INVALID"},
        {CKR_SESSION_READ_ONLY, "CKR_SESSION_READ_ONLY"},
        {CKR_TOKEN_WRITE_PROTECTED, "CKR_TOKEN_WRITE_PROTECTED"},
        {CKR_ACTION_PROHIBITED, "CKR_ACTION_PROHIBITED"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].rv == rv)
            return names[i].name;
    snprintf(buf, cap, "CKR_0x%lx", (unsigned long)rv);
    return buf;
}

bool ts_svc_p11__lost(CK_RV rv)
{
    return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED ||
           rv == CKR_USER_NOT_LOGGED_IN || rv == CKR_DEVICE_REMOVED ||
           rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_KEY_HANDLE_INVALID ||
           rv == CKR_OBJECT_HANDLE_INVALID;
}

static module *module_get(const char *path, ts_error *err)
{
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *why = dlerror();
        ts_error_set(err, TS_EIO, "pkcs11Module", "cannot load the PKCS#11 module %s: %s", path,
                     why ? why : "dlopen failed");
        return NULL;
    }
    pthread_mutex_lock(&modules_mu);
    for (module *m = modules; m; m = m->next) {
        if (m->dl == dl) { /* dlopen of a loaded library gives its handle again */
            m->refs++;
            pthread_mutex_unlock(&modules_mu);
            dlclose(dl); /* the record holds one reference */
            return m;
        }
    }
    CK_C_GetFunctionList get = NULL;
    *(void **)&get = dlsym(dl, "C_GetFunctionList");
    CK_FUNCTION_LIST_PTR f = NULL;
    char rvb[32];
    CK_RV rv = get ? get(&f) : CKR_FUNCTION_FAILED;
    if (!get || rv != CKR_OK || !f) {
        pthread_mutex_unlock(&modules_mu);
        dlclose(dl);
        ts_error_set(err, TS_EINVAL, "pkcs11Module",
                     "%s is not a PKCS#11 module (C_GetFunctionList: %s)", path,
                     get ? ts_svc_p11__rv(rv, rvb, sizeof rvb) : "missing");
        return NULL;
    }
    /* The module locks with the OS's primitives: the pool's threads call it at once. */
    CK_C_INITIALIZE_ARGS args;
    memset(&args, 0, sizeof args);
    args.flags = CKF_OS_LOCKING_OK;
    rv = f->C_Initialize(&args);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        pthread_mutex_unlock(&modules_mu);
        dlclose(dl);
        ts_error_set(err, TS_EIO, "pkcs11Module", "C_Initialize of %s failed: %s", path,
                     ts_svc_p11__rv(rv, rvb, sizeof rvb));
        return NULL;
    }
    module *m = calloc(1, sizeof *m);
    if (!m) {
        if (rv == CKR_OK)
            f->C_Finalize(NULL);
        pthread_mutex_unlock(&modules_mu);
        dlclose(dl);
        ts_error_set(err, TS_ENOMEM, "pkcs11Module", "out of memory");
        return NULL;
    }
    m->dl = dl;
    m->f = f;
    m->refs = 1;
    m->finalize = rv == CKR_OK;
    m->next = modules;
    modules = m;
    pthread_mutex_unlock(&modules_mu);
    return m;
}

static void module_put(module *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&modules_mu);
    if (--m->refs == 0) {
        for (module **pp = &modules; *pp; pp = &(*pp)->next) {
            if (*pp == m) {
                *pp = m->next;
                break;
            }
        }
        if (m->finalize)
            m->f->C_Finalize(NULL);
        dlclose(m->dl);
        free(m);
    }
    pthread_mutex_unlock(&modules_mu);
}

/* The token label without its blank padding. */
static void token_label(const CK_TOKEN_INFO *ti, char *out, size_t cap)
{
    size_t n = sizeof ti->label;
    while (n && ti->label[n - 1] == ' ')
        n--;
    snprintf(out, cap, "%.*s", (int)n, (const char *)ti->label);
}

static ts_status find_slot(ts_svc_p11 *p, ts_error *err)
{
    CK_ULONG n = 0;
    char rvb[32];
    CK_RV rv = p->f->C_GetSlotList(CK_TRUE, NULL, &n);
    CK_SLOT_ID *slots = rv == CKR_OK && n ? calloc(n, sizeof *slots) : NULL;
    if (rv == CKR_OK && n && !slots)
        return ts_error_set(err, TS_ENOMEM, "pkcs11TokenLabel", "out of memory");
    if (rv == CKR_OK && n)
        rv = p->f->C_GetSlotList(CK_TRUE, slots, &n);
    if (rv != CKR_OK) {
        free(slots);
        return ts_error_set(err, TS_EIO, "pkcs11TokenLabel", "C_GetSlotList of %s failed: %s",
                            p->o.module, ts_svc_p11__rv(rv, rvb, sizeof rvb));
    }
    char seen[200] = "";
    size_t used = 0;
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO ti;
        if (p->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
            continue;
        char label[TS_SVC_P11_TOKEN_LABEL];
        token_label(&ti, label, sizeof label);
        if (strcmp(label, p->o.token_label) == 0) {
            p->slot = slots[i];
            free(slots);
            if (!(ti.flags & CKF_USER_PIN_INITIALIZED))
                return ts_error_set(err, TS_EINVAL, "pkcs11TokenLabel",
                                    "token \"%s\" of %s has no user PIN (initialise it)",
                                    p->o.token_label, p->o.module);
            return TS_OK;
        }
        int w = snprintf(seen + used, sizeof seen - used, "%s\"%s\"", used ? ", " : "", label);
        if (w > 0 && (size_t)w < sizeof seen - used)
            used += (size_t)w;
    }
    free(slots);
    return ts_error_set(err, TS_ENOTFOUND, "pkcs11TokenLabel",
                        "no token labelled \"%s\" in %s (tokens present: %s)", p->o.token_label,
                        p->o.module, used ? seen : "none");
}

/* The PIN, read for one login: a file only its owner may read (one trailing newline is not
 * part of it), or a variable. @p pin gets it NUL-terminated; the caller wipes it. */
static ts_status read_pin(const ts_svc_p11 *p, char *pin, size_t cap, ts_error *err)
{
    if (p->o.pin_env[0]) {
        const char *v = getenv(p->o.pin_env);
        if (!v || !*v)
            return ts_error_set(err, TS_EINVAL, "pkcs11PinEnv",
                                "the variable %s that should hold the PIN of token \"%s\" is "
                                "not set",
                                p->o.pin_env, p->o.token_label);
        if (strlen(v) >= cap)
            return ts_error_set(err, TS_ELIMIT, "pkcs11PinEnv", "the PIN in %s is too long",
                                p->o.pin_env);
        snprintf(pin, cap, "%s", v);
        return TS_OK;
    }
    int fd = open(p->o.pin_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return ts_error_set(err, TS_EIO, "pkcs11PinFile", "cannot open the PIN file %s: %s",
                            p->o.pin_file, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return ts_error_set(err, TS_EINVAL, "pkcs11PinFile", "%s is not a regular file",
                            p->o.pin_file);
    }
    if ((sb.st_mode & 077) && !p->o.allow_insecure_pin_file) {
        close(fd);
        return ts_error_set(err, TS_EINVAL, "pkcs11PinFile",
                            "the PIN file %s may be read by others (mode %04o): chmod 600 it",
                            p->o.pin_file, (unsigned)(sb.st_mode & 07777));
    }
    char *text = NULL;
    size_t len = 0;
    ts_status st =
        ts_common__read_fd(fd, p->o.pin_file, cap - 1, TS_COMMON__READ_NO_NUL, &text, &len, err);
    close(fd);
    if (st != TS_OK)
        return st;
    if (len && text[len - 1] == '\n')
        len--;
    if (len && text[len - 1] == '\r')
        len--;
    memcpy(pin, text, len);
    pin[len] = '\0';
    ts_common__memzero(text, len);
    free(text);
    if (!len)
        return ts_error_set(err, TS_EINVAL, "pkcs11PinFile", "the PIN file %s is empty",
                            p->o.pin_file);
    return TS_OK;
}

/* Log the user in unless the token says the application already is (login is per token and
 * application, not per session). */
static ts_status login(ts_svc_p11 *p, CK_SESSION_HANDLE h, ts_error *err)
{
    pthread_mutex_lock(&p->login_mu);
    CK_SESSION_INFO si;
    CK_RV rv = p->f->C_GetSessionInfo(h, &si);
    if (rv == CKR_OK && (si.state == CKS_RO_USER_FUNCTIONS || si.state == CKS_RW_USER_FUNCTIONS)) {
        pthread_mutex_unlock(&p->login_mu);
        return TS_OK;
    }
    char pin[PIN_MAX];
    ts_status st = read_pin(p, pin, sizeof pin, err);
    if (st == TS_OK) {
        rv = p->f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)pin, (CK_ULONG)strlen(pin));
        if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
            char rvb[32];
            st = ts_error_set(err, rv == CKR_PIN_INCORRECT ? TS_EINVAL : TS_EIO,
                              p->o.pin_env[0] ? "pkcs11PinEnv" : "pkcs11PinFile",
                              "login to token \"%s\" of %s refused: %s (the PIN from %s %s)",
                              p->o.token_label, p->o.module, ts_svc_p11__rv(rv, rvb, sizeof rvb),
                              p->o.pin_env[0] ? "variable" : "file",
                              p->o.pin_env[0] ? p->o.pin_env : p->o.pin_file);
        }
    }
    ts_common__memzero(pin, sizeof pin);
    pthread_mutex_unlock(&p->login_mu);
    return st;
}

static ts_status open_session(ts_svc_p11 *p, ts_svc_p11_session *s, ts_error *err)
{
    CK_RV rv = p->f->C_OpenSession(p->slot, CKF_SERIAL_SESSION, NULL, NULL, &s->h);
    if (rv != CKR_OK) {
        char rvb[32];
        return ts_error_set(err, TS_EIO, "pkcs11TokenLabel",
                            "cannot open a session with token \"%s\" of %s: %s", p->o.token_label,
                            p->o.module, ts_svc_p11__rv(rv, rvb, sizeof rvb));
    }
    ts_status st = login(p, s->h, err);
    if (st != TS_OK) {
        p->f->C_CloseSession(s->h);
        return st;
    }
    s->open = true;
    return TS_OK;
}

ts_status ts_svc_p11__open_rw(ts_svc_p11 *p, CK_SESSION_HANDLE *h, ts_error *err)
{
    CK_RV rv = p->f->C_OpenSession(p->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, h);
    if (rv != CKR_OK) {
        char rvb[32];
        return ts_error_set(err, TS_EIO, "pkcs11TokenLabel",
                            "cannot open a read-write session with token \"%s\" of %s: %s",
                            p->o.token_label, p->o.module, ts_svc_p11__rv(rv, rvb, sizeof rvb));
    }
    /* Login is per token and application: usually the pool's login covers this session. */
    ts_status st = login(p, *h, err);
    if (st != TS_OK)
        p->f->C_CloseSession(*h);
    return st;
}

int ts_svc_p11__take(ts_svc_p11 *p, ts_error *err)
{
    pthread_mutex_lock(&p->mu);
    int i = -1;
    for (;;) {
        for (int j = 0; j < TS_SVC_P11_SESSIONS && i < 0; j++)
            if (!p->s[j].busy && p->s[j].open)
                i = j; /* an open session first: opening costs a round trip to the token */
        for (int j = 0; j < TS_SVC_P11_SESSIONS && i < 0; j++)
            if (!p->s[j].busy)
                i = j;
        if (i >= 0)
            break;
        pthread_cond_wait(&p->cv, &p->mu);
    }
    p->s[i].busy = true;
    pthread_mutex_unlock(&p->mu);
    if (!p->s[i].open && open_session(p, &p->s[i], err) != TS_OK) {
        ts_svc_p11__release(p, i, CKR_OK);
        return -1;
    }
    return i;
}

void ts_svc_p11__release(ts_svc_p11 *p, int i, CK_RV why)
{
    if (ts_svc_p11__lost(why) && p->s[i].open) {
        /* A session the token still knows (its login or key was lost) is closed; a handle the
         * token forgot is not: the token may have given its number to another thread's new
         * session meanwhile. */
        if (why != CKR_SESSION_HANDLE_INVALID && why != CKR_SESSION_CLOSED)
            p->f->C_CloseSession(p->s[i].h);
        p->s[i].open = false;
        atomic_fetch_add(&p->reopens, 1);
    }
    pthread_mutex_lock(&p->mu);
    p->s[i].busy = false;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

ts_svc_p11 *ts_svc_p11_open(const ts_svc_p11_options *o, ts_error *err)
{
    if (!o || !o->module[0] || !o->token_label[0] || !o->key_label[0] ||
        !o->pin_file[0] == !o->pin_env[0]) {
        ts_error_set(err, TS_EINVAL, "keyBackend",
                     "pkcs11 needs pkcs11Module, pkcs11TokenLabel, pkcs11KeyLabel and one of "
                     "pkcs11PinFile, pkcs11PinEnv");
        return NULL;
    }
    ts_svc_p11 *p = calloc(1, sizeof *p);
    if (!p) {
        ts_error_set(err, TS_ENOMEM, "pkcs11", "out of memory");
        return NULL;
    }
    p->o = *o;
    snprintf(p->describe, sizeof p->describe, "pkcs11:token=%s;object=%s (%s)", o->token_label,
             o->key_label, o->module);
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->login_mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    atomic_init(&p->reopens, 0);
    if (!(p->mod = module_get(o->module, err)))
        goto fail;
    p->f = p->mod->f;
    if (find_slot(p, err) != TS_OK)
        goto fail;
    /* One session at start: a wrong PIN or a missing token fails here, not at the first grant. */
    int i = ts_svc_p11__take(p, err);
    if (i < 0)
        goto fail;
    ts_svc_p11__release(p, i, CKR_OK);
    return p;
fail:
    ts_svc_p11_free(p);
    return NULL;
}

void ts_svc_p11_free(ts_svc_p11 *p)
{
    if (!p)
        return;
    for (int i = 0; i < TS_SVC_P11_SESSIONS; i++)
        if (p->s[i].open)
            p->f->C_CloseSession(p->s[i].h);
    module_put(p->mod);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->login_mu);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

unsigned long ts_svc_p11_slot(const ts_svc_p11 *p)
{
    return p ? (unsigned long)p->slot : 0;
}

unsigned long ts_svc_p11_reopens(const ts_svc_p11 *p)
{
    return p ? atomic_load(&((ts_svc_p11 *)(uintptr_t)p)->reopens) : 0;
}

const char *ts_svc_p11_key_label_configured(const ts_svc_p11 *p)
{
    return p ? p->o.key_label : "";
}

void ts_svc_p11_describe_label(const ts_svc_p11 *p, const char *label, char *buf, size_t cap)
{
    if (cap)
        snprintf(buf, cap, "pkcs11:token=%s;object=%s (%s)", p ? p->o.token_label : "", label,
                 p ? p->o.module : "");
}

const char *ts_svc_p11_describe(const ts_svc_p11 *p)
{
    return p ? p->describe : "";
}
