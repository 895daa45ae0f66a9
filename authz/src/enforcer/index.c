/* Rule indexes: a hash index per rule field that appears in an equality (`r_x == p_y`) or
 * role (`g(r_x, p_y)`) conjunct of the matcher's top-level `&&` chain. A decision probes the
 * index with the request value (or every role reachable from it) and evaluates the matcher
 * only on those rules, in rule order, so first-match and explain semantics are unchanged. */
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"
#include "util/sort.h"

static ts_field_index *build_field_index(const ts_rule_set *rs, size_t field)
{
    ts_field_index *ix = calloc(1, sizeof *ix);
    if (!ix)
        return NULL;
    ts_authz__strmap_init(&ix->map);
    uint32_t *bucket_of = malloc((rs->n + 1) * sizeof *bucket_of);
    uint32_t *counts = NULL;
    if (!bucket_of)
        goto fail;
    for (size_t i = 0; i < rs->n; i++) {
        ts_str v = rs->fields[i * rs->nfields + field];
        uint32_t b = (uint32_t)ix->nbuckets, existing;
        int put = ts_authz__strmap_put(&ix->map, v.ptr, v.len, b, &existing);
        if (put < 0)
            goto fail;
        if (put == 0)
            b = existing;
        else
            ix->nbuckets++;
        bucket_of[i] = b;
    }
    counts = calloc(ix->nbuckets + 1, sizeof *counts);
    ix->offsets = calloc(ix->nbuckets + 1, sizeof *ix->offsets);
    ix->ordinals = malloc((rs->n + 1) * sizeof *ix->ordinals);
    if (!counts || !ix->offsets || !ix->ordinals)
        goto fail;
    for (size_t i = 0; i < rs->n; i++)
        ix->offsets[bucket_of[i] + 1]++;
    for (size_t b = 0; b < ix->nbuckets; b++)
        ix->offsets[b + 1] += ix->offsets[b];
    /* Filling in rule order keeps every bucket ascending. */
    for (size_t i = 0; i < rs->n; i++) {
        uint32_t b = bucket_of[i];
        ix->ordinals[ix->offsets[b] + counts[b]++] = (uint32_t)i;
    }
    free(bucket_of);
    free(counts);
    return ix;
fail:
    free(bucket_of);
    free(counts);
    ts_authz__strmap_cleanup(&ix->map);
    free(ix->offsets);
    free(ix->ordinals);
    free(ix);
    return NULL;
}

bool ts_authz__plan_conj_usable(const ts_plan *plan, const ts_snapshot *s, const ts_expr_conj *c)
{
    if (c->rule_idx >= plan->pdef->ntokens || c->req_idx >= plan->rdef->ntokens ||
        (c->dom_kind == 1 && c->dom_idx >= plan->rdef->ntokens))
        return false;
    if (c->kind == TS_CONJ_EQ)
        return true;
    if (c->kind == TS_CONJ_ROLE)
        return c->role_idx < s->model->g.n && s->rms[c->role_idx] &&
               ts_authz__rolemgr_is_simple(s->rms[c->role_idx]);
    return false;
}

ts_status ts_authz__plan_build_index(ts_plan *plan, const ts_snapshot *s, ts_error *err)
{
    if (!plan->uses_rule || !plan->rules || plan->rules->n == 0)
        return TS_OK;
    for (size_t i = 0; i < plan->nconj; i++) {
        const ts_expr_conj *c = &plan->conj[i];
        if (!ts_authz__plan_conj_usable(plan, s, c))
            continue;
        if (!plan->field_index) {
            plan->field_index = calloc(plan->rules->nfields + 1, sizeof *plan->field_index);
            if (!plan->field_index)
                return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
        }
        if (plan->field_index[c->rule_idx])
            continue;
        plan->field_index[c->rule_idx] = build_field_index(plan->rules, c->rule_idx);
        if (!plan->field_index[c->rule_idx])
            return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    }
    return ts_authz__plan_build_roles(plan, s, err);
}

void ts_authz__plan_free_index(ts_plan *plan)
{
    ts_authz__plan_free_roles(plan);
    if (!plan->field_index)
        return;
    for (size_t f = 0; plan->rules && f < plan->rules->nfields; f++) {
        ts_field_index *ix = plan->field_index[f];
        if (!ix)
            continue;
        ts_authz__strmap_cleanup(&ix->map);
        free(ix->offsets);
        free(ix->ordinals);
        free(ix);
    }
    free(plan->field_index);
    plan->field_index = NULL;
}

static void bucket(const ts_field_index *ix, ts_str key, const uint32_t **out, size_t *n)
{
    uint32_t b;
    if (!ts_authz__strmap_get(&ix->map, key.ptr, key.len, &b)) {
        *out = NULL;
        *n = 0;
        return;
    }
    *out = ix->ordinals + ix->offsets[b];
    *n = ix->offsets[b + 1] - ix->offsets[b];
}

#define UNION_INLINE 64

typedef struct union_acc {
    const ts_field_index *ix;
    const ts_plan_role *role; /* for union_add_id */
    uint32_t *items;          /* `inline_items` until it outgrows them */
    size_t n, cap, limit;
    bool overflow, oom;
    uint32_t inline_items[UNION_INLINE];
} union_acc;

static bool union_bucket(union_acc *u, const uint32_t *b, size_t bn)
{
    if (bn == 0)
        return true;
    if (u->n + bn > u->limit) {
        u->overflow = true;
        return false;
    }
    if (u->n + bn > u->cap) {
        size_t ncap = u->cap ? u->cap * 2 : 32;
        while (ncap < u->n + bn)
            ncap *= 2;
        uint32_t *ni = malloc(ncap * sizeof *ni);
        if (!ni) {
            u->oom = true;
            return false;
        }
        memcpy(ni, u->items, u->n * sizeof *ni);
        if (u->items != u->inline_items)
            free(u->items);
        u->items = ni;
        u->cap = ncap;
    }
    memcpy(u->items + u->n, b, bn * sizeof *b);
    u->n += bn;
    return true;
}

static bool union_add(void *ud, ts_str name)
{
    union_acc *u = ud;
    const uint32_t *b;
    size_t bn;
    bucket(u->ix, name, &b, &bn);
    return union_bucket(u, b, bn);
}

static bool union_add_id(void *ud, uint32_t id)
{
    union_acc *u = ud;
    uint32_t k;
    if (!ts_authz__idlut_find(&u->role->bucket_lut, u->role->bucket_id, id, &k))
        return true;
    return union_bucket(u, u->ix->ordinals + u->ix->offsets[k],
                        u->ix->offsets[k + 1] - u->ix->offsets[k]);
}

/* The request's name and every role reachable from it, as the union of their buckets: by id
 * through the decision's memo when the plan has the tables, else by name. */
static ts_status role_union(const ts_plan *plan, ts_role_memo *memo, size_t c, ts_str a,
                            const ts_str *domp, union_acc *u)
{
    const ts_expr_conj *cj = &plan->conj[c];
    const ts_plan_role *pr = plan->roles ? &plan->roles[c] : NULL;
    if (!pr || !pr->bucket_id)
        return ts_authz__rolemgr_reachable(memo->s->rms[cj->role_idx], a, domp, union_add, u, NULL);
    u->role = pr;
    uint32_t id = ts_authz__role_memo_id(memo, c);
    if (id == TS_ROLEMGR_NO_ID) {
        union_add(u, a); /* a name without links reaches itself only */
        return TS_OK;
    }
    const ts_rolemgr_view *v;
    ts_status st = ts_authz__role_memo_view(memo, c, &v, NULL);
    if (st != TS_OK)
        return st;
    return ts_authz__rolemgr_view_reachable(v, id, union_add_id, u);
}

/* Keep the candidates whose field equals the request's string for every equality conjunct:
 * a byte comparison per candidate instead of a matcher evaluation (RBAC with domains: the
 * domain's bucket narrows to the rule of the requested object). String equality is exact, so
 * the result is still a superset of the matching rules, in the same order. The result is in
 * @p in, or in @p buf (which @p in may be: the filter only moves entries down). */
static const uint32_t *filter_eq(const ts_plan *plan, const ts_val *req, size_t nreq,
                                 const uint32_t *in, size_t *n, uint32_t *buf)
{
    const ts_rule_set *rs = plan->rules;
    const uint32_t *src = in;
    size_t m = *n;
    for (size_t c = 0; c < plan->nconj && m > 0; c++) {
        const ts_expr_conj *cj = &plan->conj[c];
        if (cj->kind != TS_CONJ_EQ || cj->req_idx >= nreq || cj->rule_idx >= rs->nfields ||
            req[cj->req_idx].kind != TS_VAL_STR)
            continue;
        ts_str want = req[cj->req_idx].u.str;
        size_t k = 0;
        for (size_t i = 0; i < m; i++)
            if (ts_str_eq(rs->fields[(size_t)src[i] * rs->nfields + cj->rule_idx], want))
                buf[k++] = src[i];
        src = buf;
        m = k;
    }
    *n = m;
    return src;
}

bool ts_authz__plan_candidates(const ts_plan *plan, ts_role_memo *memo, const ts_val *req,
                               size_t nreq, uint32_t *buf, size_t bufcap, const uint32_t **out,
                               size_t *n, bool *owned)
{
    if (!plan->field_index)
        return false;
    const uint32_t *best = NULL;
    size_t best_n = (size_t)-1;
    bool have = false;
    /* Equality conjuncts first: one probe each, and often decisive. */
    for (size_t i = 0; i < plan->nconj; i++) {
        const ts_expr_conj *c = &plan->conj[i];
        if (c->kind != TS_CONJ_EQ || !plan->field_index[c->rule_idx] || c->req_idx >= nreq)
            continue;
        /* A field with few distinct values (an action) cannot beat a small bucket already
         * found: the filter below compares it on the candidates without a hash probe. */
        const ts_field_index *fx = plan->field_index[c->rule_idx];
        if (have && fx->nbuckets && plan->rules->n / fx->nbuckets >= best_n)
            continue;
        const ts_val *v = &req[c->req_idx];
        const uint32_t *b;
        size_t bn;
        if (v->kind != TS_VAL_STR) {
            /* A rule field is a string; strict equality with a non-string never holds. */
            b = NULL;
            bn = 0;
        } else {
            bucket(plan->field_index[c->rule_idx], v->u.str, &b, &bn);
        }
        if (bn < best_n) {
            best = b;
            best_n = bn;
            have = true;
        }
        /* Another probe costs about as much as evaluating a couple of rules. */
        if (best_n <= 2)
            break;
    }
    /* When the roles will narrow a large bucket, the equality filter waits for their result:
     * it then compares a few rules instead of the whole bucket. */
    bool may_narrow = false;
    for (size_t i = 0; i < plan->nconj && best_n > 4; i++)
        may_narrow |=
            plan->conj[i].kind == TS_CONJ_ROLE && plan->field_index[plan->conj[i].rule_idx];
    bool filtered = false;
    if (have && best_n > 1 && best_n <= bufcap && !may_narrow) {
        best = filter_eq(plan, req, nreq, best, &best_n, buf);
        filtered = true;
    }
    uint32_t *best_owned = NULL;
    /* A few candidates are cheaper to evaluate than a role expansion is to compute. */
    for (size_t i = 0; i < plan->nconj && best_n > 4; i++) {
        const ts_expr_conj *c = &plan->conj[i];
        if (c->kind != TS_CONJ_ROLE || !plan->field_index[c->rule_idx] || c->req_idx >= nreq)
            continue;
        const ts_val *a = &req[c->req_idx];
        if (a->kind != TS_VAL_STR)
            continue; /* leave type errors to the evaluator */
        ts_str dom;
        const ts_str *domp = NULL;
        if (c->dom_kind == 1) {
            if (c->dom_idx >= nreq || req[c->dom_idx].kind != TS_VAL_STR)
                continue;
            dom = req[c->dom_idx].u.str;
            domp = &dom;
        } else if (c->dom_kind == 2) {
            dom = c->dom_lit;
            domp = &dom;
        }
        union_acc u;
        u.ix = plan->field_index[c->rule_idx];
        u.role = NULL;
        u.items = u.inline_items;
        u.n = 0;
        u.cap = UNION_INLINE;
        u.limit = best_n;
        u.overflow = u.oom = false;
        ts_status rst = role_union(plan, memo, i, a->u.str, domp, &u);
        if (rst != TS_OK || u.overflow || u.oom || u.n >= best_n) {
            if (u.items != u.inline_items)
                free(u.items);
            continue;
        }
        /* Buckets of distinct names are disjoint: sorting is all that is needed. */
        ts_sort_u32(u.items, u.n);
        free(best_owned);
        best_owned = NULL;
        if (u.n <= bufcap) {
            memcpy(buf, u.items, u.n * sizeof *buf);
            best = buf;
            if (u.items != u.inline_items)
                free(u.items);
        } else {
            /* Only a heap-grown union can exceed the caller's buffer. */
            best_owned = u.items;
            best = u.items;
        }
        best_n = u.n;
        have = true;
        filtered = false;
    }
    if (!have) {
        free(best_owned);
        return false;
    }
    /* The roles' rules have not met the equality conjuncts yet: one tight pass over the array
     * leaves few rules for the matcher (cheaper than the fast match's own comparisons on
     * every candidate, measured with bench/authz_million). */
    if (!filtered && best_n > 0 && best_n <= bufcap)
        best = filter_eq(plan, req, nreq, best, &best_n, buf);
    *out = best;
    *n = best_n;
    *owned = best_owned != NULL && best == best_owned;
    if (!*owned)
        free(best_owned);
    return true;
}
