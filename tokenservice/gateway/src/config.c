/* The gateway's configuration: defaults, one scalar setting by its JSON path (checked by the
 * token service's value parser, so that a value means the same for serve and the gateway), the
 * rules across members, and freeing. The config file is config_file.c's. */
#define _POSIX_C_SOURCE 200809L

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/http_client.h" /* ts_common__http_url_allowed */
#include "config.h"             /* the service's value parser and kinds */
#include "gateway.h"
#include "gateway_config.h"
#include "gateway_settings.h"
#include "keys_p11uri.h"

typedef struct setting {
    const char *key;
    ts_svc_value_spec spec;
    size_t off;
    const char *field; /* the member's name: a DUR field ending in "_ms" holds milliseconds */
    const char *def;
} setting;

#define ROW(id, key, flag, env, kind, min, max, choices, field, def, arg, help)                    \
    {key,                                                                                          \
     {TS_SVC_K_##kind, min, TS_GATEWAY_ROW_MAX(max, field), choices},                              \
     offsetof(ts_gateway_config, field),                                                           \
     #field,                                                                                       \
     def},

static const setting settings[] = {TS_GATEWAY_SETTINGS(ROW)};
#undef ROW

#define N_SETTINGS (sizeof settings / sizeof settings[0])

static bool in_ms(const setting *st)
{
    size_t l = strlen(st->field);
    return st->spec.kind == TS_SVC_K_DUR && l > 3 && strcmp(st->field + l - 3, "_ms") == 0;
}

static const setting *find(const char *key)
{
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (strcmp(settings[i].key, key) == 0)
            return &settings[i];
    return NULL;
}

static bool is_text(ts_svc_kind k)
{
    return k <= TS_SVC_K_LOCAL_LISTEN || k == TS_SVC_K_ENUM;
}

bool ts_gateway__setting_kind(const char *key, ts_gateway__json_kind *kind)
{
    const setting *st = find(key);
    if (!st)
        return false;
    *kind = is_text(st->spec.kind)           ? TS_GATEWAY__JSON_TEXT
            : st->spec.kind == TS_SVC_K_BOOL ? TS_GATEWAY__JSON_BOOL
                                             : TS_GATEWAY__JSON_NUMBER;
    return true;
}

bool ts_gateway__setting_object(const char *name)
{
    size_t l = strlen(name);
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (strncmp(settings[i].key, name, l) == 0 && settings[i].key[l] == '.')
            return true;
    return false;
}

/* Numeric fields by kind: durations int64_t (seconds, or milliseconds for *_ms), counts
 * unsigned, flags bool. */
static void put_num(const setting *st, char *f, int64_t n)
{
    unsigned u = (unsigned)n;
    bool b = n != 0;
    if (st->spec.kind == TS_SVC_K_DUR) {
        int64_t v = in_ms(st) ? n * 1000 : n;
        memcpy(f, &v, sizeof v);
    } else if (st->spec.kind == TS_SVC_K_UINT) {
        memcpy(f, &u, sizeof u);
    } else {
        memcpy(f, &b, sizeof b);
    }
}

static int64_t get_num(const setting *st, const char *f)
{
    int64_t n;
    unsigned u;
    bool b;
    if (st->spec.kind == TS_SVC_K_DUR)
        return memcpy(&n, f, sizeof n), in_ms(st) ? n / 1000 : n;
    if (st->spec.kind == TS_SVC_K_UINT)
        return memcpy(&u, f, sizeof u), u;
    return memcpy(&b, f, sizeof b), b;
}

/* The one rule the service's kinds cannot express: grpc_listen "" = off, else HOST:PORT. */
static ts_status check_value(const setting *st, const char *text, int64_t *n, const char *where,
                             ts_error *err)
{
    ts_status s = ts_svc_value_parse(&st->spec, text, n, where, err);
    if (s == TS_OK && strcmp(st->key, "grpc_listen") == 0 && *text) {
        const ts_svc_value_spec listen = {TS_SVC_K_LISTEN, 0, st->spec.max, NULL};
        s = ts_svc_value_parse(&listen, text, NULL, where, err);
    }
    return s;
}

static ts_status set_one(ts_gateway_config *cfg, const setting *st, const char *text,
                         const char *where, ts_error *err)
{
    int64_t n = 0;
    ts_status s = check_value(st, text, &n, where, err);
    if (s != TS_OK)
        return s;
    if (is_text(st->spec.kind)) /* the length was checked against the field */
        memcpy((char *)cfg + st->off, text, strlen(text) + 1);
    else
        put_num(st, (char *)cfg + st->off, n);
    return TS_OK;
}

ts_gateway_config *ts_gateway_config_new(ts_error *err)
{
    ts_gateway_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg) {
        ts_error_set(err, TS_ENOMEM, "gateway", "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (settings[i].def[0])
            (void)set_one(cfg, &settings[i], settings[i].def, settings[i].key, NULL);
    return cfg;
}

void ts_gateway_config_free(ts_gateway_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->authz.scope_roles);
    free(cfg->authz.routes);
    free(cfg->authz.public_paths);
    free(cfg->trust);
    OPENSSL_cleanse(cfg, sizeof *cfg);
    free(cfg);
}

ts_status ts_gateway_config_set(ts_gateway_config *cfg, const char *key, const char *text,
                                const char *where, ts_error *err)
{
    const setting *st = find(key);
    if (!where)
        where = key;
    if (!st)
        return ts_error_set(err, TS_EINVAL, where, "%s: unknown setting", key);
    return set_one(cfg, st, text, where, err);
}

/* The value of a row as text, as a flag would give it (durations in seconds). */
static void value_text(const ts_gateway_config *cfg, const setting *st, char *buf, size_t cap)
{
    const char *field = (const char *)cfg + st->off;
    if (is_text(st->spec.kind))
        snprintf(buf, cap, "%s", field);
    else if (st->spec.kind == TS_SVC_K_BOOL)
        snprintf(buf, cap, "%s", get_num(st, field) ? "true" : "false");
    else
        snprintf(buf, cap, "%lld", (long long)get_num(st, field));
}

/* A route's audience must be one per object: the mapper answers with the object only. */
static ts_status check_routes(const ts_gateway_config *cfg, ts_error *err)
{
    for (size_t i = 0; i < cfg->authz.n_routes; i++) {
        const ts_gateway_route *r = &cfg->authz.routes[i];
        for (size_t j = 0; j < i; j++) {
            const ts_gateway_route *q = &cfg->authz.routes[j];
            if (strcmp(q->object, r->object) == 0 && strcmp(q->audience, r->audience) != 0)
                return ts_error_set(err, TS_EINVAL, "authz.routes",
                                    "authz.routes[%zu].audience: routes[%zu] has the same object "
                                    "with another audience",
                                    i, j);
        }
    }
    return TS_OK;
}

/* A trust entry's revocation list (also for entries made in code, which the file's checks
 * never saw). The list must be allowed to miss a poll before it counts as stale: a max_stale
 * no longer than the poll interval would have a fail-closed gateway refuse every token of the
 * issuer between two polls. */
static ts_status check_revocations(const ts_gateway_trust *t, size_t i, ts_error *err)
{
    if (!t->revocations[0])
        return TS_OK;
    if (!ts_common__http_url_allowed(t->revocations, false))
        return ts_error_set(err, TS_EINVAL, "trust",
                            "trust[%zu].revocations: not https:// (or http:// to a loopback host)",
                            i);
    if (t->revocations_poll_s < 1 || t->revocations_poll_s > TS_GATEWAY_REVOCATIONS_POLL_MAX_S)
        return ts_error_set(err, TS_EINVAL, "trust",
                            "trust[%zu].revocations_poll: not a duration between 1s and %ds", i,
                            TS_GATEWAY_REVOCATIONS_POLL_MAX_S);
    if (t->revocations_max_stale_s < 1 ||
        t->revocations_max_stale_s > TS_GATEWAY_REVOCATIONS_MAX_STALE_MAX_S)
        return ts_error_set(err, TS_EINVAL, "trust",
                            "trust[%zu].revocations_max_stale: not a duration between 1s and %ds",
                            i, TS_GATEWAY_REVOCATIONS_MAX_STALE_MAX_S);
    if (t->revocations_max_stale_s <= t->revocations_poll_s)
        return ts_error_set(err, TS_EINVAL, "trust",
                            "trust[%zu].revocations_max_stale: must be longer than "
                            "revocations_poll (%llds)",
                            i, (long long)t->revocations_poll_s);
    return TS_OK;
}

/* key_backend pkcs11: the key is in a token, named by the pkcs11: URI that the token
 * service's keyring opens (keys_p11uri.h), so that the gateway signs through the same code
 * as `tokensmith serve`. A setting left out is named when the keys are opened. */
static ts_status pkcs11_key_file(ts_gateway_config *cfg, ts_error *err)
{
    cfg->key_file[0] = '\0';
    if (strcmp(cfg->key_backend, "pkcs11") != 0)
        return TS_OK;
    if (cfg->key_dir[0])
        return ts_error_set(err, TS_EINVAL, "key_dir",
                            "key_dir: does not apply with key_backend pkcs11 (the key is in the "
                            "token)");
    if (cfg->pkcs11_pin_file[0] && cfg->pkcs11_pin_env[0])
        return ts_error_set(err, TS_EINVAL, "pkcs11_pin_file",
                            "pkcs11_pin_file and pkcs11_pin_env are both set: give one of them");
    return ts_svc_p11_uri_of(cfg->pkcs11_module, cfg->pkcs11_token_label, cfg->pkcs11_key_label,
                             cfg->pkcs11_pin_file, cfg->pkcs11_pin_env, cfg->key_file,
                             sizeof cfg->key_file, err);
}

ts_status ts_gateway_config_finish(ts_gateway_config *cfg, ts_error *err)
{
    /* Fields may have been set directly: every one is checked again, naming its key. */
    for (size_t i = 0; i < N_SETTINGS; i++) {
        char text[TS_GATEWAY_PATH];
        value_text(cfg, &settings[i], text, sizeof text);
        ts_status st = check_value(&settings[i], text, NULL, settings[i].key, err);
        if (st != TS_OK)
            return st;
    }
    if (!cfg->issuer[0])
        return ts_error_set(err, TS_EINVAL, "issuer",
                            "issuer: required (iss of translated "
                            "tokens)");
    if (!cfg->translate.audience[0])
        return ts_error_set(err, TS_EINVAL, "translate.audience",
                            "translate.audience: required (aud of translated tokens)");
    if (cfg->n_trust == 0)
        return ts_error_set(err, TS_EINVAL, "trust", "trust: at least one issuer is required");
    for (size_t i = 0; i < cfg->n_trust; i++)
        if (!cfg->trust[i].issuer[0] || cfg->trust[i].n_audiences == 0)
            return ts_error_set(err, TS_EINVAL, "trust",
                                "trust[%zu]: an issuer and at least one audience are required", i);
    ts_status st = TS_OK;
    for (size_t i = 0; st == TS_OK && i < cfg->n_trust; i++)
        st = check_revocations(&cfg->trust[i], i, err);
    if (st == TS_OK)
        st = check_routes(cfg, err);
    if (st != TS_OK)
        return st;
    st = pkcs11_key_file(cfg, err);
    if (st != TS_OK)
        return st;
    if (!cfg->tls_cert_file[0] != !cfg->tls_key_file[0])
        return ts_error_set(err, TS_EINVAL,
                            cfg->tls_cert_file[0] ? "tls_key_file" : "tls_cert_file",
                            "tls_cert_file and tls_key_file: both or neither");
    if (cfg->tls_client_ca_file[0] && !cfg->tls_cert_file[0])
        return ts_error_set(err, TS_EINVAL, "tls_client_ca_file",
                            "tls_client_ca_file: needs tls_cert_file and tls_key_file (HTTPS)");
    /* Derived values last, so that a configuration refused above is left as it was. */
    if (!cfg->home[0])
        snprintf(cfg->home, sizeof cfg->home, "%s", find("home")->def);
    if (!cfg->key_file[0] && !cfg->key_dir[0]) {
        int n = snprintf(cfg->key_dir, sizeof cfg->key_dir, "%s/keys", cfg->home);
        if (n < 0 || (size_t)n >= sizeof cfg->key_dir) {
            cfg->key_dir[0] = '\0';
            return ts_error_set(err, TS_EINVAL, "home", "home: too long for <home>/keys");
        }
    }
    return TS_OK;
}
