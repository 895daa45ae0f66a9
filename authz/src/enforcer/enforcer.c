#define _POSIX_C_SOURCE 200809L
/* The enforcer: a holder of the current snapshot. Readers take a reference under a short read
 * lock and decide without any lock; writers build a complete new snapshot outside every lock
 * and swap the pointer, so a decision never sees a half-applied change and a failed build
 * leaves the old snapshot in force. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"

struct ts_authz_enforcer {
    pthread_rwlock_t swap_lock;  /* guards `current` for the pointer load + ref only */
    pthread_mutex_t write_lock;  /* serialises writers (mutations and reloads) */
    ts_snapshot *current;
    atomic_uint_fast64_t generation;
    ts_match_config match;
};

static ts_snapshot *acquire(const ts_authz_enforcer *ce)
{
    /* The lock is part of the object's synchronisation, not of its logical state. */
    ts_authz_enforcer *e = (ts_authz_enforcer *)(uintptr_t)ce;
    pthread_rwlock_rdlock(&e->swap_lock);
    ts_snapshot *s = e->current;
    ts_snapshot_ref(s);
    pthread_rwlock_unlock(&e->swap_lock);
    return s;
}

static void install(ts_authz_enforcer *e, ts_snapshot *s)
{
    s->generation = atomic_fetch_add(&e->generation, 1) + 1;
    pthread_rwlock_wrlock(&e->swap_lock);
    ts_snapshot *old = e->current;
    e->current = s;
    pthread_rwlock_unlock(&e->swap_lock);
    ts_snapshot_unref(old);
}

ts_authz_enforcer *ts_authz_enforcer_new(const ts_authz_model *model, const ts_authz_policy *policy,
                                         ts_error *err)
{
    if (!model) {
        ts_error_set(err, TS_EINVAL, "model", "a model is required");
        return NULL;
    }
    ts_authz_enforcer *e = calloc(1, sizeof *e);
    if (!e) {
        ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    pthread_rwlock_init(&e->swap_lock, NULL);
    pthread_mutex_init(&e->write_lock, NULL);
    atomic_init(&e->generation, 0);
    ts_snapshot *s = ts_snapshot_build(model, policy ? policy->rules : NULL,
                                       policy ? policy->n : 0, &e->match, err);
    if (!s) {
        pthread_rwlock_destroy(&e->swap_lock);
        pthread_mutex_destroy(&e->write_lock);
        free(e);
        return NULL;
    }
    e->current = s;
    s->generation = atomic_fetch_add(&e->generation, 1) + 1;
    return e;
}

void ts_authz_enforcer_free(ts_authz_enforcer *e)
{
    if (!e)
        return;
    ts_snapshot_unref(e->current);
    pthread_rwlock_destroy(&e->swap_lock);
    pthread_mutex_destroy(&e->write_lock);
    free(e);
}

ts_status ts_authz_enforcer_reload(ts_authz_enforcer *e, const ts_authz_model *model,
                                   const ts_authz_policy *policy, ts_error *err)
{
    if (!e)
        return ts_error_set(err, TS_EINVAL, NULL, "no enforcer");
    pthread_mutex_lock(&e->write_lock);
    ts_snapshot *cur = acquire(e);
    ts_snapshot *s = ts_snapshot_build(model ? model : cur->model, policy ? policy->rules : NULL,
                                       policy ? policy->n : 0, &e->match, err);
    ts_snapshot_unref(cur);
    if (s)
        install(e, s);
    pthread_mutex_unlock(&e->write_lock);
    return s ? TS_OK : (err && err->code ? err->code : TS_EINVAL);
}

/* Rebuild from the current rule list with a different match configuration. */
static ts_status rebuild(ts_authz_enforcer *e, const ts_match_config *match, ts_error *err)
{
    ts_snapshot *cur = acquire(e);
    ts_snapshot *s = ts_snapshot_build(cur->model, cur->all, cur->nall, match, err);
    ts_snapshot_unref(cur);
    if (!s)
        return err && err->code ? err->code : TS_EINVAL;
    e->match = *match;
    install(e, s);
    return TS_OK;
}

static ts_status set_matching(ts_authz_enforcer *e, const char *gtype, ts_authz_match_fn fn,
                              bool domain, ts_error *err)
{
    if (!e || !gtype)
        return ts_error_set(err, TS_EINVAL, NULL, "no enforcer or role definition");
    pthread_mutex_lock(&e->write_lock);
    ts_snapshot *cur = acquire(e);
    size_t k = TS_NO_FIELD;
    for (size_t i = 0; i < cur->model->g.n; i++)
        if (strcmp(cur->model->g.defs[i].key, gtype) == 0)
            k = i;
    ts_snapshot_unref(cur);
    ts_status st;
    if (k == TS_NO_FIELD) {
        st = ts_error_set(err, TS_ENOTFOUND, gtype, "role definition %s is not in the model",
                          gtype);
    } else {
        ts_match_config m = e->match;
        if (domain)
            m.domain[k] = fn;
        else
            m.role[k] = fn;
        st = rebuild(e, &m, err);
    }
    pthread_mutex_unlock(&e->write_lock);
    return st;
}

ts_status ts_authz_enforcer_set_role_matching(ts_authz_enforcer *e, const char *gtype,
                                              ts_authz_match_fn fn, ts_error *err)
{
    return set_matching(e, gtype, fn, false, err);
}

ts_status ts_authz_enforcer_set_domain_matching(ts_authz_enforcer *e, const char *gtype,
                                                ts_authz_match_fn fn, ts_error *err)
{
    return set_matching(e, gtype, fn, true, err);
}

static bool same_rule(const ts_policy_rule *r, const char *ptype, const char *const *fields,
                      size_t n)
{
    if (strcmp(r->ptype, ptype) != 0 || r->nfields != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(r->fields[i], fields[i]) != 0)
            return false;
    return true;
}

ts_status ts_authz_enforcer_add_rules(ts_authz_enforcer *e, const char *ptype,
                                      const char *const *const *rows, size_t nrows,
                                      size_t nfields, size_t *added, ts_error *err)
{
    if (added)
        *added = 0;
    if (!e || !ptype || (nrows && !rows))
        return ts_error_set(err, TS_EINVAL, NULL, "invalid arguments");
    if (nfields > TS_AUTHZ_MAX_FIELDS)
        return ts_error_set(err, TS_ELIMIT, ptype, "more than %u fields", TS_AUTHZ_MAX_FIELDS);
    pthread_mutex_lock(&e->write_lock);
    ts_snapshot *cur = acquire(e);
    ts_policy_rule *list = malloc((cur->nall + nrows + 1) * sizeof *list);
    ts_status st = TS_OK;
    if (!list) {
        st = ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
        goto out;
    }
    memcpy(list, cur->all, cur->nall * sizeof *list);
    size_t n = cur->nall, fresh = 0;
    for (size_t r = 0; r < nrows; r++) {
        bool dup = false;
        for (size_t i = 0; i < n && !dup; i++)
            dup = same_rule(&list[i], ptype, rows[r], nfields);
        if (dup)
            continue;
        /* The strings are only read while the new snapshot copies them. */
        list[n].ptype = (char *)(uintptr_t)ptype;
        list[n].fields = (char **)(uintptr_t)rows[r];
        list[n].nfields = nfields;
        list[n].origin = NULL;
        list[n].line = 0;
        n++;
        fresh++;
    }
    if (fresh) {
        ts_snapshot *s = ts_snapshot_build(cur->model, list, n, &e->match, err);
        if (!s) {
            st = err && err->code ? err->code : TS_EINVAL;
            goto out;
        }
        install(e, s);
    }
    if (added)
        *added = fresh;
out:
    free(list);
    ts_snapshot_unref(cur);
    pthread_mutex_unlock(&e->write_lock);
    return st;
}

ts_status ts_authz_enforcer_remove_rules(ts_authz_enforcer *e, const char *ptype,
                                         const char *const *const *rows, size_t nrows,
                                         size_t nfields, size_t *removed, ts_error *err)
{
    if (removed)
        *removed = 0;
    if (!e || !ptype || (nrows && !rows))
        return ts_error_set(err, TS_EINVAL, NULL, "invalid arguments");
    pthread_mutex_lock(&e->write_lock);
    ts_snapshot *cur = acquire(e);
    ts_policy_rule *list = malloc((cur->nall + 1) * sizeof *list);
    ts_status st = TS_OK;
    if (!list) {
        st = ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
        goto out;
    }
    size_t n = 0, gone = 0;
    for (size_t i = 0; i < cur->nall; i++) {
        bool drop = false;
        for (size_t r = 0; r < nrows && !drop; r++)
            drop = same_rule(&cur->all[i], ptype, rows[r], nfields);
        if (drop)
            gone++;
        else
            list[n++] = cur->all[i];
    }
    if (gone) {
        ts_snapshot *s = ts_snapshot_build(cur->model, list, n, &e->match, err);
        if (!s) {
            st = err && err->code ? err->code : TS_EINVAL;
            goto out;
        }
        install(e, s);
    }
    if (removed)
        *removed = gone;
out:
    free(list);
    ts_snapshot_unref(cur);
    pthread_mutex_unlock(&e->write_lock);
    return st;
}

ts_status ts_authz_enforcer_add_rule(ts_authz_enforcer *e, const char *ptype,
                                     const char *const *fields, size_t nfields, ts_error *err)
{
    const char *const *rows[1] = {fields};
    return ts_authz_enforcer_add_rules(e, ptype, rows, 1, nfields, NULL, err);
}

ts_status ts_authz_enforcer_remove_rule(ts_authz_enforcer *e, const char *ptype,
                                        const char *const *fields, size_t nfields, bool *removed,
                                        ts_error *err)
{
    const char *const *rows[1] = {fields};
    size_t n = 0;
    ts_status st = ts_authz_enforcer_remove_rules(e, ptype, rows, 1, nfields, &n, err);
    if (removed)
        *removed = n > 0;
    return st;
}

size_t ts_authz_enforcer_rule_count(const ts_authz_enforcer *e, const char *ptype)
{
    if (!e || !ptype)
        return 0;
    ts_snapshot *s = acquire(e);
    size_t n = 0;
    for (size_t i = 0; i < s->nall; i++)
        if (strcmp(s->all[i].ptype, ptype) == 0)
            n++;
    ts_snapshot_unref(s);
    return n;
}

uint64_t ts_authz_enforcer_generation(const ts_authz_enforcer *e)
{
    if (!e)
        return 0;
    ts_snapshot *s = acquire(e);
    uint64_t g = s->generation;
    ts_snapshot_unref(s);
    return g;
}

void ts_authz_decision_cleanup(ts_authz_decision *d)
{
    if (!d)
        return;
    free(d->rule);
    d->rule = NULL;
}

ts_status ts_authz_enforce_ex(const ts_authz_enforcer *e, const ts_authz_context *ctx,
                              const ts_authz_arg *args, size_t nargs, bool explain,
                              ts_authz_decision *out, ts_error *err)
{
    if (!out)
        return ts_error_set(err, TS_EINVAL, NULL, "no decision to fill");
    out->allowed = false;
    out->has_rule = false;
    out->rule = NULL;
    if (!e || (nargs && !args))
        return ts_error_set(err, TS_EINVAL, NULL, "invalid arguments");
    if (nargs > TS_AUTHZ_MAX_FIELDS)
        return ts_error_set(err, TS_ELIMIT, "request", "more than %u request fields",
                            TS_AUTHZ_MAX_FIELDS);
    ts_snapshot *s = acquire(e);
    const ts_plan *plan =
        ctx ? ts_snapshot_plan(s, ctx->rtype, ctx->ptype, ctx->etype, ctx->mtype)
            : s->default_plan;
    ts_status st;
    if (!plan)
        st = ts_error_set(err, TS_ENOTFOUND, "context",
                          "no such combination of request, policy, effect and matcher "
                          "definitions");
    else
        st = ts_snapshot_decide(s, plan, args, nargs, explain, out, err);
    ts_snapshot_unref(s);
    return st;
}

ts_status ts_authz_enforce(const ts_authz_enforcer *e, const ts_authz_arg *args, size_t nargs,
                           bool *allowed, ts_error *err)
{
    ts_authz_decision d;
    ts_status st = ts_authz_enforce_ex(e, NULL, args, nargs, false, &d, err);
    if (allowed)
        *allowed = st == TS_OK && d.allowed;
    ts_authz_decision_cleanup(&d);
    return st;
}

ts_status ts_authz_enforce_strs(const ts_authz_enforcer *e, const char *const *args,
                                size_t nargs, bool *allowed, ts_error *err)
{
    if (nargs > TS_AUTHZ_MAX_FIELDS)
        return ts_error_set(err, TS_ELIMIT, "request", "more than %u request fields",
                            TS_AUTHZ_MAX_FIELDS);
    ts_authz_arg a[TS_AUTHZ_MAX_FIELDS];
    for (size_t i = 0; i < nargs; i++) {
        a[i].ptr = args[i] ? args[i] : "";
        a[i].len = strlen(a[i].ptr);
        a[i].is_json = false;
    }
    return ts_authz_enforce(e, a, nargs, allowed, err);
}
