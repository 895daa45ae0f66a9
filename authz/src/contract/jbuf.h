/* A growable byte buffer with JSON string escaping, for log lines, deny bodies, metrics. */
#ifndef TS_AUTHZ_CONTRACT_JBUF_H
#define TS_AUTHZ_CONTRACT_JBUF_H

#include <stdbool.h>
#include <stddef.h>

#include <tokensmith/error.h>

typedef struct ts_jbuf {
    char *ptr;
    size_t len, cap;
    bool oom; /* sticky: every append after a failed allocation is a no-op */
    char stack[1024];
} ts_jbuf;

void ts_authz__jbuf_init(ts_jbuf *b);
void ts_authz__jbuf_cleanup(ts_jbuf *b);
void ts_authz__jbuf_add(ts_jbuf *b, const char *s, size_t n);
void ts_authz__jbuf_adds(ts_jbuf *b, const char *z);
void ts_authz__jbuf_addu(ts_jbuf *b, unsigned long long v);
/** A JSON string literal with quotes; control characters and invalid UTF-8 escaped as \uXXXX /
 *  U+FFFD so that the line stays one valid JSON line. No HTML escaping. NULL is "". */
void ts_authz__jbuf_str(ts_jbuf *b, const char *z);
/** `"key":` */
void ts_authz__jbuf_key(ts_jbuf *b, const char *key);
/** A Prometheus label value (backslash, quote and newline escaped). */
void ts_authz__jbuf_label(ts_jbuf *b, const char *z);
/** Detach a malloc'd, NUL-terminated copy; NULL on OOM. The buffer is reset. */
char *ts_authz__jbuf_take(ts_jbuf *b, size_t *len);
/** Copy into a caller buffer with the metrics/diagnostics contract (TS_ELIMIT when short). */
ts_status ts_authz__jbuf_export(ts_jbuf *b, char *buf, size_t cap, size_t *len, ts_error *err);

#endif
