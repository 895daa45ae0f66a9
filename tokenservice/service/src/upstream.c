/* Upstream OpenID providers: the current configuration generation, swapped atomically. */
#define _GNU_SOURCE

#include "svc_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

void ts_svc__gen_release(ts_svc *s, oidc_gen *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&s->oidc_mu);
    bool last = --g->refs == 0;
    pthread_mutex_unlock(&s->oidc_mu);
    if (last) {
        ts_oidc_free(g->rp);
        ts_oidc_config_free(g->cfg);
        free(g);
    }
}

oidc_gen *ts_svc__gen_acquire(ts_svc *s)
{
    pthread_mutex_lock(&s->oidc_mu);
    oidc_gen *g = s->oidc;
    if (g)
        g->refs++;
    pthread_mutex_unlock(&s->oidc_mu);
    return g;
}

/* Install @p g (reference passed in) as the current generation. */
void ts_svc__gen_install(ts_svc *s, oidc_gen *g)
{
    pthread_mutex_lock(&s->oidc_mu);
    oidc_gen *old = s->oidc;
    s->oidc = g;
    pthread_mutex_unlock(&s->oidc_mu);
    ts_svc__gen_release(s, old);
}

/* A provider without its own group_scopes maps groups through the service's groupScopes. */
static void fill_group_scopes(const ts_svc_config *c, json_t *providers)
{
    size_t i;
    json_t *p;
    json_array_foreach(providers, i, p)
    {
        if (!json_is_object(p) || json_object_get(p, "group_scopes"))
            continue;
        json_t *gs = json_object();
        for (unsigned g = 0; g < c->n_groups; g++) {
            json_t *list = json_array();
            const char *t = c->group_scopes[g];
            while (*t) {
                size_t l = strcspn(t, " ");
                if (l)
                    json_array_append_new(list, json_stringn(t, l));
                t += l;
                t += strspn(t, " ");
            }
            json_object_set_new(gs, c->groups[g], list);
        }
        json_object_set_new(p, "group_scopes", gs);
    }
}

/* Parse a provider configuration (the ts_oidc format) into a new generation. A configuration
 * without providers gives *out = NULL: the upstream exchange is off. */
ts_status ts_svc__gen_build(const ts_svc_config *c, json_t *doc, const char *source, oidc_gen **out,
                            ts_error *err)
{
    *out = NULL;
    json_t *providers = json_object_get(doc, "providers");
    if (json_is_array(providers)) {
        if (json_array_size(providers) == 0 && json_object_size(doc) == 1)
            return TS_OK;
        fill_group_scopes(c, providers);
    }
    char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text)
        return ts_error_set(err, TS_ENOMEM, "oidc", "out of memory");
    ts_oidc_config *cfg = ts_oidc_config_parse(text, strlen(text), err);
    OPENSSL_cleanse(text, strlen(text)); /* may hold client secrets */
    free(text);
    if (!cfg)
        return err && err->code != TS_OK ? err->code : TS_EINVAL;
    ts_oidc *rp = ts_oidc_new(cfg, NULL, err);
    if (!rp) {
        ts_oidc_config_free(cfg);
        return err && err->code != TS_OK ? err->code : TS_EINTERNAL;
    }
    oidc_gen *g = calloc(1, sizeof *g);
    if (!g) {
        ts_oidc_free(rp);
        ts_oidc_config_free(cfg);
        return ts_error_set(err, TS_ENOMEM, "oidc", "out of memory");
    }
    g->cfg = cfg;
    g->rp = rp;
    g->refs = 1;
    snprintf(g->source, sizeof g->source, "%s", source);
    *out = g;
    return TS_OK;
}

ts_status ts_svc__gen_build_text(const ts_svc_config *c, const char *text, size_t len,
                                 const char *source, oidc_gen **out, ts_error *err)
{
    json_error_t je;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return ts_error_set(err, TS_EPARSE, source, "line %d: %s", je.line,
                            doc ? "not a JSON object" : je.text);
    }
    ts_status st = ts_svc__gen_build(c, doc, source, out, err);
    json_decref(doc);
    return st;
}

/* The providers: the configuration in the store (written by the admin API of any replica,
 * oidc_shared.c) wins; without one, the state file an older tokensmith's admin API wrote; then
 * the configuration file. Before the store is open (at start) only the last two are consulted;
 * ts_svc__oidc_shared_start() then applies the store's. *version receives the store's version
 * used (0: none). */
static ts_status build_current(ts_svc *s, oidc_gen **out, const char **source, int64_t *version,
                               ts_error *err)
{
    char *text = NULL;
    size_t len = 0;
    ts_error e;
    ts_error_clear(&e);
    *out = NULL;
    *version = 0;
    if (s->store) {
        ts_store_oidc_config_meta m;
        ts_status st = ts_store_oidc_config_get(s->store, 0, &text, &len, &m, err);
        if (st != TS_OK)
            return st;
        if (text) {
            st = ts_svc__gen_build_text(&s->cfg, text, len, "admin", out, &e);
            OPENSSL_cleanse(text, len);
            ts_free(text);
            if (source)
                *source = "store";
            if (st != TS_OK) /* e.where only: the parser's message could quote the document */
                return ts_error_set(err, st, "store",
                                    "stored provider configuration version "
                                    "%lld is invalid at %s",
                                    (long long)m.version, e.where);
            *version = m.version;
            return TS_OK;
        }
    }
    ts_status st = ts_svc_read_file(s->oidc_state, TS_OIDC_MAX_CONFIG_BYTES, &text, &len, &e);
    const char *src = s->oidc_state;
    if (st == TS_OK) {
        st = ts_svc__gen_build_text(&s->cfg, text, len, "admin", out, &e);
        OPENSSL_cleanse(text, len);
        free(text);
    } else if (st == TS_ENOTFOUND) {
        ts_error_clear(&e);
        src = "oidc";
        st = s->cfg.oidc[0] ? ts_svc__gen_build_text(&s->cfg, s->cfg.oidc, strlen(s->cfg.oidc),
                                                     "config", out, &e)
                            : TS_OK;
    } else {
        if (err)
            *err = e;
        return st;
    }
    if (source)
        *source = src;
    if (st != TS_OK)
        return ts_error_set(err, st, src, "%s: %s", e.where, e.msg);
    return TS_OK;
}

ts_status ts_svc__load_oidc(ts_svc *s, ts_error *err)
{
    oidc_gen *g = NULL;
    int64_t v = 0;
    ts_status st = build_current(s, &g, NULL, &v, err);
    if (st == TS_OK) {
        s->oidc = g;
        s->oidc_version = v;
    }
    return st;
}

ts_status ts_svc__reload_oidc(ts_svc *s, const char **source, ts_error *err)
{
    /* One configuration change at a time: the admin API takes the same lock. */
    pthread_mutex_lock(&s->admin_mu);
    oidc_gen *g = NULL;
    int64_t v = 0;
    ts_status st = build_current(s, &g, source, &v, err);
    /* A store that holds no configuration leaves the state file or configuration file in use;
     * one that does is never replaced by them. */
    if (st == TS_OK && (v > 0 || s->oidc_version == 0)) {
        ts_svc__gen_install(s, g);
        s->oidc_version = v;
    } else if (st == TS_OK) {
        ts_svc__gen_release(s, g);
    }
    pthread_mutex_unlock(&s->admin_mu);
    return st;
}
