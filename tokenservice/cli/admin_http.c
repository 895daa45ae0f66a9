/* The CLI's HTTP client for the service's own APIs (admin_http.h). */
#define _POSIX_C_SOURCE 200809L

#include "admin_http.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Bound the next blocking call (connect included: Linux applies SO_SNDTIMEO to it) by what is
 * left until @p deadline. @return false when nothing is left. */
static bool arm(int fd, double deadline)
{
    double left = deadline - now_s();
    if (left <= 0)
        return false;
    struct timeval tv = {(time_t)left, (suseconds_t)((left - (double)(time_t)left) * 1e6)};
    if (tv.tv_sec == 0 && tv.tv_usec == 0)
        tv.tv_usec = 1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return true;
}

static const char *why(int e)
{
    return e == EAGAIN || e == EWOULDBLOCK || e == EINPROGRESS ? "timed out" : strerror(e);
}

static int connect_unix(const char *url, double deadline, char *host, size_t hcap, char *msg,
                        size_t mcap)
{
    struct sockaddr_un un;
    memset(&un, 0, sizeof un);
    un.sun_family = AF_UNIX;
    size_t l = strlen(url + 5);
    if (l == 0 || l >= sizeof un.sun_path) {
        snprintf(msg, mcap, "bad socket path in '%s'", url);
        return -1;
    }
    memcpy(un.sun_path, url + 5, l + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || !arm(fd, deadline) ||
        connect(fd, (struct sockaddr *)&un, (socklen_t)sizeof un) != 0) {
        snprintf(msg, mcap, "%s: %s", url, why(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    snprintf(host, hcap, "localhost");
    return fd;
}

/* Connect to the listener @p url names. @return the socket, or -1 with a message. */
static int connect_to(const char *url, bool allow_unix, double deadline, char *host_hdr,
                      size_t hcap, char *name, size_t ncap, char *msg, size_t mcap)
{
    if (allow_unix && strncmp(url, "unix:", 5) == 0)
        return connect_unix(url, deadline, host_hdr, hcap, msg, mcap);
    size_t skip = strncmp(url, "http://", 7) == 0 ? 7 : strncmp(url, "https://", 8) == 0 ? 8 : 0;
    if (!skip) {
        snprintf(msg, mcap, "'%s' is not http[s]://HOST:PORT%s", url,
                 allow_unix ? " or unix:PATH" : "");
        return -1;
    }
    char hp[256];
    snprintf(hp, sizeof hp, "%s", url + skip);
    hp[strcspn(hp, "/")] = '\0';
    snprintf(host_hdr, hcap, "%s", hp);
    char host[256];
    const char *port = skip == 8 ? "443" : "80";
    if (hp[0] == '[') {
        char *rb = strchr(hp, ']');
        if (!rb || (rb[1] && rb[1] != ':')) {
            snprintf(msg, mcap, "'%s' is not http[s]://[ADDR]:PORT", url);
            return -1;
        }
        *rb = '\0';
        if (rb[1] == ':')
            port = rb + 2;
        snprintf(host, sizeof host, "%s", hp + 1);
    } else {
        char *colon = strrchr(hp, ':');
        if (colon) {
            *colon = '\0';
            port = colon + 1;
        }
        snprintf(host, sizeof host, "%s", hp);
    }
    snprintf(name, ncap, "%s", host);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(msg, mcap, "%s: %s", url, gai_strerror(rc));
        return -1;
    }
    int fd = -1, e = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (arm(fd, deadline) && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        e = errno ? errno : ETIMEDOUT;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        snprintf(msg, mcap, "%s: %s", url, why(e ? e : ECONNREFUSED));
    return fd;
}

/* One connection: the socket, and over it a TLS session for an https:// URL. */
typedef struct conn {
    int fd;
    gnutls_session_t tls;
    gnutls_certificate_credentials_t cred;
} conn;

/* The TLS errors that mean "try again" on a socket with a receive or send timeout. */
static bool tls_again(ssize_t rc)
{
    return rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED;
}

static bool send_all(conn *c, const char *p, size_t n, double deadline)
{
    while (n) {
        if (!arm(c->fd, deadline)) {
            errno = ETIMEDOUT;
            return false;
        }
        ssize_t w = c->tls ? gnutls_record_send(c->tls, p, n) : send(c->fd, p, n, MSG_NOSIGNAL);
        if ((c->tls && tls_again(w)) || (!c->tls && w < 0 && errno == EINTR))
            continue;
        if (w <= 0) {
            if (c->tls)
                errno = EPROTO;
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Up to @p n bytes; 0 at the end of the answer (a TLS close_notify, or the peer closing without
 * one once the answer was read: Connection: close), -1 on an error with @p why set. */
static ssize_t recv_some(conn *c, char *p, size_t n, const char **why_tls)
{
    if (!c->tls)
        return recv(c->fd, p, n, 0);
    ssize_t r = gnutls_record_recv(c->tls, p, n);
    if (r == GNUTLS_E_PREMATURE_TERMINATION)
        return 0;
    if (r == GNUTLS_E_AGAIN) {
        errno = EAGAIN;
        return -1;
    }
    if (r == GNUTLS_E_INTERRUPTED) {
        errno = EINTR;
        return -1;
    }
    if (r < 0) {
        *why_tls = gnutls_strerror((int)r);
        errno = EPROTO;
        return -1;
    }
    return r;
}

/*
 * TLS over the connected socket: the server's certificate must chain to the CA bundle @p ca
 * (--cacert or TOKENSMITH_CACERT: the listener's own certificate or its CA; a file of PEM
 * certificates), or else to the system's trust, and name @p host (a DNS name or an IP address SAN).
 */
static bool tls_start(conn *c, const char *url, const char *ca, const char *host, double deadline,
                      char *msg, size_t mcap)
{
    int rc = gnutls_certificate_allocate_credentials(&c->cred);
    if (rc >= 0)
        rc = ca && ca[0] ? gnutls_certificate_set_x509_trust_file(c->cred, ca, GNUTLS_X509_FMT_PEM)
                         : gnutls_certificate_set_x509_system_trust(c->cred);
    if (rc <= 0) {
        snprintf(msg, mcap, "%s: no CA certificate to verify the server with (%s%s): %s", url,
                 ca && ca[0] ? "--cacert " : "the system's trust", ca && ca[0] ? ca : "",
                 rc < 0 ? gnutls_strerror(rc) : "none found");
        return false;
    }
    rc = gnutls_init(&c->tls, GNUTLS_CLIENT);
    if (rc >= 0)
        rc = gnutls_set_default_priority(c->tls);
    if (rc >= 0)
        rc = gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, c->cred);
    if (rc < 0) {
        snprintf(msg, mcap, "%s: TLS: %s", url, gnutls_strerror(rc));
        return false;
    }
    /* SNI for a name; an address is checked against the certificate's IP SANs. */
    unsigned char addr[16];
    if (inet_pton(AF_INET, host, addr) != 1 && inet_pton(AF_INET6, host, addr) != 1)
        (void)gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, host, strlen(host));
    gnutls_session_set_verify_cert(c->tls, host, 0);
    gnutls_transport_set_int(c->tls, c->fd);
    do {
        if (!arm(c->fd, deadline)) {
            snprintf(msg, mcap, "%s: TLS handshake: timed out", url);
            return false;
        }
        rc = gnutls_handshake(c->tls);
    } while (rc < 0 && !gnutls_error_is_fatal(rc));
    if (rc < 0) {
        if (rc == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
            gnutls_datum_t d = {NULL, 0};
            unsigned st = gnutls_session_get_verify_cert_status(c->tls);
            gnutls_certificate_verification_status_print(st, GNUTLS_CRT_X509, &d, 0);
            snprintf(msg, mcap,
                     "%s: the server's certificate is not trusted (%s; set "
                     "--cacert to its CA file)",
                     url, d.data ? (const char *)d.data : "?");
            gnutls_free(d.data);
        } else {
            snprintf(msg, mcap, "%s: TLS handshake: %s", url, gnutls_strerror(rc));
        }
        return false;
    }
    return true;
}

static void conn_close(conn *c)
{
    if (c->tls) {
        (void)gnutls_bye(c->tls, GNUTLS_SHUT_WR);
        gnutls_deinit(c->tls);
    }
    if (c->cred)
        gnutls_certificate_free_credentials(c->cred);
    if (c->fd >= 0)
        close(c->fd);
}

/* Status and ETag from the head (NUL-terminated, without the blank line). */
static bool read_head(const char *head, ts_cli_http_answer *out)
{
    int status = 0;
    if (strncmp(head, "HTTP/1.", 7) != 0 || strlen(head) < 12 ||
        sscanf(head + 9, "%3d", &status) != 1 || status < 100)
        return false;
    for (const char *l = strstr(head, "\r\n"); l; l = strstr(l + 2, "\r\n"))
        if (strncasecmp(l + 2, "ETag:", 5) == 0) {
            const char *v = l + 7;
            while (*v == ' ' || *v == '"')
                v++;
            size_t k = strcspn(v, "\"\r");
            snprintf(out->etag, sizeof out->etag, "%.*s", (int)k, v);
        }
    out->status = status;
    return true;
}

void ts_cli_http_call(const ts_cli_http_request *rq, ts_cli_http_answer *out)
{
    memset(out, 0, sizeof *out);
    double deadline = now_s() + TS_CLI_HTTP_TIMEOUT_S;
    char host[300], name[256];
    conn c = {.fd = -1, .tls = NULL, .cred = NULL};
    c.fd = connect_to(rq->url, rq->allow_unix, deadline, host, sizeof host, name, sizeof name,
                      out->msg, sizeof out->msg);
    if (c.fd < 0)
        return;
    char *head = NULL, *buf = NULL;
    size_t hcap = 0;
    if (strncmp(rq->url, "https://", 8) == 0 &&
        !tls_start(&c, rq->url, rq->ca_file, name, deadline, out->msg, sizeof out->msg))
        goto done;
    size_t blen = rq->body ? strlen(rq->body) : 0;
    hcap = (rq->token ? strlen(rq->token) : 0) + strlen(rq->path) +
           (rq->if_match ? strlen(rq->if_match) : 0) + 1024;
    head = malloc(hcap);
    buf = malloc(rq->max_answer + 1);
    if (!head || !buf) {
        snprintf(out->msg, sizeof out->msg, "out of memory");
        goto done;
    }
    int hl = snprintf(head, hcap,
                      "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n%s%s%s%s%s%s%s"
                      "Content-Length: %zu\r\n\r\n",
                      rq->method, rq->path, host, rq->token ? "Authorization: Bearer " : "",
                      rq->token ? rq->token : "", rq->token ? "\r\n" : "",
                      rq->if_match ? "If-Match: \"" : "", rq->if_match ? rq->if_match : "",
                      rq->if_match ? "\"\r\n" : "",
                      rq->body ? "Content-Type: application/json\r\n" : "", blen);
    if (hl < 0 || (size_t)hl >= hcap) {
        snprintf(out->msg, sizeof out->msg, "request too long");
        goto done;
    }
    if (!send_all(&c, head, (size_t)hl, deadline) ||
        (blen && !send_all(&c, rq->body, blen, deadline))) {
        snprintf(out->msg, sizeof out->msg, "%s: send: %s", rq->url, why(errno));
        goto done;
    }
    size_t n = 0;
    while (n < rq->max_answer) {
        if (!arm(c.fd, deadline)) {
            snprintf(out->msg, sizeof out->msg, "%s: receive: timed out", rq->url);
            goto done;
        }
        const char *why_tls = NULL;
        ssize_t r = recv_some(&c, buf + n, rq->max_answer - n, &why_tls);
        /* GnuTLS also answers "again" after a TLS 1.3 post-handshake message (a session
         * ticket) that carried no data: read on; arm() ends it at the deadline. */
        if (r < 0 && (errno == EINTR || (c.tls && errno == EAGAIN)))
            continue;
        if (r < 0) {
            snprintf(out->msg, sizeof out->msg, "%s: receive: %s", rq->url,
                     why_tls ? why_tls : why(errno));
            goto done;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    char *sep = strstr(buf, "\r\n\r\n");
    if (sep)
        *sep = '\0';
    if (!sep || !read_head(buf, out)) {
        out->status = 0;
        snprintf(out->msg, sizeof out->msg, "%s: not an HTTP response", rq->url);
        goto done;
    }
    size_t bl = n - (size_t)(sep + 4 - buf);
    memmove(buf, sep + 4, bl);
    buf[bl] = '\0';
    out->body = buf;
    buf = NULL;
done:
    if (head) {
        memset(head, 0, hcap); /* it held the token */
        free(head);
    }
    free(buf);
    conn_close(&c);
}

void ts_cli_http_answer_free(ts_cli_http_answer *a)
{
    if (a) {
        free(a->body);
        a->body = NULL;
    }
}
