/* tokensmith serve: resolve the configuration, prepare the directories, run the service. */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

/* HTTPS needs the chain and its key: one alone is a usage error, caught before the service
 * creates directories or binds its port (the service checks the files themselves). */
static int tls_pair_given(const ts_svc_config *c)
{
    if (!c->tls_cert_file[0] == !c->tls_key_file[0])
        return TS_CLI_OK;
    bool cert = c->tls_cert_file[0] != '\0';
    fprintf(stderr,
            "tokensmith: serve: %s is set without %s: give both, or neither for plain HTTP\n",
            cert ? "tlsCertFile (--tls-cert-file, TOKENSMITH_TLS_CERT_FILE)"
                 : "tlsKeyFile (--tls-key-file, TOKENSMITH_TLS_KEY_FILE)",
            cert ? "tlsKeyFile (--tls-key-file, TOKENSMITH_TLS_KEY_FILE)"
                 : "tlsCertFile (--tls-cert-file, TOKENSMITH_TLS_CERT_FILE)");
    return TS_CLI_USAGE;
}

/* mTLS service identity (docs/mtls.md): settings that need one another are a usage error too,
 * caught as early; the service checks the same at start, and the files and rules themselves. */
static int service_identity_given(const ts_svc_config *c)
{
    const char *missing = NULL, *what = NULL;
    if (c->service_identity_ca_file[0] && !c->tls_cert_file[0]) {
        what = "serviceIdentityCaFile (--service-identity-ca, TOKENSMITH_SERVICE_IDENTITY_CA)";
        missing = "tlsCertFile (client certificates arrive in the TLS handshake)";
    } else if (c->service_identity_ca_file[0] && !c->service_identity[0]) {
        what = "serviceIdentityCaFile (--service-identity-ca, TOKENSMITH_SERVICE_IDENTITY_CA)";
        missing = "the serviceIdentity rules of the config file";
    } else if (!c->service_identity_ca_file[0]) {
        missing = "serviceIdentityCaFile (--service-identity-ca, TOKENSMITH_SERVICE_IDENTITY_CA)";
        what = c->service_identity_crl_file[0] ? "serviceIdentityCrlFile (--service-identity-crl)"
               : c->service_identity_bind
                   ? "serviceIdentityBindCertificate (--service-identity-bind-certificate)"
               : c->service_identity[0] ? "the serviceIdentity rules"
                                        : NULL;
    }
    if (!what)
        return TS_CLI_OK;
    fprintf(stderr, "tokensmith: serve: %s is set without %s\n", what, missing);
    return TS_CLI_USAGE;
}

/* adminTls serves the pair on the admin listener: it needs the pair, and a TCP admin listener
 * (a Unix socket is guarded by its file mode). The service checks the same at start. */
static int admin_tls_given(const ts_svc_config *c)
{
    const char *why = !c->admin_tls                               ? NULL
                      : !c->tls_cert_file[0]                      ? "is set without tlsCertFile"
                      : strncmp(c->admin_listen, "unix:", 5) == 0 ? "is set for a unix: adminListen"
                                                                  : NULL;
    if (!why)
        return TS_CLI_OK;
    fprintf(stderr, "tokensmith: serve: adminTls (--admin-tls, TOKENSMITH_ADMIN_TLS) %s\n", why);
    return TS_CLI_USAGE;
}

static int run_serve(const ts_cli_args *a)
{
    ts_svc_config *c = malloc(sizeof *c); /* large: keep it off the stack */
    if (!c) {
        fprintf(stderr, "tokensmith: serve: out of memory\n");
        return TS_CLI_FAIL;
    }
    int rc = ts_cli_serve_config(a, c);
    if (rc == TS_CLI_OK && ts_cli_bool(a, F_PRINT_CONFIG)) {
        ts_error err;
        ts_error_clear(&err);
        if (ts_cli_write_config(stdout, c, false, &err) != TS_OK) {
            ts_cli_report("serve", &err);
            rc = TS_CLI_FAIL;
        }
        free(c);
        return rc;
    }
    if (rc == TS_CLI_OK)
        rc = tls_pair_given(c);
    if (rc == TS_CLI_OK)
        rc = service_identity_given(c);
    if (rc == TS_CLI_OK)
        rc = admin_tls_given(c);
    if (rc == TS_CLI_OK)
        rc = ts_cli_prepare_dirs("serve", c,
                                 TS_CLI_DIR_KEYS | TS_CLI_DIR_STORE |
                                     (c->admin_listen[0] ? TS_CLI_DIR_HOME : 0u));
    if (rc != TS_CLI_OK) {
        free(c);
        return rc;
    }
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
    ts_svc *s = ts_svc_start(c, &err);
    free(c);
    if (!s) {
        ts_cli_report("serve", &err);
        return TS_CLI_FAIL;
    }
    ts_svc_run(s);
    ts_svc_free(s);
    return TS_CLI_OK;
}

#define SETTING_USE_(id, ...) {F_##id, 0},

static const ts_cli_use serve_uses[] = {
    {F_CONFIG, 0},
    TS_SVC_SETTINGS(SETTING_USE_){F_OIDC_ISSUER, 0},
    {F_OIDC_CLIENT_ID, 0},
    {F_OIDC_CLIENT_SECRET, 0},
    {F_OIDC_AUDIENCE, TS_CLI_REPEAT},
    {F_PRINT_CONFIG, 0},
    {F_NON_ENFORCING, 0},
    {F_SERVE_LOCAL_MINT, 0},
    {F_RFC8693_BOOTSTRAP_STORE, 0},
    {F_RFC8693_REFRESH_STORE, 0},
    {F_COUNT, 0},
};

const ts_cli_command ts_cli_cmd_serve = {
    .name = "serve",
    .summary = "run the token service (JWKS, /oauth/token)",
    .about =
        "Run the token service: /health, /.well-known/jwks.json,\n"
        "/.well-known/openid-configuration, POST /oauth/token (and /token).\n"
        "Every setting comes from, in order of precedence: its flag, its variable, the config\n"
        "file, the built-in default; a flag or variable given as \"\" counts as unset. With no\n"
        "options it listens on 127.0.0.1:8080 and keeps its keys and store in\n"
        "./tokensmith-data. Directories: the state directory, the key directory and the\n"
        "store's directory are created (mode 0700) when missing, if their parent exists.\n"
        "Upstream OpenID providers come from the `oidc` member of the config file, from the\n"
        "admin API (docs/oidc.md), or, for one provider, from the --oidc-* options.\n"
        "With --service-identity-ca (and HTTPS), POST /service-identity/session issues tokens\n"
        "to clients whose TLS certificate maps through the serviceIdentity rules (docs/mtls.md).",
    .after = "SIGHUP reloads the signing keys, the upstream provider configuration and the TLS\n"
             "certificate (also reread when its files change); SIGTERM or SIGINT stops the\n"
             "service gracefully. Exit status: 0 stopped; 1 the config file, a key, the store or\n"
             "the listener failed; 2 bad options or variables.",
    .uses = serve_uses,
    .opts = TS_CLI_SERVE_CONFIG,
    .run = run_serve,
};
