/* oom.testutil: keys (generated and loaded), key sets, the token builder and its minting (each
   token is checked with authn's verifier, and compared with the one made without failures),
   policy fragment directories, files and the loopback JWKS server (what it serves is fetched
   and compared). A refused setter must leave the builder's claims as they were, a refused
   set_keys() the served set, and a fragment directory is gone once freed. */
#include "oom.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tokensmith/authn.h>
#include <tokensmith/testutil.h>

#define NOW 1700000000

static int64_t fixed_now(void *ud)
{
    (void)ud;
    return NOW;
}

/* ---- keys ----------------------------------------------------------------------------------- */

static oom_result run_key_new(void *p)
{
    (void)p;
    ts_error err;
    ts_error_clear(&err);
    ts_testutil_key *k = ts_testutil_key_p256(&err);
    /* The new key goes through PEM; OpenSSL's decoders drop their allocation failures (see
       oom_authn.c). */
    if (!k)
        return oom_refused_openssl(err.code, &err, OOM_ALSO(TS_EPARSE));
    bool ok = ts_testutil_key_alg(k) == TS_JWS_ES256 && strlen(ts_testutil_key_kid(k)) == 43 &&
              ts_jwk_is_private(ts_testutil_key_jwk(k));
    ts_testutil_key_free(k);
    OOM_EXPECT(ok);
    return OOM_SUCCEEDED;
}

#define RSA_PEM "authn/tests/data/keys/rsa_pkcs8_private.pem"

/* The key file's key as loaded without failures. */
typedef struct pem_ctx {
    char *kid, *priv, *pub;
} pem_ctx;

static void *setup_pem(void)
{
    pem_ctx *c = calloc(1, sizeof *c);
    ts_error err;
    ts_error_clear(&err);
    ts_testutil_key *k =
        c ? ts_testutil_key_load_pem(oom_source_path(RSA_PEM), TS_JWS_PS256, &err) : NULL;
    if (!k)
        oom_wrong("setup: key: %s", err.msg);
    c->kid = strdup(ts_testutil_key_kid(k));
    c->priv = ts_testutil_key_private_pem(k, &err);
    c->pub = ts_testutil_key_public_pem(k, &err);
    ts_testutil_key_free(k);
    if (!c->kid || !c->priv || !c->pub)
        oom_wrong("setup: PEM: %s", err.msg);
    return c;
}

static void teardown_pem(void *p, oom_result r)
{
    (void)r;
    pem_ctx *c = p;
    free(c->kid);
    ts_free(c->priv);
    ts_free(c->pub);
    free(c);
}

static oom_result run_key_load_pem(void *p)
{
    pem_ctx *c = p;
    ts_error err;
    ts_error_clear(&err);
    ts_testutil_key *k = ts_testutil_key_load_pem(oom_source_path(RSA_PEM), TS_JWS_PS256, &err);
    /* OpenSSL's PEM decoders drop their allocation failures (see oom_authn.c). */
    if (!k)
        return oom_refused_openssl(err.code, &err, OOM_ALSO(TS_EPARSE));
    bool same_key = ts_testutil_key_alg(k) == TS_JWS_PS256 &&
                    strcmp(ts_testutil_key_kid(k), c->kid) == 0 &&
                    ts_jwk_is_private(ts_testutil_key_jwk(k));
    char *priv = ts_testutil_key_private_pem(k, &err);
    char *pub = priv ? ts_testutil_key_public_pem(k, &err) : NULL;
    ts_testutil_key_free(k);
    if (!pub) {
        ts_free(priv);
        return oom_refused(err.code, &err);
    }
    bool same_pem = strcmp(priv, c->priv) == 0 && strcmp(pub, c->pub) == 0;
    ts_free(priv);
    ts_free(pub);
    OOM_EXPECT(same_key);
    OOM_EXPECT(same_pem);
    return OOM_SUCCEEDED;
}

typedef struct keys {
    ts_testutil_key *ec, *rsa;
    ts_jwks *set;    /* both public keys */
    ts_jwks *ec_set; /* the EC key's alone */
    char *set_json, *ec_set_json;
    ts_authn_verifier *v;
} keys;

static void *setup_keys(void)
{
    keys *k = calloc(1, sizeof *k);
    if (!k)
        oom_wrong("setup: out of memory");
    ts_error err;
    ts_error_clear(&err);
    k->ec = ts_testutil_key_p256(&err);
    k->rsa = k->ec ? ts_testutil_key_load_pem(oom_source_path(RSA_PEM), TS_JWS_RS256, &err) : NULL;
    const ts_testutil_key *both[] = {k->ec, k->rsa};
    k->set = k->rsa ? ts_testutil_jwks(both, 2, &err) : NULL;
    k->ec_set = k->set ? ts_testutil_jwks(both, 1, &err) : NULL;
    k->set_json = k->ec_set ? ts_jwks_to_json(k->set, &err) : NULL;
    k->ec_set_json = k->set_json ? ts_jwks_to_json(k->ec_set, &err) : NULL;
    if (!k->ec_set_json)
        oom_wrong("setup: keys: %s", err.msg);
    static const char *const iss[] = {TS_TESTUTIL_ISSUER, "https://other.test"};
    static const char *const aud[] = {TS_TESTUTIL_AUDIENCE, "svc"};
    ts_authn_options o = TS_AUTHN_OPTIONS_INIT;
    o.issuers = iss;
    o.n_issuers = 2;
    o.audiences = aud;
    o.n_audiences = 2;
    o.keys = k->set;
    o.disable_cache = true;
    o.now = fixed_now;
    k->v = ts_authn_verifier_new(&o, &err);
    if (!k->v)
        oom_wrong("setup: verifier: %s", err.msg);
    return k;
}

static void teardown_keys(void *p, oom_result r)
{
    (void)r;
    keys *k = p;
    ts_authn_verifier_free(k->v);
    ts_jwks_free(k->set);
    ts_jwks_free(k->ec_set);
    ts_free(k->set_json);
    ts_free(k->ec_set_json);
    ts_testutil_key_free(k->ec);
    ts_testutil_key_free(k->rsa);
    free(k);
}

static oom_result run_jwks(void *p)
{
    keys *k = p;
    ts_error err;
    ts_error_clear(&err);
    const ts_testutil_key *both[] = {k->ec, NULL, k->rsa};
    ts_jwks *set = ts_testutil_jwks(both, 3, &err);
    /* The public halves are parsed as JWKs: OpenSSL does not report some allocation failures
       of building an EC key from its members (see oom_authn.c). */
    if (!set)
        return oom_refused_openssl(err.code, &err, OOM_ALSO(TS_EPARSE));
    bool public_only = ts_jwks_count(set) == 2;
    for (size_t i = 0; public_only && i < 2; i++)
        public_only = !ts_jwk_is_private(ts_jwks_get(set, i));
    char path[4096];
    snprintf(path, sizeof path, "%s/keys.json", oom_scratch_dir());
    ts_status st = ts_testutil_jwks_write(set, path, &err);
    ts_jwks_free(set);
    OOM_TRY(st, &err);
    OOM_EXPECT(public_only);
    oom_pause();
    char *text = NULL;
    size_t len = 0;
    bool same =
        ts_testutil_read_file(path, &text, &len, &err) == TS_OK && strcmp(text, k->set_json) == 0;
    ts_free(text);
    oom_resume();
    OOM_EXPECT(same); /* the file holds the key set made without failures */
    return OOM_SUCCEEDED;
}

/* ---- tokens --------------------------------------------------------------------------------- */

/* Verify @p tok without failures: @p want, and for OK the subject @p sub. */
static void check_token(const keys *k, const char *tok, ts_authn_reason want, const char *sub)
{
    oom_pause();
    ts_authn_principal *pr = NULL;
    ts_error err;
    ts_authn_reason r = ts_authn_verify(k->v, tok, strlen(tok), &pr, NULL, &err);
    bool same = r == want && (r != TS_AUTHN_OK || strcmp(ts_authn_principal_id(pr), sub) == 0);
    ts_authn_principal_free(pr);
    oom_resume();
    if (!same)
        oom_wrong("a minted token verifies as %s (%s), not %s", ts_authn_reason_str(r), err.msg,
                  ts_authn_reason_str(want));
}

/* The claims @p b would sign (counted as no allocation); NULL when it would not mint. */
static char *claims_of(const ts_testutil_token *b)
{
    oom_pause();
    ts_error err;
    char *c = ts_testutil_token_claims(b, &err);
    oom_resume();
    return c;
}

/* One setter of build(): on refusal, the claims must be what they were before it. */
#define STEP(call)                                                                                 \
    do {                                                                                           \
        char *before_ = claims_of(b);                                                              \
        ts_status st_ = (call);                                                                    \
        char *after_ = st_ != TS_OK ? claims_of(b) : NULL;                                         \
        bool kept_ = st_ == TS_OK || (!before_ && !after_) ||                                      \
                     (before_ && after_ && strcmp(before_, after_) == 0);                          \
        ts_free(before_);                                                                          \
        ts_free(after_);                                                                           \
        if (st_ != TS_OK) {                                                                        \
            ts_testutil_token_free(b);                                                             \
            *r = oom_refused(st_, err);                                                            \
            if (!kept_)                                                                            \
                oom_wrong("%s refused, but the claims changed", #call);                            \
            return NULL;                                                                           \
        }                                                                                          \
    } while (0)

/* Build a token with every setter; NULL (and the refusal in *r) when one was refused. */
static ts_testutil_token *build(const keys *k, ts_error *err, oom_result *r)
{
    ts_testutil_token *b = ts_testutil_token_new(k->ec, err);
    if (!b) {
        *r = oom_refused_openssl(err->code, err, 0u); /* its jti is random: RAND_bytes */
        return NULL;
    }
    ts_testutil_token_set_now(b, NOW);
    static const char *const aud[] = {"svc", "other"};
    static const char *const roles[] = {"viewer", "admin"};
    STEP(ts_testutil_token_set_issuer(b, "https://other.test", err));
    STEP(ts_testutil_token_set_principal(b, ts_testutil_principal_get(TS_TESTUTIL_OPERATOR), err));
    STEP(ts_testutil_token_set_subject(b, "carol", err));
    STEP(ts_testutil_token_set_audience(b, aud, 2, err));
    STEP(ts_testutil_token_set_roles(b, roles, 2, err));
    STEP(ts_testutil_token_set_scope(b, "nodes:read nodes:write", err));
    STEP(ts_testutil_token_set_claim_json(b, "ctx", "{\"a\":[1,2,{\"b\":null}]}", err));
    STEP(ts_testutil_token_set_claim_string(b, "jti", "fixed-jti", err));
    STEP(ts_testutil_token_set_nist(b, err));
    /* random in the NIST claims: fixed, to compare */
    STEP(ts_testutil_token_set_claim_string(b, "session_id", "fixed-sid", err));
    /* A time set in place, and one set again after its removal (an allocation that can fail:
       the builder then refuses to mint). */
    ts_testutil_token_set_expires_at(b, NOW + 600);
    ts_testutil_token_remove_claim(b, "iat");
    ts_testutil_token_set_issued_at(b, NOW - 5);
    STEP(ts_testutil_token_set_typ(b, "at+jwt", err));
    STEP(ts_testutil_token_set_header_json(b, "x5t", "\"abc\"", err));
    return b;
}

/* The first part (the encoded header) of a compact token. */
static char *header_part(const char *tok)
{
    const char *dot = strchr(tok, '.');
    return dot ? strndup(tok, (size_t)(dot - tok)) : NULL;
}

typedef struct tok_ctx {
    keys *k;
    char *claims;     /* what the builder of build() signs */
    char *header;     /* the encoded header of its token */
    char *raw_header; /* a header with the EC key's kid, for sign_raw */
} tok_ctx;

static void *setup_tokens(void)
{
    tok_ctx *t = calloc(1, sizeof *t);
    if (!t)
        oom_wrong("setup: out of memory");
    t->k = setup_keys();
    ts_error err;
    ts_error_clear(&err);
    oom_result r;
    ts_testutil_token *b = build(t->k, &err, &r);
    t->claims = b ? ts_testutil_token_claims(b, &err) : NULL;
    char *tok = t->claims ? ts_testutil_token_mint(b, TS_TESTUTIL_FLAW_NONE, &err) : NULL;
    ts_testutil_token_free(b);
    if (!tok)
        oom_wrong("setup: token: %s", err.msg);
    t->header = header_part(tok);
    ts_free(tok);
    t->raw_header = malloc(128);
    if (!t->header || !t->raw_header)
        oom_wrong("setup: out of memory");
    snprintf(t->raw_header, 128, "{\"alg\":\"ES256\",\"kid\":\"%s\"}",
             ts_testutil_key_kid(t->k->ec));
    return t;
}

static void teardown_tokens(void *p, oom_result r)
{
    tok_ctx *t = p;
    teardown_keys(t->k, r);
    ts_free(t->claims);
    free(t->header);
    free(t->raw_header);
    free(t);
}

static oom_result run_build_mint(void *p)
{
    tok_ctx *t = p;
    ts_error err;
    ts_error_clear(&err);
    oom_result r = OOM_SUCCEEDED;
    ts_testutil_token *b = build(t->k, &err, &r);
    if (!b)
        return r;
    char *claims = ts_testutil_token_claims(b, &err);
    char *tok = claims ? ts_testutil_token_mint(b, TS_TESTUTIL_FLAW_NONE, &err) : NULL;
    ts_testutil_token_free(b);
    if (!tok) {
        ts_free(claims);
        return oom_refused(err.code, &err);
    }
    bool same = strcmp(claims, t->claims) == 0;
    ts_free(claims);
    check_token(t->k, tok, TS_AUTHN_OK, "carol");
    oom_pause();
    char *header = header_part(tok);
    oom_resume();
    bool same_header = header && strcmp(header, t->header) == 0;
    free(header);
    ts_free(tok);
    OOM_EXPECT(same);
    OOM_EXPECT(same_header);
    return OOM_SUCCEEDED;
}

static const struct {
    ts_testutil_flaw flaw;
    ts_authn_reason want;
} flaws[] = {
    {TS_TESTUTIL_FLAW_EXPIRED, TS_AUTHN_EXPIRED},
    {TS_TESTUTIL_FLAW_NOT_YET_VALID, TS_AUTHN_NOT_YET_VALID},
    {TS_TESTUTIL_FLAW_WRONG_ISSUER, TS_AUTHN_WRONG_ISSUER},
    {TS_TESTUTIL_FLAW_WRONG_AUDIENCE, TS_AUTHN_WRONG_AUDIENCE},
    {TS_TESTUTIL_FLAW_BAD_SIGNATURE, TS_AUTHN_BAD_SIGNATURE},
    {TS_TESTUTIL_FLAW_ALG_NONE, TS_AUTHN_ALG_NOT_ALLOWED},
    {TS_TESTUTIL_FLAW_UNKNOWN_KID, TS_AUTHN_UNKNOWN_KID},
    {TS_TESTUTIL_FLAW_MISSING_KID, TS_AUTHN_BAD_KID},
};

static oom_result run_flaws(void *p)
{
    tok_ctx *t = p;
    ts_error err;
    ts_error_clear(&err);
    ts_testutil_token *b = ts_testutil_token_new(t->k->rsa, &err);
    OOM_TRY_PTR(b, &err);
    ts_testutil_token_set_now(b, NOW);
    for (size_t i = 0; i < sizeof flaws / sizeof flaws[0]; i++) {
        char *tok = ts_testutil_token_mint(b, flaws[i].flaw, &err);
        if (!tok) {
            ts_testutil_token_free(b);
            return oom_refused(err.code, &err);
        }
        check_token(t->k, tok, flaws[i].want, NULL);
        ts_free(tok);
    }
    ts_testutil_token_free(b);
    return OOM_SUCCEEDED;
}

static oom_result run_mint_for(void *p)
{
    tok_ctx *t = p;
    ts_error err;
    ts_error_clear(&err);
    /* mint_for uses the wall clock: checked with a verifier on the same clock. */
    char *tok = ts_testutil_mint_for(t->k->rsa, TS_TESTUTIL_OPERATOR, NULL, NULL,
                                     TS_TESTUTIL_FLAW_NONE, &err);
    OOM_TRY_PTR(tok, &err);
    oom_pause();
    ts_jwks *set = t->k->set;
    ts_authn_options o = TS_AUTHN_OPTIONS_INIT;
    static const char *const iss[] = {TS_TESTUTIL_ISSUER};
    static const char *const aud[] = {TS_TESTUTIL_AUDIENCE};
    o.issuers = iss;
    o.n_issuers = 1;
    o.audiences = aud;
    o.n_audiences = 1;
    o.keys = set;
    o.disable_cache = true;
    ts_authn_verifier *v = ts_authn_verifier_new(&o, &err);
    ts_authn_principal *pr = NULL;
    ts_authn_reason r =
        v ? ts_authn_verify(v, tok, strlen(tok), &pr, NULL, &err) : TS_AUTHN_INTERNAL;
    bool ok = r == TS_AUTHN_OK && ts_authn_principal_type_of(pr) == TS_AUTHN_PRINCIPAL_USER;
    ts_authn_principal_free(pr);
    ts_authn_verifier_free(v);
    oom_resume();
    ts_free(tok);
    if (!ok)
        oom_wrong("a minted fixture token verifies as %s: %s", ts_authn_reason_str(r), err.msg);
    return OOM_SUCCEEDED;
}

static oom_result run_sign_raw(void *p)
{
    tok_ctx *t = p;
    ts_error err;
    ts_error_clear(&err);
    char *tok = ts_testutil_sign_raw(t->k->ec, TS_JWS_ES256, t->raw_header, strlen(t->raw_header),
                                     t->claims, strlen(t->claims), &err);
    OOM_TRY_PTR(tok, &err);
    check_token(t->k, tok, TS_AUTHN_OK, "carol"); /* the signature checks */
    ts_free(tok);
    return OOM_SUCCEEDED;
}

/* ---- fragments and files -------------------------------------------------------------------- */

/* Whether @p dir/@p name exists, and then holds exactly @p want. */
static bool file_is(const char *dir, const char *name, const char *want)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *text = NULL;
    size_t len = 0;
    ts_error err;
    bool ok =
        want ? ts_testutil_read_file(path, &text, &len, &err) == TS_OK && strcmp(text, want) == 0
             : access(path, F_OK) != 0;
    ts_free(text);
    return ok;
}

static oom_result run_policy_dir(void *p)
{
    (void)p;
    ts_error err;
    ts_error_clear(&err);
    ts_testutil_policy_dir *d = ts_testutil_policy_dir_new(&err);
    OOM_TRY_PTR(d, &err);
    static const char *const lines[] = {"p, role:x, svc:a, read", "g, user:y, role:x, *"};
    unsigned done = 0; /* steps that worked */
    ts_status st = ts_testutil_policy_dir_write(d, "10-a.csv", lines, 2, &err);
    if (st == TS_OK) {
        done = 1;
        st = ts_testutil_policy_dir_write(d, "20-b.csv", lines, 1, &err);
    }
    if (st == TS_OK) {
        done = 2;
        st = ts_testutil_policy_dir_remove(d, "10-a.csv", &err);
    }
    if (st == TS_OK)
        done = 3;
    /* The directory holds what the steps that worked wrote, and nothing of a refused one. */
    oom_pause();
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", ts_testutil_policy_dir_path(d));
    bool a_ok =
        file_is(dir, "10-a.csv",
                done == 1 || done == 2 ? "p, role:x, svc:a, read\ng, user:y, role:x, *\n" : NULL);
    bool b_ok = file_is(dir, "20-b.csv", done >= 2 ? "p, role:x, svc:a, read\n" : NULL);
    oom_resume();
    ts_testutil_policy_dir_free(d);
    struct stat sb;
    bool removed = stat(dir, &sb) != 0; /* freeing removes every fragment and the directory */
    OOM_EXPECT(a_ok);
    OOM_EXPECT(b_ok);
    OOM_EXPECT(removed);
    OOM_TRY(st, &err);
    return OOM_SUCCEEDED;
}

static oom_result run_files(void *p)
{
    (void)p;
    char path[4096];
    snprintf(path, sizeof path, "%s/data.bin", oom_scratch_dir());
    static const char data[] = "line one\nline two\n";
    ts_error err;
    ts_error_clear(&err);
    OOM_TRY(ts_testutil_write_file(path, data, sizeof data - 1, &err), &err);
    char *out = NULL;
    size_t len = 0;
    OOM_TRY(ts_testutil_read_file(path, &out, &len, &err), &err);
    bool same = len == sizeof data - 1 && memcmp(out, data, len) == 0;
    ts_free(out);
    OOM_EXPECT(same);
    return OOM_SUCCEEDED;
}

/* GET the key set from @p s on a socket of our own; the body, or NULL. Counted as no
   allocation (the server's thread allocates while paused too). */
static char *fetch_keys(const ts_testutil_jwks_server *s)
{
    oom_pause();
    char *body = NULL;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(ts_testutil_jwks_server_port(s));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    static const char req[] = "GET /.well-known/jwks.json HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    static char buf[16384];
    size_t got = 0;
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        send(fd, req, sizeof req - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof req - 1)) {
        ssize_t n;
        while (got + 1 < sizeof buf && (n = recv(fd, buf + got, sizeof buf - 1 - got, 0)) > 0)
            got += (size_t)n;
    }
    buf[got] = '\0';
    const char *start = strstr(buf, "\r\n\r\n");
    if (strncmp(buf, "HTTP/1.", 7) == 0 && strncmp(buf + 8, " 200 ", 5) == 0 && start)
        body = strdup(start + 4);
    if (fd >= 0)
        close(fd);
    oom_resume();
    return body;
}

static oom_result run_jwks_server(void *p)
{
    keys *k = p;
    ts_error err;
    ts_error_clear(&err);
    ts_testutil_jwks_server *s = ts_testutil_jwks_server_start(k->ec_set, &err);
    OOM_TRY_PTR(s, &err);
    ts_status st = ts_testutil_jwks_server_set_keys(s, k->set, &err);
    bool ok = ts_testutil_jwks_server_port(s) != 0 &&
              strncmp(ts_testutil_jwks_server_url(s), "http://127.0.0.1:", 17) == 0;
    /* The new set once set_keys() worked; the first one still when it was refused. */
    char *served = fetch_keys(s);
    ts_testutil_jwks_server_stop(s);
    bool same = served && strcmp(served, st == TS_OK ? k->set_json : k->ec_set_json) == 0;
    free(served);
    OOM_EXPECT(ok);
    OOM_EXPECT(same);
    OOM_TRY(st, &err);
    return OOM_SUCCEEDED;
}

static const oom_case cases[] = {
    {"key_new", NULL, run_key_new, NULL},
    {"key_load_pem", setup_pem, run_key_load_pem, teardown_pem},
    {"jwks", setup_keys, run_jwks, teardown_keys},
    {"token_build_mint", setup_tokens, run_build_mint, teardown_tokens},
    {"token_flaws", setup_tokens, run_flaws, teardown_tokens},
    {"mint_for", setup_tokens, run_mint_for, teardown_tokens},
    {"sign_raw", setup_tokens, run_sign_raw, teardown_tokens},
    {"policy_dir", NULL, run_policy_dir, NULL},
    {"files", NULL, run_files, NULL},
    {"jwks_server", setup_keys, run_jwks_server, teardown_keys},
};

int main(int argc, char **argv)
{
    return oom_main("oom.testutil", cases, sizeof cases / sizeof cases[0], argc, argv);
}
