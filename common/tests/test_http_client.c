/* common/http_client.h against a scripted loopback server: body cap, deadline, no redirects,
   the URL rule, headers both ways, POST with Basic credentials, stopping from another thread. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/http_client.h"

/* One connection at a time: read the request, answer with `reply` (or nothing while `silent`). */
typedef struct server {
    int fd;
    int port;
    pthread_t thread;
    const char *reply;
    size_t reply_len;
    bool silent;
    char request[8192];
    size_t request_len;
} server;

static void *serve(void *ud)
{
    server *s = ud;
    for (;;) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            return NULL;
        s->request_len = 0;
        /* The head, then the body its Content-Length announces. */
        for (;;) {
            ssize_t r =
                read(c, s->request + s->request_len, sizeof s->request - 1 - s->request_len);
            if (r <= 0)
                break;
            s->request_len += (size_t)r;
            s->request[s->request_len] = '\0';
            const char *end = strstr(s->request, "\r\n\r\n");
            if (!end)
                continue;
            const char *cl = strstr(s->request, "Content-Length: ");
            size_t want = cl ? (size_t)strtoul(cl + 16, NULL, 10) : 0;
            if (s->request_len >= (size_t)(end + 4 - s->request) + want)
                break;
        }
        if (s->silent) {
            /* Hold the connection until the client gives up. */
            char sink[64];
            while (read(c, sink, sizeof sink) > 0)
                ;
        } else if (write(c, s->reply, s->reply_len) < 0) {
            /* the client may have gone already */
        }
        close(c);
    }
}

static server srv;

static int setup(void **state)
{
    (void)state;
    srv.fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (srv.fd < 0 || bind(srv.fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(srv.fd, 8) != 0 || getsockname(srv.fd, (struct sockaddr *)&a, &al) != 0)
        return -1;
    srv.port = ntohs(a.sin_port);
    return pthread_create(&srv.thread, NULL, serve, &srv);
}

static int teardown(void **state)
{
    (void)state;
    shutdown(srv.fd, SHUT_RDWR);
    close(srv.fd);
    pthread_join(srv.thread, NULL);
    return 0;
}

static void answer(const char *reply)
{
    srv.reply = reply;
    srv.reply_len = strlen(reply);
    srv.silent = false;
}

static void url(char *out, size_t cap, const char *path)
{
    snprintf(out, cap, "http://127.0.0.1:%d%s", srv.port, path);
}

static void test_get(void **state)
{
    (void)state;
    answer("HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\n{\"a\":1}");
    char u[64];
    url(u, sizeof u, "/doc");
    const char *hdrs[] = {"Accept: application/json"};
    ts_common__http_req rq = {
        .url = u, .headers = hdrs, .n_headers = 1, .user_agent = "ts-test", .max_body = 64};
    long status = 0;
    char *body = NULL;
    size_t n = 0;
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_common__http(&rq, &status, &body, &n, &err), TS_OK);
    assert_int_equal(status, 200);
    assert_int_equal(n, 7);
    assert_string_equal(body, "{\"a\":1}");
    free(body);
    assert_non_null(strstr(srv.request, "GET /doc HTTP/1.1\r\n"));
    assert_non_null(strstr(srv.request, "\r\nAccept: application/json\r\n"));
    assert_non_null(strstr(srv.request, "\r\nUser-Agent: ts-test\r\n"));
    /* Any status completes the exchange; an empty body is "" rather than NULL. */
    answer("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assert_int_equal(ts_common__http(&rq, &status, &body, &n, &err), TS_OK);
    assert_int_equal(status, 404);
    assert_int_equal(n, 0);
    assert_string_equal(body, "");
    free(body);
}

static void test_body_cap(void **state)
{
    (void)state;
    char u[64];
    url(u, sizeof u, "/big");
    long status;
    char *body = (char *)u;
    size_t n;
    ts_error err;
    /* Announced by Content-Length, and (the case libcurl does not cover) not announced. */
    const char *replies[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 20\r\nConnection: close\r\n\r\n01234567890123456789",
        "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n01234567890123456789"};
    for (size_t i = 0; i < 2; i++) {
        answer(replies[i]);
        ts_common__http_req rq = {.url = u, .max_body = 10, .body_label = "JWKS body"};
        ts_error_clear(&err);
        assert_int_equal(ts_common__http(&rq, &status, &body, &n, &err), TS_ELIMIT);
        assert_null(body);
        assert_string_equal(err.where, u);
        assert_string_equal(err.msg, "JWKS body larger than 10 bytes");
    }
    /* Exactly the cap is accepted. */
    ts_common__http_req rq = {.url = u, .max_body = 20};
    assert_int_equal(ts_common__http(&rq, &status, &body, &n, NULL), TS_OK);
    assert_int_equal(n, 20);
    free(body);
}

/* Errors name the URL without its credentials or query: the user's password and a token in the
   query must not reach a log through err.where. */
static void test_where_hides_credentials(void **state)
{
    (void)state;
    answer("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n0123456789abc");
    char u[96], where[64];
    snprintf(u, sizeof u, "http://u:s3cret@127.0.0.1:%d/x?token=abc", srv.port);
    url(where, sizeof where, "/x");
    /* (The URL rule sees userinfo as a host that is not loopback.) */
    ts_common__http_req rq = {.url = u, .max_body = 10, .allow_plain_http = true};
    long status;
    char *body;
    size_t n;
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_common__http(&rq, &status, &body, &n, &err), TS_ELIMIT);
    assert_string_equal(err.where, where);
}

static void test_no_redirect(void **state)
{
    (void)state;
    answer("HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/elsewhere\r\nContent-Length: "
           "0\r\nConnection: close\r\n\r\n");
    char u[64];
    url(u, sizeof u, "/moved");
    ts_common__http_req rq = {.url = u, .max_body = 10};
    long status;
    char *body;
    size_t n;
    assert_int_equal(ts_common__http(&rq, &status, &body, &n, NULL), TS_OK);
    assert_int_equal(status, 302);
    free(body);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void test_deadline(void **state)
{
    (void)state;
    srv.silent = true;
    char u[64];
    url(u, sizeof u, "/slow");
    ts_common__http_req rq = {.url = u, .max_body = 10, .timeout_ms = 300, .label = "fetch"};
    long status;
    char *body;
    size_t n;
    ts_error err;
    ts_error_clear(&err);
    double t0 = now_s();
    assert_int_equal(ts_common__http(&rq, &status, &body, &n, &err), TS_EIO);
    /* Generous: the bound is the behaviour, not the speed. */
    assert_true(now_s() - t0 < 5.0);
    assert_string_equal(err.where, u);
    assert_non_null(strstr(err.msg, "fetch failed: "));
    srv.silent = false;
}

static void *raise_stop(void *ud)
{
    struct timespec d = {0, 200 * 1000 * 1000};
    nanosleep(&d, NULL);
    atomic_store((atomic_bool *)ud, true);
    return NULL;
}

static void test_stop(void **state)
{
    (void)state;
    srv.silent = true;
    char u[64];
    url(u, sizeof u, "/held");
    atomic_bool stop = false;
    ts_common__http_req rq = {
        .url = u, .max_body = 10, .timeout_ms = 20000, .stop = &stop, .label = "fetch"};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, raise_stop, &stop), 0);
    long status;
    char *body;
    size_t n;
    ts_error err;
    ts_error_clear(&err);
    double t0 = now_s();
    assert_int_equal(ts_common__http(&rq, &status, &body, &n, &err), TS_EIO);
    assert_true(now_s() - t0 < 10.0); /* long before the 20 s deadline */
    assert_string_equal(err.msg, "fetch stopped");
    pthread_join(t, NULL);
    srv.silent = false;
}

static void test_url_rule(void **state)
{
    (void)state;
    assert_true(ts_common__http_url_allowed("https://idp.example/x", false));
    assert_true(ts_common__http_url_allowed("HTTPS://idp.example", false));
    assert_true(ts_common__http_url_allowed("http://127.0.0.1:8080/x", false));
    assert_true(ts_common__http_url_allowed("http://localhost/x", false));
    assert_true(ts_common__http_url_allowed("http://[::1]:9/x", false));
    assert_false(ts_common__http_url_allowed("http://localhost.example/x", false));
    assert_false(ts_common__http_url_allowed("http://127.0.0.10/x", false));
    assert_false(ts_common__http_url_allowed("http://idp.example/x", false));
    assert_true(ts_common__http_url_allowed("http://idp.example/x", true));
    assert_false(ts_common__http_url_allowed("https://", false));
    assert_false(ts_common__http_url_allowed("https:///x", true));
    assert_false(ts_common__http_url_allowed("ftp://idp.example/x", true));
    assert_false(ts_common__http_url_allowed("file:///etc/passwd", true));
    assert_false(ts_common__http_url_allowed(NULL, true));
    /* The exchange itself applies the rule: nothing is sent. */
    ts_common__http_req rq = {.url = "http://idp.example/x", .max_body = 10};
    long status;
    char *body;
    size_t n;
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_common__http(&rq, &status, &body, &n, &err), TS_EINVAL);
    assert_string_equal(err.msg, "URL must be https:// (http:// only on loopback)");
    assert_string_equal(err.where, "http://idp.example/x");
}

static void test_post_basic(void **state)
{
    (void)state;
    answer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
    char u[64];
    url(u, sizeof u, "/introspect");
    const char *hdrs[] = {"Content-Type: application/x-www-form-urlencoded"};
    ts_common__http_req rq = {.url = u,
                              .headers = hdrs,
                              .n_headers = 1,
                              .body = "token=abc",
                              .body_len = 9,
                              .user = "client",
                              .password = "s3cret",
                              .max_body = 10};
    long status;
    char *body;
    size_t n;
    assert_int_equal(ts_common__http(&rq, &status, &body, &n, NULL), TS_OK);
    free(body);
    assert_non_null(strstr(srv.request, "POST /introspect HTTP/1.1\r\n"));
    /* base64("client:s3cret") */
    assert_non_null(strstr(srv.request, "\r\nAuthorization: Basic Y2xpZW50OnMzY3JldA==\r\n"));
    assert_non_null(strstr(srv.request, "\r\nContent-Type: application/x-www-form-urlencoded\r\n"));
    assert_non_null(strstr(srv.request, "\r\n\r\ntoken=abc"));
}

static void collect(const char *line, size_t len, void *ud)
{
    char *seen = ud;
    size_t have = strlen(seen);
    if (have + len < 256) {
        memcpy(seen + have, line, len);
        seen[have + len] = '\0';
    }
}

static void test_response_headers(void **state)
{
    (void)state;
    answer("HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 2\r\nConnection: "
           "close\r\n\r\n{}");
    char u[64];
    url(u, sizeof u, "/jwks");
    char seen[256] = "";
    ts_common__http_req rq = {.url = u, .max_body = 10, .on_header = collect, .header_ud = seen};
    long status;
    char *body;
    size_t n;
    assert_int_equal(ts_common__http(&rq, &status, &body, &n, NULL), TS_OK);
    free(body);
    assert_non_null(strstr(seen, "Cache-Control: max-age=60\r\n"));
}

/* Whether the request reached a connection: what a client needs to know before it may present
   a one-time credential again. */
static void test_sent(void **state)
{
    (void)state;
    char u[64];
    url(u, sizeof u, "/token");
    long status;
    char *body;
    size_t n;
    bool sent = true;
    /* Answered: sent. */
    answer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
    ts_common__http_req rq = {
        .url = u, .body = "a=b", .body_len = 3, .max_body = 10, .sent = &sent};
    assert_int_equal(ts_common__http(&rq, &status, &body, &n, NULL), TS_OK);
    free(body);
    assert_true(sent);
    /* Sent, then no answer before the deadline: sent all the same. */
    srv.silent = true;
    sent = false;
    rq.timeout_ms = 300;
    assert_int_equal(ts_common__http(&rq, &status, &body, &n, NULL), TS_EIO);
    assert_true(sent);
    srv.silent = false;
    /* Nobody listening: never sent. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    char closed[64];
    snprintf(closed, sizeof closed, "http://127.0.0.1:%d/token", ntohs(a.sin_port));
    close(fd); /* bound, never listening, now free: connection refused */
    rq.url = closed;
    sent = true;
    assert_int_equal(ts_common__http(&rq, &status, &body, &n, NULL), TS_EIO);
    assert_false(sent);
    /* Refused by the URL rule: never sent. */
    rq.url = "http://idp.example/x";
    sent = true;
    assert_int_equal(ts_common__http(&rq, &status, &body, &n, NULL), TS_EINVAL);
    assert_false(sent);
}

/* The CA file is the one https:// servers are verified against: one that cannot be read fails
   the exchange once connected, before anything is sent, rather than falling back to the system's
   store. The listener never accepts: the kernel completes the TCP handshake on its own. */
static void test_ca_file(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    char u[64];
    snprintf(u, sizeof u, "https://127.0.0.1:%d/token", ntohs(a.sin_port));
    bool sent = true;
    ts_common__http_req rq = {.url = u,
                              .max_body = 10,
                              .timeout_ms = 2000,
                              .ca_file = "/nonexistent/ca.pem",
                              .sent = &sent};
    long status;
    char *body;
    size_t n;
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_common__http(&rq, &status, &body, &n, &err), TS_EIO);
    assert_non_null(strstr(err.msg, "CA cert"));
    assert_false(sent);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_body_cap),
        cmocka_unit_test(test_no_redirect),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_stop),
        cmocka_unit_test(test_url_rule),
        cmocka_unit_test(test_sent),
        cmocka_unit_test(test_ca_file),
        cmocka_unit_test(test_post_basic),
        cmocka_unit_test(test_response_headers),
        cmocka_unit_test(test_where_hides_credentials),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
