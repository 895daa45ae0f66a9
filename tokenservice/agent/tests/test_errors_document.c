/* Refused configurations, each with its exact position and message: the document, settings, sources
 * and their values (URLs, headers, value kinds). */
#include "agent_cases.h"

static const bad_case cases[] = {
    {"root_unknown", "setting: {}\n" SRC SNK, TS_EINVAL, "1:1", "setting: unknown field"},
    {"root_scalar", "hello\n", TS_EINVAL, "1:1",
     "the configuration must be a mapping of settings, sources and sinks"},
    {"root_empty", "", TS_EPARSE, "", "empty configuration"},
    {"root_comments", "# nothing\n", TS_EPARSE, "", "empty configuration"},
    {"no_sources", SNK, TS_EINVAL, "1:1", "sources: required field missing"},
    {"sources_empty", "sources: {}\n" SNK, TS_EINVAL, "1:10",
     "sources: at least one source is required"},
    {"no_sinks", SRC, TS_EINVAL, "1:1", "sinks: required field missing"},
    {"sources_list", "sources: [a]\n" SNK, TS_EINVAL, "1:10", "sources: must be a mapping"},
    {"source_unknown_field",
     "sources:\n"
     "  k: {type: file, path: /s/t, url: x}\n" SNK,
     TS_EINVAL, "2:31", "sources.k.url: unknown field"},
    {"source_type_missing",
     "sources:\n"
     "  k: {path: /s/t}\n" SNK,
     TS_EINVAL, "2:6", "sources.k.type: required field missing"},
    {"source_type_bad",
     "sources:\n"
     "  k: {type: ftp, path: /s/t}\n" SNK,
     TS_EINVAL, "2:13", "sources.k.type: 'ftp' is not one of http, file, oauth2, tokensmith"},
    {"source_id_bad",
     "sources:\n"
     "  k.x: {type: file, path: /s/t}\n" SNK,
     TS_EINVAL, "2:3", "sources.k.x: a source id must be 1-64 characters of A-Z a-z 0-9 _ -"},
    {"source_dup", SRC "  k: {type: file, path: /s/u}\n" SNK, TS_EPARSE, "3:3",
     "sources.k: given twice (first at 2:3)"},
    {"file_inputs",
     "sources:\n"
     "  k: {type: file, path: /s/t, inputs: [k]}\n" SNK,
     TS_EINVAL, "2:39", "sources.k.inputs: a file source uses no other source"},
    {"listen_remote",
     "settings:\n"
     "  listen: 0.0.0.0:8181\n" SRC SNK,
     TS_EINVAL, "2:11",
     "settings.listen: not a loopback address: tokens would be served to the network; set "
     "settings.listen_non_loopback: true to allow it"},
    {"listen_syntax",
     "settings:\n"
     "  listen: 8181\n" SRC SNK,
     TS_EINVAL, "2:11", "settings.listen: must be HOST:PORT, [IPV6]:PORT or none"},
    {"listen_name",
     "settings:\n"
     "  listen: example.com:8181\n" SRC SNK,
     TS_EINVAL, "2:11",
     "settings.listen: the host must be an IP address or localhost (no name lookups)"},
    {"listen_empty_host",
     "settings:\n"
     "  listen: ':8181'\n" SRC SNK,
     TS_EINVAL, "2:11", "settings.listen: give an address (0.0.0.0 for every IPv4 address)"},
    {"listen_and_server",
     "settings:\n"
     "  listen: 127.0.0.1:1\n"
     "  server: {host: 127.0.0.1, port: 2}\n" SRC SNK,
     TS_EINVAL, "3:11", "settings.server: give listen or server, not both"},
    {"retry_order",
     "settings:\n"
     "  retry: {base_delay_ms: 5000, max_delay_ms: 1000}\n" SRC SNK,
     TS_EINVAL, "2:46", "settings.retry.max_delay_ms: must be at least base_delay_ms (5000)"},
    {"margin_range",
     "settings:\n"
     "  safety_margin_seconds: -1\n" SRC SNK,
     TS_EINVAL, "2:26", "settings.safety_margin_seconds: must be an integer in 0..86400"},
    {"bool_bad",
     "settings:\n"
     "  listen_non_loopback: yes\n" SRC SNK,
     TS_EINVAL, "2:24", "settings.listen_non_loopback: must be true or false"},
    {"metrics_path_bad",
     "settings:\n"
     "  metrics: {path: metrics}\n" SRC SNK,
     TS_EINVAL, "2:19", "settings.metrics.path: must be a URL path starting with '/'"},
    {"url_plain_remote",
     "sources:\n"
     "  h: {type: http, request: {url: 'http://example.com/t'}, parse: {tokens: [{id: t, "
     "token_type: jwt}]}}\n"
     "  k: {type: file, path: /s/t}\n" SNK,
     TS_EINVAL, "2:34",
     "sources.h.request.url: plain http:// only to a loopback or link-local address (tokens would "
     "cross the network unencrypted): use https:// or set allow_plain_http: true"},
    {"url_creds",
     "sources:\n"
     "  h: {type: http, request: {url: 'https://u:p@example.com/t'}, parse: {tokens: [{id: t, "
     "token_type: jwt}]}}\n"
     "  k: {type: file, path: /s/t}\n" SNK,
     TS_EINVAL, "2:34",
     "sources.h.request.url: credentials in a URL are not allowed (use a header or client_secret)"},
    {"url_scheme",
     "sources:\n"
     "  h: {type: http, request: {url: 'ftp://example.com/t'}, parse: {tokens: [{id: t, "
     "token_type: jwt}]}}\n"
     "  k: {type: file, path: /s/t}\n" SNK,
     TS_EINVAL, "2:34", "sources.h.request.url: must be an http:// or https:// URL"},
    {"url_nohost",
     "sources:\n"
     "  h: {type: http, request: {url: 'https:///t'}, parse: {tokens: [{id: t, token_type: "
     "jwt}]}}\n"
     "  k: {type: file, path: /s/t}\n" SNK,
     TS_EINVAL, "2:34", "sources.h.request.url: no valid host[:port] in the URL"},
    {"get_with_body",
     "sources:\n"
     "  h: {type: http, request: {url: 'https://h/t', body: {a: b}}, parse: {tokens: [{id: t, "
     "token_type: jwt}]}}\n"
     "  k: {type: file, path: /s/t}\n" SNK,
     TS_EINVAL, "2:55", "sources.h.request.body: a body needs method POST"},
    {"header_bad_name",
     "sources:\n"
     "  h: {type: http, request: {url: 'https://h/t', headers: {'Bad Header': x}}, parse: {tokens: "
     "[{id: t, token_type: jwt}]}}\n"
     "  k: {type: file, path: /s/t}\n" SNK,
     TS_EINVAL, "2:59", "sources.h.request.headers.Bad Header: not a header name"},
    {"header_dup_case",
     "sources:\n"
     "  h: {type: http, request: {url: 'https://h/t', headers: {Accept: x, accept: y}}, parse: "
     "{tokens: [{id: t, token_type: jwt}]}}\n"
     "  k: {type: file, path: /s/t}\n" SNK,
     TS_EINVAL, "2:70", "sources.h.request.headers.accept: header 'Accept' given twice"},
    {"value_two_kinds",
     "sources:\n"
     "  h: {type: http, request: {url: 'https://h/t', headers: {A: {value: x, from_env: Y}}}, "
     "parse: {tokens: [{id: t, token_type: jwt}]}}\n"
     "  k: {type: file, path: /s/t}\n" SNK,
     TS_EINVAL, "2:83",
     "sources.h.request.headers.A.from_env: give one of value, template, source, from_file, "
     "from_env, not both 'value' and 'from_env'"},
    {"value_none",
     "sources:\n"
     "  h: {type: http, request: {url: 'https://h/t', headers: {A: {prefix: x}}}, parse: {tokens: "
     "[{id: t, token_type: jwt}]}}\n"
     "  k: {type: file, path: /s/t}\n" SNK,
     TS_EINVAL, "2:62",
     "sources.h.request.headers.A: needs one of value, template, source, from_file, from_env"},
    {"value_null",
     "sources:\n"
     "  h: {type: http, request: {url: 'https://h/t', headers: {A: }}, parse: {tokens: [{id: t, "
     "token_type: jwt}]}}\n"
     "  k: {type: file, path: /s/t}\n" SNK,
     TS_EINVAL, "2:62",
     "sources.h.request.headers.A: must be a string or a mapping with one of value, template, "
     "source, from_file, from_env"},
    {"value_prefix_literal",
     "sources:\n"
     "  h: {type: http, request: {url: 'https://h/t', headers: {A: {value: x, prefix: 'B '}}}, "
     "parse: {tokens: [{id: t, token_type: jwt}]}}\n"
     "  k: {type: file, path: /s/t}\n" SNK,
     TS_EINVAL, "2:81",
     "sources.h.request.headers.A.prefix: goes with source, from_file or from_env (write it into "
     "the value)"},
    {"value_id_without_source",
     "sources:\n"
     "  h: {type: http, request: {url: 'https://h/t', headers: {A: {value: x, id: t}}}, parse: "
     "{tokens: [{id: t, token_type: jwt}]}}\n"
     "  k: {type: file, path: /s/t}\n" SNK,
     TS_EINVAL, "2:77", "sources.h.request.headers.A.id: goes with 'source' only"},
    {"value_source_no_id",
     "sources:\n"
     "  h: {type: http, inputs: k, request: {url: 'https://h/t', headers: {A: {source: k}}}, "
     "parse: {tokens: [{id: t, token_type: jwt}]}}\n"
     "  k: {type: file, path: /s/t}\n" SNK,
     TS_EINVAL, "2:73", "sources.h.request.headers.A.id: required field missing"},
    {"value_env_bad",
     "sources:\n"
     "  h: {type: http, request: {url: 'https://h/t', headers: {A: {from_env: 1X}}}, parse: "
     "{tokens: [{id: t, token_type: jwt}]}}\n"
     "  k: {type: file, path: /s/t}\n" SNK,
     TS_EINVAL, "2:73",
     "sources.h.request.headers.A.from_env: not an environment variable name (A-Z a-z 0-9 _)"},
    {"value_file_rel",
     "sources:\n"
     "  h: {type: http, request: {url: 'https://h/t', headers: {A: {from_file: secret}}}, parse: "
     "{tokens: [{id: t, token_type: jwt}]}}\n"
     "  k: {type: file, path: /s/t}\n" SNK,
     TS_EINVAL, "2:74", "sources.h.request.headers.A.from_file: must be an absolute path"},
    {"value_required_bad",
     "sources:\n"
     "  h: {type: http, request: {url: 'https://h/t', headers: {A: {value: x, required: maybe}}}, "
     "parse: {tokens: [{id: t, token_type: jwt}]}}\n"
     "  k: {type: file, path: /s/t}\n" SNK,
     TS_EINVAL, "2:83", "sources.h.request.headers.A.required: must be true or false"},
    {"scalar_for_map", "settings: 5\n" SRC SNK, TS_EINVAL, "1:11", "settings: must be a mapping"},
    {"int_bad",
     "settings:\n"
     "  request_timeout_ms: 5s\n" SRC SNK,
     TS_EINVAL, "2:23", "settings.request_timeout_ms: must be an integer in 100..300000"},
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
