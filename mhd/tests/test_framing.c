/* Request framing: each request-smuggling shape gets 400 with the OAuth-style JSON body and a
 * closed connection, and never reaches the application; well-framed requests (Content-Length,
 * chunked, HTTP/1.0 without Host) are served. The last test pins down the answers that
 * libmicrohttpd 0.9.75 produces itself, before any handler runs, as docs/mhd.md lists them. */
#include "testnet.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

static test_server srv;

static int setup(void **state)
{
    (void)state;
    memset(&srv, 0, sizeof srv);
    ts_mhd_limits_options o = test_options(&srv);
    return test_server_start(&srv, &o, 2);
}

static int teardown(void **state)
{
    (void)state;
    test_server_stop(&srv);
    return 0;
}

/* Send @p req on a new connection; the status, and the response in @p buf. */
static int exchange(const char *req, char *buf, size_t cap, int *fd_out)
{
    int fd = cli_connect("127.0.0.1", srv.port);
    assert_true(fd >= 0);
    cli_send(fd, req); /* may fail part-way when the server answers early; read anyway */
    int status = cli_response(fd, buf, cap, 3000);
    if (fd_out)
        *fd_out = fd;
    else
        close(fd);
    return status;
}

static const struct {
    const char *name, *request, *description;
} smuggling[] = {
    {"two Content-Length",
     "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
     "More than one Content-Length header"},
    {"two equal Content-Length",
     "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\nhello",
     "More than one Content-Length header"},
    {"Transfer-Encoding and Content-Length",
     "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
     "0\r\n\r\n",
     "Transfer-Encoding together with Content-Length"},
    {"Transfer-Encoding gzip", "POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\nxxxx",
     "Unsupported Transfer-Encoding (only chunked is accepted)"},
    {"Transfer-Encoding list",
     "POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
     "Unsupported Transfer-Encoding (only chunked is accepted)"},
    {"Transfer-Encoding obfuscated",
     "POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
     "Unsupported Transfer-Encoding (only chunked is accepted)"},
    {"two Transfer-Encoding",
     "POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
     "chunked\r\n\r\n0\r\n\r\n",
     "More than one Transfer-Encoding header"},
    {"Transfer-Encoding in HTTP/1.0",
     "POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     "Transfer-Encoding in a request older than HTTP/1.1"},
    {"HTTP/1.1 without Host", "GET /x HTTP/1.1\r\n\r\n", "HTTP/1.1 request without a Host header"},
    {"two Host", "GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "More than one Host header"},
    {"space before colon", "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length : 5\r\n\r\nhello",
     "White space in a header field name"},
};

static void test_smuggling_refused(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof smuggling / sizeof smuggling[0]; i++) {
        char buf[8192], want[256];
        int fd;
        int status = exchange(smuggling[i].request, buf, sizeof buf, &fd);
        if (status != 400)
            fail_msg("%s: status %d: %s", smuggling[i].name, status, buf);
        snprintf(want, sizeof want, "{\"error\":\"invalid_request\",\"error_description\":\"%s\"}",
                 smuggling[i].description);
        if (!strstr(buf, want) || !strcasestr(buf, "\r\nContent-Type: application/json\r\n") ||
            !strcasestr(buf, "\r\nConnection: close\r\n"))
            fail_msg("%s: %s", smuggling[i].name, buf);
        /* Nothing after the answer: the connection closes, so no second request hides in it. */
        if (!cli_closed_within(fd, 3000))
            fail_msg("%s: connection left open", smuggling[i].name);
        close(fd);
    }
    assert_int_equal(atomic_load(&srv.app.requests), 0);
    ts_mhd_limits_stats st = test_stats(&srv);
    assert_int_equal(st.rejected_requests, sizeof smuggling / sizeof smuggling[0]);
}

static void test_well_framed_served(void **state)
{
    (void)state;
    int before = atomic_load(&srv.app.requests);
    char buf[8192];
    int fd;
    /* Content-Length, then chunked, on one keep-alive connection. */
    assert_int_equal(exchange("POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello", buf,
                              sizeof buf, &fd),
                     200);
    assert_non_null(strstr(buf, "{\"body\":5}"));
    assert_int_equal(cli_send(fd, "POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                                  "\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"),
                     0);
    assert_int_equal(cli_response(fd, buf, sizeof buf, 3000), 200);
    assert_non_null(strstr(buf, "{\"body\":7}"));
    close(fd);
    /* HTTP/1.0 needs no Host. */
    assert_int_equal(exchange("GET /x HTTP/1.0\r\n\r\n", buf, sizeof buf, NULL), 200);
    assert_int_equal(atomic_load(&srv.app.requests) - before, 3);
}

/* What libmicrohttpd answers itself, in HTML and before any handler runs (docs/mhd.md). */
static void test_libmicrohttpd_own_answers(void **state)
{
    (void)state;
    static const struct {
        const char *request;
        int status;
    } own[] = {
        {"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 5x\r\n\r\n", 400},
        {"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413},
        {"GET /x HTTP/1.1\r\nHost: t\r\nNoColon\r\n\r\n", 400},
        {"GET /x HTTP/2.0\r\nHost: t\r\n\r\n", 505},
        {"GET /x HTTP/1.1x\r\nHost: t\r\n\r\n", 400},
        {"POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
    };
    int before = atomic_load(&srv.app.requests);
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
        char buf[8192];
        int status = exchange(own[i].request, buf, sizeof buf, NULL);
        if (status != own[i].status || strstr(buf, "application/json"))
            fail_msg("request %zu: %d, want %d from libmicrohttpd: %s", i, status, own[i].status,
                     buf);
    }
    /* The chunked one reaches the handler (its head is fine); the others never do. */
    assert_int_equal(atomic_load(&srv.app.requests) - before, 1);

    /* A head over the connection's memory pool: 431 (or 414 for the request line). */
    static char big[40000];
    memset(big, 0, sizeof big);
    size_t n = (size_t)snprintf(big, sizeof big, "GET /x HTTP/1.1\r\nHost: t\r\nX-Big: ");
    memset(big + n, 'a', sizeof big - n - 8);
    memcpy(big + sizeof big - 8, "\r\n\r\n", 5);
    char buf[8192];
    assert_int_equal(exchange(big, buf, sizeof buf, NULL), 431);
    memcpy(big, "GET /", 5);
    memset(big + 5, 'a', sizeof big - 5 - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(exchange(big, buf, sizeof buf, NULL), 414);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smuggling_refused),
        cmocka_unit_test(test_well_framed_served),
        cmocka_unit_test(test_libmicrohttpd_own_answers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
