/* Expiry collection counts, and the audit trail: listing, append checks, append-only. */
#include "store_test_util.h"

#include <sqlite3.h>

static void test_collect_expired(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store_options o = TS_STORE_OPTIONS_INIT;
    o.gc_retention_s = 1000;
    ts_store *s = open_store(t.db, &o);
    /* Bootstrap: A unconsumed (expires T0+600), B consumed at T0+10, C created late. */
    char ta[65], ha[65], tb[65], hb[65], tc[65], hc[65], rh[65];
    make_bootstrap(s, T0, ta, ha);
    make_bootstrap(s, T0, tb, hb);
    make_bootstrap(s, T0 + 5000, tc, hc);
    random_hash(rh);
    ts_store_redeem_result r;
    assert_int_equal(ts_store_bootstrap_redeem(s, hb, "p", T0 + 10, rh, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_REDEEM_OK); /* family F1: T0+10 .. T0+10+86400 */
    /* Family F2 (1 h) rotated twice, F3 (1 h) revoked at T0+100, F4 long-lived. */
    char f2h[3][65], f3h[65], f4h[65];
    random_hash(f2h[0]);
    random_hash(f2h[1]);
    random_hash(f2h[2]);
    random_hash(f3h);
    random_hash(f4h);
    ts_store_family f2, f3, f4;
    ts_store_family_params p = {"svc", "smd", "", 3600, f2h[0], NULL, T0};
    assert_int_equal(ts_store_family_create(s, &p, &f2, NULL), TS_OK);
    p.first_hash = f3h;
    assert_int_equal(ts_store_family_create(s, &p, &f3, NULL), TS_OK);
    p.first_hash = f4h;
    p.refresh_ttl_s = 30 * 86400;
    assert_int_equal(ts_store_family_create(s, &p, &f4, NULL), TS_OK);
    ts_store_rotate_result rr;
    assert_int_equal(ts_store_refresh_rotate(s, f2h[0], f2h[1], NULL, T0 + 1, &rr, NULL), TS_OK);
    assert_int_equal(ts_store_refresh_rotate(s, f2h[1], f2h[2], NULL, T0 + 2, &rr, NULL), TS_OK);
    assert_int_equal(ts_store_family_revoke(s, f3.id, NULL, T0 + 100, NULL, NULL), TS_OK);

    ts_store_gc_counts c;
    /* Within retention: nothing goes. */
    assert_int_equal(ts_store_collect_expired(s, T0 + 700, &c, NULL), TS_OK);
    assert_int_equal(c.bootstrap_tokens, 0);
    assert_int_equal(c.families, 0);
    /* T0+1100: B consumed >1000 s ago; F3 revoked >1000 s ago (no rotated hashes). */
    assert_int_equal(ts_store_collect_expired(s, T0 + 1100, &c, NULL), TS_OK);
    assert_int_equal(c.bootstrap_tokens, 1);
    assert_int_equal(c.families, 1);
    assert_int_equal(c.rotated_hashes, 0);
    /* T0+1600: A expired >1000 s ago. */
    assert_int_equal(ts_store_collect_expired(s, T0 + 1600, &c, NULL), TS_OK);
    assert_int_equal(c.bootstrap_tokens, 1);
    assert_int_equal(c.families, 0);
    /* T0+4600: F2 expired >1000 s ago, with its two rotated hashes. */
    assert_int_equal(ts_store_collect_expired(s, T0 + 4600, &c, NULL), TS_OK);
    assert_int_equal(c.bootstrap_tokens, 0);
    assert_int_equal(c.families, 1);
    assert_int_equal(c.rotated_hashes, 2);
    assert_int_equal(c.audit_records, 0);
    /* Gone records behave as unknown; survivors are intact. */
    ts_store_bootstrap_record rec;
    assert_int_equal(ts_store_bootstrap_get(s, ha, &rec, NULL), TS_ENOTFOUND);
    assert_int_equal(ts_store_bootstrap_get(s, hb, &rec, NULL), TS_ENOTFOUND);
    assert_int_equal(ts_store_bootstrap_get(s, hc, &rec, NULL), TS_OK);
    ts_store_family f;
    assert_int_equal(ts_store_family_get(s, f2.id, &f, NULL), TS_ENOTFOUND);
    assert_int_equal(ts_store_family_get(s, f4.id, &f, NULL), TS_OK);
    assert_int_equal(ts_store_family_get(s, r.family.id, &f, NULL), TS_OK);
    assert_int_equal(ts_store_refresh_rotate(s, f2h[0], rh, NULL, T0 + 4600, &rr, NULL), TS_OK);
    assert_int_equal(rr.outcome, TS_STORE_ROTATE_NOT_FOUND);
    assert_int_equal(ts_store_bootstrap_redeem(s, hb, "p", T0 + 4600, rh, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_REDEEM_NOT_FOUND);
    assert_int_equal(ts_store_check(s, true, NULL), TS_OK);
    ts_store_free(s);

    /* Audit retention, and many rows (several batches). */
    o.audit_retention_s = 100;
    s = open_store(t.db, &o);
    for (int i = 0; i < 1200; i++) {
        ts_store_audit_entry e = {0, T0, "test_event", "svc", "x", NULL, NULL, NULL};
        assert_int_equal(ts_store_audit_append(s, &e, NULL), TS_OK);
    }
    assert_int_equal(ts_store_collect_expired(s, T0 + 99, &c, NULL), TS_OK);
    assert_int_equal(c.audit_records, 0);
    assert_int_equal(ts_store_collect_expired(s, T0 + 100, &c, NULL), TS_OK);
    assert_true(c.audit_records >= 1200);
    assert_int_equal(audit_of(s, "test_event").n, 0);
    ts_store_free(s);
    tdir_remove(&t);
}

typedef struct collect {
    int n;
    int64_t ids[8];
    char types[8][32];
    int stop_after;
} collect;

static int collect_cb(const ts_store_audit_entry *e, void *ud)
{
    collect *c = ud;
    if (c->n < 8) {
        c->ids[c->n] = e->id;
        snprintf(c->types[c->n], sizeof c->types[0], "%s", e->type);
    }
    c->n++;
    return c->stop_after && c->n >= c->stop_after;
}

static void test_audit_list_and_append(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    ts_store_audit_entry e = {0,          T0,         "bootstrap_token_exchanged", "svc", "jti-123",
                              "abcdef12", "10.0.0.1", "{\"scope\":\"a b\"}"};
    assert_int_equal(ts_store_audit_append(s, &e, NULL), TS_OK);
    e.type = "second";
    e.detail = NULL;
    assert_int_equal(ts_store_audit_append(s, &e, NULL), TS_OK);
    e.type = "third";
    assert_int_equal(ts_store_audit_append(s, &e, NULL), TS_OK);
    collect c;
    memset(&c, 0, sizeof c);
    assert_int_equal(ts_store_audit_list(s, 0, 0, collect_cb, &c, NULL), TS_OK);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.types[0], "bootstrap_token_exchanged");
    assert_true(c.ids[0] < c.ids[1] && c.ids[1] < c.ids[2]);
    /* Paging and early stop. */
    collect d;
    memset(&d, 0, sizeof d);
    assert_int_equal(ts_store_audit_list(s, c.ids[0], 1, collect_cb, &d, NULL), TS_OK);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.types[0], "second");
    memset(&d, 0, sizeof d);
    d.stop_after = 2;
    assert_int_equal(ts_store_audit_list(s, 0, 100, collect_cb, &d, NULL), TS_OK);
    assert_int_equal(d.n, 2);

    /* Refused: secrets, bad JSON, bad fields. */
    char tok[65];
    assert_int_equal(ts_store_token_generate(tok, NULL), TS_OK);
    ts_error err;
    ts_store_audit_entry bad = e;
    char detail[128];
    snprintf(detail, sizeof detail, "{\"token\":\"%s\"}", tok);
    bad.detail = detail;
    ts_error_clear(&err);
    assert_int_equal(ts_store_audit_append(s, &bad, &err), TS_EINVAL);
    assert_string_equal(err.where, "detail");
    bad = e;
    bad.ref_id = "eyJhbGciOiJQUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";
    assert_int_equal(ts_store_audit_append(s, &bad, NULL), TS_EINVAL);
    bad = e;
    bad.detail = "{\"unterminated\":";
    ts_error_clear(&err);
    assert_int_equal(ts_store_audit_append(s, &bad, &err), TS_EINVAL);
    bad.detail = "[1,2]";
    assert_int_equal(ts_store_audit_append(s, &bad, NULL), TS_EINVAL);
    bad = e;
    bad.hash_prefix = "abcdef123"; /* 9 characters */
    assert_int_equal(ts_store_audit_append(s, &bad, NULL), TS_EINVAL);
    bad.hash_prefix = "ABCDEF12";
    assert_int_equal(ts_store_audit_append(s, &bad, NULL), TS_EINVAL);
    bad = e;
    bad.type = "Bad-Type";
    assert_int_equal(ts_store_audit_append(s, &bad, NULL), TS_EINVAL);
    bad.type = NULL;
    assert_int_equal(ts_store_audit_append(s, &bad, NULL), TS_EINVAL);
    bad = e;
    bad.peer = "10.0.0.1 extra";
    assert_int_equal(ts_store_audit_append(s, &bad, NULL), TS_EINVAL);
    memset(&d, 0, sizeof d);
    assert_int_equal(ts_store_audit_list(s, 0, 0, collect_cb, &d, NULL), TS_OK);
    assert_int_equal(d.n, 3);
    ts_store_free(s);

    /* Append-only: the schema refuses changes to existing rows. */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(t.db, &db), SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(db, "UPDATE audit_log SET type = 'x'", NULL, NULL, NULL),
                         SQLITE_OK);
    assert_non_null(strstr(sqlite3_errmsg(db), "append-only"));
    sqlite3_close(db);
    tdir_remove(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_collect_expired),
        cmocka_unit_test(test_audit_list_and_append),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
