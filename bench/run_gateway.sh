#!/bin/sh
# Measure `tokensmith gateway` behind nginx's auth_request against nginx alone, on loopback, in
# one run: one nginx (bench/gateway_nginx.conf.in: a front server whose upstream is a second
# server block answering `return 200`), the gateway (HTTP check listener for nginx, gRPC
# listener for the grpc-js client), and two load generators:
#   bench/gateway_bench.c         phases (a) nginx -> upstream, (b) nginx + auth_request ->
#                                 gateway (translation cache hit) -> upstream, (c) the same with
#                                 a fresh token per request (cold), alternating; medians of R
#   bench/gateway_grpc_bench.mjs  node @grpc/grpc-js, 64 Check calls in flight, cached token
# Rewrites the "gateway" section of docs/benchmarks.md (other sections are kept).
# Usage: bench/run_gateway.sh [--seconds S] [--rounds R] [--connections N] [--nginx-workers W]
#   --seconds        length of each phase (default 3)
#   --rounds         rounds of the three phases (and of the gRPC run); medians (default 5)
#   --connections    keep-alive connections to nginx, one request in flight on each (default 32)
#   --nginx-workers  nginx worker_processes (default 1: see bench/gateway_nginx.conf.in)
#   --gateway-threads the gateway's `threads` (default 8, the gateway's own default)
#   --report-only    rewrite the section from the last bench/results/gateway.jsonl
#   --stdout         print the section instead of rewriting docs/benchmarks.md (a trial run)
#   --profile        instead of the benchmark: the cached phase alone, twice, under `strace -c -f`
#                    (syscalls per check) and `perf record -g` (where the CPU goes), written to
#                    bench/results/gateway_profile.txt; docs/benchmarks.md is left alone
# TS_BENCH_GATEWAY names another tokensmith binary to measure (e.g. an older build to compare);
# by default the one built here.
# Needs nginx (Debian's), node with npm ci done, cmake and a C compiler. The build directory is
# ${TS_BENCH_BUILD_DIR:-build-bench}. Raw results stay in bench/results/ (not committed).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

seconds=3
rounds=5
connections=32
workers=1
gw_threads=8
report_only=
to_stdout=
profile=
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --nginx-workers) workers=$2; shift 2 ;;
    --gateway-threads) gw_threads=$2; shift 2 ;;
    --report-only) report_only=1; shift ;;
    --stdout) to_stdout=1; shift ;;
    --profile) profile=1; shift ;;
    *) echo "usage: bench/run_gateway.sh [--seconds S] [--rounds R] [--connections N] [--nginx-workers W] [--gateway-threads T] [--report-only] [--stdout] [--profile]" >&2; exit 2 ;;
  esac
done

build=${TS_BENCH_BUILD_DIR:-build-bench}
out=bench/results/gateway.jsonl

# The cached phase (b) alone under strace, then under perf: syscalls and CPU per cached check.
profile_cached() {
  prof=bench/results/gateway_profile.txt
  cached() {
    "$build"/bench/gateway_bench --url "http://127.0.0.1:$NGINX_PORT" \
      --admin "http://127.0.0.1:$GW_ADMIN_PORT" --key "$DIR/keys/issuer.pem" \
      --gateway-pid "$GW_PID" --nginx-pids "$nginx_pids" --seconds "$seconds" --rounds 1 \
      --connections "$connections" --only cached | grep '"case":"cached"'
  }
  cached >/dev/null # warm: the translation cache filled
  {
    echo "# $(basename "$TS") at $(git rev-parse --short HEAD 2>/dev/null || echo unknown), loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "## without a tracer"
    cached
    strace -c -f -p "$GW_PID" -o "$DIR/strace.txt" 2>/dev/null &
    st=$!
    sleep 0.5
    line=$(cached)
    kill -INT "$st"
    wait "$st" || true
    n=$(echo "$line" | sed -n 's/.*"requests":\([0-9]*\).*/\1/p' | awk '{ s += $1 } END { print s }')
    # (the calls of gateway_bench's 1 s cached warm-up are counted too: a slight overstatement)
    echo "## syscalls per check under strace ($n checks; the rate itself is strace's)"
    awk -v n="$n" '$NF ~ /^[a-z_0-9]+$/ && $4 ~ /^[0-9]+$/ && $NF != "total" {
      printf "%-16s %8.2f per check\n", $NF, $4 / n }' "$DIR/strace.txt" | sort -k2 -nr
    if command -v perf >/dev/null; then
      # Counts that other work on the machine does not change: per check, the gateway's
      # instructions (user and kernel) and its context switches (each a sleep and a wake-up).
      (sleep 3 && perf stat -x, -e task-clock,context-switches,instructions:u,instructions:k \
        -p "$GW_PID" -o "$DIR/stat.txt" -- sleep "$seconds" 2>/dev/null) &
      pf=$!
      line=$(cached)
      wait "$pf" || true
      rate=$(echo "$line" | sed -n 's/.*"per_s":\([0-9.]*\).*/\1/p' | sort -n | sed -n 2p)
      echo "## perf stat over $seconds s of the middle cached phase, per check (at $rate checks/s)"
      awk -F, -v r="$rate" -v s="$seconds" '$3 != "" && $1 ~ /^[0-9.]+$/ {
        v = $1 / (r * s); if ($3 == "task-clock") { $3 = "cpu-us"; v *= 1000 }
        printf "%-18s %12.2f\n", $3, v }' "$DIR/stat.txt"
      echo "## perf record -g, self time"
      # TS_BENCH_PERF_CALLGRAPH=dwarf for callers in a build without frame pointers
      # after gateway_bench's 2 s of warm-up, within its three cached phases
      (sleep 3 && perf record -q -F 999 --call-graph "${TS_BENCH_PERF_CALLGRAPH:-fp}" \
        -p "$GW_PID" -o "$DIR/perf.data" -- sleep "$seconds" 2>/dev/null) &
      pf=$!
      cached
      wait "$pf" || true
      perf report -q -i "$DIR/perf.data" --stdio --no-children --sort dso,symbol -g none \
        --percent-limit 0.7 2>/dev/null | head -60
      cp "$DIR/perf.data" bench/results/gateway_perf.data # for `perf report -i` by hand
    fi
  } >"$prof"
  cat "$prof"
}

run_bench() {
  if ! command -v node >/dev/null || [ ! -d node_modules/@grpc/grpc-js ]; then
    echo "run_gateway.sh: needs node and node_modules (npm ci)" >&2
    exit 1
  fi
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTS_BUILD_TESTS=OFF \
    -DTS_BUILD_TESTUTIL=ON >/dev/null
  cmake --build "$build" -j2 --target tokensmith gateway_bench >/dev/null
  TS=${TS_BENCH_GATEWAY:-$root/$build/tokensmith}
  SRC=$root
  DIR=$(mktemp -d /tmp/gateway-bench-XXXXXX)
  GW_PID=
  NGINX_PID=
  # shellcheck source=tests/gateway/lib.sh
  . "$root/tests/gateway/lib.sh"  # start_gateway, stop_gateway
  # shellcheck source=tests/gateway/nginx_lib.sh
  . "$root/tests/gateway/nginx_lib.sh"  # need_nginx, start_nginx, stop_nginx, nginx_free_port
  TS_REQUIRE_NGINX=1 need_nginx
  trap 'stop_nginx || true; stop_gateway || true; rm -rf "$DIR"' EXIT
  trap 'exit 1' INT TERM

  # The issuer: a P-256 key, its JWK Set as a file (read once at start, no JWKS server in the
  # way), tokens minted by gateway_bench from the same key.
  mkdir -p "$DIR/keys"
  "$build"/bench/gateway_bench keys "$DIR/keys"
  cat >"$DIR/gateway.json" <<EOC
{"listen": "127.0.0.1:0", "grpc_listen": "127.0.0.1:0", "admin_listen": "127.0.0.1:0",
 "threads": $gw_threads,
 "issuer": "https://gateway.bench.test", "home": "$DIR/gw-home",
 "trust": [{"issuer": "https://issuer.bench.test", "jwks_uri": "file://$DIR/keys/jwks.json",
            "audiences": ["gateway"]}],
 "translate": {"audience": "backend"},
 "authz": {"mode": "enforce",
           "routes": [{"method": "GET", "path": "/nodes", "object": "metadata:nodes"},
                      {"method": "DELETE", "path": "/nodes/:id", "object": "metadata:nodes"}]},
 "http": {"original_uri_header": "X-Original-URI", "original_method_header": "X-Original-Method",
          "client_tokensmith_headers": "reject"}}
EOC
  start_gateway "$DIR/gateway.json" || exit 1
  sed "s|@WORKERS@|$workers|" bench/gateway_nginx.conf.in >"$DIR/nginx.conf.in"
  start_nginx "$DIR/nginx" "$GW_PORT" "$(nginx_free_port)" "$DIR/nginx.conf.in" || exit 1
  sleep 0.2 # the workers
  nginx_pids=$(echo "$NGINX_PID" $(pgrep -P "$NGINX_PID") | tr ' ' ',')

  mkdir -p bench/results
  if [ -n "$profile" ]; then
    profile_cached
    return
  fi
  : >"$out"
  # What was measured: the commit, and whether the sources differed from it (a shared checkout);
  # outside a git checkout (an exported tree), TS_BENCH_COMMIT names it.
  commit=$(git rev-parse --short HEAD 2>/dev/null || echo "${TS_BENCH_COMMIT:-unknown}")
  dirty=false
  if git rev-parse --git-dir >/dev/null 2>&1 &&
      [ -n "$(git status --porcelain --untracked-files=no -- common authn authz tokenservice mhd 2>/dev/null)" ]; then
    dirty=true
  fi
  printf '{"case":"run","commit":"%s","uncommitted_changes":%s,"nginx":"%s","nginx_workers":%s,"gateway_threads":%s,"loadavg":"%s"}\n' \
    "$commit" "$dirty" "$("$NGINX_BIN" -v 2>&1 | sed 's|.*/||')" "$workers" "$gw_threads" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$out"
  echo "gateway_bench: $rounds rounds of 3 phases of ${seconds}s..." >&2
  "$build"/bench/gateway_bench --url "http://127.0.0.1:$NGINX_PORT" \
    --admin "http://127.0.0.1:$GW_ADMIN_PORT" --key "$DIR/keys/issuer.pem" \
    --gateway-pid "$GW_PID" --nginx-pids "$nginx_pids" --seconds "$seconds" --rounds "$rounds" \
    --connections "$connections" >>"$out"
  stop_nginx || true
  printf '{"case":"grpc_run","loadavg":"%s"}\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$out"
  echo "gateway_grpc_bench: $rounds rounds of ${seconds}s, 64 calls in flight..." >&2
  node bench/gateway_grpc_bench.mjs --port "$GW_GRPC_PORT" --proto tokenservice/gateway/proto \
    --token "$DIR/keys/grpc_token" --gateway-pid "$GW_PID" --seconds "$seconds" \
    --rounds "$rounds" --concurrency 64 --clk-tck "$(getconf CLK_TCK)" >>"$out"
  curl -s "http://127.0.0.1:$GW_ADMIN_PORT/metrics" >"$DIR/metrics.txt" || true
  stop_gateway || true
  # The gateway's own account of what it did (its counters, the log's size): no token in either.
  printf '{"case":"gateway","checks_allow":%s,"log_lines":%s}\n' \
    "$(awk '/^tokensmith_gateway_checks_total\{.*result="allow"/ {s += $2} END {print s + 0}' "$DIR/metrics.txt")" \
    "$(wc -l <"$DIR/gateway.log")" >>"$out"
}

if [ -z "$report_only" ]; then
  run_bench
fi
[ -z "$profile" ] || exit 0

cmd="bench/run_gateway.sh --seconds $seconds --rounds $rounds --connections $connections --nginx-workers $workers --gateway-threads $gw_threads"
report() {
  if [ -n "$to_stdout" ]; then cat; else node bench/splice.js docs/benchmarks.md gateway; fi
}
node bench/gateway_report.js "$out" "$cmd" | report
[ -n "$to_stdout" ] || echo "wrote the gateway section of docs/benchmarks.md" >&2
