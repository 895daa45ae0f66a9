/* POST /oauth/introspect (RFC 7662), for registered clients with "introspect": true. An active
 * answer is an access token of ours whose signature verifies, that is within nbf..exp and that
 * the store does not hold revoked: its claims, with active, token_type and the client it was
 * issued to; or a refresh token that is its live family's current one, asked about by the
 * client the family was issued to. Everything else — unknown, expired, revoked, rotated away,
 * another client's refresh token, a caller without the permission — is {"active":false} and
 * nothing more, so that the answer tells nothing. */
#define _GNU_SOURCE

#include "svc_internal.h"

#include <string.h>
#include <time.h>

static enum MHD_Result inactive(ts_svc *s, mhd_conn *conn, req *rq, const char *path, json_t *f,
                                const char *why)
{
    json_object_set_new(f, "introspection", json_string(why));
    json_t *doc = json_object();
    json_object_set_new(doc, "active", json_false());
    return ts_svc__send_json(s, conn, rq, "POST", path, 200, doc, "no-store", f);
}

/* Whether the store says @p jti is revoked (by itself, its family or its subject). */
static ts_status is_revoked(ts_svc *s, const char *jti, int64_t now, bool *revoked,
                            ts_svc_client *issued_to, ts_error *e)
{
    ts_status st = ts_store_jti_revoked(s->store, jti, now, revoked, e);
    if (st != TS_OK || *revoked)
        return st;
    ts_store_issued_record rec;
    st = ts_store_issued_get(s->store, jti, &rec, e);
    if (st == TS_ENOTFOUND) /* issued before the store recorded tokens */
        return TS_OK;
    if (st != TS_OK)
        return st;
    *revoked = rec.revoked_at != 0;
    snprintf(issued_to->id, sizeof issued_to->id, "%.128s", rec.client_id);
    return TS_OK;
}

static enum MHD_Result introspect_access(ts_svc *s, mhd_conn *conn, req *rq, const char *path,
                                         const char *tok, size_t tlen, json_t *f)
{
    json_t *claims = ts_svc__own_token(s, tok, tlen);
    if (!claims)
        return inactive(s, conn, rq, path, f, "unknown");
    const char *jti = json_string_value(json_object_get(claims, "jti"));
    json_object_set_new(f, "jti", json_string(jti));
    int64_t now = (int64_t)time(NULL);
    int64_t exp = (int64_t)json_integer_value(json_object_get(claims, "exp"));
    json_t *nbf = json_object_get(claims, "nbf");
    if (exp <= now || (json_is_integer(nbf) && json_integer_value(nbf) > now)) {
        json_decref(claims);
        return inactive(s, conn, rq, path, f, "expired");
    }
    bool revoked = false;
    ts_svc_client issued_to;
    memset(&issued_to, 0, sizeof issued_to);
    ts_error e;
    ts_error_clear(&e);
    ts_status st = is_revoked(s, jti, now, &revoked, &issued_to, &e);
    if (st != TS_OK) {
        json_decref(claims);
        json_decref(f);
        return ts_svc__store_failure(s, conn, rq, path, st, &e);
    }
    if (revoked) {
        json_decref(claims);
        return inactive(s, conn, rq, path, f, "revoked");
    }
    json_object_set_new(f, "introspection", json_string("active"));
    /* The token's own claims (scope, sub, aud, iss, exp, iat, nbf, jti and this service's
     * claims), with the members RFC 7662 adds. */
    json_t *doc = json_object();
    json_object_set_new(doc, "active", json_true());
    json_object_update(doc, claims);
    json_object_set_new(doc, "active", json_true());
    json_object_set_new(doc, "token_type", json_string("Bearer"));
    if (issued_to.id[0])
        json_object_set_new(doc, "client_id", json_string(issued_to.id));
    json_decref(claims);
    return ts_svc__send_json(s, conn, rq, "POST", path, 200, doc, "no-store", f);
}

/* A refresh token, looked up by its hash without rotating it. Only the client the family was
 * issued to learns anything (a public family has no such client, so its tokens are inactive
 * here): refresh tokens are that client's secret, and another client holding one has no
 * business with it (RFC 7662 §4). A rotated-away token is inactive, as the token endpoint
 * would refuse it; the lookup changes nothing, so introspecting it does not revoke its family. */
static enum MHD_Result introspect_refresh(ts_svc *s, mhd_conn *conn, req *rq, const char *path,
                                          const char *tok, size_t tlen, const ts_svc_client *who,
                                          json_t *f)
{
    ts_error e;
    ts_error_clear(&e);
    char hash[TS_STORE_HASH_LEN + 1], prefix[TS_STORE_PREFIX_LEN + 1];
    if (ts_store_token_hash(tok, tlen, hash, &e) != TS_OK)
        return inactive(s, conn, rq, path, f, "unknown"); /* not of our shape */
    ts_store_hash_prefix(hash, prefix);
    json_object_set_new(f, "token_hash_prefix", json_string(prefix));
    ts_store_family fam;
    bool current = false;
    ts_status st = ts_store_refresh_get(s->store, hash, &fam, &current, &e);
    if (st == TS_ENOTFOUND)
        return inactive(s, conn, rq, path, f, "unknown");
    if (st != TS_OK) {
        json_decref(f);
        return ts_svc__store_failure(s, conn, rq, path, st, &e);
    }
    json_object_set_new(f, "family_id", json_string(fam.id));
    int64_t now = (int64_t)time(NULL);
    if (!fam.client_id[0] || strcmp(fam.client_id, who->id) != 0)
        return inactive(s, conn, rq, path, f, "other_client");
    if (fam.revoked_at != 0)
        return inactive(s, conn, rq, path, f, "revoked");
    if (fam.expires_at <= now)
        return inactive(s, conn, rq, path, f, "expired");
    if (!current)
        return inactive(s, conn, rq, path, f, "rotated");
    json_object_set_new(f, "introspection", json_string("active"));
    json_t *doc = json_object();
    json_object_set_new(doc, "active", json_true());
    json_object_set_new(doc, "token_type", json_string("refresh_token"));
    json_object_set_new(doc, "client_id", json_string(fam.client_id));
    json_object_set_new(doc, "sub", json_string(fam.subject));
    json_object_set_new(doc, "aud", json_string(fam.audience));
    if (fam.scope[0])
        json_object_set_new(doc, "scope", json_string(fam.scope));
    json_object_set_new(doc, "exp", json_integer((json_int_t)fam.expires_at));
    /* The current token was issued by the family's last rotation, or with the family. */
    int64_t iat = fam.last_used_at != 0 ? fam.last_used_at : fam.issued_at;
    json_object_set_new(doc, "iat", json_integer((json_int_t)iat));
    return ts_svc__send_json(s, conn, rq, "POST", path, 200, doc, "no-store", f);
}

enum MHD_Result ts_svc__introspect_endpoint(ts_svc *s, mhd_conn *conn, req *rq, const char *path)
{
    enum MHD_Result r;
    ts_svc_client who;
    ts_svc_auth a;
    ts_form *form = ts_svc__client_request(s, conn, rq, path, &who, &a, &r);
    if (!form)
        return r;
    if (a == TS_SVC_AUTH_NONE) { /* authenticated callers only (RFC 7662 §2.1) */
        ts_form_free(form);
        json_t *f = json_object();
        json_object_set_new(f, "audit_event", json_string("client_authentication_missing"));
        return ts_svc__oauth_error(s, conn, rq, path, 401, "invalid_client",
                                   "Client authentication is required", f, "WWW-Authenticate",
                                   TS_SVC_WWW_AUTH_BASIC);
    }
    size_t tlen = 0;
    const char *tok = ts_form_get(form, "token", &tlen);
    if (ts_svc__blank(tok)) {
        ts_form_free(form);
        return ts_svc__oauth_error(s, conn, rq, path, 400, "invalid_request",
                                   "Missing or empty token parameter", NULL, NULL, NULL);
    }
    json_t *f = json_object();
    json_object_set_new(f, "client_id", json_string(who.id));
    if (!who.introspect)
        r = inactive(s, conn, rq, path, f, "not_allowed");
    else if (!memchr(tok, '.', tlen)) /* a JWS has two dots, a refresh token none */
        r = introspect_refresh(s, conn, rq, path, tok, tlen, &who, f);
    else
        r = introspect_access(s, conn, rq, path, tok, tlen, f);
    ts_form_free(form);
    return r;
}
