/* The main listener's TLS as a part of the service: opened at start, reread on SIGHUP and when
 * its files change (each outcome one log line), freed at stop. */
#include "svc_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "mtls.h"
#include "tls.h"

/* The pair is held by the service (s->tls; only the run loop's thread reloads it).
 * common/tls_server.c keeps the one process-wide slot libmicrohttpd's certificate callback
 * needs, as that callback has no closure argument: every listener of the process serves the
 * same pair. */

/* mTLS service identity needs HTTPS on the main listener (the client certificate arrives in
 * its handshake) and rules to map certificates with; its other settings mean nothing without
 * the CA bundle, and are refused rather than silently ignored. Checked here, at start, as
 * the TLS pair is: the settings themselves are independent of one another. */
static ts_status service_identity_settings(const ts_svc_config *c, ts_error *err)
{
    if (!c->service_identity_ca_file[0]) {
        if (c->service_identity_crl_file[0])
            return ts_error_set(err, TS_EINVAL, "serviceIdentityCrlFile",
                                "is set without serviceIdentityCaFile");
        if (c->service_identity[0])
            return ts_error_set(err, TS_EINVAL, "serviceIdentity",
                                "rules are given without serviceIdentityCaFile");
        if (c->service_identity_bind)
            return ts_error_set(err, TS_EINVAL, "serviceIdentityBindCertificate",
                                "is set without serviceIdentityCaFile");
        return TS_OK;
    }
    if (!c->tls_cert_file[0])
        return ts_error_set(err, TS_EINVAL, "serviceIdentityCaFile",
                            "needs tlsCertFile: client certificates arrive in the TLS handshake "
                            "of the main listener");
    if (!c->service_identity[0])
        return ts_error_set(err, TS_EINVAL, "serviceIdentity",
                            "serviceIdentityCaFile is set but there are no rules "
                            "(serviceIdentity.rules): every certificate would be refused");
    return TS_OK;
}

/* tlsKeyFile as the pair module takes it: a pkcs11: URI without a module-path gets the
 * pkcs11Module setting's, as the signing key's URI does. */
static ts_status key_with_module(const ts_svc_config *c, char *out, size_t cap, ts_error *err)
{
    const char *k = c->tls_key_file;
    if (!ts_common__tls_key_is_pkcs11(k) || strstr(k, "module-path=") || !c->pkcs11_module[0]) {
        snprintf(out, cap, "%s", k);
        return TS_OK;
    }
    size_t n = (size_t)snprintf(out, cap, "%s%cmodule-path=", k, strchr(k, '?') ? '&' : '?');
    /* RFC 3986 unreserved characters and '/' as they are, everything else percent-encoded. */
    for (const unsigned char *p = (const unsigned char *)c->pkcs11_module; *p && n + 4 < cap; p++) {
        if (isalnum(*p) || strchr("-._~/", *p))
            out[n++] = (char)*p;
        else
            n += (size_t)snprintf(out + n, cap - n, "%%%02X", *p);
    }
    out[n < cap ? n : cap - 1] = '\0';
    if (n + 4 >= cap)
        return ts_error_set(err, TS_EINVAL, "tlsKeyFile", "the pkcs11: URI is too long");
    return TS_OK;
}

ts_status ts_svc__tls_start(ts_svc *s, ts_error *err)
{
    const ts_svc_config *c = &s->cfg;
    if (service_identity_settings(c, err) != TS_OK)
        return err && err->code != TS_OK ? err->code : TS_EINVAL;
    if (c->admin_tls && !c->tls_cert_file[0])
        return ts_error_set(err, TS_EINVAL, "adminTls",
                            "needs tlsCertFile and tlsKeyFile: the admin listener serves their "
                            "certificate");
    if (c->admin_tls && strncmp(c->admin_listen, "unix:", 5) == 0)
        return ts_error_set(err, TS_EINVAL, "adminTls",
                            "the admin listener is a Unix socket (its file mode guards it): TLS "
                            "is for a loopback HOST:PORT adminListen");
    if (!c->tls_cert_file[0] && !c->tls_key_file[0])
        return TS_OK;
    char key[TS_SVC_PATH + TS_SVC_PATH / 2];
    if (key_with_module(c, key, sizeof key, err) != TS_OK)
        return err && err->code != TS_OK ? err->code : TS_EINVAL;
    ts_svc_tls_info ti;
    ts_svc_tls *t =
        ts_svc_tls_new(c->tls_cert_file, key, c->allow_insecure_key_permissions, &ti, err);
    if (!t)
        return err && err->code != TS_OK ? err->code : TS_EINTERNAL;
    s->tls = t;
    if (!c->service_identity_ca_file[0])
        return TS_OK;
    /* mTLS service identity: the handshakes ask for a client certificate of these CAs. */
    s->mtls = ts_svc_mtls_new(c->service_identity_ca_file, c->service_identity_crl_file,
                              c->service_identity, err);
    if (!s->mtls)
        return err && err->code != TS_OK ? err->code : TS_EINTERNAL;
    size_t len = 0;
    const char *pem = ts_svc_mtls_ca_pem(s->mtls, &len);
    return ts_svc_tls_request_client_certs(t, pem, len, err);
}

bool ts_svc__tls_on(const ts_svc *s)
{
    return s->tls != NULL;
}

unsigned ts_svc__tls_flags(const ts_svc *s)
{
    return ts_svc_tls_mhd_flags(s->tls);
}

const struct MHD_OptionItem *ts_svc__tls_options(const ts_svc *s)
{
    return ts_svc_tls_mhd_options(s->tls);
}

void ts_svc__tls_tickets(const ts_svc *s, unsigned flags, ts_mhd_limits *l)
{
    if (flags & (unsigned)MHD_USE_TLS)
        ts_svc_tls_mhd_tickets(s->tls, l);
}

/* The management and metrics listeners follow the main one; the admin listener only with
 * adminTls (it is loopback only, and the CLI on the same machine is its client). */
static bool listener_tls(const ts_svc *s, ts_svc_listener which)
{
    return s->tls && (which != TS_SVC_LISTENER_ADMIN || s->cfg.admin_tls);
}

unsigned ts_svc__tls_listener_flags(const ts_svc *s, ts_svc_listener which)
{
    return listener_tls(s, which) ? ts_svc_tls_mhd_flags(s->tls) : 0u;
}

const struct MHD_OptionItem *ts_svc__tls_listener_options(const ts_svc *s, ts_svc_listener which)
{
    return ts_svc_tls_mhd_options_plain(listener_tls(s, which) ? s->tls : NULL);
}

static void info_fields(json_t *f, const ts_svc_tls_info *ti)
{
    json_object_set_new(f, "tls_serial", json_string(ti->serial));
    json_object_set_new(f, "tls_subject", json_string(ti->subject));
    json_object_set_new(f, "tls_not_after", json_integer((json_int_t)ti->not_after));
    json_object_set_new(f, "tls_key_type", json_string(ti->key_type));
    json_object_set_new(f, "tls_chain", json_integer((json_int_t)ti->chain));
}

void ts_svc__tls_log_fields(const ts_svc *s, json_t *f)
{
    json_object_set_new(f, "tls", json_boolean(ts_svc__tls_on(s)));
    json_object_set_new(f, "service_identity", json_boolean(s->mtls != NULL));
    ts_svc_tls_info ti;
    if (s->tls && ts_svc_tls_current(s->tls, &ti) == TS_OK)
        info_fields(f, &ti);
}

/* The mTLS CA bundle and CRLs: the same looks as the pair, one log line per outcome. */
static void mtls_reload(ts_svc *s, bool forced)
{
    bool read = false, changed = false;
    ts_error e;
    ts_error_clear(&e);
    ts_status st = ts_svc_mtls_reload(s->mtls, !forced, &read, &changed, &e);
    if (st == TS_OK && !read)
        return;
    json_t *f = json_object();
    json_object_set_new(f, "cause", json_string(forced ? "SIGHUP" : "files changed"));
    if (st != TS_OK) {
        json_object_set_new(f, "reason", json_string(e.msg));
        json_object_set_new(f, "where", json_string(e.where));
        ts_svc__log_event(s, "warn",
                          "service identity CA bundle reload refused; the current one stays", f);
        return;
    }
    json_object_set_new(f, "changed", json_boolean(changed));
    json_object_set_new(f, "crl", json_boolean(s->cfg.service_identity_crl_file[0] != '\0'));
    ts_svc__log_event(s, "info", "service identity CA bundle reloaded", f);
}

void ts_svc__tls_reload(ts_svc *s, bool forced)
{
    if (!ts_svc__tls_on(s))
        return;
    if (s->mtls)
        mtls_reload(s, forced);
    ts_svc_tls_info ti;
    ts_error e;
    ts_error_clear(&e);
    ts_status st = ts_svc_tls_reload(s->tls, !forced, &ti, &e);
    if (st == TS_OK && !ti.read)
        return; /* the files did not change */
    json_t *f = json_object();
    json_object_set_new(f, "cause", json_string(forced ? "SIGHUP" : "files changed"));
    if (st != TS_OK) {
        json_object_set_new(f, "reason", json_string(e.msg));
        json_object_set_new(f, "where", json_string(e.where));
        ts_svc__log_event(s, "warn", "TLS certificate reload refused; the current one stays", f);
        return;
    }
    json_object_set_new(f, "changed", json_boolean(ti.changed));
    info_fields(f, &ti);
    if (ti.not_after > 0 && ti.not_after < (int64_t)time(NULL))
        json_object_set_new(f, "expired", json_true());
    ts_svc__log_event(s, "info", "TLS certificate reloaded", f);
}

void ts_svc__tls_stop(ts_svc *s)
{
    ts_svc_mtls_free(s->mtls);
    s->mtls = NULL;
    if (!ts_svc__tls_on(s))
        return;
    ts_svc_tls_free(s->tls);
    s->tls = NULL;
}
