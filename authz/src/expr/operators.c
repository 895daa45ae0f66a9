/* The matcher language's operators with govaluate v1.3.0 semantics: reflect.DeepEqual equality
 * (no coercion), ordered comparison only between two numbers or two strings, `+` that
 * concatenates with Go's %v when either side is a string, Go's float64 -> integer conversions for
 * the bitwise operators, `in`, the ternary and coalescing operators, and the prefix operators. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "expr_internal.h"

/* ---- values ----------------------------------------------------------------------------- */

static bool val_eq(const ts_val *a, const ts_val *b, unsigned depth)
{
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case TS_VAL_NULL:
        return true;
    case TS_VAL_BOOL:
        return a->u.b == b->u.b;
    case TS_VAL_NUM:
        return a->u.num == b->u.num;
    case TS_VAL_STR:
        return ts_str_eq(a->u.str, b->u.str);
    case TS_VAL_LIST:
        if (a->u.list.n != b->u.list.n || depth > TS_AUTHZ_MAX_EXPR_DEPTH)
            return false;
        for (size_t k = 0; k < a->u.list.n; k++)
            if (!val_eq(&a->u.list.items[k], &b->u.list.items[k], depth + 1))
                return false;
        return true;
    case TS_VAL_JSON:
        return json_equal((const json_t *)a->u.json, (const json_t *)b->u.json) != 0;
    }
    return false;
}

static int str_cmp(ts_str a, ts_str b)
{
    size_t m = a.len < b.len ? a.len : b.len;
    int c = m ? memcmp(a.ptr, b.ptr, m) : 0;
    if (c)
        return c;
    return a.len < b.len ? -1 : (a.len > b.len ? 1 : 0);
}

/* Go's float64 -> int64 conversion as amd64 performs it (out of range and NaN give MinInt64),
 * written without C undefined behaviour. */
static int64_t to_i64(double f)
{
    if (isnan(f) || f >= 9223372036854775808.0 || f < -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)f;
}

static uint64_t to_u64(double f)
{
    if (f >= 0 && f < 18446744073709551616.0)
        return (uint64_t)f;
    return (uint64_t)to_i64(f);
}

ts_status ts_authz__expr_need_scratch(const ts_expr_ctx *ctx, const node *n, ts_error *err)
{
    if (!ctx->scratch)
        return ts_authz__expr_fail(err, TS_EINVAL, n, "no scratch arena for run-time values");
    return TS_OK;
}

/* ---- operators -------------------------------------------------------------------------- */

static ts_status concat(const node *n, const ts_val *l, const ts_val *r, const ts_expr_ctx *ctx,
                        ts_val *out, ts_error *err)
{
    ts_status st = ts_authz__expr_need_scratch(ctx, n, err);
    if (st != TS_OK)
        return st;
    sbuf m = {NULL, 0, 0};
    ts_authz__expr_fmt_val(&m, l, 0);
    ts_authz__expr_fmt_val(&m, r, 0);
    if (m.len > TS_AUTHZ_MAX_EXPR_BYTES * 16u)
        return ts_authz__expr_fail(err, TS_ELIMIT, n, "string result too long (%zu bytes)", m.len);
    char *p = ts_authz__arena_alloc(ctx->scratch, m.len + 1);
    if (!p)
        return ts_authz__expr_fail(err, TS_ENOMEM, n, "out of memory");
    sbuf b = {p, m.len, 0};
    ts_authz__expr_fmt_val(&b, l, 0);
    ts_authz__expr_fmt_val(&b, r, 0);
    p[m.len] = '\0';
    *out = ts_val_str(p, m.len);
    return TS_OK;
}

static ts_status apply_bin(const node *n, const ts_val *l, const ts_val *r, const ts_expr_ctx *ctx,
                           ts_val *out, ts_error *err)
{
    switch (n->op) {
    case OP_EQ:
        *out = ts_val_bool(val_eq(l, r, 0));
        return TS_OK;
    case OP_NE:
        *out = ts_val_bool(!val_eq(l, r, 0));
        return TS_OK;
    case OP_GT:
    case OP_GE:
    case OP_LT:
    case OP_LE: {
        int c;
        if (l->kind == TS_VAL_NUM && r->kind == TS_VAL_NUM) {
            double a = l->u.num, b = r->u.num;
            bool res = n->op == OP_GT   ? a > b
                       : n->op == OP_GE ? a >= b
                       : n->op == OP_LT ? a < b
                                        : a <= b;
            *out = ts_val_bool(res);
            return TS_OK;
        }
        if (l->kind != TS_VAL_STR || r->kind != TS_VAL_STR)
            return ts_authz__expr_type_err(err, n, l, "comparator");
        c = str_cmp(l->u.str, r->u.str);
        bool res = n->op == OP_GT   ? c > 0
                   : n->op == OP_GE ? c >= 0
                   : n->op == OP_LT ? c < 0
                                    : c <= 0;
        *out = ts_val_bool(res);
        return TS_OK;
    }
    case OP_REQ:
    case OP_NREQ: {
        if (l->kind != TS_VAL_STR)
            return ts_authz__expr_type_err(err, n, l, "comparator");
        if (r->kind != TS_VAL_STR)
            return ts_authz__expr_type_err(err, n, r, "comparator");
        bool m = false;
        ts_status st = ts_authz__regex_search(ctx->builtins.regex, r->u.str.ptr, r->u.str.len,
                                              l->u.str.ptr, l->u.str.len, &m, err);
        if (st != TS_OK)
            return st;
        *out = ts_val_bool(n->op == OP_REQ ? m : !m);
        return TS_OK;
    }
    case OP_ADD:
        if (l->kind == TS_VAL_NUM && r->kind == TS_VAL_NUM) {
            *out = ts_val_num(l->u.num + r->u.num);
            return TS_OK;
        }
        if (l->kind == TS_VAL_STR || r->kind == TS_VAL_STR)
            return concat(n, l, r, ctx, out, err);
        return ts_authz__expr_type_err(err, n, l, "modifier");
    default:
        break;
    }
    /* The remaining operators are numeric on both sides. */
    if (l->kind != TS_VAL_NUM)
        return ts_authz__expr_type_err(err, n, l, "modifier");
    if (r->kind != TS_VAL_NUM)
        return ts_authz__expr_type_err(err, n, r, "modifier");
    double a = l->u.num, b = r->u.num;
    double res;
    switch (n->op) {
    case OP_SUB:
        res = a - b;
        break;
    case OP_MUL:
        res = a * b;
        break;
    case OP_DIV:
        res = a / b;
        break;
    case OP_MOD:
        res = fmod(a, b); /* Go math.Mod: truncated remainder */
        break;
    case OP_POW:
        res = pow(a, b);
        break;
    case OP_BOR:
        res = (double)(to_i64(a) | to_i64(b));
        break;
    case OP_BAND:
        res = (double)(to_i64(a) & to_i64(b));
        break;
    case OP_BXOR:
        res = (double)(to_i64(a) ^ to_i64(b));
        break;
    case OP_SHL: {
        uint64_t s = to_u64(b);
        res = s >= 64 ? 0.0 : (double)(to_u64(a) << s);
        break;
    }
    case OP_SHR: {
        uint64_t s = to_u64(b);
        res = s >= 64 ? 0.0 : (double)(to_u64(a) >> s);
        break;
    }
    default:
        return ts_authz__expr_fail(err, TS_EINTERNAL, n, "unknown operator");
    }
    *out = ts_val_num(res);
    return TS_OK;
}

/* Go's `left == value` on interfaces inside `in`: equal dynamic types compare by value, and
 * comparing two slices or two maps panics (recovered by Casbin as an error). */
static ts_status in_eq(const node *n, const ts_val *l, const ts_val *item, bool *eq, ts_error *err)
{
    if (l->kind == item->kind && (l->kind == TS_VAL_LIST || l->kind == TS_VAL_JSON))
        return ts_authz__expr_fail(err, TS_EEVAL, n, "runtime error: comparing uncomparable type");
    *eq = val_eq(l, item, 0);
    return TS_OK;
}

static ts_status eval_in(const node *n, const ts_expr_ctx *ctx, unsigned depth, ts_val *out,
                         ts_error *err)
{
    ts_val l, r;
    ts_status st = ts_authz__expr_eval_node(n->kids[0], ctx, depth, &l, err);
    if (st != TS_OK)
        return st;
    bool found = false;
    const node *rn = n->kids[1];
    if (rn->kind == N_LIST) {
        /* Go evaluates the whole list before comparing; so do we, without materialising it. */
        for (size_t k = 0; k < rn->nkids; k++) {
            ts_val it;
            if ((st = ts_authz__expr_eval_node(rn->kids[k], ctx, depth, &it, err)) != TS_OK)
                return st;
            bool eq = false;
            if (!found && (st = in_eq(n, &l, &it, &eq, err)) != TS_OK)
                return st;
            found = found || eq;
        }
        *out = ts_val_bool(found);
        return TS_OK;
    }
    if ((st = ts_authz__expr_eval_node(rn, ctx, depth, &r, err)) != TS_OK)
        return st;
    if (r.kind != TS_VAL_LIST)
        return ts_authz__expr_type_err(err, n, &r, "comparator");
    for (size_t k = 0; k < r.u.list.n && !found; k++)
        if ((st = in_eq(n, &l, &r.u.list.items[k], &found, err)) != TS_OK)
            return st;
    *out = ts_val_bool(found);
    return TS_OK;
}

ts_status ts_authz__expr_eval_bin(const node *n, const ts_expr_ctx *ctx, unsigned depth,
                                  ts_val *out, ts_error *err)
{
    ts_val l, r;
    ts_status st;
    if (n->op == OP_IN)
        return eval_in(n, ctx, depth, out, err);
    if ((st = ts_authz__expr_eval_node(n->kids[0], ctx, depth, &l, err)) != TS_OK)
        return st;
    switch (n->op) {
    case OP_TIF:
        if (l.kind == TS_VAL_BOOL && !l.u.b) {
            out->kind = TS_VAL_NULL;
            return TS_OK;
        }
        if ((st = ts_authz__expr_eval_node(n->kids[1], ctx, depth, &r, err)) != TS_OK)
            return st;
        if (l.kind != TS_VAL_BOOL)
            return ts_authz__expr_type_err(err, n, &l, "ternary");
        *out = r;
        return TS_OK;
    case OP_TELSE:
    case OP_COALESCE:
        if (l.kind != TS_VAL_NULL) {
            *out = l;
            return TS_OK;
        }
        return ts_authz__expr_eval_node(n->kids[1], ctx, depth, out, err);
    default:
        break;
    }
    if ((st = ts_authz__expr_eval_node(n->kids[1], ctx, depth, &r, err)) != TS_OK)
        return st;
    return apply_bin(n, &l, &r, ctx, out, err);
}

ts_status ts_authz__expr_eval_unary(const node *n, const ts_expr_ctx *ctx, unsigned depth,
                                    ts_val *out, ts_error *err)
{
    ts_val v;
    ts_status st = ts_authz__expr_eval_node(n->kids[0], ctx, depth, &v, err);
    if (st != TS_OK)
        return st;
    if (n->op == OP_NOT) {
        if (v.kind != TS_VAL_BOOL)
            return ts_authz__expr_type_err(err, n, &v, "prefix");
        *out = ts_val_bool(!v.u.b);
        return TS_OK;
    }
    if (v.kind != TS_VAL_NUM)
        return ts_authz__expr_type_err(err, n, &v, "prefix");
    *out = ts_val_num(n->op == OP_NEG ? -v.u.num : (double)~to_i64(v.u.num));
    return TS_OK;
}
