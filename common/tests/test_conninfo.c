/* common/conninfo.h: which --store values are PostgreSQL connection strings, and that no
   password survives redaction in any of the forms libpq accepts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/conninfo.h"

static void test_is_postgres(void **state)
{
    (void)state;
    static const char *const yes[] = {
        "postgres://db.example/ts",
        "postgresql://u:p@db.example:5432/ts?sslmode=verify-full",
        "POSTGRES://db/ts",
        "host=/tmp/pg port=5432 dbname=ts",
        "  dbname = ts",
        "service=tokensmith",
        "user=ts host=db",
    };
    static const char *const no[] = {
        "",
        "store.db",
        "/var/lib/tokensmith/store.db",
        "/var/lib/a=b.db",
        "./host=x",
        "data=1.db", /* an '=' but not a libpq keyword: a file name */
        "postgres:/tmp/x",
        "postgres:store.db",
        "host",
        "HOST=db",
    };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        if (!ts_common__conninfo_is_postgres(yes[i]))
            fail_msg("not taken as a conninfo: %s", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (ts_common__conninfo_is_postgres(no[i]))
            fail_msg("taken as a conninfo: %s", no[i]);
    assert_false(ts_common__conninfo_is_postgres(NULL));
}

static void expect(const char *in, const char *want)
{
    char out[256];
    size_t n = ts_common__conninfo_redact(in, out, sizeof out);
    if (strcmp(out, want) != 0)
        fail_msg("redact(%s) = %s, want %s", in ? in : "NULL", out, want);
    assert_int_equal(n, strlen(want));
}

static void test_redact(void **state)
{
    (void)state;
    expect("postgres://ts:s3cret@db.example:5432/ts", "postgres://ts:***@db.example:5432/ts");
    expect("postgresql://ts@db/ts", "postgresql://ts@db/ts");
    expect("postgresql://db/ts?sslmode=require", "postgresql://db/ts?sslmode=require");
    expect("postgres://db/ts?password=s3cret&sslmode=require",
           "postgres://db/ts?password=***&sslmode=require");
    expect("postgres://db/ts?sslmode=require&password=s3cret",
           "postgres://db/ts?sslmode=require&password=***");
    expect("postgres://db/ts?pass%77ord=s3cret", "postgres://db/ts?pass%77ord=***");
    expect("postgres://db/ts?sslpassword=s3cret", "postgres://db/ts?sslpassword=***");
    /* Unencoded '@', '/', '?' in the password: everything up to the last '@' is userinfo. */
    expect("postgres://ts:p@ss/w?rd@db/ts", "postgres://ts:***@db/ts");
    expect("host=db password=s3cret dbname=ts", "host=db password=*** dbname=ts");
    expect("host=db password = 's3 cr\\'et' dbname=ts", "host=db password = *** dbname=ts");
    expect("password=s\\ 3cret", "password=***");
    expect("host=db dbname=ts", "host=db dbname=ts");
    expect("/var/lib/tokensmith/store.db", "/var/lib/tokensmith/store.db");
    expect(NULL, "");
    /* Not a conninfo past the first key: the rest is hidden. */
    expect("host=db junk password=s3cret", "host=db ***");
}

/* Whatever the buffer size, the output is terminated and never holds the password. */
static void test_truncation(void **state)
{
    (void)state;
    const char *in = "postgres://ts:topsecret@db/ts?password=topsecret";
    char full[128];
    size_t n = ts_common__conninfo_redact(in, full, sizeof full);
    assert_int_equal(n, strlen(full));
    for (size_t cap = 1; cap < sizeof full; cap++) {
        char out[128];
        memset(out, 'x', sizeof out);
        assert_int_equal(ts_common__conninfo_redact(in, out, cap), n);
        assert_true(strlen(out) < cap);
        assert_null(strstr(out, "tops"));
        assert_memory_equal(out, full, strlen(out));
    }
    assert_int_equal(ts_common__conninfo_redact(in, NULL, 0), n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_is_postgres),
        cmocka_unit_test(test_redact),
        cmocka_unit_test(test_truncation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
