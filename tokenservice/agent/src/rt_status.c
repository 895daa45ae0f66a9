/* /health (every required source has a valid token) and /metrics (Prometheus text 0.0.4):
 * the names are in docs/agent.md, "/health and /metrics". */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_writer.h"
#include "common/tls_conn.h"
#include "rt_internal.h"

typedef struct slot_view {
    bool valid;
    int64_t expires_at, last_success;
    uint64_t refreshes, failures;
    unsigned consecutive;
} slot_view;

static slot_view view(ts_agent__graph *g, size_t i, int64_t now)
{
    ts_agent__slot *s = ts_agent__graph_slot(g, i);
    slot_view v;
    pthread_mutex_lock(&s->mu);
    v.valid = s->valid && s->expires_at > now;
    v.expires_at = s->expires_at;
    v.last_success = s->last_success;
    v.refreshes = s->refreshes;
    v.failures = s->failures;
    v.consecutive = s->consecutive_failures;
    pthread_mutex_unlock(&s->mu);
    return v;
}

ts_status ts_agent__health_answer(ts_agent__graph *g, ts_agent__answer *a)
{
    const ts_agent_config *cfg = ts_agent__graph_config(g);
    int64_t now = ts_agent__graph_now_ms(g) / 1000;
    bool ok = true;
    ts_common__json w;
    ts_common__json_init(&w, TS_COMMON__JSON_UTF8);
    ts_common__json_open(&w);
    ts_common__json_key(&w, "sources");
    ts_common__json_open(&w);
    for (size_t i = 0; i < cfg->n_sources; i++) {
        slot_view v = view(g, i, now);
        if (cfg->sources[i].required && !v.valid)
            ok = false;
        ts_common__json_key(&w, cfg->sources[i].id);
        ts_common__json_open(&w);
        ts_common__json_kbool(&w, "valid", v.valid);
        if (v.valid)
            ts_common__json_kint(&w, "expires_in", v.expires_at - now);
        ts_common__json_kuint(&w, "failures", v.failures);
        ts_common__json_close(&w);
    }
    ts_common__json_close(&w);
    ts_common__json_kstr(&w, "status", ok ? "ok" : "unavailable");
    ts_common__json_close(&w);
    memset(a, 0, sizeof *a);
    a->status = ok ? 200 : 503;
    a->content_type = "application/json";
    a->body = ts_common__json_take(&w, &a->body_len);
    ts_common__json_cleanup(&w);
    return a->body ? TS_OK : TS_ENOMEM;
}

/* A growing text buffer for the metrics page. */
typedef struct text {
    char *p;
    size_t len, cap;
    bool oom;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...)
{
    if (t->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->oom = true;
            return;
        }
        if (t->p && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap ? t->cap * 2 : 4096) + (size_t)n;
        char *np = realloc(t->p, cap);
        if (!np) {
            t->oom = true;
            return;
        }
        t->p = np;
        t->cap = cap;
    }
}

static void head(text *t, const char *name, const char *type, const char *help)
{
    put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

ts_status ts_agent__metrics_answer(ts_agent__graph *g, uint64_t reloads_ok,
                                   uint64_t reloads_refused,
                                   const ts_common__tls_handshake_counters *tls,
                                   ts_agent__answer *a)
{
    const ts_agent_config *cfg = ts_agent__graph_config(g);
    int64_t now = ts_agent__graph_now_ms(g) / 1000;
    size_t n = cfg->n_sources;
    slot_view *v = calloc(n ? n : 1, sizeof *v);
    if (!v)
        return TS_ENOMEM;
    for (size_t i = 0; i < n; i++)
        v[i] = view(g, i, now);
    text t = {0};
    /* Ids are [A-Za-z0-9_-]: nothing to escape in a label. */
#define PER_SOURCE(name, type, help, fmt, expr)                                                    \
    head(&t, name, type, help);                                                                    \
    for (size_t i = 0; i < n; i++)                                                                 \
        put(&t, name "{source=\"%s\"} " fmt "\n", cfg->sources[i].id, (expr));
    PER_SOURCE("tokensmith_agent_source_valid", "gauge", "1 when the source has a valid token",
               "%d", v[i].valid ? 1 : 0)
    PER_SOURCE("tokensmith_agent_source_last_success_timestamp_seconds", "gauge",
               "Unix time of the last successful fetch (0: none)", "%" PRId64, v[i].last_success)
    PER_SOURCE("tokensmith_agent_source_seconds_to_expiry", "gauge",
               "seconds until the earliest token of the source expires", "%" PRId64,
               v[i].valid ? v[i].expires_at - now : (int64_t)0)
    PER_SOURCE("tokensmith_agent_source_refreshes_total", "counter", "successful fetches",
               "%" PRIu64, v[i].refreshes)
    PER_SOURCE("tokensmith_agent_source_failures_total", "counter", "failed fetches", "%" PRIu64,
               v[i].failures)
    PER_SOURCE("tokensmith_agent_source_failing", "gauge",
               "1 after retry.attempts failures in a row", "%d",
               v[i].consecutive >= cfg->settings.retry_attempts ? 1 : 0)
#undef PER_SOURCE
    head(&t, "tokensmith_agent_sink_writes_total", "counter",
         "file sinks: files written; http and uds sinks: tokens served");
    for (size_t k = 0; k < cfg->n_sinks; k++)
        put(&t, "tokensmith_agent_sink_writes_total{sink=\"%s\"} %" PRIu64 "\n", cfg->sinks[k].id,
            (uint64_t)atomic_load(&ts_agent__graph_sink_stats(g, k)->writes));
    head(&t, "tokensmith_agent_sink_errors_total", "counter",
         "file sinks: failed writes or removals; http and uds sinks: 503 answers");
    for (size_t k = 0; k < cfg->n_sinks; k++)
        put(&t, "tokensmith_agent_sink_errors_total{sink=\"%s\"} %" PRIu64 "\n", cfg->sinks[k].id,
            (uint64_t)atomic_load(&ts_agent__graph_sink_stats(g, k)->errors));
    head(&t, "tokensmith_agent_reloads_total", "counter", "SIGHUP reloads");
    put(&t, "tokensmith_agent_reloads_total{result=\"ok\"} %" PRIu64 "\n", reloads_ok);
    put(&t, "tokensmith_agent_reloads_total{result=\"refused\"} %" PRIu64 "\n", reloads_refused);
    /* The listener's TLS sessions (common/tls_conn.c), counted as each closes; zero without
     * TLS. */
    ts_common__tls_handshake_stats hs;
    ts_common__tls_handshake_counters_read(tls, &hs);
    head(&t, "tokensmith_agent_tls_handshakes_total", "counter",
         "TLS connections closed, by whether their handshake completed");
    put(&t, "tokensmith_agent_tls_handshakes_total{result=\"completed\"} %" PRIu64 "\n",
        hs.completed);
    put(&t, "tokensmith_agent_tls_handshakes_total{result=\"failed\"} %" PRIu64 "\n", hs.failed);
    head(&t, "tokensmith_agent_tls_resumed_handshakes_total", "counter",
         "completed TLS handshakes that resumed a session (a session ticket)");
    put(&t, "tokensmith_agent_tls_resumed_handshakes_total %" PRIu64 "\n", hs.resumed);
    free(v);
    memset(a, 0, sizeof *a);
    if (t.oom) {
        free(t.p);
        return TS_ENOMEM;
    }
    a->status = 200;
    a->content_type = "text/plain; version=0.0.4";
    a->body = t.p;
    a->body_len = t.len;
    return TS_OK;
}
