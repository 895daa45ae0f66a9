/* Refresh-token families in the PostgreSQL backend: create, rotate (one statement on success:
 * a conditional UPDATE ... RETURNING feeding the inserts of the rotated hash and the audit row;
 * otherwise a transaction that classifies the hash, where a rotated hash revokes the family,
 * audited), revoke. */
#include "pg_internal.h"

#include <stdio.h>
#include <string.h>

void ts_store__pg_read_family(const PGresult *r, int row, ts_store_family *out)
{
    memset(out, 0, sizeof *out);
    ts_store__pg_get_text(r, row, 0, out->id, sizeof out->id);
    ts_store__pg_get_text(r, row, 1, out->subject, sizeof out->subject);
    ts_store__pg_get_text(r, row, 2, out->audience, sizeof out->audience);
    ts_store__pg_get_text(r, row, 3, out->scope, sizeof out->scope);
    out->issued_at = ts_store__pg_get_i64(r, row, 4);
    out->expires_at = ts_store__pg_get_i64(r, row, 5);
    out->last_used_at = ts_store__pg_get_i64(r, row, 6);
    out->usage_count = ts_store__pg_get_i64(r, row, 7);
    out->revoked_at = ts_store__pg_get_i64(r, row, 8);
    ts_store__pg_get_text(r, row, 9, out->revoke_reason, sizeof out->revoke_reason);
    ts_store__pg_get_text(r, row, 10, out->client_id, sizeof out->client_id);
}

/* A single-row query with one parameter giving a family. */
static ts_status family_query(ts_pg_conn *c, ts_pg_stmt_id id, const char *sql, const char *key,
                              ts_store_family *out, bool *found, ts_error *err)
{
    *found = false;
    const char *p[] = {key};
    PGresult *r = ts_store__pg_run(c, id, sql, 1, p, err);
    if (!r)
        return err ? err->code : TS_EIO;
    if (PQntuples(r) == 1) {
        ts_store__pg_read_family(r, 0, out);
        *found = true;
    }
    PQclear(r);
    return TS_OK;
}

ts_status ts_store__pg_family_get_locked(ts_pg_conn *c, const char *family_id, ts_store_family *out,
                                         bool *found, ts_error *err)
{
    return family_query(c, TS_PG_FAM_GET,
                        "SELECT " TS_PG_FAM_COLUMNS " FROM refresh_families WHERE family_id = $1",
                        family_id, out, found, err);
}

ts_status ts_store__pg_family_insert_locked(ts_pg_conn *c, const ts_store_family *f,
                                            const char *first_hash, ts_error *err)
{
    ts_pg_int issued = ts_store__pg_i64(f->issued_at), expires = ts_store__pg_i64(f->expires_at);
    const char *p[] = {f->id,      f->subject, f->audience, f->scope,
                       first_hash, issued.s,   expires.s,   f->client_id};
    PGresult *r = ts_store__pg_run(c, TS_PG_FAM_INSERT,
                                   "INSERT INTO refresh_families (family_id, subject, audience, "
                                   "scope, current_hash, issued_at, expires_at, client_id) "
                                   "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                                   8, p, err);
    if (!r)
        return err ? err->code : TS_EIO;
    PQclear(r);
    return TS_OK;
}

ts_status ts_store__pg_family_revoke_locked(ts_pg_conn *c, const char *family_id,
                                            const char *reason, int64_t now, bool *changed,
                                            ts_error *err)
{
    *changed = false;
    ts_pg_int at = ts_store__pg_i64(now);
    const char *p[] = {family_id, at.s, reason};
    PGresult *r = ts_store__pg_run(c, TS_PG_FAM_REVOKE,
                                   "UPDATE refresh_families SET revoked_at = $2, revoke_reason = "
                                   "$3 WHERE family_id = $1 AND revoked_at IS NULL",
                                   3, p, err);
    if (!r)
        return err ? err->code : TS_EIO;
    *changed = strcmp(PQcmdTuples(r), "1") == 0;
    PQclear(r);
    return TS_OK;
}

typedef struct insert_args {
    const ts_store_family *fam;
    const char *first_hash, *peer;
} insert_args;

static ts_status insert_txn(ts_pg_conn *c, void *arg, ts_error *err)
{
    const insert_args *a = arg;
    ts_status st = ts_store__pg_family_insert_locked(c, a->fam, a->first_hash, err);
    if (st != TS_OK)
        return st;
    char detail[64];
    snprintf(detail, sizeof detail, "{\"expires_at\":%lld}", (long long)a->fam->expires_at);
    return ts_store__pg_audit(c, a->fam->issued_at, "refresh_family_created", a->fam->subject,
                              a->fam->id, a->first_hash, a->peer, detail, err);
}

ts_status ts_store__pg_family_insert(void *impl, const ts_store_family *fam, const char *first_hash,
                                     const char *peer, ts_error *err)
{
    insert_args a = {fam, first_hash, peer};
    return ts_store__pg_txn(impl, insert_txn, &a, err);
}

typedef struct get_args {
    const char *id;
    ts_store_family *out;
    bool found;
} get_args;

static ts_status get_txn(ts_pg_conn *c, void *arg, ts_error *err)
{
    get_args *g = arg;
    return ts_store__pg_family_get_locked(c, g->id, g->out, &g->found, err);
}

ts_status ts_store__pg_family_get(void *impl, const char *family_id, ts_store_family *out,
                                  ts_error *err)
{
    get_args g = {family_id, out, false};
    ts_status st = ts_store__pg_txn(impl, get_txn, &g, err);
    if (st == TS_OK && !g.found)
        st = ts_error_set(err, TS_ENOTFOUND, "family_id", "no refresh family with this id");
    return st;
}

typedef struct revoke_args {
    const char *family_id, *reason;
    int64_t now;
    bool *revoked;
} revoke_args;

static ts_status revoke_txn(ts_pg_conn *c, void *arg, ts_error *err)
{
    const revoke_args *a = arg;
    ts_status st =
        ts_store__pg_family_revoke_locked(c, a->family_id, a->reason, a->now, a->revoked, err);
    if (st != TS_OK)
        return st;
    ts_store_family f;
    bool found = false;
    st = ts_store__pg_family_get_locked(c, a->family_id, &f, &found, err);
    if (st != TS_OK)
        return st;
    if (!found)
        return ts_error_set(err, TS_ENOTFOUND, "family_id", "no refresh family with this id");
    if (!*a->revoked)
        return TS_OK;
    char detail[128];
    size_t n = (size_t)snprintf(detail, sizeof detail, "{\"reason\":");
    ts_store__sq_json_str(detail, sizeof detail, &n, a->reason);
    if (n + 2 > sizeof detail)
        return ts_error_set(err, TS_EINTERNAL, "family revoke", "audit detail overflow");
    detail[n++] = '}';
    detail[n] = '\0';
    return ts_store__pg_audit(c, a->now, "refresh_token_family_revoked", f.subject, f.id, NULL, "",
                              detail, err);
}

ts_status ts_store__pg_family_revoke(void *impl, const char *family_id, const char *reason,
                                     int64_t now, bool *revoked, ts_error *err)
{
    revoke_args a = {family_id, reason, now, revoked};
    ts_status st = ts_store__pg_txn(impl, revoke_txn, &a, err);
    if (st != TS_OK)
        *revoked = false;
    return st;
}

/* The presented hash is not (or no longer) the current token of an active family. */
static ts_status not_rotated(ts_pg_conn *c, const char *presented, const char *peer, int64_t now,
                             ts_store_rotate_result *out, ts_error *err)
{
    ts_store_family *f = &out->family;
    bool found = false;
    ts_status st =
        family_query(c, TS_PG_FAM_BY_CURRENT,
                     "SELECT " TS_PG_FAM_COLUMNS " FROM refresh_families WHERE current_hash = $1",
                     presented, f, &found, err);
    if (st != TS_OK)
        return st;
    if (found) {
        out->outcome = f->revoked_at != 0 ? TS_STORE_ROTATE_REVOKED : TS_STORE_ROTATE_EXPIRED;
        return TS_OK;
    }
    st = family_query(c, TS_PG_FAM_BY_ROTATED,
                      "SELECT " TS_PG_FAM_COLUMNS " FROM refresh_families WHERE family_id = "
                      "(SELECT family_id FROM refresh_rotated WHERE token_hash = $1)",
                      presented, f, &found, err);
    if (st != TS_OK)
        return st;
    if (!found) {
        memset(f, 0, sizeof *f);
        out->outcome = TS_STORE_ROTATE_NOT_FOUND;
        return TS_OK;
    }
    out->replayed = true;
    if (f->revoked_at != 0) {
        /* Nothing changes, so nothing is written (the front end counts these replays). */
        out->outcome = TS_STORE_ROTATE_REVOKED;
        return TS_OK;
    }
    if (f->expires_at <= now) {
        out->outcome = TS_STORE_ROTATE_EXPIRED;
        return TS_OK;
    }
    /* Reuse: revoke the family. The UPDATE is conditional, so of two replicas that see the
     * same replay at once only one revokes and audits; the other reports the family revoked
     * (a replay of an already revoked family, counted by the front end). */
    bool changed = false;
    st = ts_store__pg_family_revoke_locked(c, f->id, "reuse_detected", now, &changed, err);
    if (st != TS_OK)
        return st;
    if (!changed) {
        out->outcome = TS_STORE_ROTATE_REVOKED;
        return TS_OK;
    }
    st = ts_store__pg_audit(c, now, "refresh_token_replay_detected", f->subject, f->id, presented,
                            peer, NULL, err);
    if (st == TS_OK)
        st = ts_store__pg_audit(c, now, "refresh_token_family_revoked", f->subject, f->id,
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

/* The success path of a rotation as ONE statement, run in autocommit: the compare-and-set
 * (only one statement moves current_hash away from the presented hash; a concurrent one waits
 * for its row lock, re-checks the WHERE clause against the committed row and no longer
 * matches), the presented hash into refresh_rotated, and the refresh_token_rotated audit row
 * that ts_store__pg_audit would write: same columns, the presented hash's prefix ($5), the
 * detail {"usage_count":N} of the new count. Data-modifying CTEs all run, once, whether or not
 * the outer SELECT reads them; the inserts take their rows from the UPDATE's RETURNING, so
 * they write nothing when it matched nothing. */
#define ROTATE_SQL                                                                                 \
    "WITH f AS (UPDATE refresh_families SET current_hash = $1::text, usage_count = usage_count "   \
    "+ 1, last_used_at = $3::bigint WHERE current_hash = $2::text AND revoked_at IS NULL AND "     \
    "expires_at > $3::bigint RETURNING *), "                                                       \
    "r AS (INSERT INTO refresh_rotated (token_hash, family_id, rotated_at) SELECT $2::text, "      \
    "family_id, $3::bigint FROM f), "                                                              \
    "a AS (INSERT INTO " TS_PG_AUDIT_INTO " SELECT $3::bigint, 'refresh_token_rotated', subject, " \
    "family_id, $5::text, $4::text, ('{\"usage_count\":' || usage_count || '}')::json FROM f) "    \
    "SELECT " TS_PG_FAM_COLUMNS " FROM f"

static ts_status rotate_once(ts_pg_conn *c, void *arg, ts_error *err)
{
    const rotate_args *a = arg;
    ts_store_rotate_result *out = a->out;
    memset(out, 0, sizeof *out); /* a retried statement starts afresh */
    out->outcome = TS_STORE_ROTATE_NOT_FOUND;
    ts_pg_int now = ts_store__pg_i64(a->now);
    char prefix[TS_STORE_PREFIX_LEN + 1];
    ts_store_hash_prefix(a->presented, prefix);
    const char *p[] = {a->new_hash, a->presented, now.s, a->peer ? a->peer : "", prefix};
    PGresult *q = ts_store__pg_run(c, TS_PG_FAM_ROTATE, ROTATE_SQL, 5, p, err);
    if (!q)
        return err ? err->code : TS_EIO;
    if (PQntuples(q) == 1) {
        ts_store__pg_read_family(q, 0, &out->family);
        out->outcome = TS_STORE_ROTATE_OK;
    }
    PQclear(q);
    return TS_OK;
}

/* The presented hash did not rotate: classify it in a transaction (a reuse revokes the family
 * and writes two audit rows, which commit together). The compare-and-set is not tried again:
 * a hash that did not match it never will (current_hash only ever moves to a new random hash,
 * a revocation is final, an expiry is never extended). */
static ts_status classify_txn(ts_pg_conn *c, void *arg, ts_error *err)
{
    const rotate_args *a = arg;
    memset(a->out, 0, sizeof *a->out); /* a retried transaction starts afresh */
    a->out->outcome = TS_STORE_ROTATE_NOT_FOUND;
    return not_rotated(c, a->presented, a->peer, a->now, a->out, err);
}

ts_status ts_store__pg_refresh_rotate(void *impl, const char *presented_hash, const char *new_hash,
                                      const char *peer, int64_t now, ts_store_rotate_result *out,
                                      ts_error *err)
{
    rotate_args a = {presented_hash, new_hash, peer, now, out};
    ts_status st = ts_store__pg_once(impl, rotate_once, &a, err);
    if (st == TS_OK && out->outcome != TS_STORE_ROTATE_OK)
        st = ts_store__pg_txn(impl, classify_txn, &a, err);
    return st;
}

/* Both places a hash can be in, read by one statement (one snapshot); the extra column tells
 * which one matched. A hash is never current and rotated at once. */
#define REFRESH_GET_SQL                                                                            \
    "SELECT " TS_PG_FAM_COLUMNS ", 1 FROM refresh_families WHERE current_hash = $1 UNION ALL "     \
    "SELECT " TS_PG_FAM_COLUMNS ", 0 FROM refresh_families WHERE family_id = (SELECT family_id "   \
    "FROM refresh_rotated WHERE token_hash = $1) LIMIT 1"

typedef struct refresh_get_args {
    const char *hash;
    ts_store_family *out;
    bool found, current;
} refresh_get_args;

static ts_status refresh_get_once(ts_pg_conn *c, void *arg, ts_error *err)
{
    refresh_get_args *g = arg;
    const char *p[] = {g->hash};
    PGresult *r = ts_store__pg_run(c, TS_PG_FAM_BY_HASH, REFRESH_GET_SQL, 1, p, err);
    if (!r)
        return err ? err->code : TS_EIO;
    g->found = PQntuples(r) == 1;
    if (g->found) {
        ts_store__pg_read_family(r, 0, g->out);
        g->current = ts_store__pg_get_i64(r, 0, 11) == 1;
    }
    PQclear(r);
    return TS_OK;
}

ts_status ts_store__pg_refresh_get(void *impl, const char *token_hash, ts_store_family *out,
                                   bool *current, ts_error *err)
{
    refresh_get_args g = {token_hash, out, false, false};
    ts_status st = ts_store__pg_once(impl, refresh_get_once, &g, err);
    *current = st == TS_OK && g.current;
    if (st == TS_OK && !g.found)
        st = ts_error_set(err, TS_ENOTFOUND, "token_hash", "no refresh family knows this token");
    return st;
}
