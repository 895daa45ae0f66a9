/* The pkcs11: URI (RFC 7512) that names a token key in the keyFile setting: what
 * `keyBackend: pkcs11` and its settings become (ts_svc_p11_config_key_file()), so that every
 * command that opens the service's keys from keyFile (serve, user-token create) reaches the token
 * the same way. It names where the PIN is (pin-source), never the PIN: pin-value is refused. */
#include "keys_p11uri.h"

#include "config.h"

#include <stdio.h>
#include <string.h>

#include "common/hex.h"

#define SCHEME "pkcs11:"

bool ts_svc_p11_is_uri(const char *key_file)
{
    return key_file && strncmp(key_file, SCHEME, sizeof SCHEME - 1) == 0;
}

/* RFC 3986 unreserved characters go as they are, everything else percent-encoded: '/' too, so
 * that the URI has no directory part for code that handles keyFile as a file name (no
 * directory is ever made for it). */
static bool plain(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* Append @p v percent-encoded; false when @p cap is reached. */
static bool put(char *buf, size_t cap, size_t *n, const char *lit, const char *v)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *lit; lit++) {
        if (*n + 1 >= cap)
            return false;
        buf[(*n)++] = *lit;
    }
    for (const unsigned char *p = (const unsigned char *)v; v && *p; p++) {
        if (*n + (plain(*p) ? 1 : 3) >= cap)
            return false;
        if (plain(*p)) {
            buf[(*n)++] = (char)*p;
        } else {
            buf[(*n)++] = '%';
            buf[(*n)++] = hex[*p >> 4];
            buf[(*n)++] = hex[*p & 15];
        }
    }
    buf[*n] = '\0';
    return true;
}

ts_status ts_svc_p11_uri_format(const ts_svc_p11_options *o, char *buf, size_t cap, ts_error *err)
{
    size_t n = 0;
    bool ok = cap > 0 && put(buf, cap, &n, SCHEME "token=", o->token_label) &&
              put(buf, cap, &n, ";object=", o->key_label) &&
              put(buf, cap, &n, ";type=private?module-path=", o->module) &&
              (o->pin_env[0]    ? put(buf, cap, &n, "&pin-source=env:", o->pin_env)
               : o->pin_file[0] ? put(buf, cap, &n, "&pin-source=file:", o->pin_file)
                                : true);
    if (!ok)
        return ts_error_set(err, TS_ELIMIT, "keyBackend",
                            "the pkcs11 settings are longer than keyFile holds (%zu bytes)",
                            cap ? cap - 1 : 0);
    return TS_OK;
}

/* Decode [s, e) into @p out (NUL-terminated). A NUL byte or a bad escape is refused. */
static bool decode(const char *s, const char *e, char *out, size_t cap)
{
    size_t n = 0;
    while (s < e) {
        int c = (unsigned char)*s;
        if (c == '%') {
            int h = e - s >= 3 ? ts_common__hexval(s[1]) : -1,
                l = e - s >= 3 ? ts_common__hexval(s[2]) : -1;
            if (h < 0 || l < 0)
                return false;
            c = h * 16 + l;
            s += 3;
        } else {
            s++;
        }
        if (c == 0 || n + 1 >= cap)
            return false;
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return true;
}

/* One attribute name=value in [s, e); query attributes when @p query. */
static ts_status attribute(const char *s, const char *e, bool query, ts_svc_p11_options *o,
                           ts_error *err)
{
    const char *eq = memchr(s, '=', (size_t)(e - s));
    if (!eq)
        return ts_error_set(err, TS_EINVAL, "keyFile", "pkcs11 URI: \"%.*s\" is not name=value",
                            (int)(e - s > 40 ? 40 : e - s), s);
    size_t nl = (size_t)(eq - s);
    const char *v = eq + 1;
#define IS(name) (nl == sizeof(name) - 1 && memcmp(s, name, nl) == 0)
    bool ok = true;
    if (!query && IS("token")) {
        ok = decode(v, e, o->token_label, sizeof o->token_label);
    } else if (!query && IS("object")) {
        ok = decode(v, e, o->key_label, sizeof o->key_label);
    } else if (!query && IS("type")) {
        ok = (size_t)(e - v) == 7 && memcmp(v, "private", 7) == 0;
    } else if (query && IS("module-path")) {
        ok = decode(v, e, o->module, sizeof o->module);
    } else if (query && IS("pin-source")) {
        char src[TS_SVC_P11_PATH + 8];
        ok = decode(v, e, src, sizeof src);
        if (ok && strncmp(src, "env:", 4) == 0 && src[4] && strlen(src + 4) < sizeof o->pin_env)
            snprintf(o->pin_env, sizeof o->pin_env, "%s", src + 4);
        else if (ok && strncmp(src, "file:", 5) == 0 && src[5] &&
                 strlen(src + 5) < sizeof o->pin_file)
            snprintf(o->pin_file, sizeof o->pin_file, "%s", src + 5);
        else
            ok = false;
    } else if (query && IS("pin-value")) {
        return ts_error_set(err, TS_EINVAL, "keyFile",
                            "pkcs11 URI: pin-value is refused (a PIN in a setting ends up in "
                            "logs and process lists): use pin-source=file: or env:");
    } else {
        return ts_error_set(err, TS_EINVAL, "keyFile", "pkcs11 URI: unknown attribute \"%.*s\"",
                            (int)(nl > 40 ? 40 : nl), s);
    }
#undef IS
    if (!ok)
        return ts_error_set(err, TS_EINVAL, "keyFile", "pkcs11 URI: bad value of \"%.*s\"",
                            (int)(nl > 40 ? 40 : nl), s);
    return TS_OK;
}

ts_status ts_svc_p11_uri_parse(const char *uri, ts_svc_p11_options *o, ts_error *err)
{
    memset(o, 0, sizeof *o);
    if (!ts_svc_p11_is_uri(uri))
        return ts_error_set(err, TS_EINVAL, "keyFile", "not a pkcs11: URI");
    const char *s = uri + sizeof SCHEME - 1, *end = s + strlen(s);
    const char *q = strchr(s, '?');
    const char *path_end = q ? q : end;
    for (const char *a = s; a < path_end;) {
        const char *b = memchr(a, ';', (size_t)(path_end - a));
        if (!b)
            b = path_end;
        if (b > a && attribute(a, b, false, o, err) != TS_OK)
            return err ? err->code : TS_EINVAL;
        a = b + 1;
    }
    for (const char *a = q ? q + 1 : end; a < end;) {
        const char *b = memchr(a, '&', (size_t)(end - a));
        if (!b)
            b = end;
        if (b > a && attribute(a, b, true, o, err) != TS_OK)
            return err ? err->code : TS_EINVAL;
        a = b + 1;
    }
    /* What is missing is named by its setting: the URI is usually made from them. */
    if (!o->module[0])
        return ts_error_set(err, TS_EINVAL, "pkcs11Module",
                            "required with keyBackend pkcs11 (the URI has no module-path)");
    if (!o->token_label[0])
        return ts_error_set(err, TS_EINVAL, "pkcs11TokenLabel",
                            "required with keyBackend pkcs11 (the URI has no token)");
    if (!o->key_label[0])
        return ts_error_set(err, TS_EINVAL, "pkcs11KeyLabel",
                            "required with keyBackend pkcs11 (the URI has no object)");
    if (!o->pin_file[0] && !o->pin_env[0])
        return ts_error_set(err, TS_EINVAL, "pkcs11PinFile",
                            "keyBackend pkcs11 needs pkcs11PinFile or pkcs11PinEnv (the URI has "
                            "no pin-source)");
    return TS_OK;
}

/* keyBackend pkcs11: its settings become the pkcs11: URI in keyFile (keys_pkcs11.h), which
 * every command that opens the service's keys from keyFile follows to the token. A keyFile
 * that already holds such a URI (a second finish, or one given directly) is rebuilt. Settings
 * missing from it are named when the keys are opened (ts_svc_p11_uri_parse()), so that each
 * setting can be given and read back on its own; pkcs11* settings without keyBackend pkcs11
 * are not used. */
ts_status ts_svc_p11_config_key_file(ts_svc_config *c, ts_error *err)
{
    if (strcmp(c->key_backend, "pkcs11") != 0)
        return TS_OK;
    if (c->key_dir[0] || (c->key_file[0] && !ts_svc_p11_is_uri(c->key_file)))
        return ts_error_set(err, TS_EINVAL, c->key_dir[0] ? "keyDir" : "keyFile",
                            "does not apply with keyBackend pkcs11 (the key is in the token; "
                            "keyDir holds the rotation state only with keyRotationInterval)");
    if (c->pkcs11_pin_file[0] && c->pkcs11_pin_env[0])
        return ts_error_set(err, TS_EINVAL, "pkcs11PinFile",
                            "pkcs11PinFile and pkcs11PinEnv are both set: give one of them");
    return ts_svc_p11_uri_of(c->pkcs11_module, c->pkcs11_token_label, c->pkcs11_key_label,
                             c->pkcs11_pin_file, c->pkcs11_pin_env, c->key_file, sizeof c->key_file,
                             err);
}

ts_status ts_svc_p11_uri_of(const char *module, const char *token_label, const char *key_label,
                            const char *pin_file, const char *pin_env, char *buf, size_t cap,
                            ts_error *err)
{
    ts_svc_p11_options o;
    memset(&o, 0, sizeof o);
    snprintf(o.module, sizeof o.module, "%s", module);
    snprintf(o.token_label, sizeof o.token_label, "%s", token_label);
    snprintf(o.key_label, sizeof o.key_label, "%s", key_label);
    snprintf(o.pin_file, sizeof o.pin_file, "%s", pin_file);
    snprintf(o.pin_env, sizeof o.pin_env, "%s", pin_env);
    return ts_svc_p11_uri_format(&o, buf, cap, err);
}
