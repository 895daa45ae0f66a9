/* Private declarations of ts_store_copy(): the tables it copies (store_copy.c), reading them
 * from a SQLite store (store_copy_source.c) and writing them into a PostgreSQL store inside
 * one transaction (store_copy_target.c, with the COPY stream of store_copy_stream.c). */
#ifndef TS_STORE_COPY_INTERNAL_H
#define TS_STORE_COPY_INTERNAL_H

#include "pg_internal.h"
#include "sqlite_internal.h"

/* Rows per COPY statement: each statement stays well within the statement timeout, however
 * many rows the source holds. */
#define TS_STORE__COPY_BATCH 10000u
/* Most columns of a copied table (bootstrap_tokens has 15). */
#define TS_STORE__COPY_MAX_COLS 16u

/* The copied tables, in the order they are written (a family before its rotated hashes). */
typedef enum ts_store__copy_table_id {
    TS_COPY_BOOTSTRAP,
    TS_COPY_FAMILIES,
    TS_COPY_ROTATED,
    TS_COPY_AUDIT,
    TS_COPY_KEYS,
    TS_COPY_OIDC,
    TS_COPY_MAPPINGS,
    TS_COPY_ISSUED,
    TS_COPY_REVOCATIONS,
    TS_COPY_TABLES
} ts_store__copy_table_id;

/* A table as both schemas have it: the same name and the same column names. */
typedef struct ts_store__copy_table {
    const char *name;
    const char *columns; /* comma-separated, the order of the rows' values */
    unsigned ncols;
    const char *order; /* the source's ORDER BY: the key, so that audit ids keep their order */
    /* The rows hold secrets (the provider configuration's client secrets): buffers that held
     * them are wiped, and the database's messages about them are never quoted. */
    bool secret;
} ts_store__copy_table;

extern const ts_store__copy_table ts_store__copy_tables[TS_COPY_TABLES];

/* ---- source (store_copy_source.c) ------------------------------------------------------- */

/* One read transaction on a pooled connection of a SQLite store: every read sees one
 * snapshot. */
typedef struct ts_store__copy_src {
    ts_sq_store *sq;
    ts_sq_conn *c;
} ts_store__copy_src;

/* Take a connection of @p sq and begin the read transaction. */
ts_status ts_store__copy_src_open(ts_sq_store *sq, ts_store__copy_src *src, ts_error *err);
/* End the read transaction and give the connection back. NULL-safe, idempotent. */
void ts_store__copy_src_close(ts_store__copy_src *src);

/* The highest audit id the source ever handed out (AUTOINCREMENT's high-water mark, which
 * stays after the newest records are collected) or its highest id, whichever is greater; 0
 * when it never held one. */
ts_status ts_store__copy_src_audit_hwm(ts_store__copy_src *src, int64_t *out, ts_error *err);
/* The same for the revocations' seq. */
ts_status ts_store__copy_src_revocation_hwm(ts_store__copy_src *src, int64_t *out, ts_error *err);

/* One row: @p vals[i] is column i's text (NULL for SQL NULL), @p lens[i] its length in bytes.
 * Borrowed, valid during the call. */
typedef ts_status (*ts_store__copy_row_fn)(const char *const *vals, const size_t *lens, void *ud,
                                           ts_error *err);

/* Call @p fn for every row of @p t in the table's order; *@p rows receives how many were read.
 * Stops at the first error @p fn returns. */
ts_status ts_store__copy_src_scan(ts_store__copy_src *src, const ts_store__copy_table *t,
                                  ts_store__copy_row_fn fn, void *ud, uint64_t *rows,
                                  ts_error *err);

/* ---- COPY stream (store_copy_stream.c) -------------------------------------------------- */

#define TS_STORE__COPY_BUF 65536u

/* Rows going into one table through `COPY ... FROM STDIN` (text format), in statements of at
 * most TS_STORE__COPY_BATCH rows, through a fixed buffer. */
typedef struct ts_store__copy_stream {
    ts_pg_conn *c;
    const ts_store__copy_table *t;
    bool open;        /* a COPY statement is in progress */
    uint64_t pending; /* rows sent in the current statement */
    uint64_t written; /* rows the server reported as inserted, all statements */
    size_t len;       /* bytes in buf */
    char buf[TS_STORE__COPY_BUF];
} ts_store__copy_stream;

/* Start writing rows of @p t on @p c (no statement is sent before the first row). */
void ts_store__copy_stream_init(ts_store__copy_stream *s, ts_pg_conn *c,
                                const ts_store__copy_table *t);
/* A ts_store__copy_row_fn (@p ud the stream): append one row, ending the statement at
 * TS_STORE__COPY_BATCH rows. */
ts_status ts_store__copy_stream_row(const char *const *vals, const size_t *lens, void *ud,
                                    ts_error *err);
/* End the statement in progress, if any. */
ts_status ts_store__copy_stream_finish(ts_store__copy_stream *s, ts_error *err);
/* Leave the connection usable after a failure (an open COPY is ended as failed) and wipe the
 * buffer. Always call it, also after ts_store__copy_stream_finish(). */
void ts_store__copy_stream_cleanup(ts_store__copy_stream *s);

/* ---- target (store_copy_target.c) ------------------------------------------------------- */

/* What the target transaction needs and gives. */
typedef struct ts_store__copy_job {
    ts_store__copy_src *src;
    bool force;
    ts_store_copy_counts counts; /* recomputed by every run of the transaction */
} ts_store__copy_job;

/* A ts_pg_txn_fn (@p arg a ts_store__copy_job): lock the target's tables, refuse them when not
 * empty (unless forced, then empty them), copy every table from the source and move the audit
 * id sequence. */
ts_status ts_store__copy_txn(ts_pg_conn *c, void *arg, ts_error *err);

#endif
