/* The JSON writer (see common/json_writer.h). */
#include "common/json_writer.h"
#include "common/utf8.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* memset through a volatile pointer, so that wiping a buffer about to be freed is not
 * optimised away (the buffer may hold an access or refresh token). */
static void *(*const volatile wipe_fn)(void *, int, size_t) = memset;

static void wipe(void *p, size_t n)
{
    if (n)
        wipe_fn(p, 0, n);
}

void ts_common__json_init(ts_common__json *w, ts_common__json_mode mode)
{
    w->ptr = w->stack;
    w->len = 0;
    w->cap = sizeof w->stack;
    w->oom = false;
    w->first = true;
    w->ascii = mode == TS_COMMON__JSON_ASCII;
    w->ptr[0] = '\0';
}

void ts_common__json_cleanup(ts_common__json *w)
{
    wipe(w->ptr, w->len);
    if (w->ptr != w->stack)
        free(w->ptr);
    ts_common__json_init(w, w->ascii ? TS_COMMON__JSON_ASCII : TS_COMMON__JSON_UTF8);
}

/* Room for @p extra more bytes and the NUL. A new block is allocated and the old one wiped
 * (realloc could leave a copy of a token in freed memory). */
static bool reserve(ts_common__json *w, size_t extra)
{
    if (w->oom)
        return false;
    if (extra <= w->cap - w->len - 1)
        return true;
    size_t ncap = w->cap;
    while (ncap - w->len - 1 < extra) {
        if (ncap > SIZE_MAX / 2) {
            w->oom = true;
            return false;
        }
        ncap *= 2;
    }
    char *n = malloc(ncap);
    if (!n) {
        w->oom = true;
        return false;
    }
    memcpy(n, w->ptr, w->len + 1);
    wipe(w->ptr, w->len);
    if (w->ptr != w->stack)
        free(w->ptr);
    w->ptr = n;
    w->cap = ncap;
    return true;
}

void ts_common__json_raw(ts_common__json *w, const char *s, size_t n)
{
    if (!reserve(w, n))
        return;
    memcpy(w->ptr + w->len, s, n);
    w->len += n;
    w->ptr[w->len] = '\0';
}

void ts_common__json_raws(ts_common__json *w, const char *z)
{
    ts_common__json_raw(w, z, strlen(z));
}

/* \uXXXX with jansson's uppercase digits. */
static void escape_u16(ts_common__json *w, uint32_t unit)
{
    static const char hex[] = "0123456789ABCDEF";
    char e[6] = {
        '\\',          'u', hex[(unit >> 12) & 15], hex[(unit >> 8) & 15], hex[(unit >> 4) & 15],
        hex[unit & 15]};
    ts_common__json_raw(w, e, sizeof e);
}

/* A code point as \u escapes: one for the BMP, a surrogate pair above it. */
static void escape_cp(ts_common__json *w, uint32_t cp)
{
    if (cp < 0x10000) {
        escape_u16(w, cp);
    } else {
        cp -= 0x10000;
        escape_u16(w, 0xD800u | (cp >> 10));
        escape_u16(w, 0xDC00u | (cp & 0x3FFu));
    }
}

/*
 * The bytes from s[0] (0x7F or above) up to the next ASCII byte below 0x7F, each valid code
 * point as the mode wants it, each invalid byte as U+FFFD.
 * @return how many bytes were consumed.
 */
static size_t write_high(ts_common__json *w, const unsigned char *s, size_t avail)
{
    size_t i = 0, run = 0; /* run: valid UTF-8 bytes not yet copied (UTF-8 mode) */
    while (i < avail && s[i] >= 0x7F) {
        uint32_t cp = 0x7F;
        size_t seq = s[i] == 0x7F ? 1 : ts_common__utf8_decode(s + i, avail - i, &cp);
        if (seq && !w->ascii) {
            run += seq;
            i += seq;
            continue;
        }
        ts_common__json_raw(w, (const char *)s + i - run, run);
        run = 0;
        escape_cp(w, seq ? cp : 0xFFFDu);
        i += seq ? seq : 1;
    }
    ts_common__json_raw(w, (const char *)s + i - run, run);
    return i;
}

void ts_common__json_strn(ts_common__json *w, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    ts_common__json_raw(w, "\"", 1);
    size_t start = 0, i = 0; /* s[start..i) is plain ASCII not yet copied */
    while (i < n) {
        unsigned char c = s[i];
        if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
            i++;
            continue;
        }
        ts_common__json_raw(w, (const char *)s + start, i - start);
        if (c >= 0x7F) {
            i += write_high(w, s + i, n - i);
            start = i;
            continue;
        }
        switch (c) {
        case '"':
            ts_common__json_raw(w, "\\\"", 2);
            break;
        case '\\':
            ts_common__json_raw(w, "\\\\", 2);
            break;
        case '\b':
            ts_common__json_raw(w, "\\b", 2);
            break;
        case '\f':
            ts_common__json_raw(w, "\\f", 2);
            break;
        case '\n':
            ts_common__json_raw(w, "\\n", 2);
            break;
        case '\r':
            ts_common__json_raw(w, "\\r", 2);
            break;
        case '\t':
            ts_common__json_raw(w, "\\t", 2);
            break;
        default:
            escape_u16(w, c);
        }
        i++;
        start = i;
    }
    ts_common__json_raw(w, (const char *)s + start, n - start);
    ts_common__json_raw(w, "\"", 1);
}

void ts_common__json_str(ts_common__json *w, const char *z)
{
    z = z ? z : "";
    ts_common__json_strn(w, z, strlen(z));
}

void ts_common__json_embed(ts_common__json *w, const char *json, size_t n)
{
    if (!w->ascii) {
        ts_common__json_raw(w, json, n);
        return;
    }
    const unsigned char *s = (const unsigned char *)json;
    size_t start = 0, i = 0;
    while (i < n) {
        if (s[i] < 0x7F) {
            i++;
            continue;
        }
        ts_common__json_raw(w, json + start, i - start);
        i += write_high(w, s + i, n - i);
        start = i;
    }
    ts_common__json_raw(w, json + start, n - start);
}

void ts_common__json_int(ts_common__json *w, int64_t v)
{
    char b[24];
    int n = snprintf(b, sizeof b, "%" PRId64, v);
    ts_common__json_raw(w, b, (size_t)n);
}

void ts_common__json_uint(ts_common__json *w, uint64_t v)
{
    char b[24];
    int n = snprintf(b, sizeof b, "%" PRIu64, v);
    ts_common__json_raw(w, b, (size_t)n);
}

void ts_common__json_bool(ts_common__json *w, bool v)
{
    ts_common__json_raw(w, v ? "true" : "false", v ? 4 : 5);
}

void ts_common__json_real(ts_common__json *w, double v)
{
    char b[40];
    int n = v - v == 0 ? snprintf(b, sizeof b, "%.6g", v) : -1; /* false for inf and NaN */
    if (n < 0 || (size_t)n >= sizeof b - 3)
        n = snprintf(b, sizeof b, "0.0");
    else if (!strpbrk(b, ".e")) /* keep it a real, as jansson does */
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
    ts_common__json_raw(w, b, (size_t)n);
}

void ts_common__json_open(ts_common__json *w)
{
    ts_common__json_raw(w, "{", 1);
    w->first = true;
}

void ts_common__json_close(ts_common__json *w)
{
    ts_common__json_raw(w, "}", 1);
    w->first = false;
}

void ts_common__json_key(ts_common__json *w, const char *key)
{
    if (!w->first)
        ts_common__json_raw(w, ",", 1);
    w->first = false;
    ts_common__json_str(w, key);
    ts_common__json_raw(w, ":", 1);
}

void ts_common__json_kstr(ts_common__json *w, const char *key, const char *value)
{
    ts_common__json_key(w, key);
    ts_common__json_str(w, value);
}

void ts_common__json_kint(ts_common__json *w, const char *key, int64_t value)
{
    ts_common__json_key(w, key);
    ts_common__json_int(w, value);
}

void ts_common__json_kuint(ts_common__json *w, const char *key, uint64_t value)
{
    ts_common__json_key(w, key);
    ts_common__json_uint(w, value);
}

void ts_common__json_kbool(ts_common__json *w, const char *key, bool value)
{
    ts_common__json_key(w, key);
    ts_common__json_bool(w, value);
}

void ts_common__json_kreal(ts_common__json *w, const char *key, double value)
{
    ts_common__json_key(w, key);
    ts_common__json_real(w, value);
}

void ts_common__json_kstrs(ts_common__json *w, const char *key, const char *const *values, size_t n)
{
    ts_common__json_key(w, key);
    ts_common__json_raw(w, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            ts_common__json_raw(w, ",", 1);
        ts_common__json_str(w, values[i]);
    }
    ts_common__json_raw(w, "]", 1);
}

void ts_common__json_kembed(ts_common__json *w, const char *key, const char *json, size_t n)
{
    ts_common__json_key(w, key);
    ts_common__json_embed(w, json, n);
}

char *ts_common__json_take(ts_common__json *w, size_t *len)
{
    char *out = NULL;
    size_t n = w->len;
    if (!w->oom) {
        if (w->ptr != w->stack) { /* hand the heap block over as it is */
            out = w->ptr;
            w->ptr = w->stack; /* the stack was wiped when the text moved to the heap */
            w->len = 0;
        } else if ((out = malloc(n + 1)) != NULL) {
            memcpy(out, w->stack, n + 1);
        }
    }
    if (out && len)
        *len = n;
    ts_common__json_cleanup(w);
    return out;
}
