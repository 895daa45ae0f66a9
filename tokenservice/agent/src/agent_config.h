/*
 * The configuration of `tokensmith agent`: its data model, read from YAML or JSON, validated.
 *
 * The schema is token-agent's (sources of type http and file that fetch and parse tokens,
 * chained through `inputs` and `{{source.token}}` templates; sinks of type file, http and uds
 * that expose them) plus two source types of ours, `oauth2` (any OAuth 2.0 token endpoint:
 * client credentials, RFC 8693 token exchange, refresh token) and `tokensmith` (a tokensmith
 * bootstrap token exchanged once, then its refresh family kept in a state file). docs/agent.md
 * ("Configuration") documents every field, its default and the error messages.
 *
 * Objects: a ts_agent_config is one validated configuration, read by ts_agent_config_parse()
 * (from memory) or ts_agent_config_load() (from a file) and freed by ts_agent_config_free().
 * It is plain data: settings, sources (with a topological order) and sinks, every reference
 * resolved to an index, every default applied, every string NUL-terminated. Nothing in it is
 * ever NULL unless its comment says so.
 *
 * Ownership: everything a configuration points to (strings, lists, templates) belongs to it
 * and lives until ts_agent_config_free(), which wipes it (a configuration may hold a bootstrap
 * token or a client secret given as `value`).
 * Thread-safety: a configuration is immutable once returned; any number of threads may read
 * it. A reload reads a new one and swaps it in; the old one is freed when nobody uses it.
 * Errors: ts_error.where is "NAME:LINE:COLUMN" of the offending value (or NAME alone when the
 * whole file is at fault) and the message starts with the path of the value, e.g.
 * where "agent.yaml:12:7", msg "sources.exchange.request.headers.Authorization.template:
 * unknown source 'x'". No message ever repeats a secret (a `value`, a token, a URL).
 */
#ifndef TS_AGENT_CONFIG_H
#define TS_AGENT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <tokensmith/error.h>

#include "agent_template.h"

/* ---------------------------------------------------------------------------------------- */
/* Values: where a header, a body field or a secret comes from                              */

typedef enum ts_agent_value_kind {
    TS_AGENT_VALUE_LITERAL,  /**< `value`: text */
    TS_AGENT_VALUE_TEMPLATE, /**< `template`: text with {{source.token}} references */
    TS_AGENT_VALUE_SOURCE,   /**< `source` + `id`: another source's token, with `prefix` */
    TS_AGENT_VALUE_FILE,     /**< `from_file`: a file's content (trailing line breaks cut) */
    TS_AGENT_VALUE_ENV,      /**< `from_env`: an environment variable */
} ts_agent_value_kind;

typedef struct ts_agent_value {
    ts_agent_value_kind kind;
    /** LITERAL: the value; TEMPLATE: the template text; FILE: the absolute path; ENV: the
     *  variable's name; SOURCE: "". */
    const char *text;
    const ts_agent_template *tmpl; /**< TEMPLATE: parsed and resolved; NULL otherwise */
    const char *source_id;         /**< SOURCE: the source (in the owner's inputs); else "" */
    const char *token_id;          /**< SOURCE: the token of that source; else "" */
    size_t source_index;           /**< SOURCE: index into ts_agent_config.sources */
    const char *prefix;            /**< put before the value ("Bearer "); "" when none */
    /** When the value cannot be produced (no token yet, file or variable missing): true (the
     *  default) fails the source's request; false leaves the header or field out. */
    bool required;
    unsigned line, col;
} ts_agent_value;

/** A header or JSON body field of a request: its name and where its value comes from. */
typedef struct ts_agent_named_value {
    const char *name;
    ts_agent_value value;
} ts_agent_named_value;

/** A name and a plain string (extra form parameters). */
typedef struct ts_agent_param {
    const char *name;
    const char *value;
} ts_agent_param;

/* ---------------------------------------------------------------------------------------- */
/* Tokens a source yields                                                                   */

typedef enum ts_agent_parent {
    TS_AGENT_PARENT_BODY,   /**< the response body (or the file's content) */
    TS_AGENT_PARENT_HEADER, /**< a response header */
} ts_agent_parent;

typedef enum ts_agent_token_type {
    TS_AGENT_TOKEN_PLAIN_TEXT,
    TS_AGENT_TOKEN_JWT, /**< its `exp` claim can give the expiry (expiration source `self`) */
} ts_agent_token_type;

typedef enum ts_agent_exp_source {
    TS_AGENT_EXP_JSON_BODY_FIELD, /**< a member of the JSON body (`pointer`) */
    TS_AGENT_EXP_HEADER_FIELD,    /**< a response header (`pointer` is its name) */
    TS_AGENT_EXP_MANUAL,          /**< a fixed lifetime: manual_ttl_seconds */
    TS_AGENT_EXP_SELF,            /**< the JWT's own `exp` claim */
} ts_agent_exp_source;

typedef enum ts_agent_time_format {
    TS_AGENT_TIME_SECONDS, /**< seconds from now (expires_in) */
    TS_AGENT_TIME_UNIX,    /**< seconds since the epoch */
    TS_AGENT_TIME_RFC3339, /**< 2025-10-07T10:00:00Z */
} ts_agent_time_format;

typedef struct ts_agent_expiration {
    ts_agent_exp_source source;
    /** JSON_BODY_FIELD: an RFC 6901 JSON pointer ("/expires_in"); HEADER_FIELD: the header's
     *  name; "" otherwise. */
    const char *pointer;
    ts_agent_time_format format; /**< how the field is written (JSON_BODY_FIELD, HEADER_FIELD) */
    int64_t manual_ttl_seconds;  /**< MANUAL: > 0; 0 otherwise */
} ts_agent_expiration;

typedef struct ts_agent_token_spec {
    const char *id; /**< unique within its source */
    ts_agent_parent parent;
    /** BODY: an RFC 6901 JSON pointer ("/access_token"; token-agent's bare "access_token" is
     *  read as "/access_token"), or "" for the whole body; HEADER: the header's name. */
    const char *pointer;
    ts_agent_token_type token_type;
    ts_agent_expiration expiration; /**< a jwt without `expiration` gets SELF */
    unsigned line, col;
} ts_agent_token_spec;

/* ---------------------------------------------------------------------------------------- */
/* Sources                                                                                  */

typedef enum ts_agent_source_type {
    TS_AGENT_SOURCE_HTTP,       /**< token-agent's http: a request, then parse.tokens */
    TS_AGENT_SOURCE_FILE,       /**< token-agent's file: a file's content, then parse.tokens */
    TS_AGENT_SOURCE_OAUTH2,     /**< an OAuth 2.0 grant at any token endpoint */
    TS_AGENT_SOURCE_TOKENSMITH, /**< a tokensmith bootstrap token, then its refresh family */
} ts_agent_source_type;

typedef enum ts_agent_method {
    TS_AGENT_METHOD_GET,
    TS_AGENT_METHOD_POST,
} ts_agent_method;

/** Where a request may go and how it is secured (http, oauth2 and tokensmith sources). */
typedef struct ts_agent_endpoint {
    /** https://, or http:// to a loopback or link-local address (or anywhere when
     *  allow_plain_http). No credentials in it. */
    const char *url;
    bool allow_plain_http;
    const char *ca_file; /**< PEM CA bundle for TLS; "" for the system's */
} ts_agent_endpoint;

typedef struct ts_agent_http_source {
    ts_agent_endpoint endpoint; /**< request.url, request.allow_plain_http, request.ca_file */
    ts_agent_method method;     /**< default GET */
    const ts_agent_named_value *headers; /**< in file order; names unique ignoring case */
    size_t n_headers;
    /** A JSON object of strings sent as the body (POST only), in file order. */
    const ts_agent_named_value *body;
    size_t n_body;
} ts_agent_http_source;

typedef enum ts_agent_grant {
    TS_AGENT_GRANT_CLIENT_CREDENTIALS,
    TS_AGENT_GRANT_TOKEN_EXCHANGE, /**< RFC 8693 */
    TS_AGENT_GRANT_REFRESH_TOKEN,
} ts_agent_grant;

typedef enum ts_agent_client_auth {
    TS_AGENT_CLIENT_AUTH_NONE, /**< client_id (if any) as a form parameter */
    TS_AGENT_CLIENT_AUTH_BASIC,
    TS_AGENT_CLIENT_AUTH_POST,
} ts_agent_client_auth;

typedef struct ts_agent_oauth2_source {
    ts_agent_endpoint endpoint; /**< token_endpoint, allow_plain_http, ca_file */
    ts_agent_client_auth client_auth;
    const char *client_id;               /**< "" when none */
    const ts_agent_value *client_secret; /**< LITERAL, FILE or ENV; NULL when none */
    ts_agent_grant grant;
    const char *scope;           /**< space-separated; "" when none */
    const char *const *audience; /**< each sent as an `audience` parameter */
    size_t n_audience;
    const char *const *resource; /**< each sent as a `resource` parameter */
    size_t n_resource;
    const char *requested_token_type;    /**< a URI; "" when none */
    const ts_agent_value *subject_token; /**< TOKEN_EXCHANGE: required; else NULL */
    const char *subject_token_type;      /**< TOKEN_EXCHANGE: a URI; else "" */
    const ts_agent_value *actor_token;   /**< TOKEN_EXCHANGE: optional; NULL when none */
    const char *actor_token_type;        /**< with actor_token: a URI; else "" */
    const ts_agent_value *refresh_token; /**< REFRESH_TOKEN: the first one; else NULL */
    /** REFRESH_TOKEN: where the rotated refresh token is kept (0600) so that a restart does
     *  not present a spent one; "" when none (then a restart starts from refresh_token). */
    const char *state_file;
    const ts_agent_param *extra_params; /**< more form parameters, in file order */
    size_t n_extra_params;
} ts_agent_oauth2_source;

typedef struct ts_agent_tokensmith_source {
    ts_agent_endpoint endpoint;            /**< token_endpoint, allow_plain_http, ca_file */
    const ts_agent_value *bootstrap_token; /**< LITERAL, FILE or ENV; NULL when none */
    const char *state_file;                /**< the refresh family (required, 0600) */
} ts_agent_tokensmith_source;

typedef struct ts_agent_source {
    const char *id;
    ts_agent_source_type type;
    unsigned line, col;
    /** The sources whose tokens this one uses (templates and `source` references may name
     *  only these): their ids and their indexes into ts_agent_config.sources. */
    const char *const *inputs;
    const size_t *input_index;
    size_t n_inputs;
    int64_t safety_margin_seconds; /**< refreshed at least this long before expiry */
    /** /health is ready only when every required source (the default) has a valid token. */
    bool required;
    /** The tokens it yields, for sinks and for its dependants. http and file: parse.tokens;
     *  oauth2 and tokensmith: one, `access_token` (the refresh token is never exposed). */
    const ts_agent_token_spec *tokens;
    size_t n_tokens;
    /* The type's own fields: the member named after `type` is filled, the others are zero. */
    ts_agent_http_source http;
    const char *file_path; /**< FILE: absolute path of the file read */
    ts_agent_oauth2_source oauth2;
    ts_agent_tokensmith_source tokensmith;
} ts_agent_source;

/* ---------------------------------------------------------------------------------------- */
/* Sinks                                                                                    */

typedef enum ts_agent_sink_type {
    TS_AGENT_SINK_FILE, /**< the bare token in a file, replaced atomically */
    TS_AGENT_SINK_HTTP, /**< a response on settings.listen at `path` */
    TS_AGENT_SINK_UDS,  /**< the same response over HTTP on a Unix socket at `path` */
} ts_agent_sink_type;

typedef enum ts_agent_field_type {
    TS_AGENT_FIELD_TOKEN,      /**< a token's value */
    TS_AGENT_FIELD_STRING,     /**< fixed text */
    TS_AGENT_FIELD_EXPIRATION, /**< a token's expiry in `format` */
} ts_agent_field_type;

typedef struct ts_agent_response_field {
    const char *name;
    ts_agent_field_type type;
    const char *token_id;        /**< TOKEN, EXPIRATION: a token of the sink's source; else "" */
    size_t token_index;          /**< its index into the source's tokens */
    const char *value;           /**< STRING: the text; else "" */
    ts_agent_time_format format; /**< EXPIRATION (default seconds) */
    unsigned line, col;
} ts_agent_response_field;

typedef struct ts_agent_response {
    const char *content_type; /**< default application/json */
    /** The content type is JSON (application/json or +json): the body is a JSON object of its
     *  fields (seconds and unix as numbers). Otherwise the body has at most one field, served
     *  as it is. */
    bool json;
    const ts_agent_response_field *headers;
    size_t n_headers;
    const ts_agent_response_field *body;
    size_t n_body;
} ts_agent_response;

typedef struct ts_agent_sink {
    const char *id;
    ts_agent_sink_type type;
    unsigned line, col;
    const char *source_id;
    size_t source_index; /**< into ts_agent_config.sources */
    const char *token_id;
    size_t token_index; /**< into that source's tokens */
    /** FILE: absolute path of the token file; UDS: absolute path of the socket; HTTP: the URL
     *  path served on settings.listen (starts with '/'). */
    const char *path;
    unsigned mode; /**< FILE (default 0600) and UDS (default 0660): permission bits */
    /** FILE and UDS: the owner and group to give the file or socket, as written ("" when
     *  none), and their ids: -1 when none, or when a name was not looked up
     *  (TS_AGENT_CONFIG_SKIP_FS_CHECKS). */
    const char *owner, *group;
    int64_t owner_uid, group_gid;
    /** UDS: the peer uids allowed to connect (SO_PEERCRED); none means any that the socket's
     *  mode lets in. As written, and resolved (-1 for a name not looked up). */
    const char *const *allowed_uid_names;
    const int64_t *allowed_uids;
    size_t n_allowed_uids;
    /** UDS: a URL path answered besides "/"; "" when none. */
    const char *http_path;
    /** HTTP and UDS: what is served; when the file gives none, the default:
     *  application/json {"access_token": token, "expires_in": expiration seconds}. */
    ts_agent_response response;
} ts_agent_sink;

/* ---------------------------------------------------------------------------------------- */
/* Settings and the whole configuration                                                     */

typedef enum ts_agent_log_level {
    TS_AGENT_LOG_TRACE,
    TS_AGENT_LOG_DEBUG,
    TS_AGENT_LOG_INFO,
    TS_AGENT_LOG_WARN,
    TS_AGENT_LOG_ERROR,
} ts_agent_log_level;

typedef enum ts_agent_log_format {
    TS_AGENT_LOG_JSON,
    TS_AGENT_LOG_TEXT, /**< token-agent's `compact` */
} ts_agent_log_format;

typedef struct ts_agent_settings {
    /** HOST:PORT (or [V6]:PORT) of the listener for http sinks, /health and /metrics; "" when
     *  `none` (no listener). Default 127.0.0.1:8181. */
    const char *listen;
    /** The listener's address is not loopback: allowed only with listen_non_loopback. */
    bool listen_non_loopback;
    /** HTTPS on the listener: a PEM certificate chain (leaf first) and its key (PEM, mode
     *  0600, or a pkcs11: URI); both "" (the default) for plain HTTP. Reread on SIGHUP and when
     *  the files change; a reload that changes the paths is refused (a restart applies it). */
    const char *tls_cert_file;
    const char *tls_key_file;
    int64_t safety_margin_seconds; /**< default 30; a source may override it */
    unsigned retry_attempts;       /**< failures in a row before a source counts as failing */
    unsigned retry_base_delay_ms;  /**< the first backoff, doubled per failure (full jitter) */
    unsigned retry_max_delay_ms;   /**< the backoff's cap */
    unsigned request_timeout_ms;   /**< each request, connection included */
    bool metrics_enabled;
    const char *metrics_path; /**< default /metrics */
    const char *health_path;  /**< /health */
    ts_agent_log_level log_level;
    ts_agent_log_format log_format;
} ts_agent_settings;

typedef struct ts_agent__arena ts_agent__arena;

typedef struct ts_agent_config {
    const char *name; /**< the name errors use (the file's path) */
    ts_agent_settings settings;
    const ts_agent_source *sources; /**< in file order */
    size_t n_sources;
    /** n_sources indexes into sources: every source comes after all its inputs (refresh in
     *  this order; a source's dependants are the ones that list it in inputs). */
    const size_t *order;
    const ts_agent_sink *sinks; /**< in file order */
    size_t n_sinks;
    /* Private: the memory, and the indexes sorted by id for the lookups below. */
    ts_agent__arena *arena_;
    const size_t *source_by_id_;
    const size_t *sink_by_id_;
} ts_agent_config;

/* ---------------------------------------------------------------------------------------- */
/* Reading                                                                                  */

/** Flags of ts_agent_config_options. */
enum {
    /**
     * No check that depends on the machine: the directories of file sinks, sockets and state
     * files are not checked to exist and be writable, CA files to be readable, and user and
     * group names are not looked up (their ids stay -1). For the fuzzer, and for checking a
     * configuration meant for another machine.
     */
    TS_AGENT_CONFIG_SKIP_FS_CHECKS = 1u << 0,
};

#define TS_AGENT_CONFIG_OPTIONS_VERSION 1u

/** Bounds and flags; zero bounds take the defaults. NULL options: all defaults. */
typedef struct ts_agent_config_options {
    unsigned version;   /**< TS_AGENT_CONFIG_OPTIONS_VERSION */
    unsigned flags;     /**< TS_AGENT_CONFIG_* */
    size_t max_bytes;   /**< input size; default 1 MiB */
    unsigned max_depth; /**< nesting of mappings and lists; default 32 */
    size_t max_nodes;   /**< values in the document (keys included); default 100000 */
    size_t max_scalar;  /**< bytes of one value; default 65536 */
} ts_agent_config_options;

#define TS_AGENT_CONFIG_OPTIONS_INIT                                                               \
    {                                                                                              \
        .version = TS_AGENT_CONFIG_OPTIONS_VERSION, .flags = 0, .max_bytes = 0, .max_depth = 0,    \
        .max_nodes = 0, .max_scalar = 0                                                            \
    }

/** The defaults of the bounds, and the caps of the schema. */
#define TS_AGENT_CONFIG_MAX_BYTES (1024u * 1024u)
#define TS_AGENT_CONFIG_MAX_DEPTH 32u
#define TS_AGENT_CONFIG_MAX_NODES 100000u
#define TS_AGENT_CONFIG_MAX_SCALAR 65536u
#define TS_AGENT_MAX_SOURCES 256u
#define TS_AGENT_MAX_SINKS 1024u
#define TS_AGENT_MAX_TOKENS 32u /**< per source */
#define TS_AGENT_MAX_FIELDS 64u /**< headers, body fields, parameters, inputs, uids per list */
#define TS_AGENT_MAX_ID 64u     /**< bytes of a source, sink or token id */

/**
 * Read and validate a configuration from @p len bytes of YAML or JSON at @p text.
 * @param name stands for the text in errors ("agent.yaml"); NULL: "config".
 * @param out on TS_OK the configuration (free with ts_agent_config_free()); NULL otherwise.
 * @return TS_OK; TS_EPARSE (malformed or refused YAML), TS_EINVAL (a field's value), TS_ENOTFOUND
 * (a reference to a source, token or user that does not exist), TS_ECYCLE (inputs form a
 * cycle), TS_ELIMIT (a bound), TS_EIO (a file-system check), TS_ENOMEM.
 */
TS_NODISCARD ts_status ts_agent_config_parse(const char *text, size_t len, const char *name,
                                             const ts_agent_config_options *opts,
                                             ts_agent_config **out, ts_error *err);

/** The same for the file at @p path (at most max_bytes of it), named by its path in errors. */
TS_NODISCARD ts_status ts_agent_config_load(const char *path, const ts_agent_config_options *opts,
                                            ts_agent_config **out, ts_error *err);

/** Wipe and free everything @p cfg holds. NULL-safe. */
void ts_agent_config_free(ts_agent_config *cfg);

/** The source or sink called @p id, or NULL; valid until @p cfg is freed. */
const ts_agent_source *ts_agent_config_source(const ts_agent_config *cfg, const char *id);
const ts_agent_sink *ts_agent_config_sink(const ts_agent_config *cfg, const char *id);

/** The index into @p src's tokens of the token @p id, or SIZE_MAX. */
size_t ts_agent_source_token(const ts_agent_source *src, const char *id);

/** Names of the enums as the configuration writes them ("http", "json_body_field", ...). */
const char *ts_agent_source_type_name(ts_agent_source_type t);
const char *ts_agent_sink_type_name(ts_agent_sink_type t);

#endif
