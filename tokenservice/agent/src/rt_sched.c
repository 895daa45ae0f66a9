/* The refresh thread of a graph: every source on its own schedule, fetched in the
 * configuration's order (inputs first) by this one thread, so that a source is never fetched
 * twice at once; a new token makes its dependants due at once; a failure waits a full-jitter
 * backoff; a token past its expiry without a replacement is dropped from the sinks. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/digest.h"
#include "rt_graph.h"

static uint64_t next_rand(ts_agent__graph *g)
{
    uint64_t x = g->rng; /* xorshift64: jitter needs spread, not secrecy */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    g->rng = x;
    return x;
}

static int64_t rand_upto(ts_agent__graph *g, int64_t max)
{
    return max > 0 ? (int64_t)(next_rand(g) % (uint64_t)(max + 1)) : 0;
}

/* When a token obtained at @p now, expiring at @p exp (ms), is refreshed (docs/agent.md,
 * "Refreshing"). */
static int64_t refresh_at(ts_agent__graph *g, const ts_agent_source *src, int64_t now, int64_t exp)
{
    int64_t life = exp - now, margin = src->safety_margin_seconds * 1000;
    int64_t jitter = rand_upto(g, life / 10);
    int64_t at = life <= 2 * margin ? now + life / 2 - jitter : exp - margin - jitter;
    return at < now + 250 ? now + 250 : at; /* never a busy loop on a very short token */
}

/* Full jitter: a random wait in [0, min(max, base * 2^(n-1))]. */
static int64_t backoff_ms(ts_agent__graph *g, unsigned n)
{
    const ts_agent_settings *s = &g->cfg->settings;
    int64_t cap = s->retry_base_delay_ms;
    for (unsigned k = 1; k < n && cap < (int64_t)s->retry_max_delay_ms; k++)
        cap *= 2;
    if (cap > (int64_t)s->retry_max_delay_ms)
        cap = s->retry_max_delay_ms;
    return rand_upto(g, cap);
}

static void refresh(ts_agent__graph *g, size_t i, int64_t now)
{
    const ts_agent_source *src = &g->cfg->sources[i];
    ts_agent__token *fresh = calloc(src->n_tokens, sizeof *fresh);
    ts_error err;
    ts_error_clear(&err);
    ts_status st;
    if (!fresh)
        st = ts_error_set(&err, TS_ENOMEM, src->id, "out of memory");
    else if (g->clients[i])
        st = ts_agent__client_fetch(g->clients[i], fresh, &err);
    else
        st = ts_agent__fetch_http_file(g, i, &g->stop, fresh, &err);
    ts_agent__slot *s = &g->slots[i];
    if (st != TS_OK) {
        free(fresh);
        if (atomic_load(&g->stop))
            return; /* ended by a stop or a reload: not a failure of the source */
        pthread_mutex_lock(&s->mu);
        s->failures++;
        unsigned n = ++s->consecutive_failures;
        pthread_mutex_unlock(&s->mu);
        int64_t wait = backoff_ms(g, n);
        g->due_ms[i] = now + wait;
        char msg[400];
        /* A URL may carry a secret in its query: an error that names one by its URL is
         * logged without it (the source names the request). */
        bool url = strstr(err.where, "://") != NULL;
        snprintf(msg, sizeof msg, "%s%s%s", url ? "" : err.where, *err.where && !url ? ": " : "",
                 err.msg);
        TS_AGENT_LOG(g->log, TS_AGENT_LOG_WARN, "fetch failed", TS_KS("source", src->id),
                     TS_KS("error", msg), TS_KI("failures", n), TS_KI("retry_in_ms", wait));
        return;
    }
    int64_t exp = INT64_MAX;
    for (size_t k = 0; k < src->n_tokens; k++)
        if (fresh[k].expires_at < exp)
            exp = fresh[k].expires_at;
    pthread_mutex_lock(&s->mu);
    ts_agent__tokens_clear(s->tokens, src->n_tokens);
    free(s->tokens);
    s->tokens = fresh;
    s->valid = true;
    s->generation++;
    s->expires_at = exp;
    s->refreshes++;
    s->consecutive_failures = 0;
    s->last_success = now / 1000;
    pthread_mutex_unlock(&s->mu);
    int64_t at = refresh_at(g, src, now, exp * 1000);
    g->due_ms[i] = at;
    for (size_t k = 0; k < src->n_tokens; k++) {
        char h[9];
        ts_common__sha256_prefix(fresh[k].value, fresh[k].len, h);
        TS_AGENT_LOG(g->log, TS_AGENT_LOG_INFO, "token obtained", TS_KS("source", src->id),
                     TS_KS("token", src->tokens[k].id), TS_KS("sha256", h),
                     TS_KI("expires_at", fresh[k].expires_at),
                     TS_KI("refresh_in_s", (at - now) / 1000));
    }
    /* Dependants come later in the order: they are fetched in this pass, with this token. */
    for (size_t j = 0; j < g->cfg->n_sources; j++)
        for (size_t k = 0; k < g->cfg->sources[j].n_inputs; k++)
            if (g->cfg->sources[j].input_index[k] == i)
                g->due_ms[j] = now;
    ts_agent__file_sinks_update(g, i, NULL);
}

/* Drop the tokens of every source whose earliest token has expired. */
static void expire(ts_agent__graph *g, int64_t now)
{
    for (size_t i = 0; i < g->cfg->n_sources; i++) {
        ts_agent__slot *s = &g->slots[i];
        bool dropped = false;
        pthread_mutex_lock(&s->mu);
        if (s->valid && s->expires_at * 1000 <= now) {
            ts_agent__tokens_clear(s->tokens, g->cfg->sources[i].n_tokens);
            s->valid = false;
            dropped = true;
        }
        pthread_mutex_unlock(&s->mu);
        if (!dropped)
            continue;
        for (size_t k = 0; k < g->cfg->sources[i].n_tokens; k++)
            TS_AGENT_LOG(g->log, TS_AGENT_LOG_WARN, "token expired",
                         TS_KS("source", g->cfg->sources[i].id),
                         TS_KS("token", g->cfg->sources[i].tokens[k].id));
        ts_agent__file_sinks_update(g, i, "expired");
    }
}

static int64_t next_wake(ts_agent__graph *g)
{
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < g->cfg->n_sources; i++) {
        if (g->due_ms[i] < next)
            next = g->due_ms[i];
        ts_agent__slot *s = &g->slots[i];
        pthread_mutex_lock(&s->mu);
        if (s->valid && s->expires_at * 1000 < next)
            next = s->expires_at * 1000;
        pthread_mutex_unlock(&s->mu);
    }
    return next;
}

static void *run(void *arg)
{
    ts_agent__graph *g = arg;
    bool first = true;
    int64_t start = ts_agent__graph_now_ms(g);
    for (size_t i = 0; i < g->cfg->n_sources; i++)
        g->due_ms[i] = start;
    pthread_mutex_lock(&g->mu);
    while (!g->stop_req) {
        pthread_mutex_unlock(&g->mu);
        ts_agent__graph_beat(g, false);
        for (size_t k = 0; k < g->cfg->n_sources && !atomic_load(&g->stop); k++) {
            size_t i = g->cfg->order[k];
            int64_t now = ts_agent__graph_now_ms(g);
            if (g->due_ms[i] <= now) {
                /* Each fetch is bounded by request_timeout_ms; the watchdog allows one. */
                ts_agent__graph_beat(g, false);
                refresh(g, i, now);
            }
        }
        expire(g, ts_agent__graph_now_ms(g));
        if (first) {
            first = false;
            if (g->hooks.on_first_pass)
                g->hooks.on_first_pass(g->hooks.ud);
        }
        int64_t wait = next_wake(g) - ts_agent__graph_now_ms(g);
        /* A test clock moves by itself: look at it often. */
        int64_t cap = g->hooks.now_ms ? 50 : 3600000;
        if (wait > cap)
            wait = cap;
        pthread_mutex_lock(&g->mu);
        if (g->kick) {
            g->kick = false;
            int64_t now = ts_agent__graph_now_ms(g);
            for (size_t i = 0; i < g->cfg->n_sources; i++)
                g->due_ms[i] = now;
            continue;
        }
        if (wait <= 0 || g->stop_req)
            continue;
        ts_agent__graph_beat(g, true);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (wait % 1000) * 1000000;
        ts.tv_sec += (time_t)(wait / 1000 + ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        while (!g->stop_req && !g->kick) {
            if (pthread_cond_timedwait(&g->cv, &g->mu, &ts) == ETIMEDOUT)
                break;
        }
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

ts_status ts_agent__graph_start(ts_agent__graph *g, ts_error *err)
{
    if (g->started)
        return TS_OK;
    ts_agent__graph_beat(g, false); /* alive from its start, before its first beat */
    if (pthread_create(&g->thread, NULL, run, g) != 0)
        return ts_error_set(err, TS_EIO, "agent", "cannot start the refresh thread");
    g->started = true;
    return TS_OK;
}
