/*
 * authn_bench: per-core verification cost of the tokensmith authn verifier (RS256, PS256, ES256)
 * beside the raw OpenSSL verify of the same signature with a cached key, the verified-token
 * cache hit, libjwt 1.10.2's jwt_decode when available, and the throughput of a protected and
 * an unprotected route of a libmicrohttpd server on loopback. One JSON object per line.
 *
 * usage: authn_bench [--min-time SECONDS] [--runs N] [--http-seconds S] [--out DIR]
 *   --out DIR writes the benchmark's tokens and JWKS there, for node jose to verify the same
 *   tokens (bench/node_jose_bench.mjs).
 */
#define _POSIX_C_SOURCE 200809L

#include <curl/curl.h>
#include <microhttpd.h>
#include <openssl/ecdsa.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tokensmith/authn.h>

#include "clock.h"

#include "jose/jose_internal.h"
#include "stats.h"

#ifdef TS_HAVE_LIBJWT
#include <jwt.h>
#include <openssl/pem.h>
#endif

static double min_time = 0.5;
static int runs = 5;
static double http_seconds = 2.0;

typedef int (*op_fn)(void *ud);

/* Median over runs of the mean ns per call; each run lasts at least min_time. */
static double measure(op_fn fn, void *ud)
{
    for (int i = 0; i < 200; i++)
        if (fn(ud) != 0) {
            fprintf(stderr, "authn_bench: operation failed\n");
            exit(1);
        }
    double res[64];
    int n = runs > 64 ? 64 : runs;
    for (int r = 0; r < n; r++) {
        long iters = 0, batch = 64;
        double t0 = bench_now_s(), t;
        do {
            for (long i = 0; i < batch; i++)
                fn(ud);
            iters += batch;
            t = bench_now_s();
        } while (t - t0 < min_time);
        res[r] = (t - t0) * 1e9 / (double)iters;
    }
    bench_sort(res, (size_t)n);
    return res[n / 2];
}

static void emit(const char *name, const char *alg, double ns)
{
    printf("{\"name\":\"%s\",\"alg\":\"%s\",\"ns_per_op\":%.1f,\"ops_per_s\":%.0f}\n", name, alg,
           ns, 1e9 / ns);
    fflush(stdout);
}

/* ---- raw OpenSSL: what a hand-written verifier with a cached EVP_PKEY costs ---------------- */

typedef struct raw_ctx {
    EVP_PKEY *pkey;
    const EVP_MD *md;
    bool pss;
    const unsigned char *input;
    size_t input_len;
    unsigned char sig[1024];
    size_t sig_len;
} raw_ctx;

static int raw_verify(void *ud)
{
    raw_ctx *c = ud;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok = EVP_DigestVerifyInit(ctx, &pctx, c->md, NULL, c->pkey) > 0;
    if (ok && c->pss)
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0;
    ok = ok && EVP_DigestVerify(ctx, c->sig, c->sig_len, c->input, c->input_len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -1;
}

static void raw_setup(raw_ctx *c, const ts_jwk *k, ts_jws_alg alg, const char *tok)
{
    const char *d2 = strrchr(tok, '.');
    c->pkey = k->pkey;
    c->md = ts_authn__alg_md(alg);
    c->pss = alg >= TS_JWS_PS256 && alg <= TS_JWS_PS512;
    c->input = (const unsigned char *)tok;
    c->input_len = (size_t)(d2 - tok);
    size_t n = 0;
    unsigned char raw[1024];
    if (!ts_authn__b64url_decode_buf(d2 + 1, strlen(d2 + 1), raw, sizeof raw, &n))
        exit(1);
    if (k->kty == TS_JWK_EC) {
        /* The R||S to DER conversion is done once, as in the reference measurement. */
        ECDSA_SIG *es = ECDSA_SIG_new();
        ECDSA_SIG_set0(es, BN_bin2bn(raw, (int)n / 2, NULL),
                       BN_bin2bn(raw + n / 2, (int)n / 2, NULL));
        unsigned char *p = c->sig;
        c->sig_len = (size_t)i2d_ECDSA_SIG(es, &p);
        ECDSA_SIG_free(es);
    } else {
        memcpy(c->sig, raw, n);
        c->sig_len = n;
    }
}

/* ---- authn ---------------------------------------------------------------------------------- */

typedef struct verify_ctx {
    const ts_authn_verifier *v;
    const char *tok;
    size_t len;
} verify_ctx;

static int authn_verify(void *ud)
{
    verify_ctx *c = ud;
    ts_authn_principal *p = NULL;
    ts_authn_reason r = ts_authn_verify(c->v, c->tok, c->len, &p, NULL, NULL);
    ts_authn_principal_free(p);
    return r == TS_AUTHN_OK ? 0 : -1;
}

static const char *issuers[] = {"https://issuer.bench"}, *audiences[] = {"svc-bench"};

static ts_authn_verifier *make_verifier(const ts_jwks *keys, bool cache)
{
    ts_authn_options o = TS_AUTHN_OPTIONS_INIT;
    o.issuers = issuers;
    o.n_issuers = 1;
    o.audiences = audiences;
    o.n_audiences = 1;
    o.keys = keys;
    o.disable_cache = !cache;
    ts_error err;
    ts_error_clear(&err);
    ts_authn_verifier *v = ts_authn_verifier_new(&o, &err);
    if (!v) {
        fprintf(stderr, "authn_bench: %s\n", err.msg);
        exit(1);
    }
    return v;
}

#ifdef TS_HAVE_LIBJWT
typedef struct jwt_ctx {
    const char *tok;
    char pem[4096];
} jwt_ctx;

static int libjwt_decode(void *ud)
{
    jwt_ctx *c = ud;
    jwt_t *j = NULL;
    int rc = jwt_decode(&j, c->tok, (const unsigned char *)c->pem, (int)strlen(c->pem));
    jwt_free(j);
    return rc;
}
#endif

/* ---- libmicrohttpd routes ------------------------------------------------------------------ */

static ts_authn_mhd *hook;

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    (void)cls, (void)version, (void)upload, (void)upload_size, (void)con_cls;
    ts_authn_principal *p = NULL;
    if (strncmp(url, "/open", 5) != 0) {
        ts_hook_result r = ts_authn_mhd_check(hook, c, method, url, &p);
        if (r == TS_HOOK_RESPONDED)
            return MHD_YES;
        if (r == TS_HOOK_ERROR)
            return MHD_NO;
    }
    static const char body[] = "{\"ok\":true}";
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        sizeof body - 1, (void *)(uintptr_t)body, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret =
        MHD_queue_response(c, p || strncmp(url, "/open", 5) == 0 ? 200 : 500, resp);
    MHD_destroy_response(resp);
    ts_authn_principal_free(p);
    return ret;
}

typedef struct client {
    char url[128];
    const char *auth;
    double seconds;
    long done, bad;
} client;

static size_t sink(char *d, size_t s, size_t n, void *ud)
{
    (void)d, (void)ud;
    return s * n;
}

static void *client_run(void *ud)
{
    client *c = ud;
    CURL *h = curl_easy_init();
    struct curl_slist *hd = c->auth ? curl_slist_append(NULL, c->auth) : NULL;
    curl_easy_setopt(h, CURLOPT_URL, c->url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    double t0 = bench_now_s();
    while (bench_now_s() - t0 < c->seconds) {
        long code = 0;
        if (curl_easy_perform(h) != CURLE_OK)
            c->bad++;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        if (code != 200)
            c->bad++;
        c->done++;
    }
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    return NULL;
}

static void http_bench(const ts_jwks *keys, const char *tok)
{
    ts_authn_verifier *nocache = make_verifier(keys, false);
    ts_authn_mhd_options mo = TS_AUTHN_MHD_OPTIONS_INIT;
    mo.verifier = nocache;
    hook = ts_authn_mhd_new(&mo, NULL);
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD, 0, NULL, NULL, handler,
                                            NULL, MHD_OPTION_THREAD_POOL_SIZE, 2u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "authn_bench: cannot start libmicrohttpd\n");
        exit(1);
    }
    unsigned port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
    char auth[20000];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
    const char *routes[] = {"/open", "/protected"};
    for (int r = 0; r < 2; r++) {
        client cl[2];
        pthread_t th[2];
        for (int i = 0; i < 2; i++) {
            memset(&cl[i], 0, sizeof cl[i]);
            snprintf(cl[i].url, sizeof cl[i].url, "http://127.0.0.1:%u%s", port, routes[r]);
            cl[i].auth = r ? auth : NULL;
            cl[i].seconds = http_seconds;
            pthread_create(&th[i], NULL, client_run, &cl[i]);
        }
        long done = 0, bad = 0;
        for (int i = 0; i < 2; i++) {
            pthread_join(th[i], NULL);
            done += cl[i].done;
            bad += cl[i].bad;
        }
        printf("{\"name\":\"http_%s\",\"alg\":\"%s\",\"requests\":%ld,\"errors\":%ld,"
               "\"req_per_s\":%.0f}\n",
               r ? "protected" : "unprotected", r ? "ES256" : "", done, bad,
               (double)done / http_seconds);
        fflush(stdout);
    }
    MHD_stop_daemon(d);
    ts_authn_mhd_free(hook);
    ts_authn_verifier_free(nocache);
}

/* ---- main ---------------------------------------------------------------------------------- */

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "authn_bench: cannot write %s\n", path);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--min-time") == 0 && i + 1 < argc)
            min_time = atof(argv[++i]);
        else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--http-seconds") == 0 && i + 1 < argc)
            http_seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out = argv[++i];
        else {
            fprintf(stderr, "usage: authn_bench [--min-time S] [--runs N] [--http-seconds S] "
                            "[--out DIR]\n");
            return 2;
        }
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const ts_jws_alg algs[] = {TS_JWS_RS256, TS_JWS_PS256, TS_JWS_ES256};
    ts_jwk *keys[3];
    char *toks[3];
    long long now = (long long)time(NULL);
    for (int i = 0; i < 3; i++) {
        keys[i] = ts_jwk_generate(algs[i], NULL);
        /* A TokenSmith-shaped access token (about 600 bytes). */
        char claims[2048];
        snprintf(
            claims, sizeof claims,
            "{\"iss\":\"https://issuer.bench\",\"sub\":\"svc-inventory\",\"aud\":[\"svc-bench\"],"
            "\"exp\":%lld,\"nbf\":%lld,\"iat\":%lld,\"jti\":\"6f1c2a3e-5b7d-4c8e-9f00-"
            "112233445566\","
            "\"scope\":\"inventory:read inventory:write\",\"roles\":[\"operator\"],"
            "\"auth_level\":\"IAL2\",\"auth_factors\":2,\"auth_methods\":[\"bootstrap_exchange\"],"
            "\"session_id\":\"bootstrap-exchange-svc-inventory-1\",\"session_exp\":%lld,"
            "\"auth_events\":[\"bootstrap_token_exchange\"],\"client_id\":\"svc-inventory\"}",
            now + 86000, now - 5, now - 5, now + 3600);
        if (ts_jws_sign(keys[i], algs[i], "at+jwt", claims, strlen(claims), &toks[i], NULL, NULL) !=
            TS_OK)
            return 1;
    }
    ts_jwks *set = ts_jwks_new(keys, 3, NULL);
    if (out) {
        char *j = ts_jwks_to_json(set, NULL);
        write_file(out, "jwks.json", j);
        ts_free(j);
        for (int i = 0; i < 3; i++) {
            char name[32];
            snprintf(name, sizeof name, "%s.jwt", ts_jws_alg_name(algs[i]));
            write_file(out, name, toks[i]);
        }
    }
    ts_authn_verifier *nocache = make_verifier(set, false), *cached = make_verifier(set, true);
    for (int i = 0; i < 3; i++) {
        const char *alg = ts_jws_alg_name(algs[i]);
        raw_ctx rc;
        raw_setup(&rc, keys[i], algs[i], toks[i]);
        emit("openssl_raw_verify", alg, measure(raw_verify, &rc));
        verify_ctx vc = {nocache, toks[i], strlen(toks[i])};
        emit("authn_verify", alg, measure(authn_verify, &vc));
        verify_ctx cc = {cached, toks[i], strlen(toks[i])};
        emit("authn_cache_hit", alg, measure(authn_verify, &cc));
#ifdef TS_HAVE_LIBJWT
        if (algs[i] != TS_JWS_PS256) {
            jwt_ctx jc;
            jc.tok = toks[i];
            BIO *b = BIO_new(BIO_s_mem());
            PEM_write_bio_PUBKEY(b, keys[i]->pkey);
            int n = BIO_read(b, jc.pem, (int)sizeof jc.pem - 1);
            jc.pem[n > 0 ? n : 0] = 0;
            BIO_free(b);
            /* libjwt 1.10.2 refuses typ at+jwt: give it a JWT-typed copy of the token. */
            const char *d1 = strchr(toks[i], '.');
            char *jt = NULL;
            const char *payload_b64 = d1 + 1;
            const char *d2 = strrchr(toks[i], '.');
            uint8_t pl[4096];
            size_t pn = 0;
            if (!ts_authn__b64url_decode_buf(payload_b64, (size_t)(d2 - payload_b64), pl, sizeof pl,
                                             &pn) ||
                ts_jws_sign(keys[i], algs[i], "JWT", (const char *)pl, pn, &jt, NULL, NULL) !=
                    TS_OK)
                return 1;
            jc.tok = jt;
            emit("libjwt_decode", alg, measure(libjwt_decode, &jc));
            ts_free(jt);
        }
#endif
    }
    if (http_seconds > 0)
        http_bench(set, toks[2]);
    ts_authn_verifier_free(nocache);
    ts_authn_verifier_free(cached);
    ts_jwks_free(set);
    for (int i = 0; i < 3; i++) {
        ts_free(toks[i]);
        ts_jwk_free(keys[i]);
    }
    curl_global_cleanup();
    return 0;
}
