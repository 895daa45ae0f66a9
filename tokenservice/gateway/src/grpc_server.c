/*
 * The gRPC listener (grpc_server.h): an accept thread, one thread per connection and the
 * shared workers (workers.h). A connection thread owns its socket and its nghttp2 session
 * (grpc_session.h) and sleeps in poll() on three things: the socket, its outbox's eventfd
 * (answers from the workers) and the server's stop eventfd; the poll timeout is the nearest
 * call deadline, so a call still with a worker is answered DEADLINE_EXCEEDED on time.
 *
 * Why a thread per connection rather than one event loop: the peers are proxies (an Envoy
 * sidecar or gateway keeps one or a few HTTP/2 connections and multiplexes every check on
 * them), so connections are few and long-lived; a thread each keeps every session
 * single-threaded without locks. limits.max_connections bounds them.
 *
 * With TLS (ts_gateway__grpc_server_start_tls()), a connection thread first runs the TLS
 * handshake (ALPN h2) within limits.request_timeout, as the HTTP listener bounds a head: a
 * silent or slow client is cut, garbage or plain h2c fails the handshake. Records GnuTLS has
 * already decrypted are read before the thread polls the socket again.
 */
#define _GNU_SOURCE /* accept4 */
#include "grpc_server.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/listen.h"
#include "common/tls_conn.h"
#include "grpc_session.h"
#include "workers.h"

/* A connection that sent nothing for this long while no call of it waits for an answer gets
 * GOAWAY and is closed (also one stuck half-way through a header block, or with streams it
 * never ends). Proxies reconnect on demand; Envoy's idle timeout for upstreams is an hour. */
#define IDLE_NS (300 * INT64_C(1000000000))
/* Bytes read from a socket per recv(). */
#define READ_CHUNK 16384u
/* Jobs queued per worker thread before calls get RESOURCE_EXHAUSTED. */
#define QUEUE_PER_THREAD 64u

typedef struct conn {
    struct conn *next;
    struct ts_gateway__grpc_server *srv;
    pthread_t th;
    int fd;
    ts_common__tls_conn *tls; /* NULL: h2c */
    ts_gateway__grpc_outbox *outbox;
    atomic_bool done;
} conn;

struct ts_gateway__grpc_server {
    const ts_gateway_config *cfg;
    const ts_common__tls_conn_options *tls; /* NULL: h2c */
    ts_gateway__workers *workers;
    int lfd;
    uint16_t port;
    int stop_fd; /* written once at stop, never read: readable for every poller from then on */
    atomic_bool stopping;
    pthread_t accept_th;
    bool accept_started;
    pthread_mutex_t mu;
    conn *conns;
    size_t n_conns;
};

/* ---------------------------------------------------------------------------------------- */
/* One connection                                                                            */

static ssize_t conn_send(const uint8_t *data, size_t len, void *ud)
{
    conn *c = ud;
    for (;;) {
        /* nghttp2 offers the same bytes again after 0 (would block), as a TLS session needs */
        ssize_t n = c->tls ? ts_common__tls_conn_send(c->tls, data, len)
                           : send(c->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    }
}

static bool conn_dispatch(ts_gateway__grpc_job *job, void *ud)
{
    conn *c = ud;
    ts_gateway__grpc_outbox_ref(c->outbox);
    job->outbox = c->outbox;
    if (ts_gateway__workers_submit(c->srv->workers, job))
        return true;
    job->outbox = NULL;
    ts_gateway__grpc_outbox_unref(c->outbox);
    return false;
}

/* Read what the socket has. @return false at end of stream or on an error. */
static bool conn_read(conn *c, ts_gateway__grpc_session *s)
{
    uint8_t buf[READ_CHUNK];
    /* Past four reads only for records already decrypted: poll() would not wake for them. */
    for (int i = 0; i < 4 || (c->tls && ts_common__tls_conn_pending(c->tls) > 0); i++) {
        ssize_t n = c->tls ? ts_common__tls_conn_recv(c->tls, buf, sizeof buf)
                           : recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0)
            return false;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK;
        }
        if (!ts_gateway__grpc_session_recv(s, buf, (size_t)n, ts_gateway__now_ns()))
            return false;
        if ((size_t)n < sizeof buf && !(c->tls && ts_common__tls_conn_pending(c->tls) > 0))
            break;
    }
    return true;
}

static int poll_timeout_ms(int64_t now, int64_t until)
{
    if (until <= now)
        return 0;
    int64_t ms = (until - now + 999999) / 1000000;
    return ms > 60000 ? 60000 : (int)ms;
}

static void conn_serve(conn *c, ts_gateway__grpc_session *s)
{
    const ts_gateway_config *cfg = c->srv->cfg;
    int64_t last_active = ts_gateway__now_ns();
    int64_t drain_until = INT64_MAX;
    bool draining = false;
    for (;;) {
        int64_t now = ts_gateway__now_ns();
        if (!draining && atomic_load(&c->srv->stopping)) {
            /* stop: no new calls here; those received get until their deadline or the grace */
            draining = true;
            ts_gateway__grpc_session_shutdown(s);
            drain_until = now + cfg->limits.request_timeout_ms * INT64_C(1000000);
        }
        if (draining && now >= drain_until)
            ts_gateway__grpc_session_fail_waiting(s, TS_GATEWAY__GRPC_UNAVAILABLE,
                                                  "the server is stopping");
        ts_gateway__grpc_session_expire(s, now);
        if (ts_gateway__grpc_session_waiting(s) > 0)
            last_active = now;
        else if (now - last_active >= IDLE_NS)
            ts_gateway__grpc_session_terminate(s);
        if (!ts_gateway__grpc_session_flush(s))
            return;
        bool want_read = ts_gateway__grpc_session_want_read(s);
        bool want_write = ts_gateway__grpc_session_want_write(s);
        if (!want_read && !want_write)
            return;
        if (draining && now >= drain_until && !want_write)
            return;

        int64_t until = ts_gateway__grpc_session_next_deadline(s);
        if (drain_until < until)
            until = drain_until;
        if (last_active + IDLE_NS < until)
            until = last_active + IDLE_NS;
        struct pollfd pfd[3] = {
            {c->fd, (short)((want_read ? POLLIN : 0) | (want_write ? POLLOUT : 0)), 0},
            {ts_gateway__grpc_outbox_fd(c->outbox), POLLIN, 0},
            {draining ? -1 : c->srv->stop_fd, POLLIN, 0},
        };
        int rc = poll(pfd, 3, poll_timeout_ms(now, until));
        if (rc < 0 && errno != EINTR)
            return;
        if (rc <= 0)
            continue;
        if (pfd[1].revents & POLLIN) {
            ts_gateway__grpc_job *j = ts_gateway__grpc_outbox_take(c->outbox);
            while (j) {
                ts_gateway__grpc_job *next = j->next;
                ts_gateway__grpc_session_complete(s, j);
                j = next;
            }
        }
        if (pfd[0].revents & (POLLERR | POLLNVAL))
            return;
        if (pfd[0].revents & (POLLIN | POLLHUP)) {
            last_active = ts_gateway__now_ns();
            if (!conn_read(c, s)) {
                (void)ts_gateway__grpc_session_flush(s); /* a GOAWAY nghttp2 queued */
                return;
            }
        }
    }
}

/* The TLS handshake, bounded by limits.request_timeout and the stop. false: cut or failed. */
static bool conn_handshake(conn *c)
{
    ts_error err;
    ts_error_clear(&err);
    (void)fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK); /* GnuTLS reads directly */
    if (!(c->tls = ts_common__tls_conn_new(c->fd, c->srv->tls, &err)))
        return false;
    int64_t t = c->srv->cfg->limits.request_timeout_ms;
    int64_t until = ts_gateway__now_ns() + (t > 0 ? t : 5000) * INT64_C(1000000);
    for (;;) {
        ts_common__tls_conn_step st = ts_common__tls_conn_handshake(c->tls);
        if (st == TS_COMMON__TLS_CONN_DONE)
            return true;
        if (st == TS_COMMON__TLS_CONN_FAILED)
            return false;
        int64_t now = ts_gateway__now_ns();
        if (now >= until || atomic_load(&c->srv->stopping))
            return false;
        struct pollfd pfd[2] = {
            {c->fd, st == TS_COMMON__TLS_CONN_WANT_WRITE ? POLLOUT : POLLIN, 0},
            {c->srv->stop_fd, POLLIN, 0},
        };
        if (poll(pfd, 2, poll_timeout_ms(now, until)) < 0 && errno != EINTR)
            return false;
    }
}

static void *conn_main(void *arg)
{
    conn *c = arg;
    int one = 1;
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ts_gateway__grpc_session_io io = {conn_send, conn_dispatch, c};
    ts_error err;
    ts_error_clear(&err);
    ts_gateway__grpc_session *s = NULL;
    if (!c->srv->tls || conn_handshake(c))
        s = ts_gateway__grpc_session_new(c->srv->cfg, &io, &err);
    if (s)
        conn_serve(c, s);
    ts_gateway__grpc_session_free(s);
    if (s && c->tls)
        ts_common__tls_conn_close(c->tls);
    ts_common__tls_conn_free(c->tls);
    c->tls = NULL;
    /* jobs still with the workers now land in a closed outbox and are dropped */
    ts_gateway__grpc_outbox_close(c->outbox);
    c->outbox = NULL;
    close(c->fd);
    c->fd = -1;
    atomic_store(&c->done, true);
    return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Accepting                                                                                 */

/* Join and free the connections whose threads have ended (all of them when @p all). */
static void reap(ts_gateway__grpc_server *srv, bool all)
{
    pthread_mutex_lock(&srv->mu);
    conn **pp = &srv->conns;
    while (*pp) {
        conn *c = *pp;
        if (all || atomic_load(&c->done)) {
            *pp = c->next;
            srv->n_conns--;
            pthread_mutex_unlock(&srv->mu);
            pthread_join(c->th, NULL);
            free(c);
            pthread_mutex_lock(&srv->mu);
            pp = &srv->conns; /* the list may have changed while unlocked */
        } else {
            pp = &c->next;
        }
    }
    pthread_mutex_unlock(&srv->mu);
}

static void start_conn(ts_gateway__grpc_server *srv, int fd)
{
    reap(srv, false);
    pthread_mutex_lock(&srv->mu);
    bool full = srv->n_conns >= srv->cfg->limits.max_connections;
    pthread_mutex_unlock(&srv->mu);
    conn *c = full ? NULL : calloc(1, sizeof *c);
    if (!c) {
        close(fd); /* over the bound: the proxy retries elsewhere or later */
        return;
    }
    c->srv = srv;
    c->fd = fd;
    atomic_init(&c->done, false);
    ts_error err;
    c->outbox = ts_gateway__grpc_outbox_new(&err);
    if (!c->outbox || pthread_create(&c->th, NULL, conn_main, c) != 0) {
        ts_gateway__grpc_outbox_close(c->outbox);
        close(fd);
        free(c);
        return;
    }
    pthread_mutex_lock(&srv->mu);
    c->next = srv->conns;
    srv->conns = c;
    srv->n_conns++;
    pthread_mutex_unlock(&srv->mu);
}

static void *accept_main(void *arg)
{
    ts_gateway__grpc_server *srv = arg;
    while (!atomic_load(&srv->stopping)) {
        struct pollfd pfd[2] = {{srv->lfd, POLLIN, 0}, {srv->stop_fd, POLLIN, 0}};
        /* a timeout so that ended connections are reaped on a quiet listener too */
        int rc = poll(pfd, 2, 1000);
        if (rc <= 0 || (pfd[1].revents & POLLIN)) {
            reap(srv, false);
            continue;
        }
        int fd = accept4(srv->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0)
            start_conn(srv, fd);
        else if (errno == EMFILE || errno == ENFILE)
            poll(NULL, 0, 10); /* out of descriptors: let connections end before trying again */
    }
    return NULL;
}

ts_gateway__grpc_server *ts_gateway__grpc_server_start(const ts_gateway_config *cfg,
                                                       ts_gateway__checker checker, ts_error *err)
{
    return ts_gateway__grpc_server_start_tls(cfg, checker, NULL, err);
}

ts_gateway__grpc_server *ts_gateway__grpc_server_start_tls(const ts_gateway_config *cfg,
                                                           ts_gateway__checker checker,
                                                           const ts_common__tls_conn_options *tls,
                                                           ts_error *err)
{
    ts_gateway__grpc_server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        ts_error_set(err, TS_ENOMEM, "grpc_listen", "out of memory");
        return NULL;
    }
    srv->cfg = cfg;
    srv->tls = tls;
    srv->lfd = -1;
    srv->stop_fd = -1;
    atomic_init(&srv->stopping, false);
    pthread_mutex_init(&srv->mu, NULL);
    unsigned threads = cfg->threads ? cfg->threads : 1;
    srv->workers =
        ts_gateway__workers_new(threads, (size_t)threads * QUEUE_PER_THREAD, checker, err);
    if (!srv->workers)
        goto fail;
    if (ts_common__listen_bind(cfg->grpc_listen, "grpc_listen", &srv->lfd, &srv->port, err) !=
        TS_OK)
        goto fail;
    srv->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (srv->stop_fd < 0) {
        ts_error_set(err, TS_EIO, "grpc_listen", "eventfd: %s", strerror(errno));
        goto fail;
    }
    int rc = pthread_create(&srv->accept_th, NULL, accept_main, srv);
    if (rc != 0) {
        ts_error_set(err, TS_EIO, "grpc_listen", "cannot start a thread: %s", strerror(rc));
        goto fail;
    }
    srv->accept_started = true;
    return srv;
fail:
    ts_gateway__grpc_server_stop(srv);
    return NULL;
}

uint16_t ts_gateway__grpc_server_port(const ts_gateway__grpc_server *s)
{
    return s->port;
}

void ts_gateway__grpc_server_stop(ts_gateway__grpc_server *s)
{
    if (!s)
        return;
    atomic_store(&s->stopping, true);
    if (s->stop_fd >= 0) {
        uint64_t one = 1;
        ssize_t n = write(s->stop_fd, &one, sizeof one);
        (void)n;
    }
    if (s->accept_started)
        pthread_join(s->accept_th, NULL);
    if (s->lfd >= 0)
        close(s->lfd);
    /* every connection sends GOAWAY and answers its calls (or UNAVAILABLE after the grace) */
    reap(s, true);
    ts_gateway__workers_free(s->workers);
    if (s->stop_fd >= 0)
        close(s->stop_fd);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
