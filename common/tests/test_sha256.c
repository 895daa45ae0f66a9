/* common/sha256.h: FIPS 180-4's examples, agreement with OpenSSL on pseudo-random inputs of
 * every length up to 1,100 bytes (every block and padding edge), and the incremental API. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "common/hex.h"
#include "common/sha256.h"

static void hex_of(const void *p, size_t n, char out[65])
{
    unsigned char md[32];
    ts_common__sha256(p, n, md);
    ts_common__hex_encode(md, 32, out);
}

static void test_fips_examples(void **state)
{
    (void)state;
    char h[65];
    hex_of("abc", 3, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hex_of(NULL, 0, h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hex_of(m448, strlen(m448), h);
    assert_string_equal(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *m896 =
        "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
        "klmnopqrlmnopqrsmnopqrstnopqrstu";
    hex_of(m896, strlen(m896), h);
    assert_string_equal(h, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    size_t n = 1000000;
    char *a = malloc(n);
    assert_non_null(a);
    memset(a, 'a', n);
    hex_of(a, n, h);
    free(a);
    assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_matches_openssl(void **state)
{
    (void)state;
    unsigned char buf[1100];
    uint32_t x = 2463534242u; /* xorshift32: the same inputs on every run */
    for (size_t i = 0; i < sizeof buf; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (unsigned char)x;
    }
    for (size_t n = 0; n <= sizeof buf; n++) {
        unsigned char ours[32], theirs[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        ts_common__sha256(buf, n, ours);
        assert_int_equal(EVP_Digest(buf, n, theirs, &len, EVP_sha256(), NULL), 1);
        assert_int_equal(len, 32);
        if (memcmp(ours, theirs, 32) != 0)
            fail_msg("SHA-256 of %zu bytes differs from OpenSSL's", n);
    }
}

/* The incremental API in pieces of every size from 1 to 130 bytes gives the one-shot digest
 * (pieces that end inside, at and across block boundaries). */
static void test_incremental(void **state)
{
    (void)state;
    unsigned char buf[700];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 31u + 7u);
    unsigned char whole[32];
    ts_common__sha256(buf, sizeof buf, whole);
    for (size_t piece = 1; piece <= 130; piece++) {
        ts_common__sha256_ctx s;
        ts_common__sha256_init(&s);
        ts_common__sha256_update(&s, NULL, 0);
        for (size_t at = 0; at < sizeof buf; at += piece)
            ts_common__sha256_update(&s, buf + at,
                                     at + piece <= sizeof buf ? piece : sizeof buf - at);
        unsigned char got[32];
        ts_common__sha256_final(&s, got);
        if (memcmp(got, whole, 32) != 0)
            fail_msg("pieces of %zu bytes give another digest", piece);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fips_examples),
        cmocka_unit_test(test_matches_openssl),
        cmocka_unit_test(test_incremental),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
