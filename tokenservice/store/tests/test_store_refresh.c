/* Refresh families: creation, rotation chains, reuse detection, expiry, revocation, and
 * concurrent rotations of one token. */
#include "store_test_util.h"

#include <pthread.h>

static void new_family(ts_store *s, int64_t now, int64_t ttl, char first[TS_STORE_HASH_LEN + 1],
                       ts_store_family *out)
{
    random_hash(first);
    ts_store_family_params p = {"svc", "smd", "read,write", ttl, first, "10.0.0.1", now};
    ts_error err;
    ts_error_clear(&err);
    if (ts_store_family_create(s, &p, out, &err) != TS_OK)
        fail_msg("family_create: %s", err.msg);
}

static void test_create_and_rotate_chain(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    char h[4][TS_STORE_HASH_LEN + 1];
    ts_store_family fam;
    new_family(s, T0, 3600, h[0], &fam);
    assert_memory_equal(fam.id, "fam-", 4);
    assert_string_equal(fam.scope, "read write");
    assert_int_equal(fam.expires_at, T0 + 3600);
    assert_int_equal(audit_of(s, "refresh_family_created").n, 1);

    ts_store_rotate_result r;
    for (int i = 1; i < 4; i++) {
        random_hash(h[i]);
        assert_int_equal(
            ts_store_refresh_rotate(s, h[i - 1], h[i], "10.0.0.1", T0 + 10 * i, &r, NULL), TS_OK);
        assert_int_equal(r.outcome, TS_STORE_ROTATE_OK);
        assert_string_equal(r.family.id, fam.id);
        assert_int_equal(r.family.usage_count, i);
        assert_int_equal(r.family.last_used_at, T0 + 10 * i);
        /* The lifetime is absolute: rotation never extends it. */
        assert_int_equal(r.family.expires_at, T0 + 3600);
    }
    audit_count rot = audit_of(s, "refresh_token_rotated");
    assert_int_equal(rot.n, 3);
    assert_string_equal(rot.last_ref, fam.id);
    assert_memory_equal(rot.last_prefix, h[2], 8);

    /* Unknown hash. */
    char x[TS_STORE_HASH_LEN + 1], y[TS_STORE_HASH_LEN + 1];
    random_hash(x);
    random_hash(y);
    assert_int_equal(ts_store_refresh_rotate(s, x, y, NULL, T0 + 50, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_ROTATE_NOT_FOUND);
    /* Bad arguments. */
    assert_int_equal(ts_store_refresh_rotate(s, x, x, NULL, T0 + 50, &r, NULL), TS_EINVAL);
    assert_int_equal(ts_store_refresh_rotate(s, "nope", y, NULL, T0 + 50, &r, NULL), TS_EINVAL);
    /* A family whose first hash is taken is refused. */
    ts_store_family_params p = {"svc", "smd", "", 3600, h[3], NULL, T0};
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_store_family_create(s, &p, NULL, &err), TS_EINVAL);
    p.first_hash = x;
    p.refresh_ttl_s = 60; /* below the 1 h minimum */
    ts_error_clear(&err);
    assert_int_equal(ts_store_family_create(s, &p, NULL, &err), TS_EINVAL);
    assert_string_equal(err.where, "refresh_ttl");
    ts_store_free(s);
    tdir_remove(&t);
}

static void test_reuse_revokes_family(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    char h0[TS_STORE_HASH_LEN + 1], h1[TS_STORE_HASH_LEN + 1], h2[TS_STORE_HASH_LEN + 1];
    char h3[TS_STORE_HASH_LEN + 1];
    ts_store_family fam, other;
    new_family(s, T0, 3600, h0, &fam);
    char o0[TS_STORE_HASH_LEN + 1];
    new_family(s, T0, 3600, o0, &other);
    random_hash(h1);
    random_hash(h2);
    random_hash(h3);
    ts_store_rotate_result r;
    assert_int_equal(ts_store_refresh_rotate(s, h0, h1, "10.0.0.1", T0 + 1, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_ROTATE_OK);
    /* An attacker replays the old token h0. */
    assert_int_equal(ts_store_refresh_rotate(s, h0, h2, "10.6.6.6", T0 + 2, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_ROTATE_REUSE_DETECTED);
    assert_true(r.replayed);
    assert_string_equal(ts_store_rotate_outcome_str(r.outcome), "reuse_detected");
    assert_string_equal(r.family.id, fam.id);
    assert_int_equal(r.family.revoked_at, T0 + 2);
    /* The whole family is dead: the legitimate current token too. */
    assert_int_equal(ts_store_refresh_rotate(s, h1, h3, "10.0.0.1", T0 + 3, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_ROTATE_REVOKED);
    assert_false(r.replayed); /* its current token, not a replay */
    ts_store_family f;
    assert_int_equal(ts_store_family_get(s, fam.id, &f, NULL), TS_OK);
    assert_string_equal(f.revoke_reason, "reuse_detected");
    assert_int_equal(f.usage_count, 1);
    audit_count rd = audit_of(s, "refresh_token_replay_detected");
    assert_int_equal(rd.n, 1);
    assert_string_equal(rd.last_ref, fam.id);
    audit_count fr = audit_of(s, "refresh_token_family_revoked");
    assert_int_equal(fr.n, 1);
    assert_non_null(strstr(fr.last_detail, "reuse_detected"));
    /* Replaying h0 again: revoked, audited once more as an already-revoked replay (later ones
     * are counted into such a row at most once an hour: test_store_replay). */
    assert_int_equal(ts_store_refresh_rotate(s, h0, h3, "10.6.6.6", T0 + 4, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_ROTATE_REVOKED);
    assert_true(r.replayed);
    assert_int_equal(audit_of(s, "refresh_token_replay_detected").n, 1);
    audit_count ar = audit_of(s, "refresh_token_family_already_revoked");
    assert_int_equal(ar.n, 1);
    assert_string_equal(ar.last_ref, fam.id);
    assert_memory_equal(ar.last_prefix, h0, 8);
    assert_string_equal(ar.last_detail,
                        "{\"replays\":1,\"first_at\":1750000004,\"last_at\":1750000004}");
    /* Other families are untouched. */
    assert_int_equal(ts_store_refresh_rotate(s, o0, h3, "10.0.0.2", T0 + 5, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_ROTATE_OK);
    ts_store_free(s);
    tdir_remove(&t);
}

static void test_expiry_and_revoke(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    char h0[TS_STORE_HASH_LEN + 1], h1[TS_STORE_HASH_LEN + 1], h2[TS_STORE_HASH_LEN + 1];
    ts_store_family fam;
    new_family(s, T0, 3600, h0, &fam);
    random_hash(h1);
    random_hash(h2);
    ts_store_rotate_result r;
    assert_int_equal(ts_store_refresh_rotate(s, h0, h1, NULL, T0 + 3599, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_ROTATE_OK);
    assert_int_equal(ts_store_refresh_rotate(s, h1, h2, NULL, T0 + 3600, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_ROTATE_EXPIRED);
    /* A rotated token of an expired family is just expired, not a reuse. */
    assert_int_equal(ts_store_refresh_rotate(s, h0, h2, NULL, T0 + 3700, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_ROTATE_EXPIRED);
    assert_true(r.replayed);
    ts_store_family f;
    assert_int_equal(ts_store_family_get(s, fam.id, &f, NULL), TS_OK);
    assert_int_equal(f.revoked_at, 0);

    /* Explicit revocation: idempotent, audited once. */
    ts_store_family fam2;
    char g0[TS_STORE_HASH_LEN + 1];
    new_family(s, T0, 3600, g0, &fam2);
    bool revoked = false;
    assert_int_equal(ts_store_family_revoke(s, fam2.id, "admin", T0 + 5, &revoked, NULL), TS_OK);
    assert_true(revoked);
    assert_int_equal(ts_store_family_revoke(s, fam2.id, "admin", T0 + 6, &revoked, NULL), TS_OK);
    assert_false(revoked);
    assert_int_equal(audit_of(s, "refresh_token_family_revoked").n, 1);
    assert_int_equal(ts_store_refresh_rotate(s, g0, h2, NULL, T0 + 7, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_ROTATE_REVOKED);
    assert_string_equal(r.family.revoke_reason, "admin");
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_store_family_revoke(s, "fam-unknown", NULL, T0, NULL, &err), TS_ENOTFOUND);
    assert_int_equal(ts_store_family_revoke(s, "fam-x", "Bad Reason", T0, NULL, NULL), TS_EINVAL);
    assert_int_equal(ts_store_family_get(s, "fam-unknown", &f, NULL), TS_ENOTFOUND);
    assert_int_equal(ts_store_family_get(s, "FAM'; DROP", &f, NULL), TS_EINVAL);
    ts_store_free(s);
    tdir_remove(&t);
}

#define ROTATORS 16

typedef struct rotator {
    ts_store *s;
    const char *presented;
    pthread_barrier_t *barrier;
    ts_status st;
    ts_store_rotate_result r;
} rotator;

static void *rot_main(void *arg)
{
    rotator *rt = arg;
    char nh[TS_STORE_HASH_LEN + 1];
    random_hash(nh);
    pthread_barrier_wait(rt->barrier);
    rt->st = ts_store_refresh_rotate(rt->s, rt->presented, nh, "10.0.0.1", T0 + 1, &rt->r, NULL);
    return NULL;
}

static void test_concurrent_rotations(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    for (int round = 0; round < 5; round++) {
        char h0[TS_STORE_HASH_LEN + 1];
        ts_store_family fam;
        new_family(s, T0, 3600, h0, &fam);
        pthread_barrier_t barrier;
        pthread_barrier_init(&barrier, NULL, ROTATORS);
        rotator rts[ROTATORS];
        pthread_t th[ROTATORS];
        for (int i = 0; i < ROTATORS; i++) {
            memset(&rts[i], 0, sizeof rts[i]);
            rts[i].s = s;
            rts[i].presented = h0;
            rts[i].barrier = &barrier;
            assert_int_equal(pthread_create(&th[i], NULL, rot_main, &rts[i]), 0);
        }
        int ok = 0, reuse = 0, revoked = 0;
        for (int i = 0; i < ROTATORS; i++) {
            pthread_join(th[i], NULL);
            assert_int_equal(rts[i].st, TS_OK);
            ok += rts[i].r.outcome == TS_STORE_ROTATE_OK;
            reuse += rts[i].r.outcome == TS_STORE_ROTATE_REUSE_DETECTED;
            revoked += rts[i].r.outcome == TS_STORE_ROTATE_REVOKED;
        }
        pthread_barrier_destroy(&barrier);
        /* One winner; the first loser detects reuse and the rest find the family revoked. */
        assert_int_equal(ok, 1);
        assert_int_equal(reuse, 1);
        assert_int_equal(revoked, ROTATORS - 2);
        ts_store_family f;
        assert_int_equal(ts_store_family_get(s, fam.id, &f, NULL), TS_OK);
        assert_int_equal(f.usage_count, 1);
        assert_true(f.revoked_at != 0);
    }
    ts_store_free(s);
    tdir_remove(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_and_rotate_chain),
        cmocka_unit_test(test_reuse_revokes_family),
        cmocka_unit_test(test_expiry_and_revoke),
        cmocka_unit_test(test_concurrent_rotations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
