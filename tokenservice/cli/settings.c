/* The serve configuration of a command line: defaults < config file < variables < flags, the
 * rules across settings, and the --oidc-* shorthand for one upstream provider. */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <tokensmith/oidc.h>

/* Every setting given by @p src, in table order: listen before port, so that a port from the
 * same source replaces the port of that listen address. */
static int apply_layer(const ts_cli_args *a, ts_svc_config *c, ts_cli_src src)
{
    for (int id = 0; id < F_COUNT; id++) {
        const ts_cli_flag *f = &ts_cli_flags[id];
        const char *v = NULL;
        for (size_t i = 0; f->key && i < a->n; i++)
            if (a->v[i].id == (ts_cli_flag_id)id && a->v[i].src == src)
                v = a->v[i].text;
        if (!v)
            continue;
        char where[96];
        snprintf(where, sizeof where, "%s%s (%s)", src == TS_CLI_SRC_ENV ? "" : "--",
                 src == TS_CLI_SRC_ENV ? f->env : f->name, f->key);
        ts_error err;
        ts_error_clear(&err);
        if (ts_svc_config_set(c, f->key, v, where, &err) != TS_OK) {
            char line[512];
            ts_cli_format_error(&err, line, sizeof line);
            return ts_cli_usage_error(a->cmd, "%s", line);
        }
    }
    return TS_CLI_OK;
}

static const char *origin(const ts_cli_args *a, ts_cli_flag_id id, char *buf, size_t cap)
{
    if (ts_cli_source(a, id) == TS_CLI_SRC_NONE)
        return "the config file";
    return ts_cli_where(a, id, buf, cap);
}

/* A key file and a key directory together would leave one of them silently unused. */
static int check_keys(const ts_cli_args *a, const ts_svc_config *c)
{
    if (!c->key_file[0] || !c->key_dir[0])
        return TS_CLI_OK;
    char b1[96], b2[96];
    const char *kf = origin(a, F_KEY_FILE, b1, sizeof b1),
               *kd = origin(a, F_KEY_DIR, b2, sizeof b2);
    if (ts_cli_source(a, F_KEY_FILE) == TS_CLI_SRC_NONE &&
        ts_cli_source(a, F_KEY_DIR) == TS_CLI_SRC_NONE) {
        fprintf(stderr,
                "tokensmith: %s: keyFile and keyDir are both set in the config file: give "
                "one of them\n",
                a->cmd->name);
        return TS_CLI_FAIL;
    }
    return ts_cli_usage_error(a->cmd,
                              "keyFile (from %s) and keyDir (from %s) are both set: give one of "
                              "them (an empty flag or variable does not unset a value of the "
                              "config file)",
                              kf, kd);
}

static bool has_providers(const char *oidc)
{
    json_t *o = oidc[0] ? json_loads(oidc, 0, NULL) : NULL;
    bool any = json_array_size(json_object_get(o, "providers")) > 0;
    json_decref(o);
    return any;
}

/* --oidc-issuer, --oidc-client-id, --oidc-client-secret, --oidc-audience: the Go original's
 * single provider, written as the `oidc` member in ts_oidc's format. Its groups map through
 * groupScopes (the Go table unless the config file gives one) like every provider without
 * group_scopes of its own. */
static int oidc_shorthand(const ts_cli_args *a, ts_svc_config *c)
{
    const char *iss = ts_cli_get(a, F_OIDC_ISSUER), *id = ts_cli_get(a, F_OIDC_CLIENT_ID);
    const char *secret = ts_cli_get(a, F_OIDC_CLIENT_SECRET);
    const char *auds[TS_OIDC_MAX_LIST + 1];
    size_t na = ts_cli_all(a, F_OIDC_AUDIENCE, auds, TS_OIDC_MAX_LIST + 1);
    if (!iss && !id && !secret && !na)
        return TS_CLI_OK;
    if (!iss || !id || !na)
        return ts_cli_usage_error(a->cmd, "one upstream provider needs --oidc-issuer, "
                                          "--oidc-client-id (or OIDC_CLIENT_ID) and at least "
                                          "one --oidc-audience");
    if (na > TS_OIDC_MAX_LIST)
        return ts_cli_usage_error(a->cmd, "more than %u --oidc-audience values", TS_OIDC_MAX_LIST);
    if (has_providers(c->oidc))
        return ts_cli_usage_error(a->cmd, "--oidc-issuer and the config file's oidc member "
                                          "both configure providers: use one of them");
    json_t *p = json_object(), *list = json_array(), *doc = json_object(), *aud = json_array();
    json_object_set_new(p, "issuer", json_string(iss));
    json_object_set_new(p, "client_id", json_string(id));
    if (secret) { /* the original's only use of a secret: RFC 7662 introspection */
        json_object_set_new(p, "client_secret", json_string(secret));
        json_object_set_new(p, "introspection", json_true());
    }
    for (size_t i = 0; i < na; i++)
        json_array_append_new(aud, json_string(auds[i]));
    json_object_set_new(p, "audiences", aud);
    json_array_append_new(list, p);
    json_object_set_new(doc, "providers", list);
    char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (!text || strlen(text) >= sizeof c->oidc) {
        free(text);
        return ts_cli_usage_error(a->cmd, "the --oidc-* values are too long");
    }
    ts_error err;
    ts_error_clear(&err);
    ts_oidc_config *cfg = ts_oidc_config_parse(text, strlen(text), &err);
    int rc = TS_CLI_OK;
    if (!cfg) {
        char line[512];
        ts_cli_format_error(&err, line, sizeof line);
        rc = ts_cli_usage_error(a->cmd, "--oidc-*: %s", line);
    } else {
        memcpy(c->oidc, text, strlen(text) + 1);
    }
    ts_oidc_config_free(cfg);
    free(text);
    return rc;
}

int ts_cli_serve_config(const ts_cli_args *a, ts_svc_config *c)
{
    ts_error err;
    ts_error_clear(&err);
    ts_svc_config_defaults(c);
    const char *path = ts_cli_get(a, F_CONFIG);
    if (path && ts_svc_config_load_file(c, path, &err) != TS_OK) {
        ts_cli_report(a->cmd->name, &err);
        return TS_CLI_FAIL;
    }
    int rc = apply_layer(a, c, TS_CLI_SRC_ENV);
    if (rc == TS_CLI_OK)
        rc = apply_layer(a, c, TS_CLI_SRC_FLAG);
    if (rc == TS_CLI_OK)
        rc = check_keys(a, c);
    if (rc == TS_CLI_OK)
        rc = oidc_shorthand(a, c);
    if (rc != TS_CLI_OK)
        return rc;
    if (ts_svc_config_finish(c, &err) != TS_OK) {
        ts_cli_report(a->cmd->name, &err);
        return TS_CLI_FAIL;
    }
    return TS_CLI_OK;
}
