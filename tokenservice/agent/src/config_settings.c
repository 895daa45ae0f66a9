/* settings: the listener (and its TLS pair), refresh timing, retries, metrics and logging.
 * token-agent's `server: {host, port}` is read as another spelling of `listen`. */
#include "config_internal.h"

#include <stdio.h>
#include <string.h>

#define DEFAULT_LISTEN "127.0.0.1:8181"

static void defaults(ts_agent_settings *st)
{
    st->listen = DEFAULT_LISTEN;
    st->listen_non_loopback = false;
    st->tls_cert_file = "";
    st->tls_key_file = "";
    st->safety_margin_seconds = 30;
    st->retry_attempts = 4;
    st->retry_base_delay_ms = 1000;
    st->retry_max_delay_ms = 30000;
    st->request_timeout_ms = 10000;
    st->metrics_enabled = true;
    st->metrics_path = "/metrics";
    st->health_path = "/health";
    st->log_level = TS_AGENT_LOG_INFO;
    st->log_format = TS_AGENT_LOG_JSON;
}

/* token-agent's server: {host, port}, as HOST:PORT. */
static ts_status walk_server(ts_agent__ctx *c, const ts_agent__node *n, const char *path,
                             const char **listen)
{
    static const char *const fields[] = {"host", "port", NULL};
    const char *host;
    int64_t port;
    ts_status s = ts_agent__want_map(c, n, path);
    if (s == TS_OK)
        s = ts_agent__fields(c, n, path, fields);
    if (s == TS_OK)
        s = ts_agent__string(c, n, path, "host", NULL, &host);
    if (s == TS_OK && !ts_agent__opt(n, "port"))
        s = ts_agent__missing(c, n, path, "port");
    if (s == TS_OK)
        s = ts_agent__int(c, n, path, "port", 0, 65535, 0, &port);
    if (s != TS_OK)
        return s;
    size_t cap = strlen(host) + 10;
    char *l = ts_agent__arena_alloc(c->arena, cap);
    if (!l)
        return ts_agent__fail(c, n, path, TS_ENOMEM, "out of memory");
    snprintf(l, cap, strchr(host, ':') ? "[%s]:%lld" : "%s:%lld", host, (long long)port);
    *listen = l;
    return TS_OK;
}

static ts_status walk_listen(ts_agent__ctx *c, const ts_agent__node *st, const char *path)
{
    ts_agent_settings *out = &c->cfg->settings;
    const ts_agent__node *ln = ts_agent__opt(st, "listen"), *sv = ts_agent__opt(st, "server");
    char p[TS_AGENT__PATH_MAX];
    ts_status s =
        ts_agent__bool(c, st, path, "listen_non_loopback", false, &out->listen_non_loopback);
    if (s != TS_OK)
        return s;
    if (ln && sv) {
        ts_agent__path_key(p, sizeof p, path, "server");
        return ts_agent__fail(c, sv, p, TS_EINVAL, "give listen or server, not both");
    }
    if (sv) {
        ts_agent__path_key(p, sizeof p, path, "server");
        s = walk_server(c, sv, p, &out->listen);
        ln = sv;
    } else if (ln) {
        ts_agent__path_key(p, sizeof p, path, "listen");
        s = ts_agent__scalar(c, ln, p, &out->listen);
    } else {
        ts_agent__path_key(p, sizeof p, path, "listen");
    }
    if (s != TS_OK)
        return s;
    if (strcmp(out->listen, "none") == 0) {
        out->listen = "";
        return TS_OK;
    }
    bool loopback = false;
    s = ts_agent__parse_listen(c, ln, p, out->listen, &loopback);
    if (s == TS_OK && !loopback && !out->listen_non_loopback)
        s = ts_agent__fail(c, ln, p, TS_EINVAL,
                           "not a loopback address: tokens would be served to the network; set "
                           "settings.listen_non_loopback: true to allow it");
    return s;
}

/* tls_cert_file and tls_key_file: both or neither, absolute paths (the key may also be a
 * pkcs11: URI), and a listener to serve them on. */
static ts_status walk_tls(ts_agent__ctx *c, const ts_agent__node *st, const char *path)
{
    ts_agent_settings *out = &c->cfg->settings;
    const ts_agent__node *kn = ts_agent__opt(st, "tls_key_file");
    char p[TS_AGENT__PATH_MAX];
    ts_status s = ts_agent__walk_abs_path(c, st, path, "tls_cert_file", false, &out->tls_cert_file);
    if (s == TS_OK && kn) {
        ts_agent__path_key(p, sizeof p, path, "tls_key_file");
        s = ts_agent__scalar(c, kn, p, &out->tls_key_file);
        if (s == TS_OK && strncmp(out->tls_key_file, "pkcs11:", 7) != 0)
            s = ts_agent__walk_abs_path(c, st, path, "tls_key_file", false, &out->tls_key_file);
    }
    if (s != TS_OK)
        return s;
    if (!*out->tls_cert_file != !*out->tls_key_file) {
        const char *k = *out->tls_cert_file ? "tls_key_file" : "tls_cert_file";
        ts_agent__path_key(p, sizeof p, path, k);
        return ts_agent__fail(c, st, p, TS_EINVAL,
                              "give tls_cert_file and tls_key_file, or neither");
    }
    if (*out->tls_cert_file && !*out->listen) {
        ts_agent__path_key(p, sizeof p, path, "tls_cert_file");
        return ts_agent__fail(c, ts_agent__opt(st, "tls_cert_file"), p, TS_EINVAL,
                              "needs settings.listen (it is none)");
    }
    return TS_OK;
}

static ts_status walk_retry(ts_agent__ctx *c, const ts_agent__node *n, const char *path)
{
    static const char *const fields[] = {"attempts", "base_delay_ms", "max_delay_ms", NULL};
    ts_agent_settings *st = &c->cfg->settings;
    int64_t attempts = st->retry_attempts, base = st->retry_base_delay_ms,
            max = st->retry_max_delay_ms;
    ts_status s = ts_agent__want_map(c, n, path);
    if (s == TS_OK)
        s = ts_agent__fields(c, n, path, fields);
    if (s == TS_OK)
        s = ts_agent__int(c, n, path, "attempts", 1, 1000, st->retry_attempts, &attempts);
    if (s == TS_OK)
        s = ts_agent__int(c, n, path, "base_delay_ms", 1, 3600000, st->retry_base_delay_ms, &base);
    if (s == TS_OK)
        s = ts_agent__int(c, n, path, "max_delay_ms", 1, 3600000,
                          base > st->retry_max_delay_ms ? base : st->retry_max_delay_ms, &max);
    if (s == TS_OK && max < base) {
        char p[TS_AGENT__PATH_MAX];
        ts_agent__path_key(p, sizeof p, path, "max_delay_ms");
        s = ts_agent__fail(c, ts_agent__map_get(n, "max_delay_ms"), p, TS_EINVAL,
                           "must be at least base_delay_ms (%lld)", (long long)base);
    }
    st->retry_attempts = (unsigned)attempts;
    st->retry_base_delay_ms = (unsigned)base;
    st->retry_max_delay_ms = (unsigned)max;
    return s;
}

static ts_status walk_metrics(ts_agent__ctx *c, const ts_agent__node *n, const char *path)
{
    static const char *const fields[] = {"path", "is_enabled", NULL};
    ts_agent_settings *st = &c->cfg->settings;
    ts_status s = ts_agent__want_map(c, n, path);
    if (s == TS_OK)
        s = ts_agent__fields(c, n, path, fields);
    if (s == TS_OK)
        s = ts_agent__bool(c, n, path, "is_enabled", true, &st->metrics_enabled);
    if (s == TS_OK)
        s = ts_agent__string(c, n, path, "path", "/metrics", &st->metrics_path);
    if (s != TS_OK)
        return s;
    char p[TS_AGENT__PATH_MAX];
    ts_agent__path_key(p, sizeof p, path, "path");
    if (st->metrics_path[0] != '/' || strchr(st->metrics_path, '?'))
        return ts_agent__fail(c, ts_agent__map_get(n, "path"), p, TS_EINVAL,
                              "must be a URL path starting with '/'");
    if (strcmp(st->metrics_path, st->health_path) == 0)
        return ts_agent__fail(c, ts_agent__map_get(n, "path"), p, TS_EINVAL,
                              "%s is the health check's path", st->health_path);
    return TS_OK;
}

static ts_status walk_logging(ts_agent__ctx *c, const ts_agent__node *n, const char *path)
{
    static const char *const fields[] = {"level", "format", NULL};
    static const char *const levels[] = {"trace", "debug", "info", "warn", "error", NULL};
    /* token-agent calls the text format "compact". */
    static const char *const formats[] = {"json", "text", "compact", NULL};
    int level = TS_AGENT_LOG_INFO, format = 0;
    ts_status s = ts_agent__want_map(c, n, path);
    if (s == TS_OK)
        s = ts_agent__fields(c, n, path, fields);
    if (s == TS_OK)
        s = ts_agent__enum(c, n, path, "level", levels, TS_AGENT_LOG_INFO, &level);
    if (s == TS_OK)
        s = ts_agent__enum(c, n, path, "format", formats, 0, &format);
    c->cfg->settings.log_level = (ts_agent_log_level)level;
    c->cfg->settings.log_format = format == 0 ? TS_AGENT_LOG_JSON : TS_AGENT_LOG_TEXT;
    return s;
}

ts_status ts_agent__walk_settings(ts_agent__ctx *c, const ts_agent__node *root)
{
    static const char *const fields[] = {
        "listen",        "listen_non_loopback", "server",  "safety_margin_seconds",
        "retry",         "request_timeout_ms",  "metrics", "logging",
        "tls_cert_file", "tls_key_file",        NULL};
    ts_agent_settings *st = &c->cfg->settings;
    defaults(st);
    const ts_agent__node *n = ts_agent__opt(root, "settings");
    static const ts_agent__node empty = {.kind = TS_AGENT__MAP};
    const char *path = "settings";
    if (!n)
        n = &empty; /* every default, and the listener's check */
    int64_t margin, timeout;
    ts_status s = ts_agent__want_map(c, n, path);
    if (s == TS_OK)
        s = ts_agent__fields(c, n, path, fields);
    if (s == TS_OK)
        s = walk_listen(c, n, path);
    if (s == TS_OK)
        s = walk_tls(c, n, path);
    if (s == TS_OK)
        s = ts_agent__int(c, n, path, "safety_margin_seconds", 0, 86400, st->safety_margin_seconds,
                          &margin);
    if (s == TS_OK)
        s = ts_agent__int(c, n, path, "request_timeout_ms", 100, 300000, st->request_timeout_ms,
                          &timeout);
    if (s != TS_OK)
        return s;
    st->safety_margin_seconds = margin;
    st->request_timeout_ms = (unsigned)timeout;
    const struct {
        const char *key;
        ts_status (*walk)(ts_agent__ctx *, const ts_agent__node *, const char *);
    } parts[] = {{"retry", walk_retry}, {"metrics", walk_metrics}, {"logging", walk_logging}};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0] && s == TS_OK; i++) {
        const ts_agent__node *part = ts_agent__opt(n, parts[i].key);
        char p[TS_AGENT__PATH_MAX];
        ts_agent__path_key(p, sizeof p, path, parts[i].key);
        if (part)
            s = parts[i].walk(c, part, p);
    }
    return s;
}
