/* The store front end's calls on an open store: argument checks, token and id generation, and
 * dispatch to the backend's function table (the handle: store_open.c). */
#define _POSIX_C_SOURCE 200809L
#include "store_internal.h"

#include <stddef.h>
#include <string.h>

/* ---- bootstrap tokens ---------------------------------------------------------------------- */

ts_status ts_store_bootstrap_params_check(const ts_store_options *opt,
                                          const ts_store_bootstrap_params *p,
                                          char scope_out[TS_STORE_MAX_SCOPE_LEN + 1], ts_error *err)
{
    static const ts_store_options defaults = TS_STORE_OPTIONS_INIT;
    char scope[TS_STORE_MAX_SCOPE_LEN + 1] = "";
    if (scope_out)
        scope_out[0] = '\0';
    if (!opt)
        opt = &defaults;
    if (!p)
        return ts_error_set(err, TS_EINVAL, "ts_store_bootstrap_params_check",
                            "params are required");
    ts_status st = ts_store__check_name(p->subject, "subject", true, err);
    if (st == TS_OK)
        st = ts_store__check_name(p->audience, "audience", true, err);
    if (st == TS_OK)
        st = ts_store__check_name(p->binding_id, "binding_id", false, err);
    if (st == TS_OK)
        st = ts_store_scopes_normalize(p->scopes, scope, err);
    if (st == TS_OK)
        st = ts_store__check_now(p->now, err);
    if (st != TS_OK)
        return st;
    if (p->ttl_s < opt->bootstrap_ttl_min_s || p->ttl_s > opt->bootstrap_ttl_max_s)
        return ts_error_set(err, TS_EINVAL, "ttl", "ttl %llds is outside the allowed %llds..%llds",
                            (long long)p->ttl_s, (long long)opt->bootstrap_ttl_min_s,
                            (long long)opt->bootstrap_ttl_max_s);
    if (p->refresh_ttl_s < opt->refresh_ttl_min_s || p->refresh_ttl_s > opt->refresh_ttl_max_s)
        return ts_error_set(err, TS_EINVAL, "refresh_ttl",
                            "refresh ttl %llds is outside the allowed %llds..%llds",
                            (long long)p->refresh_ttl_s, (long long)opt->refresh_ttl_min_s,
                            (long long)opt->refresh_ttl_max_s);
    if (scope_out)
        memcpy(scope_out, scope, sizeof scope);
    return TS_OK;
}

ts_status ts_store_bootstrap_create(ts_store *s, const ts_store_bootstrap_params *p,
                                    char token_out[TS_STORE_TOKEN_LEN + 1],
                                    ts_store_bootstrap_record *out, ts_error *err)
{
    TS_STORE__NEED_STORE(s, "ts_store_bootstrap_create");
    if (!p || !token_out)
        return ts_error_set(err, TS_EINVAL, "ts_store_bootstrap_create",
                            "params and token_out are required");
    token_out[0] = '\0';
    ts_store_bootstrap_record rec;
    memset(&rec, 0, sizeof rec);
    ts_status st = ts_store_bootstrap_params_check(&s->opt, p, rec.scope, err);
    if (st != TS_OK)
        return st;

    ts_common__copyz(rec.subject, sizeof rec.subject, p->subject);
    ts_common__copyz(rec.audience, sizeof rec.audience, p->audience);
    ts_common__copyz(rec.binding_id, sizeof rec.binding_id, p->binding_id);
    rec.ttl_s = p->ttl_s;
    rec.refresh_ttl_s = p->refresh_ttl_s;
    rec.created_at = p->now;
    rec.expires_at = p->now + p->ttl_s;

    char token[TS_STORE_TOKEN_LEN + 1];
    st = ts_store__new_id("bt-", rec.id, err);
    if (st == TS_OK)
        st = ts_store_token_generate(token, err);
    if (st == TS_OK)
        st = ts_store_token_hash(token, TS_STORE_TOKEN_LEN, rec.token_hash, err);
    if (st == TS_OK)
        st = s->ops->bootstrap_insert(s->impl, &rec, err);
    if (st == TS_OK) {
        memcpy(token_out, token, sizeof token);
        if (out)
            *out = rec;
    }
    ts_store__wipe(token, sizeof token);
    return st;
}

const char *ts_store_redeem_outcome_str(ts_store_redeem_outcome o)
{
    switch (o) {
    case TS_STORE_REDEEM_OK:
        return "ok";
    case TS_STORE_REDEEM_REISSUED:
        return "reissued";
    case TS_STORE_REDEEM_NOT_FOUND:
        return "not_found";
    case TS_STORE_REDEEM_EXPIRED:
        return "expired";
    case TS_STORE_REDEEM_ALREADY_CONSUMED:
        return "already_consumed";
    }
    return "unknown";
}

ts_status ts_store_bootstrap_redeem(ts_store *s, const char *token_hash, const char *peer,
                                    int64_t now, const char *refresh_hash,
                                    ts_store_redeem_result *out, ts_error *err)
{
    return ts_store_bootstrap_redeem_client(s, token_hash, peer, now, refresh_hash, NULL, out, err);
}

ts_status ts_store_bootstrap_redeem_client(ts_store *s, const char *token_hash, const char *peer,
                                           int64_t now, const char *refresh_hash,
                                           const char *client_id, ts_store_redeem_result *out,
                                           ts_error *err)
{
    TS_STORE__NEED_STORE(s, "ts_store_bootstrap_redeem");
    if (!out)
        return ts_error_set(err, TS_EINVAL, "ts_store_bootstrap_redeem", "out is NULL");
    memset(out, 0, sizeof *out);
    out->outcome = TS_STORE_REDEEM_NOT_FOUND;
    ts_status st = ts_store__check_hash(token_hash, "token_hash", err);
    if (st == TS_OK)
        st = ts_store__check_hash(refresh_hash, "refresh_hash", err);
    if (st == TS_OK)
        st = ts_store__check_peer(peer, err);
    if (st == TS_OK)
        st = ts_store__check_now(now, err);
    if (st == TS_OK && strcmp(token_hash, refresh_hash) == 0)
        st = ts_error_set(err, TS_EINVAL, "refresh_hash",
                          "refresh_hash must differ from token_hash");
    if (st == TS_OK)
        st = ts_store__check_name(client_id, "client_id", false, err);
    char fid[TS_STORE_ID_MAX + 1];
    if (st == TS_OK)
        st = ts_store__new_id("fam-", fid, err);
    if (st != TS_OK)
        return st;
    ts_store_redeem_args a = {token_hash,
                              peer ? peer : "",
                              now,
                              fid,
                              refresh_hash,
                              s->opt.redeem_retry_grace_s,
                              s->opt.redeem_retry_max,
                              client_id ? client_id : ""};
    st = s->ops->bootstrap_redeem(s->impl, &a, out, err);
    if (st != TS_OK) {
        memset(out, 0, sizeof *out);
        out->outcome = TS_STORE_REDEEM_NOT_FOUND;
    }
    return st;
}

ts_status ts_store_bootstrap_get(ts_store *s, const char *token_hash,
                                 ts_store_bootstrap_record *out, ts_error *err)
{
    TS_STORE__NEED_STORE(s, "ts_store_bootstrap_get");
    if (!out)
        return ts_error_set(err, TS_EINVAL, "ts_store_bootstrap_get", "out is NULL");
    ts_status st = ts_store__check_hash(token_hash, "token_hash", err);
    if (st != TS_OK)
        return st;
    return s->ops->bootstrap_get(s->impl, token_hash, out, err);
}

/* ---- refresh families ---------------------------------------------------------------------- */

ts_status ts_store_family_create(ts_store *s, const ts_store_family_params *p, ts_store_family *out,
                                 ts_error *err)
{
    return ts_store_family_create_client(s, p, NULL, out, err);
}

ts_status ts_store_family_create_client(ts_store *s, const ts_store_family_params *p,
                                        const char *client_id, ts_store_family *out, ts_error *err)
{
    TS_STORE__NEED_STORE(s, "ts_store_family_create");
    if (!p)
        return ts_error_set(err, TS_EINVAL, "ts_store_family_create", "params are NULL");
    ts_store_family fam;
    memset(&fam, 0, sizeof fam);
    ts_status st = ts_store__check_name(p->subject, "subject", true, err);
    if (st == TS_OK)
        st = ts_store__check_name(p->audience, "audience", true, err);
    if (st == TS_OK)
        st = ts_store_scopes_normalize(p->scopes, fam.scope, err);
    if (st == TS_OK)
        st = ts_store__check_hash(p->first_hash, "first_hash", err);
    if (st == TS_OK)
        st = ts_store__check_peer(p->peer, err);
    if (st == TS_OK)
        st = ts_store__check_now(p->now, err);
    if (st == TS_OK)
        st = ts_store__check_name(client_id, "client_id", false, err);
    if (st == TS_OK && (p->refresh_ttl_s < s->opt.refresh_ttl_min_s ||
                        p->refresh_ttl_s > s->opt.refresh_ttl_max_s))
        st = ts_error_set(err, TS_EINVAL, "refresh_ttl",
                          "refresh ttl %llds is outside the allowed %llds..%llds",
                          (long long)p->refresh_ttl_s, (long long)s->opt.refresh_ttl_min_s,
                          (long long)s->opt.refresh_ttl_max_s);
    if (st == TS_OK)
        st = ts_store__new_id("fam-", fam.id, err);
    if (st != TS_OK)
        return st;
    ts_common__copyz(fam.subject, sizeof fam.subject, p->subject);
    ts_common__copyz(fam.audience, sizeof fam.audience, p->audience);
    ts_common__copyz(fam.client_id, sizeof fam.client_id, client_id ? client_id : "");
    fam.issued_at = p->now;
    fam.expires_at = p->now + p->refresh_ttl_s;
    st = s->ops->family_insert(s->impl, &fam, p->first_hash, p->peer ? p->peer : "", err);
    if (st == TS_OK && out)
        *out = fam;
    return st;
}

const char *ts_store_rotate_outcome_str(ts_store_rotate_outcome o)
{
    switch (o) {
    case TS_STORE_ROTATE_OK:
        return "ok";
    case TS_STORE_ROTATE_NOT_FOUND:
        return "not_found";
    case TS_STORE_ROTATE_EXPIRED:
        return "expired";
    case TS_STORE_ROTATE_REVOKED:
        return "revoked";
    case TS_STORE_ROTATE_REUSE_DETECTED:
        return "reuse_detected";
    }
    return "unknown";
}

ts_status ts_store_refresh_rotate(ts_store *s, const char *presented_hash, const char *new_hash,
                                  const char *peer, int64_t now, ts_store_rotate_result *out,
                                  ts_error *err)
{
    TS_STORE__NEED_STORE(s, "ts_store_refresh_rotate");
    if (!out)
        return ts_error_set(err, TS_EINVAL, "ts_store_refresh_rotate", "out is NULL");
    memset(out, 0, sizeof *out);
    out->outcome = TS_STORE_ROTATE_NOT_FOUND;
    ts_status st = ts_store__check_hash(presented_hash, "presented_hash", err);
    if (st == TS_OK)
        st = ts_store__check_hash(new_hash, "new_hash", err);
    if (st == TS_OK)
        st = ts_store__check_peer(peer, err);
    if (st == TS_OK)
        st = ts_store__check_now(now, err);
    if (st == TS_OK && strcmp(presented_hash, new_hash) == 0)
        st = ts_error_set(err, TS_EINVAL, "new_hash", "new_hash must differ from presented_hash");
    if (st != TS_OK)
        return st;
    st = s->ops->refresh_rotate(s->impl, presented_hash, new_hash, peer ? peer : "", now, out, err);
    if (st == TS_OK && out->outcome == TS_STORE_ROTATE_REVOKED && out->replayed) {
        /* The family was revoked earlier: count the replay, and write a row only when its
         * family's interval has passed. */
        char prefix[TS_STORE_PREFIX_LEN + 1];
        ts_store_hash_prefix(presented_hash, prefix);
        ts_store__replay_row row;
        if (ts_store__replays_note(s->replays, &out->family, prefix, peer ? peer : "", now, &row)) {
            st = ts_store__replays_write(s->ops, s->impl, &row, now, err);
            if (st != TS_OK)
                ts_store__replays_restore(s->replays, &row);
        }
    }
    if (st != TS_OK) {
        memset(out, 0, sizeof *out);
        out->outcome = TS_STORE_ROTATE_NOT_FOUND;
    }
    return st;
}

ts_status ts_store_family_revoke(ts_store *s, const char *family_id, const char *reason,
                                 int64_t now, bool *revoked, ts_error *err)
{
    TS_STORE__NEED_STORE(s, "ts_store_family_revoke");
    if (revoked)
        *revoked = false;
    ts_status st = ts_store__check_id(family_id, "family_id", err);
    if (st == TS_OK)
        st = ts_store__check_now(now, err);
    if (st == TS_OK && reason) {
        size_t n = strnlen(reason, TS_STORE_MAX_REASON_LEN + 1);
        if (n > TS_STORE_MAX_REASON_LEN)
            st = ts_error_set(err, TS_EINVAL, "reason", "reason is longer than %d bytes",
                              TS_STORE_MAX_REASON_LEN);
        for (size_t i = 0; st == TS_OK && i < n; i++)
            if (!((reason[i] >= 'a' && reason[i] <= 'z') || reason[i] == '_'))
                st = ts_error_set(err, TS_EINVAL, "reason", "reason may only use [a-z_]");
    }
    if (st != TS_OK)
        return st;
    bool dummy = false;
    return s->ops->family_revoke(s->impl, family_id, reason && *reason ? reason : "revoked", now,
                                 revoked ? revoked : &dummy, err);
}

ts_status ts_store_family_get(ts_store *s, const char *family_id, ts_store_family *out,
                              ts_error *err)
{
    TS_STORE__NEED_STORE(s, "ts_store_family_get");
    if (!out)
        return ts_error_set(err, TS_EINVAL, "ts_store_family_get", "out is NULL");
    ts_status st = ts_store__check_id(family_id, "family_id", err);
    if (st != TS_OK)
        return st;
    return s->ops->family_get(s->impl, family_id, out, err);
}

/* ---- audit and GC -------------------------------------------------------------------------- */

ts_status ts_store_audit_append(ts_store *s, const ts_store_audit_entry *e, ts_error *err)
{
    TS_STORE__NEED_STORE(s, "ts_store_audit_append");
    ts_status st = ts_store__check_audit_entry(e, err);
    if (st != TS_OK)
        return st;
    return s->ops->audit_append(s->impl, e, err);
}

ts_status ts_store_audit_list(ts_store *s, int64_t after_id, size_t limit, ts_store_audit_fn fn,
                              void *ud, ts_error *err)
{
    TS_STORE__NEED_STORE(s, "ts_store_audit_list");
    if (!fn)
        return ts_error_set(err, TS_EINVAL, "ts_store_audit_list", "callback is NULL");
    if (limit == 0)
        limit = 1000;
    if (limit > TS_STORE__AUDIT_LIST_MAX)
        limit = TS_STORE__AUDIT_LIST_MAX;
    return s->ops->audit_list(s->impl, after_id < 0 ? 0 : after_id, limit, fn, ud, err);
}

ts_status ts_store_collect_expired(ts_store *s, int64_t now, ts_store_gc_counts *out, ts_error *err)
{
    TS_STORE__NEED_STORE(s, "ts_store_collect_expired");
    ts_store_gc_counts dummy;
    if (!out)
        out = &dummy;
    memset(out, 0, sizeof *out);
    ts_status st = ts_store__check_now(now, err);
    if (st != TS_OK)
        return st;
    /* Collection runs even when the due replay rows cannot be written (a full disk): deleting
     * is what frees space. If either fails, the call fails. */
    ts_error flush_err;
    ts_error_clear(&flush_err);
    ts_status flushed =
        ts_store__replays_flush(s->replays, s->ops, s->impl, now, false, &flush_err);
    ts_store_gc_args a = {now, s->opt.gc_retention_s, s->opt.audit_retention_s, TS_STORE__GC_BATCH,
                          s->opt.audit_max_rows};
    st = s->ops->collect_expired(s->impl, &a, out, err);
    uint64_t keys = 0;
    if (st == TS_OK && s->ops->key_collect)
        st = s->ops->key_collect(s->impl, now, TS_STORE__GC_BATCH, &keys, err);
    if (st == TS_OK && flushed != TS_OK) {
        if (err)
            *err = flush_err;
        st = flushed;
    }
    return st;
}
