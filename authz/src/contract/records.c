/*
 * Decision records: the JSON log line per decision, Prometheus counters and the diagnostics
 * document. Label sets are bounded: decision (4) x stage (3 + reload) x the guard's one mode x
 * the last METRIC_VERSIONS policy versions.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "contract/contract.h"

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

static void sample(ts_jbuf *b, const char *name, const char *first_label, const char *first,
                   ts_authz_mode mode, const char *pv, uint64_t v)
{
    ts_authz__jbuf_adds(b, name);
    ts_authz__jbuf_add(b, "{", 1);
    ts_authz__jbuf_adds(b, first_label);
    ts_authz__jbuf_add(b, "=", 1);
    ts_authz__jbuf_label(b, first);
    ts_authz__jbuf_adds(b, ",mode=");
    ts_authz__jbuf_label(b, ts_authz_mode_name(mode));
    ts_authz__jbuf_adds(b, ",policy_version=");
    ts_authz__jbuf_label(b, pv);
    ts_authz__jbuf_adds(b, "} ");
    ts_authz__jbuf_addu(b, v);
    ts_authz__jbuf_add(b, "\n", 1);
}

void ts_authz__metrics_render(ts_guard_metrics *m, ts_authz_mode mode,
                              const ts_authz_policy_stats *st, ts_jbuf *b)
{
    version_slot copy[METRIC_VERSIONS];
    pthread_mutex_lock(&m->lock);
    memcpy(copy, m->slots, sizeof copy);
    pthread_mutex_unlock(&m->lock);
    /* The current version is always exposed, even before its first decision. */
    bool have_current = false;
    for (size_t i = 0; i < METRIC_VERSIONS; i++)
        have_current |= strcmp(copy[i].pv, st->policy_version) == 0;

    ts_authz__jbuf_adds(b, "# HELP authz_decisions_total Authorization decisions by outcome.\n"
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
    ts_authz__jbuf_adds(b, "# HELP authz_errors_total Authorization failures by stage.\n"
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
                             const char *path, ts_jbuf *b)
{
    ts_authz__jbuf_adds(b, "{\"event\":\"authz.decision\",\"decision\":");
    ts_authz__jbuf_str(b, ts_authz_verdict_name(out->decision));
    ts_authz__jbuf_adds(b, ",\"reason\":");
    ts_authz__jbuf_str(b, out->reason);
    ts_authz__jbuf_adds(b, ",\"mode\":");
    ts_authz__jbuf_str(b, ts_authz_mode_name(g->o.mode));
    ts_authz__jbuf_adds(b, ",\"enforced\":");
    ts_authz__jbuf_adds(b, out->status && g->o.mode == TS_AUTHZ_MODE_ENFORCE ? "true" : "false");
    if (out->status) { /* what enforce mode answers, also logged in shadow mode */
        ts_authz__jbuf_adds(b, ",\"status\":");
        ts_authz__jbuf_addu(b, out->status);
        ts_authz__jbuf_adds(b, ",\"code\":");
        ts_authz__jbuf_str(b, out->code);
    }
    ts_authz__jbuf_adds(b, ",\"policy_version\":");
    ts_authz__jbuf_str(b, out->result.policy_version);
    ts_authz__jbuf_adds(b, ",\"principal_id\":");
    ts_authz__jbuf_str(b, p ? p->id : "");
    ts_authz__jbuf_adds(b, ",\"principal_type\":");
    ts_authz__jbuf_str(b, p ? ts_authz__principal_type(p) : "unknown");
    size_t nroles = p ? p->nroles : 0;
    if (nroles > TS_AUTHZ_HTTP_MAX_ROLES)
        nroles = TS_AUTHZ_HTTP_MAX_ROLES;
    if (g->o.include_roles) {
        ts_authz__jbuf_adds(b, ",\"roles\":[");
        for (size_t i = 0; i < nroles; i++) {
            if (i)
                ts_authz__jbuf_add(b, ",", 1);
            ts_authz__jbuf_str(b, p->roles[i]);
        }
        ts_authz__jbuf_add(b, "]", 1);
    }
    ts_authz__jbuf_adds(b, ",\"roles_count\":");
    ts_authz__jbuf_addu(b, p ? p->nroles : 0);
    ts_authz__jbuf_adds(b, ",\"object\":");
    ts_authz__jbuf_str(b, out->object);
    ts_authz__jbuf_adds(b, ",\"action\":");
    ts_authz__jbuf_str(b, out->action);
    if (out->domain && *out->domain) {
        ts_authz__jbuf_adds(b, ",\"domain\":");
        ts_authz__jbuf_str(b, out->domain);
    }
    ts_authz__jbuf_adds(b, ",\"method\":");
    ts_authz__jbuf_str(b, req->method);
    ts_authz__jbuf_adds(b, ",\"path\":");
    ts_authz__jbuf_str(b, path);
    if (req->request_id && *req->request_id) {
        ts_authz__jbuf_adds(b, ",\"request_id\":");
        ts_authz__jbuf_str(b, req->request_id);
    }
    if (out->result.subject[0]) {
        ts_authz__jbuf_adds(b, ",\"subject\":");
        ts_authz__jbuf_str(b, out->result.subject);
    }
    if (out->result.rule[0]) {
        ts_authz__jbuf_adds(b, ",\"rule\":");
        ts_authz__jbuf_str(b, out->result.rule);
    }
    if (out->result.detail[0]) {
        ts_authz__jbuf_adds(b, ",\"detail\":");
        ts_authz__jbuf_str(b, out->result.detail);
    }
    if (out->stage) {
        ts_authz__jbuf_adds(b, ",\"stage\":");
        ts_authz__jbuf_str(b, out->stage);
    }
    if (out->result.cached)
        ts_authz__jbuf_adds(b, ",\"cached\":true");
    ts_authz__jbuf_add(b, "}", 1);
}

ts_status ts_authz_guard_metrics(const ts_authz_guard *g, char *buf, size_t cap, size_t *len,
                                 ts_error *err)
{
    if (!g)
        return ts_error_set(err, TS_EINVAL, "ts_authz_guard_metrics", "guard is NULL");
    ts_authz_policy_stats st;
    ts_authz_authorizer_stats(g->o.authorizer, &st);
    ts_jbuf b;
    ts_authz__jbuf_init(&b);
    ts_authz__metrics_render(g->metrics, g->o.mode, &st, &b);
    ts_status s = ts_authz__jbuf_export(&b, buf, cap, len, err);
    ts_authz__jbuf_cleanup(&b);
    return s;
}

ts_status ts_authz_guard_diagnostics(const ts_authz_guard *g, char *buf, size_t cap, size_t *len,
                                     ts_error *err)
{
    if (!g)
        return ts_error_set(err, TS_EINVAL, "ts_authz_guard_diagnostics", "guard is NULL");
    ts_authz_policy_stats st;
    ts_authz_authorizer_stats(g->o.authorizer, &st);
    ts_jbuf b;
    ts_authz__jbuf_init(&b);
    ts_authz__jbuf_adds(&b, "{\"mode\":");
    ts_authz__jbuf_str(&b, ts_authz_mode_name(g->o.mode));
    ts_authz__jbuf_adds(&b, ",\"policy_version\":");
    ts_authz__jbuf_str(&b, st.policy_version);
    ts_authz__jbuf_adds(&b, ",\"policy_source\":");
    ts_authz__jbuf_str(&b, st.source);
    ts_authz__jbuf_adds(&b, ",\"rules\":{\"p\":");
    ts_authz__jbuf_addu(&b, st.p_rules);
    ts_authz__jbuf_adds(&b, ",\"g\":");
    ts_authz__jbuf_addu(&b, st.g_rules);
    ts_authz__jbuf_adds(&b, "},\"fragments\":");
    ts_authz__jbuf_addu(&b, st.fragments);
    ts_authz__jbuf_adds(&b, ",\"reloads\":");
    ts_authz__jbuf_addu(&b, st.reloads);
    ts_authz__jbuf_adds(&b, ",\"reload_failures\":");
    ts_authz__jbuf_addu(&b, st.reload_failures);
    ts_authz__jbuf_adds(&b, ",\"cache\":{\"hits\":");
    ts_authz__jbuf_addu(&b, st.cache_hits);
    ts_authz__jbuf_adds(&b, ",\"misses\":");
    ts_authz__jbuf_addu(&b, st.cache_misses);
    ts_authz__jbuf_adds(&b, "}}");
    ts_status s = ts_authz__jbuf_export(&b, buf, cap, len, err);
    ts_authz__jbuf_cleanup(&b);
    return s;
}
