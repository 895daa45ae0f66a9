/* Rows into a PostgreSQL table through `COPY ... FROM STDIN` in text format: far faster than
 * INSERTs for a million audit records, and with memory bounded by one fixed buffer. Rows go in
 * statements of at most TS_STORE__COPY_BATCH rows, so that every statement stays within the
 * session's statement_timeout however large the table is. */
#define _POSIX_C_SOURCE 200809L
#include "store_copy_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ts_store__copy_stream_init(ts_store__copy_stream *s, ts_pg_conn *c,
                                const ts_store__copy_table *t)
{
    s->c = c;
    s->t = t;
    s->open = false;
    s->pending = 0;
    s->written = 0;
    s->len = 0;
}

/* A failure of the connection or of the statement. For a table that holds secrets the
 * server's text is not kept: a message about a bad row may one day quote the row. */
static ts_status fail(ts_store__copy_stream *s, const PGresult *r, ts_error *err)
{
    ts_status st = ts_store__pg_fail(s->c, r, "copy.to", err);
    if (s->t->secret && !s->c->broken)
        ts_error_set(err, st, "copy.to",
                     "PostgreSQL refused the rows of %s (SQLSTATE %s; the server's message is "
                     "not shown: the table holds secrets)",
                     s->t->name, s->c->sqlstate[0] ? s->c->sqlstate : "unknown");
    return st;
}

static ts_status flush(ts_store__copy_stream *s, ts_error *err)
{
    if (s->len == 0)
        return TS_OK;
    int rc = PQputCopyData(s->c->pg, s->buf, (int)s->len);
    if (s->t->secret)
        ts_store__wipe(s->buf, s->len);
    s->len = 0;
    return rc == 1 ? TS_OK : fail(s, NULL, err);
}

static ts_status put(ts_store__copy_stream *s, const char *p, size_t n, ts_error *err)
{
    while (n > 0) {
        if (s->len == sizeof s->buf) {
            ts_status st = flush(s, err);
            if (st != TS_OK)
                return st;
        }
        size_t k = sizeof s->buf - s->len;
        if (k > n)
            k = n;
        memcpy(s->buf + s->len, p, k);
        s->len += k;
        p += k;
        n -= k;
    }
    return TS_OK;
}

/* A value in COPY's text format: backslash, tab, newline and carriage return escaped (an audit
 * detail or a JWK may hold the last three as JSON white space); everything else as it is. */
static ts_status put_value(ts_store__copy_stream *s, const char *v, size_t n, ts_error *err)
{
    if (!v)
        return put(s, "\\N", 2, err);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        const char *esc = NULL;
        switch (v[i]) {
        case '\\':
            esc = "\\\\";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        default:
            continue;
        }
        ts_status st = put(s, v + run, i - run, err);
        if (st == TS_OK)
            st = put(s, esc, 2, err);
        if (st != TS_OK)
            return st;
        run = i + 1;
    }
    return put(s, v + run, n - run, err);
}

static ts_status begin(ts_store__copy_stream *s, ts_error *err)
{
    char sql[512];
    snprintf(sql, sizeof sql, "COPY %s (%s) FROM STDIN", s->t->name, s->t->columns);
    PGresult *r = PQexec(s->c->pg, sql);
    ts_status st = TS_OK;
    if (PQresultStatus(r) == PGRES_COPY_IN) {
        s->open = true;
        s->pending = 0;
    } else {
        st = fail(s, r, err);
    }
    PQclear(r);
    return st;
}

/* Send what is buffered, end the statement and add the rows the server inserted. */
static ts_status end(ts_store__copy_stream *s, ts_error *err)
{
    ts_status st = flush(s, err);
    if (st != TS_OK)
        return st;
    if (PQputCopyEnd(s->c->pg, NULL) != 1)
        return fail(s, NULL, err);
    s->open = false;
    PGresult *r;
    while ((r = PQgetResult(s->c->pg)) != NULL) {
        ExecStatusType rs = PQresultStatus(r);
        if (st == TS_OK && rs == PGRES_COMMAND_OK)
            s->written += strtoull(PQcmdTuples(r), NULL, 10);
        else if (st == TS_OK)
            st = fail(s, r, err);
        PQclear(r);
        if (rs == PGRES_COPY_IN) { /* the server still waits for data: never reuse it */
            s->c->broken = true;
            break;
        }
    }
    if (st == TS_OK)
        s->c->sqlstate[0] = '\0';
    return st;
}

ts_status ts_store__copy_stream_row(const char *const *vals, const size_t *lens, void *ud,
                                    ts_error *err)
{
    ts_store__copy_stream *s = ud;
    ts_status st = s->open ? TS_OK : begin(s, err);
    for (unsigned i = 0; st == TS_OK && i < s->t->ncols; i++) {
        if (i > 0)
            st = put(s, "\t", 1, err);
        if (st == TS_OK)
            st = put_value(s, vals[i], lens[i], err);
    }
    if (st == TS_OK)
        st = put(s, "\n", 1, err);
    if (st == TS_OK && ++s->pending >= TS_STORE__COPY_BATCH)
        st = end(s, err);
    return st;
}

ts_status ts_store__copy_stream_finish(ts_store__copy_stream *s, ts_error *err)
{
    return s->open ? end(s, err) : TS_OK;
}

void ts_store__copy_stream_cleanup(ts_store__copy_stream *s)
{
    if (s->open && !s->c->broken) {
        /* Ending the COPY as failed aborts the transaction, which the runner rolls back. */
        if (PQputCopyEnd(s->c->pg, "tokensmith: copy abandoned") != 1) {
            s->c->broken = true;
        } else {
            PGresult *r;
            while ((r = PQgetResult(s->c->pg)) != NULL) {
                bool copy_in = PQresultStatus(r) == PGRES_COPY_IN;
                PQclear(r);
                if (copy_in) {
                    s->c->broken = true;
                    break;
                }
            }
        }
    }
    s->open = false;
    ts_store__wipe(s->buf, sizeof s->buf);
    s->len = 0;
}
