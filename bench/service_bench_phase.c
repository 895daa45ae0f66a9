/* service_bench's phases: what each connection sends (health checks, bootstrap exchanges,
 * refresh rotations), running a phase on either client with the server's and the client's CPU
 * time, its JSON report line, and the sampler of the server's memory during the soak. */
#define _POSIX_C_SOURCE 200809L

#include "service_bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "procfs.h"
#include "stats.h"

#define GRANT_EXCHANGE "urn:ietf:params:oauth:grant-type:token-exchange"
#define TYPE_BOOTSTRAP "urn:openchami:params:oauth:token-type:bootstrap-token"
#define FORM "application/x-www-form-urlencoded"

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
/* What each connection sends                                                                */
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
/* Phases                                                                                    */

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
phase_result sb_run_phase(bench *b, client *cl, load *l, enum mode mode, const token_buf *tokens,
                          size_t ntokens, uint64_t max_requests, double max_seconds)
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
        sb_curl_client_run(cl->curl, &run, &st);
    }
    phase_result r = {0};
    r.server_cpu_s = read_cpu_s(b->pid) - cpu0;
    r.client_cpu_s = self_cpu_s() - self0;
    r.seconds = st.seconds;
    r.errors = st.failed;
    r.transport_errors = st.transport_errors;
    r.reconnects = st.reconnects;
    bench_sort(st.lat_us, st.nlat);
    r.ok = st.nlat;
    r.per_s = (double)st.nlat / r.seconds;
    r.p50_ms = bench_percentile(st.lat_us, st.nlat, 0.50) / 1000.0;
    r.p99_ms = bench_percentile(st.lat_us, st.nlat, 0.99) / 1000.0;
    r.max_ms = st.nlat ? st.lat_us[st.nlat - 1] / 1000.0 : 0;
    free(st.lat_us);
    return r;
}

void sb_print_phase(const bench *b, const client *cl, const char *name, const phase_result *r)
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
void *sb_sampler_main(void *arg)
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
