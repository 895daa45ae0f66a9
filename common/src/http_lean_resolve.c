/* Host name lookup for the lean HTTP client, bounded like the rest of the connection: getaddrinfo
   cannot be interrupted, so a name is looked up on a thread of its own while the exchange waits
   in short slices for the answer, its connect deadline or its stop flag. A lookup given up on
   finishes in the background and frees itself (the last of the two holders frees the record).
   Address literals are taken at once, without a thread. */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_lean.h"

/* The longest a wait lasts before the stop flag is looked at again. */
#define SLICE_MS 100

typedef struct lookup {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs; /* the exchange and the thread */
    bool done;
    int gai, sys_errno;
    struct addrinfo *res;
    char host[TS_COMMON__HTTP_HOST_MAX + 1];
    char port[8];
} lookup;

static void unref(lookup *l)
{
    pthread_mutex_lock(&l->mu);
    int left = --l->refs;
    pthread_mutex_unlock(&l->mu);
    if (left)
        return;
    if (l->res)
        freeaddrinfo(l->res);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

static void *run(void *ud)
{
    lookup *l = ud;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int g = getaddrinfo(l->host, l->port, &hints, &res);
    int e = errno;
    pthread_mutex_lock(&l->mu);
    l->gai = g;
    l->sys_errno = e;
    l->res = g == 0 ? res : NULL;
    l->done = true;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    unref(l);
    return NULL;
}

static lookup *lookup_new(const char *host, const char *port)
{
    lookup *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    pthread_condattr_t ca;
    bool ok = pthread_condattr_init(&ca) == 0;
    ok = ok && pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
         pthread_cond_init(&l->cv, &ca) == 0;
    if (ok && pthread_mutex_init(&l->mu, NULL) != 0) {
        pthread_cond_destroy(&l->cv);
        ok = false;
    }
    pthread_condattr_destroy(&ca);
    if (!ok) {
        free(l);
        return NULL;
    }
    l->refs = 2;
    snprintf(l->host, sizeof l->host, "%s", host);
    snprintf(l->port, sizeof l->port, "%s", port);
    return l;
}

ts_common__lean_rc ts_common__lean_resolve(const char *host, unsigned port,
                                           const ts_common__lean_clock *c, struct addrinfo **out,
                                           int *gai, int *sys_errno)
{
    *out = NULL;
    *gai = *sys_errno = 0;
    char ps[8];
    snprintf(ps, sizeof ps, "%u", port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST};
    int g = getaddrinfo(host, ps, &hints, out);
    if (g == 0)
        return TS_COMMON__LEAN_OK;
    if (g == EAI_MEMORY)
        return TS_COMMON__LEAN_NOMEM;
    lookup *l = lookup_new(host, ps);
    if (!l)
        return TS_COMMON__LEAN_NOMEM;
    pthread_attr_t attr;
    pthread_t t;
    bool started = pthread_attr_init(&attr) == 0;
    started = started && pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0 &&
              pthread_create(&t, &attr, run, l) == 0;
    pthread_attr_destroy(&attr);
    if (!started) {
        l->refs = 1;
        unref(l);
        *gai = EAI_SYSTEM;
        *sys_errno = EAGAIN;
        return TS_COMMON__LEAN_FAIL;
    }
    ts_common__lean_rc rc = TS_COMMON__LEAN_OK;
    pthread_mutex_lock(&l->mu);
    while (!l->done) {
        if (c->stop && atomic_load(c->stop)) {
            rc = TS_COMMON__LEAN_STOPPED;
            break;
        }
        int64_t now = ts_common__lean_now_ms();
        if (now >= c->connect_deadline) {
            rc = TS_COMMON__LEAN_FAIL; /* *gai 0: the deadline */
            break;
        }
        int64_t until = c->connect_deadline - now < SLICE_MS ? c->connect_deadline : now + SLICE_MS;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = (int64_t)ts.tv_nsec + (until - now) * 1000000;
        ts.tv_sec += (time_t)(ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        pthread_cond_timedwait(&l->cv, &l->mu, &ts);
    }
    if (l->done) {
        rc = l->gai == 0            ? TS_COMMON__LEAN_OK
             : l->gai == EAI_MEMORY ? TS_COMMON__LEAN_NOMEM
                                    : TS_COMMON__LEAN_FAIL;
        *gai = l->gai;
        *sys_errno = l->sys_errno;
        *out = l->res;
        l->res = NULL;
    }
    pthread_mutex_unlock(&l->mu);
    unref(l);
    return rc;
}
