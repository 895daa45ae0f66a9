/* Reading a configuration: bounds, the tree, the typed walk in the order the parts depend on
 * each other (settings, sources, sinks), then the checks of the whole; and freeing one. */
#include "config_internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/file.h"
#include "common/mem.h"

static ts_status walk(ts_agent__ctx *c, const ts_agent__node *root)
{
    static const char *const fields[] = {"settings", "sources", "sinks", NULL};
    if (root->kind != TS_AGENT__MAP)
        return ts_agent__fail(c, root, "", TS_EINVAL,
                              "the configuration must be a mapping of settings, sources and "
                              "sinks");
    ts_status s = ts_agent__fields(c, root, "", fields);
    if (s == TS_OK)
        s = ts_agent__walk_settings(c, root);
    if (s == TS_OK)
        s = ts_agent__walk_sources(c, root);
    if (s == TS_OK)
        s = ts_agent__index_sources(c);
    if (s == TS_OK)
        s = ts_agent__walk_sinks(c, root);
    if (s == TS_OK)
        s = ts_agent__index_sinks(c);
    if (s == TS_OK)
        s = ts_agent__check_graph(c);
    if (s == TS_OK && !(c->flags & TS_AGENT_CONFIG_SKIP_FS_CHECKS))
        s = ts_agent__check_fs(c);
    return s;
}

ts_status ts_agent_config_parse(const char *text, size_t len, const char *name,
                                const ts_agent_config_options *opts, ts_agent_config **out,
                                ts_error *err)
{
    if (!out)
        return ts_error_set(err, TS_EINVAL, "ts_agent_config_parse", "NULL out");
    *out = NULL;
    if (!name)
        name = "config";
    if (!text && len)
        return ts_error_set(err, TS_EINVAL, name, "NULL text");
    if (opts && opts->version != TS_AGENT_CONFIG_OPTIONS_VERSION)
        return ts_error_set(err, TS_EINVAL, "ts_agent_config_options",
                            "version %u is not %u (TS_AGENT_CONFIG_OPTIONS_INIT)", opts->version,
                            TS_AGENT_CONFIG_OPTIONS_VERSION);
    ts_agent__limits lim = {
        .max_bytes = opts && opts->max_bytes ? opts->max_bytes : TS_AGENT_CONFIG_MAX_BYTES,
        .max_depth = opts && opts->max_depth ? opts->max_depth : TS_AGENT_CONFIG_MAX_DEPTH,
        .max_nodes = opts && opts->max_nodes ? opts->max_nodes : TS_AGENT_CONFIG_MAX_NODES,
        .max_scalar = opts && opts->max_scalar ? opts->max_scalar : TS_AGENT_CONFIG_MAX_SCALAR,
    };

    ts_agent_config *cfg = calloc(1, sizeof *cfg);
    ts_agent__arena *arena = ts_agent__arena_new(), *tree = ts_agent__arena_new();
    char *kept_name = arena ? ts_agent__arena_strndup(arena, name, strlen(name)) : NULL;
    if (!cfg || !arena || !tree || !kept_name) {
        free(cfg);
        ts_agent__arena_free(arena);
        ts_agent__arena_free(tree);
        return ts_error_set(err, TS_ENOMEM, name, "out of memory");
    }
    cfg->arena_ = arena;
    cfg->name = kept_name;
    ts_agent__ctx c = {
        .name = kept_name, .arena = arena, .err = err, .flags = opts ? opts->flags : 0, .cfg = cfg};
    ts_agent__node *root;
    ts_status s = ts_agent__yaml_parse(text ? text : "", len, kept_name, &lim, tree, &root, err);
    if (s == TS_OK)
        s = walk(&c, root);
    free(c.pending);
    ts_agent__arena_free(tree);
    if (s != TS_OK) {
        ts_agent_config_free(cfg);
        return s;
    }
    *out = cfg;
    return TS_OK;
}

ts_status ts_agent_config_load(const char *path, const ts_agent_config_options *opts,
                               ts_agent_config **out, ts_error *err)
{
    if (!out)
        return ts_error_set(err, TS_EINVAL, "ts_agent_config_load", "NULL out");
    *out = NULL;
    if (!path)
        return ts_error_set(err, TS_EINVAL, "ts_agent_config_load", "NULL path");
    size_t max = opts && opts->max_bytes ? opts->max_bytes : TS_AGENT_CONFIG_MAX_BYTES;
    char *text = NULL;
    size_t len = 0;
    ts_status s = ts_common__read_file(path, max, 0, &text, &len, err);
    if (s != TS_OK)
        return s;
    s = ts_agent_config_parse(text, len, path, opts, out, err);
    /* The file may hold a bootstrap token or a client secret. */
    ts_common__memzero(text, len);
    free(text);
    return s;
}

void ts_agent_config_free(ts_agent_config *cfg)
{
    if (!cfg)
        return;
    ts_agent__arena_free(cfg->arena_);
    free(cfg);
}
