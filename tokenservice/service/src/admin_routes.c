/* The admin API (the admin listener only): the upstream provider configuration at run time. */
#define _GNU_SOURCE

#include "svc_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

static json_t *admin_state(ts_svc *s)
{
    oidc_gen *g = ts_svc__gen_acquire(s);
    json_t *o = json_object();
    json_object_set_new(o, "configured", json_boolean(g != NULL));
    json_object_set_new(o, "source", json_string(g ? g->source : "none"));
    json_t *prov = NULL;
    if (g) {
        char *t = ts_oidc_config_to_json(g->cfg, false, NULL);
        json_t *doc = t ? json_loads(t, 0, NULL) : NULL;
        ts_free(t);
        prov = json_incref(json_object_get(doc, "providers"));
        json_decref(doc);
    }
    json_object_set_new(o, "providers", prov ? prov : json_array());
    /* Break-glass minting is an offline CLI operation; the service never mints for users. */
    json_object_set_new(o, "local_user_mint_enabled", json_false());
    ts_svc__gen_release(s, g);
    return o;
}

static enum MHD_Result admin_error(ts_svc *s, struct MHD_Connection *conn, req *rq,
                                   const char *method, const char *path, unsigned status,
                                   const char *code, const char *desc)
{
    json_t *doc = json_object();
    json_object_set_new(doc, "error", json_string(code));
    json_object_set_new(doc, "error_description", json_string(desc));
    json_t *f = json_object();
    json_object_set_new(f, "error", json_string(code));
    return ts_svc__send_json(s, conn, rq, method, path, status, doc, "no-store", f);
}

static bool has_issuer(json_t *providers, const char *iss)
{
    size_t i;
    json_t *p;
    json_array_foreach(providers, i, p)
    {
        const char *v = json_string_value(json_object_get(p, "issuer"));
        if (v && strcmp(v, iss) == 0)
            return true;
    }
    return false;
}

/* POST: {"providers":[...], "dry_run":bool, "replace_existing":bool}. The listed providers are
 * added, or replace the provider with the same issuer; the others stay as they are. */
static enum MHD_Result admin_post(ts_svc *s, struct MHD_Connection *conn, req *rq, const char *path)
{
    if (rq->too_big)
        return admin_error(s, conn, rq, "POST", path, 413, "invalid_request",
                           "Request body too large");
    json_error_t je;
    json_t *body = rq->body ? json_loadb(rq->body, rq->len, JSON_REJECT_DUPLICATES, &je) : NULL;
    json_t *np = json_object_get(body, "providers");
    json_t *dr = json_object_get(body, "dry_run"), *re = json_object_get(body, "replace_existing");
    bool shape_ok = json_is_object(body) && json_is_array(np) && json_array_size(np) > 0 &&
                    (!dr || json_is_boolean(dr)) && (!re || json_is_boolean(re));
    const char *k;
    json_t *v;
    if (shape_ok)
        json_object_foreach(body, k, v)
        {
            if (strcmp(k, "providers") != 0 && strcmp(k, "dry_run") != 0 &&
                strcmp(k, "replace_existing") != 0)
                shape_ok = false;
        }
    if (!shape_ok) {
        json_decref(body);
        return admin_error(s, conn, rq, "POST", path, 400, "invalid_request",
                           "The body must be a JSON object {\"providers\":[...], \"dry_run\": "
                           "bool, \"replace_existing\": bool} with at least one provider");
    }
    bool dry = json_is_true(dr), replace = json_is_true(re);
    pthread_mutex_lock(&s->admin_mu);
    /* The current providers, secrets included: they are written back to the state file. */
    oidc_gen *cur = ts_svc__gen_acquire(s);
    json_t *merged = json_array();
    if (cur) {
        char *t = ts_oidc_config_to_json(cur->cfg, true, NULL);
        json_t *doc = t ? json_loads(t, 0, NULL) : NULL;
        if (t)
            OPENSSL_cleanse(t, strlen(t));
        ts_free(t);
        json_array_extend(merged, json_object_get(doc, "providers"));
        json_decref(doc);
    }
    ts_svc__gen_release(s, cur);
    json_t *issuers = json_array();
    bool replaces = false;
    size_t i;
    json_t *p;
    char conflict[512] = "";
    json_array_foreach(np, i, p)
    {
        const char *iss = json_string_value(json_object_get(p, "issuer"));
        if (!iss)
            continue; /* ts_oidc_config_parse() names the problem below */
        json_array_append_new(issuers, json_string(iss));
        if (has_issuer(merged, iss)) {
            replaces = true;
            if (!replace && !conflict[0])
                snprintf(conflict, sizeof conflict,
                         "Provider %.400s is already configured; set replace_existing", iss);
        }
    }
    enum MHD_Result ret;
    if (conflict[0]) {
        ret = admin_error(s, conn, rq, "POST", path, 409, "conflict", conflict);
        goto done;
    }
    for (size_t j = json_array_size(merged); j-- > 0;) {
        const char *iss = json_string_value(json_object_get(json_array_get(merged, j), "issuer"));
        if (iss && has_issuer(np, iss))
            json_array_remove(merged, j);
    }
    json_array_extend(merged, np);
    json_t *doc = json_object();
    json_object_set(doc, "providers", merged);
    ts_error e;
    ts_error_clear(&e);
    oidc_gen *ng = NULL;
    if (ts_svc__gen_build(&s->cfg, doc, "admin", &ng, &e) != TS_OK || !ng) {
        char d[sizeof e.where + sizeof e.msg + 48];
        snprintf(d, sizeof d, "Invalid provider configuration: %s: %s", e.where, e.msg);
        json_decref(doc);
        ret = admin_error(s, conn, rq, "POST", path, 400, "invalid_config", d);
        goto done;
    }
    /* Discovery and keys of every new or replaced provider, before anything changes. */
    json_array_foreach(issuers, i, p)
    {
        if (ts_oidc_discover(ng->rp, json_string_value(p), &e) != TS_OK) {
            char d[sizeof e.where + sizeof e.msg + 48];
            snprintf(d, sizeof d, "Provider validation failed: %s: %s", e.where, e.msg);
            ts_svc__gen_release(s, ng);
            json_decref(doc);
            ret = admin_error(s, conn, rq, "POST", path, 400, "discovery_failed", d);
            goto done;
        }
    }
    const char *status =
        dry ? (replaces ? "would_replace" : "would_create") : (replaces ? "replaced" : "created");
    if (!dry) {
        char *t = ts_oidc_config_to_json(ng->cfg, true, &e);
        ts_status st = t ? ts_svc_write_file_atomic(s->oidc_state, t, strlen(t), &e) : e.code;
        if (t)
            OPENSSL_cleanse(t, strlen(t));
        ts_free(t);
        json_t *d = json_object();
        json_object_set_new(d, "status", json_string(status));
        json_object_set(d, "issuers", issuers);
        char *detail = json_dumps(d, JSON_COMPACT);
        json_decref(d);
        ts_store_audit_entry ae = {
            0, (int64_t)time(NULL), "oidc_config_changed", NULL, NULL, NULL, rq->peer, detail};
        if (st == TS_OK)
            st = detail ? ts_store_audit_append(s->store, &ae, &e)
                        : ts_error_set(&e, TS_ENOMEM, "audit", "out of memory");
        free(detail);
        if (st != TS_OK) {
            char m[sizeof e.where + sizeof e.msg + 48];
            snprintf(m, sizeof m, "The change was not applied: %s: %s", e.where, e.msg);
            ts_svc__gen_release(s, ng);
            json_decref(doc);
            ret = admin_error(s, conn, rq, "POST", path, 503, "temporarily_unavailable", m);
            goto done;
        }
        ts_svc__gen_install(s, ng);
        ng = NULL;
    } else {
        ts_svc__gen_release(s, ng);
    }
    json_decref(doc);
    json_t *out = json_object();
    json_object_set_new(out, "status", json_string(status));
    json_object_set(out, "issuers", issuers);
    json_object_set_new(out, "oidc", admin_state(s));
    json_t *f = json_object();
    json_object_set_new(f, "audit_event",
                        json_string(dry ? "oidc_config_dry_run" : "oidc_config_changed"));
    json_object_set_new(f, "outcome", json_string(status)); /* "status" is the HTTP status */
    json_object_set(f, "issuers", issuers);
    ret = ts_svc__send_json(s, conn, rq, "POST", path, 200, out, "no-store", f);
done:
    pthread_mutex_unlock(&s->admin_mu);
    json_decref(issuers);
    json_decref(merged);
    json_decref(body);
    return ret;
}

enum MHD_Result ts_svc__route_admin(ts_svc *s, struct MHD_Connection *conn, req *rq,
                                    const char *url, const char *method)
{
    char path[256];
    snprintf(path, sizeof path, "%s", url);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    /* The kernel's peer address decides; proxy headers are never consulted here. */
    if (!ci || !ts_svc_peer_is_local(ci->client_addr))
        return admin_error(s, conn, rq, method, path, 403, "access_denied",
                           "The admin API is local-only");
    if (strcmp(path, "/admin/oidc/config") != 0)
        return admin_error(s, conn, rq, method, path, 404, "not_found", "No such endpoint");
    if (ts_svc__is_get(method)) {
        json_t *doc = json_object();
        json_object_set_new(doc, "status", json_string("ok"));
        json_object_set_new(doc, "oidc", admin_state(s));
        return ts_svc__send_json(s, conn, rq, method, path, 200, doc, "no-store", NULL);
    }
    if (strcmp(method, "POST") == 0)
        return admin_post(s, conn, rq, path);
    return ts_svc__method_not_allowed(s, conn, rq, method, path, "GET, HEAD, POST");
}
