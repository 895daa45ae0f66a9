/* One request to the token endpoint: the body and client authentication built, the bounded
 * POST (common/http_client.h: deadline, body cap, URL rule, no redirects, TLS verified), the
 * headers the answer is judged by (Content-Type, Retry-After), and the answer parsed. What the
 * caller learns besides the tokens is whether the request may have reached the server
 * (`sent`): a one-time credential in a request that never left is still unused. */
#define _GNU_SOURCE
#include "client_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/http_client.h"
#include "common/str.h"

typedef struct headers {
    const ts_client *c;
    bool first;
    char content_type[128];
    unsigned retry_after_s;
} headers;

/* The value of header line @p line when its name is @p name, trimmed; NULL otherwise. */
static const char *header_value(const char *line, size_t len, const char *name, size_t *vlen)
{
    size_t n = strlen(name);
    if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
        return NULL;
    const char *v = line + n + 1;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *vlen = (size_t)(end - v);
    return v;
}

static void on_header(const char *line, size_t len, void *ud)
{
    headers *h = ud;
    if (!h->first) {
        h->first = true;
        ts_client__step_at(h->c, TS_CLIENT__STEP_ANSWERED);
    }
    /* A status line starts every answer (an interim 100 Continue included): what came
     * before it belonged to another one. */
    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        h->content_type[0] = '\0';
        h->retry_after_s = 0;
        return;
    }
    size_t vlen = 0;
    const char *v = header_value(line, len, "Content-Type", &vlen);
    if (v) {
        if (vlen >= sizeof h->content_type)
            vlen = sizeof h->content_type - 1;
        memcpy(h->content_type, v, vlen);
        h->content_type[vlen] = '\0';
        return;
    }
    v = header_value(line, len, "Retry-After", &vlen);
    /* Seconds only; an HTTP date is read as none (the backoff applies anyway). At most a
     * day: a server cannot silence the client for longer than that by one header. */
    if (v && vlen > 0 && vlen <= 9 && strspn(v, "0123456789") >= vlen) {
        unsigned long s = strtoul(v, NULL, 10);
        h->retry_after_s = s > 86400 ? 86400u : (unsigned)s;
    }
}

/* Blank out every copy of @p secret in @p text, and a cut copy at its end (the text may have
 * been cut to fit). Eight bytes at least: shorter strings would blank ordinary words. */
static void scrub(char *text, const char *secret, size_t n)
{
    if (!secret || n < 8)
        return;
    size_t len = strlen(text);
    for (char *p = text; (p = memmem(p, len - (size_t)(p - text), secret, n)) != NULL; p += n)
        memset(p, '*', n);
    for (size_t k = n - 1 < len ? n - 1 : len; k >= 8; k--)
        if (memcmp(text + len - k, secret, k) == 0) {
            memset(text + len - k, '*', k);
            break;
        }
}

/* A server may quote what it was sent in its error text (some echo the token they refuse); that
 * text reaches callers and logs, so no secret of the request survives in it. */
static void scrub_all(const ts_client *c, const ts_client__request *rq, ts_client__answer *a,
                      ts_error *err)
{
    const char *secrets[4] = {rq->credential, rq->subject, rq->actor, c->cfg.client_secret};
    size_t lens[4] = {rq->credential_len, rq->subject_len, rq->actor_len,
                      c->cfg.client_secret ? strlen(c->cfg.client_secret) : 0};
    for (size_t i = 0; i < 4; i++) {
        scrub(a->oauth.error_description, secrets[i], lens[i]);
        scrub(a->oauth.error_uri, secrets[i], lens[i]);
        if (err)
            scrub(err->msg, secrets[i], lens[i]);
    }
}

ts_status ts_client__exchange(ts_client *c, const ts_client__request *rq, ts_client__tokens *tok,
                              ts_client__answer *a, ts_error *err)
{
    const ts_client__config *cfg = &c->cfg;
    memset(a, 0, sizeof *a);
    memset(tok, 0, sizeof *tok);
    ts_common__secbuf body = {0}, auth = {0};
    ts_status st = ts_client__build_request(cfg, rq, &body, &auth, err);
    if (st != TS_OK) {
        ts_common__secbuf_wipe(&body);
        ts_common__secbuf_wipe(&auth);
        return st;
    }
    const char *hdrs[3] = {"Content-Type: application/x-www-form-urlencoded",
                           "Accept: application/json", NULL};
    size_t n_hdrs = 2;
    if (auth.n)
        hdrs[n_hdrs++] = auth.p;
    headers h = {.c = c};
    ts_common__http_req hr = {.url = cfg->token_endpoint,
                              .headers = hdrs,
                              .n_headers = n_hdrs,
                              .body = body.p,
                              .body_len = body.n,
                              .user_agent = cfg->user_agent,
                              .timeout_ms = cfg->timeout_ms,
                              .connect_timeout_ms = cfg->connect_timeout_ms,
                              .max_body = cfg->max_response_bytes,
                              .allow_plain_http = cfg->allow_plain_http,
                              /* ts_client_free() ends a grant in flight at once, but lets
                               * a refresh or bootstrap exchange finish (within timeout_ms):
                               * abandoned after sending, its credential would be lost. */
                              .stop = rq->kind == TS_CLIENT__REQ_GRANT ? &c->stop_http : NULL,
                              .on_header = on_header,
                              .header_ud = &h,
                              .label = "token request",
                              .body_label = "token response",
                              .ca_file = cfg->ca_file,
                              .sent = &a->sent};
    char *resp = NULL;
    size_t resp_len = 0;
    st = ts_common__http(&hr, &a->status, &resp, &resp_len, err);
    ts_common__secbuf_wipe(&body);
    ts_common__secbuf_wipe(&auth);
    a->oauth.http_status = a->status;
    a->oauth.retry_after_s = h.retry_after_s;
    if (st != TS_OK) {
        /* A transport failure says nothing about the answer's status, even if one arrived. */
        if (st != TS_ELIMIT)
            a->oauth.http_status = 0;
        return st;
    }
    a->answered = true;
    ts_client__step_at(c, TS_CLIENT__STEP_RECEIVED);
    st = ts_client__parse_response(a->status, h.content_type[0] ? h.content_type : NULL, resp,
                                   resp_len, cfg->max_token_bytes, tok, &a->oauth, err);
    a->oauth.retry_after_s = h.retry_after_s;
    ts_client__free_secret(resp, resp_len);
    if (st != TS_OK) {
        scrub_all(c, rq, a, err);
        if (err)
            ts_common__copyz(err->where, sizeof err->where, cfg->token_endpoint);
    }
    return st;
}
