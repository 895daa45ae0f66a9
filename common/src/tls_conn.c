/* Non-blocking server TLS sessions for epoll servers (common/tls_conn.h): GnuTLS's results
 * turned into recv()/send() ones, and what GnuTLS keeps across calls (a record half sent, one
 * already decrypted) made visible to the caller's loop. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/tls_conn.h"

struct ts_common__tls_conn {
    gnutls_session_t session;
    bool sending; /* a send returned EAGAIN: its record waits inside the session */
    bool verified;
    bool completed; /* the handshake ended in GNUTLS_E_SUCCESS */
    /* Set up for a client: its end is counted here (the listener's counters; NULL: not). */
    ts_common__tls_handshake_counters *counters;
    ts_common__tls_trust_ref *trust; /* the credentials this session started with, or NULL */
};

void ts_common__tls_handshake_counters_read(const ts_common__tls_handshake_counters *c,
                                            ts_common__tls_handshake_stats *out)
{
    if (!c) {
        *out = (ts_common__tls_handshake_stats){0, 0, 0};
        return;
    }
    out->completed = atomic_load_explicit(&c->completed, memory_order_relaxed);
    out->failed = atomic_load_explicit(&c->failed, memory_order_relaxed);
    out->resumed = atomic_load_explicit(&c->resumed, memory_order_relaxed);
}

/* gnutls_certificate_verify_function: GnuTLS's own automatic check
 * (gnutls_session_set_verify_cert) also fails a client that sends no certificate when one is
 * only asked for, so the check is ours: none sent passes (GNUTLS_CERT_REQUIRE refuses that case
 * before), one sent must verify. */
static int verify_peer(gnutls_session_t session)
{
    unsigned n = 0;
    if (!gnutls_certificate_get_peers(session, &n) || n == 0)
        return 0;
    unsigned status = 0;
    if (gnutls_certificate_verify_peers2(session, &status) != GNUTLS_E_SUCCESS || status != 0)
        return GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR;
    return 0;
}

ts_common__tls_conn *ts_common__tls_conn_new(int fd, const ts_common__tls_conn_options *o,
                                             ts_error *err)
{
    if (!o || (!o->cred && !o->trust) || !o->priority) {
        ts_error_set(err, TS_EINVAL, "tls", "no certificate to serve TLS with");
        return NULL;
    }
    ts_common__tls_conn *c = calloc(1, sizeof *c);
    if (!c) {
        ts_error_set(err, TS_ENOMEM, "tls", "out of memory");
        return NULL;
    }
    /* The trust in force now stays this session's, whatever replaces it meanwhile. */
    gnutls_certificate_credentials_t cred = o->cred;
    if (o->trust) {
        c->trust = ts_common__tls_trust_acquire(o->trust);
        cred = ts_common__tls_trust_cred(c->trust);
    }
    /* NO_SIGNAL: a peer gone away must not raise SIGPIPE in a server thread. */
    int rc = gnutls_init(&c->session, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
    if (rc == GNUTLS_E_SUCCESS)
        rc = gnutls_priority_set(c->session, o->priority);
    if (rc == GNUTLS_E_SUCCESS)
        rc = gnutls_credentials_set(c->session, GNUTLS_CRD_CERTIFICATE, cred);
    if (rc == GNUTLS_E_SUCCESS && o->alpn) {
        gnutls_datum_t p = {(unsigned char *)(uintptr_t)o->alpn, (unsigned)strlen(o->alpn)};
        /* MANDATORY: a client that offers ALPN without our protocol is refused rather than
         * served a protocol it did not ask for; one that offers no ALPN at all is served. */
        rc = gnutls_alpn_set_protocols(c->session, &p, 1, GNUTLS_ALPN_MANDATORY);
    }
    if (rc == GNUTLS_E_SUCCESS && o->ticket_key)
        rc = gnutls_session_ticket_enable_server(c->session, o->ticket_key);
    if (rc == GNUTLS_E_SUCCESS && o->client_auth != TS_COMMON__TLS_CLIENT_NONE) {
        gnutls_certificate_server_set_request(
            c->session, o->client_auth == TS_COMMON__TLS_CLIENT_REQUIRE ? GNUTLS_CERT_REQUIRE
                                                                        : GNUTLS_CERT_REQUEST);
        /* A certificate the client sends is checked against the credentials' trust during
         * the handshake (chain, time, key usage), which fails when it does not hold: an
         * application never sees an unchecked peer. */
        gnutls_session_set_verify_function(c->session, verify_peer);
    }
    if (rc != GNUTLS_E_SUCCESS) {
        ts_error_set(err, rc == GNUTLS_E_MEMORY_ERROR ? TS_ENOMEM : TS_EINVAL, "tls",
                     "cannot set up a TLS session: %s", gnutls_strerror(rc));
        ts_common__tls_conn_free(c);
        return NULL;
    }
    gnutls_transport_set_int(c->session, fd);
    /* The caller bounds the handshake by its own deadline; GnuTLS's timer would block. */
    gnutls_handshake_set_timeout(c->session, 0);
    c->counters = o->counters;
    return c;
}

void ts_common__tls_conn_free(ts_common__tls_conn *c)
{
    if (!c)
        return;
    if (c->session) {
        /* A session that never completed its handshake failed it: garbage or plain HTTP, a
         * version, cipher or certificate refused, the caller's head deadline, a client that
         * connected and left. Set-up failures in _new() never had a client: not counted. */
        ts_common__tls_handshake_counters *k = c->counters;
        if (k && c->completed) {
            atomic_fetch_add_explicit(&k->completed, 1, memory_order_relaxed);
            if (gnutls_session_is_resumed(c->session))
                atomic_fetch_add_explicit(&k->resumed, 1, memory_order_relaxed);
        } else if (k) {
            atomic_fetch_add_explicit(&k->failed, 1, memory_order_relaxed);
        }
        gnutls_deinit(c->session); /* wipes the session's keys */
    }
    ts_common__tls_trust_release(c->trust); /* after the session: it used them */
    free(c);
}

ts_common__tls_conn_step ts_common__tls_conn_handshake(ts_common__tls_conn *c)
{
    for (;;) {
        int rc = gnutls_handshake(c->session);
        if (rc == GNUTLS_E_SUCCESS) {
            c->completed = true;
            unsigned n = 0;
            c->verified = gnutls_certificate_get_peers(c->session, &n) != NULL && n > 0;
            return TS_COMMON__TLS_CONN_DONE;
        }
        if (rc == GNUTLS_E_INTERRUPTED)
            continue;
        if (rc == GNUTLS_E_AGAIN)
            return gnutls_record_get_direction(c->session) ? TS_COMMON__TLS_CONN_WANT_WRITE
                                                           : TS_COMMON__TLS_CONN_WANT_READ;
        /* A warning alert (an unrecognised name) does not end the handshake; any other error
         * does, fatal alerts and garbage alike. */
        if (rc == GNUTLS_E_WARNING_ALERT_RECEIVED || !gnutls_error_is_fatal(rc))
            continue;
        return TS_COMMON__TLS_CONN_FAILED;
    }
}

ssize_t ts_common__tls_conn_recv(ts_common__tls_conn *c, void *buf, size_t len)
{
    for (;;) {
        ssize_t n = gnutls_record_recv(c->session, buf, len);
        if (n >= 0)
            return n;
        if (n == GNUTLS_E_INTERRUPTED)
            continue;
        if (n == GNUTLS_E_AGAIN) {
            errno = EAGAIN;
            return -1;
        }
        /* A renegotiation (TLS 1.2) is not offered: the client asked for one, it is refused
         * with the connection; the gateway's clients never renegotiate. */
        if (n == GNUTLS_E_PREMATURE_TERMINATION) {
            errno = ECONNRESET;
            return -1;
        }
        if (!gnutls_error_is_fatal((int)n) && n != GNUTLS_E_REHANDSHAKE)
            continue; /* a warning alert */
        errno = EPROTO;
        return -1;
    }
}

ssize_t ts_common__tls_conn_send(ts_common__tls_conn *c, const void *buf, size_t len)
{
    for (;;) {
        /* A record that waits (EAGAIN before) is finished first: GnuTLS takes NULL, 0 for
         * "the same data as last time" and answers with that call's count. */
        ssize_t n = c->sending ? gnutls_record_send(c->session, NULL, 0)
                               : gnutls_record_send(c->session, buf, len);
        if (n >= 0) {
            c->sending = false;
            return n;
        }
        if (n == GNUTLS_E_INTERRUPTED) {
            c->sending = true;
            continue;
        }
        if (n == GNUTLS_E_AGAIN) {
            c->sending = true;
            errno = EAGAIN;
            return -1;
        }
        errno = n == GNUTLS_E_PUSH_ERROR ? EPIPE : EPROTO;
        return -1;
    }
}

size_t ts_common__tls_conn_pending(const ts_common__tls_conn *c)
{
    return gnutls_record_check_pending(c->session);
}

bool ts_common__tls_conn_wants_write(const ts_common__tls_conn *c)
{
    return gnutls_record_get_direction(c->session) == 1;
}

bool ts_common__tls_conn_alpn_is(const ts_common__tls_conn *c, const char *proto)
{
    gnutls_datum_t p;
    if (gnutls_alpn_get_selected_protocol(c->session, &p) != GNUTLS_E_SUCCESS)
        return false;
    size_t n = strlen(proto);
    return p.size == n && memcmp(p.data, proto, n) == 0;
}

bool ts_common__tls_conn_peer_verified(const ts_common__tls_conn *c)
{
    return c->verified;
}

void ts_common__tls_conn_close(ts_common__tls_conn *c)
{
    if (!c)
        return;
    /* SHUT_WR: close_notify only, without waiting for the peer's; a non-blocking socket that
     * cannot take the alert now gets none (the caller closes anyway). */
    (void)gnutls_bye(c->session, GNUTLS_SHUT_WR);
}
