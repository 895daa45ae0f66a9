/* tokensmith oidc status | configure: the client of the service's admin API. */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#define MAX_RESPONSE (1024u * 1024u)

/* Connect to http://HOST:PORT or unix:PATH. @return the socket or -1 with a message. */
static int admin_connect(const char *url, char *host_hdr, size_t cap, char *msg, size_t mcap)
{
    if (strncmp(url, "unix:", 5) == 0) {
        struct sockaddr_un un;
        memset(&un, 0, sizeof un);
        un.sun_family = AF_UNIX;
        size_t l = strlen(url + 5);
        if (l == 0 || l >= sizeof un.sun_path) {
            snprintf(msg, mcap, "bad socket path in '%s'", url);
            return -1;
        }
        memcpy(un.sun_path, url + 5, l + 1);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&un, (socklen_t)sizeof un) != 0) {
            snprintf(msg, mcap, "%s: %s", url, strerror(errno));
            if (fd >= 0)
                close(fd);
            return -1;
        }
        snprintf(host_hdr, cap, "localhost");
        return fd;
    }
    if (strncmp(url, "http://", 7) != 0) {
        snprintf(msg, mcap, "'%s' is not http://HOST:PORT or unix:PATH", url);
        return -1;
    }
    char hp[256];
    snprintf(hp, sizeof hp, "%s", url + 7);
    hp[strcspn(hp, "/")] = '\0';
    snprintf(host_hdr, cap, "%s", hp);
    char host[256];
    const char *port = "80";
    if (hp[0] == '[') {
        char *rb = strchr(hp, ']');
        if (!rb) {
            snprintf(msg, mcap, "bad address in '%s'", url);
            return -1;
        }
        *rb = '\0';
        snprintf(host, sizeof host, "%s", hp + 1);
        if (rb[1] == ':')
            port = rb + 2;
    } else {
        char *colon = strrchr(hp, ':');
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
    int fd = -1;
    int e = 0;
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

/* One HTTP/1.1 exchange with Connection: close. @return the status (0 on failure, with
 * @p msg set); *body_out is the body (free with free()). */
static int admin_call(const char *url, const char *method, const char *body, char **body_out,
                      char *msg, size_t mcap)
{
    *body_out = NULL;
    char host[300];
    int fd = admin_connect(url, host, sizeof host, msg, mcap);
    if (fd < 0)
        return 0;
    struct timeval tv = {30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    char head[512];
    size_t blen = body ? strlen(body) : 0;
    int hl = snprintf(head, sizeof head,
                      "%s /admin/oidc/config HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                      method, host, blen);
    if (hl < 0 || (size_t)hl >= sizeof head) {
        close(fd);
        snprintf(msg, mcap, "request too long");
        return 0;
    }
    const char *parts[2] = {head, body};
    size_t lens[2] = {(size_t)hl, blen};
    for (int p = 0; p < 2; p++) {
        size_t off = 0;
        while (off < lens[p]) {
            ssize_t w = send(fd, parts[p] + off, lens[p] - off, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                snprintf(msg, mcap, "%s: send: %s", url, strerror(errno));
                close(fd);
                return 0;
            }
            off += (size_t)w;
        }
    }
    char *buf = malloc(MAX_RESPONSE + 1);
    if (!buf) {
        close(fd);
        snprintf(msg, mcap, "out of memory");
        return 0;
    }
    size_t n = 0;
    for (;;) {
        ssize_t r = recv(fd, buf + n, MAX_RESPONSE - n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(msg, mcap, "%s: receive: %s", url, strerror(errno));
            close(fd);
            free(buf);
            return 0;
        }
        if (r == 0 || (n += (size_t)r) == MAX_RESPONSE)
            break;
    }
    close(fd);
    buf[n] = '\0';
    int status = 0;
    char *sep = strstr(buf, "\r\n\r\n");
    if (strncmp(buf, "HTTP/1.", 7) != 0 || n < 12 || !sep || sscanf(buf + 9, "%3d", &status) != 1) {
        snprintf(msg, mcap, "%s: not an HTTP response", url);
        free(buf);
        return 0;
    }
    size_t bl = n - (size_t)(sep + 4 - buf);
    memmove(buf, sep + 4, bl);
    buf[bl] = '\0';
    *body_out = buf;
    return status;
}

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

static int run(const char *url, const char *method, const char *body, bool configure)
{
    char msg[512] = "";
    char *resp = NULL;
    int status = admin_call(url, method, body, &resp, msg, sizeof msg);
    if (status == 0) {
        fprintf(stderr, "tokensmith: oidc: %s\n", msg);
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
    return run(ts_cli_get_or_default(a, F_ADMIN_URL), "GET", NULL, false);
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
    rc = run(ts_cli_get_or_default(a, F_ADMIN_URL), "POST", body, true);
    free(body);
    return rc;
}

static const ts_cli_use status_uses[] = {{F_ADMIN_URL, 0}, {F_COUNT, 0}};

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
    {F_ADMIN_URL, 0},
    {F_PROVIDERS_FILE, 0},
    {F_ISSUER_URL, 0},
    {F_CLIENT_ID, 0},
    {F_AUDIENCES, 0},
    {F_RESOURCES, 0},
    {F_PROVIDER_NAME, 0},
    {F_SUBJECT_TEMPLATE, 0},
    {F_OIDC_REMOVE, TS_CLI_REPEAT},
    {F_REPLACE_EXISTING, 0},
    {F_EXPECTED_VERSION, 0},
    {F_DRY_RUN, 0},
    {F_COUNT, 0},
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
