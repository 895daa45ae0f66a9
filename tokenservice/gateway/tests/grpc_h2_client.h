/* A minimal gRPC client on nghttp2 for test_grpc_server.c: one HTTP/2 connection over a
 * blocking loopback socket, calls submitted as streams (headers chosen per call, the framed
 * message as the body), and what comes back per stream: :status, grpc-status, grpc-message,
 * the DATA bytes, and the RST_STREAM code. cmocka asserts on what must not fail. */
#ifndef TS_GATEWAY_TEST_GRPC_H2_CLIENT_H
#define TS_GATEWAY_TEST_GRPC_H2_CLIENT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "grpc.h"

typedef struct call {
    /* what to send */
    const char *path;         /* :path; NULL = the Check method */
    const char *content_type; /* NULL = application/grpc */
    const char *timeout;      /* grpc-timeout or NULL */
    const char *encoding;     /* grpc-encoding or NULL */
    bool no_te;
    const char *big_header; /* value of x-big, or NULL */
    uint8_t *body;          /* framed message */
    size_t body_len, body_off;
    /* what came back */
    int32_t id;
    int http_status;
    int grpc_status; /* -1: none */
    char grpc_message[256];
    uint8_t data[16384];
    size_t data_len;
    bool closed;
    uint32_t rst;
} call;

typedef struct client {
    int fd;
    nghttp2_session *h2;
    call *calls;
    size_t n;
    size_t closed;
    bool goaway;
} client;

static call *find(client *c, int32_t id)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->calls[i].id == id)
            return &c->calls[i];
    return NULL;
}

static ssize_t c_send(nghttp2_session *h2, const uint8_t *data, size_t len, int flags, void *ud)
{
    (void)h2;
    (void)flags;
    client *c = ud;
    ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
    return n < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : n;
}

static int c_header(nghttp2_session *h2, const nghttp2_frame *frame, const uint8_t *name,
                    size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    (void)h2;
    (void)flags;
    call *k = find(ud, frame->hd.stream_id);
    if (!k)
        return 0;
    if (namelen == 7 && memcmp(name, ":status", 7) == 0)
        k->http_status = atoi((const char *)value);
    else if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0)
        k->grpc_status = atoi((const char *)value);
    else if (namelen == 12 && memcmp(name, "grpc-message", 12) == 0)
        snprintf(k->grpc_message, sizeof k->grpc_message, "%.*s", (int)valuelen, value);
    return 0;
}

static int c_data(nghttp2_session *h2, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                  void *ud)
{
    (void)h2;
    (void)flags;
    call *k = find(ud, id);
    if (k && k->data_len + len <= sizeof k->data) {
        memcpy(k->data + k->data_len, data, len);
        k->data_len += len;
    }
    return 0;
}

static int c_close(nghttp2_session *h2, int32_t id, uint32_t error_code, void *ud)
{
    (void)h2;
    client *c = ud;
    call *k = find(c, id);
    if (k && !k->closed) {
        k->closed = true;
        k->rst = error_code;
        c->closed++;
    }
    return 0;
}

static int c_frame(nghttp2_session *h2, const nghttp2_frame *frame, void *ud)
{
    (void)h2;
    if (frame->hd.type == NGHTTP2_GOAWAY)
        ((client *)ud)->goaway = true;
    return 0;
}

static ssize_t c_read_body(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t length,
                           uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    (void)h2;
    (void)id;
    (void)ud;
    call *k = src->ptr;
    size_t n = k->body_len - k->body_off;
    if (n > length)
        n = length;
    memcpy(buf, k->body + k->body_off, n);
    k->body_off += n;
    if (k->body_off == k->body_len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static int connect_to(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static void client_open(client *c, uint16_t port, call *calls, size_t n)
{
    memset(c, 0, sizeof *c);
    c->fd = connect_to(port);
    c->calls = calls;
    c->n = n;
    nghttp2_session_callbacks *cb;
    assert_int_equal(nghttp2_session_callbacks_new(&cb), 0);
    nghttp2_session_callbacks_set_send_callback(cb, c_send);
    nghttp2_session_callbacks_set_on_header_callback(cb, c_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, c_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, c_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, c_frame);
    assert_int_equal(nghttp2_session_client_new(&c->h2, cb, c), 0);
    nghttp2_session_callbacks_del(cb);
    assert_int_equal(nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, NULL, 0), 0);
}

static nghttp2_nv cnv(const char *n, const char *v)
{
    nghttp2_nv nv = {(uint8_t *)(uintptr_t)n, (uint8_t *)(uintptr_t)v, strlen(n), strlen(v),
                     NGHTTP2_NV_FLAG_NONE};
    return nv;
}

static void submit(client *c, call *k)
{
    const char *path = k->path ? k->path : TS_GATEWAY__GRPC_CHECK_PATH;
    const char *ct = k->content_type ? k->content_type : "application/grpc";
    nghttp2_nv nv[9] = {
        cnv(":method", "POST"),       cnv(":scheme", "http"),  cnv(":path", path),
        cnv(":authority", "gateway"), cnv("content-type", ct),
    };
    size_t n = 5;
    if (!k->no_te)
        nv[n++] = cnv("te", "trailers");
    if (k->timeout)
        nv[n++] = cnv("grpc-timeout", k->timeout);
    if (k->encoding)
        nv[n++] = cnv("grpc-encoding", k->encoding);
    if (k->big_header)
        nv[n++] = cnv("x-big", k->big_header);
    k->grpc_status = -1;
    nghttp2_data_provider dp = {.source.ptr = k, .read_callback = c_read_body};
    k->id = nghttp2_submit_request(c->h2, NULL, nv, n, &dp, NULL);
    assert_true(k->id > 0);
}

/* Run until every call is closed (or the connection ends); false when the server closed the
 * connection first. */
static bool client_run(client *c)
{
    for (int rounds = 0; c->closed < c->n && rounds < 3000; rounds++) {
        if (nghttp2_session_send(c->h2) != 0)
            return false; /* the server closed the connection */
        struct pollfd p = {c->fd, POLLIN, 0};
        int rc = poll(&p, 1, 10);
        if (rc <= 0)
            continue;
        uint8_t buf[16384];
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n <= 0)
            return false;
        if (nghttp2_session_mem_recv(c->h2, buf, (size_t)n) != n)
            return false;
    }
    return c->closed == c->n;
}

static void client_close(client *c)
{
    nghttp2_session_del(c->h2);
    close(c->fd);
}

#endif
