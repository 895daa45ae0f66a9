/*
 * The gateway's decision core (docs/gateway.md, "Decisions"): what every front asks. Built once
 * from a finished configuration, it holds the per-issuer verifiers (one ts_authn_verifier per
 * trust entry, so that one issuer's keys never verify another's tokens), the authz guard (route
 * mapper, authorizer, mode, deny bodies, decision logs: the contract the C libraries use), the
 * gateway's signing keys (its key directory, loaded as `tokensmith serve` loads its own) and the
 * bounded translation cache, plus the counters /metrics shows.
 *
 * ts_gateway__check() is the one algorithm: bounds -> the client's x-tokensmith-* headers ->
 * public path -> bearer token -> issuer -> verification -> identity -> authorization ->
 * translation. It never fails: every error becomes a verdict (docs/gateway.md says which).
 *
 * Ownership: the core borrows @p cfg for its life (the caller keeps it until
 * ts_gateway__core_free()). Thread-safety: ts_gateway__check(), the metrics and the JWKS may be
 * called from any number of threads at once; ts_gateway__core_reload() may run concurrently
 * with checks (a check sees the old or the new policy and keys, never a mix).
 */
#ifndef TS_GATEWAY_CORE_H
#define TS_GATEWAY_CORE_H

#include <stdbool.h>
#include <stddef.h>

#include <tokensmith/error.h>

#include "common/secbuf.h"
#include "common/tls_conn.h"
#include "gateway_config.h"
#include "gw_internal.h"

typedef struct ts_gateway__core ts_gateway__core;

typedef struct ts_gateway__core_options {
    /** Where log lines go (JSON or text per cfg->log_format, one line each); NULL = stderr. */
    void (*log)(const char *line, size_t len, void *ud);
    void *log_ud;
    /** Read the keys without creating one (`--check`): a missing key is an error. */
    bool read_only_keys;
} ts_gateway__core_options;

#define TS_GATEWAY__CORE_OPTIONS_INIT                                                              \
    {                                                                                              \
        NULL, NULL, false                                                                          \
    }

/** Build the core. @return NULL with @p err (the message names the trust entry, the policy
 *  file or the key directory at fault). */
ts_gateway__core *ts_gateway__core_new(const ts_gateway_config *cfg,
                                       const ts_gateway__core_options *opts, ts_error *err);

/** Free @p c (wiping the translation cache). NULL-safe; no check may be running. */
void ts_gateway__core_free(ts_gateway__core *c);

/** The check: a ts_gateway__check_fn whose @p ud is the core. */
void ts_gateway__check(const ts_gateway__input *in, ts_gateway__verdict *out, void *ud);

/** What one reload did with each part: reloaded (TS_OK) or kept as it runs (the error). */
typedef struct ts_gateway__reload_report {
    ts_status policy;    /**< TS_OK: the policy directory was read again and is in force */
    ts_error policy_err; /**< why the running policy was kept (policy != TS_OK) */
    ts_status keys;      /**< TS_OK: the key directory was read again and is in force */
    ts_error keys_err;   /**< why the running keys were kept (keys != TS_OK) */
} ts_gateway__reload_report;

/** SIGHUP: reread the policy directory and the key directory, each on its own: a bad policy
 *  keeps the running policy and the keys are still reloaded, a bad key keeps the running keys
 *  and the policy is still reloaded. @p out (required) says which part was kept and why.
 *  @return TS_OK when both were reloaded; else the first failure's code (the policy's first). */
TS_NODISCARD ts_status ts_gateway__core_reload(ts_gateway__core *c, ts_gateway__reload_report *out);

/** Append the Prometheus text of the core's metrics (checks by front, mode and result, latency
 *  histograms, translation cache hits and misses, translations, the guard's and verifiers'
 *  counters) to @p out. */
void ts_gateway__core_metrics(ts_gateway__core *c, ts_common__secbuf *out);

/** Where the listeners' TLS sessions count their handshakes (shown by ts_gateway__core_metrics);
 *  valid while @p c lives. */
ts_common__tls_handshake_counters *ts_gateway__core_tls_counters(ts_gateway__core *c);

/** Append the JWKS of the keys that sign translated tokens (RFC 7638 kids) to @p out.
 *  @return TS_OK; TS_ENOMEM. */
TS_NODISCARD ts_status ts_gateway__core_jwks(ts_gateway__core *c, ts_common__secbuf *out,
                                             ts_error *err);

/** The policy_version in force (64 hex digits and a NUL). */
void ts_gateway__core_policy_version(ts_gateway__core *c, char out[65]);

/** The authz guard, for /authz/diagnostics; lives as long as @p c (reloads keep it). */
const ts_authz_guard *ts_gateway__core_guard(const ts_gateway__core *c);

#endif
