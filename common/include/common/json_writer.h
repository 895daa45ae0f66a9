/*
 * The JSON writer every library uses for the documents it writes itself: log lines, deny
 * bodies, token responses, access-token claims. Members are appended to a buffer that starts
 * on the stack, without building a document tree first. Private to tokensmith.
 *
 * Strings are checked as UTF-8 on the way in: an invalid byte becomes U+FFFD, so the output is
 * always valid JSON whatever the caller passes. Escapes are jansson's compact ones (\" \\ \b
 * \f \n \r \t, \u00XX for other control characters, no HTML or slash escaping), so a document
 * reads the same whichever path wrote it.
 *
 * Two modes:
 *  - TS_COMMON__JSON_UTF8: valid UTF-8 is kept as is (jansson's default). For response bodies
 *    and token claims.
 *  - TS_COMMON__JSON_ASCII: the output is printable ASCII only. Every code point above U+007E
 *    is written as \uXXXX (a surrogate pair above U+FFFF, as jansson's JSON_ENSURE_ASCII) and
 *    DEL as \u007F. For every log line: a right-to-left override (U+202E), a line separator
 *    or a terminal escape in a logged path must not reorder or corrupt what an operator reads.
 *
 * Errors: an allocation failure sets the sticky @c oom flag; every later call is a no-op and
 * the text must not be used (ts_common__json_take() then returns NULL).
 * Ownership: caller storage; ts_common__json_cleanup() releases (and wipes: the buffer may hold
 * tokens). Thread-safety: one writer per thread.
 */
#ifndef TS_COMMON_JSON_WRITER_H
#define TS_COMMON_JSON_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ts_common__json_mode {
    TS_COMMON__JSON_UTF8 = 0, /**< non-ASCII text kept as UTF-8 */
    TS_COMMON__JSON_ASCII,    /**< printable ASCII output: non-ASCII and DEL as \u escapes */
} ts_common__json_mode;

typedef struct ts_common__json {
    char *ptr; /**< the text so far, NUL-terminated (stack or heap) */
    size_t len, cap;
    bool oom;   /**< an allocation failed: the content is incomplete, do not use it */
    bool first; /**< no member written yet in the innermost object */
    bool ascii; /**< TS_COMMON__JSON_ASCII */
    char stack[1536];
} ts_common__json;

void ts_common__json_init(ts_common__json *w, ts_common__json_mode mode);
/** Wipe and release; the writer is empty again, in the same mode. */
void ts_common__json_cleanup(ts_common__json *w);

/** Bytes appended verbatim (structure: braces, commas, a newline; cache keys). */
void ts_common__json_raw(ts_common__json *w, const char *s, size_t n);
void ts_common__json_raws(ts_common__json *w, const char *z);

/**
 * JSON text written elsewhere (a value, or object members without braces), appended as it is
 * in UTF-8 mode. In ASCII mode every byte from 0x7F up is rewritten as a \u escape (invalid
 * UTF-8 as \uFFFD): in valid JSON such bytes occur only inside strings, where the escape means
 * the same thing. Control characters pass: outside strings they are white space.
 */
void ts_common__json_embed(ts_common__json *w, const char *json, size_t n);

/** A JSON string literal with its quotes. NULL is written as "". */
void ts_common__json_str(ts_common__json *w, const char *z);
/** The same for @p n bytes (a NUL byte is written as \u0000). */
void ts_common__json_strn(ts_common__json *w, const char *s, size_t n);

void ts_common__json_int(ts_common__json *w, int64_t v);
void ts_common__json_uint(ts_common__json *w, uint64_t v);
void ts_common__json_bool(ts_common__json *w, bool v);
/** A number as jansson prints a real with JSON_REAL_PRECISION(6): "%.6g", ".0" kept, exponent
 *  without '+' and leading zeros. Infinity and NaN (not JSON) are written as 0.0. */
void ts_common__json_real(ts_common__json *w, double v);

/** `{` and `}`; members written between them get their commas. */
void ts_common__json_open(ts_common__json *w);
void ts_common__json_close(ts_common__json *w);
/** `"key":`, preceded by a comma unless it is the first member of the innermost object. */
void ts_common__json_key(ts_common__json *w, const char *key);
void ts_common__json_kstr(ts_common__json *w, const char *key, const char *value);
void ts_common__json_kint(ts_common__json *w, const char *key, int64_t value);
void ts_common__json_kuint(ts_common__json *w, const char *key, uint64_t value);
void ts_common__json_kbool(ts_common__json *w, const char *key, bool value);
void ts_common__json_kreal(ts_common__json *w, const char *key, double value);
/** An array of @p n strings (NULL entries are ""). */
void ts_common__json_kstrs(ts_common__json *w, const char *key, const char *const *values,
                           size_t n);
/** A member whose value is JSON text written elsewhere (see ts_common__json_embed()). */
void ts_common__json_kembed(ts_common__json *w, const char *key, const char *json, size_t n);

/**
 * Hand the text over (heap, NUL-terminated; free with free()) and reset the writer.
 * @return NULL when an allocation failed at any point.
 */
char *ts_common__json_take(ts_common__json *w, size_t *len);

#endif
