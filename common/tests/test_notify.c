/* common/notify.h: systemd notifications without libsystemd. One datagram per message to
 * $NOTIFY_SOCKET (a path, or '@' for the abstract namespace), nothing without the variable or
 * with a relative path; the watchdog's interval is half of $WATCHDOG_USEC, and off when
 * $WATCHDOG_PID names another process. (The agent's and the gateway's e2e tests check the
 * messages each sends: tests/agent, tests/gateway/signals_test.sh.) */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/notify.h"

/* A datagram socket bound at @p path ('@': abstract); its descriptor. */
static int receiver(const char *path)
{
    struct sockaddr_un un;
    memset(&un, 0, sizeof un);
    un.sun_family = AF_UNIX;
    size_t n = strlen(path);
    memcpy(un.sun_path, path, n);
    if (path[0] == '@')
        un.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(
        bind(fd, (struct sockaddr *)&un, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)),
        0);
    return fd;
}

static void expect(int fd, const char *msg)
{
    char buf[64];
    ssize_t k = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);
    assert_int_equal(k, (ssize_t)strlen(msg));
    buf[k] = '\0';
    assert_string_equal(buf, msg);
}

static void test_notify(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_false(ts_common__notify("READY=1"));
    char path[64];
    snprintf(path, sizeof path, "/tmp/common_notify.%d", (int)getpid());
    unlink(path);
    int fd = receiver(path);
    setenv("NOTIFY_SOCKET", path, 1);
    assert_true(ts_common__notify("READY=1"));
    assert_true(ts_common__notify("WATCHDOG=1"));
    expect(fd, "READY=1");
    expect(fd, "WATCHDOG=1");
    close(fd);
    unlink(path);

    char abs[64];
    snprintf(abs, sizeof abs, "@common_notify.%d", (int)getpid());
    fd = receiver(abs);
    setenv("NOTIFY_SOCKET", abs, 1);
    assert_true(ts_common__notify("STOPPING=1"));
    expect(fd, "STOPPING=1");
    close(fd);

    setenv("NOTIFY_SOCKET", "relative/path", 1);
    assert_false(ts_common__notify("READY=1"));
    unsetenv("NOTIFY_SOCKET");
}

static void test_watchdog(void **state)
{
    (void)state;
    unsetenv("WATCHDOG_PID");
    unsetenv("WATCHDOG_USEC");
    assert_int_equal(ts_common__watchdog_interval_ms(), 0);
    setenv("WATCHDOG_USEC", "30000000", 1);
    assert_int_equal(ts_common__watchdog_interval_ms(), 15000);
    char pid[32];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    assert_int_equal(ts_common__watchdog_interval_ms(), 15000);
    snprintf(pid, sizeof pid, "%d", (int)getpid() + 1);
    setenv("WATCHDOG_PID", pid, 1);
    assert_int_equal(ts_common__watchdog_interval_ms(), 0);
    unsetenv("WATCHDOG_PID");
    setenv("WATCHDOG_USEC", "abc", 1);
    assert_int_equal(ts_common__watchdog_interval_ms(), 0);
    unsetenv("WATCHDOG_USEC");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_notify),
                                       cmocka_unit_test(test_watchdog)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
