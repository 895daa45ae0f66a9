/* libFuzzer target: one HTTP/2 connection of the gateway's gRPC listener
 * (tokenservice/gateway/src/grpc_session.c), i.e. what any client of the gRPC port can send.
 * Deterministic: one session per input, no threads (jobs run at once, in order), a fixed clock
 * that advances 1 ms per piece, output discarded.
 *
 * Input: byte 0 sets the size of the pieces the rest is fed in (1..256 bytes, as a socket would
 * split it); the rest follows the client connection preface and an empty SETTINGS frame, so the
 * seeds (fuzz/corpus/grpc_h2/) are plain frames: HEADERS with HPACK literals, DATA with framed
 * CheckRequests, RST_STREAM, PING, WINDOW_UPDATE, GOAWAY.
 *
 * The checker is a fake that allows only "Authorization: Bearer good" and denies everything
 * else with 401, and records whether it was asked. Checked beyond "no crash": a call answered
 * with a CheckResponse was decided by the checker for that very call; no CheckResponse allows
 * unless the checker allowed (no allow without the token); the session's counts stay
 * consistent (calls waiting never exceed open streams, which never exceed the stream bound
 * plus one being opened), and every deadline it reports is one it was given. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "envoy/service/auth/v3/external_auth.pb-c.h"
#include "grpc.h"
#include "grpc_session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct fake {
    bool asked;
    bool allowed;
} fake;

static void fake_check(const ts_gateway__input *in, ts_gateway__verdict *out, void *ud)
{
    fake *f = ud;
    f->asked = true;
    f->allowed = false;
    for (size_t i = 0; i < in->n_headers; i++) {
        const ts_gateway__header *h = &in->headers[i];
        if (h->name.len == 13 && strncasecmp(h->name.ptr, "authorization", 13) == 0 &&
            h->value.len == 11 && memcmp(h->value.ptr, "Bearer good", 11) == 0 &&
            !in->authorization_repeated) {
            if (ts_gateway__verdict_add_header(out, "authorization", 13, "Bearer internal", 15,
                                               NULL) == TS_OK) {
                ts_gateway__verdict_decide(out, TS_GATEWAY__ALLOW, 200, "allowed");
                f->allowed = true;
            }
            return;
        }
    }
    ts_gateway__verdict_decide(out, TS_GATEWAY__DENY, 401, "invalid_token");
}

#define MAX_JOBS 8u /* more at once: refused, as a full queue is */

typedef struct harness {
    ts_gateway__grpc_job *jobs[MAX_JOBS];
    size_t n_jobs;
} harness;

static ssize_t h_send(const uint8_t *p, size_t len, void *ud)
{
    (void)p;
    (void)ud;
    return (ssize_t)len;
}

static bool h_dispatch(ts_gateway__grpc_job *job, void *ud)
{
    harness *h = ud;
    if (h->n_jobs == MAX_JOBS)
        return false;
    h->jobs[h->n_jobs++] = job;
    return true;
}

/* Whether the framed CheckResponse @p resp allows. */
static bool response_allows(const uint8_t *resp, size_t len)
{
    if (len < TS_GATEWAY__GRPC_PREFIX)
        __builtin_trap();
    Envoy__Service__Auth__V3__CheckResponse *r = envoy__service__auth__v3__check_response__unpack(
        NULL, len - TS_GATEWAY__GRPC_PREFIX, resp + TS_GATEWAY__GRPC_PREFIX);
    if (!r || !r->status)
        __builtin_trap(); /* an encoded verdict always has its status */
    bool allows = r->status->code == 0;
    envoy__service__auth__v3__check_response__free_unpacked(r, NULL);
    return allows;
}

/* The input's clock (starts at 1 s, 1 ms more per piece): the same for every run. */
static int64_t fuzz_now;

static int64_t fuzz_clock(void)
{
    return fuzz_now;
}

static void run_jobs(harness *h, ts_gateway__grpc_session *s)
{
    for (size_t i = 0; i < h->n_jobs; i++) {
        ts_gateway__grpc_job *j = h->jobs[i];
        fake f = {false, false};
        ts_gateway__checker ck = {fake_check, &f};
        ts_gateway__grpc_job_run(j, ck, fuzz_clock);
        if (j->code == TS_GATEWAY__GRPC_OK) {
            /* a CheckResponse only from the checker, and an allow only when it allowed */
            if (!f.asked || !j->resp || response_allows(j->resp, j->resp_len) != f.allowed)
                __builtin_trap();
        }
        ts_gateway__grpc_session_complete(s, j);
    }
    h->n_jobs = 0;
}

static void check_counts(const ts_gateway__grpc_session *s, int64_t now)
{
    size_t open = ts_gateway__grpc_session_open_streams(s);
    if (ts_gateway__grpc_session_waiting(s) > open || open > TS_GATEWAY__GRPC_MAX_STREAMS + 1)
        __builtin_trap();
    /* every deadline is now + at most the largest grpc-timeout, or the default */
    int64_t next = ts_gateway__grpc_session_next_deadline(s);
    if (next != INT64_MAX && next < now - 1000000000)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t piece = (size_t)data[0] + 1;
    data++;
    size--;

    static ts_gateway_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.limits.max_header_bytes = 4096;
    cfg.limits.max_headers = 100;
    cfg.limits.grpc_max_message_bytes = 8192;
    cfg.limits.request_timeout_ms = 5000;

    harness h = {.n_jobs = 0};
    ts_gateway__grpc_session_io io = {h_send, h_dispatch, &h};
    ts_gateway__grpc_session *s = ts_gateway__grpc_session_new(&cfg, &io, NULL);
    if (!s)
        return 0;
    int64_t now = 1000000000;
    fuzz_now = now;
    static const uint8_t preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                                     "\x00\x00\x00\x04\x00\x00\x00\x00\x00"; /* SETTINGS */
    bool alive = ts_gateway__grpc_session_recv(s, preface, sizeof preface - 1, now) &&
                 ts_gateway__grpc_session_flush(s);
    for (size_t off = 0; alive && off < size; off += piece) {
        size_t n = size - off < piece ? size - off : piece;
        now += 1000000;
        fuzz_now = now;
        alive = ts_gateway__grpc_session_recv(s, data + off, n, now);
        run_jobs(&h, s);
        ts_gateway__grpc_session_expire(s, now);
        check_counts(s, now);
        if (alive)
            alive = ts_gateway__grpc_session_flush(s);
    }
    /* what a stop does: GOAWAY, then the calls still waiting get UNAVAILABLE */
    run_jobs(&h, s);
    ts_gateway__grpc_session_shutdown(s);
    ts_gateway__grpc_session_fail_waiting(s, TS_GATEWAY__GRPC_UNAVAILABLE, "stopping");
    (void)ts_gateway__grpc_session_flush(s);
    ts_gateway__grpc_session_free(s);
    return 0;
}
