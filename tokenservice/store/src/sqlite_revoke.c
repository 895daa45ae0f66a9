/* Revocation in the SQLite backend (store_revocation.h): issued access tokens by jti, and the
 * revocations verifiers poll by seq. Every change is one write transaction with its audit
 * record; writers are serialised by the write lock, so seqs (AUTOINCREMENT) commit in
 * increasing order and a reader's cursor never skips one. */
#include "sqlite_internal.h"

#include <stdio.h>
#include <string.h>

/* The tokens a revocation by family or by subject reaches: recorded, unexpired, not yet
 * revoked. ?1 the family or subject, ?2 now, ?3 the reason. */
#define FAMILY_TOKENS "family_id = ?1 AND revoked_at IS NULL AND expires_at > ?2"
#define SUBJECT_TOKENS                                                                             \
    "(subject = ?1 OR family_id IN (SELECT family_id FROM refresh_families WHERE subject = ?1)) "  \
    "AND revoked_at IS NULL AND expires_at > ?2"
/* The revocations come first (the same rows, before they are marked); ORDER BY gives them
 * seqs in issue order. */
#define INSERT_REVOCATIONS(cond)                                                                   \
    "INSERT INTO revocations (jti, expires_at, revoked_at, reason) SELECT jti, expires_at, ?2, "   \
    "?3 FROM issued_tokens WHERE " cond " ORDER BY issued_at, jti ON CONFLICT (jti) DO NOTHING"
#define MARK_REVOKED(cond) "UPDATE issued_tokens SET revoked_at = ?2 WHERE " cond

static ts_status stmt_failed(ts_error *err)
{
    return err && err->code != TS_OK ? err->code : TS_EIO;
}

/* Run a statement with bindings (?1 text, ?2 integer, ?3 text; NULL = not bound) and no
 * results; *@p changes receives the rows it changed. */
static ts_status run(ts_sq_conn *c, ts_sq_stmt_id id, const char *sql, const char *a1, int64_t a2,
                     const char *a3, int64_t *changes, ts_error *err)
{
    sqlite3_stmt *q = ts_store__sq_stmt(c, id, sql, err);
    if (!q)
        return stmt_failed(err);
    ts_store__sq_bind_text(q, 1, a1);
    sqlite3_bind_int64(q, 2, a2);
    if (a3)
        ts_store__sq_bind_text(q, 3, a3);
    int rc = sqlite3_step(q);
    *changes = rc == SQLITE_DONE ? sqlite3_changes64(c->db) : 0;
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? TS_OK : ts_store__sq_fail(c, "revocation", err);
}

/* {"reason":R[,"tokens":N][,"families":M]} */
static ts_status detail_json(char *buf, size_t cap, const char *reason, int64_t families,
                             int64_t tokens, ts_error *err)
{
    size_t n = (size_t)snprintf(buf, cap, "{\"reason\":");
    if (!ts_store__sq_json_str(buf, cap, &n, reason))
        return ts_error_set(err, TS_EINTERNAL, "revocation", "audit detail overflow");
    int k = 0;
    if (families >= 0)
        k = snprintf(buf + n, cap - n, ",\"families\":%lld", (long long)families);
    if (k >= 0 && (size_t)k < cap - n)
        n += (size_t)k;
    k = tokens >= 0 ? snprintf(buf + n, cap - n, ",\"tokens\":%lld}", (long long)tokens)
                    : snprintf(buf + n, cap - n, "}");
    if (k < 0 || (size_t)k >= cap - n)
        return ts_error_set(err, TS_EINTERNAL, "revocation", "audit detail overflow");
    return TS_OK;
}

/* Insert the revocation of @p jti (expiring at @p expires_at, or later when the recorded
 * token does) unless it is revoked already; *@p inserted tells which. */
static ts_status insert_revocation(ts_sq_conn *c, const char *jti, int64_t expires_at, int64_t now,
                                   const char *reason, bool *inserted, ts_error *err)
{
    *inserted = false;
    sqlite3_stmt *q = ts_store__sq_stmt(
        c, TS_SQ_REV_INSERT_JTI,
        "INSERT INTO revocations (jti, expires_at, revoked_at, reason) VALUES (?1, max(?4, "
        "coalesce((SELECT expires_at FROM issued_tokens WHERE jti = ?1), 0)), ?2, ?3) "
        "ON CONFLICT (jti) DO NOTHING",
        err);
    if (!q)
        return stmt_failed(err);
    ts_store__sq_bind_text(q, 1, jti);
    sqlite3_bind_int64(q, 2, now);
    ts_store__sq_bind_text(q, 3, reason);
    sqlite3_bind_int64(q, 4, expires_at);
    int rc = sqlite3_step(q);
    *inserted = rc == SQLITE_DONE && sqlite3_changes(c->db) == 1;
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? TS_OK : ts_store__sq_fail(c, "revocation", err);
}

/* ---- token_issued ---------------------------------------------------------------------- */

typedef struct issued_args {
    const ts_store_issued *t;
    const ts_store_audit_entry *audit;
} issued_args;

/* revoked_at of family @p id (0 when live or unknown). */
static ts_status family_revoked_at(ts_sq_conn *c, const char *id, int64_t *out, ts_error *err)
{
    *out = 0;
    sqlite3_stmt *q = ts_store__sq_stmt(
        c, TS_SQ_ISSUED_FAMILY_STATE,
        "SELECT coalesce(revoked_at, 0) FROM refresh_families WHERE family_id = ?1", err);
    if (!q)
        return stmt_failed(err);
    ts_store__sq_bind_text(q, 1, id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? TS_OK
                                                 : ts_store__sq_fail(c, "token issued", err);
}

static ts_status issued_txn(ts_sq_conn *c, void *arg, ts_error *err)
{
    const issued_args *a = arg;
    const ts_store_issued *t = a->t;
    /* A token of a family revoked meanwhile (between the rotation that granted it and this
     * record) is recorded revoked: a revoked family has no live access token. */
    int64_t fam_revoked = 0;
    ts_status st = TS_OK;
    if (*t->family_id)
        st = family_revoked_at(c, t->family_id, &fam_revoked, err);
    if (st != TS_OK)
        return st;
    sqlite3_stmt *q = ts_store__sq_stmt(
        c, TS_SQ_ISSUED_INSERT,
        "INSERT INTO issued_tokens (jti, subject, family_id, client_id, issued_at, expires_at, "
        "revoked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (jti) DO NOTHING",
        err);
    if (!q)
        return stmt_failed(err);
    ts_store__sq_bind_text(q, 1, t->jti);
    ts_store__sq_bind_text(q, 2, t->subject);
    ts_store__sq_bind_text(q, 3, t->family_id);
    ts_store__sq_bind_text(q, 4, t->client_id);
    sqlite3_bind_int64(q, 5, t->issued_at);
    sqlite3_bind_int64(q, 6, t->expires_at);
    if (fam_revoked)
        sqlite3_bind_int64(q, 7, t->issued_at);
    else
        sqlite3_bind_null(q, 7);
    int rc = sqlite3_step(q);
    int changed = rc == SQLITE_DONE ? sqlite3_changes(c->db) : 0;
    sqlite3_reset(q);
    if (rc != SQLITE_DONE)
        return ts_store__sq_fail(c, "token issued", err);
    if (changed != 1)
        return ts_error_set(err, TS_EINVAL, "jti", "an access token with this jti is recorded");
    if (fam_revoked) {
        bool inserted = false;
        char detail[96];
        st = insert_revocation(c, t->jti, t->expires_at, t->issued_at, "family_revoked", &inserted,
                               err);
        if (st == TS_OK)
            st = detail_json(detail, sizeof detail, "family_revoked", -1, -1, err);
        if (st == TS_OK)
            st = ts_store__sq_audit(c, t->issued_at, "token_revoked", t->subject, t->jti, NULL, "",
                                    detail, err);
    }
    if (st == TS_OK && a->audit)
        st = ts_store__sq_audit_entry(c, a->audit, err);
    return st;
}

ts_status ts_store__sq_token_issued(void *impl, const ts_store_issued *t,
                                    const ts_store_audit_entry *audit, ts_error *err)
{
    issued_args a = {t, audit};
    return ts_store__sq_write(impl, issued_txn, &a, err);
}

/* ---- jti_revoke ------------------------------------------------------------------------ */

typedef struct jti_args {
    const char *jti, *reason, *actor;
    int64_t expires_at, now;
    bool revoked;
} jti_args;

static ts_status jti_txn(ts_sq_conn *c, void *arg, ts_error *err)
{
    jti_args *a = arg;
    a->revoked = false; /* the batch may be replayed: computed afresh */
    ts_status st = insert_revocation(c, a->jti, a->expires_at, a->now, a->reason, &a->revoked, err);
    int64_t marked = 0;
    if (st == TS_OK)
        st = run(c, TS_SQ_REV_MARK_JTI,
                 "UPDATE issued_tokens SET revoked_at = ?2 WHERE jti = ?1 AND revoked_at IS NULL",
                 a->jti, a->now, NULL, &marked, err);
    if (st != TS_OK || !a->revoked)
        return st;
    char detail[96];
    st = detail_json(detail, sizeof detail, a->reason, -1, -1, err);
    if (st == TS_OK)
        st = ts_store__sq_audit(c, a->now, "token_revoked", NULL, a->jti, NULL, a->actor, detail,
                                err);
    return st;
}

ts_status ts_store__sq_jti_revoke(void *impl, const char *jti, int64_t expires_at,
                                  const char *reason, const char *actor, int64_t now, bool *revoked,
                                  ts_error *err)
{
    jti_args a = {jti, reason, actor, expires_at, now, false};
    ts_status st = ts_store__sq_write(impl, jti_txn, &a, err);
    *revoked = st == TS_OK && a.revoked;
    return st;
}

/* ---- family_revoke_tokens -------------------------------------------------------------- */

typedef struct family_args {
    const char *family_id, *reason, *actor;
    int64_t now;
    bool revoked;
    int64_t tokens;
} family_args;

static ts_status family_txn(ts_sq_conn *c, void *arg, ts_error *err)
{
    family_args *a = arg;
    a->revoked = false;
    a->tokens = 0;
    ts_status st =
        ts_store__sq_family_revoke_locked(c, a->family_id, a->reason, a->now, &a->revoked, err);
    ts_store_family f;
    bool found = false;
    if (st == TS_OK)
        st = ts_store__sq_family_get_locked(c, a->family_id, &f, &found, err);
    if (st == TS_OK && !found)
        return ts_error_set(err, TS_ENOTFOUND, "family_id", "no refresh family with this id");
    int64_t ignored = 0;
    if (st == TS_OK)
        st = run(c, TS_SQ_REV_INSERT_FAMILY, INSERT_REVOCATIONS(FAMILY_TOKENS), a->family_id,
                 a->now, a->reason, &ignored, err);
    if (st == TS_OK)
        st = run(c, TS_SQ_REV_MARK_FAMILY, MARK_REVOKED(FAMILY_TOKENS), a->family_id, a->now, NULL,
                 &a->tokens, err);
    if (st != TS_OK || (!a->revoked && a->tokens == 0))
        return st;
    char detail[128];
    st = detail_json(detail, sizeof detail, a->reason, -1, a->tokens, err);
    if (st == TS_OK)
        st = ts_store__sq_audit(c, a->now, "refresh_token_family_revoked", f.subject, f.id, NULL,
                                a->actor, detail, err);
    return st;
}

ts_status ts_store__sq_family_revoke_tokens(void *impl, const char *family_id, const char *reason,
                                            const char *actor, int64_t now, size_t *n_tokens,
                                            bool *revoked, ts_error *err)
{
    family_args a = {family_id, reason, actor, now, false, 0};
    ts_status st = ts_store__sq_write(impl, family_txn, &a, err);
    *revoked = st == TS_OK && a.revoked;
    *n_tokens = st == TS_OK ? (size_t)a.tokens : 0;
    return st;
}

/* ---- subject_revoke -------------------------------------------------------------------- */

typedef struct subject_args {
    const char *subject, *reason, *actor;
    int64_t now;
    int64_t families, tokens;
} subject_args;

static ts_status subject_txn(ts_sq_conn *c, void *arg, ts_error *err)
{
    subject_args *a = arg;
    a->families = a->tokens = 0;
    int64_t ignored = 0;
    ts_status st = run(c, TS_SQ_REV_FAMILIES_SUBJECT,
                       "UPDATE refresh_families SET revoked_at = ?2, revoke_reason = ?3 WHERE "
                       "subject = ?1 AND revoked_at IS NULL AND expires_at > ?2",
                       a->subject, a->now, a->reason, &a->families, err);
    if (st == TS_OK)
        st = run(c, TS_SQ_REV_INSERT_SUBJECT, INSERT_REVOCATIONS(SUBJECT_TOKENS), a->subject,
                 a->now, a->reason, &ignored, err);
    if (st == TS_OK)
        st = run(c, TS_SQ_REV_MARK_SUBJECT, MARK_REVOKED(SUBJECT_TOKENS), a->subject, a->now, NULL,
                 &a->tokens, err);
    /* An operator's bulk action is audited even when it found nothing live. */
    char detail[160];
    if (st == TS_OK)
        st = detail_json(detail, sizeof detail, a->reason, a->families, a->tokens, err);
    if (st == TS_OK)
        st = ts_store__sq_audit(c, a->now, "subject_revoked", a->subject, NULL, NULL, a->actor,
                                detail, err);
    return st;
}

ts_status ts_store__sq_subject_revoke(void *impl, const char *subject, const char *reason,
                                      const char *actor, int64_t now, size_t *n_families,
                                      size_t *n_tokens, ts_error *err)
{
    subject_args a = {subject, reason, actor, now, 0, 0};
    ts_status st = ts_store__sq_write(impl, subject_txn, &a, err);
    *n_families = st == TS_OK ? (size_t)a.families : 0;
    *n_tokens = st == TS_OK ? (size_t)a.tokens : 0;
    return st;
}

/* ---- reads ------------------------------------------------------------------------------ */

ts_status ts_store__sq_jti_revoked(void *impl, const char *jti, int64_t now, bool *revoked,
                                   ts_error *err)
{
    ts_sq_store *s = impl;
    ts_sq_conn *c = NULL;
    ts_status st = ts_store__sq_acquire(s, &c, err);
    if (st != TS_OK)
        return st;
    sqlite3_stmt *q = ts_store__sq_stmt(
        c, TS_SQ_REV_CHECK, "SELECT 1 FROM revocations WHERE jti = ?1 AND expires_at > ?2", err);
    if (!q) {
        st = stmt_failed(err);
    } else {
        ts_store__sq_bind_text(q, 1, jti);
        sqlite3_bind_int64(q, 2, now);
        int rc = sqlite3_step(q);
        if (rc == SQLITE_ROW || rc == SQLITE_DONE)
            *revoked = rc == SQLITE_ROW;
        else
            st = ts_store__sq_fail(c, "revocation check", err);
        sqlite3_reset(q);
    }
    ts_store__sq_release(s, c);
    return st;
}

ts_status ts_store__sq_revocations_list(void *impl, int64_t after_seq, int64_t now,
                                        ts_store_revocation *out, size_t cap, size_t *n,
                                        ts_error *err)
{
    ts_sq_store *s = impl;
    ts_sq_conn *c = NULL;
    *n = 0;
    ts_status st = ts_store__sq_acquire(s, &c, err);
    if (st != TS_OK)
        return st;
    sqlite3_stmt *q = ts_store__sq_stmt(c, TS_SQ_REV_LIST,
                                        "SELECT seq, jti, expires_at, revoked_at FROM revocations "
                                        "WHERE seq > ?1 AND expires_at > ?2 ORDER BY seq LIMIT ?3",
                                        err);
    if (!q) {
        st = stmt_failed(err);
    } else {
        sqlite3_bind_int64(q, 1, after_seq);
        sqlite3_bind_int64(q, 2, now);
        sqlite3_bind_int64(q, 3, (sqlite3_int64)cap);
        int rc = SQLITE_DONE;
        while (*n < cap && (rc = sqlite3_step(q)) == SQLITE_ROW) {
            ts_store_revocation *r = &out[*n];
            r->seq = sqlite3_column_int64(q, 0);
            ts_store__sq_col_text(q, 1, r->jti, sizeof r->jti);
            r->expires_at = sqlite3_column_int64(q, 2);
            r->revoked_at = sqlite3_column_int64(q, 3);
            (*n)++;
        }
        if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
            *n = 0;
            st = ts_store__sq_fail(c, "revocation list", err);
        }
        sqlite3_reset(q);
    }
    ts_store__sq_release(s, c);
    return st;
}

ts_status ts_store__sq_issued_get(void *impl, const char *jti, ts_store_issued_record *out,
                                  ts_error *err)
{
    ts_sq_store *s = impl;
    ts_sq_conn *c = NULL;
    ts_status st = ts_store__sq_acquire(s, &c, err);
    if (st != TS_OK)
        return st;
    sqlite3_stmt *q = ts_store__sq_stmt(c, TS_SQ_ISSUED_GET,
                                        "SELECT jti, subject, family_id, client_id, issued_at, "
                                        "expires_at, coalesce(revoked_at, 0) FROM issued_tokens "
                                        "WHERE jti = ?1",
                                        err);
    if (!q) {
        st = stmt_failed(err);
    } else {
        ts_store__sq_bind_text(q, 1, jti);
        int rc = sqlite3_step(q);
        if (rc == SQLITE_ROW) {
            ts_store__sq_col_text(q, 0, out->jti, sizeof out->jti);
            ts_store__sq_col_text(q, 1, out->subject, sizeof out->subject);
            ts_store__sq_col_text(q, 2, out->family_id, sizeof out->family_id);
            ts_store__sq_col_text(q, 3, out->client_id, sizeof out->client_id);
            out->issued_at = sqlite3_column_int64(q, 4);
            out->expires_at = sqlite3_column_int64(q, 5);
            out->revoked_at = sqlite3_column_int64(q, 6);
        } else if (rc == SQLITE_DONE) {
            st = ts_error_set(err, TS_ENOTFOUND, "jti", "no access token recorded with this jti");
        } else {
            st = ts_store__sq_fail(c, "issued get", err);
        }
        sqlite3_reset(q);
    }
    ts_store__sq_release(s, c);
    return st;
}
