/*
 * The client-certificate trust of a TLS listener that can be replaced while connections run: a
 * CA bundle on a GnuTLS credentials object that also serves the server's certificate pair
 * through a retrieve function (ts_common__tls_cert_callback: the process's current pair, so a
 * pair reload needs nothing here). Each connection
 * takes a reference to the credentials current when it starts and keeps them until it is freed,
 * whatever replaces them meanwhile: a handshake never sees its trust change under it, and old
 * credentials go when their last connection does.
 * Thread-safety: every function may be called from any thread; _replace() and _free() by one
 * owner. Private to tokensmith.
 */
#ifndef TS_COMMON_TLS_TRUST_H
#define TS_COMMON_TLS_TRUST_H

#include <stdbool.h>
#include <stddef.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

#include <tokensmith/error.h>

typedef struct ts_common__tls_trust ts_common__tls_trust;
/** One generation of the credentials, held by a connection. */
typedef struct ts_common__tls_trust_ref ts_common__tls_trust_ref;

/**
 * Credentials whose trust is the PEM bundle @p ca_pem (at least one certificate) and whose
 * own certificate comes from @p retrieve. @p setting names the bundle in errors
 * ("tls_client_ca_file").
 * @return NULL with @p err: TS_EINVAL (no PEM certificate), TS_ENOMEM.
 */
TS_NODISCARD ts_common__tls_trust *
ts_common__tls_trust_new(const char *setting, const char *ca_pem, size_t len,
                         gnutls_certificate_retrieve_function2 *retrieve, ts_error *err);

/**
 * Make @p ca_pem the trust of connections that start from now on. The same bytes as the current
 * bundle change nothing (*@p changed false). A bundle without a certificate is refused and the
 * current one kept. @return TS_OK, TS_EINVAL, TS_ENOMEM.
 */
TS_NODISCARD ts_status ts_common__tls_trust_replace(ts_common__tls_trust *t, const char *ca_pem,
                                                    size_t len, bool *changed, ts_error *err);

/** The number of CA certificates in the current bundle. */
unsigned ts_common__tls_trust_count(ts_common__tls_trust *t);

/** Free @p t; credentials still held by connections go with their last reference. NULL-safe. */
void ts_common__tls_trust_free(ts_common__tls_trust *t);

/** A reference to the current credentials (never NULL); release it with _release(). */
ts_common__tls_trust_ref *ts_common__tls_trust_acquire(ts_common__tls_trust *t);
gnutls_certificate_credentials_t ts_common__tls_trust_cred(const ts_common__tls_trust_ref *r);
/** NULL-safe. */
void ts_common__tls_trust_release(ts_common__tls_trust_ref *r);

#endif
