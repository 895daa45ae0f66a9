/* RFC 8693 exchange of a one-time bootstrap token: redemption creates a refresh family, issued
 * to the registered client that authenticates with the exchange, or to a public caller. */
#define _GNU_SOURCE

#include "svc_internal.h"

#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

/* The client the family is issued to (only it may introspect the family's refresh tokens, and
 * refreshing then needs its credentials): a registered client authenticating with
 * client_secret_basic or _post, or "" for a public caller. Credentials that are given must be
 * right, and are checked before the token is consumed. The grant is handed the token alone, so
 * the form is parsed again from the body the token endpoint already bounded and parsed. */
static bool redeeming_client(ts_svc *s, mhd_conn *conn, req *rq, const char *path,
                             ts_svc_client *who, enum MHD_Result *r)
{
    memset(who, 0, sizeof *who);
    ts_form *form = NULL;
    ts_error e;
    ts_error_clear(&e);
    if (ts_form_parse(rq->body, rq->len, &form, &e) != TS_OK) {
        *r = ts_svc__store_failure(s, conn, rq, path, TS_EINTERNAL, &e);
        return false;
    }
    ts_svc_auth a = ts_svc__client_auth(s, conn, rq, path, form, who, r);
    ts_form_free(form);
    if (a == TS_SVC_AUTH_BAD || a == TS_SVC_AUTH_MALFORMED)
        return false;
    if (a != TS_SVC_AUTH_OK)
        who->id[0] = '\0';
    return true;
}

enum MHD_Result ts_svc__grant_bootstrap(ts_svc *s, mhd_conn *conn, req *rq, const char *path,
                                        const char *tok, size_t tlen, const char *key)
{
    ts_svc_client who;
    enum MHD_Result r;
    if (!redeeming_client(s, conn, rq, path, &who, &r))
        return r;
    ts_error e;
    ts_error_clear(&e);
    char hash[TS_STORE_HASH_LEN + 1], prefix[TS_STORE_PREFIX_LEN + 1];
    char refresh[TS_STORE_TOKEN_LEN + 1], rhash[TS_STORE_HASH_LEN + 1];
    if (ts_svc__hash_and_mint_refresh(tok, tlen, hash, prefix, refresh, rhash, &e) != TS_OK)
        return ts_svc__store_failure(s, conn, rq, path, TS_EINTERNAL, &e);
    int64_t now = (int64_t)time(NULL);
    ts_store_redeem_result res;
    ts_status st =
        ts_store_bootstrap_redeem_client(s->store, hash, key, now, rhash, who.id, &res, &e);
    if (st != TS_OK) {
        OPENSSL_cleanse(refresh, sizeof refresh);
        return ts_svc__store_failure(s, conn, rq, path, st, &e);
    }
    if (res.outcome == TS_STORE_REDEEM_OK || res.outcome == TS_STORE_REDEEM_REISSUED) {
        r = ts_svc__grant_success(s, conn, rq, path, &res.family, refresh, true, now, prefix,
                                  res.outcome == TS_STORE_REDEEM_OK ? "bootstrap_token_exchanged"
                                                                    : "bootstrap_token_reissued");
    } else {
        unsigned fails = ts_store_limiter_fail(s->limiter, key, strlen(key), ts_svc__mono_ms());
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
        r = ts_svc__oauth_error(s, conn, rq, path, 400, "invalid_grant", TS_SVC_MSG_BAD_BOOTSTRAP,
                                f, NULL, NULL);
    }
    OPENSSL_cleanse(refresh, sizeof refresh);
    return r;
}
