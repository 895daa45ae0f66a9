/* Shared helpers for the store tests: a private temporary directory per test and a store
 * opened in it. Header-only so that every test executable stays self-contained. */
#ifndef STORE_TEST_UTIL_H
#define STORE_TEST_UTIL_H

#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <tokensmith/store.h>

#define T0 INT64_C(1750000000) /* a fixed "now" */

typedef struct tdir {
    char dir[64];
    char db[128];
} tdir;

static inline void tdir_make(tdir *t)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/ts-store-test-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->db, sizeof t->db, "%s/store.db", t->dir);
}

static inline void tdir_remove(tdir *t)
{
    char p[160];
    static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s%s", t->db, sfx[i]);
        unlink(p);
    }
    rmdir(t->dir);
}

static inline ts_store *open_store(const char *path, const ts_store_options *base)
{
    ts_store_options o = TS_STORE_OPTIONS_INIT;
    if (base)
        o = *base;
    o.path = path;
    o.synchronous = TS_STORE_SYNC_NORMAL; /* tests need speed, not power-loss durability */
    ts_error err;
    ts_error_clear(&err);
    ts_store *s = ts_store_new(&o, &err);
    if (!s)
        fail_msg("ts_store_new: %s (%s)", err.msg, err.where);
    return s;
}

/* Create a bootstrap token with sane defaults; returns its hash in @p hash. */
static inline void make_bootstrap(ts_store *s, int64_t now, char token[TS_STORE_TOKEN_LEN + 1],
                                  char hash[TS_STORE_HASH_LEN + 1])
{
    ts_store_bootstrap_params p = {"boot-service", "smd", "node:read node:write", "", 600,
                                   86400,          now};
    ts_error err;
    ts_error_clear(&err);
    ts_store_bootstrap_record rec;
    if (ts_store_bootstrap_create(s, &p, token, &rec, &err) != TS_OK)
        fail_msg("bootstrap_create: %s", err.msg);
    char check[TS_STORE_HASH_LEN + 1];
    assert_int_equal(ts_store_token_hash(token, strlen(token), check, NULL), TS_OK);
    assert_string_equal(check, rec.token_hash);
    if (hash)
        memcpy(hash, rec.token_hash, TS_STORE_HASH_LEN + 1);
}

static inline void random_hash(char hash[TS_STORE_HASH_LEN + 1])
{
    char tok[TS_STORE_TOKEN_LEN + 1];
    assert_int_equal(ts_store_token_generate(tok, NULL), TS_OK);
    assert_int_equal(ts_store_token_hash(tok, strlen(tok), hash, NULL), TS_OK);
}

/* Count audit records of @p type. */
typedef struct audit_count {
    const char *type;
    int n;
    char last_ref[64];
    char last_prefix[16];
    char last_detail[256];
} audit_count;

static inline int count_cb(const ts_store_audit_entry *e, void *ud)
{
    audit_count *c = ud;
    if (strcmp(e->type, c->type) == 0) {
        c->n++;
        snprintf(c->last_ref, sizeof c->last_ref, "%s", e->ref_id);
        snprintf(c->last_prefix, sizeof c->last_prefix, "%s", e->hash_prefix);
        snprintf(c->last_detail, sizeof c->last_detail, "%s", e->detail ? e->detail : "");
    }
    return 0;
}

static inline audit_count audit_of(ts_store *s, const char *type)
{
    audit_count c;
    memset(&c, 0, sizeof c);
    c.type = type;
    assert_int_equal(ts_store_audit_list(s, 0, 10000, count_cb, &c, NULL), TS_OK);
    return c;
}

#endif
