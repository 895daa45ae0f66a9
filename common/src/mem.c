/* Wiping memory: explicit_bzero() is memset's speed with the promise that the compiler keeps
   the stores even when the memory is freed right after (a volatile byte loop costs a store per
   byte, which shows on paths that wipe a token on every request). */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include <string.h>

#include "common/mem.h"

void ts_common__memzero(void *p, size_t n)
{
    if (p && n)
        explicit_bzero(p, n);
}
