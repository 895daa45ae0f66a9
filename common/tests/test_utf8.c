/* common/utf8.h: RFC 3629 acceptance (overlong forms, surrogates, past U+10FFFF, cut short) and
   the encoder, checked against each other over every code point. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/utf8.h"

static size_t dec(const char *s, size_t n, uint32_t *cp)
{
    return ts_common__utf8_decode((const unsigned char *)s, n, cp);
}

static void test_refused(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t n;
    } bad[] = {
        {"\x80", 1},             /* a continuation byte alone */
        {"\xC0\xAF", 2},         /* overlong '/' */
        {"\xC1\xBF", 2},         /* overlong */
        {"\xE0\x80\xAF", 3},     /* overlong */
        {"\xF0\x80\x80\xAF", 4}, /* overlong */
        {"\xED\xA0\x80", 3},     /* U+D800, a surrogate */
        {"\xED\xBF\xBF", 3},     /* U+DFFF */
        {"\xF4\x90\x80\x80", 4}, /* U+110000 */
        {"\xF5\x80\x80\x80", 4}, /* never a lead byte */
        {"\xFF", 1},
        {"\xE2\x82", 2},     /* cut short */
        {"\xE2\x28\xA1", 3}, /* bad continuation */
        {"\xF0\x9F\x98", 3}, /* cut short */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(dec(bad[i].s, bad[i].n, NULL), 0);
}

static void test_accepted(void **state)
{
    (void)state;
    uint32_t cp = 0;
    assert_int_equal(dec("A", 1, &cp), 1);
    assert_int_equal(cp, 'A');
    assert_int_equal(dec("\xC3\xA9", 2, &cp), 2);
    assert_int_equal(cp, 0xE9);
    assert_int_equal(dec("\xE2\x80\xAE", 3, &cp), 3);
    assert_int_equal(cp, 0x202E);
    assert_int_equal(dec("\xED\x9F\xBF", 3, &cp), 3); /* U+D7FF, just below the surrogates */
    assert_int_equal(dec("\xEF\xBF\xBD", 3, &cp), 3); /* U+FFFD itself */
    assert_int_equal(dec("\xF4\x8F\xBF\xBF", 4, &cp), 4);
    assert_int_equal(cp, 0x10FFFF);
    assert_int_equal(dec("\xF0\x9F\x98\x80", 4, NULL), 4);
}

static void test_round_trip(void **state)
{
    (void)state;
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        char b[4];
        size_t n = ts_common__utf8_encode(cp, b);
        uint32_t back = 0;
        assert_int_equal(dec(b, n, &back), n);
        assert_int_equal(back, cp);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_accepted),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
