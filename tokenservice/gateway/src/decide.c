/* ts_gateway__check(): the one decision algorithm every front asks (docs/gateway.md,
 * "Decisions"). Order: bounds -> the client's x-tokensmith-* headers -> public path -> bearer
 * token -> issuer -> verification -> identity -> authorization -> translation.
 * Invariant: the only ALLOW verdicts are (a) a public path, whose Authorization is either
 * replaced by a translated token or removed, and (b) a token verified by its own issuer's
 * verifier and passed by the guard (or shadow/off mode), replaced by a translated token. Every
 * failure of the gateway itself is CANNOT_DECIDE (503), never an allow. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, strdup, strncasecmp */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/digest.h"
#include "common/json_writer.h"
#include "common/mem.h"
#include "core_internal.h"

#define METHOD_MAX 32u
#define PREFIX "x-tokensmith-"

typedef struct check {
    ts_gateway__core *core;
    const ts_gateway__input *in;
    ts_gateway__verdict *out;
    const char *request_id; /* x-request-id, NUL-terminated (the input's rule), or NULL */
    const ts_gateway__str *authorization;
    size_t n_forged;
    /* From here on, written before read (ts_gateway__check() zeroes only what is above). */
    /* The client's own x-tokensmith-* header names: removed upstream on allow. */
    const ts_gateway__str *forged[TS_GATEWAY__VERDICT_MAX_REMOVE];
    char path[TS_AUTHZ_HTTP_MAX_PATH + 1]; /* path without the query, for public paths */
} check;

static bool name_is(const ts_gateway__str *n, const char *z)
{
    size_t len = strlen(z);
    return n->len == len && strncasecmp(n->ptr, z, len) == 0;
}

static void cannot_decide(check *c, const char *reason)
{
    ts_gateway__verdict_cleanup(c->out); /* drops anything an allow had started */
    ts_gateway__verdict_decide(c->out, TS_GATEWAY__CANNOT_DECIDE, 503, reason);
}

static void deny(check *c, unsigned status, const char *body, size_t body_len,
                 const char *challenge, const char *reason)
{
    ts_gateway__verdict_cleanup(c->out);
    ts_gateway__verdict *v = c->out;
    static const char ct[] = "application/json; charset=utf-8";
    if ((body && (ts_gateway__verdict_set_body(v, body, body_len, NULL) != TS_OK ||
                  ts_gateway__verdict_add_header(v, "content-type", 12, ct, sizeof ct - 1, NULL) !=
                      TS_OK)) ||
        ts_gateway__verdict_add_header(v, "cache-control", 13, "no-store", 8, NULL) != TS_OK ||
        (challenge && ts_gateway__verdict_add_header(v, "www-authenticate", 16, challenge,
                                                     strlen(challenge), NULL) != TS_OK)) {
        cannot_decide(c, "cannot build the refusal");
        return;
    }
    ts_gateway__verdict_decide(v, TS_GATEWAY__DENY, status, reason);
}

/* A 400 for a request the gateway will not decide on (bounds, two Authorization lines, the
 * client's x-tokensmith-* headers with "reject"): authz.deny.v1 like every other refusal. */
static void bad_request(check *c, const char *message, const char *reason)
{
    char pv[TS_AUTHZ_POLICY_VERSION_LEN + 1];
    ts_gateway__core_policy_version(c->core, pv);
    ts_common__json w;
    ts_common__json_init(&w, TS_COMMON__JSON_UTF8);
    ts_common__json_open(&w);
    ts_common__json_kstr(&w, "schema_version", "authz.deny.v1");
    ts_common__json_kstr(&w, "code", "BAD_REQUEST");
    ts_common__json_kstr(&w, "message", message);
    ts_common__json_kstr(&w, "decision", "deny");
    ts_common__json_kstr(&w, "reason", reason);
    ts_common__json_kstr(&w, "mode", ts_authz_mode_name((ts_authz_mode)c->core->mode));
    ts_common__json_kstr(&w, "policy_version", pv);
    if (c->request_id)
        ts_common__json_kstr(&w, "request_id", c->request_id);
    ts_common__json_close(&w);
    ts_common__json_raw(&w, "\n", 1);
    size_t len = 0;
    char *body = ts_common__json_take(&w, &len);
    if (!body) {
        cannot_decide(c, "out of memory");
        return;
    }
    deny(c, 400, body, len, NULL, reason);
    free(body);
}

static void log_authn(check *c, ts_authn_reason r, const ts_authn_detail *d, const char *tok,
                      size_t tok_len)
{
    char hash[9] = "";
    if (tok_len)
        ts_common__sha256_prefix(tok, tok_len, hash);
    ts_common__json w;
    ts_common__json_init(&w, TS_COMMON__JSON_ASCII);
    ts_common__json_open(&w);
    ts_common__json_kstr(&w, "msg", "gateway.authn");
    ts_common__json_kstr(&w, "reason", ts_authn_reason_str(r));
    ts_common__json_kstr(&w, "kid", d->kid);
    ts_common__json_kstr(&w, "iss", d->iss);
    ts_common__json_kstr(&w, "token_sha256", hash);
    ts_common__json_kstr(&w, "front", c->in->front == TS_GATEWAY__FRONT_GRPC ? "grpc" : "http");
    if (c->request_id)
        ts_common__json_kstr(&w, "request_id", c->request_id);
    ts_common__json_close(&w);
    size_t len = 0;
    char *line = ts_common__json_take(&w, &len);
    if (line)
        c->core->log(line, len, c->core->log_ud);
    free(line);
}

/* 401 (or 503 when the keys cannot be had, the issuer's revocation list is stale and
 * fail-closed, or verification could not run: the gateway cannot decide, the token may be
 * good). */
static void refuse_authn(check *c, ts_authn_reason r)
{
    if (r == TS_AUTHN_KEYS_UNAVAILABLE || r == TS_AUTHN_INTERNAL ||
        r == TS_AUTHN_REVOCATIONS_UNAVAILABLE) {
        cannot_decide(c, r == TS_AUTHN_INTERNAL           ? "authn internal error"
                         : r == TS_AUTHN_KEYS_UNAVAILABLE ? "keys unavailable"
                                                          : "revocations unavailable");
        return;
    }
    ts_authn_refused_request rq = {c->in->method.ptr, c->in->method.len,
                                   c->in->path.ptr,   c->in->path.len,
                                   c->request_id,     c->request_id ? strlen(c->request_id) : 0};
    char *body = NULL, *challenge = NULL;
    size_t len = 0;
    if (ts_authn_refusal_body(r, &rq, &body, &len, NULL) != TS_OK ||
        ts_authn_refusal_challenge(r, NULL, &challenge, NULL) != TS_OK) {
        ts_free(body);
        cannot_decide(c, "cannot build the refusal");
        return;
    }
    char reason[64];
    snprintf(reason, sizeof reason, "authn: %s", ts_authn_reason_str(r));
    deny(c, 401, body, len, challenge, reason);
    ts_free(body);
    ts_free(challenge);
}

/* One piece of a normalised segment, between separators another server might see: '.' or
 * "%2e" per character. */
static bool dot_piece(const char *s, size_t n)
{
    size_t dots = 0;
    for (size_t i = 0; i < n; dots++) {
        if (s[i] == '.')
            i++;
        else if (n - i >= 3 && s[i] == '%' && s[i + 1] == '2' && (s[i + 2] | 0x20) == 'e')
            i += 3;
        else
            return false;
    }
    return dots == 1 || dots == 2;
}

/* The length of a separator at @p s that a server behind the proxy may honour although the
 * guard does not: a backslash, "%2F" (kept as data by the guard) and "%5C"; 0 for none. */
static size_t hidden_separator(const char *s, size_t n)
{
    if (s[0] == '\\')
        return 1;
    if (n >= 3 && s[0] == '%' &&
        ((s[1] == '2' && (s[2] | 0x20) == 'f') || (s[1] == '5' && (s[2] | 0x20) == 'c')))
        return 3;
    return 0;
}

/* Whether the path holds a dot segment that only a different reading would resolve: the guard
 * decides on the path with escapes decoded once and "%2F" kept as data, so "/public/..%2Fadmin"
 * and "/things/%252e%252e/admin" are under "/public" and "/things" to it; an upstream that
 * splits on encoded slashes or backslashes, or decodes twice, would serve "/admin". The
 * upstream is another parser (unlike a C service that runs the guard itself), so such a path
 * is refused rather than decided for one reading. A path that does not normalise counts too. */
static bool ambiguous_path(const char *path, size_t len)
{
    char norm[TS_AUTHZ_HTTP_MAX_PATH + 1];
    size_t n = 0;
    if (ts_authz_path_normalize(path, len, false, norm, sizeof norm, &n, NULL) != TS_OK)
        return true;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        size_t sep = i == n ? 1 : norm[i] == '/' ? 1 : hidden_separator(norm + i, n - i);
        if (!sep)
            continue;
        if (dot_piece(norm + start, i - start))
            return true;
        i += sep - 1;
        start = i + 1;
    }
    return false;
}

/* Step 1 and 2: shape and size of the request, one Authorization at most, the client's own
 * x-tokensmith-* headers. @return false when a verdict was given. */
static bool bounds(check *c)
{
    const ts_gateway__input *in = c->in;
    const ts_gateway_config *cfg = c->core->cfg;
    bool ok = in->method.len >= 1 && in->method.len <= METHOD_MAX;
    for (size_t i = 0; ok && i < in->method.len; i++)
        ok = in->method.ptr[i] > 0x20 && in->method.ptr[i] < 0x7f;
    if (!ok) {
        bad_request(c, "bad method", "invalid_request");
        return false;
    }
    if (in->path.len == 0 || in->path.ptr[0] != '/' || in->path.len > TS_AUTHZ_HTTP_MAX_PATH) {
        bad_request(c, "bad path", "invalid_request");
        return false;
    }
    /* The path without its query: what public paths match, and where a broken escape is
     * refused (the query is the upstream's business, the guard ignores it). */
    size_t plen = strcspn(in->path.ptr, "?");
    memcpy(c->path, in->path.ptr, plen);
    c->path[plen] = '\0';
    if (ts_authz_url_has_bad_escape(c->path)) {
        bad_request(c, "bad path", "invalid_request");
        return false;
    }
    if (ambiguous_path(c->path, plen)) {
        bad_request(c, "ambiguous path: a dot segment behind an encoded slash or escape",
                    "invalid_request");
        return false;
    }
    size_t bytes = 0, n_auth = 0;
    for (size_t i = 0; i < in->n_headers; i++) {
        const ts_gateway__header *h = &in->headers[i];
        bytes += h->name.len + h->value.len + 4;
        if (name_is(&h->name, "authorization")) {
            n_auth++;
            c->authorization = &h->value;
        } else if (name_is(&h->name, "x-request-id")) {
            c->request_id = h->value.ptr;
        } else if (h->name.len >= sizeof PREFIX - 1 &&
                   strncasecmp(h->name.ptr, PREFIX, sizeof PREFIX - 1) == 0) {
            if (c->n_forged == TS_GATEWAY__VERDICT_MAX_REMOVE) {
                bad_request(c, "too many x-tokensmith headers", "invalid_request");
                return false;
            }
            c->forged[c->n_forged++] = &h->name;
        }
    }
    if ((cfg->limits.max_headers && in->n_headers > cfg->limits.max_headers) ||
        (cfg->limits.max_header_bytes && bytes > cfg->limits.max_header_bytes)) {
        bad_request(c, "too many header bytes", "invalid_request");
        return false;
    }
    if (n_auth > 1 || in->authorization_repeated) {
        bad_request(c, "more than one Authorization header", "invalid_request");
        return false;
    }
    if (c->n_forged && strcmp(cfg->http.client_tokensmith_headers, "reject") == 0) {
        bad_request(c, "x-tokensmith-* headers are set by the gateway only", "invalid_request");
        return false;
    }
    return true;
}

/* The audience of the translated token: the route's (by the object the guard mapped), else
 * translate.audience. */
static const char *audience_of(const ts_gateway__core *core, const char *object)
{
    const ts_gateway_config *cfg = core->cfg;
    for (size_t i = 0; object && i < cfg->authz.n_routes; i++)
        if (cfg->authz.routes[i].audience[0] && strcmp(cfg->authz.routes[i].object, object) == 0)
            return cfg->authz.routes[i].audience;
    return cfg->translate.audience;
}

static ts_status add(ts_gateway__verdict *v, const char *name, const char *value, size_t len)
{
    return ts_gateway__verdict_add_header(v, name, strlen(name), value, len, NULL);
}

static bool header_safe(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(s[i] == '\t' || (s[i] >= 0x20 && s[i] < 0x7f)))
            return false;
    return true;
}

static bool is_set(const ts_gateway__verdict *v, const ts_gateway__str *name)
{
    for (size_t i = 0; i < v->n_headers; i++)
        if (name_is(name, v->headers[i].name))
            return true;
    return false;
}

/* Allow: the translated token (when there is one) and headers; the client's x-tokensmith-*
 * headers that the gateway does not set itself are removed. */
static void allow(check *c, const char *jwt, size_t jwt_len, const ts_gateway__identity *id,
                  const char *policy_version)
{
    ts_gateway__verdict *v = c->out;
    char *bearer = NULL;
    ts_status st = TS_OK;
    if (jwt) {
        size_t blen = jwt_len + 7;
        bearer = malloc(blen + 1);
        if (!bearer) {
            cannot_decide(c, "out of memory");
            return;
        }
        memcpy(bearer, "Bearer ", 7);
        memcpy(bearer + 7, jwt, jwt_len + 1);
        st = add(v, "authorization", bearer, blen);
        ts_common__memzero(bearer, blen);
        free(bearer);
        if (st == TS_OK && c->core->cfg->translate.headers) {
            char roles[4096];
            size_t rl = 0;
            for (size_t i = 0; i < id->n_roles && st == TS_OK; i++) {
                size_t n = strlen(id->roles[i]);
                if (rl + n + 2 > sizeof roles)
                    st = TS_ELIMIT;
                else {
                    if (i)
                        roles[rl++] = ',';
                    memcpy(roles + rl, id->roles[i], n);
                    rl += n;
                }
            }
            /* A subject or role that a header cannot carry (non-ASCII) is left out of the
             * headers (the token has it); the client's header of that name is then removed
             * below like any other x-tokensmith-* header. */
            if (st == TS_OK && header_safe(id->id, strlen(id->id)))
                st = add(v, "x-tokensmith-subject", id->id, strlen(id->id));
            /* No roles, no header (libmicrohttpd refuses an empty value; the client's own
             * x-tokensmith-roles is removed below). */
            if (st == TS_OK && rl && header_safe(roles, rl))
                st = add(v, "x-tokensmith-roles", roles, rl);
            if (st == TS_OK)
                st = add(v, "x-tokensmith-policy-version", policy_version, strlen(policy_version));
        }
    } else {
        /* A public path without a usable token: the upstream never sees a foreign token. */
        st = ts_gateway__verdict_add_remove(v, "authorization", 13, NULL);
    }
    for (size_t i = 0; st == TS_OK && i < c->n_forged; i++) {
        bool dup = is_set(v, c->forged[i]);
        for (size_t j = 0; !dup && j < v->n_remove; j++)
            dup = name_is(c->forged[i], v->remove[j]);
        if (!dup)
            st = ts_gateway__verdict_add_remove(v, c->forged[i]->ptr, c->forged[i]->len, NULL);
    }
    if (st != TS_OK) {
        cannot_decide(c, "cannot build the allow");
        return;
    }
    ts_gateway__verdict_decide(v, TS_GATEWAY__ALLOW, 200, jwt ? "allowed" : "public path");
}

/* Steps 4-7 for a request with a bearer token. @p public_path: no authorization, and any
 * failure to verify just removes the token. */
static void with_token(check *c, const char *tok, size_t tok_len, bool public_path)
{
    ts_gateway__core *core = c->core;
    const ts_gateway_trust *entry = NULL;
    ts_authn_principal *p = NULL;
    ts_authn_detail detail;
    memset(&detail, 0, sizeof detail);
    ts_authn_reason r =
        ts_gateway__trust_verify(core->trust, tok, tok_len, &entry, &p, &detail, NULL);
    ts_gateway__identity id;
    if (r == TS_AUTHN_OK)
        r = ts_gateway__identity_map(entry, p, (int64_t)time(NULL), &id, NULL);
    if (r != TS_AUTHN_OK) {
        /* Refused after its trust entry was found (keys unavailable, or by the identity rules
           once verified): the log names that issuer, which authn's detail then lacks. */
        if (!detail.iss[0] && entry && strlen(entry->issuer) < sizeof detail.iss)
            memcpy(detail.iss, entry->issuer, strlen(entry->issuer) + 1);
        log_authn(c, r, &detail, tok, tok_len);
        ts_authn_principal_free(p);
        if (public_path)
            allow(c, NULL, 0, NULL, NULL);
        else
            refuse_authn(c, r);
        return;
    }
    ts_authz_outcome oc;
    memset(&oc, 0, sizeof oc);
    char pv[TS_AUTHZ_POLICY_VERSION_LEN + 1];
    ts_gateway__core_policy_version(core, pv);
    const char *object = NULL;
    ts_authz_mapping *mapping = NULL;
    char **held = NULL; /* a Kubernetes caller's roles, which id.roles borrows */
    if (!public_path) {
        ts_authz_principal ap = ts_gateway__identity_authz(&id);
        ts_authz_request req = {c->in->method.ptr, c->in->path.ptr, c->in->path.len, false,
                                c->request_id};
        if (ts_authz_guard_check(core->guard, &req, &ap, &oc) != TS_OK) {
            cannot_decide(c, "authz out of memory");
            goto done;
        }
        if (!oc.proceed) {
            if (oc.status == 400 || oc.status == 401 || oc.status == 403)
                deny(c, oc.status, oc.body, oc.body_len, oc.status == 401 ? "Bearer" : NULL,
                     oc.reason ? oc.reason : "denied");
            else
                cannot_decide(c, "authz engine error");
            goto done;
        }
        if (oc.decided && oc.result.policy_version[0])
            memcpy(pv, oc.result.policy_version, sizeof pv);
        object = oc.object;
        /* Off mode maps nothing; the route's audience still applies. */
        if (!object && core->mapper && (mapping = malloc(sizeof *mapping)) != NULL &&
            ts_authz_mapper_map(core->mapper, &req, &ap, mapping, NULL) == TS_AUTHZ_MAP_OK &&
            mapping->mapped)
            object = mapping->object;
    }
    /* A Kubernetes caller's roles are the policy's, read after the decision from the policy
       then current; their version keys the translation cache, so a reload that changes the
       bindings re-signs instead of serving the old roles. */
    char rpv[TS_AUTHZ_POLICY_VERSION_LEN + 1];
    if (ts_gateway__identity_policy_roles(core->guard, &id, &held, rpv, NULL) != TS_OK) {
        cannot_decide(c, "cannot read the policy's roles");
        goto done;
    }
    char jwt[TS_GATEWAY__MAX_JWT + 1];
    size_t jlen = 0;
    if (ts_gateway__translate(core->translator, tok, tok_len, p, &id, audience_of(core, object),
                              held ? rpv : NULL, jwt, &jlen, NULL, NULL) != TS_OK)
        cannot_decide(c, "translation failed");
    else
        allow(c, jwt, jlen, &id, pv);
    ts_common__memzero(jwt, jlen);
done:
    ts_authz_roles_free(held);
    free(mapping);
    ts_authz_outcome_cleanup(&oc);
    ts_authn_principal_free(p);
}

static bool bearer_scheme(const ts_gateway__str *v)
{
    return v->len >= 7 && strncasecmp(v->ptr, "bearer ", 7) == 0;
}

static void decide(check *c)
{
    if (!bounds(c))
        return;
    const char *tok = NULL;
    size_t tok_len = 0;
    bool has_token =
        c->authorization &&
        ts_authn_parse_bearer(c->authorization->ptr, c->authorization->len, &tok, &tok_len);
    if (c->core->public_paths && ts_authn_mhd_is_public(c->core->public_paths, c->path)) {
        if (has_token)
            with_token(c, tok, tok_len, true);
        else
            allow(c, NULL, 0, NULL, NULL);
        return;
    }
    if (!has_token) {
        /* A Bearer credential we cannot parse is an invalid token; no credentials (or another
         * scheme) is a missing one (RFC 6750 §3.1: no error attribute then). */
        refuse_authn(c, c->authorization && bearer_scheme(c->authorization)
                            ? TS_AUTHN_MALFORMED
                            : TS_AUTHN_MISSING_TOKEN);
        return;
    }
    with_token(c, tok, tok_len, false);
}

void ts_gateway__check(const ts_gateway__input *in, ts_gateway__verdict *out, void *ud)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ts_gateway__verdict_cleanup(out); /* CANNOT_DECIDE until a step says otherwise */
    if (!in || !ud)
        return;
    /* On the stack, and only the members before the path buffers zeroed: bounds() fills what
       it reads of the rest. A cached check costs a few microseconds; zeroing 6 KiB of heap
       for each was a visible part of it. */
    check c;
    memset(&c, 0, offsetof(check, forged));
    c.core = ud;
    c.in = in;
    c.out = out;
    decide(&c);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int64_t us = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
    ts_gateway__core *core = ud;
    ts_gateway__metrics_record(&core->metrics, in->front, core->mode, out->decision,
                               us > 0 ? (uint64_t)us : 0);
}
