/* libFuzzer target: the token endpoint's form-body parser. Every input must either parse into
 * fields that read back consistently or be refused with an error; never crash or leak. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "form.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ts_form *f = NULL;
    ts_error err;
    ts_error_clear(&err);
    if (ts_form_parse((const char *)data, size, &f, &err) != TS_OK) {
        if (f || err.code == TS_OK)
            __builtin_trap();
        return 0;
    }
    if (ts_form_count(f) > TS_FORM_MAX_FIELDS)
        __builtin_trap();
    static const char *const names[] = {"grant_type", "subject_token", "subject_token_type",
                                        "refresh_token", "scope"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t len = 0;
        const char *v = ts_form_get(f, names[i], &len);
        if (v && strlen(v) != len)
            __builtin_trap(); /* decoded NUL bytes are refused */
    }
    ts_form_free(f);
    return 0;
}
