/* Bounded C strings. Private to tokensmith. */
#ifndef TS_COMMON_STR_H
#define TS_COMMON_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
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

/** A growable NUL-terminated string on the heap: start it as {0}; after the first put, @p p is
 *  never NULL unless @p oom. Free @p p with free(). */
typedef struct ts_common__strbuf {
    char *p;
    size_t n;
    bool oom; /**< an allocation failed: every later put does nothing */
} ts_common__strbuf;

/** Append @p n bytes of @p s (n may be 0, which only makes sure @p b->p exists). */
static inline void ts_common__strbuf_put(ts_common__strbuf *b, const char *s, size_t n)
{
    char *np = b->oom ? NULL : (char *)realloc(b->p, b->n + n + 1);
    if (!np) {
        b->oom = true;
        return;
    }
    b->p = np;
    if (n)
        memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

#endif
