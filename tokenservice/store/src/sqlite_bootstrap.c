/* Bootstrap tokens in the SQLite backend: insert, look up, and the atomic redeem. */
#include "sqlite_internal.h"

#include <stdio.h>
#include <string.h>

void ts_store__sq_read_bootstrap(sqlite3_stmt *st, ts_store_bootstrap_record *out)
{
    memset(out, 0, sizeof *out);
    ts_store__sq_col_text(st, 0, out->id, sizeof out->id);
    ts_store__sq_col_text(st, 1, out->token_hash, sizeof out->token_hash);
    ts_store__sq_col_text(st, 2, out->subject, sizeof out->subject);
    ts_store__sq_col_text(st, 3, out->audience, sizeof out->audience);
    ts_store__sq_col_text(st, 4, out->scope, sizeof out->scope);
    ts_store__sq_col_text(st, 5, out->binding_id, sizeof out->binding_id);
    out->ttl_s = sqlite3_column_int64(st, 6);
    out->refresh_ttl_s = sqlite3_column_int64(st, 7);
    out->created_at = sqlite3_column_int64(st, 8);
    out->expires_at = sqlite3_column_int64(st, 9);
    out->consumed_at = sqlite3_column_int64(st, 10);
    ts_store__sq_col_text(st, 11, out->consumed_by, sizeof out->consumed_by);
    out->replay_attempts = sqlite3_column_int64(st, 12);
    out->reissue_count = sqlite3_column_int64(st, 13);
    ts_store__sq_col_text(st, 14, out->family_id, sizeof out->family_id);
}

static ts_status get_locked(ts_sq_conn *c, const char *hash, ts_store_bootstrap_record *out,
                            bool *found, ts_error *err)
{
    *found = false;
    sqlite3_stmt *st = ts_store__sq_stmt(
        c, TS_SQ_BT_GET, "SELECT " TS_SQ_BT_COLUMNS " FROM bootstrap_tokens WHERE token_hash = ?1",
        err);
    if (!st)
        return err ? err->code : TS_EIO;
    ts_store__sq_bind_text(st, 1, hash);
    int rc = sqlite3_step(st);
    ts_status ret = TS_OK;
    if (rc == SQLITE_ROW) {
        ts_store__sq_read_bootstrap(st, out);
        *found = true;
    } else if (rc != SQLITE_DONE) {
        ret = ts_store__sq_fail(c, "bootstrap lookup", err);
    }
    sqlite3_reset(st);
    return ret;
}

static ts_status insert_locked(ts_sq_conn *c, const ts_store_bootstrap_record *r, ts_error *err)
{
    sqlite3_stmt *st =
        ts_store__sq_stmt(c, TS_SQ_BT_INSERT,
                          "INSERT INTO bootstrap_tokens (token_hash, id, subject, "
                          "audience, scope, binding_id, ttl_s, refresh_ttl_s, "
                          "created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
                          "?8, ?9, ?10)",
                          err);
    if (!st)
        return err ? err->code : TS_EIO;
    ts_store__sq_bind_text(st, 1, r->token_hash);
    ts_store__sq_bind_text(st, 2, r->id);
    ts_store__sq_bind_text(st, 3, r->subject);
    ts_store__sq_bind_text(st, 4, r->audience);
    ts_store__sq_bind_text(st, 5, r->scope);
    ts_store__sq_bind_text(st, 6, r->binding_id);
    sqlite3_bind_int64(st, 7, r->ttl_s);
    sqlite3_bind_int64(st, 8, r->refresh_ttl_s);
    sqlite3_bind_int64(st, 9, r->created_at);
    sqlite3_bind_int64(st, 10, r->expires_at);
    ts_status ret =
        sqlite3_step(st) == SQLITE_DONE ? TS_OK : ts_store__sq_fail(c, "bootstrap insert", err);
    sqlite3_reset(st);
    if (ret != TS_OK)
        return ret;
    char detail[TS_STORE_MAX_DETAIL_LEN];
    size_t n = 0;
    bool fits = true;
    n = (size_t)snprintf(detail, sizeof detail, "{\"audience\":");
    fits = fits && ts_store__sq_json_str(detail, sizeof detail, &n, r->audience);
    fits = fits && n + 10 < sizeof detail;
    if (fits) {
        memcpy(detail + n, ",\"scope\":", 10);
        n += 9;
        fits = ts_store__sq_json_str(detail, sizeof detail, &n, r->scope);
    }
    if (fits) {
        int k = snprintf(detail + n, sizeof detail - n, ",\"expires_at\":%lld}",
                         (long long)r->expires_at);
        fits = k > 0 && (size_t)k < sizeof detail - n;
    }
    return ts_store__sq_audit(c, r->created_at, "bootstrap_token_created", r->subject, r->id,
                              r->token_hash, "", fits ? detail : NULL, err);
}

typedef struct insert_args {
    const ts_store_bootstrap_record *rec;
} insert_args;

static ts_status insert_txn(ts_sq_conn *c, void *arg, ts_error *err)
{
    return insert_locked(c, ((const insert_args *)arg)->rec, err);
}

ts_status ts_store__sq_bootstrap_insert(void *impl, const ts_store_bootstrap_record *rec,
                                        ts_error *err)
{
    insert_args a = {rec};
    return ts_store__sq_write(impl, insert_txn, &a, err);
}

ts_status ts_store__sq_bootstrap_get(void *impl, const char *token_hash,
                                     ts_store_bootstrap_record *out, ts_error *err)
{
    ts_sq_store *s = impl;
    ts_sq_conn *c = NULL;
    ts_status st = ts_store__sq_acquire(s, &c, err);
    if (st != TS_OK)
        return st;
    bool found = false;
    st = get_locked(c, token_hash, out, &found, err);
    ts_store__sq_release(s, c);
    if (st == TS_OK && !found)
        st = ts_error_set(err, TS_ENOTFOUND, "token_hash", "no bootstrap token with this hash");
    return st;
}

/* The lost-response retry: see ts_store_bootstrap_redeem() for the conditions. */
static ts_status try_reissue(ts_sq_conn *c, const ts_store_redeem_args *a,
                             ts_store_redeem_result *out, bool *done, ts_error *err)
{
    ts_store_bootstrap_record *r = &out->record;
    *done = false;
    if (!ts_store__reissue_allowed(r, a))
        return TS_OK;
    ts_store_family old;
    bool found = false;
    ts_status st = ts_store__sq_family_get_locked(c, r->family_id, &old, &found, err);
    if (st != TS_OK || !found || old.revoked_at != 0 || old.usage_count != 0 ||
        old.expires_at <= a->now)
        return st;

    bool changed = false;
    st = ts_store__sq_family_revoke_locked(c, old.id, "bootstrap_retry", a->now, &changed, err);
    if (st == TS_OK)
        st = ts_store__sq_audit(c, a->now, "refresh_token_family_revoked", old.subject, old.id,
                                NULL, a->peer, "{\"reason\":\"bootstrap_retry\"}", err);
    ts_store_family fam;
    ts_store__family_from_record(r, a, &fam);
    if (st == TS_OK)
        st = ts_store__sq_family_insert_locked(c, &fam, a->refresh_hash, err);
    sqlite3_stmt *q = NULL;
    if (st == TS_OK) {
        q = ts_store__sq_stmt(c, TS_SQ_BT_REISSUE,
                              "UPDATE bootstrap_tokens SET family_id = ?1, reissue_count = "
                              "reissue_count + 1 WHERE token_hash = ?2",
                              err);
        if (!q)
            st = err ? err->code : TS_EIO;
    }
    if (st == TS_OK) {
        ts_store__sq_bind_text(q, 1, fam.id);
        ts_store__sq_bind_text(q, 2, r->token_hash);
        if (sqlite3_step(q) != SQLITE_DONE)
            st = ts_store__sq_fail(c, "bootstrap reissue", err);
        sqlite3_reset(q);
    }
    if (st != TS_OK)
        return st;
    r->reissue_count++;
    ts_common__copyz(r->family_id, sizeof r->family_id, fam.id);
    char detail[256];
    snprintf(detail, sizeof detail,
             "{\"family_id\":\"%s\",\"revoked_family_id\":\"%s\",\"reissue_count\":%lld}", fam.id,
             old.id, (long long)r->reissue_count);
    st = ts_store__sq_audit(c, a->now, "bootstrap_token_reissued", r->subject, r->id, r->token_hash,
                            a->peer, detail, err);
    if (st != TS_OK)
        return st;
    out->outcome = TS_STORE_REDEEM_REISSUED;
    out->family = fam;
    ts_common__copyz(out->revoked_family_id, sizeof out->revoked_family_id, old.id);
    *done = true;
    return TS_OK;
}

static ts_status redeem_locked(ts_sq_conn *c, const ts_store_redeem_args *a,
                               ts_store_redeem_result *out, ts_error *err)
{
    /* The compare-and-set: only one transaction can move consumed_at from NULL. */
    sqlite3_stmt *q =
        ts_store__sq_stmt(c, TS_SQ_BT_CONSUME,
                          "UPDATE bootstrap_tokens SET consumed_at = ?1, consumed_by = "
                          "?2, family_id = ?3 WHERE token_hash = ?4 AND consumed_at IS "
                          "NULL AND expires_at > ?1",
                          err);
    if (!q)
        return err ? err->code : TS_EIO;
    sqlite3_bind_int64(q, 1, a->now);
    ts_store__sq_bind_text(q, 2, a->peer);
    ts_store__sq_bind_text(q, 3, a->family_id);
    ts_store__sq_bind_text(q, 4, a->token_hash);
    int rc = sqlite3_step(q);
    int changed = sqlite3_changes(c->db);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE)
        return ts_store__sq_fail(c, "bootstrap consume", err);

    bool found = false;
    ts_status st = get_locked(c, a->token_hash, &out->record, &found, err);
    if (st != TS_OK)
        return st;
    ts_store_bootstrap_record *r = &out->record;
    if (changed == 1 && found) {
        ts_store__family_from_record(r, a, &out->family);
        st = ts_store__sq_family_insert_locked(c, &out->family, a->refresh_hash, err);
        if (st != TS_OK)
            return st;
        char detail[128];
        snprintf(detail, sizeof detail, "{\"family_id\":\"%s\"}", a->family_id);
        st = ts_store__sq_audit(c, a->now, "bootstrap_token_exchanged", r->subject, r->id,
                                r->token_hash, a->peer, detail, err);
        if (st == TS_OK)
            out->outcome = TS_STORE_REDEEM_OK;
        return st;
    }
    if (!found) {
        out->outcome = TS_STORE_REDEEM_NOT_FOUND;
        memset(&out->record, 0, sizeof out->record);
        return TS_OK;
    }
    if (r->consumed_at == 0) {
        out->outcome = TS_STORE_REDEEM_EXPIRED;
        return ts_store__sq_audit(c, a->now, "bootstrap_token_expired", r->subject, r->id,
                                  r->token_hash, a->peer, NULL, err);
    }
    bool done = false;
    st = try_reissue(c, a, out, &done, err);
    if (st != TS_OK || done)
        return st;
    q = ts_store__sq_stmt(c, TS_SQ_BT_COUNT_REPLAY,
                          "UPDATE bootstrap_tokens SET replay_attempts = replay_attempts + 1 WHERE "
                          "token_hash = ?1",
                          err);
    if (!q)
        return err ? err->code : TS_EIO;
    ts_store__sq_bind_text(q, 1, a->token_hash);
    rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE)
        return ts_store__sq_fail(c, "bootstrap replay count", err);
    r->replay_attempts++;
    char detail[64];
    snprintf(detail, sizeof detail, "{\"replay_attempts\":%lld}", (long long)r->replay_attempts);
    out->outcome = TS_STORE_REDEEM_ALREADY_CONSUMED;
    return ts_store__sq_audit(c, a->now, "bootstrap_token_replay_attempted", r->subject, r->id,
                              r->token_hash, a->peer, detail, err);
}

typedef struct redeem_args {
    const ts_store_redeem_args *a;
    ts_store_redeem_result *out;
} redeem_args;

static ts_status redeem_txn(ts_sq_conn *c, void *arg, ts_error *err)
{
    const redeem_args *r = arg;
    return redeem_locked(c, r->a, r->out, err);
}

ts_status ts_store__sq_bootstrap_redeem(void *impl, const ts_store_redeem_args *a,
                                        ts_store_redeem_result *out, ts_error *err)
{
    redeem_args r = {a, out};
    return ts_store__sq_write(impl, redeem_txn, &r, err);
}
