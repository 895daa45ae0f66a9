/* Test helpers for tokensmith-mhd: a small libmicrohttpd server wrapped by ts_mhd_limits, and
 * raw-socket clients that can come from any 127.0.0.x address, trickle bytes and watch for the
 * server closing the connection. Header-only: each test file is its own executable. */
#ifndef TS_MHD_TESTNET_H
#define TS_MHD_TESTNET_H

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <tokensmith/mhd.h>

/* ---------------------------------------------------------------------------------------- */
/* The server under test                                                                    */

typedef struct test_app {
    atomic_int requests;  /* first handler calls (heads the application saw) */
    atomic_int answered;  /* responses queued */
    atomic_int completed; /* completion callbacks with the application's context */
    atomic_int bad_ctx;   /* completion or call with a context that is not ours */
} test_app;

/* Per request: how many body bytes arrived. */
typedef struct test_req {
    uint32_t magic;
    size_t body;
} test_req;
#define TEST_REQ_MAGIC 0x5eb0d1e5u

static inline enum MHD_Result test_handler(void *cls, struct MHD_Connection *c, const char *url,
                                           const char *method, const char *version,
                                           const char *upload, size_t *upload_size, void **req_cls)
{
    (void)url, (void)method, (void)version, (void)upload;
    test_app *app = cls;
    test_req *rq = *req_cls;
    if (!rq) {
        rq = calloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO;
        rq->magic = TEST_REQ_MAGIC;
        *req_cls = rq;
        atomic_fetch_add(&app->requests, 1);
        return MHD_YES;
    }
    if (rq->magic != TEST_REQ_MAGIC)
        atomic_fetch_add(&app->bad_ctx, 1);
    if (*upload_size) {
        rq->body += *upload_size;
        *upload_size = 0;
        return MHD_YES;
    }
    char body[64];
    int n = snprintf(body, sizeof body, "{\"body\":%zu}", rq->body);
    struct MHD_Response *r =
        MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    atomic_fetch_add(&app->answered, 1);
    return ret;
}

static inline void test_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                                  enum MHD_RequestTerminationCode toe)
{
    (void)c, (void)toe;
    test_app *app = cls;
    test_req *rq = *req_cls;
    if (!rq)
        return;
    if (rq->magic != TEST_REQ_MAGIC)
        atomic_fetch_add(&app->bad_ctx, 1);
    atomic_fetch_add(&app->completed, 1);
    rq->magic = 0;
    free(rq);
    *req_cls = NULL;
}

typedef struct test_server {
    test_app app;
    ts_mhd_limits *lim;
    struct MHD_Daemon *d;
    unsigned short port;
} test_server;

/* Options with the test application wired in and everything else at the defaults. */
static inline ts_mhd_limits_options test_options(test_server *s)
{
    ts_mhd_limits_options o = TS_MHD_LIMITS_OPTIONS_INIT;
    o.handler = test_handler;
    o.handler_cls = &s->app;
    o.completed = test_completed;
    o.completed_cls = &s->app;
    return o;
}

/* Start on 127.0.0.1 and an ephemeral port with a pool of @p threads (0: one polling thread).
 * @return 0, or -1 on failure. */
static inline int test_server_start(test_server *s, const ts_mhd_limits_options *o,
                                    unsigned threads)
{
    ts_error err;
    ts_error_clear(&err);
    s->lim = ts_mhd_limits_new(o, &err);
    if (!s->lim) {
        fprintf(stderr, "ts_mhd_limits_new: %s: %s\n", err.where, err.msg);
        return -1;
    }
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ITC;
    s->d = MHD_start_daemon(
        flags, 0, ts_mhd_limits_accept, s->lim, ts_mhd_limits_handler, s->lim, MHD_OPTION_ARRAY,
        ts_mhd_limits_mhd_options(s->lim), MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT, 4096u, MHD_OPTION_END);
    const union MHD_DaemonInfo *di =
        s->d ? MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    if (!di) {
        fprintf(stderr, "MHD_start_daemon failed\n");
        return -1;
    }
    s->port = di->port;
    return 0;
}

static inline void test_server_stop(test_server *s)
{
    if (s->d)
        MHD_stop_daemon(s->d);
    ts_mhd_limits_free(s->lim);
    s->d = NULL;
    s->lim = NULL;
}

static inline ts_mhd_limits_stats test_stats(const test_server *s)
{
    ts_mhd_limits_stats st;
    ts_mhd_limits_get_stats(s->lim, &st);
    return st;
}

/* ---------------------------------------------------------------------------------------- */
/* Clients                                                                                  */

static inline int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* A TCP connection from @p src (e.g. "127.0.0.2") to 127.0.0.1:@p port; -1 on failure. */
static inline int cli_connect(const char *src, unsigned short port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    inet_pton(AF_INET, src, &a.sin_addr);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        connect(fd, (struct sockaddr *)&to, sizeof to) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static inline int cli_send(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Read one response (head and a Content-Length body) within @p timeout_ms.
 * @return its status, 0 if the connection closed first, -1 on timeout or error. */
static inline int cli_response(int fd, char *buf, size_t cap, int timeout_ms)
{
    size_t n = 0;
    int64_t end = now_ms() + timeout_ms;
    buf[0] = '\0';
    for (;;) {
        char *head_end = strstr(buf, "\r\n\r\n");
        if (head_end) {
            const char *cl = strcasestr(buf, "\r\nContent-Length:");
            size_t want = cl ? (size_t)strtoul(cl + 17, NULL, 10) : 0;
            if (n - (size_t)(head_end + 4 - buf) >= want) {
                int status = 0;
                return sscanf(buf, "HTTP/1.%*d %d", &status) == 1 ? status : -1;
            }
        }
        int left = (int)(end - now_ms());
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, left) <= 0)
            return -1;
        if (n + 1 >= cap)
            return -1;
        ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
        if (r <= 0)
            return 0;
        n += (size_t)r;
        buf[n] = '\0';
    }
}

/* Wait up to @p timeout_ms for the server to close @p fd (reading and dropping any data).
 * @return true when it closed. */
static inline bool cli_closed_within(int fd, int timeout_ms)
{
    int64_t end = now_ms() + timeout_ms;
    char b[4096];
    for (;;) {
        int left = (int)(end - now_ms());
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, left) <= 0)
            return false;
        ssize_t r = recv(fd, b, sizeof b, MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
            return true;
    }
}

/* Wait until @p cond (an expression over `st`) holds, for up to 5 s. */
#define WAIT_STATS(srv, cond)                                                                      \
    do {                                                                                           \
        ts_mhd_limits_stats st;                                                                    \
        for (int i_ = 0; i_ < 500; i_++) {                                                         \
            st = test_stats(srv);                                                                  \
            if (cond)                                                                              \
                break;                                                                             \
            sleep_ms(10);                                                                          \
        }                                                                                          \
        st = test_stats(srv);                                                                      \
        assert_true(cond);                                                                         \
    } while (0)

#define GET_REQUEST "GET /x HTTP/1.1\r\nHost: t\r\n\r\n"

#endif
