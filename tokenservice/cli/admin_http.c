/* The CLI's HTTP client for the service's own APIs (admin_http.h). */
#define _POSIX_C_SOURCE 200809L

#include "admin_http.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Bound the next blocking call (connect included: Linux applies SO_SNDTIMEO to it) by what is
 * left until @p deadline. @return false when nothing is left. */
static bool arm(int fd, double deadline)
{
    double left = deadline - now_s();
    if (left <= 0)
        return false;
    struct timeval tv = {(time_t)left, (suseconds_t)((left - (double)(time_t)left) * 1e6)};
    if (tv.tv_sec == 0 && tv.tv_usec == 0)
        tv.tv_usec = 1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return true;
}

static const char *why(int e)
{
    return e == EAGAIN || e == EWOULDBLOCK || e == EINPROGRESS ? "timed out" : strerror(e);
}

static int connect_unix(const char *url, double deadline, char *host, size_t hcap, char *msg,
                        size_t mcap)
{
    struct sockaddr_un un;
    memset(&un, 0, sizeof un);
    un.sun_family = AF_UNIX;
    size_t l = strlen(url + 5);
    if (l == 0 || l >= sizeof un.sun_path) {
        snprintf(msg, mcap, "bad socket path in '%s'", url);
        return -1;
    }
    memcpy(un.sun_path, url + 5, l + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || !arm(fd, deadline) ||
        connect(fd, (struct sockaddr *)&un, (socklen_t)sizeof un) != 0) {
        snprintf(msg, mcap, "%s: %s", url, why(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    snprintf(host, hcap, "localhost");
    return fd;
}

/* Connect to the listener @p url names. @return the socket, or -1 with a message. */
static int connect_to(const char *url, bool allow_unix, double deadline, char *host_hdr,
                      size_t hcap, char *msg, size_t mcap)
{
    if (allow_unix && strncmp(url, "unix:", 5) == 0)
        return connect_unix(url, deadline, host_hdr, hcap, msg, mcap);
    if (strncmp(url, "http://", 7) != 0) {
        snprintf(msg, mcap, "'%s' is not http://HOST:PORT%s", url,
                 allow_unix ? " or unix:PATH" : "");
        return -1;
    }
    char hp[256];
    snprintf(hp, sizeof hp, "%s", url + 7);
    hp[strcspn(hp, "/")] = '\0';
    snprintf(host_hdr, hcap, "%s", hp);
    char host[256];
    const char *port = "80";
    if (hp[0] == '[') {
        char *rb = strchr(hp, ']');
        if (!rb || (rb[1] && rb[1] != ':')) {
            snprintf(msg, mcap, "'%s' is not http://[ADDR]:PORT", url);
            return -1;
        }
        *rb = '\0';
        if (rb[1] == ':')
            port = rb + 2;
        snprintf(host, sizeof host, "%s", hp + 1);
    } else {
        char *colon = strrchr(hp, ':');
        if (colon) {
            *colon = '\0';
            port = colon + 1;
        }
        snprintf(host, sizeof host, "%s", hp);
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(msg, mcap, "%s: %s", url, gai_strerror(rc));
        return -1;
    }
    int fd = -1, e = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (arm(fd, deadline) && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        e = errno ? errno : ETIMEDOUT;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        snprintf(msg, mcap, "%s: %s", url, why(e ? e : ECONNREFUSED));
    return fd;
}

static bool send_all(int fd, const char *p, size_t n, double deadline)
{
    while (n) {
        if (!arm(fd, deadline)) {
            errno = ETIMEDOUT;
            return false;
        }
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Status and ETag from the head (NUL-terminated, without the blank line). */
static bool read_head(const char *head, ts_cli_http_answer *out)
{
    int status = 0;
    if (strncmp(head, "HTTP/1.", 7) != 0 || strlen(head) < 12 ||
        sscanf(head + 9, "%3d", &status) != 1 || status < 100)
        return false;
    for (const char *l = strstr(head, "\r\n"); l; l = strstr(l + 2, "\r\n"))
        if (strncasecmp(l + 2, "ETag:", 5) == 0) {
            const char *v = l + 7;
            while (*v == ' ' || *v == '"')
                v++;
            size_t k = strcspn(v, "\"\r");
            snprintf(out->etag, sizeof out->etag, "%.*s", (int)k, v);
        }
    out->status = status;
    return true;
}

void ts_cli_http_call(const ts_cli_http_request *rq, ts_cli_http_answer *out)
{
    memset(out, 0, sizeof *out);
    double deadline = now_s() + TS_CLI_HTTP_TIMEOUT_S;
    char host[300];
    int fd =
        connect_to(rq->url, rq->allow_unix, deadline, host, sizeof host, out->msg, sizeof out->msg);
    if (fd < 0)
        return;
    size_t blen = rq->body ? strlen(rq->body) : 0;
    size_t hcap = (rq->token ? strlen(rq->token) : 0) + strlen(rq->path) +
                  (rq->if_match ? strlen(rq->if_match) : 0) + 1024;
    char *head = malloc(hcap);
    char *buf = malloc(rq->max_answer + 1);
    if (!head || !buf) {
        snprintf(out->msg, sizeof out->msg, "out of memory");
        goto done;
    }
    int hl = snprintf(head, hcap,
                      "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n%s%s%s%s%s%s%s"
                      "Content-Length: %zu\r\n\r\n",
                      rq->method, rq->path, host, rq->token ? "Authorization: Bearer " : "",
                      rq->token ? rq->token : "", rq->token ? "\r\n" : "",
                      rq->if_match ? "If-Match: \"" : "", rq->if_match ? rq->if_match : "",
                      rq->if_match ? "\"\r\n" : "",
                      rq->body ? "Content-Type: application/json\r\n" : "", blen);
    if (hl < 0 || (size_t)hl >= hcap) {
        snprintf(out->msg, sizeof out->msg, "request too long");
        goto done;
    }
    if (!send_all(fd, head, (size_t)hl, deadline) ||
        (blen && !send_all(fd, rq->body, blen, deadline))) {
        snprintf(out->msg, sizeof out->msg, "%s: send: %s", rq->url, why(errno));
        goto done;
    }
    size_t n = 0;
    while (n < rq->max_answer) {
        if (!arm(fd, deadline)) {
            snprintf(out->msg, sizeof out->msg, "%s: receive: timed out", rq->url);
            goto done;
        }
        ssize_t r = recv(fd, buf + n, rq->max_answer - n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(out->msg, sizeof out->msg, "%s: receive: %s", rq->url, why(errno));
            goto done;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    char *sep = strstr(buf, "\r\n\r\n");
    if (sep)
        *sep = '\0';
    if (!sep || !read_head(buf, out)) {
        out->status = 0;
        snprintf(out->msg, sizeof out->msg, "%s: not an HTTP response", rq->url);
        goto done;
    }
    size_t bl = n - (size_t)(sep + 4 - buf);
    memmove(buf, sep + 4, bl);
    buf[bl] = '\0';
    out->body = buf;
    buf = NULL;
done:
    if (head) {
        memset(head, 0, hcap); /* it held the token */
        free(head);
    }
    free(buf);
    close(fd);
}

void ts_cli_http_answer_free(ts_cli_http_answer *a)
{
    if (a) {
        free(a->body);
        a->body = NULL;
    }
}
