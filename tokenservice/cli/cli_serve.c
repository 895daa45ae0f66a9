/* tokensmith serve, generate-config, bootstrap-token create and user-token create. */
#define _GNU_SOURCE

#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include <tokensmith/store.h>

#include "config.h"
#include "keys.h"
#include "mint.h"
#include "server.h"

/* ------------------------------------------------------------------------------------------ */
/* Flag parsing: `--name value` or `--name=value`.                                           */

typedef struct flag_spec {
    const char *flag;    /* without the leading dashes */
    const char *setting; /* config key, or a special name starting with '@' */
} flag_spec;

typedef struct parsed_flag {
    const flag_spec *spec;
    const char *value;
} parsed_flag;

#define MAX_FLAGS 64

static int parse_flags(const char *cmd, int argc, char **argv, const flag_spec *specs, size_t n,
                       parsed_flag *out, size_t *n_out)
{
    *n_out = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "tokensmith: %s: unexpected argument '%s'\n", cmd, a);
            return TS_CLI_USAGE;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        const flag_spec *sp = NULL;
        for (size_t k = 0; k < n; k++)
            if (strlen(specs[k].flag) == nl && strncmp(specs[k].flag, name, nl) == 0)
                sp = &specs[k];
        if (!sp) {
            fprintf(stderr, "tokensmith: %s: unknown flag '%.*s'\n", cmd, (int)(nl + 2), a);
            return TS_CLI_USAGE;
        }
        const char *v;
        if (eq) {
            v = eq + 1;
        } else {
            if (i + 1 >= argc) {
                fprintf(stderr, "tokensmith: %s: flag '%s' needs a value\n", cmd, a);
                return TS_CLI_USAGE;
            }
            v = argv[++i];
        }
        if (*n_out == MAX_FLAGS) {
            fprintf(stderr, "tokensmith: %s: too many flags\n", cmd);
            return TS_CLI_USAGE;
        }
        out[*n_out].spec = sp;
        out[*n_out].value = v;
        (*n_out)++;
    }
    return TS_CLI_OK;
}

static const char *flag_value(const parsed_flag *f, size_t n, const char *setting)
{
    const char *v = NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(f[i].spec->setting, setting) == 0)
            v = f[i].value;
    return v;
}

static bool has_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (ts_cli_is_help(argv[i]))
            return true;
    return false;
}

/* Refused instead of ignored: a deployment that asks for TLS must not silently get plain HTTP. */
static const char *const unsupported_env[] = {"TOKENSMITH_TLS_CERT_FILE", "TOKENSMITH_TLS_KEY_FILE",
                                              "TOKENSMITH_SERVICE_IDENTITY_CA"};

/* Defaults < config file < environment < flags. A flag given as "" counts as unset. */
static int load_config(const char *cmd, ts_svc_config *c, const parsed_flag *f, size_t n)
{
    ts_error err;
    ts_error_clear(&err);
    ts_svc_config_defaults(c);
    const char *path = flag_value(f, n, "@config");
    if (!path || !*path)
        path = getenv("TOKENSMITH_CONFIG");
    if (path && *path && ts_svc_config_load_file(c, path, &err) != TS_OK) {
        ts_cli_report(cmd, &err);
        return TS_CLI_FAIL;
    }
    if (ts_svc_config_apply_env(c, &err) != TS_OK) {
        ts_cli_report(cmd, &err);
        return TS_CLI_FAIL;
    }
    for (size_t i = 0; i < n; i++) {
        const char *key = f[i].spec->setting;
        if (key[0] == '@' || !f[i].value[0])
            continue;
        char where[64];
        snprintf(where, sizeof where, "--%s", f[i].spec->flag);
        ts_status st = strcmp(key, "port") == 0 ? ts_svc_config_set_port(c, f[i].value, where, &err)
                                                : ts_svc_config_set(c, key, f[i].value, &err);
        if (st != TS_OK) {
            if (strcmp(key, "port") != 0)
                snprintf(err.where, sizeof err.where, "%s", where);
            ts_cli_report(cmd, &err);
            return TS_CLI_USAGE;
        }
    }
    /* --key-file wins over a key directory from any lower source, and the other way round. */
    const char *kf = flag_value(f, n, "keyFile"), *kd = flag_value(f, n, "keyDir");
    if (kf && *kf && !(kd && *kd))
        c->key_dir[0] = '\0';
    if (kd && *kd && !(kf && *kf))
        c->key_file[0] = '\0';
    if (ts_svc_config_finish(c, &err) != TS_OK) {
        ts_cli_report(cmd, &err);
        return TS_CLI_FAIL;
    }
    return TS_CLI_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* serve                                                                                      */

static const flag_spec serve_flags[] = {
    {"config", "@config"},
    {"issuer", "issuer"},
    {"listen", "listen"},
    {"port", "port"},
    {"cluster-id", "clusterId"},
    {"openchami-id", "openchamiId"},
    {"home", "home"},
    {"key-file", "keyFile"},
    {"key-dir", "keyDir"},
    {"alg", "algorithm"},
    {"store", "store"},
    {"log-format", "logFormat"},
    {"trusted-proxy", "trustedProxy"},
    {"admin-listen", "adminListen"},
    {"access-ttl", "accessTokenTTL"},
    {"redeem-retry-grace", "redeemRetryGrace"},
    {"threads", "threads"},
    {"tls-cert-file", "@unsupported"},
    {"tls-key-file", "@unsupported"},
    {"service-identity-ca", "@unsupported"},
    {"oidc-issuer", "@unsupported"},
    {"oidc-client-id", "@unsupported"},
    {"oidc-client-secret", "@unsupported"},
    {"non-enforcing", "@unsupported"},
    {"enable-local-user-mint", "@unsupported"},
    {"rfc8693-bootstrap-store", "@unsupported"},
    {"rfc8693-refresh-store", "@unsupported"},
};

void ts_cli_serve_usage(FILE *out)
{
    fprintf(out,
            "usage: tokensmith serve [options]\n"
            "\n"
            "Run the token service: /health, /.well-known/jwks.json,\n"
            "/.well-known/openid-configuration, POST /oauth/token (and /token).\n"
            "With no options it listens on 127.0.0.1:8080 and keeps its keys and store in\n"
            "$TOKENSMITH_HOME or ./tokensmith-data. Precedence: flag > environment > config\n"
            "file > default.\n"
            "\n"
            "options (environment variable in brackets):\n"
            "  --config FILE          JSON configuration [TOKENSMITH_CONFIG]\n"
            "  --issuer URL           iss of issued tokens [TOKENSMITH_ISSUER]\n"
            "  --listen HOST:PORT     listen address, default 127.0.0.1:8080 [TOKENSMITH_LISTEN]\n"
            "  --port PORT            replace the port of --listen [TOKENSMITH_PORT]\n"
            "  --cluster-id ID        cluster_id claim [TOKENSMITH_CLUSTER_ID]\n"
            "  --openchami-id ID      openchami_id claim [TOKENSMITH_OPENCHAMI_ID]\n"
            "  --home DIR             state directory [TOKENSMITH_HOME]\n"
            "  --key-dir DIR          signing keys, default <home>/keys [TOKENSMITH_KEY_DIR]\n"
            "  --key-file FILE        one signing key file instead [TOKENSMITH_KEY_FILE]\n"
            "  --alg ALG              PS256 (default), RS256, ES256, ES384 [TOKENSMITH_ALG]\n"
            "  --store FILE           SQLite store, default <home>/tokensmith.db "
            "[TOKENSMITH_STORE]\n"
            "  --log-format FMT       json (default) or text [TOKENSMITH_LOG_FORMAT]\n"
            "  --trusted-proxy ADDR   believe X-Forwarded-For from this peer only\n"
            "                         [TOKENSMITH_TRUSTED_PROXY]\n"
            "  --access-ttl DUR       access token lifetime, default 1h [TOKENSMITH_ACCESS_TTL]\n"
            "  --redeem-retry-grace DUR  lost-response retry window, default 0 (single use)\n"
            "  --threads N            worker threads, default 16\n"
            "  --admin-listen ADDR    admin API (GET/POST /admin/oidc/config) on a loopback\n"
            "                         HOST:PORT or unix:PATH; default off\n"
            "                         [TOKENSMITH_ADMIN_LISTEN]\n"
            "\n"
            "Upstream OpenID providers come from the `oidc` member of the configuration file\n"
            "or from the admin API (docs/oidc.md). TLS, mTLS service identity and the\n"
            "single-provider --oidc-* options of the original are refused (terminate TLS at a\n"
            "proxy). SIGTERM or SIGINT stops the service gracefully.\n");
}

int ts_cli_serve(int argc, char **argv)
{
    if (has_help(argc, argv)) {
        ts_cli_serve_usage(stdout);
        return TS_CLI_OK;
    }
    parsed_flag f[MAX_FLAGS];
    size_t n;
    int rc = parse_flags("serve", argc, argv, serve_flags,
                         sizeof serve_flags / sizeof serve_flags[0], f, &n);
    if (rc != TS_CLI_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(f[i].spec->setting, "@unsupported") == 0 && f[i].value[0]) {
            fprintf(stderr, "tokensmith: serve: --%s is not supported by this version\n",
                    f[i].spec->flag);
            return TS_CLI_USAGE;
        }
    }
    for (size_t i = 0; i < sizeof unsupported_env / sizeof unsupported_env[0]; i++) {
        const char *v = getenv(unsupported_env[i]);
        if (v && *v) {
            fprintf(stderr,
                    "tokensmith: serve: %s is set, but TLS is not supported by this "
                    "version (terminate TLS at a proxy)\n",
                    unsupported_env[i]);
            return TS_CLI_FAIL;
        }
    }
    ts_svc_config c;
    if ((rc = load_config("serve", &c, f, n)) != TS_CLI_OK)
        return rc;
    /* Block the stop signals in every thread (the server's threads inherit this mask), so that
     * ts_svc_run() receives them synchronously. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    ts_error err;
    ts_error_clear(&err);
    ts_svc *s = ts_svc_start(&c, &err);
    if (!s) {
        ts_cli_report("serve", &err);
        return TS_CLI_FAIL;
    }
    ts_svc_run(s);
    ts_svc_free(s);
    return TS_CLI_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* generate-config                                                                            */

void ts_cli_generate_config_usage(FILE *out)
{
    fprintf(out, "usage: tokensmith generate-config --config FILE [--force]\n"
                 "\n"
                 "Write a complete configuration for `tokensmith serve` with every field at its\n"
                 "default and a comment member (\"// name\") explaining it. FILE '-' writes to\n"
                 "stdout. An existing FILE is kept unless --force is given. Fields:\n"
                 "docs/configuration.md.\n");
}

int ts_cli_generate_config(int argc, char **argv)
{
    const char *path = NULL;
    bool force = false;
    for (int i = 1; i < argc; i++) {
        if (ts_cli_is_help(argv[i])) {
            ts_cli_generate_config_usage(stdout);
            return TS_CLI_OK;
        }
        if (strcmp(argv[i], "--force") == 0) {
            force = true;
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            path = argv[i] + 9;
        } else {
            fprintf(stderr, "tokensmith: generate-config: unexpected argument '%s'\n", argv[i]);
            ts_cli_generate_config_usage(stderr);
            return TS_CLI_USAGE;
        }
    }
    if (!path || !*path) {
        fprintf(stderr, "tokensmith: generate-config: --config FILE is required\n");
        return TS_CLI_USAGE;
    }
    if (strcmp(path, "-") == 0) {
        ts_svc_config_write_template(stdout);
        return TS_CLI_OK;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL), 0644);
    if (fd < 0) {
        fprintf(stderr, "tokensmith: generate-config: %s: %s%s\n", path, strerror(errno),
                errno == EEXIST ? " (use --force to replace it)" : "");
        return TS_CLI_FAIL;
    }
    FILE *fp = fdopen(fd, "w");
    if (!fp) {
        close(fd);
        fprintf(stderr, "tokensmith: generate-config: %s: %s\n", path, strerror(errno));
        return TS_CLI_FAIL;
    }
    ts_svc_config_write_template(fp);
    if (fclose(fp) != 0) {
        fprintf(stderr, "tokensmith: generate-config: %s: %s\n", path, strerror(errno));
        return TS_CLI_FAIL;
    }
    printf("Generated configuration file at: %s\n", path);
    return TS_CLI_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* bootstrap-token create                                                                     */

void ts_cli_bootstrap_usage(FILE *out)
{
    fprintf(out,
            "usage: tokensmith bootstrap-token create --subject S --audience A [--scopes LIST]\n"
            "           [--ttl 10m] [--refresh-ttl 24h] [--binding-identifier ID]\n"
            "           [--store FILE] [--config FILE] [--output-format text|json]\n"
            "\n"
            "Create a one-time bootstrap token in the store (the same SQLite file `serve` uses;\n"
            "safe while it runs) and print it. Only its SHA-256 is stored. Everything is\n"
            "checked before anything is written: --ttl 1m..1h, --refresh-ttl 1h..720h,\n"
            "--scopes split on commas and white space. Store: --store, else TOKENSMITH_STORE,\n"
            "else the config file's store, else <home>/tokensmith.db.\n");
}

static void go_duration(int64_t s, char *out, size_t cap)
{
    int64_t h = s / 3600, m = (s % 3600) / 60, sec = s % 60;
    int n;
    if (h)
        n = snprintf(out, cap, "%lldh%lldm%llds", (long long)h, (long long)m, (long long)sec);
    else if (m)
        n = snprintf(out, cap, "%lldm%llds", (long long)m, (long long)sec);
    else
        n = snprintf(out, cap, "%llds", (long long)sec);
    if (n < 0)
        out[0] = '\0';
}

static void rfc3339_local(int64_t t, char *out, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    char z[8];
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    if (tm.tm_gmtoff == 0) {
        snprintf(out + n, cap - n, "Z");
        return;
    }
    long off = tm.tm_gmtoff;
    char sign = off < 0 ? '-' : '+';
    if (off < 0)
        off = -off;
    int w = snprintf(z, sizeof z, "%c%02ld:%02ld", sign, (off / 3600) % 100, (off % 3600) / 60);
    if (w > 0)
        snprintf(out + n, cap - n, "%s", z);
}

static int mkdir_parent(const char *path)
{
    char dir[TS_SVC_PATH];
    int w = snprintf(dir, sizeof dir, "%s", path);
    if (w < 0 || (size_t)w >= sizeof dir)
        return -1;
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return (mkdir(dir, 0700) != 0 && errno != EEXIST) ? -1 : 0;
}

static const flag_spec bootstrap_flags[] = {
    {"subject", "@subject"},
    {"audience", "@audience"},
    {"scopes", "@scopes"},
    {"ttl", "@ttl"},
    {"refresh-ttl", "@refresh"},
    {"binding-identifier", "@binding"},
    {"output-format", "@format"},
    {"store", "store"},
    {"bootstrap-store", "store"},
    {"config", "@config"},
    {"home", "home"},
};

static int bootstrap_create(int argc, char **argv)
{
    if (has_help(argc, argv)) {
        ts_cli_bootstrap_usage(stdout);
        return TS_CLI_OK;
    }
    parsed_flag f[MAX_FLAGS];
    size_t n;
    int rc = parse_flags("bootstrap-token create", argc, argv, bootstrap_flags,
                         sizeof bootstrap_flags / sizeof bootstrap_flags[0], f, &n);
    if (rc != TS_CLI_OK)
        return rc;
    const char *subject = flag_value(f, n, "@subject");
    const char *audience = flag_value(f, n, "@audience");
    const char *scopes = flag_value(f, n, "@scopes");
    const char *ttl_s = flag_value(f, n, "@ttl");
    const char *rttl_s = flag_value(f, n, "@refresh");
    const char *binding = flag_value(f, n, "@binding");
    const char *format = flag_value(f, n, "@format");
    if (!subject || !*subject || !audience || !*audience) {
        fprintf(stderr, "tokensmith: bootstrap-token create: --subject and --audience are "
                        "required\n");
        return TS_CLI_USAGE;
    }
    if (!format)
        format = "text";
    if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0) {
        fprintf(stderr,
                "tokensmith: bootstrap-token create: --output-format '%s' is not text or "
                "json\n",
                format);
        return TS_CLI_USAGE;
    }
    int64_t ttl = 600, rttl = 86400;
    if (ttl_s && !ts_svc_parse_duration(ttl_s, &ttl)) {
        fprintf(stderr, "tokensmith: bootstrap-token create: --ttl '%s' is not a duration\n",
                ttl_s);
        return TS_CLI_USAGE;
    }
    if (rttl_s && !ts_svc_parse_duration(rttl_s, &rttl)) {
        fprintf(stderr,
                "tokensmith: bootstrap-token create: --refresh-ttl '%s' is not a duration\n",
                rttl_s);
        return TS_CLI_USAGE;
    }
    ts_svc_config c;
    if ((rc = load_config("bootstrap-token create", &c, f, n)) != TS_CLI_OK)
        return rc;
    if (mkdir_parent(c.store) != 0) {
        fprintf(stderr,
                "tokensmith: bootstrap-token create: cannot create the directory of %s: "
                "%s\n",
                c.store, strerror(errno));
        return TS_CLI_FAIL;
    }
    ts_error err;
    ts_error_clear(&err);
    ts_store_options so = TS_STORE_OPTIONS_INIT;
    so.path = c.store;
    so.max_connections = 1;
    ts_store *st = ts_store_new(&so, &err);
    if (!st) {
        ts_cli_report("bootstrap-token create", &err);
        return TS_CLI_FAIL;
    }
    ts_store_bootstrap_params p = {subject, audience,           scopes, binding, ttl,
                                   rttl,    (int64_t)time(NULL)};
    char token[TS_STORE_TOKEN_LEN + 1];
    ts_store_bootstrap_record rec;
    ts_status s = ts_store_bootstrap_create(st, &p, token, &rec, &err);
    ts_store_free(st);
    if (s != TS_OK) {
        ts_cli_report("bootstrap-token create", &err);
        return s == TS_EINVAL ? TS_CLI_USAGE : TS_CLI_FAIL;
    }
    char exp[48], d1[32], d2[32];
    rfc3339_local(rec.expires_at, exp, sizeof exp);
    if (strcmp(format, "json") == 0) {
        json_t *pol = json_object();
        json_object_set_new(pol, "audience", json_string(rec.audience));
        json_object_set_new(pol, "binding_identifier", json_string(rec.binding_id));
        json_object_set_new(pol, "refresh_ttl_seconds", json_integer(rec.refresh_ttl_s));
        if (rec.scope[0]) {
            json_t *arr = json_array();
            for (const char *q = rec.scope; *q;) {
                size_t l = strcspn(q, " ");
                if (l)
                    json_array_append_new(arr, json_stringn(q, l));
                q += l;
                while (*q == ' ')
                    q++;
            }
            json_object_set_new(pol, "scopes", arr);
        } else {
            json_object_set_new(pol, "scopes", json_null());
        }
        json_object_set_new(pol, "subject", json_string(rec.subject));
        json_object_set_new(pol, "ttl_seconds", json_integer(rec.ttl_s));
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
    } else {
        char scopes_out[TS_STORE_MAX_SCOPE_LEN * 2 + 1];
        size_t o = 0;
        for (const char *q = rec.scope; *q && o + 2 < sizeof scopes_out; q++) {
            if (*q == ' ') {
                scopes_out[o++] = ',';
                scopes_out[o++] = ' ';
            } else {
                scopes_out[o++] = *q;
            }
        }
        scopes_out[o] = '\0';
        go_duration(rec.ttl_s, d1, sizeof d1);
        go_duration(rec.refresh_ttl_s, d2, sizeof d2);
        printf("Bootstrap Token: %s\n"
               "Expires At:      %s\n"
               "Subject:         %s\n"
               "Audience:        %s\n"
               "Scopes:          %s\n"
               "TTL:             %s\n"
               "Refresh TTL:     %s\n",
               token, exp, rec.subject, rec.audience, scopes_out, d1, d2);
        if (rec.binding_id[0])
            printf("Binding ID:      %s\n", rec.binding_id);
    }
    fflush(stdout);
    char hash[TS_STORE_HASH_LEN + 1], prefix[TS_STORE_PREFIX_LEN + 1];
    if (ts_store_token_hash(token, TS_STORE_TOKEN_LEN, hash, &err) == TS_OK)
        ts_store_hash_prefix(hash, prefix);
    else
        prefix[0] = '\0';
    OPENSSL_cleanse(token, sizeof token);
    fprintf(stderr,
            "\n\xe2\x9c\x93 Bootstrap token created successfully\n"
            "  Store path: %s\n"
            "  Token hash: %s...\n",
            c.store, prefix);
    return TS_CLI_OK;
}

int ts_cli_bootstrap(int argc, char **argv)
{
    if (argc < 2 || ts_cli_is_help(argv[1])) {
        ts_cli_bootstrap_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? TS_CLI_USAGE : TS_CLI_OK;
    }
    if (strcmp(argv[1], "create") == 0)
        return bootstrap_create(argc - 1, argv + 1);
    fprintf(stderr, "tokensmith: bootstrap-token: unknown sub-command '%s'\n", argv[1]);
    ts_cli_bootstrap_usage(stderr);
    return TS_CLI_USAGE;
}

/* ------------------------------------------------------------------------------------------ */
/* user-token create (break-glass)                                                            */

#define USER_TOKEN_MAX_TTL 86400
#define MINT_FLAG "--enable-local-user-mint"

void ts_cli_user_token_usage(FILE *out)
{
    fprintf(
        out,
        "usage: tokensmith user-token create " MINT_FLAG " --subject S --scopes LIST\n"
        "           [--ttl 1h] [--audience A] [--operator NAME] [--key-dir DIR | --key-file F]\n"
        "           [--store FILE] [--config FILE] [--home DIR] [--issuer URL]\n"
        "\n"
        "Break-glass: mint a user access token offline with the service's signing key,\n"
        "for when the upstream identity provider is unavailable. Nothing is minted "
        "without\n" MINT_FLAG ". The token is marked: auth_methods is\n"
        "[\"local_user_mint\", \"operator_attested\"], so that verifiers can refuse it\n"
        "(`tokensmith token verify --reject-local-mint`, authn's reject_local_mint).\n"
        "Before the token is printed, an audit record (operator, subject, scopes, jti,\n"
        "expiry; never the token) is appended to the store's audit log; without it nothing\n"
        "is printed.\n"
        "\n"
        "options:\n"
        "  --subject S          sub of the token (required)\n"
        "  --scopes LIST        scopes, split on commas and white space (at least one)\n"
        "  --ttl DUR            lifetime, default 1h, at most 24h\n"
        "  --audience A         aud, default openchami\n"
        "  --operator NAME      who mints, for the audit record (default $SUDO_USER, $USER)\n"
        "  --key-dir, --key-file, --store, --config, --home, --issuer, --cluster-id,\n"
        "  --openchami-id       as for `serve`; the key must already exist\n");
}

static const flag_spec user_token_flags[] = {
    {"subject", "@subject"},
    {"scopes", "@scopes"},
    {"ttl", "@ttl"},
    {"audience", "@audience"},
    {"operator", "@operator"},
    {"key-dir", "keyDir"},
    {"key-file", "keyFile"},
    {"store", "store"},
    {"config", "@config"},
    {"home", "home"},
    {"issuer", "issuer"},
    {"cluster-id", "clusterId"},
    {"openchami-id", "openchamiId"},
};

/* The break-glass path signs only with a key the service already has: a freshly generated key
 * would be one no verifier knows. */
static bool key_exists(const ts_svc_config *c)
{
    if (c->key_file[0])
        return access(c->key_file, R_OK) == 0;
    char path[TS_SVC_PATH + 16];
    snprintf(path, sizeof path, "%s/active.pem", c->key_dir);
    if (access(path, R_OK) == 0)
        return true;
    DIR *d = opendir(c->key_dir);
    if (!d)
        return false;
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        found = l > 4 && strcmp(e->d_name + l - 4, ".pem") == 0;
    }
    closedir(d);
    return found;
}

static int user_token_create(int argc, char **argv)
{
    static const char cmd[] = "user-token create";
    if (has_help(argc, argv)) {
        ts_cli_user_token_usage(stdout);
        return TS_CLI_OK;
    }
    /* The boolean consent flag takes no value: take it out before the flag parser. */
    char *args[MAX_FLAGS * 2 + 2];
    int na = 0;
    bool enabled = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], MINT_FLAG) == 0 || strcmp(argv[i], MINT_FLAG "=true") == 0) {
            enabled = true;
            continue;
        }
        if (na == (int)(sizeof args / sizeof args[0]) - 1) {
            fprintf(stderr, "tokensmith: %s: too many arguments\n", cmd);
            return TS_CLI_USAGE;
        }
        args[na++] = argv[i];
    }
    args[na] = NULL;
    parsed_flag f[MAX_FLAGS];
    size_t n;
    int rc = parse_flags(cmd, na, args, user_token_flags,
                         sizeof user_token_flags / sizeof user_token_flags[0], f, &n);
    if (rc != TS_CLI_OK)
        return rc;
    if (!enabled) {
        fprintf(stderr,
                "tokensmith: %s: local user minting is disabled; re-run with " MINT_FLAG "\n", cmd);
        return TS_CLI_USAGE;
    }
    const char *subject = flag_value(f, n, "@subject");
    const char *scopes_in = flag_value(f, n, "@scopes");
    const char *ttl_s = flag_value(f, n, "@ttl");
    const char *audience = flag_value(f, n, "@audience");
    const char *op = flag_value(f, n, "@operator");
    if (!op || !*op)
        op = getenv("SUDO_USER");
    if (!op || !*op)
        op = getenv("USER");
    if (!op || !*op)
        op = "unknown";
    if (!audience || !*audience)
        audience = "openchami";
    if (!subject || !*subject) {
        fprintf(stderr, "tokensmith: %s: --subject is required\n", cmd);
        return TS_CLI_USAGE;
    }
    /* Scopes: split on commas and white space, each an RFC 6749 scope token. */
    char scope[TS_STORE_MAX_SCOPE_LEN + 1];
    size_t so = 0;
    for (const char *q = scopes_in ? scopes_in : ""; *q;) {
        size_t l = strcspn(q, ", \t");
        for (size_t k = 0; k < l; k++) {
            unsigned char ch = (unsigned char)q[k];
            if (ch < 0x21 || ch == '"' || ch == '\\' || ch > 0x7e) {
                fprintf(stderr, "tokensmith: %s: --scopes: '%.*s' is not a scope token\n", cmd,
                        (int)l, q);
                return TS_CLI_USAGE;
            }
        }
        if (l) {
            if (so + l + 2 > sizeof scope) {
                fprintf(stderr, "tokensmith: %s: --scopes too long\n", cmd);
                return TS_CLI_USAGE;
            }
            if (so)
                scope[so++] = ' ';
            memcpy(scope + so, q, l);
            so += l;
        }
        q += l;
        q += strspn(q, ", \t");
    }
    scope[so] = '\0';
    if (!so) {
        fprintf(stderr, "tokensmith: %s: --scopes needs at least one scope\n", cmd);
        return TS_CLI_USAGE;
    }
    int64_t ttl = 3600;
    if (ttl_s && (!ts_svc_parse_duration(ttl_s, &ttl) || ttl <= 0)) {
        fprintf(stderr, "tokensmith: %s: --ttl '%s' is not a positive duration\n", cmd, ttl_s);
        return TS_CLI_USAGE;
    }
    if (ttl > USER_TOKEN_MAX_TTL) {
        fprintf(stderr, "tokensmith: %s: --ttl %s exceeds the maximum of 24h\n", cmd, ttl_s);
        return TS_CLI_USAGE;
    }
    ts_svc_config *c = malloc(sizeof *c);
    if (!c) {
        fprintf(stderr, "tokensmith: %s: out of memory\n", cmd);
        return TS_CLI_FAIL;
    }
    if ((rc = load_config(cmd, c, f, n)) != TS_CLI_OK) {
        free(c);
        return rc;
    }
    c->access_ttl_s = ttl;
    if (!key_exists(c)) {
        fprintf(stderr,
                "tokensmith: %s: no signing key in %s (break-glass uses the service's "
                "existing key)\n",
                cmd, c->key_file[0] ? c->key_file : c->key_dir);
        free(c);
        return TS_CLI_FAIL;
    }
    ts_error err;
    ts_error_clear(&err);
    ts_jws_alg want =
        c->algorithm[0] ? ts_jws_alg_parse(c->algorithm, strlen(c->algorithm)) : TS_JWS_ALG_UNKNOWN;
    ts_svc_keyring *kr = ts_svc_keyring_open(c->key_file, c->key_dir, want, &err);
    ts_store *st = NULL;
    if (kr && mkdir_parent(c->store) == 0) {
        ts_store_options sopt = TS_STORE_OPTIONS_INIT;
        sopt.path = c->store;
        sopt.max_connections = 1;
        st = ts_store_new(&sopt, &err);
    } else if (kr) {
        ts_error_set(&err, TS_EIO, c->store, "cannot create its directory: %s", strerror(errno));
    }
    if (!kr || !st) {
        ts_cli_report(cmd, &err);
        ts_store_free(st);
        ts_svc_keyring_free(kr);
        free(c);
        return TS_CLI_FAIL;
    }
    int64_t now = (int64_t)time(NULL);
    /* Unpredictable and unique: "local-" + 128 random bits (the token helper's CSPRNG). */
    char rnd[TS_STORE_TOKEN_LEN + 1];
    if (ts_store_token_generate(rnd, &err) != TS_OK) {
        ts_cli_report(cmd, &err);
        ts_store_free(st);
        ts_svc_keyring_free(kr);
        free(c);
        return TS_CLI_FAIL;
    }
    char session[40];
    snprintf(session, sizeof session, "local-%.32s", rnd);
    OPENSSL_cleanse(rnd, sizeof rnd);
    static const char *const methods[] = {"local_user_mint", "operator_attested"};
    ts_svc_mint_args ma = {
        .subject = subject,
        .audience = audience,
        .scope = scope,
        .session_id = session,
        .session_end = now + ttl,
        .auth_method = methods[0],
        .auth_event = "local_user_token_mint",
        .now = now,
        .auth_methods = methods,
        .n_auth_methods = 2,
        .principal_type = "user",
    };
    char *jwt = NULL;
    char jti[TS_SVC_JTI_LEN + 1];
    ts_status s = ts_svc_mint(c, kr, &ma, &jwt, jti, &err);
    if (s == TS_OK) {
        json_t *d = json_object();
        json_object_set_new(d, "operator", json_string(op));
        json_object_set_new(d, "scope", json_string(scope));
        json_object_set_new(d, "audience", json_string(audience));
        json_object_set_new(d, "exp", json_integer(now + ttl));
        json_object_set_new(d, "kid", json_string(ts_jwk_kid(ts_svc_keyring_active(kr))));
        char *detail = json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(d);
        ts_store_audit_entry ae = {0,    now,   "local_user_token_minted", subject, jti, NULL,
                                   NULL, detail};
        s = detail ? ts_store_audit_append(st, &ae, &err)
                   : ts_error_set(&err, TS_ENOMEM, "audit", "out of memory");
        free(detail);
    }
    if (s != TS_OK) {
        ts_cli_report(cmd, &err);
        if (jwt) {
            OPENSSL_cleanse(jwt, strlen(jwt));
            ts_authn_free(jwt);
        }
        ts_store_free(st);
        ts_svc_keyring_free(kr);
        free(c);
        return TS_CLI_FAIL;
    }
    printf("%s\n", jwt);
    fflush(stdout);
    fprintf(stderr,
            "Break-glass token minted and audited: operator %s, subject %s, scopes \"%s\", jti "
            "%s, expires in %llds\n",
            op, subject, scope, jti, (long long)ttl);
    OPENSSL_cleanse(jwt, strlen(jwt));
    ts_authn_free(jwt);
    ts_store_free(st);
    ts_svc_keyring_free(kr);
    free(c);
    return TS_CLI_OK;
}

int ts_cli_user_token(int argc, char **argv)
{
    if (argc < 2 || ts_cli_is_help(argv[1])) {
        ts_cli_user_token_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? TS_CLI_USAGE : TS_CLI_OK;
    }
    if (strcmp(argv[1], "create") == 0)
        return user_token_create(argc - 1, argv + 1);
    fprintf(stderr, "tokensmith: user-token: unknown sub-command '%s'\n", argv[1]);
    ts_cli_user_token_usage(stderr);
    return TS_CLI_USAGE;
}
