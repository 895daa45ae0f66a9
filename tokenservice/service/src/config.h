/* Configuration of `tokensmith serve`: the settings table, defaults, the JSON config file. */
#ifndef TS_SVC_CONFIG_H
#define TS_SVC_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <tokensmith/error.h>

#define TS_SVC_STR 256
#define TS_SVC_PATH 1024
#define TS_SVC_MAX_GROUPS 32
#define TS_SVC_OIDC_MAX 65536    /**< the `oidc` member of the config file, as compact JSON */
#define TS_SVC_CLIENTS_MAX 16384 /**< the `clients` member of the config file, as compact JSON */
/** The `serviceIdentity` member of the config file (its mapping rules), as compact JSON. */
#define TS_SVC_SERVICE_IDENTITY_MAX 65536

/** Every setting of the service. Strings are NUL-terminated, always within their arrays. */
typedef struct ts_svc_config {
    char issuer[TS_SVC_STR];
    /** True when `issuer` was not configured and was derived from `listen` (http://HOST:PORT).
     *  A service listening on port 0 must then put the bound port into the issuer. */
    bool issuer_follows_listen;
    char listen[TS_SVC_STR]; /**< HOST:PORT; [v6]:PORT */
    /** HTTPS on the listeners (tls_svc.c): a PEM certificate chain and its key (a PEM file of
     *  mode 0600, or a pkcs11: URI); both or neither. */
    char tls_cert_file[TS_SVC_PATH];
    char tls_key_file[TS_SVC_PATH];
    bool admin_tls; /**< the admin listener serves HTTPS too (a loopback TCP adminListen) */
    /** mTLS service identity (mtls.c, docs/mtls.md): the CA bundle client certificates must
     *  chain to ("" = off), an optional CRL file, whether issued tokens carry cnf.x5t#S256, and
     *  the `serviceIdentity` member ({"rules":[...]}) as compact JSON. */
    char service_identity_ca_file[TS_SVC_PATH];
    char service_identity_crl_file[TS_SVC_PATH];
    bool service_identity_bind;
    char service_identity[TS_SVC_SERVICE_IDENTITY_MAX];
    char cluster_id[TS_SVC_STR];
    char openchami_id[TS_SVC_STR];
    char home[TS_SVC_PATH];     /**< state directory: default keys and store live here */
    char key_dir[TS_SVC_PATH];  /**< "" = <home>/keys */
    char key_file[TS_SVC_PATH]; /**< one key file instead of a directory; with keyBackend
                                     pkcs11, the pkcs11: URI ts_svc_config_finish() builds
                                     (keys_pkcs11.h) */
    char algorithm[16];         /**< "" (PS256 for new keys; a key's own otherwise) or a name */
    char key_backend[8];        /**< files | pkcs11 */
    int64_t key_rotation_interval_s;   /**< keys.rotation: 0 = off (default) */
    int64_t key_rotation_prepublish_s; /**< keys.rotation: 60 s..30 d, default 1 h */
    char key_rotation_retire[8];       /**< keys.rotation: archive | delete */
    char pkcs11_module[TS_SVC_PATH];   /**< the PKCS#11 module (.so) */
    char pkcs11_token_label[33];       /**< the token's label (32 bytes at most) */
    char pkcs11_key_label[TS_SVC_STR]; /**< CKA_LABEL of the signing key */
    char pkcs11_pin_file[TS_SVC_PATH]; /**< a file (mode 0600) holding the user PIN */
    char pkcs11_pin_env[128];          /**< the NAME of a variable holding the user PIN */
    char store[TS_SVC_PATH];           /**< "" = <home>/tokensmith.db */
    unsigned store_max_connections;    /**< 0..64; 0 = threads + 1 (capped at 64) */
    int64_t store_connect_timeout_s;   /**< PostgreSQL, 1..300, default 5 */
    int64_t store_statement_timeout_s; /**< PostgreSQL, 1..600, default 5 */
    char log_format[8];                /**< json | text */
    char trusted_proxy[64];            /**< address whose X-Forwarded-For is believed; "" = none */
    int64_t access_ttl_s;              /**< 60..86400, default 3600 */
    int64_t redeem_retry_grace_s;      /**< 0..3600, default 0 (strictly single use) */
    unsigned threads;                  /**< worker threads, 1..256, default 16 */
    unsigned max_body_bytes;           /**< 1024..65536, default 16384 */
    unsigned max_header_bytes;         /**< 4096..1048576, default 32768 */
    unsigned connection_timeout_s;     /**< 1..600, default 30 */
    unsigned max_connections;          /**< 1..100000, default 1024 */
    unsigned max_connections_per_address; /**< 0 (no limit)..100000, default 32 */
    int64_t request_head_timeout_s;       /**< 1..600, default 10 */
    int64_t request_body_timeout_s;       /**< 1..600, default 30 */
    /* Store retention. */
    int64_t record_retention_s;      /**< ended tokens and families kept, default 1 day */
    int64_t audit_retention_s;       /**< audit records kept, 0 = no age limit, default 90 days */
    unsigned audit_max_rows;         /**< audit records at most, 0 = no limit, default 1000000 */
    int64_t replay_audit_interval_s; /**< one counted replay record per family per interval */
    bool thread_per_connection;      /**< MHD thread per connection instead of a pool */
    bool allow_insecure_key_permissions; /**< load key files group or others may read */
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
    /** Registered clients of /oauth/revoke and /oauth/introspect (clients.h): the `clients`
     *  member (an array) as compact JSON; "" = none. It may hold secrets: the service wipes it
     *  once its registry holds their hashes. */
    char clients[TS_SVC_CLIENTS_MAX];
    /** Admin listener: loopback HOST:PORT or unix:PATH; "" = no admin API. */
    char admin_listen[TS_SVC_PATH];
    /** Management API listener (mgmt.c): HOST:PORT; "" = off. */
    char management_listen[TS_SVC_STR];
    char management_authz_mode[8];           /**< enforce | shadow | off */
    char management_policy_dir[TS_SVC_PATH]; /**< "" = $TOKENSMITH_POLICY_DIR or baseline */
    /** GET /metrics on a listener of its own (metrics_listener.c): HOST:PORT; "" = on the main
     *  listener. */
    char metrics_listen[TS_SVC_STR];
} ts_svc_config;

/* ------------------------------------------------------------------------------------------ */
/* Values                                                                                     */

/** How the text of a setting (or of any command-line value) is read and checked. */
typedef enum ts_svc_kind {
    TS_SVC_K_STR,    /**< text of at most `max` bytes, no control characters */
    TS_SVC_K_PATH,   /**< a file or directory name; a URI (scheme://) is refused */
    TS_SVC_K_STORE,  /**< a SQLite file name or a PostgreSQL URI/conninfo; other URIs refused */
    TS_SVC_K_LISTEN, /**< HOST:PORT or [V6]:PORT */
    TS_SVC_K_LOCAL_LISTEN, /**< a loopback HOST:PORT or unix:/PATH */
    TS_SVC_K_DUR,          /**< Go duration ("90s", "1h30m") or seconds, within min..max */
    TS_SVC_K_UINT,         /**< integer within min..max (min >= 0) */
    TS_SVC_K_INT,          /**< integer within min..max */
    TS_SVC_K_PORT,         /**< 0..65535: replaces the port of `listen` */
    TS_SVC_K_BOOL,         /**< true|false (also 1|0) */
    TS_SVC_K_ENUM,         /**< one of `choices` ("json|text"); a leading "|" also allows "" */
} ts_svc_kind;

/** A value's kind and bounds. For TS_SVC_K_STR-like kinds `max` is the longest length. */
typedef struct ts_svc_value_spec {
    ts_svc_kind kind;
    int64_t min, max;
    const char *choices; /**< TS_SVC_K_ENUM: alternatives separated by '|' */
} ts_svc_value_spec;

/**
 * Check @p text against @p spec. Numbers (durations in seconds, booleans as 0/1) go to
 * @p num when it is not NULL. Error messages never repeat the text of a path that looks like
 * a connection string (it may hold a password).
 * @return TS_OK or TS_EINVAL with @p err's where set to @p where.
 */
TS_NODISCARD ts_status ts_svc_value_parse(const ts_svc_value_spec *spec, const char *text,
                                          int64_t *num, const char *where, ts_error *err);

/**
 * Parse a duration: Go syntax ("90s", "10m", "1h30m", "720h") or plain seconds ("600").
 * @return false on a malformed value or overflow past 10 years.
 */
bool ts_svc_parse_duration(const char *s, int64_t *out_s);

/* ------------------------------------------------------------------------------------------ */
/* The settings table                                                                         */

/*
 * Every scalar setting of `tokensmith serve`, once. The CLI builds its flags from these rows
 * (flag, environment variable, help), the config file is read through them (key, kind, bounds)
 * and `generate-config` writes them (default, help), so no setting can lack one of the three.
 *
 *   X(ID, key, flag, env, kind, min, max, choices, field, default, arg, help)
 *
 * key: config-file member ("claims.nist" is member "nist" of object "claims"; rows of one
 * object are adjacent). flag: the long option without "--". kind: a ts_svc_kind without its
 * TS_SVC_K_ prefix. max 0: as long as the field holds. field: the ts_svc_config member (`port`
 * rewrites `listen`). default: text, as a flag gives it ("" = none). `groupScopes`, `oidc`,
 * `clients` and `serviceIdentity` are structured and live in the config file only.
 */
// clang-format off
#define TS_SVC_SETTINGS(X) \
  X(ISSUER, "issuer", "issuer", "TOKENSMITH_ISSUER", STR, 0, 0, NULL, issuer, "", "URL", \
    "iss of issued tokens and base of the metadata URLs; empty = http://<listen> (a wildcard " \
    "host becomes this machine's name). Set it to the URL clients use") \
  X(LISTEN, "listen", "listen", "TOKENSMITH_LISTEN", LISTEN, 0, 0, NULL, listen, \
    "127.0.0.1:8080", "HOST:PORT", "address to listen on; [::1]:8080 for IPv6; port 0 = any") \
  X(PORT, "port", "port", "TOKENSMITH_PORT", PORT, 0, 65535, NULL, listen, "", "PORT", \
    "replaces the port of listen (after listen from the same source)") \
  X(TLS_CERT, "tlsCertFile", "tls-cert-file", "TOKENSMITH_TLS_CERT_FILE", PATH, 0, 0, NULL, \
    tls_cert_file, "", "FILE", "serve HTTPS (TLS 1.2+) with this PEM certificate chain, leaf " \
    "first, on the main, management and metrics listeners (admin: adminTls); with tlsKeyFile; " \
    "reread on SIGHUP and when the files change; empty = plain HTTP") \
  X(TLS_KEY, "tlsKeyFile", "tls-key-file", "TOKENSMITH_TLS_KEY_FILE", PATH, 0, 0, NULL, \
    tls_key_file, "", "FILE", "the private key of tlsCertFile: a PEM file (unencrypted, mode " \
    "0600) or a pkcs11: URI (module-path, else pkcs11Module; pin-source=file: or env:)") \
  X(ADMIN_TLS, "adminTls", "admin-tls", "TOKENSMITH_ADMIN_TLS", BOOL, 0, 1, NULL, admin_tls, \
    "false", "BOOL", "the admin listener (a loopback adminListen) serves HTTPS with " \
    "tlsCertFile too; false = plain HTTP, reachable from this machine only") \
  X(SERVICE_IDENTITY_CA, "serviceIdentityCaFile", "service-identity-ca", \
    "TOKENSMITH_SERVICE_IDENTITY_CA", PATH, 0, 0, NULL, service_identity_ca_file, "", "FILE", \
    "mTLS service identity (docs/mtls.md): PEM CA bundle that client certificates of POST " \
    "/service-identity/session must chain to; needs tlsCertFile and the serviceIdentity rules; " \
    "empty = off") \
  X(SERVICE_IDENTITY_CRL, "serviceIdentityCrlFile", "service-identity-crl", \
    "TOKENSMITH_SERVICE_IDENTITY_CRL", PATH, 0, 0, NULL, service_identity_crl_file, "", "FILE", \
    "PEM CRLs of the serviceIdentityCaFile CAs; a revoked client certificate is refused") \
  X(SERVICE_IDENTITY_BIND, "serviceIdentityBindCertificate", \
    "service-identity-bind-certificate", "TOKENSMITH_SERVICE_IDENTITY_BIND_CERTIFICATE", BOOL, \
    0, 1, NULL, service_identity_bind, "false", "BOOL", \
    "tokens of POST /service-identity/session carry cnf.x5t#S256 (RFC 8705), binding them to " \
    "the client certificate") \
  X(CLUSTER_ID, "clusterId", "cluster-id", "TOKENSMITH_CLUSTER_ID", STR, 0, 0, NULL, \
    cluster_id, "cl-F00F00F00", "ID", "cluster_id claim (omitted when empty)") \
  X(OPENCHAMI_ID, "openchamiId", "openchami-id", "TOKENSMITH_OPENCHAMI_ID", STR, 0, 0, NULL, \
    openchami_id, "oc-F00F00F00", "ID", "openchami_id claim (omitted when empty)") \
  X(HOME, "home", "home", "TOKENSMITH_HOME", PATH, 0, 0, NULL, home, "./tokensmith-data", \
    "DIR", "state directory; the default key directory and store live in it") \
  X(KEY_DIR, "keyDir", "key-dir", "TOKENSMITH_KEY_DIR", PATH, 0, 0, NULL, key_dir, "", "DIR", \
    "signing keys (*.pem); empty = <home>/keys; active.pem or the newest file signs") \
  X(KEY_FILE, "keyFile", "key-file", "TOKENSMITH_KEY_FILE", PATH, 0, 0, NULL, key_file, "", \
    "FILE", "one key file instead of keyDir (generated when absent); not together with keyDir") \
  X(ALGORITHM, "algorithm", "alg", "TOKENSMITH_ALG", ENUM, 0, 0, "|PS256|RS256|ES256|ES384", \
    algorithm, "", "ALG", "algorithm of a new key; empty = PS256 (existing keys keep theirs)") \
  X(KEY_ROTATION_INTERVAL, "keyRotationInterval", "key-rotation-interval", \
    "TOKENSMITH_KEY_ROTATION_INTERVAL", DUR, 0, 315360000, NULL, key_rotation_interval_s, "0s", \
    "DUR", "keys.rotation: a key signs this long, then the next one takes over (e.g. 720h); " \
    "0 = no automatic rotation (key files in keyDir, or keys in a pkcs11 token; docs/keys.md)") \
  X(KEY_ROTATION_PREPUBLISH, "keyRotationPrepublish", "key-rotation-prepublish", \
    "TOKENSMITH_KEY_ROTATION_PREPUBLISH", DUR, 60, 2592000, NULL, key_rotation_prepublish_s, \
    "1h", "DUR", "keys.rotation: a next key is in the JWKS at least this long before it signs " \
    "(at least the JWKS cache lifetime of every verifier)") \
  X(KEY_ROTATION_RETIRE, "keyRotationRetire", "key-rotation-retire", \
    "TOKENSMITH_KEY_ROTATION_RETIRE", ENUM, 0, 0, "archive|delete", key_rotation_retire, \
    "archive", "MODE", "keys.rotation: a key whose tokens have all expired is moved to " \
    "<keyDir>/archive (archive) or deleted (delete)") \
  X(KEY_BACKEND, "keyBackend", "key-backend", "TOKENSMITH_KEY_BACKEND", ENUM, 0, 0, \
    "files|pkcs11", key_backend, "files", "BACKEND", \
    "where the signing key lives: files (keyDir or keyFile) or pkcs11 (a key in an HSM token, " \
    "signing inside it; see docs/keys.md)") \
  X(PKCS11_MODULE, "pkcs11Module", "pkcs11-module", "TOKENSMITH_PKCS11_MODULE", PATH, 0, 0, \
    NULL, pkcs11_module, "", "FILE", \
    "keyBackend pkcs11: the PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so") \
  X(PKCS11_TOKEN_LABEL, "pkcs11TokenLabel", "pkcs11-token-label", \
    "TOKENSMITH_PKCS11_TOKEN_LABEL", STR, 0, 0, NULL, pkcs11_token_label, "", "LABEL", \
    "keyBackend pkcs11: the label of the token holding the key") \
  X(PKCS11_KEY_LABEL, "pkcs11KeyLabel", "pkcs11-key-label", "TOKENSMITH_PKCS11_KEY_LABEL", STR, \
    0, 0, NULL, pkcs11_key_label, "", "LABEL", \
    "keyBackend pkcs11: CKA_LABEL of the private key that signs (EC P-256, P-384 or RSA)") \
  X(PKCS11_PIN_FILE, "pkcs11PinFile", "pkcs11-pin-file", "TOKENSMITH_PKCS11_PIN_FILE", PATH, 0, \
    0, NULL, pkcs11_pin_file, "", "FILE", \
    "keyBackend pkcs11: a file (mode 0600) holding the user PIN; or pkcs11PinEnv") \
  X(PKCS11_PIN_ENV, "pkcs11PinEnv", "pkcs11-pin-env", "TOKENSMITH_PKCS11_PIN_ENV", STR, 0, 0, \
    NULL, pkcs11_pin_env, "", "NAME", \
    "keyBackend pkcs11: the name of the environment variable holding the user PIN") \
  X(STORE, "store", "store", "TOKENSMITH_STORE", STORE, 0, 0, NULL, store, "", "FILE|URI", \
    "the store, shared with bootstrap-token create: a SQLite file, or a PostgreSQL URI " \
    "(postgres://...) or conninfo (host=... dbname=...); empty = <home>/tokensmith.db") \
  X(STORE_MAX_CONNECTIONS, "storeMaxConnections", "store-max-connections", \
    "TOKENSMITH_STORE_MAX_CONNECTIONS", UINT, 0, 64, NULL, store_max_connections, "0", "N", \
    "connections the store opens at most (PostgreSQL: per replica, so replicas x N must fit " \
    "the server's max_connections); 0 = threads + 1") \
  X(STORE_CONNECT_TIMEOUT, "storeConnectTimeout", "store-connect-timeout", \
    "TOKENSMITH_STORE_CONNECT_TIMEOUT", DUR, 1, 300, NULL, store_connect_timeout_s, "5s", "DUR", \
    "PostgreSQL: how long opening a connection may take (connect_timeout= in the URI wins)") \
  X(STORE_STATEMENT_TIMEOUT, "storeStatementTimeout", "store-statement-timeout", \
    "TOKENSMITH_STORE_STATEMENT_TIMEOUT", DUR, 1, 600, NULL, store_statement_timeout_s, "5s", \
    "DUR", "PostgreSQL: how long one statement may run (and wait for locks) before the " \
    "request fails with 503") \
  X(LOG_FORMAT, "logFormat", "log-format", "TOKENSMITH_LOG_FORMAT", ENUM, 0, 0, "json|text", \
    log_format, "json", "FMT", "format of the log lines on stderr") \
  X(TRUSTED_PROXY, "trustedProxy", "trusted-proxy", "TOKENSMITH_TRUSTED_PROXY", STR, 0, 0, \
    NULL, trusted_proxy, "", "ADDR", "peer address whose X-Forwarded-For names the client") \
  X(ADMIN_LISTEN, "adminListen", "admin-listen", "TOKENSMITH_ADMIN_LISTEN", LOCAL_LISTEN, 0, 0, \
    NULL, admin_listen, "", "ADDR", \
    "admin API (/admin/oidc/config): loopback HOST:PORT or unix:/PATH; empty = off") \
  X(MANAGEMENT_LISTEN, "managementListen", "management-listen", "TOKENSMITH_MANAGEMENT_LISTEN", \
    STR, 0, 0, NULL, management_listen, "", "HOST:PORT", \
    "management API for token mappings (/api/v1/mappings, docs/mappings.md): HOST:PORT or " \
    "[V6]:PORT, bearer tokens of this service, decided by the policy; empty = off") \
  X(MANAGEMENT_AUTHZ_MODE, "managementAuthzMode", "management-authz-mode", \
    "TOKENSMITH_MANAGEMENT_AUTHZ_MODE", ENUM, 0, 0, "enforce|shadow|off", management_authz_mode, \
    "enforce", "MODE", "authz mode of the management API: enforce, shadow (log would-be " \
    "refusals) or off") \
  X(MANAGEMENT_POLICY_DIR, "managementPolicyDir", "management-policy-dir", \
    "TOKENSMITH_MANAGEMENT_POLICY_DIR", PATH, 0, 0, NULL, management_policy_dir, "", "DIR", \
    "policy fragments (*.csv) added to the embedded baseline for the management API; empty = " \
    "$TOKENSMITH_POLICY_DIR, else the baseline alone") \
  X(METRICS_LISTEN, "metricsListen", "metrics-listen", "TOKENSMITH_METRICS_LISTEN", STR, 0, 0, \
    NULL, metrics_listen, "", "HOST:PORT", \
    "serve GET /metrics (Prometheus text) on this HOST:PORT or [V6]:PORT only; empty = on " \
    "the main listener") \
  X(ACCESS_TTL, "accessTokenTTL", "access-ttl", "TOKENSMITH_ACCESS_TTL", DUR, 60, 86400, NULL, \
    access_ttl_s, "1h", "DUR", "access token lifetime") \
  X(REDEEM_RETRY_GRACE, "redeemRetryGrace", "redeem-retry-grace", \
    "TOKENSMITH_REDEEM_RETRY_GRACE", DUR, 0, 3600, NULL, redeem_retry_grace_s, "0s", "DUR", \
    "lost-response retry window for bootstrap tokens; 0 = strictly single use") \
  X(THREADS, "threads", "threads", "TOKENSMITH_THREADS", UINT, 1, 256, NULL, threads, "16", \
    "N", "worker threads: requests in flight at once, and so the most grants one store " \
    "commit carries") \
  X(THREAD_PER_CONNECTION, "threadPerConnection", "thread-per-connection", \
    "TOKENSMITH_THREAD_PER_CONNECTION", BOOL, 0, 1, NULL, thread_per_connection, "false", \
    "BOOL", \
    "one thread per open connection (at most maxConnections) instead of `threads` threads " \
    "that each serve several: no request waits behind another connection's; `threads` then " \
    "sizes the store's connection pool") \
  X(MAX_BODY_BYTES, "maxBodyBytes", "max-body-bytes", "TOKENSMITH_MAX_BODY_BYTES", UINT, 1024, \
    65536, NULL, max_body_bytes, "16384", "N", "body cap of the token endpoint and admin API") \
  X(MAX_HEADER_BYTES, "maxHeaderBytes", "max-header-bytes", "TOKENSMITH_MAX_HEADER_BYTES", \
    UINT, 4096, 1048576, NULL, max_header_bytes, "32768", "N", \
    "per-connection memory for the request line and headers") \
  X(CONNECTION_TIMEOUT, "connectionTimeout", "connection-timeout", \
    "TOKENSMITH_CONNECTION_TIMEOUT", UINT, 1, 600, NULL, connection_timeout_s, "30", "SECONDS", \
    "seconds an idle connection is kept") \
  X(MAX_CONNECTIONS, "maxConnections", "max-connections", "TOKENSMITH_MAX_CONNECTIONS", UINT, 1, \
    100000, NULL, max_connections, "1024", "N", "open connections at most") \
  X(MAX_PER_ADDRESS, "maxConnectionsPerAddress", "max-connections-per-address", \
    "TOKENSMITH_MAX_CONNECTIONS_PER_ADDRESS", UINT, 0, 100000, NULL, \
    max_connections_per_address, "32", "N", \
    "open connections from one client address (an IPv6 client: its /64); 0 = no limit") \
  X(HEAD_TIMEOUT, "requestHeadTimeout", "request-head-timeout", \
    "TOKENSMITH_REQUEST_HEAD_TIMEOUT", DUR, 1, 600, NULL, request_head_timeout_s, "10s", "DUR", \
    "the whole request line and headers must arrive within it, however slowly bytes come") \
  X(BODY_TIMEOUT, "requestBodyTimeout", "request-body-timeout", \
    "TOKENSMITH_REQUEST_BODY_TIMEOUT", DUR, 1, 600, NULL, request_body_timeout_s, "30s", "DUR", \
    "the whole request body must arrive within it after the headers") \
  X(RECORD_RETENTION, "recordRetention", "record-retention", "TOKENSMITH_RECORD_RETENTION", DUR, \
    0, 315360000, NULL, record_retention_s, "24h", "DUR", \
    "ended bootstrap tokens and refresh families are kept this long (never usable again), so " \
    "that late presentations are answered and audited for what they are") \
  X(AUDIT_RETENTION, "auditRetention", "audit-retention", "TOKENSMITH_AUDIT_RETENTION", DUR, 0, \
    315360000, NULL, audit_retention_s, "2160h", "DUR", \
    "audit records older than this are deleted; 0 = no age limit") \
  X(AUDIT_MAX_ROWS, "auditMaxRows", "audit-max-rows", "TOKENSMITH_AUDIT_MAX_ROWS", UINT, 0, \
    1000000000, NULL, audit_max_rows, "1000000", "N", \
    "audit records at most (the oldest go first); 0 = no limit, else at least 1000") \
  X(REPLAY_AUDIT_INTERVAL, "replayAuditInterval", "replay-audit-interval", \
    "TOKENSMITH_REPLAY_AUDIT_INTERVAL", DUR, 1, 86400, NULL, replay_audit_interval_s, "1h", \
    "DUR", "replays of a revoked refresh family are counted into one audit record per interval") \
  X(INSECURE_KEYS, "allowInsecureKeyPermissions", "allow-insecure-key-permissions", \
    "TOKENSMITH_ALLOW_INSECURE_KEY_PERMISSIONS", BOOL, 0, 1, NULL, \
    allow_insecure_key_permissions, "false", "BOOL", \
    "load signing key files that group or others may read (refused by default)") \
  X(NIST_CLAIMS, "claims.nist", "nist-claims", "TOKENSMITH_NIST_CLAIMS", BOOL, 0, 1, NULL, \
    nist_claims, "true", "BOOL", \
    "add auth_level, auth_factors, auth_methods, session_id, session_exp, auth_events") \
  X(AUTH_LEVEL, "claims.authLevel", "auth-level", "TOKENSMITH_AUTH_LEVEL", STR, 0, 0, NULL, \
    auth_level, "IAL2", "LEVEL", "auth_level claim; required with claims.nist") \
  X(AUTH_FACTORS, "claims.authFactors", "auth-factors", "TOKENSMITH_AUTH_FACTORS", INT, 0, 16, \
    NULL, auth_factors, "2", "N", "auth_factors claim") \
  X(TOKEN_TYPE, "claims.tokenType", "token-type", "TOKENSMITH_TOKEN_TYPE", ENUM, 0, 0, \
    "JWT|at+jwt", token_type, "JWT", "TYP", "JWS typ of access tokens")
// clang-format on

/** The bound of a row: @p max, or for 0 the longest string @p field holds. */
#define TS_SVC_ROW_MAX(max, field)                                                                 \
    ((max) ? (int64_t)(max) : (int64_t)sizeof(((ts_svc_config *)0)->field) - 1)

/* ------------------------------------------------------------------------------------------ */
/* Loading                                                                                    */

/** Built-in defaults: every row's default, and the Go original's groupScopes table. */
void ts_svc_config_defaults(ts_svc_config *c);

#define TS_SVC_CONFIG_MAX_BYTES                                                                    \
    (1u << 20) /**< a configuration file larger than this is refused                               \
                */

/**
 * Merge a JSON config file; unknown members are errors (members starting with "//" are
 * comments). `port` applies after `listen` wherever it stands in the file.
 */
TS_NODISCARD ts_status ts_svc_config_load_file(ts_svc_config *c, const char *path, ts_error *err);

/** The same for configuration text already in memory; @p name names it in errors. */
TS_NODISCARD ts_status ts_svc_config_load_buffer(ts_svc_config *c, const char *text, size_t len,
                                                 const char *name, ts_error *err);

/**
 * Set one setting by its config-file key, value given as text (as a flag or variable gives
 * it); @p where names the source in errors ("--threads", "TOKENSMITH_THREADS").
 * @return TS_EINVAL for a bad value, TS_ENOTFOUND for an unknown key.
 */
TS_NODISCARD ts_status ts_svc_config_set(ts_svc_config *c, const char *key, const char *value,
                                         const char *where, ts_error *err);

/**
 * Fill derived values (home, key_dir, store; issuer from listen when empty) and check the
 * rules that span settings.
 */
TS_NODISCARD ts_status ts_svc_config_finish(ts_svc_config *c, ts_error *err);

/**
 * The value of the setting @p key as text, as a flag would give it (durations in seconds,
 * booleans as true|false). `port` has no value of its own (it rewrites `listen`).
 * @return TS_ENOTFOUND for an unknown key or `port`.
 */
TS_NODISCARD ts_status ts_svc_config_get(const ts_svc_config *c, const char *key, char *buf,
                                         size_t cap, ts_error *err);

/**
 * Whether @p listen names a loopback address (127.0.0.0/8, ::1, "localhost") or a Unix socket
 * ("unix:/path"): the only places the admin API may listen on.
 */
bool ts_svc_listen_is_local(const char *listen);

#endif
