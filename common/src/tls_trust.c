/* Replaceable client-certificate trust (common/tls_trust.h): generations of GnuTLS credentials,
 * reference-counted by the connections that use them. */
#define _POSIX_C_SOURCE 200809L

#include "common/tls_trust.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/sha256.h"

struct ts_common__tls_trust_ref {
    gnutls_certificate_credentials_t cred;
    atomic_uint refs; /* one for being current, one per connection */
    unsigned count;   /* CA certificates */
    unsigned char digest[32];
};

struct ts_common__tls_trust {
    pthread_mutex_t mu; /* held only to read or swap current */
    ts_common__tls_trust_ref *current;
    gnutls_certificate_retrieve_function2 *retrieve;
    char setting[64];
};

static ts_common__tls_trust_ref *generation(const ts_common__tls_trust *t, const char *pem,
                                            size_t len, ts_error *err)
{
    const char *setting = t->setting;
    if (!pem || len == 0 || len > UINT32_MAX) {
        ts_error_set(err, TS_EINVAL, setting, "%s: no PEM CA certificate", setting);
        return NULL;
    }
    ts_common__tls_trust_ref *g = calloc(1, sizeof *g);
    if (!g || gnutls_certificate_allocate_credentials(&g->cred) < 0) {
        free(g);
        ts_error_set(err, TS_ENOMEM, setting, "out of memory");
        return NULL;
    }
    /* The server's own pair (the process's current one, reloads included). */
    gnutls_certificate_set_retrieve_function2(g->cred, t->retrieve);
    gnutls_datum_t d = {(unsigned char *)(uintptr_t)pem, (unsigned)len};
    int rc = gnutls_certificate_set_x509_trust_mem(g->cred, &d, GNUTLS_X509_FMT_PEM);
    if (rc <= 0) {
        gnutls_certificate_free_credentials(g->cred);
        free(g);
        ts_error_set(err, TS_EINVAL, setting, "%s: no PEM CA certificate: %s", setting,
                     rc < 0 ? gnutls_strerror(rc) : "none in the bundle");
        return NULL;
    }
    g->count = (unsigned)rc;
    ts_common__sha256(pem, len, g->digest);
    atomic_init(&g->refs, 1);
    return g;
}

ts_common__tls_trust *ts_common__tls_trust_new(const char *setting, const char *ca_pem, size_t len,
                                               gnutls_certificate_retrieve_function2 *retrieve,
                                               ts_error *err)
{
    const char *name = setting && setting[0] ? setting : "clientCaFile";
    ts_common__tls_trust *t = calloc(1, sizeof *t);
    if (!t) {
        ts_error_set(err, TS_ENOMEM, name, "out of memory");
        return NULL;
    }
    snprintf(t->setting, sizeof t->setting, "%s", name);
    t->retrieve = retrieve;
    if (!(t->current = generation(t, ca_pem, len, err))) {
        free(t);
        return NULL;
    }
    pthread_mutex_init(&t->mu, NULL);
    return t;
}

ts_common__tls_trust_ref *ts_common__tls_trust_acquire(ts_common__tls_trust *t)
{
    pthread_mutex_lock(&t->mu);
    ts_common__tls_trust_ref *g = t->current;
    atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&t->mu);
    return g;
}

gnutls_certificate_credentials_t ts_common__tls_trust_cred(const ts_common__tls_trust_ref *r)
{
    return r->cred;
}

void ts_common__tls_trust_release(ts_common__tls_trust_ref *r)
{
    if (!r || atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1)
        return;
    gnutls_certificate_free_credentials(r->cred);
    free(r);
}

ts_status ts_common__tls_trust_replace(ts_common__tls_trust *t, const char *ca_pem, size_t len,
                                       bool *changed, ts_error *err)
{
    *changed = false;
    unsigned char digest[32];
    ts_common__sha256(ca_pem ? ca_pem : "", ca_pem ? len : 0, digest);
    pthread_mutex_lock(&t->mu);
    bool same = memcmp(digest, t->current->digest, sizeof digest) == 0;
    pthread_mutex_unlock(&t->mu);
    if (same)
        return TS_OK;
    ts_common__tls_trust_ref *g = generation(t, ca_pem, len, err);
    if (!g)
        return err && err->code != TS_OK ? err->code : TS_EINVAL;
    pthread_mutex_lock(&t->mu);
    ts_common__tls_trust_ref *old = t->current;
    t->current = g;
    pthread_mutex_unlock(&t->mu);
    ts_common__tls_trust_release(old);
    *changed = true;
    return TS_OK;
}

unsigned ts_common__tls_trust_count(ts_common__tls_trust *t)
{
    pthread_mutex_lock(&t->mu);
    unsigned n = t->current->count;
    pthread_mutex_unlock(&t->mu);
    return n;
}

void ts_common__tls_trust_free(ts_common__tls_trust *t)
{
    if (!t)
        return;
    ts_common__tls_trust_release(t->current);
    pthread_mutex_destroy(&t->mu);
    free(t);
}
