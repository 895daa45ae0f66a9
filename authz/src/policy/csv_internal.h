/* The allocation-free core of ts_authz_csv_split_line(), shared with the policy loader. */
#ifndef TS_AUTHZ_POLICY_CSV_INTERNAL_H
#define TS_AUTHZ_POLICY_CSV_INTERNAL_H

#include <stddef.h>

#include <tokensmith/error.h>

/* Go's encoding/csv errors, as its Error values print. */
#define TS_CSV_ERR_BARE_QUOTE "bare \" in non-quoted-field"
#define TS_CSV_ERR_QUOTE "extraneous or missing \" in quoted-field"

typedef struct ts_csv_span {
    size_t off; /* into the output buffer */
    size_t len;
} ts_csv_span;

/**
 * Split @p line (at most TS_AUTHZ_MAX_LINE_BYTES, checked by the caller) into at most
 * @p max_fields fields. Unquoted field bytes are written to @p out (capacity >= len + 1),
 * each field described by a span.
 * @param col out on error: 1-based byte column, as Go's csv.ParseError.Column.
 * @param why out on error: a static message (one of the TS_CSV_ERR_* or a limit message).
 * @return TS_OK, TS_EPARSE or TS_ELIMIT.
 */
ts_status ts_authz__csv_split(const char *line, size_t len, char *out, ts_csv_span *spans,
                              size_t max_fields, size_t *nfields, size_t *col, const char **why);

#endif
