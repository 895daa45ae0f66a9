/* ts_authn__sha256 (jose/sha256.c) against FIPS 180-4's examples and against EVP_Digest for
 * every length around the block boundaries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "jose/sha256.h"

static void hex_of(const void *data, size_t len, char out[65])
{
    unsigned char d[32];
    ts_authn__sha256(data, len, d);
    for (size_t i = 0; i < sizeof d; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void test_known_answers(void **state)
{
    (void)state;
    char h[65];
    hex_of("", 0, h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hex_of("abc", 3, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hex_of(two, strlen(two), h);
    assert_string_equal(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_agrees_with_evp(void **state)
{
    (void)state;
    unsigned char buf[300];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 131u + 7u);
    for (size_t len = 0; len <= sizeof buf; len++) {
        unsigned char mine[32], evp[32];
        unsigned int n = 0;
        ts_authn__sha256(buf, len, mine);
        assert_int_equal(EVP_Digest(buf, len, evp, &n, EVP_sha256(), NULL), 1);
        assert_int_equal(n, 32);
        assert_memory_equal(mine, evp, 32);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_agrees_with_evp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
