/* Automatic key rotation (keys_rotation.c) on an injected clock: a year of rotations where
 * every unexpired token verifies against the JWKS a verifier cached up to one cache lifetime
 * earlier; two replicas on one directory taking each step once and agreeing on the active key;
 * retirement into archive/ or deletion; steps taken by hand; the state of a token's keys
 * (labels, no files) kept apart from key files. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tokensmith/jose.h>

#include "keys.h"
#include "keys_rotation.h"

#define T0 1800000000LL
#define DAY 86400LL
#define TTL 3600LL   /* tokens' lifetime */
#define CACHE 3600LL /* a verifier's JWKS cache lifetime (= the pre-publication window) */
#define STEP 1800LL  /* the simulated check interval */
#define SNAPS (CACHE / STEP + 1)
#define LIVE_MAX 16

static ts_svc_rotation_policy policy(bool del)
{
    ts_svc_rotation_policy p = {0};
    p.interval_s = 30 * DAY;
    p.prepublish_s = CACHE;
    p.token_lifetime_s = TTL + TS_SVC_KEY_LEEWAY_S;
    p.retire_delete = del;
    p.alg = TS_JWS_ES256; /* fast to generate: a year makes a dozen keys */
    return p;
}

static char *tmpdir(void)
{
    char tmpl[] = "/tmp/ts-rot-XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    char *keys = NULL;
    assert_true(asprintf(&keys, "%s/keys", d) > 0);
    return keys;
}

static void rmtree(const char *keys)
{
    char *cmd = NULL;
    const char *slash = strrchr(keys, '/');
    assert_true(asprintf(&cmd, "rm -rf '%.*s'", (int)(slash - keys), keys) > 0);
    assert_int_equal(system(cmd), 0);
    free(cmd);
}

static void step_ok(const char *dir, const ts_svc_rotation_policy *p, int64_t now, unsigned flags,
                    ts_svc_rotation_report *r)
{
    ts_error err;
    ts_error_clear(&err);
    ts_status st = ts_svc_rotation_step(dir, p, now, flags, r, &err);
    if (st != TS_OK)
        fail_msg("step at %lld: %s: %s", (long long)now, err.where, err.msg);
}

/* Does @p jws verify against the JWKS document @p jwks (kid lookup, then the signature)? */
static bool verifies(const ts_jwks *jwks, const char *jws)
{
    const char *d1 = strchr(jws, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d2)
        return false;
    uint8_t *hdr = NULL, *sig = NULL;
    size_t hl = 0, sl = 0;
    ts_error err;
    ts_error_clear(&err);
    if (ts_b64url_decode(jws, (size_t)(d1 - jws), &hdr, &hl, &err) != TS_OK)
        return false;
    json_t *h = json_loadb((const char *)hdr, hl, 0, NULL);
    ts_free(hdr);
    const char *kid = json_string_value(json_object_get(h, "kid"));
    const ts_jwk *key = kid ? ts_jwks_find(jwks, kid, strlen(kid)) : NULL;
    bool ok = false;
    if (key && ts_b64url_decode(d2 + 1, strlen(d2 + 1), &sig, &sl, &err) == TS_OK) {
        ok = ts_jws_verify_raw(key, TS_JWS_ES256, jws, (size_t)(d2 - jws), sig, sl, &err) == TS_OK;
        ts_free(sig);
    }
    json_decref(h);
    return ok;
}

static ts_jwks *snapshot(ts_svc_keyring *kr)
{
    ts_error err;
    ts_error_clear(&err);
    const char *doc = ts_svc_keyring_jwks_json(kr);
    ts_jwks *set = ts_jwks_parse(doc, strlen(doc), &err);
    assert_non_null(set);
    return set;
}

static void reload_ok(ts_svc_keyring *kr)
{
    ts_error err;
    ts_error_clear(&err);
    ts_svc_keys_report kr_rep;
    if (ts_svc_keyring_reload(kr, &kr_rep, &err) != TS_OK)
        fail_msg("reload: %s: %s", err.where, err.msg);
}

static size_t count_in(const char *dir, const char *sub)
{
    char *cmd = NULL;
    assert_true(asprintf(&cmd,
                         "ls '%s/%s' 2>/dev/null | grep -v '^active.pem$' | grep -c '\\.pem$'", dir,
                         sub) > 0);
    FILE *f = popen(cmd, "r");
    free(cmd);
    assert_non_null(f);
    unsigned n = 0;
    if (fscanf(f, "%u", &n) != 1)
        n = 0;
    pclose(f);
    return n;
}

/* A year at STEP granularity: every unexpired token verifies against the JWKS as fetched now
 * and as fetched one cache lifetime ago. */
static void test_year(void **state)
{
    (void)state;
    char *dir = tmpdir();
    ts_svc_rotation_policy p = policy(false);
    ts_svc_rotation_report r;
    step_ok(dir, &p, T0, 0, &r);
    assert_true(r.active_kid[0]);
    ts_error err;
    ts_error_clear(&err);
    ts_svc_keyring *kr = ts_svc_keyring_open(NULL, dir, TS_JWS_ES256, false, &err);
    assert_non_null(kr);
    assert_string_equal(ts_jwk_thumbprint(ts_svc_keyring_active(kr)), r.active_kid);

    ts_jwks *snaps[SNAPS] = {0};
    char *tok[LIVE_MAX] = {0};
    int64_t exp[LIVE_MAX] = {0};
    unsigned promotions = 0, retired = 0, checks = 0;
    char last_active[TS_JOSE_THUMBPRINT_LEN + 1] = "";
    for (int64_t t = T0; t < T0 + 365 * DAY; t += STEP) {
        step_ok(dir, &p, t, 0, &r);
        if (r.changed)
            reload_ok(kr);
        if (r.promoted[0])
            promotions++;
        retired += r.retired;
        /* The service signs with the key the state calls active. */
        assert_string_equal(ts_jwk_thumbprint(ts_svc_keyring_active(kr)), r.active_kid);
        if (last_active[0] && strcmp(last_active, r.active_kid) != 0)
            assert_string_equal(r.promoted, r.active_kid);
        snprintf(last_active, sizeof last_active, "%s", r.active_kid);

        size_t slot = (size_t)((t - T0) / STEP) % SNAPS;
        ts_jwks *prev = snaps[(slot + SNAPS - 1) % SNAPS];
        ts_jwks_free(snaps[slot]);
        /* The document changes only on a reload: an unchanged one is shared, not re-read. */
        snaps[slot] = r.changed || !prev ? snapshot(kr) : ts_jwks_ref(prev);
        /* The oldest cache a verifier may still hold: fetched CACHE seconds ago. */
        const ts_jwks *old = snaps[(slot + 1) % SNAPS] ? snaps[(slot + 1) % SNAPS] : snaps[0];

        char payload[64];
        snprintf(payload, sizeof payload, "{\"exp\":%lld}", (long long)(t + TTL));
        size_t i = 0;
        while (i < LIVE_MAX && tok[i])
            i++;
        assert_true(i < LIVE_MAX);
        size_t len = 0;
        assert_int_equal(
            ts_svc_keyring_sign(kr, "JWT", payload, strlen(payload), &tok[i], &len, &err), TS_OK);
        exp[i] = t + TTL;
        for (size_t j = 0; j < LIVE_MAX; j++) {
            if (!tok[j])
                continue;
            if (exp[j] <= t) {
                ts_free(tok[j]);
                tok[j] = NULL;
                continue;
            }
            if (!verifies(snaps[slot], tok[j]) || !verifies(old, tok[j]))
                fail_msg("at day %lld a token expiring at %lld does not verify (%s JWKS)",
                         (long long)((t - T0) / DAY), (long long)exp[j],
                         verifies(snaps[slot], tok[j]) ? "cached" : "current");
            checks++;
        }
    }
    /* 365 days / 30: twelve promotions; every demoted key but the last was retired. */
    assert_int_equal(promotions, 12);
    assert_true(retired >= 11);
    assert_true(checks > 365 * DAY / STEP);
    assert_int_equal(count_in(dir, "archive"), retired);
    /* Published: the active key, at most one next and one retiring key. */
    assert_true(ts_svc_keyring_count(kr) <= 3);
    for (size_t j = 0; j < LIVE_MAX; j++)
        ts_free(tok[j]);
    for (size_t j = 0; j < SNAPS; j++)
        ts_jwks_free(snaps[j]);
    ts_svc_keyring_free(kr);
    rmtree(dir);
    free(dir);
}

typedef struct replica {
    const char *dir;
    int64_t now;
    pthread_barrier_t *go;
    ts_svc_rotation_report r;
    ts_status st;
} replica;

static void *replica_step(void *arg)
{
    replica *rp = arg;
    ts_svc_rotation_policy p = policy(false);
    ts_error err;
    ts_error_clear(&err);
    pthread_barrier_wait(rp->go);
    rp->st = ts_svc_rotation_step(rp->dir, &p, rp->now, 0, &rp->r, &err);
    return NULL;
}

static void concurrent(const char *dir, int64_t now, replica out[2])
{
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, 2);
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        out[i] = (replica){.dir = dir, .now = now, .go = &go};
        assert_int_equal(pthread_create(&th[i], NULL, replica_step, &out[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(out[i].st, TS_OK);
    }
    pthread_barrier_destroy(&go);
}

/* Two replicas (two keyrings, two threads) on one directory: each phase happens once. */
static void test_replicas(void **state)
{
    (void)state;
    char *dir = tmpdir();
    ts_svc_rotation_policy p = policy(false);
    ts_svc_rotation_report r;
    step_ok(dir, &p, T0, 0, &r);
    ts_error err;
    ts_error_clear(&err);
    ts_svc_keyring *a = ts_svc_keyring_open(NULL, dir, TS_JWS_ES256, false, &err);
    ts_svc_keyring *b = ts_svc_keyring_open(NULL, dir, TS_JWS_ES256, false, &err);
    assert_non_null(a);
    assert_non_null(b);
    for (int round = 0; round < 3; round++) {
        /* The next key's time: exactly one replica makes it. */
        int64_t due = T0 + (round + 1) * p.interval_s;
        replica rp[2];
        concurrent(dir, due - p.prepublish_s - TS_SVC_ROTATION_CHECK_S, rp);
        assert_true(!rp[0].r.generated[0] != !rp[1].r.generated[0]);
        assert_int_equal(count_in(dir, "."), 2); /* the previous retiring key has gone */
        /* Promotion: exactly one replica promotes; both then sign with the same key. */
        concurrent(dir, due, rp);
        assert_true(!rp[0].r.promoted[0] != !rp[1].r.promoted[0]);
        assert_string_equal(rp[0].r.active_kid, rp[1].r.active_kid);
        reload_ok(a);
        reload_ok(b);
        assert_string_equal(ts_jwk_thumbprint(ts_svc_keyring_active(a)), rp[0].r.active_kid);
        assert_string_equal(ts_jwk_thumbprint(ts_svc_keyring_active(b)), rp[0].r.active_kid);
        assert_string_equal(ts_svc_keyring_jwks_json(a), ts_svc_keyring_jwks_json(b));
    }
    ts_svc_rotation_key keys[32];
    size_t n = 0;
    assert_int_equal(ts_svc_rotation_list(dir, false, keys, 32, &n, &err), TS_OK);
    size_t active = 0, next = 0;
    for (size_t i = 0; i < n; i++) {
        active += keys[i].state == TS_SVC_KEY_ACTIVE;
        next += keys[i].state == TS_SVC_KEY_NEXT;
    }
    assert_int_equal(active, 1);
    assert_int_equal(next, 0);
    assert_int_equal(n, 4); /* 1 active, 1 retiring, 2 retired */
    ts_svc_keyring_free(a);
    ts_svc_keyring_free(b);
    rmtree(dir);
    free(dir);
}

/* Retirement: archive/ (0700, out of the JWKS) or deletion, once the last token has expired. */
static void retire_case(bool del)
{
    char *dir = tmpdir();
    ts_svc_rotation_policy p = policy(del);
    ts_svc_rotation_report r;
    step_ok(dir, &p, T0, 0, &r);
    char first[TS_JOSE_THUMBPRINT_LEN + 1];
    snprintf(first, sizeof first, "%s", r.active_kid);
    step_ok(dir, &p, T0 + p.interval_s - p.prepublish_s - TS_SVC_ROTATION_CHECK_S, 0, &r);
    assert_true(r.generated[0]);
    step_ok(dir, &p, T0 + p.interval_s, 0, &r);
    assert_string_equal(r.demoted, first);
    int64_t retires = T0 + p.interval_s + TS_SVC_ROTATION_CHECK_S + p.token_lifetime_s;
    step_ok(dir, &p, retires - 1, 0, &r);
    assert_int_equal(r.retired, 0);
    assert_int_equal(count_in(dir, "."), 2);
    ts_error err;
    ts_error_clear(&err);
    ts_svc_keyring *kr = ts_svc_keyring_open(NULL, dir, TS_JWS_ES256, false, &err);
    assert_non_null(kr);
    assert_non_null(strstr(ts_svc_keyring_jwks_json(kr), first));
    step_ok(dir, &p, retires, 0, &r);
    assert_int_equal(r.retired, 1);
    assert_int_equal(count_in(dir, "."), 1);
    assert_int_equal(count_in(dir, "archive"), del ? 0 : 1);
    if (!del) {
        char *ad = NULL;
        assert_true(asprintf(&ad, "%s/archive", dir) > 0);
        struct stat sb;
        assert_int_equal(stat(ad, &sb), 0);
        assert_int_equal(sb.st_mode & 0777, 0700);
        free(ad);
    }
    reload_ok(kr);
    assert_null(strstr(ts_svc_keyring_jwks_json(kr), first));
    ts_svc_keyring_free(kr);
    rmtree(dir);
    free(dir);
}

static void test_retire_archive(void **state)
{
    (void)state;
    retire_case(false);
}

static void test_retire_delete(void **state)
{
    (void)state;
    retire_case(true);
}

/* By hand: a next key; no promotion inside its window unless forced; rotation off (interval
 * 0) takes no automatic step. A hand-made layout (a regular active.pem) is adopted. */
static void test_by_hand(void **state)
{
    (void)state;
    char *dir = tmpdir();
    ts_svc_rotation_policy p = policy(false);
    p.interval_s = 0;
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(mkdir(dir, 0700), 0);
    char *active = NULL;
    assert_true(asprintf(&active, "%s/active.pem", dir) > 0);
    assert_int_equal(ts_svc_key_generate_file(active, TS_JWS_ES256, NULL, &err), TS_OK);
    ts_svc_rotation_report r;
    step_ok(dir, &p, T0, 0, &r);
    struct stat sb;
    assert_int_equal(lstat(active, &sb), 0);
    assert_true(S_ISLNK(sb.st_mode)); /* now a symlink to <kid>.pem */
    char first[TS_JOSE_THUMBPRINT_LEN + 1];
    snprintf(first, sizeof first, "%s", r.active_kid);
    step_ok(dir, &p, T0 + 400 * DAY, 0, &r); /* off: nothing happens */
    assert_false(r.generated[0] || r.promoted[0]);

    step_ok(dir, &p, T0 + 10, TS_SVC_ROTATE_BY_HAND, &r);
    assert_true(r.generated[0]);
    assert_false(r.promoted[0]);
    assert_int_equal(ts_svc_rotation_step(dir, &p, T0 + 20, TS_SVC_ROTATE_BY_HAND, &r, &err),
                     TS_EINVAL); /* inside the window */
    assert_non_null(strstr(err.msg, "--force"));
    step_ok(dir, &p, T0 + 20 + p.prepublish_s + TS_SVC_ROTATION_CHECK_S, TS_SVC_ROTATE_BY_HAND, &r);
    assert_true(r.promoted[0]);
    assert_string_equal(r.demoted, first);
    /* Forced (a compromised key): made and promoted in one step. */
    step_ok(dir, &p, T0 + 2 * DAY, TS_SVC_ROTATE_BY_HAND | TS_SVC_ROTATE_FORCE, &r);
    assert_true(r.generated[0]);
    assert_string_equal(r.promoted, r.generated);
    ts_svc_keyring *kr = ts_svc_keyring_open(NULL, dir, TS_JWS_ES256, false, &err);
    assert_non_null(kr);
    assert_string_equal(ts_jwk_thumbprint(ts_svc_keyring_active(kr)), r.promoted);
    ts_svc_keyring_free(kr);
    free(active);
    rmtree(dir);
    free(dir);
}

/* A token's keys in the state file: saved and read back by label; a key directory's step
 * refuses such a state instead of taking the keys for deleted files. (The steps in a token
 * run against SoftHSM2 in tests/pkcs11/rotation_test.sh.) */
static void test_token_state(void **state)
{
    (void)state;
    char *dir = tmpdir();
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(mkdir(dir, 0700), 0);
    ts_svc_rotation_state *st = calloc(1, sizeof *st);
    assert_non_null(st);
    ts_svc_rotation_key *k = &st->keys[st->n++];
    snprintf(k->kid, sizeof k->kid, "%s", "A0bcdefghijklmnopqrstuvwxyz0123456789-_ABCD");
    snprintf(k->label, sizeof k->label, "%s", "svc/../1800000000"); /* a label, not a path */
    snprintf(k->alg, sizeof k->alg, "ES256");
    k->state = TS_SVC_KEY_ACTIVE;
    k->created = k->activated = T0;
    assert_int_equal(ts_svc__rotation_save(dir, st, &err), TS_OK);
    memset(st, 0, sizeof *st);
    assert_int_equal(ts_svc__rotation_load(dir, st, &err), TS_OK);
    assert_int_equal(st->n, 1);
    assert_string_equal(st->keys[0].label, "svc/../1800000000");
    assert_string_equal(st->keys[0].file, "");
    assert_int_equal(st->keys[0].state, TS_SVC_KEY_ACTIVE);
    ts_svc_rotation_policy p = policy(false);
    ts_svc_rotation_report r;
    assert_int_equal(ts_svc_rotation_step(dir, &p, T0 + 10, 0, &r, &err), TS_EINVAL);
    assert_non_null(strstr(err.msg, "PKCS#11"));
    char out[64];
    assert_int_equal(ts_svc_rotation_dir("", "/srv/ts", out, sizeof out, &err), TS_OK);
    assert_string_equal(out, "/srv/ts/keys");
    assert_int_equal(ts_svc_rotation_dir("/state", "/srv/ts", out, sizeof out, &err), TS_OK);
    assert_string_equal(out, "/state");
    free(st);
    rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_by_hand),       cmocka_unit_test(test_retire_archive),
        cmocka_unit_test(test_retire_delete), cmocka_unit_test(test_replicas),
        cmocka_unit_test(test_year),          cmocka_unit_test(test_token_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
