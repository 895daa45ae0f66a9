/* Building an immutable snapshot: validate and copy the rules (snapshot_rules.c), order them as
 * Casbin decides (snapshot_order.c), build role managers, compile matchers and indexes. */
#include "snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PLANS 64

/* The condition of link @p r of conditional definition @p d: the latest registration naming
 * it, or one for every link. */
static const ts_custom_fn *link_condition(const ts_snapshot *s, const ts_model_def *d,
                                          const ts_policy_rule *r, bool domains)
{
    for (size_t i = s->match.nconds; i-- > 0;) {
        const ts_link_cond_cfg *c = &s->match.conds[i];
        if (strcmp(c->gtype, d->key) != 0 || (c->user && strcmp(c->user, r->fields[0]) != 0) ||
            (c->role && strcmp(c->role, r->fields[1]) != 0) ||
            (c->domain && (!domains || strcmp(c->domain, r->fields[2]) != 0)))
            continue;
        return c->fn;
    }
    return NULL;
}

static ts_status add_conditional_link(ts_snapshot *s, ts_rolemgr *rm, const ts_model_def *d,
                                      const ts_policy_rule *r, bool domains, ts_error *err)
{
    ts_str params[TS_AUTHZ_MAX_FIELDS];
    size_t np = 0;
    for (size_t f = d->g_ntokens; f < d->g_arity && f < r->nfields && np < TS_AUTHZ_MAX_FIELDS; f++)
        params[np++] = ts_str_c(r->fields[f]);
    ts_str dom = domains ? ts_str_c(r->fields[2]) : ts_str_make("", 0);
    return ts_authz__rolemgr_add_cond_link(rm, ts_str_c(r->fields[0]), ts_str_c(r->fields[1]), dom,
                                           params, np, link_condition(s, d, r, domains), err);
}

static ts_status build_role_managers(ts_snapshot *s, ts_error *err)
{
    const ts_authz_model *m = s->model;
    for (size_t k = 0; k < m->g.n; k++) {
        const ts_model_def *d = &m->g.defs[k];
        bool conditional = d->g_nparams > 0;
        bool domains = conditional ? d->g_ntokens >= 3 : d->g_arity >= 3;
        if (conditional &&
            (s->match.role[k] != TS_AUTHZ_MATCH_NONE || s->match.domain[k] != TS_AUTHZ_MATCH_NONE ||
             s->match.role_cf[k] || s->match.domain_cf[k]))
            return ts_error_set(err, TS_EUNSUPPORTED, d->key,
                                "%s: pattern functions are not supported on a conditional role "
                                "definition",
                                d->key);
        ts_rolemgr *rm = conditional ? ts_authz__rolemgr_new_conditional(domains)
                                     : ts_authz__rolemgr_new(domains);
        if (!rm)
            return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
        s->rms[k] = rm;
        if (s->match.role_cf[k])
            ts_authz__rolemgr_set_matching_custom(rm, s->match.role_cf[k]);
        else if (s->match.role[k] != TS_AUTHZ_MATCH_NONE)
            ts_authz__rolemgr_set_matching(rm, s->match.role[k], s->regex);
        if (s->match.domain_cf[k])
            ts_authz__rolemgr_set_domain_matching_custom(rm, s->match.domain_cf[k]);
        else if (s->match.domain[k] != TS_AUTHZ_MATCH_NONE)
            ts_authz__rolemgr_set_domain_matching(rm, s->match.domain[k], s->regex);
        for (size_t i = 0; i < s->nall; i++) {
            const ts_policy_rule *r = &s->all[i];
            if (strcmp(r->ptype, d->key) != 0)
                continue;
            ts_str dom = domains ? ts_str_c(r->fields[2]) : ts_str_make("", 0);
            ts_status st = conditional
                               ? add_conditional_link(s, rm, d, r, domains, err)
                               : ts_authz__rolemgr_add_link(rm, ts_str_c(r->fields[0]),
                                                            ts_str_c(r->fields[1]), dom, err);
            if (st != TS_OK) {
                char where[120];
                ts_authz__snapshot_where_of(r, where, sizeof where);
                if (err)
                    snprintf(err->where, sizeof err->where, "%s", where);
                return st;
            }
        }
        ts_status st = ts_authz__rolemgr_finalize(rm, !domains, err);
        if (st != TS_OK) {
            if (err && !err->where[0])
                snprintf(err->where, sizeof err->where, "role definition %s", d->key);
            return st;
        }
    }
    return TS_OK;
}

/* Casbin registers keyMatch as the domain matcher of g by itself when the matcher contains
 * keyMatch(<second request token>, <second policy token>). */
static void auto_domain_matching(ts_snapshot *s)
{
    const ts_authz_model *m = s->model;
    const ts_model_def *md = ts_authz__model_find(&m->m, "m");
    const ts_model_def *rd = ts_authz__model_find(&m->r, "r");
    const ts_model_def *pd = ts_authz__model_find(&m->p, "p");
    if (!md || !rd || !pd || rd->ntokens < 2 || pd->ntokens < 2 || m->g.n == 0)
        return;
    if (s->match.domain[0] != TS_AUTHZ_MATCH_NONE || s->match.domain_cf[0] ||
        m->g.defs[0].g_nparams)
        return;
    char want[256];
    int w = snprintf(want, sizeof want, "keyMatch(%s, %s)", rd->tokens[1], pd->tokens[1]);
    if (w > 0 && (size_t)w < sizeof want && strstr(md->matcher, want))
        s->match.domain[0] = TS_AUTHZ_MATCH_KEYMATCH;
}

static ts_status compile_eval_rules(const ts_snapshot *s, ts_plan *plan, ts_error *err,
                                    const ts_expr_names *names)
{
    size_t fields[16];
    size_t nf = ts_authz__expr_eval_rule_fields(plan->expr, fields, 16);
    if (nf > 16)
        nf = 16;
    ts_authz__strmap_init(&plan->eval_map);
    if (nf == 0 || !plan->rules)
        return TS_OK;
    size_t cap = plan->rules->n * nf + 1;
    plan->eval_exprs = calloc(cap, sizeof *plan->eval_exprs);
    if (!plan->eval_exprs)
        return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    for (size_t i = 0; i < plan->rules->n; i++) {
        for (size_t f = 0; f < nf; f++) {
            if (fields[f] >= plan->rules->nfields)
                continue;
            ts_str text = plan->rules->fields[i * plan->rules->nfields + fields[f]];
            if (ts_authz__strmap_get(&plan->eval_map, text.ptr, text.len, NULL))
                continue;
            char *escaped = ts_authz__model_escape_assertion(text.ptr, text.len);
            if (!escaped)
                return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
            /* A rule that does not compile is left for the evaluator, which reports the error
             * when (and only if) the rule is evaluated, as Casbin does. */
            ts_error ignored;
            ts_error_clear(&ignored);
            ts_expr *x = ts_authz__expr_compile_with(escaped, strlen(escaped), names, s->match.fns,
                                                     s->match.nfns, &ignored);
            free(escaped);
            if (!x)
                continue;
            uint32_t id = (uint32_t)plan->neval;
            plan->eval_exprs[plan->neval++] = x;
            if (ts_authz__strmap_put(&plan->eval_map, text.ptr, text.len, id, NULL) < 0)
                return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
        }
    }
    return TS_OK;
}

static ts_status build_plan(ts_snapshot *s, ts_plan *plan, ts_error *err)
{
    const ts_authz_model *m = s->model;
    const char *roles[TS_MODEL_MAX_KEYS];
    for (size_t k = 0; k < m->g.n; k++)
        roles[k] = m->g.defs[k].key;
    ts_expr_names names = {
        (const char *const *)plan->rdef->tokens,
        plan->rdef->ntokens,
        (const char *const *)plan->pdef->tokens,
        plan->pdef->ntokens,
        roles,
        m->g.n,
    };
    plan->rules = ts_authz__snapshot_rules(s, plan->pdef->key);
    ts_error_clear(&plan->compile_error);
    plan->expr =
        ts_authz__expr_compile_with(plan->mdef->matcher, strlen(plan->mdef->matcher), &names,
                                    s->match.fns, s->match.nfns, &plan->compile_error);
    /* A matcher that does not compile is reported when its plan is used (the default plan's
     * by build_plans); one that ran out of memory fails the snapshot, or the plan would
     * answer "out of memory" for as long as the snapshot lives. */
    if (!plan->expr && plan->compile_error.code == TS_ENOMEM)
        return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    if (!plan->expr)
        return TS_OK;
    char needle[16];
    snprintf(needle, sizeof needle, "%s_", plan->pdef->key);
    plan->uses_rule = strstr(plan->mdef->matcher, needle) != NULL;
    size_t nconj = ts_authz__expr_conjuncts(plan->expr, NULL, 0);
    plan->conj = calloc(nconj + 1, sizeof *plan->conj);
    if (!plan->conj)
        return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    plan->nconj = ts_authz__expr_conjuncts(plan->expr, plan->conj, nconj);
    ts_status st = compile_eval_rules(s, plan, err, &names);
    if (st != TS_OK)
        return st;
    return ts_authz__plan_build_index(plan, s, err);
}

static void plan_cleanup(ts_plan *plan)
{
    ts_authz__expr_free(plan->expr);
    free(plan->conj);
    ts_authz__plan_free_index(plan);
    for (size_t i = 0; i < plan->neval; i++)
        ts_authz__expr_free(plan->eval_exprs[i]);
    free(plan->eval_exprs);
    ts_authz__strmap_cleanup(&plan->eval_map);
}

static ts_status build_plans(ts_snapshot *s, ts_error *err)
{
    const ts_authz_model *m = s->model;
    size_t total = m->r.n * m->p.n * m->e.n * m->m.n;
    if (total > MAX_PLANS)
        total = MAX_PLANS;
    s->plans = calloc(total + 1, sizeof *s->plans);
    if (!s->plans)
        return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    /* The default combination (r, p, e, m) comes first; the rest follow while they fit. */
    size_t n = 0;
    for (size_t ri = 0; ri < m->r.n; ri++)
        for (size_t pi = 0; pi < m->p.n; pi++)
            for (size_t ei = 0; ei < m->e.n; ei++)
                for (size_t mi = 0; mi < m->m.n && n < total; mi++) {
                    ts_plan *plan = &s->plans[n++];
                    plan->rdef = &m->r.defs[ri];
                    plan->pdef = &m->p.defs[pi];
                    plan->edef = &m->e.defs[ei];
                    plan->mdef = &m->m.defs[mi];
                    s->nplans = n;
                    ts_status st = build_plan(s, plan, err);
                    if (st != TS_OK)
                        return st;
                }
    s->default_plan = s->nplans ? &s->plans[0] : NULL;
    if (s->default_plan && !s->default_plan->expr) {
        const ts_error *ce = &s->default_plan->compile_error;
        char where[400];
        snprintf(where, sizeof where, "%s%smatchers: m (line %d)%s%s", m->name ? m->name : "",
                 m->name ? ": " : "", s->default_plan->mdef->line, ce->where[0] ? ", " : "",
                 ce->where);
        return ts_error_set(err, ce->code ? ce->code : TS_EPARSE, where, "%s", ce->msg);
    }
    return TS_OK;
}

ts_snapshot *ts_authz__snapshot_build(const ts_authz_model *model, const ts_policy_rule *rules,
                                      size_t nrules, const ts_match_config *match, ts_error *err)
{
    ts_snapshot *s = calloc(1, sizeof *s);
    if (!s) {
        ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    ts_authz__arena_init(&s->arena, 1u << 16);
    if (match)
        s->match = *match;
    s->model = ts_authz__model_clone(model);
    s->regex = ts_authz__regex_cache_new(0);
    if (!s->model || !s->regex) {
        ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
        goto fail;
    }
    auto_domain_matching(s);
    if (ts_authz__snapshot_copy_rules(s, rules, nrules, err) != TS_OK)
        goto fail;
    if (ts_authz__snapshot_build_rule_sets(s, err) != TS_OK)
        goto fail;
    if (build_role_managers(s, err) != TS_OK)
        goto fail;
    if (build_plans(s, err) != TS_OK)
        goto fail;
    /* The conditions were resolved into the role managers and may be freed by the enforcer. */
    s->match.conds = NULL;
    s->match.nconds = 0;
    return s;
fail:
    ts_authz__snapshot_free(s);
    return NULL;
}

void ts_authz__snapshot_free(ts_snapshot *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nplans; i++)
        plan_cleanup(&s->plans[i]);
    free(s->plans);
    for (size_t k = 0; k < TS_MODEL_MAX_KEYS; k++)
        ts_authz__rolemgr_free(s->rms[k]);
    ts_authz__regex_cache_free(s->regex);
    ts_authz_model_free(s->model);
    ts_authz__arena_cleanup(&s->arena);
    free(s);
}

const ts_rule_set *ts_authz__snapshot_rules(const ts_snapshot *s, const char *pkey)
{
    for (size_t k = 0; k < s->model->p.n; k++)
        if (strcmp(s->model->p.defs[k].key, pkey) == 0)
            return &s->psets[k];
    return NULL;
}

const ts_plan *ts_authz__snapshot_plan(const ts_snapshot *s, const char *rkey, const char *pkey,
                                       const char *ekey, const char *mkey)
{
    rkey = rkey ? rkey : "r";
    pkey = pkey ? pkey : "p";
    ekey = ekey ? ekey : "e";
    mkey = mkey ? mkey : "m";
    for (size_t i = 0; i < s->nplans; i++) {
        const ts_plan *p = &s->plans[i];
        if (!strcmp(p->rdef->key, rkey) && !strcmp(p->pdef->key, pkey) &&
            !strcmp(p->edef->key, ekey) && !strcmp(p->mdef->key, mkey))
            return p;
    }
    return NULL;
}
