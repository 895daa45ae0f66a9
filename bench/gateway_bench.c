/*
 * gateway_bench: what `tokensmith gateway` behind nginx's auth_request costs, against nginx
 * alone. bench/run_gateway.sh starts the gateway and one nginx (bench/gateway_nginx.conf.in:
 * a front server and, as its upstream, a server block answering `return 200`); this program
 * is the load: the epoll client of http_load.c on keep-alive connections to the front, in
 * three phases that alternate within each round (the first phase changes from round to round,
 * so that drift on a shared machine hits every phase alike):
 *
 *   open    GET /open/nodes: nginx -> upstream, no check (the baseline)
 *   cached  GET /nodes: auth_request -> the gateway -> upstream; every connection sends its own
 *           token, warmed before the phase, so that every check is a translation cache hit
 *   cold    GET /nodes with a fresh token per request, minted before the phase (minting is not
 *           timed): every check verifies a signature and signs a translated token
 *
 * The same token header goes to /open too, so that the requests differ only in their route.
 * Per phase: requests/s, p50 and p99 latency, the CPU (user + system, from /proc) of the
 * gateway per check, of nginx per request and of this client per request, and the gateway's
 * translation and verified-token cache counters over the phase (from its admin /metrics), which
 * show that the cached phase hits and the cold one misses.
 *
 * Output: one JSON line per phase, then a summary (medians over the rounds; the ratio is the
 * median of each round's cached / open).
 *
 * usage: gateway_bench keys DIR
 *          a P-256 issuer key (DIR/issuer.pem), its JWK Set (DIR/jwks.json) and one token
 *          (DIR/grpc_token, for bench/gateway_grpc_bench.mjs); the files are 0600
 *        gateway_bench --url URL --admin URL --key DIR/issuer.pem --gateway-pid PID
 *                      [--nginx-pids PID,PID...] [--seconds S] [--rounds R]
 *                      [--connections C] [--client-threads T] [--only open|cached|cold]
 *          --only: run one phase in every round (to profile it, e.g. under perf record)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <tokensmith/testutil.h>

#include "clock.h"
#include "http_load.h"
#include "procfs.h"
#include "stats.h"

/* Must match the trust entry bench/run_gateway.sh writes into the gateway's configuration. */
#define ISSUER "https://issuer.bench.test"
#define AUDIENCE "gateway"
/* Tokens outlive any run, so that a cached token never nears its expiry during one. */
#define TOKEN_LIFETIME_S 7200
#define MAX_ROUNDS 64
#define MAX_NGINX 16
#define COLD_MAX_TOKENS 400000u

enum { OPEN, CACHED, COLD, NPHASES };
static const char *const phase_names[NPHASES] = {"open", "cached", "cold"};

typedef struct options {
    const char *url, *admin, *key;
    long gateway_pid;
    long nginx[MAX_NGINX];
    size_t n_nginx;
    double seconds;
    unsigned rounds, client_threads;
    size_t connections;
    int only; /* -1: every phase; else OPEN, CACHED or COLD alone (profiling) */
} options;

/* ---------------------------------------------------------------------------------------- */
/* Tokens                                                                                   */

/* A token builder for the viewer fixture (roles ["viewer"], its scope), our issuer and
 * audience, valid for TOKEN_LIFETIME_S. */
static ts_testutil_token *builder(const ts_testutil_key *key)
{
    static const char *const aud[] = {AUDIENCE};
    ts_testutil_token *b = ts_testutil_token_new(key, NULL);
    if (!b ||
        ts_testutil_token_set_principal(b, ts_testutil_principal_get(TS_TESTUTIL_VIEWER), NULL) ||
        ts_testutil_token_set_issuer(b, ISSUER, NULL) ||
        ts_testutil_token_set_audience(b, aud, 1, NULL)) {
        ts_testutil_token_free(b);
        return NULL;
    }
    ts_testutil_token_set_expires_at(b, (int64_t)time(NULL) + TOKEN_LIFETIME_S);
    return b;
}

/* "Authorization: Bearer <a new token>\r\n" with jti @p jti; NULL on failure. */
static char *auth_header(ts_testutil_token *b, const char *jti)
{
    if (ts_testutil_token_set_claim_string(b, "jti", jti, NULL))
        return NULL;
    char *t = ts_testutil_token_mint(b, TS_TESTUTIL_FLAW_NONE, NULL), *h = NULL;
    if (t && asprintf(&h, "Authorization: Bearer %s\r\n", t) < 0)
        h = NULL;
    ts_free(t);
    return h;
}

/* @p n headers, jti "<tag>-<i>"; NULL on failure. */
static char **mint_headers(const ts_testutil_key *key, const char *tag, size_t n)
{
    ts_testutil_token *b = builder(key);
    char **v = b ? calloc(n ? n : 1, sizeof *v) : NULL;
    for (size_t i = 0; v && i < n; i++) {
        char jti[64];
        snprintf(jti, sizeof jti, "%s-%zu", tag, i);
        if (!(v[i] = auth_header(b, jti))) {
            fprintf(stderr, "gateway_bench: could not mint a token\n");
            exit(1);
        }
    }
    ts_testutil_token_free(b);
    return v;
}

static void free_headers(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static int write_private(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    size_t n = strlen(text);
    int rc = write(fd, text, n) == (ssize_t)n ? 0 : -1;
    return close(fd) == 0 ? rc : -1;
}

/* `gateway_bench keys DIR`. */
static int make_keys(const char *dir)
{
    char pem_path[512], jwks_path[512], token_path[512];
    snprintf(pem_path, sizeof pem_path, "%s/issuer.pem", dir);
    snprintf(jwks_path, sizeof jwks_path, "%s/jwks.json", dir);
    snprintf(token_path, sizeof token_path, "%s/grpc_token", dir);
    ts_testutil_key *key = ts_testutil_key_p256(NULL);
    const ts_testutil_key *keys[] = {key};
    ts_jwks *set = key ? ts_testutil_jwks(keys, 1, NULL) : NULL;
    char *pem = key ? ts_testutil_key_private_pem(key, NULL) : NULL;
    ts_testutil_token *b = key ? builder(key) : NULL;
    char *t = b ? ts_testutil_token_mint(b, TS_TESTUTIL_FLAW_NONE, NULL) : NULL;
    int rc = set && pem && t && ts_testutil_jwks_write(set, jwks_path, NULL) == TS_OK &&
                     write_private(pem_path, pem) == 0 && write_private(token_path, t) == 0
                 ? 0
                 : 1;
    if (rc)
        fprintf(stderr, "gateway_bench: could not write the key files in %s\n", dir);
    ts_free(t);
    ts_testutil_token_free(b);
    ts_free(pem);
    ts_jwks_free(set);
    ts_testutil_key_free(key);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Requests                                                                                 */

typedef struct load {
    const char *path, *method;
    char **auth; /* per connection, or NULL */
    char **pool; /* one per request (cold), or NULL */
    size_t npool;
    atomic_size_t taken; /* of pool */
    int want;            /* the status that counts as a success */
    const char *body;    /* the body that must come with it, or NULL */
} load;

static bool next_request(void *ud, size_t conn, hl_request *out)
{
    load *l = ud;
    memset(out, 0, sizeof *out);
    out->method = l->method;
    out->path = l->path;
    if (l->pool) {
        size_t i = atomic_fetch_add_explicit(&l->taken, 1, memory_order_relaxed);
        if (i >= l->npool)
            return false;
        out->headers = l->pool[i];
    } else {
        out->headers = l->auth ? l->auth[conn] : NULL;
    }
    return true;
}

static bool on_answer(void *ud, size_t conn, const hl_response *r)
{
    (void)conn;
    const load *l = ud;
    if (!r || r->status != l->want)
        return false;
    size_t n = l->body ? strlen(l->body) : 0;
    return !l->body || (r->body_len == n && memcmp(r->body, l->body, n) == 0);
}

/* The gateway's counters from its admin /metrics. */
typedef struct counters {
    double t_hit, t_miss, v_hit, v_miss;
    bool ok;
} counters;

static bool metrics_next(void *ud, size_t conn, hl_request *out)
{
    (void)ud, (void)conn;
    memset(out, 0, sizeof *out);
    out->method = "GET";
    out->path = "/metrics";
    return true;
}

/* The value of series @p name in @p text (not NUL-terminated), -1 when absent. */
static double series(const char *text, size_t len, const char *name)
{
    const char *p = memmem(text, len, name, strlen(name));
    if (!p)
        return -1;
    p += strlen(name);
    char num[32];
    size_t k = 0;
    while (p < text + len && k + 1 < sizeof num && *p != '\n')
        num[k++] = *p++;
    num[k] = '\0';
    return strtod(num, NULL);
}

static bool metrics_done(void *ud, size_t conn, const hl_response *r)
{
    (void)conn;
    counters *c = ud;
    if (!r || r->status != 200)
        return false;
    c->t_hit =
        series(r->body, r->body_len, "tokensmith_gateway_translation_cache_total{result=\"hit\"} ");
    c->t_miss = series(r->body, r->body_len,
                       "tokensmith_gateway_translation_cache_total{result=\"miss\"} ");
    c->v_hit =
        series(r->body, r->body_len, "tokensmith_gateway_verify_cache_total{result=\"hit\"} ");
    c->v_miss =
        series(r->body, r->body_len, "tokensmith_gateway_verify_cache_total{result=\"miss\"} ");
    c->ok = c->t_hit >= 0 && c->t_miss >= 0 && c->v_hit >= 0 && c->v_miss >= 0;
    return true;
}

static counters read_counters(hl_client *admin)
{
    counters c = {0};
    hl_run run = {metrics_next, metrics_done, &c, 1, 10.0};
    hl_stats st;
    if (hl_client_run(admin, &run, &st, NULL) == TS_OK)
        free(st.lat_us);
    return c;
}

/* ---------------------------------------------------------------------------------------- */
/* Phases                                                                                   */

static double nginx_cpu_s(const options *o)
{
    double s = 0;
    for (size_t i = 0; i < o->n_nginx; i++)
        s += bench_proc_cpu_s(o->nginx[i]);
    return s;
}

typedef struct phase {
    double per_s, p50_ms, p99_ms, gateway_us, nginx_us, client_us, seconds;
    uint64_t ok, failed, transport_errors, reconnects;
    counters delta; /* the gateway's cache lookups during the phase */
} phase;

typedef struct bench {
    const options *o;
    hl_client *front, *admin;
} bench;

static phase run_phase(const bench *b, load *l, double seconds, uint64_t max_requests)
{
    hl_run run = {next_request, on_answer, l, max_requests ? max_requests : UINT64_MAX, seconds};
    hl_stats st;
    ts_error err;
    ts_error_clear(&err);
    atomic_store(&l->taken, 0);
    counters k0 = read_counters(b->admin);
    double g0 = bench_proc_cpu_s(b->o->gateway_pid), n0 = nginx_cpu_s(b->o),
           c0 = bench_self_cpu_s();
    if (hl_client_run(b->front, &run, &st, &err) != TS_OK) {
        fprintf(stderr, "gateway_bench: %s\n", err.msg);
        exit(1);
    }
    double g1 = bench_proc_cpu_s(b->o->gateway_pid), n1 = nginx_cpu_s(b->o),
           c1 = bench_self_cpu_s();
    counters k1 = read_counters(b->admin);
    phase p = {0};
    bench_sort(st.lat_us, st.nlat);
    p.ok = st.ok;
    p.failed = st.failed;
    p.transport_errors = st.transport_errors;
    p.reconnects = st.reconnects;
    p.seconds = st.seconds;
    p.per_s = st.seconds > 0 ? (double)st.ok / st.seconds : 0;
    p.p50_ms = bench_percentile(st.lat_us, st.nlat, 0.50) / 1000.0;
    p.p99_ms = bench_percentile(st.lat_us, st.nlat, 0.99) / 1000.0;
    double req = st.ok ? (double)st.ok : 1;
    p.gateway_us = (g1 - g0) * 1e6 / req;
    p.nginx_us = (n1 - n0) * 1e6 / req;
    p.client_us = (c1 - c0) * 1e6 / req;
    p.delta = (counters){k1.t_hit - k0.t_hit, k1.t_miss - k0.t_miss, k1.v_hit - k0.v_hit,
                         k1.v_miss - k0.v_miss, k0.ok && k1.ok};
    free(st.lat_us);
    return p;
}

static void print_phase(int which, unsigned round, const phase *p, size_t pool)
{
    printf("{\"case\":\"%s\",\"round\":%u,\"requests\":%llu,\"errors\":%llu,"
           "\"transport_errors\":%llu,\"reconnects\":%llu,\"seconds\":%.3f,\"per_s\":%.1f,"
           "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"gateway_cpu_us_per_check\":%.2f,"
           "\"nginx_cpu_us_per_req\":%.2f,\"client_cpu_us_per_req\":%.2f,"
           "\"translation_hits\":%.0f,\"translation_misses\":%.0f,\"verify_hits\":%.0f,"
           "\"verify_misses\":%.0f,\"tokens_minted\":%zu}\n",
           phase_names[which], round, (unsigned long long)p->ok, (unsigned long long)p->failed,
           (unsigned long long)p->transport_errors, (unsigned long long)p->reconnects, p->seconds,
           p->per_s, p->p50_ms, p->p99_ms, which == OPEN ? 0.0 : p->gateway_us, p->nginx_us,
           p->client_us, p->delta.t_hit, p->delta.t_miss, p->delta.v_hit, p->delta.v_miss, pool);
    fflush(stdout);
}

static double median(double *v, size_t n)
{
    bench_sort(v, n);
    return n ? (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2) : 0;
}

/* Each case answers as it should before anything is timed. */
static void check_answers(const bench *b, load *open, load *cached, char **auth)
{
    size_t n = b->o->connections;
    load none = {.path = "/nodes", .method = "GET", .want = 401};
    load denied = {.path = "/nodes/7", .method = "DELETE", .auth = auth, .want = 403};
    load *cases[] = {open, cached, &none, &denied};
    for (size_t i = 0; i < 4; i++) {
        phase p = run_phase(b, cases[i], 10.0, n);
        if (p.ok != n || p.failed || p.transport_errors) {
            fprintf(stderr, "gateway_bench: %s %s: %llu of %zu answered %d%s%s\n", cases[i]->method,
                    cases[i]->path, (unsigned long long)p.ok, n, cases[i]->want,
                    cases[i]->body ? " with the body " : "", cases[i]->body ? cases[i]->body : "");
            exit(1);
        }
    }
}

static void usage(void)
{
    fputs("usage: gateway_bench keys DIR\n"
          "       gateway_bench --url URL --admin URL --key PEM --gateway-pid PID\n"
          "                     [--nginx-pids PID,PID...] [--seconds S] [--rounds R]\n"
          "                     [--connections C] [--client-threads T]\n"
          "                     [--only open|cached|cold]\n",
          stderr);
    exit(2);
}

static void parse_args(int argc, char **argv, options *o)
{
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        if (strcmp(a, "--url") == 0)
            o->url = v;
        else if (strcmp(a, "--admin") == 0)
            o->admin = v;
        else if (strcmp(a, "--key") == 0)
            o->key = v;
        else if (strcmp(a, "--gateway-pid") == 0)
            o->gateway_pid = atol(v);
        else if (strcmp(a, "--nginx-pids") == 0) {
            for (const char *s = v; *s && o->n_nginx < MAX_NGINX;) {
                char *end;
                o->nginx[o->n_nginx++] = strtol(s, &end, 10);
                if (*end != ',' && *end)
                    usage();
                s = *end ? end + 1 : end;
            }
        } else if (strcmp(a, "--seconds") == 0)
            o->seconds = atof(v);
        else if (strcmp(a, "--rounds") == 0)
            o->rounds = (unsigned)atoi(v);
        else if (strcmp(a, "--connections") == 0)
            o->connections = (size_t)atoi(v);
        else if (strcmp(a, "--client-threads") == 0)
            o->client_threads = (unsigned)atoi(v);
        else if (strcmp(a, "--only") == 0) {
            for (o->only = 0; o->only < NPHASES && strcmp(v, phase_names[o->only]) != 0;)
                o->only++;
            if (o->only == NPHASES)
                usage();
        } else
            usage();
    }
    if (!o->url || !o->admin || !o->key || o->gateway_pid <= 0 || o->seconds <= 0 ||
        o->rounds < 1 || o->rounds > MAX_ROUNDS || o->connections < 1 ||
        o->connections > HL_MAX_CONNECTIONS || o->client_threads < 1 ||
        o->client_threads > o->connections)
        usage();
}

/* How many cold tokens one phase needs: its expected requests and half as many again (a phase
 * that runs out ends early, and its rate is still that of the requests it made). */
static size_t cold_budget(double per_s, double seconds)
{
    double n = per_s * seconds * 1.5 + 1000;
    return n > COLD_MAX_TOKENS ? COLD_MAX_TOKENS : (size_t)n;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "keys") == 0)
        return make_keys(argv[2]);
    options o = {.seconds = 3.0, .rounds = 5, .client_threads = 1, .connections = 32, .only = -1};
    parse_args(argc, argv, &o);
    ts_testutil_key *key = ts_testutil_key_load_pem(o.key, TS_JWS_ES256, NULL);
    if (!key) {
        fprintf(stderr, "gateway_bench: cannot load the key %s\n", o.key);
        return 1;
    }
    ts_error err;
    ts_error_clear(&err);
    hl_options fo = {o.url, o.connections, o.client_threads}, ao = {o.admin, 1, 1};
    bench b = {&o, hl_client_new(&fo, &err), NULL};
    if (b.front)
        b.admin = hl_client_new(&ao, &err);
    if (!b.front || !b.admin) {
        fprintf(stderr, "gateway_bench: %s\n", err.msg);
        return 1;
    }

    /* One token per connection for open and cached; the upstream echoes the subject the
     * gateway set, so a cached answer shows that the check ran and translated. */
    char **auth = mint_headers(key, "conn", o.connections);
    char want_sub[256];
    snprintf(want_sub, sizeof want_sub, "sub=%s\n",
             ts_testutil_principal_get(TS_TESTUTIL_VIEWER)->id);
    load open = {
        .path = "/open/nodes", .method = "GET", .auth = auth, .want = 200, .body = "sub=\n"};
    load cached = {.path = "/nodes", .method = "GET", .auth = auth, .want = 200, .body = want_sub};
    check_answers(&b, &open, &cached, auth);

    /* Warm-up (caches, allocator, CPU frequency), and the cold rate, to size the cold pools.
     * Profiling another phase alone (--only open|cached) skips the cold calibration: its
     * verifications and signatures would land in the profile of a phase that has none. */
    double m0 = bench_now_s();
    size_t ncal = o.only < 0 || o.only == COLD ? 2000 : 0;
    load cold = {.path = "/nodes", .method = "GET", .want = 200, .body = want_sub};
    cold.pool = ncal ? mint_headers(key, "warm", ncal) : NULL;
    cold.npool = ncal;
    double mint_us = ncal ? (bench_now_s() - m0) * 1e6 / (double)ncal : 0;
    run_phase(&b, &open, 1.0, 0);
    run_phase(&b, &cached, 1.0, 0);
    phase cal = {0};
    if (ncal) {
        cal = run_phase(&b, &cold, 5.0, ncal);
        free_headers(cold.pool, ncal);
    }
    printf("{\"case\":\"setup\",\"mint_us_per_token\":%.1f,\"cold_calibration_per_s\":%.1f,"
           "\"cold_tokens_per_phase\":%zu}\n",
           mint_us, cal.per_s, cold_budget(cal.per_s, o.seconds));

    double rate[NPHASES][MAX_ROUNDS] = {{0}}, p50[NPHASES][MAX_ROUNDS] = {{0}},
           p99[NPHASES][MAX_ROUNDS] = {{0}}, gw[NPHASES][MAX_ROUNDS] = {{0}},
           ngx[NPHASES][MAX_ROUNDS] = {{0}}, cli[NPHASES][MAX_ROUNDS] = {{0}};
    double t_hits = 0, t_misses = 0, cold_hits = 0, cold_misses = 0;
    uint64_t bad = 0;
    bool counters_ok = true;
    for (unsigned r = 0; r < o.rounds; r++) {
        for (unsigned k = 0; k < NPHASES; k++) {
            int which = o.only >= 0 ? o.only : (int)((r + k) % NPHASES);
            size_t pool = 0;
            load *l = which == OPEN ? &open : &cached;
            if (which == CACHED) {
                /* The cold phase may have pushed these tokens out of the caches. */
                run_phase(&b, &cached, 10.0, o.connections);
            } else if (which == COLD) {
                pool = cold_budget(cal.per_s, o.seconds);
                char tag[32];
                snprintf(tag, sizeof tag, "cold%u", r);
                cold.pool = mint_headers(key, tag, pool);
                cold.npool = pool;
                l = &cold;
            }
            phase p = run_phase(&b, l, o.seconds, pool);
            print_phase(which, r, &p, pool);
            if (which == COLD) {
                free_headers(cold.pool, pool);
                cold.pool = NULL;
                cold_hits += p.delta.t_hit;
                cold_misses += p.delta.t_miss;
            } else if (which == CACHED) {
                t_hits += p.delta.t_hit;
                t_misses += p.delta.t_miss;
            }
            counters_ok = counters_ok && p.delta.ok;
            rate[which][r] = p.per_s;
            p50[which][r] = p.p50_ms;
            p99[which][r] = p.p99_ms;
            gw[which][r] = p.gateway_us;
            ngx[which][r] = p.nginx_us;
            cli[which][r] = p.client_us;
            bad += p.failed + p.transport_errors;
        }
    }

    double ratios[MAX_ROUNDS];
    for (unsigned r = 0; r < o.rounds; r++)
        ratios[r] = rate[OPEN][r] > 0 ? rate[CACHED][r] / rate[OPEN][r] : 0;
    double ratio = median(ratios, o.rounds);
    printf("{\"case\":\"summary\",\"rounds\":%u,\"seconds\":%.1f,\"connections\":%zu,"
           "\"client_threads\":%u,\"errors\":%llu,\"ratio\":%.4f,\"counters_read\":%s,"
           "\"cached_translation_hits\":%.0f,\"cached_translation_misses\":%.0f,"
           "\"cold_translation_hits\":%.0f,\"cold_translation_misses\":%.0f",
           o.rounds, o.seconds, o.connections, o.client_threads, (unsigned long long)bad, ratio,
           counters_ok ? "true" : "false", t_hits, t_misses, cold_hits, cold_misses);
    for (int w = 0; w < NPHASES; w++) {
        const char *n = phase_names[w];
        printf(",\"%s_per_s\":%.1f,\"%s_p50_ms\":%.3f,\"%s_p99_ms\":%.3f,"
               "\"%s_nginx_cpu_us_per_req\":%.2f,\"%s_client_cpu_us_per_req\":%.2f",
               n, median(rate[w], o.rounds), n, median(p50[w], o.rounds), n,
               median(p99[w], o.rounds), n, median(ngx[w], o.rounds), n, median(cli[w], o.rounds));
        if (w != OPEN)
            printf(",\"%s_gateway_cpu_us_per_check\":%.2f", n, median(gw[w], o.rounds));
    }
    printf("}\n");
    free_headers(auth, o.connections);
    hl_client_free(b.front);
    hl_client_free(b.admin);
    ts_testutil_key_free(key);
    return bad ? 1 : 0;
}
