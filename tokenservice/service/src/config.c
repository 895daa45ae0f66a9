/* Configuration: defaults < config file < environment < flags. */
#define _POSIX_C_SOURCE 200809L

#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

typedef enum kind { K_STR, K_DUR, K_UINT, K_BOOL, K_INT } kind;

typedef struct setting {
    const char *key; /* config-file name */
    const char *env; /* environment variable, or NULL */
    kind kind;
    size_t off, cap; /* field offset; capacity for strings */
    int64_t min, max;
} setting;

#define S(key, env, field)                                                                         \
    {                                                                                              \
        key, env, K_STR, offsetof(ts_svc_config, field), sizeof(((ts_svc_config *)0)->field), 0, 0 \
    }
#define N(key, env, k, field, lo, hi)                                                              \
    {                                                                                              \
        key, env, k, offsetof(ts_svc_config, field), 0, lo, hi                                     \
    }

static const setting settings[] = {
    S("issuer", "TOKENSMITH_ISSUER", issuer),
    S("listen", "TOKENSMITH_LISTEN", listen),
    S("clusterId", "TOKENSMITH_CLUSTER_ID", cluster_id),
    S("openchamiId", "TOKENSMITH_OPENCHAMI_ID", openchami_id),
    S("home", "TOKENSMITH_HOME", home),
    S("keyDir", "TOKENSMITH_KEY_DIR", key_dir),
    S("keyFile", "TOKENSMITH_KEY_FILE", key_file),
    S("algorithm", "TOKENSMITH_ALG", algorithm),
    S("store", "TOKENSMITH_STORE", store),
    S("logFormat", "TOKENSMITH_LOG_FORMAT", log_format),
    S("trustedProxy", "TOKENSMITH_TRUSTED_PROXY", trusted_proxy),
    S("adminListen", "TOKENSMITH_ADMIN_LISTEN", admin_listen),
    N("accessTokenTTL", "TOKENSMITH_ACCESS_TTL", K_DUR, access_ttl_s, 60, 86400),
    N("redeemRetryGrace", NULL, K_DUR, redeem_retry_grace_s, 0, 3600),
    N("threads", NULL, K_UINT, threads, 1, 256),
    N("maxBodyBytes", NULL, K_UINT, max_body_bytes, 1024, 65536),
    N("maxHeaderBytes", NULL, K_UINT, max_header_bytes, 4096, 1048576),
    N("connectionTimeout", NULL, K_UINT, connection_timeout_s, 1, 600),
    N("maxConnections", NULL, K_UINT, max_connections, 1, 100000),
    N("claims.nist", NULL, K_BOOL, nist_claims, 0, 1),
    S("claims.authLevel", NULL, auth_level),
    N("claims.authFactors", NULL, K_INT, auth_factors, 0, 16),
    S("claims.tokenType", NULL, token_type),
};

const char *ts_svc_default_home(void)
{
    const char *h = getenv("TOKENSMITH_HOME");
    return (h && *h) ? h : "./tokensmith-data";
}

void ts_svc_config_defaults(ts_svc_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->issuer, sizeof c->issuer, "http://127.0.0.1:8080");
    snprintf(c->listen, sizeof c->listen, "127.0.0.1:8080");
    snprintf(c->cluster_id, sizeof c->cluster_id, "cl-F00F00F00");
    snprintf(c->openchami_id, sizeof c->openchami_id, "oc-F00F00F00");
    snprintf(c->log_format, sizeof c->log_format, "json");
    c->access_ttl_s = 3600;
    c->threads = 16; /* requests waiting on one commit share its fsync (store group commit) */
    c->max_body_bytes = 16384;
    c->max_header_bytes = 32768;
    c->connection_timeout_s = 30;
    c->max_connections = 1024;
    c->nist_claims = true;
    snprintf(c->auth_level, sizeof c->auth_level, "IAL2");
    c->auth_factors = 2;
    snprintf(c->token_type, sizeof c->token_type, "JWT");
    static const char *const g[][2] = {{"admin", "admin write read"},
                                       {"operator", "write read"},
                                       {"viewer", "read"},
                                       {"user", "read"}};
    for (unsigned i = 0; i < 4; i++) {
        snprintf(c->groups[i], sizeof c->groups[i], "%s", g[i][0]);
        snprintf(c->group_scopes[i], sizeof c->group_scopes[i], "%s", g[i][1]);
    }
    c->n_groups = 4;
}

bool ts_svc_parse_duration(const char *s, int64_t *out_s)
{
    if (!s || !*s)
        return false;
    const int64_t cap = 10LL * 366 * 86400;
    bool digits_only = true;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p))
            digits_only = false;
    if (digits_only) {
        if (strlen(s) > 12)
            return false;
        *out_s = strtoll(s, NULL, 10);
        return *out_s <= cap;
    }
    int64_t total = 0;
    const char *p = s;
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return false;
        int64_t v = 0;
        int nd = 0;
        while (isdigit((unsigned char)*p)) {
            if (++nd > 12)
                return false;
            v = v * 10 + (*p++ - '0');
        }
        int64_t unit;
        if (*p == 'h')
            unit = 3600;
        else if (*p == 'm')
            unit = 60;
        else if (*p == 's')
            unit = 1;
        else
            return false;
        p++;
        if (v > cap / unit)
            return false;
        total += v * unit;
        if (total > cap)
            return false;
    }
    *out_s = total;
    return true;
}

static const setting *find(const char *key)
{
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
        if (strcmp(settings[i].key, key) == 0)
            return &settings[i];
    return NULL;
}

static ts_status set_one(ts_svc_config *c, const setting *st, const char *value, const char *where,
                         ts_error *err)
{
    char *base = (char *)c;
    switch (st->kind) {
    case K_STR: {
        size_t l = strlen(value);
        if (l >= st->cap)
            return ts_error_set(err, TS_EINVAL, where, "value longer than %zu bytes", st->cap - 1);
        for (size_t i = 0; i < l; i++)
            if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
                return ts_error_set(err, TS_EINVAL, where, "control character in value");
        memcpy(base + st->off, value, l + 1);
        return TS_OK;
    }
    case K_DUR: {
        int64_t v;
        if (!ts_svc_parse_duration(value, &v) || v < st->min || v > st->max)
            return ts_error_set(err, TS_EINVAL, where,
                                "'%s' is not a duration between %llds and %llds", value,
                                (long long)st->min, (long long)st->max);
        memcpy(base + st->off, &v, sizeof v);
        return TS_OK;
    }
    case K_UINT:
    case K_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (!*value || *end || errno || v < st->min || v > st->max)
            return ts_error_set(err, TS_EINVAL, where, "'%s' is not an integer in %lld..%lld",
                                value, (long long)st->min, (long long)st->max);
        if (st->kind == K_UINT) {
            unsigned u = (unsigned)v;
            memcpy(base + st->off, &u, sizeof u);
        } else {
            int i = (int)v;
            memcpy(base + st->off, &i, sizeof i);
        }
        return TS_OK;
    }
    case K_BOOL: {
        bool b;
        if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0)
            b = true;
        else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0)
            b = false;
        else
            return ts_error_set(err, TS_EINVAL, where, "'%s' is not true or false", value);
        memcpy(base + st->off, &b, sizeof b);
        return TS_OK;
    }
    }
    return TS_EINTERNAL;
}

ts_status ts_svc_config_set(ts_svc_config *c, const char *key, const char *value, ts_error *err)
{
    const setting *st = find(key);
    if (!st)
        return ts_error_set(err, TS_ENOTFOUND, key, "unknown setting");
    return set_one(c, st, value, key, err);
}

static ts_status load_groups(ts_svc_config *c, json_t *obj, const char *path, ts_error *err)
{
    char where[TS_SVC_PATH + 64];
    if (!json_is_object(obj)) {
        snprintf(where, sizeof where, "%s: groupScopes", path);
        return ts_error_set(err, TS_EINVAL, where, "must be an object");
    }
    c->n_groups = 0;
    const char *g;
    json_t *arr;
    json_object_foreach(obj, g, arr)
    {
        snprintf(where, sizeof where, "%s: groupScopes.%s", path, g);
        if (c->n_groups == TS_SVC_MAX_GROUPS)
            return ts_error_set(err, TS_ELIMIT, where, "more than %d groups", TS_SVC_MAX_GROUPS);
        if (!*g || strlen(g) >= sizeof c->groups[0])
            return ts_error_set(err, TS_EINVAL, where, "empty or overlong group name");
        if (!json_is_array(arr))
            return ts_error_set(err, TS_EINVAL, where, "must be an array of scope strings");
        char *out = c->group_scopes[c->n_groups];
        size_t o = 0;
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v)
        {
            const char *sc = json_string_value(v);
            if (!sc || !*sc || strpbrk(sc, " \t\r\n\"\\"))
                return ts_error_set(err, TS_EINVAL, where, "element %zu is not a scope token", i);
            size_t l = strlen(sc);
            if (o + l + 2 > sizeof c->group_scopes[0])
                return ts_error_set(err, TS_ELIMIT, where, "scopes too long");
            if (o)
                out[o++] = ' ';
            memcpy(out + o, sc, l);
            o += l;
        }
        out[o] = '\0';
        snprintf(c->groups[c->n_groups], sizeof c->groups[0], "%s", g);
        c->n_groups++;
    }
    return TS_OK;
}

static ts_status load_object(ts_svc_config *c, json_t *obj, const char *prefix, const char *path,
                             ts_error *err)
{
    const char *k;
    json_t *v;
    char where[TS_SVC_PATH + 96];
    json_object_foreach(obj, k, v)
    {
        if (strncmp(k, "//", 2) == 0)
            continue; /* comment members of the generated file */
        char full[64];
        snprintf(full, sizeof full, "%s%s", prefix, k);
        snprintf(where, sizeof where, "%s: %s", path, full);
        if (!*prefix && strcmp(k, "groupScopes") == 0) {
            ts_status st = load_groups(c, v, path, err);
            if (st != TS_OK)
                return st;
            continue;
        }
        if (!*prefix && strcmp(k, "oidc") == 0) {
            if (!json_is_object(v))
                return ts_error_set(err, TS_EINVAL, where, "must be an object");
            char *t = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
            if (!t)
                return ts_error_set(err, TS_ENOMEM, where, "out of memory");
            size_t tl = strlen(t);
            if (tl >= sizeof c->oidc) {
                free(t);
                return ts_error_set(err, TS_ELIMIT, where, "larger than %zu bytes",
                                    sizeof c->oidc - 1);
            }
            memcpy(c->oidc, t, tl + 1);
            free(t);
            continue;
        }
        if (!*prefix && strcmp(k, "claims") == 0) {
            if (!json_is_object(v))
                return ts_error_set(err, TS_EINVAL, where, "must be an object");
            ts_status st = load_object(c, v, "claims.", path, err);
            if (st != TS_OK)
                return st;
            continue;
        }
        const setting *st = find(full);
        if (!st)
            return ts_error_set(err, TS_EINVAL, where, "unknown setting");
        char buf[64];
        const char *text;
        if (json_is_string(v)) {
            text = json_string_value(v);
        } else if (json_is_integer(v) && st->kind != K_STR && st->kind != K_BOOL) {
            snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
            text = buf;
        } else if (json_is_boolean(v) && st->kind == K_BOOL) {
            text = json_is_true(v) ? "true" : "false";
        } else {
            return ts_error_set(err, TS_EINVAL, where, "wrong JSON type");
        }
        ts_status s = set_one(c, st, text, where, err);
        if (s != TS_OK)
            return s;
    }
    return TS_OK;
}

ts_status ts_svc_config_load_buffer(ts_svc_config *c, const char *text, size_t len,
                                    const char *name, ts_error *err)
{
    if (len > TS_SVC_CONFIG_MAX_BYTES)
        return ts_error_set(err, TS_ELIMIT, name, "configuration larger than %u bytes",
                            TS_SVC_CONFIG_MAX_BYTES);
    if (memchr(text, '\0', len))
        return ts_error_set(err, TS_EPARSE, name, "the configuration contains a NUL byte");
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        char where[TS_SVC_PATH + 32];
        snprintf(where, sizeof where, "%s:%d", name, je.line);
        return ts_error_set(err, TS_EPARSE, where, "%s", je.text);
    }
    ts_status st;
    if (!json_is_object(root))
        st = ts_error_set(err, TS_EPARSE, name, "the configuration must be a JSON object");
    else
        st = load_object(c, root, "", name, err);
    json_decref(root);
    return st;
}

ts_status ts_svc_config_load_file(ts_svc_config *c, const char *path, ts_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ts_error_set(err, TS_EIO, path, "cannot open: %s", strerror(errno));
    char *buf = malloc(TS_SVC_CONFIG_MAX_BYTES + 1);
    size_t len = buf ? fread(buf, 1, TS_SVC_CONFIG_MAX_BYTES + 1, f) : 0;
    bool failed = buf && ferror(f);
    fclose(f);
    ts_status st;
    if (!buf)
        st = ts_error_set(err, TS_ENOMEM, path, "out of memory");
    else if (failed)
        st = ts_error_set(err, TS_EIO, path, "read error");
    else
        st = ts_svc_config_load_buffer(c, buf, len, path, err);
    free(buf);
    return st;
}

ts_status ts_svc_config_apply_env(ts_svc_config *c, ts_error *err)
{
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        const char *v = settings[i].env ? getenv(settings[i].env) : NULL;
        if (!v || !*v)
            continue;
        ts_status st = set_one(c, &settings[i], v, settings[i].env, err);
        if (st != TS_OK)
            return st;
    }
    const char *port = getenv("TOKENSMITH_PORT");
    if (port && *port)
        return ts_svc_config_set_port(c, port, "TOKENSMITH_PORT", err);
    return TS_OK;
}

ts_status ts_svc_config_set_port(ts_svc_config *c, const char *port, const char *where,
                                 ts_error *err)
{
    char *end;
    errno = 0;
    long p = strtol(port, &end, 10);
    if (!*port || *end || errno || p < 0 || p > 65535)
        return ts_error_set(err, TS_EINVAL, where, "'%s' is not a port number", port);
    const char *colon = strrchr(c->listen, ':');
    size_t hl = colon ? (size_t)(colon - c->listen) : strlen(c->listen);
    char host[TS_SVC_STR];
    snprintf(host, sizeof host, "%.*s", (int)hl, c->listen);
    int n = snprintf(c->listen, sizeof c->listen, "%s:%ld", host, p);
    if (n < 0 || (size_t)n >= sizeof c->listen)
        return ts_error_set(err, TS_EINVAL, where, "listen address too long");
    return TS_OK;
}

ts_status ts_svc_config_finish(ts_svc_config *c, ts_error *err)
{
    if (!c->home[0])
        snprintf(c->home, sizeof c->home, "%s", ts_svc_default_home());
    int n;
    if (!c->key_file[0] && !c->key_dir[0]) {
        n = snprintf(c->key_dir, sizeof c->key_dir, "%s/keys", c->home);
        if (n < 0 || (size_t)n >= sizeof c->key_dir)
            return ts_error_set(err, TS_EINVAL, "home", "path too long");
    }
    if (!c->store[0]) {
        n = snprintf(c->store, sizeof c->store, "%s/tokensmith.db", c->home);
        if (n < 0 || (size_t)n >= sizeof c->store)
            return ts_error_set(err, TS_EINVAL, "home", "path too long");
    }
    if (strcmp(c->log_format, "json") != 0 && strcmp(c->log_format, "text") != 0)
        return ts_error_set(err, TS_EINVAL, "logFormat", "'%s' is not json or text", c->log_format);
    if (c->algorithm[0] && strcmp(c->algorithm, "PS256") != 0 &&
        strcmp(c->algorithm, "RS256") != 0 && strcmp(c->algorithm, "ES256") != 0 &&
        strcmp(c->algorithm, "ES384") != 0)
        return ts_error_set(err, TS_EINVAL, "algorithm", "'%s' is not PS256, RS256, ES256 or ES384",
                            c->algorithm);
    if (!c->issuer[0])
        return ts_error_set(err, TS_EINVAL, "issuer", "must not be empty");
    if (strcmp(c->token_type, "JWT") != 0 && strcmp(c->token_type, "at+jwt") != 0)
        return ts_error_set(err, TS_EINVAL, "claims.tokenType", "'%s' is not JWT or at+jwt",
                            c->token_type);
    if (c->nist_claims && !c->auth_level[0])
        return ts_error_set(err, TS_EINVAL, "claims.authLevel", "must not be empty");
    if (c->admin_listen[0] && !ts_svc_listen_is_local(c->admin_listen))
        return ts_error_set(err, TS_EINVAL, "adminListen",
                            "'%s' is neither a loopback HOST:PORT nor unix:PATH", c->admin_listen);
    return TS_OK;
}

bool ts_svc_listen_is_local(const char *listen)
{
    if (strncmp(listen, "unix:", 5) == 0)
        return listen[5] == '/';
    char host[TS_SVC_STR];
    if (listen[0] == '[') {
        const char *rb = strchr(listen, ']');
        if (!rb || rb[1] != ':' || (size_t)(rb - listen) >= sizeof host)
            return false;
        snprintf(host, sizeof host, "%.*s", (int)(rb - listen - 1), listen + 1);
        return strcmp(host, "::1") == 0;
    }
    const char *colon = strrchr(listen, ':');
    if (!colon || (size_t)(colon - listen) >= sizeof host)
        return false;
    snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
    if (strcmp(host, "localhost") == 0)
        return true;
    unsigned a, b, cc, d;
    char extra;
    return sscanf(host, "%u.%u.%u.%u%c", &a, &b, &cc, &d, &extra) == 4 && a == 127 && b < 256 &&
           cc < 256 && d < 256;
}

void ts_svc_config_write_template(FILE *out)
{
    fputs(
        "{\n"
        "  \"//\": \"tokensmith serve configuration. Precedence: flag > environment > this file > "
        "built-in default. Members named // are comments. See docs/configuration.md.\",\n"
        "  \"// issuer\": \"iss of issued tokens; also the base of the metadata URLs\",\n"
        "  \"issuer\": \"http://127.0.0.1:8080\",\n"
        "  \"// listen\": \"HOST:PORT to listen on (port 0 = any free port)\",\n"
        "  \"listen\": \"127.0.0.1:8080\",\n"
        "  \"clusterId\": \"cl-F00F00F00\",\n"
        "  \"openchamiId\": \"oc-F00F00F00\",\n"
        "  \"// home\": \"state directory; empty = $TOKENSMITH_HOME or ./tokensmith-data\",\n"
        "  \"home\": \"\",\n"
        "  \"// keyDir\": \"signing keys (*.pem); empty = <home>/keys; active.pem or the newest "
        "file signs\",\n"
        "  \"keyDir\": \"\",\n"
        "  \"// keyFile\": \"one key file instead of keyDir (generated when absent)\",\n"
        "  \"keyFile\": \"\",\n"
        "  \"// algorithm\": \"PS256, RS256, ES256 or ES384; empty = PS256 for new keys\",\n"
        "  \"algorithm\": \"\",\n"
        "  \"// store\": \"SQLite database; empty = <home>/tokensmith.db\",\n"
        "  \"store\": \"\",\n"
        "  \"logFormat\": \"json\",\n"
        "  \"// trustedProxy\": \"peer address whose X-Forwarded-For names the client\",\n"
        "  \"trustedProxy\": \"\",\n"
        "  \"// adminListen\": \"admin API (/admin/oidc/config): loopback HOST:PORT or "
        "unix:PATH; empty = off\",\n"
        "  \"adminListen\": \"\",\n"
        "  \"accessTokenTTL\": \"1h\",\n"
        "  \"// redeemRetryGrace\": \"lost-response retry window for bootstrap tokens; 0 = "
        "strictly single use\",\n"
        "  \"redeemRetryGrace\": \"0s\",\n"
        "  \"threads\": 16,\n"
        "  \"maxBodyBytes\": 16384,\n"
        "  \"maxHeaderBytes\": 32768,\n"
        "  \"connectionTimeout\": 30,\n"
        "  \"maxConnections\": 1024,\n"
        "  \"// claims\": \"claims of issued access tokens\",\n"
        "  \"claims\": {\n"
        "    \"// nist\": \"add auth_level, auth_factors, auth_methods, session_id, session_exp, "
        "auth_events\",\n"
        "    \"nist\": true,\n"
        "    \"authLevel\": \"IAL2\",\n"
        "    \"authFactors\": 2,\n"
        "    \"tokenType\": \"JWT\"\n"
        "  },\n"
        "  \"// groupScopes\": \"upstream group -> scopes, for the upstream OIDC exchange\",\n"
        "  \"groupScopes\": {\n"
        "    \"admin\": [\"admin\", \"write\", \"read\"],\n"
        "    \"operator\": [\"write\", \"read\"],\n"
        "    \"viewer\": [\"read\"],\n"
        "    \"user\": [\"read\"]\n"
        "  },\n"
        "  \"// oidc\": \"upstream OpenID providers for the token exchange (docs/oidc.md); "
        "a provider without group_scopes uses groupScopes\",\n"
        "  \"oidc\": {\"providers\": []}\n"
        "}\n",
        out);
}
