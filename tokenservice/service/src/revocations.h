/* GET /oauth/revocations: the signed list of revoked jtis that verifiers poll (revocations.c). */
#ifndef TS_SVC_REVOCATIONS_H
#define TS_SVC_REVOCATIONS_H

#include "svc_internal.h"

/* Entries in one answer at most; beyond, "more": true and the client asks again from "seq". */
#define TS_SVC_REVOCATIONS_MAX 100000u
/* The typ of the answer's JWS header. */
#define TS_SVC_REVOCATIONS_TYP "revocation-list+jwt"

/* GET or HEAD /oauth/revocations[?since=SEQ]. */
enum MHD_Result ts_svc__revocations_endpoint(ts_svc *s, mhd_conn *conn, req *rq, const char *method,
                                             const char *path);

#endif
