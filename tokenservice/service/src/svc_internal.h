/* The token service's private parts: the service object, one request's state, and the functions
 * its files share (each file is one endpoint or one concern; see the comment atop each). */
#ifndef TS_SVC_INTERNAL_H
#define TS_SVC_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

#include <tokensmith/authz_http.h>
#include <tokensmith/mhd.h>
#include <tokensmith/oidc.h>
#include <tokensmith/store.h>

#include "admin.h"
#include "clients.h"
#include "form.h"
#include "jw.h"
#include "keys.h"
#include "metrics.h"
#include "mint.h"
#include "server.h"

#define TS_SVC_GRANT_EXCHANGE "urn:ietf:params:oauth:grant-type:token-exchange"
#define TS_SVC_GRANT_REFRESH "refresh_token"
#define TS_SVC_TT_BOOTSTRAP "urn:openchami:params:oauth:token-type:bootstrap-token"
#define TS_SVC_TT_ACCESS "urn:ietf:params:oauth:token-type:access_token"
#define TS_SVC_TT_ID_TOKEN "urn:ietf:params:oauth:token-type:id_token"

#define TS_SVC_MSG_BAD_BOOTSTRAP "The provided token is invalid or has already been used"
#define TS_SVC_MSG_BAD_REFRESH "The provided refresh token is invalid or has expired"
#define TS_SVC_MSG_LIMITED "Too many failed token exchange attempts from this address"
#define TS_SVC_MSG_LIMITED_REFRESH "Too many failed refresh attempts from this address"
#define TS_SVC_MSG_LIMITED_AUTH "Too many failed client authentications from this address"
#define TS_SVC_MSG_INTERNAL "An internal server error occurred"
#define TS_SVC_MSG_STORE_DOWN "The token store is unavailable; retry later"

/* The challenge of a 401 invalid_client at /oauth/revoke and /oauth/introspect (RFC 6749 §5.2). */
#define TS_SVC_WWW_AUTH_BASIC "Basic realm=\"tokensmith\", charset=\"UTF-8\""

#define TS_SVC_REQ_ID_MAX 64

/* Published keys (keys_published.c): republished every TS_SVC_KEY_REPUBLISH_S seconds with
 * not_after = now + accessTokenTTL + TS_SVC_KEY_LEEWAY_S (keys.h). */
#define TS_SVC_KEY_REPUBLISH_S 60u

/* An upstream exchange issues a token that lives min(accessTokenTTL, upstream exp - now); an
 * upstream token with less than this left is refused (invalid_grant) instead. */
#define TS_SVC_MIN_ISSUED_LIFETIME_S 10

/* One provider configuration and its relying party. Requests hold a reference, so that an admin
 * change can swap it while exchanges in flight finish with the one they started with. */
typedef struct ts_svc_oidc_gen {
    ts_oidc_config *cfg;
    ts_oidc *rp;
    unsigned refs;
    char source[16]; /* "config" (the service configuration) or "admin" (set through the admin
                        API: the store's shared configuration, or an older state file) */
} ts_svc_oidc_gen;

struct ts_svc {
    ts_svc_config cfg;
    pthread_mutex_t oidc_mu;  /* guards oidc (the pointer and its refs) */
    ts_svc_oidc_gen *oidc;    /* NULL: no upstream provider */
    pthread_mutex_t admin_mu; /* one configuration change at a time */
    /* The store's provider configuration version in use (0: none stored; the state file or the
     * configuration file's providers are in use). Under admin_mu. */
    int64_t oidc_version;
    struct ts_svc_oidc_poll *oidc_poll; /* oidc_shared.c: applies newer stored versions */
    struct ts_svc_mgmt *mgmt;           /* mgmt.c: the management API's listener, NULL when off */
    struct ts_svc_map_cache *maps;      /* mappings_cache.c: the token mappings exchanges apply */
    struct MHD_Daemon *admin;
    ts_mhd_limits *admin_limits; /* connections and request deadlines of the admin listener */
    bool admin_unix;             /* the admin listener is a Unix socket we created */
    uint16_t admin_port;
    char oidc_state[TS_SVC_PATH + 32];
    ts_svc_keyring *keys;
    ts_store *store;
    ts_store_limiter *limiter;
    struct MHD_Daemon *mhd;
    ts_mhd_limits *limits; /* connections per address and in total, head and body deadlines */
    uint16_t port;
    ts_svc_clients *clients; /* clients.c: who may introspect, and revoke any token */
    char *metadata;          /* RFC 8414 document */
    bool text_logs;
    /* Requests whose head has arrived and that have not completed: the drain at shutdown waits
     * for these, not for idle keep-alive connections. */
    atomic_uint inflight;
    atomic_bool draining;     /* shutting down: every answer says Connection: close */
    ts_svc_metrics metrics;   /* metrics.c: counters of every answer */
    struct ts_svc_tls *tls;   /* tls_svc.c: the main listener's certificate; NULL = plain HTTP */
    struct ts_svc_mtls *mtls; /* mtls.c: client certificates' CAs and rules; NULL = off */
    struct ts_svc_metrics_http *metrics_http; /* metrics_listener.c: NULL when /metrics is on
                                                 the main listener */
};

/* One request: its identity, its body as it arrives, and whether it has been answered. */
typedef struct ts_svc_req {
    char id[TS_SVC_REQ_ID_MAX + 1];
    char peer[TS_STORE_MAX_PEER_LEN + 1];
    char *body;
    size_t len;
    bool too_big;
    bool answered;
    struct timespec start;
    /* For the metrics (metrics.h): the route taken, the grant asked for, and the OAuth error
     * code of the answer (a static string; NULL for none). */
    ts_svc_ep ep;
    ts_svc_grant_kind grant;
    const char *error;
    bool metrics_only; /* a request to the metrics listener */
} ts_svc_req;

typedef ts_svc_req req;
typedef ts_svc_oidc_gen oidc_gen;
typedef struct MHD_Connection mhd_conn;

/* log.c ------------------------------------------------------------------------------------ */

void ts_svc__log_timestamp(char ts[40]);
/* Log with fields given as JSON object members without the braces ("k":v,...; may be empty). */
void ts_svc__log_members(const ts_svc *s, const char *level, const char *msg, const char *members,
                         size_t mlen);
/* Log with fields from a JSON object (reference taken; may be NULL). */
void ts_svc__log_event(const ts_svc *s, const char *level, const char *msg, json_t *fields);
/* The members of a JSON object as text without its braces; NULL for NULL. Free with free(). */
char *ts_svc__members_of(json_t *fields, size_t *len);

/* respond.c -------------------------------------------------------------------------------- */

double ts_svc__elapsed_ms(const req *rq);
/* Answer with @p body and log the request line with @p members (JSON object members without
   braces, may be empty) after the request's own fields. */
enum MHD_Result ts_svc__respond_m(ts_svc *s, mhd_conn *conn, req *rq, const char *method,
                                  const char *path, unsigned status, const char *ctype,
                                  const char *body, size_t body_len, const char *cache,
                                  const char *members, size_t mlen, const char *extra_name,
                                  const char *extra_value);
/* The same with a NUL-terminated body and log fields as a JSON object (reference taken). */
enum MHD_Result ts_svc__respond(ts_svc *s, mhd_conn *conn, req *rq, const char *method,
                                const char *path, unsigned status, const char *ctype,
                                const char *body, const char *cache, json_t *log_fields,
                                const char *extra_name, const char *extra_value);
/* Answer with a JSON document (reference taken; its text is wiped after sending). */
enum MHD_Result ts_svc__send_json(ts_svc *s, mhd_conn *conn, req *rq, const char *method,
                                  const char *path, unsigned status, json_t *doc, const char *cache,
                                  json_t *log_fields);
/* An OAuth error ({"error","error_description"}, no-store) to a POST. */
enum MHD_Result ts_svc__oauth_error(ts_svc *s, mhd_conn *conn, req *rq, const char *path,
                                    unsigned status, const char *code, const char *desc,
                                    json_t *log_fields, const char *extra_name,
                                    const char *extra_value);
enum MHD_Result ts_svc__method_not_allowed(ts_svc *s, mhd_conn *conn, req *rq, const char *method,
                                           const char *path, const char *allow);
/* A store failure: 503 with Retry-After when the store is unavailable (TS_EIO), else 500. */
enum MHD_Result ts_svc__store_failure(ts_svc *s, mhd_conn *conn, req *rq, const char *path,
                                      ts_status st, const ts_error *e);

/* request.c -------------------------------------------------------------------------------- */

void ts_svc__request_id(mhd_conn *conn, char out[TS_SVC_REQ_ID_MAX + 1]);
void ts_svc__peer_address(mhd_conn *conn, char *out, size_t cap);
/* The limiter key: the socket peer, or the address the trusted proxy appended. */
void ts_svc__client_key(const ts_svc *s, mhd_conn *conn, const req *rq, char *out, size_t cap);
uint64_t ts_svc__mono_ms(void);

/* upstream.c ------------------------------------------------------------------------------- */

oidc_gen *ts_svc__gen_acquire(ts_svc *s);
void ts_svc__gen_release(ts_svc *s, oidc_gen *g);
/* Install @p g (reference passed in) as the current generation. */
void ts_svc__gen_install(ts_svc *s, oidc_gen *g);
/* Parse a provider configuration (the ts_oidc format) into a new generation; *out = NULL when
 * it has no providers. */
ts_status ts_svc__gen_build(const ts_svc_config *c, json_t *doc, const char *source, oidc_gen **out,
                            ts_error *err);
ts_status ts_svc__gen_build_text(const ts_svc_config *c, const char *text, size_t len,
                                 const char *source, oidc_gen **out, ts_error *err);
/* The providers at start: the admin state file wins over the configuration file. */
ts_status ts_svc__load_oidc(ts_svc *s, ts_error *err);
/* The same at run time (SIGHUP): a new generation replaces the current one; on failure the
 * current one stays. *source names where the providers came from. */
ts_status ts_svc__reload_oidc(ts_svc *s, const char **source, ts_error *err);

/* grant.c ---------------------------------------------------------------------------------- */

bool ts_svc__blank(const char *v);
/* Whether the limiter blocks @p key now; when it does, @p retry_after receives the seconds until
 * it lets the key through again (the Retry-After header). */
bool ts_svc__limited(ts_svc *s, const char *key, char retry_after[24]);
enum MHD_Result ts_svc__grant_success(ts_svc *s, mhd_conn *conn, req *rq, const char *path,
                                      const ts_store_family *fam, const char *refresh,
                                      bool exchange, int64_t now, const char *hash_prefix,
                                      const char *event);
ts_status ts_svc__hash_and_mint_refresh(const char *tok, size_t tlen,
                                        char hash[TS_STORE_HASH_LEN + 1],
                                        char prefix[TS_STORE_PREFIX_LEN + 1],
                                        char refresh[TS_STORE_TOKEN_LEN + 1],
                                        char rhash[TS_STORE_HASH_LEN + 1], ts_error *e);

/* grant_bootstrap.c, grant_refresh.c, grant_oidc.c ------------------------------------------- */

/* @p client is the limiter key of the request. */
enum MHD_Result ts_svc__grant_bootstrap(ts_svc *s, mhd_conn *conn, req *rq, const char *path,
                                        const char *tok, size_t tlen, const char *client);
enum MHD_Result ts_svc__grant_refresh(ts_svc *s, mhd_conn *conn, req *rq, const char *path,
                                      const ts_form *form);
enum MHD_Result ts_svc__grant_oidc(ts_svc *s, mhd_conn *conn, req *rq, const char *path,
                                   const ts_form *form, const char *stt, const char *tok,
                                   size_t tlen, const char *client);

/* own_token.c, client_auth.c, revoke.c, introspect.c ---------------------------------------- */

/* The claims of @p tok when it is an access token this service signed (signature against its
 * published keys, iss this issuer, a jti and an exp), expired or not; else NULL. Owned. */
json_t *ts_svc__own_token(ts_svc *s, const char *tok, size_t len);
/* The checks the form endpoints share (no query parameters, the body bound, the content type,
 * the form parse): NULL with the request answered (*r) when one fails. */
ts_form *ts_svc__read_form(ts_svc *s, mhd_conn *conn, req *rq, const char *path,
                           enum MHD_Result *r);
/* Client authentication of a request to @p path: TS_SVC_AUTH_BAD and _MALFORMED are answered
 * here (401 invalid_client with WWW-Authenticate, 400 invalid_request; *r). */
ts_svc_auth ts_svc__client_auth(ts_svc *s, mhd_conn *conn, req *rq, const char *path,
                                const ts_form *form, ts_svc_client *who, enum MHD_Result *r);
/* What /oauth/revoke and /oauth/introspect do first: the caller's address under the grants'
 * rate limiter (429), the form (ts_svc__read_form()), the client's authentication
 * (ts_svc__client_auth(); @p auth is TS_SVC_AUTH_OK or _NONE on success). NULL with the request
 * answered (*r) when one fails; else the form, to free. */
ts_form *ts_svc__client_request(ts_svc *s, mhd_conn *conn, req *rq, const char *path,
                                ts_svc_client *who, ts_svc_auth *auth, enum MHD_Result *r);
enum MHD_Result ts_svc__revoke_endpoint(ts_svc *s, mhd_conn *conn, req *rq, const char *path);
enum MHD_Result ts_svc__introspect_endpoint(ts_svc *s, mhd_conn *conn, req *rq, const char *path);

/* token_endpoint.c, health.c, wellknown.c, admin_routes.c, router.c ------------------------- */

enum MHD_Result ts_svc__token_endpoint(ts_svc *s, mhd_conn *conn, req *rq, const char *path);
enum MHD_Result ts_svc__health(ts_svc *s, mhd_conn *conn, req *rq, const char *method,
                               const char *path);
char *ts_svc__build_metadata(const ts_svc_config *c);
enum MHD_Result ts_svc__route_admin(ts_svc *s, mhd_conn *conn, req *rq, const char *url,
                                    const char *method);
bool ts_svc__is_get(const char *m);
/* POST /service-identity/session (mtls_endpoint.c); routed only with s->mtls. */
enum MHD_Result ts_svc__service_identity_endpoint(ts_svc *s, mhd_conn *conn, req *rq,
                                                  const char *path);
/* GET or HEAD /metrics, on the main listener or the metrics listener. */
enum MHD_Result ts_svc__metrics_endpoint(ts_svc *s, mhd_conn *conn, req *rq, const char *method,
                                         const char *path);
enum MHD_Result ts_svc__on_request(void *cls, mhd_conn *conn, const char *url, const char *method,
                                   const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **req_cls);
/* The same for the metrics listener (metrics_listener.c): GET /metrics only. */
enum MHD_Result ts_svc__on_metrics_request(void *cls, mhd_conn *conn, const char *url,
                                           const char *method, const char *version,
                                           const char *upload_data, size_t *upload_data_size,
                                           void **req_cls);
void ts_svc__on_completed(void *cls, mhd_conn *conn, void **req_cls,
                          enum MHD_RequestTerminationCode toe);

/**
 * The bounds of one of the service's listeners (tokensmith-mhd, listeners.c): at most
 * @p max_per_address connections per client address and @p max_connections in all, the
 * service's request head, body and idle deadlines, framing checks against request smuggling,
 * refused and timed-out connections logged; around @p handler and @p completed, both called
 * with the service as their closure.
 */
void ts_svc__limits_options(ts_svc *s, MHD_AccessHandlerCallback handler,
                            MHD_RequestCompletedCallback completed, unsigned max_per_address,
                            unsigned max_connections, ts_mhd_limits_options *lo);
/** The main listener's bounds, around the service's own handler (listeners.c). */
ts_mhd_limits *ts_svc__new_limits(ts_svc *s, unsigned max_per_address, unsigned max_connections,
                                  ts_error *err);
/** Start the admin listener on adminListen (loopback or unix:PATH only). */
ts_status ts_svc__start_admin(ts_svc *s, ts_error *err);

#endif
