/* The token mappings as the exchange applies them (tokenservice/service/src/mappings_apply.c):
 * identity rules in evaluation order (priority, then name; issuer restriction; globs), the
 * oidc library's rule callback, the resource mapping of a requested target (resource first,
 * alone), and the claims of resource and scope mappings: first value wins, reserved and
 * carried names skipped, what applied recorded. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mappings.h"
#include "mappings_apply.h"

static const char DOC[] =
    "{\"identity_rules\":["
    "{\"name\":\"zz-any\",\"namespace\":\"payments\",\"service_account\":\"*\","
    "\"scopes\":[\"pay.read\"],\"priority\":5},"
    "{\"name\":\"api\",\"issuer\":\"https://k8s.a\",\"namespace\":\"payments\","
    "\"service_account\":\"api-?\",\"scopes\":[\"pay.read\",\"pay.write\"],"
    "\"roles\":[\"role:payments\"],\"priority\":1},"
    "{\"name\":\"b-later\",\"namespace\":\"payments\",\"service_account\":\"api-1\","
    "\"scopes\":[\"never\"],\"priority\":5}],"
    "\"resource_mappings\":["
    "{\"name\":\"edc\",\"resource\":\"https://edc.example/api\",\"issued_audience\":\"edc\","
    "\"claims\":{\"participant_context_id\":\"pc-1\",\"tier\":\"from-resource\","
    "\"roles\":[\"admin\"],\"idp\":\"forged\"}},"
    "{\"name\":\"inv\",\"audience\":\"inventory\",\"issued_audience\":\"inventory-api\"}],"
    "\"scope_mappings\":["
    "{\"scope\":\"pay.read\",\"claims\":{\"tier\":\"from-scope\",\"limits\":{\"daily\":10}}},"
    "{\"scope\":\"pay.write\",\"claims\":{\"limits\":{\"daily\":1000},\"writer\":true}}]}";

static ts_svc_map_set *compile(const char *text, int64_t version)
{
    ts_error err;
    ts_error_clear(&err);
    json_t *doc = ts_svc_map_parse(text, strlen(text), TS_SVC_MAP_DOC_MAX, "doc", &err);
    if (!doc)
        fail_msg("parse: %s", err.msg);
    if (ts_svc_map_doc_check(doc, &err) != TS_OK)
        fail_msg("check: %s (%s)", err.msg, err.where);
    ts_svc_map_set *m = ts_svc_map_set_new(doc, version, &err);
    json_decref(doc);
    assert_non_null(m);
    return m;
}

static void test_rules(void **state)
{
    (void)state;
    ts_svc_map_set *m = compile(DOC, 7);
    assert_int_equal(m->version, 7);
    assert_int_equal(m->n_rules, 3);
    /* Priority 1 first; among priority 5, "b-later" before "zz-any" (byte order). */
    assert_string_equal(m->rules[0].name, "api");
    assert_string_equal(m->rules[1].name, "b-later");
    assert_string_equal(m->rules[2].name, "zz-any");
    const ts_svc_map_rule *r = ts_svc_map_rule_find(m, "https://k8s.a", "payments", "api-1");
    assert_non_null(r);
    assert_string_equal(r->name, "api");
    /* Another issuer: "api" names https://k8s.a, so the next match decides. */
    r = ts_svc_map_rule_find(m, "https://k8s.b", "payments", "api-1");
    assert_string_equal(r->name, "b-later");
    r = ts_svc_map_rule_find(m, "https://k8s.b", "payments", "web");
    assert_string_equal(r->name, "zz-any");
    /* Globs are whole-string: api-12 is not api-?. */
    r = ts_svc_map_rule_find(m, "https://k8s.a", "payments", "api-12");
    assert_string_equal(r->name, "zz-any");
    /* No match: nothing, never a default. */
    assert_null(ts_svc_map_rule_find(m, "https://k8s.a", "default", "api-1"));
    assert_null(ts_svc_map_rule_find(m, "https://k8s.a", "payments2", "x"));

    /* The callback the oidc library calls. */
    ts_svc_map_use use = {m, NULL};
    ts_oidc_rule_grant g;
    memset(&g, 0, sizeof g);
    assert_true(ts_svc_map_rule_cb("https://k8s.a", "payments", "api-2", &g, &use));
    assert_string_equal(use.rule->name, "api");
    assert_int_equal(g.n_scopes, 2);
    assert_string_equal(g.scopes[0], "pay.read");
    assert_string_equal(g.scopes[1], "pay.write");
    assert_int_equal(g.n_roles, 1);
    assert_string_equal(g.roles[0], "role:payments");
    assert_false(ts_svc_map_rule_cb("https://k8s.a", "other", "api-2", &g, &use));
    assert_null(use.rule);

    /* The set outlives the document's other holders, and a second reference the first. */
    ts_svc_map_set *again = ts_svc_map_set_ref(m);
    ts_svc_map_set_free(m);
    assert_string_equal(again->rules[0].scopes[1], "pay.write");
    ts_svc_map_set_free(again);
    ts_svc_map_set_free(NULL);

    ts_svc_map_set *empty = ts_svc_map_set_empty(0);
    assert_non_null(empty);
    assert_int_equal(empty->n_rules, 0);
    assert_null(ts_svc_map_rule_find(empty, "https://k8s.a", "payments", "api-1"));
    ts_svc_map_set_free(empty);
}

static void test_target(void **state)
{
    (void)state;
    ts_svc_map_set *m = compile(DOC, 1);
    const json_t *t = NULL;
    assert_int_equal(ts_svc_map_target(m, "https://edc.example/api", NULL, &t),
                     TS_SVC_MAP_TARGET_MAPPED);
    assert_string_equal(json_string_value(json_object_get(t, "issued_audience")), "edc");
    assert_int_equal(ts_svc_map_target(m, "", "inventory", &t), TS_SVC_MAP_TARGET_MAPPED);
    assert_string_equal(json_string_value(json_object_get(t, "name")), "inv");
    /* A resource mapping matches on its own member only. */
    assert_int_equal(ts_svc_map_target(m, NULL, "https://edc.example/api", &t),
                     TS_SVC_MAP_TARGET_NONE);
    assert_null(t);
    assert_int_equal(ts_svc_map_target(m, "inventory", NULL, &t), TS_SVC_MAP_TARGET_NONE);
    /* Exact match only. */
    assert_int_equal(ts_svc_map_target(m, "https://edc.example/api/", NULL, &t),
                     TS_SVC_MAP_TARGET_NONE);
    assert_int_equal(ts_svc_map_target(m, NULL, NULL, &t), TS_SVC_MAP_TARGET_NONE);
    /* A mapped target with another one: refused, whichever is mapped. */
    assert_int_equal(ts_svc_map_target(m, "https://edc.example/api", "smd", &t),
                     TS_SVC_MAP_TARGET_CONFLICT);
    assert_int_equal(ts_svc_map_target(m, "https://other.example/", "inventory", &t),
                     TS_SVC_MAP_TARGET_CONFLICT);
    assert_int_equal(ts_svc_map_target(NULL, "https://edc.example/api", NULL, &t),
                     TS_SVC_MAP_TARGET_NONE);
    ts_svc_map_set_free(m);
}

static void test_claims(void **state)
{
    (void)state;
    ts_svc_map_set *m = compile(DOC, 3);
    const json_t *t = NULL;
    assert_int_equal(ts_svc_map_target(m, "https://edc.example/api", NULL, &t),
                     TS_SVC_MAP_TARGET_MAPPED);
    /* What the exchange carries already: never replaced. */
    json_t *claims = json_pack("{s:s, s:[s]}", "idp", "https://k8s.a", "roles", "role:payments");
    json_t *applied = json_object();
    char s1[] = "pay.write", s2[] = "unmapped", s3[] = "pay.read";
    char *scopes[] = {s1, s2, s3};
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_svc_map_claims(m, t, scopes, 3, claims, applied, &err), TS_OK);
    char *got = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
    /* Resource mapping first ("tier" from it), then the scopes in their order ("limits" from
     * pay.write, not pay.read); "roles" and "idp" stay what the exchange set. */
    assert_string_equal(got, "{\"idp\":\"https://k8s.a\",\"limits\":{\"daily\":1000},"
                             "\"participant_context_id\":\"pc-1\",\"roles\":[\"role:payments\"],"
                             "\"tier\":\"from-resource\",\"writer\":true}");
    free(got);
    got = json_dumps(applied, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(got, "{\"claims\":[\"participant_context_id\",\"tier\",\"limits\","
                             "\"writer\"],\"claims_skipped\":[\"roles\",\"idp\",\"tier\","
                             "\"limits\"],\"resource_mapping\":\"edc\",\"scope_mappings\":["
                             "\"pay.write\",\"pay.read\"]}");
    free(got);
    json_decref(claims);
    json_decref(applied);

    /* No target, no scope mapping: nothing added, nothing recorded. */
    claims = json_object();
    applied = json_object();
    char other[] = "other";
    char *none[] = {other};
    assert_int_equal(ts_svc_map_claims(m, NULL, none, 1, claims, applied, &err), TS_OK);
    assert_int_equal(json_object_size(claims), 0);
    assert_int_equal(json_object_size(applied), 0);
    json_decref(claims);
    json_decref(applied);
    ts_svc_map_set_free(m);

    /* The names the service sets itself. */
    static const char *const reserved[] = {
        "iss",   "sub",  "aud",   "exp",           "scope",          "cnf",         "act", "idp",
        "roles", "name", "email", "kubernetes.io", "principal_type", "auth_methods"};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (!ts_svc_map_claim_reserved(reserved[i]))
            fail_msg("%s is not reserved", reserved[i]);
    assert_false(ts_svc_map_claim_reserved("participant_context_id"));
    assert_false(ts_svc_map_claim_reserved("tier"));
}

/* Lists in the record are bounded (the audit detail is 4 KiB): the rest is counted. */
static void test_record_bound(void **state)
{
    (void)state;
    char doc[8192];
    size_t o = (size_t)snprintf(doc, sizeof doc, "{\"scope_mappings\":[");
    char *scopes[40];
    for (int i = 0; i < 40; i++) {
        char s[16];
        snprintf(s, sizeof s, "s%02d", i);
        scopes[i] = strdup(s);
        o += (size_t)snprintf(doc + o, sizeof doc - o,
                              "%s{\"scope\":\"%s\",\"claims\":{\"c%02d\":1}}", i ? "," : "", s, i);
    }
    snprintf(doc + o, sizeof doc - o, "]}");
    ts_svc_map_set *m = compile(doc, 2);
    json_t *claims = json_object();
    json_t *applied = json_object();
    ts_error err;
    assert_int_equal(ts_svc_map_claims(m, NULL, scopes, 40, claims, applied, &err), TS_OK);
    assert_int_equal(json_object_size(claims), 40);
    assert_int_equal(json_array_size(json_object_get(applied, "scope_mappings")), 8);
    assert_int_equal(json_integer_value(json_object_get(applied, "scope_mappings_more")), 32);
    assert_int_equal(json_integer_value(json_object_get(applied, "claims_more")), 32);
    /* Even with the longest names the record fits an audit detail with room to spare. */
    char *rec = json_dumps(applied, JSON_COMPACT);
    assert_true(strlen(rec) < 1024);
    free(rec);
    json_decref(claims);
    json_decref(applied);
    for (int i = 0; i < 40; i++)
        free(scopes[i]);
    ts_svc_map_set_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_target),
        cmocka_unit_test(test_claims),
        cmocka_unit_test(test_record_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
