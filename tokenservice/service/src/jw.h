/*
 * A small JSON writer for the hot paths of the token service (token responses, access-token
 * claims, log lines): members are appended to a buffer that starts on the stack, without
 * building a document tree first. Output matches jansson's compact encoding (same escapes,
 * UTF-8 kept as is), so documents look the same whichever path wrote them.
 */
#ifndef TS_SVC_JW_H
#define TS_SVC_JW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ts_svc_jw {
    char *ptr;
    size_t len, cap;
    bool oom;   /* an allocation failed: the content is incomplete, do not use it */
    bool first; /* no member written yet in the innermost object or array */
    char stack[1536];
} ts_svc_jw;

void ts_svc_jw_init(ts_svc_jw *w);
/** Wipe (the buffer may hold tokens) and release. The writer can be initialised again. */
void ts_svc_jw_free(ts_svc_jw *w);

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
/** A member whose value is already JSON text. */
void ts_svc_jw_kraw(ts_svc_jw *w, const char *key, const char *json, size_t n);

/** Take the text (heap, NUL-terminated) and reset the writer; NULL when out of memory. */
char *ts_svc_jw_take(ts_svc_jw *w, size_t *len);

#endif
