/* Private pieces of tokensmith-mhd shared by its files (symbols ts_mhd__*). */
#ifndef TS_MHD_INTERNAL_H
#define TS_MHD_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <tokensmith/mhd.h>

/* ---------------------------------------------------------------------------------------- */
/* Client addresses (addr.c)                                                                 */

enum { TS_MHD__FAM_OTHER = 0, TS_MHD__FAM_UNIX = 1, TS_MHD__FAM_V4 = 4, TS_MHD__FAM_V6 = 6 };

/** The unit a per-address limit counts: an IPv4 address (also when IPv4-mapped), an IPv6
 *  prefix, or "any Unix-socket peer". Bytes past the address (or prefix) are zero. */
typedef struct ts_mhd__addr_key {
    uint8_t family; /* TS_MHD__FAM_* */
    uint8_t bytes[16];
} ts_mhd__addr_key;

void ts_mhd__addr_key_of(const struct sockaddr *sa, socklen_t len, unsigned v6_prefix,
                         ts_mhd__addr_key *out);
/** "127.0.0.1", "2001:db8::/64", "unix" or "other"; NUL-terminated, truncated to @p cap. */
void ts_mhd__addr_key_str(const ts_mhd__addr_key *k, unsigned v6_prefix, char *out, size_t cap);

/** Open-addressed counts per key (linear probing, keyed hash so that a client cannot choose
 *  colliding addresses). Not synchronised: the owner's mutex guards it. */
typedef struct ts_mhd__addr_table {
    struct ts_mhd__addr_slot *slots;
    size_t cap, used; /* cap is a power of two */
    uint64_t seed[2];
} ts_mhd__addr_table;

bool ts_mhd__addr_table_init(ts_mhd__addr_table *t, size_t expect);
void ts_mhd__addr_table_cleanup(ts_mhd__addr_table *t);
unsigned ts_mhd__addr_table_get(const ts_mhd__addr_table *t, const ts_mhd__addr_key *k);
/** @return false when the table could not grow (the caller refuses the connection). */
bool ts_mhd__addr_table_inc(ts_mhd__addr_table *t, const ts_mhd__addr_key *k);
void ts_mhd__addr_table_dec(ts_mhd__addr_table *t, const ts_mhd__addr_key *k);

/* ---------------------------------------------------------------------------------------- */
/* Connections and the limits object (limits.c, watchdog.c)                                  */

/* Where a connection is, as far as deadlines go. Stored with the phase's start time in one
 * atomic word, so that the libmicrohttpd threads never take the lock per request. */
enum {
    TS_MHD__PHASE_HEAD = 0,     /* waiting for a request head (first request) */
    TS_MHD__PHASE_BODY = 1,     /* head seen, body (if any) still arriving */
    TS_MHD__PHASE_HANDLING = 2, /* request complete: the server is answering */
    TS_MHD__PHASE_IDLE = 3,     /* between requests on a keep-alive connection */
};
#define TS_MHD__STATE(phase, ms) (((uint64_t)(phase) << 62) | ((uint64_t)(ms) & ((1ull << 62) - 1)))
#define TS_MHD__STATE_PHASE(s) ((unsigned)((s) >> 62))
#define TS_MHD__STATE_MS(s) ((int64_t)((s) & ((1ull << 62) - 1)))

typedef struct ts_mhd__conn {
    struct ts_mhd__conn *prev, *next; /* the owner's list; guarded by its mutex */
    int fd;                           /* valid while on the list (see limits.c) */
    bool tcp;                         /* TCP_INFO works on it */
    ts_mhd__addr_key key;
    _Atomic uint64_t state; /* TS_MHD__STATE(phase, since) */
    /* Watchdog only (under the mutex): */
    bool killed;          /* shutdown() done */
    int64_t idle_since;   /* the idle phase the next field belongs to */
    int64_t next_head_ms; /* idle: when bytes of a next request were first seen, or 0 */
    /* The connection's libmicrohttpd thread only: */
    void *app_ctx;  /* the server's req_cls for the current request */
    bool forwarded; /* the server's handler saw the current request */
    bool rejected;  /* the current request was refused by the framing checks */
    /* The connection hook's own word (ts_mhd_connection_fn's @p conn_cls), from its STARTED
     * call to its CLOSED call. */
    void *hook_ctx;
} ts_mhd__conn;

struct ts_mhd_limits {
    ts_mhd_limits_options o;
    struct MHD_OptionItem mhd_options[4];
    pthread_mutex_t mu; /* guards conns, addrs, n_conns, last_refused */
    ts_mhd__conn *conns;
    ts_mhd__addr_table addrs;
    size_t n_conns;
    ts_mhd__addr_key last_refused;
    /* Counters (relaxed atomics; read by ts_mhd_limits_get_stats and the summary). */
    atomic_uint_fast64_t accepted, refused_addr, refused_total, head_timeouts, body_timeouts,
        rejected;
    atomic_bool warned_unwired;
    ts_mhd_connection_fn on_connection; /* set before the daemon starts; then read-only */
    void *on_connection_cls;
    int refused_marker; /* its address marks a connection refused at start */
    /* Watchdog */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t wmu; /* guards stop and idle, with wcv */
    pthread_cond_t wcv;
    bool stop;
    bool idle; /* the watchdog waits without a tick: no connection to watch */
    unsigned tick_ms;
};

int64_t ts_mhd__now_ms(void);
void *ts_mhd__watchdog_main(void *arg);
void ts_mhd__log(const ts_mhd_limits *l, const char *line);

/* ---------------------------------------------------------------------------------------- */
/* The gate's step-up rules (step_up.c)                                                      */

typedef struct ts_mhd__step_up ts_mhd__step_up;

/** The rules of @p o (copied, challenges built); their paths matched with @p v's hook rule.
 *  @return NULL with @p err's `where` "step_up[i].<field>". */
ts_mhd__step_up *ts_mhd__step_up_new(const ts_mhd_gate_options *o, const ts_authn_verifier *v,
                                     ts_mhd_log_fn log, void *log_ud, ts_error *err);
void ts_mhd__step_up_free(ts_mhd__step_up *s);
/** The first rule matching the request judges @p p: TS_HOOK_CONTINUE (no rule, or met), or
 *  TS_HOOK_RESPONDED with the 401 queued and one log line (TS_HOOK_ERROR: nothing queued). */
ts_hook_result ts_mhd__step_up_check(const ts_mhd__step_up *s, const ts_authn_verifier *v,
                                     struct MHD_Connection *conn, const char *method,
                                     const char *url, const ts_authn_principal *p);

#endif
