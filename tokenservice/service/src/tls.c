/* Native TLS of the main listener: the certificate chain and key (PEM files) read and checked,
 * handed to each handshake through libmicrohttpd's certificate callback, replaced on reload. */
#define _GNU_SOURCE

#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "common/file.h"

/*
 * A pair once handed to a handshake may still be in use by it after a reload replaced it:
 * GnuTLS keeps the pointers the callback returned for the session and uses them while it
 * writes the server's first flight (Certificate, the key's signature). That happens right after
 * the ClientHello is complete, so a replaced pair is kept this long before it is freed, which is
 * far longer than any handshake step takes.
 */
#define RETIRED_KEEP_S 600

/* One certificate chain and its key. */
typedef struct pair {
    gnutls_pcert_st pcert[TS_SVC_TLS_MAX_CHAIN];
    unsigned n;
    gnutls_privkey_t key;
    unsigned char digest[32]; /* SHA-256 of both files' bytes: a reload of the same is no change */
    time_t retired_at;
    struct pair *next; /* retired pairs, newest first */
} pair;

/* The identity of a file as stat() sees it, through symlinks (a Kubernetes secret volume
 * replaces its ..data link; cert-manager and ACME clients rename files into place). */
typedef struct file_id {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    bool ok;
} file_id;

struct ts_svc_tls {
    char cert_file[1024];
    char key_file[1024];
    bool allow_insecure;
    file_id seen_cert, seen_key; /* at the last read, good or not */
    pair *retired;
    char *client_trust; /* PEM CA bundle of client certificates; NULL = none asked for */
    struct MHD_OptionItem opts[4];
};

/* The process's handle and its current pair: libmicrohttpd's certificate callback has no
 * closure argument. The lock is held only to read or swap the pointer. */
static pthread_mutex_t slot_mu = PTHREAD_MUTEX_INITIALIZER;
static ts_svc_tls *slot;
static pair *current;

static void pair_free(pair *p)
{
    if (!p)
        return;
    for (unsigned i = 0; i < p->n; i++)
        gnutls_pcert_deinit(&p->pcert[i]);
    if (p->key)
        gnutls_privkey_deinit(p->key);
    free(p);
}

/* gnutls_certificate_retrieve_function2: every handshake asks for the current pair. */
static int retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                    const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                    gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *privkey)
{
    (void)session;
    (void)req_ca_rdn;
    (void)nreqs;
    (void)pk_algos;
    (void)pk_algos_length;
    pthread_mutex_lock(&slot_mu);
    pair *p = current;
    if (p) {
        *pcert = p->pcert;
        *pcert_length = p->n;
        *privkey = p->key;
    }
    pthread_mutex_unlock(&slot_mu);
    return p ? 0 : -1;
}

static file_id stat_id(const char *path)
{
    file_id f;
    memset(&f, 0, sizeof f);
    struct stat sb;
    if (stat(path, &sb) == 0) {
        f.dev = sb.st_dev;
        f.ino = sb.st_ino;
        f.size = sb.st_size;
        f.mtime = sb.st_mtim;
        f.ok = true;
    }
    return f;
}

static bool same_id(const file_id *a, const file_id *b)
{
    return a->ok == b->ok && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* Read one file: a regular file of at most @p max bytes; a key file must not be open to group
 * or others (the signing keys' rule, with the same escape hatch). */
static ts_status read_one(const char *path, const char *setting, size_t max, bool is_key,
                          bool allow_insecure, char **out, size_t *len, ts_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return ts_error_set(err, TS_EIO, setting, "cannot open %s: %s", path, strerror(errno));
    struct stat sb;
    ts_status st = TS_OK;
    if (fstat(fd, &sb) != 0)
        st = ts_error_set(err, TS_EIO, setting, "cannot stat %s: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        st = ts_error_set(err, TS_EINVAL, setting, "%s is not a regular file", path);
    else if (is_key && (sb.st_mode & 077) && !allow_insecure)
        st = ts_error_set(err, TS_EINVAL, setting,
                          "%s is mode %03o: group or others may use it; chmod 600 it (or set "
                          "allowInsecureKeyPermissions)",
                          path, (unsigned)(sb.st_mode & 0777));
    if (st == TS_OK)
        st = ts_common__read_fd(fd, path, max, TS_COMMON__READ_NO_NUL, out, len, err);
    close(fd);
    if (st != TS_OK && err && err->code == st && strcmp(err->where, setting) != 0)
        snprintf(err->where, sizeof err->where, "%s", setting);
    return st;
}

/* The DER SubjectPublicKeyInfo of a public key; gnutls_free() it. */
static int spki(gnutls_pubkey_t pub, gnutls_datum_t *out)
{
    return gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, out);
}

/* Whether @p key is the private half of the leaf's public key. */
static ts_status key_matches(const pair *p, const char *key_file, ts_error *err)
{
    gnutls_pubkey_t from_key = NULL;
    gnutls_datum_t a = {NULL, 0}, b = {NULL, 0};
    ts_status st = TS_OK;
    if (gnutls_pubkey_init(&from_key) < 0 ||
        gnutls_pubkey_import_privkey(from_key, p->key, 0, 0) < 0 || spki(from_key, &a) < 0 ||
        spki(p->pcert[0].pubkey, &b) < 0)
        st =
            ts_error_set(err, TS_EINTERNAL, "tlsKeyFile", "cannot compare the key of %s", key_file);
    else if (a.size != b.size || memcmp(a.data, b.data, a.size) != 0)
        st = ts_error_set(err, TS_EINVAL, "tlsKeyFile",
                          "the key in %s is not the key of the certificate (the first one of "
                          "tlsCertFile)",
                          key_file);
    gnutls_free(a.data);
    gnutls_free(b.data);
    if (from_key)
        gnutls_pubkey_deinit(from_key);
    return st;
}

/* The leaf's serial, subject, expiry and key type, for the log. */
static void describe(const pair *p, ts_svc_tls_info *info)
{
    if (!info)
        return;
    info->chain = p->n;
    gnutls_x509_crt_t crt;
    if (gnutls_x509_crt_init(&crt) < 0)
        return;
    if (gnutls_x509_crt_import(crt, &p->pcert[0].cert, GNUTLS_X509_FMT_DER) >= 0) {
        unsigned char serial[32];
        size_t sl = sizeof serial;
        if (gnutls_x509_crt_get_serial(crt, serial, &sl) >= 0)
            for (size_t i = 0; i < sl && 2 * i + 2 < sizeof info->serial; i++)
                snprintf(info->serial + 2 * i, 3, "%02x", serial[i]);
        gnutls_datum_t dn = {NULL, 0};
        if (gnutls_x509_crt_get_dn3(crt, &dn, 0) >= 0)
            snprintf(info->subject, sizeof info->subject, "%.*s", (int)dn.size,
                     (const char *)dn.data);
        gnutls_free(dn.data);
        info->not_after = (int64_t)gnutls_x509_crt_get_expiration_time(crt);
    }
    gnutls_x509_crt_deinit(crt);
    int alg = gnutls_privkey_get_pk_algorithm(p->key, NULL);
    const char *name = alg > 0 ? gnutls_pk_get_name((gnutls_pk_algorithm_t)alg) : NULL;
    snprintf(info->key_type, sizeof info->key_type, "%s", name ? name : "unknown");
}

/* Parse and check both files' bytes into a new pair. */
static ts_status parse_pair(const ts_svc_tls *t, char *chain, size_t clen, char *key, size_t klen,
                            pair **out, ts_error *err)
{
    pair *p = calloc(1, sizeof *p);
    if (!p)
        return ts_error_set(err, TS_ENOMEM, "tlsCertFile", "out of memory");
    gnutls_datum_t cd = {(unsigned char *)chain, (unsigned)clen};
    p->n = TS_SVC_TLS_MAX_CHAIN;
    int rc = gnutls_pcert_list_import_x509_raw(p->pcert, &p->n, &cd, GNUTLS_X509_FMT_PEM,
                                               GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED);
    ts_status st = TS_OK;
    if (rc < 0 || p->n == 0) {
        p->n = 0;
        st = ts_error_set(err, TS_EPARSE, "tlsCertFile", "%s: %s", t->cert_file,
                          rc == GNUTLS_E_SHORT_MEMORY_BUFFER ? "more than 16 certificates"
                          : rc == GNUTLS_E_CERTIFICATE_LIST_UNSORTED
                              ? "the chain is not in order (leaf first, each followed by its "
                                "issuer)"
                          : rc < 0 ? gnutls_strerror(rc)
                                   : "no certificate in the file");
    }
    gnutls_datum_t kd = {(unsigned char *)key, (unsigned)klen};
    if (st == TS_OK && gnutls_privkey_init(&p->key) < 0)
        st = ts_error_set(err, TS_ENOMEM, "tlsKeyFile", "out of memory");
    if (st == TS_OK) {
        rc = gnutls_privkey_import_x509_raw(p->key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0);
        if (rc < 0)
            st = ts_error_set(err, TS_EPARSE, "tlsKeyFile",
                              "%s holds no usable PEM private key (an encrypted key is not "
                              "supported): %s",
                              t->key_file, gnutls_strerror(rc));
    }
    if (st == TS_OK)
        st = key_matches(p, t->key_file, err);
    if (st == TS_OK) {
        gnutls_hash_hd_t h;
        if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0) {
            st = ts_error_set(err, TS_EINTERNAL, "tlsCertFile", "SHA-256 unavailable");
        } else {
            (void)gnutls_hash(h, chain, clen);
            (void)gnutls_hash(h, key, klen);
            gnutls_hash_deinit(h, p->digest);
        }
    }
    if (st != TS_OK) {
        pair_free(p);
        return st;
    }
    *out = p;
    return TS_OK;
}

/* Read both files and make a pair of them; the key's bytes are wiped whatever happens. */
static ts_status load_pair(ts_svc_tls *t, pair **out, ts_error *err)
{
    /* Identities first: a change that lands while the files are read is seen at the next
     * check, never lost. */
    t->seen_cert = stat_id(t->cert_file);
    t->seen_key = stat_id(t->key_file);
    char *chain = NULL, *key = NULL;
    size_t clen = 0, klen = 0;
    ts_status st = read_one(t->cert_file, "tlsCertFile", TS_SVC_TLS_MAX_CHAIN_BYTES, false, false,
                            &chain, &clen, err);
    if (st == TS_OK)
        st = read_one(t->key_file, "tlsKeyFile", TS_SVC_TLS_MAX_KEY_BYTES, true, t->allow_insecure,
                      &key, &klen, err);
    if (st == TS_OK)
        st = parse_pair(t, chain, clen, key, klen, out, err);
    if (key) {
        explicit_bzero(key, klen);
        free(key);
    }
    free(chain);
    return st;
}

/* Free the retired pairs no handshake can be using any more. */
static void collect_retired(ts_svc_tls *t, time_t now, bool all)
{
    pair **pp = &t->retired;
    while (*pp) {
        pair *p = *pp;
        if (all || now - p->retired_at > RETIRED_KEEP_S) {
            *pp = p->next;
            pair_free(p);
        } else {
            pp = &p->next;
        }
    }
}

static void set_ptr_option(struct MHD_OptionItem *o, enum MHD_OPTION opt, void *ptr)
{
    o->option = opt;
    o->value = 0;
    o->ptr_value = ptr;
}

ts_svc_tls *ts_svc_tls_new(const char *cert_file, const char *key_file, bool allow_insecure,
                           ts_svc_tls_info *info, ts_error *err)
{
    if (info)
        memset(info, 0, sizeof *info);
    /* HTTPS needs the chain and its key: one alone is a mistake, not plain HTTP. */
    bool has_cert = cert_file && cert_file[0];
    if (!has_cert || !key_file || !key_file[0]) {
        ts_error_set(err, TS_EINVAL, has_cert ? "tlsKeyFile" : "tlsCertFile",
                     "%s is set without %s: give both, or neither for plain HTTP",
                     has_cert ? "tlsCertFile" : "tlsKeyFile",
                     has_cert ? "tlsKeyFile" : "tlsCertFile");
        return NULL;
    }
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES ||
        MHD_is_feature_supported(MHD_FEATURE_HTTPS_CERT_CALLBACK) != MHD_YES) {
        ts_error_set(err, TS_EUNSUPPORTED, "tlsCertFile",
                     "this libmicrohttpd was built without TLS (GnuTLS)");
        return NULL;
    }
    /* The priorities are checked here, where a mistake names itself, rather than by the
     * daemon's start, which only fails. */
    gnutls_priority_t prio;
    const char *bad = NULL;
    if (gnutls_priority_init(&prio, TS_SVC_TLS_PRIORITIES, &bad) < 0) {
        ts_error_set(err, TS_EINTERNAL, "tlsCertFile", "GnuTLS refuses the priorities at '%s'",
                     bad ? bad : "?");
        return NULL;
    }
    gnutls_priority_deinit(prio);
    ts_svc_tls *t = calloc(1, sizeof *t);
    if (!t) {
        ts_error_set(err, TS_ENOMEM, "tlsCertFile", "out of memory");
        return NULL;
    }
    if (strlen(cert_file) >= sizeof t->cert_file || strlen(key_file) >= sizeof t->key_file) {
        free(t);
        ts_error_set(err, TS_EINVAL, "tlsCertFile", "file name too long");
        return NULL;
    }
    memcpy(t->cert_file, cert_file, strlen(cert_file) + 1);
    memcpy(t->key_file, key_file, strlen(key_file) + 1);
    t->allow_insecure = allow_insecure;
    pair *p = NULL;
    if (load_pair(t, &p, err) != TS_OK) {
        free(t);
        return NULL;
    }
    pthread_mutex_lock(&slot_mu);
    bool taken = slot != NULL;
    if (!taken) {
        slot = t;
        current = p;
    }
    pthread_mutex_unlock(&slot_mu);
    if (taken) {
        pair_free(p);
        free(t);
        ts_error_set(err, TS_EUNSUPPORTED, "tlsCertFile",
                     "one TLS listener configuration per process");
        return NULL;
    }
    describe(p, info);
    /* A function pointer travels in the option's data pointer, as libmicrohttpd reads it. */
    gnutls_certificate_retrieve_function2 *cb = retrieve;
    void *cbp;
    _Static_assert(sizeof cbp == sizeof cb, "function and data pointers differ in size");
    memcpy(&cbp, &cb, sizeof cbp);
    set_ptr_option(&t->opts[0], MHD_OPTION_HTTPS_CERT_CALLBACK, cbp);
    set_ptr_option(&t->opts[1], MHD_OPTION_HTTPS_PRIORITIES,
                   (void *)(uintptr_t)TS_SVC_TLS_PRIORITIES);
    set_ptr_option(&t->opts[2], MHD_OPTION_END, NULL);
    return t;
}

void ts_svc_tls_free(ts_svc_tls *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&slot_mu);
    pair *p = NULL;
    if (slot == t) {
        p = current;
        current = NULL;
        slot = NULL;
    }
    pthread_mutex_unlock(&slot_mu);
    pair_free(p);
    collect_retired(t, 0, true);
    free(t->client_trust);
    free(t);
}

ts_status ts_svc_tls_request_client_certs(ts_svc_tls *t, const char *ca_pem, size_t len,
                                          ts_error *err)
{
    if (!t || !ca_pem || len == 0 || t->client_trust)
        return ts_error_set(err, TS_EINVAL, "serviceIdentityCaFile",
                            "no CA bundle, or one was already set");
    char *copy = malloc(len + 1);
    if (!copy)
        return ts_error_set(err, TS_ENOMEM, "serviceIdentityCaFile", "out of memory");
    memcpy(copy, ca_pem, len);
    copy[len] = '\0';
    t->client_trust = copy;
    /* libmicrohttpd requests a client certificate in every handshake once it has a trust; it
     * does not verify it (GnuTLS leaves that to the application without a verify flag). */
    set_ptr_option(&t->opts[2], MHD_OPTION_HTTPS_MEM_TRUST, copy);
    set_ptr_option(&t->opts[3], MHD_OPTION_END, NULL);
    return TS_OK;
}

ts_status ts_svc_tls_current(const ts_svc_tls *t, ts_svc_tls_info *info)
{
    memset(info, 0, sizeof *info);
    pthread_mutex_lock(&slot_mu);
    bool ours = t && slot == t && current;
    if (ours)
        describe(current, info);
    pthread_mutex_unlock(&slot_mu);
    return ours ? TS_OK : TS_EINVAL;
}

unsigned ts_svc_tls_mhd_flags(const ts_svc_tls *t)
{
    return t ? (unsigned)MHD_USE_TLS : 0u;
}

static const struct MHD_OptionItem no_options[] = {{MHD_OPTION_END, 0, NULL}};

const struct MHD_OptionItem *ts_svc_tls_mhd_options(const ts_svc_tls *t)
{
    return t ? t->opts : no_options;
}

ts_status ts_svc_tls_reload(ts_svc_tls *t, bool only_if_changed, ts_svc_tls_info *info,
                            ts_error *err)
{
    ts_svc_tls_info scratch;
    if (!info)
        info = &scratch;
    memset(info, 0, sizeof *info);
    collect_retired(t, time(NULL), false);
    if (only_if_changed) {
        file_id c = stat_id(t->cert_file), k = stat_id(t->key_file);
        if (same_id(&c, &t->seen_cert) && same_id(&k, &t->seen_key))
            return TS_OK;
    }
    info->read = true;
    pair *p = NULL;
    ts_status st = load_pair(t, &p, err);
    if (st != TS_OK)
        return st; /* the current pair stays */
    pthread_mutex_lock(&slot_mu);
    pair *old = current;
    bool same = old && memcmp(old->digest, p->digest, sizeof p->digest) == 0;
    if (!same)
        current = p;
    pthread_mutex_unlock(&slot_mu);
    describe(same ? old : p, info);
    if (same) {
        pair_free(p);
        return TS_OK;
    }
    info->changed = true;
    if (old) {
        old->retired_at = time(NULL);
        old->next = t->retired;
        t->retired = old;
    }
    return TS_OK;
}
