/* The guard's live policy: policy files followed with inotify (a fragment edited, a Kubernetes
 * ConfigMap's ..data symlink swapped, a broken fragment refused with its file and line, SIGHUP
 * beside the watcher, free while a change is pending), and rules changed at run time (in memory
 * and in a fragment file; reader threads never see half of a change). */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include <jansson.h>

#include <tokensmith/authz_guard.h>

#include "contract_testutil.h"

#define WAIT_MS 20000 /* a bound for a loaded machine (valgrind, TSan), not the expected time */

typedef struct fx {
    char *dir;
    tu_log log;
    ts_authz_authorizer *a;
    ts_authz_guard *g;
} fx;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    f->dir = tu_mkdtemp();
    tu_log_init(&f->log);
    *state = f;
    return f->dir ? 0 : -1;
}

static int teardown(void **state)
{
    fx *f = *state;
    ts_authz_guard_free(f->g);
    ts_authz_authorizer_free(f->a);
    tu_rmrf(f->dir);
    free(f->dir);
    tu_log_free(&f->log);
    free(f);
    return 0;
}

/* Authorizer on f->dir and a guard over it; @p debounce 0: not watching. */
static void start(fx *f, unsigned debounce, const char *runtime_fragment)
{
    ts_error err;
    ts_error_clear(&err);
    ts_authz_authorizer_options ao = TS_AUTHZ_AUTHORIZER_OPTIONS_INIT;
    ao.source.policy_dir = f->dir;
    f->a = ts_authz_authorizer_new(&ao, &err);
    if (!f->a)
        fail_msg("authorizer: %s: %s", err.where, err.msg);
    ts_authz_guard_options go = TS_AUTHZ_GUARD_OPTIONS_INIT;
    go.authorizer = f->a;
    go.log = tu_log_sink;
    go.log_ud = &f->log;
    go.watch = debounce > 0;
    go.watch_debounce_ms = debounce;
    go.runtime_fragment = runtime_fragment;
    f->g = ts_authz_guard_new(&go, &err);
    if (!f->g)
        fail_msg("guard: %s: %s", err.where, err.msg);
}

/* May role @p role do @p act on @p obj? */
static bool allowed(const fx *f, const char *role, const char *obj, const char *act)
{
    const char *roles[] = {role};
    ts_authz_principal p = {"u1", "user", roles, 1, NULL};
    ts_authz_result r;
    ts_authz_authorize(f->a, &p, obj, act, NULL, &r);
    return r.decision == TS_AUTHZ_ALLOW;
}

static bool wait_allowed(const fx *f, const char *role, const char *obj, bool want)
{
    for (int64_t end = now_ms() + WAIT_MS; now_ms() < end; sleep_ms(10))
        if (allowed(f, role, obj, "read") == want)
            return true;
    return false;
}

static void version(const fx *f, char out[TS_AUTHZ_POLICY_VERSION_LEN + 1])
{
    ts_authz_authorizer_policy_version(f->a, out);
}

/* The diagnostics document, parsed. */
static json_t *diagnostics(const fx *f)
{
    char buf[8192];
    size_t len = 0;
    assert_int_equal(ts_authz_guard_diagnostics(f->g, buf, sizeof buf, &len, NULL), TS_OK);
    json_t *j = json_loadb(buf, len, 0, NULL);
    assert_non_null(j);
    return j;
}

static json_int_t watch_count(const fx *f, const char *what)
{
    json_t *j = diagnostics(f);
    json_int_t n = json_integer_value(json_object_get(json_object_get(j, "watch"), what));
    json_decref(j);
    return n;
}

static void test_fragment_edit(void **state)
{
    fx *f = *state;
    assert_int_equal(tu_writez(f->dir, "10-a.csv", "p, role:a, obj:x, read\n"), 0);
    start(f, 50, NULL);
    char before[TS_AUTHZ_POLICY_VERSION_LEN + 1], after[TS_AUTHZ_POLICY_VERSION_LEN + 1];
    version(f, before);
    assert_true(allowed(f, "a", "obj:x", "read"));
    assert_false(allowed(f, "a", "obj:y", "read"));
    json_t *j = diagnostics(f);
    assert_true(json_is_true(json_object_get(json_object_get(j, "watch"), "enabled")));
    assert_string_equal(json_string_value(json_object_get(j, "policy_version")), before);
    const char *at = json_string_value(json_object_get(j, "loaded_at"));
    assert_non_null(at);
    assert_int_equal(strlen(at), 24); /* 2026-12-07T11:14:43.123Z */
    assert_int_equal(at[23], 'Z');
    json_decref(j);

    assert_int_equal(
        tu_writez(f->dir, "10-a.csv", "p, role:a, obj:x, read\np, role:a, obj:y, read\n"), 0);
    assert_true(wait_allowed(f, "a", "obj:y", true));
    version(f, after);
    assert_string_not_equal(before, after);
    /* One line with the new version and the old one. */
    for (int64_t end = now_ms() + WAIT_MS; now_ms() < end && !tu_log_find(&f->log, after);)
        sleep_ms(10);
    const char *line = tu_log_find(&f->log, "\"event\":\"authz.watch\"");
    assert_non_null(line);
    assert_non_null(strstr(line, "\"ok\":true"));
    assert_non_null(strstr(line, after));
    assert_non_null(strstr(line, before));
    assert_int_equal(watch_count(f, "applied"), 1);

    /* The same bytes written again: nothing is swapped, nothing logged. */
    tu_log_clear(&f->log);
    assert_int_equal(
        tu_writez(f->dir, "10-a.csv", "p, role:a, obj:x, read\np, role:a, obj:y, read\n"), 0);
    for (int64_t end = now_ms() + WAIT_MS; now_ms() < end && watch_count(f, "unchanged") < 1;)
        sleep_ms(10);
    assert_int_equal(watch_count(f, "unchanged"), 1);
    assert_int_equal(watch_count(f, "applied"), 1);
    assert_null(tu_log_find(&f->log, "authz.watch"));

    /* A fragment removed is a change too. */
    char *gone = tu_path(f->dir, "10-a.csv");
    assert_int_equal(unlink(gone), 0);
    free(gone);
    assert_true(wait_allowed(f, "a", "obj:x", false));
}

/* Kubernetes' layout: dir/..2026_x (real files), dir/..data -> ..2026_x, dir/f.csv ->
 * ..data/f.csv; an update writes a new ..2026_y, renames a new symlink over ..data and removes
 * the old directory. */
static void cm_version(const char *dir, const char *name, const char *text)
{
    char *sub = tu_path(dir, name);
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_int_equal(tu_writez(sub, "10-cm.csv", text), 0);
    free(sub);
}

static void test_configmap_swap(void **state)
{
    fx *f = *state;
    cm_version(f->dir, "..2026_12_07_01", "p, role:cm, obj:one, read\n");
    char *data = tu_path(f->dir, "..data"), *file = tu_path(f->dir, "10-cm.csv");
    assert_int_equal(symlink("..2026_12_07_01", data), 0);
    assert_int_equal(symlink("..data/10-cm.csv", file), 0);
    start(f, 50, NULL);
    assert_true(allowed(f, "cm", "obj:one", "read"));
    assert_false(allowed(f, "cm", "obj:two", "read"));
    char before[TS_AUTHZ_POLICY_VERSION_LEN + 1], after[TS_AUTHZ_POLICY_VERSION_LEN + 1];
    version(f, before);

    cm_version(f->dir, "..2026_12_07_02", "p, role:cm, obj:two, read\n");
    char *tmp = tu_path(f->dir, "..data_tmp"), *old = tu_path(f->dir, "..2026_12_07_01");
    assert_int_equal(symlink("..2026_12_07_02", tmp), 0);
    assert_int_equal(rename(tmp, data), 0);
    tu_rmrf(old);
    assert_true(wait_allowed(f, "cm", "obj:two", true));
    assert_false(allowed(f, "cm", "obj:one", "read"));
    version(f, after);
    assert_string_not_equal(before, after);
    json_t *j = diagnostics(f);
    assert_string_equal(json_string_value(json_object_get(j, "policy_version")), after);
    assert_string_equal(json_string_value(json_object_get(j, "policy_source")),
                        "baseline+fragments");
    json_decref(j);
    free(tmp);
    free(old);
    free(data);
    free(file);
}

static void test_broken_fragment(void **state)
{
    fx *f = *state;
    assert_int_equal(tu_writez(f->dir, "10-a.csv", "p, role:a, obj:x, read\n"), 0);
    start(f, 50, NULL);
    char before[TS_AUTHZ_POLICY_VERSION_LEN + 1], now[TS_AUTHZ_POLICY_VERSION_LEN + 1];
    version(f, before);
    /* Line 2 has a stray quote; line 1 alone would be fine. */
    assert_int_equal(
        tu_writez(f->dir, "20-bad.csv", "p, role:a, obj:z, read\np, role:a, ob\"j, read\n"), 0);
    for (int64_t end = now_ms() + WAIT_MS; now_ms() < end && watch_count(f, "refused") < 1;)
        sleep_ms(10);
    assert_int_equal(watch_count(f, "refused"), 1);
    const char *line = tu_log_find(&f->log, "\"event\":\"authz.watch\"");
    assert_non_null(line);
    assert_non_null(strstr(line, "\"ok\":false"));
    assert_non_null(strstr(line, "20-bad.csv\""));
    assert_non_null(strstr(line, "\"line\":2"));
    assert_non_null(strstr(line, "\"kept\":true"));
    assert_non_null(strstr(line, before));
    version(f, now);
    assert_string_equal(before, now); /* the old policy stays, whole */
    assert_true(allowed(f, "a", "obj:x", "read"));
    assert_false(allowed(f, "a", "obj:z", "read"));
    json_t *j = diagnostics(f);
    const char *last =
        json_string_value(json_object_get(json_object_get(j, "watch"), "last_error"));
    assert_non_null(last);
    assert_non_null(strstr(last, "20-bad.csv:2:"));
    json_decref(j);

    /* Mended: applied. */
    assert_int_equal(tu_writez(f->dir, "20-bad.csv", "p, role:a, obj:z, read\n"), 0);
    assert_true(wait_allowed(f, "a", "obj:z", true));
}

/* SIGHUP reloads while the watcher waits out a long quiet period; freeing the guard then
 * returns at once, the pending change dropped. */
static void test_sighup_and_free_pending(void **state)
{
    fx *f = *state;
    assert_int_equal(tu_writez(f->dir, "10-a.csv", "p, role:a, obj:x, read\n"), 0);
    start(f, 30000, NULL);
    ts_error err;
    ts_error_clear(&err);
    ts_authz_sighup *hup = ts_authz_sighup_start(f->a, &err);
    assert_non_null(hup);
    assert_int_equal(tu_writez(f->dir, "10-a.csv", "p, role:a, obj:w, read\n"), 0);
    for (int64_t end = now_ms() + WAIT_MS; now_ms() < end && watch_count(f, "events") < 1;)
        sleep_ms(10);
    json_t *j = diagnostics(f);
    assert_true(json_is_true(json_object_get(json_object_get(j, "watch"), "pending")));
    json_decref(j);
    assert_false(allowed(f, "a", "obj:w", "read")); /* 30 s of quiet not over */
    assert_int_equal(kill(getpid(), SIGHUP), 0);
    assert_true(wait_allowed(f, "a", "obj:w", true));
    assert_true(ts_authz_sighup_count(hup) >= 1);
    ts_authz_sighup_stop(hup);

    int64_t t0 = now_ms();
    ts_authz_guard_free(f->g);
    f->g = NULL;
    assert_true(now_ms() - t0 < 2000);
}

/* ---- runtime changes ------------------------------------------------------------------- */

typedef struct readers {
    fx *f;
    atomic_bool stop;
    atomic_int torn, both, none;
    char v_none[TS_AUTHZ_POLICY_VERSION_LEN + 1];
} readers;

/* One snapshot per call: the roles alice has, and the version they were read from. Both
 * bindings or neither, and each with its own version. */
static void *reader(void *arg)
{
    readers *r = arg;
    ts_authz_principal p = {"alice", "user", NULL, 0, NULL};
    while (!atomic_load(&r->stop)) {
        char **roles = NULL;
        size_t n = 0;
        char pv[TS_AUTHZ_POLICY_VERSION_LEN + 1];
        if (ts_authz_guard_roles(r->f->g, &p, NULL, 16, &roles, &n, pv, NULL) != TS_OK) {
            atomic_fetch_add(&r->torn, 1);
            continue;
        }
        bool a = false, b = false;
        for (size_t i = 0; i < n; i++) {
            a = a || strcmp(roles[i], "role:rt-a") == 0;
            b = b || strcmp(roles[i], "role:rt-b") == 0;
        }
        bool none_version = strcmp(pv, r->v_none) == 0;
        if (a != b || (a && none_version) || (!a && !none_version))
            atomic_fetch_add(&r->torn, 1);
        else
            atomic_fetch_add(a ? &r->both : &r->none, 1);
        ts_authz_roles_free(roles);
    }
    return NULL;
}

static const char *const bind_a[] = {"user:alice", "role:rt-a", "*"};
static const char *const bind_b[] = {"user:alice", "role:rt-b", "*"};
static const ts_authz_rule_row pair[] = {{"g", bind_a, 3}, {"g", bind_b, 3}};

static void test_runtime_atomic(void **state)
{
    fx *f = *state;
    start(f, 0, NULL);
    readers r;
    memset(&r, 0, sizeof r);
    r.f = f;
    version(f, r.v_none);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, reader, &r), 0);
    char v_both[TS_AUTHZ_POLICY_VERSION_LEN + 1] = "", pv[TS_AUTHZ_POLICY_VERSION_LEN + 1];
    for (int round = 0; round < 40; round++) {
        size_t changed = 0;
        ts_error err;
        ts_error_clear(&err);
        assert_int_equal(ts_authz_guard_add_rules(f->g, pair, 2, &changed, pv, &err), TS_OK);
        assert_int_equal(changed, 2);
        if (!v_both[0])
            memcpy(v_both, pv, sizeof pv);
        assert_string_equal(pv, v_both); /* the same rules, the same version */
        sleep_ms(1);
        assert_int_equal(ts_authz_guard_remove_rules(f->g, pair, 2, &changed, pv, &err), TS_OK);
        assert_int_equal(changed, 2);
        assert_string_equal(pv, r.v_none);
        sleep_ms(1);
    }
    atomic_store(&r.stop, true);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&r.torn), 0);
    assert_true(atomic_load(&r.both) > 0);
    assert_true(atomic_load(&r.none) > 0);
    const char *line = tu_log_find(&f->log, "\"event\":\"authz.rules\"");
    assert_non_null(line);
    assert_non_null(strstr(line, "\"op\":\"remove\""));

    /* A reload keeps rules held in memory. */
    size_t changed = 0;
    assert_int_equal(ts_authz_guard_add_rules(f->g, pair, 2, &changed, pv, NULL), TS_OK);
    assert_int_equal(ts_authz_reload(f->a, NULL), TS_OK);
    version(f, pv);
    assert_string_equal(pv, v_both);
    /* Adding them again changes nothing. */
    assert_int_equal(ts_authz_guard_add_rules(f->g, pair, 2, &changed, pv, NULL), TS_OK);
    assert_int_equal(changed, 0);
}

static void test_runtime_persisted(void **state)
{
    fx *f = *state;
    assert_int_equal(tu_writez(f->dir, "10-a.csv", "p, role:a, obj:x, read\n"), 0);
    start(f, 0, "zz-runtime.csv");
    static const char *const perm[] = {"role:rt", "obj:p, q", "read"}; /* a field with a comma */
    static const char *const bind[] = {"user:u1", "role:rt", "*"};
    const ts_authz_rule_row rules[] = {{"p", perm, 3}, {"g", bind, 3}};
    size_t changed = 0;
    char pv[TS_AUTHZ_POLICY_VERSION_LEN + 1];
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_authz_guard_add_rules(f->g, rules, 2, &changed, pv, &err), TS_OK);
    assert_int_equal(changed, 2);
    assert_true(allowed(f, "rt", "obj:p, q", "read"));
    char *path = tu_path(f->dir, "zz-runtime.csv");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);

    /* A restart reads the same file: the same policy_version. */
    ts_authz_authorizer_options ao = TS_AUTHZ_AUTHORIZER_OPTIONS_INIT;
    ao.source.policy_dir = f->dir;
    ts_authz_authorizer *again = ts_authz_authorizer_new(&ao, &err);
    assert_non_null(again);
    char pv2[TS_AUTHZ_POLICY_VERSION_LEN + 1];
    ts_authz_authorizer_policy_version(again, pv2);
    assert_string_equal(pv, pv2);
    ts_authz_guard_options go = TS_AUTHZ_GUARD_OPTIONS_INIT;
    go.authorizer = again;
    go.runtime_fragment = "zz-runtime.csv";
    ts_authz_guard *g2 = ts_authz_guard_new(&go, &err);
    assert_non_null(g2);
    char buf[4096];
    size_t blen = 0;
    assert_int_equal(ts_authz_guard_diagnostics(g2, buf, sizeof buf, &blen, NULL), TS_OK);
    assert_non_null(strstr(buf, "\"runtime\":{\"rules\":2,"));
    ts_authz_guard_free(g2);
    ts_authz_authorizer_free(again);
    json_t *j = diagnostics(f);
    json_t *rt = json_object_get(j, "runtime");
    assert_int_equal(json_integer_value(json_object_get(rt, "rules")), 2);
    assert_true(json_is_true(json_object_get(rt, "persisted")));
    json_decref(j);

    /* A rule the model refuses (p takes 3 fields) changes neither the policy nor the file. */
    static const char *const wide[] = {"role:rt", "obj:q", "read", "extra"};
    const ts_authz_rule_row bad = {"p", wide, 4};
    struct stat st2;
    ts_error_clear(&err);
    assert_int_not_equal(ts_authz_guard_add_rules(f->g, &bad, 1, &changed, pv2, &err), TS_OK);
    assert_string_equal(pv, pv2);
    assert_int_equal(stat(path, &st2), 0);
    assert_int_equal(st.st_ino, st2.st_ino);
    const char *line = tu_log_find(&f->log, "\"ok\":false");
    assert_non_null(line);
    assert_non_null(strstr(line, "authz.rules"));
    /* A control character is refused before anything. */
    static const char *const ctl[] = {"role:rt", "obj:\n", "read"};
    const ts_authz_rule_row nl = {"p", ctl, 3};
    assert_int_equal(ts_authz_guard_add_rules(f->g, &nl, 1, &changed, NULL, &err), TS_EINVAL);

    /* Removing a rule of another file is not a runtime change. */
    static const char *const other[] = {"role:a", "obj:x", "read"};
    const ts_authz_rule_row file_rule = {"p", other, 3};
    assert_int_equal(ts_authz_guard_remove_rules(f->g, &file_rule, 1, &changed, NULL, &err), TS_OK);
    assert_int_equal(changed, 0);
    assert_true(allowed(f, "a", "obj:x", "read"));
    assert_int_equal(ts_authz_guard_remove_rules(f->g, rules, 2, &changed, NULL, &err), TS_OK);
    assert_int_equal(changed, 2);
    assert_false(allowed(f, "rt", "obj:p, q", "read"));
    free(path);
}

static void test_watch_errors(void **state)
{
    fx *f = *state;
    ts_error err;
    ts_error_clear(&err);
    f->a = ts_authz_authorizer_new(NULL, &err); /* the baseline alone: nothing to watch */
    assert_non_null(f->a);
    ts_authz_guard_options go = TS_AUTHZ_GUARD_OPTIONS_INIT;
    go.authorizer = f->a;
    go.watch = true;
    assert_null(ts_authz_guard_new(&go, &err));
    assert_int_equal(err.code, TS_EINVAL);
    go.watch = false;
    go.runtime_fragment = "../x.csv";
    assert_null(ts_authz_guard_new(&go, &err));
    go.runtime_fragment = "zz.csv"; /* no policy directory to keep it in */
    assert_null(ts_authz_guard_new(&go, &err));
    /* Version 1 options (built before the live-policy members) are still accepted. */
    go.runtime_fragment = NULL;
    go.version = 1;
    f->g = ts_authz_guard_new(&go, &err);
    assert_non_null(f->g);
    json_t *j = diagnostics(f);
    assert_true(json_is_false(json_object_get(json_object_get(j, "watch"), "enabled")));
    json_decref(j);
}

int main(void)
{
    /* Before any thread: every thread inherits the blocked SIGHUP (the helper's contract). */
    if (ts_authz_sighup_block(NULL) != TS_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fragment_edit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_configmap_swap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_fragment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sighup_and_free_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runtime_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runtime_persisted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
