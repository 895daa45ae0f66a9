/* The rule container behind ts_authz_policy, and the CSV line parser. */
#ifndef TS_AUTHZ_POLICY_H
#define TS_AUTHZ_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tokensmith/authz.h>

#include "util/arena.h"

/** One rule as loaded; every string is NUL-terminated and owned by the policy. */
typedef struct ts_policy_rule {
    char *ptype;        /* "p", "g2", ... */
    char **fields;      /* values after the ptype */
    const char *origin; /* file name (shared, owned by the policy) or NULL for API-added rules */
    int line;           /* 1-based line in origin, 0 when added through the API */
    /* At most TS_AUTHZ_MAX_FIELDS: 16 bits keep the rule at 32 bytes (a million-rule policy
     * and its snapshot hold one each). */
    uint16_t nfields;
    /* fields is one malloc'd block (after ts_authz__policy_rule_append_field()) rather than
     * memory of the policy's arena; only meaningful for the rules of a ts_authz_policy. */
    bool owns_fields;
} ts_policy_rule;

struct ts_authz_policy {
    ts_policy_rule *rules;
    size_t n, cap;
    char **origins; /* file names, freed with the policy */
    size_t norigins;
    ts_arena arena; /* every rule's field array and strings, released with the policy */
};

/** Fields one CSV line may hold: the ptype plus TS_AUTHZ_MAX_FIELDS values. */
#define TS_CSV_MAX_FIELDS TS_AUTHZ_CSV_MAX_FIELDS

/** Largest policy file ts_authz_policy_load_file() reads. */
#define TS_POLICY_MAX_FILE_BYTES (256u * 1024u * 1024u)

/* The CSV line splitter is public: ts_authz_csv_split_line() in authz.h. */

/** Append @p value (copied) as a new last field of @p r, a rule owned by a ts_authz_policy.
 *  @return 0, or -1 when out of memory or at TS_AUTHZ_MAX_FIELDS. */
int ts_authz__policy_rule_append_field(ts_policy_rule *r, const char *value);

#endif
