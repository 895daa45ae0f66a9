/* tokensmith policy roles | users | permissions: who has which role and which rules apply to a
 * subject, from a model and policy files (Casbin's GetImplicitRolesForUser,
 * GetImplicitUsersForRole, GetImplicitPermissionsForUser). */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include <tokensmith/authz.h>
#include <tokensmith/authz_query.h>

/* An answer longer than this is refused rather than printed (exit 1). */
#define MAX_ITEMS ((size_t)1000000)
#define MAX_POLICY_FILES 1024

typedef enum query { Q_ROLES, Q_USERS, Q_PERMISSIONS } query;

/* Load errors must name the file even when the library's message does not. */
static void report_file_error(const char *path, const ts_error *err)
{
    char line[512];
    ts_cli_format_error(err, line, sizeof line);
    if (strstr(line, path))
        fprintf(stderr, "tokensmith: %s\n", line);
    else
        fprintf(stderr, "tokensmith: %s: %s\n", path, line);
}

static ts_authz_enforcer *load(const ts_cli_args *a, int *rc)
{
    const char *files[MAX_POLICY_FILES + 1];
    size_t nfiles = ts_cli_all(a, F_POLICY, files, MAX_POLICY_FILES + 1);
    if (nfiles > MAX_POLICY_FILES) {
        *rc = ts_cli_usage_error(a->cmd, "more than %d --policy files", MAX_POLICY_FILES);
        return NULL;
    }
    *rc = TS_CLI_FAIL;
    ts_error err;
    ts_error_clear(&err);
    const char *model_path = ts_cli_get(a, F_MODEL);
    ts_authz_model *model = ts_authz_model_load_file(model_path, &err);
    if (!model) {
        report_file_error(model_path, &err);
        return NULL;
    }
    ts_authz_policy *policy = ts_authz_policy_new();
    ts_authz_enforcer *e = NULL;
    if (!policy) {
        fprintf(stderr, "tokensmith: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < nfiles; i++) {
        if (ts_authz_policy_load_file(policy, files[i], &err) != TS_OK) {
            report_file_error(files[i], &err);
            goto out;
        }
    }
    if (!(e = ts_authz_enforcer_new(model, policy, &err)))
        ts_cli_report(NULL, &err);
out:
    ts_authz_policy_free(policy);
    ts_authz_model_free(model);
    if (e)
        *rc = TS_CLI_OK;
    return e;
}

/* A rule line as its fields ["p", "alice", "data1", "read"]. */
static json_t *rule_json(const char *line)
{
    char **fields = NULL;
    size_t n = 0;
    if (ts_authz_csv_split_line(line, strlen(line), &fields, &n, NULL, NULL) != TS_OK)
        return NULL;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        if (json_array_append_new(arr, json_string(fields[i])) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    ts_authz_csv_fields_free(fields, n);
    return arr;
}

static bool print_json(char *const *items, size_t n, bool rules)
{
    json_t *arr = json_array();
    bool ok = arr != NULL;
    for (size_t i = 0; ok && i < n; i++) {
        json_t *v = rules ? rule_json(items[i]) : json_string(items[i]);
        ok = v && json_array_append_new(arr, v) == 0;
    }
    char *text = ok ? json_dumps(arr, JSON_COMPACT) : NULL;
    ok = text && printf("%s\n", text) >= 0;
    free(text);
    json_decref(arr);
    return ok;
}

static bool print_lines(char *const *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (printf("%s\n", items[i]) < 0)
            return false;
    return true;
}

static ts_status ask(const ts_authz_enforcer *e, query q, const ts_cli_args *a, const char *name,
                     char ***items, size_t *n, ts_error *err)
{
    const char *domain = ts_cli_get(a, F_DOMAIN);
    size_t len = strlen(name);
    switch (q) {
    case Q_ROLES:
        if (ts_cli_bool(a, F_DIRECT))
            return ts_authz_enforcer_roles(e, NULL, name, len, domain, MAX_ITEMS, items, n, err);
        return ts_authz_enforcer_implicit_roles(e, NULL, name, len, domain, MAX_ITEMS, items, n,
                                                err);
    case Q_USERS:
        return ts_authz_enforcer_users(e, NULL, name, len, domain, !ts_cli_bool(a, F_DIRECT),
                                       MAX_ITEMS, items, n, err);
    default:
        return ts_authz_enforcer_implicit_permissions(e, NULL, NULL, name, len, domain, MAX_ITEMS,
                                                      items, n, err);
    }
}

static int run_query(const ts_cli_args *a, query q)
{
    int rc;
    ts_authz_enforcer *e = load(a, &rc);
    if (!e)
        return rc;
    char **items = NULL;
    size_t n = 0;
    ts_error err;
    ts_error_clear(&err);
    ts_status st = ask(e, q, a, a->operands[0], &items, &n, &err);
    if (st != TS_OK) {
        if (err.code == TS_OK)
            ts_error_set(&err, st, NULL, "%s", ts_status_str(st));
        ts_cli_report(a->cmd->name, &err);
        rc = TS_CLI_FAIL;
    } else {
        bool ok = ts_cli_bool(a, F_JSON) ? print_json(items, n, q == Q_PERMISSIONS)
                                         : print_lines(items, n);
        if (!ok || fflush(stdout) != 0 || ferror(stdout)) {
            fprintf(stderr, "tokensmith: %s: error writing stdout\n", a->cmd->name);
            rc = TS_CLI_FAIL;
        }
    }
    if (q == Q_PERMISSIONS)
        ts_authz_rules_free(items);
    else
        ts_authz_roles_free(items);
    ts_authz_enforcer_free(e);
    return rc;
}

static int run_roles(const ts_cli_args *a)
{
    return run_query(a, Q_ROLES);
}

static int run_users(const ts_cli_args *a)
{
    return run_query(a, Q_USERS);
}

static int run_permissions(const ts_cli_args *a)
{
    return run_query(a, Q_PERMISSIONS);
}

static const ts_cli_use names_uses[] = {
    {F_MODEL, TS_CLI_REQUIRED},
    {F_POLICY, TS_CLI_REPEAT},
    {F_DOMAIN, 0},
    {F_DIRECT, 0},
    {F_JSON, 0},
    {F_COUNT, 0},
};

static const ts_cli_use rules_uses[] = {
    {F_MODEL, TS_CLI_REQUIRED}, {F_POLICY, TS_CLI_REPEAT}, {F_DOMAIN, 0}, {F_JSON, 0}, {F_COUNT, 0},
};

#define QUERY_AFTER                                                                                \
    "Exit status: 0 answered (also when the answer is empty); 1 a file does not load, the\n"       \
    "answer is not a finite list (a role pattern function) or is too long; 2 usage error."

const ts_cli_command ts_cli_cmd_policy_roles = {
    .name = "policy roles",
    .summary = "list the roles a user has, inherited ones included",
    .operands = "USER",
    .min_operands = 1,
    .max_operands = 1,
    .about = "Print the roles USER has through the `g` rules of the policy, one a line, sorted by\n"
             "bytes: the roles it has directly and those they inherit, within the 10 links a\n"
             "decision follows (Casbin's GetImplicitRolesForUser). --direct: only the roles of\n"
             "USER's own `g` rules. --domain: the domain of a role definition with domains\n"
             "(g = _, _, _); without it, the domain \"\". --json: one JSON array of strings.",
    .after = QUERY_AFTER,
    .uses = names_uses,
    .run = run_roles,
};

const ts_cli_command ts_cli_cmd_policy_users = {
    .name = "policy users",
    .summary = "list the users that have a role, through other roles too",
    .operands = "ROLE",
    .min_operands = 1,
    .max_operands = 1,
    .about = "Print the names that have ROLE, one a line, sorted by bytes: those with a `g` rule\n"
             "to it and those that inherit it, within the 10 links a decision follows (Casbin's\n"
             "GetImplicitUsersForRole); roles that have ROLE are names too. --direct: only the\n"
             "names of `g` rules to ROLE. --domain and --json as for `policy roles`.",
    .after = QUERY_AFTER,
    .uses = names_uses,
    .run = run_users,
};

const ts_cli_command ts_cli_cmd_policy_permissions = {
    .name = "policy permissions",
    .summary = "list the rules that apply to a user through its roles",
    .operands = "USER",
    .min_operands = 1,
    .max_operands = 1,
    .about = "Print the `p` rules whose subject is USER or one of its roles (as `policy roles`\n"
             "lists them), one CSV line a line as in policy files (\"p, alice, data1, read\"),\n"
             "sorted by bytes (Casbin's GetImplicitPermissionsForUser). --domain: roles in that\n"
             "domain and only rules of that domain (their `dom` field). --json: one JSON array of\n"
             "rules, each an array of its fields.",
    .after = QUERY_AFTER,
    .uses = rules_uses,
    .run = run_permissions,
};
