/* The checks that depend on the machine, skipped with TS_AGENT_CONFIG_SKIP_FS_CHECKS: the
 * directories the agent will write into (file sinks, sockets, state files) exist and are
 * writable, CA files are readable, user and group names exist. Done at load time so that
 * `tokensmith agent --check` and a SIGHUP reload refuse a configuration that could only fail
 * later, when a token arrives. Secrets read `from_file` are not checked: they may be mounted
 * after the agent starts, and a bootstrap token's file may be gone once it has been used. */
#define _POSIX_C_SOURCE 200809L

#include "config_internal.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/file.h"

typedef enum want {
    WANT_FILE,   /* written by the agent: absent or a regular file */
    WANT_SOCKET, /* created by the agent: absent or a socket it replaces */
} want;

static ts_status check_writable(ts_agent__ctx *c, const ts_agent__node *at, const char *label,
                                const char *path, want w)
{
    char dir[4096];
    struct stat st;
    ts_common__dir_of(path, dir, sizeof dir);
    if (stat(dir, &st) != 0)
        return ts_agent__fail(c, at, label, TS_EIO, "directory %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return ts_agent__fail(c, at, label, TS_EIO, "%s is not a directory", dir);
    if (access(dir, W_OK | X_OK) != 0)
        return ts_agent__fail(c, at, label, TS_EIO, "directory %s is not writable: %s", dir,
                              strerror(errno));
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? TS_OK
                               : ts_agent__fail(c, at, label, TS_EIO, "%s", strerror(errno));
    if (w == WANT_SOCKET && !S_ISSOCK(st.st_mode))
        return ts_agent__fail(c, at, label, TS_EIO,
                              "exists and is not a socket (the agent replaces only a socket)");
    if (w == WANT_FILE && !S_ISREG(st.st_mode))
        return ts_agent__fail(c, at, label, TS_EIO, "exists and is not a regular file");
    return TS_OK;
}

static ts_status check_readable(ts_agent__ctx *c, const ts_agent__node *at, const char *label,
                                const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || access(path, R_OK) != 0)
        return ts_agent__fail(c, at, label, TS_EIO, "cannot read %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return ts_agent__fail(c, at, label, TS_EIO, "%s is not a regular file", path);
    return TS_OK;
}

static ts_status lookup_id(ts_agent__ctx *c, const ts_agent__node *at, const char *label,
                           const char *name, bool group, int64_t *id)
{
    if (*id >= 0 || !name[0])
        return TS_OK;
    long cap = sysconf(group ? _SC_GETGR_R_SIZE_MAX : _SC_GETPW_R_SIZE_MAX);
    size_t len = cap > 0 ? (size_t)cap : 16384;
    char *buf = malloc(len);
    if (!buf)
        return ts_agent__fail(c, at, label, TS_ENOMEM, "out of memory");
    int r;
    if (group) {
        struct group gr, *res = NULL;
        r = getgrnam_r(name, &gr, buf, len, &res);
        if (r == 0 && res)
            *id = (int64_t)res->gr_gid;
    } else {
        struct passwd pw, *res = NULL;
        r = getpwnam_r(name, &pw, buf, len, &res);
        if (r == 0 && res)
            *id = (int64_t)res->pw_uid;
    }
    free(buf);
    if (*id < 0)
        return ts_agent__fail(c, at, label, TS_ENOTFOUND, "no %s '%s' on this system",
                              group ? "group" : "user", name);
    return TS_OK;
}

static ts_status check_source(ts_agent__ctx *c, size_t i)
{
    const ts_agent_source *src = &c->cfg->sources[i];
    const ts_agent__node *n = c->source_nodes[i];
    char label[TS_AGENT__PATH_MAX];
    const ts_agent_endpoint *ep = src->type == TS_AGENT_SOURCE_HTTP     ? &src->http.endpoint
                                  : src->type == TS_AGENT_SOURCE_OAUTH2 ? &src->oauth2.endpoint
                                  : src->type == TS_AGENT_SOURCE_TOKENSMITH
                                      ? &src->tokensmith.endpoint
                                      : NULL;
    if (ep && ep->ca_file[0]) {
        const ts_agent__node *holder =
            src->type == TS_AGENT_SOURCE_HTTP ? ts_agent__map_get(n, "request") : n;
        snprintf(label, sizeof label, "sources.%s%s.ca_file", src->id,
                 src->type == TS_AGENT_SOURCE_HTTP ? ".request" : "");
        ts_status s = check_readable(c, ts_agent__map_get(holder, "ca_file"), label, ep->ca_file);
        if (s != TS_OK)
            return s;
    }
    const char *state = src->type == TS_AGENT_SOURCE_TOKENSMITH ? src->tokensmith.state_file
                        : src->type == TS_AGENT_SOURCE_OAUTH2   ? src->oauth2.state_file
                                                                : "";
    if (!state || !state[0])
        return TS_OK;
    snprintf(label, sizeof label, "sources.%s.state_file", src->id);
    return check_writable(c, ts_agent__map_get(n, "state_file"), label, state, WANT_FILE);
}

static ts_status check_sink(ts_agent__ctx *c, size_t i)
{
    ts_agent_sink *k = &c->sinks[i];
    const ts_agent__node *n = c->sink_nodes[i];
    char label[TS_AGENT__PATH_MAX];
    if (k->type == TS_AGENT_SINK_HTTP)
        return TS_OK;
    snprintf(label, sizeof label, "sinks.%s.path", k->id);
    ts_status s = check_writable(c, ts_agent__map_get(n, "path"), label, k->path,
                                 k->type == TS_AGENT_SINK_UDS ? WANT_SOCKET : WANT_FILE);
    snprintf(label, sizeof label, "sinks.%s.owner", k->id);
    if (s == TS_OK)
        s = lookup_id(c, ts_agent__map_get(n, "owner"), label, k->owner, false, &k->owner_uid);
    snprintf(label, sizeof label, "sinks.%s.group", k->id);
    if (s == TS_OK)
        s = lookup_id(c, ts_agent__map_get(n, "group"), label, k->group, true, &k->group_gid);
    if (s != TS_OK || !k->n_allowed_uids)
        return s;
    const ts_agent__node *uids = ts_agent__map_get(n, "allowed_uids");
    int64_t *ids = ts_agent__arena_array(c->arena, k->n_allowed_uids, sizeof *ids);
    if (!ids)
        return ts_agent__fail(c, uids, label, TS_ENOMEM, "out of memory");
    memcpy(ids, k->allowed_uids, k->n_allowed_uids * sizeof *ids);
    for (size_t j = 0; j < k->n_allowed_uids && s == TS_OK; j++) {
        snprintf(label, sizeof label, "sinks.%s.allowed_uids[%zu]", k->id, j);
        s = lookup_id(c, uids->items[j], label, k->allowed_uid_names[j], false, &ids[j]);
    }
    k->allowed_uids = ids;
    return s;
}

ts_status ts_agent__check_fs(ts_agent__ctx *c)
{
    ts_status s = TS_OK;
    for (size_t i = 0; i < c->cfg->n_sources && s == TS_OK; i++)
        s = check_source(c, i);
    for (size_t i = 0; i < c->cfg->n_sinks && s == TS_OK; i++)
        s = check_sink(c, i);
    return s;
}
