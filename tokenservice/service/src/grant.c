/* What every grant shares: the token response, hashing the presented token, minting the next
 * refresh token. */
#define _GNU_SOURCE

#include "svc_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

enum MHD_Result ts_svc__grant_success(ts_svc *s, struct MHD_Connection *conn, req *rq,
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
        return ts_svc__oauth_error(s, conn, rq, path, 500, "server_error", TS_SVC_MSG_INTERNAL, f,
                                   NULL, NULL);
    }
    /* The token is recorded before it leaves, so that revoking its family or subject revokes
     * it too (the grant's audit record is the store's own, written with the family). */
    ts_store_issued it = {
        .jti = jti,
        .subject = fam->subject,
        .family_id = fam->id,
        .client_id = fam->client_id, /* "" for a public caller */
        .issued_at = now,
        .expires_at = now + s->cfg.access_ttl_s,
    };
    ts_status st = ts_store_token_issued(s->store, &it, NULL, &e);
    if (st != TS_OK) {
        OPENSSL_cleanse(jwt, strlen(jwt));
        ts_free(jwt);
        return ts_svc__store_failure(s, conn, rq, path, st, &e);
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
        ts_svc_jw_kstr(&body, "issued_token_type", TS_SVC_TT_ACCESS);
    ts_svc_jw_close(&body);
    OPENSSL_cleanse(jwt, strlen(jwt));
    ts_free(jwt);
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
        r = ts_svc__respond_m(s, conn, rq, "POST", path, 200, "application/json", body.ptr,
                              body.len, "no-store", f.ptr, f.len, NULL, NULL);
    ts_svc_jw_free(&body); /* wipes the tokens */
    ts_svc_jw_free(&f);
    return r;
}

bool ts_svc__limited(ts_svc *s, const char *key, char retry_after[24])
{
    uint64_t ms = ts_store_limiter_retry_after_ms(s->limiter, key, strlen(key), ts_svc__mono_ms());
    if (ms == 0)
        return false;
    snprintf(retry_after, 24, "%llu", (unsigned long long)((ms + 999) / 1000));
    return true;
}

bool ts_svc__blank(const char *v)
{
    if (!v)
        return true;
    for (; *v; v++)
        if (*v != ' ' && *v != '\t' && *v != '\r' && *v != '\n')
            return false;
    return true;
}

/* Both grants hash the presented token (never kept) and mint the next refresh token, which the
 * store learns only as a hash. */
ts_status ts_svc__hash_and_mint_refresh(const char *tok, size_t tlen,
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
