/* The lean HTTP client (ts_base_http_lean) against scripted loopback servers, plain and TLS:
   response framing (chunked, split across reads, close-delimited, 100 Continue), the bounds and
   the smuggling refusals, the deadline against a server that drips, certificate and name
   checks with a CA made at test time, redirects, no SIGPIPE, IPv6, and that a plain-http process
   never starts OpenSSL's SSL part. The contract itself is common.test_http_lean_contract.

   Built twice: against the lean client (common.test_http_lean), and with TS_TEST_HTTP_CURL
   against the libcurl one (common.test_http_lean_vs_curl), where what both clients must do is
   checked and the lean client's own parts are not (its wording of errors, its head bounds and
   refusals, "Connection: close", when OpenSSL starts). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/http_client.h"
#include "common/http_response.h"
#include "common/http_url.h"

#ifdef TS_TEST_HTTP_CURL
#define LEAN 0
#else
#define LEAN 1
#endif

/* An error message as the lean client words it (libcurl words its own). */
#define assert_lean_msg(got, want)                                                                 \
    do {                                                                                           \
        if (LEAN)                                                                                  \
            assert_string_equal(got, want);                                                        \
    } while (0)

/* ---- a scripted server: per connection, a reply in parts with a pause between them ---- */

typedef enum mode { REPLY, DRIP, RESET } mode;

typedef struct server {
    int fd;
    int port;
    pthread_t thread;
    SSL_CTX *tls; /* NULL: plain */
    mode mode;
    const char *const *parts[2]; /* the reply to the first and to the second connection */
    unsigned gap_ms;
    int conns;
    char request[16384];
    size_t request_len;
} server;

static void sleep_ms(unsigned ms)
{
    struct timespec d = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&d, NULL);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static ssize_t srv_read(SSL *ssl, int c, char *b, size_t n)
{
    return ssl ? SSL_read(ssl, b, (int)n) : read(c, b, n);
}

static ssize_t srv_write(SSL *ssl, int c, const char *b, size_t n)
{
    return ssl ? SSL_write(ssl, b, (int)n) : send(c, b, n, MSG_NOSIGNAL);
}

static void read_request(server *s, SSL *ssl, int c)
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

static void serve_one(server *s, int c, int index)
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
    if (s->mode == RESET) {
        /* A FIN, then a reset while the client still writes: its socket, half-closed by the
           FIN, reports the reset as EPIPE, the error that raises SIGPIPE. */
        shutdown(c, SHUT_WR);
        sleep_ms(100);
        struct linger l = {1, 0};
        setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    } else {
        read_request(s, ssl, c);
        const char *const *p = s->parts[index > 0 && s->parts[1] ? 1 : 0];
        for (; p && *p; p++) {
            if (srv_write(ssl, c, *p, strlen(*p)) < 0)
                break;
            if (s->gap_ms && p[1])
                sleep_ms(s->gap_ms);
        }
        /* DRIP: a byte every 100 ms, for longer than any deadline below. */
        for (int i = 0; s->mode == DRIP && i < 100; i++) {
            if (srv_write(ssl, c, "a", 1) <= 0)
                break;
            sleep_ms(100);
        }
        if (ssl)
            SSL_shutdown(ssl);
    }
    SSL_free(ssl);
    ERR_clear_error();
}

static void *serve(void *ud)
{
    server *s = ud;
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

static bool start(server *s, int family)
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

static void stop_server(server *s)
{
    shutdown(s->fd, SHUT_RDWR);
    close(s->fd);
    pthread_join(s->thread, NULL);
}

/* ---- one exchange ---- */

typedef struct result {
    ts_status st;
    long status;
    char *body;
    size_t n;
    ts_error err;
    bool sent;
    char headers[1024];
} result;

static void collect(const char *line, size_t len, void *ud)
{
    char *seen = ud;
    size_t have = strlen(seen);
    if (have + len < 1024) {
        memcpy(seen + have, line, len);
        seen[have + len] = '\0';
    }
}

static void fetch(ts_common__http_req *rq, result *r)
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

static void done(result *r)
{
    free(r->body);
    r->body = NULL;
}

static void plain(server *s, const char *const *reply)
{
    memset(s, 0, sizeof *s);
    s->parts[0] = reply;
    assert_true(start(s, AF_INET));
}

static char *url_of(const server *s, const char *scheme, const char *host, const char *path)
{
    static char u[256];
    snprintf(u, sizeof u, "%s://%s:%d%s", scheme, host, s->port, path);
    return u;
}

/* ---- OpenSSL's SSL part stays untouched while only http:// is fetched ---- */

static bool ssl_strings_loaded(void)
{
    /* OPENSSL_init_ssl() loads libssl's error strings; nothing else does. */
    return ERR_reason_error_string(ERR_PACK(ERR_LIB_SSL, 0, SSL_R_CERTIFICATE_VERIFY_FAILED)) !=
           NULL;
}

static void test_plain_never_starts_ssl(void **state)
{
    (void)state;
    if (!LEAN)
        skip(); /* libcurl's global initialisation starts it */
    static const char *const reply[] = {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", NULL};
    server s;
    plain(&s, reply);
    ts_common__http_req rq = {.url = url_of(&s, "http", "127.0.0.1", "/")};
    result r;
    assert_int_equal(ts_common__http_init(&r.err), TS_OK);
    fetch(&rq, &r);
    assert_int_equal(r.st, TS_OK);
    done(&r);
    stop_server(&s);
    assert_false(ssl_strings_loaded());
}

/* ---- framing ---- */

static void test_chunked_split(void **state)
{
    (void)state;
    /* Every part is its own write with a pause between: the client reads them apart, a chunk
       size cut in the middle and the CRLF after a chunk's data too. */
    static const char *const reply[] = {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                                        "5;name=\"va;l\"\r\nhel",
                                        "lo\r",
                                        "\n",
                                        "0",
                                        "06\r\n wor",
                                        "ld\r\n0\r\nX-Trailer: t\r\n",
                                        "\r\n",
                                        NULL};
    server s;
    plain(&s, reply);
    s.gap_ms = 30;
    ts_common__http_req rq = {.url = url_of(&s, "http", "127.0.0.1", "/c")};
    result r;
    fetch(&rq, &r);
    assert_int_equal(r.st, TS_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello world");
    assert_int_equal(r.n, 11);
    /* As libcurl shows them: status line, headers, the empty line, and trailers. */
    assert_string_equal(r.headers, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                   "X-Trailer: t\r\n");
    done(&r);
    stop_server(&s);
}

static void test_close_delimited_and_continue(void **state)
{
    (void)state;
    static const char *const reply[] = {"HTTP/1.1 100 Continue\r\n\r\n",
                                        "HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\nall ", "until close",
                                        NULL};
    server s;
    plain(&s, reply);
    s.gap_ms = 20;
    ts_common__http_req rq = {.url = url_of(&s, "http", "127.0.0.1", "/d")};
    result r;
    fetch(&rq, &r);
    assert_int_equal(r.st, TS_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "all until close");
    assert_non_null(strstr(r.headers, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"));
    done(&r);
    stop_server(&s);
}

/* What the request carries, as libcurl would send it. */
static void test_request_form(void **state)
{
    (void)state;
    static const char *const reply[] = {"HTTP/1.1 204 No Content\r\n\r\n", NULL};
    server s;
    plain(&s, reply);
    /* (The URL rule sees userinfo as a host that is not loopback.) */
    ts_common__http_req rq = {.url = url_of(&s, "http", "user%40x:p%3Aw@127.0.0.1", "/t?q=1#f"),
                              .body = "a=b",
                              .body_len = 3,
                              .allow_plain_http = true};
    result r;
    fetch(&rq, &r);
    assert_int_equal(r.st, TS_OK);
    assert_int_equal(r.status, 204);
    assert_string_equal(r.body, "");
    done(&r);
    char host[64];
    snprintf(host, sizeof host, "\r\nHost: 127.0.0.1:%d\r\n", s.port);
    assert_non_null(strstr(s.request, "POST /t?q=1 HTTP/1.1\r\n"));
    assert_non_null(strstr(s.request, host));
    assert_non_null(strstr(s.request, "\r\nUser-Agent: tokensmith\r\n"));
    if (LEAN)
        assert_non_null(strstr(s.request, "\r\nConnection: close\r\n"));
    assert_non_null(strstr(s.request, "\r\nContent-Type: application/x-www-form-urlencoded\r\n"));
    assert_non_null(strstr(s.request, "\r\nContent-Length: 3\r\n"));
    assert_non_null(strstr(s.request, "\r\n\r\na=b"));
    /* The URL's credentials, decoded: base64("user@x:p:w"). */
    assert_non_null(strstr(s.request, "\r\nAuthorization: Basic dXNlckB4OnA6dw==\r\n"));
    /* A caller's header line with a line break would smuggle a header: the lean client refuses
       it and sends nothing (libcurl sends the line as it is). */
    if (LEAN) {
        const char *bad[] = {"X-A: 1\r\nX-B: 2"};
        ts_common__http_req rq2 = {
            .url = url_of(&s, "http", "127.0.0.1", "/"), .headers = bad, .n_headers = 1};
        fetch(&rq2, &r);
        assert_int_equal(r.st, TS_EINVAL);
        assert_false(r.sent);
        ts_common__http_req rq3 = {.url = url_of(&s, "http", "127.0.0.1", "/"),
                                   .user_agent = "ua\r\nX-Evil: 1"};
        fetch(&rq3, &r);
        assert_int_equal(r.st, TS_EINVAL);
        assert_false(r.sent);
    }
    stop_server(&s);
}

/* Errors name the URL without its credentials, query or fragment. */
static void test_where_hides_credentials(void **state)
{
    (void)state;
    static const char *const reply[] = {"HTTP/1.1 200 OK\r\n\r\n0123456789abc", NULL};
    server s;
    plain(&s, reply);
    ts_common__http_req rq = {.url = url_of(&s, "http", "u:s3cret@127.0.0.1", "/x?token=abc#f"),
                              .max_body = 10,
                              .allow_plain_http = true};
    result r;
    fetch(&rq, &r);
    assert_int_equal(r.st, TS_ELIMIT);
    assert_string_equal(r.err.where, url_of(&s, "http", "127.0.0.1", "/x"));
    assert_string_equal(r.err.msg, "response body larger than 10 bytes");
    stop_server(&s);
    char w[32];
    ts_common__http_url_where("https://a:b@h.example:8443/p/q?x=1", w, sizeof w);
    assert_string_equal(w, "https://h.example:8443/p/q");
    ts_common__http_url_where("https://h.example/p/q?x=1", w, 12);
    assert_string_equal(w, "https://h.e");
}

typedef struct refusal {
    const char *reply;
    ts_status st;
    const char *msg;
} refusal;

static void test_refusals(void **state)
{
    (void)state;
    if (!LEAN)
        skip(); /* the lean parser's bounds and refusals */
    /* 220 lines of 320 bytes: the head bound is reached before the line count's. */
    static char big_head[17 + 220 * 320 + 1], big_chunk[5200], many[17 + 300 * 6 + 1];
    memcpy(big_head, "HTTP/1.1 200 OK\r\n", 17);
    for (size_t i = 0; i < 220; i++) {
        char *l = big_head + 17 + i * 320;
        memcpy(l, "X-Pad: ", 7);
        memset(l + 7, 'a', 311);
        memcpy(l + 318, "\r\n", 2);
    }
    memcpy(many, "HTTP/1.1 200 OK\r\n", 17);
    for (size_t i = 0; i < 300; i++)
        memcpy(many + 17 + i * 6, "X: 1\r\n", 6);
    snprintf(big_chunk, sizeof big_chunk,
             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;%05000d", 0);
    const refusal cases[] = {
        {big_head, TS_EIO, "fetch failed: response head larger than 65536 bytes"},
        {many, TS_EIO, "fetch failed: more than 256 header lines in a response head"},
        {big_chunk, TS_EIO, "fetch failed: a chunk-size line longer than 4096 bytes"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n01234567\r\n3\r\n890\r\n0\r\n"
         "\r\n",
         TS_ELIMIT, "JWKS body larger than 10 bytes"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n01234567890", TS_ELIMIT,
         "JWKS body larger than 10 bytes"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0"
         "\r\n\r\n",
         TS_EIO, "fetch failed: the response has both Content-Length and Transfer-Encoding"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", TS_EIO,
         "fetch failed: two different Content-Length values"},
        {"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok", TS_EIO,
         "fetch failed: a response header name has white space or a character no name has"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", TS_EIO,
         "fetch failed: Transfer-Encoding other than chunked"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", TS_EIO,
         "fetch failed: the server closed the connection 3 bytes before the body's end"},
        {"", TS_EIO, "fetch failed: the server closed the connection without a response"},
        {"SSH-2.0-OpenSSH\r\n", TS_EIO,
         "fetch failed: the response does not start with an HTTP/1.x status line"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *reply[] = {cases[i].reply, NULL};
        server s;
        plain(&s, reply);
        ts_common__http_req rq = {.url = url_of(&s, "http", "127.0.0.1", "/r"),
                                  .max_body = 10,
                                  .label = "fetch",
                                  .body_label = "JWKS body"};
        result r;
        fetch(&rq, &r);
        if (r.st != cases[i].st || strcmp(r.err.msg, cases[i].msg) != 0)
            fail_msg("case %zu: %d %s", i, r.st, r.err.msg);
        assert_null(r.body);
        stop_server(&s);
    }
}

/* A server that keeps sending, a byte at a time, never finishes within the deadline: the
   deadline is for the whole exchange, not for each read. */
static void test_drip_hits_deadline(void **state)
{
    (void)state;
    static const char *const reply[] = {"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", NULL};
    server s;
    plain(&s, reply);
    s.mode = DRIP;
    ts_common__http_req rq = {.url = url_of(&s, "http", "127.0.0.1", "/slow"),
                              .timeout_ms = 700,
                              .max_body = 2000,
                              .label = "fetch"};
    result r;
    double t0 = now_s();
    fetch(&rq, &r);
    assert_int_equal(r.st, TS_EIO);
    assert_true(now_s() - t0 < 5.0);
    assert_lean_msg(r.err.msg, "fetch failed: timed out after 700 ms");
    assert_true(r.sent);
    stop_server(&s);
}

/* A server that resets the connection while a large body is being sent: an error, not a
   SIGPIPE that would end the process. */
static void tls_server(server *s, const char *const *first, const char *const *second);
static void tls_stop(server *s);
static const char *pki_file(void);

/* A server that resets the connection while a large body is being sent, over TCP and over TLS:
   an error, not a SIGPIPE that would end the process. */
static void test_reset_is_no_sigpipe(void **state)
{
    (void)state;
    size_t n = 32u << 20;
    char *body = malloc(n);
    assert_non_null(body);
    memset(body, 'x', n);
    for (int tls = 0; tls < 2; tls++) {
        server s;
        if (tls)
            tls_server(&s, NULL, NULL);
        else
            plain(&s, NULL);
        s.mode = RESET;
        ts_common__http_req rq = {.url = url_of(&s, tls ? "https" : "http", "127.0.0.1", "/up"),
                                  .ca_file = tls ? pki_file() : NULL,
                                  .body = body,
                                  .body_len = n};
        result r;
        fetch(&rq, &r);
        assert_int_equal(r.st, TS_EIO);
        if (tls)
            tls_stop(&s);
        else
            stop_server(&s);
    }
    free(body);
}

static void test_ipv6(void **state)
{
    (void)state;
    static const char *const reply[] = {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nv6", NULL};
    server s;
    memset(&s, 0, sizeof s);
    s.parts[0] = reply;
    if (!start(&s, AF_INET6))
        skip(); /* no IPv6 loopback here */
    ts_common__http_req rq = {.url = url_of(&s, "http", "[::1]", "/six")};
    result r;
    fetch(&rq, &r);
    assert_int_equal(r.st, TS_OK);
    assert_string_equal(r.body, "v6");
    done(&r);
    char host[64];
    snprintf(host, sizeof host, "\r\nHost: [::1]:%d\r\n", s.port);
    assert_non_null(strstr(s.request, host));
    stop_server(&s);
}

/* A name whose lookup hangs: this getaddrinfo stands in for the C library's (the executable's
   definition comes first) and holds "hang.test" for 3 s, as a resolver that gets no answer
   would; every other name goes to the real one. */
int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    if (node && strcmp(node, "hang.test") == 0 && !(hints && hints->ai_flags & AI_NUMERICHOST)) {
        sleep_ms(3000);
        return EAI_AGAIN;
    }
    int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
    *(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo");
    return real(node, service, hints, res);
}

static void *raise_stop(void *ud)
{
    sleep_ms(200);
    atomic_store((atomic_bool *)ud, true);
    return NULL;
}

/* The lookup is part of making the connection: bounded by connect_timeout_ms, and the stop
   flag ends it; neither waits for the resolver. */
static void test_resolve_bound(void **state)
{
    (void)state;
    if (!LEAN)
        skip(); /* libcurl 7.88 reports the timeout but joins its resolver thread first */
    ts_common__http_req rq = {.url = "https://hang.test/x",
                              .timeout_ms = 20000,
                              .connect_timeout_ms = 300,
                              .label = "fetch"};
    result r;
    double t0 = now_s();
    fetch(&rq, &r);
    assert_int_equal(r.st, TS_EIO);
    assert_true(now_s() - t0 < 2.5); /* before the lookup's 3 s */
    assert_false(r.sent);
    assert_lean_msg(r.err.msg, "fetch failed: cannot resolve hang.test: connection timed out "
                               "after 300 ms");
    atomic_bool stop = false;
    ts_common__http_req rq2 = {
        .url = "https://hang.test/x", .timeout_ms = 20000, .stop = &stop, .label = "fetch"};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, raise_stop, &stop), 0);
    t0 = now_s();
    fetch(&rq2, &r);
    assert_int_equal(r.st, TS_EIO);
    assert_true(now_s() - t0 < 2.5);
    assert_string_equal(r.err.msg, "fetch stopped");
    pthread_join(t, NULL);
}

/* ---- TLS with a CA made here ---- */

typedef struct pki {
    EVP_PKEY *ca_key, *other_key, *leaf_key;
    X509 *ca, *other, *leaf;
    char ca_file[64], other_file[64];
} pki;

static pki P;

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                       const char *san)
{
    static long serial = 1;
    X509 *x = X509_new();
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    const char *exts[][2] = {
        {"basicConstraints", issuer ? "CA:FALSE" : "critical,CA:TRUE"},
        {"keyUsage", issuer ? "critical,digitalSignature" : "critical,keyCertSign,cRLSign"},
        {"subjectKeyIdentifier", "hash"},
        {"extendedKeyUsage", issuer ? "serverAuth" : NULL},
        {"subjectAltName", san},
    };
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        if (!exts[i][1])
            continue;
        X509_EXTENSION *e = X509V3_EXT_nconf(NULL, &ctx, exts[i][0], exts[i][1]);
        assert_non_null(e);
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    assert_true(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
    return x;
}

static void write_pem(X509 *x, char *path)
{
    strcpy(path, "/tmp/ts_http_lean_ca_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, x), 1);
    fclose(f);
}

static void make_pki(void)
{
    if (P.ca)
        return;
    P.ca_key = EVP_EC_gen("P-256");
    P.other_key = EVP_EC_gen("P-256");
    P.leaf_key = EVP_EC_gen("P-256");
    assert_true(P.ca_key && P.other_key && P.leaf_key);
    P.ca = make_cert(P.ca_key, "tokensmith test CA", NULL, NULL, NULL);
    P.other = make_cert(P.other_key, "another CA", NULL, NULL, NULL);
    P.leaf = make_cert(P.leaf_key, "127.0.0.1", P.ca, P.ca_key, "IP:127.0.0.1");
    write_pem(P.ca, P.ca_file);
    write_pem(P.other, P.other_file);
}

static const char *pki_file(void)
{
    make_pki();
    return P.ca_file;
}

static void tls_server(server *s, const char *const *first, const char *const *second)
{
    make_pki();
    memset(s, 0, sizeof *s);
    s->tls = SSL_CTX_new(TLS_server_method());
    assert_non_null(s->tls);
    assert_int_equal(SSL_CTX_use_certificate(s->tls, P.leaf), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(s->tls, P.leaf_key), 1);
    s->parts[0] = first;
    s->parts[1] = second;
    assert_true(start(s, AF_INET));
}

static void tls_stop(server *s)
{
    stop_server(s);
    SSL_CTX_free(s->tls);
}

static void test_tls(void **state)
{
    (void)state;
    static const char *const reply[] = {"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecure", NULL};
    server s;
    tls_server(&s, reply, NULL);
    ts_common__http_req rq = {
        .url = url_of(&s, "https", "127.0.0.1", "/tls"), .ca_file = P.ca_file, .label = "fetch"};
    result r;
    fetch(&rq, &r);
    assert_int_equal(r.st, TS_OK);
    assert_string_equal(r.body, "secure");
    assert_true(r.sent);
    done(&r);
    if (LEAN)
        assert_true(ssl_strings_loaded()); /* test_plain_never_starts_ssl's check can fail */
    /* Another CA: refused before anything is sent. */
    rq.ca_file = P.other_file;
    fetch(&rq, &r);
    assert_int_equal(r.st, TS_EIO);
    assert_false(r.sent);
    assert_lean_msg(r.err.msg, "fetch failed: certificate verify failed: unable to get local "
                               "issuer certificate");
    /* The right CA, but the certificate names 127.0.0.1 only: "localhost" is refused. */
    rq.ca_file = P.ca_file;
    rq.url = url_of(&s, "https", "localhost", "/tls");
    fetch(&rq, &r);
    assert_int_equal(r.st, TS_EIO);
    assert_false(r.sent);
    assert_lean_msg(r.err.msg, "fetch failed: certificate verify failed: hostname mismatch");
    /* The system's store does not know this CA. */
    rq.ca_file = NULL;
    rq.url = url_of(&s, "https", "127.0.0.1", "/tls");
    fetch(&rq, &r);
    assert_int_equal(r.st, TS_EIO);
    if (LEAN)
        assert_non_null(strstr(r.err.msg, "certificate verify failed"));
    tls_stop(&s);
}

/* Without ca_file, the lean client looks in the system's CA directory first (read lazily,
   SSL_CERT_DIR honoured), then once more with the system's CA file (SSL_CERT_FILE honoured). */
static void test_system_store(void **state)
{
    (void)state;
    if (!LEAN)
        skip(); /* libcurl reads neither variable */
    static const char *const reply[] = {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", NULL};
    server s;
    tls_server(&s, reply, NULL);
    char dir[] = "/tmp/ts_http_lean_dir_XXXXXX", hashed[128];
    assert_non_null(mkdtemp(dir));
    snprintf(hashed, sizeof hashed, "%s/%08lx.0", dir, X509_subject_name_hash(P.ca));
    FILE *f = fopen(hashed, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, P.ca), 1);
    fclose(f);
    ts_common__http_req rq = {.url = url_of(&s, "https", "127.0.0.1", "/s")};
    result r;
    /* This process's own settings, restored at the end. */
    const char *was_file = getenv("SSL_CERT_FILE"), *was_dir = getenv("SSL_CERT_DIR");
    char *old_file = was_file ? strdup(was_file) : NULL,
         *old_dir = was_dir ? strdup(was_dir) : NULL;
    unsetenv("SSL_CERT_FILE");
    /* The directory knows the CA: one connection. */
    setenv("SSL_CERT_DIR", dir, 1);
    fetch(&rq, &r);
    assert_int_equal(r.st, TS_OK);
    assert_string_equal(r.body, "ok");
    done(&r);
    assert_int_equal(s.conns, 1);
    /* Neither the directory nor the system's file knows it: the file was tried too. */
    unlink(hashed);
    fetch(&rq, &r);
    assert_int_equal(r.st, TS_EIO);
    assert_false(r.sent);
    assert_int_equal(s.conns, 3);
    /* SSL_CERT_FILE names the file that knows it. */
    setenv("SSL_CERT_FILE", P.ca_file, 1);
    fetch(&rq, &r);
    assert_int_equal(r.st, TS_OK);
    done(&r);
    assert_int_equal(s.conns, 4);
    unsetenv("SSL_CERT_FILE");
    unsetenv("SSL_CERT_DIR");
    if (old_file)
        setenv("SSL_CERT_FILE", old_file, 1);
    if (old_dir)
        setenv("SSL_CERT_DIR", old_dir, 1);
    free(old_file);
    free(old_dir);
    rmdir(dir);
    tls_stop(&s);
}

/* The connection's own bound covers the TLS handshake: a listener that never accepts (the
   kernel completes TCP, nobody answers the ClientHello) fails at connect_timeout_ms, long before
   the whole exchange's deadline, and nothing of the request was sent. */
static void test_connect_bound(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    char u[64];
    snprintf(u, sizeof u, "https://127.0.0.1:%d/x", ntohs(a.sin_port));
    ts_common__http_req rq = {.url = u,
                              .ca_file = pki_file(),
                              .timeout_ms = 30000,
                              .connect_timeout_ms = 300,
                              .label = "fetch"};
    result r;
    double t0 = now_s();
    fetch(&rq, &r);
    assert_int_equal(r.st, TS_EIO);
    assert_true(now_s() - t0 < 15.0); /* half the whole deadline: the bound was the connect's */
    assert_false(r.sent);
    assert_lean_msg(r.err.msg, "fetch failed: connection timed out after 300 ms");
    close(fd);
}

typedef struct worker {
    const char *url;
    int ok;
} worker;

static void *fetch_tls(void *ud)
{
    worker *w = ud;
    for (int i = 0; i < 3; i++) {
        ts_common__http_req rq = {.url = w->url, .ca_file = P.ca_file, .timeout_ms = 20000};
        result r;
        fetch(&rq, &r);
        if (r.st == TS_OK && strcmp(r.body, "secure") == 0)
            w->ok++;
        done(&r);
    }
    return NULL;
}

/* Exchanges on several threads at once, each with its own TLS context. */
static void test_tls_threads(void **state)
{
    (void)state;
    static const char *const reply[] = {"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecure", NULL};
    server s;
    tls_server(&s, reply, NULL);
    char u[64];
    snprintf(u, sizeof u, "https://127.0.0.1:%d/t", s.port);
    worker w[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){.url = u};
        assert_int_equal(pthread_create(&t[i], NULL, fetch_tls, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].ok, 3);
    }
    tls_stop(&s);
}

/* A relative redirect over TLS is followed to the same origin (credentials kept, the POST
   turned into a GET as libcurl does for 302); a redirect to http:// is not. */
static void test_redirects(void **state)
{
    (void)state;
    static const char *const moved[] = {
        "HTTP/1.1 302 Found\r\nLocation: final?x=1\r\nContent-Length: 0\r\n\r\n", NULL};
    static const char *const final[] = {"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nhere", NULL};
    server s;
    tls_server(&s, moved, final);
    ts_common__http_req rq = {.url = url_of(&s, "https", "127.0.0.1", "/dir/start"),
                              .ca_file = P.ca_file,
                              .user = "client",
                              .password = "s3cret",
                              .body = "a=b",
                              .body_len = 3,
                              .max_redirects = 1};
    result r;
    fetch(&rq, &r);
    assert_int_equal(r.st, TS_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "here");
    done(&r);
    assert_int_equal(s.conns, 2);
    assert_non_null(strstr(s.request, "GET /dir/final?x=1 HTTP/1.1\r\n"));
    assert_non_null(strstr(s.request, "\r\nAuthorization: Basic Y2xpZW50OnMzY3JldA==\r\n"));
    tls_stop(&s);

    static const char *const to_plain[] = {
        "HTTP/1.1 301 Moved\r\nLocation: http://127.0.0.1:1/x\r\nContent-Length: 0\r\n\r\n", NULL};
    plain(&s, to_plain);
    ts_common__http_req rq2 = {
        .url = url_of(&s, "http", "127.0.0.1", "/"), .max_redirects = 3, .label = "fetch"};
    fetch(&rq2, &r);
    assert_int_equal(r.st, TS_EIO);
    assert_lean_msg(r.err.msg, "fetch failed: a redirect to a URL that is not https://");
    assert_int_equal(s.conns, 1);
    stop_server(&s);
}

/* ---- the pure parts ---- */

static void test_url_helpers(void **state)
{
    (void)state;
    ts_common__http_url u;
    assert_true(ts_common__http_url_split("HTTPS://[::1]:8443/a?b#c", &u, NULL));
    assert_true(u.https && u.ipv6 && u.port == 8443);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.target_len, 4);
    assert_memory_equal(u.target, "/a?b", 4);
    assert_true(ts_common__http_url_split("http://h.example", &u, NULL));
    assert_int_equal(u.port, 80);
    assert_memory_equal(u.target, "/", 1);
    const char *why = NULL;
    assert_false(ts_common__http_url_split("http://h:99999/", &u, &why));
    assert_non_null(why);
    assert_false(ts_common__http_url_split("http://h x/", &u, NULL));
    assert_false(ts_common__http_url_split("http://[::1/", &u, NULL));
    assert_false(ts_common__http_url_split("http:///x", &u, NULL));
    char *r = ts_common__http_url_resolve("https://a/b/c?q", "d", 1);
    assert_string_equal(r, "https://a/b/d");
    free(r);
    r = ts_common__http_url_resolve("https://a/b/c", "/e#f", 4);
    assert_string_equal(r, "https://a/e");
    free(r);
    r = ts_common__http_url_resolve("https://a:1/b", "//z/y", 5);
    assert_string_equal(r, "https://z/y");
    free(r);
    r = ts_common__http_url_resolve("https://a", "x", 1);
    assert_string_equal(r, "https://a/x");
    free(r);
    r = ts_common__http_url_resolve("https://a/b", "HTTP://c/d", 10);
    assert_string_equal(r, "HTTP://c/d");
    free(r);
    assert_null(ts_common__http_url_resolve("https://a/b", "x y", 3));
}

/* The parser fed one byte at a time gives what it gives fed at once. */
static void test_parser_bytewise(void **state)
{
    (void)state;
    static const char resp[] = "HTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\n"
                               "HTTP/1.0 200 OK\nTransfer-Encoding: CHUNKED\n\n"
                               "3 ; x\nabc\n0\nT: 1\n\n";
    ts_common__http_resp_opts o = {.max_body = 3};
    ts_common__http_resp *p = ts_common__http_resp_new(&o);
    assert_non_null(p);
    for (size_t i = 0; i + 1 < sizeof resp; i++)
        assert_int_equal(ts_common__http_resp_feed(p, resp + i, 1), TS_OK);
    assert_true(ts_common__http_resp_done(p));
    assert_int_equal(ts_common__http_resp_status(p), 200);
    size_t n;
    char *b = ts_common__http_resp_take_body(p, &n);
    assert_string_equal(b, "abc");
    free(b);
    ts_common__http_resp_free(p);
    /* A bare CR is no line end. */
    p = ts_common__http_resp_new(&o);
    assert_int_equal(ts_common__http_resp_feed(p, "HTTP/1.1 200 OK\rX: y\r\n", 22), TS_EPARSE);
    assert_string_equal(ts_common__http_resp_why(p), "a CR not followed by LF in the response");
    ts_common__http_resp_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* First: no TLS has happened in this process yet. */
        cmocka_unit_test(test_plain_never_starts_ssl),
        cmocka_unit_test(test_chunked_split),
        cmocka_unit_test(test_close_delimited_and_continue),
        cmocka_unit_test(test_request_form),
        cmocka_unit_test(test_where_hides_credentials),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_drip_hits_deadline),
        cmocka_unit_test(test_reset_is_no_sigpipe),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_resolve_bound),
        cmocka_unit_test(test_tls),
        cmocka_unit_test(test_system_store),
        cmocka_unit_test(test_connect_bound),
        cmocka_unit_test(test_tls_threads),
        cmocka_unit_test(test_redirects),
        cmocka_unit_test(test_url_helpers),
        cmocka_unit_test(test_parser_bytewise),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (P.ca_file[0])
        unlink(P.ca_file);
    if (P.other_file[0])
        unlink(P.other_file);
    X509_free(P.ca);
    X509_free(P.other);
    X509_free(P.leaf);
    EVP_PKEY_free(P.ca_key);
    EVP_PKEY_free(P.other_key);
    EVP_PKEY_free(P.leaf_key);
    return rc;
}
