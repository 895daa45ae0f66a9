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
 * Invariants: the server answers a form request within 5 s, and answers /health within 5 s
 * while a raw connection is open, whatever it sent; a token-endpoint answer is never 5xx (bad
 * input is the client's error, and the store is healthy); every refusal has an OAuth JSON error
 * body.
 *
 * Determinism: the outcome depends on the input alone.
 * - Every input gets a fresh service: started before it and stopped after it, with the database
 *   files removed, so the rate limiter, the store and the connections all begin empty (the
 *   signing key, made once, is the only thing kept). Before, failures counted by the limiter,
 *   tokens in the store and half-open raw connections carried over from earlier inputs.
 * - Nothing here branches on timing: a raw request is always followed by the /health check
 *   (it used to be checked only when no answer came within 300 ms), and the 5 s deadlines are
 *   limits for a hung server, not part of the path.
 * - libFuzzer's -timeout alarm (SIGALRM every timeout/2 + 1 s, its handler installed without
 *   SA_RESTART) lands in this thread's system calls. Every call here retries on EINTR against
 *   its deadline: an interrupted poll() used to count as "no answer" and an interrupted
 *   connect() aborted, which made CI fail on inputs that do not reproduce alone.
 * - Tokens are random lowercase hex: a placeholder inside a percent escape ("%@BT@") is left
 *   as it is, so that no random digit can be decoded.
 * What still varies is the order in which the server's polling thread sees a raw connection and
 * the /health one: coverage, not the result.
 */
#define _POSIX_C_SOURCE 200809L
#define _XOPEN_SOURCE 700 /* nftw */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
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
#define ANSWER_MS 5000 /* a live server answers within this, however slow the machine */

static FILE *report; /* the real stderr, for this harness's own messages */
static char home[64];
static ts_svc_config cfg;
/* The service of the current input, and the harness's own handle on its store. */
static ts_svc *svc;
static ts_store *store;
static uint16_t port;

static void die(const char *what, const ts_error *e)
{
    fprintf(report ? report : stderr, "fuzz_token_endpoint: %s: %s %s\n", what, e ? e->where : "",
            e ? e->msg : "");
    abort();
}

static void fail(const char *what)
{
    fprintf(report, "fuzz_token_endpoint: %s\n", what);
    __builtin_trap();
}

/* ------------------------------------------------------------------------------------------ */
/* A fresh service per input                                                                  */

static void remove_store_files(void)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    char path[TS_SVC_PATH + 16];
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        snprintf(path, sizeof path, "%s%s", cfg.store, suffix[i]);
        if (unlink(path) != 0 && errno != ENOENT)
            die("unlink store file", NULL);
    }
}

static void service_up(void)
{
    ts_error err;
    ts_error_clear(&err);
    remove_store_files();
    svc = ts_svc_start(&cfg, &err);
    if (!svc)
        die("start", &err);
    port = ts_svc_port(svc);
    ts_store_options so = TS_STORE_OPTIONS_INIT;
    so.path = cfg.store;
    store = ts_store_new(&so, &err);
    if (!store)
        die("store", &err);
}

/* Stopping the service also closes whatever connections an input left open. */
static void service_down(void)
{
    ts_store_free(store);
    store = NULL;
    ts_svc_free(svc);
    svc = NULL;
    remove_store_files();
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_home(void)
{
    nftw(home, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* Sends use MSG_NOSIGNAL; this covers any other write to a closed connection. */
    signal(SIGPIPE, SIG_IGN);
    report = stderr;
    /* Memory-backed when possible: every input creates a database, and its fsyncs would
       otherwise take most of the time. */
    snprintf(home, sizeof home, "/dev/shm/ts-fuzz-token-XXXXXX");
    if (!mkdtemp(home)) {
        snprintf(home, sizeof home, "/tmp/ts-fuzz-token-XXXXXX");
        if (!mkdtemp(home))
            die("mkdtemp", NULL);
    }
    atexit(remove_home);
    ts_svc_config_defaults(&cfg);
    snprintf(cfg.home, sizeof cfg.home, "%s", home);
    snprintf(cfg.listen, sizeof cfg.listen, "127.0.0.1:0");
    snprintf(cfg.algorithm, sizeof cfg.algorithm, "ES256");
    cfg.threads = 1; /* one polling thread: a raw connection must not starve the others */
    ts_error err;
    ts_error_clear(&err);
    if (ts_svc_config_finish(&cfg, &err) != TS_OK)
        die("config", &err);
    /* The service logs every request on stderr: send those lines away. libFuzzer keeps its own
       copy of the stream pointer and sanitizers write to descriptor 2, so both still report. */
    FILE *quiet = fopen("/dev/null", "w");
    if (quiet)
        stderr = quiet;
    /* The first start makes the signing key; every input then finds the same one. */
    service_up();
    service_down();
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Loopback HTTP that signals cannot interrupt                                                */

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Wait until @p fd has one of @p events, retrying after signals. @return false at the deadline. */
static bool wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return false;
        struct pollfd pf = {fd, events, 0};
        int pr = poll(&pf, 1, (int)left);
        if (pr > 0)
            return true;
        if (pr < 0 && errno != EINTR)
            die("poll", NULL);
    }
}

/* A connected non-blocking socket to the service, or a trap: it must always accept. */
static int connect_service(int64_t deadline)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket", NULL);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    if (rc != 0 && errno != EINPROGRESS && errno != EINTR)
        fail("the server stopped accepting connections");
    if (rc != 0) {
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (!wait_fd(fd, POLLOUT, deadline) ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0)
            fail("the server stopped accepting connections");
    }
    return fd;
}

/* Send all of @p buf; the server may close early on a bad request, which ends the sending. */
static void send_all(int fd, const char *buf, size_t len, int64_t deadline)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
        if (n > 0)
            off += (size_t)n;
        else if (n < 0 && errno == EINTR)
            continue;
        else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
                 wait_fd(fd, POLLOUT, deadline))
            continue;
        else
            return;
    }
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

/* One request on a fresh connection; @return bytes of response read, or -1 at the deadline. */
static long exchange(const char *req, size_t len, char *resp, size_t cap)
{
    int64_t deadline = now_ms() + ANSWER_MS;
    int fd = connect_service(deadline);
    send_all(fd, req, len, deadline);
    shutdown(fd, SHUT_WR);
    size_t got = 0;
    long ret = 0;
    resp[0] = '\0';
    for (;;) {
        ssize_t n = recv(fd, resp + got, cap - 1 - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_fd(fd, POLLIN, deadline))
                continue;
            ret = -1;
            break;
        }
        if (n <= 0)
            break; /* closed, or reset after answering */
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

/* ------------------------------------------------------------------------------------------ */
/* Inputs                                                                                     */

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
    if (exchange(req, (size_t)rl, resp, sizeof resp) <= 0 || status_of(resp) != 200)
        return false;
    const char *k = strstr(resp, "\"refresh_token\":\"");
    if (!k || strlen(k + 17) < TS_STORE_TOKEN_LEN)
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
        bool in_escape = (o >= 1 && out[o - 1] == '%') || (o >= 2 && out[o - 2] == '%');
        bool bt = !in_escape && n - i >= 4 && memcmp(in + i, "@BT@", 4) == 0;
        bool rt = !in_escape && n - i >= 4 && memcmp(in + i, "@RT@", 4) == 0;
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

static const char health_req[] = "GET /health HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n";

/* Raw bytes may leave their connection open (a request head that never ends waits for its
 * deadline): the service must serve others meanwhile. The raw answer itself is not checked. */
static void run_raw(const uint8_t *data, size_t size, char *resp, size_t cap)
{
    int raw = connect_service(now_ms() + ANSWER_MS);
    send_all(raw, (const char *)data, size, now_ms() + ANSWER_MS);
    shutdown(raw, SHUT_WR);
    long got = exchange(health_req, sizeof health_req - 1, resp, cap);
    close(raw);
    if (got < 0 || status_of(resp) != 200) {
        fprintf(report, "fuzz_token_endpoint: /health answer beside a raw connection:\n%.2000s\n",
                got < 0 ? "(none within 5 s)" : resp);
        fail("the server stopped answering");
    }
}

static void run_form(unsigned mode, unsigned variant, const uint8_t *data, size_t size)
{
    static char body[MAX_REQ], req[MAX_REQ + 1024], resp[MAX_RESP];
    size_t bl = expand(data, size, body, sizeof body);
    static const char *const types[] = {"application/x-www-form-urlencoded",
                                        "application/x-www-form-urlencoded; charset=utf-8",
                                        "application/json", "multipart/form-data; boundary=x", ""};
    const char *ctype = mode == 0 ? types[0] : types[variant % 5u];
    int hl = snprintf(req, sizeof req,
                      "POST %s HTTP/1.1\r\nHost: fuzz\r\nContent-Type: %s\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                      mode == 0 ? "/oauth/token" : "/token", ctype, bl);
    memcpy(req + hl, body, bl);
    if (exchange(req, (size_t)hl + bl, resp, sizeof resp) < 0)
        fail("no answer within 5 s");
    int status = status_of(resp);
    /* 5xx for client input, or a refusal without an OAuth error body, is a defect */
    if (status == 0 || status >= 500 || (status != 200 && !strstr(resp, "\"error\":\""))) {
        fprintf(report, "fuzz_token_endpoint: unexpected answer:\n%.2000s\n", resp);
        fail("unexpected answer");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 16384)
        return 0;
    static char resp[MAX_RESP];
    service_up();
    unsigned mode = data[0] % 3u;
    if (mode == 2)
        run_raw(data + 1, size - 1, resp, sizeof resp);
    else
        run_form(mode, data[0] / 3u, data + 1, size - 1);
    service_down();
    return 0;
}
