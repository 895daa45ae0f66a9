/* oom.authz: every constructor and parser of the policy engine and of the authorization
   contract, and a decision of each kind (plain, explained, ABAC with eval(), built-in functions
   with PCRE2, pattern roles, cached authorizer, guard). The libmicrohttpd hook
   (authz/src/contract/mhd.c) is left out. */
#include "oom_authz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokensmith/authz.h>
#include <tokensmith/authz_http.h>

static const char rbac_model[] = "[request_definition]\nr = sub, obj, act\n"
                                 "[policy_definition]\np = sub, obj, act\n"
                                 "[role_definition]\ng = _, _\n"
                                 "[policy_effect]\ne = some(where (p.eft == allow))\n"
                                 "[matchers]\nm = g(r.sub, p.sub) && r.obj == p.obj && "
                                 "r.act == p.act\n";
static const char rbac_policy[] = "p, alice, data1, read\n"
                                  "p, data2_admin, data2, read\n"
                                  "p, data2_admin, data2, write\n"
                                  "g, bob, data2_admin\n";

/* Effects with deny, several definitions, built-ins that compile regular expressions. */
static const char rich_model[] =
    "[request_definition]\nr = sub, obj, act\nr2 = sub, obj, act\n"
    "[policy_definition]\np = sub, obj, act, eft\np2 = sub, obj, act\n"
    "[role_definition]\ng = _, _\n"
    "[policy_effect]\ne = some(where (p.eft == allow)) && !some(where (p.eft == deny))\n"
    "e2 = some(where (p.eft == allow))\n"
    "[matchers]\n"
    "m = g(r.sub, p.sub) && keyMatch2(r.obj, p.obj) && regexMatch(r.act, p.act)\n"
    "m2 = r2.sub == p2.sub && (globMatch(r2.obj, p2.obj) || keyMatch(r2.obj, p2.obj) || "
    "ipMatch(r2.act, p2.act))\n";
static const char rich_policy[] = "p, role:reader, /docs/:id, ^(GET|HEAD)$, allow\n"
                                  "p, role:writer, /docs/:id, ^(PUT|POST)$, allow\n"
                                  "p, mallory, /docs/:id, .*, deny\n"
                                  "p2, svc, /api/*, 10.0.0.0/8\n"
                                  "g, alice, role:reader\n"
                                  "g, alice, role:writer\n"
                                  "g, mallory, role:reader\n";

static const char abac_model[] = "[request_definition]\nr = sub, obj, act\n"
                                 "[policy_definition]\np = sub_rule, obj, act\n"
                                 "[policy_effect]\ne = some(where (p.eft == allow))\n"
                                 "[matchers]\nm = eval(p.sub_rule) && r.obj == p.obj && "
                                 "r.act == p.act\n";
static const char abac_policy[] = "p, r.sub.Age > 18, /data1, read\n"
                                  "p, r.sub.Age < 60 && r.sub.Name == 'bob', /data2, write\n";

/* ---- helpers (run without failures, in setup) ------------------------------------------- */

static ts_authz_model *must_model(const char *text)
{
    ts_error err;
    ts_authz_model *m = ts_authz_model_parse(text, strlen(text), "model.conf", &err);
    if (!m)
        oom_wrong("setup: model: %s", err.msg);
    return m;
}

static ts_authz_policy *must_policy(const char *csv)
{
    ts_error err;
    ts_authz_policy *p = ts_authz_policy_new();
    if (!p || ts_authz_policy_load_csv(p, csv, strlen(csv), "policy.csv", &err) != TS_OK)
        oom_wrong("setup: policy");
    return p;
}

static ts_authz_enforcer *must_enforcer(const char *model, const char *csv)
{
    ts_error err;
    ts_authz_model *m = must_model(model);
    ts_authz_policy *p = must_policy(csv);
    ts_authz_enforcer *e = ts_authz_enforcer_new(m, p, &err);
    if (!e)
        oom_wrong("setup: enforcer: %s", err.msg);
    ts_authz_model_free(m);
    ts_authz_policy_free(p);
    return e;
}

void oom_authz_write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        oom_wrong("setup: cannot write %s", path);
}

static char *scratch_file(const char *name)
{
    static char path[4][4096];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, sizeof path[0], "%s/%s", oom_scratch_dir(), name);
    return p;
}

/* ---- model and policy -------------------------------------------------------------------- */

static oom_result run_model_parse(const char *text)
{
    ts_error err;
    ts_error_clear(&err);
    ts_authz_model *m = ts_authz_model_parse(text, strlen(text), "model.conf", &err);
    OOM_TRY_PTR(m, &err);
    ts_authz_model_free(m);
    return OOM_SUCCEEDED;
}

static oom_result run_model_baseline(void *ctx)
{
    (void)ctx;
    return run_model_parse(ts_authz_baseline(TS_AUTHZ_BASELINE_MODEL, NULL));
}

static oom_result run_model_rich(void *ctx)
{
    (void)ctx;
    return run_model_parse(rich_model);
}

static void *setup_model_file(void)
{
    char *path = scratch_file("model.conf");
    oom_authz_write_text(path, rich_model);
    return path;
}

static oom_result run_model_load_file(void *ctx)
{
    ts_error err;
    ts_error_clear(&err);
    ts_authz_model *m = ts_authz_model_load_file(ctx, &err);
    OOM_TRY_PTR(m, &err);
    ts_authz_model_free(m);
    return OOM_SUCCEEDED;
}

static oom_result run_policy_csv(void *ctx)
{
    (void)ctx;
    ts_error err;
    ts_error_clear(&err);
    ts_authz_policy *p = ts_authz_policy_new();
    if (!p) {
        OOM_EXPECT(oom_injected());
        return OOM_REFUSED;
    }
    size_t plen = 0, glen = 0;
    const char *pol = ts_authz_baseline(TS_AUTHZ_BASELINE_POLICY, &plen);
    const char *grp = ts_authz_baseline(TS_AUTHZ_BASELINE_GROUPING, &glen);
    ts_status st = ts_authz_policy_load_csv(p, pol, plen, "policy.csv", &err);
    size_t after_policy = ts_authz_policy_count(p);
    if (st == TS_OK)
        st = ts_authz_policy_load_csv(p, grp, glen, "grouping.csv", &err);
    if (st != TS_OK) {
        /* "On error nothing is appended." */
        size_t n = ts_authz_policy_count(p);
        OOM_EXPECT(n == 0 || n == after_policy);
        ts_authz_policy_free(p);
        return oom_refused(st, &err);
    }
    OOM_EXPECT(ts_authz_policy_count(p) > after_policy && after_policy > 10);
    ts_authz_policy_free(p);
    return OOM_SUCCEEDED;
}

static void *setup_policy_file(void)
{
    char *path = scratch_file("policy.csv");
    oom_authz_write_text(path, rich_policy);
    return path;
}

static oom_result run_policy_load_file(void *ctx)
{
    ts_error err;
    ts_error_clear(&err);
    ts_authz_policy *p = ts_authz_policy_new();
    if (!p) {
        OOM_EXPECT(oom_injected());
        return OOM_REFUSED;
    }
    ts_status st = ts_authz_policy_load_file(p, ctx, &err);
    if (st != TS_OK) {
        OOM_EXPECT(ts_authz_policy_count(p) == 0);
        ts_authz_policy_free(p);
        return oom_refused(st, &err);
    }
    OOM_EXPECT(ts_authz_policy_count(p) == 7);
    ts_authz_policy_free(p);
    return OOM_SUCCEEDED;
}

static void *setup_policy(void)
{
    return must_policy(rbac_policy);
}

static oom_result run_policy_add(void *ctx)
{
    ts_error err;
    ts_error_clear(&err);
    const char *const fields[] = {"carol", "data3", "delete"};
    OOM_TRY(ts_authz_policy_add(ctx, "p", fields, 3, &err), &err);
    OOM_EXPECT(ts_authz_policy_count(ctx) == 5);
    return OOM_SUCCEEDED;
}

static void teardown_policy(void *ctx, oom_result r)
{
    /* A refused add appends nothing. */
    if (r == OOM_REFUSED && ts_authz_policy_count(ctx) != 4)
        oom_wrong("a refused add left %zu rules", ts_authz_policy_count(ctx));
    ts_authz_policy_free(ctx);
}

static oom_result run_csv_split(void *ctx)
{
    (void)ctx;
    static const char line[] = "p, \"quoted, field\",  alice, \"say \"\"hi\"\"\", data";
    ts_error err;
    ts_error_clear(&err);
    char **fields = NULL;
    size_t n = 0;
    OOM_TRY(ts_authz_csv_split_line(line, strlen(line), &fields, &n, NULL, &err), &err);
    OOM_EXPECT(n == 5 && strcmp(fields[1], "quoted, field") == 0 &&
               strcmp(fields[3], "say \"hi\"") == 0 && strcmp(fields[4], "data") == 0);
    ts_authz_csv_fields_free(fields, n);
    return OOM_SUCCEEDED;
}

/* ---- enforcers ---------------------------------------------------------------------------- */

typedef struct models {
    ts_authz_model *model;
    ts_authz_policy *policy;
} models;

static void *setup_models(void)
{
    models *m = calloc(1, sizeof *m);
    if (!m)
        oom_wrong("setup: out of memory");
    m->model = must_model(rich_model);
    m->policy = must_policy(rich_policy);
    return m;
}

static void teardown_models(void *ctx, oom_result r)
{
    (void)r;
    models *m = ctx;
    ts_authz_model_free(m->model);
    ts_authz_policy_free(m->policy);
    free(m);
}

static oom_result run_enforcer_new(void *ctx)
{
    models *m = ctx;
    ts_error err;
    ts_error_clear(&err);
    ts_authz_enforcer *e = ts_authz_enforcer_new(m->model, m->policy, &err);
    OOM_TRY_PTR(e, &err);
    OOM_EXPECT(ts_authz_enforcer_rule_count(e, "p") == 3 &&
               ts_authz_enforcer_rule_count(e, "g") == 3);
    /* An enforcer that was built decides with every definition, whatever failed on the way. */
    oom_pause();
    ts_authz_context c = {.rtype = "r2", .ptype = "p2", .etype = "e2", .mtype = "m2"};
    ts_authz_arg args[3] = {{"svc", 3, false}, {"/api/x", 6, false}, {"10.1.2.3", 8, false}};
    bool ok = false;
    ts_authz_decision d = {0};
    ts_status st = ts_authz_enforce_ex(e, &c, args, 3, false, &d, &err);
    ok = d.allowed;
    ts_authz_decision_cleanup(&d);
    const char *const a[] = {"alice", "/docs/1", "GET"};
    bool ok2 = false;
    if (st == TS_OK)
        st = ts_authz_enforce_strs(e, a, 3, &ok2, &err);
    oom_resume();
    ts_authz_enforcer_free(e);
    if (st != TS_OK)
        oom_wrong("the enforcer built fails its decisions: %s", err.msg);
    OOM_EXPECT(ok && ok2);
    return OOM_SUCCEEDED;
}

static void *setup_rbac(void)
{
    return must_enforcer(rbac_model, rbac_policy);
}

static void *setup_rich(void)
{
    return must_enforcer(rich_model, rich_policy);
}

static void *setup_abac(void)
{
    return must_enforcer(abac_model, abac_policy);
}

static void teardown_enforcer(void *ctx, oom_result r)
{
    (void)r;
    ts_authz_enforcer_free(ctx);
}

/* Decide @p args; the answer must be @p want, or a clean refusal. */
oom_result oom_authz_decide(const ts_authz_enforcer *e, const char *const *args, size_t n,
                            bool want)
{
    ts_error err;
    ts_error_clear(&err);
    bool ok = !want;
    OOM_TRY(ts_authz_enforce_strs(e, args, n, &ok, &err), &err);
    if (ok != want)
        oom_wrong("decided %s for %s, %s", ok ? "allow" : "deny", args[0], args[1]);
    return OOM_SUCCEEDED;
}

static oom_result run_enforce_rbac(void *ctx)
{
    const char *const a1[] = {"bob", "data2", "write"};
    const char *const a2[] = {"alice", "data2", "write"};
    oom_result r = oom_authz_decide(ctx, a1, 3, true);
    return r != OOM_SUCCEEDED ? r : oom_authz_decide(ctx, a2, 3, false);
}

static oom_result run_enforce_builtins(void *ctx)
{
    static const char *const reqs[][3] = {
        {"alice", "/docs/7", "PUT"}, {"mallory", "/docs/7", "GET"}, {"alice", "/docs/7", "DELETE"}};
    static const bool want[] = {true, false, false};
    for (size_t i = 0; i < 3; i++) {
        oom_result r = oom_authz_decide(ctx, reqs[i], 3, want[i]);
        if (r != OOM_SUCCEEDED)
            return r;
    }
    /* The second definition: globMatch, keyMatch and ipMatch. */
    ts_authz_context c = {.rtype = "r2", .ptype = "p2", .etype = "e2", .mtype = "m2"};
    ts_authz_arg args[3] = {{"svc", 3, false}, {"/api/x", 6, false}, {"10.1.2.3", 8, false}};
    ts_authz_decision d = {0};
    ts_error err;
    ts_error_clear(&err);
    OOM_TRY(ts_authz_enforce_ex(ctx, &c, args, 3, true, &d, &err), &err);
    OOM_EXPECT(d.allowed && d.has_rule && d.rule && strstr(d.rule, "10.0.0.0/8"));
    ts_authz_decision_cleanup(&d);
    return OOM_SUCCEEDED;
}

static oom_result run_enforce_explain(void *ctx)
{
    ts_authz_arg args[3] = {{"bob", 3, false}, {"data2", 5, false}, {"read", 4, false}};
    ts_authz_decision d = {0};
    ts_error err;
    ts_error_clear(&err);
    OOM_TRY(ts_authz_enforce_ex(ctx, NULL, args, 3, true, &d, &err), &err);
    OOM_EXPECT(d.allowed && d.has_rule && d.rule &&
               strcmp(d.rule, "p, data2_admin, data2, read") == 0);
    ts_authz_decision_cleanup(&d);
    return OOM_SUCCEEDED;
}

static oom_result run_enforce_abac(void *ctx)
{
    static const char adult[] = "{\"Name\":\"alice\",\"Age\":30}";
    static const char child[] = "{\"Name\":\"bob\",\"Age\":10}";
    ts_authz_arg a[3] = {{adult, sizeof adult - 1, true}, {"/data1", 6, false}, {"read", 4, false}};
    ts_authz_arg b[3] = {
        {child, sizeof child - 1, true}, {"/data2", 6, false}, {"write", 5, false}};
    ts_error err;
    ts_error_clear(&err);
    bool ok = false;
    OOM_TRY(ts_authz_enforce(ctx, a, 3, &ok, &err), &err);
    OOM_EXPECT(ok);
    ok = false;
    OOM_TRY(ts_authz_enforce(ctx, b, 3, &ok, &err), &err);
    OOM_EXPECT(ok);
    a[0] = b[0];
    OOM_TRY(ts_authz_enforce(ctx, a, 3, &ok, &err), &err);
    OOM_EXPECT(!ok);
    return OOM_SUCCEEDED;
}

/* Mutations and reloads: a refused one keeps the old snapshot (checked in teardown). */
static oom_result run_add_remove(void *ctx)
{
    ts_error err;
    ts_error_clear(&err);
    const char *const r1[] = {"carol", "data1", "read"};
    const char *const r2[] = {"dave", "data3", "write"};
    const char *const *rows[] = {r1, r2};
    size_t added = 0;
    OOM_TRY(ts_authz_enforcer_add_rules(ctx, "p", rows, 2, 3, &added, &err), &err);
    OOM_EXPECT(added == 2);
    const char *const a[] = {"carol", "data1", "read"};
    oom_result r = oom_authz_decide(ctx, a, 3, true);
    if (r != OOM_SUCCEEDED)
        return r;
    bool removed = false;
    OOM_TRY(ts_authz_enforcer_remove_rule(ctx, "p", r1, 3, &removed, &err), &err);
    OOM_EXPECT(removed);
    const char *const g[] = {"carol", "data2_admin"};
    OOM_TRY(ts_authz_enforcer_add_rule(ctx, "g", g, 2, &err), &err);
    const char *const b[] = {"carol", "data2", "write"};
    return oom_authz_decide(ctx, b, 3, true);
}

static void teardown_mutated(void *ctx, oom_result r)
{
    /* Whatever step was refused, the enforcer still decides: either the rules before or
       after each completed step, never a half-applied change. */
    size_t p = ts_authz_enforcer_rule_count(ctx, "p"), g = ts_authz_enforcer_rule_count(ctx, "g");
    if (r == OOM_SUCCEEDED && !(p == 4 && g == 2))
        oom_wrong("after the mutations: %zu p rules, %zu g rules", p, g);
    if (!((p == 3 && g == 1) || (p == 5 && g == 1) || (p == 4 && g == 1) || (p == 4 && g == 2)))
        oom_wrong("a half-applied mutation: %zu p rules, %zu g rules", p, g);
    const char *const a[] = {"bob", "data2", "write"};
    bool ok = false;
    ts_error err;
    if (ts_authz_enforce_strs(ctx, a, 3, &ok, &err) != TS_OK || !ok)
        oom_wrong("the enforcer no longer decides after a refused mutation");
    ts_authz_enforcer_free(ctx);
}

typedef struct reload_ctx {
    ts_authz_enforcer *e;
    ts_authz_model *model;
    ts_authz_policy *policy;
    uint64_t generation;
} reload_ctx;

static void *setup_reload(void)
{
    reload_ctx *c = calloc(1, sizeof *c);
    if (!c)
        oom_wrong("setup: out of memory");
    c->e = must_enforcer(rbac_model, rbac_policy);
    c->model = must_model(rich_model);
    c->policy = must_policy(rich_policy);
    c->generation = ts_authz_enforcer_generation(c->e);
    return c;
}

static oom_result run_reload(void *ctx)
{
    reload_ctx *c = ctx;
    ts_error err;
    ts_error_clear(&err);
    OOM_TRY(ts_authz_enforcer_reload(c->e, c->model, c->policy, &err), &err);
    const char *const a[] = {"alice", "/docs/1", "PUT"};
    return oom_authz_decide(c->e, a, 3, true);
}

static void teardown_reload(void *ctx, oom_result r)
{
    reload_ctx *c = ctx;
    bool changed = ts_authz_enforcer_generation(c->e) != c->generation;
    if (changed && ts_authz_enforcer_rule_count(c->e, "g") != 3)
        oom_wrong("a half-built snapshot was swapped in");
    if (r == OOM_SUCCEEDED && !changed)
        oom_wrong("a successful reload kept the old snapshot");
    if (!changed) {
        const char *const a[] = {"bob", "data2", "write"};
        bool ok = false;
        ts_error err;
        if (ts_authz_enforce_strs(c->e, a, 3, &ok, &err) != TS_OK || !ok)
            oom_wrong("the old snapshot no longer decides after a refused reload");
    }
    ts_authz_enforcer_free(c->e);
    ts_authz_model_free(c->model);
    ts_authz_policy_free(c->policy);
    free(c);
}

static const char pattern_model[] = "[request_definition]\nr = sub, dom, obj, act\n"
                                    "[policy_definition]\np = sub, dom, obj, act\n"
                                    "[role_definition]\ng = _, _, _\n"
                                    "[policy_effect]\ne = some(where (p.eft == allow))\n"
                                    "[matchers]\nm = g(r.sub, p.sub, r.dom) && r.dom == p.dom && "
                                    "keyMatch2(r.obj, p.obj) && r.act == p.act\n";
static const char pattern_policy[] = "p, role:admin, tenant-a, /books/:id, read\n"
                                     "g, /users/alice/*, role:admin, tenant-*\n";

static void *setup_pattern(void)
{
    return must_enforcer(pattern_model, pattern_policy);
}

static oom_result run_matching(void *ctx)
{
    ts_error err;
    ts_error_clear(&err);
    OOM_TRY(ts_authz_enforcer_set_role_matching(ctx, "g", TS_AUTHZ_MATCH_KEYMATCH, &err), &err);
    OOM_TRY(ts_authz_enforcer_set_domain_matching(ctx, "g", TS_AUTHZ_MATCH_KEYMATCH, &err), &err);
    const char *const a[] = {"/users/alice/x", "tenant-a", "/books/1", "read"};
    return oom_authz_decide(ctx, a, 4, true);
}

static const oom_case engine_cases[] = {
    {"model_parse_baseline", NULL, run_model_baseline, NULL},
    {"model_parse_rich", NULL, run_model_rich, NULL},
    {"model_load_file", setup_model_file, run_model_load_file, NULL},
    {"policy_load_csv", NULL, run_policy_csv, NULL},
    {"policy_load_file", setup_policy_file, run_policy_load_file, NULL},
    {"policy_add", setup_policy, run_policy_add, teardown_policy},
    {"csv_split_line", NULL, run_csv_split, NULL},
    {"enforcer_new", setup_models, run_enforcer_new, teardown_models},
    {"enforce_rbac", setup_rbac, run_enforce_rbac, teardown_enforcer},
    {"enforce_explain", setup_rbac, run_enforce_explain, teardown_enforcer},
    {"enforce_builtins", setup_rich, run_enforce_builtins, teardown_enforcer},
    {"enforce_abac_eval", setup_abac, run_enforce_abac, teardown_enforcer},
    {"enforcer_add_remove", setup_rbac, run_add_remove, teardown_mutated},
    {"enforcer_reload", setup_reload, run_reload, teardown_reload},
    {"enforcer_pattern_matching", setup_pattern, run_matching, teardown_enforcer},
};

int main(int argc, char **argv)
{
    enum { NENGINE = sizeof engine_cases / sizeof engine_cases[0] };
    static oom_case all[NENGINE + 16];
    size_t n = 0;
    for (size_t i = 0; i < NENGINE; i++)
        all[n++] = engine_cases[i];
    for (size_t i = 0; i < oom_authz_contract_ncases && n < sizeof all / sizeof all[0]; i++)
        all[n++] = oom_authz_contract_cases[i];
    return oom_main("oom.authz", all, n, argc, argv);
}
