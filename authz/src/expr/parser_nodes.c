/* Parser state shared by the matcher compiler's files: error reporting (the first error wins,
 * with its column), the token cursor, node construction with the tree-height bound, and constant
 * folding of literal-only subtrees (kept unfolded when evaluation fails, so that the failure
 * happens only if that branch is evaluated, as in Go). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parser_internal.h"

TS_PRINTF(4, 5)
void ts_authz__expr_perr(parser *p, ts_status code, size_t col, const char *fmt, ...)
{
    char where[32], msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(where, sizeof where, "column %zu", col);
    if (!p->failed)
        ts_error_set(p->err, code, where, "%s", msg);
    p->failed = true;
}

const tok *ts_authz__expr_peek(const parser *p)
{
    return &p->t[p->i < p->n ? p->i : p->n - 1];
}

bool ts_authz__expr_peek_op(const parser *p, const char *op)
{
    const tok *t = ts_authz__expr_peek(p);
    return t->kind == TOK_OP && strcmp(t->text, op) == 0;
}

node *ts_authz__expr_new_node(parser *p, node_kind kind, size_t col)
{
    node *n = ts_authz__arena_alloc(&p->e->arena, sizeof *n);
    if (!n) {
        ts_authz__expr_perr(p, TS_ENOMEM, col, "out of memory");
        return NULL;
    }
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->col = col;
    n->height = 1;
    return n;
}

bool ts_authz__expr_set_kids(parser *p, node *n, node *const *kids, size_t nk)
{
    if (nk) {
        n->kids = ts_authz__arena_alloc(&p->e->arena, nk * sizeof *n->kids);
        if (!n->kids) {
            ts_authz__expr_perr(p, TS_ENOMEM, n->col, "out of memory");
            return false;
        }
        memcpy(n->kids, kids, nk * sizeof *kids);
    }
    n->nkids = nk;
    size_t h = 0;
    for (size_t k = 0; k < nk; k++)
        if (kids[k]->height > h)
            h = kids[k]->height;
    n->height = h + 1;
    if (n->height > TS_AUTHZ_MAX_EXPR_DEPTH) {
        ts_authz__expr_perr(p, TS_ELIMIT, n->col, "expression nested too deeply (limit %u levels)",
                            TS_AUTHZ_MAX_EXPR_DEPTH);
        return false;
    }
    return true;
}

/* Replace @p n by its value when every operand is constant and evaluation succeeds. */
void ts_authz__expr_fold(parser *p, node *n)
{
    for (size_t k = 0; k < n->nkids; k++)
        if (n->kids[k]->kind != N_CONST)
            return;
    ts_expr_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.scratch = &p->e->arena; /* folded strings and lists live as long as the expression */
    ctx.builtins.scratch = &p->e->arena;
    ts_val v;
    if (ts_authz__expr_eval_node(n, &ctx, 0, &v, NULL) == TS_OK) {
        n->kind = N_CONST;
        n->op = OP_NONE;
        n->val = v;
        n->kids = NULL;
        n->nkids = 0;
        n->height = 1;
    }
}

bool ts_authz__expr_nvec_push(parser *p, nvec *v, node *x)
{
    if (v->n == v->cap) {
        size_t ncap = v->cap ? v->cap * 2 : 8;
        node **nv = realloc(v->v, ncap * sizeof *nv);
        if (!nv) {
            ts_authz__expr_perr(p, TS_ENOMEM, x->col, "out of memory");
            return false;
        }
        v->v = nv;
        v->cap = ncap;
    }
    v->v[v->n++] = x;
    return true;
}

static const char *tok_desc(const tok *t)
{
    switch (t->kind) {
    case TOK_EOF:
        return "end of expression";
    case TOK_LPAREN:
        return "(";
    case TOK_RPAREN:
        return ")";
    case TOK_COMMA:
        return ",";
    case TOK_NUM:
        return "number";
    case TOK_BOOL:
        return t->b ? "true" : "false";
    default:
        return t->text ? t->text : "?";
    }
}

void ts_authz__expr_unexpected(parser *p)
{
    const tok *t = ts_authz__expr_peek(p);
    if (t->kind == TOK_EOF)
        ts_authz__expr_perr(p, TS_EPARSE, t->col, "Unexpected end of expression");
    else
        ts_authz__expr_perr(p, TS_EPARSE, t->col, "Unexpected token '%s'", tok_desc(t));
}

bool ts_authz__expr_expect_rparen(parser *p)
{
    if (ts_authz__expr_peek(p)->kind != TOK_RPAREN) {
        ts_authz__expr_unexpected(p);
        return false;
    }
    p->i++;
    return true;
}

bool ts_authz__expr_enter(parser *p, size_t col)
{
    if (++p->depth > TS_AUTHZ_MAX_EXPR_DEPTH) {
        ts_authz__expr_perr(p, TS_ELIMIT, col, "expression nested too deeply (limit %u levels)",
                            TS_AUTHZ_MAX_EXPR_DEPTH);
        return false;
    }
    return true;
}
