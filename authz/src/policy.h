/* The rule container behind ts_authz_policy, and the CSV line parser. */
#ifndef TS_AUTHZ_POLICY_H
#define TS_AUTHZ_POLICY_H

#include <stddef.h>

#include <tokensmith/authz.h>

/** One rule as loaded; every string is NUL-terminated and owned by the policy. */
typedef struct ts_policy_rule {
    char *ptype;    /* "p", "g2", ... */
    char **fields;  /* values after the ptype */
    size_t nfields;
    const char *origin; /* file name (shared, owned by the policy) or NULL for API-added rules */
    int line;           /* 1-based line in origin, 0 when added through the API */
} ts_policy_rule;

struct ts_authz_policy {
    ts_policy_rule *rules;
    size_t n, cap;
    char **origins; /* file names, freed with the policy */
    size_t norigins;
};

/**
 * Split one CSV line (already trimmed, not a comment) into fields with Go encoding/csv rules
 * (Comma ',', TrimLeadingSpace, LazyQuotes=false).
 * @param fields out: malloc'd array of malloc'd strings; free with ts_csv_fields_free().
 * @param col out on error: 1-based byte column of the problem (may be NULL).
 * @return TS_OK or TS_EPARSE with @p err's message like Go's ("bare \" in non-quoted-field").
 */
ts_status ts_csv_split_line(const char *line, size_t len, char ***fields, size_t *nfields,
                            size_t *col, ts_error *err);
void ts_csv_fields_free(char **fields, size_t n);

#endif
