/* authn-mint: writes a fresh key per JWS algorithm, their public JWKS and tokens signed with
   them, for the CLI and interop tests.
   usage: authn-mint DIR ISSUER AUDIENCE
   DIR/jwks.json, DIR/<ALG>.jwt (valid for 10 minutes), DIR/expired.jwt, DIR/wrong-aud.jwt,
   DIR/bad-sig.jwt, DIR/<ALG>.kid */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tokensmith/jose.h>

static int write_file(const char *dir, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "authn-mint: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

static char *sign(const ts_jwk *k, ts_jws_alg alg, const char *iss, const char *aud, long long exp,
                  long long now)
{
    char claims[1024];
    snprintf(claims, sizeof claims,
             "{\"iss\":\"%s\",\"sub\":\"svc-%s\",\"aud\":[\"%s\"],\"exp\":%lld,\"nbf\":%lld,"
             "\"iat\":%lld,\"jti\":\"jti-%s\",\"scope\":\"read write\",\"roles\":[\"r1\"]}",
             iss, ts_jws_alg_name(alg), aud, exp, now, now, ts_jws_alg_name(alg));
    char *tok = NULL;
    ts_error err;
    ts_error_clear(&err);
    if (ts_jws_sign(k, alg, "at+jwt", claims, strlen(claims), &tok, NULL, &err) != TS_OK)
        fprintf(stderr, "authn-mint: %s\n", err.msg);
    return tok;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: authn-mint DIR ISSUER AUDIENCE\n");
        return 2;
    }
    const char *dir = argv[1], *iss = argv[2], *aud = argv[3];
    long long now = (long long)time(NULL);
    ts_jwk *keys[9];
    int rc = 0;
    for (ts_jws_alg alg = TS_JWS_RS256; alg <= TS_JWS_ES512; alg++) {
        ts_jwk *k = ts_jwk_generate(alg, NULL);
        keys[alg - 1] = k;
        char *tok = k ? sign(k, alg, iss, aud, now + 600, now) : NULL;
        char name[64], line[256];
        snprintf(name, sizeof name, "%s.jwt", ts_jws_alg_name(alg));
        rc |= !tok || write_file(dir, name, tok);
        snprintf(name, sizeof name, "%s.kid", ts_jws_alg_name(alg));
        snprintf(line, sizeof line, "%s\n", k ? ts_jwk_kid(k) : "");
        rc |= write_file(dir, name, line);
        if (alg == TS_JWS_ES256 && tok) {
            char *bad = strdup(tok);
            char *c = strrchr(bad, '.') + 5;
            *c = *c == 'A' ? 'B' : 'A';
            rc |= write_file(dir, "bad-sig.jwt", bad);
            free(bad);
        }
        ts_authn_free(tok);
    }
    char *t = sign(keys[0], TS_JWS_RS256, iss, aud, now - 3600, now - 7200);
    rc |= !t || write_file(dir, "expired.jwt", t);
    ts_authn_free(t);
    t = sign(keys[0], TS_JWS_RS256, iss, "someone-else", now + 600, now);
    rc |= !t || write_file(dir, "wrong-aud.jwt", t);
    ts_authn_free(t);
    ts_jwks *set = ts_jwks_new(keys, 9, NULL);
    char *json = set ? ts_jwks_to_json(set, NULL) : NULL;
    rc |= !json || write_file(dir, "jwks.json", json);
    ts_authn_free(json);
    ts_jwks_free(set);
    for (int i = 0; i < 9; i++)
        ts_jwk_free(keys[i]);
    return rc ? 1 : 0;
}
