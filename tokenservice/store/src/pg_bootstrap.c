/* Bootstrap tokens in the PostgreSQL backend: insert, look up, and the redeem, whose success
 * is one statement: a conditional UPDATE ... RETURNING feeding the inserts of the refresh
 * family and the audit record; a token it did not consume is classified in a transaction. */
#include "pg_internal.h"

#include <stdio.h>
#include <string.h>

void ts_store__pg_read_bootstrap(const PGresult *r, int row, ts_store_bootstrap_record *out)
{
    memset(out, 0, sizeof *out);
    ts_store__pg_get_text(r, row, 0, out->id, sizeof out->id);
    ts_store__pg_get_text(r, row, 1, out->token_hash, sizeof out->token_hash);
    ts_store__pg_get_text(r, row, 2, out->subject, sizeof out->subject);
    ts_store__pg_get_text(r, row, 3, out->audience, sizeof out->audience);
    ts_store__pg_get_text(r, row, 4, out->scope, sizeof out->scope);
    ts_store__pg_get_text(r, row, 5, out->binding_id, sizeof out->binding_id);
    out->ttl_s = ts_store__pg_get_i64(r, row, 6);
    out->refresh_ttl_s = ts_store__pg_get_i64(r, row, 7);
    out->created_at = ts_store__pg_get_i64(r, row, 8);
    out->expires_at = ts_store__pg_get_i64(r, row, 9);
    out->consumed_at = ts_store__pg_get_i64(r, row, 10);
    ts_store__pg_get_text(r, row, 11, out->consumed_by, sizeof out->consumed_by);
    out->replay_attempts = ts_store__pg_get_i64(r, row, 12);
    out->reissue_count = ts_store__pg_get_i64(r, row, 13);
    ts_store__pg_get_text(r, row, 14, out->family_id, sizeof out->family_id);
}

static ts_status get_locked(ts_pg_conn *c, const char *hash, ts_store_bootstrap_record *out,
                            bool *found, ts_error *err)
{
    *found = false;
    const char *p[] = {hash};
    PGresult *r = ts_store__pg_run(
        c, TS_PG_BT_GET, "SELECT " TS_PG_BT_COLUMNS " FROM bootstrap_tokens WHERE token_hash = $1",
        1, p, err);
    if (!r)
        return err ? err->code : TS_EIO;
    if (PQntuples(r) == 1) {
        ts_store__pg_read_bootstrap(r, 0, out);
        *found = true;
    }
    PQclear(r);
    return TS_OK;
}

/* The audit detail of a creation: {"audience":..,"scope":..,"expires_at":..}, or NULL when it
 * would not fit. */
static const char *created_detail(const ts_store_bootstrap_record *rec, char *detail, size_t cap)
{
    size_t n = (size_t)snprintf(detail, cap, "{\"audience\":");
    bool fits = ts_store__sq_json_str(detail, cap, &n, rec->audience) && n + 10 < cap;
    if (fits) {
        memcpy(detail + n, ",\"scope\":", 10);
        n += 9;
        fits = ts_store__sq_json_str(detail, cap, &n, rec->scope);
    }
    if (fits) {
        int k = snprintf(detail + n, cap - n, ",\"expires_at\":%lld}", (long long)rec->expires_at);
        fits = k > 0 && (size_t)k < cap - n;
    }
    return fits ? detail : NULL;
}

static ts_status insert_txn(ts_pg_conn *c, void *arg, ts_error *err)
{
    const ts_store_bootstrap_record *rec = arg;
    ts_pg_int ttl = ts_store__pg_i64(rec->ttl_s), rttl = ts_store__pg_i64(rec->refresh_ttl_s);
    ts_pg_int created = ts_store__pg_i64(rec->created_at);
    ts_pg_int expires = ts_store__pg_i64(rec->expires_at);
    const char *p[] = {rec->token_hash, rec->id, rec->subject, rec->audience, rec->scope,
                       rec->binding_id, ttl.s,   rttl.s,       created.s,     expires.s};
    PGresult *r = ts_store__pg_run(c, TS_PG_BT_INSERT,
                                   "INSERT INTO bootstrap_tokens (token_hash, id, subject, "
                                   "audience, scope, binding_id, ttl_s, refresh_ttl_s, "
                                   "created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, "
                                   "$8, $9, $10)",
                                   10, p, err);
    if (!r)
        return err ? err->code : TS_EIO;
    PQclear(r);
    char detail[TS_STORE_MAX_DETAIL_LEN];
    return ts_store__pg_audit(c, rec->created_at, "bootstrap_token_created", rec->subject, rec->id,
                              rec->token_hash, "", created_detail(rec, detail, sizeof detail), err);
}

ts_status ts_store__pg_bootstrap_insert(void *impl, const ts_store_bootstrap_record *rec,
                                        ts_error *err)
{
    return ts_store__pg_txn(impl, insert_txn, (void *)(uintptr_t)rec, err);
}

typedef struct get_args {
    const char *hash;
    ts_store_bootstrap_record *out;
    bool found;
} get_args;

static ts_status get_txn(ts_pg_conn *c, void *arg, ts_error *err)
{
    get_args *g = arg;
    return get_locked(c, g->hash, g->out, &g->found, err);
}

ts_status ts_store__pg_bootstrap_get(void *impl, const char *token_hash,
                                     ts_store_bootstrap_record *out, ts_error *err)
{
    get_args g = {token_hash, out, false};
    ts_status st = ts_store__pg_txn(impl, get_txn, &g, err);
    if (st == TS_OK && !g.found)
        st = ts_error_set(err, TS_ENOTFOUND, "token_hash", "no bootstrap token with this hash");
    return st;
}

/* The lost-response retry (see ts_store_bootstrap_redeem() for the conditions). Concurrent
 * retries are decided by conditional UPDATEs, not by what an earlier SELECT saw: only the
 * one that revokes the old family (still unrevoked, never refreshed) and moves the bootstrap
 * record from that family (reissue_count still below the maximum) reissues. */
static ts_status try_reissue(ts_pg_conn *c, const ts_store_redeem_args *a,
                             ts_store_redeem_result *out, bool *done, ts_error *err)
{
    ts_store_bootstrap_record *r = &out->record;
    *done = false;
    if (!ts_store__reissue_allowed(r, a))
        return TS_OK;
    ts_pg_int now = ts_store__pg_i64(a->now);
    const char *p1[] = {r->family_id, now.s};
    PGresult *q =
        ts_store__pg_run(c, TS_PG_FAM_REVOKE_FOR_REISSUE,
                         "UPDATE refresh_families SET revoked_at = $2, revoke_reason = "
                         "'bootstrap_retry' WHERE family_id = $1 AND revoked_at IS NULL "
                         "AND usage_count = 0 AND expires_at > $2 RETURNING " TS_PG_FAM_COLUMNS,
                         2, p1, err);
    if (!q)
        return err ? err->code : TS_EIO;
    ts_store_family old;
    bool revoked = PQntuples(q) == 1;
    if (revoked)
        ts_store__pg_read_family(q, 0, &old);
    PQclear(q);
    if (!revoked)
        return TS_OK;
    ts_status st =
        ts_store__pg_audit(c, a->now, "refresh_token_family_revoked", old.subject, old.id, NULL,
                           a->peer, "{\"reason\":\"bootstrap_retry\"}", err);
    ts_store_family fam;
    ts_store__family_from_record(r, a, &fam);
    if (st == TS_OK)
        st = ts_store__pg_family_insert_locked(c, &fam, a->refresh_hash, err);
    if (st != TS_OK)
        return st;
    ts_pg_int max = ts_store__pg_i64((int64_t)a->retry_max);
    const char *p2[] = {fam.id, r->token_hash, old.id, max.s};
    q = ts_store__pg_run(c, TS_PG_BT_REISSUE,
                         "UPDATE bootstrap_tokens SET family_id = $1, reissue_count = "
                         "reissue_count + 1 WHERE token_hash = $2 AND family_id = $3 AND "
                         "reissue_count < $4 RETURNING reissue_count",
                         4, p2, err);
    if (!q)
        return err ? err->code : TS_EIO;
    bool moved = PQntuples(q) == 1;
    if (moved)
        r->reissue_count = ts_store__pg_get_i64(q, 0, 0);
    PQclear(q);
    if (!moved) /* cannot happen while the family row was ours; refuse rather than guess */
        return ts_error_set(err, TS_EIO, "bootstrap reissue",
                            "the bootstrap record changed during the reissue");
    ts_common__copyz(r->family_id, sizeof r->family_id, fam.id);
    char detail[256];
    snprintf(detail, sizeof detail,
             "{\"family_id\":\"%s\",\"revoked_family_id\":\"%s\",\"reissue_count\":%lld}", fam.id,
             old.id, (long long)r->reissue_count);
    st = ts_store__pg_audit(c, a->now, "bootstrap_token_reissued", r->subject, r->id, r->token_hash,
                            a->peer, detail, err);
    if (st != TS_OK)
        return st;
    out->outcome = TS_STORE_REDEEM_REISSUED;
    out->family = fam;
    ts_common__copyz(out->revoked_family_id, sizeof out->revoked_family_id, old.id);
    *done = true;
    return TS_OK;
}

static ts_status redeem_not_consumed_now(ts_pg_conn *c, const ts_store_redeem_args *a,
                                         ts_store_redeem_result *out, ts_error *err)
{
    bool found = false;
    ts_status st = get_locked(c, a->token_hash, &out->record, &found, err);
    if (st != TS_OK)
        return st;
    ts_store_bootstrap_record *r = &out->record;
    if (!found) {
        out->outcome = TS_STORE_REDEEM_NOT_FOUND;
        memset(&out->record, 0, sizeof out->record);
        return TS_OK;
    }
    if (r->consumed_at == 0) {
        out->outcome = TS_STORE_REDEEM_EXPIRED;
        return ts_store__pg_audit(c, a->now, "bootstrap_token_expired", r->subject, r->id,
                                  r->token_hash, a->peer, NULL, err);
    }
    bool done = false;
    st = try_reissue(c, a, out, &done, err);
    if (st != TS_OK || done)
        return st;
    const char *p[] = {a->token_hash};
    PGresult *q = ts_store__pg_run(c, TS_PG_BT_COUNT_REPLAY,
                                   "UPDATE bootstrap_tokens SET replay_attempts = replay_attempts "
                                   "+ 1 WHERE token_hash = $1 RETURNING replay_attempts",
                                   1, p, err);
    if (!q)
        return err ? err->code : TS_EIO;
    if (PQntuples(q) == 1)
        r->replay_attempts = ts_store__pg_get_i64(q, 0, 0);
    PQclear(q);
    char detail[64];
    snprintf(detail, sizeof detail, "{\"replay_attempts\":%lld}", (long long)r->replay_attempts);
    out->outcome = TS_STORE_REDEEM_ALREADY_CONSUMED;
    return ts_store__pg_audit(c, a->now, "bootstrap_token_replay_attempted", r->subject, r->id,
                              r->token_hash, a->peer, detail, err);
}

typedef struct redeem_args {
    const ts_store_redeem_args *a;
    ts_store_redeem_result *out;
} redeem_args;

/* The success path of a redemption as ONE statement, run in autocommit: the compare-and-set
 * (of concurrent statements, only one moves consumed_at from NULL; a second one waits for the
 * first's row lock and then re-checks the WHERE clause against the committed row (READ
 * COMMITTED), which no longer matches), the refresh family, and the bootstrap_token_exchanged
 * audit row that ts_store__pg_audit would write (the token hash's prefix $6, the detail $7).
 * The family is the one ts_store__family_from_record() describes (redeem_rules.c): the
 * caller's family id ($3) and first hash ($5), the record's subject, audience and scope,
 * issued now, expiring refresh_ttl_s later, issued to the caller's client ($8). The inserts take
 * their rows from the UPDATE's RETURNING, so they write nothing when it matched nothing. */
#define REDEEM_SQL                                                                                 \
    "WITH b AS (UPDATE bootstrap_tokens SET consumed_at = $1::bigint, consumed_by = $2::text, "    \
    "family_id = $3::text WHERE token_hash = $4::text AND consumed_at IS NULL AND expires_at > "   \
    "$1::bigint RETURNING *), "                                                                    \
    "f AS (INSERT INTO refresh_families (family_id, subject, audience, scope, current_hash, "      \
    "issued_at, expires_at, client_id) SELECT $3::text, subject, audience, scope, $5::text, "      \
    "$1::bigint, $1::bigint + refresh_ttl_s, $8::text FROM b), "                                   \
    "a AS (INSERT INTO " TS_PG_AUDIT_INTO " SELECT $1::bigint, 'bootstrap_token_exchanged', "      \
    "subject, id, $6::text, $2::text, $7::json FROM b) "                                           \
    "SELECT " TS_PG_BT_COLUMNS " FROM b"

static ts_status redeem_once(ts_pg_conn *c, void *arg, ts_error *err)
{
    const ts_store_redeem_args *a = ((redeem_args *)arg)->a;
    ts_store_redeem_result *out = ((redeem_args *)arg)->out;
    memset(out, 0, sizeof *out);              /* a retried statement starts afresh */
    out->outcome = TS_STORE_REDEEM_NOT_FOUND; /* TS_STORE_REDEEM_OK is 0 */
    ts_pg_int now = ts_store__pg_i64(a->now);
    char prefix[TS_STORE_PREFIX_LEN + 1], detail[128];
    ts_store_hash_prefix(a->token_hash, prefix);
    snprintf(detail, sizeof detail, "{\"family_id\":\"%s\"}", a->family_id);
    const char *p[] = {now.s,           a->peer, a->family_id, a->token_hash,
                       a->refresh_hash, prefix,  detail,       a->client_id};
    PGresult *q = ts_store__pg_run(c, TS_PG_BT_REDEEM, REDEEM_SQL, 8, p, err);
    if (!q)
        return err ? err->code : TS_EIO;
    if (PQntuples(q) == 1) {
        ts_store__pg_read_bootstrap(q, 0, &out->record);
        ts_store__family_from_record(&out->record, a, &out->family);
        out->outcome = TS_STORE_REDEEM_OK;
    }
    PQclear(q);
    return TS_OK;
}

/* The token was not consumed now: classify it in a transaction (expired, a lost-response
 * reissue, or a replay, each with its audit row). The compare-and-set is not tried again:
 * consumed_at never returns to NULL and expires_at never moves. */
static ts_status classify_txn(ts_pg_conn *c, void *arg, ts_error *err)
{
    const ts_store_redeem_args *a = ((redeem_args *)arg)->a;
    ts_store_redeem_result *out = ((redeem_args *)arg)->out;
    memset(out, 0, sizeof *out); /* a retried transaction starts afresh */
    out->outcome = TS_STORE_REDEEM_NOT_FOUND;
    return redeem_not_consumed_now(c, a, out, err);
}

ts_status ts_store__pg_bootstrap_redeem(void *impl, const ts_store_redeem_args *a,
                                        ts_store_redeem_result *out, ts_error *err)
{
    redeem_args r = {a, out};
    ts_status st = ts_store__pg_once(impl, redeem_once, &r, err);
    if (st == TS_OK && out->outcome != TS_STORE_REDEEM_OK)
        st = ts_store__pg_txn(impl, classify_txn, &r, err);
    return st;
}
