/* Revocation in the store (store_revocation.h), on SQLite and (as store.pg.test_store_revocation)
 * on PostgreSQL: issued access tokens recorded with their grant's audit record in one
 * transaction, revocation by jti, by family and by subject, the revoked check until exp, the
 * seq cursor verifiers poll (also across two handles while others write), collection, the
 * migration from the previous schema, the copy to PostgreSQL and one winner among concurrent
 * revokers. */
#include "store_test_util.h"

#include "store_internal.h"

#include <pthread.h>

#define NEED_PG()                                                                                  \
    do {                                                                                           \
        if (!test_backend_is_pg()) {                                                               \
            print_message("needs PostgreSQL: runs as store.pg.test_store_revocation\n");           \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static void new_family(ts_store *s, const char *subject, int64_t now, char id[TS_STORE_ID_MAX + 1])
{
    char h[TS_STORE_HASH_LEN + 1];
    random_hash(h);
    ts_store_family_params fp = {subject, "smd", "node:read", 7200, h, "10.0.0.2", now};
    ts_store_family fam;
    ts_error err;
    ts_error_clear(&err);
    if (ts_store_family_create(s, &fp, &fam, &err) != TS_OK)
        fail_msg("family_create: %s", err.msg);
    memcpy(id, fam.id, sizeof fam.id);
}

static void issue(ts_store *s, const char *jti, const char *subject, const char *family,
                  int64_t iat, int64_t exp)
{
    ts_store_issued t = {jti, subject, family, "client-a", iat, exp};
    ts_error err;
    ts_error_clear(&err);
    if (ts_store_token_issued(s, &t, NULL, &err) != TS_OK)
        fail_msg("token_issued %s: %s (%s)", jti, err.msg, err.where);
}

static bool is_revoked(ts_store *s, const char *jti, int64_t now)
{
    bool r = false;
    assert_int_equal(ts_store_jti_revoked(s, jti, now, &r, NULL), TS_OK);
    return r;
}

static int64_t revoked_at(ts_store *s, const char *jti)
{
    ts_store_issued_record rec;
    assert_int_equal(ts_store_issued_get(s, jti, &rec, NULL), TS_OK);
    return rec.revoked_at;
}

static void test_issue_with_audit_in_one_transaction(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    char fam[TS_STORE_ID_MAX + 1];
    new_family(s, "svc-a", T0, fam);
    ts_store_issued tok = {"jti-1", "svc-a", fam, "client-a", T0, T0 + 300};
    ts_store_audit_entry e = {0,          T0,    "access_token_issued",          "svc-a", "jti-1",
                              "0a1b2c3d", "::1", "{\"grant\":\"refresh_token\"}"};
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_store_token_issued(s, &tok, &e, &err), TS_OK);
    ts_store_issued_record rec;
    assert_int_equal(ts_store_issued_get(s, "jti-1", &rec, NULL), TS_OK);
    assert_string_equal(rec.jti, "jti-1");
    assert_string_equal(rec.subject, "svc-a");
    assert_string_equal(rec.family_id, fam);
    assert_string_equal(rec.client_id, "client-a");
    assert_int_equal(rec.issued_at, T0);
    assert_int_equal(rec.expires_at, T0 + 300);
    assert_int_equal(rec.revoked_at, 0);
    audit_count a = audit_of(s, "access_token_issued");
    assert_int_equal(a.n, 1);
    assert_string_equal(a.last_ref, "jti-1");
    assert_string_equal(a.last_prefix, "0a1b2c3d");

    /* A jti recorded twice is refused, and its audit record is not written either: both or
     * neither commit. */
    ts_error_clear(&err);
    assert_int_equal(ts_store_token_issued(s, &tok, &e, &err), TS_EINVAL);
    assert_string_equal(err.where, "jti");
    assert_int_equal(audit_of(s, "access_token_issued").n, 1);
    /* A refused audit record keeps the token from being recorded. */
    ts_store_issued tok2 = {"jti-2", "svc-a", NULL, NULL, T0, T0 + 300};
    ts_store_audit_entry bad = e;
    bad.ref_id = "0123456789abcdef0123456789abcdef01234567"; /* looks like a secret */
    ts_error_clear(&err);
    assert_int_equal(ts_store_token_issued(s, &tok2, &bad, &err), TS_EINVAL);
    assert_string_equal(err.where, "audit");
    assert_int_equal(ts_store_issued_get(s, "jti-2", &rec, NULL), TS_ENOTFOUND);
    /* Without an audit record, and without family or client. */
    assert_int_equal(ts_store_token_issued(s, &tok2, NULL, NULL), TS_OK);
    assert_int_equal(ts_store_issued_get(s, "jti-2", &rec, NULL), TS_OK);
    assert_string_equal(rec.family_id, "");
    assert_string_equal(rec.client_id, "");
    ts_store_free(s);
    tdir_remove(&t);
}

static void test_jti_revoke_idempotent_until_exp(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    issue(s, "jti-rec", "svc-a", NULL, T0, T0 + 300);
    bool revoked = false;
    assert_int_equal(
        ts_store_jti_revoke(s, "jti-rec", T0 + 300, "rfc7009", "client-a", T0 + 10, &revoked, NULL),
        TS_OK);
    assert_true(revoked);
    assert_int_equal(revoked_at(s, "jti-rec"), T0 + 10);
    assert_int_equal(
        ts_store_jti_revoke(s, "jti-rec", T0 + 300, "rfc7009", "client-a", T0 + 20, &revoked, NULL),
        TS_OK);
    assert_false(revoked);
    assert_int_equal(revoked_at(s, "jti-rec"), T0 + 10);
    audit_count a = audit_of(s, "token_revoked");
    assert_int_equal(a.n, 1);
    assert_string_equal(a.last_ref, "jti-rec");
    assert_string_equal(a.last_detail, "{\"reason\":\"rfc7009\"}");

    /* A jti never recorded (a token from before the store recorded tokens) is revoked too. */
    assert_false(is_revoked(s, "jti-old", T0));
    assert_int_equal(ts_store_jti_revoke(s, "jti-old", T0 + 60, NULL, NULL, T0, &revoked, NULL),
                     TS_OK);
    assert_true(revoked);
    assert_true(is_revoked(s, "jti-old", T0 + 59));
    assert_false(is_revoked(s, "jti-old", T0 + 60)); /* expired: refused for that anyway */
    assert_int_equal(ts_store_issued_get(s, "jti-old", &(ts_store_issued_record){0}, NULL),
                     TS_ENOTFOUND);
    /* The recorded exp wins when it is later than the caller's. */
    assert_int_equal(ts_store_jti_revoke(s, "jti-unk", T0 + 5, NULL, NULL, T0, NULL, NULL), TS_OK);
    issue(s, "jti-long", "svc-a", NULL, T0, T0 + 900);
    assert_int_equal(ts_store_jti_revoke(s, "jti-long", T0 + 5, NULL, NULL, T0, NULL, NULL), TS_OK);
    assert_true(is_revoked(s, "jti-long", T0 + 800));
    /* An expired token is not revoked: nothing written. */
    int before = audit_of(s, "token_revoked").n;
    assert_int_equal(ts_store_jti_revoke(s, "jti-gone", T0, NULL, NULL, T0, &revoked, NULL), TS_OK);
    assert_false(revoked);
    assert_false(is_revoked(s, "jti-gone", T0 - 1));
    assert_int_equal(audit_of(s, "token_revoked").n, before);
    ts_store_free(s);
    tdir_remove(&t);
}

static void test_family_revoke_tokens(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    char fam[TS_STORE_ID_MAX + 1], other[TS_STORE_ID_MAX + 1];
    new_family(s, "svc-a", T0, fam);
    new_family(s, "svc-a", T0, other);
    issue(s, "f-1", "svc-a", fam, T0, T0 + 300);
    issue(s, "f-2", "svc-a", fam, T0 + 1, T0 + 301);
    issue(s, "f-old", "svc-a", fam, T0 - 600, T0 - 300); /* expired: nothing to revoke */
    issue(s, "o-1", "svc-a", other, T0, T0 + 300);
    issue(s, "n-1", "svc-a", NULL, T0, T0 + 300);
    size_t n = 99;
    bool revoked = false;
    assert_int_equal(
        ts_store_family_revoke_tokens(s, fam, "rfc7009", "client-a", T0 + 5, &n, &revoked, NULL),
        TS_OK);
    assert_true(revoked);
    assert_int_equal(n, 2);
    assert_true(is_revoked(s, "f-1", T0 + 5));
    assert_true(is_revoked(s, "f-2", T0 + 5));
    assert_int_equal(revoked_at(s, "f-2"), T0 + 5);
    assert_int_equal(revoked_at(s, "f-old"), 0);
    assert_false(is_revoked(s, "o-1", T0 + 5));
    assert_false(is_revoked(s, "n-1", T0 + 5));
    ts_store_family f;
    assert_int_equal(ts_store_family_get(s, fam, &f, NULL), TS_OK);
    assert_int_equal(f.revoked_at, T0 + 5);
    assert_string_equal(f.revoke_reason, "rfc7009");
    assert_int_equal(ts_store_family_get(s, other, &f, NULL), TS_OK);
    assert_int_equal(f.revoked_at, 0);
    audit_count a = audit_of(s, "refresh_token_family_revoked");
    assert_int_equal(a.n, 1);
    assert_string_equal(a.last_ref, fam);
    assert_string_equal(a.last_detail, "{\"reason\":\"rfc7009\",\"tokens\":2}");

    /* Idempotent. */
    assert_int_equal(
        ts_store_family_revoke_tokens(s, fam, "rfc7009", "client-a", T0 + 6, &n, &revoked, NULL),
        TS_OK);
    assert_false(revoked);
    assert_int_equal(n, 0);
    assert_int_equal(audit_of(s, "refresh_token_family_revoked").n, 1);
    /* A token recorded for the family after its revocation (granted just before it) is
     * recorded revoked. */
    issue(s, "f-late", "svc-a", fam, T0 + 7, T0 + 307);
    assert_true(is_revoked(s, "f-late", T0 + 8));
    assert_int_not_equal(revoked_at(s, "f-late"), 0);

    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(
        ts_store_family_revoke_tokens(s, "fam-0000", NULL, NULL, T0, &n, &revoked, &err),
        TS_ENOTFOUND);
    assert_false(revoked);
    ts_store_free(s);
    tdir_remove(&t);
}

static void test_subject_revoke(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    char f1[TS_STORE_ID_MAX + 1], f2[TS_STORE_ID_MAX + 1], f3[TS_STORE_ID_MAX + 1],
        fb[TS_STORE_ID_MAX + 1];
    new_family(s, "svc-a", T0, f1);
    new_family(s, "svc-a", T0, f2);
    new_family(s, "svc-a", T0, f3);
    new_family(s, "svc-b", T0, fb);
    assert_int_equal(ts_store_family_revoke(s, f3, "operator", T0 + 1, NULL, NULL), TS_OK);
    issue(s, "a-1", "svc-a", f1, T0, T0 + 300);
    issue(s, "a-2", "svc-a", NULL, T0, T0 + 300); /* no family: by subject */
    issue(s, "b-1", "svc-b", fb, T0, T0 + 300);
    size_t nf = 0, nt = 0;
    assert_int_equal(
        ts_store_subject_revoke(s, "svc-a", "compromised", "admin", T0 + 10, &nf, &nt, NULL),
        TS_OK);
    assert_int_equal(nf, 2); /* f3 was revoked already */
    assert_int_equal(nt, 2);
    assert_true(is_revoked(s, "a-1", T0 + 10));
    assert_true(is_revoked(s, "a-2", T0 + 10));
    assert_false(is_revoked(s, "b-1", T0 + 10));
    ts_store_family f;
    assert_int_equal(ts_store_family_get(s, f2, &f, NULL), TS_OK);
    assert_int_equal(f.revoked_at, T0 + 10);
    assert_int_equal(ts_store_family_get(s, fb, &f, NULL), TS_OK);
    assert_int_equal(f.revoked_at, 0);
    audit_count a = audit_of(s, "subject_revoked");
    assert_int_equal(a.n, 1);
    assert_string_equal(a.last_detail, "{\"reason\":\"compromised\",\"families\":2,\"tokens\":2}");
    /* Again: nothing left, still audited. */
    assert_int_equal(ts_store_subject_revoke(s, "svc-a", NULL, NULL, T0 + 11, &nf, &nt, NULL),
                     TS_OK);
    assert_int_equal(nf, 0);
    assert_int_equal(nt, 0);
    assert_int_equal(audit_of(s, "subject_revoked").n, 2);
    ts_store_free(s);
    tdir_remove(&t);
}

/* Poll everything after @p after; the seqs must increase strictly. */
static size_t poll_all(ts_store *s, int64_t *after, int64_t now)
{
    ts_store_revocation page[3];
    size_t total = 0, n = 0;
    do {
        assert_int_equal(ts_store_revocations_list(s, *after, now, page, 3, &n, NULL), TS_OK);
        for (size_t i = 0; i < n; i++) {
            assert_true(page[i].seq > *after);
            *after = page[i].seq;
        }
        total += n;
    } while (n == 3);
    return total;
}

static void test_list_cursor_and_collection(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    ts_store *s2 = open_store(t.db, NULL); /* a second handle: another replica */
    char jti[16];
    for (int i = 0; i < 7; i++) {
        snprintf(jti, sizeof jti, "l-%d", i);
        issue(s, jti, "svc-a", NULL, T0, T0 + 100 + i);
        assert_int_equal(
            ts_store_jti_revoke(i % 2 ? s2 : s, jti, T0 + 100 + i, NULL, NULL, T0, NULL, NULL),
            TS_OK);
    }
    int64_t cursor = 0;
    assert_int_equal(poll_all(s, &cursor, T0), 7);
    ts_store_revocation r[8];
    size_t n = 0;
    assert_int_equal(ts_store_revocations_list(s2, 0, T0, r, 8, &n, NULL), TS_OK);
    assert_int_equal(n, 7);
    assert_string_equal(r[0].jti, "l-0");
    assert_int_equal(r[0].expires_at, T0 + 100);
    assert_int_equal(r[0].revoked_at, T0);
    /* Nothing new: the cursor stays. */
    int64_t c2 = cursor;
    assert_int_equal(poll_all(s2, &c2, T0), 0);
    assert_int_equal(c2, cursor);
    /* Expired revocations are no longer listed, then collected with their records. */
    assert_int_equal(ts_store_revocations_list(s, 0, T0 + 103, r, 8, &n, NULL), TS_OK);
    assert_int_equal(n, 3);
    assert_string_equal(r[0].jti, "l-4");
    ts_store_gc_counts gc;
    assert_int_equal(ts_store_collect_expired(s, T0 + 103, &gc, NULL), TS_OK);
    assert_int_equal(gc.issued, 4);
    assert_int_equal(gc.revocations, 4);
    assert_int_equal(ts_store_issued_get(s, "l-3", &(ts_store_issued_record){0}, NULL),
                     TS_ENOTFOUND);
    assert_int_equal(ts_store_issued_get(s, "l-4", &(ts_store_issued_record){0}, NULL), TS_OK);
    /* A new revocation after collection still gets a seq above every earlier one. */
    assert_int_equal(ts_store_collect_expired(s, T0 + 1000, &gc, NULL), TS_OK);
    assert_int_equal(gc.revocations, 3);
    assert_int_equal(ts_store_jti_revoke(s2, "l-new", T0 + 2000, NULL, NULL, T0 + 1000, NULL, NULL),
                     TS_OK);
    assert_int_equal(ts_store_revocations_list(s, cursor, T0 + 1000, r, 8, &n, NULL), TS_OK);
    assert_int_equal(n, 1);
    assert_true(r[0].seq > cursor);
    ts_store_free(s2);
    ts_store_free(s);
    tdir_remove(&t);
}

/* Writers on two handles while a reader polls with its cursor: the reader ends with every
 * revocation, none skipped (on PostgreSQL seqs must become visible in order). */
#define WRITES 40
typedef struct writer_arg {
    ts_store *s;
    int id;
} writer_arg;

static void *writer(void *p)
{
    writer_arg *w = p;
    for (int i = 0; i < WRITES; i++) {
        char jti[32];
        snprintf(jti, sizeof jti, "w%d-%d", w->id, i);
        if (ts_store_jti_revoke(w->s, jti, T0 + 600, NULL, NULL, T0, NULL, NULL) != TS_OK)
            return (void *)1;
    }
    return NULL;
}

static void test_cursor_under_concurrent_writers(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *a = open_store(t.db, NULL), *b = open_store(t.db, NULL), *r = open_store(t.db, NULL);
    writer_arg wa = {a, 0}, wb = {b, 1};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, writer, &wa), 0);
    assert_int_equal(pthread_create(&tb, NULL, writer, &wb), 0);
    int64_t cursor = 0;
    size_t seen = 0;
    for (int i = 0; i < 200 && seen < 2 * WRITES; i++)
        seen += poll_all(r, &cursor, T0);
    void *ra = NULL, *rb = NULL;
    pthread_join(ta, &ra);
    pthread_join(tb, &rb);
    assert_null(ra);
    assert_null(rb);
    seen += poll_all(r, &cursor, T0);
    assert_int_equal(seen, 2 * WRITES);
    ts_store_free(r);
    ts_store_free(b);
    ts_store_free(a);
    tdir_remove(&t);
}

typedef struct racer_arg {
    ts_store *s;
    const char *fam;
    bool revoked;
    size_t n;
    ts_status st;
} racer_arg;

static void *racer(void *p)
{
    racer_arg *r = p;
    r->st = ts_store_family_revoke_tokens(r->s, r->fam, "rfc7009", "client-a", T0 + 5, &r->n,
                                          &r->revoked, NULL);
    return NULL;
}

static void test_concurrent_family_revoke_one_winner(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL), *s2 = open_store(t.db, NULL);
    for (int round = 0; round < 5; round++) {
        char fam[TS_STORE_ID_MAX + 1], jti[32];
        new_family(s, "svc-a", T0, fam);
        for (int i = 0; i < 3; i++) {
            snprintf(jti, sizeof jti, "c%d-%d", round, i);
            issue(s, jti, "svc-a", fam, T0, T0 + 300);
        }
        racer_arg x = {s, fam, false, 0, TS_OK}, y = {s2, fam, false, 0, TS_OK};
        pthread_t tx, ty;
        assert_int_equal(pthread_create(&tx, NULL, racer, &x), 0);
        assert_int_equal(pthread_create(&ty, NULL, racer, &y), 0);
        pthread_join(tx, NULL);
        pthread_join(ty, NULL);
        assert_int_equal(x.st, TS_OK);
        assert_int_equal(y.st, TS_OK);
        assert_int_equal((int)x.revoked + (int)y.revoked, 1);
        assert_int_equal(x.n + y.n, 3);
    }
    assert_int_equal(audit_of(s, "refresh_token_family_revoked").n, 5);
    ts_store_free(s2);
    ts_store_free(s);
    tdir_remove(&t);
}

static void test_bounds(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    ts_error err;
    bool r = false;
    static const char LONG[] = "0123456789012345678901234567890123456789012345678901234567890123x";
    const struct {
        const char *jti, *reason, *actor, *where;
    } cases[] = {
        {LONG, NULL, NULL, "jti"},           {"", NULL, NULL, "jti"},
        {"a b", NULL, NULL, "jti"},          {"j\xc3\xa9", NULL, NULL, "jti"},
        {"j", "Bad Reason", NULL, "reason"}, {"j", NULL, "has space", "actor"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ts_error_clear(&err);
        assert_int_equal(ts_store_jti_revoke(s, cases[i].jti, T0 + 60, cases[i].reason,
                                             cases[i].actor, T0, &r, &err),
                         TS_EINVAL);
        assert_string_equal(err.where, cases[i].where);
    }
    ts_error_clear(&err);
    assert_int_equal(ts_store_jti_revoke(s, NULL, T0 + 60, NULL, NULL, T0, &r, &err), TS_EINVAL);
    assert_int_equal(ts_store_jti_revoke(NULL, "j", T0 + 60, NULL, NULL, T0, &r, NULL), TS_EINVAL);
    ts_store_issued bad = {"j", "svc", NULL, NULL, T0, T0};
    ts_error_clear(&err);
    assert_int_equal(ts_store_token_issued(s, &bad, NULL, &err), TS_EINVAL);
    assert_string_equal(err.where, "expires_at");
    bad.expires_at = T0 + 1;
    bad.family_id = "FAM!";
    ts_error_clear(&err);
    assert_int_equal(ts_store_token_issued(s, &bad, NULL, &err), TS_EINVAL);
    assert_string_equal(err.where, "family_id");
    bad.family_id = NULL;
    bad.subject = "";
    ts_error_clear(&err);
    assert_int_equal(ts_store_token_issued(s, &bad, NULL, &err), TS_EINVAL);
    assert_string_equal(err.where, "subject");
    ts_store_revocation out[1];
    size_t n = 1;
    ts_error_clear(&err);
    assert_int_equal(ts_store_revocations_list(s, 0, T0, out, 0, &n, &err), TS_EINVAL);
    assert_int_equal(n, 0);
    /* A failed check answers "revoked": callers that ignore the status fail closed. */
    r = false;
    assert_int_equal(ts_store_jti_revoked(s, LONG, T0, &r, NULL), TS_EINVAL);
    assert_true(r);
    ts_error_clear(&err);
    assert_int_equal(ts_store_subject_revoke(s, "", NULL, NULL, T0, NULL, NULL, &err), TS_EINVAL);
    assert_string_equal(err.where, "subject");
    ts_store_free(s);
    tdir_remove(&t);
}

/* Migration from the previous schema (SQLite 5, PostgreSQL 4): the records survive it and
 * revocation works. */
static void test_migration_adds_tables(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    static const char *const later[] = {"revocations", "issued_tokens", NULL};
    ts_store *s =
        tdir_migrate_from(&t, later, TS_STORE_SCHEMA_VERSION - 1, TS_STORE_PG_SCHEMA_VERSION - 1);
    issue(s, "m-1", "svc-a", NULL, T0, T0 + 60);
    assert_int_equal(ts_store_jti_revoke(s, "m-1", T0 + 60, NULL, NULL, T0, NULL, NULL), TS_OK);
    assert_true(is_revoked(s, "m-1", T0));
    char msg[256];
    assert_false(tdir_sql(&t,
                          "INSERT INTO revocations (jti, expires_at, revoked_at) VALUES ('', 1, 1)",
                          msg, sizeof msg));
    ts_store_free(s);
    tdir_remove(&t);
}

/* A backend written against ops version 5 still opens; the revocation calls say they cannot. */
static void test_older_ops_version(void **state)
{
    (void)state;
    SQLITE_ONLY();
    tdir t;
    tdir_make(&t);
    ts_store_options o = TS_STORE_OPTIONS_INIT;
    o.path = t.db;
    ts_error err;
    ts_error_clear(&err);
    void *impl = ts_store__sqlite_open(&o, &err);
    assert_non_null(impl);
    size_t end = offsetof(ts_store_backend_ops, token_issued);
    ts_store_backend_ops *old = malloc(end);
    assert_non_null(old);
    memcpy(old, &ts_store__sqlite_ops, end);
    old->version = 5u;
    ts_store *s = ts_store_new_with_backend(old, impl, &o, &err);
    assert_non_null(s);
    bool r = false;
    assert_int_equal(ts_store_jti_revoke(s, "j", T0 + 60, NULL, NULL, T0, &r, NULL),
                     TS_EUNSUPPORTED);
    assert_int_equal(ts_store_jti_revoked(s, "j", T0, &r, NULL), TS_EUNSUPPORTED);
    assert_true(r);
    ts_store_gc_counts gc;
    assert_int_equal(ts_store_collect_expired(s, T0, &gc, NULL), TS_OK);
    ts_store_free(s);
    free(old);
    ts_store_backend_ops partial = ts_store__sqlite_ops;
    partial.issued_get = NULL;
    impl = ts_store__sqlite_open(&o, NULL);
    assert_non_null(impl);
    assert_null(ts_store_new_with_backend(&partial, impl, &o, NULL));
    tdir_remove(&t);
}

/* The copy to PostgreSQL carries both tables; seqs continue after the copied ones. */
static void test_copy_carries_revocations(void **state)
{
    (void)state;
    NEED_PG();
    tdir t;
    tdir_make(&t);
    char src[600];
    snprintf(src, sizeof src, "%s/source.db", t.dir);
    ts_store *s = open_store(src, NULL);
    char fam[TS_STORE_ID_MAX + 1];
    new_family(s, "svc-a", T0, fam);
    issue(s, "k-1", "svc-a", fam, T0, T0 + 300);
    issue(s, "k-2", "svc-a", fam, T0, T0 + 300);
    issue(s, "k-3", "svc-a", NULL, T0, T0 + 300);
    size_t n = 0;
    assert_int_equal(ts_store_family_revoke_tokens(s, fam, NULL, NULL, T0 + 1, &n, NULL, NULL),
                     TS_OK);
    assert_int_equal(n, 2);
    assert_int_equal(ts_store_jti_revoke(s, "k-x", T0 + 300, NULL, NULL, T0 + 2, NULL, NULL),
                     TS_OK);
    ts_store_revocation before[8];
    size_t nb = 0;
    assert_int_equal(ts_store_revocations_list(s, 0, T0, before, 8, &nb, NULL), TS_OK);
    assert_int_equal(nb, 3);
    ts_store_free(s);

    ts_store_options fo = TS_STORE_OPTIONS_INIT, to = TS_STORE_OPTIONS_INIT;
    fo.path = src;
    to.path = t.db;
    ts_store_copy_counts c;
    ts_error err;
    ts_error_clear(&err);
    if (ts_store_copy(&fo, &to, 0, &c, &err) != TS_OK)
        fail_msg("ts_store_copy: %s (%s)", err.msg, err.where);
    assert_int_equal(c.issued_tokens, 3);
    assert_int_equal(c.revocations, 3);
    s = open_store(t.db, NULL);
    ts_store_revocation after[8];
    size_t na = 0;
    assert_int_equal(ts_store_revocations_list(s, 0, T0, after, 8, &na, NULL), TS_OK);
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++) {
        assert_int_equal(after[i].seq, before[i].seq);
        assert_string_equal(after[i].jti, before[i].jti);
    }
    assert_true(is_revoked(s, "k-1", T0 + 3));
    assert_false(is_revoked(s, "k-3", T0 + 3));
    assert_int_equal(revoked_at(s, "k-2"), T0 + 1);
    assert_int_equal(ts_store_jti_revoke(s, "k-3", T0 + 300, NULL, NULL, T0 + 3, NULL, NULL),
                     TS_OK);
    assert_int_equal(ts_store_revocations_list(s, before[nb - 1].seq, T0, after, 8, &na, NULL),
                     TS_OK);
    assert_int_equal(na, 1);
    assert_string_equal(after[0].jti, "k-3");
    ts_store_free(s);
    tdir_remove(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_issue_with_audit_in_one_transaction),
        cmocka_unit_test(test_jti_revoke_idempotent_until_exp),
        cmocka_unit_test(test_family_revoke_tokens),
        cmocka_unit_test(test_subject_revoke),
        cmocka_unit_test(test_list_cursor_and_collection),
        cmocka_unit_test(test_cursor_under_concurrent_writers),
        cmocka_unit_test(test_concurrent_family_revoke_one_winner),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_migration_adds_tables),
        cmocka_unit_test(test_older_ops_version),
        cmocka_unit_test(test_copy_carries_revocations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
