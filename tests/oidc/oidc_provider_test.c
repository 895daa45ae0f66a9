/* ts_oidc against a real OpenID provider: node oidc-provider (tests/oidc/provider.mjs) runs two
   providers on loopback; their ID tokens are validated and mapped claim by claim, and the
   refusals (audience, expiry, issuer, signature, scope, key rotation, provider down) checked.
   Users of the two providers with the same upstream `sub` get different internal subjects.
   A third, scripted issuer ("raw") sends the answers no real provider would: duplicate JSON
   members in discovery, JWKS and introspection answers, control characters in claims.
   Usage: oidc_provider_test <node> <provider.mjs>. Skips (77) without node_modules/oidc-provider.
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include <tokensmith/oidc.h>

#include "harness.h"

static char issuer_a[128], issuer_b[128], issuer_raw[128], control[128];
static int64_t clock_offset;

static int64_t test_now(void *ud)
{
    (void)ud;
    return (int64_t)time(NULL) + clock_offset;
}

/* Call the provider script's control listener. Ownership: free the result. */
static char *ctl(const char *path, const char *post)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", control, path);
    static ts_harness_reply r;
    ts_harness_http(&(ts_harness_req){.url = url, .body = post, .timeout_s = 10}, &r);
    if (r.status != 200 || r.n == TS_HARNESS_BODY_MAX - 1) {
        fprintf(stderr, "control %s failed: %s %ld %s\n", path, r.error, r.status, r.body);
        return NULL;
    }
    return strdup(r.body);
}

static ts_oidc *make_rp(const char *extra_a, bool with_b)
{
    char cfg[4096];
    snprintf(cfg, sizeof cfg,
             "{\"providers\":[{\"issuer\":\"%s\",\"client_id\":\"tokensmith-test\",\"name\":\"a\","
             "\"algorithms\":[\"RS256\"],\"group_scopes\":{\"admins\":[\"admin\",\"read\"],"
             "\"viewers\":[\"read\"]},\"audiences\":[\"smd\",\"bss\"]%s}%s%s%s]}",
             issuer_a, extra_a, with_b ? ",{\"issuer\":\"" : "", with_b ? issuer_b : "",
             with_b ? "\",\"client_id\":\"other-client\",\"name\":\"b\",\"group_scopes\":{"
                      "\"admins\":[\"ops\"]}}"
                    : "");
    ts_error e;
    ts_error_clear(&e);
    ts_oidc_config *c = ts_oidc_config_parse(cfg, strlen(cfg), &e);
    if (!c) {
        fprintf(stderr, "config: %s: %s\n", e.where, e.msg);
        return NULL;
    }
    ts_oidc_options o = TS_OIDC_OPTIONS_INIT;
    o.now = test_now;
    ts_oidc *rp = ts_oidc_new(c, &o, &e);
    ts_oidc_config_free(c);
    return rp;
}

static ts_oidc_reason exchange(ts_oidc *rp, const char *tok, const char *nonce, const char *scope,
                               ts_oidc_claims **out, ts_error *e)
{
    ts_oidc_exchange_request rq = {.subject_token = tok,
                                   .subject_token_len = tok ? strlen(tok) : 0,
                                   .subject_token_type = TS_OIDC_TOKEN_TYPE_ID_TOKEN,
                                   .nonce = nonce};
    rq.narrow.scope = scope;
    ts_error_clear(e);
    *out = NULL;
    return ts_oidc_exchange(rp, &rq, out, e);
}

#define EXPECT_INTROSPECT(rp, answer, want)                                                        \
    do {                                                                                           \
        ts_oidc_claims *o_;                                                                        \
        ts_error e_;                                                                               \
        ts_oidc_reason r_ = introspect(rp, answer, &o_, &e_);                                      \
        CHECK(r_ == (want), "introspection: want %s got %s (%s: %s)", ts_oidc_reason_str(want),    \
              ts_oidc_reason_str(r_), e_.where, e_.msg);                                           \
        ts_oidc_claims_free(o_);                                                                   \
    } while (0)

#define EXPECT(rp, tok, nonce, scope, want)                                                        \
    do {                                                                                           \
        ts_oidc_claims *o_;                                                                        \
        ts_error e_;                                                                               \
        ts_oidc_reason r_ = exchange(rp, tok, nonce, scope, &o_, &e_);                             \
        CHECK(r_ == (want), "want %s got %s (%s: %s)", ts_oidc_reason_str(want),                   \
              ts_oidc_reason_str(r_), e_.where, e_.msg);                                           \
        ts_oidc_claims_free(o_);                                                                   \
    } while (0)

static void run(void)
{
    ts_oidc *rp = make_rp(",\"jwks_refetch_cooldown_s\":1", true);
    CHECK(rp != NULL, "relying party");
    if (!rp)
        return;
    ts_error e;
    ts_error_clear(&e);
    CHECK(ts_oidc_discover(rp, NULL, &e) == TS_OK, "discovery: %s: %s", e.where, e.msg);

    /* A good ID token, mapped claim by claim. */
    char *tok = ctl("/mint?p=a&sub=alice&nonce=n-123&groups=viewers,admins&name=Alice"
                    "&email=alice@example.com&amr=pwd,otp&acr=urn:mfa",
                    NULL);
    ts_oidc_claims *o = NULL;
    ts_oidc_reason r = exchange(rp, tok, "n-123", NULL, &o, &e);
    CHECK(r == TS_OIDC_OK, "good token: %s (%s: %s)", ts_oidc_reason_str(r), e.where, e.msg);
    if (o) {
        CHECK(strcmp(o->sub, "a:alice") == 0, "internal subject %s", o->sub);
        CHECK(strcmp(o->upstream_sub, "alice") == 0, "upstream sub");
        CHECK(strcmp(o->issuer, issuer_a) == 0, "issuer");
        CHECK(strcmp(o->client_id, "tokensmith-test") == 0, "client id");
        CHECK(o->name && strcmp(o->name, "Alice") == 0, "name");
        CHECK(o->email && strcmp(o->email, "alice@example.com") == 0, "email");
        CHECK(o->email_verified == 1, "email_verified");
        CHECK(o->n_groups == 2, "groups");
        CHECK(o->n_scopes == 2 && strcmp(o->scopes[0], "read") == 0 &&
                  strcmp(o->scopes[1], "admin") == 0,
              "scopes");
        CHECK(o->n_audiences == 2 && strcmp(o->audiences[0], "smd") == 0, "audiences");
        CHECK(o->n_amr == 2 && strcmp(o->amr[0], "pwd") == 0 && strcmp(o->amr[1], "otp") == 0,
              "amr");
        CHECK(o->acr && strcmp(o->acr, "urn:mfa") == 0, "acr");
        CHECK(o->auth_time > 0 && o->auth_time <= (int64_t)time(NULL), "auth_time");
        CHECK(o->exp > (int64_t)time(NULL) && o->exp <= (int64_t)time(NULL) + 300, "exp");
    }
    ts_oidc_claims_free(o);
    /* Narrowing works; widening does not. */
    r = exchange(rp, tok, NULL, "read", &o, &e);
    CHECK(r == TS_OIDC_OK && o && o->n_scopes == 1, "narrowed scope");
    ts_oidc_claims_free(o);
    EXPECT(rp, tok, NULL, "read superuser", TS_OIDC_SCOPE_NOT_GRANTED);
    EXPECT(rp, tok, "other-nonce", NULL, TS_OIDC_WRONG_NONCE);

    /* Expired: the same token an hour later. */
    clock_offset = 3600;
    EXPECT(rp, tok, NULL, NULL, TS_OIDC_EXPIRED);
    clock_offset = -3600;
    EXPECT(rp, tok, NULL, NULL, TS_OIDC_NOT_YET_VALID);
    clock_offset = 0;

    /* Tampered signature: one signature character changed. */
    size_t tl = strlen(tok);
    char *bad = strdup(tok);
    bad[tl - 10] = bad[tl - 10] == 'A' ? 'B' : 'A';
    EXPECT(rp, bad, NULL, NULL, TS_OIDC_BAD_SIGNATURE);
    /* Tampered payload. */
    char *dot = strchr(bad, '.');
    memcpy(bad, tok, tl);
    dot[3] = dot[3] == 'A' ? 'B' : 'A';
    {
        ts_oidc_claims *o2;
        ts_oidc_reason r2 = exchange(rp, bad, NULL, NULL, &o2, &e);
        CHECK(r2 != TS_OIDC_OK, "tampered payload accepted");
        ts_oidc_claims_free(o2);
    }
    free(bad);
    free(tok);

    /* Wrong audience: an ID token the provider issued to another client. */
    tok = ctl("/mint?p=a&client=other-client&sub=alice", NULL);
    EXPECT(rp, tok, NULL, NULL, TS_OIDC_WRONG_AUDIENCE);
    free(tok);

    /* Several audiences need azp = our client id. */
    char claims[1024];
    long now = (long)time(NULL);
    snprintf(claims, sizeof claims,
             "{\"iss\":\"%s\",\"sub\":\"alice\",\"aud\":[\"tokensmith-test\",\"other-client\"],"
             "\"azp\":\"other-client\",\"iat\":%ld,\"exp\":%ld}",
             issuer_a, now, now + 300);
    tok = ctl("/sign?p=a", claims);
    EXPECT(rp, tok, NULL, NULL, TS_OIDC_WRONG_AZP);
    free(tok);
    snprintf(claims, sizeof claims,
             "{\"iss\":\"%s\",\"sub\":\"alice\",\"aud\":[\"tokensmith-test\",\"other-client\"],"
             "\"azp\":\"tokensmith-test\",\"iat\":%ld,\"exp\":%ld}",
             issuer_a, now, now + 300);
    tok = ctl("/sign?p=a", claims);
    EXPECT(rp, tok, NULL, NULL, TS_OIDC_OK);
    free(tok);
    /* iat far in the future, and no iat at all. */
    snprintf(claims, sizeof claims,
             "{\"iss\":\"%s\",\"sub\":\"alice\",\"aud\":\"tokensmith-test\",\"iat\":%ld,"
             "\"exp\":%ld}",
             issuer_a, now + 1000, now + 1300);
    tok = ctl("/sign?p=a", claims);
    EXPECT(rp, tok, NULL, NULL, TS_OIDC_NOT_YET_VALID);
    free(tok);
    snprintf(claims, sizeof claims,
             "{\"iss\":\"%s\",\"sub\":\"alice\",\"aud\":\"tokensmith-test\",\"exp\":%ld}", issuer_a,
             now + 300);
    tok = ctl("/sign?p=a", claims);
    EXPECT(rp, tok, NULL, NULL, TS_OIDC_MISSING_CLAIM);
    free(tok);

    /* A control character in a claim carried into the internal token: refused, a client error. */
    snprintf(claims, sizeof claims,
             "{\"iss\":\"%s\",\"sub\":\"alice\\nadmin\",\"aud\":\"tokensmith-test\",\"iat\":%ld,"
             "\"exp\":%ld}",
             issuer_a, now, now + 300);
    tok = ctl("/sign?p=a", claims);
    EXPECT(rp, tok, NULL, NULL, TS_OIDC_INVALID_CLAIM);
    free(tok);
    tok = ctl("/mint?p=a&sub=alice&name=Alice%0D%0AAdmin", NULL);
    EXPECT(rp, tok, NULL, NULL, TS_OIDC_INVALID_CLAIM);
    free(tok);
    /* email_verified as a string is refused, not dropped. */
    snprintf(claims, sizeof claims,
             "{\"iss\":\"%s\",\"sub\":\"alice\",\"aud\":\"tokensmith-test\",\"iat\":%ld,"
             "\"exp\":%ld,\"email\":\"a@example.com\",\"email_verified\":\"true\"}",
             issuer_a, now, now + 300);
    tok = ctl("/sign?p=a", claims);
    EXPECT(rp, tok, NULL, NULL, TS_OIDC_INVALID_CLAIM);
    free(tok);

    /* Several issuers: provider b's token maps through b's own table and client id, and b's
       "alice" is not a's "alice". */
    tok = ctl("/mint?p=b&client=other-client&sub=alice&groups=admins", NULL);
    r = exchange(rp, tok, NULL, NULL, &o, &e);
    CHECK(r == TS_OIDC_OK, "provider b: %s (%s)", ts_oidc_reason_str(r), e.msg);
    if (o)
        CHECK(o->n_scopes == 1 && strcmp(o->scopes[0], "ops") == 0 &&
                  strcmp(o->issuer, issuer_b) == 0 && strcmp(o->sub, "b:alice") == 0 &&
                  strcmp(o->upstream_sub, "alice") == 0,
              "provider b mapping (subject %s)", o->sub);
    ts_oidc_claims_free(o);
    /* Wrong issuer: a relying party that only knows provider a. */
    ts_oidc *only_a = make_rp("", false);
    EXPECT(only_a, tok, NULL, NULL, TS_OIDC_WRONG_ISSUER);
    ts_oidc_free(only_a);
    free(tok);
    /* b's key claiming to be a: the kid is not in a's JWKS. */
    snprintf(claims, sizeof claims,
             "{\"iss\":\"%s\",\"sub\":\"mallory\",\"aud\":\"tokensmith-test\",\"iat\":%ld,"
             "\"exp\":%ld}",
             issuer_a, now, now + 300);
    tok = ctl("/sign?p=b", claims);
    EXPECT(rp, tok, NULL, NULL, TS_OIDC_UNKNOWN_KID);
    free(tok);

    /* Key rotation: the new kid is unknown, one refetch finds it. */
    sleep(2); /* past the refetch cooldown used by the unknown-kid probe above */
    unsigned long before = ts_oidc_jwks_fetch_count(rp, issuer_a);
    free(ctl("/rotate?p=a", NULL));
    tok = ctl("/mint?p=a&sub=alice&groups=viewers", NULL);
    EXPECT(rp, tok, NULL, NULL, TS_OIDC_OK);
    CHECK(ts_oidc_jwks_fetch_count(rp, issuer_a) == before + 1, "one refetch after rotation");
    char *rotated = tok;

    /* Provider down: cached discovery and keys keep working... */
    free(ctl("/down?p=a", NULL));
    unsigned long disc = ts_oidc_discovery_count(rp, issuer_a);
    EXPECT(rp, rotated, NULL, NULL, TS_OIDC_OK);
    CHECK(ts_oidc_discovery_count(rp, issuer_a) == disc, "no rediscovery within the TTL");
    /* ...a relying party without a cache gets a clear error... */
    ts_oidc *fresh = make_rp("", false);
    {
        ts_oidc_claims *o3;
        ts_error e3;
        r = exchange(fresh, rotated, NULL, NULL, &o3, &e3);
        CHECK(r == TS_OIDC_DISCOVERY_FAILED, "fresh rp while down: %s", ts_oidc_reason_str(r));
        CHECK(strstr(e3.msg, "request failed") && strstr(e3.where, issuer_a), "clear error: %s %s",
              e3.where, e3.msg);
        int st = 0;
        CHECK(strcmp(ts_oidc_reason_oauth_error(r, &st), "server_error") == 0 && st == 503,
              "down maps to server_error");
        ts_oidc_claims_free(o3);
    }
    ts_oidc_free(fresh);
    ts_oidc_free(rp);

    free(rotated);
}

/* Set a document of the scripted issuer (provider.mjs, "raw"). */
static void raw_set(const char *doc, const char *text)
{
    char path[64];
    snprintf(path, sizeof path, "/raw?doc=%s", doc);
    free(ctl(path, text));
}

static ts_oidc *raw_rp(void)
{
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"providers\":[{\"issuer\":\"%s\",\"client_id\":\"tokensmith-test\","
             "\"client_secret\":\"s3cret\",\"introspection\":true,"
             "\"group_scopes\":{\"admins\":[\"admin\"]},\"audiences\":[\"smd\"]}]}",
             issuer_raw);
    ts_error e;
    ts_error_clear(&e);
    ts_oidc_config *c = ts_oidc_config_parse(cfg, strlen(cfg), &e);
    ts_oidc *rp = c ? ts_oidc_new(c, NULL, &e) : NULL;
    ts_oidc_config_free(c);
    CHECK(rp != NULL, "raw rp: %s: %s", e.where, e.msg);
    return rp;
}

/* Introspect "opaque-token" at the scripted issuer, which answers @p answer. */
static ts_oidc_reason introspect(ts_oidc *rp, const char *answer, ts_oidc_claims **out, ts_error *e)
{
    raw_set("introspect", answer);
    ts_oidc_exchange_request rq = {.subject_token = "opaque-token",
                                   .subject_token_len = 12,
                                   .subject_token_type = TS_OIDC_TOKEN_TYPE_ACCESS_TOKEN};
    ts_error_clear(e);
    *out = NULL;
    return ts_oidc_exchange(rp, &rq, out, e);
}

/* Every JSON document read from the network refuses duplicate members: with "last one wins",
   {"active":false,...,"active":true} would be an active token to us and an inactive one to a
   parser that keeps the first. */
static void run_raw(void)
{
    ts_oidc *rp = raw_rp();
    if (!rp)
        return;
    long exp = (long)time(NULL) + 300;
    char a[512];
    ts_oidc_claims *o;
    ts_error e;
    /* The well-formed answer is accepted, so the refusals below are about the duplicates. */
    snprintf(a, sizeof a,
             "{\"active\":true,\"sub\":\"alice\",\"client_id\":\"tokensmith-test\","
             "\"exp\":%ld,\"groups\":[\"admins\"]}",
             exp);
    ts_oidc_reason r = introspect(rp, a, &o, &e);
    CHECK(r == TS_OIDC_OK && o && strcmp(o->sub, "alice") == 0 && o->n_scopes == 1,
          "introspection: %s (%s: %s)", ts_oidc_reason_str(r), e.where, e.msg);
    ts_oidc_claims_free(o);
    char *last = ctl("/raw?doc=last", NULL);
    CHECK(last && strstr(last, "Basic ") && strstr(last, "token=opaque-token"),
          "introspection request: %s", last ? last : "(none)");
    free(last);
    /* {head "exp": <future>, tail}: each repeats a member with another value. */
    static const char *const dups[][2] = {
        {"\"active\":false,\"sub\":\"alice\",\"client_id\":\"tokensmith-test\",",
         "\"active\":true"},
        {"\"active\":true,\"sub\":\"alice\",\"client_id\":\"tokensmith-test\",",
         "\"sub\":\"admin\""},
        {"\"active\":true,\"sub\":\"alice\",\"client_id\":\"other-client\",",
         "\"client_id\":\"tokensmith-test\""},
        {"\"active\":true,\"sub\":\"alice\",\"client_id\":\"tokensmith-test\",",
         "\"ext\":{\"level\":1,\"level\":2}"},
    };
    for (size_t i = 0; i < sizeof dups / sizeof dups[0]; i++) {
        snprintf(a, sizeof a, "{%s\"exp\":%ld,%s}", dups[i][0], exp, dups[i][1]);
        r = introspect(rp, a, &o, &e);
        CHECK(r == TS_OIDC_INTROSPECTION_FAILED && strstr(e.msg, "repeats a member"),
              "duplicate members in introspection answer %zu: %s (%s)", i, ts_oidc_reason_str(r),
              e.msg);
        ts_oidc_claims_free(o);
    }
    /* Introspected claims are read as strictly as ID token claims. */
    snprintf(a, sizeof a,
             "{\"active\":true,\"sub\":\"alice\\u0000\\nadmin\",\"client_id\":\"tokensmith-test\","
             "\"exp\":%ld}",
             exp);
    r = introspect(rp, a, &o, &e);
    CHECK(r != TS_OIDC_OK, "NUL and newline in an introspected sub accepted");
    ts_oidc_claims_free(o);
    snprintf(a, sizeof a,
             "{\"active\":true,\"sub\":\"alice\\nadmin\",\"client_id\":\"tokensmith-test\","
             "\"exp\":%ld}",
             exp);
    EXPECT_INTROSPECT(rp, a, TS_OIDC_INVALID_CLAIM);
    snprintf(a, sizeof a,
             "{\"active\":true,\"sub\":\"alice\",\"client_id\":\"tokensmith-test\","
             "\"exp\":%ld,\"email_verified\":\"false\"}",
             exp);
    EXPECT_INTROSPECT(rp, a, TS_OIDC_INVALID_CLAIM);
    ts_oidc_free(rp);

    /* Discovery: a duplicate "issuer" (the first one ours, the last one not). */
    raw_set("discovery", "{\"issuer\":\"{ISSUER}\",\"jwks_uri\":\"{ISSUER}/jwks\","
                         "\"introspection_endpoint\":\"{ISSUER}/introspect\","
                         "\"issuer\":\"https://elsewhere.example\"}");
    rp = raw_rp();
    ts_error_clear(&e);
    ts_status st = rp ? ts_oidc_discover(rp, NULL, &e) : TS_EINTERNAL;
    CHECK(st != TS_OK && strstr(e.msg, "duplicate"), "duplicate discovery issuer: %s", e.msg);
    ts_oidc_free(rp);
    raw_set("discovery", "{\"issuer\":\"{ISSUER}\",\"jwks_uri\":\"{ISSUER}/jwks\","
                         "\"introspection_endpoint\":\"{ISSUER}/introspect\"}");
    rp = raw_rp();
    ts_error_clear(&e);
    st = rp ? ts_oidc_discover(rp, NULL, &e) : TS_EINTERNAL;
    CHECK(st == TS_OK, "discovery and JWKS of the scripted issuer: %s: %s", e.where, e.msg);
    ts_oidc_free(rp);
    /* JWKS (parsed by authn): a duplicate "keys". */
    raw_set("jwks", "{\"keys\":[],\"keys\":[]}");
    rp = raw_rp();
    ts_error_clear(&e);
    st = rp ? ts_oidc_discover(rp, NULL, &e) : TS_EINTERNAL;
    CHECK(st != TS_OK && strstr(e.msg, "duplicate"), "duplicate JWKS member: %s", e.msg);
    ts_oidc_free(rp);
}

/* A short max age, against provider b while it is still up, then down. */
static void run_max_age(void)
{
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"providers\":[{\"issuer\":\"%s\",\"client_id\":\"other-client\","
             "\"jwks_ttl_s\":1,\"jwks_max_stale_s\":3,\"jwks_refetch_cooldown_s\":1}]}",
             issuer_b);
    ts_error e;
    ts_error_clear(&e);
    ts_oidc_config *c = ts_oidc_config_parse(cfg, strlen(cfg), &e);
    ts_oidc *rp = c ? ts_oidc_new(c, NULL, &e) : NULL;
    ts_oidc_config_free(c);
    CHECK(rp != NULL, "max-age rp: %s", e.msg);
    if (!rp)
        return;
    char *tok = ctl("/mint?p=b&client=other-client&sub=bob", NULL);
    EXPECT(rp, tok, NULL, NULL, TS_OIDC_OK);
    free(ctl("/down?p=b", NULL));
    sleep(2); /* keys stale (ttl 1 s) but within the 3 s maximum age: refetch fails, keys kept */
    EXPECT(rp, tok, NULL, NULL, TS_OIDC_OK);
    sleep(3); /* past the maximum age: no keys, no discovery document */
    {
        ts_oidc_claims *o;
        ts_error e2;
        ts_oidc_reason r = exchange(rp, tok, NULL, NULL, &o, &e2);
        CHECK(r == TS_OIDC_DISCOVERY_FAILED || r == TS_OIDC_KEYS_UNAVAILABLE,
              "past max age: %s (%s)", ts_oidc_reason_str(r), e2.msg);
        ts_oidc_claims_free(o);
    }
    free(tok);
    ts_oidc_free(rp);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s <node> <provider.mjs>\n", argv[0]);
        return 2;
    }
    int fds[2];
    if (pipe(fds) != 0)
        return 1;
    int in[2];
    if (pipe(in) != 0)
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(in[0], 0);
        close(fds[0]);
        close(in[1]);
        execlp(argv[1], argv[1], argv[2], (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    close(in[0]);
    FILE *f = fdopen(fds[0], "r");
    char line[1024];
    if (!fgets(line, sizeof line, f)) {
        int st = 0;
        waitpid(pid, &st, 0);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
            fprintf(stderr, "SKIP: oidc-provider is not installed (npm ci)\n");
            return 77;
        }
        fprintf(stderr, "provider script failed to start\n");
        return 1;
    }
    json_t *j = json_loads(line, 0, NULL);
    snprintf(issuer_a, sizeof issuer_a, "%s", json_string_value(json_object_get(j, "a")));
    snprintf(issuer_b, sizeof issuer_b, "%s", json_string_value(json_object_get(j, "b")));
    snprintf(issuer_raw, sizeof issuer_raw, "%s", json_string_value(json_object_get(j, "raw")));
    snprintf(control, sizeof control, "%s", json_string_value(json_object_get(j, "control")));
    json_decref(j);
    run();
    run_raw();
    /* ...and cached keys are used only within their maximum age (takes provider b down). */
    run_max_age();
    free(ctl("/exit", NULL));
    close(in[1]);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    fclose(f);
    return ts_harness_summary();
}
