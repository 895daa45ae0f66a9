/*
 * The typed walk of the agent configuration: the context every config_*.c file shares and the
 * readers of typed fields (string, boolean, integer, enum, list) that give every error its
 * path and position the same way. Private to the agent library.
 *
 * Every reader refuses what the schema does not allow and stops at the first error: the walk
 * has no partial result to hand out, and ts_agent_config_parse() frees the arena on failure.
 */
#ifndef TS_AGENT_CONFIG_INTERNAL_H
#define TS_AGENT_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent_config.h"
#include "arena.h"
#include "yaml_tree.h"

/** Longest file path accepted (Linux's PATH_MAX less its NUL). */
#define TS_AGENT__FILE_PATH_MAX 4095
/** Longest path a message names (longer ones are cut). */
#define TS_AGENT__PATH_MAX 200

/** A template or `source` reference met during the walk, resolved once every source is known. */
typedef struct ts_agent__pending {
    size_t owner;            /**< index of the source whose request uses it */
    ts_agent_value *value;   /**< TEMPLATE or SOURCE */
    ts_agent_template *tmpl; /**< TEMPLATE: the template (value->tmpl, writable) */
    const char *path;        /**< of the `template` or `source` field (in the arena) */
    unsigned line, col;
} ts_agent__pending;

typedef struct ts_agent__ctx {
    const char *name;       /**< the file's name, for "NAME:LINE:COL" */
    ts_agent__arena *arena; /**< the configuration's: every string it keeps is copied here */
    ts_error *err;
    unsigned flags;           /**< TS_AGENT_CONFIG_* */
    ts_agent_config *cfg;     /**< being built */
    ts_agent_source *sources; /**< cfg->sources, writable while the configuration is built */
    ts_agent_sink *sinks;     /**< cfg->sinks, likewise */
    /* Where each source's and sink's node is, for the checks after the walk. */
    const ts_agent__node **source_nodes;
    const ts_agent__node **sink_nodes;
    size_t cur_source;          /**< the source being walked */
    ts_agent__pending *pending; /**< heap, grown; freed by ts_agent_config_parse() */
    size_t n_pending, cap_pending;
} ts_agent__ctx;

/** Record an error at @p at (its line and column; the file alone when NULL): where
 *  "NAME:LINE:COL", message "PATH: TEXT". @return @p code. */
TS_PRINTF(5, 6)
ts_status ts_agent__fail(ts_agent__ctx *c, const ts_agent__node *at, const char *path,
                         ts_status code, const char *fmt, ...);

/** The same at a line and column. */
TS_PRINTF(6, 7)
ts_status ts_agent__fail_at(ts_agent__ctx *c, unsigned line, unsigned col, const char *path,
                            ts_status code, const char *fmt, ...);

/** "PARENT.KEY" (or "KEY" at the top) and "PARENT[I]" into @p out. */
void ts_agent__path_key(char *out, size_t cap, const char *parent, const char *key);
void ts_agent__path_index(char *out, size_t cap, const char *parent, size_t i);

/** A printable, shortened form of a scalar for a message (never use it on a secret). */
void ts_agent__quote(char *out, size_t cap, const ts_agent__node *n);

/** TS_OK when @p n is a mapping, else "must be a mapping". */
ts_status ts_agent__want_map(ts_agent__ctx *c, const ts_agent__node *n, const char *path);
/**
 * The optional mapping @p key of @p parent read as a list with one element per entry (headers,
 * extra parameters, response fields): its path goes to @p p (TS_AGENT__PATH_MAX bytes); when
 * present it must be a mapping of at most TS_AGENT_MAX_FIELDS entries, and *list gets an arena
 * array of that many elements of @p size bytes. TS_OK with *m NULL when absent.
 */
ts_status ts_agent__entries(ts_agent__ctx *c, const ts_agent__node *parent, const char *path,
                            const char *key, char *p, const ts_agent__node **m, size_t size,
                            void **list);
/** Every key of @p map is one of @p allowed (NULL-terminated), else "unknown field". */
ts_status ts_agent__fields(ts_agent__ctx *c, const ts_agent__node *map, const char *path,
                           const char *const *allowed);
/** The value of @p key, or NULL when absent or null. */
const ts_agent__node *ts_agent__opt(const ts_agent__node *map, const char *key);
/** "required field missing", reported at @p map. */
ts_status ts_agent__missing(ts_agent__ctx *c, const ts_agent__node *map, const char *path,
                            const char *key);

/** A string field: *out = its copy, or @p def when absent (then "required field missing" when
 *  @p def is NULL). Empty strings are refused ("must not be empty"). */
ts_status ts_agent__string(ts_agent__ctx *c, const ts_agent__node *map, const char *path,
                           const char *key, const char *def, const char **out);
/** The scalar @p n itself as a string (copied); "must be a string" otherwise. */
ts_status ts_agent__scalar(ts_agent__ctx *c, const ts_agent__node *n, const char *path,
                           const char **out);
ts_status ts_agent__bool(ts_agent__ctx *c, const ts_agent__node *map, const char *path,
                         const char *key, bool def, bool *out);
ts_status ts_agent__int(ts_agent__ctx *c, const ts_agent__node *map, const char *path,
                        const char *key, int64_t lo, int64_t hi, int64_t def, int64_t *out);
/** One of @p names (NULL-terminated): *out = its index, or @p def when absent (< 0: required). */
ts_status ts_agent__enum(ts_agent__ctx *c, const ts_agent__node *map, const char *path,
                         const char *key, const char *const *names, int def, int *out);
/** A string or a list of at most @p max non-empty strings; absent: none. */
ts_status ts_agent__strings(ts_agent__ctx *c, const ts_agent__node *map, const char *path,
                            const char *key, size_t max, const char *const **out, size_t *n);

/** 1..TS_AGENT_MAX_ID of A-Z a-z 0-9 _ - (ids appear in templates and metric labels). */
bool ts_agent__id_ok(const char *s, size_t len);
/** An HTTP header name (RFC 9110 token characters). */
bool ts_agent__header_name_ok(const char *s, size_t len);
/** The integer in @p n (decimal, optional '-'), in lo..hi. */
bool ts_agent__parse_int(const ts_agent__node *n, int64_t lo, int64_t hi, int64_t *out);

/* The walk, one part per file. */
ts_status ts_agent__walk_settings(ts_agent__ctx *c, const ts_agent__node *root);
ts_status ts_agent__walk_sources(ts_agent__ctx *c, const ts_agent__node *root);
ts_status ts_agent__walk_oauth2(ts_agent__ctx *c, const ts_agent__node *n, const char *path,
                                ts_agent_source *src);
ts_status ts_agent__walk_tokensmith(ts_agent__ctx *c, const ts_agent__node *n, const char *path,
                                    ts_agent_source *src);
ts_status ts_agent__walk_sinks(ts_agent__ctx *c, const ts_agent__node *root);
/* After the sources: their ids sorted (for lookups by id); after the sinks: inputs, the graph,
 * references, and paths used twice. */
ts_status ts_agent__index_sources(ts_agent__ctx *c);
ts_status ts_agent__index_sinks(ts_agent__ctx *c);
ts_status ts_agent__check_graph(ts_agent__ctx *c);
/** Index of the source @p id (NUL-terminated), or SIZE_MAX; once the sources are indexed. */
size_t ts_agent__find_source(const ts_agent_config *cfg, const char *id);
/** The message for a token id that @p src does not expose (refresh_token and unknown ids). */
void ts_agent__no_token(const ts_agent_source *src, const char *token_id, char *out, size_t cap);
/* Last: the file system. */
ts_status ts_agent__check_fs(ts_agent__ctx *c);

/* Values (config_values.c). Kinds allowed by a value: a mask of 1u << TS_AGENT_VALUE_*. */
#define TS_AGENT__VALUE_ANY 0x1fu
#define TS_AGENT__VALUE_SECRET                                                                     \
    ((1u << TS_AGENT_VALUE_LITERAL) | (1u << TS_AGENT_VALUE_FILE) | (1u << TS_AGENT_VALUE_ENV))
/** A value: a mapping with one of value, template, source (+ id), from_file, from_env (and
 *  prefix, required where @p allow_required), or a scalar standing for {value: ...}. */
ts_status ts_agent__walk_value(ts_agent__ctx *c, const ts_agent__node *n, const char *path,
                               unsigned kinds, bool allow_required, ts_agent_value *out);
/** The same for an optional field of @p map; *out = NULL when absent. */
ts_status ts_agent__walk_opt_value(ts_agent__ctx *c, const ts_agent__node *map, const char *path,
                                   const char *key, unsigned kinds, const ts_agent_value **out);
/** A mapping of header names (or body fields) to values, in file order. */
ts_status ts_agent__walk_named_values(ts_agent__ctx *c, const ts_agent__node *map, const char *path,
                                      const char *key, bool headers,
                                      const ts_agent_named_value **out, size_t *n);
/** parse.tokens of an http or file source. */
ts_status ts_agent__walk_tokens(ts_agent__ctx *c, const ts_agent__node *n, const char *path,
                                bool file_source, ts_agent_source *src);
/** An endpoint URL (and allow_plain_http, ca_file from @p map). */
ts_status ts_agent__walk_endpoint(ts_agent__ctx *c, const ts_agent__node *map, const char *path,
                                  const char *url_key, ts_agent_endpoint *out);
/** settings.listen's HOST:PORT (port 0 allowed): TS_OK with *loopback set, or an error at @p n. */
ts_status ts_agent__parse_listen(ts_agent__ctx *c, const ts_agent__node *n, const char *path,
                                 const char *listen, bool *loopback);
/** An absolute file path field (no "..", no NUL, at most PATH_MAX). */
ts_status ts_agent__walk_abs_path(ts_agent__ctx *c, const ts_agent__node *map, const char *path,
                                  const char *key, bool required, const char **out);

/** Set a template reference's source index (template.c). */
void ts_agent__template_set_source_index(ts_agent_template *t, size_t ref, size_t index);

#endif
