/*
 * Decision records: the JSON log line per decision, Prometheus counters and the diagnostics
 * document. Label sets are bounded: decision (4) x stage (3 + reload) x the guard's one mode x
 * the last METRIC_VERSIONS policy versions.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "contract/contract.h"
#include "contract/live.h"

#define METRIC_VERSIONS 4
#define NSTAGES 3

static const char *const stage_names[NSTAGES] = {"principal", "mapper", "engine"};

typedef struct version_slot {
    char pv[TS_AUTHZ_POLICY_VERSION_LEN + 1];
    uint64_t last_use;
    uint64_t decisions[4];
    uint64_t errors[NSTAGES];
} version_slot;

struct ts_guard_metrics {
    pthread_mutex_t lock;
    version_slot slots[METRIC_VERSIONS];
    uint64_t clock;
};

ts_guard_metrics *ts_authz__metrics_new(void)
{
    ts_guard_metrics *m = calloc(1, sizeof *m);
    if (m)
        pthread_mutex_init(&m->lock, NULL);
    return m;
}

void ts_authz__metrics_free(ts_guard_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* Lock held. The slot of @p pv; a new version takes the least recently used slot. */
static version_slot *slot_for(ts_guard_metrics *m, const char *pv)
{
    version_slot *victim = &m->slots[0];
    m->clock++;
    for (size_t i = 0; i < METRIC_VERSIONS; i++) {
        version_slot *s = &m->slots[i];
        if (s->pv[0] && memcmp(s->pv, pv, TS_AUTHZ_POLICY_VERSION_LEN) == 0) {
            s->last_use = m->clock;
            return s;
        }
        if (!s->pv[0] || (victim->pv[0] && s->last_use < victim->last_use))
            victim = s;
    }
    memset(victim, 0, sizeof *victim);
    memcpy(victim->pv, pv, TS_AUTHZ_POLICY_VERSION_LEN);
    victim->last_use = m->clock;
    return victim;
}

void ts_authz__metrics_decision(ts_guard_metrics *m, const char *pv, ts_authz_verdict v)
{
    if (!pv[0])
        return;
    pthread_mutex_lock(&m->lock);
    slot_for(m, pv)->decisions[v]++;
    pthread_mutex_unlock(&m->lock);
}

void ts_authz__metrics_error(ts_guard_metrics *m, const char *pv, const char *stage)
{
    if (!pv[0])
        return;
    for (size_t i = 0; i < NSTAGES; i++) {
        if (strcmp(stage, stage_names[i]) == 0) {
            pthread_mutex_lock(&m->lock);
            slot_for(m, pv)->errors[i]++;
            pthread_mutex_unlock(&m->lock);
            return;
        }
    }
}

/* A Prometheus label value (backslash, quote and newline escaped). */
static void label(ts_common__json *b, const char *z)
{
    ts_common__json_raw(b, "\"", 1);
    for (const char *p = z ? z : ""; *p; p++) {
        if (*p == '\\')
            ts_common__json_raw(b, "\\\\", 2);
        else if (*p == '"')
            ts_common__json_raw(b, "\\\"", 2);
        else if (*p == '\n')
            ts_common__json_raw(b, "\\n", 2);
        else
            ts_common__json_raw(b, p, 1);
    }
    ts_common__json_raw(b, "\"", 1);
}

static void sample(ts_common__json *b, const char *name, const char *first_label, const char *first,
                   ts_authz_mode mode, const char *pv, uint64_t v)
{
    ts_common__json_raws(b, name);
    ts_common__json_raw(b, "{", 1);
    ts_common__json_raws(b, first_label);
    ts_common__json_raw(b, "=", 1);
    label(b, first);
    ts_common__json_raws(b, ",mode=");
    label(b, ts_authz_mode_name(mode));
    ts_common__json_raws(b, ",policy_version=");
    label(b, pv);
    ts_common__json_raws(b, "} ");
    ts_common__json_uint(b, v);
    ts_common__json_raw(b, "\n", 1);
}

void ts_authz__metrics_render(ts_guard_metrics *m, ts_authz_mode mode,
                              const ts_authz_policy_stats *st, ts_common__json *b)
{
    version_slot copy[METRIC_VERSIONS];
    pthread_mutex_lock(&m->lock);
    memcpy(copy, m->slots, sizeof copy);
    pthread_mutex_unlock(&m->lock);
    /* The current version is always exposed, even before its first decision. */
    bool have_current = false;
    for (size_t i = 0; i < METRIC_VERSIONS; i++)
        have_current |= strcmp(copy[i].pv, st->policy_version) == 0;

    ts_common__json_raws(b, "# HELP authz_decisions_total Authorization decisions by outcome.\n"
                            "# TYPE authz_decisions_total counter\n");
    for (size_t i = 0; i <= METRIC_VERSIONS; i++) {
        const char *pv = i < METRIC_VERSIONS ? copy[i].pv : st->policy_version;
        if (!pv[0] || (i == METRIC_VERSIONS && have_current))
            continue;
        for (int v = 0; v < 4; v++)
            sample(b, "authz_decisions_total", "decision",
                   ts_authz_verdict_name((ts_authz_verdict)v), mode, pv,
                   i < METRIC_VERSIONS ? copy[i].decisions[v] : 0);
    }
    ts_common__json_raws(b, "# HELP authz_errors_total Authorization failures by stage.\n"
                            "# TYPE authz_errors_total counter\n");
    for (size_t i = 0; i <= METRIC_VERSIONS; i++) {
        const char *pv = i < METRIC_VERSIONS ? copy[i].pv : st->policy_version;
        if (!pv[0] || (i == METRIC_VERSIONS && have_current))
            continue;
        for (size_t s = 0; s < NSTAGES; s++)
            sample(b, "authz_errors_total", "stage", stage_names[s], mode, pv,
                   i < METRIC_VERSIONS ? copy[i].errors[s] : 0);
    }
    /* A failed reload leaves the current version in force: count it there. */
    sample(b, "authz_errors_total", "stage", "reload", mode, st->policy_version,
           st->reload_failures);
}

void ts_authz__decision_line(const ts_authz_guard *g, const ts_authz_request *req,
                             const ts_authz_principal *p, const ts_authz_outcome *out,
                             const char *path, ts_common__json *b)
{
    ts_common__json_open(b);
    ts_common__json_kstr(b, "event", "authz.decision");
    ts_common__json_kstr(b, "decision", ts_authz_verdict_name(out->decision));
    ts_common__json_kstr(b, "reason", out->reason);
    ts_common__json_kstr(b, "mode", ts_authz_mode_name(g->o.mode));
    ts_common__json_kbool(b, "enforced", out->status && g->o.mode == TS_AUTHZ_MODE_ENFORCE);
    if (out->status) { /* what enforce mode answers, also logged in shadow mode */
        ts_common__json_kuint(b, "status", out->status);
        ts_common__json_kstr(b, "code", out->code);
    }
    ts_common__json_kstr(b, "policy_version", out->result.policy_version);
    ts_common__json_kstr(b, "principal_id", p ? p->id : "");
    ts_common__json_kstr(b, "principal_type", p ? ts_authz__principal_type(p) : "unknown");
    size_t nroles = p ? p->nroles : 0;
    if (nroles > TS_AUTHZ_HTTP_MAX_ROLES)
        nroles = TS_AUTHZ_HTTP_MAX_ROLES;
    if (g->o.include_roles)
        ts_common__json_kstrs(b, "roles", p ? p->roles : NULL, nroles);
    ts_common__json_kuint(b, "roles_count", p ? p->nroles : 0);
    ts_common__json_kstr(b, "object", out->object);
    ts_common__json_kstr(b, "action", out->action);
    if (out->domain && *out->domain)
        ts_common__json_kstr(b, "domain", out->domain);
    ts_common__json_kstr(b, "method", req->method);
    ts_common__json_kstr(b, "path", path);
    if (req->request_id && *req->request_id)
        ts_common__json_kstr(b, "request_id", req->request_id);
    if (out->result.subject[0])
        ts_common__json_kstr(b, "subject", out->result.subject);
    if (out->result.rule[0])
        ts_common__json_kstr(b, "rule", out->result.rule);
    if (out->result.detail[0])
        ts_common__json_kstr(b, "detail", out->result.detail);
    if (out->stage)
        ts_common__json_kstr(b, "stage", out->stage);
    if (out->result.cached)
        ts_common__json_kbool(b, "cached", true);
    ts_common__json_close(b);
}

/* Copy into a caller buffer with the metrics/diagnostics contract (TS_ELIMIT when short). */
static ts_status export_text(const ts_common__json *b, char *buf, size_t cap, size_t *len,
                             ts_error *err)
{
    if (b->oom)
        return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    if (len)
        *len = b->len;
    if (!buf || cap < b->len + 1)
        return ts_error_set(err, TS_ELIMIT, NULL, "buffer too small: %zu bytes needed", b->len + 1);
    memcpy(buf, b->ptr, b->len + 1);
    return TS_OK;
}

ts_status ts_authz_guard_metrics(const ts_authz_guard *g, char *buf, size_t cap, size_t *len,
                                 ts_error *err)
{
    if (!g)
        return ts_error_set(err, TS_EINVAL, "ts_authz_guard_metrics", "guard is NULL");
    ts_authz_policy_stats st;
    ts_authz_authorizer_stats(g->o.authorizer, &st);
    ts_common__json b;
    ts_common__json_init(&b, TS_COMMON__JSON_ASCII);
    ts_authz__metrics_render(g->metrics, g->o.mode, &st, &b);
    ts_status s = export_text(&b, buf, cap, len, err);
    ts_common__json_cleanup(&b);
    return s;
}

ts_status ts_authz_guard_diagnostics(const ts_authz_guard *g, char *buf, size_t cap, size_t *len,
                                     ts_error *err)
{
    if (!g)
        return ts_error_set(err, TS_EINVAL, "ts_authz_guard_diagnostics", "guard is NULL");
    ts_authz_policy_stats st;
    ts_authz_authorizer_stats(g->o.authorizer, &st);
    ts_common__json b;
    ts_common__json_init(&b, TS_COMMON__JSON_UTF8);
    ts_common__json_open(&b);
    ts_common__json_kstr(&b, "mode", ts_authz_mode_name(g->o.mode));
    ts_common__json_kstr(&b, "policy_version", st.policy_version);
    ts_common__json_kstr(&b, "policy_source", st.source);
    ts_common__json_key(&b, "rules");
    ts_common__json_open(&b);
    ts_common__json_kuint(&b, "p", st.p_rules);
    ts_common__json_kuint(&b, "g", st.g_rules);
    ts_common__json_close(&b);
    ts_common__json_kuint(&b, "fragments", st.fragments);
    ts_common__json_kuint(&b, "reloads", st.reloads);
    ts_common__json_kuint(&b, "reload_failures", st.reload_failures);
    char at[32];
    ts_authz__rfc3339(ts_authz__authorizer_loaded_at(g->o.authorizer), at);
    ts_common__json_kstr(&b, "loaded_at", at);
    if (g->live) {
        ts_authz__runtime_render(g->live, &b);
        pthread_mutex_lock(&g->live->mu);
        ts_authz__watcher *w = g->live->watcher; /* set once, freed with the guard */
        pthread_mutex_unlock(&g->live->mu);
        ts_authz__watcher_render(w, &b);
    }
    ts_common__json_key(&b, "cache");
    ts_common__json_open(&b);
    ts_common__json_kuint(&b, "hits", st.cache_hits);
    ts_common__json_kuint(&b, "misses", st.cache_misses);
    ts_common__json_close(&b);
    ts_common__json_close(&b);
    ts_status s = export_text(&b, buf, cap, len, err);
    ts_common__json_cleanup(&b);
    return s;
}

/* ---- shared with the authorizer ------------------------------------------------------------ */

void ts_authz__log_event(ts_authz_log_fn log, void *ud, const char *event, const char *fields,
                         size_t fields_len)
{
    if (!log)
        return;
    ts_common__json b;
    ts_common__json_init(&b, TS_COMMON__JSON_ASCII);
    ts_common__json_open(&b);
    ts_common__json_kstr(&b, "event", event);
    if (fields_len) {
        ts_common__json_raw(&b, ",", 1);
        ts_common__json_embed(&b, fields, fields_len);
    }
    ts_common__json_close(&b);
    if (!b.oom)
        log(b.ptr, b.len, ud);
    ts_common__json_cleanup(&b);
}

const char *ts_authz_verdict_name(ts_authz_verdict v)
{
    switch (v) {
    case TS_AUTHZ_ALLOW:
        return "allow";
    case TS_AUTHZ_DENY:
        return "deny";
    case TS_AUTHZ_INDETERMINATE:
        return "indeterminate";
    case TS_AUTHZ_ERROR:
        return "error";
    }
    return "error";
}
