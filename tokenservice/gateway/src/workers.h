/*
 * The gRPC listener's calls and the threads that run them (workers.c). A call whose request
 * has fully arrived becomes a job: its CheckRequest bytes and its deadline. A worker decodes
 * the request, asks the checker and encodes the answer into the job; the job then goes back
 * to the connection that owns the stream through that connection's outbox (a list and an
 * eventfd the connection thread polls), because only that thread may touch its nghttp2
 * session.
 *
 * Why a bounded queue: a check can wait on the network (an issuer's JWKS), so a flood of
 * calls must not grow memory or latency without end. A full queue answers RESOURCE_EXHAUSTED
 * at once; a job whose deadline passed while it waited is answered DEADLINE_EXCEEDED without
 * running the checker.
 *
 * Ownership: a job has exactly one owner at a time: the session that made it, then the queue,
 * a worker, the outbox, and the connection thread again, which frees it. An outbox is
 * reference-counted: its connection holds one reference and every job in flight another, so a
 * worker finishing after its connection closed drops the result into a closed outbox.
 * Thread-safety: ts_gateway__workers_submit() and the outbox calls from any thread.
 *
 * Private to the gateway library (ts_gateway__*).
 */
#ifndef TS_GATEWAY_WORKERS_H
#define TS_GATEWAY_WORKERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tokensmith/error.h>

#include "grpc.h"
#include "gw_internal.h"

/** Monotonic clock in nanoseconds, the time base of every deadline here. */
int64_t ts_gateway__now_ns(void);

typedef struct ts_gateway__grpc_outbox ts_gateway__grpc_outbox;

/** One call on its way to an answer. */
typedef struct ts_gateway__grpc_job {
    struct ts_gateway__grpc_job *next; /* in the queue or the outbox */
    int32_t stream_id;
    uint64_t seq;        /* the session's number for the call: a late answer is recognised */
    int64_t deadline_ns; /* ts_gateway__now_ns() time */
    uint8_t *msg;        /* the CheckRequest (without the gRPC prefix); wiped at free */
    size_t msg_len;
    ts_gateway__grpc_outbox *outbox; /* where a worker delivers it (a reference); or NULL */
    /* The answer, set by ts_gateway__grpc_job_run(). */
    ts_gateway__grpc_code code;
    char message[TS_GATEWAY__VERDICT_REASON_SIZE]; /* grpc-message text, not yet encoded */
    uint8_t *resp; /* code OK: the framed CheckResponse (it may hold a token) */
    size_t resp_len;
} ts_gateway__grpc_job;

/** A job for @p msg_len bytes at @p msg (copied). NULL when out of memory. */
ts_gateway__grpc_job *ts_gateway__grpc_job_new(const uint8_t *msg, size_t msg_len);

/** Wipe and free @p j (it does not release j->outbox). NULL-safe. */
void ts_gateway__grpc_job_free(ts_gateway__grpc_job *j);

/** A clock for ts_gateway__grpc_job_run(): ts_gateway__now_ns, or a test's own. */
typedef int64_t (*ts_gateway__clock_fn)(void);

/**
 * Answer @p j: DEADLINE_EXCEEDED when its deadline is not after @p clock() now, else decode the
 * CheckRequest (INVALID_ARGUMENT when malformed), ask @p checker, and encode the verdict (OK and
 * the CheckResponse; UNAVAILABLE when it cannot decide); DEADLINE_EXCEEDED also when the deadline
 * has passed by the end of the check (@p clock() again).
 */
void ts_gateway__grpc_job_run(ts_gateway__grpc_job *j, ts_gateway__checker checker,
                              ts_gateway__clock_fn clock);

/* ---------------------------------------------------------------------------------------- */
/* Outbox: finished jobs on their way back to the connection thread                          */

/** An outbox with one reference (the connection's) and its eventfd. NULL with @p err. */
ts_gateway__grpc_outbox *ts_gateway__grpc_outbox_new(ts_error *err);

/** The eventfd that becomes readable when a job arrives (owned by the outbox). */
int ts_gateway__grpc_outbox_fd(const ts_gateway__grpc_outbox *o);

/** Take a reference for a job in flight. */
void ts_gateway__grpc_outbox_ref(ts_gateway__grpc_outbox *o);

/** Release a reference taken for a job that never left (the queue refused it). */
void ts_gateway__grpc_outbox_unref(ts_gateway__grpc_outbox *o);

/** Deliver @p j (whose j->outbox is @p o) and release the job's reference: appended and the
 *  eventfd signalled, or freed at once when the outbox is closed. */
void ts_gateway__grpc_outbox_deliver(ts_gateway__grpc_outbox *o, ts_gateway__grpc_job *j);

/** Every job delivered so far, oldest first (the caller owns them), and the eventfd reset. */
ts_gateway__grpc_job *ts_gateway__grpc_outbox_take(ts_gateway__grpc_outbox *o);

/** The connection is done: later deliveries are dropped; frees what is waiting; releases the
 *  connection's reference. NULL-safe. */
void ts_gateway__grpc_outbox_close(ts_gateway__grpc_outbox *o);

/* ---------------------------------------------------------------------------------------- */
/* Workers                                                                                   */

typedef struct ts_gateway__workers ts_gateway__workers;

/** @p threads workers (>= 1) over a queue of at most @p queue_cap jobs, asking @p checker.
 *  NULL with @p err. */
ts_gateway__workers *ts_gateway__workers_new(unsigned threads, size_t queue_cap,
                                             ts_gateway__checker checker, ts_error *err);

/** Queue @p j (j->outbox set and referenced). @return false when the queue is full or the
 *  workers are stopping: the job is still the caller's. */
bool ts_gateway__workers_submit(ts_gateway__workers *w, ts_gateway__grpc_job *j);

/** Stop: the jobs still queued are dropped into their outboxes unanswered (their connections
 *  are gone by then), the checks running finish, the threads are joined. NULL-safe. */
void ts_gateway__workers_free(ts_gateway__workers *w);

#endif
