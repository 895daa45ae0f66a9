/* tokensmith bootstrap-token create: a one-time bootstrap token in the store. Everything is
 * checked before the store is opened, so that a refused command leaves no file behind. */
#define _DEFAULT_SOURCE /* tm_gmtoff */

#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include <tokensmith/store.h>

static void rfc3339_local(int64_t t, char *out, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    long off = tm.tm_gmtoff;
    if (off == 0) {
        snprintf(out + n, cap - n, "Z");
        return;
    }
    char sign = off < 0 ? '-' : '+';
    off = off < 0 ? -off : off;
    snprintf(out + n, cap - n, "%c%02ld:%02ld", sign, (off / 3600) % 100, (off % 3600) / 60);
}

/* Go's time.Duration form of whole seconds: 10m0s, 24h0m0s, 45s. */
static void go_duration(int64_t s, char *out, size_t cap)
{
    long long h = s / 3600, m = (s % 3600) / 60, sec = s % 60;
    if (h)
        snprintf(out, cap, "%lldh%lldm%llds", h, m, sec);
    else if (m)
        snprintf(out, cap, "%lldm%llds", m, sec);
    else
        snprintf(out, cap, "%llds", sec);
}

static void print_json(const char *token, const char *exp, const ts_store_bootstrap_record *rec)
{
    json_t *pol = json_object();
    json_object_set_new(pol, "audience", json_string(rec->audience));
    json_object_set_new(pol, "binding_identifier", json_string(rec->binding_id));
    json_object_set_new(pol, "refresh_ttl_seconds", json_integer(rec->refresh_ttl_s));
    json_t *arr = rec->scope[0] ? json_array() : json_null();
    for (const char *q = rec->scope; *q;) {
        size_t l = strcspn(q, " ");
        json_array_append_new(arr, json_stringn(q, l));
        q += l + (q[l] == ' ');
    }
    json_object_set_new(pol, "scopes", arr);
    json_object_set_new(pol, "subject", json_string(rec->subject));
    json_object_set_new(pol, "ttl_seconds", json_integer(rec->ttl_s));
    json_t *doc = json_object();
    json_object_set_new(doc, "bootstrap_token", json_string(token));
    json_object_set_new(doc, "expires_at", json_string(exp));
    json_object_set_new(doc, "policy", pol);
    char *out = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (out) {
        printf("%s\n", out);
        OPENSSL_cleanse(out, strlen(out));
        free(out);
    }
}

static void print_text(const char *token, const char *exp, const ts_store_bootstrap_record *rec)
{
    char scopes[TS_STORE_MAX_SCOPE_LEN * 2 + 1], d1[32], d2[32];
    size_t o = 0;
    for (const char *q = rec->scope; *q && o + 2 < sizeof scopes; q++) {
        if (*q == ' ')
            scopes[o++] = ',';
        scopes[o++] = *q;
    }
    scopes[o] = '\0';
    go_duration(rec->ttl_s, d1, sizeof d1);
    go_duration(rec->refresh_ttl_s, d2, sizeof d2);
    printf("Bootstrap Token: %s\n"
           "Expires At:      %s\n"
           "Subject:         %s\n"
           "Audience:        %s\n"
           "Scopes:          %s\n"
           "TTL:             %s\n"
           "Refresh TTL:     %s\n",
           token, exp, rec->subject, rec->audience, scopes, d1, d2);
    if (rec->binding_id[0])
        printf("Binding ID:      %s\n", rec->binding_id);
}

static ts_store_bootstrap_params params(const ts_cli_args *a, const char *scopes)
{
    ts_store_bootstrap_params p = {.subject = ts_cli_get(a, F_SUBJECT),
                                   .audience = ts_cli_get(a, F_BOOT_AUDIENCE),
                                   .scopes = scopes,
                                   .binding_id = ts_cli_get(a, F_BINDING_ID),
                                   .ttl_s = ts_cli_num(a, F_BOOT_TTL),
                                   .refresh_ttl_s = ts_cli_num(a, F_REFRESH_TTL),
                                   .now = (int64_t)time(NULL)};
    return p;
}

/* The store's own check (ts_store_bootstrap_params_check), run before the store is opened so
 * that a refused command writes nothing; the store checks again when it creates the token. */
static int validate(const ts_cli_args *a, char scope[TS_STORE_MAX_SCOPE_LEN + 1])
{
    static const char *const flags[][2] = {
        {"subject", "--subject"},
        {"audience", "--audience"},
        {"binding_id", "--binding-identifier"},
        {"scopes", "--scopes"},
        {"ttl", "--ttl"},
        {"refresh_ttl", "--refresh-ttl"},
    };
    ts_error err;
    ts_error_clear(&err);
    ts_store_bootstrap_params p = params(a, ts_cli_get(a, F_SCOPES));
    if (ts_store_bootstrap_params_check(NULL, &p, scope, &err) == TS_OK)
        return TS_CLI_OK;
    /* Name the flag the user typed rather than the store's field. */
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (strcmp(err.where, flags[i][0]) == 0)
            snprintf(err.where, sizeof err.where, "%s", flags[i][1]);
    char line[512];
    ts_cli_format_error(&err, line, sizeof line);
    return ts_cli_usage_error(a->cmd, "%s", line);
}

static int create(const ts_cli_args *a, const ts_svc_config *c, const char *scope)
{
    ts_error err;
    ts_error_clear(&err);
    ts_store_options so = TS_STORE_OPTIONS_INIT;
    so.path = c->store;
    so.max_connections = 1;
    ts_store *st = ts_store_new(&so, &err);
    if (!st) {
        ts_cli_report(a->cmd->name, &err);
        return TS_CLI_FAIL;
    }
    ts_store_bootstrap_params p = params(a, scope);
    char token[TS_STORE_TOKEN_LEN + 1];
    ts_store_bootstrap_record rec;
    ts_status s = ts_store_bootstrap_create(st, &p, token, &rec, &err);
    ts_store_free(st);
    if (s != TS_OK) {
        ts_cli_report(a->cmd->name, &err);
        return TS_CLI_FAIL;
    }
    char exp[48], hash[TS_STORE_HASH_LEN + 1], prefix[TS_STORE_PREFIX_LEN + 1] = "";
    rfc3339_local(rec.expires_at, exp, sizeof exp);
    if (strcmp(ts_cli_get_or_default(a, F_OUTPUT_FORMAT), "json") == 0)
        print_json(token, exp, &rec);
    else
        print_text(token, exp, &rec);
    fflush(stdout);
    if (ts_store_token_hash(token, TS_STORE_TOKEN_LEN, hash, &err) == TS_OK)
        ts_store_hash_prefix(hash, prefix);
    OPENSSL_cleanse(token, sizeof token);
    char where[TS_SVC_PATH];
    ts_store_path_redact(c->store, where, sizeof where); /* a conninfo may carry a password */
    fprintf(stderr,
            "\n\xe2\x9c\x93 Bootstrap token created successfully\n"
            "  Store path: %s\n"
            "  Token hash: %s...\n",
            where, prefix);
    return TS_CLI_OK;
}

static int run_bootstrap_create(const ts_cli_args *a)
{
    char scope[TS_STORE_MAX_SCOPE_LEN + 1];
    int rc = validate(a, scope);
    ts_svc_config *c = rc == TS_CLI_OK ? malloc(sizeof *c) : NULL;
    if (rc == TS_CLI_OK && !c) {
        fprintf(stderr, "tokensmith: %s: out of memory\n", a->cmd->name);
        rc = TS_CLI_FAIL;
    }
    if (rc == TS_CLI_OK)
        rc = ts_cli_serve_config(a, c);
    if (rc == TS_CLI_OK)
        rc = ts_cli_prepare_dirs(a->cmd->name, c, TS_CLI_DIR_STORE);
    if (rc == TS_CLI_OK)
        rc = create(a, c, scope);
    free(c);
    return rc;
}

static const ts_cli_use bootstrap_uses[] = {
    {F_SUBJECT, TS_CLI_REQUIRED},
    {F_BOOT_AUDIENCE, TS_CLI_REQUIRED},
    {F_SCOPES, 0},
    {F_BOOT_TTL, 0},
    {F_REFRESH_TTL, 0},
    {F_BINDING_ID, 0},
    {F_OUTPUT_FORMAT, 0},
    {F_STORE, 0},
    {F_BOOTSTRAP_STORE, 0},
    {F_CONFIG, 0},
    {F_HOME, 0},
    {F_COUNT, 0},
};

const ts_cli_command ts_cli_cmd_bootstrap_create = {
    .name = "bootstrap-token create",
    .summary = "create a one-time bootstrap token in the store",
    .about = "Create a one-time bootstrap token in the store (the SQLite file or PostgreSQL\n"
             "database `serve` uses; safe while it runs) and print it. Only its SHA-256 is\n"
             "stored. Everything is checked before the store is opened: a refused command writes\n"
             "nothing. The store is the one serve would use with the same flags, variables and\n"
             "config file.",
    .after = "Exit status: 0 created; 1 the config file or the store failed; 2 bad options.",
    .uses = bootstrap_uses,
    .opts = TS_CLI_SERVE_CONFIG,
    .run = run_bootstrap_create,
};
