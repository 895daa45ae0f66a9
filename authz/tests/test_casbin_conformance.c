/* Replays the Casbin conformance corpus (enforce_cases.json: suites of rows with the results
 * of Go casbin v3) through the engine. Every row is compared with `go_v3`; a row whose
 * expected value is an "ERROR: ..." string passes when building the enforcer or deciding
 * fails. Every row must pass: a row that differs is printed (DIFF ...) and fails the test,
 * whatever the size of the corpus. Every case here needs the corpus in ../shared
 * (TS_SHARED_DIR): without it the test reports itself skipped (exit 77). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <tokensmith/authz.h>

static char corpus_dir[1024];

static bool corpus_present(void)
{
    struct stat st;
    snprintf(corpus_dir, sizeof corpus_dir, "%s/casbin-conformance", TS_SHARED_DIR);
    char f[1100];
    snprintf(f, sizeof f, "%s/enforce_cases.json", corpus_dir);
    return stat(f, &st) == 0;
}

typedef struct suite_env {
    ts_authz_enforcer *e;
    ts_error init_err;
} suite_env;

static void setup_suite(json_t *suite, suite_env *env)
{
    ts_error_clear(&env->init_err);
    env->e = NULL;
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", corpus_dir,
             json_string_value(json_object_get(suite, "model")));
    ts_authz_model *m = ts_authz_model_load_file(path, &env->init_err);
    if (!m)
        return;
    ts_authz_policy *p = ts_authz_policy_new();
    json_t *pol = json_object_get(suite, "policy");
    if (json_is_string(pol)) {
        snprintf(path, sizeof path, "%s/%s", corpus_dir, json_string_value(pol));
        if (ts_authz_policy_load_file(p, path, &env->init_err) != TS_OK) {
            ts_authz_policy_free(p);
            ts_authz_model_free(m);
            return;
        }
    }
    env->e = ts_authz_enforcer_new(m, p, &env->init_err);
    ts_authz_policy_free(p);
    ts_authz_model_free(m);
    if (!env->e)
        return;
    size_t i;
    json_t *op;
    json_array_foreach(json_object_get(suite, "setup"), i, op)
    {
        const char *kind = json_string_value(json_array_get(op, 0));
        ts_status st = TS_OK;
        if (strcmp(kind, "addNamedMatchingFunc") == 0 ||
            strcmp(kind, "addNamedDomainMatchingFunc") == 0) {
            const char *g = json_string_value(json_array_get(op, 1));
            ts_authz_match_fn fn =
                ts_authz_match_fn_from_name(json_string_value(json_array_get(op, 2)));
            st = kind[8] == 'D'
                     ? ts_authz_enforcer_set_domain_matching(env->e, g, fn, &env->init_err)
                     : ts_authz_enforcer_set_role_matching(env->e, g, fn, &env->init_err);
        } else if (strcmp(kind, "addPolicy") == 0 || strcmp(kind, "addPermissionForUser") == 0) {
            const char *fields[TS_AUTHZ_MAX_FIELDS];
            size_t n = json_array_size(op) - 1;
            for (size_t f = 0; f < n && f < TS_AUTHZ_MAX_FIELDS; f++)
                fields[f] = json_string_value(json_array_get(op, f + 1));
            st = ts_authz_enforcer_add_rule(env->e, "p", fields, n, &env->init_err);
        } else {
            fail_msg("unknown setup op %s", kind);
        }
        if (st != TS_OK) {
            ts_authz_enforcer_free(env->e);
            env->e = NULL;
            return;
        }
    }
}

static void replay_corpus(void **state)
{
    (void)state;
    char path[1200];
    snprintf(path, sizeof path, "%s/enforce_cases.json", corpus_dir);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    assert_non_null(root);
    size_t si, ci, passed = 0, failed = 0;
    json_t *suite, *row;
    json_array_foreach(json_object_get(root, "suites"), si, suite)
    {
        suite_env env;
        setup_suite(suite, &env);
        json_t *ctxj = json_object_get(suite, "enforce_context");
        ts_authz_context ctx = {0};
        if (json_is_array(ctxj)) {
            ctx.rtype = json_string_value(json_array_get(ctxj, 0));
            ctx.ptype = json_string_value(json_array_get(ctxj, 1));
            ctx.etype = json_string_value(json_array_get(ctxj, 2));
            ctx.mtype = json_string_value(json_array_get(ctxj, 3));
        }
        json_array_foreach(json_object_get(suite, "cases"), ci, row)
        {
            json_t *want = json_object_get(row, "go_v3");
            json_t *req = json_object_get(row, "req");
            ts_authz_arg args[TS_AUTHZ_MAX_FIELDS];
            size_t n = json_array_size(req);
            for (size_t k = 0; k < n && k < TS_AUTHZ_MAX_FIELDS; k++) {
                args[k].ptr = json_string_value(json_array_get(req, k));
                args[k].len = strlen(args[k].ptr);
                args[k].is_json = false;
            }
            ts_error err;
            ts_error_clear(&err);
            ts_authz_decision d = {0};
            ts_status st = TS_EINVAL;
            if (env.e)
                st = ts_authz_enforce_ex(env.e, json_is_array(ctxj) ? &ctx : NULL, args, n, false,
                                         &d, &err);
            else
                err = env.init_err;
            bool ok;
            if (json_is_string(want))
                ok = st != TS_OK;
            else
                ok = st == TS_OK && d.allowed == json_is_true(want);
            ts_authz_decision_cleanup(&d);
            if (ok) {
                passed++;
            } else {
                failed++;
                char *reqs = json_dumps(req, JSON_COMPACT);
                printf("DIFF %s %s: want %s, got %s%s%s%s\n",
                       json_string_value(json_object_get(suite, "name")), reqs,
                       json_is_string(want) ? json_string_value(want)
                                            : (json_is_true(want) ? "true" : "false"),
                       st != TS_OK ? "error: " : (d.allowed ? "true" : "false"),
                       st != TS_OK ? err.msg : "", st != TS_OK && err.where[0] ? " @ " : "",
                       st != TS_OK ? err.where : "");
                free(reqs);
            }
        }
        ts_authz_enforcer_free(env.e);
    }
    json_decref(root);
    printf("%zu passed, %zu failed\n", passed, failed);
    printf("conformance: %zu of %zu rows equal Go v3\n", passed, passed + failed);
    assert_true(passed > 0); /* an empty or unreadable corpus proves nothing */
    assert_int_equal(failed, 0);
}

int main(void)
{
    if (!corpus_present()) {
        printf("skipped: Casbin conformance corpus not found under %s\n", TS_SHARED_DIR);
        return 77;
    }
    const struct CMUnitTest tests[] = {cmocka_unit_test(replay_corpus)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
