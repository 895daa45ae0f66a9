/* The token service on libmicrohttpd: routes, OAuth errors, the two grants, logs. */
#define _GNU_SOURCE

#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <tokensmith/store.h>

#include "form.h"
#include "keys.h"
#include "mint.h"

#define GRANT_EXCHANGE "urn:ietf:params:oauth:grant-type:token-exchange"
#define GRANT_REFRESH "refresh_token"
#define TT_BOOTSTRAP "urn:openchami:params:oauth:token-type:bootstrap-token"
#define TT_ACCESS "urn:ietf:params:oauth:token-type:access_token"

#define MSG_BAD_BOOTSTRAP "The provided token is invalid or has already been used"
#define MSG_BAD_REFRESH "The provided refresh token is invalid or has expired"
#define MSG_LIMITED "Too many failed token exchange attempts from this address"
#define MSG_INTERNAL "An internal server error occurred"
#define MSG_STORE_DOWN "The token store is unavailable; retry later"

#define REQ_ID_MAX 64

struct ts_svc {
    ts_svc_config cfg;
    ts_svc_keyring *keys;
    ts_store *store;
    ts_store_limiter *limiter;
    struct MHD_Daemon *mhd;
    uint16_t port;
    char *metadata; /* RFC 8414 document */
    bool text_logs;
};

typedef struct req {
    char id[REQ_ID_MAX + 1];
    char peer[TS_STORE_MAX_PEER_LEN + 1];
    char *body;
    size_t len;
    bool too_big;
    bool answered;
    struct timespec start;
} req;

/* ------------------------------------------------------------------------------------------ */
/* Logs: one line per event on stderr, JSON or text. Never a token: jti, kid, hash prefixes. */

static void log_event(const ts_svc *s, const char *level, const char *msg, json_t *fields)
{
    char ts[40];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03ldZ", now.tv_nsec / 1000000L);
    if (!fields)
        fields = json_object();
    if (s && s->text_logs) {
        char *line = NULL;
        size_t cap = 0;
        FILE *m = open_memstream(&line, &cap);
        if (!m) {
            json_decref(fields);
            return;
        }
        fprintf(m, "%s %-5s %s", ts, level, msg);
        const char *k;
        json_t *v;
        json_object_foreach(fields, k, v)
        {
            char *t = json_is_string(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            fprintf(m, " %s=%s", k, t ? t : json_string_value(v));
            free(t);
        }
        fputc('\n', m);
        fclose(m);
        fputs(line, stderr);
        free(line);
        json_decref(fields);
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "time", json_string(ts));
    json_object_set_new(o, "level", json_string(level));
    json_object_set_new(o, "msg", json_string(msg));
    json_object_update(o, fields);
    json_decref(fields);
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(o);
    if (line) {
        /* One write per line so that lines from worker threads never interleave. */
        size_t l = strlen(line);
        line[l] = '\n';
        fwrite(line, 1, l + 1, stderr);
        line[l] = '\0';
        free(line);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Responses                                                                                  */

static double elapsed_ms(const req *rq)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - rq->start.tv_sec) * 1000.0 +
           (double)(now.tv_nsec - rq->start.tv_nsec) / 1e6;
}

static enum MHD_Result respond(ts_svc *s, struct MHD_Connection *conn, req *rq, const char *method,
                               const char *path, unsigned status, const char *ctype,
                               const char *body, const char *cache, json_t *log_fields,
                               const char *extra_name, const char *extra_value)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)(uintptr_t)body,
                                                             MHD_RESPMEM_MUST_COPY);
    if (!r) {
        json_decref(log_fields);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, "X-Request-Id", rq->id);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (cache) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, cache);
        if (strcmp(cache, "no-store") == 0)
            MHD_add_response_header(r, MHD_HTTP_HEADER_PRAGMA, "no-cache");
    }
    if (extra_name)
        MHD_add_response_header(r, extra_name, extra_value);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    rq->answered = true;
    json_t *f = json_object();
    json_object_set_new(f, "request_id", json_string(rq->id));
    json_object_set_new(f, "method", json_string(method));
    json_object_set_new(f, "path", json_stringn(path, strnlen(path, 256)));
    json_object_set_new(f, "status", json_integer(status));
    json_object_set_new(f, "peer", json_string(rq->peer));
    json_object_set_new(f, "duration_ms", json_real((double)(long)(elapsed_ms(rq) * 1000) / 1000));
    if (log_fields) {
        json_object_update(f, log_fields);
        json_decref(log_fields);
    }
    log_event(s, status >= 500 ? "error" : (status >= 400 ? "warn" : "info"), "request", f);
    return ret;
}

static enum MHD_Result send_json(ts_svc *s, struct MHD_Connection *conn, req *rq,
                                 const char *method, const char *path, unsigned status, json_t *doc,
                                 const char *cache, json_t *log_fields)
{
    char *body = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (!body) {
        json_decref(log_fields);
        return MHD_NO;
    }
    enum MHD_Result r = respond(s, conn, rq, method, path, status, "application/json", body, cache,
                                log_fields, NULL, NULL);
    OPENSSL_cleanse(body, strlen(body)); /* may hold tokens */
    free(body);
    return r;
}

static enum MHD_Result oauth_error(ts_svc *s, struct MHD_Connection *conn, req *rq,
                                   const char *path, unsigned status, const char *code,
                                   const char *desc, json_t *log_fields, const char *extra_name,
                                   const char *extra_value)
{
    json_t *doc = json_object();
    json_object_set_new(doc, "error", json_string(code));
    json_object_set_new(doc, "error_description", json_string(desc));
    char *body = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (!body) {
        json_decref(log_fields);
        return MHD_NO;
    }
    if (!log_fields)
        log_fields = json_object();
    json_object_set_new(log_fields, "error", json_string(code));
    enum MHD_Result r = respond(s, conn, rq, "POST", path, status, "application/json", body,
                                "no-store", log_fields, extra_name, extra_value);
    free(body);
    return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Request identity                                                                           */

static void request_id(struct MHD_Connection *conn, char out[REQ_ID_MAX + 1])
{
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    if (h) {
        size_t l = strlen(h);
        bool ok = l > 0 && l <= REQ_ID_MAX;
        for (size_t i = 0; ok && i < l; i++) {
            char c = h[i];
            ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || c == '.';
        }
        if (ok) {
            memcpy(out, h, l + 1);
            return;
        }
    }
    unsigned char b[12];
    if (RAND_bytes(b, sizeof b) != 1)
        memset(b, 0, sizeof b);
    for (size_t i = 0; i < sizeof b; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static void peer_address(struct MHD_Connection *conn, char *out, size_t cap)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    out[0] = '\0';
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &in->sin_addr, out, (socklen_t)cap);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, out, (socklen_t)cap);
    }
}

/* The limiter key: the socket peer, or, when the peer is the configured trusted proxy, the
 * address that proxy appended last to X-Forwarded-For (the earlier entries are the client's
 * own claims and are never believed). */
static void client_key(const ts_svc *s, struct MHD_Connection *conn, const req *rq, char *out,
                       size_t cap)
{
    snprintf(out, cap, "%s", rq->peer);
    if (!s->cfg.trusted_proxy[0] || strcmp(rq->peer, s->cfg.trusted_proxy) != 0)
        return;
    const char *xff = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Forwarded-For");
    if (!xff)
        return;
    const char *last = strrchr(xff, ',');
    last = last ? last + 1 : xff;
    while (*last == ' ' || *last == '\t')
        last++;
    char cand[INET6_ADDRSTRLEN + 1];
    size_t l = strcspn(last, " \t");
    if (l == 0 || l >= sizeof cand)
        return;
    memcpy(cand, last, l);
    cand[l] = '\0';
    unsigned char buf[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, cand, buf) == 1 || inet_pton(AF_INET6, cand, buf) == 1)
        snprintf(out, cap, "%s", cand);
}

static uint64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

/* ------------------------------------------------------------------------------------------ */
/* Grants                                                                                     */

static enum MHD_Result grant_success(ts_svc *s, struct MHD_Connection *conn, req *rq,
                                     const char *path, const ts_store_family *fam,
                                     const char *refresh, bool exchange, int64_t now,
                                     const char *hash_prefix, const char *event)
{
    ts_svc_mint_args ma = {fam->subject,
                           fam->audience,
                           fam->scope,
                           fam->id,
                           fam->expires_at,
                           exchange ? "bootstrap_exchange" : "refresh_token",
                           exchange ? "bootstrap_token_exchange" : "refresh_token_grant",
                           now};
    char *jwt = NULL;
    char jti[TS_SVC_JTI_LEN + 1];
    ts_error e;
    ts_error_clear(&e);
    if (ts_svc_mint(&s->cfg, s->keys, &ma, &jwt, jti, &e) != TS_OK) {
        json_t *f = json_object();
        json_object_set_new(f, "family_id", json_string(fam->id));
        json_object_set_new(f, "reason", json_string(e.msg));
        return oauth_error(s, conn, rq, path, 500, "server_error", MSG_INTERNAL, f, NULL, NULL);
    }
    json_t *doc = json_object();
    json_object_set_new(doc, "access_token", json_string(jwt));
    json_object_set_new(doc, "token_type", json_string("Bearer"));
    json_object_set_new(doc, "expires_in", json_integer(s->cfg.access_ttl_s));
    json_object_set_new(doc, "refresh_token", json_string(refresh));
    int64_t rexp = fam->expires_at - now;
    json_object_set_new(doc, "refresh_expires_in", json_integer(rexp > 0 ? rexp : 0));
    if (fam->scope[0])
        json_object_set_new(doc, "scope", json_string(fam->scope));
    if (exchange)
        json_object_set_new(doc, "issued_token_type", json_string(TT_ACCESS));
    OPENSSL_cleanse(jwt, strlen(jwt));
    ts_authn_free(jwt);
    json_t *f = json_object();
    json_object_set_new(f, "audit_event", json_string(event));
    json_object_set_new(f, "subject", json_string(fam->subject));
    json_object_set_new(f, "audience", json_string(fam->audience));
    json_object_set_new(f, "jti", json_string(jti));
    json_object_set_new(f, "kid", json_string(ts_jwk_kid(ts_svc_keyring_active(s->keys))));
    json_object_set_new(f, "family_id", json_string(fam->id));
    json_object_set_new(f, "token_hash_prefix", json_string(hash_prefix));
    return send_json(s, conn, rq, "POST", path, 200, doc, "no-store", f);
}

static bool blank(const char *v)
{
    if (!v)
        return true;
    for (; *v; v++)
        if (*v != ' ' && *v != '\t' && *v != '\r' && *v != '\n')
            return false;
    return true;
}

static enum MHD_Result store_failure(ts_svc *s, struct MHD_Connection *conn, req *rq,
                                     const char *path, ts_status st, const ts_error *e)
{
    json_t *f = json_object();
    json_object_set_new(f, "reason", json_string(e->msg));
    if (st == TS_EIO)
        return oauth_error(s, conn, rq, path, 503, "temporarily_unavailable", MSG_STORE_DOWN, f,
                           "Retry-After", "1");
    return oauth_error(s, conn, rq, path, 500, "server_error", MSG_INTERNAL, f, NULL, NULL);
}

static enum MHD_Result grant_exchange(ts_svc *s, struct MHD_Connection *conn, req *rq,
                                      const char *path, const ts_form *form)
{
    char key[TS_STORE_MAX_PEER_LEN + 1];
    client_key(s, conn, rq, key, sizeof key);
    if (ts_store_limiter_blocked(s->limiter, key, strlen(key), mono_ms()))
        return oauth_error(s, conn, rq, path, 429, "too_many_requests", MSG_LIMITED, NULL,
                           "Retry-After", "60");
    const char *stt = ts_form_get(form, "subject_token_type", NULL);
    if (!stt || strcmp(stt, TT_BOOTSTRAP) != 0)
        return oauth_error(s, conn, rq, path, 400, "invalid_request",
                           "Invalid subject_token_type parameter", NULL, NULL, NULL);
    size_t tlen = 0;
    const char *tok = ts_form_get(form, "subject_token", &tlen);
    if (blank(tok))
        return oauth_error(s, conn, rq, path, 400, "invalid_request",
                           "Missing or empty subject_token parameter", NULL, NULL, NULL);
    const char *rtt = ts_form_get(form, "requested_token_type", NULL);
    if (rtt && strcmp(rtt, TT_ACCESS) != 0)
        return oauth_error(s, conn, rq, path, 400, "invalid_request",
                           "Unsupported requested_token_type parameter", NULL, NULL, NULL);
    if (ts_form_get(form, "actor_token", NULL))
        return oauth_error(s, conn, rq, path, 400, "invalid_request",
                           "actor_token is not supported", NULL, NULL, NULL);

    ts_error e;
    ts_error_clear(&e);
    char hash[TS_STORE_HASH_LEN + 1], prefix[TS_STORE_PREFIX_LEN + 1];
    char refresh[TS_STORE_TOKEN_LEN + 1], rhash[TS_STORE_HASH_LEN + 1];
    if (ts_store_token_hash(tok, tlen, hash, &e) != TS_OK ||
        ts_store_token_generate(refresh, &e) != TS_OK ||
        ts_store_token_hash(refresh, TS_STORE_TOKEN_LEN, rhash, &e) != TS_OK)
        return store_failure(s, conn, rq, path, TS_EINTERNAL, &e);
    ts_store_hash_prefix(hash, prefix);
    int64_t now = (int64_t)time(NULL);
    ts_store_redeem_result res;
    ts_status st = ts_store_bootstrap_redeem(s->store, hash, key, now, rhash, &res, &e);
    if (st != TS_OK) {
        OPENSSL_cleanse(refresh, sizeof refresh);
        return store_failure(s, conn, rq, path, st, &e);
    }
    enum MHD_Result r;
    if (res.outcome == TS_STORE_REDEEM_OK || res.outcome == TS_STORE_REDEEM_REISSUED) {
        r = grant_success(s, conn, rq, path, &res.family, refresh, true, now, prefix,
                          res.outcome == TS_STORE_REDEEM_OK ? "bootstrap_token_exchanged"
                                                            : "bootstrap_token_reissued");
    } else {
        unsigned fails = ts_store_limiter_fail(s->limiter, key, strlen(key), mono_ms());
        json_t *f = json_object();
        json_object_set_new(f, "audit_event",
                            json_string(res.outcome == TS_STORE_REDEEM_ALREADY_CONSUMED
                                            ? "bootstrap_token_replay_attempted"
                                            : (res.outcome == TS_STORE_REDEEM_EXPIRED
                                                   ? "bootstrap_token_expired"
                                                   : "bootstrap_token_not_found")));
        json_object_set_new(f, "token_hash_prefix", json_string(prefix));
        json_object_set_new(f, "client", json_string(key));
        json_object_set_new(f, "failures", json_integer(fails));
        if (res.outcome != TS_STORE_REDEEM_NOT_FOUND)
            json_object_set_new(f, "bootstrap_id", json_string(res.record.id));
        r = oauth_error(s, conn, rq, path, 400, "invalid_grant", MSG_BAD_BOOTSTRAP, f, NULL, NULL);
    }
    OPENSSL_cleanse(refresh, sizeof refresh);
    return r;
}

static enum MHD_Result grant_refresh(ts_svc *s, struct MHD_Connection *conn, req *rq,
                                     const char *path, const ts_form *form)
{
    size_t tlen = 0;
    const char *tok = ts_form_get(form, "refresh_token", &tlen);
    if (blank(tok))
        return oauth_error(s, conn, rq, path, 400, "invalid_request",
                           "Missing or empty refresh_token parameter", NULL, NULL, NULL);
    ts_error e;
    ts_error_clear(&e);
    char hash[TS_STORE_HASH_LEN + 1], prefix[TS_STORE_PREFIX_LEN + 1];
    char refresh[TS_STORE_TOKEN_LEN + 1], rhash[TS_STORE_HASH_LEN + 1];
    if (ts_store_token_hash(tok, tlen, hash, &e) != TS_OK ||
        ts_store_token_generate(refresh, &e) != TS_OK ||
        ts_store_token_hash(refresh, TS_STORE_TOKEN_LEN, rhash, &e) != TS_OK)
        return store_failure(s, conn, rq, path, TS_EINTERNAL, &e);
    ts_store_hash_prefix(hash, prefix);
    int64_t now = (int64_t)time(NULL);
    ts_store_rotate_result res;
    ts_status st = ts_store_refresh_rotate(s->store, hash, rhash, rq->peer, now, &res, &e);
    if (st != TS_OK) {
        OPENSSL_cleanse(refresh, sizeof refresh);
        return store_failure(s, conn, rq, path, st, &e);
    }
    enum MHD_Result r;
    if (res.outcome == TS_STORE_ROTATE_OK) {
        r = grant_success(s, conn, rq, path, &res.family, refresh, false, now, prefix,
                          "refresh_token_rotated");
    } else {
        json_t *f = json_object();
        const char *ev = "refresh_token_not_found";
        if (res.outcome == TS_STORE_ROTATE_REUSE_DETECTED)
            ev = "refresh_token_family_revoked";
        else if (res.outcome == TS_STORE_ROTATE_REVOKED)
            ev = "refresh_token_family_already_revoked";
        else if (res.outcome == TS_STORE_ROTATE_EXPIRED)
            ev = "refresh_token_expired";
        json_object_set_new(f, "audit_event", json_string(ev));
        json_object_set_new(f, "token_hash_prefix", json_string(prefix));
        if (res.outcome != TS_STORE_ROTATE_NOT_FOUND)
            json_object_set_new(f, "family_id", json_string(res.family.id));
        r = oauth_error(s, conn, rq, path, 400, "invalid_grant", MSG_BAD_REFRESH, f, NULL, NULL);
    }
    OPENSSL_cleanse(refresh, sizeof refresh);
    return r;
}

static enum MHD_Result count_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    (void)kind;
    (void)key;
    (void)value;
    (*(unsigned *)cls)++;
    return MHD_YES;
}

static bool form_content_type(const char *ct)
{
    static const char want[] = "application/x-www-form-urlencoded";
    if (!ct || strncasecmp(ct, want, sizeof want - 1) != 0)
        return false;
    char c = ct[sizeof want - 1];
    return c == '\0' || c == ';' || c == ' ' || c == '\t';
}

static enum MHD_Result token_endpoint(ts_svc *s, struct MHD_Connection *conn, req *rq,
                                      const char *path)
{
    unsigned nargs = 0;
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, count_arg, &nargs);
    if (nargs > 0 || strchr(path, '?'))
        return oauth_error(s, conn, rq, path, 400, "invalid_request",
                           "Parameters must be sent in the request body, not in the URL query",
                           NULL, NULL, NULL);
    if (rq->too_big) {
        char d[96];
        snprintf(d, sizeof d, "Request body exceeds %u bytes", s->cfg.max_body_bytes);
        return oauth_error(s, conn, rq, path, 413, "invalid_request", d, NULL, NULL, NULL);
    }
    const char *ct =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!form_content_type(ct))
        return oauth_error(s, conn, rq, path, 400, "invalid_request",
                           "Content-Type must be application/x-www-form-urlencoded", NULL, NULL,
                           NULL);
    ts_form *form = NULL;
    ts_error e;
    ts_error_clear(&e);
    if (ts_form_parse(rq->body, rq->len, &form, &e) != TS_OK) {
        char reason[sizeof e.where + sizeof e.msg + 4];
        snprintf(reason, sizeof reason, "%s: %s", e.where, e.msg);
        json_t *f = json_object();
        json_object_set_new(f, "reason", json_string(reason));
        return oauth_error(s, conn, rq, path, 400, "invalid_request", "Failed to parse request", f,
                           NULL, NULL);
    }
    const char *gt = ts_form_get(form, "grant_type", NULL);
    enum MHD_Result r;
    if (!gt || !*gt) {
        r = oauth_error(s, conn, rq, path, 400, "invalid_request", "Missing grant_type parameter",
                        NULL, NULL, NULL);
    } else if (strcmp(gt, GRANT_EXCHANGE) == 0) {
        r = grant_exchange(s, conn, rq, path, form);
    } else if (strcmp(gt, GRANT_REFRESH) == 0) {
        r = grant_refresh(s, conn, rq, path, form);
    } else {
        char d[128];
        snprintf(d, sizeof d, "Grant type '%.64s' is not supported", gt);
        r = oauth_error(s, conn, rq, path, 400, "unsupported_grant_type", d, NULL, NULL, NULL);
    }
    ts_form_free(form);
    return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Other routes                                                                               */

static enum MHD_Result health(ts_svc *s, struct MHD_Connection *conn, req *rq, const char *method,
                              const char *path)
{
    ts_error e;
    ts_error_clear(&e);
    ts_status st = ts_store_check(s->store, false, &e);
    const ts_jwk *k = ts_svc_keyring_active(s->keys);
    json_t *doc = json_object();
    bool ok = st == TS_OK && k != NULL;
    json_object_set_new(doc, "status", json_string(ok ? "healthy" : "unhealthy"));
    json_object_set_new(doc, "service", json_string("tokensmith"));
    json_object_set_new(doc, "issuer", json_string(s->cfg.issuer));
    json_object_set_new(doc, "cluster_id", json_string(s->cfg.cluster_id));
    json_object_set_new(doc, "openchami_id", json_string(s->cfg.openchami_id));
    json_object_set_new(doc, "key", json_string(k ? ts_jwk_kid(k) : "missing"));
    json_object_set_new(doc, "store", json_string(st == TS_OK ? "ok" : e.msg));
    return send_json(s, conn, rq, method, path, ok ? 200 : 503, doc, "no-store", NULL);
}

static enum MHD_Result method_not_allowed(ts_svc *s, struct MHD_Connection *conn, req *rq,
                                          const char *method, const char *path, const char *allow)
{
    json_t *doc = json_object();
    json_object_set_new(doc, "error", json_string("invalid_request"));
    json_object_set_new(doc, "error_description", json_string("Method not allowed"));
    char *body = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (!body)
        return MHD_NO;
    enum MHD_Result r = respond(s, conn, rq, method, path, 405, "application/json", body,
                                "no-store", NULL, MHD_HTTP_HEADER_ALLOW, allow);
    free(body);
    return r;
}

static bool is_get(const char *m)
{
    return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
}

static enum MHD_Result route(ts_svc *s, struct MHD_Connection *conn, req *rq, const char *url,
                             const char *method)
{
    char path[256];
    size_t l = strnlen(url, sizeof path);
    if (l >= sizeof path)
        l = sizeof path - 1;
    memcpy(path, url, l);
    path[l] = '\0';
    while (l > 1 && path[l - 1] == '/')
        path[--l] = '\0';
    if (strcmp(path, "/oauth/token") == 0 || strcmp(path, "/token") == 0) {
        if (strcmp(method, "POST") != 0)
            return method_not_allowed(s, conn, rq, method, path, "POST");
        return token_endpoint(s, conn, rq, path);
    }
    if (strcmp(path, "/health") == 0) {
        if (!is_get(method))
            return method_not_allowed(s, conn, rq, method, path, "GET, HEAD");
        return health(s, conn, rq, method, path);
    }
    if (strcmp(path, "/.well-known/jwks.json") == 0) {
        if (!is_get(method))
            return method_not_allowed(s, conn, rq, method, path, "GET, HEAD");
        return respond(s, conn, rq, method, path, 200, "application/json",
                       ts_svc_keyring_jwks_json(s->keys), "public, max-age=300", NULL, NULL, NULL);
    }
    if (strcmp(path, "/.well-known/openid-configuration") == 0 ||
        strcmp(path, "/.well-known/oauth-authorization-server") == 0) {
        if (!is_get(method))
            return method_not_allowed(s, conn, rq, method, path, "GET, HEAD");
        return respond(s, conn, rq, method, path, 200, "application/json", s->metadata,
                       "public, max-age=3600", NULL, NULL, NULL);
    }
    json_t *doc = json_object();
    json_object_set_new(doc, "error", json_string("not_found"));
    json_object_set_new(doc, "error_description", json_string("No such endpoint"));
    return send_json(s, conn, rq, method, path, 404, doc, "no-store", NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    (void)version;
    ts_svc *s = cls;
    req *rq = *req_cls;
    if (!rq) {
        rq = calloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO;
        clock_gettime(CLOCK_MONOTONIC, &rq->start);
        request_id(conn, rq->id);
        peer_address(conn, rq->peer, sizeof rq->peer);
        *req_cls = rq;
        /* Refuse an announced oversized body before reading it. */
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > s->cfg.max_body_bytes) {
            rq->too_big = true;
            if (strcmp(method, "POST") == 0)
                return route(s, conn, rq, url, method);
        }
        return MHD_YES;
    }
    if (rq->answered) {
        *upload_data_size = 0; /* discard the rest of a refused body */
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        if (!rq->too_big && rq->len + n <= s->cfg.max_body_bytes) {
            if (!rq->body) {
                rq->body = malloc(s->cfg.max_body_bytes);
                if (!rq->body)
                    return MHD_NO;
            }
            memcpy(rq->body + rq->len, upload_data, n);
            rq->len += n;
        } else {
            rq->too_big = true;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    return route(s, conn, rq, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    req *rq = *req_cls;
    if (!rq)
        return;
    if (rq->body) {
        OPENSSL_cleanse(rq->body, rq->len);
        free(rq->body);
    }
    free(rq);
    *req_cls = NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Life cycle                                                                                 */

static ts_status parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *sl,
                              ts_error *err)
{
    char host[TS_SVC_STR];
    const char *port;
    if (listen[0] == '[') {
        const char *rb = strchr(listen, ']');
        if (!rb || rb[1] != ':')
            return ts_error_set(err, TS_EINVAL, "listen", "'%s' is not [ADDR]:PORT", listen);
        snprintf(host, sizeof host, "%.*s", (int)(rb - listen - 1), listen + 1);
        port = rb + 2;
    } else {
        const char *colon = strrchr(listen, ':');
        if (!colon)
            return ts_error_set(err, TS_EINVAL, "listen", "'%s' is not HOST:PORT", listen);
        snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
        port = colon + 1;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (rc != 0 || !res)
        return ts_error_set(err, TS_EINVAL, "listen", "'%s': %s", listen, gai_strerror(rc));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sl = res->ai_addrlen;
    freeaddrinfo(res);
    return TS_OK;
}

static ts_status mkdir_parent(const char *path, ts_error *err)
{
    char dir[TS_SVC_PATH];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return TS_OK;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            return ts_error_set(err, TS_EIO, dir, "cannot create directory: %s", strerror(errno));
        *p = '/';
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return ts_error_set(err, TS_EIO, dir, "cannot create directory: %s", strerror(errno));
    return TS_OK;
}

static char *build_metadata(const ts_svc_config *c, const char *alg)
{
    char base[TS_SVC_STR];
    snprintf(base, sizeof base, "%s", c->issuer);
    size_t l = strlen(base);
    while (l && base[l - 1] == '/')
        base[--l] = '\0';
    char url[TS_SVC_STR + 64];
    json_t *d = json_object();
    json_object_set_new(d, "issuer", json_string(c->issuer));
    snprintf(url, sizeof url, "%s/oauth/token", base);
    json_object_set_new(d, "token_endpoint", json_string(url));
    snprintf(url, sizeof url, "%s/.well-known/jwks.json", base);
    json_object_set_new(d, "jwks_uri", json_string(url));
    json_t *g = json_array();
    json_array_append_new(g, json_string(GRANT_EXCHANGE));
    json_array_append_new(g, json_string(GRANT_REFRESH));
    json_object_set_new(d, "grant_types_supported", g);
    json_object_set_new(d, "response_types_supported", json_array());
    json_t *am = json_array();
    json_array_append_new(am, json_string("none"));
    json_object_set_new(d, "token_endpoint_auth_methods_supported", am);
    json_t *sa = json_array();
    json_array_append_new(sa, json_string(alg));
    json_object_set_new(d, "token_endpoint_auth_signing_alg_values_supported", sa);
    json_t *tt = json_array();
    json_array_append_new(tt, json_string(TT_BOOTSTRAP));
    json_object_set_new(d, "subject_token_types_supported", tt);
    char *out = json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(d);
    return out;
}

ts_svc *ts_svc_start(const ts_svc_config *c, ts_error *err)
{
    ts_svc *s = calloc(1, sizeof *s);
    if (!s) {
        ts_error_set(err, TS_ENOMEM, "serve", "out of memory");
        return NULL;
    }
    s->cfg = *c;
    s->text_logs = strcmp(c->log_format, "text") == 0;
    ts_jws_alg want =
        c->algorithm[0] ? ts_jws_alg_parse(c->algorithm, strlen(c->algorithm)) : TS_JWS_ALG_UNKNOWN;
    if (!c->key_file[0] && mkdir_parent(c->key_dir, err) != TS_OK)
        goto fail;
    s->keys = ts_svc_keyring_open(c->key_file, c->key_dir, want, err);
    if (!s->keys)
        goto fail;
    if (mkdir_parent(c->store, err) != TS_OK)
        goto fail;
    ts_store_options so = TS_STORE_OPTIONS_INIT;
    so.path = c->store;
    so.max_connections = c->threads + 1 > 64 ? 64 : c->threads + 1;
    so.redeem_retry_grace_s = c->redeem_retry_grace_s;
    s->store = ts_store_new(&so, err);
    if (!s->store)
        goto fail;
    ts_store_limiter_options lo = TS_STORE_LIMITER_OPTIONS_INIT;
    s->limiter = ts_store_limiter_new(&lo, err);
    if (!s->limiter)
        goto fail;
    s->metadata = build_metadata(c, ts_jws_alg_name(ts_svc_keyring_alg(s->keys)));
    if (!s->metadata) {
        ts_error_set(err, TS_ENOMEM, "serve", "out of memory");
        goto fail;
    }
    struct sockaddr_storage ss;
    socklen_t sl;
    if (parse_listen(c->listen, &ss, &sl, err) != TS_OK)
        goto fail;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ITC;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)c->threads, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)c->connection_timeout_s, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)c->max_connections, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)c->max_header_bytes, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1, MHD_OPTION_END);
    if (!s->mhd) {
        ts_error_set(err, TS_EIO, "listen", "cannot listen on %s: %s", c->listen,
                     errno ? strerror(errno) : "libmicrohttpd refused the options");
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : 0;
    json_t *f = json_object();
    json_object_set_new(f, "listen", json_string(c->listen));
    json_object_set_new(f, "port", json_integer(s->port));
    json_object_set_new(f, "issuer", json_string(c->issuer));
    json_object_set_new(f, "kid", json_string(ts_jwk_kid(ts_svc_keyring_active(s->keys))));
    json_object_set_new(f, "alg", json_string(ts_jws_alg_name(ts_svc_keyring_alg(s->keys))));
    json_object_set_new(f, "keys_published",
                        json_integer((json_int_t)ts_svc_keyring_count(s->keys)));
    json_object_set_new(f, "key_path", json_string(ts_svc_keyring_active_path(s->keys)));
    json_object_set_new(f, "store", json_string(c->store));
    json_object_set_new(f, "threads", json_integer(c->threads));
    log_event(s, "info", "listening", f);
    return s;
fail:
    ts_svc_free(s);
    return NULL;
}

uint16_t ts_svc_port(const ts_svc *s)
{
    return s ? s->port : 0;
}

static void collect(ts_svc *s)
{
    ts_store_gc_counts n;
    ts_error e;
    ts_error_clear(&e);
    if (ts_store_collect_expired(s->store, (int64_t)time(NULL), &n, &e) != TS_OK) {
        json_t *f = json_object();
        json_object_set_new(f, "reason", json_string(e.msg));
        log_event(s, "warn", "store collection failed", f);
        return;
    }
    if (n.bootstrap_tokens || n.families || n.audit_records) {
        json_t *f = json_object();
        json_object_set_new(f, "bootstrap_tokens", json_integer((json_int_t)n.bootstrap_tokens));
        json_object_set_new(f, "families", json_integer((json_int_t)n.families));
        json_object_set_new(f, "audit_records", json_integer((json_int_t)n.audit_records));
        log_event(s, "info", "expired records collected", f);
    }
}

void ts_svc_run(ts_svc *s)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    collect(s);
    int sig;
    for (;;) {
        struct timespec t = {60, 0};
        sig = sigtimedwait(&set, NULL, &t);
        if (sig == SIGTERM || sig == SIGINT)
            break;
        if (sig < 0 && errno == EAGAIN)
            collect(s);
    }
    json_t *f = json_object();
    json_object_set_new(f, "signal", json_string(sig == SIGTERM ? "SIGTERM" : "SIGINT"));
    log_event(s, "info", "shutting down", f);
    /* Stop accepting; let requests in flight finish, for at most 10 s. */
    MHD_socket ls = MHD_quiesce_daemon(s->mhd);
    for (int i = 0; i < 200; i++) {
        const union MHD_DaemonInfo *di =
            MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        if (!di || di->num_connections == 0)
            break;
        struct timespec d = {0, 50 * 1000 * 1000};
        nanosleep(&d, NULL);
    }
    MHD_stop_daemon(s->mhd);
    s->mhd = NULL;
    if (ls != MHD_INVALID_SOCKET)
        close(ls);
    log_event(s, "info", "stopped", NULL);
}

void ts_svc_free(ts_svc *s)
{
    if (!s)
        return;
    if (s->mhd)
        MHD_stop_daemon(s->mhd);
    ts_store_limiter_free(s->limiter);
    ts_store_free(s->store);
    ts_svc_keyring_free(s->keys);
    free(s->metadata);
    free(s);
}
