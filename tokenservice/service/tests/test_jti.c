/* ts_svc_new_jti(): UUIDv4 text (version 4, RFC 9562 variant), lowercase, and no repeats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jti.h"

static int cmp(const void *a, const void *b)
{
    return memcmp(a, b, TS_SVC_JTI_LEN + 1);
}

static void test_format(void **state)
{
    (void)state;
    ts_error err;
    ts_error_clear(&err);
    for (int i = 0; i < 1000; i++) {
        char j[TS_SVC_JTI_LEN + 1];
        assert_int_equal(ts_svc_new_jti(j, &err), TS_OK);
        assert_int_equal(strlen(j), TS_SVC_JTI_LEN);
        for (size_t k = 0; k < TS_SVC_JTI_LEN; k++) {
            if (k == 8 || k == 13 || k == 18 || k == 23)
                assert_int_equal(j[k], '-');
            else
                assert_non_null(strchr("0123456789abcdef", j[k]));
        }
        assert_int_equal(j[14], '4');           /* version 4 */
        assert_non_null(strchr("89ab", j[19])); /* variant 10xx */
    }
}

static void test_unique(void **state)
{
    (void)state;
    enum { N = 20000 };
    char(*ids)[TS_SVC_JTI_LEN + 1] = calloc(N, sizeof *ids);
    assert_non_null(ids);
    ts_error err;
    ts_error_clear(&err);
    for (int i = 0; i < N; i++)
        assert_int_equal(ts_svc_new_jti(ids[i], &err), TS_OK);
    qsort(ids, N, sizeof *ids, cmp);
    for (int i = 1; i < N; i++)
        assert_int_not_equal(memcmp(ids[i - 1], ids[i], TS_SVC_JTI_LEN), 0);
    free(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_unique),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
