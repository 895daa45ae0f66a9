/*
 * tls_bench: one load phase against a running `tokensmith serve` over http or https, for
 * bench/run_tls.sh (which starts the servers and runs every case). Kinds:
 *   health   GET /health;
 *   refresh  refresh grants: each connection first exchanges one bootstrap token (created
 *            directly in the server's store, before the timed phase), then rotates its own
 *            refresh family (every answer carries the next token);
 *   session  POST /service-identity/session with the client certificate (mTLS).
 * Modes (http_load.h): keepalive, full (a new connection and a full TLS handshake per
 * request), resumed (a new connection per request resuming the last session's ticket).
 * Every phase starts after a warm-up of one second (connections, handshakes, tickets), is
 * bounded by time and prints one JSON line on stdout: rate, latency, the server's and this
 * client's CPU time per request, TLS handshakes and resumptions.
 *
 * usage: tls_bench --url URL --case NAME --kind health|refresh|session
 *                  [--mode keepalive|full|resumed] [--ca FILE] [--cert FILE --key FILE]
 *                  [--store FILE] [--pid PID] [--connections N] [--client-threads N]
 *                  [--seconds S]
 */
#define _POSIX_C_SOURCE 200809L

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tokensmith/store.h>

#include "http_load.h"
#include "procfs.h"
#include "stats.h"

#define GRANT_EXCHANGE "urn:ietf:params:oauth:grant-type:token-exchange"
#define TYPE_BOOTSTRAP "urn:openchami:params:oauth:token-type:bootstrap-token"
#define FORM "application/x-www-form-urlencoded"

enum kind { K_HEALTH, K_REFRESH, K_SESSION };

typedef struct family {
    char token[TS_STORE_TOKEN_LEN + 1]; /* the bootstrap token, then the current refresh */
    bool first;                         /* the bootstrap exchange is still due */
    bool broken;
    char body[512];
} family;

typedef struct load {
    enum kind kind;
    family *fams;
    _Atomic unsigned logged;
} load;

static void die(const char *what)
{
    fprintf(stderr, "tls_bench: %s\n", what);
    exit(1);
}

static int take_refresh(const char *body, size_t len, char *out)
{
    static const char key[] = "\"refresh_token\":\"";
    const size_t kl = sizeof key - 1;
    for (size_t i = 0; i + kl + TS_STORE_TOKEN_LEN + 1 <= len; i++) {
        if (memcmp(body + i, key, kl) != 0)
            continue;
        if (body[i + kl + TS_STORE_TOKEN_LEN] != '"')
            return -1;
        memcpy(out, body + i + kl, TS_STORE_TOKEN_LEN);
        out[TS_STORE_TOKEN_LEN] = '\0';
        return 0;
    }
    return -1;
}

static bool next_request(void *ud, size_t conn, hl_request *rq)
{
    load *l = ud;
    family *f = &l->fams[conn];
    if (l->kind == K_HEALTH) {
        rq->method = "GET";
        rq->path = "/health";
        return true;
    }
    rq->method = "POST";
    if (l->kind == K_SESSION) {
        rq->path = "/service-identity/session";
        return true;
    }
    if (f->broken)
        return false;
    int n = f->first ? snprintf(f->body, sizeof f->body,
                                "grant_type=%s&subject_token_type=%s&subject_token=%s",
                                GRANT_EXCHANGE, TYPE_BOOTSTRAP, f->token)
                     : snprintf(f->body, sizeof f->body,
                                "grant_type=refresh_token&refresh_token=%s", f->token);
    if (n < 0 || (size_t)n >= sizeof f->body)
        return false;
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
    bool ok = r && r->status == 200 && !r->truncated;
    if (ok && l->kind == K_REFRESH && take_refresh(r->body, r->body_len, f->token) != 0)
        ok = false;
    if (ok && l->kind == K_REFRESH)
        f->first = false;
    if (!ok) {
        if (l->kind == K_REFRESH)
            f->broken = true; /* a lost or refused rotation may have revoked the family */
        if (atomic_fetch_add(&l->logged, 1) < 3) {
            if (r)
                fprintf(stderr, "tls_bench: connection %zu: HTTP %d: %.*s\n", conn, r->status,
                        (int)(r->body_len < 200 ? r->body_len : 200), r->body);
            else
                fprintf(stderr, "tls_bench: connection %zu: transport error\n", conn);
        }
    }
    return ok;
}

static void create_tokens(const char *store_path, family *fams, size_t n)
{
    ts_store_options opt = TS_STORE_OPTIONS_INIT;
    opt.path = store_path;
    opt.max_connections = 1;
    opt.synchronous = TS_STORE_SYNC_NORMAL; /* the preparation only; the server keeps FULL */
    ts_error err = {0};
    ts_store *s = ts_store_new(&opt, &err);
    if (!s)
        die(err.msg);
    ts_store_bootstrap_params p = {0};
    p.subject = "svc-bench";
    p.audience = "smd";
    p.scopes = "read,write";
    p.ttl_s = 3600;
    p.refresh_ttl_s = 86400;
    p.now = (int64_t)time(NULL);
    for (size_t i = 0; i < n; i++) {
        if (ts_store_bootstrap_create(s, &p, fams[i].token, NULL, &err) != TS_OK)
            die(err.msg);
        fams[i].first = true;
    }
    ts_store_free(s);
}

static void usage(void)
{
    fprintf(stderr, "usage: tls_bench --url URL --case NAME --kind health|refresh|session "
                    "[--mode keepalive|full|resumed] [--ca FILE] [--cert FILE --key FILE] "
                    "[--store FILE] [--pid PID] [--connections N] [--client-threads N] "
                    "[--seconds S]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *url = NULL, *name = NULL, *kind_s = NULL, *mode_s = "keepalive", *store = NULL;
    hl_options ho = {NULL, 0, 0};
    hl_tls_options to = {HL_KEEP_ALIVE, NULL, NULL, NULL};
    long pid = 0;
    size_t connections = 16;
    unsigned threads = 1;
    double seconds = 5;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        if (strcmp(a, "--url") == 0)
            url = v;
        else if (strcmp(a, "--case") == 0)
            name = v;
        else if (strcmp(a, "--kind") == 0)
            kind_s = v;
        else if (strcmp(a, "--mode") == 0)
            mode_s = v;
        else if (strcmp(a, "--ca") == 0)
            to.ca_file = v;
        else if (strcmp(a, "--cert") == 0)
            to.cert_file = v;
        else if (strcmp(a, "--key") == 0)
            to.key_file = v;
        else if (strcmp(a, "--store") == 0)
            store = v;
        else if (strcmp(a, "--pid") == 0)
            pid = strtol(v, NULL, 10);
        else if (strcmp(a, "--connections") == 0)
            connections = strtoul(v, NULL, 10);
        else if (strcmp(a, "--client-threads") == 0)
            threads = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--seconds") == 0)
            seconds = strtod(v, NULL);
        else
            usage();
        i++;
    }
    if (!url || !name || !kind_s || seconds <= 0)
        usage();
    load l = {0};
    if (strcmp(kind_s, "health") == 0)
        l.kind = K_HEALTH;
    else if (strcmp(kind_s, "refresh") == 0 && store)
        l.kind = K_REFRESH;
    else if (strcmp(kind_s, "session") == 0)
        l.kind = K_SESSION;
    else
        usage();
    if (strcmp(mode_s, "keepalive") == 0)
        to.mode = HL_KEEP_ALIVE;
    else if (strcmp(mode_s, "full") == 0)
        to.mode = HL_NEW_CONNECTION;
    else if (strcmp(mode_s, "resumed") == 0)
        to.mode = HL_NEW_RESUMED;
    else
        usage();
    ho.url = url;
    ho.connections = connections;
    ho.threads = threads;
    ts_error err = {0};
    hl_client *c = hl_client_new_tls(&ho, &to, &err);
    if (!c)
        die(err.msg);
    l.fams = calloc(connections, sizeof *l.fams);
    if (!l.fams)
        die("out of memory");
    if (l.kind == K_REFRESH)
        create_tokens(store, l.fams, connections);
    /* Warm-up: connections, handshakes, tickets, the refresh families' first exchange. */
    hl_run run = {next_request, on_answer, &l, UINT64_MAX, 1.0};
    hl_stats st;
    if (hl_client_run(c, &run, &st, &err) != TS_OK)
        die(err.msg);
    free(st.lat_us);
    run.max_seconds = seconds;
    double cpu0 = pid ? bench_proc_cpu_s(pid) : 0, self0 = bench_self_cpu_s();
    if (hl_client_run(c, &run, &st, &err) != TS_OK)
        die(err.msg);
    double server_cpu = pid ? bench_proc_cpu_s(pid) - cpu0 : -1;
    double client_cpu = bench_self_cpu_s() - self0;
    bench_sort(st.lat_us, st.nlat);
    double done = (double)(st.ok ? st.ok : 1);
    printf("{\"case\":\"%s\",\"kind\":\"%s\",\"mode\":\"%s\",\"https\":%s,\"connections\":%zu,"
           "\"ok\":%llu,\"errors\":%llu,\"transport_errors\":%llu,\"seconds\":%.3f,"
           "\"per_s\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"handshakes\":%llu,"
           "\"resumed\":%llu,\"server_cpu_us\":%.1f,\"client_cpu_us\":%.1f}\n",
           name, kind_s, mode_s, strncmp(url, "https:", 6) == 0 ? "true" : "false", connections,
           (unsigned long long)st.ok, (unsigned long long)st.failed,
           (unsigned long long)st.transport_errors, st.seconds, (double)st.ok / st.seconds,
           bench_percentile(st.lat_us, st.nlat, 0.50) / 1e3,
           bench_percentile(st.lat_us, st.nlat, 0.99) / 1e3, (unsigned long long)st.handshakes,
           (unsigned long long)st.resumed, server_cpu < 0 ? -1.0 : server_cpu * 1e6 / done,
           client_cpu * 1e6 / done);
    free(st.lat_us);
    free(l.fams);
    hl_client_free(c);
    return st.ok > 0 ? 0 : 1;
}
