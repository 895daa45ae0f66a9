/* The serve configuration as a file: generate-config and serve --print-config. Every setting of
 * the flag table is written, with its help, bounds, flag and variable as a "// name" member. */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include <tokensmith/store.h>

static void put_string(FILE *out, const char *s)
{
    json_t *j = json_string(s);
    char *t = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    fputs(t ? t : "\"\"", out);
    free(t);
    json_decref(j);
}

static void put_comment(FILE *out, const char *indent, const char *name, const ts_cli_flag *f)
{
    char bounds[96], text[1024], key[80];
    ts_cli_bounds(&f->spec, bounds, sizeof bounds);
    snprintf(text, sizeof text, "%s. Bounds: %s. Flag --%s, variable %s.", f->help, bounds, f->name,
             f->env);
    snprintf(key, sizeof key, "// %s", name);
    fputs(indent, out);
    put_string(out, key);
    fputs(": ", out);
    put_string(out, text);
    fputs(",\n", out);
}

static bool is_text(ts_svc_kind k)
{
    return k != TS_SVC_K_DUR && k != TS_SVC_K_UINT && k != TS_SVC_K_INT && k != TS_SVC_K_BOOL &&
           k != TS_SVC_K_PORT;
}

static void put_value(FILE *out, const ts_svc_config *c, const ts_cli_flag *f)
{
    char text[TS_SVC_PATH];
    if (ts_svc_config_get(c, f->key, text, sizeof text, NULL) != TS_OK)
        text[0] = '\0';
    if (f->spec.kind == TS_SVC_K_STORE) { /* a conninfo's password, like a client secret */
        char plain[TS_SVC_PATH];
        memcpy(plain, text, sizeof plain);
        ts_store_path_redact(plain, text, sizeof text);
        OPENSSL_cleanse(plain, sizeof plain);
    }
    if (f->spec.kind == TS_SVC_K_DUR) {
        ts_cli_duration(strtoll(text, NULL, 10), text, sizeof text);
        put_string(out, text);
    } else if (is_text(f->spec.kind)) {
        put_string(out, text);
    } else {
        fputs(text, out);
    }
}

static void put_groups(FILE *out, const ts_svc_config *c, bool comments)
{
    if (comments)
        fputs("  \"// groupScopes\": \"upstream group -> scopes, for every upstream provider "
              "without group_scopes of its own (the default is the Go original's table)\",\n",
              out);
    fputs("  \"groupScopes\": {", out);
    for (unsigned g = 0; g < c->n_groups; g++) {
        fputs(g ? ",\n    " : "\n    ", out);
        put_string(out, c->groups[g]);
        fputs(": [", out);
        const char *s = c->group_scopes[g];
        for (bool first = true; *s; first = false) {
            size_t l = strcspn(s, " ");
            char one[TS_SVC_STR];
            snprintf(one, sizeof one, "%.*s", (int)l, s);
            fputs(first ? "" : ", ", out);
            put_string(out, one);
            s += l;
            s += strspn(s, " ");
        }
        fputs("]", out);
    }
    fputs(c->n_groups ? "\n  },\n" : "},\n", out);
}

/* Client secrets never leave through a written configuration. */
static void put_oidc(FILE *out, const ts_svc_config *c, bool comments)
{
    if (comments)
        fputs("  \"// oidc\": \"upstream OpenID providers for the token exchange "
              "(docs/oidc.md); the --oidc-* flags give one provider instead\",\n",
              out);
    json_t *o = c->oidc[0] ? json_loads(c->oidc, 0, NULL) : NULL;
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(o, "providers"), i, p)
    {
        if (json_object_get(p, "client_secret"))
            json_object_set_new(p, "client_secret", json_string("********"));
    }
    /* One line, with the spaces of the rest of the file. */
    char *t = o ? json_dumps(o, JSON_INDENT(0) | JSON_PRESERVE_ORDER) : NULL;
    fprintf(out, "  \"oidc\": %s,\n", t ? t : "{\"providers\": []}");
    free(t);
    json_decref(o);
}

/* The same for the clients of /oauth/revoke and /oauth/introspect. */
static void put_clients(FILE *out, const ts_svc_config *c, bool comments)
{
    if (comments)
        fputs("  \"// clients\": \"registered clients of /oauth/revoke and /oauth/introspect: "
              "[{client_id, client_secret or client_secret_file, introspect, revoke_any}] "
              "(docs/revocation.md)\",\n",
              out);
    json_t *o = c->clients[0] ? json_loads(c->clients, 0, NULL) : NULL;
    size_t i;
    json_t *p;
    json_array_foreach(o, i, p)
    {
        if (json_object_get(p, "client_secret"))
            json_object_set_new(p, "client_secret", json_string("********"));
    }
    char *t = o ? json_dumps(o, JSON_INDENT(0) | JSON_PRESERVE_ORDER) : NULL;
    fprintf(out, "  \"clients\": %s", t ? t : "[]");
    free(t);
    json_decref(o);
}

/* The mTLS mapping rules, when there are any: a printed configuration loads back with them. */
static void put_service_identity(FILE *out, const ts_svc_config *c, bool comments)
{
    if (!c->service_identity[0])
        return;
    fputs(",\n", out);
    if (comments)
        fputs("  \"// serviceIdentity\": \"mapping rules of /service-identity/session: "
              "{rules: [{kind, exact|prefix|glob, audience, subject, scopes, roles}]} "
              "(docs/mtls.md)\",\n",
              out);
    fprintf(out, "  \"serviceIdentity\": %s", c->service_identity);
}

ts_status ts_cli_write_config(FILE *out, const ts_svc_config *c, bool comments, ts_error *err)
{
    fputs("{\n", out);
    if (comments)
        fputs("  \"//\": \"tokensmith serve configuration. Precedence: flag > environment > "
              "this file > built-in default. Members named // are comments. See "
              "docs/configuration.md.\",\n",
              out);
    size_t open = 0; /* length of the object member being written ("claims"), or 0 */
    const char *object = "";
    for (int id = 0; id < F_SERVE_END; id++) {
        const ts_cli_flag *f = &ts_cli_flags[id];
        const char *dot = strchr(f->key, '.');
        size_t ol = dot ? (size_t)(dot - f->key) : 0;
        if (open && (ol != open || strncmp(object, f->key, ol) != 0)) {
            fputs("\n  },\n", out);
            open = 0;
        }
        if (dot && !open) {
            fprintf(out, "  \"%.*s\": {\n", (int)ol, f->key);
            open = ol;
            object = f->key;
        } else if (open) {
            fputs(",\n", out);
        }
        const char *indent = open ? "    " : "  ", *name = dot ? dot + 1 : f->key;
        if (comments)
            put_comment(out, indent, name, f);
        if (f->spec.kind == TS_SVC_K_PORT)
            continue; /* no value of its own: it rewrites listen */
        fprintf(out, "%s\"%s\": ", indent, name);
        put_value(out, c, f);
        if (!open)
            fputs(",\n", out);
    }
    if (open)
        fputs("\n  },\n", out);
    put_groups(out, c, comments);
    put_oidc(out, c, comments);
    put_clients(out, c, comments);
    put_service_identity(out, c, comments);
    fputs("\n}\n", out);
    if (fflush(out) != 0 || ferror(out))
        return ts_error_set(err, TS_EIO, "configuration", "write failed: %s", strerror(errno));
    return TS_OK;
}
