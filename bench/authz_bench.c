/*
 * authz_bench: decision latency of the tokensmith policy engine on the Casbin benchmark shapes
 * (Go casbin model_b_test.go), load time and peak RSS of the largest policy, and two-thread
 * throughput. One JSON object per line on stdout.
 *
 * usage: authz_bench [--min-time SECONDS] [--runs N] [--threads N] [--shape NAME]
 *
 * The small model and policy texts below are copied from casbin/casbin examples/
 * (Apache License 2.0, Copyright The Casbin Authors).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tokensmith/authz.h>

#include "authz_models.h"
#include "clock.h"
#include "stats.h"

/* ---- Casbin examples (Apache-2.0, The Casbin Authors) ------------------------------------- */

static const char basic_model[] = "[request_definition]\n"
                                  "r = sub, obj, act\n"
                                  "\n"
                                  "[policy_definition]\n"
                                  "p = sub, obj, act\n"
                                  "\n"
                                  "[policy_effect]\n"
                                  "e = some(where (p.eft == allow))\n"
                                  "\n"
                                  "[matchers]\n"
                                  "m = r.sub == p.sub && r.obj == p.obj && r.act == p.act\n";

static const char basic_policy[] = "p, alice, data1, read\n"
                                   "p, bob, data2, write\n";

static const char rbac_policy[] = "p, alice, data1, read\n"
                                  "p, bob, data2, write\n"
                                  "p, data2_admin, data2, read\n"
                                  "p, data2_admin, data2, write\n"
                                  "g, alice, data2_admin\n";

static const char domains_policy[] = "p, admin, domain1, data1, read\n"
                                     "p, admin, domain1, data1, write\n"
                                     "p, admin, domain2, data2, read\n"
                                     "p, admin, domain2, data2, write\n"
                                     "g, alice, admin, domain1\n"
                                     "g, bob, admin, domain2\n";

static const char keymatch_model[] =
    "[request_definition]\n"
    "r = sub, obj, act\n"
    "\n"
    "[policy_definition]\n"
    "p = sub, obj, act\n"
    "\n"
    "[policy_effect]\n"
    "e = some(where (p.eft == allow))\n"
    "\n"
    "[matchers]\n"
    "m = r.sub == p.sub && keyMatch(r.obj, p.obj) && regexMatch(r.act, p.act)\n";

static const char keymatch_policy[] = "p, alice, /alice_data/*, GET\n"
                                      "p, alice, /alice_data/resource1, POST\n"
                                      "\n"
                                      "p, bob, /alice_data/resource2, GET\n"
                                      "p, bob, /bob_data/*, POST\n"
                                      "\n"
                                      "p, cathy, /cathy_data, (GET)|(POST)\n";

static const char deny_model[] =
    "[request_definition]\n"
    "r = sub, obj, act\n"
    "\n"
    "[policy_definition]\n"
    "p = sub, obj, act, eft\n"
    "\n"
    "[role_definition]\n"
    "g = _, _\n"
    "\n"
    "[policy_effect]\n"
    "e = some(where (p.eft == allow)) && !some(where (p.eft == deny))\n"
    "\n"
    "[matchers]\n"
    "m = g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act\n";

static const char deny_policy[] = "p, alice, data1, read, allow\n"
                                  "p, bob, data2, write, allow\n"
                                  "p, data2_admin, data2, read, allow\n"
                                  "p, data2_admin, data2, write, allow\n"
                                  "p, alice, data2, write, deny\n"
                                  "\n"
                                  "g, alice, data2_admin\n";

static const char priority_model[] = "[request_definition]\n"
                                     "r = sub, obj, act\n"
                                     "\n"
                                     "[policy_definition]\n"
                                     "p = sub, obj, act, eft\n"
                                     "\n"
                                     "[role_definition]\n"
                                     "g = _, _\n"
                                     "\n"
                                     "[policy_effect]\n"
                                     "e = priority(p.eft) || deny\n"
                                     "\n"
                                     "[matchers]\n"
                                     "m = g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act\n";

static const char priority_policy[] = "p, alice, data1, read, allow\n"
                                      "p, data1_deny_group, data1, read, deny\n"
                                      "p, data1_deny_group, data1, write, deny\n"
                                      "p, alice, data1, write, allow\n"
                                      "\n"
                                      "g, alice, data1_deny_group\n"
                                      "\n"
                                      "p, data2_allow_group, data2, read, allow\n"
                                      "p, bob, data2, read, deny\n"
                                      "p, bob, data2, write, deny\n"
                                      "\n"
                                      "g, bob, data2_allow_group\n";

/* ---- Shapes ---------------------------------------------------------------------------------- */

typedef struct shape {
    const char *name;
    const char *model;
    const char *policy; /* NULL: generated (RBAC sizes) */
    size_t roles, users;
    const char *req[4];
    size_t nreq;
    bool expect;
} shape;

static const shape shapes[] = {
    {"acl", basic_model, basic_policy, 0, 0, {"alice", "data1", "read"}, 3, true},
    {"rbac", rbac_model, rbac_policy, 0, 0, {"alice", "data2", "read"}, 3, true},
    {"rbac_small", rbac_model, NULL, 100, 1000, {"user501", "data9", "read"}, 3, false},
    {"rbac_medium", rbac_model, NULL, 1000, 10000, {"user5001", "data99", "read"}, 3, false},
    {"rbac_large", rbac_model, NULL, 10000, 100000, {"user50001", "data999", "read"}, 3, false},
    {"rbac_domains",
     domains_model,
     domains_policy,
     0,
     0,
     {"alice", "domain1", "data1", "read"},
     4,
     true},
    {"keymatch",
     keymatch_model,
     keymatch_policy,
     0,
     0,
     {"alice", "/alice_data/resource1", "GET"},
     3,
     true},
    {"deny_override", deny_model, deny_policy, 0, 0, {"alice", "data1", "read"}, 3, true},
    {"priority", priority_model, priority_policy, 0, 0, {"alice", "data1", "read"}, 3, true},
};

static void die(const char *what, const ts_error *err)
{
    fprintf(stderr, "authz_bench: %s: %s%s%s\n", what, err ? err->where : "",
            err && err->where[0] ? ": " : "", err ? err->msg : "");
    exit(1);
}

/* The RBAC sizes of Go's BenchmarkRBACModelSmall/Medium/Large. */
static ts_authz_policy *rbac_sized_policy(size_t roles, size_t users)
{
    ts_error err;
    ts_error_clear(&err);
    ts_authz_policy *p = ts_authz_policy_new();
    if (!p)
        die("policy", NULL);
    char a[64], b[64];
    for (size_t i = 0; i < roles; i++) {
        snprintf(a, sizeof a, "group%zu", i);
        snprintf(b, sizeof b, "data%zu", i / 10);
        const char *f[] = {a, b, "read"};
        if (ts_authz_policy_add(p, "p", f, 3, &err) != TS_OK)
            die("policy add", &err);
    }
    for (size_t i = 0; i < users; i++) {
        snprintf(a, sizeof a, "user%zu", i);
        snprintf(b, sizeof b, "group%zu", i / 10);
        const char *f[] = {a, b};
        if (ts_authz_policy_add(p, "g", f, 2, &err) != TS_OK)
            die("policy add", &err);
    }
    return p;
}

static ts_authz_enforcer *build(const shape *s, size_t *nrules)
{
    ts_error err;
    ts_error_clear(&err);
    ts_authz_model *m = ts_authz_model_parse(s->model, strlen(s->model), s->name, &err);
    if (!m)
        die("model", &err);
    ts_authz_policy *p;
    if (s->policy) {
        p = ts_authz_policy_new();
        if (!p || ts_authz_policy_load_csv(p, s->policy, strlen(s->policy), s->name, &err) != TS_OK)
            die("policy", &err);
    } else {
        p = rbac_sized_policy(s->roles, s->users);
    }
    *nrules = ts_authz_policy_count(p);
    ts_authz_enforcer *e = ts_authz_enforcer_new(m, p, &err);
    if (!e)
        die("enforcer", &err);
    ts_authz_policy_free(p);
    ts_authz_model_free(m);
    return e;
}

static bool decide(const ts_authz_enforcer *e, const ts_authz_arg *args, size_t n)
{
    bool allowed = false;
    ts_error err;
    ts_error_clear(&err);
    if (ts_authz_enforce(e, args, n, &allowed, &err) != TS_OK)
        die("enforce", &err);
    return allowed;
}

/* Keeps the compiler from discarding decisions. */
static volatile unsigned sink;

static double time_iters(const ts_authz_enforcer *e, const ts_authz_arg *args, size_t n,
                         unsigned long iters)
{
    unsigned acc = 0;
    double t0 = bench_now_s();
    for (unsigned long i = 0; i < iters; i++)
        acc += decide(e, args, n);
    double t = bench_now_s() - t0;
    sink += acc;
    return t;
}

#define MAX_RUNS 31

static void bench_shape(const shape *s, double min_time, int runs)
{
    size_t nrules = 0;
    double t0 = bench_now_s();
    ts_authz_enforcer *e = build(s, &nrules);
    double load_ms = (bench_now_s() - t0) * 1e3;

    ts_authz_arg args[4];
    for (size_t i = 0; i < s->nreq; i++)
        args[i] = (ts_authz_arg){.ptr = s->req[i], .len = strlen(s->req[i]), .is_json = false};
    bool got = decide(e, args, s->nreq);
    if (got != s->expect) {
        fprintf(stderr, "authz_bench: %s: expected %s, got %s\n", s->name,
                s->expect ? "true" : "false", got ? "true" : "false");
        exit(1);
    }

    /* Calibrate an iteration count that takes about min_time (this is also the warm-up). */
    unsigned long iters = 1;
    for (;;) {
        double t = time_iters(e, args, s->nreq, iters);
        if (t >= min_time)
            break;
        double scale = t > 0 ? (min_time * 1.1) / t : 100.0;
        if (scale > 100.0)
            scale = 100.0;
        if (scale < 2.0)
            scale = 2.0;
        iters = (unsigned long)((double)iters * scale);
    }
    double ns[MAX_RUNS];
    for (int r = 0; r < runs; r++)
        ns[r] = time_iters(e, args, s->nreq, iters) * 1e9 / (double)iters;
    double sorted[MAX_RUNS];
    memcpy(sorted, ns, sizeof(double) * (size_t)runs);
    bench_sort(sorted, (size_t)runs);

    printf("{\"engine\":\"tokensmith\",\"shape\":\"%s\",\"rules\":%zu,\"request\":\"", s->name,
           nrules);
    for (size_t i = 0; i < s->nreq; i++)
        printf("%s%s", i ? "," : "", s->req[i]);
    printf("\",\"result\":%s,\"iterations\":%lu,\"runs_ns\":[", got ? "true" : "false", iters);
    for (int r = 0; r < runs; r++)
        printf("%s%.1f", r ? "," : "", ns[r]);
    printf("],\"ns_per_op\":%.1f,\"build_ms\":%.2f}\n", sorted[runs / 2], load_ms);
    fflush(stdout);
    ts_authz_enforcer_free(e);
}

/* ---- RBAC large: load time and peak RSS in a fresh process ------------------------------------
 */

static long maxrss_kib(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return ru.ru_maxrss; /* KiB on Linux */
}

static void large_load_child(int fd)
{
    const shape *s = NULL;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (strcmp(shapes[i].name, "rbac_large") == 0)
            s = &shapes[i];
    long before = maxrss_kib();
    ts_error err;
    ts_error_clear(&err);
    ts_authz_model *m = ts_authz_model_parse(s->model, strlen(s->model), s->name, &err);
    if (!m)
        die("model", &err);
    double t0 = bench_now_s();
    ts_authz_policy *p = rbac_sized_policy(s->roles, s->users);
    double t1 = bench_now_s();
    ts_authz_enforcer *e = ts_authz_enforcer_new(m, p, &err);
    double t2 = bench_now_s();
    if (!e)
        die("enforcer", &err);
    long peak_built = maxrss_kib();
    ts_authz_policy_free(p);
    ts_authz_model_free(m);
    char buf[512];
    int n = snprintf(buf, sizeof buf,
                     "{\"engine\":\"tokensmith\",\"shape\":\"rbac_large_load\",\"rules\":%zu,"
                     "\"policy_build_ms\":%.2f,\"enforcer_new_ms\":%.2f,\"load_ms\":%.2f,"
                     "\"rss_before_kib\":%ld,\"peak_rss_kib\":%ld,\"rss_delta_kib\":%ld}\n",
                     s->roles + s->users, (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t2 - t0) * 1e3, before,
                     peak_built, peak_built - before);
    ts_authz_enforcer_free(e);
    if (n > 0 && write(fd, buf, (size_t)n) != (ssize_t)n)
        _exit(1);
    _exit(0);
}

static void bench_large_load(void)
{
    int fds[2];
    if (pipe(fds) != 0) {
        perror("pipe");
        exit(1);
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0) {
        close(fds[0]);
        large_load_child(fds[1]);
    }
    close(fds[1]);
    char buf[1024];
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fds[0], buf + n, sizeof buf - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || n == 0) {
        fprintf(stderr, "authz_bench: large load child failed\n");
        exit(1);
    }
    buf[n] = '\0';
    fputs(buf, stdout);
    fflush(stdout);
}

/* ---- RBAC large: throughput with several threads ------------------------------------------- */

typedef struct worker {
    const ts_authz_enforcer *e;
    const ts_authz_arg *args;
    size_t nargs;
    double seconds;
    unsigned long ops;
    double elapsed;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    unsigned long ops = 0;
    unsigned acc = 0;
    double t0 = bench_now_s(), t;
    do {
        for (int i = 0; i < 16; i++)
            acc += decide(w->e, w->args, w->nargs);
        ops += 16;
        t = bench_now_s() - t0;
    } while (t < w->seconds);
    sink += acc;
    w->ops = ops;
    w->elapsed = t;
    return NULL;
}

static void bench_threads(int nthreads, double seconds)
{
    const shape *s = NULL;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (strcmp(shapes[i].name, "rbac_large") == 0)
            s = &shapes[i];
    size_t nrules;
    ts_authz_enforcer *e = build(s, &nrules);
    ts_authz_arg args[3];
    for (size_t i = 0; i < 3; i++)
        args[i] = (ts_authz_arg){.ptr = s->req[i], .len = strlen(s->req[i]), .is_json = false};
    worker w[64];
    pthread_t th[64];
    if (nthreads < 1 || nthreads > 64)
        nthreads = 2;
    (void)time_iters(e, args, 3, 10000); /* warm-up */
    for (int i = 0; i < nthreads; i++) {
        w[i] = (worker){.e = e, .args = args, .nargs = 3, .seconds = seconds};
        if (pthread_create(&th[i], NULL, worker_main, &w[i]) != 0) {
            fprintf(stderr, "authz_bench: pthread_create failed\n");
            exit(1);
        }
    }
    double ops_per_s = 0, ns_thread = 0;
    for (int i = 0; i < nthreads; i++) {
        pthread_join(th[i], NULL);
        ops_per_s += (double)w[i].ops / w[i].elapsed;
        ns_thread += w[i].elapsed * 1e9 / (double)w[i].ops;
    }
    printf("{\"engine\":\"tokensmith\",\"shape\":\"rbac_large_mt\",\"threads\":%d,"
           "\"ops_per_sec\":%.0f,\"ns_per_op_per_thread\":%.1f}\n",
           nthreads, ops_per_s, ns_thread / nthreads);
    fflush(stdout);
    ts_authz_enforcer_free(e);
}

int main(int argc, char **argv)
{
    double min_time = 0.5;
    int runs = 5, threads = 2;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--min-time") == 0 && i + 1 < argc)
            min_time = strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            runs = (int)strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = (int)strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--shape") == 0 && i + 1 < argc)
            only = argv[++i];
        else {
            fprintf(stderr, "usage: authz_bench [--min-time SECONDS] [--runs N] [--threads N] "
                            "[--shape NAME]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > MAX_RUNS)
        runs = 5;
    if (!(min_time > 0))
        min_time = 0.5;

    /* The load is measured first, in a child, so that its peak RSS is its own. */
    if (!only || strcmp(only, "rbac_large_load") == 0)
        bench_large_load();
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (!only || strcmp(only, shapes[i].name) == 0)
            bench_shape(&shapes[i], min_time, runs);
    if (!only || strcmp(only, "rbac_large_mt") == 0)
        bench_threads(threads, min_time * 2);
    return 0;
}
