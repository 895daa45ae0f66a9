/* The one directory rule of every command: a directory tokensmith writes into is created when
 * missing, mode 0700, only when its parent exists. A chain of missing parents is never created:
 * a mistyped --store /var/lib/tokensmtih/x.db stops with a message instead of growing a new
 * tree, at / as anywhere. */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

/* The directory part of @p path ("." when it has none). */
static void dir_of(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(out, cap, ".");
    else if (slash == path)
        snprintf(out, cap, "/");
    else
        snprintf(out, cap, "%.*s", (int)(slash - path), path);
}

int ts_cli_ensure_dir(const char *cmd, const char *dir)
{
    struct stat sb;
    if (stat(dir, &sb) == 0) {
        if (S_ISDIR(sb.st_mode))
            return TS_CLI_OK;
        fprintf(stderr, "tokensmith: %s: %s: not a directory\n", cmd, dir);
        return TS_CLI_FAIL;
    }
    if (mkdir(dir, 0700) == 0 || errno == EEXIST)
        return TS_CLI_OK;
    if (errno == ENOENT) {
        char parent[TS_SVC_PATH];
        dir_of(dir, parent, sizeof parent);
        fprintf(stderr,
                "tokensmith: %s: cannot create directory %s: its parent %s does not exist "
                "(tokensmith creates one directory level, never a chain of parents)\n",
                cmd, dir, parent);
    } else {
        fprintf(stderr, "tokensmith: %s: cannot create directory %s: %s\n", cmd, dir,
                strerror(errno));
    }
    return TS_CLI_FAIL;
}

int ts_cli_ensure_parent(const char *cmd, const char *file)
{
    char dir[TS_SVC_PATH];
    dir_of(file, dir, sizeof dir);
    return ts_cli_ensure_dir(cmd, dir);
}

/* Whether @p path is @p dir or lies inside it. */
static bool inside(const char *path, const char *dir)
{
    size_t l = strlen(dir);
    return strncmp(path, dir, l) == 0 && (path[l] == '\0' || path[l] == '/');
}

int ts_cli_prepare_dirs(const char *cmd, const ts_svc_config *c, unsigned what)
{
    char store_dir[TS_SVC_PATH];
    dir_of(c->store, store_dir, sizeof store_dir);
    bool keys = (what & TS_CLI_DIR_KEYS) != 0, store = (what & TS_CLI_DIR_STORE) != 0;
    /* The state directory first, when something of this command lives in it. */
    bool home = (what & TS_CLI_DIR_HOME) ||
                (keys && inside(c->key_file[0] ? c->key_file : c->key_dir, c->home)) ||
                (store && inside(store_dir, c->home));
    int rc = home ? ts_cli_ensure_dir(cmd, c->home) : TS_CLI_OK;
    if (rc == TS_CLI_OK && keys)
        rc = c->key_file[0] ? ts_cli_ensure_parent(cmd, c->key_file)
                            : ts_cli_ensure_dir(cmd, c->key_dir);
    if (rc == TS_CLI_OK && store)
        rc = ts_cli_ensure_dir(cmd, store_dir);
    return rc;
}
