/* The shared upstream provider configuration, front end: argument bounds and the copy handed to
 * the caller. The token service's replicas keep one JSON document here (docs/store.md, "Shared
 * provider configuration"); every change is a compare-and-set on its version, committed with its
 * audit record. The document holds client secrets: it never reaches an error message, and the
 * front end's copies are wiped before they are freed. */
#define _POSIX_C_SOURCE 200809L
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

static const ts_store_backend_ops *config_ops(ts_store *s, const char *where, ts_error *err)
{
    const ts_store_backend_ops *ops = ts_store__ops(s);
    if (!ops->oidc_config_put || !ops->oidc_config_get) {
        ts_error_set(err, TS_EUNSUPPORTED, where,
                     "the %s backend does not store a provider configuration", ops->name);
        return NULL;
    }
    return ops;
}

/* A JSON object of bounded size without NUL bytes; the backend's column checks the rest (the
 * store links no JSON library). */
static ts_status check_document(const char *json, size_t len, ts_error *err)
{
    if (!json || len == 0 || len > TS_STORE_OIDC_CONFIG_MAX)
        return ts_error_set(err, TS_EINVAL, "oidc_config",
                            "the configuration must be 1..%u bytes of JSON",
                            TS_STORE_OIDC_CONFIG_MAX);
    if (memchr(json, '\0', len))
        return ts_error_set(err, TS_EINVAL, "oidc_config", "the configuration contains a NUL byte");
    size_t i = 0;
    while (i < len && (json[i] == ' ' || json[i] == '\t' || json[i] == '\n' || json[i] == '\r'))
        i++;
    if (i == len || json[i] != '{')
        return ts_error_set(err, TS_EINVAL, "oidc_config",
                            "the configuration must be a JSON object");
    return TS_OK;
}

ts_status ts_store_oidc_config_put(ts_store *s, const char *json, size_t len,
                                   int64_t expected_version, int64_t now, const char *actor,
                                   const char *audit_detail, int64_t *new_version, ts_error *err)
{
    if (new_version)
        *new_version = 0;
    if (!s)
        return ts_error_set(err, TS_EINVAL, "ts_store_oidc_config_put", "store is NULL");
    const ts_store_backend_ops *ops = config_ops(s, "ts_store_oidc_config_put", err);
    if (!ops)
        return TS_EUNSUPPORTED;
    ts_status st = check_document(json, len, err);
    if (st != TS_OK)
        return st;
    if (expected_version < 0 || expected_version == INT64_MAX)
        return ts_error_set(err, TS_EINVAL, "expected_version",
                            "expected_version must be 0 (none stored) or a stored version");
    if (!actor || !actor[0] || strlen(actor) > TS_STORE_OIDC_ACTOR_MAX)
        return ts_error_set(err, TS_EINVAL, "actor", "actor must be 1..%d bytes",
                            TS_STORE_OIDC_ACTOR_MAX);
    /* The audit record as the backend will write it: the same checks as any other. */
    ts_store_audit_entry ae = {0,    now,   "oidc_config_changed", NULL, NULL,
                               NULL, actor, audit_detail};
    st = ts_store__check_audit_entry(&ae, err);
    if (st != TS_OK)
        return st;
    /* The backend needs a NUL-terminated document; the caller's may not be. */
    char *copy = malloc(len + 1);
    if (!copy)
        return ts_error_set(err, TS_ENOMEM, "ts_store_oidc_config_put", "out of memory");
    memcpy(copy, json, len);
    copy[len] = '\0';
    ts_store_oidc_config_put_args a = {copy, len, expected_version, now, actor, audit_detail};
    int64_t v = 0;
    st = ops->oidc_config_put(ts_store__impl(s), &a, &v, err);
    OPENSSL_cleanse(copy, len);
    free(copy);
    if (st == TS_OK && new_version)
        *new_version = v;
    return st;
}

typedef struct got {
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
    if (len > TS_STORE_OIDC_CONFIG_MAX)
        return ts_error_set(err, TS_ELIMIT, "oidc_config",
                            "the stored configuration is larger than %u bytes",
                            TS_STORE_OIDC_CONFIG_MAX);
    g->json = malloc(len + 1);
    if (!g->json)
        return ts_error_set(err, TS_ENOMEM, "ts_store_oidc_config_get", "out of memory");
    memcpy(g->json, json, len);
    g->json[len] = '\0';
    g->len = len;
    return TS_OK;
}

ts_status ts_store_oidc_config_get(ts_store *s, int64_t have_version, char **json, size_t *len,
                                   ts_store_oidc_config_meta *meta, ts_error *err)
{
    if (json)
        *json = NULL;
    if (len)
        *len = 0;
    if (meta)
        memset(meta, 0, sizeof *meta);
    if (!s || !json || !len)
        return ts_error_set(err, TS_EINVAL, "ts_store_oidc_config_get",
                            "store, json or len is NULL");
    const ts_store_backend_ops *ops = config_ops(s, "ts_store_oidc_config_get", err);
    if (!ops)
        return TS_EUNSUPPORTED;
    if (have_version < 0)
        return ts_error_set(err, TS_EINVAL, "have_version", "have_version must be >= 0");
    got g;
    memset(&g, 0, sizeof g);
    g.have = have_version;
    ts_status st = ops->oidc_config_get(ts_store__impl(s), have_version, take, &g, err);
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
