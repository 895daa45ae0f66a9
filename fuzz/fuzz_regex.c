/* libFuzzer target: keyMatch2 and regexMatch(name, pattern), input split at the first NUL,
 * three times: through a regex cache (a miss that compiles and stores), through it again (a
 * hit), and without it. All must agree. The cache is made per input: one shared across inputs
 * made a result depend on the inputs before (hit or miss, which entries were evicted), so a
 * failure could not be replayed from its input alone. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "builtins.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void run(ts_regex_cache *rx, ts_builtin_id id, const ts_val *args)
{
    ts_val a, h, b;
    ts_builtin_env with = {rx, NULL}, without = {NULL, NULL};
    ts_status sa = ts_authz__builtin_call(id, args, 2, &with, &a, NULL);
    ts_status sh = ts_authz__builtin_call(id, args, 2, &with, &h, NULL);
    ts_status sb = ts_authz__builtin_call(id, args, 2, &without, &b, NULL);
    if ((sa != TS_OK && sa != TS_EEVAL) || sh != sa)
        __builtin_trap(); /* a cached pattern behaves as it did when first compiled */
    /* limits may trip in one run and not the other only for errors; results must agree */
    if (sa == TS_OK && (a.u.b != h.u.b || (sb == TS_OK && a.u.b != b.u.b)))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *nul = size ? memchr(s, '\0', size) : NULL;
    size_t nlen = nul ? (size_t)(nul - s) : size;
    const char *pat = nul ? nul + 1 : s + size;
    size_t plen = nul ? size - nlen - 1 : 0;
    ts_val args[2] = {ts_val_str(s, nlen), ts_val_str(pat, plen)};
    ts_regex_cache *rx = ts_authz__regex_cache_new(16);
    if (!rx)
        return 0;
    run(rx, TS_FN_KEYMATCH2, args);
    run(rx, TS_FN_REGEXMATCH, args);
    ts_authz__regex_cache_free(rx);
    return 0;
}
