/* The agent's HTTP server (rt_httpd.h): one thread, poll(), non-blocking sockets.
 *
 * A connection goes HEAD -> WRITE -> LINGER -> closed, each phase with a deadline:
 *  - HEAD: reading the request head, which must be complete head_timeout_ms after the accept
 *    (a client trickling header bytes is closed then, however steadily it sends);
 *  - WRITE: the whole answer, within write_timeout_ms;
 *  - LINGER: our side is shut down and we read (and drop) what the client still sends until it
 *    closes, for at most linger_ms. Closing at once could make the kernel answer a request body
 *    we never read with a reset, and a reset can destroy our answer before the client reads it.
 * The thread sleeps in poll() until the nearest deadline, or without a timeout when nothing is
 * open; an eventfd wakes it to stop. Nothing else wakes it: an idle agent costs no CPU.
 *
 * With TLS (o.tls), HEAD begins with the handshake (common/tls_conn.h) under the same deadline
 * from the accept, so a silent or trickling ClientHello is cut like a slow head, and garbage
 * closes at once; bytes the TLS session already decrypted are read before the thread polls
 * again, and the answer ends with close_notify before the write side is shut. */
#define _GNU_SOURCE /* accept4 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/tls_conn.h"
#include "rt_httpd.h"

enum { ST_HEAD, ST_WRITE, ST_LINGER };

#define IN_FIRST 1024u      /* the first read buffer; it doubles up to the head limit */
#define ACCEPT_BURST 64     /* accepts per wake-up, so that open connections get their turn */
#define ACCEPT_PAUSE_MS 100 /* after EMFILE and the like: the listener stays readable */

typedef struct conn {
    int fd;
    ts_common__tls_conn *tls; /* NULL: plain HTTP */
    bool handshaking;         /* TLS: the handshake is not over */
    bool want_write;          /* TLS: the handshake waits for the socket to take bytes */
    int state;
    int64_t deadline; /* monotonic ms */
    uint8_t key[17];  /* what max_per_address counts: family, then the address or /64 */
    struct sockaddr_storage peer;
    socklen_t peer_len;
    char *in; /* the request head so far */
    size_t in_len, in_cap;
    ts_agent__httpd_scan scan;
    char *out; /* the answer; holds a token: wiped when freed */
    size_t out_len, out_off;
} conn;

struct ts_agent__httpd {
    ts_agent__httpd_options o;
    int lfd, wake;
    unsigned port;
    pthread_t thread;
    conn **conns; /* n open, in accept order; o.max_connections slots */
    size_t n;
    struct pollfd *pfd;          /* the eventfd, the listener, then one per connection */
    int64_t accept_paused_until; /* 0: the listener is polled */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* IPv4 by address (also IPv4-mapped IPv6), IPv6 by its /64, anything else (Unix) as one. */
static void key_of(const struct sockaddr_storage *ss, socklen_t len, uint8_t key[17])
{
    memset(key, 0, 17);
    key[0] = 1;
    if (ss->ss_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        key[0] = 4;
        memcpy(key + 1, &((const struct sockaddr_in *)ss)->sin_addr, 4);
    } else if (ss->ss_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            key[0] = 4;
            memcpy(key + 1, a->s6_addr + 12, 4);
        } else {
            key[0] = 6;
            memcpy(key + 1, a->s6_addr, 8);
        }
    }
}

static void conn_free(conn *c)
{
    ts_common__tls_conn_free(c->tls);
    close(c->fd);
    ts_agent__secret_free(c->in, c->in_cap);
    ts_agent__secret_free(c->out, c->out_len);
    free(c);
}

/* Close connection @p i; its slot is compacted away by the loop. */
static void drop(ts_agent__httpd *h, size_t i)
{
    conn_free(h->conns[i]);
    h->conns[i] = NULL;
}

/* ---- one connection ---------------------------------------------------------------------- */

static ssize_t io_send(conn *c, const char *p, size_t n)
{
    return c->tls ? ts_common__tls_conn_send(c->tls, p, n) : send(c->fd, p, n, MSG_NOSIGNAL);
}

static void do_write(ts_agent__httpd *h, size_t i, int64_t now)
{
    conn *c = h->conns[i];
    while (c->out_off < c->out_len) {
        ssize_t k = io_send(c, c->out + c->out_off, c->out_len - c->out_off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (k <= 0) {
            drop(h, i);
            return;
        }
        c->out_off += (size_t)k;
    }
    ts_agent__secret_free(c->out, c->out_len);
    c->out = NULL;
    c->out_len = c->out_off = 0;
    if (c->tls)
        ts_common__tls_conn_close(c->tls); /* close_notify: the answer is complete */
    shutdown(c->fd, SHUT_WR);
    c->state = ST_LINGER;
    c->deadline = now + h->o.linger_ms;
}

/* Answer the head (@p len bytes of c->in), or @p status when the head is refused before it
 * could be parsed (too large). */
static void respond(ts_agent__httpd *h, size_t i, size_t len, unsigned status, int64_t now)
{
    conn *c = h->conns[i];
    ts_agent__httpd_head hd;
    if (status) {
        memset(&hd, 0, sizeof hd);
        hd.status = status;
        hd.error = "invalid_request";
        hd.description = status == 414 ? "Request line too long" : "Request head too large";
    } else {
        ts_agent__httpd_parse_head(c->in, len, &hd);
    }
    ts_agent__answer a;
    memset(&a, 0, sizeof a);
    ts_status st = TS_OK;
    char *path = NULL;
    if (hd.status == 0) {
        path = malloc(hd.path_len + 1);
        long pl = path ? ts_agent__httpd_decode_path(c->in + hd.path_off, hd.path_len, path) : 0;
        if (!path) {
            st = TS_ENOMEM;
        } else if (pl < 0) {
            hd.status = 400;
            hd.error = "invalid_request";
            hd.description = "NUL byte in the path";
        } else {
            ts_agent__httpd_request rq = {.head = hd.head,
                                          .path = path,
                                          .fd = c->fd,
                                          .peer = (const struct sockaddr *)&c->peer,
                                          .peer_len = c->peer_len};
            st = h->o.handler(h->o.ud, &rq, &a);
        }
    }
    if (st == TS_OK && hd.status != 0)
        st = ts_agent__httpd_refusal(&a, hd.status, hd.error, hd.description);
    if (st != TS_OK) {
        ts_agent__answer_clear(&a);
        st = ts_agent__httpd_plain(&a, 500, "out_of_memory");
    }
    c->out = st == TS_OK ? ts_agent__httpd_serialize(&a, hd.head, &c->out_len) : NULL;
    c->out_off = 0;
    bool ok = c->out != NULL;
    ts_agent__answer_clear(&a);
    free(path);
    if (!ok) { /* no memory even for an answer */
        drop(h, i);
        return;
    }
    c->state = ST_WRITE;
    c->deadline = now + h->o.write_timeout_ms;
    do_write(h, i, now);
}

/* A TLS handshake step. true: it is over and the head can be read. */
static bool handshake(ts_agent__httpd *h, size_t i)
{
    conn *c = h->conns[i];
    switch (ts_common__tls_conn_handshake(c->tls)) {
    case TS_COMMON__TLS_CONN_DONE:
        c->handshaking = c->want_write = false;
        return true;
    case TS_COMMON__TLS_CONN_WANT_READ:
        c->want_write = false;
        return false;
    case TS_COMMON__TLS_CONN_WANT_WRITE:
        c->want_write = true;
        return false;
    case TS_COMMON__TLS_CONN_FAILED:
        break;
    }
    drop(h, i); /* garbage, plain HTTP, a protocol version refused */
    return false;
}

static void read_once(ts_agent__httpd *h, size_t i, int64_t now);

static void read_head(ts_agent__httpd *h, size_t i, int64_t now)
{
    if (h->conns[i]->handshaking && !handshake(h, i))
        return;
    /* Records already decrypted inside the session: poll() would not wake for them. */
    do
        read_once(h, i, now);
    while (h->conns[i] && h->conns[i]->state == ST_HEAD && h->conns[i]->tls &&
           ts_common__tls_conn_pending(h->conns[i]->tls) > 0);
}

static void read_once(ts_agent__httpd *h, size_t i, int64_t now)
{
    conn *c = h->conns[i];
    if (c->in_len == c->in_cap) {
        size_t cap = c->in_cap ? c->in_cap * 2 : IN_FIRST;
        if (cap > TS_AGENT__HTTPD_MAX_HEAD)
            cap = TS_AGENT__HTTPD_MAX_HEAD;
        char *p = realloc(c->in, cap);
        if (!p) {
            drop(h, i);
            return;
        }
        c->in = p;
        c->in_cap = cap;
    }
    ssize_t k = c->tls ? ts_common__tls_conn_recv(c->tls, c->in + c->in_len, c->in_cap - c->in_len)
                       : recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (k <= 0) { /* the client went away before its head was complete */
        drop(h, i);
        return;
    }
    c->in_len += (size_t)k;
    size_t end = ts_agent__httpd_scan_head(&c->scan, c->in, c->in_len);
    if (end)
        respond(h, i, end, 0, now);
    else if (c->in_len >= TS_AGENT__HTTPD_MAX_HEAD)
        respond(h, i, 0, memchr(c->in, '\n', c->in_len) ? 431 : 414, now);
}

static void linger(ts_agent__httpd *h, size_t i)
{
    char sink[4096];
    ssize_t k = recv(h->conns[i]->fd, sink, sizeof sink, 0);
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (k <= 0)
        drop(h, i); /* the client closed (or reset): done */
}

/* ---- the loop ---------------------------------------------------------------------------- */

static void admit(ts_agent__httpd *h, int fd, const struct sockaddr_storage *ss, socklen_t sl,
                  int64_t now)
{
    uint8_t key[17];
    key_of(ss, sl, key);
    if (h->n >= h->o.max_connections) {
        close(fd);
        return;
    }
    if (h->o.max_per_address) {
        unsigned same = 0;
        for (size_t i = 0; i < h->n; i++)
            same += memcmp(h->conns[i]->key, key, sizeof key) == 0;
        if (same >= h->o.max_per_address) {
            close(fd);
            return;
        }
    }
    conn *c = calloc(1, sizeof *c);
    ts_error err;
    ts_error_clear(&err);
    if (!c || (h->o.tls && !(c->tls = ts_common__tls_conn_new(fd, h->o.tls, &err)))) {
        free(c);
        close(fd);
        return;
    }
    c->handshaking = c->tls != NULL;
    c->fd = fd;
    c->state = ST_HEAD;
    c->deadline = now + h->o.head_timeout_ms;
    memcpy(c->key, key, sizeof key);
    memcpy(&c->peer, ss, sizeof *ss);
    c->peer_len = sl;
    c->scan = (ts_agent__httpd_scan)TS_AGENT__HTTPD_SCAN_INIT;
    h->conns[h->n++] = c;
}

static void accept_some(ts_agent__httpd *h, int64_t now)
{
    for (int n = 0; n < ACCEPT_BURST; n++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        memset(&ss, 0, sizeof ss);
        int fd = accept4(h->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            admit(h, fd, &ss, sl, now);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            h->accept_paused_until = now + ACCEPT_PAUSE_MS; /* EMFILE, ENOBUFS, ... */
        return;
    }
}

static void compact(ts_agent__httpd *h)
{
    size_t k = 0;
    for (size_t i = 0; i < h->n; i++)
        if (h->conns[i])
            h->conns[k++] = h->conns[i];
    h->n = k;
}

static void *serve(void *arg)
{
    ts_agent__httpd *h = arg;
    for (;;) {
        int64_t now = now_ms();
        nfds_t np = 0;
        h->pfd[np++] = (struct pollfd){.fd = h->wake, .events = POLLIN};
        bool polled = h->accept_paused_until == 0 || now >= h->accept_paused_until;
        int64_t next = polled ? -1 : h->accept_paused_until;
        if (polled) {
            h->accept_paused_until = 0;
            h->pfd[np++] = (struct pollfd){.fd = h->lfd, .events = POLLIN};
        }
        size_t base = np;
        for (size_t i = 0; i < h->n; i++) {
            const conn *c = h->conns[i];
            short ev = c->state == ST_WRITE || c->want_write ? POLLOUT : POLLIN;
            h->pfd[np++] = (struct pollfd){.fd = c->fd, .events = ev};
            if (next < 0 || c->deadline < next)
                next = c->deadline;
        }
        int timeout = -1; /* nothing open: sleep until a client or the stop arrives */
        if (next >= 0)
            timeout = next <= now ? 0 : (next - now > INT_MAX ? INT_MAX : (int)(next - now));
        int r = poll(h->pfd, np, timeout);
        if (r < 0 && errno != EINTR) {
            struct timespec pause = {0, 10 * 1000000L}; /* ENOMEM: do not spin */
            nanosleep(&pause, NULL);
            continue;
        }
        if (r > 0 && h->pfd[0].revents)
            break;
        now = now_ms();
        for (size_t i = 0; i < h->n; i++) {
            if (r > 0 && h->pfd[base + i].revents) {
                switch (h->conns[i]->state) {
                case ST_HEAD:
                    read_head(h, i, now);
                    break;
                case ST_WRITE:
                    do_write(h, i, now);
                    break;
                default:
                    linger(h, i);
                    break;
                }
            }
            if (h->conns[i] && now >= h->conns[i]->deadline)
                drop(h, i); /* a head, an answer or a goodbye overdue */
        }
        compact(h);
        if (polled && r > 0 && (h->pfd[1].revents & POLLIN))
            accept_some(h, now);
    }
    for (size_t i = 0; i < h->n; i++)
        conn_free(h->conns[i]);
    h->n = 0;
    return NULL;
}

ts_agent__httpd *ts_agent__httpd_start(int fd, const ts_agent__httpd_options *o, ts_error *err)
{
    if (!o || !o->handler) {
        close(fd);
        ts_error_set(err, TS_EINVAL, "httpd", "a handler is required");
        return NULL;
    }
    ts_agent__httpd *h = calloc(1, sizeof *h);
    if (h) {
        h->o = *o;
        if (!h->o.max_connections)
            h->o.max_connections = TS_AGENT__HTTPD_MAX_CONNECTIONS;
        if (!h->o.head_timeout_ms)
            h->o.head_timeout_ms = TS_AGENT__HTTPD_HEAD_TIMEOUT_MS;
        if (!h->o.write_timeout_ms)
            h->o.write_timeout_ms = TS_AGENT__HTTPD_WRITE_TIMEOUT_MS;
        if (!h->o.linger_ms)
            h->o.linger_ms = TS_AGENT__HTTPD_LINGER_MS;
        h->lfd = fd;
        h->wake = -1;
        h->conns = calloc(h->o.max_connections, sizeof *h->conns);
        h->pfd = calloc((size_t)h->o.max_connections + 2, sizeof *h->pfd);
    }
    if (!h || !h->conns || !h->pfd) {
        if (h)
            free(h->conns), free(h->pfd);
        free(h);
        close(fd);
        ts_error_set(err, TS_ENOMEM, "httpd", "out of memory");
        return NULL;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    memset(&ss, 0, sizeof ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            h->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            h->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 ||
        (h->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0 ||
        pthread_create(&h->thread, NULL, serve, h) != 0) {
        int e = errno;
        if (h->wake >= 0)
            close(h->wake);
        close(fd);
        free(h->conns);
        free(h->pfd);
        free(h);
        ts_error_set(err, TS_EIO, "httpd", "cannot start the server: %s", strerror(e));
        return NULL;
    }
    return h;
}

void ts_agent__httpd_stop(ts_agent__httpd *h)
{
    if (!h)
        return;
    uint64_t one = 1;
    while (write(h->wake, &one, sizeof one) < 0 && errno == EINTR)
        ;
    pthread_join(h->thread, NULL);
    close(h->wake);
    close(h->lfd);
    free(h->conns);
    free(h->pfd);
    free(h);
}

unsigned ts_agent__httpd_port(const ts_agent__httpd *h)
{
    return h ? h->port : 0;
}
