/* `oauth2` and `tokensmith` sources: one ts_client each (libtokensmith-client does the grant,
 * the client authentication and the refresh family in its state file). The agent decides when
 * a new token is due, so the client renews only when asked (no thread of its own) and leaves
 * the backoff to the agent's schedule. */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>

#include <tokensmith/client.h>

#include "rt_internal.h"

typedef struct value_fn {
    ts_agent__graph *g;
    const ts_agent_value *v;
} value_fn;

struct ts_agent__client {
    ts_agent__graph *g;
    size_t index;
    ts_client *c;
    uint64_t generation; /* of the last token handed out; 0: none yet */
    value_fn subject, actor;
};

/* The subject or actor token of an exchange, read at the moment of the exchange. */
static ts_status token_fn(char *buf, size_t cap, size_t *len, ts_error *err, void *ud)
{
    value_fn *f = ud;
    char *v;
    size_t vl;
    ts_status st = ts_agent__value_text(f->g, f->v, &v, &vl, err);
    if (st != TS_OK)
        return st;
    *len = vl;
    if (vl + 1 > cap)
        st = TS_ELIMIT;
    else
        memcpy(buf, v, vl + 1);
    ts_agent__secret_free(v, vl);
    return st;
}

static void client_log(ts_client_log_level level, const char *msg, void *ud)
{
    ts_agent__client *c = ud;
    static const ts_agent_log_level map[] = {TS_AGENT_LOG_DEBUG, TS_AGENT_LOG_INFO,
                                             TS_AGENT_LOG_WARN, TS_AGENT_LOG_ERROR};
    const ts_agent_source *src = &ts_agent__graph_config(c->g)->sources[c->index];
    TS_AGENT_LOG(ts_agent__graph_log(c->g), map[(unsigned)level < 4u ? level : 1], "client",
                 TS_KS("source", src->id), TS_KS("detail", msg));
}

/* A secret given as value, from_file or from_env, read now; NULL when absent (a bootstrap
 * token's file may be gone once the family is in the state file). */
static char *secret(ts_agent__graph *g, const ts_agent_value *v, size_t *len)
{
    char *s = NULL;
    ts_error e;
    ts_error_clear(&e);
    *len = 0;
    if (v && ts_agent__value_text(g, v, &s, len, &e) != TS_OK)
        return NULL;
    return s;
}

ts_agent__client *ts_agent__client_new(ts_agent__graph *g, size_t i, ts_error *err)
{
    const ts_agent_config *cfg = ts_agent__graph_config(g);
    const ts_agent_source *src = &cfg->sources[i];
    ts_agent__client *c = calloc(1, sizeof *c);
    if (!c) {
        ts_error_set(err, TS_ENOMEM, src->id, "out of memory");
        return NULL;
    }
    c->g = g;
    c->index = i;
    ts_client_options o = TS_CLIENT_OPTIONS_INIT;
    o.user_agent = "tokensmith-agent";
    o.min_valid_s = 0;
    o.backoff_initial_ms = 1; /* the agent's schedule does the backoff */
    o.backoff_max_ms = 1;
    o.timeout_ms = cfg->settings.request_timeout_ms;
    o.connect_timeout_ms = o.timeout_ms < 5000u ? o.timeout_ms : 5000u;
    o.log = client_log;
    o.log_ud = c;
    o.log_level = TS_CLIENT_LOG_INFO;
    const ts_agent_endpoint *ep;
    char *sec1 = NULL, *sec2 = NULL;
    size_t l1 = 0, l2 = 0;
    ts_client_param params[TS_AGENT_MAX_FIELDS];
    if (src->type == TS_AGENT_SOURCE_TOKENSMITH) {
        ep = &src->tokensmith.endpoint;
        o.grant = TS_CLIENT_GRANT_TOKENSMITH;
        o.bootstrap_token = sec1 = secret(g, src->tokensmith.bootstrap_token, &l1);
        o.state_file = src->tokensmith.state_file;
    } else {
        const ts_agent_oauth2_source *a = &src->oauth2;
        ep = &a->endpoint;
        static const ts_client_auth auths[] = {TS_CLIENT_AUTH_NONE, TS_CLIENT_AUTH_SECRET_BASIC,
                                               TS_CLIENT_AUTH_SECRET_POST};
        o.auth = auths[a->client_auth];
        o.client_id = *a->client_id ? a->client_id : NULL;
        if (a->client_secret && !(o.client_secret = sec1 = secret(g, a->client_secret, &l1))) {
            ts_error_set(err, TS_ENOTFOUND, src->id, "source %s: its client_secret cannot be read",
                         src->id);
            free(c);
            return NULL;
        }
        o.scope = *a->scope ? a->scope : NULL;
        o.audiences = a->audience;
        o.n_audiences = a->n_audience;
        o.resources = a->resource;
        o.n_resources = a->n_resource;
        o.requested_token_type = *a->requested_token_type ? a->requested_token_type : NULL;
        for (size_t k = 0; k < a->n_extra_params && k < TS_AGENT_MAX_FIELDS; k++)
            params[k] = (ts_client_param){a->extra_params[k].name, a->extra_params[k].value};
        o.params = params;
        o.n_params = a->n_extra_params;
        switch (a->grant) {
        case TS_AGENT_GRANT_CLIENT_CREDENTIALS:
            o.grant = TS_CLIENT_GRANT_CLIENT_CREDENTIALS;
            break;
        case TS_AGENT_GRANT_TOKEN_EXCHANGE:
            o.grant = TS_CLIENT_GRANT_TOKEN_EXCHANGE;
            c->subject = (value_fn){g, a->subject_token};
            o.subject_token_fn = token_fn;
            o.subject_token_ud = &c->subject;
            o.subject_token_type = a->subject_token_type;
            if (a->actor_token) {
                c->actor = (value_fn){g, a->actor_token};
                o.actor_token_fn = token_fn;
                o.actor_token_ud = &c->actor;
                o.actor_token_type = a->actor_token_type;
            }
            break;
        case TS_AGENT_GRANT_REFRESH_TOKEN:
            o.grant = TS_CLIENT_GRANT_REFRESH_TOKEN;
            o.refresh_token = sec2 = secret(g, a->refresh_token, &l2);
            o.state_file = *a->state_file ? a->state_file : NULL;
            break;
        }
    }
    o.token_endpoint = ep->url;
    /* The configuration applied its URL rule already (plain http:// to loopback or link-local
     * only, unless allowed); the client's own rule knows loopback alone. */
    o.allow_plain_http = strncmp(ep->url, "http://", 7) == 0;
    o.ca_file = *ep->ca_file ? ep->ca_file : NULL;
    c->c = ts_client_new(&o, err);
    ts_agent__secret_free(sec1, l1);
    ts_agent__secret_free(sec2, l2);
    if (!c->c) {
        free(c);
        return NULL;
    }
    return c;
}

void ts_agent__client_free(ts_agent__client *c)
{
    if (!c)
        return;
    ts_client_free(c->c);
    free(c);
}

ts_status ts_agent__client_fetch(ts_agent__client *c, ts_agent__token *out, ts_error *err)
{
    /* The client would hand its token out until it is nearly spent; the agent asks when its
     * own schedule says a new one is due, so the one held is dropped first (a refresh family
     * is kept: the next token comes from a refresh). */
    if (c->generation)
        (void)ts_client_invalidate(c->c, c->generation);
    ts_client_token_info info;
    memset(&info, 0, sizeof info);
    char *t = ts_client_token_dup(c->c, &info, err);
    if (!t)
        return err ? err->code : TS_EIO;
    c->generation = info.generation;
    out->value = t;
    out->len = info.len;
    out->expires_at = info.expires_at;
    return TS_OK;
}
