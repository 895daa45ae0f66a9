/*
 * libtokensmith-client's private parts: the copied configuration (config.c), form bodies
 * (form.c, request.c), one exchange with the server (exchange.c), the lock-free token holder
 * (holder.c), renewal times and backoff (schedule.c), the state file (state.c), the refresh
 * family protocol (family.c), single-flight renewal (flight.c), the background thread
 * (worker.c), and the client's life cycle, logs and statistics (client.c).
 */
#ifndef TS_CLIENT_INTERNAL_H
#define TS_CLIENT_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tokensmith/client.h>

#include "common/secbuf.h"
#include "response.h"

struct json_t; /* jansson's, for ts_client__json_wipe_strings() */

/* ---- config.c ------------------------------------------------------------------------------ */

/** The options after validation, every string a private copy (secrets wiped at cleanup). */
typedef struct ts_client__config {
    char *token_endpoint;
    char *log_endpoint; /**< ts_client__url_for_log(token_endpoint): every log line starts so */
    bool allow_plain_http;
    char *ca_file;
    char *user_agent;
    ts_client_grant grant;
    ts_client_auth auth;
    char *client_id;
    char *client_secret;
    char *scope;
    char **audiences;
    size_t n_audiences;
    char **resources;
    size_t n_resources;
    char **param_names;
    char **param_values;
    size_t n_params;
    char *subject_token;
    ts_client_token_fn subject_token_fn;
    void *subject_token_ud;
    char *subject_token_type;
    char *actor_token;
    ts_client_token_fn actor_token_fn;
    void *actor_token_ud;
    char *actor_token_type;
    char *requested_token_type;
    char *refresh_token;
    char *bootstrap_token;
    char *state_file;
    unsigned min_valid_s, refresh_at_pct, refresh_jitter_pct;
    bool background;
    unsigned backoff_initial_ms, backoff_max_ms, default_lifetime_s;
    size_t max_response_bytes, max_token_bytes;
    unsigned connect_timeout_ms, timeout_ms;
    ts_client_log_fn log;
    void *log_ud;
    ts_client_log_level log_level;
    ts_client_rotation_fn on_rotation;
    void *rotation_ud;
    int64_t (*clock_ms)(void *ud);
    void *clock_ud;
} ts_client__config;

/** Check @p o (every rule of client.h; `where` names the option). */
ts_status ts_client__config_check(const ts_client_options *o, ts_error *err);
/** Check, then copy @p o into @p c (zeroed first). On failure @p c is empty. */
ts_status ts_client__config_copy(const ts_client_options *o, ts_client__config *c, ts_error *err);
void ts_client__config_cleanup(ts_client__config *c);

/* ---- text.c -------------------------------------------------------------------------------- */

/** True when all @p n bytes at @p s are visible ASCII (%x21-7E, no space): what a token
 *  (RFC 6749 Appendix A, VSCHAR without SP) and a token type may hold, and what keeps one a
 *  single word in a form value or an Authorization header. */
bool ts_client__visible(const char *s, size_t n);
/** Wipe jansson's copies of the string members of object @p o (not nested ones) before the tree
 *  is freed: a parsed token answer or state file holds tokens, and no freed heap block may. */
void ts_client__json_wipe_strings(struct json_t *o);
/** How log lines name the token endpoint @p url: scheme, host, port and path, without the
 *  userinfo, query or fragment (they may hold credentials), cut to at most 200 bytes ("..."
 *  ends a cut one). A heap string, or NULL. */
char *ts_client__url_for_log(const char *url);
/** A heap copy of @p n bytes and a NUL, or NULL. */
char *ts_client__strndup(const char *s, size_t n);
/** Wipe and free a heap string of known length (NULL-safe). */
void ts_client__free_secret(char *s, size_t n);
/** Wipe and free a NUL-terminated heap string (NULL-safe). */
void ts_client__free_secret_z(char *s);

/* ---- form.c -------------------------------------------------------------------------------- */

/** Append application/x-www-form-urlencoded `name=value`, with '&' before all but the first. */
void ts_client__form_param(ts_common__secbuf *b, const char *name, const char *value, size_t len);
/** Append @p n bytes form-urlencoded (RFC 6749 Appendix B: unreserved kept, space '+'). */
void ts_client__form_encode(ts_common__secbuf *b, const char *s, size_t n);
/** Append standard base64 (RFC 4648 §4, padded) of @p n bytes. */
void ts_client__base64(ts_common__secbuf *b, const unsigned char *s, size_t n);

/* ---- request.c ----------------------------------------------------------------------------- */

/** What one request asks for. */
typedef enum ts_client__req_kind {
    TS_CLIENT__REQ_GRANT = 1, /**< client_credentials or token exchange, per the grant */
    TS_CLIENT__REQ_BOOTSTRAP, /**< tokensmith's bootstrap token exchange */
    TS_CLIENT__REQ_REFRESH,   /**< refresh_token */
} ts_client__req_kind;

/** One request's form body and its Authorization header line ("" when none). */
typedef struct ts_client__request {
    ts_client__req_kind kind;
    const char *credential; /**< the bootstrap or refresh token presented */
    size_t credential_len;
    const char *subject, *actor; /**< the exchange's tokens of the moment */
    size_t subject_len, actor_len;
} ts_client__request;

/** Build the body and the Authorization header line of @p rq under @p cfg. */
ts_status ts_client__build_request(const ts_client__config *cfg, const ts_client__request *rq,
                                   ts_common__secbuf *body, ts_common__secbuf *auth, ts_error *err);

/* ---- schedule.c ---------------------------------------------------------------------------- */

/** splitmix64: the client's jitter source (seeded from getrandom at construction). */
uint64_t ts_client__rand(uint64_t *state);

/**
 * The "full jitter" backoff after @p failures (>= 1) consecutive failures: a delay uniformly
 * drawn from 0..min(@p max_ms, @p initial_ms * 2^(failures-1)) by @p r.
 */
uint64_t ts_client__backoff_ms(unsigned failures, unsigned initial_ms, unsigned max_ms, uint64_t r);

/** When a token obtained at @p obtained_ms (client clock) for @p lifetime_ms (> 0) may be
 *  handed out until, and when it is renewed. */
typedef struct ts_client__times {
    int64_t usable_until_ms; /**< expiry - min(min_valid, lifetime / 2) */
    int64_t refresh_at_ms;   /**< at_pct of the lifetime minus jitter, never after usable_until */
} ts_client__times;

ts_client__times ts_client__schedule(int64_t obtained_ms, int64_t lifetime_ms, unsigned min_valid_s,
                                     unsigned at_pct, unsigned jitter_pct, uint64_t r);

/** exp of a JWT's payload, read without verifying (only to know when to renew a token that
 *  came without expires_in). @return 0 when @p tok is no JWT or has no numeric exp. */
int64_t ts_client__jwt_exp(const char *tok, size_t len);

/* ---- holder.c ------------------------------------------------------------------------------ */

/** One token as published: immutable once published, freed (wiped) after the last reader. */
typedef struct ts_client__snap {
    uint64_t generation;
    int64_t expires_ms;      /**< client clock */
    int64_t usable_until_ms; /**< client clock */
    int64_t refresh_at_ms;   /**< client clock */
    int64_t expires_at;      /**< Unix seconds */
    char token_type[32];
    size_t len;
    char token[]; /**< NUL-terminated */
} ts_client__snap;

#define TS_CLIENT__STRIPES 32u

/** A reader count on a cache line of its own. */
typedef struct ts_client__stripe {
    _Alignas(64) atomic_ulong n;
} ts_client__stripe;

/**
 * The published token and its readers. A reader counts itself into one stripe of the current
 * epoch's parity before it loads the pointer, and out when it has copied the token; a writer
 * swaps the pointer, then flips the epoch twice, each time waiting for the parity it left to
 * drain, and only then frees the old token. Readers of different threads use different
 * stripes, so a cache hit writes no line that another reader writes.
 */
typedef struct ts_client__holder {
    _Alignas(64) _Atomic(ts_client__snap *) cur;
    atomic_uint epoch;
    ts_client__stripe readers[2][TS_CLIENT__STRIPES];
} ts_client__holder;

typedef struct ts_client__guard {
    unsigned parity, stripe;
} ts_client__guard;

void ts_client__holder_init(ts_client__holder *h);
/** Free the token held; no reader may remain. */
void ts_client__holder_cleanup(ts_client__holder *h);
/** Enter: the token of the moment (NULL: none), valid until ts_client__read_end(). */
const ts_client__snap *ts_client__read_begin(ts_client__holder *h, ts_client__guard *g);
void ts_client__read_end(ts_client__holder *h, const ts_client__guard *g);
/** Publish @p s (may be NULL: no token) and free the previous one once no reader holds it.
 *  Writers are serialised by the caller. */
void ts_client__publish(ts_client__holder *h, ts_client__snap *s);
/** A new snapshot of @p len token bytes, or NULL. */
ts_client__snap *ts_client__snap_new(const char *token, size_t len);
void ts_client__snap_free(ts_client__snap *s);

/* ---- state.c ------------------------------------------------------------------------------- */

/** The refresh family as the state file keeps it. */
typedef struct ts_client__state {
    char *refresh_token; /**< NULL: no refresh token may be presented */
    size_t refresh_len;
    int64_t refresh_expires_at; /**< Unix seconds; 0: unknown */
    /** SHA-256 (hex) of the initial credential (bootstrap token, configured refresh token)
     *  last presented: it is never presented again; "" when none was. */
    char initial_sha256[65];
    /** For operators: the refresh token that was sent when the answer was lost. */
    char lost_prefix[9];
    int64_t lost_at;
} ts_client__state;

void ts_client__state_cleanup(ts_client__state *st);
/**
 * Load @p path into @p st. A missing file is an empty state. The file must be this format,
 * written for @p endpoint: a refresh token is never sent to another server.
 * @param loose set when group or others may read the file.
 * @return TS_OK; TS_EPARSE (damaged, another format); TS_EINVAL (another endpoint); TS_EIO.
 */
ts_status ts_client__state_load(const char *path, const char *endpoint, size_t max_token,
                                ts_client__state *st, bool *loose, ts_error *err);
/** Replace @p path atomically (temporary file, fsync, rename, directory fsync; mode 0600). */
ts_status ts_client__state_save(const char *path, const char *endpoint, const ts_client__state *st,
                                int64_t now_s, ts_error *err);
/** Lock "<path>.lock" (created 0600) exclusively for the client's life. @return the
 *  descriptor in @p fd; TS_EINVAL when another client holds it. */
ts_status ts_client__state_lock(const char *path, int *fd, ts_error *err);

/* ---- the client ---------------------------------------------------------------------------- */

/** The steps of one renewal, for the crash tests (ts_client__set_step_hook()). */
typedef enum ts_client__step {
    TS_CLIENT__STEP_BEGIN = 1, /**< a renewal starts: nothing written, nothing sent */
    TS_CLIENT__STEP_MARKED,    /**< the credential is out of the state file (or marked used) */
    TS_CLIENT__STEP_ANSWERED,  /**< the first header of the server's answer arrived */
    TS_CLIENT__STEP_RECEIVED,  /**< the whole answer arrived */
    TS_CLIENT__STEP_PARSED,    /**< parsed; the new refresh token is not yet written */
    TS_CLIENT__STEP_PERSISTED, /**< the new refresh token is in the state file */
    TS_CLIENT__STEP_PUBLISHED, /**< the new token is in the cache */
    TS_CLIENT__STEP_DONE,      /**< the rotation hook returned */
} ts_client__step;
#define TS_CLIENT__STEP_LAST TS_CLIENT__STEP_DONE

/** A failure as the waiting threads get it. */
typedef struct ts_client__failure {
    ts_error err;
    ts_client_oauth_error oauth;
} ts_client__failure;

/** What one renewal produced, before it is published. */
typedef struct ts_client__result {
    ts_client_event event;
    ts_client__tokens tok;
    int64_t sent_ms;   /**< client clock when the request left: lifetimes count from it */
    int64_t sent_wall; /**< Unix seconds at the same moment */
    bool persisted;
    int64_t refresh_expires_at;
} ts_client__result;

struct ts_client {
    ts_client__holder holder; /* first: cache-line aligned */
    ts_client__config cfg;
    /* Read on the hot path: when the first caller past it renews (caller mode). */
    _Alignas(64) _Atomic int64_t ahead_at_ms;

    _Alignas(64) pthread_mutex_t mu; /* everything below */
    pthread_cond_t cv;               /* a flight ended, or the worker has something to do */
    bool in_flight;
    uint64_t done_seq; /* +1 when a flight has its result (token published or failure) */
    bool last_failed;  /* the latest flight failed: waiters get `last` */
    ts_client__failure last;
    unsigned failures;       /* consecutive */
    int64_t next_attempt_ms; /* backoff: no renewal before (client clock); 0: none */
    uint64_t generation;     /* of the latest token */
    uint64_t rng;
    uint64_t n_tokens, n_failures;
    int64_t last_success_at, last_failure_at;
    /* The family's view for statistics (the flight owner keeps the truth in `fam`). */
    bool has_refresh;
    int64_t refresh_expires_at;

    /* Owned by the thread that runs the flight (in_flight makes it one at a time). */
    ts_client__state fam;
    int lock_fd;

    /* The background thread. */
    pthread_t worker;
    bool worker_started, stopping;
    atomic_bool stop_http;

    /* Test-only: called at each step of a renewal. */
    void (*step_hook)(int step, void *ud);
    void *step_ud;
};

/** The client's clock (ms): the hook of the options, or CLOCK_MONOTONIC. */
int64_t ts_client__now_ms(const ts_client *c);
/** Log through the options' callback when @p level is at least log_level. */
void ts_client__log(const ts_client *c, ts_client_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/** Test-only: run @p fn at every step of every renewal (see ts_client__step). */
void ts_client__set_step_hook(ts_client *c, void (*fn)(int step, void *ud), void *ud);
static inline void ts_client__step_at(const ts_client *c, ts_client__step s)
{
    if (c->step_hook)
        c->step_hook((int)s, c->step_ud);
}

/* ---- exchange.c ---------------------------------------------------------------------------- */

/** One answer of the token endpoint. */
typedef struct ts_client__answer {
    long status;   /**< 0: none */
    bool sent;     /**< any of the request reached a connection */
    bool answered; /**< a whole answer arrived (status and oauth describe it) */
    ts_client_oauth_error oauth;
} ts_client__answer;

/** POST @p rq to the token endpoint and parse the answer into @p tok (empty unless TS_OK). */
ts_status ts_client__exchange(ts_client *c, const ts_client__request *rq, ts_client__tokens *tok,
                              ts_client__answer *a, ts_error *err);

/* ---- family.c ------------------------------------------------------------------------------ */

/** Obtain a new token by the configured grant; a family is advanced and persisted. */
ts_status ts_client__obtain(ts_client *c, ts_client__result *r, ts_client__failure *f);
/** Load and lock the state file into c->fam, and judge whether the family can start. */
ts_status ts_client__family_open(ts_client *c, ts_error *err);

/* ---- flight.c ------------------------------------------------------------------------------ */

/** Run one flight on this thread: the caller has set in_flight under the lock and released
 *  it. Publishes the result, runs the hook, clears in_flight. @return the flight's status. */
ts_status ts_client__fly(ts_client *c, ts_client__failure *f);

/* ---- worker.c ------------------------------------------------------------------------------ */

ts_status ts_client__worker_start(ts_client *c, ts_error *err);
void ts_client__worker_stop(ts_client *c);

#endif
