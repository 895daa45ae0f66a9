/* The token builder and its deliberately broken variants. */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/json_load.h"
#include "testutil_internal.h"

struct ts_testutil_token {
    const ts_testutil_key *key;
    ts_jws_alg alg;
    int64_t now;
    bool exp_set, nbf_set, iat_set; /* explicit times survive set_now() */
    /* A setter without a status (the times) could not store its value for lack of memory:
     * the claims are not what the caller set, so minting refuses (TS_ENOMEM). */
    bool lost;
    json_t *claims; /* object, insertion ordered */
    json_t *header; /* extra members, and typ/kid overrides */
};

static const char *const flaw_names[] = {"none",         "expired",        "not_yet_valid",
                                         "wrong_issuer", "wrong_audience", "bad_signature",
                                         "alg_none",     "unknown_kid",    "missing_kid"};

const char *ts_testutil_flaw_name(ts_testutil_flaw f)
{
    size_t i = (size_t)f;
    return i < sizeof flaw_names / sizeof flaw_names[0] ? flaw_names[i] : "unknown";
}

static ts_status oom(ts_error *err)
{
    return ts_error_set(err, TS_ENOMEM, "token", "out of memory");
}

static ts_status set_member(json_t *obj, const char *name, json_t *v, ts_error *err)
{
    if (!name || !*name) {
        json_decref(v);
        return ts_error_set(err, TS_EINVAL, "claim", "a member needs a name");
    }
    if (!v || json_object_set_new(obj, name, v) != 0)
        return oom(err);
    return TS_OK;
}

/* A claim set by name is explicit: set_now() no longer re-bases it. */
static void note_explicit(ts_testutil_token *b, const char *name)
{
    b->exp_set |= strcmp(name, "exp") == 0;
    b->nbf_set |= strcmp(name, "nbf") == 0;
    b->iat_set |= strcmp(name, "iat") == 0;
}

static void set_time(ts_testutil_token *b, const char *name, int64_t t)
{
    /* In place when the claim is a number already (it is, unless it was removed or set to
     * something else): no allocation, so set_now() cannot fail. */
    json_t *v = json_object_get(b->claims, name);
    if (json_is_integer(v)) {
        json_integer_set(v, (json_int_t)t);
        return;
    }
    if (json_object_set_new(b->claims, name, json_integer((json_int_t)t)) != 0)
        b->lost = true;
}

static void rebase_times(ts_testutil_token *b)
{
    if (!b->iat_set)
        set_time(b, "iat", b->now);
    if (!b->nbf_set)
        set_time(b, "nbf", b->now);
    if (!b->exp_set)
        set_time(b, "exp", b->now + TS_TESTUTIL_LIFETIME_S);
}

ts_testutil_token *ts_testutil_token_new(const ts_testutil_key *key, ts_error *err)
{
    if (!key)
        return ts_error_set(err, TS_EINVAL, "key", "key is NULL"), NULL;
    ts_testutil_token *b = calloc(1, sizeof *b);
    if (!b)
        return oom(err), NULL;
    b->key = key;
    b->alg = key->alg;
    b->now = (int64_t)time(NULL);
    char *jti = ts_testutil__random_b64(16, err);
    if (!jti) { /* err says why */
        free(b);
        return NULL;
    }
    b->claims = json_object();
    b->header = json_object();
    if (!b->claims || !b->header ||
        json_object_set_new(b->claims, "iss", json_string(TS_TESTUTIL_ISSUER)) ||
        json_object_set_new(b->claims, "sub", json_string(TS_TESTUTIL_SUBJECT)) ||
        json_object_set_new(b->claims, "aud", json_pack("[s]", TS_TESTUTIL_AUDIENCE)) ||
        json_object_set_new(b->claims, "exp", json_integer(0)) ||
        json_object_set_new(b->claims, "nbf", json_integer(0)) ||
        json_object_set_new(b->claims, "iat", json_integer(0)) ||
        json_object_set_new(b->claims, "jti", json_string(jti)) ||
        json_object_set_new(b->header, "typ", json_string("at+jwt"))) {
        free(jti);
        ts_testutil_token_free(b);
        return oom(err), NULL;
    }
    free(jti);
    rebase_times(b);
    return b;
}

void ts_testutil_token_free(ts_testutil_token *b)
{
    if (!b)
        return;
    json_decref(b->claims);
    json_decref(b->header);
    free(b);
}

void ts_testutil_token_set_now(ts_testutil_token *b, int64_t now)
{
    if (!b)
        return;
    b->now = now;
    rebase_times(b);
}

static ts_status set_string(json_t *obj, const char *name, const char *value, ts_error *err)
{
    if (!value)
        return ts_error_set(err, TS_EINVAL, name, "value is NULL");
    return set_member(obj, name, json_string(value), err);
}

/* @p name set to an array of the @p n strings of @p v. */
static ts_status set_string_array(json_t *obj, const char *name, const char *const *v, size_t n,
                                  ts_error *err)
{
    if (n && !v)
        return ts_error_set(err, TS_EINVAL, name, "invalid list");
    for (size_t i = 0; i < n; i++)
        if (!v[i])
            return ts_error_set(err, TS_EINVAL, name, "entry %zu is NULL", i);
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        if (json_array_append_new(a, json_string(v[i])) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    return set_member(obj, name, a, err); /* a NULL: out of memory */
}

ts_status ts_testutil_token_set_issuer(ts_testutil_token *b, const char *iss, ts_error *err)
{
    return b ? set_string(b->claims, "iss", iss, err) : ts_error_set(err, TS_EINVAL, "b", "NULL");
}

ts_status ts_testutil_token_set_subject(ts_testutil_token *b, const char *sub, ts_error *err)
{
    return b ? set_string(b->claims, "sub", sub, err) : ts_error_set(err, TS_EINVAL, "b", "NULL");
}

ts_status ts_testutil_token_set_audience(ts_testutil_token *b, const char *const *aud, size_t n,
                                         ts_error *err)
{
    if (!b)
        return ts_error_set(err, TS_EINVAL, "b", "NULL");
    return set_string_array(b->claims, "aud", aud, n, err);
}

void ts_testutil_token_set_expires_at(ts_testutil_token *b, int64_t exp)
{
    if (b) {
        b->exp_set = true;
        set_time(b, "exp", exp);
    }
}

void ts_testutil_token_set_not_before(ts_testutil_token *b, int64_t nbf)
{
    if (b) {
        b->nbf_set = true;
        set_time(b, "nbf", nbf);
    }
}

void ts_testutil_token_set_issued_at(ts_testutil_token *b, int64_t iat)
{
    if (b) {
        b->iat_set = true;
        set_time(b, "iat", iat);
    }
}

ts_status ts_testutil_token_set_roles(ts_testutil_token *b, const char *const *roles, size_t n,
                                      ts_error *err)
{
    if (!b)
        return ts_error_set(err, TS_EINVAL, "b", "NULL");
    return set_string_array(b->claims, "roles", roles, n, err);
}

ts_status ts_testutil_token_set_scope(ts_testutil_token *b, const char *scope, ts_error *err)
{
    return b ? set_string(b->claims, "scope", scope, err)
             : ts_error_set(err, TS_EINVAL, "b", "NULL");
}

static ts_status set_json(json_t *obj, const char *name, const char *text, ts_error *err)
{
    if (!text)
        return ts_error_set(err, TS_EINVAL, name, "JSON text is NULL");
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (!v && ts_common__json_load_oom(&je))
        return oom(err);
    if (!v)
        return ts_error_set(err, TS_EPARSE, name, "invalid JSON: %s", je.text);
    return set_member(obj, name, v, err);
}

ts_status ts_testutil_token_set_claim_json(ts_testutil_token *b, const char *name, const char *json,
                                           ts_error *err)
{
    if (!b)
        return ts_error_set(err, TS_EINVAL, "b", "NULL");
    ts_status st = set_json(b->claims, name, json, err);
    if (st == TS_OK)
        note_explicit(b, name);
    return st;
}

ts_status ts_testutil_token_set_claim_string(ts_testutil_token *b, const char *name,
                                             const char *value, ts_error *err)
{
    if (!b || !name)
        return ts_error_set(err, TS_EINVAL, "claim", "builder and name are required");
    ts_status st = set_string(b->claims, name, value, err);
    if (st == TS_OK)
        note_explicit(b, name);
    return st;
}

void ts_testutil_token_remove_claim(ts_testutil_token *b, const char *name)
{
    if (!b || !name)
        return;
    json_object_del(b->claims, name);
    note_explicit(b, name);
}

/* Setters of several members: the claims before the first change, to put back when a later
 * one fails, so that a refused call leaves the builder as it was. NULL: out of memory (err). */
static json_t *claims_saved(const ts_testutil_token *b, ts_error *err)
{
    json_t *saved = json_copy(b->claims); /* shallow: the values the setters replace live on */
    if (!saved)
        oom(err);
    return saved;
}

static ts_status claims_settle(ts_testutil_token *b, json_t *saved, ts_status st)
{
    if (st != TS_OK) {
        json_decref(b->claims);
        b->claims = saved;
    } else {
        json_decref(saved);
    }
    return st;
}

ts_status ts_testutil_token_set_nist(ts_testutil_token *b, ts_error *err)
{
    if (!b)
        return ts_error_set(err, TS_EINVAL, "b", "NULL");
    char *sid = ts_testutil__random_b64(12, err);
    if (!sid)
        return err ? err->code : TS_EINTERNAL;
    json_t *saved = claims_saved(b, err);
    if (!saved) {
        free(sid);
        return TS_ENOMEM;
    }
    json_t *iat = json_object_get(b->claims, "iat");
    json_int_t base = json_is_integer(iat) ? json_integer_value(iat) : (json_int_t)b->now;
    ts_status st = TS_OK;
    if (json_object_set_new(b->claims, "auth_level", json_string("IAL2")) ||
        json_object_set_new(b->claims, "auth_factors", json_integer(2)) ||
        json_object_set_new(b->claims, "auth_methods", json_pack("[ss]", "password", "otp")) ||
        json_object_set_new(b->claims, "session_id", json_string(sid)) ||
        json_object_set_new(b->claims, "session_exp", json_integer(base + 3600)) ||
        json_object_set_new(b->claims, "auth_events", json_pack("[s]", "login")))
        st = oom(err);
    free(sid);
    return claims_settle(b, saved, st);
}

ts_status ts_testutil_token_set_principal(ts_testutil_token *b, const ts_testutil_principal *p,
                                          ts_error *err)
{
    if (!b || !p)
        return ts_error_set(err, TS_EINVAL, "principal", "builder and principal are required");
    json_t *saved = claims_saved(b, err);
    if (!saved)
        return TS_ENOMEM;
    ts_status st = ts_testutil_token_set_subject(b, p->id, err);
    if (st == TS_OK)
        st = set_string(b->claims, "principal_type", p->type, err);
    if (st == TS_OK)
        st = ts_testutil_token_set_roles(b, p->roles, p->nroles, err);
    if (st == TS_OK && p->scope)
        st = ts_testutil_token_set_scope(b, p->scope, err);
    return claims_settle(b, saved, st);
}

ts_status ts_testutil_token_set_typ(ts_testutil_token *b, const char *typ, ts_error *err)
{
    if (!b)
        return ts_error_set(err, TS_EINVAL, "b", "NULL");
    if (!typ) {
        json_object_del(b->header, "typ");
        return TS_OK;
    }
    return set_string(b->header, "typ", typ, err);
}

ts_status ts_testutil_token_set_kid(ts_testutil_token *b, const char *kid, ts_error *err)
{
    return b ? set_string(b->header, "kid", kid, err) : ts_error_set(err, TS_EINVAL, "b", "NULL");
}

ts_status ts_testutil_token_set_header_json(ts_testutil_token *b, const char *name,
                                            const char *json, ts_error *err)
{
    if (!b)
        return ts_error_set(err, TS_EINVAL, "b", "NULL");
    if (name && strcmp(name, "alg") == 0)
        return ts_error_set(err, TS_EINVAL, "alg", "use ts_testutil_token_set_alg()");
    return set_json(b->header, name, json, err);
}

ts_status ts_testutil_token_set_alg(ts_testutil_token *b, ts_jws_alg alg, ts_error *err)
{
    if (!b)
        return ts_error_set(err, TS_EINVAL, "b", "NULL");
    if (!ts_testutil__alg_fits(b->key, alg))
        return ts_error_set(err, TS_EINVAL, "alg", "%s does not fit the key", ts_jws_alg_name(alg));
    b->alg = alg;
    return TS_OK;
}

/* A time could not be stored (see `lost`): the builder's claims are not the caller's. */
static bool claims_lost(const ts_testutil_token *b, ts_error *err)
{
    if (b->lost)
        ts_error_set(err, TS_ENOMEM, "token",
                     "out of memory: a time claim could not be set on this builder");
    return b->lost;
}

char *ts_testutil_token_claims(const ts_testutil_token *b, ts_error *err)
{
    if (!b)
        return ts_error_set(err, TS_EINVAL, "b", "NULL"), NULL;
    if (claims_lost(b, err))
        return NULL;
    char *s = json_dumps(b->claims, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!s)
        oom(err);
    return s;
}

/* A kid shaped like an RFC 7638 thumbprint (43 base64url characters) of no real key. */
static char *unknown_kid(ts_error *err)
{
    return ts_testutil__random_b64(32, err);
}

/* The header: alg, kid, then typ and any extra members in the order they were set. */
static json_t *build_header(const ts_testutil_token *b, ts_testutil_flaw flaw, ts_error *err)
{
    json_t *h = json_object();
    if (!h)
        return oom(err), NULL;
    const char *alg = flaw == TS_TESTUTIL_FLAW_ALG_NONE ? "none" : ts_jws_alg_name(b->alg);
    int bad = json_object_set_new(h, "alg", json_string(alg));
    if (flaw == TS_TESTUTIL_FLAW_UNKNOWN_KID) {
        char *kid = unknown_kid(err);
        if (!kid) { /* err says why */
            json_decref(h);
            return NULL;
        }
        bad |= json_object_set_new(h, "kid", json_string(kid));
        free(kid);
    } else if (flaw != TS_TESTUTIL_FLAW_MISSING_KID) {
        json_t *kid = json_object_get(b->header, "kid");
        bad |= json_object_set_new(
            h, "kid", kid ? json_incref(kid) : json_string(ts_testutil_key_kid(b->key)));
    }
    const char *name;
    json_t *v;
    json_object_foreach(b->header, name, v)
    {
        if (strcmp(name, "kid") != 0)
            bad |= json_object_set(h, name, v);
    }
    if (bad) {
        json_decref(h);
        oom(err);
        return NULL;
    }
    return h;
}

static json_t *build_claims(const ts_testutil_token *b, ts_testutil_flaw flaw)
{
    json_t *c = json_deep_copy(b->claims);
    if (!c)
        return NULL;
    int bad = 0;
    switch (flaw) {
    case TS_TESTUTIL_FLAW_EXPIRED:
        bad |= json_object_set_new(c, "iat", json_integer((json_int_t)(b->now - 7200)));
        bad |= json_object_set_new(c, "nbf", json_integer((json_int_t)(b->now - 7200)));
        bad |= json_object_set_new(c, "exp", json_integer((json_int_t)(b->now - 3600)));
        break;
    case TS_TESTUTIL_FLAW_NOT_YET_VALID:
        bad |= json_object_set_new(c, "nbf", json_integer((json_int_t)(b->now + 3600)));
        bad |= json_object_set_new(c, "exp", json_integer((json_int_t)(b->now + 7200)));
        break;
    case TS_TESTUTIL_FLAW_WRONG_ISSUER:
        bad |= json_object_set_new(c, "iss", json_string(TS_TESTUTIL_WRONG_ISSUER));
        break;
    case TS_TESTUTIL_FLAW_WRONG_AUDIENCE:
        bad |= json_object_set_new(c, "aud", json_pack("[s]", TS_TESTUTIL_WRONG_AUDIENCE));
        break;
    default:
        break;
    }
    if (bad) {
        json_decref(c);
        return NULL;
    }
    return c;
}

/* Flip one bit in the middle of the signature: decode, change, encode again, so that the
 * result is still canonical base64url and only the signature check can catch it. */
static char *break_signature(char *tok, ts_error *err)
{
    char *dot = strrchr(tok, '.');
    uint8_t *sig = NULL;
    size_t n = 0;
    if (!dot || ts_b64url_decode(dot + 1, strlen(dot + 1), &sig, &n, err) != TS_OK) {
        if (!dot) /* not from sign_raw(): cannot happen */
            ts_error_set(err, TS_EINTERNAL, "token", "no signature to break");
        ts_free(sig);
        free(tok);
        return NULL;
    }
    if (n == 0) {
        ts_free(sig);
        free(tok);
        ts_error_set(err, TS_EINTERNAL, "token", "no signature to break");
        return NULL;
    }
    sig[n / 2] ^= 0x01;
    char *enc = NULL;
    size_t enc_len = 0;
    ts_status st = ts_b64url_encode(sig, n, &enc, &enc_len, err);
    ts_free(sig);
    if (st != TS_OK) {
        free(tok);
        return NULL;
    }
    memcpy(dot + 1, enc, enc_len); /* same length: same number of bytes */
    ts_free(enc);
    return tok;
}

char *ts_testutil_token_mint(const ts_testutil_token *b, ts_testutil_flaw flaw, ts_error *err)
{
    if (!b)
        return ts_error_set(err, TS_EINVAL, "b", "NULL"), NULL;
    if ((size_t)flaw >= sizeof flaw_names / sizeof flaw_names[0])
        return ts_error_set(err, TS_EINVAL, "flaw", "unknown flaw %d", (int)flaw), NULL;
    if (claims_lost(b, err))
        return NULL;
    json_t *h = build_header(b, flaw, err);
    bool have_header = h != NULL; /* when not, build_header recorded why */
    json_t *c = h ? build_claims(b, flaw) : NULL;
    char *hs = c ? json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    char *cs = hs ? json_dumps(c, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(h);
    json_decref(c);
    char *tok = NULL;
    if (!cs) {
        if (have_header)
            oom(err);
    } else if (flaw == TS_TESTUTIL_FLAW_ALG_NONE) {
        char *eh = NULL, *ec = NULL;
        size_t nh = 0, nc = 0;
        if (ts_b64url_encode(hs, strlen(hs), &eh, &nh, err) == TS_OK &&
            ts_b64url_encode(cs, strlen(cs), &ec, &nc, err) == TS_OK &&
            !(tok = malloc(nh + nc + 3))) {
            oom(err);
        } else if (tok) {
            memcpy(tok, eh, nh);
            tok[nh] = '.';
            memcpy(tok + nh + 1, ec, nc);
            tok[nh + 1 + nc] = '.';
            tok[nh + nc + 2] = '\0';
        }
        ts_free(eh);
        ts_free(ec);
    } else {
        tok = ts_testutil_sign_raw(b->key, b->alg, hs, strlen(hs), cs, strlen(cs), err);
        if (tok && flaw == TS_TESTUTIL_FLAW_BAD_SIGNATURE)
            tok = break_signature(tok, err);
    }
    free(hs);
    free(cs);
    return tok;
}

char *ts_testutil_mint_for(const ts_testutil_key *key, ts_testutil_role role, const char *iss,
                           const char *aud, ts_testutil_flaw flaw, ts_error *err)
{
    const ts_testutil_principal *p = ts_testutil_principal_get(role);
    if (!p)
        return ts_error_set(err, TS_EINVAL, "role", "unknown role %d", (int)role), NULL;
    ts_testutil_token *b = ts_testutil_token_new(key, err);
    char *tok = NULL;
    if (b && ts_testutil_token_set_principal(b, p, err) == TS_OK &&
        (!iss || ts_testutil_token_set_issuer(b, iss, err) == TS_OK) &&
        (!aud || ts_testutil_token_set_audience(b, &aud, 1, err) == TS_OK))
        tok = ts_testutil_token_mint(b, flaw, err);
    ts_testutil_token_free(b);
    return tok;
}
