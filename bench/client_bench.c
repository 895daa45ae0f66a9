/*
 * libtokensmith-client: the cost of a cache hit of ts_client_token_get() with 1 and 8 threads,
 * next to the same copy under one pthread mutex (what a cache with a lock costs), and a cold
 * cache asked by 64 threads at once (how many requests reach the server, and how long the
 * callers wait), against a real `tokensmith serve` started here on loopback.
 *
 *   client_bench TOKENSMITH [--seconds S] [--rounds N]
 *
 * Prints one line per measurement and a JSON summary line (the last line) for the report.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tokensmith/client.h>

#define COLD_THREADS 64

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- the server ------------------------------------------------------------------------------ */

static char dir[64], logpath[128], store[128], endpoint[96];
static pid_t serve_pid;

static size_t log_count(const char *needle)
{
    FILE *f = fopen(logpath, "r");
    char line[16384];
    size_t n = 0;
    while (f && fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return n;
}

static bool start_serve(const char *ts)
{
    snprintf(dir, sizeof dir, "/tmp/ts-client-bench-XXXXXX");
    if (!mkdtemp(dir))
        return false;
    snprintf(logpath, sizeof logpath, "%s/serve.log", dir);
    snprintf(store, sizeof store, "%s/home/tokensmith.db", dir);
    char home[96];
    snprintf(home, sizeof home, "%s/home", dir);
    fflush(NULL);
    serve_pid = fork();
    if (serve_pid == 0) {
        if (!freopen(logpath, "w", stderr))
            _exit(127);
        execl(ts, ts, "serve", "--listen", "127.0.0.1:0", "--home", home, "--alg", "ES256",
              "--max-connections-per-address", "0", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 400; i++) {
        FILE *f = fopen(logpath, "r");
        char line[8192];
        while (f && fgets(line, sizeof line, f)) {
            const char *p = strstr(line, "\"msg\":\"listening\"");
            const char *q = p ? strstr(p, "\"port\":") : NULL;
            if (q) {
                snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%lu/oauth/token",
                         strtoul(q + 7, NULL, 10));
                fclose(f);
                return true;
            }
        }
        if (f)
            fclose(f);
        struct timespec d = {0, 100 * 1000 * 1000};
        nanosleep(&d, NULL);
    }
    return false;
}

static void stop_serve(void)
{
    if (serve_pid > 0) {
        kill(serve_pid, SIGTERM);
        waitpid(serve_pid, NULL, 0);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (dir[0] && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

static bool bootstrap(const char *ts, char out[65])
{
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "'%s' bootstrap-token create --subject bench --audience smd --store '%s' "
             "--output-format json 2>/dev/null",
             ts, store);
    FILE *p = popen(cmd, "r");
    char line[512];
    out[0] = '\0';
    while (p && fgets(line, sizeof line, p)) {
        const char *k = strstr(line, "\"bootstrap_token\": \"");
        if (k && strlen(k + 20) >= 64) {
            memcpy(out, k + 20, 64);
            out[64] = '\0';
        }
    }
    return p && pclose(p) == 0 && strlen(out) == 64;
}

/* ---- cache hits ------------------------------------------------------------------------------ */

typedef struct hits {
    ts_client *c;
    pthread_mutex_t *mu; /* the baseline: the same copy under a lock */
    const char *tok;
    size_t len;
    atomic_bool *go, *stop;
    unsigned long calls;
    bool failed;
} hits;

static void *hit_loop(void *ud)
{
    hits *h = ud;
    char buf[2048];
    ts_client_token_info info;
    unsigned long n = 0;
    while (!atomic_load_explicit(h->go, memory_order_acquire))
        ;
    while (!atomic_load_explicit(h->stop, memory_order_relaxed)) {
        for (int i = 0; i < 256; i++) {
            if (h->mu) {
                pthread_mutex_lock(h->mu);
                memcpy(buf, h->tok, h->len + 1);
                pthread_mutex_unlock(h->mu);
            } else if (ts_client_token_get(h->c, buf, sizeof buf, &info, NULL) != TS_OK) {
                h->failed = true;
            }
        }
        n += 256;
    }
    h->calls = n;
    return NULL;
}

static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* CPU time per call, ns: the process's CPU time over the run divided by the calls, so that 8
 * threads on fewer cores are not charged for waiting their turn. */
static double run_hits(ts_client *c, pthread_mutex_t *mu, const char *tok, int threads,
                       double seconds, unsigned long *total)
{
    atomic_bool go = false, stop = false;
    hits h[16];
    pthread_t t[16];
    for (int i = 0; i < threads; i++) {
        h[i] = (hits){.c = c, .mu = mu, .tok = tok, .len = strlen(tok), .go = &go, .stop = &stop};
        pthread_create(&t[i], NULL, hit_loop, &h[i]);
    }
    double c0 = cpu_s();
    atomic_store(&go, true);
    struct timespec d = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&d, NULL);
    atomic_store(&stop, true);
    *total = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        *total += h[i].calls;
        if (h[i].failed)
            fprintf(stderr, "a cache hit failed\n");
    }
    return (cpu_s() - c0) * 1e9 / (double)*total;
}

/* ---- cold cache ------------------------------------------------------------------------------ */

typedef struct cold {
    ts_client *c;
    pthread_barrier_t *start;
    double done;
    ts_status st;
} cold;

static void *cold_call(void *ud)
{
    cold *k = ud;
    char buf[2048];
    pthread_barrier_wait(k->start);
    k->st = ts_client_token_get(k->c, buf, sizeof buf, NULL, NULL);
    k->done = now_s();
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: client_bench TOKENSMITH [--seconds S] [--rounds N]\n");
        return 2;
    }
    double seconds = 2.0;
    int rounds = 10;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--rounds") == 0)
            rounds = atoi(argv[i + 1]);
    }
    if (!start_serve(argv[1])) {
        fprintf(stderr, "tokensmith serve did not start\n");
        stop_serve();
        return 1;
    }
    char boot[65], state[128];
    if (!bootstrap(argv[1], boot)) {
        fprintf(stderr, "bootstrap-token create failed\n");
        stop_serve();
        return 1;
    }
    snprintf(state, sizeof state, "%s/client.json", dir);
    ts_client_options o = TS_CLIENT_OPTIONS_INIT;
    o.token_endpoint = endpoint;
    o.grant = TS_CLIENT_GRANT_TOKENSMITH;
    o.bootstrap_token = boot;
    o.state_file = state;
    ts_error err;
    ts_client *c = ts_client_new(&o, &err);
    char tok[2048];
    ts_client_token_info info;
    if (!c || ts_client_token_get(c, tok, sizeof tok, &info, &err) != TS_OK) {
        fprintf(stderr, "first token: %s\n", err.msg);
        stop_serve();
        return 1;
    }
    printf("token: %zu bytes (ES256 JWT from tokensmith serve)\n", info.len);

    double hit_ns[2], mutex_ns[2];
    const int tcounts[2] = {1, 8};
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    for (int i = 0; i < 2; i++) {
        unsigned long total;
        hit_ns[i] = run_hits(c, NULL, tok, tcounts[i], seconds, &total);
        printf("cache hit, %d thread%s: %.1f ns of CPU per call (%lu calls)\n", tcounts[i],
               tcounts[i] > 1 ? "s" : "", hit_ns[i], total);
        mutex_ns[i] = run_hits(NULL, &mu, tok, tcounts[i], seconds, &total);
        printf("  baseline, the same copy under one mutex: %.1f ns/call\n", mutex_ns[i]);
    }

    /* Cold cache: every round drops the token and lets 64 threads ask at once. */
    size_t requests_total = 0;
    double wait_ms_max = 0, wait_ms_sum = 0;
    bool all_ok = true;
    for (int r = 0; r < rounds; r++) {
        ts_client_invalidate(c, 0);
        size_t before = log_count("\"path\":\"/oauth/token\"");
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, COLD_THREADS + 1);
        cold k[COLD_THREADS];
        pthread_t t[COLD_THREADS];
        for (int i = 0; i < COLD_THREADS; i++) {
            k[i] = (cold){.c = c, .start = &start};
            pthread_create(&t[i], NULL, cold_call, &k[i]);
        }
        double t0 = now_s();
        pthread_barrier_wait(&start);
        double last = t0;
        for (int i = 0; i < COLD_THREADS; i++) {
            pthread_join(t[i], NULL);
            all_ok = all_ok && k[i].st == TS_OK;
            last = k[i].done > last ? k[i].done : last;
        }
        pthread_barrier_destroy(&start);
        size_t got = log_count("\"path\":\"/oauth/token\"") - before;
        requests_total += got;
        double ms = (last - t0) * 1000.0;
        wait_ms_sum += ms;
        wait_ms_max = ms > wait_ms_max ? ms : wait_ms_max;
    }
    printf("cold cache, %d threads x %d rounds: %zu requests at the server (%.2f per round), "
           "all answered: %s, last caller done after %.1f ms on average (max %.1f)\n",
           COLD_THREADS, rounds, requests_total, (double)requests_total / rounds,
           all_ok ? "yes" : "NO", wait_ms_sum / rounds, wait_ms_max);
    printf("{\"token_bytes\":%zu,\"hit_ns_1\":%.1f,\"hit_ns_8\":%.1f,\"mutex_ns_1\":%.1f,"
           "\"mutex_ns_8\":%.1f,\"cold_threads\":%d,\"cold_rounds\":%d,\"cold_requests\":%zu,"
           "\"cold_wait_ms_avg\":%.1f,\"cold_wait_ms_max\":%.1f}\n",
           info.len, hit_ns[0], hit_ns[1], mutex_ns[0], mutex_ns[1], COLD_THREADS, rounds,
           requests_total, wait_ms_sum / rounds, wait_ms_max);
    ts_client_free(c);
    stop_serve();
    return all_ok && requests_total == (size_t)rounds ? 0 : 1;
}
