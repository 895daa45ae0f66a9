/* One CSV record per line, with Go encoding/csv's rules as Casbin configures the reader:
 * Comma ',', Comment '#', TrimLeadingSpace, LazyQuotes off. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "model/gostr.h"
#include "policy.h"
#include "policy/csv_internal.h"

ts_status ts_authz__csv_split(const char *line, size_t len, char *out, ts_csv_span *spans,
                              size_t max_fields, size_t *nfields, size_t *col, const char **why)
{
    size_t pos = 0, o = 0, nf = 0;
    *nfields = 0;
    /* Go's reader yields no record for an empty or comment line. */
    if (len == 0 || line[0] == '#')
        return TS_OK;
    for (;;) {
        size_t k;
        while ((k = ts_authz__go_space_prefix(line + pos, len - pos)) > 0)
            pos += k;
        if (nf == max_fields) {
            *col = pos + 1;
            *why = "too many fields";
            return TS_ELIMIT;
        }
        spans[nf].off = o;
        if (pos == len || line[pos] != '"') {
            const char *comma = memchr(line + pos, ',', len - pos);
            size_t end = comma ? (size_t)(comma - line) : len;
            const char *q = memchr(line + pos, '"', end - pos);
            if (q) {
                *col = (size_t)(q - line) + 1;
                *why = TS_CSV_ERR_BARE_QUOTE;
                return TS_EPARSE;
            }
            memcpy(out + o, line + pos, end - pos);
            o += end - pos;
            spans[nf].len = o - spans[nf].off;
            out[o++] = '\0';
            nf++;
            if (!comma)
                break;
            pos = end + 1;
            continue;
        }
        pos++; /* opening quote */
        for (;;) {
            const char *q = memchr(line + pos, '"', len - pos);
            size_t qi;
            if (!q) {
                /* One line at a time: a quoted field cannot continue on the next line. Go
                 * reports the column just past the end of the input. */
                *col = len + 1;
                *why = TS_CSV_ERR_QUOTE;
                return TS_EPARSE;
            }
            qi = (size_t)(q - line);
            memcpy(out + o, line + pos, qi - pos);
            o += qi - pos;
            pos = qi + 1;
            if (pos < len && line[pos] == '"') {
                out[o++] = '"';
                pos++;
            } else if (pos == len || line[pos] == ',') {
                break;
            } else {
                *col = qi + 1;
                *why = TS_CSV_ERR_QUOTE;
                return TS_EPARSE;
            }
        }
        spans[nf].len = o - spans[nf].off;
        out[o++] = '\0';
        nf++;
        if (pos == len)
            break;
        pos++; /* the comma */
    }
    *nfields = nf;
    return TS_OK;
}

TS_API void ts_authz_csv_fields_free(char **fields, size_t n)
{
    if (!fields)
        return;
    for (size_t i = 0; i < n; i++)
        free(fields[i]);
    free(fields);
}

TS_API ts_status ts_authz_csv_split_line(const char *line, size_t len, char ***fields,
                                         size_t *nfields, size_t *col, ts_error *err)
{
    ts_csv_span spans[TS_CSV_MAX_FIELDS];
    char *out;
    char **res;
    size_t nf = 0, c = 0;
    const char *why = NULL;
    ts_status st;
    if (!fields || !nfields || (!line && len > 0))
        return ts_error_set(err, TS_EINVAL, "ts_authz_csv_split_line", "invalid argument");
    *fields = NULL;
    *nfields = 0;
    if (len > TS_AUTHZ_MAX_LINE_BYTES) {
        if (col)
            *col = TS_AUTHZ_MAX_LINE_BYTES + 1;
        return ts_error_set(err, TS_ELIMIT, NULL, "line longer than %u bytes",
                            TS_AUTHZ_MAX_LINE_BYTES);
    }
    out = malloc(len + 1);
    if (!out)
        return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    st = ts_authz__csv_split(line ? line : "", len, out, spans, TS_CSV_MAX_FIELDS, &nf, &c, &why);
    if (st != TS_OK) {
        free(out);
        if (col)
            *col = c;
        return ts_error_set(err, st, NULL, "%s", why);
    }
    res = calloc(nf ? nf : 1, sizeof *res);
    if (!res) {
        free(out);
        return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    }
    for (size_t i = 0; i < nf; i++) {
        res[i] = malloc(spans[i].len + 1);
        if (!res[i]) {
            ts_authz_csv_fields_free(res, i);
            free(out);
            return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
        }
        memcpy(res[i], out + spans[i].off, spans[i].len + 1);
    }
    free(out);
    *fields = res;
    *nfields = nf;
    return TS_OK;
}
