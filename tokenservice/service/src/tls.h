/* Native TLS of the service's main listener: libmicrohttpd built with GnuTLS serves HTTPS with a
 * certificate chain and key read from PEM files, checked, and replaced at run time (SIGHUP, or
 * the files changing) without restarting the listener or touching open connections. */
#ifndef TS_SVC_TLS_H
#define TS_SVC_TLS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include <tokensmith/error.h>

/* How often the run loop looks at the files (device, inode, size, modification time): a
 * cert-manager or ACME rotation is in use within this many seconds. */
#define TS_SVC_TLS_CHECK_S 10

/* Largest files read: a chain of a few certificates, one key. */
#define TS_SVC_TLS_MAX_CHAIN_BYTES (256u * 1024u)
#define TS_SVC_TLS_MAX_KEY_BYTES (64u * 1024u)
#define TS_SVC_TLS_MAX_CHAIN 16 /**< certificates in the chain file at most */

/*
 * TLS 1.2 and 1.3 only; AEAD ciphers with forward secrecy (ECDHE) only; the server's order of
 * preference wins. No CBC, no RSA key exchange, no static DH.
 */
#define TS_SVC_TLS_PRIORITIES                                                                      \
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"            \
    "+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:%SERVER_PRECEDENCE"

/** The certificate and key in use, opaque. */
typedef struct ts_svc_tls ts_svc_tls;

/** What a load or reload found, for the log (no key material). */
typedef struct ts_svc_tls_info {
    bool read;         /**< reload: the files were read (false: nothing changed on disk) */
    bool changed;      /**< reload: a new pair is in use from now on */
    unsigned chain;    /**< certificates in the chain file */
    char serial[68];   /**< the leaf's serial number, hex */
    char subject[256]; /**< the leaf's subject DN (truncated) */
    int64_t not_after; /**< the leaf's expiry, Unix time */
    char key_type[16]; /**< RSA, ECDSA, EdDSA (Ed25519), ... */
} ts_svc_tls_info;

/**
 * Read @p cert_file (a PEM chain, leaf first) and @p key_file (a PEM private key, unencrypted)
 * and check them: both readable, regular files; the key file not readable or writable by
 * group or others unless @p allow_insecure; the chain in order; the key the leaf's. Errors name
 * the setting (tlsCertFile, tlsKeyFile) and never show key material.
 *
 * libmicrohttpd's certificate callback takes no closure argument, so the handle is also the
 * process's: one at a time (a second while one is open is TS_EUNSUPPORTED).
 */
TS_NODISCARD ts_svc_tls *ts_svc_tls_new(const char *cert_file, const char *key_file,
                                        bool allow_insecure, ts_svc_tls_info *info, ts_error *err);

/** Free @p t and every pair it kept. Only after the daemons using it stopped. NULL is a no-op. */
void ts_svc_tls_free(ts_svc_tls *t);

/**
 * Ask every client for a certificate (mTLS): the CA bundle @p ca_pem (PEM, @p len bytes; copied)
 * is handed to libmicrohttpd as its trust, which makes it send a CertificateRequest naming those
 * CAs in each handshake. A client without a certificate still completes the handshake, and one
 * with a certificate of any issuer too: checking what was presented is the caller's
 * (mtls.c), at the one endpoint that wants it. Before the daemon starts; once.
 * @return TS_OK, TS_EINVAL (empty, already set), TS_ENOMEM.
 */
TS_NODISCARD ts_status ts_svc_tls_request_client_certs(ts_svc_tls *t, const char *ca_pem,
                                                       size_t len, ts_error *err);

/** Describe the pair @p t serves now into @p info (read and changed false).
 *  @return TS_OK; TS_EINVAL when @p t is not the process's open handle. */
ts_status ts_svc_tls_current(const ts_svc_tls *t, ts_svc_tls_info *info);

/** The daemon flag to add (MHD_USE_TLS), 0 for NULL. */
unsigned ts_svc_tls_mhd_flags(const ts_svc_tls *t);

/**
 * The libmicrohttpd options of a TLS listener (the certificate callback, the priorities), for
 * MHD_OPTION_ARRAY; for NULL an empty list. Valid as long as @p t.
 */
const struct MHD_OptionItem *ts_svc_tls_mhd_options(const ts_svc_tls *t);

/**
 * Read the files again. With @p only_if_changed, nothing is read unless a file's identity or
 * size or time changed since the last look (and a pair that failed is not retried until one
 * changes again). A new pair is checked as by ts_svc_tls_new() before it replaces the current
 * one; on failure the current one stays. The same content as the current pair changes nothing.
 * One thread at a time (the run loop); handshakes may run meanwhile.
 * @return TS_OK (info->read says whether the files were read, info->changed whether a new pair
 *         is in use), or the reason the new pair was refused.
 */
TS_NODISCARD ts_status ts_svc_tls_reload(ts_svc_tls *t, bool only_if_changed, ts_svc_tls_info *info,
                                         ts_error *err);

/* ------------------------------------------------------------------------------------------ */
/* The service's side (tls_svc.c): the main listener's pair, its log lines                    */

struct ts_svc;

/** With tlsCertFile set, open the pair for @p s (ts_svc_tls_new()); otherwise nothing. */
TS_NODISCARD ts_status ts_svc__tls_start(struct ts_svc *s, ts_error *err);
/** Whether @p s serves HTTPS. */
bool ts_svc__tls_on(const struct ts_svc *s);
/** The main daemon's extra flag and options (none without TLS). */
unsigned ts_svc__tls_flags(const struct ts_svc *s);
const struct MHD_OptionItem *ts_svc__tls_options(const struct ts_svc *s);
/** "tls" and, with TLS, the leaf's serial, subject, expiry, key type and chain length. */
void ts_svc__tls_log_fields(const struct ts_svc *s, json_t *fields);
/** SIGHUP (@p forced) or a periodic look at the files; logs a reload or a refusal. */
void ts_svc__tls_reload(struct ts_svc *s, bool forced);
/** Free the pair; after the daemon stopped. */
void ts_svc__tls_stop(struct ts_svc *s);

#endif
