/* The authz.deny.v1 body (field order fixed by the contract; see docs/policy.md). */
#include <string.h>

#include "contract/contract.h"

static void principal_obj(const ts_authz_guard *g, const ts_authz_principal *p, ts_common__json *b)
{
    ts_common__json_key(b, "principal");
    ts_common__json_open(b);
    ts_common__json_kstr(b, "id", p ? p->id : "");
    ts_common__json_kstr(b, "type", p ? ts_authz__principal_type(p) : "unknown");
    if (g->o.include_roles && p) {
        size_t n = p->nroles > TS_AUTHZ_HTTP_MAX_ROLES ? TS_AUTHZ_HTTP_MAX_ROLES : p->nroles;
        ts_common__json_kstrs(b, "roles", p->roles, n);
    }
    ts_common__json_close(b);
}

void ts_authz__deny_body(const ts_authz_guard *g, const ts_authz_request *req,
                         const ts_authz_principal *p, const ts_authz_outcome *out, const char *path,
                         ts_common__json *b)
{
    ts_common__json_open(b);
    ts_common__json_kstr(b, "schema_version", "authz.deny.v1");
    ts_common__json_kstr(b, "code", out->code);
    ts_common__json_kstr(b, "message", out->message);
    ts_common__json_kstr(b, "decision", ts_authz_verdict_name(out->decision));
    ts_common__json_kstr(b, "reason", out->reason);
    ts_common__json_kstr(b, "mode", ts_authz_mode_name(g->o.mode));
    principal_obj(g, p, b);
    ts_common__json_key(b, "input");
    ts_common__json_open(b);
    ts_common__json_kstr(b, "object", out->object);
    ts_common__json_kstr(b, "action", out->action);
    if (out->domain && *out->domain)
        ts_common__json_kstr(b, "domain", out->domain);
    ts_common__json_close(b);
    ts_common__json_kstr(b, "policy_version", out->result.policy_version);
    ts_common__json_key(b, "request");
    ts_common__json_open(b);
    ts_common__json_kstr(b, "method", req->method);
    ts_common__json_kstr(b, "path", path);
    ts_common__json_close(b);
    if (req->request_id && *req->request_id)
        ts_common__json_kstr(b, "request_id", req->request_id);
    /* Which stage failed helps operators; the failure text itself stays in the log. */
    if (out->stage && strcmp(out->stage, "engine") != 0) {
        ts_common__json_key(b, "details");
        ts_common__json_open(b);
        ts_common__json_kstr(b, "error", out->stage);
        ts_common__json_close(b);
    }
    ts_common__json_close(b);
    ts_common__json_raw(b, "\n", 1);
}
