/* The agent's log: one JSON object (or one text line) per event on a descriptor, never a token
 * (tokens are named by the first 8 hex digits of their SHA-256: common/digest.h). */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/json_writer.h"
#include "rt_internal.h"

struct ts_agent__log {
    int fd;
    pthread_mutex_t mu; /* one write per line; level and format change on a reload */
    ts_agent_log_level level;
    ts_agent_log_format format;
};

ts_agent__log *ts_agent__log_new(int fd, ts_agent_log_level level, ts_agent_log_format format)
{
    ts_agent__log *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->fd = fd;
    l->level = level;
    l->format = format;
    pthread_mutex_init(&l->mu, NULL);
    return l;
}

void ts_agent__log_free(ts_agent__log *l)
{
    if (!l)
        return;
    pthread_mutex_destroy(&l->mu);
    free(l);
}

void ts_agent__log_set(ts_agent__log *l, ts_agent_log_level level, ts_agent_log_format format)
{
    pthread_mutex_lock(&l->mu);
    l->level = level;
    l->format = format;
    pthread_mutex_unlock(&l->mu);
}

static const char *level_name(ts_agent_log_level lv)
{
    static const char *const names[] = {"trace", "debug", "info", "warn", "error"};
    return (unsigned)lv < 5u ? names[lv] : "info";
}

static void now_text(char *out, size_t cap)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    /* The fields are in range (gmtime_r, tv_nsec < 1e9), but the compiler cannot know: bound
     * them so that no output can be cut. */
    int n = snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (tm.tm_year + 1900) % 10000,
                     (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
                     tm.tm_sec % 100, (int)(ts.tv_nsec / 1000000L) % 1000);
    if (n < 0 && cap)
        out[0] = '\0';
}

/* Text format: printable ASCII only, like the JSON lines (a logged path cannot corrupt a
 * terminal); a value with a space is quoted. */
static void text_value(ts_common__json *w, const char *s)
{
    bool quote = !*s || strpbrk(s, " \"=") != NULL;
    if (quote)
        ts_common__json_raw(w, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            ts_common__json_raw(w, "\\", 1);
            ts_common__json_raw(w, s, 1);
        } else if (c < 0x20 || c >= 0x7f)
            ts_common__json_raw(w, "?", 1);
        else
            ts_common__json_raw(w, s, 1);
    }
    if (quote)
        ts_common__json_raw(w, "\"", 1);
}

void ts_agent__log_line(ts_agent__log *l, ts_agent_log_level level, const char *msg,
                        const ts_agent__kv *kv, size_t n)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    if (level < l->level) {
        pthread_mutex_unlock(&l->mu);
        return;
    }
    char ts[40];
    now_text(ts, sizeof ts);
    ts_common__json w;
    ts_common__json_init(&w, TS_COMMON__JSON_ASCII);
    if (l->format == TS_AGENT_LOG_JSON) {
        ts_common__json_open(&w);
        ts_common__json_kstr(&w, "time", ts);
        ts_common__json_kstr(&w, "level", level_name(level));
        ts_common__json_kstr(&w, "msg", msg);
        for (size_t i = 0; i < n; i++) {
            if (kv[i].s)
                ts_common__json_kstr(&w, kv[i].key, kv[i].s);
            else
                ts_common__json_kint(&w, kv[i].key, kv[i].i);
        }
        ts_common__json_close(&w);
    } else {
        ts_common__json_raws(&w, ts);
        ts_common__json_raw(&w, " ", 1);
        ts_common__json_raws(&w, level_name(level));
        ts_common__json_raw(&w, " ", 1);
        text_value(&w, msg);
        for (size_t i = 0; i < n; i++) {
            char num[32];
            ts_common__json_raw(&w, " ", 1);
            ts_common__json_raws(&w, kv[i].key);
            ts_common__json_raw(&w, "=", 1);
            if (!kv[i].s)
                snprintf(num, sizeof num, "%lld", (long long)kv[i].i);
            text_value(&w, kv[i].s ? kv[i].s : num);
        }
    }
    ts_common__json_raw(&w, "\n", 1);
    if (!w.oom) {
        const char *p = w.ptr;
        size_t left = w.len;
        while (left > 0) {
            ssize_t k = write(l->fd, p, left);
            if (k <= 0)
                break; /* a log that cannot be written is not a reason to stop */
            p += k;
            left -= (size_t)k;
        }
    }
    ts_common__json_cleanup(&w);
    pthread_mutex_unlock(&l->mu);
}
