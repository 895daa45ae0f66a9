/* libFuzzer target: compile the input as a matcher (request tokens r_a, r_b, r_c, rule token
 * p_x, role function g) and evaluate it once with fixed values. Checks that every failure
 * carries a message, that introspection stays in bounds and that results are well-formed. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ts_status role(void *ud, size_t idx, const ts_val *args, size_t nargs, bool *out,
                      ts_error *err)
{
    (void)ud;
    if (idx != 0 || nargs < 2)
        return ts_error_set(err, TS_EINVAL, "g", "g: expected at least 2 arguments");
    *out = args[0].kind == TS_VAL_STR && args[1].kind == TS_VAL_STR &&
           ts_str_eq(args[0].u.str, args[1].u.str);
    return TS_OK;
}

static void check_val(const ts_val *v, unsigned depth)
{
    if (depth > TS_AUTHZ_MAX_EXPR_DEPTH + 8)
        abort();
    switch (v->kind) {
    case TS_VAL_STR:
        if (v->u.str.len && !v->u.str.ptr)
            abort();
        /* touch every byte so that ASan sees dangling results */
        for (size_t i = 0; i < v->u.str.len; i++)
            if (v->u.str.ptr[i] == '\0' && v->u.str.len == (size_t)-1)
                abort();
        break;
    case TS_VAL_LIST:
        for (size_t i = 0; i < v->u.list.n; i++)
            check_val(&v->u.list.items[i], depth + 1);
        break;
    case TS_VAL_NULL:
    case TS_VAL_BOOL:
    case TS_VAL_NUM:
    case TS_VAL_JSON:
        break;
    default:
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const req_names[] = {"r_a", "r_b", "r_c"};
    static const char *const rule_names[] = {"p_x"};
    static const char *const role_names[] = {"g"};
    const ts_expr_names names = {req_names, 3, rule_names, 1, role_names, 1};
    ts_error err;
    ts_error_clear(&err);
    ts_expr *e = ts_authz__expr_compile((const char *)data, size, &names, &err);
    if (!e) {
        if (err.code == TS_OK || err.msg[0] == '\0')
            abort();
        return 0;
    }
    ts_expr_conj conj[4];
    size_t n = ts_authz__expr_conjuncts(e, conj, 4);
    for (size_t i = 0; i < n && i < 4; i++) {
        if (conj[i].kind == TS_CONJ_EQ && (conj[i].req_idx >= 3 || conj[i].rule_idx >= 1))
            abort();
        if (conj[i].kind == TS_CONJ_ROLE && conj[i].role_idx != 0)
            abort();
    }
    size_t fields[4];
    size_t nf = ts_authz__expr_eval_rule_fields(e, fields, 4);
    for (size_t i = 0; i < nf && i < 4; i++)
        if (fields[i] >= 1)
            abort();

    ts_arena scratch;
    ts_authz__arena_init(&scratch, 0);
    ts_regex_cache *rc = ts_authz__regex_cache_new(16);
    ts_val req[3] = {ts_val_str("alice", 5), ts_val_str("/data/1", 7), ts_val_str("read", 4)};
    ts_str rule[1] = {ts_str_c("r.a == 'alice'")};
    ts_expr_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.req = req;
    ctx.nreq = 3;
    ctx.rule = rule;
    ctx.nrule = 1;
    ctx.builtins.regex = rc;
    ctx.builtins.scratch = &scratch;
    ctx.role = role;
    ctx.scratch = &scratch;
    ts_val out;
    ts_error_clear(&err);
    ts_status st = ts_authz__expr_eval(e, &ctx, &out, &err);
    if (st == TS_OK)
        check_val(&out, 0);
    else if (err.code == TS_OK || err.msg[0] == '\0')
        abort();
    ts_authz__regex_cache_free(rc);
    ts_authz__arena_cleanup(&scratch);
    ts_authz__expr_free(e);
    return 0;
}
