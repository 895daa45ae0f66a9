/* The matcher language's text output: operator names, Go's fmt "%v" of values (used by `+`
 * when either side is a string and in messages) and govaluate's error messages, so that an
 * error names the value and operator the way Casbin's Go matcher would. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void ts_authz__expr_fmt_val(sbuf *b, const ts_val *v, unsigned depth)
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
                ts_authz__expr_fmt_val(b, &v->u.list.items[k], depth + 1);
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
const char *ts_authz__expr_val_msg(const ts_val *v, char *buf, size_t cap)
{
    sbuf b = {buf, cap - 1, 0};
    ts_authz__expr_fmt_val(&b, v, 0);
    buf[b.len < cap - 1 ? b.len : cap - 1] = '\0';
    return buf;
}

/* ---- errors ----------------------------------------------------------------------------- */

TS_PRINTF(4, 5)
ts_status ts_authz__expr_fail(ts_error *err, ts_status code, const node *n, const char *fmt, ...)
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
ts_status ts_authz__expr_type_err(ts_error *err, const node *n, const ts_val *v, const char *what)
{
    char vb[96];
    const char *op = ts_authz__expr_op_str(n->op);
    if (n->kind == N_AND)
        op = "&&";
    else if (n->kind == N_OR)
        op = "||";
    const char *vs = ts_authz__expr_val_msg(v, vb, sizeof vb);
    if (strcmp(what, "logical") == 0)
        return ts_authz__expr_fail(
            err, TS_ETYPE, n,
            "Value '%s' cannot be used with the logical operator '%s', it is not a bool", vs, op);
    if (strcmp(what, "modifier") == 0)
        return ts_authz__expr_fail(
            err, TS_ETYPE, n,
            "Value '%s' cannot be used with the modifier '%s', it is not a number", vs, op);
    if (strcmp(what, "comparator") == 0)
        return ts_authz__expr_fail(
            err, TS_ETYPE, n,
            "Value '%s' cannot be used with the comparator '%s', it is not a number", vs, op);
    if (strcmp(what, "ternary") == 0)
        return ts_authz__expr_fail(
            err, TS_ETYPE, n,
            "Value '%s' cannot be used with the ternary operator '%s', it is not a bool", vs, op);
    return ts_authz__expr_fail(err, TS_ETYPE, n, "Value '%s' cannot be used with the prefix '%s'",
                               vs, op);
}
