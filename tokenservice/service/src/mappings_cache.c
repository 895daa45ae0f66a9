/* The replica's cache of the token mappings (mappings_cache.h). One mutex guards the pointer
 * and the schedule; the store is read outside it, by the one exchange that found the interval
 * passed (single flight), and the set it builds replaces the current one by pointer swap: an
 * exchange in flight keeps its reference to the old set, freed when the last one lets go. */
#define _GNU_SOURCE

#include "mappings_cache.h"

#include "svc_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mappings.h"

struct ts_svc_map_cache {
    pthread_mutex_t mu;
    ts_svc_map_set *cur; /* never NULL */
    uint64_t due_ms;     /* monotonic time of the next read */
    bool loading;        /* an exchange is reading the store */
    bool failing;        /* the last read failed (logged once per run of failures) */
    /* A stored version that failed the model's check (written by a newer tokensmith, say):
     * not read again until the version moves. */
    int64_t bad_version;
};

/* Read the store: *out a new set when a newer version is stored, NULL when unchanged. */
static ts_status read_store(ts_svc *s, int64_t have, int64_t bad, ts_svc_map_set **out,
                            int64_t *version, ts_error *err)
{
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    ts_store_mappings_meta meta;
    ts_status st = ts_store_mappings_get(s->store, have, &text, &len, &meta, err);
    if (st != TS_OK)
        return st;
    *version = meta.version;
    if (meta.version == bad && bad != 0) {
        ts_free(text);
        return ts_error_set(err, TS_EINVAL, "mappings", "stored version %lld was refused",
                            (long long)bad);
    }
    if (!text) {
        if (meta.version == have)
            return TS_OK;
        /* Older than ours (a restored database) or none any more: what the store says wins. */
        *out = ts_svc_map_set_empty(meta.version);
        return *out ? TS_OK : ts_error_set(err, TS_ENOMEM, "mappings", "out of memory");
    }
    json_t *doc = ts_svc_map_parse(text, len, TS_SVC_MAP_DOC_MAX, "stored mappings", err);
    ts_free(text);
    if (!doc)
        return err->code ? err->code : TS_EINVAL;
    st = ts_svc_map_doc_check(doc, err);
    if (st == TS_OK && !(*out = ts_svc_map_set_new(doc, meta.version, err)))
        st = TS_ENOMEM;
    json_decref(doc);
    return st;
}

static void reload(ts_svc *s, struct ts_svc_map_cache *c)
{
    pthread_mutex_lock(&c->mu);
    int64_t have = c->cur->version, bad = c->bad_version;
    pthread_mutex_unlock(&c->mu);
    ts_error e;
    ts_error_clear(&e);
    ts_svc_map_set *fresh = NULL;
    int64_t version = have;
    ts_status st = read_store(s, have, bad, &fresh, &version, &e);
    ts_svc_map_set *old = NULL;
    json_t *f = NULL;
    pthread_mutex_lock(&c->mu);
    if (st == TS_OK) {
        if (c->failing) {
            f = json_object();
            json_object_set_new(f, "mappings_version", json_integer(version));
        }
        c->failing = false;
        if (fresh) {
            old = c->cur;
            c->cur = fresh;
        }
    } else if (!c->failing) {
        c->failing = true;
        /* The model's refusal of a stored version is remembered; a store outage is not. */
        if (st == TS_EINVAL || st == TS_ELIMIT)
            c->bad_version = version;
        f = json_object();
        json_object_set_new(f, "reason", json_string(e.msg));
        json_object_set_new(f, "field", json_string(e.where));
        json_object_set_new(f, "mappings_version_in_use", json_integer(c->cur->version));
    }
    c->due_ms = ts_svc__mono_ms() + TS_SVC_MAPS_REFRESH_MS;
    c->loading = false;
    pthread_mutex_unlock(&c->mu);
    if (fresh) {
        json_t *g = json_object();
        json_object_set_new(g, "mappings_version", json_integer(fresh->version));
        json_object_set_new(g, "identity_rules", json_integer((json_int_t)fresh->n_rules));
        ts_svc__log_event(s, "info", "mappings loaded", g);
    }
    if (f) {
        ts_svc__log_event(s, st == TS_OK ? "info" : "warn",
                          st == TS_OK ? "mappings readable again"
                                      : "cannot read the mappings; the last good ones stay in use",
                          f);
    }
    ts_svc_map_set_free(old);
}

ts_status ts_svc__maps_start(ts_svc *s, ts_error *err)
{
    struct ts_svc_map_cache *c = calloc(1, sizeof *c);
    if (!c || !(c->cur = ts_svc_map_set_empty(0))) {
        free(c);
        return ts_error_set(err, TS_ENOMEM, "mappings", "out of memory");
    }
    pthread_mutex_init(&c->mu, NULL);
    c->loading = true;
    s->maps = c;
    reload(s, c);
    return TS_OK;
}

void ts_svc__maps_stop(ts_svc *s)
{
    struct ts_svc_map_cache *c = s->maps;
    if (!c)
        return;
    s->maps = NULL;
    ts_svc_map_set_free(c->cur);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

ts_svc_map_set *ts_svc__maps_acquire(ts_svc *s)
{
    struct ts_svc_map_cache *c = s->maps;
    if (!c)
        return NULL;
    pthread_mutex_lock(&c->mu);
    bool lead = !c->loading && ts_svc__mono_ms() >= c->due_ms;
    if (lead)
        c->loading = true;
    pthread_mutex_unlock(&c->mu);
    if (lead)
        reload(s, c);
    pthread_mutex_lock(&c->mu);
    ts_svc_map_set *m = ts_svc_map_set_ref(c->cur);
    pthread_mutex_unlock(&c->mu);
    return m;
}

void ts_svc__maps_changed(ts_svc *s)
{
    struct ts_svc_map_cache *c = s ? s->maps : NULL;
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->due_ms = 0;
    pthread_mutex_unlock(&c->mu);
}
