/* GET /health: real readiness (the store answers and a signing key is loaded). */
#define _GNU_SOURCE

#include "svc_internal.h"

enum MHD_Result ts_svc__health(ts_svc *s, struct MHD_Connection *conn, req *rq, const char *method,
                               const char *path)
{
    ts_error e;
    ts_error_clear(&e);
    ts_status st = ts_store_check(s->store, false, &e);
    const ts_jwk *k = ts_svc_keyring_active(s->keys);
    json_t *doc = json_object();
    bool ok = st == TS_OK && k != NULL;
    json_object_set_new(doc, "status", json_string(ok ? "healthy" : "unhealthy"));
    json_object_set_new(doc, "service", json_string("tokensmith"));
    json_object_set_new(doc, "issuer", json_string(s->cfg.issuer));
    json_object_set_new(doc, "cluster_id", json_string(s->cfg.cluster_id));
    json_object_set_new(doc, "openchami_id", json_string(s->cfg.openchami_id));
    json_object_set_new(doc, "key", json_string(k ? ts_jwk_kid(k) : "missing"));
    json_object_set_new(doc, "store", json_string(st == TS_OK ? "ok" : e.msg));
    return ts_svc__send_json(s, conn, rq, method, path, ok ? 200 : 503, doc, "no-store", NULL);
}
