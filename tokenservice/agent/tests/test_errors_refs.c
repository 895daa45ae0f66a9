/* Refused configurations, each with its exact position and message: references (templates, source +
 * id, sinks' tokens), the graph of inputs, sinks and their responses, paths used twice. */
#include "agent_cases.h"

static const bad_case cases[] = {
    {"sink_dup", SRC SNK "  o: {type: file, source_id: k, path: /o/u}\n", TS_EPARSE, "5:3",
     "sinks.o: given twice (first at 4:3)"},
    {"template_unknown_source",
     SRC "  exchange:\n"
         "    type: http\n"
         "    inputs: [k]\n"
         "    request:\n"
         "      url: https://x/t\n"
         "      headers:\n"
         "        Authorization:\n"
         "          template: 'Bearer {{x.token}}'\n"
         "    parse: {tokens: [{id: t, token_type: jwt}]}\n" SNK,
     TS_ENOTFOUND, "10:21",
     "sources.exchange.request.headers.Authorization.template: unknown source 'x'"},
    {"template_not_input",
     SRC "  e:\n"
         "    type: http\n"
         "    request:\n"
         "      url: https://x/t\n"
         "      headers: {A: {template: 'Bearer {{k.token}}'}}\n"
         "    parse: {tokens: [{id: t, token_type: jwt}]}\n" SNK,
     TS_EINVAL, "7:31",
     "sources.e.request.headers.A.template: source 'k' is not in sources.e.inputs"},
    {"template_no_token",
     SRC "  e:\n"
         "    type: http\n"
         "    inputs: [k]\n"
         "    request:\n"
         "      url: https://x/t\n"
         "      headers: {A: {template: 'Bearer {{k.tok}}'}}\n"
         "    parse: {tokens: [{id: t, token_type: jwt}]}\n" SNK,
     TS_ENOTFOUND, "8:31", "sources.e.request.headers.A.template: source 'k' has no token 'tok'"},
    {"template_self",
     SRC "  e:\n"
         "    type: http\n"
         "    request:\n"
         "      url: https://x/t\n"
         "      headers: {A: {template: 'Bearer {{e.t}}'}}\n"
         "    parse: {tokens: [{id: t, token_type: jwt}]}\n" SNK,
     TS_EINVAL, "7:31", "sources.e.request.headers.A.template: a source cannot use its own token"},
    {"template_unterminated",
     SRC "  e:\n"
         "    type: http\n"
         "    inputs: [k]\n"
         "    request:\n"
         "      url: https://x/t\n"
         "      headers: {A: {template: 'Bearer {{k.token'}}\n"
         "    parse: {tokens: [{id: t, token_type: jwt}]}\n" SNK,
     TS_EPARSE, "8:31", "sources.e.request.headers.A.template: unterminated '{{' at byte 7"},
    {"template_bad_ref",
     SRC "  e:\n"
         "    type: http\n"
         "    inputs: [k]\n"
         "    request:\n"
         "      url: https://x/t\n"
         "      headers: {A: {template: 'Bearer {{k}}'}}\n"
         "    parse: {tokens: [{id: t, token_type: jwt}]}\n" SNK,
     TS_EPARSE, "8:31",
     "sources.e.request.headers.A.template: '{{...}}' at byte 7 is not {{source_id.token_id}}"},
    {"template_refresh",
     "sources:\n"
     "  svc: {type: tokensmith, token_endpoint: 'https://ts/t', state_file: /v/s}\n"
     "  e:\n"
     "    type: http\n"
     "    inputs: [svc]\n"
     "    request:\n"
     "      url: https://x/t\n"
     "      headers: {A: {template: 'Bearer {{svc.refresh_token}}'}}\n"
     "    parse: {tokens: [{id: t, token_type: jwt}]}\n"
     "sinks:\n"
     "  o: {type: file, source_id: svc, path: /o/t}\n",
     TS_ENOTFOUND, "8:31",
     "sources.e.request.headers.A.template: refresh_token is never exposed: it stays inside the "
     "agent (use access_token)"},
    {"sourceref_unknown",
     SRC "  e:\n"
         "    type: http\n"
         "    inputs: [k]\n"
         "    request:\n"
         "      url: https://x/t\n"
         "      method: POST\n"
         "      body: {subject_token: {source: q, id: token}}\n"
         "    parse: {tokens: [{id: t, token_type: jwt}]}\n" SNK,
     TS_ENOTFOUND, "9:38", "sources.e.request.body.subject_token.source: unknown source 'q'"},
    {"sink_refresh",
     "sources:\n"
     "  svc: {type: tokensmith, token_endpoint: 'https://ts/t', state_file: /v/s}\n"
     "sinks:\n"
     "  o: {type: file, source_id: svc, token_id: refresh_token, path: /o/t}\n",
     TS_ENOTFOUND, "4:45",
     "sinks.o.token_id: refresh_token is never exposed: it stays inside the agent (use "
     "access_token)"},
    {"sink_unknown_source",
     SRC "sinks:\n"
         "  o: {type: file, source_id: nope, path: /o/t}\n",
     TS_ENOTFOUND, "4:30", "sinks.o.source_id: unknown source 'nope'"},
    {"sink_unknown_token",
     SRC "sinks:\n"
         "  o: {type: file, source_id: k, token_id: nope, path: /o/t}\n",
     TS_ENOTFOUND, "4:43", "sinks.o.token_id: source 'k' has no token 'nope'"},
    {"sink_token_ambiguous",
     "sources:\n"
     "  h: {type: http, request: {url: 'https://h/'}, parse: {tokens: [{id: a, token_type: jwt}, "
     "{id: b, token_type: jwt}]}}\n"
     "sinks:\n"
     "  o: {type: file, source_id: h, path: /o/t}\n",
     TS_EINVAL, "4:6", "sinks.o.token_id: required: source 'h' has 2 tokens, name one"},
    {"cycle2",
     "sources:\n"
     "  a: {type: http, inputs: [b], request: {url: 'https://a/'}, parse: {tokens: [{id: t, "
     "token_type: jwt}]}}\n"
     "  b: {type: http, inputs: [a], request: {url: 'https://b/'}, parse: {tokens: [{id: t, "
     "token_type: jwt}]}}\n"
     "sinks:\n"
     "  o: {type: file, source_id: a, path: /o/t}\n",
     TS_ECYCLE, "2:27", "sources.a.inputs: cycle a -> b -> a"},
    {"cycle1",
     "sources:\n"
     "  a: {type: http, inputs: [a], request: {url: 'https://a/'}, parse: {tokens: [{id: t, "
     "token_type: jwt}]}}\n"
     "sinks:\n"
     "  o: {type: file, source_id: a, path: /o/t}\n",
     TS_ECYCLE, "2:27", "sources.a.inputs: cycle a -> a"},
    {"cycle3",
     "sources:\n"
     "  z: {type: http, inputs: [a], request: {url: 'https://z/'}, parse: {tokens: [{id: t, "
     "token_type: jwt}]}}\n"
     "  a: {type: http, inputs: [b], request: {url: 'https://a/'}, parse: {tokens: [{id: t, "
     "token_type: jwt}]}}\n"
     "  b: {type: http, inputs: [c], request: {url: 'https://b/'}, parse: {tokens: [{id: t, "
     "token_type: jwt}]}}\n"
     "  c: {type: http, inputs: [a], request: {url: 'https://c/'}, parse: {tokens: [{id: t, "
     "token_type: jwt}]}}\n"
     "sinks:\n"
     "  o: {type: file, source_id: a, path: /o/t}\n",
     TS_ECYCLE, "3:27", "sources.a.inputs: cycle a -> b -> c -> a"},
    {"input_unknown",
     "sources:\n"
     "  a: {type: http, inputs: [k, q], request: {url: 'https://a/'}, parse: {tokens: [{id: t, "
     "token_type: jwt}]}}\n"
     "  k: {type: file, path: /s/t}\n" SNK,
     TS_ENOTFOUND, "2:31", "sources.a.inputs[1]: unknown source 'q'"},
    {"input_twice",
     "sources:\n"
     "  a: {type: http, inputs: [k, k], request: {url: 'https://a/'}, parse: {tokens: [{id: t, "
     "token_type: jwt}]}}\n"
     "  k: {type: file, path: /s/t}\n" SNK,
     TS_EINVAL, "2:31", "sources.a.inputs[1]: source 'k' listed twice"},
    {"http_path_dup",
     SRC "sinks:\n"
         "  a: {type: http, source_id: k, path: /t}\n"
         "  b: {type: http, source_id: k, path: /t}\n",
     TS_EINVAL, "5:39", "sinks.b.path: URL path also used by sinks.a.path"},
    {"http_path_health",
     SRC "sinks:\n"
         "  a: {type: http, source_id: k, path: /health}\n",
     TS_EINVAL, "4:39", "sinks.a.path: /health is served by the agent itself"},
    {"http_path_metrics",
     SRC "sinks:\n"
         "  a: {type: http, source_id: k, path: /metrics}\n",
     TS_EINVAL, "4:39", "sinks.a.path: /metrics is served by the agent itself"},
    {"http_path_rel",
     SRC "sinks:\n"
         "  a: {type: http, source_id: k, path: tokens}\n",
     TS_EINVAL, "4:39", "sinks.a.path: must be a URL path starting with '/' (no query, no spaces)"},
    {"http_no_listen",
     "settings: {listen: none}\n" SRC "sinks:\n"
     "  a: {type: http, source_id: k, path: /t}\n",
     TS_EINVAL, "5:13", "sinks.a: an http sink needs settings.listen (it is none)"},
    {"file_path_dup",
     SRC "sinks:\n"
         "  a: {type: file, source_id: k, path: /o/t}\n"
         "  b: {type: uds, source_id: k, path: /o/t}\n",
     TS_EINVAL, "5:38", "sinks.b.path: file also used by sinks.a.path"},
    {"state_path_dup",
     "sources:\n"
     "  svc: {type: tokensmith, token_endpoint: 'https://ts/t', state_file: /o/t}\n"
     "sinks:\n"
     "  o: {type: file, source_id: svc, path: /o/t}\n",
     TS_EINVAL, "4:41", "sinks.o.path: file also used by sources.svc.state_file"},
    {"file_path_rel",
     SRC "sinks:\n"
         "  a: {type: file, source_id: k, path: o/t}\n",
     TS_EINVAL, "4:39", "sinks.a.path: must be an absolute path"},
    {"file_path_dir",
     SRC "sinks:\n"
         "  a: {type: file, source_id: k, path: /o/}\n",
     TS_EINVAL, "4:39", "sinks.a.path: must name a file, not a directory"},
    {"mode_world",
     SRC "sinks:\n"
         "  a: {type: file, source_id: k, path: /o/t, mode: 0644}\n",
     TS_EINVAL, "4:51",
     "sinks.a.mode: 0644 lets every local user at the token: give access through group instead"},
    {"mode_decimal",
     SRC "sinks:\n"
         "  a: {type: file, source_id: k, path: /o/t, mode: 384}\n",
     TS_EINVAL, "4:51", "sinks.a.mode: must be octal permission bits (0600)"},
    {"mode_big",
     SRC "sinks:\n"
         "  a: {type: file, source_id: k, path: /o/t, mode: 4750}\n",
     TS_EINVAL, "4:51", "sinks.a.mode: only permission bits (at most 0777)"},
    {"uds_long",
     SRC "sinks:\n"
         "  a: {type: uds, source_id: k, path: "
         "/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "xxxxxxxxxxxxxxxxxxxxxx}\n",
     TS_EINVAL, "4:38", "sinks.a.path: longer than 107 bytes (the limit of a Unix socket's path)"},
    {"uds_http_path",
     SRC "sinks:\n"
         "  a: {type: uds, source_id: k, path: /o/s, http_path: /}\n",
     TS_EINVAL, "4:55",
     "sinks.a.http_path: must be a URL path other than '/' (no query, no spaces)"},
    {"uds_uids_bad",
     SRC "sinks:\n"
         "  a: {type: uds, source_id: k, path: /o/s, allowed_uids: 1000}\n",
     TS_EINVAL, "4:58", "sinks.a.allowed_uids: must be a list of user ids or names"},
    {"file_sink_response",
     SRC "sinks:\n"
         "  a: {type: file, source_id: k, path: /o/t, response: {}}\n",
     TS_EINVAL, "4:45", "sinks.a.response: unknown field"},
    {"resp_string_novalue",
     SRC "sinks:\n"
         "  a: {type: http, source_id: k, path: /t, response: {body: {x: {type: string}}}}\n",
     TS_EINVAL, "4:64", "sinks.a.response.body.x.value: required field missing"},
    {"resp_string_id",
     SRC "sinks:\n"
         "  a: {type: http, source_id: k, path: /t, response: {body: {x: {type: string, value: v, "
         "id: token}}}}\n",
     TS_EINVAL, "4:93", "sinks.a.response.body.x.id: does not go with type string"},
    {"resp_token_format",
     SRC "sinks:\n"
         "  a: {type: http, source_id: k, path: /t, response: {body: {x: {type: token, format: "
         "unix}}}}\n",
     TS_EINVAL, "4:86", "sinks.a.response.body.x.format: does not go with type token"},
    {"resp_type_bad",
     SRC "sinks:\n"
         "  a: {type: http, source_id: k, path: /t, response: {body: {x: {type: number}}}}\n",
     TS_EINVAL, "4:71",
     "sinks.a.response.body.x.type: 'number' is not one of token, string, expiration"},
    {"resp_content_type_header",
     SRC "sinks:\n"
         "  a: {type: http, source_id: k, path: /t, response: {headers: {Content-Type: {type: "
         "string, value: x}}}}\n",
     TS_EINVAL, "4:64",
     "sinks.a.response.headers.Content-Type: set by the agent (see content_type)"},
    {"resp_plain_two",
     SRC "sinks:\n"
         "  a: {type: http, source_id: k, path: /t, response: {content_type: text/plain, body: {x: "
         "{type: token}, y: {type: token}}}}\n",
     TS_EINVAL, "4:86",
     "sinks.a.response.body: a text/plain body holds one field (only a JSON body holds several)"},
    {"resp_token_unknown",
     SRC
     "sinks:\n"
     "  a: {type: http, source_id: k, path: /t, response: {body: {x: {type: token, id: nope}}}}\n",
     TS_ENOTFOUND, "4:82", "sinks.a.response.body.x.id: source 'k' has no token 'nope'"},
    {"list_for_string",
     SRC "sinks:\n"
         "  a: {type: file, source_id: [k], path: /o/t}\n",
     TS_EINVAL, "4:30", "sinks.a.source_id: must be a string"},
    {"empty_string",
     SRC "sinks:\n"
         "  a: {type: file, source_id: '', path: /o/t}\n",
     TS_EINVAL, "4:30", "sinks.a.source_id: must not be empty"},
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
