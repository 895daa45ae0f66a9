/* Hexadecimal digits: one place that reads and writes them. Private to tokensmith. */
#ifndef TS_COMMON_HEX_H
#define TS_COMMON_HEX_H

#include <stddef.h>

/** The value of one hex digit (either case), or -1. */
int ts_common__hexval(char c);

/** Write @p n bytes as 2n lowercase hex digits and a NUL into @p out (2n + 1 bytes). */
void ts_common__hex_encode(const unsigned char *in, size_t n, char *out);

#endif
