/* Recursive-descent compiler with govaluate's precedence (all binary levels left-associative):
 *   ,  <  ?: ??  <  ||  <  &&  <  == != > >= < <= =~ !~ in  <  & | ^  <  << >>  <  + -
 *   <  * / %  <  **  <  prefix - ! ~, call, accessor, literal, ( ... )
 * `&&`, `||` and `,` build n-ary nodes so that long chains (a common shape for generated
 * matchers) neither deepen the tree nor the evaluator's recursion. Literal-only subtrees are
 * folded at compile time when they evaluate without error; a subtree that would fail is kept
 * so that the failure happens only if that branch is evaluated, as in Go. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr_internal.h"

typedef struct parser {
    const tok *t;
    size_t n;
    size_t i;
    ts_expr *e;
    ts_error *err;
    unsigned depth;
    bool failed;
} parser;

static TS_PRINTF(4, 5) void perr(parser *p, ts_status code, size_t col, const char *fmt, ...)
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

static const tok *peek(const parser *p)
{
    return &p->t[p->i < p->n ? p->i : p->n - 1];
}

static bool peek_op(const parser *p, const char *op)
{
    const tok *t = peek(p);
    return t->kind == TOK_OP && strcmp(t->text, op) == 0;
}

static node *new_node(parser *p, node_kind kind, size_t col)
{
    node *n = ts_authz__arena_alloc(&p->e->arena, sizeof *n);
    if (!n) {
        perr(p, TS_ENOMEM, col, "out of memory");
        return NULL;
    }
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->col = col;
    n->height = 1;
    return n;
}

static bool set_kids(parser *p, node *n, node *const *kids, size_t nk)
{
    if (nk) {
        n->kids = ts_authz__arena_alloc(&p->e->arena, nk * sizeof *n->kids);
        if (!n->kids) {
            perr(p, TS_ENOMEM, n->col, "out of memory");
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
        perr(p, TS_ELIMIT, n->col, "expression nested too deeply (limit %u levels)",
             TS_AUTHZ_MAX_EXPR_DEPTH);
        return false;
    }
    return true;
}

/* Replace @p n by its value when every operand is constant and evaluation succeeds. */
static void fold(parser *p, node *n)
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

static node *mk_bin(parser *p, op_kind op, size_t col, node *l, node *r)
{
    node *n = new_node(p, N_BIN, col);
    node *kids[2] = {l, r};
    if (!n || !set_kids(p, n, kids, 2))
        return NULL;
    n->op = op;
    fold(p, n);
    return n;
}

/* A growable temporary vector of nodes for n-ary constructs. */
typedef struct nvec {
    node **v;
    size_t n, cap;
} nvec;

static bool nvec_push(parser *p, nvec *v, node *x)
{
    if (v->n == v->cap) {
        size_t ncap = v->cap ? v->cap * 2 : 8;
        node **nv = realloc(v->v, ncap * sizeof *nv);
        if (!nv) {
            perr(p, TS_ENOMEM, x->col, "out of memory");
            return false;
        }
        v->v = nv;
        v->cap = ncap;
    }
    v->v[v->n++] = x;
    return true;
}

static node *parse_sep(parser *p, bool fold_list);
static node *parse_tern(parser *p);

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

static void unexpected(parser *p)
{
    const tok *t = peek(p);
    if (t->kind == TOK_EOF)
        perr(p, TS_EPARSE, t->col, "Unexpected end of expression");
    else
        perr(p, TS_EPARSE, t->col, "Unexpected token '%s'", tok_desc(t));
}

static bool expect_rparen(parser *p)
{
    if (peek(p)->kind != TOK_RPAREN) {
        unexpected(p);
        return false;
    }
    p->i++;
    return true;
}

static bool enter(parser *p, size_t col)
{
    if (++p->depth > TS_AUTHZ_MAX_EXPR_DEPTH) {
        perr(p, TS_ELIMIT, col, "expression nested too deeply (limit %u levels)",
             TS_AUTHZ_MAX_EXPR_DEPTH);
        return false;
    }
    return true;
}

static bool name_in(const char *const *list, size_t n, const char *s, size_t *idx)
{
    for (size_t k = 0; k < n; k++) {
        if (list[k] && strcmp(list[k], s) == 0) {
            *idx = k;
            return true;
        }
    }
    return false;
}

/* An identifier used as a value: request slot, rule slot or unknown (fails when evaluated). */
static node *variable(parser *p, const char *name, size_t len, size_t col)
{
    const ts_expr_names *nm = &p->e->names;
    size_t idx;
    node *n;
    if (name_in(nm->req, nm->nreq, name, &idx)) {
        n = new_node(p, N_REQ, col);
    } else if (name_in(nm->rule, nm->nrule, name, &idx)) {
        n = new_node(p, N_RULE, col);
    } else {
        n = new_node(p, N_UNKNOWN, col);
        idx = 0;
    }
    if (!n)
        return NULL;
    n->idx = idx;
    n->name = ts_str_make(name, len);
    return n;
}

static node *parse_call(parser *p, const tok *name)
{
    const ts_expr_names *nm = &p->e->names;
    node_kind kind;
    size_t idx = 0;
    int b = ts_authz__builtin_lookup(name->text, name->len);
    if (b >= 0) {
        kind = N_BUILTIN;
        idx = (size_t)b;
    } else if (name_in(nm->roles, nm->nroles, name->text, &idx)) {
        kind = N_ROLE;
    } else {
        kind = N_EVAL;
    }
    p->i++; /* '(' */
    if (!enter(p, name->col))
        return NULL;
    nvec args = {NULL, 0, 0};
    node *res = NULL;
    if (peek(p)->kind == TOK_RPAREN) {
        p->i++;
    } else {
        node *a = parse_sep(p, false);
        if (!a || !expect_rparen(p))
            goto out;
        /* Go spreads a list argument: f(a, b) and f((a, b)) both pass two arguments. */
        if (a->kind == N_LIST) {
            for (size_t k = 0; k < a->nkids; k++)
                if (!nvec_push(p, &args, a->kids[k]))
                    goto out;
        } else if (!nvec_push(p, &args, a)) {
            goto out;
        }
    }
    if (args.n > TS_EXPR_MAX_ARGS) {
        perr(p, TS_ELIMIT, name->col, "%s: too many arguments (%zu)", name->text, args.n);
        goto out;
    }
    if (kind == N_EVAL && args.n != 1) {
        perr(p, TS_EPARSE, name->col, "eval: expected 1 argument, but got %zu", args.n);
        goto out;
    }
    res = new_node(p, kind, name->col);
    if (!res || !set_kids(p, res, args.v, args.n)) {
        res = NULL;
        goto out;
    }
    res->idx = idx;
    res->name = ts_str_make(name->text, name->len);
    res->names = nm;
out:
    free(args.v);
    p->depth--;
    return res;
}

static bool is_function_name(const parser *p, const tok *t)
{
    size_t idx;
    if (ts_authz__builtin_lookup(t->text, t->len) >= 0)
        return true;
    if (name_in(p->e->names.roles, p->e->names.nroles, t->text, &idx))
        return true;
    return strcmp(t->text, "eval") == 0;
}

static node *parse_accessor(parser *p, const tok *t)
{
    if (p->i < p->n && peek(p)->kind == TOK_LPAREN) {
        perr(p, TS_EUNSUPPORTED, t->col, "Method calls are not supported ('%s(...)')", t->text);
        return NULL;
    }
    size_t nseg = 1;
    for (size_t k = 0; k < t->len; k++)
        if (t->text[k] == '.')
            nseg++;
    ts_str *segs = ts_authz__arena_alloc(&p->e->arena, nseg * sizeof *segs);
    if (!segs) {
        perr(p, TS_ENOMEM, t->col, "out of memory");
        return NULL;
    }
    size_t s = 0, start = 0;
    for (size_t k = 0; k <= t->len; k++) {
        if (k == t->len || t->text[k] == '.') {
            segs[s++] = ts_str_make(t->text + start, k - start);
            start = k + 1;
        }
    }
    /* The base name needs its own NUL-terminated copy for the slot lookup. */
    char *base = ts_authz__arena_strndup(&p->e->arena, segs[0].ptr, segs[0].len);
    if (!base) {
        perr(p, TS_ENOMEM, t->col, "out of memory");
        return NULL;
    }
    node *b = variable(p, base, segs[0].len, t->col);
    node *n = new_node(p, N_ACCESS, t->col);
    if (!b || !n || !set_kids(p, n, &b, 1))
        return NULL;
    n->name = ts_str_make(t->text, t->len);
    n->base = segs[0];
    n->path = segs + 1;
    n->npath = nseg - 1;
    return n;
}

static bool is_literal(const tok *t)
{
    return t->kind == TOK_NUM || t->kind == TOK_STR || t->kind == TOK_BOOL;
}

static node *parse_primary(parser *p)
{
    const tok *t = peek(p);
    node *n;
    switch (t->kind) {
    case TOK_NUM:
    case TOK_STR:
    case TOK_BOOL:
        p->i++;
        n = new_node(p, N_CONST, t->col);
        if (!n)
            return NULL;
        if (t->kind == TOK_NUM)
            n->val = ts_val_num(t->num);
        else if (t->kind == TOK_STR)
            n->val = ts_val_str(t->text, t->len);
        else
            n->val = ts_val_bool(t->b);
        return n;
    case TOK_LPAREN: {
        /* govaluate wraps a single literal in a list when the clause follows `in`. */
        bool wrap = p->i > 0 && p->t[p->i - 1].kind == TOK_OP &&
                    strcmp(p->t[p->i - 1].text, "in") == 0 && p->i + 2 < p->n &&
                    is_literal(&p->t[p->i + 1]) && p->t[p->i + 2].kind == TOK_RPAREN;
        p->i++;
        if (!enter(p, t->col))
            return NULL;
        if (peek(p)->kind == TOK_RPAREN) {
            unexpected(p);
            return NULL;
        }
        n = parse_sep(p, true);
        if (!n || !expect_rparen(p))
            return NULL;
        p->depth--;
        if (wrap) {
            node *l = new_node(p, N_LIST, t->col);
            if (!l || !set_kids(p, l, &n, 1))
                return NULL;
            fold(p, l);
            n = l;
        }
        return n;
    }
    case TOK_IDENT:
        p->i++;
        if (is_function_name(p, t)) {
            if (peek(p)->kind != TOK_LPAREN) {
                perr(p, TS_EPARSE, t->col, "Function '%s' must be followed by '('", t->text);
                return NULL;
            }
            return parse_call(p, t);
        }
        if (peek(p)->kind == TOK_LPAREN) {
            perr(p, TS_EPARSE, t->col, "Undefined function name '%s'", t->text);
            return NULL;
        }
        return variable(p, t->text, t->len, t->col);
    case TOK_ACCESS:
        p->i++;
        return parse_accessor(p, t);
    default:
        unexpected(p);
        return NULL;
    }
}

static node *parse_unary(parser *p)
{
    const tok *t = peek(p);
    op_kind op = OP_NONE;
    if (t->kind == TOK_OP) {
        if (strcmp(t->text, "-") == 0)
            op = OP_NEG;
        else if (strcmp(t->text, "!") == 0)
            op = OP_NOT;
        else if (strcmp(t->text, "~") == 0)
            op = OP_BNOT;
    }
    if (op == OP_NONE)
        return parse_primary(p);
    p->i++;
    if (!enter(p, t->col))
        return NULL;
    node *k = parse_unary(p);
    if (!k)
        return NULL;
    p->depth--;
    node *n = new_node(p, N_UNARY, t->col);
    if (!n || !set_kids(p, n, &k, 1))
        return NULL;
    n->op = op;
    fold(p, n);
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
    const tok *t = peek(p);
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
        const tok *t = peek(p);
        p->i++;
        /* Go compiles a constant pattern after =~ / !~ up front: a bad one fails the matcher. */
        if ((op == OP_REQ || op == OP_NREQ) && peek(p)->kind == TOK_STR) {
            const tok *pt = peek(p);
            bool m;
            ts_error rerr;
            ts_error_clear(&rerr);
            if (ts_authz__regex_search(NULL, pt->text, pt->len, "", 0, &m, &rerr) != TS_OK) {
                perr(p, TS_EPARSE, pt->col, "Unable to compile regexp pattern '%s': %s", pt->text,
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
    return parse_level(p, L_POW, parse_unary);
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
    if (!first || !peek_op(p, sym))
        return first;
    size_t col = peek(p)->col;
    nvec v = {NULL, 0, 0};
    node *res = NULL;
    if (first->kind == kind) {
        for (size_t k = 0; k < first->nkids; k++)
            if (!nvec_push(p, &v, first->kids[k]))
                goto out;
    } else if (!nvec_push(p, &v, first)) {
        goto out;
    }
    while (peek_op(p, sym)) {
        p->i++;
        node *r = next(p);
        if (!r || !nvec_push(p, &v, r))
            goto out;
    }
    res = new_node(p, kind, col);
    if (!res || !set_kids(p, res, v.v, v.n)) {
        res = NULL;
        goto out;
    }
    fold(p, res);
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

static node *parse_sep(parser *p, bool fold_list)
{
    node *first = parse_tern(p);
    if (!first || peek(p)->kind != TOK_COMMA)
        return first;
    size_t col = peek(p)->col;
    nvec v = {NULL, 0, 0};
    node *res = NULL;
    if (!nvec_push(p, &v, first))
        goto out;
    while (peek(p)->kind == TOK_COMMA) {
        p->i++;
        node *r = parse_tern(p);
        if (!r || !nvec_push(p, &v, r))
            goto out;
    }
    res = new_node(p, N_LIST, col);
    if (!res || !set_kids(p, res, v.v, v.n)) {
        res = NULL;
        goto out;
    }
    if (fold_list)
        fold(p, res);
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
        perr(&p, TS_EPARSE, 1, "Unexpected end of expression");
    } else {
        root = parse_sep(&p, true);
        if (root && peek(&p)->kind != TOK_EOF) {
            unexpected(&p);
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
