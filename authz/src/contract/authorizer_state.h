/* The authorizer's private state, shared by authorizer.c (decisions, reloads) and
 * authorizer_live.c (the rebuilds of the guard's live policy). */
#ifndef TS_AUTHZ_CONTRACT_AUTHORIZER_STATE_H
#define TS_AUTHZ_CONTRACT_AUTHORIZER_STATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "common/lru.h"
#include "contract/contract.h"

/* One immutable policy: what a decision holds from start to end. */
typedef struct ts_authz__state {
    atomic_size_t refs;
    uint64_t gen; /* equal for two states exactly when their policy_version is */
    ts_authz_bundle *bundle;
    ts_authz_enforcer *enforcer;
    size_t p_rules, g_rules;
    size_t nargs, i_sub, i_dom, i_obj, i_act;
    int64_t loaded_at; /* Unix ms when this policy_version came into force */
} ts_authz__state;

struct ts_authz_authorizer {
    pthread_mutex_t lock; /* guards `cur` while a reader takes its reference */
    ts_authz__state *cur;
    /* cur->gen, readable without the lock: a decision the cache holds needs no state. */
    atomic_uint_fast64_t gen;
    pthread_mutex_t reload_lock;
    ts_authz_source_options src;
    char *owned[4];        /* copies of the source paths */
    ts_common__lru *cache; /* decision key -> cached_result */
    ts_authz_log_fn log;
    void *log_ud;
    atomic_uint_fast64_t reloads, reload_failures;
    /* Rules changed at run time that live in memory only (the guard's runtime changes without
     * a fragment file): part of every state built, reloads included. Under reload_lock. */
    char *runtime;
    size_t runtime_len;
    /* The registered functions, copied (descriptors and names); each user data is borrowed.
     * `fns[i].desc` points into `fn_descs`. Registered on every state built. */
    ts_authz_function_reg *fns;
    ts_authz_function *fn_descs;
    char **fn_names;
    size_t nfns;
};

/** Take a reference to the state in force. */
ts_authz__state *ts_authz__state_acquire(const ts_authz_authorizer *a);
/** Drop a reference; the last one frees the state. NULL-safe. */
void ts_authz__state_unref(ts_authz__state *s);
/** Load @p a's source (with the runtime fragment @p runtime, may be empty) into a new state,
 *  with @p a's registered functions. */
ts_authz__state *ts_authz__state_build(const ts_authz_authorizer *a, const char *runtime,
                                       size_t runtime_len, ts_error *err);
/** Copy @p n registrations into @p a (descriptors and names; user data borrowed). On failure
 *  what was copied stays for ts_authz__authorizer_free_functions(). */
ts_status ts_authz__authorizer_copy_functions(ts_authz_authorizer *a,
                                              const ts_authz_function_reg *fns, size_t n,
                                              ts_error *err);
/** Free the copies. */
void ts_authz__authorizer_free_functions(ts_authz_authorizer *a);
/** Unix time in milliseconds. */
int64_t ts_authz__now_ms(void);

#endif
