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
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <tokensmith/authz_http.h>
#include <tokensmith/oidc.h>
#include <tokensmith/store.h>

#include "admin.h"
#include "form.h"
#include "keys.h"
#include "jw.h"
#include "mint.h"

#define GRANT_EXCHANGE "urn:ietf:params:oauth:grant-type:token-exchange"
#define GRANT_REFRESH "refresh_token"
#define TT_BOOTSTRAP "urn:openchami:params:oauth:token-type:bootstrap-token"
#define TT_ACCESS "urn:ietf:params:oauth:token-type:access_token"
#define TT_ID_TOKEN "urn:ietf:params:oauth:token-type:id_token"

#define MSG_BAD_BOOTSTRAP "The provided token is invalid or has already been used"
#define MSG_BAD_REFRESH "The provided refresh token is invalid or has expired"
#define MSG_LIMITED "Too many failed token exchange attempts from this address"
#define MSG_INTERNAL "An internal server error occurred"
#define MSG_STORE_DOWN "The token store is unavailable; retry later"

#define REQ_ID_MAX 64

/* One provider configuration and its relying party. Requests hold a reference, so that an admin
 * change can swap it while exchanges in flight finish with the one they started with. */
typedef struct oidc_gen {
    ts_oidc_config *cfg;
    ts_oidc *rp;
    unsigned refs;
    char source[16]; /* "config" (the service configuration) or "admin" (the state file) */
} oidc_gen;

struct ts_svc {
    ts_svc_config cfg;
    pthread_mutex_t oidc_mu;  /* guards oidc (the pointer and its refs) */
    oidc_gen *oidc;           /* NULL: no upstream provider */
    pthread_mutex_t admin_mu; /* one configuration change at a time */
    struct MHD_Daemon *admin;
    bool admin_unix; /* the admin listener is a Unix socket we created */
    uint16_t admin_port;
    char oidc_state[TS_SVC_PATH + 32];
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

static void log_timestamp(char ts[40])
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(ts, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, 40 - n, ".%03ldZ", now.tv_nsec / 1000000L);
}

static void log_text(const char *ts, const char *level, const char *msg, json_t *fields)
{
    char *line = NULL;
    size_t cap = 0;
    FILE *m = open_memstream(&line, &cap);
    if (!m)
        return;
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
}

/* Log with fields given as JSON object members without the braces ("k":v,...; may be empty).
   JSON lines are written directly; the text format reads the members back. */
static void log_members(const ts_svc *s, const char *level, const char *msg, const char *members,
                        size_t mlen)
{
    char ts[40];
    log_timestamp(ts);
    if (s && s->text_logs) {
        char *obj = malloc(mlen + 3);
        if (!obj)
            return;
        obj[0] = '{';
        memcpy(obj + 1, members, mlen);
        obj[mlen + 1] = '}';
        obj[mlen + 2] = '\0';
        json_t *fields = json_loadb(obj, mlen + 2, 0, NULL);
        free(obj);
        if (!fields)
            fields = json_object();
        log_text(ts, level, msg, fields);
        json_decref(fields);
        return;
    }
    ts_svc_jw w;
    ts_svc_jw_init(&w);
    ts_svc_jw_open(&w);
    ts_svc_jw_kstr(&w, "time", ts);
    ts_svc_jw_kstr(&w, "level", level);
    ts_svc_jw_kstr(&w, "msg", msg);
    if (mlen) {
        ts_svc_jw_raw(&w, ",", 1);
        ts_svc_jw_raw(&w, members, mlen);
    }
    ts_svc_jw_close(&w);
    ts_svc_jw_raw(&w, "\n", 1);
    if (!w.oom) /* one write per line so that lines from worker threads never interleave */
        fwrite(w.ptr, 1, w.len, stderr);
    ts_svc_jw_free(&w);
}

/* The members of a JSON object as text without its braces; "" for NULL. Free with free(). */
static char *members_of(json_t *fields, size_t *len)
{
    *len = 0;
    char *t = fields
                  ? json_dumps(fields, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6))
                  : NULL;
    if (!t)
        return NULL;
    size_t n = strlen(t);
    if (n < 2) {
        free(t);
        return NULL;
    }
    memmove(t, t + 1, n - 2);
    t[n - 2] = '\0';
    *len = n - 2;
    return t;
}

static void log_event(const ts_svc *s, const char *level, const char *msg, json_t *fields)
{
    size_t mlen;
    char *m = members_of(fields, &mlen);
    json_decref(fields);
    log_members(s, level, msg, m ? m : "", mlen);
    free(m);
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

/* Answer with @p body and log the request line with @p members (JSON object members without
   braces, may be empty) after the request's own fields. */
static enum MHD_Result respond_m(ts_svc *s, struct MHD_Connection *conn, req *rq,
                                 const char *method, const char *path, unsigned status,
                                 const char *ctype, const char *body, size_t body_len,
                                 const char *cache, const char *members, size_t mlen,
                                 const char *extra_name, const char *extra_value)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(body_len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
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
    char shown[257];
    size_t pl = strnlen(path, 256);
    memcpy(shown, path, pl);
    shown[pl] = '\0';
    ts_svc_jw w;
    ts_svc_jw_init(&w);
    ts_svc_jw_kstr(&w, "request_id", rq->id);
    ts_svc_jw_kstr(&w, "method", method);
    ts_svc_jw_kstr(&w, "path", shown);
    ts_svc_jw_kint(&w, "status", status);
    ts_svc_jw_kstr(&w, "peer", rq->peer);
    ts_svc_jw_kreal(&w, "duration_ms", (double)(long)(elapsed_ms(rq) * 1000) / 1000);
    if (mlen) {
        ts_svc_jw_raw(&w, ",", 1);
        ts_svc_jw_raw(&w, members, mlen);
    }
    if (!w.oom)
        log_members(s, status >= 500 ? "error" : (status >= 400 ? "warn" : "info"), "request",
                    w.ptr, w.len);
    ts_svc_jw_free(&w);
    return ret;
}

static enum MHD_Result respond(ts_svc *s, struct MHD_Connection *conn, req *rq, const char *method,
                               const char *path, unsigned status, const char *ctype,
                               const char *body, const char *cache, json_t *log_fields,
                               const char *extra_name, const char *extra_value)
{
    size_t mlen;
    char *m = members_of(log_fields, &mlen);
    json_decref(log_fields);
    enum MHD_Result r = respond_m(s, conn, rq, method, path, status, ctype, body, strlen(body),
                                  cache, m ? m : "", mlen, extra_name, extra_value);
    free(m);
    return r;
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
    } else if (sa->sa_family == AF_UNIX) {
        snprintf(out, cap, "unix");
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
    ts_svc_mint_args ma = {
        .subject = fam->subject,
        .audience = fam->audience,
        .scope = fam->scope,
        .session_id = fam->id,
        .session_end = fam->expires_at,
        .auth_method = exchange ? "bootstrap_exchange" : "refresh_token",
        .auth_event = exchange ? "bootstrap_token_exchange" : "refresh_token_grant",
        .now = now,
        .principal_type = "service",
    };
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
    /* The token response and its log line are written directly: this runs once per grant. */
    ts_svc_jw body;
    ts_svc_jw_init(&body);
    ts_svc_jw_open(&body);
    ts_svc_jw_kstr(&body, "access_token", jwt);
    ts_svc_jw_kstr(&body, "token_type", "Bearer");
    ts_svc_jw_kint(&body, "expires_in", s->cfg.access_ttl_s);
    ts_svc_jw_kstr(&body, "refresh_token", refresh);
    int64_t rexp = fam->expires_at - now;
    ts_svc_jw_kint(&body, "refresh_expires_in", rexp > 0 ? rexp : 0);
    if (fam->scope[0])
        ts_svc_jw_kstr(&body, "scope", fam->scope);
    if (exchange)
        ts_svc_jw_kstr(&body, "issued_token_type", TT_ACCESS);
    ts_svc_jw_close(&body);
    OPENSSL_cleanse(jwt, strlen(jwt));
    ts_authn_free(jwt);
    ts_svc_jw f;
    ts_svc_jw_init(&f);
    ts_svc_jw_kstr(&f, "audit_event", event);
    ts_svc_jw_kstr(&f, "subject", fam->subject);
    ts_svc_jw_kstr(&f, "audience", fam->audience);
    ts_svc_jw_kstr(&f, "jti", jti);
    ts_svc_jw_kstr(&f, "kid", ts_jwk_kid(ts_svc_keyring_active(s->keys)));
    ts_svc_jw_kstr(&f, "family_id", fam->id);
    ts_svc_jw_kstr(&f, "token_hash_prefix", hash_prefix);
    enum MHD_Result r = MHD_NO;
    if (!body.oom && !f.oom)
        r = respond_m(s, conn, rq, "POST", path, 200, "application/json", body.ptr, body.len,
                      "no-store", f.ptr, f.len, NULL, NULL);
    ts_svc_jw_free(&body); /* wipes the tokens */
    ts_svc_jw_free(&f);
    return r;
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

/* ------------------------------------------------------------------------------------------ */
/* Upstream OpenID providers                                                                  */

static void gen_release(ts_svc *s, oidc_gen *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&s->oidc_mu);
    bool last = --g->refs == 0;
    pthread_mutex_unlock(&s->oidc_mu);
    if (last) {
        ts_oidc_free(g->rp);
        ts_oidc_config_free(g->cfg);
        free(g);
    }
}

static oidc_gen *gen_acquire(ts_svc *s)
{
    pthread_mutex_lock(&s->oidc_mu);
    oidc_gen *g = s->oidc;
    if (g)
        g->refs++;
    pthread_mutex_unlock(&s->oidc_mu);
    return g;
}

/* Install @p g (reference passed in) as the current generation. */
static void gen_install(ts_svc *s, oidc_gen *g)
{
    pthread_mutex_lock(&s->oidc_mu);
    oidc_gen *old = s->oidc;
    s->oidc = g;
    pthread_mutex_unlock(&s->oidc_mu);
    gen_release(s, old);
}

/* A provider without its own group_scopes maps groups through the service's groupScopes. */
static void fill_group_scopes(const ts_svc_config *c, json_t *providers)
{
    size_t i;
    json_t *p;
    json_array_foreach(providers, i, p)
    {
        if (!json_is_object(p) || json_object_get(p, "group_scopes"))
            continue;
        json_t *gs = json_object();
        for (unsigned g = 0; g < c->n_groups; g++) {
            json_t *list = json_array();
            const char *t = c->group_scopes[g];
            while (*t) {
                size_t l = strcspn(t, " ");
                if (l)
                    json_array_append_new(list, json_stringn(t, l));
                t += l;
                t += strspn(t, " ");
            }
            json_object_set_new(gs, c->groups[g], list);
        }
        json_object_set_new(p, "group_scopes", gs);
    }
}

/* Parse a provider configuration (the ts_oidc format) into a new generation. A configuration
 * without providers gives *out = NULL: the upstream exchange is off. */
static ts_status gen_build(const ts_svc_config *c, json_t *doc, const char *source, oidc_gen **out,
                           ts_error *err)
{
    *out = NULL;
    json_t *providers = json_object_get(doc, "providers");
    if (json_is_array(providers)) {
        if (json_array_size(providers) == 0 && json_object_size(doc) == 1)
            return TS_OK;
        fill_group_scopes(c, providers);
    }
    char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text)
        return ts_error_set(err, TS_ENOMEM, "oidc", "out of memory");
    ts_oidc_config *cfg = ts_oidc_config_parse(text, strlen(text), err);
    OPENSSL_cleanse(text, strlen(text)); /* may hold client secrets */
    free(text);
    if (!cfg)
        return err && err->code != TS_OK ? err->code : TS_EINVAL;
    ts_oidc *rp = ts_oidc_new(cfg, NULL, err);
    if (!rp) {
        ts_oidc_config_free(cfg);
        return err && err->code != TS_OK ? err->code : TS_EINTERNAL;
    }
    oidc_gen *g = calloc(1, sizeof *g);
    if (!g) {
        ts_oidc_free(rp);
        ts_oidc_config_free(cfg);
        return ts_error_set(err, TS_ENOMEM, "oidc", "out of memory");
    }
    g->cfg = cfg;
    g->rp = rp;
    g->refs = 1;
    snprintf(g->source, sizeof g->source, "%s", source);
    *out = g;
    return TS_OK;
}

static ts_status gen_build_text(const ts_svc_config *c, const char *text, size_t len,
                                const char *source, oidc_gen **out, ts_error *err)
{
    json_error_t je;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return ts_error_set(err, TS_EPARSE, source, "line %d: %s", je.line,
                            doc ? "not a JSON object" : je.text);
    }
    ts_status st = gen_build(c, doc, source, out, err);
    json_decref(doc);
    return st;
}

static void random_hex(char *out, size_t nbytes)
{
    unsigned char b[32];
    if (nbytes > sizeof b)
        nbytes = sizeof b;
    if (RAND_bytes(b, (int)nbytes) != 1)
        memset(b, 0, sizeof b);
    for (size_t i = 0; i < nbytes; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static json_t *str_array(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* The claims carried from the upstream identity into the internal token. */
static char *carried_claims(const ts_oidc_claims *cl)
{
    json_t *x = json_object();
    json_object_set_new(x, "idp", json_string(cl->issuer));
    if (cl->name)
        json_object_set_new(x, "name", json_string(cl->name));
    if (cl->email)
        json_object_set_new(x, "email", json_string(cl->email));
    if (cl->email_verified >= 0)
        json_object_set_new(x, "email_verified", json_boolean(cl->email_verified == 1));
    if (cl->n_amr)
        json_object_set_new(x, "amr", str_array(cl->amr, cl->n_amr));
    if (cl->acr)
        json_object_set_new(x, "acr", json_string(cl->acr));
    if (cl->auth_time > 0)
        json_object_set_new(x, "auth_time", json_integer(cl->auth_time));
    char *out = json_dumps(x, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(x);
    return out;
}

static char *join_scopes(char *const *v, size_t n)
{
    size_t total = 1;
    for (size_t i = 0; i < n; i++)
        total += strlen(v[i]) + 1;
    char *out = malloc(total);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(v[i]);
        if (o)
            out[o++] = ' ';
        memcpy(out + o, v[i], l);
        o += l;
    }
    out[o] = '\0';
    return out;
}

static enum MHD_Result oidc_minted(ts_svc *s, struct MHD_Connection *conn, req *rq,
                                   const char *path, const ts_oidc_claims *cl)
{
    int64_t now = (int64_t)time(NULL);
    int64_t exp = now + s->cfg.access_ttl_s;
    if (cl->exp > 0 && cl->exp < exp)
        exp = cl->exp; /* never outlive the upstream identity */
    char session[5 + 32 + 1] = "oidc-";
    random_hex(session + 5, 16);
    char *scope = join_scopes(cl->scopes, cl->n_scopes);
    char *extra = carried_claims(cl);
    if (!scope || !extra) {
        free(scope);
        free(extra);
        return oauth_error(s, conn, rq, path, 500, "server_error", MSG_INTERNAL, NULL, NULL, NULL);
    }
    ts_svc_mint_args ma = {
        .subject = cl->sub,
        .audience = cl->audiences[0],
        .audiences = (const char *const *)cl->audiences,
        .n_audiences = cl->n_audiences,
        .scope = scope,
        .session_id = session,
        .session_end = exp,
        .auth_method = "oidc_exchange",
        .auth_event = "oidc_token_exchange",
        .now = now,
        .exp = exp,
        .extra_claims = extra,
        .principal_type = "user",
    };
    char *jwt = NULL;
    char jti[TS_SVC_JTI_LEN + 1];
    ts_error e;
    ts_error_clear(&e);
    ts_status st = ts_svc_mint(&s->cfg, s->keys, &ma, &jwt, jti, &e);
    free(extra);
    if (st != TS_OK) {
        free(scope);
        json_t *f = json_object();
        json_object_set_new(f, "reason", json_string(e.msg));
        return oauth_error(s, conn, rq, path, 500, "server_error", MSG_INTERNAL, f, NULL, NULL);
    }
    /* The durable audit record comes first: no token leaves without it. */
    json_t *d = json_object();
    json_object_set_new(d, "issuer", json_string(cl->issuer));
    json_object_set_new(d, "scope", json_string(scope));
    json_object_set_new(d, "aud", str_array(cl->audiences, cl->n_audiences));
    json_object_set_new(d, "exp", json_integer(exp));
    char *detail = json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(d);
    ts_store_audit_entry ae = {0,        now,   "oidc_token_exchanged", cl->sub, jti, NULL,
                               rq->peer, detail};
    st = detail ? ts_store_audit_append(s->store, &ae, &e)
                : ts_error_set(&e, TS_ENOMEM, "audit", "out of memory");
    free(detail);
    if (st != TS_OK) {
        free(scope);
        OPENSSL_cleanse(jwt, strlen(jwt));
        ts_authn_free(jwt);
        return store_failure(s, conn, rq, path, st, &e);
    }
    json_t *doc = json_object();
    json_object_set_new(doc, "access_token", json_string(jwt));
    json_object_set_new(doc, "issued_token_type", json_string(TT_ACCESS));
    json_object_set_new(doc, "token_type", json_string("Bearer"));
    json_object_set_new(doc, "expires_in", json_integer(exp - now));
    if (*scope)
        json_object_set_new(doc, "scope", json_string(scope));
    OPENSSL_cleanse(jwt, strlen(jwt));
    ts_authn_free(jwt);
    json_t *f = json_object();
    json_object_set_new(f, "audit_event", json_string("oidc_token_exchanged"));
    json_object_set_new(f, "subject", json_string(cl->sub));
    json_object_set_new(f, "idp", json_string(cl->issuer));
    json_object_set_new(f, "scope", json_string(scope));
    json_object_set_new(f, "jti", json_string(jti));
    json_object_set_new(f, "kid", json_string(ts_jwk_kid(ts_svc_keyring_active(s->keys))));
    free(scope);
    return send_json(s, conn, rq, "POST", path, 200, doc, "no-store", f);
}

/* RFC 8693 exchange of an upstream ID token (or, through introspection, access token). */
static enum MHD_Result grant_oidc(ts_svc *s, struct MHD_Connection *conn, req *rq, const char *path,
                                  const ts_form *form, const char *stt, const char *tok,
                                  size_t tlen, const char *client)
{
    oidc_gen *g = gen_acquire(s);
    if (!g)
        return oauth_error(s, conn, rq, path, 400, "invalid_request",
                           "No upstream OpenID provider is configured", NULL, NULL, NULL);
    const char *aud = ts_form_get(form, "audience", NULL);
    const char *res = ts_form_get(form, "resource", NULL);
    ts_oidc_exchange_request xr;
    memset(&xr, 0, sizeof xr);
    xr.subject_token = tok;
    xr.subject_token_len = tlen;
    xr.subject_token_type = stt;
    xr.narrow.scope = ts_form_get(form, "scope", NULL);
    if (aud && *aud) {
        xr.narrow.audiences = &aud;
        xr.narrow.n_audiences = 1;
    }
    if (res && *res) {
        xr.narrow.resources = &res;
        xr.narrow.n_resources = 1;
    }
    ts_oidc_claims *cl = NULL;
    ts_error e;
    ts_error_clear(&e);
    ts_oidc_reason r = ts_oidc_exchange(g->rp, &xr, &cl, &e);
    enum MHD_Result ret;
    if (r == TS_OIDC_OK && cl->n_audiences == 0) {
        json_t *f = json_object();
        json_object_set_new(f, "idp", json_string(cl->issuer));
        ret = oauth_error(s, conn, rq, path, 400, "invalid_target",
                          "No audience is allowed for this provider", f, NULL, NULL);
    } else if (r == TS_OIDC_OK) {
        ret = oidc_minted(s, conn, rq, path, cl);
    } else {
        int status = 400;
        const char *code = ts_oidc_reason_oauth_error(r, &status);
        json_t *f = json_object();
        json_object_set_new(f, "reason", json_string(ts_oidc_reason_str(r)));
        char detail[sizeof e.where + sizeof e.msg + 4];
        snprintf(detail, sizeof detail, "%s: %s", e.where, e.msg);
        json_object_set_new(f, "detail", json_string(detail));
        const char *desc = "The subject token is invalid";
        if (strcmp(code, "invalid_scope") == 0)
            desc = "The requested scope exceeds what the upstream identity grants";
        else if (strcmp(code, "invalid_target") == 0)
            desc = "The requested audience or resource is not allowed";
        else if (status >= 500)
            desc = "The upstream OpenID provider is unavailable; retry later";
        if (strcmp(code, "invalid_request") == 0) {
            unsigned fails = ts_store_limiter_fail(s->limiter, client, strlen(client), mono_ms());
            json_object_set_new(f, "client", json_string(client));
            json_object_set_new(f, "failures", json_integer(fails));
        }
        ret = oauth_error(s, conn, rq, path, (unsigned)status, code, desc, f,
                          status == 503 ? "Retry-After" : NULL, status == 503 ? "5" : NULL);
    }
    ts_oidc_claims_free(cl);
    gen_release(s, g);
    return ret;
}

/* Both grants hash the presented token (never kept) and mint the next refresh token, which the
 * store learns only as a hash. */
static ts_status hash_and_mint_refresh(const char *tok, size_t tlen,
                                       char hash[TS_STORE_HASH_LEN + 1],
                                       char prefix[TS_STORE_PREFIX_LEN + 1],
                                       char refresh[TS_STORE_TOKEN_LEN + 1],
                                       char rhash[TS_STORE_HASH_LEN + 1], ts_error *e)
{
    if (ts_store_token_hash(tok, tlen, hash, e) != TS_OK ||
        ts_store_token_generate(refresh, e) != TS_OK ||
        ts_store_token_hash(refresh, TS_STORE_TOKEN_LEN, rhash, e) != TS_OK)
        return e && e->code ? e->code : TS_EINTERNAL;
    ts_store_hash_prefix(hash, prefix);
    return TS_OK;
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
    bool upstream = stt && (strcmp(stt, TT_ID_TOKEN) == 0 || strcmp(stt, TT_ACCESS) == 0);
    if (!upstream && (!stt || strcmp(stt, TT_BOOTSTRAP) != 0))
        return oauth_error(s, conn, rq, path, 400, "invalid_request",
                           "Invalid subject_token_type parameter", NULL, NULL, NULL);
    /* Parameters every token exchange checks alike, before the subject token is looked at. */
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
    if (upstream)
        return grant_oidc(s, conn, rq, path, form, stt, tok, tlen, key);

    ts_error e;
    ts_error_clear(&e);
    char hash[TS_STORE_HASH_LEN + 1], prefix[TS_STORE_PREFIX_LEN + 1];
    char refresh[TS_STORE_TOKEN_LEN + 1], rhash[TS_STORE_HASH_LEN + 1];
    if (hash_and_mint_refresh(tok, tlen, hash, prefix, refresh, rhash, &e) != TS_OK)
        return store_failure(s, conn, rq, path, TS_EINTERNAL, &e);
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
    if (hash_and_mint_refresh(tok, tlen, hash, prefix, refresh, rhash, &e) != TS_OK)
        return store_failure(s, conn, rq, path, TS_EINTERNAL, &e);
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

/* ------------------------------------------------------------------------------------------ */
/* Admin API (the admin listener only)                                                        */

static json_t *admin_state(ts_svc *s)
{
    oidc_gen *g = gen_acquire(s);
    json_t *o = json_object();
    json_object_set_new(o, "configured", json_boolean(g != NULL));
    json_object_set_new(o, "source", json_string(g ? g->source : "none"));
    json_t *prov = NULL;
    if (g) {
        char *t = ts_oidc_config_to_json(g->cfg, false, NULL);
        json_t *doc = t ? json_loads(t, 0, NULL) : NULL;
        ts_oidc_free_string(t);
        prov = json_incref(json_object_get(doc, "providers"));
        json_decref(doc);
    }
    json_object_set_new(o, "providers", prov ? prov : json_array());
    /* Break-glass minting is an offline CLI operation; the service never mints for users. */
    json_object_set_new(o, "local_user_mint_enabled", json_false());
    gen_release(s, g);
    return o;
}

static enum MHD_Result admin_error(ts_svc *s, struct MHD_Connection *conn, req *rq,
                                   const char *method, const char *path, unsigned status,
                                   const char *code, const char *desc)
{
    json_t *doc = json_object();
    json_object_set_new(doc, "error", json_string(code));
    json_object_set_new(doc, "error_description", json_string(desc));
    json_t *f = json_object();
    json_object_set_new(f, "error", json_string(code));
    return send_json(s, conn, rq, method, path, status, doc, "no-store", f);
}

static bool has_issuer(json_t *providers, const char *iss)
{
    size_t i;
    json_t *p;
    json_array_foreach(providers, i, p)
    {
        const char *v = json_string_value(json_object_get(p, "issuer"));
        if (v && strcmp(v, iss) == 0)
            return true;
    }
    return false;
}

/* POST: {"providers":[...], "dry_run":bool, "replace_existing":bool}. The listed providers are
 * added, or replace the provider with the same issuer; the others stay as they are. */
static enum MHD_Result admin_post(ts_svc *s, struct MHD_Connection *conn, req *rq, const char *path)
{
    if (rq->too_big)
        return admin_error(s, conn, rq, "POST", path, 413, "invalid_request",
                           "Request body too large");
    json_error_t je;
    json_t *body = rq->body ? json_loadb(rq->body, rq->len, JSON_REJECT_DUPLICATES, &je) : NULL;
    json_t *np = json_object_get(body, "providers");
    json_t *dr = json_object_get(body, "dry_run"), *re = json_object_get(body, "replace_existing");
    bool shape_ok = json_is_object(body) && json_is_array(np) && json_array_size(np) > 0 &&
                    (!dr || json_is_boolean(dr)) && (!re || json_is_boolean(re));
    const char *k;
    json_t *v;
    if (shape_ok)
        json_object_foreach(body, k, v)
        {
            if (strcmp(k, "providers") != 0 && strcmp(k, "dry_run") != 0 &&
                strcmp(k, "replace_existing") != 0)
                shape_ok = false;
        }
    if (!shape_ok) {
        json_decref(body);
        return admin_error(s, conn, rq, "POST", path, 400, "invalid_request",
                           "The body must be a JSON object {\"providers\":[...], \"dry_run\": "
                           "bool, \"replace_existing\": bool} with at least one provider");
    }
    bool dry = json_is_true(dr), replace = json_is_true(re);
    pthread_mutex_lock(&s->admin_mu);
    /* The current providers, secrets included: they are written back to the state file. */
    oidc_gen *cur = gen_acquire(s);
    json_t *merged = json_array();
    if (cur) {
        char *t = ts_oidc_config_to_json(cur->cfg, true, NULL);
        json_t *doc = t ? json_loads(t, 0, NULL) : NULL;
        if (t)
            OPENSSL_cleanse(t, strlen(t));
        ts_oidc_free_string(t);
        json_array_extend(merged, json_object_get(doc, "providers"));
        json_decref(doc);
    }
    gen_release(s, cur);
    json_t *issuers = json_array();
    bool replaces = false;
    size_t i;
    json_t *p;
    char conflict[512] = "";
    json_array_foreach(np, i, p)
    {
        const char *iss = json_string_value(json_object_get(p, "issuer"));
        if (!iss)
            continue; /* ts_oidc_config_parse() names the problem below */
        json_array_append_new(issuers, json_string(iss));
        if (has_issuer(merged, iss)) {
            replaces = true;
            if (!replace && !conflict[0])
                snprintf(conflict, sizeof conflict,
                         "Provider %.400s is already configured; set replace_existing", iss);
        }
    }
    enum MHD_Result ret;
    if (conflict[0]) {
        ret = admin_error(s, conn, rq, "POST", path, 409, "conflict", conflict);
        goto done;
    }
    for (size_t j = json_array_size(merged); j-- > 0;) {
        const char *iss = json_string_value(json_object_get(json_array_get(merged, j), "issuer"));
        if (iss && has_issuer(np, iss))
            json_array_remove(merged, j);
    }
    json_array_extend(merged, np);
    json_t *doc = json_object();
    json_object_set(doc, "providers", merged);
    ts_error e;
    ts_error_clear(&e);
    oidc_gen *ng = NULL;
    if (gen_build(&s->cfg, doc, "admin", &ng, &e) != TS_OK || !ng) {
        char d[sizeof e.where + sizeof e.msg + 48];
        snprintf(d, sizeof d, "Invalid provider configuration: %s: %s", e.where, e.msg);
        json_decref(doc);
        ret = admin_error(s, conn, rq, "POST", path, 400, "invalid_config", d);
        goto done;
    }
    /* Discovery and keys of every new or replaced provider, before anything changes. */
    json_array_foreach(issuers, i, p)
    {
        if (ts_oidc_discover(ng->rp, json_string_value(p), &e) != TS_OK) {
            char d[sizeof e.where + sizeof e.msg + 48];
            snprintf(d, sizeof d, "Provider validation failed: %s: %s", e.where, e.msg);
            gen_release(s, ng);
            json_decref(doc);
            ret = admin_error(s, conn, rq, "POST", path, 400, "discovery_failed", d);
            goto done;
        }
    }
    const char *status =
        dry ? (replaces ? "would_replace" : "would_create") : (replaces ? "replaced" : "created");
    if (!dry) {
        char *t = ts_oidc_config_to_json(ng->cfg, true, &e);
        ts_status st = t ? ts_svc_write_file_atomic(s->oidc_state, t, strlen(t), &e) : e.code;
        if (t)
            OPENSSL_cleanse(t, strlen(t));
        ts_oidc_free_string(t);
        json_t *d = json_object();
        json_object_set_new(d, "status", json_string(status));
        json_object_set(d, "issuers", issuers);
        char *detail = json_dumps(d, JSON_COMPACT);
        json_decref(d);
        ts_store_audit_entry ae = {
            0, (int64_t)time(NULL), "oidc_config_changed", NULL, NULL, NULL, rq->peer, detail};
        if (st == TS_OK)
            st = detail ? ts_store_audit_append(s->store, &ae, &e)
                        : ts_error_set(&e, TS_ENOMEM, "audit", "out of memory");
        free(detail);
        if (st != TS_OK) {
            char m[sizeof e.where + sizeof e.msg + 48];
            snprintf(m, sizeof m, "The change was not applied: %s: %s", e.where, e.msg);
            gen_release(s, ng);
            json_decref(doc);
            ret = admin_error(s, conn, rq, "POST", path, 503, "temporarily_unavailable", m);
            goto done;
        }
        gen_install(s, ng);
        ng = NULL;
    } else {
        gen_release(s, ng);
    }
    json_decref(doc);
    json_t *out = json_object();
    json_object_set_new(out, "status", json_string(status));
    json_object_set(out, "issuers", issuers);
    json_object_set_new(out, "oidc", admin_state(s));
    json_t *f = json_object();
    json_object_set_new(f, "audit_event",
                        json_string(dry ? "oidc_config_dry_run" : "oidc_config_changed"));
    json_object_set_new(f, "outcome", json_string(status)); /* "status" is the HTTP status */
    json_object_set(f, "issuers", issuers);
    ret = send_json(s, conn, rq, "POST", path, 200, out, "no-store", f);
done:
    pthread_mutex_unlock(&s->admin_mu);
    json_decref(issuers);
    json_decref(merged);
    json_decref(body);
    return ret;
}

static enum MHD_Result route_admin(ts_svc *s, struct MHD_Connection *conn, req *rq, const char *url,
                                   const char *method)
{
    char path[256];
    snprintf(path, sizeof path, "%s", url);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    /* The kernel's peer address decides; proxy headers are never consulted here. */
    if (!ci || !ts_svc_peer_is_local(ci->client_addr))
        return admin_error(s, conn, rq, method, path, 403, "access_denied",
                           "The admin API is local-only");
    if (strcmp(path, "/admin/oidc/config") != 0)
        return admin_error(s, conn, rq, method, path, 404, "not_found", "No such endpoint");
    if (is_get(method)) {
        json_t *doc = json_object();
        json_object_set_new(doc, "status", json_string("ok"));
        json_object_set_new(doc, "oidc", admin_state(s));
        return send_json(s, conn, rq, method, path, 200, doc, "no-store", NULL);
    }
    if (strcmp(method, "POST") == 0)
        return admin_post(s, conn, rq, path);
    return method_not_allowed(s, conn, rq, method, path, "GET, HEAD, POST");
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
    bool bad = ts_authz_url_has_bad_escape(url); /* left undecoded by the strict decoder */
    json_object_set_new(doc, "error", json_string(bad ? "invalid_request" : "not_found"));
    json_object_set_new(
        doc, "error_description",
        json_string(bad ? "Malformed percent-encoding in the URL path" : "No such endpoint"));
    return send_json(s, conn, rq, method, path, bad ? 400 : 404, doc, "no-store", NULL);
}

static enum MHD_Result dispatch(ts_svc *s, struct MHD_Connection *conn, req *rq, const char *url,
                                const char *method)
{
    const union MHD_ConnectionInfo *di = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_DAEMON);
    if (s->admin && di && di->daemon == s->admin)
        return route_admin(s, conn, rq, url, method);
    return route(s, conn, rq, url, method);
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
                return dispatch(s, conn, rq, url, method);
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
    return dispatch(s, conn, rq, url, method);
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

static char *build_metadata(const ts_svc_config *c)
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
    /* No token_endpoint_auth_signing_alg_values_supported: it describes JWT client
     * authentication (RFC 8414 §2), which this endpoint does not use. */
    json_t *tt = json_array();
    json_array_append_new(tt, json_string(TT_BOOTSTRAP));
    /* Upstream ID and access tokens are accepted by the token endpoint; until a provider is
     * configured (config file or admin API, at any time) they are answered invalid_request. */
    json_array_append_new(tt, json_string(TT_ID_TOKEN));
    json_array_append_new(tt, json_string(TT_ACCESS));
    json_object_set_new(d, "subject_token_types_supported", tt);
    char *out = json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(d);
    return out;
}

/* The providers: the state file written by the admin API wins over the configuration file, so
 * that a change made at run time survives a restart. */
static ts_status load_oidc(ts_svc *s, ts_error *err)
{
    char *text = NULL;
    size_t len = 0;
    ts_error e;
    ts_error_clear(&e);
    ts_status st = ts_svc_read_file(s->oidc_state, TS_OIDC_MAX_CONFIG_BYTES, &text, &len, &e);
    oidc_gen *g = NULL;
    const char *src = s->oidc_state;
    if (st == TS_OK) {
        st = gen_build_text(&s->cfg, text, len, "admin", &g, &e);
        OPENSSL_cleanse(text, len);
        free(text);
    } else if (st == TS_ENOTFOUND) {
        ts_error_clear(&e);
        src = "oidc";
        st = s->cfg.oidc[0]
                 ? gen_build_text(&s->cfg, s->cfg.oidc, strlen(s->cfg.oidc), "config", &g, &e)
                 : TS_OK;
    } else {
        if (err)
            *err = e;
        return st;
    }
    if (st != TS_OK)
        return ts_error_set(err, st, src, "%s: %s", e.where, e.msg);
    s->oidc = g;
    return TS_OK;
}

static ts_status start_admin(ts_svc *s, ts_error *err)
{
    const char *al = s->cfg.admin_listen;
    /* Checked again here: the admin API must never face the network. */
    if (!ts_svc_listen_is_local(al))
        return ts_error_set(err, TS_EINVAL, "adminListen", "'%s' is not local", al);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ITC;
    if (strncmp(al, "unix:", 5) == 0) {
        const char *path = al + 5;
        struct sockaddr_un un;
        memset(&un, 0, sizeof un);
        un.sun_family = AF_UNIX;
        if (strlen(path) >= sizeof un.sun_path)
            return ts_error_set(err, TS_EINVAL, "adminListen", "socket path too long");
        memcpy(un.sun_path, path, strlen(path) + 1);
        struct stat sb;
        if (lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode))
            unlink(path); /* left over from a previous run */
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return ts_error_set(err, TS_EIO, "adminListen", "socket: %s", strerror(errno));
        mode_t old = umask(0177);
        int rc = bind(fd, (struct sockaddr *)&un, (socklen_t)sizeof un);
        int e = errno;
        umask(old);
        if (rc != 0 || listen(fd, 16) != 0) {
            if (rc == 0)
                e = errno;
            close(fd);
            return ts_error_set(err, TS_EIO, "adminListen", "cannot listen on %s: %s", path,
                                strerror(e));
        }
        s->admin_unix = true;
        s->admin =
            MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET,
                             (MHD_socket)fd, MHD_OPTION_CONNECTION_TIMEOUT,
                             (unsigned int)s->cfg.connection_timeout_s, MHD_OPTION_CONNECTION_LIMIT,
                             16u, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
        if (!s->admin)
            close(fd); /* on success the daemon owns it */
    } else {
        struct sockaddr_storage ss;
        socklen_t sl;
        if (parse_listen(al, &ss, &sl, err) != TS_OK)
            return err ? err->code : TS_EINVAL;
        if (!ts_svc_peer_is_local((const struct sockaddr *)&ss))
            return ts_error_set(err, TS_EINVAL, "adminListen",
                                "'%s' resolves to a non-loopback "
                                "address",
                                al);
        if (ss.ss_family == AF_INET6)
            flags |= MHD_USE_IPv6;
        s->admin = MHD_start_daemon(
            flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)s->cfg.connection_timeout_s,
            MHD_OPTION_CONNECTION_LIMIT, 16u, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
            MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1, MHD_OPTION_END);
    }
    if (!s->admin)
        return ts_error_set(err, TS_EIO, "adminListen", "cannot listen on %s: %s", al,
                            errno ? strerror(errno) : "libmicrohttpd refused the options");
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->admin, MHD_DAEMON_INFO_BIND_PORT);
    s->admin_port = di ? di->port : 0;
    return TS_OK;
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
    pthread_mutex_init(&s->oidc_mu, NULL);
    pthread_mutex_init(&s->admin_mu, NULL);
    snprintf(s->oidc_state, sizeof s->oidc_state, "%s/%s", c->home, TS_SVC_OIDC_STATE_FILE);
    if (load_oidc(s, err) != TS_OK)
        goto fail;
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
    s->metadata = build_metadata(c);
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
        MHD_OPTION_UNESCAPE_CALLBACK, ts_authz_mhd_strict_unescape, NULL,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1, MHD_OPTION_END);
    if (!s->mhd) {
        ts_error_set(err, TS_EIO, "listen", "cannot listen on %s: %s", c->listen,
                     errno ? strerror(errno) : "libmicrohttpd refused the options");
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : 0;
    if (c->admin_listen[0] && start_admin(s, err) != TS_OK)
        goto fail;
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
    json_object_set_new(f, "oidc_providers",
                        json_integer(s->oidc ? (json_int_t)ts_oidc_config_count(s->oidc->cfg) : 0));
    if (s->admin) {
        json_object_set_new(f, "admin_listen", json_string(c->admin_listen));
        json_object_set_new(f, "admin_port", json_integer(s->admin_port));
    }
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
    if (s->admin) {
        MHD_stop_daemon(s->admin);
        s->admin = NULL;
    }
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
    if (s->admin)
        MHD_stop_daemon(s->admin);
    if (s->admin_unix)
        unlink(s->cfg.admin_listen + 5);
    if (s->mhd)
        MHD_stop_daemon(s->mhd);
    gen_install(s, NULL);
    pthread_mutex_destroy(&s->oidc_mu);
    pthread_mutex_destroy(&s->admin_mu);
    ts_store_limiter_free(s->limiter);
    ts_store_free(s->store);
    ts_svc_keyring_free(s->keys);
    free(s->metadata);
    free(s);
}
