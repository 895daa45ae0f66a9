/* The token mappings model (docs/mappings.md): identity rules, resource mappings and scope
 * mappings, as one JSON document the store keeps versioned (ts_store_mappings_put/get). This is
 * the one strict reader and checker of that model, for the management API, the replicas' poll
 * and the fuzzer: bounded input, duplicate keys refused, every error naming the field
 * ("identity_rules[2].namespace"). Items are kept in a canonical order, so that a document
 * written twice is byte for byte the same and an item's ETag depends only on its content. */
#ifndef TS_SVC_MAPPINGS_H
#define TS_SVC_MAPPINGS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include <tokensmith/error.h>

/** The three kinds of item, in the document's order. */
typedef enum ts_svc_map_kind {
    TS_SVC_MAP_IDENTITY = 0, /**< "identity_rules", named by "name" */
    TS_SVC_MAP_RESOURCE,     /**< "resource_mappings", named by "name" */
    TS_SVC_MAP_SCOPE,        /**< "scope_mappings", named by "scope" */
    TS_SVC_MAP_KINDS
} ts_svc_map_kind;

#define TS_SVC_MAP_ITEM_MAX (64u * 1024u)  /**< one item's JSON (bytes), a request body too */
#define TS_SVC_MAP_DOC_MAX (1024u * 1024u) /**< the whole document: TS_STORE_MAPPINGS_MAX */
#define TS_SVC_MAP_DEPTH_MAX 8u            /**< nesting of objects and arrays in any input */
#define TS_SVC_MAP_ITEMS_MAX 1000u         /**< items of one kind */
#define TS_SVC_MAP_NAME_MAX 64u            /**< an item's name: [A-Za-z0-9._-] */
#define TS_SVC_MAP_LIST_MAX 64u            /**< scopes, roles of a rule */
#define TS_SVC_MAP_CLAIMS_MAX 32u          /**< claims of one mapping */
#define TS_SVC_MAP_CLAIM_VALUE_MAX 1024u   /**< one claim's value as compact JSON (bytes) */
#define TS_SVC_MAP_ETAG_LEN 16u            /**< hex characters of SHA-256 of the item */

/** "identity_rules", "resource_mappings", "scope_mappings". */
const char *ts_svc_map_kind_name(ts_svc_map_kind k);

/** The kind named by @p n bytes at @p s; false when none. */
bool ts_svc_map_kind_parse(const char *s, size_t n, ts_svc_map_kind *out);

/** The member that names an item of kind @p k: "name" or "scope". */
const char *ts_svc_map_key_member(ts_svc_map_kind k);

/**
 * Parse @p len bytes of untrusted JSON: at most @p max bytes, nesting at most
 * TS_SVC_MAP_DEPTH_MAX (checked before jansson sees the text), duplicate object keys refused,
 * the top level an object. Errors name @p what (for example "body") and the position.
 * @return a new reference, or NULL with @p err set (TS_EINVAL, TS_ELIMIT, TS_ENOMEM).
 */
json_t *ts_svc_map_parse(const char *text, size_t len, size_t max, const char *what, ts_error *err);

/**
 * Check one item of kind @p k. @p path names it in messages ("identity_rules[2]", or "" for a
 * request body: the fields are then named alone). Unknown members are refused. On success the
 * item may be normalised in place (defaults filled in: priority 0, empty lists and claims), so
 * that equal items have one canonical form.
 */
TS_NODISCARD ts_status ts_svc_map_item_check(ts_svc_map_kind k, json_t *item, const char *path,
                                             ts_error *err);

/**
 * Check a whole document {"identity_rules": [...], "resource_mappings": [...],
 * "scope_mappings": [...]} (a missing kind is empty): every item, unique names per kind, at
 * most TS_SVC_MAP_ITEMS_MAX items per kind. Normalises each item and sorts each kind by name,
 * so that the document is canonical.
 */
TS_NODISCARD ts_status ts_svc_map_doc_check(json_t *doc, ts_error *err);

/** An empty canonical document (a new reference; NULL when out of memory). */
json_t *ts_svc_map_doc_new(void);

/** The array of kind @p k in a checked document (borrowed). */
json_t *ts_svc_map_doc_items(const json_t *doc, ts_svc_map_kind k);

/** Index of the item named @p name in kind @p k's array, or -1. */
long ts_svc_map_doc_find(const json_t *doc, ts_svc_map_kind k, const char *name);

/** The identity rules in evaluation order: ascending "priority", then "name" (a new array of
 *  borrowed-and-increfed items; NULL when out of memory). */
json_t *ts_svc_map_rules_in_order(const json_t *doc);

/**
 * Canonical text of @p v (compact, keys sorted), as the store keeps it and the ETag hashes.
 * @return a string to free with free(), or NULL when out of memory.
 */
char *ts_svc_map_dump(const json_t *v);

/** The ETag of a checked item: the first TS_SVC_MAP_ETAG_LEN hex characters of the SHA-256 of
 *  its canonical text. @return false when out of memory. */
bool ts_svc_map_etag(const json_t *item, char out[TS_SVC_MAP_ETAG_LEN + 1]);

#endif
