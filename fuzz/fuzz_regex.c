/* libFuzzer target: keyMatch2 and regexMatch(name, pattern) through a shared regex cache,
 * input split at the first NUL. Also replays the match without the cache: both must agree. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "builtins.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ts_regex_cache *cache(void)
{
    static ts_regex_cache *rx; /* harness-only: one cache for the process, like a snapshot */
    if (!rx)
        rx = ts_regex_cache_new(256);
    return rx;
}

static void run(ts_builtin_id id, const ts_val *args)
{
    ts_val a, b;
    ts_status sa, sb;
    ts_builtin_env with = {cache(), NULL}, without = {NULL, NULL};
    sa = ts_builtin_call(id, args, 2, &with, &a, NULL);
    sb = ts_builtin_call(id, args, 2, &without, &b, NULL);
    if (sa != TS_OK && sa != TS_EEVAL)
        __builtin_trap();
    /* limits may trip in one run and not the other only for errors; results must agree */
    if (sa == TS_OK && sb == TS_OK && a.u.b != b.u.b)
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
    run(TS_FN_KEYMATCH2, args);
    run(TS_FN_REGEXMATCH, args);
    return 0;
}
