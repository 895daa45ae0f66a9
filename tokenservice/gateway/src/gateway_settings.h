/*
 * Every scalar setting of `tokensmith gateway`, once, in the row shape of the token service's
 * TS_SVC_SETTINGS (tokenservice/service/src/config.h), so that the gateway's values are read
 * and checked by the service's value parser (ts_svc_value_parse) and the CLI builds the
 * gateway's flags, variables and help from the same rows as serve's:
 *
 *   X(ID, key, flag, env, kind, min, max, choices, field, default, arg, help)
 *
 * key: the JSON path in the config file ("translate.ttl" is member "ttl" of object
 * "translate"). kind: a ts_svc_kind without its TS_SVC_K_ prefix. max 0: as long as the field
 * holds. field: the ts_gateway_config member; a DUR row whose field ends in "_ms" is stored in
 * milliseconds. default: text, as a flag gives it.
 *
 * One rule the service's kinds cannot say: grpc_listen is a STR row whose non-empty value must
 * be HOST:PORT (checked as a LISTEN value); "" (or JSON null) turns the gRPC listener off.
 * Macro only; included by config.c and by the CLI (cli.h, flags.c).
 */
#ifndef TS_GATEWAY_SETTINGS_H
#define TS_GATEWAY_SETTINGS_H

// clang-format off
#define TS_GATEWAY_SETTINGS(X) \
  X(LISTEN, "listen", "listen", "TOKENSMITH_GATEWAY_LISTEN", LISTEN, 0, 0, NULL, listen, \
    "127.0.0.1:9001", "HOST:PORT", "HTTP check listener (Envoy http_service, Istio, nginx " \
    "auth_request); port 0 = any") \
  X(GRPC_LISTEN, "grpc_listen", "grpc-listen", "TOKENSMITH_GATEWAY_GRPC_LISTEN", STR, 0, 0, \
    NULL, grpc_listen, "127.0.0.1:9002", "HOST:PORT", \
    "gRPC ext_authz listener (h2c); empty = no gRPC listener") \
  X(ADMIN_LISTEN, "admin_listen", "admin-listen", "TOKENSMITH_GATEWAY_ADMIN_LISTEN", LISTEN, \
    0, 0, NULL, admin_listen, "127.0.0.1:9003", "HOST:PORT", \
    "/health, /metrics and the gateway's /.well-known/jwks.json") \
  X(TLS_CERT_FILE, "tls_cert_file", "tls-cert-file", "TOKENSMITH_GATEWAY_TLS_CERT_FILE", PATH, \
    0, 0, NULL, tls_cert_file, "", "FILE", \
    "PEM certificate chain, leaf first: every listener serves HTTPS only; with tls_key_file; " \
    "reread on SIGHUP and when the files change; empty = plain HTTP") \
  X(TLS_KEY_FILE, "tls_key_file", "tls-key-file", "TOKENSMITH_GATEWAY_TLS_KEY_FILE", PATH, 0, \
    0, NULL, tls_key_file, "", "FILE", \
    "PEM private key of tls_cert_file (mode 0600), or a pkcs11: URI") \
  X(TLS_CLIENT_CA_FILE, "tls_client_ca_file", "tls-client-ca-file", \
    "TOKENSMITH_GATEWAY_TLS_CLIENT_CA_FILE", PATH, 0, 0, NULL, tls_client_ca_file, "", "FILE", \
    "PEM CA bundle: the check listeners ask the proxy for a client certificate it issued") \
  X(TLS_CLIENT_AUTH, "tls_client_auth", "tls-client-auth", "TOKENSMITH_GATEWAY_TLS_CLIENT_AUTH", \
    ENUM, 0, 0, "require|request", tls_client_auth, "require", "WHAT", \
    "with tls_client_ca_file: require a client certificate, or request one (checked if sent)") \
  X(ISSUER, "issuer", "issuer", "TOKENSMITH_GATEWAY_ISSUER", STR, 0, 0, NULL, issuer, "", \
    "URL", "iss of translated tokens (required)") \
  X(HOME, "home", "home", "TOKENSMITH_GATEWAY_HOME", PATH, 0, 0, NULL, home, \
    "./tokensmith-gateway", "DIR", "state directory; the default key directory lives in it") \
  X(KEY_DIR, "key_dir", "key-dir", "TOKENSMITH_GATEWAY_KEY_DIR", PATH, 0, 0, NULL, key_dir, \
    "", "DIR", "keys that sign translated tokens (*.pem); empty = <home>/keys") \
  X(ALGORITHM, "algorithm", "alg", "TOKENSMITH_GATEWAY_ALG", ENUM, 0, 0, \
    "|ES256|ES384|PS256|RS256", algorithm, "", "ALG", \
    "algorithm of a new key; empty = ES256 (existing keys keep theirs)") \
  X(KEY_BACKEND, "key_backend", "key-backend", "TOKENSMITH_GATEWAY_KEY_BACKEND", ENUM, 0, 0, \
    "files|pkcs11", key_backend, "files", "BACKEND", \
    "where the signing key lives: files (key_dir) or pkcs11 (a key in an HSM token, signing " \
    "inside it; docs/keys.md)") \
  X(PKCS11_MODULE, "pkcs11_module", "pkcs11-module", "TOKENSMITH_GATEWAY_PKCS11_MODULE", PATH, \
    0, 0, NULL, pkcs11_module, "", "FILE", "key_backend pkcs11: the PKCS#11 module (.so)") \
  X(PKCS11_TOKEN_LABEL, "pkcs11_token_label", "pkcs11-token-label", \
    "TOKENSMITH_GATEWAY_PKCS11_TOKEN_LABEL", STR, 0, 0, NULL, pkcs11_token_label, "", "LABEL", \
    "key_backend pkcs11: the label of the token holding the key") \
  X(PKCS11_KEY_LABEL, "pkcs11_key_label", "pkcs11-key-label", \
    "TOKENSMITH_GATEWAY_PKCS11_KEY_LABEL", STR, 0, 0, NULL, pkcs11_key_label, "", "LABEL", \
    "key_backend pkcs11: CKA_LABEL of the private key that signs") \
  X(PKCS11_PIN_FILE, "pkcs11_pin_file", "pkcs11-pin-file", \
    "TOKENSMITH_GATEWAY_PKCS11_PIN_FILE", PATH, 0, 0, NULL, pkcs11_pin_file, "", "FILE", \
    "key_backend pkcs11: a file (mode 0600) holding the user PIN; or pkcs11_pin_env") \
  X(PKCS11_PIN_ENV, "pkcs11_pin_env", "pkcs11-pin-env", "TOKENSMITH_GATEWAY_PKCS11_PIN_ENV", \
    STR, 0, 0, NULL, pkcs11_pin_env, "", "NAME", \
    "key_backend pkcs11: the name of the environment variable holding the user PIN") \
  X(LOG_FORMAT, "log_format", "log-format", "TOKENSMITH_GATEWAY_LOG_FORMAT", ENUM, 0, 0, \
    "json|text", log_format, "json", "FMT", "format of the log lines on stderr") \
  X(THREADS, "threads", "threads", "TOKENSMITH_GATEWAY_THREADS", UINT, 1, 256, NULL, threads, \
    "8", "N", "check threads of each listener") \
  X(TRANSLATE_AUDIENCE, "translate.audience", "translate-audience", \
    "TOKENSMITH_GATEWAY_TRANSLATE_AUDIENCE", STR, 0, 0, NULL, translate.audience, "", "AUD", \
    "aud of translated tokens when the route names none (required)") \
  X(TRANSLATE_TTL, "translate.ttl", "translate-ttl", "TOKENSMITH_GATEWAY_TRANSLATE_TTL", DUR, \
    30, 3600, NULL, translate.ttl_s, "5m", "DUR", \
    "lifetime of a translated token (never past the presented token's exp)") \
  X(TRANSLATE_CACHE_ENTRIES, "translate.cache_entries", "translate-cache-entries", \
    "TOKENSMITH_GATEWAY_TRANSLATE_CACHE_ENTRIES", UINT, 0, 1000000, NULL, \
    translate.cache_entries, "10000", "N", "translated tokens kept for reuse; 0 = no cache") \
  X(TRANSLATE_HEADERS, "translate.headers", "translate-headers", \
    "TOKENSMITH_GATEWAY_TRANSLATE_HEADERS", BOOL, 0, 1, NULL, translate.headers, "true", \
    "BOOL", "also send x-tokensmith-subject, -roles and -policy-version upstream") \
  X(TRANSLATE_TOKEN_TYPE, "translate.token_type", "translate-token-type", \
    "TOKENSMITH_GATEWAY_TRANSLATE_TOKEN_TYPE", ENUM, 0, 0, "JWT|at+jwt", \
    translate.token_type, "JWT", "TYP", "JWS typ of translated tokens") \
  X(MODE, "authz.mode", "mode", "TOKENSMITH_GATEWAY_MODE", ENUM, 0, 0, "off|shadow|enforce", \
    authz.mode, "enforce", "MODE", \
    "authorization: enforce; shadow (log what enforce would do, allow); off") \
  X(POLICY_DIR, "authz.policy_dir", "policy-dir", "TOKENSMITH_GATEWAY_POLICY_DIR", PATH, 0, 0, \
    NULL, authz.policy_dir, "", "DIR", \
    "directory of policy fragments (*.csv); empty (JSON null) = the embedded baseline only") \
  X(POLICY_WATCH, "authz.policy_watch", "policy-watch", "TOKENSMITH_GATEWAY_POLICY_WATCH", BOOL, \
    0, 1, NULL, authz.policy_watch, "false", "BOOL", \
    "apply changes of policy_dir's files as they happen (inotify); a broken change is logged") \
  X(ALLOW_UNMAPPED, "authz.allow_unmapped", "allow-unmapped", \
    "TOKENSMITH_GATEWAY_ALLOW_UNMAPPED", BOOL, 0, 1, NULL, authz.allow_unmapped, "false", \
    "BOOL", "allow a request that no route maps (refused by default)") \
  X(LOG_ALLOW_SAMPLE, "authz.log_allow_sample", "log-allow-sample", \
    "TOKENSMITH_GATEWAY_LOG_ALLOW_SAMPLE", UINT, 0, 1000000, NULL, authz.log_allow_sample, \
    "100", "N", "log one allowed decision in N; 0 = none (denials are always logged)") \
  X(HTTP_PREFIX, "http.prefix", "http-prefix", "TOKENSMITH_GATEWAY_HTTP_PREFIX", STR, 0, 0, \
    NULL, http.prefix, "", "PREFIX", \
    "Envoy's path_prefix: stripped from the check path (other paths get 404)") \
  X(ORIGINAL_URI_HEADER, "http.original_uri_header", "original-uri-header", \
    "TOKENSMITH_GATEWAY_ORIGINAL_URI_HEADER", STR, 0, 0, NULL, http.original_uri_header, "", \
    "NAME", "nginx: the header holding the original URI (X-Original-URI); empty = Envoy's way") \
  X(ORIGINAL_METHOD_HEADER, "http.original_method_header", "original-method-header", \
    "TOKENSMITH_GATEWAY_ORIGINAL_METHOD_HEADER", STR, 0, 0, NULL, \
    http.original_method_header, "", "NAME", \
    "nginx: the header holding the original method (X-Original-Method)") \
  X(CLIENT_TOKENSMITH_HEADERS, "http.client_tokensmith_headers", "client-tokensmith-headers", \
    "TOKENSMITH_GATEWAY_CLIENT_TOKENSMITH_HEADERS", ENUM, 0, 0, "strip|reject", \
    http.client_tokensmith_headers, "strip", "WHAT", \
    "the client's own x-tokensmith-* headers: strip (removed upstream) or reject (400)") \
  X(MAX_HEADER_BYTES, "limits.max_header_bytes", "max-header-bytes", \
    "TOKENSMITH_GATEWAY_MAX_HEADER_BYTES", UINT, 1024, 1048576, NULL, \
    limits.max_header_bytes, "16384", "N", "header bytes of one check at most") \
  X(MAX_HEADERS, "limits.max_headers", "max-headers", "TOKENSMITH_GATEWAY_MAX_HEADERS", UINT, \
    1, 10000, NULL, limits.max_headers, "100", "N", "header lines of one check at most") \
  X(GRPC_MAX_MESSAGE_BYTES, "limits.grpc_max_message_bytes", "grpc-max-message-bytes", \
    "TOKENSMITH_GATEWAY_GRPC_MAX_MESSAGE_BYTES", UINT, 1024, 16777216, NULL, \
    limits.grpc_max_message_bytes, "65536", "N", "one CheckRequest's bytes at most") \
  X(REQUEST_TIMEOUT, "limits.request_timeout", "request-timeout", \
    "TOKENSMITH_GATEWAY_REQUEST_TIMEOUT", DUR, 1, 600, NULL, limits.request_timeout_ms, "5s", \
    "DUR", "a check's deadline when the call carries no grpc-timeout") \
  X(MAX_CONNECTIONS, "limits.max_connections", "max-connections", \
    "TOKENSMITH_GATEWAY_MAX_CONNECTIONS", UINT, 1, 100000, NULL, limits.max_connections, \
    "1024", "N", "open connections per listener at most")
// clang-format on

/** The bound of a row: @p max, or for 0 the longest string @p field holds. */
#define TS_GATEWAY_ROW_MAX(max, field)                                                             \
    ((max) ? (int64_t)(max) : (int64_t)sizeof(((ts_gateway_config *)0)->field) - 1)

#endif
