/* The refresh-token grant (RFC 6749 §6) with rotation and family revocation on reuse. A family
 * issued to a registered client refreshes for that client only. */
#define _GNU_SOURCE

#include "svc_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

/* *@p allowed false when the token's family was issued to a registered client and @p client
 * (the authenticated caller, "" for none) is not it (RFC 6749 §6, §10.4). Checked before the
 * rotation, so that a stolen token without the client's credentials cannot rotate the family
 * away from its holder (nor, by replaying a rotated one, revoke it). Unknown tokens pass:
 * the rotation answers them. */
static ts_status client_may_refresh(ts_svc *s, const char *hash, const char *client, bool *allowed,
                                    ts_error *e)
{
    *allowed = true;
    ts_store_family fam;
    bool current = false;
    ts_status st = ts_store_refresh_get(s->store, hash, &fam, &current, e);
    if (st == TS_ENOTFOUND) {
        ts_error_clear(e);
        return TS_OK;
    }
    if (st != TS_OK)
        return st;
    *allowed = !fam.client_id[0] || strcmp(fam.client_id, client) == 0;
    return TS_OK;
}

enum MHD_Result ts_svc__grant_refresh(ts_svc *s, struct MHD_Connection *conn, req *rq,
                                      const char *path, const ts_form *form)
{
    size_t tlen = 0;
    const char *tok = ts_form_get(form, "refresh_token", &tlen);
    if (ts_svc__blank(tok))
        return ts_svc__oauth_error(s, conn, rq, path, 400, "invalid_request",
                                   "Missing or empty refresh_token parameter", NULL, NULL, NULL);
    /* Failed refresh attempts count against the client like failed exchanges: a client that
     * replays rotated or guessed refresh tokens is blocked before it reaches the store. */
    char key[TS_STORE_MAX_PEER_LEN + 1];
    ts_svc__client_key(s, conn, rq, key, sizeof key);
    char retry[24];
    if (ts_svc__limited(s, key, retry))
        return ts_svc__oauth_error(s, conn, rq, path, 429, "too_many_requests",
                                   TS_SVC_MSG_LIMITED_REFRESH, NULL, "Retry-After", retry);
    ts_svc_client who;
    enum MHD_Result r;
    ts_svc_auth a = ts_svc__client_auth(s, conn, rq, path, form, &who, &r);
    if (a == TS_SVC_AUTH_BAD || a == TS_SVC_AUTH_MALFORMED)
        return r;
    ts_error e;
    ts_error_clear(&e);
    char hash[TS_STORE_HASH_LEN + 1], prefix[TS_STORE_PREFIX_LEN + 1];
    char refresh[TS_STORE_TOKEN_LEN + 1], rhash[TS_STORE_HASH_LEN + 1];
    if (ts_svc__hash_and_mint_refresh(tok, tlen, hash, prefix, refresh, rhash, &e) != TS_OK)
        return ts_svc__store_failure(s, conn, rq, path, TS_EINTERNAL, &e);
    bool allowed = true;
    ts_status st = client_may_refresh(s, hash, a == TS_SVC_AUTH_OK ? who.id : "", &allowed, &e);
    if (st == TS_OK && !allowed) {
        OPENSSL_cleanse(refresh, sizeof refresh);
        unsigned fails = ts_store_limiter_fail(s->limiter, key, strlen(key), ts_svc__mono_ms());
        json_t *f = json_object();
        json_object_set_new(f, "audit_event", json_string("refresh_token_client_mismatch"));
        json_object_set_new(f, "client", json_string(key));
        json_object_set_new(f, "failures", json_integer(fails));
        json_object_set_new(f, "client_id", json_string(a == TS_SVC_AUTH_OK ? who.id : ""));
        json_object_set_new(f, "token_hash_prefix", json_string(prefix));
        return ts_svc__oauth_error(s, conn, rq, path, 400, "invalid_grant", TS_SVC_MSG_BAD_REFRESH,
                                   f, NULL, NULL);
    }
    if (st != TS_OK) {
        OPENSSL_cleanse(refresh, sizeof refresh);
        return ts_svc__store_failure(s, conn, rq, path, st, &e);
    }
    int64_t now = (int64_t)time(NULL);
    ts_store_rotate_result res;
    st = ts_store_refresh_rotate(s->store, hash, rhash, rq->peer, now, &res, &e);
    if (st != TS_OK) {
        OPENSSL_cleanse(refresh, sizeof refresh);
        return ts_svc__store_failure(s, conn, rq, path, st, &e);
    }
    if (res.outcome == TS_STORE_ROTATE_OK) {
        r = ts_svc__grant_success(s, conn, rq, path, &res.family, refresh, false, now, prefix,
                                  "refresh_token_rotated");
    } else {
        unsigned fails = ts_store_limiter_fail(s->limiter, key, strlen(key), ts_svc__mono_ms());
        json_t *f = json_object();
        json_object_set_new(f, "client", json_string(key));
        json_object_set_new(f, "failures", json_integer(fails));
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
        r = ts_svc__oauth_error(s, conn, rq, path, 400, "invalid_grant", TS_SVC_MSG_BAD_REFRESH, f,
                                NULL, NULL);
    }
    OPENSSL_cleanse(refresh, sizeof refresh);
    return r;
}
