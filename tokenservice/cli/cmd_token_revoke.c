/* tokensmith token revoke: revoke access tokens, refresh families or everything a subject holds,
 * offline against the store serve uses (safe while it runs), for operators. */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include <tokensmith/jose.h>
#include <tokensmith/store.h>

#include "common/file.h"

#define REASON "operator" /* the store keeps reasons as [a-z0-9_] */
#define ACTOR "operator"

/* The jti and exp of a JWS, read without checking its signature: revoking is the safe
 * direction, and the operator may hold a token signed by a key since removed. */
static bool jws_claims(const char *tok, size_t len, char jti[TS_STORE_JTI_MAX + 1], int64_t *exp)
{
    const char *d1 = memchr(tok, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
    if (!d2)
        return false;
    uint8_t *raw = NULL;
    size_t rlen = 0;
    ts_error e;
    ts_error_clear(&e);
    if (ts_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &raw, &rlen, &e) != TS_OK)
        return false;
    json_t *c = json_loadb((const char *)raw, rlen, 0, NULL);
    ts_free(raw);
    const char *j = json_string_value(json_object_get(c, "jti"));
    json_t *x = json_object_get(c, "exp");
    bool ok = j && *j && strlen(j) <= TS_STORE_JTI_MAX && json_is_integer(x);
    if (ok) {
        snprintf(jti, TS_STORE_JTI_MAX + 1, "%s", j);
        *exp = (int64_t)json_integer_value(x);
    }
    json_decref(c);
    return ok;
}

static int fail(const ts_cli_args *a, const ts_error *e)
{
    ts_cli_report(a->cmd->name, e);
    return TS_CLI_FAIL;
}

static int revoke_jti(const ts_cli_args *a, ts_store *st, const char *jti, int64_t exp)
{
    ts_error e;
    ts_error_clear(&e);
    bool revoked = false;
    int64_t now = (int64_t)time(NULL);
    if (exp <= now) {
        printf("access token %s: expired already, nothing to revoke\n", jti);
        return TS_CLI_OK;
    }
    if (ts_store_jti_revoke(st, jti, exp, REASON, ACTOR, now, &revoked, &e) != TS_OK)
        return fail(a, &e);
    printf("access token %s: %s\n", jti, revoked ? "revoked" : "already revoked");
    return TS_CLI_OK;
}

static int revoke_family(const ts_cli_args *a, ts_store *st, const char *fam)
{
    ts_error e;
    ts_error_clear(&e);
    size_t n = 0;
    bool revoked = false;
    ts_status s = ts_store_family_revoke_tokens(st, fam, REASON, ACTOR, (int64_t)time(NULL), &n,
                                                &revoked, &e);
    if (s == TS_ENOTFOUND) {
        fprintf(stderr, "tokensmith: %s: no refresh family %s\n", a->cmd->name, fam);
        return TS_CLI_FAIL;
    }
    if (s != TS_OK)
        return fail(a, &e);
    printf("refresh family %s: %s, %zu access token(s) revoked\n", fam,
           revoked ? "revoked" : "already revoked", n);
    return TS_CLI_OK;
}

/* A refresh token is known to the store only by its hash, and its rotation is what names its
 * family: it is rotated to a successor nobody holds, then the family is revoked. */
static int revoke_refresh(const ts_cli_args *a, ts_store *st, const char *tok, size_t len)
{
    ts_error e;
    ts_error_clear(&e);
    char hash[TS_STORE_HASH_LEN + 1];
    if (ts_store_token_hash(tok, len, hash, &e) != TS_OK)
        return fail(a, &e);
    /* Read-only: the family of the current or an already rotated hash (a copied old token is
     * as much a reason to revoke the family as the current one). */
    ts_store_family fam;
    bool current = false;
    ts_status s = ts_store_refresh_get(st, hash, &fam, &current, &e);
    char prefix[TS_STORE_PREFIX_LEN + 1];
    ts_store_hash_prefix(hash, prefix);
    if (s == TS_ENOTFOUND ||
        (s == TS_OK && fam.revoked_at == 0 && fam.expires_at <= (int64_t)time(NULL))) {
        printf("refresh token %s...: %s, nothing to revoke\n", prefix,
               s == TS_ENOTFOUND ? "unknown" : "expired");
        return TS_CLI_OK;
    }
    if (s != TS_OK)
        return fail(a, &e);
    return revoke_family(a, st, fam.id);
}

static int revoke_token(const ts_cli_args *a, ts_store *st, const char *tok, size_t len)
{
    if (!memchr(tok, '.', len))
        return revoke_refresh(a, st, tok, len);
    char jti[TS_STORE_JTI_MAX + 1];
    int64_t exp = 0;
    if (!jws_claims(tok, len, jti, &exp)) {
        fprintf(stderr,
                "tokensmith: %s: the token is neither a refresh token nor a JWT with a "
                "jti and an exp\n",
                a->cmd->name);
        return TS_CLI_FAIL;
    }
    return revoke_jti(a, st, jti, exp);
}

static int revoke(const ts_cli_args *a, ts_store *st)
{
    const char *jti = ts_cli_get(a, F_REVOKE_JTI), *fam = ts_cli_get(a, F_REVOKE_FAMILY);
    const char *sub = ts_cli_get(a, F_REVOKE_SUBJECT), *file = ts_cli_get(a, F_TOKEN_FILE);
    if (jti)
        return revoke_jti(a, st, jti, ts_cli_num(a, F_REVOKE_EXP));
    if (fam)
        return revoke_family(a, st, fam);
    ts_error e;
    ts_error_clear(&e);
    if (sub) {
        size_t nf = 0, nt = 0;
        if (ts_store_subject_revoke(st, sub, REASON, ACTOR, (int64_t)time(NULL), &nf, &nt, &e) !=
            TS_OK)
            return fail(a, &e);
        printf("subject %s: %zu refresh famil%s and %zu access token(s) revoked\n", sub, nf,
               nf == 1 ? "y" : "ies", nt);
        return TS_CLI_OK;
    }
    if (!file)
        return revoke_token(a, st, a->operands[0], strlen(a->operands[0]));
    char *text = NULL;
    size_t len = 0;
    if (ts_common__read_file(file, 64u * 1024u, TS_COMMON__READ_NO_NUL, &text, &len, &e) != TS_OK)
        return fail(a, &e);
    while (len && strchr(" \t\r\n", text[len - 1]))
        text[--len] = '\0';
    int rc = revoke_token(a, st, text, len);
    OPENSSL_cleanse(text, len);
    free(text);
    return rc;
}

static int run_token_revoke(const ts_cli_args *a)
{
    static const ts_cli_flag_id one_of[] = {F_REVOKE_JTI, F_REVOKE_FAMILY, F_REVOKE_SUBJECT,
                                            F_TOKEN_FILE};
    size_t what = a->n_operands > 0;
    for (size_t i = 0; i < sizeof one_of / sizeof one_of[0]; i++)
        what += ts_cli_get(a, one_of[i]) != NULL;
    if (what != 1)
        return ts_cli_usage_error(a->cmd, "give exactly one of TOKEN, --token-file, --jti, "
                                          "--family and --subject");
    if (ts_cli_get(a, F_REVOKE_JTI) && !ts_cli_get(a, F_REVOKE_EXP))
        return ts_cli_usage_error(a->cmd, "--jti needs --exp (the token's exp)");
    ts_svc_config *c = malloc(sizeof *c);
    if (!c) {
        fprintf(stderr, "tokensmith: %s: out of memory\n", a->cmd->name);
        return TS_CLI_FAIL;
    }
    int rc = ts_cli_serve_config(a, c);
    if (rc == TS_CLI_OK) {
        ts_error e;
        ts_error_clear(&e);
        ts_store_options so = TS_STORE_OPTIONS_INIT;
        so.path = c->store;
        so.max_connections = 1;
        ts_store *st = ts_store_new(&so, &e);
        rc = st ? revoke(a, st) : fail(a, &e);
        ts_store_free(st);
    }
    free(c);
    return rc;
}

static const ts_cli_use revoke_uses[] = {
    {F_REVOKE_JTI, 0},     {F_REVOKE_EXP, 0}, {F_REVOKE_FAMILY, 0},
    {F_REVOKE_SUBJECT, 0}, {F_TOKEN_FILE, 0}, {F_STORE, 0},
    {F_CONFIG, 0},         {F_HOME, 0},       {F_COUNT, 0},
};

const ts_cli_command ts_cli_cmd_token_revoke = {
    .name = "token revoke",
    .summary = "revoke tokens in the store (by token, jti, family or subject)",
    .operands = "[TOKEN]",
    .min_operands = 0,
    .max_operands = 1,
    .about = "Revoke, offline against the store serve uses (safe while it runs), one of: a\n"
             "token (the argument or --token-file: a refresh token revokes its family and its\n"
             "access tokens; an access token its jti until its exp, read without checking the\n"
             "signature), an access token by --jti and --exp, a refresh family by --family\n"
             "(with every access token issued from it), or everything --subject holds. Prints\n"
             "what was revoked. Each revocation is audited with the actor 'operator'.",
    .after = "Exit status: 0 done (also when it was revoked already, or is expired); 1 the\n"
             "config file or the store failed, or no such family; 2 bad options.",
    .uses = revoke_uses,
    .opts = TS_CLI_SERVE_CONFIG,
    .run = run_token_revoke,
};
