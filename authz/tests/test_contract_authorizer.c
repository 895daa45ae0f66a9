/* The authorizer on the baseline policy: subjects (id, roles, domain), decisions and reasons,
 * the decision cache, reload (success, failure keeping the old policy, logging) and SIGHUP. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <signal.h>
#include <time.h>

#include <tokensmith/authz_http.h>

#include "contract/decision_key.h"
#include "contract_testutil.h"

typedef struct fx {
    char *dir;
    tu_log log;
    ts_authz_authorizer *a;
} fx;

static int setup_cache(void **state, size_t cache)
{
    fx *f = calloc(1, sizeof *f);
    f->dir = tu_mkdtemp();
    tu_log_init(&f->log);
    assert_int_equal(tu_writez(f->dir, "bindings.csv",
                               "g, user:alice, role:operator, *\n"
                               "g, service:agent, role:admin, tenant-a\n"
                               "p, user:bob, boot:configs, read\n"),
                     0);
    ts_authz_authorizer_options o = TS_AUTHZ_AUTHORIZER_OPTIONS_INIT;
    o.source.policy_dir = f->dir;
    o.cache_size = cache;
    o.log = tu_log_sink;
    o.log_ud = &f->log;
    ts_error err;
    ts_error_clear(&err);
    f->a = ts_authz_authorizer_new(&o, &err);
    if (!f->a)
        fail_msg("%s: %s", err.where, err.msg);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_cache(state, 0);
}

static int setup_cached(void **state)
{
    return setup_cache(state, 64);
}

static int teardown(void **state)
{
    fx *f = *state;
    ts_authz_authorizer_free(f->a);
    tu_log_free(&f->log);
    tu_rmrf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static ts_authz_result decide(fx *f, const char *id, const char *type, const char *const *roles,
                              size_t nroles, const char *obj, const char *act, const char *dom)
{
    ts_authz_principal p = {id, type, roles, nroles, NULL};
    ts_authz_result r;
    ts_authz_authorize(f->a, &p, obj, act, dom, &r);
    return r;
}

static void test_baseline_roles(void **state)
{
    fx *f = *state;
    const char *viewer[] = {"viewer"};
    const char *operator[] = {"  role:operator "};
    const char *admin[] = {"role:admin"};
    const char *service[] = {"service"};
    ts_authz_result r;

    r = decide(f, "u1", "user", viewer, 1, "smd:hardware", "read", NULL);
    assert_int_equal(r.decision, TS_AUTHZ_ALLOW);
    assert_string_equal(r.reason, "policy_allowed");
    assert_string_equal(r.subject, "role:viewer");
    assert_string_equal(r.rule, "p, role:viewer, smd:hardware, read");
    r = decide(f, "u1", "user", viewer, 1, "smd:hardware", "update", NULL);
    assert_int_equal(r.decision, TS_AUTHZ_DENY);
    assert_string_equal(r.reason, "policy_denied");
    /* operator inherits viewer through grouping.csv; no delete. */
    r = decide(f, "u1", "user", operator, 1, "boot:scripts", "read", NULL);
    assert_int_equal(r.decision, TS_AUTHZ_ALLOW);
    r = decide(f, "u1", "user", operator, 1, "boot:scripts", "create", NULL);
    assert_int_equal(r.decision, TS_AUTHZ_ALLOW);
    r = decide(f, "u1", "user", operator, 1, "boot:scripts", "delete", NULL);
    assert_int_equal(r.decision, TS_AUTHZ_DENY);
    /* admin: everything, via operator and viewer. */
    static const char *const objs[] = {"boot:configs",   "boot:scripts",    "boot:parameters",
                                       "metadata:nodes", "metadata:groups", "smd:hardware",
                                       "smd:components"};
    static const char *const acts[] = {"create", "read", "update", "delete"};
    for (size_t i = 0; i < 7; i++)
        for (size_t j = 0; j < 4; j++)
            assert_int_equal(decide(f, "root", "user", admin, 1, objs[i], acts[j], NULL).decision,
                             TS_AUTHZ_ALLOW);
    r = decide(f, "svc", "service", service, 1, "metadata:groups", "read", NULL);
    assert_int_equal(r.decision, TS_AUTHZ_ALLOW);
    r = decide(f, "svc", "service", service, 1, "boot:configs", "read", NULL);
    assert_int_equal(r.decision, TS_AUTHZ_DENY);
    assert_int_equal(strlen(r.policy_version), 64);
}

/* The principal id and the domain reach the engine. */
static void test_id_and_domain(void **state)
{
    fx *f = *state;
    ts_authz_result r;
    /* user:alice is bound to operator in every domain; no roles in the token. */
    r = decide(f, "alice", "user", NULL, 0, "boot:configs", "update", NULL);
    assert_int_equal(r.decision, TS_AUTHZ_ALLOW);
    assert_string_equal(r.subject, "user:alice");
    r = decide(f, "alice", "user", NULL, 0, "boot:configs", "update", "tenant-z");
    assert_int_equal(r.decision, TS_AUTHZ_ALLOW);
    /* The same id with another type is another subject. */
    r = decide(f, "alice", "service", NULL, 0, "boot:configs", "update", NULL);
    assert_int_equal(r.decision, TS_AUTHZ_DENY);
    r = decide(f, "alice", "weird", NULL, 0, "boot:configs", "update", NULL);
    assert_int_equal(r.decision, TS_AUTHZ_DENY);
    /* A direct p rule on the principal. */
    r = decide(f, "bob", "user", NULL, 0, "boot:configs", "read", NULL);
    assert_int_equal(r.decision, TS_AUTHZ_ALLOW);
    /* service:agent is admin in tenant-a only. */
    r = decide(f, "agent", "service", NULL, 0, "smd:hardware", "delete", "tenant-a");
    assert_int_equal(r.decision, TS_AUTHZ_ALLOW);
    r = decide(f, "agent", "service", NULL, 0, "smd:hardware", "delete", "tenant-b");
    assert_int_equal(r.decision, TS_AUTHZ_DENY);
    r = decide(f, "agent", "service", NULL, 0, "smd:hardware", "delete", NULL);
    assert_int_equal(r.decision, TS_AUTHZ_DENY);
    /* The principal's own domain is used when the mapper gives none. */
    ts_authz_principal p = {"agent", "service", NULL, 0, "tenant-a"};
    ts_authz_authorize(f->a, &p, "smd:hardware", "delete", NULL, &r);
    assert_int_equal(r.decision, TS_AUTHZ_ALLOW);
    /* A role named like a subject cannot impersonate it: "role:" is stripped, never added
     * to the id. */
    const char *sneaky[] = {"user:alice"};
    r = decide(f, "mallory", "user", sneaky, 1, "boot:configs", "update", NULL);
    assert_int_equal(r.decision, TS_AUTHZ_DENY);
}

static void test_indeterminate(void **state)
{
    fx *f = *state;
    const char *viewer[] = {"viewer"};
    ts_authz_result r;
    r = decide(f, "", "user", viewer, 1, "boot:configs", "read", NULL);
    assert_int_equal(r.decision, TS_AUTHZ_INDETERMINATE);
    assert_string_equal(r.reason, "incomplete_request");
    assert_string_equal(r.detail, "principal missing id");
    r = decide(f, NULL, "user", viewer, 1, "boot:configs", "read", NULL);
    assert_int_equal(r.decision, TS_AUTHZ_INDETERMINATE);
    r = decide(f, "u", "user", viewer, 1, "", "read", NULL);
    assert_int_equal(r.decision, TS_AUTHZ_INDETERMINATE);
    assert_string_equal(r.detail, "missing object or action");
    r = decide(f, "u", "user", viewer, 1, "boot:configs", NULL, NULL);
    assert_int_equal(r.decision, TS_AUTHZ_INDETERMINATE);
    const char *many[TS_AUTHZ_HTTP_MAX_ROLES + 1];
    for (size_t i = 0; i <= TS_AUTHZ_HTTP_MAX_ROLES; i++)
        many[i] = "viewer";
    r = decide(f, "u", "user", many, TS_AUTHZ_HTTP_MAX_ROLES + 1, "boot:configs", "read", NULL);
    assert_int_equal(r.decision, TS_AUTHZ_INDETERMINATE);
    assert_string_equal(r.detail, "too many roles");
    /* Empty and duplicate roles are dropped; a principal without roles is still decided. */
    const char *messy[] = {"", "  ", "role:", "viewer", "role:viewer", NULL};
    r = decide(f, "u", "user", messy, 6, "boot:configs", "read", NULL);
    assert_int_equal(r.decision, TS_AUTHZ_ALLOW);
    r = decide(f, "u", "user", NULL, 0, "boot:configs", "read", NULL);
    assert_int_equal(r.decision, TS_AUTHZ_DENY);
    char longid[TS_AUTHZ_HTTP_MAX_NAME + 2];
    memset(longid, 'x', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    r = decide(f, longid, "user", viewer, 1, "boot:configs", "read", NULL);
    assert_int_equal(r.decision, TS_AUTHZ_INDETERMINATE);
}

/* A model without a domain cannot silently ignore one. */
static void test_domain_without_model_domain(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    assert_int_equal(tu_writez(dir, "model.conf",
                               "[request_definition]\nr = sub, obj, act\n"
                               "[policy_definition]\np = sub, obj, act\n"
                               "[role_definition]\ng = _, _, _\n"
                               "[policy_effect]\ne = some(where (p.eft == allow))\n"
                               "[matchers]\nm = r.sub == p.sub && r.obj == p.obj && "
                               "r.act == p.act\n"),
                     0);
    char *model = tu_path(dir, "model.conf");
    ts_authz_authorizer_options o = TS_AUTHZ_AUTHORIZER_OPTIONS_INIT;
    o.source.model_path = model;
    ts_error err;
    ts_error_clear(&err);
    ts_authz_authorizer *a = ts_authz_authorizer_new(&o, &err);
    if (!a)
        fail_msg("%s: %s", err.where, err.msg);
    const char *viewer[] = {"viewer"};
    ts_authz_principal p = {"u", "user", viewer, 1, NULL};
    ts_authz_result r;
    ts_authz_authorize(a, &p, "boot:configs", "read", NULL, &r);
    assert_int_equal(r.decision, TS_AUTHZ_ALLOW);
    ts_authz_authorize(a, &p, "boot:configs", "read", "tenant-a", &r);
    assert_int_equal(r.decision, TS_AUTHZ_INDETERMINATE);
    ts_authz_authorizer_free(a);
    free(model);
    tu_rmrf(dir);
    free(dir);
}

static void test_cache(void **state)
{
    fx *f = *state;
    const char *viewer[] = {"viewer"};
    ts_authz_result r;
    r = decide(f, "u", "user", viewer, 1, "boot:configs", "read", NULL);
    assert_false(r.cached);
    r = decide(f, "u", "user", viewer, 1, "boot:configs", "read", NULL);
    assert_true(r.cached);
    assert_int_equal(r.decision, TS_AUTHZ_ALLOW);
    assert_string_equal(r.subject, "role:viewer");
    /* Every input is in the key. */
    assert_false(decide(f, "v", "user", viewer, 1, "boot:configs", "read", NULL).cached);
    assert_false(decide(f, "u", "service", viewer, 1, "boot:configs", "read", NULL).cached);
    assert_false(decide(f, "u", "user", NULL, 0, "boot:configs", "read", NULL).cached);
    assert_false(decide(f, "u", "user", viewer, 1, "boot:scripts", "read", NULL).cached);
    assert_false(decide(f, "u", "user", viewer, 1, "boot:configs", "update", NULL).cached);
    r = decide(f, "u", "user", viewer, 1, "boot:configs", "read", "t1");
    assert_false(r.cached);
    /* Indeterminate answers are not cached. */
    decide(f, "", "user", viewer, 1, "boot:configs", "read", NULL);
    assert_false(decide(f, "", "user", viewer, 1, "boot:configs", "read", NULL).cached);
    /* A new policy_version misses: the entry of the old policy cannot answer. */
    assert_int_equal(tu_writez(f->dir, "zz.csv", "p, role:viewer, extra:x, read\n"), 0);
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_authz_reload(f->a, &err), TS_OK);
    r = decide(f, "u", "user", viewer, 1, "boot:configs", "read", NULL);
    assert_false(r.cached);
    assert_int_equal(r.decision, TS_AUTHZ_ALLOW);
    /* Bounded: 64 entries, the least recently used goes first. */
    for (int i = 0; i < 200; i++) {
        char id[16];
        snprintf(id, sizeof id, "user%d", i);
        decide(f, id, "user", viewer, 1, "boot:configs", "read", NULL);
    }
    assert_false(decide(f, "user0", "user", viewer, 1, "boot:configs", "read", NULL).cached);
    assert_true(decide(f, "user199", "user", viewer, 1, "boot:configs", "read", NULL).cached);
    ts_authz_policy_stats st;
    ts_authz_authorizer_stats(f->a, &st);
    assert_int_equal(st.cache_hits, 2);
    assert_true(st.cache_misses > 200);
}

/* A cached decision is served only to the same inputs: roles ["viewer\x1fadmin"] are not
 * ["viewer", "admin"], whichever was asked first, and neither borrows the other's answer. */
static void test_cache_roles_not_confused(void **state)
{
    fx *f = *state;
    const char *two[] = {"viewer", "admin"};
    const char *joined[] = {"viewer\x1f"
                            "admin"};
    ts_authz_result r = decide(f, "u", "user", two, 2, "boot:configs", "delete", NULL);
    assert_int_equal(r.decision, TS_AUTHZ_ALLOW);
    r = decide(f, "u", "user", joined, 1, "boot:configs", "delete", NULL);
    assert_false(r.cached);
    assert_int_equal(r.decision, TS_AUTHZ_ERROR);
    assert_string_equal(r.reason, "invalid_principal");
    assert_string_equal(r.detail, "role name contains a control character");
    /* The other order: the refusal is not cached for the legitimate roles either. */
    const char *two_b[] = {"operator", "admin"};
    const char *joined_b[] = {"operator\x1f"
                              "admin"};
    r = decide(f, "w", "user", joined_b, 1, "boot:scripts", "delete", NULL);
    assert_int_equal(r.decision, TS_AUTHZ_ERROR);
    r = decide(f, "w", "user", two_b, 2, "boot:scripts", "delete", NULL);
    assert_false(r.cached);
    assert_int_equal(r.decision, TS_AUTHZ_ALLOW);
}

/* Names with control characters (bytes below 0x20, DEL) are refused with an error decision,
 * cache or not: they cannot be matched safely, logged faithfully or keyed without ambiguity. */
static void test_control_characters_refused(void **state)
{
    fx *f = *state;
    const char *viewer[] = {"viewer"};
    static const char *const bad_ids[] = {"a\nb", "a\x1f", "\x7f", "x\ty", "id\r"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        ts_authz_result r = decide(f, bad_ids[i], "user", viewer, 1, "boot:configs", "read", NULL);
        assert_int_equal(r.decision, TS_AUTHZ_ERROR);
        assert_string_equal(r.reason, "invalid_principal");
        assert_string_equal(r.detail, "principal id contains a control character");
        assert_string_equal(r.rule, "");
    }
    static const char *const bad_roles[] = {"view\x01er", "viewer\n", " viewer\t", "\x7fviewer",
                                            "role:\x1bviewer"};
    for (size_t i = 0; i < sizeof bad_roles / sizeof bad_roles[0]; i++) {
        const char *roles[] = {"viewer", bad_roles[i]};
        ts_authz_result r = decide(f, "u", "user", roles, 2, "boot:configs", "read", NULL);
        assert_int_equal(r.decision, TS_AUTHZ_ERROR);
        assert_string_equal(r.reason, "invalid_principal");
    }
    /* Non-ASCII text is not a control character. */
    const char *accented[] = {"viewer", "r\xc3\xb4le"};
    assert_int_equal(
        decide(f, "\xc3\xa9lise", "user", accented, 2, "boot:configs", "read", NULL).decision,
        TS_AUTHZ_ALLOW);
}

static size_t key_of(char *buf, size_t cap, const char *id, const char *const *roles, size_t n,
                     const char *obj, const char *act, const char *dom)
{
    ts_str views[8];
    for (size_t i = 0; i < n; i++)
        views[i] = ts_str_c(roles[i]);
    return ts_authz__decision_key(buf, cap, "pv", "user", id, views, n, obj, act, dom);
}

/* Every field of the key is delimited by its length: inputs that a separator-joined key would
 * confuse get different keys. */
static void test_decision_key_unambiguous(void **state)
{
    (void)state;
    static const struct {
        const char *id;
        const char *roles[3];
        size_t nroles;
        const char *obj, *act, *dom;
    } in[] = {
        {"u", {"viewer", "admin"}, 2, "o", "a", ""},
        {"u",
         {"viewer\x1f"
          "admin"},
         1,
         "o",
         "a",
         ""},
        {"u",
         {"viewer\x1f"
          "admin\x1f"},
         1,
         "o",
         "a",
         ""},
        {"u", {"viewer", "admin", ""}, 3, "o", "a", ""},
        {"u", {"viewer"}, 1, "o", "a", "admin"},
        {"u", {"viewer"}, 1, "oa", "", ""},
        {"u", {"viewer"}, 1, "o", "", "a"},
        {"u:viewer", {0}, 0, "o", "a", ""},
        {"u", {"viewer", "o"}, 2, "a", "", ""},
    };
    size_t n = sizeof in / sizeof in[0];
    char keys[sizeof in / sizeof in[0]][256];
    size_t lens[sizeof in / sizeof in[0]];
    for (size_t i = 0; i < n; i++) {
        lens[i] = key_of(keys[i], sizeof keys[i], in[i].id, in[i].roles, in[i].nroles, in[i].obj,
                         in[i].act, in[i].dom);
        assert_true(lens[i] <= sizeof keys[i]);
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (lens[i] == lens[j] && memcmp(keys[i], keys[j], lens[i]) == 0)
                fail_msg("inputs %zu and %zu share a cache key", i, j);
    /* The same inputs give the same key; a short buffer gets a prefix and the needed length. */
    char again[256], shorter[8];
    assert_int_equal(key_of(again, sizeof again, in[0].id, in[0].roles, 2, "o", "a", ""), lens[0]);
    assert_memory_equal(again, keys[0], lens[0]);
    assert_int_equal(key_of(shorter, sizeof shorter, in[0].id, in[0].roles, 2, "o", "a", ""),
                     lens[0]);
    assert_memory_equal(shorter, keys[0], sizeof shorter);
}

static int unlink_in(const char *dir, const char *name)
{
    char *p = tu_path(dir, name);
    int rc = unlink(p);
    free(p);
    return rc;
}

static void test_reload(void **state)
{
    fx *f = *state;
    ts_error err;
    char v1[65], v2[65];
    ts_authz_authorizer_policy_version(f->a, v1);
    assert_non_null(tu_log_find(&f->log, "\"event\":\"authz.policy_loaded\""));
    const char *none[] = {"nobody"};
    assert_int_equal(decide(f, "u", "user", none, 1, "x:y", "read", NULL).decision, TS_AUTHZ_DENY);

    /* Unchanged files: same version, logged as unchanged. */
    ts_error_clear(&err);
    assert_int_equal(ts_authz_reload(f->a, &err), TS_OK);
    ts_authz_authorizer_policy_version(f->a, v2);
    assert_string_equal(v1, v2);
    assert_non_null(tu_log_find(&f->log, "\"changed\":false"));

    assert_int_equal(tu_writez(f->dir, "new.csv", "p, role:nobody, x:y, read\n"), 0);
    assert_int_equal(ts_authz_reload(f->a, &err), TS_OK);
    ts_authz_authorizer_policy_version(f->a, v2);
    assert_string_not_equal(v1, v2);
    const char *line = tu_log_find(&f->log, "\"changed\":true");
    assert_non_null(line);
    assert_non_null(strstr(line, v1));
    assert_non_null(strstr(line, v2));
    assert_int_equal(decide(f, "u", "user", none, 1, "x:y", "read", NULL).decision, TS_AUTHZ_ALLOW);

    /* A broken fragment: the reload fails, says why, and the policy in force stays. */
    assert_int_equal(tu_writez(f->dir, "new.csv", "p, role:nobody, x:y\n"), 0);
    tu_log_clear(&f->log);
    assert_int_not_equal(ts_authz_reload(f->a, &err), TS_OK);
    assert_true(strstr(err.msg, "new.csv:1") || strstr(err.where, "new.csv:1"));
    line = tu_log_find(&f->log, "\"ok\":false");
    assert_non_null(line);
    json_t *j = json_loads(line, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "event")), "authz.reload");
    assert_non_null(strstr(json_string_value(json_object_get(j, "error")), "new.csv:1"));
    assert_string_equal(json_string_value(json_object_get(j, "policy_version")), v2);
    json_decref(j);
    /* The error names the file as it is, and the log line stays printable ASCII: a file name
     * with a right-to-left override (U+202E) is written as \u202E. */
    assert_int_equal(unlink_in(f->dir, "new.csv"), 0);
    assert_int_equal(tu_writez(f->dir, "x\xe2\x80\xae.csv", "p, role:nobody, x:y\n"), 0);
    tu_log_clear(&f->log);
    assert_int_not_equal(ts_authz_reload(f->a, &err), TS_OK);
    line = tu_log_find(&f->log, "\"ok\":false");
    assert_non_null(line);
    for (const char *c = line; *c; c++)
        assert_true(*c >= 0x20 && *c < 0x7f);
    assert_non_null(strstr(line, "x\\u202E.csv:1"));
    assert_int_equal(unlink_in(f->dir, "x\xe2\x80\xae.csv"), 0);
    assert_int_equal(tu_writez(f->dir, "new.csv", "p, role:nobody, x:y, read\n"), 0);
    char v3[65];
    ts_authz_authorizer_policy_version(f->a, v3);
    assert_string_equal(v3, v2);
    assert_int_equal(decide(f, "u", "user", none, 1, "x:y", "read", NULL).decision, TS_AUTHZ_ALLOW);
    ts_authz_policy_stats st;
    ts_authz_authorizer_stats(f->a, &st);
    assert_int_equal(st.reloads, 2);
    assert_int_equal(st.reload_failures, 2);
    assert_string_equal(st.source, "baseline+fragments");
}

static void test_sighup(void **state)
{
    fx *f = *state;
    ts_error err;
    ts_error_clear(&err);
    /* Without the mask the helper refuses to start (SIGHUP would kill the process). */
    sigset_t none, old;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, &old);
    assert_null(ts_authz_sighup_start(f->a, &err));
    assert_int_equal(ts_authz_sighup_block(&err), TS_OK);
    ts_authz_sighup *h = ts_authz_sighup_start(f->a, &err);
    assert_non_null(h);
    char v1[65], v2[65];
    ts_authz_authorizer_policy_version(f->a, v1);
    assert_int_equal(tu_writez(f->dir, "hup.csv", "p, role:viewer, hup:x, read\n"), 0);
    assert_int_equal(kill(getpid(), SIGHUP), 0);
    for (int i = 0; i < 500 && ts_authz_sighup_count(h) == 0; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(ts_authz_sighup_count(h), 1);
    ts_authz_authorizer_policy_version(f->a, v2);
    assert_string_not_equal(v1, v2);
    ts_authz_sighup_stop(h);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_baseline_roles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_id_and_domain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_indeterminate, setup, teardown),
        cmocka_unit_test(test_domain_without_model_domain),
        cmocka_unit_test_setup_teardown(test_cache, setup_cached, teardown),
        cmocka_unit_test_setup_teardown(test_cache_roles_not_confused, setup_cached, teardown),
        cmocka_unit_test_setup_teardown(test_control_characters_refused, setup, teardown),
        cmocka_unit_test(test_decision_key_unambiguous),
        cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sighup, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
