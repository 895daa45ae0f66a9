/* Runtime values of the matcher language (govaluate's types as Casbin uses them). */
#ifndef TS_AUTHZ_VALUE_H
#define TS_AUTHZ_VALUE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/str.h"

typedef enum ts_val_kind {
    TS_VAL_NULL = 0, /* JSON null or a missing attribute */
    TS_VAL_BOOL,
    TS_VAL_NUM, /* float64, as govaluate */
    TS_VAL_STR,
    TS_VAL_LIST, /* the right-hand side of `in (...)` */
    TS_VAL_JSON, /* a JSON object or array (jansson json_t *), for ABAC attribute access */
} ts_val_kind;

typedef struct ts_val {
    ts_val_kind kind;
    union {
        bool b;
        double num;
        ts_str str;
        struct {
            const struct ts_val *items;
            size_t n;
        } list;
        const void *json; /* const json_t *, borrowed from the request */
    } u;
} ts_val;

static inline ts_val ts_val_bool(bool b)
{
    ts_val v;
    v.kind = TS_VAL_BOOL;
    v.u.b = b;
    return v;
}

static inline ts_val ts_val_num(double d)
{
    ts_val v;
    v.kind = TS_VAL_NUM;
    v.u.num = d;
    return v;
}

static inline ts_val ts_val_str(const char *p, size_t n)
{
    ts_val v;
    v.kind = TS_VAL_STR;
    v.u.str.ptr = p;
    v.u.str.len = n;
    return v;
}

#endif
