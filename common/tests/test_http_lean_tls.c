/* The lean HTTP client (ts_base_http_lean) over TLS against scripted loopback servers, with a
   CA made at test time: certificate and name checks, the system's store (its directory, then its
   file), the connection bound over the handshake, exchanges on four threads at once, redirects,
   and no SIGPIPE when a TLS peer resets. Plain HTTP is common.test_http_lean.

   Built twice, as common.test_http_lean is: against the lean client (common.test_http_lean_tls),
   and with TS_TEST_HTTP_CURL against the libcurl one (common.test_http_lean_tls_vs_curl), where
   the TLS checks both clients must make are checked and the lean client's own parts are not (its
   wording of errors, the system-store order, when OpenSSL starts). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "lean_support.h"

/* ---- TLS with a CA made here ---- */

typedef struct pki {
    EVP_PKEY *ca_key, *other_key, *leaf_key;
    X509 *ca, *other, *leaf;
    char ca_file[64], other_file[64];
} pki;

static pki P;

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                       const char *san)
{
    static long serial = 1;
    X509 *x = X509_new();
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    const char *exts[][2] = {
        {"basicConstraints", issuer ? "CA:FALSE" : "critical,CA:TRUE"},
        {"keyUsage", issuer ? "critical,digitalSignature" : "critical,keyCertSign,cRLSign"},
        {"subjectKeyIdentifier", "hash"},
        {"extendedKeyUsage", issuer ? "serverAuth" : NULL},
        {"subjectAltName", san},
    };
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        if (!exts[i][1])
            continue;
        X509_EXTENSION *e = X509V3_EXT_nconf(NULL, &ctx, exts[i][0], exts[i][1]);
        assert_non_null(e);
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    assert_true(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
    return x;
}

static void write_pem(X509 *x, char *path)
{
    strcpy(path, "/tmp/ts_http_lean_ca_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, x), 1);
    fclose(f);
}

static void make_pki(void)
{
    if (P.ca)
        return;
    P.ca_key = EVP_EC_gen("P-256");
    P.other_key = EVP_EC_gen("P-256");
    P.leaf_key = EVP_EC_gen("P-256");
    assert_true(P.ca_key && P.other_key && P.leaf_key);
    P.ca = make_cert(P.ca_key, "tokensmith test CA", NULL, NULL, NULL);
    P.other = make_cert(P.other_key, "another CA", NULL, NULL, NULL);
    P.leaf = make_cert(P.leaf_key, "127.0.0.1", P.ca, P.ca_key, "IP:127.0.0.1");
    write_pem(P.ca, P.ca_file);
    write_pem(P.other, P.other_file);
}

static const char *pki_file(void)
{
    make_pki();
    return P.ca_file;
}

static void tls_server(lean_server *s, const char *const *first, const char *const *second)
{
    make_pki();
    memset(s, 0, sizeof *s);
    s->tls = SSL_CTX_new(TLS_server_method());
    assert_non_null(s->tls);
    assert_int_equal(SSL_CTX_use_certificate(s->tls, P.leaf), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(s->tls, P.leaf_key), 1);
    s->parts[0] = first;
    s->parts[1] = second;
    assert_true(lean_server_start(s, AF_INET));
}

static void tls_stop(lean_server *s)
{
    lean_server_stop(s);
    SSL_CTX_free(s->tls);
}

/* A server that resets the connection while a large body is being sent over TLS: an error, not
   a SIGPIPE that would end the process (over TCP: common.test_http_lean). */
static void test_reset_is_no_sigpipe(void **state)
{
    (void)state;
    lean_server s;
    tls_server(&s, NULL, NULL);
    s.mode = LEAN_RESET;
    assert_int_equal(lean_post_into_reset(&s, "https", pki_file()), TS_EIO);
    tls_stop(&s);
}

static void test_tls(void **state)
{
    (void)state;
    static const char *const reply[] = {"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecure", NULL};
    lean_server s;
    tls_server(&s, reply, NULL);
    ts_common__http_req rq = {
        .url = lean_url(&s, "https", "127.0.0.1", "/tls"), .ca_file = P.ca_file, .label = "fetch"};
    lean_result r;
    lean_fetch(&rq, &r);
    assert_int_equal(r.st, TS_OK);
    assert_string_equal(r.body, "secure");
    assert_true(r.sent);
    lean_done(&r);
    /* The check common.test_http_lean makes before any TLS can fail. */
    if (LEAN)
        assert_true(lean_ssl_strings_loaded());
    /* Another CA: refused before anything is sent. */
    rq.ca_file = P.other_file;
    lean_fetch(&rq, &r);
    assert_int_equal(r.st, TS_EIO);
    assert_false(r.sent);
    assert_lean_msg(r.err.msg, "fetch failed: certificate verify failed: unable to get local "
                               "issuer certificate");
    /* The right CA, but the certificate names 127.0.0.1 only: "localhost" is refused. */
    rq.ca_file = P.ca_file;
    rq.url = lean_url(&s, "https", "localhost", "/tls");
    lean_fetch(&rq, &r);
    assert_int_equal(r.st, TS_EIO);
    assert_false(r.sent);
    assert_lean_msg(r.err.msg, "fetch failed: certificate verify failed: hostname mismatch");
    /* The system's store does not know this CA. */
    rq.ca_file = NULL;
    rq.url = lean_url(&s, "https", "127.0.0.1", "/tls");
    lean_fetch(&rq, &r);
    assert_int_equal(r.st, TS_EIO);
    if (LEAN)
        assert_non_null(strstr(r.err.msg, "certificate verify failed"));
    tls_stop(&s);
}

/* Without ca_file, the lean client looks in the system's CA directory first (read lazily,
   SSL_CERT_DIR honoured), then once more with the system's CA file (SSL_CERT_FILE honoured). */
static void test_system_store(void **state)
{
    (void)state;
    if (!LEAN)
        skip(); /* libcurl reads neither variable */
    static const char *const reply[] = {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", NULL};
    lean_server s;
    tls_server(&s, reply, NULL);
    char dir[] = "/tmp/ts_http_lean_dir_XXXXXX", hashed[128];
    assert_non_null(mkdtemp(dir));
    snprintf(hashed, sizeof hashed, "%s/%08lx.0", dir, X509_subject_name_hash(P.ca));
    FILE *f = fopen(hashed, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, P.ca), 1);
    fclose(f);
    ts_common__http_req rq = {.url = lean_url(&s, "https", "127.0.0.1", "/s")};
    lean_result r;
    /* This process's own settings, restored at the end. */
    const char *was_file = getenv("SSL_CERT_FILE"), *was_dir = getenv("SSL_CERT_DIR");
    char *old_file = was_file ? strdup(was_file) : NULL,
         *old_dir = was_dir ? strdup(was_dir) : NULL;
    unsetenv("SSL_CERT_FILE");
    /* The directory knows the CA: one connection. */
    setenv("SSL_CERT_DIR", dir, 1);
    lean_fetch(&rq, &r);
    assert_int_equal(r.st, TS_OK);
    assert_string_equal(r.body, "ok");
    lean_done(&r);
    assert_int_equal(s.conns, 1);
    /* Neither the directory nor the system's file knows it: the file was tried too. */
    unlink(hashed);
    lean_fetch(&rq, &r);
    assert_int_equal(r.st, TS_EIO);
    assert_false(r.sent);
    assert_int_equal(s.conns, 3);
    /* SSL_CERT_FILE names the file that knows it. */
    setenv("SSL_CERT_FILE", P.ca_file, 1);
    lean_fetch(&rq, &r);
    assert_int_equal(r.st, TS_OK);
    lean_done(&r);
    assert_int_equal(s.conns, 4);
    unsetenv("SSL_CERT_FILE");
    unsetenv("SSL_CERT_DIR");
    if (old_file)
        setenv("SSL_CERT_FILE", old_file, 1);
    if (old_dir)
        setenv("SSL_CERT_DIR", old_dir, 1);
    free(old_file);
    free(old_dir);
    rmdir(dir);
    tls_stop(&s);
}

/* The connection's own bound covers the TLS handshake: a listener that never accepts (the
   kernel completes TCP, nobody answers the ClientHello) fails at connect_timeout_ms, long before
   the whole exchange's deadline, and nothing of the request was sent. */
static void test_connect_bound(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    char u[64];
    snprintf(u, sizeof u, "https://127.0.0.1:%d/x", ntohs(a.sin_port));
    ts_common__http_req rq = {.url = u,
                              .ca_file = pki_file(),
                              .timeout_ms = 30000,
                              .connect_timeout_ms = 300,
                              .label = "fetch"};
    lean_result r;
    double t0 = lean_now_s();
    lean_fetch(&rq, &r);
    assert_int_equal(r.st, TS_EIO);
    assert_true(lean_now_s() - t0 <
                15.0); /* half the whole deadline: the bound was the connect's */
    assert_false(r.sent);
    assert_lean_msg(r.err.msg, "fetch failed: connection timed out after 300 ms");
    close(fd);
}

typedef struct worker {
    const char *url;
    int ok;
} worker;

static void *fetch_tls(void *ud)
{
    worker *w = ud;
    for (int i = 0; i < 3; i++) {
        ts_common__http_req rq = {.url = w->url, .ca_file = P.ca_file, .timeout_ms = 20000};
        lean_result r;
        lean_fetch(&rq, &r);
        if (r.st == TS_OK && strcmp(r.body, "secure") == 0)
            w->ok++;
        lean_done(&r);
    }
    return NULL;
}

/* Exchanges on several threads at once, each with its own TLS context. */
static void test_tls_threads(void **state)
{
    (void)state;
    static const char *const reply[] = {"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecure", NULL};
    lean_server s;
    tls_server(&s, reply, NULL);
    char u[64];
    snprintf(u, sizeof u, "https://127.0.0.1:%d/t", s.port);
    worker w[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){.url = u};
        assert_int_equal(pthread_create(&t[i], NULL, fetch_tls, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].ok, 3);
    }
    tls_stop(&s);
}

/* A relative redirect over TLS is followed to the same origin (credentials kept, the POST
   turned into a GET as libcurl does for 302); a redirect to http:// is not. */
static void test_redirects(void **state)
{
    (void)state;
    static const char *const moved[] = {
        "HTTP/1.1 302 Found\r\nLocation: final?x=1\r\nContent-Length: 0\r\n\r\n", NULL};
    static const char *const final[] = {"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nhere", NULL};
    lean_server s;
    tls_server(&s, moved, final);
    ts_common__http_req rq = {.url = lean_url(&s, "https", "127.0.0.1", "/dir/start"),
                              .ca_file = P.ca_file,
                              .user = "client",
                              .password = "s3cret",
                              .body = "a=b",
                              .body_len = 3,
                              .max_redirects = 1};
    lean_result r;
    lean_fetch(&rq, &r);
    assert_int_equal(r.st, TS_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "here");
    lean_done(&r);
    assert_int_equal(s.conns, 2);
    assert_non_null(strstr(s.request, "GET /dir/final?x=1 HTTP/1.1\r\n"));
    assert_non_null(strstr(s.request, "\r\nAuthorization: Basic Y2xpZW50OnMzY3JldA==\r\n"));
    tls_stop(&s);

    static const char *const to_plain[] = {
        "HTTP/1.1 301 Moved\r\nLocation: http://127.0.0.1:1/x\r\nContent-Length: 0\r\n\r\n", NULL};
    lean_plain(&s, to_plain);
    ts_common__http_req rq2 = {
        .url = lean_url(&s, "http", "127.0.0.1", "/"), .max_redirects = 3, .label = "fetch"};
    lean_fetch(&rq2, &r);
    assert_int_equal(r.st, TS_EIO);
    assert_lean_msg(r.err.msg, "fetch failed: a redirect to a URL that is not https://");
    assert_int_equal(s.conns, 1);
    lean_server_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls),           cmocka_unit_test(test_system_store),
        cmocka_unit_test(test_connect_bound), cmocka_unit_test(test_tls_threads),
        cmocka_unit_test(test_redirects),     cmocka_unit_test(test_reset_is_no_sigpipe),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (P.ca_file[0])
        unlink(P.ca_file);
    if (P.other_file[0])
        unlink(P.other_file);
    X509_free(P.ca);
    X509_free(P.other);
    X509_free(P.leaf);
    EVP_PKEY_free(P.ca_key);
    EVP_PKEY_free(P.other_key);
    EVP_PKEY_free(P.leaf_key);
    return rc;
}
