/*
 * One renewal by the configured grant, and the refresh family's protocol.
 *
 * tokensmith (like every server with refresh-token rotation and reuse detection, RFC 9700
 * §4.14.2) revokes a whole family when a rotated-away refresh token is presented again. A
 * client can only present an old token by mistake, and the mistake always has the same shape:
 * the server rotated, and the client never learnt the successor (its process crashed, the
 * answer was lost in the network), so it sends the token it still has. The rule here:
 *
 *   1. Before a refresh token is sent, it is removed from the state file (written atomically).
 *   2. When the answer arrives, the successor is written to the state file, then used.
 *   3. When the request certainly did not reach the server (no connection), or the server
 *      answered that it did not act (429, 503, a 4xx other than invalid_grant), the token goes
 *      back into the file. When the server may have acted and the client does not know the
 *      outcome (a timeout or reset after sending, a 5xx, a 200 it cannot read), the token is
 *      never presented again.
 *
 * So after a crash at any point, the file holds either a token the server has not rotated, or
 * no token; never one it has. A family that is lost this way (or ends: invalid_grant, its
 * absolute lifetime) is replaced from the bootstrap token, if that was never presented: its
 * SHA-256 is written to the file, by rule 1, before it is sent.
 */
#define _GNU_SOURCE
#include "client_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/digest.h"
#include "common/mem.h"
#include "common/str.h"

/* What a failed (or successful) request means for the credential it carried. */
typedef enum fate {
    FATE_UNUSED,   /* the server did not act on it: it may be presented again */
    FATE_DEAD,     /* invalid_grant: unknown, expired, revoked or used */
    FATE_IN_DOUBT, /* the server may have acted: never present it again */
    FATE_USED,     /* success */
} fate;

static fate judge(ts_status st, const ts_client__answer *a)
{
    if (st == TS_OK)
        return FATE_USED;
    if (!a->sent)
        return FATE_UNUSED;
    if (!a->answered)
        return FATE_IN_DOUBT;
    long s = a->status;
    if (s == 429 || s == 503)
        return FATE_UNUSED;
    if (s >= 400 && s < 500)
        return strcmp(a->oauth.error, "invalid_grant") == 0 ? FATE_DEAD : FATE_UNUSED;
    return FATE_IN_DOUBT;
}

static void fail(ts_client__failure *f, const ts_error *e, const ts_client__answer *a)
{
    f->err = *e;
    if (a)
        f->oauth = a->oauth;
    else
        memset(&f->oauth, 0, sizeof f->oauth);
}

static ts_status persist(ts_client *c, ts_error *err)
{
    if (!c->cfg.state_file)
        return TS_OK;
    return ts_client__state_save(c->cfg.state_file, c->cfg.token_endpoint, &c->fam,
                                 (int64_t)time(NULL), err);
}

/* Persist where failing changes nothing about safety (the file already holds no credential
 * that may not be presented): a failure is logged and the family goes on in memory. */
static bool persist_logged(ts_client *c, const char *what)
{
    ts_error e;
    ts_error_clear(&e);
    if (persist(c, &e) == TS_OK)
        return c->cfg.state_file != NULL;
    ts_client__log(c, TS_CLIENT_LOG_ERROR, "state file %s: %s: %s (%s)", c->cfg.state_file, what,
                   e.msg, e.where);
    return false;
}

static void mark_sent(ts_client *c, const char *prefix)
{
    ts_common__copyz(c->fam.lost_prefix, sizeof c->fam.lost_prefix, prefix);
    c->fam.lost_at = (int64_t)time(NULL);
}

static void clear_sent(ts_client *c)
{
    c->fam.lost_prefix[0] = '\0';
    c->fam.lost_at = 0;
}

static void stamp(ts_client *c, ts_client__result *r)
{
    r->sent_ms = ts_client__now_ms(c);
    r->sent_wall = (int64_t)time(NULL);
}

/* The family after a successful answer: the successor (or, from a server that does not rotate,
 * the token presented) and its end. Takes @p presented. */
static void advance(ts_client *c, ts_client__result *r, char *presented, size_t presented_len)
{
    ts_client__tokens *t = &r->tok;
    if (t->refresh_token) {
        ts_client__free_secret(presented, presented_len);
        c->fam.refresh_token = t->refresh_token;
        c->fam.refresh_len = t->refresh_len;
        t->refresh_token = NULL;
        t->refresh_len = 0;
    } else {
        c->fam.refresh_token = presented;
        c->fam.refresh_len = presented_len;
    }
    if (t->has_refresh_expires_in)
        c->fam.refresh_expires_at = r->sent_wall + t->refresh_expires_in;
    clear_sent(c);
    r->refresh_expires_at = c->fam.refresh_expires_at;
    r->persisted = persist_logged(c, "the new refresh token is kept in memory only");
    ts_client__step_at(c, TS_CLIENT__STEP_PERSISTED);
}

static ts_status do_refresh(ts_client *c, ts_client__result *r, ts_client__failure *f, bool *dead)
{
    *dead = false;
    char *tok = c->fam.refresh_token;
    size_t len = c->fam.refresh_len;
    char prefix[9];
    ts_common__sha256_prefix(tok, len, prefix);

    /* Rule 1: out of the file before it leaves. If that cannot be written, nothing is sent. */
    c->fam.refresh_token = NULL;
    c->fam.refresh_len = 0;
    mark_sent(c, prefix);
    ts_error e;
    ts_error_clear(&e);
    if (persist(c, &e) != TS_OK) {
        c->fam.refresh_token = tok;
        c->fam.refresh_len = len;
        clear_sent(c);
        fail(f, &e, NULL);
        return e.code;
    }
    ts_client__step_at(c, TS_CLIENT__STEP_MARKED);

    stamp(c, r);
    ts_client__request rq = {
        .kind = TS_CLIENT__REQ_REFRESH, .credential = tok, .credential_len = len};
    ts_client__answer a;
    ts_status st = ts_client__exchange(c, &rq, &r->tok, &a, &e);
    switch (judge(st, &a)) {
    case FATE_USED:
        ts_client__step_at(c, TS_CLIENT__STEP_PARSED);
        r->event = TS_CLIENT_EVENT_REFRESH;
        advance(c, r, tok, len);
        ts_client__log(c, TS_CLIENT_LOG_DEBUG, "refresh token %s presented and rotated", prefix);
        return TS_OK;
    case FATE_UNUSED:
        c->fam.refresh_token = tok;
        c->fam.refresh_len = len;
        clear_sent(c);
        persist_logged(c, "the refresh token is kept in memory only");
        break;
    case FATE_DEAD:
        ts_client__free_secret(tok, len);
        clear_sent(c);
        persist_logged(c, "cannot record the family's end");
        *dead = true;
        ts_client__log(c, TS_CLIENT_LOG_WARN, "refresh token %s refused: %s", prefix, e.msg);
        break;
    case FATE_IN_DOUBT:
        ts_client__free_secret(tok, len);
        persist_logged(c, "cannot record the lost answer");
        ts_client__log(c, TS_CLIENT_LOG_ERROR,
                       "refresh token %s was sent but its answer was lost (%s): it is never "
                       "presented again (the server may have rotated it, and presenting it "
                       "again would revoke the family)",
                       prefix, e.msg);
        break;
    }
    fail(f, &e, &a);
    return st;
}

/* The bootstrap token (tokensmith) or the configured refresh token (refresh_token grant): the
 * credential a family starts from, presented at most once. */
static ts_status do_initial(ts_client *c, ts_client__result *r, ts_client__failure *f)
{
    bool tokensmith = c->cfg.grant == TS_CLIENT_GRANT_TOKENSMITH;
    const char *what = tokensmith ? "bootstrap token" : "refresh token";
    const char *cred = tokensmith ? c->cfg.bootstrap_token : c->cfg.refresh_token;
    ts_error e;
    ts_error_clear(&e);
    const char *where = c->cfg.state_file ? c->cfg.state_file : c->cfg.token_endpoint;
    if (!cred) {
        ts_error_set(&e, TS_EINVAL, where,
                     "no live refresh family and no %s configured (create one with tokensmith "
                     "bootstrap-token create)",
                     what);
        fail(f, &e, NULL);
        return e.code;
    }
    size_t len = strlen(cred);
    char sha[65], prefix[9];
    if (!ts_common__sha256_hex(cred, len, sha)) {
        ts_error_set(&e, TS_EINTERNAL, "sha256", "cannot hash the %s", what);
        fail(f, &e, NULL);
        return e.code;
    }
    memcpy(prefix, sha, 8);
    prefix[8] = '\0';
    if (strcmp(sha, c->fam.initial_sha256) == 0) {
        ts_error_set(&e, TS_EINVAL, where,
                     "no live refresh family, and the configured %s %s was presented before "
                     "(it works once): configure a new one",
                     what, prefix);
        fail(f, &e, NULL);
        return e.code;
    }
    /* Rule 1 for the initial credential: recorded as presented before it leaves. */
    char previous[65];
    memcpy(previous, c->fam.initial_sha256, sizeof previous);
    memcpy(c->fam.initial_sha256, sha, sizeof sha);
    if (persist(c, &e) != TS_OK) {
        memcpy(c->fam.initial_sha256, previous, sizeof previous);
        fail(f, &e, NULL);
        return e.code;
    }
    ts_client__step_at(c, TS_CLIENT__STEP_MARKED);

    stamp(c, r);
    ts_client__request rq = {.kind = tokensmith ? TS_CLIENT__REQ_BOOTSTRAP : TS_CLIENT__REQ_REFRESH,
                             .credential = cred,
                             .credential_len = len};
    ts_client__answer a;
    ts_status st = ts_client__exchange(c, &rq, &r->tok, &a, &e);
    switch (judge(st, &a)) {
    case FATE_USED: {
        ts_client__step_at(c, TS_CLIENT__STEP_PARSED);
        r->event = TS_CLIENT_EVENT_BOOTSTRAP;
        if (tokensmith && !r->tok.refresh_token)
            ts_client__log(c, TS_CLIENT_LOG_WARN,
                           "bootstrap token %s exchanged, but the answer has no refresh token: "
                           "the next token needs a new bootstrap token",
                           prefix);
        /* A family without a refresh token keeps none; else advance() takes the successor
         * (from a non-rotating server, a copy of the configured token). */
        char *keep = NULL;
        size_t keep_len = 0;
        if (!tokensmith && !r->tok.refresh_token) {
            if (!(keep = ts_client__strndup(cred, len))) {
                ts_error_set(&e, TS_ENOMEM, "refresh_token", "out of memory");
                fail(f, &e, &a);
                ts_client__tokens_cleanup(&r->tok);
                return e.code;
            }
            keep_len = len;
        }
        c->fam.refresh_expires_at = 0;
        advance(c, r, keep, keep_len);
        ts_client__log(c, TS_CLIENT_LOG_INFO, "%s %s exchanged: a refresh family started", what,
                       prefix);
        return TS_OK;
    }
    case FATE_UNUSED:
        memcpy(c->fam.initial_sha256, previous, sizeof previous);
        persist_logged(c, "cannot record that the initial token is still unused");
        break;
    case FATE_DEAD:
        ts_client__log(c, TS_CLIENT_LOG_ERROR,
                       "%s %s refused (%s): it is unknown, expired or already used; configure a "
                       "new one",
                       what, prefix, e.msg);
        break;
    case FATE_IN_DOUBT:
        ts_client__log(c, TS_CLIENT_LOG_ERROR,
                       "%s %s was sent but its answer was lost (%s): it is not presented again",
                       what, prefix, e.msg);
        break;
    }
    fail(f, &e, &a);
    return st;
}

/* A token supplied now: fixed, or read from the callback into a buffer of max_token_bytes. */
static ts_status supplied(const ts_client *c, const char *fixed, ts_client_token_fn fn, void *ud,
                          const char *field, char **out, size_t *len, ts_error *err)
{
    *out = NULL;
    *len = 0;
    if (fixed) {
        *len = strlen(fixed);
        if (!(*out = ts_client__strndup(fixed, *len)))
            return ts_error_set(err, TS_ENOMEM, field, "out of memory");
        return TS_OK;
    }
    size_t cap = c->cfg.max_token_bytes + 1;
    char *buf = malloc(cap);
    if (!buf)
        return ts_error_set(err, TS_ENOMEM, field, "out of memory");
    size_t n = 0;
    ts_error e;
    ts_error_clear(&e);
    ts_status st = fn(buf, cap, &n, &e, ud);
    if (st == TS_ELIMIT || (st == TS_OK && n >= cap)) {
        ts_client__free_secret(buf, cap);
        return ts_error_set(err, TS_ELIMIT, field, "longer than max_token_bytes (%zu)",
                            c->cfg.max_token_bytes);
    }
    if (st != TS_OK) {
        ts_client__free_secret(buf, cap);
        char msg[200];
        ts_common__copyz(msg, sizeof msg, e.msg[0] ? e.msg : ts_status_str(st));
        return ts_error_set(err, st, field, "cannot be obtained: %s", msg);
    }
    buf[n] = '\0';
    if (!ts_client__visible(buf, n)) {
        ts_client__free_secret(buf, cap);
        return ts_error_set(err, TS_EINVAL, field, "holds a character outside visible ASCII");
    }
    if (n == 0) {
        ts_client__free_secret(buf, cap);
        return ts_error_set(err, TS_EINVAL, field, "is empty");
    }
    *out = buf;
    *len = n;
    return TS_OK;
}

static ts_status do_grant(ts_client *c, ts_client__result *r, ts_client__failure *f)
{
    ts_error e;
    ts_error_clear(&e);
    char *subject = NULL, *actor = NULL;
    size_t slen = 0, alen = 0;
    ts_status st = TS_OK;
    if (c->cfg.grant == TS_CLIENT_GRANT_TOKEN_EXCHANGE) {
        st = supplied(c, c->cfg.subject_token, c->cfg.subject_token_fn, c->cfg.subject_token_ud,
                      "subject_token", &subject, &slen, &e);
        if (st == TS_OK && (c->cfg.actor_token || c->cfg.actor_token_fn))
            st = supplied(c, c->cfg.actor_token, c->cfg.actor_token_fn, c->cfg.actor_token_ud,
                          "actor_token", &actor, &alen, &e);
    }
    ts_client__answer a;
    memset(&a, 0, sizeof a);
    if (st == TS_OK) {
        ts_client__step_at(c, TS_CLIENT__STEP_MARKED);
        stamp(c, r);
        ts_client__request rq = {.kind = TS_CLIENT__REQ_GRANT,
                                 .subject = subject,
                                 .subject_len = slen,
                                 .actor = actor,
                                 .actor_len = alen};
        st = ts_client__exchange(c, &rq, &r->tok, &a, &e);
    }
    ts_client__free_secret_z(subject);
    ts_client__free_secret_z(actor);
    if (st != TS_OK) {
        fail(f, &e, &a);
        return st;
    }
    ts_client__step_at(c, TS_CLIENT__STEP_PARSED);
    /* RFC 6749 §4.4.3: no refresh token for client_credentials; an exchange's is not kept
     * either (the exchange is simply repeated). */
    ts_client__free_secret(r->tok.refresh_token, r->tok.refresh_len);
    r->tok.refresh_token = NULL;
    r->tok.refresh_len = 0;
    r->event = TS_CLIENT_EVENT_GRANT;
    return TS_OK;
}

ts_status ts_client__obtain(ts_client *c, ts_client__result *r, ts_client__failure *f)
{
    memset(r, 0, sizeof *r);
    memset(f, 0, sizeof *f);
    ts_client__step_at(c, TS_CLIENT__STEP_BEGIN);
    if (c->cfg.grant == TS_CLIENT_GRANT_CLIENT_CREDENTIALS ||
        c->cfg.grant == TS_CLIENT_GRANT_TOKEN_EXCHANGE)
        return do_grant(c, r, f);

    ts_client__failure refused;
    bool have_refused = false;
    if (c->fam.refresh_token && c->fam.refresh_expires_at &&
        (int64_t)time(NULL) >= c->fam.refresh_expires_at) {
        ts_client__log(c, TS_CLIENT_LOG_WARN, "the refresh family ended at %lld",
                       (long long)c->fam.refresh_expires_at);
        ts_client__free_secret(c->fam.refresh_token, c->fam.refresh_len);
        c->fam.refresh_token = NULL;
        c->fam.refresh_len = 0;
        persist_logged(c, "cannot record the family's end");
    }
    if (c->fam.refresh_token) {
        bool dead = false;
        ts_status st = do_refresh(c, r, f, &dead);
        if (st == TS_OK || !dead)
            return st;
        refused = *f;
        have_refused = true;
        ts_client__tokens_cleanup(&r->tok);
    }
    ts_status st = do_initial(c, r, f);
    if (st == TS_EINVAL && have_refused && f->oauth.http_status == 0) {
        /* No bootstrap token to fall back to: the refusal is the news, with the reason. */
        char why[160];
        ts_common__copyz(why, sizeof why, f->err.msg);
        ts_client__failure both = refused;
        ts_error_set(&both.err, TS_EINVAL, f->err.where, "the refresh family ended (%s); %s",
                     refused.oauth.error[0] ? refused.oauth.error : "refused", why);
        *f = both;
        return TS_EINVAL;
    }
    return st;
}

ts_status ts_client__family_open(ts_client *c, ts_error *err)
{
    if (!c->cfg.state_file)
        return TS_OK; /* a family in memory only, started from the configured credential */
    ts_status st = ts_client__state_lock(c->cfg.state_file, &c->lock_fd, err);
    if (st != TS_OK)
        return st;
    bool loose = false;
    st = ts_client__state_load(c->cfg.state_file, c->cfg.token_endpoint, c->cfg.max_token_bytes,
                               &c->fam, &loose, err);
    if (st != TS_OK)
        return st;
    if (loose)
        ts_client__log(c, TS_CLIENT_LOG_WARN,
                       "state file %s is readable by others; it holds a refresh token (it is "
                       "rewritten mode 0600 at the next renewal)",
                       c->cfg.state_file);
    if (c->fam.lost_prefix[0])
        ts_client__log(c, TS_CLIENT_LOG_WARN,
                       "state file %s: refresh token %s was sent at %lld and its answer never "
                       "recorded; it is not presented again",
                       c->cfg.state_file, c->fam.lost_prefix, (long long)c->fam.lost_at);
    if (!c->fam.refresh_token) {
        const char *cred = c->cfg.grant == TS_CLIENT_GRANT_TOKENSMITH ? c->cfg.bootstrap_token
                                                                      : c->cfg.refresh_token;
        char sha[65] = "";
        if (cred)
            (void)ts_common__sha256_hex(cred, strlen(cred), sha);
        if (!cred || strcmp(sha, c->fam.initial_sha256) == 0)
            ts_client__log(c, TS_CLIENT_LOG_WARN,
                           "state file %s holds no live refresh family and no unused %s is "
                           "configured: no token can be obtained until one is",
                           c->cfg.state_file,
                           c->cfg.grant == TS_CLIENT_GRANT_TOKENSMITH ? "bootstrap token"
                                                                      : "refresh token");
    }
    c->has_refresh = c->fam.refresh_token != NULL;
    c->refresh_expires_at = c->fam.refresh_expires_at;
    return TS_OK;
}
