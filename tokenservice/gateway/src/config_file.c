/* The gateway's JSON configuration file: strict (duplicate and unknown members, wrong types and
 * oversized files are refused, naming the member's path, e.g. "trust[0].audiences[1]: not a
 * string"), scalars through ts_gateway_config_set() so that a value in the file means what the
 * same value means as a flag, the structured members (trust, authz.scope_roles, authz.routes,
 * authz.public_paths) read here. */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/file.h"
#include "common/http_client.h" /* ts_common__http_url_allowed */
#include "common/json_load.h"
#include "config.h" /* the service's value parser */
#include "gateway.h"
#include "gateway_config.h"

#define PATH_CAP 320 /* a member's path: "authz.routes[1023].audience" and the longest key */

/* snprintf() for paths and messages, which may be cut (they only name things in errors). */
static void put(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void put(char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

/* "<path>: <message>" as @p err's message, where = the file's name. */
static ts_status bad(ts_error *err, ts_status code, const char *name, const char *path,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static ts_status bad(ts_error *err, ts_status code, const char *name, const char *path,
                     const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ts_error_set(err, code, name, "%s: %s", path, msg);
}

/* Put @p path in front of the message an inner check left in @p err. */
static ts_status prefix(ts_error *err, ts_status code, const char *path)
{
    if (err) {
        char msg[sizeof err->msg];
        memcpy(msg, err->msg, sizeof msg);
        put(err->msg, sizeof err->msg, "%s: %s", path, msg);
    }
    return code;
}

/* A string member into @p dst (capacity @p cap): checked as the service checks any text
 * setting (length, no control characters). A null is "" when @p null_ok. */
static ts_status text(json_t *v, char *dst, size_t cap, bool null_ok, const char *name,
                      const char *path, ts_error *err)
{
    if (null_ok && json_is_null(v)) {
        dst[0] = '\0';
        return TS_OK;
    }
    if (!json_is_string(v))
        return bad(err, TS_EINVAL, name, path, "not a string");
    const ts_svc_value_spec spec = {TS_SVC_K_STR, 0, (int64_t)cap - 1, NULL};
    const char *s = json_string_value(v);
    ts_status st = ts_svc_value_parse(&spec, s, NULL, name, err);
    if (st != TS_OK)
        return prefix(err, st, path);
    memcpy(dst, s, strlen(s) + 1);
    return TS_OK;
}

/* A required non-empty string member of an object. */
static ts_status required(json_t *obj, const char *key, char *dst, size_t cap, const char *name,
                          const char *path, ts_error *err)
{
    char p[PATH_CAP];
    put(p, sizeof p, "%s.%s", path, key);
    json_t *v = json_object_get(obj, key);
    if (!v)
        return bad(err, TS_EINVAL, name, p, "required");
    ts_status st = text(v, dst, cap, false, name, p, err);
    if (st == TS_OK && !dst[0])
        st = bad(err, TS_EINVAL, name, p, "must not be empty");
    return st;
}

/* Every member of @p obj must be one of @p known (NULL-terminated). */
static ts_status only(json_t *obj, const char *const *known, const char *name, const char *path,
                      ts_error *err)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        size_t i = 0;
        while (known[i] && strcmp(known[i], k) != 0)
            i++;
        if (!known[i]) {
            char p[PATH_CAP];
            put(p, sizeof p, "%s.%.64s", path, k);
            return bad(err, TS_EINVAL, name, p, "unknown member");
        }
    }
    return TS_OK;
}

/* An array of at most @p max elements; its length in @p n. */
static ts_status array(json_t *v, size_t max, size_t *n, const char *name, const char *path,
                       ts_error *err)
{
    *n = 0;
    if (!json_is_array(v))
        return bad(err, TS_EINVAL, name, path, "not an array");
    *n = json_array_size(v);
    if (*n > max)
        return bad(err, TS_ELIMIT, name, path, "more than %zu entries", max);
    return TS_OK;
}

static void *alloc_n(size_t n, size_t size)
{
    return calloc(n ? n : 1, size);
}

/* A duration member: "5m" or whole seconds, @p lo..@p hi seconds. */
static ts_status duration(json_t *v, int64_t lo, int64_t hi, int64_t *out, const char *name,
                          const char *path, ts_error *err)
{
    char buf[32];
    const char *s = json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        s = buf;
    }
    if (!s)
        return bad(err, TS_EINVAL, name, path, "not a duration (\"5m\") or seconds");
    const ts_svc_value_spec spec = {TS_SVC_K_DUR, lo, hi, NULL};
    ts_status st = ts_svc_value_parse(&spec, s, out, name, err);
    return st == TS_OK ? TS_OK : prefix(err, st, path);
}

/* The entry's revocation list: the URL by the rule its polling applies (https, or http to a
 * loopback host), so that a URL the gateway could never fetch is refused at start-up also for
 * an issuer whose keys come by discovery (its list is only built then); the durations within
 * their bounds; the other members only with a URL (a poll interval without a list would be a
 * setting that silently does nothing). The rule across members (stale only after more than
 * one poll) is ts_gateway_config_finish()'s, which also sees entries made in code. */
static ts_status trust_revocations(json_t *o, ts_gateway_trust *t, const char *name,
                                   const char *path, ts_error *err)
{
    static const char *const more[] = {"revocations_poll", "revocations_max_stale",
                                       "revocations_fail_open"};
    char p[PATH_CAP];
    json_t *v;
    ts_status st = TS_OK;
    t->revocations_poll_s = 10;
    t->revocations_max_stale_s = 300;
    if ((v = json_object_get(o, "revocations")) != NULL) {
        put(p, sizeof p, "%s.revocations", path);
        st = text(v, t->revocations, sizeof t->revocations, true, name, p, err);
        if (st == TS_OK && t->revocations[0] && !ts_common__http_url_allowed(t->revocations, false))
            st = bad(err, TS_EINVAL, name, p, "not https:// (or http:// to a loopback host)");
    }
    for (size_t i = 0; st == TS_OK && i < sizeof more / sizeof more[0]; i++) {
        if (!(v = json_object_get(o, more[i])))
            continue;
        put(p, sizeof p, "%s.%s", path, more[i]);
        if (!t->revocations[0])
            st = bad(err, TS_EINVAL, name, p, "applies only with revocations (a URL)");
        else if (i == 0)
            st = duration(v, 1, TS_GATEWAY_REVOCATIONS_POLL_MAX_S, &t->revocations_poll_s, name, p,
                          err);
        else if (i == 1)
            st = duration(v, 1, TS_GATEWAY_REVOCATIONS_MAX_STALE_MAX_S, &t->revocations_max_stale_s,
                          name, p, err);
        else if (!json_is_boolean(v))
            st = bad(err, TS_EINVAL, name, p, "not true or false");
        else
            t->revocations_fail_open = json_is_true(v);
    }
    return st;
}

static ts_status trust_entry(json_t *o, ts_gateway_trust *t, const char *name, const char *path,
                             ts_error *err)
{
    static const char *const known[] = {"issuer",
                                        "jwks_uri",
                                        "audiences",
                                        "kind",
                                        "principal_type",
                                        "max_token_age",
                                        "revocations",
                                        "revocations_poll",
                                        "revocations_max_stale",
                                        "revocations_fail_open",
                                        NULL};
    char p[PATH_CAP];
    if (!json_is_object(o))
        return bad(err, TS_EINVAL, name, path, "not an object");
    ts_status st = only(o, known, name, path, err);
    if (st == TS_OK)
        st = required(o, "issuer", t->issuer, sizeof t->issuer, name, path, err);
    json_t *v;
    if (st == TS_OK && (v = json_object_get(o, "jwks_uri")) != NULL) {
        put(p, sizeof p, "%s.jwks_uri", path);
        st = text(v, t->jwks_uri, sizeof t->jwks_uri, true, name, p, err);
    }
    put(p, sizeof p, "%s.audiences", path);
    if (st == TS_OK && !(v = json_object_get(o, "audiences")))
        st = bad(err, TS_EINVAL, name, p, "required");
    if (st == TS_OK)
        st = array(v, TS_GATEWAY_MAX_AUDIENCES, &t->n_audiences, name, p, err);
    if (st == TS_OK && t->n_audiences == 0)
        st = bad(err, TS_EINVAL, name, p, "at least one audience is required");
    for (size_t i = 0; st == TS_OK && i < t->n_audiences; i++) {
        char q[PATH_CAP];
        put(q, sizeof q, "%s[%zu]", p, i);
        st = text(json_array_get(v, i), t->audiences[i], sizeof t->audiences[i], false, name, q,
                  err);
        if (st == TS_OK && !t->audiences[i][0])
            st = bad(err, TS_EINVAL, name, q, "must not be empty");
    }
    if (st == TS_OK && (v = json_object_get(o, "kind")) != NULL) {
        put(p, sizeof p, "%s.kind", path);
        const char *k = json_string_value(v);
        if (k && strcmp(k, "jwt") == 0)
            t->kind = TS_GATEWAY_TRUST_JWT;
        else if (k && strcmp(k, "kubernetes") == 0)
            t->kind = TS_GATEWAY_TRUST_KUBERNETES;
        else
            st = bad(err, TS_EINVAL, name, p, "not \"jwt\" or \"kubernetes\"");
    }
    if (st == TS_OK && (v = json_object_get(o, "principal_type")) != NULL) {
        put(p, sizeof p, "%s.principal_type", path);
        st = text(v, t->principal_type, sizeof t->principal_type, false, name, p, err);
    }
    if (st == TS_OK && (v = json_object_get(o, "max_token_age")) != NULL) {
        put(p, sizeof p, "%s.max_token_age", path);
        st = duration(v, 0, 315360000, &t->max_token_age_s, name, p, err); /* 10 years */
    }
    if (st == TS_OK)
        st = trust_revocations(o, t, name, path, err);
    return st;
}

static ts_status load_trust(ts_gateway_config *cfg, json_t *v, const char *name, ts_error *err)
{
    size_t n;
    ts_status st = array(v, TS_GATEWAY_MAX_TRUST, &n, name, "trust", err);
    if (st != TS_OK)
        return st;
    ts_gateway_trust *t = alloc_n(n, sizeof *t);
    if (!t)
        return ts_error_set(err, TS_ENOMEM, name, "out of memory");
    for (size_t i = 0; st == TS_OK && i < n; i++) {
        char p[PATH_CAP];
        put(p, sizeof p, "trust[%zu]", i);
        st = trust_entry(json_array_get(v, i), &t[i], name, p, err);
    }
    if (st != TS_OK) {
        free(t);
        return st;
    }
    free(cfg->trust);
    cfg->trust = t;
    cfg->n_trust = n;
    return TS_OK;
}

static ts_status load_scope_roles(ts_gateway_config *cfg, json_t *v, const char *name,
                                  ts_error *err)
{
    const char *path = "authz.scope_roles";
    if (!json_is_object(v))
        return bad(err, TS_EINVAL, name, path, "not an object");
    size_t n = json_object_size(v);
    if (n > TS_GATEWAY_MAX_SCOPE_ROLES)
        return bad(err, TS_ELIMIT, name, path, "more than %u entries", TS_GATEWAY_MAX_SCOPE_ROLES);
    ts_gateway_scope_role *sr = alloc_n(n, sizeof *sr);
    if (!sr)
        return ts_error_set(err, TS_ENOMEM, name, "out of memory");
    size_t i = 0;
    const char *k;
    json_t *r;
    ts_status st = TS_OK;
    json_object_foreach(v, k, r)
    {
        char p[PATH_CAP];
        put(p, sizeof p, "%s.%.64s", path, k);
        json_t *key = json_string(k);
        st = key ? text(key, sr[i].scope, sizeof sr[i].scope, false, name, p, err)
                 : ts_error_set(err, TS_ENOMEM, name, "out of memory");
        json_decref(key);
        if (st == TS_OK)
            st = text(r, sr[i].role, sizeof sr[i].role, false, name, p, err);
        if (st == TS_OK && (!sr[i].scope[0] || !sr[i].role[0]))
            st = bad(err, TS_EINVAL, name, p, "scope and role must not be empty");
        if (st != TS_OK)
            break;
        i++;
    }
    if (st != TS_OK) {
        free(sr);
        return st;
    }
    free(cfg->authz.scope_roles);
    cfg->authz.scope_roles = sr;
    cfg->authz.n_scope_roles = n;
    return TS_OK;
}

static ts_status route(json_t *o, ts_gateway_route *r, const char *name, const char *path,
                       ts_error *err)
{
    static const char *const known[] = {"method", "path", "object", "action", "audience", NULL};
    if (!json_is_object(o))
        return bad(err, TS_EINVAL, name, path, "not an object");
    ts_status st = only(o, known, name, path, err);
    if (st == TS_OK)
        st = required(o, "method", r->method, sizeof r->method, name, path, err);
    if (st == TS_OK)
        st = required(o, "path", r->path, sizeof r->path, name, path, err);
    if (st == TS_OK)
        st = required(o, "object", r->object, sizeof r->object, name, path, err);
    char p[PATH_CAP];
    if (st == TS_OK && r->path[0] != '/' && strcmp(r->path, "*") != 0) {
        put(p, sizeof p, "%s.path", path);
        st = bad(err, TS_EINVAL, name, p, "must start with '/'");
    }
    json_t *v;
    if (st == TS_OK && (v = json_object_get(o, "action")) != NULL) {
        put(p, sizeof p, "%s.action", path);
        st = text(v, r->action, sizeof r->action, true, name, p, err);
    }
    if (st == TS_OK && (v = json_object_get(o, "audience")) != NULL) {
        put(p, sizeof p, "%s.audience", path);
        st = text(v, r->audience, sizeof r->audience, true, name, p, err);
    }
    return st;
}

static ts_status load_routes(ts_gateway_config *cfg, json_t *v, const char *name, ts_error *err)
{
    size_t n;
    ts_status st = array(v, TS_GATEWAY_MAX_ROUTES, &n, name, "authz.routes", err);
    if (st != TS_OK)
        return st;
    ts_gateway_route *r = alloc_n(n, sizeof *r);
    if (!r)
        return ts_error_set(err, TS_ENOMEM, name, "out of memory");
    for (size_t i = 0; st == TS_OK && i < n; i++) {
        char p[PATH_CAP];
        put(p, sizeof p, "authz.routes[%zu]", i);
        st = route(json_array_get(v, i), &r[i], name, p, err);
    }
    if (st != TS_OK) {
        free(r);
        return st;
    }
    free(cfg->authz.routes);
    cfg->authz.routes = r;
    cfg->authz.n_routes = n;
    return TS_OK;
}

static ts_status load_public_paths(ts_gateway_config *cfg, json_t *v, const char *name,
                                   ts_error *err)
{
    size_t n;
    ts_status st = array(v, TS_GATEWAY_MAX_PUBLIC_PATHS, &n, name, "authz.public_paths", err);
    if (st != TS_OK)
        return st;
    char(*pp)[TS_GATEWAY_STR] = alloc_n(n, sizeof *pp);
    if (!pp)
        return ts_error_set(err, TS_ENOMEM, name, "out of memory");
    for (size_t i = 0; st == TS_OK && i < n; i++) {
        char p[PATH_CAP];
        put(p, sizeof p, "authz.public_paths[%zu]", i);
        st = text(json_array_get(v, i), pp[i], sizeof pp[i], false, name, p, err);
        if (st == TS_OK && pp[i][0] != '/')
            st = bad(err, TS_EINVAL, name, p, "must start with '/'");
    }
    if (st != TS_OK) {
        free(pp);
        return st;
    }
    free(cfg->authz.public_paths);
    cfg->authz.public_paths = pp;
    cfg->authz.n_public_paths = n;
    return TS_OK;
}

/* A scalar member as the text a flag would give, then through ts_gateway_config_set(). */
static ts_status scalar(ts_gateway_config *cfg, const char *key, ts_gateway__json_kind kind,
                        json_t *v, const char *name, ts_error *err)
{
    char buf[32];
    const char *t = NULL;
    if (kind == TS_GATEWAY__JSON_TEXT)
        t = json_is_null(v) ? "" : json_string_value(v);
    else if (kind == TS_GATEWAY__JSON_BOOL && json_is_boolean(v))
        t = json_is_true(v) ? "true" : "false";
    else if (kind == TS_GATEWAY__JSON_NUMBER && json_is_integer(v))
        t = (snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v)), buf);
    else if (kind == TS_GATEWAY__JSON_NUMBER)
        t = json_string_value(v);
    if (!t)
        return bad(err, TS_EINVAL, name, key, "%s",
                   kind == TS_GATEWAY__JSON_TEXT   ? "not a string"
                   : kind == TS_GATEWAY__JSON_BOOL ? "not true or false"
                                                   : "not a number (or a duration such as \"5m\")");
    ts_status st = ts_gateway_config_set(cfg, key, t, name, err);
    return st == TS_OK ? TS_OK : prefix(err, st, key);
}

static ts_status load_object(ts_gateway_config *cfg, json_t *obj, const char *object,
                             const char *name, ts_error *err)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        char path[PATH_CAP];
        put(path, sizeof path, "%s%s%.64s", object, *object ? "." : "", k);
        bool top = !*object, in_authz = strcmp(object, "authz") == 0;
        ts_gateway__json_kind kind;
        ts_status st;
        if (top && strcmp(k, "trust") == 0)
            st = load_trust(cfg, v, name, err);
        else if (in_authz && strcmp(k, "scope_roles") == 0)
            st = load_scope_roles(cfg, v, name, err);
        else if (in_authz && strcmp(k, "routes") == 0)
            st = load_routes(cfg, v, name, err);
        else if (in_authz && strcmp(k, "public_paths") == 0)
            st = load_public_paths(cfg, v, name, err);
        else if (top && ts_gateway__setting_object(k))
            st = json_is_object(v) ? load_object(cfg, v, k, name, err)
                                   : bad(err, TS_EINVAL, name, path, "not an object");
        else if (ts_gateway__setting_kind(path, &kind))
            st = scalar(cfg, path, kind, v, name, err);
        else
            st = bad(err, TS_EINVAL, name, path, "unknown member");
        if (st != TS_OK)
            return st;
    }
    return TS_OK;
}

ts_status ts_gateway_config_load_json(ts_gateway_config *cfg, const char *name, const char *bytes,
                                      size_t len, ts_error *err)
{
    if (len > TS_GATEWAY_CONFIG_MAX_BYTES)
        return ts_error_set(err, TS_ELIMIT, name, "configuration larger than %u bytes",
                            TS_GATEWAY_CONFIG_MAX_BYTES);
    if (memchr(bytes, '\0', len))
        return ts_error_set(err, TS_EPARSE, name, "the configuration contains a NUL byte");
    json_error_t je;
    json_t *root = json_loadb(bytes, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        if (ts_common__json_load_oom(&je))
            return ts_error_set(err, TS_ENOMEM, name, "out of memory");
        return ts_error_set(err, TS_EPARSE, name, "line %d: %s", je.line, je.text);
    }
    ts_status st = json_is_object(root) ? load_object(cfg, root, "", name, err)
                                        : ts_error_set(err, TS_EPARSE, name,
                                                       "the configuration must be a JSON "
                                                       "object");
    json_decref(root);
    return st;
}

ts_status ts_gateway_config_load_file(ts_gateway_config *cfg, const char *path, ts_error *err)
{
    /* One byte over the bound, so that the size message is the one seen. */
    char *buf = NULL;
    size_t len = 0;
    ts_status st = ts_common__read_file(path, TS_GATEWAY_CONFIG_MAX_BYTES + 1, 0, &buf, &len, err);
    if (st == TS_OK)
        st = ts_gateway_config_load_json(cfg, path, buf, len, err);
    free(buf);
    return st;
}
