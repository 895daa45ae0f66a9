/* Many decisions on one snapshot (Casbin's BatchEnforce): the snapshot and the compiled plan
 * are taken once, so a reload during the batch changes none of its answers, and a request that
 * cannot be decided fails alone. */
#include <stdint.h>
#include <string.h>

#include <tokensmith/authz_query.h>

#include "enforcer_internal.h"
#include "snapshot.h"

static ts_status decide_one(const ts_snapshot *s, const ts_plan *plan, const ts_authz_batch_item *r,
                            bool explain, ts_authz_decision *out, ts_error *err)
{
    if (r->nargs && !r->args)
        return ts_error_set(err, TS_EINVAL, "request", "arguments missing");
    if (r->nargs > TS_AUTHZ_MAX_FIELDS)
        return ts_error_set(err, TS_ELIMIT, "request", "more than %u request fields",
                            TS_AUTHZ_MAX_FIELDS);
    if (!plan)
        return ts_error_set(err, TS_ENOTFOUND, "context",
                            "no such combination of request, policy, effect and matcher "
                            "definitions");
    return ts_authz__snapshot_decide(s, plan, r->args, r->nargs, explain, out, err);
}

ts_status ts_authz_enforce_batch(const ts_authz_enforcer *e, const ts_authz_context *ctx,
                                 const ts_authz_batch_item *reqs, size_t n, bool explain,
                                 ts_authz_decision *out, ts_status *statuses, uint64_t *generation,
                                 ts_error *err)
{
    if (generation)
        *generation = 0;
    if (!e || (n && (!reqs || !out)))
        return ts_error_set(err, TS_EINVAL, "batch", "invalid arguments");
    if (n > TS_AUTHZ_MAX_BATCH)
        return ts_error_set(err, TS_ELIMIT, "batch", "more than %u requests in one batch",
                            TS_AUTHZ_MAX_BATCH);
    for (size_t i = 0; i < n; i++) {
        out[i].allowed = false;
        out[i].has_rule = false;
        out[i].rule = NULL;
    }
    ts_read_guard g;
    const ts_snapshot *s = ts_authz__enforcer_read_begin(e, &g);
    const ts_plan *plan =
        ctx ? ts_authz__snapshot_plan(s, ctx->rtype, ctx->ptype, ctx->etype, ctx->mtype)
            : s->default_plan;
    ts_status first = TS_OK;
    for (size_t i = 0; i < n; i++) {
        ts_error one;
        ts_error_clear(&one);
        ts_status st = decide_one(s, plan, &reqs[i], explain, &out[i], &one);
        if (st != TS_OK) {
            /* A failed request is a deny without a rule, whatever decide left behind. */
            ts_authz_decision_cleanup(&out[i]);
            out[i].allowed = false;
            out[i].has_rule = false;
            if (first == TS_OK) {
                first = st;
                ts_error_set(err, st, one.where, "request %zu: %s", i, one.msg);
            }
        }
        if (statuses)
            statuses[i] = st;
    }
    if (generation)
        *generation = s->generation;
    ts_authz__enforcer_read_end(&g);
    return first;
}
