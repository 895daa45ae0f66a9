/*
 * The gateway's gRPC listener (docs/gateway.md, "gRPC: Envoy and Istio"):
 * envoy.service.auth.v3.Authorization/Check over HTTP/2: h2c with prior knowledge (what Envoy's
 * grpc_service cluster and grpc-js insecure channels speak), or over TLS with ALPN h2, on nghttp2
 * with the gateway's own gRPC framing (grpc.h). Each call's CheckRequest becomes a
 * ts_gateway__input for the checker, run on a bounded pool of worker threads; the verdict goes back
 * as a CheckResponse. Call status OK for allow and deny; INVALID_ARGUMENT for an undecodable
 * message, RESOURCE_EXHAUSTED for one over limits.grpc_max_message_bytes or a full queue,
 * DEADLINE_EXCEEDED when grpc-timeout (else limits.request_timeout) passes, UNAVAILABLE when
 * the checker cannot decide, UNIMPLEMENTED for another method. Bounded: connections, streams
 * per connection, header bytes, message size, idle connections.
 *
 * Ownership: the server borrows @p cfg and the checker's data until ts_gateway__grpc_server_stop().
 * Thread-safety: the checker is called from the worker threads, several at once.
 */
#ifndef TS_GATEWAY_GRPC_SERVER_H
#define TS_GATEWAY_GRPC_SERVER_H

#include <stdint.h>

#include <tokensmith/error.h>

#include "common/tls_conn.h"
#include "gateway_config.h"
#include "gw_internal.h"

typedef struct ts_gateway__grpc_server ts_gateway__grpc_server;

/** Listen on cfg->grpc_listen (port 0: any free port) with cfg->threads workers.
 *  @return NULL with @p err. */
ts_gateway__grpc_server *ts_gateway__grpc_server_start(const ts_gateway_config *cfg,
                                                       ts_gateway__checker checker, ts_error *err);

/** The same over TLS only (ALPN h2): each connection's session made with @p tls (borrowed until
 *  the stop; NULL: h2c, as ts_gateway__grpc_server_start()). */
ts_gateway__grpc_server *ts_gateway__grpc_server_start_tls(const ts_gateway_config *cfg,
                                                           ts_gateway__checker checker,
                                                           const ts_common__tls_conn_options *tls,
                                                           ts_error *err);

/** The port it listens on. */
uint16_t ts_gateway__grpc_server_port(const ts_gateway__grpc_server *s);

/** Stop: GOAWAY to every connection, answer or cancel the calls in flight, join, free.
 *  NULL-safe. */
void ts_gateway__grpc_server_stop(ts_gateway__grpc_server *s);

#endif
