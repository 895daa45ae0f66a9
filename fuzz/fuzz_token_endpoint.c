/*
 * libFuzzer target: the token endpoint in-process. A real `tokensmith serve` (ES256 key and
 * SQLite store in a temporary directory) runs inside the fuzzer on an ephemeral loopback port;
 * every input becomes one HTTP request on a fresh connection:
 *
 *   byte 0 % 3 == 0: the rest is the form body of POST /oauth/token
 *   byte 0 % 3 == 1: the same on the /token alias, with a content type taken from the input
 *   byte 0 % 3 == 2: the rest is sent as a raw request, headers and all
 *
 * In form bodies "@BT@" becomes a fresh bootstrap token and "@RT@" a live refresh token, so the
 * success, replay and rotation paths are reached, not only the refusals.
 *
 * Invariants: the server answers a form request within 5 s, and keeps serving others whatever
 * raw bytes a connection sends; a token-endpoint answer is never 5xx (bad input is
 * the client's error, and the store is healthy); every refusal has an OAuth JSON error body.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <tokensmith/store.h>

#include "config.h"
#include "server.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_REQ (64u * 1024u)
#define MAX_RESP (64u * 1024u)

static FILE *report; /* the real stderr, for this harness's own messages */
static ts_svc *svc;
static ts_store *store;
static uint16_t port;

static void die(const char *what, const ts_error *e)
{
    fprintf(stderr, "fuzz_token_endpoint: %s: %s %s\n", what, e ? e->where : "", e ? e->msg : "");
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    static char home[] = "/tmp/ts-fuzz-token-XXXXXX";
    if (!mkdtemp(home))
        die("mkdtemp", NULL);
    static ts_svc_config c;
    ts_svc_config_defaults(&c);
    snprintf(c.home, sizeof c.home, "%s", home);
    snprintf(c.listen, sizeof c.listen, "127.0.0.1:0");
    snprintf(c.algorithm, sizeof c.algorithm, "ES256");
    c.threads = 2;
    ts_error err;
    ts_error_clear(&err);
    if (ts_svc_config_finish(&c, &err) != TS_OK)
        die("config", &err);
    /* The service logs every request on stderr: send those lines away. libFuzzer keeps its own
       copy of the stream pointer and sanitizers write to descriptor 2, so both still report. */
    report = stderr;
    FILE *quiet = fopen("/dev/null", "w");
    if (quiet)
        stderr = quiet;
    svc = ts_svc_start(&c, &err);
    if (!svc)
        die("start", &err);
    port = ts_svc_port(svc);
    ts_store_options so = TS_STORE_OPTIONS_INIT;
    so.path = c.store;
    store = ts_store_new(&so, &err);
    if (!store)
        die("store", &err);
    return 0;
}

static bool new_bootstrap(char out[TS_STORE_TOKEN_LEN + 1])
{
    ts_store_bootstrap_params p = {0};
    p.subject = "fuzz-svc";
    p.audience = "smd";
    p.scopes = "read";
    p.ttl_s = 3600;
    p.refresh_ttl_s = 86400;
    p.now = (int64_t)time(NULL);
    ts_error err;
    ts_error_clear(&err);
    return ts_store_bootstrap_create(store, &p, out, NULL, &err) == TS_OK;
}

/* A whole response with a Content-Length has arrived (HEAD answers have no body). */
static bool response_complete(const char *resp, size_t got)
{
    const char *end = strstr(resp, "\r\n\r\n");
    if (!end)
        return false;
    size_t head = (size_t)(end - resp) + 4;
    for (const char *p = resp; p < end; p++) {
        if ((p == resp || p[-1] == '\n') && strncasecmp(p, "Content-Length:", 15) == 0) {
            unsigned long n = strtoul(p + 15, NULL, 10);
            return got >= head + n;
        }
    }
    return false;
}

/* One request on a fresh connection; @return bytes of response read, or -1 on a timeout. */
static long exchange(const char *req, size_t len, char *resp, size_t cap, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        abort();
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        abort(); /* the server stopped accepting */
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* the server may close early on a bad request */
        off += (size_t)n;
    }
    shutdown(fd, SHUT_WR);
    size_t got = 0;
    long ret = 0;
    struct pollfd pf = {fd, POLLIN, 0};
    for (;;) {
        int pr = poll(&pf, 1, timeout_ms);
        if (pr <= 0) {
            ret = -1;
            break;
        }
        ssize_t n = recv(fd, resp + got, cap - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        resp[got] = '\0';
        if (got == cap - 1 || response_complete(resp, got))
            break; /* a keep-alive server need not close after a raw HTTP/1.1 request */
    }
    resp[got] = '\0';
    close(fd);
    return ret < 0 ? -1 : (long)got;
}

static int status_of(const char *resp)
{
    if (strncmp(resp, "HTTP/1.", 7) != 0 || strlen(resp) < 12)
        return 0;
    return atoi(resp + 9);
}

/* Exchange a fresh bootstrap token for a live refresh token. */
static bool new_refresh(char out[TS_STORE_TOKEN_LEN + 1])
{
    char bt[TS_STORE_TOKEN_LEN + 1];
    if (!new_bootstrap(bt))
        return false;
    char req[1024], resp[8192];
    char body[512];
    int bl = snprintf(body, sizeof body,
                      "grant_type=urn:ietf:params:oauth:grant-type:token-exchange&"
                      "subject_token_type=urn:openchami:params:oauth:token-type:bootstrap-token&"
                      "subject_token=%s",
                      bt);
    int rl = snprintf(req, sizeof req,
                      "POST /oauth/token HTTP/1.1\r\nHost: fuzz\r\nContent-Type: "
                      "application/x-www-form-urlencoded\r\nContent-Length: %d\r\n"
                      "Connection: close\r\n\r\n%s",
                      bl, body);
    if (exchange(req, (size_t)rl, resp, sizeof resp, 5000) <= 0 || status_of(resp) != 200)
        return false;
    const char *k = strstr(resp, "\"refresh_token\":\"");
    if (!k)
        return false;
    memcpy(out, k + 17, TS_STORE_TOKEN_LEN);
    out[TS_STORE_TOKEN_LEN] = '\0';
    return true;
}

/* Copy @p in to @p out replacing the placeholders; @return the length, or 0 when too long. */
static size_t expand(const uint8_t *in, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        char tok[TS_STORE_TOKEN_LEN + 1];
        bool bt = n - i >= 4 && memcmp(in + i, "@BT@", 4) == 0;
        bool rt = n - i >= 4 && memcmp(in + i, "@RT@", 4) == 0;
        if ((bt && new_bootstrap(tok)) || (rt && new_refresh(tok))) {
            if (o + TS_STORE_TOKEN_LEN >= cap)
                return 0;
            memcpy(out + o, tok, TS_STORE_TOKEN_LEN);
            o += TS_STORE_TOKEN_LEN;
            i += 4;
            continue;
        }
        if (o + 1 >= cap)
            return 0;
        out[o++] = (char)in[i++];
    }
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 16384)
        return 0;
    static char body[MAX_REQ], req[MAX_REQ + 1024], resp[MAX_RESP];
    unsigned mode = data[0] % 3u;
    size_t rl;
    if (mode == 2) {
        memcpy(req, data + 1, size - 1);
        rl = size - 1;
    } else {
        size_t bl = expand(data + 1, size - 1, body, sizeof body);
        static const char *const types[] = {
            "application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=utf-8",
            "application/json", "multipart/form-data; boundary=x", ""};
        const char *ctype = mode == 0 ? types[0] : types[(data[0] / 3u) % 5u];
        int hl = snprintf(req, sizeof req,
                          "POST %s HTTP/1.1\r\nHost: fuzz\r\nContent-Type: %s\r\n"
                          "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                          mode == 0 ? "/oauth/token" : "/token", ctype, bl);
        memcpy(req + hl, body, bl);
        rl = (size_t)hl + bl;
    }
    if (mode == 2) {
        /* Raw bytes may legitimately leave the connection open (libmicrohttpd keeps some
           malformed half-closed connections until its timeout): then the server must still
           serve everyone else. */
        if (exchange(req, rl, resp, sizeof resp, 300) >= 0)
            return 0;
        static const char health[] = "GET /health HTTP/1.1\r\nHost: fuzz\r\n"
                                     "Connection: close\r\n\r\n";
        if (exchange(health, sizeof health - 1, resp, sizeof resp, 5000) < 0 ||
            status_of(resp) != 200) {
            fprintf(report, "fuzz_token_endpoint: the server stopped answering\n");
            __builtin_trap();
        }
        return 0;
    }
    if (exchange(req, rl, resp, sizeof resp, 5000) < 0) {
        fprintf(report, "fuzz_token_endpoint: no answer within 5 s\n");
        __builtin_trap();
    }
    int status = status_of(resp);
    /* 5xx for client input, or a refusal without an OAuth error body, is a defect */
    if (status == 0 || status >= 500 || (status != 200 && !strstr(resp, "\"error\":\""))) {
        fprintf(report, "fuzz_token_endpoint: unexpected answer:\n%.2000s\n", resp);
        __builtin_trap();
    }
    return 0;
}
