/* Tree-walking evaluator with govaluate v1.3.0 semantics as Casbin uses them: short-circuit
 * logical operators that require bools, reflect.DeepEqual equality (no coercion), ordered
 * comparison only between two numbers or two strings, `+` that concatenates with Go's %v when
 * either side is a string, and govaluate's own error messages. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../model.h"
#include "expr_internal.h"

const char *ts_authz__expr_op_str(op_kind op)
{
    switch (op) {
    case OP_EQ:
        return "==";
    case OP_NE:
        return "!=";
    case OP_GT:
        return ">";
    case OP_GE:
        return ">=";
    case OP_LT:
        return "<";
    case OP_LE:
        return "<=";
    case OP_REQ:
        return "=~";
    case OP_NREQ:
        return "!~";
    case OP_IN:
        return "in";
    case OP_BOR:
        return "|";
    case OP_BAND:
        return "&";
    case OP_BXOR:
        return "^";
    case OP_SHL:
        return "<<";
    case OP_SHR:
        return ">>";
    case OP_ADD:
        return "+";
    case OP_SUB:
        return "-";
    case OP_MUL:
        return "*";
    case OP_DIV:
        return "/";
    case OP_MOD:
        return "%";
    case OP_POW:
        return "**";
    case OP_TIF:
        return "?";
    case OP_TELSE:
        return ":";
    case OP_COALESCE:
        return "??";
    case OP_NEG:
        return "-";
    case OP_NOT:
        return "!";
    case OP_BNOT:
        return "~";
    case OP_NONE:
        break;
    }
    return "?";
}

/* ---- Go %v formatting ------------------------------------------------------------------ */

typedef struct sbuf {
    char *p;
    size_t cap; /* bytes writable at p (excluding nothing: no NUL is written) */
    size_t len; /* bytes the full text needs */
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->len < b->cap) {
        size_t room = b->cap - b->len;
        memcpy(b->p + b->len, s, n < room ? n : room);
    }
    b->len += n;
}

static void sb_putz(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

size_t ts_authz__expr_fmt_num(double d, char *buf, size_t cap)
{
    char out[64];
    size_t o = 0;
    if (isnan(d)) {
        o = (size_t)snprintf(out, sizeof out, "NaN");
    } else if (isinf(d)) {
        o = (size_t)snprintf(out, sizeof out, "%s", d > 0 ? "+Inf" : "-Inf");
    } else if (d == 0) {
        o = (size_t)snprintf(out, sizeof out, "%s", signbit(d) ? "-0" : "0");
    } else {
        char e[48];
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(e, sizeof e, "%.*e", prec - 1, d);
            if (strtod(e, NULL) == d)
                break;
        }
        const char *q = e;
        bool neg = *q == '-';
        if (neg)
            q++;
        char dig[24];
        int nd = 0;
        for (; *q && *q != 'e'; q++)
            if (*q >= '0' && *q <= '9' && nd < 20)
                dig[nd++] = *q;
        long exp = (*q == 'e') ? strtol(q + 1, NULL, 10) : 0;
        while (nd > 1 && dig[nd - 1] == '0')
            nd--;
        if (neg)
            out[o++] = '-';
        if (exp < -4 || exp >= 6) {
            out[o++] = dig[0];
            if (nd > 1) {
                out[o++] = '.';
                for (int k = 1; k < nd; k++)
                    out[o++] = dig[k];
            }
            long ax = exp < 0 ? -exp : exp;
            o += (size_t)snprintf(out + o, sizeof out - o, "e%c%02ld", exp < 0 ? '-' : '+', ax);
        } else {
            long dp = exp + 1; /* digits before the decimal point */
            if (dp <= 0) {
                out[o++] = '0';
                out[o++] = '.';
                for (long k = 0; k < -dp; k++)
                    out[o++] = '0';
                for (int k = 0; k < nd; k++)
                    out[o++] = dig[k];
            } else {
                for (long k = 0; k < dp; k++)
                    out[o++] = k < nd ? dig[k] : '0';
                if (dp < nd) {
                    out[o++] = '.';
                    for (long k = dp; k < nd; k++)
                        out[o++] = dig[k];
                }
            }
        }
    }
    if (cap) {
        size_t c = o < cap - 1 ? o : cap - 1;
        memcpy(buf, out, c);
        buf[c] = '\0';
    }
    return o;
}

static void fmt_val(sbuf *b, const ts_val *v, unsigned depth)
{
    char num[64];
    switch (v->kind) {
    case TS_VAL_NULL:
        sb_putz(b, "<nil>");
        break;
    case TS_VAL_BOOL:
        sb_putz(b, v->u.b ? "true" : "false");
        break;
    case TS_VAL_NUM:
        sb_put(b, num, ts_authz__expr_fmt_num(v->u.num, num, sizeof num));
        break;
    case TS_VAL_STR:
        sb_put(b, v->u.str.ptr, v->u.str.len);
        break;
    case TS_VAL_LIST:
        sb_putz(b, "[");
        for (size_t k = 0; k < v->u.list.n; k++) {
            if (k)
                sb_putz(b, " ");
            if (depth < TS_AUTHZ_MAX_EXPR_DEPTH)
                fmt_val(b, &v->u.list.items[k], depth + 1);
        }
        sb_putz(b, "]");
        break;
    case TS_VAL_JSON: {
        char *s =
            json_dumps((const json_t *)v->u.json, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        sb_putz(b, s ? s : "<json>");
        free(s);
        break;
    }
    }
}

/* A short rendering of a value for error messages. */
static const char *val_msg(const ts_val *v, char *buf, size_t cap)
{
    sbuf b = {buf, cap - 1, 0};
    fmt_val(&b, v, 0);
    buf[b.len < cap - 1 ? b.len : cap - 1] = '\0';
    return buf;
}

/* ---- errors ----------------------------------------------------------------------------- */

static TS_PRINTF(4, 5) ts_status
    fail(ts_error *err, ts_status code, const node *n, const char *fmt, ...)
{
    char where[32], msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(where, sizeof where, "column %zu", n->col);
    return ts_error_set(err, code, where, "%s", msg);
}

/* govaluate's type error formats (the wording, including "it is not a number" for `in`, is
 * Go's). */
static ts_status type_err(ts_error *err, const node *n, const ts_val *v, const char *what)
{
    char vb[96];
    const char *op = ts_authz__expr_op_str(n->op);
    if (n->kind == N_AND)
        op = "&&";
    else if (n->kind == N_OR)
        op = "||";
    const char *vs = val_msg(v, vb, sizeof vb);
    if (strcmp(what, "logical") == 0)
        return fail(err, TS_ETYPE, n,
                    "Value '%s' cannot be used with the logical operator '%s', it is not a bool",
                    vs, op);
    if (strcmp(what, "modifier") == 0)
        return fail(err, TS_ETYPE, n,
                    "Value '%s' cannot be used with the modifier '%s', it is not a number", vs, op);
    if (strcmp(what, "comparator") == 0)
        return fail(err, TS_ETYPE, n,
                    "Value '%s' cannot be used with the comparator '%s', it is not a number", vs,
                    op);
    if (strcmp(what, "ternary") == 0)
        return fail(err, TS_ETYPE, n,
                    "Value '%s' cannot be used with the ternary operator '%s', it is not a bool",
                    vs, op);
    return fail(err, TS_ETYPE, n, "Value '%s' cannot be used with the prefix '%s'", vs, op);
}

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

static ts_status need_scratch(const ts_expr_ctx *ctx, const node *n, ts_error *err)
{
    if (!ctx->scratch)
        return fail(err, TS_EINVAL, n, "no scratch arena for run-time values");
    return TS_OK;
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

/* ---- operators -------------------------------------------------------------------------- */

static ts_status concat(const node *n, const ts_val *l, const ts_val *r, const ts_expr_ctx *ctx,
                        ts_val *out, ts_error *err)
{
    ts_status st = need_scratch(ctx, n, err);
    if (st != TS_OK)
        return st;
    sbuf m = {NULL, 0, 0};
    fmt_val(&m, l, 0);
    fmt_val(&m, r, 0);
    if (m.len > TS_AUTHZ_MAX_EXPR_BYTES * 16u)
        return fail(err, TS_ELIMIT, n, "string result too long (%zu bytes)", m.len);
    char *p = ts_authz__arena_alloc(ctx->scratch, m.len + 1);
    if (!p)
        return fail(err, TS_ENOMEM, n, "out of memory");
    sbuf b = {p, m.len, 0};
    fmt_val(&b, l, 0);
    fmt_val(&b, r, 0);
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
            return type_err(err, n, l, "comparator");
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
            return type_err(err, n, l, "comparator");
        if (r->kind != TS_VAL_STR)
            return type_err(err, n, r, "comparator");
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
        return type_err(err, n, l, "modifier");
    default:
        break;
    }
    /* The remaining operators are numeric on both sides. */
    if (l->kind != TS_VAL_NUM)
        return type_err(err, n, l, "modifier");
    if (r->kind != TS_VAL_NUM)
        return type_err(err, n, r, "modifier");
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
        return fail(err, TS_EINTERNAL, n, "unknown operator");
    }
    *out = ts_val_num(res);
    return TS_OK;
}

/* Go's `left == value` on interfaces inside `in`: equal dynamic types compare by value, and
 * comparing two slices or two maps panics (recovered by Casbin as an error). */
static ts_status in_eq(const node *n, const ts_val *l, const ts_val *item, bool *eq, ts_error *err)
{
    if (l->kind == item->kind && (l->kind == TS_VAL_LIST || l->kind == TS_VAL_JSON))
        return fail(err, TS_EEVAL, n, "runtime error: comparing uncomparable type");
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
        return type_err(err, n, &r, "comparator");
    for (size_t k = 0; k < r.u.list.n && !found; k++)
        if ((st = in_eq(n, &l, &r.u.list.items[k], &found, err)) != TS_OK)
            return st;
    *out = ts_val_bool(found);
    return TS_OK;
}

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
            return fail(err, TS_ETYPE, n, "Unable to access '%.*s', '%.*s' is not a struct or map",
                        (int)seg.len, seg.ptr, (int)prev.len, prev.ptr);
        const json_t *m = json_object_getn((const json_t *)cur.u.json, seg.ptr, seg.len);
        if (!m)
            return fail(err, TS_EEVAL, n, "No method or field '%.*s' present on parameter '%.*s'",
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
    if (!ctx->role)
        return fail(err, TS_EINVAL, n, "role function '%.*s' is not available", (int)n->name.len,
                    n->name.ptr);
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
        return fail(err, TS_ETYPE, n, "eval: argument must be a string, got '%s'",
                    val_msg(&arg, vb, sizeof vb));
    }
    if (depth + 1 > TS_EXPR_MAX_EVAL_NESTING)
        return fail(err, TS_ELIMIT, n, "eval: nested more than %u levels",
                    TS_EXPR_MAX_EVAL_NESTING);
    const ts_expr *sub = NULL;
    ts_expr *own = NULL;
    if (ctx->eval_lookup)
        sub = ctx->eval_lookup(ctx->ud, arg.u.str.ptr, arg.u.str.len);
    if (!sub) {
        if (arg.u.str.len > TS_AUTHZ_MAX_EXPR_BYTES)
            return fail(err, TS_ELIMIT, n, "eval: rule longer than %u bytes",
                        TS_AUTHZ_MAX_EXPR_BYTES);
        char *esc =
            ts_authz__model_escape_assertion(arg.u.str.ptr ? arg.u.str.ptr : "", arg.u.str.len);
        if (!esc)
            return fail(err, TS_ENOMEM, n, "out of memory");
        own = ts_authz__expr_compile(esc, strlen(esc), n->names, err);
        free(esc);
        if (!own)
            return err ? err->code : TS_EPARSE;
        sub = own;
    }
    st = ts_authz__expr_eval_node(sub->root, ctx, depth + 1, out, err);
    if (st == TS_OK && own && (out->kind == TS_VAL_STR || out->kind == TS_VAL_LIST)) {
        if ((st = need_scratch(ctx, n, err)) == TS_OK && val_copy(ctx->scratch, out, 0) != TS_OK)
            st = fail(err, TS_ENOMEM, n, "out of memory");
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
            return type_err(err, n, &acc, "logical");
        if (r.kind != TS_VAL_BOOL)
            return type_err(err, n, &r, "logical");
        acc = r;
    }
    *out = acc;
    return TS_OK;
}

static ts_status eval_bin(const node *n, const ts_expr_ctx *ctx, unsigned depth, ts_val *out,
                          ts_error *err)
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
            return type_err(err, n, &l, "ternary");
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

static ts_status eval_unary(const node *n, const ts_expr_ctx *ctx, unsigned depth, ts_val *out,
                            ts_error *err)
{
    ts_val v;
    ts_status st = ts_authz__expr_eval_node(n->kids[0], ctx, depth, &v, err);
    if (st != TS_OK)
        return st;
    if (n->op == OP_NOT) {
        if (v.kind != TS_VAL_BOOL)
            return type_err(err, n, &v, "prefix");
        *out = ts_val_bool(!v.u.b);
        return TS_OK;
    }
    if (v.kind != TS_VAL_NUM)
        return type_err(err, n, &v, "prefix");
    *out = ts_val_num(n->op == OP_NEG ? -v.u.num : (double)~to_i64(v.u.num));
    return TS_OK;
}

static ts_status eval_list(const node *n, const ts_expr_ctx *ctx, unsigned depth, ts_val *out,
                           ts_error *err)
{
    ts_status st = need_scratch(ctx, n, err);
    if (st != TS_OK)
        return st;
    ts_val *items = ts_authz__arena_alloc(ctx->scratch, n->nkids * sizeof *items);
    if (!items)
        return fail(err, TS_ENOMEM, n, "out of memory");
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
            return fail(err, TS_EEVAL, n, "No parameter '%.*s' found.", (int)n->name.len,
                        n->name.ptr);
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
        return fail(err, TS_EEVAL, n, "No parameter '%.*s' found.", (int)n->name.len, n->name.ptr);
    case N_ACCESS:
        return eval_access(n, ctx, depth, out, err);
    case N_AND:
    case N_OR:
        return eval_logical(n, ctx, depth, out, err);
    case N_BIN:
        return eval_bin(n, ctx, depth, out, err);
    case N_UNARY:
        return eval_unary(n, ctx, depth, out, err);
    case N_LIST:
        return eval_list(n, ctx, depth, out, err);
    case N_BUILTIN:
    case N_ROLE:
        return eval_call(n, ctx, depth, out, err);
    case N_EVAL:
        return eval_eval(n, ctx, depth, out, err);
    }
    return fail(err, TS_EINTERNAL, n, "unknown node");
}

ts_status ts_authz__expr_eval(const ts_expr *e, const ts_expr_ctx *ctx, ts_val *out, ts_error *err)
{
    if (!e || !ctx || !out)
        return ts_error_set(err, TS_EINVAL, "matcher", "NULL argument");
    return ts_authz__expr_eval_node(e->root, ctx, 0, out, err);
}
