/* Tree-walking evaluator with govaluate v1.3.0 semantics as Casbin uses them: dispatch on the
 * node kind, short-circuit logical operators that require bools, JSON member access, function
 * and role calls, eval() of rule texts and lists. The operators themselves are in operators.c,
 * the text of values and errors in format.c. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../model.h"
#include "expr_internal.h"

static ts_val json_to_val(const json_t *j)
{
    ts_val v;
    memset(&v, 0, sizeof v);
    switch (json_typeof(j)) {
    case JSON_OBJECT:
    case JSON_ARRAY:
        v.kind = TS_VAL_JSON;
        v.u.json = j;
        break;
    case JSON_STRING:
        v = ts_val_str(json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER:
        v = ts_val_num((double)json_integer_value(j));
        break;
    case JSON_REAL:
        v = ts_val_num(json_real_value(j));
        break;
    case JSON_TRUE:
        v = ts_val_bool(true);
        break;
    case JSON_FALSE:
        v = ts_val_bool(false);
        break;
    case JSON_NULL:
        v.kind = TS_VAL_NULL;
        break;
    }
    return v;
}

/* Deep copy of strings and lists into the scratch arena (eval() results outlive the
 * temporary expression that produced them). */
static ts_status val_copy(ts_arena *a, ts_val *v, unsigned depth)
{
    if (v->kind == TS_VAL_STR) {
        char *p = ts_authz__arena_strndup(a, v->u.str.ptr ? v->u.str.ptr : "", v->u.str.len);
        if (!p)
            return TS_ENOMEM;
        v->u.str.ptr = p;
    } else if (v->kind == TS_VAL_LIST) {
        if (depth > TS_AUTHZ_MAX_EXPR_DEPTH)
            return TS_ELIMIT;
        size_t n = v->u.list.n;
        ts_val *items = n ? ts_authz__arena_alloc(a, n * sizeof *items) : NULL;
        if (n && !items)
            return TS_ENOMEM;
        for (size_t k = 0; k < n; k++) {
            items[k] = v->u.list.items[k];
            ts_status st = val_copy(a, &items[k], depth + 1);
            if (st != TS_OK)
                return st;
        }
        v->u.list.items = items;
    }
    return TS_OK;
}

/* ---- nodes ------------------------------------------------------------------------------ */

static ts_status eval_access(const node *n, const ts_expr_ctx *ctx, unsigned depth, ts_val *out,
                             ts_error *err)
{
    ts_val cur;
    ts_status st = ts_authz__expr_eval_node(n->kids[0], ctx, depth, &cur, err);
    if (st != TS_OK)
        return st;
    ts_str prev = n->base;
    for (size_t k = 0; k < n->npath; k++) {
        ts_str seg = n->path[k];
        if (cur.kind != TS_VAL_JSON || !json_is_object((const json_t *)cur.u.json))
            return ts_authz__expr_fail(err, TS_ETYPE, n,
                                       "Unable to access '%.*s', '%.*s' is not a struct or map",
                                       (int)seg.len, seg.ptr, (int)prev.len, prev.ptr);
        const json_t *m = json_object_getn((const json_t *)cur.u.json, seg.ptr, seg.len);
        if (!m)
            return ts_authz__expr_fail(err, TS_EEVAL, n,
                                       "No method or field '%.*s' present on parameter '%.*s'",
                                       (int)seg.len, seg.ptr, (int)prev.len, prev.ptr);
        cur = json_to_val(m);
        prev = seg;
    }
    *out = cur;
    return TS_OK;
}

static ts_status eval_args(const node *n, const ts_expr_ctx *ctx, unsigned depth, ts_val *args,
                           ts_error *err)
{
    for (size_t k = 0; k < n->nkids; k++) {
        ts_status st = ts_authz__expr_eval_node(n->kids[k], ctx, depth, &args[k], err);
        if (st != TS_OK)
            return st;
    }
    return TS_OK;
}

static ts_status eval_call(const node *n, const ts_expr_ctx *ctx, unsigned depth, ts_val *out,
                           ts_error *err)
{
    ts_val args[TS_EXPR_MAX_ARGS];
    ts_status st = eval_args(n, ctx, depth, args, err);
    if (st != TS_OK)
        return st;
    if (n->kind == N_BUILTIN)
        return ts_authz__builtin_call((ts_builtin_id)n->idx, args, n->nkids, &ctx->builtins, out,
                                      err);
    if (n->kind == N_CUSTOM)
        return ts_authz__custom_call(n->fn, args, n->nkids, ctx->scratch, out, err);
    if (!ctx->role)
        return ts_authz__expr_fail(err, TS_EINVAL, n, "role function '%.*s' is not available",
                                   (int)n->name.len, n->name.ptr);
    bool b = false;
    st = ctx->role(ctx->ud, n->idx, args, n->nkids, &b, err);
    if (st != TS_OK)
        return st;
    *out = ts_val_bool(b);
    return TS_OK;
}

static ts_status eval_eval(const node *n, const ts_expr_ctx *ctx, unsigned depth, ts_val *out,
                           ts_error *err)
{
    ts_val arg;
    ts_status st = ts_authz__expr_eval_node(n->kids[0], ctx, depth, &arg, err);
    if (st != TS_OK)
        return st;
    if (arg.kind != TS_VAL_STR) {
        char vb[96];
        return ts_authz__expr_fail(err, TS_ETYPE, n, "eval: argument must be a string, got '%s'",
                                   ts_authz__expr_val_msg(&arg, vb, sizeof vb));
    }
    if (depth + 1 > TS_EXPR_MAX_EVAL_NESTING)
        return ts_authz__expr_fail(err, TS_ELIMIT, n, "eval: nested more than %u levels",
                                   TS_EXPR_MAX_EVAL_NESTING);
    const ts_expr *sub = NULL;
    ts_expr *own = NULL;
    if (ctx->eval_lookup)
        sub = ctx->eval_lookup(ctx->ud, arg.u.str.ptr, arg.u.str.len);
    if (!sub) {
        if (arg.u.str.len > TS_AUTHZ_MAX_EXPR_BYTES)
            return ts_authz__expr_fail(err, TS_ELIMIT, n, "eval: rule longer than %u bytes",
                                       TS_AUTHZ_MAX_EXPR_BYTES);
        char *esc =
            ts_authz__model_escape_assertion(arg.u.str.ptr ? arg.u.str.ptr : "", arg.u.str.len);
        if (!esc)
            return ts_authz__expr_fail(err, TS_ENOMEM, n, "out of memory");
        own =
            ts_authz__expr_compile_with(esc, strlen(esc), n->names, n->owner ? n->owner->fns : NULL,
                                        n->owner ? n->owner->nfns : 0, err);
        free(esc);
        if (!own)
            return err ? err->code : TS_EPARSE;
        sub = own;
    }
    st = ts_authz__expr_eval_node(sub->root, ctx, depth + 1, out, err);
    if (st == TS_OK && own && (out->kind == TS_VAL_STR || out->kind == TS_VAL_LIST)) {
        if ((st = ts_authz__expr_need_scratch(ctx, n, err)) == TS_OK &&
            val_copy(ctx->scratch, out, 0) != TS_OK)
            st = ts_authz__expr_fail(err, TS_ENOMEM, n, "out of memory");
    }
    ts_authz__expr_free(own);
    return st;
}

static ts_status eval_logical(const node *n, const ts_expr_ctx *ctx, unsigned depth, ts_val *out,
                              ts_error *err)
{
    bool is_and = n->kind == N_AND;
    ts_val acc, r;
    ts_status st = ts_authz__expr_eval_node(n->kids[0], ctx, depth, &acc, err);
    if (st != TS_OK)
        return st;
    for (size_t k = 1; k < n->nkids; k++) {
        /* Only a real bool short-circuits; any other left value makes Go evaluate the right
         * side and then fail the type check. */
        if (acc.kind == TS_VAL_BOOL && acc.u.b != is_and)
            break;
        if ((st = ts_authz__expr_eval_node(n->kids[k], ctx, depth, &r, err)) != TS_OK)
            return st;
        if (acc.kind != TS_VAL_BOOL)
            return ts_authz__expr_type_err(err, n, &acc, "logical");
        if (r.kind != TS_VAL_BOOL)
            return ts_authz__expr_type_err(err, n, &r, "logical");
        acc = r;
    }
    *out = acc;
    return TS_OK;
}

static ts_status eval_list(const node *n, const ts_expr_ctx *ctx, unsigned depth, ts_val *out,
                           ts_error *err)
{
    ts_status st = ts_authz__expr_need_scratch(ctx, n, err);
    if (st != TS_OK)
        return st;
    ts_val *items = ts_authz__arena_alloc(ctx->scratch, n->nkids * sizeof *items);
    if (!items)
        return ts_authz__expr_fail(err, TS_ENOMEM, n, "out of memory");
    for (size_t k = 0; k < n->nkids; k++)
        if ((st = ts_authz__expr_eval_node(n->kids[k], ctx, depth, &items[k], err)) != TS_OK)
            return st;
    out->kind = TS_VAL_LIST;
    out->u.list.items = items;
    out->u.list.n = n->nkids;
    return TS_OK;
}

ts_status ts_authz__expr_eval_node(const node *n, const ts_expr_ctx *ctx, unsigned depth,
                                   ts_val *out, ts_error *err)
{
    switch (n->kind) {
    case N_CONST:
        *out = n->val;
        return TS_OK;
    case N_REQ:
        if (!ctx->req || n->idx >= ctx->nreq)
            return ts_authz__expr_fail(err, TS_EEVAL, n, "No parameter '%.*s' found.",
                                       (int)n->name.len, n->name.ptr);
        *out = ctx->req[n->idx];
        return TS_OK;
    case N_RULE:
        if (ctx->rule && n->idx < ctx->nrule)
            *out = ts_val_str(ctx->rule[n->idx].ptr ? ctx->rule[n->idx].ptr : "",
                              ctx->rule[n->idx].len);
        else
            *out = ts_val_str("", 0);
        return TS_OK;
    case N_UNKNOWN:
        return ts_authz__expr_fail(err, TS_EEVAL, n, "No parameter '%.*s' found.", (int)n->name.len,
                                   n->name.ptr);
    case N_ACCESS:
        return eval_access(n, ctx, depth, out, err);
    case N_AND:
    case N_OR:
        return eval_logical(n, ctx, depth, out, err);
    case N_BIN:
        return ts_authz__expr_eval_bin(n, ctx, depth, out, err);
    case N_UNARY:
        return ts_authz__expr_eval_unary(n, ctx, depth, out, err);
    case N_LIST:
        return eval_list(n, ctx, depth, out, err);
    case N_BUILTIN:
    case N_CUSTOM:
    case N_ROLE:
        return eval_call(n, ctx, depth, out, err);
    case N_EVAL:
        return eval_eval(n, ctx, depth, out, err);
    }
    return ts_authz__expr_fail(err, TS_EINTERNAL, n, "unknown node");
}

ts_status ts_authz__expr_eval(const ts_expr *e, const ts_expr_ctx *ctx, ts_val *out, ts_error *err)
{
    if (!e || !ctx || !out)
        return ts_error_set(err, TS_EINVAL, "matcher", "NULL argument");
    return ts_authz__expr_eval_node(e->root, ctx, 0, out, err);
}
