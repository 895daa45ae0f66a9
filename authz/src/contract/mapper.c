/* Request mappers: path/method, route table (keyMatch2), and service-defined functions. */
#include <stdlib.h>
#include <string.h>

#include "builtins.h"
#include "contract/contract.h"
#include "contract/route_pattern.h"

typedef enum kind { KIND_PATH, KIND_ROUTES, KIND_CUSTOM } kind;

typedef struct route {
    char *method, *pattern, *object, *action; /* action may be NULL */
    ts_route_pattern *compiled;
} route;

struct ts_authz_mapper {
    kind kind;
    ts_authz_action_style style;
    ts_authz_domain_fn domain_fn;
    void *domain_ud;
    ts_authz_map_fn fn;
    void *fn_ud;
    route *routes;
    size_t nroutes;
    ts_regex_cache *regex; /* keyMatch2 patterns compile once */
};

static char *dup_z(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

void ts_authz_mapper_free(ts_authz_mapper *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nroutes; i++) {
        free(m->routes[i].method);
        free(m->routes[i].pattern);
        free(m->routes[i].object);
        free(m->routes[i].action);
        ts_authz__route_free(m->routes[i].compiled);
    }
    free(m->routes);
    ts_authz__regex_cache_free(m->regex);
    free(m);
}

static ts_authz_mapper *alloc_mapper(kind k, ts_error *err)
{
    ts_authz_mapper *m = calloc(1, sizeof *m);
    if (!m)
        ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    else
        m->kind = k;
    return m;
}

ts_authz_mapper *ts_authz_mapper_path_new(ts_authz_action_style style, ts_authz_domain_fn domain_fn,
                                          void *domain_ud, ts_error *err)
{
    ts_authz_mapper *m = alloc_mapper(KIND_PATH, err);
    if (m) {
        m->style = style;
        m->domain_fn = domain_fn;
        m->domain_ud = domain_ud;
    }
    return m;
}

ts_authz_mapper *ts_authz_mapper_custom_new(ts_authz_map_fn fn, void *ud, ts_error *err)
{
    if (!fn) {
        ts_error_set(err, TS_EINVAL, "ts_authz_mapper_custom_new", "mapping function is NULL");
        return NULL;
    }
    ts_authz_mapper *m = alloc_mapper(KIND_CUSTOM, err);
    if (m) {
        m->fn = fn;
        m->fn_ud = ud;
    }
    return m;
}

ts_authz_mapper *ts_authz_mapper_routes_new(const ts_authz_route *routes, size_t nroutes,
                                            ts_authz_action_style style,
                                            ts_authz_domain_fn domain_fn, void *domain_ud,
                                            ts_error *err)
{
    if (!routes && nroutes > 0) {
        ts_error_set(err, TS_EINVAL, "ts_authz_mapper_routes_new", "routes is NULL");
        return NULL;
    }
    ts_authz_mapper *m = alloc_mapper(KIND_ROUTES, err);
    if (!m)
        return NULL;
    m->style = style;
    m->domain_fn = domain_fn;
    m->domain_ud = domain_ud;
    m->routes = calloc(nroutes ? nroutes : 1, sizeof *m->routes);
    m->regex = ts_authz__regex_cache_new(0);
    if (!m->routes || !m->regex) {
        ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
        ts_authz_mapper_free(m);
        return NULL;
    }
    for (size_t i = 0; i < nroutes; i++) {
        const ts_authz_route *r = &routes[i];
        char where[32];
        snprintf(where, sizeof where, "route %zu", i + 1);
        if (!r->pattern || r->pattern[0] != '/' || !r->object || !*r->object ||
            (r->action && !*r->action)) {
            ts_error_set(err, TS_EINVAL, where,
                         "a route needs a pattern starting with '/', an object and a non-empty "
                         "action (or none)");
            ts_authz_mapper_free(m);
            return NULL;
        }
        route *d = &m->routes[m->nroutes++];
        d->method = dup_z(r->method && *r->method ? r->method : "*");
        d->pattern = dup_z(r->pattern);
        d->object = dup_z(r->object);
        d->action = dup_z(r->action);
        d->compiled = d->pattern ? ts_authz__route_compile(d->pattern) : NULL;
        if (!d->method || !d->pattern || !d->object || (r->action && !d->action) || !d->compiled) {
            ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
            ts_authz_mapper_free(m);
            return NULL;
        }
    }
    return m;
}

static const char *method_action(ts_authz_action_style style, const char *method)
{
    const char *a = style == TS_AUTHZ_ACTION_REST ? ts_authz_rest_action(method) : NULL;
    return a ? a : method;
}

/* "GET" routes also serve HEAD: HEAD is GET without a body. */
static bool method_matches(const char *route_method, const char *method)
{
    return strcmp(route_method, "*") == 0 || strcmp(route_method, method) == 0 ||
           (strcmp(route_method, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

/* Map a request whose path is already normalised into out->buf (plen bytes). */
static ts_authz_map_status map_normalized(const ts_authz_mapper *m, const ts_authz_request *req,
                                          const ts_authz_principal *p, size_t plen,
                                          ts_authz_mapping *out, ts_error *err)
{
    if (strlen(req->method) > TS_AUTHZ_HTTP_MAX_NAME) {
        ts_error_set(err, TS_ELIMIT, "method", "method too long");
        return TS_AUTHZ_MAP_BAD_REQUEST;
    }
    if (m->kind == KIND_PATH) {
        out->mapped = true;
        out->object = out->buf;
        out->action = method_action(m->style, req->method);
    } else {
        for (size_t i = 0; i < m->nroutes; i++) {
            const route *r = &m->routes[i];
            bool hit = false;
            if (!method_matches(r->method, req->method))
                continue;
            if (ts_authz__route_native(r->compiled))
                hit = ts_authz__route_match(r->compiled, out->buf, plen);
            else if (ts_authz__builtin_match(TS_AUTHZ_MATCH_KEYMATCH2, ts_str_make(out->buf, plen),
                                             ts_str_c(r->pattern), m->regex, &hit, err) != TS_OK)
                return TS_AUTHZ_MAP_ERROR;
            if (hit) {
                out->mapped = true;
                out->object = r->object;
                out->action = r->action ? r->action : method_action(m->style, req->method);
                break;
            }
        }
    }
    if (out->mapped && m->domain_fn)
        out->domain = m->domain_fn(req, p, m->domain_ud);
    return TS_AUTHZ_MAP_OK;
}

static bool map_args_ok(const ts_authz_mapper *m, const ts_authz_request *req,
                        ts_authz_mapping *out, ts_error *err)
{
    out->mapped = false;
    out->object = out->action = out->domain = NULL;
    if (!m || !req || !req->method) {
        ts_error_set(err, TS_EINVAL, "mapper", "no mapper or request");
        return false;
    }
    return true;
}

ts_authz_map_status ts_authz_mapper_map(const ts_authz_mapper *m, const ts_authz_request *req,
                                        const ts_authz_principal *p, ts_authz_mapping *out,
                                        ts_error *err)
{
    if (!map_args_ok(m, req, out, err))
        return TS_AUTHZ_MAP_ERROR;
    if (m->kind == KIND_CUSTOM)
        return m->fn(req, p, out, err, m->fn_ud);
    size_t plen = 0;
    if (ts_authz_path_normalize(req->path, req->path ? req->path_len : 0, req->path_decoded,
                                out->buf, TS_AUTHZ_HTTP_MAX_PATH + 1, &plen, err) != TS_OK)
        return TS_AUTHZ_MAP_BAD_REQUEST;
    return map_normalized(m, req, p, plen, out, err);
}

ts_authz_map_status ts_authz__mapper_map_normalized(const ts_authz_mapper *m,
                                                    const ts_authz_request *req,
                                                    const ts_authz_principal *p, const char *path,
                                                    size_t plen, ts_authz_mapping *out,
                                                    ts_error *err)
{
    if (!map_args_ok(m, req, out, err))
        return TS_AUTHZ_MAP_ERROR;
    if (m->kind == KIND_CUSTOM)
        return m->fn(req, p, out, err, m->fn_ud);
    if (plen > TS_AUTHZ_HTTP_MAX_PATH) {
        ts_error_set(err, TS_ELIMIT, "path", "path too long");
        return TS_AUTHZ_MAP_BAD_REQUEST;
    }
    memcpy(out->buf, path, plen);
    out->buf[plen] = '\0';
    return map_normalized(m, req, p, plen, out, err);
}
