/* Refused configurations, each with its exact position and message: parse.tokens and expiration,
 * the oauth2 and tokensmith sources. */
#include "agent_cases.h"

static const bad_case cases[] = {
    {"tokensmith_missing_endpoint",
     "sources:\n"
     "  svc:\n"
     "    type: tokensmith\n"
     "    state_file: /v/s.json\n"
     "sinks:\n"
     "  o: {type: file, source_id: svc, path: /o/t}\n",
     TS_EINVAL, "3:5", "sources.svc.token_endpoint: required field missing"},
    {"tokensmith_missing_state",
     "sources:\n"
     "  svc:\n"
     "    type: tokensmith\n"
     "    token_endpoint: https://ts/oauth/token\n"
     "sinks:\n"
     "  o: {type: file, source_id: svc, path: /o/t}\n",
     TS_EINVAL, "3:5", "sources.svc.state_file: required field missing"},
    {"tokensmith_inputs",
     SRC "  svc: {type: tokensmith, inputs: [k], token_endpoint: 'https://ts/t', state_file: "
         "/v/s}\n" SNK,
     TS_EINVAL, "3:35",
     "sources.svc.inputs: a tokensmith source uses no other source (its bootstrap token is a "
     "value, a file or an environment variable)"},
    {"tokensmith_bootstrap_template",
     "sources:\n"
     "  svc: {type: tokensmith, token_endpoint: 'https://ts/t', state_file: /v/s, bootstrap_token: "
     "{template: 'x'}}\n"
     "sinks:\n"
     "  o: {type: file, source_id: svc, path: /o/t}\n",
     TS_EINVAL, "2:105",
     "sources.svc.bootstrap_token.template: not allowed here (use value, from_file, from_env)"},
    {"secret_template",
     "sources:\n"
     "  c: {type: oauth2, token_endpoint: 'https://i/t', grant_type: client_credentials, "
     "client_id: a, client_secret: {template: 'x'}}\n"
     "sinks:\n"
     "  o: {type: file, source_id: c, path: /o/t}\n",
     TS_EINVAL, "2:124",
     "sources.c.client_secret.template: not allowed here (use value, from_file, from_env)"},
    {"secret_required",
     "sources:\n"
     "  c: {type: oauth2, token_endpoint: 'https://i/t', grant_type: client_credentials, "
     "client_id: a, client_secret: {value: x, required: false}}\n"
     "sinks:\n"
     "  o: {type: file, source_id: c, path: /o/t}\n",
     TS_EINVAL, "2:124", "sources.c.client_secret.required: unknown field"},
    {"plain_no_exp",
     "sources:\n"
     "  h: {type: http, request: {url: 'https://h/t'}, parse: {tokens: [{id: t}]}}\n"
     "  k: {type: file, path: /s/t}\n" SNK,
     TS_EINVAL, "2:67",
     "sources.h.parse.tokens[0].expiration: required for a plain_text token (json_body_field, "
     "header_field or manual)"},
    {"self_plain",
     "sources:\n"
     "  h: {type: http, request: {url: 'https://h/t'}, parse: {tokens: [{id: t, expiration: "
     "{source: self}}]}}\n"
     "  k: {type: file, path: /s/t}\n" SNK,
     TS_EINVAL, "2:96", "sources.h.parse.tokens[0].expiration.source: 'self' needs token_type jwt"},
    {"manual_no_ttl",
     "sources:\n"
     "  h: {type: http, request: {url: 'https://h/t'}, parse: {tokens: [{id: t, expiration: "
     "{source: manual}}]}}\n"
     "  k: {type: file, path: /s/t}\n" SNK,
     TS_EINVAL, "2:87",
     "sources.h.parse.tokens[0].expiration.manual_ttl_seconds: required field missing"},
    {"manual_pointer",
     "sources:\n"
     "  h: {type: http, request: {url: 'https://h/t'}, parse: {tokens: [{id: t, expiration: "
     "{source: manual, manual_ttl_seconds: 5, pointer: x}}]}}\n"
     "  k: {type: file, path: /s/t}\n" SNK,
     TS_EINVAL, "2:136",
     "sources.h.parse.tokens[0].expiration.pointer: goes with source json_body_field or "
     "header_field"},
    {"field_no_pointer",
     "sources:\n"
     "  h: {type: http, request: {url: 'https://h/t'}, parse: {tokens: [{id: t, expiration: "
     "{source: json_body_field}}]}}\n"
     "  k: {type: file, path: /s/t}\n" SNK,
     TS_EINVAL, "2:87", "sources.h.parse.tokens[0].expiration.pointer: required field missing"},
    {"ttl_zero",
     "sources:\n"
     "  h: {type: http, request: {url: 'https://h/t'}, parse: {tokens: [{id: t, expiration: "
     "{source: manual, manual_ttl_seconds: 0}}]}}\n"
     "  k: {type: file, path: /s/t}\n" SNK,
     TS_EINVAL, "2:124",
     "sources.h.parse.tokens[0].expiration.manual_ttl_seconds: must be an integer in 1..31622400"},
    {"header_parent_nopointer",
     "sources:\n"
     "  h: {type: http, request: {url: 'https://h/t'}, parse: {tokens: [{id: t, parent: header, "
     "token_type: jwt}]}}\n"
     "  k: {type: file, path: /s/t}\n" SNK,
     TS_EINVAL, "2:67", "sources.h.parse.tokens[0].pointer: required field missing"},
    {"file_header_parent",
     "sources:\n"
     "  k: {type: file, path: /s/t, parse: {tokens: [{id: t, parent: header, pointer: X, "
     "token_type: jwt}]}}\n" SNK,
     TS_EINVAL, "2:64", "sources.k.parse.tokens[0].pointer: a file source has no headers"},
    {"token_dup",
     "sources:\n"
     "  h: {type: http, request: {url: 'https://h/t'}, parse: {tokens: [{id: t, token_type: jwt}, "
     "{id: t, token_type: jwt}]}}\n"
     "  k: {type: file, path: /s/t}\n" SNK,
     TS_EINVAL, "2:98", "sources.h.parse.tokens[1].id: token id 't' given twice in this source"},
    {"tokens_empty",
     "sources:\n"
     "  h: {type: http, request: {url: 'https://h/t'}, parse: {tokens: []}}\n"
     "  k: {type: file, path: /s/t}\n" SNK,
     TS_EINVAL, "2:66", "sources.h.parse.tokens: must be a list of at least one token"},
    {"pointer_bad_escape",
     "sources:\n"
     "  h: {type: http, request: {url: 'https://h/t'}, parse: {tokens: [{id: t, pointer: '/a~2', "
     "token_type: jwt}]}}\n"
     "  k: {type: file, path: /s/t}\n" SNK,
     TS_EINVAL, "2:84",
     "sources.h.parse.tokens[0].pointer: '~' must be followed by 0 or 1 in a JSON pointer"},
    {"http_no_parse",
     "sources:\n"
     "  h: {type: http, request: {url: 'https://h/t'}}\n"
     "  k: {type: file, path: /s/t}\n" SNK,
     TS_EINVAL, "2:6", "sources.h.parse: required field missing"},
    {"exchange_no_subject",
     "sources:\n"
     "  x: {type: oauth2, token_endpoint: 'https://i/t', grant_type: token_exchange, "
     "subject_token_type: jwt}\n"
     "sinks:\n"
     "  o: {type: file, source_id: x, path: /o/t}\n",
     TS_EINVAL, "2:6", "sources.x.subject_token: required field missing"},
    {"exchange_no_subject_type",
     "sources:\n"
     "  x: {type: oauth2, token_endpoint: 'https://i/t', grant_type: token_exchange, "
     "subject_token: {value: abc}}\n"
     "sinks:\n"
     "  o: {type: file, source_id: x, path: /o/t}\n",
     TS_EINVAL, "2:6", "sources.x.subject_token_type: required field missing"},
    {"cc_with_subject",
     "sources:\n"
     "  x: {type: oauth2, token_endpoint: 'https://i/t', grant_type: client_credentials, "
     "subject_token: {value: abc}}\n"
     "sinks:\n"
     "  o: {type: file, source_id: x, path: /o/t}\n",
     TS_EINVAL, "2:99", "sources.x.subject_token: goes with grant_type token_exchange"},
    {"actor_no_type",
     "sources:\n"
     "  x: {type: oauth2, token_endpoint: 'https://i/t', grant_type: token_exchange, "
     "subject_token: abc, subject_token_type: jwt, actor_token: def}\n"
     "sinks:\n"
     "  o: {type: file, source_id: x, path: /o/t}\n",
     TS_EINVAL, "2:6", "sources.x.actor_token_type: required field missing"},
    {"secret_no_client_id",
     "sources:\n"
     "  x: {type: oauth2, token_endpoint: 'https://i/t', grant_type: client_credentials, "
     "client_secret: {from_env: S}}\n"
     "sinks:\n"
     "  o: {type: file, source_id: x, path: /o/t}\n",
     TS_EINVAL, "2:6", "sources.x.client_id: required field missing"},
    {"basic_no_secret",
     "sources:\n"
     "  x: {type: oauth2, token_endpoint: 'https://i/t', grant_type: client_credentials, "
     "client_id: a, client_auth: client_secret_basic}\n"
     "sinks:\n"
     "  o: {type: file, source_id: x, path: /o/t}\n",
     TS_EINVAL, "2:6", "sources.x.client_secret: required field missing"},
    {"none_with_secret",
     "sources:\n"
     "  x: {type: oauth2, token_endpoint: 'https://i/t', grant_type: client_credentials, "
     "client_id: a, client_auth: none, client_secret: {from_env: S}}\n"
     "sinks:\n"
     "  o: {type: file, source_id: x, path: /o/t}\n",
     TS_EINVAL, "2:132",
     "sources.x.client_secret: client_auth none sends no secret: remove it, or choose "
     "client_secret_basic or client_secret_post"},
    {"extra_reserved",
     "sources:\n"
     "  x: {type: oauth2, token_endpoint: 'https://i/t', grant_type: client_credentials, "
     "extra_params: {scope: a}}\n"
     "sinks:\n"
     "  o: {type: file, source_id: x, path: /o/t}\n",
     TS_EINVAL, "2:99",
     "sources.x.extra_params.scope: set by the grant itself: use the source's field"},
    {"token_type_bad",
     "sources:\n"
     "  x: {type: oauth2, token_endpoint: 'https://i/t', grant_type: token_exchange, "
     "subject_token: abc, subject_token_type: bearer}\n"
     "sinks:\n"
     "  o: {type: file, source_id: x, path: /o/t}\n",
     TS_EINVAL, "2:120",
     "sources.x.subject_token_type: must be a URI or one of access_token, refresh_token, id_token, "
     "jwt, saml1, saml2"},
    {"grant_bad",
     "sources:\n"
     "  x: {type: oauth2, token_endpoint: 'https://i/t', grant_type: password}\n"
     "sinks:\n"
     "  o: {type: file, source_id: x, path: /o/t}\n",
     TS_EINVAL, "2:64",
     "sources.x.grant_type: 'password' is not one of client_credentials, token_exchange, "
     "refresh_token, urn:ietf:params:oauth:grant-type:token-exchange"},
    {"refresh_no_token",
     "sources:\n"
     "  x: {type: oauth2, token_endpoint: 'https://i/t', grant_type: refresh_token}\n"
     "sinks:\n"
     "  o: {type: file, source_id: x, path: /o/t}\n",
     TS_EINVAL, "2:6", "sources.x.refresh_token: required field missing"},
    {"state_without_refresh",
     "sources:\n"
     "  x: {type: oauth2, token_endpoint: 'https://i/t', grant_type: client_credentials, "
     "state_file: /v/x}\n"
     "sinks:\n"
     "  o: {type: file, source_id: x, path: /o/t}\n",
     TS_EINVAL, "2:96", "sources.x.state_file: goes with grant_type refresh_token"},
    {"scope_bad",
     "sources:\n"
     "  x: {type: oauth2, token_endpoint: 'https://i/t', grant_type: client_credentials, scope: [a "
     "b]}\n"
     "sinks:\n"
     "  o: {type: file, source_id: x, path: /o/t}\n",
     TS_EINVAL, "2:91", "sources.x.scope: not a valid scope (RFC 6749 3.3)"},
    {"resource_bad",
     "sources:\n"
     "  x: {type: oauth2, token_endpoint: 'https://i/t', grant_type: client_credentials, resource: "
     "api}\n"
     "sinks:\n"
     "  o: {type: file, source_id: x, path: /o/t}\n",
     TS_EINVAL, "2:94",
     "sources.x.resource: a resource is an absolute URI without a fragment (RFC 8707)"},
};

static void test_refused(void **state)
{
    (void)state;
    run_cases(cases, sizeof cases / sizeof cases[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_refused)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
