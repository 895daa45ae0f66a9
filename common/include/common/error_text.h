/*
 * One line of text for a ts_error, the way every command-line program of tokensmith prints it:
 * "<where>: <message>", or the message alone when it already starts with the place (parsers put
 * "file:line: problem" in the message) or names none.
 */
#ifndef TS_COMMON_ERROR_TEXT_H
#define TS_COMMON_ERROR_TEXT_H

#include <stddef.h>

#include <tokensmith/error.h>

/** Write the line for @p err into @p buf (NUL-terminated, truncated to @p cap); a NULL or
 *  TS_OK error gives "unknown error". Nothing is written when @p cap is 0. */
void ts_common__error_text(const ts_error *err, char *buf, size_t cap);

#endif
