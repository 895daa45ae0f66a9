/* libFuzzer target: request path normalisation and the path/method and route mappers.
 * Input: first byte picks decoded/raw and the action style, then "METHOD path". */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tokensmith/authz_http.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool is_clean(const char *p, size_t n)
{
    /* A normalised path is rooted, has no empty, "." or ".." segments and no trailing '/'. */
    if (n == 0 || p[0] != '/' || strlen(p) != n)
        return false;
    if (n == 1)
        return true;
    if (p[n - 1] == '/')
        return false;
    const char *seg = p + 1;
    for (;;) {
        const char *end = strchr(seg, '/');
        size_t len = end ? (size_t)(end - seg) : strlen(seg);
        if (len == 0 || (len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return false;
        if (!end)
            return true;
        seg = end + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool decoded = (data[0] & 1) != 0;
    ts_authz_action_style style = (data[0] & 2) ? TS_AUTHZ_ACTION_REST : TS_AUTHZ_ACTION_LITERAL;
    const char *in = (const char *)data + 1;
    size_t n = size - 1;

    char out[TS_AUTHZ_HTTP_MAX_PATH + 1];
    size_t len = 0;
    ts_error err;
    ts_error_clear(&err);
    if (ts_authz_path_normalize(in, n, decoded, out, sizeof out, &len, &err) == TS_OK) {
        if (!is_clean(out, len))
            abort();
        /* Normalising a normalised path (as decoded text) changes nothing; a decoded "%3F"
         * would be read as a query start, so such paths are left out. */
        char again[TS_AUTHZ_HTTP_MAX_PATH + 1];
        size_t len2 = 0;
        if (!memchr(out, '?', len) &&
            (ts_authz_path_normalize(out, len, true, again, sizeof again, &len2, NULL) != TS_OK ||
             len2 != len || memcmp(again, out, len) != 0))
            abort();
    } else if (err.code == TS_OK) {
        abort(); /* a refusal always says why */
    }

    /* "METHOD path": the mappers see exactly the same rules. */
    char method[32];
    size_t sp = 0;
    while (sp < n && sp < sizeof method - 1 && in[sp] != ' ' && in[sp] != '\0')
        sp++;
    memcpy(method, in, sp);
    method[sp] = '\0';
    const char *path = sp < n ? in + sp + 1 : "";
    size_t plen = sp < n ? n - sp - 1 : 0;
    ts_authz_request req = {method, path, plen, decoded, NULL};
    ts_authz_mapping *m = malloc(sizeof *m);
    ts_authz_mapper *pm = ts_authz_mapper_path_new(style, NULL, NULL, NULL);
    static const ts_authz_route routes[] = {{"GET", "/nodes/:id", "metadata:nodes", NULL},
                                            {"*", "/boot/*", "boot:configs", NULL}};
    ts_authz_mapper *rm = ts_authz_mapper_routes_new(routes, 2, style, NULL, NULL, NULL);
    if (m && pm && rm) {
        ts_authz_map_status st = ts_authz_mapper_map(pm, &req, NULL, m, NULL);
        if (st == TS_AUTHZ_MAP_OK &&
            (!m->mapped || !m->object || !m->action || !is_clean(m->object, strlen(m->object))))
            abort();
        st = ts_authz_mapper_map(rm, &req, NULL, m, NULL);
        if (st == TS_AUTHZ_MAP_OK && m->mapped && (!m->object || !m->action))
            abort();
    }
    ts_authz_mapper_free(pm);
    ts_authz_mapper_free(rm);
    free(m);
    return 0;
}
