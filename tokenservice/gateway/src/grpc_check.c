/* Envoy ext_authz over gRPC, the messages (grpc.h): a serialized CheckRequest becomes a
 * transport-neutral ts_gateway__input, a ts_gateway__verdict becomes a serialized
 * CheckResponse. The only file that knows the generated protobuf-c names.
 *
 * Decoding is bounded (one arena, capped by the message size) and strict about what the
 * decision core must be able to trust: strings without NUL bytes, header names that are
 * tokens, values without CR or LF, one header encoding. Encoding follows what Envoy does with
 * the answer (reference: ext-authz-grpc.md §5): a deny always carries its status.code, because
 * proto3 drops a zero and a CheckResponse without a status allows; allowed headers carry both
 * append_action and append, because Envoy versions disagree on what neither means. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/mem.h"
#include "envoy/service/auth/v3/external_auth.pb-c.h"
#include "grpc.h"

typedef Envoy__Service__Auth__V3__CheckRequest check_request;
typedef Envoy__Service__Auth__V3__AttributeContext attribute_context;
typedef Envoy__Service__Auth__V3__AttributeContext__HttpRequest http_request;
typedef Envoy__Config__Core__V3__HeaderValue header_value;
typedef Envoy__Config__Core__V3__HeaderValueOption header_value_option;

struct ts_gateway__grpc_request {
    ts_gateway__pb_arena *arena; /* everything below points into it */
    check_request *msg;
    ts_gateway__input input;
};

static const ts_gateway__str empty_str = {"", 0};

/* A protobuf-c string as (ptr, len). protobuf-c ends a string at its first NUL, so a string
 * whose allocation is longer than strlen + 1 held a NUL on the wire: false. Strings not from
 * the arena are protobuf-c's static empty default. */
static bool pb_str(const ts_gateway__pb_arena *a, const char *s, ts_gateway__str *out)
{
    if (!s) {
        *out = empty_str;
        return true;
    }
    size_t n = strlen(s), alloc;
    if (ts_gateway__pb_arena_size_of(a, s, &alloc) && alloc != n + 1)
        return false;
    out->ptr = s;
    out->len = n;
    return true;
}

/* RFC 9110 §5.6.2 tchar. */
static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool valid_name(ts_gateway__str s)
{
    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (!is_tchar((unsigned char)s.ptr[i]))
            return false;
    return true;
}

static bool is_pseudo(ts_gateway__str name)
{
    return name.len > 1 && name.ptr[0] == ':' &&
           valid_name((ts_gateway__str){name.ptr + 1, name.len - 1});
}

static bool valid_value(ts_gateway__str s)
{
    return !memchr(s.ptr, '\r', s.len) && !memchr(s.ptr, '\n', s.len);
}

/* One header from either encoding: checked, pseudo-headers skipped (their values are the
 * dedicated fields), Authorization counted. */
typedef struct header_sink {
    ts_gateway__header *out; /* room for every entry of the encoding used */
    size_t n;
    size_t authorization;
    bool joined; /* an Authorization value with ',' */
} header_sink;

static ts_status take_header(header_sink *k, ts_gateway__str name, ts_gateway__str value,
                             const char *field, size_t i, ts_error *err)
{
    if (is_pseudo(name))
        return TS_OK;
    if (!valid_name(name) || !valid_value(value))
        return ts_error_set(err, TS_EINVAL, field,
                            "entry %zu: a name that is not a token, or a value with CR or LF", i);
    if (name.len == 13 && strncasecmp(name.ptr, "authorization", 13) == 0) {
        k->authorization++;
        if (memchr(value.ptr, ',', value.len))
            k->joined = true;
    }
    k->out[k->n++] = (ts_gateway__header){name, value};
    return TS_OK;
}

/* `headers`: Envoy's default, a map whose repeated lines are joined with ','. */
static ts_status map_headers_map(const ts_gateway__pb_arena *a, const http_request *h,
                                 header_sink *k, ts_error *err)
{
    static const char field[] = "attributes.request.http.headers";
    for (size_t i = 0; i < h->n_headers; i++) {
        ts_gateway__str name, value;
        if (!pb_str(a, h->headers[i]->key, &name) || !pb_str(a, h->headers[i]->value, &value))
            return ts_error_set(err, TS_EINVAL, field, "entry %zu holds a NUL byte", i);
        ts_status st = take_header(k, name, value, field, i, err);
        if (st != TS_OK)
            return st;
    }
    return TS_OK;
}

/* `header_map` (Envoy's encode_raw_headers): one entry per line, the value in raw_value. */
static ts_status map_header_map(ts_gateway__pb_arena *a, const http_request *h, header_sink *k,
                                ts_error *err)
{
    static const char field[] = "attributes.request.http.header_map";
    for (size_t i = 0; i < h->header_map->n_headers; i++) {
        const header_value *hv = h->header_map->headers[i];
        ts_gateway__str name, value;
        if (!pb_str(a, hv->key, &name) || !pb_str(a, hv->value, &value))
            return ts_error_set(err, TS_EINVAL, field, "entry %zu holds a NUL byte", i);
        if (hv->raw_value.len > 0) {
            if (value.len > 0)
                return ts_error_set(err, TS_EINVAL, field, "entry %zu has both value and raw_value",
                                    i);
            if (memchr(hv->raw_value.data, '\0', hv->raw_value.len))
                return ts_error_set(err, TS_EINVAL, field, "entry %zu holds a NUL byte", i);
            /* bytes come without a terminator; the input's strings have one */
            char *copy = ts_gateway__pb_arena_alloc(a, hv->raw_value.len + 1);
            if (!copy)
                return ts_error_set(err, TS_ELIMIT, field, "decoding needs more memory");
            memcpy(copy, hv->raw_value.data, hv->raw_value.len);
            copy[hv->raw_value.len] = '\0';
            value = (ts_gateway__str){copy, hv->raw_value.len};
        }
        ts_status st = take_header(k, name, value, field, i, err);
        if (st != TS_OK)
            return st;
    }
    return TS_OK;
}

static ts_status map_headers(ts_gateway__pb_arena *a, const http_request *h, ts_gateway__input *in,
                             ts_error *err)
{
    bool raw = h->header_map && h->header_map->n_headers > 0;
    if (raw && h->n_headers > 0)
        return ts_error_set(err, TS_EINVAL, "attributes.request.http",
                            "both headers and header_map are set");
    size_t max = raw ? h->header_map->n_headers : h->n_headers;
    header_sink k = {0};
    if (max > 0) {
        /* max <= the message's size, so the multiplication cannot overflow */
        k.out = ts_gateway__pb_arena_alloc(a, max * sizeof(ts_gateway__header));
        if (!k.out)
            return ts_error_set(err, TS_ELIMIT, "attributes.request.http",
                                "decoding needs more memory than the message allows");
    }
    ts_status st = raw ? map_header_map(a, h, &k, err) : map_headers_map(a, h, &k, err);
    if (st != TS_OK)
        return st;
    in->headers = k.out;
    in->n_headers = k.n;
    in->authorization_repeated = k.authorization > 1 || k.joined;
    return TS_OK;
}

static ts_status map_peer(const ts_gateway__pb_arena *a, const attribute_context *ac,
                          ts_gateway__input *in, ts_error *err)
{
    in->peer_address = empty_str;
    in->peer_port = 0;
    if (!ac->source || !ac->source->address)
        return TS_OK;
    const Envoy__Config__Core__V3__Address *ad = ac->source->address;
    const char *text = NULL;
    if (ad->address_case == ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_SOCKET_ADDRESS &&
        ad->socket_address) {
        text = ad->socket_address->address;
        if (ad->socket_address->port_specifier_case ==
            ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_PORT_VALUE)
            in->peer_port = ad->socket_address->port_value;
    } else if (ad->address_case == ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_PIPE && ad->pipe) {
        text = ad->pipe->path;
    }
    if (!pb_str(a, text, &in->peer_address))
        return ts_error_set(err, TS_EINVAL, "attributes.source.address", "holds a NUL byte");
    return TS_OK;
}

static ts_status map_input(ts_gateway__grpc_request *r, ts_error *err)
{
    const attribute_context *ac = r->msg->attributes;
    if (!ac || !ac->request || !ac->request->http)
        return ts_error_set(err, TS_EINVAL, "attributes.request.http", "absent: not an HTTP check");
    const http_request *h = ac->request->http;
    ts_gateway__input *in = &r->input;
    in->front = TS_GATEWAY__FRONT_GRPC;
    if (!pb_str(r->arena, h->method, &in->method))
        return ts_error_set(err, TS_EINVAL, "attributes.request.http.method", "holds a NUL byte");
    if (!pb_str(r->arena, h->host, &in->host))
        return ts_error_set(err, TS_EINVAL, "attributes.request.http.host", "holds a NUL byte");
    if (!pb_str(r->arena, h->path, &in->path))
        return ts_error_set(err, TS_EINVAL, "attributes.request.http.path", "holds a NUL byte");

    ts_status st = map_headers(r->arena, h, in, err);
    if (st != TS_OK)
        return st;
    return map_peer(r->arena, ac, in, err);
}

ts_status ts_gateway__grpc_check_decode(const uint8_t *msg, size_t len,
                                        ts_gateway__grpc_request **out, ts_error *err)
{
    *out = NULL;
    if (len > (SIZE_MAX / 2) / TS_GATEWAY__PB_ARENA_FACTOR)
        return ts_error_set(err, TS_ELIMIT, "CheckRequest", "message too large");
    size_t cap = len * TS_GATEWAY__PB_ARENA_FACTOR;
    if (cap < TS_GATEWAY__PB_ARENA_MIN)
        cap = TS_GATEWAY__PB_ARENA_MIN;
    ts_gateway__grpc_request *r = calloc(1, sizeof *r);
    if (!r)
        return ts_error_set(err, TS_ENOMEM, "CheckRequest", "out of memory");
    r->arena = ts_gateway__pb_arena_new(cap);
    if (!r->arena) {
        free(r);
        return ts_error_set(err, TS_ENOMEM, "CheckRequest", "out of memory");
    }
    ts_status st = TS_OK;
    r->msg = envoy__service__auth__v3__check_request__unpack(
        ts_gateway__pb_arena_allocator(r->arena), len, msg);
    if (!r->msg) {
        if (ts_gateway__pb_arena_exhausted(r->arena))
            st = ts_error_set(err, TS_ELIMIT, "CheckRequest",
                              "decoding needs more than %zu bytes (%u times the message)", cap,
                              TS_GATEWAY__PB_ARENA_FACTOR);
        else
            st = ts_error_set(err, TS_EPARSE, "CheckRequest", "not a valid protobuf message");
    } else {
        st = map_input(r, err);
    }
    if (st != TS_OK) {
        ts_gateway__grpc_request_free(r);
        return st;
    }
    *out = r;
    return TS_OK;
}

const ts_gateway__input *ts_gateway__grpc_request_input(const ts_gateway__grpc_request *r)
{
    return &r->input;
}

size_t ts_gateway__grpc_request_arena_used(const ts_gateway__grpc_request *r)
{
    return ts_gateway__pb_arena_used(r->arena);
}

void ts_gateway__grpc_request_free(ts_gateway__grpc_request *r)
{
    if (!r)
        return;
    ts_gateway__pb_arena_free(r->arena); /* wipes: the message holds the caller's token */
    free(r);
}

/* ---------------------------------------------------------------------------------------- */

ts_gateway__grpc_code ts_gateway__grpc_check_call_status(const ts_gateway__verdict *v)
{
    return v->decision == TS_GATEWAY__ALLOW || v->decision == TS_GATEWAY__DENY
               ? TS_GATEWAY__GRPC_OK
               : TS_GATEWAY__GRPC_UNAVAILABLE;
}

/* The CheckResponse status.code of a deny with HTTP status @p http. */
static int32_t deny_code(unsigned http)
{
    switch (http) {
    case 401:
        return TS_GATEWAY__GRPC_UNAUTHENTICATED;
    case 400:
        return TS_GATEWAY__GRPC_INVALID_ARGUMENT;
    default:
        return TS_GATEWAY__GRPC_PERMISSION_DENIED;
    }
}

/* Storage for the header options of one answer; everything points into it or into @p v. */
typedef struct header_options {
    header_value value[TS_GATEWAY__VERDICT_MAX_HEADERS];
    header_value_option option[TS_GATEWAY__VERDICT_MAX_HEADERS];
    header_value_option *ptr[TS_GATEWAY__VERDICT_MAX_HEADERS];
    Google__Protobuf__BoolValue no_append;
    size_t n;
} header_options;

/* "Set" for every Envoy version: append_action OVERWRITE_IF_EXISTS_OR_ADD (newer Envoy; its
 * default would add a second entry) and append = BoolValue{false}, present (older Envoy reads
 * only append; newer gives it priority, and false means overwrite there too). */
static void build_options(const ts_gateway__verdict *v, header_options *o)
{
    google__protobuf__bool_value__init(&o->no_append);
    o->no_append.value = 0;
    o->n = v->n_headers < TS_GATEWAY__VERDICT_MAX_HEADERS ? v->n_headers
                                                          : TS_GATEWAY__VERDICT_MAX_HEADERS;
    for (size_t i = 0; i < o->n; i++) {
        envoy__config__core__v3__header_value__init(&o->value[i]);
        o->value[i].key = v->headers[i].name;
        o->value[i].value = v->headers[i].value;
        envoy__config__core__v3__header_value_option__init(&o->option[i]);
        o->option[i].header = &o->value[i];
        o->option[i].append = &o->no_append;
        o->option[i].append_action =
            ENVOY__CONFIG__CORE__V3__HEADER_VALUE_OPTION__HEADER_APPEND_ACTION__OVERWRITE_IF_EXISTS_OR_ADD;
        o->ptr[i] = &o->option[i];
    }
}

ts_status ts_gateway__grpc_check_encode(const ts_gateway__verdict *v, uint8_t **out,
                                        size_t *out_len, ts_error *err)
{
    *out = NULL;
    *out_len = 0;
    if (v->decision != TS_GATEWAY__ALLOW && v->decision != TS_GATEWAY__DENY)
        return ts_error_set(err, TS_EINVAL, "CheckResponse",
                            "no CheckResponse for a verdict that decides nothing");
    header_options o;
    build_options(v, &o);
    Google__Rpc__Status status;
    google__rpc__status__init(&status);
    Envoy__Service__Auth__V3__CheckResponse resp;
    envoy__service__auth__v3__check_response__init(&resp);
    resp.status = &status; /* always present: an absent status allows */
    Envoy__Service__Auth__V3__OkHttpResponse ok;
    Envoy__Service__Auth__V3__DeniedHttpResponse denied;
    Envoy__Type__V3__HttpStatus http_status;
    if (v->decision == TS_GATEWAY__ALLOW) {
        status.code = TS_GATEWAY__GRPC_OK;
        envoy__service__auth__v3__ok_http_response__init(&ok);
        ok.n_headers = o.n;
        ok.headers = o.ptr;
        ok.n_headers_to_remove = v->n_remove;
        ok.headers_to_remove = v->remove;
        resp.http_response_case =
            ENVOY__SERVICE__AUTH__V3__CHECK_RESPONSE__HTTP_RESPONSE_OK_RESPONSE;
        resp.ok_response = &ok;
    } else {
        status.code = deny_code(v->http_status);
        envoy__type__v3__http_status__init(&http_status);
        http_status.code = v->http_status >= 400 && v->http_status <= 599
                               ? (Envoy__Type__V3__StatusCode)v->http_status
                               : ENVOY__TYPE__V3__STATUS_CODE__Forbidden;
        envoy__service__auth__v3__denied_http_response__init(&denied);
        denied.status = &http_status;
        denied.n_headers = o.n;
        denied.headers = o.ptr;
        if (v->body)
            denied.body = v->body;
        resp.http_response_case =
            ENVOY__SERVICE__AUTH__V3__CHECK_RESPONSE__HTTP_RESPONSE_DENIED_RESPONSE;
        resp.denied_response = &denied;
    }
    size_t n = envoy__service__auth__v3__check_response__get_packed_size(&resp);
    if (n > UINT32_MAX - TS_GATEWAY__GRPC_PREFIX)
        return ts_error_set(err, TS_ELIMIT, "CheckResponse", "too large");
    uint8_t *buf = malloc(TS_GATEWAY__GRPC_PREFIX + n);
    if (!buf)
        return ts_error_set(err, TS_ENOMEM, "CheckResponse", "out of memory");
    size_t packed =
        envoy__service__auth__v3__check_response__pack(&resp, buf + TS_GATEWAY__GRPC_PREFIX);
    ts_gateway__grpc_prefix_encode(buf, (uint32_t)packed);
    *out = buf;
    *out_len = TS_GATEWAY__GRPC_PREFIX + packed;
    return TS_OK;
}

void ts_gateway__grpc_bytes_free(uint8_t *p, size_t n)
{
    if (p) {
        ts_common__memzero(p, n);
        free(p);
    }
}
