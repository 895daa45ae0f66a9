/* gateway.test_verdict: the verdict's copies (verdict.c). They come from the verdict's own
 * store while it has room and from the heap after that; both kinds stay valid until cleanup,
 * cleanup wipes the store's used bytes and frees the rest (ASan and valgrind see leaks), and a
 * verdict used again after cleanup starts with an empty store. Validation refuses bad names and
 * values without copying anything. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gw_internal.h"

static bool in_store(const ts_gateway__verdict *v, const char *p)
{
    return p >= v->store && p < v->store + sizeof v->store;
}

static void test_store_then_heap(void **state)
{
    (void)state;
    ts_gateway__verdict v;
    ts_gateway__verdict_init(&v);
    /* A translated token's worth first: in the store. */
    char jwt[1200];
    memset(jwt, 'a', sizeof jwt);
    assert_int_equal(ts_gateway__verdict_add_header(&v, "authorization", 13, jwt, sizeof jwt, NULL),
                     TS_OK);
    assert_true(in_store(&v, v.headers[0].name));
    assert_true(in_store(&v, v.headers[0].value));
    assert_int_equal(v.store_used, 14 + sizeof jwt + 1);
    /* Values that together exceed the store: the later ones on the heap, all of them intact. */
    char big[TS_GATEWAY__VERDICT_MAX_VALUE];
    for (size_t i = 0; i < 4; i++) {
        memset(big, 'b' + (int)i, sizeof big);
        size_t n = 1500 + i;
        assert_int_equal(ts_gateway__verdict_add_header(&v, "x-big", 5, big, n, NULL), TS_OK);
    }
    size_t heap = 0;
    for (size_t i = 1; i < v.n_headers; i++) {
        const ts_gateway__vheader *h = &v.headers[i];
        assert_int_equal(h->value_len, 1500 + i - 1);
        assert_int_equal(strlen(h->value), h->value_len);
        for (size_t k = 0; k < h->value_len; k++)
            assert_int_equal(h->value[k], 'b' + (int)(i - 1));
        heap += !in_store(&v, h->value);
    }
    assert_true(heap >= 2);
    assert_true(v.store_used <= sizeof v.store);
    assert_int_equal(memcmp(v.headers[0].value, jwt, sizeof jwt), 0);
    /* A body and removals take the same way. */
    assert_int_equal(ts_gateway__verdict_set_body(&v, "{\"a\":1}", 7, NULL), TS_OK);
    assert_string_equal(v.body, "{\"a\":1}");
    assert_int_equal(ts_gateway__verdict_add_remove(&v, "x-tokensmith-subject", 20, NULL), TS_OK);
    assert_string_equal(v.remove[0], "x-tokensmith-subject");
    /* Cleanup: the token's bytes are gone from the store, and the verdict starts empty. */
    size_t used = v.store_used;
    ts_gateway__verdict_cleanup(&v);
    for (size_t i = 0; i < used; i++)
        assert_int_equal(v.store[i], 0);
    assert_int_equal(v.store_used, 0);
    assert_int_equal(v.n_headers, 0);
    assert_null(v.body);
    assert_int_equal(v.decision, TS_GATEWAY__CANNOT_DECIDE);
    assert_int_equal(v.http_status, 503);
    /* Used again: the store from its start. */
    assert_int_equal(ts_gateway__verdict_add_header(&v, "x-a", 3, "1", 1, NULL), TS_OK);
    assert_ptr_equal(v.headers[0].name, v.store);
    ts_gateway__verdict_cleanup(&v);
}

static void test_refused_copies_nothing(void **state)
{
    (void)state;
    ts_gateway__verdict v;
    ts_gateway__verdict_init(&v);
    assert_int_equal(ts_gateway__verdict_add_header(&v, "bad name", 8, "v", 1, NULL), TS_EINVAL);
    assert_int_equal(ts_gateway__verdict_add_header(&v, "x-a", 3, "a\r\nb", 4, NULL), TS_EINVAL);
    assert_int_equal(ts_gateway__verdict_add_header(&v, "", 0, "v", 1, NULL), TS_EINVAL);
    assert_int_equal(ts_gateway__verdict_set_body(&v, "a\0b", 3, NULL), TS_EINVAL);
    assert_int_equal(v.store_used, 0);
    assert_int_equal(v.n_headers, 0);
    for (size_t i = 0; i < TS_GATEWAY__VERDICT_MAX_HEADERS; i++)
        assert_int_equal(ts_gateway__verdict_add_header(&v, "x-n", 3, "1", 1, NULL), TS_OK);
    assert_int_equal(ts_gateway__verdict_add_header(&v, "x-n", 3, "1", 1, NULL), TS_ELIMIT);
    ts_gateway__verdict_cleanup(&v);
    ts_gateway__verdict_cleanup(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_then_heap),
        cmocka_unit_test(test_refused_copies_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
