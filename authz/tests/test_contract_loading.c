/* Baseline embedding, fragment loading (order, BOM, ConfigMap symlinks, errors naming file and
 * line) and policy_version vectors. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <tokensmith/authz_http.h>

#include "contract_testutil.h"

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(1 << 20);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    buf[*len] = '\0';
    return buf;
}

/* The library carries policy/ byte for byte. */
static void test_baseline_embedded(void **state)
{
    (void)state;
    static const char *const names[] = {"model.conf", "policy.csv", "grouping.csv"};
    for (int i = 0; i < 3; i++) {
        char *path = tu_path(TS_POLICY_SRC_DIR, names[i]);
        size_t flen, elen;
        char *file = read_all(path, &flen);
        const char *emb = ts_authz_baseline((ts_authz_baseline_file)i, &elen);
        assert_non_null(emb);
        assert_int_equal(elen, flen);
        assert_memory_equal(emb, file, flen);
        assert_int_equal(emb[elen], '\0');
        free(file);
        free(path);
    }
    assert_null(ts_authz_baseline((ts_authz_baseline_file)7, NULL));
}

/* Vectors computed with sha256sum over the framing of the definition. */
static void test_version_compute_vectors(void **state)
{
    (void)state;
    char v[65];
    /* printf '\n\n--policy--\n\n--grouping--\n' | sha256sum */
    ts_authz_policy_version_compute("", 0, "", 0, "", 0, v);
    assert_string_equal(v, "521060eceb863441f64697f522ed557bc73ecc95f3bae5d89e26fa12aaad4f3b");
    /* CRLF -> LF and trimming: printf '[a]\nb = c\n\n--policy--\np, x\n\n--grouping--\ng, y' */
    const char *m = "  \r\n[a]\r\nb = c\r\n\r\n\t";
    ts_authz_policy_version_compute(m, strlen(m), "p, x\n", 5, "g, y", 4, v);
    assert_string_equal(v, "ebb773608bc807d40315a59deff152f982c142b577c6542837a577f773149eaa");
    const char *m2 = "[a]\nb = c";
    char v2[65];
    ts_authz_policy_version_compute(m2, strlen(m2), "p, x\n", 5, "g, y", 4, v2);
    assert_string_equal(v, v2);
}

typedef struct dirs {
    char *root, *frag;
} dirs;

static int setup(void **state)
{
    dirs *d = calloc(1, sizeof *d);
    d->root = tu_mkdtemp();
    assert_non_null(d->root);
    d->frag = tu_path(d->root, "policy.d");
    assert_int_equal(mkdir(d->frag, 0700), 0);
    *state = d;
    return 0;
}

static int teardown(void **state)
{
    dirs *d = *state;
    tu_rmrf(d->root);
    free(d->root);
    free(d->frag);
    free(d);
    return 0;
}

/* The expected version assembled by hand from policy/ and the fragment texts. */
static void expected_version(const char *const *frags, size_t nfrags, const char *grouping,
                             char out[65])
{
    size_t mlen, plen, glen;
    char *mp = tu_path(TS_POLICY_SRC_DIR, "model.conf");
    char *pp = tu_path(TS_POLICY_SRC_DIR, "policy.csv");
    char *gp = tu_path(TS_POLICY_SRC_DIR, "grouping.csv");
    char *model = read_all(mp, &mlen);
    char *pol = read_all(pp, &plen);
    char *grp = read_all(gp, &glen);
    char *pbuf = malloc(plen + 4096), *gbuf = malloc(glen + 4096);
    memcpy(pbuf, pol, plen);
    for (size_t i = 0; i < nfrags; i++) {
        const char *f = frags[i];
        if (strncmp(f, "\xEF\xBB\xBF", 3) == 0)
            f += 3;
        size_t n = strlen(f);
        memcpy(pbuf + plen, f, n);
        plen += n;
        if (n > 0 && f[n - 1] != '\n')
            pbuf[plen++] = '\n';
    }
    memcpy(gbuf, grp, glen);
    if (grouping) {
        memcpy(gbuf + glen, grouping, strlen(grouping));
        glen += strlen(grouping);
    }
    ts_authz_policy_version_compute(model, mlen, pbuf, plen, gbuf, glen, out);
    free(mp);
    free(pp);
    free(gp);
    free(model);
    free(pol);
    free(grp);
    free(pbuf);
    free(gbuf);
}

/* "where: msg", as a CLI shows an error. */
static const char *err_text(const ts_error *e)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "%s: %s", e->where, e->msg);
    return buf;
}

static ts_authz_bundle *load_dir(const char *dir, ts_error *err)
{
    ts_authz_source_options o = TS_AUTHZ_SOURCE_OPTIONS_INIT;
    o.policy_dir = dir;
    ts_error_clear(err);
    return ts_authz_bundle_load(&o, err);
}

static void test_baseline_only(void **state)
{
    (void)state;
    ts_error err;
    ts_error_clear(&err);
    ts_authz_bundle *b = ts_authz_bundle_load(NULL, &err);
    assert_non_null(b);
    char want[65];
    expected_version(NULL, 0, NULL, want);
    assert_string_equal(ts_authz_bundle_policy_version(b), want);
    assert_string_equal(ts_authz_bundle_source(b), "baseline-only");
    assert_int_equal(ts_authz_bundle_fragment_count(b), 0);
    ts_authz_enforcer *e = ts_authz_bundle_enforcer(b, &err);
    assert_non_null(e);
    assert_int_equal(ts_authz_enforcer_rule_count(e, "g"), 2);
    ts_authz_enforcer_free(e);
    ts_authz_bundle_free(b);
}

/* A fragment directory without .csv files is the baseline (and must not trip on no names). */
static void test_empty_dir(void **state)
{
    dirs *d = *state;
    ts_error err;
    ts_authz_bundle *b = load_dir(d->frag, &err);
    assert_non_null(b);
    char want[65];
    expected_version(NULL, 0, NULL, want);
    assert_string_equal(ts_authz_bundle_policy_version(b), want);
    assert_int_equal(ts_authz_bundle_fragment_count(b), 0);
    ts_authz_bundle_free(b);
}

static void test_fragments_order_bom_newline(void **state)
{
    dirs *d = *state;
    /* Written out of order; loaded in byte order of name: "A.csv" < "a.csv" < "b.csv". */
    const char *b_csv = "p, role:viewer, extra:b, read"; /* no final newline */
    const char *a_csv = "\xEF\xBB\xBFg, user:alice, role:operator, *\n";
    const char *A_csv = "# only a comment\n";
    assert_int_equal(tu_writez(d->frag, "b.csv", b_csv), 0);
    assert_int_equal(tu_writez(d->frag, "a.csv", a_csv), 0);
    assert_int_equal(tu_writez(d->frag, "A.csv", A_csv), 0);
    assert_int_equal(tu_writez(d->frag, "notes.txt", "p, ignored\n"), 0);
    assert_int_equal(tu_writez(d->frag, ".hidden.csv", "p, ignored\n"), 0);
    char *sub = tu_path(d->frag, "sub.csv");
    assert_int_equal(mkdir(sub, 0700), 0); /* directories are skipped, even named *.csv */
    free(sub);
    ts_error err;
    ts_authz_bundle *b = load_dir(d->frag, &err);
    if (!b)
        fail_msg("%s: %s", err.where, err.msg);
    const char *order[] = {A_csv, a_csv, b_csv};
    char want[65];
    expected_version(order, 3, NULL, want);
    assert_string_equal(ts_authz_bundle_policy_version(b), want);
    assert_string_equal(ts_authz_bundle_source(b), "baseline+fragments");
    assert_int_equal(ts_authz_bundle_fragment_count(b), 3);
    /* g lines of fragments are loaded: alice is an operator (and so a viewer) everywhere. */
    ts_authz_enforcer *e = ts_authz_bundle_enforcer(b, &err);
    assert_non_null(e);
    const char *r1[] = {"user:alice", "", "boot:configs", "read"};
    const char *r2[] = {"user:alice", "tenant-a", "boot:configs", "update"};
    const char *r3[] = {"user:alice", "", "boot:configs", "delete"};
    bool ok = false;
    assert_int_equal(ts_authz_enforce_strs(e, r1, 4, &ok, &err), TS_OK);
    assert_true(ok);
    assert_int_equal(ts_authz_enforce_strs(e, r2, 4, &ok, &err), TS_OK);
    assert_true(ok);
    assert_int_equal(ts_authz_enforce_strs(e, r3, 4, &ok, &err), TS_OK);
    assert_false(ok);
    ts_authz_enforcer_free(e);
    ts_authz_bundle_free(b);

    /* The same bytes through --policy FILE and a grouping file follow the one definition. */
    ts_authz_source_options o = TS_AUTHZ_SOURCE_OPTIONS_INIT;
    char *bp = tu_path(d->frag, "b.csv");
    char *gp = tu_path(d->root, "grouping.csv");
    assert_int_equal(tu_writez(d->root, "grouping.csv", "g, user:bob, role:viewer, t1\n"), 0);
    o.policy_file = bp;
    o.grouping_file = gp;
    b = ts_authz_bundle_load(&o, &err);
    assert_non_null(b);
    const char *one[] = {b_csv};
    expected_version(one, 1, "g, user:bob, role:viewer, t1\n", want);
    assert_string_equal(ts_authz_bundle_policy_version(b), want);
    assert_int_equal(ts_authz_bundle_fragment_count(b), 2);
    ts_authz_bundle_free(b);
    free(bp);
    free(gp);
}

/* Kubernetes ConfigMap layout: x.csv -> ..data/x.csv, ..data -> ..2024_01_01/ */
static void test_configmap_symlinks(void **state)
{
    dirs *d = *state;
    char *ts_dir = tu_path(d->frag, "..2024_01_01");
    assert_int_equal(mkdir(ts_dir, 0700), 0);
    assert_int_equal(tu_writez(ts_dir, "roles.csv", "g, user:carol, role:admin, *\n"), 0);
    char *data = tu_path(d->frag, "..data");
    assert_int_equal(symlink("..2024_01_01", data), 0);
    char *link = tu_path(d->frag, "roles.csv");
    assert_int_equal(symlink("..data/roles.csv", link), 0);
    ts_error err;
    ts_authz_bundle *b = load_dir(d->frag, &err);
    if (!b)
        fail_msg("%s: %s", err.where, err.msg);
    assert_int_equal(ts_authz_bundle_fragment_count(b), 1);
    ts_authz_bundle_free(b);

    /* A link leaving the directory is refused, naming the link. */
    char *outside = tu_path(d->root, "outside.csv");
    assert_int_equal(tu_writez(d->root, "outside.csv", "p, role:viewer, x, read\n"), 0);
    char *evil = tu_path(d->frag, "evil.csv");
    assert_int_equal(symlink(outside, evil), 0);
    b = load_dir(d->frag, &err);
    assert_null(b);
    assert_non_null(strstr(err.where, "evil.csv"));
    assert_non_null(strstr(err.msg, "leaves the policy directory"));
    unlink(evil);
    /* Also through a relative path with "..". */
    assert_int_equal(symlink("../outside.csv", evil), 0);
    b = load_dir(d->frag, &err);
    assert_null(b);
    assert_non_null(strstr(err.msg, "leaves the policy directory"));
    unlink(evil);
    /* A dangling link is an error too. */
    assert_int_equal(symlink("missing.csv", evil), 0);
    b = load_dir(d->frag, &err);
    assert_null(b);
    assert_non_null(strstr(err.where, "evil.csv"));
    free(ts_dir);
    free(data);
    free(link);
    free(outside);
    free(evil);
}

/* Errors name the real file and its own line numbers, not a merged stream. */
static void test_fragment_errors(void **state)
{
    dirs *d = *state;
    ts_error err;
    assert_int_equal(tu_writez(d->frag, "a.csv", "p, role:viewer, a, read\n"), 0);
    assert_int_equal(tu_writez(d->frag, "b.csv", "# header\n\np, role:viewer, b\n"), 0);
    ts_authz_bundle *b = load_dir(d->frag, &err);
    assert_non_null(b); /* field counts are the model's business: checked when built */
    ts_authz_enforcer *e = ts_authz_bundle_enforcer(b, &err);
    assert_null(e);
    assert_non_null(strstr(err_text(&err), "b.csv:3"));
    assert_non_null(strstr(err.msg, "expected 3, got 2"));
    ts_authz_bundle_free(b);

    assert_int_equal(tu_writez(d->frag, "b.csv", "x, role:viewer, b, read\n"), 0);
    b = load_dir(d->frag, &err);
    assert_non_null(b);
    ts_error_clear(&err);
    assert_null(ts_authz_bundle_enforcer(b, &err));
    assert_non_null(strstr(err_text(&err), "b.csv:1"));
    ts_authz_bundle_free(b);

    /* A g line needs at least a member and a role. */
    assert_int_equal(tu_writez(d->frag, "b.csv", "g, user:dave\n"), 0);
    b = load_dir(d->frag, &err);
    ts_error_clear(&err);
    assert_null(ts_authz_bundle_enforcer(b, &err));
    assert_non_null(strstr(err_text(&err), "b.csv:1"));
    ts_authz_bundle_free(b);

    /* A binding without a domain (3 fields) holds in every domain; 4 fields name one. */
    assert_int_equal(tu_writez(d->frag, "b.csv",
                               "g, user:dave, role:viewer\ng, user:erin, role:viewer, tenant-a\n"),
                     0);
    b = load_dir(d->frag, &err);
    assert_non_null(b);
    ts_authz_enforcer *ge = ts_authz_bundle_enforcer(b, &err);
    assert_non_null(ge);
    const char *dave_a[] = {"user:dave", "tenant-a", "boot:configs", "read"};
    const char *dave_b[] = {"user:dave", "tenant-b", "boot:configs", "read"};
    const char *erin_a[] = {"user:erin", "tenant-a", "boot:configs", "read"};
    const char *erin_b[] = {"user:erin", "tenant-b", "boot:configs", "read"};
    bool ok = false;
    assert_int_equal(ts_authz_enforce_strs(ge, dave_a, 4, &ok, &err), TS_OK);
    assert_true(ok);
    assert_int_equal(ts_authz_enforce_strs(ge, dave_b, 4, &ok, &err), TS_OK);
    assert_true(ok);
    assert_int_equal(ts_authz_enforce_strs(ge, erin_a, 4, &ok, &err), TS_OK);
    assert_true(ok);
    assert_int_equal(ts_authz_enforce_strs(ge, erin_b, 4, &ok, &err), TS_OK);
    assert_false(ok);
    ts_authz_enforcer_free(ge);
    ts_authz_bundle_free(b);

    /* CSV syntax errors are reported while loading. */
    assert_int_equal(tu_writez(d->frag, "b.csv", "p, \"unterminated, b, read\n"), 0);
    b = load_dir(d->frag, &err);
    assert_null(b);
    assert_non_null(strstr(err_text(&err), "b.csv:1") ? err.msg : err.where);

    /* Missing directory, policy_dir with policy_file. */
    b = load_dir("/nonexistent/policy.d", &err);
    assert_null(b);
    assert_non_null(strstr(err.where, "/nonexistent/policy.d"));
    ts_authz_source_options o = TS_AUTHZ_SOURCE_OPTIONS_INIT;
    o.policy_dir = d->frag;
    o.policy_file = "x.csv";
    ts_error_clear(&err);
    assert_null(ts_authz_bundle_load(&o, &err));
    assert_int_equal(err.code, TS_EINVAL);
}

static void test_env_dir(void **state)
{
    dirs *d = *state;
    assert_int_equal(tu_writez(d->frag, "a.csv", "p, role:viewer, env:thing, read\n"), 0);
    ts_authz_source_options o = TS_AUTHZ_SOURCE_OPTIONS_INIT;
    o.from_env = true;
    setenv("AUTHZ_POLICY_DIR", d->frag, 1);
    setenv("TOKENSMITH_POLICY_DIR", "", 1); /* empty: the fallback is used */
    ts_error err;
    ts_error_clear(&err);
    ts_authz_bundle *b = ts_authz_bundle_load(&o, &err);
    assert_non_null(b);
    assert_string_equal(ts_authz_bundle_source(b), "baseline+fragments");
    assert_string_equal(ts_authz_bundle_location(b), d->frag);
    ts_authz_bundle_free(b);
    setenv("TOKENSMITH_POLICY_DIR", "/nonexistent/preferred", 1);
    assert_null(ts_authz_bundle_load(&o, &err));
    unsetenv("TOKENSMITH_POLICY_DIR");
    unsetenv("AUTHZ_POLICY_DIR");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_baseline_embedded),
        cmocka_unit_test(test_version_compute_vectors),
        cmocka_unit_test(test_baseline_only),
        cmocka_unit_test_setup_teardown(test_empty_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fragments_order_bom_newline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_configmap_symlinks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fragment_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_dir, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
