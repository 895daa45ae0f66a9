/* Private declarations shared by the service_bench files: service_bench.c (options, setup,
 * the order of the phases), service_bench_phase.c (what each connection sends, running and
 * reporting a phase, the memory sampler), service_bench_sign.c (the raw sign ceiling) and
 * service_bench_curl.c (the libcurl comparison client) and service_bench_cpu.c (CPU time of the
 * servers and of a PostgreSQL cluster from /proc). Each includes it first, after defining
 * _POSIX_C_SOURCE 200809L (semaphores). */
#ifndef TS_BENCH_SERVICE_BENCH_H
#define TS_BENCH_SERVICE_BENCH_H

#include <openssl/evp.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tokensmith/store.h>

#include "http_load.h"

#define MAX_SIGN_THREADS 64
#define MAX_CURL_CONNECTIONS 256
#define MAX_CHECKPOINTS 64
#define BODY_MAX 512
/* Servers one run can spread its connections over (replicas on one shared store). */
#define SB_MAX_SERVERS 4

typedef char token_buf[TS_STORE_TOKEN_LEN + 1];

typedef struct checkpoint {
    uint64_t at;    /* requests answered when the sample was due */
    uint64_t done;  /* requests answered when it was taken */
    long vm_rss_kb; /* -1 when the read failed */
} checkpoint;

typedef struct bench {
    const char *url;                  /* base URL of the first server */
    const char *urls[SB_MAX_SERVERS]; /* every server's; connections are split between them */
    size_t nurls;
    long pid;                  /* the first server: its memory is sampled */
    long pids[SB_MAX_SERVERS]; /* every server: their CPU time is summed */
    size_t npids;
    long db_pid; /* a PostgreSQL postmaster whose cluster's CPU is read, or 0 */
    const char *alg;
    _Atomic uint64_t done; /* token requests answered with 200, every phase */
    _Atomic bool stop_sampler;
    /* The sampler sleeps on @c wake; the answer that reaches @c next_at posts it (once: the
     * poster swaps in UINT64_MAX), so the client pays nothing between checkpoints. */
    sem_t wake;
    _Atomic uint64_t next_at;
    checkpoint cps[MAX_CHECKPOINTS];
    size_t ncps;
} bench;

enum mode {
    MODE_HEALTH,   /* GET /health */
    MODE_FIRST,    /* one exchange of the connection's own token: starts its refresh family */
    MODE_EXCHANGE, /* exchanges of the connection's slice of bootstrap tokens */
    MODE_REFRESH,  /* rotations of the connection's family */
};

/* The state of one connection; only the thread owning the connection touches it. */
typedef struct family {
    const token_buf *tokens; /* MODE_FIRST, MODE_EXCHANGE: this connection's slice */
    size_t ntokens, next;
    token_buf refresh; /* the family's current token */
    bool broken;       /* the family can no longer be rotated */
    char body[BODY_MAX];
} family;

typedef struct load {
    bench *b;
    enum mode mode;
    family *fams;
    size_t nfams;
    _Atomic unsigned logged; /* failures printed so far in this phase */
} load;

typedef struct curl_client curl_client;

typedef struct client {
    const char *name;              /* "epoll" or "curl" */
    hl_client *hl[SB_MAX_SERVERS]; /* one per server URL, each with its share of connections */
    size_t nhl;
    curl_client *curl;
    size_t connections;
    unsigned threads;
} client;

typedef struct phase_result {
    uint64_t ok, errors, transport_errors, reconnects;
    double seconds, per_s, p50_ms, p99_ms, max_ms;
    double server_cpu_s; /* the servers' CPU time during the phase (summed) */
    double db_cpu_s;     /* the PostgreSQL cluster's CPU time during the phase, or -1 */
    double client_cpu_s; /* this process's CPU time during the phase (every thread) */
} phase_result;

/* Print @p what and exit(1). */
void sb_die(const char *what);

/* CPU seconds (user + system) process @p pid has used so far, -1 when unreadable. */
double sb_proc_cpu_s(long pid);
/* CPU seconds used so far by the PostgreSQL cluster of @p postmaster: its own, its live
 * children's and its reaped children's; -1 when unreadable. */
double sb_cluster_cpu_s(long postmaster);

/* The median of @p runs measurements of the sign rate (signatures per second) on @p threads
 * threads, each at least @p seconds long. */
double sb_sign_rate(EVP_PKEY *pkey, bool pss, int threads, double seconds, int runs);

/* The libcurl client: @p n connections to @p url, one thread each (run), dies on failure. */
curl_client *sb_curl_client_new(const char *url, size_t n);
void sb_curl_client_free(curl_client *cc);
void sb_curl_client_run(curl_client *cc, const hl_run *r, hl_stats *out);

/* Run one phase on every connection: at most @p max_requests requests in all, at most
 * @p max_seconds. In MODE_EXCHANGE and MODE_FIRST the tokens are split between the
 * connections. */
phase_result sb_run_phase(bench *b, client *cl, load *l, enum mode mode, const token_buf *tokens,
                          size_t ntokens, uint64_t max_requests, double max_seconds);
/* One JSON line for a phase on stdout. */
void sb_print_phase(const bench *b, const client *cl, const char *name, const phase_result *r);
/* Reads the server's VmRSS each time the answered-request count passes a checkpoint. */
void *sb_sampler_main(void *arg);

#endif
