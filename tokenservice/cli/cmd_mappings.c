/* tokensmith mappings list | get | apply | delete: the client of the service's management API
 * (docs/mappings.md). One HTTP/1.1 exchange per call (two for apply: GET for the ETag, then
 * POST or PUT with If-Match), bearer token from the environment, bounded answers. */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/file.h"

extern const ts_cli_command ts_cli_cmd_mappings_list, ts_cli_cmd_mappings_get,
    ts_cli_cmd_mappings_apply, ts_cli_cmd_mappings_delete;

#define MAX_ANSWER (2u * 1024u * 1024u)
#define TOKEN_MAX 16384u
#define ITEM_MAX (64u * 1024u)

/* Exit statuses beyond the common three (documented in `after`). */
enum { EXIT_NOT_FOUND = 3, EXIT_CONFLICT = 4, EXIT_DENIED = 5 };

typedef struct answer {
    int status; /* 0: no answer (msg says why) */
    char *body; /* NUL-terminated, free() */
    char etag[64];
    char msg[512];
} answer;

static int connect_to(const char *url, char *host_hdr, size_t cap, char *msg, size_t mcap)
{
    if (strncmp(url, "http://", 7) != 0) {
        snprintf(msg, mcap, "'%s' is not http://HOST:PORT", url);
        return -1;
    }
    char hp[256];
    snprintf(hp, sizeof hp, "%s", url + 7);
    hp[strcspn(hp, "/")] = '\0';
    snprintf(host_hdr, cap, "%s", hp);
    char host[256];
    const char *port = "80";
    char *colon = hp[0] == '[' ? strstr(hp, "]:") : strrchr(hp, ':');
    if (hp[0] == '[') {
        if (!colon) {
            snprintf(msg, mcap, "'%s' is not http://[ADDR]:PORT", url);
            return -1;
        }
        *colon = '\0';
        port = colon + 2;
        snprintf(host, sizeof host, "%s", hp + 1);
    } else {
        if (colon) {
            *colon = '\0';
            port = colon + 1;
        }
        snprintf(host, sizeof host, "%s", hp);
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(msg, mcap, "%s: %s", url, gai_strerror(rc));
        return -1;
    }
    int fd = -1, e = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        e = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        snprintf(msg, mcap, "%s: %s", url, strerror(e ? e : ECONNREFUSED));
    return fd;
}

static bool send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* One exchange with Connection: close; the token goes in the Authorization header only. */
static void call(const char *base, const char *method, const char *path, const char *token,
                 const char *if_match, const char *body, answer *out)
{
    memset(out, 0, sizeof *out);
    char host[300];
    int fd = connect_to(base, host, sizeof host, out->msg, sizeof out->msg);
    if (fd < 0)
        return;
    struct timeval tv = {30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    size_t blen = body ? strlen(body) : 0;
    size_t hcap = strlen(token) + strlen(path) + 1024;
    char *head = malloc(hcap);
    char *buf = malloc(MAX_ANSWER + 1);
    if (!head || !buf) {
        snprintf(out->msg, sizeof out->msg, "out of memory");
        goto done;
    }
    int hl = snprintf(head, hcap,
                      "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nAuthorization: Bearer "
                      "%s\r\n%s%s%s%sContent-Length: %zu\r\n\r\n",
                      method, path, host, token, if_match ? "If-Match: \"" : "",
                      if_match ? if_match : "", if_match ? "\"\r\n" : "",
                      body ? "Content-Type: application/json\r\n" : "", blen);
    if (hl < 0 || (size_t)hl >= hcap || !send_all(fd, head, (size_t)hl) ||
        (blen && !send_all(fd, body, blen))) {
        snprintf(out->msg, sizeof out->msg, "%s: send: %s", base, strerror(errno));
        goto done;
    }
    size_t n = 0;
    for (;;) {
        ssize_t r = recv(fd, buf + n, MAX_ANSWER - n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(out->msg, sizeof out->msg, "%s: receive: %s", base, strerror(errno));
            goto done;
        }
        if (r == 0 || (n += (size_t)r) == MAX_ANSWER)
            break;
    }
    buf[n] = '\0';
    char *sep = strstr(buf, "\r\n\r\n");
    int status = 0;
    if (strncmp(buf, "HTTP/1.", 7) != 0 || !sep || sscanf(buf + 9, "%3d", &status) != 1) {
        snprintf(out->msg, sizeof out->msg, "%s: not an HTTP response", base);
        goto done;
    }
    *sep = '\0';
    for (char *l = strstr(buf, "\r\n"); l; l = strstr(l + 2, "\r\n"))
        if (strncasecmp(l + 2, "ETag:", 5) == 0) {
            const char *v = l + 7;
            while (*v == ' ' || *v == '"')
                v++;
            size_t k = strcspn(v, "\"\r");
            snprintf(out->etag, sizeof out->etag, "%.*s", (int)k, v);
        }
    size_t bl = n - (size_t)(sep + 4 - buf);
    memmove(buf, sep + 4, bl);
    buf[bl] = '\0';
    out->body = buf;
    buf = NULL;
    out->status = status;
done:
    free(head);
    free(buf);
    close(fd);
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

typedef struct target {
    const char *url;
    char *token;
} target;

/* The API's base URL and the bearer token: --url or TOKENSMITH_MANAGEMENT_URL;
 * TOKENSMITH_TOKEN, else the file named by TOKENSMITH_TOKEN_FILE. */
static int resolve(const ts_cli_args *a, target *t)
{
    t->url = ts_cli_get(a, F_ADMIN_URL);
    if (!t->url || !*t->url)
        t->url = getenv("TOKENSMITH_MANAGEMENT_URL");
    if (!t->url || !*t->url) {
        fprintf(stderr, "tokensmith: --url or TOKENSMITH_MANAGEMENT_URL is required\n");
        return TS_CLI_USAGE;
    }
    const char *tok = getenv("TOKENSMITH_TOKEN");
    const char *file = getenv("TOKENSMITH_TOKEN_FILE");
    if (tok && *tok) {
        t->token = strdup(tok);
    } else if (file && *file) {
        char *text = NULL;
        size_t len = 0;
        ts_error err;
        ts_error_clear(&err);
        if (ts_common__read_file(file, TOKEN_MAX, TS_COMMON__READ_NO_NUL, &text, &len, &err) !=
            TS_OK) {
            fprintf(stderr, "tokensmith: TOKENSMITH_TOKEN_FILE: %s\n", err.msg);
            return TS_CLI_USAGE;
        }
        while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
            text[--len] = '\0';
        t->token = text;
    }
    if (!t->token || !*t->token) {
        fprintf(stderr, "tokensmith: no bearer token: set TOKENSMITH_TOKEN or "
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
    const char *if_match = getenv("TOKENSMITH_IF_MATCH");
    char tag[64] = "";
    if (strcmp(method, "DELETE") == 0 && !(if_match && *if_match)) {
        call(t.url, "GET", path, t.token, NULL, NULL, &r); /* the ETag it deletes */
        rc = judge(&r, 200);
        snprintf(tag, sizeof tag, "%s", r.etag);
        free(r.body);
        if (rc != TS_CLI_OK) {
            release(&t);
            return rc;
        }
        if_match = tag;
    }
    call(t.url, method, path, t.token, strcmp(method, "DELETE") == 0 ? if_match : NULL, NULL, &r);
    release(&t);
    rc = judge(&r, strcmp(method, "DELETE") == 0 ? 204 : 200);
    if (rc == TS_CLI_OK && strcmp(method, "GET") == 0) {
        if (item && r.etag[0])
            fprintf(stderr, "ETag: %s\n", r.etag);
        print_body(&r);
    }
    free(r.body);
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
 * GET, or TOKENSMITH_IF_MATCH when set (then a change made since that ETag is refused). */
static int run_apply(const ts_cli_args *a)
{
    const char *file = ts_cli_get(a, F_PROVIDERS_FILE);
    if (!file || !*file) {
        fprintf(stderr, "tokensmith: --file FILE (the item as JSON) is required\n");
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
    const char *if_match = getenv("TOKENSMITH_IF_MATCH");
    answer r;
    char tag[64] = "";
    bool exists = true;
    if (!(if_match && *if_match)) {
        call(t.url, "GET", path, t.token, NULL, NULL, &r);
        exists = r.status != 404;
        snprintf(tag, sizeof tag, "%s", r.etag);
        rc = r.status == 404 ? TS_CLI_OK : judge(&r, 200);
        free(r.body);
        if_match = tag;
    }
    if (rc == TS_CLI_OK) {
        if (exists)
            call(t.url, "PUT", path, t.token, if_match, item, &r);
        else
            call(t.url, "POST", coll, t.token, NULL, item, &r);
        rc = judge(&r, exists ? 200 : 201);
        if (rc == TS_CLI_OK)
            printf("%s\n", r.etag);
        free(r.body);
    }
    release(&t);
    free(item);
    return rc;
}

static const ts_cli_use read_uses[] = {{F_ADMIN_URL, TS_CLI_NOENV}, {F_COUNT, 0}};
static const ts_cli_use apply_uses[] = {
    {F_ADMIN_URL, TS_CLI_NOENV}, {F_PROVIDERS_FILE, TS_CLI_REQUIRED}, {F_COUNT, 0}};

#define MAPPINGS_AFTER                                                                             \
    "The URL is the service's management listener (managementListen), from --url or\n"             \
    "TOKENSMITH_MANAGEMENT_URL; the bearer token comes from TOKENSMITH_TOKEN or the file\n"        \
    "named by TOKENSMITH_TOKEN_FILE, and needs the audience tokensmith-management. KIND is\n"      \
    "identity_rules, resource_mappings or scope_mappings (docs/mappings.md).\n"                    \
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
    .about = "Create the item in --file, or replace the item of its name: with If-Match from a\n"
             "GET just before, or from TOKENSMITH_IF_MATCH (then a change made since that ETag\n"
             "is refused, exit 4). Prints the item's new ETag.",
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
    .about = "Delete the item NAME of KIND, with If-Match from TOKENSMITH_IF_MATCH or from a GET\n"
             "just before.",
    .after = MAPPINGS_AFTER,
    .uses = read_uses,
    .run = run_delete,
};
