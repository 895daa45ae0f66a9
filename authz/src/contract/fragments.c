/* Reading policy fragment files: directory walk, symlink containment, size caps, BOM. */
#define _XOPEN_SOURCE 700

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "contract/contract.h"
#include "common/file.h"

size_t ts_authz__strip_bom(const char **data, size_t len)
{
    if (len >= 3 && memcmp(*data, "\xEF\xBB\xBF", 3) == 0) {
        *data += 3;
        return len - 3;
    }
    return len;
}

void ts_authz__fragments_free(ts_fragment_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].path);
        free(l->items[i].data);
    }
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static char *join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    bool slash = a > 0 && dir[a - 1] == '/';
    char *p = malloc(a + b + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    if (!slash)
        p[a++] = '/';
    memcpy(p + a, name, b + 1);
    return p;
}

/* Read an open regular file completely, refusing more than the fragment cap. */
/* A fragment's bytes without its BOM: the common bounded reader, on regular files only. */
static ts_status read_fd(int fd, const char *shown, char **data, size_t *len, ts_error *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return ts_error_set(err, TS_EIO, shown, "%s", strerror(errno));
    if (!S_ISREG(st.st_mode))
        return ts_error_set(err, TS_EINVAL, shown, "not a regular file");
    char *buf = NULL;
    size_t n = 0;
    ts_status s = ts_common__read_fd(fd, shown, TS_AUTHZ_MAX_FRAGMENT_BYTES, 0, &buf, &n, err);
    if (s != TS_OK)
        return s;
    const char *start = buf;
    size_t keep = ts_authz__strip_bom(&start, n);
    memmove(buf, start, keep);
    buf[keep] = '\0';
    *data = buf;
    *len = keep;
    return TS_OK;
}

static ts_status push(ts_fragment_list *l, char *path, char *data, size_t len, ts_error *err)
{
    ts_fragment *n = realloc(l->items, (l->n + 1) * sizeof *n);
    if (!n) {
        free(path);
        free(data);
        return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    }
    l->items = n;
    l->items[l->n++] = (ts_fragment){path, data, len};
    return TS_OK;
}

ts_status ts_authz__fragments_read_file(const char *path, ts_fragment_list *out, ts_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return ts_error_set(err, TS_EIO, path, "cannot open: %s", strerror(errno));
    char *data = NULL;
    size_t len = 0;
    ts_status st = read_fd(fd, path, &data, &len, err);
    close(fd);
    if (st != TS_OK)
        return st;
    size_t plen = strlen(path) + 1;
    char *p = malloc(plen);
    if (!p) {
        free(data);
        return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    }
    memcpy(p, path, plen);
    return push(out, p, data, len, err);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_csv_name(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n > 4 && strcmp(name + n - 4, ".csv") == 0;
}

/*
 * One directory entry. A symlink is accepted only when its fully resolved target lies inside
 * the resolved directory: Kubernetes ConfigMap volumes are made of such links
 * (x.csv -> ..data/x.csv), while a link to /etc/... must not smuggle in rules.
 */
static ts_status read_entry(const char *dir_real, const char *path, ts_fragment_list *out,
                            bool *skipped, ts_error *err)
{
    struct stat lst;
    *skipped = false;
    if (lstat(path, &lst) != 0)
        return ts_error_set(err, TS_EIO, path, "%s", strerror(errno));
    const char *open_path = path;
    char *resolved = NULL;
    if (S_ISLNK(lst.st_mode)) {
        resolved = realpath(path, NULL);
        if (!resolved)
            return ts_error_set(err, TS_EIO, path, "symlink does not resolve: %s", strerror(errno));
        size_t dl = strlen(dir_real);
        bool inside = strncmp(resolved, dir_real, dl) == 0 &&
                      (resolved[dl] == '/' || (dl == 1 && dir_real[0] == '/'));
        if (!inside) {
            ts_error_set(err, TS_EINVAL, path,
                         "symlink leaves the policy directory (resolves to %s)", resolved);
            free(resolved);
            return TS_EINVAL;
        }
        open_path = resolved;
    }
    struct stat st;
    if (stat(open_path, &st) != 0) {
        ts_error_set(err, TS_EIO, path, "%s", strerror(errno));
        free(resolved);
        return TS_EIO;
    }
    if (S_ISDIR(st.st_mode)) {
        *skipped = true;
        free(resolved);
        return TS_OK;
    }
    int fd = open(open_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | (resolved ? 0 : O_NOFOLLOW));
    free(resolved);
    if (fd < 0)
        return ts_error_set(err, TS_EIO, path, "cannot open: %s", strerror(errno));
    char *data = NULL;
    size_t len = 0;
    ts_status s = read_fd(fd, path, &data, &len, err);
    close(fd);
    if (s != TS_OK)
        return s;
    size_t plen = strlen(path) + 1;
    char *p = malloc(plen);
    if (!p) {
        free(data);
        return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    }
    memcpy(p, path, plen);
    return push(out, p, data, len, err);
}

ts_status ts_authz__fragments_read_dir(const char *dir, ts_fragment_list *out, ts_error *err)
{
    char *dir_real = realpath(dir, NULL);
    if (!dir_real)
        return ts_error_set(err, TS_EIO, dir, "policy directory: %s", strerror(errno));
    DIR *d = opendir(dir_real);
    if (!d) {
        int e = errno;
        free(dir_real);
        return ts_error_set(err, TS_EIO, dir, "policy directory: %s", strerror(e));
    }
    char **names = NULL;
    size_t n = 0;
    ts_status st = TS_OK;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!is_csv_name(de->d_name))
            continue;
        if (n >= TS_AUTHZ_MAX_FRAGMENTS) {
            st = ts_error_set(err, TS_ELIMIT, dir, "more than %u fragment files",
                              TS_AUTHZ_MAX_FRAGMENTS);
            break;
        }
        char **nn = realloc(names, (n + 1) * sizeof *nn);
        size_t l = strlen(de->d_name) + 1;
        char *copy = nn ? malloc(l) : NULL;
        if (nn)
            names = nn;
        if (!copy) {
            st = ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
            break;
        }
        memcpy(copy, de->d_name, l);
        names[n++] = copy;
    }
    closedir(d);
    if (st == TS_OK && n > 0) /* names is NULL for a directory without fragments */
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; st == TS_OK && i < n; i++) {
        char *path = join(dir, names[i]);
        bool skipped;
        if (!path) {
            st = ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
            break;
        }
        st = read_entry(dir_real, path, out, &skipped, err);
        free(path);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(dir_real);
    if (st != TS_OK)
        ts_authz__fragments_free(out);
    return st;
}
