/* gateway.test_grpc_frame: the gRPC framing rules of grpc_frame.c against PROTOCOL-HTTP2.md:
 * the 5-byte message prefix, grpc-timeout (at most 8 digits, units H M S m u n, nothing else,
 * overflow refused), grpc-message percent-encoding, status names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "grpc.h"

static void test_prefix(void **state)
{
    (void)state;
    uint8_t p[TS_GATEWAY__GRPC_PREFIX];
    ts_gateway__grpc_prefix_encode(p, 0x01020304u);
    const uint8_t want[] = {0, 1, 2, 3, 4};
    assert_memory_equal(p, want, sizeof want);

    bool compressed = true;
    uint32_t len = 0;
    assert_int_equal(ts_gateway__grpc_prefix_decode(p, &compressed, &len), TS_OK);
    assert_false(compressed);
    assert_int_equal(len, 0x01020304u);

    const uint8_t max[] = {1, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(ts_gateway__grpc_prefix_decode(max, &compressed, &len), TS_OK);
    assert_true(compressed);
    assert_int_equal(len, UINT32_MAX);

    /* Compressed-Flag is 0 or 1, nothing else */
    const uint8_t bad[] = {2, 0, 0, 0, 1};
    assert_int_equal(ts_gateway__grpc_prefix_decode(bad, &compressed, &len), TS_EPARSE);
    const uint8_t worse[] = {0x80, 0, 0, 0, 1};
    assert_int_equal(ts_gateway__grpc_prefix_decode(worse, &compressed, &len), TS_EPARSE);
}

static ts_status timeout(const char *s, uint64_t *ns)
{
    return ts_gateway__grpc_timeout_parse(s, strlen(s), ns);
}

static void test_timeout_units(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint64_t ns;
    } ok[] = {
        {"1H", 3600000000000ull},
        {"2M", 120000000000ull},
        {"3S", 3000000000ull},
        {"200m", 200000000ull},    /* Envoy's default */
        {"600S", 600000000000ull}, /* Istio's default */
        {"7u", 7000ull},
        {"9n", 9ull},
        {"0m", 0},
        {"00000001S", 1000000000ull}, /* 8 digits, leading zeros */
        {"99999999n", 99999999ull},
        {"99999999S", 99999999000000000ull},
        {"5124095H", 5124095ull * 3600000000000ull}, /* the largest hour count in 64 bits */
        {"99999999M", 99999999ull * 60000000000ull}, /* 8 digits of minutes still fit */
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t ns = 42;
        assert_int_equal(timeout(ok[i].text, &ns), TS_OK);
        assert_true(ns == ok[i].ns);
    }
}

static void test_timeout_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",           "S",    "1",          "10",  /* no unit */
        "1s",         "1h",   "1U",         "1N",  /* units are case-sensitive */
        "1x",         "1ms",  "1SS",        "1 S", /* one unit, no space */
        " 1S",        "1S ",  "+1S",        "-1S", /* no sign, no white space */
        "1.5S",       "0x1S", "123456789S",        /* nine digits */
        "000000001m", "1\0S",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t ns = 42;
        assert_int_equal(timeout(bad[i], &ns), TS_EPARSE);
        assert_true(ns == 42);
    }
    uint64_t ns = 42;
    /* an embedded NUL with the length given */
    assert_int_equal(ts_gateway__grpc_timeout_parse("1\0S", 3, &ns), TS_EPARSE);
    /* 8 digits of hours do not fit in 64 bits of nanoseconds */
    assert_int_equal(timeout("99999999H", &ns), TS_ELIMIT);
    assert_int_equal(timeout("5124096H", &ns), TS_ELIMIT);
    assert_true(ns == 42);
}

static void test_message_encode(void **state)
{
    (void)state;
    char out[64];
    const char plain[] = "token expired";
    assert_int_equal(ts_gateway__grpc_message_encode(plain, strlen(plain), out, sizeof out),
                     strlen(plain));
    assert_string_equal(out, plain);

    const char mixed[] = "100% caf\xc3\xa9\n\x7f~";
    size_t n = ts_gateway__grpc_message_encode(mixed, strlen(mixed), out, sizeof out);
    assert_string_equal(out, "100%25 caf%C3%A9%0A%7F~");
    assert_int_equal(n, strlen(out));

    /* truncated at whole units: "ab%25" needs 5 bytes + NUL */
    const char pct[] = "ab%cd";
    char small[6];
    assert_int_equal(ts_gateway__grpc_message_encode(pct, 5, small, sizeof small), 5);
    assert_string_equal(small, "ab%25");
    char smaller[5];
    assert_int_equal(ts_gateway__grpc_message_encode(pct, 5, smaller, sizeof smaller), 2);
    assert_string_equal(smaller, "ab");
    char one[1];
    assert_int_equal(ts_gateway__grpc_message_encode(pct, 5, one, sizeof one), 0);
    assert_string_equal(one, "");
}

static void test_code_names(void **state)
{
    (void)state;
    assert_string_equal(ts_gateway__grpc_code_name(0), "OK");
    assert_string_equal(ts_gateway__grpc_code_name(3), "INVALID_ARGUMENT");
    assert_string_equal(ts_gateway__grpc_code_name(7), "PERMISSION_DENIED");
    assert_string_equal(ts_gateway__grpc_code_name(14), "UNAVAILABLE");
    assert_string_equal(ts_gateway__grpc_code_name(16), "UNAUTHENTICATED");
    assert_string_equal(ts_gateway__grpc_code_name(17), "UNKNOWN");
    assert_int_equal(TS_GATEWAY__GRPC_UNAUTHENTICATED, 16);
    assert_int_equal(TS_GATEWAY__GRPC_PERMISSION_DENIED, 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefix),          cmocka_unit_test(test_timeout_units),
        cmocka_unit_test(test_timeout_refused), cmocka_unit_test(test_message_encode),
        cmocka_unit_test(test_code_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
