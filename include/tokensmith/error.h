/**
 * @file error.h
 * @brief Status codes and the caller-owned error record shared by every tokensmith library.
 *
 * Every fallible call returns a ::ts_status (or NULL, or a rejection reason) and, when given a
 * non-NULL ::ts_error, fills it with a message and the place (file:line, field or function) the
 * problem was found.
 *
 * Reuse rule, the same for every public function of every tokensmith library: a function that
 * fails records why in its `ts_error *`, replacing whatever the record held; a function that
 * succeeds leaves the record untouched. So one ts_error can serve a sequence of calls without
 * ts_error_clear() in between, and after a failed call it always describes that failure, never
 * an earlier one. Whether a call failed is told by what it returns, not by the record (a
 * success does not clear an earlier error).
 *
 * Thread-safety: a ts_error belongs to one thread at a time; never pass one to two calls that
 * run at once.
 * @since 0.1.0
 */
#ifndef TOKENSMITH_ERROR_H
#define TOKENSMITH_ERROR_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <tokensmith/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/* X-macro: one place for every code and its text. */
#define TS_STATUS_MAP(XX)                                                                          \
    XX(TS_OK, "ok")                                                                                \
    XX(TS_ENOMEM, "out of memory")                                                                 \
    XX(TS_EINVAL, "invalid argument")                                                              \
    XX(TS_EPARSE, "parse error")                                                                   \
    XX(TS_EIO, "input/output error")                                                               \
    XX(TS_ELIMIT, "limit exceeded")                                                                \
    XX(TS_ETYPE, "type error")                                                                     \
    XX(TS_ENOTFOUND, "not found")                                                                  \
    XX(TS_EEVAL, "evaluation error")                                                               \
    XX(TS_ECYCLE, "cycle detected")                                                                \
    XX(TS_EUNSUPPORTED, "unsupported")                                                             \
    XX(TS_EINTERNAL, "internal error")

typedef enum ts_status {
#define TS_STATUS_ENUM_(name, text) name,
    TS_STATUS_MAP(TS_STATUS_ENUM_)
#undef TS_STATUS_ENUM_
} ts_status;

/** Caller-allocated error record. `where` names the file:line, field or function. */
typedef struct ts_error {
    ts_status code;
    char msg[256];
    char where[128];
} ts_error;

/** @return a static string for @p s; never NULL. */
static inline const char *ts_status_str(ts_status s)
{
    switch (s) {
#define TS_STATUS_CASE_(name, text)                                                                \
    case name:                                                                                     \
        return text;
        TS_STATUS_MAP(TS_STATUS_CASE_)
#undef TS_STATUS_CASE_
    }
    return "unknown status";
}

/** Reset @p err to the empty (TS_OK) state. NULL-safe. */
static inline void ts_error_clear(ts_error *err)
{
    if (err) {
        err->code = TS_OK;
        err->msg[0] = '\0';
        err->where[0] = '\0';
    }
}

/**
 * Record an error, replacing whatever @p err held (the reuse rule above). Inside a library, a
 * function whose callee already recorded the failure returns the callee's status instead of
 * calling this again, so that the most precise message is the one that stays. NULL-safe.
 * @param where file:line, field or function name; may be NULL.
 * @return @p code, so that callers can `return ts_error_set(...)`.
 */
static inline TS_PRINTF(4, 5) ts_status
    ts_error_set(ts_error *err, ts_status code, const char *where, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        if (where)
            snprintf(err->where, sizeof err->where, "%s", where);
        else
            err->where[0] = '\0';
    }
    return code;
}

#ifdef __cplusplus
}
#endif
#endif
