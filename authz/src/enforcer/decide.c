/* One decision: bind the request, pick candidate rules from the index, evaluate the matcher
 * in rule order and merge effects exactly as Casbin's default effector does. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abac_json.h"
#include "snapshot.h"

typedef enum eft { EFT_ALLOW, EFT_DENY, EFT_INDETERMINATE } eft;

typedef struct decide_state {
    const ts_snapshot *s;
    const ts_plan *plan;
} decide_state;

static ts_status role_call(void *ud, size_t role_idx, const ts_val *args, size_t nargs, bool *out,
                           ts_error *err)
{
    const decide_state *st = ud;
    const ts_authz_model *m = st->s->model;
    const char *name = role_idx < m->g.n ? m->g.defs[role_idx].key : "g";
    if (role_idx >= m->g.n || !st->s->rms[role_idx])
        return ts_error_set(err, TS_EEVAL, name, "%s: role definition not loaded", name);
    if (nargs < 2 || nargs > 3)
        return ts_error_set(err, TS_EEVAL, name, "%s: expected 2 or 3 arguments, but got %zu", name,
                            nargs);
    for (size_t i = 0; i < nargs; i++)
        if (args[i].kind != TS_VAL_STR)
            return ts_error_set(err, TS_EEVAL, name, "%s: argument must be a string", name);
    const ts_str *dom = nargs == 3 ? &args[2].u.str : NULL;
    return ts_authz__rolemgr_has_link(st->s->rms[role_idx], args[0].u.str, args[1].u.str, dom, out,
                                      err);
}

static const ts_expr *eval_lookup(void *ud, const char *text, size_t len)
{
    const decide_state *st = ud;
    uint32_t id;
    if (!ts_authz__strmap_get(&st->plan->eval_map, text, len, &id))
        return NULL;
    return st->plan->eval_exprs[id];
}

/* Casbin accepts a bool, or a number meaning "matched" when non-zero. */
static ts_status matched_of(const ts_val *v, bool *out, ts_error *err)
{
    if (v->kind == TS_VAL_BOOL) {
        *out = v->u.b;
        return TS_OK;
    }
    if (v->kind == TS_VAL_NUM) {
        *out = v->u.num != 0;
        return TS_OK;
    }
    return ts_error_set(err, TS_ETYPE, "matcher", "matcher result should be bool, int or float");
}

static eft eft_of(const ts_rule_set *rs, size_t i)
{
    if (rs->eft_idx == TS_NO_FIELD)
        return EFT_ALLOW;
    ts_str v = rs->fields[i * rs->nfields + rs->eft_idx];
    if (ts_str_eqz(v, "allow"))
        return EFT_ALLOW;
    if (ts_str_eqz(v, "deny"))
        return EFT_DENY;
    return EFT_INDETERMINATE;
}

static void format_request(char *buf, size_t cap, const ts_authz_arg *args, size_t n)
{
    size_t off = 0;
    int w = snprintf(buf, cap, "[");
    off = w > 0 ? (size_t)w : 0;
    for (size_t i = 0; i < n && off < cap; i++) {
        w = snprintf(buf + off, cap - off, "%s%.*s", i ? " " : "",
                     (int)(args[i].len > 64 ? 64 : args[i].len), args[i].ptr);
        if (w < 0)
            break;
        off += (size_t)w;
    }
    if (off < cap)
        snprintf(buf + off, cap - off, "]");
}

static char *explain_rule(const ts_plan *plan, size_t i)
{
    const ts_rule_set *rs = plan->rules;
    return ts_authz__rule_format(rs->def->key, rs->fields + i * rs->nfields, rs->nfields);
}

ts_status ts_authz__snapshot_decide(const ts_snapshot *s, const ts_plan *plan,
                                    const ts_authz_arg *args, size_t nargs, bool explain,
                                    ts_authz_decision *out, ts_error *err)
{
    out->allowed = false;
    out->has_rule = false;
    out->rule = NULL;
    if (!plan->expr) {
        const ts_error *ce = &plan->compile_error;
        return ts_error_set(err, ce->code ? ce->code : TS_EPARSE, ce->where, "%s", ce->msg);
    }
    if (nargs != plan->rdef->ntokens) {
        char list[256];
        format_request(list, sizeof list, args, nargs);
        return ts_error_set(err, TS_EINVAL, "request",
                            "invalid request size: expected %zu, got %zu, rvals: %s",
                            plan->rdef->ntokens, nargs, list);
    }
    ts_val req_stack[16];
    json_t *json_stack[16];
    ts_val *req = nargs <= 16 ? req_stack : calloc(nargs, sizeof *req);
    json_t **json = nargs <= 16 ? json_stack : calloc(nargs, sizeof *json);
    ts_status st = TS_OK;
    if (!req || !json) {
        st = ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
        goto out_nojson;
    }
    for (size_t i = 0; i < nargs; i++) {
        json[i] = NULL;
        if (!args[i].is_json) {
            req[i] = ts_val_str(args[i].ptr ? args[i].ptr : "", args[i].len);
            continue;
        }
        st = ts_authz__abac_json_decode(args[i].ptr, args[i].len, i + 1, &json[i], err);
        if (st != TS_OK) {
            for (size_t j = 0; j < i; j++)
                json_decref(json[j]);
            goto out_nojson;
        }
        req[i].kind = TS_VAL_JSON;
        req[i].u.json = json[i];
    }

    ts_arena scratch;
    ts_authz__arena_init(&scratch, 1024);
    decide_state ds = {s, plan};
    static const ts_str empty_fields[TS_AUTHZ_MAX_FIELDS];
    ts_expr_ctx ctx = {
        .req = req,
        .nreq = nargs,
        .rule = empty_fields,
        .nrule = plan->pdef->ntokens,
        .builtins = {s->regex, &scratch},
        .role = role_call,
        .eval_lookup = eval_lookup,
        .ud = &ds,
        .scratch = &scratch,
    };
    const ts_rule_set *rs = plan->rules;
    ts_effect_kind effect = plan->edef->effect;

    if (!plan->uses_rule || !rs || rs->n == 0) {
        /* Casbin evaluates once with every policy field empty and treats the result as a
         * matched rule whose effect is allow (true) or indeterminate (false). */
        ts_val v;
        bool m = false;
        st = ts_authz__expr_eval(plan->expr, &ctx, &v, err);
        if (st == TS_OK)
            st = matched_of(&v, &m, err);
        if (st == TS_OK)
            out->allowed = effect == TS_EFFECT_DENY_OVERRIDE ? true : m;
        goto out;
    }

    const uint32_t *cand = NULL;
    size_t ncand = 0;
    bool owned = false;
    uint32_t cand_buf[64];
    ts_role_memo memo;
    ts_authz__role_memo_init(&memo, s, plan, req, nargs);
    bool indexed =
        ts_authz__plan_candidates(plan, &memo, req, nargs, cand_buf, 64, &cand, &ncand, &owned);
    size_t total = indexed ? ncand : rs->n;
    bool any_allow = false;
    size_t allow_rule = 0;
    bool decided = false;
    for (size_t k = 0; k < total && !decided; k++) {
        size_t i = indexed ? cand[k] : k;
        bool m = false;
        if (memo.fast) {
            st = ts_authz__plan_fast_match(&memo, i, &m, err);
        } else {
            if (scratch.head) {
                /* Strings built while evaluating the previous rule are no longer referenced. */
                ts_authz__arena_cleanup(&scratch);
                ts_authz__arena_init(&scratch, 1024);
            }
            ctx.rule = rs->fields + i * rs->nfields;
            ctx.nrule = rs->nfields;
            ts_val v;
            st = ts_authz__expr_eval(plan->expr, &ctx, &v, err);
            if (st == TS_OK)
                st = matched_of(&v, &m, err);
        }
        if (st != TS_OK) {
            char where[120];
            const ts_policy_rule *r = rs->rules[i];
            if (r->origin)
                snprintf(where, sizeof where, "%s:%d", r->origin, r->line);
            else
                snprintf(where, sizeof where, "%s rule %zu", rs->def->key, i + 1);
            if (err && !err->where[0])
                snprintf(err->where, sizeof err->where, "%s", where);
            break;
        }
        if (!m)
            continue;
        eft e = eft_of(rs, i);
        switch (effect) {
        case TS_EFFECT_ALLOW_OVERRIDE:
            if (e == EFT_ALLOW) {
                out->allowed = true;
                out->has_rule = true;
                allow_rule = i;
                decided = true;
            }
            break;
        case TS_EFFECT_DENY_OVERRIDE:
            if (e == EFT_DENY) {
                out->allowed = false;
                out->has_rule = true;
                allow_rule = i;
                decided = true;
            }
            break;
        case TS_EFFECT_ALLOW_AND_DENY:
            if (e == EFT_DENY) {
                out->allowed = false;
                out->has_rule = true;
                allow_rule = i;
                decided = true;
            } else if (e == EFT_ALLOW && !any_allow) {
                any_allow = true;
                allow_rule = i;
            }
            break;
        case TS_EFFECT_PRIORITY:
        case TS_EFFECT_SUBJECT_PRIORITY:
            if (e != EFT_INDETERMINATE) {
                out->allowed = e == EFT_ALLOW;
                out->has_rule = true;
                allow_rule = i;
                decided = true;
            }
            break;
        }
    }
    ts_authz__role_memo_close(&memo);
    if (owned)
        free((void *)(uintptr_t)cand);
    if (st == TS_OK && !decided) {
        if (effect == TS_EFFECT_DENY_OVERRIDE) {
            out->allowed = true;
        } else if (effect == TS_EFFECT_ALLOW_AND_DENY && any_allow) {
            out->allowed = true;
            out->has_rule = true;
        }
    }
    if (st == TS_OK && explain && out->has_rule) {
        out->rule = explain_rule(plan, allow_rule);
        if (!out->rule)
            st = ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    }
out:
    ts_authz__arena_cleanup(&scratch);
    for (size_t i = 0; i < nargs; i++)
        json_decref(json[i]);
out_nojson:
    if (req != req_stack)
        free(req);
    if (json != json_stack)
        free(json);
    if (st != TS_OK) {
        out->allowed = false;
        out->has_rule = false;
    }
    return st;
}

static bool needs_quotes(const char *p, size_t n)
{
    if (n == 0)
        return false;
    if (p[0] == ' ' || p[0] == '\t' || p[0] == '#')
        return true;
    for (size_t i = 0; i < n; i++)
        if (p[i] == ',' || p[i] == '"' || p[i] == '\n' || p[i] == '\r')
            return true;
    return false;
}

char *ts_authz__rule_format(const char *ptype, const ts_str *fields, size_t n)
{
    size_t cap = strlen(ptype) + 1;
    for (size_t i = 0; i < n; i++)
        cap += 2 * fields[i].len + 4;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    size_t off = strlen(ptype);
    memcpy(buf, ptype, off);
    for (size_t i = 0; i < n; i++) {
        buf[off++] = ',';
        buf[off++] = ' ';
        if (needs_quotes(fields[i].ptr, fields[i].len)) {
            buf[off++] = '"';
            for (size_t j = 0; j < fields[i].len; j++) {
                if (fields[i].ptr[j] == '"')
                    buf[off++] = '"';
                buf[off++] = fields[i].ptr[j];
            }
            buf[off++] = '"';
        } else {
            memcpy(buf + off, fields[i].ptr, fields[i].len);
            off += fields[i].len;
        }
    }
    buf[off] = '\0';
    return buf;
}
