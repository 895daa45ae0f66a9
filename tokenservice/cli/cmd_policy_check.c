/* tokensmith policy check: decide requests from stdin against a model and policy files. */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tokensmith/authz.h>
#include <tokensmith/authz_functions.h>

#include "policy_request.h"

/* Large enough that big batches cost few write(2) calls. */
#define OUT_BUFFER_BYTES (256u * 1024u)

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

/* One --role-match / --domain-match G=FN: a built-in matching function, or a function shipped
 * with the library that takes two strings (*custom, e.g. hasSuffix). */
static int parse_match(const ts_cli_args *a, const char *flag, const char *spec, char gtype[64],
                       ts_authz_match_fn *fn, const ts_authz_function **custom)
{
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || eq[1] == '\0' || eq - spec >= 64)
        return ts_cli_usage_error(a->cmd, "%s wants G=FN (e.g. g2=keyMatch2), got '%s'", flag,
                                  spec);
    *fn = ts_authz_match_fn_from_name(eq + 1);
    *custom = NULL;
    if (*fn == TS_AUTHZ_MATCH_NONE) {
        *custom = ts_authz_function_builtin(eq + 1);
        if (!*custom || (*custom)->arity != 2 || (*custom)->result != TS_AUTHZ_KIND_BOOL ||
            strcmp((*custom)->name, "timeMatch") == 0)
            return ts_cli_usage_error(
                a->cmd,
                "%s: unknown matching function '%s' (use keyMatch, keyMatch2, keyMatch3, "
                "keyMatch4, keyMatch5, regexMatch, globMatch or hasSuffix)",
                flag, eq + 1);
    }
    snprintf(gtype, 64, "%.*s", (int)(eq - spec), spec);
    return TS_CLI_OK;
}

/* Every matching option, checked (@p e NULL: before any file is read, so that a bad one is a
 * usage error) or applied to @p e. */
static int matching(const ts_cli_args *a, ts_authz_enforcer *e)
{
    for (int d = 0; d < 2; d++) {
        const char *flag = d ? "--domain-match" : "--role-match", *specs[65];
        size_t n = ts_cli_all(a, d ? F_DOMAIN_MATCH : F_ROLE_MATCH, specs, 65);
        if (n > 64)
            return ts_cli_usage_error(a->cmd, "more than 64 %s values", flag);
        for (size_t i = 0; i < n; i++) {
            char gtype[64];
            ts_authz_match_fn fn = TS_AUTHZ_MATCH_NONE;
            const ts_authz_function *custom = NULL;
            int rc = parse_match(a, flag, specs[i], gtype, &fn, &custom);
            if (rc != TS_CLI_OK)
                return rc;
            if (!e)
                continue;
            ts_error err;
            ts_error_clear(&err);
            ts_status st;
            if (custom) {
                /* Registering it again is harmless: the latest registration is used. */
                st = ts_authz_enforcer_add_function(e, custom, NULL, &err);
                if (st == TS_OK)
                    st = d ? ts_authz_enforcer_set_domain_matching_fn(e, gtype, custom->name, &err)
                           : ts_authz_enforcer_set_role_matching_fn(e, gtype, custom->name, &err);
            } else {
                st = d ? ts_authz_enforcer_set_domain_matching(e, gtype, fn, &err)
                       : ts_authz_enforcer_set_role_matching(e, gtype, fn, &err);
            }
            if (st != TS_OK) {
                ts_cli_report(flag, &err);
                return TS_CLI_FAIL;
            }
        }
    }
    return TS_CLI_OK;
}

/* --function NAME: a function shipped with the library, for the matcher. */
static int functions(const ts_cli_args *a, ts_authz_function_reg *regs, size_t *nregs)
{
    const char *names[TS_AUTHZ_MAX_FUNCTIONS + 1];
    size_t n = ts_cli_all(a, F_FUNCTION, names, TS_AUTHZ_MAX_FUNCTIONS + 1);
    if (n > TS_AUTHZ_MAX_FUNCTIONS)
        return ts_cli_usage_error(a->cmd, "more than %u --function values", TS_AUTHZ_MAX_FUNCTIONS);
    for (size_t i = 0; i < n; i++) {
        const ts_authz_function *f = ts_authz_function_builtin(names[i]);
        if (!f)
            return ts_cli_usage_error(a->cmd,
                                      "--function: unknown function '%s' (use hasSuffix or "
                                      "timeMatch)",
                                      names[i]);
        regs[(*nregs)++] = (ts_authz_function_reg){f, NULL};
    }
    return TS_CLI_OK;
}

/* --link-condition G=FN: every link of conditional role definition G holds only while FN (a
 * function shipped with the library, e.g. timeMatch) accepts the link's parameters. Checked
 * (@p e NULL) or applied. */
static int link_conditions(const ts_cli_args *a, ts_authz_enforcer *e, ts_authz_function_reg *regs,
                           size_t *nregs)
{
    const char *specs[65];
    size_t n = ts_cli_all(a, F_LINK_CONDITION, specs, 65);
    if (n > 64)
        return ts_cli_usage_error(a->cmd, "more than 64 --link-condition values");
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(specs[i], '=');
        if (!eq || eq == specs[i] || eq[1] == '\0' || eq - specs[i] >= 64)
            return ts_cli_usage_error(
                a->cmd, "--link-condition wants G=FN (e.g. g=timeMatch), got '%s'", specs[i]);
        const ts_authz_function *f = ts_authz_function_builtin(eq + 1);
        if (!f)
            return ts_cli_usage_error(a->cmd,
                                      "--link-condition: unknown function '%s' (use "
                                      "timeMatch)",
                                      eq + 1);
        char gtype[64];
        snprintf(gtype, sizeof gtype, "%.*s", (int)(eq - specs[i]), specs[i]);
        if (!e) {
            if (regs && *nregs < TS_AUTHZ_MAX_FUNCTIONS)
                regs[(*nregs)++] = (ts_authz_function_reg){f, NULL};
            continue;
        }
        ts_error err;
        ts_error_clear(&err);
        if (ts_authz_enforcer_add_link_condition(e, gtype, NULL, NULL, NULL, f->name, &err) !=
            TS_OK) {
            ts_cli_report("--link-condition", &err);
            return TS_CLI_FAIL;
        }
    }
    return TS_CLI_OK;
}

static ts_authz_enforcer *build_enforcer(const ts_cli_args *a, int *rc)
{
    ts_error err;
    ts_error_clear(&err);
    const char *model_path = ts_cli_get(a, F_MODEL);
    *rc = TS_CLI_FAIL;
    ts_authz_model *model = ts_authz_model_load_file(model_path, &err);
    if (!model) {
        report_file_error(model_path, &err);
        return NULL;
    }
    ts_authz_policy *policy = ts_authz_policy_new();
    ts_authz_enforcer *e = NULL;
    const char *files[1024];
    size_t n = ts_cli_all(a, F_POLICY, files, 1024);
    if (!policy)
        fprintf(stderr, "tokensmith: out of memory\n");
    else if (n > 1024)
        *rc = ts_cli_usage_error(a->cmd, "more than 1024 --policy files");
    for (size_t i = 0; policy && n <= 1024 && i < n; i++) {
        if (ts_authz_policy_load_file(policy, files[i], &err) != TS_OK) {
            report_file_error(files[i], &err);
            goto out;
        }
    }
    /* Functions are registered before the matcher compiles, which may call them. */
    ts_authz_function_reg regs[TS_AUTHZ_MAX_FUNCTIONS];
    size_t nregs = 0;
    if (functions(a, regs, &nregs) != TS_CLI_OK ||
        link_conditions(a, NULL, regs, &nregs) != TS_CLI_OK)
        goto out;
    if (policy && n <= 1024 &&
        !(e = ts_authz_enforcer_new_with_functions(model, policy, regs, nregs, &err)))
        ts_cli_report(NULL, &err);
    if (e && matching(a, e) != TS_CLI_OK) {
        ts_authz_enforcer_free(e);
        e = NULL;
    }
    if (e && link_conditions(a, e, NULL, NULL) != TS_CLI_OK) {
        ts_authz_enforcer_free(e);
        e = NULL;
    }
out:
    ts_authz_policy_free(policy);
    ts_authz_model_free(model);
    if (e)
        *rc = TS_CLI_OK;
    return e;
}

static bool print_error_line(const ts_error *err)
{
    char text[512];
    ts_cli_format_error(err, text, sizeof text);
    /* Keep one answer per line whatever the message holds. */
    for (char *c = text; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    return printf("error: %s\n", text) >= 0;
}

static int check_requests(const ts_authz_enforcer *e, bool explain)
{
    const size_t cap = (size_t)TS_AUTHZ_MAX_LINE_BYTES + 1;
    char *buf = malloc(cap);
    ts_cli_request *req = calloc(1, sizeof *req);
    int rc = TS_CLI_OK;
    bool tty = isatty(STDOUT_FILENO) != 0;

    if (!buf || !req) {
        fprintf(stderr, "tokensmith: out of memory\n");
        free(buf);
        free(req);
        return TS_CLI_FAIL;
    }
    if (!tty)
        setvbuf(stdout, NULL, _IOFBF, OUT_BUFFER_BYTES);

    size_t len;
    bool too_long;
    while (ts_cli_read_line(stdin, buf, cap, &len, &too_long)) {
        ts_error err;
        ts_error_clear(&err);
        if (too_long) {
            ts_error_set(&err, TS_ELIMIT, NULL, "request line longer than %u bytes",
                         TS_AUTHZ_MAX_LINE_BYTES);
            print_error_line(&err);
            rc = TS_CLI_FAIL;
            continue;
        }
        /* Surrounding white space (and a CR from CRLF input) is dropped, as for policy lines. */
        const char *line = buf;
        while (len > 0 && ts_cli_is_blank(line[len - 1]))
            len--;
        while (len > 0 && ts_cli_is_blank(*line)) {
            line++;
            len--;
        }
        if (len == 0)
            continue;

        ts_status st = ts_cli_request_parse(req, line, len, &err);
        if (st == TS_OK) {
            if (explain) {
                ts_authz_decision d = {0};
                st = ts_authz_enforce_ex(e, NULL, req->args, req->nargs, true, &d, &err);
                if (st == TS_OK) {
                    if (d.has_rule && d.rule)
                        printf("%s\t%s\n", d.allowed ? "true" : "false", d.rule);
                    else
                        fputs(d.allowed ? "true\n" : "false\n", stdout);
                }
                ts_authz_decision_cleanup(&d);
            } else {
                bool allowed = false;
                st = ts_authz_enforce(e, req->args, req->nargs, &allowed, &err);
                if (st == TS_OK)
                    fputs(allowed ? "true\n" : "false\n", stdout);
            }
        }
        ts_cli_request_reset(req);
        if (st != TS_OK) {
            if (err.code == TS_OK)
                ts_error_set(&err, st, NULL, "%s", ts_status_str(st));
            print_error_line(&err);
            rc = TS_CLI_FAIL;
        }
        if (tty)
            fflush(stdout);
    }
    if (ferror(stdin)) {
        fprintf(stderr, "tokensmith: policy check: error reading stdin\n");
        rc = TS_CLI_FAIL;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "tokensmith: policy check: error writing stdout\n");
        rc = TS_CLI_FAIL;
    }
    free(req);
    free(buf);
    return rc;
}

static int run_policy_check(const ts_cli_args *a)
{
    int rc = matching(a, NULL);
    if (rc != TS_CLI_OK)
        return rc;
    /* Bad --function / --link-condition values are usage errors before any file is read. */
    ts_authz_function_reg regs[TS_AUTHZ_MAX_FUNCTIONS];
    size_t nregs = 0;
    if ((rc = functions(a, regs, &nregs)) != TS_CLI_OK ||
        (rc = link_conditions(a, NULL, NULL, NULL)) != TS_CLI_OK)
        return rc;
    ts_authz_enforcer *e = build_enforcer(a, &rc);
    if (!e)
        return rc;
    rc = check_requests(e, ts_cli_bool(a, F_EXPLAIN));
    ts_authz_enforcer_free(e);
    return rc;
}

static const ts_cli_use check_uses[] = {
    {F_MODEL, TS_CLI_REQUIRED},
    {F_POLICY, TS_CLI_REPEAT},
    {F_EXPLAIN, 0},
    {F_ROLE_MATCH, TS_CLI_REPEAT},
    {F_DOMAIN_MATCH, TS_CLI_REPEAT},
    {F_FUNCTION, TS_CLI_REPEAT},
    {F_LINK_CONDITION, TS_CLI_REPEAT},
    {F_COUNT, 0},
};

const ts_cli_command ts_cli_cmd_policy_check = {
    .name = "policy check",
    .summary = "decide requests read from stdin against a model and policy",
    .about =
        "Read requests from stdin, one per line, and print one decision per line: 'true' or\n"
        "'false'; with --explain, the deciding rule follows after a tab. Request fields are\n"
        "comma-separated with CSV quoting (the rules of policy files). A field starting with\n"
        "'{' is a JSON object (ABAC attributes); it may be written as is, e.g.\n"
        "{\"Owner\": \"alice\"},data1,read. Blank lines are skipped. A request that cannot be\n"
        "decided prints 'error: <reason>' and the exit status is 1 at the end. --policy may be\n"
        "left out when the matcher uses no rules. Functions shipped with the library may be\n"
        "used: --role-match g=hasSuffix, --function hasSuffix (the matcher may call\n"
        "hasSuffix(a, b)) and --link-condition g=timeMatch (conditional role definitions\n"
        "g = _, _, (_, _): a link holds between its start and end, UTC, '_' = open).",
    .after = "Exit status: 0 all requests decided; 1 a request or a file failed; 2 usage error.",
    .uses = check_uses,
    .run = run_policy_check,
};
