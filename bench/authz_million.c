/*
 * authz_million: a million-rule policy, the way a service loads it. For an RBAC and an
 * RBAC-with-domains shape it writes the policy as a CSV file, then in a fresh child process
 * (so that the peak RSS is the load's own) measures
 *   - the load: ts_authz_policy_load_file() then ts_authz_enforcer_new(), time and peak RSS;
 *   - decision latency: the median of several timed runs of one request (as authz_bench);
 *   - reload under load: reader threads decide while the main thread swaps between two
 *     policies of the same size; every decision must succeed and match the old or the new
 *     policy's answer (a "torn" decision matches neither).
 * One JSON object per line on stdout.
 *
 * usage: authz_million [--rules N] [--shape rbac|domains] [--dir DIR] [--min-time SECONDS]
 *                      [--runs N] [--readers N] [--reloads N]
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
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

/*
 * The shapes: one tenth p rules, nine tenths g rules (rbac_large of authz_bench scaled up).
 *  rbac:    p, group<i>, data<i/10>, read            (i < P)
 *           g, user<j>, group<(j/9 + v) % P>         (j < 9P)
 *  domains: p, role<k>, dom<d>, data<k>, read        (d < P/10, k < 10)
 *           g, user<j>, role<(j/D + v) % 10>, dom<j % D>   (D = P/10 domains, j < 9P)
 * The variant v (0 or 1) moves every user to another role: the two policies of the reload
 * test give different answers for the same request.
 */
typedef struct shape {
    const char *name;
    const char *model;
    bool domains;
} shape;

static const shape shapes[] = {
    {"rbac", rbac_model, false},
    {"domains", domains_model, true},
};

typedef struct sizes {
    size_t p, g, dom; /* p rules, g rules, domains */
} sizes;

static sizes sizes_for(size_t rules)
{
    sizes z;
    z.p = rules / 10;
    if (z.p < 10)
        z.p = 10;
    z.g = rules - z.p;
    z.dom = z.p / 10;
    return z;
}

static void die(const char *what, const ts_error *err)
{
    fprintf(stderr, "authz_million: %s: %s%s%s\n", what, err ? err->where : "",
            err && err->where[0] ? ": " : "", err ? err->msg : "");
    exit(1);
}

static void write_policy(const shape *s, const sizes *z, int variant, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    if (!s->domains) {
        for (size_t i = 0; i < z->p; i++)
            fprintf(f, "p, group%zu, data%zu, read\n", i, i / 10);
        for (size_t j = 0; j < z->g; j++)
            fprintf(f, "g, user%zu, group%zu\n", j, (j / 9 + (size_t)variant) % z->p);
    } else {
        for (size_t d = 0; d < z->dom; d++)
            for (size_t k = 0; k < 10; k++)
                fprintf(f, "p, role%zu, dom%zu, data%zu, read\n", k, d, k);
        for (size_t j = 0; j < z->g; j++)
            fprintf(f, "g, user%zu, role%zu, dom%zu\n", j, (j / z->dom + (size_t)variant) % 10,
                    j % z->dom);
    }
    if (fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* The answer policy @p variant gives to a request built by make_request(). */
typedef struct request {
    char f[4][32];
    size_t n;
    bool want[2]; /* per variant */
} request;

static void make_request(const shape *s, const sizes *z, size_t j, size_t target, request *r)
{
    if (!s->domains) {
        r->n = 3;
        snprintf(r->f[0], sizeof r->f[0], "user%zu", j);
        snprintf(r->f[1], sizeof r->f[1], "data%zu", target);
        snprintf(r->f[2], sizeof r->f[2], "read");
        for (int v = 0; v < 2; v++)
            r->want[v] = ((j / 9 + (size_t)v) % z->p) / 10 == target;
    } else {
        r->n = 4;
        snprintf(r->f[0], sizeof r->f[0], "user%zu", j);
        snprintf(r->f[1], sizeof r->f[1], "dom%zu", j % z->dom);
        snprintf(r->f[2], sizeof r->f[2], "data%zu", target);
        snprintf(r->f[3], sizeof r->f[3], "read");
        for (int v = 0; v < 2; v++)
            r->want[v] = (j / z->dom + (size_t)v) % 10 == target;
    }
}

static void request_args(const request *r, ts_authz_arg *args)
{
    for (size_t i = 0; i < r->n; i++)
        args[i] = (ts_authz_arg){.ptr = r->f[i], .len = strlen(r->f[i]), .is_json = false};
}

static long maxrss_kib(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return ru.ru_maxrss; /* KiB on Linux */
}

/* CPU seconds (user + system) of this process: the load's cost without the time other
 * processes on a shared machine take from it. */
static double cpu_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* CPU seconds of the calling thread (decisions: time the thread was not running is not
 * counted). */
static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static volatile unsigned sink;

static double time_iters(const ts_authz_enforcer *e, const ts_authz_arg *args, size_t n,
                         unsigned long iters, double *cpu)
{
    unsigned acc = 0;
    ts_error err;
    double c0 = thread_cpu_s();
    double t0 = bench_now_s();
    for (unsigned long i = 0; i < iters; i++) {
        bool allowed = false;
        if (ts_authz_enforce(e, args, n, &allowed, &err) != TS_OK)
            die("enforce", &err);
        acc += allowed;
    }
    double t = bench_now_s() - t0;
    *cpu = thread_cpu_s() - c0;
    sink += acc;
    return t;
}

#define MAX_RUNS 31

/* Median ns per decision of @p r, authz_bench's method: calibrate to min_time, then runs.
 * *cpu_ns: the median of the same runs on the thread's CPU clock. */
static double decision_p50(const ts_authz_enforcer *e, const request *r, double min_time, int runs,
                           double *cpu_ns)
{
    ts_authz_arg args[4];
    request_args(r, args);
    unsigned long iters = 1;
    double cpu;
    for (;;) {
        double t = time_iters(e, args, r->n, iters, &cpu);
        if (t >= min_time)
            break;
        double scale = t > 0 ? (min_time * 1.1) / t : 100.0;
        scale = scale > 100.0 ? 100.0 : scale < 2.0 ? 2.0 : scale;
        iters = (unsigned long)((double)iters * scale);
    }
    double ns[MAX_RUNS], cns[MAX_RUNS];
    for (int i = 0; i < runs; i++) {
        ns[i] = time_iters(e, args, r->n, iters, &cpu) * 1e9 / (double)iters;
        cns[i] = cpu * 1e9 / (double)iters;
    }
    bench_sort(ns, (size_t)runs);
    bench_sort(cns, (size_t)runs);
    *cpu_ns = cns[runs / 2];
    return ns[runs / 2];
}

/* ---- reload under load ------------------------------------------------------------------- */

#define NREQ 64

typedef struct reader {
    const ts_authz_enforcer *e;
    const request *reqs;
    atomic_bool *stop;
    unsigned long ops, failed, torn;
} reader;

static void *reader_main(void *arg)
{
    reader *rd = arg;
    ts_authz_arg args[NREQ][4];
    for (size_t i = 0; i < NREQ; i++)
        request_args(&rd->reqs[i], args[i]);
    size_t i = 0;
    while (!atomic_load_explicit(rd->stop, memory_order_relaxed)) {
        const request *r = &rd->reqs[i];
        bool allowed = false;
        ts_error err;
        if (ts_authz_enforce(rd->e, args[i], r->n, &allowed, &err) != TS_OK)
            rd->failed++;
        else if (allowed != r->want[0] && allowed != r->want[1])
            rd->torn++;
        rd->ops++;
        i = (i + 1) % NREQ;
    }
    return NULL;
}

static ts_authz_policy *load_policy(const char *path)
{
    ts_error err;
    ts_authz_policy *p = ts_authz_policy_new();
    if (!p || ts_authz_policy_load_file(p, path, &err) != TS_OK)
        die("policy", &err);
    return p;
}

typedef struct opts {
    size_t rules;
    const char *dir;
    double min_time;
    int runs, readers, reloads;
} opts;

static void child(const shape *s, const opts *o, const char *path0, const char *path1, int fd)
{
    sizes z = sizes_for(o->rules);
    ts_error err;
    long before = maxrss_kib();
    ts_authz_model *m = ts_authz_model_parse(s->model, strlen(s->model), s->name, &err);
    if (!m)
        die("model", &err);
    double c0 = cpu_s(), t0 = bench_now_s();
    ts_authz_policy *p = load_policy(path0);
    double t1 = bench_now_s();
    ts_authz_enforcer *e = ts_authz_enforcer_new(m, p, &err);
    double t2 = bench_now_s(), c2 = cpu_s();
    if (!e)
        die("enforcer", &err);
    size_t nrules = ts_authz_policy_count(p);
    ts_authz_policy_free(p);
    long peak = maxrss_kib();

    /* A user in the middle of the policy: one request allowed, one denied. */
    request yes, no;
    size_t j = z.g / 2;
    if (!s->domains) {
        make_request(s, &z, j, (j / 9) % z.p / 10, &yes);
        make_request(s, &z, j, ((j / 9) % z.p / 10 + 1) % (z.p / 10), &no);
    } else {
        make_request(s, &z, j, (j / z.dom) % 10, &yes);
        make_request(s, &z, j, ((j / z.dom) + 1) % 10, &no);
    }
    double cpu_yes, cpu_no;
    double ns_yes = decision_p50(e, &yes, o->min_time, o->runs, &cpu_yes);
    double ns_no = decision_p50(e, &no, o->min_time, o->runs, &cpu_no);
    bool got_yes = false, got_no = true;
    if (ts_authz_enforce_strs(e, (const char *[]){yes.f[0], yes.f[1], yes.f[2], yes.f[3]}, yes.n,
                              &got_yes, &err) != TS_OK ||
        ts_authz_enforce_strs(e, (const char *[]){no.f[0], no.f[1], no.f[2], no.f[3]}, no.n,
                              &got_no, &err) != TS_OK)
        die("enforce", &err);
    if (!got_yes || got_no || !yes.want[0] || no.want[0]) {
        fprintf(stderr, "authz_million: %s: wrong answers (%d %d)\n", s->name, got_yes, got_no);
        exit(1);
    }

    /* Reload under load: requests spread over the users, half of them allowed by variant 0,
     * the others by variant 1 or by neither. */
    request reqs[NREQ];
    for (size_t i = 0; i < NREQ; i++) {
        size_t u = (i * 7919u * 131u) % z.g;
        size_t target = !s->domains ? ((u / 9 + i % 2) % z.p) / 10 : (u / z.dom + i % 2) % 10;
        make_request(s, &z, u, target, &reqs[i]);
    }
    ts_authz_policy *pol[2] = {load_policy(path0), load_policy(path1)};
    atomic_bool stop = false;
    reader rd[16];
    pthread_t th[16];
    int nreaders = o->readers < 1 ? 1 : o->readers > 16 ? 16 : o->readers;
    for (int i = 0; i < nreaders; i++) {
        rd[i] = (reader){.e = e, .reqs = reqs, .stop = &stop};
        if (pthread_create(&th[i], NULL, reader_main, &rd[i]) != 0) {
            fprintf(stderr, "authz_million: pthread_create failed\n");
            exit(1);
        }
    }
    double reload_ms[64];
    int nreloads = o->reloads < 1 ? 1 : o->reloads > 64 ? 64 : o->reloads;
    double r0 = bench_now_s();
    for (int i = 0; i < nreloads; i++) {
        double a = bench_now_s();
        if (ts_authz_enforcer_reload(e, NULL, pol[(i + 1) % 2], &err) != TS_OK)
            die("reload", &err);
        reload_ms[i] = (bench_now_s() - a) * 1e3;
    }
    double reload_wall = bench_now_s() - r0;
    atomic_store(&stop, true);
    unsigned long ops = 0, failed = 0, torn = 0;
    for (int i = 0; i < nreaders; i++) {
        pthread_join(th[i], NULL);
        ops += rd[i].ops;
        failed += rd[i].failed;
        torn += rd[i].torn;
    }
    bench_sort(reload_ms, (size_t)nreloads);
    ts_authz_policy_free(pol[0]);
    ts_authz_policy_free(pol[1]);
    ts_authz_enforcer_free(e);
    ts_authz_model_free(m);

    char buf[1024];
    int n = snprintf(buf, sizeof buf,
                     "{\"engine\":\"tokensmith\",\"shape\":\"%s\",\"rules\":%zu,"
                     "\"policy_load_ms\":%.1f,\"enforcer_new_ms\":%.1f,\"load_ms\":%.1f,"
                     "\"load_cpu_ms\":%.1f,\"rss_before_kib\":%ld,\"peak_rss_kib\":%ld,"
                     "\"allow_ns\":%.1f,\"deny_ns\":%.1f,\"allow_cpu_ns\":%.1f,"
                     "\"deny_cpu_ns\":%.1f,"
                     "\"reloads\":%d,\"reload_ms_p50\":%.1f,\"reload_ms_max\":%.1f,"
                     "\"readers\":%d,\"reader_decisions\":%lu,\"reader_decisions_per_s\":%.0f,"
                     "\"failed\":%lu,\"torn\":%lu}\n",
                     s->name, nrules, (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t2 - t0) * 1e3,
                     (c2 - c0) * 1e3, before, peak, ns_yes, ns_no, cpu_yes, cpu_no, nreloads,
                     reload_ms[nreloads / 2], reload_ms[nreloads - 1], nreaders, ops,
                     reload_wall > 0 ? (double)ops / reload_wall : 0, failed, torn);
    if (n > 0 && write(fd, buf, (size_t)n) != (ssize_t)n)
        _exit(1);
    _exit(failed || torn ? 3 : 0);
}

/* The 5-rule RBAC example of authz_bench's `rbac` shape, decided in the same run: how fast
 * this machine is right now (docs/benchmarks.md records it for a quiet machine). */
static void reference(const opts *o)
{
    static const char policy[] = "p, alice, data1, read\n"
                                 "p, bob, data2, write\n"
                                 "p, data2_admin, data2, read\n"
                                 "p, data2_admin, data2, write\n"
                                 "g, alice, data2_admin\n";
    ts_error err;
    ts_authz_model *m = ts_authz_model_parse(rbac_model, strlen(rbac_model), "rbac", &err);
    ts_authz_policy *p = ts_authz_policy_new();
    if (!m || !p || ts_authz_policy_load_csv(p, policy, strlen(policy), "rbac", &err) != TS_OK)
        die("reference", &err);
    ts_authz_enforcer *e = ts_authz_enforcer_new(m, p, &err);
    if (!e)
        die("reference", &err);
    request r = {.f = {"alice", "data2", "read"}, .n = 3, .want = {true, true}};
    double cpu_ns, ns = decision_p50(e, &r, o->min_time, o->runs, &cpu_ns);
    /* Other work on the machine, for the record. */
    double load[3] = {-1, -1, -1};
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
            load[0] = load[1] = load[2] = -1;
        fclose(f);
    }
    printf("{\"engine\":\"tokensmith\",\"shape\":\"reference_rbac\",\"rules\":5,"
           "\"allow_ns\":%.1f,\"allow_cpu_ns\":%.1f,\"loadavg\":[%.2f,%.2f,%.2f]}\n",
           ns, cpu_ns, load[0], load[1], load[2]);
    fflush(stdout);
    ts_authz_enforcer_free(e);
    ts_authz_policy_free(p);
    ts_authz_model_free(m);
}

static int run_shape(const shape *s, const opts *o)
{
    char path0[512], path1[512];
    sizes z = sizes_for(o->rules);
    snprintf(path0, sizeof path0, "%s/million_%s_%zu_a.csv", o->dir, s->name, o->rules);
    snprintf(path1, sizeof path1, "%s/million_%s_%zu_b.csv", o->dir, s->name, o->rules);
    write_policy(s, &z, 0, path0);
    write_policy(s, &z, 1, path1);

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
        child(s, o, path0, path1, fds[1]);
    }
    close(fds[1]);
    char buf[2048];
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
    buf[n] = '\0';
    fputs(buf, stdout);
    fflush(stdout);
    unlink(path0);
    unlink(path1);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || n == 0) {
        fprintf(stderr, "authz_million: %s: child failed (status %d)\n", s->name, status);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    opts o = {1000000, "/tmp", 0.3, 5, 2, 6};
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rules") == 0 && i + 1 < argc)
            o.rules = (size_t)strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--shape") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            o.dir = argv[++i];
        else if (strcmp(argv[i], "--min-time") == 0 && i + 1 < argc)
            o.min_time = strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            o.runs = (int)strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--readers") == 0 && i + 1 < argc)
            o.readers = (int)strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--reloads") == 0 && i + 1 < argc)
            o.reloads = (int)strtol(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: authz_million [--rules N] [--shape rbac|domains] [--dir DIR] "
                            "[--min-time SECONDS] [--runs N] [--readers N] [--reloads N]\n");
            return 2;
        }
    }
    if (o.runs < 1 || o.runs > MAX_RUNS)
        o.runs = 5;
    if (!(o.min_time > 0))
        o.min_time = 0.3;
    if (o.rules < 100)
        o.rules = 100;
    int rc = 0;
    reference(&o);
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (!only || strcmp(only, shapes[i].name) == 0)
            rc |= run_shape(&shapes[i], &o);
    return rc;
}
