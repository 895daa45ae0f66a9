/* Replays the Casbin built-in function vectors (Go util/builtin_operators_test.go results, in
 * the shared conformance corpus) through ts_authz__builtin_call and compares with Go's answers. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "builtins.h"

#define VECTORS TS_SHARED_DIR "/casbin-conformance/function_vectors.json"

/* The corpus spells some names differently ("iPMatch"); Casbin's own names are matched
 * case-insensitively here. */
static int lookup_fn(const char *name)
{
    int id = ts_authz__builtin_lookup(name, strlen(name));
    for (int i = 0; id < 0 && i < TS_FN__COUNT; i++)
        if (strcasecmp(ts_authz__builtin_name((ts_builtin_id)i), name) == 0)
            id = i;
    return id;
}

static void test_vectors(void **state)
{
    (void)state;
    json_error_t jerr;
    json_t *root = json_load_file(VECTORS, 0, &jerr);
    if (!root) {
        fprintf(stderr, "cannot read %s: %s\n", VECTORS, jerr.text);
        fail();
    }
    json_t *vectors = json_object_get(root, "vectors");
    assert_true(json_is_array(vectors));
    ts_regex_cache *rx = ts_authz__regex_cache_new(0);
    assert_non_null(rx);
    size_t passed = 0, failed = 0, idx;
    json_t *v;
    /* twice: once compiling, once from the cache */
    for (int pass = 0; pass < 2; pass++) {
        json_array_foreach(vectors, idx, v)
        {
            const char *fn = json_string_value(json_object_get(v, "fn"));
            json_t *args = json_object_get(v, "args");
            json_t *exp = json_object_get(v, "exp");
            int id = fn ? lookup_fn(fn) : -1;
            ts_val a[4];
            size_t n = json_array_size(args);
            bool ok = id >= 0 && n <= 4;
            for (size_t i = 0; ok && i < n; i++) {
                json_t *s = json_array_get(args, i);
                ok = json_is_string(s);
                if (ok)
                    a[i] = ts_val_str(json_string_value(s), json_string_length(s));
            }
            ts_val out;
            ts_error err;
            ts_error_clear(&err);
            ts_builtin_env env = {pass ? rx : NULL, NULL};
            ts_status st =
                ok ? ts_authz__builtin_call((ts_builtin_id)id, a, n, &env, &out, &err) : TS_EINVAL;
            bool good = false;
            if (st == TS_OK && json_is_boolean(exp))
                good = out.kind == TS_VAL_BOOL && out.u.b == json_is_true(exp);
            else if (st == TS_OK && json_is_string(exp))
                good = out.kind == TS_VAL_STR && out.u.str.len == json_string_length(exp) &&
                       memcmp(out.u.str.ptr, json_string_value(exp), out.u.str.len) == 0;
            if (good) {
                passed++;
            } else {
                failed++;
                char *as = json_dumps(args, JSON_COMPACT);
                char *es = json_dumps(exp, JSON_ENCODE_ANY);
                fprintf(stderr, "FAIL %s%s: expected %s, got %s %s\n", fn ? fn : "?", as ? as : "",
                        es ? es : "?", ts_status_str(st),
                        st != TS_OK               ? err.msg
                        : out.kind == TS_VAL_BOOL ? (out.u.b ? "true" : "false")
                                                  : "string");
                free(as);
                free(es);
            }
        }
    }
    size_t total = json_array_size(vectors);
    /* a vector counts as passed only if it passed both with and without the cache */
    printf("%zu passed, %zu failed\n", total - (failed > total ? total : failed),
           failed > total ? total : failed);
    ts_authz__regex_cache_free(rx);
    json_decref(root);
    assert_int_equal(failed, 0);
    assert_int_equal(passed, 2 * total);
}

int main(void)
{
    if (access(VECTORS, R_OK) != 0) {
        printf("skipped: %s not found (TS_SHARED_DIR absent)\n", VECTORS);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
