/*
 * http_load's connections: sockets, and each connection's request cycle (build, send, read,
 * complete, reconnect) on its worker's epoll loop.
 *
 * Epoll is level-triggered: one read per readiness is enough (a partial read is reported
 * again), so an answer that arrives in one segment costs exactly one read. EPOLLOUT is only
 * asked for while a connect or a partial write is pending. Over TLS the handshake is one more
 * state between the connect and the request; records GnuTLS has already decrypted are read
 * without waiting for the socket, which has nothing more to report for them.
 */
#define _GNU_SOURCE

#include "http_load_internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "procfs.h"

/* ------------------------------------------------------------------------------------------ */
/* Sockets                                                                                    */

static void conn_close(worker *w, conn *k)
{
    hl__tls_end(w->c, k);
    if (k->fd >= 0) {
        epoll_ctl(w->ep, EPOLL_CTL_DEL, k->fd, NULL);
        close(k->fd);
    }
    k->fd = -1;
    k->events = 0;
    k->used = false;
}

static int set_events(worker *w, conn *k, uint32_t ev)
{
    if (k->events == ev)
        return 0;
    struct epoll_event e = {.events = ev, .data.ptr = k};
    if (epoll_ctl(w->ep, k->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, k->fd, &e) != 0)
        return -1;
    k->events = ev;
    return 0;
}

/* Start a non-blocking connect. @return 0 when connected or in progress, -1 on failure. */
int hl__conn_open(const struct hl_client *c, conn *k, bool *in_progress)
{
    int fd = socket(c->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, (socklen_t)sizeof one);
    *in_progress = false;
    if (connect(fd, (const struct sockaddr *)&c->addr, c->addr_len) != 0) {
        if (errno != EINPROGRESS) {
            close(fd);
            return -1;
        }
        *in_progress = true;
    }
    k->fd = fd;
    k->events = 0;
    k->used = false;
    return 0;
}

/* Whether an idle connection was closed by the server (keep-alive timeout) or holds stray
 * bytes; either way it is not usable. */
static bool idle_conn_dead(const conn *k)
{
    char b;
    ssize_t n = recv(k->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
}

/* The bytes of the connection, over TLS when there is a session. */
static long io_send(conn *k, const char *buf, size_t n)
{
    return k->tls ? hl__tls_send(k, buf, n) : (long)send(k->fd, buf, n, MSG_NOSIGNAL);
}

static long io_recv(conn *k, char *buf, size_t n)
{
    return k->tls ? hl__tls_recv(k, buf, n) : (long)recv(k->fd, buf, n, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* The request cycle                                                                          */

static void put(char **p, const char *s, size_t n)
{
    memcpy(*p, s, n);
    *p += n;
}

static int build_request(const struct hl_client *c, conn *k, const hl_request *rq)
{
    size_t ml = strlen(rq->method), pl = strlen(rq->path);
    size_t tl = rq->content_type ? strlen(rq->content_type) : 0;
    size_t hdl = rq->headers ? strlen(rq->headers) : 0;
    /* Fixed text: " HTTP/1.1\r\nHost: \r\nContent-Type: \r\nContent-Length: \r\n\r\n" + 20 digits
     */
    size_t need = ml + pl + c->host_len + tl + hdl + rq->body_len + 64 + 20;
    if (need > sizeof k->req)
        return -1;
    char *p = k->req;
    put(&p, rq->method, ml);
    put(&p, " ", 1);
    put(&p, rq->path, pl);
    put(&p, " HTTP/1.1\r\nHost: ", 17);
    put(&p, c->host, c->host_len);
    put(&p, "\r\n", 2);
    if (hdl)
        put(&p, rq->headers, hdl);
    if (rq->content_type) {
        put(&p, "Content-Type: ", 14);
        put(&p, rq->content_type, tl);
        put(&p, "\r\nContent-Length: ", 18);
        char d[24];
        size_t nd = 0;
        size_t v = rq->body_len;
        do {
            d[nd++] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        while (nd)
            *p++ = d[--nd];
        put(&p, "\r\n", 2);
    }
    put(&p, "\r\n", 2);
    if (rq->body_len)
        put(&p, rq->body, rq->body_len);
    k->req_len = (size_t)(p - k->req);
    return 0;
}

static void record_latency(worker *w, double us)
{
    if (w->nlat == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 4096;
        double *n = realloc(w->lat, cap * sizeof *n);
        if (!n) {
            w->oom = true;
            return;
        }
        w->lat = n;
        w->cap = cap;
    }
    w->lat[w->nlat++] = us;
}

static void finish(worker *w, conn *k)
{
    k->st = C_IDLE;
    if (k->active) {
        k->active = false;
        w->active--;
    }
}

static void reset_answer(conn *k)
{
    k->rlen = k->rtotal = k->scanned = k->head_len = 0;
    k->status = 0;
    k->clen = -1;
    k->close_after = false;
}

/* The current request failed in transport: tell the caller and drop the connection. The
 * functions below leave the next request to the event loop (start_next when C_IDLE), so that a
 * run of failures is a loop, not a recursion. */
static void fail(worker *w, conn *k)
{
    w->transport_errors++;
    conn_close(w, k);
    k->st = C_IDLE;
    w->c->run->done(w->c->run->ud, k->id, NULL);
}

static void send_some(worker *w, conn *k)
{
    while (k->req_off < k->req_len) {
        long n = io_send(k, k->req + k->req_off, k->req_len - k->req_off);
        if (n > 0) {
            k->req_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            k->st = C_SENDING;
            if (set_events(w, k, EPOLLIN | EPOLLOUT) != 0)
                fail(w, k);
            return;
        }
        fail(w, k);
        return;
    }
    k->st = C_RECEIVING;
    if (set_events(w, k, EPOLLIN) != 0)
        fail(w, k);
}

/* Advance the TLS handshake of a connected socket; once it is done, send the request. */
static void handshake(worker *w, conn *k)
{
    if (!k->tls && hl__tls_begin(w->c, k) != 0) {
        fail(w, k);
        return;
    }
    bool want_write = false, resumed = false;
    int rc = hl__tls_handshake(k, &want_write, &resumed);
    if (rc < 0) {
        /* A refused resumption must not stall the connection: the next one starts afresh. */
        hl__tls_forget(k);
        fail(w, k);
        return;
    }
    if (rc == 0) {
        k->st = C_HANDSHAKE;
        if (set_events(w, k, want_write ? EPOLLOUT : EPOLLIN) != 0)
            fail(w, k);
        return;
    }
    w->handshakes++;
    if (resumed)
        w->resumed++;
    send_some(w, k);
}

/* The socket is connected: TLS first, when the client speaks it. */
static void connected(worker *w, conn *k)
{
    if (w->c->tls_cred && !k->tls)
        handshake(w, k);
    else
        send_some(w, k);
}

/* Send k->req: on the open connection, or on a new one. */
static void dispatch(worker *w, conn *k)
{
    reset_answer(k);
    k->req_off = 0;
    if (k->fd >= 0) {
        send_some(w, k);
        return;
    }
    bool pending;
    if (hl__conn_open(w->c, k, &pending) != 0) {
        fail(w, k);
        return;
    }
    w->reconnects++;
    if (pending) {
        k->st = C_CONNECTING;
        if (set_events(w, k, EPOLLOUT) != 0)
            fail(w, k);
        return;
    }
    connected(w, k);
}

static void start_next(worker *w, conn *k)
{
    struct hl_client *c = w->c;
    while (k->active && k->st == C_IDLE) {
        double t = bench_now_s();
        hl_request rq = {0};
        /* The slot is claimed after next() so that a connection out of work takes none. */
        if (t >= c->deadline || !c->run->next(c->run->ud, k->id, &rq) ||
            atomic_fetch_add_explicit(&c->sent, 1, memory_order_relaxed) >= c->run->max_requests) {
            finish(w, k);
            return;
        }
        if (build_request(c, k, &rq) != 0) {
            /* A caller bug rather than load: count it and stop this connection. */
            w->transport_errors++;
            finish(w, k);
            return;
        }
        k->t0 = t;
        k->retried = false;
        dispatch(w, k);
    }
}

/* The answer in k->resp is complete. */
static void complete(worker *w, conn *k)
{
    double t1 = bench_now_s();
    size_t body_total = k->chunked ? k->dtotal : k->rtotal - k->head_len;
    size_t kept = k->rlen - k->head_len;
    hl_response r = {k->status, k->resp + k->head_len, kept < body_total ? kept : body_total,
                     kept < body_total};
    const hl_run *run = w->c->run;
    if (run->done(run->ud, k->id, &r)) {
        w->ok++;
        record_latency(w, (t1 - k->t0) * 1e6);
    } else {
        w->failed++;
    }
    /* An answer before the whole request was written leaves the server reading a request
     * that is over for us: the connection cannot carry another one. */
    if (k->req_off < k->req_len || w->c->mode != HL_KEEP_ALIVE)
        k->close_after = true;
    k->st = C_IDLE;
    k->used = true;
    if (k->close_after)
        conn_close(w, k);
}

/* EOF or a receive error while an answer is expected. */
static void on_eof(worker *w, conn *k, bool error)
{
    if (!error && k->head_len && k->clen < 0 && !k->chunked) {
        complete(w, k); /* the body was delimited by the close */
        return;
    }
    if (k->rtotal == 0 && k->used && !k->retried) {
        /* The server closed a kept-alive connection before reading this request: it was not
         * processed, so send it again once on a new connection (as HTTP clients do). */
        conn_close(w, k);
        k->retried = true;
        dispatch(w, k);
        return;
    }
    fail(w, k);
}

static void on_readable(worker *w, conn *k)
{
    char scratch[4096];
    char *dst;
    size_t room;
    if (k->rlen < sizeof k->resp) {
        dst = k->resp + k->rlen;
        room = sizeof k->resp - k->rlen;
    } else {
        dst = scratch; /* beyond what is kept: count and drop */
        room = sizeof scratch;
    }
    long n = io_recv(k, dst, room);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (k->st == C_IDLE) {
        /* Idle: the server closed the connection, or sent bytes nobody asked for. */
        if (n > 0)
            w->transport_errors++;
        conn_close(w, k);
        return;
    }
    if (n <= 0) {
        on_eof(w, k, n < 0);
        return;
    }
    k->rtotal += (size_t)n;
    if (dst != scratch)
        k->rlen += (size_t)n;
    size_t fresh = (size_t)n; /* for a chunked body: these bytes still need decoding */
    for (;;) {
        if (!k->head_len) {
            size_t hl = hl__find_head_end(k);
            if (!hl) {
                if (k->rlen == sizeof k->resp)
                    fail(w, k); /* a head longer than the buffer */
                return;
            }
            if (hl__parse_head(k, hl) != 0) {
                fail(w, k);
                return;
            }
            if (k->status < 200) {
                /* An interim answer: drop it and read the final one from what follows. */
                size_t rest = k->rlen - hl;
                memmove(k->resp, k->resp + hl, rest);
                k->rlen = rest;
                k->rtotal -= hl;
                k->scanned = k->head_len = 0;
                continue;
            }
        }
        break;
    }
    if (k->chunked) {
        /* Decode what arrived: kept bytes in place (the decoded body never outgrows them),
           bytes beyond the kept prefix only counted. */
        size_t raw = k->rlen - k->ppos, extra = 0;
        k->rlen = k->ppos;
        long used = hl__chunk_feed(k, k->resp + k->ppos, raw, k->resp);
        if (used >= 0) {
            extra = raw - (size_t)used;
            k->ppos = k->rlen;
            if (dst == scratch) {
                long more = hl__chunk_feed(k, scratch, fresh, NULL);
                used = more;
                extra += more < 0 ? 0 : fresh - (size_t)more;
            }
        }
        if (used < 0) {
            fail(w, k);
            return;
        }
        if (k->cstate != CS_DONE)
            return;
        if (extra) { /* bytes after the answer to the only request in flight */
            k->close_after = true;
            w->transport_errors++;
        }
        complete(w, k);
        return;
    }
    if (k->clen < 0)
        return; /* until the close */
    size_t need = k->head_len + (size_t)k->clen;
    if (k->rtotal < need)
        return;
    if (k->rtotal > need) {
        /* Bytes after the answer to the only request in flight. */
        k->close_after = true;
        w->transport_errors++;
        k->rtotal = need;
        if (k->rlen > need)
            k->rlen = need;
    }
    complete(w, k);
}

static void on_writable(worker *w, conn *k)
{
    if (k->st == C_CONNECTING) {
        int e = 0;
        socklen_t l = (socklen_t)sizeof e;
        if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &e, &l) != 0 || e != 0) {
            fail(w, k);
            return;
        }
        connected(w, k);
    } else if (k->st == C_HANDSHAKE) {
        handshake(w, k);
    } else if (k->st == C_SENDING) {
        send_some(w, k);
    }
}

/* Requests stuck past HL_TIMEOUT_S fail. */
static void check_timeouts(worker *w, double t)
{
    for (size_t i = 0; i < w->nconns; i++) {
        conn *k = w->conns[i];
        if (k->st != C_IDLE && t - k->t0 > HL_TIMEOUT_S) {
            fail(w, k);
            start_next(w, k);
        }
    }
}

void *hl__worker_main(void *arg)
{
    worker *w = arg;
    w->active = 0;
    for (size_t i = 0; i < w->nconns; i++) {
        conn *k = w->conns[i];
        if (k->fd >= 0 && idle_conn_dead(k))
            conn_close(w, k);
        k->active = true;
        k->st = C_IDLE;
        w->active++;
    }
    for (size_t i = 0; i < w->nconns; i++)
        start_next(w, w->conns[i]);
    struct epoll_event ev[256];
    double last_check = bench_now_s();
    while (w->active > 0) {
        int n = epoll_wait(w->ep, ev, (int)(sizeof ev / sizeof ev[0]), 1000);
        if (n < 0 && errno != EINTR)
            break;
        for (int i = 0; i < n; i++) {
            conn *k = ev[i].data.ptr;
            uint32_t e = ev[i].events;
            if (k->fd < 0)
                continue; /* closed by an earlier event of this batch */
            if (k->st == C_CONNECTING || k->st == C_HANDSHAKE ||
                ((e & EPOLLOUT) && k->st == C_SENDING))
                on_writable(w, k); /* a failed connect reports EPOLLERR alone */
            else if (e & (EPOLLIN | EPOLLHUP | EPOLLERR))
                on_readable(w, k);
            /* Records GnuTLS has decrypted already: epoll will not report them. */
            while (k->fd >= 0 && k->st == C_RECEIVING && hl__tls_pending(k))
                on_readable(w, k);
            start_next(w, k);
        }
        double t = bench_now_s();
        if (t - last_check >= 1.0) {
            check_timeouts(w, t);
            last_check = t;
        }
    }
    return NULL;
}
