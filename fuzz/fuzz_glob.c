/* libFuzzer target: globMatch(name, pattern), input split at the first NUL. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "builtins.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *nul = size ? memchr(s, '\0', size) : NULL;
    size_t nlen = nul ? (size_t)(nul - s) : size;
    const char *pat = nul ? nul + 1 : s + size;
    size_t plen = nul ? size - nlen - 1 : 0;
    ts_val args[2] = {ts_val_str(s, nlen), ts_val_str(pat, plen)};
    ts_val out;
    ts_error err;
    ts_error_clear(&err);
    ts_status st = ts_authz__builtin_call(TS_FN_GLOBMATCH, args, 2, NULL, &out, &err);
    if (st != TS_OK && st != TS_EEVAL)
        __builtin_trap();
    /* a pattern without metacharacters matches exactly itself */
    if (st == TS_OK && plen == nlen && memcmp(s, pat, nlen) == 0 && !memchr(pat, '*', plen) &&
        !memchr(pat, '?', plen) && !memchr(pat, '[', plen) && !memchr(pat, '{', plen) &&
        !memchr(pat, '\\', plen) && !out.u.b)
        __builtin_trap();
    return 0;
}
