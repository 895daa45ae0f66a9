/* A real `tokensmith serve` for the client's integration tests: started on 127.0.0.1 and a
 * free port in a scratch directory, bootstrap tokens made with `tokensmith bootstrap-token
 * create` on its store, its log lines counted, stopped at the end. The binary's path is
 * TS_TOKENSMITH_BIN (a compile definition). Not thread-safe: the test's main thread drives it. */
#ifndef TS_CLIENT_SERVE_FIXTURE_H
#define TS_CLIENT_SERVE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct serve_fixture {
    char dir[256];      /**< scratch directory (removed by serve_fixture_stop) */
    char log[300];      /**< serve's stderr */
    char store[300];    /**< its SQLite store */
    char endpoint[128]; /**< http://127.0.0.1:PORT/oauth/token */
    unsigned port;
    pid_t pid;
} serve_fixture;

/** The one serve of a test program (test_serve.c, test_singleflight.c, test_crash.c): started
 *  by serve_fixture_setup() before its first test, stopped and removed by
 *  serve_fixture_teardown() after its last (cmocka group fixtures). */
extern serve_fixture srv;
int serve_fixture_setup(void **state);
int serve_fixture_teardown(void **state);

/** The clients' clock in the caller-mode tests (ts_client_options.clock_ms): CLOCK_MONOTONIC
 *  in ms plus an offset that the test moves (the server keeps real time). */
int64_t serve_fixture_clock(void *ud);
/** Move the clock @p ms ahead; serve_fixture_clock_reset() takes it back to real time. */
void serve_fixture_clock_advance(int64_t ms);
void serve_fixture_clock_reset(void);

/** Start serve with @p extra arguments (NULL-terminated, may be NULL). @return false (said on
 *  stdout) when it did not start. */
bool serve_fixture_start(serve_fixture *s, const char *const *extra);
/** Stop serve (SIGTERM); the scratch directory stays until serve_fixture_cleanup(). */
void serve_fixture_stop(serve_fixture *s);
/** Start it again on the same home and port (after serve_fixture_stop()). */
bool serve_fixture_restart(serve_fixture *s, const char *const *extra);
/** Stop if running and remove the scratch directory (unless KEEP is set). */
void serve_fixture_cleanup(serve_fixture *s);
/** A new bootstrap token for subject svc, audience smd, into @p out (65 bytes). */
bool serve_fixture_bootstrap(const serve_fixture *s, char out[65]);
/** Lines of serve's log that contain every one of the NULL-terminated needles. */
size_t serve_fixture_count(const serve_fixture *s, const char *needle, ...);
/** Lines that show a refresh family revoked or presented after revocation (what a client that
 *  presents an old refresh token causes). */
size_t serve_fixture_revocations(const serve_fixture *s);

#endif
