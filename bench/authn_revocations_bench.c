/*
 * authn_revocations_bench: what a revocation list costs a verification. The verified-token
 * cache hit (the path a busy service takes for a token it saw before) with no revocation
 * source, with a source holding an empty list, and with one holding 100,000 revoked jtis; the
 * lookup alone; and the refresh of a 100,000-entry list (a full answer applied: signature,
 * parse, table). Prints a Markdown section for docs/benchmarks.md (bench/run_revocations.sh).
 *
 * usage: authn_revocations_bench [--entries N] [--runs N] [--iterations N]
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tokensmith/authn.h>
#include <tokensmith/authn_revocations.h>

#include "clock.h"

#include "jose/jose_internal.h"

static const char *iss[] = {"https://issuer.bench"};
static const char *aud[] = {"svc"};

static char *sign(const ts_jwk *key, const char *typ, const char *payload)
{
    char hdr[256];
    snprintf(hdr, sizeof hdr, "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"%s\"}", ts_jwk_kid(key),
             typ);
    char *out = NULL;
    if (ts_authn__jws_sign_header(key, TS_JWS_ES256, hdr, strlen(hdr), payload, strlen(payload),
                                  &out, NULL, NULL) != TS_OK)
        abort();
    return out;
}

/* A full list of @p n jtis shaped like the service's (UUIDs). */
static char *list_payload(size_t n)
{
    size_t cap = n * 64 + 256, o = 0;
    char *p = malloc(cap);
    if (!p)
        abort();
    o += (size_t)snprintf(p, cap,
                          "{\"iss\":\"%s\",\"iat\":1,\"seq\":%zu,\"full\":true,\"more\":false,"
                          "\"revoked\":[",
                          iss[0], n);
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(p + o, cap - o,
                              "%s{\"jti\":\"%08zx-1b2c-4d3e-8f40-%012zx\",\"exp\":4000000000}",
                              i ? "," : "", i, i * 2654435761u);
    snprintf(p + o, cap - o, "]}");
    return p;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ns per cached verification, one run of @p iters. */
static double verify_run(const ts_authn_verifier *v, const char *tok, long iters)
{
    size_t len = strlen(tok);
    double t0 = bench_now_s();
    for (long i = 0; i < iters; i++) {
        ts_authn_principal *p = NULL;
        if (ts_authn_verify(v, tok, len, &p, NULL, NULL) != TS_AUTHN_OK)
            abort();
        ts_authn_principal_free(p);
    }
    return (bench_now_s() - t0) * 1e9 / (double)iters;
}

/* Medians over @p runs for the three verifiers, their runs interleaved so that a shared
   machine's drift falls on all three alike. */
static void verify_ns(ts_authn_verifier *const v[3], const char *tok, int runs, long iters,
                      double out[3])
{
    double r[3][64];
    for (int k = 0; k < runs; k++)
        for (int j = 0; j < 3; j++)
            r[j][k] = verify_run(v[j], tok, iters);
    for (int j = 0; j < 3; j++) {
        qsort(r[j], (size_t)runs, sizeof r[j][0], cmp);
        out[j] = r[j][runs / 2];
    }
}

static double check_ns(const ts_authn_revocations *rs, int runs, long iters)
{
    double r[64];
    volatile unsigned hits = 0;
    for (int k = 0; k < runs; k++) {
        double t0 = bench_now_s();
        for (long i = 0; i < iters; i++)
            hits += ts_authn_revocations_check(rs, "0b1d2c3e-4f50-4a61-8b72-93a4b5c6d7e8", 36) ==
                    TS_AUTHN_REVOKED;
        r[k] = (bench_now_s() - t0) * 1e9 / (double)iters;
    }
    qsort(r, (size_t)runs, sizeof r[0], cmp);
    return r[runs / 2];
}

static ts_authn_verifier *verifier(const ts_jwks *keys, ts_authn_revocations *rs)
{
    ts_authn_options o = TS_AUTHN_OPTIONS_INIT;
    o.issuers = iss;
    o.n_issuers = 1;
    o.audiences = aud;
    o.n_audiences = 1;
    o.keys = keys;
    o.revocations = rs;
    ts_authn_verifier *v = ts_authn_verifier_new(&o, NULL);
    if (!v)
        abort();
    return v;
}

static ts_authn_revocations *source(const ts_jwks *keys, const ts_jwk *key, size_t n,
                                    double *apply_ms)
{
    ts_authn_revocations_options o = TS_AUTHN_REVOCATIONS_OPTIONS_INIT;
    o.issuer = iss[0];
    o.keys = keys;
    ts_authn_revocations *rs = ts_authn_revocations_new(&o, NULL);
    char *payload = list_payload(n);
    char *jws = sign(key, "revocation-list+jwt", payload);
    free(payload);
    double t0 = bench_now_s();
    ts_error err;
    if (!rs || ts_authn_revocations_apply(rs, jws, strlen(jws), &err) != TS_OK)
        abort();
    *apply_ms = (bench_now_s() - t0) * 1e3;
    ts_free(jws);
    return rs;
}

int main(int argc, char **argv)
{
    size_t entries = 100000;
    int runs = 7;
    long iters = 2000000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--entries") == 0)
            entries = (size_t)strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--runs") == 0)
            runs = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--iterations") == 0)
            iters = atol(argv[i + 1]);
    }
    if (runs < 1 || runs > 64 || iters < 1) {
        fprintf(stderr, "usage: authn_revocations_bench [--entries N] [--runs 1..64] "
                        "[--iterations N]\n");
        return 2;
    }
    ts_jwk *key = ts_jwk_generate(TS_JWS_ES256, NULL);
    ts_jwks *keys = ts_jwks_new(&key, 1, NULL);
    char claims[512];
    snprintf(claims, sizeof claims,
             "{\"iss\":\"%s\",\"sub\":\"alice\",\"aud\":\"svc\",\"exp\":%lld,\"iat\":%lld,"
             "\"jti\":\"7c9e6679-7425-40de-944b-e07fc1f90ae7\"}",
             iss[0], (long long)time(NULL) + 36000, (long long)time(NULL));
    char *tok = sign(key, "at+jwt", claims);
    double empty_ms = 0, full_ms = 0;
    ts_authn_revocations *none = source(keys, key, 0, &empty_ms),
                         *big = source(keys, key, entries, &full_ms);
    ts_authn_verifier *v0 = verifier(keys, NULL), *v1 = verifier(keys, none),
                      *v2 = verifier(keys, big);
    ts_authn_verifier *const vs[3] = {v0, v1, v2};
    double med[3];
    verify_ns(vs, tok, runs, iters, med);
    double base = med[0], with0 = med[1], withn = med[2], look = check_ns(big, runs, iters * 5);
    printf("## Revocation lists (authn)\n\n");
    printf("`bench/run_revocations.sh` (Release, one thread, median of %d runs of %ld "
           "verifications): ts_authn_verify() of an ES256 token that is in the verifier's "
           "verified-token cache, the path a service takes for a token it has seen, with the "
           "revocation check that runs on every verification (the three verifiers' runs "
           "interleaved).\n\n",
           runs, iters);
    printf("| verifier | ns per verification | difference |\n|---|---:|---:|\n");
    printf("| no revocation source | %.1f | |\n", base);
    printf("| revocation source, empty list | %.1f | %+.1f ns |\n", with0, with0 - base);
    printf("| revocation source, %zu revoked jtis | %.1f | %+.1f ns |\n\n", entries, withn,
           withn - base);
    printf("The lookup alone (ts_authn_revocations_check(), a jti not on the list): %.1f ns. "
           "Applying a full list of %zu entries (ES256 signature, parse, table build): %.0f ms; "
           "it runs on the source's thread, and lookups go on meanwhile against the previous "
           "table. Target: no more than +50 ns per verification with 100,000 entries.\n",
           look, entries, full_ms);
    ts_authn_verifier_free(v0);
    ts_authn_verifier_free(v1);
    ts_authn_verifier_free(v2);
    ts_authn_revocations_free(none);
    ts_authn_revocations_free(big);
    ts_free(tok);
    ts_jwks_free(keys);
    ts_jwk_free(key);
    return 0;
}
