/*
 * The agent configuration as a small generic tree (mappings, sequences, scalars, each with its
 * line and column), read from YAML or JSON with libyaml's event API before any typed walk.
 *
 * What the reader refuses, so that the typed walk never meets it: more than max_bytes of input,
 * a NUL byte, invalid UTF-8, nesting deeper than max_depth, more than max_nodes values, a
 * scalar longer than max_scalar bytes or holding a control character (a line break included:
 * no value of the schema spans lines, and one in a header value would split the header),
 * anchors and aliases (the "billion laughs" document is refused at its first anchor, before
 * anything is expanded or even copied), explicit tags, a key that is not a scalar, a key given
 * twice in one mapping, and a second document. JSON is read as YAML's flow style.
 *
 * Errors: ts_error.where is "NAME:LINE:COLUMN" (1-based, columns in characters) or NAME when
 * the whole input is at fault; the message says what is wrong. Private to the agent library.
 */
#ifndef TS_AGENT_YAML_TREE_H
#define TS_AGENT_YAML_TREE_H

#include <stdbool.h>
#include <stddef.h>

#include <tokensmith/error.h>

#include "arena.h"

typedef enum ts_agent__kind {
    TS_AGENT__SCALAR,
    TS_AGENT__MAP,
    TS_AGENT__SEQ,
} ts_agent__kind;

typedef struct ts_agent__node {
    ts_agent__kind kind;
    /** A scalar written without quotes: the only kind that may stand for null, a boolean or a
     *  number (a quoted "true" is the string true). */
    bool plain;
    unsigned line, col; /**< where it starts, 1-based */
    const char *str;    /**< SCALAR: its value, NUL-terminated (no NUL inside) */
    size_t len;
    /** SEQ: n items. MAP: n pairs, the key of pair i at items[2i] (always a scalar) and its
     *  value at items[2i + 1], in document order. */
    struct ts_agent__node **items;
    size_t n;
} ts_agent__node;

typedef struct ts_agent__limits {
    size_t max_bytes;
    unsigned max_depth;
    size_t max_nodes;
    size_t max_scalar;
} ts_agent__limits;

/**
 * Read @p len bytes of YAML or JSON at @p text into a tree allocated in @p arena.
 * @param name stands for the input in errors (a file name).
 * @return TS_OK with *root set (never NULL: an empty document is refused); TS_ELIMIT past a
 * limit; TS_EPARSE for malformed or refused input; TS_ENOMEM.
 */
ts_status ts_agent__yaml_parse(const char *text, size_t len, const char *name,
                               const ts_agent__limits *lim, ts_agent__arena *arena,
                               ts_agent__node **root, ts_error *err);

/** The value of @p key in the mapping @p map, or NULL when absent (or @p map is not a mapping). */
const ts_agent__node *ts_agent__map_get(const ts_agent__node *map, const char *key);

/** True for a plain scalar that YAML reads as null: empty, "~", "null" (any case). */
bool ts_agent__is_null(const ts_agent__node *n);

#endif
