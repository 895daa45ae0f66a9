/* JSON writer for the token service's hot paths (see jw.h). */
#include "jw.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

void ts_svc_jw_init(ts_svc_jw *w)
{
    w->ptr = w->stack;
    w->len = 0;
    w->cap = sizeof w->stack;
    w->oom = false;
    w->first = true;
    w->ptr[0] = '\0';
}

void ts_svc_jw_free(ts_svc_jw *w)
{
    OPENSSL_cleanse(w->ptr, w->len);
    if (w->ptr != w->stack)
        free(w->ptr);
    ts_svc_jw_init(w);
}

static bool reserve(ts_svc_jw *w, size_t extra)
{
    if (w->oom)
        return false;
    if (w->len + extra + 1 <= w->cap)
        return true;
    size_t ncap = w->cap * 2;
    while (ncap < w->len + extra + 1)
        ncap *= 2;
    char *n = malloc(ncap);
    if (!n) {
        w->oom = true;
        return false;
    }
    memcpy(n, w->ptr, w->len + 1);
    OPENSSL_cleanse(w->ptr, w->len);
    if (w->ptr != w->stack)
        free(w->ptr);
    w->ptr = n;
    w->cap = ncap;
    return true;
}

void ts_svc_jw_raw(ts_svc_jw *w, const char *s, size_t n)
{
    if (!reserve(w, n))
        return;
    memcpy(w->ptr + w->len, s, n);
    w->len += n;
    w->ptr[w->len] = '\0';
}

/* Length of the valid UTF-8 sequence at s (2..4 bytes), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;
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

void ts_svc_jw_str(ts_svc_jw *w, const char *z)
{
    const unsigned char *s = (const unsigned char *)(z ? z : "");
    size_t n = strlen((const char *)s);
    ts_svc_jw_raw(w, "\"", 1);
    size_t start = 0, i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        size_t seq = c >= 0x80 ? utf8_seq(s + i, n - i) : 0;
        if (seq) {
            i += seq;
            continue;
        }
        ts_svc_jw_raw(w, (const char *)s + start, i - start);
        char esc[8];
        switch (c) {
        case '"':
            ts_svc_jw_raw(w, "\\\"", 2);
            break;
        case '\\':
            ts_svc_jw_raw(w, "\\\\", 2);
            break;
        case '\b':
            ts_svc_jw_raw(w, "\\b", 2);
            break;
        case '\f':
            ts_svc_jw_raw(w, "\\f", 2);
            break;
        case '\n':
            ts_svc_jw_raw(w, "\\n", 2);
            break;
        case '\r':
            ts_svc_jw_raw(w, "\\r", 2);
            break;
        case '\t':
            ts_svc_jw_raw(w, "\\t", 2);
            break;
        default:
            if (c < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04X", (unsigned)c);
                ts_svc_jw_raw(w, esc, 6);
            } else {
                ts_svc_jw_raw(w, "\\ufffd", 6);
            }
        }
        i++;
        start = i;
    }
    ts_svc_jw_raw(w, (const char *)s + start, n - start);
    ts_svc_jw_raw(w, "\"", 1);
}

void ts_svc_jw_open(ts_svc_jw *w)
{
    ts_svc_jw_raw(w, "{", 1);
    w->first = true;
}

void ts_svc_jw_close(ts_svc_jw *w)
{
    ts_svc_jw_raw(w, "}", 1);
    w->first = false;
}

static void key(ts_svc_jw *w, const char *k)
{
    if (!w->first)
        ts_svc_jw_raw(w, ",", 1);
    w->first = false;
    ts_svc_jw_str(w, k);
    ts_svc_jw_raw(w, ":", 1);
}

void ts_svc_jw_kstr(ts_svc_jw *w, const char *k, const char *value)
{
    key(w, k);
    ts_svc_jw_str(w, value);
}

void ts_svc_jw_kint(ts_svc_jw *w, const char *k, int64_t value)
{
    char b[24];
    int n = snprintf(b, sizeof b, "%" PRId64, value);
    key(w, k);
    ts_svc_jw_raw(w, b, (size_t)n);
}

void ts_svc_jw_kbool(ts_svc_jw *w, const char *k, bool value)
{
    key(w, k);
    ts_svc_jw_raw(w, value ? "true" : "false", value ? 4 : 5);
}

void ts_svc_jw_kreal(ts_svc_jw *w, const char *k, double value)
{
    char b[40];
    int n = snprintf(b, sizeof b, "%.6g", value);
    if (n < 0 || (size_t)n >= sizeof b - 3)
        n = snprintf(b, sizeof b, "0.0");
    else if (!strpbrk(b, ".eEn")) /* keep it a real, as jansson does ("inf"/"nan" never occur) */
        n += snprintf(b + n, sizeof b - (size_t)n, ".0");
    char *e = strchr(b, 'e');
    if (e) { /* jansson writes exponents without '+' and leading zeros: 3e-7, 1e9 */
        char *d = e + 1, *src = e + 1;
        if (*src == '-')
            *d++ = *src++;
        else if (*src == '+')
            src++;
        while (*src == '0' && src[1])
            src++;
        while (*src)
            *d++ = *src++;
        *d = '\0';
        n = (int)strlen(b);
    }
    key(w, k);
    ts_svc_jw_raw(w, b, (size_t)n);
}

void ts_svc_jw_kstrs(ts_svc_jw *w, const char *k, const char *const *values, size_t n)
{
    key(w, k);
    ts_svc_jw_raw(w, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            ts_svc_jw_raw(w, ",", 1);
        ts_svc_jw_str(w, values[i]);
    }
    ts_svc_jw_raw(w, "]", 1);
}

void ts_svc_jw_kraw(ts_svc_jw *w, const char *k, const char *json, size_t n)
{
    key(w, k);
    ts_svc_jw_raw(w, json, n);
}

char *ts_svc_jw_take(ts_svc_jw *w, size_t *len)
{
    char *out = NULL;
    if (!w->oom) {
        out = malloc(w->len + 1);
        if (out) {
            memcpy(out, w->ptr, w->len + 1);
            if (len)
                *len = w->len;
        }
    }
    ts_svc_jw_free(w);
    return out;
}
