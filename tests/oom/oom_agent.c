/* oom.agent: the agent's configuration (a chained configuration with templates, the oauth2
 * and tokensmith types and every sink type; a refused one, whose exact error must survive or
 * become TS_ENOMEM) and its templates (parse, render), with every allocation failing in turn.
 * For tests/oom (the failing allocator's driver): add "agent ts_agent" to TS_OOM_SUITES there
 * and this file as tests/oom/oom_agent.c. */
#include "oom.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_config.h"

static const char chained[] =
    "settings: {listen: '127.0.0.1:0', retry: {attempts: 3}, logging: {format: compact}}\n"
    "sources:\n"
    "  metadata:\n"
    "    type: http\n"
    "    request:\n"
    "      url: http://169.254.169.254/token\n"
    "      headers: {Metadata-Flavor: Google, X-Env: {from_env: ENV, prefix: 'e '}}\n"
    "    parse:\n"
    "      tokens:\n"
    "        - {id: metadata_token, pointer: access_token, expiration: {source: "
    "json_body_field, pointer: expires_in}}\n"
    "  exchange:\n"
    "    type: http\n"
    "    inputs: [metadata]\n"
    "    request:\n"
    "      url: https://x.example.com/issue\n"
    "      method: POST\n"
    "      headers: {Authorization: {template: 'Bearer {{metadata.metadata_token}}'}}\n"
    "      body: {subject_token: {source: metadata, id: metadata_token}}\n"
    "    parse: {tokens: [{id: t, token_type: jwt}]}\n"
    "  cc: {type: oauth2, token_endpoint: 'https://i/t', grant_type: client_credentials, "
    "client_id: a, client_secret: {from_file: /s}, scope: [a, b], audience: [x, y]}\n"
    "  svc: {type: tokensmith, token_endpoint: 'http://127.0.0.1:8080/oauth/token', "
    "bootstrap_token: {from_env: BOOT}, state_file: /v/svc.json}\n"
    "sinks:\n"
    "  f: {type: file, source_id: metadata, path: /run/t/m, mode: '0640'}\n"
    "  h: {type: http, source_id: exchange, path: /t, response: {headers: {X-T: {type: "
    "token}}, body: {t: {type: token}, e: {type: expiration, format: rfc3339}}}}\n"
    "  u: {type: uds, source_id: svc, path: /run/t/s.sock, allowed_uids: [0]}\n"
    "  c: {type: http, source_id: cc, path: /cc}\n";

static oom_result run_parse(void *p)
{
    (void)p;
    ts_agent_config_options o = TS_AGENT_CONFIG_OPTIONS_INIT;
    o.flags = TS_AGENT_CONFIG_SKIP_FS_CHECKS;
    ts_agent_config *c = NULL;
    ts_error err;
    ts_error_clear(&err);
    OOM_TRY(ts_agent_config_parse(chained, sizeof chained - 1, "a.yaml", &o, &c, &err), &err);
    const ts_agent_source *x = ts_agent_config_source(c, "exchange");
    bool ok = c->n_sources == 4 && c->n_sinks == 4 && x && x->http.headers[0].value.tmpl != NULL &&
              ts_agent_template_ref_at(x->http.headers[0].value.tmpl, 0)->source_index == 0 &&
              strcmp(c->sources[2].oauth2.scope, "a b") == 0 && c->sinks[1].response.n_body == 2 &&
              c->sinks[2].response.n_body == 2;
    ts_agent_config_free(c);
    OOM_EXPECT(ok);
    return OOM_SUCCEEDED;
}

static const char cyclic[] =
    "sources:\n"
    "  a: {type: http, inputs: [b], request: {url: 'https://a/'}, parse: {tokens: [{id: t, "
    "token_type: jwt}]}}\n"
    "  b: {type: http, inputs: [a], request: {url: 'https://b/', headers: {A: {template: "
    "'{{a.t}}'}}}, parse: {tokens: [{id: t, token_type: jwt}]}}\n"
    "sinks:\n"
    "  o: {type: file, source_id: a, path: /o}\n";

static oom_result run_refused(void *p)
{
    (void)p;
    ts_agent_config_options o = TS_AGENT_CONFIG_OPTIONS_INIT;
    o.flags = TS_AGENT_CONFIG_SKIP_FS_CHECKS;
    ts_agent_config *c = NULL;
    ts_error err;
    ts_error_clear(&err);
    ts_status s = ts_agent_config_parse(cyclic, sizeof cyclic - 1, "a.yaml", &o, &c, &err);
    OOM_EXPECT(s != TS_OK && c == NULL);
    if (s == TS_ECYCLE) { /* the configuration's own error, whole */
        OOM_EXPECT(strcmp(err.where, "a.yaml:2:27") == 0 &&
                   strcmp(err.msg, "sources.a.inputs: cycle a -> b -> a") == 0);
        return OOM_SUCCEEDED;
    }
    return oom_refused(s, &err);
}

static ts_status lookup(const ts_agent_template_ref *ref, const char **value, size_t *len, void *ud)
{
    (void)ud;
    *value = ref->token_id;
    *len = strlen(ref->token_id);
    return TS_OK;
}

static oom_result run_template(void *p)
{
    (void)p;
    static const char text[] = "Bearer {{a.one}} {{ b.two }}!";
    ts_agent_template *t = NULL;
    ts_error err;
    ts_error_clear(&err);
    OOM_TRY(ts_agent_template_parse(text, sizeof text - 1, &t, &err), &err);
    char *out = NULL;
    size_t len = 0;
    ts_status s = ts_agent_template_render(t, lookup, NULL, &out, &len, &err);
    ts_agent_template_free(t);
    OOM_TRY(s, &err);
    bool ok = strcmp(out, "Bearer one two!") == 0;
    ts_agent_template_output_free(out, len);
    OOM_EXPECT(ok);
    return OOM_SUCCEEDED;
}

int main(int argc, char **argv)
{
    static const oom_case cases[] = {
        {"config_parse", NULL, run_parse, NULL},
        {"config_refused", NULL, run_refused, NULL},
        {"template", NULL, run_template, NULL},
    };
    return oom_main("agent", cases, sizeof cases / sizeof cases[0], argc, argv);
}
