/* Audit records of the SQLite backend: appended inside the transaction of the change they
 * describe, listed oldest first. */
#include "sqlite_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool ts_store__sq_json_str(char *buf, size_t cap, size_t *len, const char *v)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = *len;
    const unsigned char *p = (const unsigned char *)(v ? v : "");
#define PUT(ch)                                                                                    \
    do {                                                                                           \
        if (o + 1 >= cap)                                                                          \
            goto full;                                                                             \
        buf[o++] = (char)(ch);                                                                     \
    } while (0)
    PUT('"');
    for (; *p; p++) {
        if (*p == '"' || *p == '\\') {
            PUT('\\');
            PUT(*p);
        } else if (*p < 0x20) {
            PUT('\\');
            PUT('u');
            PUT('0');
            PUT('0');
            PUT(hex[*p >> 4]);
            PUT(hex[*p & 15]);
        } else {
            PUT(*p);
        }
    }
    PUT('"');
#undef PUT
    buf[o] = '\0';
    *len = o;
    return true;
full:
    buf[*len] = '\0';
    return false;
}

ts_status ts_store__sq_audit(ts_sq_conn *c, int64_t at, const char *type, const char *subject,
                             const char *ref_id, const char *hash, const char *peer,
                             const char *detail, ts_error *err)
{
    sqlite3_stmt *st =
        ts_store__sq_stmt(c, TS_SQ_AUDIT_INSERT,
                          "INSERT INTO audit_log (at, type, subject, ref_id, "
                          "hash_prefix, peer, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                          err);
    if (!st)
        return err ? err->code : TS_EIO;
    char prefix[TS_STORE_PREFIX_LEN + 1];
    ts_store_hash_prefix(hash, prefix);
    sqlite3_bind_int64(st, 1, at);
    ts_store__sq_bind_text(st, 2, type);
    ts_store__sq_bind_text(st, 3, subject);
    ts_store__sq_bind_text(st, 4, ref_id);
    ts_store__sq_bind_text(st, 5, prefix);
    ts_store__sq_bind_text(st, 6, peer);
    if (detail)
        ts_store__sq_bind_text(st, 7, detail);
    else
        sqlite3_bind_null(st, 7);
    int rc = sqlite3_step(st);
    ts_status ret = TS_OK;
    /* The store writes its own details as valid JSON, so the only CHECK they can fail is
       json_valid() running out of memory, which SQLite answers as "not JSON", not as an error. */
    if (rc != SQLITE_DONE && sqlite3_extended_errcode(c->db) == SQLITE_CONSTRAINT_CHECK)
        ret = ts_error_set(err, TS_ENOMEM, "audit", "out of memory in SQLite");
    else if (rc != SQLITE_DONE)
        ret = ts_store__sq_fail(c, "audit", err);
    sqlite3_reset(st);
    return ret;
}

ts_status ts_store__sq_audit_entry(ts_sq_conn *c, const ts_store_audit_entry *e, ts_error *err)
{
    sqlite3_stmt *q =
        ts_store__sq_stmt(c, TS_SQ_AUDIT_INSERT,
                          "INSERT INTO audit_log (at, type, subject, ref_id, "
                          "hash_prefix, peer, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                          err);
    if (!q)
        return err->code != TS_OK ? err->code : TS_EIO;
    sqlite3_bind_int64(q, 1, e->at);
    ts_store__sq_bind_text(q, 2, e->type);
    ts_store__sq_bind_text(q, 3, e->subject);
    ts_store__sq_bind_text(q, 4, e->ref_id);
    ts_store__sq_bind_text(q, 5, e->hash_prefix);
    ts_store__sq_bind_text(q, 6, e->peer);
    if (e->detail)
        ts_store__sq_bind_text(q, 7, e->detail);
    else
        sqlite3_bind_null(q, 7);
    ts_status st = TS_OK;
    if (sqlite3_step(q) != SQLITE_DONE) {
        if ((sqlite3_extended_errcode(c->db) & 0xff) == SQLITE_CONSTRAINT)
            st = ts_error_set(err, TS_EINVAL, "detail", "audit detail is not valid JSON");
        else
            st = ts_store__sq_fail(c, "audit", err);
    }
    sqlite3_reset(q);
    return st;
}

static ts_status append_txn(ts_sq_conn *c, void *arg, ts_error *err)
{
    return ts_store__sq_audit_entry(c, ((const ts_store_audit_entry *const *)arg)[0], err);
}

ts_status ts_store__sq_audit_append(void *impl, const ts_store_audit_entry *e, ts_error *err)
{
    const ts_store_audit_entry *arg[1] = {e};
    return ts_store__sq_write(impl, append_txn, arg, err);
}

/* Rows are copied out and the connection returned before any callback runs, so a callback
 * may call back into the store. */
typedef struct audit_row {
    ts_store_audit_entry e;
    char *strings; /* one allocation holding every string of the row */
} audit_row;

static char *dup_cols(sqlite3_stmt *q, ts_store_audit_entry *e)
{
    const char *cols[6];
    size_t lens[6], total = 0;
    for (int i = 0; i < 6; i++) {
        const char *v = (const char *)sqlite3_column_text(q, 2 + i);
        cols[i] = v ? v : "";
        lens[i] = strlen(cols[i]);
        total += lens[i] + 1;
    }
    char *buf = malloc(total);
    if (!buf)
        return NULL;
    const char **dst[6] = {&e->type,        &e->subject, &e->ref_id,
                           &e->hash_prefix, &e->peer,    &e->detail};
    char *p = buf;
    for (int i = 0; i < 6; i++) {
        memcpy(p, cols[i], lens[i] + 1);
        *dst[i] = p;
        p += lens[i] + 1;
    }
    if (sqlite3_column_type(q, 7) == SQLITE_NULL)
        e->detail = NULL;
    return buf;
}

ts_status ts_store__sq_audit_list(void *impl, int64_t after_id, size_t limit, ts_store_audit_fn fn,
                                  void *ud, ts_error *err)
{
    ts_sq_store *s = impl;
    ts_sq_conn *c = NULL;
    ts_status st = ts_store__sq_acquire(s, &c, err);
    if (st != TS_OK)
        return st;
    audit_row *rows = calloc(limit, sizeof *rows);
    size_t n = 0;
    sqlite3_stmt *q = NULL;
    if (!rows)
        st = ts_error_set(err, TS_ENOMEM, "ts_store_audit_list", "out of memory");
    else
        q = ts_store__sq_stmt(c, TS_SQ_AUDIT_LIST,
                              "SELECT id, at, type, subject, ref_id, hash_prefix, peer, detail "
                              "FROM audit_log WHERE id > ?1 ORDER BY id LIMIT ?2",
                              err);
    if (st == TS_OK && !q)
        st = err ? err->code : TS_EIO;
    if (st == TS_OK) {
        sqlite3_bind_int64(q, 1, after_id);
        sqlite3_bind_int64(q, 2, (sqlite3_int64)limit);
        int rc = SQLITE_DONE;
        while (n < limit && (rc = sqlite3_step(q)) == SQLITE_ROW) {
            rows[n].e.id = sqlite3_column_int64(q, 0);
            rows[n].e.at = sqlite3_column_int64(q, 1);
            rows[n].strings = dup_cols(q, &rows[n].e);
            if (!rows[n].strings) {
                st = ts_error_set(err, TS_ENOMEM, "ts_store_audit_list", "out of memory");
                break;
            }
            n++;
        }
        if (st == TS_OK && n < limit && rc != SQLITE_DONE)
            st = ts_store__sq_fail(c, "audit list", err);
        sqlite3_reset(q);
    }
    ts_store__sq_release(s, c);
    if (st == TS_OK)
        for (size_t i = 0; i < n; i++)
            if (fn(&rows[i].e, ud) != 0)
                break;
    for (size_t i = 0; i < n; i++)
        free(rows[i].strings);
    free(rows);
    return st;
}
