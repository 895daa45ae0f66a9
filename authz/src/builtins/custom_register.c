#define _POSIX_C_SOURCE 200809L
/* Registering functions on an enforcer: matcher functions (AddFunction), role and domain
 * pattern functions of your own (AddNamedMatchingFunc / AddNamedDomainMatchingFunc) and link
 * conditions (AddNamedLinkConditionFunc). Each change rebuilds the snapshot through
 * ts_authz__enforcer_update_match(), so a matcher that no longer compiles refuses the change. */
#include <stdlib.h>
#include <string.h>

#include "enforcer/snapshot.h"

void ts_authz__match_config_release(const ts_match_config *keep, ts_match_config *drop)
{
    if (!drop)
        return;
    /* Functions are only ever appended: what @p keep holds is a prefix of @p drop or the
     * reverse. */
    size_t shared = keep ? (keep->nfns < drop->nfns ? keep->nfns : drop->nfns) : 0;
    for (size_t i = shared; i < drop->nfns; i++)
        free((void *)(uintptr_t)drop->fns[i]);
    drop->nfns = shared;
    if (drop->conds && (!keep || keep->conds != drop->conds)) {
        ts_link_cond_cfg *c = (ts_link_cond_cfg *)(uintptr_t)drop->conds;
        for (size_t i = 0; i < drop->nconds; i++) {
            free(c[i].user);
            free(c[i].role);
            free(c[i].domain);
        }
        free(c);
    }
    drop->conds = NULL;
    drop->nconds = 0;
}

static const ts_custom_fn *find_fn(const ts_match_config *m, const char *name)
{
    for (size_t i = m->nfns; i-- > 0;)
        if (strcmp(m->fns[i]->name, name) == 0)
            return m->fns[i];
    return NULL;
}

/* The registered function @p old is replaced by @p fresh wherever the configuration uses it,
 * so a re-registration also changes role matching and link conditions. */
static void replace_uses(ts_match_config *m, const ts_custom_fn *old, const ts_custom_fn *fresh)
{
    for (size_t k = 0; k < TS_MODEL_MAX_KEYS; k++) {
        if (m->role_cf[k] == old)
            m->role_cf[k] = fresh;
        if (m->domain_cf[k] == old)
            m->domain_cf[k] = fresh;
    }
}

typedef struct add_fn_args {
    const ts_authz_function *desc;
    void *ud;
} add_fn_args;

static ts_status apply_add_function(ts_match_config *m, const ts_snapshot *cur, void *ud,
                                    ts_error *err)
{
    (void)cur;
    const add_fn_args *a = ud;
    if (m->nfns >= TS_AUTHZ_MAX_FUNCTIONS)
        return ts_error_set(err, TS_ELIMIT, a->desc->name, "more than %u functions registered",
                            TS_AUTHZ_MAX_FUNCTIONS);
    ts_custom_fn *f = calloc(1, sizeof *f);
    if (!f)
        return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    f->desc = *a->desc;
    memcpy(f->name, a->desc->name, strlen(a->desc->name) + 1);
    f->desc.name = f->name;
    f->ud = a->ud;
    const ts_custom_fn *old = find_fn(m, f->name);
    m->fns[m->nfns++] = f;
    if (old) {
        replace_uses(m, old, f);
        /* Conditions refer to functions by pointer; the new list is a copy (below). */
        if (m->nconds) {
            ts_link_cond_cfg *c = calloc(m->nconds, sizeof *c);
            if (!c)
                return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
            for (size_t i = 0; i < m->nconds; i++) {
                c[i] = m->conds[i];
                c[i].user = c[i].user ? strdup(c[i].user) : NULL;
                c[i].role = c[i].role ? strdup(c[i].role) : NULL;
                c[i].domain = c[i].domain ? strdup(c[i].domain) : NULL;
                if (c[i].fn == old)
                    c[i].fn = f;
                if ((m->conds[i].user && !c[i].user) || (m->conds[i].role && !c[i].role) ||
                    (m->conds[i].domain && !c[i].domain)) {
                    ts_match_config tmp;
                    memset(&tmp, 0, sizeof tmp);
                    tmp.conds = c;
                    tmp.nconds = i + 1;
                    ts_authz__match_config_release(NULL, &tmp);
                    return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
                }
            }
            m->conds = c;
        }
    }
    return TS_OK;
}

TS_API ts_status ts_authz_enforcer_add_function(ts_authz_enforcer *e, const ts_authz_function *desc,
                                                void *ud, ts_error *err)
{
    if (!e)
        return ts_error_set(err, TS_EINVAL, "function", "no enforcer");
    ts_status st = ts_authz__custom_validate(desc, err);
    if (st != TS_OK)
        return st;
    add_fn_args a = {desc, ud};
    return ts_authz__enforcer_update_match(e, apply_add_function, &a, err);
}

TS_API ts_authz_enforcer *ts_authz_enforcer_new_with_functions(const ts_authz_model *model,
                                                               const ts_authz_policy *policy,
                                                               const ts_authz_function_reg *fns,
                                                               size_t nfns, ts_error *err)
{
    if (nfns && !fns) {
        ts_error_set(err, TS_EINVAL, "function", "no functions");
        return NULL;
    }
    ts_match_config m;
    memset(&m, 0, sizeof m);
    ts_status st = TS_OK;
    for (size_t i = 0; i < nfns && st == TS_OK; i++) {
        st = ts_authz__custom_validate(fns[i].desc, err);
        if (st == TS_OK) {
            add_fn_args a = {fns[i].desc, fns[i].ud};
            st = apply_add_function(&m, NULL, &a, err);
        }
    }
    ts_authz_enforcer *e = NULL;
    if (st == TS_OK)
        e = ts_authz__enforcer_new_match(model, policy, &m, err);
    if (!e)
        ts_authz__match_config_release(NULL, &m);
    return e;
}

static size_t gtype_index(const ts_snapshot *cur, const char *gtype)
{
    for (size_t i = 0; i < cur->model->g.n; i++)
        if (strcmp(cur->model->g.defs[i].key, gtype) == 0)
            return i;
    return TS_NO_FIELD;
}

typedef struct set_fn_args {
    const char *gtype;
    const char *name;
    bool domain;
} set_fn_args;

static ts_status apply_matching_fn(ts_match_config *m, const ts_snapshot *cur, void *ud,
                                   ts_error *err)
{
    const set_fn_args *a = ud;
    size_t k = gtype_index(cur, a->gtype);
    if (k == TS_NO_FIELD)
        return ts_error_set(err, TS_ENOTFOUND, a->gtype, "role definition %s is not in the model",
                            a->gtype);
    const ts_custom_fn *f = NULL;
    if (a->name) {
        f = find_fn(m, a->name);
        if (!f)
            return ts_error_set(err, TS_ENOTFOUND, a->name, "no function %s is registered",
                                a->name);
        if (!ts_authz__custom_is_predicate(f, 2))
            return ts_error_set(err, TS_EINVAL, a->name,
                                "%s: a matching function takes two strings and returns a bool",
                                a->name);
    }
    if (a->domain) {
        m->domain_cf[k] = f;
        m->domain[k] = TS_AUTHZ_MATCH_NONE;
    } else {
        m->role_cf[k] = f;
        m->role[k] = TS_AUTHZ_MATCH_NONE;
    }
    return TS_OK;
}

TS_API ts_status ts_authz_enforcer_set_role_matching_fn(ts_authz_enforcer *e, const char *gtype,
                                                        const char *name, ts_error *err)
{
    if (!e || !gtype)
        return ts_error_set(err, TS_EINVAL, NULL, "no enforcer or role definition");
    set_fn_args a = {gtype, name, false};
    return ts_authz__enforcer_update_match(e, apply_matching_fn, &a, err);
}

TS_API ts_status ts_authz_enforcer_set_domain_matching_fn(ts_authz_enforcer *e, const char *gtype,
                                                          const char *name, ts_error *err)
{
    if (!e || !gtype)
        return ts_error_set(err, TS_EINVAL, NULL, "no enforcer or role definition");
    set_fn_args a = {gtype, name, true};
    return ts_authz__enforcer_update_match(e, apply_matching_fn, &a, err);
}

typedef struct cond_args {
    const char *gtype, *user, *role, *domain, *fname;
} cond_args;

static char *dup_opt(const char *s, bool *ok)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *ok = false;
    return d;
}

static ts_status apply_condition(ts_match_config *m, const ts_snapshot *cur, void *ud,
                                 ts_error *err)
{
    const cond_args *a = ud;
    size_t k = gtype_index(cur, a->gtype);
    if (k == TS_NO_FIELD)
        return ts_error_set(err, TS_ENOTFOUND, a->gtype, "role definition %s is not in the model",
                            a->gtype);
    const ts_model_def *d = &cur->model->g.defs[k];
    if (!d->g_nparams)
        return ts_error_set(err, TS_EINVAL, a->gtype,
                            "role definition %s has no condition group \"(_, ...)\"", a->gtype);
    if (a->domain && d->g_ntokens < 3)
        return ts_error_set(err, TS_EINVAL, a->gtype, "role definition %s has no domain", a->gtype);
    const ts_custom_fn *f = find_fn(m, a->fname);
    if (!f)
        return ts_error_set(err, TS_ENOTFOUND, a->fname, "no function %s is registered", a->fname);
    if (!ts_authz__custom_is_predicate(f, d->g_nparams))
        return ts_error_set(err, TS_EINVAL, a->fname,
                            "%s: a link condition of %s takes %zu strings and returns a bool",
                            a->fname, a->gtype, d->g_nparams);
    if (m->nconds >= TS_AUTHZ_MAX_LINK_CONDITIONS)
        return ts_error_set(err, TS_ELIMIT, a->gtype, "more than %u link conditions",
                            TS_AUTHZ_MAX_LINK_CONDITIONS);
    /* A fresh list: the current one belongs to the configuration in force until the rebuild
     * succeeds. */
    ts_link_cond_cfg *c = calloc(m->nconds + 1, sizeof *c);
    if (!c)
        return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    bool ok = true;
    size_t n = 0;
    for (size_t i = 0; i < m->nconds; i++, n++) {
        c[n] = m->conds[i];
        c[n].user = dup_opt(m->conds[i].user, &ok);
        c[n].role = dup_opt(m->conds[i].role, &ok);
        c[n].domain = dup_opt(m->conds[i].domain, &ok);
    }
    memcpy(c[n].gtype, d->key, sizeof c[n].gtype);
    c[n].user = dup_opt(a->user, &ok);
    c[n].role = dup_opt(a->role, &ok);
    c[n].domain = dup_opt(a->domain, &ok);
    c[n].fn = f;
    n++;
    m->conds = c;
    m->nconds = n;
    if (!ok)
        return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    return TS_OK;
}

TS_API ts_status ts_authz_enforcer_add_link_condition(ts_authz_enforcer *e, const char *gtype,
                                                      const char *user, const char *role,
                                                      const char *domain, const char *fname,
                                                      ts_error *err)
{
    if (!e || !gtype || !fname || (!user) != (!role))
        return ts_error_set(err, TS_EINVAL, "link condition",
                            "an enforcer, a role definition, a function and both or neither of "
                            "user and role are required");
    cond_args a = {gtype, user, role, domain, fname};
    return ts_authz__enforcer_update_match(e, apply_condition, &a, err);
}
