/*
 * Reading the agent configuration into a generic tree with libyaml's event API.
 *
 * Why events and not libyaml's document loader: the loader builds the whole document before
 * anything can be refused, and it resolves aliases into shared nodes that a later walk would
 * expand. Pulled one event at a time, the input is refused at the first thing out of bounds (a
 * nesting level, a node count, an anchor), so a hostile file costs no more than its first
 * offending event. The typed walk (config_*.c) then works on this tree, which carries every
 * value's line and column for its messages.
 */
#include "yaml_tree.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "common/utf8.h"

#define TS_AGENT__TREE_PATH_MAX 200

typedef struct frame {
    ts_agent__node *node;
    ts_agent__node **items; /* children so far (heap, grown), moved into the arena at the end */
    size_t n, cap;
} frame;

typedef struct builder {
    const char *name;
    const ts_agent__limits *lim;
    ts_agent__arena *arena;
    ts_error *err;
    frame *stack; /* max_depth + 1 frames */
    unsigned depth;
    size_t nodes;
    ts_agent__node *root;
} builder;

/* Line and column (1-based, columns in characters) of byte @p off of @p text. */
static void position(const char *text, size_t len, size_t off, unsigned *line, unsigned *col)
{
    unsigned l = 1, c = 1;
    for (size_t i = 0; i < off && i < len;) {
        if (text[i] == '\n') {
            l++;
            c = 1;
            i++;
            continue;
        }
        size_t n = ts_common__utf8_decode((const unsigned char *)text + i, len - i, NULL);
        i += n ? n : 1;
        c++;
    }
    *line = l;
    *col = c;
}

/* The path ("sources.svc.request", "x.tokens[2]") of the container open at stack[depth - 1],
 * made of the keys and indexes that lead to it; "" at the top. Keys are cut to 64 bytes. */
static void tree_path(const builder *b, unsigned depth, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (unsigned i = 1; i < depth && o < cap; i++) {
        const frame *p = &b->stack[i - 1];
        if (p->node->kind == TS_AGENT__MAP)
            o += (size_t)snprintf(out + o, cap - o, "%s%.64s", o ? "." : "",
                                  p->items[p->n - 2]->str);
        else
            o += (size_t)snprintf(out + o, cap - o, "[%zu]", p->n - 1);
    }
}

/* The path of what the next event adds: the open container's path, and the key whose value
 * comes next (or the index of the next item). A key itself is named by its container. */
static void event_path(const builder *b, char *out, size_t cap)
{
    tree_path(b, b->depth, out, cap);
    if (b->depth == 0)
        return;
    const frame *f = &b->stack[b->depth - 1];
    size_t o = strlen(out);
    if (f->node->kind == TS_AGENT__SEQ)
        snprintf(out + o, cap - o, "[%zu]", f->n);
    else if (f->n % 2 == 1)
        snprintf(out + o, cap - o, "%s%.64s", o ? "." : "", f->items[f->n - 1]->str);
}

static ts_status fail_at(builder *b, unsigned line, unsigned col, ts_status code, const char *path,
                         const char *msg)
{
    char where[sizeof b->err->where];
    snprintf(where, sizeof where, "%s:%u:%u", b->name, line, col);
    if (path && path[0])
        return ts_error_set(b->err, code, where, "%s: %s", path, msg);
    return ts_error_set(b->err, code, where, "%s", msg);
}

static ts_status fail_mark(builder *b, const yaml_mark_t *m, ts_status code, const char *msg)
{
    char path[TS_AGENT__TREE_PATH_MAX];
    event_path(b, path, sizeof path);
    return fail_at(b, (unsigned)m->line + 1, (unsigned)m->column + 1, code, path, msg);
}

/* NUL bytes and invalid UTF-8 are refused before libyaml sees the text: its reader would say
 * so too, but by byte offset, and it accepts UTF-16, which this reader does not. */
static ts_status precheck(builder *b, const char *text, size_t len)
{
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)text[i];
        size_t n = c ? ts_common__utf8_decode((const unsigned char *)text + i, len - i, NULL) : 0;
        if (n == 0) {
            unsigned line, col;
            position(text, len, i, &line, &col);
            return fail_at(b, line, col, TS_EPARSE, NULL,
                           c ? "invalid UTF-8 (the configuration must be UTF-8 text)"
                             : "NUL byte (the configuration must be text)");
        }
        i += n;
    }
    return TS_OK;
}

static ts_status libyaml_error(builder *b, const yaml_parser_t *p, const char *text, size_t len)
{
    char msg[sizeof b->err->msg];
    if (p->error == YAML_MEMORY_ERROR)
        return ts_error_set(b->err, TS_ENOMEM, b->name, "out of memory reading YAML");
    const char *problem = p->problem ? p->problem : "malformed YAML";
    if (p->error == YAML_READER_ERROR) {
        unsigned line, col;
        position(text, len, p->problem_offset, &line, &col);
        return fail_at(b, line, col, TS_EPARSE, NULL, problem);
    }
    size_t at = p->problem_mark.index;
    if (at < len && text[at] == '\t')
        snprintf(msg, sizeof msg, "a tab character where YAML allows none (indent with spaces)");
    else if (p->context)
        snprintf(msg, sizeof msg, "%s (%s)", problem, p->context);
    else
        snprintf(msg, sizeof msg, "%s", problem);
    return fail_mark(b, &p->problem_mark, TS_EPARSE, msg);
}

/* A new node at @p m, attached to the open container (or made the root). */
static ts_status add_node(builder *b, ts_agent__kind kind, const yaml_mark_t *m,
                          ts_agent__node **out)
{
    if (++b->nodes > b->lim->max_nodes) {
        char msg[96];
        snprintf(msg, sizeof msg, "more than %zu values in the configuration", b->lim->max_nodes);
        return fail_mark(b, m, TS_ELIMIT, msg);
    }
    ts_agent__node *n = ts_agent__arena_alloc(b->arena, sizeof *n);
    if (!n)
        return ts_error_set(b->err, TS_ENOMEM, b->name, "out of memory reading YAML");
    n->kind = kind;
    n->line = (unsigned)m->line + 1;
    n->col = (unsigned)m->column + 1;
    if (b->depth == 0) {
        b->root = n;
    } else {
        frame *f = &b->stack[b->depth - 1];
        if (f->node->kind == TS_AGENT__MAP && f->n % 2 == 0 && kind != TS_AGENT__SCALAR)
            return fail_mark(b, m, TS_EPARSE, "a mapping key must be a string");
        if (f->n == f->cap) {
            size_t cap = f->cap ? f->cap * 2 : 8;
            ts_agent__node **items = realloc(f->items, cap * sizeof *items);
            if (!items)
                return ts_error_set(b->err, TS_ENOMEM, b->name, "out of memory reading YAML");
            f->items = items;
            f->cap = cap;
        }
        f->items[f->n++] = n;
    }
    *out = n;
    return TS_OK;
}

static ts_status open_container(builder *b, ts_agent__kind kind, const yaml_mark_t *m)
{
    if (b->depth >= b->lim->max_depth) {
        char msg[96];
        snprintf(msg, sizeof msg, "nested deeper than %u levels", b->lim->max_depth);
        return fail_mark(b, m, TS_ELIMIT, msg);
    }
    ts_agent__node *n = NULL;
    ts_status s = add_node(b, kind, m, &n);
    if (s != TS_OK)
        return s;
    frame *f = &b->stack[b->depth++];
    memset(f, 0, sizeof *f);
    f->node = n;
    return TS_OK;
}

static int cmp_key(const void *pa, const void *pb)
{
    const ts_agent__node *a = *(ts_agent__node *const *)pa, *b = *(ts_agent__node *const *)pb;
    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    int c = memcmp(a->str, b->str, a->len);
    if (c)
        return c;
    /* Equal keys in document order, so that the second one is the one reported. */
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    return a->col < b->col ? -1 : a->col > b->col;
}

/* Duplicate keys by sorting the keys: linear after the sort, whatever the count, where
 * comparing every pair would let one wide mapping cost quadratic time. */
static ts_status check_duplicates(builder *b, const ts_agent__node *map)
{
    if (map->n < 2)
        return TS_OK;
    ts_agent__node **keys = malloc(map->n * sizeof *keys);
    if (!keys)
        return ts_error_set(b->err, TS_ENOMEM, b->name, "out of memory reading YAML");
    for (size_t i = 0; i < map->n; i++)
        keys[i] = map->items[2 * i];
    qsort(keys, map->n, sizeof *keys, cmp_key);
    ts_status s = TS_OK;
    for (size_t i = 1; i < map->n && s == TS_OK; i++) {
        if (keys[i]->len == keys[i - 1]->len &&
            memcmp(keys[i]->str, keys[i - 1]->str, keys[i]->len) == 0) {
            char msg[64], path[TS_AGENT__TREE_PATH_MAX];
            size_t o;
            tree_path(b, b->depth, path, sizeof path);
            o = strlen(path);
            snprintf(path + o, sizeof path - o, "%s%.64s", o ? "." : "", keys[i]->str);
            snprintf(msg, sizeof msg, "given twice (first at %u:%u)", keys[i - 1]->line,
                     keys[i - 1]->col);
            s = fail_at(b, keys[i]->line, keys[i]->col, TS_EPARSE, path, msg);
        }
    }
    free(keys);
    return s;
}

static ts_status close_container(builder *b)
{
    frame *f = &b->stack[b->depth - 1];
    ts_agent__node *n = f->node;
    if (f->n) {
        n->items = ts_agent__arena_array(b->arena, f->n, sizeof *n->items);
        if (!n->items)
            return ts_error_set(b->err, TS_ENOMEM, b->name, "out of memory reading YAML");
        memcpy(n->items, f->items, f->n * sizeof *n->items);
    }
    n->n = n->kind == TS_AGENT__MAP ? f->n / 2 : f->n;
    /* Checked while the mapping is still open, so that its path names it. */
    ts_status s = n->kind == TS_AGENT__MAP ? check_duplicates(b, n) : TS_OK;
    free(f->items);
    f->items = NULL;
    b->depth--;
    return s;
}

static ts_status add_scalar(builder *b, const yaml_event_t *e)
{
    const unsigned char *v = e->data.scalar.value;
    size_t len = e->data.scalar.length;
    if (len > b->lim->max_scalar) {
        char msg[96];
        snprintf(msg, sizeof msg, "a value longer than %zu bytes", b->lim->max_scalar);
        return fail_mark(b, &e->start_mark, TS_ELIMIT, msg);
    }
    for (size_t i = 0; i < len; i++)
        if (v[i] < 0x20 || v[i] == 0x7f)
            return fail_mark(b, &e->start_mark, TS_EPARSE,
                             v[i] == '\n' ? "a line break inside a value (values are one line)"
                                          : "a control character inside a value");
    const frame *f = b->depth ? &b->stack[b->depth - 1] : NULL;
    if (f && f->node->kind == TS_AGENT__MAP && f->n % 2 == 0 &&
        e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && len == 2 && memcmp(v, "<<", 2) == 0)
        return fail_mark(b, &e->start_mark, TS_EPARSE,
                         "YAML merge keys (<<) are not supported: write each field out");
    ts_agent__node *n = NULL;
    ts_status s = add_node(b, TS_AGENT__SCALAR, &e->start_mark, &n);
    if (s != TS_OK)
        return s;
    n->str = ts_agent__arena_strndup(b->arena, (const char *)v, len);
    if (!n->str)
        return ts_error_set(b->err, TS_ENOMEM, b->name, "out of memory reading YAML");
    n->len = len;
    n->plain = e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    return TS_OK;
}

/* Anchors and tags are refused wherever they appear: an anchor is only useful to an alias,
 * and an alias is how a few hundred bytes become gigabytes once expanded. */
static ts_status check_props(builder *b, const yaml_event_t *e, const yaml_char_t *anchor,
                             const yaml_char_t *tag)
{
    if (anchor)
        return fail_mark(b, &e->start_mark, TS_EPARSE,
                         "YAML anchors (&name) are not supported: write each value out");
    if (tag)
        return fail_mark(b, &e->start_mark, TS_EPARSE, "YAML tags (!tag) are not supported");
    return TS_OK;
}

static ts_status on_event(builder *b, const yaml_event_t *e, int *docs)
{
    switch (e->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++*docs > 1)
            return fail_mark(b, &e->start_mark, TS_EPARSE,
                             "a second YAML document (the configuration is one document)");
        return TS_OK;
    case YAML_ALIAS_EVENT:
        return fail_mark(b, &e->start_mark, TS_EPARSE,
                         "YAML aliases (*name) are not supported: write each value out");
    case YAML_SCALAR_EVENT: {
        ts_status s = check_props(b, e, e->data.scalar.anchor, e->data.scalar.tag);
        return s != TS_OK ? s : add_scalar(b, e);
    }
    case YAML_SEQUENCE_START_EVENT: {
        ts_status s = check_props(b, e, e->data.sequence_start.anchor, e->data.sequence_start.tag);
        return s != TS_OK ? s : open_container(b, TS_AGENT__SEQ, &e->start_mark);
    }
    case YAML_MAPPING_START_EVENT: {
        ts_status s = check_props(b, e, e->data.mapping_start.anchor, e->data.mapping_start.tag);
        return s != TS_OK ? s : open_container(b, TS_AGENT__MAP, &e->start_mark);
    }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return close_container(b);
    default:
        return TS_OK;
    }
}

ts_status ts_agent__yaml_parse(const char *text, size_t len, const char *name,
                               const ts_agent__limits *lim, ts_agent__arena *arena,
                               ts_agent__node **root, ts_error *err)
{
    builder b = {.name = name, .lim = lim, .arena = arena, .err = err};
    *root = NULL;
    if (len > lim->max_bytes)
        return ts_error_set(err, TS_ELIMIT, name, "larger than %zu bytes", lim->max_bytes);
    ts_status s = precheck(&b, text, len);
    if (s != TS_OK)
        return s;
    b.stack = calloc((size_t)lim->max_depth + 1, sizeof *b.stack);
    if (!b.stack)
        return ts_error_set(err, TS_ENOMEM, name, "out of memory reading YAML");

    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        free(b.stack);
        return ts_error_set(err, TS_ENOMEM, name, "out of memory reading YAML");
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
    int docs = 0;
    for (bool done = false; !done && s == TS_OK;) {
        yaml_event_t e;
        if (!yaml_parser_parse(&p, &e)) {
            s = libyaml_error(&b, &p, text, len);
            break;
        }
        done = e.type == YAML_STREAM_END_EVENT;
        s = on_event(&b, &e, &docs);
        yaml_event_delete(&e);
    }
    yaml_parser_delete(&p);
    for (unsigned i = 0; i < b.depth; i++)
        free(b.stack[i].items);
    free(b.stack);
    if (s != TS_OK)
        return s;
    if (!b.root)
        return ts_error_set(err, TS_EPARSE, name, "empty configuration");
    *root = b.root;
    return TS_OK;
}

const ts_agent__node *ts_agent__map_get(const ts_agent__node *map, const char *key)
{
    if (!map || map->kind != TS_AGENT__MAP)
        return NULL;
    size_t kl = strlen(key);
    for (size_t i = 0; i < map->n; i++) {
        const ts_agent__node *k = map->items[2 * i];
        if (k->len == kl && memcmp(k->str, key, kl) == 0)
            return map->items[2 * i + 1];
    }
    return NULL;
}

bool ts_agent__is_null(const ts_agent__node *n)
{
    if (!n || n->kind != TS_AGENT__SCALAR || !n->plain)
        return false;
    if (n->len == 0 || (n->len == 1 && n->str[0] == '~'))
        return true;
    return n->len == 4 && (strcmp(n->str, "null") == 0 || strcmp(n->str, "Null") == 0 ||
                           strcmp(n->str, "NULL") == 0);
}
