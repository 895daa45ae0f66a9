/* Request path normalisation (the rules are in common/path.c) and method -> action names. */
#include <string.h>
#include <strings.h>

#include "common/path.h"
#include "contract/contract.h"

const char *ts_authz_rest_action(const char *method)
{
    if (!method)
        return NULL;
    if (strcasecmp(method, "GET") == 0 || strcasecmp(method, "HEAD") == 0)
        return "read";
    if (strcasecmp(method, "POST") == 0)
        return "create";
    if (strcasecmp(method, "PUT") == 0 || strcasecmp(method, "PATCH") == 0)
        return "update";
    if (strcasecmp(method, "DELETE") == 0)
        return "delete";
    return NULL;
}

/* The rules live in the private base layer, so that authn's public paths and this guard
   normalise with one definition. */
ts_status ts_authz_path_normalize(const char *path, size_t len, bool decoded, char *out, size_t cap,
                                  size_t *out_len, ts_error *err)
{
    if (!out || cap < 2)
        return ts_error_set(err, TS_EINVAL, "ts_authz_path_normalize", "output buffer too small");
    return ts_common__path_normalize(path, len, decoded, TS_AUTHZ_HTTP_MAX_PATH, out, cap, out_len,
                                     err);
}
