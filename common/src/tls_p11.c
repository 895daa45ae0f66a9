/* A TLS server key inside a PKCS#11 token: the pkcs11: URI (RFC 7512) split into what GnuTLS
 * opens (the path: token, object, ...) and what tokensmith does itself (the module to load,
 * where the PIN is), the module loaded into GnuTLS once per process, the key opened with the
 * PIN. Same URI form as the signing key's: the PIN's place is named, never the PIN. */
#define _GNU_SOURCE

#include "tls_p11.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/pkcs11.h>

#include "common/tls_server.h"

#define MAX_URI 2048
#define MAX_PIN 256
#define MAX_MODULES 8

struct ts_common__tls_p11_pin {
    char pin[MAX_PIN];
    size_t len;
};

/* The modules loaded into GnuTLS: once each per process (a second add_provider of one module
 * would initialise it twice). */
static pthread_mutex_t modules_mu = PTHREAD_MUTEX_INITIALIZER;
static char *modules[MAX_MODULES];
static size_t n_modules;
static bool pkcs11_manual;

bool ts_common__tls_key_is_pkcs11(const char *key_file)
{
    return key_file && strncmp(key_file, "pkcs11:", 7) == 0;
}

void ts_common__tls_p11_pin_free(ts_common__tls_p11_pin *pin)
{
    if (!pin)
        return;
    explicit_bzero(pin, sizeof *pin);
    free(pin);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode @p n bytes of @p s into @p out (@p cap); false on a bad escape, a NUL, or no
 * room. */
static bool pct_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)
                return false;
            c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        }
        if (c == '\0' || o + 1 >= cap)
            return false;
        out[o++] = c;
    }
    out[o] = '\0';
    return true;
}

/* The query of the URI: module-path and pin-source, each once; anything else refused. */
static ts_status parse_query(const char *q, const char *setting, char *module, size_t mcap,
                             char *pin_source, size_t pcap, ts_error *err)
{
    while (q && *q) {
        const char *end = strchr(q, '&');
        size_t n = end ? (size_t)(end - q) : strlen(q);
        const char *eq = memchr(q, '=', n);
        size_t kl = eq ? (size_t)(eq - q) : n;
        const char *v = eq ? eq + 1 : q + n;
        size_t vl = (size_t)(q + n - v);
        char *dst = NULL;
        size_t cap = 0;
        if (kl == 11 && memcmp(q, "module-path", 11) == 0) {
            dst = module;
            cap = mcap;
        } else if (kl == 10 && memcmp(q, "pin-source", 10) == 0) {
            dst = pin_source;
            cap = pcap;
        } else if (kl == 9 && memcmp(q, "pin-value", 9) == 0) {
            return ts_error_set(err, TS_EINVAL, setting,
                                "pin-value is refused (a PIN in a setting ends up in logs and "
                                "process lists): use pin-source=file: or env:");
        } else {
            return ts_error_set(err, TS_EINVAL, setting,
                                "unknown attribute '%.*s' in the pkcs11: URI's query (only "
                                "module-path and pin-source)",
                                (int)(kl > 40 ? 40 : kl), q);
        }
        if (dst[0] || !pct_decode(v, vl, dst, cap) || !dst[0])
            return ts_error_set(err, TS_EINVAL, setting,
                                "the pkcs11: URI's %.*s is empty, repeated, too long or badly "
                                "percent-encoded",
                                (int)kl, q);
        q = end ? end + 1 : NULL;
    }
    return TS_OK;
}

/* Load @p module into GnuTLS unless it already is. */
static ts_status add_module(const char *module, const char *setting, ts_error *err)
{
    ts_status st = TS_OK;
    pthread_mutex_lock(&modules_mu);
    for (size_t i = 0; i < n_modules; i++)
        if (strcmp(modules[i], module) == 0)
            goto out;
    /* Only the modules tokensmith is told about: not every module p11-kit has registered. */
    if (!pkcs11_manual) {
        int rc = gnutls_pkcs11_init(GNUTLS_PKCS11_FLAG_MANUAL, NULL);
        if (rc < 0) {
            st = ts_error_set(err, TS_EIO, setting, "GnuTLS cannot set up PKCS#11: %s",
                              gnutls_strerror(rc));
            goto out;
        }
        pkcs11_manual = true;
    }
    if (n_modules == MAX_MODULES) {
        st = ts_error_set(err, TS_ELIMIT, setting, "more than %d PKCS#11 modules", MAX_MODULES);
        goto out;
    }
    char *copy = strdup(module);
    if (!copy) {
        st = ts_error_set(err, TS_ENOMEM, setting, "out of memory");
        goto out;
    }
    int rc = gnutls_pkcs11_add_provider(module, NULL);
    if (rc < 0) {
        free(copy);
        st = ts_error_set(err, TS_EIO, setting, "cannot load the PKCS#11 module %s: %s", module,
                          gnutls_strerror(rc));
        goto out;
    }
    modules[n_modules++] = copy;
out:
    pthread_mutex_unlock(&modules_mu);
    return st;
}

/* The PIN from a file (its first line; mode 0600 unless allowed) or a variable. */
static ts_status read_pin(const char *source, bool allow_insecure, const char *setting,
                          ts_common__tls_p11_pin *pin, ts_error *err)
{
    const char *v = NULL;
    size_t n = 0;
    char *bytes = NULL;
    if (strncmp(source, "env:", 4) == 0) {
        v = getenv(source + 4);
        if (!v || !v[0])
            return ts_error_set(err, TS_EINVAL, setting,
                                "pin-source %s: the variable is not set or empty", source);
        n = strlen(v);
    } else if (strncmp(source, "file:", 5) == 0) {
        ts_status st = ts_common__tls_read_file(source + 5, setting, MAX_PIN, true, allow_insecure,
                                                &bytes, &n, err);
        if (st != TS_OK)
            return st;
        v = bytes;
        while (n > 0 && (v[n - 1] == '\n' || v[n - 1] == '\r'))
            n--;
    } else {
        return ts_error_set(err, TS_EINVAL, setting, "pin-source must be file:PATH or env:NAME");
    }
    ts_status st = TS_OK;
    if (n == 0 || n >= sizeof pin->pin)
        st =
            ts_error_set(err, TS_EINVAL, setting, "the PIN of pin-source %.*s is empty or too long",
                         (int)strcspn(source, ":"), source);
    else {
        memcpy(pin->pin, v, n);
        pin->pin[n] = '\0';
        pin->len = n;
    }
    if (bytes) {
        explicit_bzero(bytes, n);
        free(bytes);
    }
    return st;
}

/* gnutls_pin_callback_t: the PIN read at load; a second ask for the same login means it was
 * wrong, and a token locks after a few wrong tries. */
static int pin_callback(void *userdata, int attempt, const char *token_url, const char *token_label,
                        unsigned int flags, char *out, size_t out_max)
{
    (void)token_url;
    (void)token_label;
    ts_common__tls_p11_pin *pin = userdata;
    if (!pin || attempt > 0 || (flags & GNUTLS_PIN_WRONG) || pin->len + 1 > out_max)
        return -1;
    memcpy(out, pin->pin, pin->len + 1);
    return 0;
}

ts_status ts_common__tls_p11_import(gnutls_privkey_t key, const char *uri, bool allow_insecure,
                                    const char *setting, ts_common__tls_p11_pin **pin_out,
                                    ts_error *err)
{
    *pin_out = NULL;
    size_t len = strlen(uri);
    if (len >= MAX_URI)
        return ts_error_set(err, TS_EINVAL, setting, "the pkcs11: URI is longer than %d bytes",
                            MAX_URI - 1);
    const char *qm = strchr(uri, '?');
    size_t path_len = qm ? (size_t)(qm - uri) : len;
    char module[1024] = "", source[1024] = "";
    ts_status st =
        parse_query(qm ? qm + 1 : NULL, setting, module, sizeof module, source, sizeof source, err);
    if (st != TS_OK)
        return st;
    if (!module[0])
        return ts_error_set(err, TS_EINVAL, setting,
                            "the pkcs11: URI names no module (?module-path=/path/to/module.so)");
    if (!source[0])
        return ts_error_set(err, TS_EINVAL, setting,
                            "the pkcs11: URI names no PIN (pin-source=file:PATH or env:NAME)");
    ts_common__tls_p11_pin *pin = calloc(1, sizeof *pin);
    if (!pin)
        return ts_error_set(err, TS_ENOMEM, setting, "out of memory");
    st = read_pin(source, allow_insecure, setting, pin, err);
    if (st == TS_OK)
        st = add_module(module, setting, err);
    char path[MAX_URI];
    snprintf(path, sizeof path, "%.*s", (int)path_len, uri);
    if (st == TS_OK) {
        gnutls_privkey_set_pin_function(key, pin_callback, pin);
        int rc = gnutls_privkey_import_url(key, path, 0);
        if (rc < 0)
            st = ts_error_set(
                err, TS_EIO, setting, "cannot open the key %s: %s%s", path, gnutls_strerror(rc),
                rc == GNUTLS_E_PKCS11_PIN_ERROR ? " (the PIN of pin-source is wrong)" : "");
    }
    if (st != TS_OK) {
        ts_common__tls_p11_pin_free(pin);
        return st;
    }
    *pin_out = pin;
    return TS_OK;
}
