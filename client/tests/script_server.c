/* The scripted loopback token endpoint of the client's tests (script_server.h). */
#define _POSIX_C_SOURCE 200809L
#include "script_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct script {
    int fd;
    int port;
    pthread_t thread;
    pthread_mutex_t mu;
    char reply[256 * 1024];
    size_t reply_len;
    bool silent; /* read the request, never answer */
    unsigned delay_ms;
    char request[16384];
    atomic_int requests;
} script;

static script srv = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void *serve(void *ud)
{
    script *s = ud;
    for (;;) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            return NULL;
        char req[16384];
        size_t n = 0;
        for (;;) {
            ssize_t r = read(c, req + n, sizeof req - 1 - n);
            if (r <= 0)
                break;
            n += (size_t)r;
            req[n] = '\0';
            const char *end = strstr(req, "\r\n\r\n");
            if (!end)
                continue;
            const char *cl = strstr(req, "Content-Length: ");
            size_t want = cl ? (size_t)strtoul(cl + 16, NULL, 10) : 0;
            if (n >= (size_t)(end + 4 - req) + want)
                break;
        }
        pthread_mutex_lock(&s->mu);
        memcpy(s->request, req, n + 1);
        bool silent = s->silent;
        unsigned delay = s->delay_ms;
        char *reply = malloc(s->reply_len);
        size_t len = s->reply_len;
        if (reply)
            memcpy(reply, s->reply, len);
        pthread_mutex_unlock(&s->mu);
        atomic_fetch_add(&s->requests, 1);
        if (delay) {
            struct timespec d = {(time_t)(delay / 1000), (long)(delay % 1000) * 1000000L};
            nanosleep(&d, NULL);
        }
        if (silent) {
            char sink[64];
            while (read(c, sink, sizeof sink) > 0)
                ;
        } else if (reply) {
            size_t off = 0;
            while (off < len) {
                ssize_t w = send(c, reply + off, len - off, MSG_NOSIGNAL);
                if (w <= 0)
                    break;
                off += (size_t)w;
            }
        }
        free(reply);
        close(c);
    }
}

/* Answer @p status with @p body and @p headers (extra header lines, each ending in \r\n). */
void script_answer(int status, const char *ctype, const char *headers, const char *body)
{
    pthread_mutex_lock(&srv.mu);
    srv.silent = false;
    int n = snprintf(srv.reply, sizeof srv.reply,
                     "HTTP/1.1 %d X\r\n%s%s%s%sContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     status, ctype ? "Content-Type: " : "", ctype ? ctype : "", ctype ? "\r\n" : "",
                     headers ? headers : "", strlen(body), body);
    srv.reply_len = (size_t)n;
    pthread_mutex_unlock(&srv.mu);
}

void script_answer_token(const char *json)
{
    script_answer(200, "application/json", NULL, json);
}

void script_delay(unsigned ms)
{
    pthread_mutex_lock(&srv.mu);
    srv.delay_ms = ms;
    pthread_mutex_unlock(&srv.mu);
}

void script_silent(void)
{
    pthread_mutex_lock(&srv.mu);
    srv.silent = true;
    pthread_mutex_unlock(&srv.mu);
}

void script_last_request(char *out, size_t cap)
{
    pthread_mutex_lock(&srv.mu);
    snprintf(out, cap, "%s", srv.request);
    pthread_mutex_unlock(&srv.mu);
}

const char *script_body_of(const char *req)
{
    const char *b = strstr(req, "\r\n\r\n");
    return b ? b + 4 : "";
}

static char endpoint[64];

const char *script_endpoint(void)
{
    return endpoint;
}

int script_requests(void)
{
    return atomic_load(&srv.requests);
}

int script_start(void)
{
    srv.fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (srv.fd < 0 || bind(srv.fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(srv.fd, 16) != 0 || getsockname(srv.fd, (struct sockaddr *)&a, &al) != 0)
        return -1;
    srv.port = ntohs(a.sin_port);
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d/token", srv.port);
    return pthread_create(&srv.thread, NULL, serve, &srv);
}

void script_stop(void)
{
    shutdown(srv.fd, SHUT_RDWR);
    close(srv.fd);
    pthread_join(srv.thread, NULL);
}

int script_setup(void **state)
{
    (void)state;
    return script_start();
}

int script_teardown(void **state)
{
    (void)state;
    script_stop();
    return 0;
}

/* ---- the client side ---------------------------------------------------------------------- */

static _Atomic int64_t now_ms = 1000000;

int64_t script_clock(void *ud)
{
    (void)ud;
    return atomic_load(&now_ms);
}

void script_clock_advance(int64_t ms)
{
    atomic_fetch_add(&now_ms, ms);
}

ts_client_options script_cc_options(ts_client_auth auth)
{
    ts_client_options o = TS_CLIENT_OPTIONS_INIT;
    o.token_endpoint = script_endpoint();
    o.grant = TS_CLIENT_GRANT_CLIENT_CREDENTIALS;
    o.auth = auth;
    o.client_id = "svc:a b";
    o.client_secret = auth == TS_CLIENT_AUTH_NONE ? NULL : "p@ss/w+rd=";
    o.clock_ms = script_clock;
    o.timeout_ms = 2000;
    o.connect_timeout_ms = 1000;
    return o;
}

ts_client *script_client(const ts_client_options *o)
{
    ts_error err;
    ts_error_clear(&err);
    ts_client *c = ts_client_new(o, &err);
    if (!c)
        fail_msg("ts_client_new: %s: %s", err.where, err.msg);
    return c;
}

ts_status script_get(ts_client *c, char *tok, size_t cap, ts_client_token_info *info, ts_error *err)
{
    ts_error_clear(err);
    return ts_client_token_get(c, tok, cap, info, err);
}
