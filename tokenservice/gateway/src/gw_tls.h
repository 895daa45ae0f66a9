/*
 * The gateway's TLS (docs/gateway.md, "TLS"): with tls_cert_file and tls_key_file set, the HTTP
 * check listener, the gRPC listener (ALPN h2) and the admin listener serve HTTPS only, with one
 * certificate chain and key for the process (common/tls_server.h). With tls_client_ca_file the
 * check listeners ask the proxy for a client certificate issued by one of those CAs
 * (tls_client_auth: require, the default, or request); the admin listener never asks.
 *
 * The pair is read again on SIGHUP and whenever its files change (looked at every
 * TS_COMMON__TLS_CHECK_S seconds): a new pair applies to the next handshake, connections open
 * keep theirs, a pair that does not load is refused and the running one kept. The client CA
 * bundle likewise (ts_gateway__tls_reload_client_cas): a handshake that starts after a reload
 * is checked against the new CAs, connections open keep the CAs they started with, a bundle
 * without a certificate is refused and the running one kept.
 *
 * Ownership: the listeners borrow the handle's options until they stopped; free it after.
 * Thread-safety: the options are read by any thread; reload from one thread (the run loop).
 */
#ifndef TS_GATEWAY_GW_TLS_H
#define TS_GATEWAY_GW_TLS_H

#include <stdbool.h>

#include <microhttpd.h>

#include <tokensmith/error.h>

#include "common/tls_conn.h"
#include "common/tls_server.h"
#include "gateway_config.h"

typedef struct ts_gateway__tls ts_gateway__tls;

/**
 * Load the pair of @p cfg (and its client CA bundle). Without tls_cert_file, *@p out is NULL
 * and the listeners stay plain.
 * @return TS_OK; the errors of ts_common__tls_new() (naming tls_cert_file / tls_key_file);
 *         TS_EIO/TS_EINVAL naming tls_client_ca_file.
 */
TS_NODISCARD ts_status ts_gateway__tls_new(const ts_gateway_config *cfg,
                                           ts_common__tls_handshake_counters *counters,
                                           ts_gateway__tls **out, ts_common__tls_info *info,
                                           ts_error *err);

/** Free @p t after every listener using it stopped. NULL-safe. */
void ts_gateway__tls_free(ts_gateway__tls *t);

/** The sessions of the HTTP check listener; NULL for NULL. */
const ts_common__tls_conn_options *ts_gateway__tls_http(const ts_gateway__tls *t);

/** The sessions of the gRPC listener (ALPN h2); NULL for NULL. */
const ts_common__tls_conn_options *ts_gateway__tls_grpc(const ts_gateway__tls *t);

/** The admin listener's extra daemon flag (MHD_USE_TLS; 0 for NULL) and options (the
 *  certificate callback and the priorities, for MHD_OPTION_ARRAY; an empty list for NULL). */
unsigned ts_gateway__tls_mhd_flags(const ts_gateway__tls *t);
const struct MHD_OptionItem *ts_gateway__tls_mhd_options(const ts_gateway__tls *t);

/** Read the pair again (@p only_if_changed: only when a file changed), as
 *  ts_common__tls_reload(). */
TS_NODISCARD ts_status ts_gateway__tls_reload(ts_gateway__tls *t, bool only_if_changed,
                                              ts_common__tls_info *info, ts_error *err);

/**
 * Read tls_client_ca_file again (with @p only_if_changed, only when its file changed since the
 * last read) and use it for handshakes from now on. Nothing to do without client CAs.
 * @param changed out: the CAs in use changed (different bytes)
 * @param count out: CA certificates in use after the call
 * @return TS_OK, or the error naming tls_client_ca_file (the running CAs are kept).
 */
TS_NODISCARD ts_status ts_gateway__tls_reload_client_cas(ts_gateway__tls *t, bool only_if_changed,
                                                         bool *changed, unsigned *count,
                                                         ts_error *err);

#endif
