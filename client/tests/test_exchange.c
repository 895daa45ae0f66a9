/* The client's requests against a scripted loopback token endpoint that records each one: the
 * form of every grant and client authentication, chaining one client's token into another's
 * exchange, and lifetimes without expires_in. (Failures: test_failures.c.) */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "client_internal.h"
#include "script_server.h"

/* ---- requests ------------------------------------------------------------------------------- */

static void test_client_credentials_forms(void **state)
{
    (void)state;
    char req[16384], tok[256];
    ts_client_token_info info;
    ts_error err;
    const char *aud[] = {"smd"};
    const char *res[] = {"https://api.example/v1"};
    ts_client_param extra[] = {{"tenant", "a&b=c"}};

    /* client_secret_basic: id and secret form-urlencoded, then joined, then base64. */
    ts_client_options o = script_cc_options(TS_CLIENT_AUTH_SECRET_BASIC);
    o.scope = "read write";
    o.audiences = aud;
    o.n_audiences = 1;
    o.resources = res;
    o.n_resources = 1;
    o.params = extra;
    o.n_params = 1;
    ts_client *c = script_client(&o);
    script_answer_token(SCRIPT_TOKEN_OK);
    assert_int_equal(script_get(c, tok, sizeof tok, &info, &err), TS_OK);
    assert_string_equal(tok, "at-1");
    script_last_request(req, sizeof req);
    assert_non_null(strstr(req, "POST /token HTTP/1.1\r\n"));
    assert_non_null(strstr(req, "\r\nContent-Type: application/x-www-form-urlencoded\r\n"));
    assert_non_null(strstr(req, "\r\nAccept: application/json\r\n"));
    assert_non_null(strstr(req, "\r\nUser-Agent: tokensmith-client/"));
    /* base64("svc%3Aa+b:p%40ss%2Fw%2Brd%3D") */
    assert_non_null(
        strstr(req, "\r\nAuthorization: Basic c3ZjJTNBYStiOnAlNDBzcyUyRnclMkJyZCUzRA==\r\n"));
    assert_string_equal(script_body_of(req),
                        "grant_type=client_credentials&audience=smd&resource=https%3A%2F%2F"
                        "api.example%2Fv1&scope=read+write&tenant=a%26b%3Dc");

    /* error.h's reuse rule: ts_client_token_dup() probes the size (TS_ELIMIT by design), and
     * a success still leaves the caller's record as it was. */
    ts_client_flush(c);
    ts_error_set(&err, TS_EIO, "before", "an earlier failure");
    char *dup = ts_client_token_dup(c, &info, &err);
    assert_non_null(dup);
    assert_string_equal(dup, "at-1");
    ts_free(dup);
    assert_int_equal(err.code, TS_EIO);
    assert_string_equal(err.msg, "an earlier failure");
    ts_client_free(c);

    /* client_secret_post: in the body, no Authorization header. */
    o = script_cc_options(TS_CLIENT_AUTH_SECRET_POST);
    c = script_client(&o);
    assert_int_equal(script_get(c, tok, sizeof tok, &info, &err), TS_OK);
    script_last_request(req, sizeof req);
    assert_null(strstr(req, "Authorization:"));
    assert_string_equal(script_body_of(req), "grant_type=client_credentials&client_id=svc%3Aa+b&"
                                             "client_secret=p%40ss%2Fw%2Brd%3D");
    ts_client_free(c);

    /* none: a public client names itself. */
    o = script_cc_options(TS_CLIENT_AUTH_NONE);
    c = script_client(&o);
    assert_int_equal(script_get(c, tok, sizeof tok, &info, &err), TS_OK);
    script_last_request(req, sizeof req);
    assert_null(strstr(req, "Authorization:"));
    assert_string_equal(script_body_of(req), "grant_type=client_credentials&client_id=svc%3Aa+b");
    ts_client_free(c);
}

typedef struct hooked {
    unsigned calls;
    ts_client_event event;
    char token[64];
    char scope[64];
    char issued[128];
} hooked;

static void on_rotation(const ts_client_rotation *r, void *ud)
{
    hooked *h = ud;
    h->calls++;
    h->event = r->event;
    snprintf(h->token, sizeof h->token, "%s", r->access_token);
    snprintf(h->scope, sizeof h->scope, "%s", r->scope);
    snprintf(h->issued, sizeof h->issued, "%s", r->issued_token_type);
}

/* An exchange whose subject token is another client's token of the moment (the agent's chained
 * sources), with an actor token and every RFC 8693 parameter. */
static void test_token_exchange_chained(void **state)
{
    (void)state;
    char req[16384], tok[256];
    ts_client_token_info info;
    ts_error err;
    ts_client_options a = script_cc_options(TS_CLIENT_AUTH_SECRET_POST);
    ts_client *first = script_client(&a);
    script_answer_token(
        "{\"access_token\":\"subject-1\",\"token_type\":\"Bearer\",\"expires_in\":600}");
    assert_int_equal(script_get(first, tok, sizeof tok, &info, &err), TS_OK);

    const char *aud[] = {"svc-a", "svc-b"};
    hooked h = {0};
    ts_client_options x = TS_CLIENT_OPTIONS_INIT;
    x.token_endpoint = script_endpoint();
    x.grant = TS_CLIENT_GRANT_TOKEN_EXCHANGE;
    x.subject_token_fn = ts_client_token_fn_client;
    x.subject_token_ud = first;
    x.subject_token_type = TS_CLIENT_TOKEN_TYPE_ACCESS_TOKEN;
    x.actor_token = "actor-1";
    x.actor_token_type = TS_CLIENT_TOKEN_TYPE_JWT;
    x.requested_token_type = TS_CLIENT_TOKEN_TYPE_ACCESS_TOKEN;
    x.audiences = aud;
    x.n_audiences = 2;
    x.scope = "crm:read";
    x.clock_ms = script_clock;
    x.on_rotation = on_rotation;
    x.rotation_ud = &h;
    ts_client *second = script_client(&x);
    script_answer_token(
        "{\"access_token\":\"exchanged-1\",\"token_type\":\"N_A\",\"expires_in\":300,"
        "\"scope\":\"crm:read\",\"issued_token_type\":"
        "\"urn:ietf:params:oauth:token-type:access_token\",\"refresh_token\":\"r\"}");
    assert_int_equal(script_get(second, tok, sizeof tok, &info, &err), TS_OK);
    assert_string_equal(tok, "exchanged-1");
    assert_string_equal(info.token_type, "N_A");
    script_last_request(req, sizeof req);
    assert_string_equal(script_body_of(req),
                        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&"
                        "subject_token=subject-1&subject_token_type=urn%3Aietf%3Aparams%3Aoauth"
                        "%3Atoken-type%3Aaccess_token&actor_token=actor-1&actor_token_type=urn%3A"
                        "ietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt&requested_token_type=urn%3Aietf"
                        "%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token&audience=svc-a&audience="
                        "svc-b&scope=crm%3Aread");
    assert_int_equal(h.calls, 1);
    assert_int_equal(h.event, TS_CLIENT_EVENT_GRANT);
    assert_string_equal(h.token, "exchanged-1");
    assert_string_equal(h.scope, "crm:read");
    assert_string_equal(h.issued, TS_CLIENT_TOKEN_TYPE_ACCESS_TOKEN);

    /* The first token rotates; the next exchange carries the new one. */
    script_answer_token(
        "{\"access_token\":\"subject-2\",\"token_type\":\"Bearer\",\"expires_in\":600}");
    assert_true(ts_client_invalidate(first, 0));
    assert_int_equal(script_get(first, tok, sizeof tok, &info, &err), TS_OK);
    script_answer_token(SCRIPT_TOKEN_OK);
    assert_true(ts_client_invalidate(second, 0));
    assert_int_equal(script_get(second, tok, sizeof tok, &info, &err), TS_OK);
    script_last_request(req, sizeof req);
    assert_non_null(strstr(script_body_of(req), "&subject_token=subject-2&"));
    ts_client_free(second);
    ts_client_free(first);
}

/* Lifetimes: expires_in; else a JWT's exp; else default_lifetime_s. The token is handed out
 * until min_valid_s before its end, then renewed. */
static void test_lifetimes(void **state)
{
    (void)state;
    char tok[256];
    ts_client_token_info info;
    ts_error err;
    ts_client_options o = script_cc_options(TS_CLIENT_AUTH_SECRET_POST);
    o.default_lifetime_s = 100;
    o.refresh_at_pct = 99; /* no renewal ahead: only the end of the window renews */
    o.refresh_jitter_pct = 0;
    ts_client *c = script_client(&o);
    int before = script_requests();
    script_answer_token("{\"access_token\":\"opaque\",\"token_type\":\"Bearer\"}");
    assert_int_equal(script_get(c, tok, sizeof tok, &info, &err), TS_OK);
    assert_true(info.expires_at >= (int64_t)time(NULL) + 99);
    script_clock_advance(69000); /* 69 s: still handed out (100 - 30) */
    assert_int_equal(script_get(c, tok, sizeof tok, &info, &err), TS_OK);
    assert_int_equal(script_requests(), before + 1);
    script_clock_advance(2000); /* 71 s: renewed */
    assert_int_equal(script_get(c, tok, sizeof tok, &info, &err), TS_OK);
    assert_int_equal(script_requests(), before + 2);
    ts_client_free(c);

    /* A JWT whose exp is an hour away, no expires_in. */
    char jwt[512], payload[64], b64[128];
    snprintf(payload, sizeof payload, "{\"exp\":%lld}", (long long)time(NULL) + 3600);
    ts_common__secbuf b = {0};
    ts_client__base64(&b, (const unsigned char *)payload, strlen(payload));
    snprintf(b64, sizeof b64, "%s", b.p);
    ts_common__secbuf_wipe(&b);
    for (char *p = b64; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p == '=' ? '\0' : *p;
    snprintf(jwt, sizeof jwt,
             "{\"access_token\":\"eyJhbGciOiJub25lIn0.%s.c2ln\",\"token_type\":\"Bearer\"}", b64);
    c = script_client(&o);
    script_answer_token(jwt);
    assert_int_equal(script_get(c, tok, sizeof tok, &info, &err), TS_OK);
    assert_true(info.expires_at >= (int64_t)time(NULL) + 3590);
    ts_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_credentials_forms),
        cmocka_unit_test(test_token_exchange_chained),
        cmocka_unit_test(test_lifetimes),
    };
    return cmocka_run_group_tests(tests, script_setup, script_teardown);
}
