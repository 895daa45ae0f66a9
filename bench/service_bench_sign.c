/* service_bench's raw sign ceiling: EVP_DigestSign with the server's key (a cached EVP_PKEY) on
 * one thread and on one thread per CPU, the most signatures a signing service can make. */
#define _POSIX_C_SOURCE 200809L

#include "service_bench.h"

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "procfs.h"
#include "stats.h"

/* ---------------------------------------------------------------------------------------- */
/* Raw sign ceiling                                                                          */

typedef struct sign_job {
    EVP_PKEY *pkey;
    bool pss;
    double seconds;
    const unsigned char *msg;
    size_t msg_len;
    uint64_t ops;
    int failed;
} sign_job;

static int sign_once(EVP_PKEY *pkey, bool pss, const unsigned char *msg, size_t len)
{
    unsigned char sig[1024];
    size_t siglen = sizeof sig;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md && EVP_DigestSignInit(md, &pctx, EVP_sha256(), NULL, pkey) == 1;
    if (ok && pss)
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
    ok = ok && EVP_DigestSign(md, sig, &siglen, msg, len) == 1;
    EVP_MD_CTX_free(md);
    return ok ? 0 : -1;
}

static void *sign_thread(void *arg)
{
    sign_job *j = arg;
    double end = bench_now_s() + j->seconds;
    uint64_t n = 0;
    do {
        for (int i = 0; i < 16; i++)
            if (sign_once(j->pkey, j->pss, j->msg, j->msg_len) != 0) {
                j->failed = 1;
                return NULL;
            }
        n += 16;
    } while (bench_now_s() < end);
    j->ops = n;
    return NULL;
}

/* Signatures per second with @p threads threads, median of @p runs runs. */
double sb_sign_rate(EVP_PKEY *pkey, bool pss, int threads, double seconds, int runs)
{
    /* A JWS signing input of the size the service signs (header.claims, base64url). */
    unsigned char msg[760];
    static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (unsigned char)b64url[i % 64];
    double res[16];
    if (runs > 16)
        runs = 16;
    for (int r = 0; r < runs; r++) {
        sign_job jobs[MAX_SIGN_THREADS];
        pthread_t th[MAX_SIGN_THREADS];
        double t0 = bench_now_s();
        for (int i = 0; i < threads; i++) {
            jobs[i] = (sign_job){pkey, pss, seconds, msg, sizeof msg, 0, 0};
            if (pthread_create(&th[i], NULL, sign_thread, &jobs[i]) != 0)
                sb_die("pthread_create failed");
        }
        uint64_t total = 0;
        for (int i = 0; i < threads; i++) {
            pthread_join(th[i], NULL);
            if (jobs[i].failed)
                sb_die("EVP_DigestSign failed");
            total += jobs[i].ops;
        }
        res[r] = (double)total / (bench_now_s() - t0);
    }
    bench_sort(res, (size_t)runs);
    return res[runs / 2];
}
