/* A verifier with a revocation source polling `tokensmith serve`, as a C service would attach
   one (docs/revocation.md): it verifies a token until it is accepted (and so in the
   verified-token cache), says so in READY_FILE, then verifies it every 10 ms until it is
   refused, and prints the reason and the wall-clock time of the refusal in milliseconds.
   usage: revocations_probe BASE_URL ISSUER AUDIENCE TOKEN_FILE READY_FILE POLL_MS TIMEOUT_MS */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tokensmith/authn.h>
#include <tokensmith/authn_revocations.h>

static long long wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *b = malloc(16384);
    size_t n = b ? fread(b, 1, 16383, f) : 0;
    fclose(f);
    if (!b)
        return NULL;
    while (n && (b[n - 1] == '\n' || b[n - 1] == '\r'))
        n--;
    b[n] = 0;
    *len = n;
    return b;
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: revocations_probe BASE_URL ISSUER AUDIENCE TOKEN_FILE READY_FILE "
                        "POLL_MS TIMEOUT_MS\n");
        return 2;
    }
    char jwks[1024], list[1024];
    snprintf(jwks, sizeof jwks, "%s/.well-known/jwks.json", argv[1]);
    snprintf(list, sizeof list, "%s/oauth/revocations", argv[1]);
    const char *urls[] = {jwks}, *iss[] = {argv[2]}, *aud[] = {argv[3]};
    long timeout = atol(argv[7]);
    size_t len = 0;
    char *tok = slurp(argv[4], &len);
    ts_error err;
    ts_error_clear(&err);
    ts_authn_keysource_options ko = TS_AUTHN_KEYSOURCE_OPTIONS_INIT;
    ko.urls = urls;
    ko.n_urls = 1;
    ts_authn_keysource *ks = tok ? ts_authn_keysource_new(&ko, &err) : NULL;
    ts_authn_revocations_options ro = TS_AUTHN_REVOCATIONS_OPTIONS_INIT;
    ro.url = list;
    ro.issuer = argv[2];
    ro.keysource = ks;
    ro.poll_interval_ms = (unsigned)atoi(argv[6]);
    ts_authn_revocations *rs = ks ? ts_authn_revocations_new(&ro, &err) : NULL;
    ts_authn_options vo = TS_AUTHN_OPTIONS_INIT;
    vo.issuers = iss;
    vo.n_issuers = 1;
    vo.audiences = aud;
    vo.n_audiences = 1;
    vo.keysource = ks;
    vo.revocations = rs;
    ts_authn_verifier *v = rs ? ts_authn_verifier_new(&vo, &err) : NULL;
    int rc = 1;
    if (!v) {
        fprintf(stderr, "probe: %s: %s\n", err.where, err.msg);
        goto out;
    }
    long long start = wall_ms();
    ts_authn_reason r = TS_AUTHN_INTERNAL;
    bool ready = false;
    while (wall_ms() - start < timeout) {
        ts_authn_principal *p = NULL;
        r = ts_authn_verify(v, tok, len, &p, NULL, NULL);
        ts_authn_principal_free(p);
        if (!ready && r == TS_AUTHN_OK) {
            FILE *f = fopen(argv[5], "w");
            if (f) {
                fprintf(f, "ok\n");
                fclose(f);
            }
            ready = true;
        } else if (ready && r != TS_AUTHN_OK) {
            break;
        }
        nap_ms(10);
    }
    printf("%s %lld %d\n", ts_authn_reason_str(r), wall_ms(), ts_authn_refusal_status(r));
    rc = ready && r != TS_AUTHN_OK ? 0 : 1;
out:
    ts_authn_verifier_free(v);
    ts_authn_revocations_free(rs);
    ts_authn_keysource_free(ks);
    free(tok);
    return rc;
}
