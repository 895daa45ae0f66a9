/* The management API (docs/mappings.md): its own listener for the token mappings, protected by
 * tokensmith-mhd's gate (bearer tokens of this service, decided by the authz policy) and by
 * mgmt_k8s.c for Kubernetes service-account tokens of the configured providers. */
#ifndef TS_SVC_MGMT_H
#define TS_SVC_MGMT_H

#include <stdbool.h>
#include <stddef.h>

#include <microhttpd.h>

#include <tokensmith/authn.h>
#include <tokensmith/authz_http.h>
#include <tokensmith/error.h>
#include <tokensmith/hook.h>
#include <tokensmith/store_shared.h>

struct ts_svc;

/* The policy object of every mappings route, and its two actions. */
#define TS_SVC_MGMT_OBJECT "management:mappings"
/* The audience a token must carry to reach the management API. */
#define TS_SVC_MGMT_AUDIENCE "tokensmith-management"
/* The realm of the 401s' WWW-Authenticate. */
#define TS_SVC_MGMT_REALM "tokensmith-management"
/* Connections the listener takes at once, and from one address. */
#define TS_SVC_MGMT_CONNECTIONS 64u
#define TS_SVC_MGMT_PER_ADDRESS 16u
/* Retries of a write that lost the store's compare-and-set to another writer. */
#define TS_SVC_MGMT_WRITE_TRIES 5

/** Start the listener named by managementListen (non-empty). */
TS_NODISCARD ts_status ts_svc__mgmt_start(struct ts_svc *s, ts_error *err);

/** Stop the listener (no request is served after it returns) and free it. NULL-safe. */
void ts_svc__mgmt_stop(struct ts_svc *s);

/** The served JWKS may have changed (a key reload, a rotation step, another replica's keys):
 *  when the listener reads this service's keys from <home>/management-jwks.json (TLS on the
 *  main listener, or a listen address loopback cannot reach), rewrite that file if its content
 *  differs and have the gate's key source read it now. Otherwise nothing. Called from the main
 *  loop's thread only; a failure is logged and the previous keys stay. */
void ts_svc__mgmt_keys_changed(struct ts_svc *s);

/** The bound port, 0 without a listener. */
unsigned ts_svc__mgmt_port(const struct ts_svc *s);

/** Who is calling, once authenticated: the store's and the logs' actor, "<type>:<subject>"
 *  (printable ASCII without spaces), and the kind of token it came with. */
typedef struct ts_svc_mgmt_caller {
    char actor[TS_STORE_OIDC_ACTOR_MAX + 1];
    const char *kind; /* "tokensmith" (a token of this service) or "kubernetes"; static */
} ts_svc_mgmt_caller;

/** One request of the management API, after the gate let it through (mgmt_routes.c). The body
 *  is at most TS_SVC_MAP_ITEM_MAX bytes, @p too_big when more were sent. */
enum MHD_Result ts_svc__mgmt_route(struct ts_svc *s, struct MHD_Connection *conn,
                                   const char *method, const char *url, const char *body,
                                   size_t len, bool too_big, const ts_svc_mgmt_caller *who);

/* Kubernetes service-account tokens (mgmt_k8s.c) ---------------------------------------- */

typedef struct ts_svc_mgmt_k8s ts_svc_mgmt_k8s;

/** Build the Kubernetes side for the current provider configuration; a provider whose
 *  accepted_audiences holds TS_SVC_MGMT_AUDIENCE is an error (exchange tokens would open the
 *  management API). */
TS_NODISCARD ts_status ts_svc__mgmt_k8s_new(struct ts_svc *s, ts_svc_mgmt_k8s **out, ts_error *err);
/** NULL-safe; after the daemon stopped. */
void ts_svc__mgmt_k8s_free(ts_svc_mgmt_k8s *k);

/** On the access handler's first call. A request without a bearer token from a Kubernetes
 *  provider: TS_HOOK_CONTINUE with @p *mine false (the gate decides). Otherwise @p *mine is
 *  true and the token decided here: refused (401/503, the gate's body), or the account decided
 *  by @p guard (the gate's), with @p who filled for the routes. */
ts_hook_result ts_svc__mgmt_k8s_check(struct ts_svc *s, ts_svc_mgmt_k8s *k,
                                      const ts_authz_guard *guard, struct MHD_Connection *conn,
                                      const char *method, const char *url, bool *mine,
                                      ts_svc_mgmt_caller *who);

#endif
