/* SIGHUP -> ts_authz_reload(), on a dedicated thread that waits for the signal (no handler, no
 * global state). */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "contract/contract.h"

struct ts_authz_sighup {
    ts_authz_authorizer *a;
    pthread_t thread;
    atomic_bool stop;
    atomic_uint_fast64_t count;
};

ts_status ts_authz_sighup_block(ts_error *err)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    int rc = pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (rc != 0)
        return ts_error_set(err, TS_EINTERNAL, "pthread_sigmask", "%s", strerror(rc));
    return TS_OK;
}

static void *waiter(void *arg)
{
    ts_authz_sighup *h = arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (atomic_load(&h->stop))
            break;
        ts_error err;
        ts_error_clear(&err);
        /* A failure is logged by the authorizer and the old policy stays in force. */
        ts_status st = ts_authz_reload(h->a, &err);
        (void)st;
        atomic_fetch_add(&h->count, 1);
    }
    return NULL;
}

ts_authz_sighup *ts_authz_sighup_start(ts_authz_authorizer *a, ts_error *err)
{
    if (!a) {
        ts_error_set(err, TS_EINVAL, "ts_authz_sighup_start", "authorizer is NULL");
        return NULL;
    }
    sigset_t cur;
    if (pthread_sigmask(SIG_BLOCK, NULL, &cur) != 0 || sigismember(&cur, SIGHUP) != 1) {
        ts_error_set(err, TS_EINVAL, "ts_authz_sighup_start",
                     "SIGHUP is not blocked: call ts_authz_sighup_block() first");
        return NULL;
    }
    ts_authz_sighup *h = calloc(1, sizeof *h);
    if (!h) {
        ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    h->a = a;
    atomic_init(&h->stop, false);
    atomic_init(&h->count, 0);
    int rc = pthread_create(&h->thread, NULL, waiter, h);
    if (rc != 0) {
        free(h);
        ts_error_set(err, TS_EINTERNAL, "pthread_create", "%s", strerror(rc));
        return NULL;
    }
    return h;
}

void ts_authz_sighup_stop(ts_authz_sighup *h)
{
    if (!h)
        return;
    atomic_store(&h->stop, true);
    pthread_kill(h->thread, SIGHUP); /* wakes sigwait: SIGHUP is blocked in that thread */
    pthread_join(h->thread, NULL);
    free(h);
}

uint64_t ts_authz_sighup_count(const ts_authz_sighup *h)
{
    return h ? atomic_load(&((ts_authz_sighup *)(uintptr_t)h)->count) : 0;
}
