/* The service's metrics: counters bumped once per answer (respond.c) and per revocation, and
 * their Prometheus text (format 0.0.4) for GET /metrics. Label values come from the fixed
 * tables here, so that every series exists from the start (a counter that moves from 0 is
 * seen moving) and nothing a client sends can add one. */
#define _GNU_SOURCE

#include "svc_internal.h"
#include "tls.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char *const ep_name[TS_SVC_EP_COUNT] = {
    "other",    "token",  "revoke",  "introspect", "revocations",     "jwks",
    "metadata", "health", "metrics", "admin",      "service_identity"};

static const char *const grant_name[TS_SVC_GK_COUNT] = {"other", "bootstrap", "upstream",
                                                        "refresh"};

static const char *const result_name[TS_SVC_GR_COUNT] = {"ok",
                                                         "invalid_request",
                                                         "invalid_client",
                                                         "invalid_grant",
                                                         "invalid_target",
                                                         "invalid_scope",
                                                         "unsupported_grant_type",
                                                         "too_many_requests",
                                                         "temporarily_unavailable",
                                                         "server_error",
                                                         "other"};

static const char *const revocation_kind[TS_SVC_RV_COUNT] = {
    "access_token", "access_token", "refresh_family", "refresh_family", "any", "any"};
static const char *const revocation_result[TS_SVC_RV_COUNT] = {
    "revoked", "already_revoked", "revoked", "already_revoked", "expired", "unknown"};

/* Seconds, as microseconds: see TS_SVC_METRICS_BUCKETS. */
static const uint64_t le_us[TS_SVC_METRICS_BUCKETS] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 5000000};

void ts_svc_metrics_answer(ts_svc_metrics *m, ts_svc_ep ep, unsigned status, uint64_t elapsed_us)
{
    unsigned e = (unsigned)ep < TS_SVC_EP_COUNT ? (unsigned)ep : TS_SVC_EP_OTHER;
    unsigned cls = status >= 100 && status < 600 ? status / 100 - 1 : 4;
    atomic_fetch_add_explicit(&m->requests[e][cls], 1, memory_order_relaxed);
    unsigned b = 0;
    while (b < TS_SVC_METRICS_BUCKETS && elapsed_us > le_us[b])
        b++;
    atomic_fetch_add_explicit(&m->latency[e][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->latency_sum_us[e], elapsed_us, memory_order_relaxed);
    /* Only the failed-attempt limiter answers 429. */
    if (status == 429)
        atomic_fetch_add_explicit(&m->limited[e], 1, memory_order_relaxed);
}

void ts_svc_metrics_grant(ts_svc_metrics *m, ts_svc_grant_kind kind, unsigned status,
                          const char *code)
{
    unsigned k = (unsigned)kind < TS_SVC_GK_COUNT ? (unsigned)kind : TS_SVC_GK_OTHER;
    unsigned r = TS_SVC_GR_OTHER;
    if (status == 200) {
        r = TS_SVC_GR_OK;
    } else if (code) {
        for (unsigned i = 1; i < TS_SVC_GR_OTHER; i++)
            if (strcmp(code, result_name[i]) == 0)
                r = i;
    }
    atomic_fetch_add_explicit(&m->grants[k][r], 1, memory_order_relaxed);
}

void ts_svc_metrics_revocation(ts_svc_metrics *m, ts_svc_revocation what)
{
    if ((unsigned)what < TS_SVC_RV_COUNT)
        atomic_fetch_add_explicit(&m->revocations[what], 1, memory_order_relaxed);
}

/* ------------------------------------------------------------------------------------------ */
/* Text                                                                                       */

static void head(ts_common__secbuf *out, const char *name, const char *type, const char *help)
{
    ts_common__secbuf_addf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static uint64_t get(const _Atomic uint64_t *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}

/* One histogram series from per-bucket (not cumulative) counts: cumulative buckets, +Inf,
 * _sum and _count (= +Inf, summed from the same snapshot so that the two always agree). The
 * bounds are microseconds (@p scale 1e6: seconds) or plain numbers (@p scale 1). */
static void histogram(ts_common__secbuf *out, const char *name, const char *labels,
                      const uint64_t *le, const uint64_t *counts, unsigned n, double sum,
                      double scale)
{
    const char *sep = labels[0] ? "," : "";
    uint64_t cum = 0;
    for (unsigned b = 0; b < n; b++) {
        cum += counts[b];
        ts_common__secbuf_addf(out, "%s_bucket{%s%sle=\"%g\"} %" PRIu64 "\n", name, labels, sep,
                               (double)le[b] / scale, cum);
    }
    cum += counts[n];
    ts_common__secbuf_addf(out, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, labels, sep, cum);
    ts_common__secbuf_addf(out, scale > 1 ? "%s_sum%s%s%s %.6f\n" : "%s_sum%s%s%s %.0f\n", name,
                           labels[0] ? "{" : "", labels, labels[0] ? "}" : "", sum);
    ts_common__secbuf_addf(out, "%s_count%s%s%s %" PRIu64 "\n", name, labels[0] ? "{" : "", labels,
                           labels[0] ? "}" : "", cum);
}

static void requests_text(const ts_svc_metrics *m, ts_common__secbuf *out)
{
    static const char *const cls[5] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
    head(out, "tokensmith_http_requests_total", "counter",
         "Requests answered, by endpoint and status class.");
    for (unsigned e = 0; e < TS_SVC_EP_COUNT; e++)
        for (unsigned c = 1; c < 5; c++)
            ts_common__secbuf_addf(
                out, "tokensmith_http_requests_total{endpoint=\"%s\",code=\"%s\"} %" PRIu64 "\n",
                ep_name[e], cls[c], get(&m->requests[e][c]));
    head(out, "tokensmith_http_request_duration_seconds", "histogram",
         "Time from the request head to the answer, by endpoint.");
    for (unsigned e = 0; e < TS_SVC_EP_COUNT; e++) {
        uint64_t counts[TS_SVC_METRICS_BUCKETS + 1];
        for (unsigned b = 0; b <= TS_SVC_METRICS_BUCKETS; b++)
            counts[b] = get(&m->latency[e][b]);
        char labels[48];
        snprintf(labels, sizeof labels, "endpoint=\"%s\"", ep_name[e]);
        histogram(out, "tokensmith_http_request_duration_seconds", labels, le_us, counts,
                  TS_SVC_METRICS_BUCKETS, (double)get(&m->latency_sum_us[e]) / 1e6, 1e6);
    }
}

static void grants_text(const ts_svc_metrics *m, ts_common__secbuf *out)
{
    head(out, "tokensmith_grants_total", "counter",
         "Answers of POST /oauth/token, by grant and result (ok or the OAuth error code).");
    for (unsigned k = 0; k < TS_SVC_GK_COUNT; k++)
        for (unsigned r = 0; r < TS_SVC_GR_COUNT; r++)
            ts_common__secbuf_addf(
                out, "tokensmith_grants_total{grant=\"%s\",result=\"%s\"} %" PRIu64 "\n",
                grant_name[k], result_name[r], get(&m->grants[k][r]));
    head(out, "tokensmith_limiter_blocks_total", "counter",
         "Requests refused with 429 by the failed-attempt limiter, by endpoint.");
    static const ts_svc_ep limited_eps[] = {TS_SVC_EP_TOKEN, TS_SVC_EP_REVOKE, TS_SVC_EP_INTROSPECT,
                                            TS_SVC_EP_SERVICE_IDENTITY};
    for (size_t i = 0; i < sizeof limited_eps / sizeof limited_eps[0]; i++)
        ts_common__secbuf_addf(out,
                               "tokensmith_limiter_blocks_total{endpoint=\"%s\"} %" PRIu64 "\n",
                               ep_name[limited_eps[i]], get(&m->limited[limited_eps[i]]));
    head(out, "tokensmith_revocations_total", "counter",
         "Tokens presented to POST /oauth/revoke, by kind and outcome.");
    for (unsigned v = 0; v < TS_SVC_RV_COUNT; v++)
        ts_common__secbuf_addf(
            out, "tokensmith_revocations_total{kind=\"%s\",result=\"%s\"} %" PRIu64 "\n",
            revocation_kind[v], revocation_result[v], get(&m->revocations[v]));
}

static void store_text(const ts_svc *s, ts_common__secbuf *out)
{
    ts_store_commit_stats st;
    ts_store_commit_stats_get(s->store, &st);
    head(out, "tokensmith_store_commit_duration_seconds", "histogram",
         "Time of one committed store transaction (BEGIN to COMMIT); a group commit counts once.");
    histogram(out, "tokensmith_store_commit_duration_seconds", "", st.latency_le_us, st.latency,
              TS_STORE_COMMIT_LATENCY_BUCKETS, (double)st.latency_sum_us / 1e6, 1e6);
    head(out, "tokensmith_store_commit_batch_size", "histogram",
         "Writes carried by one committed store transaction (SQLite group commit; PostgreSQL: 1).");
    histogram(out, "tokensmith_store_commit_batch_size", "", st.batch_le, st.batch,
              TS_STORE_COMMIT_BATCH_BUCKETS, (double)st.batch_sum, 1);
}

/* The age of the signing key: a key file is written once and never changed, so its
 * modification time is its creation; a key in a PKCS#11 token has no file, and no sample. */
static void key_text(const ts_svc *s, ts_common__secbuf *out)
{
    head(out, "tokensmith_active_key_age_seconds", "gauge",
         "Seconds since the signing key's file was created (absent for a key in a token).");
    const char *path = s->keys ? ts_svc_keyring_active_path(s->keys) : NULL;
    struct stat sb;
    if (!path || !path[0] || strncmp(path, "pkcs11:", 7) == 0 || stat(path, &sb) != 0)
        return;
    time_t now = time(NULL);
    ts_common__secbuf_addf(out, "tokensmith_active_key_age_seconds %lld\n",
                           (long long)(now > sb.st_mtime ? now - sb.st_mtime : 0));
}

/* The main listener's certificate: when the one in use expires (no sample without TLS). */
static void tls_text(const ts_svc *s, ts_common__secbuf *out)
{
    head(out, "tokensmith_tls_certificate_not_after_seconds", "gauge",
         "Expiry of the main listener's TLS certificate in use, Unix time (absent without TLS).");
    ts_svc_tls_info ti;
    if (s->tls && ts_svc_tls_current(s->tls, &ti) == TS_OK && ti.not_after > 0)
        ts_common__secbuf_addf(out, "tokensmith_tls_certificate_not_after_seconds %lld\n",
                               (long long)ti.not_after);
    /* Counted at each TLS connection's close (tls_mhd.c), over every TLS listener; present
     * (zero) without TLS, like every other counter. */
    ts_svc_tls_handshake_stats hs;
    ts_svc_tls_handshakes(s->tls, &hs);
    head(out, "tokensmith_tls_handshakes_total", "counter",
         "TLS connections closed, by whether their handshake completed (failed: garbage, plain "
         "HTTP, a refused certificate or version, a timeout or a client that left mid-handshake).");
    ts_common__secbuf_addf(out,
                           "tokensmith_tls_handshakes_total{result=\"completed\"} %" PRIu64 "\n"
                           "tokensmith_tls_handshakes_total{result=\"failed\"} %" PRIu64 "\n",
                           hs.completed, hs.failed);
    head(out, "tokensmith_tls_resumed_handshakes_total", "counter",
         "Completed TLS handshakes that resumed a session (a session ticket).");
    ts_common__secbuf_addf(out, "tokensmith_tls_resumed_handshakes_total %" PRIu64 "\n",
                           hs.resumed);
}

void ts_svc_metrics_text(const ts_svc *s, ts_common__secbuf *out)
{
    const ts_svc_metrics *m = &s->metrics;
    requests_text(m, out);
    head(out, "tokensmith_http_requests_in_flight", "gauge",
         "Requests whose head has arrived and that are not answered yet.");
    ts_common__secbuf_addf(out, "tokensmith_http_requests_in_flight %u\n",
                           atomic_load(&s->inflight));
    grants_text(m, out);
    store_text(s, out);
    key_text(s, out);
    tls_text(s, out);
}
