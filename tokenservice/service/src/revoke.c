/* POST /oauth/revoke (RFC 7009). Holding a token is enough to revoke it (bootstrap-grant
 * clients are public); registered clients authenticate, and credentials that are given must be
 * right. A refresh token takes its whole family and every access token issued from it; an
 * access token of ours is revoked by jti until its exp. Unknown, expired and already revoked
 * tokens get the same empty 200 as a revocation: the endpoint is no oracle. */
#define _GNU_SOURCE

#include "svc_internal.h"

#include <string.h>
#include <time.h>

#define REVOKE_REASON "rfc7009" /* the store keeps reasons as [a-z0-9_] */

/* The 200 every outcome gets, logged with what happened (jti, family, hash prefix: never the
 * token). */
static enum MHD_Result done(ts_svc *s, mhd_conn *conn, req *rq, const char *path, json_t *f)
{
    return ts_svc__respond(s, conn, rq, "POST", path, 200, "text/plain", "", "no-store", f, NULL,
                           NULL);
}

static enum MHD_Result revoke_access(ts_svc *s, mhd_conn *conn, req *rq, const char *path,
                                     json_t *claims, const char *actor, json_t *f)
{
    const char *jti = json_string_value(json_object_get(claims, "jti"));
    int64_t exp = (int64_t)json_integer_value(json_object_get(claims, "exp"));
    int64_t now = (int64_t)time(NULL);
    json_object_set_new(f, "jti", json_string(jti));
    if (exp <= now) { /* an expired token is refused everywhere already */
        json_object_set_new(f, "audit_event", json_string("token_revoke_expired"));
        ts_svc_metrics_revocation(&s->metrics, TS_SVC_RV_EXPIRED);
        return done(s, conn, rq, path, f);
    }
    bool revoked = false;
    ts_error e;
    ts_error_clear(&e);
    ts_status st = ts_store_jti_revoke(s->store, jti, exp, REVOKE_REASON, actor, now, &revoked, &e);
    if (st != TS_OK) {
        json_decref(f);
        return ts_svc__store_failure(s, conn, rq, path, st, &e);
    }
    json_object_set_new(f, "audit_event",
                        json_string(revoked ? "token_revoked" : "token_already_revoked"));
    ts_svc_metrics_revocation(&s->metrics,
                              revoked ? TS_SVC_RV_ACCESS_REVOKED : TS_SVC_RV_ACCESS_ALREADY);
    return done(s, conn, rq, path, f);
}

/*
 * A refresh token takes its family, looked up by the token's hash without rotating it: the
 * family's current token and one already rotated away alike. A rotated-out token of a live
 * family is evidence that it was copied (its legitimate holder has moved on), so it revokes
 * the family too, as presenting it at the token endpoint would. The holder of a token may
 * revoke it whichever client the family was issued to: revoking only takes access away, and a
 * 256-bit token is not guessed. A family whose absolute lifetime has passed is refused
 * everywhere already and is left alone.
 */
static enum MHD_Result revoke_refresh(ts_svc *s, mhd_conn *conn, req *rq, const char *path,
                                      const char *tok, size_t tlen, const char *actor, json_t *f)
{
    ts_error e;
    ts_error_clear(&e);
    char hash[TS_STORE_HASH_LEN + 1], prefix[TS_STORE_PREFIX_LEN + 1];
    if (ts_store_token_hash(tok, tlen, hash, &e) != TS_OK) {
        json_decref(f);
        return ts_svc__store_failure(s, conn, rq, path, TS_EINTERNAL, &e);
    }
    ts_store_hash_prefix(hash, prefix);
    json_object_set_new(f, "token_hash_prefix", json_string(prefix));
    int64_t now = (int64_t)time(NULL);
    ts_store_family fam;
    bool current = false;
    ts_status st = ts_store_refresh_get(s->store, hash, &fam, &current, &e);
    if (st == TS_ENOTFOUND) {
        json_object_set_new(f, "audit_event", json_string("token_revoke_unknown"));
        ts_svc_metrics_revocation(&s->metrics, TS_SVC_RV_UNKNOWN);
        return done(s, conn, rq, path, f);
    }
    if (st != TS_OK) {
        json_decref(f);
        return ts_svc__store_failure(s, conn, rq, path, st, &e);
    }
    json_object_set_new(f, "family_id", json_string(fam.id));
    json_object_set_new(f, "token_current", json_boolean(current));
    if (fam.revoked_at == 0 && fam.expires_at <= now) {
        json_object_set_new(f, "audit_event", json_string("token_revoke_expired"));
        ts_svc_metrics_revocation(&s->metrics, TS_SVC_RV_EXPIRED);
        return done(s, conn, rq, path, f);
    }
    size_t n = 0;
    bool revoked = false;
    st = ts_store_family_revoke_tokens(s->store, fam.id, REVOKE_REASON, actor, now, &n, &revoked,
                                       &e);
    if (st != TS_OK && st != TS_ENOTFOUND) { /* ENOTFOUND: collected since the lookup */
        json_decref(f);
        return ts_svc__store_failure(s, conn, rq, path, st, &e);
    }
    json_object_set_new(f, "access_tokens_revoked", json_integer((json_int_t)n));
    json_object_set_new(
        f, "audit_event",
        json_string(revoked ? "refresh_family_revoked" : "refresh_family_already_revoked"));
    ts_svc_metrics_revocation(&s->metrics,
                              revoked ? TS_SVC_RV_FAMILY_REVOKED : TS_SVC_RV_FAMILY_ALREADY);
    return done(s, conn, rq, path, f);
}

enum MHD_Result ts_svc__revoke_endpoint(ts_svc *s, mhd_conn *conn, req *rq, const char *path)
{
    enum MHD_Result r;
    ts_svc_client who;
    ts_svc_auth a;
    ts_form *form = ts_svc__client_request(s, conn, rq, path, &who, &a, &r);
    if (!form)
        return r;
    size_t tlen = 0;
    const char *tok = ts_form_get(form, "token", &tlen);
    if (ts_svc__blank(tok)) {
        ts_form_free(form);
        return ts_svc__oauth_error(s, conn, rq, path, 400, "invalid_request",
                                   "Missing or empty token parameter", NULL, NULL, NULL);
    }
    /* The actor of the audit record: the client, or the holder of the token. */
    char actor[TS_SVC_CLIENT_ID_MAX + 16];
    snprintf(actor, sizeof actor, "%s%s", a == TS_SVC_AUTH_OK ? "client:" : "holder",
             a == TS_SVC_AUTH_OK ? who.id : "");
    json_t *f = json_object();
    json_object_set_new(f, "actor", json_string(actor));
    /* token_type_hint is a hint only (RFC 7009 §2.1): the two kinds cannot be mistaken for
     * each other (a JWS has two dots, a refresh token none), so the token's shape decides. */
    if (memchr(tok, '.', tlen)) {
        json_t *claims = ts_svc__own_token(s, tok, tlen);
        if (!claims) {
            json_object_set_new(f, "audit_event", json_string("token_revoke_unknown"));
            ts_svc_metrics_revocation(&s->metrics, TS_SVC_RV_UNKNOWN);
            r = done(s, conn, rq, path, f);
        } else {
            r = revoke_access(s, conn, rq, path, claims, actor, f);
            json_decref(claims);
        }
    } else {
        r = revoke_refresh(s, conn, rq, path, tok, tlen, actor, f);
    }
    ts_form_free(form);
    return r;
}
