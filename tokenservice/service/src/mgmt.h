/* The management API (docs/mappings.md): its own listener for the token mappings, protected by
 * tokensmith-mhd's gate (bearer tokens of this service, decided by the authz policy). */
#ifndef TS_SVC_MGMT_H
#define TS_SVC_MGMT_H

#include <stdbool.h>
#include <stddef.h>

#include <microhttpd.h>

#include <tokensmith/authn.h>
#include <tokensmith/error.h>

struct ts_svc;

/* The policy object of every mappings route, and its two actions. */
#define TS_SVC_MGMT_OBJECT "management:mappings"
/* The audience a token must carry to reach the management API. */
#define TS_SVC_MGMT_AUDIENCE "tokensmith-management"
/* Connections the listener takes at once, and from one address. */
#define TS_SVC_MGMT_CONNECTIONS 64u
#define TS_SVC_MGMT_PER_ADDRESS 16u
/* Retries of a write that lost the store's compare-and-set to another writer. */
#define TS_SVC_MGMT_WRITE_TRIES 5

/** Start the listener named by managementListen (non-empty). */
TS_NODISCARD ts_status ts_svc__mgmt_start(struct ts_svc *s, ts_error *err);

/** Stop the listener (no request is served after it returns) and free it. NULL-safe. */
void ts_svc__mgmt_stop(struct ts_svc *s);

/** The bound port, 0 without a listener. */
unsigned ts_svc__mgmt_port(const struct ts_svc *s);

/** One request of the management API, after the gate let it through (mgmt_routes.c). The body
 *  is at most TS_SVC_MAP_ITEM_MAX bytes, @p too_big when more were sent. */
enum MHD_Result ts_svc__mgmt_route(struct ts_svc *s, struct MHD_Connection *conn,
                                   const char *method, const char *url, const char *body,
                                   size_t len, bool too_big, const ts_authn_principal *who);

#endif
