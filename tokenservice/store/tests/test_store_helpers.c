/* Token generation, hashing, prefixes and hash validation. */
#include "store_test_util.h"

static void test_generate(void **state)
{
    (void)state;
    char a[TS_STORE_TOKEN_LEN + 1], b[TS_STORE_TOKEN_LEN + 1];
    assert_int_equal(ts_store_token_generate(a, NULL), TS_OK);
    assert_int_equal(ts_store_token_generate(b, NULL), TS_OK);
    assert_int_equal(strlen(a), 64);
    assert_true(ts_store_hash_is_valid(a)); /* same shape: 64 lowercase hex */
    assert_string_not_equal(a, b);
    assert_int_equal(ts_store_token_generate(NULL, NULL), TS_EINVAL);
}

static void test_hash(void **state)
{
    (void)state;
    char h[TS_STORE_HASH_LEN + 1];
    /* FIPS 180-2 test vector. */
    assert_int_equal(ts_store_token_hash("abc", 3, h, NULL), TS_OK);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(ts_store_token_hash("", 0, h, NULL), TS_OK);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    /* Exactly as sent: no trimming, embedded bytes count. */
    char h2[TS_STORE_HASH_LEN + 1];
    assert_int_equal(ts_store_token_hash("abc ", 4, h2, NULL), TS_OK);
    assert_string_not_equal(h2, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(ts_store_token_hash(NULL, 3, h, NULL), TS_EINVAL);
    static char big[70000];
    assert_int_equal(ts_store_token_hash(big, sizeof big, h, NULL), TS_EINVAL);
}

static void test_prefix_and_validity(void **state)
{
    (void)state;
    char p[TS_STORE_PREFIX_LEN + 1];
    ts_store_hash_prefix("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", p);
    assert_string_equal(p, "ba7816bf");
    ts_store_hash_prefix("abc", p);
    assert_string_equal(p, "");
    ts_store_hash_prefix(NULL, p);
    assert_string_equal(p, "");
    assert_true(
        ts_store_hash_is_valid("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    assert_false(
        ts_store_hash_is_valid("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
    assert_false(ts_store_hash_is_valid(
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0"));
    assert_false(ts_store_hash_is_valid("ba78"));
    assert_false(ts_store_hash_is_valid(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_prefix_and_validity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
