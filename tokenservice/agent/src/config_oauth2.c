/* The two source types of ours: oauth2 (client credentials, RFC 8693 token exchange or a
 * refresh token, against any token endpoint) and tokensmith (a bootstrap token exchanged once,
 * then its refresh family, kept in a state file). Both yield one token, access_token. The
 * fields are plain data for the client library that runs the grant. */
#include "config_internal.h"

#include <string.h>

/* What both types expose: the access token of an OAuth token response. The refresh token is
 * never among a source's tokens, so no sink or template can name it. */
static const ts_agent_token_spec access_token = {
    .id = "access_token",
    .parent = TS_AGENT_PARENT_BODY,
    .pointer = "/access_token",
    .token_type = TS_AGENT_TOKEN_PLAIN_TEXT,
    .expiration = {.source = TS_AGENT_EXP_JSON_BODY_FIELD,
                   .pointer = "/expires_in",
                   .format = TS_AGENT_TIME_SECONDS},
};

/* Parameters the client sets itself: extra_params may not set them a second time. */
static const char *const reserved_params[] = {
    "grant_type",  "client_id",        "client_secret", "scope",
    "audience",    "resource",         "subject_token", "subject_token_type",
    "actor_token", "actor_token_type", "refresh_token", "requested_token_type",
    NULL};

static ts_status not_here(ts_agent__ctx *c, const ts_agent__node *n, const char *path,
                          const char *key, const char *why)
{
    const ts_agent__node *v = ts_agent__map_get(n, key);
    if (!v)
        return TS_OK;
    char p[TS_AGENT__PATH_MAX];
    ts_agent__path_key(p, sizeof p, path, key);
    return ts_agent__fail(c, v, p, TS_EINVAL, "%s", why);
}

/* An RFC 8693 token type: a URI, or a short name of urn:ietf:params:oauth:token-type:NAME. */
static ts_status token_type(ts_agent__ctx *c, const ts_agent__node *map, const char *path,
                            const char *key, bool required, const char **out)
{
    static const char *const short_names[] = {"access_token", "refresh_token", "id_token", "jwt",
                                              "saml1",        "saml2",         NULL};
    static const char urn[] = "urn:ietf:params:oauth:token-type:";
    const ts_agent__node *n = ts_agent__opt(map, key);
    *out = "";
    if (!n)
        return required ? ts_agent__missing(c, map, path, key) : TS_OK;
    char p[TS_AGENT__PATH_MAX];
    ts_agent__path_key(p, sizeof p, path, key);
    ts_status s = ts_agent__scalar(c, n, p, out);
    if (s != TS_OK)
        return s;
    for (size_t i = 0; short_names[i]; i++)
        if (strcmp(*out, short_names[i]) == 0) {
            size_t cap = sizeof urn + strlen(short_names[i]);
            char *full = ts_agent__arena_alloc(c->arena, cap);
            if (!full)
                return ts_agent__fail(c, n, p, TS_ENOMEM, "out of memory");
            snprintf(full, cap, "%s%s", urn, short_names[i]);
            *out = full;
            return TS_OK;
        }
    if (!strchr(*out, ':') || strchr(*out, ' '))
        return ts_agent__fail(c, n, p, TS_EINVAL,
                              "must be a URI or one of access_token, refresh_token, id_token, "
                              "jwt, saml1, saml2");
    return TS_OK;
}

static ts_status walk_scope(ts_agent__ctx *c, const ts_agent__node *n, const char *path,
                            ts_agent_oauth2_source *o)
{
    const char *const *list;
    size_t count;
    ts_status s = ts_agent__strings(c, n, path, "scope", TS_AGENT_MAX_FIELDS, &list, &count);
    if (s != TS_OK || count == 0) {
        o->scope = "";
        return s;
    }
    const ts_agent__node *sn = ts_agent__map_get(n, "scope");
    char p[TS_AGENT__PATH_MAX];
    ts_agent__path_key(p, sizeof p, path, "scope");
    size_t total = 0;
    for (size_t i = 0; i < count; i++) {
        /* RFC 6749 §3.3: a scope token is printable ASCII without space, quote or backslash;
         * a single string may hold several, separated by spaces. */
        for (const char *q = list[i]; *q; q++)
            if ((unsigned char)*q < 0x20 || (unsigned char)*q >= 0x7f || *q == '"' || *q == '\\' ||
                (*q == ' ' && sn->kind == TS_AGENT__SEQ))
                return ts_agent__fail(c, sn, p, TS_EINVAL, "not a valid scope (RFC 6749 3.3)");
        total += strlen(list[i]) + 1;
    }
    char *joined = ts_agent__arena_alloc(c->arena, total);
    if (!joined)
        return ts_agent__fail(c, sn, p, TS_ENOMEM, "out of memory");
    size_t at = 0;
    for (size_t i = 0; i < count; i++) {
        size_t l = strlen(list[i]);
        if (i)
            joined[at++] = ' ';
        memcpy(joined + at, list[i], l);
        at += l;
    }
    joined[at] = '\0';
    o->scope = joined;
    return TS_OK;
}

static ts_status walk_extra_params(ts_agent__ctx *c, const ts_agent__node *n, const char *path,
                                   ts_agent_oauth2_source *o)
{
    const ts_agent__node *m;
    char p[TS_AGENT__PATH_MAX];
    ts_agent_param *list;
    ts_status s =
        ts_agent__entries(c, n, path, "extra_params", p, &m, sizeof *list, (void **)&list);
    if (s != TS_OK || !m)
        return s;
    for (size_t i = 0; i < m->n; i++) {
        const ts_agent__node *k = m->items[2 * i];
        char ip[TS_AGENT__PATH_MAX];
        ts_agent__path_key(ip, sizeof ip, p, k->str);
        if (k->len == 0)
            return ts_agent__fail(c, k, ip, TS_EINVAL, "empty parameter name");
        for (size_t r = 0; reserved_params[r]; r++)
            if (strcmp(k->str, reserved_params[r]) == 0)
                return ts_agent__fail(c, k, ip, TS_EINVAL,
                                      "set by the grant itself: use the source's field");
        list[i].name = ts_agent__arena_strndup(c->arena, k->str, k->len);
        if (!list[i].name)
            return ts_agent__fail(c, k, ip, TS_ENOMEM, "out of memory");
        s = ts_agent__scalar(c, m->items[2 * i + 1], ip, &list[i].value);
        if (s != TS_OK)
            return s;
    }
    o->extra_params = list;
    o->n_extra_params = m->n;
    return TS_OK;
}

static ts_status walk_client(ts_agent__ctx *c, const ts_agent__node *n, const char *path,
                             ts_agent_oauth2_source *o)
{
    static const char *const auths[] = {"none", "client_secret_basic", "client_secret_post", NULL};
    ts_status s = ts_agent__string(c, n, path, "client_id", "", &o->client_id);
    if (s == TS_OK)
        s = ts_agent__walk_opt_value(c, n, path, "client_secret", TS_AGENT__VALUE_SECRET,
                                     &o->client_secret);
    int auth = o->client_secret ? TS_AGENT_CLIENT_AUTH_BASIC : TS_AGENT_CLIENT_AUTH_NONE;
    if (s == TS_OK)
        s = ts_agent__enum(c, n, path, "client_auth", auths, auth, &auth);
    if (s != TS_OK)
        return s;
    o->client_auth = (ts_agent_client_auth)auth;
    if (o->client_secret && !o->client_id[0])
        return ts_agent__missing(c, n, path, "client_id");
    if (o->client_auth != TS_AGENT_CLIENT_AUTH_NONE && !o->client_secret)
        return ts_agent__missing(c, n, path, "client_secret");
    if (o->client_auth == TS_AGENT_CLIENT_AUTH_NONE)
        return not_here(c, n, path, "client_secret",
                        "client_auth none sends no secret: remove it, or choose "
                        "client_secret_basic or client_secret_post");
    return TS_OK;
}

static ts_status walk_exchange(ts_agent__ctx *c, const ts_agent__node *n, const char *path,
                               ts_agent_oauth2_source *o)
{
    unsigned kinds = TS_AGENT__VALUE_ANY;
    if (o->grant != TS_AGENT_GRANT_TOKEN_EXCHANGE) {
        static const char *const only[] = {"subject_token", "subject_token_type", "actor_token",
                                           "actor_token_type", NULL};
        for (size_t i = 0; only[i]; i++) {
            ts_status s = not_here(c, n, path, only[i], "goes with grant_type token_exchange");
            if (s != TS_OK)
                return s;
        }
        return TS_OK;
    }
    if (!ts_agent__opt(n, "subject_token"))
        return ts_agent__missing(c, n, path, "subject_token");
    ts_status s = ts_agent__walk_opt_value(c, n, path, "subject_token", kinds, &o->subject_token);
    if (s == TS_OK)
        s = token_type(c, n, path, "subject_token_type", true, &o->subject_token_type);
    if (s == TS_OK)
        s = ts_agent__walk_opt_value(c, n, path, "actor_token", kinds, &o->actor_token);
    if (s == TS_OK)
        s = token_type(c, n, path, "actor_token_type", o->actor_token != NULL,
                       &o->actor_token_type);
    if (s == TS_OK && !o->actor_token)
        s = not_here(c, n, path, "actor_token_type", "goes with actor_token");
    return s;
}

static ts_status walk_refresh(ts_agent__ctx *c, const ts_agent__node *n, const char *path,
                              ts_agent_oauth2_source *o)
{
    o->state_file = "";
    if (o->grant != TS_AGENT_GRANT_REFRESH_TOKEN) {
        ts_status s = not_here(c, n, path, "refresh_token", "goes with grant_type refresh_token");
        if (s == TS_OK)
            s = not_here(c, n, path, "state_file", "goes with grant_type refresh_token");
        return s;
    }
    if (!ts_agent__opt(n, "refresh_token"))
        return ts_agent__missing(c, n, path, "refresh_token");
    ts_status s = ts_agent__walk_opt_value(c, n, path, "refresh_token", TS_AGENT__VALUE_SECRET,
                                           &o->refresh_token);
    if (s == TS_OK)
        s = ts_agent__walk_abs_path(c, n, path, "state_file", false, &o->state_file);
    return s;
}

ts_status ts_agent__walk_oauth2(ts_agent__ctx *c, const ts_agent__node *n, const char *path,
                                ts_agent_source *src)
{
    static const char *const grants[] = {"client_credentials", "token_exchange", "refresh_token",
                                         "urn:ietf:params:oauth:grant-type:token-exchange", NULL};
    ts_agent_oauth2_source *o = &src->oauth2;
    int grant = 0;
    ts_status s = ts_agent__walk_endpoint(c, n, path, "token_endpoint", &o->endpoint);
    if (s == TS_OK)
        s = ts_agent__enum(c, n, path, "grant_type", grants, -1, &grant);
    if (s != TS_OK)
        return s;
    o->grant = grant == 3 ? TS_AGENT_GRANT_TOKEN_EXCHANGE : (ts_agent_grant)grant;
    s = walk_client(c, n, path, o);
    if (s == TS_OK)
        s = walk_scope(c, n, path, o);
    if (s == TS_OK)
        s = ts_agent__strings(c, n, path, "audience", TS_AGENT_MAX_FIELDS, &o->audience,
                              &o->n_audience);
    if (s == TS_OK)
        s = ts_agent__strings(c, n, path, "resource", TS_AGENT_MAX_FIELDS, &o->resource,
                              &o->n_resource);
    for (size_t i = 0; s == TS_OK && i < o->n_resource; i++)
        if (!strchr(o->resource[i], ':') || strchr(o->resource[i], '#')) {
            char p[TS_AGENT__PATH_MAX];
            ts_agent__path_key(p, sizeof p, path, "resource");
            s = ts_agent__fail(c, ts_agent__map_get(n, "resource"), p, TS_EINVAL,
                               "a resource is an absolute URI without a fragment (RFC 8707)");
        }
    if (s == TS_OK)
        s = token_type(c, n, path, "requested_token_type", false, &o->requested_token_type);
    if (s == TS_OK)
        s = walk_exchange(c, n, path, o);
    if (s == TS_OK)
        s = walk_refresh(c, n, path, o);
    if (s == TS_OK)
        s = walk_extra_params(c, n, path, o);
    if (s == TS_OK && !o->subject_token_type)
        o->subject_token_type = "";
    if (!o->actor_token_type)
        o->actor_token_type = "";
    src->tokens = &access_token;
    src->n_tokens = 1;
    return s;
}

ts_status ts_agent__walk_tokensmith(ts_agent__ctx *c, const ts_agent__node *n, const char *path,
                                    ts_agent_source *src)
{
    ts_agent_tokensmith_source *t = &src->tokensmith;
    ts_status s = not_here(c, n, path, "inputs",
                           "a tokensmith source uses no other source (its bootstrap token is a "
                           "value, a file or an environment variable)");
    if (s == TS_OK)
        s = ts_agent__walk_endpoint(c, n, path, "token_endpoint", &t->endpoint);
    if (s == TS_OK)
        s = ts_agent__walk_opt_value(c, n, path, "bootstrap_token", TS_AGENT__VALUE_SECRET,
                                     &t->bootstrap_token);
    /* Without a state file a restart would lose the refresh family, and the bootstrap token,
     * spent at the first exchange, cannot start a new one. */
    if (s == TS_OK)
        s = ts_agent__walk_abs_path(c, n, path, "state_file", true, &t->state_file);
    src->tokens = &access_token;
    src->n_tokens = 1;
    return s;
}
