/* mTLS service identity: the CA bundle and CRLs a client certificate is verified against, and
 * the identity taken from the certificate (SAN URI or DNS name; the subject's CN never). */
#define _GNU_SOURCE

#include "mtls.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "common/file.h"

/* One CA bundle and its CRLs. A check holds a reference while it verifies, so a reload that
 * replaces the set frees it only after the last check that took it. */
typedef struct trust_set {
    gnutls_x509_trust_list_t trust;
    char *ca_pem;
    size_t ca_len;
    unsigned char digest[32]; /* SHA-256 of both files: a reload of the same is no change */
    unsigned refs;            /* under mu: the handle's, and one per check in progress */
} trust_set;

struct ts_svc_mtls {
    pthread_mutex_t *mu; /* held only to take or swap the current set (a pointer: a check
                          * locks it through a const handle) */
    trust_set *current;
    ts_svc_mtls_rules *rules;
    char *ca_file, *crl_file;             /* crl_file "" = none */
    ts_common__file_id seen_ca, seen_crl; /* at the last read, good or not */
};

static void set_free(trust_set *t)
{
    if (!t)
        return;
    if (t->trust)
        gnutls_x509_trust_list_deinit(t->trust, 1);
    free(t->ca_pem);
    free(t);
}

/* Give back a reference taken under m->mu; the last one frees the set. */
static void set_release(pthread_mutex_t *mu, trust_set *t)
{
    pthread_mutex_lock(mu);
    bool last = --t->refs == 0;
    pthread_mutex_unlock(mu);
    if (last)
        set_free(t);
}

void ts_svc_mtls_free(ts_svc_mtls *m)
{
    if (!m)
        return;
    if (m->current)
        set_release(m->mu, m->current);
    if (m->mu) {
        pthread_mutex_destroy(m->mu);
        free(m->mu);
    }
    ts_svc_mtls_rules_free(m->rules);
    free(m->ca_file);
    free(m->crl_file);
    free(m);
}

const char *ts_svc_mtls_ca_pem(const ts_svc_mtls *m, size_t *len)
{
    *len = m->current->ca_len;
    return m->current->ca_pem;
}

/* The CAs and CRLs into a new set's trust list. A CRL must be signed by a CA of the bundle
 * (GNUTLS_TL_VERIFY_CRL): a CRL file that adds nothing is an error, not a silent no-op. */
static ts_status load_trust(trust_set *m, const char *ca_file, const char *crl_file, ts_error *err)
{
    ts_status st =
        ts_common__read_file(ca_file, TS_SVC_MTLS_MAX_CA_BYTES, 0, &m->ca_pem, &m->ca_len, err);
    if (st != TS_OK) {
        if (err)
            snprintf(err->where, sizeof err->where, "%s", "serviceIdentityCaFile");
        return st;
    }
    gnutls_hash_hd_t h;
    if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
        return ts_error_set(err, TS_EINTERNAL, "serviceIdentityCaFile", "SHA-256 unavailable");
    (void)gnutls_hash(h, m->ca_pem, m->ca_len);
    if (gnutls_x509_trust_list_init(&m->trust, 0) < 0) {
        gnutls_hash_deinit(h, m->digest);
        return ts_error_set(err, TS_ENOMEM, "serviceIdentityCaFile", "out of memory");
    }
    gnutls_datum_t ca = {(unsigned char *)m->ca_pem, (unsigned)m->ca_len};
    int n = gnutls_x509_trust_list_add_trust_mem(m->trust, &ca, NULL, GNUTLS_X509_FMT_PEM, 0, 0);
    if (n <= 0) {
        gnutls_hash_deinit(h, m->digest);
        return ts_error_set(err, TS_EPARSE, "serviceIdentityCaFile",
                            "%s holds no PEM certificate%s%s", ca_file, n < 0 ? ": " : "",
                            n < 0 ? gnutls_strerror(n) : "");
    }
    if (!crl_file || !crl_file[0]) {
        gnutls_hash_deinit(h, m->digest);
        return TS_OK;
    }
    char *crl = NULL;
    size_t crl_len = 0;
    st = ts_common__read_file(crl_file, TS_SVC_MTLS_MAX_CRL_BYTES, 0, &crl, &crl_len, err);
    if (st != TS_OK) {
        gnutls_hash_deinit(h, m->digest);
        if (err)
            snprintf(err->where, sizeof err->where, "%s", "serviceIdentityCrlFile");
        return st;
    }
    (void)gnutls_hash(h, "\n--crl--\n", 9);
    (void)gnutls_hash(h, crl, crl_len);
    gnutls_hash_deinit(h, m->digest);
    gnutls_datum_t cd = {(unsigned char *)crl, (unsigned)crl_len};
    n = gnutls_x509_trust_list_add_trust_mem(m->trust, NULL, &cd, GNUTLS_X509_FMT_PEM,
                                             GNUTLS_TL_VERIFY_CRL, 0);
    free(crl);
    if (n <= 0)
        return ts_error_set(err, TS_EPARSE, "serviceIdentityCrlFile",
                            "%s holds no PEM CRL signed by a CA of serviceIdentityCaFile%s%s",
                            crl_file, n < 0 ? ": " : "", n < 0 ? gnutls_strerror(n) : "");
    return TS_OK;
}

/* Read both files into a new set (one reference: the caller's). */
static ts_status load_set(ts_svc_mtls *m, trust_set **out, ts_error *err)
{
    /* Identities first: a change that lands while the files are read is seen next time. */
    m->seen_ca = ts_common__file_id_of(m->ca_file);
    m->seen_crl = ts_common__file_id_of(m->crl_file);
    trust_set *t = calloc(1, sizeof *t);
    if (!t)
        return ts_error_set(err, TS_ENOMEM, "serviceIdentityCaFile", "out of memory");
    ts_status st = load_trust(t, m->ca_file, m->crl_file, err);
    if (st != TS_OK) {
        set_free(t);
        return st;
    }
    t->refs = 1;
    *out = t;
    return TS_OK;
}

ts_svc_mtls *ts_svc_mtls_new(const char *ca_file, const char *crl_file, const char *rules_json,
                             ts_error *err)
{
    ts_svc_mtls *m = calloc(1, sizeof *m);
    if (!m || !(m->ca_file = strdup(ca_file)) ||
        !(m->crl_file = strdup(crl_file ? crl_file : ""))) {
        if (m) {
            free(m->ca_file);
            free(m);
        }
        ts_error_set(err, TS_ENOMEM, "serviceIdentityCaFile", "out of memory");
        return NULL;
    }
    if (!(m->mu = malloc(sizeof *m->mu)) || pthread_mutex_init(m->mu, NULL) != 0) {
        free(m->mu);
        m->mu = NULL;
        ts_svc_mtls_free(m);
        ts_error_set(err, TS_ENOMEM, "serviceIdentityCaFile", "out of memory");
        return NULL;
    }
    if (load_set(m, &m->current, err) != TS_OK ||
        !(m->rules = ts_svc_mtls_rules_new(rules_json, strlen(rules_json), err))) {
        ts_svc_mtls_free(m);
        return NULL;
    }
    return m;
}

ts_status ts_svc_mtls_reload(ts_svc_mtls *m, bool only_if_changed, bool *read, bool *changed,
                             ts_error *err)
{
    *read = *changed = false;
    if (only_if_changed) {
        ts_common__file_id a = ts_common__file_id_of(m->ca_file),
                           c = ts_common__file_id_of(m->crl_file);
        if (ts_common__file_id_same(&a, &m->seen_ca) && ts_common__file_id_same(&c, &m->seen_crl))
            return TS_OK;
    }
    *read = true;
    trust_set *t = NULL;
    ts_status st = load_set(m, &t, err);
    if (st != TS_OK)
        return st; /* the current set stays */
    pthread_mutex_lock(m->mu);
    trust_set *old = m->current;
    bool same = memcmp(old->digest, t->digest, sizeof t->digest) == 0;
    if (!same)
        m->current = t;
    pthread_mutex_unlock(m->mu);
    if (same) {
        set_free(t);
        return TS_OK;
    }
    *changed = true;
    set_release(m->mu, old); /* the handle's reference; checks still using it keep it */
    return TS_OK;
}

const char *ts_svc_mtls_outcome_name(ts_svc_mtls_outcome o)
{
    switch (o) {
    case TS_SVC_MTLS_OK:
        return "ok";
    case TS_SVC_MTLS_NO_CERTIFICATE:
        return "no_certificate";
    case TS_SVC_MTLS_UNTRUSTED:
        return "untrusted";
    case TS_SVC_MTLS_EXPIRED:
        return "expired";
    case TS_SVC_MTLS_NOT_YET_VALID:
        return "not_yet_valid";
    case TS_SVC_MTLS_REVOKED:
        return "revoked";
    case TS_SVC_MTLS_WRONG_USAGE:
        return "wrong_usage";
    case TS_SVC_MTLS_NO_IDENTITY:
        return "no_identity";
    case TS_SVC_MTLS_UNMAPPED:
        return "unmapped";
    }
    return "unknown";
}

/* The first failure of the verification status, most telling first: a certificate of an
 * unknown CA is "untrusted" whatever else is wrong with it. */
static ts_svc_mtls_outcome from_status(unsigned v)
{
    if (v == 0)
        return TS_SVC_MTLS_OK;
    if (v & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNATURE_FAILURE |
             GNUTLS_CERT_SIGNER_NOT_CA | GNUTLS_CERT_INSECURE_ALGORITHM))
        return TS_SVC_MTLS_UNTRUSTED;
    if (v & GNUTLS_CERT_REVOKED)
        return TS_SVC_MTLS_REVOKED;
    if (v & GNUTLS_CERT_EXPIRED)
        return TS_SVC_MTLS_EXPIRED;
    if (v & GNUTLS_CERT_NOT_ACTIVATED)
        return TS_SVC_MTLS_NOT_YET_VALID;
    if (v & (GNUTLS_CERT_PURPOSE_MISMATCH | GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE))
        return TS_SVC_MTLS_WRONG_USAGE;
    return TS_SVC_MTLS_UNTRUSTED;
}

/* The leaf itself must say it authenticates TLS clients: an extended key usage with clientAuth
 * (its absence is not taken as "any use"), no CA, and if it has a key usage, digitalSignature
 * (the CertificateVerify signature). */
static bool usable_for_client_auth(gnutls_x509_crt_t leaf)
{
    bool client_auth = false;
    for (unsigned i = 0; i < 64 && !client_auth; i++) {
        char oid[128];
        size_t sz = sizeof oid;
        int rc = gnutls_x509_crt_get_key_purpose_oid(leaf, i, oid, &sz, NULL);
        if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
            break;
        if (rc >= 0 && strcmp(oid, GNUTLS_KP_TLS_WWW_CLIENT) == 0)
            client_auth = true;
    }
    unsigned crit = 0;
    if (!client_auth || gnutls_x509_crt_get_ca_status(leaf, &crit) > 0)
        return false;
    unsigned ku = 0;
    int rc = gnutls_x509_crt_get_key_usage(leaf, &ku, &crit);
    return rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE ||
           (rc >= 0 && (ku & GNUTLS_KEY_DIGITAL_SIGNATURE));
}

/* The serial (hex bytes joined by ':', so that no audit field holds a long hex run), the
 * issuer DN and the RFC 8705 thumbprint. */
static void describe_leaf(gnutls_x509_crt_t leaf, const gnutls_datum_t *der,
                          ts_svc_mtls_session *out)
{
    unsigned char serial[20];
    size_t sl = sizeof serial;
    if (gnutls_x509_crt_get_serial(leaf, serial, &sl) >= 0)
        for (size_t i = 0; i < sl && 3 * i + 3 < sizeof out->serial; i++)
            snprintf(out->serial + 3 * i, 4, i + 1 < sl ? "%02x:" : "%02x", serial[i]);
    gnutls_datum_t dn = {NULL, 0};
    if (gnutls_x509_crt_get_issuer_dn3(leaf, &dn, 0) >= 0)
        snprintf(out->issuer, sizeof out->issuer, "%.*s", (int)dn.size, (const char *)dn.data);
    gnutls_free(dn.data);
    unsigned char h[32];
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, der->data, der->size, h) < 0)
        return;
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < 32; i += 3) {
        unsigned v = (unsigned)h[i] << 16 | (i + 1 < 32 ? (unsigned)h[i + 1] << 8 : 0u) |
                     (i + 2 < 32 ? h[i + 2] : 0u);
        size_t chars = i + 2 < 32 ? 4 : (i + 1 < 32 ? 3 : 2);
        for (size_t k = 0; k < chars; k++)
            out->x5t[o++] = b64[(v >> (18 - 6 * k)) & 63];
    }
    out->x5t[o] = '\0'; /* 43 characters, no padding */
}

/* The SAN URIs and DNS names of the leaf, in order, against the rules: the name whose rule
 * comes first wins. A name with anything but printable ASCII (IA5String, RFC 5280; no NUL, no
 * space), or longer than TS_SVC_MTLS_MAX_ID, is skipped. */
static void map_identity(const ts_svc_mtls *m, gnutls_x509_crt_t leaf, ts_svc_mtls_session *out)
{
    bool seen = false;
    for (unsigned seq = 0; seq < TS_SVC_MTLS_MAX_SANS; seq++) {
        char name[TS_SVC_MTLS_MAX_ID + 1];
        size_t sz = sizeof name - 1;
        int type = gnutls_x509_crt_get_subject_alt_name(leaf, seq, name, &sz, NULL);
        if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
            break;
        if (type != GNUTLS_SAN_URI && type != GNUTLS_SAN_DNSNAME)
            continue; /* also a name too long for the buffer */
        name[sz] = '\0';
        bool clean = strlen(name) == sz && sz > 0;
        for (size_t i = 0; i < sz && clean; i++)
            clean = (unsigned char)name[i] > 0x20 && (unsigned char)name[i] < 0x7f;
        if (!clean)
            continue;
        ts_svc_mtls_kind kind = type == GNUTLS_SAN_URI ? TS_SVC_MTLS_URI : TS_SVC_MTLS_DNS;
        if (kind == TS_SVC_MTLS_DNS)
            for (size_t i = 0; i < sz; i++)
                name[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
        const ts_svc_mtls_rule *r = ts_svc_mtls_rules_match(m->rules, kind, name);
        if ((r && (!out->rule || r->index < out->rule->index)) || (!r && !seen && !out->rule)) {
            memcpy(out->identity, name, sz + 1);
            out->kind = kind == TS_SVC_MTLS_URI ? "uri" : "dns";
            if (r)
                out->rule = r;
        }
        seen = true;
    }
    out->outcome = out->rule ? TS_SVC_MTLS_OK
                   : seen    ? TS_SVC_MTLS_UNMAPPED
                             : TS_SVC_MTLS_NO_IDENTITY;
}

void ts_svc_mtls_check(const ts_svc_mtls *m, const gnutls_datum_t *peers, unsigned n,
                       ts_svc_mtls_session *out)
{
    memset(out, 0, sizeof *out);
    out->outcome = TS_SVC_MTLS_NO_CERTIFICATE;
    if (!peers || n == 0)
        return;
    out->outcome = TS_SVC_MTLS_UNTRUSTED;
    if (n > TS_SVC_MTLS_MAX_CHAIN)
        return;
    gnutls_x509_crt_t crt[TS_SVC_MTLS_MAX_CHAIN];
    unsigned have = 0;
    for (; have < n; have++) {
        if (gnutls_x509_crt_init(&crt[have]) < 0)
            break;
        if (gnutls_x509_crt_import(crt[have], &peers[have], GNUTLS_X509_FMT_DER) < 0) {
            gnutls_x509_crt_deinit(crt[have]);
            break;
        }
    }
    if (have == n) {
        describe_leaf(crt[0], &peers[0], out);
        /* The chain, the times (now), the CRLs, and clientAuth along the chain. */
        gnutls_typed_vdata_st purpose = {GNUTLS_DT_KEY_PURPOSE_OID,
                                         (unsigned char *)(uintptr_t)GNUTLS_KP_TLS_WWW_CLIENT, 0};
        unsigned status = 0;
        /* The set in use when the check starts, kept by it until its end whatever a reload
         * does meanwhile. */
        pthread_mutex_lock(m->mu);
        trust_set *ts = m->current;
        ts->refs++;
        pthread_mutex_unlock(m->mu);
        int rc =
            gnutls_x509_trust_list_verify_crt2(ts->trust, crt, n, &purpose, 1, 0, &status, NULL);
        set_release(m->mu, ts);
        out->outcome = rc < 0 ? TS_SVC_MTLS_UNTRUSTED : from_status(status);
        if (out->outcome == TS_SVC_MTLS_OK && !usable_for_client_auth(crt[0]))
            out->outcome = TS_SVC_MTLS_WRONG_USAGE;
        if (out->outcome == TS_SVC_MTLS_OK)
            map_identity(m, crt[0], out);
    }
    for (unsigned i = 0; i < have; i++)
        gnutls_x509_crt_deinit(crt[i]);
}
