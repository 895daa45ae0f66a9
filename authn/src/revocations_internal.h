/* The revocation source's state, shared by the list (revocations.c) and its polling
   (revocations_poll.c). Private to authn. */
#ifndef TS_AUTHN_REVOCATIONS_INTERNAL_H
#define TS_AUTHN_REVOCATIONS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "authn_internal.h"
#include "tokensmith/authn_revocations.h"

/* One entry of an answer, pointing into the parsed JSON. */
typedef struct ts_authn__rev_entry {
    const char *jti;
    size_t len;
    int64_t exp;
} ts_authn__rev_entry;

/* A parsed answer payload (ts_authn__revlist_parse()); entries borrow from @c root. */
typedef struct ts_authn__revlist {
    json_t *root;
    const char *iss;
    uint64_t seq, since;
    bool full, more;
    ts_authn__rev_entry *e;
    size_t n;
} ts_authn__revlist;

/* Parse and bound-check a payload (no signature: the caller verified it). The fuzz target's
   entry. @return TS_OK; TS_EINVAL naming the member; TS_ENOMEM. */
ts_status ts_authn__revlist_parse(const char *json, size_t len, ts_authn__revlist *out,
                                  ts_error *err);
void ts_authn__revlist_clear(ts_authn__revlist *l);

/* An immutable table; replaced as a whole, freed a while after its replacement. */
typedef struct ts_authn__rev_table ts_authn__rev_table;

struct ts_authn_revocations {
    char *url, *issuer;
    const ts_jwks *keys;
    ts_authn_keysource *ks;
    unsigned poll_ms, max_stale_s, timeout_ms;
    size_t max_body;
    bool fail_open, insecure;
    int64_t (*now)(void *);
    void *now_ud;
    _Atomic(ts_authn__rev_table *) cur; /* NULL until the first full list */
    _Atomic int64_t last_ok;            /* when an answer was last applied (0: never) */
    pthread_mutex_t apply_mu;           /* one writer: apply, refresh, the thread */
    pthread_mutex_t poll_mu;            /* one poll at a time: refresh and the thread */
    ts_authn__rev_table *retired;       /* under apply_mu */
    /* The polling thread. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool has_thread;
    atomic_bool stop;
};

/* ts_authn_revocations_apply(), saying whether the answer had "more". */
ts_status ts_authn__rev_apply(ts_authn_revocations *rs, const char *jws, size_t len, bool *more,
                              ts_error *err);
/* Apply a parsed, verified answer (under apply_mu, or single-threaded: the fuzz target). */
ts_status ts_authn__rev_apply_list(ts_authn_revocations *rs, const ts_authn__revlist *l,
                                   ts_error *err);
/* ts_authn_revocations_check() at @p now: the verifier passes the time it already read, one
   clock read less on the hot path. */
ts_authn_reason ts_authn__rev_check_at(const ts_authn_revocations *rs, const char *jti, size_t len,
                                       int64_t now);
int64_t ts_authn__rev_now(const ts_authn_revocations *rs);
/* Free every table; the thread is gone. */
void ts_authn__rev_tables_free(ts_authn_revocations *rs);

#endif
