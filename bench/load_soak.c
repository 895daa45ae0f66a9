/*
 * load_soak: a fixed-length load at full concurrency against a running `tokensmith serve` or a
 * protected service (examples/minisvc), counting every answer by class and sampling the
 * target's resident memory, for bench/run_load.sh.
 *
 *   --target serve:   three of every four connections each rotate their own refresh family
 *                     (one bootstrap exchange first, bootstrap tokens created directly in the
 *                     store), the fourth fetches /.well-known/jwks.json;
 *   --target service: every connection GETs --path with the bearer token of --token-file.
 *
 * Success means: zero 5xx, zero failed or unanswered requests, and VmRSS at the end at most
 * 5% above VmRSS when the warm-up ended. One JSON object on stdout; progress on stderr.
 *
 * usage: load_soak --url http://127.0.0.1:PORT --pid PID --target serve|service
 *                  [--store FILE] [--token-file FILE] [--path P] [--connections C]
 *                  [--seconds S] [--warmup S]
 */
#define _POSIX_C_SOURCE 200809L

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

#include "http_load.h"
#include "procfs.h"
#include "stats.h"

#define FORM "application/x-www-form-urlencoded"
#define GRANT_EXCHANGE "urn:ietf:params:oauth:grant-type:token-exchange"
#define TYPE_BOOTSTRAP "urn:openchami:params:oauth:token-type:bootstrap-token"

typedef struct conn_state {
    bool jwks; /* this connection fetches the JWKS */
    bool has_refresh, broken;
    char bootstrap[TS_STORE_TOKEN_LEN + 1];
    char refresh[TS_STORE_TOKEN_LEN + 1];
    char body[512];
} conn_state;

typedef struct soak {
    bool serve;
    const char *path;
    char auth[8192]; /* "Authorization: Bearer ...\r\n" */
    conn_state *cs;
    _Atomic uint64_t s2xx, s4xx, s5xx, other, grants, jwks;
} soak;

static void die(const char *msg)
{
    fprintf(stderr, "load_soak: %s\n", msg);
    exit(1);
}

static bool next_request(void *ud, size_t i, hl_request *rq)
{
    soak *s = ud;
    conn_state *c = &s->cs[i];
    if (!s->serve) {
        rq->method = "GET";
        rq->path = s->path;
        rq->headers = s->auth;
        return true;
    }
    if (c->jwks) {
        rq->method = "GET";
        rq->path = "/.well-known/jwks.json";
        return true;
    }
    if (c->broken)
        return false;
    int n = c->has_refresh ? snprintf(c->body, sizeof c->body,
                                      "grant_type=refresh_token&refresh_token=%s", c->refresh)
                           : snprintf(c->body, sizeof c->body,
                                      "grant_type=%s&subject_token_type=%s&subject_token=%s",
                                      GRANT_EXCHANGE, TYPE_BOOTSTRAP, c->bootstrap);
    if (n < 0 || (size_t)n >= sizeof c->body)
        return false;
    rq->method = "POST";
    rq->path = "/oauth/token";
    rq->content_type = FORM;
    rq->body = c->body;
    rq->body_len = (size_t)n;
    return true;
}

static bool take_refresh(const hl_response *r, char out[TS_STORE_TOKEN_LEN + 1])
{
    static const char key[] = "\"refresh_token\":\"";
    size_t kl = sizeof key - 1;
    for (size_t i = 0; i + kl + TS_STORE_TOKEN_LEN < r->body_len; i++)
        if (memcmp(r->body + i, key, kl) == 0) {
            memcpy(out, r->body + i + kl, TS_STORE_TOKEN_LEN);
            out[TS_STORE_TOKEN_LEN] = '\0';
            return true;
        }
    return false;
}

static bool on_answer(void *ud, size_t i, const hl_response *r)
{
    soak *s = ud;
    conn_state *c = &s->cs[i];
    if (!r) {
        if (s->serve && !c->jwks)
            c->broken = true; /* the presented refresh token may or may not have rotated */
        return false;
    }
    if (r->status >= 500)
        atomic_fetch_add(&s->s5xx, 1);
    else if (r->status >= 400)
        atomic_fetch_add(&s->s4xx, 1);
    else if (r->status >= 200 && r->status < 300)
        atomic_fetch_add(&s->s2xx, 1);
    else
        atomic_fetch_add(&s->other, 1);
    if (r->status != 200) {
        if (s->serve && !c->jwks)
            c->broken = true;
        return false;
    }
    if (s->serve && c->jwks) {
        atomic_fetch_add(&s->jwks, 1);
    } else if (s->serve) {
        if (!take_refresh(r, c->refresh)) {
            c->broken = true;
            return false;
        }
        c->has_refresh = true;
        atomic_fetch_add(&s->grants, 1);
    }
    return true;
}

typedef struct sampler {
    long pid;
    double t0, warmup, seconds;
    long warm_kb, end_kb, max_kb;
    _Atomic bool stop;
} sampler;

static void *sampler_main(void *arg)
{
    sampler *sm = arg;
    while (!atomic_load(&sm->stop)) {
        long kb = bench_vm_rss_kb(sm->pid);
        double t = bench_now_s() - sm->t0;
        if (kb > sm->max_kb)
            sm->max_kb = kb;
        if (sm->warm_kb < 0 && t >= sm->warmup)
            sm->warm_kb = kb;
        sm->end_kb = kb;
        struct timespec nap = {0, 200000000};
        nanosleep(&nap, NULL);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *url = NULL, *target = NULL, *store_path = NULL, *token_file = NULL;
    const char *path = "/v1/nodes";
    long pid = 0;
    size_t connections = 64;
    double seconds = 60, warmup = 10;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (strcmp(a, "--url") == 0)
            url = v;
        else if (strcmp(a, "--pid") == 0)
            pid = strtol(v, NULL, 10);
        else if (strcmp(a, "--target") == 0)
            target = v;
        else if (strcmp(a, "--store") == 0)
            store_path = v;
        else if (strcmp(a, "--token-file") == 0)
            token_file = v;
        else if (strcmp(a, "--path") == 0)
            path = v;
        else if (strcmp(a, "--connections") == 0)
            connections = (size_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--seconds") == 0)
            seconds = strtod(v, NULL);
        else if (strcmp(a, "--warmup") == 0)
            warmup = strtod(v, NULL);
        else
            die("unknown option (see the usage in bench/load_soak.c)");
    }
    if (!url || pid <= 0 || !target || connections < 1 || connections > HL_MAX_CONNECTIONS ||
        warmup >= seconds)
        die("--url, --pid and --target are required; 1 <= --connections <= 1024; warmup < "
            "seconds");
    static soak s;
    s.serve = strcmp(target, "serve") == 0;
    s.path = path;
    s.cs = calloc(connections, sizeof *s.cs);
    if (!s.cs)
        die("out of memory");
    if (s.serve) {
        if (!store_path)
            die("--target serve needs --store");
        ts_error err;
        ts_error_clear(&err);
        ts_store_options so = TS_STORE_OPTIONS_INIT;
        so.path = store_path;
        ts_store *st = ts_store_new(&so, &err);
        if (!st)
            die(err.msg);
        ts_store_bootstrap_params p = {0};
        p.subject = "load-soak";
        p.audience = "smd";
        p.scopes = "read";
        p.ttl_s = 3600;
        p.refresh_ttl_s = 86400;
        p.now = (int64_t)time(NULL);
        for (size_t i = 0; i < connections; i++) {
            s.cs[i].jwks = i % 4 == 3;
            if (!s.cs[i].jwks &&
                ts_store_bootstrap_create(st, &p, s.cs[i].bootstrap, NULL, &err) != TS_OK)
                die(err.msg);
        }
        ts_store_free(st);
    } else {
        FILE *f = token_file ? fopen(token_file, "r") : NULL;
        char tok[8000];
        if (!f || !fgets(tok, sizeof tok, f))
            die("--target service needs a readable --token-file");
        fclose(f);
        tok[strcspn(tok, "\r\n")] = '\0';
        snprintf(s.auth, sizeof s.auth, "Authorization: Bearer %s\r\n", tok);
    }

    ts_error err;
    ts_error_clear(&err);
    hl_options ho = {url, connections, 1};
    hl_client *c = hl_client_new(&ho, &err);
    if (!c)
        die(err.msg);
    static sampler sm;
    sm.pid = pid;
    sm.warmup = warmup;
    sm.seconds = seconds;
    sm.warm_kb = -1;
    sm.t0 = bench_now_s();
    pthread_t th;
    if (pthread_create(&th, NULL, sampler_main, &sm) != 0)
        die("pthread_create failed");
    hl_run run = {next_request, on_answer, &s, UINT64_MAX, seconds};
    hl_stats st;
    if (hl_client_run(c, &run, &st, &err) != TS_OK)
        die(err.msg);
    atomic_store(&sm.stop, true);
    pthread_join(th, NULL);
    sm.end_kb = bench_vm_rss_kb(pid);
    hl_client_free(c);

    size_t broken = 0;
    for (size_t i = 0; i < connections; i++)
        broken += s.cs[i].broken;
    bench_sort(st.lat_us, st.nlat);
    double p99 = bench_percentile(st.lat_us, st.nlat, 0.99) / 1000.0;
    double growth = sm.warm_kb > 0 ? (double)sm.end_kb / (double)sm.warm_kb : 0;
    printf("{\"case\":\"load\",\"target\":\"%s\",\"connections\":%zu,\"seconds\":%.1f,"
           "\"requests\":%llu,\"per_s\":%.1f,\"grants\":%llu,\"jwks\":%llu,\"status_2xx\":%llu,"
           "\"status_4xx\":%llu,\"status_5xx\":%llu,\"failed\":%llu,\"transport_errors\":%llu,"
           "\"broken_families\":%zu,\"p99_ms\":%.3f,\"rss_warm_kb\":%ld,\"rss_end_kb\":%ld,"
           "\"rss_max_kb\":%ld,\"rss_growth\":%.4f,\"warmup_s\":%.0f}\n",
           target, connections, st.seconds, (unsigned long long)(st.ok + st.failed),
           (double)st.ok / st.seconds, (unsigned long long)atomic_load(&s.grants),
           (unsigned long long)atomic_load(&s.jwks), (unsigned long long)atomic_load(&s.s2xx),
           (unsigned long long)atomic_load(&s.s4xx), (unsigned long long)atomic_load(&s.s5xx),
           (unsigned long long)st.failed, (unsigned long long)st.transport_errors, broken, p99,
           sm.warm_kb, sm.end_kb, sm.max_kb, growth, warmup);
    free(st.lat_us);
    free(s.cs);
    bool ok = atomic_load(&s.s5xx) == 0 && st.failed == 0 && st.transport_errors == 0 &&
              growth > 0 && growth < 1.05;
    fprintf(stderr, "load_soak: %s: %s\n", target, ok ? "ok" : "FAILED");
    return ok ? 0 : 3;
}
