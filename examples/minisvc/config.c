/* minisvc's configuration: each setting from its flag, else its environment variable, else
 * its default. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tokensmith/mhd.h>

#include "config.h"

/* Add "SCOPE=ROLE" (or several, comma-separated) to the scope-to-role table. */
static int add_scope_roles(config *c, const char *spec)
{
    while (*spec) {
        size_t n = strcspn(spec, ",");
        if (c->n_scope_roles == MAX_SCOPE_ROLES || n == 0 || n >= sizeof c->scope_text[0]) {
            fprintf(stderr, "minisvc: bad or too many scope-role mappings: %s\n", spec);
            return -1;
        }
        char *t = c->scope_text[c->n_scope_roles];
        memcpy(t, spec, n);
        t[n] = '\0';
        char *eq = strchr(t, '=');
        if (!eq || eq == t || !eq[1]) {
            fprintf(stderr, "minisvc: a scope-role mapping is SCOPE=ROLE: %s\n", t);
            return -1;
        }
        *eq = '\0';
        c->scope_roles[c->n_scope_roles++] = (ts_authn_scope_role){t, eq + 1};
        spec += n;
        if (*spec == ',')
            spec++;
    }
    return 0;
}

void usage(FILE *out)
{
    fputs("usage: minisvc --jwks FILE|URL --issuer ISS --audience AUD [options]\n"
          "  --jwks FILE|URL     verification keys [MINISVC_JWKS]\n"
          "  --issuer ISS        accepted iss [MINISVC_ISSUER]\n"
          "  --audience AUD      accepted aud [MINISVC_AUDIENCE]\n"
          "  --mode MODE         authz mode off|shadow|enforce, default enforce "
          "[MINISVC_AUTHZ_MODE]\n"
          "  --policy-dir DIR    policy fragments (*.csv) added to the baseline "
          "[TOKENSMITH_POLICY_DIR]\n"
          "  --watch-policy      apply changes of the policy files as they happen (inotify,\n"
          "                      after 200 ms of quiet; a broken change is logged and the\n"
          "                      policy in force stays) [MINISVC_WATCH_POLICY=1]\n"
          "  --listen HOST:PORT  IPv4 address, default 127.0.0.1:8081; port 0 picks one "
          "[MINISVC_LISTEN]\n"
          "  --port-file FILE    write the bound port here once listening\n"
          "  --scope-role S=R    callers with scope S get role R; repeatable, or a comma-\n"
          "                      separated list [MINISVC_SCOPE_ROLES]\n"
          "Connection bounds (0 turns one off; TIME is N, Ns or Nms):\n"
          "  --max-per-address N open connections per client address (IPv6: per /64),\n"
          "                      default 32 [MINISVC_MAX_PER_ADDRESS]\n"
          "  --max-connections N open connections in total, default 1000 "
          "[MINISVC_MAX_CONNECTIONS]\n"
          "  --head-timeout TIME the whole request head must arrive within it, default 10s\n"
          "                      [MINISVC_HEAD_TIMEOUT]\n"
          "  --body-timeout TIME the whole body must arrive within it, default 30s "
          "[MINISVC_BODY_TIMEOUT]\n"
          "  --idle-timeout TIME idle keep-alive connections close after it (whole seconds,\n"
          "                      at least 1s), default 30s [MINISVC_IDLE_TIMEOUT]\n"
          "Revocation (a revoked token is refused within the poll interval):\n"
          "  --revocations URL   the issuer's revocation list, e.g. "
          "https://issuer/oauth/revocations,\n"
          "                      verified with the --jwks keys; fail-closed: 503 while it is\n"
          "                      unavailable [MINISVC_REVOCATIONS]\n"
          "  --revocations-poll-ms N  between polls, 100..3600000, default 10000\n"
          "                      [MINISVC_REVOCATIONS_POLL_MS]\n"
          "SIGHUP reloads the policy.\n",
          out);
}

/* "N" (a count) or, with @p duration, "N" or "Ns" (seconds) or "Nms" into *@p out. */
static int parse_number(const char *flag, const char *s, bool duration, unsigned *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    unsigned long long scale = duration ? 1000 : 1;
    if (duration && strcmp(end, "ms") == 0)
        scale = 1, end += 2;
    else if (duration && strcmp(end, "s") == 0)
        end += 1;
    if (errno || end == s || *end || *s == '-' || v > UINT32_MAX / scale) {
        fprintf(stderr, "minisvc: %s: expected %s, got '%s'\n", flag,
                duration ? "a time (N, Ns or Nms)" : "a number", s);
        return -1;
    }
    *out = (unsigned)(v * scale);
    return 0;
}

/* The connection bounds, from their flags (given as strings in @p v) or environment. */
static int parse_bounds(config *c, const char *const v[5])
{
    static const struct {
        const char *flag, *env;
        bool duration;
        unsigned dflt;
        size_t off;
    } b[5] = {
        {"--max-per-address", "MINISVC_MAX_PER_ADDRESS", false, TS_MHD_DEFAULT_MAX_PER_ADDRESS,
         offsetof(config, max_per_address)},
        {"--max-connections", "MINISVC_MAX_CONNECTIONS", false, TS_MHD_DEFAULT_MAX_CONNECTIONS,
         offsetof(config, max_connections)},
        {"--head-timeout", "MINISVC_HEAD_TIMEOUT", true, TS_MHD_DEFAULT_HEAD_TIMEOUT_MS,
         offsetof(config, head_timeout_ms)},
        {"--body-timeout", "MINISVC_BODY_TIMEOUT", true, TS_MHD_DEFAULT_BODY_TIMEOUT_MS,
         offsetof(config, body_timeout_ms)},
        {"--idle-timeout", "MINISVC_IDLE_TIMEOUT", true, TS_MHD_DEFAULT_IDLE_TIMEOUT_S * 1000,
         offsetof(config, idle_timeout_s)},
    };
    for (size_t i = 0; i < 5; i++) {
        const char *s = v[i] ? v[i] : getenv(b[i].env);
        unsigned val = b[i].dflt;
        if (s && *s && parse_number(b[i].flag, s, b[i].duration, &val) != 0)
            return -1;
        memcpy((char *)c + b[i].off, &val, sizeof val);
    }
    if (c->idle_timeout_s < 1000 || c->idle_timeout_s % 1000) {
        fprintf(stderr, "minisvc: --idle-timeout: whole seconds, at least 1s\n");
        return -1;
    }
    c->idle_timeout_s /= 1000;
    return 0;
}

int parse_args(int argc, char **argv, config *c)
{
    c->listen = getenv("MINISVC_LISTEN");
    c->jwks = getenv("MINISVC_JWKS");
    c->issuer = getenv("MINISVC_ISSUER");
    c->audience = getenv("MINISVC_AUDIENCE");
    c->mode = getenv("MINISVC_AUTHZ_MODE");
    c->policy_dir = NULL; /* NULL: the authz library reads TOKENSMITH_POLICY_DIR */
    c->port_file = NULL;
    c->n_scope_roles = 0;
    c->revocations = getenv("MINISVC_REVOCATIONS");
    const char *poll = getenv("MINISVC_REVOCATIONS_POLL_MS");
    const char *watch = getenv("MINISVC_WATCH_POLICY");
    c->watch_policy = watch && (strcmp(watch, "1") == 0 || strcmp(watch, "true") == 0);
    const char *env_roles = getenv("MINISVC_SCOPE_ROLES");
    bool flag_roles = false;
    const char *bounds[5] = {NULL, NULL, NULL, NULL, NULL};
    static const char *const bound_flags[5] = {"--max-per-address", "--max-connections",
                                               "--head-timeout", "--body-timeout",
                                               "--idle-timeout"};
    static const struct {
        const char *flag;
        size_t off;
    } flags[] = {
        {"--listen", offsetof(config, listen)},
        {"--jwks", offsetof(config, jwks)},
        {"--issuer", offsetof(config, issuer)},
        {"--audience", offsetof(config, audience)},
        {"--mode", offsetof(config, mode)},
        {"--policy-dir", offsetof(config, policy_dir)},
        {"--port-file", offsetof(config, port_file)},
        {"--revocations", offsetof(config, revocations)},
    };
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (strcmp(argv[i], "--scope-role") == 0 && i + 1 < argc) {
            if (add_scope_roles(c, argv[++i]) != 0)
                return -1;
            flag_roles = true;
            continue;
        }
        if (strcmp(argv[i], "--watch-policy") == 0) {
            c->watch_policy = true;
            continue;
        }
        if (strcmp(argv[i], "--revocations-poll-ms") == 0 && i + 1 < argc) {
            poll = argv[++i];
            continue;
        }
        size_t k = 0;
        while (k < 5 && strcmp(argv[i], bound_flags[k]) != 0)
            k++;
        if (k < 5 && i + 1 < argc) {
            bounds[k] = argv[++i];
            continue;
        }
        k = 0;
        while (k < sizeof flags / sizeof flags[0] && strcmp(argv[i], flags[k].flag) != 0)
            k++;
        if (k == sizeof flags / sizeof flags[0] || i + 1 == argc) {
            fprintf(stderr, "minisvc: unknown option or missing value: %s\n", argv[i]);
            return -1;
        }
        memcpy((char *)c + flags[k].off, &argv[++i], sizeof(char *));
    }
    if (!flag_roles && env_roles && *env_roles && add_scope_roles(c, env_roles) != 0)
        return -1;
    if (parse_bounds(c, bounds) != 0)
        return -1;
    c->revocations_poll_ms = 10000;
    if (poll && *poll &&
        parse_number("--revocations-poll-ms", poll, false, &c->revocations_poll_ms) != 0)
        return -1;
    if (c->revocations && !*c->revocations)
        c->revocations = NULL;
    if (!c->listen || !*c->listen)
        c->listen = "127.0.0.1:8081";
    if (!c->mode || !*c->mode)
        c->mode = "enforce";
    if (!c->jwks || !c->issuer || !c->audience) {
        fprintf(stderr, "minisvc: --jwks, --issuer and --audience are required\n");
        return -1;
    }
    return 0;
}

int parse_listen(const char *s, struct sockaddr_in *addr)
{
    const char *colon = strrchr(s, ':');
    char host[64];
    if (!colon || (size_t)(colon - s) >= sizeof host)
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    char *end = NULL;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (errno || !*(colon + 1) || *end || port > 65535)
        return -1;
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &addr->sin_addr) == 1 ? 0 : -1;
}
