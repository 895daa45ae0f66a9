/* gateway.test_check_httpd: the HTTP check listener's server (check_httpd.c) over raw loopback
 * sockets, with a handler that answers 200 and echoes the request target: keep-alive (several
 * requests on one connection), pipelined requests answered in order and a close among them
 * honoured, HEAD without a body, `Expect: 100-continue`, HTTP/1.0 closing by default, a bare
 * LF refused with the listener's JSON and the connection closed, a 413 before a large body
 * still readable by a client that keeps sending, a slow head cut at its deadline, and the
 * connection bound (connections over it closed at once, unanswered). */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
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

#include "check_httpd.h"

static void echo(const ts_gateway__http_head *rq, ts_gateway__httpd_answer *a, void *ud)
{
    (void)ud;
    ts_gateway__httpd_answer_start(a, 200);
    ts_gateway__httpd_answer_header(a, "X-Target", 8, rq->target.ptr, rq->target.len);
    ts_gateway__httpd_answer_end(a, "abc", 3);
}

static ts_gateway__httpd *g_s;

static void start(unsigned max_connections, unsigned deadline_ms)
{
    ts_gateway__httpd_options o = {.listen = "127.0.0.1:0",
                                   .threads = 2,
                                   .max_connections = max_connections,
                                   .max_headers = 100,
                                   .max_header_bytes = 16384,
                                   .deadline_ms = deadline_ms,
                                   .idle_ms = 30000,
                                   .body_max = 65536,
                                   .fn = echo};
    ts_error err;
    ts_error_clear(&err);
    g_s = ts_gateway__httpd_start(&o, &err);
    if (!g_s)
        fail_msg("ts_gateway__httpd_start: %s", err.msg);
}

static int setup(void **state)
{
    (void)state;
    start(64, 5000);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ts_gateway__httpd_stop(g_s);
    g_s = NULL;
    return 0;
}

/* How long to wait for something that must happen: generous, since these tests also run under
 * valgrind and beside other tests on two cores; a wait that is met returns at once. */
#define LONG_WAIT_MS 10000

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(ts_gateway__httpd_port(g_s))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static void say(int fd, const char *s)
{
    size_t n = strlen(s);
    assert_int_equal(send(fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* What a connection received: the bytes, and whether it was closed (within @p ms). */
typedef struct got {
    char b[65536];
    size_t n;
    bool closed;
} got;

/* Read until @p want answers are complete (HEAD ones counted by their head alone when
 * @p head_only), the connection closes, or @p ms pass. Returns the answers seen. */
static int hear(int fd, got *g, int want, bool head_only, int ms)
{
    memset(g, 0, sizeof *g);
    int64_t until = now_ms() + ms;
    int seen = 0;
    while (now_ms() < until) {
        seen = 0;
        for (const char *p = g->b; (p = strstr(p, "HTTP/1.1 ")) != NULL;) {
            const char *end = strstr(p, "\r\n\r\n");
            const char *cl = strstr(p, "Content-Length: ");
            bool interim = strncmp(p, "HTTP/1.1 1", 10) == 0; /* 100 Continue: a head alone */
            if (!end || (!interim && (!cl || cl > end)))
                break;
            size_t body = head_only || interim ? 0 : (size_t)strtoul(cl + 16, NULL, 10);
            if ((size_t)(end + 4 - g->b) + body > g->n)
                break;
            seen++;
            p = end + 4 + body;
        }
        if (seen >= want)
            return seen;
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 50) <= 0)
            continue;
        ssize_t r = recv(fd, g->b + g->n, sizeof g->b - 1 - g->n, 0);
        if (r <= 0) {
            g->closed = true;
            break;
        }
        g->n += (size_t)r;
        g->b[g->n] = '\0';
    }
    return seen;
}

/* Whether the peer closed @p fd within @p ms (no more bytes). */
static bool closes(int fd, int ms)
{
    got g;
    hear(fd, &g, 1000, false, ms);
    return g.closed;
}

static void test_keep_alive_and_pipelining(void **state)
{
    (void)state;
    int fd = dial();
    got g;
    say(fd, "GET /one HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(hear(fd, &g, 1, false, LONG_WAIT_MS), 1);
    assert_non_null(strstr(g.b, "X-Target: /one\r\n"));
    assert_null(strstr(g.b, "Connection: close"));
    /* three requests in one write: answered in order; the close among them is honoured and
     * what follows it is not answered */
    say(fd, "GET /two HTTP/1.1\r\nHost: a\r\n\r\nGET /three HTTP/1.1\r\nHost: a\r\n"
            "Connection: close\r\n\r\nGET /four HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(hear(fd, &g, 3, false, LONG_WAIT_MS), 2);
    assert_true(g.closed);
    char *two = strstr(g.b, "X-Target: /two"), *three = strstr(g.b, "X-Target: /three");
    assert_non_null(two);
    assert_non_null(three);
    assert_true(two < three);
    assert_non_null(strstr(three, "Connection: close\r\n"));
    assert_null(strstr(g.b, "/four"));
    close(fd);
}

static void test_head_and_http10(void **state)
{
    (void)state;
    int fd = dial();
    got g;
    say(fd, "HEAD /h HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(hear(fd, &g, 1, true, LONG_WAIT_MS), 1);
    assert_non_null(strstr(g.b, "Content-Length: 3\r\n"));
    /* no body went out: the next answer starts right after the head */
    say(fd, "GET /after HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(hear(fd, &g, 1, false, LONG_WAIT_MS), 1);
    assert_int_equal(strncmp(g.b, "HTTP/1.1 200", 12), 0);
    close(fd);
    fd = dial();
    say(fd, "GET /old HTTP/1.0\r\n\r\n");
    assert_int_equal(hear(fd, &g, 2, false, LONG_WAIT_MS), 1);
    assert_true(g.closed); /* HTTP/1.0 without keep-alive */
    close(fd);
    fd = dial();
    say(fd, "GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_int_equal(hear(fd, &g, 1, false, LONG_WAIT_MS), 1);
    assert_false(closes(fd, 200));
    close(fd);
}

static void test_expect_continue(void **state)
{
    (void)state;
    int fd = dial();
    got g;
    say(fd, "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    assert_int_equal(hear(fd, &g, 1, false, LONG_WAIT_MS), 1);
    assert_int_equal(strncmp(g.b, "HTTP/1.1 100 Continue\r\n\r\n", 25), 0);
    say(fd, "hello");
    assert_int_equal(hear(fd, &g, 1, false, LONG_WAIT_MS), 1);
    assert_int_equal(strncmp(g.b, "HTTP/1.1 200", 12), 0);
    /* a chunked body in pieces, then the next request on the same connection */
    say(fd, "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab");
    say(fd, "c\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(hear(fd, &g, 2, false, LONG_WAIT_MS), 2);
    assert_non_null(strstr(g.b, "X-Target: /next"));
    close(fd);
}

static void test_refusals_close(void **state)
{
    (void)state;
    int fd = dial();
    got g;
    say(fd, "GET /x HTTP/1.1\nHost: a\n\n");
    assert_int_equal(hear(fd, &g, 2, false, LONG_WAIT_MS), 1);
    assert_int_equal(strncmp(g.b, "HTTP/1.1 400", 12), 0);
    assert_non_null(strstr(g.b, "Connection: close\r\n"));
    assert_non_null(strstr(g.b, "Cache-Control: no-store\r\n"));
    assert_non_null(strstr(g.b, "{\"error\":\"invalid_request\""));
    assert_true(g.closed);
    close(fd);
    /* 413 before the body; the client sends it anyway and still reads the answer */
    fd = dial();
    say(fd, "POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: 200000\r\n\r\n");
    static char body[200000];
    memset(body, 'b', sizeof body);
    size_t sent = 0;
    while (sent < sizeof body) {
        ssize_t r = send(fd, body + sent, sizeof body - sent, MSG_NOSIGNAL);
        if (r <= 0)
            break;
        sent += (size_t)r;
    }
    assert_int_equal(hear(fd, &g, 2, false, LONG_WAIT_MS), 1);
    assert_int_equal(strncmp(g.b, "HTTP/1.1 413", 12), 0);
    close(fd);
    /* smuggling: CL and TE together */
    fd = dial();
    say(fd, "POST /s HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
            "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(hear(fd, &g, 2, false, LONG_WAIT_MS), 1);
    assert_int_equal(strncmp(g.b, "HTTP/1.1 400", 12), 0);
    assert_null(strstr(g.b, "smuggled"));
    assert_true(g.closed);
    close(fd);
}

static void test_slow_head_cut(void **state)
{
    (void)state;
    start(64, 1000);
    int fd = dial();
    int64_t t0 = now_ms();
    say(fd, "GET /slow HTTP/1.1\r\nHost: a\r\nX-Slow: ");
    bool closed = false;
    while (!closed && now_ms() - t0 < LONG_WAIT_MS) {
        say(fd, "a");
        closed = closes(fd, 200);
    }
    int64_t took = now_ms() - t0;
    assert_true(closed);
    assert_true(took >= 900 && took < LONG_WAIT_MS); /* the deadline is 1 s; a loaded machine */
    close(fd);
    teardown(state);
}

static void test_connection_bound(void **state)
{
    (void)state;
    start(2, 5000);
    int a = dial(), b = dial();
    got g;
    say(a, "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"); /* both are served (accepted) */
    assert_int_equal(hear(a, &g, 1, false, LONG_WAIT_MS), 1);
    say(b, "GET /b HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(hear(b, &g, 1, false, LONG_WAIT_MS), 1);
    int c = dial();
    assert_true(closes(c, LONG_WAIT_MS));
    close(c);
    close(a);
    /* once one goes, a new one is served */
    int ok = 0;
    for (int i = 0; i < 40 && !ok; i++) {
        int d = dial();
        static const char req[] = "GET /d HTTP/1.1\r\nHost: a\r\n\r\n";
        (void)send(d, req, sizeof req - 1, MSG_NOSIGNAL); /* may be refused: retried */
        ok = hear(d, &g, 1, false, 500);
        close(d);
    }
    assert_int_equal(ok, 1);
    close(b);
    teardown(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_keep_alive_and_pipelining, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_and_http10, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expect_continue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals_close, setup, teardown),
        cmocka_unit_test(test_slow_head_cut),
        cmocka_unit_test(test_connection_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
