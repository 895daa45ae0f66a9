/* tokensmith keys generate | thumbprint: key utilities. */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include <stdlib.h>
#include <string.h>

#include <tokensmith/jose.h>

#include "keys.h"

static int run_thumbprint(const ts_cli_args *a)
{
    ts_error err;
    ts_error_clear(&err);
    ts_jwk *key = ts_jwk_load_file(a->operands[0], &err);
    if (!key) {
        ts_cli_report(a->cmd->name, &err);
        return TS_CLI_FAIL;
    }
    printf("%s\n", ts_jwk_thumbprint(key));
    ts_jwk_free(key);
    return TS_CLI_OK;
}

static int run_generate(const ts_cli_args *a)
{
    const char *dir = ts_cli_get(a, F_KEY_DIR), *file = ts_cli_get(a, F_KEY_FILE);
    const char *alg_name = ts_cli_get(a, F_ALGORITHM);
    /* The one service variable read here: an operator whose service signs in a PKCS#11 token
     * would otherwise make a key file that nothing uses, believing the key rotated. */
    const char *backend = getenv("TOKENSMITH_KEY_BACKEND");
    if (backend && strcmp(backend, "pkcs11") == 0)
        return ts_cli_usage_error(a->cmd,
                                  "does not apply with TOKENSMITH_KEY_BACKEND=pkcs11: the key "
                                  "lives in the token; generate it there (for example "
                                  "pkcs11-tool --keypairgen) under pkcs11KeyLabel (docs/keys.md)");
    if (!dir == !file)
        return ts_cli_usage_error(a->cmd, "give exactly one of --key-dir, --key-file");
    if (!alg_name)
        alg_name = "PS256";
    ts_jws_alg alg = ts_jws_alg_parse(alg_name, strlen(alg_name));
    /* The one directory rule: the key's directory is created one level deep, never a chain. */
    if ((dir ? ts_cli_ensure_dir(a->cmd->name, dir) : ts_cli_ensure_parent(a->cmd->name, file)) !=
        TS_CLI_OK)
        return TS_CLI_FAIL;
    ts_error err;
    ts_error_clear(&err);
    char path[4096];
    ts_jwk *key = NULL;
    ts_status st;
    if (dir) {
        st = ts_svc_key_generate_dir(dir, alg, path, sizeof path, &err);
        key = st == TS_OK ? ts_jwk_load_file(path, &err) : NULL;
    } else {
        snprintf(path, sizeof path, "%s", file);
        st = ts_svc_key_generate_file(file, alg, &key, &err);
    }
    if (!key) {
        ts_cli_report(a->cmd->name, &err);
        return TS_CLI_FAIL;
    }
    printf("%s %s\n", path, ts_jwk_thumbprint(key));
    ts_jwk_free(key);
    return TS_CLI_OK;
}

/* keys generate writes where it is told: the service's variables are not read (except
 * TOKENSMITH_KEY_BACKEND=pkcs11, which refuses). */
static const ts_cli_use generate_uses[] = {
    {F_KEY_DIR, TS_CLI_NOENV},
    {F_KEY_FILE, TS_CLI_NOENV},
    {F_ALGORITHM, TS_CLI_NOENV},
    {F_COUNT, 0},
};

const ts_cli_command ts_cli_cmd_keys_generate = {
    .name = "keys generate",
    .summary = "create a signing key in a key directory or file",
    .about = "Create a new private key (PKCS#8 PEM, mode 0600) for ALG: PS256 (default) or\n"
             "RS256 give RSA-2048, ES256 P-256, ES384 P-384. Give exactly one of --key-dir and\n"
             "--key-file. In DIR it is named <kid>.pem, and `serve` signs with the newest key\n"
             "unless active.pem exists. A missing DIR (or FILE's directory) is created, mode\n"
             "0700, when its parent exists. An existing file is never overwritten. Prints the\n"
             "path and the kid. With keyBackend pkcs11 (TOKENSMITH_KEY_BACKEND=pkcs11) it does\n"
             "not apply: the key is generated in the token (docs/keys.md).",
    .after = "Exit status: 0 created; 1 the file exists or cannot be written; 2 usage error.",
    .uses = generate_uses,
    .run = run_generate,
};

static const ts_cli_use no_flags[] = {{F_COUNT, 0}};

const ts_cli_command ts_cli_cmd_keys_thumbprint = {
    .name = "keys thumbprint",
    .summary = "print the RFC 7638 kid of a PEM or JWK key file",
    .operands = "FILE",
    .min_operands = 1,
    .max_operands = 1,
    .about = "Print the RFC 7638 SHA-256 thumbprint (the kid tokensmith uses) of the key in FILE.\n"
             "FILE holds a PEM public key (SPKI or PKCS#1), an X.509 certificate, an unencrypted\n"
             "PEM private key (PKCS#8, PKCS#1, SEC1), or a JWK (JSON). RSA (2048 bits or more)\n"
             "and EC P-256, P-384, P-521 keys are supported; EC coordinates are hashed at their\n"
             "full length (RFC 7518).",
    .after = "Exit status: 0 printed; 1 the file is not a supported key; 2 usage error.",
    .uses = no_flags,
    .run = run_thumbprint,
};
