/*
 * One nghttp2 server session of the gRPC listener (grpc_session.h). The HTTP/2 machinery (HPACK,
 * flow control, SETTINGS, PING, GOAWAY, the stream-reset and CONTINUATION bounds) is nghttp2's;
 * this file adds gRPC's rules over it (grpc/grpc doc/PROTOCOL-HTTP2.md): which request headers
 * a call needs, one length-prefixed message per call, and the answer as HEADERS, DATA and
 * trailers, or as Trailers-Only for every error.
 *
 * A call's life: RECEIVING (headers checked, DATA gathered up to the cap) -> WAITING (its job
 * is with the workers) -> ANSWERED (response queued). A deadline can end RECEIVING or WAITING;
 * a result that arrives after it finds its stream ANSWERED (or gone) and is dropped, so a late
 * allow is never sent.
 */
#define _DEFAULT_SOURCE /* strncasecmp */
#include "grpc_session.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nghttp2/nghttp2.h>

#include "common/mem.h"

/* nghttp2's own defaults, set explicitly: a burst of 1000 resets, then 33 per second
 * (CVE-2023-44487, "rapid reset"), and at most 8 CONTINUATION frames per header block. */
#define RESET_BURST 1000u
#define RESET_RATE 33u
#define MAX_CONTINUATIONS 8u

typedef enum call_state { RECEIVING, WAITING, ANSWERED } call_state;

typedef struct stream {
    struct stream *prev, *next; /* every open stream of the session */
    int32_t id;
    call_state state;
    bool headers_done;
    size_t header_bytes;
    /* what the request headers said */
    bool method_post, path_check, ct_grpc, te_trailers, enc_identity, timeout_bad;
    bool has_timeout;
    uint64_t timeout_ns;
    int64_t deadline_ns;
    uint64_t seq; /* WAITING: the job's number */
    /* the message as it arrives */
    uint8_t *buf;
    size_t len, cap;
    /* the answer being sent */
    uint8_t *resp;
    size_t resp_len, resp_off;
} stream;

struct ts_gateway__grpc_session {
    nghttp2_session *h2;
    const ts_gateway_config *cfg;
    ts_gateway__grpc_session_io io;
    stream *streams;
    size_t n_streams, n_waiting;
    uint64_t seq;
    int64_t now_ns;
    bool goaway;
};

/* ---------------------------------------------------------------------------------------- */
/* Answers                                                                                   */

/* nghttp2_nv holds non-const pointers but copies the bytes at submit (no NO_COPY flag). */
static nghttp2_nv mknv(const char *name, const char *value, size_t value_len)
{
    nghttp2_nv nv = {(uint8_t *)(uintptr_t)name, (uint8_t *)(uintptr_t)value, strlen(name),
                     value_len, NGHTTP2_NV_FLAG_NONE};
    return nv;
}
#define NV(n, v, vlen) mknv((n), (v), (vlen))

static void wipe_buf(stream *st)
{
    if (st->buf) {
        ts_common__memzero(st->buf, st->len);
        free(st->buf);
    }
    st->buf = NULL;
    st->len = st->cap = 0;
}

static void set_answered(ts_gateway__grpc_session *s, stream *st)
{
    if (st->state == WAITING)
        s->n_waiting--;
    st->state = ANSWERED;
    wipe_buf(st);
}

/* Trailers-Only: one HEADERS frame with END_STREAM. @p http is 200 except for a content-type
 * that is not gRPC's (415, as PROTOCOL-HTTP2.md asks). */
static void answer_error(ts_gateway__grpc_session *s, stream *st, unsigned http,
                         ts_gateway__grpc_code code, const char *message)
{
    if (st->state == ANSWERED)
        return;
    set_answered(s, st);
    char status[4], grpc_status[4], enc[TS_GATEWAY__VERDICT_REASON_SIZE * 3];
    snprintf(status, sizeof status, "%u", http);
    snprintf(grpc_status, sizeof grpc_status, "%u", (unsigned)code);
    size_t enc_len = ts_gateway__grpc_message_encode(message, strlen(message), enc, sizeof enc);
    nghttp2_nv nv[] = {
        NV(":status", status, strlen(status)),
        NV("content-type", "application/grpc", sizeof "application/grpc" - 1),
        NV("grpc-status", grpc_status, strlen(grpc_status)),
        NV("grpc-message", enc, enc_len),
    };
    size_t n = enc_len ? 4 : 3;
    /* fails only for a stream nghttp2 already closed: nothing to answer then */
    (void)nghttp2_submit_response(s->h2, st->id, nv, n, NULL);
}

static ssize_t read_resp(nghttp2_session *h2, int32_t stream_id, uint8_t *buf, size_t length,
                         uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
    (void)user_data;
    stream *st = source->ptr;
    size_t n = st->resp_len - st->resp_off;
    if (n > length)
        n = length;
    memcpy(buf, st->resp + st->resp_off, n);
    st->resp_off += n;
    if (st->resp_off == st->resp_len) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        nghttp2_nv trailers[] = {NV("grpc-status", "0", 1)};
        if (nghttp2_submit_trailer(h2, stream_id, trailers, 1) != 0)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    return (ssize_t)n;
}

/* Call OK: HEADERS, the CheckResponse in one DATA frame's worth, trailers. Takes the job's
 * response bytes. */
static void answer_ok(ts_gateway__grpc_session *s, stream *st, ts_gateway__grpc_job *job)
{
    set_answered(s, st);
    st->resp = job->resp;
    st->resp_len = job->resp_len;
    st->resp_off = 0;
    job->resp = NULL;
    job->resp_len = 0;
    nghttp2_nv nv[] = {
        NV(":status", "200", 3),
        NV("content-type", "application/grpc", sizeof "application/grpc" - 1),
    };
    nghttp2_data_provider dp = {.source.ptr = st, .read_callback = read_resp};
    (void)nghttp2_submit_response(s->h2, st->id, nv, 2, &dp);
}

/* ---------------------------------------------------------------------------------------- */
/* Requests                                                                                  */

static bool eq(const uint8_t *v, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len == n && memcmp(v, lit, n) == 0;
}

/* "application/grpc" alone or followed by '+' (a message format) or ';' (parameters). */
static bool grpc_content_type(const uint8_t *v, size_t len)
{
    static const char base[] = "application/grpc";
    size_t n = sizeof base - 1;
    if (len < n || strncasecmp((const char *)v, base, n) != 0)
        return false;
    return len == n || v[n] == '+' || v[n] == ';';
}

static void note_header(stream *st, const uint8_t *name, size_t namelen, const uint8_t *value,
                        size_t valuelen)
{
    if (eq(name, namelen, ":method")) {
        st->method_post = eq(value, valuelen, "POST");
    } else if (eq(name, namelen, ":path")) {
        st->path_check = eq(value, valuelen, TS_GATEWAY__GRPC_CHECK_PATH);
    } else if (eq(name, namelen, "content-type")) {
        st->ct_grpc = grpc_content_type(value, valuelen);
    } else if (eq(name, namelen, "te")) {
        st->te_trailers = eq(value, valuelen, "trailers");
    } else if (eq(name, namelen, "grpc-encoding")) {
        st->enc_identity = eq(value, valuelen, "identity");
    } else if (eq(name, namelen, "grpc-timeout")) {
        st->has_timeout = true;
        st->timeout_bad =
            ts_gateway__grpc_timeout_parse((const char *)value, valuelen, &st->timeout_ns) != TS_OK;
    }
}

static int64_t deadline_after(int64_t now_ns, uint64_t ns)
{
    if (ns >= (uint64_t)(INT64_MAX - now_ns))
        return INT64_MAX;
    return now_ns + (int64_t)ns;
}

/* The request headers are complete: the deadline starts, and a call we cannot serve is
 * answered before its message arrives. */
static void headers_done(ts_gateway__grpc_session *s, stream *st)
{
    st->headers_done = true;
    uint64_t ns = st->has_timeout && !st->timeout_bad
                      ? st->timeout_ns
                      : (uint64_t)s->cfg->limits.request_timeout_ms * 1000000u;
    st->deadline_ns = deadline_after(s->now_ns, ns);
    if (!st->ct_grpc)
        answer_error(s, st, 415, TS_GATEWAY__GRPC_INTERNAL, "content-type is not application/grpc");
    else if (!st->method_post || !st->path_check)
        answer_error(s, st, 200, TS_GATEWAY__GRPC_UNIMPLEMENTED,
                     "only POST " TS_GATEWAY__GRPC_CHECK_PATH " is served");
    else if (!st->enc_identity)
        answer_error(s, st, 200, TS_GATEWAY__GRPC_UNIMPLEMENTED,
                     "grpc-encoding: only identity is accepted");
    else if (!st->te_trailers)
        answer_error(s, st, 200, TS_GATEWAY__GRPC_INVALID_ARGUMENT, "te: trailers is required");
    else if (st->timeout_bad)
        answer_error(s, st, 200, TS_GATEWAY__GRPC_INVALID_ARGUMENT, "malformed grpc-timeout");
}

/* The client's stream ended: one whole message, else an error; then the job. */
static void request_done(ts_gateway__grpc_session *s, stream *st)
{
    if (st->state != RECEIVING || !st->headers_done)
        return;
    bool compressed = false;
    uint32_t mlen = 0;
    if (st->len < TS_GATEWAY__GRPC_PREFIX ||
        ts_gateway__grpc_prefix_decode(st->buf, &compressed, &mlen) != TS_OK ||
        (size_t)mlen != st->len - TS_GATEWAY__GRPC_PREFIX) {
        answer_error(s, st, 200, TS_GATEWAY__GRPC_INTERNAL, "a call carries exactly one message");
        return;
    }
    if (compressed) {
        answer_error(s, st, 200, TS_GATEWAY__GRPC_INTERNAL,
                     "compressed message without grpc-encoding");
        return;
    }
    if (s->now_ns >= st->deadline_ns) {
        answer_error(s, st, 200, TS_GATEWAY__GRPC_DEADLINE_EXCEEDED, "deadline exceeded");
        return;
    }
    ts_gateway__grpc_job *job = ts_gateway__grpc_job_new(st->buf + TS_GATEWAY__GRPC_PREFIX, mlen);
    if (!job) {
        answer_error(s, st, 200, TS_GATEWAY__GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    wipe_buf(st);
    job->stream_id = st->id;
    job->seq = ++s->seq;
    job->deadline_ns = st->deadline_ns;
    st->seq = job->seq;
    st->state = WAITING;
    s->n_waiting++;
    if (!s->io.dispatch(job, s->io.ud)) {
        ts_gateway__grpc_job_free(job);
        answer_error(s, st, 200, TS_GATEWAY__GRPC_RESOURCE_EXHAUSTED, "too many calls in flight");
    }
}

static void add_data(ts_gateway__grpc_session *s, stream *st, const uint8_t *data, size_t len)
{
    size_t max = (size_t)s->cfg->limits.grpc_max_message_bytes;
    if (len > max + TS_GATEWAY__GRPC_PREFIX - st->len) {
        answer_error(s, st, 200, TS_GATEWAY__GRPC_RESOURCE_EXHAUSTED,
                     "message larger than limits.grpc_max_message_bytes");
        return;
    }
    if (st->len + len > st->cap) {
        size_t cap = st->cap ? st->cap : 256;
        while (cap < st->len + len)
            cap *= 2;
        if (cap > max + TS_GATEWAY__GRPC_PREFIX)
            cap = max + TS_GATEWAY__GRPC_PREFIX;
        uint8_t *nb = malloc(cap);
        if (!nb) {
            answer_error(s, st, 200, TS_GATEWAY__GRPC_RESOURCE_EXHAUSTED, "out of memory");
            return;
        }
        if (st->len) {
            memcpy(nb, st->buf, st->len);
            ts_common__memzero(st->buf, st->len);
        }
        free(st->buf);
        st->buf = nb;
        st->cap = cap;
    }
    memcpy(st->buf + st->len, data, len);
    st->len += len;
    /* the prefix announces the size: refuse a large message before it has all arrived */
    bool compressed;
    uint32_t mlen;
    if (st->len >= TS_GATEWAY__GRPC_PREFIX &&
        ts_gateway__grpc_prefix_decode(st->buf, &compressed, &mlen) == TS_OK && mlen > max)
        answer_error(s, st, 200, TS_GATEWAY__GRPC_RESOURCE_EXHAUSTED,
                     "message larger than limits.grpc_max_message_bytes");
}

/* ---------------------------------------------------------------------------------------- */
/* nghttp2 callbacks                                                                         */

static ssize_t on_send(nghttp2_session *h2, const uint8_t *data, size_t length, int flags,
                       void *user_data)
{
    (void)h2;
    (void)flags;
    ts_gateway__grpc_session *s = user_data;
    ssize_t n = s->io.send(data, length, s->io.ud);
    if (n < 0)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    if (n == 0)
        return NGHTTP2_ERR_WOULDBLOCK;
    return n;
}

static int on_begin_headers(nghttp2_session *h2, const nghttp2_frame *frame, void *user_data)
{
    ts_gateway__grpc_session *s = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    stream *st = calloc(1, sizeof *st);
    if (!st)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* this stream is reset, not the session */
    st->id = frame->hd.stream_id;
    st->state = RECEIVING;
    st->enc_identity = true; /* absent grpc-encoding is identity */
    if (nghttp2_session_set_stream_user_data(h2, st->id, st) != 0) {
        free(st);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    st->next = s->streams;
    if (s->streams)
        s->streams->prev = st;
    s->streams = st;
    s->n_streams++;
    return 0;
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user_data)
{
    (void)flags;
    ts_gateway__grpc_session *s = user_data;
    stream *st = nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id);
    if (!st)
        return 0;
    /* RFC 7541 §4.1's size: what SETTINGS_MAX_HEADER_LIST_SIZE announces; trailers count too */
    st->header_bytes += namelen + valuelen + 32;
    if (st->header_bytes > s->cfg->limits.max_header_bytes)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* RST_STREAM: no answer is owed */
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
        note_header(st, name, namelen, value, valuelen);
    return 0;
}

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *frame, void *user_data)
{
    ts_gateway__grpc_session *s = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
        return 0;
    stream *st = nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id);
    if (!st)
        return 0;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
        headers_done(s, st);
    if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
        request_done(s, st);
    return 0;
}

static int on_data_chunk(nghttp2_session *h2, uint8_t flags, int32_t stream_id, const uint8_t *data,
                         size_t len, void *user_data)
{
    (void)flags;
    ts_gateway__grpc_session *s = user_data;
    stream *st = nghttp2_session_get_stream_user_data(h2, stream_id);
    if (st && st->state == RECEIVING && st->headers_done)
        add_data(s, st, data, len);
    return 0;
}

static int on_stream_close(nghttp2_session *h2, int32_t stream_id, uint32_t error_code,
                           void *user_data)
{
    (void)error_code;
    ts_gateway__grpc_session *s = user_data;
    stream *st = nghttp2_session_get_stream_user_data(h2, stream_id);
    if (!st)
        return 0;
    if (st->state == WAITING)
        s->n_waiting--; /* its job comes back to a missing stream and is dropped */
    if (st->prev)
        st->prev->next = st->next;
    else
        s->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    s->n_streams--;
    wipe_buf(st);
    ts_gateway__grpc_bytes_free(st->resp, st->resp_len);
    free(st);
    (void)nghttp2_session_set_stream_user_data(h2, stream_id, NULL);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* The session                                                                               */

ts_gateway__grpc_session *ts_gateway__grpc_session_new(const ts_gateway_config *cfg,
                                                       const ts_gateway__grpc_session_io *io,
                                                       ts_error *err)
{
    ts_gateway__grpc_session *s = calloc(1, sizeof *s);
    nghttp2_session_callbacks *cb = NULL;
    nghttp2_option *opt = NULL;
    if (!s || nghttp2_session_callbacks_new(&cb) != 0 || nghttp2_option_new(&opt) != 0)
        goto nomem;
    s->cfg = cfg;
    s->io = *io;
    nghttp2_session_callbacks_set_send_callback(cb, on_send);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_option_set_stream_reset_rate_limit(opt, RESET_BURST, RESET_RATE);
    nghttp2_option_set_max_continuations(opt, MAX_CONTINUATIONS);
    int rc = nghttp2_session_server_new2(&s->h2, cb, s, opt);
    nghttp2_session_callbacks_del(cb);
    nghttp2_option_del(opt);
    cb = NULL;
    opt = NULL;
    if (rc != 0)
        goto nomem;
    nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, TS_GATEWAY__GRPC_MAX_STREAMS},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, cfg->limits.max_header_bytes},
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
    };
    if (nghttp2_submit_settings(s->h2, NGHTTP2_FLAG_NONE, settings, 3) != 0)
        goto nomem;
    return s;
nomem:
    nghttp2_session_callbacks_del(cb);
    nghttp2_option_del(opt);
    ts_gateway__grpc_session_free(s);
    ts_error_set(err, TS_ENOMEM, "grpc", "out of memory");
    return NULL;
}

void ts_gateway__grpc_session_free(ts_gateway__grpc_session *s)
{
    if (!s)
        return;
    /* nghttp2_session_del() frees its streams without on_stream_close: ours go here */
    nghttp2_session_del(s->h2);
    while (s->streams) {
        stream *st = s->streams;
        s->streams = st->next;
        wipe_buf(st);
        ts_gateway__grpc_bytes_free(st->resp, st->resp_len);
        free(st);
    }
    free(s);
}

bool ts_gateway__grpc_session_recv(ts_gateway__grpc_session *s, const uint8_t *data, size_t len,
                                   int64_t now_ns)
{
    s->now_ns = now_ns;
    ssize_t n = nghttp2_session_mem_recv(s->h2, data, len);
    return n >= 0 && (size_t)n == len;
}

bool ts_gateway__grpc_session_flush(ts_gateway__grpc_session *s)
{
    return nghttp2_session_send(s->h2) == 0;
}

void ts_gateway__grpc_session_complete(ts_gateway__grpc_session *s, ts_gateway__grpc_job *job)
{
    stream *st = nghttp2_session_get_stream_user_data(s->h2, job->stream_id);
    if (st && st->state == WAITING && st->seq == job->seq) {
        if (job->code == TS_GATEWAY__GRPC_OK && job->resp)
            answer_ok(s, st, job);
        else
            answer_error(s, st, 200,
                         job->code == TS_GATEWAY__GRPC_OK ? TS_GATEWAY__GRPC_INTERNAL : job->code,
                         job->message);
    }
    ts_gateway__grpc_job_free(job);
}

void ts_gateway__grpc_session_expire(ts_gateway__grpc_session *s, int64_t now_ns)
{
    s->now_ns = now_ns;
    for (stream *st = s->streams; st; st = st->next)
        if (st->state != ANSWERED && st->headers_done && st->deadline_ns <= now_ns)
            answer_error(s, st, 200, TS_GATEWAY__GRPC_DEADLINE_EXCEEDED, "deadline exceeded");
}

int64_t ts_gateway__grpc_session_next_deadline(const ts_gateway__grpc_session *s)
{
    int64_t next = INT64_MAX;
    for (const stream *st = s->streams; st; st = st->next)
        if (st->state != ANSWERED && st->headers_done && st->deadline_ns < next)
            next = st->deadline_ns;
    return next;
}

size_t ts_gateway__grpc_session_waiting(const ts_gateway__grpc_session *s)
{
    return s->n_waiting;
}

size_t ts_gateway__grpc_session_open_streams(const ts_gateway__grpc_session *s)
{
    return s->n_streams;
}

void ts_gateway__grpc_session_shutdown(ts_gateway__grpc_session *s)
{
    if (s->goaway)
        return;
    s->goaway = true;
    (void)nghttp2_submit_goaway(s->h2, NGHTTP2_FLAG_NONE,
                                nghttp2_session_get_last_proc_stream_id(s->h2), NGHTTP2_NO_ERROR,
                                NULL, 0);
}

void ts_gateway__grpc_session_terminate(ts_gateway__grpc_session *s)
{
    s->goaway = true;
    (void)nghttp2_session_terminate_session(s->h2, NGHTTP2_NO_ERROR);
}

void ts_gateway__grpc_session_fail_waiting(ts_gateway__grpc_session *s, ts_gateway__grpc_code code,
                                           const char *message)
{
    for (stream *st = s->streams; st; st = st->next)
        if (st->state != ANSWERED && st->headers_done)
            answer_error(s, st, 200, code, message);
}

bool ts_gateway__grpc_session_want_read(const ts_gateway__grpc_session *s)
{
    return nghttp2_session_want_read(s->h2) != 0;
}

bool ts_gateway__grpc_session_want_write(const ts_gateway__grpc_session *s)
{
    return nghttp2_session_want_write(s->h2) != 0;
}
