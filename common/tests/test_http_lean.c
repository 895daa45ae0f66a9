/* The lean HTTP client (ts_base_http_lean) over plain TCP against scripted loopback servers:
   response framing (chunked, split across reads, close-delimited, 100 Continue), the request's
   form, the bounds and the smuggling refusals, the deadline against a server that drips, no
   SIGPIPE, IPv6, a lookup that hangs, and that a plain-http process never starts OpenSSL's SSL
   part; the URL and response-parser helpers. TLS, certificates and redirects are
   common.test_http_lean_tls; the contract itself is common.test_http_lean_contract.

   Built twice: against the lean client (common.test_http_lean), and with TS_TEST_HTTP_CURL
   against the libcurl one (common.test_http_lean_vs_curl), where what both clients must do is
   checked and the lean client's own parts are not (its wording of errors, its head bounds and
   refusals, "Connection: close", when OpenSSL starts). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/http_response.h"
#include "common/http_url.h"
#include "lean_support.h"

/* ---- OpenSSL's SSL part stays untouched while only http:// is fetched ---- */

static void test_plain_never_starts_ssl(void **state)
{
    (void)state;
    if (!LEAN)
        skip(); /* libcurl's global initialisation starts it */
    static const char *const reply[] = {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", NULL};
    lean_server s;
    lean_plain(&s, reply);
    ts_common__http_req rq = {.url = lean_url(&s, "http", "127.0.0.1", "/")};
    lean_result r;
    assert_int_equal(ts_common__http_init(&r.err), TS_OK);
    lean_fetch(&rq, &r);
    assert_int_equal(r.st, TS_OK);
    lean_done(&r);
    lean_server_stop(&s);
    assert_false(lean_ssl_strings_loaded());
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
    lean_server s;
    lean_plain(&s, reply);
    s.gap_ms = 30;
    ts_common__http_req rq = {.url = lean_url(&s, "http", "127.0.0.1", "/c")};
    lean_result r;
    lean_fetch(&rq, &r);
    assert_int_equal(r.st, TS_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello world");
    assert_int_equal(r.n, 11);
    /* As libcurl shows them: status line, headers, the empty line, and trailers. */
    assert_string_equal(r.headers, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                   "X-Trailer: t\r\n");
    lean_done(&r);
    lean_server_stop(&s);
}

static void test_close_delimited_and_continue(void **state)
{
    (void)state;
    static const char *const reply[] = {"HTTP/1.1 100 Continue\r\n\r\n",
                                        "HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\nall ", "until close",
                                        NULL};
    lean_server s;
    lean_plain(&s, reply);
    s.gap_ms = 20;
    ts_common__http_req rq = {.url = lean_url(&s, "http", "127.0.0.1", "/d")};
    lean_result r;
    lean_fetch(&rq, &r);
    assert_int_equal(r.st, TS_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "all until close");
    assert_non_null(strstr(r.headers, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"));
    lean_done(&r);
    lean_server_stop(&s);
}

/* What the request carries, as libcurl would send it. */
static void test_request_form(void **state)
{
    (void)state;
    static const char *const reply[] = {"HTTP/1.1 204 No Content\r\n\r\n", NULL};
    lean_server s;
    lean_plain(&s, reply);
    /* (The URL rule sees userinfo as a host that is not loopback.) */
    ts_common__http_req rq = {.url = lean_url(&s, "http", "user%40x:p%3Aw@127.0.0.1", "/t?q=1#f"),
                              .body = "a=b",
                              .body_len = 3,
                              .allow_plain_http = true};
    lean_result r;
    lean_fetch(&rq, &r);
    assert_int_equal(r.st, TS_OK);
    assert_int_equal(r.status, 204);
    assert_string_equal(r.body, "");
    lean_done(&r);
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
            .url = lean_url(&s, "http", "127.0.0.1", "/"), .headers = bad, .n_headers = 1};
        lean_fetch(&rq2, &r);
        assert_int_equal(r.st, TS_EINVAL);
        assert_false(r.sent);
        ts_common__http_req rq3 = {.url = lean_url(&s, "http", "127.0.0.1", "/"),
                                   .user_agent = "ua\r\nX-Evil: 1"};
        lean_fetch(&rq3, &r);
        assert_int_equal(r.st, TS_EINVAL);
        assert_false(r.sent);
    }
    lean_server_stop(&s);
}

/* Errors name the URL without its credentials, query or fragment. */
static void test_where_hides_credentials(void **state)
{
    (void)state;
    static const char *const reply[] = {"HTTP/1.1 200 OK\r\n\r\n0123456789abc", NULL};
    lean_server s;
    lean_plain(&s, reply);
    ts_common__http_req rq = {.url = lean_url(&s, "http", "u:s3cret@127.0.0.1", "/x?token=abc#f"),
                              .max_body = 10,
                              .allow_plain_http = true};
    lean_result r;
    lean_fetch(&rq, &r);
    assert_int_equal(r.st, TS_ELIMIT);
    assert_string_equal(r.err.where, lean_url(&s, "http", "127.0.0.1", "/x"));
    assert_string_equal(r.err.msg, "response body larger than 10 bytes");
    lean_server_stop(&s);
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
        lean_server s;
        lean_plain(&s, reply);
        ts_common__http_req rq = {.url = lean_url(&s, "http", "127.0.0.1", "/r"),
                                  .max_body = 10,
                                  .label = "fetch",
                                  .body_label = "JWKS body"};
        lean_result r;
        lean_fetch(&rq, &r);
        if (r.st != cases[i].st || strcmp(r.err.msg, cases[i].msg) != 0)
            fail_msg("case %zu: %d %s", i, r.st, r.err.msg);
        assert_null(r.body);
        lean_server_stop(&s);
    }
}

/* A server that keeps sending, a byte at a time, never finishes within the deadline: the
   deadline is for the whole exchange, not for each read. */
static void test_drip_hits_deadline(void **state)
{
    (void)state;
    static const char *const reply[] = {"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", NULL};
    lean_server s;
    lean_plain(&s, reply);
    s.mode = LEAN_DRIP;
    ts_common__http_req rq = {.url = lean_url(&s, "http", "127.0.0.1", "/slow"),
                              .timeout_ms = 700,
                              .max_body = 2000,
                              .label = "fetch"};
    lean_result r;
    double t0 = lean_now_s();
    lean_fetch(&rq, &r);
    assert_int_equal(r.st, TS_EIO);
    assert_true(lean_now_s() - t0 < 5.0);
    assert_lean_msg(r.err.msg, "fetch failed: timed out after 700 ms");
    assert_true(r.sent);
    lean_server_stop(&s);
}

/* A server that resets the connection while a large body is being sent: an error, not a
   SIGPIPE that would end the process (over TLS: common.test_http_lean_tls). */
static void test_reset_is_no_sigpipe(void **state)
{
    (void)state;
    lean_server s;
    lean_plain(&s, NULL);
    s.mode = LEAN_RESET;
    assert_int_equal(lean_post_into_reset(&s, "http", NULL), TS_EIO);
    lean_server_stop(&s);
}

static void test_ipv6(void **state)
{
    (void)state;
    static const char *const reply[] = {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nv6", NULL};
    lean_server s;
    memset(&s, 0, sizeof s);
    s.parts[0] = reply;
    if (!lean_server_start(&s, AF_INET6))
        skip(); /* no IPv6 loopback here */
    ts_common__http_req rq = {.url = lean_url(&s, "http", "[::1]", "/six")};
    lean_result r;
    lean_fetch(&rq, &r);
    assert_int_equal(r.st, TS_OK);
    assert_string_equal(r.body, "v6");
    lean_done(&r);
    char host[64];
    snprintf(host, sizeof host, "\r\nHost: [::1]:%d\r\n", s.port);
    assert_non_null(strstr(s.request, host));
    lean_server_stop(&s);
}

/* A name whose lookup hangs: this getaddrinfo stands in for the C library's (the executable's
   definition comes first) and holds "hang.test" for 3 s, as a resolver that gets no answer
   would; every other name goes to the real one. */
int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    if (node && strcmp(node, "hang.test") == 0 && !(hints && hints->ai_flags & AI_NUMERICHOST)) {
        lean_sleep_ms(3000);
        return EAI_AGAIN;
    }
    int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
    *(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo");
    return real(node, service, hints, res);
}

static void *raise_stop(void *ud)
{
    lean_sleep_ms(200);
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
    lean_result r;
    double t0 = lean_now_s();
    lean_fetch(&rq, &r);
    assert_int_equal(r.st, TS_EIO);
    assert_true(lean_now_s() - t0 < 2.5); /* before the lookup's 3 s */
    assert_false(r.sent);
    assert_lean_msg(r.err.msg, "fetch failed: cannot resolve hang.test: connection timed out "
                               "after 300 ms");
    atomic_bool stop = false;
    ts_common__http_req rq2 = {
        .url = "https://hang.test/x", .timeout_ms = 20000, .stop = &stop, .label = "fetch"};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, raise_stop, &stop), 0);
    t0 = lean_now_s();
    lean_fetch(&rq2, &r);
    assert_int_equal(r.st, TS_EIO);
    assert_true(lean_now_s() - t0 < 2.5);
    assert_string_equal(r.err.msg, "fetch stopped");
    pthread_join(t, NULL);
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
        cmocka_unit_test(test_url_helpers),
        cmocka_unit_test(test_parser_bytewise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
