/* The answers of the agent's HTTP server (rt_httpd.h): the handler's answer on the wire, and
 * the JSON bodies of the answers the server gives itself. Every answer says `Connection: close`
 * (one request per connection: nothing to keep alive for a token read once in a while) and
 * `Cache-Control: no-store` (they carry tokens). */
#define _POSIX_C_SOURCE 200809L /* gmtime_r */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rt_httpd.h"

/* {"error":E} as the listeners always answered it, or with an error_description as
 * tokensmith-mhd's invalid_request answers. */
ts_status ts_agent__httpd_refusal(ts_agent__answer *a, unsigned status, const char *error,
                                  const char *description)
{
    char body[256];
    int n = description
                ? snprintf(body, sizeof body, "{\"error\":\"%s\",\"error_description\":\"%s\"}",
                           error, description)
                : snprintf(body, sizeof body, "{\"error\":\"%s\"}", error);
    memset(a, 0, sizeof *a);
    if (n < 0 || (size_t)n >= sizeof body || !(a->body = malloc((size_t)n + 1)))
        return TS_ENOMEM;
    memcpy(a->body, body, (size_t)n + 1);
    a->body_len = (size_t)n;
    a->status = status;
    a->content_type = "application/json";
    return TS_OK;
}

ts_status ts_agent__httpd_plain(ts_agent__answer *a, unsigned status, const char *error)
{
    return ts_agent__httpd_refusal(a, status, error, NULL);
}

static const char *reason(unsigned status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

/* A header line can be sent: no CR, LF or NUL that would end it early or add another. */
static bool line_safe(const char *s, size_t n)
{
    return !memchr(s, '\r', n) && !memchr(s, '\n', n) && !memchr(s, '\0', n);
}

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (n <= b->cap - b->len) { /* the capacity is counted in advance; never false */
        memcpy(b->p + b->len, s, n);
        b->len += n;
    }
}

static void puts_(buf *b, const char *s)
{
    put(b, s, strlen(s));
}

char *ts_agent__httpd_serialize(const ts_agent__answer *a, bool head, size_t *len)
{
    const char *ct = a->content_type;
    size_t ctl = ct ? strlen(ct) : 0;
    if (ct && !line_safe(ct, ctl))
        ct = NULL, ctl = 0;
    size_t cap = 320 + ctl + (head ? 0 : a->body_len);
    for (size_t i = 0; i < a->n_hdrs; i++)
        cap += strlen(a->hdr_names[i]) + a->hdr_lens[i] + 4;
    buf b = {malloc(cap), 0, cap};
    if (!b.p)
        return NULL;
    char line[128];
    char date[40];
    struct tm tm;
    time_t t = time(NULL);
    if (!gmtime_r(&t, &tm) || !strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm))
        date[0] = '\0';
    snprintf(line, sizeof line, "HTTP/1.1 %u %s\r\n", a->status, reason(a->status));
    puts_(&b, line);
    if (*date) {
        puts_(&b, "Date: ");
        puts_(&b, date);
        puts_(&b, "\r\n");
    }
    if (ct) {
        puts_(&b, "Content-Type: ");
        put(&b, ct, ctl);
        puts_(&b, "\r\n");
    }
    snprintf(line, sizeof line, "Content-Length: %zu\r\n", a->body_len);
    puts_(&b, line);
    puts_(&b, "Cache-Control: no-store\r\n");
    if (a->status == 405)
        puts_(&b, "Allow: GET, HEAD\r\n");
    for (size_t i = 0; i < a->n_hdrs; i++) {
        const char *nm = a->hdr_names[i];
        if (!a->hdr_values[i] || !line_safe(nm, strlen(nm)) ||
            !line_safe(a->hdr_values[i], a->hdr_lens[i]))
            continue; /* as libmicrohttpd refused them */
        puts_(&b, nm);
        puts_(&b, ": ");
        put(&b, a->hdr_values[i], a->hdr_lens[i]);
        puts_(&b, "\r\n");
    }
    puts_(&b, "Connection: close\r\n\r\n");
    if (!head)
        put(&b, a->body, a->body_len);
    *len = b.len;
    return b.p;
}
