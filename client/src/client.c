/* The client's life cycle (new, free), its clock, its log, its statistics and the test hook. */
#define _GNU_SOURCE
#include "client_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/http_client.h"

int64_t ts_client__now_ms(const ts_client *c)
{
    if (c->cfg.clock_ms)
        return c->cfg.clock_ms(c->cfg.clock_ud);
    /* The coarse clock (a tick, a few ms) is read without a system call or a TSC read: it is
     * on every cache hit, and renewal times are seconds apart. */
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void ts_client__log(const ts_client *c, ts_client_log_level level, const char *fmt, ...)
{
    if (!c->cfg.log || level < c->cfg.log_level)
        return;
    /* Every line starts with the token endpoint (as ts_client__url_for_log() gives it), so
     * that a program with several clients (the agent's sources) can tell their lines apart. */
    char msg[768];
    int n = snprintf(msg, sizeof msg, "%s: ", c->cfg.log_endpoint);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof msg)
        vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    /* One printable line whatever a server put into a message it quoted. */
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = '?';
    c->cfg.log(level, msg, c->cfg.log_ud);
}

void ts_client__set_step_hook(ts_client *c, void (*fn)(int step, void *ud), void *ud)
{
    c->step_hook = fn;
    c->step_ud = ud;
}

static void destroy(ts_client *c)
{
    ts_client__holder_cleanup(&c->holder);
    ts_client__state_cleanup(&c->fam);
    if (c->lock_fd >= 0)
        close(c->lock_fd);
    ts_client__config_cleanup(&c->cfg);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

ts_client *ts_client_new(const ts_client_options *opt, ts_error *err)
{
    /* Aligned so that the holder's stripes and the hot fields each own their cache lines. */
    size_t size = (sizeof(ts_client) + 63) / 64 * 64;
    ts_client *c = aligned_alloc(64, size);
    if (!c) {
        ts_error_set(err, TS_ENOMEM, "ts_client_new", "out of memory");
        return NULL;
    }
    memset(c, 0, sizeof *c);
    c->lock_fd = -1;
    ts_client__holder_init(&c->holder);
    atomic_init(&c->ahead_at_ms, 0);
    atomic_init(&c->stop_http, false);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_mutex_init(&c->mu, NULL);
    if (rc == 0 && (rc = pthread_cond_init(&c->cv, &ca)) != 0)
        pthread_mutex_destroy(&c->mu);
    pthread_condattr_destroy(&ca);
    if (rc != 0) {
        free(c);
        ts_error_set(err, TS_ENOMEM, "ts_client_new", "cannot create a lock");
        return NULL;
    }
    if (ts_client__config_copy(opt, &c->cfg, err) != TS_OK) {
        destroy(c);
        return NULL;
    }
    /* Jitter must differ between processes started together: the kernel's randomness, or
     * failing that the clock and the pid. */
    if (getrandom(&c->rng, sizeof c->rng, GRND_NONBLOCK) != (ssize_t)sizeof c->rng)
        c->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)c;
    if (ts_common__http_init(err) != TS_OK || ts_client__family_open(c, err) != TS_OK ||
        (c->cfg.background && ts_client__worker_start(c, err) != TS_OK)) {
        destroy(c);
        return NULL;
    }
    ts_client__log(c, TS_CLIENT_LOG_DEBUG, "client ready (%s grant)",
                   ts_client_grant_name(c->cfg.grant));
    return c;
}

void ts_client_free(ts_client *c)
{
    if (!c)
        return;
    ts_client__worker_stop(c);
    destroy(c);
}

void ts_client_stats_get(ts_client *c, ts_client_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!c)
        return;
    int64_t now = ts_client__now_ms(c);
    pthread_mutex_lock(&c->mu);
    ts_client__guard g;
    const ts_client__snap *s = ts_client__read_begin(&c->holder, &g);
    if (s) {
        out->generation = s->generation;
        out->expires_at = s->expires_at;
    }
    ts_client__read_end(&c->holder, &g);
    out->refresh_expires_at = c->refresh_expires_at;
    out->has_refresh_token = c->has_refresh;
    out->tokens = c->n_tokens;
    out->failures = c->n_failures;
    out->consecutive_failures = c->failures;
    out->last_success_at = c->last_success_at;
    out->last_failure_at = c->last_failure_at;
    if (c->last_failed && c->next_attempt_ms > now)
        out->next_attempt_in_ms = c->next_attempt_ms - now;
    pthread_mutex_unlock(&c->mu);
}
