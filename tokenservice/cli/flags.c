/* The flag table: every flag of every command, once. The parser, the environment, the config
 * file (through the serve settings' keys), --help, generate-config and the settings reference
 * of docs/cli.md all come from these rows. */
#include "cli.h"

#include <string.h>

#include <tokensmith/authn.h>
#include <tokensmith/oidc.h>
#include <tokensmith/store.h>

#include "gateway_config.h"

/* The serve settings, from the rows the config file is read through (config.h). */
#define SERVE_ROW(id, key, flag, env, kind, min, max, choices, field, def, arg, help)              \
    [F_##id] = {flag, env, key, {TS_SVC_K_##kind, min, TS_SVC_ROW_MAX(max, field), choices},       \
                0,    def, arg, help},

/* The gateway's settings, from the rows its config file is read through (gateway_settings.h). */
#define GW_ROW(id, key, flag, env, kind, min, max, choices, field, def, arg, help)                 \
    [F_GW_##id] = {flag, env, key, GW_SPEC_(kind, min, max, choices, field), 0, def, arg, help},
#define GW_SPEC_(kind, min, max, choices, field)                                                   \
    {                                                                                              \
        TS_SVC_K_##kind, min, TS_GATEWAY_ROW_MAX(max, field), choices                              \
    }

/* Command-only flags: name, variable, kind, min, max, choices, options, default, arg, help. */
#define ROW(id, name, env, kind, min, max, choices, opts, def, arg, help)                          \
    [id] = {name, env, NULL, {TS_SVC_K_##kind, min, max, choices}, opts, def, arg, help},

#define PATH_MAX_ 4095 /* file names given on the command line */
#define TEXT_MAX_ 4095

/* Refused options of the Go original: given with a non-empty value they stop the command. */
#define REFUSED(id, name, env, kind, why)                                                          \
    ROW(id, name, env, kind, 0, 4095, NULL, TS_CLI_REFUSED, "", "X", why)

// clang-format off
const ts_cli_flag ts_cli_flags[F_COUNT] = {
    TS_SVC_SETTINGS(SERVE_ROW)

    /* serve */
    ROW(F_CONFIG, "config", "TOKENSMITH_CONFIG", PATH, 0, PATH_MAX_, NULL, 0, "", "FILE",
        "JSON configuration file (docs/configuration.md)")
    ROW(F_PRINT_CONFIG, "print-config", NULL, BOOL, 0, 1, NULL, 0, "false", "",
        "print the effective configuration (client secrets masked) and exit")
    ROW(F_OIDC_ISSUER, "oidc-issuer", "TOKENSMITH_OIDC_ISSUER", STR, 0, TS_OIDC_MAX_STRING, NULL,
        0, "", "URL", "one upstream OpenID provider: its issuer (instead of the oidc member)")
    ROW(F_OIDC_CLIENT_ID, "oidc-client-id", "OIDC_CLIENT_ID", STR, 0, TS_OIDC_MAX_STRING, NULL,
        0, "", "ID", "our client id at --oidc-issuer")
    ROW(F_OIDC_CLIENT_SECRET, "oidc-client-secret", "OIDC_CLIENT_SECRET", STR, 0,
        TS_OIDC_MAX_STRING, NULL, TS_CLI_SECRET, "", "SECRET",
        "client secret at --oidc-issuer; turns on RFC 7662 introspection. Prefer the variable: "
        "a flag is visible in the process list")
    ROW(F_OIDC_AUDIENCE, "oidc-audience", "TOKENSMITH_OIDC_AUDIENCE", STR, 0,
        TS_OIDC_MAX_STRING, NULL, 0, "", "AUD",
        "an audience issued for --oidc-issuer's users (the variable: a comma list)")
    REFUSED(F_NON_ENFORCING, "non-enforcing", NULL, BOOL,
            "claims are always enforced: there is no warn-only mode")
    REFUSED(F_SERVE_LOCAL_MINT, "enable-local-user-mint", NULL, BOOL,
            "the service never mints for users: break-glass is the offline command "
            "`tokensmith user-token create --enable-local-user-mint`")
    REFUSED(F_RFC8693_BOOTSTRAP_STORE, "rfc8693-bootstrap-store",
            "TOKENSMITH_RFC8693_BOOTSTRAP_STORE", STR,
            "bootstrap tokens and refresh families share one SQLite store: use --store FILE "
            "(TOKENSMITH_STORE)")
    REFUSED(F_RFC8693_REFRESH_STORE, "rfc8693-refresh-store", "TOKENSMITH_RFC8693_REFRESH_STORE",
            STR,
            "bootstrap tokens and refresh families share one SQLite store: use --store FILE "
            "(TOKENSMITH_STORE)")

    /* generate-config */
    ROW(F_OUT_CONFIG, "config", NULL, PATH, 0, PATH_MAX_, NULL, 0, "", "FILE",
        "the file to write (mode 0600); '-' writes to stdout")
    ROW(F_FORCE, "force", NULL, BOOL, 0, 1, NULL, 0, "false", "", "replace an existing FILE")
    ROW(F_ROTATE_FORCE, "force", NULL, BOOL, 0, 1, NULL, 0, "false", "",
        "promote at once, making a next key if there is none, even inside its pre-publication "
        "window (a compromised key)")

    /* bootstrap-token create, user-token create */
    ROW(F_SUBJECT, "subject", NULL, STR, 0, TS_STORE_MAX_NAME_LEN, NULL, 0, "", "S",
        "sub of the tokens")
    ROW(F_SCOPES, "scopes", NULL, STR, 0, 65536, NULL, 0, "", "LIST",
        "scopes, split on commas and white space; duplicates dropped")
    ROW(F_BOOT_AUDIENCE, "audience", NULL, STR, 0, TS_STORE_MAX_NAME_LEN, NULL, 0, "", "A",
        "aud of the access tokens the bootstrap token is exchanged for")
    ROW(F_BOOT_TTL, "ttl", NULL, DUR, 60, 3600, NULL, 0, "10m", "DUR",
        "lifetime of the bootstrap token")
    ROW(F_REFRESH_TTL, "refresh-ttl", NULL, DUR, 3600, 2592000, NULL, 0, "24h", "DUR",
        "lifetime of the refresh-token family it starts")
    ROW(F_BINDING_ID, "binding-identifier", NULL, STR, 0, TS_STORE_MAX_NAME_LEN, NULL, 0, "",
        "ID", "recorded for audit only")
    ROW(F_OUTPUT_FORMAT, "output-format", NULL, ENUM, 0, 0, "text|json", 0, "text", "FMT",
        "output on stdout")
    /* Key "store": the Go original's name for the same setting. */
    [F_BOOTSTRAP_STORE] = {"bootstrap-store", NULL, "store", {TS_SVC_K_STORE, 0, TS_SVC_PATH - 1,
                           NULL}, 0, "", "FILE|URI", "the same as --store (the Go original's name)"},
    ROW(F_LOCAL_MINT, "enable-local-user-mint", NULL, BOOL, 0, 1, NULL, 0, "false", "",
        "consent: nothing is minted without it")
    ROW(F_USER_AUDIENCE, "audience", NULL, STR, 0, TS_STORE_MAX_NAME_LEN, NULL, 0, "openchami",
        "A", "aud of the token")
    ROW(F_USER_TTL, "ttl", NULL, DUR, 1, 86400, NULL, 0, "1h", "DUR", "lifetime of the token")
    ROW(F_OPERATOR, "operator", NULL, STR, 0, TS_STORE_MAX_NAME_LEN, NULL, 0, "", "NAME",
        "who mints, for the audit record; default $SUDO_USER, else $USER")

    /* token verify */
    ROW(F_JWKS, "jwks", NULL, STR, 0, TEXT_MAX_, NULL, 0, "", "FILE|URL",
        "JWK Set file, or an https:// URL (http:// on loopback only)")
    ROW(F_VERIFY_ISSUER, "issuer", NULL, STR, 0, TEXT_MAX_, NULL, 0, "", "ISS",
        "accepted issuer (exact match)")
    ROW(F_VERIFY_AUDIENCE, "audience", NULL, STR, 0, TEXT_MAX_, NULL, 0, "", "AUD",
        "our audience; the token's aud must contain one")
    ROW(F_LEEWAY, "leeway", NULL, INT, 0, TS_AUTHN_MAX_LEEWAY_S, NULL, 0, "60", "SECONDS",
        "clock skew for exp, nbf and iat")
    ROW(F_REJECT_LOCAL_MINT, "reject-local-mint", NULL, BOOL, 0, 1, NULL, 0, "false", "",
        "refuse break-glass tokens (a break_glass claim, or auth_methods containing "
        "local_user_mint)")

    /* policy check, policy version */
    ROW(F_MODEL, "model", NULL, PATH, 0, PATH_MAX_, NULL, 0, "", "FILE", "model.conf")
    ROW(F_POLICY, "policy", NULL, PATH, 0, PATH_MAX_, NULL, 0, "", "FILE", "policy CSV file")
    ROW(F_POLICY_DIR, "policy-dir", NULL, PATH, 0, PATH_MAX_, NULL, 0, "", "DIR",
        "directory of *.csv fragments (default $TOKENSMITH_POLICY_DIR, else $AUTHZ_POLICY_DIR)")
    ROW(F_GROUPING, "grouping", NULL, PATH, 0, PATH_MAX_, NULL, 0, "", "FILE",
        "an extra grouping file")
    ROW(F_EXPLAIN, "explain", NULL, BOOL, 0, 1, NULL, 0, "false", "",
        "print the rule that decided each request, after a tab")
    ROW(F_ROLE_MATCH, "role-match", NULL, STR, 0, 256, NULL, 0, "", "G=FN",
        "match role names of role definition G with FN (keyMatch, keyMatch2..5, regexMatch, "
        "globMatch)")
    ROW(F_DOMAIN_MATCH, "domain-match", NULL, STR, 0, 256, NULL, 0, "", "G=FN",
        "match domains of role definition G with FN")
    ROW(F_FUNCTION, "function", NULL, STR, 0, 64, NULL, 0, "", "NAME",
        "let the matcher call a function shipped with tokensmith (hasSuffix, timeMatch)")
    ROW(F_LINK_CONDITION, "link-condition", NULL, STR, 0, 256, NULL, 0, "", "G=FN",
        "links of conditional role definition G hold while FN accepts their parameters "
        "(timeMatch)")

    /* policy roles, policy users, policy permissions */
    ROW(F_DOMAIN, "domain", NULL, STR, 0, TEXT_MAX_, NULL, 0, "", "DOMAIN",
        "the domain, for a role definition with domains (g = _, _, _)")
    ROW(F_DIRECT, "direct", NULL, BOOL, 0, 1, NULL, 0, "false", "",
        "only direct roles or users, none inherited")
    ROW(F_JSON, "json", NULL, BOOL, 0, 1, NULL, 0, "false", "", "print one JSON array")

    /* oidc status, oidc configure */
    ROW(F_ADMIN_URL, "url", "TOKENSMITH_ADMIN_URL", STR, 0, TEXT_MAX_, NULL, 0,
        "http://127.0.0.1:8081", "URL", "the service's admin listener: http://HOST:PORT or unix:PATH")
    ROW(F_PROVIDERS_FILE, "file", NULL, PATH, 0, PATH_MAX_, NULL, 0, "", "FILE",
        "providers as JSON: {\"providers\":[...]} (docs/oidc.md)")
    /* mappings list, get, apply, delete */
    ROW(F_MGMT_URL, "url", "TOKENSMITH_MANAGEMENT_URL", STR, 0, TEXT_MAX_, NULL, 0, "", "URL",
        "the service's management listener (managementListen): http[s]://HOST:PORT")
    ROW(F_CACERT, "cacert", "TOKENSMITH_CACERT", PATH, 0, PATH_MAX_, NULL, 0, "", "FILE",
        "PEM CA file that an https:// listener's certificate must chain to (default: the "
        "system's trust)")
    ROW(F_MAPPINGS_FILE, "file", NULL, PATH, 0, PATH_MAX_, NULL, 0, "", "FILE",
        "the item as JSON (docs/mappings.md)")
    ROW(F_TOKEN_FILE, "token-file", "TOKENSMITH_TOKEN_FILE", PATH, 0, PATH_MAX_, NULL, 0, "",
        "FILE", "the bearer token, from a file (a projected service-account token, or a token of "
                "this service); the flag beats TOKENSMITH_TOKEN")
    ROW(F_IF_MATCH, "if-match", "TOKENSMITH_IF_MATCH", STR, 0, 64, NULL, 0, "", "ETAG",
        "replace or delete only if the item's ETag is still this one (otherwise exit 4)")
    ROW(F_ISSUER_URL, "issuer-url", NULL, STR, 0, TEXT_MAX_, NULL, 0, "", "URL",
        "one provider's issuer")
    ROW(F_CLIENT_ID, "client-id", NULL, STR, 0, TEXT_MAX_, NULL, 0, "", "ID",
        "our client id at that provider")
    ROW(F_AUDIENCES, "audiences", NULL, STR, 0, TEXT_MAX_, NULL, 0, "", "LIST",
        "comma-separated audiences it may be issued for")
    ROW(F_RESOURCES, "resources", NULL, STR, 0, TEXT_MAX_, NULL, 0, "", "LIST",
        "comma-separated resources it may be issued for")
    ROW(F_PROVIDER_NAME, "name", NULL, STR, 0, 64, NULL, 0, "", "NAME",
        "the provider's name (a-z 0-9 . _ -): its users' subjects are NAME:sub; required when "
        "the service has more than one provider")
    ROW(F_SUBJECT_TEMPLATE, "subject-template", NULL, STR, 0, 256, NULL, 0, "", "TEMPLATE",
        "internal subject of its users: {sub} once, plus {name} and {iss}; default {name}:{sub} "
        "(plain {sub} without a name)")
    ROW(F_REPLACE_EXISTING, "replace-existing", NULL, BOOL, 0, 1, NULL, 0, "false", "",
        "allow replacing a provider with the same issuer")
    ROW(F_DRY_RUN, "dry-run", NULL, BOOL, 0, 1, NULL, 0, "false", "",
        "validate and run discovery, change nothing")
    ROW(F_OIDC_REMOVE, "remove", NULL, STR, 0, TEXT_MAX_, NULL, 0, "", "ISSUER",
        "remove the provider with this issuer (as `oidc status` prints it); repeatable; with "
        "--file or --issuer-url, the removal and the addition are one change")
    ROW(F_EXPECTED_VERSION, "expected-version", NULL, INT, -1, INT64_MAX, NULL, 0, "-1", "N",
        "change only if the stored configuration is still at version N (`oidc status` prints "
        "it); a concurrent change fails with 409. -1 = no check")

    /* token revoke */
    ROW(F_REVOKE_JTI, "jti", NULL, STR, 0, TS_STORE_JTI_MAX, NULL, 0, "", "JTI",
        "revoke the access token with this jti (with --exp)")
    ROW(F_REVOKE_EXP, "exp", NULL, INT, 1, INT64_MAX, NULL, 0, "0", "UNIX",
        "the exp of the --jti token: its revocation is kept until then")
    ROW(F_REVOKE_FAMILY, "family", NULL, STR, 0, TS_STORE_ID_MAX, NULL, 0, "", "FAM",
        "revoke this refresh family (fam-...) and every access token issued from it")
    ROW(F_REVOKE_SUBJECT, "subject", NULL, STR, 0, TS_STORE_MAX_NAME_LEN, NULL, 0, "", "SUB",
        "revoke every live refresh family of this subject and its recorded access tokens")

    /* policy fleet */
    ROW(F_FLEET_EXPECT, "expect", NULL, STR, 0, 64, NULL, 0, "", "VERSION",
        "the policy_version every target must report; default: the one most targets report")
    ROW(F_FLEET_TARGETS, "targets", NULL, PATH, 0, PATH_MAX_, NULL, 0, "", "FILE",
        "more targets: one URL a line, blank lines and # comments ignored")
    ROW(F_FLEET_TIMEOUT, "timeout", NULL, DUR, 1, 300, NULL, 0, "5s", "DUR",
        "bound on each target's whole exchange, connect included")
    ROW(F_FLEET_JSON, "json", NULL, BOOL, 0, 1, NULL, 0, "false", "",
        "print one JSON document instead of the table")

    /* policy bundle, policy sync */
    ROW(F_BUNDLE_OUT, "out", NULL, PATH, 0, PATH_MAX_, NULL, 0, "", "FILE",
        "write the document to FILE (atomically, mode 0644) instead of standard output")
    ROW(F_SYNC_URL, "url", NULL, STR, 0, TEXT_MAX_, NULL, 0, "", "URL",
        "the bundle document: https://, or http:// on loopback (see --allow-plain-http)")
    ROW(F_SYNC_DIR, "dir", NULL, PATH, 0, PATH_MAX_, NULL, 0, "", "DIR",
        "the policy directory the services watch (created, 0755, when missing)")
    ROW(F_SYNC_INTERVAL, "interval", NULL, DUR, 1, 86400, NULL, 0, "30s", "DUR",
        "time between polls (each with +-10% jitter)")
    ROW(F_SYNC_ONCE, "once", NULL, BOOL, 0, 1, NULL, 0, "false", "",
        "poll once and exit: 0 installed or unchanged, 1 refused, 3 unreachable")
    ROW(F_SYNC_TIMEOUT, "timeout", NULL, DUR, 1, 300, NULL, 0, "10s", "DUR",
        "bound on each poll's whole exchange, connect included")
    ROW(F_SYNC_MAX_BYTES, "max-bytes", NULL, INT, 1024, 1073741824, NULL, 0, "33554432", "N",
        "largest document accepted, in bytes")
    ROW(F_SYNC_EXPECT, "expect", NULL, STR, 0, 64, NULL, 0, "", "VERSION",
        "install only a document of this policy_version; refuse any other")
    ROW(F_SYNC_PLAIN_HTTP, "allow-plain-http", NULL, BOOL, 0, 1, NULL, 0, "false", "",
        "allow http:// to any host (trusted networks only: nothing then proves who answers)")

    /* store copy */
    ROW(F_COPY_FROM, "from", NULL, PATH, 0, PATH_MAX_, NULL, 0, "", "FILE",
        "the SQLite store to copy (opened and migrated like serve would)")
    [F_COPY_TO] = {"to", NULL, NULL, {TS_SVC_K_STORE, 0, TS_SVC_PATH - 1, NULL}, 0, "", "URI",
                   "the PostgreSQL store to fill: a postgres:// URI or a host=... conninfo"},
    ROW(F_COPY_FORCE, "force", NULL, BOOL, 0, 1, NULL, 0, "false", "",
        "replace the rows of a target store that is not empty")

    /* agent */
    ROW(F_AGENT_CONFIG, "config", "TOKENSMITH_AGENT_CONFIG", PATH, 0, PATH_MAX_, NULL, 0, "",
        "FILE", "the agent's configuration: YAML or JSON (docs/agent.md)")
    ROW(F_AGENT_CHECK, "check", NULL, BOOL, 0, 1, NULL, 0, "false", "",
        "validate the configuration, print what it would run, and exit")

    /* gateway */
    ROW(F_GATEWAY_CONFIG, "config", "TOKENSMITH_GATEWAY_CONFIG", PATH, 0, PATH_MAX_, NULL, 0, "",
        "FILE", "the gateway's JSON configuration (docs/gateway.md)")
    ROW(F_GATEWAY_CHECK, "check", NULL, BOOL, 0, 1, NULL, 0, "false", "",
        "load and check the configuration, policy and keys, print a summary, and exit")
    TS_GATEWAY_SETTINGS(GW_ROW)
};
// clang-format on

const ts_cli_short ts_cli_shorts[] = {{'f', "file"}, {0, NULL}};

char ts_cli_short_of(const char *name)
{
    for (const ts_cli_short *s = ts_cli_shorts; s->letter; s++)
        if (strcmp(s->name, name) == 0)
            return s->letter;
    return 0;
}
