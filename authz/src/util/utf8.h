/* UTF-8 decoding with Go's unicode/utf8 acceptance rules (no overlongs, no surrogates, nothing
 * above U+10FFFF), shared by the functions that must treat text exactly as Go does. */
#ifndef TS_AUTHZ_UTIL_UTF8_H
#define TS_AUTHZ_UTIL_UTF8_H

#include <stddef.h>
#include <stdint.h>

#define TS_UTF8_RUNE_ERROR 0xFFFDu

/**
 * Decode the rune at s[0..n) (n >= 1).
 * @param len out: bytes consumed; 1 for an invalid sequence (as Go's DecodeRune).
 * @return the rune, or TS_UTF8_RUNE_ERROR for an invalid sequence.
 */
static inline uint32_t ts_utf8_decode(const unsigned char *s, size_t n, size_t *len)
{
    unsigned char b = s[0];
    if (b < 0x80) {
        *len = 1;
        return b;
    }
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    uint32_t r;
    if (b >= 0xC2 && b <= 0xDF) {
        need = 2;
        r = b & 0x1Fu;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 3;
        r = b & 0x0Fu;
        if (b == 0xE0)
            lo = 0xA0;
        else if (b == 0xED)
            hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 4;
        r = b & 0x07u;
        if (b == 0xF0)
            lo = 0x90;
        else if (b == 0xF4)
            hi = 0x8F;
    } else {
        *len = 1;
        return TS_UTF8_RUNE_ERROR;
    }
    if (n < need || s[1] < lo || s[1] > hi) {
        *len = 1;
        return TS_UTF8_RUNE_ERROR;
    }
    r = (r << 6) | (s[1] & 0x3Fu);
    for (size_t k = 2; k < need; k++) {
        if (s[k] < 0x80 || s[k] > 0xBF) {
            *len = 1;
            return TS_UTF8_RUNE_ERROR;
        }
        r = (r << 6) | (s[k] & 0x3Fu);
    }
    *len = need;
    return r;
}

/** @return the length of the valid sequence at s[0..n), or 0 when it is invalid. */
static inline size_t ts_utf8_seq_len(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t r = ts_utf8_decode(s, n, &len);
    /* U+FFFD itself is valid (3 bytes); an invalid sequence reports 1 byte. */
    return r == TS_UTF8_RUNE_ERROR && len == 1 ? 0 : len;
}

#endif
