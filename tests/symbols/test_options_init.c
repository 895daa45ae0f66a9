/* Every public options struct, initialised with its _INIT macro, has its version and its
 * documented defaults in the fields of those names. The macros are designated initialisers
 * (check_headers.py checks that), so a field added to a struct can never shift a default into
 * the wrong slot; this test pins the defaults themselves, by name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>

#include <tokensmith/authn.h>
#include <tokensmith/authz_http.h>
#include <tokensmith/mhd.h>
#include <tokensmith/oidc.h>
#include <tokensmith/client.h>
#include <tokensmith/store.h>

/* The version comes first in every options struct (house style: readers check it first). */
_Static_assert(offsetof(ts_authn_keysource_options, version) == 0, "version first");
_Static_assert(offsetof(ts_authn_options, version) == 0, "version first");
_Static_assert(offsetof(ts_authn_mhd_options, version) == 0, "version first");
_Static_assert(offsetof(ts_authz_source_options, version) == 0, "version first");
_Static_assert(offsetof(ts_authz_authorizer_options, version) == 0, "version first");
_Static_assert(offsetof(ts_authz_guard_options, version) == 0, "version first");
_Static_assert(offsetof(ts_mhd_limits_options, version) == 0, "version first");
_Static_assert(offsetof(ts_mhd_gate_options, version) == 0, "version first");
_Static_assert(offsetof(ts_store_options, version) == 0, "version first");
_Static_assert(offsetof(ts_client_options, version) == 0, "version first");
_Static_assert(offsetof(ts_store_limiter_options, version) == 0, "version first");
_Static_assert(offsetof(ts_oidc_options, version) == 0, "version first");

static void test_authn(void **state)
{
    (void)state;
    ts_authn_keysource_options ks = TS_AUTHN_KEYSOURCE_OPTIONS_INIT;
    assert_int_equal(ks.version, TS_AUTHN_KEYSOURCE_OPTIONS_VERSION);
    assert_null(ks.pem_files);
    assert_null(ks.urls);
    assert_int_equal(ks.default_ttl_s, 600);
    assert_int_equal(ks.min_ttl_s, 60);
    assert_int_equal(ks.max_ttl_s, 86400);
    assert_int_equal(ks.max_stale_s, 86400);
    assert_int_equal(ks.refetch_cooldown_s, 30);
    assert_int_equal(ks.timeout_ms, 5000);
    assert_int_equal(ks.max_body_bytes, TS_JOSE_MAX_JWKS_BYTES);
    assert_false(ks.allow_insecure_http);
    assert_int_equal(ks.max_wait_ms, 100);

    ts_authn_options o = TS_AUTHN_OPTIONS_INIT;
    assert_int_equal(o.version, TS_AUTHN_OPTIONS_VERSION);
    assert_null(o.issuers);
    assert_int_equal(o.algorithms, 0);
    assert_int_equal(o.leeway_s, TS_AUTHN_DEFAULT_LEEWAY_S);
    assert_int_equal(o.max_token_bytes, 0);
    assert_false(o.require_typ);
    assert_false(o.require_nist_claims);
    assert_false(o.disable_cache);
    assert_int_equal(o.cache_entries, 0);
    assert_null(o.now);
    assert_false(o.reject_local_mint);

    ts_authn_mhd_options m = TS_AUTHN_MHD_OPTIONS_INIT;
    assert_int_equal(m.version, TS_AUTHN_MHD_OPTIONS_VERSION);
    assert_null(m.verifier);
    assert_int_equal(m.n_public_paths, 0);
    assert_null(m.log);
    assert_false(m.raw_paths);
}

static void test_authz(void **state)
{
    (void)state;
    ts_authz_source_options s = TS_AUTHZ_SOURCE_OPTIONS_INIT;
    assert_int_equal(s.version, TS_AUTHZ_SOURCE_OPTIONS_VERSION);
    assert_null(s.model_path);
    assert_null(s.policy_dir);
    assert_false(s.from_env);

    ts_authz_authorizer_options a = TS_AUTHZ_AUTHORIZER_OPTIONS_INIT;
    assert_int_equal(a.version, TS_AUTHZ_AUTHORIZER_OPTIONS_VERSION);
    assert_int_equal(a.source.version, TS_AUTHZ_SOURCE_OPTIONS_VERSION);
    assert_int_equal(a.cache_size, 0);
    assert_null(a.log);
    assert_null(a.functions);
    assert_int_equal(a.n_functions, 0);

    ts_authz_guard_options g = TS_AUTHZ_GUARD_OPTIONS_INIT;
    assert_int_equal(g.version, TS_AUTHZ_GUARD_OPTIONS_VERSION);
    assert_int_equal(g.mode, TS_AUTHZ_MODE_ENFORCE);
    assert_null(g.authorizer);
    assert_true(g.require_authn);
    assert_false(g.allow_unmapped);
    assert_true(g.options_public);
    assert_int_equal(g.npublic_prefixes, 0);
    assert_false(g.include_roles);
    assert_false(g.raw_paths);
    assert_int_equal(g.log_allow_sample, 1);
    assert_null(g.principal);
}

static void test_mhd(void **state)
{
    (void)state;
    ts_mhd_limits_options l = TS_MHD_LIMITS_OPTIONS_INIT;
    assert_int_equal(l.version, TS_MHD_LIMITS_OPTIONS_VERSION);
    assert_null(l.handler);
    assert_int_equal(l.max_per_address, TS_MHD_DEFAULT_MAX_PER_ADDRESS);
    assert_int_equal(l.ipv6_prefix, TS_MHD_DEFAULT_IPV6_PREFIX);
    assert_int_equal(l.max_connections, TS_MHD_DEFAULT_MAX_CONNECTIONS);
    assert_int_equal(l.head_timeout_ms, TS_MHD_DEFAULT_HEAD_TIMEOUT_MS);
    assert_int_equal(l.body_timeout_ms, TS_MHD_DEFAULT_BODY_TIMEOUT_MS);
    assert_int_equal(l.idle_timeout_s, TS_MHD_DEFAULT_IDLE_TIMEOUT_S);
    assert_true(l.check_framing);
    assert_int_equal(l.log_interval_ms, TS_MHD_DEFAULT_LOG_INTERVAL_MS);

    /* The gate: nothing configured but its caches, the enforcing mode, REST actions, sampled
       allow logs and the default connection bounds nested inside. */
    ts_mhd_gate_options g = TS_MHD_GATE_OPTIONS_INIT;
    assert_int_equal(g.version, TS_MHD_GATE_OPTIONS_VERSION);
    assert_null(g.issuers);
    assert_int_equal(g.n_issuers, 0);
    assert_null(g.audiences);
    assert_null(g.jwks);
    assert_null(g.scope_roles);
    assert_null(g.public_paths);
    assert_null(g.authn_only_paths);
    assert_null(g.realm);
    assert_int_equal(g.token_cache, TS_MHD_GATE_DEFAULT_CACHE);
    assert_int_equal(g.mode, TS_AUTHZ_MODE_ENFORCE);
    assert_null(g.routes);
    assert_int_equal(g.action_style, TS_AUTHZ_ACTION_REST);
    assert_false(g.allow_unmapped);
    assert_null(g.policy_dir);
    assert_false(g.policy_from_env);
    assert_int_equal(g.decision_cache, TS_MHD_GATE_DEFAULT_CACHE);
    assert_false(g.raw_paths);
    assert_null(g.log);
    assert_int_equal(g.log_allow_sample, TS_MHD_GATE_DEFAULT_LOG_ALLOW_SAMPLE);
    assert_null(g.functions);
    assert_int_equal(g.n_functions, 0);
    assert_int_equal(g.limits.version, TS_MHD_LIMITS_OPTIONS_VERSION);
    assert_null(g.limits.handler);
    assert_int_equal(g.limits.max_per_address, TS_MHD_DEFAULT_MAX_PER_ADDRESS);
    assert_int_equal(g.limits.head_timeout_ms, TS_MHD_DEFAULT_HEAD_TIMEOUT_MS);
}

static void test_store(void **state)
{
    (void)state;
    ts_store_options o = TS_STORE_OPTIONS_INIT;
    assert_int_equal(o.version, TS_STORE_OPTIONS_VERSION);
    assert_null(o.path);
    assert_int_equal(o.busy_timeout_ms, 5000);
    assert_int_equal(o.max_connections, 4);
    assert_int_equal(o.synchronous, TS_STORE_SYNC_FULL);
    assert_int_equal(o.bootstrap_ttl_min_s, 60);
    assert_int_equal(o.bootstrap_ttl_max_s, 3600);
    assert_int_equal(o.refresh_ttl_min_s, 3600);
    assert_int_equal(o.refresh_ttl_max_s, 2592000);
    assert_int_equal(o.redeem_retry_grace_s, 0);
    assert_int_equal(o.redeem_retry_max, 3);
    assert_int_equal(o.gc_retention_s, 86400);
    assert_int_equal(o.audit_retention_s, 7776000);
    assert_int_equal(o.page_cache_kib, 512);
    assert_int_equal(o.audit_max_rows, 1000000);
    assert_int_equal(o.replay_audit_interval_s, 3600);

    ts_store_limiter_options l = TS_STORE_LIMITER_OPTIONS_INIT;
    assert_int_equal(l.version, TS_STORE_LIMITER_OPTIONS_VERSION);
    assert_int_equal(l.max_failures, 10);
    assert_int_equal(l.window_ms, 60000);
    assert_int_equal(l.max_keys, 65536);
}

static void test_client(void **state)
{
    (void)state;
    ts_client_options o = TS_CLIENT_OPTIONS_INIT;
    assert_int_equal(o.version, TS_CLIENT_OPTIONS_VERSION);
    assert_null(o.token_endpoint);
    assert_int_equal(o.auth, TS_CLIENT_AUTH_NONE);
    assert_int_equal(o.min_valid_s, 30);
    assert_int_equal(o.refresh_at_pct, 75);
    assert_int_equal(o.refresh_jitter_pct, 10);
    assert_int_equal(o.backoff_initial_ms, 1000);
    assert_int_equal(o.backoff_max_ms, 60000);
    assert_int_equal(o.max_response_bytes, 65536);
    assert_int_equal(o.connect_timeout_ms, 5000);
    assert_int_equal(o.timeout_ms, 15000);
}

static void test_oidc(void **state)
{
    (void)state;
    ts_oidc_options o = TS_OIDC_OPTIONS_INIT;
    assert_int_equal(o.version, TS_OIDC_OPTIONS_VERSION);
    assert_null(o.now);
    assert_null(o.now_ud);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_authn), cmocka_unit_test(test_authz), cmocka_unit_test(test_mhd),
        cmocka_unit_test(test_store), cmocka_unit_test(test_oidc),  cmocka_unit_test(test_client),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
