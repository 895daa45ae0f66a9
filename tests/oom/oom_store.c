/* oom.store: the SQLite store (open and migrate, bootstrap tokens, redemption, rotation,
   revocation, audit, expiry collection, readiness) and the failed-attempt limiter. A state
   change refused for lack of memory must have changed nothing: each teardown checks the
   database afterwards. */
#include "oom.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokensmith/store.h>

#define T0 1700000000

typedef struct ctx {
    char path[4096];
    ts_store *s;
    char token[TS_STORE_TOKEN_LEN + 1];
    char hash[TS_STORE_HASH_LEN + 1];
    char refresh[TS_STORE_HASH_LEN + 1];
    char next[TS_STORE_HASH_LEN + 1];
    char family_id[TS_STORE_ID_MAX + 1];
} ctx;

static const ts_store_bootstrap_params bparams = {"svc", "smd", "node:read, node:write", "b-1", 600,
                                                  86400, T0};

static void db_path(ctx *c)
{
    snprintf(c->path, sizeof c->path, "%s/store.db", oom_scratch_dir());
}

/* The options of every store here: a small pool, and commits synced at checkpoints only (the
   runs are many; durability is not what they test). */
static ts_store_options options(const char *path)
{
    ts_store_options o = TS_STORE_OPTIONS_INIT;
    o.path = path;
    o.max_connections = 2;
    o.synchronous = TS_STORE_SYNC_NORMAL;
    return o;
}

static ts_store *must_open(const char *path)
{
    ts_store_options o = options(path);
    ts_error err;
    ts_store *s = ts_store_new(&o, &err);
    if (!s)
        oom_wrong("setup: store: %s", err.msg);
    return s;
}

static void must_ok(ts_status st, const ts_error *err, const char *what)
{
    if (st != TS_OK)
        oom_wrong("%s: %s: %s", what, ts_status_str(st), err->msg);
}

static void hash_of(const char *token, char out[TS_STORE_HASH_LEN + 1])
{
    ts_error err;
    must_ok(ts_store_token_hash(token, strlen(token), out, &err), &err, "hash");
}

/* Records of @p type in the audit trail. */
typedef struct count {
    const char *type;
    size_t n;
} count;

static int count_one(const ts_store_audit_entry *e, void *ud)
{
    count *c = ud;
    c->n += strcmp(e->type, c->type) == 0;
    return 0;
}

static size_t audits(ts_store *s, const char *type)
{
    count c = {type, 0};
    ts_error err;
    must_ok(ts_store_audit_list(s, 0, 10000, count_one, &c, &err), &err, "audit list");
    return c.n;
}

static void *setup_path(void)
{
    ctx *c = calloc(1, sizeof *c);
    if (!c)
        oom_wrong("setup: out of memory");
    db_path(c);
    return c;
}

static void *setup_existing(void)
{
    ctx *c = setup_path();
    ts_store_free(must_open(c->path));
    return c;
}

static void *setup_open(void)
{
    ctx *c = setup_path();
    c->s = must_open(c->path);
    return c;
}

static void *setup_token(void)
{
    ctx *c = setup_open();
    ts_error err;
    must_ok(ts_store_bootstrap_create(c->s, &bparams, c->token, NULL, &err), &err, "create");
    hash_of(c->token, c->hash);
    hash_of("first refresh token", c->refresh);
    return c;
}

static void *setup_family(void)
{
    ctx *c = setup_open();
    hash_of("refresh-0", c->hash);
    hash_of("refresh-1", c->refresh);
    ts_store_family_params p = {"svc", "smd", "node:read", 86400, c->hash, "10.0.0.1", T0};
    ts_store_family f;
    ts_error err;
    must_ok(ts_store_family_create(c->s, &p, &f, &err), &err, "family");
    snprintf(c->family_id, sizeof c->family_id, "%s", f.id);
    return c;
}

static void close_ctx(ctx *c)
{
    ts_store_free(c->s);
    free(c);
}

static void teardown_close(void *p, oom_result r)
{
    (void)r;
    close_ctx(p);
}

/* ---- helpers and opening -------------------------------------------------------------------- */

static oom_result run_token_helpers(void *p)
{
    (void)p;
    ts_error err;
    ts_error_clear(&err);
    char tok[TS_STORE_TOKEN_LEN + 1], hash[TS_STORE_HASH_LEN + 1];
    ts_status st = ts_store_token_generate(tok, &err);
    if (st == TS_OK)
        st = ts_store_token_hash(tok, strlen(tok), hash, &err);
    if (st != TS_OK)
        return oom_refused(st, &err);
    OOM_EXPECT(strlen(tok) == 64 && ts_store_hash_is_valid(hash));
    return OOM_SUCCEEDED;
}

static oom_result open_store(ctx *c)
{
    ts_store_options o = options(c->path);
    ts_error err;
    ts_error_clear(&err);
    c->s = ts_store_new(&o, &err);
    OOM_TRY_PTR(c->s, &err);
    OOM_EXPECT(strcmp(ts_store_backend_name(c->s), "sqlite") == 0);
    return OOM_SUCCEEDED;
}

static oom_result run_open(void *p)
{
    return open_store(p);
}

static void teardown_opened(void *p, oom_result r)
{
    (void)r;
    ctx *c = p;
    ts_store_free(c->s);
    /* Whatever failed, the file left behind is a store that opens. */
    c->s = must_open(c->path);
    close_ctx(c);
}

static oom_result run_check(void *p)
{
    ctx *c = p;
    ts_error err;
    ts_error_clear(&err);
    OOM_TRY(ts_store_check(c->s, true, &err), &err);
    return OOM_SUCCEEDED;
}

/* ---- bootstrap tokens ----------------------------------------------------------------------- */

static oom_result run_bootstrap_create(void *p)
{
    ctx *c = p;
    ts_error err;
    ts_error_clear(&err);
    ts_store_bootstrap_record rec;
    ts_status st = ts_store_bootstrap_create(c->s, &bparams, c->token, &rec, &err);
    if (st != TS_OK) {
        OOM_EXPECT(c->token[0] == '\0');
        return oom_refused(st, &err);
    }
    OOM_EXPECT(strlen(c->token) == 64 && strcmp(rec.scope, "node:read node:write") == 0);
    return OOM_SUCCEEDED;
}

static void teardown_created(void *p, oom_result r)
{
    ctx *c = p;
    size_t n = audits(c->s, "bootstrap_token_created");
    if (n != (r == OOM_SUCCEEDED ? 1u : 0u))
        oom_wrong("%zu creation records after a %s creation", n,
                  r == OOM_SUCCEEDED ? "successful" : "refused");
    if (r == OOM_SUCCEEDED) {
        char hash[TS_STORE_HASH_LEN + 1];
        hash_of(c->token, hash);
        ts_store_bootstrap_record rec;
        ts_error err;
        must_ok(ts_store_bootstrap_get(c->s, hash, &rec, &err), &err, "get");
    }
    close_ctx(c);
}

static oom_result run_redeem(void *p)
{
    ctx *c = p;
    ts_error err;
    ts_error_clear(&err);
    ts_store_redeem_result res;
    OOM_TRY(ts_store_bootstrap_redeem(c->s, c->hash, "10.0.0.1", T0 + 10, c->refresh, &res, &err),
            &err);
    OOM_EXPECT(res.outcome == TS_STORE_REDEEM_OK && res.family.id[0] != '\0');
    return OOM_SUCCEEDED;
}

static void teardown_redeemed(void *p, oom_result r)
{
    /* A refused redemption consumed nothing: the token still redeems, once. */
    ctx *c = p;
    ts_store_redeem_result res;
    ts_error err;
    char other[TS_STORE_HASH_LEN + 1];
    hash_of("second refresh token", other);
    must_ok(ts_store_bootstrap_redeem(c->s, c->hash, "10.0.0.1", T0 + 20, other, &res, &err), &err,
            "redeem again");
    ts_store_redeem_outcome want =
        r == OOM_SUCCEEDED ? TS_STORE_REDEEM_ALREADY_CONSUMED : TS_STORE_REDEEM_OK;
    if (res.outcome != want)
        oom_wrong("after a %s redemption the token redeems as %s",
                  r == OOM_SUCCEEDED ? "successful" : "refused",
                  ts_store_redeem_outcome_str(res.outcome));
    close_ctx(c);
}

static oom_result run_bootstrap_get(void *p)
{
    ctx *c = p;
    ts_error err;
    ts_error_clear(&err);
    ts_store_bootstrap_record rec;
    OOM_TRY(ts_store_bootstrap_get(c->s, c->hash, &rec, &err), &err);
    OOM_EXPECT(strcmp(rec.subject, "svc") == 0 && rec.consumed_at == 0);
    return OOM_SUCCEEDED;
}

/* ---- refresh families ----------------------------------------------------------------------- */

static void *setup_open_hash(void)
{
    ctx *c = setup_open();
    hash_of("refresh-a", c->hash);
    return c;
}

static oom_result run_family_create(void *p)
{
    ctx *c = p;
    ts_store_family_params fp = {"svc", "smd", "node:read", 86400, c->hash, "10.0.0.1", T0};
    ts_store_family f;
    ts_error err;
    ts_error_clear(&err);
    OOM_TRY(ts_store_family_create(c->s, &fp, &f, &err), &err);
    OOM_EXPECT(strncmp(f.id, "fam-", 4) == 0 && f.expires_at == T0 + 86400);
    return OOM_SUCCEEDED;
}

static void teardown_family_created(void *p, oom_result r)
{
    ctx *c = p;
    size_t n = audits(c->s, "refresh_family_created");
    if (n != (r == OOM_SUCCEEDED ? 1u : 0u))
        oom_wrong("%zu family records after a %s creation", n,
                  r == OOM_SUCCEEDED ? "successful" : "refused");
    close_ctx(c);
}

static oom_result run_rotate(void *p)
{
    ctx *c = p;
    ts_error err;
    ts_error_clear(&err);
    ts_store_rotate_result res;
    OOM_TRY(ts_store_refresh_rotate(c->s, c->hash, c->refresh, "10.0.0.1", T0 + 5, &res, &err),
            &err);
    OOM_EXPECT(res.outcome == TS_STORE_ROTATE_OK && res.family.usage_count == 1 && !res.replayed);
    return OOM_SUCCEEDED;
}

static void teardown_rotated(void *p, oom_result r)
{
    /* A refused rotation changed nothing; a successful one exactly once. */
    ctx *c = p;
    ts_store_family f;
    ts_error err;
    must_ok(ts_store_family_get(c->s, c->family_id, &f, &err), &err, "family get");
    int64_t want = r == OOM_SUCCEEDED ? 1 : 0;
    if (f.usage_count != want || f.revoked_at != 0)
        oom_wrong("after a %s rotation: usage %lld, revoked at %lld",
                  r == OOM_SUCCEEDED ? "successful" : "refused", (long long)f.usage_count,
                  (long long)f.revoked_at);
    close_ctx(c);
}

static oom_result run_replay(void *p)
{
    /* The rotated-away token comes back: the family is revoked (reuse detection). */
    ctx *c = p;
    ts_error err;
    ts_error_clear(&err);
    ts_store_rotate_result res;
    OOM_TRY(ts_store_refresh_rotate(c->s, c->hash, c->next, "10.0.0.2", T0 + 6, &res, &err), &err);
    OOM_EXPECT(res.outcome == TS_STORE_ROTATE_REUSE_DETECTED && res.replayed);
    return OOM_SUCCEEDED;
}

static void *setup_rotated(void)
{
    ctx *c = setup_family();
    ts_store_rotate_result res;
    ts_error err;
    must_ok(ts_store_refresh_rotate(c->s, c->hash, c->refresh, "10.0.0.1", T0 + 5, &res, &err),
            &err, "rotate");
    hash_of("refresh-2", c->next); /* what the replayer asks to rotate to */
    return c;
}

static void teardown_replayed(void *p, oom_result r)
{
    ctx *c = p;
    ts_store_family f;
    ts_error err;
    must_ok(ts_store_family_get(c->s, c->family_id, &f, &err), &err, "family get");
    if ((f.revoked_at != 0) != (r == OOM_SUCCEEDED))
        oom_wrong("after a %s replay the family is %s", r == OOM_SUCCEEDED ? "detected" : "refused",
                  f.revoked_at ? "revoked" : "live");
    close_ctx(c);
}

static oom_result run_revoke(void *p)
{
    ctx *c = p;
    ts_error err;
    ts_error_clear(&err);
    bool revoked = false;
    OOM_TRY(ts_store_family_revoke(c->s, c->family_id, "logout", T0 + 7, &revoked, &err), &err);
    ts_store_family f;
    OOM_TRY(ts_store_family_get(c->s, c->family_id, &f, &err), &err);
    OOM_EXPECT(revoked && f.revoked_at == T0 + 7 && strcmp(f.revoke_reason, "logout") == 0);
    return OOM_SUCCEEDED;
}

/* ---- audit, expiry, limiter ----------------------------------------------------------------- */

static int collect_detail(const ts_store_audit_entry *e, void *ud)
{
    if (strcmp(e->type, "admin_login") == 0)
        snprintf(ud, 64, "%s", e->detail ? e->detail : "");
    return 0;
}

static oom_result run_audit(void *p)
{
    ctx *c = p;
    ts_error err;
    ts_error_clear(&err);
    ts_store_audit_entry e = {.at = T0,
                              .type = "admin_login",
                              .subject = "alice",
                              .ref_id = "jti-1",
                              .hash_prefix = "abcd0123",
                              .peer = "127.0.0.1",
                              .detail = "{\"via\":\"cli\",\"n\":[1,2]}"};
    ts_status st = ts_store_audit_append(c->s, &e, &err);
    /* SQLite's json_valid() (the CHECK that judges a caller's detail) answers "not JSON" when
       it runs out of memory, with nothing to tell it from bad JSON: a known limitation. */
    if (st == TS_EINVAL && oom_injected() && oom_injected_kind() == OOM_KIND_SQLITE &&
        strcmp(err.where, "detail") == 0)
        return OOM_REFUSED;
    OOM_TRY(st, &err);
    char detail[64] = "";
    OOM_TRY(ts_store_audit_list(c->s, 0, 0, collect_detail, detail, &err), &err);
    OOM_EXPECT(strstr(detail, "\"via\"") != NULL);
    return OOM_SUCCEEDED;
}

static void *setup_expired(void)
{
    ctx *c = setup_token();
    ts_store_bootstrap_params b = bparams;
    b.now = T0 - 100000; /* expired and past the retention */
    char tok[TS_STORE_TOKEN_LEN + 1];
    ts_error err;
    for (int i = 0; i < 3; i++)
        must_ok(ts_store_bootstrap_create(c->s, &b, tok, NULL, &err), &err, "create");
    return c;
}

static oom_result run_collect(void *p)
{
    ctx *c = p;
    ts_error err;
    ts_error_clear(&err);
    ts_store_gc_counts n;
    OOM_TRY(ts_store_collect_expired(c->s, T0, &n, &err), &err);
    OOM_EXPECT(n.bootstrap_tokens == 3);
    return OOM_SUCCEEDED;
}

static void teardown_collected(void *p, oom_result r)
{
    (void)r;
    ctx *c = p;
    /* A batch refused part way is collected by the next call; the live token stays. */
    ts_store_gc_counts n;
    ts_error err;
    must_ok(ts_store_collect_expired(c->s, T0, &n, &err), &err, "collect again");
    ts_store_bootstrap_record rec;
    must_ok(ts_store_bootstrap_get(c->s, c->hash, &rec, &err), &err, "live token");
    must_ok(ts_store_collect_expired(c->s, T0, &n, &err), &err, "collect again");
    if (n.bootstrap_tokens != 0)
        oom_wrong("expired tokens left after two collections");
    close_ctx(c);
}

static oom_result run_limiter(void *p)
{
    (void)p;
    ts_store_limiter_options o = TS_STORE_LIMITER_OPTIONS_INIT;
    o.max_failures = 3;
    o.max_keys = 4;
    ts_error err;
    ts_error_clear(&err);
    ts_store_limiter *l = ts_store_limiter_new(&o, &err);
    OOM_TRY_PTR(l, &err);
    static const char *const peers[] = {"2001:db8:1:2::7", "10.0.0.1", "::ffff:10.0.0.1",
                                        "10.0.0.2",        "10.0.0.3", "10.0.0.4"};
    oom_result r = OOM_SUCCEEDED;
    for (size_t i = 0; i < 6 && r == OOM_SUCCEEDED; i++) {
        unsigned n = ts_store_limiter_fail(l, peers[i], strlen(peers[i]), 1000 + i);
        if (n == 0) {
            OOM_EXPECT(oom_injected());
            r = OOM_REFUSED;
        }
    }
    if (r == OOM_SUCCEEDED) {
        /* 10.0.0.1 and its mapped form count together; the oldest keys were evicted. */
        unsigned n = ts_store_limiter_fail(l, "10.0.0.1", 8, 2000);
        if (n == 0) {
            OOM_EXPECT(oom_injected());
            r = OOM_REFUSED;
        } else {
            OOM_EXPECT(ts_store_limiter_size(l) <= 4);
        }
    }
    ts_store_limiter_reset(l, "10.0.0.4", 8);
    ts_store_limiter_free(l);
    return r;
}

static const oom_case cases[] = {
    {"token_helpers", NULL, run_token_helpers, NULL},
    {"open_new", setup_path, run_open, teardown_opened},
    {"open_existing", setup_existing, run_open, teardown_opened},
    {"check", setup_open, run_check, teardown_close},
    {"bootstrap_create", setup_open, run_bootstrap_create, teardown_created},
    {"bootstrap_get", setup_token, run_bootstrap_get, teardown_close},
    {"bootstrap_redeem", setup_token, run_redeem, teardown_redeemed},
    {"family_create", setup_open_hash, run_family_create, teardown_family_created},
    {"refresh_rotate", setup_family, run_rotate, teardown_rotated},
    {"refresh_replay", setup_rotated, run_replay, teardown_replayed},
    {"family_revoke", setup_family, run_revoke, teardown_close},
    {"audit", setup_open, run_audit, teardown_close},
    {"collect_expired", setup_expired, run_collect, teardown_collected},
    {"limiter", NULL, run_limiter, NULL},
};

int main(int argc, char **argv)
{
    return oom_main("oom.store", cases, sizeof cases / sizeof cases[0], argc, argv);
}
