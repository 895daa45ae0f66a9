/* A downstream program using the installed authz library. */
#include <stdio.h>

#include <tokensmith/authz.h>
#include <tokensmith/version.h>

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    ts_error err;
    ts_error_clear(&err);
    ts_authz_model *m = ts_authz_model_load_file(argv[1], &err);
    ts_authz_policy *p = ts_authz_policy_new();
    if (!m || !p || ts_authz_policy_load_file(p, argv[2], &err) != TS_OK) {
        fprintf(stderr, "load: %s\n", err.msg);
        return 1;
    }
    ts_authz_enforcer *e = ts_authz_enforcer_new(m, p, &err);
    if (!e) {
        fprintf(stderr, "enforcer: %s\n", err.msg);
        return 1;
    }
    const char *yes[] = {"alice", "data2", "read"}, *no[] = {"bob", "data1", "read"};
    bool a = false, b = true;
    if (ts_authz_enforce_strs(e, yes, 3, &a, &err) != TS_OK ||
        ts_authz_enforce_strs(e, no, 3, &b, &err) != TS_OK || !a || b) {
        fprintf(stderr, "unexpected decision\n");
        return 1;
    }
    printf("tokensmith %s: decisions ok\n", TS_VERSION_STRING);
    ts_authz_enforcer_free(e);
    ts_authz_policy_free(p);
    ts_authz_model_free(m);
    return 0;
}
