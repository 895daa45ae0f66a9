/* ts_mhd_limits: per-address and total connection limits, the head deadline against a
 * trickling client, the body deadline, and keep-alive connections that are idle (kept until
 * the idle timeout) or trickle their next request (closed by the head deadline). */
#include "testnet.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "mhd_internal.h"

/* ---------------------------------------------------------------------------------------- */
/* Address keys and the count table                                                         */

static ts_mhd__addr_key key6(const char *text, unsigned prefix)
{
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, text, &a.sin6_addr), 1);
    ts_mhd__addr_key k;
    ts_mhd__addr_key_of((struct sockaddr *)&a, sizeof a, prefix, &k);
    return k;
}

static ts_mhd__addr_key key4(const char *text)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, text, &a.sin_addr), 1);
    ts_mhd__addr_key k;
    ts_mhd__addr_key_of((struct sockaddr *)&a, sizeof a, 64, &k);
    return k;
}

static bool same_key(ts_mhd__addr_key a, ts_mhd__addr_key b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

static void test_addr_keys(void **state)
{
    (void)state;
    /* One /64 is one client, whatever its interface identifiers. */
    assert_true(same_key(key6("2001:db8:1:2::1", 64), key6("2001:db8:1:2:ffff:1:2:3", 64)));
    assert_false(same_key(key6("2001:db8:1:2::1", 64), key6("2001:db8:1:3::1", 64)));
    /* A prefix that does not end on a byte. */
    assert_true(same_key(key6("2001:db8:1:2::1", 60), key6("2001:db8:1:f::1", 60)));
    assert_false(same_key(key6("2001:db8:1:2::1", 60), key6("2001:db8:1:12::1", 60)));
    assert_false(same_key(key6("::1", 128), key6("::2", 128)));
    /* IPv4-mapped IPv6 is the IPv4 address, not a /64 shared by all of IPv4. */
    assert_true(same_key(key6("::ffff:192.0.2.7", 64), key4("192.0.2.7")));
    assert_false(same_key(key6("::ffff:192.0.2.7", 64), key6("::ffff:192.0.2.8", 64)));
    assert_false(same_key(key4("127.0.0.1"), key4("127.0.0.2")));

    char s[64];
    ts_mhd__addr_key k = key6("2001:db8:1:2:3:4:5:6", 64);
    ts_mhd__addr_key_str(&k, 64, s, sizeof s);
    assert_string_equal(s, "2001:db8:1:2::/64");
    k = key4("127.0.0.2");
    ts_mhd__addr_key_str(&k, 64, s, sizeof s);
    assert_string_equal(s, "127.0.0.2");
    struct sockaddr un = {.sa_family = AF_UNIX};
    ts_mhd__addr_key_of(&un, sizeof(sa_family_t), 64, &k);
    ts_mhd__addr_key_str(&k, 64, s, sizeof s);
    assert_string_equal(s, "unix");
}

/* Random increments and decrements against a plain array: growth and backward-shift deletion
 * never lose or merge a count. */
static void test_addr_table(void **state)
{
    (void)state;
    enum { N = 700 };
    static unsigned want[N];
    ts_mhd__addr_table t;
    assert_true(ts_mhd__addr_table_init(&t, 4));
    uint64_t r = 88172645463325252ull;
    for (int step = 0; step < 200000; step++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        unsigned i = (unsigned)(r % N);
        ts_mhd__addr_key k;
        memset(&k, 0, sizeof k);
        k.family = TS_MHD__FAM_V4;
        memcpy(k.bytes, &i, sizeof i);
        if ((r >> 32) % 3 && want[i] < 5) {
            assert_true(ts_mhd__addr_table_inc(&t, &k));
            want[i]++;
        } else if (want[i]) {
            ts_mhd__addr_table_dec(&t, &k);
            want[i]--;
        }
        if (step % 997 == 0)
            for (unsigned j = 0; j < N; j++) {
                memcpy(k.bytes, &j, sizeof j);
                assert_int_equal(ts_mhd__addr_table_get(&t, &k), want[j]);
            }
    }
    ts_mhd__addr_table_cleanup(&t);
}

static void test_options_checked(void **state)
{
    (void)state;
    test_server s;
    memset(&s, 0, sizeof s);
    ts_mhd_limits_options o = test_options(&s);
    ts_error err;
    o.idle_timeout_s = 0;
    ts_error_clear(&err);
    assert_null(ts_mhd_limits_new(&o, &err));
    assert_string_equal(err.where, "idle_timeout_s");
    o = test_options(&s);
    o.ipv6_prefix = 129;
    ts_error_clear(&err);
    assert_null(ts_mhd_limits_new(&o, &err));
    assert_string_equal(err.where, "ipv6_prefix");
    o = test_options(&s);
    o.handler = NULL;
    ts_error_clear(&err);
    assert_null(ts_mhd_limits_new(&o, &err));
    assert_int_equal(err.code, TS_EINVAL);
}

/* ---------------------------------------------------------------------------------------- */
/* Connection limits                                                                        */

static void test_per_address_limit(void **state)
{
    (void)state;
    test_server s;
    memset(&s, 0, sizeof s);
    ts_mhd_limits_options o = test_options(&s);
    o.max_per_address = 3;
    assert_int_equal(test_server_start(&s, &o, 4), 0);

    int held[3];
    for (int i = 0; i < 3; i++)
        assert_true((held[i] = cli_connect("127.0.0.1", s.port)) >= 0);
    WAIT_STATS(&s, st.connections == 3);

    /* The fourth from the same address is closed at once, without an answer. */
    int extra = cli_connect("127.0.0.1", s.port);
    assert_true(extra >= 0);
    cli_send(extra, GET_REQUEST);
    assert_true(cli_closed_within(extra, 3000));
    close(extra);
    WAIT_STATS(&s, st.refused_per_address >= 1 && st.connections == 3);

    /* Another address is served meanwhile. */
    char buf[4096];
    int other = cli_connect("127.0.0.2", s.port);
    assert_int_equal(cli_send(other, GET_REQUEST), 0);
    assert_int_equal(cli_response(other, buf, sizeof buf, 3000), 200);
    close(other);

    /* A held connection is still served, and closing one makes room for a new one. */
    assert_int_equal(cli_send(held[0], GET_REQUEST), 0);
    assert_int_equal(cli_response(held[0], buf, sizeof buf, 3000), 200);
    close(held[0]);
    WAIT_STATS(&s, st.connections == 2);
    int again = cli_connect("127.0.0.1", s.port);
    assert_int_equal(cli_send(again, GET_REQUEST), 0);
    assert_int_equal(cli_response(again, buf, sizeof buf, 3000), 200);
    close(again);
    close(held[1]);
    close(held[2]);
    WAIT_STATS(&s, st.connections == 0);
    assert_int_equal(atomic_load(&s.app.requests), 3); /* never the refused one */
    test_server_stop(&s);
    assert_int_equal(atomic_load(&s.app.bad_ctx), 0);
}

static void test_total_limit(void **state)
{
    (void)state;
    test_server s;
    memset(&s, 0, sizeof s);
    ts_mhd_limits_options o = test_options(&s);
    o.max_per_address = 0;
    o.max_connections = 2;
    assert_int_equal(test_server_start(&s, &o, 4), 0);
    int a = cli_connect("127.0.0.1", s.port), b = cli_connect("127.0.0.2", s.port);
    assert_true(a >= 0 && b >= 0);
    WAIT_STATS(&s, st.connections == 2);
    int c = cli_connect("127.0.0.3", s.port);
    assert_true(c >= 0);
    assert_true(cli_closed_within(c, 3000));
    close(c);
    WAIT_STATS(&s, st.refused_total >= 1 && st.refused_per_address == 0);
    close(a);
    WAIT_STATS(&s, st.connections == 1);
    char buf[4096];
    c = cli_connect("127.0.0.3", s.port);
    assert_int_equal(cli_send(c, GET_REQUEST), 0);
    assert_int_equal(cli_response(c, buf, sizeof buf, 3000), 200);
    close(c);
    close(b);
    test_server_stop(&s);
}

/* ---------------------------------------------------------------------------------------- */
/* Deadlines                                                                                */

/* Send @p s one byte every @p every_ms until the server closes the connection or @p max_ms
 * pass. @return the time until it closed, or -1. */
static int trickle_until_closed(int fd, const char *s, int every_ms, int max_ms)
{
    int64_t start = now_ms();
    for (size_t i = 0; now_ms() - start < max_ms; i++) {
        char ch[2] = {s[i % strlen(s)], '\0'};
        if (cli_send(fd, ch) != 0 || cli_closed_within(fd, every_ms))
            return (int)(now_ms() - start);
    }
    return -1;
}

static void test_head_deadline(void **state)
{
    (void)state;
    test_server s;
    memset(&s, 0, sizeof s);
    ts_mhd_limits_options o = test_options(&s);
    o.head_timeout_ms = 800;
    o.idle_timeout_s = 60; /* the idle timeout alone would never close a trickling client */
    assert_int_equal(test_server_start(&s, &o, 2), 0);

    /* A header byte every 100 ms: always active, never a complete head. */
    int fd = cli_connect("127.0.0.1", s.port);
    int64_t t0 = now_ms();
    assert_int_equal(cli_send(fd, "GET /x HTTP/1.1\r\nHost: t\r\n"), 0);
    int took = trickle_until_closed(fd, "X-Slow: aaaaaaaaaaaaaaaaaaaa", 100, 10000);
    close(fd);
    int since_connect = (int)(now_ms() - t0);
    assert_true(took >= 0);
    assert_true(since_connect >= 700 && since_connect < 5000);
    WAIT_STATS(&s, st.head_timeouts == 1);

    /* A connection that sends nothing at all meets the same deadline. */
    fd = cli_connect("127.0.0.1", s.port);
    assert_true(cli_closed_within(fd, 5000));
    close(fd);
    WAIT_STATS(&s, st.head_timeouts == 2 && st.connections == 0);

    /* A prompt head is served. */
    char buf[4096];
    fd = cli_connect("127.0.0.1", s.port);
    assert_int_equal(cli_send(fd, GET_REQUEST), 0);
    assert_int_equal(cli_response(fd, buf, sizeof buf, 3000), 200);
    close(fd);
    assert_int_equal(atomic_load(&s.app.requests), 1);
    test_server_stop(&s);
}

static void test_body_deadline(void **state)
{
    (void)state;
    test_server s;
    memset(&s, 0, sizeof s);
    ts_mhd_limits_options o = test_options(&s);
    o.head_timeout_ms = 30000;
    o.body_timeout_ms = 800;
    o.idle_timeout_s = 60;
    assert_int_equal(test_server_start(&s, &o, 2), 0);

    int fd = cli_connect("127.0.0.1", s.port);
    assert_int_equal(cli_send(fd, "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n"),
                     0);
    int64_t t0 = now_ms();
    int took = trickle_until_closed(fd, "abcdefghij", 100, 10000);
    close(fd);
    assert_true(took >= 0);
    int64_t since_head = now_ms() - t0;
    assert_true(since_head >= 700 && since_head < 5000);
    WAIT_STATS(&s, st.body_timeouts == 1 && st.head_timeouts == 0 && st.connections == 0);
    /* The application saw the head and got its completion callback, nothing was answered. */
    assert_int_equal(atomic_load(&s.app.requests), 1);
    assert_int_equal(atomic_load(&s.app.completed), 1);
    assert_int_equal(atomic_load(&s.app.answered), 0);

    /* A prompt body is served. */
    char buf[4096];
    fd = cli_connect("127.0.0.1", s.port);
    assert_int_equal(cli_send(fd, "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"),
                     0);
    assert_int_equal(cli_response(fd, buf, sizeof buf, 3000), 200);
    assert_non_null(strstr(buf, "{\"body\":5}"));
    close(fd);
    test_server_stop(&s);
    assert_int_equal(atomic_load(&s.app.completed), 2);
}

/* A keep-alive connection idle between requests for many head deadlines is not closed as a
 * slow head: it serves its next request, and the idle timeout closes it later. */
static void test_keepalive_idle_kept(void **state)
{
    (void)state;
    test_server s;
    memset(&s, 0, sizeof s);
    ts_mhd_limits_options o = test_options(&s);
    o.head_timeout_ms = 300;
    o.idle_timeout_s = 3;
    assert_int_equal(test_server_start(&s, &o, 2), 0);
    char buf[4096];
    int fd = cli_connect("127.0.0.1", s.port);
    assert_int_equal(cli_send(fd, GET_REQUEST), 0);
    assert_int_equal(cli_response(fd, buf, sizeof buf, 3000), 200);
    assert_false(cli_closed_within(fd, 1500)); /* five head deadlines of silence */
    assert_int_equal(cli_send(fd, GET_REQUEST), 0);
    assert_int_equal(cli_response(fd, buf, sizeof buf, 3000), 200);
    int64_t t0 = now_ms();
    assert_true(cli_closed_within(fd, 10000)); /* libmicrohttpd's idle timeout */
    assert_true(now_ms() - t0 >= 2000);
    close(fd);
    ts_mhd_limits_stats st = test_stats(&s);
    assert_int_equal(st.head_timeouts, 0);
    test_server_stop(&s);
}

/* A keep-alive connection that trickles its next request is closed by the head deadline,
 * counted from its first byte (TCP_INFO), well before the idle timeout plus the deadline. */
static void test_keepalive_trickled_next_head(void **state)
{
    (void)state;
    test_server s;
    memset(&s, 0, sizeof s);
    ts_mhd_limits_options o = test_options(&s);
    o.head_timeout_ms = 500;
    o.idle_timeout_s = 6;
    assert_int_equal(test_server_start(&s, &o, 2), 0);
    char buf[4096];
    int fd = cli_connect("127.0.0.1", s.port);
    assert_int_equal(cli_send(fd, GET_REQUEST), 0);
    assert_int_equal(cli_response(fd, buf, sizeof buf, 3000), 200);
    sleep_ms(700); /* idle longer than a head deadline first */
    int took = trickle_until_closed(fd, "GET /slow HTTP/1.1\r\nHost: t\r\nX: aaaaaaaa", 100, 10000);
    close(fd);
    assert_true(took >= 400 && took < 4000);
    WAIT_STATS(&s, st.head_timeouts == 1);
    test_server_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_keys),
        cmocka_unit_test(test_addr_table),
        cmocka_unit_test(test_options_checked),
        cmocka_unit_test(test_per_address_limit),
        cmocka_unit_test(test_total_limit),
        cmocka_unit_test(test_head_deadline),
        cmocka_unit_test(test_body_deadline),
        cmocka_unit_test(test_keepalive_idle_kept),
        cmocka_unit_test(test_keepalive_trickled_next_head),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
