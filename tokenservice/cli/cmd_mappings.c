/* tokensmith mappings list | get | apply | delete: the client of the service's management API
 * (docs/mappings.md). One HTTP/1.1 exchange per call (two for apply: GET for the ETag, then
 * POST or PUT with If-Match) through admin_http.c, bearer token from a file or the
 * environment, bounded answers. */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "admin_http.h"
#include "common/file.h"

extern const ts_cli_command ts_cli_cmd_mappings_list, ts_cli_cmd_mappings_get,
    ts_cli_cmd_mappings_apply, ts_cli_cmd_mappings_delete;

#define MAX_ANSWER (2u * 1024u * 1024u)
#define TOKEN_MAX 16384u
#define ITEM_MAX (64u * 1024u)

/* Exit statuses beyond the common three (documented in `after`). */
enum { EXIT_NOT_FOUND = 3, EXIT_CONFLICT = 4, EXIT_DENIED = 5 };

typedef ts_cli_http_answer answer;

/* Where the management API is: --url, --cacert, and the bearer token. */
typedef struct target {
    const char *url;
    const char *ca_file;
    char *token;
} target;

/* One exchange with the management API at @p base. */
static void call(const target *t, const char *method, const char *path, const char *if_match,
                 const char *body, answer *out)
{
    ts_cli_http_request rq = {.url = t->url,
                              .ca_file = t->ca_file,
                              .allow_unix = false,
                              .method = method,
                              .path = path,
                              .token = t->token,
                              .if_match = if_match,
                              .body = body,
                              .max_answer = MAX_ANSWER};
    ts_cli_http_call(&rq, out);
}

/* The options' values: the item file (-f, --file), the token file (--token-file, else
 * TOKENSMITH_TOKEN_FILE) and the ETag to replace or delete (--if-match, else
 * TOKENSMITH_IF_MATCH). */
static const char *item_file(const ts_cli_args *a)
{
    return ts_cli_get(a, F_MAPPINGS_FILE);
}

static const char *token_file(const ts_cli_args *a, bool *given)
{
    *given = ts_cli_source(a, F_TOKEN_FILE) == TS_CLI_SRC_FLAG;
    return ts_cli_get(a, F_TOKEN_FILE);
}

static const char *if_match_of(const ts_cli_args *a)
{
    return ts_cli_get(a, F_IF_MATCH);
}

/* The exit status of an answer, after printing what went wrong. */
static int judge(const answer *a, int ok_status)
{
    if (a->status == ok_status)
        return TS_CLI_OK;
    if (!a->status) {
        fprintf(stderr, "tokensmith: %s\n", a->msg);
        return TS_CLI_FAIL;
    }
    json_t *d = a->body ? json_loads(a->body, 0, NULL) : NULL;
    const char *desc = json_string_value(json_object_get(d, "error_description"));
    const char *field = json_string_value(json_object_get(d, "field"));
    const char *reason = json_string_value(json_object_get(d, "reason"));
    fprintf(stderr, "tokensmith: HTTP %d%s%s%s%s\n", a->status, field ? ": " : "",
            field ? field : "", desc || reason ? ": " : "",
            desc     ? desc
            : reason ? reason
                     : "");
    json_decref(d);
    switch (a->status) {
    case 404:
        return EXIT_NOT_FOUND;
    case 409:
    case 412:
    case 428:
        return EXIT_CONFLICT;
    case 401:
    case 403:
        return EXIT_DENIED;
    default:
        return TS_CLI_FAIL;
    }
}

/* The API's base URL and the bearer token: --url or TOKENSMITH_MANAGEMENT_URL; --token-file,
 * else TOKENSMITH_TOKEN, else the file named by TOKENSMITH_TOKEN_FILE. A token file is read
 * with its trailing newline removed; a token is never taken from the command line itself
 * (the process list would show it). */
static int resolve(const ts_cli_args *a, target *t)
{
    t->url = ts_cli_get(a, F_MGMT_URL);
    t->ca_file = ts_cli_get(a, F_CACERT);
    if (!t->url || !*t->url) {
        fprintf(stderr, "tokensmith: --url or TOKENSMITH_MANAGEMENT_URL is required\n");
        return TS_CLI_USAGE;
    }
    bool flag = false;
    const char *file = token_file(a, &flag);
    const char *tok = getenv("TOKENSMITH_TOKEN");
    if (tok && *tok && !flag) {
        t->token = strdup(tok);
    } else if (file && *file) {
        char *text = NULL;
        size_t len = 0;
        ts_error err;
        ts_error_clear(&err);
        if (ts_common__read_file(file, TOKEN_MAX, TS_COMMON__READ_NO_NUL, &text, &len, &err) !=
            TS_OK) {
            fprintf(stderr, "tokensmith: %s: %s\n", flag ? "--token-file" : "TOKENSMITH_TOKEN_FILE",
                    err.msg);
            return TS_CLI_USAGE;
        }
        while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
            text[--len] = '\0';
        t->token = text;
    }
    if (!t->token || !*t->token) {
        fprintf(stderr, "tokensmith: no bearer token: --token-file FILE, TOKENSMITH_TOKEN or "
                        "TOKENSMITH_TOKEN_FILE\n");
        free(t->token);
        t->token = NULL;
        return TS_CLI_USAGE;
    }
    for (const char *p = t->token; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
            fprintf(stderr, "tokensmith: the bearer token holds a character a token cannot\n");
            free(t->token);
            t->token = NULL;
            return TS_CLI_USAGE;
        }
    return TS_CLI_OK;
}

static void release(target *t)
{
    if (t->token) {
        memset(t->token, 0, strlen(t->token));
        free(t->token);
    }
}

/* "/api/v1/mappings/KIND[/NAME]"; names and kinds are checked by the server, but nothing that
 * would break the request line is sent. */
static bool path_of(char *out, size_t cap, const char *kind, const char *name)
{
    for (const char *s = kind; *s; s++)
        if ((unsigned char)*s <= 0x20 || *s == '/' || *s == '?' || *s == '#' || *s >= 0x7f)
            return false;
    for (const char *s = name ? name : ""; *s; s++)
        if ((unsigned char)*s <= 0x20 || *s == '/' || *s == '?' || *s == '#' || *s == '%' ||
            *s >= 0x7f)
            return false;
    int n = snprintf(out, cap, "/api/v1/mappings/%s%s%s", kind, name ? "/" : "", name ? name : "");
    return n > 0 && (size_t)n < cap;
}

static void print_body(const answer *r)
{
    json_t *d = r->body ? json_loads(r->body, 0, NULL) : NULL;
    char *pretty = d ? json_dumps(d, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    printf("%s\n", pretty ? pretty : (r->body ? r->body : ""));
    free(pretty);
    json_decref(d);
}

static int run_simple(const ts_cli_args *a, const char *method, bool item)
{
    target t = {0};
    int rc = resolve(a, &t);
    if (rc != TS_CLI_OK)
        return rc;
    char path[600];
    if (!path_of(path, sizeof path, a->operands[0], item ? a->operands[1] : NULL)) {
        release(&t);
        fprintf(stderr, "tokensmith: kind or name holds a character a path cannot\n");
        return TS_CLI_USAGE;
    }
    answer r;
    const char *if_match = if_match_of(a);
    char tag[64] = "";
    if (strcmp(method, "DELETE") == 0 && !(if_match && *if_match)) {
        call(&t, "GET", path, NULL, NULL, &r); /* the ETag it deletes */
        rc = judge(&r, 200);
        snprintf(tag, sizeof tag, "%s", r.etag);
        ts_cli_http_answer_free(&r);
        if (rc != TS_CLI_OK) {
            release(&t);
            return rc;
        }
        if_match = tag;
    }
    call(&t, method, path, strcmp(method, "DELETE") == 0 ? if_match : NULL, NULL, &r);
    release(&t);
    rc = judge(&r, strcmp(method, "DELETE") == 0 ? 204 : 200);
    if (rc == TS_CLI_OK && strcmp(method, "GET") == 0) {
        if (item && r.etag[0])
            fprintf(stderr, "ETag: %s\n", r.etag);
        print_body(&r);
    }
    ts_cli_http_answer_free(&r);
    return rc;
}

static int run_list(const ts_cli_args *a)
{
    return run_simple(a, "GET", false);
}

static int run_get(const ts_cli_args *a)
{
    return run_simple(a, "GET", true);
}

static int run_delete(const ts_cli_args *a)
{
    return run_simple(a, "DELETE", true);
}

/* apply: create (POST) when the item does not exist, else replace (PUT) with If-Match from the
 * GET, or --if-match when set (then a change made since that ETag is refused). */
static int run_apply(const ts_cli_args *a)
{
    const char *file = item_file(a);
    if (!file || !*file) {
        fprintf(stderr, "tokensmith: -f FILE (the item as JSON) is required\n");
        return TS_CLI_USAGE;
    }
    char *item = NULL;
    size_t len = 0;
    ts_error err;
    ts_error_clear(&err);
    if (ts_common__read_file(file, ITEM_MAX, TS_COMMON__READ_NO_NUL, &item, &len, &err) != TS_OK) {
        fprintf(stderr, "tokensmith: %s: %s\n", file, err.msg);
        return TS_CLI_FAIL;
    }
    json_t *d = json_loadb(item, len, JSON_REJECT_DUPLICATES, NULL);
    const char *kind = a->operands[0];
    const char *key = strcmp(kind, "scope_mappings") == 0 ? "scope" : "name";
    const char *name = json_string_value(json_object_get(d, key));
    char namebuf[256];
    snprintf(namebuf, sizeof namebuf, "%s", name ? name : "");
    json_decref(d);
    if (!namebuf[0]) {
        free(item);
        fprintf(stderr, "tokensmith: %s: no \"%s\" member names the item\n", file, key);
        return TS_CLI_USAGE;
    }
    target t = {0};
    int rc = resolve(a, &t);
    char path[600], coll[600];
    if (rc == TS_CLI_OK &&
        (!path_of(path, sizeof path, kind, namebuf) || !path_of(coll, sizeof coll, kind, NULL))) {
        fprintf(stderr, "tokensmith: kind or name holds a character a path cannot\n");
        rc = TS_CLI_USAGE;
    }
    if (rc != TS_CLI_OK) {
        release(&t);
        free(item);
        return rc;
    }
    const char *if_match = if_match_of(a);
    answer r;
    char tag[64] = "";
    bool exists = true;
    if (!(if_match && *if_match)) {
        call(&t, "GET", path, NULL, NULL, &r);
        exists = r.status != 404;
        snprintf(tag, sizeof tag, "%s", r.etag);
        rc = r.status == 404 ? TS_CLI_OK : judge(&r, 200);
        ts_cli_http_answer_free(&r);
        if_match = tag;
    }
    if (rc == TS_CLI_OK) {
        if (exists)
            call(&t, "PUT", path, if_match, item, &r);
        else
            call(&t, "POST", coll, NULL, item, &r);
        rc = judge(&r, exists ? 200 : 201);
        if (rc == TS_CLI_OK)
            printf("%s\n", r.etag);
        ts_cli_http_answer_free(&r);
    }
    release(&t);
    free(item);
    return rc;
}

static const ts_cli_use read_uses[] = {
    {F_MGMT_URL, 0}, {F_CACERT, 0}, {F_TOKEN_FILE, 0}, {F_COUNT, 0}};
static const ts_cli_use delete_uses[] = {
    {F_MGMT_URL, 0}, {F_CACERT, 0}, {F_TOKEN_FILE, 0}, {F_IF_MATCH, 0}, {F_COUNT, 0}};
static const ts_cli_use apply_uses[] = {
    {F_MGMT_URL, 0},   {F_CACERT, 0},   {F_MAPPINGS_FILE, TS_CLI_REQUIRED},
    {F_TOKEN_FILE, 0}, {F_IF_MATCH, 0}, {F_COUNT, 0}};

#define MAPPINGS_AFTER                                                                             \
    "The URL is the service's management listener (managementListen), from --url or\n"             \
    "TOKENSMITH_MANAGEMENT_URL. The bearer token comes from --token-file, else\n"                  \
    "TOKENSMITH_TOKEN, else the file named by TOKENSMITH_TOKEN_FILE (never from the command\n"     \
    "line): a token of this service or a Kubernetes service-account token (a projected token\n"    \
    "file), with the audience tokensmith-management. KIND is identity_rules,\n"                    \
    "resource_mappings or scope_mappings (docs/mappings.md).\n"                                    \
    "Exit status: 0 done; 1 unreachable or failed; 2 usage error or no token; 3 not found;\n"      \
    "4 conflict (exists, or changed since the ETag: 409, 412, 428); 5 refused (401, 403)."

const ts_cli_command ts_cli_cmd_mappings_list = {
    .name = "mappings list",
    .summary = "list the token mappings of one kind (management API)",
    .operands = "KIND",
    .min_operands = 1,
    .max_operands = 1,
    .about = "Print the items of KIND with their ETags, as JSON (the first 100; the answer's\n"
             "`next` names the following page).",
    .after = MAPPINGS_AFTER,
    .uses = read_uses,
    .run = run_list,
};

const ts_cli_command ts_cli_cmd_mappings_get = {
    .name = "mappings get",
    .summary = "print one token mapping and its ETag (management API)",
    .operands = "KIND NAME",
    .min_operands = 2,
    .max_operands = 2,
    .about = "Print the item NAME of KIND as JSON; its ETag goes to standard error.",
    .after = MAPPINGS_AFTER,
    .uses = read_uses,
    .run = run_get,
};

const ts_cli_command ts_cli_cmd_mappings_apply = {
    .name = "mappings apply",
    .summary = "create or replace a token mapping from a file (management API)",
    .operands = "KIND",
    .min_operands = 1,
    .max_operands = 1,
    .about = "Create the item in -f FILE, or replace the item of its name: with If-Match from\n"
             "a GET just before, or from --if-match ETAG (then a change made since that ETag is\n"
             "refused, exit 4). Prints the item's new ETag.",
    .after = MAPPINGS_AFTER,
    .uses = apply_uses,
    .run = run_apply,
};

const ts_cli_command ts_cli_cmd_mappings_delete = {
    .name = "mappings delete",
    .summary = "delete a token mapping (management API)",
    .operands = "KIND NAME",
    .min_operands = 2,
    .max_operands = 2,
    .about = "Delete the item NAME of KIND, with If-Match from --if-match ETAG (then a change\n"
             "made since that ETag is refused, exit 4) or from a GET just before.",
    .after = MAPPINGS_AFTER,
    .uses = delete_uses,
    .run = run_delete,
};
