/* Certificate-bound tokens (RFC 8705 §3): ts_authn_check_x5t() on a token bound to one
   certificate (the same certificate, another one, none), an unbound token, malformed `cnf`
   claims and other confirmation methods (`jkt` alone and next to x5t#S256); and the
   libmicrohttpd hook's check_certificate_binding on a daemon without TLS, where a bound token
   is refused with its error_description and an unbound one passes. The expected thumbprints
   are computed with OpenSSL's SHA-256, not authn's own. */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <strings.h>
#include <microhttpd.h>
#include <openssl/evp.h>

#include "testkit.h"

#include "authn_internal.h"

static const char *iss[] = {"https://issuer.test"};
static const char *aud[] = {"svc-a"};

/* Two "certificates": the check hashes the DER bytes it is given, whatever they hold. */
static const unsigned char cert_a[] = "0\x82\x01\x0a certificate A of the bound client";
static const unsigned char cert_b[] = "0\x82\x01\x0a certificate B of another client";

typedef struct fx {
    ts_jwk *key;
    ts_jwks *keys;
    ts_authn_verifier *v;
    int64_t now;
    char x5t_a[64];
} fx;

/* base64url(SHA-256(der)) by OpenSSL. */
static void thumbprint(const unsigned char *der, size_t len, char out[64])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned dl = 0;
    assert_int_equal(EVP_Digest(der, len, d, &dl, EVP_sha256(), NULL), 1);
    char *s = NULL;
    assert_int_equal(ts_b64url_encode(d, dl, &s, NULL, NULL), TS_OK);
    assert_int_equal(strlen(s), TS_AUTHN_X5T_S256_LEN);
    snprintf(out, 64, "%s", s);
    ts_free(s);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    f->key = ts_jwk_generate(TS_JWS_ES256, NULL);
    char *j = ts_jwk_to_json(f->key, NULL);
    ts_jwk *pub = ts_jwk_parse(j, strlen(j), NULL);
    ts_free(j);
    f->keys = ts_jwks_new(&pub, 1, NULL);
    ts_jwk_free(pub);
    f->now = TK_NOW;
    ts_authn_options o = TS_AUTHN_OPTIONS_INIT;
    o.issuers = iss;
    o.n_issuers = 1;
    o.audiences = aud;
    o.n_audiences = 1;
    o.keys = f->keys;
    o.now = tk_clock;
    o.now_ud = &f->now;
    f->v = ts_authn_verifier_new(&o, NULL);
    if (!f->v)
        return -1;
    thumbprint(cert_a, sizeof cert_a - 1, f->x5t_a);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    ts_authn_verifier_free(f->v);
    ts_jwks_free(f->keys);
    ts_jwk_free(f->key);
    free(f);
    return 0;
}

static char *mint(fx *f, const char *extra)
{
    char hdr[256], claims[1024];
    tk_header(hdr, sizeof hdr, f->key, TS_JWS_ES256);
    tk_claims(claims, sizeof claims, extra);
    return tk_mint(f->key, TS_JWS_ES256, hdr, claims);
}

static ts_authn_principal *principal(fx *f, const char *extra)
{
    char *tok = mint(f, extra);
    ts_authn_principal *p = NULL;
    ts_error err;
    ts_error_clear(&err);
    ts_authn_reason r = ts_authn_verify(f->v, tok, strlen(tok), &p, NULL, &err);
    ts_free(tok);
    if (r != TS_AUTHN_OK)
        fail_msg("verify: %s", err.msg);
    return p;
}

/* The check of @p extra's token against @p der; the message in @p msg (may be NULL). */
static ts_authn_reason check(fx *f, const char *extra, const unsigned char *der, size_t len,
                             char *msg)
{
    ts_authn_principal *p = principal(f, extra);
    ts_error err;
    ts_error_clear(&err);
    ts_authn_reason r = ts_authn_check_x5t(p, der, len, &err);
    if (r != TS_AUTHN_OK) {
        assert_string_equal(err.where, "cnf");
        assert_non_null(strstr(err.msg, "certificate binding: "));
        assert_null(strchr(err.msg, '"'));
        assert_null(strchr(err.msg, '\\'));
    }
    if (msg)
        snprintf(msg, sizeof err.msg, "%s", err.msg);
    ts_authn_principal_free(p);
    return r;
}

static void bound_claim(const fx *f, char *out, size_t cap)
{
    snprintf(out, cap, "\"cnf\":{\"x5t#S256\":\"%s\"}", f->x5t_a);
}

static void test_match(void **state)
{
    fx *f = *state;
    char c[128];
    bound_claim(f, c, sizeof c);
    assert_int_equal(check(f, c, cert_a, sizeof cert_a - 1, NULL), TS_AUTHN_OK);
    ts_authn_principal *p = principal(f, c);
    assert_true(ts_authn_principal_is_bound(p));
    ts_authn_principal_free(p);
}

static void test_mismatch(void **state)
{
    fx *f = *state;
    char c[128], msg[256];
    bound_claim(f, c, sizeof c);
    assert_int_equal(check(f, c, cert_b, sizeof cert_b - 1, msg), TS_AUTHN_CERTIFICATE_BINDING);
    assert_non_null(strstr(msg, "not the one the token is bound to"));
    /* One byte more or less is another certificate. */
    assert_int_equal(check(f, c, cert_a, sizeof cert_a - 2, NULL), TS_AUTHN_CERTIFICATE_BINDING);
    assert_int_equal(check(f, c, cert_a, sizeof cert_a, NULL), TS_AUTHN_CERTIFICATE_BINDING);
    /* The thumbprint of A with its last character changed. */
    char other[64];
    snprintf(other, sizeof other, "%s", f->x5t_a);
    other[TS_AUTHN_X5T_S256_LEN - 1] = other[TS_AUTHN_X5T_S256_LEN - 1] == 'A' ? 'B' : 'A';
    snprintf(c, sizeof c, "\"cnf\":{\"x5t#S256\":\"%s\"}", other);
    assert_int_equal(check(f, c, cert_a, sizeof cert_a - 1, NULL), TS_AUTHN_CERTIFICATE_BINDING);
}

static void test_no_certificate(void **state)
{
    fx *f = *state;
    char c[128], msg[256];
    bound_claim(f, c, sizeof c);
    assert_int_equal(check(f, c, NULL, 0, msg), TS_AUTHN_CERTIFICATE_BINDING);
    assert_non_null(strstr(msg, "none was presented"));
    assert_int_equal(check(f, c, cert_a, 0, NULL), TS_AUTHN_CERTIFICATE_BINDING);
}

static void test_unbound(void **state)
{
    fx *f = *state;
    /* A bearer token: good with a certificate, another one or none. */
    assert_int_equal(check(f, "", cert_a, sizeof cert_a - 1, NULL), TS_AUTHN_OK);
    assert_int_equal(check(f, "", cert_b, sizeof cert_b - 1, NULL), TS_AUTHN_OK);
    assert_int_equal(check(f, "", NULL, 0, NULL), TS_AUTHN_OK);
    ts_authn_principal *p = principal(f, "");
    assert_false(ts_authn_principal_is_bound(p));
    ts_authn_principal_free(p);
    assert_false(ts_authn_principal_is_bound(NULL));
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_authn_check_x5t(NULL, cert_a, sizeof cert_a - 1, &err), TS_AUTHN_INTERNAL);
}

static void test_malformed(void **state)
{
    fx *f = *state;
    char c[256];
    /* Each of these is refused, with any certificate, the bound one included: the text
       before, how much of the right thumbprint (-1: none), the text after. */
    static const struct {
        const char *before;
        int n;
        const char *after;
    } bad[] = {
        {"\"cnf\":null", -1, ""},
        {"\"cnf\":\"x5t\"", -1, ""},
        {"\"cnf\":[]", -1, ""},
        {"\"cnf\":{}", -1, ""},
        {"\"cnf\":{\"x5t#S256\":null}", -1, ""},
        {"\"cnf\":{\"x5t#S256\":42}", -1, ""},
        {"\"cnf\":{\"x5t#S256\":\"\"}", -1, ""},
        {"\"cnf\":{\"x5t#s256\":\"", 43, "\"}"},   /* the member name is case-sensitive */
        {"\"cnf\":{\"x5t#S256\":\"", 43, "=\"}"},  /* padding */
        {"\"cnf\":{\"x5t#S256\":\"", 42, "\"}"},   /* too short */
        {"\"cnf\":{\"x5t#S256\":\"", 42, "+\"}"},  /* base64, not base64url */
        {"\"cnf\":{\"x5t#S256\":[\"", 43, "\"]}"}, /* an array of it */
        {"\"cnf\":{\"x5t\":\"", 43, "\"}"},        /* the SHA-1 member: not checked */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(c, sizeof c, "%s%.*s%s", bad[i].before, bad[i].n < 0 ? 0 : bad[i].n, f->x5t_a,
                 bad[i].after);
        ts_authn_reason r = check(f, c, cert_a, sizeof cert_a - 1, NULL);
        if (r != TS_AUTHN_CERTIFICATE_BINDING)
            fail_msg("accepted: %s", c);
    }
}

static void test_jkt(void **state)
{
    fx *f = *state;
    char c[256], msg[256];
    /* DPoP's jkt alone: a binding this check cannot verify is not satisfied. */
    snprintf(c, sizeof c, "\"cnf\":{\"jkt\":\"%s\"}", f->x5t_a);
    assert_int_equal(check(f, c, cert_a, sizeof cert_a - 1, msg), TS_AUTHN_CERTIFICATE_BINDING);
    assert_non_null(strstr(msg, "other than x5t#S256"));
    assert_int_equal(check(f, c, NULL, 0, NULL), TS_AUTHN_CERTIFICATE_BINDING);
    /* Next to a matching x5t#S256: the DPoP proof is still unchecked. */
    snprintf(c, sizeof c, "\"cnf\":{\"x5t#S256\":\"%s\",\"jkt\":\"%s\"}", f->x5t_a, f->x5t_a);
    assert_int_equal(check(f, c, cert_a, sizeof cert_a - 1, NULL), TS_AUTHN_CERTIFICATE_BINDING);
}

/* ------------------------------------------------------------------------------------------ */
/* The hook on a daemon without TLS                                                          */

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    (void)version, (void)upload, (void)upload_size, (void)con_cls;
    ts_authn_principal *p = NULL;
    ts_hook_result r = ts_authn_mhd_check(cls, c, method, url, &p);
    if (r != TS_HOOK_CONTINUE)
        return r == TS_HOOK_RESPONDED ? MHD_YES : MHD_NO;
    ts_authn_principal_free(p);
    char ok[] = "ok";
    struct MHD_Response *resp = MHD_create_response_from_buffer(2, ok, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

static size_t keep_header(char *b, size_t size, size_t n, void *ud)
{
    char *www = ud;
    if (strncasecmp(b, "WWW-Authenticate:", 17) == 0)
        snprintf(www, 512, "%.*s", (int)(size * n), b);
    return size * n;
}

static size_t drop(char *b, size_t size, size_t n, void *ud)
{
    (void)b, (void)ud;
    return size * n;
}

/* GET / with @p tok on @p port; the status, the challenge in @p www. */
static long get(unsigned short port, const char *tok, char www[512])
{
    CURL *h = curl_easy_init();
    char url[64], auth[2048];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/", port);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
    struct curl_slist *hd = curl_slist_append(NULL, auth);
    www[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, keep_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, www);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, drop);
    long status = 0;
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    return status;
}

static void quiet(const char *line, void *ud)
{
    snprintf(ud, 1024, "%s", line);
}

static void test_hook_without_tls(void **state)
{
    fx *f = *state;
    char log[1024] = "";
    ts_authn_mhd_options mo = TS_AUTHN_MHD_OPTIONS_INIT;
    mo.verifier = f->v;
    mo.log = quiet;
    mo.log_ud = log;
    mo.check_certificate_binding = true;
    ts_authn_mhd *h = ts_authn_mhd_new(&mo, NULL);
    assert_non_null(h);
    mo.check_certificate_binding = false;
    ts_authn_mhd *off = ts_authn_mhd_new(&mo, NULL);
    assert_non_null(off);
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler,
                                            h, MHD_OPTION_END);
    struct MHD_Daemon *d_off = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
                                                handler, off, MHD_OPTION_END);
    assert_non_null(d);
    assert_non_null(d_off);
    unsigned short port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
    unsigned short port_off = MHD_get_daemon_info(d_off, MHD_DAEMON_INFO_BIND_PORT)->port;
    char c[128], www[512];
    bound_claim(f, c, sizeof c);
    char *bound = mint(f, c), *plain = mint(f, "");
    /* No TLS, so no certificate: the bound token is refused, twice (the second time from the
       verifier's cache), the unbound one passes. */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(get(port, bound, www), 401);
        assert_non_null(strstr(www, "Bearer error=\"invalid_token\", error_description=\""
                                    "certificate binding: the token is bound to a client "
                                    "certificate and none was presented\""));
    }
    assert_non_null(strstr(log, "\"reason\":\"certificate_binding\""));
    assert_non_null(strstr(log, "certificate binding"));
    assert_non_null(strstr(log, "j-1")); /* the jti, never the token */
    assert_null(strstr(log, bound));
    assert_int_equal(get(port, plain, www), 200);
    /* Without the option the binding is not looked at. */
    assert_int_equal(get(port_off, bound, www), 200);
    ts_free(bound);
    ts_free(plain);
    MHD_stop_daemon(d);
    MHD_stop_daemon(d_off);
    ts_authn_mhd_free(h);
    ts_authn_mhd_free(off);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_mismatch),
        cmocka_unit_test(test_no_certificate),
        cmocka_unit_test(test_unbound),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_jkt),
        cmocka_unit_test(test_hook_without_tls),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
