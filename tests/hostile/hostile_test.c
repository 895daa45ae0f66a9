/* Hostile HTTP clients against `tokensmith serve` and examples/minisvc, over raw sockets:
   oversized headers, URLs and bodies, slow clients holding connections, malformed paths (bad
   percent-encoding, NUL bytes, dot segments and encoded separators on minisvc's object mapping),
   CR/LF smuggled into echoed values, and credentials in the query string. Every case asserts the
   exact status (or that the connection was closed) within a time bound, and each server's
   resident memory stays bounded while it is attacked.

   A raw NUL byte in the path cannot be refused: libmicrohttpd 0.9.75 ends the path there before
   any callback runs. The cases pin what happens instead: every layer (bounds, gate, handler)
   sees the same shorter path and the answer is the one for that path (docs/security.md).
   usage: hostile_test TOKENSMITH MINISVC */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tokensmith/testutil.h>

#include "harness.h"

/* ------------------------------------------------------------------------------------------ */
/* Raw HTTP                                                                                   */

#define RESP_CAP (256u * 1024u)

typedef struct reply {
    long status; /* HTTP status; 0: closed without an answer; -1: no answer in time */
    bool closed; /* the server closed the connection (EOF or reset) */
    double secs; /* from the first byte sent to the end of reading */
    char *head;  /* status line and headers (NUL-terminated, CR/LF kept) */
    char *body;  /* after the blank line */
    size_t body_len;
    char buf[RESP_CAP];
    size_t len;
} reply;

/* Content-Length of a complete header block, or -1. */
static long content_length(const char *head)
{
    for (const char *p = head; (p = strstr(p, "\r\n")) != NULL; p += 2)
        if (strncasecmp(p + 2, "Content-Length:", 15) == 0)
            return strtol(p + 17, NULL, 10);
    return -1;
}

/* Read one answer (until it is complete, EOF, or @p timeout_ms of silence). */
static void read_reply(int fd, reply *r, int timeout_ms, double t0)
{
    r->len = 0;
    r->status = -1;
    r->closed = false;
    char *end = NULL;
    for (;;) {
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, timeout_ms) <= 0)
            break;
        ssize_t n = recv(fd, r->buf + r->len, sizeof r->buf - 1 - r->len, 0);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            r->closed = true;
            break;
        }
        r->len += (size_t)n;
        r->buf[r->len] = '\0';
        if (!end && (end = strstr(r->buf, "\r\n\r\n")) != NULL) {
            *end = '\0';
            long cl = content_length(r->buf);
            *end = '\r';
            if (cl >= 0 && r->len >= (size_t)(end + 4 - r->buf) + (size_t)cl)
                break;
        }
        if (r->len == sizeof r->buf - 1)
            break;
    }
    r->buf[r->len] = '\0';
    r->secs = ts_harness_now() - t0;
    r->head = r->buf;
    r->body = r->buf + r->len;
    r->body_len = 0;
    if (r->len == 0) {
        if (r->closed)
            r->status = 0;
        return;
    }
    char *sep = strstr(r->buf, "\r\n\r\n");
    if (sep) {
        *sep = '\0';
        r->body = sep + 4;
        r->body_len = r->len - (size_t)(r->body - r->buf);
    }
    if (strncmp(r->buf, "HTTP/1.", 7) == 0 && strlen(r->buf) > 12)
        r->status = strtol(r->buf + 9, NULL, 10);
}

/* One request on a fresh connection; the answer in @p r (static storage: one at a time). */
static reply *xchg(unsigned port, const char *req, size_t len)
{
    static reply r;
    memset(&r, 0, sizeof r - sizeof r.buf);
    double t0 = ts_harness_now();
    int fd = ts_harness_dial(port);
    if (fd < 0) {
        r.status = -2;
        r.head = r.body = r.buf;
        r.buf[0] = '\0';
        return &r;
    }
    ts_harness_send_all(fd, req, len);
    read_reply(fd, &r, 5000, t0);
    /* A complete answer: does the server close the connection (within 3 s)? */
    struct pollfd pf = {fd, POLLIN, 0};
    char extra[256];
    while (!r.closed && poll(&pf, 1, 3000) > 0) {
        ssize_t n = recv(fd, extra, sizeof extra, 0);
        if (n <= 0)
            r.closed = true;
    }
    close(fd);
    return &r;
}

/* GET @p path with extra header lines @p hdrs (each ending in CRLF; may be ""). */
static reply *get(unsigned port, const char *path, size_t path_len, const char *hdrs)
{
    size_t cap = path_len + strlen(hdrs) + 128;
    char *req = malloc(cap);
    if (!req)
        abort();
    int n = snprintf(req, cap, "GET ");
    memcpy(req + n, path, path_len);
    size_t w = (size_t)n + path_len;
    w += (size_t)snprintf(req + w, cap - w, " HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n",
                          hdrs);
    reply *r = xchg(port, req, w);
    free(req);
    return r;
}

static char auth_hdr[3][4096]; /* "Authorization: Bearer ...\r\n" for admin, operator, service */
#define AS_ADMIN auth_hdr[0]
#define AS_OPERATOR auth_hdr[1]
#define AS_SERVICE auth_hdr[2]

static reply *req_as(unsigned port, const char *method, const char *path, const char *hdrs)
{
    char req[16384];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n",
                     method, path, hdrs);
    return xchg(port, req, (size_t)n);
}

/* The value of response header @p name (case-insensitive), copied into @p out; false if absent. */
static bool header(const reply *r, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = r->head; (p = strstr(p, "\r\n")) != NULL; p += 2) {
        if (strncasecmp(p + 2, name, nl) == 0 && p[2 + nl] == ':') {
            const char *v = p + 3 + nl;
            while (*v == ' ')
                v++;
            size_t l = strcspn(v, "\r\n");
            if (l >= cap)
                l = cap - 1;
            memcpy(out, v, l);
            out[l] = '\0';
            return true;
        }
    }
    return false;
}

/* No header line starts with @p name, and the body holds no raw control byte but a final LF. */
static bool no_injection(const reply *r, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = r->head; (p = strstr(p, "\r\n")) != NULL; p += 2)
        if (strncasecmp(p + 2, name, nl) == 0)
            return false;
    for (size_t i = 0; i < r->body_len; i++) {
        unsigned char c = (unsigned char)r->body[i];
        if (c < 0x20 && !(c == '\n' && i + 1 == r->body_len))
            return false;
    }
    return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Processes                                                                                  */

static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

/* @p head (request line and header lines) then about @p body_bytes of chunked body. */
static char *chunked_request(const char *head, size_t body_bytes, size_t *len)
{
    size_t cap = strlen(head) + body_bytes + 8192;
    char *out = malloc(cap);
    if (!out)
        abort();
    size_t w = (size_t)snprintf(out, cap, "%sTransfer-Encoding: chunked\r\n\r\n", head);
    for (size_t sent = 0; sent < body_bytes; sent += 4096) {
        w += (size_t)snprintf(out + w, cap - w, "1000\r\n");
        memset(out + w, 'a', 4096);
        w += 4096;
        memcpy(out + w, "\r\n", 2);
        w += 2;
    }
    w += (size_t)snprintf(out + w, cap - w, "0\r\n\r\n");
    *len = w;
    return out;
}

/* ------------------------------------------------------------------------------------------ */
/* Attacks both servers get                                                                    */

/* A request whose header block or URL is far beyond the servers' limits. */
static void oversized_headers(const char *who, unsigned port)
{
    size_t big = 64 * 1024;
    char *filler = malloc(big + 1);
    char *req = malloc(2 * big + 256);
    if (!filler || !req)
        abort();
    memset(filler, 'a', big);
    filler[big] = '\0';

    int n = snprintf(req, 2 * big + 256, "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n",
                     filler);
    reply *r = xchg(port, req, (size_t)n);
    CHECK(r->status == 431 && r->closed && r->secs < 3, "%s: 64 KiB header: %ld closed=%d %.2fs",
          who, r->status, r->closed, r->secs);

    size_t w = (size_t)snprintf(req, 2 * big + 256, "GET /health HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; w + 64 < 2 * big; i++)
        w += (size_t)snprintf(req + w, 2 * big + 256 - w, "X-H%d: v\r\n", i);
    w += (size_t)snprintf(req + w, 2 * big + 256 - w, "\r\n");
    r = xchg(port, req, w);
    CHECK(r->status == 431 && r->closed, "%s: thousands of headers: %ld", who, r->status);

    n = snprintf(req, 2 * big + 256, "GET /health?q=%s HTTP/1.1\r\nHost: x\r\n\r\n", filler);
    r = xchg(port, req, (size_t)n);
    CHECK(r->status == 414 && r->closed, "%s: 64 KiB URL: %ld", who, r->status);
    free(filler);
    free(req);
}

/* Connections that send part of a request and stall. While they are held the server answers
   others promptly; each one is closed by the server once it has been idle for its timeout. */
typedef struct slow_set {
    int fd[24];
    double opened;
} slow_set;

/* Half of them stop inside the headers, half inside a body the server waits for (@p method
   @p path with header lines @p hdrs that let it through to the body). */
static void slow_open(slow_set *s, unsigned port, const char *method, const char *path,
                      const char *hdrs)
{
    for (size_t i = 0; i < sizeof s->fd / sizeof s->fd[0]; i++) {
        s->fd[i] = ts_harness_dial(port);
        char part[8192];
        int n = i % 2 ? snprintf(part, sizeof part,
                                 "%s %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: 100\r\n"
                                 "Content-Type: application/x-www-form-urlencoded\r\n\r\nabc",
                                 method, path, hdrs)
                      : snprintf(part, sizeof part, "GET %s HTTP/1.1\r\nHost: x\r\nX-Sl", path);
        if (s->fd[i] >= 0)
            ts_harness_send_all(s->fd[i], part, (size_t)n);
    }
    s->opened = ts_harness_now();
}

/* Every slow connection is closed by the server by @p deadline_s after opening. */
static void slow_check_dropped(const char *who, slow_set *s, double timeout_s, double deadline_s)
{
    size_t dropped = 0, early = 0, n = sizeof s->fd / sizeof s->fd[0];
    for (size_t i = 0; i < n; i++) {
        if (s->fd[i] < 0)
            continue;
        /* An answer (such as 408) before the close is fine; what counts is the close. */
        struct pollfd pf = {s->fd[i], POLLIN, 0};
        ssize_t got = 1;
        size_t answered = 0;
        for (;;) {
            double left = deadline_s - (ts_harness_now() - s->opened);
            if (left <= 0 || poll(&pf, 1, (int)(left * 1000)) <= 0)
                break;
            char b[1024];
            got = recv(s->fd[i], b, sizeof b, 0);
            if (got <= 0)
                break;
            answered += (size_t)got;
        }
        if (got <= 0) {
            dropped++;
            if (!answered && ts_harness_now() - s->opened < timeout_s - 0.5)
                early++;
        }
        close(s->fd[i]);
        s->fd[i] = -1;
    }
    CHECK(dropped == n, "%s: slow clients dropped: %zu of %zu", who, dropped, n);
    CHECK(early == 0, "%s: %zu slow clients dropped before the %.0f s timeout", who, early,
          timeout_s);
}

static void served_while_slow(const char *who, unsigned port)
{
    double worst = 0;
    int ok = 0;
    for (int i = 0; i < 20; i++) {
        reply *r = get(port, "/health", 7, "");
        ok += r->status == 200;
        if (r->secs > worst)
            worst = r->secs;
    }
    CHECK(ok == 20 && worst < 2.0, "%s: served while slow clients are held: %d/20, worst %.2fs",
          who, ok, worst);
}

/* ------------------------------------------------------------------------------------------ */
/* tokensmith serve                                                                           */

static bool has(const reply *r, const char *s)
{
    return r->body_len && strstr(r->body, s) != NULL;
}

static void tokensmith_cases(unsigned port, pid_t pid)
{
    /* Warm up, then remember the resident size. */
    for (int i = 0; i < 20; i++)
        get(port, "/health", 7, "");
    long rss0 = rss_kb(pid);

    slow_set slow;
    slow_open(&slow, port, "POST", "/oauth/token", "");
    oversized_headers("tokensmith", port);

    /* Bodies over maxBodyBytes: an announced one is refused before it is read, and the
       connection does not stay open for the rest of it. */
    const char *hdr = "POST /oauth/token HTTP/1.1\r\nHost: x\r\n"
                      "Content-Type: application/x-www-form-urlencoded\r\n";
    char req[1024];
    int n = snprintf(req, sizeof req, "%sContent-Length: 10485760\r\n\r\ngrant_type=", hdr);
    reply *r = xchg(port, req, (size_t)n);
    CHECK(r->status == 413 && strstr(r->body, "\"error\":\"invalid_request\"") &&
              strstr(r->body, "Request body exceeds 16384 bytes") && r->closed && r->secs < 3,
          "announced 10 MiB body: %ld closed=%d %.2fs %s", r->status, r->closed, r->secs, r->body);
    /* Framing two parsers could read differently (request smuggling behind a proxy): refused
       with 400 and a JSON body before any body is read, and the connection is closed. */
    static const char *const smuggle[] = {
        "Content-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef",
        "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof smuggle / sizeof smuggle[0]; i++) {
        n = snprintf(req, sizeof req, "%s%s", hdr, smuggle[i]);
        r = xchg(port, req, (size_t)n);
        CHECK(r->status == 400 && strstr(r->body, "\"error\":\"invalid_request\"") && r->closed,
              "tokensmith: smuggling framing %zu: %ld closed=%d %s", i, r->status, r->closed,
              r->body);
    }
    n = snprintf(req, sizeof req, "GET /health HTTP/1.1\r\n\r\n");
    r = xchg(port, req, (size_t)n);
    CHECK(r->status == 400 && strstr(r->body, "\"error\":\"invalid_request\"") && r->closed,
          "tokensmith: HTTP/1.1 without Host: %ld closed=%d %s", r->status, r->closed, r->body);
    /* Chunked, so nothing is announced: 1 MiB streamed. */
    size_t w = 0;
    char head[512];
    snprintf(head, sizeof head, "%sConnection: close\r\n", hdr);
    char *chunked = chunked_request(head, 1u << 20, &w);
    r = xchg(port, chunked, w);
    CHECK(r->status == 413 && strstr(r->body, "Request body exceeds 16384 bytes"),
          "chunked 1 MiB body: %ld %s", r->status, r->body);

    /* Paths: bad escapes and NUL bytes. */
    r = get(port, "/health%zz", 10, "");
    CHECK(r->status == 400 && strstr(r->body, "Malformed percent-encoding"),
          "tokensmith: /health%%zz: %ld %s", r->status, r->body);
    r = get(port, "/oauth/token%", 13, "");
    CHECK(r->status == 400, "tokensmith: /oauth/token%% (truncated escape): %ld", r->status);
    r = get(port, "/health%00x", 11, "");
    CHECK(r->status == 400, "tokensmith: /health%%00x (encoded NUL): %ld", r->status);
    r = get(port, "/health\0x", 9, "");
    CHECK(r->status == 200 && has(r, "\"status\":\"healthy\""),
          "tokensmith: a raw NUL ends the path (answered as /health): %ld %s", r->status, r->body);
    r = get(port, "/x/../health", 12, "");
    CHECK(r->status == 404, "tokensmith: dot segments are not resolved into a route: %ld",
          r->status);

    /* Echoed values: X-Request-Id is taken only when it is 1-64 of [A-Za-z0-9._-]. */
    char rid[128];
    r = get(port, "/health", 7, "X-Request-Id: abc\rSet-Cookie: evil=1\r\n");
    CHECK(r->status == 200 && no_injection(r, "Set-Cookie") &&
              header(r, "X-Request-Id", rid, sizeof rid) && strlen(rid) == 24 &&
              strspn(rid, "0123456789abcdef") == 24,
          "tokensmith: CR in X-Request-Id replaced by a generated id: %ld '%s'", r->status, rid);
    r = get(port, "/health", 7, "X-Request-Id: a\"b\r\n");
    CHECK(header(r, "X-Request-Id", rid, sizeof rid) && !strchr(rid, '"'),
          "tokensmith: quote in X-Request-Id: '%s'", rid);
    r = get(port, "/nope%0d%0aSet-Cookie:%20evil=1", 31, "");
    CHECK(r->status == 404 && no_injection(r, "Set-Cookie"), "tokensmith: CRLF in the path: %ld",
          r->status);
    const char *form = "grant_type=x%22y%5Cz%0D%0A";
    n = snprintf(req, sizeof req, "%sContent-Length: %zu\r\nConnection: close\r\n\r\n%s", hdr,
                 strlen(form), form);
    r = xchg(port, req, (size_t)n);
    CHECK(r->status == 400 && strstr(r->body, "Failed to parse request") &&
              no_injection(r, "Set-Cookie"),
          "tokensmith: CR/LF in a form value: %ld %s", r->status, r->body);
    form = "grant_type=x%22y%5C";
    n = snprintf(req, sizeof req, "%sContent-Length: %zu\r\nConnection: close\r\n\r\n%s", hdr,
                 strlen(form), form);
    r = xchg(port, req, (size_t)n);
    CHECK(r->status == 400 && strstr(r->body, "\"Grant type 'x\\\"y\\\\' is not supported\"") &&
              no_injection(r, "Set-Cookie"),
          "tokensmith: quote and backslash echoed escaped: %ld %s", r->status, r->body);

    /* Credentials in the query string. */
    const char *qs[] = {"/oauth/token?refresh_token=0123abcd", "/oauth/token?x",
                        "/token?subject_token=abc&grant_type=refresh_token"};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        n = snprintf(req, sizeof req,
                     "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: "
                     "application/x-www-form-urlencoded\r\nContent-Length: 3\r\nConnection: "
                     "close\r\n\r\nx=1",
                     qs[i]);
        r = xchg(port, req, (size_t)n);
        CHECK(r->status == 400 &&
                  strstr(r->body, "Parameters must be sent in the request body, not in the URL "
                                  "query"),
              "tokensmith: POST %s: %ld %s", qs[i], r->status, r->body);
    }

    /* Held connections do not stop the others, and are dropped after connectionTimeout (2 s). */
    served_while_slow("tokensmith", port);
    slow_check_dropped("tokensmith", &slow, 2.0, 8.0);

    /* Resident memory while attacked: 200 more oversized requests (about 100 MiB offered). */
    char *hbig = malloc(64 * 1024 + 128);
    if (!hbig)
        abort();
    int hn = snprintf(hbig, 64 * 1024 + 128, "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(hbig + hn, 'b', 60 * 1024);
    hn += 60 * 1024;
    hn += snprintf(hbig + hn, 128, "\r\n\r\n");
    for (int i = 0; i < 100; i++) {
        xchg(port, hbig, (size_t)hn);
        xchg(port, chunked, w);
    }
    long rss1 = rss_kb(pid);
    CHECK(rss0 > 0 && rss1 > 0 && rss1 - rss0 < 32 * 1024,
          "tokensmith: resident memory %ld kB -> %ld kB under attack", rss0, rss1);
    printf("tokensmith: resident memory %ld kB -> %ld kB\n", rss0, rss1);
    free(hbig);
    free(chunked);
}

/* ------------------------------------------------------------------------------------------ */
/* minisvc                                                                                     */

static void minisvc_cases(unsigned port, pid_t pid, const char *admin_token)
{
    for (int i = 0; i < 20; i++)
        get(port, "/health", 7, "");
    long rss0 = rss_kb(pid);
    /* minisvc runs with 6 s deadlines for the head and for the body (its idle timeout stays
       30 s): the slow clients are opened first and checked last. */
    slow_set slow;
    slow_open(&slow, port, "PUT", "/v1/nodes/slow", AS_ADMIN);
    oversized_headers("minisvc", port);

    /* A body over minisvc's 1 KiB limit, chunked so that it is read: 413. */
    char head[4200];
    snprintf(head, sizeof head, "PUT /v1/nodes/big HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n",
             AS_ADMIN);
    size_t w = 0;
    char *chunked = chunked_request(head, 2u << 20, &w);
    reply *r = xchg(port, chunked, w);
    CHECK(r->status == 413 && has(r, "body too large"), "minisvc: 2 MiB body: %ld %s", r->status,
          r->body);
    /* Without a token the body is never read: 401 at once. */
    char req[8192];
    int n = snprintf(req, sizeof req,
                     "PUT /v1/nodes/big HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\n\r\n");
    r = xchg(port, req, (size_t)n);
    CHECK(r->status == 401 && r->secs < 3, "minisvc: 10 MiB announced without a token: %ld",
          r->status);

    /* Object mapping uses the normalised path: dot segments and encoded dots or slashes never
       reach an object the caller may not use. The service role reads nodes but not boot. */
    static const struct {
        const char *method, *path, *object;
    } trav[] = {
        {"GET", "/v1/nodes/../boot/configs", "boot:configs"},
        {"GET", "/v1/nodes/%2e%2e/boot/configs", "boot:configs"},
        {"GET", "/v1/nodes/%2E%2E%2Fboot%2Fconfigs", "boot:configs"},
        {"GET", "/v1/nodes/..%2fboot/configs", "boot:configs"},
        {"GET", "/v1/whoami/../boot/configs", "boot:configs"}, /* public prefix, not public */
        {"GET", "/v1/nodes/./../../v1/boot/configs/", "boot:configs"},
        {"PUT", "/v1/groups/../nodes/n1", "metadata:nodes"}, /* service may not update */
    };
    for (size_t i = 0; i < sizeof trav / sizeof trav[0]; i++) {
        r = req_as(port, trav[i].method, trav[i].path, AS_SERVICE);
        char obj[128];
        snprintf(obj, sizeof obj, "\"object\":\"%s\"", trav[i].object);
        CHECK(r->status == 403 && has(r, "\"code\":\"AUTHZ_DENIED\"") && has(r, obj),
              "minisvc: service %s %s: %ld %s", trav[i].method, trav[i].path, r->status, r->body);
    }
    /* Admin reload is granted by no loaded fragment: a detour through /v1/nodes does not help. */
    r = req_as(port, "POST", "/v1/nodes/../admin/reload", AS_OPERATOR);
    CHECK(r->status == 403 && has(r, "\"object\":\"minisvc:policy\""),
          "minisvc: operator POST /v1/nodes/../admin/reload: %ld %s", r->status, r->body);
    r = req_as(port, "PUT", "/v1/nodes/../admin/reload", AS_ADMIN);
    CHECK(r->status == 403 && has(r, "\"code\":\"AUTHZ_UNMAPPED\""),
          "minisvc: PUT /v1/nodes/../admin/reload: %ld %s", r->status, r->body);
    /* Allowed after normalisation, the handler still sees the raw path and refuses it. */
    r = req_as(port, "GET", "/v1/nodes/n2/../n1", AS_SERVICE);
    CHECK(r->status == 400 && has(r, "invalid node id"), "minisvc: /v1/nodes/n2/../n1: %ld %s",
          r->status, r->body);
    r = req_as(port, "GET", "/v1/nodes/%zz", AS_SERVICE);
    CHECK(r->status == 400, "minisvc: /v1/nodes/%%zz: %ld %s", r->status, r->body);
    /* Public paths match exactly. */
    r = get(port, "/health/../v1/nodes", 19, "");
    CHECK(r->status == 401 && has(r, "AUTHN_REQUIRED"), "minisvc: /health/../v1/nodes: %ld",
          r->status);
    /* A malformed escape stays undecoded (ts_authz_mhd_strict_unescape): the path is not the
       public /health, so authn asks for a token before anything else looks at it. */
    r = get(port, "/health%zz", 10, "");
    CHECK(r->status == 401 && has(r, "AUTHN_REQUIRED"), "minisvc: /health%%zz: %ld", r->status);
    r = get(port, "/health%00/../v1/nodes", 22, "");
    CHECK(r->status == 401 && has(r, "AUTHN_REQUIRED"),
          "minisvc: /health%%00/../v1/nodes is not the public /health: %ld", r->status);
    r = get(port, "/v1/nodes\0/../boot/configs", 26, AS_SERVICE);
    CHECK(r->status == 200 && has(r, "\"nodes\":["),
          "minisvc: a raw NUL ends the path: the gate and the handler both see /v1/nodes: %ld %s",
          r->status, r->body);
    r = get(port, "/health\0/../v1/nodes", 21, "");
    CHECK(r->status == 200 && !has(r, "\"nodes\":["),
          "minisvc: a raw NUL after a public path is that public path, for the gate and the "
          "handler alike: %ld %s",
          r->status, r->body);

    /* CR/LF and other control characters in a request id: never a header, and not echoed at
       all (a request id is echoed only when it is 1-128 visible ASCII bytes, in authn's 401 and
       in authz's 403 alike). */
    const char *inj[] = {"X-Request-Id: abc\rSet-Cookie: evil=1\r\n",
                         "X-Request-Id: a\"b\\c\x01\r\n"};
    for (size_t i = 0; i < 2; i++) {
        char hdrs[512];
        snprintf(hdrs, sizeof hdrs, "%s", inj[i]);
        r = get(port, "/v1/nodes", 9, hdrs);
        CHECK(r->status == 401 && no_injection(r, "Set-Cookie") && !has(r, "\"request_id\""),
              "minisvc: injected request id, no token: %ld %s", r->status, r->body);
        char both[8192];
        snprintf(both, sizeof both, "%s%s", hdrs, AS_SERVICE);
        r = get(port, "/v1/boot/configs", 16, both);
        CHECK(r->status == 403 && no_injection(r, "Set-Cookie") && !has(r, "\"request_id\""),
              "minisvc: injected request id, denied: %ld %s", r->status, r->body);
    }
    r = get(port, "/v1/x%0d%0aSet-Cookie:%20evil=1", 31, AS_SERVICE);
    CHECK(r->status == 403 && no_injection(r, "Set-Cookie") && has(r, "\\r\\nSet-Cookie"),
          "minisvc: CRLF in the path: %ld %s", r->status, r->body);

    /* A valid token in the query string is not a credential. */
    char path[4096];
    snprintf(path, sizeof path, "/v1/nodes?access_token=%s", admin_token);
    r = get(port, path, strlen(path), "");
    CHECK(r->status == 401 && has(r, "AUTHN_REQUIRED"), "minisvc: token in the query: %ld",
          r->status);

    /* Memory while attacked. */
    for (int i = 0; i < 30; i++)
        xchg(port, chunked, w);
    long rss1 = rss_kb(pid);
    CHECK(rss0 > 0 && rss1 > 0 && rss1 - rss0 < 32 * 1024,
          "minisvc: resident memory %ld kB -> %ld kB under attack", rss0, rss1);
    printf("minisvc: resident memory %ld kB -> %ld kB\n", rss0, rss1);
    free(chunked);

    served_while_slow("minisvc", port);
    slow_check_dropped("minisvc", &slow, 6.0, 16.0);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: hostile_test TOKENSMITH MINISVC\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    char dir[] = "/tmp/hostile-test-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char cfg[4200], home[4200], tslog[4200], mslog[4200], jwks[4200], port_file[4200];
    snprintf(cfg, sizeof cfg, "%s/cfg.json", dir);
    snprintf(home, sizeof home, "%s/home", dir);
    snprintf(tslog, sizeof tslog, "%s/tokensmith.log", dir);
    snprintf(mslog, sizeof mslog, "%s/minisvc.log", dir);
    snprintf(jwks, sizeof jwks, "%s/jwks.json", dir);
    snprintf(port_file, sizeof port_file, "%s/port", dir);
    static const char config[] =
        "{\"connectionTimeout\": 2, \"maxHeaderBytes\": 8192, "
        "\"maxConnections\": 256, \"threads\": 2, \"algorithm\": \"ES256\"}";
    if (ts_testutil_write_file(cfg, config, strlen(config), NULL) != TS_OK)
        return 1;

    /* tokensmith serve */
    const char *ts_argv[] = {argv[1], "serve",  "--listen", "127.0.0.1:0", "--config",
                             cfg,     "--home", home,       NULL};
    pid_t ts = ts_harness_spawn(ts_argv, tslog, NULL, false);
    unsigned ts_port = ts > 0 ? ts_harness_await_port(ts, NULL, tslog, 30.0) : 0;
    CHECK(ts_port > 0, "tokensmith started (log %s)", tslog);
    if (ts_port) {
        tokensmith_cases(ts_port, ts);
        CHECK(ts_harness_stop(ts) == 0, "tokensmith stopped cleanly");
    }

    /* minisvc with a JWKS file and tokens from tokensmith-testutil */
    ts_error err;
    ts_error_clear(&err);
    ts_testutil_key *key = ts_testutil_key_p256(&err);
    const ts_testutil_key *keys[] = {key};
    ts_jwks *set = key ? ts_testutil_jwks(keys, 1, &err) : NULL;
    ts_testutil_policy_dir *pd = ts_testutil_policy_dir_new(&err);
    if (!set || !pd || ts_testutil_jwks_write(set, jwks, &err) != TS_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    const ts_testutil_role roles[3] = {TS_TESTUTIL_ADMIN, TS_TESTUTIL_OPERATOR,
                                       TS_TESTUTIL_SERVICE};
    char *admin = NULL;
    for (int i = 0; i < 3; i++) {
        char *t = ts_testutil_mint_for(key, roles[i], NULL, NULL, TS_TESTUTIL_FLAW_NONE, NULL);
        snprintf(auth_hdr[i], sizeof auth_hdr[i], "Authorization: Bearer %s\r\n", t ? t : "");
        if (i == 0)
            admin = t;
        else
            ts_free(t);
    }
    const char *ms_args[] = {"--mode", "enforce", "--head-timeout", "6s", "--body-timeout",
                             "6s",     NULL};
    ts_harness_minisvc m = {.path = argv[2],
                            .jwks = jwks,
                            .issuer = TS_TESTUTIL_ISSUER,
                            .audience = TS_TESTUTIL_AUDIENCE,
                            .policy_dir = ts_testutil_policy_dir_path(pd),
                            .port_file = port_file,
                            .log = mslog,
                            .args = ms_args};
    unsigned ms_port = 0;
    pid_t ms = ts_harness_start_minisvc(&m, &ms_port);
    CHECK(ms_port > 0, "minisvc started (log %s)", mslog);
    if (ms_port) {
        minisvc_cases(ms_port, ms, admin ? admin : "");
        CHECK(ts_harness_stop(ms) == 0, "minisvc stopped cleanly");
    }
    ts_free(admin);
    ts_testutil_policy_dir_free(pd);
    ts_jwks_free(set);
    ts_testutil_key_free(key);

    if (ts_harness_failed == 0) {
        if (ts_harness_rm_rf(dir) != 0)
            printf("could not remove %s\n", dir);
    } else {
        printf("logs kept in %s\n", dir);
    }
    return ts_harness_summary();
}
