/* Enforcer behaviour on the project's own models and policies: effects, priority, domains,
 * ABAC, eval(), explain, errors naming file and line, mutations, reload, index equivalence and
 * concurrent decisions during mutations. */
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

#include <tokensmith/authz.h>

static const char *RBAC_MODEL =
    "[request_definition]\nr = sub, obj, act\n"
    "[policy_definition]\np = sub, obj, act\n"
    "[role_definition]\ng = _, _\n"
    "[policy_effect]\ne = some(where (p.eft == allow))\n"
    "[matchers]\nm = g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act\n";

/* Same semantics, but the parentheses hide the conjuncts from the index: a full scan. */
static const char *RBAC_MODEL_SCAN =
    "[request_definition]\nr = sub, obj, act\n"
    "[policy_definition]\np = sub, obj, act\n"
    "[role_definition]\ng = _, _\n"
    "[policy_effect]\ne = some(where (p.eft == allow))\n"
    "[matchers]\nm = (g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act)\n";

static ts_authz_enforcer *make(const char *model, const char *csv, ts_error *err)
{
    ts_error_clear(err);
    ts_authz_model *m = ts_authz_model_parse(model, strlen(model), "model.conf", err);
    if (!m)
        return NULL;
    ts_authz_policy *p = ts_authz_policy_new();
    ts_authz_enforcer *e = NULL;
    if (ts_authz_policy_load_csv(p, csv, strlen(csv), "policy.csv", err) == TS_OK)
        e = ts_authz_enforcer_new(m, p, err);
    ts_authz_policy_free(p);
    ts_authz_model_free(m);
    return e;
}

static bool check3(ts_authz_enforcer *e, const char *a, const char *b, const char *c)
{
    const char *args[] = {a, b, c};
    bool ok = false;
    ts_error err;
    ts_error_clear(&err);
    ts_status st = ts_authz_enforce_strs(e, args, 3, &ok, &err);
    if (st != TS_OK)
        fail_msg("enforce %s,%s,%s: %s (%s)", a, b, c, err.msg, err.where);
    return ok;
}

static void rbac_and_explain(void **state)
{
    (void)state;
    ts_error err;
    ts_authz_enforcer *e = make(RBAC_MODEL,
                                "p, alice, data1, read\np, bob, data2, write\n"
                                "p, data2_admin, data2, read\np, data2_admin, data2, write\n"
                                "g, alice, data2_admin\n",
                                &err);
    assert_non_null(e);
    assert_true(check3(e, "alice", "data1", "read"));
    assert_false(check3(e, "alice", "data1", "write"));
    assert_true(check3(e, "alice", "data2", "read"));
    assert_true(check3(e, "alice", "data2", "write"));
    assert_false(check3(e, "bob", "data2", "read"));
    assert_true(check3(e, "bob", "data2", "write"));
    ts_authz_arg args[3] = {{"alice", 5, false}, {"data2", 5, false}, {"read", 4, false}};
    ts_authz_decision d;
    assert_int_equal(ts_authz_enforce_ex(e, NULL, args, 3, true, &d, &err), TS_OK);
    assert_true(d.allowed);
    assert_true(d.has_rule);
    assert_string_equal(d.rule, "p, data2_admin, data2, read");
    ts_authz_decision_cleanup(&d);
    /* Wrong arity is an error, not a denial. */
    ts_error_clear(&err);
    assert_int_not_equal(ts_authz_enforce_ex(e, NULL, args, 2, false, &d, &err), TS_OK);
    assert_non_null(strstr(err.msg, "invalid request size: expected 3, got 2"));
    ts_authz_enforcer_free(e);
}

static void effects(void **state)
{
    (void)state;
#define EFFECT_MODEL_TEMPLATE                                                                      \
    "[request_definition]\nr = sub, obj, act\n"                                                    \
    "[policy_definition]\np = sub, obj, act, eft\n"                                                \
    "[policy_effect]\ne = %s\n"                                                                    \
    "[matchers]\nm = r.sub == p.sub && r.obj == p.obj && r.act == p.act\n"
    const char *csv = "p, alice, data1, read, allow\np, alice, data1, read, deny\n"
                      "p, bob, data2, read, deny\np, carol, data3, read, allow\n"
                      "p, dave, data4, read,\n";
    struct {
        const char *effect;
        bool alice, bob, carol, dave, nobody;
    } cases[] = {
        {"some(where (p.eft == allow))", true, false, true, false, false},
        {"!some(where (p.eft == deny))", false, false, true, true, true},
        {"some(where (p.eft == allow)) && !some(where (p.eft == deny))", false, false, true, false,
         false},
        {"priority(p.eft) || deny", true, false, true, false, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char model[1024];
        snprintf(model, sizeof model, EFFECT_MODEL_TEMPLATE, cases[i].effect);
        ts_error err;
        ts_authz_enforcer *e = make(model, csv, &err);
        assert_non_null(e);
        assert_int_equal(check3(e, "alice", "data1", "read"), cases[i].alice);
        assert_int_equal(check3(e, "bob", "data2", "read"), cases[i].bob);
        assert_int_equal(check3(e, "carol", "data3", "read"), cases[i].carol);
        assert_int_equal(check3(e, "dave", "data4", "read"), cases[i].dave);
        assert_int_equal(check3(e, "zed", "data9", "read"), cases[i].nobody);
        ts_authz_enforcer_free(e);
    }
}

static void explicit_priority_and_add(void **state)
{
    (void)state;
    const char *model = "[request_definition]\nr = sub, obj, act\n"
                        "[policy_definition]\np = priority, sub, obj, act, eft\n"
                        "[role_definition]\ng = _, _\n"
                        "[policy_effect]\ne = priority(p.eft) || deny\n"
                        "[matchers]\nm = g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act\n";
    const char *csv = "p, 10, data1_deny_group, data1, read, deny\n"
                      "p, 1, alice, data1, read, allow\n"
                      "p, 10, bob, data2, write, allow\n"
                      "g, alice, data1_deny_group\n";
    ts_error err;
    ts_authz_enforcer *e = make(model, csv, &err);
    assert_non_null(e);
    /* The priority-1 allow sorts before the priority-10 deny, whatever the file order. */
    assert_true(check3(e, "alice", "data1", "read"));
    assert_true(check3(e, "bob", "data2", "write"));
    const char *deny[] = {"1", "bob", "data2", "write", "deny"};
    assert_int_equal(ts_authz_enforcer_add_rule(e, "p", deny, 5, &err), TS_OK);
    assert_false(check3(e, "bob", "data2", "write"));
    bool removed = false;
    assert_int_equal(ts_authz_enforcer_remove_rule(e, "p", deny, 5, &removed, &err), TS_OK);
    assert_true(removed);
    assert_true(check3(e, "bob", "data2", "write"));
    ts_authz_enforcer_free(e);
}

static void subject_priority(void **state)
{
    (void)state;
    const char *model = "[request_definition]\nr = sub, obj, act\n"
                        "[policy_definition]\np = sub, obj, act, eft\n"
                        "[role_definition]\ng = _, _\n"
                        "[policy_effect]\ne = subjectPriority(p.eft) || deny\n"
                        "[matchers]\nm = g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act\n";
    const char *csv = "p, root, data1, read, deny\np, admin, data1, read, deny\n"
                      "p, editor, data1, read, deny\np, jane, data1, read, allow\n"
                      "g, admin, root\ng, editor, admin\ng, jane, editor\n";
    ts_error err;
    ts_authz_enforcer *e = make(model, csv, &err);
    assert_non_null(e);
    /* jane's own rule is deepest in the hierarchy, so it decides before her roles' denials. */
    assert_true(check3(e, "jane", "data1", "read"));
    assert_false(check3(e, "editor", "data1", "read"));
    ts_authz_enforcer_free(e);
}

static void domains(void **state)
{
    (void)state;
    const char *model = "[request_definition]\nr = sub, dom, obj, act\n"
                        "[policy_definition]\np = sub, dom, obj, act\n"
                        "[role_definition]\ng = _, _, _\n"
                        "[policy_effect]\ne = some(where (p.eft == allow))\n"
                        "[matchers]\nm = g(r.sub, p.sub, r.dom) && r.dom == p.dom && "
                        "r.obj == p.obj && r.act == p.act\n";
    const char *csv = "p, admin, domain1, data1, read\np, admin, domain2, data2, read\n"
                      "g, alice, admin, domain1\ng, bob, admin, domain2\n";
    ts_error err;
    ts_authz_enforcer *e = make(model, csv, &err);
    assert_non_null(e);
    const char *r1[] = {"alice", "domain1", "data1", "read"};
    const char *r2[] = {"alice", "domain2", "data2", "read"};
    const char *r3[] = {"bob", "domain2", "data2", "read"};
    bool ok;
    assert_int_equal(ts_authz_enforce_strs(e, r1, 4, &ok, &err), TS_OK);
    assert_true(ok);
    assert_int_equal(ts_authz_enforce_strs(e, r2, 4, &ok, &err), TS_OK);
    assert_false(ok);
    assert_int_equal(ts_authz_enforce_strs(e, r3, 4, &ok, &err), TS_OK);
    assert_true(ok);
    ts_authz_enforcer_free(e);
}

static void abac_json_and_eval(void **state)
{
    (void)state;
    const char *model = "[request_definition]\nr = sub, obj, act\n"
                        "[policy_definition]\np = sub_rule, obj, act\n"
                        "[policy_effect]\ne = some(where (p.eft == allow))\n"
                        "[matchers]\nm = eval(p.sub_rule) && r.obj == p.obj && r.act == p.act\n";
    const char *csv = "p, r.sub.Age > 18, /data1, read\n"
                      "p, r.sub.Age < 60 && r.sub.Name == 'bob', /data2, write\n";
    ts_error err;
    ts_authz_enforcer *e = make(model, csv, &err);
    assert_non_null(e);
    const char *adult = "{\"Name\":\"alice\",\"Age\":30}";
    const char *child = "{\"Name\":\"bob\",\"Age\":10}";
    ts_authz_arg a[3] = {{adult, strlen(adult), true}, {"/data1", 6, false}, {"read", 4, false}};
    bool ok = false;
    assert_int_equal(ts_authz_enforce(e, a, 3, &ok, &err), TS_OK);
    assert_true(ok);
    a[0].ptr = child;
    a[0].len = strlen(child);
    assert_int_equal(ts_authz_enforce(e, a, 3, &ok, &err), TS_OK);
    assert_false(ok);
    ts_authz_arg b[3] = {{child, strlen(child), true}, {"/data2", 6, false}, {"write", 5, false}};
    assert_int_equal(ts_authz_enforce(e, b, 3, &ok, &err), TS_OK);
    assert_true(ok);
    /* Malformed JSON is an error naming the argument. */
    ts_authz_arg bad[3] = {{"{\"Age\":", 7, true}, {"/data1", 6, false}, {"read", 4, false}};
    ts_error_clear(&err);
    assert_int_not_equal(ts_authz_enforce(e, bad, 3, &ok, &err), TS_OK);
    assert_non_null(strstr(err.msg, "argument 1"));
    ts_authz_enforcer_free(e);
}

static void load_errors_name_file_and_line(void **state)
{
    (void)state;
    ts_error err;
    assert_null(make(RBAC_MODEL, "p, alice, data1, read\n\np, bob, data2\n", &err));
    assert_non_null(strstr(err.msg, "invalid policy rule size: expected 3, got 2"));
    assert_string_equal(err.where, "policy.csv:3");
    assert_null(make(RBAC_MODEL, "p, alice, data1, read\np3, x, y, z\n", &err));
    assert_non_null(strstr(err.msg, "missing required definition p3 in section p"));
    assert_string_equal(err.where, "policy.csv:2");
    assert_null(make(RBAC_MODEL,
                     "g, alice, data2_admin\ng, data2_admin, super_admin\n"
                     "g, super_admin, alice\n",
                     &err));
    assert_int_equal(err.code, TS_ECYCLE);
    assert_non_null(strstr(err.msg, "alice -> data2_admin -> super_admin -> alice"));
}

static void reload_failure_keeps_old_snapshot(void **state)
{
    (void)state;
    ts_error err;
    ts_authz_enforcer *e = make(RBAC_MODEL, "p, alice, data1, read\n", &err);
    assert_non_null(e);
    uint64_t gen = ts_authz_enforcer_generation(e);
    ts_authz_policy *bad = ts_authz_policy_new();
    const char *fields[] = {"bob", "data2"};
    assert_int_equal(ts_authz_policy_add(bad, "p", fields, 2, &err), TS_OK);
    ts_error_clear(&err);
    assert_int_not_equal(ts_authz_enforcer_reload(e, NULL, bad, &err), TS_OK);
    assert_int_equal(ts_authz_enforcer_generation(e), gen);
    assert_true(check3(e, "alice", "data1", "read"));
    ts_authz_policy_free(bad);

    ts_authz_policy *good = ts_authz_policy_new();
    const char *f2[] = {"bob", "data2", "write"};
    assert_int_equal(ts_authz_policy_add(good, "p", f2, 3, &err), TS_OK);
    assert_int_equal(ts_authz_enforcer_reload(e, NULL, good, &err), TS_OK);
    assert_true(ts_authz_enforcer_generation(e) > gen);
    assert_false(check3(e, "alice", "data1", "read"));
    assert_true(check3(e, "bob", "data2", "write"));
    ts_authz_policy_free(good);
    ts_authz_enforcer_free(e);
}

/* Deterministic PRNG so that failures reproduce. */
static uint64_t rng_state = 42;
static uint32_t rnd(uint32_t n)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)((rng_state >> 33) % n);
}

static void index_agrees_with_scan(void **state)
{
    (void)state;
    size_t cap = 1u << 20, off = 0;
    char *csv = malloc(cap);
    assert_non_null(csv);
    for (int i = 0; i < 2000; i++)
        off +=
            (size_t)snprintf(csv + off, cap - off, "p, %s%u, data%u, %s\n",
                             rnd(3) ? "role" : "user", rnd(60), rnd(40), rnd(2) ? "read" : "write");
    for (int i = 0; i < 3000; i++) {
        /* Roles only point to higher-numbered roles: no cycles. */
        uint32_t a = rnd(60), b = a + 1 + rnd(10);
        if (rnd(2))
            off += (size_t)snprintf(csv + off, cap - off, "g, user%u, role%u\n", rnd(300), a);
        else
            off += (size_t)snprintf(csv + off, cap - off, "g, role%u, role%u\n", a, b);
    }
    ts_error err;
    ts_authz_enforcer *fast = make(RBAC_MODEL, csv, &err);
    assert_non_null(fast);
    ts_authz_enforcer *slow = make(RBAC_MODEL_SCAN, csv, &err);
    assert_non_null(slow);
    size_t allowed = 0;
    for (int i = 0; i < 20000; i++) {
        char sub[32], obj[32];
        snprintf(sub, sizeof sub, "%s%u", rnd(4) ? "user" : "role", rnd(320));
        snprintf(obj, sizeof obj, "data%u", rnd(45));
        const char *act = rnd(2) ? "read" : "write";
        bool a = check3(fast, sub, obj, act), b = check3(slow, sub, obj, act);
        if (a != b)
            fail_msg("index and scan disagree on %s,%s,%s", sub, obj, act);
        allowed += a;
    }
    /* Both outcomes occur, so the comparison means something. */
    assert_true(allowed > 100 && allowed < 19900);
    ts_authz_enforcer_free(fast);
    ts_authz_enforcer_free(slow);
    free(csv);
}

typedef struct race {
    ts_authz_enforcer *e;
    atomic_bool stop;
    atomic_size_t errors, torn, decisions;
} race;

static void *reader(void *arg)
{
    race *r = arg;
    while (!atomic_load(&r->stop)) {
        /* carol's permission is toggled by the writer; alice's never changes. */
        const char *a[] = {"alice", "data1", "read"};
        const char *c[] = {"carol", "data3", "read"};
        bool ok = false;
        ts_error err;
        if (ts_authz_enforce_strs(r->e, a, 3, &ok, &err) != TS_OK)
            atomic_fetch_add(&r->errors, 1);
        else if (!ok)
            atomic_fetch_add(&r->torn, 1);
        if (ts_authz_enforce_strs(r->e, c, 3, &ok, &err) != TS_OK)
            atomic_fetch_add(&r->errors, 1);
        atomic_fetch_add(&r->decisions, 2);
    }
    return NULL;
}

static void concurrent_decisions_during_mutations(void **state)
{
    (void)state;
    ts_error err;
    race r;
    r.e = make(RBAC_MODEL, "p, alice, data1, read\np, bob, data2, write\n", &err);
    assert_non_null(r.e);
    atomic_init(&r.stop, false);
    atomic_init(&r.errors, 0);
    atomic_init(&r.torn, 0);
    atomic_init(&r.decisions, 0);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, reader, &r), 0);
    const char *carol[] = {"carol", "data3", "read"};
    for (int i = 0; i < 300; i++) {
        assert_int_equal(ts_authz_enforcer_add_rule(r.e, "p", carol, 3, &err), TS_OK);
        assert_true(check3(r.e, "carol", "data3", "read"));
        bool removed;
        assert_int_equal(ts_authz_enforcer_remove_rule(r.e, "p", carol, 3, &removed, &err), TS_OK);
        assert_false(check3(r.e, "carol", "data3", "read"));
    }
    atomic_store(&r.stop, true);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&r.errors), 0);
    assert_int_equal(atomic_load(&r.torn), 0);
    assert_true(atomic_load(&r.decisions) > 0);
    ts_authz_enforcer_free(r.e);
}

static void enforce_context(void **state)
{
    (void)state;
    const char *model = "[request_definition]\nr = sub, obj, act\nr2 = sub, obj\n"
                        "[policy_definition]\np = sub, obj, act, eft\n"
                        "[role_definition]\ng = _, _\n"
                        "[policy_effect]\ne = priority(p.eft) || deny\n"
                        "[matchers]\nm = g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act\n"
                        "m2 = g(r2.sub, p.sub)\n";
    ts_error err;
    ts_authz_enforcer *e = make(model, "p, alice, data1, read, allow\n", &err);
    assert_non_null(e);
    ts_authz_context ctx = {"r2", "p", "e", "m2"};
    ts_authz_arg a[2] = {{"alice", 5, false}, {"data9", 5, false}};
    ts_authz_decision d;
    assert_int_equal(ts_authz_enforce_ex(e, &ctx, a, 2, false, &d, &err), TS_OK);
    assert_true(d.allowed);
    a[0].ptr = "bob";
    a[0].len = 3;
    assert_int_equal(ts_authz_enforce_ex(e, &ctx, a, 2, false, &d, &err), TS_OK);
    assert_false(d.allowed);
    ts_authz_enforcer_free(e);
}

static void role_pattern_matching(void **state)
{
    (void)state;
    const char *model = "[request_definition]\nr = sub, obj, act\n"
                        "[policy_definition]\np = sub, obj, act\n"
                        "[role_definition]\ng = _, _\ng2 = _, _\n"
                        "[policy_effect]\ne = some(where (p.eft == allow))\n"
                        "[matchers]\nm = g(r.sub, p.sub) && g2(r.obj, p.obj) && r.act == p.act\n";
    const char *csv = "p, alice, book_group, GET\ng2, /book/:id, book_group\n";
    ts_error err;
    ts_authz_enforcer *e = make(model, csv, &err);
    assert_non_null(e);
    assert_false(check3(e, "alice", "/book/1", "GET"));
    assert_int_equal(ts_authz_enforcer_set_role_matching(e, "g2", TS_AUTHZ_MATCH_KEYMATCH2, &err),
                     TS_OK);
    assert_true(check3(e, "alice", "/book/1", "GET"));
    assert_false(check3(e, "alice", "/pen/1", "GET"));
    ts_authz_enforcer_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rbac_and_explain),
        cmocka_unit_test(effects),
        cmocka_unit_test(explicit_priority_and_add),
        cmocka_unit_test(subject_priority),
        cmocka_unit_test(domains),
        cmocka_unit_test(abac_json_and_eval),
        cmocka_unit_test(load_errors_name_file_and_line),
        cmocka_unit_test(reload_failure_keeps_old_snapshot),
        cmocka_unit_test(index_agrees_with_scan),
        cmocka_unit_test(concurrent_decisions_during_mutations),
        cmocka_unit_test(enforce_context),
        cmocka_unit_test(role_pattern_matching),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
