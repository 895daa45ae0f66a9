/* tokensmith user-token create: break-glass, a user token minted offline with the service's
 * existing key, audited in the store before it is printed. */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include <tokensmith/store.h>

#include "keys.h"
#include "keys_p11uri.h"
#include "mint.h"

/* The break-glass path signs only with a key the service already has: a freshly generated key
 * would be one no verifier knows. */
static bool key_exists(const ts_svc_config *c)
{
    if (ts_svc_p11_is_uri(c->key_file))
        return true; /* a key in a PKCS#11 token: opening the keyring finds it or says why */
    if (c->key_file[0])
        return access(c->key_file, R_OK) == 0;
    char path[TS_SVC_PATH + 16];
    snprintf(path, sizeof path, "%s/active.pem", c->key_dir);
    if (access(path, R_OK) == 0)
        return true;
    DIR *d = opendir(c->key_dir);
    bool found = false;
    struct dirent *e;
    while (d && !found && (e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        found = l > 4 && strcmp(e->d_name + l - 4, ".pem") == 0;
    }
    if (d)
        closedir(d);
    return found;
}

typedef struct mint_job {
    const char *subject, *audience, *scope, *op;
    int64_t ttl, now;
} mint_job;

/* Mint, then append the audit record; the token is returned only when both succeeded. */
static char *mint_and_audit(const ts_svc_config *c, ts_svc_keyring *kr, ts_store *st,
                            const mint_job *j, char jti[TS_SVC_JTI_LEN + 1], ts_error *err)
{
    /* Unpredictable and unique: "local-" + 128 random bits (the token helper's CSPRNG). */
    char rnd[TS_STORE_TOKEN_LEN + 1], session[40];
    if (ts_store_token_generate(rnd, err) != TS_OK)
        return NULL;
    snprintf(session, sizeof session, "local-%.32s", rnd);
    OPENSSL_cleanse(rnd, sizeof rnd);
    static const char *const methods[] = {"local_user_mint", "operator_attested"};
    ts_svc_mint_args ma = {
        .subject = j->subject,
        .audience = j->audience,
        .scope = j->scope,
        .session_id = session,
        .session_end = j->now + j->ttl,
        .auth_method = methods[0],
        .auth_event = "local_user_token_mint",
        .now = j->now,
        .auth_methods = methods,
        .n_auth_methods = 2,
        .principal_type = "user",
    };
    /* Published first, until this token's expiry: replicas sharing the store serve the key as
       long as the token lives, even when it outlives the service's access tokens or its key is
       retired meanwhile. */
    if (ts_svc_key_publish_until(st, ts_svc_keyring_active(kr), j->now, j->now + j->ttl, err) !=
        TS_OK)
        return NULL;
    char *jwt = NULL;
    if (ts_svc_mint(c, kr, &ma, &jwt, jti, err) != TS_OK)
        return NULL;
    json_t *d = json_object();
    json_object_set_new(d, "operator", json_string(j->op));
    json_object_set_new(d, "scope", json_string(j->scope));
    json_object_set_new(d, "audience", json_string(j->audience));
    json_object_set_new(d, "exp", json_integer(j->now + j->ttl));
    json_object_set_new(d, "kid", json_string(ts_jwk_kid(ts_svc_keyring_active(kr))));
    char *detail = json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(d);
    ts_store_audit_entry ae = {0,    j->now, "local_user_token_minted", j->subject, jti, NULL,
                               NULL, detail};
    ts_status s = detail ? ts_store_audit_append(st, &ae, err)
                         : ts_error_set(err, TS_ENOMEM, "audit", "out of memory");
    free(detail);
    if (s != TS_OK) {
        OPENSSL_cleanse(jwt, strlen(jwt));
        ts_free(jwt);
        return NULL;
    }
    return jwt;
}

static int mint(const ts_cli_args *a, ts_svc_config *c, const mint_job *j)
{
    ts_error err;
    ts_error_clear(&err);
    ts_jws_alg want =
        c->algorithm[0] ? ts_jws_alg_parse(c->algorithm, strlen(c->algorithm)) : TS_JWS_ALG_UNKNOWN;
    ts_svc_keyring *kr =
        ts_svc_keyring_open(c->key_file, c->key_dir, want, c->allow_insecure_key_permissions, &err);
    ts_store *st = NULL;
    if (kr && ts_cli_prepare_dirs(a->cmd->name, c, TS_CLI_DIR_STORE) != TS_CLI_OK) {
        ts_svc_keyring_free(kr);
        return TS_CLI_FAIL;
    }
    if (kr) {
        ts_store_options so = TS_STORE_OPTIONS_INIT;
        so.path = c->store;
        so.max_connections = 1;
        st = ts_store_new(&so, &err);
    }
    char jti[TS_SVC_JTI_LEN + 1];
    char *jwt = st ? mint_and_audit(c, kr, st, j, jti, &err) : NULL;
    ts_store_free(st);
    ts_svc_keyring_free(kr);
    if (!jwt) {
        ts_cli_report(a->cmd->name, &err);
        return TS_CLI_FAIL;
    }
    printf("%s\n", jwt);
    fflush(stdout);
    fprintf(stderr,
            "Break-glass token minted and audited: operator %s, subject %s, scopes \"%s\", jti "
            "%s, expires in %llds\n",
            j->op, j->subject, j->scope, jti, (long long)j->ttl);
    OPENSSL_cleanse(jwt, strlen(jwt));
    ts_free(jwt);
    return TS_CLI_OK;
}

static int run_user_token_create(const ts_cli_args *a)
{
    if (!ts_cli_bool(a, F_LOCAL_MINT))
        return ts_cli_usage_error(a->cmd, "local user minting is disabled; re-run with "
                                          "--enable-local-user-mint");
    mint_job j = {.subject = ts_cli_get(a, F_SUBJECT),
                  .audience = ts_cli_get_or_default(a, F_USER_AUDIENCE),
                  .op = ts_cli_get(a, F_OPERATOR),
                  .ttl = ts_cli_num(a, F_USER_TTL),
                  .now = (int64_t)time(NULL)};
    if (!j.op)
        j.op = getenv("SUDO_USER");
    if (!j.op || !*j.op)
        j.op = getenv("USER");
    if (!j.op || !*j.op)
        j.op = "unknown";
    char scope[TS_STORE_MAX_SCOPE_LEN + 1];
    ts_error err;
    ts_error_clear(&err);
    /* The scope rule of the store, which break-glass tokens share with bootstrap tokens. */
    if (ts_store_scopes_normalize(ts_cli_get(a, F_SCOPES), scope, &err) != TS_OK) {
        snprintf(err.where, sizeof err.where, "--scopes");
        char line[512];
        ts_cli_format_error(&err, line, sizeof line);
        return ts_cli_usage_error(a->cmd, "%s", line);
    }
    if (!scope[0])
        return ts_cli_usage_error(a->cmd, "--scopes needs at least one scope");
    j.scope = scope;
    ts_svc_config *c = malloc(sizeof *c);
    if (!c) {
        fprintf(stderr, "tokensmith: %s: out of memory\n", a->cmd->name);
        return TS_CLI_FAIL;
    }
    int rc = ts_cli_serve_config(a, c);
    if (rc == TS_CLI_OK && !key_exists(c)) {
        fprintf(stderr,
                "tokensmith: %s: no signing key in %s (break-glass uses the service's "
                "existing key)\n",
                a->cmd->name, c->key_file[0] ? c->key_file : c->key_dir);
        rc = TS_CLI_FAIL;
    }
    if (rc == TS_CLI_OK) {
        c->access_ttl_s = j.ttl;
        rc = mint(a, c, &j);
    }
    free(c);
    return rc;
}

static const ts_cli_use user_token_uses[] = {
    {F_LOCAL_MINT, 0},    {F_SUBJECT, TS_CLI_REQUIRED},
    {F_SCOPES, 0},        {F_USER_TTL, 0},
    {F_USER_AUDIENCE, 0}, {F_OPERATOR, 0},
    {F_KEY_DIR, 0},       {F_KEY_FILE, 0},
    {F_STORE, 0},         {F_CONFIG, 0},
    {F_HOME, 0},          {F_ISSUER, 0},
    {F_CLUSTER_ID, 0},    {F_OPENCHAMI_ID, 0},
    {F_COUNT, 0},
};

const ts_cli_command ts_cli_cmd_user_token_create = {
    .name = "user-token create",
    .summary = "break-glass: mint a user token offline with the service key (audited)",
    .about =
        "Break-glass: mint a user access token offline with the service's signing key, for\n"
        "when the upstream identity provider is unavailable. Nothing is minted without\n"
        "--enable-local-user-mint. The token is marked: \"break_glass\": true (and, with the\n"
        "NIST claims, auth_methods [\"local_user_mint\", \"operator_attested\"]), so that\n"
        "verifiers can refuse it\n"
        "(`tokensmith token verify --reject-local-mint`, authn's reject_local_mint). Before the\n"
        "token is printed, an audit record (operator, subject, scopes, jti, expiry; never the\n"
        "token) is appended to the store's audit log; without it nothing is printed. Keys,\n"
        "store and claims are found as `serve` finds them; the key must already exist.",
    .after = "Exit status: 0 minted; 1 no key, the store or the audit record failed; 2 bad\n"
             "options.",
    .uses = user_token_uses,
    .opts = TS_CLI_SERVE_CONFIG,
    .run = run_user_token_create,
};
