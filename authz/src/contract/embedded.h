/* The baseline policy files, compiled in from policy/ (generated policy_embedded.c). */
#ifndef TS_AUTHZ_CONTRACT_EMBEDDED_H
#define TS_AUTHZ_CONTRACT_EMBEDDED_H

#include <stddef.h>

extern const unsigned char ts_authz__baseline_model[];
extern const size_t ts_authz__baseline_model_len;
extern const unsigned char ts_authz__baseline_policy[];
extern const size_t ts_authz__baseline_policy_len;
extern const unsigned char ts_authz__baseline_grouping[];
extern const size_t ts_authz__baseline_grouping_len;

#endif
