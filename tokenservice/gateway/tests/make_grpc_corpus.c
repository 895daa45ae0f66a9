/* make_grpc_corpus DIR: writes the seed corpus of fuzz/fuzz_grpc_check.c (fuzz/corpus/grpc_check/)
 * as protobuf-c packs them: CheckRequests shaped like Envoy's (reference: ext-authz-grpc.md
 * §3, §5), one per case below. Built with the tests so that it keeps compiling; run it by hand
 * when the messages change:
 *   build/tokenservice/gateway/gateway_make_grpc_corpus fuzz/corpus/grpc_check */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envoy/service/auth/v3/external_auth.pb-c.h"

typedef Envoy__Service__Auth__V3__AttributeContext__HttpRequest__HeadersEntry headers_entry;
typedef Envoy__Config__Core__V3__HeaderValue header_value;

typedef struct request {
    Envoy__Service__Auth__V3__CheckRequest req;
    Envoy__Service__Auth__V3__AttributeContext ac;
    Envoy__Service__Auth__V3__AttributeContext__Peer source;
    Envoy__Config__Core__V3__Address address;
    Envoy__Config__Core__V3__SocketAddress socket;
    Envoy__Config__Core__V3__Pipe pipe;
    Envoy__Service__Auth__V3__AttributeContext__Request request;
    Envoy__Service__Auth__V3__AttributeContext__HttpRequest http;
    Envoy__Config__Core__V3__HeaderMap map;
    headers_entry entries[16];
    headers_entry *entry_ptrs[16];
    header_value values[16];
    header_value *value_ptrs[16];
} request;

static void init(request *r, const char *method, const char *path)
{
    memset(r, 0, sizeof *r);
    envoy__service__auth__v3__check_request__init(&r->req);
    envoy__service__auth__v3__attribute_context__init(&r->ac);
    envoy__service__auth__v3__attribute_context__peer__init(&r->source);
    envoy__config__core__v3__address__init(&r->address);
    envoy__config__core__v3__socket_address__init(&r->socket);
    envoy__config__core__v3__pipe__init(&r->pipe);
    envoy__service__auth__v3__attribute_context__request__init(&r->request);
    envoy__service__auth__v3__attribute_context__http_request__init(&r->http);
    envoy__config__core__v3__header_map__init(&r->map);
    r->req.attributes = &r->ac;
    r->ac.request = &r->request;
    r->request.http = &r->http;
    r->http.method = (char *)method;
    r->http.path = (char *)path;
}

static void peer_ip(request *r, const char *ip, uint32_t port)
{
    r->socket.address = (char *)ip;
    r->socket.port_specifier_case =
        ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_PORT_VALUE;
    r->socket.port_value = port;
    r->address.address_case = ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_SOCKET_ADDRESS;
    r->address.socket_address = &r->socket;
    r->source.address = &r->address;
    r->ac.source = &r->source;
}

static void header(request *r, const char *k, const char *v)
{
    size_t i = r->http.n_headers++;
    envoy__service__auth__v3__attribute_context__http_request__headers_entry__init(&r->entries[i]);
    r->entries[i].key = (char *)k;
    r->entries[i].value = (char *)v;
    r->entry_ptrs[i] = &r->entries[i];
    r->http.headers = r->entry_ptrs;
}

static void raw_header(request *r, const char *k, const char *v)
{
    size_t i = r->map.n_headers++;
    envoy__config__core__v3__header_value__init(&r->values[i]);
    r->values[i].key = (char *)k;
    r->values[i].raw_value.data = (uint8_t *)v;
    r->values[i].raw_value.len = strlen(v);
    r->value_ptrs[i] = &r->values[i];
    r->map.headers = r->value_ptrs;
    r->http.header_map = &r->map;
}

static void envoy_headers(request *r, const char *host)
{
    r->http.host = (char *)host;
    r->http.scheme = "https";
    r->http.protocol = "HTTP/1.1";
    r->http.id = "7362";
    header(r, ":authority", host);
    header(r, ":method", r->http.method);
    header(r, ":path", r->http.path);
    header(r, ":scheme", "https");
    header(r, "x-request-id", "3b1c7f4e-9d0a-4c55-8e1e-2f5d1c0b7a11");
    header(r, "user-agent", "curl/8.0.1");
}

static int write_seed(const char *dir, const char *name, const request *r)
{
    size_t n = envoy__service__auth__v3__check_request__get_packed_size(&r->req);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return 1;
    envoy__service__auth__v3__check_request__pack(&r->req, buf);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    int rc = !f || fwrite(buf, 1, n, f) != n;
    if (f && fclose(f) != 0)
        rc = 1;
    free(buf);
    if (rc)
        fprintf(stderr, "make_grpc_corpus: cannot write %s\n", path);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_grpc_corpus DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    int rc = 0;
    request r;

    init(&r, "GET", "/nodes?limit=10");
    peer_ip(&r, "10.0.0.1", 443);
    envoy_headers(&r, "api.example");
    header(&r, "authorization", "Bearer eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.e30.c2ln");
    rc |= write_seed(dir, "envoy_bearer", &r);

    init(&r, "DELETE", "/nodes/n1");
    peer_ip(&r, "2001:db8::1", 51234);
    envoy_headers(&r, "api.example");
    header(&r, "x-tokensmith-subject", "forged");
    header(&r, "x-tokensmith-roles", "admin");
    rc |= write_seed(dir, "forged_tokensmith_headers", &r);

    init(&r, "GET", "/nodes");
    envoy_headers(&r, "api.example");
    header(&r, "authorization", "Bearer a.b.c,Bearer d.e.f");
    rc |= write_seed(dir, "joined_authorization", &r);

    init(&r, "POST", "/upload");
    r.pipe.path = "/run/envoy/downstream.sock";
    r.address.address_case = ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_PIPE;
    r.address.pipe = &r.pipe;
    r.source.address = &r.address;
    r.ac.source = &r.source;
    raw_header(&r, ":method", "POST");
    raw_header(&r, "authorization", "Bearer a.b.c");
    raw_header(&r, "authorization", "Bearer d.e.f");
    raw_header(&r, "cookie", "a=1");
    rc |= write_seed(dir, "header_map_two_authorization", &r);

    /* fields our protos leave out: route_metadata_context (13), raw_body (12) */
    static uint8_t meta[] = {0x0a, 0x04, 0x0a, 0x02, 0x6b, 0x31};
    static uint8_t body[] = {'h', 'i'};
    ProtobufCMessageUnknownField ac_unknown = {13, PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED,
                                               sizeof meta, meta};
    ProtobufCMessageUnknownField http_unknown = {12, PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED,
                                                 sizeof body, body};
    init(&r, "GET", "/public/info");
    peer_ip(&r, "127.0.0.1", 40000);
    envoy_headers(&r, "localhost");
    r.ac.base.n_unknown_fields = 1;
    r.ac.base.unknown_fields = &ac_unknown;
    r.http.base.n_unknown_fields = 1;
    r.http.base.unknown_fields = &http_unknown;
    rc |= write_seed(dir, "unknown_fields", &r);

    init(&r, "GET", "/");
    rc |= write_seed(dir, "minimal", &r);

    init(&r, "", "");
    r.ac.request = NULL;
    rc |= write_seed(dir, "no_http", &r);
    return rc;
}
