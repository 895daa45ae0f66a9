/* Helpers shared by the test_contract_* tests: temporary directories, files, a log sink. */
#ifndef TS_CONTRACT_TESTUTIL_H
#define TS_CONTRACT_TESTUTIL_H

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static inline char *tu_mkdtemp(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/ts-contract-XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    if (!d)
        return NULL;
    size_t n = strlen(d) + 1;
    char *copy = malloc(n);
    if (copy)
        memcpy(copy, d, n);
    return copy;
}

static inline char *tu_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Write @p text to dir/name atomically (temporary file + rename). @return 0 on success. */
static inline int tu_write(const char *dir, const char *name, const char *text, size_t len)
{
    char *final = tu_path(dir, name);
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s/.tmp-%s", dir, name);
    for (char *c = tmp + strlen(dir) + 1; *c; c++)
        if (*c == '/')
            *c = '_';
    FILE *f = fopen(tmp, "wb");
    int rc = -1;
    if (f) {
        rc = fwrite(text, 1, len, f) == len ? 0 : -1;
        if (fclose(f) != 0)
            rc = -1;
        if (rc == 0)
            rc = rename(tmp, final);
    }
    free(final);
    return rc;
}

static inline int tu_writez(const char *dir, const char *name, const char *text)
{
    return tu_write(dir, name, text, strlen(text));
}

static inline void tu_rmrf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            char *p = tu_path(path, de->d_name);
            tu_rmrf(p);
            free(p);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* A thread-safe log sink that keeps every line. */
typedef struct tu_log {
    pthread_mutex_t lock;
    char **lines;
    size_t n, cap;
} tu_log;

static inline void tu_log_init(tu_log *l)
{
    pthread_mutex_init(&l->lock, NULL);
    l->lines = NULL;
    l->n = l->cap = 0;
}

static inline void tu_log_clear(tu_log *l)
{
    pthread_mutex_lock(&l->lock);
    for (size_t i = 0; i < l->n; i++)
        free(l->lines[i]);
    l->n = 0;
    pthread_mutex_unlock(&l->lock);
}

static inline void tu_log_free(tu_log *l)
{
    tu_log_clear(l);
    free(l->lines);
    pthread_mutex_destroy(&l->lock);
}

static inline void tu_log_sink(const char *line, size_t len, void *ud)
{
    tu_log *l = ud;
    char *copy = malloc(len + 1);
    if (!copy)
        return;
    memcpy(copy, line, len);
    copy[len] = '\0';
    pthread_mutex_lock(&l->lock);
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        char **nl = realloc(l->lines, nc * sizeof *nl);
        if (!nl) {
            pthread_mutex_unlock(&l->lock);
            free(copy);
            return;
        }
        l->lines = nl;
        l->cap = nc;
    }
    l->lines[l->n++] = copy;
    pthread_mutex_unlock(&l->lock);
}

/* @return the last line containing @p needle, or NULL (borrowed until the next clear). */
static inline const char *tu_log_find(tu_log *l, const char *needle)
{
    const char *hit = NULL;
    pthread_mutex_lock(&l->lock);
    for (size_t i = 0; i < l->n; i++)
        if (strstr(l->lines[i], needle))
            hit = l->lines[i];
    pthread_mutex_unlock(&l->lock);
    return hit;
}

#endif
