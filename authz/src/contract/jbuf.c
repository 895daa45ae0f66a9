/* Growable buffer and JSON/Prometheus escaping. */
#include "contract/jbuf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void ts_authz__jbuf_init(ts_jbuf *b)
{
    b->ptr = b->stack;
    b->len = 0;
    b->cap = sizeof b->stack;
    b->oom = false;
}

void ts_authz__jbuf_cleanup(ts_jbuf *b)
{
    if (b->ptr != b->stack)
        free(b->ptr);
    ts_authz__jbuf_init(b);
}

static bool reserve(ts_jbuf *b, size_t extra)
{
    if (b->oom)
        return false;
    if (b->len + extra + 1 <= b->cap)
        return true;
    size_t ncap = b->cap * 2;
    while (ncap < b->len + extra + 1)
        ncap *= 2;
    char *n = b->ptr == b->stack ? malloc(ncap) : realloc(b->ptr, ncap);
    if (!n) {
        b->oom = true;
        return false;
    }
    if (b->ptr == b->stack)
        memcpy(n, b->stack, b->len);
    b->ptr = n;
    b->cap = ncap;
    return true;
}

void ts_authz__jbuf_add(ts_jbuf *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->ptr + b->len, s, n);
    b->len += n;
    b->ptr[b->len] = '\0';
}

void ts_authz__jbuf_adds(ts_jbuf *b, const char *z)
{
    ts_authz__jbuf_add(b, z, strlen(z));
}

void ts_authz__jbuf_addu(ts_jbuf *b, unsigned long long v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + (v % 10));
        v /= 10;
    } while (v);
    ts_authz__jbuf_add(b, tmp + i, sizeof tmp - i);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07u;
    } else {
        return 0;
    }
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return n;
}

void ts_authz__jbuf_str(ts_jbuf *b, const char *z)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)(z ? z : "");
    size_t n = strlen((const char *)s);
    ts_authz__jbuf_add(b, "\"", 1);
    size_t run = 0; /* bytes copied verbatim in one go */
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') { /* the common case: plain ASCII */
            run++;
            i++;
            continue;
        }
        const char *esc = NULL;
        char u[6];
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        else if (c < 0x20 || c == 0x7f) {
            u[0] = '\\';
            u[1] = 'u';
            u[2] = '0';
            u[3] = '0';
            u[4] = hex[c >> 4];
            u[5] = hex[c & 15];
        }
        if (esc || c < 0x20 || c == 0x7f) {
            ts_authz__jbuf_add(b, (const char *)s + i - run, run);
            run = 0;
            if (esc)
                ts_authz__jbuf_adds(b, esc);
            else
                ts_authz__jbuf_add(b, u, 6);
            i++;
            continue;
        }
        size_t ul = utf8_len(s + i, n - i);
        if (ul == 0) {
            ts_authz__jbuf_add(b, (const char *)s + i - run, run);
            run = 0;
            ts_authz__jbuf_adds(b, "\\ufffd");
            i++;
            continue;
        }
        run += ul;
        i += ul;
    }
    ts_authz__jbuf_add(b, (const char *)s + n - run, run);
    ts_authz__jbuf_add(b, "\"", 1);
}

void ts_authz__jbuf_key(ts_jbuf *b, const char *key)
{
    ts_authz__jbuf_str(b, key);
    ts_authz__jbuf_add(b, ":", 1);
}

void ts_authz__jbuf_label(ts_jbuf *b, const char *z)
{
    ts_authz__jbuf_add(b, "\"", 1);
    for (const char *p = z ? z : ""; *p; p++) {
        if (*p == '\\')
            ts_authz__jbuf_add(b, "\\\\", 2);
        else if (*p == '"')
            ts_authz__jbuf_add(b, "\\\"", 2);
        else if (*p == '\n')
            ts_authz__jbuf_add(b, "\\n", 2);
        else
            ts_authz__jbuf_add(b, p, 1);
    }
    ts_authz__jbuf_add(b, "\"", 1);
}

char *ts_authz__jbuf_take(ts_jbuf *b, size_t *len)
{
    char *out;
    if (b->oom) {
        ts_authz__jbuf_cleanup(b);
        return NULL;
    }
    if (b->ptr == b->stack) {
        out = malloc(b->len + 1);
        if (out) {
            memcpy(out, b->stack, b->len);
            out[b->len] = '\0';
        }
    } else {
        out = b->ptr;
        out[b->len] = '\0';
        b->ptr = b->stack;
    }
    if (out && len)
        *len = b->len;
    ts_authz__jbuf_init(b);
    return out;
}

ts_status ts_authz__jbuf_export(ts_jbuf *b, char *buf, size_t cap, size_t *len, ts_error *err)
{
    if (b->oom)
        return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    if (len)
        *len = b->len;
    if (!buf || cap < b->len + 1)
        return ts_error_set(err, TS_ELIMIT, NULL, "buffer too small: %zu bytes needed", b->len + 1);
    memcpy(buf, b->ptr, b->len);
    buf[b->len] = '\0';
    return TS_OK;
}
