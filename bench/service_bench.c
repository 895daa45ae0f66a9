/*
 * service_bench: load generator for a running `tokensmith serve` on loopback (bench/run_service.sh
 * starts the server). In one run, for the server's algorithm:
 *
 *   1. the raw OpenSSL sign rate of the same key (EVP_DigestSign with a cached EVP_PKEY, on one
 *      thread and on one thread per CPU): the ceiling a signing service can reach;
 *   2. bootstrap tokens created directly in the server's store (ts_store, the same SQLite file);
 *   3. health: GET /health at full load, the cost of the HTTP round trip alone;
 *   4. bootstrap exchanges: every request redeems a fresh bootstrap token;
 *   5. refresh grants: each connection first exchanges one bootstrap token (before the timed
 *      phases), then rotates its own refresh family (every answer carries the next token);
 *   6. optionally a long refresh soak up to a total number of requests, while a sampler reads
 *      the server's VmRSS from /proc/PID/status after 10,000 requests and every 100,000 after.
 *
 * --refresh-only NAME runs steps 2 and 5 alone and reports the refresh phase as case NAME: the
 * store comparison of run_service.sh --pg-only. There --url and --pid may be given up to
 * SB_MAX_SERVERS times (replicas sharing one PostgreSQL store: the connections are split
 * between the URLs, the servers' CPU times are summed), and --db-pid names the cluster's
 * postmaster so the database's CPU per grant is reported too.
 *
 * The client (--client epoll, the default) is http_load: --client-threads threads, each running
 * epoll over its share of --connections keep-alive connections, one request in flight on each.
 * The machine's cores are shared with the server, so the client's own CPU time per request is
 * reported next to the server's. --client curl keeps the former client for comparison: one
 * thread per connection, each with a libcurl easy handle.
 *
 * Every phase is bounded by a request count and by time. One JSON object per line on stdout;
 * progress on stderr.
 *
 * usage: service_bench --url http://127.0.0.1:PORT --pid PID --alg ES256|PS256 --key FILE
 *                      --store FILE [--connections N] [--client-threads N] [--client epoll|curl]
 *                      [--seconds S] [--exchanges N] [--soak-requests N] [--soak-seconds S]
 *                      [--min-time S] [--runs N]     (--workers N: the same as --connections)
 *                      [--refresh-only NAME [--db-pid PID]]   (--url, --pid: repeatable)
 */
#define _POSIX_C_SOURCE 200809L

#include "service_bench.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "procfs.h"

void sb_die(const char *what)
{
    fprintf(stderr, "service_bench: %s\n", what);
    exit(1);
}

static void create_tokens(const char *store_path, token_buf *out, size_t n)
{
    ts_store_options opt = TS_STORE_OPTIONS_INIT;
    opt.path = store_path;
    opt.max_connections = 1;
    /* Only this preparation uses NORMAL; the server's own connections keep FULL. */
    opt.synchronous = TS_STORE_SYNC_NORMAL;
    ts_error err = {0};
    ts_store *s = ts_store_new(&opt, &err);
    if (!s) {
        fprintf(stderr, "service_bench: store %s: %s\n", store_path, err.msg);
        exit(1);
    }
    ts_store_bootstrap_params p = {0};
    p.subject = "svc-bench";
    p.audience = "smd";
    p.scopes = "read,write";
    p.ttl_s = 3600;
    p.refresh_ttl_s = 86400;
    p.now = (int64_t)time(NULL);
    for (size_t i = 0; i < n; i++)
        if (ts_store_bootstrap_create(s, &p, out[i], NULL, &err) != TS_OK) {
            fprintf(stderr, "service_bench: bootstrap create: %s\n", err.msg);
            exit(1);
        }
    ts_store_free(s);
}

static void usage(void)
{
    fprintf(stderr, "usage: service_bench --url http://127.0.0.1:PORT --pid PID --alg ALG "
                    "--key FILE --store FILE [--connections N] [--client-threads N] "
                    "[--client epoll|curl] [--seconds S] [--exchanges N] [--soak-requests N] "
                    "[--soak-seconds S] [--min-time S] [--runs N] "
                    "[--refresh-only NAME [--db-pid PID]] (--url, --pid: repeatable)\n");
    exit(2);
}

static bool loopback_url(const char *u)
{
    static const char *const ok[] = {"http://127.0.0.1:", "http://[::1]:", "http://localhost:"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strncmp(u, ok[i], strlen(ok[i])) == 0)
            return true;
    return false;
}

/* Room for one descriptor per connection (the soft limit is often 1024). */
static void raise_fd_limit(size_t need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
}

/* The raw sign rate of the server's key on one thread and on one per CPU (one JSON line). */
static void sign_ceiling(const bench *b, const char *key_path, bool pss, double min_time, int runs)
{
    FILE *kf = fopen(key_path, "r");
    if (!kf)
        sb_die("cannot open --key");
    EVP_PKEY *pkey = PEM_read_PrivateKey(kf, NULL, NULL, NULL);
    fclose(kf);
    if (!pkey)
        sb_die("cannot read the private key");
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int cpus = ncpu < 1 ? 1 : ncpu > MAX_SIGN_THREADS ? MAX_SIGN_THREADS : (int)ncpu;
    double sign1 = sb_sign_rate(pkey, pss, 1, min_time, runs);
    double signn = sb_sign_rate(pkey, pss, cpus, min_time, runs);
    EVP_PKEY_free(pkey);
    printf("{\"case\":\"sign\",\"alg\":\"%s\",\"per_s_1thread\":%.1f,\"threads\":%d,"
           "\"per_s_all\":%.1f}\n",
           b->alg, sign1, cpus, signn);
    fflush(stdout);
    fprintf(stderr, "service_bench: %s raw sign: %.0f/s on 1 thread, %.0f/s on %d\n", b->alg, sign1,
            signn, cpus);
}

/* Each connection exchanges its own bootstrap token: the start of its refresh family. */
static void start_families(bench *b, client *cl, load *l, token_buf *tokens, size_t nc)
{
    phase_result first =
        sb_run_phase(b, cl, l, MODE_FIRST, (const token_buf *)tokens, nc, nc, 60.0);
    if (first.ok == 0)
        sb_die("no refresh family could be started");
    if (first.ok < nc)
        fprintf(stderr, "service_bench: %llu of %zu refresh families did not start\n",
                (unsigned long long)(nc - first.ok), nc);
}

static void finish(client *cl, load *l, token_buf *tokens)
{
    for (size_t i = 0; i < cl->nhl; i++)
        hl_client_free(cl->hl[i]);
    sb_curl_client_free(cl->curl);
    for (size_t i = 0; i < l->nfams; i++)
        OPENSSL_cleanse(l->fams[i].refresh, sizeof l->fams[i].refresh);
    free(l->fams);
    free(tokens);
}

int main(int argc, char **argv)
{
    bench b = {0};
    const char *key_path = NULL, *store_path = NULL, *client_name = "epoll", *only = NULL;
    long nconn = 64, nthreads = 1;
    int runs = 3;
    double seconds = 10, soak_seconds = 1800, min_time = 1.0;
    unsigned long long exchanges = 30000, soak = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (strcmp(a, "--url") == 0) {
            if (b.nurls == SB_MAX_SERVERS)
                usage();
            b.urls[b.nurls++] = v;
        } else if (strcmp(a, "--pid") == 0) {
            if (b.npids == SB_MAX_SERVERS)
                usage();
            b.pids[b.npids++] = strtol(v, NULL, 10);
        } else if (strcmp(a, "--db-pid") == 0)
            b.db_pid = strtol(v, NULL, 10);
        else if (strcmp(a, "--refresh-only") == 0)
            only = v;
        else if (strcmp(a, "--alg") == 0)
            b.alg = v;
        else if (strcmp(a, "--key") == 0)
            key_path = v;
        else if (strcmp(a, "--store") == 0)
            store_path = v;
        else if (strcmp(a, "--connections") == 0 || strcmp(a, "--workers") == 0)
            nconn = strtol(v, NULL, 10);
        else if (strcmp(a, "--client-threads") == 0)
            nthreads = strtol(v, NULL, 10);
        else if (strcmp(a, "--client") == 0)
            client_name = v;
        else if (strcmp(a, "--seconds") == 0)
            seconds = strtod(v, NULL);
        else if (strcmp(a, "--exchanges") == 0)
            exchanges = strtoull(v, NULL, 10);
        else if (strcmp(a, "--soak-requests") == 0)
            soak = strtoull(v, NULL, 10);
        else if (strcmp(a, "--soak-seconds") == 0)
            soak_seconds = strtod(v, NULL);
        else if (strcmp(a, "--min-time") == 0)
            min_time = strtod(v, NULL);
        else if (strcmp(a, "--runs") == 0)
            runs = (int)strtol(v, NULL, 10);
        else
            usage();
    }
    bool use_curl = strcmp(client_name, "curl") == 0;
    long max_conn = use_curl ? MAX_CURL_CONNECTIONS : HL_MAX_CONNECTIONS;
    b.pid = b.npids ? b.pids[0] : 0;
    for (size_t i = 0; i < b.npids; i++)
        if (b.pids[i] <= 0)
            usage();
    /* Several servers: the epoll client only, at least one connection each. */
    if (b.nurls < 1 || b.pid <= 0 || !b.alg || (!key_path && !only) || !store_path ||
        nconn < (long)b.nurls || nconn > max_conn || nthreads < 1 || nthreads > HL_MAX_THREADS ||
        nthreads > nconn || seconds <= 0 || min_time <= 0 || runs < 1 || exchanges < 1 ||
        exchanges > 10000000ull || (!use_curl && strcmp(client_name, "epoll") != 0) ||
        (use_curl && b.nurls > 1) || (b.db_pid != 0 && !only) || b.db_pid < 0)
        usage();
    for (size_t i = 0; i < b.nurls; i++)
        if (!loopback_url(b.urls[i]))
            sb_die("--url must be a loopback address");
    b.url = b.urls[0];
    bool pss = strcmp(b.alg, "PS256") == 0;
    if (!pss && strcmp(b.alg, "ES256") != 0)
        sb_die("--alg must be ES256 or PS256");
    size_t nc = (size_t)nconn;

    /* 1. The sign ceiling, before any load, with the server idle. */
    if (!only)
        sign_ceiling(&b, key_path, pss, min_time, runs);

    /* 2. Bootstrap tokens: one per connection for the refresh families, then the exchange set. */
    size_t ntok = nc + (only ? 0 : (size_t)exchanges);
    token_buf *tokens = calloc(ntok, sizeof(token_buf));
    if (!tokens)
        sb_die("out of memory");
    double tc = bench_now_s();
    create_tokens(store_path, tokens, ntok);
    fprintf(stderr, "service_bench: created %zu bootstrap tokens in %.1f s\n", ntok,
            bench_now_s() - tc);

    client cl = {use_curl ? "curl" : "epoll", {NULL}, 0, NULL, nc, 0};
    raise_fd_limit(nc + 64);
    if (use_curl) {
        cl.threads = (unsigned)nc;
        cl.curl = sb_curl_client_new(b.url, nc);
    } else {
        /* One client per server, with its share of the connections and of the threads (the
         * phases split the families the same way). */
        for (size_t i = 0; i < b.nurls; i++) {
            size_t n = nc / b.nurls + (i < nc % b.nurls);
            size_t t = (size_t)nthreads / b.nurls;
            t = t < 1 ? 1 : t > n ? n : t;
            hl_options ho = {b.urls[i], n, (unsigned)t};
            ts_error err = {0};
            cl.hl[i] = hl_client_new(&ho, &err);
            if (!cl.hl[i]) {
                fprintf(stderr, "service_bench: %s: %s\n", err.where, err.msg);
                return 1;
            }
            cl.threads += (unsigned)t;
            cl.nhl++;
        }
    }
    load l = {0};
    l.b = &b;
    l.nfams = nc;
    l.fams = calloc(nc, sizeof *l.fams);
    if (!l.fams)
        sb_die("out of memory");

    if (only) {
        start_families(&b, &cl, &l, tokens, nc);
        OPENSSL_cleanse(tokens, ntok * sizeof(token_buf));
        phase_result rf = sb_run_phase(&b, &cl, &l, MODE_REFRESH, NULL, 0, 100000000ull, seconds);
        sb_print_phase(&b, &cl, only, &rf);
        finish(&cl, &l, tokens);
        return 0;
    }

    /* The checkpoints count answered token requests of every phase, from the first one. */
    b.cps[b.ncps++] = (checkpoint){10000, 0, -1};
    for (uint64_t at = 100000; at <= soak && b.ncps < MAX_CHECKPOINTS - 1; at += 100000)
        b.cps[b.ncps++] = (checkpoint){at, 0, -1};
    if (sem_init(&b.wake, 0, 0) != 0)
        sb_die("sem_init failed");
    atomic_store(&b.next_at, b.cps[0].at);
    pthread_t sampler;
    if (pthread_create(&sampler, NULL, sb_sampler_main, &b) != 0)
        sb_die("pthread_create failed");
    long rss_start = bench_vm_rss_kb(b.pid);

    /* 3. The families: each connection exchanges its own bootstrap token (not reported). */
    start_families(&b, &cl, &l, tokens, nc);

    /* 4. The HTTP round trip alone, then bootstrap exchanges, then refresh grants, each bounded
     * by count and time. */
    phase_result hp = sb_run_phase(&b, &cl, &l, MODE_HEALTH, NULL, 0, 100000000ull, seconds);
    sb_print_phase(&b, &cl, "health", &hp);
    phase_result ex = sb_run_phase(&b, &cl, &l, MODE_EXCHANGE, (const token_buf *)(tokens + nc),
                                   (size_t)exchanges, exchanges, seconds);
    sb_print_phase(&b, &cl, "exchange", &ex);
    OPENSSL_cleanse(tokens, ntok * sizeof(token_buf));
    phase_result rf = sb_run_phase(&b, &cl, &l, MODE_REFRESH, NULL, 0, 100000000ull, seconds);
    sb_print_phase(&b, &cl, "refresh", &rf);

    /* 5. Soak: refresh until the server has answered @p soak requests in all. */
    uint64_t done = atomic_load(&b.done);
    if (soak > done) {
        phase_result sk =
            sb_run_phase(&b, &cl, &l, MODE_REFRESH, NULL, 0, soak - done, soak_seconds);
        sb_print_phase(&b, &cl, "refresh_soak", &sk);
    }
    /* Let the sampler take a checkpoint that is exactly due now, then stop it. */
    struct timespec nap = {0, 20000000};
    nanosleep(&nap, NULL);
    atomic_store(&b.stop_sampler, true);
    sem_post(&b.wake);
    pthread_join(sampler, NULL);
    sem_destroy(&b.wake);
    long rss_end = bench_vm_rss_kb(b.pid);
    done = atomic_load(&b.done);

    printf("{\"case\":\"rss\",\"alg\":\"%s\",\"requests\":0,\"vm_rss_kb\":%ld}\n", b.alg,
           rss_start);
    for (size_t i = 0; i < b.ncps; i++)
        if (b.cps[i].done > 0)
            printf("{\"case\":\"rss\",\"alg\":\"%s\",\"requests\":%llu,\"vm_rss_kb\":%ld}\n", b.alg,
                   (unsigned long long)b.cps[i].done, b.cps[i].vm_rss_kb);
    printf("{\"case\":\"rss_end\",\"alg\":\"%s\",\"requests\":%llu,\"vm_rss_kb\":%ld}\n", b.alg,
           (unsigned long long)done, rss_end);
    fprintf(stderr, "service_bench: %s VmRSS %ld kB at start, %ld kB after %llu requests\n", b.alg,
            rss_start, rss_end, (unsigned long long)done);

    finish(&cl, &l, tokens);
    return 0;
}
