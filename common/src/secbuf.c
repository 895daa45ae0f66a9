/* The wiped growing buffer (common/secbuf.h). */
#include "common/secbuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

void ts_common__secbuf_add(ts_common__secbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (n + 1 > b->cap - b->n || !b->p) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc - b->n < n + 1) {
            if (nc > SIZE_MAX / 2) {
                b->oom = true;
                return;
            }
            nc *= 2;
        }
        /* Grown by hand rather than realloc(): the old block may hold a secret and is wiped. */
        char *np = malloc(nc);
        if (!np) {
            b->oom = true;
            return;
        }
        if (b->p) {
            memcpy(np, b->p, b->n);
            ts_common__memzero(b->p, b->cap);
            free(b->p);
        }
        b->p = np;
        b->cap = nc;
    }
    if (n)
        memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void ts_common__secbuf_adds(ts_common__secbuf *b, const char *z)
{
    ts_common__secbuf_add(b, z, strlen(z));
}

void ts_common__secbuf_wipe(ts_common__secbuf *b)
{
    if (b->p) {
        ts_common__memzero(b->p, b->cap);
        free(b->p);
    }
    memset(b, 0, sizeof *b);
}

void ts_common__secbuf_addf(ts_common__secbuf *b, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0)
        ts_common__secbuf_add(b, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}
