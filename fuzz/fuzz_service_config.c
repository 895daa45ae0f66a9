/* libFuzzer target: the `tokensmith serve` configuration file parser. Any input is either
 * merged into a configuration whose strings stay NUL-terminated within their arrays, or refused
 * with an error naming where; never a crash, a leak or an out-of-bounds read. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_terminated(const char *s, size_t cap)
{
    if (!memchr(s, '\0', cap))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ts_svc_config c; /* large: keep it off the stack */
    ts_svc_config_defaults(&c);
    ts_error err;
    ts_error_clear(&err);
    if (ts_svc_config_load_buffer(&c, (const char *)data, size, "fuzz.json", &err) != TS_OK) {
        if (err.code == TS_OK || err.where[0] == '\0')
            __builtin_trap(); /* a refusal always says why and where */
        return 0;
    }
    check_terminated(c.issuer, sizeof c.issuer);
    check_terminated(c.listen, sizeof c.listen);
    check_terminated(c.home, sizeof c.home);
    check_terminated(c.oidc, sizeof c.oidc);
    if (c.n_groups > TS_SVC_MAX_GROUPS)
        __builtin_trap();
    for (unsigned i = 0; i < c.n_groups; i++) {
        check_terminated(c.groups[i], sizeof c.groups[i]);
        check_terminated(c.group_scopes[i], sizeof c.group_scopes[i]);
    }
    if (c.threads < 1 || c.threads > 256)
        __builtin_trap(); /* bounds are enforced while merging */
    ts_error_clear(&err);
    if (ts_svc_config_finish(&c, &err) != TS_OK && err.code == TS_OK)
        __builtin_trap(); /* a refused combination says why */
    return 0;
}
