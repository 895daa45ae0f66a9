/*
 * The gate's step-up rules (RFC 9470): per path (and method), the authentication context a
 * verified token must carry. Each rule's paths are matched by an authn hook of their own, asked
 * only ts_authn_mhd_is_public(), so that a rule's path means what a public path means (one
 * normalisation, one rule). The challenges are built once, here: a request that falls short
 * costs one lookup and one queued response.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mhd_internal.h"

typedef struct rule {
    ts_authn_mhd *paths; /* its one "public" path is the rule's path */
    char *method;        /* NULL: any */
    char **acr;
    ts_authn_requirement req; /* acr_values point into acr */
    char *www, *www_max_age;  /* the challenge without and with max_age */
} rule;

struct ts_mhd__step_up {
    rule *rules;
    size_t n;
    char *realm;
    ts_mhd_log_fn log;
    void *log_ud;
};

void ts_mhd__step_up_free(ts_mhd__step_up *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        rule *r = &s->rules[i];
        ts_authn_mhd_free(r->paths);
        free(r->method);
        for (size_t k = 0; k < r->req.n_acr_values; k++)
            free(r->acr[k]);
        free(r->acr);
        ts_free(r->www);
        ts_free(r->www_max_age);
    }
    free(s->rules);
    free(s->realm);
    free(s);
}

/* `where` of an error about rule @p i: "step_up[i].<field>". */
static ts_status rule_error(ts_error *err, size_t i, const char *field)
{
    if (err) {
        /* The field is one of ours ("acr_values[k]", "max_age_s", ...): 64 bytes hold it. */
        char where[sizeof err->where];
        snprintf(where, sizeof where, "step_up[%zu].%.64s", i, field);
        snprintf(err->where, sizeof err->where, "%s", where);
    }
    return err ? err->code : TS_EINVAL;
}

static ts_status build_rule(rule *r, size_t i, const ts_mhd_step_up *in, const ts_authn_verifier *v,
                            const char *realm, bool raw_paths, ts_error *err)
{
    if (!in->path) {
        ts_error_set(err, TS_EINVAL, "step_up", "a rule needs a path");
        return rule_error(err, i, "path");
    }
    ts_authn_requirement req = {TS_AUTHN_REQUIREMENT_VERSION, in->acr_values, in->n_acr_values,
                                in->max_age_s};
    ts_error e;
    if (ts_authn_requirement_check(&req, &e) != TS_OK) {
        ts_error_set(err, e.code, "step_up", "%s", e.msg);
        return rule_error(err, i, e.where); /* "acr_values[k]" or "max_age_s" */
    }
    if (in->n_acr_values == 0 && in->max_age_s == 0) { /* a rule that asks nothing is a mistake */
        ts_error_set(err, TS_EINVAL, "step_up", "a rule needs acr_values or max_age_s");
        return rule_error(err, i, "acr_values");
    }
    if (in->method && (!in->method[0] || strpbrk(in->method, " \t\r\n"))) {
        ts_error_set(err, TS_EINVAL, "step_up", "method is empty or holds white space");
        return rule_error(err, i, "method");
    }
    ts_authn_mhd_options mo = TS_AUTHN_MHD_OPTIONS_INIT;
    mo.verifier = v;
    mo.public_paths = &in->path;
    mo.n_public_paths = 1;
    mo.raw_paths = raw_paths;
    if (!(r->paths = ts_authn_mhd_new(&mo, err)))
        return rule_error(err, i, "path");
    r->acr = calloc(in->n_acr_values ? in->n_acr_values : 1, sizeof *r->acr);
    if (!r->acr || (in->method && !(r->method = strdup(in->method))))
        return ts_error_set(err, TS_ENOMEM, "step_up", "out of memory");
    r->req = req;
    r->req.n_acr_values = 0;
    for (size_t k = 0; k < in->n_acr_values; k++) {
        if (!(r->acr[k] = strdup(in->acr_values[k])))
            return ts_error_set(err, TS_ENOMEM, "step_up", "out of memory");
        r->req.n_acr_values = k + 1;
    }
    r->req.acr_values = (const char *const *)r->acr;
    if (ts_authn_stepup_challenge(&r->req, false, realm, &r->www, err) != TS_OK ||
        ts_authn_stepup_challenge(&r->req, true, realm, &r->www_max_age, err) != TS_OK)
        return err ? err->code : TS_EINVAL;
    return TS_OK;
}

ts_mhd__step_up *ts_mhd__step_up_new(const ts_mhd_gate_options *o, const ts_authn_verifier *v,
                                     ts_mhd_log_fn log, void *log_ud, ts_error *err)
{
    if (o->n_step_up && !o->step_up) {
        ts_error_set(err, TS_EINVAL, "step_up", "n_step_up is %zu but step_up is NULL",
                     o->n_step_up);
        return NULL;
    }
    ts_mhd__step_up *s = calloc(1, sizeof *s);
    if (s)
        s->rules = calloc(o->n_step_up ? o->n_step_up : 1, sizeof *s->rules);
    if (!s || !s->rules) {
        free(s);
        ts_error_set(err, TS_ENOMEM, "step_up", "out of memory");
        return NULL;
    }
    s->log = log;
    s->log_ud = log_ud;
    if (o->realm && !(s->realm = strdup(o->realm))) {
        ts_mhd__step_up_free(s);
        ts_error_set(err, TS_ENOMEM, "step_up", "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < o->n_step_up; i++) {
        s->n = i + 1;
        if (build_rule(&s->rules[i], i, &o->step_up[i], v, o->realm, o->raw_paths, err) != TS_OK) {
            ts_mhd__step_up_free(s);
            return NULL;
        }
    }
    return s;
}

/* One JSON line, as authn's hook logs its refusals: jti, kid and iss identify the token, never
   the token itself. */
static void log_refusal(const ts_mhd__step_up *s, const ts_authn_principal *p, ts_authn_reason rr,
                        const ts_error *why, const char *method, const char *url,
                        const char *request_id)
{
    json_t *o = json_object();
    if (!o)
        return;
    json_object_set_new(o, "level", json_string("warn"));
    json_object_set_new(o, "component", json_string("authn"));
    json_object_set_new(o, "msg", json_string("step-up authentication required"));
    json_object_set_new(o, "reason", json_string(ts_authn_reason_str(rr)));
    json_object_set_new(o, "error", json_string(why->msg));
    json_object_set_new(o, "method", json_string(method));
    json_object_set_new(o, "path", json_string(url));
    const char *jti = ts_authn_principal_jti(p), *iss = ts_authn_principal_issuer(p);
    if (jti)
        json_object_set_new(o, "jti", json_string(jti));
    if (ts_authn_principal_kid(p)[0])
        json_object_set_new(o, "kid", json_string(ts_authn_principal_kid(p)));
    if (iss)
        json_object_set_new(o, "iss", json_string(iss));
    const char *acr = ts_authn_principal_acr(p);
    if (acr)
        json_object_set_new(o, "acr", json_string(acr));
    if (request_id)
        json_object_set_new(o, "request_id", json_string(request_id));
    char *line = json_dumps(o, JSON_COMPACT); /* invalid UTF-8: that member is just absent */
    json_decref(o);
    if (line)
        s->log(line, strlen(line), s->log_ud);
    free(line);
}

/* The client's X-Request-ID when it is 1 to 128 bytes of visible ASCII (authn's and authz's
   rule), else NULL. */
static const char *request_id(struct MHD_Connection *conn)
{
    const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-ID");
    size_t n = rid ? strnlen(rid, 129) : 0;
    if (n == 0 || n > 128)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)rid[i] <= 0x20 || (unsigned char)rid[i] >= 0x7f)
            return NULL;
    return rid;
}

static ts_hook_result respond(struct MHD_Connection *conn, ts_authn_reason reason, const char *www,
                              const char *method, const char *url, const char *request_id)
{
    ts_authn_refused_request rq = {
        method, strlen(method), url, strlen(url), request_id, request_id ? strlen(request_id) : 0};
    char *body = NULL;
    size_t len = 0;
    if (ts_authn_refusal_body(reason, &rq, &body, &len, NULL) != TS_OK)
        return TS_HOOK_ERROR;
    bool head = strcmp(method, "HEAD") == 0;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(head ? 0 : len, head ? NULL : body, MHD_RESPMEM_MUST_COPY);
    ts_free(body);
    if (!resp)
        return TS_HOOK_ERROR;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, www);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json; charset=utf-8");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ok = MHD_queue_response(conn, (unsigned)ts_authn_refusal_status(reason), resp);
    MHD_destroy_response(resp);
    return ok == MHD_YES ? TS_HOOK_RESPONDED : TS_HOOK_ERROR;
}

ts_hook_result ts_mhd__step_up_check(const ts_mhd__step_up *s, const ts_authn_verifier *v,
                                     struct MHD_Connection *conn, const char *method,
                                     const char *url, const ts_authn_principal *p)
{
    for (size_t i = 0; s && i < s->n; i++) {
        const rule *r = &s->rules[i];
        if ((r->method && strcmp(r->method, method) != 0) || !ts_authn_mhd_is_public(r->paths, url))
            continue;
        bool age = false;
        ts_error why;
        ts_error_clear(&why);
        ts_authn_reason rr = ts_authn_require(v, p, &r->req, &age, &why);
        if (rr == TS_AUTHN_OK)
            return TS_HOOK_CONTINUE;
        const char *rid = request_id(conn);
        log_refusal(s, p, rr, &why, method, url, rid);
        if (rr == TS_AUTHN_INSUFFICIENT_USER_AUTHENTICATION)
            return respond(conn, rr, age ? r->www_max_age : r->www, method, url, rid);
        /* auth_time in the future: an invalid token, which another login would not mend. */
        char *www = NULL;
        if (ts_authn_refusal_challenge(rr, s->realm, &www, NULL) != TS_OK || !www)
            return TS_HOOK_ERROR;
        ts_hook_result res = respond(conn, rr, www, method, url, rid);
        ts_free(www);
        return res;
    }
    return TS_HOOK_CONTINUE;
}
