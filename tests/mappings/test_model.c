/* The token mappings model (tokenservice/service/src/mappings*.c): each kind's checks with the
 * field named in the error, reserved claims refused, hostile JSON (deep nesting, a huge array,
 * duplicate keys), canonical documents (sorted, defaults filled in), evaluation order and
 * ETags. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mappings.h"

static json_t *parse(const char *text)
{
    ts_error err;
    ts_error_clear(&err);
    json_t *v = ts_svc_map_parse(text, strlen(text), TS_SVC_MAP_DOC_MAX, "body", &err);
    if (!v)
        fail_msg("parse: %s", err.msg);
    return v;
}

/* The item check's error field for @p text, "" when it passes. */
static void expect_item(ts_svc_map_kind k, const char *text, const char *field)
{
    json_t *v = parse(text);
    ts_error err;
    ts_error_clear(&err);
    ts_status st = ts_svc_map_item_check(k, v, "", &err);
    json_decref(v);
    if (!field[0]) {
        if (st != TS_OK)
            fail_msg("%s refused: %s (%s)", text, err.msg, err.where);
        return;
    }
    if (st == TS_OK)
        fail_msg("%s accepted, expected a refusal naming %s", text, field);
    assert_int_equal(st, TS_EINVAL);
    assert_string_equal(err.where, field);
    assert_non_null(strstr(err.msg, field)); /* the message names it too */
}

static void test_identity_rules(void **state)
{
    (void)state;
    ts_svc_map_kind I = TS_SVC_MAP_IDENTITY;
    expect_item(I, "{\"name\":\"a\",\"namespace\":\"ns\",\"service_account\":\"sa-*\"}", "");
    expect_item(I,
                "{\"name\":\"a\",\"issuer\":\"https://k8s.example\",\"namespace\":\"team-?\","
                "\"service_account\":\"*\",\"scopes\":[\"read\",\"write\"],\"roles\":["
                "\"role:reader\"],\"priority\":10}",
                "");
    expect_item(I, "{\"namespace\":\"ns\",\"service_account\":\"sa\"}", "name");
    expect_item(I, "{\"name\":\"a b\",\"namespace\":\"ns\",\"service_account\":\"sa\"}", "name");
    expect_item(I, "{\"name\":\"a\",\"service_account\":\"sa\"}", "namespace");
    expect_item(I, "{\"name\":\"a\",\"namespace\":\"NS\",\"service_account\":\"sa\"}", "namespace");
    expect_item(I, "{\"name\":\"a\",\"namespace\":\"ns\",\"service_account\":7}",
                "service_account");
    expect_item(I,
                "{\"name\":\"a\",\"namespace\":\"ns\",\"service_account\":\"sa\",\"scopes\":["
                "\"a\",\"a\"]}",
                "scopes[1]");
    expect_item(I,
                "{\"name\":\"a\",\"namespace\":\"ns\",\"service_account\":\"sa\",\"roles\":["
                "\"x,y\"]}",
                "roles[0]");
    expect_item(I,
                "{\"name\":\"a\",\"namespace\":\"ns\",\"service_account\":\"sa\",\"priority\":-1}",
                "priority");
    expect_item(I, "{\"name\":\"a\",\"namespace\":\"ns\",\"service_account\":\"sa\",\"prio\":1}",
                "prio");
}

static void test_resource_and_scope_mappings(void **state)
{
    (void)state;
    ts_svc_map_kind R = TS_SVC_MAP_RESOURCE, S = TS_SVC_MAP_SCOPE;
    expect_item(R,
                "{\"name\":\"edc\",\"resource\":\"https://edc.example/api\",\"issued_audience\":"
                "\"edc\",\"claims\":{\"participant_context_id\":\"pc-1\"}}",
                "");
    expect_item(R, "{\"name\":\"b\",\"audience\":\"billing\",\"issued_audience\":\"billing\"}", "");
    expect_item(R, "{\"name\":\"b\",\"issued_audience\":\"x\"}", "resource");
    expect_item(R,
                "{\"name\":\"b\",\"resource\":\"https://a\",\"audience\":\"a\","
                "\"issued_audience\":\"x\"}",
                "resource");
    expect_item(R, "{\"name\":\"b\",\"resource\":\"no-scheme\",\"issued_audience\":\"x\"}",
                "resource");
    expect_item(R, "{\"name\":\"b\",\"resource\":\"https://a#frag\",\"issued_audience\":\"x\"}",
                "resource");
    expect_item(R, "{\"name\":\"b\",\"audience\":\"a\"}", "issued_audience");
    /* Every reserved claim is refused, named. */
    static const char *const reserved[] = {"iss", "sub", "aud",     "exp",   "nbf", "iat",
                                           "jti", "act", "may_act", "scope", "cnf"};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
        char text[256], field[64];
        snprintf(text, sizeof text, "{\"scope\":\"read\",\"claims\":{\"%s\":\"x\"}}", reserved[i]);
        snprintf(field, sizeof field, "claims.%s", reserved[i]);
        expect_item(S, text, field);
    }
    expect_item(S, "{\"scope\":\"read\",\"claims\":{\"tier\":\"gold\",\"n\":[1,2]}}", "");
    expect_item(S, "{\"scope\":\"a b\"}", "scope");
    expect_item(S, "{\"scope\":\"read\",\"claims\":[]}", "claims");
    /* A claim's value is bounded. */
    char *big = malloc(3000);
    assert_non_null(big);
    int n = snprintf(big, 3000, "{\"scope\":\"read\",\"claims\":{\"blob\":\"");
    memset(big + n, 'x', 2000);
    strcpy(big + n + 2000, "\"}}");
    expect_item(S, big, "claims.blob");
    free(big);
}

static void test_hostile_json(void **state)
{
    (void)state;
    ts_error err;
    ts_error_clear(&err);
    /* Deep nesting is refused before jansson recurses into it. */
    char deep[20001];
    memset(deep, '[', 10000);
    memset(deep + 10000, ']', 10000);
    deep[20000] = '\0';
    char wrapped[20100];
    snprintf(wrapped, sizeof wrapped, "{\"a\":%s}", deep);
    assert_null(ts_svc_map_parse(wrapped, strlen(wrapped), TS_SVC_MAP_DOC_MAX, "body", &err));
    assert_int_equal(err.code, TS_EINVAL);
    assert_string_equal(err.where, "body");
    assert_non_null(strstr(err.msg, "deeper"));
    /* Brackets inside strings do not count. */
    json_t *ok = parse("{\"a\":\"[[[[[[[[[[[[[[[[[[[[[[\"}");
    json_decref(ok);
    /* Duplicate keys: refused, the key named. */
    ts_error_clear(&err);
    static const char dup[] = "{\"name\":\"a\",\"name\":\"b\"}";
    assert_null(ts_svc_map_parse(dup, strlen(dup), TS_SVC_MAP_ITEM_MAX, "body", &err));
    assert_int_equal(err.code, TS_EINVAL);
    assert_non_null(strstr(err.msg, "duplicate"));
    assert_non_null(strstr(err.msg, "name"));
    /* Over the size bound: TS_ELIMIT, before parsing. */
    assert_null(ts_svc_map_parse(dup, strlen(dup), 4, "body", &err));
    assert_int_equal(err.code, TS_ELIMIT);
    /* Not an object. */
    assert_null(ts_svc_map_parse("[1]", 3, 100, "body", &err));
    assert_int_equal(err.code, TS_EINVAL);
    /* A 100 000-element array in a document: parsed (within the size bound), refused by the
     * model, the field named. */
    size_t cap = 100000 * 4 + 256;
    char *huge = malloc(cap);
    assert_non_null(huge);
    size_t len = (size_t)snprintf(huge, cap,
                                  "{\"identity_rules\":[{\"name\":\"a\",\"namespace\":\"n\","
                                  "\"service_account\":\"s\",\"roles\":[");
    for (int i = 0; i < 100000; i++)
        len += (size_t)snprintf(huge + len, cap - len, "%s\"r\"", i ? "," : "");
    len += (size_t)snprintf(huge + len, cap - len, "]}]}");
    json_t *doc = ts_svc_map_parse(huge, len, TS_SVC_MAP_DOC_MAX, "document", &err);
    assert_non_null(doc);
    assert_int_equal(ts_svc_map_doc_check(doc, &err), TS_EINVAL);
    assert_string_equal(err.where, "identity_rules[0].roles");
    json_decref(doc);
    free(huge);
}

static void test_document_canonical(void **state)
{
    (void)state;
    ts_error err;
    ts_error_clear(&err);
    json_t *doc = parse("{\"scope_mappings\":[{\"scope\":\"write\"},{\"scope\":\"read\"}],"
                        "\"identity_rules\":[{\"name\":\"z\",\"namespace\":\"a\","
                        "\"service_account\":\"*\",\"priority\":1},{\"name\":\"b\","
                        "\"namespace\":\"a\",\"service_account\":\"x\",\"priority\":5},"
                        "{\"name\":\"c\",\"namespace\":\"a\",\"service_account\":\"y\","
                        "\"priority\":1}]}");
    assert_int_equal(ts_svc_map_doc_check(doc, &err), TS_OK);
    char *text = ts_svc_map_dump(doc);
    assert_string_equal(
        text, "{\"identity_rules\":[{\"name\":\"b\",\"namespace\":\"a\",\"priority\":5,"
              "\"roles\":[],\"scopes\":[],\"service_account\":\"x\"},{\"name\":\"c\","
              "\"namespace\":\"a\",\"priority\":1,\"roles\":[],\"scopes\":[],"
              "\"service_account\":\"y\"},{\"name\":\"z\",\"namespace\":\"a\",\"priority\":1,"
              "\"roles\":[],\"scopes\":[],\"service_account\":\"*\"}],\"resource_mappings\":[],"
              "\"scope_mappings\":[{\"claims\":{},\"scope\":\"read\"},{\"claims\":{},\"scope\":"
              "\"write\"}]}");
    free(text);
    /* Evaluation order: priority ascending, then name. */
    json_t *order = ts_svc_map_rules_in_order(doc);
    assert_int_equal(json_array_size(order), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(order, 0), "name")), "c");
    assert_string_equal(json_string_value(json_object_get(json_array_get(order, 1), "name")), "z");
    assert_string_equal(json_string_value(json_object_get(json_array_get(order, 2), "name")), "b");
    json_decref(order);
    assert_int_equal(ts_svc_map_doc_find(doc, TS_SVC_MAP_SCOPE, "write"), 1);
    assert_int_equal(ts_svc_map_doc_find(doc, TS_SVC_MAP_SCOPE, "nope"), -1);
    json_decref(doc);
    /* Names are unique per kind; unknown kinds refused. */
    doc = parse("{\"scope_mappings\":[{\"scope\":\"a\"},{\"scope\":\"a\"}]}");
    assert_int_equal(ts_svc_map_doc_check(doc, &err), TS_EINVAL);
    assert_string_equal(err.where, "scope_mappings.scope");
    json_decref(doc);
    doc = parse("{\"identity_rule\":[]}");
    assert_int_equal(ts_svc_map_doc_check(doc, &err), TS_EINVAL);
    json_decref(doc);
    /* An item's error inside a document names its index. */
    doc = parse("{\"identity_rules\":[{\"name\":\"a\",\"namespace\":\"n\",\"service_account\":"
                "\"s\"},{\"name\":\"b\",\"service_account\":\"s\"}]}");
    assert_int_equal(ts_svc_map_doc_check(doc, &err), TS_EINVAL);
    assert_string_equal(err.where, "identity_rules[1].namespace");
    json_decref(doc);
}

static void test_etag(void **state)
{
    (void)state;
    ts_error err;
    json_t *a = parse("{\"scope\":\"read\",\"claims\":{\"x\":1,\"y\":2}}");
    json_t *b = parse("{\"claims\":{\"y\":2,\"x\":1},\"scope\":\"read\"}");
    json_t *c = parse("{\"scope\":\"read\",\"claims\":{\"x\":1,\"y\":3}}");
    assert_int_equal(ts_svc_map_item_check(TS_SVC_MAP_SCOPE, a, "", &err), TS_OK);
    assert_int_equal(ts_svc_map_item_check(TS_SVC_MAP_SCOPE, b, "", &err), TS_OK);
    assert_int_equal(ts_svc_map_item_check(TS_SVC_MAP_SCOPE, c, "", &err), TS_OK);
    char ea[TS_SVC_MAP_ETAG_LEN + 1], eb[TS_SVC_MAP_ETAG_LEN + 1], ec[TS_SVC_MAP_ETAG_LEN + 1];
    assert_true(ts_svc_map_etag(a, ea));
    assert_true(ts_svc_map_etag(b, eb));
    assert_true(ts_svc_map_etag(c, ec));
    assert_int_equal(strlen(ea), TS_SVC_MAP_ETAG_LEN);
    assert_string_equal(ea, eb); /* member order does not matter */
    assert_string_not_equal(ea, ec);
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_rules), cmocka_unit_test(test_resource_and_scope_mappings),
        cmocka_unit_test(test_hostile_json),   cmocka_unit_test(test_document_canonical),
        cmocka_unit_test(test_etag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
