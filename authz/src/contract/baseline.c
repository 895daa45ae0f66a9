/* Access to the baseline policy files compiled into the library. */
#include "contract/contract.h"
#include "contract/embedded.h"

const char *ts_authz_baseline(ts_authz_baseline_file which, size_t *len)
{
    const unsigned char *p;
    size_t n;
    switch (which) {
    case TS_AUTHZ_BASELINE_MODEL:
        p = ts_authz__baseline_model;
        n = ts_authz__baseline_model_len;
        break;
    case TS_AUTHZ_BASELINE_POLICY:
        p = ts_authz__baseline_policy;
        n = ts_authz__baseline_policy_len;
        break;
    case TS_AUTHZ_BASELINE_GROUPING:
        p = ts_authz__baseline_grouping;
        n = ts_authz__baseline_grouping_len;
        break;
    default:
        return NULL;
    }
    if (len)
        *len = n;
    return (const char *)p;
}
