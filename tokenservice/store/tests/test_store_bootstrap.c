/* Bootstrap tokens: validation before writing, redeem outcomes, replay counting, the
 * lost-response retry window, races between threads and between processes, and no raw token
 * at rest. */
#include "store_test_util.h"

#include <pthread.h>
#include <sys/wait.h>

static void expect_create_fails(ts_store *s, ts_store_bootstrap_params p, const char *where)
{
    char tok[TS_STORE_TOKEN_LEN + 1] = "x";
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_store_bootstrap_create(s, &p, tok, NULL, &err), TS_EINVAL);
    assert_string_equal(err.where, where);
    assert_string_equal(tok, "");
}

static void test_create_validation(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    const ts_store_bootstrap_params ok = {"svc", "smd", "a", NULL, 600, 86400, T0};
    ts_store_bootstrap_params p = ok;
    p.subject = "";
    expect_create_fails(s, p, "subject");
    p.subject = "   ";
    expect_create_fails(s, p, "subject");
    p.subject = "bad\nsubject";
    expect_create_fails(s, p, "subject");
    p.subject = "bad\xff";
    expect_create_fails(s, p, "subject");
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    p.subject = longname;
    expect_create_fails(s, p, "subject");
    p = ok;
    p.audience = NULL;
    expect_create_fails(s, p, "audience");
    p = ok;
    p.scopes = "read \"write\"";
    expect_create_fails(s, p, "scopes");
    p.scopes = "a\\b";
    expect_create_fails(s, p, "scopes");
    p = ok;
    p.ttl_s = 59;
    expect_create_fails(s, p, "ttl");
    p.ttl_s = 3601;
    expect_create_fails(s, p, "ttl");
    p = ok;
    p.refresh_ttl_s = 3599;
    expect_create_fails(s, p, "refresh_ttl");
    p.refresh_ttl_s = 30 * 86400 + 1;
    expect_create_fails(s, p, "refresh_ttl");
    p = ok;
    p.now = 0;
    expect_create_fails(s, p, "now");
    /* Nothing at all was written. */
    assert_int_equal(audit_of(s, "bootstrap_token_created").n, 0);

    /* Bounds are inclusive, scopes are normalised. */
    p = ok;
    p.ttl_s = 60;
    p.refresh_ttl_s = 30 * 86400;
    p.scopes = " node:read,node:write\tnode:read\n,, admin ";
    p.subject = "Ünïcode service";
    char tok[TS_STORE_TOKEN_LEN + 1];
    ts_store_bootstrap_record rec;
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_store_bootstrap_create(s, &p, tok, &rec, &err), TS_OK);
    assert_int_equal(strlen(tok), 64);
    assert_string_equal(rec.scope, "node:read node:write admin");
    assert_string_equal(rec.subject, "Ünïcode service");
    assert_int_equal(rec.expires_at, T0 + 60);
    assert_int_equal(rec.consumed_at, 0);
    assert_memory_equal(rec.id, "bt-", 3);
    assert_int_equal(strlen(rec.id), 35);
    audit_count c = audit_of(s, "bootstrap_token_created");
    assert_int_equal(c.n, 1);
    assert_string_equal(c.last_ref, rec.id);
    assert_memory_equal(c.last_prefix, rec.token_hash, 8);
    assert_int_equal(strlen(c.last_prefix), 8);
    assert_non_null(strstr(c.last_detail, "\"audience\":\"smd\""));
    /* Options tighten the bounds. */
    ts_store_free(s);
    ts_store_options o = TS_STORE_OPTIONS_INIT;
    o.bootstrap_ttl_max_s = 300;
    s = open_store(t.db, &o);
    p = ok;
    expect_create_fails(s, p, "ttl");
    ts_store_free(s);
    tdir_remove(&t);
}

static void test_redeem_outcomes(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    char tok[TS_STORE_TOKEN_LEN + 1], hash[TS_STORE_HASH_LEN + 1], rh[TS_STORE_HASH_LEN + 1];
    make_bootstrap(s, T0, tok, hash);
    random_hash(rh);
    ts_store_redeem_result r;
    ts_error err;
    ts_error_clear(&err);

    /* Malformed arguments are errors, not outcomes. */
    assert_int_equal(ts_store_bootstrap_redeem(s, "ABC", "p", T0, rh, &r, &err), TS_EINVAL);
    assert_int_equal(ts_store_bootstrap_redeem(s, hash, "p", T0, hash, &r, NULL), TS_EINVAL);
    assert_int_equal(ts_store_bootstrap_redeem(s, hash, "bad peer", T0, rh, &r, NULL), TS_EINVAL);

    /* Unknown. */
    char other[TS_STORE_HASH_LEN + 1];
    random_hash(other);
    assert_int_equal(ts_store_bootstrap_redeem(s, other, "10.0.0.9", T0 + 1, rh, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_REDEEM_NOT_FOUND);
    assert_string_equal(ts_store_redeem_outcome_str(r.outcome), "not_found");

    /* Success: consumed, and the family exists with an absolute expiry. */
    assert_int_equal(ts_store_bootstrap_redeem(s, hash, "10.0.0.1", T0 + 10, rh, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_REDEEM_OK);
    assert_int_equal(r.record.consumed_at, T0 + 10);
    assert_string_equal(r.record.consumed_by, "10.0.0.1");
    assert_string_equal(r.record.family_id, r.family.id);
    assert_string_equal(r.family.subject, "boot-service");
    assert_string_equal(r.family.scope, "node:read node:write");
    assert_int_equal(r.family.expires_at, T0 + 10 + 86400);
    ts_store_family fam;
    assert_int_equal(ts_store_family_get(s, r.family.id, &fam, NULL), TS_OK);
    assert_int_equal(fam.revoked_at, 0);
    audit_count ex = audit_of(s, "bootstrap_token_exchanged");
    assert_int_equal(ex.n, 1);
    assert_non_null(strstr(ex.last_detail, r.family.id));

    /* Replay: refused, counted, audited; never a second family. */
    for (int i = 1; i <= 3; i++) {
        char rh2[TS_STORE_HASH_LEN + 1];
        random_hash(rh2);
        assert_int_equal(ts_store_bootstrap_redeem(s, hash, "10.0.0.1", T0 + 20, rh2, &r, NULL),
                         TS_OK);
        assert_int_equal(r.outcome, TS_STORE_REDEEM_ALREADY_CONSUMED);
        assert_int_equal(r.record.replay_attempts, i);
    }
    audit_count rp = audit_of(s, "bootstrap_token_replay_attempted");
    assert_int_equal(rp.n, 3);
    assert_string_equal(rp.last_detail, "{\"replay_attempts\":3}");
    ts_store_bootstrap_record rec;
    assert_int_equal(ts_store_bootstrap_get(s, hash, &rec, NULL), TS_OK);
    assert_int_equal(rec.replay_attempts, 3);
    assert_int_equal(ts_store_bootstrap_get(s, other, &rec, &err), TS_ENOTFOUND);

    /* Expiry: valid while now < expires_at. */
    char tok2[TS_STORE_TOKEN_LEN + 1], hash2[TS_STORE_HASH_LEN + 1];
    make_bootstrap(s, T0, tok2, hash2);
    assert_int_equal(ts_store_bootstrap_redeem(s, hash2, "10.0.0.1", T0 + 600, rh, &r, NULL),
                     TS_OK);
    assert_int_equal(r.outcome, TS_STORE_REDEEM_EXPIRED);
    assert_int_equal(r.record.consumed_at, 0);
    assert_int_equal(audit_of(s, "bootstrap_token_expired").n, 1);
    char tok3[TS_STORE_TOKEN_LEN + 1], hash3[TS_STORE_HASH_LEN + 1], rh3[TS_STORE_HASH_LEN + 1];
    make_bootstrap(s, T0, tok3, hash3);
    random_hash(rh3);
    assert_int_equal(ts_store_bootstrap_redeem(s, hash3, "", T0 + 599, rh3, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_REDEEM_OK);
    /* A refresh hash already used by another family is refused and consumes nothing. */
    char tok4[TS_STORE_TOKEN_LEN + 1], hash4[TS_STORE_HASH_LEN + 1];
    make_bootstrap(s, T0, tok4, hash4);
    ts_error_clear(&err);
    assert_int_equal(ts_store_bootstrap_redeem(s, hash4, "", T0 + 1, rh3, &r, &err), TS_EINVAL);
    assert_int_equal(ts_store_bootstrap_get(s, hash4, &rec, NULL), TS_OK);
    assert_int_equal(rec.consumed_at, 0);
    ts_store_free(s);
    tdir_remove(&t);
}

static void test_strict_single_use_by_default(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    char tok[TS_STORE_TOKEN_LEN + 1], hash[TS_STORE_HASH_LEN + 1], rh[TS_STORE_HASH_LEN + 1];
    make_bootstrap(s, T0, tok, hash);
    random_hash(rh);
    ts_store_redeem_result r;
    assert_int_equal(ts_store_bootstrap_redeem(s, hash, "10.0.0.1", T0 + 1, rh, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_REDEEM_OK);
    /* The same client retrying a second later is refused: it needs a new bootstrap token. */
    random_hash(rh);
    assert_int_equal(ts_store_bootstrap_redeem(s, hash, "10.0.0.1", T0 + 2, rh, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_REDEEM_ALREADY_CONSUMED);
    ts_store_free(s);
    tdir_remove(&t);
}

static void test_retry_window(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store_options o = TS_STORE_OPTIONS_INIT;
    o.redeem_retry_grace_s = 60;
    o.redeem_retry_max = 2;
    ts_store *s = open_store(t.db, &o);
    char tok[TS_STORE_TOKEN_LEN + 1], hash[TS_STORE_HASH_LEN + 1];
    char rh1[TS_STORE_HASH_LEN + 1], rh2[TS_STORE_HASH_LEN + 1], rh3[TS_STORE_HASH_LEN + 1];
    random_hash(rh1);
    random_hash(rh2);
    random_hash(rh3);
    make_bootstrap(s, T0, tok, hash);
    ts_store_redeem_result r;
    assert_int_equal(ts_store_bootstrap_redeem(s, hash, "10.0.0.1", T0 + 1, rh1, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_REDEEM_OK);
    char fam1[TS_STORE_ID_MAX + 1];
    memcpy(fam1, r.family.id, sizeof fam1);

    /* Another peer: refused. */
    assert_int_equal(ts_store_bootstrap_redeem(s, hash, "10.0.0.2", T0 + 5, rh2, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_REDEEM_ALREADY_CONSUMED);

    /* Same peer within the window, family unused: a fresh family, the old one revoked. */
    assert_int_equal(ts_store_bootstrap_redeem(s, hash, "10.0.0.1", T0 + 5, rh2, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_REDEEM_REISSUED);
    assert_string_equal(ts_store_redeem_outcome_str(r.outcome), "reissued");
    assert_string_equal(r.revoked_family_id, fam1);
    assert_string_not_equal(r.family.id, fam1);
    assert_string_equal(r.record.family_id, r.family.id);
    assert_int_equal(r.record.reissue_count, 1);
    assert_int_equal(r.family.expires_at, T0 + 5 + 86400);
    ts_store_family f;
    assert_int_equal(ts_store_family_get(s, fam1, &f, NULL), TS_OK);
    assert_int_equal(f.revoked_at, T0 + 5);
    assert_string_equal(f.revoke_reason, "bootstrap_retry");
    ts_store_rotate_result rr;
    char nh[TS_STORE_HASH_LEN + 1];
    random_hash(nh);
    assert_int_equal(ts_store_refresh_rotate(s, rh1, nh, "10.0.0.1", T0 + 6, &rr, NULL), TS_OK);
    assert_int_equal(rr.outcome, TS_STORE_ROTATE_REVOKED);
    assert_int_equal(audit_of(s, "bootstrap_token_reissued").n, 1);

    /* Once the new family has been refreshed, a retry is a replay. */
    assert_int_equal(ts_store_refresh_rotate(s, rh2, nh, "10.0.0.1", T0 + 7, &rr, NULL), TS_OK);
    assert_int_equal(rr.outcome, TS_STORE_ROTATE_OK);
    assert_int_equal(ts_store_bootstrap_redeem(s, hash, "10.0.0.1", T0 + 8, rh3, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_REDEEM_ALREADY_CONSUMED);

    /* Outside the window: a replay. */
    char tokb[TS_STORE_TOKEN_LEN + 1], hashb[TS_STORE_HASH_LEN + 1];
    make_bootstrap(s, T0, tokb, hashb);
    random_hash(rh1);
    random_hash(rh2);
    assert_int_equal(ts_store_bootstrap_redeem(s, hashb, "10.0.0.1", T0 + 1, rh1, &r, NULL), TS_OK);
    assert_int_equal(ts_store_bootstrap_redeem(s, hashb, "10.0.0.1", T0 + 62, rh2, &r, NULL),
                     TS_OK);
    assert_int_equal(r.outcome, TS_STORE_REDEEM_ALREADY_CONSUMED);
    assert_int_equal(ts_store_bootstrap_redeem(s, hashb, "10.0.0.1", T0 + 61, rh2, &r, NULL),
                     TS_OK);
    assert_int_equal(r.outcome, TS_STORE_REDEEM_REISSUED);

    /* At most redeem_retry_max reissues. */
    random_hash(rh3);
    assert_int_equal(ts_store_bootstrap_redeem(s, hashb, "10.0.0.1", T0 + 61, rh3, &r, NULL),
                     TS_OK);
    assert_int_equal(r.outcome, TS_STORE_REDEEM_REISSUED);
    assert_int_equal(r.record.reissue_count, 2);
    random_hash(rh3);
    assert_int_equal(ts_store_bootstrap_redeem(s, hashb, "10.0.0.1", T0 + 61, rh3, &r, NULL),
                     TS_OK);
    assert_int_equal(r.outcome, TS_STORE_REDEEM_ALREADY_CONSUMED);

    /* Without a peer there is nothing to match: a replay. */
    char tokc[TS_STORE_TOKEN_LEN + 1], hashc[TS_STORE_HASH_LEN + 1];
    make_bootstrap(s, T0, tokc, hashc);
    random_hash(rh1);
    random_hash(rh2);
    assert_int_equal(ts_store_bootstrap_redeem(s, hashc, NULL, T0 + 1, rh1, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_REDEEM_OK);
    assert_int_equal(ts_store_bootstrap_redeem(s, hashc, NULL, T0 + 2, rh2, &r, NULL), TS_OK);
    assert_int_equal(r.outcome, TS_STORE_REDEEM_ALREADY_CONSUMED);
    ts_store_free(s);
    tdir_remove(&t);
}

/* ---- the race between threads ------------------------------------------------------------- */

#define RACERS 100

typedef struct racer {
    ts_store *s;
    const char *hash;
    pthread_barrier_t *barrier;
    char peer[32];
    ts_status st;
    ts_store_redeem_result r;
} racer;

static void *race_main(void *arg)
{
    racer *rc = arg;
    char rh[TS_STORE_HASH_LEN + 1];
    random_hash(rh);
    pthread_barrier_wait(rc->barrier);
    ts_error err;
    ts_error_clear(&err);
    rc->st = ts_store_bootstrap_redeem(rc->s, rc->hash, rc->peer, T0 + 1, rh, &rc->r, &err);
    if (rc->st != TS_OK)
        fprintf(stderr, "redeem: %s\n", err.msg);
    return NULL;
}

static void run_race(const ts_store_options *o, bool same_peer, int *ok, int *reissued,
                     int *consumed)
{
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, o);
    char tok[TS_STORE_TOKEN_LEN + 1], hash[TS_STORE_HASH_LEN + 1];
    make_bootstrap(s, T0, tok, hash);
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, RACERS);
    static racer rcs[RACERS];
    pthread_t th[RACERS];
    for (int i = 0; i < RACERS; i++) {
        memset(&rcs[i], 0, sizeof rcs[i]);
        rcs[i].s = s;
        rcs[i].hash = hash;
        rcs[i].barrier = &barrier;
        snprintf(rcs[i].peer, sizeof rcs[i].peer, "10.1.0.%d", same_peer ? 1 : i);
        assert_int_equal(pthread_create(&th[i], NULL, race_main, &rcs[i]), 0);
    }
    *ok = *reissued = *consumed = 0;
    for (int i = 0; i < RACERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(rcs[i].st, TS_OK);
        switch (rcs[i].r.outcome) {
        case TS_STORE_REDEEM_OK:
            (*ok)++;
            break;
        case TS_STORE_REDEEM_REISSUED:
            (*reissued)++;
            break;
        case TS_STORE_REDEEM_ALREADY_CONSUMED:
            (*consumed)++;
            break;
        default:
            fail_msg("unexpected outcome %d", (int)rcs[i].r.outcome);
        }
    }
    pthread_barrier_destroy(&barrier);
    /* Exactly one family is live, whatever happened. */
    ts_store_bootstrap_record rec;
    assert_int_equal(ts_store_bootstrap_get(s, hash, &rec, NULL), TS_OK);
    assert_int_equal(rec.replay_attempts, *consumed);
    int live = 0;
    for (int i = 0; i < RACERS; i++) {
        if (rcs[i].r.outcome != TS_STORE_REDEEM_OK && rcs[i].r.outcome != TS_STORE_REDEEM_REISSUED)
            continue;
        ts_store_family f;
        assert_int_equal(ts_store_family_get(s, rcs[i].r.family.id, &f, NULL), TS_OK);
        if (f.revoked_at == 0) {
            live++;
            assert_string_equal(f.id, rec.family_id);
        }
    }
    assert_int_equal(live, 1);
    assert_int_equal(audit_of(s, "bootstrap_token_exchanged").n, 1);
    ts_store_free(s);
    tdir_remove(&t);
}

static void test_race_threads(void **state)
{
    (void)state;
    int ok, reissued, consumed;
    ts_store_options o = TS_STORE_OPTIONS_INIT;
    run_race(&o, true, &ok, &reissued, &consumed);
    assert_int_equal(ok, 1);
    assert_int_equal(reissued, 0);
    assert_int_equal(consumed, RACERS - 1);
    /* With the retry window on and distinct peers: still exactly one. */
    o.redeem_retry_grace_s = 60;
    run_race(&o, false, &ok, &reissued, &consumed);
    assert_int_equal(ok, 1);
    assert_int_equal(reissued, 0);
    assert_int_equal(consumed, RACERS - 1);
    /* With one connection the pool serialises callers; the outcome is the same. */
    o.redeem_retry_grace_s = 0;
    o.max_connections = 1;
    run_race(&o, true, &ok, &reissued, &consumed);
    assert_int_equal(ok, 1);
    assert_int_equal(consumed, RACERS - 1);
    /* Retry window on, same peer: one OK, at most redeem_retry_max reissues, one live family
     * (checked inside run_race). */
    o = (ts_store_options)TS_STORE_OPTIONS_INIT;
    o.redeem_retry_grace_s = 60;
    run_race(&o, true, &ok, &reissued, &consumed);
    assert_int_equal(ok, 1);
    assert_true(reissued <= (int)o.redeem_retry_max);
    assert_int_equal(ok + reissued + consumed, RACERS);
}

/* ---- the race between processes ----------------------------------------------------------- */

#define CHILDREN 10

static int child_redeem(const char *db, const char *hash, int start_fd)
{
    char c;
    /* Block until the parent closes the pipe, so that all children start together. */
    while (read(start_fd, &c, 1) > 0) {
    }
    ts_store_options o = TS_STORE_OPTIONS_INIT;
    o.path = db;
    o.synchronous = TS_STORE_SYNC_NORMAL;
    ts_store *s = ts_store_new(&o, NULL);
    if (!s)
        return 3;
    char rh[TS_STORE_HASH_LEN + 1];
    char tok[TS_STORE_TOKEN_LEN + 1];
    if (ts_store_token_generate(tok, NULL) != TS_OK ||
        ts_store_token_hash(tok, strlen(tok), rh, NULL) != TS_OK)
        return 4;
    ts_store_redeem_result r;
    ts_error err;
    ts_error_clear(&err);
    ts_status st = ts_store_bootstrap_redeem(s, hash, "10.2.0.1", T0 + 1, rh, &r, &err);
    ts_store_free(s);
    if (st != TS_OK) {
        fprintf(stderr, "child: %s\n", err.msg);
        return 5;
    }
    return r.outcome == TS_STORE_REDEEM_OK                 ? 0
           : r.outcome == TS_STORE_REDEEM_ALREADY_CONSUMED ? 1
                                                           : 2;
}

static void test_race_processes(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    char tok[TS_STORE_TOKEN_LEN + 1], hash[TS_STORE_HASH_LEN + 1];
    make_bootstrap(s, T0, tok, hash);
    ts_store_free(s); /* no SQLite connection may cross fork() */

    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pids[CHILDREN];
    for (int i = 0; i < CHILDREN; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            close(fds[1]);
            _exit(child_redeem(t.db, hash, fds[0]));
        }
    }
    close(fds[0]);
    close(fds[1]); /* start */
    int ok = 0, consumed = 0;
    for (int i = 0; i < CHILDREN; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        int code = WEXITSTATUS(status);
        if (code == 0)
            ok++;
        else if (code == 1)
            consumed++;
        else
            fail_msg("child exited with %d", code);
    }
    assert_int_equal(ok, 1);
    assert_int_equal(consumed, CHILDREN - 1);
    s = open_store(t.db, NULL);
    ts_store_bootstrap_record rec;
    assert_int_equal(ts_store_bootstrap_get(s, hash, &rec, NULL), TS_OK);
    assert_int_equal(rec.replay_attempts, CHILDREN - 1);
    assert_int_equal(ts_store_check(s, true, NULL), TS_OK);
    ts_store_free(s);
    tdir_remove(&t);
}

/* ---- nothing secret at rest --------------------------------------------------------------- */

static bool file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    fclose(f);
    size_t nl = strlen(needle);
    bool found = false;
    for (size_t i = 0; !found && i + nl <= len; i++)
        found = memcmp(buf + i, needle, nl) == 0;
    free(buf);
    return found;
}

static void test_no_raw_tokens_at_rest(void **state)
{
    (void)state;
    SQLITE_ONLY(); /* reads the database file */
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    char tok[TS_STORE_TOKEN_LEN + 1], hash[TS_STORE_HASH_LEN + 1];
    make_bootstrap(s, T0, tok, hash);
    char rt1[TS_STORE_TOKEN_LEN + 1], rt2[TS_STORE_TOKEN_LEN + 1];
    char rh1[TS_STORE_HASH_LEN + 1], rh2[TS_STORE_HASH_LEN + 1];
    assert_int_equal(ts_store_token_generate(rt1, NULL), TS_OK);
    assert_int_equal(ts_store_token_generate(rt2, NULL), TS_OK);
    assert_int_equal(ts_store_token_hash(rt1, 64, rh1, NULL), TS_OK);
    assert_int_equal(ts_store_token_hash(rt2, 64, rh2, NULL), TS_OK);
    ts_store_redeem_result r;
    assert_int_equal(ts_store_bootstrap_redeem(s, hash, "10.0.0.1", T0 + 1, rh1, &r, NULL), TS_OK);
    ts_store_rotate_result rr;
    assert_int_equal(ts_store_refresh_rotate(s, rh1, rh2, "10.0.0.1", T0 + 2, &rr, NULL), TS_OK);
    assert_int_equal(rr.outcome, TS_STORE_ROTATE_OK);

    char wal[sizeof t.db + 8];
    snprintf(wal, sizeof wal, "%s-wal", t.db);
    /* While open (data in the WAL) and after close (checkpointed into the main file). */
    for (int pass = 0; pass < 2; pass++) {
        const char *files[2] = {t.db, wal};
        for (int f = 0; f < 2; f++) {
            assert_false(file_contains(files[f], tok));
            assert_false(file_contains(files[f], rt1));
            assert_false(file_contains(files[f], rt2));
        }
        if (pass == 0) {
            /* The hash is what is stored: the scan would find it. */
            assert_true(file_contains(t.db, hash) || file_contains(wal, hash));
            ts_store_free(s);
        }
    }
    assert_true(file_contains(t.db, hash));
    tdir_remove(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_validation),
        cmocka_unit_test(test_redeem_outcomes),
        cmocka_unit_test(test_strict_single_use_by_default),
        cmocka_unit_test(test_retry_window),
        cmocka_unit_test(test_race_threads),
        cmocka_unit_test(test_race_processes),
        cmocka_unit_test(test_no_raw_tokens_at_rest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
