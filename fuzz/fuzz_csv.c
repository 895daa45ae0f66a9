/* libFuzzer target: CSV policy loading and the single-line splitter. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ts_error err;
    ts_authz_policy *p = ts_authz_policy_new();
    char **fields = NULL;
    size_t n = 0;
    ts_status st;
    if (!p)
        return 0;
    ts_error_clear(&err);
    st = ts_authz_policy_load_csv(p, (const char *)data, size, "fuzz.csv", &err);
    if (st != TS_OK && (ts_authz_policy_count(p) != 0 || err.code != st))
        abort(); /* failed loads append nothing and say why */
    for (size_t i = 0; i < p->n; i++)
        if (p->rules[i].ptype[0] == '\0' || p->rules[i].nfields == 0 ||
            p->rules[i].nfields > TS_AUTHZ_MAX_FIELDS || p->rules[i].line <= 0)
            abort();
    ts_authz_policy_free(p);
    if (ts_authz_csv_split_line((const char *)data, size, &fields, &n, NULL, NULL) == TS_OK)
        ts_authz_csv_fields_free(fields, n);
    return 0;
}
