/* The policy bundle document (read, write, parse with every refusal) and its installation
 * into a policy directory (ConfigMap layout, stale links, files in the way, a document whose
 * files do not give its policy_version). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <tokensmith/authz_http.h>

#include "policy_bundle_doc.h"
#include "policy_install.h"

static char root[] = "/tmp/ts-bundle-doc-XXXXXX";

static void put(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

static char *sub(const char *name)
{
    static char path[8][512];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, sizeof path[0], "%s/%s", root, name);
    return p;
}

/* What the loader says of @p dir. */
static void loaded_version(const char *dir, char out[65])
{
    ts_authz_source_options o = TS_AUTHZ_SOURCE_OPTIONS_INIT;
    o.policy_dir = dir;
    ts_authz_bundle *b = ts_authz_bundle_load(&o, NULL);
    assert_non_null(b);
    memcpy(out, ts_authz_bundle_policy_version(b), 65);
    ts_authz_bundle_free(b);
}

/* A document of the fragments of @p dir, with the loader's version. */
static void doc_of(const char *dir, ts_cli_bundle_doc *d)
{
    ts_error err;
    ts_error_clear(&err);
    ts_cli_bundle_doc_init(d);
    assert_int_equal(ts_cli_bundle_doc_read_dir(d, dir, &err), TS_OK);
    loaded_version(dir, d->policy_version);
}

static void test_round_trip(void **state)
{
    (void)state;
    char *src = sub("src");
    assert_int_equal(mkdir(src, 0755), 0);
    put(src, "20-g.csv", "\xEF\xBB\xBFg, user:alice, role:ops\n");
    put(src, "10-ops.csv", "p, role:ops, /x, GET\n");
    put(src, ".hidden.csv", "p, role:x, /hidden, GET\n");
    put(src, "notes.txt", "not a fragment");
    assert_int_equal(mkdir(sub("src/dir.csv"), 0755), 0);
    ts_cli_bundle_doc d, back;
    doc_of(src, &d);
    assert_int_equal(d.n_files, 2);
    assert_string_equal(d.files[0].name, "10-ops.csv");
    assert_string_equal(d.files[1].name, "20-g.csv");
    assert_int_equal(d.files[1].len, 3 + strlen("g, user:alice, role:ops\n")); /* BOM kept */
    char *text = NULL;
    size_t len = 0;
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_cli_bundle_doc_dump(&d, &text, &len, &err), TS_OK);
    assert_int_equal(ts_cli_bundle_doc_parse(text, len, 0, &back, &err), TS_OK);
    assert_string_equal(back.policy_version, d.policy_version);
    assert_non_null(strstr(text, "\\uFEFFg, user:alice")); /* printable ASCII */
    assert_null(back.model);
    assert_int_equal(back.n_files, d.n_files);
    for (size_t i = 0; i < d.n_files; i++) {
        assert_string_equal(back.files[i].name, d.files[i].name);
        assert_int_equal(back.files[i].len, d.files[i].len);
        assert_memory_equal(back.files[i].text, d.files[i].text, d.files[i].len);
    }
    /* The staged files load back to the same version. */
    assert_int_equal(ts_cli_install_check(root, &back, &err), TS_OK);
    ts_cli_bundle_doc_cleanup(&back);
    /* The document is bounded as a whole. */
    assert_int_equal(ts_cli_bundle_doc_parse(text, len, len - 1, &back, &err), TS_ELIMIT);
    assert_non_null(strstr(err.msg, "larger than"));
    free(text);
    ts_cli_bundle_doc_cleanup(&d);
    ts_cli_bundle_doc_cleanup(&back);
}

#define V64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HEAD "{\"format\":\"tokensmith-policy-bundle/1\",\"policy_version\":\"" V64 "\","

/* @p json is refused with @p code and a message holding @p msg. */
static void refused(const char *json, size_t len, ts_status code, const char *msg)
{
    ts_cli_bundle_doc d;
    ts_error err;
    ts_error_clear(&err);
    ts_status s = ts_cli_bundle_doc_parse(json, len, 0, &d, &err);
    if (s != code || !strstr(err.msg, msg))
        fail_msg("%s: got %d \"%s\", want %d \"%s\"", json, s, err.msg, code, msg);
    assert_string_equal(err.where, "bundle");
    assert_int_equal(d.n_files, 0);
}

#define REFUSED(json, code, msg) refused(json, sizeof json - 1, code, msg)

static void test_refusals(void **state)
{
    (void)state;
    REFUSED("[1]", TS_ETYPE, "not a JSON object");
    REFUSED("{\"format\":", TS_EPARSE, "not a JSON document");
    REFUSED("{\"format\":\"tokensmith-policy-bundle/2\",\"policy_version\":\"" V64
            "\",\"files\":[]}",
            TS_EINVAL, "format: not \"tokensmith-policy-bundle/1\"");
    REFUSED("{\"format\":1,\"files\":[]}", TS_ETYPE, "format: not a string");
    REFUSED("{\"format\":\"tokensmith-policy-bundle/1\",\"policy_version\":\"ABC\",\"files\":[]}",
            TS_EINVAL, "policy_version: not 64 lowercase hex");
    REFUSED(HEAD "\"files\":{}}", TS_ETYPE, "files: not an array");
    REFUSED(HEAD "\"x\":1}", TS_EINVAL, "files: missing");
    REFUSED(HEAD "\"files\":[{\"name\":\"../x.csv\",\"text\":\"\"}]}", TS_EINVAL,
            "files[0].name: \"../x.csv\" is not a fragment name");
    REFUSED(HEAD "\"files\":[{\"name\":\"a.csv\",\"text\":\"\"},{\"name\":\".x.csv\",\"text\":\"\"}"
                 "]}",
            TS_EINVAL, "files[1].name: \".x.csv\" is not a fragment name");
    REFUSED(HEAD "\"files\":[{\"name\":\"a/b.csv\",\"text\":\"\"}]}", TS_EINVAL,
            "is not a fragment name");
    REFUSED(HEAD "\"files\":[{\"name\":\"a.txt\",\"text\":\"\"}]}", TS_EINVAL,
            "is not a fragment name");
    REFUSED(HEAD "\"files\":[{\"name\":\"..\",\"text\":\"\"}]}", TS_EINVAL,
            "is not a fragment name");
    REFUSED(HEAD "\"files\":[{\"name\":\"a\\u0000.csv\",\"text\":\"\"}]}", TS_EINVAL,
            "is not a fragment name");
    REFUSED(HEAD "\"files\":[{\"name\":\"a.csv\",\"text\":\"\"},{\"name\":\"a.csv\",\"text\":\"\"}"
                 "]}",
            TS_EINVAL, "files[1].name: \"a.csv\" appears twice (files[0])");
    REFUSED(HEAD "\"files\":[{\"name\":\"a.csv\",\"text\":\"p\\u0000q\"}]}", TS_EINVAL,
            "files[0].text: holds a NUL byte");
    REFUSED(HEAD "\"files\":[{\"name\":1,\"text\":\"\"}]}", TS_ETYPE,
            "files[0].name: not a string");
    REFUSED(HEAD "\"files\":[{\"name\":\"a.csv\",\"text\":null}]}", TS_ETYPE,
            "files[0].text: not a string");
    REFUSED(HEAD "\"files\":[{\"name\":\"a.csv\"}]}", TS_EINVAL, "files[0].text: missing");
    REFUSED(HEAD "\"files\":[\"a.csv\"]}", TS_ETYPE, "files[0]: not an object");
    REFUSED(HEAD "\"model\":5,\"files\":[]}", TS_ETYPE, "model: not a string");
    REFUSED(HEAD "\"files\":[],\"files\":[]}", TS_EPARSE, "duplicate");
    REFUSED(HEAD "\"files\":[{\"name\":\"a.csv\",\"name\":\"b.csv\",\"text\":\"\"}]}", TS_EPARSE,
            "duplicate");

    /* Unknown members are ignored; a longest name passes, one more character does not. */
    ts_cli_bundle_doc d;
    const char ok[] = HEAD "\"future\":{\"x\":1},\"files\":[{\"name\":\"a.csv\",\"text\":\"x\","
                           "\"mode\":1}],\"model\":\"m\"}";
    assert_int_equal(ts_cli_bundle_doc_parse(ok, sizeof ok - 1, 0, &d, NULL), TS_OK);
    assert_int_equal(d.n_files, 1);
    assert_string_equal(d.model, "m");
    ts_cli_bundle_doc_cleanup(&d);
    char name[140];
    memset(name, 'n', 128);
    memcpy(name + 128, ".csv", 5);
    assert_true(ts_cli_bundle_name_ok(name, 132));
    assert_false(ts_cli_bundle_name_ok(".csv", 4));
    char longer[141];
    memset(longer, 'n', 129);
    memcpy(longer + 129, ".csv", 5);
    assert_false(ts_cli_bundle_name_ok(longer, 133));
    assert_false(ts_cli_bundle_name_ok("-a.csv", 6));
    assert_true(ts_cli_bundle_name_ok("a-1_b.c.csv", 11));
}

static void test_bounds(void **state)
{
    (void)state;
    /* More files than a policy directory may hold. */
    size_t cap = 64 + (TS_CLI_BUNDLE_MAX_FILES + 1) * 40 + sizeof HEAD;
    char *json = malloc(cap), *p = json;
    assert_non_null(json);
    p += sprintf(p, HEAD "\"files\":[");
    for (unsigned i = 0; i <= TS_CLI_BUNDLE_MAX_FILES; i++)
        p += sprintf(p, "%s{\"name\":\"f%u.csv\",\"text\":\"\"}", i ? "," : "", i);
    p += sprintf(p, "]}");
    refused(json, (size_t)(p - json), TS_ELIMIT, "files: more than 1024 files");
    free(json);

    /* A text larger than a fragment may be (cheap to build: 'a' needs no escape). */
    size_t big = TS_CLI_BUNDLE_MAX_TEXT + 1;
    cap = big + 256;
    json = malloc(cap);
    assert_non_null(json);
    p = json + sprintf(json, HEAD "\"files\":[{\"name\":\"big.csv\",\"text\":\"");
    memset(p, 'a', big);
    p += big;
    p += sprintf(p, "\"}]}");
    refused(json, (size_t)(p - json), TS_ELIMIT, "files[0].text: larger than 16777216 bytes");
    free(json);
}

static size_t count_stages(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -c '^\\.\\.[0-9]'", dir);
    FILE *f = popen(cmd, "r");
    unsigned n = 0;
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%u", &n), 1);
    pclose(f);
    return n;
}

static void link_target(const char *path, char *out, size_t cap)
{
    ssize_t n = readlink(path, out, cap - 1);
    out[n < 0 ? 0 : n] = '\0';
}

/* Whether the error, as one line (where: message), says @p what. */
static bool says(const ts_error *err, const char *what)
{
    char line[400];
    snprintf(line, sizeof line, "%s: %s", err->where, err->msg);
    return strstr(line, what) != NULL;
}

static void test_install(void **state)
{
    (void)state;
    char *a = sub("a"), *b = sub("b"), *node = sub("node");
    assert_int_equal(mkdir(a, 0755), 0);
    assert_int_equal(mkdir(b, 0755), 0);
    assert_int_equal(mkdir(node, 0755), 0);
    put(a, "10-ops.csv", "p, role:ops, /x, GET\n");
    put(a, "20-g.csv", "g, user:alice, role:ops\n");
    put(b, "10-ops.csv", "p, role:ops, /y, GET\n");
    ts_cli_bundle_doc da, db;
    doc_of(a, &da);
    doc_of(b, &db);
    ts_error err;
    ts_error_clear(&err);
    char now[65], buf[512];

    int lock = ts_cli_install_lock(node, &err);
    assert_true(lock >= 0);
    assert_int_equal(ts_cli_install_lock(node, &err), -1);
    assert_non_null(strstr(err.msg, "another policy sync holds"));

    ts_cli_install_current(node, now);
    assert_string_equal(now, "");
    assert_int_equal(ts_cli_install(node, &da, now, NULL, &err), TS_CLI_INSTALL_DONE);
    ts_cli_install_current(node, now);
    assert_string_equal(now, da.policy_version);
    link_target(sub("node/20-g.csv"), buf, sizeof buf);
    assert_string_equal(buf, "..data/20-g.csv");
    assert_int_equal(count_stages(node), 1);
    assert_int_equal(ts_cli_install(node, &da, now, NULL, &err), TS_CLI_INSTALL_UNCHANGED);
    assert_int_equal(count_stages(node), 1);
    /* B's files claiming A's (installed) version: refused, not "unchanged". */
    memcpy(buf, db.policy_version, 65);
    memcpy(db.policy_version, da.policy_version, 65);
    assert_int_equal(ts_cli_install(node, &db, now, NULL, &err), TS_CLI_INSTALL_REFUSED);
    assert_non_null(strstr(err.msg, "policy_version mismatch"));
    memcpy(db.policy_version, buf, 65);
    assert_int_equal(ts_cli_install(node, &db, now, da.policy_version, &err),
                     TS_CLI_INSTALL_REFUSED);
    assert_non_null(strstr(err.msg, "is not the expected"));

    /* B drops 20-g.csv: its link goes, and the stage of A. */
    assert_int_equal(ts_cli_install(node, &db, now, NULL, &err), TS_CLI_INSTALL_DONE);
    ts_cli_install_current(node, now);
    assert_string_equal(now, db.policy_version);
    struct stat st;
    assert_int_equal(lstat(sub("node/20-g.csv"), &st), -1);
    assert_int_equal(count_stages(node), 1);

    /* Files give another version than the document says: refused, B kept, stage removed. */
    ts_cli_bundle_doc_cleanup(&da);
    doc_of(a, &da);
    da.policy_version[0] = da.policy_version[0] == '0' ? '1' : '0';
    ts_error_clear(&err);
    assert_int_equal(ts_cli_install(node, &da, now, NULL, &err), TS_CLI_INSTALL_REFUSED);
    assert_non_null(strstr(err.msg, "policy_version mismatch: document says"));
    ts_cli_install_current(node, now);
    assert_string_equal(now, db.policy_version);
    assert_int_equal(count_stages(node), 1);

    /* A rule the model refuses: file and line. */
    ts_cli_bundle_doc_cleanup(&da);
    put(a, "30-bad.csv", "p, only_two\n");
    doc_of(a, &da);
    ts_error_clear(&err);
    assert_int_equal(ts_cli_install(node, &da, now, NULL, &err), TS_CLI_INSTALL_REFUSED);
    assert_true(says(&err, "30-bad.csv:1"));
    unlink(sub("a/30-bad.csv"));

    /* A regular file of a bundle file's name is someone else's: refused, naming it. */
    ts_cli_bundle_doc_cleanup(&da);
    doc_of(a, &da);
    put(node, "20-g.csv", "p, role:mine, /z, GET\n");
    ts_error_clear(&err);
    assert_int_equal(ts_cli_install(node, &da, now, NULL, &err), TS_CLI_INSTALL_REFUSED);
    assert_non_null(strstr(err.msg, "20-g.csv: not installed by policy sync"));
    assert_int_equal(lstat(sub("node/20-g.csv"), &st), 0);
    assert_true(S_ISREG(st.st_mode));
    link_target(sub("node/10-ops.csv"), buf, sizeof buf);
    assert_string_equal(buf, "..data/10-ops.csv");
    assert_int_equal(count_stages(node), 1);
    unlink(sub("node/20-g.csv"));
    assert_int_equal(ts_cli_install(node, &da, now, NULL, &err), TS_CLI_INSTALL_DONE);

    close(lock);
    ts_cli_bundle_doc_cleanup(&da);
    ts_cli_bundle_doc_cleanup(&db);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_install),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
