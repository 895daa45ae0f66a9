/*
 * tokensmith policy sync: follow a bundle document at a URL (written by `policy bundle`) and
 * install each new one into a policy directory, for nodes without a shared file system. It
 * polls like a JWKS client (ETag, If-None-Match), checks every document with the authz loader
 * before a service can see it (policy_install.c) and swaps it in as a ConfigMap volume is
 * swapped, so the services watching the directory apply it as one snapshot. A failed poll
 * changes nothing and is tried again sooner (1 s, 2 s, 4 s ... up to the interval).
 */
#define _GNU_SOURCE /* strncasecmp, rand_r */

#include "cli.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/file.h"
#include "common/http_client.h"
#include "common/http_url.h"
#include "common/json_writer.h"
#include "policy_bundle_doc.h"
#include "policy_install.h"

/* Exit status of --once when the document could not be had (as `policy fleet` uses 3). */
#define SYNC_UNREACHABLE 3
#define SYNC_MAX_ETAG 256

typedef struct syncer {
    const char *url, *dir, *ca_file, *expect;
    char shown_url[512]; /* without credentials or query, for the log */
    unsigned timeout_ms;
    size_t max_bytes;
    bool plain_http;
    char etag[SYNC_MAX_ETAG];                        /* of the document installed */
    char installed[TS_AUTHZ_POLICY_VERSION_LEN + 1]; /* "" when none */
    atomic_bool stop;                                /* SIGTERM, SIGINT */
    bool poke;                                       /* SIGHUP; under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
} syncer;

/* What one poll came to: one log line. */
typedef struct poll_result {
    long status; /* 0: no response */
    const char *outcome;
    char version[TS_AUTHZ_POLICY_VERSION_LEN + 1];
    size_t files;
    bool parsed;
    char error[400];
    int rc; /* for --once */
} poll_result;

/* The response's ETag, kept only when it can be sent back as it is. */
static void on_header(const char *line, size_t len, void *ud)
{
    char *etag = ud;
    if (len < 5 || strncasecmp(line, "etag:", 5) != 0)
        return;
    const char *v = line + 5;
    size_t n = len - 5;
    while (n > 0 && (*v == ' ' || *v == '\t'))
        v++, n--;
    while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
        n--;
    etag[0] = '\0';
    if (n == 0 || n >= SYNC_MAX_ETAG)
        return;
    for (size_t i = 0; i < n; i++)
        if (v[i] < 0x21 || v[i] > 0x7e)
            return;
    memcpy(etag, v, n);
    etag[n] = '\0';
}

static void log_result(const syncer *s, const poll_result *r, const char *previous)
{
    ts_common__json w;
    ts_common__json_init(&w, TS_COMMON__JSON_ASCII);
    ts_common__json_open(&w);
    ts_common__json_kstr(&w, "event", "policy.sync");
    ts_common__json_kstr(&w, "url", s->shown_url);
    if (r->status)
        ts_common__json_kint(&w, "status", r->status);
    ts_common__json_kstr(&w, "outcome", r->outcome);
    if (r->version[0])
        ts_common__json_kstr(&w, "policy_version", r->version);
    if (previous[0])
        ts_common__json_kstr(&w, "previous_policy_version", previous);
    if (r->parsed)
        ts_common__json_kuint(&w, "files", r->files);
    if (r->error[0])
        ts_common__json_kstr(&w, "error", r->error);
    ts_common__json_close(&w);
    if (!w.oom)
        fprintf(stderr, "%s\n", w.ptr);
    fflush(stderr);
    ts_common__json_cleanup(&w);
}

/* A 200 answer: parse, verify, install. */
static void take_document(syncer *s, const char *body, size_t len, const char *etag, poll_result *r)
{
    ts_cli_bundle_doc doc;
    ts_error err;
    ts_error_clear(&err);
    if (ts_cli_bundle_doc_parse(body, len, s->max_bytes, &doc, &err) != TS_OK) {
        r->outcome = "refused", r->rc = TS_CLI_FAIL;
        ts_cli_format_error(&err, r->error, sizeof r->error);
        return;
    }
    r->parsed = true;
    r->files = doc.n_files;
    memcpy(r->version, doc.policy_version, sizeof r->version);
    switch (ts_cli_install(s->dir, &doc, s->installed, s->expect, &err)) {
    case TS_CLI_INSTALL_DONE:
        memcpy(s->installed, doc.policy_version, sizeof s->installed);
        r->outcome = "installed", r->rc = TS_CLI_OK;
        snprintf(s->etag, sizeof s->etag, "%s", etag);
        break;
    case TS_CLI_INSTALL_UNCHANGED:
        r->outcome = "unchanged", r->rc = TS_CLI_OK;
        snprintf(s->etag, sizeof s->etag, "%s", etag);
        break;
    case TS_CLI_INSTALL_REFUSED:
        r->outcome = "refused", r->rc = TS_CLI_FAIL;
        ts_cli_format_error(&err, r->error, sizeof r->error);
        break;
    case TS_CLI_INSTALL_FAILED:
        r->outcome = "failed", r->rc = TS_CLI_FAIL;
        ts_cli_format_error(&err, r->error, sizeof r->error);
        break;
    }
    ts_cli_bundle_doc_cleanup(&doc);
}

/* One poll, logged. @return its --once exit status. */
static int poll_once(syncer *s)
{
    char inm[SYNC_MAX_ETAG + 16], etag[SYNC_MAX_ETAG] = "";
    char previous[TS_AUTHZ_POLICY_VERSION_LEN + 1];
    const char *headers[2] = {"Accept: application/json", inm};
    snprintf(inm, sizeof inm, "If-None-Match: %s", s->etag);
    memcpy(previous, s->installed, sizeof previous);
    ts_common__http_req rq = {0};
    rq.url = s->url;
    rq.headers = headers;
    rq.n_headers = s->etag[0] ? 2 : 1;
    rq.timeout_ms = s->timeout_ms;
    rq.max_body = s->max_bytes;
    rq.allow_plain_http = s->plain_http;
    rq.stop = &s->stop;
    rq.on_header = on_header;
    rq.header_ud = etag;
    rq.label = "policy bundle download";
    rq.body_label = "policy bundle document";
    rq.ca_file = s->ca_file;
    poll_result r = {0};
    char *body = NULL;
    size_t len = 0;
    ts_error err;
    ts_error_clear(&err);
    ts_status st = ts_common__http(&rq, &r.status, &body, &len, &err);
    if (st != TS_OK) {
        /* Too large is the document's fault, not the network's. */
        bool big = st == TS_ELIMIT;
        r.outcome = big ? "refused" : "failed";
        r.rc = big ? TS_CLI_FAIL : SYNC_UNREACHABLE;
        ts_cli_format_error(&err, r.error, sizeof r.error);
    } else if (r.status == 304) {
        r.outcome = "unchanged", r.rc = TS_CLI_OK;
        memcpy(r.version, s->installed, sizeof r.version);
    } else if (r.status != 200) {
        r.outcome = "failed", r.rc = SYNC_UNREACHABLE;
        snprintf(r.error, sizeof r.error, "HTTP status %ld", r.status);
    } else {
        take_document(s, body, len, etag, &r);
    }
    free(body);
    if (!atomic_load(&s->stop)) /* a download stopped by SIGTERM is no outcome to report */
        log_result(s, &r, previous);
    return r.rc;
}

/* ---- the loop ------------------------------------------------------------------------------ */

/* The signals the loop takes synchronously: SIGTERM and SIGINT stop (a download in flight
 * too, through the HTTP client's stop flag), SIGHUP polls at once. */
static sigset_t loop_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    return set;
}

static void *signal_thread(void *arg)
{
    syncer *s = arg;
    sigset_t set = loop_signals();
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        pthread_mutex_lock(&s->mu);
        if (sig == SIGHUP)
            s->poke = true;
        else
            atomic_store(&s->stop, true);
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        if (sig != SIGHUP)
            return NULL;
    }
}

/* The next poll's delay: the interval, or 2^failures seconds while that is shorter, with
 * +-10% jitter so that nodes restarted together drift apart. */
static int64_t next_delay_ms(int64_t interval_s, unsigned failures, unsigned *seed)
{
    int64_t base = interval_s;
    if (failures > 0 && failures < 31 && ((int64_t)1 << failures) < interval_s)
        base = (int64_t)1 << failures;
    return base * (900 + rand_r(seed) % 201);
}

static void wait_for(syncer *s, int64_t ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)(ms / 1000);
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L)
        until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&s->mu);
    while (!atomic_load(&s->stop) && !s->poke)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &until) == ETIMEDOUT)
            break;
    s->poke = false;
    pthread_mutex_unlock(&s->mu);
}

static int run_loop(syncer *s, int64_t interval_s)
{
    /* Blocked before the signal thread exists, so that only its sigwait() takes them. */
    sigset_t set = loop_signals();
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pthread_t th;
    if (pthread_create(&th, NULL, signal_thread, s) != 0) {
        fprintf(stderr, "tokensmith: policy sync: cannot start a thread\n");
        return TS_CLI_FAIL;
    }
    unsigned seed = (unsigned)time(NULL) ^ ((unsigned)getpid() << 16);
    unsigned failures = 0;
    while (!atomic_load(&s->stop)) {
        int rc = poll_once(s);
        failures = rc == TS_CLI_OK ? 0 : failures + 1;
        if (!atomic_load(&s->stop))
            wait_for(s, next_delay_ms(interval_s, failures, &seed));
    }
    pthread_join(th, NULL);
    return TS_CLI_OK;
}

static int run_policy_sync(const ts_cli_args *a)
{
    syncer s = {0};
    s.url = ts_cli_get(a, F_SYNC_URL);
    s.dir = ts_cli_get(a, F_SYNC_DIR);
    s.ca_file = ts_cli_get(a, F_CACERT);
    s.expect = ts_cli_get(a, F_SYNC_EXPECT);
    s.ca_file = s.ca_file && *s.ca_file ? s.ca_file : NULL;
    s.expect = s.expect && *s.expect ? s.expect : NULL;
    s.timeout_ms = (unsigned)ts_cli_num(a, F_SYNC_TIMEOUT) * 1000u;
    s.max_bytes = (size_t)ts_cli_num(a, F_SYNC_MAX_BYTES);
    s.plain_http = ts_cli_bool(a, F_SYNC_PLAIN_HTTP);
    if (!s.url || !*s.url || !s.dir || !*s.dir)
        return ts_cli_usage_error(a->cmd, "--url and --dir are required");
    if (!ts_common__http_url_allowed(s.url, s.plain_http))
        return ts_cli_usage_error(a->cmd, "--url must be https:// (http:// only on loopback, "
                                          "or with --allow-plain-http)");
    if (s.expect && !ts_cli_bundle_version_ok(s.expect, strlen(s.expect)))
        return ts_cli_usage_error(a->cmd, "--expect: a policy_version is 64 lowercase hex "
                                          "characters (tokensmith policy version prints one)");
    ts_common__http_url_where(s.url, s.shown_url, sizeof s.shown_url);
    ts_error err;
    ts_error_clear(&err);
    if (ts_common__mkdir_one(s.dir, 0755, &err) != TS_OK) {
        ts_cli_report("policy sync", &err);
        return TS_CLI_FAIL;
    }
    int lock = ts_cli_install_lock(s.dir, &err);
    if (lock < 0) {
        ts_cli_report("policy sync", &err);
        return TS_CLI_FAIL;
    }
    ts_cli_install_current(s.dir, s.installed);
    atomic_init(&s.stop, false);
    pthread_mutex_init(&s.mu, NULL);
    /* The waits between polls are measured on the monotonic clock: a wall clock set back by
     * an hour must not hold the next poll for an hour. */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s.cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc =
        ts_cli_bool(a, F_SYNC_ONCE) ? poll_once(&s) : run_loop(&s, ts_cli_num(a, F_SYNC_INTERVAL));
    pthread_cond_destroy(&s.cv);
    pthread_mutex_destroy(&s.mu);
    close(lock);
    return rc;
}

static const ts_cli_use sync_uses[] = {
    {F_SYNC_URL, TS_CLI_REQUIRED},
    {F_SYNC_DIR, TS_CLI_REQUIRED},
    {F_SYNC_INTERVAL, 0},
    {F_SYNC_ONCE, 0},
    {F_SYNC_TIMEOUT, 0},
    {F_SYNC_MAX_BYTES, 0},
    {F_CACERT, 0},
    {F_SYNC_EXPECT, 0},
    {F_SYNC_PLAIN_HTTP, 0},
    {F_COUNT, 0},
};

const ts_cli_command ts_cli_cmd_policy_sync = {
    .name = "policy sync",
    .summary = "install the policy published by `policy bundle` at a URL, and follow it",
    .about = "Poll --url (If-None-Match with the last ETag) for a bundle document and install\n"
             "each new one into --dir: its files are staged in DIR/..<time>.<random>, loaded back\n"
             "with the authz loader (the document's policy_version must be what its files give,\n"
             "every rule must fit the model, --expect must match), then DIR/..data is swapped to\n"
             "them in one rename, with one link DIR/<name> -> ..data/<name> per file, as in a\n"
             "Kubernetes ConfigMap volume. Services watching DIR apply the new policy as one\n"
             "snapshot. A failed or refused poll changes nothing and is logged; the next comes\n"
             "after min(interval, 2^failures s). One JSON line per poll on standard error. One\n"
             "sync per DIR (flock on DIR/..sync.lock).",
    .after = "SIGHUP polls at once; SIGTERM or SIGINT stops (a download in flight too).\n"
             "Exit status: 0 stopped, or with --once installed or unchanged; 1 a refused\n"
             "document (--once), a local error, or another sync holds DIR; 2 usage error;\n"
             "3 with --once, the document could not be fetched (no connection, timeout, an\n"
             "HTTP status other than 200 and 304).",
    .uses = sync_uses,
    .run = run_policy_sync,
};
