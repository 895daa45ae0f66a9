/*
 * The contract between the gateway's parts: a front (HTTP: Envoy http_service, Istio, nginx
 * auth_request; gRPC: Envoy ext_authz Check) turns what its proxy sent into a plain
 * ts_gateway__input, a checker decides, and the front turns the ts_gateway__verdict back into
 * its wire answer. Neither type knows a transport, so the decision is written once and each
 * front can be tested with a fake checker.
 *
 * Ownership: an input is borrowed from the front (every string points into the front's own
 * request memory) and is valid only during the check call; the checker copies what it keeps.
 * A verdict is caller storage (ts_gateway__verdict_init/_cleanup) that owns copies of
 * everything put into it; cleanup wipes it, because an allowed verdict carries the translated
 * token in its Authorization header.
 *
 * Thread-safety: neither type is shared; a check runs on one thread with its own input and
 * verdict.
 *
 * Private to the gateway library (ts_gateway__*).
 */
#ifndef TS_GATEWAY_GW_INTERNAL_H
#define TS_GATEWAY_GW_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tokensmith/error.h>

/* ---------------------------------------------------------------------------------------- */
/* Input: the request the proxy asks about                                                   */

/** Bytes borrowed from the front. ptr[len] is '\0' and no byte before it is, so a string can
 *  also be used as a C string; an absent value is {"", 0}, never {NULL, 0}. */
typedef struct ts_gateway__str {
    const char *ptr;
    size_t len;
} ts_gateway__str;

/** One request header line as the proxy saw it. Names are compared case-insensitively (Envoy
 *  sends lower case, nginx and MHD keep the client's case); neither holds CR, LF or NUL, a
 *  name is never empty. */
typedef struct ts_gateway__header {
    ts_gateway__str name;
    ts_gateway__str value;
} ts_gateway__header;

typedef enum ts_gateway__front {
    TS_GATEWAY__FRONT_HTTP = 0,
    TS_GATEWAY__FRONT_GRPC = 1,
} ts_gateway__front;

/**
 * The request to decide on. What a front guarantees: the strings follow ts_gateway__str's rule
 * (no NUL, no CR/LF in headers). What it does NOT check, because the checker answers it with a
 * 400 deny instead of a transport error: method and path shape and length, header count and
 * bytes, more than one Authorization. Pseudo-headers (":path", ":authority", ...) are never in
 * @c headers: their values are @c method, @c host and @c path.
 */
typedef struct ts_gateway__input {
    ts_gateway__front front;
    ts_gateway__str method; /**< as received, e.g. "GET"; may be empty (then a 400) */
    ts_gateway__str host;   /**< Host / :authority as sent; may be empty */
    ts_gateway__str path;   /**< raw path plus query, not percent-decoded */
    const ts_gateway__header *headers;
    size_t n_headers;
    /** The proxy saw more than one Authorization line although @c headers may show one: Envoy's
     *  gRPC headers map joins repeated lines with ',' (a bearer token never holds one). The
     *  checker answers 400, as for two Authorization entries in @c headers. */
    bool authorization_repeated;
    ts_gateway__str peer_address; /**< the downstream client's IP or Unix socket path; may be "" */
    uint32_t peer_port;           /**< 0 when unknown */
} ts_gateway__input;

/* ---------------------------------------------------------------------------------------- */
/* Verdict: what the front answers                                                           */

typedef enum ts_gateway__decision {
    /** Pass the request upstream with @c headers set and @c remove removed (HTTP 200, gRPC
     *  call OK with CheckResponse.status.code 0 and ok_response). */
    TS_GATEWAY__ALLOW = 0,
    /** Refuse: @c http_status (400, 401 or 403), @c headers and @c body go to the client (gRPC:
     *  call OK, CheckResponse.status.code 3, 16 or 7, denied_response). */
    TS_GATEWAY__DENY = 1,
    /** Neither (keys unavailable, internal failure): HTTP 503, gRPC call status UNAVAILABLE, so
     *  that the proxy's fail-open or fail-closed setting applies. */
    TS_GATEWAY__CANNOT_DECIDE = 2,
} ts_gateway__decision;

/* Bounds of one verdict; an add beyond them fails with TS_ELIMIT (the checker then answers
 * "cannot decide"). */
#define TS_GATEWAY__VERDICT_MAX_HEADERS 16u  /**< headers set upstream or sent with a deny */
#define TS_GATEWAY__VERDICT_MAX_REMOVE 256u  /**< header names removed upstream */
#define TS_GATEWAY__VERDICT_MAX_VALUE 8192u  /**< bytes of one header value (a JWT fits) */
#define TS_GATEWAY__VERDICT_MAX_NAME 256u    /**< bytes of one header name */
#define TS_GATEWAY__VERDICT_MAX_BODY 16384u  /**< bytes of a deny body */
#define TS_GATEWAY__VERDICT_REASON_SIZE 128u /**< the reason's buffer, NUL included */
/** The verdict's own storage for its copies: an allow's headers (the translated token
 *  included) fit, so that a check allocates nothing for them; what does not fit is copied to
 *  the heap. */
#define TS_GATEWAY__VERDICT_STORE 4096u

/** A header the verdict owns: NUL-terminated copies (in its store or on the heap), wiped at
 *  cleanup. */
typedef struct ts_gateway__vheader {
    char *name;
    size_t name_len;
    char *value;
    size_t value_len;
} ts_gateway__vheader;

typedef struct ts_gateway__verdict {
    ts_gateway__decision decision;
    unsigned http_status; /**< DENY: 400, 401 or 403; ALLOW: 200; CANNOT_DECIDE: 503 */
    /** ALLOW: set on the upstream request, replacing any same-named header; DENY: sent to the
     *  client with @c body (Content-Type and WWW-Authenticate included). */
    ts_gateway__vheader headers[TS_GATEWAY__VERDICT_MAX_HEADERS];
    size_t n_headers;
    /** ALLOW only: header names the upstream must not see (the client's x-tokensmith-*). A
     *  heap array of NUL-terminated heap names. */
    char **remove;
    size_t n_remove;
    char *body; /**< DENY: NUL-terminated heap copy (authz.deny.v1 JSON), or NULL */
    size_t body_len;
    /** Short text for logs and grpc-message: never a token, a header value or a path. */
    char reason[TS_GATEWAY__VERDICT_REASON_SIZE];
    /* Last, so that init and cleanup touch only its used bytes. */
    size_t store_used;
    char store[TS_GATEWAY__VERDICT_STORE];
} ts_gateway__verdict;

/** Make @p v an empty CANNOT_DECIDE verdict (503, reason "no decision"): a checker that
 *  fails half-way never leaves an allow behind. */
void ts_gateway__verdict_init(ts_gateway__verdict *v);

/** Wipe and free everything @p v owns, then init it again. NULL-safe. */
void ts_gateway__verdict_cleanup(ts_gateway__verdict *v);

/**
 * Add a copy of header @p name: @p value to @p v. The name must be an HTTP token (RFC 9110
 * tchar, not a pseudo-header) of at most TS_GATEWAY__VERDICT_MAX_NAME bytes, the value visible
 * ASCII, space or tab (no CR, LF or NUL) of at most TS_GATEWAY__VERDICT_MAX_VALUE bytes.
 * @return TS_OK; TS_EINVAL (bad name or value), TS_ELIMIT (too many or too long), TS_ENOMEM.
 */
TS_NODISCARD ts_status ts_gateway__verdict_add_header(ts_gateway__verdict *v, const char *name,
                                                      size_t name_len, const char *value,
                                                      size_t value_len, ts_error *err);

/** Add a copy of header name @p name to the names to remove (same rules as a header name).
 *  @return TS_OK; TS_EINVAL, TS_ELIMIT, TS_ENOMEM. */
TS_NODISCARD ts_status ts_gateway__verdict_add_remove(ts_gateway__verdict *v, const char *name,
                                                      size_t name_len, ts_error *err);

/** Replace the deny body with a copy of @p body (any bytes but NUL, at most
 *  TS_GATEWAY__VERDICT_MAX_BODY). @return TS_OK; TS_EINVAL, TS_ELIMIT, TS_ENOMEM. */
TS_NODISCARD ts_status ts_gateway__verdict_set_body(ts_gateway__verdict *v, const char *body,
                                                    size_t body_len, ts_error *err);

/** Set the decision and status: ALLOW → 200, CANNOT_DECIDE → 503; DENY takes @p http_status
 *  (400, 401 or 403). @p reason (may be NULL) is copied, truncated to fit. */
void ts_gateway__verdict_decide(ts_gateway__verdict *v, ts_gateway__decision d,
                                unsigned http_status, const char *reason);

/* ---------------------------------------------------------------------------------------- */
/* The checker a front calls                                                                 */

/**
 * Decide on @p in, filling @p out (initialised by the caller with ts_gateway__verdict_init()).
 * Never fails: every error becomes a CANNOT_DECIDE verdict. Must be safe to call from several
 * threads at once with different inputs and verdicts.
 */
typedef void (*ts_gateway__check_fn)(const ts_gateway__input *in, ts_gateway__verdict *out,
                                     void *ud);

/** A front's checker: the real decision core, or a fake in the fronts' tests. */
typedef struct ts_gateway__checker {
    ts_gateway__check_fn fn;
    void *ud;
} ts_gateway__checker;

#endif
