/* Structural queries used by the rule indexer: the top-level conjuncts of a matcher and the
 * rule fields that are fed to eval(). */
#include <string.h>

#include "expr_internal.h"

static void classify(const node *n, ts_expr_conj *c)
{
    memset(c, 0, sizeof *c);
    c->kind = TS_CONJ_OTHER;
    if (n->kind == N_BIN && n->op == OP_EQ) {
        const node *a = n->kids[0], *b = n->kids[1];
        if (a->kind == N_REQ && b->kind == N_RULE) {
            c->kind = TS_CONJ_EQ;
            c->req_idx = a->idx;
            c->rule_idx = b->idx;
        } else if (a->kind == N_RULE && b->kind == N_REQ) {
            c->kind = TS_CONJ_EQ;
            c->req_idx = b->idx;
            c->rule_idx = a->idx;
        }
        return;
    }
    if (n->kind == N_ROLE && (n->nkids == 2 || n->nkids == 3) && n->kids[0]->kind == N_REQ &&
        n->kids[1]->kind == N_RULE) {
        if (n->nkids == 3) {
            const node *d = n->kids[2];
            if (d->kind == N_REQ) {
                c->dom_kind = 1;
                c->dom_idx = d->idx;
            } else if (d->kind == N_CONST && d->val.kind == TS_VAL_STR) {
                c->dom_kind = 2;
                c->dom_lit = d->val.u.str;
            } else {
                return;
            }
        }
        c->kind = TS_CONJ_ROLE;
        c->req_idx = n->kids[0]->idx;
        c->rule_idx = n->kids[1]->idx;
        c->role_idx = n->idx;
    }
}

size_t ts_authz__expr_conjuncts(const ts_expr *e, ts_expr_conj *out, size_t cap)
{
    if (!e || !e->root)
        return 0;
    const node *r = e->root;
    if (r->kind != N_AND) {
        if (cap > 0 && out)
            classify(r, &out[0]);
        return 1;
    }
    for (size_t k = 0; k < r->nkids && out; k++)
        if (k < cap)
            classify(r->kids[k], &out[k]);
    return r->nkids;
}

static void collect(const node *n, size_t *out, size_t cap, size_t *count)
{
    if (n->kind == N_EVAL && n->nkids == 1 && n->kids[0]->kind == N_RULE) {
        size_t idx = n->kids[0]->idx;
        for (size_t k = 0; k < *count && k < cap; k++)
            if (out[k] == idx)
                return;
        if (*count < cap && out)
            out[*count] = idx;
        (*count)++;
    }
    for (size_t k = 0; k < n->nkids; k++)
        collect(n->kids[k], out, cap, count);
}

size_t ts_authz__expr_eval_rule_fields(const ts_expr *e, size_t *out, size_t cap)
{
    size_t count = 0;
    if (e && e->root)
        collect(e->root, out, out ? cap : 0, &count);
    return count;
}
