#define _POSIX_C_SOURCE 200809L
/* The revocation source's construction and polling: one thread of its own fetches the list
   every poll interval (full first, then deltas by cursor, at once again while the answer says
   "more"), bounded in time and size, stoppable; ts_authn_revocations_refresh() polls on the
   caller's thread, serialised with it. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/http_client.h"
#include "revocations_internal.h"

/* At most this many answers in one poll ("more" chains): 40 x 100,000 entries. */
#define TS_AUTHN__REV_MAX_PAGES 40

static ts_status fetch_once(ts_authn_revocations *rs, bool *more, ts_error *err)
{
    static const char *const accept[] = {"Accept: application/jwt"};
    /* Full list while none is held, then the delta since its cursor. */
    uint64_t cur = ts_authn_revocations_cursor(rs);
    bool have = atomic_load(&rs->cur) != NULL;
    size_t cap = strlen(rs->url) + 40;
    char *url = malloc(cap);
    if (!url)
        return ts_error_set(err, TS_ENOMEM, "url", "out of memory");
    if (have)
        snprintf(url, cap, "%s%ssince=%" PRIu64, rs->url, strchr(rs->url, '?') ? "&" : "?", cur);
    else
        snprintf(url, cap, "%s", rs->url);
    ts_common__http_req rq = {.url = url,
                              .headers = accept,
                              .n_headers = 1,
                              .user_agent = "tokensmith-authn",
                              .timeout_ms = rs->timeout_ms,
                              .max_body = rs->max_body,
                              .allow_plain_http = rs->insecure,
                              .stop = &rs->stop,
                              .label = "revocations",
                              .body_label = "revocation list"};
    long status = 0;
    char *body = NULL;
    size_t n = 0;
    ts_status st = ts_common__http(&rq, &status, &body, &n, err);
    if (st == TS_OK && status != 200)
        st = ts_error_set(err, TS_EIO, "revocations", "HTTP status %ld", status);
    if (st == TS_OK) {
        /* A body of surrounding whitespace is tolerated; the JWS itself is exact. */
        while (n > 0 && (body[n - 1] == '\n' || body[n - 1] == '\r' || body[n - 1] == ' '))
            n--;
        st = ts_authn__rev_apply(rs, body, n, more, err);
    }
    free(body);
    free(url);
    return st;
}

/* One poll: deltas from the cursor until the answer has no "more". Polls are serialised, so
   that two never ask from the same cursor and race to apply. */
static ts_status poll_all(ts_authn_revocations *rs, ts_error *err)
{
    bool more = true;
    ts_status st = TS_OK;
    pthread_mutex_lock(&rs->poll_mu);
    for (int i = 0; more && st == TS_OK && i < TS_AUTHN__REV_MAX_PAGES; i++)
        st = fetch_once(rs, &more, err);
    pthread_mutex_unlock(&rs->poll_mu);
    return st;
}

static void *poll_thread(void *arg)
{
    ts_authn_revocations *rs = arg;
    pthread_mutex_lock(&rs->mu);
    while (!atomic_load(&rs->stop)) {
        pthread_mutex_unlock(&rs->mu);
        ts_error e;
        ts_error_clear(&e);
        /* A failure keeps the last good list; it goes stale after max_stale_s. */
        (void)poll_all(rs, &e);
        pthread_mutex_lock(&rs->mu);
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += rs->poll_ms / 1000;
        dl.tv_nsec += (long)(rs->poll_ms % 1000) * 1000000L;
        if (dl.tv_nsec >= 1000000000L) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000L;
        }
        while (!atomic_load(&rs->stop))
            if (pthread_cond_timedwait(&rs->cv, &rs->mu, &dl) != 0)
                break;
    }
    pthread_mutex_unlock(&rs->mu);
    return NULL;
}

ts_authn_revocations *ts_authn_revocations_new(const ts_authn_revocations_options *opt,
                                               ts_error *err)
{
    if (!opt || opt->version != TS_AUTHN_REVOCATIONS_OPTIONS_VERSION) {
        ts_error_set(err, TS_EINVAL, "version", "NULL options or unknown options version");
        return NULL;
    }
    const char *bad =
        !opt->issuer || !*opt->issuer                                    ? "issuer"
        : !opt->keys && !opt->keysource                                  ? "keys"
        : opt->poll_interval_ms < 100 || opt->poll_interval_ms > 3600000 ? "poll_interval_ms"
        : opt->max_stale_s == 0                                          ? "max_stale_s"
        : opt->url && !ts_common__http_url_allowed(opt->url, opt->allow_insecure_http) ? "url"
                                                                                       : NULL;
    if (bad) {
        ts_error_set(err, TS_EINVAL, bad,
                     "missing or out of range (url: https, or http to a "
                     "loopback host)");
        return NULL;
    }
    ts_authn_revocations *rs = calloc(1, sizeof *rs);
    if (!rs || !(rs->issuer = strdup(opt->issuer)) || (opt->url && !(rs->url = strdup(opt->url)))) {
        if (rs) {
            free(rs->issuer);
            free(rs);
        }
        ts_error_set(err, TS_ENOMEM, "ts_authn_revocations_new", "out of memory");
        return NULL;
    }
    rs->keys = opt->keys;
    rs->ks = opt->keysource;
    rs->poll_ms = opt->poll_interval_ms;
    rs->max_stale_s = opt->max_stale_s;
    rs->timeout_ms = opt->timeout_ms ? opt->timeout_ms : 5000;
    rs->max_body = opt->max_body_bytes ? opt->max_body_bytes : 32u << 20;
    rs->fail_open = opt->fail_open;
    rs->insecure = opt->allow_insecure_http;
    rs->now = opt->now;
    rs->now_ud = opt->now_ud;
    atomic_init(&rs->cur, NULL);
    atomic_init(&rs->last_ok, 0);
    atomic_init(&rs->stop, false);
    pthread_mutex_init(&rs->apply_mu, NULL);
    pthread_mutex_init(&rs->poll_mu, NULL);
    pthread_mutex_init(&rs->mu, NULL);
    pthread_cond_init(&rs->cv, NULL);
    if (rs->url) {
        if (ts_common__http_init(err) != TS_OK ||
            pthread_create(&rs->thread, NULL, poll_thread, rs) != 0) {
            if (!err || err->code == TS_OK)
                ts_error_set(err, TS_ENOMEM, "ts_authn_revocations_new", "no thread");
            ts_authn_revocations_free(rs);
            return NULL;
        }
        rs->has_thread = true;
    }
    return rs;
}

void ts_authn_revocations_free(ts_authn_revocations *rs)
{
    if (!rs)
        return;
    if (rs->has_thread) {
        pthread_mutex_lock(&rs->mu);
        atomic_store(&rs->stop, true);
        pthread_cond_broadcast(&rs->cv);
        pthread_mutex_unlock(&rs->mu);
        pthread_join(rs->thread, NULL);
    }
    ts_authn__rev_tables_free(rs);
    pthread_cond_destroy(&rs->cv);
    pthread_mutex_destroy(&rs->mu);
    pthread_mutex_destroy(&rs->apply_mu);
    pthread_mutex_destroy(&rs->poll_mu);
    free(rs->url);
    free(rs->issuer);
    free(rs);
}

ts_status ts_authn_revocations_refresh(ts_authn_revocations *rs, ts_error *err)
{
    if (!rs || !rs->url)
        return ts_error_set(err, TS_EINVAL, "url", "the revocation source has no URL");
    return poll_all(rs, err);
}
