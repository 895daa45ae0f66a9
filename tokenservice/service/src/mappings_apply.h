/* The token mappings as the exchange applies them (docs/mappings.md, "How the exchange applies
 * them"): a checked document compiled once into a read-only, reference-counted set, so that a
 * reload never frees what an exchange in flight reads. Pure functions of the set and the
 * exchange's values: no store, no clock, no logging (mappings_cache.c does those). */
#ifndef TS_SVC_MAPPINGS_APPLY_H
#define TS_SVC_MAPPINGS_APPLY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <tokensmith/error.h>
#include <tokensmith/oidc.h>

/** One identity rule, its strings borrowed from the set's document. */
typedef struct ts_svc_map_rule {
    const char *name;
    const char *issuer; /**< NULL: any issuer */
    const char *namespace_glob;
    const char *account_glob;
    const char **scopes;
    size_t n_scopes;
    const char **roles;
    size_t n_roles;
} ts_svc_map_rule;

/** A compiled document. Immutable once built; shared by reference count. */
typedef struct ts_svc_map_set {
    atomic_uint refs;
    int64_t version; /**< the store's version (0: none stored) */
    json_t *doc;     /**< the checked, canonical document */
    json_t *order;   /**< the identity rules in evaluation order (ts_svc_map_rules_in_order) */
    ts_svc_map_rule *rules;
    size_t n_rules;
} ts_svc_map_set;

/**
 * Compile the checked document @p doc (a reference is taken) stored at @p version.
 * @return the set (one reference), or NULL with @p err set (TS_ENOMEM).
 */
ts_svc_map_set *ts_svc_map_set_new(json_t *doc, int64_t version, ts_error *err);
/** The empty set at @p version (no rules, no mappings); NULL when out of memory. */
ts_svc_map_set *ts_svc_map_set_empty(int64_t version);
/** Take a reference. @return @p m. */
ts_svc_map_set *ts_svc_map_set_ref(ts_svc_map_set *m);
/** Drop a reference. NULL-safe. */
void ts_svc_map_set_free(ts_svc_map_set *m);

/** The first rule, in evaluation order (ascending priority, then name), that matches the
 *  account: its issuer (when the rule names one) equal to @p iss, namespace and name matching
 *  the globs. NULL: none. */
const ts_svc_map_rule *ts_svc_map_rule_find(const ts_svc_map_set *m, const char *iss,
                                            const char *ns, const char *name);

/** What one exchange used of the set: the ud of ts_svc_map_rule_cb(). */
typedef struct ts_svc_map_use {
    const ts_svc_map_set *set;
    const ts_svc_map_rule *rule; /**< out: the stored rule that matched, or NULL */
} ts_svc_map_use;

/** A ts_oidc_rule_fn over the set's identity rules; @p ud is a ts_svc_map_use. */
bool ts_svc_map_rule_cb(const char *issuer, const char *ns, const char *name,
                        ts_oidc_rule_grant *out, void *ud);

/** How the requested targets met the resource mappings. */
typedef enum ts_svc_map_target_rc {
    TS_SVC_MAP_TARGET_NONE = 0, /**< no mapping names a requested target: config narrows */
    TS_SVC_MAP_TARGET_MAPPED,   /**< *out is the mapping (borrowed from the set) */
    TS_SVC_MAP_TARGET_CONFLICT  /**< a mapped target requested together with another target */
} ts_svc_map_target_rc;

/**
 * The resource mapping for the request's @p resource (checked first) or @p audience (each
 * NULL or "" when not requested). A mapped target must be the only target requested: with the
 * other parameter present as well the answer is TS_SVC_MAP_TARGET_CONFLICT (invalid_target),
 * because one issued `aud` cannot honour both.
 */
ts_svc_map_target_rc ts_svc_map_target(const ts_svc_map_set *m, const char *resource,
                                       const char *audience, const json_t **out);

/** Whether the token service sets or carries claim @p name itself (a mapping never may). */
bool ts_svc_map_claim_reserved(const char *name);

/**
 * Add the mappings' claims to @p claims (the object of extra claims of the token being issued,
 * already holding what the exchange carries): first those of @p target (may be NULL), then
 * those of the scope mapping of each of @p scopes in their order. The first value of a name
 * wins; a reserved name (ts_svc_map_claim_reserved) or one @p claims already holds is skipped.
 * @p applied receives what was used, for the log and the audit record: "resource_mapping"
 * (name), "scope_mappings" (scopes whose mapping applied), "claims" (names added) and
 * "claims_skipped" (names refused), each list at most 8 entries long.
 * @return TS_OK or TS_ENOMEM.
 */
ts_status ts_svc_map_claims(const ts_svc_map_set *m, const json_t *target, char *const *scopes,
                            size_t n_scopes, json_t *claims, json_t *applied, ts_error *err);

#endif
