/*
 * The decision core's pieces (core.h), one file each: trust.c (a verifier per trusted issuer,
 * chosen by the token's unverified `iss`), identity.c (verified principal -> authz principal,
 * the Kubernetes rules), translate.c (the gateway's signed token and its cache), metrics.c
 * (counters and their Prometheus text), decide.c (the algorithm) and core.c (construction,
 * reload, JWKS). Private to the gateway (ts_gateway__*).
 *
 * Thread-safety: everything here is safe from any number of check threads at once, except the
 * _new/_free pairs.
 */
#ifndef TS_GATEWAY_CORE_INTERNAL_H
#define TS_GATEWAY_CORE_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tokensmith/authn.h>
#include <tokensmith/authz.h>
#include <tokensmith/authz_http.h>
#include <tokensmith/error.h>

#include "common/secbuf.h"
#include "common/tls_conn.h"
#include "core.h"
#include "gateway_config.h"

/* ---------------------------------------------------------------------------------------- */
/* trust.c                                                                                   */

typedef struct ts_gateway__trustset ts_gateway__trustset;

/** One verifier per cfg->trust entry. An entry with a jwks_uri gets its key source now
 *  ("file:///x.json" reads a local JWKS file; http(s) is fetched on first use); one without
 *  gets it at its first token, by OpenID discovery on the issuer (one discovery at a time per
 *  entry, at most one attempt per 30 s). @p scope_roles is copied. */
ts_gateway__trustset *ts_gateway__trust_new(const ts_gateway_config *cfg,
                                            const ts_authn_scope_role *scope_roles,
                                            size_t n_scope_roles, ts_error *err);
void ts_gateway__trust_free(ts_gateway__trustset *t);

/** Verify @p token on the verifier of the entry its unverified `iss` names. @p entry gets
 *  that entry (NULL when none). Unknown issuer: TS_AUTHN_WRONG_ISSUER; discovery failed:
 *  TS_AUTHN_KEYS_UNAVAILABLE. */
ts_authn_reason ts_gateway__trust_verify(ts_gateway__trustset *t, const char *token, size_t len,
                                         const ts_gateway_trust **entry, ts_authn_principal **out,
                                         ts_authn_detail *detail, ts_error *err);

/** Sum of the verifiers' cache counters (entries not yet built count nothing). */
void ts_gateway__trust_cache_stats(ts_gateway__trustset *t, uint64_t *hits, uint64_t *misses);

/* ---------------------------------------------------------------------------------------- */
/* identity.c                                                                                */

#define TS_GATEWAY__MAX_ROLES 64u

/** Who the caller is, for authz and translation. Strings borrow from the principal (and the
 *  trust entry); the Kubernetes members are copies. */
typedef struct ts_gateway__identity {
    const char *id;
    const char *type; /**< "user" or "service" */
    const char *roles[TS_GATEWAY__MAX_ROLES];
    size_t n_roles;
    const char *domain;
    bool kubernetes;
    char k8s_namespace[254];
    char k8s_sa_name[254];
    char k8s_sa_uid[128]; /**< "" when the token has none */
} ts_gateway__identity;

/** Map the verified @p p of trust entry @p t. Kubernetes entries: the nested `kubernetes.io`
 *  namespace and service account name are required and `sub` must be
 *  system:serviceaccount:<namespace>:<name> (TS_AUTHN_MISSING_CLAIM / TS_AUTHN_INVALID_CLAIM);
 *  with max_token_age_s, `iat` is required and now - iat may not exceed it (invalid_claim).
 *  @return TS_AUTHN_OK, a refusal reason, or TS_AUTHN_INTERNAL (out of memory). */
ts_authn_reason ts_gateway__identity_map(const ts_gateway_trust *t, const ts_authn_principal *p,
                                         int64_t now, ts_gateway__identity *out, ts_error *err);

/** The authz principal of @p id (borrowing from it). */
ts_authz_principal ts_gateway__identity_authz(const ts_gateway__identity *id);

/** For a Kubernetes identity: put the roles the policy grants its account
 *  (ts_authz_guard_roles(): none in mode off) into id->roles, borrowed from *held, which the
 *  caller frees with ts_authz_roles_free() once @p id is no longer used. @p policy_version gets
 *  the version they were read from. Other identities are left as they are (*held NULL,
 *  @p policy_version ""). @return TS_OK; TS_ELIMIT (more than TS_GATEWAY__MAX_ROLES);
 *  TS_ENOMEM; another authz error. */
TS_NODISCARD ts_status ts_gateway__identity_policy_roles(
    const ts_authz_guard *g, ts_gateway__identity *id, char ***held,
    char policy_version[TS_AUTHZ_POLICY_VERSION_LEN + 1], ts_error *err);

/* ---------------------------------------------------------------------------------------- */
/* translate.c                                                                               */

#define TS_GATEWAY__MAX_JWT 2048u /**< a translated token longer than this is refused */

typedef struct ts_gateway__translator ts_gateway__translator;

typedef struct ts_gateway__translator_options {
    const char *issuer;     /**< iss of translated tokens */
    const char *key_dir;    /**< the gateway's keys (files) */
    const char *key_file;   /**< a pkcs11: URI instead of key_dir, or "" */
    const char *algorithm;  /**< "" = ES256 for a new key, else the active key must do it */
    const char *token_type; /**< JWS typ */
    int64_t ttl_s;
    unsigned cache_entries;   /**< 0: no cache */
    bool read_only_keys;      /**< never create a key (a missing key is an error) */
    int64_t (*now)(void *ud); /**< NULL = time() */
    void *now_ud;
} ts_gateway__translator_options;

ts_gateway__translator *ts_gateway__translator_new(const ts_gateway__translator_options *o,
                                                   ts_error *err);
/** Frees the keyring and the cache (every cached token wiped). NULL-safe. */
void ts_gateway__translator_free(ts_gateway__translator *t);

/** The token to send upstream for the caller of @p presented (verified as @p p, mapped as
 *  @p id) and audience @p aud: from the cache while it is valid for longer than the reuse
 *  margin, else newly signed. @p policy_version (NULL: none) is part of the cache key: pass
 *  the version @p id's roles were read from when the policy gave them, so that a reload that
 *  changes them is never answered from the cache. @p out holds TS_GATEWAY__MAX_JWT + 1 bytes
 *  (wipe it after use). @p hit (may be NULL) says whether the cache answered. */
TS_NODISCARD ts_status ts_gateway__translate(ts_gateway__translator *t, const char *presented,
                                             size_t presented_len, const ts_authn_principal *p,
                                             const ts_gateway__identity *id, const char *aud,
                                             const char *policy_version, char *out, size_t *out_len,
                                             bool *hit, ts_error *err);

/** The claims JSON a translation signs now (for tests and docs): heap, free(). */
char *ts_gateway__translate_claims(ts_gateway__translator *t, const ts_authn_principal *p,
                                   const ts_gateway__identity *id, const char *aud, int64_t now,
                                   size_t *len);

TS_NODISCARD ts_status ts_gateway__translator_reload(ts_gateway__translator *t, ts_error *err);
/** `{"keys":[...]}` of the signing keys. Borrowed (per thread, see keys.h). */
const char *ts_gateway__translator_jwks(ts_gateway__translator *t);
void ts_gateway__translator_counts(ts_gateway__translator *t, uint64_t *hits, uint64_t *misses,
                                   uint64_t *signed_tokens);

/* ---------------------------------------------------------------------------------------- */
/* metrics.c                                                                                 */

#define TS_GATEWAY__N_MODES 3u   /* off, shadow, enforce: ts_authz_mode order */
#define TS_GATEWAY__N_RESULTS 3u /* allow, deny, cannot_decide: ts_gateway__decision order */
#define TS_GATEWAY__N_BUCKETS 12u

typedef struct ts_gateway__metrics {
    _Atomic uint64_t checks[2][TS_GATEWAY__N_MODES][TS_GATEWAY__N_RESULTS];
    /** cumulative-at-read latency buckets per front (le in µs, see metrics.c) and +Inf */
    _Atomic uint64_t latency[2][TS_GATEWAY__N_BUCKETS + 1];
    _Atomic uint64_t latency_sum_us[2];
    /** The check listeners' TLS sessions (gw_tls.c points their options here). */
    ts_common__tls_handshake_counters tls;
} ts_gateway__metrics;

void ts_gateway__metrics_record(ts_gateway__metrics *m, ts_gateway__front front, unsigned mode,
                                ts_gateway__decision d, uint64_t elapsed_us);

/** Prometheus text of @p m plus the translator's and verifiers' counters. */
void ts_gateway__metrics_text(const ts_gateway__metrics *m, uint64_t cache_hits,
                              uint64_t cache_misses, uint64_t translations, uint64_t verify_hits,
                              uint64_t verify_misses, ts_common__secbuf *out);

/* ---------------------------------------------------------------------------------------- */
/* core.c: the object decide.c works on                                                      */

struct ts_gateway__core {
    const ts_gateway_config *cfg;
    void (*log)(const char *line, size_t len, void *ud);
    void *log_ud;
    ts_authn_scope_role *scope_roles; /* borrowed strings from cfg */
    ts_gateway__trustset *trust;
    ts_gateway__translator *translator;
    ts_authz_authorizer *authorizer;
    ts_authz_mapper *mapper;
    ts_authz_guard *guard;
    ts_authz_route *routes;             /* borrowed strings from cfg */
    unsigned mode;                      /* ts_authz_mode */
    ts_authn_verifier *public_verifier; /* only so that public_paths has authn's matcher */
    ts_authn_mhd *public_paths;         /* NULL: no public path */
    ts_gateway__metrics metrics;
};

#endif
