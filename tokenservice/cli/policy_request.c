/* Request lines of `tokensmith policy check`: CSV fields split by authz's public splitter (the
 * rules of policy files), JSON objects written as is. */
#define _POSIX_C_SOURCE 200809L

#include "policy_request.h"

#include <stdlib.h>
#include <string.h>

void ts_cli_request_reset(ts_cli_request *r)
{
    if (r->csv_fields)
        ts_authz_csv_fields_free(r->csv_fields, r->ncsv);
    r->csv_fields = NULL;
    r->ncsv = 0;
    for (size_t i = 0; i < r->nowned; i++)
        free(r->owned[i]);
    r->nowned = 0;
    r->nargs = 0;
}

bool ts_cli_is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static ts_status push_arg(ts_cli_request *r, const char *ptr, size_t len, bool is_json,
                          ts_error *err)
{
    if (r->nargs >= TS_AUTHZ_MAX_FIELDS)
        return ts_error_set(err, TS_ELIMIT, NULL, "more than %u fields", TS_AUTHZ_MAX_FIELDS);
    r->args[r->nargs++] = (ts_authz_arg){.ptr = ptr, .len = len, .is_json = is_json};
    return TS_OK;
}

/* End of a JSON object starting at line[pos] == '{': one past its matching '}', or 0. */
static size_t json_object_end(const char *line, size_t len, size_t pos)
{
    size_t depth = 0;
    bool in_str = false;
    for (size_t i = pos; i < len; i++) {
        char c = line[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth == 0)
                return 0;
            if (--depth == 0)
                return c == '}' ? i + 1 : 0;
        }
    }
    return 0;
}

/* One CSV (non-JSON) field segment, [start, end) without the separating comma. */
static ts_status push_csv_segment(ts_cli_request *r, const char *line, size_t start, size_t end,
                                  ts_error *err)
{
    const char *seg = line + start;
    size_t n = end - start;
    if (!memchr(seg, '"', n)) {
        /* Unquoted: Go's reader only trims leading space. */
        while (n > 0 && (*seg == ' ' || *seg == '\t')) {
            seg++;
            n--;
        }
        return push_arg(r, seg, n, false, err);
    }
    char **fields = NULL;
    size_t nf = 0, col = 0;
    ts_status st = ts_authz_csv_split_line(seg, n, &fields, &nf, &col, err);
    if (st != TS_OK) {
        if (err && col > 0 && err->where[0] == '\0')
            snprintf(err->where, sizeof err->where, "column %zu", start + col);
        return st;
    }
    if (nf != 1) {
        ts_authz_csv_fields_free(fields, nf);
        return ts_error_set(err, TS_EPARSE, NULL, "malformed field at column %zu", start + 1);
    }
    if (r->nowned >= TS_AUTHZ_MAX_FIELDS) {
        ts_authz_csv_fields_free(fields, nf);
        return ts_error_set(err, TS_ELIMIT, NULL, "more than %u fields", TS_AUTHZ_MAX_FIELDS);
    }
    char *value = fields[0];
    fields[0] = NULL;
    ts_authz_csv_fields_free(fields, nf);
    r->owned[r->nowned++] = value;
    return push_arg(r, value, strlen(value), value[0] == '{', err);
}

/*
 * Split a line whose JSON fields are written raw ({"a": 1, "b": "x"} holds commas and quotes
 * that CSV would reject); every other field goes through the CSV rules.
 */
static ts_status split_with_json(ts_cli_request *r, const char *line, size_t len, ts_error *err)
{
    size_t pos = 0;
    for (;;) {
        size_t start = pos, p = pos;
        while (p < len && (line[p] == ' ' || line[p] == '\t'))
            p++;
        if (p < len && line[p] == '{') {
            size_t end = json_object_end(line, len, p);
            if (end == 0)
                return ts_error_set(err, TS_EPARSE, NULL, "unterminated JSON object at column %zu",
                                    p + 1);
            ts_status st = push_arg(r, line + p, end - p, true, err);
            if (st != TS_OK)
                return st;
            pos = end;
            while (pos < len && ts_cli_is_blank(line[pos]))
                pos++;
            if (pos < len && line[pos] != ',')
                return ts_error_set(err, TS_EPARSE, NULL,
                                    "expected ',' after JSON object at column %zu", pos + 1);
        } else {
            /* Find the comma ending this field, skipping over a quoted part. */
            bool quoted = false;
            for (pos = p; pos < len; pos++) {
                if (line[pos] == '"')
                    quoted = !quoted; /* "" inside quotes toggles twice: still quoted */
                else if (line[pos] == ',' && !quoted)
                    break;
            }
            ts_status st = push_csv_segment(r, line, start, pos, err);
            if (st != TS_OK)
                return st;
        }
        if (pos >= len)
            return TS_OK;
        pos++; /* the comma; a comma at the very end leaves one empty field */
    }
}

ts_status ts_cli_request_parse(ts_cli_request *r, const char *line, size_t len, ts_error *err)
{
    if (!memchr(line, '{', len)) {
        size_t col = 0;
        ts_status st = ts_authz_csv_split_line(line, len, &r->csv_fields, &r->ncsv, &col, err);
        if (st != TS_OK) {
            if (err && col > 0 && err->where[0] == '\0')
                snprintf(err->where, sizeof err->where, "column %zu", col);
            return st;
        }
        for (size_t i = 0; i < r->ncsv; i++) {
            st = push_arg(r, r->csv_fields[i], strlen(r->csv_fields[i]), false, err);
            if (st != TS_OK)
                return st;
        }
        return TS_OK;
    }
    return split_with_json(r, line, len, err);
}
