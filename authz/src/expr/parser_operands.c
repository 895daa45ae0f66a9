/* The matcher compiler's operands: literals, parenthesised groups, variables (request and rule
 * slots, or unknown names that fail only when evaluated), accessors, calls of built-in, role and
 * eval functions, and the prefix operators - ! ~. */
#include <stdlib.h>
#include <string.h>

#include "parser_internal.h"

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
        n = ts_authz__expr_new_node(p, N_REQ, col);
    } else if (name_in(nm->rule, nm->nrule, name, &idx)) {
        n = ts_authz__expr_new_node(p, N_RULE, col);
    } else {
        n = ts_authz__expr_new_node(p, N_UNKNOWN, col);
        idx = 0;
    }
    if (!n)
        return NULL;
    n->idx = idx;
    n->name = ts_str_make(name, len);
    return n;
}

/* The registered function called @p name; the latest registration wins. */
static const ts_custom_fn *custom_lookup(const ts_expr *e, const char *name)
{
    for (size_t k = e->nfns; k-- > 0;)
        if (e->fns[k] && strcmp(e->fns[k]->name, name) == 0)
            return e->fns[k];
    return NULL;
}

/* The kind an argument is known to have at compile time, or ANY. Rule fields are always
 * strings; literals, role checks, built-ins and registered functions with a fixed result say
 * theirs. */
static ts_authz_kind static_kind(const node *a)
{
    switch (a->kind) {
    case N_CONST:
        if (a->val.kind == TS_VAL_STR)
            return TS_AUTHZ_KIND_STRING;
        if (a->val.kind == TS_VAL_NUM)
            return TS_AUTHZ_KIND_NUMBER;
        if (a->val.kind == TS_VAL_BOOL)
            return TS_AUTHZ_KIND_BOOL;
        return TS_AUTHZ_KIND_ANY;
    case N_RULE:
        return TS_AUTHZ_KIND_STRING;
    case N_ROLE:
        return TS_AUTHZ_KIND_BOOL;
    case N_BUILTIN:
        return a->idx == TS_FN_KEYGET || a->idx == TS_FN_KEYGET2 || a->idx == TS_FN_KEYGET3
                   ? TS_AUTHZ_KIND_STRING
                   : TS_AUTHZ_KIND_BOOL;
    case N_CUSTOM:
        return a->fn->desc.result;
    default:
        return TS_AUTHZ_KIND_ANY;
    }
}

static const char *kind_text(ts_authz_kind k)
{
    return k == TS_AUTHZ_KIND_STRING   ? "a string"
           : k == TS_AUTHZ_KIND_NUMBER ? "a number"
                                       : "a bool";
}

/* Argument count and the kinds known now; the rest is checked per call. */
static bool check_custom(parser *p, const tok *name, const ts_custom_fn *f, node *const *args,
                         size_t n)
{
    const ts_authz_function *d = &f->desc;
    if (d->arity != TS_AUTHZ_FUNCTION_VARIADIC && n != d->arity) {
        ts_authz__expr_perr(p, TS_EPARSE, name->col, "%s: expected %zu arguments, but got %zu",
                            f->name, d->arity, n);
        return false;
    }
    for (size_t k = 0; k < n; k++) {
        ts_authz_kind want = d->arity == TS_AUTHZ_FUNCTION_VARIADIC ? d->args[0] : d->args[k];
        ts_authz_kind have = static_kind(args[k]);
        if (want != TS_AUTHZ_KIND_ANY && have != TS_AUTHZ_KIND_ANY && have != want) {
            ts_authz__expr_perr(p, TS_ETYPE, args[k]->col, "%s: argument %zu must be %s, not %s",
                                f->name, k + 1, kind_text(want), kind_text(have));
            return false;
        }
    }
    return true;
}

static node *parse_call(parser *p, const tok *name)
{
    const ts_expr_names *nm = &p->e->names;
    node_kind kind;
    size_t idx = 0;
    const ts_custom_fn *fn = NULL;
    int b = ts_authz__builtin_lookup(name->text, name->len);
    /* Role definitions keep their names, as Go installs g() after the custom functions; a
     * registered function overrides a built-in of the same name, as AddFunction does. */
    if (name_in(nm->roles, nm->nroles, name->text, &idx)) {
        kind = N_ROLE;
    } else if ((fn = custom_lookup(p->e, name->text)) != NULL) {
        kind = N_CUSTOM;
    } else if (b >= 0) {
        kind = N_BUILTIN;
        idx = (size_t)b;
    } else {
        kind = N_EVAL;
    }
    p->i++; /* '(' */
    if (!ts_authz__expr_enter(p, name->col))
        return NULL;
    nvec args = {NULL, 0, 0};
    node *res = NULL;
    if (ts_authz__expr_peek(p)->kind == TOK_RPAREN) {
        p->i++;
    } else {
        node *a = ts_authz__expr_parse_sep(p, false);
        if (!a || !ts_authz__expr_expect_rparen(p))
            goto out;
        /* Go spreads a list argument: f(a, b) and f((a, b)) both pass two arguments. */
        if (a->kind == N_LIST) {
            for (size_t k = 0; k < a->nkids; k++)
                if (!ts_authz__expr_nvec_push(p, &args, a->kids[k]))
                    goto out;
        } else if (!ts_authz__expr_nvec_push(p, &args, a)) {
            goto out;
        }
    }
    if (args.n > TS_EXPR_MAX_ARGS) {
        ts_authz__expr_perr(p, TS_ELIMIT, name->col, "%s: too many arguments (%zu)", name->text,
                            args.n);
        goto out;
    }
    if (kind == N_EVAL && args.n != 1) {
        ts_authz__expr_perr(p, TS_EPARSE, name->col, "eval: expected 1 argument, but got %zu",
                            args.n);
        goto out;
    }
    if (kind == N_CUSTOM && !check_custom(p, name, fn, args.v, args.n))
        goto out;
    res = ts_authz__expr_new_node(p, kind, name->col);
    if (!res || !ts_authz__expr_set_kids(p, res, args.v, args.n)) {
        res = NULL;
        goto out;
    }
    res->idx = idx;
    res->fn = fn;
    res->owner = p->e;
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
    if (custom_lookup(p->e, t->text))
        return true;
    if (name_in(p->e->names.roles, p->e->names.nroles, t->text, &idx))
        return true;
    return strcmp(t->text, "eval") == 0;
}

static node *parse_accessor(parser *p, const tok *t)
{
    if (p->i < p->n && ts_authz__expr_peek(p)->kind == TOK_LPAREN) {
        ts_authz__expr_perr(p, TS_EUNSUPPORTED, t->col,
                            "Method calls are not supported ('%s(...)')", t->text);
        return NULL;
    }
    size_t nseg = 1;
    for (size_t k = 0; k < t->len; k++)
        if (t->text[k] == '.')
            nseg++;
    ts_str *segs = ts_authz__arena_alloc(&p->e->arena, nseg * sizeof *segs);
    if (!segs) {
        ts_authz__expr_perr(p, TS_ENOMEM, t->col, "out of memory");
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
        ts_authz__expr_perr(p, TS_ENOMEM, t->col, "out of memory");
        return NULL;
    }
    node *b = variable(p, base, segs[0].len, t->col);
    node *n = ts_authz__expr_new_node(p, N_ACCESS, t->col);
    if (!b || !n || !ts_authz__expr_set_kids(p, n, &b, 1))
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
    const tok *t = ts_authz__expr_peek(p);
    node *n;
    switch (t->kind) {
    case TOK_NUM:
    case TOK_STR:
    case TOK_BOOL:
        p->i++;
        n = ts_authz__expr_new_node(p, N_CONST, t->col);
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
        if (!ts_authz__expr_enter(p, t->col))
            return NULL;
        if (ts_authz__expr_peek(p)->kind == TOK_RPAREN) {
            ts_authz__expr_unexpected(p);
            return NULL;
        }
        n = ts_authz__expr_parse_sep(p, true);
        if (!n || !ts_authz__expr_expect_rparen(p))
            return NULL;
        p->depth--;
        if (wrap) {
            node *l = ts_authz__expr_new_node(p, N_LIST, t->col);
            if (!l || !ts_authz__expr_set_kids(p, l, &n, 1))
                return NULL;
            ts_authz__expr_fold(p, l);
            n = l;
        }
        return n;
    }
    case TOK_IDENT:
        p->i++;
        if (is_function_name(p, t)) {
            if (ts_authz__expr_peek(p)->kind != TOK_LPAREN) {
                ts_authz__expr_perr(p, TS_EPARSE, t->col, "Function '%s' must be followed by '('",
                                    t->text);
                return NULL;
            }
            return parse_call(p, t);
        }
        if (ts_authz__expr_peek(p)->kind == TOK_LPAREN) {
            ts_authz__expr_perr(p, TS_EPARSE, t->col, "Undefined function name '%s'", t->text);
            return NULL;
        }
        return variable(p, t->text, t->len, t->col);
    case TOK_ACCESS:
        p->i++;
        return parse_accessor(p, t);
    default:
        ts_authz__expr_unexpected(p);
        return NULL;
    }
}

node *ts_authz__expr_parse_unary(parser *p)
{
    const tok *t = ts_authz__expr_peek(p);
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
    if (!ts_authz__expr_enter(p, t->col))
        return NULL;
    node *k = ts_authz__expr_parse_unary(p);
    if (!k)
        return NULL;
    p->depth--;
    node *n = ts_authz__expr_new_node(p, N_UNARY, t->col);
    if (!n || !ts_authz__expr_set_kids(p, n, &k, 1))
        return NULL;
    n->op = op;
    ts_authz__expr_fold(p, n);
    return n;
}
