/* `tokensmith agent --check`'s summary: the configuration, the sources in refresh order, the
 * sinks in file order. No URL and no value is printed: they may hold secrets. */
#include <stdio.h>

#include "agent_runtime.h"

static const char *grant_name(ts_agent_grant g)
{
    switch (g) {
    case TS_AGENT_GRANT_CLIENT_CREDENTIALS:
        return "client_credentials";
    case TS_AGENT_GRANT_TOKEN_EXCHANGE:
        return "token_exchange";
    case TS_AGENT_GRANT_REFRESH_TOKEN:
        return "refresh_token";
    }
    return "unknown";
}

int ts_agent_print_summary(const ts_agent_config *cfg, FILE *out)
{
    int rc = 0;
    rc |= fprintf(out, "config %s: ok, %zu source%s, %zu sink%s, listen %s\n", cfg->name,
                  cfg->n_sources, cfg->n_sources == 1 ? "" : "s", cfg->n_sinks,
                  cfg->n_sinks == 1 ? "" : "s",
                  *cfg->settings.listen ? cfg->settings.listen : "none") < 0;
    for (size_t k = 0; k < cfg->n_sources; k++) {
        const ts_agent_source *s = &cfg->sources[cfg->order[k]];
        rc |= fprintf(out, "source %s: %s", s->id, ts_agent_source_type_name(s->type)) < 0;
        if (s->type == TS_AGENT_SOURCE_OAUTH2)
            rc |= fprintf(out, " %s", grant_name(s->oauth2.grant)) < 0;
        if (s->n_inputs) {
            rc |= fputs(", inputs ", out) < 0;
            for (size_t i = 0; i < s->n_inputs; i++)
                rc |= fprintf(out, "%s%s", i ? " " : "", s->inputs[i]) < 0;
        }
        rc |= fputs(", tokens ", out) < 0;
        for (size_t i = 0; i < s->n_tokens; i++)
            rc |= fprintf(out, "%s%s", i ? " " : "", s->tokens[i].id) < 0;
        rc |= fputs("\n", out) < 0;
    }
    for (size_t k = 0; k < cfg->n_sinks; k++) {
        const ts_agent_sink *sk = &cfg->sinks[k];
        rc |= fprintf(out, "sink %s: %s %s <- %s.%s\n", sk->id, ts_agent_sink_type_name(sk->type),
                      sk->path, sk->source_id, sk->token_id) < 0;
    }
    return rc || fflush(out) != 0 ? -1 : 0;
}
