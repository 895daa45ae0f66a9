/* The one directory rule of every command: a directory tokensmith writes into is created when
 * missing, mode 0700, only when its parent exists. A chain of missing parents is never created:
 * a mistyped --store /var/lib/tokensmtih/x.db stops with a message instead of growing a new
 * tree, at / as anywhere. The rule itself is ts_common__mkdir_one(), which the service's key
 * directory follows too. */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include <string.h>

#include <tokensmith/store.h>

#include "common/file.h"

int ts_cli_ensure_dir(const char *cmd, const char *dir)
{
    ts_error e;
    ts_error_clear(&e);
    switch (ts_common__mkdir_one(dir, 0700, &e)) {
    case TS_OK:
        return TS_CLI_OK;
    case TS_ENOTFOUND: /* "its parent ... does not exist (...)" */
        fprintf(stderr, "tokensmith: %s: cannot create directory %s: %s\n", cmd, dir, e.msg);
        return TS_CLI_FAIL;
    default:
        fprintf(stderr, "tokensmith: %s: %s: %s\n", cmd, dir, e.msg);
        return TS_CLI_FAIL;
    }
}

int ts_cli_ensure_parent(const char *cmd, const char *file)
{
    char dir[TS_SVC_PATH];
    ts_common__dir_of(file, dir, sizeof dir);
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
    char store_dir[TS_SVC_PATH] = "";
    bool keys = (what & TS_CLI_DIR_KEYS) != 0, store = (what & TS_CLI_DIR_STORE) != 0;
    /* A PostgreSQL connection string is no file: no directory is made for it (a URI's
     * "dirname" would be "postgres:/host", a directory named after the server). */
    if (store && ts_store_path_is_postgres(c->store))
        store = false;
    if (store)
        ts_common__dir_of(c->store, store_dir, sizeof store_dir);
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
