/* ts_mhd_limits under concurrent load (also run under ThreadSanitizer: ctest -L concurrency):
 * a thread pool serving well-behaved clients while other clients flood one address, trickle
 * heads and bodies past their deadlines and send smuggling requests, a thread reading the
 * counters, and the daemon stopped (and the limits freed) with connections still open. The
 * well-behaved clients must all be served, and every request the application saw must get
 * its completion callback with its own context. */
#include "testnet.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#define GOOD_CLIENTS 3
#define HELD_MAX 16

typedef struct run {
    test_server *s;
    atomic_bool stop;
    atomic_int good_ok, good_failed;
    int held[HELD_MAX]; /* flood connections left open across the daemon's stop */
    int nheld;
} run;

typedef struct client {
    run *r;
    char src[32];
} client;

static void *good_client(void *arg)
{
    client *c = arg;
    char buf[4096];
    while (!atomic_load(&c->r->stop)) {
        int fd = cli_connect(c->src, c->r->s->port);
        if (fd < 0) {
            atomic_fetch_add(&c->r->good_failed, 1);
            continue;
        }
        for (int i = 0; i < 3; i++) {
            const char *req = i == 1 ? "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
                                     : GET_REQUEST;
            if (cli_send(fd, req) == 0 && cli_response(fd, buf, sizeof buf, 5000) == 200)
                atomic_fetch_add(&c->r->good_ok, 1);
            else
                atomic_fetch_add(&c->r->good_failed, 1);
        }
        close(fd);
    }
    return NULL;
}

/* Opens connections from one address without end; keeps the first few open. */
static void *flooder(void *arg)
{
    run *r = arg;
    while (!atomic_load(&r->stop)) {
        int fd = cli_connect("127.0.0.1", r->s->port);
        if (fd < 0)
            continue;
        if (r->nheld < HELD_MAX) {
            cli_send(fd, "GET /x HTTP/1.1\r\n");
            r->held[r->nheld++] = fd;
        } else {
            cli_send(fd, GET_REQUEST);
            cli_closed_within(fd, 20);
            close(fd);
        }
    }
    return NULL;
}

/* Trickles heads and bodies (one byte per 50 ms) until the watchdog closes them. */
static void *trickler(void *arg)
{
    run *r = arg;
    for (int n = 0; !atomic_load(&r->stop); n++) {
        int fd = cli_connect("127.0.0.2", r->s->port);
        if (fd < 0)
            continue;
        cli_send(fd, n % 2 ? "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n"
                           : "GET /x HTTP/1.1\r\n");
        while (!atomic_load(&r->stop) && cli_send(fd, "a") == 0 && !cli_closed_within(fd, 50))
            ;
        close(fd);
    }
    return NULL;
}

static void *smuggler(void *arg)
{
    run *r = arg;
    char buf[4096];
    while (!atomic_load(&r->stop)) {
        int fd = cli_connect("127.0.0.3", r->s->port);
        if (fd < 0)
            continue;
        cli_send(fd, "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: "
                     "2\r\n\r\nab");
        cli_response(fd, buf, sizeof buf, 5000);
        close(fd);
    }
    return NULL;
}

static void *stats_reader(void *arg)
{
    run *r = arg;
    while (!atomic_load(&r->stop)) {
        ts_mhd_limits_stats st = test_stats(r->s);
        (void)st;
        sleep_ms(5);
    }
    return NULL;
}

static void one_round(unsigned threads)
{
    test_server s;
    memset(&s, 0, sizeof s);
    ts_mhd_limits_options o = test_options(&s);
    o.max_per_address = 6;
    o.max_connections = 40;
    o.head_timeout_ms = 300;
    o.body_timeout_ms = 300;
    o.idle_timeout_s = 5;
    assert_int_equal(test_server_start(&s, &o, threads), 0);

    static run r;
    memset(&r, 0, sizeof r);
    r.s = &s;
    client good[GOOD_CLIENTS];
    pthread_t t[GOOD_CLIENTS + 4];
    for (int i = 0; i < GOOD_CLIENTS; i++) {
        good[i].r = &r;
        snprintf(good[i].src, sizeof good[i].src, "127.0.0.%d", 20 + i);
        pthread_create(&t[i], NULL, good_client, &good[i]);
    }
    pthread_create(&t[GOOD_CLIENTS], NULL, flooder, &r);
    pthread_create(&t[GOOD_CLIENTS + 1], NULL, trickler, &r);
    pthread_create(&t[GOOD_CLIENTS + 2], NULL, smuggler, &r);
    pthread_create(&t[GOOD_CLIENTS + 3], NULL, stats_reader, &r);
    sleep_ms(3000);
    atomic_store(&r.stop, true);
    for (int i = 0; i < GOOD_CLIENTS + 4; i++)
        pthread_join(t[i], NULL);

    ts_mhd_limits_stats st = test_stats(&s);
    /* Stop with the flood's connections still open: every one is CLOSED by libmicrohttpd,
     * then the watchdog is joined. */
    MHD_stop_daemon(s.d);
    s.d = NULL;
    ts_mhd_limits_stats after = test_stats(&s);
    test_server_stop(&s);
    for (int i = 0; i < r.nheld; i++)
        close(r.held[i]);

    assert_int_equal(atomic_load(&r.good_failed), 0);
    assert_true(atomic_load(&r.good_ok) > 0);
    assert_true(st.refused_per_address > 0);
    assert_true(st.head_timeouts + st.body_timeouts > 0);
    assert_true(st.rejected_requests > 0);
    assert_int_equal(after.connections, 0);
    assert_int_equal(atomic_load(&s.app.bad_ctx), 0);
    assert_int_equal(atomic_load(&s.app.completed), atomic_load(&s.app.requests));
}

static void test_pool(void **state)
{
    (void)state;
    one_round(4);
}

static void test_single_thread(void **state)
{
    (void)state;
    one_round(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool),
        cmocka_unit_test(test_single_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
