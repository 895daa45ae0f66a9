/* tokensmith keys generate | thumbprint | list | rotate: key utilities. */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tokensmith/jose.h>

#include "keys.h"
#include "keys_pkcs11.h"
#include "keys_rotation.h"

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
                                  "pkcs11-tool --keypairgen) under pkcs11KeyLabel, or let "
                                  "`keys rotate` generate the next one (docs/keys.md)");
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

/* keys list / keys rotate: the serve configuration (--home, --key-dir, --config, variables)
 * names the key directory and the rotation policy, as serve reads them. With keyBackend pkcs11
 * the keys are in the token, opened here (*token), and c->key_dir becomes the directory of
 * their rotation state (keyDir, else <home>/keys), as serve uses it. */
static int rotation_config(const ts_cli_args *a, ts_svc_config *c, ts_svc_p11 **token)
{
    *token = NULL;
    int rc = ts_cli_serve_config(a, c);
    if (rc != TS_CLI_OK)
        return rc;
    ts_error err;
    ts_error_clear(&err);
    if (ts_svc_p11_is_uri(c->key_file)) {
        ts_svc_p11_options o;
        char dir[sizeof c->key_dir];
        if (ts_svc_rotation_dir(c->key_dir, c->home, dir, sizeof dir, &err) != TS_OK ||
            ts_svc_p11_uri_parse(c->key_file, &o, &err) != TS_OK) {
            ts_cli_report(a->cmd->name, &err);
            return TS_CLI_FAIL;
        }
        memcpy(c->key_dir, dir, sizeof dir);
        o.allow_insecure_pin_file = c->allow_insecure_key_permissions;
        if (!(*token = ts_svc_p11_open(&o, &err))) {
            ts_cli_report(a->cmd->name, &err);
            return TS_CLI_FAIL;
        }
        return TS_CLI_OK;
    }
    if (c->key_file[0]) {
        fprintf(stderr,
                "tokensmith: %s: rotation works on a key directory (keyDir) or a PKCS#11 token "
                "(keyBackend pkcs11); with keyFile the key is rotated by hand (docs/keys.md)\n",
                a->cmd->name);
        return TS_CLI_FAIL;
    }
    return TS_CLI_OK;
}

static void print_time(int64_t t)
{
    char buf[32] = "-";
    time_t tt = (time_t)t;
    struct tm tm;
    if (t > 0 && gmtime_r(&tt, &tm))
        strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf(" %-20s", buf);
}

static int run_list(const ts_cli_args *a)
{
    ts_svc_config *c = malloc(sizeof *c);
    ts_svc_rotation_key *keys = calloc(TS_SVC_ROTATION_MAX_KEYS, sizeof *keys);
    ts_svc_p11 *token = NULL;
    int rc = c && keys ? rotation_config(a, c, &token) : TS_CLI_FAIL;
    if (rc == TS_CLI_OK) {
        ts_error err;
        ts_error_clear(&err);
        size_t n = 0;
        ts_status st = token ? ts_svc_rotation_list_token(c->key_dir, token, keys,
                                                          TS_SVC_ROTATION_MAX_KEYS, &n, &err)
                             : ts_svc_rotation_list(c->key_dir, c->allow_insecure_key_permissions,
                                                    keys, TS_SVC_ROTATION_MAX_KEYS, &n, &err);
        if (st != TS_OK) {
            ts_cli_report(a->cmd->name, &err);
            rc = TS_CLI_FAIL;
        } else {
            printf("%-43s %-5s %-8s %-20s %-20s %-20s%s\n", "KID", "ALG", "STATE", "CREATED",
                   "ACTIVATED", "RETIRES", token ? " LABEL" : "");
            for (size_t i = 0; i < n; i++) {
                const ts_svc_rotation_key *k = &keys[i];
                printf("%-43s %-5s %-8s", k->kid, k->alg[0] ? k->alg : "?",
                       ts_svc_key_state_name(k->state));
                print_time(k->created);
                print_time(k->activated);
                print_time(k->state == TS_SVC_KEY_RETIRED ? k->retired : k->retires_at);
                if (token)
                    printf(" %s", k->label);
                printf("\n");
            }
        }
    }
    ts_svc_p11_free(token);
    free(keys);
    free(c);
    return rc;
}

static int run_rotate(const ts_cli_args *a)
{
    ts_svc_config *c = malloc(sizeof *c);
    ts_svc_p11 *token = NULL;
    int rc = c ? rotation_config(a, c, &token) : TS_CLI_FAIL;
    if (rc == TS_CLI_OK) {
        ts_svc_rotation_policy p = {0};
        p.interval_s = c->key_rotation_interval_s;
        p.prepublish_s = c->key_rotation_prepublish_s;
        p.token_lifetime_s = c->access_ttl_s + TS_SVC_KEY_LEEWAY_S;
        p.retire_delete = strcmp(c->key_rotation_retire, "delete") == 0;
        p.alg = c->algorithm[0] ? ts_jws_alg_parse(c->algorithm, strlen(c->algorithm))
                                : TS_JWS_ALG_UNKNOWN;
        p.allow_insecure = c->allow_insecure_key_permissions;
        unsigned flags = TS_SVC_ROTATE_BY_HAND;
        if (ts_cli_bool(a, F_ROTATE_FORCE))
            flags |= TS_SVC_ROTATE_FORCE;
        ts_error err;
        ts_error_clear(&err);
        ts_svc_rotation_report r;
        int64_t now = (int64_t)time(NULL);
        ts_status st = token
                           ? ts_svc_rotation_step_token(c->key_dir, token, &p, now, flags, &r, &err)
                           : ts_svc_rotation_step(c->key_dir, &p, now, flags, &r, &err);
        if (st != TS_OK) {
            ts_cli_report(a->cmd->name, &err);
            rc = TS_CLI_FAIL;
        } else {
            if (r.generated[0])
                printf("next %s\n", r.generated);
            if (r.promoted[0])
                printf("active %s\n", r.promoted);
            if (r.demoted[0])
                printf("retiring %s\n", r.demoted);
            if (r.retired)
                printf("retired %u\n", r.retired);
        }
    }
    ts_svc_p11_free(token);
    free(c);
    return rc;
}

static const ts_cli_use rotation_uses[] = {
    {F_CONFIG, 0},
    {F_HOME, 0},
    {F_KEY_DIR, 0},
    {F_KEY_FILE, 0},
    {F_KEY_BACKEND, 0},
    {F_ALGORITHM, 0},
    {F_ACCESS_TTL, 0},
    {F_KEY_ROTATION_INTERVAL, 0},
    {F_KEY_ROTATION_PREPUBLISH, 0},
    {F_KEY_ROTATION_RETIRE, 0},
    {F_PKCS11_MODULE, 0},
    {F_PKCS11_TOKEN_LABEL, 0},
    {F_PKCS11_KEY_LABEL, 0},
    {F_PKCS11_PIN_FILE, 0},
    {F_PKCS11_PIN_ENV, 0},
    {F_INSECURE_KEYS, 0},
    {F_COUNT, 0},
};

static const ts_cli_use rotate_uses[] = {
    {F_CONFIG, 0},
    {F_HOME, 0},
    {F_KEY_DIR, 0},
    {F_KEY_FILE, 0},
    {F_KEY_BACKEND, 0},
    {F_ALGORITHM, 0},
    {F_ACCESS_TTL, 0},
    {F_KEY_ROTATION_INTERVAL, 0},
    {F_KEY_ROTATION_PREPUBLISH, 0},
    {F_KEY_ROTATION_RETIRE, 0},
    {F_PKCS11_MODULE, 0},
    {F_PKCS11_TOKEN_LABEL, 0},
    {F_PKCS11_KEY_LABEL, 0},
    {F_PKCS11_PIN_FILE, 0},
    {F_PKCS11_PIN_ENV, 0},
    {F_INSECURE_KEYS, 0},
    {F_ROTATE_FORCE, 0},
    {F_COUNT, 0},
};

const ts_cli_command ts_cli_cmd_keys_list = {
    .name = "keys list",
    .summary = "show the signing keys and their rotation state",
    .about = "Print each key of the key directory serve uses (--home, --key-dir, --config and\n"
             "the TOKENSMITH_* variables, as serve reads them): kid, algorithm (RSA keys sign\n"
             "with PS256 or RS256 as configured), state (next: published, not signing yet;\n"
             "active: signs; retiring: published until every token it signed has expired;\n"
             "retired: archived or deleted), when it was created and activated, and when it\n"
             "retires (retired keys: when they did). Times are UTC. Nothing is written; a\n"
             "directory rotation never touched shows its keys as rotation would adopt them.\n"
             "With keyBackend pkcs11 the keys are the token's, listed with their CKA_LABEL, from\n"
             "the rotation state in keyDir (default <home>/keys).",
    .after = "Exit status: 0 listed; 1 the directory or its rotation.json cannot be read; 2 usage "
             "error.",
    .uses = rotation_uses,
    .opts = TS_CLI_SERVE_CONFIG,
    .run = run_list,
};

const ts_cli_command ts_cli_cmd_keys_rotate = {
    .name = "keys rotate",
    .summary = "take one key rotation step by hand",
    .about = "Take the next rotation step in the key directory serve uses, now, under the lock\n"
             "replicas share: without a next key, make one (published at once, signing after\n"
             "keyRotationPrepublish); with a next key whose window has passed, make it the\n"
             "active key (active.pem) and the old key retiring. --force promotes at once (and\n"
             "makes the next key first when there is none): for a compromised key; verifiers\n"
             "that cached the JWKS refuse new tokens until they fetch it again. Retiring keys\n"
             "whose tokens have all expired are archived or deleted (keyRotationRetire).\n"
             "A running serve picks the change up at its next check (keyRotationInterval set)\n"
             "or on SIGHUP. Prints what changed: next KID, active KID, retiring KID, retired N.\n"
             "With keyBackend pkcs11 the next key is generated in the token (labelled\n"
             "<pkcs11KeyLabel>.<unix-time>), the state kept in keyDir (default <home>/keys), and\n"
             "a retired key is destroyed in the token (delete) or left there unpublished\n"
             "(archive).",
    .after = "Exit status: 0 done; 1 the step failed (for example the next key is still inside\n"
             "its window: wait, or --force); 2 usage error.",
    .uses = rotate_uses,
    .opts = TS_CLI_SERVE_CONFIG,
    .run = run_rotate,
};
