/*
 * contract_bench: cost of the authorization contract on top of the engine, on the baseline
 * policy. One JSON object per line on stdout:
 *  - engine: the engine calls the authorizer makes for the request (principal subject, then
 *    its role), called directly;
 *  - authorize: ts_authz_authorize() without cache;
 *  - guard: ts_authz_guard_check() (route mapper, path normalisation, decision, metrics),
 *    without and with a (no-op) decision log sink;
 *  - cache_hit: ts_authz_authorize() answered by the decision cache.
 * middleware_ns = guard - engine.
 *
 * usage: contract_bench [--min-time SECONDS]
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tokensmith/authz_http.h>

#include "clock.h"

typedef void (*op_fn)(void *ctx);

/* Median of 5 runs, each at least min_time/5 seconds. */
static double measure(op_fn op, void *ctx, double min_time)
{
    double runs[5];
    size_t iters = 1000;
    for (;;) { /* calibrate */
        double t0 = bench_now_s();
        for (size_t i = 0; i < iters; i++)
            op(ctx);
        double dt = bench_now_s() - t0;
        if (dt > min_time / 20)
            break;
        iters *= 2;
    }
    for (int r = 0; r < 5; r++) {
        double t0 = bench_now_s();
        for (size_t i = 0; i < iters; i++)
            op(ctx);
        runs[r] = (bench_now_s() - t0) * 1e9 / (double)iters; /* ns per call */
    }
    for (int i = 0; i < 5; i++)
        for (int j = i + 1; j < 5; j++)
            if (runs[j] < runs[i]) {
                double t = runs[i];
                runs[i] = runs[j];
                runs[j] = t;
            }
    return runs[2];
}

typedef struct ctx {
    ts_authz_enforcer *e;
    ts_authz_authorizer *a, *cached;
    ts_authz_guard *g, *g_log;
    ts_authz_principal p;
    ts_authz_request req;
    ts_authz_outcome *out;
    volatile int sink;
} ctx;

static void op_engine(void *v)
{
    ctx *c = v;
    static const char *const sub1[] = {"user:alice", "", "metadata:nodes", "read"};
    static const char *const sub2[] = {"role:viewer", "", "metadata:nodes", "read"};
    const char *const *reqs[] = {sub1, sub2};
    for (int k = 0; k < 2; k++) {
        ts_authz_arg args[4];
        for (int i = 0; i < 4; i++)
            args[i] = (ts_authz_arg){reqs[k][i], strlen(reqs[k][i]), false};
        ts_authz_decision d = {0};
        if (ts_authz_enforce_ex(c->e, NULL, args, 4, true, &d, NULL) == TS_OK)
            c->sink += d.allowed;
        ts_authz_decision_cleanup(&d);
    }
}

static void op_authorize(void *v)
{
    ctx *c = v;
    ts_authz_result r;
    ts_authz_authorize(c->a, &c->p, "metadata:nodes", "read", NULL, &r);
    c->sink += (int)r.decision;
}

static void op_cache_hit(void *v)
{
    ctx *c = v;
    ts_authz_result r;
    ts_authz_authorize(c->cached, &c->p, "metadata:nodes", "read", NULL, &r);
    c->sink += (int)r.cached;
}

static void op_guard(void *v)
{
    ctx *c = v;
    if (ts_authz_guard_check(c->g, &c->req, &c->p, c->out) == TS_OK)
        c->sink += c->out->proceed;
    ts_authz_outcome_cleanup(c->out);
}

static void op_guard_log(void *v)
{
    ctx *c = v;
    if (ts_authz_guard_check(c->g_log, &c->req, &c->p, c->out) == TS_OK)
        c->sink += c->out->proceed;
    ts_authz_outcome_cleanup(c->out);
}

static void noop_log(const char *line, size_t len, void *ud)
{
    (void)line;
    (void)ud;
    *(volatile size_t *)&len = len;
}

int main(int argc, char **argv)
{
    double min_time = 1.0;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--min-time") == 0 && i + 1 < argc)
            min_time = strtod(argv[++i], NULL);
    ts_error err;
    ts_error_clear(&err);
    ctx c;
    memset(&c, 0, sizeof c);
    ts_authz_bundle *b = ts_authz_bundle_load(NULL, &err);
    c.e = b ? ts_authz_bundle_enforcer(b, &err) : NULL;
    ts_authz_authorizer_options ao = TS_AUTHZ_AUTHORIZER_OPTIONS_INIT;
    c.a = ts_authz_authorizer_new(&ao, &err);
    ao.cache_size = 1024;
    c.cached = ts_authz_authorizer_new(&ao, &err);
    static const ts_authz_route routes[] = {
        {"GET", "/boot/v1/configs/:id", "boot:configs", NULL},
        {"GET", "/metadata/v1/groups/:id", "metadata:groups", NULL},
        {"GET", "/metadata/v1/nodes/:id", "metadata:nodes", NULL}};
    ts_authz_mapper *m =
        ts_authz_mapper_routes_new(routes, 3, TS_AUTHZ_ACTION_REST, NULL, NULL, &err);
    ts_authz_guard_options go = TS_AUTHZ_GUARD_OPTIONS_INIT;
    go.authorizer = c.a;
    go.mapper = m;
    c.g = ts_authz_guard_new(&go, &err);
    go.log = noop_log;
    c.g_log = ts_authz_guard_new(&go, &err);
    c.out = malloc(sizeof *c.out);
    if (!c.e || !c.a || !c.cached || !m || !c.g || !c.g_log || !c.out) {
        fprintf(stderr, "contract_bench: setup failed: %s %s\n", err.where, err.msg);
        return 1;
    }
    static const char *const roles[] = {"viewer"};
    c.p = (ts_authz_principal){"alice", "user", roles, 1, NULL};
    static const char path[] = "/metadata/v1/nodes/x3000c0s1b0n0";
    c.req = (ts_authz_request){"GET", path, sizeof path - 1, false, "req-1"};
    op_cache_hit(&c); /* warm */

    double engine = measure(op_engine, &c, min_time);
    double authorize = measure(op_authorize, &c, min_time);
    double guard = measure(op_guard, &c, min_time);
    double guard_log = measure(op_guard_log, &c, min_time);
    double hit = measure(op_cache_hit, &c, min_time);
    printf("{\"bench\":\"contract\",\"case\":\"engine\",\"ns_per_op\":%.1f}\n", engine);
    printf("{\"bench\":\"contract\",\"case\":\"authorize\",\"ns_per_op\":%.1f}\n", authorize);
    printf(
        "{\"bench\":\"contract\",\"case\":\"guard\",\"ns_per_op\":%.1f,\"middleware_ns\":%.1f}\n",
        guard, guard - engine);
    printf("{\"bench\":\"contract\",\"case\":\"guard_log\",\"ns_per_op\":%.1f,\"middleware_ns\":%."
           "1f}\n",
           guard_log, guard_log - engine);
    printf("{\"bench\":\"contract\",\"case\":\"cache_hit\",\"ns_per_op\":%.1f}\n", hit);
    free(c.out);
    ts_authz_guard_free(c.g);
    ts_authz_guard_free(c.g_log);
    ts_authz_mapper_free(m);
    ts_authz_authorizer_free(c.a);
    ts_authz_authorizer_free(c.cached);
    ts_authz_enforcer_free(c.e);
    ts_authz_bundle_free(b);
    return c.sink == -1;
}
