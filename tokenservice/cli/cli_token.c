/* tokensmith token verify: verify a JWT against a JWKS file or URL and print its claims. */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <tokensmith/authn.h>

#define MAX_VALUES 16

void ts_cli_token_usage(FILE *out)
{
    fprintf(out,
            "usage: tokensmith token verify --jwks FILE|URL --issuer ISS --audience AUD\n"
            "                               [--leeway SECONDS] [--reject-local-mint] [TOKEN|-]\n"
            "\n"
            "token verify: verify a compact JWS token (signature, alg bound to the key, kid,\n"
            "typ JWT or at+jwt, no crit, exp/nbf/iat with leeway, exact issuer, audience) and\n"
            "print its verified claims as JSON on stdout. The token is the argument, or is\n"
            "read from stdin when it is '-' or absent (surrounding white space is ignored).\n"
            "\n"
            "options:\n"
            "  --jwks FILE|URL     JWK Set file, or an https:// URL (http:// on loopback only)\n"
            "  --issuer ISS        accepted issuer (exact match); repeatable\n"
            "  --audience AUD      our audience; the token's aud must contain one; repeatable\n"
            "  --leeway SECONDS    clock skew for exp, nbf and iat, 0..600 (default 60)\n"
            "  --reject-local-mint refuse break-glass tokens (auth_methods containing\n"
            "                      local_user_mint, from `tokensmith user-token create`)\n"
            "  -h, --help          show this help\n"
            "\n"
            "On failure one line 'error: <code>: <text>' goes to stderr, where <code> is a\n"
            "stable reason: malformed, too_large, bad_signature, unknown_kid, bad_kid,\n"
            "alg_not_allowed, wrong_typ, crit_unsupported, expired, not_yet_valid,\n"
            "wrong_issuer, wrong_audience, missing_claim, invalid_claim, keys_unavailable, ...\n"
            "\n"
            "exit status: 0 verified, 1 refused (or keys unavailable), 2 usage error\n");
}

static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
    size_t nl = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, nl) == 0 && a[nl] == '=')
        return a + nl + 1;
    if (strcmp(a, name) == 0 && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

/* "tokensmith: token verify: <msg>", then " 'arg'" when @p arg is non-empty. */
static int usage_error(const char *msg, const char *arg)
{
    if (arg && *arg)
        fprintf(stderr, "tokensmith: token verify: %s '%s'\n", msg, arg);
    else
        fprintf(stderr, "tokensmith: token verify: %s\n", msg);
    ts_cli_token_usage(stderr);
    return TS_CLI_USAGE;
}

/* Read the token from stdin: at most the size cap plus one byte, white space trimmed. */
static char *read_stdin_token(size_t *len)
{
    size_t cap = TS_AUTHN_DEFAULT_MAX_TOKEN_BYTES + 2;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    size_t n = fread(buf, 1, cap - 1, stdin);
    buf[n] = 0;
    size_t s = 0;
    while (s < n && (buf[s] == ' ' || buf[s] == '\n' || buf[s] == '\r' || buf[s] == '\t'))
        s++;
    while (n > s &&
           (buf[n - 1] == ' ' || buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == '\t'))
        n--;
    memmove(buf, buf + s, n - s);
    buf[n - s] = 0;
    *len = n - s;
    return buf;
}

static int verify(int argc, char **argv)
{
    const char *jwks = NULL, *token = NULL, *issuers[MAX_VALUES], *audiences[MAX_VALUES];
    size_t ni = 0, na = 0;
    long leeway = TS_AUTHN_DEFAULT_LEEWAY_S;
    bool reject_local = false;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (ts_cli_is_help(argv[i])) {
            ts_cli_token_usage(stdout);
            return TS_CLI_OK;
        } else if ((v = opt_value(argc, argv, &i, "--jwks"))) {
            if (jwks)
                return usage_error("--jwks given twice", NULL);
            jwks = v;
        } else if ((v = opt_value(argc, argv, &i, "--issuer"))) {
            if (ni == MAX_VALUES)
                return usage_error("too many --issuer values", NULL);
            issuers[ni++] = v;
        } else if ((v = opt_value(argc, argv, &i, "--audience"))) {
            if (na == MAX_VALUES)
                return usage_error("too many --audience values", NULL);
            audiences[na++] = v;
        } else if ((v = opt_value(argc, argv, &i, "--leeway"))) {
            char *end = NULL;
            leeway = strtol(v, &end, 10);
            if (!*v || *end || leeway < 0 || leeway > TS_AUTHN_MAX_LEEWAY_S)
                return usage_error("--leeway must be 0..600 seconds, got", v);
        } else if (strcmp(argv[i], "--reject-local-mint") == 0) {
            reject_local = true;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return usage_error("unknown option", argv[i]);
        } else {
            if (token)
                return usage_error("more than one TOKEN:", argv[i]);
            token = argv[i];
        }
    }
    if (!jwks)
        return usage_error("--jwks is required", NULL);
    if (!ni)
        return usage_error("--issuer is required", NULL);
    if (!na)
        return usage_error("--audience is required", NULL);

    ts_error err;
    ts_error_clear(&err);
    ts_authn_keysource_options ko = TS_AUTHN_KEYSOURCE_OPTIONS_INIT;
    bool remote = strncasecmp(jwks, "https://", 8) == 0 || strncasecmp(jwks, "http://", 7) == 0;
    if (remote) {
        ko.urls = &jwks;
        ko.n_urls = 1;
    } else {
        ko.jwks_files = &jwks;
        ko.n_jwks_files = 1;
    }
    ts_authn_keysource *ks = ts_authn_keysource_new(&ko, &err);
    if (ks && remote && ts_authn_keysource_refresh(ks, &err) != TS_OK) {
        ts_authn_keysource_free(ks);
        ks = NULL;
    }
    if (!ks) {
        char line[512];
        ts_cli_format_error(&err, line, sizeof line);
        fprintf(stderr, "error: %s: %s\n", ts_authn_reason_str(TS_AUTHN_KEYS_UNAVAILABLE), line);
        return TS_CLI_FAIL;
    }
    ts_authn_options o = TS_AUTHN_OPTIONS_INIT;
    o.issuers = issuers;
    o.n_issuers = ni;
    o.audiences = audiences;
    o.n_audiences = na;
    o.keysource = ks;
    o.leeway_s = (int)leeway;
    o.disable_cache = true;
    o.reject_local_mint = reject_local;
    ts_authn_verifier *v = ts_authn_verifier_new(&o, &err);
    if (!v) {
        ts_authn_keysource_free(ks);
        ts_cli_report("token verify", &err);
        return TS_CLI_FAIL;
    }
    char *owned = NULL;
    size_t len = 0;
    if (!token || strcmp(token, "-") == 0) {
        owned = read_stdin_token(&len);
        token = owned ? owned : "";
    } else {
        len = strlen(token);
    }
    ts_authn_principal *p = NULL;
    ts_error_clear(&err);
    ts_authn_reason r = ts_authn_verify(v, token, len, &p, NULL, &err);
    int rc = TS_CLI_OK;
    if (r == TS_AUTHN_OK) {
        printf("%s\n", ts_authn_principal_claims_json(p));
    } else {
        char line[512];
        ts_cli_format_error(&err, line, sizeof line);
        fprintf(stderr, "error: %s: %s\n", ts_authn_reason_str(r), line);
        rc = TS_CLI_FAIL;
    }
    ts_authn_principal_free(p);
    free(owned);
    ts_authn_verifier_free(v);
    ts_authn_keysource_free(ks);
    return rc;
}

int ts_cli_token(int argc, char **argv)
{
    if (argc < 2 || ts_cli_is_help(argv[1])) {
        ts_cli_token_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? TS_CLI_USAGE : TS_CLI_OK;
    }
    if (strcmp(argv[1], "verify") == 0)
        return verify(argc - 1, argv + 1);
    fprintf(stderr, "tokensmith: token: unknown sub-command '%s'\n", argv[1]);
    ts_cli_token_usage(stderr);
    return TS_CLI_USAGE;
}
