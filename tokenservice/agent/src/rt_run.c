/* `tokensmith agent`'s process: the configuration's graph, the listener that outlives it across
 * reloads, the listener's TLS pair (reread on SIGHUP and when its files change), the signals
 * (SIGHUP reloads, SIGTERM and SIGINT drain), systemd notifications and the watchdog. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent_runtime.h"
#include "common/notify.h"
#include "common/tls_conn.h"
#include "common/tls_server.h"
#include "rt_internal.h"

typedef struct runner {
    const char *path;
    ts_agent__log *log;
    /* The listener's handlers read the graph under the read lock; a reload swaps it under the
     * write lock. */
    pthread_rwlock_t lock;
    ts_agent_config *cfg;
    ts_agent__graph *g;
    ts_agent__listener *listener;
    ts_common__tls *tls; /* settings.tls_cert_file's pair, or NULL */
    ts_common__tls_conn_options tls_opts;
    ts_common__tls_handshake_counters tls_counters; /* the listener's sessions (its /metrics) */
    atomic_uint_fast64_t reloads_ok, reloads_refused;
} runner;

static ts_agent__graph *acquire(void *ud)
{
    runner *r = ud;
    pthread_rwlock_rdlock(&r->lock);
    return r->g;
}

static void release(void *ud)
{
    pthread_rwlock_unlock(&((runner *)ud)->lock);
}

static void reloads(void *ud, uint64_t *ok, uint64_t *refused)
{
    runner *r = ud;
    *ok = atomic_load(&r->reloads_ok);
    *refused = atomic_load(&r->reloads_refused);
}

static void first_pass(void *ud)
{
    (void)ud;
    ts_common__notify("READY=1");
}

static const ts_agent__graph_hooks graph_hooks = {.on_first_pass = first_pass};

static ts_status load(const char *path, ts_agent_config **out, ts_error *err)
{
    return ts_agent_config_load(path, NULL, out, err);
}

static void error_text(const ts_error *e, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s%s%s", e->where, *e->where ? ": " : "", e->msg);
}

static ts_agent__listener *open_listener(runner *r, const ts_agent_config *cfg, ts_error *err)
{
    if (!*cfg->settings.listen)
        return NULL;
    ts_agent__listener_hooks h = {
        .acquire = acquire, .release = release, .reloads = reloads, .ud = r};
    return ts_agent__listener_new(cfg->settings.listen, &h, r->tls ? &r->tls_opts : NULL, err);
}

/* Remove the files of the file sinks of @p old that @p cur no longer has. */
static void drop_old_files(runner *r, const ts_agent_config *old, const ts_agent_config *cur)
{
    for (size_t k = 0; k < old->n_sinks; k++) {
        const ts_agent_sink *o = &old->sinks[k];
        if (o->type != TS_AGENT_SINK_FILE)
            continue;
        bool kept = false;
        for (size_t j = 0; j < cur->n_sinks && !kept; j++)
            kept = cur->sinks[j].type == TS_AGENT_SINK_FILE &&
                   strcmp(cur->sinks[j].path, o->path) == 0;
        if (!kept && unlink(o->path) == 0)
            TS_AGENT_LOG(r->log, TS_AGENT_LOG_INFO, "sink removed", TS_KS("sink", o->id),
                         TS_KS("reason", "reload"));
    }
}

/* A refused reload: logged with its reason and counted (the metric of refused reloads). */
static void refuse_reload(runner *r, const ts_error *err)
{
    char msg[400];
    error_text(err, msg, sizeof msg);
    TS_AGENT_LOG(r->log, TS_AGENT_LOG_ERROR, "reload refused", TS_KS("config", r->path),
                 TS_KS("error", msg));
    atomic_fetch_add(&r->reloads_refused, 1);
}

/* The pair's log line: serial, subject, expiry, key type (no key material). */
static void log_tls(runner *r, const char *msg, const ts_common__tls_info *ti)
{
    TS_AGENT_LOG(r->log, TS_AGENT_LOG_INFO, msg, TS_KS("tls_serial", ti->serial),
                 TS_KS("tls_subject", ti->subject), TS_KI("tls_not_after", ti->not_after),
                 TS_KS("tls_key_type", ti->key_type), TS_KI("tls_chain", ti->chain));
}

/* SIGHUP (@p forced) or the periodic look at the files: a new pair applies to the next
 * handshake; one that does not load is refused and the running one kept. */
static void reload_tls(runner *r, bool forced)
{
    if (!r->tls)
        return;
    ts_common__tls_info ti;
    ts_error err;
    ts_error_clear(&err);
    if (ts_common__tls_reload(r->tls, !forced, &ti, &err) != TS_OK) {
        char msg[400];
        error_text(&err, msg, sizeof msg);
        TS_AGENT_LOG(r->log, TS_AGENT_LOG_ERROR,
                     "tls reload failed: the running certificate is kept", TS_KS("error", msg));
    } else if (ti.changed) {
        log_tls(r, "tls certificate reloaded", &ti);
    }
}

/* With settings.tls_cert_file: the pair, and the sessions the listener makes with it. */
static ts_status open_tls(runner *r, ts_error *err)
{
    const ts_agent_settings *st = &r->cfg->settings;
    if (!*st->tls_cert_file)
        return TS_OK;
    ts_common__tls_info ti;
    r->tls = ts_common__tls_new(st->tls_cert_file, st->tls_key_file, false,
                                "settings.tls_cert_file", "settings.tls_key_file", &ti, err);
    if (!r->tls)
        return err && err->code ? err->code : TS_EINVAL;
    r->tls_opts = (ts_common__tls_conn_options){.cred = ts_common__tls_credentials(r->tls),
                                                .priority = ts_common__tls_priority(r->tls),
                                                .client_auth = TS_COMMON__TLS_CLIENT_NONE,
                                                .ticket_key = ts_common__tls_ticket_key(r->tls),
                                                .counters = &r->tls_counters};
    log_tls(r, "tls", &ti);
    return TS_OK;
}

static void reload(runner *r)
{
    ts_common__notify("RELOADING=1");
    TS_AGENT_LOG(r->log, TS_AGENT_LOG_INFO, "reloading", TS_KS("config", r->path));
    ts_error err;
    ts_error_clear(&err);
    ts_agent_config *cfg = NULL;
    ts_agent__listener *nl = NULL;
    bool new_listen = false;
    ts_status st = load(r->path, &cfg, &err);
    /* One pair per process, opened at start: other files (or TLS turned on or off) need a
     * restart; the files themselves are reread below. */
    if (st == TS_OK && (strcmp(cfg->settings.tls_cert_file, r->cfg->settings.tls_cert_file) != 0 ||
                        strcmp(cfg->settings.tls_key_file, r->cfg->settings.tls_key_file) != 0))
        st = ts_error_set(&err, TS_EINVAL, "settings.tls_cert_file",
                          "tls_cert_file and tls_key_file take effect at a restart, not a reload");
    if (st == TS_OK && strcmp(cfg->settings.listen, r->cfg->settings.listen) != 0) {
        new_listen = true;
        if (*cfg->settings.listen && !(nl = open_listener(r, cfg, &err)))
            st = err.code ? err.code : TS_EIO;
    }
    if (st != TS_OK) {
        refuse_reload(r, &err);
        ts_agent_config_free(cfg);
        ts_common__notify("READY=1");
        return;
    }
    /* The old graph drains first: its clients hold the locks of the state files that the new
     * one's clients take. Meanwhile the listener answers 503. */
    pthread_rwlock_wrlock(&r->lock);
    ts_agent__graph *old = r->g;
    r->g = NULL;
    pthread_rwlock_unlock(&r->lock);
    ts_agent__graph_free(old);
    ts_agent__log_set(r->log, cfg->settings.log_level, cfg->settings.log_format);
    ts_agent__graph *g = ts_agent__graph_new(cfg, r->log, &graph_hooks, &err);
    if (!g) {
        /* The machine refused what the check let through (a socket taken meanwhile): go back
         * to the old configuration. */
        refuse_reload(r, &err);
        ts_agent__listener_free(nl);
        ts_agent_config_free(cfg);
        ts_agent__log_set(r->log, r->cfg->settings.log_level, r->cfg->settings.log_format);
        ts_error_clear(&err);
        g = ts_agent__graph_new(r->cfg, r->log, &graph_hooks, &err);
        if (g && ts_agent__graph_start(g, &err) != TS_OK) {
            ts_agent__graph_free(g);
            g = NULL;
        }
        pthread_rwlock_wrlock(&r->lock);
        r->g = g;
        pthread_rwlock_unlock(&r->lock);
        if (!g) {
            char msg[400];
            error_text(&err, msg, sizeof msg);
            TS_AGENT_LOG(r->log, TS_AGENT_LOG_ERROR, "cannot restart the old configuration",
                         TS_KS("error", msg));
        }
        return;
    }
    drop_old_files(r, r->cfg, cfg);
    pthread_rwlock_wrlock(&r->lock);
    ts_agent__listener *old_listener = new_listen ? r->listener : NULL;
    if (new_listen)
        r->listener = nl;
    ts_agent_config *old_cfg = r->cfg;
    r->cfg = cfg;
    r->g = g;
    pthread_rwlock_unlock(&r->lock);
    ts_agent__listener_free(old_listener);
    ts_agent_config_free(old_cfg);
    atomic_fetch_add(&r->reloads_ok, 1);
    TS_AGENT_LOG(r->log, TS_AGENT_LOG_INFO, "reloaded", TS_KS("config", r->path));
    if (ts_agent__graph_start(g, &err) != TS_OK)
        TS_AGENT_LOG(r->log, TS_AGENT_LOG_ERROR, "cannot start the refresh thread",
                     TS_KS("error", err.msg));
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Until SIGTERM or SIGINT: reloads on SIGHUP, the watchdog's beat while the refresh thread
 * lives. */
static void loop(runner *r, const sigset_t *set)
{
    int64_t wd = ts_common__watchdog_interval_ms(), next_wd = mono_ms();
    const int64_t tls_every = TS_COMMON__TLS_CHECK_S * INT64_C(1000);
    int64_t next_tls = r->tls ? mono_ms() + tls_every : INT64_MAX;
    for (;;) {
        int64_t until = wd ? next_wd : mono_ms() + 3600000;
        if (next_tls < until)
            until = next_tls;
        int64_t wait = until - mono_ms();
        if (wait < 0)
            wait = 0;
        struct timespec to = {(time_t)(wait / 1000), (long)(wait % 1000) * 1000000L};
        int sig = sigtimedwait(set, NULL, &to);
        if (sig == SIGTERM || sig == SIGINT)
            return;
        if (sig == SIGHUP) {
            reload(r);
            reload_tls(r, true);
        }
        if (r->tls && mono_ms() >= next_tls) {
            reload_tls(r, false);
            next_tls = mono_ms() + tls_every;
        }
        if (wd && mono_ms() >= next_wd) {
            pthread_rwlock_rdlock(&r->lock);
            bool alive = r->g && ts_agent__graph_alive(r->g, 2 * wd);
            pthread_rwlock_unlock(&r->lock);
            if (alive)
                ts_common__notify("WATCHDOG=1");
            next_wd = mono_ms() + wd;
        }
    }
}

ts_status ts_agent_run(const char *config_path, ts_error *err)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    /* Before any thread starts: every thread inherits the mask, so the signals wait for
     * sigtimedwait() instead of killing the process. */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    runner r;
    memset(&r, 0, sizeof r);
    r.path = config_path;
    pthread_rwlock_init(&r.lock, NULL);
    atomic_init(&r.reloads_ok, 0);
    atomic_init(&r.reloads_refused, 0);
    ts_status st = load(config_path, &r.cfg, err);
    if (st != TS_OK)
        goto out;
    if (!(r.log = ts_agent__log_new(2, r.cfg->settings.log_level, r.cfg->settings.log_format))) {
        st = ts_error_set(err, TS_ENOMEM, "agent", "out of memory");
        goto out;
    }
    if ((st = open_tls(&r, err)) != TS_OK)
        goto out;
    if (*r.cfg->settings.listen && !(r.listener = open_listener(&r, r.cfg, err))) {
        st = err && err->code ? err->code : TS_EIO;
        goto out;
    }
    if (!(r.g = ts_agent__graph_new(r.cfg, r.log, &graph_hooks, err))) {
        st = err && err->code ? err->code : TS_EIO;
        goto out;
    }
    char listen[80] = "none";
    if (r.listener) {
        const char *c = strrchr(r.cfg->settings.listen, ':');
        snprintf(listen, sizeof listen, "%.*s:%u", (int)(c - r.cfg->settings.listen),
                 r.cfg->settings.listen, ts_agent__listener_port(r.listener));
    }
    TS_AGENT_LOG(r.log, TS_AGENT_LOG_INFO, "agent started", TS_KS("config", config_path),
                 TS_KS("listen", listen), TS_KI("sources", r.cfg->n_sources),
                 TS_KI("sinks", r.cfg->n_sinks));
    if ((st = ts_agent__graph_start(r.g, err)) != TS_OK)
        goto out;
    loop(&r, &set);
    ts_common__notify("STOPPING=1");
    ts_agent__log_line(r.log, TS_AGENT_LOG_INFO, "stopping", NULL, 0);
out:
    pthread_rwlock_wrlock(&r.lock);
    ts_agent__graph *g = r.g;
    r.g = NULL;
    pthread_rwlock_unlock(&r.lock);
    ts_agent__graph_free(g);
    ts_agent__listener_free(r.listener);
    ts_common__tls_free(r.tls); /* after the listener that used it */
    if (st == TS_OK)
        ts_agent__log_line(r.log, TS_AGENT_LOG_INFO, "stopped", NULL, 0);
    ts_agent_config_free(r.cfg);
    ts_agent__log_free(r.log);
    pthread_rwlock_destroy(&r.lock);
    return st;
}
