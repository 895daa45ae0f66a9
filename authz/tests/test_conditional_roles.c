/* Conditional role links (`g = _, _, (_, _)`): Casbin's temporal role examples with Go's
 * expectations (TestTemporalRolesModel, TestTemporalRolesModelWithDomain) under a fixed clock,
 * timeMatch's bounds, conditions on every link, errors, and decisions from many threads while
 * the clock moves. The clock is injected, so no result depends on today's date. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <tokensmith/authz.h>
#include <tokensmith/authz_functions.h>

#define EXAMPLES TS_SHARED_DIR "/casbin-conformance/examples"

/* ---- an injectable clock ----------------------------------------------------------------- */

static atomic_llong clock_sec;
static atomic_long clock_nsec;

static void fixed_now(void *ud, struct timespec *now)
{
    (void)ud;
    now->tv_sec = (time_t)atomic_load(&clock_sec);
    now->tv_nsec = atomic_load(&clock_nsec);
}

static const ts_authz_clock CLOCK = {fixed_now, NULL};

/* 2024-06-01 12:00:00 UTC */
#define JUNE_2024 1717243200LL

static void set_clock(long long sec, long nsec)
{
    atomic_store(&clock_sec, sec);
    atomic_store(&clock_nsec, nsec);
}

/* ---- helpers ---------------------------------------------------------------------------- */

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

static ts_authz_enforcer *make(const char *model, const char *csv, ts_error *err)
{
    ts_error_clear(err);
    ts_authz_model *m = ts_authz_model_parse(model, strlen(model), "model.conf", err);
    if (!m)
        return NULL;
    ts_authz_policy *p = ts_authz_policy_new();
    ts_authz_enforcer *e = NULL;
    ts_authz_function_reg reg = {ts_authz_function_time_match(), (void *)(uintptr_t)&CLOCK};
    if (ts_authz_policy_load_csv(p, csv, strlen(csv), "policy.csv", err) == TS_OK)
        e = ts_authz_enforcer_new_with_functions(m, p, &reg, 1, err);
    ts_authz_policy_free(p);
    ts_authz_model_free(m);
    return e;
}

static ts_authz_enforcer *make_ok(const char *model, const char *csv)
{
    ts_error err;
    ts_authz_enforcer *e = make(model, csv, &err);
    if (!e)
        fail_msg("enforcer: %s (%s)", err.msg, err.where);
    return e;
}

static bool corpus(const char *name, char **model, char **policy)
{
    char path[1024];
    struct stat st;
    if (stat(EXAMPLES, &st) != 0) {
        print_message("skipped: the Casbin conformance corpus is not at %s\n", EXAMPLES);
        return false;
    }
    snprintf(path, sizeof path, "%s/%s_model.conf", EXAMPLES, name);
    *model = read_file(path);
    snprintf(path, sizeof path, "%s/%s_policy.csv", EXAMPLES, name);
    *policy = read_file(path);
    assert_non_null(*model);
    assert_non_null(*policy);
    return true;
}

static bool allowed(const ts_authz_enforcer *e, const char *const *args, size_t n)
{
    bool ok = false;
    ts_error err;
    ts_error_clear(&err);
    if (ts_authz_enforce_strs(e, args, n, &ok, &err) != TS_OK)
        fail_msg("enforce %s,%s: %s (%s)", args[0], args[1], err.msg, err.where);
    return ok;
}

static bool check3(const ts_authz_enforcer *e, const char *a, const char *b, const char *c)
{
    const char *args[] = {a, b, c};
    return allowed(e, args, 3);
}

static bool check4(const ts_authz_enforcer *e, const char *a, const char *b, const char *c,
                   const char *d)
{
    const char *args[] = {a, b, c, d};
    return allowed(e, args, 4);
}

static void cond(ts_authz_enforcer *e, const char *g, const char *user, const char *role,
                 const char *dom, const char *fn)
{
    ts_error err;
    ts_error_clear(&err);
    if (ts_authz_enforcer_add_link_condition(e, g, user, role, dom, fn, &err) != TS_OK)
        fail_msg("condition %s %s: %s", user ? user : "*", role ? role : "*", err.msg);
}

/* ---- Go's temporal role tests ----------------------------------------------------------- */

/* Go's expectation for dataN (N = 1..8) at any time between years 0000 and 9999. */
static const bool TEMPORAL_WANT[9] = {false, true, false, true, true, true, false, true, false};

static void temporal_roles(void **state)
{
    (void)state;
    char *model, *policy;
    if (!corpus("rbac_with_temporal_roles", &model, &policy))
        skip();
    set_clock(JUNE_2024, 0);
    ts_authz_enforcer *e = make_ok(model, policy);
    for (int n = 2; n <= 8; n++) {
        char role[32];
        snprintf(role, sizeof role, "data%d_admin", n);
        cond(e, "g", "alice", role, NULL, "timeMatch");
    }
    for (int n = 1; n <= 8; n++) {
        char obj[16];
        snprintf(obj, sizeof obj, "data%d", n);
        if (check3(e, "alice", obj, "read") != TEMPORAL_WANT[n] ||
            check3(e, "alice", obj, "write") != TEMPORAL_WANT[n])
            fail_msg("alice %s: want %d", obj, TEMPORAL_WANT[n]);
    }
    /* Without a registered condition a link is always present, whatever its parameters. */
    ts_authz_enforcer *plain = make_ok(model, policy);
    for (int n = 1; n <= 8; n++) {
        char obj[16];
        snprintf(obj, sizeof obj, "data%d", n);
        assert_true(check3(plain, "alice", obj, "read"));
    }
    /* One condition for every link of g gives the same answers. */
    cond(plain, "g", NULL, NULL, NULL, "timeMatch");
    for (int n = 1; n <= 8; n++) {
        char obj[16];
        snprintf(obj, sizeof obj, "data%d", n);
        assert_int_equal(check3(plain, "alice", obj, "read"), TEMPORAL_WANT[n]);
    }
    /* Conditions survive a reload. */
    ts_error err;
    ts_authz_policy *p = ts_authz_policy_new();
    assert_int_equal(ts_authz_policy_load_csv(p, policy, strlen(policy), "p.csv", &err), TS_OK);
    assert_int_equal(ts_authz_enforcer_reload(plain, NULL, p, &err), TS_OK);
    assert_false(check3(plain, "alice", "data2", "read"));
    assert_true(check3(plain, "alice", "data3", "read"));
    ts_authz_policy_free(p);
    ts_authz_enforcer_free(plain);
    ts_authz_enforcer_free(e);
    free(model);
    free(policy);
}

static void temporal_roles_with_domains(void **state)
{
    (void)state;
    char *model, *policy;
    if (!corpus("rbac_with_domain_temporal_roles", &model, &policy))
        skip();
    set_clock(JUNE_2024, 0);
    ts_authz_enforcer *e = make_ok(model, policy);
    for (int n = 2; n <= 8; n++) {
        char role[32], dom[16];
        snprintf(role, sizeof role, "data%d_admin", n);
        snprintf(dom, sizeof dom, "domain%d", n);
        cond(e, "g", "alice", role, dom, "timeMatch");
    }
    for (int n = 1; n <= 8; n++) {
        char obj[16], dom[16];
        snprintf(obj, sizeof obj, "data%d", n);
        snprintf(dom, sizeof dom, "domain%d", n);
        if (check4(e, "alice", dom, obj, "read") != TEMPORAL_WANT[n] ||
            check4(e, "alice", dom, obj, "write") != TEMPORAL_WANT[n])
            fail_msg("alice %s %s: want %d", dom, obj, TEMPORAL_WANT[n]);
        assert_false(check4(e, "alice", "domain_not_exist", obj, "read"));
        assert_false(check4(e, "alice", "domain_not_exist", obj, "write"));
    }
    /* A condition registered for another domain does not apply. */
    ts_authz_enforcer *other = make_ok(model, policy);
    cond(other, "g", "alice", "data2_admin", "domain3", "timeMatch");
    assert_true(check4(other, "alice", "domain2", "data2", "read"));
    ts_authz_enforcer_free(other);
    ts_authz_enforcer_free(e);
    free(model);
    free(policy);
}

/* ---- timeMatch ---------------------------------------------------------------------------- */

static const char *TMODEL = "[request_definition]\nr = sub, obj\n"
                            "[policy_definition]\np = sub, obj\n"
                            "[role_definition]\ng = _, _, (_, _)\n"
                            "[policy_effect]\ne = some(where (p.eft == allow))\n"
                            "[matchers]\nm = g(r.sub, p.sub) && r.obj == p.obj\n";

static void time_window_bounds(void **state)
{
    (void)state;
    const char *csv = "p, staff, doc\n"
                      "p, night, log\n"
                      "p, broken, bad\n"
                      "p, empty, nil\n"
                      "g, alice, staff, 2024-06-01 12:00:00, 2024-06-01 13:00:00\n"
                      "g, alice, night, _, 2024-06-01 12:00:00.5\n"
                      "g, alice, broken, 2024-13-01 00:00:00, _\n"
                      "g, alice, empty, , _\n";
    ts_authz_enforcer *e = make_ok(TMODEL, csv);
    cond(e, "g", NULL, NULL, NULL, "timeMatch");
    /* Both bounds are strict, as Go's After and Before; the clock's nanoseconds count. */
    set_clock(JUNE_2024, 0);
    const char *a1[] = {"alice", "doc"};
    assert_false(allowed(e, a1, 2));
    set_clock(JUNE_2024, 1);
    assert_true(allowed(e, a1, 2));
    set_clock(JUNE_2024 + 3599, 999999999);
    assert_true(allowed(e, a1, 2));
    set_clock(JUNE_2024 + 3600, 0);
    assert_false(allowed(e, a1, 2));
    /* A fractional second in a bound, as Go's Parse accepts. */
    const char *a2[] = {"alice", "log"};
    set_clock(JUNE_2024, 499999999);
    assert_true(allowed(e, a2, 2));
    set_clock(JUNE_2024, 500000000);
    assert_false(allowed(e, a2, 2));
    /* A bound that does not parse (month 13, or empty) removes the link without failing the
     * decision, as Go logs the error and skips the link. */
    const char *a3[] = {"alice", "bad"};
    const char *a4[] = {"alice", "nil"};
    assert_false(allowed(e, a3, 2));
    assert_false(allowed(e, a4, 2));
    ts_authz_enforcer_free(e);

    /* Layout details: one-digit hours, year 0000, February 29th only in leap years. */
    const char *csv2 = "p, r1, a\np, r2, b\np, r3, c\np, r4, d\n"
                       "g, u, r1, 2024-06-01 9:00:00, _\n"
                       "g, u, r2, 0000-02-29 00:00:00, _\n"
                       "g, u, r3, 2023-02-29 00:00:00, _\n"
                       "g, u, r4, 2024-06-01 12:00:00 UTC, _\n";
    e = make_ok(TMODEL, csv2);
    cond(e, "g", NULL, NULL, NULL, "timeMatch");
    set_clock(JUNE_2024, 0);
    const char *b1[] = {"u", "a"}, *b2[] = {"u", "b"}, *b3[] = {"u", "c"}, *b4[] = {"u", "d"};
    assert_true(allowed(e, b1, 2));
    assert_true(allowed(e, b2, 2));
    assert_false(allowed(e, b3, 2));
    assert_false(allowed(e, b4, 2));
    set_clock(JUNE_2024 - 3 * 3600, 0); /* 09:00:00 exactly */
    assert_false(allowed(e, b1, 2));
    ts_authz_enforcer_free(e);
}

/* ---- hops and domains --------------------------------------------------------------------- */

static void every_link_is_checked(void **state)
{
    (void)state;
    const char *model = "[request_definition]\nr = sub, dom, obj\n"
                        "[policy_definition]\np = sub, dom, obj\n"
                        "[role_definition]\ng = _, _, _, (_, _)\n"
                        "[policy_effect]\ne = some(where (p.eft == allow))\n"
                        "[matchers]\nm = g(r.sub, p.sub, r.dom) && r.dom == p.dom && "
                        "r.obj == p.obj\n";
    const char *csv = "p, top, d1, data\n"
                      "g, alice, mid, d1, _, _\n"
                      "g, mid, top, d1, _, 2000-01-01 00:00:00\n"
                      "g, bob, top, d1, _, _\n"
                      "g, bob, top, d1, _, 2000-01-01 00:00:00\n";
    ts_authz_enforcer *e = make_ok(model, csv);
    set_clock(JUNE_2024, 0);
    assert_true(check3(e, "alice", "d1", "data"));
    cond(e, "g", NULL, NULL, "d1", "timeMatch");
    /* The second link has expired: Go would check only the first link of a domain search. */
    assert_false(check3(e, "alice", "d1", "data"));
    /* The same link twice: the parameters of the last rule count, as in Go. */
    assert_false(check3(e, "bob", "d1", "data"));
    /* A hop limit of TS_AUTHZ_ROLE_MAX_HOPS links, as plain role managers. */
    char chain[4096];
    size_t len = (size_t)snprintf(chain, sizeof chain, "p, r%d, data\n", TS_AUTHZ_ROLE_MAX_HOPS);
    for (int i = 0; i < TS_AUTHZ_ROLE_MAX_HOPS; i++)
        len += (size_t)snprintf(chain + len, sizeof chain - len, "g, r%d, r%d, _, _\n", i, i + 1);
    ts_authz_enforcer *c = make_ok(TMODEL, chain);
    cond(c, "g", NULL, NULL, NULL, "timeMatch");
    const char *a[] = {"r0", "data"};
    assert_true(allowed(c, a, 2));
    ts_authz_enforcer_free(c);
    len += (size_t)snprintf(chain + len, sizeof chain - len, "p, r%d, far\ng, r%d, r%d, _, _\n",
                            TS_AUTHZ_ROLE_MAX_HOPS + 1, TS_AUTHZ_ROLE_MAX_HOPS,
                            TS_AUTHZ_ROLE_MAX_HOPS + 1);
    c = make_ok(TMODEL, chain);
    const char *far[] = {"r0", "far"};
    assert_false(allowed(c, far, 2));
    ts_authz_enforcer_free(c);
    ts_authz_enforcer_free(e);
}

/* ---- errors --------------------------------------------------------------------------------- */

static ts_status one_arg(void *ud, const ts_authz_value *a, size_t n, ts_authz_value *out,
                         ts_error *err)
{
    (void)ud;
    (void)a;
    (void)n;
    (void)err;
    out->kind = TS_AUTHZ_KIND_BOOL;
    out->b = true;
    return TS_OK;
}

static void errors(void **state)
{
    (void)state;
    ts_error err;
    /* Model shapes. */
    const char *bad[] = {"g = _, (_, _)", "g = _, _, _, _, (_, _)", "g = (_, _)"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char model[512];
        snprintf(model, sizeof model,
                 "[request_definition]\nr = sub, obj\n[policy_definition]\np = sub, obj\n"
                 "[role_definition]\n%s\n[policy_effect]\ne = some(where (p.eft == allow))\n"
                 "[matchers]\nm = g(r.sub, p.sub)\n",
                 bad[i]);
        ts_error_clear(&err);
        ts_authz_model *m = ts_authz_model_parse(model, strlen(model), "m.conf", &err);
        if (m)
            fail_msg("%s parsed", bad[i]);
        assert_int_equal(err.code, TS_EPARSE);
    }
    /* A g rule needs the parameter fields too (Go: "grouping policy elements do not meet
     * role definition"). */
    assert_null(make(TMODEL, "g, alice, staff, _\n", &err));

    ts_authz_enforcer *e = make_ok(TMODEL, "p, staff, doc\ng, alice, staff, _, _\n");
    ts_error_clear(&err);
    assert_int_equal(
        ts_authz_enforcer_add_link_condition(e, "g2", "a", "b", NULL, "timeMatch", &err),
        TS_ENOTFOUND);
    assert_int_equal(ts_authz_enforcer_add_link_condition(e, "g", "a", "b", NULL, "nope", &err),
                     TS_ENOTFOUND);
    assert_int_equal(
        ts_authz_enforcer_add_link_condition(e, "g", "a", "b", "d1", "timeMatch", &err), TS_EINVAL);
    assert_int_equal(
        ts_authz_enforcer_add_link_condition(e, "g", "a", NULL, NULL, "timeMatch", &err),
        TS_EINVAL);
    ts_authz_function f = {"oneArg", 1, {TS_AUTHZ_KIND_STRING}, TS_AUTHZ_KIND_BOOL, one_arg};
    assert_int_equal(ts_authz_enforcer_add_function(e, &f, NULL, &err), TS_OK);
    assert_int_equal(ts_authz_enforcer_add_link_condition(e, "g", "a", "b", NULL, "oneArg", &err),
                     TS_EINVAL);
    /* Pattern functions are refused on a conditional definition; the old snapshot stays. */
    assert_int_equal(ts_authz_enforcer_set_role_matching(e, "g", TS_AUTHZ_MATCH_KEYMATCH, &err),
                     TS_EUNSUPPORTED);
    const char *a[] = {"alice", "doc"};
    assert_true(allowed(e, a, 2));
    /* Role lists would depend on the moment: refused. */
    char **roles = NULL;
    size_t nroles = 0;
    assert_int_equal(
        ts_authz_enforcer_implicit_roles(e, "g", "alice", 5, NULL, 16, &roles, &nroles, &err),
        TS_EUNSUPPORTED);
    ts_authz_enforcer_free(e);

    /* A plain definition takes no conditions. */
    const char *plain = "[request_definition]\nr = sub, obj\n[policy_definition]\np = sub, obj\n"
                        "[role_definition]\ng = _, _\n"
                        "[policy_effect]\ne = some(where (p.eft == allow))\n"
                        "[matchers]\nm = g(r.sub, p.sub)\n";
    e = make_ok(plain, "g, a, b\n");
    assert_int_equal(
        ts_authz_enforcer_add_link_condition(e, "g", "a", "b", NULL, "timeMatch", &err), TS_EINVAL);
    ts_authz_enforcer_free(e);
}

/* ---- threads ------------------------------------------------------------------------------ */

typedef struct thread_arg {
    const ts_authz_enforcer *e;
    atomic_int *stop;
    atomic_long errors;
} thread_arg;

static void *decide_loop(void *p)
{
    thread_arg *t = p;
    const char *a[] = {"alice", "doc"};
    for (int i = 0; !atomic_load(t->stop) && i < 100000; i++) {
        bool ok = false;
        ts_error err;
        if (ts_authz_enforce_strs(t->e, a, 2, &ok, &err) != TS_OK)
            atomic_fetch_add(&t->errors, 1);
    }
    return NULL;
}

static void concurrent_decisions(void **state)
{
    (void)state;
    ts_authz_enforcer *e =
        make_ok(TMODEL, "p, staff, doc\ng, alice, staff, 2024-06-01 12:00:00, _\n");
    cond(e, "g", "alice", "staff", NULL, "timeMatch");
    atomic_int stop = 0;
    thread_arg t = {e, &stop, 0};
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, decide_loop, &t), 0);
    for (int i = 0; i < 2000; i++)
        set_clock(JUNE_2024 + (i % 2 ? 1 : -1), 0);
    for (int i = 0; i < 10; i++)
        cond(e, "g", "alice", "staff", NULL, "timeMatch");
    atomic_store(&stop, 1);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&t.errors), 0);
    set_clock(JUNE_2024 + 1, 0);
    const char *a[] = {"alice", "doc"};
    assert_true(allowed(e, a, 2));
    set_clock(JUNE_2024 - 1, 0);
    assert_false(allowed(e, a, 2));
    ts_authz_enforcer_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(temporal_roles),
        cmocka_unit_test(temporal_roles_with_domains),
        cmocka_unit_test(time_window_bounds),
        cmocka_unit_test(every_link_is_checked),
        cmocka_unit_test(errors),
        cmocka_unit_test(concurrent_decisions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
