/* One gate shared by a libmicrohttpd thread pool while several clients call it at once and the
 * policy is reloaded over and over: every answer is the one its token and route call for (200,
 * 401 or 403, never a mix), no principal is lost or freed twice (AddressSanitizer), and
 * ThreadSanitizer (ctest -L concurrency in a TS_TSAN build) finds no race between the
 * request threads, the reloads and the completion callbacks. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "gatenet.h"

#define CLIENTS 6
#define REQUESTS 60 /* per client */

static gate_fixture fx;
static gate_log logbuf = {.mu = PTHREAD_MUTEX_INITIALIZER};
static gate_service svc;
static atomic_int wrong;
static atomic_bool reloading;

typedef struct call {
    const char *method, *path;
    char *const *token; /* NULL: none */
    int status;
} call;

static const call calls[] = {
    {"GET", "/v1/nodes", &fx.viewer, 200},
    {"DELETE", "/v1/nodes/n1", &fx.viewer, 403},
    {"DELETE", "/v1/nodes/n1", &fx.admin, 200},
    {"GET", "/v1/nodes", NULL, 401},
    {"GET", "/v1/nodes", &fx.expired, 401},
    {"GET", "/v1/elsewhere", &fx.admin, 403},
    {"GET", "/health", NULL, 200},
    {"GET", "/v1/whoami", &fx.service, 200},
};

static void *client(void *arg)
{
    size_t k = (size_t)(uintptr_t)arg;
    gate_reply *r = malloc(sizeof *r);
    if (!r)
        return NULL;
    for (size_t i = 0; i < REQUESTS; i++) {
        const call *c = &calls[(i + k) % (sizeof calls / sizeof calls[0])];
        gate_request(svc.port, c->method, c->path, c->token ? *c->token : NULL, r);
        if (r->status != c->status) {
            fprintf(stderr, "%s %s: %d, want %d\n", c->method, c->path, r->status, c->status);
            atomic_fetch_add(&wrong, 1);
        }
    }
    free(r);
    return NULL;
}

/* Reload the same policy (a fragment that changes nothing the calls depend on) until the
 * clients are done: every reload swaps in a new snapshot under the request threads. */
static void *reloader(void *arg)
{
    ts_authz_authorizer *a = arg;
    unsigned n = 0;
    while (atomic_load(&reloading)) {
        ts_error err;
        ts_error_clear(&err);
        if (ts_authz_reload(a, &err) != TS_OK)
            atomic_fetch_add(&wrong, 1);
        n++;
        sleep_ms(2);
    }
    return (void *)(uintptr_t)n;
}

static void test_concurrent_gate(void **state)
{
    (void)state;
    char dir[192];
    snprintf(dir, sizeof dir, "%s/policy", fx.dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    static const char *const frag[] = {"p, role:viewer, metadata:groups, read"};
    assert_int_equal(ts_testutil_write_fragment(dir, "10-site.csv", frag, 1, NULL), TS_OK);
    ts_mhd_gate_options o = gate_options(&fx, &logbuf);
    o.policy_dir = dir;
    ts_error err;
    ts_error_clear(&err);
    svc.gate = ts_mhd_gate_new(&o, &err);
    assert_non_null(svc.gate);
    assert_int_equal(gate_service_start(&svc), 0);

    atomic_store(&reloading, true);
    pthread_t rt, ct[CLIENTS];
    assert_int_equal(pthread_create(&rt, NULL, reloader, ts_mhd_gate_authorizer(svc.gate)), 0);
    for (size_t i = 0; i < CLIENTS; i++)
        assert_int_equal(pthread_create(&ct[i], NULL, client, (void *)(uintptr_t)i), 0);
    for (size_t i = 0; i < CLIENTS; i++)
        pthread_join(ct[i], NULL);
    atomic_store(&reloading, false);
    void *reloads = NULL;
    pthread_join(rt, &reloads);
    gate_service_stop(&svc);

    assert_int_equal(atomic_load(&wrong), 0);
    assert_true((uintptr_t)reloads > 0);
    /* Every principal handed to the handler (a 200 past a token) was freed once. */
    int want = 0;
    for (size_t k = 0; k < CLIENTS; k++)
        for (size_t i = 0; i < REQUESTS; i++) {
            const call *c = &calls[(i + k) % (sizeof calls / sizeof calls[0])];
            want += c->token && c->status == 200;
        }
    assert_int_equal(atomic_load(&svc.principals), want);
}

int main(void)
{
    if (gate_fixture_init(&fx) != 0) {
        fprintf(stderr, "set-up failed\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_gate),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    gate_fixture_cleanup(&fx);
    return rc;
}
