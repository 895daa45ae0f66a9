/*
 * The policy bundle document: read a policy directory into one, write it as JSON, and parse and
 * check one that came from the network. The reading follows the authz loader's rules for
 * fragment files (authz/src/contract/fragments.c) with the public API only; the commands then
 * load what they read with the loader itself and compare policy_versions, so a difference
 * between the two walks can only stop a publication, never change a policy silently.
 */
#define _XOPEN_SOURCE 700

#include "policy_bundle_doc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "common/file.h"
#include "common/json_load.h"

#define WHERE "bundle"

void ts_cli_bundle_doc_init(ts_cli_bundle_doc *d)
{
    memset(d, 0, sizeof *d);
}

void ts_cli_bundle_doc_cleanup(ts_cli_bundle_doc *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n_files; i++) {
        free(d->files[i].name);
        free(d->files[i].text);
    }
    free(d->files);
    free(d->model);
    ts_cli_bundle_doc_init(d);
}

static bool name_char(char c, bool first)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
        return true;
    return !first && (c == '.' || c == '_' || c == '-');
}

bool ts_cli_bundle_name_ok(const char *name, size_t len)
{
    if (len < 5 || len > TS_CLI_BUNDLE_MAX_NAME || memcmp(name + len - 4, ".csv", 4) != 0)
        return false;
    for (size_t i = 0; i < len - 4; i++)
        if (!name_char(name[i], i == 0))
            return false;
    return true;
}

/* A name as a message may show it: quoted, cut, anything unprintable as '?'. */
static void shown_name(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    if (cap < 8)
        return;
    out[o++] = '"';
    for (size_t i = 0; i < n && o + 5 < cap; i++)
        out[o++] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"') ? s[i] : '?';
    if (n > 0 && o + 5 >= cap)
        out[o++] = '.', out[o++] = '.', out[o++] = '.';
    out[o++] = '"';
    out[o] = '\0';
}

/* ---- reading a policy directory ------------------------------------------------------------ */

static ts_status add_file(ts_cli_bundle_doc *d, const char *name, char *text, size_t len,
                          ts_error *err)
{
    if (d->n_files >= TS_CLI_BUNDLE_MAX_FILES) {
        free(text);
        return ts_error_set(err, TS_ELIMIT, WHERE, "more than %u fragment files",
                            TS_CLI_BUNDLE_MAX_FILES);
    }
    ts_cli_bundle_file *nf = realloc(d->files, (d->n_files + 1) * sizeof *nf);
    char *copy = nf ? strdup(name) : NULL;
    if (nf)
        d->files = nf;
    if (!copy) {
        free(text);
        return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    }
    d->files[d->n_files++] = (ts_cli_bundle_file){copy, text, len};
    return TS_OK;
}

/* One fragment's bytes, as they are; @p open_path is the file to open (a symlink's target). */
static ts_status read_one(ts_cli_bundle_doc *d, const char *shown, const char *open_path,
                          const char *name, ts_error *err)
{
    if (!ts_cli_bundle_name_ok(name, strlen(name)))
        return ts_error_set(err, TS_EINVAL, shown,
                            "a bundle carries only names of [A-Za-z0-9][A-Za-z0-9._-]*.csv "
                            "(at most %u characters); rename the file",
                            TS_CLI_BUNDLE_MAX_NAME);
    struct stat st;
    if (stat(open_path, &st) != 0)
        return ts_error_set(err, TS_EIO, shown, "%s", strerror(errno));
    if (!S_ISREG(st.st_mode))
        return ts_error_set(err, TS_EINVAL, shown, "not a regular file");
    char *text = NULL;
    size_t len = 0;
    ts_status s = ts_common__read_file(open_path, TS_CLI_BUNDLE_MAX_TEXT, TS_COMMON__READ_NO_NUL,
                                       &text, &len, err);
    if (s != TS_OK) {
        /* The error names the resolved path for a link: name the entry instead. */
        if (err && open_path != shown)
            snprintf(err->where, sizeof err->where, "%s", shown);
        return s;
    }
    return add_file(d, name, text, len, err);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool loader_name(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n > 4 && strcmp(name + n - 4, ".csv") == 0;
}

/* One entry, with the loader's rule for links: followed only when the resolved target lies in
 * the resolved directory (ConfigMap volumes are made of x.csv -> ..data/x.csv links), so that
 * what is published is what a service reading the directory would load. */
static ts_status read_entry(ts_cli_bundle_doc *d, const char *dir_real, const char *path,
                            const char *name, ts_error *err)
{
    struct stat lst;
    if (lstat(path, &lst) != 0)
        return ts_error_set(err, TS_EIO, path, "%s", strerror(errno));
    if (!S_ISLNK(lst.st_mode))
        return S_ISDIR(lst.st_mode) ? TS_OK : read_one(d, path, path, name, err);
    char *resolved = realpath(path, NULL);
    if (!resolved)
        return ts_error_set(err, TS_EIO, path, "symlink does not resolve: %s", strerror(errno));
    size_t dl = strlen(dir_real);
    bool inside = strncmp(resolved, dir_real, dl) == 0 &&
                  (resolved[dl] == '/' || (dl == 1 && dir_real[0] == '/'));
    struct stat st;
    ts_status s = TS_OK;
    if (!inside)
        s = ts_error_set(err, TS_EINVAL, path,
                         "symlink leaves the policy directory (resolves to %s)", resolved);
    else if (stat(resolved, &st) == 0 && S_ISDIR(st.st_mode))
        s = TS_OK;
    else
        s = read_one(d, path, resolved, name, err);
    free(resolved);
    return s;
}

ts_status ts_cli_bundle_doc_read_dir(ts_cli_bundle_doc *d, const char *dir, ts_error *err)
{
    char *dir_real = realpath(dir, NULL);
    if (!dir_real)
        return ts_error_set(err, TS_EIO, dir, "policy directory: %s", strerror(errno));
    DIR *dh = opendir(dir_real);
    if (!dh) {
        int e = errno;
        free(dir_real);
        return ts_error_set(err, TS_EIO, dir, "policy directory: %s", strerror(e));
    }
    char **names = NULL;
    size_t n = 0;
    ts_status st = TS_OK;
    for (struct dirent *de; st == TS_OK && (de = readdir(dh)) != NULL;) {
        if (!loader_name(de->d_name))
            continue;
        char **nn = n < TS_CLI_BUNDLE_MAX_FILES ? realloc(names, (n + 1) * sizeof *nn) : NULL;
        char *copy = nn ? strdup(de->d_name) : NULL;
        if (nn)
            names = nn;
        if (n >= TS_CLI_BUNDLE_MAX_FILES)
            st = ts_error_set(err, TS_ELIMIT, dir, "more than %u fragment files",
                              TS_CLI_BUNDLE_MAX_FILES);
        else if (!copy)
            st = ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
        else
            names[n++] = copy;
    }
    closedir(dh);
    if (st == TS_OK && n > 0)
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; st == TS_OK && i < n; i++) {
        char path[PATH_MAX];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= sizeof path)
            st = ts_error_set(err, TS_EINVAL, dir, "path too long");
        else
            st = read_entry(d, dir_real, path, names[i], err);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(dir_real);
    return st;
}

ts_status ts_cli_bundle_doc_read_file(ts_cli_bundle_doc *d, const char *path, ts_error *err)
{
    const char *slash = strrchr(path, '/');
    return read_one(d, path, path, slash ? slash + 1 : path, err);
}

ts_status ts_cli_bundle_doc_read_model(ts_cli_bundle_doc *d, const char *path, ts_error *err)
{
    char *text = NULL;
    size_t len = 0;
    ts_status s = ts_common__read_file(path, TS_CLI_BUNDLE_MAX_MODEL, TS_COMMON__READ_NO_NUL, &text,
                                       &len, err);
    if (s != TS_OK)
        return s;
    free(d->model);
    d->model = text;
    d->model_len = len;
    return TS_OK;
}

/* ---- writing ------------------------------------------------------------------------------- */

static ts_status set_text(json_t *o, const char *key, const char *text, size_t len,
                          const char *shown, ts_error *err)
{
    json_t *s = json_stringn(text, len);
    if (!s)
        return ts_error_set(err, TS_EINVAL, shown, "not UTF-8 text: a bundle cannot carry it");
    if (json_object_set_new(o, key, s) != 0)
        return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    return TS_OK;
}

ts_status ts_cli_bundle_doc_dump(const ts_cli_bundle_doc *d, char **out, size_t *len, ts_error *err)
{
    *out = NULL;
    *len = 0;
    json_t *root = json_object(), *files = json_array();
    ts_status s = root && files ? TS_OK : ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    if (s == TS_OK)
        s = set_text(root, "format", TS_CLI_BUNDLE_FORMAT, strlen(TS_CLI_BUNDLE_FORMAT), WHERE,
                     err);
    if (s == TS_OK)
        s = set_text(root, "policy_version", d->policy_version, strlen(d->policy_version), WHERE,
                     err);
    if (s == TS_OK && d->model)
        s = set_text(root, "model", d->model, d->model_len, "model", err);
    for (size_t i = 0; s == TS_OK && i < d->n_files; i++) {
        json_t *f = json_object();
        if (!f || json_array_append_new(files, f) != 0) {
            s = ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
            break;
        }
        s = set_text(f, "name", d->files[i].name, strlen(d->files[i].name), d->files[i].name, err);
        if (s == TS_OK)
            s = set_text(f, "text", d->files[i].text, d->files[i].len, d->files[i].name, err);
    }
    if (s == TS_OK && json_object_set(root, "files", files) != 0)
        s = ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    char *text = s == TS_OK
                     ? json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII)
                     : NULL;
    json_decref(files);
    json_decref(root);
    if (s != TS_OK)
        return s;
    size_t n = text ? strlen(text) : 0;
    char *nl = text ? realloc(text, n + 2) : NULL;
    if (!nl) {
        free(text);
        return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    }
    nl[n] = '\n';
    nl[n + 1] = '\0';
    *out = nl;
    *len = n + 1;
    return TS_OK;
}

/* ---- parsing ------------------------------------------------------------------------------- */

bool ts_cli_bundle_version_ok(const char *s, size_t n)
{
    if (n != TS_AUTHZ_POLICY_VERSION_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* A string member: its bytes, or an error naming @p member (absent counts as wrong type). */
static ts_status get_string(json_t *o, const char *key, const char *member, const char **s,
                            size_t *n, ts_error *err)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return ts_error_set(err, TS_EINVAL, WHERE, "%s: missing", member);
    if (!json_is_string(v))
        return ts_error_set(err, TS_ETYPE, WHERE, "%s: not a string", member);
    *s = json_string_value(v);
    *n = json_string_length(v);
    return TS_OK;
}

static ts_status parse_file(json_t *f, size_t i, ts_cli_bundle_doc *out, ts_error *err)
{
    char member[48], shown[80];
    if (!json_is_object(f))
        return ts_error_set(err, TS_ETYPE, WHERE, "files[%zu]: not an object", i);
    const char *name, *text;
    size_t nlen, tlen;
    snprintf(member, sizeof member, "files[%zu].name", i);
    ts_status s = get_string(f, "name", member, &name, &nlen, err);
    if (s != TS_OK)
        return s;
    shown_name(name, nlen, shown, sizeof shown);
    if (memchr(name, '\0', nlen) || !ts_cli_bundle_name_ok(name, nlen))
        return ts_error_set(err, TS_EINVAL, WHERE, "%s: %s is not a fragment name", member, shown);
    for (size_t k = 0; k < out->n_files; k++)
        if (strcmp(out->files[k].name, name) == 0)
            return ts_error_set(err, TS_EINVAL, WHERE, "%s: %s appears twice (files[%zu])", member,
                                shown, k);
    snprintf(member, sizeof member, "files[%zu].text", i);
    if ((s = get_string(f, "text", member, &text, &tlen, err)) != TS_OK)
        return s;
    if (tlen > TS_CLI_BUNDLE_MAX_TEXT)
        return ts_error_set(err, TS_ELIMIT, WHERE, "%s: larger than %u bytes", member,
                            TS_CLI_BUNDLE_MAX_TEXT);
    if (memchr(text, '\0', tlen))
        return ts_error_set(err, TS_EINVAL, WHERE, "%s: holds a NUL byte", member);
    /* Neither holds a NUL (checked above), so strndup copies all of it. */
    char *ct = strndup(text, tlen);
    if (!ct)
        return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    return add_file(out, name, ct, tlen, err);
}

static ts_status parse_root(json_t *root, ts_cli_bundle_doc *out, ts_error *err)
{
    const char *s;
    size_t n;
    if (!json_is_object(root))
        return ts_error_set(err, TS_ETYPE, WHERE, "the document is not a JSON object");
    ts_status st = get_string(root, "format", "format", &s, &n, err);
    if (st != TS_OK)
        return st;
    if (n != strlen(TS_CLI_BUNDLE_FORMAT) || memcmp(s, TS_CLI_BUNDLE_FORMAT, n) != 0)
        return ts_error_set(err, TS_EINVAL, WHERE, "format: not \"%s\"", TS_CLI_BUNDLE_FORMAT);
    if ((st = get_string(root, "policy_version", "policy_version", &s, &n, err)) != TS_OK)
        return st;
    if (!ts_cli_bundle_version_ok(s, n))
        return ts_error_set(err, TS_EINVAL, WHERE,
                            "policy_version: not 64 lowercase hex characters");
    memcpy(out->policy_version, s, n + 1);
    json_t *model = json_object_get(root, "model");
    if (model) {
        if (!json_is_string(model))
            return ts_error_set(err, TS_ETYPE, WHERE, "model: not a string");
        n = json_string_length(model);
        if (n > TS_CLI_BUNDLE_MAX_MODEL)
            return ts_error_set(err, TS_ELIMIT, WHERE, "model: larger than %u bytes",
                                TS_CLI_BUNDLE_MAX_MODEL);
        if (memchr(json_string_value(model), '\0', n))
            return ts_error_set(err, TS_EINVAL, WHERE, "model: holds a NUL byte");
        if (!(out->model = strndup(json_string_value(model), n)))
            return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
        out->model_len = n;
    }
    json_t *files = json_object_get(root, "files");
    if (!files)
        return ts_error_set(err, TS_EINVAL, WHERE, "files: missing");
    if (!json_is_array(files))
        return ts_error_set(err, TS_ETYPE, WHERE, "files: not an array");
    if (json_array_size(files) > TS_CLI_BUNDLE_MAX_FILES)
        return ts_error_set(err, TS_ELIMIT, WHERE, "files: more than %u files",
                            TS_CLI_BUNDLE_MAX_FILES);
    for (size_t i = 0; st == TS_OK && i < json_array_size(files); i++)
        st = parse_file(json_array_get(files, i), i, out, err);
    return st;
}

ts_status ts_cli_bundle_doc_parse(const char *text, size_t len, size_t max_bytes,
                                  ts_cli_bundle_doc *out, ts_error *err)
{
    ts_cli_bundle_doc_init(out);
    if (max_bytes == 0)
        max_bytes = TS_CLI_BUNDLE_MAX_DOC;
    if (len > max_bytes)
        return ts_error_set(err, TS_ELIMIT, WHERE, "the document is larger than %zu bytes",
                            max_bytes);
    json_error_t je;
    /* NULs are let through jansson so that the check below can name the member. */
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!root) {
        if (ts_common__json_load_oom(&je))
            return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
        /* jansson quotes the text "near" the error: bytes of the body, which logs never get. */
        char *near = strstr(je.text, " near ");
        if (near)
            *near = '\0';
        return ts_error_set(err, TS_EPARSE, WHERE, "not a JSON document: %s (line %d)", je.text,
                            je.line);
    }
    ts_status s = parse_root(root, out, err);
    json_decref(root);
    if (s != TS_OK)
        ts_cli_bundle_doc_cleanup(out);
    return s;
}
