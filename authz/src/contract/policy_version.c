/* policy_version: the one definition every entry point uses (docs/policy.md). */
#include "common/hex.h"
#include "common/sha256.h"
#include "contract/contract.h"

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Hash the model with CRLF -> LF, surrounding white space trimmed and one "\n" appended,
 * without building a copy. */
static void hash_model(ts_common__sha256_ctx *s, const char *m, size_t len)
{
    size_t a = 0, b = len;
    while (a < b && is_space(m[a]))
        a++;
    while (b > a && is_space(m[b - 1]))
        b--;
    size_t run = a;
    for (size_t i = a; i < b; i++) {
        if (m[i] == '\r' && i + 1 < b && m[i + 1] == '\n') {
            ts_common__sha256_update(s, m + run, i - run);
            run = i + 1;
        }
    }
    ts_common__sha256_update(s, m + run, b - run);
    ts_common__sha256_update(s, "\n", 1);
}

void ts_authz_policy_version_compute(const char *model, size_t model_len, const char *policy,
                                     size_t policy_len, const char *grouping, size_t grouping_len,
                                     char out[TS_AUTHZ_POLICY_VERSION_LEN + 1])
{
    ts_common__sha256_ctx s;
    unsigned char d[32];
    ts_common__sha256_init(&s);
    hash_model(&s, model ? model : "", model ? model_len : 0);
    ts_common__sha256_update(&s, "\n--policy--\n", 12);
    ts_common__sha256_update(&s, policy ? policy : "", policy ? policy_len : 0);
    ts_common__sha256_update(&s, "\n--grouping--\n", 14);
    ts_common__sha256_update(&s, grouping ? grouping : "", grouping ? grouping_len : 0);
    ts_common__sha256_final(&s, d);
    ts_common__hex_encode(d, sizeof d, out); /* 64 digits and the NUL */
}
