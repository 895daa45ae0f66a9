#define _POSIX_C_SOURCE 200809L
/* The token verifier: compact JWS tokens checked against the rule set verifier_new.c built. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "revocations_internal.h"
#include "verifier_internal.h"
#include "jose/jose_internal.h"

/* ---- verification ------------------------------------------------------------------------- */

typedef struct vctx {
    ts_error *err;
    ts_authn_detail *detail;
} vctx;

static TS_PRINTF(4, 5) ts_authn_reason
    reject(vctx *c, ts_authn_reason r, const char *where, const char *fmt, ...)
{
    if (c->err) { /* one rejection per call: it replaces whatever the record held */
        va_list ap;
        c->err->code = r == TS_AUTHN_INTERNAL ? TS_EINTERNAL : TS_EINVAL;
        va_start(ap, fmt);
        vsnprintf(c->err->msg, sizeof c->err->msg, fmt, ap);
        va_end(ap);
        snprintf(c->err->where, sizeof c->err->where, "%s", where);
    }
    return r;
}

/* A failure of ours, not the token's: internal_error, with @p st (TS_ENOMEM, ...) as the code. */
static ts_authn_reason fail_internal(vctx *c, ts_status st, const char *where, const char *msg)
{
    reject(c, TS_AUTHN_INTERNAL, where, "%s", msg);
    if (c->err)
        c->err->code = st;
    return TS_AUTHN_INTERNAL;
}

/* Copy attacker-controlled text for logs: printable ASCII only, truncated. */
static void safe_copy(char *dst, size_t cap, const char *src, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < cap; i++) {
        unsigned char ch = (unsigned char)src[i];
        dst[o++] = (ch >= 0x20 && ch < 0x7F && ch != '"' && ch != '\\') ? (char)ch : '?';
    }
    dst[o] = 0;
}

static bool typ_matches(const char *typ, const char *want)
{
    /* RFC 7515 §4.1.9: media types compare case-insensitively; "application/" may be omitted. */
    if (strncasecmp(typ, "application/", 12) == 0)
        typ += 12;
    return strcasecmp(typ, want) == 0;
}

static bool is_thumbprint_kid(const char *kid, size_t len)
{
    uint8_t buf[33];
    size_t n = 0;
    return len == TS_JOSE_THUMBPRINT_LEN &&
           ts_authn__b64url_decode_buf(kid, len, buf, sizeof buf, &n) && n == 32;
}

/* NumericDate claims: integers only (TokenSmith issues whole seconds; see docs/authn.md). */
static ts_authn_reason int_claim(vctx *c, const json_t *claims, const char *name, bool required,
                                 int64_t *out, bool *present)
{
    json_t *j = json_object_get(claims, name);
    *present = j != NULL;
    if (!j)
        return required ? reject(c, TS_AUTHN_MISSING_CLAIM, name, "claim \"%s\" is required", name)
                        : TS_AUTHN_OK;
    if (!json_is_integer(j))
        return reject(c, TS_AUTHN_INVALID_CLAIM, name,
                      "claim \"%s\" must be an integer NumericDate", name);
    *out = (int64_t)json_integer_value(j);
    return TS_AUTHN_OK;
}

/* a - b, saturated to the int64_t range (*overflow says so). exp, nbf and iat are chosen by
   whoever signed the token and may be anywhere in the 64-bit range, as may a test clock: time
   values are never added to or subtracted from each other directly. Comparisons of the
   saturated difference with a small non-negative bound (the leeway, 24 h) stay exact. */
static int64_t time_diff(int64_t a, int64_t b, bool *overflow)
{
    *overflow = b < 0 ? a > INT64_MAX + b : a < INT64_MIN + b;
    if (*overflow)
        return b < 0 ? INT64_MAX : INT64_MIN;
    return a - b;
}

static bool nonempty_str(const json_t *j)
{
    return json_is_string(j) && json_string_length(j) > 0;
}

static bool nonempty_str_array(const json_t *j)
{
    if (!json_is_array(j) || json_array_size(j) == 0)
        return false;
    size_t i;
    json_t *e;
    json_array_foreach(j, i, e)
    {
        if (!nonempty_str(e))
            return false;
    }
    return true;
}

static ts_authn_reason check_nist(vctx *c, const json_t *claims, int64_t iat, bool has_iat)
{
    static const char *const names[] = {"auth_level", "auth_factors", "auth_methods",
                                        "session_id", "session_exp",  "auth_events"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!json_object_get(claims, names[i]))
            return reject(c, TS_AUTHN_MISSING_CLAIM, names[i], "claim \"%s\" is required",
                          names[i]);
    if (!nonempty_str(json_object_get(claims, "auth_level")) ||
        !nonempty_str(json_object_get(claims, "session_id")))
        return reject(c, TS_AUTHN_INVALID_CLAIM, "auth_level",
                      "auth_level and session_id must be non-empty strings");
    json_t *f = json_object_get(claims, "auth_factors");
    if (!json_is_integer(f) || json_integer_value(f) < 2)
        return reject(c, TS_AUTHN_INVALID_CLAIM, "auth_factors",
                      "auth_factors must be an integer of at least 2");
    if (!nonempty_str_array(json_object_get(claims, "auth_methods")) ||
        !nonempty_str_array(json_object_get(claims, "auth_events")))
        return reject(c, TS_AUTHN_INVALID_CLAIM, "auth_methods",
                      "auth_methods and auth_events must be non-empty string arrays");
    json_t *se = json_object_get(claims, "session_exp");
    if (!json_is_integer(se) || json_integer_value(se) == 0)
        return reject(c, TS_AUTHN_INVALID_CLAIM, "session_exp",
                      "session_exp must be a non-zero integer");
    if (!has_iat)
        return reject(c, TS_AUTHN_MISSING_CLAIM, "iat", "claim \"iat\" is required");
    bool ov;
    if (time_diff((int64_t)json_integer_value(se), iat, &ov) > 86400)
        return reject(c, TS_AUTHN_INVALID_CLAIM, "session_exp",
                      "session_exp is more than 24 h after iat");
    return TS_AUTHN_OK;
}

/* A Kubernetes legacy Secret-based token, when the verifier takes them: the legacy issuer and
   the flat account claims, without the projected token's nested object (authn_kubernetes.h
   reads the account the same way). Only the shape: the signature was checked already. */
static bool legacy_k8s(const ts_authn_verifier *v, const json_t *claims)
{
    const json_t *iss = json_object_get(claims, "iss");
    return v->legacy_k8s_iss && json_is_string(iss) &&
           strlen(v->legacy_k8s_iss) == json_string_length(iss) &&
           memcmp(v->legacy_k8s_iss, json_string_value(iss), json_string_length(iss)) == 0 &&
           json_object_get(claims, "kubernetes.io/serviceaccount/namespace") &&
           !json_object_get(claims, "kubernetes.io");
}

static ts_authn_reason check_claims(const ts_authn_verifier *v, vctx *c, const json_t *claims,
                                    int64_t now, int64_t *exp_out)
{
    ts_authn_reason r;
    int64_t exp = 0, nbf = 0, iat = 0;
    bool has_exp, has_nbf, has_iat;
    /* Legacy tokens never carry exp or aud; one that does still has them judged. */
    bool legacy = legacy_k8s(v, claims);
    if ((r = int_claim(c, claims, "exp", !legacy, &exp, &has_exp)) ||
        (r = int_claim(c, claims, "nbf", false, &nbf, &has_nbf)) ||
        (r = int_claim(c, claims, "iat", false, &iat, &has_iat)))
        return r;
    json_t *iss = json_object_get(claims, "iss");
    if (json_is_string(iss) && c->detail)
        safe_copy(c->detail->iss, sizeof c->detail->iss, json_string_value(iss),
                  json_string_length(iss));
    /* now >= exp + leeway, now + leeway < nbf and iat > now + leeway, without overflow. */
    bool ov = false;
    int64_t d = has_exp ? time_diff(now, exp, &ov) : 0;
    if (has_exp && d >= v->leeway)
        return ov ? reject(c, TS_AUTHN_EXPIRED, "exp", "token expired (exp %lld is out of range)",
                           (long long)exp)
                  : reject(c, TS_AUTHN_EXPIRED, "exp", "token expired %lld s ago", (long long)d);
    if (has_nbf && (d = time_diff(nbf, now, &ov)) > v->leeway)
        return ov ? reject(c, TS_AUTHN_NOT_YET_VALID, "nbf",
                           "token not valid yet (nbf %lld is out of range)", (long long)nbf)
                  : reject(c, TS_AUTHN_NOT_YET_VALID, "nbf", "token not valid for another %lld s",
                           (long long)d);
    if (has_iat && (d = time_diff(iat, now, &ov)) > v->leeway)
        return ov ? reject(c, TS_AUTHN_NOT_YET_VALID, "iat",
                           "token issued in the future (iat %lld is out of range)", (long long)iat)
                  : reject(c, TS_AUTHN_NOT_YET_VALID, "iat", "token issued %lld s in the future",
                           (long long)d);
    if (!iss)
        return reject(c, TS_AUTHN_MISSING_CLAIM, "iss", "claim \"iss\" is required");
    if (!json_is_string(iss))
        return reject(c, TS_AUTHN_INVALID_CLAIM, "iss", "claim \"iss\" must be a string");
    bool iss_ok = legacy;
    for (size_t i = 0; i < v->issuers.n && !iss_ok; i++)
        iss_ok = strlen(v->issuers.v[i]) == json_string_length(iss) &&
                 memcmp(v->issuers.v[i], json_string_value(iss), json_string_length(iss)) == 0;
    if (!iss_ok)
        return reject(c, TS_AUTHN_WRONG_ISSUER, "iss", "issuer is not trusted");
    json_t *aud = json_object_get(claims, "aud");
    if (!aud && !legacy)
        return reject(c, TS_AUTHN_MISSING_CLAIM, "aud", "claim \"aud\" is required");
    bool aud_ok = !aud;
    if (!aud) {
        /* a legacy token: bound to no audience */
    } else if (json_is_string(aud)) {
        for (size_t i = 0; i < v->audiences.n && !aud_ok; i++)
            aud_ok = strcmp(v->audiences.v[i], json_string_value(aud)) == 0 &&
                     strlen(v->audiences.v[i]) == json_string_length(aud);
    } else if (json_is_array(aud)) {
        size_t i;
        json_t *e;
        json_array_foreach(aud, i, e)
        {
            if (!json_is_string(e))
                return reject(c, TS_AUTHN_INVALID_CLAIM, "aud",
                              "claim \"aud\" must be a string or an array of strings");
            for (size_t k = 0; k < v->audiences.n && !aud_ok; k++)
                aud_ok = strcmp(v->audiences.v[k], json_string_value(e)) == 0 &&
                         strlen(v->audiences.v[k]) == json_string_length(e);
        }
    } else {
        return reject(c, TS_AUTHN_INVALID_CLAIM, "aud",
                      "claim \"aud\" must be a string or an array of strings");
    }
    if (!aud_ok)
        return reject(c, TS_AUTHN_WRONG_AUDIENCE, "aud", "token is not meant for this audience");
    json_t *sub = json_object_get(claims, "sub");
    if (!sub)
        return reject(c, TS_AUTHN_MISSING_CLAIM, "sub", "claim \"sub\" is required");
    if (!nonempty_str(sub))
        return reject(c, TS_AUTHN_INVALID_CLAIM, "sub", "claim \"sub\" must be a non-empty string");
    for (size_t i = 0; i < v->required.n; i++) {
        json_t *j = json_object_get(claims, v->required.v[i]);
        if (!j || json_is_null(j))
            return reject(c, TS_AUTHN_MISSING_CLAIM, v->required.v[i], "claim \"%s\" is required",
                          v->required.v[i]);
    }
    if (v->nist && (r = check_nist(c, claims, iat, has_iat)))
        return r;
    if (v->reject_local_mint) {
        /* Break-glass tokens: whatever else they say, this verifier does not accept them. The
           service marks each one with "break_glass": true whatever its NIST setting; anything
           but false there is refused (fail closed). Older services only put local_user_mint
           in auth_methods, and only with NIST claims on. */
        json_t *bg = json_object_get(claims, "break_glass");
        if (bg && !json_is_false(bg))
            return reject(c, TS_AUTHN_INVALID_CLAIM, "break_glass",
                          json_is_true(bg) ? "break-glass tokens are refused"
                                           : "break-glass tokens are refused (\"break_glass\" "
                                             "is not a boolean)");
        json_t *m = json_object_get(claims, "auth_methods");
        size_t i;
        json_t *e;
        json_array_foreach(m, i, e)
        {
            const char *sv = json_string_value(e);
            if (sv && strcmp(sv, "local_user_mint") == 0)
                return reject(c, TS_AUTHN_INVALID_CLAIM, "auth_methods",
                              "locally minted (break-glass) tokens are refused");
        }
    }
    *exp_out = exp;
    return TS_AUTHN_OK;
}

static int64_t clock_now(const ts_authn_verifier *v)
{
    return v->now ? v->now(v->now_ud) : (int64_t)time(NULL);
}

int64_t ts_authn__verifier_now(const ts_authn_verifier *v)
{
    return clock_now(v);
}

const ts_authn_requirement *ts_authn__verifier_requirement(const ts_authn_verifier *v)
{
    return &v->req;
}

/* Everything that the slow path allocates, released in one place. */
typedef struct work {
    uint8_t *buf;
    json_t *hdr, *claims;
    ts_jwks *remote;
} work;

static ts_authn_reason verify_slow(const ts_authn_verifier *v, vctx *c, const char *tok, size_t len,
                                   int64_t now, work *w, ts_authn_principal **out)
{
    const char *d1 = memchr(tok, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
    if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok)))
        return reject(c, TS_AUTHN_MALFORMED, "token", "a compact JWS has exactly three parts");
    size_t hl = (size_t)(d1 - tok), pl = (size_t)(d2 - d1 - 1), sl = len - (size_t)(d2 + 1 - tok);
    if (hl == 0 || pl == 0)
        return reject(c, TS_AUTHN_MALFORMED, "token", "empty header or payload");
    size_t hmax = ts_authn__b64url_decoded_max(hl), pmax = ts_authn__b64url_decoded_max(pl),
           smax = ts_authn__b64url_decoded_max(sl);
    w->buf = malloc(hmax + pmax + smax + 3);
    if (!w->buf)
        return fail_internal(c, TS_ENOMEM, "token", "out of memory");
    uint8_t *hb = w->buf, *pb = hb + hmax + 1, *sb = pb + pmax + 1;
    size_t hn = 0, pn = 0, sn = 0;

    /* Header. */
    if (!ts_authn__b64url_decode_buf(tok, hl, hb, hmax, &hn))
        return reject(c, TS_AUTHN_MALFORMED, "header", "header is not strict base64url");
    ts_error je;
    ts_error_clear(&je);
    w->hdr = ts_authn__json_parse_object((const char *)hb, hn, TS_AUTHN__MAX_HEADER_BYTES, "header",
                                         &je);
    if (!w->hdr && je.code == TS_ENOMEM)
        return fail_internal(c, TS_ENOMEM, "header", je.msg);
    if (!w->hdr)
        return reject(c, TS_AUTHN_MALFORMED, "header", "%s", je.msg);
    /* Every segment must be strict base64url before anything else is judged. */
    if (!ts_authn__b64url_decode_buf(d1 + 1, pl, pb, pmax, &pn))
        return reject(c, TS_AUTHN_MALFORMED, "payload", "payload is not strict base64url");
    json_t *alg_j = json_object_get(w->hdr, "alg");
    if (!json_is_string(alg_j))
        return reject(c, TS_AUTHN_MALFORMED, "header.alg", "header has no string \"alg\"");
    if (c->detail)
        safe_copy(c->detail->alg, sizeof c->detail->alg, json_string_value(alg_j),
                  json_string_length(alg_j));
    ts_jws_alg alg = ts_jws_alg_parse(json_string_value(alg_j), json_string_length(alg_j));
    if (alg == TS_JWS_ALG_UNKNOWN || !(v->algs & TS_JWS_ALG_BIT(alg)))
        return reject(c, TS_AUTHN_ALG_NOT_ALLOWED, "header.alg",
                      "algorithm \"%.16s\" is not allowed",
                      c->detail ? c->detail->alg : json_string_value(alg_j));
    if (json_object_get(w->hdr, "crit"))
        return reject(c, TS_AUTHN_CRIT_UNSUPPORTED, "header.crit",
                      "critical header extensions are not supported");
    json_t *typ = json_object_get(w->hdr, "typ");
    if (typ) {
        if (!json_is_string(typ))
            return reject(c, TS_AUTHN_WRONG_TYP, "header.typ", "\"typ\" must be a string");
        bool ok = false;
        for (size_t i = 0; i < v->typs.n && !ok; i++)
            ok = typ_matches(json_string_value(typ), v->typs.v[i]);
        if (!ok)
            return reject(c, TS_AUTHN_WRONG_TYP, "header.typ", "token type is not accepted");
    } else if (v->require_typ) {
        return reject(c, TS_AUTHN_WRONG_TYP, "header.typ", "header has no \"typ\"");
    }
    json_t *kid_j = json_object_get(w->hdr, "kid");
    if (!kid_j)
        return reject(c, TS_AUTHN_BAD_KID, "header.kid", "header has no \"kid\"");
    if (!json_is_string(kid_j))
        return reject(c, TS_AUTHN_BAD_KID, "header.kid", "\"kid\" must be a string");
    const char *kid = json_string_value(kid_j);
    size_t kid_len = json_string_length(kid_j);
    if (c->detail)
        safe_copy(c->detail->kid, sizeof c->detail->kid, kid, kid_len);
    if (kid_len == 0 || kid_len > TS_JOSE_MAX_KID_BYTES || strlen(kid) != kid_len)
        return reject(c, TS_AUTHN_BAD_KID, "header.kid", "\"kid\" is empty, too long or has NUL");
    if (v->rfc7638_kid && !is_thumbprint_kid(kid, kid_len))
        return reject(c, TS_AUTHN_BAD_KID, "header.kid", "\"kid\" is not an RFC 7638 thumbprint");

    /* Key: static keys first, then the key source, refetching once on an unknown kid. */
    const ts_jwk *key = ts_jwks_find(v->keys, kid, kid_len);
    bool no_keys = false;
    if (!key && v->ks) {
        ts_error ke;
        ts_error_clear(&ke);
        w->remote = ts_authn_keysource_keys(v->ks, &ke);
        key = ts_jwks_find(w->remote, kid, kid_len);
        if (!key) {
            ts_jwks_free(w->remote);
            w->remote = ts_authn_keysource_keys_for_unknown_kid(v->ks, &ke);
            key = ts_jwks_find(w->remote, kid, kid_len);
        }
        no_keys = !w->remote && ts_jwks_count(v->keys) == 0;
        if (!key && no_keys)
            return reject(c, TS_AUTHN_KEYS_UNAVAILABLE, "keys", "no verification keys: %s",
                          ke.msg[0] ? ke.msg : "key source is empty");
    }
    if (!key)
        return reject(c, TS_AUTHN_UNKNOWN_KID, "header.kid", "no key with this kid");
    if (!(ts_jwk_allowed_algs(key) & TS_JWS_ALG_BIT(alg)))
        return reject(c, TS_AUTHN_ALG_NOT_ALLOWED, "header.alg",
                      "algorithm %s cannot be used with this key", ts_jws_alg_name(alg));

    /* Signature over the exact bytes received. */
    if (sl == 0 || !ts_authn__b64url_decode_buf(d2 + 1, sl, sb, smax, &sn))
        return reject(c, TS_AUTHN_MALFORMED, "signature", "signature is not strict base64url");
    ts_error se;
    ts_error_clear(&se);
    ts_status st = ts_jws_verify_raw(key, alg, tok, (size_t)(d2 - tok), sb, sn, &se);
    if (st == TS_EINVAL)
        return reject(c, TS_AUTHN_BAD_SIGNATURE, "signature", "%s", se.msg);
    if (st != TS_OK)
        return fail_internal(c, st, "signature", se.msg);

    /* Claims. */
    ts_error_clear(&je);
    w->claims = ts_authn__json_parse_object((const char *)pb, pn, v->max_bytes, "payload", &je);
    if (!w->claims && je.code == TS_ENOMEM)
        return fail_internal(c, TS_ENOMEM, "payload", je.msg);
    if (!w->claims)
        return reject(c, TS_AUTHN_MALFORMED, "payload", "%s", je.msg);
    int64_t exp = 0;
    ts_authn_reason r = check_claims(v, c, w->claims, now, &exp);
    if (r != TS_AUTHN_OK)
        return r;
    const char *bad = NULL;
    r = ts_authn__principal_new(w->claims, (const char *)pb, pn, &v->map, kid, exp, out, &bad);
    if (r == TS_AUTHN_INVALID_CLAIM)
        return reject(c, r, bad, "claim \"%s\" contains a control character", bad);
    if (r != TS_AUTHN_OK)
        return fail_internal(c, TS_ENOMEM, "principal", "out of memory");
    return TS_AUTHN_OK;
}

/* The revocation list, judged on every verification like the step-up requirement: the cache
   holds verified tokens, and a token revoked after it was cached must not keep working. */
static ts_authn_reason check_revoked(const ts_authn_verifier *v, vctx *c,
                                     const ts_authn_principal *p, int64_t now)
{
    if (!v->rev)
        return TS_AUTHN_OK;
    const char *jti = ts_authn_principal_jti(p);
    ts_authn_reason r = ts_authn__rev_check_at(v->rev, jti, jti ? strlen(jti) : 0, now);
    if (r == TS_AUTHN_REVOKED)
        return reject(c, r, "jti", "token was revoked");
    if (r != TS_AUTHN_OK)
        return reject(c, r, "revocations", "the revocation list is not available");
    return TS_AUTHN_OK;
}

ts_authn_principal *ts_authn__verify_cached(const ts_authn_verifier *v, const char *token,
                                            size_t len)
{
    if (!v || !v->cache || !token || len == 0 || len > v->max_bytes)
        return NULL;
    int64_t now = clock_now(v);
    ts_authn_principal *p = ts_authn__cache_get(v->cache, token, len, now);
    vctx c = {NULL, NULL};
    if (p && check_revoked(v, &c, p, now) != TS_AUTHN_OK) {
        ts_authn_principal_free(p); /* ts_authn_verify() says why */
        return NULL;
    }
    /* The cache holds verified tokens, not decisions: the step-up requirement is judged on each
       request. One that falls short goes the long way, ts_authn_verify(), which says why. */
    if (p && !ts_authn__requirement_empty(&v->req) &&
        ts_authn__require(p, &v->req, now, v->leeway, NULL, NULL) != TS_AUTHN_OK) {
        ts_authn_principal_free(p);
        return NULL;
    }
    return p;
}

ts_authn_reason ts_authn_verify(const ts_authn_verifier *v, const char *token, size_t len,
                                ts_authn_principal **out, ts_authn_detail *detail, ts_error *err)
{
    vctx c = {err, detail};
    if (detail)
        memset(detail, 0, sizeof *detail);
    if (!out)
        return reject(&c, TS_AUTHN_INTERNAL, "ts_authn_verify", "NULL out parameter");
    *out = NULL;
    if (!v)
        return reject(&c, TS_AUTHN_INTERNAL, "ts_authn_verify", "NULL verifier");
    if (!token || len == 0)
        return reject(&c, TS_AUTHN_MISSING_TOKEN, "token", "no token");
    if (len > v->max_bytes)
        return reject(&c, TS_AUTHN_TOO_LARGE, "token", "token of %zu bytes exceeds %zu", len,
                      v->max_bytes);
    int64_t now = clock_now(v);
    ts_authn_reason r = TS_AUTHN_OK;
    if (!v->cache || !(*out = ts_authn__cache_get(v->cache, token, len, now))) {
        work w = {0};
        r = verify_slow(v, &c, token, len, now, &w, out);
        /* Cached as verified, before the step-up check: the token stays valid whatever one
           request requires of it, and the check below runs on every hit as well. */
        if (r == TS_AUTHN_OK && v->cache)
            ts_authn__cache_put(v->cache, token, len, now, *out);
        ts_jwks_free(w.remote);
        json_decref(w.claims);
        json_decref(w.hdr);
        free(w.buf);
    }
    if (r == TS_AUTHN_OK && (r = check_revoked(v, &c, *out, now)) != TS_AUTHN_OK) {
        ts_authn_principal_free(*out);
        *out = NULL;
    }
    if (r == TS_AUTHN_OK && !ts_authn__requirement_empty(&v->req) &&
        (r = ts_authn__require(*out, &v->req, now, v->leeway, NULL, err)) != TS_AUTHN_OK) {
        ts_authn_principal_free(*out);
        *out = NULL;
    }
    return r;
}
