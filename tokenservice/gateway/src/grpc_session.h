/*
 * One HTTP/2 server connection of the gRPC listener (grpc_session.c): an nghttp2 server session
 * speaking h2c with prior knowledge, that turns each Authorization/Check call into a job
 * (workers.h) and each finished job into the call's answer. It touches no socket and no clock
 * of its own: bytes come in by ts_gateway__grpc_session_recv(), go out through the send
 * callback, time is the caller's, and jobs leave through the dispatch callback, so the server's
 * connection threads and the fuzzer drive the same code.
 *
 * Per call: request headers checked (:method POST; :path the Check method, else
 * UNIMPLEMENTED; content-type application/grpc or application/grpc+...; te: trailers;
 * grpc-encoding identity or absent, else UNIMPLEMENTED; grpc-timeout well formed), header bytes
 * bounded by limits.max_header_bytes (the stream is reset beyond), one message of at most
 * limits.grpc_max_message_bytes (RESOURCE_EXHAUSTED), deadline from grpc-timeout else
 * limits.request_timeout_ms. Answers: HEADERS (:status 200, content-type application/grpc),
 * one DATA (the CheckResponse), trailers (grpc-status, grpc-message); every error as
 * Trailers-Only.
 *
 * Ownership: the session borrows @p cfg for its life. Thread-safety: none; one thread.
 * Private to the gateway library (ts_gateway__*).
 */
#ifndef TS_GATEWAY_GRPC_SESSION_H
#define TS_GATEWAY_GRPC_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <tokensmith/error.h>

#include "gateway_config.h"
#include "workers.h"

/** Streams one connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). */
#define TS_GATEWAY__GRPC_MAX_STREAMS 100u

typedef struct ts_gateway__grpc_session_io {
    /** Write up to @p len bytes to the peer: the count written, 0 when it would block (the
     *  session tries again at the next flush), -1 when the connection is broken. */
    ssize_t (*send)(const uint8_t *data, size_t len, void *ud);
    /** Take a complete call (@p job: stream, message, deadline). true: it will come back
     *  through ts_gateway__grpc_session_complete(); false: refused (queue full), the job stays
     *  the session's and the call gets RESOURCE_EXHAUSTED. */
    bool (*dispatch)(ts_gateway__grpc_job *job, void *ud);
    void *ud;
} ts_gateway__grpc_session_io;

typedef struct ts_gateway__grpc_session ts_gateway__grpc_session;

/** A server session; its SETTINGS are queued for the first flush. NULL with @p err. */
ts_gateway__grpc_session *ts_gateway__grpc_session_new(const ts_gateway_config *cfg,
                                                       const ts_gateway__grpc_session_io *io,
                                                       ts_error *err);

/** Free @p s; jobs still out come back to nothing (the caller closes their outbox). NULL-safe. */
void ts_gateway__grpc_session_free(ts_gateway__grpc_session *s);

/** Feed @p len received bytes at time @p now_ns. @return false when the connection must be
 *  closed (a connection-level protocol error; what nghttp2 has queued, GOAWAY included, can
 *  still be flushed). */
bool ts_gateway__grpc_session_recv(ts_gateway__grpc_session *s, const uint8_t *data, size_t len,
                                   int64_t now_ns);

/** Write what is queued through io.send until it blocks. @return false when broken. */
bool ts_gateway__grpc_session_flush(ts_gateway__grpc_session *s);

/** A job back from dispatch: answer its call if it still waits for it, then free @p job. */
void ts_gateway__grpc_session_complete(ts_gateway__grpc_session *s, ts_gateway__grpc_job *job);

/** Answer DEADLINE_EXCEEDED to every call whose deadline is not after @p now_ns (its job's
 *  result, if it comes later, is dropped). */
void ts_gateway__grpc_session_expire(ts_gateway__grpc_session *s, int64_t now_ns);

/** The nearest deadline of a call still waiting; INT64_MAX when none waits. */
int64_t ts_gateway__grpc_session_next_deadline(const ts_gateway__grpc_session *s);

/** Calls received and not yet answered. */
size_t ts_gateway__grpc_session_waiting(const ts_gateway__grpc_session *s);

/** Streams open (answered or not) and calls waiting: 0 means the connection is idle. */
size_t ts_gateway__grpc_session_open_streams(const ts_gateway__grpc_session *s);

/** Drain: GOAWAY with the last stream received, so the peer opens no new call here; calls
 *  already received are still answered. Idempotent. */
void ts_gateway__grpc_session_shutdown(ts_gateway__grpc_session *s);

/** Close at once: GOAWAY, then nothing more is read (an idle or stuck connection). */
void ts_gateway__grpc_session_terminate(ts_gateway__grpc_session *s);

/** Answer @p code with @p message to every call still waiting (stopping). */
void ts_gateway__grpc_session_fail_waiting(ts_gateway__grpc_session *s, ts_gateway__grpc_code code,
                                           const char *message);

/** Whether nghttp2 still wants to read or write; both false: close the connection. */
bool ts_gateway__grpc_session_want_read(const ts_gateway__grpc_session *s);
bool ts_gateway__grpc_session_want_write(const ts_gateway__grpc_session *s);

#endif
