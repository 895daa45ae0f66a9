/*
 * The configuration of `tokensmith gateway`: plain data, shared by every part of the gateway.
 * docs/gateway.md ("Configuration") documents each member; the JSON member names are the
 * issue's (snake_case, like the agent's), so that a file written for the issue loads verbatim.
 *
 * Sources and precedence: defaults < the JSON file (--config FILE, TOKENSMITH_GATEWAY_CONFIG) <
 * environment variables < flags, as for `tokensmith serve`. The scalar members are the rows of
 * TS_GATEWAY_SETTINGS (gateway_settings.h), read and checked through the service's value
 * parser; the structured members (trust, authz.scope_roles, authz.routes, authz.public_paths)
 * come from the file only.
 *
 * Objects: ts_gateway_config_new() gives the defaults; ts_gateway_config_set() applies one
 * scalar by its JSON path ("translate.ttl"); ts_gateway_config_load_file() reads a file over
 * what is there; ts_gateway_config_finish() applies the cross-member rules (issuer required,
 * key_dir defaults to <home>/keys, at least one trust entry, ...) and must succeed before the
 * configuration is used. ts_gateway_config_free() wipes and frees.
 *
 * Ownership: everything a configuration points to belongs to it. Thread-safety: immutable once
 * finished; any number of threads may read it.
 * Errors: ts_error.where names the file (or the flag or variable) and the message starts with
 * the member's path, e.g. where "gateway.json", msg "trust[0].audiences[1]: not a string".
 */
#ifndef TS_GATEWAY_CONFIG_H
#define TS_GATEWAY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tokensmith/error.h>

#define TS_GATEWAY_STR 256u   /**< issuers, audiences, URLs' hosts, header names, listen */
#define TS_GATEWAY_URL 2048u  /**< jwks_uri */
#define TS_GATEWAY_PATH 1024u /**< home, key_dir, policy_dir */
#define TS_GATEWAY_MAX_TRUST 32u
#define TS_GATEWAY_MAX_AUDIENCES 16u /**< per trust entry */
#define TS_GATEWAY_MAX_ROUTES 1024u
#define TS_GATEWAY_MAX_SCOPE_ROLES 256u
#define TS_GATEWAY_MAX_PUBLIC_PATHS 256u
/** Bounds of a trust entry's revocation list settings, in seconds. The poll interval is
 *  authn's range (whole seconds here); a list older than a day is no protection worth keeping. */
#define TS_GATEWAY_REVOCATIONS_POLL_MAX_S 3600
#define TS_GATEWAY_REVOCATIONS_MAX_STALE_MAX_S 86400

/** How a trust entry's tokens are read. */
typedef enum ts_gateway_trust_kind {
    /** A JWT issuer: tokensmith, or any OIDC provider (access or ID tokens). */
    TS_GATEWAY_TRUST_JWT = 0,
    /** A Kubernetes service-account issuer: opaque kids, nested `kubernetes.io` claims, the
     *  principal is `system:serviceaccount:<namespace>:<name>`. */
    TS_GATEWAY_TRUST_KUBERNETES = 1,
} ts_gateway_trust_kind;

/** One issuer the gateway accepts tokens from (`trust[]`). */
typedef struct ts_gateway_trust {
    char issuer[TS_GATEWAY_STR]; /**< exact `iss` */
    /** Where its keys are; "" = OpenID discovery on the issuer (issuer + /.well-known/...). */
    char jwks_uri[TS_GATEWAY_URL];
    char audiences[TS_GATEWAY_MAX_AUDIENCES][TS_GATEWAY_STR]; /**< at least one */
    size_t n_audiences;
    ts_gateway_trust_kind kind; /**< `kind`: "jwt" (default) or "kubernetes" */
    /** `principal_type`: the authz principal type of its callers; "" = "user" for jwt,
     *  "service" for kubernetes. */
    char principal_type[32];
    int64_t max_token_age_s; /**< `max_token_age`: bound on now - iat; 0 = none */
    /** `revocations`: the URL of the issuer's signed list of revoked jtis (tokensmith's
     *  GET /oauth/revocations); "" (absent or JSON null) = none. https://, or http:// to a
     *  loopback host. The members below apply only with it. */
    char revocations[TS_GATEWAY_URL];
    int64_t revocations_poll_s;      /**< `revocations_poll`: 1..3600 s, default 10 */
    int64_t revocations_max_stale_s; /**< `revocations_max_stale`: longer than the poll, at
                                          most a day, default 300 */
    /** `revocations_fail_open`: while the list is stale (or none was fetched yet) accept tokens
     *  as if nothing were revoked (true), or refuse every token of the issuer with 503 (false,
     *  the default). */
    bool revocations_fail_open;
} ts_gateway_trust;

/** One route of `authz.routes[]`: method and path pattern -> object (and action, audience). */
typedef struct ts_gateway_route {
    char method[16];           /**< "GET", ..., or "*" */
    char path[TS_GATEWAY_STR]; /**< authz route pattern: "/nodes/:id", or a prefix ending in a star
                                */
    char object[TS_GATEWAY_STR];
    char action[64];               /**< "" = from the method (authz's REST actions) */
    char audience[TS_GATEWAY_STR]; /**< "" = translate.audience */
} ts_gateway_route;

/** One `authz.scope_roles` member: a scope in the presented token gives a role. */
typedef struct ts_gateway_scope_role {
    char scope[128];
    char role[128];
} ts_gateway_scope_role;

typedef struct ts_gateway_config {
    char listen[TS_GATEWAY_STR];         /**< HTTP check listener, default 127.0.0.1:9001 */
    char grpc_listen[TS_GATEWAY_STR];    /**< gRPC listener; "" = none; default 127.0.0.1:9002 */
    char admin_listen[TS_GATEWAY_STR];   /**< /health, /metrics, JWKS; default 127.0.0.1:9003 */
    char tls_cert_file[TS_GATEWAY_PATH]; /**< PEM chain; "" = plain HTTP (gw_tls.h) */
    char tls_key_file[TS_GATEWAY_PATH];  /**< PEM key or pkcs11: URI; with tls_cert_file */
    char tls_client_ca_file[TS_GATEWAY_PATH]; /**< client CAs of the check listeners; "" none */
    char tls_client_auth[8];                  /**< require (default) | request */
    char issuer[TS_GATEWAY_STR];              /**< `iss` of translated tokens; required */
    char home[TS_GATEWAY_PATH];               /**< state directory */
    char key_dir[TS_GATEWAY_PATH];            /**< "" until finish: then <home>/keys (files) */
    char key_backend[8];                      /**< files (default) | pkcs11 */
    char pkcs11_module[TS_GATEWAY_PATH];      /**< key_backend pkcs11: the module (.so) */
    char pkcs11_token_label[33];              /**< the token's label (32 bytes at most) */
    char pkcs11_key_label[TS_GATEWAY_STR];    /**< CKA_LABEL of the signing key */
    char pkcs11_pin_file[TS_GATEWAY_PATH];    /**< a file (mode 0600) holding the user PIN */
    char pkcs11_pin_env[128];                 /**< the NAME of a variable holding the PIN */
    char key_file[TS_GATEWAY_PATH * 4];       /**< derived by finish: the pkcs11: URI (RFC 7512) of
                                                   the key with key_backend pkcs11, else "" */
    char algorithm[16]; /**< "" = ES256 for a new key; else ES256, ES384, PS256, RS256 */
    char log_format[8]; /**< json | text */
    unsigned threads;   /**< check threads, 1..256, default 8 */

    struct {
        char audience[TS_GATEWAY_STR]; /**< default audience of translated tokens; required */
        int64_t ttl_s;                 /**< 30..3600, default 300 */
        unsigned cache_entries;        /**< 0 (no cache)..1000000, default 10000 */
        bool headers;                  /**< add x-tokensmith-subject/-roles/-policy-version */
        char token_type[16];           /**< JWS typ: "JWT" (default) or "at+jwt" */
    } translate;

    struct {
        char mode[16];                    /**< off | shadow | enforce (default) */
        char policy_dir[TS_GATEWAY_PATH]; /**< "" (JSON null) = the embedded baseline only */
        bool policy_watch;                /**< follow policy_dir's files (the guard's watcher) */
        bool allow_unmapped;              /**< a request no route maps: allowed (default false) */
        unsigned log_allow_sample;        /**< log one allow in N (0 = none), default 100 */
        ts_gateway_scope_role *scope_roles;
        size_t n_scope_roles;
        ts_gateway_route *routes;
        size_t n_routes;
        char (*public_paths)[TS_GATEWAY_STR]; /**< authn's public-path patterns */
        size_t n_public_paths;
    } authz;

    struct {
        char prefix[TS_GATEWAY_STR]; /**< Envoy path_prefix stripped from the check path; "" */
        /** nginx: the header holding the original URI / method ("" = Envoy's convention). */
        char original_uri_header[64];
        char original_method_header[64];
        /** The client's own x-tokensmith-* headers: "strip" (default, removed upstream) or
         *  "reject" (400; for proxies that cannot remove headers, nginx). */
        char client_tokensmith_headers[8];
    } http;

    struct {
        unsigned max_header_bytes;       /**< all header bytes of a check, default 16384 */
        unsigned max_headers;            /**< header lines of a check, default 100 */
        unsigned grpc_max_message_bytes; /**< one CheckRequest, default 65536 */
        int64_t request_timeout_ms;      /**< a check's deadline without grpc-timeout, 5000 */
        unsigned max_connections;        /**< per listener, default 1024 */
    } limits;

    ts_gateway_trust *trust;
    size_t n_trust;
} ts_gateway_config;

/** A configuration with every default. @return NULL on allocation failure (with @p err). */
ts_gateway_config *ts_gateway_config_new(ts_error *err);

/** Wipe and free @p cfg and everything it owns. NULL-safe. */
void ts_gateway_config_free(ts_gateway_config *cfg);

/**
 * Apply one scalar setting by its JSON path (a TS_GATEWAY_SETTINGS key: "listen",
 * "translate.ttl", "limits.max_headers", ...) from its text, checked as the row says.
 * @param where what to name in errors: "gateway.json", "--translate-ttl",
 *        "TOKENSMITH_GATEWAY_TRANSLATE_TTL".
 * @return TS_OK; TS_EINVAL (unknown key or bad value, the message names the key).
 */
TS_NODISCARD ts_status ts_gateway_config_set(ts_gateway_config *cfg, const char *key,
                                             const char *text, const char *where, ts_error *err);

/**
 * Read the JSON file @p path over @p cfg: scalars through ts_gateway_config_set(), the
 * structured members replacing what is there. Unknown or duplicate members, wrong types and
 * files over 1 MiB are refused, naming the file and the member.
 * @return TS_OK; TS_EIO (unreadable), TS_EINVAL, TS_ELIMIT, TS_ENOMEM.
 */
TS_NODISCARD ts_status ts_gateway_config_load_file(ts_gateway_config *cfg, const char *path,
                                                   ts_error *err);

/** The cross-member rules and derived values; call once, after every source was applied.
 *  @return TS_OK; TS_EINVAL naming the member at fault. */
TS_NODISCARD ts_status ts_gateway_config_finish(ts_gateway_config *cfg, ts_error *err);

#endif
