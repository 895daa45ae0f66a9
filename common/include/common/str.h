/* Bounded C strings. Private to tokensmith. */
#ifndef TS_COMMON_STR_H
#define TS_COMMON_STR_H

#include <stddef.h>
#include <string.h>

/** Copy @p src (NULL counts as "") into @p dst of @p cap bytes, cut to cap - 1 bytes and always
 *  NUL-terminated; nothing happens when @p dst is NULL or @p cap is 0. Records use it for their
 *  fixed-size members, where cutting a too-long value is the documented behaviour. */
static inline void ts_common__copyz(char *dst, size_t cap, const char *src)
{
    if (!dst || cap == 0)
        return;
    size_t n = 0;
    if (src)
        while (n + 1 < cap && src[n])
            n++;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

#endif
