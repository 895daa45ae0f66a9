/*
 * The gate from a JSON file: the same fields as ts_mhd_gate_options, under the same names, so
 * that a deployment can change issuers, keys, routes or the mode without a rebuild. Strict, as
 * every configuration reader of tokensmith: an unknown or duplicate member, a wrong type or an
 * out-of-range number is refused with the file and the member named ("routes[1].object"), so
 * that a typo ("audience" for "audiences") stops the service instead of silently leaving a
 * field at its default. The strings stay inside the parsed document until the gate, which
 * copies everything, is built.
 */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/file.h"
#include "common/json_load.h"
#include "mhd_internal.h"

#define MAX_FILE_BYTES (1u << 20) /* a gate file is a page of text; more is a mistake */
#define MAX_ENTRIES 1024u         /* entries of one list, table or route table */
#define MAX_CACHE (1u << 24)      /* cache entries */

/* What the parsed file holds besides the document: arrays of pointers into it. */
typedef struct gate_file {
    const char *path;
    json_t *root;
    const char **lists[5]; /* issuers, audiences, jwks, public_paths, authn_only_paths */
    ts_authn_scope_role *scope_roles;
    ts_authz_route *routes;
    ts_mhd_step_up *step_up;
    const char **acr_values; /* every rule's acr values, one array */
} gate_file;

static void gate_file_cleanup(gate_file *f)
{
    for (size_t i = 0; i < sizeof f->lists / sizeof f->lists[0]; i++)
        free(f->lists[i]);
    free(f->scope_roles);
    free(f->routes);
    free(f->step_up);
    free(f->acr_values);
    json_decref(f->root);
}

/* An error about member @p field of the file: `where` is "<file>: <member>", as the
 * service's configuration errors are. */
static TS_PRINTF(4, 5) ts_status
    bad(const gate_file *f, ts_error *err, const char *field, const char *fmt, ...)
{
    char where[sizeof err->where];
    snprintf(where, sizeof where, "%s: %s", f->path, field);
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        ts_error_set(err, TS_EINVAL, where, "%s", "");
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return TS_EINVAL;
}

static ts_status get_string(const gate_file *f, json_t *v, const char *field, const char **out,
                            ts_error *err)
{
    if (!json_is_string(v))
        return bad(f, err, field, "expected a string");
    if (json_string_length(v) == 0)
        return bad(f, err, field, "empty string");
    if (strlen(json_string_value(v)) != json_string_length(v))
        return bad(f, err, field, "holds a NUL character");
    *out = json_string_value(v);
    return TS_OK;
}

/* A string or an array of strings. */
static ts_status get_list(gate_file *f, json_t *v, const char *field, size_t slot,
                          const char *const **out, size_t *n, ts_error *err)
{
    size_t count = json_is_array(v) ? json_array_size(v) : 1;
    if (!json_is_array(v) && !json_is_string(v))
        return bad(f, err, field, "expected a string or an array of strings");
    if (count > MAX_ENTRIES)
        return bad(f, err, field, "more than %u entries", MAX_ENTRIES);
    const char **a = calloc(count ? count : 1, sizeof *a);
    if (!a)
        return ts_error_set(err, TS_ENOMEM, field, "out of memory");
    free(f->lists[slot]);
    f->lists[slot] = a;
    for (size_t i = 0; i < count; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s[%zu]", field, i);
        if (get_string(f, json_is_array(v) ? json_array_get(v, i) : v,
                       json_is_array(v) ? name : field, &a[i], err) != TS_OK)
            return TS_EINVAL;
    }
    *out = a;
    *n = count;
    return TS_OK;
}

static ts_status get_bool(const gate_file *f, json_t *v, const char *field, bool *out,
                          ts_error *err)
{
    if (!json_is_boolean(v))
        return bad(f, err, field, "expected true or false");
    *out = json_is_true(v);
    return TS_OK;
}

static ts_status get_uint(const gate_file *f, json_t *v, const char *field, unsigned long max,
                          unsigned long *out, ts_error *err)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        (unsigned long long)json_integer_value(v) > max)
        return bad(f, err, field, "expected an integer from 0 to %lu", max);
    *out = (unsigned long)json_integer_value(v);
    return TS_OK;
}

static ts_status get_unsigned(const gate_file *f, json_t *v, const char *field, unsigned *out,
                              ts_error *err)
{
    unsigned long x = 0;
    if (get_uint(f, v, field, UINT_MAX, &x, err) != TS_OK)
        return TS_EINVAL;
    *out = (unsigned)x;
    return TS_OK;
}

static ts_status get_size(const gate_file *f, json_t *v, const char *field, size_t *out,
                          ts_error *err)
{
    unsigned long x = 0;
    if (get_uint(f, v, field, MAX_CACHE, &x, err) != TS_OK)
        return TS_EINVAL;
    *out = (size_t)x;
    return TS_OK;
}

/* {"read": "viewer", ...}: scope to role. */
static ts_status get_scope_roles(gate_file *f, json_t *v, ts_mhd_gate_options *o, ts_error *err)
{
    if (!json_is_object(v))
        return bad(f, err, "scope_roles", "expected an object of scope: role");
    size_t n = json_object_size(v), i = 0;
    if (n > MAX_ENTRIES)
        return bad(f, err, "scope_roles", "more than %u entries", MAX_ENTRIES);
    if (!(f->scope_roles = calloc(n ? n : 1, sizeof *f->scope_roles)))
        return ts_error_set(err, TS_ENOMEM, "scope_roles", "out of memory");
    const char *scope;
    json_t *role;
    json_object_foreach(v, scope, role)
    {
        char name[200];
        snprintf(name, sizeof name, "scope_roles.%s", scope);
        if (!*scope)
            return bad(f, err, "scope_roles", "empty scope");
        if (get_string(f, role, name, &f->scope_roles[i].role, err) != TS_OK)
            return TS_EINVAL;
        f->scope_roles[i++].scope = scope;
    }
    o->scope_roles = f->scope_roles;
    o->n_scope_roles = n;
    return TS_OK;
}

/* [{"method": "GET", "pattern": "/nodes/:id", "object": "metadata:nodes", "action": "read"}]:
 * method, pattern and object required, action optional (from the method, action_style). */
static ts_status get_routes(gate_file *f, json_t *v, ts_mhd_gate_options *o, ts_error *err)
{
    if (!json_is_array(v))
        return bad(f, err, "routes", "expected an array of routes");
    size_t n = json_array_size(v);
    if (n > MAX_ENTRIES)
        return bad(f, err, "routes", "more than %u routes", MAX_ENTRIES);
    if (!(f->routes = calloc(n ? n : 1, sizeof *f->routes)))
        return ts_error_set(err, TS_ENOMEM, "routes", "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(v, i);
        char name[64];
        snprintf(name, sizeof name, "routes[%zu]", i);
        if (!json_is_object(r))
            return bad(f, err, name, "expected an object with method, pattern and object");
        ts_authz_route *row = &f->routes[i];
        const char *key;
        json_t *val;
        json_object_foreach(r, key, val)
        {
            const char **slot = strcmp(key, "method") == 0    ? &row->method
                                : strcmp(key, "pattern") == 0 ? &row->pattern
                                : strcmp(key, "object") == 0  ? &row->object
                                : strcmp(key, "action") == 0  ? &row->action
                                                              : NULL;
            char field[128];
            snprintf(field, sizeof field, "%s.%s", name, key);
            if (!slot)
                return bad(f, err, field, "unknown member (method, pattern, object, action)");
            if (get_string(f, val, field, slot, err) != TS_OK)
                return TS_EINVAL;
        }
        const char *missing = !row->method    ? "method"
                              : !row->pattern ? "pattern"
                              : !row->object  ? "object"
                                              : NULL;
        if (missing) {
            char field[128];
            snprintf(field, sizeof field, "%s.%s", name, missing);
            return bad(f, err, field, "missing");
        }
    }
    o->routes = f->routes;
    o->n_routes = n;
    return TS_OK;
}

/* One step-up rule's members into @p row; its acr values go to @p acr (room counted by the
 * caller), @p *used of them taken so far. */
static ts_status get_step_up_rule(gate_file *f, json_t *r, const char *name, ts_mhd_step_up *row,
                                  const char **acr, size_t *used, ts_error *err)
{
    const char *key;
    json_t *val;
    json_object_foreach(r, key, val)
    {
        char field[128];
        snprintf(field, sizeof field, "%s.%s", name, key);
        if (strcmp(key, "path") == 0 || strcmp(key, "method") == 0) {
            if (get_string(f, val, field, key[0] == 'p' ? &row->path : &row->method, err) != TS_OK)
                return TS_EINVAL;
        } else if (strcmp(key, "max_age_s") == 0) {
            unsigned long x = 0;
            if (get_uint(f, val, field, 366ul * 86400ul, &x, err) != TS_OK)
                return TS_EINVAL;
            row->max_age_s = (int64_t)x;
        } else if (strcmp(key, "acr_values") == 0) {
            if (!json_is_array(val) || json_array_size(val) == 0)
                return bad(f, err, field, "expected a non-empty array of strings");
            row->acr_values = acr + *used;
            size_t k;
            json_t *e;
            json_array_foreach(val, k, e)
            {
                char ef[160];
                snprintf(ef, sizeof ef, "%s[%zu]", field, k);
                if (get_string(f, e, ef, &acr[*used], err) != TS_OK)
                    return TS_EINVAL;
                ++*used;
            }
            row->n_acr_values = json_array_size(val);
        } else {
            return bad(f, err, field, "unknown member (path, method, acr_values, max_age_s)");
        }
    }
    if (!row->path) {
        char field[128];
        snprintf(field, sizeof field, "%s.path", name);
        return bad(f, err, field, "missing");
    }
    return TS_OK;
}

/* [{"path": "/admin/\*", "method": "DELETE", "acr_values": ["mfa"], "max_age_s": 300}]: path
 * required, at least one of acr_values and max_age_s (the gate checks the values). */
static ts_status get_step_up(gate_file *f, json_t *v, ts_mhd_gate_options *o, ts_error *err)
{
    if (!json_is_array(v))
        return bad(f, err, "step_up", "expected an array of step-up rules");
    size_t n = json_array_size(v), n_acr = 0;
    if (n > MAX_ENTRIES)
        return bad(f, err, "step_up", "more than %u rules", MAX_ENTRIES);
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_object_get(json_array_get(v, i), "acr_values");
        n_acr += json_is_array(a) ? json_array_size(a) : 0;
    }
    if (n_acr > MAX_ENTRIES)
        return bad(f, err, "step_up", "more than %u acr values in all", MAX_ENTRIES);
    if (!(f->step_up = calloc(n ? n : 1, sizeof *f->step_up)) ||
        !(f->acr_values = calloc(n_acr ? n_acr : 1, sizeof *f->acr_values)))
        return ts_error_set(err, TS_ENOMEM, "step_up", "out of memory");
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(v, i);
        char name[64];
        snprintf(name, sizeof name, "step_up[%zu]", i);
        if (!json_is_object(r))
            return bad(f, err, name, "expected an object with path and acr_values or max_age_s");
        if (get_step_up_rule(f, r, name, &f->step_up[i], f->acr_values, &used, err) != TS_OK)
            return TS_EINVAL;
    }
    o->step_up = f->step_up;
    o->n_step_up = n;
    return TS_OK;
}

static ts_status get_limits(const gate_file *f, json_t *v, ts_mhd_gate_options *o, ts_error *err)
{
    if (!json_is_object(v))
        return bad(f, err, "limits", "expected an object");
    if (!o->limits.handler)
        return bad(f, err, "limits",
                   "the program must set the limits' handler (options.limits.handler) "
                   "for the file to bound connections");
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val)
    {
        static const struct {
            const char *name;
            size_t off;
        } u[] = {
            {"max_per_address", offsetof(ts_mhd_limits_options, max_per_address)},
            {"ipv6_prefix", offsetof(ts_mhd_limits_options, ipv6_prefix)},
            {"max_connections", offsetof(ts_mhd_limits_options, max_connections)},
            {"head_timeout_ms", offsetof(ts_mhd_limits_options, head_timeout_ms)},
            {"body_timeout_ms", offsetof(ts_mhd_limits_options, body_timeout_ms)},
            {"idle_timeout_s", offsetof(ts_mhd_limits_options, idle_timeout_s)},
            {"log_interval_ms", offsetof(ts_mhd_limits_options, log_interval_ms)},
        };
        char field[128];
        snprintf(field, sizeof field, "limits.%s", key);
        if (strcmp(key, "check_framing") == 0) {
            if (get_bool(f, val, field, &o->limits.check_framing, err) != TS_OK)
                return TS_EINVAL;
            continue;
        }
        size_t k = 0;
        while (k < sizeof u / sizeof u[0] && strcmp(u[k].name, key) != 0)
            k++;
        if (k == sizeof u / sizeof u[0])
            return bad(f, err, field, "unknown member");
        unsigned x = 0;
        if (get_unsigned(f, val, field, &x, err) != TS_OK)
            return TS_EINVAL;
        memcpy((char *)&o->limits + u[k].off, &x, sizeof x);
    }
    return TS_OK;
}

/* One top-level member into @p o. */
static ts_status member(gate_file *f, const char *key, json_t *v, ts_mhd_gate_options *o,
                        ts_error *err)
{
    static const char *const list_names[5] = {"issuers", "audiences", "jwks", "public_paths",
                                              "authn_only_paths"};
    const char *const **list_ptr[5] = {&o->issuers, &o->audiences, &o->jwks, &o->public_paths,
                                       &o->authn_only_paths};
    size_t *list_len[5] = {&o->n_issuers, &o->n_audiences, &o->n_jwks, &o->n_public_paths,
                           &o->n_authn_only_paths};
    for (size_t i = 0; i < 5; i++)
        if (strcmp(key, list_names[i]) == 0)
            return get_list(f, v, key, i, list_ptr[i], list_len[i], err);
    if (strcmp(key, "scope_roles") == 0)
        return get_scope_roles(f, v, o, err);
    if (strcmp(key, "routes") == 0)
        return get_routes(f, v, o, err);
    if (strcmp(key, "limits") == 0)
        return get_limits(f, v, o, err);
    if (strcmp(key, "step_up") == 0)
        return get_step_up(f, v, o, err);
    if (strcmp(key, "realm") == 0)
        return get_string(f, v, key, &o->realm, err);
    if (strcmp(key, "policy_dir") == 0)
        return get_string(f, v, key, &o->policy_dir, err);
    if (strcmp(key, "token_cache") == 0)
        return get_size(f, v, key, &o->token_cache, err);
    if (strcmp(key, "decision_cache") == 0)
        return get_size(f, v, key, &o->decision_cache, err);
    if (strcmp(key, "log_allow_sample") == 0)
        return get_unsigned(f, v, key, &o->log_allow_sample, err);
    if (strcmp(key, "allow_unmapped") == 0)
        return get_bool(f, v, key, &o->allow_unmapped, err);
    if (strcmp(key, "policy_from_env") == 0)
        return get_bool(f, v, key, &o->policy_from_env, err);
    if (strcmp(key, "raw_paths") == 0)
        return get_bool(f, v, key, &o->raw_paths, err);
    if (strcmp(key, "mode") == 0) {
        const char *s = json_string_value(v);
        ts_error me;
        if (!s || ts_authz_mode_parse(s, &o->mode, &me) != TS_OK)
            return bad(f, err, key, "expected \"off\", \"shadow\" or \"enforce\"");
        return TS_OK;
    }
    if (strcmp(key, "action_style") == 0) {
        const char *s = json_string_value(v);
        if (s && strcmp(s, "rest") == 0)
            o->action_style = TS_AUTHZ_ACTION_REST;
        else if (s && strcmp(s, "literal") == 0)
            o->action_style = TS_AUTHZ_ACTION_LITERAL;
        else
            return bad(f, err, key, "expected \"rest\" or \"literal\"");
        return TS_OK;
    }
    return bad(f, err, key, "unknown member");
}

ts_mhd_gate *ts_mhd_gate_new_file(const char *path, const ts_mhd_gate_options *base, ts_error *err)
{
    static const ts_mhd_gate_options defaults = TS_MHD_GATE_OPTIONS_INIT;
    if (!path) {
        ts_error_set(err, TS_EINVAL, "ts_mhd_gate_new_file", "no file given");
        return NULL;
    }
    ts_mhd_gate_options o = base ? *base : defaults;
    gate_file f = {.path = path};
    char *text = NULL;
    size_t len = 0;
    if (ts_common__read_file(path, MAX_FILE_BYTES, TS_COMMON__READ_NO_NUL, &text, &len, err) !=
        TS_OK)
        return NULL;
    json_error_t je;
    f.root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    free(text);
    ts_mhd_gate *g = NULL;
    if (!f.root) {
        /* A file jansson could not load for lack of memory is fine: not the operator's to fix. */
        if (ts_common__json_load_oom(&je))
            ts_error_set(err, TS_ENOMEM, path, "out of memory reading the gate file");
        else
            ts_error_set(err, TS_EPARSE, path, "line %d: %s", je.line, je.text);
        goto out;
    }
    if (!json_is_object(f.root)) {
        ts_error_set(err, TS_EPARSE, path, "expected a JSON object of gate options");
        goto out;
    }
    const char *key;
    json_t *v;
    json_object_foreach(f.root, key, v)
    {
        if (member(&f, key, v, &o, err) != TS_OK)
            goto out;
    }
    if (!(g = ts_mhd_gate_new(&o, err)) && err) {
        /* The option at fault came from this file (or from the base): say which file. */
        ts_error e = *err;
        char where[2 * sizeof e.where];
        snprintf(where, sizeof where, "%s: %s", path, e.where);
        ts_error_set(err, e.code, where, "%s", e.msg);
    }
out:
    gate_file_cleanup(&f);
    return g;
}
