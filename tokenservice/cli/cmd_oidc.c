/* tokensmith oidc status | configure: the client of the service's admin API. */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "admin_http.h"

#define MAX_RESPONSE (1024u * 1024u)

static void print_provider(json_t *p)
{
    printf("Issuer: %s\n", json_string_value(json_object_get(p, "issuer")));
    printf("  Client ID: %s\n", json_string_value(json_object_get(p, "client_id")));
    const char *name = json_string_value(json_object_get(p, "name"));
    if (name)
        printf("  Name: %s\n", name);
    const char *tmpl = json_string_value(json_object_get(p, "subject_template"));
    if (tmpl)
        printf("  Subject template: %s\n", tmpl);
    const char *lists[] = {"audiences", "resources"};
    for (size_t l = 0; l < 2; l++) {
        printf("  %c%s:", lists[l][0] - 32, lists[l] + 1);
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(p, lists[l]), i, v)
        {
            printf(" %s", json_string_value(v));
        }
        putchar('\n');
    }
    json_t *gs = json_object_get(p, "group_scopes");
    const char *k;
    json_t *v;
    json_object_foreach(gs, k, v)
    {
        printf("  Group %s:", k);
        size_t i;
        json_t *sc;
        json_array_foreach(v, i, sc)
        {
            printf(" %s", json_string_value(sc));
        }
        putchar('\n');
    }
    printf("  Introspection: %s\n",
           json_is_true(json_object_get(p, "introspection")) ? "true" : "false");
}

static void print_state(json_t *oidc)
{
    printf("Configured: %s\n",
           json_is_true(json_object_get(oidc, "configured")) ? "true" : "false");
    printf("Source: %s\n", json_string_value(json_object_get(oidc, "source")));
    /* The version to pass as --expected-version; a service that predates versions sends none. */
    json_t *ver = json_object_get(oidc, "version");
    if (json_is_integer(ver))
        printf("Version: %lld\n", (long long)json_integer_value(ver));
    printf("Local User Mint Enabled: %s\n",
           json_is_true(json_object_get(oidc, "local_user_mint_enabled")) ? "true" : "false");
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(oidc, "providers"), i, p)
    {
        print_provider(p);
    }
}

static json_t *split_list(const char *s)
{
    json_t *a = json_array();
    while (s && *s) {
        size_t l = strcspn(s, ",");
        if (l)
            json_array_append_new(a, json_stringn(s, l));
        s += l;
        if (*s == ',')
            s++;
    }
    return a;
}

/* A 409 is either an issuer that is already configured (the request lacked replace_existing)
 * or a version conflict: the configuration changed after the version the request was based on.
 * The service marks the second with "version_conflict": true. */
static bool is_version_conflict(const json_t *doc)
{
    return json_is_true(json_object_get(doc, "version_conflict"));
}

static int run(const char *url, const char *ca_file, const char *method, const char *body,
               bool configure)
{
    ts_cli_http_request rq = {.url = url,
                              .ca_file = ca_file,
                              .allow_unix = true,
                              .method = method,
                              .path = "/admin/oidc/config",
                              .body = body,
                              .max_answer = MAX_RESPONSE};
    ts_cli_http_answer ans;
    ts_cli_http_call(&rq, &ans);
    int status = ans.status;
    char *resp = ans.body;
    if (status == 0) {
        fprintf(stderr, "tokensmith: oidc: %s\n", ans.msg);
        return TS_CLI_FAIL;
    }
    json_t *doc = json_loads(resp, 0, NULL);
    if (status != 200) {
        const char *d = json_string_value(json_object_get(doc, "error_description"));
        if (configure && status == 409 && is_version_conflict(doc))
            fprintf(stderr,
                    "tokensmith: oidc: configure refused (409): the provider configuration "
                    "changed meanwhile (another operator or replica): %s\n"
                    "tokensmith: oidc: nothing was changed; see the configuration now with "
                    "`tokensmith oidc status` and retry with --expected-version set to its "
                    "Version\n",
                    d ? d : resp);
        else
            fprintf(stderr, "tokensmith: oidc: %s request failed (%d): %s\n",
                    configure ? "configure" : "status", status, d ? d : resp);
        json_decref(doc);
        free(resp);
        return TS_CLI_FAIL;
    }
    if (configure)
        printf("Status: %s\n", json_string_value(json_object_get(doc, "status")));
    print_state(json_object_get(doc, "oidc"));
    json_decref(doc);
    free(resp);
    return TS_CLI_OK;
}

static int run_status(const ts_cli_args *a)
{
    return run(ts_cli_get_or_default(a, F_ADMIN_URL), ts_cli_get(a, F_CACERT), "GET", NULL, false);
}

/* jansson makes no string of text that is not UTF-8 (json_string() is NULL), so such a value
 * would vanish from the request without a word: a provider without its name, a removal that
 * never happens. Every text this command sends is checked first. */
static bool is_utf8(const char *s)
{
    json_t *j = json_string(s);
    json_decref(j);
    return j != NULL;
}

/* The one provider that --issuer-url and --client-id describe. */
static json_t *one_provider(const ts_cli_args *a)
{
    json_t *p = json_object();
    json_object_set_new(p, "issuer", json_string(ts_cli_get(a, F_ISSUER_URL)));
    json_object_set_new(p, "client_id", json_string(ts_cli_get(a, F_CLIENT_ID)));
    if (ts_cli_get(a, F_AUDIENCES))
        json_object_set_new(p, "audiences", split_list(ts_cli_get(a, F_AUDIENCES)));
    if (ts_cli_get(a, F_RESOURCES))
        json_object_set_new(p, "resources", split_list(ts_cli_get(a, F_RESOURCES)));
    if (ts_cli_get(a, F_PROVIDER_NAME))
        json_object_set_new(p, "name", json_string(ts_cli_get(a, F_PROVIDER_NAME)));
    if (ts_cli_get(a, F_SUBJECT_TEMPLATE))
        json_object_set_new(p, "subject_template", json_string(ts_cli_get(a, F_SUBJECT_TEMPLATE)));
    json_t *list = json_array();
    json_array_append_new(list, p);
    json_t *req = json_object();
    json_object_set_new(req, "providers", list);
    return req;
}

/* The request body of a change. @return TS_CLI_OK with *out set, or the exit status. */
static int configure_request(const ts_cli_args *a, json_t **out)
{
    *out = NULL;
    const char *file = ts_cli_get(a, F_PROVIDERS_FILE), *issuer = ts_cli_get(a, F_ISSUER_URL);
    const char *client = ts_cli_get(a, F_CLIENT_ID);
    size_t n_rm = ts_cli_all(a, F_OIDC_REMOVE, NULL, 0);
    if (file && (issuer || client))
        return ts_cli_usage_error(a->cmd, "give --file, or --issuer-url and --client-id, not both");
    if (!issuer != !client)
        return ts_cli_usage_error(a->cmd, "give --issuer-url and --client-id together");
    if (!file && !issuer && n_rm == 0)
        return ts_cli_usage_error(
            a->cmd, "give --file, or --issuer-url and --client-id, or --remove ISSUER");
    /* Without --issuer-url these would be dropped without a word. */
    static const ts_cli_flag_id one[] = {F_AUDIENCES, F_RESOURCES, F_PROVIDER_NAME,
                                         F_SUBJECT_TEMPLATE};
    for (size_t i = 0; !issuer && i < sizeof one / sizeof one[0]; i++)
        if (ts_cli_get(a, one[i]))
            return ts_cli_usage_error(a->cmd, "--%s describes the provider of --issuer-url",
                                      ts_cli_flags[one[i]].name);
    static const ts_cli_flag_id texts[] = {F_ISSUER_URL, F_CLIENT_ID,     F_AUDIENCES,
                                           F_RESOURCES,  F_PROVIDER_NAME, F_SUBJECT_TEMPLATE};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        const char *v = ts_cli_get(a, texts[i]);
        if (v && !is_utf8(v))
            return ts_cli_usage_error(a->cmd, "--%s: not valid UTF-8", ts_cli_flags[texts[i]].name);
    }
    json_t *req;
    if (file) {
        json_error_t je;
        req = json_load_file(file, JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(req)) {
            fprintf(stderr, "tokensmith: oidc configure: %s:%d: %s\n", file, je.line,
                    req ? "not a JSON object" : je.text);
            json_decref(req);
            return TS_CLI_FAIL;
        }
    } else {
        req = issuer ? one_provider(a) : json_object();
    }
    if (n_rm > 0) {
        const char **rm = calloc(n_rm + 1, sizeof *rm);
        if (!rm) {
            json_decref(req);
            fprintf(stderr, "tokensmith: oidc configure: out of memory\n");
            return TS_CLI_FAIL;
        }
        ts_cli_all(a, F_OIDC_REMOVE, rm, n_rm + 1);
        for (size_t i = 0; i < n_rm; i++)
            if (!is_utf8(rm[i])) {
                free(rm);
                json_decref(req);
                return ts_cli_usage_error(a->cmd, "--remove: not valid UTF-8");
            }
        /* Added to a file's own "remove"; one that is not an array is the service's to refuse. */
        json_t *list = json_object_get(req, "remove");
        if (!list) {
            list = json_array();
            json_object_set_new(req, "remove", list);
        }
        for (size_t i = 0; i < n_rm && json_is_array(list); i++)
            json_array_append_new(list, json_string(rm[i]));
        free(rm);
    }
    json_object_set_new(req, "dry_run", json_boolean(ts_cli_bool(a, F_DRY_RUN)));
    json_object_set_new(req, "replace_existing", json_boolean(ts_cli_bool(a, F_REPLACE_EXISTING)));
    int64_t ev = ts_cli_num(a, F_EXPECTED_VERSION);
    if (ev >= 0)
        json_object_set_new(req, "expected_version", json_integer((json_int_t)ev));
    *out = req;
    return TS_CLI_OK;
}

static int run_configure(const ts_cli_args *a)
{
    json_t *req;
    int rc = configure_request(a, &req);
    if (rc != TS_CLI_OK)
        return rc;
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!body) {
        fprintf(stderr, "tokensmith: oidc configure: out of memory\n");
        return TS_CLI_FAIL;
    }
    rc = run(ts_cli_get_or_default(a, F_ADMIN_URL), ts_cli_get(a, F_CACERT), "POST", body, true);
    free(body);
    return rc;
}

static const ts_cli_use status_uses[] = {{F_ADMIN_URL, 0}, {F_CACERT, 0}, {F_COUNT, 0}};

#define ADMIN_ABOUT                                                                                \
    "Talk to the admin API of a running `tokensmith serve` (its adminListen, docs/oidc.md).\n"

const ts_cli_command ts_cli_cmd_oidc_status = {
    .name = "oidc status",
    .summary = "show the upstream OpenID providers of a running service",
    .about = ADMIN_ABOUT
    "Print the configured upstream providers (secrets masked) and the configuration's Version:\n"
    "the number a change stored through the admin API gets, shared by the replicas of one\n"
    "PostgreSQL store; 0 = none stored, the providers come from the configuration file. Pass\n"
    "it to `oidc configure --expected-version`.",
    .after = "Exit status: 0 printed; 1 refused or unreachable; 2 usage error.",
    .uses = status_uses,
    .run = run_status,
};

static const ts_cli_use configure_uses[] = {
    {F_ADMIN_URL, 0},        {F_CACERT, 0},
    {F_PROVIDERS_FILE, 0},   {F_ISSUER_URL, 0},
    {F_CLIENT_ID, 0},        {F_AUDIENCES, 0},
    {F_RESOURCES, 0},        {F_PROVIDER_NAME, 0},
    {F_SUBJECT_TEMPLATE, 0}, {F_OIDC_REMOVE, TS_CLI_REPEAT},
    {F_REPLACE_EXISTING, 0}, {F_EXPECTED_VERSION, 0},
    {F_DRY_RUN, 0},          {F_COUNT, 0},
};

const ts_cli_command ts_cli_cmd_oidc_configure = {
    .name = "oidc configure",
    .summary = "add, replace or remove upstream OpenID providers of a running service",
    .about = ADMIN_ABOUT
    "Add providers, or replace the ones with the same issuer (--replace-existing): either\n"
    "--file FILE with {\"providers\": [...]}, or --issuer-url and --client-id for one\n"
    "provider, whose groups then map through the service's groupScopes. --remove ISSUER\n"
    "removes a provider (repeat it for more); given with --file or --issuer-url, the removal\n"
    "and the addition are one change. --expected-version N (from `oidc status`) applies the\n"
    "change only if nobody changed the configuration since you read it. --dry-run\n"
    "validates and runs discovery only.",
    .after = "Exit status: 0 done; 1 refused or unreachable (a configuration that changed\n"
             "meanwhile: read it again with `oidc status`); 2 usage error.",
    .uses = configure_uses,
    .run = run_configure,
};
