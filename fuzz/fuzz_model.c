/* libFuzzer target: model.conf parsing, plus the escaping helpers on the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "model/escape.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ts_error err;
    ts_authz_model *m;
    char *s;
    ts_error_clear(&err);
    m = ts_authz_model_parse((const char *)data, size, "fuzz.conf", &err);
    if (m) {
        ts_authz_model *c = ts_authz__model_clone(m);
        /* Every definition must be well-formed for the compiler that consumes it. */
        for (size_t i = 0; i < m->m.n; i++)
            if (!m->m.defs[i].matcher)
                abort();
        for (size_t i = 0; i < m->p.n; i++)
            if (m->p.defs[i].ntokens == 0 || m->p.defs[i].ntokens > TS_AUTHZ_MAX_FIELDS)
                abort();
        for (size_t i = 0; i < m->g.n; i++)
            if (m->g.defs[i].g_arity < 2)
                abort();
        if (m->r.n == 0 || m->p.n == 0 || m->e.n == 0 || m->m.n == 0)
            abort();
        ts_authz_model_free(c);
        ts_authz_model_free(m);
    } else if (err.code == TS_OK) {
        abort(); /* a failure must say why */
    }
    if (size <= TS_AUTHZ_MAX_EXPR_BYTES) {
        s = ts_authz__model_escape_assertion((const char *)data, size);
        free(s);
        s = ts_authz__model_escape_matcher((const char *)data, size);
        free(s);
    }
    return 0;
}
