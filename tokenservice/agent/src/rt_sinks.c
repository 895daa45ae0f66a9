/* What the sinks hold: the file of a file sink (replaced atomically with its owner, group and
 * mode, removed when its token is gone) and the answer of an http or uds sink (the sink's response
 * with the token of now). */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/digest.h"
#include "common/file.h"
#include "common/json_writer.h"
#include "rt_internal.h"

static void sink_failed(ts_agent__graph *g, size_t k, const char *what, const char *why)
{
    char msg[400];
    snprintf(msg, sizeof msg, "%s: %s", what, why);
    atomic_fetch_add(&ts_agent__graph_sink_stats(g, k)->errors, 1);
    TS_AGENT_LOG(ts_agent__graph_log(g), TS_AGENT_LOG_ERROR, "sink failed",
                 TS_KS("sink", ts_agent__graph_config(g)->sinks[k].id), TS_KS("error", msg));
}

static void write_one(ts_agent__graph *g, size_t k, const ts_agent_sink *sk)
{
    char *v;
    size_t vl;
    if (ts_agent__token_copy(g, sk->source_index, sk->token_index, &v, &vl, NULL) != TS_OK) {
        if (unlink(sk->path) == 0)
            TS_AGENT_LOG(ts_agent__graph_log(g), TS_AGENT_LOG_INFO, "sink removed",
                         TS_KS("sink", sk->id), TS_KS("reason", "expired"));
        else if (errno != ENOENT)
            sink_failed(g, k, "cannot remove the file", strerror(errno));
        return;
    }
    ts_error err;
    ts_error_clear(&err);
    /* Owner, group and mode are the temporary file's before it is renamed: the path never
     * holds a token file that the sink's group cannot read yet, or that others could. */
    ts_status st = ts_common__write_file_atomic_owned(
        sk->path, v, vl, (mode_t)sk->mode, sk->owner_uid >= 0 ? (uid_t)sk->owner_uid : (uid_t)-1,
        sk->group_gid >= 0 ? (gid_t)sk->group_gid : (gid_t)-1, &err);
    char h[9];
    ts_common__sha256_prefix(v, vl, h);
    ts_agent__secret_free(v, vl);
    if (st != TS_OK) {
        sink_failed(g, k, "cannot write the file", err.msg);
        return;
    }
    atomic_fetch_add(&ts_agent__graph_sink_stats(g, k)->writes, 1);
    TS_AGENT_LOG(ts_agent__graph_log(g), TS_AGENT_LOG_DEBUG, "sink written", TS_KS("sink", sk->id),
                 TS_KS("sha256", h));
}

void ts_agent__file_sinks_update(ts_agent__graph *g, size_t source, const char *reason)
{
    (void)reason;
    const ts_agent_config *cfg = ts_agent__graph_config(g);
    for (size_t k = 0; k < cfg->n_sinks; k++)
        if (cfg->sinks[k].type == TS_AGENT_SINK_FILE && cfg->sinks[k].source_index == source)
            write_one(g, k, &cfg->sinks[k]);
}

void ts_agent__answer_clear(ts_agent__answer *a)
{
    ts_agent__secret_free(a->body, a->body_len);
    for (size_t i = 0; i < a->n_hdrs; i++)
        ts_agent__secret_free(a->hdr_values[i], a->hdr_lens[i]);
    memset(a, 0, sizeof *a);
}

static ts_status set_body(ts_agent__answer *a, ts_common__json *w)
{
    a->body = ts_common__json_take(w, &a->body_len);
    ts_common__json_cleanup(w);
    return a->body ? TS_OK : TS_ENOMEM;
}

/* 503 with a JSON error, for a sink or /health without a token. */
static ts_status unavailable(ts_agent__answer *a, const char *source)
{
    char d[128];
    snprintf(d, sizeof d, "no valid token for source '%s'", source);
    ts_common__json w;
    ts_common__json_init(&w, TS_COMMON__JSON_UTF8);
    ts_common__json_open(&w);
    ts_common__json_kstr(&w, "error", "unavailable");
    ts_common__json_kstr(&w, "error_description", d);
    ts_common__json_close(&w);
    a->status = 503;
    a->content_type = "application/json";
    return set_body(a, &w);
}

/* The text of one response field (heap; a token's copy or a formatted expiry). */
static ts_status field_text(ts_agent__graph *g, const ts_agent_sink *sk,
                            const ts_agent_response_field *f, int64_t now, char **out, size_t *len,
                            bool *number)
{
    *number = false;
    if (f->type == TS_AGENT_FIELD_STRING) {
        *len = strlen(f->value);
        return (*out = strdup(f->value)) ? TS_OK : TS_ENOMEM;
    }
    char *v;
    size_t vl;
    int64_t exp;
    ts_status st = ts_agent__token_copy(g, sk->source_index, f->token_index, &v, &vl, &exp);
    if (st != TS_OK || f->type == TS_AGENT_FIELD_TOKEN) {
        *out = st == TS_OK ? v : NULL;
        *len = st == TS_OK ? vl : 0;
        return st;
    }
    ts_agent__secret_free(v, vl);
    char buf[40];
    if (f->format == TS_AGENT_TIME_RFC3339)
        ts_agent__format_rfc3339(exp, buf, sizeof buf);
    else {
        snprintf(buf, sizeof buf, "%lld",
                 (long long)(f->format == TS_AGENT_TIME_UNIX ? exp : (exp > now ? exp - now : 0)));
        *number = true;
    }
    *len = strlen(buf);
    return (*out = strdup(buf)) ? TS_OK : TS_ENOMEM;
}

ts_status ts_agent__sink_answer(ts_agent__graph *g, size_t sink, ts_agent__answer *a)
{
    const ts_agent_config *cfg = ts_agent__graph_config(g);
    const ts_agent_sink *sk = &cfg->sinks[sink];
    const ts_agent_response *r = &sk->response;
    int64_t now = ts_agent__graph_now_ms(g) / 1000;
    memset(a, 0, sizeof *a);
    ts_agent__sink_stats *stats = ts_agent__graph_sink_stats(g, sink);
    ts_common__json w;
    ts_common__json_init(&w, TS_COMMON__JSON_UTF8);
    if (r->json)
        ts_common__json_open(&w);
    ts_status st = TS_OK;
    for (size_t i = 0; i < r->n_body && st == TS_OK; i++) {
        char *v;
        size_t vl;
        bool number;
        if ((st = field_text(g, sk, &r->body[i], now, &v, &vl, &number)) != TS_OK)
            break;
        if (r->json) {
            ts_common__json_key(&w, r->body[i].name);
            if (number)
                ts_common__json_raw(&w, v, vl);
            else
                ts_common__json_strn(&w, v, vl);
        } else
            ts_common__json_raw(&w, v, vl);
        ts_agent__secret_free(v, vl);
    }
    for (size_t i = 0; i < r->n_headers && st == TS_OK && i < TS_AGENT_MAX_FIELDS; i++) {
        bool number;
        st = field_text(g, sk, &r->headers[i], now, &a->hdr_values[i], &a->hdr_lens[i], &number);
        if (st == TS_OK) {
            a->hdr_names[i] = r->headers[i].name;
            a->n_hdrs = i + 1;
        }
    }
    if (st != TS_OK) {
        ts_common__json_cleanup(&w);
        ts_agent__answer_clear(a);
        if (st == TS_ENOMEM)
            return st;
        atomic_fetch_add(&stats->errors, 1);
        return unavailable(a, sk->source_id);
    }
    if (r->json)
        ts_common__json_close(&w);
    a->status = 200;
    a->content_type = r->content_type;
    if ((st = set_body(a, &w)) == TS_OK)
        atomic_fetch_add(&stats->writes, 1);
    return st;
}
