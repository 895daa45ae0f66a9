/* gateway.test_check_httpd_parse: the HTTP check listener's request reading
 * (check_httpd_parse.c) on plain buffers: where a head ends (a bare LF refused at once), the
 * request line and header lines parsed in place and NUL-terminated, the framing checks of
 * tokensmith-mhd (one Content-Length of digits, Transfer-Encoding exactly chunked and never
 * beside Content-Length, Host once in HTTP/1.1), the bounds (header lines), keep-alive and
 * Expect, and chunked bodies fed in pieces of every size. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "check_httpd_parse.h"

#define CAP 8

typedef struct parsed {
    char buf[4096];
    ts_gateway__header h[CAP];
    ts_gateway__http_head head;
    bool ok;
} parsed;

/* Parse @p text (a complete head) into @p p; the return of ts_gateway__http_parse_head(). */
static bool parse(parsed *p, const char *text)
{
    size_t n = strlen(text);
    assert_true(n < sizeof p->buf);
    memcpy(p->buf, text, n + 1);
    assert_int_equal(ts_gateway__http_head_end(p->buf, n, 0), n);
    p->ok = ts_gateway__http_parse_head(p->buf, n, p->h, CAP, &p->head);
    return p->ok;
}

/* Refused with @p status and a reason that contains @p why. */
static void refused(const char *text, unsigned status, const char *why)
{
    parsed p;
    if (parse(&p, text))
        fail_msg("accepted: %s", text);
    assert_int_equal(p.head.status, status);
    assert_non_null(strstr(p.head.why, why));
}

static void test_head_end(void **state)
{
    (void)state;
    const char *t = "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /next";
    size_t n = strlen(t);
    assert_int_equal(ts_gateway__http_head_end(t, n, 0), 27);
    /* byte by byte: found once complete, never before */
    size_t from = 0, end = 0;
    for (size_t len = 1; len <= n && !end; len++) {
        end = ts_gateway__http_head_end(t, len, from);
        from = len;
        if (len < 27)
            assert_int_equal(end, 0);
    }
    assert_int_equal(end, 27);
    /* a bare LF, anywhere: refused as soon as it is seen */
    assert_int_equal(ts_gateway__http_head_end("GET / HTTP/1.1\nHost: a\n\n", 24, 0), SIZE_MAX);
    assert_int_equal(ts_gateway__http_head_end("\n", 1, 0), SIZE_MAX);
    assert_int_equal(ts_gateway__http_head_end("GET / HTTP/1.1\r\nA: b\n", 21, 0), SIZE_MAX);
    assert_int_equal(ts_gateway__http_head_end("GET / HTTP/1.1\r\n", 16, 0), 0);
}

static void test_request_parsed_in_place(void **state)
{
    (void)state;
    parsed p;
    assert_true(parse(&p,
                      "DELETE /ext-authz/a%2Fb?x=1+2&y HTTP/1.1\r\nHost: api.example:8443\r\n"
                      "Authorization:   Bearer t  \r\nX-Empty:\r\nx-dup: 1\r\nX-Dup: 2\r\n\r\n"));
    assert_string_equal(p.head.method.ptr, "DELETE");
    assert_int_equal(p.head.method.len, 6);
    assert_string_equal(p.head.target.ptr, "/ext-authz/a%2Fb?x=1+2&y");
    assert_true(p.head.http11);
    assert_false(p.head.close);
    assert_int_equal(p.head.n_headers, 5);
    assert_string_equal(p.h[0].name.ptr, "Host");
    assert_string_equal(p.head.host->value.ptr, "api.example:8443");
    /* optional white space around the value is not part of it */
    assert_string_equal(p.h[1].value.ptr, "Bearer t");
    assert_int_equal(p.h[1].value.len, 8);
    assert_string_equal(p.h[2].name.ptr, "X-Empty");
    assert_string_equal(p.h[2].value.ptr, "");
    assert_string_equal(p.h[4].value.ptr, "2");
    for (size_t i = 0; i < p.head.n_headers; i++) {
        assert_int_equal(strlen(p.h[i].name.ptr), p.h[i].name.len);
        assert_int_equal(strlen(p.h[i].value.ptr), p.h[i].value.len);
    }
    /* bytes as on the wire: name + ": " + value + CRLF */
    assert_int_equal(p.head.header_bytes,
                     (4 + 16 + 4) + (13 + 8 + 4) + (7 + 0 + 4) + (5 + 1 + 4) + (5 + 1 + 4));
    assert_int_equal(p.head.length, 0);
    assert_false(p.head.chunked);
}

static void test_request_line_refused(void **state)
{
    (void)state;
    refused("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "request line");
    refused("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, "request line");
    refused("GET /\tx HTTP/1.1\r\nHost: a\r\n\r\n", 400, "request line");
    refused("GET / http/1.1\r\nHost: a\r\n\r\n", 400, "request line");
    refused("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "request line");
    refused(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "request line");
    refused("GET /\r\n\r\n", 400, "request line"); /* HTTP/0.9 */
    refused("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "version");
    refused("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505, "version");
    refused("\r\n\r\n", 400, "request line");
}

static void test_header_lines_refused(void **state)
{
    (void)state;
    refused("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400, "folding");
    refused("GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\n", 400, "White space");
    refused("GET / HTTP/1.1\r\nHost: a\r\nX Y: 5\r\n\r\n", 400, "White space");
    refused("GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", 400, "header line");
    refused("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400, "header line");
    refused("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400, "header line");
    refused("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01"
            "b\r\n\r\n",
            400, "header line");
    refused("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", 400, "header line");
    refused("GET / HTTP/1.1\r\nHost: a\r\nX(: a\r\n\r\n", 400, "header line");
    /* an embedded NUL never reaches a C-string reader */
    parsed p;
    static const char nul[] = "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n";
    memcpy(p.buf, nul, sizeof nul);
    assert_false(ts_gateway__http_parse_head(p.buf, sizeof nul - 1, p.h, CAP, &p.head));
    assert_int_equal(p.head.status, 400);
    /* obs-text in a value is a value's byte */
    assert_true(parse(&p, "GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n"));
}

static void test_header_count_bound(void **state)
{
    (void)state;
    char t[1024];
    int n = snprintf(t, sizeof t, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < CAP - 1; i++)
        n += snprintf(t + n, sizeof t - (size_t)n, "X-%d: v\r\n", i);
    snprintf(t + n, sizeof t - (size_t)n, "\r\n");
    parsed p;
    assert_true(parse(&p, t)); /* exactly CAP lines */
    snprintf(t + n, sizeof t - (size_t)n, "X-last: v\r\n\r\n");
    refused(t, 431, "too many header lines");
}

static void test_framing(void **state)
{
    (void)state;
    parsed p;
    assert_true(parse(&p, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0012\r\n\r\n"));
    assert_int_equal(p.head.length, 12);
    assert_true(parse(&p, "POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: Chunked\r\n\r\n"));
    assert_true(p.head.chunked);
    assert_true(parse(&p, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999"
                          "\r\n\r\n"));
    assert_int_equal(p.head.length, TS_GATEWAY__HTTP_LENGTH_MAX); /* saturated, then 413 */
    refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 400,
            "More than one Content-Length");
    refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", 400, "not a number");
    refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400, "not a number");
    refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400, "not a number");
    refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            400, "Transfer-Encoding together with Content-Length");
    refused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
            "Transfer-Encoding: chunked\r\n\r\n",
            400, "More than one Transfer-Encoding");
    refused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400,
            "Unsupported Transfer-Encoding");
    refused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 400,
            "Unsupported Transfer-Encoding");
    refused("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "older than HTTP/1.1");
    refused("GET / HTTP/1.1\r\n\r\n", 400, "without a Host");
    refused("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "More than one Host");
    assert_true(parse(&p, "GET / HTTP/1.0\r\n\r\n")); /* HTTP/1.0 needs no Host */
    assert_null(p.head.host);
}

static void test_connection_and_expect(void **state)
{
    (void)state;
    parsed p;
    assert_true(parse(&p, "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n"));
    assert_true(p.head.close);
    assert_true(parse(&p, "GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n"));
    assert_false(p.head.close);
    assert_true(parse(&p, "GET / HTTP/1.0\r\n\r\n"));
    assert_true(p.head.close);
    assert_true(parse(&p, "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    assert_false(p.head.close);
    assert_true(parse(
        &p, "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n"));
    assert_true(p.head.expect_continue);
    assert_true(parse(&p, "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"));
    assert_false(p.head.expect_continue); /* HTTP/1.0 clients do not wait for one */
}

/* Feed @p body to a chunked reader in pieces of @p piece bytes. */
static ts_gateway__chunked_result feed(const char *body, size_t piece, uint64_t *data, size_t *end)
{
    ts_gateway__chunked c = {0};
    size_t n = strlen(body);
    *data = 0;
    for (size_t at = 0; at < n;) {
        size_t take = n - at < piece ? n - at : piece, used = 0;
        ts_gateway__chunked_result r = ts_gateway__chunked_feed(&c, body + at, take, &used, data);
        assert_true(used <= take);
        if (r != TS_GATEWAY__CHUNKED_MORE) {
            *end = at + used;
            return r;
        }
        assert_int_equal(used, take);
        at += take;
    }
    return TS_GATEWAY__CHUNKED_MORE;
}

static void test_chunked(void **state)
{
    (void)state;
    static const char good[] = "5\r\nhello\r\nA;ext=1\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\nNEXT";
    for (size_t piece = 1; piece <= sizeof good; piece++) {
        uint64_t data;
        size_t end = 0;
        assert_int_equal(feed(good, piece, &data, &end), TS_GATEWAY__CHUNKED_DONE);
        assert_int_equal(data, 15);
        assert_int_equal(end, sizeof good - 1 - 4); /* "NEXT" is the next request's */
    }
    const char *bad[] = {
        "x\r\n",       "\r\n",    "5\nhello\r\n0\r\n\r\n",   "5\r\nhelloX\r\n",
        "5 \r\nhello", "-5\r\n",  "1234567890123456\r\n",    "0\r\n \r\n\r\n",
        "0\r\nX: y\n", "0\r\n\n", "5\r\nhello\r\n0\r\n\r\r",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        uint64_t data;
        size_t end = 0;
        if (feed(bad[i], 1, &data, &end) != TS_GATEWAY__CHUNKED_BAD)
            fail_msg("accepted chunked body %zu", i);
    }
    uint64_t data;
    size_t end = 0;
    assert_int_equal(feed("5\r\nhel", 3, &data, &end), TS_GATEWAY__CHUNKED_MORE);
    assert_int_equal(data, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_end),
        cmocka_unit_test(test_request_parsed_in_place),
        cmocka_unit_test(test_request_line_refused),
        cmocka_unit_test(test_header_lines_refused),
        cmocka_unit_test(test_header_count_bound),
        cmocka_unit_test(test_framing),
        cmocka_unit_test(test_connection_and_expect),
        cmocka_unit_test(test_chunked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
