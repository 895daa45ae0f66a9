/*
 * Server-side TLS sessions for servers that run their own event loop (the gateway's HTTP and
 * gRPC check listeners, the agent's listener): an accepted, non-blocking socket is wrapped in a
 * GnuTLS session whose handshake, reads and writes never block, with recv()/send()-like results
 * so that an epoll loop changes little. The certificate and priorities come from the caller
 * (common/tls_server.h: a credentials object whose pair is reloaded under it).
 *
 * Two things an epoll loop must do that plain sockets do not ask for:
 *  - GnuTLS reads whole records: bytes of a record already decrypted may wait inside the
 *    session while the socket has nothing more (ts_common__tls_conn_pending()). Read them
 *    before waiting for EPOLLIN again, or the connection stalls.
 *  - A read may have to write (a TLS 1.3 key update's answer) and a write may have to wait:
 *    after a -1/EAGAIN, ts_common__tls_conn_wants_write() says which readiness to wait for.
 *
 * Bounds are the caller's: the handshake must be cut at the caller's head deadline (a slow or
 * silent ClientHello), and a garbage ClientHello or plain HTTP fails the handshake at once.
 *
 * Ownership: a connection borrows the credentials and priorities (they must outlive it) and
 * never owns the socket (the caller closes it after ts_common__tls_conn_free()).
 * Thread-safety: one thread per connection at a time; connections are independent.
 * Private to tokensmith.
 */
#ifndef TS_COMMON_TLS_CONN_H
#define TS_COMMON_TLS_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <gnutls/gnutls.h>

#include <tokensmith/error.h>

#include "common/tls_trust.h"

/** Client certificates: not asked for; asked for and checked when sent; required and checked. */
typedef enum ts_common__tls_client_auth {
    TS_COMMON__TLS_CLIENT_NONE = 0,
    TS_COMMON__TLS_CLIENT_REQUEST,
    TS_COMMON__TLS_CLIENT_REQUIRE,
} ts_common__tls_client_auth;

/** Where a listener's sessions count how their handshakes ended, each as it is freed. Owned by
 *  whoever owns the listener (zero-initialised), and read for its /metrics. */
typedef struct ts_common__tls_handshake_counters {
    _Atomic uint64_t completed, failed, resumed;
} ts_common__tls_handshake_counters;

/** What a listener's connections are made with (borrowed for the connections' life). */
typedef struct ts_common__tls_conn_options {
    gnutls_certificate_credentials_t cred; /**< the server's pair (and the client CAs) */
    gnutls_priority_t priority;            /**< e.g. a cache of TS_COMMON__TLS_PRIORITIES */
    const char *alpn;                      /**< the one protocol offered ("h2"), or NULL */
    ts_common__tls_client_auth client_auth;
    /** Session tickets (resumption: a returning client skips the signature and the key
     *  exchange's checks) encrypted under keys derived from this master key; NULL: none. */
    const gnutls_datum_t *ticket_key;
    /** Where the sessions' handshake outcomes are counted; NULL: not counted. */
    ts_common__tls_handshake_counters *counters;
    /** Replaceable client-certificate trust (common/tls_trust.h): when set, each session uses
     *  the credentials current at its start (cred is then ignored) and holds them until freed. */
    ts_common__tls_trust *trust;
} ts_common__tls_conn_options;

/** A handshake step's outcome: wait for the socket to be readable or writable, or it ended. */
typedef enum ts_common__tls_conn_step {
    TS_COMMON__TLS_CONN_DONE = 0,
    TS_COMMON__TLS_CONN_WANT_READ,
    TS_COMMON__TLS_CONN_WANT_WRITE,
    TS_COMMON__TLS_CONN_FAILED,
} ts_common__tls_conn_step;

typedef struct ts_common__tls_conn ts_common__tls_conn;

/**
 * A server session on @p fd (connected, non-blocking). Nothing is read or written yet.
 * @return NULL with @p err (TS_ENOMEM, TS_EINVAL for options without credentials).
 */
TS_NODISCARD ts_common__tls_conn *
ts_common__tls_conn_new(int fd, const ts_common__tls_conn_options *o, ts_error *err);

/** Free @p c (no close_notify: ts_common__tls_conn_close() first for that). The socket stays
 *  open. NULL is a no-op. */
void ts_common__tls_conn_free(ts_common__tls_conn *c);

/**
 * Move the handshake on as far as the socket allows. After FAILED the connection is closed by
 * the caller without another byte (a garbage ClientHello, plain HTTP, a protocol version or
 * cipher refused, a client certificate missing or not trusted when asked for).
 */
ts_common__tls_conn_step ts_common__tls_conn_handshake(ts_common__tls_conn *c);

/**
 * Read application data, as recv(): the count (> 0), 0 at the peer's close_notify, or -1 with
 * errno EAGAIN (wait: ts_common__tls_conn_wants_write() says for what), ECONNRESET (the peer
 * closed without close_notify) or EPROTO (a TLS error, a renegotiation asked for).
 */
ssize_t ts_common__tls_conn_recv(ts_common__tls_conn *c, void *buf, size_t len);

/**
 * Write application data, as send() on a non-blocking socket: the count taken (at most one
 * record's worth, possibly less than @p len), or -1 with errno EAGAIN or EPIPE/EPROTO. After
 * EAGAIN the bytes are already encrypted inside the session: call again with the same bytes at
 * the start of @p buf (the count returned then is of those bytes).
 */
ssize_t ts_common__tls_conn_send(ts_common__tls_conn *c, const void *buf, size_t len);

/** Decrypted bytes waiting inside the session: read them before waiting for the socket. */
size_t ts_common__tls_conn_pending(const ts_common__tls_conn *c);

/** After a -1/EAGAIN (or WANT_* from the handshake): true when the socket must become writable
 *  before the call is tried again, false when readable. */
bool ts_common__tls_conn_wants_write(const ts_common__tls_conn *c);

/** Whether the handshake agreed on the protocol @p proto by ALPN ("h2"). */
bool ts_common__tls_conn_alpn_is(const ts_common__tls_conn *c, const char *proto);

/** Whether the client sent a certificate that was checked against the trust (mTLS). */
bool ts_common__tls_conn_peer_verified(const ts_common__tls_conn *c);

/** How the handshakes of the sessions freed so far ended (a snapshot of the counters). */
typedef struct ts_common__tls_handshake_stats {
    uint64_t completed; /**< the handshake succeeded */
    uint64_t failed;    /**< freed before it did: garbage, plain HTTP, refused, cut, left */
    uint64_t resumed;   /**< of the completed, those that resumed a session (a ticket) */
} ts_common__tls_handshake_stats;

/** Read @p c (NULL: all zero, as for a listener without TLS). */
void ts_common__tls_handshake_counters_read(const ts_common__tls_handshake_counters *c,
                                            ts_common__tls_handshake_stats *out);

/** Send close_notify if the socket takes it now (never waits), before the caller closes. */
void ts_common__tls_conn_close(ts_common__tls_conn *c);

#endif
