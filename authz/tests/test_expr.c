/* Matcher language: lexer, precedence, govaluate typing, errors, limits, JSON attributes,
 * eval(), introspection, and the probe rows of the Casbin conformance corpus. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "expr.h"
#include "expr/expr_internal.h"
#include "model.h"

static const char *const REQ[] = {"r_sub", "r_obj", "r_act", "r_dom", "r_a", "r_b", "r_c"};
static const char *const RULE[] = {"p_sub", "p_obj", "p_act", "p_dom", "p_sub_rule"};
static const char *const ROLES[] = {"g", "g2"};
#define NREQ 7
#define NRULE 5

static const ts_expr_names NAMES = {REQ, NREQ, RULE, NRULE, ROLES, 2};

/* g: alice -> admin -> root; g with domain: bob -> admin in "d1". g2: data1 -> group1. */
static ts_status role_cb(void *ud, size_t idx, const ts_val *args, size_t n, bool *out,
                         ts_error *err)
{
    int *calls = ud;
    if (calls)
        (*calls)++;
    if (n < 2 || args[0].kind != TS_VAL_STR || args[1].kind != TS_VAL_STR)
        return ts_error_set(err, TS_ETYPE, "g", "bad role arguments");
    ts_str a = args[0].u.str, b = args[1].u.str;
    *out = ts_str_eq(a, b);
    if (idx == 0 && n == 2)
        *out = *out ||
               (ts_str_eqz(a, "alice") && (ts_str_eqz(b, "admin") || ts_str_eqz(b, "root"))) ||
               (ts_str_eqz(a, "admin") && ts_str_eqz(b, "root"));
    if (idx == 0 && n == 3 && args[2].kind == TS_VAL_STR)
        *out = *out ||
               (ts_str_eqz(a, "bob") && ts_str_eqz(b, "admin") && ts_str_eqz(args[2].u.str, "d1"));
    if (idx == 1)
        *out = *out || (ts_str_eqz(a, "data1") && ts_str_eqz(b, "group1"));
    return TS_OK;
}

typedef struct env {
    ts_arena scratch;
    ts_val req[NREQ];
    ts_str rule[NRULE];
    ts_expr_ctx ctx;
    int role_calls;
} env;

static void env_init(env *v, const char *const *req, const char *const *rule)
{
    memset(v, 0, sizeof *v);
    ts_authz__arena_init(&v->scratch, 0);
    for (size_t i = 0; i < NREQ; i++) {
        const char *s = req && req[i] ? req[i] : "";
        v->req[i] = ts_val_str(s, strlen(s));
    }
    for (size_t i = 0; i < NRULE; i++)
        v->rule[i] = ts_str_c(rule && rule[i] ? rule[i] : "");
    v->ctx.req = v->req;
    v->ctx.nreq = NREQ;
    v->ctx.rule = v->rule;
    v->ctx.nrule = NRULE;
    v->ctx.builtins.scratch = &v->scratch;
    v->ctx.role = role_cb;
    v->ctx.ud = &v->role_calls;
    v->ctx.scratch = &v->scratch;
}

/* Compile and evaluate; the result's strings live until env_done. */
static ts_status run(env *v, const char *src, ts_val *out, ts_error *err)
{
    ts_error_clear(err);
    ts_expr *e = ts_authz__expr_compile(src, strlen(src), &NAMES, err);
    if (!e)
        return err->code;
    ts_status st = ts_authz__expr_eval(e, &v->ctx, out, err);
    /* Constants of the tree die with it; copy what a test might inspect. */
    if (st == TS_OK && out->kind == TS_VAL_STR) {
        char *p = ts_authz__arena_strndup(&v->scratch, out->u.str.ptr, out->u.str.len);
        out->u.str.ptr = p;
    }
    ts_authz__expr_free(e);
    return st;
}

static void env_done(env *v)
{
    ts_authz__arena_cleanup(&v->scratch);
}

/* req a, b, c given as r_a, r_b, r_c (the probe model's shape); other slots "". */
static int eval_abc(const char *src, const char *a, const char *b, const char *c, ts_error *err)
{
    const char *req[NREQ] = {"", "", "", "", a, b, c};
    env v;
    env_init(&v, req, NULL);
    ts_val out;
    ts_status st = run(&v, src, &out, err);
    int res = -1;
    if (st == TS_OK && out.kind == TS_VAL_BOOL)
        res = out.u.b ? 1 : 0;
    else if (st == TS_OK)
        res = -2;
    env_done(&v);
    return res;
}

#define ASSERT_BOOL(src, a, b, c, want)                                                            \
    do {                                                                                           \
        ts_error e_;                                                                               \
        int r_ = eval_abc(src, a, b, c, &e_);                                                      \
        if (r_ != (want))                                                                          \
            fail_msg("%s [a=%s b=%s c=%s]: got %d want %d (%s)", src, a, b, c, r_, want,           \
                     r_ == -1 ? e_.msg : "");                                                      \
    } while (0)

#define ASSERT_ERR(src, a, b, c, want_code, needle)                                                \
    do {                                                                                           \
        ts_error e_;                                                                               \
        int r_ = eval_abc(src, a, b, c, &e_);                                                      \
        if (r_ != -1)                                                                              \
            fail_msg("%s: expected error, got %d", src, r_);                                       \
        if (e_.code != (want_code) || !strstr(e_.msg, needle))                                     \
            fail_msg("%s: error %s '%s' does not match %s '%s'", src, ts_status_str(e_.code),      \
                     e_.msg, ts_status_str(want_code), needle);                                    \
    } while (0)

static ts_val eval_value(env *v, const char *src)
{
    ts_error err;
    ts_val out;
    memset(&out, 0, sizeof out);
    ts_status st = run(v, src, &out, &err);
    if (st != TS_OK)
        fail_msg("%s: %s", src, err.msg);
    return out;
}

static void assert_str_result(const char *src, const char *want)
{
    env v;
    env_init(&v, NULL, NULL);
    ts_val out = eval_value(&v, src);
    assert_int_equal(out.kind, TS_VAL_STR);
    if (out.u.str.len != strlen(want) || memcmp(out.u.str.ptr, want, out.u.str.len) != 0)
        fail_msg("%s: got '%.*s' want '%s'", src, (int)out.u.str.len, out.u.str.ptr, want);
    env_done(&v);
}

static void assert_num_result(const char *src, double want)
{
    env v;
    env_init(&v, NULL, NULL);
    ts_val out = eval_value(&v, src);
    assert_int_equal(out.kind, TS_VAL_NUM);
    if (out.u.num != want)
        fail_msg("%s: got %.17g want %.17g", src, out.u.num, want);
    env_done(&v);
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_precedence(void **state)
{
    (void)state;
    const char *m = "r_a == \"x\" && r_b == \"y\" || r_c == \"z\"";
    ASSERT_BOOL(m, "x", "y", "n", 1);
    ASSERT_BOOL(m, "n", "n", "z", 1);
    ASSERT_BOOL(m, "x", "n", "n", 0);
    /* `in` binds tighter than ||. */
    m = "r_a == 'x' || r_b in ('y', 'z')";
    ASSERT_BOOL(m, "x", "n", "", 1);
    ASSERT_BOOL(m, "n", "z", "", 1);
    ASSERT_BOOL(m, "n", "n", "", 0);
    ASSERT_BOOL("r_a == 'q' || r_b in ('y')", "n", "y", "", 1);
    ASSERT_BOOL("r_a == 'q' || r_b in ('y')", "n", "n", "", 0);
    ASSERT_BOOL("(r_a == 'x') || (r_b in ('y', 'z'))", "n", "z", "", 1);
    ASSERT_BOOL("r_a in ('x', 'y')", "x", "", "", 1);
    ASSERT_BOOL("r_a in ('x', 'y')", "z", "", "", 0);
    ASSERT_BOOL("r_a in (r_b, r_c)", "z", "y", "z", 1);
    ASSERT_BOOL("!(r_a == \"x\")", "x", "", "", 0);
    ASSERT_BOOL("!(r_a == \"x\")", "y", "", "", 1);
    ASSERT_BOOL("1 + 2 * 3 == 7", "", "", "", 1);
    ASSERT_BOOL("(1 + 2) * 3 == 9", "", "", "", 1);
    ASSERT_BOOL("10 - 4 - 3 == 3", "", "", "", 1); /* left-associative */
    ASSERT_BOOL("2 ** 3 ** 2 == 64", "", "", "", 1);
    ASSERT_BOOL("-2 ** 2 == 4", "", "", "", 1); /* prefix binds tighter than ** */
    ASSERT_BOOL("1 | 2 == 3", "", "", "", 1);   /* bitwise binds tighter than == */
    ASSERT_BOOL("(1 | 6) == 7 && (6 & 3) == 2 && (5 ^ 1) == 4", "", "", "", 1);
    ASSERT_BOOL("1 << 4 == 16 && 256 >> 4 == 16 && ~0 == -1", "", "", "", 1);
    ASSERT_BOOL("7 % 4 == 3 && -7 % 4 == -3 && 7 / 2 == 3.5", "", "", "", 1);
    ASSERT_BOOL("true == true == true", "", "", "", 1);
    ASSERT_BOOL("r_a == 'x' IN (true)", "x", "", "", 1);
}

static void test_typing(void **state)
{
    (void)state;
    ASSERT_BOOL("r_a == 1", "1", "", "", 0);
    ASSERT_BOOL("r_a != 1", "1", "", "", 1);
    ASSERT_BOOL("1 == 1.0", "", "", "", 1);
    ASSERT_BOOL("r_a > r_b", "10", "9", "", 0);
    ASSERT_BOOL("r_a > r_b", "b", "a", "", 1);
    ASSERT_BOOL("r_a >= r_b && r_a <= r_b", "ab", "ab", "", 1);
    ASSERT_BOOL("'ab' < 'abc' && 'abc' < 'abd'", "", "", "", 1);
    ASSERT_BOOL("10 > 9", "", "", "", 1);
    ASSERT_BOOL("r_a + r_b == \"xy\"", "x", "y", "", 1);
    ASSERT_BOOL("r_a + r_b == \"xy\"", "xy", "", "", 1);
    ASSERT_BOOL("r_a =~ \"^x\"", "xa", "", "", 1);
    ASSERT_BOOL("r_a =~ \"^x\"", "ax", "", "", 0);
    ASSERT_BOOL("r_a !~ \"^x\"", "ax", "", "", 1);
    ASSERT_BOOL("(1, 'a') == (1, 'a')", "", "", "", 1);
    ASSERT_BOOL("(1, 'a') == (1, 'b')", "", "", "", 0);
    ASSERT_BOOL("r_a in (1, 2)", "1", "", "", 0);
    ASSERT_ERR("r_a > 1", "2", "", "", TS_ETYPE,
               "Value '2' cannot be used with the comparator '>', it is not a number");
    ASSERT_ERR("r_a && true", "x", "", "", TS_ETYPE,
               "Value 'x' cannot be used with the logical operator '&&', it is not a bool");
    ASSERT_ERR("true && r_a", "x", "", "", TS_ETYPE, "logical operator '&&'");
    ASSERT_ERR("false || 1", "", "", "", TS_ETYPE, "logical operator '||'");
    ASSERT_ERR("r_a - 1", "5", "", "", TS_ETYPE, "modifier '-'");
    ASSERT_ERR("!r_a", "x", "", "", TS_ETYPE, "cannot be used with the prefix '!'");
    ASSERT_ERR("-r_a", "x", "", "", TS_ETYPE, "prefix '-'");
    ASSERT_ERR("r_a in r_b", "x", "x", "", TS_ETYPE, "comparator 'in'");
    ASSERT_ERR("r_a in (r_b)", "x", "x", "", TS_ETYPE, "comparator 'in'");
    ASSERT_ERR("true + false", "", "", "", TS_ETYPE, "modifier '+'");
    ASSERT_ERR("1 =~ 'x'", "", "", "", TS_ETYPE, "comparator '=~'");
    /* short-circuit: the right side is never evaluated */
    ASSERT_BOOL("false && r_a", "x", "", "", 0);
    ASSERT_BOOL("true || r_a", "x", "", "", 1);
}

static void test_concat_and_numbers(void **state)
{
    (void)state;
    assert_str_result("'a' + 1", "a1");
    assert_str_result("1.5 + 'a'", "1.5a");
    assert_str_result("'n' + 1000000", "n1e+06");
    assert_str_result("'n' + 123456", "n123456");
    assert_str_result("'n' + 0.0001", "n0.0001");
    assert_str_result("'n' + 0.00001", "n1e-05");
    assert_str_result("'n' + 0.1", "n0.1");
    assert_str_result("'n' + 1234567.5", "n1.2345675e+06");
    assert_str_result("'n' + -2.5", "n-2.5");
    assert_str_result("'b' + true", "btrue");
    assert_str_result("'l' + (1, 'x')", "l[1 x]");
    assert_str_result("r_obj + r_act", "");
    assert_num_result("0x1F", 31);
    assert_num_result("0xff + 1", 256);
    assert_num_result(".5", 0.5);
    assert_num_result("1.", 1);
    assert_num_result("-3", -3);
    assert_num_result("2 ** -1", 0.5);
    assert_num_result("5.5 % 2", 1.5);
    assert_num_result("- -4", 4);
    char out[64];
    /* %v formatting directly */
    struct {
        double d;
        const char *s;
    } fv[] = {{0, "0"},
              {1, "1"},
              {-1, "-1"},
              {100000, "100000"},
              {1e6, "1e+06"},
              {1e21, "1e+21"},
              {1.25e-7, "1.25e-07"},
              {3.14159, "3.14159"},
              {9007199254740993.0, "9.007199254740992e+15"},
              {1e100, "1e+100"}};
    for (size_t i = 0; i < sizeof fv / sizeof fv[0]; i++) {
        ts_authz__expr_fmt_num(fv[i].d, out, sizeof out);
        assert_string_equal(out, fv[i].s);
    }
}

static void test_ternary(void **state)
{
    (void)state;
    assert_str_result("r_a == '' ? 'yes' : 'no'", "yes");
    assert_str_result("r_a != '' ? 'yes' : 'no'", "no");
    env v;
    env_init(&v, NULL, NULL);
    ts_val out = eval_value(&v, "false ? 'x'");
    assert_int_equal(out.kind, TS_VAL_NULL);
    out = eval_value(&v, "true ? false : 'x'");
    assert_int_equal(out.kind, TS_VAL_BOOL);
    assert_false(out.u.b);
    env_done(&v);
    ASSERT_ERR("'s' ? 1 : 2", "", "", "", TS_ETYPE, "ternary operator '?'");
    ASSERT_BOOL("r_a == 'x' ? r_b == 'y' : r_c == 'z'", "x", "y", "", 1);
    ASSERT_BOOL("r_a == 'x' ? r_b == 'y' : r_c == 'z'", "n", "", "z", 1);
}

static void test_lexer(void **state)
{
    (void)state;
    /* backslashes in literals: the model doubles them, the lexer undoes one level */
    ASSERT_BOOL("regexMatch(r_a, \"^\\\\d+$\")", "123", "", "", 1);
    ASSERT_BOOL("regexMatch(r_a, \"^\\\\d+$\")", "ddd", "", "", 0);
    ASSERT_BOOL("r_a == 'a\\\\b'", "a\\b", "", "", 1);
    ASSERT_BOOL("r_a == 'it\\'s'", "it's", "", "", 1);
    ASSERT_BOOL("r_a == \"p.x\"", "p.x", "", "", 1);
    ASSERT_BOOL("r_a == 'x'", "x", "", "", 1);
    ASSERT_BOOL("r_a == \"x'", "x", "", "", 1); /* a string ends at either quote */
    ASSERT_BOOL("[r_a] == 'x'", "x", "", "", 1);
    ASSERT_ERR("r_a == \"it's\"", "it's", "", "", TS_EPARSE, "Unclosed string literal");
    ASSERT_ERR("r_a == 'x", "x", "", "", TS_EPARSE, "Unclosed string literal");
    ASSERT_ERR("r_a ==-1", "", "", "", TS_EPARSE, "Invalid token: '==-'");
    ASSERT_ERR("r_a === 'x'", "", "", "", TS_EPARSE, "Invalid token: '==='");
    ASSERT_ERR("r_a == 1.2.3", "", "", "", TS_EPARSE, "Unable to parse numeric value '1.2.3'");
    ASSERT_ERR("(r_a == 'x'", "", "", "", TS_EPARSE, "Unbalanced parenthesis");
    ASSERT_ERR("r_a == 'x')", "", "", "", TS_EPARSE, "Unbalanced parenthesis");
    ASSERT_ERR("r_a ==", "", "", "", TS_EPARSE, "Unexpected end of expression");
    ASSERT_ERR("", "", "", "", TS_EPARSE, "Unexpected end of expression");
    ASSERT_ERR("r_a r_b", "", "", "", TS_EPARSE, "Unexpected token 'r_b'");
    ASSERT_ERR("[r_a == 'x'", "", "", "", TS_EPARSE, "Unclosed parameter bracket");
    ASSERT_ERR("r_sub. == 1", "", "", "", TS_EPARSE, "Hanging accessor");
    ASSERT_ERR("nosuch(r_a)", "", "", "", TS_EPARSE, "Undefined function name 'nosuch'");
    ASSERT_ERR("keyMatch == 1", "", "", "", TS_EPARSE, "must be followed by '('");
    ASSERT_ERR("r_a =~ '('", "", "", "", TS_EPARSE, "Unable to compile regexp pattern");
    ASSERT_ERR("r_a == ()", "", "", "", TS_EPARSE, "Unexpected token ')'");
    /* date-like literals are numbers in govaluate, so never equal to a string */
    ASSERT_BOOL("r_a == '2020-01-02'", "2020-01-02", "", "", 0);
    ASSERT_BOOL("'2020-01-02' == 1577923200", "", "", "", 1);
    ASSERT_BOOL("'2020-01-02T10:00:00+01:00' == 1577955600", "", "", "", 1);
    ASSERT_BOOL("'2020-01-02 00:00:01' > '2020-01-02'", "", "", "", 1);
    ASSERT_BOOL("r_a == '2020-13-02'", "2020-13-02", "", "", 1); /* not a valid date */
    ASSERT_BOOL("r_a == 'a-b'", "a-b", "", "", 1);
}

static void test_unknown_parameter(void **state)
{
    (void)state;
    ASSERT_ERR("r_zzz == 1", "", "", "", TS_EEVAL, "No parameter 'r_zzz' found.");
    ASSERT_BOOL("true || r_zzz == 1", "", "", "", 1);
    ASSERT_BOOL("r_a == 'x' && r_zzz == 1", "n", "", "", 0);
    ASSERT_ERR("r_a == 'x' && r_zzz == 1", "x", "", "", TS_EEVAL, "No parameter 'r_zzz' found.");
    /* rule slots are "" when the context has no rule */
    ASSERT_BOOL("p_sub == ''", "", "", "", 1);
}

static void test_functions_and_roles(void **state)
{
    (void)state;
    const char *req[NREQ] = {"alice", "/data/1", "read", "d1", "", "", ""};
    const char *rule[NRULE] = {"root", "/data/*", "read", "d1", ""};
    env v;
    env_init(&v, req, rule);
    ts_val out = eval_value(&v, "g(r_sub, p_sub) && keyMatch(r_obj, p_obj) && r_act == p_act");
    assert_int_equal(out.kind, TS_VAL_BOOL);
    assert_true(out.u.b);
    assert_int_equal(v.role_calls, 1);
    out = eval_value(&v, "g(r_sub, 'nobody') && keyMatch(r_obj, p_obj)");
    assert_false(out.u.b);
    out = eval_value(&v, "g('bob', 'admin', r_dom)");
    assert_true(out.u.b);
    out = eval_value(&v, "g2('data1', 'group1') && !g2('data2', 'group1')");
    assert_true(out.u.b);
    out = eval_value(&v, "keyGet2('/item/7', '/item/:id', 'id') in ('7', '8')");
    assert_true(out.u.b);
    out = eval_value(&v, "keyMatch2(r_obj, '/data/:id')");
    assert_true(out.u.b);
    ts_error err;
    assert_int_not_equal(run(&v, "keyMatch(r_obj)", &out, &err), TS_OK);
    assert_non_null(strstr(err.msg, "keyMatch"));
    /* no role callback: a clear error */
    v.ctx.role = NULL;
    assert_int_not_equal(run(&v, "g(r_sub, p_sub)", &out, &err), TS_OK);
    env_done(&v);
}

static void test_json_attributes(void **state)
{
    (void)state;
    json_error_t jerr;
    json_t *sub = json_loads("{\"Name\":\"alice\",\"Age\":25,\"Score\":1.5,\"Admin\":true,"
                             "\"Owner\":{\"Name\":\"bob\"},\"Tags\":[1],\"Nil\":null}",
                             0, &jerr);
    assert_non_null(sub);
    env v;
    env_init(&v, NULL, NULL);
    v.req[0].kind = TS_VAL_JSON;
    v.req[0].u.json = sub;
    v.req[1] = ts_val_str("bob", 3);
    ts_val out = eval_value(&v, "r_sub.Age > 18 && r_sub.Name == 'alice' && r_sub.Admin");
    assert_true(out.u.b);
    out = eval_value(&v, "r_sub.Owner.Name == r_obj && r_sub.Score == 1.5");
    assert_true(out.u.b);
    out = eval_value(&v, "r_sub.Nil ?? 'dflt'");
    assert_int_equal(out.kind, TS_VAL_STR);
    out = eval_value(&v, "r_sub.Tags");
    assert_int_equal(out.kind, TS_VAL_JSON);
    ts_error err;
    assert_int_equal(run(&v, "r_sub.Missing == 1", &out, &err), TS_EEVAL);
    assert_string_equal(err.msg, "No method or field 'Missing' present on parameter 'r_sub'");
    assert_int_equal(run(&v, "r_obj.Age == 1", &out, &err), TS_ETYPE);
    assert_string_equal(err.msg, "Unable to access 'Age', 'r_obj' is not a struct or map");
    assert_int_equal(run(&v, "r_zz.Age == 1", &out, &err), TS_EEVAL);
    assert_string_equal(err.msg, "No parameter 'r_zz' found.");
    assert_int_equal(run(&v, "r_sub.Age(1)", &out, &err), TS_EUNSUPPORTED);
    env_done(&v);
    json_decref(sub);
}

static const ts_expr *lookup_none(void *ud, const char *text, size_t len)
{
    (void)ud;
    (void)text;
    (void)len;
    return NULL;
}

static void test_eval_function(void **state)
{
    (void)state;
    json_t *sub = json_pack("{s:i}", "Age", 30);
    env v;
    const char *rule[NRULE] = {"", "/d", "read", "", "r.sub.Age > 18 && r.act == 'read'"};
    env_init(&v, NULL, rule);
    v.req[0].kind = TS_VAL_JSON;
    v.req[0].u.json = sub;
    v.req[2] = ts_val_str("read", 4);
    v.ctx.eval_lookup = lookup_none;
    ts_val out = eval_value(&v, "eval(p_sub_rule) && r_act == p_act");
    assert_true(out.u.b);
    v.req[2] = ts_val_str("write", 5);
    out = eval_value(&v, "eval(p_sub_rule)");
    assert_false(out.u.b);
    /* without a lookup callback the evaluator compiles the text itself */
    v.ctx.eval_lookup = NULL;
    out = eval_value(&v, "eval('1 + 1 == 2')");
    assert_true(out.u.b);
    out = eval_value(&v, "eval('\\'a\\' + \\'b\\'') == 'ab'");
    assert_true(out.u.b);
    ts_error err;
    assert_int_equal(run(&v, "eval(1)", &out, &err), TS_ETYPE);
    assert_int_equal(run(&v, "eval('r_a ==')", &out, &err), TS_EPARSE);
    assert_int_not_equal(run(&v, "eval()", &out, &err), TS_OK);
    /* eval(eval(eval(...))) is bounded */
    static char buf[8192];
    static char inner[8192] = "true";
    for (int i = 0; i < 10; i++) {
        static char esc[8192];
        size_t o = 0;
        for (const char *q = inner; *q && o + 2 < sizeof esc; q++) {
            if (*q == '\\' || *q == '\'')
                esc[o++] = '\\';
            esc[o++] = *q;
        }
        esc[o] = '\0';
        size_t el = strlen(esc);
        assert_true(el + 9 < sizeof buf);
        memcpy(buf, "eval('", 6);
        memcpy(buf + 6, esc, el);
        memcpy(buf + 6 + el, "')", 3);
        memcpy(inner, buf, el + 9);
    }
    assert_int_equal(run(&v, inner, &out, &err), TS_ELIMIT);
    env_done(&v);
    json_decref(sub);

    size_t f[4];
    const char *m = "eval(p_sub_rule) || eval(p_sub_rule) && eval(p_obj)";
    ts_expr *e = ts_authz__expr_compile(m, strlen(m), &NAMES, NULL);
    assert_non_null(e);
    assert_int_equal(ts_authz__expr_eval_rule_fields(e, f, 4), 2);
    assert_int_equal(f[0], 4);
    assert_int_equal(f[1], 1);
    ts_authz__expr_free(e);
}

static void test_limits(void **state)
{
    (void)state;
    size_t n = 300;
    char *s = malloc(4 * n + 16);
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        s[o++] = '(';
    s[o++] = '1';
    for (size_t i = 0; i < n; i++)
        s[o++] = ')';
    ts_error err;
    ts_error_clear(&err);
    assert_null(ts_authz__expr_compile(s, o, &NAMES, &err));
    assert_int_equal(err.code, TS_ELIMIT);
    /* deep prefix chains and long left-assoc chains are bounded too */
    o = 0;
    for (size_t i = 0; i < n; i++) {
        s[o++] = '-';
        s[o++] = ' ';
    }
    s[o++] = '1';
    ts_error_clear(&err);
    assert_null(ts_authz__expr_compile(s, o, &NAMES, &err));
    assert_int_equal(err.code, TS_ELIMIT);
    free(s);
    char *chain = malloc(8 * 1000 + 8);
    o = 0;
    for (size_t i = 0; i < 1000; i++)
        o += (size_t)snprintf(chain + o, 16, "r_a + ");
    chain[o++] = '1';
    ts_error_clear(&err);
    assert_null(ts_authz__expr_compile(chain, o, &NAMES, &err));
    assert_int_equal(err.code, TS_ELIMIT);
    /* but a long && chain is flat */
    o = 0;
    for (size_t i = 0; i < 1000; i++)
        o += (size_t)snprintf(chain + o, 16, "true && ");
    memcpy(chain + o, "true", 4);
    o += 4;
    ts_expr *e = ts_authz__expr_compile(chain, o, &NAMES, &err);
    assert_non_null(e);
    ts_authz__expr_free(e);
    free(chain);
    /* length cap */
    size_t big = TS_AUTHZ_MAX_EXPR_BYTES + 1;
    char *t = malloc(big);
    memset(t, ' ', big);
    ts_error_clear(&err);
    assert_null(ts_authz__expr_compile(t, big, &NAMES, &err));
    assert_int_equal(err.code, TS_ELIMIT);
    free(t);
}

static void test_folding(void **state)
{
    (void)state;
    /* folded at compile time, yet a failing constant subtree fails only when reached */
    ASSERT_BOOL("true || 1 && 2", "", "", "", 1);
    ASSERT_ERR("false || 1 && 2", "", "", "", TS_ETYPE, "logical operator '&&'");
    ASSERT_BOOL("'a' + 'b' == 'ab' && (1, 2) == (1, 2)", "", "", "", 1);
    ASSERT_BOOL("r_a in ('x' + 'y', 'z')", "xy", "", "", 1);
}

static void test_conjuncts(void **state)
{
    (void)state;
    ts_expr_conj c[8];
    const char *m = "g(r_sub, p_sub) && r_obj == p_obj && p_act == r_act";
    ts_expr *e = ts_authz__expr_compile(m, strlen(m), &NAMES, NULL);
    assert_non_null(e);
    assert_int_equal(ts_authz__expr_conjuncts(e, c, 8), 3);
    assert_int_equal(c[0].kind, TS_CONJ_ROLE);
    assert_int_equal(c[0].req_idx, 0);
    assert_int_equal(c[0].rule_idx, 0);
    assert_int_equal(c[0].role_idx, 0);
    assert_int_equal(c[0].dom_kind, 0);
    assert_int_equal(c[1].kind, TS_CONJ_EQ);
    assert_int_equal(c[1].req_idx, 1);
    assert_int_equal(c[1].rule_idx, 1);
    assert_int_equal(c[2].kind, TS_CONJ_EQ);
    assert_int_equal(c[2].req_idx, 2);
    assert_int_equal(c[2].rule_idx, 2);
    assert_int_equal(ts_authz__expr_conjuncts(e, c, 1), 3);
    ts_authz__expr_free(e);

    m = "g(r_sub, p_sub, r_dom) && r_dom == p_dom && keyMatch(r_obj, p_obj)";
    e = ts_authz__expr_compile(m, strlen(m), &NAMES, NULL);
    assert_int_equal(ts_authz__expr_conjuncts(e, c, 8), 3);
    assert_int_equal(c[0].kind, TS_CONJ_ROLE);
    assert_int_equal(c[0].dom_kind, 1);
    assert_int_equal(c[0].dom_idx, 3);
    assert_int_equal(c[1].kind, TS_CONJ_EQ);
    assert_int_equal(c[1].req_idx, 3);
    assert_int_equal(c[1].rule_idx, 3);
    assert_int_equal(c[2].kind, TS_CONJ_OTHER);
    ts_authz__expr_free(e);

    m = "g2(r_obj, p_obj, 'tenant') && (r_act == p_act || r_act == 'x') && r_sub.Age == p_sub";
    e = ts_authz__expr_compile(m, strlen(m), &NAMES, NULL);
    assert_int_equal(ts_authz__expr_conjuncts(e, c, 8), 3);
    assert_int_equal(c[0].kind, TS_CONJ_ROLE);
    assert_int_equal(c[0].role_idx, 1);
    assert_int_equal(c[0].dom_kind, 2);
    assert_true(ts_str_eqz(c[0].dom_lit, "tenant"));
    assert_int_equal(c[1].kind, TS_CONJ_OTHER);
    assert_int_equal(c[2].kind, TS_CONJ_OTHER);
    ts_authz__expr_free(e);

    m = "r_sub == p_sub";
    e = ts_authz__expr_compile(m, strlen(m), &NAMES, NULL);
    assert_int_equal(ts_authz__expr_conjuncts(e, c, 8), 1);
    assert_int_equal(c[0].kind, TS_CONJ_EQ);
    ts_authz__expr_free(e);
    m = "r_sub == p_sub || r_obj == p_obj";
    e = ts_authz__expr_compile(m, strlen(m), &NAMES, NULL);
    assert_int_equal(ts_authz__expr_conjuncts(e, c, 8), 1);
    assert_int_equal(c[0].kind, TS_CONJ_OTHER);
    ts_authz__expr_free(e);
}

static void test_threads_of_values(void **state)
{
    (void)state;
    /* an expression is immutable: evaluating it with two contexts gives independent results */
    const char *m = "r_a + r_b";
    ts_expr *e = ts_authz__expr_compile(m, strlen(m), &NAMES, NULL);
    env v1, v2;
    const char *r1[NREQ] = {"", "", "", "", "a", "b", ""};
    const char *r2[NREQ] = {"", "", "", "", "c", "d", ""};
    env_init(&v1, r1, NULL);
    env_init(&v2, r2, NULL);
    ts_val o1, o2;
    assert_int_equal(ts_authz__expr_eval(e, &v1.ctx, &o1, NULL), TS_OK);
    assert_int_equal(ts_authz__expr_eval(e, &v2.ctx, &o2, NULL), TS_OK);
    assert_true(ts_str_eqz(o1.u.str, "ab"));
    assert_true(ts_str_eqz(o2.u.str, "cd"));
    /* no scratch arena: concatenation is an error, not a crash */
    v1.ctx.scratch = NULL;
    assert_int_equal(ts_authz__expr_eval(e, &v1.ctx, &o1, NULL), TS_EINVAL);
    env_done(&v1);
    env_done(&v2);
    ts_authz__expr_free(e);
    ts_authz__expr_free(NULL);
}

/* ---- probe rows of the shared conformance corpus --------------------------------------- */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = (size_t)n;
    }
    return buf;
}

static void test_probe_corpus(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/casbin-conformance/enforce_cases.json", TS_SHARED_DIR);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) {
        printf("skipping probe corpus: %s not readable\n", path);
        skip();
    }
    json_t *suites = json_object_get(root, "suites");
    size_t i, rows = 0, passed = 0;
    json_t *suite;
    json_array_foreach(suites, i, suite)
    {
        const char *name = json_string_value(json_object_get(suite, "name"));
        if (!name || strncmp(name, "probe:", 6) != 0)
            continue;
        snprintf(path, sizeof path, "%s/casbin-conformance/%s", TS_SHARED_DIR,
                 json_string_value(json_object_get(suite, "model")));
        size_t len = 0;
        char *text = read_file(path, &len);
        assert_non_null(text);
        ts_error err;
        ts_error_clear(&err);
        ts_authz_model *model = ts_authz_model_parse(text, len, path, &err);
        free(text);
        if (!model)
            fail_msg("%s: %s", path, err.msg);
        const ts_model_def *r = ts_authz__model_find(&model->r, "r");
        const ts_model_def *p = ts_authz__model_find(&model->p, "p");
        const ts_model_def *m = ts_authz__model_find(&model->m, "m");
        assert_non_null(r);
        assert_non_null(p);
        assert_non_null(m);
        const ts_expr_names names = {(const char *const *)r->tokens,
                                     r->ntokens,
                                     (const char *const *)p->tokens,
                                     p->ntokens,
                                     NULL,
                                     0};
        ts_error_clear(&err);
        ts_expr *e = ts_authz__expr_compile(m->matcher, strlen(m->matcher), &names, &err);
        size_t k;
        json_t *c;
        json_array_foreach(json_object_get(suite, "cases"), k, c)
        {
            json_t *req = json_object_get(c, "req");
            json_t *want = json_object_get(c, "go_v3");
            ts_val rv[8];
            size_t nr = json_array_size(req);
            assert_true(nr <= 8);
            for (size_t j = 0; j < nr; j++) {
                const char *s = json_string_value(json_array_get(req, j));
                rv[j] = ts_val_str(s, strlen(s));
            }
            ts_arena scratch;
            ts_authz__arena_init(&scratch, 0);
            ts_expr_ctx ctx;
            memset(&ctx, 0, sizeof ctx);
            ctx.req = rv;
            ctx.nreq = nr;
            ctx.scratch = &scratch;
            ctx.builtins.scratch = &scratch;
            ts_val out;
            ts_error eerr;
            ts_error_clear(&eerr);
            ts_status st = e ? ts_authz__expr_eval(e, &ctx, &out, &eerr) : err.code;
            rows++;
            if (json_is_string(want)) {
                /* "ERROR: ..." */
                if (st == TS_OK)
                    fail_msg("%s row %zu: expected %s, got a value", name, k,
                             json_string_value(want));
                const char *msg = e ? eerr.msg : err.msg;
                if (!strstr(json_string_value(want), msg))
                    fail_msg("%s row %zu: expected %s, got %s", name, k, json_string_value(want),
                             msg);
            } else {
                if (st != TS_OK)
                    fail_msg("%s row %zu: error %s", name, k, e ? eerr.msg : err.msg);
                assert_int_equal(out.kind, TS_VAL_BOOL);
                if (out.u.b != json_is_true(want))
                    fail_msg("%s row %zu: got %d", name, k, out.u.b);
            }
            passed++;
            ts_authz__arena_cleanup(&scratch);
        }
        ts_authz__expr_free(e);
        ts_authz_model_free(model);
    }
    json_decref(root);
    printf("probe corpus: %zu/%zu rows\n", passed, rows);
    assert_true(rows > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_typing),
        cmocka_unit_test(test_concat_and_numbers),
        cmocka_unit_test(test_ternary),
        cmocka_unit_test(test_lexer),
        cmocka_unit_test(test_unknown_parameter),
        cmocka_unit_test(test_functions_and_roles),
        cmocka_unit_test(test_json_attributes),
        cmocka_unit_test(test_eval_function),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_folding),
        cmocka_unit_test(test_conjuncts),
        cmocka_unit_test(test_threads_of_values),
        cmocka_unit_test(test_probe_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
