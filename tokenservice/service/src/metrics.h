/* The service's Prometheus metrics: the counters the request path bumps (metrics.c), the text
 * of GET /metrics, and the listener that serves it alone when metricsListen is set
 * (metrics_listener.c). Every label value comes from a fixed table below: no token, client id,
 * subject, path or address ever becomes a label, so the series stay few and reveal nothing. */
#ifndef TS_SVC_METRICS_H
#define TS_SVC_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tokensmith/error.h>

#include "common/secbuf.h"

struct ts_svc;

/* The endpoint label: what the router recognised (TS_SVC_EP_OTHER: no route, 404/400). */
typedef enum ts_svc_ep {
    TS_SVC_EP_OTHER = 0,
    TS_SVC_EP_TOKEN,
    TS_SVC_EP_REVOKE,
    TS_SVC_EP_INTROSPECT,
    TS_SVC_EP_REVOCATIONS,
    TS_SVC_EP_JWKS,
    TS_SVC_EP_METADATA,
    TS_SVC_EP_HEALTH,
    TS_SVC_EP_METRICS,
    TS_SVC_EP_ADMIN,
    TS_SVC_EP_SERVICE_IDENTITY,
    TS_SVC_EP_COUNT
} ts_svc_ep;

/* The grant label of POST /oauth/token: set as soon as the request says which grant it is. */
typedef enum ts_svc_grant_kind {
    TS_SVC_GK_OTHER = 0, /* grant_type missing or unsupported, or refused before it was read */
    TS_SVC_GK_BOOTSTRAP, /* token exchange of a bootstrap token */
    TS_SVC_GK_UPSTREAM,  /* token exchange of an upstream (OIDC, Kubernetes) token */
    TS_SVC_GK_REFRESH,   /* refresh_token */
    TS_SVC_GK_COUNT
} ts_svc_grant_kind;

/* The result label of a grant: "ok" or the OAuth error code of the answer. */
typedef enum ts_svc_grant_result {
    TS_SVC_GR_OK = 0,
    TS_SVC_GR_INVALID_REQUEST,
    TS_SVC_GR_INVALID_CLIENT,
    TS_SVC_GR_INVALID_GRANT,
    TS_SVC_GR_INVALID_TARGET,
    TS_SVC_GR_INVALID_SCOPE,
    TS_SVC_GR_UNSUPPORTED_GRANT_TYPE,
    TS_SVC_GR_TOO_MANY_REQUESTS,
    TS_SVC_GR_TEMPORARILY_UNAVAILABLE,
    TS_SVC_GR_SERVER_ERROR,
    TS_SVC_GR_OTHER, /* any other error code (none today; kept so that a new one is counted) */
    TS_SVC_GR_COUNT
} ts_svc_grant_result;

/* What POST /oauth/revoke did with the token it was given. */
typedef enum ts_svc_revocation {
    TS_SVC_RV_ACCESS_REVOKED = 0, /* an access token's jti */
    TS_SVC_RV_ACCESS_ALREADY,     /* its jti was revoked already */
    TS_SVC_RV_FAMILY_REVOKED,     /* a refresh token's family and its access tokens */
    TS_SVC_RV_FAMILY_ALREADY,     /* that family was revoked already */
    TS_SVC_RV_EXPIRED,            /* expired: nothing to do */
    TS_SVC_RV_UNKNOWN,            /* not a token of this service */
    TS_SVC_RV_COUNT
} ts_svc_revocation;

/* Upper bounds of the request latency buckets (seconds in the exposition): a JWKS answer takes
 * tens of microseconds, a grant a store commit plus a signature (a few milliseconds), an
 * upstream exchange a provider round trip. */
#define TS_SVC_METRICS_BUCKETS 14u

/* The counters: relaxed atomics (one increment per answer, no lock). Zeroed memory is a valid,
 * empty registry: the service object is allocated zeroed. */
typedef struct ts_svc_metrics {
    _Atomic uint64_t requests[TS_SVC_EP_COUNT][5]; /* by status class 1xx..5xx */
    _Atomic uint64_t latency[TS_SVC_EP_COUNT][TS_SVC_METRICS_BUCKETS + 1];
    _Atomic uint64_t latency_sum_us[TS_SVC_EP_COUNT];
    _Atomic uint64_t grants[TS_SVC_GK_COUNT][TS_SVC_GR_COUNT];
    _Atomic uint64_t limited[TS_SVC_EP_COUNT]; /* 429 answers: the failed-attempt limiter */
    _Atomic uint64_t revocations[TS_SVC_RV_COUNT];
} ts_svc_metrics;

/* One answer of @p ep with HTTP @p status after @p elapsed_us. */
void ts_svc_metrics_answer(ts_svc_metrics *m, ts_svc_ep ep, unsigned status, uint64_t elapsed_us);
/* One answer of the token endpoint: @p kind, and "ok" for a 200 or else the OAuth error @p code
 * (NULL: "other"). */
void ts_svc_metrics_grant(ts_svc_metrics *m, ts_svc_grant_kind kind, unsigned status,
                          const char *code);
void ts_svc_metrics_revocation(ts_svc_metrics *m, ts_svc_revocation what);

/* The Prometheus text (format 0.0.4) of @p s: its counters, the store's commit statistics,
 * the active key's age and the requests in flight. out->oom on allocation failure. */
void ts_svc_metrics_text(const struct ts_svc *s, ts_common__secbuf *out);

/* The content type of the exposition. */
#define TS_SVC_METRICS_CTYPE "text/plain; version=0.0.4; charset=utf-8"

/* metrics_listener.c: the listener of metricsListen (GET /metrics only), bounded like the
 * admin listener (connections in total and per address, head and body deadlines). */

/* Start it when s->cfg.metrics_listen is set (TS_OK and nothing started when it is not). */
ts_status ts_svc__metrics_listen_start(struct ts_svc *s, ts_error *err);
/* Stop it and release it. Idempotent, NULL-safe (nothing started). */
void ts_svc__metrics_listen_stop(struct ts_svc *s);
/* Its bound port, 0 when none. */
uint16_t ts_svc__metrics_listen_port(const struct ts_svc *s);

#endif
