/* The admin API (the admin listener only): the upstream provider configuration at run time. */
#define _GNU_SOURCE

#include "svc_internal.h"

#include "oidc_shared.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

/* The state an admin sees. Call with s->admin_mu held, so that the providers and the version
 * belong together (lock order: admin_mu, then oidc_mu). */
static json_t *admin_state_locked(ts_svc *s)
{
    oidc_gen *g = ts_svc__gen_acquire(s);
    json_t *o = json_object();
    json_object_set_new(o, "configured", json_boolean(g != NULL));
    json_object_set_new(o, "source", json_string(g ? g->source : "none"));
    /* The store's version in use, for a client's expected_version (0: none stored). */
    json_object_set_new(o, "version", json_integer((json_int_t)s->oidc_version));
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

/* 409 for a change based on a stale version: the body says so in "version_conflict": true, so
 * that a client tells it from the other 409 (an issuer already configured) without reading
 * the text. */
static enum MHD_Result version_conflict(ts_svc *s, struct MHD_Connection *conn, req *rq,
                                        const char *path, const char *desc)
{
    json_t *doc = json_object();
    json_object_set_new(doc, "error", json_string("conflict"));
    json_object_set_new(doc, "error_description", json_string(desc));
    json_object_set_new(doc, "version_conflict", json_true());
    json_t *f = json_object();
    json_object_set_new(f, "error", json_string("conflict"));
    return ts_svc__send_json(s, conn, rq, "POST", path, 409, doc, "no-store", f);
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

/* The audit detail of a change: the issuers named, or only their number when the list would not
 * fit an audit record. */
static char *audit_detail(const char *status, json_t *issuers, json_t *removed)
{
    json_t *d = json_object();
    json_object_set_new(d, "status", json_string(status));
    json_object_set(d, "issuers", issuers);
    if (json_array_size(removed))
        json_object_set(d, "removed", removed);
    char *t = json_dumps(d, JSON_COMPACT);
    if (t && strlen(t) > TS_STORE_MAX_DETAIL_LEN) {
        free(t);
        json_object_del(d, "issuers");
        json_object_del(d, "removed");
        json_object_set_new(d, "issuers_count", json_integer((json_int_t)json_array_size(issuers)));
        json_object_set_new(d, "removed_count", json_integer((json_int_t)json_array_size(removed)));
        t = json_dumps(d, JSON_COMPACT);
    }
    json_decref(d);
    return t;
}

static bool has_removal(json_t *remove, const char *iss)
{
    size_t i;
    json_t *v;
    json_array_foreach(remove, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), iss) == 0)
            return true;
    }
    return false;
}

/* POST: {"providers":[...], "remove":["issuer",...], "dry_run":bool, "replace_existing":bool,
 * "expected_version":n}. The listed providers are added, or replace the provider with the same
 * issuer; the removed ones go; the others stay as they are. The change is written to the store
 * as version n + 1 (n: the version this replica has in use, after applying a newer stored one,
 * or the client's expected_version): a stale version is refused with 409 and nothing changes. */
static enum MHD_Result admin_post(ts_svc *s, struct MHD_Connection *conn, req *rq, const char *path)
{
    if (rq->too_big)
        return admin_error(s, conn, rq, "POST", path, 413, "invalid_request",
                           "Request body too large");
    json_error_t je;
    json_t *body = rq->body ? json_loadb(rq->body, rq->len, JSON_REJECT_DUPLICATES, &je) : NULL;
    json_t *np = json_object_get(body, "providers"), *rm = json_object_get(body, "remove");
    json_t *dr = json_object_get(body, "dry_run"), *re = json_object_get(body, "replace_existing");
    json_t *ev = json_object_get(body, "expected_version");
    bool shape_ok = json_is_object(body) && (!np || json_is_array(np)) &&
                    (!rm || json_is_array(rm)) && json_array_size(np) + json_array_size(rm) > 0 &&
                    (!dr || json_is_boolean(dr)) && (!re || json_is_boolean(re)) &&
                    (!ev || (json_is_integer(ev) && json_integer_value(ev) >= 0));
    size_t ri;
    json_t *rv;
    json_array_foreach(rm, ri, rv)
    {
        if (!json_is_string(rv))
            shape_ok = false;
    }
    const char *k;
    json_t *v;
    if (shape_ok)
        json_object_foreach(body, k, v)
        {
            if (strcmp(k, "providers") != 0 && strcmp(k, "dry_run") != 0 &&
                strcmp(k, "replace_existing") != 0 && strcmp(k, "remove") != 0 &&
                strcmp(k, "expected_version") != 0)
                shape_ok = false;
        }
    if (!shape_ok) {
        json_decref(body);
        return admin_error(s, conn, rq, "POST", path, 400, "invalid_request",
                           "The body must be a JSON object {\"providers\":[...], \"remove\":"
                           "[\"issuer\",...], \"dry_run\": bool, \"replace_existing\": bool, "
                           "\"expected_version\": n} with at least one provider to add or remove");
    }
    bool dry = json_is_true(dr), replace = json_is_true(re);
    if (!np)
        np = json_array(); /* a removal only */
    else
        json_incref(np);
    pthread_mutex_lock(&s->admin_mu);
    json_t *issuers = json_array();
    json_t *merged = json_array();
    enum MHD_Result ret;
    ts_error e;
    ts_error_clear(&e);
    /* A change is merged into the newest stored configuration, not one this replica's poll has
     * not applied yet. */
    if (ts_svc__oidc_shared_refresh_locked(s, &e) != TS_OK) {
        char m[sizeof e.where + sizeof e.msg + 48];
        snprintf(m, sizeof m, "The change was not applied: %s: %s", e.where, e.msg);
        ret = admin_error(s, conn, rq, "POST", path, 503, "temporarily_unavailable", m);
        goto done;
    }
    int64_t base = s->oidc_version;
    if (ev && json_integer_value(ev) != base) {
        char m[160];
        snprintf(m, sizeof m,
                 "The provider configuration is at version %lld, not %lld: read it again",
                 (long long)base, (long long)json_integer_value(ev));
        ret = version_conflict(s, conn, rq, path, m);
        goto done;
    }
    /* The current providers, secrets included: they are written back to the store. */
    oidc_gen *cur = ts_svc__gen_acquire(s);
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
    json_array_foreach(rm, i, p)
    {
        if (!has_issuer(merged, json_string_value(p)) && !conflict[0]) {
            snprintf(conflict, sizeof conflict, "Provider %.400s is not configured",
                     json_string_value(p));
            ret = admin_error(s, conn, rq, "POST", path, 404, "not_found", conflict);
            goto done;
        }
    }
    if (conflict[0]) {
        ret = admin_error(s, conn, rq, "POST", path, 409, "conflict", conflict);
        goto done;
    }
    for (size_t j = json_array_size(merged); j-- > 0;) {
        const char *iss = json_string_value(json_object_get(json_array_get(merged, j), "issuer"));
        if (iss && (has_issuer(np, iss) || has_removal(rm, iss)))
            json_array_remove(merged, j);
    }
    json_array_extend(merged, np);
    json_t *doc = json_object();
    json_object_set(doc, "providers", merged);
    oidc_gen *ng = NULL;
    /* No provider left is a valid configuration: the upstream exchange is off (ng NULL). */
    if (ts_svc__gen_build(&s->cfg, doc, "admin", &ng, &e) != TS_OK ||
        (!ng && json_array_size(merged) > 0)) {
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
    if (json_array_size(np) == 0)
        status = dry ? "would_remove" : "removed";
    int64_t version = base;
    if (!dry) {
        /* The change and its audit record commit together in the store, once (the version is
         * the compare-and-set: of two admins changing one version, one gets 409). */
        char *t = ng ? ts_oidc_config_to_json(ng->cfg, true, &e) : strdup("{\"providers\":[]}");
        char *detail = audit_detail(status, issuers, rm);
        ts_status st = t && detail ? TS_OK : ts_error_set(&e, TS_ENOMEM, "admin", "out of memory");
        if (st == TS_OK)
            st = ts_store_oidc_config_put(s->store, t, strlen(t), base, (int64_t)time(NULL),
                                          rq->peer[0] ? rq->peer : "admin", detail, &version, &e);
        /* With a SQLite store (one machine) the state file stays a copy of what the store
         * holds, mode 0600, as before; with a shared store each machine would hold a stale copy
         * of the secrets, so none is written. The store is the authority either way. */
        if (st == TS_OK && !ts_store_path_is_postgres(s->cfg.store) &&
            ts_svc_write_file_atomic(s->oidc_state, t, strlen(t), &e) != TS_OK) {
            json_t *w = json_object();
            json_object_set_new(w, "state_file", json_string(s->oidc_state));
            json_object_set_new(w, "reason", json_string(e.msg));
            json_object_set_new(w, "oidc_version", json_integer((json_int_t)version));
            ts_svc__log_event(s, "warn", "oidc state file not updated; the store holds the change",
                              w);
        }
        if (t)
            OPENSSL_cleanse(t, strlen(t));
        free(t);
        free(detail);
        if (st != TS_OK) {
            char m[sizeof e.where + sizeof e.msg + 48];
            snprintf(m, sizeof m, "The change was not applied: %s: %s", e.where, e.msg);
            ts_svc__gen_release(s, ng);
            json_decref(doc);
            ret = st == TS_ECYCLE
                      ? version_conflict(s, conn, rq, path, m)
                      : admin_error(s, conn, rq, "POST", path, 503, "temporarily_unavailable", m);
            goto done;
        }
        ts_svc__gen_install(s, ng);
        s->oidc_version = version;
        ng = NULL;
    } else {
        ts_svc__gen_release(s, ng);
    }
    json_decref(doc);
    json_t *out = json_object();
    json_object_set_new(out, "status", json_string(status));
    json_object_set(out, "issuers", issuers);
    if (json_array_size(rm))
        json_object_set(out, "removed", rm);
    json_object_set_new(out, "version", json_integer((json_int_t)version));
    json_object_set_new(out, "oidc", admin_state_locked(s));
    json_t *f = json_object();
    json_object_set_new(f, "audit_event",
                        json_string(dry ? "oidc_config_dry_run" : "oidc_config_changed"));
    json_object_set_new(f, "outcome", json_string(status)); /* "status" is the HTTP status */
    json_object_set(f, "issuers", issuers);
    json_object_set_new(f, "oidc_version", json_integer((json_int_t)version));
    ret = ts_svc__send_json(s, conn, rq, "POST", path, 200, out, "no-store", f);
done:
    pthread_mutex_unlock(&s->admin_mu);
    json_decref(issuers);
    json_decref(merged);
    json_decref(np);
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
        pthread_mutex_lock(&s->admin_mu);
        json_object_set_new(doc, "oidc", admin_state_locked(s));
        pthread_mutex_unlock(&s->admin_mu);
        return ts_svc__send_json(s, conn, rq, method, path, 200, doc, "no-store", NULL);
    }
    if (strcmp(method, "POST") == 0)
        return admin_post(s, conn, rq, path);
    return ts_svc__method_not_allowed(s, conn, rq, method, path, "GET, HEAD, POST");
}
