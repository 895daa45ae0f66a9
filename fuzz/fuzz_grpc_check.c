/* libFuzzer target: the gateway's gRPC messages (tokenservice/gateway/src/grpc_check.c), i.e.
 * what any client of the gateway's gRPC port can put in a CheckRequest. Deterministic: pure
 * functions, no state between inputs, no clock, no I/O.
 *
 * The input is a serialized CheckRequest (the seeds are Envoy-shaped ones made with protobuf-c
 * by tokenservice/gateway/tests/make_grpc_corpus.c). Checked beyond "no crash":
 *  - decoding is a known status, the same on a second call, and within the arena's cap;
 *  - a decoded input keeps the contract of gw_internal.h: strings end with a NUL at len and hold
 *    none before it, header names are non-empty tokens and never pseudo-headers, values hold no
 *    CR or LF, and two Authorization headers always set authorization_repeated;
 *  - a verdict made from the input (allow with the input's headers, or a deny whose status
 *    comes from the input's size) encodes, and its CheckResponse, unpacked again, always has a
 *    status: code 0 with ok_response headers set with append_action 2 and append false, or the
 *    deny's code (16, 7, 3) with denied_response; it never allows what was a deny. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "envoy/service/auth/v3/external_auth.pb-c.h"
#include "grpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(ts_gateway__str s)
{
    if (!s.ptr || s.ptr[s.len] != '\0' || strlen(s.ptr) != s.len)
        __builtin_trap();
}

static bool is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

static void check_input(const ts_gateway__input *in)
{
    if (in->front != TS_GATEWAY__FRONT_GRPC)
        __builtin_trap();
    check_str(in->method);
    check_str(in->host);
    check_str(in->path);
    check_str(in->peer_address);
    size_t authorization = 0;
    for (size_t i = 0; i < in->n_headers; i++) {
        const ts_gateway__header *h = &in->headers[i];
        check_str(h->name);
        check_str(h->value);
        if (h->name.len == 0)
            __builtin_trap();
        for (size_t j = 0; j < h->name.len; j++)
            if (!is_tchar((unsigned char)h->name.ptr[j]))
                __builtin_trap();
        if (memchr(h->value.ptr, '\r', h->value.len) || memchr(h->value.ptr, '\n', h->value.len))
            __builtin_trap();
        if (h->name.len == 13 && strncasecmp(h->name.ptr, "authorization", 13) == 0)
            authorization++;
    }
    if (authorization > 1 && !in->authorization_repeated)
        __builtin_trap();
}

/* A verdict from the input: deny when the input's path length is odd, else allow with the
 * input's headers that the verdict accepts and removal of its x-tokensmith-* names. */
static void make_verdict(const ts_gateway__input *in, ts_gateway__verdict *v)
{
    static const unsigned deny_status[] = {400, 401, 403, 404, 302, 0};
    if (in->path.len % 2) {
        unsigned st = deny_status[in->n_headers % 6];
        ts_gateway__verdict_decide(v, TS_GATEWAY__DENY, st, "fuzz");
        if (ts_gateway__verdict_set_body(v, in->path.ptr, in->path.len, NULL) != TS_OK)
            return;
    } else {
        ts_gateway__verdict_decide(v, TS_GATEWAY__ALLOW, 0, "fuzz");
    }
    for (size_t i = 0; i < in->n_headers; i++) {
        const ts_gateway__header *h = &in->headers[i];
        if (ts_gateway__verdict_add_header(v, h->name.ptr, h->name.len, h->value.ptr, h->value.len,
                                           NULL) != TS_OK) {
            /* refused: a value outside visible ASCII, or past the bounds */
        }
        if (h->name.len > 13 && strncasecmp(h->name.ptr, "x-tokensmith-", 13) == 0 &&
            ts_gateway__verdict_add_remove(v, h->name.ptr, h->name.len, NULL) != TS_OK) {
            /* past the bound */
        }
    }
}

static void check_options(Envoy__Config__Core__V3__HeaderValueOption **o, size_t n,
                          const ts_gateway__verdict *v)
{
    if (n != v->n_headers)
        __builtin_trap();
    for (size_t i = 0; i < n; i++) {
        if (!o[i]->header || strcmp(o[i]->header->key, v->headers[i].name) != 0 ||
            strcmp(o[i]->header->value, v->headers[i].value) != 0)
            __builtin_trap();
        if (o[i]->append_action != 2 || !o[i]->append || o[i]->append->value)
            __builtin_trap();
    }
}

static void check_response(const ts_gateway__verdict *v)
{
    uint8_t *out = NULL;
    size_t len = 0;
    if (ts_gateway__grpc_check_encode(v, &out, &len, NULL) != TS_OK)
        __builtin_trap();
    bool compressed;
    uint32_t n;
    if (len < TS_GATEWAY__GRPC_PREFIX ||
        ts_gateway__grpc_prefix_decode(out, &compressed, &n) != TS_OK || compressed ||
        n != len - TS_GATEWAY__GRPC_PREFIX)
        __builtin_trap();
    Envoy__Service__Auth__V3__CheckResponse *m =
        envoy__service__auth__v3__check_response__unpack(NULL, n, out + TS_GATEWAY__GRPC_PREFIX);
    if (!m || !m->status)
        __builtin_trap();
    if (v->decision == TS_GATEWAY__ALLOW) {
        if (m->status->code != 0 || !m->ok_response)
            __builtin_trap();
        check_options(m->ok_response->headers, m->ok_response->n_headers, v);
        if (m->ok_response->n_headers_to_remove != v->n_remove)
            __builtin_trap();
    } else {
        int32_t want = v->http_status == 401 ? 16 : v->http_status == 400 ? 3 : 7;
        if (m->status->code != want || !m->denied_response || !m->denied_response->status)
            __builtin_trap();
        unsigned sent = (unsigned)m->denied_response->status->code;
        if (sent < 400 || sent > 599)
            __builtin_trap();
        check_options(m->denied_response->headers, m->denied_response->n_headers, v);
    }
    envoy__service__auth__v3__check_response__free_unpacked(m, NULL);
    ts_gateway__grpc_bytes_free(out, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536) /* the session refuses larger messages before decoding */
        return 0;
    ts_gateway__grpc_request *a = NULL, *b = NULL;
    ts_error ea, eb;
    ts_error_clear(&ea);
    ts_error_clear(&eb);
    ts_status sa = ts_gateway__grpc_check_decode(data, size, &a, &ea);
    ts_status sb = ts_gateway__grpc_check_decode(data, size, &b, &eb);
    if (sa != sb || strcmp(ea.msg, eb.msg) != 0 || strcmp(ea.where, eb.where) != 0)
        __builtin_trap();
    switch (sa) {
    case TS_OK:
        break;
    case TS_EPARSE:
    case TS_ELIMIT:
    case TS_EINVAL:
        if (a || b || ea.msg[0] == '\0')
            __builtin_trap();
        return 0;
    case TS_ENOMEM:
        return 0;
    default:
        __builtin_trap();
    }
    size_t cap = size * TS_GATEWAY__PB_ARENA_FACTOR;
    if (cap < TS_GATEWAY__PB_ARENA_MIN)
        cap = TS_GATEWAY__PB_ARENA_MIN;
    if (ts_gateway__grpc_request_arena_used(a) > cap)
        __builtin_trap();
    const ts_gateway__input *in = ts_gateway__grpc_request_input(a);
    check_input(in);
    const ts_gateway__input *in2 = ts_gateway__grpc_request_input(b);
    if (in->n_headers != in2->n_headers || in->path.len != in2->path.len ||
        in->authorization_repeated != in2->authorization_repeated)
        __builtin_trap();

    ts_gateway__verdict v;
    ts_gateway__verdict_init(&v);
    make_verdict(in, &v);
    check_response(&v);
    ts_gateway__verdict_cleanup(&v);
    ts_gateway__grpc_request_free(a);
    ts_gateway__grpc_request_free(b);
    return 0;
}
