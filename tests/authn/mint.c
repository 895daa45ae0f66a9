/* authn-mint: writes a fresh key per JWS algorithm, their public JWKS and tokens signed with
   them, for the CLI and interop tests. Keys and tokens come from tokensmith-testutil, whose
   signing code is independent of the authn library the tests then check.
   usage: authn-mint DIR ISSUER AUDIENCE
   DIR/jwks.json, DIR/<ALG>.jwt (valid for 10 minutes), DIR/expired.jwt, DIR/wrong-aud.jwt,
   DIR/bad-sig.jwt, DIR/<ALG>.kid */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tokensmith/testutil.h>

static int write_file(const char *dir, const char *name, const char *text)
{
    char path[1024];
    ts_error err;
    ts_error_clear(&err);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!text || ts_testutil_write_file(path, text, strlen(text), &err) != TS_OK) {
        fprintf(stderr, "authn-mint: cannot write %s: %s\n", path, err.msg);
        return -1;
    }
    return 0;
}

/* A token of @p key for ISSUER and AUDIENCE: sub "svc-<ALG>", scope and one role. */
static ts_testutil_token *builder(const ts_testutil_key *k, const char *iss, const char *aud)
{
    const char *alg = ts_jws_alg_name(ts_testutil_key_alg(k));
    char sub[64], jti[64];
    snprintf(sub, sizeof sub, "svc-%s", alg);
    snprintf(jti, sizeof jti, "jti-%s", alg);
    const char *roles[] = {"r1"};
    ts_error err;
    ts_error_clear(&err);
    ts_testutil_token *b = ts_testutil_token_new(k, &err);
    if (!b || ts_testutil_token_set_issuer(b, iss, &err) != TS_OK ||
        ts_testutil_token_set_audience(b, &aud, 1, &err) != TS_OK ||
        ts_testutil_token_set_subject(b, sub, &err) != TS_OK ||
        ts_testutil_token_set_claim_string(b, "jti", jti, &err) != TS_OK ||
        ts_testutil_token_set_scope(b, "read write", &err) != TS_OK ||
        ts_testutil_token_set_roles(b, roles, 1, &err) != TS_OK) {
        fprintf(stderr, "authn-mint: %s\n", err.msg);
        ts_testutil_token_free(b);
        return NULL;
    }
    ts_testutil_token_set_expires_at(b, (int64_t)time(NULL) + 600);
    return b;
}

static int mint_to(const ts_testutil_token *b, ts_testutil_flaw flaw, const char *dir,
                   const char *name)
{
    char *tok = b ? ts_testutil_token_mint(b, flaw, NULL) : NULL;
    int rc = write_file(dir, name, tok);
    ts_free(tok);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: authn-mint DIR ISSUER AUDIENCE\n");
        return 2;
    }
    const char *dir = argv[1], *iss = argv[2], *aud = argv[3];
    enum { N = 9 };
    ts_testutil_key *keys[N] = {NULL};
    int rc = 0;
    for (ts_jws_alg alg = TS_JWS_RS256; alg <= TS_JWS_ES512; alg++) {
        ts_testutil_key *k = ts_testutil_key_new(alg, NULL);
        keys[alg - 1] = k;
        ts_testutil_token *b = k ? builder(k, iss, aud) : NULL;
        char name[64], line[256];
        snprintf(name, sizeof name, "%s.jwt", ts_jws_alg_name(alg));
        rc |= mint_to(b, TS_TESTUTIL_FLAW_NONE, dir, name);
        snprintf(name, sizeof name, "%s.kid", ts_jws_alg_name(alg));
        snprintf(line, sizeof line, "%s\n", k ? ts_testutil_key_kid(k) : "");
        rc |= write_file(dir, name, line);
        if (alg == TS_JWS_ES256)
            rc |= mint_to(b, TS_TESTUTIL_FLAW_BAD_SIGNATURE, dir, "bad-sig.jwt");
        if (alg == TS_JWS_RS256) {
            rc |= mint_to(b, TS_TESTUTIL_FLAW_EXPIRED, dir, "expired.jwt");
            rc |= mint_to(b, TS_TESTUTIL_FLAW_WRONG_AUDIENCE, dir, "wrong-aud.jwt");
        }
        ts_testutil_token_free(b);
    }
    ts_error err;
    ts_error_clear(&err);
    ts_jwks *set = ts_testutil_jwks((const ts_testutil_key *const *)keys, N, &err);
    char path[1024];
    snprintf(path, sizeof path, "%s/jwks.json", dir);
    if (!set || ts_testutil_jwks_write(set, path, &err) != TS_OK) {
        fprintf(stderr, "authn-mint: jwks: %s\n", err.msg);
        rc = 1;
    }
    ts_jwks_free(set);
    for (int i = 0; i < N; i++)
        ts_testutil_key_free(keys[i]);
    return rc ? 1 : 0;
}
