/* tokensmith gateway: token translation and Casbin authorization for any proxy (Envoy and
 * Istio ext_authz over HTTP and gRPC, nginx auth_request; docs/gateway.md). This file resolves
 * the configuration (defaults < --config FILE < TOKENSMITH_GATEWAY_* variables < flags), then
 * checks it (--check) or runs the gateway (tokenservice/gateway). */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "gateway.h"
#include "gateway_config.h"

/* The flags of the settings rows, in table order. */
#define GW_ID_(id, ...) F_GW_##id,
static const ts_cli_flag_id setting_flags[] = {TS_GATEWAY_SETTINGS(GW_ID_)};
#undef GW_ID_

/* Every variable and flag over the file: ts_cli_get() already chose a flag over its variable. */
static int apply_settings(const ts_cli_args *a, ts_gateway_config *cfg)
{
    for (size_t i = 0; i < sizeof setting_flags / sizeof setting_flags[0]; i++) {
        ts_cli_flag_id id = setting_flags[i];
        const char *v = ts_cli_get(a, id);
        if (!v)
            continue;
        char where[128], line[512];
        ts_error err;
        ts_error_clear(&err);
        ts_cli_where(a, id, where, sizeof where);
        if (ts_gateway_config_set(cfg, ts_cli_flags[id].key, v, where, &err) != TS_OK) {
            ts_cli_format_error(&err, line, sizeof line);
            return ts_cli_usage_error(a->cmd, "%s", line);
        }
    }
    return TS_CLI_OK;
}

static void summary(FILE *out, const ts_gateway_config *c, const char *file)
{
    fprintf(out, "configuration: %s\n", file && *file ? file : "(flags and variables)");
    fprintf(out, "listen %s, grpc_listen %s, admin_listen %s\n", c->listen,
            c->grpc_listen[0] ? c->grpc_listen : "(off)", c->admin_listen);
    if (c->key_file[0]) /* the PIN's source is not shown, only where the key is */
        fprintf(out, "issuer %s, keys in PKCS#11 token \"%s\", key \"%s\" (%s)\n", c->issuer,
                c->pkcs11_token_label, c->pkcs11_key_label, c->pkcs11_module);
    else
        fprintf(out, "issuer %s, keys %s\n", c->issuer, c->key_dir);
    for (size_t i = 0; i < c->n_trust; i++) {
        const ts_gateway_trust *t = &c->trust[i];
        fprintf(out, "trust[%zu] %s (%s), keys %s, audiences", i, t->issuer,
                t->kind == TS_GATEWAY_TRUST_KUBERNETES ? "kubernetes" : "jwt",
                t->jwks_uri[0] ? t->jwks_uri : "by discovery");
        for (size_t k = 0; k < t->n_audiences; k++)
            fprintf(out, "%s%s", k ? ", " : " ", t->audiences[k]);
        if (t->revocations[0])
            fprintf(out, ", revocations %s every %llds (stale after %llds, %s)", t->revocations,
                    (long long)t->revocations_poll_s, (long long)t->revocations_max_stale_s,
                    t->revocations_fail_open ? "fail-open" : "fail-closed");
        fputc('\n', out);
    }
    fprintf(out, "translate: audience %s, ttl %llds, cache %u entries\n", c->translate.audience,
            (long long)c->translate.ttl_s, c->translate.cache_entries);
    fprintf(out, "authz: mode %s, policy %s, %zu routes, %zu scope roles, %zu public paths\n",
            c->authz.mode, c->authz.policy_dir[0] ? c->authz.policy_dir : "(embedded baseline)",
            c->authz.n_routes, c->authz.n_scope_roles, c->authz.n_public_paths);
}

/* The state directory and the key directory, by tokensmith's one directory rule (created mode
 * 0700 when missing, if their parent exists), so that the first run can create its key. */
static int prepare_dirs(const ts_gateway_config *c)
{
    if (c->key_file[0]) /* key_backend pkcs11: no key directory */
        return TS_CLI_OK;
    size_t hl = strlen(c->home);
    bool in_home = strncmp(c->key_dir, c->home, hl) == 0 && c->key_dir[hl] == '/';
    if (in_home && ts_cli_ensure_dir("gateway", c->home) != TS_CLI_OK)
        return TS_CLI_FAIL;
    return ts_cli_ensure_dir("gateway", c->key_dir);
}

static int run_gateway(const ts_cli_args *a)
{
    ts_error err;
    ts_error_clear(&err);
    ts_gateway_config *cfg = ts_gateway_config_new(&err);
    if (!cfg) {
        ts_cli_report("gateway", &err);
        return TS_CLI_FAIL;
    }
    const char *file = ts_cli_get(a, F_GATEWAY_CONFIG);
    int rc = TS_CLI_OK;
    if (file && *file && ts_gateway_config_load_file(cfg, file, &err) != TS_OK) {
        ts_cli_report("gateway", &err);
        rc = TS_CLI_FAIL;
    }
    if (rc == TS_CLI_OK)
        rc = apply_settings(a, cfg);
    if (rc == TS_CLI_OK && ts_gateway_config_finish(cfg, &err) != TS_OK) {
        ts_cli_report("gateway", &err);
        rc = TS_CLI_FAIL;
    }
    if (rc == TS_CLI_OK && ts_cli_bool(a, F_GATEWAY_CHECK)) {
        /* What the settings resolved to first, so that a failing key or policy is read
         * against them. */
        summary(stdout, cfg, file);
        fflush(stdout);
        if (ts_gateway_check(cfg, &err) != TS_OK) {
            ts_cli_report("gateway", &err);
            rc = TS_CLI_FAIL;
        } else {
            printf("verifiers, policy and keys: OK\n");
        }
    } else if (rc == TS_CLI_OK) {
        /* The stop and reload signals are taken synchronously by the gateway: blocked here,
         * before any thread exists, so that every thread inherits the mask. */
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        signal(SIGPIPE, SIG_IGN);
        if ((rc = prepare_dirs(cfg)) == TS_CLI_OK && ts_gateway_run(cfg, &err) != TS_OK) {
            ts_cli_report("gateway", &err);
            rc = TS_CLI_FAIL;
        }
    }
    ts_gateway_config_free(cfg);
    return rc;
}

#define GW_USE_(id, ...) {F_GW_##id, 0},

static const ts_cli_use gateway_uses[] = {
    {F_GATEWAY_CONFIG, 0},
    {F_GATEWAY_CHECK, 0},
    TS_GATEWAY_SETTINGS(GW_USE_){F_COUNT, 0},
};

const ts_cli_command ts_cli_cmd_gateway = {
    .name = "gateway",
    .summary = "decide for a proxy whether a request may pass, and with which token",
    .about =
        "Run the gateway: Envoy and Istio ext_authz over HTTP (--listen) and gRPC\n"
        "(--grpc-listen), nginx auth_request (--listen with --original-uri-header), and\n"
        "/health, /metrics and the gateway's /.well-known/jwks.json on --admin-listen. Each\n"
        "check verifies the caller's bearer token against the trusted issuers, authorizes the\n"
        "request with the authz policy, and answers an allow with a short-lived token signed\n"
        "by the gateway's own keys (<home>/keys). Every setting comes from, in order of\n"
        "precedence: its flag, its variable, the config file (--config; the trusted issuers,\n"
        "routes, scope roles and public paths come only from there), the built-in default.\n"
        "--check loads the configuration, the policy and the keys (creating none), prints a\n"
        "summary and exits. See docs/gateway.md.",
    .after = "SIGHUP reloads the policy and the keys (a bad reload is logged, the running ones\n"
             "kept); SIGTERM or SIGINT stops the gateway. Exit status: 0 stopped, or --check\n"
             "found everything valid; 1 the configuration, the policy, a key or a listener\n"
             "failed; 2 bad options or variables.",
    .uses = gateway_uses,
    .opts = TS_CLI_SHOW_KEYS,
    .run = run_gateway,
};
