/* A flood of replays of one old refresh token: reuse detection revokes the family once, later
 * replays of the revoked family leave a bounded number of audit rows (with a count of the
 * replays) and no fsync per replay, and other families keep working. */
#include "store_test_util.h"

#include <pthread.h>

#include "fault_vfs.h"

#define ALREADY_REVOKED "refresh_token_family_already_revoked"

/* Every audit row of one family (ref_id), paged through the whole log. */
typedef struct family_rows {
    const char *family_id;
    int total, created, rotated, detected, revoked, already;
    long long replays; /* sum of "replays" over the already-revoked rows */
    int64_t last_id;   /* id of the last row seen, for paging */
} family_rows;

static int rows_cb(const ts_store_audit_entry *e, void *ud)
{
    family_rows *r = ud;
    r->last_id = e->id;
    if (strcmp(e->ref_id, r->family_id) != 0)
        return 0;
    r->total++;
    r->created += strcmp(e->type, "refresh_family_created") == 0;
    r->rotated += strcmp(e->type, "refresh_token_rotated") == 0;
    r->detected += strcmp(e->type, "refresh_token_replay_detected") == 0;
    r->revoked += strcmp(e->type, "refresh_token_family_revoked") == 0;
    if (strcmp(e->type, ALREADY_REVOKED) == 0) {
        r->already++;
        const char *p = e->detail ? strstr(e->detail, "\"replays\":") : NULL;
        assert_non_null(p);
        r->replays += strtoll(p + strlen("\"replays\":"), NULL, 10);
        /* Never a token or a full hash: the prefix only. */
        assert_true(strlen(e->hash_prefix) <= TS_STORE_PREFIX_LEN);
    }
    return 0;
}

static family_rows rows_of(ts_store *s, const char *family_id)
{
    family_rows r;
    memset(&r, 0, sizeof r);
    r.family_id = family_id;
    int64_t after = 0;
    for (;;) {
        r.last_id = after;
        assert_int_equal(ts_store_audit_list(s, after, 10000, rows_cb, &r, NULL), TS_OK);
        if (r.last_id == after)
            return r;
        after = r.last_id;
    }
}

static ts_store *open_full(const char *path)
{
    ts_store_options o = TS_STORE_OPTIONS_INIT;
    o.path = path;
    o.synchronous = TS_STORE_SYNC_FULL; /* so that every durable commit costs an fsync */
    ts_error err;
    ts_error_clear(&err);
    ts_store *s = ts_store_new(&o, &err);
    if (!s)
        fail_msg("ts_store_new: %s (%s)", err.msg, err.where);
    return s;
}

static void new_family(ts_store *s, char first[TS_STORE_HASH_LEN + 1], ts_store_family *out)
{
    random_hash(first);
    ts_store_family_params p = {"svc", "smd", "read", 86400, first, "10.0.0.1", T0};
    ts_error err;
    ts_error_clear(&err);
    if (ts_store_family_create(s, &p, out, &err) != TS_OK)
        fail_msg("family_create: %s", err.msg);
}

#define FLOOD 10000

static void test_replay_flood_is_bounded(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_full(t.db);
    char h0[65], h1[65], g[65], nh[65];
    ts_store_family fam, other;
    new_family(s, h0, &fam);
    new_family(s, g, &other);
    random_hash(h1);
    ts_store_rotate_result r;
    assert_int_equal(ts_store_refresh_rotate(s, h0, h1, "10.0.0.1", T0 + 1, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_ROTATE_OK);

    /* 10,000 replays of the rotated token h0, one a second (almost three hours), from changing
     * addresses, while the client of the other family keeps rotating. */
    int syncs_before = atomic_load(&fault_syncs);
    int rotations = 0;
    for (int i = 0; i < FLOOD; i++) {
        char peer[32];
        snprintf(peer, sizeof peer, "10.6.%d.%d", (i / 250) % 250, i % 250);
        random_hash(nh);
        ts_error err;
        ts_error_clear(&err);
        assert_int_equal(ts_store_refresh_rotate(s, h0, nh, peer, T0 + 2 + i, &r, &err), TS_OK);
        /* Reuse detection is as strong as ever: the first replay revokes the family. */
        assert_int_equal(r.outcome,
                         i == 0 ? TS_STORE_ROTATE_REUSE_DETECTED : TS_STORE_ROTATE_REVOKED);
        assert_string_equal(r.family.id, fam.id);
        if (i % 1000 == 999) {
            assert_int_equal(ts_store_refresh_rotate(s, g, nh, "10.0.0.2", T0 + 2 + i, &r, NULL),
                             TS_OK);
            assert_int_equal(r.outcome, TS_STORE_ROTATE_OK);
            memcpy(g, nh, sizeof g);
            rotations++;
        }
    }
    int flood_syncs = atomic_load(&fault_syncs) - syncs_before;

    ts_store_family f;
    assert_int_equal(ts_store_family_get(s, fam.id, &f, NULL), TS_OK);
    assert_int_equal(f.revoked_at, T0 + 2);
    assert_string_equal(f.revoke_reason, "reuse_detected");
    /* The legitimate current token of the revoked family stays refused. */
    assert_int_equal(ts_store_refresh_rotate(s, h1, nh, "10.0.0.1", T0 + FLOOD, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_ROTATE_REVOKED);
    assert_int_equal(ts_store_family_get(s, other.id, &f, NULL), TS_OK);
    assert_int_equal(f.usage_count, rotations);
    assert_int_equal(f.revoked_at, 0);

    /* The rows of the flood: reuse detection and revocation once each, then at most one
     * already-revoked row per hour (the default replay_audit_interval_s) -- here at most
     * 1 + 9,999 s / 3,600 s = 3 rows, not 9,999. */
    family_rows rows = rows_of(s, fam.id);
    assert_int_equal(rows.created, 1);
    assert_int_equal(rows.rotated, 1);
    assert_int_equal(rows.detected, 1);
    assert_int_equal(rows.revoked, 1);
    assert_true(rows.already >= 1);
    assert_true(rows.already <= 3);
    assert_true(rows.total <= 7);
    assert_true(rows.replays < FLOOD - 1);
    /* Only the commits that changed something cost an fsync: the revocation, the rows, the
     * legitimate rotations (and perhaps a checkpoint) -- not one per replay. */
    assert_true(flood_syncs <= 1 + rows.already + rotations + 4);

    /* Replays not yet written are counted in one last row when the store is closed: every
     * replay is accounted for. */
    ts_store_free(s);
    s = open_full(t.db);
    rows = rows_of(s, fam.id);
    assert_true(rows.already <= 4);
    assert_int_equal(rows.replays, FLOOD - 1);
    ts_store_free(s);
    tdir_remove(&t);
}

#define REPLAYERS 8
#define REPLAYS_EACH 250

typedef struct replayer {
    ts_store *s;
    const char *presented;
    pthread_barrier_t *barrier;
    int ok, reuse, revoked, other;
} replayer;

static void *replay_main(void *arg)
{
    replayer *rp = arg;
    pthread_barrier_wait(rp->barrier);
    for (int i = 0; i < REPLAYS_EACH; i++) {
        char nh[65];
        random_hash(nh);
        ts_store_rotate_result r;
        if (ts_store_refresh_rotate(rp->s, rp->presented, nh, "10.6.6.6", T0 + 10, &r, NULL) !=
            TS_OK)
            rp->other++;
        else if (r.outcome == TS_STORE_ROTATE_OK)
            rp->ok++;
        else if (r.outcome == TS_STORE_ROTATE_REUSE_DETECTED)
            rp->reuse++;
        else if (r.outcome == TS_STORE_ROTATE_REVOKED)
            rp->revoked++;
        else
            rp->other++;
    }
    return NULL;
}

/* Threads replaying one rotated token at once: one of them detects the reuse, and the rest of
 * the replays share one already-revoked row. */
static void test_concurrent_replays(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    char h0[65], h1[65];
    ts_store_family fam;
    new_family(s, h0, &fam);
    random_hash(h1);
    ts_store_rotate_result r;
    assert_int_equal(ts_store_refresh_rotate(s, h0, h1, "10.0.0.1", T0 + 1, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_ROTATE_OK);
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, REPLAYERS);
    replayer rp[REPLAYERS];
    pthread_t th[REPLAYERS];
    for (int i = 0; i < REPLAYERS; i++) {
        memset(&rp[i], 0, sizeof rp[i]);
        rp[i].s = s;
        rp[i].presented = h0;
        rp[i].barrier = &barrier;
        assert_int_equal(pthread_create(&th[i], NULL, replay_main, &rp[i]), 0);
    }
    int ok = 0, reuse = 0, revoked = 0, other = 0;
    for (int i = 0; i < REPLAYERS; i++) {
        pthread_join(th[i], NULL);
        ok += rp[i].ok;
        reuse += rp[i].reuse;
        revoked += rp[i].revoked;
        other += rp[i].other;
    }
    pthread_barrier_destroy(&barrier);
    assert_int_equal(ok, 0);
    assert_int_equal(other, 0);
    assert_int_equal(reuse, 1);
    assert_int_equal(revoked, REPLAYERS * REPLAYS_EACH - 1);
    family_rows rows = rows_of(s, fam.id);
    assert_int_equal(rows.detected, 1);
    assert_int_equal(rows.revoked, 1);
    assert_int_equal(rows.already, 1); /* all at one instant: one row */
    ts_store_free(s);
    s = open_store(t.db, NULL);
    rows = rows_of(s, fam.id);
    assert_int_equal(rows.already, 2);
    assert_int_equal(rows.replays, REPLAYERS * REPLAYS_EACH - 1);
    ts_store_free(s);
    tdir_remove(&t);
}

/* Replays counted between rows are written by collection once the interval has passed; a row
 * that cannot be written (disk full) keeps its replays for the next one. */
static void test_replay_rows_by_collection_and_failure(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store_options o = TS_STORE_OPTIONS_INIT;
    o.replay_audit_interval_s = 60;
    ts_store *s = open_store(t.db, &o);
    char h0[65], h1[65], nh[65];
    ts_store_family fam;
    new_family(s, h0, &fam);
    random_hash(h1);
    random_hash(nh);
    ts_store_rotate_result r;
    assert_int_equal(ts_store_refresh_rotate(s, h0, h1, "10.0.0.1", T0 + 1, &r, NULL), TS_OK);
    assert_int_equal(ts_store_refresh_rotate(s, h0, nh, "10.6.6.6", T0 + 2, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_ROTATE_REUSE_DETECTED);
    /* First replay of the revoked family: a row at once. Two more within the interval. */
    assert_int_equal(ts_store_refresh_rotate(s, h0, nh, "10.6.6.6", T0 + 10, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_ROTATE_REVOKED);
    assert_int_equal(ts_store_refresh_rotate(s, h0, nh, "10.6.6.7", T0 + 20, &r, NULL), TS_OK);
    assert_int_equal(ts_store_refresh_rotate(s, h0, nh, "10.6.6.8", T0 + 30, &r, NULL), TS_OK);
    assert_int_equal(rows_of(s, fam.id).already, 1);
    ts_store_gc_counts c;
    assert_int_equal(ts_store_collect_expired(s, T0 + 69, &c, NULL), TS_OK);
    assert_int_equal(rows_of(s, fam.id).already, 1);
    assert_int_equal(ts_store_collect_expired(s, T0 + 70, &c, NULL), TS_OK);
    family_rows rows = rows_of(s, fam.id);
    assert_int_equal(rows.already, 2);
    assert_int_equal(rows.replays, 3);
    audit_count last = audit_of(s, ALREADY_REVOKED);
    assert_string_equal(last.last_detail,
                        "{\"replays\":2,\"first_at\":1750000020,\"last_at\":1750000030}");
    /* Nothing pending: later collections write nothing and forget the family. */
    assert_int_equal(ts_store_collect_expired(s, T0 + 200, &c, NULL), TS_OK);
    assert_int_equal(rows_of(s, fam.id).already, 2);

    /* The disk fills: the due row cannot be written, the call fails, the replay stays
     * counted and is written with the next row. */
    atomic_store(&fault_wal_writes_left, 0);
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_store_refresh_rotate(s, h0, nh, "10.6.6.9", T0 + 300, &r, &err), TS_EIO);
    assert_int_equal(ts_store_collect_expired(s, T0 + 301, &c, NULL), TS_EIO);
    atomic_store(&fault_wal_writes_left, -1);
    assert_int_equal(ts_store_refresh_rotate(s, h0, nh, "10.6.6.9", T0 + 301, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_ROTATE_REVOKED);
    rows = rows_of(s, fam.id);
    assert_int_equal(rows.already, 3);
    assert_int_equal(rows.replays, 5);
    ts_store_free(s);
    s = open_store(t.db, &o);
    assert_int_equal(rows_of(s, fam.id).replays, 5); /* nothing was left to write at close */
    ts_store_free(s);
    tdir_remove(&t);
}

int main(void)
{
    if (fault_vfs_install() != SQLITE_OK) {
        fprintf(stderr, "cannot install the test VFS\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_flood_is_bounded),
        cmocka_unit_test(test_concurrent_replays),
        cmocka_unit_test(test_replay_rows_by_collection_and_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
