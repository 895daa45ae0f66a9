/* common/tls_server.h: the pair read and checked (errors name the caller's settings), one
 * handle per process, real handshakes over a socketpair with the credentials and priorities a
 * server running its own GnuTLS sessions uses (a GnuTLS client sees the serial in use), reload
 * (changed files, no change, a bad pair kept out), the client CA bundle. The certificates are
 * made here with GnuTLS. The PKCS#11 keys and libmicrohttpd's use are tested end to end
 * (tests/tls). */
#define _GNU_SOURCE

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "common/tls_server.h"

static char dir[64];

static void path_of(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

static void write_file(const char *name, const void *data, size_t len, mode_t mode)
{
    char p[128], tmp[140];
    path_of(p, sizeof p, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    FILE *f = fopen(tmp, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(tmp, mode), 0);
    assert_int_equal(rename(tmp, p), 0); /* as cert-manager does: a new inode */
}

/* A self-signed P-256 certificate with @p serial: NAME.pem and NAME.key (mode 0600). */
static void make_pair(const char *name, unsigned char serial)
{
    gnutls_x509_privkey_t key;
    gnutls_x509_crt_t crt;
    assert_int_equal(gnutls_x509_privkey_init(&key), 0);
    assert_int_equal(gnutls_x509_privkey_generate(
                         key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
                     0);
    assert_int_equal(gnutls_x509_crt_init(&crt), 0);
    assert_int_equal(gnutls_x509_crt_set_version(crt, 3), 0);
    assert_int_equal(gnutls_x509_crt_set_serial(crt, &serial, 1), 0);
    assert_int_equal(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, name,
                                                   (unsigned)strlen(name)),
                     0);
    time_t now = time(NULL);
    assert_int_equal(gnutls_x509_crt_set_activation_time(crt, now - 60), 0);
    assert_int_equal(gnutls_x509_crt_set_expiration_time(crt, now + 3600), 0);
    assert_int_equal(gnutls_x509_crt_set_key(crt, key), 0);
    assert_int_equal(gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0), 0);
    gnutls_datum_t c = {NULL, 0}, k = {NULL, 0};
    assert_int_equal(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &c), 0);
    assert_int_equal(gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &k), 0);
    char fn[64];
    snprintf(fn, sizeof fn, "%s.pem", name);
    write_file(fn, c.data, c.size, 0644);
    snprintf(fn, sizeof fn, "%s.key", name);
    write_file(fn, k.data, k.size, 0600);
    gnutls_free(c.data);
    gnutls_free(k.data);
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
}

/* Install NAME's files (or NAME's certificate with KEYNAME's key) as live.pem / live.key. */
static void install(const char *name, const char *keyname)
{
    char src[128], dst[128], cmd[600];
    path_of(src, sizeof src, keyname);
    path_of(dst, sizeof dst, "live");
    snprintf(cmd, sizeof cmd, "cp -p '%s.key' '%s.key.new' && mv '%s.key.new' '%s.key'", src, dst,
             dst, dst);
    assert_int_equal(system(cmd), 0);
    path_of(src, sizeof src, name);
    snprintf(cmd, sizeof cmd, "cp '%s.pem' '%s.pem.new' && mv '%s.pem.new' '%s.pem'", src, dst, dst,
             dst);
    assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/common_tls_server.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    make_pair("one", 0x11);
    make_pair("two", 0x22);
    make_pair("three", 0x33);
    install("one", "one");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The client side of one handshake: the serial of the certificate the server presented. */
typedef struct client {
    int fd;
    int rc;
    unsigned char serial;
} client;

static void *client_run(void *arg)
{
    client *c = arg;
    gnutls_certificate_credentials_t cred;
    gnutls_session_t s;
    gnutls_certificate_allocate_credentials(&cred);
    gnutls_init(&s, GNUTLS_CLIENT);
    gnutls_set_default_priority(s);
    gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
    gnutls_transport_set_int(s, c->fd);
    do
        c->rc = gnutls_handshake(s);
    while (c->rc < 0 && !gnutls_error_is_fatal(c->rc));
    unsigned n = 0;
    const gnutls_datum_t *peers = c->rc == 0 ? gnutls_certificate_get_peers(s, &n) : NULL;
    if (peers && n > 0) {
        gnutls_x509_crt_t crt;
        gnutls_x509_crt_init(&crt);
        unsigned char serial[8];
        size_t sl = sizeof serial;
        if (gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) >= 0 &&
            gnutls_x509_crt_get_serial(crt, serial, &sl) >= 0 && sl == 1)
            c->serial = serial[0];
        gnutls_x509_crt_deinit(crt);
    }
    if (c->rc == 0)
        gnutls_bye(s, GNUTLS_SHUT_WR);
    gnutls_deinit(s);
    gnutls_certificate_free_credentials(cred);
    return NULL;
}

/* One handshake against @p t's credentials and priorities; the serial the client saw. */
static unsigned char handshake(const ts_common__tls *t)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    client c = {sv[1], -1, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, client_run, &c), 0);
    gnutls_session_t s;
    assert_int_equal(gnutls_init(&s, GNUTLS_SERVER), 0);
    assert_int_equal(gnutls_priority_set(s, ts_common__tls_priority(t)), 0);
    assert_int_equal(
        gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, ts_common__tls_credentials(t)), 0);
    gnutls_transport_set_int(s, sv[0]);
    int rc;
    do
        rc = gnutls_handshake(s);
    while (rc < 0 && !gnutls_error_is_fatal(rc));
    assert_int_equal(rc, 0);
    /* The priorities hold: TLS 1.2 or 1.3, an AEAD cipher. */
    gnutls_protocol_t v = gnutls_protocol_get_version(s);
    assert_true(v == GNUTLS_TLS1_2 || v == GNUTLS_TLS1_3);
    gnutls_cipher_algorithm_t ci = gnutls_cipher_get(s);
    assert_true(ci == GNUTLS_CIPHER_AES_128_GCM || ci == GNUTLS_CIPHER_AES_256_GCM ||
                ci == GNUTLS_CIPHER_CHACHA20_POLY1305);
    char buf[8];
    (void)gnutls_record_recv(s, buf, sizeof buf); /* the client's close_notify */
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(c.rc, 0);
    gnutls_deinit(s);
    close(sv[0]);
    close(sv[1]);
    return c.serial;
}

static ts_common__tls *open_live(ts_common__tls_info *info, ts_error *err)
{
    char cert[128], key[128];
    path_of(cert, sizeof cert, "live.pem");
    path_of(key, sizeof key, "live.key");
    return ts_common__tls_new(cert, key, false, "tls_cert_file", "tls_key_file", info, err);
}

static void test_refusals(void **state)
{
    (void)state;
    ts_error err;
    char cert[128], key[128], other[128];
    path_of(cert, sizeof cert, "one.pem");
    path_of(key, sizeof key, "one.key");
    path_of(other, sizeof other, "two.key");
    /* One without the other, named in the caller's spelling. */
    ts_error_clear(&err);
    assert_null(ts_common__tls_new(cert, "", false, "tls_cert_file", "tls_key_file", NULL, &err));
    assert_string_equal(err.where, "tls_key_file");
    assert_non_null(strstr(err.msg, "tls_cert_file is set without tls_key_file"));
    /* The key of another certificate. */
    ts_error_clear(&err);
    assert_null(
        ts_common__tls_new(cert, other, false, "tls_cert_file", "tls_key_file", NULL, &err));
    assert_string_equal(err.where, "tls_key_file");
    assert_non_null(strstr(err.msg, "is not the key of the certificate"));
    assert_non_null(strstr(err.msg, "tls_cert_file"));
    /* A key file others may read, unless allowed. */
    assert_int_equal(chmod(key, 0644), 0);
    ts_error_clear(&err);
    assert_null(ts_common__tls_new(cert, key, false, "tls_cert_file", "tls_key_file", NULL, &err));
    assert_non_null(strstr(err.msg, "chmod 600"));
    ts_common__tls *t =
        ts_common__tls_new(cert, key, true, "tls_cert_file", "tls_key_file", NULL, &err);
    assert_non_null(t);
    ts_common__tls_free(t);
    assert_int_equal(chmod(key, 0600), 0);
    /* A key in place of the certificate. */
    ts_error_clear(&err);
    assert_null(ts_common__tls_new(key, key, false, "tls_cert_file", "tls_key_file", NULL, &err));
    assert_string_equal(err.where, "tls_cert_file");
    /* A PKCS#11 URI without its module or PIN, and with a PIN in it. */
    ts_error_clear(&err);
    assert_null(ts_common__tls_new(cert, "pkcs11:token=t;object=k?pin-source=env:X", false,
                                   "tls_cert_file", "tls_key_file", NULL, &err));
    assert_non_null(strstr(err.msg, "names no module"));
    ts_error_clear(&err);
    assert_null(ts_common__tls_new(cert, "pkcs11:token=t;object=k?module-path=/x.so&pin-value=1",
                                   false, "tls_cert_file", "tls_key_file", NULL, &err));
    assert_non_null(strstr(err.msg, "pin-value is refused"));
    assert_null(strstr(err.msg, "=1"));
    ts_error_clear(&err);
    assert_null(ts_common__tls_new(cert, "pkcs11:token=t?module-path=%zz&pin-source=env:X", false,
                                   "tls_cert_file", "tls_key_file", NULL, &err));
    assert_non_null(strstr(err.msg, "percent-encoded"));
    assert_true(ts_common__tls_key_is_pkcs11("pkcs11:token=t"));
    assert_false(ts_common__tls_key_is_pkcs11("/etc/pkcs11:x"));
}

static void test_serve_and_reload(void **state)
{
    (void)state;
    install("one", "one");
    ts_error err;
    ts_error_clear(&err);
    ts_common__tls_info info;
    ts_common__tls *t = open_live(&info, &err);
    assert_non_null(t);
    assert_string_equal(info.serial, "11");
    assert_string_equal(info.subject, "CN=one");
    assert_int_equal(info.chain, 1);
    assert_non_null(strstr(info.key_type, "EC"));
    /* One per process: the certificate callback has no closure. */
    ts_error_clear(&err);
    assert_null(open_live(NULL, &err));
    assert_int_equal(err.code, TS_EUNSUPPORTED);
    assert_int_equal(handshake(t), 0x11);
    /* Nothing changed on disk: nothing read. */
    assert_int_equal(ts_common__tls_reload(t, true, &info, &err), TS_OK);
    assert_false(info.read);
    /* Forced, same content: read, no change. */
    assert_int_equal(ts_common__tls_reload(t, false, &info, &err), TS_OK);
    assert_true(info.read);
    assert_false(info.changed);
    /* New files: the next handshake has them. */
    install("two", "two");
    assert_int_equal(ts_common__tls_reload(t, true, &info, &err), TS_OK);
    assert_true(info.read && info.changed);
    assert_string_equal(info.serial, "22");
    assert_int_equal(handshake(t), 0x22);
    /* A bad pair: refused, the current one stays; not retried until the files change. */
    install("three", "one");
    ts_error_clear(&err);
    assert_int_equal(ts_common__tls_reload(t, true, &info, &err), TS_EINVAL);
    assert_string_equal(err.where, "tls_key_file");
    assert_int_equal(handshake(t), 0x22);
    assert_int_equal(ts_common__tls_reload(t, true, &info, &err), TS_OK);
    assert_false(info.read);
    assert_int_equal(ts_common__tls_current(t, &info), TS_OK);
    assert_string_equal(info.serial, "22");
    install("three", "three");
    assert_int_equal(ts_common__tls_reload(t, true, &info, &err), TS_OK);
    assert_true(info.changed);
    assert_int_equal(handshake(t), 0x33);
    ts_common__tls_free(t);
    /* The slot is free again. */
    t = open_live(NULL, &err);
    assert_non_null(t);
    ts_common__tls_free(t);
    ts_common__tls_free(NULL);
}

static void test_client_certs(void **state)
{
    (void)state;
    install("one", "one");
    ts_error err;
    ts_error_clear(&err);
    ts_common__tls *t = open_live(NULL, &err);
    assert_non_null(t);
    assert_null(ts_common__tls_client_trust(t));
    assert_int_equal(ts_common__tls_request_client_certs(t, "junk", 4, &err), TS_EINVAL);
    assert_null(ts_common__tls_client_trust(t));
    char p[128];
    path_of(p, sizeof p, "two.pem");
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    char pem[4096];
    size_t n = fread(pem, 1, sizeof pem, f);
    fclose(f);
    assert_int_equal(ts_common__tls_request_client_certs(t, pem, n, &err), TS_OK);
    assert_non_null(ts_common__tls_client_trust(t));
    assert_int_equal(strlen(ts_common__tls_client_trust(t)), n);
    assert_int_equal(ts_common__tls_request_client_certs(t, pem, n, &err), TS_EINVAL);
    /* A client without a certificate still completes the handshake: whether one is required
     * is the server's decision (gnutls_certificate_server_set_request). */
    assert_int_equal(handshake(t), 0x11);
    ts_common__tls_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_serve_and_reload),
        cmocka_unit_test(test_client_certs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
