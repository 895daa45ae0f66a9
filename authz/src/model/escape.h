/* Matcher rewriting steps behind ts_model_def.matcher (see model.h). */
#ifndef TS_AUTHZ_MODEL_ESCAPE_H
#define TS_AUTHZ_MODEL_ESCAPE_H

#include <stddef.h>

/**
 * Go's EscapeStringLiterals: inside a '...' or "..." literal (closed by the same quote
 * character) every backslash is doubled, so that the expression lexer's unescaping gives the
 * literal back unchanged. Text outside literals is copied as is.
 * @return a malloc'd NUL-terminated string, or NULL when out of memory.
 */
char *ts_authz__model_escape_string_literals(const char *s, size_t len);

/**
 * The whole matcher pipeline: ts_authz__model_escape_assertion(), then
 * ts_authz__model_escape_string_literals(), then, if the text contains "in" anywhere, every '[' and
 * ']' become '(' and ')'. @return a malloc'd string, or NULL when out of memory.
 */
char *ts_authz__model_escape_matcher(const char *s, size_t len);

#endif
