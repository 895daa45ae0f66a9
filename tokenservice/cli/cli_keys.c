/* tokensmith keys: key utilities (generate, thumbprint). */
#include "cli.h"

#include "keys.h"

#include <string.h>

#include <tokensmith/jose.h>

void ts_cli_keys_usage(FILE *out)
{
    fprintf(out,
            "usage: tokensmith keys generate (--key-dir DIR | --key-file FILE) [--alg ALG]\n"
            "       tokensmith keys thumbprint FILE\n"
            "\n"
            "keys generate: create a new private key (PKCS#8 PEM, mode 0600) for ALG: PS256\n"
            "(default) or RS256 give RSA-2048, ES256 P-256, ES384 P-384. In DIR it is named\n"
            "<kid>.pem, and `serve` signs with the newest key unless active.pem exists. An\n"
            "existing file is never overwritten. Prints the path and the kid.\n"
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

static int generate(int argc, char **argv)
{
    const char *dir = NULL, *file = NULL, *alg_name = "PS256";
    for (int i = 1; i < argc; i++) {
        if (ts_cli_is_help(argv[i])) {
            ts_cli_keys_usage(stdout);
            return TS_CLI_OK;
        }
        const char **dst = NULL;
        if (strcmp(argv[i], "--key-dir") == 0)
            dst = &dir;
        else if (strcmp(argv[i], "--key-file") == 0)
            dst = &file;
        else if (strcmp(argv[i], "--alg") == 0)
            dst = &alg_name;
        if (!dst || i + 1 >= argc) {
            fprintf(stderr, "tokensmith: keys generate: unexpected argument '%s'\n", argv[i]);
            ts_cli_keys_usage(stderr);
            return TS_CLI_USAGE;
        }
        *dst = argv[++i];
    }
    if ((!dir || !*dir) == (!file || !*file)) {
        fprintf(stderr, "tokensmith: keys generate: give exactly one of --key-dir, --key-file\n");
        return TS_CLI_USAGE;
    }
    ts_jws_alg alg = ts_jws_alg_parse(alg_name, strlen(alg_name));
    if (alg != TS_JWS_PS256 && alg != TS_JWS_RS256 && alg != TS_JWS_ES256 && alg != TS_JWS_ES384) {
        fprintf(stderr,
                "tokensmith: keys generate: --alg '%s' is not PS256, RS256, ES256 or "
                "ES384\n",
                alg_name);
        return TS_CLI_USAGE;
    }
    ts_error err;
    ts_error_clear(&err);
    char path[4096];
    ts_jwk *key = NULL;
    if (dir && *dir) {
        if (ts_svc_key_generate_dir(dir, alg, path, sizeof path, &err) != TS_OK) {
            ts_cli_report("keys generate", &err);
            return TS_CLI_FAIL;
        }
        key = ts_jwk_load_file(path, &err);
    } else {
        snprintf(path, sizeof path, "%s", file);
        if (ts_svc_key_generate_file(file, alg, &key, &err) != TS_OK) {
            ts_cli_report("keys generate", &err);
            return TS_CLI_FAIL;
        }
    }
    if (!key) {
        ts_cli_report("keys generate", &err);
        return TS_CLI_FAIL;
    }
    printf("%s %s\n", path, ts_jwk_thumbprint(key));
    ts_jwk_free(key);
    return TS_CLI_OK;
}

int ts_cli_keys(int argc, char **argv)
{
    if (argc < 2 || ts_cli_is_help(argv[1])) {
        ts_cli_keys_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? TS_CLI_USAGE : TS_CLI_OK;
    }
    if (strcmp(argv[1], "generate") == 0)
        return generate(argc - 1, argv + 1);
    if (strcmp(argv[1], "thumbprint") == 0)
        return thumbprint(argc - 1, argv + 1);
    fprintf(stderr, "tokensmith: keys: unknown sub-command '%s'\n", argv[1]);
    ts_cli_keys_usage(stderr);
    return TS_CLI_USAGE;
}
