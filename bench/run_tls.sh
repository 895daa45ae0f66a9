#!/bin/sh
# The cost of TLS on `tokensmith serve` (bench/tls_bench.c): in one run, against one server
# over http and one over https (with the mTLS CA and service-identity rules, so that it asks
# clients for a certificate), on loopback:
#   - GET /health: http keep-alive, https keep-alive, https with a new connection and a full
#     handshake per request, https with a new connection per request resuming a ticket;
#   - refresh grants over http and over https (keep-alive);
#   - POST /service-identity/session with client certificates (keep-alive, and a new
#     connection with a full handshake per request);
# then prints the TLS cost per request (µs of one request at saturation, https - http, from
# the rates; and the server's CPU time per request) and rewrites the "tls" section of
# docs/benchmarks.md (other sections are kept).
# Usage: bench/run_tls.sh [--seconds S] [--connections N] [--threads N] [--report-only]
# Needs openssl (the certificates). Raw results stay in bench/results/tls.jsonl.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=5
connections=16
threads=16
report_only=
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --report-only) report_only=1; shift ;;
    *) echo "usage: bench/run_tls.sh [--seconds S] [--connections N] [--threads N] [--report-only]" >&2; exit 2 ;;
  esac
done
# Environment: TS_BENCH_BUILD_DIR, an existing build directory (with -DTS_BUILD_BENCH=ON), used as it is
# configured; otherwise build-bench, configured here as a Release build.
build=${TS_BENCH_BUILD_DIR:-build-bench}
out=bench/results/tls.jsonl
if [ -z "$report_only" ]; then
[ -n "${TS_BENCH_BUILD_DIR:-}" ] ||
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTS_BUILD_TESTS=OFF -DTS_BUILD_BENCH=ON >/dev/null
# TS_BENCH_NO_BUILD=1: measure the binaries already built there (a tree that does not build).
[ -n "${TS_BENCH_NO_BUILD:-}" ] || cmake --build "$build" -j2 --target tokensmith tls_bench >/dev/null
ts=$root/$build/tokensmith
tb=$root/$build/bench/tls_bench
mkdir -p bench/results
: >"$out"
dir=$(mktemp -d)
pids=
trap 'for p in $pids; do kill -TERM $p 2>/dev/null; done; rm -rf "$dir"' EXIT

# --- certificates: a CA, the server's, one client's ----------------------------------------
(
  cd "$dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
    -out ca.pem -subj /CN=tokensmith-bench-ca -days 2 2>/dev/null
  mk() { # NAME CN EXT
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null
    openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr" 2>/dev/null
    printf '%b\n' "$3" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
      -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  }
  mk server localhost 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth'
  mk client bench 'subjectAltName=URI:spiffe://cluster.local/ns/bench/sa/client\nextendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature'
  cat >config.json <<'JSON'
{"serviceIdentity": {"rules": [{"kind": "uri", "glob": "spiffe://cluster.local/ns/bench/sa/*",
  "scopes": ["node:read"], "audience": ["smd"]}]}}
JSON
)

# start NAME ARGS...: a server with its own home and store; sets port and pid
start() {
  name=$1; shift
  mkdir -p "$dir/$name"
  "$ts" keys generate --key-dir "$dir/$name/keys" --alg ES256 >/dev/null
  "$ts" serve --listen 127.0.0.1:0 --home "$dir/$name" --alg ES256 --threads "$threads" \
    --max-connections-per-address 0 "$@" 2>"$dir/$name.log" &
  pid=$!
  pids="$pids $pid"
  port=
  i=0
  while [ $i -lt 100 ] && [ -z "$port" ]; do
    kill -0 $pid 2>/dev/null || break
    port=$(sed -n 's/.*"msg":"listening".*"port":\([0-9]*\).*/\1/p' "$dir/$name.log" | tail -1)
    [ -n "$port" ] || sleep 0.1
    i=$((i + 1))
  done
  [ -n "$port" ] || { echo "run_tls.sh: the $name server did not start:" >&2; cat "$dir/$name.log" >&2; exit 1; }
}
start http
http_port=$port http_pid=$pid
# The service-identity session endpoint is limited per client (failed attempts only), and
# every session is one audit record: the store's fsyncs are part of its cost.
start https --config "$dir/config.json" --tls-cert-file "$dir/server.pem" \
  --tls-key-file "$dir/server.key" --service-identity-ca "$dir/ca.pem"
https_port=$port https_pid=$pid
H="--url http://127.0.0.1:$http_port --pid $http_pid"
S="--url https://127.0.0.1:$https_port --pid $https_pid --ca $dir/ca.pem"
C="--cert $dir/client.pem --key $dir/client.key"
run() { # CASE ARGS...
  c=$1; shift
  echo "tls_bench: $c" >&2
  # shellcheck disable=SC2086
  "$tb" --case "$c" --seconds "$seconds" --connections "$connections" "$@" >>"$out"
}
# The machine's load when the run starts: on a shared machine it says how far to trust the rates.
awk '{printf "{\"case\":\"_meta\",\"loadavg\":\"%s %s %s\"}\n", $1, $2, $3}' /proc/loadavg >>"$out"
# shellcheck disable=SC2086
{
run health_http_keepalive $H --kind health
run health_https_keepalive $S --kind health
run health_https_full $S --kind health --mode full
run health_https_resumed $S --kind health --mode resumed
run health_http_new $H --kind health --mode full
run refresh_http_keepalive $H --kind refresh --store "$dir/http/tokensmith.db"
run refresh_https_keepalive $S --kind refresh --store "$dir/https/tokensmith.db"
run session_mtls_keepalive $S $C --kind session
run session_mtls_full $S $C --kind session --mode full
run session_mtls_resumed $S $C --kind session --mode resumed
}
fi

cmd="bench/run_tls.sh --seconds $seconds --connections $connections --threads $threads"
btype=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt" 2>/dev/null)
node - "$out" "$cmd" "$threads" "${btype:-Release}" <<'JS' | node bench/splice.js docs/benchmarks.md tls
'use strict';
const fs = require('fs');
const os = require('os');
const [file, cmd, threads, btype] = process.argv.slice(2);
const rows = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const get = (c) => rows.find((r) => r.case === c) || {};
const n = (x, d = 0) => (x === undefined || x === null || !isFinite(x) ? 'n/a'
  : Number(x).toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }));
const out = [];
const p = (s = '') => out.push(s);
const us = (r) => (r.per_s ? 1e6 / r.per_s : NaN);
p('## TLS: HTTPS and mTLS against plain HTTP');
p();
p('This section is generated by `bench/run_tls.sh`; do not edit it by hand.');
p();
p(`Two \`tokensmith serve\` (${btype} build, ES256, ${threads} server threads) on 127.0.0.1: one over`);
p('plain HTTP, one over HTTPS (GnuTLS through libmicrohttpd, P-256 certificates) that also asks');
p('clients for a certificate (serviceIdentityCaFile). Driven by `tls_bench` (the epoll client of');
p('http_load with GnuTLS) on the same machine; the cores are shared between client and server.');
p('"full": a new TCP connection and a full handshake per request (no ticket asked for);');
p('"resumed": a new connection per request resuming the ticket of the connection\'s previous');
p('session (TLS 1.3 PSK); "keep-alive": one handshake, then requests on the connection.');
p();
p('| case | requests/s | p50 ms | p99 ms | server CPU µs/request | client CPU µs/request | handshakes (resumed) | errors |');
p('|---|---:|---:|---:|---:|---:|---:|---:|');
const label = {
  health_http_keepalive: '`GET /health`, HTTP keep-alive',
  health_https_keepalive: '`GET /health`, HTTPS keep-alive',
  health_https_full: '`GET /health`, HTTPS, full handshake per request',
  health_https_resumed: '`GET /health`, HTTPS, resumed handshake per request',
  health_http_new: '`GET /health`, HTTP, new connection per request',
  refresh_http_keepalive: 'refresh grant, HTTP keep-alive',
  refresh_https_keepalive: 'refresh grant, HTTPS keep-alive',
  session_mtls_keepalive: '`POST /service-identity/session`, mTLS keep-alive',
  session_mtls_full: '`POST /service-identity/session`, mTLS, full handshake per request',
  session_mtls_resumed: '`POST /service-identity/session`, mTLS, resumed per request',
};
for (const [c, l] of Object.entries(label)) {
  const r = get(c);
  if (!r.case) continue;
  p(`| ${l} | ${n(r.per_s)} | ${n(r.p50_ms, 2)} | ${n(r.p99_ms, 2)} | ${n(r.server_cpu_us, 1)} | ${n(r.client_cpu_us, 1)} | ${r.https ? `${n(r.handshakes)} (${n(r.resumed)})` : '-'} | ${n(r.errors + r.transport_errors)} |`);
}
p();
const res = ['health_https_resumed', 'session_mtls_resumed'].map(get).filter((r) => r.case);
if (res.length && res.every((r) => !r.resumed))
  p('**No handshake was resumed:** the server answered every offered ticket with a full handshake (`tokensmith serve`\'s TLS, libmicrohttpd over GnuTLS, issues no TLS 1.3 session tickets and keeps no TLS 1.2 session cache), so the "resumed" rows measure full handshakes too. The client does resume where a server allows it (checked against `openssl s_server`).');
p('Keep-alive rows count no handshakes: they were made in the one-second warm-up before each phase.');
p();
const cost = (a, b, what) => {
  const x = get(a), y = get(b);
  if (!x.case || !y.case) return;
  p(`| ${what} | ${n(us(x) - us(y), 1)} | ${n(x.server_cpu_us - y.server_cpu_us, 1)} | ${n(x.client_cpu_us - y.client_cpu_us, 1)} |`);
};
p('TLS cost per request: the time of one request at saturation (1 / rate, both sides of the');
p('machine together) and the CPU time per request, HTTPS minus HTTP:');
p();
p('| `GET /health` | µs per request | server CPU µs | client CPU µs |');
p('|---|---:|---:|---:|');
cost('health_https_keepalive', 'health_http_keepalive', 'keep-alive (record layer only)');
cost('health_https_full', 'health_http_new', 'full handshake (vs. a new HTTP connection per request)');
cost('health_https_resumed', 'health_http_new', 'resumed handshake (vs. a new HTTP connection per request)');
cost('health_https_full', 'health_http_keepalive', 'full handshake (vs. HTTP keep-alive)');
cost('health_https_resumed', 'health_http_keepalive', 'resumed handshake (vs. HTTP keep-alive)');
cost('refresh_https_keepalive', 'refresh_http_keepalive', 'refresh grant, keep-alive');
p();
p('A refresh grant waits for the store\'s fsyncs, which vary far more from run to run than the');
p('record layer costs: its HTTPS − HTTP difference is within that spread (it can come out');
p('negative), and so are keep-alive differences when the load average is above the core count.');
p();
const sh = (c) => { try { return require('child_process').execSync(c, { encoding: 'utf8' }).trim(); } catch { return 'unknown'; } };
p(`Machine: ${os.cpus().length} × ${os.cpus()[0] ? os.cpus()[0].model : 'unknown'}, ${sh('uname -sr')};`);
p(`GnuTLS ${sh("pkg-config --modversion gnutls")}, libmicrohttpd ${sh('pkg-config --modversion libmicrohttpd')}.`);
const meta = get('_meta');
if (meta.loadavg) p(`Load average (1, 5, 15 min) when the run started: ${meta.loadavg}.`);
const first = rows.find((r) => r.connections);
p(`${n(first ? first.connections : 0)} connections, one request in flight on each. Reproduce: \`${cmd}\``);
p('(`TS_BENCH_BUILD_DIR` picks the build directory; raw results in `bench/results/tls.jsonl`).');
process.stdout.write(out.join('\n') + '\n');
JS
