/*
 * A small resource server for tests/mtls/binding_test.sh: libmicrohttpd with TLS that asks
 * every client for a certificate (MHD_OPTION_HTTPS_MEM_TRUST) and authenticates each request
 * with authn's hook, certificate binding on (RFC 8705). GET /whoami answers 200 with the
 * token's subject. It prints "port N" on stdout once it listens and stops on SIGTERM.
 *
 * usage: binding_svc CERT KEY CLIENT_CA JWKS ISSUER AUDIENCE
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include <tokensmith/authn.h>

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *b = NULL;
    size_t n = 0;
    char chunk[4096];
    size_t r;
    while ((r = fread(chunk, 1, sizeof chunk, f)) > 0) {
        char *nb = realloc(b, n + r + 1);
        if (!nb) {
            free(b);
            fclose(f);
            return NULL;
        }
        b = nb;
        memcpy(b + n, chunk, r);
        n += r;
        b[n] = '\0';
    }
    fclose(f);
    return b;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    (void)version, (void)upload, (void)upload_size, (void)con_cls;
    ts_authn_principal *p = NULL;
    ts_hook_result r = ts_authn_mhd_check(cls, c, method, url, &p);
    if (r != TS_HOOK_CONTINUE)
        return r == TS_HOOK_RESPONDED ? MHD_YES : MHD_NO;
    char body[512];
    snprintf(body, sizeof body, "{\"sub\":\"%s\"}\n", p ? ts_authn_principal_id(p) : "");
    ts_authn_principal_free(p);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: binding_svc CERT KEY CLIENT_CA JWKS ISSUER AUDIENCE\n");
        return 2;
    }
    char *cert = slurp(argv[1]), *key = slurp(argv[2]), *ca = slurp(argv[3]);
    if (!cert || !key || !ca) {
        fprintf(stderr, "binding_svc: cannot read the certificate, key or CA\n");
        return 1;
    }
    ts_error err;
    ts_error_clear(&err);
    ts_jwks *keys = ts_jwks_load_file(argv[4], &err);
    if (!keys) {
        fprintf(stderr, "binding_svc: %s: %s\n", argv[4], err.msg);
        return 1;
    }
    const char *iss[] = {argv[5]}, *aud[] = {argv[6]};
    ts_authn_options o = TS_AUTHN_OPTIONS_INIT;
    o.issuers = iss;
    o.n_issuers = 1;
    o.audiences = aud;
    o.n_audiences = 1;
    o.keys = keys;
    ts_authn_verifier *v = ts_authn_verifier_new(&o, &err);
    ts_authn_mhd_options mo = TS_AUTHN_MHD_OPTIONS_INIT;
    mo.verifier = v;
    mo.check_certificate_binding = true;
    ts_authn_mhd *hook = v ? ts_authn_mhd_new(&mo, &err) : NULL;
    if (!hook) {
        fprintf(stderr, "binding_svc: %s\n", err.msg);
        return 1;
    }
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS, 0, NULL, NULL, handler, hook,
        MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_HTTPS_MEM_TRUST,
        ca, MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "binding_svc: cannot start the TLS daemon\n");
        return 1;
    }
    printf("port %u\n", (unsigned)MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port);
    fflush(stdout);
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    while (!stop)
        sleep(1); /* a signal ends the sleep early */
    MHD_stop_daemon(d);
    ts_authn_mhd_free(hook);
    ts_authn_verifier_free(v);
    ts_jwks_free(keys);
    free(cert);
    free(key);
    free(ca);
    return 0;
}
