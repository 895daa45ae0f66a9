/* The pair of common/tls_server.h as libmicrohttpd takes it: the TLS flag, and the options each
 * listener's daemon starts with (the certificate callback, the priorities, for the main
 * listener the client CA bundle that makes it ask for client certificates). */
#include "tls.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ts_svc_tls {
    ts_common__tls *pair;
    /* How the handshakes of every TLS listener ended (relaxed atomics: one add per connection). */
    _Atomic uint64_t hs_completed, hs_failed, hs_resumed;
    struct MHD_OptionItem opts[4];       /* the main listener */
    struct MHD_OptionItem plain_opts[3]; /* the others: no client certificates asked for */
};

static void set_ptr_option(struct MHD_OptionItem *o, enum MHD_OPTION opt, void *ptr)
{
    o->option = opt;
    o->value = 0;
    o->ptr_value = ptr;
}

/* The callback, priorities and end of a listener's options, from @p o on. */
static void base_options(struct MHD_OptionItem *o)
{
    /* A function pointer travels in the option's data pointer, as libmicrohttpd reads it. */
    gnutls_certificate_retrieve_function2 *cb = ts_common__tls_cert_callback;
    void *cbp;
    _Static_assert(sizeof cbp == sizeof cb, "function and data pointers differ in size");
    memcpy(&cbp, &cb, sizeof cbp);
    set_ptr_option(&o[0], MHD_OPTION_HTTPS_CERT_CALLBACK, cbp);
    set_ptr_option(&o[1], MHD_OPTION_HTTPS_PRIORITIES,
                   (void *)(uintptr_t)TS_COMMON__TLS_PRIORITIES);
    set_ptr_option(&o[2], MHD_OPTION_END, NULL);
}

ts_svc_tls *ts_svc_tls_new(const char *cert_file, const char *key_file, bool allow_insecure,
                           ts_svc_tls_info *info, ts_error *err)
{
    if (info)
        memset(info, 0, sizeof *info);
    bool has_cert = cert_file && cert_file[0];
    if (has_cert && key_file && key_file[0] &&
        (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES ||
         MHD_is_feature_supported(MHD_FEATURE_HTTPS_CERT_CALLBACK) != MHD_YES)) {
        ts_error_set(err, TS_EUNSUPPORTED, "tlsCertFile",
                     "this libmicrohttpd was built without TLS (GnuTLS)");
        return NULL;
    }
    ts_svc_tls *t = calloc(1, sizeof *t);
    if (!t) {
        ts_error_set(err, TS_ENOMEM, "tlsCertFile", "out of memory");
        return NULL;
    }
    t->pair = ts_common__tls_new(cert_file, key_file, allow_insecure, "tlsCertFile", "tlsKeyFile",
                                 info, err);
    if (!t->pair) {
        free(t);
        return NULL;
    }
    base_options(t->opts);
    base_options(t->plain_opts);
    return t;
}

void ts_svc_tls_free(ts_svc_tls *t)
{
    if (!t)
        return;
    ts_common__tls_free(t->pair);
    free(t);
}

ts_status ts_svc_tls_request_client_certs(ts_svc_tls *t, const char *ca_pem, size_t len,
                                          ts_error *err)
{
    ts_status st = ts_common__tls_request_client_certs(t ? t->pair : NULL, ca_pem, len, err);
    if (st != TS_OK) {
        if (err && err->code == st)
            snprintf(err->where, sizeof err->where, "serviceIdentityCaFile");
        return st;
    }
    /* libmicrohttpd requests a client certificate in every handshake once it has a trust; it
     * does not verify it (GnuTLS leaves that to the application without a verify flag). */
    set_ptr_option(&t->opts[2], MHD_OPTION_HTTPS_MEM_TRUST,
                   (void *)(uintptr_t)ts_common__tls_client_trust(t->pair));
    set_ptr_option(&t->opts[3], MHD_OPTION_END, NULL);
    return TS_OK;
}

ts_status ts_svc_tls_current(const ts_svc_tls *t, ts_svc_tls_info *info)
{
    return ts_common__tls_current(t ? t->pair : NULL, info);
}

unsigned ts_svc_tls_mhd_flags(const ts_svc_tls *t)
{
    return t ? (unsigned)MHD_USE_TLS : 0u;
}

static const struct MHD_OptionItem no_options[] = {{MHD_OPTION_END, 0, NULL}};

const struct MHD_OptionItem *ts_svc_tls_mhd_options(const ts_svc_tls *t)
{
    return t ? t->opts : no_options;
}

const struct MHD_OptionItem *ts_svc_tls_mhd_options_plain(const ts_svc_tls *t)
{
    return t ? t->plain_opts : no_options;
}

ts_status ts_svc_tls_reload(ts_svc_tls *t, bool only_if_changed, ts_svc_tls_info *info,
                            ts_error *err)
{
    return ts_common__tls_reload(t->pair, only_if_changed, info, err);
}

void ts_svc_tls_handshakes(const ts_svc_tls *t, ts_svc_tls_handshake_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!t)
        return;
    out->completed = atomic_load_explicit(&t->hs_completed, memory_order_relaxed);
    out->failed = atomic_load_explicit(&t->hs_failed, memory_order_relaxed);
    out->resumed = atomic_load_explicit(&t->hs_resumed, memory_order_relaxed);
}

/* What a connection's word (ts_mhd_connection_fn's conn_cls) records of its handshake. */
enum { HS_TLS = 1, HS_COMPLETED = 2, HS_RESUMED = 4 };

/* GnuTLS's hook after the client's Finished was read: the last message of every handshake the
 * server takes part in (full or resumed, TLS 1.2 or 1.3), so the handshake has completed. The
 * word is reached through the session's db pointer, which nothing else uses: the service keeps
 * no server-side session cache (resumption is by tickets), and libmicrohttpd holds the
 * session's own pointer. GnuTLS checks the Finished after this hook: one that then fails
 * still counts as completed, but only a client that went through the key exchange can send
 * one (it travels under the handshake's keys). */
static int finished_hook(gnutls_session_t session, unsigned htype, unsigned when, unsigned incoming,
                         const gnutls_datum_t *msg)
{
    (void)htype;
    (void)when;
    (void)msg;
    void **word = gnutls_db_get_ptr(session);
    if (incoming && word)
        *word = (void *)(uintptr_t)(HS_TLS | HS_COMPLETED |
                                    (gnutls_session_is_resumed(session) ? HS_RESUMED : 0));
    return 0;
}

/* ts_mhd_connection_fn. At the start, a connection's GnuTLS session exists before its handshake
 * starts, which is when session tickets must be on for a returning client to resume, and the
 * hook that sees the handshake complete is set. At the close, the session is gone (libmicrohttpd
 * frees it first): the word says how the handshake ended. A connection closed before its
 * handshake completed failed it: garbage or plain HTTP on the TLS port, a client refusing the
 * certificate or the protocol versions, the idle deadline during the handshake, a client that
 * connected and left. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **conn_cls,
                          enum MHD_ConnectionNotificationCode code)
{
    ts_svc_tls *t = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        if (!ci || !ci->tls_session)
            return;
        gnutls_session_t session = (gnutls_session_t)ci->tls_session;
        (void)ts_common__tls_enable_tickets(t->pair, session);
        *conn_cls = (void *)(uintptr_t)HS_TLS;
        gnutls_db_set_ptr(session, conn_cls);
        gnutls_handshake_set_hook_function(session, GNUTLS_HANDSHAKE_FINISHED, GNUTLS_HOOK_POST,
                                           finished_hook);
        return;
    }
    if (code != MHD_CONNECTION_NOTIFY_CLOSED)
        return;
    uintptr_t w = (uintptr_t)*conn_cls;
    if (!(w & HS_TLS))
        return;
    if (w & HS_COMPLETED) {
        atomic_fetch_add_explicit(&t->hs_completed, 1, memory_order_relaxed);
        if (w & HS_RESUMED)
            atomic_fetch_add_explicit(&t->hs_resumed, 1, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&t->hs_failed, 1, memory_order_relaxed);
    }
}

void ts_svc_tls_mhd_tickets(ts_svc_tls *t, ts_mhd_limits *l)
{
    if (t && l)
        ts_mhd_limits_set_on_connection(l, on_connection, t);
}
