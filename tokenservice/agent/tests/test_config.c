/* Configurations the agent accepts, and the model they give: the shape of issue 15 exactly,
 * token-agent's example shapes (its README's and its STS exchange example), a JSON file, the
 * defaults, the order of sources, and the lookups the runtime uses. */
#include "agent_test.h"

#include <stdlib.h>

static void test_issue_shape(void **state)
{
    (void)state;
    ts_error err;
    ts_agent_config *c = agent_fixture("issue15.yaml", &err);
    assert_non_null(c);
    assert_string_equal(c->settings.listen, "127.0.0.1:8181");
    assert_false(c->settings.listen_non_loopback);
    assert_int_equal(c->n_sources, 1);
    const ts_agent_source *svc = &c->sources[0];
    assert_string_equal(svc->id, "svc");
    assert_int_equal(svc->type, TS_AGENT_SOURCE_TOKENSMITH);
    assert_int_equal(svc->line, 4);
    assert_int_equal(svc->col, 3);
    assert_string_equal(svc->tokensmith.endpoint.url, "http://127.0.0.1:8080/oauth/token");
    assert_false(svc->tokensmith.endpoint.allow_plain_http);
    assert_string_equal(svc->tokensmith.endpoint.ca_file, "");
    assert_non_null(svc->tokensmith.bootstrap_token);
    assert_int_equal(svc->tokensmith.bootstrap_token->kind, TS_AGENT_VALUE_FILE);
    assert_string_equal(svc->tokensmith.bootstrap_token->text, "/run/secrets/bootstrap");
    assert_string_equal(svc->tokensmith.state_file, "/var/lib/tokensmith-agent/svc.json");
    assert_true(svc->required);
    assert_int_equal(svc->safety_margin_seconds, 30);
    assert_int_equal(svc->n_inputs, 0);
    /* One token, access_token; the refresh token is not among them. */
    assert_int_equal(svc->n_tokens, 1);
    assert_string_equal(svc->tokens[0].id, "access_token");
    assert_int_equal(ts_agent_source_token(svc, "refresh_token"), SIZE_MAX);
    assert_int_equal(c->order[0], 0);

    assert_int_equal(c->n_sinks, 3);
    const ts_agent_sink *f = ts_agent_config_sink(c, "svc_file");
    assert_non_null(f);
    assert_int_equal(f->type, TS_AGENT_SINK_FILE);
    assert_string_equal(f->path, "/run/tokens/svc");
    assert_int_equal(f->mode, 0600);
    assert_int_equal(f->source_index, 0);
    assert_int_equal(f->token_index, 0);
    assert_int_equal(f->owner_uid, -1);
    assert_int_equal(f->group_gid, -1);

    const ts_agent_sink *u = ts_agent_config_sink(c, "svc_sock");
    assert_non_null(u);
    assert_int_equal(u->type, TS_AGENT_SINK_UDS);
    assert_string_equal(u->path, "/run/tokens/svc.sock");
    assert_int_equal(u->mode, 0660);
    assert_int_equal(u->n_allowed_uids, 0);
    assert_string_equal(u->http_path, "");
    /* No response given: the same JSON as the http sink's, {access_token, expires_in}. */
    assert_true(u->response.json);
    assert_string_equal(u->response.content_type, "application/json");
    assert_int_equal(u->response.n_headers, 0);
    assert_int_equal(u->response.n_body, 2);
    assert_string_equal(u->response.body[0].name, "access_token");
    assert_int_equal(u->response.body[0].type, TS_AGENT_FIELD_TOKEN);
    assert_string_equal(u->response.body[1].name, "expires_in");
    assert_int_equal(u->response.body[1].type, TS_AGENT_FIELD_EXPIRATION);
    assert_int_equal(u->response.body[1].format, TS_AGENT_TIME_SECONDS);

    const ts_agent_sink *h = ts_agent_config_sink(c, "svc_http");
    assert_non_null(h);
    assert_int_equal(h->type, TS_AGENT_SINK_HTTP);
    assert_string_equal(h->path, "/tokens/svc");
    assert_true(h->response.json);
    assert_int_equal(h->response.n_body, 2);
    assert_string_equal(h->response.body[0].name, "access_token");
    assert_int_equal(h->response.body[0].type, TS_AGENT_FIELD_TOKEN);
    assert_string_equal(h->response.body[0].token_id, "access_token");
    assert_int_equal(h->response.body[1].type, TS_AGENT_FIELD_EXPIRATION);
    assert_int_equal(h->response.body[1].format, TS_AGENT_TIME_SECONDS);
    assert_int_equal(h->line, 12);
    assert_null(ts_agent_config_sink(c, "nope"));
    ts_agent_config_free(c);
}

static void test_token_agent_readme(void **state)
{
    (void)state;
    ts_error err;
    ts_agent_config *c = agent_fixture("token_agent_readme.yaml", &err);
    assert_non_null(c);
    const ts_agent_source *m = ts_agent_config_source(c, "metadata");
    const ts_agent_source *x = ts_agent_config_source(c, "exchange_token_service");
    assert_non_null(m);
    assert_non_null(x);
    assert_int_equal(m->type, TS_AGENT_SOURCE_HTTP);
    assert_int_equal(m->http.method, TS_AGENT_METHOD_GET);
    assert_int_equal(m->http.n_headers, 1);
    assert_string_equal(m->http.headers[0].name, "Metadata-Flavor");
    assert_int_equal(m->http.headers[0].value.kind, TS_AGENT_VALUE_LITERAL);
    assert_string_equal(m->http.headers[0].value.text, "Google");
    assert_int_equal(m->n_tokens, 1);
    const ts_agent_token_spec *mt = &m->tokens[0];
    assert_string_equal(mt->id, "metadata_token");
    assert_int_equal(mt->parent, TS_AGENT_PARENT_BODY);
    assert_string_equal(mt->pointer, "/access_token"); /* token-agent's bare member name */
    assert_int_equal(mt->token_type, TS_AGENT_TOKEN_PLAIN_TEXT);
    assert_int_equal(mt->expiration.source, TS_AGENT_EXP_JSON_BODY_FIELD);
    assert_string_equal(mt->expiration.pointer, "/expires_in");
    assert_int_equal(mt->expiration.format, TS_AGENT_TIME_SECONDS);

    assert_int_equal(x->http.method, TS_AGENT_METHOD_POST);
    assert_int_equal(x->n_inputs, 1);
    assert_string_equal(x->inputs[0], "metadata");
    assert_ptr_equal(&c->sources[x->input_index[0]], m);
    const ts_agent_value *auth = &x->http.headers[0].value;
    assert_string_equal(x->http.headers[0].name, "Authorization");
    assert_int_equal(auth->kind, TS_AGENT_VALUE_TEMPLATE);
    assert_true(auth->required);
    assert_string_equal(auth->text, "Bearer {{metadata.metadata_token}}");
    assert_int_equal(ts_agent_template_ref_count(auth->tmpl), 1);
    const ts_agent_template_ref *ref = ts_agent_template_ref_at(auth->tmpl, 0);
    assert_string_equal(ref->source_id, "metadata");
    assert_string_equal(ref->token_id, "metadata_token");
    assert_ptr_equal(&c->sources[ref->source_index], m);
    assert_int_equal(x->http.n_body, 2);
    const ts_agent_value *sub = &x->http.body[0].value;
    assert_string_equal(x->http.body[0].name, "subject_token");
    assert_int_equal(sub->kind, TS_AGENT_VALUE_SOURCE);
    assert_string_equal(sub->source_id, "metadata");
    assert_string_equal(sub->token_id, "metadata_token");
    assert_ptr_equal(&c->sources[sub->source_index], m);
    assert_string_equal(sub->prefix, "");
    /* A jwt without expiration expires by its own exp claim. */
    assert_int_equal(x->tokens[0].token_type, TS_AGENT_TOKEN_JWT);
    assert_int_equal(x->tokens[0].expiration.source, TS_AGENT_EXP_SELF);
    /* Inputs first. */
    assert_ptr_equal(&c->sources[c->order[0]], m);
    assert_ptr_equal(&c->sources[c->order[1]], x);

    const ts_agent_sink *h = ts_agent_config_sink(c, "exchange_http");
    assert_non_null(h);
    assert_ptr_equal(&c->sources[h->source_index], x);
    assert_int_equal(h->response.n_headers, 1);
    assert_string_equal(h->response.headers[0].name, "X-Token");
    assert_int_equal(h->response.headers[0].type, TS_AGENT_FIELD_TOKEN);
    assert_string_equal(h->response.headers[0].token_id, "exchange_token_service_token");
    ts_agent_config_free(c);
}

static void test_token_agent_sts(void **state)
{
    (void)state;
    ts_error err;
    ts_agent_config *c = agent_fixture("token_agent_sts.yaml", &err);
    assert_non_null(c);
    /* token-agent's settings: server {host, port}, retry, margin, metrics, logging. */
    assert_string_equal(c->settings.listen, "127.0.0.1:8080");
    assert_int_equal(c->settings.retry_attempts, 4);
    assert_int_equal(c->settings.retry_base_delay_ms, 1000);
    assert_int_equal(c->settings.retry_max_delay_ms, 5000);
    assert_int_equal(c->settings.safety_margin_seconds, 20);
    assert_true(c->settings.metrics_enabled);
    assert_string_equal(c->settings.metrics_path, "/metrics");
    assert_int_equal(c->settings.log_level, TS_AGENT_LOG_INFO);
    assert_int_equal(c->settings.log_format, TS_AGENT_LOG_TEXT);
    assert_int_equal(c->n_sources, 2);
    assert_int_equal(c->sources[0].safety_margin_seconds, 20);
    assert_int_equal(c->n_sinks, 4);
    const ts_agent_source *sts = ts_agent_config_source(c, "sts_exchange");
    assert_non_null(sts);
    assert_int_equal(sts->http.n_body, 6);
    assert_string_equal(sts->http.body[5].name, "subject_token_type");
    const ts_agent_sink *f = ts_agent_config_sink(c, "sts_file");
    assert_non_null(f);
    assert_string_equal(f->path, "/tmp/sts_exchange.token");
    assert_string_equal(f->token_id, "sts_token");
    ts_agent_config_free(c);
}

/* A JSON file (tabs, no spaces after colons): the chained shape of issue 15's tests, an http
 * source feeding an oauth2 token exchange. */
static void test_json_chain(void **state)
{
    (void)state;
    ts_error err;
    ts_agent_config *c = agent_fixture("chain.json", &err);
    assert_non_null(c);
    assert_string_equal(c->settings.listen, "127.0.0.1:0");
    assert_int_equal(c->settings.log_level, TS_AGENT_LOG_DEBUG);
    const ts_agent_source *x = ts_agent_config_source(c, "exchange");
    assert_non_null(x);
    assert_int_equal(x->type, TS_AGENT_SOURCE_OAUTH2);
    assert_int_equal(x->safety_margin_seconds, 15);
    const ts_agent_oauth2_source *o = &x->oauth2;
    assert_int_equal(o->grant, TS_AGENT_GRANT_TOKEN_EXCHANGE);
    assert_int_equal(o->client_auth, TS_AGENT_CLIENT_AUTH_POST);
    assert_string_equal(o->client_id, "agent");
    assert_int_equal(o->client_secret->kind, TS_AGENT_VALUE_ENV);
    assert_string_equal(o->client_secret->text, "AGENT_CLIENT_SECRET");
    assert_int_equal(o->subject_token->kind, TS_AGENT_VALUE_SOURCE);
    assert_string_equal(o->subject_token->source_id, "metadata");
    assert_int_equal(o->subject_token->source_index, 0);
    assert_string_equal(o->subject_token_type, "urn:ietf:params:oauth:token-type:id_token");
    assert_null(o->actor_token);
    assert_string_equal(o->actor_token_type, "");
    assert_null(o->refresh_token);
    assert_string_equal(o->state_file, "");
    assert_int_equal(o->n_audience, 2);
    assert_string_equal(o->audience[1], "bss");
    assert_int_equal(o->n_resource, 0);
    assert_string_equal(o->scope, "read write");
    assert_string_equal(o->requested_token_type, "");
    assert_int_equal(o->n_extra_params, 1);
    assert_string_equal(o->extra_params[0].name, "tenant");
    assert_string_equal(o->extra_params[0].value, "lab");
    const ts_agent_sink *f = ts_agent_config_sink(c, "exchange_file");
    assert_int_equal(f->mode, 0640);
    assert_string_equal(f->token_id, "access_token"); /* the source's only token */
    const ts_agent_sink *h = ts_agent_config_sink(c, "exchange_http");
    assert_int_equal(h->response.n_body, 2);
    ts_agent_config_free(c);
}

static const char minimal[] = "sources:\n"
                              "  k8s: {type: file, path: /var/run/secrets/token}\n"
                              "sinks:\n"
                              "  out: {type: file, source_id: k8s, path: /tmp/k8s.token}\n";

static void test_defaults(void **state)
{
    (void)state;
    ts_error err;
    ts_agent_config *c = agent_parse(minimal, false, &err);
    assert_non_null(c);
    const ts_agent_settings *st = &c->settings;
    assert_string_equal(st->listen, "127.0.0.1:8181");
    assert_false(st->listen_non_loopback);
    assert_int_equal(st->safety_margin_seconds, 30);
    assert_int_equal(st->retry_attempts, 4);
    assert_int_equal(st->retry_base_delay_ms, 1000);
    assert_int_equal(st->retry_max_delay_ms, 30000);
    assert_int_equal(st->request_timeout_ms, 10000);
    assert_true(st->metrics_enabled);
    assert_string_equal(st->metrics_path, "/metrics");
    assert_string_equal(st->health_path, "/health");
    assert_int_equal(st->log_level, TS_AGENT_LOG_INFO);
    assert_int_equal(st->log_format, TS_AGENT_LOG_JSON);
    assert_string_equal(c->name, "t.yaml");
    /* A file source without parse: one JWT, the whole file, called "token". */
    const ts_agent_source *k = &c->sources[0];
    assert_int_equal(k->type, TS_AGENT_SOURCE_FILE);
    assert_string_equal(k->file_path, "/var/run/secrets/token");
    assert_int_equal(k->n_tokens, 1);
    assert_string_equal(k->tokens[0].id, "token");
    assert_string_equal(k->tokens[0].pointer, "");
    assert_int_equal(k->tokens[0].token_type, TS_AGENT_TOKEN_JWT);
    assert_int_equal(k->tokens[0].expiration.source, TS_AGENT_EXP_SELF);
    assert_string_equal(c->sinks[0].token_id, "token");
    assert_string_equal(ts_agent_source_type_name(k->type), "file");
    assert_string_equal(ts_agent_source_type_name(TS_AGENT_SOURCE_TOKENSMITH), "tokensmith");
    assert_string_equal(ts_agent_sink_type_name(c->sinks[0].type), "file");
    assert_string_equal(ts_agent_sink_type_name(TS_AGENT_SINK_UDS), "uds");
    ts_agent_config_free(c);
}

static void test_settings_forms(void **state)
{
    (void)state;
    const char *base = "sources:\n  k: {type: file, path: /s/t}\n"
                       "sinks:\n  o: {type: file, source_id: k, path: /o/t}\n";
    char text[1024];
    ts_error err;
    ts_agent_config *c;
    snprintf(text, sizeof text, "settings: {listen: none}\n%s", base);
    assert_non_null(c = agent_parse(text, false, &err));
    assert_string_equal(c->settings.listen, "");
    ts_agent_config_free(c);
    snprintf(text, sizeof text, "settings: {listen: '[::1]:0'}\n%s", base);
    assert_non_null(c = agent_parse(text, false, &err));
    assert_string_equal(c->settings.listen, "[::1]:0");
    ts_agent_config_free(c);
    snprintf(text, sizeof text, "settings: {listen: 'localhost:9000'}\n%s", base);
    assert_non_null(c = agent_parse(text, false, &err));
    ts_agent_config_free(c);
    /* A non-loopback address with the field that allows it. */
    snprintf(text, sizeof text, "settings: {listen: '0.0.0.0:8181', listen_non_loopback: true}\n%s",
             base);
    assert_non_null(c = agent_parse(text, false, &err));
    assert_true(c->settings.listen_non_loopback);
    ts_agent_config_free(c);
    snprintf(text, sizeof text, "settings: {server: {host: '::1', port: 81}}\n%s", base);
    assert_non_null(c = agent_parse(text, false, &err));
    assert_string_equal(c->settings.listen, "[::1]:81");
    ts_agent_config_free(c);
    snprintf(text, sizeof text,
             "settings:\n  metrics: {is_enabled: false}\n  logging: {level: error, format: "
             "text}\n  request_timeout_ms: 2500\n  retry: {max_delay_ms: 9000}\n%s",
             base);
    assert_non_null(c = agent_parse(text, false, &err));
    assert_false(c->settings.metrics_enabled);
    assert_int_equal(c->settings.log_level, TS_AGENT_LOG_ERROR);
    assert_int_equal(c->settings.log_format, TS_AGENT_LOG_TEXT);
    assert_int_equal(c->settings.request_timeout_ms, 2500);
    assert_int_equal(c->settings.retry_base_delay_ms, 1000);
    assert_int_equal(c->settings.retry_max_delay_ms, 9000);
    ts_agent_config_free(c);
    /* null settings (the key alone) is the defaults. */
    snprintf(text, sizeof text, "settings:\n%s", base);
    assert_non_null(c = agent_parse(text, false, &err));
    ts_agent_config_free(c);
}

/* a <- b, a <- c, b,c <- d (d uses b and c, which both use a): every source after its inputs. */
static void test_order(void **state)
{
    (void)state;
    const char *text =
        "sources:\n"
        "  d: {type: http, inputs: [c, b], request: {url: 'https://d/', headers: {X-B: "
        "{template: '{{b.t}}/{{ c.t }}'}}}, parse: {tokens: [{id: t, token_type: jwt}]}}\n"
        "  b: {type: http, inputs: a, request: {url: 'https://b/', headers: {X: {source: a, id: "
        "t, prefix: 'Bearer '}}}, parse: {tokens: [{id: t, token_type: jwt}]}}\n"
        "  c: {type: http, inputs: [a], request: {url: 'https://c/', headers: {X: {template: "
        "'{{a.t}}', required: false}}}, parse: {tokens: [{id: t, token_type: jwt}]}}\n"
        "  a: {type: file, path: /a, parse: {tokens: [{id: t, token_type: jwt}]}}\n"
        "  z: {type: file, path: /z}\n"
        "sinks:\n  o: {type: file, source_id: d, path: /o}\n";
    ts_error err;
    ts_agent_config *c = agent_parse(text, false, &err);
    assert_non_null(c);
    size_t at[5];
    for (size_t i = 0; i < 5; i++)
        at[c->order[i]] = i;
    for (size_t i = 0; i < c->n_sources; i++)
        for (size_t j = 0; j < c->sources[i].n_inputs; j++)
            assert_true(at[c->sources[i].input_index[j]] < at[i]);
    const ts_agent_source *b = ts_agent_config_source(c, "b");
    assert_int_equal(b->n_inputs, 1); /* a single string is a list of one */
    assert_string_equal(b->http.headers[0].value.prefix, "Bearer ");
    const ts_agent_source *cc = ts_agent_config_source(c, "c");
    assert_false(cc->http.headers[0].value.required);
    const ts_agent_source *d = ts_agent_config_source(c, "d");
    const ts_agent_template *t = d->http.headers[0].value.tmpl;
    assert_int_equal(ts_agent_template_ref_count(t), 2);
    assert_ptr_equal(&c->sources[ts_agent_template_ref_at(t, 1)->source_index], cc);
    ts_agent_config_free(c);
}

static void test_oauth2_grants(void **state)
{
    (void)state;
    const char *text = "sources:\n"
                       "  cc:\n"
                       "    type: oauth2\n"
                       "    token_endpoint: https://idp.example.com/token\n"
                       "    grant_type: client_credentials\n"
                       "    client_id: svc\n"
                       "    client_secret: {from_file: /etc/agent/secret}\n"
                       "    scope: 'metrics.write logs.read'\n"
                       "    resource: https://api.example.com/\n"
                       "    requested_token_type: jwt\n"
                       "    ca_file: /etc/ssl/idp.pem\n"
                       "  rt:\n"
                       "    type: oauth2\n"
                       "    token_endpoint: https://idp.example.com/token\n"
                       "    grant_type: refresh_token\n"
                       "    refresh_token: {from_env: FIRST_REFRESH_TOKEN}\n"
                       "    state_file: /var/lib/agent/rt.json\n"
                       "    required: false\n"
                       "    safety_margin_seconds: 120\n"
                       "sinks:\n"
                       "  a: {type: file, source_id: cc, path: /tmp/a}\n"
                       "  b: {type: uds, source_id: rt, path: /tmp/b.sock, mode: '0600', group: "
                       "'0', allowed_uids: [0, 1000], http_path: /token}\n";
    ts_error err;
    ts_agent_config *c = agent_parse(text, false, &err);
    assert_non_null(c);
    const ts_agent_oauth2_source *cc = &c->sources[0].oauth2;
    assert_int_equal(cc->grant, TS_AGENT_GRANT_CLIENT_CREDENTIALS);
    assert_int_equal(cc->client_auth, TS_AGENT_CLIENT_AUTH_BASIC); /* a secret's default */
    assert_int_equal(cc->client_secret->kind, TS_AGENT_VALUE_FILE);
    assert_string_equal(cc->scope, "metrics.write logs.read");
    assert_int_equal(cc->n_resource, 1);
    assert_string_equal(cc->requested_token_type, "urn:ietf:params:oauth:token-type:jwt");
    assert_string_equal(cc->endpoint.ca_file, "/etc/ssl/idp.pem");
    assert_null(cc->subject_token);
    const ts_agent_source *rt = &c->sources[1];
    assert_int_equal(rt->oauth2.grant, TS_AGENT_GRANT_REFRESH_TOKEN);
    assert_int_equal(rt->oauth2.client_auth, TS_AGENT_CLIENT_AUTH_NONE);
    assert_int_equal(rt->oauth2.refresh_token->kind, TS_AGENT_VALUE_ENV);
    assert_string_equal(rt->oauth2.state_file, "/var/lib/agent/rt.json");
    assert_false(rt->required);
    assert_int_equal(rt->safety_margin_seconds, 120);
    const ts_agent_sink *b = &c->sinks[1];
    assert_int_equal(b->mode, 0600);
    assert_int_equal(b->group_gid, 0);
    assert_int_equal(b->n_allowed_uids, 2);
    assert_int_equal(b->allowed_uids[1], 1000);
    assert_string_equal(b->allowed_uid_names[1], "1000");
    assert_string_equal(b->http_path, "/token");
    ts_agent_config_free(c);
}

static void test_parse_tokens(void **state)
{
    (void)state;
    const char *text = "sources:\n"
                       "  h:\n"
                       "    type: http\n"
                       "    request: {url: 'http://[fe80::1]/t', method: post, body: {a: b}}\n"
                       "    parse:\n"
                       "      tokens:\n"
                       "        - {id: t1, pointer: /data/tok~1en, expiration: {source: "
                       "json_body_field, pointer: exp, format: unix}}\n"
                       "        - {id: t2, parent: header, pointer: X-Token, expiration: {source: "
                       "header_field, pointer: X-Expires, format: rfc3339}}\n"
                       "        - {id: t3, pointer: 'a/b~c', expiration: {source: manual, "
                       "manual_ttl_seconds: 600}}\n"
                       "        - {id: t4, token_type: jwt}\n"
                       "sinks:\n"
                       "  s: {type: http, source_id: h, token_id: t2, path: /t, response: "
                       "{content_type: text/plain, body: {t: {type: token, id: t3}}, headers: "
                       "{X-Exp: {type: expiration, format: unix}, X-Env: {type: string, value: "
                       "prod}}}}\n";
    ts_error err;
    ts_agent_config *c = agent_parse(text, false, &err);
    assert_non_null(c);
    const ts_agent_source *h = &c->sources[0];
    assert_int_equal(h->http.method, TS_AGENT_METHOD_POST);
    assert_int_equal(h->n_tokens, 4);
    assert_string_equal(h->tokens[0].pointer, "/data/tok~1en");
    assert_string_equal(h->tokens[0].expiration.pointer, "/exp");
    assert_int_equal(h->tokens[0].expiration.format, TS_AGENT_TIME_UNIX);
    assert_int_equal(h->tokens[1].parent, TS_AGENT_PARENT_HEADER);
    assert_string_equal(h->tokens[1].pointer, "X-Token");
    assert_string_equal(h->tokens[1].expiration.pointer, "X-Expires");
    assert_int_equal(h->tokens[1].expiration.format, TS_AGENT_TIME_RFC3339);
    assert_string_equal(h->tokens[2].pointer, "/a~1b~0c"); /* one member, escaped */
    assert_int_equal(h->tokens[2].expiration.manual_ttl_seconds, 600);
    assert_int_equal(h->tokens[3].expiration.source, TS_AGENT_EXP_SELF);
    assert_string_equal(h->tokens[3].pointer, ""); /* the whole body */
    const ts_agent_response *r = &c->sinks[0].response;
    assert_false(r->json);
    assert_int_equal(r->n_body, 1);
    assert_string_equal(r->body[0].token_id, "t3");
    assert_int_equal(r->body[0].token_index, 2);
    assert_int_equal(r->n_headers, 2);
    assert_string_equal(r->headers[0].token_id, "t2"); /* the sink's token by default */
    assert_int_equal(r->headers[0].format, TS_AGENT_TIME_UNIX);
    assert_int_equal(r->headers[1].type, TS_AGENT_FIELD_STRING);
    assert_string_equal(r->headers[1].value, "prod");
    ts_agent_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_issue_shape),     cmocka_unit_test(test_token_agent_readme),
        cmocka_unit_test(test_token_agent_sts), cmocka_unit_test(test_json_chain),
        cmocka_unit_test(test_defaults),        cmocka_unit_test(test_settings_forms),
        cmocka_unit_test(test_order),           cmocka_unit_test(test_oauth2_grants),
        cmocka_unit_test(test_parse_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
