/* The checks that need the whole configuration: ids looked up, inputs resolved into a graph
 * that must be acyclic (and its topological order), template and `source` references
 * resolved against their source's inputs, and paths that two parts would both use. */
#include "config_internal.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(offsetof(ts_agent_source, id) == 0, "index_ids reads the id first");
_Static_assert(offsetof(ts_agent_sink, id) == 0, "index_ids reads the id first");

/* ---- ids ------------------------------------------------------------------------------ */

typedef struct id_entry {
    const char *id;
    size_t index;
} id_entry;

static int cmp_id(const void *a, const void *b)
{
    return strcmp(((const id_entry *)a)->id, ((const id_entry *)b)->id);
}

/* Indexes of @p n objects sorted by their ids (found at @p first + i * @p stride). */
static ts_status index_ids(ts_agent__ctx *c, const void *first, size_t stride, size_t n,
                           const size_t **out)
{
    size_t *idx = ts_agent__arena_array(c->arena, n ? n : 1, sizeof *idx);
    id_entry *e = calloc(n ? n : 1, sizeof *e);
    if (!idx || !e) {
        free(e);
        return ts_agent__fail(c, NULL, "", TS_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        e[i] = (id_entry){*(const char *const *)((const char *)first + i * stride), i};
    qsort(e, n, sizeof *e, cmp_id);
    for (size_t i = 0; i < n; i++)
        idx[i] = e[i].index;
    free(e);
    *out = idx;
    return TS_OK;
}

ts_status ts_agent__index_sources(ts_agent__ctx *c)
{
    /* id is the first member of ts_agent_source and of ts_agent_sink. */
    return index_ids(c, c->cfg->sources, sizeof *c->cfg->sources, c->cfg->n_sources,
                     &c->cfg->source_by_id_);
}

ts_status ts_agent__index_sinks(ts_agent__ctx *c)
{
    return index_ids(c, c->cfg->sinks, sizeof *c->cfg->sinks, c->cfg->n_sinks,
                     &c->cfg->sink_by_id_);
}

size_t ts_agent__find_source(const ts_agent_config *cfg, const char *id)
{
    size_t lo = 0, hi = cfg->n_sources;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = strcmp(id, cfg->sources[cfg->source_by_id_[mid]].id);
        if (r == 0)
            return cfg->source_by_id_[mid];
        if (r < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return SIZE_MAX;
}

const ts_agent_source *ts_agent_config_source(const ts_agent_config *cfg, const char *id)
{
    if (!cfg || !id)
        return NULL;
    size_t i = ts_agent__find_source(cfg, id);
    return i == SIZE_MAX ? NULL : &cfg->sources[i];
}

const ts_agent_sink *ts_agent_config_sink(const ts_agent_config *cfg, const char *id)
{
    if (!cfg || !id)
        return NULL;
    size_t lo = 0, hi = cfg->n_sinks;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = strcmp(id, cfg->sinks[cfg->sink_by_id_[mid]].id);
        if (r == 0)
            return &cfg->sinks[cfg->sink_by_id_[mid]];
        if (r < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

size_t ts_agent_source_token(const ts_agent_source *src, const char *id)
{
    for (size_t i = 0; src && id && i < src->n_tokens; i++)
        if (strcmp(src->tokens[i].id, id) == 0)
            return i;
    return SIZE_MAX;
}

void ts_agent__no_token(const ts_agent_source *src, const char *token_id, char *out, size_t cap)
{
    if (strcmp(token_id, "refresh_token") == 0 &&
        (src->type == TS_AGENT_SOURCE_OAUTH2 || src->type == TS_AGENT_SOURCE_TOKENSMITH))
        snprintf(out, cap,
                 "refresh_token is never exposed: it stays inside the agent (use "
                 "access_token)");
    else
        snprintf(out, cap, "source '%s' has no token '%.64s'", src->id, token_id);
}

/* ---- inputs and the graph -------------------------------------------------------------- */

static const ts_agent__node *inputs_node(ts_agent__ctx *c, size_t i)
{
    return ts_agent__map_get(c->source_nodes[i], "inputs");
}

static ts_status resolve_inputs(ts_agent__ctx *c, size_t i)
{
    ts_agent_source *src = &c->sources[i];
    if (!src->n_inputs)
        return TS_OK;
    size_t *idx = ts_agent__arena_array(c->arena, src->n_inputs, sizeof *idx);
    const ts_agent__node *n = inputs_node(c, i);
    char p[TS_AGENT__PATH_MAX];
    snprintf(p, sizeof p, "sources.%s.inputs", src->id);
    if (!idx)
        return ts_agent__fail(c, n, p, TS_ENOMEM, "out of memory");
    for (size_t j = 0; j < src->n_inputs; j++) {
        const ts_agent__node *item = n->kind == TS_AGENT__SEQ ? n->items[j] : n;
        char ip[TS_AGENT__PATH_MAX];
        ts_agent__path_index(ip, sizeof ip, p, j);
        idx[j] = ts_agent__find_source(c->cfg, src->inputs[j]);
        if (idx[j] == SIZE_MAX)
            return ts_agent__fail(c, item, ip, TS_ENOTFOUND, "unknown source '%.64s'",
                                  src->inputs[j]);
        for (size_t k = 0; k < j; k++)
            if (idx[k] == idx[j])
                return ts_agent__fail(c, item, ip, TS_EINVAL, "source '%s' listed twice",
                                      src->inputs[j]);
    }
    src->input_index = idx;
    return TS_OK;
}

/* "a -> b -> a" from the DFS stack: stack[from..depth) then the source it closes on. */
static void cycle_text(const ts_agent_config *cfg, const size_t *stack, size_t from, size_t depth,
                       char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t k = from; k <= depth && o < cap; k++) {
        size_t s = k < depth ? stack[k] : stack[from];
        o += (size_t)snprintf(out + o, cap - o, "%s%s", k > from ? " -> " : "", cfg->sources[s].id);
    }
}

/* Depth-first over inputs, without recursion: a source is finished (appended to the order)
 * after all its inputs, so the order lists inputs first. A source met again while still on
 * the stack closes a cycle. */
static ts_status order_sources(ts_agent__ctx *c)
{
    const ts_agent_config *cfg = c->cfg;
    size_t n = cfg->n_sources;
    size_t *order = ts_agent__arena_array(c->arena, n, sizeof *order);
    unsigned char *state = calloc(n, 1); /* 0 new, 1 on the stack, 2 done */
    size_t *stack = calloc(n, sizeof *stack), *next = calloc(n, sizeof *next);
    size_t *pos = calloc(n, sizeof *pos); /* a source's place on the stack */
    ts_status s = TS_OK;
    size_t done = 0;
    if (!order || !state || !stack || !next || !pos)
        s = ts_agent__fail(c, NULL, "sources", TS_ENOMEM, "out of memory");
    for (size_t root = 0; root < n && s == TS_OK; root++) {
        if (state[root])
            continue;
        size_t depth = 0;
        stack[depth] = root;
        next[depth] = 0;
        pos[root] = depth++;
        state[root] = 1;
        while (depth && s == TS_OK) {
            size_t u = stack[depth - 1];
            const ts_agent_source *src = &cfg->sources[u];
            if (next[depth - 1] == src->n_inputs) {
                state[u] = 2;
                order[done++] = u;
                depth--;
                continue;
            }
            size_t v = src->input_index[next[depth - 1]++];
            if (state[v] == 1) {
                char text[160], p[TS_AGENT__PATH_MAX];
                cycle_text(cfg, stack, pos[v], depth, text, sizeof text);
                snprintf(p, sizeof p, "sources.%s.inputs", cfg->sources[v].id);
                s = ts_agent__fail(c, inputs_node(c, v), p, TS_ECYCLE, "cycle %s", text);
            } else if (state[v] == 0) {
                state[v] = 1;
                stack[depth] = v;
                next[depth] = 0;
                pos[v] = depth++;
            }
        }
    }
    free(state);
    free(stack);
    free(next);
    free(pos);
    if (s == TS_OK)
        c->cfg->order = order;
    return s;
}

/* ---- references ------------------------------------------------------------------------ */

static ts_status resolve_ref(ts_agent__ctx *c, const ts_agent__pending *p, const char *source_id,
                             const char *token_id, size_t *index)
{
    const ts_agent_source *owner = &c->cfg->sources[p->owner];
    size_t i = ts_agent__find_source(c->cfg, source_id);
    if (i == SIZE_MAX)
        return ts_agent__fail_at(c, p->line, p->col, p->path, TS_ENOTFOUND,
                                 "unknown source '%.64s'", source_id);
    if (i == p->owner)
        return ts_agent__fail_at(c, p->line, p->col, p->path, TS_EINVAL,
                                 "a source cannot use its own token");
    bool listed = false;
    for (size_t j = 0; j < owner->n_inputs && !listed; j++)
        listed = owner->input_index[j] == i;
    if (!listed)
        return ts_agent__fail_at(c, p->line, p->col, p->path, TS_EINVAL,
                                 "source '%s' is not in sources.%s.inputs", source_id, owner->id);
    if (ts_agent_source_token(&c->cfg->sources[i], token_id) == SIZE_MAX) {
        char msg[200];
        ts_agent__no_token(&c->cfg->sources[i], token_id, msg, sizeof msg);
        return ts_agent__fail_at(c, p->line, p->col, p->path, TS_ENOTFOUND, "%s", msg);
    }
    *index = i;
    return TS_OK;
}

static ts_status resolve_pending(ts_agent__ctx *c)
{
    for (size_t k = 0; k < c->n_pending; k++) {
        const ts_agent__pending *p = &c->pending[k];
        ts_agent_value *v = p->value;
        if (v->kind == TS_AGENT_VALUE_SOURCE) {
            ts_status s = resolve_ref(c, p, v->source_id, v->token_id, &v->source_index);
            if (s != TS_OK)
                return s;
            continue;
        }
        ts_agent_template *t = p->tmpl;
        for (size_t r = 0; r < ts_agent_template_ref_count(t); r++) {
            const ts_agent_template_ref *ref = ts_agent_template_ref_at(t, r);
            size_t index;
            ts_status s = resolve_ref(c, p, ref->source_id, ref->token_id, &index);
            if (s != TS_OK)
                return s;
            ts_agent__template_set_source_index(t, r, index);
        }
    }
    return TS_OK;
}

/* ---- paths used twice ------------------------------------------------------------------ */

typedef struct used_path {
    const char *path;
    char label[TS_AGENT__PATH_MAX];
    const ts_agent__node *at;
    size_t seq; /* file order */
} used_path;

static int cmp_used(const void *pa, const void *pb)
{
    const used_path *a = pa, *b = pb;
    int r = strcmp(a->path, b->path);
    return r ? r : (a->seq > b->seq) - (a->seq < b->seq);
}

static ts_status check_paths(ts_agent__ctx *c, bool http)
{
    const ts_agent_config *cfg = c->cfg;
    used_path *u = calloc(cfg->n_sources + cfg->n_sinks + 1, sizeof *u);
    size_t n = 0;
    if (!u)
        return ts_agent__fail(c, NULL, "sinks", TS_ENOMEM, "out of memory");
    for (size_t i = 0; i < cfg->n_sources && !http; i++) {
        const ts_agent_source *src = &cfg->sources[i];
        const char *key = src->type == TS_AGENT_SOURCE_FILE ? "path" : "state_file";
        const char *path = src->type == TS_AGENT_SOURCE_FILE         ? src->file_path
                           : src->type == TS_AGENT_SOURCE_TOKENSMITH ? src->tokensmith.state_file
                           : src->type == TS_AGENT_SOURCE_OAUTH2     ? src->oauth2.state_file
                                                                     : "";
        if (!path || !path[0])
            continue;
        u[n] =
            (used_path){.path = path, .at = ts_agent__map_get(c->source_nodes[i], key), .seq = n};
        snprintf(u[n].label, sizeof u[n].label, "sources.%s.%s", src->id, key);
        n++;
    }
    for (size_t i = 0; i < cfg->n_sinks; i++) {
        const ts_agent_sink *k = &cfg->sinks[i];
        if ((k->type == TS_AGENT_SINK_HTTP) != http)
            continue;
        u[n] = (used_path){
            .path = k->path, .at = ts_agent__map_get(c->sink_nodes[i], "path"), .seq = n};
        snprintf(u[n].label, sizeof u[n].label, "sinks.%s.path", k->id);
        if (http &&
            (strcmp(k->path, cfg->settings.health_path) == 0 ||
             (cfg->settings.metrics_enabled && strcmp(k->path, cfg->settings.metrics_path) == 0))) {
            ts_status s = ts_agent__fail(c, u[n].at, u[n].label, TS_EINVAL,
                                         "%s is served by the agent itself", k->path);
            free(u);
            return s;
        }
        n++;
    }
    qsort(u, n, sizeof *u, cmp_used);
    ts_status s = TS_OK;
    for (size_t i = 1; i < n && s == TS_OK; i++)
        if (strcmp(u[i].path, u[i - 1].path) == 0)
            s = ts_agent__fail(c, u[i].at, u[i].label, TS_EINVAL, "%s also used by %s",
                               http ? "URL path" : "file", u[i - 1].label);
    free(u);
    return s;
}

ts_status ts_agent__check_graph(ts_agent__ctx *c)
{
    ts_status s = TS_OK;
    for (size_t i = 0; i < c->cfg->n_sources && s == TS_OK; i++)
        s = resolve_inputs(c, i);
    if (s == TS_OK)
        s = order_sources(c);
    if (s == TS_OK)
        s = resolve_pending(c);
    if (s == TS_OK)
        s = check_paths(c, true);
    if (s == TS_OK)
        s = check_paths(c, false);
    return s;
}
