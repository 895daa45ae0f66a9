/* Logs: one line per event on stderr, JSON or text. Never a token: jti, kid, hash prefixes. */
#define _GNU_SOURCE

#include "svc_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void ts_svc__log_timestamp(char ts[40])
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(ts, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, 40 - n, ".%03ldZ", now.tv_nsec / 1000000L);
}

/* Printable ASCII without blanks, quotes, backslashes or '=': safe to write unquoted. */
static bool plain_word(const char *v)
{
    if (!*v)
        return false;
    for (; *v; v++)
        if (*v <= ' ' || *v > '~' || *v == '"' || *v == '\\' || *v == '=')
            return false;
    return true;
}

static void log_text(const char *ts, const char *level, const char *msg, json_t *fields)
{
    char *line = NULL;
    size_t cap = 0;
    FILE *m = open_memstream(&line, &cap);
    if (!m)
        return;
    fprintf(m, "%s %-5s %s", ts, level, msg);
    const char *k;
    json_t *v;
    json_object_foreach(fields, k, v)
    {
        /* A value that is one plain word is written as it is; anything else (blanks, quotes,
         * control characters, non-ASCII, an empty string) as an ASCII-only JSON string, so that
         * no value can end the line, forge another one or reorder text on a terminal. */
        if (json_is_string(v) && plain_word(json_string_value(v))) {
            fprintf(m, " %s=%s", k, json_string_value(v));
            continue;
        }
        char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        ts_svc_jw w;
        ts_svc_jw_init_ascii(&w); /* also escapes DEL, which JSON_ENSURE_ASCII leaves raw */
        if (t)
            ts_svc_jw_raw(&w, t, strlen(t));
        free(t);
        fprintf(m, " %s=%.*s", k, w.oom ? 4 : (int)w.len, w.oom ? "null" : w.ptr);
        ts_svc_jw_free(&w);
    }
    fputc('\n', m);
    fclose(m);
    fputs(line, stderr);
    free(line);
}

/* Log with fields given as JSON object members without the braces ("k":v,...; may be empty).
   JSON lines are written directly; the text format reads the members back. */
void ts_svc__log_members(const ts_svc *s, const char *level, const char *msg, const char *members,
                         size_t mlen)
{
    char ts[40];
    ts_svc__log_timestamp(ts);
    if (s && s->text_logs) {
        char *obj = malloc(mlen + 3);
        if (!obj)
            return;
        obj[0] = '{';
        memcpy(obj + 1, members, mlen);
        obj[mlen + 1] = '}';
        obj[mlen + 2] = '\0';
        json_t *fields = json_loadb(obj, mlen + 2, 0, NULL);
        free(obj);
        if (!fields)
            fields = json_object();
        log_text(ts, level, msg, fields);
        json_decref(fields);
        return;
    }
    ts_svc_jw w;
    ts_svc_jw_init_ascii(&w); /* log lines are printable ASCII, whatever their fields hold */
    ts_svc_jw_open(&w);
    ts_svc_jw_kstr(&w, "time", ts);
    ts_svc_jw_kstr(&w, "level", level);
    ts_svc_jw_kstr(&w, "msg", msg);
    if (mlen) {
        ts_svc_jw_raw(&w, ",", 1);
        ts_svc_jw_raw(&w, members, mlen);
    }
    ts_svc_jw_close(&w);
    ts_svc_jw_raw(&w, "\n", 1);
    if (!w.oom) /* one write per line so that lines from worker threads never interleave */
        fwrite(w.ptr, 1, w.len, stderr);
    ts_svc_jw_free(&w);
}

/* The members of a JSON object as text without its braces; "" for NULL. Free with free(). */
char *ts_svc__members_of(json_t *fields, size_t *len)
{
    *len = 0;
    char *t = fields ? json_dumps(fields, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII |
                                              JSON_REAL_PRECISION(6))
                     : NULL;
    if (!t)
        return NULL;
    size_t n = strlen(t);
    if (n < 2) {
        free(t);
        return NULL;
    }
    memmove(t, t + 1, n - 2);
    t[n - 2] = '\0';
    *len = n - 2;
    return t;
}

void ts_svc__log_event(const ts_svc *s, const char *level, const char *msg, json_t *fields)
{
    size_t mlen;
    char *m = ts_svc__members_of(fields, &mlen);
    json_decref(fields);
    ts_svc__log_members(s, level, msg, m ? m : "", mlen);
    free(m);
}
