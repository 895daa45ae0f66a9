/* Wiping memory that held a secret (a key file, a client secret, a token). Private to
   tokensmith. */
#ifndef TS_COMMON_MEM_H
#define TS_COMMON_MEM_H

#include <stddef.h>

/** Overwrite @p n bytes at @p p with zeros in a way the compiler does not remove. NULL-safe. */
void ts_common__memzero(void *p, size_t n);

#endif
