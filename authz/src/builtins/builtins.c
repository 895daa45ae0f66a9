/* The built-in function table and the calling convention shared by the matcher and the role
 * manager: Go's wrappers check the argument count and that every argument is a string. */
#include <string.h>

#include "internal.h"

typedef struct bi_desc {
    const char *name;
    size_t nargs;
} bi_desc;

static const bi_desc table[TS_FN__COUNT] = {
    [TS_FN_KEYMATCH] = {"keyMatch", 2},     [TS_FN_KEYGET] = {"keyGet", 2},
    [TS_FN_KEYMATCH2] = {"keyMatch2", 2},   [TS_FN_KEYGET2] = {"keyGet2", 3},
    [TS_FN_KEYMATCH3] = {"keyMatch3", 2},   [TS_FN_KEYGET3] = {"keyGet3", 3},
    [TS_FN_KEYMATCH4] = {"keyMatch4", 2},   [TS_FN_KEYMATCH5] = {"keyMatch5", 2},
    [TS_FN_REGEXMATCH] = {"regexMatch", 2}, [TS_FN_IPMATCH] = {"ipMatch", 2},
    [TS_FN_GLOBMATCH] = {"globMatch", 2},
};

int ts_authz__builtin_lookup(const char *name, size_t len)
{
    if (!name)
        return -1;
    for (int i = 0; i < (int)TS_FN__COUNT; i++)
        if (strlen(table[i].name) == len && memcmp(table[i].name, name, len) == 0)
            return i;
    return -1;
}

const char *ts_authz__builtin_name(ts_builtin_id id)
{
    if ((unsigned)id >= (unsigned)TS_FN__COUNT)
        return "?";
    return table[id].name;
}

ts_status ts_authz__builtin_call(ts_builtin_id id, const ts_val *args, size_t nargs,
                                 const ts_builtin_env *env, ts_val *out, ts_error *err)
{
    if ((unsigned)id >= (unsigned)TS_FN__COUNT)
        return ts_error_set(err, TS_EINVAL, "builtin", "unknown built-in function %d", (int)id);
    const char *name = table[id].name;
    if (nargs != table[id].nargs)
        return ts_error_set(err, TS_EEVAL, name, "%s: expected %zu arguments, but got %zu", name,
                            table[id].nargs, nargs);
    ts_str a[3];
    for (size_t i = 0; i < nargs; i++) {
        if (args[i].kind != TS_VAL_STR)
            return ts_error_set(err, TS_EEVAL, name, "%s: argument must be a string", name);
        a[i] = args[i].u.str;
        if (!a[i].ptr)
            a[i] = ts_str_make("", 0);
    }
    ts_regex_cache *rx = env ? env->regex : NULL;
    bool b = false;
    ts_str s = ts_str_make("", 0);
    ts_status st = TS_OK;
    switch (id) {
    case TS_FN_KEYMATCH:
        b = ts_authz__key_match(a[0], a[1]);
        break;
    case TS_FN_KEYGET:
        s = ts_authz__key_get(a[0], a[1]);
        *out = ts_val_str(s.ptr, s.len);
        return TS_OK;
    case TS_FN_KEYMATCH2:
        st = ts_authz__key_match2(rx, a[0], a[1], &b, err);
        break;
    case TS_FN_KEYGET2:
        st = ts_authz__key_get2(rx, a[0], a[1], a[2], &s, err);
        if (st == TS_OK)
            *out = ts_val_str(s.ptr, s.len);
        return st;
    case TS_FN_KEYMATCH3:
        st = ts_authz__key_match3(rx, a[0], a[1], &b, err);
        break;
    case TS_FN_KEYGET3:
        st = ts_authz__key_get3(rx, a[0], a[1], a[2], &s, err);
        if (st == TS_OK)
            *out = ts_val_str(s.ptr, s.len);
        return st;
    case TS_FN_KEYMATCH4:
        st = ts_authz__key_match4(rx, a[0], a[1], &b, err);
        break;
    case TS_FN_KEYMATCH5:
        st = ts_authz__key_match5(rx, a[0], a[1], &b, err);
        break;
    case TS_FN_REGEXMATCH:
        st = ts_authz__regex_search(rx, a[1].ptr, a[1].len, a[0].ptr, a[0].len, &b, err);
        break;
    case TS_FN_IPMATCH:
        st = ts_authz__ip_match(a[0], a[1], &b, err);
        break;
    case TS_FN_GLOBMATCH:
        st = ts_authz__glob_match(a[0], a[1], &b, err);
        break;
    case TS_FN__COUNT:
    default:
        return ts_error_set(err, TS_EINVAL, "builtin", "unknown built-in function %d", (int)id);
    }
    if (st == TS_OK)
        *out = ts_val_bool(b);
    return st;
}

ts_status ts_authz__builtin_match(ts_authz_match_fn fn, ts_str name, ts_str pattern,
                                  ts_regex_cache *regex, bool *out, ts_error *err)
{
    *out = false;
    if (!name.ptr)
        name = ts_str_make("", 0);
    if (!pattern.ptr)
        pattern = ts_str_make("", 0);
    switch (fn) {
    case TS_AUTHZ_MATCH_KEYMATCH:
        *out = ts_authz__key_match(name, pattern);
        return TS_OK;
    case TS_AUTHZ_MATCH_KEYMATCH2:
        return ts_authz__key_match2(regex, name, pattern, out, err);
    case TS_AUTHZ_MATCH_KEYMATCH3:
        return ts_authz__key_match3(regex, name, pattern, out, err);
    case TS_AUTHZ_MATCH_KEYMATCH4:
        return ts_authz__key_match4(regex, name, pattern, out, err);
    case TS_AUTHZ_MATCH_KEYMATCH5:
        return ts_authz__key_match5(regex, name, pattern, out, err);
    case TS_AUTHZ_MATCH_REGEX:
        return ts_authz__regex_search(regex, pattern.ptr, pattern.len, name.ptr, name.len, out,
                                      err);
    case TS_AUTHZ_MATCH_GLOB:
        return ts_authz__glob_match(name, pattern, out, err);
    case TS_AUTHZ_MATCH_NONE:
    default:
        return ts_error_set(err, TS_EINVAL, "builtin", "no matching function set");
    }
}

TS_API ts_authz_match_fn ts_authz_match_fn_from_name(const char *name)
{
    static const struct {
        const char *name;
        ts_authz_match_fn fn;
    } fns[] = {
        {"keyMatch", TS_AUTHZ_MATCH_KEYMATCH},   {"keyMatch2", TS_AUTHZ_MATCH_KEYMATCH2},
        {"keyMatch3", TS_AUTHZ_MATCH_KEYMATCH3}, {"keyMatch4", TS_AUTHZ_MATCH_KEYMATCH4},
        {"keyMatch5", TS_AUTHZ_MATCH_KEYMATCH5}, {"regexMatch", TS_AUTHZ_MATCH_REGEX},
        {"globMatch", TS_AUTHZ_MATCH_GLOB},
    };
    if (!name)
        return TS_AUTHZ_MATCH_NONE;
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        if (strcmp(fns[i].name, name) == 0)
            return fns[i].fn;
    return TS_AUTHZ_MATCH_NONE;
}
