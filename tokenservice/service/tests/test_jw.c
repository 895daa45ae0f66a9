/* The service's JSON writer must produce what jansson produces for the same document. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "jw.h"

static char *jansson_compact(json_t *doc)
{
    char *t = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(doc);
    return t;
}

/* Random valid UTF-8 strings with every escape class: jw and jansson agree byte for byte. */
static void test_strings_match_jansson(void **state)
{
    (void)state;
    static const char *const pieces[] = {
        "a",  "Z",  "\"",          "\\",   "/",    "\b",       "\f",           "\n",
        "\r", "\t", "\x01",        "\x1f", "\x7f", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
        " ",  "{}", "\xe2\x80\xa8"};
    uint64_t seed = 42;
    for (int iter = 0; iter < 5000; iter++) {
        char s[256] = "";
        size_t n = (seed >> 58) & 15;
        for (size_t k = 0; k < n; k++) {
            seed = seed * 6364136223846793005u + 1442695040888963407u;
            strncat(s, pieces[(seed >> 33) % (sizeof pieces / sizeof pieces[0])],
                    sizeof s - strlen(s) - 1);
        }
        json_t *doc = json_object();
        json_object_set_new(doc, "k", json_string(s));
        json_object_set_new(doc, "n", json_integer((json_int_t)(seed >> 40) - 100000));
        json_t *arr = json_array();
        json_array_append_new(arr, json_string(s));
        json_array_append_new(arr, json_string("x"));
        json_object_set_new(doc, "a", arr);
        char *want = jansson_compact(doc);
        assert_non_null(want);

        ts_svc_jw w;
        ts_svc_jw_init(&w);
        ts_svc_jw_open(&w);
        ts_svc_jw_kstr(&w, "k", s);
        ts_svc_jw_kint(&w, "n", (int64_t)(seed >> 40) - 100000);
        const char *items[] = {s, "x"};
        ts_svc_jw_kstrs(&w, "a", items, 2);
        ts_svc_jw_close(&w);
        size_t len = 0;
        char *got = ts_svc_jw_take(&w, &len);
        assert_non_null(got);
        assert_int_equal(len, strlen(got));
        if (strcmp(want, got) != 0)
            fail_msg("jansson %s, writer %s", want, got);
        free(want);
        free(got);
    }
}

static void test_reals_and_bools(void **state)
{
    (void)state;
    static const double values[] = {0, 1, 0.001, 0.25, 12.345, 1234.567, 99999.5, 3e-7, 1e9};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        json_t *doc = json_object();
        json_object_set_new(doc, "d", json_real(values[i]));
        json_object_set_new(doc, "b", json_true());
        char *want = jansson_compact(doc);
        ts_svc_jw w;
        ts_svc_jw_init(&w);
        ts_svc_jw_open(&w);
        ts_svc_jw_kreal(&w, "d", values[i]);
        ts_svc_jw_kbool(&w, "b", true);
        ts_svc_jw_close(&w);
        char *got = ts_svc_jw_take(&w, NULL);
        if (strcmp(want, got) != 0)
            fail_msg("%g: jansson %s, writer %s", values[i], want, got);
        free(want);
        free(got);
    }
}

/* Invalid UTF-8 is replaced (jansson refuses such strings): the output stays valid JSON. */
static void test_invalid_utf8_replaced(void **state)
{
    (void)state;
    ts_svc_jw w;
    ts_svc_jw_init(&w);
    ts_svc_jw_open(&w);
    ts_svc_jw_kstr(&w, "p", "/a\xff\xc3(b\xed\xa0\x80");
    ts_svc_jw_close(&w);
    char *got = ts_svc_jw_take(&w, NULL);
    json_error_t je;
    json_t *doc = json_loads(got, 0, &je);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "p")),
                        "/a\xef\xbf\xbd\xef\xbf\xbd(b\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    json_decref(doc);
    free(got);
}

/* Documents larger than the stack buffer move to the heap intact. */
static void test_growth(void **state)
{
    (void)state;
    ts_svc_jw w;
    ts_svc_jw_init(&w);
    ts_svc_jw_open(&w);
    char key[16];
    for (int i = 0; i < 500; i++) {
        snprintf(key, sizeof key, "k%d", i);
        ts_svc_jw_kstr(&w, key, "value-value-value");
    }
    ts_svc_jw_close(&w);
    size_t len = 0;
    char *got = ts_svc_jw_take(&w, &len);
    assert_true(len > sizeof w.stack);
    json_t *doc = json_loads(got, 0, NULL);
    assert_non_null(doc);
    assert_int_equal(json_object_size(doc), 500);
    assert_string_equal(json_string_value(json_object_get(doc, "k499")), "value-value-value");
    json_decref(doc);
    free(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings_match_jansson),
        cmocka_unit_test(test_reals_and_bools),
        cmocka_unit_test(test_invalid_utf8_replaced),
        cmocka_unit_test(test_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
