/* gateway.test_grpc_check: the ext_authz messages of grpc_check.c.
 *  - CheckRequest -> input: Envoy-shaped requests (headers map and header_map), the field
 *    numbers checked against bytes written here by hand from the wire format (not by
 *    protobuf-c), unknown fields tolerated and kept, malformed calls refused, the arena cap;
 *  - verdict -> CheckResponse: a deny always carries status.code (16, 7, 3), allowed headers
 *    carry append_action OVERWRITE_IF_EXISTS_OR_ADD and append = BoolValue{false}; the bytes
 *    compared with hand-written ones;
 *  - the verdict's own bounds (verdict.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "envoy/service/auth/v3/external_auth.pb-c.h"
#include "grpc.h"
#include "pb_wire.h"

static ts_gateway__grpc_request *decode_ok(const wbuf *w)
{
    ts_gateway__grpc_request *r = NULL;
    ts_error err;
    ts_error_clear(&err);
    ts_status st = ts_gateway__grpc_check_decode(w->b, w->n, &r, &err);
    if (st != TS_OK)
        fail_msg("decode: %s: %s", err.where, err.msg);
    return r;
}

static ts_status decode_status(const void *p, size_t n, ts_error *err)
{
    ts_gateway__grpc_request *r = NULL;
    ts_status st = ts_gateway__grpc_check_decode(p, n, &r, err);
    assert_true((st == TS_OK) == (r != NULL));
    ts_gateway__grpc_request_free(r);
    return st;
}

static bool str_is(ts_gateway__str s, const char *want)
{
    return s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0 && s.ptr[s.len] == '\0';
}

static const ts_gateway__header *find(const ts_gateway__input *in, const char *name)
{
    for (size_t i = 0; i < in->n_headers; i++)
        if (str_is(in->headers[i].name, name))
            return &in->headers[i];
    return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Requests                                                                                  */

/* What Envoy sends (GRPC §3, §5): pseudo-headers in the map, path with its query. */
static void envoy_http(wbuf *http, const char *authorization)
{
    http->n = 0;
    put_str(http, 1, "7362");
    put_str(http, 2, "GET");
    put_pair(http, 3, ":authority", "api.example");
    put_pair(http, 3, ":method", "GET");
    put_pair(http, 3, ":path", "/nodes/a%2Fb?x=1&y=2");
    put_pair(http, 3, ":scheme", "https");
    put_pair(http, 3, "x-request-id", "3b1c7f4e-9d0a-4c55-8e1e-2f5d1c0b7a11");
    put_pair(http, 3, "user-agent", "curl/8.0.1");
    if (authorization)
        put_pair(http, 3, "authorization", authorization);
    put_str(http, 4, "/nodes/a%2Fb?x=1&y=2");
    put_str(http, 5, "api.example");
    put_str(http, 6, "https");
    put_uint(http, 9, 52);
    put_str(http, 10, "HTTP/1.1");
}

static void test_decode_envoy_request(void **state)
{
    (void)state;
    wbuf http, w;
    envoy_http(&http, "Bearer eyJhbGciOiJFUzI1NiJ9.e30.c2ln");
    wrap_http(&w, &http, NULL);
    ts_gateway__grpc_request *r = decode_ok(&w);
    const ts_gateway__input *in = ts_gateway__grpc_request_input(r);
    assert_int_equal(in->front, TS_GATEWAY__FRONT_GRPC);
    assert_true(str_is(in->method, "GET"));
    assert_true(str_is(in->host, "api.example"));
    assert_true(str_is(in->path, "/nodes/a%2Fb?x=1&y=2")); /* raw, query kept */
    assert_int_equal(in->n_headers, 3);                    /* pseudo-headers left out */
    assert_null(find(in, ":path"));
    assert_true(str_is(find(in, "authorization")->value, "Bearer eyJhbGciOiJFUzI1NiJ9.e30.c2ln"));
    assert_true(str_is(find(in, "user-agent")->value, "curl/8.0.1"));
    assert_false(in->authorization_repeated);
    assert_true(str_is(in->peer_address, "10.0.0.1"));
    assert_int_equal(in->peer_port, 443);
    ts_gateway__grpc_request_free(r);
}

static void test_decode_header_map(void **state)
{
    (void)state;
    /* encode_raw_headers: HeaderMap{HeaderValue{key, raw_value}} in field 13 */
    wbuf http = {.n = 0}, map = {.n = 0}, w;
    static const char *const lines[][2] = {{":method", "POST"},
                                           {":path", "/x"},
                                           {"accept", "*/*"},
                                           {"cookie", "a=1"},
                                           {"cookie", "b=2"}};
    for (size_t i = 0; i < 5; i++) {
        wbuf hv = {.n = 0};
        put_str(&hv, 1, lines[i][0]);
        put_str(&hv, 3, lines[i][1]);
        put_msg(&map, 1, &hv);
    }
    put_str(&http, 2, "POST");
    put_str(&http, 4, "/x");
    put_msg(&http, 13, &map);
    wrap_http(&w, &http, NULL);
    ts_gateway__grpc_request *r = decode_ok(&w);
    const ts_gateway__input *in = ts_gateway__grpc_request_input(r);
    assert_int_equal(in->n_headers, 3);
    assert_true(str_is(in->headers[0].name, "accept"));
    assert_true(str_is(in->headers[0].value, "*/*"));
    assert_true(str_is(in->headers[1].value, "a=1"));
    assert_true(str_is(in->headers[2].value, "b=2"));
    assert_true(str_is(in->host, ""));
    assert_false(in->authorization_repeated);
    ts_gateway__grpc_request_free(r);
}

static void test_authorization_repeated(void **state)
{
    (void)state;
    wbuf http, w;
    /* Envoy joins two Authorization lines with ',' in the headers map */
    envoy_http(&http, "Bearer a.b.c,Bearer d.e.f");
    wrap_http(&w, &http, NULL);
    ts_gateway__grpc_request *r = decode_ok(&w);
    assert_true(ts_gateway__grpc_request_input(r)->authorization_repeated);
    ts_gateway__grpc_request_free(r);

    /* two entries (a direct client; the map's keys are not unique on the wire) */
    envoy_http(&http, "Bearer a.b.c");
    put_pair(&http, 3, "Authorization", "Bearer d.e.f");
    wrap_http(&w, &http, NULL);
    r = decode_ok(&w);
    assert_true(ts_gateway__grpc_request_input(r)->authorization_repeated);
    ts_gateway__grpc_request_free(r);

    /* header_map: two lines */
    wbuf map = {.n = 0}, hv = {.n = 0};
    put_str(&hv, 1, "authorization");
    put_str(&hv, 3, "Bearer a.b.c");
    put_msg(&map, 1, &hv);
    put_msg(&map, 1, &hv);
    http.n = 0;
    put_str(&http, 2, "GET");
    put_str(&http, 4, "/");
    put_msg(&http, 13, &map);
    wrap_http(&w, &http, NULL);
    r = decode_ok(&w);
    assert_true(ts_gateway__grpc_request_input(r)->authorization_repeated);
    assert_int_equal(ts_gateway__grpc_request_input(r)->n_headers, 2);
    ts_gateway__grpc_request_free(r);
}

/* Fields our trimmed .proto files leave out (newer Envoy: route_metadata_context 13, raw_body
 * 12, Request.time 1, and a field number nobody has used yet) decode, and protobuf-c keeps them
 * as unknown fields: re-packing gives the same bytes. */
static void test_unknown_fields(void **state)
{
    (void)state;
    wbuf http, extra = {.n = 0}, meta = {.n = 0}, w;
    envoy_http(&http, "Bearer a.b.c");
    put_str(&http, 12, "raw body bytes");
    put_str(&http, 11, "body");
    put_pair(&meta, 1, "envoy.filters.http.rbac", "x");
    put_msg(&extra, 13, &meta);
    put_msg(&extra, 11, &meta);
    put_uint(&extra, 4000, 12345);
    wrap_http(&w, &http, &extra);
    put_uint(&w, 77, 1); /* unknown at the top level too */

    ts_gateway__grpc_request *r = decode_ok(&w);
    const ts_gateway__input *in = ts_gateway__grpc_request_input(r);
    assert_true(str_is(in->method, "GET"));
    assert_int_equal(in->n_headers, 3);
    ts_gateway__grpc_request_free(r);

    Envoy__Service__Auth__V3__CheckRequest *m =
        envoy__service__auth__v3__check_request__unpack(NULL, w.n, w.b);
    assert_non_null(m);
    assert_int_equal(m->base.n_unknown_fields, 1);
    assert_int_equal(m->attributes->base.n_unknown_fields, 3);
    assert_int_equal(m->attributes->request->http->base.n_unknown_fields, 2);
    uint8_t again[sizeof w.b];
    size_t n = envoy__service__auth__v3__check_request__pack(m, again);
    assert_int_equal(n, w.n);
    assert_memory_equal(again, w.b, n);
    envoy__service__auth__v3__check_request__free_unpacked(m, NULL);
}

static void test_refused(void **state)
{
    (void)state;
    ts_error err;
    ts_error_clear(&err);
    static const uint8_t garbage[] = {0xff, 0xff, 0xff};
    assert_int_equal(decode_status(garbage, sizeof garbage, &err), TS_EPARSE);
    static const uint8_t truncated[] = {0x0a, 0x10, 0x22};
    assert_int_equal(decode_status(truncated, sizeof truncated, &err), TS_EPARSE);
    static const uint8_t wrong_type[] = {0x08, 0x01}; /* attributes as a varint */
    assert_int_equal(decode_status(wrong_type, sizeof wrong_type, &err), TS_EPARSE);

    /* an empty CheckRequest, attributes without request, request without http */
    assert_int_equal(decode_status("", 0, &err), TS_EINVAL);
    assert_string_equal(err.where, "attributes.request.http");
    static const uint8_t no_request[] = {0x0a, 0x00};
    assert_int_equal(decode_status(no_request, sizeof no_request, &err), TS_EINVAL);
    static const uint8_t no_http[] = {0x0a, 0x02, 0x22, 0x00};
    assert_int_equal(decode_status(no_http, sizeof no_http, &err), TS_EINVAL);

    /* the shapes the decision core must never see */
    static const struct {
        const char *k, *v;
        const char *where;
    } bad[] = {
        {"x-a", "sek\rrit", "attributes.request.http.headers"},
        {"x-a", "sek\nrit", "attributes.request.http.headers"},
        {"x a", "sekrit", "attributes.request.http.headers"},
        {"", "sekrit", "attributes.request.http.headers"},
        {"x:a", "sekrit", "attributes.request.http.headers"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        wbuf http, w;
        envoy_http(&http, NULL);
        put_pair(&http, 3, bad[i].k, bad[i].v);
        wrap_http(&w, &http, NULL);
        assert_int_equal(decode_status(w.b, w.n, &err), TS_EINVAL);
        assert_string_equal(err.where, bad[i].where);
        assert_null(strstr(err.msg, bad[i].v)); /* never a value in the message */
    }

    /* a NUL byte inside a string: protobuf-c would silently shorten it */
    static const struct {
        unsigned field;
        const char *where;
    } nul[] = {{2, "attributes.request.http.method"},
               {4, "attributes.request.http.path"},
               {5, "attributes.request.http.host"}};
    for (size_t i = 0; i < 3; i++) {
        wbuf http = {.n = 0}, w;
        put_bytes(&http, nul[i].field, "/ok\0/../admin", 13);
        wrap_http(&w, &http, NULL);
        assert_int_equal(decode_status(w.b, w.n, &err), TS_EINVAL);
        assert_string_equal(err.where, nul[i].where);
    }
    {
        wbuf http, e = {.n = 0}, w;
        envoy_http(&http, NULL);
        put_str(&e, 1, "authorization");
        put_bytes(&e, 2, "Bearer a.b.c\0junk", 17);
        put_msg(&http, 3, &e);
        wrap_http(&w, &http, NULL);
        assert_int_equal(decode_status(w.b, w.n, &err), TS_EINVAL);
    }

    /* both header encodings; a header_map line with value and raw_value; NUL in raw_value */
    wbuf map = {.n = 0}, hv = {.n = 0}, http, w;
    put_str(&hv, 1, "accept");
    put_str(&hv, 3, "*/*");
    put_msg(&map, 1, &hv);
    envoy_http(&http, NULL);
    put_msg(&http, 13, &map);
    wrap_http(&w, &http, NULL);
    assert_int_equal(decode_status(w.b, w.n, &err), TS_EINVAL);
    assert_string_equal(err.where, "attributes.request.http");

    map.n = hv.n = 0;
    put_str(&hv, 1, "accept");
    put_str(&hv, 2, "*/*");
    put_str(&hv, 3, "*/*");
    put_msg(&map, 1, &hv);
    http.n = 0;
    put_msg(&http, 13, &map);
    wrap_http(&w, &http, NULL);
    assert_int_equal(decode_status(w.b, w.n, &err), TS_EINVAL);

    map.n = hv.n = 0;
    put_str(&hv, 1, "accept");
    put_bytes(&hv, 3, "a\0b", 3);
    put_msg(&map, 1, &hv);
    http.n = 0;
    put_msg(&http, 13, &map);
    wrap_http(&w, &http, NULL);
    assert_int_equal(decode_status(w.b, w.n, &err), TS_EINVAL);
}

/* One unpack can allocate at most max(8 x the message, 16 KiB): many tiny fields cost far more
 * than their bytes (a 2-byte empty HeaderValue is ~100 bytes decoded) and are refused; an
 * Envoy-shaped request and a header flood of ordinary headers stay well inside. */
static void test_arena_cap(void **state)
{
    (void)state;
    static wbuf http, map, w; /* static: large */
    http.n = map.n = 0;
    for (size_t i = 0; i < 2500; i++) {
        map.b[map.n++] = 0x0a; /* HeaderMap.headers, an empty HeaderValue */
        map.b[map.n++] = 0x00;
    }
    put_msg(&http, 13, &map);
    wrap_http(&w, &http, NULL);
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(decode_status(w.b, w.n, &err), TS_ELIMIT);
    assert_non_null(strstr(err.msg, "times the message"));

    /* unknown fields are copied too: 3000 empty unknown fields at the top level */
    w.n = 0;
    for (size_t i = 0; i < 3000; i++) {
        w.b[w.n++] = 0x12; /* field 2, length-delimited, empty */
        w.b[w.n++] = 0x00;
    }
    assert_int_equal(decode_status(w.b, w.n, &err), TS_ELIMIT);

    envoy_http(&http, "Bearer eyJhbGciOiJFUzI1NiJ9.e30.c2ln");
    wrap_http(&w, &http, NULL);
    ts_gateway__grpc_request *r = decode_ok(&w);
    assert_true(ts_gateway__grpc_request_arena_used(r) <= TS_GATEWAY__PB_ARENA_MIN);
    ts_gateway__grpc_request_free(r);

    http.n = 0;
    put_str(&http, 2, "GET");
    put_str(&http, 4, "/");
    for (size_t i = 0; i < 400; i++) { /* over the floor: the factor bounds it */
        char k[32], v[48];
        snprintf(k, sizeof k, "x-flood-%zu", i);
        snprintf(v, sizeof v, "value-%zu-abcdefghijklmnop", i);
        put_pair(&http, 3, k, v);
    }
    wrap_http(&w, &http, NULL);
    assert_true(w.n * TS_GATEWAY__PB_ARENA_FACTOR > TS_GATEWAY__PB_ARENA_MIN);
    r = decode_ok(&w);
    assert_int_equal(ts_gateway__grpc_request_input(r)->n_headers, 400);
    assert_true(ts_gateway__grpc_request_arena_used(r) <= w.n * TS_GATEWAY__PB_ARENA_FACTOR);
    ts_gateway__grpc_request_free(r);
}

/* ---------------------------------------------------------------------------------------- */
/* Responses                                                                                 */

static void add_header(ts_gateway__verdict *v, const char *n, const char *val)
{
    assert_int_equal(ts_gateway__verdict_add_header(v, n, strlen(n), val, strlen(val), NULL),
                     TS_OK);
}

static Envoy__Service__Auth__V3__CheckResponse *encode_unpack(const ts_gateway__verdict *v,
                                                              uint8_t **bytes, size_t *len)
{
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_gateway__grpc_check_encode(v, bytes, len, &err), TS_OK);
    assert_true(*len >= TS_GATEWAY__GRPC_PREFIX);
    bool compressed = true;
    uint32_t n = 0;
    assert_int_equal(ts_gateway__grpc_prefix_decode(*bytes, &compressed, &n), TS_OK);
    assert_false(compressed);
    assert_int_equal(n, *len - TS_GATEWAY__GRPC_PREFIX);
    Envoy__Service__Auth__V3__CheckResponse *m =
        envoy__service__auth__v3__check_response__unpack(NULL, n, *bytes + TS_GATEWAY__GRPC_PREFIX);
    assert_non_null(m);
    return m;
}

static void assert_set_option(const Envoy__Config__Core__V3__HeaderValueOption *o, const char *name,
                              const char *value)
{
    assert_string_equal(o->header->key, name);
    assert_string_equal(o->header->value, value);
    assert_int_equal(
        o->append_action,
        ENVOY__CONFIG__CORE__V3__HEADER_VALUE_OPTION__HEADER_APPEND_ACTION__OVERWRITE_IF_EXISTS_OR_ADD);
    assert_int_equal(o->append_action, 2);
    assert_non_null(o->append); /* present, so that older Envoy reads "set" */
    assert_false(o->append->value);
}

static void test_allow(void **state)
{
    (void)state;
    ts_gateway__verdict v;
    ts_gateway__verdict_init(&v);
    add_header(&v, "authorization", "Bearer internal.jwt.sig");
    add_header(&v, "x-tokensmith-subject", "alice");
    assert_int_equal(ts_gateway__verdict_add_remove(&v, "x-tokensmith-roles", 18, NULL), TS_OK);
    ts_gateway__verdict_decide(&v, TS_GATEWAY__ALLOW, 0, "allowed");
    assert_int_equal(ts_gateway__grpc_check_call_status(&v), TS_GATEWAY__GRPC_OK);

    uint8_t *bytes;
    size_t len;
    Envoy__Service__Auth__V3__CheckResponse *m = encode_unpack(&v, &bytes, &len);
    assert_non_null(m->status); /* explicit, even though code 0 */
    assert_int_equal(m->status->code, 0);
    assert_int_equal(m->http_response_case,
                     ENVOY__SERVICE__AUTH__V3__CHECK_RESPONSE__HTTP_RESPONSE_OK_RESPONSE);
    assert_int_equal(m->ok_response->n_headers, 2);
    assert_set_option(m->ok_response->headers[0], "authorization", "Bearer internal.jwt.sig");
    assert_set_option(m->ok_response->headers[1], "x-tokensmith-subject", "alice");
    assert_int_equal(m->ok_response->n_headers_to_remove, 1);
    assert_string_equal(m->ok_response->headers_to_remove[0], "x-tokensmith-roles");
    envoy__service__auth__v3__check_response__free_unpacked(m, NULL);
    ts_gateway__grpc_bytes_free(bytes, len);
    ts_gateway__verdict_cleanup(&v);
}

/* The exact bytes of an allow, written from the wire format and the field numbers of
 * ext-authz-grpc.md §4: what an Envoy (or grpc-js with the upstream .proto files) decodes. */
static void test_allow_bytes(void **state)
{
    (void)state;
    ts_gateway__verdict v;
    ts_gateway__verdict_init(&v);
    add_header(&v, "authorization", "Bearer t");
    assert_int_equal(ts_gateway__verdict_add_remove(&v, "x-tokensmith-subject", 20, NULL), TS_OK);
    ts_gateway__verdict_decide(&v, TS_GATEWAY__ALLOW, 0, NULL);

    wbuf hv = {.n = 0}, opt = {.n = 0}, ok = {.n = 0}, resp = {.n = 0}, empty = {.n = 0};
    put_str(&hv, 1, "authorization");        /* HeaderValue.key */
    put_str(&hv, 2, "Bearer t");             /* HeaderValue.value */
    put_msg(&opt, 1, &hv);                   /* HeaderValueOption.header */
    put_msg(&opt, 2, &empty);                /* .append = BoolValue{false}: present, empty */
    put_uint(&opt, 3, 2);                    /* .append_action = OVERWRITE_IF_EXISTS_OR_ADD */
    put_msg(&ok, 2, &opt);                   /* OkHttpResponse.headers */
    put_str(&ok, 5, "x-tokensmith-subject"); /* .headers_to_remove */
    put_msg(&resp, 1, &empty);               /* CheckResponse.status = Status{code 0} */
    put_msg(&resp, 3, &ok);                  /* .ok_response */

    uint8_t *bytes;
    size_t len;
    assert_int_equal(ts_gateway__grpc_check_encode(&v, &bytes, &len, NULL), TS_OK);
    assert_int_equal(len, TS_GATEWAY__GRPC_PREFIX + resp.n);
    const uint8_t prefix[] = {0, 0, 0, 0, (uint8_t)resp.n};
    assert_memory_equal(bytes, prefix, sizeof prefix);
    assert_memory_equal(bytes + TS_GATEWAY__GRPC_PREFIX, resp.b, resp.n);
    ts_gateway__grpc_bytes_free(bytes, len);
    ts_gateway__verdict_cleanup(&v);
}

static void test_deny(void **state)
{
    (void)state;
    static const struct {
        unsigned http;
        int32_t code;
        unsigned sent;
    } cases[] = {
        {401, 16, 401}, {403, 7, 403}, {400, 3, 400}, {404, 7, 404},
        {302, 7, 403},  {200, 7, 403}, {0, 7, 403},   {700, 7, 403},
    };
    const char body[] = "{\"type\":\"authz.deny.v1\",\"error\":\"invalid_token\"}";
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ts_gateway__verdict v;
        ts_gateway__verdict_init(&v);
        add_header(&v, "www-authenticate", "Bearer error=\"invalid_token\"");
        add_header(&v, "content-type", "application/json");
        assert_int_equal(ts_gateway__verdict_set_body(&v, body, strlen(body), NULL), TS_OK);
        ts_gateway__verdict_decide(&v, TS_GATEWAY__DENY, cases[i].http, "denied");
        assert_int_equal(ts_gateway__grpc_check_call_status(&v), TS_GATEWAY__GRPC_OK);

        uint8_t *bytes;
        size_t len;
        Envoy__Service__Auth__V3__CheckResponse *m = encode_unpack(&v, &bytes, &len);
        assert_non_null(m->status);
        assert_int_equal(m->status->code, cases[i].code);
        assert_int_equal(m->http_response_case,
                         ENVOY__SERVICE__AUTH__V3__CHECK_RESPONSE__HTTP_RESPONSE_DENIED_RESPONSE);
        assert_non_null(m->denied_response->status);
        assert_int_equal(m->denied_response->status->code, cases[i].sent);
        assert_string_equal(m->denied_response->body, body);
        assert_int_equal(m->denied_response->n_headers, 2);
        assert_set_option(m->denied_response->headers[0], "www-authenticate",
                          "Bearer error=\"invalid_token\"");
        assert_set_option(m->denied_response->headers[1], "content-type", "application/json");
        envoy__service__auth__v3__check_response__free_unpacked(m, NULL);
        ts_gateway__grpc_bytes_free(bytes, len);
        ts_gateway__verdict_cleanup(&v);
    }
}

/* A deny without headers or body still says no on the wire: status{code 16} and a denied
 * status are present (proto3 would drop neither, but a missing status allows). */
static void test_deny_bytes(void **state)
{
    (void)state;
    ts_gateway__verdict v;
    ts_gateway__verdict_init(&v);
    ts_gateway__verdict_decide(&v, TS_GATEWAY__DENY, 401, NULL);
    wbuf st = {.n = 0}, hs = {.n = 0}, denied = {.n = 0}, resp = {.n = 0};
    put_uint(&st, 1, 16);       /* Status.code = UNAUTHENTICATED */
    put_uint(&hs, 1, 401);      /* HttpStatus.code = Unauthorized */
    put_msg(&denied, 1, &hs);   /* DeniedHttpResponse.status */
    put_msg(&resp, 1, &st);     /* CheckResponse.status */
    put_msg(&resp, 2, &denied); /* .denied_response */
    uint8_t *bytes;
    size_t len;
    assert_int_equal(ts_gateway__grpc_check_encode(&v, &bytes, &len, NULL), TS_OK);
    assert_int_equal(len, TS_GATEWAY__GRPC_PREFIX + resp.n);
    assert_memory_equal(bytes + TS_GATEWAY__GRPC_PREFIX, resp.b, resp.n);
    ts_gateway__grpc_bytes_free(bytes, len);
    ts_gateway__verdict_cleanup(&v);
}

static void test_cannot_decide(void **state)
{
    (void)state;
    ts_gateway__verdict v;
    ts_gateway__verdict_init(&v); /* a fresh verdict decides nothing */
    assert_int_equal(v.decision, TS_GATEWAY__CANNOT_DECIDE);
    assert_int_equal(ts_gateway__grpc_check_call_status(&v), TS_GATEWAY__GRPC_UNAVAILABLE);
    static uint8_t sentinel[1];
    uint8_t *bytes = sentinel;
    size_t len = 1;
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_gateway__grpc_check_encode(&v, &bytes, &len, &err), TS_EINVAL);
    assert_null(bytes);
    assert_int_equal(len, 0);
    v.decision = (ts_gateway__decision)42;
    assert_int_equal(ts_gateway__grpc_check_call_status(&v), TS_GATEWAY__GRPC_UNAVAILABLE);
    assert_int_equal(ts_gateway__grpc_check_encode(&v, &bytes, &len, &err), TS_EINVAL);
}

static void test_verdict_bounds(void **state)
{
    (void)state;
    ts_gateway__verdict v;
    ts_gateway__verdict_init(&v);
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_gateway__verdict_add_header(&v, "x-a", 3, "a\r\nb", 4, &err), TS_EINVAL);
    assert_int_equal(ts_gateway__verdict_add_header(&v, "x a", 3, "v", 1, &err), TS_EINVAL);
    assert_int_equal(ts_gateway__verdict_add_header(&v, ":path", 5, "/", 1, &err), TS_EINVAL);
    assert_int_equal(ts_gateway__verdict_add_header(&v, "", 0, "v", 1, &err), TS_EINVAL);
    assert_int_equal(ts_gateway__verdict_add_header(&v, "x-a", 3, "a\0b", 3, &err), TS_EINVAL);
    assert_int_equal(ts_gateway__verdict_add_remove(&v, "x\ny", 3, &err), TS_EINVAL);
    assert_int_equal(ts_gateway__verdict_set_body(&v, "a\0b", 3, &err), TS_EINVAL);
    static char big[TS_GATEWAY__VERDICT_MAX_BODY + 1];
    memset(big, 'a', sizeof big);
    assert_int_equal(ts_gateway__verdict_set_body(&v, big, sizeof big, &err), TS_ELIMIT);
    assert_int_equal(
        ts_gateway__verdict_add_header(&v, "x-a", 3, big, TS_GATEWAY__VERDICT_MAX_VALUE + 1, &err),
        TS_ELIMIT);
    for (unsigned i = 0; i < TS_GATEWAY__VERDICT_MAX_HEADERS; i++)
        add_header(&v, "x-a", "v");
    assert_int_equal(ts_gateway__verdict_add_header(&v, "x-a", 3, "v", 1, &err), TS_ELIMIT);
    for (unsigned i = 0; i < TS_GATEWAY__VERDICT_MAX_REMOVE; i++)
        assert_int_equal(ts_gateway__verdict_add_remove(&v, "x-b", 3, &err), TS_OK);
    assert_int_equal(ts_gateway__verdict_add_remove(&v, "x-b", 3, &err), TS_ELIMIT);
    ts_gateway__verdict_cleanup(&v);
    assert_int_equal(v.n_headers, 0);
    assert_int_equal(v.n_remove, 0);
    assert_int_equal(v.decision, TS_GATEWAY__CANNOT_DECIDE);
}

/* Envoy sends up to 100 request headers by default: 100 short ones ("h0: 1") cost ~200 bytes
 * each decoded, far over 8 times their wire size; the arena's floor must still hold them. */
static void test_arena_short_headers(void **state)
{
    (void)state;
    static wbuf http, w;
    http.n = 0;
    put_str(&http, 2, "GET");
    put_str(&http, 4, "/");
    for (size_t i = 0; i < 100; i++) {
        char k[8];
        snprintf(k, sizeof k, "h%zu", i);
        put_pair(&http, 3, k, "1");
    }
    wrap_http(&w, &http, NULL);
    ts_gateway__grpc_request *r = decode_ok(&w);
    assert_int_equal(ts_gateway__grpc_request_input(r)->n_headers, 100);
    ts_gateway__grpc_request_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_envoy_request),
        cmocka_unit_test(test_decode_header_map),
        cmocka_unit_test(test_authorization_repeated),
        cmocka_unit_test(test_unknown_fields),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_arena_cap),
        cmocka_unit_test(test_allow),
        cmocka_unit_test(test_allow_bytes),
        cmocka_unit_test(test_deny),
        cmocka_unit_test(test_arena_short_headers),
        cmocka_unit_test(test_deny_bytes),
        cmocka_unit_test(test_cannot_decide),
        cmocka_unit_test(test_verdict_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
