/*
 * The HTTP check listener's start and stop (check_httpd.h): the listening socket, the eventfd
 * that wakes every worker, the workers' threads.
 *
 * The stop drains as `tokensmith serve` does: the listening socket is shut down (Linux refuses
 * new connections at once), requests whose head is in are answered with Connection: close and
 * waited for (bounded), then the workers close everything and are joined.
 */
#define _GNU_SOURCE /* EPOLLEXCLUSIVE */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check_httpd.h"
#include "check_httpd_internal.h"
#include "common/listen.h"

static void wake_all(ts_gateway__httpd *s)
{
    uint64_t one = 1;
    /* Edge-triggered in every set and never read: each write wakes every worker once. */
    if (write(s->wake, &one, sizeof one) != (ssize_t)sizeof one) {
        /* the counter cannot overflow with two writes; nothing to do */
    }
}

static bool add_worker(ts_gateway__httpd *s, worker *w)
{
    w->s = s;
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    if (w->ep < 0)
        return false;
    struct epoll_event le = {.events = EPOLLIN | EPOLLEXCLUSIVE,
                             .data.ptr = &ts_gateway__httpd_listen_tag};
    struct epoll_event we = {.events = EPOLLIN | EPOLLET, .data.ptr = &ts_gateway__httpd_wake_tag};
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, s->lfd, &le) != 0 ||
        epoll_ctl(w->ep, EPOLL_CTL_ADD, s->wake, &we) != 0)
        return false;
    w->started = pthread_create(&w->thread, NULL, ts_gateway__httpd_run, w) == 0;
    return w->started;
}

ts_gateway__httpd *ts_gateway__httpd_start(const ts_gateway__httpd_options *o, ts_error *err)
{
    ts_gateway__httpd *s = calloc(1, sizeof *s);
    if (!s) {
        ts_error_set(err, TS_ENOMEM, "listen", "out of memory");
        return NULL;
    }
    s->o = *o;
    s->o.threads = o->threads ? o->threads : 1;
    /* The head: the header lines' bound plus as much again for the request line (a long query)
     * and the line overhead; never less than 16 KiB. */
    s->head_max = (size_t)o->max_header_bytes * 2u;
    if (s->head_max < 16384)
        s->head_max = 16384;
    s->lfd = s->wake = -1;
    atomic_init(&s->conns, 0u);
    atomic_init(&s->inflight, 0u);
    atomic_init(&s->draining, false);
    atomic_init(&s->stopping, false);
    if (ts_common__listen_bind(o->listen, "listen", &s->lfd, &s->port, err) != TS_OK) {
        free(s);
        return NULL;
    }
    (void)fcntl(s->lfd, F_SETFL, fcntl(s->lfd, F_GETFL) | O_NONBLOCK);
    s->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    s->workers = calloc(s->o.threads, sizeof *s->workers);
    bool ok = s->wake >= 0 && s->workers;
    for (unsigned i = 0; ok && i < s->o.threads; i++, s->n_workers++)
        ok = add_worker(s, &s->workers[i]);
    if (!ok) {
        ts_error_set(err, TS_EIO, "listen", "cannot serve on %s: %s", o->listen,
                     errno ? strerror(errno) : "out of memory");
        ts_gateway__httpd_stop(s);
        return NULL;
    }
    return s;
}

uint16_t ts_gateway__httpd_port(const ts_gateway__httpd *s)
{
    return s ? s->port : 0;
}

void ts_gateway__httpd_stop(ts_gateway__httpd *s)
{
    if (!s)
        return;
    atomic_store(&s->draining, true);
    /* shutdown() ends the listening at once (Linux: new connections are refused, those in the
     * backlog reset) while the descriptor stays valid for the workers' epoll sets. */
    if (s->lfd >= 0)
        (void)shutdown(s->lfd, SHUT_RDWR);
    if (s->wake >= 0)
        wake_all(s);
    int64_t until = ts_gateway__httpd_mono_ms() + (int64_t)s->o.deadline_ms + 1000;
    while (atomic_load(&s->inflight) > 0 && ts_gateway__httpd_mono_ms() < until) {
        struct timespec step = {0, 20 * 1000000L};
        nanosleep(&step, NULL);
    }
    atomic_store(&s->stopping, true);
    if (s->wake >= 0)
        wake_all(s);
    for (unsigned i = 0; i < s->n_workers; i++) {
        worker *w = &s->workers[i];
        if (w->started)
            pthread_join(w->thread, NULL);
        if (w->ep >= 0)
            close(w->ep);
    }
    free(s->workers);
    if (s->wake >= 0)
        close(s->wake);
    if (s->lfd >= 0)
        close(s->lfd);
    free(s);
}
