/* Files: atomic writes, whole-file reads, policy fragment directories. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/file.h"
#include "testutil_internal.h"

#define MAX_READ (64u << 20)
#define MAX_NAMES 256u

ts_status ts_testutil_write_file(const char *path, const void *data, size_t len, ts_error *err)
{
    if (!path || (len && !data))
        return ts_error_set(err, TS_EINVAL, "write", "path and data are required");
    /* The mode fopen() gives (0666 less the umask): fixtures are ordinary files, not secrets. */
    return ts_common__write_file_atomic(path, data, len, 0666, err);
}

ts_status ts_testutil_read_file(const char *path, char **out, size_t *len, ts_error *err)
{
    if (!path || !out)
        return ts_error_set(err, TS_EINVAL, "read", "path and out are required");
    return ts_common__read_file(path, MAX_READ, 0, out, len, err);
}

static bool fragment_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    return n > 4 && n < 200 && name[0] != '.' && !strchr(name, '/') &&
           strcmp(name + n - 4, ".csv") == 0;
}

ts_status ts_testutil_write_fragment(const char *dir, const char *name, const char *const *lines,
                                     size_t n, ts_error *err)
{
    if (!dir || !fragment_name_ok(name) || (n && !lines))
        return ts_error_set(err, TS_EINVAL, name ? name : "name",
                            "need a directory and a plain file name ending in .csv");
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!lines[i])
            return ts_error_set(err, TS_EINVAL, name, "line %zu is NULL", i);
        total += strlen(lines[i]) + 1;
    }
    char *text = malloc(total + 1);
    size_t plen = strlen(dir) + strlen(name) + 2;
    char *path = malloc(plen);
    ts_status st;
    if (!text || !path) {
        st = ts_error_set(err, TS_ENOMEM, name, "out of memory");
    } else {
        size_t pos = 0;
        for (size_t i = 0; i < n; i++) {
            size_t l = strlen(lines[i]);
            memcpy(text + pos, lines[i], l);
            pos += l;
            text[pos++] = '\n';
        }
        snprintf(path, plen, "%s/%s", dir, name);
        st = ts_testutil_write_file(path, text, pos, err);
    }
    free(text);
    free(path);
    return st;
}

struct ts_testutil_policy_dir {
    char *path;
    char *names[MAX_NAMES]; /* fragments written through this object */
    size_t nnames;
};

ts_testutil_policy_dir *ts_testutil_policy_dir_new(ts_error *err)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    ts_testutil_policy_dir *d = calloc(1, sizeof *d);
    size_t n = strlen(base) + 32;
    if (!d || !(d->path = malloc(n))) {
        free(d);
        return ts_error_set(err, TS_ENOMEM, "policy_dir", "out of memory"), NULL;
    }
    snprintf(d->path, n, "%s/ts-policy-XXXXXX", base);
    if (!mkdtemp(d->path)) {
        ts_error_set(err, TS_EIO, d->path, "mkdtemp: %s", strerror(errno));
        free(d->path);
        free(d);
        return NULL;
    }
    return d;
}

const char *ts_testutil_policy_dir_path(const ts_testutil_policy_dir *d)
{
    return d ? d->path : NULL;
}

static void unlink_in(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

ts_status ts_testutil_policy_dir_write(ts_testutil_policy_dir *d, const char *name,
                                       const char *const *lines, size_t n, ts_error *err)
{
    if (!d)
        return ts_error_set(err, TS_EINVAL, "policy_dir", "NULL");
    bool known = false;
    for (size_t i = 0; i < d->nnames && !known; i++)
        known = name && strcmp(d->names[i], name) == 0;
    if (!known && d->nnames == MAX_NAMES)
        return ts_error_set(err, TS_ELIMIT, "policy_dir", "at most %u fragments", MAX_NAMES);
    ts_status st = ts_testutil_write_fragment(d->path, name, lines, n, err);
    if (st == TS_OK && !known) {
        if (!(d->names[d->nnames] = strdup(name))) {
            unlink_in(d->path, name);
            return ts_error_set(err, TS_ENOMEM, name, "out of memory");
        }
        d->nnames++;
    }
    return st;
}

ts_status ts_testutil_policy_dir_remove(ts_testutil_policy_dir *d, const char *name, ts_error *err)
{
    if (!d || !fragment_name_ok(name))
        return ts_error_set(err, TS_EINVAL, "policy_dir", "invalid fragment name");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", d->path, name);
    if (unlink(path) != 0)
        return ts_error_set(err, TS_EIO, path, "unlink: %s", strerror(errno));
    for (size_t i = 0; i < d->nnames; i++) {
        if (strcmp(d->names[i], name) == 0) {
            free(d->names[i]);
            d->names[i] = d->names[--d->nnames];
            break;
        }
    }
    return TS_OK;
}

void ts_testutil_policy_dir_free(ts_testutil_policy_dir *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->nnames; i++) {
        unlink_in(d->path, d->names[i]);
        free(d->names[i]);
    }
    /* Only an empty directory goes: files someone else put there are left alone. */
    rmdir(d->path);
    free(d->path);
    free(d);
}
