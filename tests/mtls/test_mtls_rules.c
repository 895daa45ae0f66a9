/* Unit tests of the mapping rules of mTLS service identity: the patterns (exact, prefix, and a
 * glob whose `*` stays within one URI segment or DNS label), the order of rules, and the
 * refusals of the rule parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mtls.h"

#define URI TS_SVC_MTLS_URI
#define DNS TS_SVC_MTLS_DNS
#define GLOB TS_SVC_MTLS_GLOB

static void test_glob(void **state)
{
    (void)state;
    const char *p = "spiffe://cluster.local/ns/boot/sa/*";
    assert_true(ts_svc_mtls_pattern_matches(URI, GLOB, p, "spiffe://cluster.local/ns/boot/sa/bss"));
    assert_true(ts_svc_mtls_pattern_matches(URI, GLOB, p, "spiffe://cluster.local/ns/boot/sa/"));
    /* `*` never crosses a segment. */
    assert_false(
        ts_svc_mtls_pattern_matches(URI, GLOB, p, "spiffe://cluster.local/ns/boot/sa/bss/x"));
    assert_false(ts_svc_mtls_pattern_matches(URI, GLOB, p, "spiffe://cluster.local/ns/boot/sa"));
    assert_true(ts_svc_mtls_pattern_matches(URI, GLOB, "spiffe://*/ns/*/sa/bss",
                                            "spiffe://c1/ns/boot/sa/bss"));
    assert_false(ts_svc_mtls_pattern_matches(URI, GLOB, "spiffe://*/ns/*/sa/bss",
                                             "spiffe://c1/x/ns/boot/sa/bss"));
    /* DNS: `*` within one label; `?` one character, not a dot. */
    assert_true(ts_svc_mtls_pattern_matches(DNS, GLOB, "*.nodes.example", "n7.nodes.example"));
    assert_false(ts_svc_mtls_pattern_matches(DNS, GLOB, "*.nodes.example", "a.b.nodes.example"));
    assert_false(ts_svc_mtls_pattern_matches(DNS, GLOB, "*.nodes.example", "nodes.example"));
    assert_true(ts_svc_mtls_pattern_matches(DNS, GLOB, "n?.nodes.example", "n7.nodes.example"));
    assert_false(ts_svc_mtls_pattern_matches(DNS, GLOB, "n?nodes.example", "n.nodes.example"));
    assert_true(ts_svc_mtls_pattern_matches(DNS, GLOB, "n*7*.x", "nab7cd.x"));
    assert_true(ts_svc_mtls_pattern_matches(DNS, GLOB, "**", "abc"));
    assert_false(ts_svc_mtls_pattern_matches(DNS, GLOB, "abc", "abcd"));
    /* A long name against many stars ends quickly (one backtrack point). */
    char name[256];
    memset(name, 'a', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    assert_false(ts_svc_mtls_pattern_matches(DNS, GLOB, "*a*a*a*a*a*a*a*a*b", name));
}

static void test_exact_prefix(void **state)
{
    (void)state;
    assert_true(
        ts_svc_mtls_pattern_matches(URI, TS_SVC_MTLS_EXACT, "spiffe://a/b", "spiffe://a/b"));
    assert_false(
        ts_svc_mtls_pattern_matches(URI, TS_SVC_MTLS_EXACT, "spiffe://a/b", "spiffe://a/bc"));
    assert_true(
        ts_svc_mtls_pattern_matches(URI, TS_SVC_MTLS_PREFIX, "spiffe://a/", "spiffe://a/b/c"));
    assert_false(
        ts_svc_mtls_pattern_matches(URI, TS_SVC_MTLS_PREFIX, "spiffe://a/", "spiffe://b/a/"));
}

static ts_svc_mtls_rules *rules_ok(const char *json)
{
    ts_error err;
    ts_error_clear(&err);
    ts_svc_mtls_rules *r = ts_svc_mtls_rules_new(json, strlen(json), &err);
    if (!r)
        fail_msg("%s: %s: %s", json, err.where, err.msg);
    return r;
}

static void test_order_and_claims(void **state)
{
    (void)state;
    ts_svc_mtls_rules *r = rules_ok(
        "{\"rules\":[{\"kind\":\"uri\",\"exact\":\"spiffe://c/ns/a/sa/x\",\"subject\":\"x\","
        "\"audience\":[\"one\"]},"
        "{\"kind\":\"uri\",\"glob\":\"spiffe://c/ns/a/sa/*\",\"scopes\":[\"r\",\"w\"],"
        "\"roles\":[\"admin\"],\"audience\":[\"one\",\"two\"]},"
        "{\"kind\":\"dns\",\"glob\":\"*.Nodes.Example\",\"audience\":[\"smd\"]}]}");
    const ts_svc_mtls_rule *m = ts_svc_mtls_rules_match(r, URI, "spiffe://c/ns/a/sa/x");
    assert_non_null(m);
    assert_int_equal(m->index, 0); /* the first rule in file order wins */
    assert_string_equal(m->subject, "x");
    assert_string_equal(m->scope, "");
    assert_string_equal(m->roles, "[]");
    m = ts_svc_mtls_rules_match(r, URI, "spiffe://c/ns/a/sa/y");
    assert_non_null(m);
    assert_int_equal(m->index, 1);
    assert_null(m->subject);
    assert_string_equal(m->scope, "r w");
    assert_string_equal(m->roles, "[\"admin\"]");
    assert_int_equal(m->n_audience, 2);
    assert_string_equal(m->audience[1], "two");
    /* DNS patterns are kept in lower case (names are lowered before matching). */
    m = ts_svc_mtls_rules_match(r, DNS, "n1.nodes.example");
    assert_non_null(m);
    assert_int_equal(m->index, 2);
    /* A URI rule never matches a DNS name of the same text, and the reverse. */
    assert_null(ts_svc_mtls_rules_match(r, DNS, "spiffe://c/ns/a/sa/x"));
    assert_null(ts_svc_mtls_rules_match(r, URI, "n1.nodes.example"));
    assert_null(ts_svc_mtls_rules_match(r, URI, "spiffe://c/ns/b/sa/x"));
    ts_svc_mtls_rules_free(r);
}

static void rules_bad(const char *json, const char *what)
{
    ts_error err;
    ts_error_clear(&err);
    ts_svc_mtls_rules *r = ts_svc_mtls_rules_new(json, strlen(json), &err);
    if (r) {
        ts_svc_mtls_rules_free(r);
        fail_msg("accepted: %s", json);
    }
    assert_string_equal(err.where, "serviceIdentity");
    if (!strstr(err.msg, what))
        fail_msg("%s: '%s' lacks '%s'", json, err.msg, what);
}

static void test_refused(void **state)
{
    (void)state;
    rules_bad("[]", "must be a JSON object");
    rules_bad("{\"rules\":[]}", "at least one rule");
    rules_bad("{\"rules\":[],\"x\":1}", "at least one rule");
    rules_bad("{\"rules\":[1]}", "rules[0] must be an object");
    rules_bad("{\"rules\":[{\"kind\":\"cn\",\"exact\":\"a\",\"audience\":[\"x\"]}]}",
              "never an identity");
    rules_bad("{\"rules\":[{\"kind\":\"uri\",\"audience\":[\"x\"]}]}", "exactly one of");
    rules_bad(
        "{\"rules\":[{\"kind\":\"uri\",\"exact\":\"a\",\"glob\":\"b\",\"audience\":[\"x\"]}]}",
        "exactly one of");
    rules_bad("{\"rules\":[{\"kind\":\"uri\",\"exact\":\"\",\"audience\":[\"x\"]}]}", "non-empty");
    rules_bad("{\"rules\":[{\"kind\":\"uri\",\"exact\":\"a\"}]}", "audience");
    rules_bad("{\"rules\":[{\"kind\":\"uri\",\"exact\":\"a\",\"audience\":[]}]}", "audience");
    rules_bad("{\"rules\":[{\"kind\":\"uri\",\"exact\":\"a\",\"audience\":[\"x\"],"
              "\"scopes\":[\"a b\"]}]}",
              "scopes[0]");
    rules_bad("{\"rules\":[{\"kind\":\"uri\",\"exact\":\"a\",\"audience\":[\"x\"],"
              "\"roles\":[\"\"]}]}",
              "roles[0]");
    rules_bad("{\"rules\":[{\"kind\":\"uri\",\"exact\":\"a\",\"audience\":[\"x\"],"
              "\"subject\":\"a\\u0001\"}]}",
              "subject");
    rules_bad("{\"rules\":[{\"kind\":\"uri\",\"exact\":\"a\",\"audience\":[\"x\"],\"cn\":1}]}",
              "unknown member \"cn\"");
    /* Too many rules. */
    char big[40000];
    size_t o = (size_t)snprintf(big, sizeof big, "{\"rules\":[");
    for (int i = 0; i <= TS_SVC_MTLS_MAX_RULES; i++)
        o += (size_t)snprintf(big + o, sizeof big - o,
                              "%s{\"kind\":\"uri\",\"exact\":\"a%d\","
                              "\"audience\":[\"x\"]}",
                              i ? "," : "", i);
    snprintf(big + o, sizeof big - o, "]}");
    rules_bad(big, "more than 256 rules");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_glob),
        cmocka_unit_test(test_exact_prefix),
        cmocka_unit_test(test_order_and_claims),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
