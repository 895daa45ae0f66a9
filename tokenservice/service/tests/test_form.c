/* Unit tests of the strict form-body parser of the token endpoint. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "form.h"

static ts_form *parse_ok(const char *s)
{
    ts_form *f = NULL;
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_form_parse(s, strlen(s), &f, &err), TS_OK);
    assert_non_null(f);
    return f;
}

static void parse_bad(const char *s, const char *what)
{
    ts_form *f = NULL;
    ts_error err;
    ts_error_clear(&err);
    assert_int_not_equal(ts_form_parse(s, strlen(s), &f, &err), TS_OK);
    assert_null(f);
    if (what && !strstr(err.msg, what) && !strstr(err.where, what))
        fail_msg("'%s': error '%s: %s' lacks '%s'", s, err.where, err.msg, what);
}

static void test_decoding(void **state)
{
    (void)state;
    ts_form *f = parse_ok("grant_type=refresh_token&scope=a+b%20c&x=%7e%C3%A9&empty=");
    size_t len = 0;
    assert_string_equal(ts_form_get(f, "grant_type", NULL), "refresh_token");
    assert_string_equal(ts_form_get(f, "scope", &len), "a b c");
    assert_int_equal(len, 5);
    assert_string_equal(ts_form_get(f, "x", NULL), "~\xc3\xa9");
    assert_string_equal(ts_form_get(f, "empty", &len), "");
    assert_int_equal(len, 0);
    assert_null(ts_form_get(f, "missing", NULL));
    assert_int_equal(ts_form_count(f), 4);
    ts_form_free(f);
}

static void test_empty_body(void **state)
{
    (void)state;
    ts_form *f = parse_ok("");
    assert_int_equal(ts_form_count(f), 0);
    assert_null(ts_form_get(f, "grant_type", NULL));
    ts_form_free(f);
}

static void test_rejections(void **state)
{
    (void)state;
    parse_bad("a=1&&b=2", "empty parameter");
    parse_bad("&a=1", "empty parameter");
    parse_bad("a=1&", "trailing");
    parse_bad("a", "missing '='");
    parse_bad("=1", "name");
    parse_bad("a b=1", "unencoded");
    parse_bad("a%20b=1", "invalid character in name");
    parse_bad("a=%", "truncated");
    parse_bad("a=%4", "truncated");
    parse_bad("a=%zz", "malformed");
    parse_bad("a=%00", "control");
    parse_bad("a=%0a", "control");
    parse_bad("a=%ff", "UTF-8");
    parse_bad("a=%C3", "UTF-8");
    parse_bad("a=%C0%80", "UTF-8");    /* overlong NUL */
    parse_bad("a=%ED%A0%80", "UTF-8"); /* surrogate */
    parse_bad("a=1&a=2", "more than once");
    parse_bad("a=1&b=2&a=", "more than once");
    ts_form *f = NULL;
    assert_int_equal(ts_form_parse(NULL, 1, &f, NULL), TS_EINVAL);
    assert_int_equal(ts_form_parse("a=1", 3, NULL, NULL), TS_EINVAL);
}

static void test_limits(void **state)
{
    (void)state;
    char buf[1024];
    size_t o = 0;
    for (unsigned i = 0; i < TS_FORM_MAX_FIELDS; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%sk%u=v", i ? "&" : "", i);
    ts_form *f = parse_ok(buf);
    assert_int_equal(ts_form_count(f), TS_FORM_MAX_FIELDS);
    ts_form_free(f);
    snprintf(buf + o, sizeof buf - o, "&one=more");
    parse_bad(buf, "parameters");
    char name[TS_FORM_MAX_NAME_LEN + 8];
    memset(name, 'n', sizeof name);
    name[TS_FORM_MAX_NAME_LEN + 1] = '=';
    name[TS_FORM_MAX_NAME_LEN + 2] = '\0';
    parse_bad(name, "overlong");
    /* Embedded NUL bytes in the raw body are refused, not treated as the end. */
    f = NULL;
    assert_int_not_equal(ts_form_parse("a=1\0b", 5, &f, NULL), TS_OK);
    assert_null(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decoding),
        cmocka_unit_test(test_empty_body),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
