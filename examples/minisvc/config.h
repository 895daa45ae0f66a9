/* minisvc's configuration: flag, else environment, else default (config.c). */
#ifndef MINISVC_CONFIG_H
#define MINISVC_CONFIG_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>

#include <tokensmith/authn.h>

#define MAX_SCOPE_ROLES 16

typedef struct config {
    const char *listen, *jwks, *issuer, *audience, *mode, *policy_dir, *port_file;
    /* Scope-to-role table: tokensmith's tokens carry scopes, the baseline policy speaks roles. */
    ts_authn_scope_role scope_roles[MAX_SCOPE_ROLES];
    size_t n_scope_roles;
    char scope_text[MAX_SCOPE_ROLES][128];
    /* Connection bounds (tokensmith-mhd's ts_mhd_limits); 0 turns one off. */
    unsigned max_per_address, max_connections, head_timeout_ms, body_timeout_ms, idle_timeout_s;
    /* The issuer's revocation list (GET /oauth/revocations), polled every revocations_poll_ms;
     * NULL: none. */
    const char *revocations;
    unsigned revocations_poll_ms;
    /* Follow the policy directory's files (inotify) besides SIGHUP. */
    bool watch_policy;
} config;

void usage(FILE *out);
/** Fill @p c from @p argv and the environment. @return 0, or -1 after a message on stderr. */
int parse_args(int argc, char **argv, config *c);
/** "HOST:PORT" (IPv4) into @p addr. @return 0 or -1. */
int parse_listen(const char *s, struct sockaddr_in *addr);

#endif
