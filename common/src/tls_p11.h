/* Inside the TLS server module (tls_server.c, tls_p11.c): a key in a PKCS#11 token named by a
 * pkcs11: URI, and the bounded file reading both use. Not a header for anyone else. */
#ifndef TS_COMMON_TLS_P11_H
#define TS_COMMON_TLS_P11_H

#include <stdbool.h>
#include <stddef.h>

#include <gnutls/abstract.h>

#include <tokensmith/error.h>

/** A token's user PIN, kept while its key is in use (GnuTLS asks again when it logs in anew);
 *  wiped when freed. */
typedef struct ts_common__tls_p11_pin ts_common__tls_p11_pin;

void ts_common__tls_p11_pin_free(ts_common__tls_p11_pin *pin);

/**
 * Open the private key named by @p uri (pkcs11:PATH?module-path=M&pin-source=file:F|env:NAME)
 * into @p key (initialised, empty): the module loaded once per process, the PIN read and kept in
 * *@p pin for the key's logins. Errors name @p setting; never show the PIN.
 */
TS_NODISCARD ts_status ts_common__tls_p11_import(gnutls_privkey_t key, const char *uri,
                                                 bool allow_insecure, const char *setting,
                                                 ts_common__tls_p11_pin **pin, ts_error *err);

/** Read a regular file of at most @p max bytes into *@p out (malloc'd; *@p len bytes); with
 *  @p is_key, refused when group or others may use it unless @p allow_insecure. Errors name
 *  @p setting. */
TS_NODISCARD ts_status ts_common__tls_read_file(const char *path, const char *setting, size_t max,
                                                bool is_key, bool allow_insecure, char **out,
                                                size_t *len, ts_error *err);

#endif
