/* ts_client_token_get() and its single flight. A hit copies the published token without a
 * lock (holder.c). A miss takes the client's lock: if a renewal is in flight it waits for that
 * flight's result, else (outside a backoff) it starts one itself, so that N threads asking at
 * once cause one request. In caller mode the first caller past the renewal time renews while
 * the others keep the token they have; nobody waits for a renewal that is only ahead of
 * time. */
#define _POSIX_C_SOURCE 200809L
#include "client_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/digest.h"
#include "common/str.h"

static ts_status copy_out(const ts_client__snap *s, char *buf, size_t cap,
                          ts_client_token_info *info, ts_error *err)
{
    if (info) {
        info->len = s->len;
        info->expires_at = s->expires_at;
        info->generation = s->generation;
        memcpy(info->token_type, s->token_type, sizeof info->token_type);
        info->oauth.http_status = 0;
        info->oauth.error[0] = '\0';
    }
    if (cap <= s->len)
        return ts_error_set(err, TS_ELIMIT, "buffer", "the token needs %zu bytes", s->len + 1);
    memcpy(buf, s->token, s->len + 1);
    return TS_OK;
}

static ts_status report(const ts_client__failure *f, ts_client_token_info *info, ts_error *err)
{
    if (info) {
        info->len = 0;
        info->oauth = f->oauth;
    }
    if (err)
        *err = f->err;
    return f->err.code != TS_OK ? f->err.code : TS_EINTERNAL;
}

/* The lifetime of a new token: expires_in, else a JWT's exp, else the configured default. */
static int64_t lifetime_ms(const ts_client *c, const ts_client__result *r)
{
    if (r->tok.has_expires_in)
        return r->tok.expires_in * 1000;
    int64_t exp = ts_client__jwt_exp(r->tok.access_token, r->tok.access_len);
    if (exp)
        return (exp - r->sent_wall) * 1000;
    return (int64_t)c->cfg.default_lifetime_s * 1000;
}

static void hook(ts_client *c, const ts_client__result *r, uint64_t generation, int64_t expires_at)
{
    if (!c->cfg.on_rotation)
        return;
    ts_client_rotation rot = {.event = r->event,
                              .generation = generation,
                              .access_token = r->tok.access_token,
                              .access_token_len = r->tok.access_len,
                              .token_type = r->tok.token_type,
                              .scope = r->tok.scope ? r->tok.scope : "",
                              .issued_token_type =
                                  r->tok.issued_token_type ? r->tok.issued_token_type : "",
                              .expires_at = expires_at,
                              .refresh_expires_at = r->refresh_expires_at,
                              .persisted = r->persisted};
    ts_common__sha256_prefix(r->tok.access_token, r->tok.access_len, rot.token_hash_prefix);
    c->cfg.on_rotation(&rot, c->cfg.rotation_ud);
}

ts_status ts_client__fly(ts_client *c, ts_client__failure *f)
{
    ts_client__result r;
    ts_status st = ts_client__obtain(c, &r, f);
    ts_client__snap *snap = NULL;
    int64_t life = 0;
    if (st == TS_OK) {
        life = lifetime_ms(c, &r);
        if (life <= 0) {
            st = ts_error_set(&f->err, TS_EPARSE, c->cfg.token_endpoint,
                              "the token endpoint issued a token that has already expired");
            f->oauth.http_status = 200;
        } else if (!(snap = ts_client__snap_new(r.tok.access_token, r.tok.access_len))) {
            st = ts_error_set(&f->err, TS_ENOMEM, "token", "out of memory");
        }
    }
    int64_t now = ts_client__now_ms(c);
    uint64_t generation = 0;
    pthread_mutex_lock(&c->mu);
    c->has_refresh = c->fam.refresh_token != NULL;
    c->refresh_expires_at = c->fam.refresh_expires_at;
    if (snap) {
        generation = snap->generation = ++c->generation;
        snap->expires_ms = r.sent_ms + life;
        snap->expires_at = r.sent_wall + life / 1000;
        ts_client__times t =
            ts_client__schedule(r.sent_ms, life, c->cfg.min_valid_s, c->cfg.refresh_at_pct,
                                c->cfg.refresh_jitter_pct, ts_client__rand(&c->rng));
        snap->usable_until_ms = t.usable_until_ms;
        snap->refresh_at_ms = t.refresh_at_ms;
        ts_common__copyz(snap->token_type, sizeof snap->token_type, r.tok.token_type);
        ts_client__publish(&c->holder, snap);
        atomic_store(&c->ahead_at_ms, t.refresh_at_ms);
        c->failures = 0;
        c->next_attempt_ms = 0;
        c->last_failed = false;
        c->n_tokens++;
        c->last_success_at = (int64_t)time(NULL);
    } else {
        c->failures++;
        c->n_failures++;
        c->last_failure_at = (int64_t)time(NULL);
        uint64_t wait = ts_client__backoff_ms(c->failures, c->cfg.backoff_initial_ms,
                                              c->cfg.backoff_max_ms, ts_client__rand(&c->rng));
        uint64_t retry_after = (uint64_t)f->oauth.retry_after_s * 1000u;
        if (retry_after > wait)
            wait = retry_after;
        c->next_attempt_ms = now + (int64_t)wait;
        c->last = *f;
        c->last_failed = true;
        atomic_store(&c->ahead_at_ms, c->next_attempt_ms);
    }
    c->done_seq++;
    pthread_cond_broadcast(&c->cv);
    unsigned failures = c->failures;
    int64_t next_in = c->next_attempt_ms - now;
    pthread_mutex_unlock(&c->mu);

    if (snap) {
        char prefix[9];
        ts_common__sha256_prefix(r.tok.access_token, r.tok.access_len, prefix);
        ts_client__log(c, TS_CLIENT_LOG_INFO,
                       "new token %s (generation %llu) from the %s grant, valid %lld s", prefix,
                       (unsigned long long)generation, ts_client_grant_name(c->cfg.grant),
                       (long long)(life / 1000));
        ts_client__step_at(c, TS_CLIENT__STEP_PUBLISHED);
        hook(c, &r, generation, r.sent_wall + life / 1000);
        ts_client__step_at(c, TS_CLIENT__STEP_DONE);
    } else {
        /* The line starts with the endpoint already; a `where` that is the endpoint (or the
         * start of it: ts_error.where is short) is left out, since it would repeat it with
         * its userinfo and query, which a log line never shows. */
        const char *w = f->err.where;
        bool endpoint = strncmp(c->cfg.token_endpoint, w, strlen(w)) == 0;
        ts_client__log(c, TS_CLIENT_LOG_WARN,
                       "renewal failed (%u in a row): %s%s%s%s; next attempt in %lld ms", failures,
                       f->err.msg, endpoint ? "" : " (", endpoint ? "" : w, endpoint ? "" : ")",
                       (long long)next_in);
    }
    ts_client__tokens_cleanup(&r.tok);
    pthread_mutex_lock(&c->mu);
    c->in_flight = false;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return st;
}

/* The slow path: no usable token. Returns holding nothing. */
static ts_status miss(ts_client *c, char *buf, size_t cap, ts_client_token_info *info,
                      ts_error *err)
{
    bool flew = false;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        int64_t now = ts_client__now_ms(c);
        ts_client__guard g;
        const ts_client__snap *s = ts_client__read_begin(&c->holder, &g);
        /* After a renewal of its own, a caller takes the new token even if the server issued
         * it for less than the request took to answer: asking again would get no better. */
        if (s && now < (flew ? s->expires_ms : s->usable_until_ms)) {
            ts_status st = copy_out(s, buf, cap, info, err);
            ts_client__read_end(&c->holder, &g);
            pthread_mutex_unlock(&c->mu);
            return st;
        }
        ts_client__read_end(&c->holder, &g);
        if (c->stopping) {
            pthread_mutex_unlock(&c->mu);
            return ts_error_set(err, TS_EINVAL, "client", "the client is being freed");
        }
        if (c->in_flight) {
            /* Someone renews: its result is ours. */
            uint64_t seq = c->done_seq;
            while (c->done_seq == seq && c->in_flight && !c->stopping)
                pthread_cond_wait(&c->cv, &c->mu);
            if (c->done_seq != seq && c->last_failed) {
                ts_client__failure f = c->last;
                pthread_mutex_unlock(&c->mu);
                return report(&f, info, err);
            }
            flew = flew || c->done_seq != seq; /* a renewal we waited for counts as ours */
            continue;
        }
        if (c->last_failed && now < c->next_attempt_ms) {
            ts_client__failure f = c->last;
            int64_t left = c->next_attempt_ms - now;
            pthread_mutex_unlock(&c->mu);
            char more[64];
            snprintf(more, sizeof more, " (next attempt in %lld ms)", (long long)left);
            size_t n = strlen(f.err.msg);
            if (n + strlen(more) < sizeof f.err.msg)
                memcpy(f.err.msg + n, more, strlen(more) + 1);
            return report(&f, info, err);
        }
        c->in_flight = true;
        pthread_mutex_unlock(&c->mu);
        ts_client__failure f;
        if (ts_client__fly(c, &f) != TS_OK)
            return report(&f, info, err);
        flew = true;
        pthread_mutex_lock(&c->mu);
    }
}

/* Caller mode: the one caller that claimed the renewal time renews now. */
static void ahead(ts_client *c)
{
    pthread_mutex_lock(&c->mu);
    if (c->in_flight || c->stopping) {
        pthread_mutex_unlock(&c->mu);
        return;
    }
    c->in_flight = true;
    pthread_mutex_unlock(&c->mu);
    ts_client__failure f;
    (void)ts_client__fly(c, &f); /* a failure is logged; the token held is still good */
}

static bool claim_ahead(ts_client *c, int64_t now)
{
    int64_t at = atomic_load_explicit(&c->ahead_at_ms, memory_order_relaxed);
    return now >= at && atomic_compare_exchange_strong(&c->ahead_at_ms, &at, INT64_MAX);
}

static ts_status get(ts_client *c, char *buf, size_t cap, ts_client_token_info *info, ts_error *err,
                     bool may_renew_ahead)
{
    int64_t now = ts_client__now_ms(c);
    ts_client__guard g;
    const ts_client__snap *s = ts_client__read_begin(&c->holder, &g);
    if (s && now < s->usable_until_ms) {
        if (may_renew_ahead && !c->cfg.background && claim_ahead(c, now)) {
            ts_client__read_end(&c->holder, &g);
            ahead(c);
            return get(c, buf, cap, info, err, false);
        }
        ts_status st = copy_out(s, buf, cap, info, err);
        ts_client__read_end(&c->holder, &g);
        return st;
    }
    ts_client__read_end(&c->holder, &g);
    return miss(c, buf, cap, info, err);
}

ts_status ts_client_token_get(ts_client *c, char *buf, size_t cap, ts_client_token_info *info,
                              ts_error *err)
{
    if (!c || (!buf && cap))
        return ts_error_set(err, TS_EINVAL, "ts_client_token_get", "NULL client or buffer");
    return get(c, buf, cap, info, err, true);
}

char *ts_client_token_dup(ts_client *c, ts_client_token_info *info, ts_error *err)
{
    ts_client_token_info local;
    if (!info)
        info = &local;
    /* The size first, then the copy; the token may be renewed in between (a new size), so a
     * few tries. Only the outcome is recorded in the caller's error (the reuse rule): the size
     * probe "fails" with TS_ELIMIT by design. */
    ts_error e;
    ts_error_clear(&e);
    for (int tries = 0; tries < 4; tries++) {
        ts_status st = ts_client_token_get(c, NULL, 0, info, &e);
        /* Only copy_out's "buffer" refusal is the size answer; a renewal refused with
         * TS_ELIMIT (an answer over max_response_bytes, a token over max_token_bytes) is the
         * outcome, reported as it is and not asked again. */
        if (st != TS_ELIMIT || strcmp(e.where, "buffer") != 0)
            break;
        char *buf = malloc(info->len + 1);
        if (!buf) {
            ts_error_set(&e, TS_ENOMEM, "ts_client_token_dup", "out of memory");
            break;
        }
        st = ts_client_token_get(c, buf, info->len + 1, info, &e);
        if (st == TS_OK)
            return buf;
        free(buf);
        if (st != TS_ELIMIT || strcmp(e.where, "buffer") != 0)
            break;
        ts_error_set(&e, TS_EINTERNAL, "ts_client_token_dup", "the token kept changing size");
    }
    if (err)
        *err = e;
    return NULL;
}

ts_status ts_client_token_fn_client(char *buf, size_t cap, size_t *len, ts_error *err, void *client)
{
    ts_client_token_info info;
    info.len = 0;
    ts_status st = ts_client_token_get(client, buf, cap, &info, err);
    *len = info.len;
    return st;
}

bool ts_client_invalidate(ts_client *c, uint64_t generation)
{
    if (!c)
        return false;
    pthread_mutex_lock(&c->mu);
    ts_client__guard g;
    const ts_client__snap *s = ts_client__read_begin(&c->holder, &g);
    bool match = s && (generation == 0 || s->generation == generation);
    uint64_t dropped = s ? s->generation : 0;
    ts_client__read_end(&c->holder, &g);
    if (match) {
        ts_client__publish(&c->holder, NULL);
        pthread_cond_broadcast(&c->cv); /* the worker renews at once */
    }
    pthread_mutex_unlock(&c->mu);
    if (match)
        ts_client__log(c, TS_CLIENT_LOG_INFO, "token generation %llu invalidated",
                       (unsigned long long)dropped);
    return match;
}

void ts_client_flush(ts_client *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    ts_client__publish(&c->holder, NULL);
    c->failures = 0;
    c->next_attempt_ms = 0;
    c->last_failed = false;
    atomic_store(&c->ahead_at_ms, 0);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    ts_client__log(c, TS_CLIENT_LOG_INFO, "cache flushed");
}
