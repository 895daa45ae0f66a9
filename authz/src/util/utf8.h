/* UTF-8 decoding with Go's unicode/utf8 conventions (an invalid sequence is U+FFFD, one byte
 * long), for the functions that must treat text exactly as Go does. The acceptance rules (no
 * overlongs, no surrogates, nothing above U+10FFFF) are common's one decoder. */
#ifndef TS_AUTHZ_UTIL_UTF8_H
#define TS_AUTHZ_UTIL_UTF8_H

#include <stddef.h>
#include <stdint.h>

#include "common/utf8.h"

#define TS_UTF8_RUNE_ERROR 0xFFFDu

/**
 * Decode the rune at s[0..n) (n >= 1).
 * @param len out: bytes consumed; 1 for an invalid sequence (as Go's DecodeRune).
 * @return the rune, or TS_UTF8_RUNE_ERROR for an invalid sequence.
 */
static inline uint32_t ts_utf8_decode(const unsigned char *s, size_t n, size_t *len)
{
    uint32_t cp = TS_UTF8_RUNE_ERROR;
    size_t l = ts_common__utf8_decode(s, n, &cp);
    *len = l ? l : 1;
    return l ? cp : TS_UTF8_RUNE_ERROR;
}

/** @return the length of the valid sequence at s[0..n), or 0 when it is invalid. */
static inline size_t ts_utf8_seq_len(const unsigned char *s, size_t n)
{
    return ts_common__utf8_decode(s, n, NULL);
}

#endif
