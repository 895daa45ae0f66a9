/* The options checked and copied. A field the grant does not use is refused rather than
 * ignored: a bootstrap token given to a client_credentials client, or a state file to an
 * exchange, is a configuration that does not do what its author thinks, and the place to say
 * so is start-up, naming the field. */
#include "client_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/http_client.h"
#include "common/mem.h"

#include <tokensmith/version.h>

#define MAX_URL 2048u
#define MAX_NAME 1024u  /* client id, token types, audience, resource */
#define MAX_VALUE 4096u /* scope, extra parameter values */
#define MAX_PARAM_NAME 128u
#define MAX_PATH 4000u /* state and CA files: "<path>.lock" and temporaries must still fit */
#define MAX_LIST 64u   /* audiences, resources, extra parameters */

/* Printable ASCII (spaces allowed): what every name and value may hold. A control character
 * in a URL or form value is an injection waiting to happen; UTF-8 is not needed by any
 * OAuth parameter the client sends. */
static bool printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

static ts_status text(const char *where, const char *s, size_t max, bool spaces, ts_error *err)
{
    size_t n = strlen(s);
    if (n == 0)
        return ts_error_set(err, TS_EINVAL, where, "must not be empty");
    if (n > max)
        return ts_error_set(err, TS_EINVAL, where, "longer than %zu bytes", max);
    if (spaces ? !printable(s) : !ts_client__visible(s, n))
        return ts_error_set(err, TS_EINVAL, where, "holds a character outside %s",
                            spaces ? "printable ASCII" : "visible ASCII");
    return TS_OK;
}

/* A token given in the options: visible ASCII (it goes into a form value, and a space or a
 * control character means a copy-paste went wrong), within max_token_bytes. */
static ts_status token(const char *where, const char *s, size_t max, ts_error *err)
{
    return text(where, s, max, false, err);
}

/* RFC 6749 §3.3: scope tokens of %x21 / %x23-5B / %x5D-7E separated by single spaces. */
static ts_status scope(const char *s, ts_error *err)
{
    ts_status st = text("scope", s, MAX_VALUE, true, err);
    if (st != TS_OK)
        return st;
    if (s[0] == ' ' || s[strlen(s) - 1] == ' ' || strstr(s, "  "))
        return ts_error_set(err, TS_EINVAL, "scope",
                            "scopes are separated by single spaces, without leading or trailing "
                            "ones");
    if (strpbrk(s, "\"\\"))
        return ts_error_set(err, TS_EINVAL, "scope", "holds '\"' or '\\' (RFC 6749 §3.3)");
    return TS_OK;
}

static ts_status list(const char *field, const char *const *v, size_t n, bool uri, ts_error *err)
{
    char where[64];
    if (n && !v)
        return ts_error_set(err, TS_EINVAL, field, "%zu entries but no array", n);
    if (n > MAX_LIST)
        return ts_error_set(err, TS_EINVAL, field, "more than %u entries", MAX_LIST);
    for (size_t i = 0; i < n; i++) {
        snprintf(where, sizeof where, "%s[%zu]", field, i);
        if (!v[i])
            return ts_error_set(err, TS_EINVAL, where, "is NULL");
        ts_status st = text(where, v[i], MAX_NAME, false, err);
        if (st != TS_OK)
            return st;
        /* RFC 8707 §2: an absolute URI without a fragment. */
        if (uri && (!strchr(v[i], ':') || strchr(v[i], '#')))
            return ts_error_set(err, TS_EINVAL, where,
                                "must be an absolute URI without a fragment (RFC 8707)");
    }
    return TS_OK;
}

/* Parameters the client writes itself: a second copy in the body would be a request the server
 * may read either way (or refuse), and client_secret there would bypass the auth choice. */
static const char *const reserved[] = {
    "grant_type",         "client_id",
    "client_secret",      "subject_token",
    "subject_token_type", "actor_token",
    "actor_token_type",   "requested_token_type",
    "refresh_token",      "audience",
    "resource",           "scope",
    "client_assertion",   "client_assertion_type",
};

static ts_status params(const ts_client_options *o, ts_error *err)
{
    char where[64];
    if (o->n_params && !o->params)
        return ts_error_set(err, TS_EINVAL, "params", "%zu entries but no array", o->n_params);
    if (o->n_params > MAX_LIST)
        return ts_error_set(err, TS_EINVAL, "params", "more than %u entries", MAX_LIST);
    for (size_t i = 0; i < o->n_params; i++) {
        const ts_client_param *p = &o->params[i];
        snprintf(where, sizeof where, "params[%zu].name", i);
        if (!p->name)
            return ts_error_set(err, TS_EINVAL, where, "is NULL");
        ts_status st = text(where, p->name, MAX_PARAM_NAME, false, err);
        if (st != TS_OK)
            return st;
        for (size_t k = 0; k < sizeof reserved / sizeof reserved[0]; k++)
            if (strcmp(p->name, reserved[k]) == 0)
                return ts_error_set(err, TS_EINVAL, where,
                                    "%s is set by the client itself (use its option)", p->name);
        for (size_t k = 0; k < i; k++)
            if (strcmp(p->name, o->params[k].name) == 0)
                return ts_error_set(err, TS_EINVAL, where, "%s is given twice", p->name);
        snprintf(where, sizeof where, "params[%zu].value", i);
        if (!p->value)
            return ts_error_set(err, TS_EINVAL, where, "is NULL");
        if (strlen(p->value) > MAX_VALUE || !printable(p->value))
            return ts_error_set(err, TS_EINVAL, where,
                                "must be printable ASCII of at most %u bytes", MAX_VALUE);
    }
    return TS_OK;
}

static ts_status endpoint(const ts_client_options *o, ts_error *err)
{
    if (!o->token_endpoint)
        return ts_error_set(err, TS_EINVAL, "token_endpoint", "is required");
    ts_status st = text("token_endpoint", o->token_endpoint, MAX_URL, false, err);
    if (st != TS_OK)
        return st;
    if (strchr(o->token_endpoint, '#'))
        return ts_error_set(err, TS_EINVAL, "token_endpoint",
                            "must not have a fragment (RFC 6749 §3.2)");
    if (!ts_common__http_url_allowed(o->token_endpoint, o->allow_plain_http))
        return ts_error_set(err, TS_EINVAL, "token_endpoint",
                            o->allow_plain_http
                                ? "must be an https:// or http:// URL"
                                : "must be https:// (http:// only to a loopback host unless "
                                  "allow_plain_http)");
    return TS_OK;
}

static ts_status auth(const ts_client_options *o, ts_error *err)
{
    if (o->auth != TS_CLIENT_AUTH_NONE && o->auth != TS_CLIENT_AUTH_SECRET_BASIC &&
        o->auth != TS_CLIENT_AUTH_SECRET_POST)
        return ts_error_set(err, TS_EINVAL, "auth", "unknown client authentication %d",
                            (int)o->auth);
    ts_status st;
    if (o->client_id && (st = text("client_id", o->client_id, MAX_NAME, true, err)) != TS_OK)
        return st;
    if (o->auth == TS_CLIENT_AUTH_NONE) {
        if (o->client_secret)
            return ts_error_set(err, TS_EINVAL, "client_secret",
                                "given, but auth is none (choose client_secret_basic or "
                                "client_secret_post)");
        return TS_OK;
    }
    if (!o->client_id)
        return ts_error_set(err, TS_EINVAL, "client_id", "is required with client secrets");
    if (!o->client_secret)
        return ts_error_set(err, TS_EINVAL, "client_secret", "is required with %s",
                            o->auth == TS_CLIENT_AUTH_SECRET_BASIC ? "client_secret_basic"
                                                                   : "client_secret_post");
    return text("client_secret", o->client_secret, MAX_NAME, true, err);
}

/* A field the grant has no use for. */
static ts_status unused(const char *field, bool given, ts_client_grant g, ts_error *err)
{
    if (given)
        return ts_error_set(err, TS_EINVAL, field, "is not used by the %s grant",
                            ts_client_grant_name(g));
    return TS_OK;
}

static ts_status exchange(const ts_client_options *o, ts_error *err)
{
    ts_status st;
    if (!!o->subject_token == !!o->subject_token_fn)
        return ts_error_set(err, TS_EINVAL, "subject_token",
                            "give exactly one of subject_token and subject_token_fn");
    if (o->subject_token &&
        (st = token("subject_token", o->subject_token, o->max_token_bytes, err)) != TS_OK)
        return st;
    if (!o->subject_token_type)
        return ts_error_set(err, TS_EINVAL, "subject_token_type", "is required (RFC 8693)");
    if ((st = text("subject_token_type", o->subject_token_type, MAX_NAME, false, err)) != TS_OK)
        return st;
    if (o->actor_token && o->actor_token_fn)
        return ts_error_set(err, TS_EINVAL, "actor_token",
                            "give at most one of actor_token and actor_token_fn");
    bool actor = o->actor_token || o->actor_token_fn;
    if (o->actor_token &&
        (st = token("actor_token", o->actor_token, o->max_token_bytes, err)) != TS_OK)
        return st;
    if (actor != !!o->actor_token_type)
        return ts_error_set(err, TS_EINVAL, "actor_token_type",
                            actor ? "is required with an actor token (RFC 8693 §2.1)"
                                  : "given without an actor token");
    if (o->actor_token_type &&
        (st = text("actor_token_type", o->actor_token_type, MAX_NAME, false, err)) != TS_OK)
        return st;
    return TS_OK;
}

static ts_status grant(const ts_client_options *o, ts_error *err)
{
    ts_client_grant g = o->grant;
    if (g < TS_CLIENT_GRANT_CLIENT_CREDENTIALS || g > TS_CLIENT_GRANT_TOKENSMITH)
        return ts_error_set(err, TS_EINVAL, "grant", "unknown grant %d", (int)g);
    bool exch = g == TS_CLIENT_GRANT_TOKEN_EXCHANGE;
    bool family = g == TS_CLIENT_GRANT_REFRESH_TOKEN || g == TS_CLIENT_GRANT_TOKENSMITH;
    ts_status st;
    if ((st = unused("subject_token", !exch && (o->subject_token || o->subject_token_fn), g,
                     err)) != TS_OK ||
        (st = unused("subject_token_type", !exch && o->subject_token_type, g, err)) != TS_OK ||
        (st = unused("actor_token", !exch && (o->actor_token || o->actor_token_fn), g, err)) !=
            TS_OK ||
        (st = unused("actor_token_type", !exch && o->actor_token_type, g, err)) != TS_OK ||
        (st = unused("refresh_token", g != TS_CLIENT_GRANT_REFRESH_TOKEN && o->refresh_token, g,
                     err)) != TS_OK ||
        (st = unused("bootstrap_token", g != TS_CLIENT_GRANT_TOKENSMITH && o->bootstrap_token, g,
                     err)) != TS_OK ||
        (st = unused("state_file", !family && o->state_file, g, err)) != TS_OK ||
        (st = unused("audiences", g == TS_CLIENT_GRANT_REFRESH_TOKEN && o->n_audiences, g, err)) !=
            TS_OK ||
        (st = unused(
             "requested_token_type",
             (g == TS_CLIENT_GRANT_CLIENT_CREDENTIALS || g == TS_CLIENT_GRANT_REFRESH_TOKEN) &&
                 o->requested_token_type,
             g, err)) != TS_OK)
        return st;
    if (exch && (st = exchange(o, err)) != TS_OK)
        return st;
    if (o->requested_token_type &&
        (st = text("requested_token_type", o->requested_token_type, MAX_NAME, false, err)) != TS_OK)
        return st;
    if (o->refresh_token &&
        (st = token("refresh_token", o->refresh_token, o->max_token_bytes, err)) != TS_OK)
        return st;
    if (o->bootstrap_token &&
        (st = token("bootstrap_token", o->bootstrap_token, o->max_token_bytes, err)) != TS_OK)
        return st;
    if (g == TS_CLIENT_GRANT_REFRESH_TOKEN && !o->refresh_token && !o->state_file)
        return ts_error_set(err, TS_EINVAL, "refresh_token",
                            "is required (or a state_file that holds a refresh family)");
    if (g == TS_CLIENT_GRANT_TOKENSMITH && !o->bootstrap_token && !o->state_file)
        return ts_error_set(err, TS_EINVAL, "bootstrap_token",
                            "is required (or a state_file that holds a refresh family)");
    return TS_OK;
}

static ts_status file_option(const char *field, const char *path, ts_error *err)
{
    if (!path)
        return TS_OK;
    size_t n = strlen(path);
    if (n == 0 || n > MAX_PATH)
        return ts_error_set(err, TS_EINVAL, field, "must be a path of 1..%u bytes", MAX_PATH);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)path[i] < 0x20)
            return ts_error_set(err, TS_EINVAL, field, "holds a control character");
    return TS_OK;
}

static ts_status range(const char *field, unsigned long long v, unsigned long long lo,
                       unsigned long long hi, ts_error *err)
{
    if (v < lo || v > hi)
        return ts_error_set(err, TS_EINVAL, field, "%llu is outside %llu..%llu", v, lo, hi);
    return TS_OK;
}

static ts_status bounds(const ts_client_options *o, ts_error *err)
{
    ts_status st;
    if ((st = range("min_valid_s", o->min_valid_s, 0, 86400, err)) != TS_OK ||
        (st = range("refresh_at_pct", o->refresh_at_pct, 1, 99, err)) != TS_OK ||
        (st = range("refresh_jitter_pct", o->refresh_jitter_pct, 0, 50, err)) != TS_OK ||
        (st = range("backoff_initial_ms", o->backoff_initial_ms, 1, 3600000, err)) != TS_OK ||
        (st = range("backoff_max_ms", o->backoff_max_ms, o->backoff_initial_ms, 3600000, err)) !=
            TS_OK ||
        (st = range("default_lifetime_s", o->default_lifetime_s, 1, 86400, err)) != TS_OK ||
        (st = range("max_response_bytes", o->max_response_bytes, 1024, 16u << 20, err)) != TS_OK ||
        (st = range("max_token_bytes", o->max_token_bytes, 64, o->max_response_bytes, err)) !=
            TS_OK ||
        (st = range("timeout_ms", o->timeout_ms, 100, 600000, err)) != TS_OK ||
        (st = range("connect_timeout_ms", o->connect_timeout_ms, 1, o->timeout_ms, err)) != TS_OK)
        return st;
    if (o->log_level > TS_CLIENT_LOG_ERROR)
        return ts_error_set(err, TS_EINVAL, "log_level", "unknown level %d", (int)o->log_level);
    return TS_OK;
}

ts_status ts_client__config_check(const ts_client_options *o, ts_error *err)
{
    if (!o)
        return ts_error_set(err, TS_EINVAL, "options", "NULL options");
    if (o->version == 0 || o->version > TS_CLIENT_OPTIONS_VERSION)
        return ts_error_set(err, TS_EINVAL, "version",
                            "options version %u is not supported (this library has %u: start "
                            "from TS_CLIENT_OPTIONS_INIT)",
                            o->version, TS_CLIENT_OPTIONS_VERSION);
    ts_status st;
    if ((st = bounds(o, err)) != TS_OK || (st = endpoint(o, err)) != TS_OK ||
        (st = auth(o, err)) != TS_OK || (st = grant(o, err)) != TS_OK ||
        (st = list("audiences", o->audiences, o->n_audiences, false, err)) != TS_OK ||
        (st = list("resources", o->resources, o->n_resources, true, err)) != TS_OK ||
        (st = params(o, err)) != TS_OK || (o->scope && (st = scope(o->scope, err)) != TS_OK) ||
        (st = file_option("state_file", o->state_file, err)) != TS_OK ||
        (st = file_option("ca_file", o->ca_file, err)) != TS_OK)
        return st;
    if (o->user_agent && (st = text("user_agent", o->user_agent, MAX_NAME, true, err)) != TS_OK)
        return st;
    /* Said now rather than at the first request, when it would look like a TLS failure. */
    if (o->ca_file && access(o->ca_file, R_OK) != 0)
        return ts_error_set(err, TS_EINVAL, "ca_file", "%s cannot be read", o->ca_file);
    return TS_OK;
}

static bool copy_str(char **dst, const char *src)
{
    if (!src)
        return true;
    *dst = ts_client__strndup(src, strlen(src));
    return *dst != NULL;
}

static bool dup_list(char ***dst, const char *const *src, size_t n)
{
    if (!n)
        return true;
    *dst = calloc(n, sizeof **dst);
    if (!*dst)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!copy_str(&(*dst)[i], src[i]))
            return false;
    return true;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

ts_status ts_client__config_copy(const ts_client_options *o, ts_client__config *c, ts_error *err)
{
    memset(c, 0, sizeof *c);
    ts_status st = ts_client__config_check(o, err);
    if (st != TS_OK)
        return st;
    c->grant = o->grant;
    c->auth = o->auth;
    c->allow_plain_http = o->allow_plain_http;
    c->subject_token_fn = o->subject_token_fn;
    c->subject_token_ud = o->subject_token_ud;
    c->actor_token_fn = o->actor_token_fn;
    c->actor_token_ud = o->actor_token_ud;
    c->min_valid_s = o->min_valid_s;
    c->refresh_at_pct = o->refresh_at_pct;
    c->refresh_jitter_pct = o->refresh_jitter_pct;
    c->background = o->background_refresh;
    c->backoff_initial_ms = o->backoff_initial_ms;
    c->backoff_max_ms = o->backoff_max_ms;
    c->default_lifetime_s = o->default_lifetime_s;
    c->max_response_bytes = o->max_response_bytes;
    c->max_token_bytes = o->max_token_bytes;
    c->connect_timeout_ms = o->connect_timeout_ms;
    c->timeout_ms = o->timeout_ms;
    c->log = o->log;
    c->log_ud = o->log_ud;
    c->log_level = o->log_level;
    c->on_rotation = o->on_rotation;
    c->rotation_ud = o->rotation_ud;
    c->clock_ms = o->clock_ms;
    c->clock_ud = o->clock_ud;
    c->n_audiences = o->n_audiences;
    c->n_resources = o->n_resources;
    c->n_params = o->n_params;
    char ua[64];
    snprintf(ua, sizeof ua, "tokensmith-client/%s", TS_VERSION_STRING);
    bool ok =
        copy_str(&c->token_endpoint, o->token_endpoint) && copy_str(&c->ca_file, o->ca_file) &&
        copy_str(&c->user_agent, o->user_agent ? o->user_agent : ua) &&
        copy_str(&c->client_id, o->client_id) && copy_str(&c->client_secret, o->client_secret) &&
        copy_str(&c->scope, o->scope) && dup_list(&c->audiences, o->audiences, o->n_audiences) &&
        dup_list(&c->resources, o->resources, o->n_resources) &&
        copy_str(&c->subject_token, o->subject_token) &&
        copy_str(&c->subject_token_type, o->subject_token_type) &&
        copy_str(&c->actor_token, o->actor_token) &&
        copy_str(&c->actor_token_type, o->actor_token_type) &&
        copy_str(&c->requested_token_type, o->requested_token_type) &&
        copy_str(&c->refresh_token, o->refresh_token) &&
        copy_str(&c->bootstrap_token, o->bootstrap_token) &&
        copy_str(&c->state_file, o->state_file);
    ok = ok && (c->log_endpoint = ts_client__url_for_log(c->token_endpoint)) != NULL;
    if (ok && o->n_params) {
        c->param_names = calloc(o->n_params, sizeof *c->param_names);
        c->param_values = calloc(o->n_params, sizeof *c->param_values);
        ok = c->param_names && c->param_values;
        for (size_t i = 0; ok && i < o->n_params; i++)
            ok = copy_str(&c->param_names[i], o->params[i].name) &&
                 copy_str(&c->param_values[i], o->params[i].value);
    }
    if (!ok) {
        ts_client__config_cleanup(c);
        return ts_error_set(err, TS_ENOMEM, "options", "out of memory");
    }
    return TS_OK;
}

void ts_client__config_cleanup(ts_client__config *c)
{
    free(c->token_endpoint);
    free(c->log_endpoint);
    free(c->ca_file);
    free(c->user_agent);
    free(c->client_id);
    ts_client__free_secret_z(c->client_secret);
    free(c->scope);
    free_list(c->audiences, c->n_audiences);
    free_list(c->resources, c->n_resources);
    free_list(c->param_names, c->n_params);
    /* Extra parameters can carry credentials of their own (an API key). */
    for (size_t i = 0; c->param_values && i < c->n_params; i++)
        ts_client__free_secret_z(c->param_values[i]);
    free(c->param_values);
    ts_client__free_secret_z(c->subject_token);
    free(c->subject_token_type);
    ts_client__free_secret_z(c->actor_token);
    free(c->actor_token_type);
    free(c->requested_token_type);
    ts_client__free_secret_z(c->refresh_token);
    ts_client__free_secret_z(c->bootstrap_token);
    free(c->state_file);
    memset(c, 0, sizeof *c);
}

const char *ts_client_grant_name(ts_client_grant g)
{
    switch (g) {
    case TS_CLIENT_GRANT_CLIENT_CREDENTIALS:
        return "client_credentials";
    case TS_CLIENT_GRANT_TOKEN_EXCHANGE:
        return "token_exchange";
    case TS_CLIENT_GRANT_REFRESH_TOKEN:
        return "refresh_token";
    case TS_CLIENT_GRANT_TOKENSMITH:
        return "tokensmith";
    }
    return "unknown";
}
