/* tokensmith: command dispatch. */
#include <stdio.h>
#include <string.h>

#include <tokensmith/version.h>

#include "cli.h"

static int cmd_version(int argc, char **argv)
{
    if (argc >= 2 && ts_cli_is_help(argv[1])) {
        printf("usage: tokensmith version\n\nPrint the version of tokensmith.\n");
        return TS_CLI_OK;
    }
    if (argc > 1) {
        fprintf(stderr, "tokensmith: version: unexpected argument '%s'\n", argv[1]);
        return TS_CLI_USAGE;
    }
    printf("tokensmith %s\n", TS_VERSION_STRING);
    return TS_CLI_OK;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: tokensmith <command> [options]\n"
                 "\n"
                 "commands:\n"
                 "  serve            run the token service (JWKS, /oauth/token)\n"
                 "  generate-config  write a complete, commented service configuration\n"
                 "  bootstrap-token create  create a one-time bootstrap token in the store\n"
                 "  user-token create  break-glass: mint a user token offline (audited)\n"
                 "  oidc status|configure  upstream OpenID providers through the admin API\n"
                 "  policy check     decide requests read from stdin against a model and policy\n"
                 "  policy version   print the policy_version of the baseline plus fragments\n"
                 "  keys generate    create a signing key in a key directory\n"
                 "  keys thumbprint  print the RFC 7638 kid of a PEM or JWK file\n"
                 "  token verify     verify a JWT against a JWKS and print its claims\n"
                 "  version          print the version\n"
                 "  help [CMD]       show help for a command\n"
                 "\n"
                 "Every command accepts --help.\n");
}

static int cmd_help(int argc, char **argv)
{
    if (argc < 2 || ts_cli_is_help(argv[1])) {
        usage(stdout);
        return TS_CLI_OK;
    }
    if (strcmp(argv[1], "policy") == 0) {
        ts_cli_policy_usage(stdout);
        return TS_CLI_OK;
    }
    if (strcmp(argv[1], "keys") == 0) {
        ts_cli_keys_usage(stdout);
        return TS_CLI_OK;
    }
    if (strcmp(argv[1], "token") == 0) {
        ts_cli_token_usage(stdout);
        return TS_CLI_OK;
    }
    if (strcmp(argv[1], "serve") == 0) {
        ts_cli_serve_usage(stdout);
        return TS_CLI_OK;
    }
    if (strcmp(argv[1], "generate-config") == 0) {
        ts_cli_generate_config_usage(stdout);
        return TS_CLI_OK;
    }
    if (strcmp(argv[1], "bootstrap-token") == 0) {
        ts_cli_bootstrap_usage(stdout);
        return TS_CLI_OK;
    }
    if (strcmp(argv[1], "user-token") == 0) {
        ts_cli_user_token_usage(stdout);
        return TS_CLI_OK;
    }
    if (strcmp(argv[1], "oidc") == 0) {
        ts_cli_oidc_usage(stdout);
        return TS_CLI_OK;
    }
    if (strcmp(argv[1], "version") == 0) {
        char name[] = "version", flag[] = "--help";
        char *args[] = {name, flag, NULL};
        return cmd_version(2, args);
    }
    fprintf(stderr, "tokensmith: help: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return TS_CLI_USAGE;
}

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
};

static const struct command commands[] = {
    {"serve", ts_cli_serve},
    {"generate-config", ts_cli_generate_config},
    {"bootstrap-token", ts_cli_bootstrap},
    {"user-token", ts_cli_user_token},
    {"oidc", ts_cli_oidc},
    {"policy", ts_cli_policy},
    {"keys", ts_cli_keys},
    {"token", ts_cli_token},
    {"version", cmd_version},
    {"help", cmd_help},
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return TS_CLI_USAGE;
    }
    if (ts_cli_is_help(argv[1])) {
        usage(stdout);
        return TS_CLI_OK;
    }
    if (strcmp(argv[1], "--version") == 0)
        return cmd_version(1, argv + 1);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "tokensmith: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return TS_CLI_USAGE;
}
