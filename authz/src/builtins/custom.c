/* Calling registered functions: descriptor checks at registration, and the calling convention
 * the matcher, the role managers and link conditions share (argument count and kinds as Go's
 * wrappers check them, the result's kind, result strings copied before the next call). */
#include <stdio.h>
#include <string.h>

#include "internal.h"

static const char *kind_name(ts_authz_kind k)
{
    switch (k) {
    case TS_AUTHZ_KIND_STRING:
        return "a string";
    case TS_AUTHZ_KIND_NUMBER:
        return "a number";
    case TS_AUTHZ_KIND_BOOL:
        return "a bool";
    case TS_AUTHZ_KIND_ANY:
    default:
        return "a value";
    }
}

static bool valid_kind(ts_authz_kind k)
{
    return k == TS_AUTHZ_KIND_ANY || k == TS_AUTHZ_KIND_STRING || k == TS_AUTHZ_KIND_NUMBER ||
           k == TS_AUTHZ_KIND_BOOL;
}

ts_status ts_authz__custom_validate(const ts_authz_function *d, ts_error *err)
{
    if (!d || !d->name || !d->fn)
        return ts_error_set(err, TS_EINVAL, "function", "a name and a callback are required");
    size_t n = strlen(d->name);
    if (n == 0 || n >= sizeof(((ts_custom_fn *)0)->name))
        return ts_error_set(err, TS_EINVAL, "function", "function names have 1 to 63 bytes");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)d->name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return ts_error_set(err, TS_EINVAL, "function",
                                "function name '%s' is not an identifier", d->name);
    }
    /* eval() is part of the language; `in`, true and false are operators and literals. */
    if (!strcmp(d->name, "eval") || !strcmp(d->name, "in") || !strcmp(d->name, "true") ||
        !strcmp(d->name, "false"))
        return ts_error_set(err, TS_EINVAL, "function", "'%s' cannot be redefined", d->name);
    if (d->arity != TS_AUTHZ_FUNCTION_VARIADIC && d->arity > TS_AUTHZ_FUNCTION_MAX_ARGS)
        return ts_error_set(err, TS_EINVAL, d->name, "%s: more than %u arguments", d->name,
                            TS_AUTHZ_FUNCTION_MAX_ARGS);
    size_t nk = d->arity == TS_AUTHZ_FUNCTION_VARIADIC ? 1 : d->arity;
    for (size_t i = 0; i < nk; i++)
        if (!valid_kind(d->args[i]))
            return ts_error_set(err, TS_EINVAL, d->name, "%s: argument %zu has no valid kind",
                                d->name, i + 1);
    if (!valid_kind(d->result))
        return ts_error_set(err, TS_EINVAL, d->name, "%s: the result has no valid kind", d->name);
    return TS_OK;
}

static ts_authz_kind arg_kind(const ts_authz_function *d, size_t i)
{
    return d->arity == TS_AUTHZ_FUNCTION_VARIADIC ? d->args[0] : d->args[i];
}

static ts_status check_count(const ts_custom_fn *f, size_t nargs, ts_error *err)
{
    const ts_authz_function *d = &f->desc;
    if (d->arity == TS_AUTHZ_FUNCTION_VARIADIC) {
        if (nargs > TS_AUTHZ_FUNCTION_MAX_ARGS)
            return ts_error_set(err, TS_EEVAL, f->name, "%s: more than %u arguments", f->name,
                                TS_AUTHZ_FUNCTION_MAX_ARGS);
        return TS_OK;
    }
    if (nargs != d->arity)
        return ts_error_set(err, TS_EEVAL, f->name, "%s: expected %zu arguments, but got %zu",
                            f->name, d->arity, nargs);
    return TS_OK;
}

/* The function's result, kind-checked; strings still point where the function put them. */
static ts_status invoke(const ts_custom_fn *f, const ts_authz_value *a, size_t nargs,
                        ts_authz_value *r, ts_error *err)
{
    memset(r, 0, sizeof *r);
    ts_error ferr;
    ts_error_clear(&ferr);
    ts_status st = f->desc.fn(f->ud, a, nargs, r, &ferr);
    if (st != TS_OK) {
        /* The message is the function's own; the engine only names the function. */
        return ts_error_set(err, st, f->name, "%s: %s", f->name,
                            ferr.msg[0] ? ferr.msg : "the function failed");
    }
    if (!valid_kind(r->kind) || r->kind == TS_AUTHZ_KIND_ANY ||
        (f->desc.result != TS_AUTHZ_KIND_ANY && r->kind != f->desc.result))
        return ts_error_set(err, TS_EEVAL, f->name, "%s: the result is not %s", f->name,
                            kind_name(f->desc.result));
    if (r->kind == TS_AUTHZ_KIND_STRING && !r->str) {
        if (r->len)
            return ts_error_set(err, TS_EEVAL, f->name, "%s: a result string without text",
                                f->name);
        r->str = "";
    }
    return TS_OK;
}

ts_status ts_authz__custom_call(const ts_custom_fn *f, const ts_val *args, size_t nargs,
                                ts_arena *scratch, ts_val *out, ts_error *err)
{
    ts_status st = check_count(f, nargs, err);
    if (st != TS_OK)
        return st;
    ts_authz_value a[TS_AUTHZ_FUNCTION_MAX_ARGS];
    for (size_t i = 0; i < nargs; i++) {
        ts_authz_kind want = arg_kind(&f->desc, i);
        memset(&a[i], 0, sizeof a[i]);
        switch (args[i].kind) {
        case TS_VAL_STR:
            a[i].kind = TS_AUTHZ_KIND_STRING;
            a[i].str = args[i].u.str.ptr ? args[i].u.str.ptr : "";
            a[i].len = args[i].u.str.len;
            break;
        case TS_VAL_NUM:
            a[i].kind = TS_AUTHZ_KIND_NUMBER;
            a[i].num = args[i].u.num;
            break;
        case TS_VAL_BOOL:
            a[i].kind = TS_AUTHZ_KIND_BOOL;
            a[i].b = args[i].u.b;
            break;
        case TS_VAL_NULL:
        case TS_VAL_LIST:
        case TS_VAL_JSON:
        default:
            return ts_error_set(
                err, TS_EEVAL, f->name, "%s: argument %zu must be %s", f->name, i + 1,
                want == TS_AUTHZ_KIND_ANY ? "a string, number or bool" : kind_name(want));
        }
        if (want != TS_AUTHZ_KIND_ANY && a[i].kind != want)
            return ts_error_set(err, TS_EEVAL, f->name, "%s: argument %zu must be %s", f->name,
                                i + 1, kind_name(want));
    }
    ts_authz_value r;
    if ((st = invoke(f, a, nargs, &r, err)) != TS_OK)
        return st;
    switch (r.kind) {
    case TS_AUTHZ_KIND_STRING: {
        if (!scratch)
            return ts_error_set(err, TS_EINVAL, f->name, "%s: no room for a string result",
                                f->name);
        char *copy = ts_authz__arena_strndup(scratch, r.str, r.len);
        if (!copy)
            return ts_error_set(err, TS_ENOMEM, f->name, "out of memory");
        *out = ts_val_str(copy, r.len);
        return TS_OK;
    }
    case TS_AUTHZ_KIND_NUMBER:
        *out = ts_val_num(r.num);
        return TS_OK;
    case TS_AUTHZ_KIND_BOOL:
    case TS_AUTHZ_KIND_ANY:
    default:
        *out = ts_val_bool(r.b);
        return TS_OK;
    }
}

bool ts_authz__custom_is_predicate(const ts_custom_fn *f, size_t nargs)
{
    const ts_authz_function *d = &f->desc;
    if (d->arity != TS_AUTHZ_FUNCTION_VARIADIC && d->arity != nargs)
        return false;
    if (nargs > TS_AUTHZ_FUNCTION_MAX_ARGS)
        return false;
    for (size_t i = 0; i < nargs; i++) {
        ts_authz_kind k = arg_kind(d, i);
        if (k != TS_AUTHZ_KIND_ANY && k != TS_AUTHZ_KIND_STRING)
            return false;
    }
    return d->result == TS_AUTHZ_KIND_ANY || d->result == TS_AUTHZ_KIND_BOOL;
}

ts_status ts_authz__custom_bool(const ts_custom_fn *f, const ts_str *args, size_t nargs, bool *out,
                                ts_error *err)
{
    *out = false;
    ts_status st = check_count(f, nargs, err);
    if (st != TS_OK)
        return st;
    ts_authz_value a[TS_AUTHZ_FUNCTION_MAX_ARGS];
    for (size_t i = 0; i < nargs; i++) {
        ts_authz_kind want = arg_kind(&f->desc, i);
        if (want != TS_AUTHZ_KIND_ANY && want != TS_AUTHZ_KIND_STRING)
            return ts_error_set(err, TS_EEVAL, f->name, "%s: argument %zu must be %s", f->name,
                                i + 1, kind_name(want));
        memset(&a[i], 0, sizeof a[i]);
        a[i].kind = TS_AUTHZ_KIND_STRING;
        a[i].str = args[i].ptr ? args[i].ptr : "";
        a[i].len = args[i].len;
    }
    ts_authz_value r;
    if ((st = invoke(f, a, nargs, &r, err)) != TS_OK)
        return st;
    if (r.kind != TS_AUTHZ_KIND_BOOL)
        return ts_error_set(err, TS_EEVAL, f->name, "%s: the result is not a bool", f->name);
    *out = r.b;
    return TS_OK;
}
