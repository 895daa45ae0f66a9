/* libFuzzer target: the OIDC provider-configuration parser and its canonical JSON round trip. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <tokensmith/oidc.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ts_error err;
    ts_error_clear(&err);
    ts_oidc_config *c = ts_oidc_config_parse((const char *)data, size, &err);
    if (c) {
        /* A valid configuration must serialise to one that parses again. */
        char *j = ts_oidc_config_to_json(c, true, NULL);
        if (j) {
            ts_oidc_config *c2 = ts_oidc_config_parse(j, strlen(j), NULL);
            if (!c2)
                __builtin_trap();
            ts_oidc_config_free(c2);
        }
        ts_free(j);
        ts_oidc_config_free(c);
    }
    return 0;
}
