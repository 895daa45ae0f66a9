/* service_bench's libcurl client (--client curl), kept for comparison with http_load: one
 * thread and one easy handle per connection, the same hl_run callbacks and hl_stats results. */
#define _POSIX_C_SOURCE 200809L

#include "service_bench.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "procfs.h"

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

struct curl_client {
    char token_url[512], health_url[512];
    curl_conn *conns;
    size_t n;
    const hl_run *run;
    double deadline;
    _Atomic uint64_t sent;
};

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
                sb_die("out of memory");
            k->lat = nl;
            k->cap = cap;
        }
        k->lat[k->nlat++] = (t1 - t0) * 1e6;
    }
    return NULL;
}

curl_client *sb_curl_client_new(const char *url, size_t n)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        sb_die("curl_global_init failed");
    curl_client *cc = calloc(1, sizeof *cc);
    if (!cc || !(cc->conns = calloc(n, sizeof *cc->conns)))
        sb_die("out of memory");
    snprintf(cc->token_url, sizeof cc->token_url, "%s/oauth/token", url);
    snprintf(cc->health_url, sizeof cc->health_url, "%s/health", url);
    cc->n = n;
    for (size_t i = 0; i < n; i++) {
        curl_conn *k = &cc->conns[i];
        k->cc = cc;
        k->id = i;
        k->curl = curl_easy_init();
        if (!k->curl)
            sb_die("curl_easy_init failed");
        curl_easy_setopt(k->curl, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(k->curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(k->curl, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(k->curl, CURLOPT_TIMEOUT, (long)HL_TIMEOUT_S);
        curl_easy_setopt(k->curl, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(k->curl, CURLOPT_WRITEDATA, k);
    }
    return cc;
}

void sb_curl_client_free(curl_client *cc)
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

void sb_curl_client_run(curl_client *cc, const hl_run *r, hl_stats *out)
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
            sb_die("pthread_create failed");
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
        sb_die("out of memory");
    for (size_t i = 0; i < cc->n; i++) {
        memcpy(out->lat_us + out->nlat, cc->conns[i].lat, cc->conns[i].nlat * sizeof(double));
        out->nlat += cc->conns[i].nlat;
    }
}
