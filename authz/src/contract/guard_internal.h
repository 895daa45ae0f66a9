/* The guard entry point shared with the libmicrohttpd hook. */
#ifndef TS_AUTHZ_CONTRACT_GUARD_INTERNAL_H
#define TS_AUTHZ_CONTRACT_GUARD_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>

#include "contract/contract.h"

/** Longest request id echoed into log lines and deny bodies. */
#define TS_AUTHZ__MAX_REQUEST_ID 128u

/**
 * @return @p id when it may be echoed into log lines and deny bodies: 1 to
 * TS_AUTHZ__MAX_REQUEST_ID bytes of visible ASCII (0x21-0x7E); otherwise NULL (ignored).
 */
const char *ts_authz__request_id(const char *id);

/** ts_authz_guard_check() plus the case of a principal callback that failed. */
ts_status ts_authz__guard_run(const ts_authz_guard *g, const ts_authz_request *req,
                              const ts_authz_principal *p, bool principal_failed,
                              ts_authz_outcome *out);

#endif
