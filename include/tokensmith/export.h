/**
 * @file export.h
 * @brief What every tokensmith public header shares: the visibility macro ::TS_API, the
 *        attribute macros, and ts_free() for the strings and buffers the libraries hand out.
 *
 * Every public header includes this one; a program never needs to include it itself.
 * @since 0.1.0
 */
#ifndef TOKENSMITH_EXPORT_H
#define TOKENSMITH_EXPORT_H

#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
/** Marks a function of a library's public API: exported from the shared library (every other
 *  symbol is built with hidden visibility). One macro for every tokensmith library. */
#define TS_API __attribute__((visibility("default")))
/** printf-style format checking of argument @p f against the arguments from @p a on. */
#define TS_PRINTF(f, a) __attribute__((format(printf, f, a)))
/** The result must be used: constructors and ::ts_status returns. */
#define TS_NODISCARD __attribute__((warn_unused_result))
/** A name kept for programs built against an older release; @p msg says what replaces it. */
#define TS_DEPRECATED(msg) __attribute__((deprecated(msg)))
#else
#define TS_API
#define TS_PRINTF(f, a)
#define TS_NODISCARD
#define TS_DEPRECATED(msg)
#endif

/**
 * Free a string or buffer that a tokensmith library returned as `char *` (or `uint8_t *`) for
 * the caller to own: the one way for every library (authn, authz, mhd, store, oidc, testutil).
 * NULL-safe.
 *
 * Every library allocates what it hands out with the C library's malloc(), so this is an
 * inline call of free() compiled into the caller: no library exports it, which keeps any mix of
 * static archives free of duplicate definitions.
 * @since 0.1.0
 */
static inline void ts_free(void *p)
{
    free(p);
}

#ifdef __cplusplus
}
#endif
#endif
