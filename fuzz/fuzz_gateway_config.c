/* libFuzzer target: the `tokensmith gateway` configuration reader (tokenservice/gateway,
 * config_file.c) on arbitrary bytes as JSON, then the rules of ts_gateway_config_finish(). Any
 * input is either a configuration whose every string ends within its field and whose every
 * list is within its bound, or refused with a message that names the input; never a crash, a
 * leak or a read out of bounds. Deterministic: nothing is kept between inputs, no file is read. */
#define _POSIX_C_SOURCE 200809L

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gateway.h"
#include "gateway_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ENDS(field) (strnlen((field), sizeof(field)) < sizeof(field))

static void check(const ts_gateway_config *c)
{
    if (!ENDS(c->listen) || !ENDS(c->grpc_listen) || !ENDS(c->admin_listen) || !ENDS(c->issuer) ||
        !ENDS(c->home) || !ENDS(c->key_dir) || !ENDS(c->authz.mode) || !ENDS(c->authz.policy_dir) ||
        !ENDS(c->translate.audience) || !ENDS(c->http.prefix))
        __builtin_trap();
    if (c->n_trust > TS_GATEWAY_MAX_TRUST || c->authz.n_routes > TS_GATEWAY_MAX_ROUTES ||
        c->authz.n_scope_roles > TS_GATEWAY_MAX_SCOPE_ROLES ||
        c->authz.n_public_paths > TS_GATEWAY_MAX_PUBLIC_PATHS)
        __builtin_trap();
    for (size_t i = 0; i < c->n_trust; i++) {
        const ts_gateway_trust *t = &c->trust[i];
        if (!ENDS(t->issuer) || !ENDS(t->jwks_uri) || !t->issuer[0] || t->n_audiences == 0 ||
            t->n_audiences > TS_GATEWAY_MAX_AUDIENCES)
            __builtin_trap();
        for (size_t a = 0; a < t->n_audiences; a++)
            if (!ENDS(t->audiences[a]) || !t->audiences[a][0])
                __builtin_trap();
    }
    for (size_t i = 0; i < c->authz.n_routes; i++) {
        const ts_gateway_route *r = &c->authz.routes[i];
        if (!ENDS(r->method) || !ENDS(r->path) || !ENDS(r->object) || !r->object[0])
            __builtin_trap();
    }
    for (size_t i = 0; i < c->authz.n_public_paths; i++)
        if (!ENDS(c->authz.public_paths[i]) || c->authz.public_paths[i][0] != '/')
            __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ts_error err;
    ts_error_clear(&err);
    ts_gateway_config *c = ts_gateway_config_new(&err);
    if (!c)
        return 0;
    ts_status st = ts_gateway_config_load_json(c, "fuzz.json", (const char *)data, size, &err);
    if (st == TS_OK) {
        check(c);
        if (ts_gateway_config_finish(c, &err) == TS_OK) {
            check(c);
            if (!c->issuer[0] || !c->translate.audience[0] || c->n_trust == 0 || !c->key_dir[0])
                __builtin_trap();
        } else if (!err.msg[0]) {
            __builtin_trap();
        }
    } else if (!err.msg[0] || strcmp(err.where, "fuzz.json") != 0) {
        __builtin_trap(); /* a refusal always says why, naming the input */
    }
    ts_gateway_config_free(c);
    return 0;
}
