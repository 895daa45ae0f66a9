/* Recursive-descent compiler with govaluate's precedence (all binary levels left-associative):
 *   ,  <  ?: ??  <  ||  <  &&  <  == != > >= < <= =~ !~ in  <  & | ^  <  << >>  <  + -
 *   <  * / %  <  **  <  prefix - ! ~, call, accessor, literal, ( ... )
 * `&&`, `||` and `,` build n-ary nodes so that long chains (a common shape for generated
 * matchers) neither deepen the tree nor the evaluator's recursion. Literal-only subtrees are
 * folded at compile time when they evaluate without error; a subtree that would fail is kept
 * so that the failure happens only if that branch is evaluated, as in Go. This file holds the
 * binary levels and the entry point; operands are in parser_operands.c. */
#include <stdlib.h>
#include <string.h>

#include "parser_internal.h"

static node *parse_tern(parser *p);

static node *mk_bin(parser *p, op_kind op, size_t col, node *l, node *r)
{
    node *n = ts_authz__expr_new_node(p, N_BIN, col);
    node *kids[2] = {l, r};
    if (!n || !ts_authz__expr_set_kids(p, n, kids, 2))
        return NULL;
    n->op = op;
    ts_authz__expr_fold(p, n);
    return n;
}

typedef struct opmap {
    const char *sym;
    op_kind op;
} opmap;

static const opmap L_POW[] = {{"**", OP_POW}, {NULL, OP_NONE}};
static const opmap L_MUL[] = {{"*", OP_MUL}, {"/", OP_DIV}, {"%", OP_MOD}, {NULL, OP_NONE}};
static const opmap L_ADD[] = {{"+", OP_ADD}, {"-", OP_SUB}, {NULL, OP_NONE}};
static const opmap L_SHIFT[] = {{"<<", OP_SHL}, {">>", OP_SHR}, {NULL, OP_NONE}};
static const opmap L_BIT[] = {{"&", OP_BAND}, {"|", OP_BOR}, {"^", OP_BXOR}, {NULL, OP_NONE}};
static const opmap L_CMP[] = {{"==", OP_EQ}, {"!=", OP_NE},  {">", OP_GT},   {">=", OP_GE},
                              {"<", OP_LT},  {"<=", OP_LE},  {"=~", OP_REQ}, {"!~", OP_NREQ},
                              {"in", OP_IN}, {NULL, OP_NONE}};
static const opmap L_TERN[] = {
    {"?", OP_TIF}, {":", OP_TELSE}, {"??", OP_COALESCE}, {NULL, OP_NONE}};

static op_kind match_op(const parser *p, const opmap *m)
{
    const tok *t = ts_authz__expr_peek(p);
    if (t->kind != TOK_OP)
        return OP_NONE;
    for (; m->sym; m++)
        if (strcmp(t->text, m->sym) == 0)
            return m->op;
    return OP_NONE;
}

typedef node *(*level_fn)(parser *);

static node *parse_level(parser *p, const opmap *ops, level_fn next)
{
    node *l = next(p);
    while (l) {
        op_kind op = match_op(p, ops);
        if (op == OP_NONE)
            break;
        const tok *t = ts_authz__expr_peek(p);
        p->i++;
        /* Go compiles a constant pattern after =~ / !~ up front: a bad one fails the matcher. */
        if ((op == OP_REQ || op == OP_NREQ) && ts_authz__expr_peek(p)->kind == TOK_STR) {
            const tok *pt = ts_authz__expr_peek(p);
            bool m;
            ts_error rerr;
            ts_error_clear(&rerr);
            if (ts_authz__regex_search(NULL, pt->text, pt->len, "", 0, &m, &rerr) != TS_OK) {
                ts_authz__expr_perr(p, TS_EPARSE, pt->col,
                                    "Unable to compile regexp pattern '%s': %s", pt->text,
                                    rerr.msg);
                return NULL;
            }
        }
        node *r = next(p);
        if (!r)
            return NULL;
        l = mk_bin(p, op, t->col, l, r);
    }
    return l;
}

static node *parse_pow(parser *p)
{
    return parse_level(p, L_POW, ts_authz__expr_parse_unary);
}
static node *parse_mul(parser *p)
{
    return parse_level(p, L_MUL, parse_pow);
}
static node *parse_add(parser *p)
{
    return parse_level(p, L_ADD, parse_mul);
}
static node *parse_shift(parser *p)
{
    return parse_level(p, L_SHIFT, parse_add);
}
static node *parse_bit(parser *p)
{
    return parse_level(p, L_BIT, parse_shift);
}
static node *parse_cmp(parser *p)
{
    return parse_level(p, L_CMP, parse_bit);
}

/* n-ary && / ||; (a && b) && c flattens to the same node, which evaluates identically. */
static node *parse_logical(parser *p, const char *sym, node_kind kind, level_fn next)
{
    node *first = next(p);
    if (!first || !ts_authz__expr_peek_op(p, sym))
        return first;
    size_t col = ts_authz__expr_peek(p)->col;
    nvec v = {NULL, 0, 0};
    node *res = NULL;
    if (first->kind == kind) {
        for (size_t k = 0; k < first->nkids; k++)
            if (!ts_authz__expr_nvec_push(p, &v, first->kids[k]))
                goto out;
    } else if (!ts_authz__expr_nvec_push(p, &v, first)) {
        goto out;
    }
    while (ts_authz__expr_peek_op(p, sym)) {
        p->i++;
        node *r = next(p);
        if (!r || !ts_authz__expr_nvec_push(p, &v, r))
            goto out;
    }
    res = ts_authz__expr_new_node(p, kind, col);
    if (!res || !ts_authz__expr_set_kids(p, res, v.v, v.n)) {
        res = NULL;
        goto out;
    }
    ts_authz__expr_fold(p, res);
out:
    free(v.v);
    return res;
}

static node *parse_and(parser *p)
{
    return parse_logical(p, "&&", N_AND, parse_cmp);
}
static node *parse_or(parser *p)
{
    return parse_logical(p, "||", N_OR, parse_and);
}
static node *parse_tern(parser *p)
{
    return parse_level(p, L_TERN, parse_or);
}

node *ts_authz__expr_parse_sep(parser *p, bool fold_list)
{
    node *first = parse_tern(p);
    if (!first || ts_authz__expr_peek(p)->kind != TOK_COMMA)
        return first;
    size_t col = ts_authz__expr_peek(p)->col;
    nvec v = {NULL, 0, 0};
    node *res = NULL;
    if (!ts_authz__expr_nvec_push(p, &v, first))
        goto out;
    while (ts_authz__expr_peek(p)->kind == TOK_COMMA) {
        p->i++;
        node *r = parse_tern(p);
        if (!r || !ts_authz__expr_nvec_push(p, &v, r))
            goto out;
    }
    res = ts_authz__expr_new_node(p, N_LIST, col);
    if (!res || !ts_authz__expr_set_kids(p, res, v.v, v.n)) {
        res = NULL;
        goto out;
    }
    if (fold_list)
        ts_authz__expr_fold(p, res);
out:
    free(v.v);
    return res;
}

static const char *const *copy_names(ts_arena *a, const char *const *src, size_t n, bool *ok)
{
    if (n == 0 || !src)
        return NULL;
    const char **dst = ts_authz__arena_alloc(a, n * sizeof *dst);
    if (!dst) {
        *ok = false;
        return NULL;
    }
    for (size_t k = 0; k < n; k++) {
        dst[k] = src[k] ? ts_authz__arena_strndup(a, src[k], strlen(src[k])) : NULL;
        if (src[k] && !dst[k])
            *ok = false;
    }
    return dst;
}

ts_expr *ts_authz__expr_compile(const char *src, size_t len, const ts_expr_names *names,
                                ts_error *err)
{
    return ts_authz__expr_compile_with(src, len, names, NULL, 0, err);
}

ts_expr *ts_authz__expr_compile_with(const char *src, size_t len, const ts_expr_names *names,
                                     const ts_custom_fn *const *fns, size_t nfns, ts_error *err)
{
    if (!src && len) {
        ts_error_set(err, TS_EINVAL, "matcher", "NULL expression text");
        return NULL;
    }
    if (len > TS_AUTHZ_MAX_EXPR_BYTES) {
        ts_error_set(err, TS_ELIMIT, "matcher", "expression longer than %u bytes",
                     TS_AUTHZ_MAX_EXPR_BYTES);
        return NULL;
    }
    ts_expr *e = calloc(1, sizeof *e);
    if (!e) {
        ts_error_set(err, TS_ENOMEM, "matcher", "out of memory");
        return NULL;
    }
    ts_authz__arena_init(&e->arena, 0);
    bool ok = true;
    if (names) {
        e->names.req = copy_names(&e->arena, names->req, names->nreq, &ok);
        e->names.nreq = e->names.req ? names->nreq : 0;
        e->names.rule = copy_names(&e->arena, names->rule, names->nrule, &ok);
        e->names.nrule = e->names.rule ? names->nrule : 0;
        e->names.roles = copy_names(&e->arena, names->roles, names->nroles, &ok);
        e->names.nroles = e->names.roles ? names->nroles : 0;
    }
    if (nfns && fns) {
        e->fns = ts_authz__arena_alloc(&e->arena, nfns * sizeof *e->fns);
        if (e->fns) {
            memcpy(e->fns, fns, nfns * sizeof *e->fns);
            e->nfns = nfns;
        } else {
            ok = false;
        }
    }
    if (!ok) {
        ts_error_set(err, TS_ENOMEM, "matcher", "out of memory");
        ts_authz__expr_free(e);
        return NULL;
    }
    tok_list toks = {NULL, 0, 0};
    if (ts_authz__expr_lex(src ? src : "", len, &e->arena, &toks, err) != TS_OK) {
        free(toks.v);
        ts_authz__expr_free(e);
        return NULL;
    }
    parser p = {toks.v, toks.n, 0, e, err, 0, false};
    node *root = NULL;
    if (toks.n == 1) {
        ts_authz__expr_perr(&p, TS_EPARSE, 1, "Unexpected end of expression");
    } else {
        root = ts_authz__expr_parse_sep(&p, true);
        if (root && ts_authz__expr_peek(&p)->kind != TOK_EOF) {
            ts_authz__expr_unexpected(&p);
            root = NULL;
        }
    }
    free(toks.v);
    if (!root) {
        if (!p.failed)
            ts_error_set(err, TS_EPARSE, "matcher", "invalid expression");
        ts_authz__expr_free(e);
        return NULL;
    }
    e->root = root;
    return e;
}

void ts_authz__expr_free(ts_expr *e)
{
    if (!e)
        return;
    ts_authz__arena_cleanup(&e->arena);
    free(e);
}
