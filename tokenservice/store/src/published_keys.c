/* Published signing keys, front end: argument bounds, the check that a JWK holds public members
 * only, and the bounded listing. Token service replicas that do not share a key directory
 * publish their public keys here and serve the union of the unexpired ones (docs/store.md,
 * "Published keys"). The store does not parse JSON otherwise (it does not link a JSON library),
 * so the JWK check is a small scanner of the object's top-level member names. */
#define _POSIX_C_SOURCE 200809L
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

#define KEY_MAX_LIFETIME_S (INT64_C(10) * 366 * 86400)

/* Members a public JWK may carry (RFC 7517 §4, RFC 7518 §6.2.1, §6.3.1). Anything else is
 * refused: an unknown member could be a private one under another spelling ("\u0064"). */
static const char *const PUBLIC_MEMBERS[] = {"kty", "kid", "alg", "use",     "key_ops",
                                             "n",   "e",   "crv", "x",       "y",
                                             "x5c", "x5t", "x5u", "x5t#S256"};
/* Private members (RFC 7518 §6.2.2, §6.3.2, §6.4.1), named in the error. */
static const char *const PRIVATE_MEMBERS[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};

typedef struct scan {
    const char *p, *end;
} scan;

static void skip_ws(scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

/* A JSON string at s->p; its raw bytes between the quotes go to *start, *len (escapes kept).
 * Control characters are refused as JSON does. */
static bool scan_string(scan *s, const char **start, size_t *len)
{
    if (s->p >= s->end || *s->p != '"')
        return false;
    const char *b = ++s->p;
    while (s->p < s->end && *s->p != '"') {
        if ((unsigned char)*s->p < 0x20)
            return false;
        if (*s->p == '\\') {
            if (s->end - s->p < 2)
                return false;
            s->p++;
        }
        s->p++;
    }
    if (s->p >= s->end)
        return false;
    *start = b;
    *len = (size_t)(s->p - b);
    s->p++;
    return true;
}

/* Skip one value: a string, an array of values, a number or a literal. Objects are not
 * expected in a public JWK and are refused, which also bounds the nesting at one array. */
static bool skip_value(scan *s, int depth)
{
    skip_ws(s);
    if (s->p >= s->end)
        return false;
    const char *b;
    size_t l;
    if (*s->p == '"')
        return scan_string(s, &b, &l);
    if (*s->p == '[') {
        if (depth > 0)
            return false;
        s->p++;
        skip_ws(s);
        if (s->p < s->end && *s->p == ']') {
            s->p++;
            return true;
        }
        for (;;) {
            if (!skip_value(s, depth + 1))
                return false;
            skip_ws(s);
            if (s->p < s->end && *s->p == ',') {
                s->p++;
                continue;
            }
            if (s->p < s->end && *s->p == ']') {
                s->p++;
                return true;
            }
            return false;
        }
    }
    const char *start = s->p;
    while (s->p < s->end && ((*s->p >= '0' && *s->p <= '9') || (*s->p >= 'a' && *s->p <= 'z') ||
                             *s->p == '-' || *s->p == '+' || *s->p == '.' || *s->p == 'E'))
        s->p++;
    return s->p > start;
}

static bool name_in(const char *name, size_t len, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(list[i]) == len && memcmp(list[i], name, len) == 0)
            return true;
    return false;
}

/* Whether @p jwk is a JSON object of public JWK members only (with "kty"). */
static ts_status check_public_jwk(const char *jwk, size_t len, ts_error *err)
{
    scan s = {jwk, jwk + len};
    skip_ws(&s);
    if (s.p >= s.end || *s.p != '{')
        return ts_error_set(err, TS_EINVAL, "jwk", "the JWK must be a JSON object");
    s.p++;
    bool kty = false, first = true;
    for (;;) {
        skip_ws(&s);
        if (first && s.p < s.end && *s.p == '}') {
            s.p++;
            break;
        }
        const char *name;
        size_t nl;
        if (!scan_string(&s, &name, &nl))
            return ts_error_set(err, TS_EINVAL, "jwk", "the JWK is not valid JSON");
        if (name_in(name, nl, PRIVATE_MEMBERS, sizeof PRIVATE_MEMBERS / sizeof PRIVATE_MEMBERS[0]))
            return ts_error_set(err, TS_EINVAL, "jwk",
                                "refused: the JWK holds private key material (member \"%.*s\"); "
                                "publish the public key only",
                                (int)nl, name);
        if (!name_in(name, nl, PUBLIC_MEMBERS, sizeof PUBLIC_MEMBERS / sizeof PUBLIC_MEMBERS[0]))
            return ts_error_set(err, TS_EINVAL, "jwk",
                                "the JWK has a member that is not a public JWK member (\"%.*s\")",
                                (int)(nl > 32 ? 32 : nl), name);
        if (nl == 3 && memcmp(name, "kty", 3) == 0)
            kty = true;
        skip_ws(&s);
        if (s.p >= s.end || *s.p != ':')
            return ts_error_set(err, TS_EINVAL, "jwk", "the JWK is not valid JSON");
        s.p++;
        if (!skip_value(&s, 0))
            return ts_error_set(err, TS_EINVAL, "jwk",
                                "the JWK is not valid JSON or has a nested object");
        first = false;
        skip_ws(&s);
        if (s.p < s.end && *s.p == ',') {
            s.p++;
            continue;
        }
        if (s.p < s.end && *s.p == '}') {
            s.p++;
            break;
        }
        return ts_error_set(err, TS_EINVAL, "jwk", "the JWK is not valid JSON");
    }
    skip_ws(&s);
    if (s.p != s.end)
        return ts_error_set(err, TS_EINVAL, "jwk", "text after the JWK object");
    if (!kty)
        return ts_error_set(err, TS_EINVAL, "jwk", "the JWK has no \"kty\"");
    return TS_OK;
}

static ts_status check_token(const char *v, const char *field, size_t max, bool base64url,
                             ts_error *err)
{
    if (!v)
        return ts_error_set(err, TS_EINVAL, field, "%s is NULL", field);
    size_t n = strnlen(v, max + 1);
    if (n == 0 || n > max)
        return ts_error_set(err, TS_EINVAL, field, "%s must be 1..%zu characters", field, max);
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  (base64url && (c == '-' || c == '_'));
        if (!ok)
            return ts_error_set(err, TS_EINVAL, field,
                                base64url ? "%s must be base64url characters"
                                          : "%s must be letters and digits",
                                field);
    }
    return TS_OK;
}

ts_status ts_store_key_publish(ts_store *s, const char *kid, const char *alg, const char *jwk_json,
                               int64_t now, int64_t not_after, ts_error *err)
{
    if (!s)
        return ts_error_set(err, TS_EINVAL, "ts_store_key_publish", "store is NULL");
    const ts_store_backend_ops *ops = ts_store__ops(s);
    if (!ops->key_publish)
        return ts_error_set(err, TS_EUNSUPPORTED, "ts_store_key_publish",
                            "the %s backend does not store published keys", ops->name);
    ts_status st = ts_store__check_now(now, err);
    if (st == TS_OK)
        st = check_token(kid, "kid", TS_STORE_KEY_KID_MAX, true, err);
    if (st == TS_OK)
        st = check_token(alg, "alg", TS_STORE_KEY_ALG_MAX, false, err);
    if (st != TS_OK)
        return st;
    if (!jwk_json)
        return ts_error_set(err, TS_EINVAL, "jwk", "jwk is NULL");
    size_t len = strnlen(jwk_json, TS_STORE_KEY_JWK_MAX + 1);
    if (len > TS_STORE_KEY_JWK_MAX)
        return ts_error_set(err, TS_EINVAL, "jwk", "the JWK is longer than %d bytes",
                            TS_STORE_KEY_JWK_MAX);
    if ((st = check_public_jwk(jwk_json, len, err)) != TS_OK)
        return st;
    if (not_after <= now || not_after - now > KEY_MAX_LIFETIME_S)
        return ts_error_set(err, TS_EINVAL, "not_after",
                            "not_after must be after now and at most 10 years ahead");
    ts_store_published_key k = {kid, alg, jwk_json, now, now, not_after};
    return ops->key_publish(ts_store__impl(s), &k, err);
}

/* The listing is gathered first and handed out after the backend returned, so that the
 * caller's callback runs with no connection held and the bound is checked before any call. */
typedef struct key_row {
    ts_store_published_key k;
    char *strings;
} key_row;

typedef struct key_rows {
    key_row rows[TS_STORE_KEY_LIST_MAX + 1];
    size_t n;
    bool oom;
} key_rows;

static int gather(const ts_store_published_key *k, void *ud)
{
    key_rows *g = ud;
    if (g->n >= TS_STORE_KEY_LIST_MAX + 1)
        return 1;
    size_t a = strlen(k->kid) + 1, b = strlen(k->alg) + 1, c = strlen(k->jwk) + 1;
    char *buf = malloc(a + b + c);
    if (!buf) {
        g->oom = true;
        return 1;
    }
    memcpy(buf, k->kid, a);
    memcpy(buf + a, k->alg, b);
    memcpy(buf + a + b, k->jwk, c);
    key_row *r = &g->rows[g->n++];
    r->strings = buf;
    r->k = *k;
    r->k.kid = buf;
    r->k.alg = buf + a;
    r->k.jwk = buf + a + b;
    return 0;
}

ts_status ts_store_key_list(ts_store *s, int64_t now, ts_store_key_fn fn, void *ud, ts_error *err)
{
    if (!s || !fn)
        return ts_error_set(err, TS_EINVAL, "ts_store_key_list", "store or callback is NULL");
    const ts_store_backend_ops *ops = ts_store__ops(s);
    if (!ops->key_list)
        return ts_error_set(err, TS_EUNSUPPORTED, "ts_store_key_list",
                            "the %s backend does not store published keys", ops->name);
    ts_status st = ts_store__check_now(now, err);
    if (st != TS_OK)
        return st;
    key_rows *g = calloc(1, sizeof *g);
    if (!g)
        return ts_error_set(err, TS_ENOMEM, "ts_store_key_list", "out of memory");
    st = ops->key_list(ts_store__impl(s), now, TS_STORE_KEY_LIST_MAX + 1, gather, g, err);
    if (st == TS_OK && g->oom)
        st = ts_error_set(err, TS_ENOMEM, "ts_store_key_list", "out of memory");
    if (st == TS_OK && g->n > TS_STORE_KEY_LIST_MAX)
        st = ts_error_set(err, TS_ELIMIT, "published_keys",
                          "more than %u unexpired published keys; refusing to serve a JWKS that "
                          "large (remove stale rows or shorten their lifetime)",
                          TS_STORE_KEY_LIST_MAX);
    for (size_t i = 0; st == TS_OK && i < g->n; i++)
        if (fn(&g->rows[i].k, ud) != 0)
            break;
    for (size_t i = 0; i < g->n; i++)
        free(g->rows[i].strings);
    free(g);
    return st;
}
