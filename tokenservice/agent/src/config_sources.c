/* sources: the fields every source has (type, inputs, safety_margin_seconds, required) and
 * token-agent's two types, http and file. oauth2 and tokensmith are in config_oauth2.c. */
#include "config_internal.h"

#include <stdint.h>
#include <string.h>

static const char *const type_names[] = {"http", "file", "oauth2", "tokensmith", NULL};

const char *ts_agent_source_type_name(ts_agent_source_type t)
{
    return (unsigned)t < 4 ? type_names[t] : "unknown";
}

/* Each type's fields, after the common ones. */
static const char *const *type_fields(ts_agent_source_type t)
{
    static const char *const http[] = {
        "type", "inputs", "safety_margin_seconds", "required", "request", "parse", NULL};
    static const char *const file[] = {
        "type", "inputs", "safety_margin_seconds", "required", "path", "parse", NULL};
    static const char *const oauth2[] = {"type",
                                         "inputs",
                                         "safety_margin_seconds",
                                         "required",
                                         "token_endpoint",
                                         "allow_plain_http",
                                         "ca_file",
                                         "client_auth",
                                         "client_id",
                                         "client_secret",
                                         "grant_type",
                                         "scope",
                                         "audience",
                                         "resource",
                                         "requested_token_type",
                                         "subject_token",
                                         "subject_token_type",
                                         "actor_token",
                                         "actor_token_type",
                                         "refresh_token",
                                         "state_file",
                                         "extra_params",
                                         NULL};
    static const char *const tokensmith[] = {"type",     "inputs",          "safety_margin_seconds",
                                             "required", "token_endpoint",  "allow_plain_http",
                                             "ca_file",  "bootstrap_token", "state_file",
                                             NULL};
    switch (t) {
    case TS_AGENT_SOURCE_HTTP:
        return http;
    case TS_AGENT_SOURCE_FILE:
        return file;
    case TS_AGENT_SOURCE_OAUTH2:
        return oauth2;
    default:
        return tokensmith;
    }
}

static ts_status walk_request(ts_agent__ctx *c, const ts_agent__node *n, const char *path,
                              ts_agent_http_source *h)
{
    static const char *const fields[] = {"url",     "method",           "headers", "body",
                                         "ca_file", "allow_plain_http", NULL};
    static const char *const methods[] = {"GET", "POST", "get", "post", NULL};
    int method = 0;
    ts_status s = ts_agent__want_map(c, n, path);
    if (s == TS_OK)
        s = ts_agent__fields(c, n, path, fields);
    if (s == TS_OK)
        s = ts_agent__walk_endpoint(c, n, path, "url", &h->endpoint);
    if (s == TS_OK)
        s = ts_agent__enum(c, n, path, "method", methods, 0, &method);
    if (s == TS_OK)
        s = ts_agent__walk_named_values(c, n, path, "headers", true, &h->headers, &h->n_headers);
    if (s == TS_OK)
        s = ts_agent__walk_named_values(c, n, path, "body", false, &h->body, &h->n_body);
    if (s != TS_OK)
        return s;
    h->method = method % 2 ? TS_AGENT_METHOD_POST : TS_AGENT_METHOD_GET;
    if (h->n_body && h->method != TS_AGENT_METHOD_POST) {
        char p[TS_AGENT__PATH_MAX];
        ts_agent__path_key(p, sizeof p, path, "body");
        return ts_agent__fail(c, ts_agent__map_get(n, "body"), p, TS_EINVAL,
                              "a body needs method POST");
    }
    return TS_OK;
}

static ts_status walk_http(ts_agent__ctx *c, const ts_agent__node *n, const char *path,
                           ts_agent_source *src)
{
    char p[TS_AGENT__PATH_MAX];
    const ts_agent__node *req = ts_agent__opt(n, "request"), *parse = ts_agent__opt(n, "parse");
    if (!req)
        return ts_agent__missing(c, n, path, "request");
    ts_agent__path_key(p, sizeof p, path, "request");
    ts_status s = walk_request(c, req, p, &src->http);
    if (s != TS_OK)
        return s;
    if (!parse)
        return ts_agent__missing(c, n, path, "parse");
    ts_agent__path_key(p, sizeof p, path, "parse");
    return ts_agent__walk_tokens(c, parse, p, false, src);
}

/* Without parse, a file holds one JWT (a projected service-account token): token id "token". */
static const ts_agent_token_spec file_default_token = {
    .id = "token",
    .parent = TS_AGENT_PARENT_BODY,
    .pointer = "",
    .token_type = TS_AGENT_TOKEN_JWT,
    .expiration = {.source = TS_AGENT_EXP_SELF, .pointer = ""},
};

static ts_status walk_file(ts_agent__ctx *c, const ts_agent__node *n, const char *path,
                           ts_agent_source *src)
{
    const ts_agent__node *in = ts_agent__opt(n, "inputs");
    if (in) {
        char p[TS_AGENT__PATH_MAX];
        ts_agent__path_key(p, sizeof p, path, "inputs");
        return ts_agent__fail(c, in, p, TS_EINVAL, "a file source uses no other source");
    }
    ts_status s = ts_agent__walk_abs_path(c, n, path, "path", true, &src->file_path);
    if (s != TS_OK)
        return s;
    const ts_agent__node *parse = ts_agent__opt(n, "parse");
    if (!parse) {
        src->tokens = &file_default_token;
        src->n_tokens = 1;
        return TS_OK;
    }
    char p[TS_AGENT__PATH_MAX];
    ts_agent__path_key(p, sizeof p, path, "parse");
    return ts_agent__walk_tokens(c, parse, p, true, src);
}

static ts_status walk_source(ts_agent__ctx *c, const ts_agent__node *key, const ts_agent__node *n,
                             ts_agent_source *src)
{
    char path[TS_AGENT__PATH_MAX];
    ts_agent__path_key(path, sizeof path, "sources", key->str);
    if (!ts_agent__id_ok(key->str, key->len))
        return ts_agent__fail(c, key, path, TS_EINVAL,
                              "a source id must be 1-%u characters of A-Z a-z 0-9 _ -",
                              TS_AGENT_MAX_ID);
    src->id = ts_agent__arena_strndup(c->arena, key->str, key->len);
    if (!src->id)
        return ts_agent__fail(c, key, path, TS_ENOMEM, "out of memory");
    src->line = key->line;
    src->col = key->col;
    int type = 0;
    ts_status s = ts_agent__want_map(c, n, path);
    if (s == TS_OK)
        s = ts_agent__enum(c, n, path, "type", type_names, -1, &type);
    if (s != TS_OK)
        return s;
    src->type = (ts_agent_source_type)type;
    s = ts_agent__fields(c, n, path, type_fields(src->type));
    if (s == TS_OK)
        s = ts_agent__strings(c, n, path, "inputs", TS_AGENT_MAX_FIELDS, &src->inputs,
                              &src->n_inputs);
    if (s == TS_OK)
        s = ts_agent__int(c, n, path, "safety_margin_seconds", 0, 86400,
                          c->cfg->settings.safety_margin_seconds, &src->safety_margin_seconds);
    if (s == TS_OK)
        s = ts_agent__bool(c, n, path, "required", true, &src->required);
    if (s != TS_OK)
        return s;
    switch (src->type) {
    case TS_AGENT_SOURCE_HTTP:
        return walk_http(c, n, path, src);
    case TS_AGENT_SOURCE_FILE:
        return walk_file(c, n, path, src);
    case TS_AGENT_SOURCE_OAUTH2:
        return ts_agent__walk_oauth2(c, n, path, src);
    default:
        return ts_agent__walk_tokensmith(c, n, path, src);
    }
}

ts_status ts_agent__walk_sources(ts_agent__ctx *c, const ts_agent__node *root)
{
    const ts_agent__node *n = ts_agent__opt(root, "sources");
    if (!n)
        return ts_agent__missing(c, root, "", "sources");
    ts_status s = ts_agent__want_map(c, n, "sources");
    if (s != TS_OK)
        return s;
    if (n->n == 0)
        return ts_agent__fail(c, n, "sources", TS_EINVAL, "at least one source is required");
    if (n->n > TS_AGENT_MAX_SOURCES)
        return ts_agent__fail(c, n, "sources", TS_ELIMIT, "more than %u sources",
                              TS_AGENT_MAX_SOURCES);
    ts_agent_source *list = ts_agent__arena_array(c->arena, n->n, sizeof *list);
    c->source_nodes = ts_agent__arena_array(c->arena, n->n, sizeof *c->source_nodes);
    if (!list || !c->source_nodes)
        return ts_agent__fail(c, n, "sources", TS_ENOMEM, "out of memory");
    c->cfg->sources = c->sources = list;
    for (size_t i = 0; i < n->n; i++) {
        c->cur_source = i;
        c->source_nodes[i] = n->items[2 * i + 1];
        s = walk_source(c, n->items[2 * i], n->items[2 * i + 1], &list[i]);
        if (s != TS_OK)
            return s;
        c->cfg->n_sources = i + 1;
    }
    return TS_OK;
}
