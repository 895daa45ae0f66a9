/* Request lines of `tokensmith policy check`. */
#ifndef TS_CLI_POLICY_REQUEST_H
#define TS_CLI_POLICY_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include <tokensmith/authz.h>

/** One parsed request: the arguments and the strings they point into. */
typedef struct ts_cli_request {
    ts_authz_arg args[TS_AUTHZ_MAX_FIELDS];
    size_t nargs;
    /* Strings the args point into that must be released after the decision. */
    char **csv_fields; /* from one CSV split over the whole line */
    size_t ncsv;
    char *owned[TS_AUTHZ_MAX_FIELDS]; /* per-field results of the JSON-aware path */
    size_t nowned;
} ts_cli_request;

/**
 * Split one request line (trimmed, not empty) into arguments: fields are comma-separated with
 * the CSV rules of policy files; a field starting with '{' is a JSON object and may be written
 * as is. On error @p err says where (column).
 */
TS_NODISCARD ts_status ts_cli_request_parse(ts_cli_request *r, const char *line, size_t len,
                                            ts_error *err);

/** Release what the arguments point into; @p r can parse the next line. */
void ts_cli_request_reset(ts_cli_request *r);

/** Blank as policy lines count it: space, tab, CR, VT, FF. */
bool ts_cli_is_blank(char c);

#endif
