/* End-to-end test of examples/minisvc: the service runs on loopback with a JWKS file, and
   tokens minted by tokensmith-testutil for the four baseline roles are checked on every route
   against the baseline policy, in enforce and shadow mode, and across a SIGHUP reload.
   usage: minisvc_test MINISVC FRAGMENT   (FRAGMENT: examples/minisvc/policy/10-minisvc.csv)
   TS_TEST_WRAPPER, when set, is a command line put in front of minisvc (scripts/valgrind.sh
   sets "valgrind --error-exitcode=99 ..."): minisvc then gets more time to start, and its exit
   status at stop must still be 0. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tokensmith/testutil.h>

#include "harness.h"

typedef ts_harness_reply reply;

static unsigned port;

static reply call(const char *method, const char *path, const char *token, const char *body)
{
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    reply r;
    ts_harness_http(&(ts_harness_req){.method = method, .url = url, .bearer = token, .body = body},
                    &r);
    return r;
}

/* Start minisvc with @p mode (as a flag, or through MINISVC_AUTHZ_MODE when @p mode_env). */
static pid_t start(const char *minisvc, const char *dir, const char *jwks, const char *policy_dir,
                   const char *mode, bool mode_env)
{
    char port_file[4096], log[4096], env_mode[64];
    snprintf(port_file, sizeof port_file, "%s/port", dir);
    snprintf(log, sizeof log, "%s/minisvc-%s.log", dir, mode);
    snprintf(env_mode, sizeof env_mode, "MINISVC_AUTHZ_MODE=%s", mode);
    const char *mode_args[] = {"--mode", mode, NULL};
    const char *env[] = {mode_env ? env_mode : "MINISVC_AUTHZ_MODE", NULL};
    ts_harness_minisvc m = {.path = minisvc,
                            .jwks = jwks,
                            .issuer = TS_TESTUTIL_ISSUER,
                            .audience = TS_TESTUTIL_AUDIENCE,
                            .policy_dir = policy_dir,
                            .port_file = port_file,
                            .log = log,
                            .args = mode_env ? NULL : mode_args,
                            .env = env,
                            .wrap = true};
    return ts_harness_start_minisvc(&m, &port);
}

/* One protected route and what the baseline policy allows on it, per role. */
typedef struct route_case {
    const char *method;
    const char *path;
    bool own; /* the role name is appended: each role works on its own node */
    const char *body;
    bool allow[TS_TESTUTIL_ROLE_COUNT]; /* admin, operator, viewer, service */
} route_case;

/* Order matters: each role PUTs its own node before trying to DELETE it. */
static const route_case matrix[] = {
    {"GET", "/v1/nodes", false, NULL, {true, true, true, true}},
    {"GET", "/v1/nodes/n1", false, NULL, {true, true, true, true}},
    {"PUT", "/v1/nodes/x-", true, "{\"rack\":9}", {true, true, false, false}},
    {"DELETE", "/v1/nodes/x-", true, NULL, {true, false, false, false}},
    {"GET", "/v1/groups", false, NULL, {true, true, true, true}},
    {"GET", "/v1/boot/configs", false, NULL, {true, true, true, false}},
    {"POST", "/v1/admin/reload", false, "", {false, false, false, false}},
};

static void run_matrix(char *const tokens[], bool shadow)
{
    for (size_t i = 0; i < sizeof matrix / sizeof matrix[0]; i++) {
        for (unsigned r = 0; r < TS_TESTUTIL_ROLE_COUNT; r++) {
            const char *role = ts_testutil_principal_get((ts_testutil_role)r)->name;
            char path[256];
            snprintf(path, sizeof path, "%s%s", matrix[i].path, matrix[i].own ? role : "");
            reply rep = call(matrix[i].method, path, tokens[r], matrix[i].body);
            long want = shadow || matrix[i].allow[r] ? 200 : 403;
            CHECK(rep.status == want, "%s: %s %s as %s: %ld, want %ld: %s",
                  shadow ? "shadow" : "enforce", matrix[i].method, path, role, rep.status, want,
                  rep.body);
            if (want == 403)
                CHECK(strstr(rep.body, "\"code\":\"AUTHZ_DENIED\"") &&
                          strstr(rep.body, "\"schema_version\":\"authz.deny.v1\""),
                      "deny body: %s", rep.body);
        }
    }
}

/* The policy_version from /authz/diagnostics into @p out (65 bytes). */
static bool policy_version(char *out)
{
    reply r = call("GET", "/authz/diagnostics", NULL, NULL);
    const char *p = strstr(r.body, "\"policy_version\":\"");
    if (r.status != 200 || !p || strlen(p + 18) < 64)
        return false;
    memcpy(out, p + 18, 64);
    out[64] = '\0';
    return true;
}

static void authn_checks(const ts_testutil_key *key, char *const tokens[])
{
    reply r = call("GET", "/health", NULL, NULL);
    CHECK(r.status == 200 && strstr(r.body, "\"ok\""), "/health: %ld %s", r.status, r.body);
    r = call("GET", "/v1/nodes", NULL, NULL);
    CHECK(r.status == 401 && strstr(r.body, "AUTHN_REQUIRED"), "no token: %ld %s", r.status,
          r.body);
    static const ts_testutil_flaw flaws[] = {
        TS_TESTUTIL_FLAW_EXPIRED,       TS_TESTUTIL_FLAW_NOT_YET_VALID,
        TS_TESTUTIL_FLAW_WRONG_ISSUER,  TS_TESTUTIL_FLAW_WRONG_AUDIENCE,
        TS_TESTUTIL_FLAW_BAD_SIGNATURE, TS_TESTUTIL_FLAW_ALG_NONE,
        TS_TESTUTIL_FLAW_UNKNOWN_KID,   TS_TESTUTIL_FLAW_MISSING_KID};
    for (size_t i = 0; i < sizeof flaws / sizeof flaws[0]; i++) {
        char *bad = ts_testutil_mint_for(key, TS_TESTUTIL_ADMIN, NULL, NULL, flaws[i], NULL);
        r = call("GET", "/v1/nodes", bad, NULL);
        CHECK(r.status == 401, "%s token: %ld", ts_testutil_flaw_name(flaws[i]), r.status);
        ts_free(bad);
    }
    /* The principal reaches the handlers. */
    for (unsigned i = 0; i < TS_TESTUTIL_ROLE_COUNT; i++) {
        const ts_testutil_principal *p = ts_testutil_principal_get((ts_testutil_role)i);
        r = call("GET", "/v1/whoami", tokens[i], NULL);
        char want[256];
        snprintf(want, sizeof want, "{\"id\":\"%s\",\"type\":\"%s\"", p->id, p->type);
        CHECK(r.status == 200 && strncmp(r.body, want, strlen(want)) == 0 &&
                  strstr(r.body, p->name),
              "whoami %s: %ld %s", p->name, r.status, r.body);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: minisvc_test MINISVC FRAGMENT\n");
        return 2;
    }
    char dir[] = "/tmp/minisvc-test-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    ts_error err;
    ts_error_clear(&err);
    ts_testutil_key *key = ts_testutil_key_p256(&err);
    const ts_testutil_key *keys[] = {key};
    ts_jwks *set = key ? ts_testutil_jwks(keys, 1, &err) : NULL;
    char jwks[4096];
    snprintf(jwks, sizeof jwks, "%s/jwks.json", dir);
    ts_testutil_policy_dir *pd = ts_testutil_policy_dir_new(&err);
    const char *site[] = {"# site fragment: nothing beyond the baseline yet"};
    if (!set || !pd || ts_testutil_jwks_write(set, jwks, &err) != TS_OK ||
        ts_testutil_policy_dir_write(pd, "00-site.csv", site, 1, &err) != TS_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    char *tokens[TS_TESTUTIL_ROLE_COUNT];
    for (unsigned i = 0; i < TS_TESTUTIL_ROLE_COUNT; i++)
        tokens[i] =
            ts_testutil_mint_for(key, (ts_testutil_role)i, NULL, NULL, TS_TESTUTIL_FLAW_NONE, NULL);

    /* Enforce: the matrix, unmapped routes, metrics, then a SIGHUP reload. */
    pid_t pid = start(argv[1], dir, jwks, ts_testutil_policy_dir_path(pd), "enforce", false);
    CHECK(pid > 0, "minisvc (enforce) started");
    if (pid > 0) {
        authn_checks(key, tokens);
        run_matrix(tokens, false);
        reply r = call("GET", "/v1/elsewhere", tokens[TS_TESTUTIL_ADMIN], NULL);
        CHECK(r.status == 403 && strstr(r.body, "AUTHZ_UNMAPPED"), "unmapped: %ld %s", r.status,
              r.body);
        r = call("GET", "/metrics", NULL, NULL);
        CHECK(r.status == 200 && strstr(r.body, "authz_decisions_total{"), "metrics: %ld %.200s",
              r.status, r.body);
        char before[65], after[65] = "";
        CHECK(policy_version(before), "diagnostics before reload");
        r = call("GET", "/authz/diagnostics", NULL, NULL);
        CHECK(strstr(r.body, "\"mode\":\"enforce\""), "diagnostics mode: %s", r.body);

        /* Grant role:admin the reload object in a new fragment; SIGHUP picks it up. */
        char *frag = NULL;
        CHECK(ts_testutil_read_file(argv[2], &frag, NULL, NULL) == TS_OK, "read %s", argv[2]);
        char fpath[4096];
        snprintf(fpath, sizeof fpath, "%s/10-minisvc.csv", ts_testutil_policy_dir_path(pd));
        CHECK(frag && ts_testutil_write_file(fpath, frag, strlen(frag), NULL) == TS_OK,
              "write fragment");
        ts_free(frag);
        kill(pid, SIGHUP);
        for (int i = 0; i < 100 && (!policy_version(after) || strcmp(after, before) == 0); i++)
            ts_harness_sleep_ms(100);
        CHECK(strcmp(after, before) != 0, "policy_version after SIGHUP: %s (was %s)", after,
              before);
        r = call("POST", "/v1/admin/reload", tokens[TS_TESTUTIL_ADMIN], "");
        CHECK(r.status == 200 && strstr(r.body, after), "admin reload after SIGHUP: %ld %s",
              r.status, r.body);
        r = call("POST", "/v1/admin/reload", tokens[TS_TESTUTIL_OPERATOR], "");
        CHECK(r.status == 403, "operator reload after SIGHUP: %ld", r.status);
        unlink(fpath);
        CHECK(ts_harness_stop(pid) == 0, "minisvc (enforce) stopped cleanly");
    }

    /* Shadow (chosen through the environment): decisions are recorded, nothing is blocked,
       but a request without a valid token is still refused by authn. */
    pid = start(argv[1], dir, jwks, ts_testutil_policy_dir_path(pd), "shadow", true);
    CHECK(pid > 0, "minisvc (shadow) started");
    if (pid > 0) {
        authn_checks(key, tokens);
        run_matrix(tokens, true);
        reply r = call("GET", "/authz/diagnostics", NULL, NULL);
        CHECK(strstr(r.body, "\"mode\":\"shadow\""), "diagnostics mode: %s", r.body);
        r = call("GET", "/metrics", NULL, NULL);
        CHECK(strstr(r.body, "decision=\"deny\"") && strstr(r.body, "mode=\"shadow\""),
              "shadow records denials: %.400s", r.body);
        CHECK(ts_harness_stop(pid) == 0, "minisvc (shadow) stopped cleanly");
    }

    for (unsigned i = 0; i < TS_TESTUTIL_ROLE_COUNT; i++)
        ts_free(tokens[i]);
    ts_testutil_policy_dir_free(pd);
    ts_jwks_free(set);
    ts_testutil_key_free(key);
    char path[4096];
    const char *files[] = {"jwks.json", "port", "minisvc-enforce.log", "minisvc-shadow.log"};
    if (ts_harness_failed == 0) {
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, files[i]);
            unlink(path);
        }
        rmdir(dir);
    } else {
        printf("logs kept in %s\n", dir);
    }
    return ts_harness_summary();
}
