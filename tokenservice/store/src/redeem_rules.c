/* The rules of a bootstrap redemption that do not depend on the database: the family a
   redemption creates, and when a lost-response retry may reissue. Both backends apply them
   inside their own transactions. */
#include <string.h>

#include "common/str.h"
#include "store_internal.h"

void ts_store__family_from_record(const ts_store_bootstrap_record *r, const ts_store_redeem_args *a,
                                  ts_store_family *f)
{
    memset(f, 0, sizeof *f);
    ts_common__copyz(f->id, sizeof f->id, a->family_id);
    ts_common__copyz(f->subject, sizeof f->subject, r->subject);
    ts_common__copyz(f->audience, sizeof f->audience, r->audience);
    ts_common__copyz(f->scope, sizeof f->scope, r->scope);
    ts_common__copyz(f->client_id, sizeof f->client_id, a->client_id ? a->client_id : "");
    f->issued_at = a->now;
    f->expires_at = a->now + r->refresh_ttl_s;
}

bool ts_store__reissue_allowed(const ts_store_bootstrap_record *r, const ts_store_redeem_args *a)
{
    return a->retry_grace_s > 0 && a->peer[0] && strcmp(r->consumed_by, a->peer) == 0 &&
           a->now >= r->consumed_at && a->now - r->consumed_at <= a->retry_grace_s &&
           r->family_id[0] && r->reissue_count < (int64_t)a->retry_max;
}
