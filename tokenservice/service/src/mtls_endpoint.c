/* POST /service-identity/session: a workload authenticated by its TLS client certificate gets
 * an access token for the identity the certificate names (docs/mtls.md). Every session, issued
 * or refused, is one audit record in the store. */
#define _GNU_SOURCE

#include "mtls.h"
#include "svc_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#define AUTH_METHOD "tls_client_auth" /* RFC 8705 §2.1's name for PKI mutual TLS */

/* Text from a certificate (names, DNs) for the audit trail, which refuses anything that looks
 * like a secret (a run of 40 hex characters, a JWT): a SPIFFE ID ending in a hash would make
 * the record, and so the session, fail. Such text is cut before the run reaches 32 characters
 * or at "eyJ", and marked with "..."; bytes outside printable ASCII become '?'. */
static const char *audit_text(const char *in, char *out, size_t cap)
{
    size_t o = 0, run = 0;
    for (const char *p = in; *p && o + 4 < cap; p++) {
        char c = *p;
        bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        run = hex ? run + 1 : 0;
        if (run >= 32 || strncmp(p, "eyJ", 3) == 0) {
            memcpy(out + o, "...", 4);
            return out;
        }
        /* ASCII only: the store takes valid UTF-8, and a DN may hold anything */
        out[o++] = (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    out[o] = '\0';
    return out;
}

/* The audit detail of a session: what the certificate was, never anything secret. */
static json_t *detail_of(const ts_svc_mtls_session *ms)
{
    char buf[TS_SVC_MTLS_MAX_ID + 8];
    json_t *d = json_object();
    json_object_set_new(d, "reason", json_string(ts_svc_mtls_outcome_name(ms->outcome)));
    if (ms->kind) {
        json_object_set_new(d, "identity", json_string(audit_text(ms->identity, buf, sizeof buf)));
        json_object_set_new(d, "identity_kind", json_string(ms->kind));
    }
    if (ms->serial[0])
        json_object_set_new(d, "serial", json_string(ms->serial));
    if (ms->issuer[0])
        json_object_set_new(d, "issuer_dn", json_string(audit_text(ms->issuer, buf, sizeof buf)));
    if (ms->x5t[0])
        json_object_set_new(d, "x5t#S256", json_string(ms->x5t));
    if (ms->rule)
        json_object_set_new(d, "rule", json_integer((json_int_t)ms->rule->index));
    return d;
}

static char *detail_text(const ts_svc_mtls_session *ms, json_t *more)
{
    json_t *d = detail_of(ms);
    if (more)
        json_object_update(d, more);
    char *t = json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(d);
    return t;
}

/* A refusal: counted by the limiter, audited, answered with an RFC 6749 §5.2 error. A client
 * whose certificate does not authenticate it is invalid_client; one that authenticates but
 * that no rule maps is unauthorized_client. Both are 400: there is no HTTP authentication
 * scheme to name in a 401's WWW-Authenticate. */
static enum MHD_Result refuse(ts_svc *s, mhd_conn *conn, req *rq, const char *path, const char *key,
                              const ts_svc_mtls_session *ms, int64_t now)
{
    unsigned fails = ts_store_limiter_fail(s->limiter, key, strlen(key), ts_svc__mono_ms());
    char *detail = detail_text(ms, NULL);
    char who[TS_SVC_MTLS_MAX_ID + 8];
    const char *subject = ms->kind ? audit_text(ms->identity, who, sizeof who) : NULL;
    ts_store_audit_entry ae = {0,        now,   "service_identity_refused", subject, NULL, NULL,
                               rq->peer, detail};
    ts_error e;
    ts_error_clear(&e);
    ts_status st = detail ? ts_store_audit_append(s->store, &ae, &e)
                          : ts_error_set(&e, TS_ENOMEM, "audit", "out of memory");
    free(detail);
    if (st != TS_OK) /* no session goes unaudited: fail closed, as the grants do */
        return ts_svc__store_failure(s, conn, rq, path, st, &e);
    bool mapped_only = ms->outcome == TS_SVC_MTLS_UNMAPPED;
    const char *desc;
    switch (ms->outcome) {
    case TS_SVC_MTLS_NO_CERTIFICATE:
        desc = "A TLS client certificate is required";
        break;
    case TS_SVC_MTLS_EXPIRED:
        desc = "The client certificate has expired";
        break;
    case TS_SVC_MTLS_NOT_YET_VALID:
        desc = "The client certificate is not valid yet";
        break;
    case TS_SVC_MTLS_REVOKED:
        desc = "The client certificate has been revoked";
        break;
    case TS_SVC_MTLS_WRONG_USAGE:
        desc = "The client certificate is not for TLS client authentication";
        break;
    case TS_SVC_MTLS_NO_IDENTITY:
        desc = "The client certificate names no URI or DNS identity";
        break;
    case TS_SVC_MTLS_UNMAPPED:
        desc = "No service identity rule maps this certificate's identity";
        break;
    default:
        desc = "The client certificate is not issued by a trusted CA";
        break;
    }
    json_t *f = json_object();
    json_object_set_new(f, "audit_event", json_string("service_identity_refused"));
    json_object_set_new(f, "reason", json_string(ts_svc_mtls_outcome_name(ms->outcome)));
    if (ms->kind)
        json_object_set_new(f, "identity", json_string(ms->identity));
    if (ms->serial[0])
        json_object_set_new(f, "serial", json_string(ms->serial));
    json_object_set_new(f, "client", json_string(key));
    json_object_set_new(f, "failures", json_integer(fails));
    return ts_svc__oauth_error(s, conn, rq, path, 400,
                               mapped_only ? "unauthorized_client" : "invalid_client", desc, f,
                               NULL, NULL);
}

/* The token's further claims: roles, the identity it was issued for, and with
 * serviceIdentityBindCertificate the RFC 8705 confirmation. */
static char *extra_claims(const ts_svc *s, const ts_svc_mtls_session *ms)
{
    json_t *x = json_object();
    json_object_set_new(x, "roles", json_loads(ms->rule->roles, 0, NULL));
    json_object_set_new(x, "service_identity", json_string(ms->identity));
    if (s->cfg.service_identity_bind)
        json_object_set_new(x, "cnf", json_pack("{s:s}", "x5t#S256", ms->x5t));
    char *t = json_dumps(x, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(x);
    return t;
}

static enum MHD_Result issue(ts_svc *s, mhd_conn *conn, req *rq, const char *path,
                             const ts_svc_mtls_session *ms, int64_t now)
{
    const ts_svc_mtls_rule *r = ms->rule;
    const char *subject = r->subject ? r->subject : ms->identity;
    char *extra = extra_claims(s, ms);
    ts_error e;
    ts_error_clear(&e);
    char session[TS_SVC_JTI_LEN + 1];
    if (!extra || ts_svc_new_jti(session, &e) != TS_OK) {
        free(extra);
        return ts_svc__oauth_error(s, conn, rq, path, 500, "server_error", TS_SVC_MSG_INTERNAL,
                                   NULL, NULL, NULL);
    }
    ts_svc_mint_args ma = {
        .subject = subject,
        .scope = r->scope,
        .session_id = session,
        .session_end = now + s->cfg.access_ttl_s,
        .auth_method = AUTH_METHOD,
        .auth_event = "service_identity_session",
        .now = now,
        .audiences = (const char *const *)r->audience,
        .n_audiences = r->n_audience,
        .extra_claims = extra,
        .principal_type = "service",
    };
    char *jwt = NULL;
    char jti[TS_SVC_JTI_LEN + 1];
    ts_status st = ts_svc_mint(&s->cfg, s->keys, &ma, &jwt, jti, &e);
    free(extra);
    if (st != TS_OK) {
        json_t *f = json_object();
        json_object_set_new(f, "reason", json_string(e.msg));
        return ts_svc__oauth_error(s, conn, rq, path, 500, "server_error", TS_SVC_MSG_INTERNAL, f,
                                   NULL, NULL);
    }
    /* The token's record and its audit record are one commit, before the token leaves:
     * revoking the subject finds it, and no token exists without its record. */
    char who[TS_SVC_MTLS_MAX_ID + 8];
    json_t *more = json_object();
    json_object_set_new(more, "subject_mapped", json_string(audit_text(subject, who, sizeof who)));
    json_object_set_new(more, "scope", json_string(r->scope));
    json_object_set_new(more, "bound", json_boolean(s->cfg.service_identity_bind));
    char *detail = detail_text(ms, more);
    json_decref(more);
    ts_store_audit_entry ae = {0, now, "service_identity_issued", who, jti, NULL, rq->peer, detail};
    ts_store_issued it = {
        .jti = jti,
        .subject = subject,
        .family_id = NULL,
        .client_id = NULL,
        .issued_at = now,
        .expires_at = now + s->cfg.access_ttl_s,
    };
    st = detail ? ts_store_token_issued(s->store, &it, &ae, &e)
                : ts_error_set(&e, TS_ENOMEM, "audit", "out of memory");
    free(detail);
    if (st != TS_OK) {
        OPENSSL_cleanse(jwt, strlen(jwt));
        ts_free(jwt);
        return ts_svc__store_failure(s, conn, rq, path, st, &e);
    }
    json_t *doc = json_object();
    json_object_set_new(doc, "access_token", json_string(jwt));
    json_object_set_new(doc, "token_type", json_string("Bearer"));
    json_object_set_new(doc, "expires_in", json_integer(s->cfg.access_ttl_s));
    if (r->scope[0])
        json_object_set_new(doc, "scope", json_string(r->scope));
    OPENSSL_cleanse(jwt, strlen(jwt));
    ts_free(jwt);
    json_t *f = json_object();
    json_object_set_new(f, "audit_event", json_string("service_identity_issued"));
    json_object_set_new(f, "subject", json_string(subject));
    json_object_set_new(f, "identity", json_string(ms->identity));
    json_object_set_new(f, "serial", json_string(ms->serial));
    json_object_set_new(f, "jti", json_string(jti));
    json_object_set_new(f, "kid", json_string(ts_jwk_kid(ts_svc_keyring_active(s->keys))));
    return ts_svc__send_json(s, conn, rq, "POST", path, 200, doc, "no-store", f);
}

enum MHD_Result ts_svc__service_identity_endpoint(ts_svc *s, mhd_conn *conn, req *rq,
                                                  const char *path)
{
    char key[TS_STORE_MAX_PEER_LEN + 1];
    ts_svc__client_key(s, conn, rq, key, sizeof key);
    char retry[24];
    if (ts_svc__limited(s, key, retry))
        return ts_svc__oauth_error(s, conn, rq, path, 429, "too_many_requests",
                                   "Too many refused sessions from this address", NULL,
                                   "Retry-After", retry);
    if (rq->too_big) {
        char d[96];
        snprintf(d, sizeof d, "Request body exceeds %u bytes", s->cfg.max_body_bytes);
        return ts_svc__oauth_error(s, conn, rq, path, 413, "invalid_request", d, NULL, NULL, NULL);
    }
    /* The certificate chain the client sent in this connection's handshake (none on a plain
     * listener or when the client sent none). */
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    gnutls_session_t gs = ci ? (gnutls_session_t)ci->tls_session : NULL;
    unsigned n = 0;
    const gnutls_datum_t *peers = gs ? gnutls_certificate_get_peers(gs, &n) : NULL;
    ts_svc_mtls_session ms;
    ts_svc_mtls_check(s->mtls, peers, n, &ms);
    int64_t now = (int64_t)time(NULL);
    if (ms.outcome != TS_SVC_MTLS_OK)
        return refuse(s, conn, rq, path, key, &ms, now);
    return issue(s, conn, rq, path, &ms, now);
}
