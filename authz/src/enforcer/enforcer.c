#define _POSIX_C_SOURCE 200809L
/* The enforcer: a holder of the current snapshot. Writers build a complete new snapshot
 * outside every lock and swap the pointer, so a decision never sees a half-applied change and
 * a failed build leaves the old snapshot in force.
 *
 * Readers never write a shared cache line: each announces itself in one of READER_SLOTS
 * padded counters (chosen by thread), tagged with the current epoch. A writer swaps the
 * pointer, flips the epoch and waits until the counters of the old epoch drain before it frees
 * the old snapshot (sleepable read-copy-update with two epochs). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "enforcer_internal.h"
#include "snapshot.h"

#define READER_SLOTS 64

typedef struct reader_slot {
    _Alignas(64) atomic_size_t active[2];
} reader_slot;

struct ts_authz_enforcer {
    reader_slot slots[READER_SLOTS];
    _Alignas(64) _Atomic(ts_snapshot *) current;
    atomic_uint epoch;
    pthread_mutex_t write_lock; /* serialises writers (mutations and reloads) */
    atomic_uint_fast64_t generation;
    ts_match_config match;
};

typedef struct read_guard {
    reader_slot *slot;
    unsigned idx;
} read_guard;

static reader_slot *slot_for_thread(ts_authz_enforcer *e)
{
    pthread_t self = pthread_self();
    uint64_t h = 0;
    memcpy(&h, &self, sizeof self < sizeof h ? sizeof self : sizeof h);
    h ^= h >> 29;
    h *= 0x9E3779B97F4A7C15ull;
    return &e->slots[(h >> 58) % READER_SLOTS];
}

static ts_snapshot *read_begin(const ts_authz_enforcer *ce, read_guard *g)
{
    /* The counters are synchronisation, not logical state: a const enforcer still counts. */
    ts_authz_enforcer *e = (ts_authz_enforcer *)(uintptr_t)ce;
    g->slot = slot_for_thread(e);
    for (;;) {
        unsigned idx = atomic_load(&e->epoch) & 1u;
        atomic_fetch_add(&g->slot->active[idx], 1);
        /* Only a reader that saw its epoch still current after announcing itself may keep the
         * announcement; otherwise a writer may already have waited for that epoch. */
        if ((atomic_load(&e->epoch) & 1u) == idx) {
            g->idx = idx;
            break;
        }
        atomic_fetch_sub(&g->slot->active[idx], 1);
    }
    return atomic_load(&e->current);
}

static void read_end(read_guard *g)
{
    atomic_fetch_sub(&g->slot->active[g->idx], 1);
}

/* The same snapshot access for queries.c and batch.c (enforcer_internal.h). */
const ts_snapshot *ts_authz__enforcer_read_begin(const ts_authz_enforcer *e, ts_read_guard *g)
{
    read_guard rg;
    const ts_snapshot *s = read_begin(e, &rg);
    g->slot = rg.slot;
    g->idx = rg.idx;
    return s;
}

void ts_authz__enforcer_read_end(ts_read_guard *g)
{
    read_guard rg = {g->slot, g->idx};
    read_end(&rg);
}

/* Writers only (write_lock held). */
static void wait_for_readers(ts_authz_enforcer *e, unsigned idx)
{
    struct timespec pause = {0, 20000};
    for (size_t i = 0; i < READER_SLOTS; i++)
        while (atomic_load(&e->slots[i].active[idx]) != 0)
            nanosleep(&pause, NULL);
}

static void install(ts_authz_enforcer *e, ts_snapshot *s)
{
    s->generation = atomic_fetch_add(&e->generation, 1) + 1;
    ts_snapshot *old = atomic_exchange(&e->current, s);
    unsigned old_idx = atomic_fetch_add(&e->epoch, 1u) & 1u;
    wait_for_readers(e, old_idx);
    ts_authz__snapshot_free(old);
}

/* The snapshot writers build from; stable while write_lock is held. */
static ts_snapshot *writer_current(ts_authz_enforcer *e)
{
    return atomic_load(&e->current);
}

ts_authz_enforcer *ts_authz_enforcer_new(const ts_authz_model *model, const ts_authz_policy *policy,
                                         ts_error *err)
{
    return ts_authz__enforcer_new_match(model, policy, NULL, err);
}

ts_authz_enforcer *ts_authz__enforcer_new_match(const ts_authz_model *model,
                                                const ts_authz_policy *policy,
                                                const ts_match_config *match, ts_error *err)
{
    if (!model) {
        ts_error_set(err, TS_EINVAL, "model", "a model is required");
        return NULL;
    }
    /* Reader slots are cache-line aligned, so the object must be too. */
    size_t size = (sizeof(ts_authz_enforcer) + 63u) & ~(size_t)63u;
    ts_authz_enforcer *e = aligned_alloc(64, size);
    if (e)
        memset(e, 0, size);
    if (!e) {
        ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&e->write_lock, NULL);
    if (match)
        e->match = *match;
    atomic_init(&e->generation, 0);
    atomic_init(&e->epoch, 0);
    for (size_t i = 0; i < READER_SLOTS; i++) {
        atomic_init(&e->slots[i].active[0], 0);
        atomic_init(&e->slots[i].active[1], 0);
    }
    ts_snapshot *s = ts_authz__snapshot_build(model, policy ? policy->rules : NULL,
                                              policy ? policy->n : 0, &e->match, err);
    if (!s) {
        pthread_mutex_destroy(&e->write_lock);
        free(e);
        return NULL;
    }
    atomic_init(&e->current, s);
    s->generation = atomic_fetch_add(&e->generation, 1) + 1;
    return e;
}

void ts_authz_enforcer_free(ts_authz_enforcer *e)
{
    if (!e)
        return;
    ts_authz__snapshot_free(atomic_load(&e->current));
    ts_authz__match_config_release(NULL, &e->match);
    pthread_mutex_destroy(&e->write_lock);
    free(e);
}

ts_status ts_authz_enforcer_reload(ts_authz_enforcer *e, const ts_authz_model *model,
                                   const ts_authz_policy *policy, ts_error *err)
{
    if (!e)
        return ts_error_set(err, TS_EINVAL, NULL, "no enforcer");
    pthread_mutex_lock(&e->write_lock);
    ts_snapshot *cur = writer_current(e);
    ts_snapshot *s =
        ts_authz__snapshot_build(model ? model : cur->model, policy ? policy->rules : NULL,
                                 policy ? policy->n : 0, &e->match, err);
    if (s)
        install(e, s);
    pthread_mutex_unlock(&e->write_lock);
    return s ? TS_OK : (err && err->code ? err->code : TS_EINVAL);
}

/* Rebuild from the current rule list with a different match configuration. */
static ts_status rebuild(ts_authz_enforcer *e, const ts_match_config *match, ts_error *err)
{
    ts_snapshot *cur = writer_current(e);
    ts_snapshot *s = ts_authz__snapshot_build(cur->model, cur->all, cur->nall, match, err);
    if (!s)
        return err && err->code ? err->code : TS_EINVAL;
    e->match = *match;
    install(e, s);
    return TS_OK;
}

ts_status ts_authz__enforcer_update_match(ts_authz_enforcer *e, ts_match_update_fn fn, void *ud,
                                          ts_error *err)
{
    if (!e || !fn)
        return ts_error_set(err, TS_EINVAL, NULL, "no enforcer");
    pthread_mutex_lock(&e->write_lock);
    ts_match_config old = e->match;
    ts_match_config m = e->match;
    ts_status st = fn(&m, writer_current(e), ud, err);
    if (st == TS_OK)
        st = rebuild(e, &m, err);
    if (st == TS_OK)
        ts_authz__match_config_release(&m, &old);
    else
        ts_authz__match_config_release(&old, &m);
    pthread_mutex_unlock(&e->write_lock);
    return st;
}

static ts_status set_matching(ts_authz_enforcer *e, const char *gtype, ts_authz_match_fn fn,
                              bool domain, ts_error *err)
{
    if (!e || !gtype)
        return ts_error_set(err, TS_EINVAL, NULL, "no enforcer or role definition");
    pthread_mutex_lock(&e->write_lock);
    ts_snapshot *cur = writer_current(e);
    size_t k = TS_NO_FIELD;
    for (size_t i = 0; i < cur->model->g.n; i++)
        if (strcmp(cur->model->g.defs[i].key, gtype) == 0)
            k = i;
    ts_status st;
    if (k == TS_NO_FIELD) {
        st =
            ts_error_set(err, TS_ENOTFOUND, gtype, "role definition %s is not in the model", gtype);
    } else {
        ts_match_config m = e->match;
        /* A built-in replaces a registered function set for the same purpose. */
        if (domain) {
            m.domain[k] = fn;
            m.domain_cf[k] = NULL;
        } else {
            m.role[k] = fn;
            m.role_cf[k] = NULL;
        }
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
                                      const char *const *const *rows, size_t nrows, size_t nfields,
                                      size_t *added, ts_error *err)
{
    if (added)
        *added = 0;
    if (!e || !ptype || (nrows && !rows))
        return ts_error_set(err, TS_EINVAL, NULL, "invalid arguments");
    if (nfields > TS_AUTHZ_MAX_FIELDS)
        return ts_error_set(err, TS_ELIMIT, ptype, "more than %u fields", TS_AUTHZ_MAX_FIELDS);
    pthread_mutex_lock(&e->write_lock);
    ts_snapshot *cur = writer_current(e);
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
        list[n].nfields = (uint16_t)nfields; /* at most TS_AUTHZ_MAX_FIELDS */
        list[n].origin = NULL;
        list[n].line = 0;
        n++;
        fresh++;
    }
    if (fresh) {
        ts_snapshot *s = ts_authz__snapshot_build(cur->model, list, n, &e->match, err);
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
    ts_snapshot *cur = writer_current(e);
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
        ts_snapshot *s = ts_authz__snapshot_build(cur->model, list, n, &e->match, err);
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
    read_guard g;
    const ts_snapshot *s = read_begin(e, &g);
    size_t n = 0;
    for (size_t i = 0; i < s->nall; i++)
        if (strcmp(s->all[i].ptype, ptype) == 0)
            n++;
    read_end(&g);
    return n;
}

uint64_t ts_authz_enforcer_generation(const ts_authz_enforcer *e)
{
    if (!e)
        return 0;
    read_guard guard;
    const ts_snapshot *s = read_begin(e, &guard);
    uint64_t g = s->generation;
    read_end(&guard);
    return g;
}

ts_status ts_authz_enforcer_implicit_roles(const ts_authz_enforcer *e, const char *gtype,
                                           const char *name, size_t name_len, const char *domain,
                                           size_t max, char ***roles, size_t *nroles, ts_error *err)
{
    if (!roles || !nroles)
        return ts_error_set(err, TS_EINVAL, "roles", "no list to fill");
    *roles = NULL;
    *nroles = 0;
    if (!e || (name_len && !name))
        return ts_error_set(err, TS_EINVAL, "roles", "invalid arguments");
    /* Held for the whole query: the names are copied out before a reload may free them. */
    read_guard guard;
    const ts_snapshot *s = read_begin(e, &guard);
    ts_status st = ts_authz__snapshot_implicit_roles(
        s, gtype, ts_str_make(name ? name : "", name_len), domain, max, roles, nroles, err);
    read_end(&guard);
    return st;
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
    read_guard guard;
    const ts_snapshot *s = read_begin(e, &guard);
    const ts_plan *plan =
        ctx ? ts_authz__snapshot_plan(s, ctx->rtype, ctx->ptype, ctx->etype, ctx->mtype)
            : s->default_plan;
    ts_status st;
    if (!plan)
        st = ts_error_set(err, TS_ENOTFOUND, "context",
                          "no such combination of request, policy, effect and matcher "
                          "definitions");
    else
        st = ts_authz__snapshot_decide(s, plan, args, nargs, explain, out, err);
    read_end(&guard);
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

ts_status ts_authz_enforce_strs(const ts_authz_enforcer *e, const char *const *args, size_t nargs,
                                bool *allowed, ts_error *err)
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
