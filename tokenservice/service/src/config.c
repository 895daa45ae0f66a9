/* Configuration: the settings table, values, defaults, the config file, derived values. */
#define _POSIX_C_SOURCE 200809L

#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "common/conninfo.h"
#include "common/file.h"
#include "keys_p11uri.h"

typedef struct setting {
    const char *key, *flag, *env;
    ts_svc_value_spec spec;
    size_t off;
    const char *def, *help;
} setting;

#define ROW(id, key, flag, env, kind, min, max, choices, field, def, arg, help)                    \
    {key,                                                                                          \
     flag,                                                                                         \
     env,                                                                                          \
     {TS_SVC_K_##kind, min, TS_SVC_ROW_MAX(max, field), choices},                                  \
     offsetof(ts_svc_config, field),                                                               \
     def,                                                                                          \
     help},

static const setting settings[] = {TS_SVC_SETTINGS(ROW)};
#undef ROW

#define N_SETTINGS (sizeof settings / sizeof settings[0])

/* ------------------------------------------------------------------------------------------ */
/* Setting fields                                                                             */

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

static ts_status replace_port(ts_svc_config *c, const char *port, const char *where, ts_error *err)
{
    const char *colon = strrchr(c->listen, ':');
    size_t hl = colon ? (size_t)(colon - c->listen) : strlen(c->listen);
    char host[TS_SVC_STR];
    snprintf(host, sizeof host, "%.*s", (int)hl, c->listen);
    int n = snprintf(c->listen, sizeof c->listen, "%s:%s", host, port);
    if (n < 0 || (size_t)n >= sizeof c->listen)
        return ts_error_set(err, TS_EINVAL, where, "listen address too long");
    return TS_OK;
}

/* Numeric fields by kind: durations are int64_t, counts unsigned, factors int, flags bool. */
static void put_num(const setting *st, char *f, int64_t n)
{
    unsigned u = (unsigned)n;
    int i = (int)n;
    bool b = n != 0;
    if (st->spec.kind == TS_SVC_K_DUR)
        memcpy(f, &n, sizeof n);
    else if (st->spec.kind == TS_SVC_K_UINT)
        memcpy(f, &u, sizeof u);
    else if (st->spec.kind == TS_SVC_K_INT)
        memcpy(f, &i, sizeof i);
    else
        memcpy(f, &b, sizeof b);
}

static int64_t get_num(const setting *st, const char *f)
{
    int64_t n;
    unsigned u;
    int i;
    bool b;
    if (st->spec.kind == TS_SVC_K_DUR)
        return memcpy(&n, f, sizeof n), n;
    if (st->spec.kind == TS_SVC_K_UINT)
        return memcpy(&u, f, sizeof u), u;
    if (st->spec.kind == TS_SVC_K_INT)
        return memcpy(&i, f, sizeof i), i;
    return memcpy(&b, f, sizeof b), b;
}

static ts_status set_one(ts_svc_config *c, const setting *st, const char *value, const char *where,
                         ts_error *err)
{
    int64_t n;
    ts_status s = ts_svc_value_parse(&st->spec, value, &n, where, err);
    if (s != TS_OK)
        return s;
    if (st->spec.kind == TS_SVC_K_PORT)
        return replace_port(c, value, where, err);
    if (is_text(st->spec.kind)) /* the length was checked against the field */
        memcpy((char *)c + st->off, value, strlen(value) + 1);
    else
        put_num(st, (char *)c + st->off, n);
    return TS_OK;
}

ts_status ts_svc_config_set(ts_svc_config *c, const char *key, const char *value, const char *where,
                            ts_error *err)
{
    const setting *st = find(key);
    if (!st)
        return ts_error_set(err, TS_ENOTFOUND, where ? where : key, "unknown setting");
    return set_one(c, st, value, where ? where : key, err);
}

/* The current value of a non-port setting as text (what a flag would give). */
static void value_text(const ts_svc_config *c, const setting *st, char *buf, size_t cap)
{
    const char *field = (const char *)c + st->off;
    if (is_text(st->spec.kind))
        snprintf(buf, cap, "%s", field);
    else if (st->spec.kind == TS_SVC_K_BOOL)
        snprintf(buf, cap, "%s", get_num(st, field) ? "true" : "false");
    else
        snprintf(buf, cap, "%lld", (long long)get_num(st, field));
}

ts_status ts_svc_config_get(const ts_svc_config *c, const char *key, char *buf, size_t cap,
                            ts_error *err)
{
    const setting *st = find(key);
    if (!st || st->spec.kind == TS_SVC_K_PORT)
        return ts_error_set(err, TS_ENOTFOUND, key, "no such setting with a value of its own");
    value_text(c, st, buf, cap);
    return TS_OK;
}

void ts_svc_config_defaults(ts_svc_config *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (settings[i].def[0] && settings[i].spec.kind != TS_SVC_K_PORT)
            (void)set_one(c, &settings[i], settings[i].def, settings[i].key, NULL);
    /* The Go original's table, for providers without group_scopes of their own. */
    static const char *const g[][2] = {{"admin", "admin write read"},
                                       {"operator", "write read"},
                                       {"viewer", "read"},
                                       {"user", "read"}};
    for (unsigned i = 0; i < 4; i++) {
        snprintf(c->groups[i], sizeof c->groups[i], "%s", g[i][0]);
        snprintf(c->group_scopes[i], sizeof c->group_scopes[i], "%s", g[i][1]);
    }
    c->n_groups = 4;
}

/* ------------------------------------------------------------------------------------------ */
/* The config file                                                                            */

static ts_status load_groups(ts_svc_config *c, json_t *obj, const char *path, ts_error *err)
{
    char where[TS_SVC_PATH + 64];
    if (!json_is_object(obj)) {
        snprintf(where, sizeof where, "%s: groupScopes", path);
        return ts_error_set(err, TS_EINVAL, where, "must be an object");
    }
    c->n_groups = 0;
    const char *g;
    json_t *arr;
    json_object_foreach(obj, g, arr)
    {
        snprintf(where, sizeof where, "%s: groupScopes.%s", path, g);
        if (c->n_groups == TS_SVC_MAX_GROUPS)
            return ts_error_set(err, TS_ELIMIT, where, "more than %d groups", TS_SVC_MAX_GROUPS);
        if (!*g || strlen(g) >= sizeof c->groups[0])
            return ts_error_set(err, TS_EINVAL, where, "empty or overlong group name");
        if (!json_is_array(arr))
            return ts_error_set(err, TS_EINVAL, where, "must be an array of scope strings");
        char *out = c->group_scopes[c->n_groups];
        size_t o = 0, i;
        json_t *v;
        json_array_foreach(arr, i, v)
        {
            const char *sc = json_string_value(v);
            if (!sc || !*sc || strpbrk(sc, " \t\r\n\"\\"))
                return ts_error_set(err, TS_EINVAL, where, "element %zu is not a scope token", i);
            size_t l = strlen(sc);
            if (o + l + 2 > sizeof c->group_scopes[0])
                return ts_error_set(err, TS_ELIMIT, where, "scopes too long");
            if (o)
                out[o++] = ' ';
            memcpy(out + o, sc, l);
            o += l;
        }
        out[o] = '\0';
        snprintf(c->groups[c->n_groups], sizeof c->groups[0], "%s", g);
        c->n_groups++;
    }
    return TS_OK;
}

/* A structured member (`oidc`, `clients`, `serviceIdentity`) kept as compact JSON in @p dst
 * (@p cap bytes): here only its shape (an array or an object) and its size; its members are
 * checked where they are used (oidc's configuration, clients.c, mtls_rules.c). @p secret: the
 * text may hold secrets (client secrets) and is wiped before release. */
static ts_status load_json(json_t *v, bool array, bool secret, char *dst, size_t cap,
                           const char *where, ts_error *err)
{
    if (array ? !json_is_array(v) : !json_is_object(v))
        return ts_error_set(err, TS_EINVAL, where,
                            array ? "must be an array" : "must be an object");
    char *t = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!t)
        return ts_error_set(err, TS_ENOMEM, where, "out of memory");
    size_t tl = strlen(t);
    ts_status st = TS_OK;
    if (tl >= cap)
        st = ts_error_set(err, TS_ELIMIT, where, "larger than %zu bytes", cap - 1);
    else
        memcpy(dst, t, tl + 1);
    if (secret)
        for (volatile char *w = t; *w; w++)
            *w = '\0';
    free(t);
    return st;
}

/* Whether some setting lives in the object member @p name ("claims" for "claims.nist"). */
static bool is_object_prefix(const char *name)
{
    size_t l = strlen(name);
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (strncmp(settings[i].key, name, l) == 0 && settings[i].key[l] == '.')
            return true;
    return false;
}

/* A member's value as the text a flag would give; NULL for a JSON type the setting refuses. */
static const char *json_text(const setting *row, json_t *v, char buf[32])
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_boolean(v) && row->spec.kind == TS_SVC_K_BOOL)
        return json_is_true(v) ? "true" : "false";
    if (!json_is_integer(v) || is_text(row->spec.kind) || row->spec.kind == TS_SVC_K_BOOL)
        return NULL;
    snprintf(buf, 32, "%lld", (long long)json_integer_value(v));
    return buf;
}

static ts_status load_object(ts_svc_config *c, json_t *obj, const char *prefix, const char *path,
                             ts_error *err)
{
    const char *k, *text;
    json_t *v, *port = NULL;
    char where[TS_SVC_PATH + 96], full[64], buf[32];
    json_object_foreach(obj, k, v)
    {
        if (strncmp(k, "//", 2) == 0)
            continue; /* comment members of the generated file */
        snprintf(full, sizeof full, "%s%s", prefix, k);
        snprintf(where, sizeof where, "%s: %s", path, full);
        ts_status st = TS_OK;
        const setting *row = find(full);
        if (!*prefix && strcmp(k, "groupScopes") == 0) {
            st = load_groups(c, v, path, err);
        } else if (!*prefix && strcmp(k, "oidc") == 0) {
            st = load_json(v, false, false, c->oidc, sizeof c->oidc, where, err);
        } else if (!*prefix && strcmp(k, "clients") == 0) {
            st = load_json(v, true, true, c->clients, sizeof c->clients, where, err);
        } else if (!*prefix && strcmp(k, "serviceIdentity") == 0) {
            st = load_json(v, false, false, c->service_identity, sizeof c->service_identity, where,
                           err);
        } else if (!*prefix && is_object_prefix(k)) {
            snprintf(full, sizeof full, "%s.", k);
            st = json_is_object(v) ? load_object(c, v, full, path, err)
                                   : ts_error_set(err, TS_EINVAL, where, "must be an object");
        } else if (!row) {
            st = ts_error_set(err, TS_EINVAL, where, "unknown setting");
        } else if (row->spec.kind == TS_SVC_K_PORT) {
            port = v; /* applied after listen, wherever it stands */
        } else {
            st = (text = json_text(row, v, buf)) != NULL
                     ? set_one(c, row, text, where, err)
                     : ts_error_set(err, TS_EINVAL, where, "wrong JSON type");
        }
        if (st != TS_OK)
            return st;
    }
    if (!port)
        return TS_OK;
    snprintf(where, sizeof where, "%s: port", path);
    if (!(text = json_text(find("port"), port, buf)))
        return ts_error_set(err, TS_EINVAL, where, "wrong JSON type");
    return set_one(c, find("port"), text, where, err);
}

ts_status ts_svc_config_load_buffer(ts_svc_config *c, const char *text, size_t len,
                                    const char *name, ts_error *err)
{
    if (len > TS_SVC_CONFIG_MAX_BYTES)
        return ts_error_set(err, TS_ELIMIT, name, "configuration larger than %u bytes",
                            TS_SVC_CONFIG_MAX_BYTES);
    if (memchr(text, '\0', len))
        return ts_error_set(err, TS_EPARSE, name, "the configuration contains a NUL byte");
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        char where[TS_SVC_PATH + 32];
        snprintf(where, sizeof where, "%s:%d", name, je.line);
        return ts_error_set(err, TS_EPARSE, where, "%s", je.text);
    }
    ts_status st;
    if (!json_is_object(root))
        st = ts_error_set(err, TS_EPARSE, name, "the configuration must be a JSON object");
    else
        st = load_object(c, root, "", name, err);
    json_decref(root);
    return st;
}

ts_status ts_svc_config_load_file(ts_svc_config *c, const char *path, ts_error *err)
{
    /* One byte over the bound, so that the parser's own size message is the one seen. */
    char *buf = NULL;
    size_t len = 0;
    ts_status st = ts_common__read_file(path, TS_SVC_CONFIG_MAX_BYTES + 1, 0, &buf, &len, err);
    if (st == TS_OK)
        st = ts_svc_config_load_buffer(c, buf, len, path, err);
    free(buf);
    return st;
}

/* ------------------------------------------------------------------------------------------ */
/* Derived values and rules across settings                                                   */

/* http://HOST:PORT of the listen address; a wildcard host is replaced by this machine's name,
 * since clients elsewhere cannot reach 0.0.0.0. */
static ts_status issuer_from_listen(ts_svc_config *c, ts_error *err)
{
    char host[TS_SVC_STR];
    const char *colon = strrchr(c->listen, ':');
    size_t hl = colon ? (size_t)(colon - c->listen) : strlen(c->listen);
    snprintf(host, sizeof host, "%.*s", (int)hl, c->listen);
    if (!host[0] || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "[::]") == 0) {
        if (gethostname(host, sizeof host - 1) != 0 || !host[0])
            snprintf(host, sizeof host, "localhost");
        host[sizeof host - 1] = '\0';
    }
    int n = snprintf(c->issuer, sizeof c->issuer, "%s://%s:%s",
                     c->tls_cert_file[0] ? "https" : "http", host, colon ? colon + 1 : "");
    if (n < 0 || (size_t)n >= sizeof c->issuer)
        return ts_error_set(err, TS_EINVAL, "issuer", "derived from listen: too long");
    c->issuer_follows_listen = true;
    return TS_OK;
}

static ts_status join(char *dst, size_t cap, const char *dir, const char *name, ts_error *err)
{
    int n = snprintf(dst, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap)
        return ts_error_set(err, TS_EINVAL, "home", "path too long");
    return TS_OK;
}

ts_status ts_svc_config_finish(ts_svc_config *c, ts_error *err)
{
    /* Fields may have been set directly: every one is checked again, naming its key. */
    for (size_t i = 0; i < N_SETTINGS; i++) {
        if (settings[i].spec.kind == TS_SVC_K_PORT)
            continue;
        char text[TS_SVC_PATH];
        value_text(c, &settings[i], text, sizeof text);
        ts_status st = ts_svc_value_parse(&settings[i].spec, text, NULL, settings[i].key, err);
        if (st != TS_OK)
            return st;
    }
    bool p11 = strcmp(c->key_backend, "pkcs11") == 0;
    /* keyBackend pkcs11 with rotation: keyDir (default <home>/keys) is where the rotation
     * state is (rotation.json, rotation.lock; no key files), next to the keyFile URI. */
    bool p11_rot = p11 && c->key_rotation_interval_s > 0;
    if (c->key_file[0] && c->key_dir[0] && !(p11_rot && ts_svc_p11_is_uri(c->key_file)))
        return ts_error_set(err, TS_EINVAL, "keyFile",
                            "keyFile and keyDir are both set: give one of them");
    /* Rotation makes, moves and removes key files: a lone keyFile has no directory to keep a
     * next key or the state in. A token's keys are made in the token, their state kept in a
     * directory. */
    if (c->key_rotation_interval_s > 0 && c->key_file[0] && !p11)
        return ts_error_set(err, TS_EINVAL, "keyRotationInterval",
                            "automatic rotation needs keyDir (the next and retiring keys and "
                            "rotation.json live in it), not keyFile");
    if (c->key_rotation_interval_s > 0 &&
        c->key_rotation_interval_s <= c->key_rotation_prepublish_s + 60)
        return ts_error_set(err, TS_EINVAL, "keyRotationInterval",
                            "must be longer than keyRotationPrepublish plus a minute");
    char p11_state_dir[sizeof c->key_dir] = "";
    if (p11_rot) { /* the token's settings allow no keyDir: it names no key here */
        memcpy(p11_state_dir, c->key_dir, sizeof p11_state_dir);
        c->key_dir[0] = '\0';
    }
    ts_status kst = ts_svc_p11_config_key_file(c, err);
    if (p11_rot)
        memcpy(c->key_dir, p11_state_dir, sizeof p11_state_dir);
    if (kst != TS_OK)
        return kst;
    if (!c->home[0])
        snprintf(c->home, sizeof c->home, "%s", find("home")->def);
    ts_status st = TS_OK;
    if (!c->key_file[0] && !c->key_dir[0])
        st = join(c->key_dir, sizeof c->key_dir, c->home, "keys", err);
    if (st == TS_OK && p11_rot && !c->key_dir[0] && strlen(c->home) + 6 > sizeof c->key_dir)
        return ts_error_set(err, TS_EINVAL, "keyRotationInterval",
                            "keyBackend pkcs11 keeps the rotation state in keyDir (default "
                            "<home>/keys), and that path is too long");
    if (st == TS_OK && !c->store[0])
        st = join(c->store, sizeof c->store, c->home, "tokensmith.db", err);
    if (st == TS_OK && !c->issuer[0])
        st = issuer_from_listen(c, err);
    if (st != TS_OK)
        return st;
    if (c->nist_claims && !c->auth_level[0])
        return ts_error_set(err, TS_EINVAL, "claims.authLevel", "must not be empty");
    return TS_OK;
}
