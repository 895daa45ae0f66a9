/* ts_store_copy(): a SQLite store copied into PostgreSQL arrives row for row (every table
 * compared raw, and read back through the public API), and a service on the copy continues
 * where the source stopped: unused bootstrap tokens redeem, used ones are replays, a family's
 * current refresh token rotates and a rotated one revokes it, new audit ids follow the copied
 * ones. A non-empty target is refused unless forced; a failing copy changes nothing; batches
 * and long values; an old source is migrated first. The refusals that need no server run on
 * every backend; the rest need PostgreSQL (store.pg.test_store_copy) and skip without it. */
#include "store_test_util.h"

#include <sys/stat.h>

#define JWK_EC                                                                                     \
    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","     \
    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\",\"alg\":\"ES256\",\"use\":\"sig\"}"
#define KID_A "AAAA-first-key_0000000000000000000000000000"
#define SECRET "S3CRET-client-secret-of-the-copy-test"
#define DOC                                                                                        \
    "{\"providers\":[{\"issuer\":\"https://idp.example\",\"client_secret\":\"" SECRET "\"}]}"
/* JSON white space and escapes that COPY's text format must carry unchanged. */
#define DETAIL "{\"note\":\"back\\\\slash \\\"quoted\\\"\",\n\t\"n\":1,\r\n\"u\":\"h\\u00e9\"}"

#define NEED_PG()                                                                                  \
    do {                                                                                           \
        if (!test_backend_is_pg()) {                                                               \
            print_message("needs PostgreSQL: runs as store.pg.test_store_copy\n");                 \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* What fill_source() made. */
typedef struct fixture {
    char src[600];
    char unused_tok[TS_STORE_TOKEN_LEN + 1], unused_hash[TS_STORE_HASH_LEN + 1];
    char used_hash[TS_STORE_HASH_LEN + 1], expired_hash[TS_STORE_HASH_LEN + 1];
    char fam_live[TS_STORE_ID_MAX + 1], fam_revoked[TS_STORE_ID_MAX + 1];
    char fam_reuse[TS_STORE_ID_MAX + 1];
    char r1[TS_STORE_HASH_LEN + 1], r3[TS_STORE_HASH_LEN + 1]; /* rotated away; current */
    int64_t hwm;                                               /* highest audit id ever given */
} fixture;

static void sq_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
    sqlite3_close(db);
}

static int64_t sq_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

static int64_t pg_int(const char *conninfo, const char *sql)
{
    PGconn *c = PQconnectdb(conninfo);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    int64_t v = PQgetisnull(r, 0, 0) ? 0 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    PQfinish(c);
    return v;
}

/* Redeem @p hash; the new family's first refresh hash goes to @p refresh (may be NULL). */
static ts_store_redeem_outcome redeem(ts_store *s, const char *hash, int64_t now, char *refresh,
                                      ts_store_redeem_result *rr)
{
    char r[TS_STORE_HASH_LEN + 1];
    random_hash(r);
    assert_int_equal(ts_store_bootstrap_redeem(s, hash, "10.0.0.1", now, r, rr, NULL), TS_OK);
    if (refresh)
        memcpy(refresh, r, sizeof r);
    return rr->outcome;
}

/* Rotate @p presented; the new hash goes to @p next (may be NULL). */
static ts_store_rotate_outcome rotate(ts_store *s, const char *presented, int64_t now, char *next,
                                      ts_store_rotate_result *ro)
{
    char n[TS_STORE_HASH_LEN + 1];
    random_hash(n);
    ts_error err;
    ts_error_clear(&err);
    if (ts_store_refresh_rotate(s, presented, n, "10.0.0.1", now, ro, &err) != TS_OK)
        fail_msg("ts_store_refresh_rotate: %s (%s)", err.msg, err.where);
    if (next)
        memcpy(next, n, sizeof n);
    return ro->outcome;
}

static void fill_source(fixture *f, const tdir *t)
{
    memset(f, 0, sizeof *f);
    snprintf(f->src, sizeof f->src, "%s/source.db", t->dir);
    ts_store *s = open_store(f->src, NULL);
    char tok[TS_STORE_TOKEN_LEN + 1];
    ts_store_redeem_result rr;
    ts_store_rotate_result ro;
    make_bootstrap(s, T0 - 100, f->unused_tok, f->unused_hash);
    make_bootstrap(s, T0 - 4000, tok, f->expired_hash); /* expired at T0 - 3400 */
    make_bootstrap(s, T0 - 100, tok, f->used_hash);
    assert_int_equal(redeem(s, f->used_hash, T0 - 90, f->r1, &rr), TS_STORE_REDEEM_OK);
    snprintf(f->fam_live, sizeof f->fam_live, "%s", rr.family.id);
    /* A replay before the copy: replay_attempts 1. */
    assert_int_equal(redeem(s, f->used_hash, T0 - 85, NULL, &rr), TS_STORE_REDEEM_ALREADY_CONSUMED);
    char r2[TS_STORE_HASH_LEN + 1];
    assert_int_equal(rotate(s, f->r1, T0 - 80, r2, &ro), TS_STORE_ROTATE_OK);
    assert_int_equal(rotate(s, r2, T0 - 70, f->r3, &ro), TS_STORE_ROTATE_OK);

    /* A family revoked explicitly, and one revoked for reuse. */
    char h1[TS_STORE_HASH_LEN + 1], h2[TS_STORE_HASH_LEN + 1];
    random_hash(h1);
    random_hash(h2);
    ts_store_family fam;
    ts_store_family_params fp = {"mtls-node", "smd", "node:read", 7200, h1, "10.0.0.2", T0 - 60};
    assert_int_equal(ts_store_family_create(s, &fp, &fam, NULL), TS_OK);
    snprintf(f->fam_revoked, sizeof f->fam_revoked, "%s", fam.id);
    assert_int_equal(ts_store_family_revoke(s, fam.id, "operator", T0 - 50, NULL, NULL), TS_OK);
    fp.first_hash = h2;
    fp.subject = "n\xc3\xa9ud-\xe2\x9c\x93"; /* UTF-8 survives */
    assert_int_equal(ts_store_family_create(s, &fp, &fam, NULL), TS_OK);
    snprintf(f->fam_reuse, sizeof f->fam_reuse, "%s", fam.id);
    assert_int_equal(rotate(s, h2, T0 - 40, NULL, &ro), TS_STORE_ROTATE_OK);
    assert_int_equal(rotate(s, h2, T0 - 30, NULL, &ro), TS_STORE_ROTATE_REUSE_DETECTED);

    ts_store_audit_entry e = {0,     T0 - 20, "copy_test_event", "ops\\team", "ref-1", "abcd",
                              "::1", DETAIL};
    assert_int_equal(ts_store_audit_append(s, &e, NULL), TS_OK);
    assert_int_equal(ts_store_key_publish(s, KID_A, "ES256", JWK_EC, T0 - 10, T0 + 86400, NULL),
                     TS_OK);
    /* An access token of the live family, and a revoked one never recorded. */
    ts_store_issued it = {"jti-live-1", "boot-service", f->fam_live,
                          "client-a",   T0 - 60,        T0 + 3600};
    assert_int_equal(ts_store_token_issued(s, &it, NULL, NULL), TS_OK);
    assert_int_equal(
        ts_store_jti_revoke(s, "jti-other", T0 + 3600, "rfc7009", "client-a", T0 - 8, NULL, NULL),
        TS_OK);
    int64_t v = 0;
    assert_int_equal(
        ts_store_oidc_config_put(s, DOC, strlen(DOC), 0, T0 - 5, "replica-a", NULL, &v, NULL),
        TS_OK);
    /* The newest record collected: the next id is above every id left, as SQLite remembers. */
    e.type = "copy_test_collected";
    e.detail = NULL;
    assert_int_equal(ts_store_audit_append(s, &e, NULL), TS_OK);
    ts_store_free(s);
    sq_exec(f->src, "DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)");
    f->hwm = sq_int(f->src, "SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'");
    assert_true(f->hwm > sq_int(f->src, "SELECT max(id) FROM audit_log"));
}

static ts_status copy(const char *from, const char *to, unsigned flags, ts_store_copy_counts *n,
                      ts_error *err)
{
    ts_store_options fo = TS_STORE_OPTIONS_INIT, to_opt = TS_STORE_OPTIONS_INIT;
    fo.path = from;
    to_opt.path = to;
    return ts_store_copy(&fo, &to_opt, flags, n, err);
}

static void copy_ok(const char *from, const char *to, unsigned flags, ts_store_copy_counts *n)
{
    ts_error err;
    ts_error_clear(&err);
    if (copy(from, to, flags, n, &err) != TS_OK)
        fail_msg("ts_store_copy: %s (%s)", err.msg, err.where);
    assert_int_equal(err.code, TS_OK); /* a success leaves the record untouched */
}

/* ---- every row, raw ---------------------------------------------------------------------- */

typedef struct text {
    char *p;
    size_t len, cap;
} text;

static void text_add(text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->p = realloc(t->p, t->cap);
        assert_non_null(t->p);
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

/* Every column of every table (SELECT *: a column the copy forgot shows up), in the same order
 * in both schemas; values as text, NULL distinct from "" and from 0. */
static const char *const TABLES[][3] = {
    {"bootstrap_tokens", "token_hash", "token_hash COLLATE \"C\""},
    {"refresh_families", "family_id", "family_id COLLATE \"C\""},
    {"refresh_rotated", "token_hash", "token_hash COLLATE \"C\""},
    {"audit_log", "id", "id"},
    {"published_keys", "kid", "kid COLLATE \"C\""},
    {"oidc_config", "id", "id"},
    {"mappings", "id", "id"},
    {"issued_tokens", "jti", "jti COLLATE \"C\""},
    {"revocations", "seq", "seq"},
};
#define N_TABLES (sizeof TABLES / sizeof TABLES[0])

static void dump_sqlite(const char *path, size_t i, text *out)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT * FROM %s ORDER BY %s", TABLES[i][0], TABLES[i][1]);
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    while (sqlite3_step(q) == SQLITE_ROW) {
        for (int c = 0; c < sqlite3_column_count(q); c++) {
            if (sqlite3_column_type(q, c) == SQLITE_NULL) {
                text_add(out, "<NULL>", 6);
            } else {
                const char *v = (const char *)sqlite3_column_text(q, c);
                text_add(out, v, (size_t)sqlite3_column_bytes(q, c));
            }
            text_add(out, "\x1f", 1);
        }
        text_add(out, "\x1e", 1);
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
}

static void dump_pg(const char *conninfo, size_t i, text *out)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT * FROM %s ORDER BY %s", TABLES[i][0], TABLES[i][2]);
    PGconn *c = PQconnectdb(conninfo);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    for (int row = 0; row < PQntuples(r); row++) {
        for (int col = 0; col < PQnfields(r); col++) {
            if (PQgetisnull(r, row, col))
                text_add(out, "<NULL>", 6);
            else
                text_add(out, PQgetvalue(r, row, col), (size_t)PQgetlength(r, row, col));
            text_add(out, "\x1f", 1);
        }
        text_add(out, "\x1e", 1);
    }
    PQclear(r);
    PQfinish(c);
}

/* The whole target, for "nothing changed" checks. */
static char *dump_all_pg(const char *conninfo)
{
    text t = {0};
    for (size_t i = 0; i < N_TABLES; i++) {
        text_add(&t, TABLES[i][0], strlen(TABLES[i][0]));
        dump_pg(conninfo, i, &t);
    }
    return t.p;
}

static void assert_tables_equal(const char *src, const char *dst)
{
    for (size_t i = 0; i < N_TABLES; i++) {
        text a = {0}, b = {0};
        text_add(&a, "", 0);
        text_add(&b, "", 0);
        dump_sqlite(src, i, &a);
        dump_pg(dst, i, &b);
        if (a.len != b.len || memcmp(a.p, b.p, a.len) != 0)
            fail_msg("table %s differs after the copy (%zu bytes of rows vs %zu)", TABLES[i][0],
                     a.len, b.len);
        free(a.p);
        free(b.p);
    }
}

/* ---- read back through the public API ---------------------------------------------------- */

/* Everything the API tells about the fixture's records, as one text per store: equal texts
 * mean every field of every record arrived (audit ids and order included). */
static void text_printf(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_printf(text *t, const char *fmt, ...)
{
    char line[9000];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof line);
    text_add(t, line, (size_t)n);
}

static int audit_text_cb(const ts_store_audit_entry *e, void *ud)
{
    text_printf(ud, "%lld|%lld|%s|%s|%s|%s|%s|%s\n", (long long)e->id, (long long)e->at, e->type,
                e->subject, e->ref_id, e->hash_prefix, e->peer, e->detail ? e->detail : "<NULL>");
    return 0;
}

static int key_text_cb(const ts_store_published_key *k, void *ud)
{
    text_printf(ud, "%s|%s|%s|%lld|%lld|%lld\n", k->kid, k->alg, k->jwk, (long long)k->published_at,
                (long long)k->last_seen, (long long)k->not_after);
    return 0;
}

static char *api_text(ts_store *s, const fixture *f)
{
    text t = {0};
    const char *const hashes[] = {f->unused_hash, f->used_hash, f->expired_hash};
    for (size_t i = 0; i < 3; i++) {
        ts_store_bootstrap_record r;
        assert_int_equal(ts_store_bootstrap_get(s, hashes[i], &r, NULL), TS_OK);
        text_printf(&t, "%s|%s|%s|%s|%s|%s|%lld|%lld|%lld|%lld|%lld|%s|%lld|%lld|%s\n", r.id,
                    r.token_hash, r.subject, r.audience, r.scope, r.binding_id, (long long)r.ttl_s,
                    (long long)r.refresh_ttl_s, (long long)r.created_at, (long long)r.expires_at,
                    (long long)r.consumed_at, r.consumed_by, (long long)r.replay_attempts,
                    (long long)r.reissue_count, r.family_id);
    }
    const char *const fams[] = {f->fam_live, f->fam_revoked, f->fam_reuse};
    for (size_t i = 0; i < 3; i++) {
        ts_store_family m;
        assert_int_equal(ts_store_family_get(s, fams[i], &m, NULL), TS_OK);
        text_printf(&t, "%s|%s|%s|%s|%lld|%lld|%lld|%lld|%lld|%s\n", m.id, m.subject, m.audience,
                    m.scope, (long long)m.issued_at, (long long)m.expires_at,
                    (long long)m.last_used_at, (long long)m.usage_count, (long long)m.revoked_at,
                    m.revoke_reason);
    }
    assert_int_equal(ts_store_audit_list(s, 0, 10000, audit_text_cb, &t, NULL), TS_OK);
    assert_int_equal(ts_store_key_list(s, T0, key_text_cb, &t, NULL), TS_OK);
    char *doc = NULL;
    size_t len = 0;
    ts_store_oidc_config_meta m;
    assert_int_equal(ts_store_oidc_config_get(s, 0, &doc, &len, &m, NULL), TS_OK);
    assert_non_null(doc);
    text_printf(&t, "%lld|%lld|%s|%s\n", (long long)m.version, (long long)m.updated_at,
                m.updated_by, doc);
    ts_free(doc);
    return t.p;
}

static void assert_api_same(const fixture *f, const char *dst)
{
    ts_store *a = open_store(f->src, NULL), *b = open_store(dst, NULL);
    char *x = api_text(a, f), *y = api_text(b, f);
    assert_non_null(strstr(x, DETAIL));
    assert_non_null(strstr(x, KID_A));
    assert_non_null(strstr(x, DOC));
    assert_string_equal(x, y);
    free(x);
    free(y);
    ts_store_free(a);
    ts_store_free(b);
}

/* ---- the tests --------------------------------------------------------------------------- */

static void test_copy_then_continue(void **state)
{
    (void)state;
    NEED_PG();
    tdir t;
    tdir_make(&t);
    fixture f;
    fill_source(&f, &t);
    ts_store_copy_counts n;
    copy_ok(f.src, t.db, 0, &n);
    assert_int_equal(n.bootstrap_tokens, 3);
    assert_int_equal(n.families, 3);
    assert_int_equal(n.rotated_hashes, 3); /* r1, r2 of the live family; h2 of the reused one */
    assert_int_equal(n.audit_records, sq_int(f.src, "SELECT count(*) FROM audit_log"));
    assert_int_equal(n.published_keys, 1);
    assert_int_equal(n.oidc_config, 1);
    assert_int_equal(n.issued_tokens, 1);
    assert_int_equal(n.revocations, 1);
    assert_int_equal(n.replaced, 0);
    assert_int_equal(n.next_audit_id, f.hwm + 1);
    assert_tables_equal(f.src, t.db);
    assert_api_same(&f, t.db);

    /* Not empty: refused, nothing changed (a row of the target's own stays). */
    ts_store *s = open_store(t.db, NULL);
    char tok[TS_STORE_TOKEN_LEN + 1], own[TS_STORE_HASH_LEN + 1];
    make_bootstrap(s, T0, tok, own);
    ts_store_free(s);
    char *before = dump_all_pg(t.db);
    ts_error err;
    ts_error_clear(&err);
    memset(&n, 0xff, sizeof n);
    assert_int_equal(copy(f.src, t.db, 0, &n, &err), TS_EINVAL);
    assert_string_equal(err.where, "copy.not_empty");
    assert_non_null(strstr(err.msg, "not empty"));
    assert_int_equal(n.bootstrap_tokens, 0);
    char *after = dump_all_pg(t.db);
    assert_string_equal(before, after);
    free(before);
    free(after);

    /* Forced: the target's rows are replaced by the source's. */
    int64_t held = pg_int(t.db, "SELECT (SELECT count(*) FROM bootstrap_tokens) + (SELECT "
                                "count(*) FROM refresh_families) + (SELECT count(*) FROM "
                                "refresh_rotated) + (SELECT count(*) FROM audit_log) + (SELECT "
                                "count(*) FROM published_keys) + (SELECT count(*) FROM "
                                "oidc_config) + (SELECT count(*) FROM mappings) + (SELECT "
                                "count(*) FROM issued_tokens) + (SELECT count(*) FROM "
                                "revocations)");
    copy_ok(f.src, t.db, TS_STORE_COPY_FORCE, &n);
    assert_int_equal(n.replaced, held);
    assert_int_equal(n.bootstrap_tokens, 3);
    assert_tables_equal(f.src, t.db);
    /* The target's own bootstrap token took an id after the copied ones: ids keep growing. */
    assert_true(n.next_audit_id > f.hwm + 1);

    /* A service on the target continues where the source stopped. */
    s = open_store(t.db, NULL);
    int64_t first_new = n.next_audit_id;
    ts_store_redeem_result rr;
    assert_int_equal(redeem(s, f.unused_hash, T0, NULL, &rr), TS_STORE_REDEEM_OK);
    assert_int_equal(redeem(s, f.used_hash, T0, NULL, &rr), TS_STORE_REDEEM_ALREADY_CONSUMED);
    assert_int_equal(rr.record.replay_attempts, 2);
    ts_store_rotate_result ro;
    char r4[TS_STORE_HASH_LEN + 1];
    assert_int_equal(rotate(s, f.r3, T0 + 1, r4, &ro), TS_STORE_ROTATE_OK);
    assert_int_equal(ro.family.usage_count, 3);
    assert_int_equal(rotate(s, f.r1, T0 + 2, NULL, &ro), TS_STORE_ROTATE_REUSE_DETECTED);
    ts_store_family fam;
    assert_int_equal(ts_store_family_get(s, f.fam_live, &fam, NULL), TS_OK);
    assert_string_equal(fam.revoke_reason, "reuse_detected");
    assert_int_equal(rotate(s, r4, T0 + 3, NULL, &ro), TS_STORE_ROTATE_REVOKED);
    /* The records written since come after every copied one. */
    audit_count c = audit_of(s, "bootstrap_token_exchanged");
    assert_int_equal(c.n, 2); /* the copied one and the new one */
    text x = {0};
    assert_int_equal(ts_store_audit_list(s, f.hwm, 10000, audit_text_cb, &x, NULL), TS_OK);
    assert_non_null(x.p);
    assert_int_equal(strtoll(x.p, NULL, 10), first_new);
    free(x.p);
    assert_true(first_new > sq_int(f.src, "SELECT max(id) FROM audit_log"));
    ts_store_free(s);
    tdir_remove(&t);
}

static void test_failed_copy_changes_nothing(void **state)
{
    (void)state;
    NEED_PG();
    tdir t;
    tdir_make(&t);
    fixture f;
    fill_source(&f, &t);
    ts_store_copy_counts n;
    copy_ok(f.src, t.db, 0, &n);
    ts_store *s = open_store(t.db, NULL);
    char tok[TS_STORE_TOKEN_LEN + 1], own[TS_STORE_HASH_LEN + 1];
    make_bootstrap(s, T0, tok, own);
    ts_store_free(s);
    char *before = dump_all_pg(t.db);
    const char *seq =
        "SELECT pg_sequence_last_value(pg_get_serial_sequence('audit_log', 'id')::regclass)";
    int64_t seq_before = pg_int(t.db, seq);
    /* A value PostgreSQL refuses (SQLite keeps text in an INTEGER column), in a table written
     * after the bootstrap tokens, families and audit records were already deleted and copied
     * inside the transaction. */
    sq_exec(f.src, "UPDATE published_keys SET not_after = 'soon'");
    ts_error err;
    ts_error_clear(&err);
    assert_int_not_equal(copy(f.src, t.db, TS_STORE_COPY_FORCE, &n, &err), TS_OK);
    assert_string_equal(err.where, "copy.to");
    char *after = dump_all_pg(t.db);
    assert_string_equal(before, after);
    assert_int_equal(pg_int(t.db, seq), seq_before);
    free(before);
    free(after);
    tdir_remove(&t);
}

static void test_secret_never_in_message(void **state)
{
    (void)state;
    NEED_PG();
    tdir t;
    tdir_make(&t);
    fixture f;
    fill_source(&f, &t);
    /* A document PostgreSQL refuses (not JSON), holding a secret, past SQLite's own check. */
    sq_exec(f.src, "PRAGMA ignore_check_constraints = ON; UPDATE oidc_config SET document = "
                   "'client_secret=" SECRET " is not json'");
    ts_error err;
    ts_error_clear(&err);
    ts_store_copy_counts n;
    assert_int_not_equal(copy(f.src, t.db, 0, &n, &err), TS_OK);
    assert_null(strstr(err.msg, SECRET));
    assert_null(strstr(err.where, SECRET));
    assert_non_null(strstr(err.msg, "oidc_config"));
    assert_int_equal(pg_int(t.db, "SELECT count(*) FROM bootstrap_tokens"), 0);
    assert_int_equal(pg_int(t.db, "SELECT count(*) FROM audit_log"), 0);
    tdir_remove(&t);
}

static void test_batches_and_long_values(void **state)
{
    (void)state;
    NEED_PG();
    tdir t;
    tdir_make(&t);
    char src[600];
    snprintf(src, sizeof src, "%s/source.db", t.dir);
    ts_store_free(open_store(src, NULL));
    /* More rows than two COPY statements hold, and more bytes than the stream's buffer. */
    sq_exec(src, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < "
                 "25001) INSERT INTO audit_log (at, type, subject, ref_id, hash_prefix, peer, "
                 "detail) SELECT 1700000000 + i, 'bulk_event', 'subject-' || i, 'ref-' || i, "
                 "'0a1b', '10.0.0.' || (i % 250), CASE WHEN i % 3 = 0 THEN NULL ELSE "
                 "'{\"i\":' || i || ',' || char(10) || char(9) || '\"s\":\"a\\\\b\"}' END FROM n");
    /* A provider configuration of 200 KiB with line breaks: one value over several buffers. */
    size_t cap = 200 * 1024;
    char *doc = malloc(cap + 1);
    assert_non_null(doc);
    size_t len = (size_t)snprintf(doc, cap, "{\"providers\":[");
    while (len + 64 < cap)
        len += (size_t)snprintf(doc + len, cap - len, "\n\t{\"issuer\":\"https://i%zu.example\"},",
                                len);
    len += (size_t)snprintf(doc + len, cap - len, "\r\n{}]}");
    ts_store *s = open_store(src, NULL);
    assert_int_equal(ts_store_oidc_config_put(s, doc, len, 0, T0, "replica-a", NULL, NULL, NULL),
                     TS_OK);
    static const char MAP[] = "{\"scope_mappings\":[{\"scope\":\"read\",\"claims\":{}}]}";
    assert_int_equal(
        ts_store_mappings_put(s, MAP, strlen(MAP), 0, T0, "user:alice", NULL, NULL, NULL), TS_OK);
    ts_store_free(s);
    ts_store_copy_counts n;
    copy_ok(src, t.db, 0, &n);
    assert_int_equal(n.audit_records, 25003); /* and oidc_config_changed, mappings_changed */
    assert_int_equal(n.oidc_config, 1);
    assert_int_equal(n.mappings, 1);
    assert_tables_equal(src, t.db);
    s = open_store(t.db, NULL);
    char *got = NULL;
    size_t got_len = 0;
    ts_store_oidc_config_meta m;
    assert_int_equal(ts_store_oidc_config_get(s, 0, &got, &got_len, &m, NULL), TS_OK);
    assert_int_equal(got_len, len);
    assert_memory_equal(got, doc, len);
    ts_free(got);
    ts_store_free(s);
    free(doc);
    tdir_remove(&t);
}

static void test_old_source_is_migrated(void **state)
{
    (void)state;
    NEED_PG();
    tdir t;
    tdir_make(&t);
    char src[600];
    snprintf(src, sizeof src, "%s/source.db", t.dir);
    ts_store *s = open_store(src, NULL);
    char tok[TS_STORE_TOKEN_LEN + 1], hash[TS_STORE_HASH_LEN + 1];
    make_bootstrap(s, T0, tok, hash);
    ts_store_free(s);
    /* Back to schema 3, before the provider configuration's and the mappings' tables. */
    sq_exec(src,
            "DROP TABLE revocations; DROP TABLE issued_tokens; DROP TABLE mappings; DROP TABLE "
            "oidc_config; UPDATE schema_version SET version = 3");
    ts_store_copy_counts n;
    copy_ok(src, t.db, 0, &n);
    assert_int_equal(sq_int(src, "SELECT version FROM schema_version"), TS_STORE_SCHEMA_VERSION);
    assert_int_equal(n.bootstrap_tokens, 1);
    assert_int_equal(n.oidc_config, 0);
    assert_int_equal(n.mappings, 0);
    assert_tables_equal(src, t.db);
    tdir_remove(&t);
}

/* ---- refusals before anything is opened: every backend ---------------------------------- */

static void expect_refused(const char *from, const char *to, unsigned flags, ts_status code,
                           const char *where)
{
    ts_error err;
    ts_error_clear(&err);
    ts_store_copy_counts n;
    memset(&n, 0xff, sizeof n);
    assert_int_equal(copy(from, to, flags, &n, &err), code);
    assert_string_equal(err.where, where);
    assert_int_equal(n.bootstrap_tokens, 0);
    assert_null(strstr(err.msg, "pw-of-copy"));
}

static void test_refusals(void **state)
{
    (void)state;
    char dir[] = "/tmp/ts-copy-refuse-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char src[128], dst[128], missing[128];
    snprintf(src, sizeof src, "%s/source.db", dir);
    snprintf(dst, sizeof dst, "%s/target.db", dir);
    snprintf(missing, sizeof missing, "%s/missing.db", dir);
    ts_store_free(open_store(src, NULL));
    const char *pg = "host=/nonexistent/ts-copy port=1 dbname=x password=pw-of-copy";
    /* To SQLite, from PostgreSQL: refused with where naming the side; nothing is created. */
    expect_refused(src, dst, 0, TS_EINVAL, "copy.to");
    struct stat sb;
    assert_int_not_equal(stat(dst, &sb), 0);
    expect_refused(pg, src, 0, TS_EINVAL, "copy.from");
    expect_refused("postgresql://u:pw-of-copy@db.example/x", pg, 0, TS_EINVAL, "copy.from");
    expect_refused(src, pg, 4u, TS_EINVAL, "copy.flags");
    expect_refused(missing, pg, 0, TS_ENOTFOUND, "copy.from");
    assert_int_not_equal(stat(missing, &sb), 0); /* never created */
    expect_refused(dir, pg, 0, TS_EINVAL, "copy.from");
    ts_error err;
    ts_error_clear(&err);
    ts_store_options o = TS_STORE_OPTIONS_INIT;
    o.path = src;
    assert_int_equal(ts_store_copy(NULL, &o, 0, NULL, &err), TS_EINVAL);
    assert_string_equal(err.where, "copy.from");
    assert_int_equal(ts_store_copy(&o, NULL, 0, NULL, &err), TS_EINVAL);
    assert_string_equal(err.where, "copy.to");
    assert_int_equal(ts_store_copy(&o, NULL, 0, NULL, NULL), TS_EINVAL); /* no err: still told */
    /* An unreachable server: the message names the host, never the password. */
    ts_error_clear(&err);
    assert_int_equal(
        copy(src, "postgresql://tok:pw-of-copy@127.0.0.1:1/db?connect_timeout=2", 0, NULL, &err),
        TS_EIO);
    assert_null(strstr(err.msg, "pw-of-copy"));
    assert_non_null(strstr(err.msg, "127.0.0.1"));
    static const char *const sfx[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char p[160];
        snprintf(p, sizeof p, "%s%s", src, sfx[i]);
        unlink(p);
    }
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_copy_then_continue),
        cmocka_unit_test(test_failed_copy_changes_nothing),
        cmocka_unit_test(test_secret_never_in_message),
        cmocka_unit_test(test_batches_and_long_values),
        cmocka_unit_test(test_old_source_is_migrated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
