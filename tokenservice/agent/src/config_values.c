/* The pieces sources are made of: values (value, template, source + id, from_file, from_env),
 * header and body maps, parse.tokens with their expiration, endpoint URLs and file paths. */
#include "config_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const kind_keys[] = {"value", "template", "source", "from_file", "from_env"};

static ts_status nomem(ts_agent__ctx *c, const ts_agent__node *at, const char *path)
{
    return ts_agent__fail(c, at, path, TS_ENOMEM, "out of memory");
}

static void free_template(void *t)
{
    ts_agent_template_free(t);
}

/* References are resolved once every source is known (ts_agent__check_graph()). */
static ts_status defer(ts_agent__ctx *c, ts_agent_value *v, ts_agent_template *t,
                       const ts_agent__node *at, const char *path)
{
    if (c->n_pending == c->cap_pending) {
        size_t cap = c->cap_pending ? c->cap_pending * 2 : 16;
        ts_agent__pending *p = realloc(c->pending, cap * sizeof *p);
        if (!p)
            return nomem(c, at, path);
        c->pending = p;
        c->cap_pending = cap;
    }
    const char *kept = ts_agent__arena_strndup(c->arena, path, strlen(path));
    if (!kept)
        return nomem(c, at, path);
    c->pending[c->n_pending++] = (ts_agent__pending){.owner = c->cur_source,
                                                     .value = v,
                                                     .tmpl = t,
                                                     .path = kept,
                                                     .line = at->line,
                                                     .col = at->col};
    return TS_OK;
}

static bool env_name_ok(const char *s)
{
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

static void kinds_list(unsigned kinds, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (unsigned k = 0; k < 5 && o < cap; k++)
        if (kinds & (1u << k))
            o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? ", " : "", kind_keys[k]);
}

static ts_status value_kind(ts_agent__ctx *c, const ts_agent__node *n, const char *path,
                            unsigned kinds, ts_agent_value_kind *kind, const ts_agent__node **v)
{
    int found = -1;
    char list[96];
    kinds_list(kinds, list, sizeof list);
    for (int k = 0; k < 5; k++) {
        const ts_agent__node *x = ts_agent__map_get(n, kind_keys[k]);
        if (!x)
            continue;
        char p[TS_AGENT__PATH_MAX];
        ts_agent__path_key(p, sizeof p, path, kind_keys[k]);
        if (found >= 0)
            return ts_agent__fail(c, x, p, TS_EINVAL, "give one of %s, not both '%s' and '%s'",
                                  list, kind_keys[found], kind_keys[k]);
        if (!(kinds & (1u << k)))
            return ts_agent__fail(c, x, p, TS_EINVAL, "not allowed here (use %s)", list);
        found = k;
        *v = x;
    }
    if (found < 0)
        return ts_agent__fail(c, n, path, TS_EINVAL, "needs one of %s", list);
    *kind = (ts_agent_value_kind)found;
    return TS_OK;
}

static ts_status value_body(ts_agent__ctx *c, const ts_agent__node *x, const char *p,
                            ts_agent_value *out)
{
    ts_status s = ts_agent__scalar(c, x, p, &out->text);
    if (s != TS_OK)
        return s;
    switch (out->kind) {
    case TS_AGENT_VALUE_TEMPLATE: {
        ts_agent_template *t;
        ts_error terr;
        ts_error_clear(&terr);
        s = ts_agent_template_parse(x->str, x->len, &t, &terr);
        if (s != TS_OK)
            return ts_agent__fail(c, x, p, s, "%s", terr.msg);
        if (!ts_agent__arena_on_free(c->arena, free_template, t)) {
            ts_agent_template_free(t);
            return nomem(c, x, p);
        }
        out->tmpl = t;
        return defer(c, out, t, x, p);
    }
    case TS_AGENT_VALUE_SOURCE:
        if (!ts_agent__id_ok(x->str, x->len))
            return ts_agent__fail(c, x, p, TS_EINVAL, "not a source id");
        out->source_id = out->text;
        out->text = "";
        return defer(c, out, NULL, x, p);
    case TS_AGENT_VALUE_FILE:
        if (out->text[0] != '/' || x->len > TS_AGENT__FILE_PATH_MAX)
            return ts_agent__fail(c, x, p, TS_EINVAL, "must be an absolute path");
        return TS_OK;
    case TS_AGENT_VALUE_ENV:
        if (!env_name_ok(out->text))
            return ts_agent__fail(c, x, p, TS_EINVAL,
                                  "not an environment variable name (A-Z a-z 0-9 _)");
        return TS_OK;
    default:
        return TS_OK;
    }
}

ts_status ts_agent__walk_value(ts_agent__ctx *c, const ts_agent__node *n, const char *path,
                               unsigned kinds, bool allow_required, ts_agent_value *out)
{
    static const char *const fields[] = {"value",  "template",  "source",   "id",
                                         "prefix", "from_file", "from_env", NULL};
    static const char *const fields_required[] = {
        "value", "template", "source", "id", "prefix", "from_file", "from_env", "required", NULL};
    memset(out, 0, sizeof *out);
    out->text = out->prefix = out->source_id = out->token_id = "";
    out->source_index = SIZE_MAX;
    out->required = true;
    out->line = n->line;
    out->col = n->col;
    /* A bare string stands for {value: ...}, the common case of a fixed header. */
    if (n->kind == TS_AGENT__SCALAR && !ts_agent__is_null(n)) {
        if (!(kinds & (1u << TS_AGENT_VALUE_LITERAL)))
            return ts_agent__fail(c, n, path, TS_EINVAL, "must be a mapping");
        out->kind = TS_AGENT_VALUE_LITERAL;
        return ts_agent__scalar(c, n, path, &out->text);
    }
    if (n->kind != TS_AGENT__MAP) {
        char list[96];
        kinds_list(kinds, list, sizeof list);
        return ts_agent__fail(c, n, path, TS_EINVAL, "must be a string or a mapping with one of %s",
                              list);
    }
    ts_status s = ts_agent__fields(c, n, path, allow_required ? fields_required : fields);
    if (s != TS_OK)
        return s;
    const ts_agent__node *x = NULL;
    s = value_kind(c, n, path, kinds, &out->kind, &x);
    if (s != TS_OK)
        return s;
    char p[TS_AGENT__PATH_MAX];
    ts_agent__path_key(p, sizeof p, path, kind_keys[out->kind]);
    s = value_body(c, x, p, out);
    if (s != TS_OK)
        return s;

    const ts_agent__node *id = ts_agent__map_get(n, "id");
    if (out->kind == TS_AGENT_VALUE_SOURCE) {
        s = ts_agent__string(c, n, path, "id", NULL, &out->token_id);
        ts_agent__path_key(p, sizeof p, path, "id");
        if (s == TS_OK && !ts_agent__id_ok(out->token_id, strlen(out->token_id)))
            s = ts_agent__fail(c, id, p, TS_EINVAL, "not a token id");
    } else if (id) {
        ts_agent__path_key(p, sizeof p, path, "id");
        s = ts_agent__fail(c, id, p, TS_EINVAL, "goes with 'source' only");
    }
    if (s != TS_OK)
        return s;
    const ts_agent__node *prefix = ts_agent__map_get(n, "prefix");
    if (prefix && (out->kind == TS_AGENT_VALUE_LITERAL || out->kind == TS_AGENT_VALUE_TEMPLATE)) {
        ts_agent__path_key(p, sizeof p, path, "prefix");
        return ts_agent__fail(c, prefix, p, TS_EINVAL,
                              "goes with source, from_file or from_env (write it into the %s)",
                              kind_keys[out->kind]);
    }
    if (prefix && !ts_agent__is_null(prefix)) {
        ts_agent__path_key(p, sizeof p, path, "prefix");
        if (prefix->kind != TS_AGENT__SCALAR)
            return ts_agent__fail(c, prefix, p, TS_EINVAL, "must be a string");
        /* A prefix may be empty or end in a space ("Bearer "): copied as it is. */
        out->prefix = ts_agent__arena_strndup(c->arena, prefix->str, prefix->len);
        if (!out->prefix)
            return nomem(c, prefix, p);
    }
    return ts_agent__bool(c, n, path, "required", true, &out->required);
}

ts_status ts_agent__walk_opt_value(ts_agent__ctx *c, const ts_agent__node *map, const char *path,
                                   const char *key, unsigned kinds, const ts_agent_value **out)
{
    const ts_agent__node *n = ts_agent__opt(map, key);
    *out = NULL;
    if (!n)
        return TS_OK;
    char p[TS_AGENT__PATH_MAX];
    ts_agent__path_key(p, sizeof p, path, key);
    ts_agent_value *v = ts_agent__arena_alloc(c->arena, sizeof *v);
    if (!v)
        return nomem(c, n, p);
    ts_status s = ts_agent__walk_value(c, n, p, kinds, false, v);
    if (s == TS_OK)
        *out = v;
    return s;
}

ts_status ts_agent__walk_named_values(ts_agent__ctx *c, const ts_agent__node *map, const char *path,
                                      const char *key, bool headers,
                                      const ts_agent_named_value **out, size_t *n)
{
    const ts_agent__node *m;
    char p[TS_AGENT__PATH_MAX];
    ts_agent_named_value *list;
    *out = NULL;
    *n = 0;
    ts_status s = ts_agent__entries(c, map, path, key, p, &m, sizeof *list, (void **)&list);
    if (s != TS_OK || !m)
        return s;
    for (size_t i = 0; i < m->n; i++) {
        const ts_agent__node *k = m->items[2 * i];
        char ip[TS_AGENT__PATH_MAX];
        ts_agent__path_key(ip, sizeof ip, p, k->str);
        if (headers && !ts_agent__header_name_ok(k->str, k->len))
            return ts_agent__fail(c, k, ip, TS_EINVAL, "not a header name");
        if (!headers && k->len == 0)
            return ts_agent__fail(c, k, ip, TS_EINVAL, "empty field name");
        /* Header names are case-insensitive: two spellings of one header are one too many. */
        for (size_t j = 0; headers && j < i; j++)
            if (strcasecmp(list[j].name, k->str) == 0)
                return ts_agent__fail(c, k, ip, TS_EINVAL, "header '%s' given twice", list[j].name);
        list[i].name = ts_agent__arena_strndup(c->arena, k->str, k->len);
        if (!list[i].name)
            return nomem(c, k, ip);
        s = ts_agent__walk_value(c, m->items[2 * i + 1], ip, TS_AGENT__VALUE_ANY, true,
                                 &list[i].value);
        if (s != TS_OK)
            return s;
    }
    *out = list;
    *n = m->n;
    return TS_OK;
}

/* token-agent writes "access_token" for the member access_token: a pointer that does not start
 * with '/' names one top-level member (escaped into RFC 6901 form here). */
static ts_status json_pointer(ts_agent__ctx *c, const ts_agent__node *n, const char *p,
                              const char **out)
{
    if (n->kind != TS_AGENT__SCALAR || n->len == 0 || ts_agent__is_null(n))
        return ts_agent__fail(c, n, p, TS_EINVAL, "must be a JSON pointer or a member name");
    if (n->str[0] == '/') {
        for (size_t i = 0; i < n->len; i++)
            if (n->str[i] == '~' &&
                (i + 1 == n->len || (n->str[i + 1] != '0' && n->str[i + 1] != '1')))
                return ts_agent__fail(c, n, p, TS_EINVAL,
                                      "'~' must be followed by 0 or 1 in a JSON pointer");
        return ts_agent__scalar(c, n, p, out);
    }
    char *s = ts_agent__arena_alloc(c->arena, 2 * n->len + 2);
    if (!s)
        return nomem(c, n, p);
    size_t o = 0;
    s[o++] = '/';
    for (size_t i = 0; i < n->len; i++) {
        if (n->str[i] == '~' || n->str[i] == '/') {
            s[o++] = '~';
            s[o++] = n->str[i] == '~' ? '0' : '1';
        } else {
            s[o++] = n->str[i];
        }
    }
    *out = s;
    return TS_OK;
}

static ts_status walk_expiration(ts_agent__ctx *c, const ts_agent__node *n, const char *path,
                                 bool file_source, ts_agent_token_spec *t)
{
    static const char *const fields[] = {"source", "pointer", "format", "manual_ttl_seconds", NULL};
    static const char *const sources[] = {"json_body_field", "header_field", "manual", "self",
                                          NULL};
    static const char *const formats[] = {"seconds", "unix", "rfc3339", NULL};
    ts_agent_expiration *e = &t->expiration;
    ts_status s = ts_agent__want_map(c, n, path);
    if (s == TS_OK)
        s = ts_agent__fields(c, n, path, fields);
    int src = 0, fmt = 0;
    if (s == TS_OK)
        s = ts_agent__enum(c, n, path, "source", sources, -1, &src);
    if (s != TS_OK)
        return s;
    e->source = (ts_agent_exp_source)src;
    e->pointer = "";
    char p[TS_AGENT__PATH_MAX];
    ts_agent__path_key(p, sizeof p, path, "source");
    const ts_agent__node *sn = ts_agent__map_get(n, "source");
    if (file_source && e->source == TS_AGENT_EXP_HEADER_FIELD)
        return ts_agent__fail(c, sn, p, TS_EINVAL, "a file source has no headers");
    if (e->source == TS_AGENT_EXP_SELF && t->token_type != TS_AGENT_TOKEN_JWT)
        return ts_agent__fail(c, sn, p, TS_EINVAL, "'self' needs token_type jwt");
    bool field =
        e->source == TS_AGENT_EXP_JSON_BODY_FIELD || e->source == TS_AGENT_EXP_HEADER_FIELD;
    const ts_agent__node *ptr = ts_agent__opt(n, "pointer"), *f = ts_agent__opt(n, "format");
    const ts_agent__node *ttl = ts_agent__opt(n, "manual_ttl_seconds");
    if (!field && (ptr || f)) {
        ts_agent__path_key(p, sizeof p, path, ptr ? "pointer" : "format");
        return ts_agent__fail(c, ptr ? ptr : f, p, TS_EINVAL,
                              "goes with source json_body_field or header_field");
    }
    if (e->source != TS_AGENT_EXP_MANUAL && ttl) {
        ts_agent__path_key(p, sizeof p, path, "manual_ttl_seconds");
        return ts_agent__fail(c, ttl, p, TS_EINVAL, "goes with source manual");
    }
    if (field) {
        if (!ptr)
            return ts_agent__missing(c, n, path, "pointer");
        ts_agent__path_key(p, sizeof p, path, "pointer");
        if (e->source == TS_AGENT_EXP_HEADER_FIELD) {
            if (!ts_agent__header_name_ok(ptr->str, ptr->len) || ptr->kind != TS_AGENT__SCALAR)
                return ts_agent__fail(c, ptr, p, TS_EINVAL, "not a header name");
            s = ts_agent__scalar(c, ptr, p, &e->pointer);
        } else {
            s = json_pointer(c, ptr, p, &e->pointer);
        }
        if (s == TS_OK)
            s = ts_agent__enum(c, n, path, "format", formats, 0, &fmt);
        e->format = (ts_agent_time_format)fmt;
        return s;
    }
    if (e->source == TS_AGENT_EXP_MANUAL) {
        if (!ttl)
            return ts_agent__missing(c, n, path, "manual_ttl_seconds");
        return ts_agent__int(c, n, path, "manual_ttl_seconds", 1, 366LL * 86400, 0,
                             &e->manual_ttl_seconds);
    }
    return TS_OK;
}

static ts_status walk_token(ts_agent__ctx *c, const ts_agent__node *n, const char *path,
                            bool file_source, ts_agent_token_spec *t)
{
    static const char *const fields[] = {"id",         "parent",     "pointer",
                                         "token_type", "expiration", NULL};
    static const char *const parents[] = {"body", "header", NULL};
    static const char *const types[] = {"plain_text", "jwt", NULL};
    ts_status s = ts_agent__want_map(c, n, path);
    if (s == TS_OK)
        s = ts_agent__fields(c, n, path, fields);
    if (s == TS_OK)
        s = ts_agent__string(c, n, path, "id", NULL, &t->id);
    char p[TS_AGENT__PATH_MAX];
    ts_agent__path_key(p, sizeof p, path, "id");
    if (s == TS_OK && !ts_agent__id_ok(t->id, strlen(t->id)))
        s = ts_agent__fail(c, ts_agent__map_get(n, "id"), p, TS_EINVAL,
                           "must be 1-%u characters of A-Z a-z 0-9 _ -", TS_AGENT_MAX_ID);
    int parent = 0, type = 0;
    if (s == TS_OK)
        s = ts_agent__enum(c, n, path, "parent", parents, 0, &parent);
    if (s == TS_OK)
        s = ts_agent__enum(c, n, path, "token_type", types, 0, &type);
    if (s != TS_OK)
        return s;
    t->parent = (ts_agent_parent)parent;
    t->token_type = (ts_agent_token_type)type;
    t->line = n->line;
    t->col = n->col;
    t->pointer = "";
    const ts_agent__node *ptr = ts_agent__opt(n, "pointer");
    ts_agent__path_key(p, sizeof p, path, "pointer");
    if (t->parent == TS_AGENT_PARENT_HEADER) {
        if (file_source)
            return ts_agent__fail(c, ts_agent__map_get(n, "parent"), p, TS_EINVAL,
                                  "a file source has no headers");
        if (!ptr)
            return ts_agent__missing(c, n, path, "pointer");
        if (ptr->kind != TS_AGENT__SCALAR || !ts_agent__header_name_ok(ptr->str, ptr->len))
            return ts_agent__fail(c, ptr, p, TS_EINVAL, "not a header name");
        s = ts_agent__scalar(c, ptr, p, &t->pointer);
    } else if (ptr) {
        s = json_pointer(c, ptr, p, &t->pointer);
    }
    if (s != TS_OK)
        return s;
    const ts_agent__node *exp = ts_agent__opt(n, "expiration");
    ts_agent__path_key(p, sizeof p, path, "expiration");
    if (exp)
        return walk_expiration(c, exp, p, file_source, t);
    if (t->token_type != TS_AGENT_TOKEN_JWT)
        return ts_agent__fail(c, n, p, TS_EINVAL,
                              "required for a plain_text token (json_body_field, header_field "
                              "or manual)");
    t->expiration.source = TS_AGENT_EXP_SELF;
    t->expiration.pointer = "";
    return TS_OK;
}

ts_status ts_agent__walk_tokens(ts_agent__ctx *c, const ts_agent__node *n, const char *path,
                                bool file_source, ts_agent_source *src)
{
    static const char *const fields[] = {"tokens", NULL};
    ts_status s = ts_agent__want_map(c, n, path);
    if (s == TS_OK)
        s = ts_agent__fields(c, n, path, fields);
    if (s != TS_OK)
        return s;
    const ts_agent__node *list = ts_agent__opt(n, "tokens");
    char p[TS_AGENT__PATH_MAX];
    ts_agent__path_key(p, sizeof p, path, "tokens");
    if (!list)
        return ts_agent__missing(c, n, path, "tokens");
    if (list->kind != TS_AGENT__SEQ || list->n == 0)
        return ts_agent__fail(c, list, p, TS_EINVAL, "must be a list of at least one token");
    if (list->n > TS_AGENT_MAX_TOKENS)
        return ts_agent__fail(c, list, p, TS_ELIMIT, "more than %u tokens", TS_AGENT_MAX_TOKENS);
    ts_agent_token_spec *t = ts_agent__arena_array(c->arena, list->n, sizeof *t);
    if (!t)
        return nomem(c, list, p);
    for (size_t i = 0; i < list->n; i++) {
        char ip[TS_AGENT__PATH_MAX];
        ts_agent__path_index(ip, sizeof ip, p, i);
        s = walk_token(c, list->items[i], ip, file_source, &t[i]);
        if (s != TS_OK)
            return s;
        for (size_t j = 0; j < i; j++)
            if (strcmp(t[j].id, t[i].id) == 0) {
                char idp[TS_AGENT__PATH_MAX];
                ts_agent__path_key(idp, sizeof idp, ip, "id");
                return ts_agent__fail(c, ts_agent__map_get(list->items[i], "id"), idp, TS_EINVAL,
                                      "token id '%s' given twice in this source", t[i].id);
            }
    }
    src->tokens = t;
    src->n_tokens = list->n;
    return TS_OK;
}

ts_status ts_agent__walk_abs_path(ts_agent__ctx *c, const ts_agent__node *map, const char *path,
                                  const char *key, bool required, const char **out)
{
    const ts_agent__node *n = ts_agent__opt(map, key);
    *out = "";
    if (!n)
        return required ? ts_agent__missing(c, map, path, key) : TS_OK;
    char p[TS_AGENT__PATH_MAX];
    ts_agent__path_key(p, sizeof p, path, key);
    ts_status s = ts_agent__scalar(c, n, p, out);
    if (s != TS_OK)
        return s;
    if ((*out)[0] != '/' || n->len > TS_AGENT__FILE_PATH_MAX)
        return ts_agent__fail(c, n, p, TS_EINVAL, "must be an absolute path");
    if ((*out)[n->len - 1] == '/')
        return ts_agent__fail(c, n, p, TS_EINVAL, "must name a file, not a directory");
    return TS_OK;
}
