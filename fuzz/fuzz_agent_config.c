/* libFuzzer target: the `tokensmith agent` configuration, read from memory and validated
 * (tokenservice/agent). Any input is either a configuration whose every reference resolves
 * (sources in an order that puts inputs first, sinks bound to a token of their source,
 * templates that render) or refused with a position and a message; never a crash, a leak, a
 * read out of bounds or a slow input (the reader's bounds keep each input to milliseconds).
 * Deterministic: nothing is kept between inputs and the machine is never consulted
 * (TS_AGENT_CONFIG_SKIP_FS_CHECKS: no directory, CA file or user name is looked at). The same
 * bytes are also parsed as a {{source.token}} template on their own. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ts_status lookup(const ts_agent_template_ref *ref, const char **value, size_t *len, void *ud)
{
    (void)ud;
    *value = ref->token_id;
    *len = strlen(ref->token_id);
    return TS_OK;
}

static void render(const ts_agent_template *t)
{
    char *out = NULL;
    size_t len = 0;
    if (ts_agent_template_render(t, lookup, NULL, &out, &len, NULL) != TS_OK || !out ||
        strlen(out) != len)
        __builtin_trap(); /* a template with every value at hand always renders */
    ts_agent_template_output_free(out, len);
}

static void check_value(const ts_agent_config *c, const ts_agent_value *v, size_t owner)
{
    if (!v)
        return;
    if (!v->text || !v->prefix || !v->source_id || !v->token_id)
        __builtin_trap();
    if (v->kind == TS_AGENT_VALUE_SOURCE &&
        (v->source_index >= c->n_sources || v->source_index == owner))
        __builtin_trap();
    if (v->kind == TS_AGENT_VALUE_TEMPLATE) {
        for (size_t r = 0; r < ts_agent_template_ref_count(v->tmpl); r++)
            if (ts_agent_template_ref_at(v->tmpl, r)->source_index >= c->n_sources)
                __builtin_trap();
        render(v->tmpl);
    }
}

static void check(const ts_agent_config *c)
{
    size_t n = c->n_sources;
    if (n == 0 || n > TS_AGENT_MAX_SOURCES || c->n_sinks == 0 || c->n_sinks > TS_AGENT_MAX_SINKS)
        __builtin_trap();
    size_t *at = malloc(n * sizeof *at);
    if (!at)
        return;
    for (size_t i = 0; i < n; i++)
        at[i] = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        if (c->order[i] >= n || at[c->order[i]] != SIZE_MAX)
            __builtin_trap(); /* the order is a permutation */
        at[c->order[i]] = i;
    }
    for (size_t i = 0; i < n; i++) {
        const ts_agent_source *s = &c->sources[i];
        if (ts_agent_config_source(c, s->id) != s || s->n_tokens == 0)
            __builtin_trap();
        for (size_t j = 0; j < s->n_inputs; j++)
            if (s->input_index[j] >= n || at[s->input_index[j]] >= at[i])
                __builtin_trap(); /* inputs come first */
        for (size_t j = 0; j < s->http.n_headers; j++)
            check_value(c, &s->http.headers[j].value, i);
        for (size_t j = 0; j < s->http.n_body; j++)
            check_value(c, &s->http.body[j].value, i);
        check_value(c, s->oauth2.subject_token, i);
        check_value(c, s->oauth2.actor_token, i);
    }
    free(at);
    for (size_t i = 0; i < c->n_sinks; i++) {
        const ts_agent_sink *k = &c->sinks[i];
        if (ts_agent_config_sink(c, k->id) != k || k->source_index >= n ||
            k->token_index >= c->sources[k->source_index].n_tokens ||
            strcmp(k->token_id, "refresh_token") == 0)
            __builtin_trap();
        for (size_t j = 0; j < k->response.n_body; j++)
            if (k->response.body[j].type != TS_AGENT_FIELD_STRING &&
                k->response.body[j].token_index >= c->sources[k->source_index].n_tokens)
                __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ts_agent_config_options o = TS_AGENT_CONFIG_OPTIONS_INIT;
    o.flags = TS_AGENT_CONFIG_SKIP_FS_CHECKS;
    ts_agent_config *c = NULL;
    ts_error err;
    ts_error_clear(&err);
    if (ts_agent_config_parse((const char *)data, size, "fuzz.yaml", &o, &c, &err) == TS_OK) {
        check(c);
        ts_agent_config_free(c);
    } else if (c || err.code == TS_OK || strncmp(err.where, "fuzz.yaml", 9) != 0 || !err.msg[0]) {
        __builtin_trap(); /* a refusal always says why and where */
    }
    ts_agent_template *t = NULL;
    if (ts_agent_template_parse((const char *)data, size, &t, NULL) == TS_OK) {
        render(t);
        ts_agent_template_free(t);
    }
    return 0;
}
