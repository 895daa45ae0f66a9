/*
 * A growing byte buffer for what may hold a secret (request bodies and headers with credentials,
 * one-time tokens): the old block is wiped when it grows and the buffer is wiped when released.
 * An allocation failure is sticky (oom) and later appends do nothing, so a caller builds the
 * whole text and checks once. Used by the client library's request bodies and the lean HTTP
 * client's requests. Thread-safety: a buffer belongs to one thread at a time.
 */
#ifndef TS_COMMON_SECBUF_H
#define TS_COMMON_SECBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ts_common__secbuf {
    char *p; /**< NUL-terminated while not oom; NULL while nothing was added */
    size_t n, cap;
    bool oom;
} ts_common__secbuf;

/** Append @p n bytes at @p s (which may be NULL when @p n is 0). */
void ts_common__secbuf_add(ts_common__secbuf *b, const char *s, size_t n);
/** Append the string @p z. */
void ts_common__secbuf_adds(ts_common__secbuf *b, const char *z);
/** Append printf-style text of at most 511 bytes (longer is cut there: for short lines such as
 *  metrics samples, whose callers bound what they format). */
void ts_common__secbuf_addf(ts_common__secbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/** Wipe and free; the buffer is empty again (and no longer oom). */
void ts_common__secbuf_wipe(ts_common__secbuf *b);

#endif
