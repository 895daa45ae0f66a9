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
 */
#define _POSIX_C_SOURCE 200809L

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <tokensmith/store.h>

#include "http_load.h"
#include "procfs.h"

#define MAX_SIGN_THREADS 64
#define MAX_CURL_CONNECTIONS 256
#define MAX_CHECKPOINTS 64
#define BODY_MAX 512

#define GRANT_EXCHANGE "urn:ietf:params:oauth:grant-type:token-exchange"
#define TYPE_BOOTSTRAP "urn:openchami:params:oauth:token-type:bootstrap-token"
#define FORM "application/x-www-form-urlencoded"

typedef char token_buf[TS_STORE_TOKEN_LEN + 1];

typedef struct checkpoint {
    uint64_t at;    /* requests answered when the sample was due */
    uint64_t done;  /* requests answered when it was taken */
    long vm_rss_kb; /* -1 when the read failed */
} checkpoint;

typedef struct bench {
    const char *url; /* base URL */
    long pid;
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
    double end = bench_now_s() + j->seconds;
    uint64_t n = 0;
    do {
        for (int i = 0; i < 16; i++)
            if (sign_once(j->pkey, j->pss, j->msg, j->msg_len) != 0) {
                j->failed = 1;
                return NULL;
            }
        n += 16;
    } while (bench_now_s() < end);
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
        sign_job jobs[MAX_SIGN_THREADS];
        pthread_t th[MAX_SIGN_THREADS];
        double t0 = bench_now_s();
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
        res[r] = (double)total / (bench_now_s() - t0);
    }
    qsort(res, (size_t)runs, sizeof res[0], cmp_d);
    return res[runs / 2];
}

/* ---------------------------------------------------------------------------------------- */
/* What each connection sends                                                                */

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

/* Copy the refresh token of a success body into @p out. */
static int take_refresh(const char *body, size_t len, token_buf out)
{
    static const char key[] = "\"refresh_token\":\"";
    const size_t kl = sizeof key - 1;
    for (size_t i = 0; i + kl + TS_STORE_TOKEN_LEN + 1 <= len; i++) {
        if (memcmp(body + i, key, kl) != 0)
            continue;
        const char *p = body + i + kl;
        for (size_t j = 0; j < TS_STORE_TOKEN_LEN; j++)
            if (!((p[j] >= '0' && p[j] <= '9') || (p[j] >= 'a' && p[j] <= 'f')))
                return -1;
        if (p[TS_STORE_TOKEN_LEN] != '"')
            return -1;
        memcpy(out, p, TS_STORE_TOKEN_LEN);
        out[TS_STORE_TOKEN_LEN] = '\0';
        return 0;
    }
    return -1;
}

/* Count an answered token request; wake the sampler when a checkpoint is due. */
static void count_done(bench *b)
{
    uint64_t d = atomic_fetch_add_explicit(&b->done, 1, memory_order_relaxed) + 1;
    uint64_t at = atomic_load_explicit(&b->next_at, memory_order_relaxed);
    if (d >= at && atomic_compare_exchange_strong(&b->next_at, &at, UINT64_MAX))
        sem_post(&b->wake);
}

static bool next_request(void *ud, size_t conn, hl_request *rq)
{
    load *l = ud;
    family *f = &l->fams[conn];
    int n;
    switch (l->mode) {
    case MODE_HEALTH:
        rq->method = "GET";
        rq->path = "/health";
        return true;
    case MODE_FIRST:
    case MODE_EXCHANGE:
        if (f->next >= f->ntokens)
            return false;
        n = snprintf(f->body, sizeof f->body,
                     "grant_type=%s&subject_token_type=%s&subject_token=%s", GRANT_EXCHANGE,
                     TYPE_BOOTSTRAP, f->tokens[f->next++]);
        break;
    case MODE_REFRESH:
    default:
        if (f->broken)
            return false;
        n = snprintf(f->body, sizeof f->body, "grant_type=refresh_token&refresh_token=%s",
                     f->refresh);
        break;
    }
    if (n < 0 || (size_t)n >= sizeof f->body)
        return false;
    rq->method = "POST";
    rq->path = "/oauth/token";
    rq->content_type = FORM;
    rq->body = f->body;
    rq->body_len = (size_t)n;
    return true;
}

static bool on_answer(void *ud, size_t conn, const hl_response *r)
{
    load *l = ud;
    family *f = &l->fams[conn];
    bool fam = l->mode == MODE_FIRST || l->mode == MODE_REFRESH;
    bool ok = r && r->status == 200 && !r->truncated;
    if (ok && fam && take_refresh(r->body, r->body_len, f->refresh) != 0)
        ok = false;
    if (!ok) {
        /* A refresh whose answer is lost or refused may have rotated the family or revoked it. */
        if (fam)
            f->broken = true;
        if (atomic_fetch_add(&l->logged, 1) < 3) {
            if (r)
                fprintf(stderr, "service_bench: connection %zu: HTTP %d: %.*s\n", conn, r->status,
                        (int)(r->body_len < 200 ? r->body_len : 200), r->body);
            else
                fprintf(stderr, "service_bench: connection %zu: transport error\n", conn);
        }
        return false;
    }
    if (l->mode != MODE_HEALTH)
        count_done(l->b);
    return true;
}

/* ---------------------------------------------------------------------------------------- */
/* The libcurl client (--client curl): one thread and one easy handle per connection          */

typedef struct curl_conn {
    struct curl_client *cc;
    size_t id;
    pthread_t th;
    CURL *curl;
    uint64_t ok, failed, transport_errors;
    double *lat;
    size_t nlat, cap;
    char resp[HL_RESPONSE_MAX];
    size_t resp_len;
    bool truncated;
} curl_conn;

typedef struct curl_client {
    char token_url[512], health_url[512];
    curl_conn *conns;
    size_t n;
    const hl_run *run;
    double deadline;
    _Atomic uint64_t sent;
} curl_client;

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    curl_conn *k = ud;
    size_t len = size * n;
    size_t room = sizeof k->resp - k->resp_len;
    size_t take = len < room ? len : room;
    memcpy(k->resp + k->resp_len, p, take);
    k->resp_len += take;
    if (take < len)
        k->truncated = true;
    return len;
}

static void *curl_main(void *arg)
{
    curl_conn *k = arg;
    curl_client *cc = k->cc;
    const hl_run *run = cc->run;
    for (;;) {
        double t0 = bench_now_s();
        hl_request rq = {0};
        if (t0 >= cc->deadline || !run->next(run->ud, k->id, &rq) ||
            atomic_fetch_add(&cc->sent, 1) >= run->max_requests)
            break;
        k->resp_len = 0;
        k->truncated = false;
        if (rq.body) {
            curl_easy_setopt(k->curl, CURLOPT_URL, cc->token_url);
            curl_easy_setopt(k->curl, CURLOPT_POSTFIELDS, rq.body);
            curl_easy_setopt(k->curl, CURLOPT_POSTFIELDSIZE, (long)rq.body_len);
        } else {
            curl_easy_setopt(k->curl, CURLOPT_URL, cc->health_url);
            curl_easy_setopt(k->curl, CURLOPT_HTTPGET, 1L);
        }
        long code = 0;
        if (curl_easy_perform(k->curl) != CURLE_OK ||
            curl_easy_getinfo(k->curl, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK || code < 100) {
            k->transport_errors++;
            run->done(run->ud, k->id, NULL);
            continue;
        }
        double t1 = bench_now_s();
        hl_response r = {(int)code, k->resp, k->resp_len, k->truncated};
        if (!run->done(run->ud, k->id, &r)) {
            k->failed++;
            continue;
        }
        k->ok++;
        if (k->nlat == k->cap) {
            size_t cap = k->cap ? k->cap * 2 : 4096;
            double *nl = realloc(k->lat, cap * sizeof *nl);
            if (!nl)
                die("out of memory");
            k->lat = nl;
            k->cap = cap;
        }
        k->lat[k->nlat++] = (t1 - t0) * 1e6;
    }
    return NULL;
}

static curl_client *curl_client_new(const char *url, size_t n)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        die("curl_global_init failed");
    curl_client *cc = calloc(1, sizeof *cc);
    if (!cc || !(cc->conns = calloc(n, sizeof *cc->conns)))
        die("out of memory");
    snprintf(cc->token_url, sizeof cc->token_url, "%s/oauth/token", url);
    snprintf(cc->health_url, sizeof cc->health_url, "%s/health", url);
    cc->n = n;
    for (size_t i = 0; i < n; i++) {
        curl_conn *k = &cc->conns[i];
        k->cc = cc;
        k->id = i;
        k->curl = curl_easy_init();
        if (!k->curl)
            die("curl_easy_init failed");
        curl_easy_setopt(k->curl, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(k->curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(k->curl, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(k->curl, CURLOPT_TIMEOUT, (long)HL_TIMEOUT_S);
        curl_easy_setopt(k->curl, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(k->curl, CURLOPT_WRITEDATA, k);
    }
    return cc;
}

static void curl_client_free(curl_client *cc)
{
    if (!cc)
        return;
    for (size_t i = 0; i < cc->n; i++) {
        curl_easy_cleanup(cc->conns[i].curl);
        free(cc->conns[i].lat);
    }
    free(cc->conns);
    free(cc);
    curl_global_cleanup();
}

static void curl_client_run(curl_client *cc, const hl_run *r, hl_stats *out)
{
    memset(out, 0, sizeof *out);
    double t0 = bench_now_s();
    cc->run = r;
    cc->deadline = t0 + r->max_seconds;
    atomic_store(&cc->sent, 0);
    for (size_t i = 0; i < cc->n; i++) {
        curl_conn *k = &cc->conns[i];
        k->ok = k->failed = k->transport_errors = 0;
        k->nlat = 0;
        if (pthread_create(&k->th, NULL, curl_main, k) != 0)
            die("pthread_create failed");
    }
    size_t total = 0;
    for (size_t i = 0; i < cc->n; i++) {
        curl_conn *k = &cc->conns[i];
        pthread_join(k->th, NULL);
        out->ok += k->ok;
        out->failed += k->failed;
        out->transport_errors += k->transport_errors;
        total += k->nlat;
    }
    out->seconds = bench_now_s() - t0;
    out->lat_us = malloc((total + 1) * sizeof *out->lat_us);
    if (!out->lat_us)
        die("out of memory");
    for (size_t i = 0; i < cc->n; i++) {
        memcpy(out->lat_us + out->nlat, cc->conns[i].lat, cc->conns[i].nlat * sizeof(double));
        out->nlat += cc->conns[i].nlat;
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Phases                                                                                    */

typedef struct client {
    const char *name; /* "epoll" or "curl" */
    hl_client *hl;
    curl_client *curl;
    size_t connections;
    unsigned threads;
} client;

typedef struct phase_result {
    uint64_t ok, errors, transport_errors, reconnects;
    double seconds, per_s, p50_ms, p99_ms, max_ms;
    double server_cpu_s; /* the server's CPU time during the phase */
    double client_cpu_s; /* this process's CPU time during the phase (every thread) */
} phase_result;

static double self_cpu_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Run one phase on every connection: at most @p max_requests requests in all, at most
 * @p max_seconds. In MODE_EXCHANGE and MODE_FIRST the tokens are split between the
 * connections. */
static phase_result run_phase(bench *b, client *cl, load *l, enum mode mode,
                              const token_buf *tokens, size_t ntokens, uint64_t max_requests,
                              double max_seconds)
{
    l->mode = mode;
    atomic_store(&l->logged, 0);
    size_t off = 0, nc = l->nfams;
    for (size_t i = 0; i < nc; i++) {
        family *f = &l->fams[i];
        size_t n = ntokens / nc + (i < ntokens % nc);
        f->tokens = tokens ? tokens + off : NULL;
        f->ntokens = tokens ? n : 0;
        f->next = 0;
        off += f->ntokens;
    }
    hl_run run = {next_request, on_answer, l, max_requests, max_seconds};
    hl_stats st;
    double cpu0 = read_cpu_s(b->pid), self0 = self_cpu_s();
    if (cl->hl) {
        ts_error err = {0};
        if (hl_client_run(cl->hl, &run, &st, &err) != TS_OK) {
            fprintf(stderr, "service_bench: %s\n", err.msg);
            exit(1);
        }
    } else {
        curl_client_run(cl->curl, &run, &st);
    }
    phase_result r = {0};
    r.server_cpu_s = read_cpu_s(b->pid) - cpu0;
    r.client_cpu_s = self_cpu_s() - self0;
    r.seconds = st.seconds;
    r.errors = st.failed;
    r.transport_errors = st.transport_errors;
    r.reconnects = st.reconnects;
    qsort(st.lat_us, st.nlat, sizeof(double), cmp_d);
    r.ok = st.nlat;
    r.per_s = (double)st.nlat / r.seconds;
    r.p50_ms = percentile(st.lat_us, st.nlat, 0.50) / 1000.0;
    r.p99_ms = percentile(st.lat_us, st.nlat, 0.99) / 1000.0;
    r.max_ms = st.nlat ? st.lat_us[st.nlat - 1] / 1000.0 : 0;
    free(st.lat_us);
    return r;
}

static void print_phase(const bench *b, const client *cl, const char *name, const phase_result *r)
{
    double per = r->ok ? 1e6 / (double)r->ok : 0.0;
    printf("{\"case\":\"%s\",\"alg\":\"%s\",\"client\":\"%s\",\"workers\":%zu,\"connections\":%zu,"
           "\"client_threads\":%u,\"requests\":%llu,\"errors\":%llu,\"transport_errors\":%llu,"
           "\"reconnects\":%llu,\"seconds\":%.3f,\"per_s\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
           "\"max_ms\":%.3f,\"server_cpu_us_per_req\":%.1f,\"client_cpu_us_per_req\":%.1f}\n",
           name, b->alg, cl->name, cl->connections, cl->connections, cl->threads,
           (unsigned long long)r->ok, (unsigned long long)r->errors,
           (unsigned long long)r->transport_errors, (unsigned long long)r->reconnects, r->seconds,
           r->per_s, r->p50_ms, r->p99_ms, r->max_ms, r->server_cpu_s * per, r->client_cpu_s * per);
    fflush(stdout);
    fprintf(stderr,
            "service_bench: %s %s (%s, %zu conn): %llu ok, %llu errors, %llu transport errors, "
            "%.0f/s, p50 %.2f ms, p99 %.2f ms, CPU/req server %.1f us, client %.1f us\n",
            b->alg, name, cl->name, cl->connections, (unsigned long long)r->ok,
            (unsigned long long)r->errors, (unsigned long long)r->transport_errors, r->per_s,
            r->p50_ms, r->p99_ms, r->server_cpu_s * per, r->client_cpu_s * per);
}

/* Reads the server's VmRSS each time the answered-request count passes a checkpoint. */
static void *sampler_main(void *arg)
{
    bench *b = arg;
    size_t k = 0;
    while (k < b->ncps) {
        while (sem_wait(&b->wake) != 0)
            ; /* EINTR */
        if (atomic_load(&b->stop_sampler))
            break;
        b->cps[k].vm_rss_kb = bench_vm_rss_kb(b->pid);
        b->cps[k].done = atomic_load(&b->done);
        if (++k == b->ncps)
            break;
        uint64_t at = b->cps[k].at;
        atomic_store(&b->next_at, at);
        /* Already passed while this sample was taken: post for it here. */
        if (atomic_load(&b->done) >= at &&
            atomic_compare_exchange_strong(&b->next_at, &at, UINT64_MAX))
            sem_post(&b->wake);
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
                    "--key FILE --store FILE [--connections N] [--client-threads N] "
                    "[--client epoll|curl] [--seconds S] [--exchanges N] [--soak-requests N] "
                    "[--soak-seconds S] [--min-time S] [--runs N]\n");
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

int main(int argc, char **argv)
{
    bench b = {0};
    const char *key_path = NULL, *store_path = NULL, *client_name = "epoll";
    long nconn = 64, nthreads = 1;
    int runs = 3;
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
    if (!b.url || b.pid <= 0 || !b.alg || !key_path || !store_path || nconn < 1 ||
        nconn > max_conn || nthreads < 1 || nthreads > HL_MAX_THREADS || nthreads > nconn ||
        seconds <= 0 || min_time <= 0 || runs < 1 || exchanges < 1 || exchanges > 10000000ull ||
        (!use_curl && strcmp(client_name, "epoll") != 0))
        usage();
    if (!loopback_url(b.url))
        die("--url must be a loopback address");
    bool pss = strcmp(b.alg, "PS256") == 0;
    if (!pss && strcmp(b.alg, "ES256") != 0)
        die("--alg must be ES256 or PS256");
    size_t nc = (size_t)nconn;

    /* 1. The sign ceiling, before any load, with the server idle. */
    FILE *kf = fopen(key_path, "r");
    if (!kf)
        die("cannot open --key");
    EVP_PKEY *pkey = PEM_read_PrivateKey(kf, NULL, NULL, NULL);
    fclose(kf);
    if (!pkey)
        die("cannot read the private key");
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int cpus = ncpu < 1 ? 1 : ncpu > MAX_SIGN_THREADS ? MAX_SIGN_THREADS : (int)ncpu;
    double sign1 = sign_rate(pkey, pss, 1, min_time, runs);
    double signn = sign_rate(pkey, pss, cpus, min_time, runs);
    EVP_PKEY_free(pkey);
    printf("{\"case\":\"sign\",\"alg\":\"%s\",\"per_s_1thread\":%.1f,\"threads\":%d,"
           "\"per_s_all\":%.1f}\n",
           b.alg, sign1, cpus, signn);
    fflush(stdout);
    fprintf(stderr, "service_bench: %s raw sign: %.0f/s on 1 thread, %.0f/s on %d\n", b.alg, sign1,
            signn, cpus);

    /* 2. Bootstrap tokens: one per connection for the refresh families, then the exchange set. */
    size_t ntok = nc + (size_t)exchanges;
    token_buf *tokens = calloc(ntok, sizeof(token_buf));
    if (!tokens)
        die("out of memory");
    double tc = bench_now_s();
    create_tokens(store_path, tokens, ntok);
    fprintf(stderr, "service_bench: created %zu bootstrap tokens in %.1f s\n", ntok,
            bench_now_s() - tc);

    client cl = {use_curl ? "curl" : "epoll", NULL, NULL, nc,
                 use_curl ? (unsigned)nc : (unsigned)nthreads};
    raise_fd_limit(nc + 64);
    if (use_curl) {
        cl.curl = curl_client_new(b.url, nc);
    } else {
        hl_options ho = {b.url, nc, cl.threads};
        ts_error err = {0};
        cl.hl = hl_client_new(&ho, &err);
        if (!cl.hl) {
            fprintf(stderr, "service_bench: %s: %s\n", err.where, err.msg);
            return 1;
        }
    }
    load l = {0};
    l.b = &b;
    l.nfams = nc;
    l.fams = calloc(nc, sizeof *l.fams);
    if (!l.fams)
        die("out of memory");

    /* The checkpoints count answered token requests of every phase, from the first one. */
    b.cps[b.ncps++] = (checkpoint){10000, 0, -1};
    for (uint64_t at = 100000; at <= soak && b.ncps < MAX_CHECKPOINTS - 1; at += 100000)
        b.cps[b.ncps++] = (checkpoint){at, 0, -1};
    if (sem_init(&b.wake, 0, 0) != 0)
        die("sem_init failed");
    atomic_store(&b.next_at, b.cps[0].at);
    pthread_t sampler;
    if (pthread_create(&sampler, NULL, sampler_main, &b) != 0)
        die("pthread_create failed");
    long rss_start = bench_vm_rss_kb(b.pid);

    /* 3. The families: each connection exchanges its own bootstrap token (not reported). */
    phase_result first =
        run_phase(&b, &cl, &l, MODE_FIRST, (const token_buf *)tokens, nc, nc, 60.0);
    if (first.ok == 0)
        die("no refresh family could be started");
    if (first.ok < nc)
        fprintf(stderr, "service_bench: %llu of %zu refresh families did not start\n",
                (unsigned long long)(nc - first.ok), nc);

    /* 4. The HTTP round trip alone, then bootstrap exchanges, then refresh grants, each bounded
     * by count and time. */
    phase_result hp = run_phase(&b, &cl, &l, MODE_HEALTH, NULL, 0, 100000000ull, seconds);
    print_phase(&b, &cl, "health", &hp);
    phase_result ex = run_phase(&b, &cl, &l, MODE_EXCHANGE, (const token_buf *)(tokens + nc),
                                (size_t)exchanges, exchanges, seconds);
    print_phase(&b, &cl, "exchange", &ex);
    OPENSSL_cleanse(tokens, ntok * sizeof(token_buf));
    phase_result rf = run_phase(&b, &cl, &l, MODE_REFRESH, NULL, 0, 100000000ull, seconds);
    print_phase(&b, &cl, "refresh", &rf);

    /* 5. Soak: refresh until the server has answered @p soak requests in all. */
    uint64_t done = atomic_load(&b.done);
    if (soak > done) {
        phase_result sk = run_phase(&b, &cl, &l, MODE_REFRESH, NULL, 0, soak - done, soak_seconds);
        print_phase(&b, &cl, "refresh_soak", &sk);
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

    hl_client_free(cl.hl);
    curl_client_free(cl.curl);
    for (size_t i = 0; i < nc; i++)
        OPENSSL_cleanse(l.fams[i].refresh, sizeof l.fams[i].refresh);
    free(l.fams);
    free(tokens);
    return 0;
}
