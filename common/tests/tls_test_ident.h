/* Self-signed P-256 identities for the TLS tests of the base layer (GnuTLS): a certificate
 * that is its own CA, valid from a minute ago for an hour, named CN and DNS:localhost. Include
 * after <cmocka.h>. */
#ifndef TS_TLS_TEST_IDENT_H
#define TS_TLS_TEST_IDENT_H

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

/* A self-signed certificate and its key. */
typedef struct ident {
    gnutls_x509_crt_t crt;
    gnutls_x509_privkey_t key;
} ident;

static inline void make_ident(ident *id, const char *cn, unsigned serial)
{
    assert_int_equal(gnutls_x509_privkey_init(&id->key), 0);
    assert_int_equal(gnutls_x509_privkey_generate(id->key, GNUTLS_PK_ECDSA,
                                                  GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
                                                  0),
                     0);
    assert_int_equal(gnutls_x509_crt_init(&id->crt), 0);
    assert_int_equal(gnutls_x509_crt_set_version(id->crt, 3), 0);
    unsigned char sn[4] = {0, 0, (unsigned char)(serial >> 8), (unsigned char)serial};
    assert_int_equal(gnutls_x509_crt_set_serial(id->crt, sn, sizeof sn), 0);
    time_t now = time(NULL);
    assert_int_equal(gnutls_x509_crt_set_activation_time(id->crt, now - 60), 0);
    assert_int_equal(gnutls_x509_crt_set_expiration_time(id->crt, now + 3600), 0);
    assert_int_equal(gnutls_x509_crt_set_dn_by_oid(id->crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
                                                   (unsigned)strlen(cn)),
                     0);
    assert_int_equal(gnutls_x509_crt_set_subject_alt_name(id->crt, GNUTLS_SAN_DNSNAME, "localhost",
                                                          9, GNUTLS_FSAN_SET),
                     0);
    assert_int_equal(gnutls_x509_crt_set_key(id->crt, id->key), 0);
    /* A CA too, so that the client's certificate can be its own trust anchor. */
    assert_int_equal(gnutls_x509_crt_set_basic_constraints(id->crt, 1, -1), 0);
    assert_int_equal(gnutls_x509_crt_set_key_usage(id->crt, GNUTLS_KEY_DIGITAL_SIGNATURE |
                                                                GNUTLS_KEY_KEY_CERT_SIGN),
                     0);
    assert_int_equal(gnutls_x509_crt_sign2(id->crt, id->crt, id->key, GNUTLS_DIG_SHA256, 0), 0);
}

/* The deinit of make_ident(). */
static inline void free_ident(ident *id)
{
    gnutls_x509_crt_deinit(id->crt);
    gnutls_x509_privkey_deinit(id->key);
}

/* The certificate of @p id as PEM (malloc'd, *@p len bytes). */
static inline char *pem_of(const ident *id, size_t *len)
{
    gnutls_datum_t d;
    assert_int_equal(gnutls_x509_crt_export2(id->crt, GNUTLS_X509_FMT_PEM, &d), 0);
    char *p = malloc(d.size);
    assert_non_null(p);
    memcpy(p, d.data, d.size);
    *len = d.size;
    gnutls_free(d.data);
    return p;
}

#endif
