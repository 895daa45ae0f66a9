/* The agent's own HTTP server (rt_httpd.c) over real sockets on loopback and a Unix socket, and
 * its request-head parser (rt_httpd_request.c) on its own: GET and HEAD answered with the
 * handler's answer and the server's headers, other methods 405, a request body 413, the framing
 * checks 400, an HTTP version other than 1.x 505, an oversized head 431, the path without its
 * query and percent-decoded; a slow client closed at the head deadline while another is
 * answered; an answer that reaches a client still sending its body; the per-address and total
 * caps; the write deadline; a stop with connections open;
 * SO_PEERCRED on a Unix socket through the request's fd; and no wake-up while idle. */
#define _GNU_SOURCE /* struct ucred */

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "rt_httpd.h"

#define BIG_BODY (8u * 1024u * 1024u)

/* What the handler saw last (it runs in the server's thread). */
static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static char seen_path[256];
static bool seen_head;
static int seen_family;
static unsigned handled;
static int seen_tid;

static ts_status body_of(ts_agent__answer *a, unsigned status, const char *type, const char *text)
{
    a->status = status;
    a->content_type = type;
    a->body_len = strlen(text);
    a->body = strdup(text);
    return a->body ? TS_OK : TS_ENOMEM;
}

static ts_status handler(void *ud, const ts_agent__httpd_request *rq, ts_agent__answer *a)
{
    (void)ud;
    pthread_mutex_lock(&seen_mu);
    snprintf(seen_path, sizeof seen_path, "%s", rq->path);
    seen_head = rq->head;
    seen_family = rq->peer->sa_family;
    handled++;
    seen_tid = (int)gettid();
    pthread_mutex_unlock(&seen_mu);
    if (strcmp(rq->path, "/x") == 0) {
        a->hdr_names[0] = "X-A";
        a->hdr_values[0] = strdup("1");
        a->hdr_lens[0] = 1;
        a->hdr_names[1] = "X-Bad"; /* a value that would add a header: left out */
        a->hdr_values[1] = strdup("a\r\nX-Injected: 1");
        a->hdr_lens[1] = strlen("a\r\nX-Injected: 1");
        a->n_hdrs = 2;
        return body_of(a, 200, "text/plain", "hello");
    }
    if (strcmp(rq->path, "/uid") == 0) {
        struct ucred cr;
        socklen_t len = sizeof cr;
        char text[32] = "none";
        if (getsockopt(rq->fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0)
            snprintf(text, sizeof text, "%u", (unsigned)cr.uid);
        return body_of(a, 200, "text/plain", text);
    }
    if (strcmp(rq->path, "/big") == 0) {
        a->status = 200;
        a->content_type = "application/octet-stream";
        a->body = malloc(BIG_BODY);
        if (!a->body)
            return TS_ENOMEM;
        memset(a->body, 'b', BIG_BODY);
        a->body_len = BIG_BODY;
        return TS_OK;
    }
    return ts_agent__httpd_plain(a, 404, "not_found");
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static struct sockaddr_in loopback(unsigned port)
{
    struct sockaddr_in in;
    memset(&in, 0, sizeof in);
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    in.sin_port = htons((uint16_t)port);
    return in;
}

/* A server on 127.0.0.1, port 0, with @p o's bounds. */
static ts_agent__httpd *start_tcp(ts_agent__httpd_options o, unsigned *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in in = loopback(0);
    assert_int_equal(bind(fd, (struct sockaddr *)&in, sizeof in), 0);
    assert_int_equal(listen(fd, 64), 0);
    o.handler = handler;
    ts_error err;
    ts_agent__httpd *h = ts_agent__httpd_start(fd, &o, &err);
    assert_non_null(h);
    *port = ts_agent__httpd_port(h);
    assert_true(*port > 0);
    return h;
}

/* A client connection (with a receive buffer of @p rcvbuf bytes unless 0), 5 s to read. */
static int dial_with(unsigned port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    if (rcvbuf)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in in = loopback(port);
    assert_int_equal(connect(fd, (struct sockaddr *)&in, sizeof in), 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static int dial(unsigned port)
{
    return dial_with(port, 0);
}

static void send_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t k = send(fd, s, n, MSG_NOSIGNAL);
        assert_true(k > 0);
        s += k;
        n -= (size_t)k;
    }
}

/* A request on a connection the server may already have closed (a cap): no check. */
static void send_maybe(int fd, const char *s)
{
    ssize_t k = send(fd, s, strlen(s), MSG_NOSIGNAL);
    (void)k;
}

/* Everything until the server closes (or 5 s pass: then -1). */
static long read_all(int fd, char *out, size_t cap)
{
    size_t len = 0;
    for (;;) {
        ssize_t k = recv(fd, out + len, cap - 1 - len, 0);
        if (k == 0 || (k < 0 && errno == ECONNRESET))
            break;
        if (k < 0)
            return -1;
        len += (size_t)k;
        if (len + 1 >= cap)
            break;
    }
    out[len] = '\0';
    return (long)len;
}

/* One request @p rq on a new connection; the whole answer into @p out. */
static void exchange(unsigned port, const char *rq, size_t rq_len, char *out, size_t cap)
{
    int fd = dial(port);
    send_all(fd, rq, rq_len);
    assert_true(read_all(fd, out, cap) >= 0);
    close(fd);
}

static void ask(unsigned port, const char *rq, char *out, size_t cap)
{
    exchange(port, rq, strlen(rq), out, cap);
}

static void assert_has(const char *ans, const char *want)
{
    if (!strstr(ans, want))
        fail_msg("no \"%s\" in:\n%s", want, ans);
}

static void test_get_and_head(void **state)
{
    (void)state;
    unsigned port;
    ts_agent__httpd *h = start_tcp((ts_agent__httpd_options)TS_AGENT__HTTPD_OPTIONS_INIT, &port);
    char ans[4096];
    ask(port, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n", ans, sizeof ans);
    assert_true(strncmp(ans, "HTTP/1.1 200 OK\r\n", 17) == 0);
    assert_has(ans, "\r\nContent-Type: text/plain\r\n");
    assert_has(ans, "\r\nContent-Length: 5\r\n");
    assert_has(ans, "\r\nCache-Control: no-store\r\n");
    assert_has(ans, "\r\nConnection: close\r\n");
    assert_has(ans, "\r\nX-A: 1\r\n");
    assert_null(strstr(ans, "X-Injected"));
    assert_null(strstr(ans, "X-Bad"));
    assert_non_null(strstr(ans, "\r\n\r\nhello"));
    assert_int_equal(strlen(strstr(ans, "\r\n\r\n")), 4 + 5);
    pthread_mutex_lock(&seen_mu);
    assert_false(seen_head);
    assert_int_equal(seen_family, AF_INET);
    pthread_mutex_unlock(&seen_mu);

    /* HEAD: the same head, no body; HTTP/1.0 needs no Host; a bare LF ends a line. */
    ask(port, "HEAD /x HTTP/1.0\n\n", ans, sizeof ans);
    assert_true(strncmp(ans, "HTTP/1.1 200 OK\r\n", 17) == 0);
    assert_has(ans, "\r\nContent-Length: 5\r\n");
    assert_int_equal(strlen(strstr(ans, "\r\n\r\n")), 4);
    pthread_mutex_lock(&seen_mu);
    assert_true(seen_head);
    pthread_mutex_unlock(&seen_mu);

    /* The path as libmicrohttpd handed it: without the query, percent-decoded. */
    ask(port, "GET /%78?token=1 HTTP/1.1\r\nHost: a\r\n\r\n", ans, sizeof ans);
    assert_true(strncmp(ans, "HTTP/1.1 200 OK\r\n", 17) == 0);
    pthread_mutex_lock(&seen_mu);
    assert_string_equal(seen_path, "/x");
    pthread_mutex_unlock(&seen_mu);
    ask(port, "GET /nothing HTTP/1.1\r\nHost: a\r\n\r\n", ans, sizeof ans);
    assert_true(strncmp(ans, "HTTP/1.1 404 Not Found\r\n", 24) == 0);
    assert_has(ans, "\r\n\r\n{\"error\":\"not_found\"}");
    ts_agent__httpd_stop(h);
}

static void test_refusals(void **state)
{
    (void)state;
    unsigned port;
    ts_agent__httpd *h = start_tcp((ts_agent__httpd_options)TS_AGENT__HTTPD_OPTIONS_INIT, &port);
    pthread_mutex_lock(&seen_mu);
    unsigned before = handled;
    pthread_mutex_unlock(&seen_mu);
    /* Each request, and what its answer must hold. */
    static const char *const cases[][3] = {
        /* Another method, with a body the server never reads. */
        {"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nx=1", "HTTP/1.1 405 ",
         "\r\nAllow: GET, HEAD\r\n"},
        {"PUT /x HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 405 ",
         "\r\n\r\n{\"error\":\"method_not_allowed\"}"},
        {"GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nx=1", "HTTP/1.1 413 ",
         "\r\n\r\n{\"error\":\"request_body_not_allowed\"}"},
        {"GET /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
         "HTTP/1.1 413 ", "request_body_not_allowed"},
        /* A zero Content-Length is no body. */
        {"GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 200 ", "hello"},
        /* The framing checks, in tokensmith-mhd's words. */
        {"GET /x HTTP/1.1\r\n\r\n", "HTTP/1.1 400 ",
         "{\"error\":\"invalid_request\",\"error_description\":\"HTTP/1.1 request without a Host "
         "header\"}"},
        {"GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
         "HTTP/1.1 400 ", "More than one Content-Length header"},
        {"GET /x HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\n", "HTTP/1.1 400 ",
         "White space in a header field name"},
        {"GET /x HTTP/2.0\r\nHost: a\r\n\r\n", "HTTP/1.1 505 ", "HTTP version not supported"},
        {"GET /x\r\n\r\n", "HTTP/1.1 400 ", "Malformed request line"},
        {"GET /%00x HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 400 ", "NUL byte in the path"},
    };
    char ans[4096];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ask(port, cases[i][0], ans, sizeof ans);
        if (strncmp(ans, cases[i][1], strlen(cases[i][1])) != 0)
            fail_msg("%s: got\n%s", cases[i][0], ans);
        assert_has(ans, cases[i][2]);
    }
    /* An oversized head: 431, without waiting for the rest. */
    size_t big = TS_AGENT__HTTPD_MAX_HEAD + 100;
    char *rq = malloc(big);
    assert_non_null(rq);
    memset(rq, 'a', big);
    memcpy(rq, "GET /x HTTP/1.1\r\nHost: a\r\nX-Long: ", 34);
    int fd = dial(port);
    send_all(fd, rq, big); /* no end of the head */
    assert_true(read_all(fd, ans, sizeof ans) > 0);
    close(fd);
    free(rq);
    assert_true(strncmp(ans, "HTTP/1.1 431 ", 13) == 0);
    pthread_mutex_lock(&seen_mu);
    assert_int_equal(handled, before + 1); /* only the GET with Content-Length: 0 */
    pthread_mutex_unlock(&seen_mu);
    ts_agent__httpd_stop(h);
}

/* A client still sending a body when the answer comes (405 before the body is read): the
 * server reads and drops the rest instead of closing at once, so the client's sending does not
 * end in a reset and the answer reaches it. */
static void test_answer_while_client_sends(void **state)
{
    (void)state;
    unsigned port;
    ts_agent__httpd *h = start_tcp((ts_agent__httpd_options)TS_AGENT__HTTPD_OPTIONS_INIT, &port);
    size_t body = 4u * 1024u * 1024u;
    char head[128];
    int n = snprintf(head, sizeof head,
                     "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: %zu\r\n\r\n", body);
    int fd = dial(port);
    send_all(fd, head, (size_t)n);
    char *b = calloc(1, body);
    assert_non_null(b);
    sleep_ms(100); /* the answer is written and our side of the connection shut down */
    size_t sent = 0;
    while (sent < body) {
        ssize_t k = send(fd, b + sent, body - sent, MSG_NOSIGNAL);
        if (k <= 0)
            break;
        sent += (size_t)k;
    }
    free(b);
    assert_int_equal(sent, body);
    char ans[4096];
    assert_true(read_all(fd, ans, sizeof ans) > 0);
    close(fd);
    assert_true(strncmp(ans, "HTTP/1.1 405 ", 13) == 0);
    ts_agent__httpd_stop(h);
}

/* A client that sends part of a head and then nothing is closed at the head deadline, however
 * long it would wait; another client is answered meanwhile. */
static void test_slow_client(void **state)
{
    (void)state;
    ts_agent__httpd_options o = TS_AGENT__HTTPD_OPTIONS_INIT;
    o.head_timeout_ms = 400;
    unsigned port;
    ts_agent__httpd *h = start_tcp(o, &port);
    int64_t t0 = mono_ms();
    int slow = dial(port);
    send_all(slow, "GET /x HTTP/1.1\r\nHost: a\r\nX-Slow: ", 34);
    char ans[4096];
    ask(port, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n", ans, sizeof ans);
    assert_true(strncmp(ans, "HTTP/1.1 200 ", 13) == 0);
    /* Trickle a byte every 50 ms for 2 s: it does not extend the deadline, so the server
     * closes the connection about 400 ms after the accept, long before the trickle ends. */
    int64_t closed = -1;
    for (int i = 0; i < 40 && closed < 0; i++) {
        sleep_ms(50);
        send_maybe(slow, "x");
        char c;
        ssize_t k = recv(slow, &c, 1, MSG_DONTWAIT);
        if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
            closed = mono_ms() - t0;
        else
            assert_true(k < 0); /* no answer to an unfinished head */
    }
    close(slow);
    assert_true(closed >= 350);
    assert_true(closed < 1500);
    ts_agent__httpd_stop(h);
}

/* With @p n connections open (each with part of a head), one more is closed at once without
 * an answer; once they close, a new one is served. */
static void cap_holds(ts_agent__httpd_options o, int n)
{
    unsigned port;
    ts_agent__httpd *h = start_tcp(o, &port);
    int held[8];
    for (int i = 0; i < n; i++) {
        held[i] = dial(port);
        send_all(held[i], "GET /x HTTP/1.1\r\n", 17);
    }
    sleep_ms(100); /* the server has accepted them */
    char ans[4096];
    int fd = dial(port);
    send_maybe(fd, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(read_all(fd, ans, sizeof ans), 0);
    close(fd);
    for (int i = 0; i < n; i++)
        close(held[i]);
    sleep_ms(100);
    ask(port, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n", ans, sizeof ans);
    assert_true(strncmp(ans, "HTTP/1.1 200 ", 13) == 0);
    ts_agent__httpd_stop(h);
}

/* max_per_address, then max_connections. */
static void test_caps(void **state)
{
    (void)state;
    ts_agent__httpd_options o = TS_AGENT__HTTPD_OPTIONS_INIT;
    o.max_per_address = 3;
    cap_holds(o, 3);
    o = (ts_agent__httpd_options)TS_AGENT__HTTPD_OPTIONS_INIT;
    o.max_connections = 2;
    cap_holds(o, 2);
}

/* A client that does not read a large answer is closed at the write deadline. */
static void test_write_deadline(void **state)
{
    (void)state;
    ts_agent__httpd_options o = TS_AGENT__HTTPD_OPTIONS_INIT;
    o.write_timeout_ms = 300;
    unsigned port;
    ts_agent__httpd *h = start_tcp(o, &port);
    int fd = dial_with(port, 4096);
    send_all(fd, "GET /big HTTP/1.1\r\nHost: a\r\n\r\n", 30);
    sleep_ms(1000); /* not reading: the server's send buffer fills, the deadline passes */
    size_t total = 0;
    char chunk[65536];
    ssize_t k;
    while ((k = recv(fd, chunk, sizeof chunk, 0)) > 0)
        total += (size_t)k;
    close(fd);
    assert_true(k == 0 || (k < 0 && errno == ECONNRESET)); /* closed, not timed out here */
    assert_true(total < BIG_BODY);
    ts_agent__httpd_stop(h);
}

/* Stop with connections open: it returns, and each client sees its connection closed. */
static void test_stop_with_connections(void **state)
{
    (void)state;
    unsigned port;
    ts_agent__httpd *h = start_tcp((ts_agent__httpd_options)TS_AGENT__HTTPD_OPTIONS_INIT, &port);
    int fds[5];
    for (int i = 0; i < 5; i++) {
        fds[i] = dial(port);
        send_all(fds[i], "GET /x HT", 9);
    }
    sleep_ms(100);
    int64_t t0 = mono_ms();
    ts_agent__httpd_stop(h);
    assert_true(mono_ms() - t0 < 1000);
    char ans[256];
    for (int i = 0; i < 5; i++) {
        assert_int_equal(read_all(fds[i], ans, sizeof ans), 0);
        close(fds[i]);
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in in = loopback(port);
    assert_int_not_equal(connect(fd, (struct sockaddr *)&in, sizeof in), 0); /* not listening */
    close(fd);
}

/* A Unix socket: the handler reads the peer's credentials through the request's fd. */
static void test_unix_peer(void **state)
{
    (void)state;
    char dir[] = "/tmp/ts_httpd_XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct sockaddr_un un;
    memset(&un, 0, sizeof un);
    un.sun_family = AF_UNIX;
    snprintf(un.sun_path, sizeof un.sun_path, "%s/s.sock", dir);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&un, sizeof un), 0);
    assert_int_equal(listen(lfd, 8), 0);
    ts_agent__httpd_options o = TS_AGENT__HTTPD_OPTIONS_INIT;
    o.handler = handler;
    ts_error err;
    ts_agent__httpd *h = ts_agent__httpd_start(lfd, &o, &err);
    assert_non_null(h);
    assert_int_equal(ts_agent__httpd_port(h), 0);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&un, sizeof un), 0);
    const char *rq = "GET /uid HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, rq, strlen(rq));
    char ans[1024];
    assert_true(read_all(fd, ans, sizeof ans) > 0);
    close(fd);
    char want[32];
    snprintf(want, sizeof want, "\r\n\r\n%u", (unsigned)getuid());
    assert_has(ans, want);
    pthread_mutex_lock(&seen_mu);
    assert_int_equal(seen_family, AF_UNIX);
    pthread_mutex_unlock(&seen_mu);
    ts_agent__httpd_stop(h);
    unlink(un.sun_path);
    rmdir(dir);
}

/* The context switches of thread @p tid of this process so far. */
static long switches(int tid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/status", tid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    long total = 0, v;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "voluntary_ctxt_switches: %ld", &v) == 1 ||
            sscanf(line, "nonvoluntary_ctxt_switches: %ld", &v) == 1)
            total += v;
    fclose(f);
    return total;
}

/* Idle after a connection, the server's thread sleeps: it is not woken once in 1.5 s. */
static void test_idle_never_wakes(void **state)
{
    (void)state;
    unsigned port;
    ts_agent__httpd *h = start_tcp((ts_agent__httpd_options)TS_AGENT__HTTPD_OPTIONS_INIT, &port);
    char ans[1024];
    ask(port, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n", ans, sizeof ans);
    sleep_ms(200); /* the connection's linger ends with the client's close */
    pthread_mutex_lock(&seen_mu);
    int tid = seen_tid; /* the handler runs in the server's thread */
    pthread_mutex_unlock(&seen_mu);
    long before = switches(tid);
    sleep_ms(1500);
    assert_int_equal(switches(tid), before);
    ts_agent__httpd_stop(h);
}

/* The parser on its own. */
static void head_is(const char *rq, unsigned status, const char *description)
{
    ts_agent__httpd_head hd;
    ts_agent__httpd_parse_head(rq, strlen(rq), &hd);
    if (hd.status != status)
        fail_msg("%s: status %u, want %u (%s)", rq, hd.status, status,
                 hd.description ? hd.description : "");
    if (description)
        assert_string_equal(hd.description, description);
}

static void test_parser(void **state)
{
    (void)state;
    ts_agent__httpd_head hd;
    const char *rq = "\r\nGET /a/b?q=1 HTTP/1.1\r\nHost: h\r\nX: y \r\n\r\n";
    ts_agent__httpd_parse_head(rq, strlen(rq), &hd);
    assert_int_equal(hd.status, 0);
    assert_int_equal(hd.minor, 1);
    assert_false(hd.head);
    assert_int_equal(hd.path_len, 4);
    assert_memory_equal(rq + hd.path_off, "/a/b", 4);
    head_is("GET / HTTP/1.9\r\nHost: h\r\n\r\n", 0, NULL);
    head_is("get / HTTP/1.1\r\nHost: h\r\n\r\n", 405, NULL);
    head_is("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "Malformed request line");
    head_is("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400, "Malformed request line");
    head_is("GET / HTTP/0.9\r\n\r\n", 505, NULL);
    head_is("GET / HTTP/1.1\rHost: h\r\n\r\n", 400, "Bare CR in the request head");
    head_is("GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", 400, "Folded header line");
    head_is("GET / HTTP/1.1\r\nHost\r\n\r\n", 400, "Header line without a colon");
    head_is("GET / HTTP/1.1\r\nHost: h\x01\r\n\r\n", 400, "Control character in a header value");
    head_is("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5x\r\n\r\n", 400, "Bad Content-Length");
    head_is("GET / HTTP/1.1\r\nHost: h\r\nHost: i\r\n\r\n", 400, "More than one Host header");
    head_is("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400,
            "Unsupported Transfer-Encoding (only chunked is accepted)");
    head_is("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n",
            400, "Transfer-Encoding together with Content-Length");
    head_is("GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
            "Transfer-Encoding in a request older than HTTP/1.1");
    head_is("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 000\r\n\r\n", 0, NULL);
    head_is("HEAD / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\n", 413, NULL);
    head_is("GET / HTTP/1.1\r\nHost: h\r\n", 400, "Incomplete request head");

    /* The end of a head, found the same a byte at a time as at once. */
    const char *two = "\r\n\nGET / HTTP/1.0\r\nA: b\n\r\nrest";
    ts_agent__httpd_scan s = TS_AGENT__HTTPD_SCAN_INIT;
    size_t at_once = ts_agent__httpd_scan_head(&s, two, strlen(two));
    assert_int_equal(at_once, strlen(two) - 4);
    s = (ts_agent__httpd_scan)TS_AGENT__HTTPD_SCAN_INIT;
    size_t end = 0;
    for (size_t i = 1; i <= strlen(two) && !end; i++)
        end = ts_agent__httpd_scan_head(&s, two, i);
    assert_int_equal(end, at_once);

    char out[32];
    assert_int_equal(ts_agent__httpd_decode_path("/a%2Fb%zz%4", 11, out), 9);
    assert_string_equal(out, "/a/b%zz%4");
    assert_int_equal(ts_agent__httpd_decode_path("/a%00", 5, out), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parser),         cmocka_unit_test(test_get_and_head),
        cmocka_unit_test(test_refusals),       cmocka_unit_test(test_answer_while_client_sends),
        cmocka_unit_test(test_slow_client),    cmocka_unit_test(test_caps),
        cmocka_unit_test(test_write_deadline), cmocka_unit_test(test_stop_with_connections),
        cmocka_unit_test(test_unix_peer),      cmocka_unit_test(test_idle_never_wakes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
