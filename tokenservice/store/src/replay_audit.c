/* Counting of replays of old tokens of already revoked refresh families. Such a replay changes
 * nothing durable, so writing an audit row (and paying an fsync) for each would let one stolen
 * token fill the disk. Instead each family gets a pending count here, and one row per interval
 * carries it. The table is bounded; the least recently replayed family makes room. */
#include "store_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 1024u /* power of two */

typedef struct rp_entry {
    struct rp_entry *next_in_bucket;
    struct rp_entry *newer, *older; /* recency of the last replay: head = newest */
    uint32_t hash;
    int64_t last_row_at; /* when this process last wrote a row for the family; 0 = never */
    ts_store__replay_row pending;
} rp_entry;

struct ts_store__replays {
    pthread_mutex_t mu;
    int64_t interval_s;
    size_t n, max;
    rp_entry *buckets[BUCKETS];
    rp_entry *newest, *oldest;
};

/* Family ids are random and chosen by the store, so a plain FNV-1a spreads them well. */
static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

ts_store__replays *ts_store__replays_new(int64_t interval_s, size_t max_families)
{
    ts_store__replays *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    pthread_mutex_init(&r->mu, NULL);
    r->interval_s = interval_s;
    r->max = max_families;
    return r;
}

void ts_store__replays_free(ts_store__replays *r)
{
    if (!r)
        return;
    for (rp_entry *e = r->newest; e;) {
        rp_entry *next = e->older;
        free(e);
        e = next;
    }
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static void unlink_recency(ts_store__replays *r, rp_entry *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        r->newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        r->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void push_newest(ts_store__replays *r, rp_entry *e)
{
    e->older = r->newest;
    e->newer = NULL;
    if (r->newest)
        r->newest->newer = e;
    r->newest = e;
    if (!r->oldest)
        r->oldest = e;
}

static void remove_entry(ts_store__replays *r, rp_entry *e)
{
    rp_entry **pp = &r->buckets[e->hash & (BUCKETS - 1)];
    while (*pp != e)
        pp = &(*pp)->next_in_bucket;
    *pp = e->next_in_bucket;
    unlink_recency(r, e);
    r->n--;
    free(e);
}

static rp_entry *find(ts_store__replays *r, const char *family_id, uint32_t h)
{
    for (rp_entry *e = r->buckets[h & (BUCKETS - 1)]; e; e = e->next_in_bucket)
        if (e->hash == h && strcmp(e->pending.family_id, family_id) == 0)
            return e;
    return NULL;
}

/* Move the pending count of @p e into @p row and start a new interval at @p now. */
static void take(rp_entry *e, int64_t now, ts_store__replay_row *row)
{
    *row = e->pending;
    row->prev_row_at = e->last_row_at;
    e->last_row_at = now;
    e->pending.replays = 0;
    e->pending.first_at = 0;
    e->pending.last_at = 0;
}

static bool due(const ts_store__replays *r, const rp_entry *e, int64_t now)
{
    return e->last_row_at == 0 || now - e->last_row_at >= r->interval_s;
}

bool ts_store__replays_note(ts_store__replays *r, const ts_store_family *fam,
                            const char *hash_prefix, const char *peer, int64_t now,
                            ts_store__replay_row *row)
{
    uint32_t h = fnv1a(fam->id);
    pthread_mutex_lock(&r->mu);
    rp_entry *e = find(r, fam->id, h);
    if (e) {
        unlink_recency(r, e);
    } else {
        /* A family pushed out loses its pending count; its next replay writes a row at once. */
        if (r->n >= r->max && r->oldest)
            remove_entry(r, r->oldest);
        e = calloc(1, sizeof *e);
        if (!e) {
            pthread_mutex_unlock(&r->mu);
            /* Out of memory: write this replay on its own rather than lose it. */
            memset(row, 0, sizeof *row);
            ts_common__copyz(row->family_id, sizeof row->family_id, fam->id);
            ts_common__copyz(row->subject, sizeof row->subject, fam->subject);
            ts_common__copyz(row->hash_prefix, sizeof row->hash_prefix, hash_prefix);
            ts_common__copyz(row->peer, sizeof row->peer, peer);
            row->replays = 1;
            row->first_at = row->last_at = now;
            return true;
        }
        e->hash = h;
        ts_common__copyz(e->pending.family_id, sizeof e->pending.family_id, fam->id);
        ts_common__copyz(e->pending.subject, sizeof e->pending.subject, fam->subject);
        e->next_in_bucket = r->buckets[h & (BUCKETS - 1)];
        r->buckets[h & (BUCKETS - 1)] = e;
        r->n++;
    }
    push_newest(r, e);
    ts_store__replay_row *p = &e->pending;
    if (p->replays == 0)
        p->first_at = now;
    p->replays++;
    if (now > p->last_at)
        p->last_at = now;
    ts_common__copyz(p->hash_prefix, sizeof p->hash_prefix, hash_prefix);
    ts_common__copyz(p->peer, sizeof p->peer, peer);
    bool is_due = due(r, e, now);
    if (is_due)
        take(e, now, row);
    pthread_mutex_unlock(&r->mu);
    return is_due;
}

void ts_store__replays_restore(ts_store__replays *r, const ts_store__replay_row *row)
{
    pthread_mutex_lock(&r->mu);
    rp_entry *e = find(r, row->family_id, fnv1a(row->family_id));
    if (e) {
        /* The row was not written: its replays are pending again, and it is due again. */
        e->pending.replays += row->replays;
        if (row->first_at && (!e->pending.first_at || row->first_at < e->pending.first_at))
            e->pending.first_at = row->first_at;
        if (row->last_at > e->pending.last_at)
            e->pending.last_at = row->last_at;
        e->last_row_at = row->prev_row_at;
    }
    pthread_mutex_unlock(&r->mu);
}

size_t ts_store__replays_take_due(ts_store__replays *r, int64_t now, bool all,
                                  ts_store__replay_row *rows, size_t cap)
{
    size_t n = 0;
    pthread_mutex_lock(&r->mu);
    for (rp_entry *e = r->oldest; e && n < cap;) {
        rp_entry *newer = e->newer;
        if (e->pending.replays > 0 && (all || due(r, e, now)))
            take(e, now, &rows[n++]);
        else if (e->pending.replays == 0 && due(r, e, now))
            remove_entry(r, e); /* quiet for a whole interval: its next replay writes at once */
        e = newer;
    }
    pthread_mutex_unlock(&r->mu);
    return n;
}

ts_status ts_store__replays_write(const ts_store_backend_ops *ops, void *impl,
                                  const ts_store__replay_row *row, int64_t now, ts_error *err)
{
    char detail[128];
    snprintf(detail, sizeof detail, "{\"replays\":%lld,\"first_at\":%lld,\"last_at\":%lld}",
             (long long)row->replays, (long long)row->first_at, (long long)row->last_at);
    ts_store_audit_entry e = {0,
                              row->last_at ? row->last_at : now,
                              TS_STORE__REPLAY_AUDIT_TYPE,
                              row->subject,
                              row->family_id,
                              row->hash_prefix,
                              row->peer,
                              detail};
    return ops->audit_append(impl, &e, err);
}

ts_status ts_store__replays_flush(ts_store__replays *r, const ts_store_backend_ops *ops, void *impl,
                                  int64_t now, bool all, ts_error *err)
{
    ts_store__replay_row rows[16];
    ts_status ret = TS_OK;
    size_t n;
    while ((n = ts_store__replays_take_due(r, now, all, rows, 16)) > 0) {
        for (size_t i = 0; i < n; i++) {
            ts_error e;
            ts_error_clear(&e);
            if (ts_store__replays_write(ops, impl, &rows[i], now, &e) == TS_OK)
                continue;
            /* Kept for the next flush; the first failure is reported. */
            ts_store__replays_restore(r, &rows[i]);
            if (ret == TS_OK) {
                ret = e.code != TS_OK ? e.code : TS_EIO;
                if (err)
                    *err = e;
            }
        }
        if (ret != TS_OK)
            break; /* the store is failing: do not spin on rows that were just restored */
    }
    return ret;
}
