/*
 * service_bench: load generator for a running `tokensmith serve` on loopback (bench/run_service.sh
 * starts the server). In one run, for the server's algorithm:
 *
 *   1. the raw OpenSSL sign rate of the same key (EVP_DigestSign with a cached EVP_PKEY, on one
 *      thread and on one thread per CPU): the ceiling a signing service can reach;
 *   2. bootstrap tokens created directly in the server's store (ts_store, the same SQLite file);
 *   3. bootstrap exchanges: every request redeems a fresh bootstrap token;
 *   4. refresh grants: each worker first exchanges one bootstrap token, then rotates its own
 *      refresh family (every answer carries the next refresh token);
 *   5. optionally a long refresh soak up to a total number of requests, while a sampler reads
 *      the server's VmRSS from /proc/PID/status after 10,000 requests and every 100,000 after.
 *
 * Workers are threads with one keep-alive libcurl connection each. Every phase is bounded by a
 * request count and by time. One JSON object per line on stdout; progress on stderr.
 *
 * usage: service_bench --url http://127.0.0.1:PORT --pid PID --alg ES256|PS256 --key FILE
 *                      --store FILE [--workers N] [--seconds S] [--exchanges N]
 *                      [--soak-requests N] [--soak-seconds S] [--min-time S] [--runs N]
 */
#define _POSIX_C_SOURCE 200809L

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tokensmith/store.h>

#define MAX_WORKERS 64
#define MAX_CHECKPOINTS 64
#define RESP_MAX 16384

#define GRANT_EXCHANGE "urn:ietf:params:oauth:grant-type:token-exchange"
#define TYPE_BOOTSTRAP "urn:openchami:params:oauth:token-type:bootstrap-token"

typedef char token_buf[TS_STORE_TOKEN_LEN + 1];

typedef struct checkpoint {
    uint64_t at;    /* requests answered when the sample was due */
    uint64_t done;  /* requests answered when it was taken */
    long vm_rss_kb; /* -1 when the read failed */
} checkpoint;

typedef struct bench {
    const char *url; /* base URL */
    char token_url[512];
    long pid;
    const char *alg;
    _Atomic uint64_t done; /* requests answered with 200, every phase */
    _Atomic bool stop_sampler;
    checkpoint cps[MAX_CHECKPOINTS];
    size_t ncps;
} bench;

enum mode { MODE_EXCHANGE, MODE_REFRESH };

typedef struct worker {
    bench *b;
    pthread_t th;
    CURL *curl;
    enum mode mode;
    const token_buf *tokens; /* MODE_EXCHANGE: this worker's slice */
    size_t ntokens;
    token_buf refresh; /* MODE_REFRESH: the family's current token */
    bool broken;       /* the family can no longer be rotated */
    uint64_t limit;    /* requests at most in this phase */
    double deadline;   /* monotonic seconds */
    double *lat_us;    /* one per answered request */
    size_t nlat;
    uint64_t errors;
    char body[512];
    char resp[RESP_MAX];
    size_t resp_len;
} worker;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "service_bench: %s\n", what);
    exit(1);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static double percentile(const double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t k = (size_t)(p * (double)n + 0.999999);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return v[k - 1];
}

static long read_vm_rss_kb(long pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

/* CPU seconds (user + system) the process has used so far, -1 when unreadable. */
static double read_cpu_s(long pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[1024];
    char *ok = fgets(line, sizeof line, f);
    fclose(f);
    /* The command name may hold spaces; the fields after it follow its closing parenthesis. */
    char *p = ok ? strrchr(line, ')') : NULL;
    if (!p)
        return -1;
    unsigned long long ut = 0, st = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    long hz = sysconf(_SC_CLK_TCK);
    return (double)(ut + st) / (double)(hz > 0 ? hz : 100);
}

/* ---------------------------------------------------------------------------------------- */
/* Raw sign ceiling                                                                          */

typedef struct sign_job {
    EVP_PKEY *pkey;
    bool pss;
    double seconds;
    const unsigned char *msg;
    size_t msg_len;
    uint64_t ops;
    int failed;
} sign_job;

static int sign_once(EVP_PKEY *pkey, bool pss, const unsigned char *msg, size_t len)
{
    unsigned char sig[1024];
    size_t siglen = sizeof sig;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md && EVP_DigestSignInit(md, &pctx, EVP_sha256(), NULL, pkey) == 1;
    if (ok && pss)
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
    ok = ok && EVP_DigestSign(md, sig, &siglen, msg, len) == 1;
    EVP_MD_CTX_free(md);
    return ok ? 0 : -1;
}

static void *sign_thread(void *arg)
{
    sign_job *j = arg;
    double end = now_s() + j->seconds;
    uint64_t n = 0;
    do {
        for (int i = 0; i < 16; i++)
            if (sign_once(j->pkey, j->pss, j->msg, j->msg_len) != 0) {
                j->failed = 1;
                return NULL;
            }
        n += 16;
    } while (now_s() < end);
    j->ops = n;
    return NULL;
}

/* Signatures per second with @p threads threads, median of @p runs runs. */
static double sign_rate(EVP_PKEY *pkey, bool pss, int threads, double seconds, int runs)
{
    /* A JWS signing input of the size the service signs (header.claims, base64url). */
    unsigned char msg[760];
    static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (unsigned char)b64url[i % 64];
    double res[16];
    if (runs > 16)
        runs = 16;
    for (int r = 0; r < runs; r++) {
        sign_job jobs[MAX_WORKERS];
        pthread_t th[MAX_WORKERS];
        double t0 = now_s();
        for (int i = 0; i < threads; i++) {
            jobs[i] = (sign_job){pkey, pss, seconds, msg, sizeof msg, 0, 0};
            if (pthread_create(&th[i], NULL, sign_thread, &jobs[i]) != 0)
                die("pthread_create failed");
        }
        uint64_t total = 0;
        for (int i = 0; i < threads; i++) {
            pthread_join(th[i], NULL);
            if (jobs[i].failed)
                die("EVP_DigestSign failed");
            total += jobs[i].ops;
        }
        res[r] = (double)total / (now_s() - t0);
    }
    qsort(res, (size_t)runs, sizeof res[0], cmp_d);
    return res[runs / 2];
}

/* ---------------------------------------------------------------------------------------- */
/* HTTP workers                                                                              */

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    worker *w = ud;
    size_t len = size * n;
    size_t room = sizeof w->resp - 1 - w->resp_len;
    size_t take = len < room ? len : room;
    memcpy(w->resp + w->resp_len, p, take);
    w->resp_len += take;
    w->resp[w->resp_len] = '\0';
    return len;
}

/* POST w->body; @return the HTTP status (0 on a transport error). */
static long post(worker *w)
{
    w->resp_len = 0;
    w->resp[0] = '\0';
    curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS, w->body);
    curl_easy_setopt(w->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(w->body));
    if (curl_easy_perform(w->curl) != CURLE_OK)
        return 0;
    long code = 0;
    curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

/* Copy the refresh token of a success body into @p out. */
static int take_refresh(const char *resp, token_buf out)
{
    const char *key = "\"refresh_token\":\"";
    const char *p = strstr(resp, key);
    if (!p)
        return -1;
    p += strlen(key);
    for (size_t i = 0; i < TS_STORE_TOKEN_LEN; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
            return -1;
    if (p[TS_STORE_TOKEN_LEN] != '"')
        return -1;
    memcpy(out, p, TS_STORE_TOKEN_LEN);
    out[TS_STORE_TOKEN_LEN] = '\0';
    return 0;
}

static void set_exchange_body(worker *w, const char *token)
{
    snprintf(w->body, sizeof w->body, "grant_type=%s&subject_token_type=%s&subject_token=%s",
             GRANT_EXCHANGE, TYPE_BOOTSTRAP, token);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    for (uint64_t i = 0; i < w->limit; i++) {
        if ((i & 7u) == 0 && now_s() >= w->deadline)
            break;
        if (w->mode == MODE_EXCHANGE) {
            if (i >= w->ntokens)
                break;
            set_exchange_body(w, w->tokens[i]);
        } else {
            if (w->broken)
                break;
            snprintf(w->body, sizeof w->body, "grant_type=refresh_token&refresh_token=%s",
                     w->refresh);
        }
        double t0 = now_s();
        long code = post(w);
        double t1 = now_s();
        if (code != 200) {
            w->errors++;
            if (w->mode == MODE_REFRESH)
                w->broken = true; /* the presented token is gone or the family revoked */
            if (w->errors <= 3)
                fprintf(stderr, "service_bench: HTTP %ld: %.200s\n", code, w->resp);
            continue;
        }
        if (w->mode == MODE_REFRESH && take_refresh(w->resp, w->refresh) != 0) {
            w->errors++;
            w->broken = true;
            continue;
        }
        w->lat_us[w->nlat++] = (t1 - t0) * 1e6;
        atomic_fetch_add(&w->b->done, 1);
    }
    return NULL;
}

typedef struct phase_result {
    uint64_t ok, errors;
    double seconds, per_s, p50_ms, p99_ms, max_ms;
    double server_cpu_s; /* the server's CPU time during the phase */
} phase_result;

/* Run one phase on every worker: at most @p max_requests requests in all, at most
 * @p max_seconds. In MODE_EXCHANGE the tokens are split between the workers. */
static phase_result run_phase(worker *ws, int nw, enum mode mode, const token_buf *tokens,
                              size_t ntokens, uint64_t max_requests, double max_seconds)
{
    double cpu0 = read_cpu_s(ws[0].b->pid);
    double t0 = now_s();
    size_t tok_off = 0;
    for (int i = 0; i < nw; i++) {
        worker *w = &ws[i];
        uint64_t share = max_requests / (uint64_t)nw + ((uint64_t)i < max_requests % (uint64_t)nw);
        w->mode = mode;
        w->limit = share;
        w->deadline = t0 + max_seconds;
        w->nlat = 0;
        w->errors = 0;
        if (mode == MODE_EXCHANGE) {
            size_t n = ntokens / (size_t)nw + ((size_t)i < ntokens % (size_t)nw);
            w->tokens = tokens + tok_off;
            w->ntokens = n;
            tok_off += n;
            if (w->limit > n)
                w->limit = n;
        }
        free(w->lat_us);
        w->lat_us = malloc(((size_t)w->limit + 1) * sizeof(double));
        if (!w->lat_us)
            die("out of memory");
    }
    for (int i = 0; i < nw; i++)
        if (pthread_create(&ws[i].th, NULL, worker_main, &ws[i]) != 0)
            die("pthread_create failed");
    for (int i = 0; i < nw; i++)
        pthread_join(ws[i].th, NULL);
    phase_result r = {0};
    r.seconds = now_s() - t0;
    r.server_cpu_s = read_cpu_s(ws[0].b->pid) - cpu0;
    size_t total = 0;
    for (int i = 0; i < nw; i++) {
        total += ws[i].nlat;
        r.errors += ws[i].errors;
    }
    double *all = malloc((total + 1) * sizeof(double));
    if (!all)
        die("out of memory");
    size_t k = 0;
    for (int i = 0; i < nw; i++) {
        memcpy(all + k, ws[i].lat_us, ws[i].nlat * sizeof(double));
        k += ws[i].nlat;
    }
    qsort(all, total, sizeof(double), cmp_d);
    r.ok = total;
    r.per_s = (double)total / r.seconds;
    r.p50_ms = percentile(all, total, 0.50) / 1000.0;
    r.p99_ms = percentile(all, total, 0.99) / 1000.0;
    r.max_ms = total ? all[total - 1] / 1000.0 : 0;
    free(all);
    return r;
}

static void print_phase(const bench *b, const char *name, int nw, const phase_result *r)
{
    printf("{\"case\":\"%s\",\"alg\":\"%s\",\"workers\":%d,\"requests\":%llu,\"errors\":%llu,"
           "\"seconds\":%.3f,\"per_s\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
           "\"server_cpu_us_per_req\":%.1f}\n",
           name, b->alg, nw, (unsigned long long)r->ok, (unsigned long long)r->errors, r->seconds,
           r->per_s, r->p50_ms, r->p99_ms, r->max_ms,
           r->ok ? r->server_cpu_s * 1e6 / (double)r->ok : 0.0);
    fflush(stdout);
    fprintf(stderr,
            "service_bench: %s %s: %llu ok, %llu errors, %.0f/s, p50 %.2f ms, p99 %.2f ms\n",
            b->alg, name, (unsigned long long)r->ok, (unsigned long long)r->errors, r->per_s,
            r->p50_ms, r->p99_ms);
}

/* Reads the server's VmRSS each time the answered-request count passes a checkpoint. */
static void *sampler_main(void *arg)
{
    bench *b = arg;
    size_t k = 0;
    struct timespec nap = {0, 1000000};
    while (!atomic_load(&b->stop_sampler) && k < b->ncps) {
        uint64_t d = atomic_load(&b->done);
        if (d >= b->cps[k].at) {
            b->cps[k].vm_rss_kb = read_vm_rss_kb(b->pid);
            b->cps[k].done = d;
            k++;
            continue;
        }
        nanosleep(&nap, NULL);
    }
    return NULL;
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
                    "--key FILE --store FILE [--workers N] [--seconds S] [--exchanges N] "
                    "[--soak-requests N] [--soak-seconds S] [--min-time S] [--runs N]\n");
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

int main(int argc, char **argv)
{
    bench b = {0};
    const char *key_path = NULL, *store_path = NULL;
    int nw = 4, runs = 3;
    double seconds = 10, soak_seconds = 1800, min_time = 1.0;
    unsigned long long exchanges = 30000, soak = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (strcmp(a, "--url") == 0)
            b.url = v;
        else if (strcmp(a, "--pid") == 0)
            b.pid = strtol(v, NULL, 10);
        else if (strcmp(a, "--alg") == 0)
            b.alg = v;
        else if (strcmp(a, "--key") == 0)
            key_path = v;
        else if (strcmp(a, "--store") == 0)
            store_path = v;
        else if (strcmp(a, "--workers") == 0)
            nw = (int)strtol(v, NULL, 10);
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
    if (!b.url || b.pid <= 0 || !b.alg || !key_path || !store_path || nw < 1 || nw > MAX_WORKERS ||
        seconds <= 0 || min_time <= 0 || runs < 1 || exchanges < 1 || exchanges > 10000000ull)
        usage();
    if (!loopback_url(b.url))
        die("--url must be a loopback address");
    snprintf(b.token_url, sizeof b.token_url, "%s/oauth/token", b.url);
    bool pss = strcmp(b.alg, "PS256") == 0;
    if (!pss && strcmp(b.alg, "ES256") != 0)
        die("--alg must be ES256 or PS256");

    /* 1. The sign ceiling, before any load, with the server idle. */
    FILE *kf = fopen(key_path, "r");
    if (!kf)
        die("cannot open --key");
    EVP_PKEY *pkey = PEM_read_PrivateKey(kf, NULL, NULL, NULL);
    fclose(kf);
    if (!pkey)
        die("cannot read the private key");
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int cpus = ncpu < 1 ? 1 : ncpu > MAX_WORKERS ? MAX_WORKERS : (int)ncpu;
    double sign1 = sign_rate(pkey, pss, 1, min_time, runs);
    double signn = sign_rate(pkey, pss, cpus, min_time, runs);
    EVP_PKEY_free(pkey);
    printf("{\"case\":\"sign\",\"alg\":\"%s\",\"per_s_1thread\":%.1f,\"threads\":%d,"
           "\"per_s_all\":%.1f}\n",
           b.alg, sign1, cpus, signn);
    fflush(stdout);
    fprintf(stderr, "service_bench: %s raw sign: %.0f/s on 1 thread, %.0f/s on %d\n", b.alg, sign1,
            signn, cpus);

    /* 2. Bootstrap tokens: one per worker for the refresh families, then the exchange set. */
    size_t ntok = (size_t)nw + (size_t)exchanges;
    token_buf *tokens = calloc(ntok, sizeof(token_buf));
    if (!tokens)
        die("out of memory");
    double tc = now_s();
    create_tokens(store_path, tokens, ntok);
    fprintf(stderr, "service_bench: created %zu bootstrap tokens in %.1f s\n", ntok, now_s() - tc);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        die("curl_global_init failed");
    worker *ws = calloc((size_t)nw, sizeof(worker));
    if (!ws)
        die("out of memory");
    for (int i = 0; i < nw; i++) {
        worker *w = &ws[i];
        w->b = &b;
        w->curl = curl_easy_init();
        if (!w->curl)
            die("curl_easy_init failed");
        curl_easy_setopt(w->curl, CURLOPT_URL, b.token_url);
        curl_easy_setopt(w->curl, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(w->curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(w->curl, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(w->curl, CURLOPT_TIMEOUT, 30L);
        curl_easy_setopt(w->curl, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(w->curl, CURLOPT_WRITEDATA, w);
    }

    /* The checkpoints count answered requests of every phase, from the first one. */
    b.cps[b.ncps++] = (checkpoint){10000, 0, -1};
    for (uint64_t at = 100000; at <= soak && b.ncps < MAX_CHECKPOINTS - 1; at += 100000)
        b.cps[b.ncps++] = (checkpoint){at, 0, -1};
    pthread_t sampler;
    if (pthread_create(&sampler, NULL, sampler_main, &b) != 0)
        die("pthread_create failed");
    long rss_start = read_vm_rss_kb(b.pid);

    /* 3. The families: each worker exchanges one bootstrap token (not timed). */
    for (int i = 0; i < nw; i++) {
        worker *w = &ws[i];
        set_exchange_body(w, tokens[i]);
        long code = post(w);
        if (code != 200 || take_refresh(w->resp, w->refresh) != 0) {
            fprintf(stderr, "service_bench: first exchange: HTTP %ld: %.300s\n", code, w->resp);
            return 1;
        }
        atomic_fetch_add(&b.done, 1);
    }

    /* 4. Bootstrap exchanges, then refresh grants, each bounded by count and time. */
    phase_result ex = run_phase(ws, nw, MODE_EXCHANGE, (const token_buf *)(tokens + nw),
                                (size_t)exchanges, exchanges, seconds);
    print_phase(&b, "exchange", nw, &ex);
    OPENSSL_cleanse(tokens, ntok * sizeof(token_buf));
    phase_result rf = run_phase(ws, nw, MODE_REFRESH, NULL, 0, 10000000ull, seconds);
    print_phase(&b, "refresh", nw, &rf);

    /* 5. Soak: refresh until the server has answered @p soak requests in all. */
    uint64_t done = atomic_load(&b.done);
    if (soak > done) {
        phase_result sk = run_phase(ws, nw, MODE_REFRESH, NULL, 0, soak - done, soak_seconds);
        print_phase(&b, "refresh_soak", nw, &sk);
    }
    /* Let the sampler take a checkpoint that is exactly due now, then stop it. */
    struct timespec nap = {0, 20000000};
    nanosleep(&nap, NULL);
    atomic_store(&b.stop_sampler, true);
    pthread_join(sampler, NULL);
    long rss_end = read_vm_rss_kb(b.pid);
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

    for (int i = 0; i < nw; i++) {
        curl_easy_cleanup(ws[i].curl);
        free(ws[i].lat_us);
        OPENSSL_cleanse(ws[i].refresh, sizeof ws[i].refresh);
    }
    free(ws);
    free(tokens);
    curl_global_cleanup();
    return 0;
}
