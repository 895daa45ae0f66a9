/* The rotation state file (rotation.json) of a key directory and the scan of its key files. */
#define _POSIX_C_SOURCE 200809L

#include "keys_rotation.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "common/file.h"

/* The state file is small (64 keys at most); anything larger is not ours. */
#define STATE_MAX_BYTES (256u * 1024u)

static const char *const state_names[] = {"next", "active", "retiring", "retired"};

const char *ts_svc_key_state_name(ts_svc_key_state s)
{
    return (unsigned)s < 4u ? state_names[s] : "?";
}

static bool state_parse(const char *s, ts_svc_key_state *out)
{
    for (unsigned i = 0; i < 4u; i++) {
        if (s && strcmp(s, state_names[i]) == 0) {
            *out = (ts_svc_key_state)i;
            return true;
        }
    }
    return false;
}

static int state_path(char *buf, size_t cap, const char *dir)
{
    int n = snprintf(buf, cap, "%s/%s", dir, TS_SVC_ROTATION_STATE_FILE);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* A kid or file name from the state file must be one a scan could have produced: no path
 * separators beyond the archive prefix, no traversal. */
static bool safe_name(const char *s)
{
    if (!s || !*s || strstr(s, ".."))
        return false;
    const char *slash = strchr(s, '/');
    if (!slash)
        return true;
    return strncmp(s, TS_SVC_ROTATION_ARCHIVE_DIR "/", sizeof TS_SVC_ROTATION_ARCHIVE_DIR) == 0 &&
           !strchr(slash + 1, '/');
}

static int64_t int_member(const json_t *o, const char *name)
{
    const json_t *v = json_object_get(o, name);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static bool copy_str(char *dst, size_t cap, const json_t *o, const char *name)
{
    const char *s = json_string_value(json_object_get(o, name));
    if (!s || strlen(s) >= cap)
        return false;
    memcpy(dst, s, strlen(s) + 1);
    return true;
}

ts_status ts_svc__rotation_load(const char *dir, ts_svc_rotation_state *st, ts_error *err)
{
    memset(st, 0, sizeof *st);
    char path[PATH_MAX];
    if (state_path(path, sizeof path, dir) != 0)
        return ts_error_set(err, TS_EINVAL, dir, "path too long");
    char *text = NULL;
    size_t len = 0;
    ts_status rc = ts_common__read_file(path, STATE_MAX_BYTES, TS_COMMON__READ_MISSING_NOTFOUND,
                                        &text, &len, err);
    if (rc == TS_ENOTFOUND) {
        ts_error_clear(err);
        return TS_OK;
    }
    if (rc != TS_OK)
        return rc;
    json_error_t je;
    json_t *root = json_loadb(text, len, 0, &je);
    free(text);
    const json_t *keys = json_object_get(root, "keys");
    if (!json_is_array(keys)) {
        json_decref(root);
        return ts_error_set(err, TS_EPARSE, path, "not a rotation state file (%s)",
                            root ? "no keys array" : je.text);
    }
    size_t i;
    const json_t *k;
    json_array_foreach(keys, i, k)
    {
        if (st->n == TS_SVC_ROTATION_MAX_KEYS)
            break;
        ts_svc_rotation_key *r = &st->keys[st->n];
        const char *state = json_string_value(json_object_get(k, "state"));
        /* A token's key has a label and no file; a key file a file name. */
        bool in_token = copy_str(r->label, sizeof r->label, k, "label") && r->label[0];
        if (!copy_str(r->kid, sizeof r->kid, k, "kid") ||
            (!in_token && (!copy_str(r->file, sizeof r->file, k, "file") || !safe_name(r->file))) ||
            strchr(r->kid, '/') || !state_parse(state, &r->state)) {
            json_decref(root);
            return ts_error_set(err, TS_EPARSE, path, "key %zu is malformed", i);
        }
        if (!copy_str(r->alg, sizeof r->alg, k, "alg"))
            r->alg[0] = '\0';
        r->created = int_member(k, "created");
        r->activated = int_member(k, "activated");
        r->deactivated = int_member(k, "deactivated");
        r->retires_at = int_member(k, "retires_at");
        r->retired = int_member(k, "retired");
        st->n++;
    }
    json_decref(root);
    return TS_OK;
}

static void set_time(json_t *o, const char *name, int64_t t)
{
    if (t)
        json_object_set_new(o, name, json_integer((json_int_t)t));
}

ts_status ts_svc__rotation_save(const char *dir, const ts_svc_rotation_state *st, ts_error *err)
{
    char path[PATH_MAX];
    if (state_path(path, sizeof path, dir) != 0)
        return ts_error_set(err, TS_EINVAL, dir, "path too long");
    json_t *root = json_object(), *keys = json_array();
    json_object_set_new(root, "version", json_integer(1));
    for (size_t i = 0; i < st->n; i++) {
        const ts_svc_rotation_key *r = &st->keys[i];
        json_t *o = json_object();
        json_object_set_new(o, "kid", json_string(r->kid));
        if (r->label[0])
            json_object_set_new(o, "label", json_string(r->label));
        else
            json_object_set_new(o, "file", json_string(r->file));
        json_object_set_new(o, "alg", json_string(r->alg));
        json_object_set_new(o, "state", json_string(ts_svc_key_state_name(r->state)));
        set_time(o, "created", r->created);
        set_time(o, "activated", r->activated);
        set_time(o, "deactivated", r->deactivated);
        set_time(o, "retires_at", r->retires_at);
        set_time(o, "retired", r->retired);
        json_array_append_new(keys, o);
    }
    json_object_set_new(root, "keys", keys);
    char *text = json_dumps(root, JSON_INDENT(2));
    json_decref(root);
    if (!text)
        return ts_error_set(err, TS_ENOMEM, path, "out of memory");
    ts_status rc = ts_common__write_file_atomic(path, text, strlen(text), 0600, err);
    free(text);
    return rc;
}

/* The algorithm a key file's key signs with, as far as the key alone says: RSA keys sign with
 * PS256 or RS256 as the service is configured ("RSA" here). */
static void key_alg(const ts_jwk *key, char *out, size_t cap)
{
    const char *crv = ts_jwk_kty(key) == TS_JWK_EC ? ts_jwk_curve(key) : NULL;
    snprintf(out, cap, "%s",
             ts_jwk_kty(key) != TS_JWK_EC   ? "RSA"
             : crv && !strcmp(crv, "P-256") ? "ES256"
             : crv && !strcmp(crv, "P-384") ? "ES384"
                                            : "?");
}

static bool is_pem(const char *name)
{
    size_t l = strlen(name);
    return name[0] != '.' && l > 4 && strcmp(name + l - 4, ".pem") == 0;
}

static ts_status load_kid(const char *path, char *kid, char *alg, size_t alg_cap, ts_error *err)
{
    ts_jwk *key = ts_jwk_load_file(path, err);
    if (!key)
        return err && err->code ? err->code : TS_EINVAL;
    snprintf(kid, TS_JOSE_THUMBPRINT_LEN + 1, "%s", ts_jwk_thumbprint(key));
    if (alg)
        key_alg(key, alg, alg_cap);
    ts_jwk_free(key);
    return TS_OK;
}

/* A file named <kid>.pem that the state file knows by that kid is not read again: a check
 * every few seconds on every replica then costs a directory listing, not a key parse. */
static bool known_kid(const ts_svc_rotation_state *known, const char *name, ts_svc_rotation_file *f)
{
    for (size_t i = 0; known && i < known->n; i++) {
        const ts_svc_rotation_key *k = &known->keys[i];
        size_t kl = strlen(k->kid);
        if (k->state == TS_SVC_KEY_RETIRED || strcmp(k->file, name) != 0 ||
            strncmp(name, k->kid, kl) != 0 || strcmp(name + kl, ".pem") != 0)
            continue;
        snprintf(f->kid, sizeof f->kid, "%s", k->kid);
        snprintf(f->alg, sizeof f->alg, "%s", k->alg);
        return true;
    }
    return false;
}

ts_status ts_svc__rotation_scan(const char *dir, const ts_svc_rotation_state *known,
                                ts_svc_rotation_file *files, size_t cap, size_t *n,
                                char *active_kid, bool *active_is_link, ts_error *err)
{
    *n = 0;
    active_kid[0] = '\0';
    *active_is_link = false;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return TS_OK;
        return ts_error_set(err, TS_EIO, dir, "cannot read key directory: %s", strerror(errno));
    }
    char newest[NAME_MAX + 1] = "";
    struct timespec newest_t = {0, 0};
    ts_status rc = TS_OK;
    bool has_active = false;
    char link_to[NAME_MAX + 1] = "";
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!is_pem(de->d_name))
            continue;
        char path[PATH_MAX];
        int l = snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (l < 0 || (size_t)l >= sizeof path) {
            rc = ts_error_set(err, TS_EINVAL, dir, "path too long");
            break;
        }
        struct stat sb, lsb;
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode) || lstat(path, &lsb) != 0)
            continue;
        if (strcmp(de->d_name, "active.pem") == 0) {
            has_active = true;
            *active_is_link = S_ISLNK(lsb.st_mode);
            ssize_t tl = *active_is_link ? readlink(path, link_to, sizeof link_to - 1) : -1;
            link_to[tl > 0 ? tl : 0] = '\0';
            if (strchr(link_to, '/'))
                link_to[0] = '\0'; /* only a name in this directory is resolved from the list */
            if (!link_to[0] && (rc = load_kid(path, active_kid, NULL, 0, err)) != TS_OK)
                break;
            continue;
        }
        if (*n == cap) {
            rc = ts_error_set(err, TS_ELIMIT, dir, "more than %zu keys", cap);
            break;
        }
        ts_svc_rotation_file *f = &files[*n];
        if (strlen(de->d_name) >= sizeof f->name)
            continue;
        snprintf(f->name, sizeof f->name, "%s", de->d_name);
        if (!known_kid(known, f->name, f) &&
            (rc = load_kid(path, f->kid, f->alg, sizeof f->alg, err)) != TS_OK)
            break;
        (*n)++;
        /* The rule of ts_svc_keyset_open() without active.pem: newest, ties the greatest name. */
        bool newer = sb.st_mtim.tv_sec > newest_t.tv_sec ||
                     (sb.st_mtim.tv_sec == newest_t.tv_sec &&
                      (sb.st_mtim.tv_nsec > newest_t.tv_nsec ||
                       (sb.st_mtim.tv_nsec == newest_t.tv_nsec && strcmp(f->name, newest) > 0)));
        if (!newest[0] || newer) {
            newest_t = sb.st_mtim;
            snprintf(newest, sizeof newest, "%s", f->name);
            if (!has_active)
                snprintf(active_kid, TS_JOSE_THUMBPRINT_LEN + 1, "%s", f->kid);
        }
    }
    closedir(d);
    if (rc == TS_OK && link_to[0]) {
        for (size_t i = 0; i < *n; i++)
            if (strcmp(files[i].name, link_to) == 0)
                snprintf(active_kid, TS_JOSE_THUMBPRINT_LEN + 1, "%s", files[i].kid);
    }
    return rc;
}
