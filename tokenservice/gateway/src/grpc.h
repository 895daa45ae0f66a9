/*
 * The gateway's gRPC pieces that touch no socket (docs/gateway.md, "gRPC: messages and
 * framing"): the framing rules of gRPC over HTTP/2 (grpc/grpc doc/PROTOCOL-HTTP2.md) in
 * grpc_frame.c, a bounded arena for protobuf-c in pb_arena.c, and the Envoy ext_authz messages
 * in grpc_check.c: CheckRequest -> ts_gateway__input, ts_gateway__verdict -> CheckResponse.
 * All of them are pure functions of their arguments (no clock, no global state), so the
 * HTTP/2 session and the fuzzers drive them directly.
 *
 * Private to the gateway library (ts_gateway__*). The generated protobuf-c names appear only
 * in grpc_check.c.
 */
#ifndef TS_GATEWAY_GRPC_H
#define TS_GATEWAY_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>
#include <tokensmith/error.h>

#include "gw_internal.h"

/* ---------------------------------------------------------------------------------------- */
/* Call status codes (google.rpc.Code) and framing (grpc_frame.c)                            */

#define TS_GATEWAY__GRPC_CODES(X)                                                                  \
    X(OK, 0)                                                                                       \
    X(CANCELLED, 1)                                                                                \
    X(UNKNOWN, 2)                                                                                  \
    X(INVALID_ARGUMENT, 3)                                                                         \
    X(DEADLINE_EXCEEDED, 4)                                                                        \
    X(NOT_FOUND, 5)                                                                                \
    X(ALREADY_EXISTS, 6)                                                                           \
    X(PERMISSION_DENIED, 7)                                                                        \
    X(RESOURCE_EXHAUSTED, 8)                                                                       \
    X(FAILED_PRECONDITION, 9)                                                                      \
    X(ABORTED, 10)                                                                                 \
    X(OUT_OF_RANGE, 11)                                                                            \
    X(UNIMPLEMENTED, 12)                                                                           \
    X(INTERNAL, 13)                                                                                \
    X(UNAVAILABLE, 14)                                                                             \
    X(DATA_LOSS, 15)                                                                               \
    X(UNAUTHENTICATED, 16)

typedef enum ts_gateway__grpc_code {
#define TS_GATEWAY__GRPC_CODE_ENUM_(name, value) TS_GATEWAY__GRPC_##name = value,
    TS_GATEWAY__GRPC_CODES(TS_GATEWAY__GRPC_CODE_ENUM_)
#undef TS_GATEWAY__GRPC_CODE_ENUM_
} ts_gateway__grpc_code;

/** The canonical name of @p code ("OK", "UNAUTHENTICATED", ...), or "UNKNOWN" for a value
 *  outside 0..16. Static; never NULL. */
const char *ts_gateway__grpc_code_name(unsigned code);

/** Bytes of a Length-Prefixed-Message's prefix: Compressed-Flag (1) + big-endian length (4). */
#define TS_GATEWAY__GRPC_PREFIX 5u

/**
 * Read the prefix at @p p (TS_GATEWAY__GRPC_PREFIX bytes).
 * @return TS_OK with *compressed and *len set; TS_EPARSE when the flag byte is neither 0 nor 1
 *         (PROTOCOL-HTTP2.md allows only those two).
 */
TS_NODISCARD ts_status ts_gateway__grpc_prefix_decode(const uint8_t *p, bool *compressed,
                                                      uint32_t *len);

/** Write an uncompressed prefix for a message of @p len bytes to @p p (5 bytes). */
void ts_gateway__grpc_prefix_encode(uint8_t *p, uint32_t len);

/**
 * Parse a grpc-timeout value (@p s, @p len bytes, without the header name): TimeoutValue (1 to
 * 8 ASCII digits; 0 is accepted and means the deadline has passed) directly followed by one
 * TimeoutUnit (H M S m u n), nothing else, no white space.
 * @return TS_OK and *ns; TS_EPARSE for any other shape (9 digits, another unit, a sign, ...);
 *         TS_ELIMIT when the value does not fit in 64 bits of nanoseconds (over ~584 years).
 */
TS_NODISCARD ts_status ts_gateway__grpc_timeout_parse(const char *s, size_t len, uint64_t *ns);

/**
 * Percent-encode @p msg (@p len bytes) for grpc-message: every byte outside 0x20..0x7E, and
 * '%' itself, becomes "%XX" (upper-case hex). Writes at most @p cap - 1 bytes and a '\0' to
 * @p out (@p cap >= 1), never splitting a "%XX"; the rest of a longer message is dropped.
 * @return the number of bytes written (without the '\0').
 */
size_t ts_gateway__grpc_message_encode(const char *msg, size_t len, char *out, size_t cap);

/* ---------------------------------------------------------------------------------------- */
/* A bounded arena for protobuf-c (pb_arena.c)                                               */

/* What one unpack may allocate: TS_GATEWAY__PB_ARENA_FACTOR times the message's size, and at
 * least TS_GATEWAY__PB_ARENA_MIN (the fixed structs of a CheckRequest take about 1 KiB
 * whatever its size; also room for about 300 header entries, ~200 bytes each decoded whatever
 * their wire size, so that Envoy's 100 short headers are decided, not refused). */
#define TS_GATEWAY__PB_ARENA_FACTOR 8u
#define TS_GATEWAY__PB_ARENA_MIN 65536u

typedef struct ts_gateway__pb_arena ts_gateway__pb_arena;

/** A new arena that allocates at most @p cap bytes in total (its blocks' bookkeeping
 *  included); NULL when out of memory. */
ts_gateway__pb_arena *ts_gateway__pb_arena_new(size_t cap);

/** Wipe and free every block, then the arena. NULL-safe. */
void ts_gateway__pb_arena_free(ts_gateway__pb_arena *a);

/** The allocator to hand protobuf-c; valid until the arena is freed. Its free() is a no-op:
 *  everything is released with the arena. */
ProtobufCAllocator *ts_gateway__pb_arena_allocator(ts_gateway__pb_arena *a);

/** @p n bytes aligned for any protobuf-c type; NULL when the cap would be passed (then
 *  ts_gateway__pb_arena_exhausted() is true) or out of memory. */
void *ts_gateway__pb_arena_alloc(ts_gateway__pb_arena *a, size_t n);

/** Whether an allocation was refused because of the cap. */
bool ts_gateway__pb_arena_exhausted(const ts_gateway__pb_arena *a);

/** Bytes taken from the system so far (blocks and bookkeeping). */
size_t ts_gateway__pb_arena_used(const ts_gateway__pb_arena *a);

/** When @p p is the start of an allocation from @p a: true, and *n its requested size.
 *  protobuf-c allocates a string of wire length L as L + 1 bytes, so this is how the decoder
 *  learns a string's true length and finds an embedded NUL. */
bool ts_gateway__pb_arena_size_of(const ts_gateway__pb_arena *a, const void *p, size_t *n);

/* ---------------------------------------------------------------------------------------- */
/* Envoy ext_authz messages (grpc_check.c)                                                   */

/** The full method path on the wire (GRPC §2). */
#define TS_GATEWAY__GRPC_CHECK_PATH "/envoy.service.auth.v3.Authorization/Check"

/** A decoded CheckRequest: its arena, the unpacked message and the input built from it. */
typedef struct ts_gateway__grpc_request ts_gateway__grpc_request;

/**
 * Decode the serialized CheckRequest @p msg (@p len bytes, without the gRPC prefix) and map it
 * to a ts_gateway__input. All allocation goes to one arena capped at
 * max(TS_GATEWAY__PB_ARENA_FACTOR * @p len, TS_GATEWAY__PB_ARENA_MIN). Fields our trimmed
 * .proto files leave out are kept as unknown fields and ignored.
 *
 * Every failure is a malformed call, answered with INVALID_ARGUMENT (never an allow):
 * TS_EPARSE (not a CheckRequest), TS_ELIMIT (decoding needs more than the cap), TS_EINVAL (no
 * attributes.request.http; a string with a NUL byte; a header name that is not a token or a
 * value with CR or LF; both `headers` and `header_map`). TS_ENOMEM is the server's problem
 * (INTERNAL). @p err says which field, never a value.
 *
 * Ownership: on TS_OK, *out is the caller's (ts_gateway__grpc_request_free()).
 */
TS_NODISCARD ts_status ts_gateway__grpc_check_decode(const uint8_t *msg, size_t len,
                                                     ts_gateway__grpc_request **out, ts_error *err);

/** The input of @p r; borrowed, valid until @p r is freed. */
const ts_gateway__input *ts_gateway__grpc_request_input(const ts_gateway__grpc_request *r);

/** Bytes the decode took from its arena (for the bounds' tests and metrics). */
size_t ts_gateway__grpc_request_arena_used(const ts_gateway__grpc_request *r);

/** Wipe (it holds the caller's token) and free @p r. NULL-safe. */
void ts_gateway__grpc_request_free(ts_gateway__grpc_request *r);

/**
 * The call status that carries @p v: OK for ALLOW and DENY (a deny is an OK call whose
 * CheckResponse says no — Envoy treats any other call status as an error, which
 * failure_mode_allow may turn into a pass), UNAVAILABLE for CANNOT_DECIDE.
 */
ts_gateway__grpc_code ts_gateway__grpc_check_call_status(const ts_gateway__verdict *v);

/**
 * Encode @p v (ALLOW or DENY) as a CheckResponse, framed as one Length-Prefixed-Message
 * (TS_GATEWAY__GRPC_PREFIX bytes + the message), ready for one DATA frame.
 *  - ALLOW: status.code 0 set explicitly, ok_response.headers each with append_action
 *    OVERWRITE_IF_EXISTS_OR_ADD and append = BoolValue{false} (every Envoy version reads that
 *    pair as "set"), headers_to_remove.
 *  - DENY: status.code 16 for 401, 3 for 400, 7 for any other status, always present;
 *    denied_response{status, headers (encoded as for ALLOW), body}. A status outside 400..599
 *    is sent as 403, so a deny never turns into anything else.
 * @return TS_OK and *out (heap, *out_len bytes; free with ts_gateway__grpc_bytes_free(): it
 *         may hold a token); TS_EINVAL for CANNOT_DECIDE (no CheckResponse carries it: answer
 *         with ts_gateway__grpc_check_call_status()); TS_ENOMEM.
 */
TS_NODISCARD ts_status ts_gateway__grpc_check_encode(const ts_gateway__verdict *v, uint8_t **out,
                                                     size_t *out_len, ts_error *err);

/** Wipe @p n bytes at @p p, then free it. NULL-safe. */
void ts_gateway__grpc_bytes_free(uint8_t *p, size_t n);

#endif
