/* Go's notion of white space (unicode.IsSpace), shared by the model.conf reader and the CSV
 * policy loader so that both trim exactly what Go's strings.TrimSpace and encoding/csv's
 * TrimLeadingSpace trim: ASCII \t \n \v \f \r and space, plus the Unicode White_Space runes
 * (U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000). */
#ifndef TS_AUTHZ_MODEL_GOSTR_H
#define TS_AUTHZ_MODEL_GOSTR_H

#include <stddef.h>

/** @return the byte length of the white-space rune starting at @p s, or 0 if there is none. */
size_t ts_authz__go_space_prefix(const char *s, size_t n);

/** @return the byte length of the white-space rune ending at s[n-1], or 0 if there is none. */
size_t ts_authz__go_space_suffix(const char *s, size_t n);

/** strings.TrimSpace on the view (*s, *n): advances *s and shrinks *n. */
void ts_authz__go_trim_space(const char **s, size_t *n);

#endif
