/*
 * Answers of the HTTP check listener (check_httpd.h), written straight into the connection's
 * output buffer: a status line, header lines, Content-Length and the body, sent with one send().
 * The buffer is kept from request to request (an answer is a few hundred bytes, an allow with
 * a translated token up to ~9 KiB), and the connection wipes what it sent, since an allow holds
 * a token.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_httpd.h"
#include "common/mem.h"

static const char *reason(unsigned status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 413:
        return "Content Too Large";
    case 431:
        return "Request Header Fields Too Large";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return status >= 500 ? "Server Error" : "Client Error";
    }
}

static void put(ts_gateway__httpd_answer *a, const char *p, size_t n)
{
    if (a->failed)
        return;
    if (n > a->cap - a->len) {
        size_t cap = a->cap ? a->cap : 1024;
        while (cap - a->len < n)
            cap *= 2;
        /* Not realloc(): the old buffer may hold a token and is wiped before it is freed. */
        char *b = malloc(cap);
        if (!b) {
            a->failed = true;
            return;
        }
        if (a->buf) {
            memcpy(b, a->buf, a->len);
            ts_common__memzero(a->buf, a->len);
            free(a->buf);
        }
        a->buf = b;
        a->cap = cap;
    }
    memcpy(a->buf + a->len, p, n);
    a->len += n;
}

void ts_gateway__httpd_answer_put(ts_gateway__httpd_answer *a, const char *p, size_t n)
{
    put(a, p, n);
}

static void put_str(ts_gateway__httpd_answer *a, const char *s)
{
    put(a, s, strlen(s));
}

/* @p v in decimal at the end of @p end (no NUL); returns where it starts. snprintf() showed in
 * the profile of a cached check; this is two of them per answer. */
static char *decimal(char *end, size_t v)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

void ts_gateway__httpd_answer_start(ts_gateway__httpd_answer *a, unsigned status)
{
    a->len = 0;
    a->failed = false;
    char num[8];
    char *d = decimal(num + sizeof num, status % 1000);
    put_str(a, "HTTP/1.1 ");
    put(a, d, (size_t)(num + sizeof num - d));
    put(a, " ", 1);
    put_str(a, reason(status));
    put(a, "\r\n", 2);
}

void ts_gateway__httpd_answer_header(ts_gateway__httpd_answer *a, const char *name, size_t name_len,
                                     const char *value, size_t value_len)
{
    put(a, name, name_len);
    put(a, ": ", 2);
    put(a, value, value_len);
    put(a, "\r\n", 2);
}

void ts_gateway__httpd_answer_end(ts_gateway__httpd_answer *a, const char *body, size_t len)
{
    char num[24];
    char *d = decimal(num + sizeof num, len);
    put_str(a, "Content-Length: ");
    put(a, d, (size_t)(num + sizeof num - d));
    put(a, "\r\n", 2);
    if (a->close)
        put_str(a, "Connection: close\r\n");
    else if (a->http10)
        put_str(a, "Connection: keep-alive\r\n");
    a->head_end = a->len;
    put(a, "\r\n", 2);
    if (len && !a->head_only)
        put(a, body, len);
}

void ts_gateway__httpd_answer_close(ts_gateway__httpd_answer *a)
{
    static const char line[] = "Connection: close\r\n", kept[] = "Connection: keep-alive\r\n";
    if (a->close || a->failed)
        return;
    if (a->http10) { /* the keep-alive line just before the blank line goes */
        size_t k = sizeof kept - 1;
        memmove(a->buf + a->head_end - k, a->buf + a->head_end, a->len - a->head_end);
        a->head_end -= k;
        a->len -= k;
    }
    size_t n = sizeof line - 1, tail = a->len - a->head_end;
    put(a, line, n); /* room; the bytes are moved into place below */
    if (a->failed)
        return;
    memmove(a->buf + a->head_end + n, a->buf + a->head_end, tail);
    memcpy(a->buf + a->head_end, line, n);
    a->head_end += n;
    a->close = true;
}

void ts_gateway__httpd_refuse(ts_gateway__httpd_answer *a, unsigned status, const char *why)
{
    char body[512];
    int n = snprintf(body, sizeof body,
                     "{\"error\":\"invalid_request\",\"error_description\":\"%s\"}", why);
    if (n < 0 || (size_t)n >= sizeof body)
        n = 0;
    a->close = true;
    ts_gateway__httpd_answer_start(a, status);
    put_str(a, "Content-Type: application/json\r\nCache-Control: no-store\r\n");
    ts_gateway__httpd_answer_end(a, body, (size_t)n);
}
