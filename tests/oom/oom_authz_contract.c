/* oom.authz, the authorization contract: bundles (baseline, fragments, explicit model and
   grouping files), authorizers (new, decisions with the cache, reload), mappers, the guard
   (decisions, deny bodies, metrics, diagnostics) and the SIGHUP helper. The libmicrohttpd
   hook (authz/src/contract/mhd.c) is left out. */
#include "oom_authz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <tokensmith/authz_http.h>

static oom_result run_bundle_baseline(void *ctx)
{
    (void)ctx;
    ts_authz_source_options o = TS_AUTHZ_SOURCE_OPTIONS_INIT;
    ts_error err;
    ts_error_clear(&err);
    ts_authz_bundle *b = ts_authz_bundle_load(&o, &err);
    OOM_TRY_PTR(b, &err);
    OOM_EXPECT(strlen(ts_authz_bundle_policy_version(b)) == 64 &&
               strcmp(ts_authz_bundle_source(b), "baseline-only") == 0);
    ts_authz_bundle_free(b);
    return OOM_SUCCEEDED;
}

typedef struct dir_ctx {
    char dir[4096];
    char grouping[4096];
    char model[4096];
} dir_ctx;

static void *setup_dir(void)
{
    dir_ctx *c = calloc(1, sizeof *c);
    if (!c)
        oom_wrong("setup: out of memory");
    snprintf(c->dir, sizeof c->dir, "%s/policy.d", oom_scratch_dir());
    if (mkdir(c->dir, 0700) != 0)
        oom_wrong("setup: mkdir %s", c->dir);
    char path[4200];
    snprintf(path, sizeof path, "%s/10-team.csv", c->dir);
    oom_authz_write_text(path, "p, role:team, svc:things, read\ng, user:carol, role:team, *\n");
    snprintf(path, sizeof path, "%s/20-more.csv", c->dir);
    oom_authz_write_text(path, "p, role:team, svc:things, update\n");
    snprintf(c->grouping, sizeof c->grouping, "%s/grouping.csv", oom_scratch_dir());
    oom_authz_write_text(c->grouping, "g, user:dave, role:viewer, *\n");
    snprintf(c->model, sizeof c->model, "%s/model.conf", oom_scratch_dir());
    oom_authz_write_text(c->model, ts_authz_baseline(TS_AUTHZ_BASELINE_MODEL, NULL));
    return c;
}

static void teardown_free(void *ctx, oom_result r)
{
    (void)r;
    free(ctx);
}

static oom_result run_bundle_dir(void *ctx)
{
    dir_ctx *c = ctx;
    ts_authz_source_options o = TS_AUTHZ_SOURCE_OPTIONS_INIT;
    o.model_path = c->model;
    o.policy_dir = c->dir;
    o.grouping_file = c->grouping;
    ts_error err;
    ts_error_clear(&err);
    ts_authz_bundle *b = ts_authz_bundle_load(&o, &err);
    OOM_TRY_PTR(b, &err);
    OOM_EXPECT(ts_authz_bundle_fragment_count(b) == 3 &&
               strcmp(ts_authz_bundle_source(b), "baseline+fragments") == 0);
    ts_authz_enforcer *e = ts_authz_bundle_enforcer(b, &err);
    ts_authz_bundle_free(b);
    OOM_TRY_PTR(e, &err);
    const char *const a[] = {"user:carol", "tenant-x", "svc:things", "update"};
    oom_result r = oom_authz_decide(e, a, 4, false); /* carol's role, not carol herself */
    if (r == OOM_SUCCEEDED) {
        const char *const a2[] = {"role:team", "", "svc:things", "update"};
        r = oom_authz_decide(e, a2, 4, true);
    }
    ts_authz_enforcer_free(e);
    return r;
}

static oom_result run_authorizer_new(void *ctx)
{
    dir_ctx *c = ctx;
    ts_authz_authorizer_options o = TS_AUTHZ_AUTHORIZER_OPTIONS_INIT;
    o.source.policy_dir = c->dir;
    o.cache_size = 64;
    ts_error err;
    ts_error_clear(&err);
    ts_authz_authorizer *a = ts_authz_authorizer_new(&o, &err);
    OOM_TRY_PTR(a, &err);
    ts_authz_policy_stats s;
    ts_authz_authorizer_stats(a, &s);
    OOM_EXPECT(s.fragments == 2 && s.p_rules > 10);
    ts_authz_authorizer_free(a);
    return OOM_SUCCEEDED;
}

static void log_sink(const char *line, size_t len, void *ud)
{
    (void)line, (void)len;
    (*(unsigned *)ud)++;
}

static unsigned log_lines;

static ts_authz_authorizer *must_authorizer(size_t cache)
{
    ts_authz_authorizer_options o = TS_AUTHZ_AUTHORIZER_OPTIONS_INIT;
    o.cache_size = cache;
    o.log = log_sink;
    o.log_ud = &log_lines;
    ts_error err;
    ts_authz_authorizer *a = ts_authz_authorizer_new(&o, &err);
    if (!a)
        oom_wrong("setup: authorizer: %s", err.msg);
    return a;
}

static void *setup_authorizer(void)
{
    return must_authorizer(64);
}

static void teardown_authorizer(void *ctx, oom_result r)
{
    (void)r;
    ts_authz_authorizer_free(ctx);
}

/* The verdict must be @p want, or an engine error. */
static oom_result authorize(const ts_authz_authorizer *a, const char *role, const char *object,
                            const char *action, ts_authz_verdict want)
{
    const char *const roles[] = {role};
    ts_authz_principal p = {.id = "alice", .type = "user", .roles = roles, .nroles = 1};
    ts_authz_result res;
    ts_authz_authorize(a, &p, object, action, NULL, &res);
    if (res.decision == TS_AUTHZ_ERROR && oom_injected()) {
        OOM_EXPECT(strcmp(res.reason, "engine_error") == 0 && res.detail[0] != '\0');
        return OOM_REFUSED;
    }
    if (res.decision != want)
        oom_wrong("%s %s %s: %s (%s: %s)", role, object, action,
                  ts_authz_verdict_name(res.decision), res.reason, res.detail);
    return OOM_SUCCEEDED;
}

static oom_result run_authorize(void *ctx)
{
    /* Twice each: the second answer comes from the cache. */
    for (int i = 0; i < 2; i++) {
        oom_result r = authorize(ctx, "admin", "boot:configs", "delete", TS_AUTHZ_ALLOW);
        if (r == OOM_SUCCEEDED)
            r = authorize(ctx, "viewer", "boot:configs", "delete", TS_AUTHZ_DENY);
        if (r != OOM_SUCCEEDED)
            return r;
    }
    return OOM_SUCCEEDED;
}

static oom_result run_authorizer_reload(void *ctx)
{
    ts_error err;
    ts_error_clear(&err);
    OOM_TRY(ts_authz_reload(ctx, &err), &err);
    return authorize(ctx, "operator", "boot:configs", "update", TS_AUTHZ_ALLOW);
}

static void teardown_reloaded(void *ctx, oom_result r)
{
    ts_authz_policy_stats s;
    ts_authz_authorizer_stats(ctx, &s);
    if (r == OOM_SUCCEEDED && s.reloads != 1)
        oom_wrong("a successful reload counted %llu", (unsigned long long)s.reloads);
    ts_authz_result res;
    const char *const roles[] = {"viewer"};
    ts_authz_principal p = {.id = "alice", .type = "user", .roles = roles, .nroles = 1};
    ts_authz_authorize(ctx, &p, "boot:configs", "read", NULL, &res);
    if (res.decision != TS_AUTHZ_ALLOW)
        oom_wrong("after a reload: %s", res.reason);
    ts_authz_authorizer_free(ctx);
}

static ts_authz_map_status custom_map(const ts_authz_request *req, const ts_authz_principal *p,
                                      ts_authz_mapping *out, ts_error *err, void *ud)
{
    (void)req, (void)p, (void)err, (void)ud;
    out->mapped = true;
    out->object = "boot:configs";
    out->action = "read";
    out->domain = NULL;
    return TS_AUTHZ_MAP_OK;
}

static const ts_authz_route routes[] = {
    {"GET", "/boot/configs/:id", "boot:configs", NULL},
    {"*", "/metadata/nodes/:node/groups/:g", "metadata:groups", NULL},
    {"POST", "/smd/*", "smd:components", "create"},
};

static oom_result run_mappers(void *ctx)
{
    (void)ctx;
    ts_error err;
    ts_error_clear(&err);
    ts_authz_mapper *path = ts_authz_mapper_path_new(TS_AUTHZ_ACTION_REST, NULL, NULL, &err);
    OOM_TRY_PTR(path, &err);
    ts_authz_mapper *table =
        ts_authz_mapper_routes_new(routes, 3, TS_AUTHZ_ACTION_REST, NULL, NULL, &err);
    if (!table) {
        ts_authz_mapper_free(path);
        return oom_refused(err.code, &err);
    }
    ts_authz_mapper *custom = ts_authz_mapper_custom_new(custom_map, NULL, &err);
    if (!custom) {
        ts_authz_mapper_free(path);
        ts_authz_mapper_free(table);
        return oom_refused(err.code, &err);
    }
    ts_authz_request req = {.method = "GET", .path = "/boot/configs/../configs/42?x=1"};
    req.path_len = strlen(req.path);
    const ts_authz_mapper *mappers[3] = {path, table, custom};
    static const char *const objects[3] = {"/boot/configs/42", "boot:configs", "boot:configs"};
    oom_result r = OOM_SUCCEEDED;
    for (int i = 0; i < 3 && r == OOM_SUCCEEDED; i++) {
        ts_authz_mapping m;
        ts_authz_map_status ms = ts_authz_mapper_map(mappers[i], &req, NULL, &m, &err);
        if (ms == TS_AUTHZ_MAP_ERROR) {
            r = oom_refused(err.code, &err);
            break;
        }
        OOM_EXPECT(ms == TS_AUTHZ_MAP_OK && m.mapped && strcmp(m.action, "read") == 0);
        OOM_EXPECT(strcmp(m.object, objects[i]) == 0);
    }
    ts_authz_mapper_free(path);
    ts_authz_mapper_free(table);
    ts_authz_mapper_free(custom);
    return r;
}

typedef struct guard_ctx {
    ts_authz_authorizer *a;
    ts_authz_mapper *m;
} guard_ctx;

static void *setup_guard(void)
{
    guard_ctx *c = calloc(1, sizeof *c);
    if (!c)
        oom_wrong("setup: out of memory");
    c->a = must_authorizer(0);
    ts_error err;
    c->m = ts_authz_mapper_routes_new(routes, 3, TS_AUTHZ_ACTION_REST, NULL, NULL, &err);
    if (!c->m)
        oom_wrong("setup: mapper");
    return c;
}

static void teardown_guard(void *ctx, oom_result r)
{
    (void)r;
    guard_ctx *c = ctx;
    ts_authz_mapper_free(c->m);
    ts_authz_authorizer_free(c->a);
    free(c);
}

static oom_result check_request(const ts_authz_guard *g, const char *method, const char *path,
                                const char *role, unsigned want_status)
{
    const char *const roles[] = {role};
    ts_authz_principal p = {.id = "alice", .type = "user", .roles = roles, .nroles = 1};
    ts_authz_request req = {.method = method, .path = path, .request_id = "req-1"};
    req.path_len = strlen(path);
    ts_authz_outcome o;
    ts_status st = ts_authz_guard_check(g, &req, &p, &o);
    if (st != TS_OK) {
        ts_authz_outcome_cleanup(&o);
        OOM_EXPECT(st == TS_ENOMEM && oom_injected());
        return OOM_REFUSED;
    }
    unsigned status = o.proceed ? 200 : o.status;
    bool body = o.body && o.body_len > 0 && strstr(o.body, "authz.deny.v1");
    ts_authz_outcome_cleanup(&o);
    if (status == 500 && oom_injected())
        return OOM_REFUSED; /* the engine failed: refused with 500 */
    if (status != want_status)
        oom_wrong("%s %s as %s: %u", method, path, role, status);
    OOM_EXPECT(status == 200 || body);
    return OOM_SUCCEEDED;
}

static oom_result run_guard(void *ctx)
{
    guard_ctx *c = ctx;
    ts_authz_guard_options o = TS_AUTHZ_GUARD_OPTIONS_INIT;
    static const char *const prefixes[] = {"/health"};
    o.authorizer = c->a;
    o.mapper = c->m;
    o.public_prefixes = prefixes;
    o.npublic_prefixes = 1;
    o.include_roles = true;
    o.log = log_sink;
    o.log_ud = &log_lines;
    ts_error err;
    ts_error_clear(&err);
    ts_authz_guard *g = ts_authz_guard_new(&o, &err);
    OOM_TRY_PTR(g, &err);
    oom_result r = check_request(g, "GET", "/boot/configs/1", "viewer", 200);
    if (r == OOM_SUCCEEDED)
        r = check_request(g, "POST", "/smd/x", "viewer", 403);
    if (r == OOM_SUCCEEDED)
        r = check_request(g, "GET", "/unmapped", "viewer", 403);
    if (r == OOM_SUCCEEDED) {
        char buf[4096];
        size_t len = 0;
        ts_status st = ts_authz_guard_metrics(g, buf, sizeof buf, &len, &err);
        if (st == TS_OK)
            st = ts_authz_guard_diagnostics(g, buf, sizeof buf, &len, &err);
        if (st != TS_OK)
            r = oom_refused(st, &err);
        else
            OOM_EXPECT(strstr(buf, "policy_version") != NULL);
    }
    ts_authz_guard_free(g);
    return r;
}

static void *setup_sighup(void)
{
    ts_error err;
    if (ts_authz_sighup_block(&err) != TS_OK)
        oom_wrong("setup: %s", err.msg);
    return must_authorizer(0);
}

static oom_result run_sighup(void *ctx)
{
    ts_error err;
    ts_error_clear(&err);
    ts_authz_sighup *h = ts_authz_sighup_start(ctx, &err);
    OOM_TRY_PTR(h, &err);
    ts_authz_sighup_stop(h);
    return OOM_SUCCEEDED;
}

const oom_case oom_authz_contract_cases[] = {
    {"bundle_load_baseline", NULL, run_bundle_baseline, NULL},
    {"bundle_load_fragments", setup_dir, run_bundle_dir, teardown_free},
    {"authorizer_new", setup_dir, run_authorizer_new, teardown_free},
    {"authorize_cached", setup_authorizer, run_authorize, teardown_authorizer},
    {"authorizer_reload", setup_authorizer, run_authorizer_reload, teardown_reloaded},
    {"mappers", NULL, run_mappers, NULL},
    {"guard", setup_guard, run_guard, teardown_guard},
    {"sighup_start", setup_sighup, run_sighup, teardown_authorizer},
};
const size_t oom_authz_contract_ncases =
    sizeof oom_authz_contract_cases / sizeof oom_authz_contract_cases[0];
