/*
 * The guard: the middleware algorithm (modes, public routes, principal, mapping, decision)
 * independent of any HTTP server. Every decision is computed once and then both recorded and,
 * in enforce mode, turned into the refusal, so the log line and the deny body cannot disagree.
 */
#include <stdlib.h>
#include <string.h>

#include "contract/contract.h"
#include "contract/guard_internal.h"
#include "contract/live.h"

const char *ts_authz_mode_name(ts_authz_mode m)
{
    switch (m) {
    case TS_AUTHZ_MODE_OFF:
        return "off";
    case TS_AUTHZ_MODE_SHADOW:
        return "shadow";
    case TS_AUTHZ_MODE_ENFORCE:
        return "enforce";
    }
    return "unknown"; /* never claim a mode that is not in force */
}

ts_status ts_authz_mode_parse(const char *s, ts_authz_mode *out, ts_error *err)
{
    if (s && strcmp(s, "off") == 0)
        *out = TS_AUTHZ_MODE_OFF;
    else if (s && strcmp(s, "shadow") == 0)
        *out = TS_AUTHZ_MODE_SHADOW;
    else if (s && strcmp(s, "enforce") == 0)
        *out = TS_AUTHZ_MODE_ENFORCE;
    else
        return ts_error_set(err, TS_EINVAL, "mode",
                            "unknown authz mode '%s' (off, shadow, enforce)", s ? s : "");
    return TS_OK;
}

ts_authz_mode ts_authz_guard_mode(const ts_authz_guard *g)
{
    return g ? g->o.mode : TS_AUTHZ_MODE_ENFORCE;
}

void ts_authz_guard_free(ts_authz_guard *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->nprefixes; i++)
        free(g->prefixes[i]);
    free(g->prefixes);
    ts_authz__live_free(g->live); /* the watcher first: it logs through the guard */
    ts_authz__metrics_free(g->metrics);
    free(g);
}

ts_authz_guard *ts_authz_guard_new(const ts_authz_guard_options *o, ts_error *err)
{
    if (!o || (o->version != TS_AUTHZ_GUARD_OPTIONS_VERSION && o->version != 1u)) {
        ts_error_set(err, TS_EINVAL, "guard options", "missing or unsupported options version");
        return NULL;
    }
    if (!o->authorizer) {
        ts_error_set(err, TS_EINVAL, "guard options", "an authorizer is required");
        return NULL;
    }
    if (o->mode != TS_AUTHZ_MODE_OFF && o->mode != TS_AUTHZ_MODE_SHADOW &&
        o->mode != TS_AUTHZ_MODE_ENFORCE) {
        ts_error_set(err, TS_EINVAL, "guard options", "invalid mode %d", (int)o->mode);
        return NULL;
    }
    ts_authz_guard *g = calloc(1, sizeof *g);
    if (!g) {
        ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    if (o->version == 1u) /* a caller built before the live-policy members: defaults */
        memcpy(&g->o, o, offsetof(ts_authz_guard_options, watch));
    else
        g->o = *o;
    g->o.version = TS_AUTHZ_GUARD_OPTIONS_VERSION;
    g->o.public_prefixes = NULL;
    g->o.runtime_fragment = NULL; /* the live state keeps the path */
    if (g->o.log_allow_sample == 0)
        g->o.log_allow_sample = 1;
    g->metrics = ts_authz__metrics_new();
    g->prefixes = calloc(o->npublic_prefixes ? o->npublic_prefixes : 1, sizeof *g->prefixes);
    if (!g->metrics || !g->prefixes)
        goto oom;
    for (size_t i = 0; i < o->npublic_prefixes; i++) {
        const char *s = o->public_prefixes ? o->public_prefixes[i] : NULL;
        if (!s || s[0] != '/') {
            ts_error_set(err, TS_EINVAL, "public_prefixes", "prefix %zu must start with '/'",
                         i + 1);
            ts_authz_guard_free(g);
            return NULL;
        }
        size_t n = strlen(s);
        while (n > 1 && s[n - 1] == '/') /* "/public/" and "/public" mean the same subtree */
            n--;
        char *c = malloc(n + 1);
        if (!c)
            goto oom;
        memcpy(c, s, n);
        c[n] = '\0';
        g->prefixes[g->nprefixes++] = c;
    }
    ts_status ls = ts_authz__live_new(g, o->version == 1u ? NULL : o->runtime_fragment, err);
    if (ls == TS_OK && g->o.watch)
        ls = ts_authz_guard_watch(g, g->o.watch_debounce_ms, err);
    if (ls != TS_OK) {
        ts_authz_guard_free(g);
        return NULL;
    }
    /* Start-up line: which policy is in force, in which mode, from where. */
    ts_authz_policy_stats st;
    ts_authz_authorizer_stats(o->authorizer, &st);
    ts_common__json b;
    ts_common__json_init(&b, TS_COMMON__JSON_ASCII);
    ts_common__json_kstr(&b, "mode", ts_authz_mode_name(o->mode));
    ts_common__json_kstr(&b, "policy_version", st.policy_version);
    ts_common__json_kstr(&b, "policy_source", st.source);
    if (!b.oom)
        ts_authz__log_event(g->o.log, g->o.log_ud, "authz.start", b.ptr, b.len);
    ts_common__json_cleanup(&b);
    return g;
oom:
    ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    ts_authz_guard_free(g);
    return NULL;
}

void ts_authz_outcome_cleanup(ts_authz_outcome *o)
{
    if (!o)
        return;
    free(o->body);
    o->body = NULL;
    o->body_len = 0;
}

/* A prefix matches whole path segments: "/public" covers "/public" and "/public/x", not
 * "/publicity". The path is the normalised one, so "/public/../admin" is "/admin". */
static bool is_public_path(const ts_authz_guard *g, const char *path)
{
    for (size_t i = 0; i < g->nprefixes; i++) {
        const char *pre = g->prefixes[i];
        size_t n = strlen(pre);
        if (n == 1 || (strncmp(path, pre, n) == 0 && (path[n] == '\0' || path[n] == '/')))
            return true;
    }
    return false;
}

typedef struct refusal {
    unsigned status;
    const char *code;
    const char *message;
} refusal;

static ts_status finish(const ts_authz_guard *g, const ts_authz_request *req,
                        const ts_authz_principal *p, ts_authz_outcome *out, const char *path,
                        ts_authz_verdict v, const char *reason, const refusal *r)
{
    out->decided = true;
    out->decision = v;
    out->reason = reason;
    if (r) {
        out->status = r->status;
        out->code = r->code;
        if (out->message[0] == '\0')
            ts_common__copyz(out->message, sizeof out->message, r->message);
    }
    /* The authorizer wrote the version of the policy that decided; a decision taken before
     * it was asked (no principal, unmapped route, bad path) reports the policy in force. */
    if (!out->result.policy_version[0])
        ts_authz_authorizer_policy_version(g->o.authorizer, out->result.policy_version);
    ts_authz__metrics_decision(g->metrics, out->result.policy_version, v);
    if (out->stage)
        ts_authz__metrics_error(g->metrics, out->result.policy_version, out->stage);
    ts_authz_guard *mg = (ts_authz_guard *)(uintptr_t)g; /* the sampling counter is not state */
    bool log = g->o.log != NULL;
    if (log && v == TS_AUTHZ_ALLOW && g->o.log_allow_sample > 1)
        log = atomic_fetch_add(&mg->allow_seen, 1) % g->o.log_allow_sample == 0;
    ts_status st = TS_OK;
    ts_common__json b;
    if (log) { /* a log line is printable ASCII, whatever the request carried */
        ts_common__json_init(&b, TS_COMMON__JSON_ASCII);
        ts_authz__decision_line(g, req, p, out, path, &b);
        if (!b.oom)
            g->o.log(b.ptr, b.len, g->o.log_ud);
        ts_common__json_cleanup(&b);
    }
    if (r && g->o.mode == TS_AUTHZ_MODE_ENFORCE) {
        out->proceed = false;
        ts_common__json_init(&b, TS_COMMON__JSON_UTF8);
        ts_authz__deny_body(g, req, p, out, path, &b);
        out->body = ts_common__json_take(&b, &out->body_len);
        if (!out->body)
            st = TS_ENOMEM;
    }
    return st;
}

const char *ts_authz__request_id(const char *id)
{
    size_t n = 0;
    for (; id && id[n]; n++)
        if (n >= TS_AUTHZ__MAX_REQUEST_ID || (unsigned char)id[n] < 0x21 ||
            (unsigned char)id[n] > 0x7e)
            return NULL;
    return n ? id : NULL;
}

ts_status ts_authz__guard_run(const ts_authz_guard *g, const ts_authz_request *in,
                              const ts_authz_principal *p, bool principal_failed,
                              ts_authz_outcome *out)
{
    memset(out, 0, offsetof(ts_authz_outcome, mapping));
    out->mapping.mapped = false;
    out->body = NULL;
    out->body_len = 0;
    out->proceed = true;
    out->decision = TS_AUTHZ_ALLOW;
    if (!g || !in || !in->method)
        return TS_EINVAL;
    /* The request id comes from the client: echoed only when short and printable, whoever
     * calls (the libmicrohttpd hook or a service of its own). */
    ts_authz_request rq = *in;
    rq.request_id = ts_authz__request_id(in->request_id);
    const ts_authz_request *req = &rq;
    if (g->o.mode == TS_AUTHZ_MODE_OFF)
        return TS_OK;
    if (g->o.options_public && strcmp(req->method, "OPTIONS") == 0)
        return TS_OK;

    char path[TS_AUTHZ_HTTP_MAX_PATH + 1];
    size_t plen = 0;
    ts_error perr;
    ts_error_clear(&perr);
    bool path_ok =
        ts_authz_path_normalize(req->path, req->path ? req->path_len : 0, req->path_decoded, path,
                                sizeof path, &plen, &perr) == TS_OK;
    if (!path_ok) { /* shown as received, without the query */
        size_t n = req->path ? req->path_len : 0;
        const char *q = n ? memchr(req->path, '?', n) : NULL;
        if (q)
            n = (size_t)(q - req->path);
        if (n > 256)
            n = 256;
        memcpy(path, req->path ? req->path : "", n);
        path[n] = '\0';
        for (size_t i = 0; i < n; i++)
            if (path[i] == '\0')
                path[i] = '?';
    } else if (is_public_path(g, path)) {
        return TS_OK;
    }

    static const refusal authn = {401, "AUTHN_REQUIRED", "authentication required"};
    static const refusal bad = {400, "BAD_REQUEST", "malformed URL path"};
    static const refusal map_err = {500, "AUTHZ_ENGINE_ERROR", "authorization mapping error"};
    static const refusal principal_err = {500, "AUTHZ_ENGINE_ERROR",
                                          "authorization principal error"};
    static const refusal unmapped = {403, "AUTHZ_UNMAPPED", "unmapped route"};
    static const refusal denied = {403, "AUTHZ_DENIED", "access denied"};
    static const refusal engine = {500, "AUTHZ_ENGINE_ERROR", "authorization engine error"};
    static const refusal invalid = {403, "AUTHZ_DENIED", "invalid principal"};

    if (principal_failed) {
        out->stage = "principal";
        return finish(g, req, NULL, out, path, TS_AUTHZ_ERROR, "engine_error", &principal_err);
    }
    static const ts_authz_principal anonymous = {"", "unknown", NULL, 0, NULL};
    if (!p) {
        if (g->o.require_authn)
            return finish(g, req, NULL, out, path, TS_AUTHZ_DENY, "no_principal", &authn);
        p = &anonymous;
    }
    if (!path_ok) {
        ts_common__copyz(out->message, sizeof out->message, perr.msg);
        out->stage = "mapper";
        return finish(g, req, p, out, path, TS_AUTHZ_ERROR, "bad_request", &bad);
    }
    if (g->o.mapper) {
        ts_error merr;
        ts_error_clear(&merr);
        ts_authz_map_status ms =
            ts_authz__mapper_map_normalized(g->o.mapper, req, p, path, plen, &out->mapping, &merr);
        if (ms == TS_AUTHZ_MAP_BAD_REQUEST) {
            snprintf(out->message, sizeof out->message, "%s",
                     merr.msg[0] ? merr.msg : "bad request");
            out->stage = "mapper";
            return finish(g, req, p, out, path, TS_AUTHZ_ERROR, "bad_request", &bad);
        }
        if (ms != TS_AUTHZ_MAP_OK) {
            out->stage = "mapper";
            ts_common__copyz(out->result.detail, sizeof out->result.detail, merr.msg);
            return finish(g, req, p, out, path, TS_AUTHZ_ERROR, "engine_error", &map_err);
        }
    }
    if (!out->mapping.mapped) {
        if (g->o.allow_unmapped)
            return finish(g, req, p, out, path, TS_AUTHZ_ALLOW, "unmapped_route", NULL);
        return finish(g, req, p, out, path, TS_AUTHZ_DENY, "unmapped_route", &unmapped);
    }
    out->object = out->mapping.object;
    out->action = out->mapping.action;
    out->domain = out->mapping.domain ? out->mapping.domain : p->domain;
    ts_authz_authorize(g->o.authorizer, p, out->object, out->action, out->domain, &out->result);
    switch (out->result.decision) {
    case TS_AUTHZ_ALLOW:
        return finish(g, req, p, out, path, TS_AUTHZ_ALLOW, out->result.reason, NULL);
    case TS_AUTHZ_DENY:
    case TS_AUTHZ_INDETERMINATE:
        return finish(g, req, p, out, path, out->result.decision, out->result.reason, &denied);
    case TS_AUTHZ_ERROR:
        break;
    }
    if (strcmp(out->result.reason, "invalid_principal") == 0) {
        /* The caller's credentials carry a name with control characters: refused as the
         * caller's fault (403), counted as a principal error. */
        out->stage = "principal";
        return finish(g, req, p, out, path, TS_AUTHZ_ERROR, out->result.reason, &invalid);
    }
    out->stage = "engine";
    return finish(g, req, p, out, path, TS_AUTHZ_ERROR, "engine_error", &engine);
}

ts_status ts_authz_guard_check(const ts_authz_guard *g, const ts_authz_request *req,
                               const ts_authz_principal *p, ts_authz_outcome *out)
{
    return ts_authz__guard_run(g, req, p, false, out);
}

ts_status ts_authz_guard_roles(const ts_authz_guard *g, const ts_authz_principal *p,
                               const char *domain, size_t max, char ***roles, size_t *nroles,
                               char policy_version[TS_AUTHZ_POLICY_VERSION_LEN + 1], ts_error *err)
{
    if (!g || !roles || !nroles)
        return ts_error_set(err, TS_EINVAL, "roles", "no guard or list to fill");
    if (g->o.mode != TS_AUTHZ_MODE_OFF)
        return ts_authz_authorizer_roles(g->o.authorizer, p, domain, max, roles, nroles,
                                         policy_version, err);
    /* Mode off: no policy is in force, so it grants nothing. */
    if (policy_version)
        ts_authz_authorizer_policy_version(g->o.authorizer, policy_version);
    *nroles = 0;
    *roles = calloc(1, sizeof **roles);
    return *roles ? TS_OK : ts_error_set(err, TS_ENOMEM, "roles", "out of memory");
}
