/*
 * The authorizer: principal + (object, action, domain) -> decision, over an immutable policy
 * state that reloads replace atomically. A state pairs an enforcer with the policy_version of
 * the bytes it was built from, so a decision and the version it reports always belong
 * together (no torn decision across a reload).
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/lru.h"
#include "contract/authorizer_state.h"
#include "contract/contract.h"
#include "contract/decision_key.h"
#include "model.h"

#define NO_ARG ((size_t)-1)

typedef ts_authz__state state; /* authorizer_state.h */

/* What the decision cache keeps of a result. Keys hold the generation of the policy state that
 * decided (a new policy_version is a new generation), so an entry of an old policy is never
 * returned and ages out; the entry keeps the version it reports. */
typedef struct cached_result {
    ts_authz_verdict decision;
    const char *reason; /* static */
    char policy_version[TS_AUTHZ_POLICY_VERSION_LEN + 1];
    char rule[sizeof(((ts_authz_result *)0)->rule)];
    char subject[sizeof(((ts_authz_result *)0)->subject)];
} cached_result;

void ts_authz__state_unref(state *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1) {
        ts_authz_enforcer_free(s->enforcer);
        ts_authz_bundle_free(s->bundle);
        free(s);
    }
}

state *ts_authz__state_acquire(const ts_authz_authorizer *ca)
{
    ts_authz_authorizer *a = (ts_authz_authorizer *)(uintptr_t)ca; /* the lock is not state */
    pthread_mutex_lock(&a->lock);
    state *s = a->cur;
    atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&a->lock);
    return s;
}

/* Find where sub, dom, obj and act go in the request definition. */
static ts_status map_request(state *s, const ts_authz_model *m, ts_error *err)
{
    const ts_model_def *r = ts_authz__model_find(&m->r, "r");
    s->i_sub = s->i_dom = s->i_obj = s->i_act = NO_ARG;
    if (!r)
        return ts_error_set(err, TS_EINVAL, m->name, "model has no request definition r");
    s->nargs = r->ntokens;
    for (size_t i = 0; i < r->ntokens; i++) {
        const char *t = r->tokens[i] + 2; /* after "r_" */
        if (strcmp(t, "sub") == 0)
            s->i_sub = i;
        else if (strcmp(t, "dom") == 0 || strcmp(t, "domain") == 0)
            s->i_dom = i;
        else if (strcmp(t, "obj") == 0)
            s->i_obj = i;
        else if (strcmp(t, "act") == 0)
            s->i_act = i;
        else
            return ts_error_set(err, TS_EUNSUPPORTED, m->name,
                                "request definition token '%s' is not one of sub, dom, obj, act",
                                t);
    }
    if (s->i_sub == NO_ARG || s->i_obj == NO_ARG || s->i_act == NO_ARG)
        return ts_error_set(err, TS_EUNSUPPORTED, m->name,
                            "request definition must name sub, obj and act");
    return TS_OK;
}

state *ts_authz__state_build(const ts_authz_authorizer *a, const char *runtime, size_t runtime_len,
                             ts_error *err)
{
    state *s = calloc(1, sizeof *s);
    if (!s) {
        ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    atomic_init(&s->refs, 1);
    s->loaded_at = ts_authz__now_ms();
    s->bundle = ts_authz__bundle_load_extra(&a->src, runtime, runtime_len, err);
    if (!s->bundle || map_request(s, s->bundle->model, err) != TS_OK ||
        !(s->enforcer = ts_authz__bundle_enforcer_fns(s->bundle, a->fns, a->nfns, err))) {
        ts_authz__state_unref(s);
        return NULL;
    }
    const ts_authz_model *m = s->bundle->model;
    for (size_t i = 0; i < m->p.n; i++)
        s->p_rules += ts_authz_enforcer_rule_count(s->enforcer, m->p.defs[i].key);
    for (size_t i = 0; i < m->g.n; i++)
        s->g_rules += ts_authz_enforcer_rule_count(s->enforcer, m->g.defs[i].key);
    return s;
}

void ts_authz__error_text(const ts_error *e, char *buf, size_t cap)
{
    if (e->where[0] && !strstr(e->msg, e->where))
        snprintf(buf, cap, "%s: %s", e->where, e->msg);
    else
        snprintf(buf, cap, "%s", e->msg[0] ? e->msg : ts_status_str(e->code));
}

static void log_state(ts_authz_authorizer *a, const char *event, const state *s,
                      const char *previous)
{
    ts_common__json b;
    ts_common__json_init(&b, TS_COMMON__JSON_ASCII);
    ts_common__json_kbool(&b, "ok", true);
    ts_common__json_kstr(&b, "policy_version", s->bundle->version);
    if (previous) {
        ts_common__json_kstr(&b, "previous_policy_version", previous);
        ts_common__json_kbool(&b, "changed", strcmp(previous, s->bundle->version) != 0);
    }
    ts_common__json_kstr(&b, "policy_source", s->bundle->source);
    ts_common__json_kstr(&b, "policy_location", s->bundle->location);
    ts_common__json_kuint(&b, "p_rules", s->p_rules);
    ts_common__json_kuint(&b, "g_rules", s->g_rules);
    if (!b.oom)
        ts_authz__log_event(a->log, a->log_ud, event, b.ptr, b.len);
    ts_common__json_cleanup(&b);
}

static bool copy_path(ts_authz_authorizer *a, size_t slot, const char **field)
{
    if (!*field)
        return true;
    size_t n = strlen(*field) + 1;
    a->owned[slot] = malloc(n);
    if (!a->owned[slot])
        return false;
    memcpy(a->owned[slot], *field, n);
    *field = a->owned[slot];
    return true;
}

ts_authz_authorizer *ts_authz_authorizer_new(const ts_authz_authorizer_options *o, ts_error *err)
{
    ts_authz_authorizer_options def = TS_AUTHZ_AUTHORIZER_OPTIONS_INIT;
    if (!o)
        o = &def;
    /* Version 1 ends before `functions`: those members are not read. */
    if (o->version != TS_AUTHZ_AUTHORIZER_OPTIONS_VERSION && o->version != 1u) {
        ts_error_set(err, TS_EINVAL, "authorizer options", "unsupported options version %u",
                     o->version);
        return NULL;
    }
    ts_authz_authorizer *a = calloc(1, sizeof *a);
    if (!a) {
        ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&a->lock, NULL);
    pthread_mutex_init(&a->reload_lock, NULL);
    a->src = o->source;
    a->log = o->log;
    a->log_ud = o->log_ud;
    /* The environment is read once, so that reloads keep reading the same directory. */
    if (a->src.from_env && !a->src.policy_dir && !a->src.policy_file) {
        const char *v = getenv("TOKENSMITH_POLICY_DIR");
        if (!v || !*v)
            v = getenv("AUTHZ_POLICY_DIR");
        a->src.policy_dir = (v && *v) ? v : NULL;
        a->src.from_env = false;
    }
    if (!copy_path(a, 0, &a->src.model_path) || !copy_path(a, 1, &a->src.policy_dir) ||
        !copy_path(a, 2, &a->src.policy_file) || !copy_path(a, 3, &a->src.grouping_file) ||
        (o->cache_size > 0 &&
         !(a->cache = ts_common__lru_new(o->cache_size, sizeof(cached_result), 0)))) {
        ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
        ts_authz_authorizer_free(a);
        return NULL;
    }
    if (o->version >= 2u &&
        ts_authz__authorizer_copy_functions(a, o->functions, o->n_functions, err) != TS_OK) {
        ts_authz_authorizer_free(a);
        return NULL;
    }
    a->cur = ts_authz__state_build(a, NULL, 0, err);
    if (!a->cur) {
        ts_authz_authorizer_free(a);
        return NULL;
    }
    a->cur->gen = 1;
    atomic_store(&a->gen, 1);
    log_state(a, "authz.policy_loaded", a->cur, NULL);
    return a;
}

void ts_authz_authorizer_free(ts_authz_authorizer *a)
{
    if (!a)
        return;
    ts_authz__state_unref(a->cur);
    ts_common__lru_free(a->cache);
    for (size_t i = 0; i < 4; i++)
        free(a->owned[i]);
    free(a->runtime);
    ts_authz__authorizer_free_functions(a);
    pthread_mutex_destroy(&a->lock);
    pthread_mutex_destroy(&a->reload_lock);
    free(a);
}

ts_status ts_authz_reload(ts_authz_authorizer *a, ts_error *err)
{
    if (!a)
        return ts_error_set(err, TS_EINVAL, "ts_authz_reload", "authorizer is NULL");
    pthread_mutex_lock(&a->reload_lock);
    ts_error local;
    ts_error_clear(&local);
    state *s = ts_authz__state_build(a, a->runtime, a->runtime_len, &local);
    if (!s) {
        char why[400];
        ts_authz__error_text(&local, why, sizeof why);
        atomic_fetch_add(&a->reload_failures, 1);
        ts_common__json b;
        ts_common__json_init(&b, TS_COMMON__JSON_ASCII);
        ts_common__json_kbool(&b, "ok", false);
        ts_common__json_kstr(&b, "error", why);
        /* stable: reloads are serialised */
        ts_common__json_kstr(&b, "policy_version", a->cur->bundle->version);
        ts_common__json_kbool(&b, "kept", true);
        if (!b.oom)
            ts_authz__log_event(a->log, a->log_ud, "authz.reload", b.ptr, b.len);
        ts_common__json_cleanup(&b);
        pthread_mutex_unlock(&a->reload_lock);
        if (err)
            *err = local;
        return local.code != TS_OK ? local.code : TS_EINTERNAL;
    }
    char previous[TS_AUTHZ_POLICY_VERSION_LEN + 1];
    memcpy(previous, a->cur->bundle->version, sizeof previous);
    /* The same bytes make the same decisions: cached ones stay valid. */
    s->gen = a->cur->gen + (strcmp(previous, s->bundle->version) != 0);
    if (s->gen == a->cur->gen) /* the same policy has been in force since then */
        s->loaded_at = a->cur->loaded_at;
    pthread_mutex_lock(&a->lock);
    state *old = a->cur;
    a->cur = s;
    atomic_store(&a->gen, s->gen);
    pthread_mutex_unlock(&a->lock);
    ts_authz__state_unref(old); /* freed now, or by the last decision still using it */
    atomic_fetch_add(&a->reloads, 1);
    log_state(a, "authz.reload", s, previous);
    pthread_mutex_unlock(&a->reload_lock);
    return TS_OK;
}

void ts_authz_authorizer_policy_version(const ts_authz_authorizer *a,
                                        char out[TS_AUTHZ_POLICY_VERSION_LEN + 1])
{
    state *s = ts_authz__state_acquire(a);
    memcpy(out, s->bundle->version, TS_AUTHZ_POLICY_VERSION_LEN + 1);
    ts_authz__state_unref(s);
}

void ts_authz_authorizer_stats(const ts_authz_authorizer *ca, ts_authz_policy_stats *out)
{
    ts_authz_authorizer *a = (ts_authz_authorizer *)(uintptr_t)ca;
    state *s = ts_authz__state_acquire(a);
    memset(out, 0, sizeof *out);
    memcpy(out->policy_version, s->bundle->version, sizeof out->policy_version);
    out->source = s->bundle->source;
    out->p_rules = s->p_rules;
    out->g_rules = s->g_rules;
    out->fragments = s->bundle->nfragments;
    ts_authz__state_unref(s);
    out->reloads = atomic_load(&a->reloads);
    out->reload_failures = atomic_load(&a->reload_failures);
    if (a->cache)
        ts_common__lru_counts(a->cache, &out->cache_hits, &out->cache_misses);
}

/* ---- decisions ---------------------------------------------------------------------------- */

const char *ts_authz__principal_type(const ts_authz_principal *p)
{
    if (p && p->type && strcmp(p->type, "user") == 0)
        return "user";
    if (p && p->type && strcmp(p->type, "service") == 0)
        return "service";
    return "unknown";
}

static void set_result(ts_authz_result *out, ts_authz_verdict v, const char *reason,
                       const char *detail)
{
    out->decision = v;
    out->reason = reason;
    ts_common__copyz(out->detail, sizeof out->detail, detail ? detail : "");
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Trim, strip "role:", drop empties and duplicates (first occurrence wins). */
static size_t normalize_roles(const ts_authz_principal *p, ts_str *out)
{
    size_t n = 0;
    for (size_t i = 0; i < p->nroles; i++) {
        const char *r = p->roles[i];
        if (!r)
            continue;
        size_t len = strlen(r);
        while (len > 0 && is_ws(*r)) {
            r++;
            len--;
        }
        while (len > 0 && is_ws(r[len - 1]))
            len--;
        if (len >= 5 && memcmp(r, "role:", 5) == 0) {
            r += 5;
            len -= 5;
            while (len > 0 && is_ws(*r)) {
                r++;
                len--;
            }
        }
        if (len == 0)
            continue;
        bool dup = false;
        for (size_t j = 0; j < n && !dup; j++)
            dup = out[j].len == len && memcmp(out[j].ptr, r, len) == 0;
        if (!dup)
            out[n++] = ts_str_make(r, len);
    }
    return n;
}

/* A byte below 0x20 or DEL. Such a name cannot be a real subject or role: it can only smuggle a
 * separator into a comparison, a cache key or a log line. */
static bool has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/* At most @p max + 1: enough to tell a string that is too long. */
static size_t bounded_len(const char *s, size_t max)
{
    return s ? strnlen(s, max + 1) : 0;
}

/* Ask the engine for one subject. @return false on an engine error (result filled). */
static bool ask(const state *s, const char *sub, size_t sublen, const char *dom, const char *obj,
                const char *act, bool *allowed, ts_authz_result *out)
{
    ts_authz_arg args[4];
    args[s->i_sub] = (ts_authz_arg){sub, sublen, false};
    args[s->i_obj] = (ts_authz_arg){obj, strlen(obj), false};
    args[s->i_act] = (ts_authz_arg){act, strlen(act), false};
    if (s->i_dom != NO_ARG)
        args[s->i_dom] = (ts_authz_arg){dom, strlen(dom), false};
    ts_authz_decision d = {0};
    ts_error err;
    ts_error_clear(&err);
    if (ts_authz_enforce_ex(s->enforcer, NULL, args, s->nargs, true, &d, &err) != TS_OK) {
        char why[400];
        ts_authz__error_text(&err, why, sizeof why);
        set_result(out, TS_AUTHZ_ERROR, "engine_error", why);
        ts_authz_decision_cleanup(&d);
        return false;
    }
    *allowed = d.allowed;
    if (d.allowed && d.has_rule && d.rule)
        ts_common__copyz(out->rule, sizeof out->rule, d.rule);
    ts_authz_decision_cleanup(&d);
    return true;
}

/* The policy_version field of a decision key: the state's generation, in hex. */
static void gen_text(uint64_t gen, char out[17])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, gen >>= 4)
        out[i] = hex[gen & 15];
    out[16] = '\0';
}

/* Inputs refused before the engine is asked: @return the reason's detail, or NULL when the
 * request can be decided. @p roles receives the normalised roles. */
static const char *check_inputs(const ts_authz_principal *p, const char *object, const char *action,
                                const char *dom, ts_str *roles, size_t *nroles, ts_authz_verdict *v,
                                const char **reason)
{
    *v = TS_AUTHZ_INDETERMINATE;
    *reason = "incomplete_request";
    if (!p || !p->id || !*p->id)
        return "principal missing id";
    if (!object || !*object || !action || !*action)
        return "missing object or action";
    if (bounded_len(p->id, TS_AUTHZ_HTTP_MAX_NAME) > TS_AUTHZ_HTTP_MAX_NAME ||
        bounded_len(object, TS_AUTHZ_HTTP_MAX_PATH) > TS_AUTHZ_HTTP_MAX_PATH ||
        bounded_len(action, TS_AUTHZ_HTTP_MAX_NAME) > TS_AUTHZ_HTTP_MAX_NAME ||
        bounded_len(dom, TS_AUTHZ_HTTP_MAX_NAME) > TS_AUTHZ_HTTP_MAX_NAME)
        return "request field too long";
    if (p->nroles > TS_AUTHZ_HTTP_MAX_ROLES)
        return "too many roles";
    *v = TS_AUTHZ_ERROR;
    *reason = "invalid_principal";
    if (has_control(p->id))
        return "principal id contains a control character";
    for (size_t i = 0; i < p->nroles; i++)
        if (p->roles[i] && has_control(p->roles[i]))
            return "role name contains a control character";
    *v = TS_AUTHZ_INDETERMINATE;
    *reason = "incomplete_request";
    *nroles = normalize_roles(p, roles);
    for (size_t i = 0; i < *nroles; i++)
        if (roles[i].len > TS_AUTHZ_HTTP_MAX_NAME)
            return "role name too long";
    return NULL;
}

/* The decision key for generation @p gen into @p kbuf, or into a new buffer when it does not
 * fit (long paths, many roles). @return the key (NULL when out of memory) and its length. */
static char *make_key(char kbuf[1024], uint64_t gen, const char *type, const ts_authz_principal *p,
                      const ts_str *roles, size_t nroles, const char *object, const char *action,
                      const char *dom, size_t *klen)
{
    char g[17];
    gen_text(gen, g);
    *klen = ts_authz__decision_key(kbuf, 1024, g, type, p->id, roles, nroles, object, action, dom);
    if (*klen <= 1024)
        return kbuf;
    char *key = malloc(*klen);
    if (key)
        ts_authz__decision_key(key, *klen, g, type, p->id, roles, nroles, object, action, dom);
    return key;
}

static void from_cache(ts_authz_result *out, const cached_result *hit)
{
    out->decision = hit->decision;
    out->reason = hit->reason;
    memcpy(out->policy_version, hit->policy_version, sizeof out->policy_version);
    memcpy(out->rule, hit->rule, sizeof out->rule);
    memcpy(out->subject, hit->subject, sizeof out->subject);
    out->cached = true;
}

void ts_authz_authorize(const ts_authz_authorizer *a, const ts_authz_principal *p,
                        const char *object, const char *action, const char *domain,
                        ts_authz_result *out)
{
    memset(out, 0, sizeof *out);
    if (!a) {
        set_result(out, TS_AUTHZ_ERROR, "engine_error", "no authorizer");
        return;
    }
    const char *dom = domain && *domain ? domain : (p && p->domain ? p->domain : "");
    ts_str roles[TS_AUTHZ_HTTP_MAX_ROLES];
    size_t nroles = 0;
    const char *type = ts_authz__principal_type(p);
    ts_authz_verdict refused;
    const char *reason = NULL;
    const char *why = check_inputs(p, object, action, dom, roles, &nroles, &refused, &reason);

    /* A cached decision first: it needs neither the policy state nor its lock. Entries are
     * only ever made for requests that passed every check below, under the same generation. */
    char kbuf[1024];
    char *key = NULL;
    size_t klen = 0;
    uint64_t gen = 0;
    if (!why && a->cache) {
        gen = atomic_load(&a->gen);
        key = make_key(kbuf, gen, type, p, roles, nroles, object, action, dom, &klen);
        cached_result hit;
        if (key && ts_common__lru_get(a->cache, key, klen, &hit)) {
            from_cache(out, &hit);
            if (key != kbuf)
                free(key);
            return;
        }
    }

    state *s = ts_authz__state_acquire(a);
    memcpy(out->policy_version, s->bundle->version, sizeof out->policy_version);
    if (why) {
        set_result(out, refused, reason, why);
        goto done;
    }
    if (*dom && s->i_dom == NO_ARG) {
        /* Dropping the domain would widen the decision to every domain: refuse instead. */
        set_result(out, TS_AUTHZ_INDETERMINATE, "incomplete_request",
                   "a domain was given but the model has no domain");
        goto done;
    }
    if (key && s->gen != gen) { /* a reload came in between: the entry is the new state's */
        if (key != kbuf)
            free(key);
        key = make_key(kbuf, s->gen, type, p, roles, nroles, object, action, dom, &klen);
    }

    char sub[TS_AUTHZ_HTTP_MAX_NAME + 16];
    bool allowed = false;
    int n = snprintf(sub, sizeof sub, "%s:%s", type, p->id);
    if (!ask(s, sub, (size_t)n, dom, object, action, &allowed, out))
        goto done;
    if (allowed)
        memcpy(out->subject, sub, (size_t)n + 1);
    for (size_t i = 0; !allowed && i < nroles; i++) {
        memcpy(sub, "role:", 5);
        memcpy(sub + 5, roles[i].ptr, roles[i].len);
        sub[5 + roles[i].len] = '\0';
        if (!ask(s, sub, 5 + roles[i].len, dom, object, action, &allowed, out))
            goto done;
        if (allowed)
            memcpy(out->subject, sub, 5 + roles[i].len + 1);
    }
    if (allowed)
        set_result(out, TS_AUTHZ_ALLOW, "policy_allowed", NULL);
    else
        set_result(out, TS_AUTHZ_DENY, "policy_denied", NULL);
    if (key) {
        cached_result keep = {out->decision, out->reason, {0}, {0}, {0}};
        memcpy(keep.policy_version, out->policy_version, sizeof keep.policy_version);
        memcpy(keep.rule, out->rule, sizeof keep.rule);
        memcpy(keep.subject, out->subject, sizeof keep.subject);
        ts_common__lru_put(a->cache, key, klen, &keep);
    }
done:
    if (key != kbuf)
        free(key);
    ts_authz__state_unref(s);
}

/* ---- roles -------------------------------------------------------------------------------- */

ts_status ts_authz_authorizer_roles(const ts_authz_authorizer *a, const ts_authz_principal *p,
                                    const char *domain, size_t max, char ***roles, size_t *nroles,
                                    char policy_version[TS_AUTHZ_POLICY_VERSION_LEN + 1],
                                    ts_error *err)
{
    if (!roles || !nroles)
        return ts_error_set(err, TS_EINVAL, "roles", "no list to fill");
    *roles = NULL;
    *nroles = 0;
    if (!a || !p || !p->id || !*p->id)
        return ts_error_set(err, TS_EINVAL, "roles", "no authorizer or principal id");
    const char *dom = domain && *domain ? domain : (p->domain && *p->domain ? p->domain : NULL);
    /* The same refusals as a decision: a subject no decision would ask about has no roles. */
    if (bounded_len(p->id, TS_AUTHZ_HTTP_MAX_NAME) > TS_AUTHZ_HTTP_MAX_NAME ||
        bounded_len(dom, TS_AUTHZ_HTTP_MAX_NAME) > TS_AUTHZ_HTTP_MAX_NAME)
        return ts_error_set(err, TS_ELIMIT, "roles", "principal id or domain too long");
    if (has_control(p->id) || (dom && has_control(dom)))
        return ts_error_set(err, TS_EINVAL, "roles", "principal id contains a control character");
    char sub[TS_AUTHZ_HTTP_MAX_NAME + 16];
    int n = snprintf(sub, sizeof sub, "%s:%s", ts_authz__principal_type(p), p->id);
    state *s = ts_authz__state_acquire(a);
    if (policy_version)
        memcpy(policy_version, s->bundle->version, TS_AUTHZ_POLICY_VERSION_LEN + 1);
    ts_status st = TS_OK;
    if (dom && s->i_dom == NO_ARG)
        st = ts_error_set(err, TS_EINVAL, "roles", "a domain was given but the model has none");
    else
        st = ts_authz_enforcer_implicit_roles(s->enforcer, "g", sub, (size_t)n,
                                              s->i_dom == NO_ARG ? NULL : dom, max, roles, nroles,
                                              err);
    ts_authz__state_unref(s);
    return st;
}
