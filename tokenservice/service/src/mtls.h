/* mTLS service identity: the client certificate of a TLS session checked against a CA bundle
 * (and its CRLs), the identity it names (a SAN URI or DNS name, never the subject's CN), and
 * the rules that map that identity to the claims of an access token (docs/mtls.md). */
#ifndef TS_SVC_MTLS_H
#define TS_SVC_MTLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gnutls/gnutls.h>

#include <tokensmith/error.h>

#define TS_SVC_MTLS_MAX_CA_BYTES (1024u * 1024u)       /**< serviceIdentityCaFile at most */
#define TS_SVC_MTLS_MAX_CRL_BYTES (8u * 1024u * 1024u) /**< serviceIdentityCrlFile at most */
#define TS_SVC_MTLS_MAX_CHAIN 8                        /**< certificates a client may present */
#define TS_SVC_MTLS_MAX_SANS 16                        /**< URI and DNS names of a leaf looked at */
#define TS_SVC_MTLS_MAX_ID 255    /**< bytes of one identity (longer names are skipped) */
#define TS_SVC_MTLS_MAX_RULES 256 /**< rules in serviceIdentity.rules */
#define TS_SVC_MTLS_MAX_LIST 32   /**< audiences, scopes or roles of one rule */
#define TS_SVC_MTLS_MAX_STR 255   /**< bytes of a rule's pattern, subject, or list entry */

/** Which kind of name a rule matches. */
typedef enum ts_svc_mtls_kind { TS_SVC_MTLS_URI, TS_SVC_MTLS_DNS } ts_svc_mtls_kind;

/** How a rule's pattern compares. Glob: `*` is any run of characters within one path segment
 *  (URI: no `/`) or one label (DNS: no `.`), `?` one such character; nothing else is special. */
typedef enum ts_svc_mtls_how {
    TS_SVC_MTLS_EXACT,
    TS_SVC_MTLS_PREFIX,
    TS_SVC_MTLS_GLOB
} ts_svc_mtls_how;

/** One mapping rule (mtls_rules.c). Strings owned by the rule set. */
typedef struct ts_svc_mtls_rule {
    ts_svc_mtls_kind kind;
    ts_svc_mtls_how how;
    char *pattern; /**< DNS patterns are kept in lower case */
    char *subject; /**< NULL: the matched identity is the subject */
    char *scope;   /**< the scopes, space-separated ("" = none) */
    char **audience;
    size_t n_audience;
    char *roles;  /**< a JSON array of strings ("[]" = none) */
    size_t index; /**< position in the file, for the audit record */
} ts_svc_mtls_rule;

/** The rule set, immutable once built, safe to share between threads. */
typedef struct ts_svc_mtls_rules ts_svc_mtls_rules;

/**
 * Parse the `serviceIdentity` member ({"rules":[...]}, compact JSON as the configuration keeps
 * it). Each rule: "kind" ("uri"|"dns"), exactly one of "exact", "prefix", "glob", "audience" (1
 * to 32 strings), and optionally "subject", "scopes", "roles". Unknown members are errors.
 */
TS_NODISCARD ts_svc_mtls_rules *ts_svc_mtls_rules_new(const char *json, size_t len, ts_error *err);
void ts_svc_mtls_rules_free(ts_svc_mtls_rules *r);
/** The first rule, in file order, matching @p id of @p kind; NULL for none. Borrowed. */
const ts_svc_mtls_rule *ts_svc_mtls_rules_match(const ts_svc_mtls_rules *r, ts_svc_mtls_kind kind,
                                                const char *id);
/** Whether @p id matches @p pattern compared as @p how for names of @p kind. */
bool ts_svc_mtls_pattern_matches(ts_svc_mtls_kind kind, ts_svc_mtls_how how, const char *pattern,
                                 const char *id);

/** What a presented certificate came to; the audit record's "reason" is its name. */
typedef enum ts_svc_mtls_outcome {
    TS_SVC_MTLS_OK,
    TS_SVC_MTLS_NO_CERTIFICATE, /**< no TLS, or no certificate presented */
    TS_SVC_MTLS_UNTRUSTED,      /**< does not chain to the CA bundle, or a bad signature */
    TS_SVC_MTLS_EXPIRED,
    TS_SVC_MTLS_NOT_YET_VALID,
    TS_SVC_MTLS_REVOKED,     /**< listed by a CRL of serviceIdentityCrlFile */
    TS_SVC_MTLS_WRONG_USAGE, /**< no clientAuth extended key usage, a CA, or no signing use */
    TS_SVC_MTLS_NO_IDENTITY, /**< no SAN URI or DNS name (a CN alone is never used) */
    TS_SVC_MTLS_UNMAPPED,    /**< an identity no rule maps */
} ts_svc_mtls_outcome;

/** "ok", "no_certificate", "untrusted", "expired", ... (static). */
const char *ts_svc_mtls_outcome_name(ts_svc_mtls_outcome o);

/** One session's certificate and what it maps to. */
typedef struct ts_svc_mtls_session {
    ts_svc_mtls_outcome outcome;
    char identity[TS_SVC_MTLS_MAX_ID + 1]; /**< the name matched; unmapped: the first seen */
    const char *kind;                      /**< "uri", "dns" or NULL */
    char serial[3 * 20 + 8];               /**< the leaf's serial, hex bytes joined by ':' */
    char issuer[256];                      /**< the leaf's issuer DN (truncated) */
    char x5t[44];                          /**< base64url SHA-256 of the leaf's DER (RFC 8705) */
    const ts_svc_mtls_rule *rule;          /**< the rule that matched; borrowed from the set */
} ts_svc_mtls_session;

/** The CA bundle, its CRLs and the rules. Safe to share between threads: a reload
 *  (ts_svc_mtls_reload(), one thread at a time) swaps the bundle and CRLs atomically, and a check
 *  in progress keeps the ones it started with. */
typedef struct ts_svc_mtls ts_svc_mtls;

/**
 * Read @p ca_file (PEM certificates, at least one) and @p crl_file (PEM CRLs; "" or NULL for
 * none; each must be signed by a CA of the bundle) and parse @p rules_json. Errors name the
 * setting (serviceIdentityCaFile, serviceIdentityCrlFile, serviceIdentity).
 */
TS_NODISCARD ts_svc_mtls *ts_svc_mtls_new(const char *ca_file, const char *crl_file,
                                          const char *rules_json, ts_error *err);
void ts_svc_mtls_free(ts_svc_mtls *m);
/** The CA bundle's PEM text, to ask clients for certificates of these CAs. Borrowed: valid
 *  until the next reload that changes it (read it at start, before any). */
const char *ts_svc_mtls_ca_pem(const ts_svc_mtls *m, size_t *len);

/**
 * Read serviceIdentityCaFile and serviceIdentityCrlFile again. With @p only_if_changed, nothing
 * is read unless a file's identity, size or time changed since the last look (a pair of files
 * that failed is not retried until one changes again). The new bundle and CRLs are checked as
 * at start before they replace the current ones; on failure the current ones stay. The same
 * content changes nothing. The rules are not reread.
 * @return TS_OK (*@p read: the files were read; *@p changed: new ones are in use), or the
 *         reason the new files were refused.
 */
TS_NODISCARD ts_status ts_svc_mtls_reload(ts_svc_mtls *m, bool only_if_changed, bool *read,
                                          bool *changed, ts_error *err);

/**
 * Check the certificate chain @p peers (DER, leaf first, as the client sent it; @p n may be 0)
 * at the present time: chains to the bundle, not revoked, within its validity, usable for TLS
 * client authentication; then its identity and the rule it maps to. The outcome is in
 * @p out (never an error: anything but TS_SVC_MTLS_OK refuses).
 */
void ts_svc_mtls_check(const ts_svc_mtls *m, const gnutls_datum_t *peers, unsigned n,
                       ts_svc_mtls_session *out);

#endif
