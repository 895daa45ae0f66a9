/* Provider configuration parsing and validation, claim mapping and narrowing, reason codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <tokensmith/oidc.h>

static const char good[] =
    "{\"providers\":[{\"issuer\":\"https://"
    "idp.example.com\",\"client_id\":\"ts\",\"name\":\"corp\","
    "\"client_secret\":\"s3cret\",\"algorithms\":[\"RS256\",\"ES256\"],"
    "\"group_claims\":[\"groups\",\"roles\"],"
    "\"group_scopes\":{\"admins\":[\"admin\",\"read\"],\"viewers\":[\"read\"],\"ops\":[\"write\"]},"
    "\"audiences\":[\"smd\",\"bss\"],\"resources\":[\"https://smd.example/\"]},"
    "{\"issuer\":\"http://127.0.0.1:9000\",\"client_id\":\"other\",\"name\":\"lab\","
    "\"group_scopes\":{\"admins\":[\"read\"]}}]}";

static ts_oidc_config *parse(const char *s, ts_error *e)
{
    ts_error_clear(e);
    return ts_oidc_config_parse(s, strlen(s), e);
}

static void test_good_config(void **state)
{
    (void)state;
    ts_error e;
    ts_oidc_config *c = parse(good, &e);
    assert_non_null(c);
    assert_int_equal(ts_oidc_config_count(c), 2);
    assert_string_equal(ts_oidc_config_issuer(c, 0), "https://idp.example.com");
    assert_string_equal(ts_oidc_config_client_id(c, 1), "other");
    assert_null(ts_oidc_config_issuer(c, 2));
    char *j = ts_oidc_config_to_json(c, false, &e);
    assert_non_null(j);
    assert_non_null(strstr(j, "\"client_secret\":\"********\""));
    assert_null(strstr(j, "s3cret"));
    assert_non_null(strstr(j, "\"algorithms\":[\"RS256\",\"ES256\"]"));
    assert_non_null(strstr(j, "\"timeout_ms\":5000"));
    assert_non_null(strstr(j, "\"name\":\"corp\",\"subject_template\":\"{name}:{sub}\""));
    /* The canonical form parses back to the same canonical form. */
    char *full = ts_oidc_config_to_json(c, true, &e);
    ts_oidc_config *c2 = parse(full, &e);
    assert_non_null(c2);
    char *j2 = ts_oidc_config_to_json(c2, true, &e);
    assert_string_equal(full, j2);
    ts_free(j);
    ts_free(full);
    ts_free(j2);
    ts_oidc_config_free(c2);
    ts_oidc_config_free(c);
}

typedef struct bad_case {
    const char *json;
    const char *where;
    const char *msg_part;
} bad_case;

static void test_bad_configs(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        {"{", "config:1:1", ""},
        {"[]", "config", "object"},
        {"{}", "providers", "required"},
        {"{\"provider\":[]}", "provider", "unknown field"},
        {"{\"providers\":{}}", "providers", "array"},
        {"{\"providers\":[{\"client_id\":\"x\"}]}", "providers[0].issuer", "required"},
        {"{\"providers\":[{\"issuer\":\"https://a\"}]}", "providers[0].client_id", "required"},
        {"{\"providers\":[{\"issuer\":\"http://idp.example.com\",\"client_id\":\"x\"}]}",
         "providers[0].issuer", "https"},
        {"{\"providers\":[{\"issuer\":\"https://a?x=1\",\"client_id\":\"x\"}]}",
         "providers[0].issuer", "query"},
        {"{\"providers\":[{\"issuer\":\"https://"
         "a\",\"client_id\":\"x\",\"algorithms\":[\"none\"]}]}",
         "providers[0].algorithms[0]", "JWS algorithm"},
        {"{\"providers\":[{\"issuer\":\"https://"
         "a\",\"client_id\":\"x\",\"algorithms\":[\"HS256\"]}]}",
         "providers[0].algorithms[0]", "JWS algorithm"},
        {"{\"providers\":[{\"issuer\":\"https://a\",\"client_id\":\"x\",\"algorithms\":[]}]}",
         "providers[0].algorithms", "at least one"},
        {"{\"providers\":[{\"issuer\":\"https://a\",\"client_id\":\"x\","
         "\"group_scopes\":{\"g\":[\"a b\"]}}]}",
         "providers[0].group_scopes.g[0]", "printable"},
        {"{\"providers\":[{\"issuer\":\"https://a\",\"client_id\":\"x\","
         "\"group_scopes\":{\"g\":[\"a\",\"a\"]}}]}",
         "providers[0].group_scopes.g[1]", "duplicate"},
        {"{\"providers\":[{\"issuer\":\"https://a\",\"client_id\":\"x\",\"timeout_ms\":0}]}",
         "providers[0].timeout_ms", "between 100 and 60000"},
        {"{\"providers\":[{\"issuer\":\"https://a\",\"client_id\":\"x\",\"timeout_ms\":\"5\"}]}",
         "providers[0].timeout_ms", "integer"},
        {"{\"providers\":[{\"issuer\":\"https://a\",\"client_id\":\"x\",\"leeway_s\":601}]}",
         "providers[0].leeway_s", "between 0 and 600"},
        {"{\"providers\":[{\"issuer\":\"https://a\",\"client_id\":\"x\",\"introspection\":true}]}",
         "providers[0].client_secret", "introspection"},
        {"{\"providers\":[{\"issuer\":\"https://a\",\"client_id\":\"x\",\"resources\":[\"a#b\"]}]}",
         "providers[0].resources[0]", "absolute URI"},
        {"{\"providers\":[{\"issuer\":\"https://a\",\"client_id\":\"x\",\"jwks_ttl_s\":600,"
         "\"jwks_max_stale_s\":60}]}",
         "providers[0].jwks_max_stale_s", "jwks_ttl_s"},
        {"{\"providers\":[{\"issuer\":\"https://a\",\"client_id\":\"x\",\"colour\":1}]}",
         "providers[0].colour", "unknown field"},
        {"{\"providers\":[{\"issuer\":\"https://a\",\"client_id\":\"x\"},"
         "{\"issuer\":\"https://a\",\"client_id\":\"y\"}]}",
         "providers[1].issuer", "duplicates providers[0]"},
        {"{\"providers\":[{\"issuer\":\"https://a\",\"client_id\":\"x\",\"client_id\":\"y\"}]}",
         "config:1:", "duplicate"},
        {"{\"providers\":[{\"issuer\":\"https://a\",\"client_id\":\"\"}]}",
         "providers[0].client_id", "1 to 2048"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ts_error e;
        ts_oidc_config *c = parse(cases[i].json, &e);
        if (c || strncmp(e.where, cases[i].where, strlen(cases[i].where)) != 0 ||
            !strstr(e.msg, cases[i].msg_part))
            fail_msg("case %zu (%s): where=\"%s\" msg=\"%s\"", i, cases[i].json, e.where, e.msg);
        assert_int_not_equal(e.code, TS_OK);
    }
    /* Too many providers. */
    char big[8192];
    size_t n = (size_t)snprintf(big, sizeof big, "{\"providers\":[");
    for (unsigned i = 0; i < 33; i++)
        n +=
            (size_t)snprintf(big + n, sizeof big - n,
                             "%s{\"issuer\":\"https://i%u\",\"client_id\":\"c\"}", i ? "," : "", i);
    snprintf(big + n, sizeof big - n, "]}");
    ts_error e;
    assert_null(parse(big, &e));
    assert_int_equal(e.code, TS_ELIMIT);
    assert_null(ts_oidc_config_parse(NULL, 0, NULL));
}

static ts_oidc_reason map(const ts_oidc_config *c, const char *claims, const ts_oidc_narrow *nr,
                          ts_oidc_claims **out, ts_error *e)
{
    ts_error_clear(e);
    return ts_oidc_map_claims(c, claims, strlen(claims), nr, out, e);
}

static const char alice[] =
    "{\"iss\":\"https://idp.example.com\",\"sub\":\"alice\",\"name\":\"Alice\","
    "\"email\":\"alice@example.com\",\"email_verified\":true,\"groups\":[\"viewers\",\"admins\"],"
    "\"roles\":\"ops\",\"amr\":[\"pwd\",\"otp\"],\"acr\":\"urn:mfa\",\"auth_time\":1700000000,"
    "\"exp\":1700000300,\"aud\":\"ts\"}";

static void test_mapping_full_grant(void **state)
{
    (void)state;
    ts_error e;
    ts_oidc_config *c = parse(good, &e);
    ts_oidc_claims *o = NULL;
    assert_int_equal(map(c, alice, NULL, &o, &e), TS_OIDC_OK);
    assert_string_equal(o->sub, "corp:alice");
    assert_string_equal(o->upstream_sub, "alice");
    assert_string_equal(o->issuer, "https://idp.example.com");
    assert_string_equal(o->client_id, "ts");
    assert_string_equal(o->name, "Alice");
    assert_string_equal(o->email, "alice@example.com");
    assert_int_equal(o->email_verified, 1);
    assert_int_equal(o->n_groups, 3);
    assert_string_equal(o->groups[2], "ops");
    /* Union in group order, deduplicated: viewers→read, admins→admin (read again), ops→write. */
    assert_int_equal(o->n_scopes, 3);
    assert_string_equal(o->scopes[0], "read");
    assert_string_equal(o->scopes[1], "admin");
    assert_string_equal(o->scopes[2], "write");
    assert_int_equal(o->n_audiences, 2);
    assert_int_equal(o->n_resources, 1);
    assert_int_equal(o->n_amr, 2);
    assert_string_equal(o->amr[1], "otp");
    assert_string_equal(o->acr, "urn:mfa");
    assert_int_equal(o->auth_time, 1700000000);
    assert_int_equal(o->exp, 1700000300);
    char *j = ts_oidc_claims_to_json(o, &e);
    assert_non_null(strstr(j, "\"sub\":\"corp:alice\",\"upstream_sub\":\"alice\""));
    assert_non_null(strstr(j, "\"scope\":\"read admin write\""));
    assert_non_null(strstr(j, "\"aud\":[\"smd\",\"bss\"]"));
    ts_free(j);
    ts_oidc_claims_free(o);
    ts_oidc_config_free(c);
}

static void test_narrowing(void **state)
{
    (void)state;
    ts_error e;
    ts_oidc_config *c = parse(good, &e);
    ts_oidc_claims *o = NULL;
    const char *aud_ok[] = {"bss"}, *aud_bad[] = {"smd", "vault"};
    const char *res_bad[] = {"https://other.example/"};
    ts_oidc_narrow nr = {.scope = "  write read ", .audiences = aud_ok, .n_audiences = 1};
    assert_int_equal(map(c, alice, &nr, &o, &e), TS_OIDC_OK);
    assert_int_equal(o->n_scopes, 2);
    assert_string_equal(o->scopes[0], "write");
    assert_string_equal(o->scopes[1], "read");
    assert_int_equal(o->n_audiences, 1);
    assert_string_equal(o->audiences[0], "bss");
    ts_oidc_claims_free(o);

    ts_oidc_narrow widen = {.scope = "read superuser"};
    assert_int_equal(map(c, alice, &widen, &o, &e), TS_OIDC_SCOPE_NOT_GRANTED);
    assert_null(o);
    assert_non_null(strstr(e.msg, "superuser"));
    assert_string_equal(ts_oidc_reason_oauth_error(TS_OIDC_SCOPE_NOT_GRANTED, NULL),
                        "invalid_scope");

    ts_oidc_narrow aud = {.audiences = aud_bad, .n_audiences = 2};
    assert_int_equal(map(c, alice, &aud, &o, &e), TS_OIDC_TARGET_NOT_ALLOWED);
    assert_non_null(strstr(e.msg, "vault"));
    ts_oidc_narrow res = {.resources = res_bad, .n_resources = 1};
    assert_int_equal(map(c, alice, &res, &o, &e), TS_OIDC_TARGET_NOT_ALLOWED);

    /* A subject in no mapped group gets no scopes, and cannot ask for any. */
    const char *nobody = "{\"iss\":\"https://idp.example.com\",\"sub\":\"bob\",\"groups\":[\"x\"]}";
    assert_int_equal(map(c, nobody, NULL, &o, &e), TS_OIDC_OK);
    assert_int_equal(o->n_scopes, 0);
    assert_null(o->name);
    assert_int_equal(o->email_verified, -1);
    ts_oidc_claims_free(o);
    ts_oidc_narrow ask = {.scope = "read"};
    assert_int_equal(map(c, nobody, &ask, &o, &e), TS_OIDC_SCOPE_NOT_GRANTED);

    /* The second provider maps the same group differently; no audiences may be requested. */
    const char *other =
        "{\"iss\":\"http://127.0.0.1:9000\",\"sub\":\"carol\",\"groups\":[\"admins\"]}";
    assert_int_equal(map(c, other, NULL, &o, &e), TS_OIDC_OK);
    assert_int_equal(o->n_scopes, 1);
    assert_string_equal(o->scopes[0], "read");
    assert_int_equal(o->n_audiences, 0);
    ts_oidc_claims_free(o);
    ts_oidc_narrow one = {.audiences = aud_ok, .n_audiences = 1};
    assert_int_equal(map(c, other, &one, &o, &e), TS_OIDC_TARGET_NOT_ALLOWED);
    ts_oidc_config_free(c);
}

static void test_mapping_refusals(void **state)
{
    (void)state;
    ts_error e;
    ts_oidc_config *c = parse(good, &e);
    ts_oidc_claims *o = NULL;
    assert_int_equal(map(c, "{\"iss\":\"https://evil\",\"sub\":\"a\"}", NULL, &o, &e),
                     TS_OIDC_WRONG_ISSUER);
    assert_int_equal(map(c, "{\"iss\":\"https://idp.example.com/\",\"sub\":\"a\"}", NULL, &o, &e),
                     TS_OIDC_WRONG_ISSUER);
    assert_int_equal(map(c, "{\"iss\":\"https://idp.example.com\"}", NULL, &o, &e),
                     TS_OIDC_MISSING_CLAIM);
    assert_int_equal(
        map(c, "{\"iss\":\"https://idp.example.com\",\"sub\":\"a\",\"groups\":[1]}", NULL, &o, &e),
        TS_OIDC_INVALID_CLAIM);
    assert_string_equal(e.where, "groups");
    assert_int_equal(
        map(c, "{\"iss\":\"https://idp.example.com\",\"sub\":\"a\",\"email\":3}", NULL, &o, &e),
        TS_OIDC_INVALID_CLAIM);
    assert_int_equal(map(c, "[1]", NULL, &o, &e), TS_OIDC_MALFORMED);
    assert_null(o);
    ts_oidc_config_free(c);
}

static void test_reason_codes(void **state)
{
    (void)state;
    int st = 0;
    assert_string_equal(ts_oidc_reason_str(TS_OIDC_OK), "ok");
    assert_string_equal(ts_oidc_reason_str(TS_OIDC_BAD_SIGNATURE), "bad_signature");
    assert_string_equal(ts_oidc_reason_str(TS_OIDC_WRONG_AZP), "wrong_azp");
    assert_string_equal(ts_oidc_reason_str(TS_OIDC_SCOPE_NOT_GRANTED), "scope_not_granted");
    assert_string_equal(ts_oidc_reason_str((ts_oidc_reason)999), "internal_error");
    assert_null(ts_oidc_reason_oauth_error(TS_OIDC_OK, &st));
    assert_string_equal(ts_oidc_reason_oauth_error(TS_OIDC_EXPIRED, &st), "invalid_request");
    assert_int_equal(st, 400);
    assert_string_equal(ts_oidc_reason_oauth_error(TS_OIDC_BAD_SIGNATURE, &st), "invalid_request");
    assert_string_equal(ts_oidc_reason_oauth_error(TS_OIDC_TARGET_NOT_ALLOWED, &st),
                        "invalid_target");
    assert_int_equal(st, 400);
    assert_string_equal(ts_oidc_reason_oauth_error(TS_OIDC_DISCOVERY_FAILED, &st), "server_error");
    assert_int_equal(st, 503);
}

static void test_exchange_without_network(void **state)
{
    (void)state;
    ts_error e;
    ts_oidc_config *c = parse(good, &e);
    ts_oidc *rp = ts_oidc_new(c, NULL, &e);
    assert_non_null(rp);
    ts_oidc_claims *o = NULL;
    ts_oidc_exchange_request rq = {.subject_token = "x.y.z",
                                   .subject_token_len = 5,
                                   .subject_token_type = "urn:ietf:params:oauth:token-type:saml2"};
    ts_error_clear(&e);
    assert_int_equal(ts_oidc_exchange(rp, &rq, &o, &e), TS_OIDC_UNSUPPORTED_TOKEN_TYPE);
    rq.subject_token_type = TS_OIDC_TOKEN_TYPE_ID_TOKEN;
    ts_error_clear(&e);
    assert_int_equal(ts_oidc_exchange(rp, &rq, &o, &e), TS_OIDC_MALFORMED);
    /* An issuer nobody configured is refused before any network access. */
    const char *tok = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2V2aWwifQ.c2ln";
    ts_error_clear(&e);
    assert_int_equal(ts_oidc_verify_id_token(rp, tok, strlen(tok), NULL, NULL, &e),
                     TS_OIDC_WRONG_ISSUER);
    assert_non_null(strstr(e.msg, "https://evil"));
    assert_int_equal(ts_oidc_discovery_count(rp, "https://idp.example.com"), 0);
    /* Introspection is not enabled anywhere. */
    rq.subject_token_type = TS_OIDC_TOKEN_TYPE_ACCESS_TOKEN;
    ts_error_clear(&e);
    assert_int_equal(ts_oidc_exchange(rp, &rq, &o, &e), TS_OIDC_WRONG_ISSUER);
    assert_null(o);
    ts_oidc_free(rp);
    ts_oidc_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_config),
        cmocka_unit_test(test_bad_configs),
        cmocka_unit_test(test_mapping_full_grant),
        cmocka_unit_test(test_narrowing),
        cmocka_unit_test(test_mapping_refusals),
        cmocka_unit_test(test_reason_codes),
        cmocka_unit_test(test_exchange_without_network),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
