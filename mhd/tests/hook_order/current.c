/* The hooks as they are called now: (handle, conn, method, url, ...), one result type. Must
 * compile (hook_order.cmake). */
#include <stdbool.h>
#include <stddef.h>

#include <tokensmith/authn.h>
#include <tokensmith/authz_http.h>

int serve(const ts_authn_mhd *h, const ts_authz_guard *g, struct MHD_Connection *c, const char *url,
          const char *method);

int serve(const ts_authn_mhd *h, const ts_authz_guard *g, struct MHD_Connection *c, const char *url,
          const char *method)
{
    ts_authn_principal *p = NULL;
    ts_hook_result r = ts_authn_mhd_check(h, c, method, url, &p);
    if (r == TS_HOOK_CONTINUE)
        r = ts_authz_mhd_check(g, c, method, url);
    ts_authn_principal_free(p);
    return r == TS_HOOK_CONTINUE;
}
