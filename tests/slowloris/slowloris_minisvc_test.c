/* slowloris against minisvc: 1,000 slow connections from 127.0.0.1 while 127.0.0.2 asks for
 * /health and a protected route (a valid token from tokensmith-testutil) every 200 ms; every
 * probe must be answered within 1 s. minisvc runs with its default bounds, plus any extra
 * arguments given after its path (e.g. "--max-per-address 0 --head-timeout 0" shows the attack
 * succeeding against a server without them).
 *
 * usage: slowloris_minisvc_test SLOWLORIS MINISVC [MINISVC-ARGS...]
 * Exit: slowloris's status (0 pass, 1 fail, 77 skip), or 1 when minisvc cannot be set up. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tokensmith/testutil.h>

#include "harness.h"

/* Start minisvc on 127.0.0.1 and a free port, with the arguments after its path on our
 * command line. @return its pid (and *port), or -1. */
static pid_t start_minisvc(char **argv, const char *dir, const char *jwks, const char *policy_dir,
                           unsigned *port)
{
    char port_file[4096], log[4096];
    snprintf(port_file, sizeof port_file, "%s/port", dir);
    snprintf(log, sizeof log, "%s/minisvc.log", dir);
    ts_harness_minisvc m = {.path = argv[2],
                            .jwks = jwks,
                            .issuer = TS_TESTUTIL_ISSUER,
                            .audience = TS_TESTUTIL_AUDIENCE,
                            .policy_dir = policy_dir,
                            .port_file = port_file,
                            .log = log,
                            .args = (const char *const *)(uintptr_t)(argv + 3)};
    return ts_harness_start_minisvc(&m, port);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: slowloris_minisvc_test SLOWLORIS MINISVC [MINISVC-ARGS...]\n");
        return 2;
    }
    char dir[] = "/tmp/slowloris-test-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    ts_error err;
    ts_error_clear(&err);
    ts_testutil_key *key = ts_testutil_key_p256(&err);
    const ts_testutil_key *keys[] = {key};
    ts_jwks *set = key ? ts_testutil_jwks(keys, 1, &err) : NULL;
    ts_testutil_policy_dir *pd = ts_testutil_policy_dir_new(&err);
    char jwks[4096], headers[4096];
    snprintf(jwks, sizeof jwks, "%s/jwks.json", dir);
    snprintf(headers, sizeof headers, "%s/probe-headers", dir);
    char *token =
        key ? ts_testutil_mint_for(key, TS_TESTUTIL_VIEWER, NULL, NULL, TS_TESTUTIL_FLAW_NONE, &err)
            : NULL;
    /* The token goes to the prober in a file, never on a command line. */
    char line[8192];
    int n = token ? snprintf(line, sizeof line, "Authorization: Bearer %s\n", token) : -1;
    if (!set || !pd || !token || ts_testutil_jwks_write(set, jwks, &err) != TS_OK || n < 0 ||
        ts_testutil_write_file(headers, line, (size_t)n, &err) != TS_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    ts_free(token);

    unsigned port = 0;
    pid_t svc = start_minisvc(argv, dir, jwks, ts_testutil_policy_dir_path(pd), &port);
    if (svc < 0)
        return 1;
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%u", port);
    const char *args[] = {argv[1],         "--target", target,       "--connections", "1000",
                          "--duration",    "20",       "--interval", "3000",          "--probe",
                          "GET",           "/health",  "--probe",    "GET",           "/v1/nodes",
                          "--header-file", headers,    NULL};
    pid_t att = ts_harness_spawn(args, NULL, NULL, false);
    int st = 0;
    int rc = att > 0 && waitpid(att, &st, 0) == att && WIFEXITED(st) ? WEXITSTATUS(st) : 1;
    int svc_st = ts_harness_stop(svc);
    if (svc_st != 0) {
        printf("minisvc did not stop cleanly (status %d); see %s/minisvc.log\n", svc_st, dir);
        rc = rc == 77 ? 77 : 1;
    }

    ts_testutil_policy_dir_free(pd);
    ts_jwks_free(set);
    ts_testutil_key_free(key);
    char path[4096];
    if (rc == 0 || rc == 77) {
        const char *files[] = {"jwks.json", "probe-headers", "port", "minisvc.log"};
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, files[i]);
            unlink(path);
        }
        rmdir(dir);
    } else {
        snprintf(path, sizeof path, "%s/minisvc.log", dir);
        printf("minisvc log kept in %s\n", path);
    }
    return rc;
}
