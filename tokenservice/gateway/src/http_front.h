/*
 * The gateway's HTTP check listener (docs/gateway.md, "HTTP: Envoy, Istio and nginx"): Envoy's
 * ext_authz http_service and Istio's envoyExtAuthzHttp (a catch-all under http.prefix: the
 * original method as received, path = check path minus the prefix, Host as sent), and nginx's
 * auth_request (the original request in http.original_uri_header / original_method_header).
 * It turns each request into a ts_gateway__input, asks its checker and answers: allow exactly
 * 200 with the verdict's headers and an empty body; deny 400/401/403 with the verdict's headers
 * and body; cannot decide 503 with Retry-After. Bounded: connections, head size and header
 * count (limits.*), head and body deadlines, a body is read and ignored up to 64 KiB.
 *
 * Ownership: the front borrows @p cfg and the checker's data until ts_gateway__http_front_stop().
 * Thread-safety: the checker is called from the front's threads, several at once.
 */
#ifndef TS_GATEWAY_HTTP_FRONT_H
#define TS_GATEWAY_HTTP_FRONT_H

#include <stdint.h>

#include <tokensmith/error.h>

#include "common/tls_conn.h"
#include "gateway_config.h"
#include "gw_internal.h"

typedef struct ts_gateway__http_front ts_gateway__http_front;

/** Listen on cfg->listen (port 0: any free port) and serve until stopped.
 *  @return NULL with @p err (cannot bind, bad address). */
ts_gateway__http_front *ts_gateway__http_front_start(const ts_gateway_config *cfg,
                                                     ts_gateway__checker checker, ts_error *err);

/** The same serving HTTPS only: each connection's TLS session made with @p tls (borrowed until
 *  the stop; NULL: plain HTTP, as ts_gateway__http_front_start()). */
ts_gateway__http_front *ts_gateway__http_front_start_tls(const ts_gateway_config *cfg,
                                                         ts_gateway__checker checker,
                                                         const ts_common__tls_conn_options *tls,
                                                         ts_error *err);

/** The port it listens on (the bound one when cfg->listen asked for 0). */
uint16_t ts_gateway__http_front_port(const ts_gateway__http_front *f);

/** Stop and free, draining: new connections are refused at once, the checks in flight are
 *  answered (with Connection: close) and waited for, at most limits.request_timeout + 1 s,
 *  then the remaining connections are closed. Returns once the listener's threads are gone.
 *  NULL-safe. */
void ts_gateway__http_front_stop(ts_gateway__http_front *f);

#endif
