/* authz's hook as it was called before the hooks were aligned: url before method and a
 * bool *proceed. Must NOT compile (hook_order.cmake), whatever the warning flags: a program
 * written for the old order would otherwise pass the URL as the method. */
#include <stdbool.h>
#include <stddef.h>

#include <tokensmith/authz_http.h>

int serve(const ts_authz_guard *g, struct MHD_Connection *c, const char *url, const char *method);

int serve(const ts_authz_guard *g, struct MHD_Connection *c, const char *url, const char *method)
{
    bool proceed = false;
    int r = ts_authz_mhd_check(g, c, url, method, &proceed);
    return proceed ? r : 0;
}
