/* Running a node-casbin script of tests/data for a differential test: the script gets the
 * repository root (where node_modules/casbin is looked up) and the test's arguments, and
 * answers one line at a time. Without node (127) or node-casbin (77) the caller skips. */
#ifndef TS_NODE_CASBIN_TESTUTIL_H
#define TS_NODE_CASBIN_TESTUTIL_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>

typedef struct ts_node_casbin_run {
    FILE *pipe;
    char *line;
    size_t cap;
} ts_node_casbin_run;

/* Append ' arg' quoted for the shell; false when it does not fit or cannot be quoted. */
static inline bool ts_node_casbin__arg(char *cmd, size_t cap, size_t *len, const char *arg)
{
    if (strchr(arg, '\''))
        return false;
    int n = snprintf(cmd + *len, cap - *len, " '%s'", arg);
    if (n < 0 || (size_t)n >= cap - *len)
        return false;
    *len += (size_t)n;
    return true;
}

/* Start `node TS_TEST_DATA_DIR/<script> <repo root> <args...>`. */
static inline bool ts_node_casbin_start(ts_node_casbin_run *r, const char *script,
                                        const char *const *args, size_t nargs)
{
    char cmd[4096], path[1024], root[1024];
    size_t len = (size_t)snprintf(cmd, sizeof cmd, "node");
    snprintf(path, sizeof path, "%s/%s", TS_TEST_DATA_DIR, script);
    snprintf(root, sizeof root, "%s/..", TS_POLICY_SRC_DIR);
    bool ok = ts_node_casbin__arg(cmd, sizeof cmd, &len, path) &&
              ts_node_casbin__arg(cmd, sizeof cmd, &len, root);
    for (size_t i = 0; ok && i < nargs; i++)
        ok = ts_node_casbin__arg(cmd, sizeof cmd, &len, args[i]);
    r->line = NULL;
    r->cap = 0;
    r->pipe = ok ? popen(cmd, "r") : NULL;
    return r->pipe != NULL;
}

/* The next line without its newline (valid until the next call), or NULL at the end. */
static inline char *ts_node_casbin_line(ts_node_casbin_run *r)
{
    ssize_t n = getline(&r->line, &r->cap, r->pipe);
    if (n < 0)
        return NULL;
    if (n > 0 && r->line[n - 1] == '\n')
        r->line[n - 1] = '\0';
    return r->line;
}

/* Wait for the script; @return its wait status. */
static inline int ts_node_casbin_finish(ts_node_casbin_run *r)
{
    int rc = pclose(r->pipe);
    free(r->line);
    r->pipe = NULL;
    r->line = NULL;
    return rc;
}

/* Whether a wait status says node (127) or node-casbin (77) is not installed. */
static inline bool ts_node_casbin_missing(int rc)
{
    return WIFEXITED(rc) && (WEXITSTATUS(rc) == 77 || WEXITSTATUS(rc) == 127);
}

#endif
