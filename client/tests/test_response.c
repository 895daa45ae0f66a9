/* The token-response parser (response.c): RFC 6749 §5.1 successes, §5.2 errors, and the
 * answers a wrong or hostile server gives; the visible-ASCII rule of tokens and the endpoint as
 * logs name it (text.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client_internal.h"

#define JSON "application/json"

static ts_status parse(long status, const char *ct, const char *body, ts_client__tokens *t,
                       ts_client_oauth_error *oe, ts_error *err)
{
    ts_error_clear(err);
    return ts_client__parse_response(status, ct, body, strlen(body), 4096, t, oe, err);
}

static void test_success_tokensmith(void **state)
{
    (void)state;
    /* The shape tokensmith answers a bootstrap exchange with (docs/service.md). */
    const char *b = "{\"access_token\":\"eyJhbGciOiJFUzI1NiJ9.e30.sig\",\"token_type\":\"Bearer\","
                    "\"expires_in\":60,\"refresh_token\":\"0123abcd\",\"refresh_expires_in\":86400,"
                    "\"scope\":\"read write\",\"issued_token_type\":"
                    "\"urn:ietf:params:oauth:token-type:access_token\"}";
    ts_client__tokens t;
    ts_client_oauth_error oe;
    ts_error err;
    assert_int_equal(parse(200, "application/json; charset=utf-8", b, &t, &oe, &err), TS_OK);
    assert_string_equal(t.access_token, "eyJhbGciOiJFUzI1NiJ9.e30.sig");
    assert_int_equal(t.access_len, strlen(t.access_token));
    assert_string_equal(t.token_type, "Bearer");
    assert_true(t.has_expires_in);
    assert_int_equal(t.expires_in, 60);
    assert_string_equal(t.refresh_token, "0123abcd");
    assert_true(t.has_refresh_expires_in);
    assert_int_equal(t.refresh_expires_in, 86400);
    assert_string_equal(t.scope, "read write");
    assert_string_equal(t.issued_token_type, "urn:ietf:params:oauth:token-type:access_token");
    assert_int_equal(oe.http_status, 200);
    ts_client__tokens_cleanup(&t);
    assert_null(t.access_token);
}

static void test_success_minimal_and_variants(void **state)
{
    (void)state;
    ts_client__tokens t;
    ts_error err;
    /* Only the two required members; unknown members ignored (RFC 6749 §5.1). */
    assert_int_equal(parse(200, JSON, "{\"access_token\":\"a\",\"token_type\":\"N_A\",\"x\":[1]}",
                           &t, NULL, &err),
                     TS_OK);
    assert_false(t.has_expires_in);
    assert_null(t.refresh_token);
    assert_null(t.scope);
    ts_client__tokens_cleanup(&t);
    /* expires_in as a decimal string and as a whole real; "scope": "" is no scope. */
    assert_int_equal(parse(200, JSON,
                           "{\"access_token\":\"a\",\"token_type\":\"bearer\",\"expires_in\":"
                           "\"3600\",\"scope\":\"\"}",
                           &t, NULL, &err),
                     TS_OK);
    assert_int_equal(t.expires_in, 3600);
    assert_null(t.scope);
    ts_client__tokens_cleanup(&t);
    assert_int_equal(parse(200, "application/token+json",
                           "{\"access_token\":\"a\",\"token_type\":\"Bearer\",\"expires_in\":"
                           "60.0,\"refresh_token\":null}",
                           &t, NULL, &err),
                     TS_OK);
    assert_int_equal(t.expires_in, 60);
    assert_null(t.refresh_token);
    ts_client__tokens_cleanup(&t);
}

static void expect_parse_error(const char *ct, const char *body, const char *msg)
{
    ts_client__tokens t;
    ts_error err;
    assert_int_equal(parse(200, ct, body, &t, NULL, &err), TS_EPARSE);
    assert_null(t.access_token);
    assert_string_equal(err.where, "token response");
    if (!strstr(err.msg, msg))
        fail_msg("'%s' does not say '%s'", err.msg, msg);
}

static void test_success_refused(void **state)
{
    (void)state;
    expect_parse_error("text/html", "{\"access_token\":\"a\",\"token_type\":\"Bearer\"}",
                       "Content-Type text/html");
    expect_parse_error(NULL, "{\"access_token\":\"a\",\"token_type\":\"Bearer\"}",
                       "Content-Type none");
    expect_parse_error("application/jsonp", "{}", "Content-Type application/jsonp");
    expect_parse_error(JSON, "not json", "not a JSON object");
    expect_parse_error(JSON, "[1,2]", "not a JSON object");
    expect_parse_error(JSON, "{\"access_token\":\"a\",\"token_type\":\"Bearer\"} trailing",
                       "not a JSON object");
    expect_parse_error(JSON, "{\"token_type\":\"Bearer\"}", "no access_token");
    expect_parse_error(JSON, "{\"access_token\":\"a\"}", "no token_type");
    expect_parse_error(JSON, "{\"access_token\":7,\"token_type\":\"Bearer\"}",
                       "access_token is not a string");
    expect_parse_error(JSON, "{\"access_token\":\"\",\"token_type\":\"Bearer\"}",
                       "access_token is empty");
    /* A byte that would end or split the header line the token is sent in. */
    expect_parse_error(JSON, "{\"access_token\":\"a\\r\\nX-Evil: 1\",\"token_type\":\"Bearer\"}",
                       "access_token holds a character outside visible ASCII");
    expect_parse_error(JSON, "{\"access_token\":\"a b\",\"token_type\":\"Bearer\"}",
                       "access_token holds");
    expect_parse_error(JSON, "{\"access_token\":\"\\u00e9\",\"token_type\":\"Bearer\"}",
                       "access_token holds");
    expect_parse_error(JSON, "{\"access_token\":\"a\",\"token_type\":\"Bea rer\"}",
                       "token_type holds");
    expect_parse_error(
        JSON, "{\"access_token\":\"a\",\"token_type\":\"Bearer\",\"refresh_token\":\"r\\t\"}",
        "refresh_token holds");
    /* Duplicate members: which one a server meant is unknowable. */
    expect_parse_error(JSON, "{\"access_token\":\"a\",\"access_token\":\"b\",\"token_type\":\"B\"}",
                       "not a JSON object");
    expect_parse_error(JSON, "{\"access_token\":\"a\",\"token_type\":\"Bearer\",\"expires_in\":-1}",
                       "expires_in is not a number of seconds");
    expect_parse_error(JSON,
                       "{\"access_token\":\"a\",\"token_type\":\"Bearer\",\"expires_in\":1.5}",
                       "expires_in");
    expect_parse_error(JSON,
                       "{\"access_token\":\"a\",\"token_type\":\"Bearer\",\"expires_in\":"
                       "99999999999}",
                       "expires_in");
    expect_parse_error(JSON,
                       "{\"access_token\":\"a\",\"token_type\":\"Bearer\",\"expires_in\":\"1h\"}",
                       "expires_in");
    expect_parse_error(JSON,
                       "{\"access_token\":\"a\",\"token_type\":\"Bearer\",\"refresh_expires_in\":"
                       "true}",
                       "refresh_expires_in");
    expect_parse_error(JSON, "{\"access_token\":\"a\",\"token_type\":\"Bearer\",\"scope\":[\"a\"]}",
                       "scope is not a string");
    expect_parse_error(JSON,
                       "{\"access_token\":\"a\",\"token_type\":\"Bearer\",\"scope\":\"a\\\"\"}",
                       "scope holds");
    /* token_type longer than any real one. */
    expect_parse_error(JSON,
                       "{\"access_token\":\"a\",\"token_type\":\"0123456789012345678901234567890123"
                       "\"}",
                       "token_type is too long");
}

static void test_token_cap(void **state)
{
    (void)state;
    char body[6000];
    char tok[4200];
    memset(tok, 'a', 4097);
    tok[4097] = '\0';
    snprintf(body, sizeof body, "{\"access_token\":\"%s\",\"token_type\":\"Bearer\"}", tok);
    expect_parse_error(JSON, body, "access_token is too long");
    tok[4096] = '\0'; /* exactly the cap */
    snprintf(body, sizeof body, "{\"access_token\":\"%s\",\"token_type\":\"Bearer\"}", tok);
    ts_client__tokens t;
    ts_error err;
    assert_int_equal(parse(200, JSON, body, &t, NULL, &err), TS_OK);
    assert_int_equal(t.access_len, 4096);
    ts_client__tokens_cleanup(&t);
}

static void test_oauth_errors(void **state)
{
    (void)state;
    ts_client__tokens t;
    ts_client_oauth_error oe;
    ts_error err;
    assert_int_equal(parse(400, JSON,
                           "{\"error\":\"invalid_grant\",\"error_description\":\"The provided "
                           "refresh token is invalid or has expired\",\"error_uri\":\"https://"
                           "x.example/e\"}",
                           &t, &oe, &err),
                     TS_EINVAL);
    assert_int_equal(oe.http_status, 400);
    assert_string_equal(oe.error, "invalid_grant");
    assert_string_equal(oe.error_description,
                        "The provided refresh token is invalid or has expired");
    assert_string_equal(oe.error_uri, "https://x.example/e");
    assert_string_equal(err.msg, "token endpoint refused the request: HTTP 400 invalid_grant: "
                                 "The provided refresh token is invalid or has expired");
    /* 401 invalid_client; 429 is a limit; 5xx a failure. */
    assert_int_equal(parse(401, JSON, "{\"error\":\"invalid_client\"}", &t, &oe, &err), TS_EINVAL);
    assert_string_equal(oe.error, "invalid_client");
    assert_string_equal(err.msg, "token endpoint refused the request: HTTP 401 invalid_client");
    assert_int_equal(parse(429, JSON, "{\"error\":\"too_many_requests\"}", &t, &oe, &err),
                     TS_ELIMIT);
    assert_int_equal(parse(503, JSON, "{\"error\":\"temporarily_unavailable\"}", &t, &oe, &err),
                     TS_EIO);
    assert_string_equal(err.msg, "token endpoint failed: HTTP 503 temporarily_unavailable");
    /* Not an OAuth error: said so, with the content type. */
    assert_int_equal(parse(502, "text/html", "<html>bad gateway</html>", &t, &oe, &err), TS_EIO);
    assert_string_equal(oe.error, "");
    assert_int_equal(oe.http_status, 502);
    assert_string_equal(err.msg,
                        "token endpoint failed: HTTP 502 without an OAuth error (Content-Type "
                        "text/html)");
    assert_int_equal(parse(302, NULL, "", &t, &oe, &err), TS_EIO);
    /* A description with control characters is kept printable; an error code outside RFC
     * 6749 §5.2's characters is not kept at all. */
    assert_int_equal(parse(400, JSON,
                           "{\"error\":\"bad\\\"code\",\"error_description\":\"line1\\nline2"
                           "\\u001b[31m\"}",
                           &t, &oe, &err),
                     TS_EINVAL);
    assert_string_equal(oe.error, "");
    assert_string_equal(oe.error_description, "line1?line2?[31m");
    assert_null(strchr(err.msg, '\n'));
    /* An error answer that is JSON but not an object, or with a non-string error. */
    assert_int_equal(parse(400, JSON, "[\"invalid_grant\"]", &t, &oe, &err), TS_EINVAL);
    assert_string_equal(oe.error, "");
    assert_int_equal(parse(400, JSON, "{\"error\":42}", &t, &oe, &err), TS_EINVAL);
    assert_string_equal(oe.error, "");
    /* A long description is cut to fit, never overflows. */
    char body[2048];
    char desc[1200];
    memset(desc, 'd', sizeof desc - 1);
    desc[sizeof desc - 1] = '\0';
    snprintf(body, sizeof body, "{\"error\":\"invalid_request\",\"error_description\":\"%s\"}",
             desc);
    assert_int_equal(parse(400, JSON, body, &t, &oe, &err), TS_EINVAL);
    assert_int_equal(strlen(oe.error_description), sizeof oe.error_description - 1);
}

/* The rule every token obeys, wherever it comes from (an answer, the options, a state file, a
 * callback): %x21-7E, so no space, control character or byte of UTF-8. */
static void test_visible(void **state)
{
    (void)state;
    assert_true(ts_client__visible("!~az09.-_", 9));
    assert_true(ts_client__visible("", 0));
    assert_false(ts_client__visible("a b", 3));
    assert_false(ts_client__visible("a\x7f", 2));
    assert_false(ts_client__visible("a\tb", 3));
    assert_false(ts_client__visible("\xc3\xa9", 2));
    assert_false(ts_client__visible("ab\0c", 4)); /* a NUL within the length */
    assert_true(ts_client__visible("ab c", 2));   /* only the first n bytes count */
}

static void expect_log_url(const char *url, const char *want)
{
    char *got = ts_client__url_for_log(url);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

/* How log lines name the token endpoint: no userinfo, query or fragment, at most 200 bytes. */
static void test_url_for_log(void **state)
{
    (void)state;
    expect_log_url("https://idp.example/oauth/token", "https://idp.example/oauth/token");
    expect_log_url("https://u:p@idp.example:8443/t?key=k#f", "https://idp.example:8443/t");
    expect_log_url("https://a@b@idp.example/t", "https://idp.example/t"); /* the last '@' */
    expect_log_url("https://idp.example?next=a@b", "https://idp.example");
    expect_log_url("http://[::1]:8080/token#x", "http://[::1]:8080/token");
    char long_url[400], want[201];
    snprintf(long_url, sizeof long_url, "https://idp.example/%0300d?k=v", 0);
    snprintf(want, sizeof want, "%.197s...", long_url);
    expect_log_url(long_url, want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_success_tokensmith),
        cmocka_unit_test(test_success_minimal_and_variants),
        cmocka_unit_test(test_success_refused),
        cmocka_unit_test(test_token_cap),
        cmocka_unit_test(test_oauth_errors),
        cmocka_unit_test(test_visible),
        cmocka_unit_test(test_url_for_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
