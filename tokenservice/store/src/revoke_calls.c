/* Revocation, front end (store_revocation.h): argument bounds, optional out-parameters and
 * dispatch to the backend's version-6 functions. The backends keep issued access tokens and
 * revocations in two tables of their own (sqlite_revoke.c, pg_revoke.c, docs/store.md). */
#define _POSIX_C_SOURCE 200809L
#include "store_internal.h"

#include <string.h>

/* Most revocations one ts_store_revocations_list() call returns. */
#define REVOCATIONS_LIST_MAX 10000u

/* The backend's revocation functions, or TS_EUNSUPPORTED for an older backend table. */
static ts_status need_revocation(ts_store *s, const char *fn, ts_error *err)
{
    const ts_store_backend_ops *ops = ts_store__ops(s);
    if (ops->token_issued && ops->jti_revoke && ops->family_revoke_tokens && ops->subject_revoke &&
        ops->jti_revoked && ops->revocations_list && ops->issued_get)
        return TS_OK;
    return ts_error_set(err, TS_EUNSUPPORTED, fn, "the %s backend does not record revocations",
                        ops->name);
}

/* 1..TS_STORE_JTI_MAX printable ASCII: a jti is compared byte for byte, so nothing that could
 * look alike (spaces, control or non-ASCII characters) is accepted. */
static ts_status check_jti(const char *jti, ts_error *err)
{
    size_t n = jti ? strnlen(jti, TS_STORE_JTI_MAX + 1) : 0;
    if (n == 0 || n > TS_STORE_JTI_MAX)
        return ts_error_set(err, TS_EINVAL, "jti", "jti must be 1..%d bytes", TS_STORE_JTI_MAX);
    for (size_t i = 0; i < n; i++)
        if (jti[i] <= 0x20 || jti[i] >= 0x7f)
            return ts_error_set(err, TS_EINVAL, "jti",
                                "jti must be printable ASCII without spaces (byte %zu)", i);
    return TS_OK;
}

/* A revocation reason as families keep it ([a-z0-9_], "rfc7009"); NULL or "" is "revoked". */
static ts_status check_reason(const char *reason, ts_error *err)
{
    if (!reason)
        return TS_OK;
    size_t n = strnlen(reason, TS_STORE_MAX_REASON_LEN + 1);
    if (n > TS_STORE_MAX_REASON_LEN)
        return ts_error_set(err, TS_EINVAL, "reason", "reason is longer than %d bytes",
                            TS_STORE_MAX_REASON_LEN);
    for (size_t i = 0; i < n; i++) {
        char c = reason[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return ts_error_set(err, TS_EINVAL, "reason", "reason may only use [a-z0-9_]");
    }
    return TS_OK;
}

/* Who asked (a client id or a principal), stored as the audit record's peer. */
static ts_status check_actor(const char *actor, ts_error *err)
{
    size_t n = actor ? strnlen(actor, TS_STORE_MAX_PEER_LEN + 1) : 0;
    if (n > TS_STORE_MAX_PEER_LEN)
        return ts_error_set(err, TS_EINVAL, "actor", "actor is longer than %d bytes",
                            TS_STORE_MAX_PEER_LEN);
    for (size_t i = 0; i < n; i++)
        if (actor[i] <= 0x20 || actor[i] >= 0x7f)
            return ts_error_set(err, TS_EINVAL, "actor",
                                "actor must be printable ASCII without spaces");
    return TS_OK;
}

/* The common checks of the three revoking calls. */
static ts_status check_revoke(const char *reason, const char *actor, int64_t now, ts_error *err)
{
    ts_status st = check_reason(reason, err);
    if (st == TS_OK)
        st = check_actor(actor, err);
    if (st == TS_OK)
        st = ts_store__check_now(now, err);
    return st;
}

static const char *reason_or_default(const char *reason)
{
    return reason && *reason ? reason : "revoked";
}

ts_status ts_store_token_issued(ts_store *s, const ts_store_issued *t,
                                const ts_store_audit_entry *audit, ts_error *err)
{
    TS_STORE__NEED_STORE(s, "ts_store_token_issued");
    ts_status st = need_revocation(s, "ts_store_token_issued", err);
    if (st != TS_OK)
        return st;
    if (!t)
        return ts_error_set(err, TS_EINVAL, "ts_store_token_issued", "token is NULL");
    st = check_jti(t->jti, err);
    if (st == TS_OK)
        st = ts_store__check_name(t->subject, "subject", true, err);
    if (st == TS_OK && t->family_id && *t->family_id)
        st = ts_store__check_id(t->family_id, "family_id", err);
    if (st == TS_OK)
        st = ts_store__check_name(t->client_id, "client_id", false, err);
    if (st == TS_OK && (t->issued_at <= 0 || t->issued_at >= TS_STORE__NOW_MAX))
        st = ts_error_set(err, TS_EINVAL, "issued_at", "issued_at (%lld) is not a plausible time",
                          (long long)t->issued_at);
    if (st == TS_OK && (t->expires_at <= t->issued_at || t->expires_at >= TS_STORE__NOW_MAX))
        st = ts_error_set(err, TS_EINVAL, "expires_at",
                          "expires_at (%lld) must be after issued_at and a plausible time",
                          (long long)t->expires_at);
    if (st == TS_OK && audit) {
        st = ts_store__check_audit_entry(audit, err);
        if (st != TS_OK && err)
            ts_common__copyz(err->where, sizeof err->where, "audit");
    }
    if (st != TS_OK)
        return st;
    /* The backend never sees NULL for the optional strings. */
    ts_store_issued copy = *t;
    if (!copy.family_id)
        copy.family_id = "";
    if (!copy.client_id)
        copy.client_id = "";
    return ts_store__ops(s)->token_issued(s->impl, &copy, audit, err);
}

ts_status ts_store_jti_revoke(ts_store *s, const char *jti, int64_t expires_at, const char *reason,
                              const char *actor, int64_t now, bool *revoked, ts_error *err)
{
    TS_STORE__NEED_STORE(s, "ts_store_jti_revoke");
    bool dummy = false;
    if (!revoked)
        revoked = &dummy;
    *revoked = false;
    ts_status st = need_revocation(s, "ts_store_jti_revoke", err);
    if (st == TS_OK)
        st = check_jti(jti, err);
    if (st == TS_OK)
        st = check_revoke(reason, actor, now, err);
    if (st == TS_OK && (expires_at <= 0 || expires_at >= TS_STORE__NOW_MAX))
        st = ts_error_set(err, TS_EINVAL, "expires_at", "expires_at (%lld) is not a plausible time",
                          (long long)expires_at);
    if (st != TS_OK || expires_at <= now)
        return st; /* an expired token is refused for its expiry: nothing to keep */
    st = ts_store__ops(s)->jti_revoke(s->impl, jti, expires_at, reason_or_default(reason),
                                      actor ? actor : "", now, revoked, err);
    if (st != TS_OK)
        *revoked = false;
    return st;
}

ts_status ts_store_family_revoke_tokens(ts_store *s, const char *family_id, const char *reason,
                                        const char *actor, int64_t now, size_t *n_tokens,
                                        bool *revoked, ts_error *err)
{
    TS_STORE__NEED_STORE(s, "ts_store_family_revoke_tokens");
    bool dummy = false;
    size_t dummy_n = 0;
    if (!revoked)
        revoked = &dummy;
    if (!n_tokens)
        n_tokens = &dummy_n;
    *revoked = false;
    *n_tokens = 0;
    ts_status st = need_revocation(s, "ts_store_family_revoke_tokens", err);
    if (st == TS_OK)
        st = ts_store__check_id(family_id, "family_id", err);
    if (st == TS_OK)
        st = check_revoke(reason, actor, now, err);
    if (st != TS_OK)
        return st;
    st = ts_store__ops(s)->family_revoke_tokens(s->impl, family_id, reason_or_default(reason),
                                                actor ? actor : "", now, n_tokens, revoked, err);
    if (st != TS_OK) {
        *revoked = false;
        *n_tokens = 0;
    }
    return st;
}

ts_status ts_store_subject_revoke(ts_store *s, const char *subject, const char *reason,
                                  const char *actor, int64_t now, size_t *n_families,
                                  size_t *n_tokens, ts_error *err)
{
    TS_STORE__NEED_STORE(s, "ts_store_subject_revoke");
    size_t dummy_f = 0, dummy_t = 0;
    if (!n_families)
        n_families = &dummy_f;
    if (!n_tokens)
        n_tokens = &dummy_t;
    *n_families = 0;
    *n_tokens = 0;
    ts_status st = need_revocation(s, "ts_store_subject_revoke", err);
    if (st == TS_OK)
        st = ts_store__check_name(subject, "subject", true, err);
    if (st == TS_OK)
        st = check_revoke(reason, actor, now, err);
    if (st != TS_OK)
        return st;
    st = ts_store__ops(s)->subject_revoke(s->impl, subject, reason_or_default(reason),
                                          actor ? actor : "", now, n_families, n_tokens, err);
    if (st != TS_OK) {
        *n_families = 0;
        *n_tokens = 0;
    }
    return st;
}

ts_status ts_store_jti_revoked(ts_store *s, const char *jti, int64_t now, bool *revoked,
                               ts_error *err)
{
    TS_STORE__NEED_STORE(s, "ts_store_jti_revoked");
    if (!revoked)
        return ts_error_set(err, TS_EINVAL, "ts_store_jti_revoked", "revoked is NULL");
    /* Fail closed: whatever goes wrong, the answer the caller may still read is "revoked". */
    *revoked = true;
    ts_status st = need_revocation(s, "ts_store_jti_revoked", err);
    if (st == TS_OK)
        st = check_jti(jti, err);
    if (st == TS_OK)
        st = ts_store__check_now(now, err);
    if (st == TS_OK)
        st = ts_store__ops(s)->jti_revoked(s->impl, jti, now, revoked, err);
    if (st != TS_OK)
        *revoked = true;
    return st;
}

ts_status ts_store_revocations_list(ts_store *s, int64_t after_seq, int64_t now,
                                    ts_store_revocation *out, size_t cap, size_t *n, ts_error *err)
{
    TS_STORE__NEED_STORE(s, "ts_store_revocations_list");
    if (!n)
        return ts_error_set(err, TS_EINVAL, "ts_store_revocations_list", "n is NULL");
    *n = 0;
    if (!out || cap == 0 || cap > REVOCATIONS_LIST_MAX)
        return ts_error_set(err, TS_EINVAL, "cap", "out is required and cap must be 1..%u",
                            REVOCATIONS_LIST_MAX);
    ts_status st = need_revocation(s, "ts_store_revocations_list", err);
    if (st == TS_OK)
        st = ts_store__check_now(now, err);
    if (st != TS_OK)
        return st;
    st = ts_store__ops(s)->revocations_list(s->impl, after_seq < 0 ? 0 : after_seq, now, out, cap,
                                            n, err);
    if (st != TS_OK)
        *n = 0;
    return st;
}

ts_status ts_store_issued_get(ts_store *s, const char *jti, ts_store_issued_record *out,
                              ts_error *err)
{
    TS_STORE__NEED_STORE(s, "ts_store_issued_get");
    if (!out)
        return ts_error_set(err, TS_EINVAL, "ts_store_issued_get", "out is NULL");
    memset(out, 0, sizeof *out);
    ts_status st = need_revocation(s, "ts_store_issued_get", err);
    if (st == TS_OK)
        st = check_jti(jti, err);
    if (st == TS_OK)
        st = ts_store__ops(s)->issued_get(s->impl, jti, out, err);
    if (st != TS_OK)
        memset(out, 0, sizeof *out);
    return st;
}

ts_status ts_store_refresh_get(ts_store *s, const char *token_hash, ts_store_family *out,
                               bool *current, ts_error *err)
{
    TS_STORE__NEED_STORE(s, "ts_store_refresh_get");
    if (!out || !current)
        return ts_error_set(err, TS_EINVAL, "ts_store_refresh_get", "out or current is NULL");
    memset(out, 0, sizeof *out);
    *current = false;
    const ts_store_backend_ops *ops = ts_store__ops(s);
    if (!ops->refresh_get)
        return ts_error_set(err, TS_EUNSUPPORTED, "ts_store_refresh_get",
                            "the %s backend cannot look up refresh tokens", ops->name);
    ts_status st = ts_store__check_hash(token_hash, "token_hash", err);
    if (st == TS_OK)
        st = ops->refresh_get(s->impl, token_hash, out, current, err);
    if (st != TS_OK) {
        memset(out, 0, sizeof *out);
        *current = false;
    }
    return st;
}
