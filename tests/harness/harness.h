/*
 * The integration tests' harness (tests/harness, the static library ts_test_harness; never
 * installed): counting checks, clocks, loopback sockets, HTTP over libcurl, and the servers a
 * test starts and stops (with TS_TEST_WRAPPER support). One copy for every test program in
 * tests/ and bench/, instead of one per program.
 *
 * Not thread-safe unless a function says so: a test program drives it from its main thread.
 * Failures of the harness itself (no memory, no socket) are reported as failed checks or as
 * error results, never by aborting, so that a test always reaches its summary line.
 */
#ifndef TS_TEST_HARNESS_H
#define TS_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* ---- Checks -------------------------------------------------------------------------------- */

/** Counters of CHECK(); a test may count cases of its own into them too. */
extern int ts_harness_passed, ts_harness_failed;

/** Print "FAIL file:line: <message>" on stdout. */
void ts_harness_fail_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/**
 * Count @p cond as passed or failed; a failure prints the message (printf arguments), which
 * is evaluated only then, so it may use what @p cond has just checked.
 */
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            ts_harness_passed++;                                                                   \
        } else {                                                                                   \
            ts_harness_failed++;                                                                   \
            ts_harness_fail_at(__FILE__, __LINE__, __VA_ARGS__);                                   \
        }                                                                                          \
    } while (0)

/** Print "<passed> passed, <failed> failed" (the line CI reads) and @return the exit status:
 *  0 when nothing failed, else 1. */
int ts_harness_summary(void);

/* ---- Clocks -------------------------------------------------------------------------------- */

/** Monotonic seconds (for durations only). */
double ts_harness_now(void);
/** Sleep @p ms milliseconds (the whole time, across signals). */
void ts_harness_sleep_ms(long ms);

/* ---- Loopback sockets ---------------------------------------------------------------------- */

/** A TCP connection to 127.0.0.1:@p port, or -1. */
int ts_harness_dial(unsigned port);
/** A listening TCP socket on 127.0.0.1:@p port (0: any free port; see ts_harness_port_of()),
 *  close-on-exec so that a server the test starts does not keep it; or -1. */
int ts_harness_listen(unsigned port);
/** The local port of socket @p fd, or 0. */
unsigned ts_harness_port_of(int fd);
/** Send all of @p n bytes, or as much as the peer takes before it closes (no SIGPIPE). */
void ts_harness_send_all(int fd, const void *p, size_t n);

/* ---- HTTP over libcurl --------------------------------------------------------------------- */

#define TS_HARNESS_BODY_MAX 65536u

typedef struct ts_harness_req {
    const char *method;         /**< NULL: GET, or POST when there is a body */
    const char *url;            /**< required */
    const char *bearer;         /**< sent as "Authorization: Bearer <bearer>"; NULL: none */
    const char *const *headers; /**< more header lines, NULL-terminated; NULL: none */
    const char *body;           /**< request body; NULL: none */
    long timeout_s;             /**< whole request; 0: 10 s */
    bool path_as_is;            /**< send "/../" and "/./" in the path as written */
} ts_harness_req;

typedef struct ts_harness_reply {
    long status;                    /**< HTTP status; -1 when the request failed (see error) */
    double secs;                    /**< how long the request took */
    size_t n;                       /**< body bytes kept (at most TS_HARNESS_BODY_MAX - 1) */
    char error[256];                /**< libcurl's reason when status is -1 */
    char body[TS_HARNESS_BODY_MAX]; /**< NUL-terminated, cut at the cap */
} ts_harness_reply;

/** Perform @p rq into @p out (caller storage: large, keep it off small stacks). libcurl's
 *  global initialisation is done once, on the first call. */
void ts_harness_http(const ts_harness_req *rq, ts_harness_reply *out);

/* ---- Server processes ---------------------------------------------------------------------- */

/** Whether TS_TEST_WRAPPER (a command line put in front of the server, e.g. valgrind) is set. */
bool ts_harness_wrapped(void);

/**
 * Start @p argv (argv[0] a path) with its standard error in @p log (created or truncated, mode
 * 0600; NULL: inherited). When @p wrap, the words of TS_TEST_WRAPPER go first. @p env entries
 * are set in the child alone: "NAME=value" sets, "NAME" removes (NULL-terminated; may be NULL).
 * @return the child's pid, or -1.
 */
pid_t ts_harness_spawn(const char *const argv[], const char *log, const char *const env[],
                       bool wrap);

/** How long a server may take to start: 30 s, or 120 s under TS_TEST_WRAPPER. */
double ts_harness_start_timeout(void);

/**
 * Wait until server @p pid says where it listens: the number in @p port_file (written by
 * minisvc --port-file) or, when @p port_file is NULL, the "port" of the first JSON log line of
 * @p log with "msg":"listening" (tokensmith serve). On failure (the server exited, or
 * @p timeout_s passed) it says so on stdout naming @p log, ends the server (SIGKILL) and reaps
 * it. @return the port, or 0.
 */
unsigned ts_harness_await_port(pid_t pid, const char *port_file, const char *log, double timeout_s);

/** SIGTERM, then wait. @return the exit status, 128 + the signal, or -1 when not a child. */
int ts_harness_stop(pid_t pid);

/** examples/minisvc as the tests run it: on 127.0.0.1 and a free port, one JWKS file. */
typedef struct ts_harness_minisvc {
    const char *path;        /**< the minisvc executable */
    const char *jwks;        /**< --jwks */
    const char *issuer;      /**< --issuer */
    const char *audience;    /**< --audience */
    const char *policy_dir;  /**< --policy-dir */
    const char *port_file;   /**< --port-file: removed first, then waited for */
    const char *log;         /**< its standard error */
    const char *const *args; /**< more arguments, NULL-terminated; NULL: none */
    const char *const *env;  /**< as for ts_harness_spawn() */
    bool wrap;               /**< under TS_TEST_WRAPPER */
} ts_harness_minisvc;

/** Start minisvc and wait for its port (ts_harness_await_port()).
 *  @return its pid with *port set, or -1 (the failure said on stdout). */
pid_t ts_harness_start_minisvc(const ts_harness_minisvc *m, unsigned *port);

/** Remove @p dir and everything in it. @return 0 on success. */
int ts_harness_rm_rf(const char *dir);

#endif
