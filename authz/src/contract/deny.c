/* The authz.deny.v1 body (field order fixed by the contract; see docs/policy.md). */
#include <string.h>

#include "contract/contract.h"

static void principal_obj(const ts_authz_guard *g, const ts_authz_principal *p, ts_jbuf *b)
{
    ts_authz__jbuf_adds(b, "{\"id\":");
    ts_authz__jbuf_str(b, p ? p->id : "");
    ts_authz__jbuf_adds(b, ",\"type\":");
    ts_authz__jbuf_str(b, p ? ts_authz__principal_type(p) : "unknown");
    if (g->o.include_roles && p) {
        ts_authz__jbuf_adds(b, ",\"roles\":[");
        size_t n = p->nroles > TS_AUTHZ_HTTP_MAX_ROLES ? TS_AUTHZ_HTTP_MAX_ROLES : p->nroles;
        for (size_t i = 0; i < n; i++) {
            if (i)
                ts_authz__jbuf_add(b, ",", 1);
            ts_authz__jbuf_str(b, p->roles[i]);
        }
        ts_authz__jbuf_add(b, "]", 1);
    }
    ts_authz__jbuf_add(b, "}", 1);
}

void ts_authz__deny_body(const ts_authz_guard *g, const ts_authz_request *req,
                         const ts_authz_principal *p, const ts_authz_outcome *out, const char *path,
                         ts_jbuf *b)
{
    ts_authz__jbuf_adds(b, "{\"schema_version\":\"authz.deny.v1\",\"code\":");
    ts_authz__jbuf_str(b, out->code);
    ts_authz__jbuf_adds(b, ",\"message\":");
    ts_authz__jbuf_str(b, out->message);
    ts_authz__jbuf_adds(b, ",\"decision\":");
    ts_authz__jbuf_str(b, ts_authz_verdict_name(out->decision));
    ts_authz__jbuf_adds(b, ",\"reason\":");
    ts_authz__jbuf_str(b, out->reason);
    ts_authz__jbuf_adds(b, ",\"mode\":");
    ts_authz__jbuf_str(b, ts_authz_mode_name(g->o.mode));
    ts_authz__jbuf_adds(b, ",\"principal\":");
    principal_obj(g, p, b);
    ts_authz__jbuf_adds(b, ",\"input\":{\"object\":");
    ts_authz__jbuf_str(b, out->object);
    ts_authz__jbuf_adds(b, ",\"action\":");
    ts_authz__jbuf_str(b, out->action);
    if (out->domain && *out->domain) {
        ts_authz__jbuf_adds(b, ",\"domain\":");
        ts_authz__jbuf_str(b, out->domain);
    }
    ts_authz__jbuf_adds(b, "},\"policy_version\":");
    ts_authz__jbuf_str(b, out->result.policy_version);
    ts_authz__jbuf_adds(b, ",\"request\":{\"method\":");
    ts_authz__jbuf_str(b, req->method);
    ts_authz__jbuf_adds(b, ",\"path\":");
    ts_authz__jbuf_str(b, path);
    ts_authz__jbuf_add(b, "}", 1);
    if (req->request_id && *req->request_id) {
        ts_authz__jbuf_adds(b, ",\"request_id\":");
        ts_authz__jbuf_str(b, req->request_id);
    }
    /* Which stage failed helps operators; the failure text itself stays in the log. */
    if (out->stage && strcmp(out->stage, "engine") != 0) {
        ts_authz__jbuf_adds(b, ",\"details\":{\"error\":");
        ts_authz__jbuf_str(b, out->stage);
        ts_authz__jbuf_add(b, "}", 1);
    }
    ts_authz__jbuf_adds(b, "}\n");
}
