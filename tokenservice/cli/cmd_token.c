/* tokensmith token verify: verify a JWT against a JWKS file or URL and print its claims. */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <tokensmith/authn.h>

#include "common/file.h"

#define MAX_VALUES 16

/* Read the token from stdin, white space trimmed. The bound leaves room for the white space
 * around a token of the largest size the verifier accepts; a longer one is refused by the
 * verifier (too_large), a much longer one here. */
static ts_status read_stdin_token(char **out, size_t *len, ts_error *err)
{
    ts_status st = ts_common__read_fd(STDIN_FILENO, "stdin",
                                      TS_AUTHN_DEFAULT_MAX_TOKEN_BYTES + 4096, 0, out, len, err);
    if (st != TS_OK)
        return st;
    char *buf = *out;
    size_t n = *len, s = 0;
    while (s < n && buf[s] && strchr(" \n\r\t", buf[s]))
        s++;
    while (n > s && buf[n - 1] && strchr(" \n\r\t", buf[n - 1]))
        n--;
    memmove(buf, buf + s, n - s);
    buf[n - s] = 0;
    *len = n - s;
    return TS_OK;
}

static void refuse(ts_authn_reason r, const ts_error *err)
{
    char line[512];
    ts_cli_format_error(err, line, sizeof line);
    fprintf(stderr, "error: %s: %s\n", ts_authn_reason_str(r), line);
}

static ts_authn_keysource *keys(const char *jwks, ts_error *err)
{
    ts_authn_keysource_options ko = TS_AUTHN_KEYSOURCE_OPTIONS_INIT;
    bool remote = strncasecmp(jwks, "https://", 8) == 0 || strncasecmp(jwks, "http://", 7) == 0;
    if (remote) {
        ko.urls = &jwks;
        ko.n_urls = 1;
    } else {
        ko.jwks_files = &jwks;
        ko.n_jwks_files = 1;
    }
    ts_authn_keysource *ks = ts_authn_keysource_new(&ko, err);
    if (ks && remote && ts_authn_keysource_refresh(ks, err) != TS_OK) {
        ts_authn_keysource_free(ks);
        ks = NULL;
    }
    return ks;
}

static int run_verify(const ts_cli_args *a)
{
    const char *issuers[MAX_VALUES + 1], *audiences[MAX_VALUES + 1];
    size_t ni = ts_cli_all(a, F_VERIFY_ISSUER, issuers, MAX_VALUES + 1);
    size_t na = ts_cli_all(a, F_VERIFY_AUDIENCE, audiences, MAX_VALUES + 1);
    if (ni > MAX_VALUES || na > MAX_VALUES)
        return ts_cli_usage_error(a->cmd, "at most %d --issuer and %d --audience values",
                                  MAX_VALUES, MAX_VALUES);
    ts_error err;
    ts_error_clear(&err);
    ts_authn_keysource *ks = keys(ts_cli_get(a, F_JWKS), &err);
    if (!ks) {
        refuse(TS_AUTHN_KEYS_UNAVAILABLE, &err);
        return TS_CLI_FAIL;
    }
    ts_authn_options o = TS_AUTHN_OPTIONS_INIT;
    o.issuers = issuers;
    o.n_issuers = ni;
    o.audiences = audiences;
    o.n_audiences = na;
    o.keysource = ks;
    o.leeway_s = (int)ts_cli_num(a, F_LEEWAY);
    o.disable_cache = true;
    o.reject_local_mint = ts_cli_bool(a, F_REJECT_LOCAL_MINT);
    ts_authn_verifier *v = ts_authn_verifier_new(&o, &err);
    if (!v) {
        ts_authn_keysource_free(ks);
        ts_cli_report(a->cmd->name, &err);
        return TS_CLI_FAIL;
    }
    const char *token = a->n_operands ? a->operands[0] : NULL;
    char *owned = NULL;
    size_t len = 0;
    if (!token || strcmp(token, "-") == 0) {
        ts_error_clear(&err);
        ts_status st = read_stdin_token(&owned, &len, &err);
        if (st != TS_OK) {
            refuse(st == TS_ELIMIT ? TS_AUTHN_TOO_LARGE : TS_AUTHN_MISSING_TOKEN, &err);
            ts_authn_verifier_free(v);
            ts_authn_keysource_free(ks);
            return TS_CLI_FAIL;
        }
        token = owned;
    } else {
        len = strlen(token);
    }
    ts_authn_principal *p = NULL;
    ts_error_clear(&err);
    ts_authn_reason r = ts_authn_verify(v, token, len, &p, NULL, &err);
    if (r == TS_AUTHN_OK)
        printf("%s\n", ts_authn_principal_claims_json(p));
    else
        refuse(r, &err);
    ts_authn_principal_free(p);
    free(owned);
    ts_authn_verifier_free(v);
    ts_authn_keysource_free(ks);
    return r == TS_AUTHN_OK ? TS_CLI_OK : TS_CLI_FAIL;
}

static const ts_cli_use verify_uses[] = {
    {F_JWKS, TS_CLI_REQUIRED},
    {F_VERIFY_ISSUER, TS_CLI_REQUIRED | TS_CLI_REPEAT},
    {F_VERIFY_AUDIENCE, TS_CLI_REQUIRED | TS_CLI_REPEAT},
    {F_LEEWAY, 0},
    {F_REJECT_LOCAL_MINT, 0},
    {F_COUNT, 0},
};

const ts_cli_command ts_cli_cmd_token_verify = {
    .name = "token verify",
    .summary = "verify a JWT against a JWKS and print its claims",
    .operands = "[TOKEN|-]",
    .min_operands = 0,
    .max_operands = 1,
    .about = "Verify a compact JWS token (signature, alg bound to the key, kid, typ JWT or\n"
             "at+jwt, no crit, exp/nbf/iat with leeway, exact issuer, audience) and print its\n"
             "verified claims as JSON on stdout. The token is the argument, or is read from\n"
             "stdin when it is '-' or absent (surrounding white space is ignored).",
    .after = "On failure one line 'error: <code>: <text>' goes to stderr, where <code> is a\n"
             "stable reason: malformed, too_large, bad_signature, unknown_kid, bad_kid,\n"
             "alg_not_allowed, wrong_typ, crit_unsupported, expired, not_yet_valid,\n"
             "wrong_issuer, wrong_audience, missing_claim, invalid_claim, keys_unavailable, ...\n"
             "\n"
             "Exit status: 0 verified; 1 refused (or keys unavailable); 2 usage error.",
    .uses = verify_uses,
    .run = run_verify,
};
