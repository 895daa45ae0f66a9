/*
 * The gRPC calls' worker threads, their jobs and the outboxes that carry answers back
 * (workers.h). One mutex and one condition variable guard the queue: jobs are few hundred at
 * most and a check takes microseconds to milliseconds, so a plain FIFO is enough.
 */
#define _POSIX_C_SOURCE 200809L
#include "workers.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "common/mem.h"

int64_t ts_gateway__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + (int64_t)ts.tv_nsec;
}

/* ---------------------------------------------------------------------------------------- */
/* Jobs                                                                                      */

ts_gateway__grpc_job *ts_gateway__grpc_job_new(const uint8_t *msg, size_t msg_len)
{
    ts_gateway__grpc_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    /* one byte more, so that an empty message still has a buffer */
    j->msg = malloc(msg_len + 1);
    if (!j->msg) {
        free(j);
        return NULL;
    }
    if (msg_len)
        memcpy(j->msg, msg, msg_len);
    j->msg_len = msg_len;
    j->code = TS_GATEWAY__GRPC_INTERNAL;
    return j;
}

void ts_gateway__grpc_job_free(ts_gateway__grpc_job *j)
{
    if (!j)
        return;
    /* the request holds the caller's token, the answer the translated one */
    ts_common__memzero(j->msg, j->msg_len);
    free(j->msg);
    ts_gateway__grpc_bytes_free(j->resp, j->resp_len);
    free(j);
}

static void answer(ts_gateway__grpc_job *j, ts_gateway__grpc_code code, const char *message)
{
    j->code = code;
    snprintf(j->message, sizeof j->message, "%s", message);
}

void ts_gateway__grpc_job_run(ts_gateway__grpc_job *j, ts_gateway__checker checker,
                              ts_gateway__clock_fn clock)
{
    if (clock() >= j->deadline_ns) {
        answer(j, TS_GATEWAY__GRPC_DEADLINE_EXCEEDED, "deadline exceeded before the check");
        return;
    }
    ts_error err;
    ts_error_clear(&err);
    ts_gateway__grpc_request *req = NULL;
    ts_status st = ts_gateway__grpc_check_decode(j->msg, j->msg_len, &req, &err);
    if (st != TS_OK) {
        /* err names the field, never a value */
        char text[sizeof j->message];
        snprintf(text, sizeof text, "malformed CheckRequest: %.96s", err.msg);
        answer(j, st == TS_ENOMEM ? TS_GATEWAY__GRPC_INTERNAL : TS_GATEWAY__GRPC_INVALID_ARGUMENT,
               text);
        return;
    }
    ts_gateway__verdict v;
    ts_gateway__verdict_init(&v);
    checker.fn(ts_gateway__grpc_request_input(req), &v, checker.ud);
    ts_gateway__grpc_request_free(req);

    if (clock() >= j->deadline_ns) {
        /* the connection has answered already or is about to: never a late allow */
        answer(j, TS_GATEWAY__GRPC_DEADLINE_EXCEEDED, "deadline exceeded during the check");
    } else if (ts_gateway__grpc_check_call_status(&v) != TS_GATEWAY__GRPC_OK) {
        answer(j, TS_GATEWAY__GRPC_UNAVAILABLE, v.reason);
    } else if (ts_gateway__grpc_check_encode(&v, &j->resp, &j->resp_len, &err) != TS_OK) {
        answer(j, TS_GATEWAY__GRPC_UNAVAILABLE, "cannot encode the CheckResponse");
    } else {
        answer(j, TS_GATEWAY__GRPC_OK, "");
    }
    ts_gateway__verdict_cleanup(&v);
}

/* ---------------------------------------------------------------------------------------- */
/* Outboxes                                                                                  */

struct ts_gateway__grpc_outbox {
    pthread_mutex_t mu;
    unsigned refs;
    bool closed;
    int efd;
    ts_gateway__grpc_job *head, *tail;
};

ts_gateway__grpc_outbox *ts_gateway__grpc_outbox_new(ts_error *err)
{
    ts_gateway__grpc_outbox *o = calloc(1, sizeof *o);
    if (!o) {
        ts_error_set(err, TS_ENOMEM, "grpc", "out of memory");
        return NULL;
    }
    o->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (o->efd < 0) {
        ts_error_set(err, TS_EIO, "grpc", "eventfd: %s", strerror(errno));
        free(o);
        return NULL;
    }
    pthread_mutex_init(&o->mu, NULL);
    o->refs = 1;
    return o;
}

int ts_gateway__grpc_outbox_fd(const ts_gateway__grpc_outbox *o)
{
    return o->efd;
}

void ts_gateway__grpc_outbox_ref(ts_gateway__grpc_outbox *o)
{
    pthread_mutex_lock(&o->mu);
    o->refs++;
    pthread_mutex_unlock(&o->mu);
}

static void free_list(ts_gateway__grpc_job *j)
{
    while (j) {
        ts_gateway__grpc_job *next = j->next;
        ts_gateway__grpc_job_free(j);
        j = next;
    }
}

/* Release one reference (o->mu held); true when it was the last and @p o must be freed. */
static bool unref_locked(ts_gateway__grpc_outbox *o)
{
    return --o->refs == 0;
}

static void destroy(ts_gateway__grpc_outbox *o)
{
    free_list(o->head);
    close(o->efd);
    pthread_mutex_destroy(&o->mu);
    free(o);
}

void ts_gateway__grpc_outbox_unref(ts_gateway__grpc_outbox *o)
{
    pthread_mutex_lock(&o->mu);
    bool last = unref_locked(o);
    pthread_mutex_unlock(&o->mu);
    if (last)
        destroy(o);
}

void ts_gateway__grpc_outbox_deliver(ts_gateway__grpc_outbox *o, ts_gateway__grpc_job *j)
{
    j->next = NULL;
    j->outbox = NULL;
    pthread_mutex_lock(&o->mu);
    if (o->closed) {
        ts_gateway__grpc_job_free(j);
    } else {
        if (o->tail)
            o->tail->next = j;
        else
            o->head = j;
        o->tail = j;
        uint64_t one = 1;
        /* cannot block (the counter is far from overflow) and the reader retries on poll */
        ssize_t n = write(o->efd, &one, sizeof one);
        (void)n;
    }
    bool last = unref_locked(o);
    pthread_mutex_unlock(&o->mu);
    if (last)
        destroy(o);
}

ts_gateway__grpc_job *ts_gateway__grpc_outbox_take(ts_gateway__grpc_outbox *o)
{
    pthread_mutex_lock(&o->mu);
    uint64_t count;
    ssize_t n = read(o->efd, &count, sizeof count);
    (void)n;
    ts_gateway__grpc_job *head = o->head;
    o->head = o->tail = NULL;
    pthread_mutex_unlock(&o->mu);
    return head;
}

void ts_gateway__grpc_outbox_close(ts_gateway__grpc_outbox *o)
{
    if (!o)
        return;
    pthread_mutex_lock(&o->mu);
    o->closed = true;
    ts_gateway__grpc_job *waiting = o->head;
    o->head = o->tail = NULL;
    bool last = unref_locked(o);
    pthread_mutex_unlock(&o->mu);
    free_list(waiting);
    if (last)
        destroy(o);
}

/* ---------------------------------------------------------------------------------------- */
/* Workers                                                                                   */

struct ts_gateway__workers {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ts_gateway__grpc_job *head, *tail;
    size_t queued, cap;
    bool stopping;
    ts_gateway__checker checker;
    pthread_t *threads;
    unsigned n_threads;
};

static void *worker_main(void *arg)
{
    ts_gateway__workers *w = arg;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (!w->head && !w->stopping)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->stopping) {
            pthread_mutex_unlock(&w->mu);
            return NULL;
        }
        ts_gateway__grpc_job *j = w->head;
        w->head = j->next;
        if (!w->head)
            w->tail = NULL;
        w->queued--;
        pthread_mutex_unlock(&w->mu);

        ts_gateway__grpc_job_run(j, w->checker, ts_gateway__now_ns);
        ts_gateway__grpc_outbox_deliver(j->outbox, j);
    }
}

ts_gateway__workers *ts_gateway__workers_new(unsigned threads, size_t queue_cap,
                                             ts_gateway__checker checker, ts_error *err)
{
    if (threads == 0 || queue_cap == 0 || !checker.fn) {
        ts_error_set(err, TS_EINVAL, "grpc", "workers: threads, queue and checker are required");
        return NULL;
    }
    ts_gateway__workers *w = calloc(1, sizeof *w);
    pthread_t *t = calloc(threads, sizeof *t);
    if (!w || !t) {
        free(w);
        free(t);
        ts_error_set(err, TS_ENOMEM, "grpc", "out of memory");
        return NULL;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->cap = queue_cap;
    w->checker = checker;
    w->threads = t;
    for (unsigned i = 0; i < threads; i++) {
        int rc = pthread_create(&w->threads[i], NULL, worker_main, w);
        if (rc != 0) {
            ts_error_set(err, TS_EIO, "grpc", "cannot start a worker thread: %s", strerror(rc));
            ts_gateway__workers_free(w);
            return NULL;
        }
        w->n_threads++;
    }
    return w;
}

bool ts_gateway__workers_submit(ts_gateway__workers *w, ts_gateway__grpc_job *j)
{
    pthread_mutex_lock(&w->mu);
    bool ok = !w->stopping && w->queued < w->cap;
    if (ok) {
        j->next = NULL;
        if (w->tail)
            w->tail->next = j;
        else
            w->head = j;
        w->tail = j;
        w->queued++;
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return ok;
}

/* The clock of jobs dropped at stop: every deadline has passed, so no check runs. */
static int64_t end_of_time(void)
{
    return INT64_MAX;
}

void ts_gateway__workers_free(ts_gateway__workers *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    ts_gateway__grpc_job *left = w->head;
    w->head = w->tail = NULL;
    w->queued = 0;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (unsigned i = 0; i < w->n_threads; i++)
        pthread_join(w->threads[i], NULL);
    while (left) {
        ts_gateway__grpc_job *next = left->next;
        ts_gateway__grpc_job_run(left, w->checker, end_of_time); /* DEADLINE_EXCEEDED, no check */
        ts_gateway__grpc_outbox_deliver(left->outbox, left);
        left = next;
    }
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w->threads);
    free(w);
}
