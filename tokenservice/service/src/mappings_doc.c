/* The token mappings document as a whole (mappings.h): every kind checked, names unique, each
 * kind sorted by name so that the stored text is canonical, and the identity rules' evaluation
 * order (ascending priority, then name; first match wins). */
#include "mappings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *ts_svc_map_doc_new(void)
{
    json_t *doc = json_object();
    for (unsigned k = 0; doc && k < TS_SVC_MAP_KINDS; k++)
        if (json_object_set_new(doc, ts_svc_map_kind_name((ts_svc_map_kind)k), json_array()) != 0) {
            json_decref(doc);
            doc = NULL;
        }
    return doc;
}

json_t *ts_svc_map_doc_items(const json_t *doc, ts_svc_map_kind k)
{
    return json_object_get(doc, ts_svc_map_kind_name(k));
}

static const char *item_name(ts_svc_map_kind k, const json_t *item)
{
    const char *s = json_string_value(json_object_get(item, ts_svc_map_key_member(k)));
    return s ? s : "";
}

long ts_svc_map_doc_find(const json_t *doc, ts_svc_map_kind k, const char *name)
{
    const json_t *a = ts_svc_map_doc_items(doc, k);
    for (size_t i = 0; name && i < json_array_size(a); i++)
        if (strcmp(item_name(k, json_array_get(a, i)), name) == 0)
            return (long)i;
    return -1;
}

/* Items paired with their sort keys, so that qsort needs no context. */
typedef struct keyed {
    json_int_t priority; /* 0 unless sorting identity rules by evaluation order */
    const char *name;
    json_t *item;
} keyed;

static int by_key(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->priority != y->priority)
        return x->priority < y->priority ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* A new array of @p a's items (increfed) sorted by name, or by priority then name. */
static json_t *sorted(const json_t *a, ts_svc_map_kind k, bool by_priority)
{
    size_t n = json_array_size(a);
    keyed *v = calloc(n ? n : 1, sizeof *v);
    json_t *out = json_array();
    if (!v || !out) {
        free(v);
        json_decref(out);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        v[i].item = json_array_get(a, i);
        v[i].name = item_name(k, v[i].item);
        v[i].priority =
            by_priority ? json_integer_value(json_object_get(v[i].item, "priority")) : 0;
    }
    qsort(v, n, sizeof *v, by_key);
    for (size_t i = 0; i < n; i++)
        if (json_array_append(out, v[i].item) != 0) {
            json_decref(out);
            out = NULL;
            break;
        }
    free(v);
    return out;
}

ts_status ts_svc_map_doc_check(json_t *doc, ts_error *err)
{
    if (!json_is_object(doc))
        return ts_error_set(err, TS_EINVAL, "mappings", "the mappings document must be an object");
    const char *key;
    json_t *val;
    json_object_foreach(doc, key, val)
    {
        ts_svc_map_kind k;
        if (!ts_svc_map_kind_parse(key, strlen(key), &k))
            return ts_error_set(err, TS_EINVAL, "mappings",
                                "%.80s: not a kind of mapping (identity_rules, "
                                "resource_mappings, scope_mappings)",
                                key);
    }
    for (unsigned u = 0; u < TS_SVC_MAP_KINDS; u++) {
        ts_svc_map_kind k = (ts_svc_map_kind)u;
        const char *kname = ts_svc_map_kind_name(k);
        json_t *a = json_object_get(doc, kname);
        if (!a) {
            if (json_object_set_new(doc, kname, json_array()) != 0)
                return ts_error_set(err, TS_ENOMEM, kname, "out of memory");
            continue;
        }
        if (!json_is_array(a))
            return ts_error_set(err, TS_EINVAL, kname, "%s: must be an array", kname);
        if (json_array_size(a) > TS_SVC_MAP_ITEMS_MAX)
            return ts_error_set(err, TS_EINVAL, kname, "%s: holds more than %u items", kname,
                                TS_SVC_MAP_ITEMS_MAX);
        for (size_t i = 0; i < json_array_size(a); i++) {
            char path[64];
            snprintf(path, sizeof path, "%s[%zu]", kname, i);
            ts_status st = ts_svc_map_item_check(k, json_array_get(a, i), path, err);
            if (st != TS_OK)
                return st;
        }
        json_t *s = sorted(a, k, false);
        if (!s)
            return ts_error_set(err, TS_ENOMEM, kname, "out of memory");
        for (size_t i = 1; i < json_array_size(s); i++)
            if (strcmp(item_name(k, json_array_get(s, i - 1)),
                       item_name(k, json_array_get(s, i))) == 0) {
                char f[160];
                snprintf(f, sizeof f, "%s.%s", kname, ts_svc_map_key_member(k));
                ts_status st = ts_error_set(err, TS_EINVAL, f, "%s: \"%s\" is used twice", f,
                                            item_name(k, json_array_get(s, i)));
                json_decref(s);
                return st;
            }
        if (json_object_set_new(doc, kname, s) != 0)
            return ts_error_set(err, TS_ENOMEM, kname, "out of memory");
    }
    return TS_OK;
}

json_t *ts_svc_map_rules_in_order(const json_t *doc)
{
    return sorted(ts_svc_map_doc_items(doc, TS_SVC_MAP_IDENTITY), TS_SVC_MAP_IDENTITY, true);
}
