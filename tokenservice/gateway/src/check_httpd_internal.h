/*
 * What the HTTP check listener's two files share (check_httpd.c: the workers and their
 * connections; check_httpd_life.c: the start and the drain): the server and worker objects,
 * the epoll tags of the shared descriptors, the workers' thread function and the clock.
 * Private to check_httpd*.c.
 */
#ifndef TS_GATEWAY_CHECK_HTTPD_INTERNAL_H
#define TS_GATEWAY_CHECK_HTTPD_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "check_httpd.h"

typedef struct worker worker;
struct conn;

struct worker {
    ts_gateway__httpd *s;
    pthread_t thread;
    bool started;
    int ep;
    struct conn *conns; /* open, this worker's */
};

struct ts_gateway__httpd {
    ts_gateway__httpd_options o;
    size_t head_max;
    int lfd, wake;
    uint16_t port;
    worker *workers;
    unsigned n_workers;
    atomic_uint conns;    /* open connections, all workers */
    atomic_uint inflight; /* requests whose head is in and whose answer is not yet out */
    atomic_bool draining; /* answers close their connection; the listener is gone */
    atomic_bool stopping; /* the workers close everything and return */
};

/* epoll tags for the two shared descriptors (a connection's tag is its conn). */
extern char ts_gateway__httpd_listen_tag, ts_gateway__httpd_wake_tag;

/** A worker's thread (@p arg: its worker): serves until s->stopping, then closes its
 *  connections. */
void *ts_gateway__httpd_run(void *arg);

/** The deadlines' clock, milliseconds (coarse: the deadlines are checked every 100 ms). */
static inline int64_t ts_gateway__httpd_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
