/*
 * The gateway's admin listener (docs/gateway.md, "Configuration"): GET or HEAD /health
 * (200 {"status":"ok"}), /metrics (Prometheus text) and /.well-known/jwks.json (the keys that
 * sign translated tokens); any other path 404, any other method 405. On libmicrohttpd with
 * tokensmith-mhd's limits (connections, head deadline, framing), like the token service's
 * listeners. What it serves comes from a source of two callbacks, so that it can be tested
 * without a decision core (run.c passes the core's).
 *
 * Ownership: the listener borrows @p src's data until ts_gateway__admin_stop().
 * Thread-safety: the callbacks are called from the listener's thread.
 */
#ifndef TS_GATEWAY_ADMIN_H
#define TS_GATEWAY_ADMIN_H

#include <stdint.h>

#include <tokensmith/authz_http.h>
#include <tokensmith/error.h>

#include "common/secbuf.h"
#include "gw_tls.h"

typedef struct ts_gateway__admin ts_gateway__admin;

typedef struct ts_gateway__admin_source {
    /** Append the Prometheus text of the metrics to @p out. */
    void (*metrics)(void *ud, ts_common__secbuf *out);
    /** Append the JWKS to @p out. @return TS_OK, or an error (answered 503). */
    ts_status (*jwks)(void *ud, ts_common__secbuf *out, ts_error *err);
    void *ud;
    /** The guard whose state GET /authz/diagnostics shows (policy_version, mode, source, load
     *  time); NULL: no such route. */
    const ts_authz_guard *guard;
} ts_gateway__admin_source;

/** Listen on @p listen (HOST:PORT; port 0: any free port). @return NULL with @p err. */
ts_gateway__admin *ts_gateway__admin_start(const char *listen, ts_gateway__admin_source src,
                                           ts_error *err);

/** The same serving HTTPS only with the process's pair in @p tls (borrowed until the stop;
 *  NULL: plain HTTP, as ts_gateway__admin_start()). */
ts_gateway__admin *ts_gateway__admin_start_tls(const char *listen, ts_gateway__admin_source src,
                                               const ts_gateway__tls *tls, ts_error *err);

/** The port it listens on. */
uint16_t ts_gateway__admin_port(const ts_gateway__admin *a);

/** Stop and free. NULL-safe. */
void ts_gateway__admin_stop(ts_gateway__admin *a);

#endif
