/* The core's counters (lock-free atomics, one increment per check) and their Prometheus text
 * for the admin listener's /metrics, named as every tokensmith exposition is (tokensmith_
 * prefix, _total counters, _seconds histograms with fixed buckets; docs/operations.md,
 * "Metrics"). */
#include <inttypes.h>
#include <stdio.h>

#include "common/tls_conn.h"
#include "core_internal.h"

/* Upper bounds of the latency buckets, in microseconds: a cached check takes tens of µs, a
 * cold one (sign + verify) around a millisecond, a key fetch up to the HTTP timeout. */
static const uint64_t bucket_le_us[TS_GATEWAY__N_BUCKETS] = {
    25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 50000, 250000, 1000000};

static const char *const front_name[2] = {"http", "grpc"};
static const char *const mode_name[TS_GATEWAY__N_MODES] = {"off", "shadow", "enforce"};
static const char *const result_name[TS_GATEWAY__N_RESULTS] = {"allow", "deny", "cannot_decide"};

void ts_gateway__metrics_record(ts_gateway__metrics *m, ts_gateway__front front, unsigned mode,
                                ts_gateway__decision d, uint64_t elapsed_us)
{
    unsigned f = front == TS_GATEWAY__FRONT_GRPC ? 1u : 0u;
    mode = mode < TS_GATEWAY__N_MODES ? mode : TS_GATEWAY__N_MODES - 1;
    unsigned r = (unsigned)d < TS_GATEWAY__N_RESULTS ? (unsigned)d : TS_GATEWAY__CANNOT_DECIDE;
    atomic_fetch_add_explicit(&m->checks[f][mode][r], 1, memory_order_relaxed);
    unsigned b = 0;
    while (b < TS_GATEWAY__N_BUCKETS && elapsed_us > bucket_le_us[b])
        b++;
    atomic_fetch_add_explicit(&m->latency[f][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->latency_sum_us[f], elapsed_us, memory_order_relaxed);
}

void ts_gateway__metrics_text(const ts_gateway__metrics *m, uint64_t cache_hits,
                              uint64_t cache_misses, uint64_t translations, uint64_t verify_hits,
                              uint64_t verify_misses, ts_common__secbuf *out)
{
    ts_common__secbuf_addf(
        out, "# HELP tokensmith_gateway_checks_total Checks answered, by front, authz mode and "
             "result.\n");
    ts_common__secbuf_addf(out, "# TYPE tokensmith_gateway_checks_total counter\n");
    for (unsigned f = 0; f < 2; f++)
        for (unsigned md = 0; md < TS_GATEWAY__N_MODES; md++)
            for (unsigned r = 0; r < TS_GATEWAY__N_RESULTS; r++)
                ts_common__secbuf_addf(
                    out,
                    "tokensmith_gateway_checks_total{front=\"%s\",mode=\"%s\",result=\"%s\"} "
                    "%" PRIu64 "\n",
                    front_name[f], mode_name[md], result_name[r],
                    atomic_load_explicit(&m->checks[f][md][r], memory_order_relaxed));
    ts_common__secbuf_addf(
        out, "# HELP tokensmith_gateway_check_duration_seconds Time to decide one check.\n");
    ts_common__secbuf_addf(out, "# TYPE tokensmith_gateway_check_duration_seconds histogram\n");
    for (unsigned f = 0; f < 2; f++) {
        uint64_t cum = 0;
        for (unsigned b = 0; b <= TS_GATEWAY__N_BUCKETS; b++) {
            cum += atomic_load_explicit(&m->latency[f][b], memory_order_relaxed);
            if (b < TS_GATEWAY__N_BUCKETS)
                ts_common__secbuf_addf(
                    out,
                    "tokensmith_gateway_check_duration_seconds_bucket{front=\"%s\",le=\"%g\"} "
                    "%" PRIu64 "\n",
                    front_name[f], (double)bucket_le_us[b] / 1e6, cum);
            else
                ts_common__secbuf_addf(
                    out,
                    "tokensmith_gateway_check_duration_seconds_bucket{front=\"%s\",le=\"+Inf\"} "
                    "%" PRIu64 "\n",
                    front_name[f], cum);
        }
        ts_common__secbuf_addf(
            out, "tokensmith_gateway_check_duration_seconds_sum{front=\"%s\"} %.6f\n",
            front_name[f],
            (double)atomic_load_explicit(&m->latency_sum_us[f], memory_order_relaxed) / 1e6);
        ts_common__secbuf_addf(
            out, "tokensmith_gateway_check_duration_seconds_count{front=\"%s\"} %" PRIu64 "\n",
            front_name[f], cum);
    }
    ts_common__secbuf_addf(
        out,
        "# HELP tokensmith_gateway_translation_cache_total Translation cache lookups by result.\n");
    ts_common__secbuf_addf(out, "# TYPE tokensmith_gateway_translation_cache_total counter\n");
    ts_common__secbuf_addf(
        out, "tokensmith_gateway_translation_cache_total{result=\"hit\"} %" PRIu64 "\n",
        cache_hits);
    ts_common__secbuf_addf(
        out, "tokensmith_gateway_translation_cache_total{result=\"miss\"} %" PRIu64 "\n",
        cache_misses);
    ts_common__secbuf_addf(
        out, "# HELP tokensmith_gateway_translations_total Translated tokens signed.\n");
    ts_common__secbuf_addf(out, "# TYPE tokensmith_gateway_translations_total counter\n");
    ts_common__secbuf_addf(out, "tokensmith_gateway_translations_total %" PRIu64 "\n",
                           translations);
    ts_common__secbuf_addf(
        out,
        "# HELP tokensmith_gateway_verify_cache_total Verified-token cache lookups by result.\n");
    ts_common__secbuf_addf(out, "# TYPE tokensmith_gateway_verify_cache_total counter\n");
    ts_common__secbuf_addf(
        out, "tokensmith_gateway_verify_cache_total{result=\"hit\"} %" PRIu64 "\n", verify_hits);
    ts_common__secbuf_addf(
        out, "tokensmith_gateway_verify_cache_total{result=\"miss\"} %" PRIu64 "\n", verify_misses);
    /* The check listeners' TLS sessions (common/tls_conn.c), counted as each closes; zero
     * without TLS, like every other counter. */
    ts_common__tls_handshake_stats hs;
    ts_common__tls_handshake_counters_read(&m->tls, &hs);
    ts_common__secbuf_addf(out, "# HELP tokensmith_gateway_tls_handshakes_total TLS connections of "
                                "the check listeners closed, by whether their handshake "
                                "completed.\n");
    ts_common__secbuf_addf(out, "# TYPE tokensmith_gateway_tls_handshakes_total counter\n");
    ts_common__secbuf_addf(
        out,
        "tokensmith_gateway_tls_handshakes_total{result=\"completed\"} %" PRIu64 "\n"
        "tokensmith_gateway_tls_handshakes_total{result=\"failed\"} %" PRIu64 "\n",
        hs.completed, hs.failed);
    ts_common__secbuf_addf(out, "# HELP tokensmith_gateway_tls_resumed_handshakes_total Completed "
                                "TLS handshakes that resumed a session (a session ticket).\n");
    ts_common__secbuf_addf(out, "# TYPE tokensmith_gateway_tls_resumed_handshakes_total counter\n");
    ts_common__secbuf_addf(out, "tokensmith_gateway_tls_resumed_handshakes_total %" PRIu64 "\n",
                           hs.resumed);
}
