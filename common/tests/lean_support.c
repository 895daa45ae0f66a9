/* The lean HTTP client tests' shared scripted server and exchange helpers (lean_support.h). */
#define _GNU_SOURCE
#include "lean_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

void lean_sleep_ms(unsigned ms)
{
    struct timespec d = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&d, NULL);
}

double lean_now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

bool lean_ssl_strings_loaded(void)
{
    /* OPENSSL_init_ssl() loads libssl's error strings; nothing else does. */
    return ERR_reason_error_string(ERR_PACK(ERR_LIB_SSL, 0, SSL_R_CERTIFICATE_VERIFY_FAILED)) !=
           NULL;
}

/* ---- the server ---- */

static ssize_t srv_read(SSL *ssl, int c, char *b, size_t n)
{
    return ssl ? SSL_read(ssl, b, (int)n) : read(c, b, n);
}

static ssize_t srv_write(SSL *ssl, int c, const char *b, size_t n)
{
    return ssl ? SSL_write(ssl, b, (int)n) : send(c, b, n, MSG_NOSIGNAL);
}

static void read_request(lean_server *s, SSL *ssl, int c)
{
    s->request_len = 0;
    s->request[0] = '\0';
    for (;;) {
        ssize_t r =
            srv_read(ssl, c, s->request + s->request_len, sizeof s->request - 1 - s->request_len);
        if (r <= 0)
            return;
        s->request_len += (size_t)r;
        s->request[s->request_len] = '\0';
        const char *end = strstr(s->request, "\r\n\r\n");
        if (!end)
            continue;
        const char *cl = strstr(s->request, "Content-Length: ");
        size_t want = cl ? (size_t)strtoul(cl + 16, NULL, 10) : 0;
        if (s->request_len >= (size_t)(end + 4 - s->request) + want ||
            s->request_len == sizeof s->request - 1)
            return;
    }
}

static void serve_one(lean_server *s, int c, int index)
{
    SSL *ssl = NULL;
    if (s->tls) {
        ssl = SSL_new(s->tls);
        SSL_set_fd(ssl, c);
        if (SSL_accept(ssl) != 1) { /* the client refused the certificate */
            SSL_free(ssl);
            ERR_clear_error();
            return;
        }
    }
    if (s->mode == LEAN_RESET) {
        /* A FIN, then a reset while the client still writes: its socket, half-closed by the
           FIN, reports the reset as EPIPE, the error that raises SIGPIPE. */
        shutdown(c, SHUT_WR);
        lean_sleep_ms(100);
        struct linger l = {1, 0};
        setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    } else {
        read_request(s, ssl, c);
        const char *const *p = s->parts[index > 0 && s->parts[1] ? 1 : 0];
        for (; p && *p; p++) {
            if (srv_write(ssl, c, *p, strlen(*p)) < 0)
                break;
            if (s->gap_ms && p[1])
                lean_sleep_ms(s->gap_ms);
        }
        /* LEAN_DRIP: a byte every 100 ms, for longer than any deadline in the tests. */
        for (int i = 0; s->mode == LEAN_DRIP && i < 100; i++) {
            if (srv_write(ssl, c, "a", 1) <= 0)
                break;
            lean_sleep_ms(100);
        }
        if (ssl)
            SSL_shutdown(ssl);
    }
    SSL_free(ssl);
    ERR_clear_error();
}

static void *serve(void *ud)
{
    lean_server *s = ud;
    /* A write to a client that has gone must not end the test: SIGPIPE is for this thread,
       blocked here, never for the client's thread. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    for (int index = 0;; index++) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            return NULL;
        int one = 1;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        s->conns++;
        serve_one(s, c, index);
        close(c);
    }
}

bool lean_server_start(lean_server *s, int family)
{
    s->fd = socket(family, SOCK_STREAM, 0);
    if (s->fd < 0)
        return false;
    struct sockaddr_storage ss = {0};
    socklen_t al;
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        al = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        al = sizeof *a;
    }
    if (bind(s->fd, (struct sockaddr *)&ss, al) != 0 || listen(s->fd, 8) != 0 ||
        getsockname(s->fd, (struct sockaddr *)&ss, &al) != 0) {
        close(s->fd);
        return false;
    }
    s->port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                       : ((struct sockaddr_in *)&ss)->sin_port);
    return pthread_create(&s->thread, NULL, serve, s) == 0;
}

void lean_server_stop(lean_server *s)
{
    shutdown(s->fd, SHUT_RDWR);
    close(s->fd);
    pthread_join(s->thread, NULL);
}

void lean_plain(lean_server *s, const char *const *reply)
{
    memset(s, 0, sizeof *s);
    s->parts[0] = reply;
    assert_true(lean_server_start(s, AF_INET));
}

const char *lean_url(const lean_server *s, const char *scheme, const char *host, const char *path)
{
    static char u[256];
    snprintf(u, sizeof u, "%s://%s:%d%s", scheme, host, s->port, path);
    return u;
}

/* ---- one exchange ---- */

static void collect(const char *line, size_t len, void *ud)
{
    char *seen = ud;
    size_t have = strlen(seen);
    if (have + len < sizeof((lean_result *)NULL)->headers) {
        memcpy(seen + have, line, len);
        seen[have + len] = '\0';
    }
}

void lean_fetch(ts_common__http_req *rq, lean_result *r)
{
    memset(r, 0, sizeof *r);
    ts_error_clear(&r->err);
    rq->on_header = collect;
    rq->header_ud = r->headers;
    rq->sent = &r->sent;
    if (!rq->max_body)
        rq->max_body = 64;
    r->st = ts_common__http(rq, &r->status, &r->body, &r->n, &r->err);
}

void lean_done(lean_result *r)
{
    free(r->body);
    r->body = NULL;
}

ts_status lean_post_into_reset(const lean_server *s, const char *scheme, const char *ca_file)
{
    size_t n = 32u << 20; /* more than any socket buffer holds: the client is still writing */
    char *body = malloc(n);
    assert_non_null(body);
    memset(body, 'x', n);
    ts_common__http_req rq = {.url = lean_url(s, scheme, "127.0.0.1", "/up"),
                              .ca_file = ca_file,
                              .body = body,
                              .body_len = n};
    lean_result r;
    lean_fetch(&rq, &r);
    lean_done(&r);
    free(body);
    return r.st;
}
