/* The server side of TLS: the certificate chain and key read and checked, handed to each
 * handshake through GnuTLS's certificate retrieve function, replaced on reload. */
#define _GNU_SOURCE

#include "common/tls_server.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "common/file.h"
#include "tls_p11.h"

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
    gnutls_pcert_st pcert[TS_COMMON__TLS_MAX_CHAIN];
    unsigned n;
    gnutls_privkey_t key;
    ts_common__tls_p11_pin *pin; /* a PKCS#11 key's PIN, asked for again on a new login */
    unsigned char digest[32]; /* SHA-256 of both files' bytes: a reload of the same is no change */
    time_t retired_at;
    struct pair *next; /* retired pairs, newest first */
} pair;

struct ts_common__tls {
    char cert_file[1024];
    char key_file[1024];
    char cert_setting[64];
    char key_setting[64];
    bool allow_insecure;
    bool key_p11;                           /* key_file is a pkcs11: URI */
    ts_common__file_id seen_cert, seen_key; /* at the last read, good or not */
    pair *retired;
    char *client_trust; /* PEM CA bundle of client certificates; NULL = none asked for */
    gnutls_certificate_credentials_t cred;
    gnutls_priority_t prio;
    /* The master key of session tickets (RFC 5077, TLS 1.3 NewSessionTicket): random per
     * process, never written anywhere; GnuTLS derives the keys that encrypt tickets from it and
     * rotates them, so a ticket outlives neither a restart nor a few rotation periods. */
    gnutls_datum_t ticket_key;
};

/* The process's handle and its current pair: libmicrohttpd's certificate callback and GnuTLS's
 * retrieve function have no closure argument. The lock is held only to read or swap the
 * pointer. */
static pthread_mutex_t slot_mu = PTHREAD_MUTEX_INITIALIZER;
static ts_common__tls *slot;
static pair *current;

static void pair_free(pair *p)
{
    if (!p)
        return;
    for (unsigned i = 0; i < p->n; i++)
        gnutls_pcert_deinit(&p->pcert[i]);
    if (p->key)
        gnutls_privkey_deinit(p->key);
    ts_common__tls_p11_pin_free(p->pin);
    free(p);
}

int ts_common__tls_cert_callback(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn,
                                 int nreqs, const gnutls_pk_algorithm_t *pk_algos,
                                 int pk_algos_length, gnutls_pcert_st **pcert,
                                 unsigned int *pcert_length, gnutls_privkey_t *privkey)
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

ts_status ts_common__tls_read_file(const char *path, const char *setting, size_t max, bool is_key,
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
                          "%s is mode %03o: group or others may use it; chmod 600 it (or allow "
                          "insecure key permissions in the settings)",
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

/* Whether the key signs what the leaf's public key verifies: for a key whose public half
 * cannot be read from it (a PKCS#11 token may hold the private object alone). */
static bool signs_for_leaf(const pair *p)
{
    int alg = gnutls_privkey_get_pk_algorithm(p->key, NULL);
    if (alg <= 0)
        return false;
    gnutls_sign_algorithm_t sa = gnutls_pk_to_sign((gnutls_pk_algorithm_t)alg, GNUTLS_DIG_SHA256);
    if (sa == GNUTLS_SIGN_UNKNOWN)
        return false;
    unsigned char buf[32];
    if (gnutls_rnd(GNUTLS_RND_NONCE, buf, sizeof buf) < 0)
        return false;
    gnutls_datum_t data = {buf, sizeof buf}, sig = {NULL, 0};
    bool ok = gnutls_privkey_sign_data2(p->key, sa, 0, &data, &sig) >= 0 &&
              gnutls_pubkey_verify_data2(p->pcert[0].pubkey, sa, 0, &data, &sig) >= 0;
    gnutls_free(sig.data);
    return ok;
}

/* Whether @p key is the private half of the leaf's public key. */
static ts_status key_matches(const ts_common__tls *t, const pair *p, ts_error *err)
{
    gnutls_pubkey_t from_key = NULL;
    gnutls_datum_t a = {NULL, 0}, b = {NULL, 0};
    ts_status st = TS_OK;
    bool compared = gnutls_pubkey_init(&from_key) >= 0 &&
                    gnutls_pubkey_import_privkey(from_key, p->key, 0, 0) >= 0 &&
                    spki(from_key, &a) >= 0 && spki(p->pcert[0].pubkey, &b) >= 0;
    bool same = compared && a.size == b.size && memcmp(a.data, b.data, a.size) == 0;
    if (!compared && t->key_p11)
        same = compared = signs_for_leaf(p);
    if (!compared)
        st = ts_error_set(err, TS_EINTERNAL, t->key_setting, "cannot compare the key of %s",
                          t->key_p11 ? "the PKCS#11 URI" : t->key_file);
    else if (!same)
        st = ts_error_set(err, TS_EINVAL, t->key_setting,
                          "the key in %s is not the key of the certificate (the first one of "
                          "%s)",
                          t->key_p11 ? "the PKCS#11 token" : t->key_file, t->cert_setting);
    gnutls_free(a.data);
    gnutls_free(b.data);
    if (from_key)
        gnutls_pubkey_deinit(from_key);
    return st;
}

/* The leaf's serial, subject, expiry and key type, for the log. */
static void describe(const pair *p, ts_common__tls_info *info)
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

/* The private key: PEM bytes (@p key, @p klen), or the PKCS#11 URI of t->key_file. */
static ts_status import_key(const ts_common__tls *t, pair *p, const char *key, size_t klen,
                            ts_error *err)
{
    if (gnutls_privkey_init(&p->key) < 0)
        return ts_error_set(err, TS_ENOMEM, t->key_setting, "out of memory");
    if (t->key_p11)
        return ts_common__tls_p11_import(p->key, t->key_file, t->allow_insecure, t->key_setting,
                                         &p->pin, err);
    gnutls_datum_t kd = {(unsigned char *)(uintptr_t)key, (unsigned)klen};
    int rc = gnutls_privkey_import_x509_raw(p->key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0);
    if (rc < 0)
        return ts_error_set(err, TS_EPARSE, t->key_setting,
                            "%s holds no usable PEM private key (an encrypted key is not "
                            "supported): %s",
                            t->key_file, gnutls_strerror(rc));
    return TS_OK;
}

/* Parse and check both files' bytes into a new pair (a PKCS#11 key: @p key is its URI). */
static ts_status parse_pair(const ts_common__tls *t, char *chain, size_t clen, const char *key,
                            size_t klen, pair **out, ts_error *err)
{
    pair *p = calloc(1, sizeof *p);
    if (!p)
        return ts_error_set(err, TS_ENOMEM, t->cert_setting, "out of memory");
    gnutls_datum_t cd = {(unsigned char *)chain, (unsigned)clen};
    p->n = TS_COMMON__TLS_MAX_CHAIN;
    int rc = gnutls_pcert_list_import_x509_raw(p->pcert, &p->n, &cd, GNUTLS_X509_FMT_PEM,
                                               GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED);
    ts_status st = TS_OK;
    if (rc < 0 || p->n == 0) {
        p->n = 0;
        st = ts_error_set(err, TS_EPARSE, t->cert_setting, "%s: %s", t->cert_file,
                          rc == GNUTLS_E_SHORT_MEMORY_BUFFER ? "more than 16 certificates"
                          : rc == GNUTLS_E_CERTIFICATE_LIST_UNSORTED
                              ? "the chain is not in order (leaf first, each followed by its "
                                "issuer)"
                          : rc < 0 ? gnutls_strerror(rc)
                                   : "no certificate in the file");
    }
    if (st == TS_OK)
        st = import_key(t, p, key, klen, err);
    if (st == TS_OK)
        st = key_matches(t, p, err);
    if (st == TS_OK) {
        gnutls_hash_hd_t h;
        if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0) {
            st = ts_error_set(err, TS_EINTERNAL, t->cert_setting, "SHA-256 unavailable");
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
static ts_status load_pair(ts_common__tls *t, pair **out, ts_error *err)
{
    /* Identities first: a change that lands while the files are read is seen at the next
     * check, never lost. */
    t->seen_cert = ts_common__file_id_of(t->cert_file);
    if (!t->key_p11)
        t->seen_key = ts_common__file_id_of(t->key_file);
    char *chain = NULL, *key = NULL;
    size_t clen = 0, klen = 0;
    ts_status st =
        ts_common__tls_read_file(t->cert_file, t->cert_setting, TS_COMMON__TLS_MAX_CHAIN_BYTES,
                                 false, false, &chain, &clen, err);
    if (st == TS_OK && !t->key_p11)
        st = ts_common__tls_read_file(t->key_file, t->key_setting, TS_COMMON__TLS_MAX_KEY_BYTES,
                                      true, t->allow_insecure, &key, &klen, err);
    if (st == TS_OK)
        st = t->key_p11 ? parse_pair(t, chain, clen, t->key_file, strlen(t->key_file), out, err)
                        : parse_pair(t, chain, clen, key, klen, out, err);
    if (key) {
        explicit_bzero(key, klen);
        free(key);
    }
    free(chain);
    return st;
}

/* Free the retired pairs no handshake can be using any more. */
static void collect_retired(ts_common__tls *t, time_t now, bool all)
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

static void copy_setting(char *dst, size_t cap, const char *name, const char *fallback)
{
    snprintf(dst, cap, "%s", name && name[0] ? name : fallback);
}

/* The handle without its pair: names, the priority cache, the credentials. */
static ts_common__tls *handle_new(const char *cert_file, const char *key_file, bool allow_insecure,
                                  const char *cert_setting, const char *key_setting, ts_error *err)
{
    ts_common__tls *t = calloc(1, sizeof *t);
    if (!t) {
        ts_error_set(err, TS_ENOMEM, cert_setting, "out of memory");
        return NULL;
    }
    copy_setting(t->cert_setting, sizeof t->cert_setting, cert_setting, "tlsCertFile");
    copy_setting(t->key_setting, sizeof t->key_setting, key_setting, "tlsKeyFile");
    if (strlen(cert_file) >= sizeof t->cert_file || strlen(key_file) >= sizeof t->key_file) {
        ts_error_set(err, TS_EINVAL, t->cert_setting, "file name too long");
        free(t);
        return NULL;
    }
    memcpy(t->cert_file, cert_file, strlen(cert_file) + 1);
    memcpy(t->key_file, key_file, strlen(key_file) + 1);
    t->allow_insecure = allow_insecure;
    t->key_p11 = ts_common__tls_key_is_pkcs11(key_file);
    /* The priorities are checked here, where a mistake names itself, rather than by a
     * listener's start, which only fails. */
    const char *bad = NULL;
    if (gnutls_priority_init(&t->prio, TS_COMMON__TLS_PRIORITIES, &bad) < 0) {
        ts_error_set(err, TS_EINTERNAL, t->cert_setting, "GnuTLS refuses the priorities at '%s'",
                     bad ? bad : "?");
        free(t);
        return NULL;
    }
    if (gnutls_session_ticket_key_generate(&t->ticket_key) < 0) {
        gnutls_priority_deinit(t->prio);
        ts_error_set(err, TS_EINTERNAL, t->cert_setting, "cannot make a session ticket key");
        free(t);
        return NULL;
    }
    if (gnutls_certificate_allocate_credentials(&t->cred) < 0) {
        gnutls_priority_deinit(t->prio);
        gnutls_free(t->ticket_key.data);
        free(t);
        ts_error_set(err, TS_ENOMEM, cert_setting, "out of memory");
        return NULL;
    }
    gnutls_certificate_set_retrieve_function2(t->cred, ts_common__tls_cert_callback);
    return t;
}

static void handle_free(ts_common__tls *t)
{
    collect_retired(t, 0, true);
    if (t->ticket_key.data) {
        gnutls_memset(t->ticket_key.data, 0, t->ticket_key.size);
        gnutls_free(t->ticket_key.data);
    }
    if (t->cred)
        gnutls_certificate_free_credentials(t->cred);
    if (t->prio)
        gnutls_priority_deinit(t->prio);
    free(t->client_trust);
    free(t);
}

ts_common__tls *ts_common__tls_new(const char *cert_file, const char *key_file, bool allow_insecure,
                                   const char *cert_setting, const char *key_setting,
                                   ts_common__tls_info *info, ts_error *err)
{
    if (info)
        memset(info, 0, sizeof *info);
    const char *cs = cert_setting && cert_setting[0] ? cert_setting : "tlsCertFile";
    const char *ks = key_setting && key_setting[0] ? key_setting : "tlsKeyFile";
    /* HTTPS needs the chain and its key: one alone is a mistake, not plain HTTP. */
    bool has_cert = cert_file && cert_file[0];
    if (!has_cert || !key_file || !key_file[0]) {
        ts_error_set(err, TS_EINVAL, has_cert ? ks : cs,
                     "%s is set without %s: give both, or neither for plain HTTP",
                     has_cert ? cs : ks, has_cert ? ks : cs);
        return NULL;
    }
    ts_common__tls *t = handle_new(cert_file, key_file, allow_insecure, cs, ks, err);
    if (!t)
        return NULL;
    pair *p = NULL;
    if (load_pair(t, &p, err) != TS_OK) {
        handle_free(t);
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
        handle_free(t);
        ts_error_set(err, TS_EUNSUPPORTED, cs, "one TLS listener configuration per process");
        return NULL;
    }
    describe(p, info);
    return t;
}

void ts_common__tls_free(ts_common__tls *t)
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
    handle_free(t);
}

ts_status ts_common__tls_request_client_certs(ts_common__tls *t, const char *ca_pem, size_t len,
                                              ts_error *err)
{
    if (!t || !ca_pem || len == 0 || t->client_trust)
        return ts_error_set(err, TS_EINVAL, "clientCaFile", "no CA bundle, or one was already set");
    char *copy = malloc(len + 1);
    if (!copy)
        return ts_error_set(err, TS_ENOMEM, "clientCaFile", "out of memory");
    memcpy(copy, ca_pem, len);
    copy[len] = '\0';
    gnutls_datum_t d = {(unsigned char *)copy, (unsigned)len};
    int rc = gnutls_certificate_set_x509_trust_mem(t->cred, &d, GNUTLS_X509_FMT_PEM);
    if (rc <= 0) {
        free(copy);
        return ts_error_set(err, TS_EINVAL, "clientCaFile", "no PEM CA certificate: %s",
                            rc < 0 ? gnutls_strerror(rc) : "none in the bundle");
    }
    t->client_trust = copy;
    return TS_OK;
}

const char *ts_common__tls_client_trust(const ts_common__tls *t)
{
    return t ? t->client_trust : NULL;
}

ts_status ts_common__tls_current(const ts_common__tls *t, ts_common__tls_info *info)
{
    memset(info, 0, sizeof *info);
    pthread_mutex_lock(&slot_mu);
    bool ours = t && slot == t && current;
    if (ours)
        describe(current, info);
    pthread_mutex_unlock(&slot_mu);
    return ours ? TS_OK : TS_EINVAL;
}

gnutls_certificate_credentials_t ts_common__tls_credentials(const ts_common__tls *t)
{
    return t ? t->cred : NULL;
}

gnutls_priority_t ts_common__tls_priority(const ts_common__tls *t)
{
    return t ? t->prio : NULL;
}

ts_status ts_common__tls_reload(ts_common__tls *t, bool only_if_changed, ts_common__tls_info *info,
                                ts_error *err)
{
    ts_common__tls_info scratch;
    if (!info)
        info = &scratch;
    memset(info, 0, sizeof *info);
    collect_retired(t, time(NULL), false);
    if (only_if_changed) {
        ts_common__file_id c = ts_common__file_id_of(t->cert_file);
        ts_common__file_id k = t->key_p11 ? t->seen_key : ts_common__file_id_of(t->key_file);
        if (ts_common__file_id_same(&c, &t->seen_cert) && ts_common__file_id_same(&k, &t->seen_key))
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

ts_status ts_common__tls_enable_tickets(const ts_common__tls *t, gnutls_session_t session)
{
    if (!t || !session || !t->ticket_key.data)
        return TS_EINVAL;
    return gnutls_session_ticket_enable_server(session, &t->ticket_key) < 0 ? TS_EINTERNAL : TS_OK;
}

const gnutls_datum_t *ts_common__tls_ticket_key(const ts_common__tls *t)
{
    return t && t->ticket_key.data ? &t->ticket_key : NULL;
}
