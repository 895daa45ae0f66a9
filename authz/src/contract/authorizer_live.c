/* The authorizer's side of the guard's live policy (live.h): rebuilds that swap only a new
 * policy_version, for the watcher and for rules changed at run time. */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "contract/authorizer_state.h"

int64_t ts_authz__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

ts_status ts_authz__authorizer_rebuild(ts_authz_authorizer *a, bool set_runtime,
                                       const char *runtime, size_t runtime_len, bool dry_run,
                                       ts_authz__rebuild *out, ts_error *err)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&a->reload_lock);
    memcpy(out->previous, a->cur->bundle->version, sizeof out->previous);
    memcpy(out->current, out->previous, sizeof out->current);
    char *keep = NULL;
    if (set_runtime && runtime_len > 0 && !dry_run) {
        if (!(keep = malloc(runtime_len))) {
            pthread_mutex_unlock(&a->reload_lock);
            return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
        }
        memcpy(keep, runtime, runtime_len);
    }
    ts_authz__state *s = set_runtime ? ts_authz__state_build(a, runtime, runtime_len, err)
                                     : ts_authz__state_build(a, a->runtime, a->runtime_len, err);
    if (!s) {
        if (!dry_run)
            atomic_fetch_add(&a->reload_failures, 1);
        pthread_mutex_unlock(&a->reload_lock);
        free(keep);
        return err && err->code != TS_OK ? err->code : TS_EINVAL;
    }
    out->p_rules = s->p_rules;
    out->g_rules = s->g_rules;
    memcpy(out->current, s->bundle->version, sizeof out->current);
    out->changed = strcmp(out->previous, out->current) != 0;
    if (!dry_run && set_runtime) {
        free(a->runtime);
        a->runtime = keep;
        a->runtime_len = keep ? runtime_len : 0;
    }
    if (dry_run || !out->changed) {
        /* The same bytes: the state in force stays, with its load time and cached decisions. */
        ts_authz__state_unref(s);
        pthread_mutex_unlock(&a->reload_lock);
        return TS_OK;
    }
    s->gen = a->cur->gen + 1;
    pthread_mutex_lock(&a->lock);
    ts_authz__state *old = a->cur;
    a->cur = s;
    atomic_store(&a->gen, s->gen);
    pthread_mutex_unlock(&a->lock);
    ts_authz__state_unref(old);
    atomic_fetch_add(&a->reloads, 1);
    pthread_mutex_unlock(&a->reload_lock);
    return TS_OK;
}

const ts_authz_source_options *ts_authz__authorizer_source(const ts_authz_authorizer *a)
{
    return &a->src;
}

int64_t ts_authz__authorizer_loaded_at(const ts_authz_authorizer *a)
{
    ts_authz__state *s = ts_authz__state_acquire(a);
    int64_t t = s->loaded_at;
    ts_authz__state_unref(s);
    return t;
}
