/* Revocation in the PostgreSQL backend (store_revocation.h): issued access tokens by jti, and
 * the revocations verifiers poll by seq.
 *
 * Seq order: an identity value is taken when a row is inserted, but transactions commit in
 * any order, so a reader could see seq 12 committed while 11 is still in flight and move its
 * cursor past 11 for ever. Every transaction that inserts revocations therefore first takes a
 * transaction-scoped advisory lock (REVOKE_LOCK), held until it commits: seqs are taken and
 * committed one transaction at a time, so a snapshot that shows seq N shows every lower seq
 * that ever commits. Revocations are rare; grants never take the lock. */
#include "pg_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "tsrevseq" as a 64-bit number. */
#define REVOKE_LOCK "8391176310825903473"

/* The tokens a revocation by family or by subject reaches ($1 the family or subject, $2 now,
 * $3 the reason): revocations are inserted for them (in issue order) and they are marked in
 * one statement; the count is of the tokens newly revoked. */
#define REVOKE_TOKENS(cond)                                                                        \
    "WITH t AS (UPDATE issued_tokens SET revoked_at = $2::bigint WHERE " cond                      \
    " AND revoked_at IS NULL AND expires_at > $2::bigint RETURNING jti, expires_at, issued_at), "  \
    "i AS (INSERT INTO revocations (jti, expires_at, revoked_at, reason) SELECT jti, expires_at, " \
    "$2::bigint, $3 FROM t ORDER BY issued_at, jti ON CONFLICT (jti) DO NOTHING) "                 \
    "SELECT count(*) FROM t"

static ts_status run_failed(ts_error *err)
{
    return err && err->code != TS_OK ? err->code : TS_EIO;
}

static ts_status lock_seq(ts_pg_conn *c, ts_error *err)
{
    PGresult *r = ts_store__pg_run(c, TS_PG_REV_LOCK,
                                   "SELECT pg_advisory_xact_lock(" REVOKE_LOCK ")", 0, NULL, err);
    if (!r)
        return run_failed(err);
    PQclear(r);
    return TS_OK;
}

/* {"reason":R[,"families":M][,"tokens":N]}; a negative count is left out. */
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

/* Insert the revocation of @p jti (expiring at @p expires_at, or later when the recorded token
 * does) unless it is revoked already; the caller holds REVOKE_LOCK. */
static ts_status insert_revocation(ts_pg_conn *c, const char *jti, int64_t expires_at, int64_t now,
                                   const char *reason, bool *inserted, ts_error *err)
{
    *inserted = false;
    ts_pg_int exp = ts_store__pg_i64(expires_at), at = ts_store__pg_i64(now);
    const char *p[] = {jti, at.s, reason, exp.s};
    PGresult *r = ts_store__pg_run(
        c, TS_PG_REV_INSERT_JTI,
        "INSERT INTO revocations (jti, expires_at, revoked_at, reason) VALUES ($1, "
        "greatest($4::bigint, coalesce((SELECT expires_at FROM issued_tokens WHERE jti = $1), "
        "0)), $2::bigint, $3) ON CONFLICT (jti) DO NOTHING",
        4, p, err);
    if (!r)
        return run_failed(err);
    *inserted = strcmp(PQcmdTuples(r), "1") == 0;
    PQclear(r);
    return TS_OK;
}

/* ---- token_issued ---------------------------------------------------------------------- */

typedef struct issued_args {
    const ts_store_issued *t;
    const ts_store_audit_entry *audit;
} issued_args;

static ts_status issued_txn(ts_pg_conn *c, void *arg, ts_error *err)
{
    const issued_args *a = arg;
    const ts_store_issued *t = a->t;
    /* FOR SHARE: a concurrent revocation of the family (which updates its row) either commits
     * first, and this token is recorded revoked, or waits for this commit, and then finds the
     * token. A revoked family has no live access token either way. */
    int64_t fam_revoked = 0;
    if (*t->family_id) {
        const char *p[] = {t->family_id};
        PGresult *r = ts_store__pg_run(c, TS_PG_ISSUED_FAMILY_STATE,
                                       "SELECT coalesce(revoked_at, 0) FROM refresh_families "
                                       "WHERE family_id = $1 FOR SHARE",
                                       1, p, err);
        if (!r)
            return run_failed(err);
        if (PQntuples(r) == 1)
            fam_revoked = ts_store__pg_get_i64(r, 0, 0);
        PQclear(r);
    }
    ts_pg_int iat = ts_store__pg_i64(t->issued_at), exp = ts_store__pg_i64(t->expires_at);
    const char *p[] = {
        t->jti, t->subject, t->family_id, t->client_id, iat.s, exp.s, fam_revoked ? iat.s : NULL};
    PGresult *r = ts_store__pg_run(
        c, TS_PG_ISSUED_INSERT,
        "INSERT INTO issued_tokens (jti, subject, family_id, client_id, issued_at, expires_at, "
        "revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (jti) DO NOTHING",
        7, p, err);
    if (!r)
        return run_failed(err);
    bool inserted = strcmp(PQcmdTuples(r), "1") == 0;
    PQclear(r);
    if (!inserted)
        return ts_error_set(err, TS_EINVAL, "jti", "an access token with this jti is recorded");
    ts_status st = TS_OK;
    if (fam_revoked) {
        bool added = false;
        char detail[96];
        st = lock_seq(c, err);
        if (st == TS_OK)
            st = insert_revocation(c, t->jti, t->expires_at, t->issued_at, "family_revoked", &added,
                                   err);
        if (st == TS_OK)
            st = detail_json(detail, sizeof detail, "family_revoked", -1, -1, err);
        if (st == TS_OK)
            st = ts_store__pg_audit(c, t->issued_at, "token_revoked", t->subject, t->jti, NULL, "",
                                    detail, err);
    }
    if (st == TS_OK && a->audit)
        st = ts_store__pg_audit_entry(c, a->audit, err);
    return st;
}

ts_status ts_store__pg_token_issued(void *impl, const ts_store_issued *t,
                                    const ts_store_audit_entry *audit, ts_error *err)
{
    issued_args a = {t, audit};
    return ts_store__pg_txn(impl, issued_txn, &a, err);
}

/* ---- jti_revoke ------------------------------------------------------------------------ */

typedef struct jti_args {
    const char *jti, *reason, *actor;
    int64_t expires_at, now;
    bool revoked;
} jti_args;

static ts_status jti_txn(ts_pg_conn *c, void *arg, ts_error *err)
{
    jti_args *a = arg;
    a->revoked = false; /* a retried transaction computes it afresh */
    ts_status st = lock_seq(c, err);
    if (st == TS_OK)
        st = insert_revocation(c, a->jti, a->expires_at, a->now, a->reason, &a->revoked, err);
    if (st != TS_OK)
        return st;
    ts_pg_int at = ts_store__pg_i64(a->now);
    const char *p[] = {a->jti, at.s};
    PGresult *r = ts_store__pg_run(c, TS_PG_REV_MARK_JTI,
                                   "UPDATE issued_tokens SET revoked_at = $2 WHERE jti = $1 AND "
                                   "revoked_at IS NULL",
                                   2, p, err);
    if (!r)
        return run_failed(err);
    PQclear(r);
    if (!a->revoked)
        return TS_OK;
    char detail[96];
    st = detail_json(detail, sizeof detail, a->reason, -1, -1, err);
    if (st == TS_OK)
        st = ts_store__pg_audit(c, a->now, "token_revoked", NULL, a->jti, NULL, a->actor, detail,
                                err);
    return st;
}

ts_status ts_store__pg_jti_revoke(void *impl, const char *jti, int64_t expires_at,
                                  const char *reason, const char *actor, int64_t now, bool *revoked,
                                  ts_error *err)
{
    jti_args a = {jti, reason, actor, expires_at, now, false};
    ts_status st = ts_store__pg_txn(impl, jti_txn, &a, err);
    *revoked = st == TS_OK && a.revoked;
    return st;
}

/* ---- family_revoke_tokens -------------------------------------------------------------- */

/* Revoke the tokens REVOKE_TOKENS(@p cond) reaches; *@p n receives how many. */
static ts_status revoke_tokens(ts_pg_conn *c, ts_pg_stmt_id id, const char *sql, const char *key,
                               int64_t now, const char *reason, int64_t *n, ts_error *err)
{
    ts_pg_int at = ts_store__pg_i64(now);
    const char *p[] = {key, at.s, reason};
    PGresult *r = ts_store__pg_run(c, id, sql, 3, p, err);
    if (!r)
        return run_failed(err);
    *n = PQntuples(r) == 1 ? ts_store__pg_get_i64(r, 0, 0) : 0;
    PQclear(r);
    return TS_OK;
}

typedef struct family_args {
    const char *family_id, *reason, *actor;
    int64_t now;
    bool revoked;
    int64_t tokens;
} family_args;

static ts_status family_txn(ts_pg_conn *c, void *arg, ts_error *err)
{
    family_args *a = arg;
    a->revoked = false;
    a->tokens = 0;
    ts_status st = lock_seq(c, err);
    if (st == TS_OK)
        st =
            ts_store__pg_family_revoke_locked(c, a->family_id, a->reason, a->now, &a->revoked, err);
    ts_store_family f;
    bool found = false;
    if (st == TS_OK)
        st = ts_store__pg_family_get_locked(c, a->family_id, &f, &found, err);
    if (st == TS_OK && !found)
        return ts_error_set(err, TS_ENOTFOUND, "family_id", "no refresh family with this id");
    if (st == TS_OK)
        st = revoke_tokens(c, TS_PG_REV_FAMILY_TOKENS, REVOKE_TOKENS("family_id = $1"),
                           a->family_id, a->now, a->reason, &a->tokens, err);
    if (st != TS_OK || (!a->revoked && a->tokens == 0))
        return st;
    char detail[128];
    st = detail_json(detail, sizeof detail, a->reason, -1, a->tokens, err);
    if (st == TS_OK)
        st = ts_store__pg_audit(c, a->now, "refresh_token_family_revoked", f.subject, f.id, NULL,
                                a->actor, detail, err);
    return st;
}

ts_status ts_store__pg_family_revoke_tokens(void *impl, const char *family_id, const char *reason,
                                            const char *actor, int64_t now, size_t *n_tokens,
                                            bool *revoked, ts_error *err)
{
    family_args a = {family_id, reason, actor, now, false, 0};
    ts_status st = ts_store__pg_txn(impl, family_txn, &a, err);
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

static ts_status subject_txn(ts_pg_conn *c, void *arg, ts_error *err)
{
    subject_args *a = arg;
    a->families = a->tokens = 0;
    ts_status st = lock_seq(c, err);
    if (st != TS_OK)
        return st;
    ts_pg_int at = ts_store__pg_i64(a->now);
    const char *p[] = {a->subject, at.s, a->reason};
    PGresult *r = ts_store__pg_run(c, TS_PG_REV_FAMILIES_SUBJECT,
                                   "UPDATE refresh_families SET revoked_at = $2, revoke_reason = "
                                   "$3 WHERE subject = $1 AND revoked_at IS NULL AND expires_at > "
                                   "$2",
                                   3, p, err);
    if (!r)
        return run_failed(err);
    a->families = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    st = revoke_tokens(c, TS_PG_REV_SUBJECT_TOKENS,
                       REVOKE_TOKENS("(subject = $1 OR family_id IN (SELECT family_id FROM "
                                     "refresh_families WHERE subject = $1))"),
                       a->subject, a->now, a->reason, &a->tokens, err);
    /* An operator's bulk action is audited even when it found nothing live. */
    char detail[160];
    if (st == TS_OK)
        st = detail_json(detail, sizeof detail, a->reason, a->families, a->tokens, err);
    if (st == TS_OK)
        st = ts_store__pg_audit(c, a->now, "subject_revoked", a->subject, NULL, NULL, a->actor,
                                detail, err);
    return st;
}

ts_status ts_store__pg_subject_revoke(void *impl, const char *subject, const char *reason,
                                      const char *actor, int64_t now, size_t *n_families,
                                      size_t *n_tokens, ts_error *err)
{
    subject_args a = {subject, reason, actor, now, 0, 0};
    ts_status st = ts_store__pg_txn(impl, subject_txn, &a, err);
    *n_families = st == TS_OK ? (size_t)a.families : 0;
    *n_tokens = st == TS_OK ? (size_t)a.tokens : 0;
    return st;
}

/* ---- reads ------------------------------------------------------------------------------ */

static int check_row(const PGresult *rows, int row, void *ud)
{
    (void)rows;
    (void)row;
    *(bool *)ud = true;
    return 1;
}

ts_status ts_store__pg_jti_revoked(void *impl, const char *jti, int64_t now, bool *revoked,
                                   ts_error *err)
{
    ts_pg_int at = ts_store__pg_i64(now);
    const char *p[] = {jti, at.s};
    bool found = false;
    ts_status st = ts_store__pg_rows(impl, TS_PG_REV_CHECK,
                                     "SELECT 1 FROM revocations WHERE jti = $1 AND expires_at > $2",
                                     2, p, check_row, &found, err);
    if (st == TS_OK)
        *revoked = found;
    return st;
}

typedef struct list_args {
    ts_store_revocation *out;
    size_t cap, n;
} list_args;

static int list_row(const PGresult *rows, int row, void *ud)
{
    list_args *l = ud;
    if (l->n >= l->cap)
        return 1;
    ts_store_revocation *r = &l->out[l->n++];
    r->seq = ts_store__pg_get_i64(rows, row, 0);
    ts_store__pg_get_text(rows, row, 1, r->jti, sizeof r->jti);
    r->expires_at = ts_store__pg_get_i64(rows, row, 2);
    r->revoked_at = ts_store__pg_get_i64(rows, row, 3);
    return 0;
}

ts_status ts_store__pg_revocations_list(void *impl, int64_t after_seq, int64_t now,
                                        ts_store_revocation *out, size_t cap, size_t *n,
                                        ts_error *err)
{
    ts_pg_int after = ts_store__pg_i64(after_seq), at = ts_store__pg_i64(now),
              lim = ts_store__pg_i64((int64_t)cap);
    const char *p[] = {after.s, at.s, lim.s};
    list_args l = {out, cap, 0};
    ts_status st = ts_store__pg_rows(impl, TS_PG_REV_LIST,
                                     "SELECT seq, jti, expires_at, revoked_at FROM revocations "
                                     "WHERE seq > $1 AND expires_at > $2 ORDER BY seq LIMIT $3",
                                     3, p, list_row, &l, err);
    *n = st == TS_OK ? l.n : 0;
    return st;
}

typedef struct get_args {
    ts_store_issued_record *out;
    bool found;
} get_args;

static int get_row(const PGresult *rows, int row, void *ud)
{
    get_args *g = ud;
    ts_store_issued_record *o = g->out;
    ts_store__pg_get_text(rows, row, 0, o->jti, sizeof o->jti);
    ts_store__pg_get_text(rows, row, 1, o->subject, sizeof o->subject);
    ts_store__pg_get_text(rows, row, 2, o->family_id, sizeof o->family_id);
    ts_store__pg_get_text(rows, row, 3, o->client_id, sizeof o->client_id);
    o->issued_at = ts_store__pg_get_i64(rows, row, 4);
    o->expires_at = ts_store__pg_get_i64(rows, row, 5);
    o->revoked_at = ts_store__pg_get_i64(rows, row, 6);
    g->found = true;
    return 1;
}

ts_status ts_store__pg_issued_get(void *impl, const char *jti, ts_store_issued_record *out,
                                  ts_error *err)
{
    const char *p[] = {jti};
    get_args g = {out, false};
    ts_status st = ts_store__pg_rows(impl, TS_PG_ISSUED_GET,
                                     "SELECT jti, subject, family_id, client_id, issued_at, "
                                     "expires_at, coalesce(revoked_at, 0) FROM issued_tokens "
                                     "WHERE jti = $1",
                                     1, p, get_row, &g, err);
    if (st == TS_OK && !g.found)
        st = ts_error_set(err, TS_ENOTFOUND, "jti", "no access token recorded with this jti");
    return st;
}
