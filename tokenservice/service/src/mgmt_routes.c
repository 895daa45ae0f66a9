/* The management API's operations on the token mappings (docs/mappings.md):
 *   GET    /api/v1/mappings/{kind}?limit=&after=   list, by name, with a `next` link
 *   POST   /api/v1/mappings/{kind}                 create (409 when the name exists)
 *   GET    /api/v1/mappings/{kind}/{name}          one item, with its ETag
 *   PUT    /api/v1/mappings/{kind}/{name}          replace (If-Match required)
 *   DELETE /api/v1/mappings/{kind}/{name}          delete (If-Match required)
 * Every read goes to the store, so any replica answers with the latest version. A write reads
 * the document, checks the precondition (If-Match against the item's current ETag), changes it
 * and writes it back with the store's compare-and-set: when another writer came first the
 * write starts again from the new document, so that a concurrent edit of the same item is
 * refused with 412 and never lost silently. */
#define _GNU_SOURCE

#include "mappings.h"
#include "mappings_cache.h"
#include "mgmt.h"
#include "svc_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PREFIX "/api/v1/mappings/"
#define LIST_DEFAULT 100
#define LIST_MAX 500

typedef struct ctx {
    ts_svc *s;
    struct MHD_Connection *conn;
    const char *method;
    const char *path;
    const ts_svc_mgmt_caller *who;
} ctx;

/* ---- answers ---------------------------------------------------------------------------- */

static enum MHD_Result send_text(ctx *c, unsigned status, const char *body, const char *etag,
                                 const char *location)
{
    size_t len = body ? strlen(body) : 0;
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, (void *)(uintptr_t)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    if (len)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (etag) {
        char q[TS_SVC_MAP_ETAG_LEN + 3];
        snprintf(q, sizeof q, "\"%s\"", etag);
        MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, q);
    }
    if (location)
        MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, location);
    enum MHD_Result ret = MHD_queue_response(c->conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_doc(ctx *c, unsigned status, json_t *doc, const char *etag,
                                const char *location)
{
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(doc);
    if (!text)
        return MHD_NO;
    enum MHD_Result ret = send_text(c, status, text, etag, location);
    free(text);
    return ret;
}

/* {"error": code, "error_description": desc, "field": field}: the admin API's errors, with the
 * field a refused body got wrong. */
static enum MHD_Result fail(ctx *c, unsigned status, const char *code, const char *field,
                            const char *desc)
{
    json_t *d = json_object();
    json_object_set_new(d, "error", json_string(code));
    json_object_set_new(d, "error_description", json_string(desc));
    if (field && field[0])
        json_object_set_new(d, "field", json_string(field));
    return send_doc(c, status, d, NULL, NULL);
}

static enum MHD_Result fail_err(ctx *c, const ts_error *e)
{
    unsigned status = e->code == TS_ELIMIT ? 413 : e->code == TS_ENOMEM ? 500 : 400;
    return fail(c, status,
                status == 400   ? "invalid_request"
                : status == 413 ? "too_large"
                                : "internal",
                e->where, e->msg);
}

static enum MHD_Result store_fail(ctx *c, const ts_error *e)
{
    json_t *f = json_object();
    json_object_set_new(f, "error", json_string(e->msg));
    ts_svc__log_event(c->s, "error", "management: store failure", f);
    return fail(c, e->code == TS_EIO ? 503 : 500, "store_unavailable", NULL,
                "the token store failed; retry later");
}

/* ---- the stored document ---------------------------------------------------------------- */

/* The current document (checked, canonical) and its version; a new empty one at version 0. */
static ts_status load_doc(ts_svc *s, json_t **doc, int64_t *version, ts_error *err)
{
    char *text = NULL;
    size_t len = 0;
    ts_store_mappings_meta meta;
    ts_status st = ts_store_mappings_get(s->store, 0, &text, &len, &meta, err);
    if (st != TS_OK)
        return st;
    *version = meta.version;
    if (!text) {
        *doc = ts_svc_map_doc_new();
        return *doc ? TS_OK : ts_error_set(err, TS_ENOMEM, "mappings", "out of memory");
    }
    *doc = ts_svc_map_parse(text, len, TS_SVC_MAP_DOC_MAX, "stored mappings", err);
    ts_free(text);
    if (!*doc)
        return err ? err->code : TS_EINVAL;
    st = ts_svc_map_doc_check(*doc, err);
    if (st != TS_OK) {
        json_decref(*doc);
        *doc = NULL;
    }
    return st;
}

/* The current document, its version and its items of kind @p k (borrowed from the document):
 * true, or false with the answer to a store failure queued into @p *ret. */
static bool load_items(ctx *c, ts_svc_map_kind k, json_t **doc, int64_t *version, json_t **items,
                       enum MHD_Result *ret)
{
    ts_error e;
    ts_error_clear(&e);
    *doc = NULL;
    *version = 0;
    ts_status st = load_doc(c->s, doc, version, &e);
    if (st != TS_OK) {
        *ret = st == TS_EIO ? store_fail(c, &e) : fail(c, 500, "internal", e.where, e.msg);
        return false;
    }
    *items = ts_svc_map_doc_items(*doc, k);
    return true;
}

/* The audit detail: kind, name, operation, the new ETag and the item's previous value (claims
 * are not secrets), bounded: a previous value that would not fit is left out and said so. */
static char *audit_detail(ts_svc_map_kind k, const char *name, const char *op, const char *etag,
                          const json_t *prev, bool with_prev)
{
    json_t *d = json_object();
    json_object_set_new(d, "kind", json_string(ts_svc_map_kind_name(k)));
    json_object_set_new(d, "name", json_string(name));
    json_object_set_new(d, "op", json_string(op));
    json_object_set_new(d, "etag", etag ? json_string(etag) : json_null());
    if (prev && with_prev)
        json_object_set(d, "previous", (json_t *)(uintptr_t)prev);
    char *t = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
    if (t && strlen(t) > TS_STORE_MAX_DETAIL_LEN - 64) {
        free(t);
        json_object_del(d, "previous");
        json_object_set_new(d, "previous_omitted", json_true());
        t = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
    }
    json_decref(d);
    return t;
}

/* ---- preconditions ---------------------------------------------------------------------- */

/* The If-Match ETag, without quotes (a weak W/ prefix never matches: ETags here are strong). */
static bool if_match(ctx *c, char *out, size_t cap)
{
    const char *v = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "If-Match");
    if (!v || !*v)
        return false;
    size_t n = strlen(v);
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        v++;
        n -= 2;
    }
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), v);
    return true;
}

/* ---- one write -------------------------------------------------------------------------- */

typedef enum op { OP_CREATE, OP_REPLACE, OP_DELETE } op;

static enum MHD_Result write_item(ctx *c, ts_svc_map_kind k, const char *name, json_t *item, op o,
                                  const char *want_etag)
{
    static const char *const OPS[] = {"create", "replace", "delete"};
    const char *actor = c->who->actor;
    char etag[TS_SVC_MAP_ETAG_LEN + 1] = "";
    if (item && !ts_svc_map_etag(item, etag))
        return fail(c, 500, "internal", NULL, "out of memory");
    for (int attempt = 0; attempt < TS_SVC_MGMT_WRITE_TRIES; attempt++) {
        ts_error e;
        ts_error_clear(&e);
        json_t *doc = NULL, *items = NULL;
        int64_t version = 0;
        enum MHD_Result ret = MHD_NO;
        if (!load_items(c, k, &doc, &version, &items, &ret))
            return ret;
        long at = ts_svc_map_doc_find(doc, k, name);
        json_t *prev = at >= 0 ? json_incref(json_array_get(items, (size_t)at)) : NULL;
        char prev_etag[TS_SVC_MAP_ETAG_LEN + 1] = "";
        if (prev && !ts_svc_map_etag(prev, prev_etag))
            prev_etag[0] = '\0';
        enum MHD_Result early = MHD_YES;
        bool answered = false;
        if (o == OP_CREATE && prev) {
            early = fail(c, 409, "conflict", ts_svc_map_key_member(k),
                         "an item of this name exists: replace it with PUT and If-Match");
            answered = true;
        } else if (o != OP_CREATE && !prev) {
            early = fail(c, 404, "not_found", NULL, "no item of this name");
            answered = true;
        } else if (o != OP_CREATE && strcmp(prev_etag, want_etag) != 0) {
            early = fail(c, 412, "precondition_failed", "If-Match",
                         "the item changed since that ETag was read: GET it again");
            answered = true;
        }
        if (answered) {
            json_decref(prev);
            json_decref(doc);
            return early;
        }
        int bad = 0;
        if (o == OP_CREATE)
            bad = json_array_append(items, item);
        else if (o == OP_REPLACE)
            bad = json_array_set(items, (size_t)at, item);
        else
            bad = json_array_remove(items, (size_t)at);
        char *text = NULL;
        if (!bad) {
            if (json_array_size(items) > TS_SVC_MAP_ITEMS_MAX) {
                json_decref(prev);
                json_decref(doc);
                return fail(c, 400, "invalid_request", ts_svc_map_kind_name(k),
                            "no more items of this kind can be added");
            }
            bad = ts_svc_map_doc_check(doc, &e) != TS_OK;
            text = bad ? NULL : ts_svc_map_dump(doc);
        }
        json_decref(doc);
        if (bad || !text) {
            json_decref(prev);
            free(text);
            return fail(c, 500, "internal", NULL, "the document could not be built");
        }
        if (strlen(text) > TS_SVC_MAP_DOC_MAX) {
            json_decref(prev);
            free(text);
            return fail(c, 413, "too_large", "mappings",
                        "the mappings document would be larger "
                        "than 1 MiB");
        }
        int64_t now = (int64_t)time(NULL), nv = 0;
        char *detail = audit_detail(k, name, OPS[o], item ? etag : NULL, prev, true);
        ts_status st = ts_store_mappings_put(c->s->store, text, strlen(text), version, now, actor,
                                             detail, &nv, &e);
        if (st == TS_EINVAL && strcmp(e.where, "detail") == 0) {
            /* The previous value looked like a token to the audit check: record without it. */
            free(detail);
            detail = audit_detail(k, name, OPS[o], item ? etag : NULL, prev, false);
            ts_error_clear(&e);
            st = ts_store_mappings_put(c->s->store, text, strlen(text), version, now, actor, detail,
                                       &nv, &e);
        }
        free(detail);
        free(text);
        json_decref(prev);
        if (st == TS_ECYCLE)
            continue; /* another writer came first: again, from its document */
        if (st != TS_OK)
            return st == TS_EIO ? store_fail(c, &e) : fail(c, 500, "internal", e.where, e.msg);
        json_t *f = json_object();
        json_object_set_new(f, "kind", json_string(ts_svc_map_kind_name(k)));
        json_object_set_new(f, "name", json_string(name));
        json_object_set_new(f, "op", json_string(OPS[o]));
        json_object_set_new(f, "by", json_string(actor));
        json_object_set_new(f, "subject_kind", json_string(c->who->kind));
        json_object_set_new(f, "version", json_integer((json_int_t)nv));
        ts_svc__log_event(c->s, "info", "mappings changed", f);
        ts_svc__maps_changed(c->s); /* this replica's next exchange applies it at once */
        if (o == OP_DELETE)
            return send_text(c, 204, NULL, NULL, NULL);
        char loc[512];
        snprintf(loc, sizeof loc, PREFIX "%s/%s", ts_svc_map_kind_name(k), name);
        return send_doc(c, o == OP_CREATE ? 201 : 200, json_incref(item), etag,
                        o == OP_CREATE ? loc : NULL);
    }
    return fail(c, 503, "busy", NULL, "the mappings changed too often meanwhile; retry");
}

/* ---- the routes ------------------------------------------------------------------------- */

static enum MHD_Result list(ctx *c, ts_svc_map_kind k)
{
    const char *lim = MHD_lookup_connection_value(c->conn, MHD_GET_ARGUMENT_KIND, "limit");
    const char *after = MHD_lookup_connection_value(c->conn, MHD_GET_ARGUMENT_KIND, "after");
    long limit = LIST_DEFAULT;
    if (lim) {
        char *end = NULL;
        limit = strtol(lim, &end, 10);
        if (!*lim || *end || limit < 1 || limit > LIST_MAX)
            return fail(c, 400, "invalid_request", "limit", "limit must be 1..500");
    }
    json_t *doc = NULL, *items = NULL;
    int64_t version = 0;
    enum MHD_Result ret = MHD_NO;
    if (!load_items(c, k, &doc, &version, &items, &ret))
        return ret;
    json_t *page = json_array(), *etags = json_object();
    const char *key = ts_svc_map_key_member(k), *last = NULL;
    bool more = false;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *n = json_string_value(json_object_get(it, key));
        if (after && strcmp(n, after) <= 0)
            continue; /* the items are sorted by name: a cursor is a name */
        if ((long)json_array_size(page) == limit) {
            more = true;
            break;
        }
        char tag[TS_SVC_MAP_ETAG_LEN + 1];
        if (ts_svc_map_etag(it, tag))
            json_object_set_new(etags, n, json_string(tag));
        json_array_append(page, it);
        last = n;
    }
    json_t *out = json_object();
    json_object_set_new(out, "kind", json_string(ts_svc_map_kind_name(k)));
    json_object_set_new(out, "version", json_integer((json_int_t)version));
    json_object_set_new(out, "items", page);
    json_object_set_new(out, "etags", etags);
    if (more && last) {
        char *q = NULL;
        /* The name is a URL query value: every character outside [A-Za-z0-9._-] escaped. */
        size_t n = strlen(last);
        q = malloc(n * 3 + 1);
        if (q) {
            char *p = q;
            for (size_t j = 0; j < n; j++) {
                unsigned char ch = (unsigned char)last[j];
                if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                    (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-')
                    *p++ = (char)ch;
                else
                    p += sprintf(p, "%%%02X", ch);
            }
            *p = '\0';
            char next[1024];
            snprintf(next, sizeof next, PREFIX "%s?limit=%ld&after=%s", ts_svc_map_kind_name(k),
                     limit, q);
            json_object_set_new(out, "next", json_string(next));
            free(q);
        }
    } else {
        json_object_set_new(out, "next", json_null());
    }
    json_decref(doc);
    return send_doc(c, 200, out, NULL, NULL);
}

static enum MHD_Result get_item(ctx *c, ts_svc_map_kind k, const char *name)
{
    json_t *doc = NULL, *items = NULL;
    int64_t version = 0;
    enum MHD_Result ret = MHD_NO;
    if (!load_items(c, k, &doc, &version, &items, &ret))
        return ret;
    long at = ts_svc_map_doc_find(doc, k, name);
    if (at < 0) {
        json_decref(doc);
        return fail(c, 404, "not_found", NULL, "no item of this name");
    }
    json_t *item = json_incref(json_array_get(items, (size_t)at));
    json_decref(doc);
    char tag[TS_SVC_MAP_ETAG_LEN + 1];
    if (!ts_svc_map_etag(item, tag)) {
        json_decref(item);
        return fail(c, 500, "internal", NULL, "out of memory");
    }
    return send_doc(c, 200, item, tag, NULL);
}

/* The body as a checked item of kind @p k; NULL when an answer was queued into *ret. */
static json_t *read_item(ctx *c, ts_svc_map_kind k, const char *body, size_t len, bool too_big,
                         enum MHD_Result *ret)
{
    ts_error e;
    ts_error_clear(&e);
    if (too_big) {
        *ret = fail(c, 413, "too_large", "body", "the body is larger than 64 KiB");
        return NULL;
    }
    json_t *item = ts_svc_map_parse(body, len, TS_SVC_MAP_ITEM_MAX, "body", &e);
    if (item && ts_svc_map_item_check(k, item, "", &e) != TS_OK) {
        json_decref(item);
        item = NULL;
    }
    if (!item)
        *ret = fail_err(c, &e);
    return item;
}

enum MHD_Result ts_svc__mgmt_route(ts_svc *s, struct MHD_Connection *conn, const char *method,
                                   const char *url, const char *body, size_t len, bool too_big,
                                   const ts_svc_mgmt_caller *who)
{
    ctx c = {s, conn, method, url, who};
    if (strncmp(url, PREFIX, strlen(PREFIX)) != 0)
        return fail(&c, 404, "not_found", NULL, "no such resource");
    const char *rest = url + strlen(PREFIX);
    const char *slash = strchr(rest, '/');
    ts_svc_map_kind k;
    if (!ts_svc_map_kind_parse(rest, slash ? (size_t)(slash - rest) : strlen(rest), &k))
        return fail(&c, 404, "not_found", "kind",
                    "the kinds are identity_rules, resource_mappings and scope_mappings");
    bool get = strcmp(method, "GET") == 0;
    if (!slash || !slash[1]) {
        if (get)
            return list(&c, k);
        if (strcmp(method, "POST") != 0)
            return fail(&c, 405, "method_not_allowed", NULL, "GET or POST");
        enum MHD_Result ret = MHD_NO;
        json_t *item = read_item(&c, k, body, len, too_big, &ret);
        if (!item)
            return ret;
        char name[TS_SVC_MAP_NAME_MAX * 2 + 1];
        snprintf(name, sizeof name, "%s",
                 json_string_value(json_object_get(item, ts_svc_map_key_member(k))));
        ret = write_item(&c, k, name, item, OP_CREATE, "");
        json_decref(item);
        return ret;
    }
    const char *name = slash + 1;
    if (strlen(name) > 256 || strchr(name, '/'))
        return fail(&c, 404, "not_found", NULL, "no item of this name");
    if (get)
        return get_item(&c, k, name);
    bool put = strcmp(method, "PUT") == 0, del = strcmp(method, "DELETE") == 0;
    if (!put && !del)
        return fail(&c, 405, "method_not_allowed", NULL, "GET, PUT or DELETE");
    char want[TS_SVC_MAP_ETAG_LEN * 4];
    if (!if_match(&c, want, sizeof want))
        return fail(&c, 428, "precondition_required", "If-Match",
                    "If-Match with the item's ETag is required (GET the item first)");
    if (del)
        return write_item(&c, k, name, NULL, OP_DELETE, want);
    enum MHD_Result ret = MHD_NO;
    json_t *item = read_item(&c, k, body, len, too_big, &ret);
    if (!item)
        return ret;
    const char *in_body = json_string_value(json_object_get(item, ts_svc_map_key_member(k)));
    if (!in_body || strcmp(in_body, name) != 0)
        ret = fail(&c, 400, "invalid_request", ts_svc_map_key_member(k),
                   "the body names another item than the URL (renaming is delete and create)");
    else
        ret = write_item(&c, k, name, item, OP_REPLACE, want);
    json_decref(item);
    return ret;
}
