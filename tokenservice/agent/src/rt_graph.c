/* One running configuration: a slot per source, the clients of oauth2 and tokensmith sources,
 * the uds sinks' daemons, and the refresh thread (rt_sched.c). */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rt_graph.h"

ts_agent__graph *ts_agent__graph_new(const ts_agent_config *cfg, ts_agent__log *log,
                                     const ts_agent__graph_hooks *hooks, ts_error *err)
{
    ts_agent__graph *g = calloc(1, sizeof *g);
    if (!g) {
        ts_error_set(err, TS_ENOMEM, "agent", "out of memory");
        return NULL;
    }
    g->cfg = cfg;
    g->log = log;
    if (hooks)
        g->hooks = *hooks;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    atomic_init(&g->stop, false);
    atomic_init(&g->heartbeat_ms, 0);
    g->slots = calloc(cfg->n_sources ? cfg->n_sources : 1, sizeof *g->slots);
    g->clients = calloc(cfg->n_sources ? cfg->n_sources : 1, sizeof *g->clients);
    g->due_ms = calloc(cfg->n_sources ? cfg->n_sources : 1, sizeof *g->due_ms);
    g->sink_stats = calloc(cfg->n_sinks ? cfg->n_sinks : 1, sizeof *g->sink_stats);
    g->uds = calloc(cfg->n_sinks ? cfg->n_sinks : 1, sizeof *g->uds);
    if (!g->slots || !g->clients || !g->due_ms || !g->sink_stats || !g->uds) {
        ts_error_set(err, TS_ENOMEM, "agent", "out of memory");
        ts_agent__graph_free(g);
        return NULL;
    }
    g->n_slots = cfg->n_sources;
    for (size_t i = 0; i < cfg->n_sources; i++) {
        pthread_mutex_init(&g->slots[i].mu, NULL);
        g->slots[i].tokens = calloc(cfg->sources[i].n_tokens, sizeof *g->slots[i].tokens);
        if (!g->slots[i].tokens) {
            ts_error_set(err, TS_ENOMEM, "agent", "out of memory");
            ts_agent__graph_free(g);
            return NULL;
        }
    }
    for (size_t i = 0; i < cfg->n_sinks; i++) {
        atomic_init(&g->sink_stats[i].writes, 0);
        atomic_init(&g->sink_stats[i].errors, 0);
    }
    uint64_t seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)g;
    g->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < cfg->n_sources; i++) {
        ts_agent_source_type t = cfg->sources[i].type;
        if (t != TS_AGENT_SOURCE_OAUTH2 && t != TS_AGENT_SOURCE_TOKENSMITH)
            continue;
        if (!(g->clients[i] = ts_agent__client_new(g, i, err))) {
            ts_agent__graph_free(g);
            return NULL;
        }
    }
    for (size_t i = 0; i < cfg->n_sinks; i++) {
        if (cfg->sinks[i].type != TS_AGENT_SINK_UDS)
            continue;
        if (!(g->uds[i] = ts_agent__uds_new(g, i, err))) {
            ts_agent__graph_free(g);
            return NULL;
        }
    }
    return g;
}

void ts_agent__graph_stop(ts_agent__graph *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->mu);
    g->stop_req = true;
    atomic_store(&g->stop, true);
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    if (g->started) {
        pthread_join(g->thread, NULL);
        g->started = false;
    }
    for (size_t i = 0; g->uds && i < g->cfg->n_sinks; i++) {
        ts_agent__uds_free(g->uds[i]);
        g->uds[i] = NULL;
    }
}

void ts_agent__graph_free(ts_agent__graph *g)
{
    if (!g)
        return;
    ts_agent__graph_stop(g);
    for (size_t i = 0; g->clients && i < g->cfg->n_sources; i++)
        ts_agent__client_free(g->clients[i]);
    for (size_t i = 0; g->slots && i < g->n_slots; i++) {
        if (g->slots[i].tokens) {
            ts_agent__tokens_clear(g->slots[i].tokens, g->cfg->sources[i].n_tokens);
            free(g->slots[i].tokens);
        }
        pthread_mutex_destroy(&g->slots[i].mu);
    }
    free(g->slots);
    free(g->clients);
    free(g->due_ms);
    free(g->sink_stats);
    free(g->uds);
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

const ts_agent_config *ts_agent__graph_config(const ts_agent__graph *g)
{
    return g->cfg;
}

ts_agent__log *ts_agent__graph_log(const ts_agent__graph *g)
{
    return g->log;
}

int64_t ts_agent__graph_now_ms(const ts_agent__graph *g)
{
    if (g->hooks.now_ms)
        return g->hooks.now_ms(g->hooks.now_ud);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

ts_agent__slot *ts_agent__graph_slot(ts_agent__graph *g, size_t source)
{
    return &g->slots[source];
}

ts_agent__sink_stats *ts_agent__graph_sink_stats(ts_agent__graph *g, size_t sink)
{
    return &g->sink_stats[sink];
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool ts_agent__graph_alive(const ts_agent__graph *g, int64_t max_ms)
{
    int64_t hb = atomic_load(&g->heartbeat_ms);
    /* hb < 0: waiting for the next due time, which is being alive. A fetch is bounded by
     * request_timeout_ms, so a beat older than that and max_ms means the thread is stuck. */
    return hb < 0 || mono_ms() - hb <= max_ms + (int64_t)g->cfg->settings.request_timeout_ms;
}

void ts_agent__graph_kick(ts_agent__graph *g)
{
    pthread_mutex_lock(&g->mu);
    g->kick = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

void ts_agent__graph_beat(ts_agent__graph *g, bool waiting)
{
    atomic_store(&g->heartbeat_ms, waiting ? -1 : mono_ms());
}
