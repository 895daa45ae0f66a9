/* keys_bench: signatures per second of the service's keyring (ts_svc_keyring_sign(), what
 * every issued token costs) with its key in a file and in a PKCS#11 token (SoftHSM2), for
 * ES256 and PS256, with 1 and 2 signing threads. The token is the benchmark's own (a
 * softhsm2.conf and token directory under a temporary directory), its keys made inside it by
 * ts_p11_keygen.
 *
 * usage: keys_bench --keygen P11_KEYGEN [--module SO] [--seconds S] [--rounds R]
 * Prints one JSON object per measurement: {"backend","alg","threads","round","signatures",
 * "seconds","per_s"}. Exit 77 when the module is absent. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "keys.h"
#include "keys_pkcs11.h"

typedef struct run {
    ts_svc_keyring *kr;
    double until;
    atomic_ulong done;
    atomic_int failed;
} run;

static void *signer(void *arg)
{
    run *r = arg;
    /* The claims of a typical access token: what mint.c signs. */
    static const char payload[] =
        "{\"iss\":\"https://tokensmith.example\",\"sub\":\"svc-a\",\"aud\":[\"smd\"],"
        "\"exp\":1893456000,\"iat\":1893452400,\"nbf\":1893452400,"
        "\"jti\":\"3f0c8a5e-4b1d-4c2a-9e7f-0a1b2c3d4e5f\",\"scope\":\"read write\"}";
    unsigned long n = 0;
    while (bench_now_s() < r->until) {
        for (int i = 0; i < 8; i++) {
            char *jws = NULL;
            size_t jl = 0;
            ts_error err;
            ts_error_clear(&err);
            if (ts_svc_keyring_sign(r->kr, "JWT", payload, sizeof payload - 1, &jws, &jl, &err) !=
                TS_OK) {
                fprintf(stderr, "keys_bench: %s: %s\n", err.where, err.msg);
                atomic_store(&r->failed, 1);
                return NULL;
            }
            ts_free(jws);
            n++;
        }
    }
    atomic_fetch_add(&r->done, n);
    return NULL;
}

static void measure(const char *backend, ts_svc_keyring *kr, unsigned threads, double seconds,
                    int round)
{
    run r;
    r.kr = kr;
    atomic_init(&r.done, 0);
    atomic_init(&r.failed, 0);
    pthread_t t[8];
    double t0 = bench_now_s();
    r.until = t0 + seconds;
    for (unsigned i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, signer, &r);
    for (unsigned i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    double el = bench_now_s() - t0;
    if (atomic_load(&r.failed))
        exit(1);
    unsigned long n = atomic_load(&r.done);
    printf("{\"case\":\"sign\",\"backend\":\"%s\",\"alg\":\"%s\",\"threads\":%u,\"round\":%d,"
           "\"signatures\":%lu,\"seconds\":%.3f,\"per_s\":%.1f}\n",
           backend, ts_jws_alg_name(ts_svc_keyring_alg(kr)), threads, round, n, el, (double)n / el);
    fflush(stdout);
}

static int sh(const char *cmd)
{
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

int main(int argc, char **argv)
{
    const char *keygen = NULL, *module = "/usr/lib/softhsm/libsofthsm2.so";
    double seconds = 2;
    int rounds = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--keygen") == 0)
            keygen = argv[i + 1];
        else if (strcmp(argv[i], "--module") == 0)
            module = argv[i + 1];
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--rounds") == 0)
            rounds = atoi(argv[i + 1]);
    }
    if (!keygen || seconds <= 0 || rounds < 1) {
        fprintf(stderr, "usage: keys_bench --keygen P11_KEYGEN [--module SO] [--seconds S] "
                        "[--rounds R]\n");
        return 2;
    }
    if (access(module, R_OK) != 0) {
        fprintf(stderr, "keys_bench: %s is absent: install softhsm2\n", module);
        return 77;
    }
    char dir[] = "/tmp/ts-keys-bench-XXXXXX", path[512], cmd[2048];
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof path, "%s/tokens", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/softhsm2.conf", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return 1;
    fprintf(f, "directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n",
            dir);
    fclose(f);
    setenv("SOFTHSM2_CONF", path, 1);
    setenv("TS_BENCH_P11_PIN", "5678", 1);
    snprintf(cmd, sizeof cmd,
             "softhsm2-util --init-token --free --label bench --so-pin 1234 --pin 5678 "
             ">/dev/null && %s %s bench 5678 es256 ec256 01 && %s %s bench 5678 rsa rsa2048 02",
             keygen, module, keygen, module);
    if (sh(cmd) != 0) {
        fprintf(stderr, "keys_bench: cannot make the token\n");
        return 1;
    }
    static const struct {
        const char *label;
        ts_jws_alg alg;
    } keys[] = {{"es256", TS_JWS_ES256}, {"rsa", TS_JWS_PS256}};
    int rc = 0;
    for (size_t k = 0; k < 2 && rc == 0; k++) {
        ts_error err;
        ts_error_clear(&err);
        /* The file key: generated once, as serve does on first start. */
        snprintf(path, sizeof path, "%s/%s.pem", dir, keys[k].label);
        ts_svc_keyring *file = ts_svc_keyring_open(path, "", keys[k].alg, false, &err);
        ts_svc_p11_options o;
        memset(&o, 0, sizeof o);
        snprintf(o.module, sizeof o.module, "%s", module);
        snprintf(o.token_label, sizeof o.token_label, "bench");
        snprintf(o.key_label, sizeof o.key_label, "%s", keys[k].label);
        snprintf(o.pin_env, sizeof o.pin_env, "TS_BENCH_P11_PIN");
        char uri[2048];
        ts_svc_keyring *tok = NULL;
        if (file && ts_svc_p11_uri_format(&o, uri, sizeof uri, &err) == TS_OK)
            tok = ts_svc_keyring_open(uri, "", keys[k].alg, false, &err);
        if (!file || !tok) {
            fprintf(stderr, "keys_bench: %s: %s\n", err.where, err.msg);
            rc = 1;
        }
        /* Rounds alternate the backends, so that a change in the machine's load meets both. */
        for (int round = 0; round < rounds && rc == 0; round++) {
            for (unsigned threads = 1; threads <= 2; threads++) {
                measure("files", file, threads, seconds, round);
                measure("pkcs11", tok, threads, seconds, round);
            }
        }
        ts_svc_keyring_free(tok);
        ts_svc_keyring_free(file);
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (sh(cmd) != 0)
        rc = 1;
    return rc;
}
