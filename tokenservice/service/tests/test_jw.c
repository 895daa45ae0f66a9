/* The service's JSON writer must produce what jansson produces for the same document: with
 * UTF-8 kept (jansson's default) and, for log lines, ASCII only (JSON_ENSURE_ASCII). */
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

/* A random string of up to 15 pieces (every escape class, 2-, 3- and 4-byte UTF-8). */
static void random_string(uint64_t *seed, char *s, size_t cap, bool with_del)
{
    static const char *const pieces[] = {
        "a",           "Z",        "\"",           "\\",
        "/",           "\b",       "\f",           "\n",
        "\r",          "\t",       "\x01",         "\x1f",
        "\x7f",        "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
        " ",           "{}",       "\xe2\x80\xa8", "\xe2\x80\xae",
        "\xef\xbf\xbf"};
    s[0] = '\0';
    *seed = *seed * 6364136223846793005u + 1442695040888963407u;
    size_t n = (*seed >> 58) & 15;
    for (size_t k = 0; k < n; k++) {
        *seed = *seed * 6364136223846793005u + 1442695040888963407u;
        const char *p = pieces[(*seed >> 33) % (sizeof pieces / sizeof pieces[0])];
        if (!with_del && strcmp(p, "\x7f") == 0)
            p = "d";
        strncat(s, p, cap - strlen(s) - 1);
    }
}

/* The same document through jansson (@p jflags added) and through the writer (@p ascii). */
static void compare_with_jansson(const char *s, int64_t num, size_t jflags, bool ascii)
{
    json_t *doc = json_object();
    json_object_set_new(doc, "k", json_string(s));
    json_object_set_new(doc, "n", json_integer((json_int_t)num));
    json_t *arr = json_array();
    json_array_append_new(arr, json_string(s));
    json_array_append_new(arr, json_string("x"));
    json_object_set_new(doc, "a", arr);
    char *want =
        json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6) | jflags);
    json_decref(doc);
    assert_non_null(want);

    ts_svc_jw w;
    if (ascii)
        ts_svc_jw_init_ascii(&w);
    else
        ts_svc_jw_init(&w);
    ts_svc_jw_open(&w);
    ts_svc_jw_kstr(&w, "k", s);
    ts_svc_jw_kint(&w, "n", num);
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

/* Random valid UTF-8 strings with every escape class: jw and jansson agree byte for byte. */
static void test_strings_match_jansson(void **state)
{
    (void)state;
    uint64_t seed = 42;
    size_t total = 0;
    for (int iter = 0; iter < 5000; iter++) {
        char s[256];
        random_string(&seed, s, sizeof s, true);
        total += strlen(s);
        compare_with_jansson(s, (int64_t)(seed >> 40) - 100000, 0, false);
    }
    assert_true(total > 5000 * 10); /* the strings are not all empty */
}

/* An ASCII writer agrees byte for byte with jansson's JSON_ENSURE_ASCII (\uXXXX, surrogate
 * pairs above U+FFFF), for strings without DEL, which jansson leaves as is. */
static void test_ascii_matches_jansson_ensure_ascii(void **state)
{
    (void)state;
    uint64_t seed = 7;
    for (int iter = 0; iter < 5000; iter++) {
        char s[256];
        random_string(&seed, s, sizeof s, false);
        compare_with_jansson(s, (int64_t)(seed >> 40) - 100000, JSON_ENSURE_ASCII, true);
    }
}

/* Every byte an ASCII writer produces is printable ASCII, DEL and invalid UTF-8 included, and
 * the text still decodes to what was written (invalid bytes as U+FFFD). */
static void test_ascii_only_printable(void **state)
{
    (void)state;
    static const char in[] = "a\x7f\xe2\x80\xae\xf0\x9f\x98\x80\xff\x1b[31m\n";
    ts_svc_jw w;
    ts_svc_jw_init_ascii(&w);
    ts_svc_jw_open(&w);
    ts_svc_jw_kstr(&w, "p", in);
    ts_svc_jw_close(&w);
    char *got = ts_svc_jw_take(&w, NULL);
    assert_non_null(got);
    assert_string_equal(got, "{\"p\":\"a\\u007F\\u202E\\uD83D\\uDE00\\uFFFD\\u001B[31m\\n\"}");
    for (const char *c = got; *c; c++)
        assert_true(*c >= 0x20 && *c < 0x7f);
    json_t *doc = json_loads(got, 0, NULL);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "p")),
                        "a\x7f\xe2\x80\xae\xf0\x9f\x98\x80\xef\xbf\xbd\x1b[31m\n");
    json_decref(doc);
    free(got);
}

/* Log lines splice members written elsewhere (by jansson or a UTF-8 writer) with
 * ts_svc_jw_raw() / ts_svc_jw_kraw(): an ASCII writer re-encodes them, a UTF-8 one does not. */
static void test_ascii_reencodes_raw_members(void **state)
{
    (void)state;
    json_t *f = json_object();
    json_object_set_new(f, "path", json_string("/x\xe2\x80\xae/\x7f"));
    json_object_set_new(f, "n", json_integer(3));
    char *members = json_dumps(f, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(f);
    size_t mlen = strlen(members) - 2; /* without the braces */

    ts_svc_jw w;
    ts_svc_jw_init_ascii(&w);
    ts_svc_jw_open(&w);
    ts_svc_jw_kstr(&w, "msg", "request");
    ts_svc_jw_raw(&w, ",", 1);
    ts_svc_jw_raw(&w, members + 1, mlen);
    ts_svc_jw_kraw(&w, "v", "\"\xc3\xa9\"", 4);
    ts_svc_jw_close(&w);
    ts_svc_jw_raw(&w, "\n", 1);
    char *got = ts_svc_jw_take(&w, NULL);
    assert_string_equal(got, "{\"msg\":\"request\",\"path\":\"/x\\u202E/\\u007F\",\"n\":3,"
                             "\"v\":\"\\u00E9\"}\n");
    free(got);

    ts_svc_jw_init(&w);
    ts_svc_jw_open(&w);
    ts_svc_jw_kraw(&w, "v", "\"\xc3\xa9\"", 4);
    ts_svc_jw_close(&w);
    got = ts_svc_jw_take(&w, NULL);
    assert_string_equal(got, "{\"v\":\"\xc3\xa9\"}");
    free(got);
    free(members);
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
        cmocka_unit_test(test_ascii_matches_jansson_ensure_ascii),
        cmocka_unit_test(test_ascii_only_printable),
        cmocka_unit_test(test_ascii_reencodes_raw_members),
        cmocka_unit_test(test_reals_and_bools),
        cmocka_unit_test(test_invalid_utf8_replaced),
        cmocka_unit_test(test_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
