/* tokensmith keys: key utilities (thumbprint). */
#include "cli.h"

#include <string.h>

#include <tokensmith/jose.h>

void ts_cli_keys_usage(FILE *out)
{
    fprintf(out,
            "usage: tokensmith keys thumbprint FILE\n"
            "\n"
            "keys thumbprint: print the RFC 7638 SHA-256 thumbprint (the kid tokensmith uses)\n"
            "of the key in FILE. FILE holds a PEM public key (SPKI or PKCS#1), an X.509\n"
            "certificate, an unencrypted PEM private key (PKCS#8, PKCS#1, SEC1), or a JWK\n"
            "(JSON). RSA (2048 bits or more) and EC P-256, P-384, P-521 keys are supported;\n"
            "EC coordinates are hashed at their full length (RFC 7518).\n"
            "\n"
            "exit status: 0 printed, 1 the file is not a supported key, 2 usage error\n");
}

static int thumbprint(int argc, char **argv)
{
    if (argc >= 2 && ts_cli_is_help(argv[1])) {
        ts_cli_keys_usage(stdout);
        return TS_CLI_OK;
    }
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "tokensmith: keys thumbprint: expected exactly one FILE\n");
        ts_cli_keys_usage(stderr);
        return TS_CLI_USAGE;
    }
    ts_error err;
    ts_error_clear(&err);
    ts_jwk *key = ts_jwk_load_file(argv[1], &err);
    if (!key) {
        ts_cli_report("keys thumbprint", &err);
        return TS_CLI_FAIL;
    }
    printf("%s\n", ts_jwk_thumbprint(key));
    ts_jwk_free(key);
    return TS_CLI_OK;
}

int ts_cli_keys(int argc, char **argv)
{
    if (argc < 2 || ts_cli_is_help(argv[1])) {
        ts_cli_keys_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? TS_CLI_USAGE : TS_CLI_OK;
    }
    if (strcmp(argv[1], "thumbprint") == 0)
        return thumbprint(argc - 1, argv + 1);
    fprintf(stderr, "tokensmith: keys: unknown sub-command '%s'\n", argv[1]);
    ts_cli_keys_usage(stderr);
    return TS_CLI_USAGE;
}
