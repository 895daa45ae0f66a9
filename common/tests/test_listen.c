/* common/listen.h: how listen addresses are read (IPv4, IPv6 in brackets, names, the empty host),
 * the errors a server reports for a bad one (their text is what `tokensmith serve` prints), and
 * the sockets bound on loopback: the port the kernel chose, close-on-exec, a port in use. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/listen.h"

static uint16_t port_of(const struct sockaddr_storage *ss)
{
    return ntohs(ss->ss_family == AF_INET6
                     ? ((const struct sockaddr_in6 *)(const void *)ss)->sin6_port
                     : ((const struct sockaddr_in *)(const void *)ss)->sin_port);
}

static void test_parse_ipv4(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_common__listen_parse("127.0.0.1:8080", "listen", &ss, &sl, &err), TS_OK);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(sl, sizeof(struct sockaddr_in));
    assert_int_equal(port_of(&ss), 8080);
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)&ss)->sin_addr, text, sizeof text);
    assert_string_equal(text, "127.0.0.1");
    assert_int_equal(err.code, TS_OK);
}

static void test_parse_ipv6(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    assert_int_equal(ts_common__listen_parse("[::1]:0", "listen", &ss, &sl, NULL), TS_OK);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(sl, sizeof(struct sockaddr_in6));
    assert_int_equal(port_of(&ss), 0);
    assert_true(IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)(void *)&ss)->sin6_addr));
}

/* A name is resolved; an empty host is every address (a passive lookup). */
static void test_parse_name_and_wildcard(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    socklen_t sl;
    assert_int_equal(ts_common__listen_parse("localhost:9", "listen", &ss, &sl, NULL), TS_OK);
    assert_int_equal(port_of(&ss), 9);
    if (ss.ss_family == AF_INET)
        assert_int_equal(ntohl(((struct sockaddr_in *)(void *)&ss)->sin_addr.s_addr) >> 24, 127);
    else
        assert_true(IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)(void *)&ss)->sin6_addr));
    assert_int_equal(ts_common__listen_parse(":9000", "listen", &ss, &sl, NULL), TS_OK);
    assert_int_equal(port_of(&ss), 9000);
    if (ss.ss_family == AF_INET)
        assert_int_equal(((struct sockaddr_in *)(void *)&ss)->sin_addr.s_addr, htonl(INADDR_ANY));
    else
        assert_true(IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)(void *)&ss)->sin6_addr));
}

static void expect_error(const char *addr, const char *where, ts_status code, const char *msg)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    ts_error err;
    ts_error_clear(&err);
    ts_status st = ts_common__listen_parse(addr, where, &ss, &sl, &err);
    if (st != code || err.code != code || strcmp(err.where, where) != 0 ||
        strncmp(err.msg, msg, strlen(msg)) != 0)
        fail_msg("%s: got %d %s: %s, want %d %s: %s...", addr, st, err.where, err.msg, code, where,
                 msg);
    /* Without an error struct, the status alone. */
    assert_int_equal(ts_common__listen_parse(addr, where, &ss, &sl, NULL), code);
}

/* The messages name the address and say what is wrong with it; where is the caller's setting. */
static void test_parse_errors(void **state)
{
    (void)state;
    expect_error("[::1]8080", "listen", TS_EINVAL, "'[::1]8080' is not [ADDR]:PORT");
    expect_error("[::1:8080", "listen", TS_EINVAL, "'[::1:8080' is not [ADDR]:PORT");
    expect_error("8080", "grpc_listen", TS_EINVAL, "'8080' is not HOST:PORT");
    expect_error("", "listen", TS_EINVAL, "'' is not HOST:PORT");
    /* Ports are numbers (no service names); hosts must resolve. */
    expect_error("127.0.0.1:http", "admin_listen", TS_EINVAL,
                 "'127.0.0.1:http': port must be a number from 0 to 65535");
    expect_error("127.0.0.1:99999", "listen", TS_EINVAL,
                 "'127.0.0.1:99999': port must be a number from 0 to 65535");
    expect_error("127.0.0.1:", "listen", TS_EINVAL,
                 "'127.0.0.1:': port must be a number from 0 to 65535");
    expect_error("127.0.0.1:+80", "listen", TS_EINVAL,
                 "'127.0.0.1:+80': port must be a number from 0 to 65535");
    expect_error("127.0.0.1:008080", "listen", TS_EINVAL,
                 "'127.0.0.1:008080': port must be a number from 0 to 65535");
    expect_error("no-such-host.invalid:80", "listen", TS_EINVAL, "'no-such-host.invalid:80': ");
    expect_error("[not-v6]:80", "listen", TS_EINVAL, "'[not-v6]:80': ");
}

/* A host of 256 bytes or more is refused whole, before any lookup, rather than cut to a prefix
 * that could name another host; up to 255 bytes it is looked up (and here not found). */
static void test_parse_host_length(void **state)
{
    (void)state;
    char addr[400];
    struct sockaddr_storage ss;
    socklen_t sl;
    ts_error err;
    memset(addr, 'a', sizeof addr);
    memcpy(addr + 255, ":80", 4);
    ts_error_clear(&err);
    assert_int_equal(ts_common__listen_parse(addr, "listen", &ss, &sl, &err), TS_EINVAL);
    assert_null(strstr(err.msg, "host too long"));
    memset(addr, 'a', sizeof addr);
    memcpy(addr + 256, ":80", 4);
    ts_error_clear(&err);
    assert_int_equal(ts_common__listen_parse(addr, "listen", &ss, &sl, &err), TS_EINVAL);
    assert_string_equal(err.where, "listen");
    char want[128];
    snprintf(want, sizeof want, "'%.40s...': host too long (256 bytes, at most 255)", addr);
    assert_string_equal(err.msg, want);
}

/* Port 0: the kernel picks a port, reported back; the socket listens (a client connects) and is
 * not inherited by programs the server starts. */
static void test_bind_loopback(void **state)
{
    (void)state;
    static const char *const addrs[] = {"127.0.0.1:0", "[::1]:0", "localhost:0"};
    for (size_t i = 0; i < sizeof addrs / sizeof *addrs; i++) {
        int fd = -2;
        uint16_t port = 0;
        ts_error err;
        ts_error_clear(&err);
        ts_status st = ts_common__listen_bind(addrs[i], "listen", &fd, &port, &err);
        if (st != TS_OK && i == 1) { /* a host without IPv6 */
            print_message("skipped %s: %s\n", addrs[i], err.msg);
            continue;
        }
        assert_int_equal(st, TS_OK);
        assert_true(fd >= 0);
        assert_int_not_equal(port, 0);
        assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        struct sockaddr_storage bound;
        socklen_t bl = sizeof bound;
        assert_int_equal(getsockname(fd, (struct sockaddr *)&bound, &bl), 0);
        assert_int_equal(port_of(&bound), port);
        int c = socket(bound.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(c >= 0);
        assert_int_equal(connect(c, (struct sockaddr *)&bound, bl), 0);
        int a = accept(fd, NULL, NULL);
        assert_true(a >= 0);
        close(a);
        close(c);
        close(fd);
    }
    /* The port is optional. */
    int fd = -1;
    assert_int_equal(ts_common__listen_bind("127.0.0.1:0", "listen", &fd, NULL, NULL), TS_OK);
    assert_true(fd >= 0);
    close(fd);
}

/* A port another socket listens on: TS_EIO naming the address and the reason; no socket left. */
static void test_bind_port_in_use(void **state)
{
    (void)state;
    int first = -1;
    uint16_t port = 0;
    assert_int_equal(ts_common__listen_bind("127.0.0.1:0", "listen", &first, &port, NULL), TS_OK);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", (unsigned)port);
    int fd = -2;
    uint16_t p2 = 7;
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_common__listen_bind(addr, "listen", &fd, &p2, &err), TS_EIO);
    assert_int_equal(fd, -1);
    assert_int_equal(p2, 0);
    assert_string_equal(err.where, "listen");
    char want[96];
    snprintf(want, sizeof want, "cannot listen on %s: %s", addr, strerror(EADDRINUSE));
    assert_string_equal(err.msg, want);
    close(first);
}

/* A bad address fails before any socket is made, with the parser's error. */
static void test_bind_bad_address(void **state)
{
    (void)state;
    int fd = -2;
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_common__listen_bind("nocolon", "admin_listen", &fd, NULL, &err), TS_EINVAL);
    assert_int_equal(fd, -1);
    assert_string_equal(err.where, "admin_listen");
    assert_string_equal(err.msg, "'nocolon' is not HOST:PORT");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ipv4),
        cmocka_unit_test(test_parse_ipv6),
        cmocka_unit_test(test_parse_name_and_wildcard),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_host_length),
        cmocka_unit_test(test_bind_loopback),
        cmocka_unit_test(test_bind_port_in_use),
        cmocka_unit_test(test_bind_bad_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
