/* Native TLS of the service's listeners: libmicrohttpd built with GnuTLS serves HTTPS with a
 * certificate chain and key read from PEM files (or a key in a PKCS#11 token), checked, and
 * replaced at run time (SIGHUP, or the files changing) without restarting a listener or touching
 * open connections. */
#ifndef TS_SVC_TLS_H
#define TS_SVC_TLS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include <tokensmith/error.h>
#include <tokensmith/mhd.h>

#include "common/tls_server.h"

/* How often the run loop looks at the files: a rotation is in use within this many seconds. */
#define TS_SVC_TLS_CHECK_S TS_COMMON__TLS_CHECK_S

/* The pair module itself is common/tls_server.h, shared with the gateway and the agent; this is
 * its libmicrohttpd side (tls_mhd.c): the daemon flag and options of each listener. */

/** The certificate and key in use, with the options of the listeners, opaque. */
typedef struct ts_svc_tls ts_svc_tls;

/** What a load or reload found, for the log (no key material). */
typedef ts_common__tls_info ts_svc_tls_info;

/**
 * ts_common__tls_new() for the service's settings (tlsCertFile, tlsKeyFile, whose errors name
 * them), after checking that this libmicrohttpd serves TLS with a certificate callback. One per
 * process (the callback has no closure): every listener of the process serves this pair.
 */
TS_NODISCARD ts_svc_tls *ts_svc_tls_new(const char *cert_file, const char *key_file,
                                        bool allow_insecure, ts_svc_tls_info *info, ts_error *err);

/** Free @p t and every pair it kept. Only after the daemons using it stopped. NULL is a no-op. */
void ts_svc_tls_free(ts_svc_tls *t);

/**
 * Ask every client of the main listener for a certificate (mTLS): the CA bundle @p ca_pem (PEM,
 * @p len bytes; copied) is handed to libmicrohttpd as its trust, which makes it send a
 * CertificateRequest naming those CAs in each handshake. A client without a certificate still
 * completes the handshake, and one with a certificate of any issuer too: checking what was
 * presented is the caller's (mtls.c), at the one endpoint that wants it. The other listeners
 * (ts_svc_tls_mhd_options_plain()) ask for none. Before the daemons start; once.
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
 * The libmicrohttpd options of the main listener (the certificate callback, the priorities, the
 * client CA bundle when asked for), for MHD_OPTION_ARRAY; for NULL an empty list. Valid as long
 * as @p t.
 */
const struct MHD_OptionItem *ts_svc_tls_mhd_options(const ts_svc_tls *t);

/** The same without the client CA bundle: the management, metrics and admin listeners. */
const struct MHD_OptionItem *ts_svc_tls_mhd_options_plain(const ts_svc_tls *t);

/** How the TLS handshakes of the listeners ended, counted when each connection closed. */
typedef struct ts_svc_tls_handshake_stats {
    uint64_t completed; /**< the client's Finished was read */
    uint64_t failed;    /**< closed before that: garbage, plain HTTP, refused, timed out, left */
    uint64_t resumed;   /**< of the completed, those that resumed a session (a ticket) */
} ts_svc_tls_handshake_stats;

/** The counts so far into @p out (zeros for NULL: no TLS). */
void ts_svc_tls_handshakes(const ts_svc_tls *t, ts_svc_tls_handshake_stats *out);

/** ts_common__tls_reload() of the pair. */
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
/** The service's other listeners. */
typedef enum ts_svc_listener {
    TS_SVC_LISTENER_MANAGEMENT, /**< managementListen: HTTPS whenever the main listener is */
    TS_SVC_LISTENER_METRICS,    /**< metricsListen: likewise */
    TS_SVC_LISTENER_ADMIN,      /**< adminListen: HTTPS only with adminTls */
} ts_svc_listener;
/** The flag and options of listener @p which: the pair without client certificates, or none
 *  (plain HTTP). */
unsigned ts_svc__tls_listener_flags(const struct ts_svc *s, ts_svc_listener which);
const struct MHD_OptionItem *ts_svc__tls_listener_options(const struct ts_svc *s,
                                                          ts_svc_listener which);
/** Session tickets (resumption) on the TLS connections @p l admits, through its connection
 *  callback, before each handshake; and at each one's close, its handshake counted
 *  (ts_svc_tls_handshakes()). Nothing for NULL. Before the daemon starts. */
void ts_svc_tls_mhd_tickets(ts_svc_tls *t, ts_mhd_limits *l);
/** ts_svc_tls_mhd_tickets() for a listener started with @p flags, when they include TLS. */
void ts_svc__tls_tickets(const struct ts_svc *s, unsigned flags, ts_mhd_limits *l);
/** "tls" and, with TLS, the leaf's serial, subject, expiry, key type and chain length. */
void ts_svc__tls_log_fields(const struct ts_svc *s, json_t *fields);
/** SIGHUP (@p forced) or a periodic look at the files (the pair's, and with mTLS service
 *  identity the CA bundle's and CRLs'); logs a reload or a refusal of each. */
void ts_svc__tls_reload(struct ts_svc *s, bool forced);
/** Free the pair; after the daemon stopped. */
void ts_svc__tls_stop(struct ts_svc *s);

#endif
