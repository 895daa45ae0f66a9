/*
 * The token service's names for the JSON writer of common/ (common/json_writer.h): token
 * responses, access-token claims and log lines are appended to a buffer that starts on the
 * stack, without building a document tree first. Output matches jansson's compact encoding
 * (same escapes), so documents look the same whichever path wrote them.
 *
 * ts_svc_jw_init() keeps UTF-8 as is (response bodies, claims); ts_svc_jw_init_ascii() writes
 * printable ASCII only, every non-ASCII code point and every control character escaped, for log
 * lines: there ts_svc_jw_raw() and ts_svc_jw_kraw() re-encode the JSON text they are given too.
 */
#ifndef TS_SVC_JW_H
#define TS_SVC_JW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/json_writer.h"

/** The writer; @c ptr, @c len and @c oom may be read (see common/json_writer.h). */
typedef ts_common__json ts_svc_jw;

/** A writer that keeps UTF-8 as is (response bodies, token claims). */
void ts_svc_jw_init(ts_svc_jw *w);
/** A writer whose output is printable ASCII only (log lines). */
void ts_svc_jw_init_ascii(ts_svc_jw *w);
/** Wipe (the buffer may hold tokens) and release. The writer can be initialised again. */
void ts_svc_jw_free(ts_svc_jw *w);

/** JSON text appended as is (re-encoded to ASCII by an ASCII writer). */
void ts_svc_jw_raw(ts_svc_jw *w, const char *s, size_t n);
/** A JSON string literal; invalid UTF-8 becomes U+FFFD. NULL is written as "". */
void ts_svc_jw_str(ts_svc_jw *w, const char *s);

void ts_svc_jw_open(ts_svc_jw *w);  /* { */
void ts_svc_jw_close(ts_svc_jw *w); /* } */
/** Object members ("key":value), with the comma when needed. */
void ts_svc_jw_kstr(ts_svc_jw *w, const char *key, const char *value);
void ts_svc_jw_kint(ts_svc_jw *w, const char *key, int64_t value);
void ts_svc_jw_kbool(ts_svc_jw *w, const char *key, bool value);
/** A number as jansson prints a real with JSON_REAL_PRECISION(6) ("%.6g", ".0" kept). */
void ts_svc_jw_kreal(ts_svc_jw *w, const char *key, double value);
/** An array of strings. */
void ts_svc_jw_kstrs(ts_svc_jw *w, const char *key, const char *const *values, size_t n);
/** A member whose value is already JSON text (re-encoded to ASCII by an ASCII writer). */
void ts_svc_jw_kraw(ts_svc_jw *w, const char *key, const char *json, size_t n);

/** Take the text (heap, NUL-terminated) and reset the writer; NULL when out of memory. */
char *ts_svc_jw_take(ts_svc_jw *w, size_t *len);

#endif
