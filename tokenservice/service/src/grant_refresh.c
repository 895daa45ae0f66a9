/* The refresh-token grant (RFC 6749 §6) with rotation and family revocation on reuse. */
#define _GNU_SOURCE

#include "svc_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

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
    ts_error e;
    ts_error_clear(&e);
    char hash[TS_STORE_HASH_LEN + 1], prefix[TS_STORE_PREFIX_LEN + 1];
    char refresh[TS_STORE_TOKEN_LEN + 1], rhash[TS_STORE_HASH_LEN + 1];
    if (ts_svc__hash_and_mint_refresh(tok, tlen, hash, prefix, refresh, rhash, &e) != TS_OK)
        return ts_svc__store_failure(s, conn, rq, path, TS_EINTERNAL, &e);
    int64_t now = (int64_t)time(NULL);
    ts_store_rotate_result res;
    ts_status st = ts_store_refresh_rotate(s->store, hash, rhash, rq->peer, now, &res, &e);
    if (st != TS_OK) {
        OPENSSL_cleanse(refresh, sizeof refresh);
        return ts_svc__store_failure(s, conn, rq, path, st, &e);
    }
    enum MHD_Result r;
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
