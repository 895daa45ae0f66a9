/* oom.authz: what its two case files share. */
#ifndef TS_TEST_OOM_AUTHZ_H
#define TS_TEST_OOM_AUTHZ_H

#include "oom.h"

#include <tokensmith/authz.h>

/** Write @p text to @p path (setup, without failures). */
void oom_authz_write_text(const char *path, const char *text);

/** Decide @p args with @p e: the answer must be @p want, or a clean refusal. */
oom_result oom_authz_decide(const ts_authz_enforcer *e, const char *const *args, size_t n,
                            bool want);

/** The contract's cases (oom_authz_contract.c). */
extern const oom_case oom_authz_contract_cases[];
extern const size_t oom_authz_contract_ncases;

#endif
