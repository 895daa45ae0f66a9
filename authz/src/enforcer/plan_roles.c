/* Role conjuncts by name id, and the fast match.
 *
 * A matcher such as `g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act` asks the role manager
 * the same kind of question for every candidate rule. Asking it by string costs two hash probes
 * of the manager's name map per rule; here the rule side is resolved once per snapshot (each
 * rule's p_y as a name id) and the request side once per decision (ts_role_memo), so that a
 * candidate costs integer compares and a closure search. When every top-level conjunct is such a
 * role conjunct or an equality, a rule's match is decided here without the evaluator: the
 * conjuncts are bools that cannot fail on string requests, so their conjunction is the
 * evaluator's answer. The equalities are compared first, as the index's equality filter does,
 * so a role search's out-of-memory error on a rule they rule out is not raised (the one
 * difference from the evaluator, the filter's too). */
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"

static void free_role(ts_plan_role *r)
{
    free(r->rule_id);
    free(r->bucket_id);
    ts_authz__idlut_free(&r->bucket_lut);
    memset(r, 0, sizeof *r);
}

void ts_authz__plan_free_roles(ts_plan *plan)
{
    if (!plan->roles)
        return;
    for (size_t c = 0; c < plan->nconj; c++)
        free_role(&plan->roles[c]);
    free(plan->roles);
    plan->roles = NULL;
    plan->fast = false;
}

static ts_status build_role(ts_plan_role *r, const ts_plan *plan, const ts_rolemgr *rm,
                            size_t field)
{
    const ts_rule_set *rs = plan->rules;
    r->rule_id = malloc((rs->n + 1) * sizeof *r->rule_id);
    if (!r->rule_id)
        return TS_ENOMEM;
    for (size_t i = 0; i < rs->n; i++)
        r->rule_id[i] = ts_authz__rolemgr_name_id(rm, rs->fields[i * rs->nfields + field]);
    const ts_field_index *ix = plan->field_index ? plan->field_index[field] : NULL;
    if (!ix || ix->nbuckets == 0 || ix->nbuckets > UINT32_MAX)
        return TS_OK;
    r->bucket_id = malloc(ix->nbuckets * sizeof *r->bucket_id);
    if (!r->bucket_id)
        return TS_ENOMEM;
    /* A bucket's rules share the value: its first rule's id is the bucket's. */
    for (size_t b = 0; b < ix->nbuckets; b++)
        r->bucket_id[b] = r->rule_id[ix->ordinals[ix->offsets[b]]];
    if (ts_authz__idlut_build(&r->bucket_lut, r->bucket_id, (uint32_t)ix->nbuckets) != 0)
        return TS_ENOMEM;
    return TS_OK;
}

ts_status ts_authz__plan_build_roles(ts_plan *plan, const ts_snapshot *s, ts_error *err)
{
    plan->fast = false;
    plan->fast_req = 0;
    if (!plan->expr || !plan->uses_rule || !plan->rules || plan->rules->n == 0 ||
        plan->nconj == 0 || plan->nconj > TS_PLAN_MAX_FAST_CONJ)
        return TS_OK;
    plan->roles = calloc(plan->nconj, sizeof *plan->roles);
    if (!plan->roles)
        return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    bool fast = true;
    uint64_t need = 0;
    for (size_t k = 0; k < plan->nconj; k++) {
        const ts_expr_conj *c = &plan->conj[k];
        if (!ts_authz__plan_conj_usable(plan, s, c)) {
            fast = false;
            continue;
        }
        if (c->kind == TS_CONJ_EQ) {
            if (c->req_idx >= 64)
                fast = false;
            else
                need |= (uint64_t)1 << c->req_idx;
            continue;
        }
        if (build_role(&plan->roles[k], plan, s->rms[c->role_idx], c->rule_idx) != TS_OK) {
            ts_authz__plan_free_roles(plan);
            return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
        }
        if (c->req_idx >= 64 || (c->dom_kind == 1 && c->dom_idx >= 64)) {
            fast = false;
            continue;
        }
        need |= (uint64_t)1 << c->req_idx;
        if (c->dom_kind == 1)
            need |= (uint64_t)1 << c->dom_idx;
    }
    plan->fast = fast;
    plan->fast_req = need;
    return TS_OK;
}

/* ---- one decision ------------------------------------------------------------------------ */

static bool fast_usable(const ts_plan *plan, const ts_val *req, size_t nreq)
{
    if (!plan->fast)
        return false;
    for (size_t i = 0; i < nreq && i < 64; i++)
        if ((plan->fast_req >> i & 1) && req[i].kind != TS_VAL_STR)
            return false;
    return true;
}

void ts_authz__role_memo_init(ts_role_memo *m, const ts_snapshot *s, const ts_plan *plan,
                              const ts_val *req, size_t nreq)
{
    m->s = s;
    m->plan = plan;
    m->req = req;
    m->fast = fast_usable(plan, req, nreq);
    size_t n = plan->roles ? plan->nconj : 0;
    for (size_t c = 0; c < n; c++) {
        m->c[c].have_id = false;
        m->c[c].have_view = false;
    }
}

void ts_authz__role_memo_close(ts_role_memo *m)
{
    size_t n = m->plan->roles ? m->plan->nconj : 0;
    for (size_t c = 0; c < n; c++)
        if (m->c[c].have_view)
            ts_authz__rolemgr_view_close(&m->c[c].view);
}

uint32_t ts_authz__role_memo_id(ts_role_memo *m, size_t c)
{
    if (!m->c[c].have_id) {
        const ts_expr_conj *cj = &m->plan->conj[c];
        m->c[c].id = ts_authz__rolemgr_name_id(m->s->rms[cj->role_idx], m->req[cj->req_idx].u.str);
        m->c[c].have_id = true;
    }
    return m->c[c].id;
}

ts_status ts_authz__role_memo_view(ts_role_memo *m, size_t c, const ts_rolemgr_view **v,
                                   ts_error *err)
{
    if (!m->c[c].have_view) {
        const ts_expr_conj *cj = &m->plan->conj[c];
        ts_str dom;
        const ts_str *domp = NULL;
        if (cj->dom_kind == 1) {
            dom = m->req[cj->dom_idx].u.str;
            domp = &dom;
        } else if (cj->dom_kind == 2) {
            dom = cj->dom_lit;
            domp = &dom;
        }
        ts_status st =
            ts_authz__rolemgr_view_open(m->s->rms[cj->role_idx], domp, &m->c[c].view, err);
        if (st != TS_OK)
            return st;
        m->c[c].have_view = true;
    }
    *v = &m->c[c].view;
    return TS_OK;
}

/* Role conjunct @p c of rule @p i, by ids. */
static ts_status role_holds(ts_role_memo *m, size_t c, size_t i, const ts_str *fields, bool *linked,
                            ts_error *err)
{
    const ts_expr_conj *cj = &m->plan->conj[c];
    uint32_t a = ts_authz__role_memo_id(m, c);
    uint32_t b = m->plan->roles[c].rule_id[i];
    if (a == TS_ROLEMGR_NO_ID || b == TS_ROLEMGR_NO_ID || a == b) {
        /* A name without links is linked to itself only. */
        *linked = a == b && (a != TS_ROLEMGR_NO_ID ||
                             ts_str_eq(m->req[cj->req_idx].u.str, fields[cj->rule_idx]));
        return TS_OK;
    }
    const ts_rolemgr_view *v;
    ts_status st = ts_authz__role_memo_view(m, c, &v, err);
    if (st != TS_OK)
        return st;
    if (ts_authz__rolemgr_view_has_link(v, a, b, linked) != TS_OK)
        return ts_error_set(err, TS_ENOMEM, "role manager", "out of memory");
    return TS_OK;
}

ts_status ts_authz__plan_fast_match(ts_role_memo *m, size_t i, bool *out, ts_error *err)
{
    const ts_plan *plan = m->plan;
    const ts_rule_set *rs = plan->rules;
    const ts_str *fields = rs->fields + i * rs->nfields;
    *out = false;
    /* The equalities first, as the index's equality filter compares them before any matcher
     * runs: a byte compare is cheaper than a role question (docs/casbin-compatibility.md,
     * "Indexed evaluation", on errors of rules that cannot match). */
    for (size_t c = 0; c < plan->nconj; c++) {
        const ts_expr_conj *cj = &plan->conj[c];
        if (cj->kind == TS_CONJ_EQ && !ts_str_eq(fields[cj->rule_idx], m->req[cj->req_idx].u.str))
            return TS_OK;
    }
    for (size_t c = 0; c < plan->nconj; c++) {
        if (plan->conj[c].kind != TS_CONJ_ROLE)
            continue;
        bool linked = false;
        ts_status st = role_holds(m, c, i, fields, &linked, err);
        if (st != TS_OK || !linked)
            return st;
    }
    *out = true;
    return TS_OK;
}
