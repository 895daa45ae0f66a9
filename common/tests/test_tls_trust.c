/* Replaceable client-certificate trust (common/tls_trust.h) under threads: connections take and
 * drop references while the owner replaces the CAs again and again; every reference sees
 * credentials that stay alive until it is dropped (ASan), without a data race (ThreadSanitizer:
 * this test is labelled concurrency), and nothing is left over (LeakSanitizer). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/tls_trust.h"
#include "tls_test_ident.h"

#define THREADS 4
#define ROUNDS 2000
#define REPLACES 60

/* A CA named @p cn as PEM (malloc'd). */
static char *make_ca_pem(const char *cn, unsigned serial, size_t *len)
{
    ident id;
    make_ident(&id, cn, serial);
    char *p = pem_of(&id, len);
    free_ident(&id);
    return p;
}

static int no_pair(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                   const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                   gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *privkey)
{
    (void)session, (void)req_ca_rdn, (void)nreqs, (void)pk_algos, (void)pk_algos_length;
    (void)pcert, (void)pcert_length, (void)privkey;
    return -1;
}

typedef struct shared {
    ts_common__tls_trust *trust;
    atomic_bool stop;
    atomic_size_t held; /* references taken */
} shared;

static void *taker(void *arg)
{
    shared *s = arg;
    for (int i = 0; i < ROUNDS && !atomic_load(&s->stop); i++) {
        ts_common__tls_trust_ref *r = ts_common__tls_trust_acquire(s->trust);
        /* Use the credentials as a session would: their trust list is read. */
        gnutls_x509_trust_list_t tl = NULL;
        gnutls_certificate_get_trust_list(ts_common__tls_trust_cred(r), &tl);
        assert_non_null(tl);
        ts_common__tls_trust_release(r);
        atomic_fetch_add(&s->held, 1);
    }
    return NULL;
}

static void test_replace_under_threads(void **state)
{
    (void)state;
    size_t na = 0, nb = 0;
    char *a = make_ca_pem("ca-a", 1, &na), *b = make_ca_pem("ca-b", 2, &nb);
    ts_error err = {0};
    shared s = {.trust = ts_common__tls_trust_new("ca", a, na, no_pair, &err)};
    assert_non_null(s.trust);
    atomic_init(&s.stop, false);
    atomic_init(&s.held, 0);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, taker, &s), 0);
    size_t changes = 0;
    for (int k = 0; k < REPLACES; k++) {
        bool changed = false;
        assert_int_equal(
            ts_common__tls_trust_replace(s.trust, k % 2 ? a : b, k % 2 ? na : nb, &changed, &err),
            TS_OK);
        changes += changed;
        assert_int_equal(ts_common__tls_trust_count(s.trust), 1);
    }
    atomic_store(&s.stop, true);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(changes, REPLACES); /* a and b alternate: every call is a change */
    assert_true(atomic_load(&s.held) > 0);
    /* A reference taken last outlives the trust object. */
    ts_common__tls_trust_ref *r = ts_common__tls_trust_acquire(s.trust);
    ts_common__tls_trust_free(s.trust);
    assert_non_null(ts_common__tls_trust_cred(r));
    ts_common__tls_trust_release(r);
    ts_common__tls_trust_free(NULL);
    ts_common__tls_trust_release(NULL);
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replace_under_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
