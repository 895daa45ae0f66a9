/* Route patterns matched on bytes must agree with keyMatch2 (the regex path) on every input. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "builtins.h"
#include "contract/route_pattern.h"

static bool key_match2(ts_regex_cache *rx, const char *path, size_t len, const char *pattern)
{
    bool hit = false;
    ts_error err;
    ts_error_clear(&err);
    ts_status st = ts_authz__builtin_match(TS_AUTHZ_MATCH_KEYMATCH2, ts_str_make(path, len),
                                           ts_str_c(pattern), rx, &hit, &err);
    if (st != TS_OK)
        fail_msg("keyMatch2(%s) failed: %s", pattern, err.msg);
    return hit;
}

static void test_known_routes(void **state)
{
    (void)state;
    static const struct {
        const char *pattern, *path;
        bool native, match;
    } cases[] = {
        {"/v1/nodes/:id", "/v1/nodes/x3000c0s1b0n0", true, true},
        {"/v1/nodes/:id", "/v1/nodes/", true, false},
        {"/v1/nodes/:id", "/v1/nodes/a/b", true, false},
        {"/v1/nodes/:id/power", "/v1/nodes/n1/power", true, true},
        {"/v1/*", "/v1/", true, true},
        {"/v1/*", "/v1", true, false},
        {"/v1/*", "/v1/a/b/c", true, true},
        {"/v1/*", "/v1/a\nb", true, false},
        {"/v1/:id/*", "/v1/x/", true, true},
        {"/x:", "/x:", true, true},
        {"/a:/b", "/a:/b", true, true},
        {"/:a.json", "/x.json", true, true},
        {"/files/*.txt", "/files/a.txt", false, true},
        {"/v1/nodes", "/v1/nodes", true, true},
        {"/v1/nodes", "/v1/nodesx", true, false},
        {"/a+b", "/aab", false, true},
        {"/*/x/*", "/a/x/b", false, true},
    };
    ts_regex_cache *rx = ts_authz__regex_cache_new(0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ts_route_pattern *rp = ts_authz__route_compile(cases[i].pattern);
        assert_non_null(rp);
        size_t len = strlen(cases[i].path);
        assert_int_equal(key_match2(rx, cases[i].path, len, cases[i].pattern), cases[i].match);
        if (ts_authz__route_native(rp) != cases[i].native)
            fail_msg("%s: native %d", cases[i].pattern, !cases[i].native);
        if (cases[i].native && ts_authz__route_match(rp, cases[i].path, len) != cases[i].match)
            fail_msg("%s on %s", cases[i].pattern, cases[i].path);
        ts_authz__route_free(rp);
    }
    ts_authz__regex_cache_free(rx);
}

/* Random patterns and paths from pieces that exercise every token kind and its edges. */
static void test_differential(void **state)
{
    (void)state;
    static const char *const pat_pieces[] = {"/",  "a", "b",   ":id", "/*", ".*", ":",
                                             "x:", "-", "/:x", "ab",  "/a", "/b", "."};
    static const char *const path_pieces[] = {"/", "a", "b",  "ab",       "\n",   ":", "-",
                                              ".", "x", "/a", "\xc3\xa9", "\xff", "//"};
    ts_regex_cache *rx = ts_authz__regex_cache_new(0);
    uint64_t seed = 0x9e3779b97f4a7c15u;
    size_t native = 0, matched = 0, compared = 0;
    for (int p = 0; p < 3000; p++) {
        char pattern[128] = "/";
        size_t np = 1 + (seed >> 60);
        for (size_t k = 0; k < np; k++) {
            seed = seed * 6364136223846793005u + 1442695040888963407u;
            strncat(pattern, pat_pieces[(seed >> 33) % (sizeof pat_pieces / sizeof pat_pieces[0])],
                    sizeof pattern - strlen(pattern) - 1);
        }
        ts_route_pattern *rp = ts_authz__route_compile(pattern);
        assert_non_null(rp);
        if (!ts_authz__route_native(rp)) {
            ts_authz__route_free(rp);
            continue;
        }
        native++;
        for (int q = 0; q < 12; q++) {
            char path[128] = "/";
            size_t nq = (seed >> 59) & 7;
            for (size_t k = 0; k < nq; k++) {
                seed = seed * 6364136223846793005u + 1442695040888963407u;
                strncat(path,
                        path_pieces[(seed >> 33) % (sizeof path_pieces / sizeof path_pieces[0])],
                        sizeof path - strlen(path) - 1);
            }
            size_t len = strlen(path);
            bool want = key_match2(rx, path, len, pattern);
            bool got = ts_authz__route_match(rp, path, len);
            if (want != got)
                fail_msg("pattern \"%s\" path \"%s\": keyMatch2 %d, route matcher %d", pattern,
                         path, want, got);
            compared++;
            matched += want;
        }
        /* A path built from the pattern itself must be compared too: random paths rarely hit. */
        char lit[128];
        size_t n = 0;
        for (const char *c = pattern; *c && n + 1 < sizeof lit; c++)
            if (*c != '*' && *c != '.')
                lit[n++] = *c == ':' ? 'v' : *c;
        lit[n] = '\0';
        bool want = key_match2(rx, lit, n, pattern);
        assert_int_equal(ts_authz__route_match(rp, lit, n), want);
        matched += want;
        compared++;
        ts_authz__route_free(rp);
    }
    ts_authz__regex_cache_free(rx);
    print_message("%zu native patterns, %zu comparisons, %zu matches\n", native, compared, matched);
    assert_true(native > 1000);
    assert_true(matched > 500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_routes),
        cmocka_unit_test(test_differential),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
