/* The background renewal thread (background_refresh): it sleeps until the token's renewal
 * time (or the end of a backoff), renews through the same single flight as the callers, and
 * wakes early when the token is invalidated or flushed, or the client is freed. It fetches the
 * first token at once. */
#define _POSIX_C_SOURCE 200809L
#include "client_internal.h"

#include <errno.h>
#include <time.h>

/* Longest single sleep: a clock hook that jumps is noticed within it. */
#define MAX_SLEEP_MS 60000

static void wait_ms(ts_client *c, int64_t ms)
{
    if (ms > MAX_SLEEP_MS)
        ms = MAX_SLEEP_MS;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += (time_t)(ms / 1000);
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    (void)pthread_cond_timedwait(&c->cv, &c->mu, &t);
}

static void *worker_main(void *ud)
{
    ts_client *c = ud;
    pthread_mutex_lock(&c->mu);
    while (!c->stopping) {
        if (c->in_flight) {
            pthread_cond_wait(&c->cv, &c->mu);
            continue;
        }
        int64_t now = ts_client__now_ms(c);
        ts_client__guard g;
        const ts_client__snap *s = ts_client__read_begin(&c->holder, &g);
        int64_t due = s && now < s->usable_until_ms ? s->refresh_at_ms : now;
        ts_client__read_end(&c->holder, &g);
        if (c->last_failed && c->next_attempt_ms > due)
            due = c->next_attempt_ms;
        if (now < due) {
            wait_ms(c, due - now);
            continue;
        }
        c->in_flight = true;
        pthread_mutex_unlock(&c->mu);
        ts_client__failure f;
        (void)ts_client__fly(c, &f); /* logged, and kept for the callers */
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

ts_status ts_client__worker_start(ts_client *c, ts_error *err)
{
    int rc = pthread_create(&c->worker, NULL, worker_main, c);
    if (rc != 0)
        return ts_error_set(err, rc == EAGAIN ? TS_ELIMIT : TS_EINTERNAL, "background_refresh",
                            "cannot start the renewal thread");
    c->worker_started = true;
    return TS_OK;
}

void ts_client__worker_stop(ts_client *c)
{
    pthread_mutex_lock(&c->mu);
    c->stopping = true;
    atomic_store(&c->stop_http, true);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (c->worker_started) {
        pthread_join(c->worker, NULL);
        c->worker_started = false;
    }
}
