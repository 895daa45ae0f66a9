/* The lean implementation of common/http_client.h: one HTTP/1.1 exchange over a plain socket or
   OpenSSL, without libcurl (whose dependency tree alone is larger than the agent's memory
   budget). Same contract and same observable behaviour as http_client.c; what the request
   carries follows what libcurl sends for the same ts_common__http_req. */
#define _POSIX_C_SOURCE 200809L
#include "common/http_client.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "common/http_response.h"
#include "common/http_url.h"
#include "common/mem.h"
#include "common/secbuf.h"
#include "http_lean.h"

#define DEFAULT_TIMEOUT_MS 10000u
/* One read's worth of the response. */
#define READ_CHUNK 16384u
/* User and password from a URL's userinfo, decoded. */
#define CRED_MAX 1024u

ts_status ts_common__http_init(ts_error *err)
{
    /* Nothing to do before the first exchange: OpenSSL's SSL part is initialised by the first
       https:// exchange, so that a process that never fetches one never pays for it. */
    (void)err;
    return TS_OK;
}

/* The name of a caller's header line, up to ':' or ';' (libcurl's "Name;" sends an empty
   value). */
static size_t header_name_len(const char *line)
{
    return strcspn(line, ":;");
}

static bool header_named(const char *line, const char *name)
{
    size_t n = header_name_len(line);
    return n == strlen(name) && strncasecmp(line, name, n) == 0;
}

/* Whether the caller's headers name @p name (then libcurl sends theirs, or none for "Name:"). */
static bool caller_has(const ts_common__http_req *rq, const char *name)
{
    for (size_t i = 0; i < rq->n_headers; i++)
        if (rq->headers[i] && header_named(rq->headers[i], name))
            return true;
    return false;
}

/* "Authorization: Basic base64(user:password)\r\n" */
static void basic_auth(ts_common__secbuf *b, const char *user, const char *password)
{
    size_t ul = strlen(user), pl = strlen(password);
    if (ul > INT32_MAX / 2 || pl > INT32_MAX / 2) {
        b->oom = true;
        return;
    }
    size_t n = ul + 1 + pl;
    char *plain = malloc(n + 1);
    unsigned char *enc = malloc(4 * ((n + 2) / 3) + 1);
    if (!plain || !enc) {
        b->oom = true;
    } else {
        memcpy(plain, user, ul);
        plain[ul] = ':';
        memcpy(plain + ul + 1, password, pl);
        int el = EVP_EncodeBlock(enc, (const unsigned char *)plain, (int)n);
        ts_common__secbuf_adds(b, "Authorization: Basic ");
        ts_common__secbuf_add(b, (const char *)enc, (size_t)el);
        ts_common__secbuf_adds(b, "\r\n");
        ts_common__memzero(enc, (size_t)el);
    }
    ts_common__memzero(plain, plain ? n : 0);
    free(plain);
    free(enc);
}

typedef struct hop {
    const ts_common__http_url *u;
    bool post;
    bool same_origin; /* the host the caller named: credentials go there only, as with libcurl */
} hop;

/* The request head and body as libcurl writes them for the same request, with "Connection:
   close" (one exchange per connection). @return TS_EINVAL for a header line with a line
   break (it would smuggle another header or request), TS_ENOMEM. */
static ts_status request(const ts_common__http_req *rq, const hop *h, ts_common__secbuf *b)
{
    const ts_common__http_url *u = h->u;
    char line[TS_COMMON__HTTP_HOST_MAX + 32];
    ts_common__secbuf_adds(b, h->post ? "POST " : "GET ");
    if (u->target[0] != '/')
        ts_common__secbuf_adds(b, "/");
    ts_common__secbuf_add(b, u->target, u->target_len);
    ts_common__secbuf_adds(b, " HTTP/1.1\r\n");
    if (!caller_has(rq, "Host")) {
        /* The port only when it is not the scheme's, as libcurl writes it. */
        snprintf(line, sizeof line, "Host: %s%s%s", u->ipv6 ? "[" : "", u->host,
                 u->ipv6 ? "]" : "");
        ts_common__secbuf_adds(b, line);
        if (u->port != (u->https ? 443u : 80u)) {
            snprintf(line, sizeof line, ":%u", u->port);
            ts_common__secbuf_adds(b, line);
        }
        ts_common__secbuf_adds(b, "\r\n");
    }
    if (h->same_origin && !caller_has(rq, "Authorization")) {
        if (rq->user) {
            basic_auth(b, rq->user, rq->password ? rq->password : "");
        } else if (u->userinfo) {
            char user[CRED_MAX], pass[CRED_MAX];
            if (!ts_common__http_url_credential(u, false, user, sizeof user) ||
                !ts_common__http_url_credential(u, true, pass, sizeof pass))
                return TS_EINVAL;
            basic_auth(b, user, pass);
            ts_common__memzero(user, sizeof user);
            ts_common__memzero(pass, sizeof pass);
        }
    }
    if (!caller_has(rq, "User-Agent")) {
        if (rq->user_agent && strpbrk(rq->user_agent, "\r\n"))
            return TS_EINVAL;
        ts_common__secbuf_adds(b, "User-Agent: ");
        ts_common__secbuf_adds(b, rq->user_agent ? rq->user_agent : "tokensmith");
        ts_common__secbuf_adds(b, "\r\n");
    }
    if (!caller_has(rq, "Accept"))
        ts_common__secbuf_adds(b, "Accept: */*\r\n");
    for (size_t i = 0; i < rq->n_headers; i++) {
        const char *l = rq->headers[i];
        if (!l)
            continue;
        if (strpbrk(l, "\r\n"))
            return TS_EINVAL;
        /* Framing and the connection are this client's: a caller's would contradict them. */
        if (header_named(l, "Content-Length") || header_named(l, "Transfer-Encoding") ||
            header_named(l, "Connection") || header_named(l, "Expect"))
            continue;
        /* libcurl keeps a caller's credentials and cookies to the host the caller named. */
        if (!h->same_origin && (header_named(l, "Authorization") || header_named(l, "Cookie")))
            continue;
        size_t nl = header_name_len(l);
        if (l[nl] == ';' && l[nl + 1] == '\0') {
            ts_common__secbuf_add(b, l, nl); /* "Name;": the header with an empty value */
            ts_common__secbuf_adds(b, ":\r\n");
            continue;
        }
        const char *v = l[nl] == ':' ? l + nl + 1 : NULL;
        while (v && (*v == ' ' || *v == '\t'))
            v++;
        if (!v || *v == '\0')
            continue; /* "Name:": libcurl's way to send no such header at all */
        ts_common__secbuf_adds(b, l);
        ts_common__secbuf_adds(b, "\r\n");
    }
    if (h->post) {
        if (!caller_has(rq, "Content-Type"))
            ts_common__secbuf_adds(b, "Content-Type: application/x-www-form-urlencoded\r\n");
        snprintf(line, sizeof line, "Content-Length: %zu\r\n", rq->body_len);
        ts_common__secbuf_adds(b, line);
    }
    ts_common__secbuf_adds(b, "Connection: close\r\n\r\n");
    if (h->post)
        ts_common__secbuf_add(b, rq->body, rq->body_len);
    return b->oom ? TS_ENOMEM : TS_OK;
}

/* What one hop ended with, for the exchange to word. */
typedef struct outcome {
    ts_status st; /* TS_OK; TS_EIO (why), TS_ELIMIT, TS_ENOMEM, TS_EINVAL (why) */
    bool stopped;
    char why[200];
} outcome;

static void lean_outcome(outcome *o, ts_common__lean_rc rc)
{
    o->st = rc == TS_COMMON__LEAN_NOMEM ? TS_ENOMEM : TS_EIO;
    o->stopped = rc == TS_COMMON__LEAN_STOPPED;
}

/* One request and its response on one connection. */
static void one_hop(const ts_common__http_req *rq, const hop *h, const ts_common__lean_clock *c,
                    ts_common__http_resp *p, outcome *o)
{
    ts_common__secbuf req = {0};
    ts_status st = request(rq, h, &req);
    if (st != TS_OK) {
        o->st = st;
        snprintf(o->why, sizeof o->why, "%s",
                 st == TS_EINVAL ? "a request header or the URL's credentials cannot be sent"
                                 : "out of memory");
        ts_common__secbuf_wipe(&req);
        return;
    }
    ts_common__lean_conn *k = NULL;
    ts_common__lean_rc rc = ts_common__lean_open(h->u, rq->ca_file, c, &k, o->why, sizeof o->why);
    if (rc == TS_COMMON__LEAN_OK)
        rc = ts_common__lean_write(k, req.p, req.n, c, rq->sent, o->why, sizeof o->why);
    ts_common__secbuf_wipe(&req);
    char data[READ_CHUNK];
    size_t got = 0;
    while (rc == TS_COMMON__LEAN_OK && !ts_common__http_resp_done(p)) {
        rc = ts_common__lean_read(k, data, sizeof data, &got, c, o->why, sizeof o->why);
        if (rc != TS_COMMON__LEAN_OK)
            break;
        st = got ? ts_common__http_resp_feed(p, data, got) : ts_common__http_resp_eof(p);
        if (st != TS_OK || got == 0)
            break;
    }
    ts_common__memzero(data, sizeof data);
    ts_common__lean_close(k);
    if (rc != TS_COMMON__LEAN_OK) {
        lean_outcome(o, rc);
        return;
    }
    o->st = st == TS_EPARSE ? TS_EIO : st;
    if (st != TS_OK)
        snprintf(o->why, sizeof o->why, "%s", ts_common__http_resp_why(p));
}

static bool same_origin(const ts_common__http_url *a, const ts_common__http_url *b)
{
    return a->https == b->https && a->port == b->port && strcasecmp(a->host, b->host) == 0;
}

static bool is_redirect(int status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

ts_status ts_common__http(const ts_common__http_req *rq, long *status, char **out, size_t *out_len,
                          ts_error *err)
{
    char where[sizeof err->where];
    if (ts_common__http_begin(rq, status, out, out_len, where, sizeof where, err) != TS_OK)
        return TS_EINVAL;
    const char *label = rq->label ? rq->label : "request";
    unsigned timeout = rq->timeout_ms ? rq->timeout_ms : DEFAULT_TIMEOUT_MS;
    unsigned connect_ms = rq->connect_timeout_ms && rq->connect_timeout_ms < timeout
                              ? rq->connect_timeout_ms
                              : timeout;
    ts_common__lean_clock c = {.deadline = ts_common__lean_now_ms() + timeout,
                               .timeout_ms = timeout,
                               .connect_ms = connect_ms,
                               .stop = rq->stop};
    ts_common__http_url first, u;
    const char *why = NULL;
    if (!ts_common__http_url_split(rq->url, &first, &why))
        return ts_error_set(err, TS_EIO, where, "%s failed: %s", label, why);
    char *next = NULL; /* the URL of a redirect being followed */
    ts_common__http_resp_opts po = {
        .max_body = rq->max_body, .on_header = rq->on_header, .header_ud = rq->header_ud};
    ts_common__http_resp *p = NULL;
    outcome o = {.st = TS_OK};
    hop h = {.u = &first, .post = rq->body != NULL, .same_origin = true};
    for (unsigned hops = 0;; hops++) {
        if (!(p = ts_common__http_resp_new(&po))) {
            o.st = TS_ENOMEM;
            break;
        }
        /* Each connection (a redirect's too) has its own bound, within the whole one. */
        int64_t cd = ts_common__lean_now_ms() + connect_ms;
        c.connect_deadline = cd < c.deadline ? cd : c.deadline;
        one_hop(rq, &h, &c, p, &o);
        *status = ts_common__http_resp_status(p);
        size_t ll;
        const char *loc = ts_common__http_resp_location(p, &ll);
        if (o.st != TS_OK || !rq->max_redirects || !is_redirect((int)*status) || !loc)
            break;
        if (hops == rq->max_redirects) {
            o.st = TS_EIO;
            snprintf(o.why, sizeof o.why, "more than %u redirects", rq->max_redirects);
            break;
        }
        char *to = ts_common__http_url_resolve(next ? next : rq->url, loc, ll);
        free(next);
        next = to;
        if (!next || strncasecmp(next, "https://", 8) != 0 ||
            !ts_common__http_url_split(next, &u, &why)) {
            o.st = TS_EIO;
            snprintf(o.why, sizeof o.why, "a redirect %s",
                     !next                                   ? "Location that is not a URL"
                     : strncasecmp(next, "https://", 8) != 0 ? "to a URL that is not https://"
                                                             : why);
            break;
        }
        /* As libcurl: 303 turns the request into a GET, and so do 301 and 302 after a POST. */
        if (*status == 303 || *status == 301 || *status == 302)
            h.post = false;
        h.u = &u;
        h.same_origin = h.same_origin && same_origin(&first, &u);
        ts_common__http_resp_free(p);
        p = NULL;
    }
    free(next);
    ts_status st = o.st;
    if (st == TS_OK && !(*out = ts_common__http_resp_take_body(p, out_len)))
        st = TS_ENOMEM;
    ts_common__http_resp_free(p);
    switch (st) {
    case TS_OK:
        return TS_OK;
    case TS_ELIMIT:
        return ts_error_set(err, TS_ELIMIT, where, "%s larger than %zu bytes",
                            rq->body_label ? rq->body_label : "response body", rq->max_body);
    case TS_ENOMEM:
        return ts_error_set(err, TS_ENOMEM, where, "out of memory");
    default:
        if (o.stopped)
            return ts_error_set(err, TS_EIO, where, "%s stopped", label);
        return ts_error_set(err, st == TS_EINVAL ? TS_EINVAL : TS_EIO, where, "%s failed: %s",
                            label, o.why);
    }
}
