/* Configuration of `tokensmith serve`: defaults, the JSON config file, environment, flags. */
#ifndef TS_SVC_CONFIG_H
#define TS_SVC_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <tokensmith/error.h>

#define TS_SVC_STR 256
#define TS_SVC_PATH 1024
#define TS_SVC_MAX_GROUPS 32
#define TS_SVC_OIDC_MAX 65536 /**< the `oidc` member of the config file, as compact JSON */

/** Every setting of the service. Strings are NUL-terminated, always within their arrays. */
typedef struct ts_svc_config {
    char issuer[TS_SVC_STR];
    char listen[TS_SVC_STR]; /**< HOST:PORT; [v6]:PORT */
    char cluster_id[TS_SVC_STR];
    char openchami_id[TS_SVC_STR];
    char home[TS_SVC_PATH];        /**< state directory: default keys and store live here */
    char key_dir[TS_SVC_PATH];     /**< "" = <home>/keys */
    char key_file[TS_SVC_PATH];    /**< one key file instead of a directory */
    char algorithm[16];            /**< "" (PS256 for new keys; a key's own otherwise) or a name */
    char store[TS_SVC_PATH];       /**< "" = <home>/tokensmith.db */
    char log_format[8];            /**< json | text */
    char trusted_proxy[64];        /**< address whose X-Forwarded-For is believed; "" = none */
    int64_t access_ttl_s;          /**< 60..86400, default 3600 */
    int64_t redeem_retry_grace_s;  /**< 0..3600, default 0 (strictly single use) */
    unsigned threads;              /**< worker threads, 1..256, default 16 */
    unsigned max_body_bytes;       /**< 1024..65536, default 16384 */
    unsigned max_header_bytes;     /**< 4096..1048576, default 32768 */
    unsigned connection_timeout_s; /**< 1..600, default 30 */
    unsigned max_connections;      /**< 1..100000, default 1024 */
    /* Claims of issued tokens. */
    bool nist_claims;    /**< add auth_level, auth_factors, auth_methods, session_*, ... */
    char auth_level[64]; /**< default "IAL2" */
    int auth_factors;    /**< default 2 */
    char token_type[32]; /**< JWS typ: "JWT" (default) or "at+jwt" */
    /** groupScopes: group -> space-separated scopes (for the upstream-OIDC exchange). */
    char groups[TS_SVC_MAX_GROUPS][64];
    char group_scopes[TS_SVC_MAX_GROUPS][TS_SVC_STR];
    unsigned n_groups;
    /** Upstream providers: the `oidc` member ({"providers":[...]}) as compact JSON; "" = none. */
    char oidc[TS_SVC_OIDC_MAX];
    /** Admin listener: loopback HOST:PORT or unix:PATH; "" = no admin API. */
    char admin_listen[TS_SVC_PATH];
} ts_svc_config;

/** Built-in defaults (loopback, ./tokensmith-data or $TOKENSMITH_HOME decided later). */
void ts_svc_config_defaults(ts_svc_config *c);

#define TS_SVC_CONFIG_MAX_BYTES                                                                    \
    (1u << 20) /**< a configuration file larger than this is refused                               \
                */

/** Merge a JSON config file; unknown keys are errors (keys starting with "//" are comments). */
TS_NODISCARD ts_status ts_svc_config_load_file(ts_svc_config *c, const char *path, ts_error *err);

/** The same for configuration text already in memory; @p name names it in errors. */
TS_NODISCARD ts_status ts_svc_config_load_buffer(ts_svc_config *c, const char *text, size_t len,
                                                 const char *name, ts_error *err);

/** Merge TOKENSMITH_* environment variables (empty ones count as unset). */
TS_NODISCARD ts_status ts_svc_config_apply_env(ts_svc_config *c, ts_error *err);

/**
 * Set one field by its config-file name (also what flags use), value given as text.
 * @return TS_EINVAL naming @p key for a bad value, TS_ENOTFOUND for an unknown key.
 */
TS_NODISCARD ts_status ts_svc_config_set(ts_svc_config *c, const char *key, const char *value,
                                         ts_error *err);

/** Replace the port of `listen` (the --port flag and TOKENSMITH_PORT). */
TS_NODISCARD ts_status ts_svc_config_set_port(ts_svc_config *c, const char *port, const char *where,
                                              ts_error *err);

/** Fill derived paths (home, key_dir, store) and check cross-field rules. */
TS_NODISCARD ts_status ts_svc_config_finish(ts_svc_config *c, ts_error *err);

/** Write the complete commented configuration (every field, defaults) to @p out. */
void ts_svc_config_write_template(FILE *out);

/**
 * Parse a duration: Go syntax ("90s", "10m", "1h30m", "720h") or plain seconds ("600").
 * @return false on a malformed value or overflow past 10 years.
 */
bool ts_svc_parse_duration(const char *s, int64_t *out_s);

/**
 * Whether @p listen names a loopback address (127.0.0.0/8, ::1, "localhost") or a Unix socket
 * ("unix:/path"): the only places the admin API may listen on.
 */
bool ts_svc_listen_is_local(const char *listen);

/** The state directory: $TOKENSMITH_HOME or "./tokensmith-data". */
const char *ts_svc_default_home(void);

#endif
