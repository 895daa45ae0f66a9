/* sinks: file, http and uds, each bound to one token of one source, and the responses that
 * http and uds sinks serve. */
#include "config_internal.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#define SUN_PATH_MAX 107 /* sizeof(sockaddr_un.sun_path) - 1 on Linux */

static const char *const sink_types[] = {"file", "http", "uds", NULL};

const char *ts_agent_sink_type_name(ts_agent_sink_type t)
{
    return (unsigned)t < 3 ? sink_types[t] : "unknown";
}

static const char *const *sink_fields(ts_agent_sink_type t)
{
    static const char *const file[] = {"type", "source_id", "token_id", "path",
                                       "mode", "owner",     "group",    NULL};
    static const char *const http[] = {"type", "source_id", "token_id", "path", "response", NULL};
    static const char *const uds[] = {"type",      "source_id", "token_id", "path",
                                      "mode",      "owner",     "group",    "allowed_uids",
                                      "http_path", "response",  NULL};
    return t == TS_AGENT_SINK_FILE ? file : t == TS_AGENT_SINK_HTTP ? http : uds;
}

/* The token a sink or a response field names (the sink's own when @p key is absent). */
static ts_status token_ref(ts_agent__ctx *c, const ts_agent__node *n, const char *path,
                           const char *key, const ts_agent_source *src, const char *def,
                           const char **id, size_t *index)
{
    const ts_agent__node *v = ts_agent__opt(n, key);
    char p[TS_AGENT__PATH_MAX];
    ts_agent__path_key(p, sizeof p, path, key);
    if (!v) {
        if (!def && src->n_tokens != 1)
            return ts_agent__fail(c, n, p, TS_EINVAL,
                                  "required: source '%s' has %zu tokens, name one", src->id,
                                  src->n_tokens);
        *id = def ? def : src->tokens[0].id;
    } else {
        ts_status s = ts_agent__scalar(c, v, p, id);
        if (s != TS_OK)
            return s;
    }
    *index = ts_agent_source_token(src, *id);
    if (*index == SIZE_MAX) {
        char msg[200];
        ts_agent__no_token(src, *id, msg, sizeof msg);
        return ts_agent__fail(c, v ? v : n, p, TS_ENOTFOUND, "%s", msg);
    }
    return TS_OK;
}

/* Permission bits, always read as octal ("0600", 600, "0o600"): a decimal 384 is refused
 * rather than taken for 0600. No bit for others: a token is a credential, and other users
 * are given access through the group. */
static ts_status walk_mode(ts_agent__ctx *c, const ts_agent__node *n, const char *path,
                           unsigned def, unsigned *out)
{
    const ts_agent__node *v = ts_agent__opt(n, "mode");
    *out = def;
    if (!v)
        return TS_OK;
    char p[TS_AGENT__PATH_MAX];
    ts_agent__path_key(p, sizeof p, path, "mode");
    const char *s = v->kind == TS_AGENT__SCALAR ? v->str : "";
    if (strncmp(s, "0o", 2) == 0)
        s += 2;
    size_t len = strlen(s);
    unsigned m = 0;
    if (len == 0 || len > 4 || strspn(s, "01234567") != len)
        return ts_agent__fail(c, v, p, TS_EINVAL, "must be octal permission bits (0600)");
    for (size_t i = 0; i < len; i++)
        m = m * 8 + (unsigned)(s[i] - '0');
    if (m > 0777)
        return ts_agent__fail(c, v, p, TS_EINVAL, "only permission bits (at most 0777)");
    if (m & 0007)
        return ts_agent__fail(c, v, p, TS_EINVAL,
                              "%04o lets every local user at the token: give access through "
                              "group instead",
                              m);
    *out = m;
    return TS_OK;
}

/* A user or group name or number: the number now, the name looked up by the file-system
 * checks (config_fs.c). */
static ts_status walk_id_name(ts_agent__ctx *c, const ts_agent__node *v, const char *p,
                              const char **name, int64_t *id)
{
    ts_status s = ts_agent__scalar(c, v, p, name);
    if (s != TS_OK)
        return s;
    *id = -1;
    if (strspn(*name, "0123456789") == v->len && !ts_agent__parse_int(v, 0, 0xfffffffeLL, id))
        return ts_agent__fail(c, v, p, TS_EINVAL, "not a valid id");
    return TS_OK;
}

static ts_status walk_owner(ts_agent__ctx *c, const ts_agent__node *n, const char *path,
                            ts_agent_sink *k)
{
    k->owner = k->group = "";
    k->owner_uid = k->group_gid = -1;
    const char *keys[] = {"owner", "group"};
    for (int i = 0; i < 2; i++) {
        const ts_agent__node *v = ts_agent__opt(n, keys[i]);
        char p[TS_AGENT__PATH_MAX];
        ts_agent__path_key(p, sizeof p, path, keys[i]);
        if (!v)
            continue;
        ts_status s =
            walk_id_name(c, v, p, i ? &k->group : &k->owner, i ? &k->group_gid : &k->owner_uid);
        if (s != TS_OK)
            return s;
    }
    return TS_OK;
}

static ts_status walk_allowed_uids(ts_agent__ctx *c, const ts_agent__node *n, const char *path,
                                   ts_agent_sink *k)
{
    const ts_agent__node *v = ts_agent__opt(n, "allowed_uids");
    char p[TS_AGENT__PATH_MAX];
    ts_agent__path_key(p, sizeof p, path, "allowed_uids");
    if (!v)
        return TS_OK;
    if (v->kind != TS_AGENT__SEQ || v->n == 0)
        return ts_agent__fail(c, v, p, TS_EINVAL, "must be a list of user ids or names");
    if (v->n > TS_AGENT_MAX_FIELDS)
        return ts_agent__fail(c, v, p, TS_ELIMIT, "more than %u entries", TS_AGENT_MAX_FIELDS);
    const char **names = ts_agent__arena_array(c->arena, v->n, sizeof *names);
    int64_t *ids = ts_agent__arena_array(c->arena, v->n, sizeof *ids);
    if (!names || !ids)
        return ts_agent__fail(c, v, p, TS_ENOMEM, "out of memory");
    for (size_t i = 0; i < v->n; i++) {
        char ip[TS_AGENT__PATH_MAX];
        ts_agent__path_index(ip, sizeof ip, p, i);
        ts_status s = walk_id_name(c, v->items[i], ip, &names[i], &ids[i]);
        if (s != TS_OK)
            return s;
    }
    k->allowed_uid_names = names;
    k->allowed_uids = ids;
    k->n_allowed_uids = v->n;
    return TS_OK;
}

static bool url_path_ok(const char *s)
{
    if (s[0] != '/')
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f || *s == '?' || *s == '#')
            return false;
    return true;
}

/* A member that does not go with the field's type. */
static const char *misplaced(const ts_agent__node *n, ts_agent_field_type t)
{
    if (t == TS_AGENT_FIELD_STRING)
        return ts_agent__map_get(n, "id") ? "id" : ts_agent__map_get(n, "format") ? "format" : NULL;
    if (ts_agent__map_get(n, "value"))
        return "value";
    if (t == TS_AGENT_FIELD_TOKEN && ts_agent__map_get(n, "format"))
        return "format";
    return NULL;
}

static ts_status walk_field(ts_agent__ctx *c, const ts_agent__node *n, const char *path,
                            const ts_agent_sink *k, const ts_agent_source *src,
                            ts_agent_response_field *f)
{
    static const char *const fields[] = {"type", "id", "value", "format", NULL};
    static const char *const types[] = {"token", "string", "expiration", NULL};
    static const char *const formats[] = {"seconds", "unix", "rfc3339", NULL};
    int type = 0, format = 0;
    ts_status s = ts_agent__want_map(c, n, path);
    if (s == TS_OK)
        s = ts_agent__fields(c, n, path, fields);
    if (s == TS_OK)
        s = ts_agent__enum(c, n, path, "type", types, -1, &type);
    if (s != TS_OK)
        return s;
    f->type = (ts_agent_field_type)type;
    f->line = n->line;
    f->col = n->col;
    f->token_id = f->value = "";
    f->token_index = SIZE_MAX;
    const char *wrong = misplaced(n, f->type);
    if (wrong) {
        char p[TS_AGENT__PATH_MAX];
        ts_agent__path_key(p, sizeof p, path, wrong);
        return ts_agent__fail(c, ts_agent__map_get(n, wrong), p, TS_EINVAL,
                              "does not go with type %s", types[type]);
    }
    if (f->type == TS_AGENT_FIELD_STRING)
        return ts_agent__string(c, n, path, "value", NULL, &f->value);
    s = token_ref(c, n, path, "id", src, k->token_id, &f->token_id, &f->token_index);
    if (s == TS_OK && f->type == TS_AGENT_FIELD_EXPIRATION)
        s = ts_agent__enum(c, n, path, "format", formats, 0, &format);
    f->format = (ts_agent_time_format)format;
    return s;
}

static ts_status walk_fields(ts_agent__ctx *c, const ts_agent__node *resp, const char *path,
                             const char *key, bool headers, const ts_agent_sink *k,
                             const ts_agent_source *src, const ts_agent_response_field **out,
                             size_t *count)
{
    static const char *const reserved[] = {"content-type", "content-length", "transfer-encoding",
                                           "connection", NULL};
    const ts_agent__node *m;
    char p[TS_AGENT__PATH_MAX];
    ts_agent_response_field *list;
    ts_status s = ts_agent__entries(c, resp, path, key, p, &m, sizeof *list, (void **)&list);
    if (s != TS_OK || !m)
        return s;
    for (size_t i = 0; i < m->n; i++) {
        const ts_agent__node *kn = m->items[2 * i];
        char ip[TS_AGENT__PATH_MAX];
        ts_agent__path_key(ip, sizeof ip, p, kn->str);
        if (headers && !ts_agent__header_name_ok(kn->str, kn->len))
            return ts_agent__fail(c, kn, ip, TS_EINVAL, "not a header name");
        for (size_t r = 0; headers && reserved[r]; r++)
            if (strcasecmp(kn->str, reserved[r]) == 0)
                return ts_agent__fail(c, kn, ip, TS_EINVAL, "set by the agent (see content_type)");
        for (size_t j = 0; headers && j < i; j++)
            if (strcasecmp(list[j].name, kn->str) == 0)
                return ts_agent__fail(c, kn, ip, TS_EINVAL, "header '%s' given twice",
                                      list[j].name);
        if (kn->len == 0)
            return ts_agent__fail(c, kn, ip, TS_EINVAL, "empty field name");
        list[i].name = ts_agent__arena_strndup(c->arena, kn->str, kn->len);
        if (!list[i].name)
            return ts_agent__fail(c, kn, ip, TS_ENOMEM, "out of memory");
        s = walk_field(c, m->items[2 * i + 1], ip, k, src, &list[i]);
        if (s != TS_OK)
            return s;
    }
    *out = list;
    *count = m->n;
    return TS_OK;
}

static bool is_json_type(const char *ct)
{
    size_t n = strcspn(ct, ";");
    while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    return (n == 16 && strncasecmp(ct, "application/json", 16) == 0) ||
           (n > 5 && memchr(ct, '/', n) && strncasecmp(ct + n - 5, "+json", 5) == 0);
}

static ts_status walk_response(ts_agent__ctx *c, const ts_agent__node *n, const char *path,
                               ts_agent_sink *k, const ts_agent_source *src)
{
    static const char *const fields[] = {"content_type", "headers", "body", NULL};
    ts_agent_response *r = &k->response;
    const ts_agent__node *resp = ts_agent__opt(n, "response");
    if (!resp) {
        /* The OAuth-like default: {"access_token": token, "expires_in": seconds}. */
        ts_agent_response_field *f = ts_agent__arena_array(c->arena, 2, sizeof *f);
        if (!f)
            return ts_agent__fail(c, n, path, TS_ENOMEM, "out of memory");
        f[0] = (ts_agent_response_field){.name = "access_token",
                                         .type = TS_AGENT_FIELD_TOKEN,
                                         .token_id = k->token_id,
                                         .token_index = k->token_index,
                                         .value = "",
                                         .line = n->line,
                                         .col = n->col};
        f[1] = f[0];
        f[1].name = "expires_in";
        f[1].type = TS_AGENT_FIELD_EXPIRATION;
        f[1].format = TS_AGENT_TIME_SECONDS;
        *r = (ts_agent_response){
            .content_type = "application/json", .json = true, .body = f, .n_body = 2};
        return TS_OK;
    }
    char p[TS_AGENT__PATH_MAX];
    ts_agent__path_key(p, sizeof p, path, "response");
    ts_status s = ts_agent__want_map(c, resp, p);
    if (s == TS_OK)
        s = ts_agent__fields(c, resp, p, fields);
    if (s == TS_OK)
        s = ts_agent__string(c, resp, p, "content_type", "application/json", &r->content_type);
    if (s == TS_OK)
        s = walk_fields(c, resp, p, "headers", true, k, src, &r->headers, &r->n_headers);
    if (s == TS_OK)
        s = walk_fields(c, resp, p, "body", false, k, src, &r->body, &r->n_body);
    if (s != TS_OK)
        return s;
    r->json = is_json_type(r->content_type);
    if (!r->json && r->n_body > 1) {
        char bp[TS_AGENT__PATH_MAX];
        ts_agent__path_key(bp, sizeof bp, p, "body");
        return ts_agent__fail(c, ts_agent__map_get(resp, "body"), bp, TS_EINVAL,
                              "a %s body holds one field (only a JSON body holds several)",
                              r->content_type);
    }
    return TS_OK;
}

static ts_status walk_paths(ts_agent__ctx *c, const ts_agent__node *n, const char *path,
                            ts_agent_sink *k)
{
    char p[TS_AGENT__PATH_MAX];
    ts_agent__path_key(p, sizeof p, path, "path");
    ts_status s;
    if (k->type == TS_AGENT_SINK_HTTP) {
        s = ts_agent__string(c, n, path, "path", NULL, &k->path);
        if (s == TS_OK && !url_path_ok(k->path))
            s = ts_agent__fail(c, ts_agent__map_get(n, "path"), p, TS_EINVAL,
                               "must be a URL path starting with '/' (no query, no spaces)");
        if (s == TS_OK && !c->cfg->settings.listen[0])
            s = ts_agent__fail(c, ts_agent__map_get(n, "type"), path, TS_EINVAL,
                               "an http sink needs settings.listen (it is none)");
        return s;
    }
    s = ts_agent__walk_abs_path(c, n, path, "path", true, &k->path);
    if (s == TS_OK && k->type == TS_AGENT_SINK_UDS && strlen(k->path) > SUN_PATH_MAX)
        s = ts_agent__fail(c, ts_agent__map_get(n, "path"), p, TS_EINVAL,
                           "longer than %d bytes (the limit of a Unix socket's path)",
                           SUN_PATH_MAX);
    if (s == TS_OK)
        s = walk_mode(c, n, path, k->type == TS_AGENT_SINK_FILE ? 0600 : 0660, &k->mode);
    if (s == TS_OK)
        s = walk_owner(c, n, path, k);
    if (s != TS_OK || k->type != TS_AGENT_SINK_UDS)
        return s;
    s = walk_allowed_uids(c, n, path, k);
    if (s == TS_OK)
        s = ts_agent__string(c, n, path, "http_path", "", &k->http_path);
    if (s == TS_OK && k->http_path[0] &&
        (!url_path_ok(k->http_path) || !strcmp(k->http_path, "/"))) {
        ts_agent__path_key(p, sizeof p, path, "http_path");
        s = ts_agent__fail(c, ts_agent__map_get(n, "http_path"), p, TS_EINVAL,
                           "must be a URL path other than '/' (no query, no spaces)");
    }
    return s;
}

static ts_status walk_sink(ts_agent__ctx *c, const ts_agent__node *key, const ts_agent__node *n,
                           ts_agent_sink *k)
{
    char path[TS_AGENT__PATH_MAX];
    ts_agent__path_key(path, sizeof path, "sinks", key->str);
    if (!ts_agent__id_ok(key->str, key->len))
        return ts_agent__fail(c, key, path, TS_EINVAL,
                              "a sink id must be 1-%u characters of A-Z a-z 0-9 _ -",
                              TS_AGENT_MAX_ID);
    k->id = ts_agent__arena_strndup(c->arena, key->str, key->len);
    if (!k->id)
        return ts_agent__fail(c, key, path, TS_ENOMEM, "out of memory");
    k->line = key->line;
    k->col = key->col;
    k->owner = k->group = k->http_path = "";
    k->owner_uid = k->group_gid = -1;
    int type = 0;
    ts_status s = ts_agent__want_map(c, n, path);
    if (s == TS_OK)
        s = ts_agent__enum(c, n, path, "type", sink_types, -1, &type);
    if (s != TS_OK)
        return s;
    k->type = (ts_agent_sink_type)type;
    s = ts_agent__fields(c, n, path, sink_fields(k->type));
    if (s == TS_OK)
        s = ts_agent__string(c, n, path, "source_id", NULL, &k->source_id);
    if (s != TS_OK)
        return s;
    k->source_index = ts_agent__find_source(c->cfg, k->source_id);
    if (k->source_index == SIZE_MAX) {
        char p[TS_AGENT__PATH_MAX];
        ts_agent__path_key(p, sizeof p, path, "source_id");
        return ts_agent__fail(c, ts_agent__map_get(n, "source_id"), p, TS_ENOTFOUND,
                              "unknown source '%s'", k->source_id);
    }
    const ts_agent_source *src = &c->cfg->sources[k->source_index];
    s = token_ref(c, n, path, "token_id", src, NULL, &k->token_id, &k->token_index);
    if (s == TS_OK)
        s = walk_paths(c, n, path, k);
    if (s == TS_OK && k->type != TS_AGENT_SINK_FILE)
        s = walk_response(c, n, path, k, src);
    return s;
}

ts_status ts_agent__walk_sinks(ts_agent__ctx *c, const ts_agent__node *root)
{
    const ts_agent__node *n = ts_agent__opt(root, "sinks");
    if (!n)
        return ts_agent__missing(c, root, "", "sinks");
    ts_status s = ts_agent__want_map(c, n, "sinks");
    if (s != TS_OK)
        return s;
    if (n->n == 0)
        return ts_agent__fail(c, n, "sinks", TS_EINVAL, "at least one sink is required");
    if (n->n > TS_AGENT_MAX_SINKS)
        return ts_agent__fail(c, n, "sinks", TS_ELIMIT, "more than %u sinks", TS_AGENT_MAX_SINKS);
    ts_agent_sink *list = ts_agent__arena_array(c->arena, n->n, sizeof *list);
    c->sink_nodes = ts_agent__arena_array(c->arena, n->n, sizeof *c->sink_nodes);
    if (!list || !c->sink_nodes)
        return ts_agent__fail(c, n, "sinks", TS_ENOMEM, "out of memory");
    c->cfg->sinks = c->sinks = list;
    for (size_t i = 0; i < n->n; i++) {
        c->sink_nodes[i] = n->items[2 * i + 1];
        s = walk_sink(c, n->items[2 * i], n->items[2 * i + 1], &list[i]);
        if (s != TS_OK)
            return s;
        c->cfg->n_sinks = i + 1;
    }
    return TS_OK;
}
