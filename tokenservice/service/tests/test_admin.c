/* Unit tests of the admin API's building blocks: the socket-peer judgement, the loopback rule
 * for the admin listener, and the atomic state-file write. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "admin.h"
#include "config.h"

static bool judge4(const char *addr)
{
    struct sockaddr_in in;
    memset(&in, 0, sizeof in);
    in.sin_family = AF_INET;
    in.sin_port = htons(41234);
    assert_int_equal(inet_pton(AF_INET, addr, &in.sin_addr), 1);
    return ts_svc_peer_is_local((const struct sockaddr *)&in);
}

static bool judge6(const char *addr)
{
    struct sockaddr_in6 in6;
    memset(&in6, 0, sizeof in6);
    in6.sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, addr, &in6.sin6_addr), 1);
    return ts_svc_peer_is_local((const struct sockaddr *)&in6);
}

static void test_peer(void **state)
{
    (void)state;
    assert_true(judge4("127.0.0.1"));
    assert_true(judge4("127.255.3.4"));
    assert_false(judge4("10.0.0.1"));
    assert_false(judge4("0.0.0.0"));
    assert_false(judge4("128.0.0.1"));
    assert_false(judge4("192.168.1.127"));
    assert_true(judge6("::1"));
    assert_true(judge6("::ffff:127.0.0.1"));
    assert_false(judge6("::ffff:10.0.0.1"));
    assert_false(judge6("::"));
    assert_false(judge6("::2"));
    assert_false(judge6("fe80::1"));
    assert_false(judge6("::127.0.0.1")); /* IPv4-compatible form: not a loopback address */
    struct sockaddr_un un;
    memset(&un, 0, sizeof un);
    un.sun_family = AF_UNIX;
    assert_true(ts_svc_peer_is_local((const struct sockaddr *)&un));
    struct sockaddr sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_family = AF_UNSPEC;
    assert_false(ts_svc_peer_is_local(&sa));
    assert_false(ts_svc_peer_is_local(NULL));
}

static void test_listen_rule(void **state)
{
    (void)state;
    assert_true(ts_svc_listen_is_local("127.0.0.1:8081"));
    assert_true(ts_svc_listen_is_local("127.1.2.3:0"));
    assert_true(ts_svc_listen_is_local("localhost:9000"));
    assert_true(ts_svc_listen_is_local("[::1]:8081"));
    assert_true(ts_svc_listen_is_local("unix:/run/tokensmith/admin.sock"));
    assert_false(ts_svc_listen_is_local("0.0.0.0:8081"));
    assert_false(ts_svc_listen_is_local(":8081"));
    assert_false(ts_svc_listen_is_local("[::]:8081"));
    assert_false(ts_svc_listen_is_local("10.0.0.1:8081"));
    assert_false(ts_svc_listen_is_local("127.0.0.1.example.com:80"));
    assert_false(ts_svc_listen_is_local("127.0.0.256:80"));
    assert_false(ts_svc_listen_is_local("unix:relative.sock"));
    assert_false(ts_svc_listen_is_local("127.0.0.1"));
    /* The configuration refuses a non-local admin listener. */
    ts_svc_config *c = malloc(sizeof *c);
    assert_non_null(c);
    ts_svc_config_defaults(c);
    snprintf(c->home, sizeof c->home, "/tmp");
    snprintf(c->admin_listen, sizeof c->admin_listen, "0.0.0.0:8081");
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_svc_config_finish(c, &err), TS_EINVAL);
    assert_string_equal(err.where, "adminListen");
    snprintf(c->admin_listen, sizeof c->admin_listen, "127.0.0.1:8081");
    assert_int_equal(ts_svc_config_finish(c, &err), TS_OK);
    free(c);
}

static void test_atomic_write(void **state)
{
    (void)state;
    char dir[] = "/tmp/ts-admin-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/state.json", dir);
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_svc_write_file_atomic(path, "{\"a\":1}", 7, &err), TS_OK);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    char *got = NULL;
    size_t len = 0;
    assert_int_equal(ts_svc_read_file(path, 1024, &got, &len, &err), TS_OK);
    assert_int_equal(len, 7);
    assert_string_equal(got, "{\"a\":1}");
    free(got);
    /* Replacing keeps the mode even when the old file was wider. */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(ts_svc_write_file_atomic(path, "{}", 2, &err), TS_OK);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(ts_svc_read_file(path, 1024, &got, &len, &err), TS_OK);
    assert_string_equal(got, "{}");
    free(got);
    /* Bounds and absence are distinct results. */
    assert_int_equal(ts_svc_read_file(path, 1, &got, &len, &err), TS_ELIMIT);
    assert_null(got);
    char missing[300];
    snprintf(missing, sizeof missing, "%s/none.json", dir);
    assert_int_equal(ts_svc_read_file(missing, 1024, &got, &len, &err), TS_ENOTFOUND);
    /* A failed write leaves the old file and no temporary file behind. */
    char bad[300];
    snprintf(bad, sizeof bad, "%s/no/such/dir/x.json", dir);
    assert_int_equal(ts_svc_write_file_atomic(bad, "x", 1, &err), TS_EIO);
    assert_int_equal(ts_svc_read_file(path, 1024, &got, &len, &err), TS_OK);
    assert_string_equal(got, "{}");
    free(got);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0); /* empty: no temporary file left */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peer),
        cmocka_unit_test(test_listen_rule),
        cmocka_unit_test(test_atomic_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
