/* The guard entry point shared with the libmicrohttpd hook. */
#ifndef TS_AUTHZ_CONTRACT_GUARD_INTERNAL_H
#define TS_AUTHZ_CONTRACT_GUARD_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>

#include "contract/contract.h"

/** ts_authz_guard_check() plus the case of a principal callback that failed. */
ts_status ts_authz__guard_run(const ts_authz_guard *g, const ts_authz_request *req,
                              const ts_authz_principal *p, bool principal_failed,
                              ts_authz_outcome *out);

#endif
