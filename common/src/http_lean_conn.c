/* The lean HTTP client's connections: non-blocking sockets polled in short slices (so that the
   deadline and the stop flag are seen), TLS over OpenSSL through a BIO that sends with
   MSG_NOSIGNAL (a peer's reset never raises SIGPIPE), and OpenSSL's SSL part initialised only
   when an https:// URL is fetched. */
#define _GNU_SOURCE /* SOCK_NONBLOCK, SOCK_CLOEXEC */
#include "http_lean.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* The longest a poll waits before the stop flag is looked at again. */
#define SLICE_MS 100

struct ts_common__lean_conn {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    BIO_METHOD *meth;
    long verify; /* the handshake's certificate verification result */
};

int64_t ts_common__lean_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void errtext(int e, char *buf, size_t cap)
{
    /* strerror() may share a buffer between threads; strerrordesc_np() never does. */
    const char *s = strerrordesc_np(e);
    snprintf(buf, cap, "%s", s ? s : "unknown error");
}

typedef enum wait_rc { W_READY, W_TIMEOUT, W_STOPPED, W_ERROR } wait_rc;

/* Wait for @p events on @p fd until @p deadline, looking at the stop flag every slice. */
static wait_rc wait_fd(int fd, short events, int64_t deadline, const atomic_bool *stop)
{
    for (;;) {
        if (stop && atomic_load(stop))
            return W_STOPPED;
        int64_t left = deadline - ts_common__lean_now_ms();
        if (left <= 0)
            return W_TIMEOUT;
        struct pollfd pf = {.fd = fd, .events = events};
        int r = poll(&pf, 1, (int)(left < SLICE_MS ? left : SLICE_MS));
        if (r > 0)
            return W_READY; /* POLLERR and POLLHUP too: the next call tells what happened */
        if (r < 0 && errno != EINTR)
            return W_ERROR;
    }
}

/* What the connect deadline stands for: the connection's own bound, or what is left of the
   whole exchange's when that ends first. */
static const char *connect_limit(const ts_common__lean_clock *c, char *buf, size_t cap)
{
    if (c->connect_deadline < c->deadline)
        snprintf(buf, cap, "connection timed out after %u ms", c->connect_ms);
    else
        snprintf(buf, cap, "timed out after %u ms", c->timeout_ms);
    return buf;
}

static ts_common__lean_rc waited(wait_rc w, bool connecting, const ts_common__lean_clock *c,
                                 char *why, size_t cap)
{
    if (w == W_STOPPED)
        return TS_COMMON__LEAN_STOPPED;
    if (w == W_TIMEOUT) {
        if (connecting)
            connect_limit(c, why, cap);
        else
            snprintf(why, cap, "timed out after %u ms", c->timeout_ms);
    } else {
        char e[96];
        errtext(errno, e, sizeof e);
        snprintf(why, cap, "poll failed: %s", e);
    }
    return TS_COMMON__LEAN_FAIL;
}

/* One address: a non-blocking connect, waited for within the connect deadline. */
static ts_common__lean_rc connect_one(const struct addrinfo *ai, const ts_common__lean_clock *c,
                                      int *fd_out, int *err_out)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        *err_out = errno;
        return TS_COMMON__LEAN_FAIL;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS && errno != EINTR) {
            *err_out = errno;
            close(fd);
            return TS_COMMON__LEAN_FAIL;
        }
        wait_rc w = wait_fd(fd, POLLOUT, c->connect_deadline, c->stop);
        if (w != W_READY) {
            *err_out = w == W_TIMEOUT ? ETIMEDOUT : errno;
            close(fd);
            return w == W_STOPPED ? TS_COMMON__LEAN_STOPPED : TS_COMMON__LEAN_FAIL;
        }
        int so = 0;
        socklen_t sl = sizeof so;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) != 0 || so != 0) {
            *err_out = so ? so : errno;
            close(fd);
            return TS_COMMON__LEAN_FAIL;
        }
    }
    *fd_out = fd;
    return TS_COMMON__LEAN_OK;
}

static ts_common__lean_rc tcp_connect(const ts_common__http_url *u, const ts_common__lean_clock *c,
                                      int *fd_out, char *why, size_t cap)
{
    struct addrinfo *res = NULL;
    int g, sys;
    ts_common__lean_rc rr = ts_common__lean_resolve(u->host, u->port, c, &res, &g, &sys);
    if (rr != TS_COMMON__LEAN_OK) {
        if (rr == TS_COMMON__LEAN_FAIL) {
            char e[96];
            if (g == 0)
                connect_limit(c, e, sizeof e);
            else if (g == EAI_SYSTEM)
                errtext(sys, e, sizeof e);
            else
                snprintf(e, sizeof e, "%s", gai_strerror(g));
            snprintf(why, cap, "cannot resolve %s: %s", u->host, e);
        }
        return rr;
    }
    int last = ECONNREFUSED;
    ts_common__lean_rc rc = TS_COMMON__LEAN_FAIL;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        rc = connect_one(ai, c, fd_out, &last);
        if (rc != TS_COMMON__LEAN_FAIL || last == ETIMEDOUT)
            break;
    }
    freeaddrinfo(res);
    if (rc == TS_COMMON__LEAN_FAIL) {
        if (last == ETIMEDOUT) {
            char t[64];
            snprintf(why, cap, "cannot connect to %s port %u: %s", u->host, u->port,
                     connect_limit(c, t, sizeof t));
        } else {
            char e[96];
            errtext(last, e, sizeof e);
            snprintf(why, cap, "cannot connect to %s port %u: %s", u->host, u->port, e);
        }
    }
    return rc;
}

/* ---- TLS ---- */

/* The BIO under SSL: the socket, written with MSG_NOSIGNAL. */
static int bio_write(BIO *b, const char *d, int n)
{
    int fd = (int)(intptr_t)BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t r = send(fd, d, (size_t)n, MSG_NOSIGNAL);
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            BIO_set_retry_write(b);
        return -1;
    }
    return (int)r;
}

static int bio_read(BIO *b, char *d, int n)
{
    int fd = (int)(intptr_t)BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t r = recv(fd, d, (size_t)n, 0);
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            BIO_set_retry_read(b);
        return -1;
    }
    return (int)r;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b, (void)num, (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

/* The first error on this thread's OpenSSL queue, as text; the queue is emptied. */
static void ossl_reason(char *buf, size_t cap, const char *none)
{
    unsigned long e = ERR_peek_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    if (r)
        snprintf(buf, cap, "%s", r);
    else if (e)
        ERR_error_string_n(e, buf, cap);
    else
        snprintf(buf, cap, "%s", none);
    ERR_clear_error();
}

/* "WHAT: reason" for a TLS read or write that failed: OpenSSL's reason, else errno's text
   (@p fallback when errno says nothing, as after a peer that just went away). */
static void tls_failed(const char *what, int fallback, char *why, size_t why_cap)
{
    char rs[120];
    int saved = errno;
    ossl_reason(rs, sizeof rs, "");
    if (!rs[0])
        errtext(saved ? saved : fallback, rs, sizeof rs);
    snprintf(why, why_cap, "%s: %s", what, rs);
}

/* The system's CA directory (SSL_CERT_DIR, else OpenSSL's built-in one). */
static const char *system_ca_dir(void)
{
    const char *d = secure_getenv(X509_get_default_cert_dir_env());
    return d ? d : X509_get_default_cert_dir();
}

/*
 * @p dir_only: the system's CA directory alone. OpenSSL reads from a hashed directory only the
 * certificates a chain needs, when it needs them, where the system's CA file (Debian's bundle,
 * about 140 certificates) is parsed whole into memory for every context: about 1.5 MB more at
 * every https:// exchange, in a process that must stay small. ts_common__lean_open() connects
 * again with the file too when the directory does not lead to a trusted root.
 */
static ts_common__lean_rc tls_context(ts_common__lean_conn *k, const char *ca_file, bool dir_only,
                                      char *why, size_t cap)
{
    /* OpenSSL's SSL part starts here, at the first https:// exchange, never at start-up. With
       its default options: skipping openssl.cnf or the error strings would save little (about
       0.4 MB for the strings) and would hold for the whole process, for every other user of
       OpenSSL in it too (once skipped, neither is ever loaded). */
    if (OPENSSL_init_ssl(0, NULL) != 1) {
        ossl_reason(why, cap, "OpenSSL cannot be initialised");
        return TS_COMMON__LEAN_FAIL;
    }
    k->ctx = SSL_CTX_new(TLS_client_method());
    if (!k->ctx) {
        ERR_clear_error();
        return TS_COMMON__LEAN_NOMEM;
    }
    /* TLS 1.2 at least and security level 2 at least; a stricter system policy stays. */
    long v = SSL_CTX_get_min_proto_version(k->ctx);
    if (v == 0 || v < TLS1_2_VERSION)
        SSL_CTX_set_min_proto_version(k->ctx, TLS1_2_VERSION);
    if (SSL_CTX_get_security_level(k->ctx) < 2)
        SSL_CTX_set_security_level(k->ctx, 2);
    SSL_CTX_set_verify(k->ctx, SSL_VERIFY_PEER, NULL);
    /* A server that closes without close_notify ends the body as a plain close would. */
    SSL_CTX_set_options(k->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
    if (ca_file) {
        if (SSL_CTX_load_verify_locations(k->ctx, ca_file, NULL) != 1) {
            /* OpenSSL's reason ("no certificate or crl found", or a system error) is of
               little help here: say whether the file could be read at all. */
            char r[96];
            FILE *f = fopen(ca_file, "r");
            if (!f)
                errtext(errno, r, sizeof r);
            else
                snprintf(r, sizeof r, "no PEM certificate in it");
            if (f)
                fclose(f);
            ERR_clear_error();
            snprintf(why, cap, "cannot read the CA certificates in %s: %s", ca_file, r);
            return TS_COMMON__LEAN_FAIL;
        }
    } else if (dir_only ? X509_STORE_load_path(SSL_CTX_get_cert_store(k->ctx), system_ca_dir())
                        : SSL_CTX_set_default_verify_paths(k->ctx)) {
        ERR_clear_error(); /* a missing file or directory: verification will say so */
    } else {
        char r[120];
        ossl_reason(r, sizeof r, "unknown reason");
        snprintf(why, cap, "cannot use the system's CA certificates: %s", r);
        return TS_COMMON__LEAN_FAIL;
    }
    return TS_COMMON__LEAN_OK;
}

static ts_common__lean_rc tls_handshake(ts_common__lean_conn *k, const ts_common__http_url *u,
                                        const ts_common__lean_clock *c, char *why, size_t cap)
{
    /* A fixed type rather than BIO_get_new_index(), which takes a new process-wide number at
       every call; the type only names the BIO in BIO_find_type(), which nothing here uses. */
    k->meth = BIO_meth_new(BIO_TYPE_SOURCE_SINK | 0x7f, "tokensmith socket");
    if (!k->meth || !BIO_meth_set_write(k->meth, bio_write) ||
        !BIO_meth_set_read(k->meth, bio_read) || !BIO_meth_set_ctrl(k->meth, bio_ctrl) ||
        !BIO_meth_set_create(k->meth, bio_create))
        goto nomem;
    k->ssl = SSL_new(k->ctx);
    BIO *bio = k->ssl ? BIO_new(k->meth) : NULL;
    if (!bio)
        goto nomem;
    BIO_set_data(bio, (void *)(intptr_t)k->fd);
    SSL_set_bio(k->ssl, bio, bio);
    /* The name or address the certificate must carry; SNI for names only (RFC 6066 §3). */
    unsigned char addr[16];
    if (u->ipv6 || inet_pton(AF_INET, u->host, addr) == 1) {
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(k->ssl), u->host) != 1)
            goto nomem;
    } else {
        SSL_set_hostflags(k->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        /* SSL_set_tlsext_host_name() is a macro that casts its argument to void *: a copy the
         * call may take as writable (it only copies it), so that no const is cast away. */
        char sni[sizeof u->host];
        memcpy(sni, u->host, sizeof sni);
        if (SSL_set1_host(k->ssl, u->host) != 1 || SSL_set_tlsext_host_name(k->ssl, sni) != 1)
            goto nomem;
    }
    for (;;) {
        ERR_clear_error();
        int r = SSL_connect(k->ssl);
        if (r == 1)
            return TS_COMMON__LEAN_OK;
        int e = SSL_get_error(k->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            wait_rc w = wait_fd(k->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                                c->connect_deadline, c->stop);
            if (w != W_READY)
                return waited(w, true, c, why, cap);
            continue;
        }
        long vr = k->verify = SSL_get_verify_result(k->ssl);
        if (vr != X509_V_OK) {
            ERR_clear_error();
            snprintf(why, cap, "certificate verify failed: %s", X509_verify_cert_error_string(vr));
        } else {
            char rs[120];
            int saved = errno;
            ossl_reason(rs, sizeof rs, "");
            if (!rs[0] && e == SSL_ERROR_SYSCALL && saved)
                errtext(saved, rs, sizeof rs);
            else if (!rs[0])
                snprintf(rs, sizeof rs, "the server closed the connection");
            snprintf(why, cap, "TLS handshake with %s failed: %s", u->host, rs);
        }
        return TS_COMMON__LEAN_FAIL;
    }
nomem:
    ERR_clear_error();
    return TS_COMMON__LEAN_NOMEM;
}

/* Verification failed for want of a trusted root (not for a bad name, date or signature). */
static bool unknown_root(long vr)
{
    return vr == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
           vr == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
           vr == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
           vr == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT;
}

ts_common__lean_rc ts_common__lean_open(const ts_common__http_url *u, const char *ca_file,
                                        const ts_common__lean_clock *c, ts_common__lean_conn **out,
                                        char *why, size_t why_cap)
{
    *out = NULL;
    /* Without a CA file, the system's CA directory alone first; when it knows no root for the
       server's chain, once more with the system's CA file too (SSL_CERT_FILE, else OpenSSL's
       built-in one; that alone when SSL_CERT_FILE is set). Nothing of the request was sent:
       verification comes before it. */
    bool dir_only = u->https && !ca_file && !secure_getenv(X509_get_default_cert_file_env());
    for (;;) {
        ts_common__lean_conn *k = calloc(1, sizeof *k);
        if (!k)
            return TS_COMMON__LEAN_NOMEM;
        k->fd = -1;
        ts_common__lean_rc rc = TS_COMMON__LEAN_OK;
        /* The CA certificates first: a CA file that cannot be read fails before any
           connection. */
        if (u->https)
            rc = tls_context(k, ca_file, dir_only, why, why_cap);
        if (rc == TS_COMMON__LEAN_OK)
            rc = tcp_connect(u, c, &k->fd, why, why_cap);
        if (rc == TS_COMMON__LEAN_OK && u->https)
            rc = tls_handshake(k, u, c, why, why_cap);
        if (rc == TS_COMMON__LEAN_OK) {
            *out = k;
            return rc;
        }
        bool again = rc == TS_COMMON__LEAN_FAIL && dir_only && unknown_root(k->verify);
        ts_common__lean_close(k);
        if (!again)
            return rc;
        dir_only = false;
    }
}

ts_common__lean_rc ts_common__lean_write(ts_common__lean_conn *k, const char *data, size_t len,
                                         const ts_common__lean_clock *c, bool *sent, char *why,
                                         size_t why_cap)
{
    while (len > 0) {
        size_t n = 0;
        short want = POLLOUT;
        if (k->ssl) {
            /* SSL_write_ex() answers only for whole writes, but may have put records on the
               wire before it asks to be called again: count the request as sent from the
               first try. */
            if (sent)
                *sent = true;
            ERR_clear_error();
            int r = SSL_write_ex(k->ssl, data, len, &n) == 1 ? 1 : 0;
            if (!r) {
                int e = SSL_get_error(k->ssl, 0);
                if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                    tls_failed("sending the request failed", EPIPE, why, why_cap);
                    return TS_COMMON__LEAN_FAIL;
                }
                want = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
            }
        } else {
            ssize_t r = send(k->fd, data, len, MSG_NOSIGNAL);
            if (r > 0)
                n = (size_t)r;
            else if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                char e[96];
                errtext(errno, e, sizeof e);
                snprintf(why, why_cap, "sending the request failed: %s", e);
                return TS_COMMON__LEAN_FAIL;
            }
        }
        if (n > 0) {
            if (sent)
                *sent = true;
            data += n;
            len -= n;
            continue;
        }
        wait_rc w = wait_fd(k->fd, want, c->deadline, c->stop);
        if (w != W_READY)
            return waited(w, false, c, why, why_cap);
    }
    return TS_COMMON__LEAN_OK;
}

ts_common__lean_rc ts_common__lean_read(ts_common__lean_conn *k, char *buf, size_t cap, size_t *got,
                                        const ts_common__lean_clock *c, char *why, size_t why_cap)
{
    *got = 0;
    for (;;) {
        short want = POLLIN;
        if (k->ssl) {
            ERR_clear_error();
            if (SSL_read_ex(k->ssl, buf, cap, got) == 1)
                return TS_COMMON__LEAN_OK;
            int e = SSL_get_error(k->ssl, 0);
            if (e == SSL_ERROR_ZERO_RETURN) {
                *got = 0;
                return TS_COMMON__LEAN_OK;
            }
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                tls_failed("receiving the response failed", ECONNRESET, why, why_cap);
                return TS_COMMON__LEAN_FAIL;
            }
            want = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
        } else {
            ssize_t r = recv(k->fd, buf, cap, 0);
            if (r >= 0) {
                *got = (size_t)r;
                return TS_COMMON__LEAN_OK;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                char e[96];
                errtext(errno, e, sizeof e);
                snprintf(why, why_cap, "receiving the response failed: %s", e);
                return TS_COMMON__LEAN_FAIL;
            }
        }
        wait_rc w = wait_fd(k->fd, want, c->deadline, c->stop);
        if (w != W_READY)
            return waited(w, false, c, why, why_cap);
    }
}

void ts_common__lean_close(ts_common__lean_conn *k)
{
    if (!k)
        return;
    SSL_free(k->ssl); /* frees the BIO too */
    SSL_CTX_free(k->ctx);
    BIO_meth_free(k->meth);
    if (k->fd >= 0)
        close(k->fd);
    free(k);
}
