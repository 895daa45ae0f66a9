/* The server side of TLS for every listener of tokensmith: a certificate chain and its key read
 * from PEM files (the key may also be a PKCS#11 URI), checked, handed to each handshake, and
 * replaced at run time (SIGHUP, or the files changing) without touching open connections. Used
 * through libmicrohttpd's certificate callback and by servers that run their own GnuTLS
 * sessions. Needs GnuTLS only (link ts_base_tls); private to tokensmith. */
#ifndef TS_COMMON_TLS_SERVER_H
#define TS_COMMON_TLS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

#include <tokensmith/error.h>

/* How often a run loop looks at the files (device, inode, size, modification time): a
 * cert-manager or ACME rotation is in use within this many seconds. */
#define TS_COMMON__TLS_CHECK_S 10

/* Largest files read: a chain of a few certificates, one key. */
#define TS_COMMON__TLS_MAX_CHAIN_BYTES (256u * 1024u)
#define TS_COMMON__TLS_MAX_KEY_BYTES (64u * 1024u)
#define TS_COMMON__TLS_MAX_CHAIN 16 /**< certificates in the chain file at most */

/*
 * TLS 1.2 and 1.3 only; AEAD ciphers with forward secrecy (ECDHE) only; the server's order of
 * preference wins. No CBC, no RSA key exchange, no static DH.
 */
#define TS_COMMON__TLS_PRIORITIES                                                                  \
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"            \
    "+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:%SERVER_PRECEDENCE"

/** The certificate and key in use, opaque. */
typedef struct ts_common__tls ts_common__tls;

/** What a load or reload found, for the log (no key material). */
typedef struct ts_common__tls_info {
    bool read;         /**< reload: the files were read (false: nothing changed on disk) */
    bool changed;      /**< reload: a new pair is in use from now on */
    unsigned chain;    /**< certificates in the chain file */
    char serial[68];   /**< the leaf's serial number, hex */
    char subject[256]; /**< the leaf's subject DN (truncated) */
    int64_t not_after; /**< the leaf's expiry, Unix time */
    char key_type[16]; /**< RSA, ECDSA, EdDSA (Ed25519), ... */
} ts_common__tls_info;

/**
 * Read @p cert_file (a PEM chain, leaf first) and @p key_file (a PEM private key, unencrypted;
 * or a PKCS#11 URI, below) and check them: both readable, regular files; the key file not
 * readable or writable by group or others unless @p allow_insecure; the chain in order; the key
 * the leaf's. Errors name the settings (@p cert_setting, @p key_setting: "tlsCertFile" or
 * "tls_cert_file", as the caller's configuration spells them) and never show key material.
 *
 * A key "pkcs11:token=T;object=K[;type=private]?module-path=M&pin-source=file:F" (or
 * pin-source=env:NAME; RFC 7512, as the signing key's pkcs11: URI) is a key inside a PKCS#11
 * token: the module M is loaded by GnuTLS (gnutls_pkcs11_add_provider) and the key opened with
 * gnutls_privkey_import_url(), logged in with the PIN read from F (mode 0600 unless
 * @p allow_insecure) or the variable NAME. A PIN in the URI itself (pin-value) is refused: the
 * setting is shown by --print-config and in process listings.
 *
 * libmicrohttpd's certificate callback and GnuTLS's retrieve function take no closure
 * argument, so the handle is also the process's: one at a time (a second while one is open is
 * TS_EUNSUPPORTED), shared by every listener of the process.
 */
TS_NODISCARD ts_common__tls *ts_common__tls_new(const char *cert_file, const char *key_file,
                                                bool allow_insecure, const char *cert_setting,
                                                const char *key_setting, ts_common__tls_info *info,
                                                ts_error *err);

/** Free @p t and every pair it kept. Only after the servers using it stopped. NULL is a no-op. */
void ts_common__tls_free(ts_common__tls *t);

/**
 * Ask every client for a certificate (mTLS): the CA bundle @p ca_pem (PEM, @p len bytes; copied)
 * becomes the trust of ts_common__tls_credentials() and is handed to libmicrohttpd as its trust
 * (ts_common__tls_client_trust()), which makes the server send a CertificateRequest naming those
 * CAs in each handshake. Whether a certificate is required, and what it must be, is the
 * caller's. Before the servers start; once.
 * @return TS_OK, TS_EINVAL (empty, already set, not PEM certificates), TS_ENOMEM.
 */
TS_NODISCARD ts_status ts_common__tls_request_client_certs(ts_common__tls *t, const char *ca_pem,
                                                           size_t len, ts_error *err);

/** The client CA bundle given to ts_common__tls_request_client_certs() (NUL-terminated), or
 *  NULL. Borrowed: valid as long as @p t. */
const char *ts_common__tls_client_trust(const ts_common__tls *t);

/** Describe the pair @p t serves now into @p info (read and changed false).
 *  @return TS_OK; TS_EINVAL when @p t is not the process's open handle. */
ts_status ts_common__tls_current(const ts_common__tls *t, ts_common__tls_info *info);

/**
 * Read the files again. With @p only_if_changed, nothing is read unless a file's identity or
 * size or time changed since the last look (and a pair that failed is not retried until one
 * changes again; a PKCS#11 key is opened again whenever the certificate file changes). A new
 * pair is checked as by ts_common__tls_new() before it replaces the current one; on failure the
 * current one stays. The same content as the current pair changes nothing. One thread at a time
 * (a run loop); handshakes may run meanwhile, and one that already has the old pair keeps it.
 * @return TS_OK (info->read says whether the files were read, info->changed whether a new pair
 *         is in use), or the reason the new pair was refused.
 */
TS_NODISCARD ts_status ts_common__tls_reload(ts_common__tls *t, bool only_if_changed,
                                             ts_common__tls_info *info, ts_error *err);

/**
 * GnuTLS's certificate retrieve function (gnutls_certificate_retrieve_function2): the current
 * pair of the process's handle. For libmicrohttpd's MHD_OPTION_HTTPS_CERT_CALLBACK.
 * @return 0, or -1 when no handle is open.
 */
int ts_common__tls_cert_callback(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn,
                                 int nreqs, const gnutls_pk_algorithm_t *pk_algos,
                                 int pk_algos_length, gnutls_pcert_st **pcert,
                                 unsigned int *pcert_length, gnutls_privkey_t *privkey);

/**
 * For servers that run GnuTLS sessions themselves: a credentials object owned by @p t whose
 * retrieve function is ts_common__tls_cert_callback() (so a reload applies to the next
 * handshake) and whose trust is the client CA bundle once ts_common__tls_request_client_certs()
 * set one (the session still asks with gnutls_certificate_server_set_request()). Borrowed:
 * valid as long as @p t; NULL for NULL.
 */
gnutls_certificate_credentials_t ts_common__tls_credentials(const ts_common__tls *t);

/** The priority cache of TS_COMMON__TLS_PRIORITIES, for gnutls_priority_set(). Borrowed: valid
 *  as long as @p t; NULL for NULL. */
gnutls_priority_t ts_common__tls_priority(const ts_common__tls *t);

/**
 * Let @p session (a server session, before its handshake) issue session tickets and resume
 * sessions from them (TLS 1.3 PSK resumption with ECDHE, TLS 1.2 RFC 5077): a returning client
 * then skips the certificate signature and the key exchange's verification. The ticket keys
 * are @p t's, shared by every listener of the process, derived from a random per-process key.
 * A resumed session keeps the client certificate of the session it resumes.
 * @return TS_OK; TS_EINVAL (NULL); TS_EINTERNAL (GnuTLS refused).
 */
ts_status ts_common__tls_enable_tickets(const ts_common__tls *t, gnutls_session_t session);

/** The master key of ts_common__tls_enable_tickets(), for ts_common__tls_conn_options's
 *  `ticket_key`. Borrowed: valid as long as @p t; NULL for NULL. */
const gnutls_datum_t *ts_common__tls_ticket_key(const ts_common__tls *t);

/** Whether @p key_file names a PKCS#11 key ("pkcs11:..."). */
bool ts_common__tls_key_is_pkcs11(const char *key_file);

#endif
