/*
 * UTF-8: one decoder with the acceptance rules of RFC 3629 (no overlong forms, no UTF-16
 * surrogates, nothing above U+10FFFF), which are also Go's unicode/utf8 rules, and one encoder.
 * Header-only (static inline): the parsers call it once per character of untrusted input, on
 * the token verification path. Private to tokensmith.
 */
#ifndef TS_COMMON_UTF8_H
#define TS_COMMON_UTF8_H

#include <stddef.h>
#include <stdint.h>

/**
 * Decode the sequence at s[0..avail) (avail >= 1).
 * @param cp out: the code point, when the sequence is valid; may be NULL.
 * @return its length (1 for ASCII, 2 to 4 otherwise), or 0 when it is invalid or cut short.
 */
static inline size_t ts_common__utf8_decode(const unsigned char *s, size_t avail, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        if (cp)
            *cp = c;
        return 1;
    }
    /* The second byte's range excludes overlong forms, surrogates and values past U+10FFFF. */
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    uint32_t v;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        v = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        v = c & 0x0Fu;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        v = c & 0x07u;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    v = (v << 6) | (s[1] & 0x3Fu);
    for (size_t i = 2; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3Fu);
    }
    if (cp)
        *cp = v;
    return n;
}

/**
 * Write the UTF-8 form of @p cp (at most U+10FFFF, not a surrogate) into @p out.
 * @return the number of bytes written (1 to 4).
 */
static inline size_t ts_common__utf8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

#endif
