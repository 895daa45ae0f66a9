/*
 * The HTTP check listener's server (check_httpd.h): worker threads, each with its own epoll set
 * and connections, sharing one listening socket (EPOLLEXCLUSIVE: one worker is woken per new
 * connection). A cached check costs one epoll_wait(), one recv() and one send(): TCP_NODELAY is
 * set once per connection, the input and output buffers are kept for the connection's life, and
 * only the bytes that held a token are wiped (the head, the answer), not whole buffers.
 *
 * A connection goes IDLE -> HEAD (from its first byte) -> BODY (head parsed) -> the handler ->
 * the answer sent -> IDLE again (keep-alive; pipelined bytes already read are the next head),
 * or LINGER: after an answer that closes, the write side is shut and what the client still
 * sends is read and dropped for a short while, so that closing with unread bytes does not
 * reset the connection under the answer (a 413 sent before a large body). Each phase has a
 * deadline, checked by the worker every SCAN_MS: HEAD and BODY the request deadline (a slow
 * head or body is cut without an answer, as tokensmith-mhd's watchdog does), IDLE and WRITE
 * the idle timeout, LINGER LINGER_MS.
 *
 * With TLS (o->tls), a connection starts in HANDSHAKE, bounded by the request deadline like a
 * head (a silent or slow ClientHello is cut; garbage fails the handshake and closes at once),
 * and its bytes then go through common/tls_conn.h. Decrypted bytes may wait inside the TLS
 * session when the socket has none: they are read before the worker waits for EPOLLIN again.
 *
 * The start and the stop (the drain) are check_httpd_life.c's.
 */
#define _GNU_SOURCE /* accept4(), EPOLLEXCLUSIVE */

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check_httpd.h"
#include "check_httpd_internal.h"
#include "common/mem.h"
#include "common/tls_conn.h"

#define SCAN_MS 100    /* how often a worker looks at its connections' deadlines */
#define LINGER_MS 2000 /* at most this long reading what a closed-on client still sends */
#define LINGER_BYTES 262144u
#define IN_FIRST 4096u /* a connection's input buffer to start with; grows to the head bound */
#define EVENTS 64

enum phase { HANDSHAKE, IDLE, HEAD, BODY, WRITE, LINGER };

typedef struct conn {
    int fd;
    ts_common__tls_conn *tls; /* NULL: plain HTTP */
    enum phase phase;
    int64_t since; /* when the phase began (monotonic ms) */
    struct conn *prev, *next;
    worker *w;
    char *in;
    size_t in_len, in_cap;
    size_t scanned;  /* bytes of the head already searched for its end */
    size_t head_len; /* the parsed head's bytes at the start of @c in */
    ts_gateway__header *hdrs;
    ts_gateway__http_head head;
    uint64_t body_left; /* Content-Length bytes still to read */
    uint64_t body_seen; /* chunked payload bytes so far */
    ts_gateway__chunked chunked;
    bool inflight;
    ts_gateway__httpd_answer out;
    size_t out_sent;
    size_t lingered;
} conn;

/* epoll tags for the two shared descriptors (a connection's tag is its conn). */
char ts_gateway__httpd_listen_tag, ts_gateway__httpd_wake_tag;

/* ---------------------------------------------------------------------------------------- */
/* Connections                                                                               */

static void set_inflight(conn *c, bool on)
{
    if (c->inflight != on)
        atomic_fetch_add(&c->w->s->inflight, on ? 1u : (unsigned)-1);
    c->inflight = on;
}

static void conn_close(conn *c)
{
    worker *w = c->w;
    set_inflight(c, false);
    ts_common__tls_conn_free(c->tls);
    close(c->fd); /* also removes it from the epoll set */
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    ts_common__memzero(c->in, c->in_len); /* a head not yet answered holds a token */
    free(c->in);
    free(c->hdrs);
    ts_common__memzero(c->out.buf, c->out.len);
    free(c->out.buf);
    atomic_fetch_sub(&w->s->conns, 1u);
    free(c);
}

/* recv() and send() of the connection, through its TLS session when it has one. */
static ssize_t io_recv(conn *c, void *buf, size_t len)
{
    return c->tls ? ts_common__tls_conn_recv(c->tls, buf, len) : recv(c->fd, buf, len, 0);
}

static ssize_t io_send(conn *c, const void *buf, size_t len)
{
    return c->tls ? ts_common__tls_conn_send(c->tls, buf, len)
                  : send(c->fd, buf, len, MSG_NOSIGNAL);
}

static void watch(conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    (void)epoll_ctl(c->w->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* After an answer that closes: shut the write side, then read and drop for a while. */
static void linger(conn *c, int64_t now)
{
    if (c->tls)
        ts_common__tls_conn_close(c->tls); /* close_notify: the answer's end is not a cut */
    (void)shutdown(c->fd, SHUT_WR);
    ts_common__memzero(c->in, c->in_len);
    c->in_len = 0;
    c->phase = LINGER;
    c->since = now;
}

/* Send what is left of the answer. false: the connection is gone. */
static bool flush(conn *c, int64_t now)
{
    while (c->out_sent < c->out.len) {
        ssize_t n = io_send(c, c->out.buf + c->out_sent, c->out.len - c->out_sent);
        if (n > 0) {
            c->out_sent += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (c->phase != WRITE) {
                c->phase = WRITE;
                c->since = now;
                watch(c, EPOLLOUT);
            }
            return true;
        } else {
            conn_close(c);
            return false;
        }
    }
    ts_common__memzero(c->out.buf, c->out.len); /* an allow holds the translated token */
    c->out.len = c->out_sent = 0;
    set_inflight(c, false);
    bool was_write = c->phase == WRITE;
    if (c->out.close) {
        linger(c, now);
    } else {
        c->phase = IDLE;
        c->since = now;
    }
    if (was_write)
        watch(c, EPOLLIN);
    return true;
}

/* The head and body of the request are consumed: forget them, keep what follows (pipelined). */
static void next_request(conn *c, size_t used)
{
    ts_common__memzero(c->in, used);
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
    c->scanned = 0;
    c->head_len = 0;
}

/* Answer the request whose head and body are in (or refuse it: @p status set), then send. */
static bool answer(conn *c, unsigned status, const char *why, int64_t now)
{
    ts_gateway__httpd *s = c->w->s;
    c->out.len = c->out_sent = 0;
    c->out.head_only = false;
    c->out.http10 = !c->head.http11;
    c->out.close = c->head.close || atomic_load_explicit(&s->draining, memory_order_relaxed);
    if (status) {
        ts_gateway__httpd_refuse(&c->out, status, why);
    } else {
        c->out.head_only = c->head.method.len == 4 && memcmp(c->head.method.ptr, "HEAD", 4) == 0;
        s->o.fn(&c->head, &c->out, s->o.ud);
        /* the stop may have begun while the check ran (a slow JWKS fetch) */
        if (atomic_load_explicit(&s->draining, memory_order_relaxed))
            ts_gateway__httpd_answer_close(&c->out);
    }
    if (c->out.failed) {
        conn_close(c);
        return false;
    }
    if (c->out.close)
        c->in_len = c->head_len; /* what follows a request answered with close is dropped */
    next_request(c, c->head_len);
    return flush(c, now);
}

/* Read the body after the head: count it, drop it. true: it has ended. */
static bool body(conn *c, ts_gateway__chunked_result *bad)
{
    char *p = c->in + c->head_len;
    size_t n = c->in_len - c->head_len, used = n;
    *bad = TS_GATEWAY__CHUNKED_MORE;
    bool done;
    if (c->head.chunked) {
        *bad = ts_gateway__chunked_feed(&c->chunked, p, n, &used, &c->body_seen);
        done = *bad == TS_GATEWAY__CHUNKED_DONE;
    } else {
        used = (uint64_t)n < c->body_left ? n : (size_t)c->body_left;
        c->body_left -= used;
        done = c->body_left == 0;
    }
    memmove(p, p + used, n - used);
    c->in_len -= used;
    return done;
}

/* Make progress on the bytes in: heads parsed, bodies read, answers sent, in order.
 * false: the connection is gone. */
static bool process(conn *c, int64_t now)
{
    ts_gateway__httpd *s = c->w->s;
    for (;;) {
        if (c->phase == IDLE) {
            if (c->in_len == 0)
                return true;
            c->phase = HEAD;
            c->since = now;
        }
        if (c->phase == HEAD) {
            size_t end = ts_gateway__http_head_end(c->in, c->in_len, c->scanned);
            if (end == SIZE_MAX || (end == 0 && c->in_len >= s->head_max)) {
                c->head_len = c->in_len;
                c->head = (ts_gateway__http_head){0};
                if (!answer(c, end ? 400 : 431,
                            end ? "malformed request head" : "request head too large", now))
                    return false;
                continue;
            }
            if (end == 0) {
                c->scanned = c->in_len;
                return true;
            }
            c->head_len = end;
            set_inflight(c, true);
            if (!ts_gateway__http_parse_head(c->in, end, c->hdrs, s->o.max_headers, &c->head)) {
                if (!answer(c, c->head.status, c->head.why, now))
                    return false;
                continue;
            }
            /* Refused before a byte of it is read; the connection then closes. */
            if (c->head.length > s->o.body_max) {
                if (!answer(c, 413, "request body over 65536 bytes", now))
                    return false;
                continue;
            }
            c->phase = BODY;
            c->since = now;
            c->body_left = c->head.length;
            c->body_seen = 0;
            c->chunked = (ts_gateway__chunked){0};
            bool more = c->head.chunked || c->head.length > c->in_len - end;
            if (c->head.expect_continue && more) {
                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                if (io_send(c, cont, sizeof cont - 1) != (ssize_t)sizeof cont - 1) {
                    conn_close(c);
                    return false;
                }
            }
        }
        if (c->phase == BODY) {
            ts_gateway__chunked_result r;
            bool done = body(c, &r);
            if (r == TS_GATEWAY__CHUNKED_BAD) {
                if (!answer(c, 400, "malformed chunked body", now))
                    return false;
                continue;
            }
            if (!done)
                return true;
            /* A chunked body over the bound was read to its end, counted, and is refused. */
            bool big = c->body_seen > s->o.body_max;
            if (!answer(c, big ? 413 : 0, big ? "request body over 65536 bytes" : NULL, now))
                return false;
            continue;
        }
        return true; /* WRITE or LINGER: nothing more is read until they end */
    }
}

/* One read, and what it makes possible. false: the connection is gone. */
static bool read_once(conn *c, int64_t now)
{
    ts_gateway__httpd *s = c->w->s;
    if (c->phase == LINGER) {
        char drop[4096]; /* raw bytes, TLS or not: nothing of it is answered */
        ssize_t n = recv(c->fd, drop, sizeof drop, 0);
        if (n > 0 && (c->lingered += (size_t)n) <= LINGER_BYTES)
            return true;
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return true;
        conn_close(c);
        return false;
    }
    if (c->in_len == c->in_cap) {
        /* Grown only up to the head bound plus one read: a body is consumed as it arrives. */
        size_t cap = c->in_cap ? c->in_cap * 2 : IN_FIRST;
        if (cap > s->head_max + IN_FIRST)
            cap = s->head_max + IN_FIRST;
        char *b = cap > c->in_cap ? malloc(cap) : NULL;
        if (!b) {
            conn_close(c);
            return false;
        }
        if (c->in) {
            memcpy(b, c->in, c->in_len);
            ts_common__memzero(c->in, c->in_len);
            free(c->in);
        }
        c->in = b;
        c->in_cap = cap;
    }
    if (!c->hdrs &&
        !(c->hdrs = malloc(sizeof *c->hdrs * (s->o.max_headers ? s->o.max_headers : 1)))) {
        conn_close(c);
        return false;
    }
    ssize_t n = io_recv(c, c->in + c->in_len, c->in_cap - c->in_len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return true;
    if (n <= 0) {
        conn_close(c); /* end of file in any phase: nothing to answer to */
        return false;
    }
    c->in_len += (size_t)n;
    return process(c, now);
}

/* Bytes a TLS session decrypted and holds while a request could use them: the socket may
 * never become readable for them again. */
static bool tls_pending(const conn *c)
{
    return c->tls && (c->phase == IDLE || c->phase == HEAD || c->phase == BODY) &&
           ts_common__tls_conn_pending(c->tls) > 0;
}

static void on_readable(conn *c, int64_t now)
{
    while (read_once(c, now) && tls_pending(c)) {
    }
}

/* A step of the TLS handshake; once done, the connection waits for its first request. */
static void on_handshake(conn *c, int64_t now)
{
    switch (ts_common__tls_conn_handshake(c->tls)) {
    case TS_COMMON__TLS_CONN_WANT_READ:
        watch(c, EPOLLIN);
        return;
    case TS_COMMON__TLS_CONN_WANT_WRITE:
        watch(c, EPOLLOUT);
        return;
    case TS_COMMON__TLS_CONN_FAILED:
        conn_close(c); /* garbage, plain HTTP, a refused version or client certificate */
        return;
    case TS_COMMON__TLS_CONN_DONE:
        break;
    }
    c->phase = IDLE;
    c->since = now;
    watch(c, EPOLLIN);
    if (ts_common__tls_conn_pending(c->tls) > 0)
        on_readable(c, now); /* a request sent with the client's last handshake flight */
}

static void on_accept(worker *w, int64_t now)
{
    ts_gateway__httpd *s = w->s;
    for (int i = 0; i < 16; i++) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN: another worker took it; others: retried on the next wake */
        /* Over the bound: closed at once, unanswered (the proxy opens another later). */
        if (atomic_fetch_add(&s->conns, 1u) >= s->o.max_connections) {
            atomic_fetch_sub(&s->conns, 1u);
            close(fd);
            continue;
        }
        conn *c = calloc(1, sizeof *c);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (!c || epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            free(c);
            atomic_fetch_sub(&s->conns, 1u);
            close(fd);
            continue;
        }
        ts_error err = {0};
        if (s->o.tls && !(c->tls = ts_common__tls_conn_new(fd, s->o.tls, &err))) {
            (void)epoll_ctl(w->ep, EPOLL_CTL_DEL, fd, NULL);
            free(c);
            atomic_fetch_sub(&s->conns, 1u);
            close(fd);
            continue;
        }
        /* Once per connection: every answer is one send() and must not wait for Nagle. */
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->fd = fd;
        c->w = w;
        c->phase = c->tls ? HANDSHAKE : IDLE;
        c->since = now;
        c->next = w->conns;
        if (w->conns)
            w->conns->prev = c;
        w->conns = c;
    }
}

/* Close the connections whose phase is overdue. */
static void scan(worker *w, int64_t now)
{
    const ts_gateway__httpd_options *o = &w->s->o;
    for (conn *c = w->conns, *next; c; c = next) {
        next = c->next;
        int64_t limit = c->phase == HANDSHAKE || c->phase == HEAD || c->phase == BODY
                            ? (int64_t)o->deadline_ms
                        : c->phase == LINGER ? LINGER_MS
                                             : (int64_t)o->idle_ms;
        if (now - c->since >= limit)
            conn_close(c);
    }
}

void *ts_gateway__httpd_run(void *arg)
{
    worker *w = arg;
    ts_gateway__httpd *s = w->s;
    struct epoll_event ev[EVENTS];
    int64_t next_scan = ts_gateway__httpd_mono_ms() + SCAN_MS;
    bool listening = true;
    while (!atomic_load(&s->stopping)) {
        int n = epoll_wait(w->ep, ev, EVENTS, w->conns ? SCAN_MS : -1);
        int64_t now = ts_gateway__httpd_mono_ms();
        if (listening && atomic_load(&s->draining)) {
            (void)epoll_ctl(w->ep, EPOLL_CTL_DEL, s->lfd, NULL);
            listening = false;
        }
        for (int i = 0; i < n; i++) {
            void *tag = ev[i].data.ptr;
            if (tag == &ts_gateway__httpd_listen_tag) {
                if (listening)
                    on_accept(w, now);
            } else if (tag != &ts_gateway__httpd_wake_tag) {
                conn *c = tag;
                if (c->phase == HANDSHAKE) {
                    on_handshake(c, now);
                } else if (c->phase == WRITE && (ev[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
                    if (flush(c, now) && c->phase != WRITE && process(c, now) && tls_pending(c))
                        on_readable(c, now);
                } else if (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                    on_readable(c, now);
                }
            }
        }
        if (now >= next_scan) {
            scan(w, now);
            next_scan = now + SCAN_MS;
        }
    }
    while (w->conns)
        conn_close(w->conns);
    return NULL;
}
