/* tokensmith policy check: decide requests from stdin against a model and policy files. */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tokensmith/authz.h>
#include <tokensmith/authz_http.h>

#include "policy.h" /* ts_csv_split_line: requests follow the same CSV rules as policy files */

/* Large enough that big batches cost few write(2) calls. */
#define OUT_BUFFER_BYTES (256u * 1024u)

static void policy_version_usage(FILE *out)
{
    fprintf(out,
            "usage: tokensmith policy version [--model FILE] [--policy-dir DIR | --policy FILE]\n"
            "                                 [--grouping FILE]\n"
            "\n"
            "Load the embedded baseline plus the given fragments exactly as a service does,\n"
            "check every rule against the model, and print the effective policy_version.\n"
            "\n"
            "options:\n"
            "  --model FILE       model.conf instead of the embedded baseline model\n"
            "  --policy-dir DIR   directory of *.csv fragments (default: $TOKENSMITH_POLICY_DIR,\n"
            "                     else $AUTHZ_POLICY_DIR)\n"
            "  --policy FILE      a single fragment file instead of a directory\n"
            "  --grouping FILE    an extra grouping file\n"
            "  -h, --help         show this help\n"
            "\n"
            "exit status: 0 printed, 1 a file or rule is invalid, 2 usage error\n");
}

void ts_cli_policy_usage(FILE *out)
{
    fprintf(out,
            "usage: tokensmith policy version [--model FILE] [--policy-dir DIR | --policy FILE]\n"
            "                                 [--grouping FILE]\n"
            "       tokensmith policy check --model FILE --policy FILE [--policy FILE ...]\n"
            "                               [--explain] [--role-match G=FN ...]\n"
            "                               [--domain-match G=FN ...]\n"
            "\n"
            "policy version: print the effective policy_version (see 'policy version --help').\n"
            "\n"
            "policy check: read requests from stdin, one per line, and print one decision per\n"
            "line.\n"
            "\n"
            "Request fields are comma-separated with CSV quoting (the rules of policy files).\n"
            "A field starting with '{' is a JSON object (ABAC attributes); it may be written\n"
            "as is, e.g. {\"Owner\": \"alice\"},data1,read. Blank lines are skipped.\n"
            "\n"
            "Output per request: 'true' or 'false'; with --explain, the deciding rule follows\n"
            "after a tab. A request that cannot be decided prints 'error: <reason>' and the\n"
            "exit status is 1 at the end.\n"
            "\n"
            "options:\n"
            "  --model FILE         model.conf (required)\n"
            "  --policy FILE        policy CSV; repeat to load several files in order\n"
            "                       (may be left out when the matcher uses no rules)\n"
            "  --explain            print the rule that decided each request\n"
            "  --role-match G=FN    match role names of role definition G with FN\n"
            "                       (keyMatch, keyMatch2..5, regexMatch, globMatch)\n"
            "  --domain-match G=FN  match domains of role definition G with FN\n"
            "  -h, --help           show this help\n"
            "\n"
            "exit status: 0 all requests decided, 1 a request or a file failed, 2 usage error\n");
}

typedef struct match_opt {
    const char *gtype; /* points into a copy owned by opts */
    ts_authz_match_fn fn;
    bool domain;
} match_opt;

typedef struct check_opts {
    const char *model;
    const char **policies;
    size_t npolicies;
    match_opt *matches;
    char **match_bufs; /* one strdup per match option, so that gtype can be cut at '=' */
    size_t nmatches;
    bool explain;
} check_opts;

static void opts_free(check_opts *o)
{
    for (size_t i = 0; i < o->nmatches; i++)
        free(o->match_bufs[i]);
    free(o->match_bufs);
    free(o->matches);
    free((void *)o->policies);
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* "--name VALUE" or "--name=VALUE". @return the value or NULL when @p argv[*i] is not --name. */
static const char *flag_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    *missing = false;
    if (strncmp(a, name, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    (*i)++;
    return argv[*i];
}

static int add_match(check_opts *o, const char *spec, bool domain)
{
    const char *flag = domain ? "--domain-match" : "--role-match";
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || eq[1] == '\0') {
        fprintf(stderr, "tokensmith: policy check: %s wants G=FN (e.g. g2=keyMatch2), got '%s'\n",
                flag, spec);
        return TS_CLI_USAGE;
    }
    ts_authz_match_fn fn = ts_authz_match_fn_from_name(eq + 1);
    if (fn == TS_AUTHZ_MATCH_NONE) {
        fprintf(stderr,
                "tokensmith: policy check: %s: unknown matching function '%s' (use keyMatch, "
                "keyMatch2, keyMatch3, keyMatch4, keyMatch5, regexMatch or globMatch)\n",
                flag, eq + 1);
        return TS_CLI_USAGE;
    }
    char *buf = dup_str(spec);
    if (!buf) {
        fprintf(stderr, "tokensmith: out of memory\n");
        return TS_CLI_FAIL;
    }
    buf[eq - spec] = '\0';
    o->match_bufs[o->nmatches] = buf;
    o->matches[o->nmatches] = (match_opt){.gtype = buf, .fn = fn, .domain = domain};
    o->nmatches++;
    return TS_CLI_OK;
}

/* @return TS_CLI_OK, or an exit code (help printed: -1 meaning "exit 0 now"). */
static int parse_args(int argc, char **argv, check_opts *o)
{
    size_t cap = (size_t)argc;
    o->policies = calloc(cap, sizeof *o->policies);
    o->matches = calloc(cap, sizeof *o->matches);
    o->match_bufs = calloc(cap, sizeof *o->match_bufs);
    if (!o->policies || !o->matches || !o->match_bufs) {
        fprintf(stderr, "tokensmith: out of memory\n");
        return TS_CLI_FAIL;
    }
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v;
        bool missing;
        if (ts_cli_is_help(a)) {
            ts_cli_policy_usage(stdout);
            return -1;
        }
        if (strcmp(a, "--explain") == 0) {
            o->explain = true;
            continue;
        }
        if ((v = flag_value(argc, argv, &i, "--model", &missing)) != NULL) {
            if (o->model) {
                fprintf(stderr, "tokensmith: policy check: --model given twice\n");
                return TS_CLI_USAGE;
            }
            o->model = v;
            continue;
        }
        if (missing)
            goto missing_value;
        if ((v = flag_value(argc, argv, &i, "--policy", &missing)) != NULL) {
            o->policies[o->npolicies++] = v;
            continue;
        }
        if (missing)
            goto missing_value;
        if ((v = flag_value(argc, argv, &i, "--role-match", &missing)) != NULL) {
            int rc = add_match(o, v, false);
            if (rc != TS_CLI_OK)
                return rc;
            continue;
        }
        if (missing)
            goto missing_value;
        if ((v = flag_value(argc, argv, &i, "--domain-match", &missing)) != NULL) {
            int rc = add_match(o, v, true);
            if (rc != TS_CLI_OK)
                return rc;
            continue;
        }
        if (missing)
            goto missing_value;
        fprintf(stderr, "tokensmith: policy check: unknown argument '%s'\n", a);
        ts_cli_policy_usage(stderr);
        return TS_CLI_USAGE;
    missing_value:
        fprintf(stderr, "tokensmith: policy check: %s needs a value\n", a);
        return TS_CLI_USAGE;
    }
    if (!o->model) {
        fprintf(stderr, "tokensmith: policy check: --model FILE is required\n");
        ts_cli_policy_usage(stderr);
        return TS_CLI_USAGE;
    }
    return TS_CLI_OK;
}

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

static ts_authz_enforcer *build_enforcer(const check_opts *o)
{
    ts_error err;
    ts_error_clear(&err);
    ts_authz_model *model = ts_authz_model_load_file(o->model, &err);
    if (!model) {
        report_file_error(o->model, &err);
        return NULL;
    }
    ts_authz_policy *policy = ts_authz_policy_new();
    ts_authz_enforcer *e = NULL;
    if (!policy) {
        fprintf(stderr, "tokensmith: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < o->npolicies; i++) {
        if (ts_authz_policy_load_file(policy, o->policies[i], &err) != TS_OK) {
            report_file_error(o->policies[i], &err);
            goto out;
        }
    }
    e = ts_authz_enforcer_new(model, policy, &err);
    if (!e) {
        ts_cli_report(NULL, &err);
        goto out;
    }
    for (size_t i = 0; i < o->nmatches; i++) {
        const match_opt *m = &o->matches[i];
        ts_status st = m->domain ? ts_authz_enforcer_set_domain_matching(e, m->gtype, m->fn, &err)
                                 : ts_authz_enforcer_set_role_matching(e, m->gtype, m->fn, &err);
        if (st != TS_OK) {
            ts_cli_report(m->domain ? "--domain-match" : "--role-match", &err);
            ts_authz_enforcer_free(e);
            e = NULL;
            goto out;
        }
    }
out:
    ts_authz_policy_free(policy);
    ts_authz_model_free(model);
    return e;
}

/* ---------------------------------------------------------------------------------------- */
/* Request lines                                                                              */

typedef struct request {
    ts_authz_arg args[TS_AUTHZ_MAX_FIELDS];
    size_t nargs;
    /* Strings the args point into that must be released after the decision. */
    char **csv_fields; /* from one ts_csv_split_line() call over the whole line */
    size_t ncsv;
    char *owned[TS_AUTHZ_MAX_FIELDS]; /* per-field results of the JSON-aware path */
    size_t nowned;
} request;

static void request_reset(request *r)
{
    if (r->csv_fields)
        ts_csv_fields_free(r->csv_fields, r->ncsv);
    r->csv_fields = NULL;
    r->ncsv = 0;
    for (size_t i = 0; i < r->nowned; i++)
        free(r->owned[i]);
    r->nowned = 0;
    r->nargs = 0;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static ts_status push_arg(request *r, const char *ptr, size_t len, bool is_json, ts_error *err)
{
    if (r->nargs >= TS_AUTHZ_MAX_FIELDS)
        return ts_error_set(err, TS_ELIMIT, NULL, "more than %u fields", TS_AUTHZ_MAX_FIELDS);
    r->args[r->nargs++] = (ts_authz_arg){.ptr = ptr, .len = len, .is_json = is_json};
    return TS_OK;
}

/* End of a JSON object starting at line[pos] == '{': one past its matching '}', or 0. */
static size_t json_object_end(const char *line, size_t len, size_t pos)
{
    size_t depth = 0;
    bool in_str = false;
    for (size_t i = pos; i < len; i++) {
        char c = line[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth == 0)
                return 0;
            if (--depth == 0)
                return c == '}' ? i + 1 : 0;
        }
    }
    return 0;
}

/* One CSV (non-JSON) field segment, [start, end) without the separating comma. */
static ts_status push_csv_segment(request *r, const char *line, size_t start, size_t end,
                                  ts_error *err)
{
    const char *seg = line + start;
    size_t n = end - start;
    if (!memchr(seg, '"', n)) {
        /* Unquoted: Go's reader only trims leading space. */
        while (n > 0 && (*seg == ' ' || *seg == '\t')) {
            seg++;
            n--;
        }
        return push_arg(r, seg, n, false, err);
    }
    char **fields = NULL;
    size_t nf = 0, col = 0;
    ts_status st = ts_csv_split_line(seg, n, &fields, &nf, &col, err);
    if (st != TS_OK) {
        if (err && col > 0 && err->where[0] == '\0')
            snprintf(err->where, sizeof err->where, "column %zu", start + col);
        return st;
    }
    if (nf != 1) {
        ts_csv_fields_free(fields, nf);
        return ts_error_set(err, TS_EPARSE, NULL, "malformed field at column %zu", start + 1);
    }
    if (r->nowned >= TS_AUTHZ_MAX_FIELDS) {
        ts_csv_fields_free(fields, nf);
        return ts_error_set(err, TS_ELIMIT, NULL, "more than %u fields", TS_AUTHZ_MAX_FIELDS);
    }
    char *value = fields[0];
    fields[0] = NULL;
    ts_csv_fields_free(fields, nf);
    r->owned[r->nowned++] = value;
    return push_arg(r, value, strlen(value), value[0] == '{', err);
}

/*
 * Split a line whose JSON fields are written raw ({"a": 1, "b": "x"} holds commas and quotes
 * that CSV would reject); every other field goes through the CSV rules.
 */
static ts_status split_with_json(request *r, const char *line, size_t len, ts_error *err)
{
    size_t pos = 0;
    for (;;) {
        size_t start = pos, p = pos;
        while (p < len && (line[p] == ' ' || line[p] == '\t'))
            p++;
        if (p < len && line[p] == '{') {
            size_t end = json_object_end(line, len, p);
            if (end == 0)
                return ts_error_set(err, TS_EPARSE, NULL, "unterminated JSON object at column %zu",
                                    p + 1);
            ts_status st = push_arg(r, line + p, end - p, true, err);
            if (st != TS_OK)
                return st;
            pos = end;
            while (pos < len && is_blank(line[pos]))
                pos++;
            if (pos < len && line[pos] != ',')
                return ts_error_set(err, TS_EPARSE, NULL,
                                    "expected ',' after JSON object at column %zu", pos + 1);
        } else {
            /* Find the comma ending this field, skipping over a quoted part. */
            bool quoted = false;
            for (pos = p; pos < len; pos++) {
                if (line[pos] == '"')
                    quoted = !quoted; /* "" inside quotes toggles twice: still quoted */
                else if (line[pos] == ',' && !quoted)
                    break;
            }
            ts_status st = push_csv_segment(r, line, start, pos, err);
            if (st != TS_OK)
                return st;
        }
        if (pos >= len)
            return TS_OK;
        pos++; /* the comma; a comma at the very end leaves one empty field */
    }
}

static ts_status parse_request(request *r, const char *line, size_t len, ts_error *err)
{
    if (!memchr(line, '{', len)) {
        size_t col = 0;
        ts_status st = ts_csv_split_line(line, len, &r->csv_fields, &r->ncsv, &col, err);
        if (st != TS_OK) {
            if (err && col > 0 && err->where[0] == '\0')
                snprintf(err->where, sizeof err->where, "column %zu", col);
            return st;
        }
        for (size_t i = 0; i < r->ncsv; i++) {
            st = push_arg(r, r->csv_fields[i], strlen(r->csv_fields[i]), false, err);
            if (st != TS_OK)
                return st;
        }
        return TS_OK;
    }
    return split_with_json(r, line, len, err);
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
    request *req = calloc(1, sizeof *req);
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
        while (len > 0 && is_blank(line[len - 1]))
            len--;
        while (len > 0 && is_blank(*line)) {
            line++;
            len--;
        }
        if (len == 0)
            continue;

        ts_status st = parse_request(req, line, len, &err);
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
        request_reset(req);
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

static int policy_check(int argc, char **argv)
{
    check_opts o = {0};
    int rc = parse_args(argc, argv, &o);
    if (rc != TS_CLI_OK) {
        opts_free(&o);
        return rc < 0 ? TS_CLI_OK : rc;
    }
    bool explain = o.explain;
    ts_authz_enforcer *e = build_enforcer(&o);
    opts_free(&o);
    if (!e)
        return TS_CLI_FAIL;
    rc = check_requests(e, explain);
    ts_authz_enforcer_free(e);
    return rc;
}

static int policy_version(int argc, char **argv)
{
    ts_authz_source_options src = TS_AUTHZ_SOURCE_OPTIONS_INIT;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v;
        bool missing;
        if (ts_cli_is_help(a)) {
            policy_version_usage(stdout);
            return TS_CLI_OK;
        }
        const char **slot = NULL;
        const char *names[] = {"--model", "--policy-dir", "--policy", "--grouping"};
        const char **slots[] = {&src.model_path, &src.policy_dir, &src.policy_file,
                                &src.grouping_file};
        for (size_t k = 0; k < 4 && !slot; k++) {
            v = flag_value(argc, argv, &i, names[k], &missing);
            if (missing) {
                fprintf(stderr, "tokensmith: policy version: %s needs a value\n", a);
                return TS_CLI_USAGE;
            }
            if (v) {
                slot = slots[k];
                if (*slot) {
                    fprintf(stderr, "tokensmith: policy version: %s given twice\n", names[k]);
                    return TS_CLI_USAGE;
                }
                *slot = v;
            }
        }
        if (!slot) {
            fprintf(stderr, "tokensmith: policy version: unknown argument '%s'\n", a);
            policy_version_usage(stderr);
            return TS_CLI_USAGE;
        }
    }
    if (src.policy_dir && src.policy_file) {
        fprintf(stderr, "tokensmith: policy version: --policy-dir and --policy are exclusive\n");
        return TS_CLI_USAGE;
    }
    src.from_env = true; /* only used when neither --policy-dir nor --policy is given */
    ts_error err;
    ts_error_clear(&err);
    ts_authz_bundle *b = ts_authz_bundle_load(&src, &err);
    ts_authz_enforcer *e = b ? ts_authz_bundle_enforcer(b, &err) : NULL;
    if (!e) {
        ts_cli_report(NULL, &err);
        ts_authz_bundle_free(b);
        return TS_CLI_FAIL;
    }
    ts_authz_enforcer_free(e);
    int rc = printf("%s\n", ts_authz_bundle_policy_version(b)) < 0 || fflush(stdout) != 0
                 ? TS_CLI_FAIL
                 : TS_CLI_OK;
    ts_authz_bundle_free(b);
    return rc;
}

int ts_cli_policy(int argc, char **argv)
{
    if (argc < 2 || ts_cli_is_help(argv[1])) {
        ts_cli_policy_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? TS_CLI_USAGE : TS_CLI_OK;
    }
    if (strcmp(argv[1], "check") == 0)
        return policy_check(argc, argv);
    if (strcmp(argv[1], "version") == 0)
        return policy_version(argc, argv);
    fprintf(stderr, "tokensmith: policy: unknown sub-command '%s'\n", argv[1]);
    ts_cli_policy_usage(stderr);
    return TS_CLI_USAGE;
}
