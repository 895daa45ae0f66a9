/* The versioned shared documents, front end: argument bounds and the copy handed to the caller.
 * The token service's replicas keep two JSON documents here (docs/store.md, "Shared provider
 * configuration" and "Token mappings"); every change is a compare-and-set on the document's
 * version, committed with its audit record. The provider configuration holds client secrets:
 * no document ever reaches an error message, and the front end's copies are wiped before they
 * are freed (the mappings hold none, and are treated the same). */
#define _POSIX_C_SOURCE 200809L
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* One shared document: how it is named, bounded and audited, and its backend functions. */
typedef struct doc_kind {
    const char *field;  /* "oidc_config", "mappings" */
    const char *what;   /* "configuration", "mappings document" */
    const char *put_fn; /* the public functions' names, for messages */
    const char *get_fn;
    unsigned max;           /* bytes */
    const char *audit_type; /* of the change's audit record */
    bool mappings;          /* which pair of backend functions */
} doc_kind;

static const doc_kind OIDC = {"oidc_config",
                              "configuration",
                              "ts_store_oidc_config_put",
                              "ts_store_oidc_config_get",
                              TS_STORE_OIDC_CONFIG_MAX,
                              "oidc_config_changed",
                              false};
static const doc_kind MAPPINGS = {"mappings",
                                  "mappings document",
                                  "ts_store_mappings_put",
                                  "ts_store_mappings_get",
                                  TS_STORE_MAPPINGS_MAX,
                                  "mappings_changed",
                                  true};

typedef ts_status (*put_fn)(void *impl, const ts_store_oidc_config_put_args *a,
                            int64_t *new_version, ts_error *err);
typedef ts_status (*get_fn)(void *impl, int64_t have_version, ts_store_oidc_config_fn fn, void *ud,
                            ts_error *err);

/* The backend's pair for @p k, or NULL (an older backend table) with TS_EUNSUPPORTED set. */
static bool doc_ops(ts_store *s, const doc_kind *k, const char *where, put_fn *put, get_fn *get,
                    ts_error *err)
{
    const ts_store_backend_ops *ops = ts_store__ops(s);
    *put = k->mappings ? ops->mappings_put : ops->oidc_config_put;
    *get = k->mappings ? ops->mappings_get : ops->oidc_config_get;
    if (*put && *get)
        return true;
    if (k->mappings)
        ts_error_set(err, TS_EUNSUPPORTED, where, "the %s backend does not store token mappings",
                     ops->name);
    else
        ts_error_set(err, TS_EUNSUPPORTED, where,
                     "the %s backend does not store a provider configuration", ops->name);
    return false;
}

/* A JSON object of bounded size without NUL bytes; the backend's column checks the rest (the
 * store links no JSON library). */
static ts_status check_document(const doc_kind *k, const char *json, size_t len, ts_error *err)
{
    if (!json || len == 0 || len > k->max)
        return ts_error_set(err, TS_EINVAL, k->field, "the %s must be 1..%u bytes of JSON", k->what,
                            k->max);
    if (memchr(json, '\0', len))
        return ts_error_set(err, TS_EINVAL, k->field, "the %s contains a NUL byte", k->what);
    size_t i = 0;
    while (i < len && (json[i] == ' ' || json[i] == '\t' || json[i] == '\n' || json[i] == '\r'))
        i++;
    if (i == len || json[i] != '{')
        return ts_error_set(err, TS_EINVAL, k->field, "the %s must be a JSON object", k->what);
    return TS_OK;
}

static ts_status doc_put(const doc_kind *k, ts_store *s, const char *json, size_t len,
                         int64_t expected_version, int64_t now, const char *actor,
                         const char *audit_detail, int64_t *new_version, ts_error *err)
{
    if (new_version)
        *new_version = 0;
    if (!s)
        return ts_error_set(err, TS_EINVAL, k->put_fn, "store is NULL");
    put_fn put;
    get_fn get;
    if (!doc_ops(s, k, k->put_fn, &put, &get, err))
        return TS_EUNSUPPORTED;
    ts_status st = check_document(k, json, len, err);
    if (st != TS_OK)
        return st;
    if (expected_version < 0 || expected_version == INT64_MAX)
        return ts_error_set(err, TS_EINVAL, "expected_version",
                            "expected_version must be 0 (none stored) or a stored version");
    if (!actor || !actor[0] || strlen(actor) > TS_STORE_OIDC_ACTOR_MAX)
        return ts_error_set(err, TS_EINVAL, "actor", "actor must be 1..%d bytes",
                            TS_STORE_OIDC_ACTOR_MAX);
    /* The audit record as the backend will write it: the same checks as any other. */
    ts_store_audit_entry ae = {0, now, k->audit_type, NULL, NULL, NULL, actor, audit_detail};
    st = ts_store__check_audit_entry(&ae, err);
    if (st != TS_OK)
        return st;
    /* The backend needs a NUL-terminated document; the caller's may not be. */
    char *copy = malloc(len + 1);
    if (!copy)
        return ts_error_set(err, TS_ENOMEM, k->put_fn, "out of memory");
    memcpy(copy, json, len);
    copy[len] = '\0';
    ts_store_oidc_config_put_args a = {copy, len, expected_version, now, actor, audit_detail};
    int64_t v = 0;
    st = put(ts_store__impl(s), &a, &v, err);
    OPENSSL_cleanse(copy, len);
    free(copy);
    if (st == TS_OK && new_version)
        *new_version = v;
    return st;
}

typedef struct got {
    const doc_kind *k;
    int64_t have;
    ts_store_oidc_config_meta meta;
    char *json;
    size_t len;
} got;

static ts_status take(const ts_store_oidc_config_meta *meta, const char *json, size_t len, void *ud,
                      ts_error *err)
{
    got *g = ud;
    g->meta = *meta;
    /* The callback may run again when the backend retries its transaction. */
    if (g->json) {
        OPENSSL_cleanse(g->json, g->len);
        free(g->json);
        g->json = NULL;
        g->len = 0;
    }
    if (!json || meta->version <= g->have)
        return TS_OK;
    if (len > g->k->max)
        return ts_error_set(err, TS_ELIMIT, g->k->field, "the stored %s is larger than %u bytes",
                            g->k->what, g->k->max);
    g->json = malloc(len + 1);
    if (!g->json)
        return ts_error_set(err, TS_ENOMEM, g->k->get_fn, "out of memory");
    memcpy(g->json, json, len);
    g->json[len] = '\0';
    g->len = len;
    return TS_OK;
}

static ts_status doc_get(const doc_kind *k, ts_store *s, int64_t have_version, char **json,
                         size_t *len, ts_store_oidc_config_meta *meta, ts_error *err)
{
    if (json)
        *json = NULL;
    if (len)
        *len = 0;
    if (meta)
        memset(meta, 0, sizeof *meta);
    if (!s || !json || !len)
        return ts_error_set(err, TS_EINVAL, k->get_fn, "store, json or len is NULL");
    put_fn put;
    get_fn get;
    if (!doc_ops(s, k, k->get_fn, &put, &get, err))
        return TS_EUNSUPPORTED;
    if (have_version < 0)
        return ts_error_set(err, TS_EINVAL, "have_version", "have_version must be >= 0");
    got g;
    memset(&g, 0, sizeof g);
    g.k = k;
    g.have = have_version;
    ts_status st = get(ts_store__impl(s), have_version, take, &g, err);
    if (st != TS_OK) {
        if (g.json)
            OPENSSL_cleanse(g.json, g.len);
        free(g.json);
        return st;
    }
    *json = g.json;
    *len = g.len;
    if (meta)
        *meta = g.meta;
    return TS_OK;
}

ts_status ts_store_oidc_config_put(ts_store *s, const char *json, size_t len,
                                   int64_t expected_version, int64_t now, const char *actor,
                                   const char *audit_detail, int64_t *new_version, ts_error *err)
{
    return doc_put(&OIDC, s, json, len, expected_version, now, actor, audit_detail, new_version,
                   err);
}

ts_status ts_store_oidc_config_get(ts_store *s, int64_t have_version, char **json, size_t *len,
                                   ts_store_oidc_config_meta *meta, ts_error *err)
{
    return doc_get(&OIDC, s, have_version, json, len, meta, err);
}

ts_status ts_store_mappings_put(ts_store *s, const char *json, size_t len, int64_t expected_version,
                                int64_t now, const char *actor, const char *audit_detail,
                                int64_t *new_version, ts_error *err)
{
    return doc_put(&MAPPINGS, s, json, len, expected_version, now, actor, audit_detail, new_version,
                   err);
}

ts_status ts_store_mappings_get(ts_store *s, int64_t have_version, char **json, size_t *len,
                                ts_store_mappings_meta *meta, ts_error *err)
{
    return doc_get(&MAPPINGS, s, have_version, json, len, meta, err);
}
