/* A downstream test program using the installed testutil component: mint a token and verify it
 * with authn. */
#include <stdio.h>
#include <string.h>

#include <tokensmith/authn.h>
#include <tokensmith/testutil.h>

int main(void)
{
    ts_error err;
    ts_error_clear(&err);
    ts_testutil_key *key = ts_testutil_key_p256(&err);
    const ts_testutil_key *keys[] = {key};
    ts_jwks *set = key ? ts_testutil_jwks(keys, 1, &err) : NULL;
    char *tok =
        key ? ts_testutil_mint_for(key, TS_TESTUTIL_VIEWER, NULL, NULL, TS_TESTUTIL_FLAW_NONE, &err)
            : NULL;
    const char *iss[] = {TS_TESTUTIL_ISSUER}, *aud[] = {TS_TESTUTIL_AUDIENCE};
    ts_authn_options o = TS_AUTHN_OPTIONS_INIT;
    o.issuers = iss;
    o.n_issuers = 1;
    o.audiences = aud;
    o.n_audiences = 1;
    o.keys = set;
    ts_authn_verifier *v = set && tok ? ts_authn_verifier_new(&o, &err) : NULL;
    ts_authn_principal *p = NULL;
    ts_authn_reason r =
        v ? ts_authn_verify(v, tok, strlen(tok), &p, NULL, &err) : TS_AUTHN_INTERNAL;
    int ok = r == TS_AUTHN_OK && strcmp(ts_authn_principal_id(p), "viewer@tokensmith.test") == 0;
    if (ok)
        printf("testutil: minted token verified for %s\n", ts_authn_principal_id(p));
    else
        fprintf(stderr, "testutil: %s (%s)\n", ts_authn_reason_str(r), err.msg);
    ts_authn_principal_free(p);
    ts_authn_verifier_free(v);
    ts_free(tok);
    ts_jwks_free(set);
    ts_testutil_key_free(key);
    return ok ? 0 : 1;
}
