/* gateway.test_grpc_server: the gRPC listener (grpc_server.c, grpc_session.c, workers.c) on
 * loopback, driven by an nghttp2 client session over a real socket and a scripted checker
 * (grpc_fake_checker.h): allow and deny as OK calls with a CheckResponse, UNAVAILABLE,
 * DEADLINE_EXCEEDED with a late result dropped, INVALID_ARGUMENT for malformed bytes,
 * RESOURCE_EXHAUSTED for an oversized message and a full queue, UNIMPLEMENTED for another
 * method or encoding, header checks, the header-bytes bound, 64 concurrent calls, the
 * connection bound and draining on stop. Labelled concurrency (ThreadSanitizer runs it). */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "envoy/service/auth/v3/external_auth.pb-c.h"
#include "grpc.h"
#include "grpc_fake_checker.h"
#include "grpc_h2_client.h"
#include "grpc_server.h"
#include "pb_wire.h"

/* ---------------------------------------------------------------------------------------- */
/* Requests and answers                                                                      */

/* A framed CheckRequest for an Envoy-style HTTP request to @p path. */
static void frame_request(call *k, const char *path)
{
    wbuf http = {.n = 0}, w = {.n = 0};
    put_str(&http, 2, "GET");
    put_pair(&http, 3, ":authority", "api.example");
    put_pair(&http, 3, "authorization", "Bearer client-token");
    put_pair(&http, 3, "x-tokensmith-forged", "admin");
    put_str(&http, 4, path);
    put_str(&http, 5, "api.example");
    wrap_http(&w, &http, NULL);
    k->body = malloc(w.n + TS_GATEWAY__GRPC_PREFIX);
    assert_non_null(k->body);
    ts_gateway__grpc_prefix_encode(k->body, (uint32_t)w.n);
    memcpy(k->body + TS_GATEWAY__GRPC_PREFIX, w.b, w.n);
    k->body_len = w.n + TS_GATEWAY__GRPC_PREFIX;
}

static void frame_raw(call *k, const uint8_t *msg, size_t len)
{
    k->body = malloc(len + TS_GATEWAY__GRPC_PREFIX);
    assert_non_null(k->body);
    ts_gateway__grpc_prefix_encode(k->body, (uint32_t)len);
    if (len)
        memcpy(k->body + TS_GATEWAY__GRPC_PREFIX, msg, len);
    k->body_len = len + TS_GATEWAY__GRPC_PREFIX;
}

static Envoy__Service__Auth__V3__CheckResponse *response_of(const call *k)
{
    assert_int_equal(k->http_status, 200);
    assert_int_equal(k->grpc_status, 0);
    assert_true(k->data_len >= TS_GATEWAY__GRPC_PREFIX);
    bool compressed = true;
    uint32_t len = 0;
    assert_int_equal(ts_gateway__grpc_prefix_decode(k->data, &compressed, &len), TS_OK);
    assert_false(compressed);
    assert_int_equal(len, k->data_len - TS_GATEWAY__GRPC_PREFIX);
    Envoy__Service__Auth__V3__CheckResponse *r = envoy__service__auth__v3__check_response__unpack(
        NULL, len, k->data + TS_GATEWAY__GRPC_PREFIX);
    assert_non_null(r);
    assert_non_null(r->status);
    return r;
}

/* ---------------------------------------------------------------------------------------- */
/* Fixture                                                                                   */

typedef struct fixture {
    ts_gateway_config cfg;
    fake_checker fake;
    ts_gateway__grpc_server *srv;
    uint16_t port;
} fixture;

static fixture *fixture_new(unsigned threads, unsigned max_message, unsigned max_header_bytes,
                            unsigned max_connections)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->cfg.grpc_listen, sizeof f->cfg.grpc_listen, "127.0.0.1:0");
    f->cfg.threads = threads;
    f->cfg.limits.max_header_bytes = max_header_bytes;
    f->cfg.limits.max_headers = 100;
    f->cfg.limits.grpc_max_message_bytes = max_message;
    f->cfg.limits.request_timeout_ms = 5000;
    f->cfg.limits.max_connections = max_connections;
    atomic_init(&f->fake.calls, 0);
    atomic_init(&f->fake.finished, 0);
    ts_error err;
    ts_error_clear(&err);
    ts_gateway__checker ck = {fake_check, &f->fake};
    f->srv = ts_gateway__grpc_server_start(&f->cfg, ck, &err);
    if (!f->srv)
        fail_msg("start: %s", err.msg);
    f->port = ts_gateway__grpc_server_port(f->srv);
    assert_true(f->port != 0);
    return f;
}

static void fixture_free(fixture *f)
{
    ts_gateway__grpc_server_stop(f->srv);
    free(f);
}

static void free_calls(call *k, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(k[i].body);
}

/* One call on its own connection. */
static void run_one(fixture *f, call *k)
{
    client c;
    client_open(&c, f->port, k, 1);
    submit(&c, k);
    assert_true(client_run(&c));
    client_close(&c);
}

/* ---------------------------------------------------------------------------------------- */
/* Tests                                                                                     */

static void test_allow(void **state)
{
    (void)state;
    fixture *f = fixture_new(2, 65536, 16384, 16);
    call k = {0};
    frame_request(&k, "/allow/nodes");
    run_one(f, &k);
    Envoy__Service__Auth__V3__CheckResponse *r = response_of(&k);
    assert_int_equal(r->status->code, 0);
    assert_int_equal(r->http_response_case,
                     ENVOY__SERVICE__AUTH__V3__CHECK_RESPONSE__HTTP_RESPONSE_OK_RESPONSE);
    Envoy__Service__Auth__V3__OkHttpResponse *ok = r->ok_response;
    assert_int_equal(ok->n_headers, 2);
    assert_string_equal(ok->headers[0]->header->key, "authorization");
    assert_string_equal(ok->headers[0]->header->value, "Bearer translated-/allow/nodes");
    for (size_t i = 0; i < ok->n_headers; i++)
        assert_int_equal(
            ok->headers[i]->append_action,
            ENVOY__CONFIG__CORE__V3__HEADER_VALUE_OPTION__HEADER_APPEND_ACTION__OVERWRITE_IF_EXISTS_OR_ADD);
    assert_int_equal(ok->n_headers_to_remove, 1);
    assert_string_equal(ok->headers_to_remove[0], "x-tokensmith-forged");
    envoy__service__auth__v3__check_response__free_unpacked(r, NULL);
    assert_int_equal(atomic_load(&f->fake.calls), 1);
    free_calls(&k, 1);
    fixture_free(f);
}

static void test_deny(void **state)
{
    (void)state;
    fixture *f = fixture_new(2, 65536, 16384, 16);
    call k[2] = {{0}, {0}};
    frame_request(&k[0], "/deny401");
    frame_request(&k[1], "/deny403");
    client c;
    client_open(&c, f->port, k, 2);
    submit(&c, &k[0]);
    submit(&c, &k[1]);
    assert_true(client_run(&c));
    client_close(&c);

    Envoy__Service__Auth__V3__CheckResponse *r = response_of(&k[0]);
    assert_int_equal(r->status->code, TS_GATEWAY__GRPC_UNAUTHENTICATED);
    assert_int_equal(r->http_response_case,
                     ENVOY__SERVICE__AUTH__V3__CHECK_RESPONSE__HTTP_RESPONSE_DENIED_RESPONSE);
    assert_int_equal(r->denied_response->status->code, 401);
    assert_non_null(strstr(r->denied_response->body, "authz.deny.v1"));
    assert_int_equal(r->denied_response->n_headers, 1);
    assert_string_equal(r->denied_response->headers[0]->header->key, "www-authenticate");
    envoy__service__auth__v3__check_response__free_unpacked(r, NULL);

    r = response_of(&k[1]);
    assert_int_equal(r->status->code, TS_GATEWAY__GRPC_PERMISSION_DENIED);
    assert_int_equal(r->denied_response->status->code, 403);
    envoy__service__auth__v3__check_response__free_unpacked(r, NULL);
    free_calls(k, 2);
    fixture_free(f);
}

static void test_cannot_decide(void **state)
{
    (void)state;
    fixture *f = fixture_new(2, 65536, 16384, 16);
    call k = {0};
    frame_request(&k, "/unavailable");
    run_one(f, &k);
    assert_int_equal(k.http_status, 200);
    assert_int_equal(k.grpc_status, TS_GATEWAY__GRPC_UNAVAILABLE);
    assert_string_equal(k.grpc_message, "keys unavailable");
    assert_int_equal(k.data_len, 0); /* Trailers-Only */
    free_calls(&k, 1);
    fixture_free(f);
}

static void test_deadline(void **state)
{
    (void)state;
    fixture *f = fixture_new(2, 65536, 16384, 16);
    /* the checker takes 1.5 s, the call allows 100 ms: DEADLINE_EXCEEDED from the connection
     * while the check still runs, never the allow */
    call k[2] = {{0}, {0}};
    frame_request(&k[0], "/sleep/1500");
    k[0].timeout = "100m";
    frame_request(&k[1], "/allow");
    k[1].timeout = "0n"; /* already over when it arrives: the checker is not asked */
    client c;
    client_open(&c, f->port, k, 2);
    submit(&c, &k[0]);
    submit(&c, &k[1]);
    assert_true(client_run(&c));
    assert_int_equal(k[0].grpc_status, TS_GATEWAY__GRPC_DEADLINE_EXCEEDED);
    assert_int_equal(atomic_load(&f->fake.finished), 0);
    assert_int_equal(k[0].data_len, 0);
    assert_int_equal(k[1].grpc_status, TS_GATEWAY__GRPC_DEADLINE_EXCEEDED);

    /* the connection still serves once the late result has come back and been dropped */
    struct timespec ts = {1, 600000000L};
    nanosleep(&ts, NULL);
    call more = {0};
    frame_request(&more, "/allow");
    c.calls = &more;
    c.n = 1;
    c.closed = 0;
    submit(&c, &more);
    assert_true(client_run(&c));
    client_close(&c);
    Envoy__Service__Auth__V3__CheckResponse *r = response_of(&more);
    assert_int_equal(r->status->code, 0);
    envoy__service__auth__v3__check_response__free_unpacked(r, NULL);
    assert_int_equal(atomic_load(&f->fake.calls), 2);
    free_calls(k, 2);
    free_calls(&more, 1);
    fixture_free(f);
}

static void test_malformed(void **state)
{
    (void)state;
    fixture *f = fixture_new(2, 65536, 16384, 16);
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0x0a, 0x01};
    call k = {0};
    frame_raw(&k, junk, sizeof junk);
    run_one(f, &k);
    assert_int_equal(k.grpc_status, TS_GATEWAY__GRPC_INVALID_ARGUMENT);
    assert_int_equal(k.data_len, 0);
    assert_int_equal(atomic_load(&f->fake.calls), 0);
    free_calls(&k, 1);

    /* two messages in one unary call, and a message cut short: framing errors */
    call two = {0};
    frame_request(&two, "/allow");
    uint8_t *both = malloc(two.body_len * 2);
    assert_non_null(both);
    memcpy(both, two.body, two.body_len);
    memcpy(both + two.body_len, two.body, two.body_len);
    free(two.body);
    two.body = both;
    two.body_len *= 2;
    run_one(f, &two);
    assert_int_equal(two.grpc_status, TS_GATEWAY__GRPC_INTERNAL);
    call cut = {0};
    frame_request(&cut, "/allow");
    cut.body_len -= 3;
    run_one(f, &cut);
    assert_int_equal(cut.grpc_status, TS_GATEWAY__GRPC_INTERNAL);
    assert_int_equal(atomic_load(&f->fake.calls), 0);
    free_calls(&two, 1);
    free_calls(&cut, 1);
    fixture_free(f);
}

static void test_oversized(void **state)
{
    (void)state;
    fixture *f = fixture_new(2, 1024, 16384, 16);
    static uint8_t big[200000];
    memset(big, 'a', sizeof big);
    call k = {0};
    frame_raw(&k, big, sizeof big);
    run_one(f, &k);
    assert_int_equal(k.grpc_status, TS_GATEWAY__GRPC_RESOURCE_EXHAUSTED);
    /* exactly at the bound is fine (and then malformed) */
    call edge = {0};
    frame_raw(&edge, big, 1024);
    run_one(f, &edge);
    assert_int_equal(edge.grpc_status, TS_GATEWAY__GRPC_INVALID_ARGUMENT);
    assert_int_equal(atomic_load(&f->fake.calls), 0);
    free_calls(&k, 1);
    free_calls(&edge, 1);
    fixture_free(f);
}

static void test_headers(void **state)
{
    (void)state;
    fixture *f = fixture_new(2, 65536, 1024, 16);
    call k[6] = {{0}};
    for (size_t i = 0; i < 6; i++)
        frame_request(&k[i], "/allow");
    k[0].path = "/envoy.service.auth.v3.Authorization/Other";
    k[1].encoding = "gzip";
    k[2].content_type = "application/json";
    k[3].no_te = true;
    k[4].timeout = "12x";
    char big[2000];
    memset(big, 'b', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    k[5].big_header = big;
    client c;
    client_open(&c, f->port, k, 6);
    for (size_t i = 0; i < 6; i++)
        submit(&c, &k[i]);
    assert_true(client_run(&c));
    client_close(&c);
    assert_int_equal(k[0].grpc_status, TS_GATEWAY__GRPC_UNIMPLEMENTED);
    assert_int_equal(k[1].grpc_status, TS_GATEWAY__GRPC_UNIMPLEMENTED);
    assert_int_equal(k[2].http_status, 415);
    assert_int_equal(k[3].grpc_status, TS_GATEWAY__GRPC_INVALID_ARGUMENT);
    assert_int_equal(k[4].grpc_status, TS_GATEWAY__GRPC_INVALID_ARGUMENT);
    /* over limits.max_header_bytes: the stream is reset, no answer */
    assert_int_equal(k[5].grpc_status, -1);
    assert_int_not_equal(k[5].rst, 0);
    assert_int_equal(atomic_load(&f->fake.calls), 0);
    free_calls(k, 6);
    fixture_free(f);
}

static void test_concurrent(void **state)
{
    (void)state;
    enum { N = 64, CONNS = 4 };
    fixture *f = fixture_new(8, 65536, 16384, 16);
    static call k[N];
    memset(k, 0, sizeof k);
    client c[CONNS];
    for (size_t i = 0; i < CONNS; i++)
        client_open(&c[i], f->port, k + i * (N / CONNS), N / CONNS);
    for (size_t i = 0; i < N; i++) {
        frame_request(&k[i], i % 2 ? "/sleep/20" : "/allow");
        submit(&c[i / (N / CONNS)], &k[i]);
    }
    /* drive the connections in turn, so that every one has calls in flight at once */
    for (int round = 0; round < 3000; round++) {
        size_t done = 0;
        for (size_t i = 0; i < CONNS; i++) {
            assert_int_equal(nghttp2_session_send(c[i].h2), 0);
            struct pollfd p = {c[i].fd, POLLIN, 0};
            if (poll(&p, 1, 1) > 0) {
                uint8_t buf[16384];
                ssize_t n = recv(c[i].fd, buf, sizeof buf, 0);
                assert_true(n > 0);
                assert_int_equal(nghttp2_session_mem_recv(c[i].h2, buf, (size_t)n), n);
            }
            done += c[i].closed;
        }
        if (done == N)
            break;
    }
    for (size_t i = 0; i < N; i++) {
        Envoy__Service__Auth__V3__CheckResponse *r = response_of(&k[i]);
        assert_int_equal(r->status->code, 0);
        envoy__service__auth__v3__check_response__free_unpacked(r, NULL);
    }
    for (size_t i = 0; i < CONNS; i++)
        client_close(&c[i]);
    assert_int_equal(atomic_load(&f->fake.calls), N);
    free_calls(k, N);
    fixture_free(f);
}

static void test_queue_full(void **state)
{
    (void)state;
    /* one worker, a queue of 64: 100 slow calls at once overflow it; every call is answered */
    enum { N = 100 };
    fixture *f = fixture_new(1, 65536, 16384, 16);
    static call k[N];
    memset(k, 0, sizeof k);
    client c;
    client_open(&c, f->port, k, N);
    for (size_t i = 0; i < N; i++) {
        frame_request(&k[i], "/sleep/5");
        submit(&c, &k[i]);
    }
    assert_true(client_run(&c));
    client_close(&c);
    size_t ok = 0, exhausted = 0;
    for (size_t i = 0; i < N; i++) {
        if (k[i].grpc_status == 0)
            ok++;
        else if (k[i].grpc_status == TS_GATEWAY__GRPC_RESOURCE_EXHAUSTED)
            exhausted++;
    }
    assert_int_equal(ok + exhausted, N);
    assert_true(exhausted > 0);
    assert_true(ok >= 64);
    free_calls(k, N);
    fixture_free(f);
}

static void test_connection_bound(void **state)
{
    (void)state;
    fixture *f = fixture_new(2, 65536, 16384, 2);
    client a, b;
    call ka = {0}, kb = {0}, kc = {0};
    frame_request(&ka, "/allow");
    frame_request(&kb, "/allow");
    frame_request(&kc, "/allow");
    client_open(&a, f->port, &ka, 1);
    submit(&a, &ka);
    assert_true(client_run(&a));
    client_open(&b, f->port, &kb, 1);
    submit(&b, &kb);
    assert_true(client_run(&b));
    /* a third connection is closed at once */
    client third;
    client_open(&third, f->port, &kc, 1);
    submit(&third, &kc);
    assert_false(client_run(&third));
    client_close(&third);
    client_close(&a);
    client_close(&b);
    free_calls(&ka, 1);
    free_calls(&kb, 1);
    free_calls(&kc, 1);
    fixture_free(f);
}

static void *stop_later(void *arg)
{
    fixture *f = arg;
    struct timespec ts = {0, 100000000L};
    nanosleep(&ts, NULL);
    ts_gateway__grpc_server_stop(f->srv);
    return NULL;
}

static void test_stop_drains(void **state)
{
    (void)state;
    fixture *f = fixture_new(2, 65536, 16384, 16);
    call k = {0};
    frame_request(&k, "/sleep/400");
    client c;
    client_open(&c, f->port, &k, 1);
    submit(&c, &k);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, stop_later, f), 0);
    /* stop comes while the call is with the checker: GOAWAY, and the call is still answered */
    assert_true(client_run(&c));
    pthread_join(t, NULL);
    assert_true(c.goaway);
    Envoy__Service__Auth__V3__CheckResponse *r = response_of(&k);
    assert_int_equal(r->status->code, 0);
    envoy__service__auth__v3__check_response__free_unpacked(r, NULL);
    client_close(&c);
    free_calls(&k, 1);
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allow),         cmocka_unit_test(test_deny),
        cmocka_unit_test(test_cannot_decide), cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_malformed),     cmocka_unit_test(test_oversized),
        cmocka_unit_test(test_headers),       cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_queue_full),    cmocka_unit_test(test_connection_bound),
        cmocka_unit_test(test_stop_drains),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
