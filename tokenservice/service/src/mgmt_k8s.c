/* Kubernetes service-account tokens at the management API (docs/mappings.md): a token whose
 * issuer is a configured "kind": "kubernetes" provider is this file's to decide, every other
 * token the gate's. It is verified by the oidc library with that provider's checks but the
 * management audience (oidc_k8s_bearer.h), and the account is then decided by the gate's own
 * guard, so that the same policy, mode, decision log and 403 body apply to both kinds of
 * caller. The provider configuration can change at run time (the admin API, the shared store):
 * the verifier follows it, rebuilt when a request sees a newer generation. */
#define _GNU_SOURCE

#include "mgmt.h"

#include "svc_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokensmith/oidc_k8s_bearer.h>

struct ts_svc_mgmt_k8s {
    pthread_mutex_t mu;
    ts_oidc_k8s_bearer *b;        /* for the generation whose configuration it holds */
    const ts_oidc_config *failed; /* the configuration last refused (logged once) */
};

/* The verifier for the current provider configuration, a reference; NULL without one. */
static ts_oidc_k8s_bearer *current(ts_svc *s, ts_svc_mgmt_k8s *k, ts_error *err)
{
    oidc_gen *g = ts_svc__gen_acquire(s);
    ts_oidc_k8s_bearer *b = NULL;
    pthread_mutex_lock(&k->mu);
    if (!g || !g->cfg) {
        ts_oidc_k8s_bearer_free(k->b);
        k->b = NULL;
    } else if (k->b && ts_oidc_k8s_bearer_config(k->b) == g->cfg) {
        b = ts_oidc_k8s_bearer_ref(k->b);
    } else {
        ts_error e;
        ts_error_clear(&e);
        b = ts_oidc_k8s_bearer_new(g->cfg, TS_SVC_MGMT_AUDIENCE, &e);
        ts_oidc_k8s_bearer_free(k->b);
        k->b = b ? ts_oidc_k8s_bearer_ref(b) : NULL;
        if (!b && err)
            *err = e;
        if (!b && k->failed != g->cfg) {
            k->failed = g->cfg;
            json_t *f = json_object();
            json_object_set_new(f, "where", json_string(e.where));
            json_object_set_new(f, "error", json_string(e.msg));
            ts_svc__log_event(s, "error",
                              "management: Kubernetes tokens are refused with this provider "
                              "configuration",
                              f);
        }
    }
    pthread_mutex_unlock(&k->mu);
    if (g)
        ts_svc__gen_release(s, g);
    return b;
}

ts_status ts_svc__mgmt_k8s_new(ts_svc *s, ts_svc_mgmt_k8s **out, ts_error *err)
{
    ts_svc_mgmt_k8s *k = calloc(1, sizeof *k);
    if (!k)
        return ts_error_set(err, TS_ENOMEM, "managementListen", "out of memory");
    pthread_mutex_init(&k->mu, NULL);
    /* The configuration at start-up is checked now: a provider that would let exchange tokens
     * in is a configuration error, not something to find out at the first request. */
    ts_error e;
    ts_error_clear(&e);
    ts_oidc_k8s_bearer *b = current(s, k, &e);
    if (!b && e.code != TS_OK) {
        ts_svc__mgmt_k8s_free(k);
        return ts_error_set(err, e.code, e.where, "%s", e.msg);
    }
    ts_oidc_k8s_bearer_free(b);
    *out = k;
    return TS_OK;
}

void ts_svc__mgmt_k8s_free(ts_svc_mgmt_k8s *k)
{
    if (!k)
        return;
    ts_oidc_k8s_bearer_free(k->b);
    pthread_mutex_destroy(&k->mu);
    free(k);
}

/* The client's X-Request-ID when it may be echoed: 1-128 bytes of visible ASCII (authn's and
 * authz's rule), else NULL. */
static const char *request_id(struct MHD_Connection *conn)
{
    const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-ID");
    size_t n = rid ? strnlen(rid, 129) : 0;
    if (n == 0 || n > 128)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (rid[i] <= 0x20 || rid[i] >= 0x7f)
            return NULL;
    return rid;
}

/* 401 (503 when the keys could not be had) with authn's challenge and authz.deny.v1 body,
 * byte for byte what the gate answers for a bad token of this service. */
static ts_hook_result refuse(ts_svc *s, struct MHD_Connection *conn, const char *method,
                             const char *url, ts_authn_reason r, const ts_authn_detail *d,
                             const ts_error *e)
{
    const char *rid = request_id(conn);
    json_t *f = json_object();
    json_object_set_new(f, "subject_kind", json_string("kubernetes"));
    json_object_set_new(f, "reason", json_string(ts_authn_reason_str(r)));
    json_object_set_new(f, "method", json_string(method));
    json_object_set_new(f, "path", json_string(url));
    /* After verification only: what the token claimed is not logged before (docs/authn.md). */
    if (d && d->iss[0])
        json_object_set_new(f, "iss", json_string(d->iss));
    if (d && d->kid[0])
        json_object_set_new(f, "kid", json_string(d->kid));
    if (e && e->msg[0])
        json_object_set_new(f, "error", json_string(e->msg));
    if (rid)
        json_object_set_new(f, "request_id", json_string(rid));
    ts_svc__log_event(s, "info", "management access refused", f);
    return ts_authn_mhd_refuse(conn, r, TS_SVC_MGMT_REALM, method, url, rid);
}

ts_hook_result ts_svc__mgmt_k8s_check(ts_svc *s, ts_svc_mgmt_k8s *k, const ts_authz_guard *guard,
                                      struct MHD_Connection *conn, const char *method,
                                      const char *url, bool *mine, ts_svc_mgmt_caller *who)
{
    *mine = false;
    const char *auth = NULL, *tok = NULL;
    size_t auth_len = 0, tl = 0;
    if (MHD_lookup_connection_value_n(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION,
                                      strlen(MHD_HTTP_HEADER_AUTHORIZATION), &auth,
                                      &auth_len) != MHD_YES ||
        !ts_authn_parse_bearer(auth, auth_len, &tok, &tl))
        return TS_HOOK_CONTINUE; /* no bearer token: the gate answers */
    ts_oidc_k8s_bearer *b = current(s, k, NULL);
    if (!b || !ts_oidc_k8s_bearer_handles(b, tok, tl)) {
        ts_oidc_k8s_bearer_free(b);
        return TS_HOOK_CONTINUE; /* a token of this service, or of nobody: the gate decides */
    }
    *mine = true;
    ts_oidc_k8s_caller c;
    ts_authn_detail d;
    ts_error e;
    ts_error_clear(&e);
    ts_authn_reason r = ts_oidc_k8s_bearer_verify(b, tok, tl, &c, &d, &e);
    ts_oidc_k8s_bearer_free(b);
    if (r != TS_AUTHN_OK)
        return refuse(s, conn, method, url, r, &d, &e);
    /* The policy's subject is "service:<subject>", as for a token this service issued for the
     * same account through the exchange: one g line grants both. No roles: a cluster never
     * signs roles, and those of a token are not trusted (its g lines are). */
    ts_authz_principal p = {
        .id = c.subject, .type = "service", .roles = NULL, .nroles = 0, .domain = NULL};
    /* The store keeps TS_STORE_OIDC_ACTOR_MAX bytes of the actor: a longer one is cut. */
    int n = snprintf(who->actor, sizeof who->actor, "service:%s", c.subject);
    if (n < 0 || (size_t)n >= sizeof who->actor)
        who->actor[sizeof who->actor - 1] = '\0'; /* cut, as the store would */
    who->kind = "kubernetes";
    return ts_authz_mhd_check_principal(guard, conn, method, url, &p);
}
