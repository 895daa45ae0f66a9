/* Strict parser for application/x-www-form-urlencoded request bodies (the token endpoint). */
#ifndef TS_SVC_FORM_H
#define TS_SVC_FORM_H

#include <stddef.h>

#include <tokensmith/error.h>

#define TS_FORM_MAX_FIELDS 32u         /**< more parameters are refused */
#define TS_FORM_MAX_NAME_LEN 64u       /**< decoded parameter name (bytes) */
#define TS_FORM_MAX_BODY (64u * 1024u) /**< larger input is refused before decoding */

typedef struct ts_form ts_form;

/**
 * Parse @p body (not NUL-terminated, @p len bytes). Accepted: `name=value` pairs separated by
 * `&`, `+` for a space and `%XX` escapes. Refused, naming the offending parameter: an empty
 * pair (`a=1&&b=2`, a leading or trailing `&`), a pair without `=`, an empty name, a name
 * outside `[A-Za-z0-9_.-]`, a malformed escape, a decoded control character or NUL, invalid
 * UTF-8, and a parameter given twice (RFC 6749 §3.1). An empty body is a form without fields.
 * Ownership: free *out with ts_form_free().
 */
TS_NODISCARD ts_status ts_form_parse(const char *body, size_t len, ts_form **out, ts_error *err);

/** The decoded value of @p name (NUL-terminated) or NULL when absent. Borrowed. */
const char *ts_form_get(const ts_form *f, const char *name, size_t *len);

/** Number of parameters. */
size_t ts_form_count(const ts_form *f);

/** NULL-safe. Values are wiped before the memory is released (they may hold tokens). */
void ts_form_free(ts_form *f);

#endif
