/* CSV policy loading: Go encoding/csv rules per line, file-adapter line handling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "policy.h"

#define CONF_DIR TS_SHARED_DIR "/casbin-conformance"

/* Split @p line and compare with the NULL-terminated list of expected fields. */
static void split_eq(const char *line, ...)
{
    char **f = NULL;
    size_t n = 0, i = 0;
    ts_error err;
    va_list ap;
    const char *want;
    ts_error_clear(&err);
    if (ts_authz_csv_split_line(line, strlen(line), &f, &n, NULL, &err) != TS_OK)
        fail_msg("split of [%s] failed: %s", line, err.msg);
    va_start(ap, line);
    while ((want = va_arg(ap, const char *)) != NULL) {
        if (i >= n)
            fail_msg("[%s]: only %zu fields", line, n);
        if (strcmp(f[i], want) != 0)
            fail_msg("[%s] field %zu: got [%s], want [%s]", line, i, f[i], want);
        i++;
    }
    va_end(ap);
    assert_int_equal(n, i);
    ts_authz_csv_fields_free(f, n);
}

static void split_fails(const char *line, ts_status code, size_t want_col, const char *msg)
{
    char **f = NULL;
    size_t n = 0, col = 0;
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_authz_csv_split_line(line, strlen(line), &f, &n, &col, &err), code);
    assert_int_equal(err.code, code);
    assert_null(f);
    assert_int_equal(n, 0);
    if (want_col)
        assert_int_equal(col, want_col);
    if (msg)
        assert_string_equal(err.msg, msg);
}

static void test_split_basic(void **state)
{
    (void)state;
    split_eq("p, alice, data1, read", "p", "alice", "data1", "read", NULL);
    split_eq("p,bob,data2,write", "p", "bob", "data2", "write", NULL);
    split_eq("p, \"alice,smith\", data1, read", "p", "alice,smith", "data1", "read", NULL);
    split_eq("p, \"da\"\"ve\", data4, read", "p", "da\"ve", "data4", "read", NULL);
    split_eq("p, eve, \"data5\", \"write\"", "p", "eve", "data5", "write", NULL);
    split_eq("p, ivan, \"\", read", "p", "ivan", "", "read", NULL);
    split_eq("p, heidi, , read", "p", "heidi", "", "read", NULL);
    split_eq("p, dave, data4, read,", "p", "dave", "data4", "read", "", NULL);
    split_eq("p,,", "p", "", "", NULL);
    split_eq("\"\"", "", NULL);
    split_eq("x", "x", NULL);
    /* Only leading white space is trimmed (Unicode white space, as unicode.IsSpace). */
    split_eq("p,   carol  ,   data3   ,   read", "p", "carol  ", "data3   ", "read", NULL);
    split_eq("p,\tx,\xC2\xA0y,\xE3\x80\x80z", "p", "x", "y", "z", NULL);
    split_eq("p, \"  q  \"", "p", "  q  ", NULL);
}

static void test_split_data_kept(void **state)
{
    (void)state;
    /* '#' later in the line is data, and so are quotes inside quoted fields. */
    split_eq("p, grace, data7, read # trailing comment?", "p", "grace", "data7",
             "read # trailing comment?", NULL);
    split_eq("p, \"keyMatch(a, b)\", \"x,\"\"y\"\"\"", "p", "keyMatch(a, b)", "x,\"y\"", NULL);
    split_eq("p, a\\b, 'c'", "p", "a\\b", "'c'", NULL);
    /* Go's reader gives no record for an empty or comment line. */
    {
        char **f = (char **)1;
        size_t n = 5;
        assert_int_equal(ts_authz_csv_split_line("", 0, &f, &n, NULL, NULL), TS_OK);
        assert_int_equal(n, 0);
        ts_authz_csv_fields_free(f, n);
        assert_int_equal(ts_authz_csv_split_line("# x", 3, &f, &n, NULL, NULL), TS_OK);
        assert_int_equal(n, 0);
        ts_authz_csv_fields_free(f, n);
    }
    ts_authz_csv_fields_free(NULL, 0);
}

static void test_split_errors(void **state)
{
    (void)state;
    /* Columns are 1-based bytes, exactly as Go's csv.ParseError reports them. */
    split_fails("p, alice, da\"ta1, read", TS_EPARSE, 13, "bare \" in non-quoted-field");
    split_fails("p, \"alice\" , data1, read", TS_EPARSE, 10,
                "extraneous or missing \" in quoted-field");
    split_fails("p, \"alice\"x", TS_EPARSE, 10, "extraneous or missing \" in quoted-field");
    split_fails("p, \"abc", TS_EPARSE, 8, "extraneous or missing \" in quoted-field");
    split_fails("p, \"a\"\"", TS_EPARSE, 8, "extraneous or missing \" in quoted-field");
    split_fails("\"", TS_EPARSE, 2, "extraneous or missing \" in quoted-field");
    split_fails("a\"", TS_EPARSE, 2, "bare \" in non-quoted-field");
    split_fails("p,x,y\"", TS_EPARSE, 6, "bare \" in non-quoted-field");
    {
        char **f;
        size_t n;
        assert_int_equal(ts_authz_csv_split_line(NULL, 3, &f, &n, NULL, NULL), TS_EINVAL);
        assert_int_equal(ts_authz_csv_split_line("a", 1, NULL, &n, NULL, NULL), TS_EINVAL);
    }
}

static void test_split_caps(void **state)
{
    (void)state;
    char line[4096];
    size_t len = 0;
    char **f = NULL;
    size_t n = 0;
    ts_error err;
    for (unsigned i = 0; i < TS_CSV_MAX_FIELDS; i++)
        len += (size_t)snprintf(line + len, sizeof line - len, "%sf%u", i ? "," : "", i);
    assert_int_equal(ts_authz_csv_split_line(line, len, &f, &n, NULL, NULL), TS_OK);
    assert_int_equal(n, TS_CSV_MAX_FIELDS);
    assert_string_equal(f[TS_CSV_MAX_FIELDS - 1], "f64");
    ts_authz_csv_fields_free(f, n);
    len += (size_t)snprintf(line + len, sizeof line - len, ",one-more");
    ts_error_clear(&err);
    assert_int_equal(ts_authz_csv_split_line(line, len, &f, &n, NULL, &err), TS_ELIMIT);

    {
        size_t big = TS_AUTHZ_MAX_LINE_BYTES + 1u;
        char *s = malloc(big);
        assert_non_null(s);
        memset(s, 'a', big);
        ts_error_clear(&err);
        assert_int_equal(ts_authz_csv_split_line(s, big, &f, &n, NULL, &err), TS_ELIMIT);
        assert_int_equal(ts_authz_csv_split_line(s, big - 1, &f, &n, NULL, NULL), TS_OK);
        assert_int_equal(n, 1);
        assert_int_equal(strlen(f[0]), big - 1);
        ts_authz_csv_fields_free(f, n);
        free(s);
    }
}

/* ---------------------------------------------------------------------------------------- */

static ts_authz_policy *load_ok(const char *text, const char *name)
{
    ts_error err;
    ts_authz_policy *p = ts_authz_policy_new();
    assert_non_null(p);
    ts_error_clear(&err);
    if (ts_authz_policy_load_csv(p, text, strlen(text), name, &err) != TS_OK)
        fail_msg("load failed: %s: %s", err.where, err.msg);
    return p;
}

static void rule_eq(const ts_policy_rule *r, const char *ptype, size_t n, ...)
{
    va_list ap;
    assert_string_equal(r->ptype, ptype);
    assert_int_equal(r->nfields, n);
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(r->fields[i], va_arg(ap, const char *));
    va_end(ap);
}

#define CSV_EDGE                                                                                   \
    "# leading comment\n"                                                                          \
    "   # indented comment\n"                                                                      \
    "\n"                                                                                           \
    "p, \"alice,smith\", data1, read\n"                                                            \
    "p,bob,data2,write\n"                                                                          \
    "p,   carol  ,   data3   ,   read   \n"                                                        \
    "p, \"da\"\"ve\", data4, read\n"                                                               \
    "p, eve, \"data5\", \"write\"\n"                                                               \
    "\tp, frank, data6, read\n"                                                                    \
    "p, grace, data7, read # trailing comment?\n"                                                  \
    "p, heidi, , read\n"                                                                           \
    "p, ivan, \"\", read\n"

/* The csv_edge rows of the conformance report (casbin.md 7.4). */
static void check_csv_edge(const ts_authz_policy *p, const char *origin)
{
    assert_int_equal(ts_authz_policy_count(p), 9);
    rule_eq(&p->rules[0], "p", 3, "alice,smith", "data1", "read");
    rule_eq(&p->rules[1], "p", 3, "bob", "data2", "write");
    rule_eq(&p->rules[2], "p", 3, "carol  ", "data3   ", "read");
    rule_eq(&p->rules[3], "p", 3, "da\"ve", "data4", "read");
    rule_eq(&p->rules[4], "p", 3, "eve", "data5", "write");
    rule_eq(&p->rules[5], "p", 3, "frank", "data6", "read");
    rule_eq(&p->rules[6], "p", 3, "grace", "data7", "read # trailing comment?");
    rule_eq(&p->rules[7], "p", 3, "heidi", "", "read");
    rule_eq(&p->rules[8], "p", 3, "ivan", "", "read");
    assert_int_equal(p->rules[0].line, 4);
    assert_int_equal(p->rules[8].line, 12);
    for (size_t i = 0; i < p->n; i++)
        assert_string_equal(p->rules[i].origin, origin);
}

static void test_load_edge(void **state)
{
    (void)state;
    ts_authz_policy *p = load_ok(CSV_EDGE, "edge.csv");
    check_csv_edge(p, "edge.csv");
    ts_authz_policy_free(p);
}

static void test_load_crlf_bom(void **state)
{
    (void)state;
    ts_authz_policy *p = load_ok("\xEF\xBB\xBFp, alice, data1, read\r\n\r\n"
                                 "p, bob, data2, write\r\ng, bob, admin \r\n",
                                 NULL);
    assert_int_equal(p->n, 3);
    rule_eq(&p->rules[0], "p", 3, "alice", "data1", "read");
    rule_eq(&p->rules[1], "p", 3, "bob", "data2", "write");
    rule_eq(&p->rules[2], "g", 2, "bob", "admin");
    assert_int_equal(p->rules[1].line, 3);
    assert_string_equal(p->rules[0].origin, "<input>");
    ts_authz_policy_free(p);
    /* No trailing newline, and an empty text. */
    p = load_ok("p, a, b", "x.csv");
    assert_int_equal(p->n, 1);
    assert_int_equal(p->rules[0].line, 1);
    ts_authz_policy_free(p);
    p = load_ok("", "x.csv");
    assert_int_equal(ts_authz_policy_count(p), 0);
    assert_int_equal(p->norigins, 0);
    ts_authz_policy_free(p);
}

static void test_load_duplicates_and_appends(void **state)
{
    (void)state;
    ts_error err;
    ts_authz_policy *p = load_ok("p, alice, data1, read\np, alice, data1, read\n", "a.csv");
    assert_int_equal(p->n, 2); /* duplicates are kept; the enforcer drops them */
    ts_error_clear(&err);
    assert_int_equal(ts_authz_policy_load_csv(p, "g, x, y\n", 8, "b.csv", &err), TS_OK);
    assert_int_equal(ts_authz_policy_load_csv(p, "g, y, z\n", 8, "a.csv", &err), TS_OK);
    assert_int_equal(p->n, 4);
    assert_string_equal(p->rules[2].origin, "b.csv");
    assert_ptr_equal(p->rules[3].origin, p->rules[0].origin); /* one copy per name */
    assert_int_equal(p->norigins, 2);
    ts_authz_policy_free(p);
}

static void load_fails(const char *text, const char *name, ts_status code, const char *where,
                       const char *msg)
{
    ts_error err;
    ts_authz_policy *p = load_ok("p, keep, me\n", "first.csv");
    ts_error_clear(&err);
    assert_int_equal(ts_authz_policy_load_csv(p, text, strlen(text), name, &err), code);
    assert_int_equal(err.code, code);
    assert_string_equal(err.where, where);
    if (msg)
        assert_string_equal(err.msg, msg);
    /* A failed load appends nothing. */
    assert_int_equal(ts_authz_policy_count(p), 1);
    rule_eq(&p->rules[0], "p", 2, "keep", "me");
    assert_int_equal(p->norigins, 1);
    ts_authz_policy_free(p);
}

static void test_load_errors(void **state)
{
    (void)state;
    load_fails("p, a, b\np, alice, da\"ta1, read\n", "bad.csv", TS_EPARSE, "bad.csv:2",
               "parse error on line 2, column 13: bare \" in non-quoted-field");
    load_fails("p, \"alice\" , data1, read\n", "q.csv", TS_EPARSE, "q.csv:1",
               "parse error on line 1, column 10: extraneous or missing \" in quoted-field");
    load_fails("p, ok\np, \"multi\nline\"\n", NULL, TS_EPARSE, "<input>:2", NULL);
    load_fails("p, a\n, x, y\n", "e.csv", TS_EPARSE, "e.csv:2", "empty policy type");
    load_fails("p, a\n\"\", x\n", "e.csv", TS_EPARSE, "e.csv:2", "empty policy type");
    load_fails("p, a\n  p  \n", "e.csv", TS_EPARSE, "e.csv:2", "rule p has no fields");
    {
        char text[8192];
        size_t n = (size_t)snprintf(text, sizeof text, "p, ok\np");
        for (unsigned i = 0; i < TS_AUTHZ_MAX_FIELDS + 1u; i++)
            n += (size_t)snprintf(text + n, sizeof text - n, ",v%u", i);
        load_fails(text, "wide.csv", TS_ELIMIT, "wide.csv:2", NULL);
    }
    {
        size_t big = TS_AUTHZ_MAX_LINE_BYTES + 10u;
        char *s = malloc(big + 1);
        assert_non_null(s);
        memset(s, 'a', big);
        memcpy(s, "p, x\np, ", 8);
        s[big] = '\0';
        load_fails(s, "long.csv", TS_ELIMIT, "long.csv:2", NULL);
        free(s);
    }
    {
        ts_authz_policy *p = ts_authz_policy_new();
        assert_int_equal(ts_authz_policy_load_csv(NULL, "", 0, NULL, NULL), TS_EINVAL);
        assert_int_equal(ts_authz_policy_load_csv(p, NULL, 4, NULL, NULL), TS_EINVAL);
        ts_authz_policy_free(p);
    }
}

/* The line limit (Go's bufio.Scanner, 64 KiB) counts a line's content: the CR of a CRLF line
 * ending is not part of it, so a 64 KiB line loads the same from a Windows-edited file. */
static void test_long_line_crlf(void **state)
{
    (void)state;
    size_t max = TS_AUTHZ_MAX_LINE_BYTES;
    char *text = malloc(2 * max + 32);
    assert_non_null(text);
    for (int crlf = 0; crlf <= 1; crlf++) {
        /* "p, aaa...a" of exactly max bytes, twice: with CRLF, then the last line without. */
        size_t n = 0;
        for (int line = 0; line < 2; line++) {
            memcpy(text + n, "p, ", 3);
            memset(text + n + 3, line ? 'b' : 'a', max - 3);
            n += max;
            if (line == 0 || crlf) {
                if (crlf)
                    text[n++] = '\r';
                text[n++] = '\n';
            }
        }
        text[n] = '\0';
        ts_authz_policy *p = load_ok(text, "long.csv");
        assert_int_equal(p->n, 2);
        assert_int_equal(strlen(p->rules[0].fields[0]), max - 3);
        assert_int_equal(strlen(p->rules[1].fields[0]), max - 3);
        ts_authz_policy_free(p);
    }
    /* One byte more of content is still too long, CR or not. */
    memcpy(text, "p, ", 3);
    memset(text + 3, 'a', max - 2);
    memcpy(text + max + 1, "\r\n", 3);
    load_fails(text, "long.csv", TS_ELIMIT, "long.csv:1", NULL);
    free(text);
}

static void test_nul_in_text(void **state)
{
    (void)state;
    static const char text[] = "p, a\np, b\0c\n";
    ts_authz_policy *p = ts_authz_policy_new();
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_authz_policy_load_csv(p, text, sizeof text - 1, "n.csv", &err), TS_EPARSE);
    assert_string_equal(err.where, "n.csv:2");
    assert_int_equal(p->n, 0);
    ts_authz_policy_free(p);
}

static void test_add(void **state)
{
    (void)state;
    ts_error err;
    ts_authz_policy *p = ts_authz_policy_new();
    const char *f3[] = {"alice", "data1", "read"};
    const char *fnull[] = {"a", NULL};
    const char *many[TS_AUTHZ_MAX_FIELDS + 1];
    for (size_t i = 0; i < TS_AUTHZ_MAX_FIELDS + 1; i++)
        many[i] = "x";
    ts_error_clear(&err);
    assert_int_equal(ts_authz_policy_add(p, "p", f3, 3, &err), TS_OK);
    assert_int_equal(ts_authz_policy_add(p, "g2", f3, 2, &err), TS_OK);
    assert_int_equal(ts_authz_policy_count(p), 2);
    rule_eq(&p->rules[0], "p", 3, "alice", "data1", "read");
    rule_eq(&p->rules[1], "g2", 2, "alice", "data1");
    assert_null(p->rules[0].origin);
    assert_int_equal(p->rules[0].line, 0);
    assert_int_equal(ts_authz_policy_add(p, "", f3, 3, NULL), TS_EINVAL);
    assert_int_equal(ts_authz_policy_add(p, NULL, f3, 3, NULL), TS_EINVAL);
    assert_int_equal(ts_authz_policy_add(p, "p", NULL, 3, NULL), TS_EINVAL);
    assert_int_equal(ts_authz_policy_add(p, "p", f3, 0, NULL), TS_EINVAL);
    assert_int_equal(ts_authz_policy_add(p, "p", fnull, 2, NULL), TS_EINVAL);
    assert_int_equal(ts_authz_policy_add(p, "p", many, TS_AUTHZ_MAX_FIELDS, NULL), TS_OK);
    assert_int_equal(ts_authz_policy_add(p, "p", many, TS_AUTHZ_MAX_FIELDS + 1, NULL), TS_ELIMIT);
    assert_int_equal(ts_authz_policy_add(NULL, "p", f3, 3, NULL), TS_EINVAL);
    assert_int_equal(ts_authz_policy_count(p), 3);
    /* Many rules: growth keeps earlier rules intact. */
    for (int i = 0; i < 1000; i++)
        assert_int_equal(ts_authz_policy_add(p, "p", f3, 3, NULL), TS_OK);
    rule_eq(&p->rules[0], "p", 3, "alice", "data1", "read");
    rule_eq(&p->rules[1002], "p", 3, "alice", "data1", "read");
    ts_authz_policy_free(p);
    ts_authz_policy_free(NULL);
    assert_int_equal(ts_authz_policy_count(NULL), 0);
}

static void test_load_file_missing(void **state)
{
    (void)state;
    ts_error err;
    ts_authz_policy *p = ts_authz_policy_new();
    ts_error_clear(&err);
    assert_int_equal(ts_authz_policy_load_file(p, "/nonexistent/policy.csv", &err), TS_EIO);
    assert_string_equal(err.where, "/nonexistent/policy.csv");
    assert_int_equal(ts_authz_policy_load_file(p, NULL, NULL), TS_EINVAL);
    ts_authz_policy_free(p);
}

/* ---------------------------------------------------------------------------------------- */

/* The corpus cases need ../shared (TS_SHARED_DIR). Without it each of them is reported as
 * skipped, with the reason; the cases above still run and count. */
static void require_corpus(void)
{
    struct stat st;
    if (stat(CONF_DIR "/extra", &st) != 0) {
        print_message("skipped: the Casbin conformance corpus is not at %s\n", CONF_DIR);
        skip();
    }
}

static ts_status load_shared(ts_authz_policy *p, const char *rel, ts_error *err)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", CONF_DIR, rel);
    ts_error_clear(err);
    return ts_authz_policy_load_file(p, path, err);
}

static void test_shared_edge(void **state)
{
    (void)state;
    require_corpus();
    ts_error err;
    char path[1024];
    ts_authz_policy *p = ts_authz_policy_new();
    assert_int_equal(load_shared(p, "extra/csv_edge_policy.csv", &err), TS_OK);
    snprintf(path, sizeof path, "%s/extra/csv_edge_policy.csv", CONF_DIR);
    check_csv_edge(p, path);
    ts_authz_policy_free(p);

    p = ts_authz_policy_new();
    assert_int_equal(load_shared(p, "extra/crlf_policy.csv", &err), TS_OK);
    assert_int_equal(p->n, 2);
    rule_eq(&p->rules[1], "p", 3, "bob", "data2", "write");
    assert_int_equal(load_shared(p, "extra/eft_policy.csv", &err), TS_OK);
    rule_eq(&p->rules[7], "p", 4, "dave", "data4", "read", "");
    assert_int_equal(load_shared(p, "examples/error/error_policy.csv", &err), TS_OK);
    rule_eq(&p->rules[9], "bob", 2, "data2", "write"); /* refused later, by the enforcer */
    ts_authz_policy_free(p);
}

static void test_shared_errors(void **state)
{
    (void)state;
    require_corpus();
    ts_error err;
    ts_authz_policy *p = ts_authz_policy_new();
    assert_int_equal(load_shared(p, "extra/bare_quote_policy.csv", &err), TS_EPARSE);
    assert_string_equal(err.msg, "parse error on line 1, column 13: bare \" in non-quoted-field");
    assert_non_null(strstr(err.where, "bare_quote_policy.csv:1"));
    assert_int_equal(load_shared(p, "extra/quote_space_policy.csv", &err), TS_EPARSE);
    assert_string_equal(
        err.msg, "parse error on line 1, column 10: extraneous or missing \" in quoted-field");
    assert_int_equal(p->n, 0);
    ts_authz_policy_free(p);
}

static void test_shared_all_examples(void **state)
{
    (void)state;
    require_corpus();
    static const char *const files[] = {
        "examples/basic_policy.csv",
        "examples/rbac_policy.csv",
        "examples/rbac_with_domains_policy.csv",
        "examples/keymatch_policy.csv",
        "examples/abac_rule_policy.csv",
        "examples/eval_operator_policy.csv",
        "examples/priority_policy.csv",
        "examples/glob_policy.csv",
        "examples/rbac_with_pattern_policy.csv",
        "examples/performance/rbac_with_pattern_large_scale_policy.csv",
        "extra/chain_policy.csv",
        "extra/custom_data_policy.csv",
        "extra/dup_policy.csv",
        "extra/ops_policy.csv",
        "extra/extra_fields_policy.csv",
        "extra/missing_fields_policy.csv",
        "extra/unknown_ptype_policy.csv",
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        ts_error err;
        ts_authz_policy *p = ts_authz_policy_new();
        if (load_shared(p, files[i], &err) != TS_OK)
            fail_msg("%s: %s: %s", files[i], err.where, err.msg);
        assert_true(ts_authz_policy_count(p) > 0);
        ts_authz_policy_free(p);
    }
}

int main(void)
{
    const struct CMUnitTest own[] = {
        cmocka_unit_test(test_split_basic),
        cmocka_unit_test(test_split_data_kept),
        cmocka_unit_test(test_split_errors),
        cmocka_unit_test(test_split_caps),
        cmocka_unit_test(test_load_edge),
        cmocka_unit_test(test_load_crlf_bom),
        cmocka_unit_test(test_load_duplicates_and_appends),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_long_line_crlf),
        cmocka_unit_test(test_nul_in_text),
        cmocka_unit_test(test_add),
        cmocka_unit_test(test_load_file_missing),
    };
    const struct CMUnitTest corpus[] = {
        cmocka_unit_test(test_shared_edge),
        cmocka_unit_test(test_shared_errors),
        cmocka_unit_test(test_shared_all_examples),
    };
    int rc = cmocka_run_group_tests_name("csv", own, NULL, NULL);
    return rc + cmocka_run_group_tests_name("csv-corpus", corpus, NULL, NULL);
}
