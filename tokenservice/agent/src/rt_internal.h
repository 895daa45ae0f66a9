/*
 * The runtime of `tokensmith agent`: what its rt_*.c files share. Private to the agent library.
 *
 * One configuration runs as one graph (ts_agent__graph): a slot per source holding its current
 * tokens, a refresh thread that fetches the sources in the configuration's order, file sinks
 * written from that thread, uds sinks served by their own small HTTP servers (rt_httpd.h), and
 * counters for /metrics. The listener of settings.listen (http sinks, /health, /metrics) belongs to
 * the runner (rt_run.c), which outlives a graph across reloads and asks the current graph for each
 * answer.
 *
 * Thread-safety: a slot's tokens and counters are guarded by its mutex; sink counters are
 * atomics; everything else in a graph is written before its threads start and read-only after.
 * Secrets: token copies are wiped before they are freed; logs name tokens by SHA-256 prefixes.
 */
#ifndef TS_AGENT_RT_INTERNAL_H
#define TS_AGENT_RT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tokensmith/error.h>

#include "agent_config.h"

/* ---------------------------------------------------------------------------------------- */
/* Logs (rt_log.c)                                                                          */

typedef struct ts_agent__log ts_agent__log;

/** One field of a log line: a string (s != NULL) or an integer. */
typedef struct ts_agent__kv {
    const char *key;
    const char *s;
    int64_t i;
} ts_agent__kv;

static inline ts_agent__kv ts_agent__ks(const char *k, const char *v)
{
    ts_agent__kv kv = {k, v ? v : "", 0};
    return kv;
}
#define TS_KS(k, v) ts_agent__ks((k), (v))
#define TS_KI(k, v) ((ts_agent__kv){(k), NULL, (int64_t)(v)})

/** A logger writing to @p fd at @p level and above, as JSON lines or text. NULL: no memory. */
ts_agent__log *ts_agent__log_new(int fd, ts_agent_log_level level, ts_agent_log_format format);
void ts_agent__log_free(ts_agent__log *l);
/** Change the level and format (a reload). */
void ts_agent__log_set(ts_agent__log *l, ts_agent_log_level level, ts_agent_log_format format);
/** Write one line: time, level, msg, then @p n fields. NULL-safe (@p l). */
void ts_agent__log_line(ts_agent__log *l, ts_agent_log_level level, const char *msg,
                        const ts_agent__kv *kv, size_t n);
#define TS_AGENT_LOG(l, lv, msg, ...)                                                              \
    do {                                                                                           \
        const ts_agent__kv kv_[] = {__VA_ARGS__};                                                  \
        ts_agent__log_line((l), (lv), (msg), kv_, sizeof kv_ / sizeof kv_[0]);                     \
    } while (0)

/* ---------------------------------------------------------------------------------------- */
/* Parsing a source's answer (rt_parse.c)                                                   */

/** Longest token accepted from a source. */
#define TS_AGENT__MAX_TOKEN 65536u
/** Largest response body or file read by a source. */
#define TS_AGENT__MAX_BODY (1024u * 1024u)

/** One token parsed out of an answer: heap value (wiped when freed), expiry in Unix s. */
typedef struct ts_agent__token {
    char *value;
    size_t len;
    int64_t expires_at;
} ts_agent__token;

/** Wipe and free @p n tokens' values (not the array). */
void ts_agent__tokens_clear(ts_agent__token *t, size_t n);

/**
 * Parse the tokens of @p src out of an answer: @p body (@p body_len bytes; NUL-terminated),
 * @p headers (the response's header lines as received, "" for a file), at Unix time @p now.
 * @param out src->n_tokens entries, filled on TS_OK (free with ts_agent__tokens_clear()).
 * @return TS_OK; TS_EPARSE naming the token and what is wrong (never its value); TS_ENOMEM.
 */
TS_NODISCARD ts_status ts_agent__parse_tokens(const ts_agent_source *src, const char *body,
                                              size_t body_len, const char *headers, int64_t now,
                                              ts_agent__token *out, ts_error *err);

/** The `exp` claim of a JWT (compact serialization), unverified. TS_EPARSE when none. */
TS_NODISCARD ts_status ts_agent__jwt_exp(const char *jwt, size_t len, int64_t *exp);
/** An RFC 3339 date-time ("2026-12-06T17:30:00Z", offsets and fractions allowed) as Unix s. */
TS_NODISCARD ts_status ts_agent__parse_rfc3339(const char *s, size_t len, int64_t *out);
/** Format Unix seconds as "2026-12-06T17:30:00Z" into @p out (at least 21 bytes). */
void ts_agent__format_rfc3339(int64_t t, char *out, size_t cap);

/* ---------------------------------------------------------------------------------------- */
/* The graph (rt_graph.c, rt_sched.c)                                                       */

typedef struct ts_agent__graph ts_agent__graph;

/** The current tokens of one source and its counters. */
typedef struct ts_agent__slot {
    pthread_mutex_t mu;
    ts_agent__token *tokens; /**< n_tokens of the source; valid only while `valid` */
    bool valid;
    uint64_t generation; /**< one more for each new set of tokens */
    int64_t expires_at;  /**< the earliest of the tokens (valid only) */
    uint64_t refreshes, failures;
    unsigned consecutive_failures;
    int64_t last_success; /**< Unix s; 0: never */
} ts_agent__slot;

/** Counters of one sink. */
typedef struct ts_agent__sink_stats {
    atomic_uint_fast64_t writes, errors;
} ts_agent__sink_stats;

/** Hooks the runner gives a graph. */
typedef struct ts_agent__graph_hooks {
    /** Called once when every source has had its first fetch (from the refresh thread). */
    void (*on_first_pass)(void *ud);
    void *ud;
    /** Test hook: a clock in Unix milliseconds; NULL: CLOCK_REALTIME. */
    int64_t (*now_ms)(void *ud);
    void *now_ud;
} ts_agent__graph_hooks;

/**
 * Build a graph for @p cfg (borrowed: it must outlive the graph): slots, one ts_client per
 * oauth2 and tokensmith source (locking their state files), the uds sinks' sockets (opened and
 * served at once, answering 503 until a token arrives). Nothing is fetched yet.
 * @return the graph, or NULL with @p err set (TS_EIO: a socket or a state file; TS_EINVAL: a
 * client's options; TS_ENOMEM).
 */
ts_agent__graph *ts_agent__graph_new(const ts_agent_config *cfg, ts_agent__log *log,
                                     const ts_agent__graph_hooks *hooks, ts_error *err);
/** Start the refresh thread. */
TS_NODISCARD ts_status ts_agent__graph_start(ts_agent__graph *g, ts_error *err);
/** Stop the refresh thread (ending an http fetch in flight) and the uds daemons, remove the
 *  sockets; file sinks stay. Idempotent. */
void ts_agent__graph_stop(ts_agent__graph *g);
/** Stop, release the clients, wipe and free. NULL-safe. */
void ts_agent__graph_free(ts_agent__graph *g);

const ts_agent_config *ts_agent__graph_config(const ts_agent__graph *g);
ts_agent__log *ts_agent__graph_log(const ts_agent__graph *g);
int64_t ts_agent__graph_now_ms(const ts_agent__graph *g);
ts_agent__slot *ts_agent__graph_slot(ts_agent__graph *g, size_t source);
ts_agent__sink_stats *ts_agent__graph_sink_stats(ts_agent__graph *g, size_t sink);
/** True while the refresh thread is alive and not stuck: it has been through its loop within
 *  the last @p max_ms (or is waiting). For the watchdog. */
bool ts_agent__graph_alive(const ts_agent__graph *g, int64_t max_ms);
/** The refresh thread is asked to fetch every source again now (a test hook). */
void ts_agent__graph_kick(ts_agent__graph *g);

/**
 * A copy of token @p token of source @p source if it is valid at Unix time @p now (heap,
 * NUL-terminated; free with ts_agent__secret_free()). @return TS_OK; TS_ENOTFOUND when there is
 * none; TS_ENOMEM.
 */
TS_NODISCARD ts_status ts_agent__token_copy(ts_agent__graph *g, size_t source, size_t token,
                                            char **value, size_t *len, int64_t *expires_at);
/** Wipe @p n bytes at @p s and free it. NULL-safe. */
void ts_agent__secret_free(char *s, size_t n);

/**
 * The text of @p v now: a literal, a rendered template, a source's token, a file, a variable,
 * with its prefix. @return TS_OK with a heap copy (free with ts_agent__secret_free()); TS_ENOTFOUND
 * when it cannot be produced now (no token yet, no file, no variable), with a message that
 * names no secret; TS_ENOMEM.
 */
TS_NODISCARD ts_status ts_agent__value_text(ts_agent__graph *g, const ts_agent_value *v, char **out,
                                            size_t *len, ts_error *err);

/* ---------------------------------------------------------------------------------------- */
/* Fetching (rt_fetch.c: http and file; rt_client.c: oauth2 and tokensmith)                 */

/** Fetch the tokens of http or file source @p i into @p out (src->n_tokens entries). @p stop
 *  ends a request in flight. */
TS_NODISCARD ts_status ts_agent__fetch_http_file(ts_agent__graph *g, size_t i,
                                                 const atomic_bool *stop, ts_agent__token *out,
                                                 ts_error *err);

typedef struct ts_agent__client ts_agent__client;
/** The ts_client of oauth2 or tokensmith source @p i (secrets read now). NULL with @p err. */
ts_agent__client *ts_agent__client_new(ts_agent__graph *g, size_t i, ts_error *err);
void ts_agent__client_free(ts_agent__client *c);
/** A new token from the client (the one it holds is dropped first, except the first time). */
TS_NODISCARD ts_status ts_agent__client_fetch(ts_agent__client *c, ts_agent__token *out,
                                              ts_error *err);

/* ---------------------------------------------------------------------------------------- */
/* Sinks (rt_sinks.c, rt_serve.c)                                                           */

/** Bring the file sinks of source @p source up to date with its slot: write the token, or
 *  remove the file when there is no valid token (@p reason for the log). */
void ts_agent__file_sinks_update(ts_agent__graph *g, size_t source, const char *reason);

/** An HTTP answer built by the runtime (body heap, wiped when freed). */
typedef struct ts_agent__answer {
    unsigned status;
    const char *content_type; /**< borrowed */
    char *body;
    size_t body_len;
    /** Extra headers: names borrowed from the configuration, values heap. */
    const char *hdr_names[TS_AGENT_MAX_FIELDS];
    char *hdr_values[TS_AGENT_MAX_FIELDS];
    size_t hdr_lens[TS_AGENT_MAX_FIELDS];
    size_t n_hdrs;
} ts_agent__answer;

void ts_agent__answer_clear(ts_agent__answer *a);
/** The answer of sink @p sink (http or uds) now: 200 with its response, 503 without a token. */
TS_NODISCARD ts_status ts_agent__sink_answer(ts_agent__graph *g, size_t sink, ts_agent__answer *a);
/** /health and /metrics (@p tls: the listener's handshake counters, NULL without TLS). */
TS_NODISCARD ts_status ts_agent__health_answer(ts_agent__graph *g, ts_agent__answer *a);
struct ts_common__tls_handshake_counters;
TS_NODISCARD ts_status ts_agent__metrics_answer(ts_agent__graph *g, uint64_t reloads_ok,
                                                uint64_t reloads_refused,
                                                const struct ts_common__tls_handshake_counters *tls,
                                                ts_agent__answer *a);

typedef struct ts_agent__uds ts_agent__uds;
/** Open and serve the socket of uds sink @p sink. NULL with @p err (TS_EIO). */
ts_agent__uds *ts_agent__uds_new(ts_agent__graph *g, size_t sink, ts_error *err);
/** Stop serving and remove the socket. NULL-safe. */
void ts_agent__uds_free(ts_agent__uds *u);

/** The listener of settings.listen: http sinks, /health and /metrics of the graph that
 *  @p acquire returns (NULL: none now, 503) until @p release is called for it. */
typedef struct ts_agent__listener ts_agent__listener;
typedef struct ts_agent__listener_hooks {
    ts_agent__graph *(*acquire)(void *ud);
    void (*release)(void *ud);
    /** The reload counters for /metrics. */
    void (*reloads)(void *ud, uint64_t *ok, uint64_t *refused);
    void *ud;
} ts_agent__listener_hooks;
struct ts_common__tls_conn_options;
/** Listen on @p listen (HOST:PORT, [V6]:PORT); HTTPS only with @p tls (each connection's TLS
 *  session options, borrowed until the listener is freed; NULL: plain HTTP). NULL with @p err
 *  (TS_EIO, TS_EINVAL). */
ts_agent__listener *ts_agent__listener_new(const char *listen, const ts_agent__listener_hooks *h,
                                           const struct ts_common__tls_conn_options *tls,
                                           ts_error *err);
/** The port bound (port 0 picks one). */
unsigned ts_agent__listener_port(const ts_agent__listener *l);
/** Stop serving. NULL-safe. */
void ts_agent__listener_free(ts_agent__listener *l);

#endif
