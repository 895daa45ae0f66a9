/* model.conf parsing: Go config reader rules, section loading, escaping, effects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "model.h"
#include "model/escape.h"

#define CONF_DIR TS_SHARED_DIR "/casbin-conformance"

#define BASE_R "[request_definition]\nr = sub, obj, act\n"
#define BASE_P "[policy_definition]\np = sub, obj, act\n"
#define BASE_E "[policy_effect]\ne = some(where (p.eft == allow))\n"
#define BASE_M "[matchers]\nm = r.sub == p.sub && r.obj == p.obj && r.act == p.act\n"
#define BASE BASE_R BASE_P BASE_E BASE_M

static ts_authz_model *parse_ok(const char *text)
{
    ts_error err;
    ts_authz_model *m;
    ts_error_clear(&err);
    m = ts_authz_model_parse(text, strlen(text), "t.conf", &err);
    if (!m)
        fail_msg("parse failed: %s: %s", err.where, err.msg);
    return m;
}

static ts_error parse_err(const char *text, ts_status want)
{
    ts_error err;
    ts_authz_model *m;
    ts_error_clear(&err);
    m = ts_authz_model_parse(text, strlen(text), "t.conf", &err);
    if (m) {
        ts_authz_model_free(m);
        fail_msg("parse unexpectedly succeeded");
    }
    assert_int_equal(err.code, want);
    return err;
}

static const char *matcher_of(const ts_authz_model *m, const char *key)
{
    const ts_model_def *d = ts_authz__model_find(&m->m, key);
    assert_non_null(d);
    return d->matcher;
}

/* The matcher produced for a one-line `m = ...` value. */
static char *matcher_for(const char *m_value)
{
    char text[4096];
    ts_authz_model *m;
    char *out;
    snprintf(text, sizeof text, "%s%s%s[matchers]\nm = %s\n", BASE_R, BASE_P, BASE_E, m_value);
    m = parse_ok(text);
    {
        const char *src = matcher_of(m, "m");
        size_t n = strlen(src) + 1;
        out = malloc(n);
        assert_non_null(out);
        memcpy(out, src, n);
    }
    ts_authz_model_free(m);
    return out;
}

static void check_matcher(const char *in, const char *want)
{
    char *got = matcher_for(in);
    assert_string_equal(got, want);
    free(got);
}

static void test_basic(void **state)
{
    (void)state;
    ts_authz_model *m = parse_ok(BASE "[role_definition]\ng = _, _\ng2 = _, _, _\n");
    assert_int_equal(m->r.n, 1);
    assert_string_equal(m->r.defs[0].key, "r");
    assert_int_equal(m->r.defs[0].ntokens, 3);
    assert_string_equal(m->r.defs[0].tokens[0], "r_sub");
    assert_string_equal(m->r.defs[0].tokens[2], "r_act");
    assert_int_equal(m->r.defs[0].line, 2);
    assert_string_equal(m->p.defs[0].tokens[1], "p_obj");
    assert_int_equal(m->g.n, 2);
    assert_int_equal(m->g.defs[0].g_arity, 2);
    assert_int_equal(m->g.defs[1].g_arity, 3);
    assert_null(m->g.defs[0].tokens);
    assert_int_equal(m->e.defs[0].effect, TS_EFFECT_ALLOW_OVERRIDE);
    assert_string_equal(m->e.defs[0].value, "some(where (p.eft == allow))");
    assert_string_equal(m->m.defs[0].value, "r.sub == p.sub && r.obj == p.obj && r.act == p.act");
    assert_string_equal(m->m.defs[0].matcher, "r_sub == p_sub && r_obj == p_obj && r_act == p_act");
    assert_string_equal(m->name, "t.conf");
    assert_int_equal(m->text_len, strlen(BASE "[role_definition]\ng = _, _\ng2 = _, _, _\n"));
    assert_memory_equal(m->text, BASE, strlen(BASE));
    assert_null(ts_authz__model_find(&m->g, "g3"));
    assert_non_null(ts_authz__model_find(&m->g, "g2"));
    ts_authz_model_free(m);
    ts_authz_model_free(NULL);
}

static void test_tokens(void **state)
{
    (void)state;
    ts_authz_model *m = parse_ok("[request_definition]\nr = sub,obj ,  act\n"
                                 "[policy_definition]\np = sub, obj\np2= sub_rule, obj, act, eft\n"
                                 "[policy_effect]\ne = priority(p.eft) || deny\n"
                                 "[matchers]\nm = r.sub == p.sub\n");
    assert_string_equal(m->r.defs[0].tokens[1], "r_obj");
    assert_string_equal(m->r.defs[0].tokens[2], "r_act");
    assert_int_equal(m->p.n, 2);
    assert_string_equal(m->p.defs[1].key, "p2");
    assert_int_equal(m->p.defs[1].ntokens, 4);
    assert_string_equal(m->p.defs[1].tokens[0], "p2_sub_rule");
    assert_string_equal(m->p.defs[1].tokens[3], "p2_eft");
    assert_int_equal(m->e.defs[0].effect, TS_EFFECT_PRIORITY);
    ts_authz_model_free(m);
    /* Empty tokens are kept, as strings.Split does. */
    m = parse_ok("[request_definition]\nr = a,,b\n" BASE_P BASE_E BASE_M);
    assert_int_equal(m->r.defs[0].ntokens, 3);
    assert_string_equal(m->r.defs[0].tokens[1], "r_");
    ts_authz_model_free(m);
}

static void test_comments(void **state)
{
    (void)state;
    ts_authz_model *m = parse_ok("# leading comment\n; another\n"
                                 "[request_definition]\nr = sub, obj, act ; Request definition\n\n"
                                 "[policy_definition]\np = sub, obj, act, eft #sub first\n"
                                 "[policy_effect]\ne = some(where (p.eft == allow)) # effect\n"
                                 "# Matchers\n[matchers]\n"
                                 "m = r.sub == \"a#b\" && r.obj == p.obj ; cut\n");
    assert_int_equal(m->p.defs[0].ntokens, 4);
    assert_string_equal(m->p.defs[0].tokens[3], "p_eft");
    assert_int_equal(m->r.defs[0].ntokens, 3);
    assert_string_equal(m->r.defs[0].tokens[2], "r_act");
    /* No quote awareness: the literal is cut at '#'. */
    assert_string_equal(m->m.defs[0].value, "r.sub == \"a");
    ts_authz_model_free(m);
}

static void test_continuation(void **state)
{
    (void)state;
    ts_authz_model *m =
        parse_ok(BASE_R BASE_P BASE_E "[matchers]\nm = r.sub == p.sub \\\n   && r.obj == p.obj\\\n"
                                      "&& r.act == p.act\n");
    assert_string_equal(m->m.defs[0].value, "r.sub == p.sub && r.obj == p.obj && r.act == p.act");
    assert_int_equal(m->m.defs[0].line, 8);
    ts_authz_model_free(m);

    /* A comment in a continued line drops the joining space; a blank line ends the entry;
     * a continuation at EOF still completes the entry. */
    m = parse_ok(BASE_R BASE_P BASE_E "[matchers]\nm = r.sub == p.sub# c \\\n&& true\n\n"
                                      "m2 = a \\\n\nm3 = b \\");
    assert_string_equal(m->m.defs[0].value, "r.sub == p.sub&& true");
    assert_string_equal(m->m.defs[1].value, "a");
    assert_string_equal(m->m.defs[2].value, "b");
    ts_authz_model_free(m);

    /* A section header ends a pending continued entry. */
    m = parse_ok(BASE_R BASE_P "[matchers]\nm = r.sub == p.sub \\\n" BASE_E);
    assert_string_equal(m->m.defs[0].value, "r.sub == p.sub");
    ts_authz_model_free(m);
}

static void test_crlf(void **state)
{
    (void)state;
    ts_authz_model *m = parse_ok("[request_definition]\r\nr = sub, obj, act\r\n\r\n"
                                 "[policy_definition]\r\np = sub, obj, act\r\n"
                                 "[policy_effect]\r\ne = some(where (p.eft == allow))\r\n"
                                 "[matchers]\r\nm = r.sub == p.sub \\\r\n && r.obj == p.obj\r\n");
    assert_string_equal(m->r.defs[0].tokens[2], "r_act");
    assert_string_equal(m->m.defs[0].value, "r.sub == p.sub && r.obj == p.obj");
    assert_int_equal(m->e.defs[0].effect, TS_EFFECT_ALLOW_OVERRIDE);
    ts_authz_model_free(m);
}

/* The line limit counts a line's content, not the CR of its CRLF ending. */
static void test_long_line_crlf(void **state)
{
    (void)state;
    size_t max = TS_AUTHZ_MAX_LINE_BYTES;
    size_t base = strlen(BASE);
    char *text = malloc(base + max + 8);
    assert_non_null(text);
    memcpy(text, BASE, base);
    text[base] = '#'; /* a comment of exactly max bytes, then CRLF */
    memset(text + base + 1, 'c', max - 1);
    memcpy(text + base + max, "\r\n", 3);
    ts_authz_model *m = parse_ok(text);
    assert_int_equal(m->r.n, 1);
    ts_authz_model_free(m);
    /* One byte more of content is too long. */
    memset(text + base + 1, 'c', max);
    memcpy(text + base + max + 1, "\r\n", 3);
    ts_error err;
    ts_error_clear(&err);
    assert_null(ts_authz_model_parse(text, strlen(text), "long.conf", &err));
    assert_int_equal(err.code, TS_ELIMIT);
    free(text);
}

static void test_bom_and_unicode_space(void **state)
{
    (void)state;
    ts_authz_model *m = parse_ok("\xEF\xBB\xBF" BASE);
    assert_int_equal(m->r.n, 1);
    assert_memory_equal(m->text, "\xEF\xBB\xBF", 3); /* the text is kept as given */
    ts_authz_model_free(m);
    /* Go's TrimSpace also strips Unicode white space such as U+00A0 and U+3000. */
    m = parse_ok(BASE_R BASE_P BASE_E "[matchers]\n\xC2\xA0m = r.sub == p.sub\xE3\x80\x80\n");
    assert_string_equal(m->m.defs[0].value, "r.sub == p.sub");
    ts_authz_model_free(m);
}

static void test_duplicate_sections(void **state)
{
    (void)state;
    ts_authz_model *m =
        parse_ok(BASE_R BASE_P BASE_E "[matchers]\nm = r.sub == p.sub\n"
                                      "[request_definition]\nr2 = a, b\n"
                                      "[matchers]\nm = r.obj == p.obj\nm2 = true\n");
    assert_int_equal(m->r.n, 2);
    assert_string_equal(m->r.defs[1].tokens[1], "r2_b");
    assert_int_equal(m->m.n, 2);
    assert_string_equal(m->m.defs[0].value, "r.obj == p.obj");
    assert_int_equal(m->m.defs[0].line, 12);
    ts_authz_model_free(m);
}

static void test_key_gaps(void **state)
{
    (void)state;
    ts_authz_model *m = parse_ok(BASE "[policy_definition]\np3 = a, b\n[matchers]\nm1 = x\n"
                                      "m02 = y\nM2 = z\nm2 =\nm3 = w\n");
    assert_int_equal(m->p.n, 1); /* p3 without p2 is never loaded */
    assert_int_equal(m->m.n, 1); /* "m1", "m02", "M2" are not looked up; empty m2 stops */
    ts_authz_model_free(m);

    /* Keys before any section land in Go's "default" section and are ignored. */
    m = parse_ok("r = x\n" BASE);
    assert_string_equal(m->r.defs[0].tokens[0], "r_sub");
    ts_authz_model_free(m);
}

static void test_max_keys(void **state)
{
    (void)state;
    char text[8192];
    size_t n = (size_t)snprintf(text, sizeof text, "%s", BASE_R BASE_E BASE_M BASE_P);
    ts_authz_model *m;
    ts_error err;
    for (int i = 2; i <= TS_MODEL_MAX_KEYS; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "p%d = a, b\n", i);
    m = parse_ok(text);
    assert_int_equal(m->p.n, TS_MODEL_MAX_KEYS);
    assert_string_equal(m->p.defs[15].key, "p16");
    assert_string_equal(m->p.defs[15].tokens[1], "p16_b");
    ts_authz_model_free(m);
    snprintf(text + n, sizeof text - n, "p17 = a\n");
    err = parse_err(text, TS_ELIMIT);
    assert_non_null(strstr(err.msg, "policy_definition"));
}

static void test_missing_sections(void **state)
{
    (void)state;
    ts_error err = parse_err(BASE_R BASE_M, TS_EPARSE);
    assert_string_equal(err.msg, "missing required sections: policy_definition,policy_effect");
    assert_string_equal(err.where, "t.conf");
    err = parse_err("", TS_EPARSE);
    assert_string_equal(err.msg, "missing required sections: request_definition,"
                                 "policy_definition,policy_effect,matchers");
    /* Section names are matched as written: "[ matchers ]" and "[Matchers]" are other
     * sections, and an empty value counts as missing. */
    err =
        parse_err(BASE_R BASE_P BASE_E "[ matchers ]\nm = true\n[Matchers]\nm = true\n", TS_EPARSE);
    assert_string_equal(err.msg, "missing required sections: matchers");
    err = parse_err(BASE_R BASE_E BASE_M "[policy_definition]\np =\n", TS_EPARSE);
    assert_string_equal(err.msg, "missing required sections: policy_definition");
    /* Unknown sections are accepted and ignored, role_definition is optional. */
    ts_authz_model_free(parse_ok("[constraint_definition]\nc = sod(\"a\", \"b\")\n"
                                 "[whatever]\nx = y\n" BASE));
}

static void test_no_equals(void **state)
{
    (void)state;
    ts_error err = parse_err(BASE_R "[policy_definition\np = sub\n" BASE_E BASE_M, TS_EPARSE);
    assert_string_equal(err.where, "t.conf:3");
    assert_non_null(strstr(err.msg, "parse the content error : line 3"));
    assert_non_null(strstr(err.msg, "[policy_definition"));
    err = parse_err(BASE "[matchers]\n  just words ; comment\n", TS_EPARSE);
    assert_string_equal(err.where, "t.conf:10");
    /* A dangling continuation at EOF is reported one line past the end, as Go does. */
    err = parse_err(BASE "oops \\", TS_EPARSE);
    assert_string_equal(err.where, "t.conf:10");
    /* An unnamed source reads as "<input>". */
    {
        ts_error e2;
        ts_error_clear(&e2);
        assert_null(ts_authz_model_parse("x\n", 2, NULL, &e2));
        assert_string_equal(e2.where, "<input>:1");
    }
}

static void test_escape_assertion(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"r.sub == \"a.p.p.l.e\"", "r_sub == \"a.p.p.l.e\""},
        {"r.sub.Age > 18", "r_sub.Age > 18"},
        {"r.a == \"a p.x\"", "r_a == \"a p_x\""},
        {"r.a == \"p.x\"", "r_a == \"p.x\""},
        {"r2.sub == p2.sub", "r2_sub == p2_sub"},
        {"(r.a)||!p.b&&x+r.c-p.d*r.e/p.f<r.g>p.h,r.i=p.j",
         "(r_a)||!p_b&&x+r_c-p_d*r_e/p_f<r_g>p_h,r_i=p_j"},
        {"attr.gender == r.sub", "attr.gender == r_sub"},
        {"rr.x || p12.y || r.", "rr.x || p12_y || r_"},
        {"\tr.x\nr.y\fr.z\rp.w", "\tr_x\nr_y\fr_z\rp_w"},
        {"\vr.x", "\vr.x"},
        {"p.p.x", "p_p.x"},
        {"r.x.y.z r.a", "r_x.y.z r_a"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = ts_authz__model_escape_assertion(cases[i][0], strlen(cases[i][0]));
        assert_non_null(got);
        assert_string_equal(got, cases[i][1]);
        free(got);
    }
    /* The length bounds the input; it need not be NUL-terminated. */
    {
        char *got = ts_authz__model_escape_assertion("r.a r.b", 4);
        assert_string_equal(got, "r_a ");
        free(got);
    }
}

static void test_matcher_pipeline(void **state)
{
    (void)state;
    check_matcher("r.sub == \"a.p.p.l.e\"", "r_sub == \"a.p.p.l.e\"");
    check_matcher("r.sub.Age > 18 && r.obj == \"a p.x\"", "r_sub.Age > 18 && r_obj == \"a p_x\"");
    /* "in" anywhere rewrites every bracket, even inside literals. */
    check_matcher("g(r.sub, p.sub) || r.obj in ['data2', 'data3']",
                  "g(r_sub, p_sub) || r_obj in ('data2', 'data3')");
    check_matcher("r.sub == \"admin[1]\"", "r_sub == \"admin(1)\"");
    check_matcher("r.sub == \"x[1]\"", "r_sub == \"x[1]\"");
    /* Backslashes inside literals are doubled, outside they are left alone. */
    check_matcher("regexMatch(r.a, \"^\\d+$\")", "regexMatch(r_a, \"^\\\\d+$\")");
    check_matcher("regexMatch('\\1\\2', p.obj)", "regexMatch('\\\\1\\\\2', p_obj)");
    check_matcher("r.a == \"it's \\d\" && \\x", "r_a == \"it's \\\\d\" && \\x");
    check_matcher("r.a == '\\\\'", "r_a == '\\\\\\\\'");
    {
        char *s = ts_authz__model_escape_string_literals("a\\b 'c\\d' \"e\\'f\" \\", 18);
        assert_string_equal(s, "a\\b 'c\\\\d' \"e\\\\'f\" \\");
        free(s);
    }
}

static void test_effects(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        ts_effect_kind kind;
    } cases[] = {
        {"some(where (p.eft == allow))", TS_EFFECT_ALLOW_OVERRIDE},
        {"some(where (p_eft == allow))", TS_EFFECT_ALLOW_OVERRIDE},
        {"!some(where (p.eft == deny))", TS_EFFECT_DENY_OVERRIDE},
        {"some(where (p.eft == allow)) && !some(where (p.eft == deny))", TS_EFFECT_ALLOW_AND_DENY},
        {"priority(p.eft) || deny", TS_EFFECT_PRIORITY},
        {"subjectPriority(p.eft) || deny", TS_EFFECT_SUBJECT_PRIORITY},
        {"priority(p.eft) || deny # why", TS_EFFECT_PRIORITY},
    };
    char text[1024];
    ts_error err;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ts_authz_model *m;
        snprintf(text, sizeof text, "%s%s[policy_effect]\ne = %s\ne2 = %s\n%s", BASE_R, BASE_P,
                 cases[i].text, cases[i].text, BASE_M);
        m = parse_ok(text);
        assert_int_equal(m->e.n, 2);
        assert_int_equal(m->e.defs[0].effect, cases[i].kind);
        assert_int_equal(m->e.defs[1].effect, cases[i].kind);
        ts_authz_model_free(m);
    }
    /* Only the exact strings: extra spaces or other text are unsupported. */
    err = parse_err(BASE_R BASE_P BASE_M "[policy_effect]\ne = some(where (p.eft==allow))\n",
                    TS_EPARSE);
    assert_string_equal(err.where, "t.conf:8");
    assert_non_null(strstr(err.msg, "unsupported effect"));
    err = parse_err(BASE_R BASE_P BASE_M "[policy_effect]\ne = some(where (p.eft == allow))\n"
                                         "e2 = p.eft\n",
                    TS_EPARSE);
    assert_string_equal(err.where, "t.conf:9");
}

static void test_role_definition(void **state)
{
    (void)state;
    ts_authz_model *m = parse_ok(BASE "[role_definition]\ng = _, _, _, (_, _)\ng2 = _,_\n");
    assert_int_equal(m->g.defs[0].g_arity, 5);
    assert_int_equal(m->g.defs[1].g_arity, 2);
    assert_string_equal(m->g.defs[0].value, "_, _, _, (_, _)");
    ts_authz_model_free(m);
    ts_error err = parse_err(BASE "[role_definition]\ng = _\n", TS_EPARSE);
    assert_string_equal(err.where, "t.conf:10");
    assert_non_null(strstr(err.msg, "at least 2"));
}

static void test_limits_and_bad_input(void **state)
{
    (void)state;
    ts_error err;
    size_t big = TS_AUTHZ_MAX_MODEL_BYTES + 1u;
    char *text = malloc(big);
    assert_non_null(text);
    memset(text, '#', big);
    ts_error_clear(&err);
    assert_null(ts_authz_model_parse(text, big, "big.conf", &err));
    assert_int_equal(err.code, TS_ELIMIT);
    /* One line longer than the line cap. */
    memcpy(text, BASE "m2 = ", strlen(BASE "m2 = "));
    ts_error_clear(&err);
    assert_null(ts_authz_model_parse(text, TS_AUTHZ_MAX_LINE_BYTES + 1000u, "big.conf", &err));
    assert_int_equal(err.code, TS_ELIMIT);
    assert_string_equal(err.where, "big.conf:9");
    free(text);

    ts_error_clear(&err);
    assert_null(ts_authz_model_parse(BASE "\0m2 = x\n", sizeof(BASE "\0m2 = x\n") - 1, NULL, &err));
    assert_int_equal(err.code, TS_EPARSE);
    assert_non_null(strstr(err.msg, "NUL"));

    ts_error_clear(&err);
    assert_null(ts_authz_model_parse(NULL, 5, NULL, &err));
    assert_int_equal(err.code, TS_EINVAL);
    /* A NULL error record is allowed. */
    assert_null(ts_authz_model_parse("x", 1, NULL, NULL));
}

static void test_clone(void **state)
{
    (void)state;
    ts_authz_model *m = parse_ok(BASE "[role_definition]\ng = _, _\n");
    ts_authz_model *c = ts_authz__model_clone(m);
    assert_non_null(c);
    assert_string_equal(c->name, "t.conf");
    assert_int_equal(c->text_len, m->text_len);
    assert_memory_equal(c->text, m->text, m->text_len);
    assert_int_equal(c->r.n, 1);
    assert_ptr_not_equal(c->r.defs[0].tokens[0], m->r.defs[0].tokens[0]);
    assert_string_equal(c->r.defs[0].tokens[1], "r_obj");
    assert_string_equal(c->m.defs[0].matcher, m->m.defs[0].matcher);
    assert_int_equal(c->g.defs[0].g_arity, 2);
    assert_int_equal(c->e.defs[0].effect, m->e.defs[0].effect);
    assert_int_equal(c->m.defs[0].line, m->m.defs[0].line);
    ts_authz_model_free(m);
    assert_string_equal(c->p.defs[0].tokens[2], "p_act"); /* independent of the original */
    ts_authz_model_free(c);
    assert_null(ts_authz__model_clone(NULL));
}

static void test_load_file_errors(void **state)
{
    (void)state;
    ts_error err;
    ts_error_clear(&err);
    assert_null(ts_authz_model_load_file("/nonexistent/dir/model.conf", &err));
    assert_int_equal(err.code, TS_EIO);
    assert_string_equal(err.where, "/nonexistent/dir/model.conf");
    ts_error_clear(&err);
    assert_null(ts_authz_model_load_file(NULL, &err));
    assert_int_equal(err.code, TS_EINVAL);
}

/* ---------------------------------------------------------------------------------------- */
/* Against the conformance corpus (Go casbin's examples).                                  */

/* The corpus cases need ../shared (TS_SHARED_DIR). Without it each of them is reported as
 * skipped, with the reason; the cases above still run and count. */
static void require_corpus(void)
{
    struct stat st;
    if (stat(CONF_DIR "/examples", &st) != 0) {
        print_message("skipped: the Casbin conformance corpus is not at %s\n", CONF_DIR);
        skip();
    }
}

static ts_authz_model *load_example(const char *rel)
{
    char path[1024];
    ts_error err;
    ts_authz_model *m;
    snprintf(path, sizeof path, "%s/%s", CONF_DIR, rel);
    ts_error_clear(&err);
    m = ts_authz_model_load_file(path, &err);
    if (!m)
        fail_msg("%s: %s: %s", rel, err.where, err.msg);
    return m;
}

static void test_examples_all_parse(void **state)
{
    (void)state;
    require_corpus();
    static const char *const files[] = {
        "abac_model.conf",
        "abac_not_using_policy_model.conf",
        "abac_rule_model.conf",
        "basic_model.conf",
        "basic_model_without_spaces.conf",
        "basic_with_root_model.conf",
        "basic_without_resources_model.conf",
        "basic_without_users_model.conf",
        "biba_model.conf",
        "blp_model.conf",
        "comment_model.conf",
        "eval_operator_model.conf",
        "glob_model.conf",
        "ipmatch_model.conf",
        "keyget2_model.conf",
        "keyget_model.conf",
        "keymatch2_model.conf",
        "keymatch_custom_model.conf",
        "keymatch_model.conf",
        "keymatch_with_rbac_in_domain.conf",
        "lbac_model.conf",
        "multiple_policy_definitions_model.conf",
        "object_conditions_model.conf",
        "orbac_model.conf",
        "pbac_model.conf",
        "priority_model.conf",
        "priority_model_enforce_context.conf",
        "priority_model_explicit.conf",
        "priority_model_explicit_customized.conf",
        "rbac_model.conf",
        "rbac_model_in_multi_line.conf",
        "rbac_model_matcher_using_in_op.conf",
        "rbac_model_matcher_using_in_op_bracket.conf",
        "rbac_with_all_pattern_model.conf",
        "rbac_with_constraints_model.conf",
        "rbac_with_deny_model.conf",
        "rbac_with_different_types_of_roles_model.conf",
        "rbac_with_domain_pattern_model.conf",
        "rbac_with_domain_temporal_roles_model.conf",
        "rbac_with_domains_conditional_model.conf",
        "rbac_with_domains_model.conf",
        "rbac_with_multiple_policy_model.conf",
        "rbac_with_not_deny_model.conf",
        "rbac_with_pattern_model.conf",
        "rbac_with_resource_roles_model.conf",
        "rbac_with_temporal_roles_model.conf",
        "rebac_model.conf",
        "subject_priority_model.conf",
        "subject_priority_model_with_domain.conf",
        "syntax_matcher_model.conf",
        "performance/rbac_with_pattern_large_scale_model.conf",
        "../extra/dup_section_model.conf",
        "../extra/eft_ad_model.conf",
        "../extra/eft_allow_model.conf",
        "../extra/eft_deny_model.conf",
        "../extra/eft_prio_model.conf",
        "../extra/g3_on_g2_model.conf",
        "../extra/keymatch_deny_override_model.conf",
        "../extra/ops_model.conf",
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char rel[256];
        struct stat st;
        char path[1024];
        snprintf(rel, sizeof rel, "examples/%s", files[i]);
        snprintf(path, sizeof path, "%s/%s", CONF_DIR, rel);
        if (stat(path, &st) != 0)
            continue; /* not every corpus snapshot has every file */
        ts_authz_model_free(load_example(rel));
    }
}

static void test_examples_specific(void **state)
{
    (void)state;
    require_corpus();
    ts_authz_model *m = load_example("examples/comment_model.conf");
    assert_int_equal(m->r.defs[0].ntokens, 3);
    assert_string_equal(m->r.defs[0].tokens[2], "r_act");
    assert_int_equal(m->e.defs[0].effect, TS_EFFECT_ALLOW_OVERRIDE);
    ts_authz_model_free(m);

    m = load_example("examples/rbac_model_in_multi_line.conf");
    assert_string_equal(matcher_of(m, "m"), "g(r_sub, p_sub) && r_obj == p_obj && r_act == p_act");
    ts_authz_model_free(m);

    m = load_example("examples/syntax_matcher_model.conf");
    assert_string_equal(matcher_of(m, "m"), "r_sub == \"a.p.p.l.e\"");
    assert_int_equal(m->e.defs[0].effect, TS_EFFECT_ALLOW_OVERRIDE);
    ts_authz_model_free(m);

    m = load_example("examples/multiple_policy_definitions_model.conf");
    assert_int_equal(m->r.n, 2);
    assert_int_equal(m->p.n, 2);
    assert_string_equal(m->p.defs[1].tokens[0], "p2_sub_rule");
    assert_int_equal(m->m.n, 2);
    assert_string_equal(matcher_of(m, "m2"),
                        "eval(p2_sub_rule) && r2_obj == p2_obj && r2_act == p2_act");
    ts_authz_model_free(m);

    m = load_example("examples/subject_priority_model_with_domain.conf");
    assert_int_equal(m->p.defs[0].ntokens, 5);
    assert_string_equal(m->p.defs[0].tokens[4], "p_eft");
    assert_int_equal(m->e.defs[0].effect, TS_EFFECT_SUBJECT_PRIORITY);
    ts_authz_model_free(m);

    m = load_example("examples/rbac_model_matcher_using_in_op_bracket.conf");
    assert_non_null(strstr(matcher_of(m, "m"), "r_obj in ('data2', 'data3')"));
    ts_authz_model_free(m);

    m = load_example("examples/rbac_with_domains_conditional_model.conf");
    assert_int_equal(m->g.defs[0].g_arity, 5);
    ts_authz_model_free(m);

    m = load_example("examples/rbac_with_multiple_policy_model.conf");
    assert_true(m->g.n >= 1);
    ts_authz_model_free(m);

    m = load_example("extra/dup_section_model.conf");
    assert_string_equal(matcher_of(m, "m"), "r_sub == p_sub && r_obj == p_obj && r_act == p_act");
    ts_authz_model_free(m);

    m = load_example("probe/space_dot_literal.conf");
    assert_string_equal(matcher_of(m, "m"), "r_a == \"a p_x\"");
    ts_authz_model_free(m);

    m = load_example("probe/regex_backslash.conf");
    assert_string_equal(matcher_of(m, "m"), "regexMatch(r_a, \"^\\\\d+$\")");
    ts_authz_model_free(m);
}

static void test_example_error_model(void **state)
{
    (void)state;
    require_corpus();
    char path[1024];
    ts_error err;
    snprintf(path, sizeof path, "%s/examples/error/error_model.conf", CONF_DIR);
    ts_error_clear(&err);
    assert_null(ts_authz_model_load_file(path, &err));
    assert_int_equal(err.code, TS_EPARSE);
    assert_non_null(strstr(err.where, "error_model.conf:4"));
    assert_non_null(strstr(err.msg, "line 4"));
}

int main(void)
{
    const struct CMUnitTest own[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_comments),
        cmocka_unit_test(test_continuation),
        cmocka_unit_test(test_crlf),
        cmocka_unit_test(test_long_line_crlf),
        cmocka_unit_test(test_bom_and_unicode_space),
        cmocka_unit_test(test_duplicate_sections),
        cmocka_unit_test(test_key_gaps),
        cmocka_unit_test(test_max_keys),
        cmocka_unit_test(test_missing_sections),
        cmocka_unit_test(test_no_equals),
        cmocka_unit_test(test_escape_assertion),
        cmocka_unit_test(test_matcher_pipeline),
        cmocka_unit_test(test_effects),
        cmocka_unit_test(test_role_definition),
        cmocka_unit_test(test_limits_and_bad_input),
        cmocka_unit_test(test_clone),
        cmocka_unit_test(test_load_file_errors),
    };
    const struct CMUnitTest corpus[] = {
        cmocka_unit_test(test_examples_all_parse),
        cmocka_unit_test(test_examples_specific),
        cmocka_unit_test(test_example_error_model),
    };
    int rc = cmocka_run_group_tests_name("model", own, NULL, NULL);
    return rc + cmocka_run_group_tests_name("model-corpus", corpus, NULL, NULL);
}
