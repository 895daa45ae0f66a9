/* Refresh-token families in the SQLite backend: create, rotate with reuse detection, revoke. */
#include "sqlite_internal.h"

#include <stdio.h>
#include <string.h>

void ts_store__sq_read_family(sqlite3_stmt *st, int first, ts_store_family *out)
{
    memset(out, 0, sizeof *out);
    ts_store__sq_col_text(st, first + 0, out->id, sizeof out->id);
    ts_store__sq_col_text(st, first + 1, out->subject, sizeof out->subject);
    ts_store__sq_col_text(st, first + 2, out->audience, sizeof out->audience);
    ts_store__sq_col_text(st, first + 3, out->scope, sizeof out->scope);
    out->issued_at = sqlite3_column_int64(st, first + 4);
    out->expires_at = sqlite3_column_int64(st, first + 5);
    out->last_used_at = sqlite3_column_int64(st, first + 6);
    out->usage_count = sqlite3_column_int64(st, first + 7);
    out->revoked_at = sqlite3_column_int64(st, first + 8);
    ts_store__sq_col_text(st, first + 9, out->revoke_reason, sizeof out->revoke_reason);
    ts_store__sq_col_text(st, first + 10, out->client_id, sizeof out->client_id);
}

/* A family by its current hash, and by a hash rotated away from it: the rotation's fallbacks
 * and ts_store_refresh_get() share the statements. */
static const char FAM_BY_CURRENT_SQL[] =
    "SELECT " TS_SQ_FAM_COLUMNS " FROM refresh_families WHERE current_hash = ?1";
static const char FAM_BY_ROTATED_SQL[] =
    "SELECT " TS_SQ_FAM_COLUMNS " FROM refresh_families WHERE family_id = (SELECT family_id "
    "FROM refresh_rotated WHERE token_hash = ?1)";

/* Run a prepared single-row query binding @p key as ?1 and read a family from it. */
static ts_status family_query(ts_sq_conn *c, ts_sq_stmt_id id, const char *sql, const char *key,
                              ts_store_family *out, bool *found, ts_error *err)
{
    *found = false;
    sqlite3_stmt *st = ts_store__sq_stmt(c, id, sql, err);
    if (!st)
        return err ? err->code : TS_EIO;
    ts_store__sq_bind_text(st, 1, key);
    int rc = sqlite3_step(st);
    ts_status ret = TS_OK;
    if (rc == SQLITE_ROW) {
        ts_store__sq_read_family(st, 0, out);
        *found = true;
    } else if (rc != SQLITE_DONE) {
        ret = ts_store__sq_fail(c, "family lookup", err);
    }
    sqlite3_reset(st);
    return ret;
}

ts_status ts_store__sq_family_get_locked(ts_sq_conn *c, const char *family_id, ts_store_family *out,
                                         bool *found, ts_error *err)
{
    return family_query(c, TS_SQ_FAM_GET,
                        "SELECT " TS_SQ_FAM_COLUMNS " FROM refresh_families WHERE family_id = ?1",
                        family_id, out, found, err);
}

ts_status ts_store__sq_family_insert_locked(ts_sq_conn *c, const ts_store_family *f,
                                            const char *first_hash, ts_error *err)
{
    sqlite3_stmt *st =
        ts_store__sq_stmt(c, TS_SQ_FAM_INSERT,
                          "INSERT INTO refresh_families (family_id, subject, audience, "
                          "scope, current_hash, issued_at, expires_at, client_id) VALUES "
                          "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                          err);
    if (!st)
        return err ? err->code : TS_EIO;
    ts_store__sq_bind_text(st, 1, f->id);
    ts_store__sq_bind_text(st, 2, f->subject);
    ts_store__sq_bind_text(st, 3, f->audience);
    ts_store__sq_bind_text(st, 4, f->scope);
    ts_store__sq_bind_text(st, 5, first_hash);
    sqlite3_bind_int64(st, 6, f->issued_at);
    sqlite3_bind_int64(st, 7, f->expires_at);
    ts_store__sq_bind_text(st, 8, f->client_id);
    ts_status ret =
        sqlite3_step(st) == SQLITE_DONE ? TS_OK : ts_store__sq_fail(c, "family insert", err);
    sqlite3_reset(st);
    return ret;
}

ts_status ts_store__sq_family_revoke_locked(ts_sq_conn *c, const char *family_id,
                                            const char *reason, int64_t now, bool *changed,
                                            ts_error *err)
{
    *changed = false;
    sqlite3_stmt *st =
        ts_store__sq_stmt(c, TS_SQ_FAM_REVOKE,
                          "UPDATE refresh_families SET revoked_at = ?2, revoke_reason = "
                          "?3 WHERE family_id = ?1 AND revoked_at IS NULL",
                          err);
    if (!st)
        return err ? err->code : TS_EIO;
    ts_store__sq_bind_text(st, 1, family_id);
    sqlite3_bind_int64(st, 2, now);
    ts_store__sq_bind_text(st, 3, reason);
    int rc = sqlite3_step(st);
    *changed = sqlite3_changes(c->db) == 1;
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? TS_OK : ts_store__sq_fail(c, "family revoke", err);
}

static ts_status insert_and_audit(ts_sq_conn *c, const ts_store_family *f, const char *first_hash,
                                  const char *peer, ts_error *err)
{
    ts_status st = ts_store__sq_family_insert_locked(c, f, first_hash, err);
    if (st != TS_OK)
        return st;
    char detail[64];
    snprintf(detail, sizeof detail, "{\"expires_at\":%lld}", (long long)f->expires_at);
    return ts_store__sq_audit(c, f->issued_at, "refresh_family_created", f->subject, f->id,
                              first_hash, peer, detail, err);
}

typedef struct insert_args {
    const ts_store_family *fam;
    const char *first_hash, *peer;
} insert_args;

static ts_status insert_txn(ts_sq_conn *c, void *arg, ts_error *err)
{
    const insert_args *a = arg;
    return insert_and_audit(c, a->fam, a->first_hash, a->peer, err);
}

ts_status ts_store__sq_family_insert(void *impl, const ts_store_family *fam, const char *first_hash,
                                     const char *peer, ts_error *err)
{
    insert_args a = {fam, first_hash, peer};
    return ts_store__sq_write(impl, insert_txn, &a, err);
}

ts_status ts_store__sq_family_get(void *impl, const char *family_id, ts_store_family *out,
                                  ts_error *err)
{
    ts_sq_store *s = impl;
    ts_sq_conn *c = NULL;
    ts_status st = ts_store__sq_acquire(s, &c, err);
    if (st != TS_OK)
        return st;
    bool found = false;
    st = ts_store__sq_family_get_locked(c, family_id, out, &found, err);
    ts_store__sq_release(s, c);
    if (st == TS_OK && !found)
        st = ts_error_set(err, TS_ENOTFOUND, "family_id", "no refresh family with this id");
    return st;
}

static ts_status revoke_and_audit(ts_sq_conn *c, const char *family_id, const char *reason,
                                  int64_t now, bool *revoked, ts_error *err)
{
    ts_status st = ts_store__sq_family_revoke_locked(c, family_id, reason, now, revoked, err);
    if (st != TS_OK)
        return st;
    ts_store_family f;
    bool found = false;
    st = ts_store__sq_family_get_locked(c, family_id, &f, &found, err);
    if (st != TS_OK)
        return st;
    if (!found)
        return ts_error_set(err, TS_ENOTFOUND, "family_id", "no refresh family with this id");
    if (!*revoked)
        return TS_OK;
    char detail[128];
    size_t n = (size_t)snprintf(detail, sizeof detail, "{\"reason\":");
    ts_store__sq_json_str(detail, sizeof detail, &n, reason);
    if (n + 2 > sizeof detail)
        return ts_error_set(err, TS_EINTERNAL, "family revoke", "audit detail overflow");
    detail[n++] = '}';
    detail[n] = '\0';
    return ts_store__sq_audit(c, now, "refresh_token_family_revoked", f.subject, f.id, NULL, "",
                              detail, err);
}

typedef struct revoke_args {
    const char *family_id, *reason;
    int64_t now;
    bool *revoked;
} revoke_args;

static ts_status revoke_txn(ts_sq_conn *c, void *arg, ts_error *err)
{
    const revoke_args *a = arg;
    return revoke_and_audit(c, a->family_id, a->reason, a->now, a->revoked, err);
}

ts_status ts_store__sq_family_revoke(void *impl, const char *family_id, const char *reason,
                                     int64_t now, bool *revoked, ts_error *err)
{
    revoke_args a = {family_id, reason, now, revoked};
    ts_status st = ts_store__sq_write(impl, revoke_txn, &a, err);
    if (st != TS_OK)
        *revoked = false;
    return st;
}

static ts_status rotate_locked(ts_sq_conn *c, const char *presented, const char *new_hash,
                               const char *peer, int64_t now, ts_store_rotate_result *out,
                               ts_error *err)
{
    ts_store_family *f = &out->family;
    out->replayed = false; /* a replayed batch runs this again: results start afresh */
    /* The compare-and-set: only one transaction can move current_hash away from presented. */
    sqlite3_stmt *q =
        ts_store__sq_stmt(c, TS_SQ_FAM_ROTATE,
                          "UPDATE refresh_families SET current_hash = ?1, usage_count = "
                          "usage_count + 1, last_used_at = ?3 WHERE current_hash = ?2 "
                          "AND revoked_at IS NULL AND expires_at > ?3 RETURNING " TS_SQ_FAM_COLUMNS,
                          err);
    if (!q)
        return err ? err->code : TS_EIO;
    ts_store__sq_bind_text(q, 1, new_hash);
    ts_store__sq_bind_text(q, 2, presented);
    sqlite3_bind_int64(q, 3, now);
    int rc = sqlite3_step(q);
    bool rotated = rc == SQLITE_ROW;
    if (rotated) {
        ts_store__sq_read_family(q, 0, f);
        rc = sqlite3_step(q);
    }
    sqlite3_reset(q);
    if (rc != SQLITE_DONE)
        return ts_store__sq_fail(c, "refresh rotate", err);

    ts_status st;
    if (rotated) {
        q = ts_store__sq_stmt(
            c, TS_SQ_ROTATED_INSERT,
            "INSERT INTO refresh_rotated (token_hash, family_id, rotated_at) VALUES "
            "(?1, ?2, ?3)",
            err);
        if (!q)
            return err ? err->code : TS_EIO;
        ts_store__sq_bind_text(q, 1, presented);
        ts_store__sq_bind_text(q, 2, f->id);
        sqlite3_bind_int64(q, 3, now);
        rc = sqlite3_step(q);
        sqlite3_reset(q);
        if (rc != SQLITE_DONE)
            return ts_store__sq_fail(c, "refresh rotate", err);
        char detail[64];
        snprintf(detail, sizeof detail, "{\"usage_count\":%lld}", (long long)f->usage_count);
        st = ts_store__sq_audit(c, now, "refresh_token_rotated", f->subject, f->id, presented, peer,
                                detail, err);
        if (st == TS_OK)
            out->outcome = TS_STORE_ROTATE_OK;
        return st;
    }

    bool found = false;
    st = family_query(c, TS_SQ_FAM_BY_CURRENT, FAM_BY_CURRENT_SQL, presented, f, &found, err);
    if (st != TS_OK)
        return st;
    if (found) {
        out->outcome = f->revoked_at != 0 ? TS_STORE_ROTATE_REVOKED : TS_STORE_ROTATE_EXPIRED;
        return TS_OK;
    }
    st = family_query(c, TS_SQ_FAM_BY_ROTATED, FAM_BY_ROTATED_SQL, presented, f, &found, err);
    if (st != TS_OK)
        return st;
    if (!found) {
        memset(f, 0, sizeof *f);
        out->outcome = TS_STORE_ROTATE_NOT_FOUND;
        return TS_OK;
    }
    out->replayed = true;
    if (f->revoked_at != 0) {
        /* Nothing changes, so nothing is written here (a write would cost an fsync per
         * replay): the front end counts these replays and audits them at a bounded rate. */
        out->outcome = TS_STORE_ROTATE_REVOKED;
        return TS_OK;
    }
    if (f->expires_at <= now) {
        out->outcome = TS_STORE_ROTATE_EXPIRED;
        return TS_OK;
    }
    bool changed = false;
    st = ts_store__sq_family_revoke_locked(c, f->id, "reuse_detected", now, &changed, err);
    if (st == TS_OK)
        st = ts_store__sq_audit(c, now, "refresh_token_replay_detected", f->subject, f->id,
                                presented, peer, NULL, err);
    if (st == TS_OK)
        st = ts_store__sq_audit(c, now, "refresh_token_family_revoked", f->subject, f->id,
                                presented, peer, "{\"reason\":\"reuse_detected\"}", err);
    if (st != TS_OK)
        return st;
    f->revoked_at = now;
    ts_common__copyz(f->revoke_reason, sizeof f->revoke_reason, "reuse_detected");
    out->outcome = TS_STORE_ROTATE_REUSE_DETECTED;
    return TS_OK;
}

typedef struct rotate_args {
    const char *presented, *new_hash, *peer;
    int64_t now;
    ts_store_rotate_result *out;
} rotate_args;

static ts_status rotate_txn(ts_sq_conn *c, void *arg, ts_error *err)
{
    const rotate_args *a = arg;
    return rotate_locked(c, a->presented, a->new_hash, a->peer, a->now, a->out, err);
}

ts_status ts_store__sq_refresh_rotate(void *impl, const char *presented_hash, const char *new_hash,
                                      const char *peer, int64_t now, ts_store_rotate_result *out,
                                      ts_error *err)
{
    rotate_args a = {presented_hash, new_hash, peer, now, out};
    return ts_store__sq_write(impl, rotate_txn, &a, err);
}

/* Read-only: two lookups on one connection without a transaction are enough, since a hash
 * only ever moves from current to rotated (a rotation between them is seen as "rotated"). */
ts_status ts_store__sq_refresh_get(void *impl, const char *token_hash, ts_store_family *out,
                                   bool *current, ts_error *err)
{
    ts_sq_store *s = impl;
    ts_sq_conn *c = NULL;
    ts_status st = ts_store__sq_acquire(s, &c, err);
    if (st != TS_OK)
        return st;
    bool found = false;
    st = family_query(c, TS_SQ_FAM_BY_CURRENT, FAM_BY_CURRENT_SQL, token_hash, out, &found, err);
    *current = st == TS_OK && found;
    if (st == TS_OK && !found)
        st =
            family_query(c, TS_SQ_FAM_BY_ROTATED, FAM_BY_ROTATED_SQL, token_hash, out, &found, err);
    ts_store__sq_release(s, c);
    if (st == TS_OK && !found)
        st = ts_error_set(err, TS_ENOTFOUND, "token_hash", "no refresh family knows this token");
    return st;
}
