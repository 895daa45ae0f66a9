/* The authorizer's registered functions (ts_authz_authorizer_options.functions): its own copy,
 * registered on every enforcer it builds, the first one and every reload's. */
#include <stdlib.h>
#include <string.h>

#include "contract/authorizer_state.h"

/* Copy the registrations, their descriptors and names: reloads build enforcers long after the
 * caller's options are gone. A bad descriptor is reported by the first enforcer built. */
ts_status ts_authz__authorizer_copy_functions(ts_authz_authorizer *a,
                                              const ts_authz_function_reg *fns, size_t n,
                                              ts_error *err)
{
    if (n == 0)
        return TS_OK;
    if (!fns)
        return ts_error_set(err, TS_EINVAL, "functions", "n_functions is %zu but functions is NULL",
                            n);
    if (n > TS_AUTHZ_MAX_FUNCTIONS)
        return ts_error_set(err, TS_ELIMIT, "functions", "%zu functions (at most %u)", n,
                            TS_AUTHZ_MAX_FUNCTIONS);
    a->fns = calloc(n, sizeof *a->fns);
    a->fn_descs = calloc(n, sizeof *a->fn_descs);
    a->fn_names = calloc(n, sizeof *a->fn_names);
    if (!a->fns || !a->fn_descs || !a->fn_names)
        return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    a->nfns = n;
    for (size_t i = 0; i < n; i++) {
        if (!fns[i].desc)
            return ts_error_set(err, TS_EINVAL, "functions", "functions[%zu].desc is NULL", i);
        a->fn_descs[i] = *fns[i].desc;
        if (fns[i].desc->name) {
            size_t len = strlen(fns[i].desc->name) + 1;
            if (!(a->fn_names[i] = malloc(len)))
                return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
            memcpy(a->fn_names[i], fns[i].desc->name, len);
            a->fn_descs[i].name = a->fn_names[i];
        }
        a->fns[i].desc = &a->fn_descs[i];
        a->fns[i].ud = fns[i].ud;
    }
    return TS_OK;
}

void ts_authz__authorizer_free_functions(ts_authz_authorizer *a)
{
    for (size_t i = 0; a->fn_names && i < a->nfns; i++)
        free(a->fn_names[i]);
    free(a->fn_names);
    free(a->fn_descs);
    free(a->fns);
    a->fn_names = NULL;
    a->fn_descs = NULL;
    a->fns = NULL;
    a->nfns = 0;
}
