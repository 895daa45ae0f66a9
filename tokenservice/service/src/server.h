/* The token service: HTTP server, routes and grants. */
#ifndef TS_SVC_SERVER_H
#define TS_SVC_SERVER_H

#include <stdint.h>

#include "config.h"

typedef struct ts_svc ts_svc;

/**
 * Open the keys and the store named by @p c (which must have passed ts_svc_config_finish())
 * and start listening. Signals: the caller must have blocked SIGTERM and SIGINT in every
 * thread before this call (ts_svc_run() waits for them).
 * Ownership: free with ts_svc_free().
 */
TS_NODISCARD ts_svc *ts_svc_start(const ts_svc_config *c, ts_error *err);

/** The bound port (useful with port 0). */
uint16_t ts_svc_port(const ts_svc *s);

/**
 * Serve until SIGTERM or SIGINT, collecting expired store records every minute and reloading
 * the upstream provider configuration on SIGHUP (blocked by ts_svc_start()); then stop
 * accepting, let requests in flight finish (at most 10 s; idle keep-alive connections do not
 * count) and return.
 */
void ts_svc_run(ts_svc *s);

/** Stop (if still running) and release everything. NULL-safe. */
void ts_svc_free(ts_svc *s);

#endif
