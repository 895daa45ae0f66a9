/* service_bench's phases: what each connection sends (health checks, bootstrap exchanges,
 * refresh rotations), running a phase on either client with the server's and the client's CPU
 * time, its JSON report line, and the sampler of the server's memory during the soak. */
#define _POSIX_C_SOURCE 200809L

#include "service_bench.h"

#include <pthread.h>
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

/* The servers' CPU time so far (summed), -1 when one is unreadable. */
static double servers_cpu_s(const bench *b)
{
    double sum = 0;
    for (size_t i = 0; i < b->npids; i++) {
        double c = sb_proc_cpu_s(b->pids[i]);
        if (c < 0)
            return -1;
        sum += c;
    }
    return sum;
}

/* One epoll client's share of a phase, run on its own thread when there are several servers:
 * its connections are the families [off, off + n) of the phase's load. */
typedef struct share {
    hl_client *hl;
    load sub;
    hl_run run;
    hl_stats st;
    ts_status rc;
    ts_error err;
    pthread_t th;
} share;

static void *share_main(void *arg)
{
    share *sh = arg;
    sh->rc = hl_client_run(sh->hl, &sh->run, &sh->st, &sh->err);
    return NULL;
}

/* Run the epoll clients (one per server) at once and merge their counts and latencies. */
static void run_epoll(client *cl, load *l, uint64_t max_requests, double max_seconds, hl_stats *out)
{
    share sh[SB_MAX_SERVERS];
    size_t off = 0, nc = l->nfams, k = cl->nhl;
    for (size_t i = 0; i < k; i++) {
        size_t n = nc / k + (i < nc % k);
        sh[i] = (share){0};
        sh[i].hl = cl->hl[i];
        sh[i].sub.b = l->b;
        sh[i].sub.mode = l->mode;
        sh[i].sub.fams = l->fams + off;
        sh[i].sub.nfams = n;
        /* The request budget is split like the connections (at least one each). */
        uint64_t budget = max_requests / k + (i < max_requests % k);
        sh[i].run = (hl_run){next_request, on_answer, &sh[i].sub, budget ? budget : 1, max_seconds};
        off += n;
    }
    for (size_t i = 1; i < k; i++)
        if (pthread_create(&sh[i].th, NULL, share_main, &sh[i]) != 0)
            sb_die("pthread_create failed");
    share_main(&sh[0]);
    for (size_t i = 1; i < k; i++)
        pthread_join(sh[i].th, NULL);
    *out = (hl_stats){0};
    size_t total = 0;
    for (size_t i = 0; i < k; i++) {
        if (sh[i].rc != TS_OK) {
            fprintf(stderr, "service_bench: %s\n", sh[i].err.msg);
            exit(1);
        }
        total += sh[i].st.nlat;
    }
    out->lat_us = malloc((total + 1) * sizeof *out->lat_us);
    if (!out->lat_us)
        sb_die("out of memory");
    for (size_t i = 0; i < k; i++) {
        const hl_stats *s = &sh[i].st;
        out->ok += s->ok;
        out->failed += s->failed;
        out->transport_errors += s->transport_errors;
        out->reconnects += s->reconnects;
        if (s->seconds > out->seconds)
            out->seconds = s->seconds;
        memcpy(out->lat_us + out->nlat, s->lat_us, s->nlat * sizeof *s->lat_us);
        out->nlat += s->nlat;
        free(s->lat_us);
    }
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
    hl_stats st;
    double cpu0 = servers_cpu_s(b), self0 = bench_self_cpu_s();
    double db0 = b->db_pid > 0 ? sb_cluster_cpu_s(b->db_pid) : -1;
    if (cl->nhl > 0) {
        run_epoll(cl, l, max_requests, max_seconds, &st);
    } else {
        hl_run run = {next_request, on_answer, l, max_requests, max_seconds};
        sb_curl_client_run(cl->curl, &run, &st);
    }
    phase_result r = {0};
    r.server_cpu_s = servers_cpu_s(b) - cpu0;
    r.client_cpu_s = bench_self_cpu_s() - self0;
    r.db_cpu_s = db0 >= 0 ? sb_cluster_cpu_s(b->db_pid) - db0 : -1;
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
           "\"max_ms\":%.3f,\"server_cpu_us_per_req\":%.1f,\"client_cpu_us_per_req\":%.1f",
           name, b->alg, cl->name, cl->connections, cl->connections, cl->threads,
           (unsigned long long)r->ok, (unsigned long long)r->errors,
           (unsigned long long)r->transport_errors, (unsigned long long)r->reconnects, r->seconds,
           r->per_s, r->p50_ms, r->p99_ms, r->max_ms, r->server_cpu_s * per, r->client_cpu_s * per);
    /* Only runs over several servers or with a database report these, so the lines of a
     * single-server SQLite run keep their former fields. */
    if (b->npids > 1)
        printf(",\"servers\":%zu", b->npids);
    if (r->db_cpu_s >= 0)
        printf(",\"db_cpu_us_per_req\":%.1f", r->db_cpu_s * per);
    printf("}\n");
    fflush(stdout);
    fprintf(stderr,
            "service_bench: %s %s (%s, %zu conn, %zu server%s): %llu ok, %llu errors, %llu "
            "transport errors, %.0f/s, p50 %.2f ms, p99 %.2f ms, CPU/req server %.1f us, client "
            "%.1f us, database %.1f us (-1: not measured)\n",
            b->alg, name, cl->name, cl->connections, b->npids, b->npids == 1 ? "" : "s",
            (unsigned long long)r->ok, (unsigned long long)r->errors,
            (unsigned long long)r->transport_errors, r->per_s, r->p50_ms, r->p99_ms,
            r->server_cpu_s * per, r->client_cpu_s * per,
            r->db_cpu_s >= 0 ? r->db_cpu_s * per : -1.0);
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
