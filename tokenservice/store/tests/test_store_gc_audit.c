/* Expiry collection counts, what is kept after expiry and for how long, the audit trail's
 * bounds (age and row count), listing, append checks, append-only. */
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

/* What is kept after expiry, and for how long (docs/store.md, "Garbage collection"): with the
 * default options a record that stopped being usable stays for gc_retention_s = 1 day, still
 * refused, and is gone after the first collection at or after that. */
static void test_retention_after_expiry(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store_options def = TS_STORE_OPTIONS_INIT;
    assert_int_equal(def.gc_retention_s, 86400);
    ts_store *s = open_store(t.db, NULL);
    /* Bootstrap token A expires at T0+600 unused; B is consumed at T0+10. */
    char ta[65], ha[65], tb[65], hb[65], rh[65], nh[65];
    make_bootstrap(s, T0, ta, ha);
    make_bootstrap(s, T0, tb, hb);
    random_hash(rh);
    random_hash(nh);
    ts_store_redeem_result rr;
    assert_int_equal(ts_store_bootstrap_redeem(s, hb, "p", T0 + 10, rh, &rr, NULL), TS_OK);
    assert_int_equal(rr.outcome, TS_STORE_REDEEM_OK);
    /* Family F (1 h) expires at T0+3600; family G is revoked at T0+20. */
    char f0[65], g0[65];
    random_hash(f0);
    random_hash(g0);
    ts_store_family f, g, got;
    ts_store_family_params p = {"svc", "smd", "", 3600, f0, NULL, T0};
    assert_int_equal(ts_store_family_create(s, &p, &f, NULL), TS_OK);
    p.first_hash = g0;
    assert_int_equal(ts_store_family_create(s, &p, &g, NULL), TS_OK);
    assert_int_equal(ts_store_family_revoke(s, g.id, NULL, T0 + 20, NULL, NULL), TS_OK);

    /* 100 s after the end of each: still there, still refused, and refused for the right
     * reason (so a late replay is audited as such, not as an unknown token). */
    ts_store_gc_counts c;
    ts_store_bootstrap_record rec;
    ts_store_rotate_result r;
    assert_int_equal(ts_store_collect_expired(s, T0 + 3700, &c, NULL), TS_OK);
    assert_int_equal(c.bootstrap_tokens + c.families, 0);
    assert_int_equal(ts_store_bootstrap_get(s, ha, &rec, NULL), TS_OK);
    assert_int_equal(ts_store_bootstrap_redeem(s, ha, "p", T0 + 700, nh, &rr, NULL), TS_OK);
    assert_int_equal(rr.outcome, TS_STORE_REDEEM_EXPIRED);
    assert_int_equal(ts_store_bootstrap_redeem(s, hb, "p", T0 + 700, nh, &rr, NULL), TS_OK);
    assert_int_equal(rr.outcome, TS_STORE_REDEEM_ALREADY_CONSUMED);
    assert_int_equal(ts_store_refresh_rotate(s, f0, nh, NULL, T0 + 3700, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_ROTATE_EXPIRED);
    assert_int_equal(ts_store_refresh_rotate(s, g0, nh, NULL, T0 + 3700, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_ROTATE_REVOKED);

    /* One second before each deadline (end + 86400) the record is kept; at it, it goes. */
    assert_int_equal(ts_store_collect_expired(s, T0 + 10 + 86399, &c, NULL), TS_OK);
    assert_int_equal(c.bootstrap_tokens + c.families, 0);
    assert_int_equal(ts_store_collect_expired(s, T0 + 10 + 86400, &c, NULL), TS_OK);
    assert_int_equal(c.bootstrap_tokens, 1); /* B: consumed at T0+10 */
    assert_int_equal(c.families, 0);
    assert_int_equal(ts_store_bootstrap_get(s, hb, &rec, NULL), TS_ENOTFOUND);
    assert_int_equal(ts_store_collect_expired(s, T0 + 20 + 86399, &c, NULL), TS_OK);
    assert_int_equal(c.families, 0);
    assert_int_equal(ts_store_collect_expired(s, T0 + 20 + 86400, &c, NULL), TS_OK);
    assert_int_equal(c.families, 1); /* G: revoked at T0+20 */
    assert_int_equal(ts_store_family_get(s, g.id, &got, NULL), TS_ENOTFOUND);
    assert_int_equal(ts_store_collect_expired(s, T0 + 600 + 86399, &c, NULL), TS_OK);
    assert_int_equal(c.bootstrap_tokens, 0);
    assert_int_equal(ts_store_collect_expired(s, T0 + 600 + 86400, &c, NULL), TS_OK);
    assert_int_equal(c.bootstrap_tokens, 1); /* A: expired at T0+600 */
    assert_int_equal(ts_store_collect_expired(s, T0 + 3600 + 86399, &c, NULL), TS_OK);
    assert_int_equal(c.families, 0);
    assert_int_equal(ts_store_family_get(s, f.id, &got, NULL), TS_OK);
    assert_int_equal(ts_store_collect_expired(s, T0 + 3600 + 86400, &c, NULL), TS_OK);
    assert_int_equal(c.families, 1); /* F: expired at T0+3600 */
    /* The family of B (24 h from T0+10) is still live. */
    assert_int_equal(ts_store_family_get(s, rr.record.family_id, &got, NULL), TS_OK);
    /* Gone means unknown, which is still a refusal. */
    assert_int_equal(ts_store_refresh_rotate(s, f0, nh, NULL, T0 + 3600 + 86400, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_ROTATE_NOT_FOUND);
    ts_store_free(s);
    tdir_remove(&t);
}

static void append_rows(ts_store *s, int n, int64_t at)
{
    for (int i = 0; i < n; i++) {
        ts_store_audit_entry e = {0, at, "test_event", "svc", "x", NULL, NULL, NULL};
        assert_int_equal(ts_store_audit_append(s, &e, NULL), TS_OK);
    }
}

typedef struct id_range {
    int n;
    int64_t first, last;
} id_range;

static int range_cb(const ts_store_audit_entry *e, void *ud)
{
    id_range *r = ud;
    if (r->n++ == 0)
        r->first = e->id;
    r->last = e->id;
    return 0;
}

static id_range audit_range(ts_store *s)
{
    id_range r;
    memset(&r, 0, sizeof r);
    assert_int_equal(ts_store_audit_list(s, 0, 10000, range_cb, &r, NULL), TS_OK);
    return r;
}

/* The audit log is bounded by default: 90 days and 1,000,000 rows; collection deletes the
 * oldest rows beyond either bound. */
static void test_audit_bounds(void **state)
{
    (void)state;
    ts_store_options def = TS_STORE_OPTIONS_INIT;
    assert_int_equal(def.audit_retention_s, 90 * 86400);
    assert_int_equal(def.audit_max_rows, 1000000);
    assert_int_equal(def.replay_audit_interval_s, 3600);
    tdir t;
    tdir_make(&t);

    /* Age, with the default options: kept until 90 days, gone at 90 days. */
    ts_store *s = open_store(t.db, NULL);
    append_rows(s, 10, T0);
    ts_store_gc_counts c;
    assert_int_equal(ts_store_collect_expired(s, T0 + 90 * 86400 - 1, &c, NULL), TS_OK);
    assert_int_equal(c.audit_records, 0);
    assert_int_equal(audit_range(s).n, 10);
    assert_int_equal(ts_store_collect_expired(s, T0 + 90 * 86400, &c, NULL), TS_OK);
    assert_int_equal(c.audit_records, 10);
    assert_int_equal(audit_range(s).n, 0);
    ts_store_free(s);

    /* Count: 2,500 recent rows with a bound of 1,000 leave the newest 1,000. */
    ts_store_options o = TS_STORE_OPTIONS_INIT;
    o.audit_max_rows = 1000;
    s = open_store(t.db, &o);
    append_rows(s, 2500, T0 + 100 * 86400);
    id_range before = audit_range(s);
    assert_int_equal(before.n, 2500);
    assert_int_equal(ts_store_collect_expired(s, T0 + 100 * 86400, &c, NULL), TS_OK);
    assert_int_equal(c.audit_records, 1500);
    id_range after = audit_range(s);
    assert_int_equal(after.n, 1000);
    assert_int_equal(after.last, before.last);
    assert_int_equal(after.first, before.last - 999);
    /* One row more pushes out the oldest one. */
    append_rows(s, 1, T0 + 100 * 86400);
    assert_int_equal(ts_store_collect_expired(s, T0 + 100 * 86400, &c, NULL), TS_OK);
    assert_int_equal(c.audit_records, 1);
    assert_int_equal(audit_range(s).n, 1000);
    ts_store_free(s);

    /* Both bounds off: everything is kept. */
    o.audit_max_rows = 0;
    o.audit_retention_s = 0;
    s = open_store(t.db, &o);
    append_rows(s, 5, T0);
    assert_int_equal(ts_store_collect_expired(s, T0 + 3650 * 86400, &c, NULL), TS_OK);
    assert_int_equal(c.audit_records, 0);
    assert_int_equal(audit_range(s).n, 1005);
    ts_store_free(s);

    /* Option bounds. */
    ts_error err;
    o = def;
    o.path = t.db;
    o.audit_max_rows = 999;
    ts_error_clear(&err);
    assert_null(ts_store_new(&o, &err));
    assert_string_equal(err.where, "options.audit_max_rows");
    o.audit_max_rows = INT64_C(1000000001);
    assert_null(ts_store_new(&o, NULL));
    o = def;
    o.path = t.db;
    o.replay_audit_interval_s = 0;
    ts_error_clear(&err);
    assert_null(ts_store_new(&o, &err));
    assert_string_equal(err.where, "options.replay_audit_interval_s");
    o.replay_audit_interval_s = 86401;
    assert_null(ts_store_new(&o, NULL));
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

    /* Append-only: the schema refuses changes to existing rows (either backend). */
    char msg[512];
    assert_false(tdir_sql(&t, "UPDATE audit_log SET type = 'x'", msg, sizeof msg));
    assert_non_null(strstr(msg, "append-only"));
    tdir_remove(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_collect_expired),
        cmocka_unit_test(test_retention_after_expiry),
        cmocka_unit_test(test_audit_bounds),
        cmocka_unit_test(test_audit_list_and_append),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
