/*
 * http_load over TLS (GnuTLS): the client credentials, each connection's session on its
 * non-blocking socket (the handshake is driven by the worker's epoll loop like a connect), and
 * session resumption for HL_NEW_RESUMED (the data of a connection's last session, a TLS 1.3
 * ticket, offered by its next connection).
 */
#define _GNU_SOURCE

#include "http_load_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>

int hl__tls_init(struct hl_client *c, const hl_tls_options *o, ts_error *err)
{
    gnutls_certificate_credentials_t cred;
    if (gnutls_certificate_allocate_credentials(&cred) < 0)
        return ts_error_set(err, TS_ENOMEM, "tls", "out of memory"), -1;
    c->tls_cred = cred;
    int rc = o->ca_file
                 ? gnutls_certificate_set_x509_trust_file(cred, o->ca_file, GNUTLS_X509_FMT_PEM)
                 : gnutls_certificate_set_x509_system_trust(cred);
    if (rc <= 0)
        return ts_error_set(err, TS_EIO, "tls", "no CA certificate from %s",
                            o->ca_file ? o->ca_file : "the system"),
               -1;
    if (o->cert_file && (rc = gnutls_certificate_set_x509_key_file(
                             cred, o->cert_file, o->key_file ? o->key_file : o->cert_file,
                             GNUTLS_X509_FMT_PEM)) < 0)
        return ts_error_set(err, TS_EIO, "tls", "%s: %s", o->cert_file, gnutls_strerror(rc)), -1;
    return 0;
}

void hl__tls_deinit(struct hl_client *c)
{
    if (c->tls_cred)
        gnutls_certificate_free_credentials(c->tls_cred);
    c->tls_cred = NULL;
}

int hl__tls_begin(const struct hl_client *c, conn *k)
{
    gnutls_session_t s;
    /* HL_NEW_CONNECTION measures the full handshake: no ticket is asked for or kept. */
    unsigned flags = GNUTLS_CLIENT | GNUTLS_NONBLOCK;
    if (c->mode == HL_NEW_CONNECTION)
        flags |= GNUTLS_NO_TICKETS;
    if (gnutls_init(&s, flags) < 0)
        return -1;
    if (gnutls_set_default_priority(s) < 0 ||
        gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, c->tls_cred) < 0) {
        gnutls_deinit(s);
        return -1;
    }
    /* The chain is verified; the name is not (a loopback address). */
    gnutls_session_set_verify_cert(s, NULL, 0);
    gnutls_transport_set_int(s, k->fd);
    if (c->mode == HL_NEW_RESUMED && k->ticket)
        gnutls_session_set_data(s, k->ticket, k->ticket_len);
    k->tls = s;
    return 0;
}

int hl__tls_handshake(conn *k, bool *want_write, bool *resumed)
{
    gnutls_session_t s = k->tls;
    int rc = gnutls_handshake(s);
    if (rc == GNUTLS_E_SUCCESS) {
        *resumed = gnutls_session_is_resumed(s) != 0;
        return 1;
    }
    if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED ||
        (rc < 0 && !gnutls_error_is_fatal(rc))) {
        *want_write = gnutls_record_get_direction(s) == 1;
        return 0;
    }
    return -1;
}

long hl__tls_send(conn *k, const char *buf, size_t n)
{
    ssize_t rc = gnutls_record_send(k->tls, buf, n);
    if (rc >= 0)
        return (long)rc;
    errno = rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED ? EAGAIN : EIO;
    return -1;
}

long hl__tls_recv(conn *k, char *buf, size_t n)
{
    ssize_t rc = gnutls_record_recv(k->tls, buf, n);
    if (rc >= 0)
        return (long)rc;
    /* A TLS 1.3 ticket or another handshake message alone: no data yet. */
    if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED || rc == GNUTLS_E_REHANDSHAKE) {
        errno = EAGAIN;
        return -1;
    }
    /* The peer closed without close_notify: an end of stream like any other here. */
    if (rc == GNUTLS_E_PREMATURE_TERMINATION)
        return 0;
    errno = EIO;
    return -1;
}

bool hl__tls_pending(conn *k)
{
    return k->tls && gnutls_record_check_pending(k->tls) > 0;
}

void hl__tls_forget(conn *k)
{
    gnutls_free(k->ticket);
    k->ticket = NULL;
    k->ticket_len = 0;
}

void hl__tls_end(const struct hl_client *c, conn *k)
{
    if (!k->tls)
        return;
    gnutls_session_t s = k->tls;
    if (c->mode == HL_NEW_RESUMED) {
        /* The ticket the server sent on this connection (TLS 1.3 sends one after every
           handshake, a resumed one included); none: keep the one there was. */
        gnutls_datum_t d = {NULL, 0};
        if (gnutls_session_get_data2(s, &d) == 0 && d.size > 0) {
            hl__tls_forget(k);
            k->ticket = d.data;
            k->ticket_len = d.size;
        }
    }
    gnutls_deinit(s);
    k->tls = NULL;
}
