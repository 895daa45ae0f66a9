/*
 * gate_bench: what tokensmith-mhd's gate costs a libmicrohttpd service. One server process with
 * two routes that answer the same small body: `GET /open`, which the handler serves without
 * the gate, and `GET /v1/nodes`, protected by ts_mhd_gate_check() (ES256 token verified, with
 * the verified-token cache on; route table, baseline policy, allow decision, decision line
 * built). The same epoll client (http_load.c) drives both, on the same keep-alive connections,
 * in alternating phases of the same length, so that drift on a shared machine hits both
 * routes alike; every connection sends its own token (one caller per connection).
 *
 * Output: one JSON line per phase, the server's own line (cache statistics, decisions), and a
 * summary: the median rate of each route, the median of the rounds' ratios (protected / open,
 * the two phases of a round being adjacent in time) and the CPU each route costs per request.
 *
 * usage: gate_bench [--seconds S] [--rounds R] [--connections C] [--client-threads T]
 *                   [--server-threads N] [--log sampled|all] [--open-token]
 *                   [--only open|protected]
 *   --log sampled (default): the gate's default, a JSON line for 1 in 100 allowed decisions;
 *   all: a line for every decision. Lines are built and handed to a sink that drops them (the
 *   cost of the line, not of the service's log I/O). Refusals are logged either way.
 *   --open-token: send each connection's token to /open too, so that both routes get requests
 *   of the same size and the difference is the gate's work alone.
 *   --only open|protected: time one route alone (to profile it, e.g. under perf record).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <microhttpd.h>
#include <tokensmith/mhd.h>
#include <tokensmith/testutil.h>

#include "http_load.h"
#include "procfs.h"
#include "stats.h"

#define ISSUER "https://tokens.bench.test"
#define AUDIENCE "bench"
#define MAX_ROUNDS 64

typedef struct options {
    double seconds;
    unsigned rounds, client_threads, server_threads;
    size_t connections;
    bool log_all;
    bool open_token;
    int only; /* -1: both routes; 0: only /open; 1: only the protected route (profiling) */
} options;

/* ---------------------------------------------------------------------------------------- */
/* The server (a child process)                                                             */

static ts_mhd_gate *gate;
static atomic_ulong lines;

static void drop_line(const char *line, size_t len, void *ud)
{
    (void)line, (void)len, (void)ud;
    atomic_fetch_add_explicit(&lines, 1, memory_order_relaxed);
}

/* The request context of /open, which has no principal. */
static char open_route;

/* As a service answers: the gate (or nothing, for /open) on the first call, headers only; the
 * answer on the next call, so that the connection stays open for the next request (an answer
 * queued on the first call makes libmicrohttpd close the connection after it). */
static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **req_cls)
{
    (void)cls, (void)version, (void)upload;
    if (*req_cls == NULL) {
        if (strcmp(url, "/open") == 0) {
            *req_cls = &open_route;
            return MHD_YES;
        }
        ts_authn_principal *who;
        ts_hook_result r = ts_mhd_gate_check(gate, c, method, url, &who);
        if (r != TS_HOOK_CONTINUE)
            return r == TS_HOOK_RESPONDED ? MHD_YES : MHD_NO;
        *req_cls = who ? (void *)who : &open_route;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    static const char body[] = "{\"ok\":true}\n";
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        sizeof body - 1, (void *)(uintptr_t)body, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *c, void **req_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    if (*req_cls != &open_route)
        ts_authn_principal_free(*req_cls);
    *req_cls = NULL;
}

/* Serve until SIGTERM; the port goes to @p port_fd. Then one JSON line on stdout. */
static int serve(const options *o, const char *jwks_path, int port_fd)
{
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    static const char *const iss[] = {ISSUER}, *aud[] = {AUDIENCE};
    static const ts_authz_route routes[] = {{"GET", "/v1/nodes", "metadata:nodes", NULL}};
    const char *jwks[] = {jwks_path};
    ts_mhd_gate_options go = TS_MHD_GATE_OPTIONS_INIT;
    go.issuers = iss, go.n_issuers = 1;
    go.audiences = aud, go.n_audiences = 1;
    go.jwks = jwks, go.n_jwks = 1;
    go.routes = routes, go.n_routes = 1;
    go.log = drop_line;
    if (o->log_all)
        go.log_allow_sample = 1; /* otherwise the default, TS_MHD_GATE_DEFAULT_LOG_ALLOW_SAMPLE */
    ts_error err;
    ts_error_clear(&err);
    if (!(gate = ts_mhd_gate_new(&go, &err))) {
        fprintf(stderr, "gate_bench: %s: %s\n", err.where, err.msg);
        return 1;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL, handler, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_ARRAY,
        ts_mhd_gate_mhd_options(gate), MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a,
        MHD_OPTION_THREAD_POOL_SIZE, o->server_threads, MHD_OPTION_CONNECTION_LIMIT, 4096u,
        MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_END);
    const union MHD_DaemonInfo *di = d ? MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    unsigned port = di ? di->port : 0;
    if (write(port_fd, &port, sizeof port) != (ssize_t)sizeof port || !port)
        return 1;
    int sig = 0;
    sigwait(&stop, &sig);
    MHD_stop_daemon(d);
    uint64_t hits = 0, misses = 0;
    size_t entries = 0;
    ts_authn_verifier_cache_stats(ts_mhd_gate_verifier(gate), &hits, &misses, &entries);
    ts_authz_policy_stats ps;
    ts_authz_authorizer_stats(ts_mhd_gate_authorizer(gate), &ps);
    printf("{\"case\":\"server\",\"token_cache_hits\":%llu,\"token_cache_misses\":%llu,"
           "\"decision_cache_hits\":%llu,\"decision_cache_misses\":%llu,\"log_lines\":%lu}\n",
           (unsigned long long)hits, (unsigned long long)misses, (unsigned long long)ps.cache_hits,
           (unsigned long long)ps.cache_misses, atomic_load(&lines));
    fflush(stdout);
    ts_mhd_gate_free(gate);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* The client                                                                               */

typedef struct load {
    const char *path, *method;
    char **auth; /* per connection: "Authorization: Bearer ...\r\n", or NULL */
    int want;    /* the status that counts as a success */
} load;

static bool next_request(void *ud, size_t conn, hl_request *out)
{
    const load *l = ud;
    memset(out, 0, sizeof *out);
    out->method = l->method;
    out->path = l->path;
    out->headers = l->auth ? l->auth[conn] : NULL;
    return true;
}

static bool on_answer(void *ud, size_t conn, const hl_response *r)
{
    (void)conn;
    const load *l = ud;
    return r && r->status == l->want;
}

typedef struct phase {
    double per_s, p50_ms, p99_ms, server_us, client_us;
    uint64_t ok, failed, transport_errors, reconnects;
} phase;

static phase run_phase(hl_client *cl, const load *l, pid_t server, double seconds,
                       uint64_t max_requests)
{
    hl_run run = {next_request, on_answer, (void *)(uintptr_t)l,
                  max_requests ? max_requests : UINT64_MAX, seconds};
    hl_stats st;
    ts_error err;
    ts_error_clear(&err);
    double s0 = bench_proc_cpu_s(server), c0 = bench_self_cpu_s();
    if (hl_client_run(cl, &run, &st, &err) != TS_OK) {
        fprintf(stderr, "gate_bench: %s\n", err.msg);
        exit(1);
    }
    double s1 = bench_proc_cpu_s(server), c1 = bench_self_cpu_s();
    phase p = {0};
    bench_sort(st.lat_us, st.nlat);
    p.ok = st.ok;
    p.failed = st.failed;
    p.transport_errors = st.transport_errors;
    p.reconnects = st.reconnects;
    p.per_s = st.seconds > 0 ? (double)st.ok / st.seconds : 0;
    p.p50_ms = bench_percentile(st.lat_us, st.nlat, 0.50) / 1000.0;
    p.p99_ms = bench_percentile(st.lat_us, st.nlat, 0.99) / 1000.0;
    p.server_us = st.ok ? (s1 - s0) * 1e6 / (double)st.ok : 0;
    p.client_us = st.ok ? (c1 - c0) * 1e6 / (double)st.ok : 0;
    free(st.lat_us);
    return p;
}

static void print_phase(const char *name, unsigned round, const phase *p)
{
    printf("{\"case\":\"%s\",\"round\":%u,\"requests\":%llu,\"errors\":%llu,"
           "\"transport_errors\":%llu,\"reconnects\":%llu,\"per_s\":%.1f,\"p50_ms\":%.3f,\"p99_"
           "ms\":%.3f,"
           "\"server_cpu_us_per_req\":%.2f,\"client_cpu_us_per_req\":%.2f}\n",
           name, round, (unsigned long long)p->ok, (unsigned long long)p->failed,
           (unsigned long long)p->transport_errors, (unsigned long long)p->reconnects, p->per_s,
           p->p50_ms, p->p99_ms, p->server_us, p->client_us);
    fflush(stdout);
}

static double median(double *v, size_t n)
{
    bench_sort(v, n);
    return n ? (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2) : 0;
}

/* Each case answers as it should before anything is timed: 200 open and protected, 401
 * without a token, 403 for a request the policy refuses. */
static void check_answers(hl_client *cl, const load *open, const load *prot, char **auth,
                          pid_t server, size_t nconn)
{
    load no_token = {"/v1/nodes", "GET", NULL, 401}, denied = {"/v1/nodes/n1", "DELETE", auth, 403};
    const load *cases[] = {open, prot, &no_token, &denied};
    for (size_t i = 0; i < 4; i++) {
        phase p = run_phase(cl, cases[i], server, 10.0, nconn);
        if (p.ok != nconn || p.failed || p.transport_errors) {
            fprintf(stderr, "gate_bench: %s %s: %llu of %zu answered %d\n", cases[i]->method,
                    cases[i]->path, (unsigned long long)p.ok, nconn, cases[i]->want);
            exit(1);
        }
    }
}

static void usage(void)
{
    fputs("usage: gate_bench [--seconds S] [--rounds R] [--connections C] [--client-threads T]\n"
          "                  [--server-threads N] [--log sampled|all] [--open-token]\n"
          "                  [--only open|protected]\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    options o = {5.0, 5, 1, 2, 32, false, false, -1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--open-token") == 0) {
            o.open_token = true;
            continue;
        }
        if (!v)
            usage();
        if (strcmp(a, "--seconds") == 0)
            o.seconds = atof(v);
        else if (strcmp(a, "--rounds") == 0)
            o.rounds = (unsigned)atoi(v);
        else if (strcmp(a, "--connections") == 0)
            o.connections = (size_t)atoi(v);
        else if (strcmp(a, "--client-threads") == 0)
            o.client_threads = (unsigned)atoi(v);
        else if (strcmp(a, "--server-threads") == 0)
            o.server_threads = (unsigned)atoi(v);
        else if (strcmp(a, "--log") == 0 && (strcmp(v, "all") == 0 || strcmp(v, "sampled") == 0))
            o.log_all = strcmp(v, "all") == 0;
        else if (strcmp(a, "--only") == 0 &&
                 (strcmp(v, "open") == 0 || strcmp(v, "protected") == 0))
            o.only = strcmp(v, "protected") == 0;
        else
            usage();
        i++;
    }
    if (o.seconds <= 0 || o.rounds < 1 || o.rounds > MAX_ROUNDS || o.connections < 1 ||
        o.connections > HL_MAX_CONNECTIONS || o.client_threads < 1 || o.server_threads < 1)
        usage();

    /* A key, its JWKS file, and one token per connection (a caller with role viewer). */
    char dir[] = "/tmp/gate-bench-XXXXXX", jwks_path[64];
    if (!mkdtemp(dir))
        return 1;
    snprintf(jwks_path, sizeof jwks_path, "%s/jwks.json", dir);
    ts_testutil_key *key = ts_testutil_key_p256(NULL);
    const ts_testutil_key *keys[] = {key};
    ts_jwks *set = key ? ts_testutil_jwks(keys, 1, NULL) : NULL;
    if (!set || ts_testutil_jwks_write(set, jwks_path, NULL) != TS_OK)
        return 1;
    ts_jwks_free(set);
    char **auth = calloc(o.connections, sizeof *auth);
    for (size_t i = 0; auth && i < o.connections; i++) {
        char *t = ts_testutil_mint_for(key, TS_TESTUTIL_VIEWER, ISSUER, AUDIENCE,
                                       TS_TESTUTIL_FLAW_NONE, NULL);
        if (!t || asprintf(&auth[i], "Authorization: Bearer %s\r\n", t) < 0)
            return 1;
        ts_free(t);
    }

    int fds[2];
    if (!auth || pipe(fds) != 0)
        return 1;
    fflush(stdout);
    pid_t server = fork();
    if (server == 0) {
        close(fds[0]);
        _exit(serve(&o, jwks_path, fds[1]));
    }
    close(fds[1]);
    unsigned port = 0;
    if (server < 0 || read(fds[0], &port, sizeof port) != (ssize_t)sizeof port || !port) {
        fprintf(stderr, "gate_bench: the server did not start\n");
        return 1;
    }
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", port);
    hl_options ho = {url, o.connections, o.client_threads};
    ts_error err;
    ts_error_clear(&err);
    hl_client *cl = hl_client_new(&ho, &err);
    if (!cl) {
        fprintf(stderr, "gate_bench: %s\n", err.msg);
        return 1;
    }
    load open = {"/open", "GET", o.open_token ? auth : NULL, 200};
    load prot = {"/v1/nodes", "GET", auth, 200};
    check_answers(cl, &open, &prot, auth, server, o.connections);
    run_phase(cl, &open, server, 1.0, 0); /* warm-up: caches, allocator, CPU frequency */
    run_phase(cl, &prot, server, 1.0, 0);

    /* Alternating phases, each route first in every other round. */
    double rate[2][MAX_ROUNDS] = {{0}}, scpu[2][MAX_ROUNDS] = {{0}}, ccpu[2][MAX_ROUNDS] = {{0}};
    uint64_t bad = 0;
    for (unsigned r = 0; r < o.rounds; r++) {
        for (unsigned k = 0; k < 2; k++) {
            unsigned which = (r + k) % 2; /* 0 open, 1 protected */
            if (o.only >= 0)
                which = (unsigned)o.only;
            phase p = run_phase(cl, which ? &prot : &open, server, o.seconds, 0);
            print_phase(which ? "protected" : "open", r, &p);
            rate[which][r] = p.per_s;
            scpu[which][r] = p.server_us;
            ccpu[which][r] = p.client_us;
            bad += p.failed + p.transport_errors;
        }
    }
    hl_client_free(cl);
    kill(server, SIGTERM);
    int status = 0;
    waitpid(server, &status, 0);

    /* The ratio of each round's two adjacent phases, then the median: other work on a shared
     * machine comes and goes, and hits the two phases of one round much alike. */
    double ratios[MAX_ROUNDS];
    for (unsigned r = 0; r < o.rounds; r++)
        ratios[r] = rate[0][r] > 0 ? rate[1][r] / rate[0][r] : 0;
    double round_ratio = median(ratios, o.rounds);
    double open_rate = median(rate[0], o.rounds), prot_rate = median(rate[1], o.rounds);
    printf("{\"case\":\"summary\",\"open_per_s\":%.1f,\"protected_per_s\":%.1f,\"ratio\":%.4f,"
           "\"ratio_of_medians\":%.4f,"
           "\"open_server_cpu_us_per_req\":%.2f,\"protected_server_cpu_us_per_req\":%.2f,"
           "\"open_client_cpu_us_per_req\":%.2f,\"protected_client_cpu_us_per_req\":%.2f,"
           "\"errors\":%llu,\"rounds\":%u,\"seconds\":%.1f,\"connections\":%zu,"
           "\"client_threads\":%u,\"server_threads\":%u,\"log\":\"%s\",\"open_token\":%s}\n",
           open_rate, prot_rate, round_ratio, open_rate > 0 ? prot_rate / open_rate : 0,
           median(scpu[0], o.rounds), median(scpu[1], o.rounds), median(ccpu[0], o.rounds),
           median(ccpu[1], o.rounds), (unsigned long long)bad, o.rounds, o.seconds, o.connections,
           o.client_threads, o.server_threads, o.log_all ? "all" : "sampled",
           o.open_token ? "true" : "false");
    for (size_t i = 0; i < o.connections; i++)
        free(auth[i]);
    free(auth);
    ts_testutil_key_free(key);
    unlink(jwks_path);
    rmdir(dir);
    return bad || !WIFEXITED(status) || WEXITSTATUS(status) ? 1 : 0;
}
