/* common/tls_conn.h: non-blocking server TLS sessions, against a real GnuTLS client over a
 * socketpair (the server's end non-blocking, driven by poll() the way an epoll server drives
 * it; the client blocking, in its own thread). Covers: the handshake steps and ALPN h2; echo;
 * records already decrypted inside the session (pending) read without the socket; a large
 * answer through a socket that fills (EAGAIN, the record kept and finished); close_notify; a
 * garbage ClientHello and plain HTTP refused; a silent client left waiting (the caller's
 * deadline cuts it); client certificates asked for, required, and checked. The certificate is
 * made in the test (ECDSA P-256, self-signed). */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include "common/tls_conn.h"
#include "tls_test_ident.h"

#define PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define BIG (1024u * 1024u)

/* impostor: named as the server (so that a client sends it when the server asks for
 * certificates of that CA) but with a key of its own. */
static ident server_id, client_id, impostor_id;
static gnutls_priority_t prio;

static int setup(void **state)
{
    (void)state;
    make_ident(&server_id, "server", 1);
    make_ident(&client_id, "client", 2);
    make_ident(&impostor_id, "server", 3);
    return gnutls_priority_init(&prio, PRIORITIES, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    ident *ids[] = {&server_id, &client_id, &impostor_id};
    for (size_t i = 0; i < 3; i++)
        free_ident(ids[i]);
    gnutls_priority_deinit(prio);
    return 0;
}

/* Credentials holding @p id (NULL: none), trusting @p trust (NULL: nothing). */
static gnutls_certificate_credentials_t creds(ident *id, ident *trust)
{
    gnutls_certificate_credentials_t c;
    assert_int_equal(gnutls_certificate_allocate_credentials(&c), 0);
    if (id)
        assert_int_equal(gnutls_certificate_set_x509_key(c, &id->crt, 1, id->key), 0);
    if (trust)
        assert_int_equal(gnutls_certificate_set_x509_trust(c, &trust->crt, 1), 1);
    return c;
}

/* ---------------------------------------------------------------------------------------- */
/* The client: a thread with a blocking GnuTLS session                                       */

typedef struct client {
    int fd;
    ident *cert; /* presented, or NULL */
    const char *alpn;
    size_t send_len; /* bytes sent as two records of half each, before reading */
    size_t read_len; /* bytes read back (then close_notify expected) */
    /* out */
    int handshake;
    size_t got;
    bool in_order;
    bool saw_close_notify;
    pthread_t th;
} client;

static void *client_main(void *arg)
{
    client *cl = arg;
    gnutls_session_t s;
    gnutls_certificate_credentials_t c = creds(cl->cert, &server_id);
    gnutls_init(&s, GNUTLS_CLIENT);
    gnutls_priority_set(s, prio);
    gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, c);
    gnutls_server_name_set(s, GNUTLS_NAME_DNS, "localhost", 9);
    gnutls_session_set_verify_cert(s, "localhost", 0);
    if (cl->alpn) {
        gnutls_datum_t p = {(unsigned char *)(uintptr_t)cl->alpn, (unsigned)strlen(cl->alpn)};
        gnutls_alpn_set_protocols(s, &p, 1, 0);
    }
    gnutls_transport_set_int(s, cl->fd);
    do {
        cl->handshake = gnutls_handshake(s);
    } while (cl->handshake < 0 && !gnutls_error_is_fatal(cl->handshake));
    if (cl->handshake == 0) {
        static unsigned char msg[BIG];
        for (size_t i = 0; i < sizeof msg; i++)
            msg[i] = (unsigned char)(i * 7);
        size_t half = cl->send_len / 2;
        if (half) {
            (void)gnutls_record_send(s, msg, half);
            (void)gnutls_record_send(s, msg + half, cl->send_len - half);
        }
        cl->in_order = true;
        unsigned char buf[16384];
        for (;;) {
            ssize_t n = gnutls_record_recv(s, buf, sizeof buf);
            if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
                continue;
            if (n <= 0) {
                cl->saw_close_notify = n == 0;
                break;
            }
            for (ssize_t i = 0; i < n; i++)
                if (buf[i] != (unsigned char)((cl->got + (size_t)i) * 7))
                    cl->in_order = false;
            cl->got += (size_t)n;
        }
    }
    gnutls_deinit(s);
    gnutls_certificate_free_credentials(c);
    return NULL;
}

/* A socketpair: the server's end (non-blocking) returned, the client started on the other. */
static int start_client(client *cl)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    /* Small buffers: a large answer fills them and the server sees EAGAIN. */
    int small = 16384;
    (void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    (void)setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
    cl->fd = sv[1];
    assert_int_equal(pthread_create(&cl->th, NULL, client_main, cl), 0);
    return sv[0];
}

static void join_client(client *cl)
{
    pthread_join(cl->th, NULL);
    close(cl->fd);
}

/* Wait (at most 5 s) for what the session asked for. */
static void wait_for(int fd, bool write)
{
    struct pollfd p = {.fd = fd, .events = write ? POLLOUT : POLLIN};
    assert_true(poll(&p, 1, 5000) == 1);
}

static ts_common__tls_conn_step handshake(ts_common__tls_conn *c, int fd)
{
    for (;;) {
        ts_common__tls_conn_step st = ts_common__tls_conn_handshake(c);
        if (st == TS_COMMON__TLS_CONN_DONE || st == TS_COMMON__TLS_CONN_FAILED)
            return st;
        assert_true(ts_common__tls_conn_wants_write(c) == (st == TS_COMMON__TLS_CONN_WANT_WRITE));
        wait_for(fd, st == TS_COMMON__TLS_CONN_WANT_WRITE);
    }
}

/* The listener's handshake counters of every server() session. */
static ts_common__tls_handshake_counters counters;

static ts_common__tls_handshake_stats counted(void)
{
    ts_common__tls_handshake_stats hs;
    ts_common__tls_handshake_counters_read(&counters, &hs);
    return hs;
}

static ts_common__tls_conn *server(int fd, gnutls_certificate_credentials_t cred, const char *alpn,
                                   ts_common__tls_client_auth auth)
{
    ts_common__tls_conn_options o = {cred, prio, alpn, auth, NULL, &counters, NULL};
    ts_error err = {0};
    ts_common__tls_conn *c = ts_common__tls_conn_new(fd, &o, &err);
    assert_non_null(c);
    return c;
}

/* Read exactly @p len bytes, waiting for the socket only when nothing is pending. */
static void read_all(ts_common__tls_conn *c, int fd, unsigned char *buf, size_t len, size_t chunk)
{
    size_t got = 0;
    while (got < len) {
        size_t want = len - got < chunk ? len - got : chunk;
        ssize_t n = ts_common__tls_conn_recv(c, buf + got, want);
        if (n < 0) {
            assert_int_equal(errno, EAGAIN);
            assert_int_equal(ts_common__tls_conn_pending(c), 0);
            wait_for(fd, ts_common__tls_conn_wants_write(c));
            continue;
        }
        assert_true(n > 0);
        got += (size_t)n;
    }
}

/* Write all of @p buf, as an epoll server does: from where it stopped, after EAGAIN the same
 * bytes again. */
static unsigned write_all(ts_common__tls_conn *c, int fd, const unsigned char *buf, size_t len)
{
    size_t sent = 0;
    unsigned again = 0;
    while (sent < len) {
        ssize_t n = ts_common__tls_conn_send(c, buf + sent, len - sent);
        if (n < 0) {
            assert_int_equal(errno, EAGAIN);
            again++;
            wait_for(fd, true);
            continue;
        }
        sent += (size_t)n;
    }
    return again;
}

static void test_echo_alpn_pending_big(void **state)
{
    (void)state;
    gnutls_certificate_credentials_t cred = creds(&server_id, NULL);
    client cl = {.alpn = "h2", .send_len = 200, .read_len = BIG};
    int fd = start_client(&cl);
    ts_common__tls_conn *c = server(fd, cred, "h2", TS_COMMON__TLS_CLIENT_NONE);
    assert_int_equal(handshake(c, fd), TS_COMMON__TLS_CONN_DONE);
    assert_true(ts_common__tls_conn_alpn_is(c, "h2"));
    assert_false(ts_common__tls_conn_alpn_is(c, "http/1.1"));
    assert_false(ts_common__tls_conn_peer_verified(c));

    /* Two records of 100 bytes; read 10 at a time: the rest of a record waits inside the
     * session, readable without the socket. */
    unsigned char in[200];
    read_all(c, fd, in, 10, 10);
    assert_int_equal(ts_common__tls_conn_pending(c), 90);
    read_all(c, fd, in + 10, 190, 10);
    for (size_t i = 0; i < sizeof in; i++)
        assert_int_equal(in[i], (unsigned char)(i * 7));

    /* 1 MiB through a 16 KiB socket buffer: EAGAIN, and every byte in order. */
    unsigned char *out = malloc(BIG);
    assert_non_null(out);
    for (size_t i = 0; i < BIG; i++)
        out[i] = (unsigned char)(i * 7);
    assert_true(write_all(c, fd, out, BIG) > 0);
    free(out);
    ts_common__tls_conn_close(c);
    ts_common__tls_conn_free(c);
    close(fd);
    join_client(&cl);
    assert_int_equal(cl.handshake, 0);
    assert_int_equal(cl.got, BIG);
    assert_true(cl.in_order);
    assert_true(cl.saw_close_notify);
    gnutls_certificate_free_credentials(cred);
}

static void test_no_alpn_still_served(void **state)
{
    (void)state;
    gnutls_certificate_credentials_t cred = creds(&server_id, NULL);
    client cl = {0};
    int fd = start_client(&cl);
    ts_common__tls_conn *c = server(fd, cred, "h2", TS_COMMON__TLS_CLIENT_NONE);
    assert_int_equal(handshake(c, fd), TS_COMMON__TLS_CONN_DONE);
    assert_false(ts_common__tls_conn_alpn_is(c, "h2"));
    ts_common__tls_conn_close(c);
    /* Counted in the listener's counters when the session is freed, not before. */
    ts_common__tls_handshake_stats before = counted();
    ts_common__tls_conn_free(c);
    ts_common__tls_handshake_stats after = counted();
    assert_int_equal(after.completed, before.completed + 1);
    assert_int_equal(after.failed, before.failed);
    assert_int_equal(after.resumed, before.resumed);
    close(fd);
    join_client(&cl);
    assert_int_equal(cl.handshake, 0);
    gnutls_certificate_free_credentials(cred);
}

/* Bytes that are no ClientHello fail the handshake at once. */
static void refused(const char *bytes, size_t len)
{
    gnutls_certificate_credentials_t cred = creds(&server_id, NULL);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
    assert_int_equal(write(sv[1], bytes, len), (ssize_t)len);
    ts_common__tls_conn *c = server(sv[0], cred, NULL, TS_COMMON__TLS_CLIENT_NONE);
    assert_int_equal(handshake(c, sv[0]), TS_COMMON__TLS_CONN_FAILED);
    ts_common__tls_handshake_stats before = counted();
    ts_common__tls_conn_free(c);
    ts_common__tls_handshake_stats after = counted();
    assert_int_equal(after.failed, before.failed + 1);
    assert_int_equal(after.completed, before.completed);
    close(sv[0]);
    close(sv[1]);
    gnutls_certificate_free_credentials(cred);
}

static void test_garbage_and_plain_http(void **state)
{
    (void)state;
    static const char http[] = "GET /check HTTP/1.1\r\nHost: x\r\n\r\n";
    refused(http, sizeof http - 1);
    /* A handshake record whose length says 16 KiB, then garbage. */
    char junk[600];
    memset(junk, 0xa5, sizeof junk);
    junk[0] = 0x16, junk[1] = 3, junk[2] = 1, junk[3] = 0x40, junk[4] = 0;
    junk[5] = 1, junk[6] = 0, junk[7] = 0x3f, junk[8] = (char)0xfb;
    /* Incomplete: the session waits for the rest, which the caller's deadline cuts. */
    gnutls_certificate_credentials_t cred = creds(&server_id, NULL);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
    assert_int_equal(write(sv[1], junk, sizeof junk), (ssize_t)sizeof junk);
    ts_common__tls_conn *c = server(sv[0], cred, NULL, TS_COMMON__TLS_CLIENT_NONE);
    assert_int_equal(ts_common__tls_conn_handshake(c), TS_COMMON__TLS_CONN_WANT_READ);
    /* The rest, garbage to the end: refused. */
    memset(junk, 0xa5, sizeof junk);
    for (size_t k = 0; k < 27; k++)
        assert_int_equal(write(sv[1], junk, sizeof junk), (ssize_t)sizeof junk);
    assert_int_equal(handshake(c, sv[0]), TS_COMMON__TLS_CONN_FAILED);
    ts_common__tls_conn_free(c);
    close(sv[0]);
    close(sv[1]);
    gnutls_certificate_free_credentials(cred);
    /* Short garbage with a record type that is not a handshake. */
    refused("\x17\x03\x03\x00\x05hello", 10);
}

static void test_silent_client_waits(void **state)
{
    (void)state;
    gnutls_certificate_credentials_t cred = creds(&server_id, NULL);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
    ts_common__tls_conn *c = server(sv[0], cred, NULL, TS_COMMON__TLS_CLIENT_NONE);
    assert_int_equal(ts_common__tls_conn_handshake(c), TS_COMMON__TLS_CONN_WANT_READ);
    assert_false(ts_common__tls_conn_wants_write(c));
    close(sv[1]); /* gone without a byte */
    assert_int_equal(handshake(c, sv[0]), TS_COMMON__TLS_CONN_FAILED);
    ts_common__tls_conn_free(c);
    close(sv[0]);
    gnutls_certificate_free_credentials(cred);
}

/* One handshake with client certificates asked for as @p auth; the server's step result. */
static ts_common__tls_conn_step with_client_auth(ts_common__tls_client_auth auth, ident *cert,
                                                 ident *trust, bool *verified)
{
    gnutls_certificate_credentials_t cred = creds(&server_id, trust);
    client cl = {.cert = cert};
    int fd = start_client(&cl);
    ts_common__tls_conn *c = server(fd, cred, NULL, auth);
    ts_common__tls_conn_step st = handshake(c, fd);
    *verified = st == TS_COMMON__TLS_CONN_DONE && ts_common__tls_conn_peer_verified(c);
    if (st == TS_COMMON__TLS_CONN_DONE)
        ts_common__tls_conn_close(c);
    ts_common__tls_conn_free(c);
    close(fd);
    join_client(&cl);
    gnutls_certificate_free_credentials(cred);
    return st;
}

static void test_client_certificates(void **state)
{
    (void)state;
    bool v;
    ts_common__tls_client_auth req = TS_COMMON__TLS_CLIENT_REQUEST;
    ts_common__tls_client_auth must = TS_COMMON__TLS_CLIENT_REQUIRE;
    /* request: none sent is served; a trusted one is verified; one the trust did not sign
     * (a certificate named as the CA, another key) refused. */
    assert_int_equal(with_client_auth(req, NULL, &client_id, &v), TS_COMMON__TLS_CONN_DONE);
    assert_false(v);
    assert_int_equal(with_client_auth(req, &client_id, &client_id, &v), TS_COMMON__TLS_CONN_DONE);
    assert_true(v);
    assert_int_equal(with_client_auth(req, &impostor_id, &server_id, &v),
                     TS_COMMON__TLS_CONN_FAILED);
    /* require: none sent is refused, as is the impostor; a trusted one served. */
    assert_int_equal(with_client_auth(must, NULL, &client_id, &v), TS_COMMON__TLS_CONN_FAILED);
    assert_int_equal(with_client_auth(must, &impostor_id, &server_id, &v),
                     TS_COMMON__TLS_CONN_FAILED);
    assert_int_equal(with_client_auth(must, &client_id, &client_id, &v), TS_COMMON__TLS_CONN_DONE);
    assert_true(v);
}

/* The server's pair for credentials that take it from a retrieve function, as the process's
 * pair is served (ts_common__tls_cert_callback). */
static gnutls_pcert_st server_pcert;
static gnutls_privkey_t server_privkey;

static int retrieve_server(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                           const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                           gnutls_pcert_st **pcert, unsigned int *pcert_length,
                           gnutls_privkey_t *privkey)
{
    (void)session, (void)req_ca_rdn, (void)nreqs, (void)pk_algos, (void)pk_algos_length;
    *pcert = &server_pcert;
    *pcert_length = 1;
    *privkey = server_privkey;
    return 0;
}

/* A session of a listener whose trust is @p trust, client certificates required; with
 * @p replace, the trust is replaced by it after the session was set up and before its
 * handshake (which must still use the CAs it started with). */
static ts_common__tls_conn_step with_trust(ts_common__tls_trust *trust, ident *cert,
                                           const char *replace, size_t replace_len)
{
    client cl = {.cert = cert};
    int fd = start_client(&cl);
    ts_common__tls_conn_options o = {NULL, prio, NULL, TS_COMMON__TLS_CLIENT_REQUIRE,
                                     NULL, NULL, trust};
    ts_error err = {0};
    ts_common__tls_conn *c = ts_common__tls_conn_new(fd, &o, &err);
    assert_non_null(c);
    if (replace) {
        bool changed = false;
        assert_int_equal(ts_common__tls_trust_replace(trust, replace, replace_len, &changed, &err),
                         TS_OK);
        assert_true(changed);
    }
    ts_common__tls_conn_step st = handshake(c, fd);
    if (st == TS_COMMON__TLS_CONN_DONE) {
        assert_true(ts_common__tls_conn_peer_verified(c));
        ts_common__tls_conn_close(c);
    }
    ts_common__tls_conn_free(c);
    close(fd);
    join_client(&cl);
    return st;
}

static void test_trust_replaced(void **state)
{
    (void)state;
    assert_int_equal(gnutls_pcert_import_x509(&server_pcert, server_id.crt, 0), 0);
    assert_int_equal(gnutls_privkey_init(&server_privkey), 0);
    assert_int_equal(gnutls_privkey_import_x509(server_privkey, server_id.key, 0), 0);
    size_t nc = 0, ns = 0;
    char *client_ca = pem_of(&client_id, &nc), *server_ca = pem_of(&server_id, &ns);
    ts_error err = {0};
    assert_null(ts_common__tls_trust_new("ca", "junk", 4, retrieve_server, &err));
    assert_int_equal(err.code, TS_EINVAL);
    ts_common__tls_trust *trust =
        ts_common__tls_trust_new("ca", client_ca, nc, retrieve_server, &err);
    assert_non_null(trust);
    assert_int_equal(ts_common__tls_trust_count(trust), 1);
    assert_int_equal(with_trust(trust, &client_id, NULL, 0), TS_COMMON__TLS_CONN_DONE);

    /* Replaced while a session is set up and not yet shaken hands: that session keeps the old
     * CAs (and their credentials stay alive for it: ASan sees any early free). */
    assert_int_equal(with_trust(trust, &client_id, server_ca, ns), TS_COMMON__TLS_CONN_DONE);
    /* From then on, the new CAs: the old client refused, one of the new CA served. */
    assert_int_equal(with_trust(trust, &client_id, NULL, 0), TS_COMMON__TLS_CONN_FAILED);
    assert_int_equal(with_trust(trust, &server_id, NULL, 0), TS_COMMON__TLS_CONN_DONE);

    /* The same bytes change nothing; a bundle without a certificate is refused, the CAs kept. */
    bool changed = true;
    assert_int_equal(ts_common__tls_trust_replace(trust, server_ca, ns, &changed, &err), TS_OK);
    assert_false(changed);
    assert_int_equal(ts_common__tls_trust_replace(trust, "junk", 4, &changed, &err), TS_EINVAL);
    assert_false(changed);
    assert_int_equal(with_trust(trust, &server_id, NULL, 0), TS_COMMON__TLS_CONN_DONE);

    /* A session may outlive the trust object: its credentials go with it. */
    client cl = {.cert = &server_id};
    int fd = start_client(&cl);
    ts_common__tls_conn_options o = {NULL, prio, NULL, TS_COMMON__TLS_CLIENT_REQUIRE,
                                     NULL, NULL, trust};
    ts_common__tls_conn *c = ts_common__tls_conn_new(fd, &o, &err);
    assert_non_null(c);
    ts_common__tls_trust_free(trust);
    assert_int_equal(handshake(c, fd), TS_COMMON__TLS_CONN_DONE);
    ts_common__tls_conn_close(c);
    ts_common__tls_conn_free(c);
    close(fd);
    join_client(&cl);

    free(client_ca);
    free(server_ca);
    gnutls_pcert_deinit(&server_pcert);
    gnutls_privkey_deinit(server_privkey);
}

static void test_no_credentials(void **state)
{
    (void)state;
    ts_common__tls_conn_options o = {0};
    /* A listener without TLS reads as zero. */
    ts_common__tls_handshake_stats none;
    ts_common__tls_handshake_counters_read(NULL, &none);
    assert_true(none.completed == 0 && none.failed == 0 && none.resumed == 0);
    ts_error err = {0};
    assert_null(ts_common__tls_conn_new(0, &o, &err));
    assert_int_equal(err.code, TS_EINVAL);
    ts_common__tls_conn_free(NULL);
    ts_common__tls_conn_close(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_alpn_pending_big),  cmocka_unit_test(test_no_alpn_still_served),
        cmocka_unit_test(test_garbage_and_plain_http), cmocka_unit_test(test_silent_client_waits),
        cmocka_unit_test(test_client_certificates),    cmocka_unit_test(test_no_credentials),
        cmocka_unit_test(test_trust_replaced),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
