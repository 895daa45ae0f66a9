/* The runtime's parsing of a source's answer: tokens by JSON pointer (escapes, array indexes,
 * the whole body), by header, expiries of every source and format, the JWT exp claim, RFC 3339
 * with offsets; refusals (missing, not a string, not printable, already expired, not JSON)
 * that never quote the token. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent_test.h"
#include "common/digest.h"
#include "rt_internal.h"

#define NOW 1800000000LL

static const char *const http_head =
    "settings: {listen: none}\n"
    "sinks:\n"
    "  o: {type: file, source_id: s, token_id: t, path: /run/t/x}\n"
    "sources:\n"
    "  s:\n"
    "    type: http\n"
    "    request: {url: 'https://idp.example/t'}\n"
    "    parse:\n"
    "      tokens:\n";

static ts_agent_config *cfg_with(const char *tokens)
{
    char text[2048];
    snprintf(text, sizeof text, "%s%s", http_head, tokens);
    ts_error err;
    ts_agent_config *cfg = agent_parse(text, false, &err);
    if (!cfg)
        fail_msg("%s: %s", err.where, err.msg);
    return cfg;
}

/* Parse @p body/@p headers with the tokens of @p tokens; on TS_OK the first token's value and
 * expiry. */
static ts_status run(const char *tokens, const char *body, const char *headers, char *value,
                     int64_t *exp, ts_error *err)
{
    ts_agent_config *cfg = cfg_with(tokens);
    const ts_agent_source *src = &cfg->sources[0];
    ts_agent__token out[4];
    memset(out, 0, sizeof out);
    ts_error_clear(err);
    ts_status st = ts_agent__parse_tokens(src, body, strlen(body), headers, NOW, out, err);
    if (st == TS_OK) {
        snprintf(value, 256, "%s", out[0].value);
        *exp = out[0].expires_at;
        ts_agent__tokens_clear(out, src->n_tokens);
    } else {
        for (size_t i = 0; i < src->n_tokens; i++)
            assert_null(out[i].value); /* nothing half-filled */
    }
    ts_agent_config_free(cfg);
    return st;
}

static void test_pointer(void **state)
{
    (void)state;
    char v[256];
    int64_t exp;
    ts_error err;
    const char *t =
        "        - id: t\n          pointer: /a~1b/c~0d/1\n"
        "          expiration: {source: json_body_field, pointer: /e, format: seconds}\n";
    assert_int_equal(run(t, "{\"a/b\":{\"c~d\":[\"x\",\"tok-1\"]},\"e\":300}", "", v, &exp, &err),
                     TS_OK);
    assert_string_equal(v, "tok-1");
    assert_int_equal(exp, NOW + 300);
    /* token-agent's bare member name; expires_in as a string of digits; a real. */
    t = "        - id: t\n          pointer: access_token\n"
        "          expiration: {source: json_body_field, pointer: expires_in}\n";
    assert_int_equal(run(t, "{\"access_token\":\"abc\",\"expires_in\":\"60\"}", "", v, &exp, &err),
                     TS_OK);
    assert_int_equal(exp, NOW + 60);
    assert_int_equal(run(t, "{\"access_token\":\"abc\",\"expires_in\":59.9}", "", v, &exp, &err),
                     TS_OK);
    assert_int_equal(exp, NOW + 59);
    /* unix and rfc3339 formats */
    t = "        - id: t\n          pointer: /t\n"
        "          expiration: {source: json_body_field, pointer: /e, format: unix}\n";
    assert_int_equal(run(t, "{\"t\":\"abc\",\"e\":1800000500}", "", v, &exp, &err), TS_OK);
    assert_int_equal(exp, 1800000500);
    t = "        - id: t\n          pointer: /t\n"
        "          expiration: {source: json_body_field, pointer: /e, format: rfc3339}\n";
    assert_int_equal(
        run(t, "{\"t\":\"abc\",\"e\":\"2027-06-15T08:00:00+01:00\"}", "", v, &exp, &err), TS_OK);
    assert_int_equal(exp, 1813042800);
}

static void test_header_and_manual(void **state)
{
    (void)state;
    char v[256];
    int64_t exp;
    ts_error err;
    const char *t = "        - id: t\n          parent: header\n          pointer: X-Token\n"
                    "          expiration: {source: header_field, pointer: X-Exp, format: unix}\n";
    const char *h = "HTTP/1.1 200 OK\r\nx-token:  hdr-tok \r\nX-Exp: 1800000900\r\n\r\n";
    assert_int_equal(run(t, "", h, v, &exp, &err), TS_OK);
    assert_string_equal(v, "hdr-tok");
    assert_int_equal(exp, 1800000900);
    assert_int_equal(run(t, "", "HTTP/1.1 200 OK\r\nX-Exp: 1800000900\r\n", v, &exp, &err),
                     TS_EPARSE);
    assert_string_equal(err.msg, "token 't': no header X-Token in the answer");
    /* the whole body, a manual lifetime; a trailing line break is not part of the token */
    t = "        - id: t\n          expiration: {source: manual, manual_ttl_seconds: 120}\n";
    assert_int_equal(run(t, "whole-body\n", "", v, &exp, &err), TS_OK);
    assert_string_equal(v, "whole-body");
    assert_int_equal(exp, NOW + 120);
}

static void test_jwt_exp(void **state)
{
    (void)state;
    /* {"alg":"none"} . {"sub":"x","exp":1800000700} */
    const char *jwt = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4IiwiZXhwIjoxODAwMDAwNzAwfQ.c2ln";
    int64_t exp = 0;
    assert_int_equal(ts_agent__jwt_exp(jwt, strlen(jwt), &exp), TS_OK);
    assert_int_equal(exp, 1800000700);
    char v[256];
    ts_error err;
    const char *t = "        - id: t\n          pointer: /t\n          token_type: jwt\n";
    char body[256];
    snprintf(body, sizeof body, "{\"t\":\"%s\"}", jwt);
    assert_int_equal(run(t, body, "", v, &exp, &err), TS_OK);
    assert_int_equal(exp, 1800000700);
    assert_int_equal(run(t, "{\"t\":\"not.a-jwt\"}", "", v, &exp, &err), TS_EPARSE);
    assert_string_equal(err.msg, "token 't' is not a JWT with an exp claim");
    assert_int_equal(ts_agent__jwt_exp("abc", 3, &exp), TS_EPARSE);
}

static void test_rfc3339(void **state)
{
    (void)state;
    int64_t t;
    assert_int_equal(ts_agent__parse_rfc3339("2027-06-15T07:00:00Z", 20, &t), TS_OK);
    assert_int_equal(t, 1813042800);
    assert_int_equal(ts_agent__parse_rfc3339("2027-06-15T08:00:00.250+01:00", 29, &t), TS_OK);
    assert_int_equal(t, 1813042800);
    assert_int_equal(ts_agent__parse_rfc3339("2027-06-15T02:30:00-04:30", 25, &t), TS_OK);
    assert_int_equal(t, 1813042800);
    assert_int_equal(ts_agent__parse_rfc3339("2027-01-15 07:00:00Z", 20, &t), TS_EPARSE);
    assert_int_equal(ts_agent__parse_rfc3339("2027-13-15T07:00:00Z", 20, &t), TS_EPARSE);
    assert_int_equal(ts_agent__parse_rfc3339("2027-06-15T07:00:00", 19, &t), TS_EPARSE);
    char out[32];
    ts_agent__format_rfc3339(1813042800, out, sizeof out);
    assert_string_equal(out, "2027-06-15T07:00:00Z");
}

static void test_refusals(void **state)
{
    (void)state;
    char v[256];
    int64_t exp;
    ts_error err;
    const char *t = "        - id: t\n          pointer: /t\n"
                    "          expiration: {source: json_body_field, pointer: /e}\n";
    assert_int_equal(run(t, "{\"t\":5,\"e\":60}", "", v, &exp, &err), TS_EPARSE);
    assert_string_equal(err.msg, "token 't': no string at /t in the answer");
    assert_int_equal(run(t, "<html>secret-page</html>", "", v, &exp, &err), TS_EPARSE);
    assert_string_equal(err.msg, "token 't': the answer is not JSON (looking for /t)");
    assert_int_equal(run(t, "{\"t\":\"has space\",\"e\":60}", "", v, &exp, &err), TS_EPARSE);
    assert_null(strstr(err.msg, "has space"));
    assert_int_equal(run(t, "{\"t\":\"\",\"e\":60}", "", v, &exp, &err), TS_EPARSE);
    assert_int_equal(run(t, "{\"t\":\"abc\",\"e\":0}", "", v, &exp, &err), TS_EPARSE);
    assert_string_equal(err.msg, "token 't' has already expired");
    assert_int_equal(run(t, "{\"t\":\"abc\"}", "", v, &exp, &err), TS_EPARSE);
    assert_string_equal(err.msg, "token 't': no expiry at /e in the answer (format a number)");
    /* two tokens: the second missing fails both, the first is not handed out */
    t = "        - id: t\n          pointer: /a\n"
        "          expiration: {source: manual, manual_ttl_seconds: 60}\n"
        "        - id: b\n          pointer: /b\n"
        "          expiration: {source: manual, manual_ttl_seconds: 60}\n";
    assert_int_equal(run(t, "{\"a\":\"x\"}", "", v, &exp, &err), TS_EPARSE);
    assert_string_equal(err.msg, "token 'b': no string at /b in the answer");
}

/* How the agent's log lines name a token (common/digest.h, the client library's too). */
static void test_hash_prefix(void **state)
{
    (void)state;
    char h[9], full[65];
    ts_common__sha256_prefix("abc", 3, h); /* SHA-256("abc") = ba7816bf... */
    assert_string_equal(h, "ba7816bf");
    ts_common__sha256_prefix("", 0, h);
    assert_string_equal(h, "e3b0c442");
    assert_true(ts_common__sha256_hex("abc", 3, full));
    assert_string_equal(full, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pointer),  cmocka_unit_test(test_header_and_manual),
        cmocka_unit_test(test_jwt_exp),  cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_refusals), cmocka_unit_test(test_hash_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
