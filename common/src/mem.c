/* Wiping memory: the stores go through a volatile pointer, which the compiler must keep even
   when the memory is freed right after. */
#include "common/mem.h"

void ts_common__memzero(void *p, size_t n)
{
    volatile unsigned char *v = p;
    for (size_t i = 0; v && i < n; i++)
        v[i] = 0;
}
