/* ABAC request JSON as Casbin's Go matcher sees it: json.Unmarshal into map[string]interface{}
 * (every number a float64), then govaluate, whose `+` with a string operand prints the other
 * side with fmt's %v. Each row gives the result Go gives and where that comes from; the rows
 * marked "refused" are inputs Go accepts and tokensmith refuses on purpose (listed in
 * docs/casbin-compatibility.md). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokensmith/authz.h>

enum want { ALLOW, DENY, REFUSED, ERROR };

typedef struct row {
    const char *json;
    const char *obj;     /* r.obj */
    const char *matcher; /* over r.sub (the JSON) and r.obj */
    enum want want;
    const char *source; /* where the Go result comes from */
} row;

/* Go sources: encoding/json decode.go (literalStore, convertNumber: a number stored into an
 * interface{} is strconv.ParseFloat(s, 64); its range error fails the Unmarshal);
 * fmt print.go and strconv ftoa.go (%v of a float64 is FormatFloat(f, 'g', -1, 64): the shortest
 * digits that round-trip, in exponent form when the exponent is < -4 or >= 6, so 123456 but
 * 1e+06 and 1.2345678e+07); govaluate evaluationStage.go addStage
 * (fmt.Sprintf("%v%v", left, right) when either side is a string). */
static const row rows[] = {
    /* Numbers beyond int64 are float64, not an error. */
    {"{\"Age\":100000000000000000000}", "x1e+20", "r.obj == 'x' + r.sub.Age", ALLOW,
     "json.Unmarshal -> float64 1e20; fmt %v -> \"1e+20\""},
    {"{\"Age\":-100000000000000000000}", "x-1e+20", "r.obj == 'x' + r.sub.Age", ALLOW,
     "float64 -1e20; fmt %v -> \"-1e+20\""},
    {"{\"Age\":100000000000000000000}", "", "r.sub.Age > 99999999999999999999", DENY,
     "both literals are float64 1e20: not greater"},
    {"{\"a\":{\"b\":18446744073709551616}}", "x1.8446744073709552e+19", "r.obj == 'x' + r.sub.a.b",
     ALLOW, "2^64 as float64; shortest %v"},
    {"{\"Age\":9007199254740993}", "", "r.sub.Age == 9007199254740992", ALLOW,
     "2^53+1 rounds to 2^53 in ParseFloat (round half to even)"},
    /* -0 is a float that keeps its sign when printed, and equals 0. */
    {"{\"Age\":-0}", "x-0", "r.obj == 'x' + r.sub.Age", ALLOW,
     "ParseFloat(\"-0\") = -0; fmt %v -> \"-0\""},
    {"{\"Age\":-0.0}", "x-0", "r.obj == 'x' + r.sub.Age", ALLOW, "ParseFloat(\"-0.0\") = -0"},
    {"{\"Age\":-0}", "", "r.sub.Age == 0", ALLOW, "-0 == 0 in IEEE 754"},
    /* Ordinary numbers print as Go prints a float64. */
    {"{\"Age\":30}", "x30", "r.obj == 'x' + r.sub.Age", ALLOW, "float64 30; %v -> \"30\""},
    {"{\"Age\":12345678}", "x1.2345678e+07", "r.obj == 'x' + r.sub.Age", ALLOW,
     "%v of float64 12345678 -> \"1.2345678e+07\" (exponent 7 >= 6)"},
    {"{\"Age\":1.5e-5}", "x1.5e-05", "r.obj == 'x' + r.sub.Age", ALLOW,
     "%v -> \"1.5e-05\" (exponent < -4)"},
    {"{\"Age\":0.0001}", "x0.0001", "r.obj == 'x' + r.sub.Age", ALLOW, "%v -> \"0.0001\""},
    {"{\"Age\":1E2}", "x100", "r.obj == 'x' + r.sub.Age", ALLOW, "1E2 = float64 100"},
    /* Beyond float64: Go's Unmarshal fails too (ParseFloat range error). */
    {"{\"Age\":1e400}", "", "true", ERROR, "json: cannot unmarshal number 1e400 into float64"},
    {"{\"Age\":-1e400}", "", "true", ERROR, "ParseFloat range error"},
    /* Underflow is 0, as ParseFloat gives without an error. */
    {"{\"Age\":1e-400}", "x0", "r.obj == 'x' + r.sub.Age", ALLOW, "ParseFloat(\"1e-400\") = 0"},
    /* Strings: a valid surrogate pair is the character. */
    {"{\"Name\":\"\\ud83d\\ude00\"}", "x\xf0\x9f\x98\x80", "r.obj == 'x' + r.sub.Name", ALLOW,
     "encoding/json unquote: surrogate pair -> U+1F600"},
    /* Refused where Go accepts (an error is a denial). */
    {"{\"Age\":1,\"Age\":2}", "", "true", REFUSED, "Go: the last value wins (Age = 2)"},
    {"{\"Name\":\"a\\u0000b\"}", "", "true", REFUSED, "Go: a 3-byte string with a NUL"},
    {"{\"Name\":\"\\ud800\"}", "", "true", REFUSED, "Go: lone surrogate -> U+FFFD"},
    {"{\"Name\":\"\\udc00x\"}", "", "true", REFUSED, "Go: lone low surrogate -> U+FFFD"},
    {"{\"Name\":\"\xff\"}", "", "true", REFUSED, "Go: invalid UTF-8 byte -> U+FFFD"},
    {"{\"Name\":\"\xc0\xaf\"}", "", "true", REFUSED, "Go: overlong encoding -> U+FFFD U+FFFD"},
};

static ts_authz_enforcer *make(const char *matcher)
{
    char model[512];
    snprintf(model, sizeof model,
             "[request_definition]\nr = sub, obj\n"
             "[policy_definition]\np = sub, obj\n"
             "[policy_effect]\ne = some(where (p.eft == allow))\n"
             "[matchers]\nm = %s\n",
             matcher);
    ts_error err;
    ts_authz_model *m = ts_authz_model_parse(model, strlen(model), "model.conf", &err);
    if (!m)
        return NULL;
    ts_authz_enforcer *e = ts_authz_enforcer_new(m, NULL, &err);
    ts_authz_model_free(m);
    return e;
}

static void go_rows(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const row *r = &rows[i];
        ts_authz_enforcer *e = make(r->matcher);
        assert_non_null(e);
        ts_authz_arg a[2] = {{r->json, strlen(r->json), true}, {r->obj, strlen(r->obj), false}};
        bool allowed = true;
        ts_error err;
        ts_error_clear(&err);
        ts_status st = ts_authz_enforce(e, a, 2, &allowed, &err);
        bool ok = false;
        switch (r->want) {
        case ALLOW:
            ok = st == TS_OK && allowed;
            break;
        case DENY:
            ok = st == TS_OK && !allowed;
            break;
        case REFUSED:
        case ERROR:
            ok = st == TS_EPARSE && !allowed && strstr(err.msg, "argument 1: invalid JSON");
            break;
        }
        if (!ok)
            fail_msg("row %zu %s with `%s`: status %d (%s) allowed %d; Go: %s", i, r->json,
                     r->matcher, (int)st, err.msg, (int)allowed, r->source);
        ts_authz_enforcer_free(e);
    }
}

/* Nesting: jansson's bound is 2048 levels (Go's is 10000); deeper is refused. */
static char *nested(size_t depth)
{
    /* {"a": [[ ... ]]} with depth levels in all (the object is the first). */
    size_t inner = depth - 1;
    char *s = malloc(2 * inner + 8);
    assert_non_null(s);
    size_t o = 0;
    memcpy(s, "{\"a\":", 5);
    o = 5;
    for (size_t i = 0; i < inner; i++)
        s[o++] = '[';
    for (size_t i = 0; i < inner; i++)
        s[o++] = ']';
    s[o++] = '}';
    s[o] = '\0';
    return s;
}

static void nesting_bound(void **state)
{
    (void)state;
    ts_authz_enforcer *e = make("r.obj == 'x'");
    assert_non_null(e);
    ts_error err;
    bool allowed = false;
    char *ok = nested(2048);
    ts_authz_arg a[2] = {{ok, strlen(ok), true}, {"x", 1, false}};
    assert_int_equal(ts_authz_enforce(e, a, 2, &allowed, &err), TS_OK);
    assert_true(allowed);
    char *deep = nested(2049);
    a[0] = (ts_authz_arg){deep, strlen(deep), true};
    allowed = true;
    assert_int_equal(ts_authz_enforce(e, a, 2, &allowed, &err), TS_EPARSE);
    assert_false(allowed);
    assert_non_null(strstr(err.msg, "argument 1: invalid JSON"));
    free(ok);
    free(deep);
    ts_authz_enforcer_free(e);
}

/* The JSON size bound and a non-object stay errors naming the argument. */
static void bounds_and_shape(void **state)
{
    (void)state;
    ts_authz_enforcer *e = make("r.obj == 'x'");
    assert_non_null(e);
    ts_error err;
    bool allowed = true;
    size_t n = TS_AUTHZ_MAX_JSON_BYTES + 1;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    ts_authz_arg a[2] = {{big, n, true}, {"x", 1, false}};
    assert_int_equal(ts_authz_enforce(e, a, 2, &allowed, &err), TS_ELIMIT);
    assert_false(allowed);
    a[0] = (ts_authz_arg){"[1]", 3, true};
    allowed = true;
    assert_int_equal(ts_authz_enforce(e, a, 2, &allowed, &err), TS_EPARSE);
    assert_non_null(strstr(err.msg, "not an object"));
    assert_false(allowed);
    free(big);
    ts_authz_enforcer_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(go_rows),
        cmocka_unit_test(nesting_bound),
        cmocka_unit_test(bounds_and_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
