#!/bin/sh
# Load-test `tokensmith serve` on loopback for ES256 and PS256 (bench/service_bench.c) and rewrite
# the "service" section of docs/benchmarks.md (other sections are kept).
# Usage: bench/run_service.sh [--seconds S] [--connections N] [--client-threads N]
#                             [--client epoll|curl] [--threads N] [--soak-requests N]
#   --seconds        length of the health, exchange and refresh phases (default 10)
#   --connections    keep-alive connections, one request in flight on each (default 64);
#                    --workers is the same option
#   --client-threads client threads running epoll over the connections (default 1)
#   --client         epoll (default) or curl: one thread with a libcurl handle per connection
#   --threads        server worker threads (default 16, the server's default)
#   --soak-requests  total requests after which the server's memory is read (default 1000000;
#                    only for the algorithms in TS_BENCH_SOAK_ALGS, default ES256)
#   --report-only    rewrite the section from the last bench/results/service.jsonl (pass the
#                    options of that run so the reproduce line matches)
#   --pg-only        run only the store comparison (bench/pg_service.sh: ES256 refresh grants
#                    on SQLite, on PostgreSQL, and on two replicas sharing PostgreSQL; needs the
#                    PostgreSQL 15 server binaries) and rewrite only its section
#   --no-pg          skip that comparison (a full run ends with it)
#   --pg-rounds N    rounds of that comparison, each setup once per round (default 3)
# Each algorithm gets a fresh state directory under TMPDIR (the store's fsyncs go to that disk).
# Raw results stay in bench/results/ (not committed).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

seconds=10
connections=64
client_threads=1
client=epoll
threads=16
soak=1000000
report_only=
pg=1
pg_only=
pg_rounds=3
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --connections|--workers) connections=$2; shift 2 ;;
    --client-threads) client_threads=$2; shift 2 ;;
    --client) client=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --soak-requests) soak=$2; shift 2 ;;
    --report-only) report_only=1; shift ;;
    --pg-only) pg_only=1; shift ;;
    --no-pg) pg=; shift ;;
    --pg-rounds) pg_rounds=$2; shift 2 ;;
    *) echo "usage: bench/run_service.sh [--seconds S] [--connections N] [--client-threads N] [--client epoll|curl] [--threads N] [--soak-requests N] [--pg-only|--no-pg] [--pg-rounds N]" >&2; exit 2 ;;
  esac
done
soak_algs=${TS_BENCH_SOAK_ALGS:-ES256}

build=${TS_BENCH_BUILD_DIR:-build-bench}
out=bench/results/service.jsonl
if [ -z "$report_only" ]; then
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTS_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j2 --target tokensmith service_bench >/dev/null
fi
# The store comparison uses the refresh phase's client options; its own reproduce line.
pg_cmd="bench/run_service.sh --pg-only --seconds $seconds --connections $connections --client-threads $client_threads --threads $threads --pg-rounds $pg_rounds"
if [ -n "$pg_only" ]; then
  [ "$client" = epoll ] || { echo "run_service.sh: --pg-only uses the epoll client" >&2; exit 2; }
  exec bench/pg_service.sh "$build" "$seconds" "$connections" "$client_threads" "$threads" "$pg_rounds" "$pg_cmd"
fi
if [ -z "$report_only" ]; then
ts=$root/$build/tokensmith

mkdir -p bench/results
: > "$out"
dir=
pid=
trap '[ -n "$pid" ] && kill -TERM $pid 2>/dev/null; [ -n "$dir" ] && rm -rf "$dir"' EXIT

for alg in ES256 PS256; do
  dir=$(mktemp -d)
  "$ts" keys generate --key-dir "$dir/keys" --alg "$alg" >/dev/null
  key=$(ls "$dir"/keys/*.pem)
  "$ts" serve --listen 127.0.0.1:0 --home "$dir" --alg "$alg" --threads "$threads" \
    --max-connections-per-address 0 \
    2>"$dir/server.log" &
  pid=$!
  port=
  i=0
  while [ $i -lt 100 ] && [ -z "$port" ]; do
    kill -0 $pid 2>/dev/null || break
    port=$(sed -n 's/.*"msg":"listening".*"port":\([0-9]*\).*/\1/p' "$dir/server.log" | tail -1)
    [ -n "$port" ] || sleep 0.1
    i=$((i + 1))
  done
  if [ -z "$port" ]; then
    echo "run_service.sh: the $alg server did not start:" >&2
    cat "$dir/server.log" >&2
    exit 1
  fi
  n=0
  case " $soak_algs " in *" $alg "*) n=$soak ;; esac
  echo "running $alg against 127.0.0.1:$port (soak to $n requests)..." >&2
  "$root/$build/bench/service_bench" --url "http://127.0.0.1:$port" --pid $pid --alg "$alg" \
    --key "$key" --store "$dir/tokensmith.db" --connections "$connections" \
    --client-threads "$client_threads" --client "$client" --seconds "$seconds" \
    --soak-requests "$n" >> "$out"
  kill -TERM $pid
  wait $pid
  pid=
  rm -rf "$dir"
  dir=
done
fi

cmd="bench/run_service.sh --seconds $seconds --connections $connections --client-threads $client_threads --client $client --threads $threads --soak-requests $soak"
node - "$out" "$cmd" "$threads" "$soak_algs" <<'JS' | node bench/splice.js docs/benchmarks.md service
'use strict';
const fs = require('fs');
const os = require('os');
const { execSync } = require('child_process');
const [file, cmd, threads, soakAlgs] = process.argv.slice(2);
const rows = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const get = (c, alg) => rows.find((r) => r.case === c && r.alg === alg);
const sh = (c) => { try { return execSync(c, { encoding: 'utf8' }).trim(); } catch { return 'unknown'; } };
const n = (x, d = 0) => (x === undefined || x === null ? 'n/a'
  : Number(x).toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }));
const pct = (x) => (x === undefined || !isFinite(x) ? 'n/a' : `${(100 * x).toFixed(1)}%`);
const out = [];
const p = (s = '') => out.push(s);
const algs = ['ES256', 'PS256'];
const sign = Object.fromEntries(algs.map((a) => [a, get('sign', a) || {}]));
// The ceiling is the better of the one-thread and the all-CPU rate: on a shared machine the
// all-CPU run can come out lower than one thread alone.
for (const a of algs) sign[a].ceiling = Math.max(sign[a].per_s_1thread || 0, sign[a].per_s_all || 0);

p('## Token service: grants per second, latency and memory');
p();
p('This section is generated by `bench/run_service.sh`; do not edit it by hand.');
p();
p('`tokensmith serve` (Release build, default configuration: SQLite store with');
p(`\`synchronous=FULL\`, ${threads} server threads) on 127.0.0.1, driven by \`service_bench\` on the same`);
p('machine. Per algorithm a fresh state directory and key; bootstrap tokens are created directly');
p('in the store before the load.');
p();
const lr = rows.find((r) => r.case === 'refresh' || r.case === 'exchange') || {};
const conns = lr.connections ?? lr.workers ?? '?';
if ((lr.client ?? 'epoll') === 'curl') {
  p(`The client: ${conns} threads, each with one keep-alive libcurl connection and one request in`);
  p('flight, so every request also costs a thread switch in the client.');
} else {
  const ct = lr.client_threads ?? 1;
  p(`The client: ${ct === 1 ? 'one thread' : `${ct} threads`} running epoll over ${conns} keep-alive HTTP/1.1`);
  p('connections, one request in flight on each (no pipelining); the server sees up to that many');
  p('concurrent requests. Both processes share the CPUs, so the client\'s own CPU time per request');
  p('is shown next to the server\'s: every microsecond the client spends is taken from the server.');
}
p();
p('- **health**: `GET /health` (a store ping and a small JSON answer) at full load on the same');
p('  connections: the cost of the HTTP round trip alone on this machine, the upper bound for any');
p('  grant;');
p('- **exchange**: every request redeems a different bootstrap token (RFC 8693 exchange);');
p('- **refresh**: every connection rotates its own refresh family (started by one exchange before');
p('  the timed phases), each answer giving the next refresh token;');
p('- **raw sign**: `EVP_DigestSign` (SHA-256; PSS with salt = digest length for PS256) of a');
p('  760-byte signing input with the server\'s own key, cached `EVP_PKEY`, measured in the same');
p('  run just before the load, on one thread and on one thread per CPU. The ceiling the ratios');
p('  use is the higher of the two (the machine is shared, so the all-CPU run can be lower);');
p('- latencies are per request as the client sees them; server CPU is the server process\'s');
p('  user + system time over the phase divided by its requests, client CPU the same for the');
p('  `service_bench` process (every thread, from `getrusage`).');
p();
p('### Machine and run');
p();
p(`- date: ${fs.statSync(file).mtime.toISOString()}`);
p(`- CPU: ${os.cpus()[0]?.model ?? 'unknown'}, \`nproc\` = ${os.cpus().length} (client and server share them)`);
p(`- kernel: ${os.type()} ${os.release()}`);
p(`- compiler: ${sh('cc --version | head -1')}`);
p(`- OpenSSL: ${sh('openssl version')}; libcurl ${sh('pkg-config --modversion libcurl')}; SQLite ${sh('pkg-config --modversion sqlite3')}`);
p(`- store on: ${sh('df -T "${TMPDIR:-/tmp}" | tail -1 | awk \'{print $2}\'')} (the state directories live under \`\${TMPDIR:-/tmp}\`)`);
p('- tokensmith build: `cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DTS_BUILD_TESTS=OFF`');
p();
p('Reproduce from the repository root (needs cmake, a C compiler, libcurl and node; the');
p('memory soak takes several minutes):');
p();
p('```sh');
p(cmd);
p('```');
p();
for (const alg of algs) {
  const s = sign[alg];
  p(`### ${alg}`);
  p();
  p('| case | requests | per second | ratio to sign ceiling | p50 ms | p99 ms | server CPU µs/req | client CPU µs/req |');
  p('|---|---:|---:|---:|---:|---:|---:|---:|');
  p(`| raw sign, 1 thread | | ${n(s.per_s_1thread)} | | | | | |`);
  p(`| raw sign, ${s.threads ?? '?'} threads | | ${n(s.per_s_all)} | | | | | |`);
  p(`| sign ceiling | | ${n(s.ceiling)} | 100% | | | | |`);
  for (const c of ['health', 'exchange', 'refresh', 'refresh_soak']) {
    const r = get(c, alg);
    if (!r) continue;
    const label = c === 'refresh_soak' ? 'refresh, soak' : c === 'health' ? 'health (HTTP baseline)' : c;
    const errs = [r.errors ? `${n(r.errors)} errors` : '', r.transport_errors ? `${n(r.transport_errors)} transport errors` : '']
      .filter(Boolean).join(', ');
    p(`| ${label} | ${n(r.requests)}${errs ? ` (${errs})` : ''} | ${n(r.per_s)} | ` +
      `${c === 'health' ? '' : pct(r.per_s / s.ceiling)} | ${n(r.p50_ms, 2)} | ${n(r.p99_ms, 2)} | ` +
      `${n(r.server_cpu_us_per_req)} | ${n(r.client_cpu_us_per_req, 1)} |`);
  }
  p();
}
p('### Server memory (VmRSS)');
p();
p(`The server's resident memory read from \`/proc/PID/status\` while the load runs, after the`);
p(`given number of answered requests (exchanges and refreshes together). The long refresh soak`);
p(`runs for ${soakAlgs}.`);
p();
p('| alg | at start | after ~10,000 | at the end (requests) | end / 10,000 |');
p('|---|---:|---:|---:|---:|');
const mem = {};
for (const alg of algs) {
  const rs = rows.filter((r) => r.case === 'rss' && r.alg === alg);
  const start = rs.find((r) => r.requests === 0);
  const r10 = rs.find((r) => r.requests >= 10000);
  const end = get('rss_end', alg);
  if (!end) continue;
  const ratio = r10 && r10.vm_rss_kb > 0 ? end.vm_rss_kb / r10.vm_rss_kb : NaN;
  mem[alg] = { end, ratio };
  const kb = (r) => (r ? `${n(r.vm_rss_kb)} kB` : 'n/a');
  p(`| ${alg} | ${kb(start)} | ${r10 ? `${kb(r10)} (${n(r10.requests)})` : 'n/a (fewer requests)'} | ` +
    `${n(end.vm_rss_kb)} kB (${n(end.requests)}) | ${isFinite(ratio) ? ratio.toFixed(2) + 'x' : 'n/a'} |`);
}
const curve = rows.filter((r) => r.case === 'rss' && r.requests >= 100000);
if (curve.length) {
  p();
  p('Samples during the soak: ' + curve.map((r) => `${r.alg} ${n(r.requests / 1000)}k: ${n(r.vm_rss_kb)} kB`).join('; ') + '.');
}
p();
p('### Targets');
p();
p('| target | measured | met |');
p('|---|---|---|');
const es = get('refresh', 'ES256');
const esRatio = es ? es.per_s / sign.ES256.ceiling : NaN;
const esSoak = get('refresh_soak', 'ES256');
p(`| ES256 refresh grants ≥ 50% of the raw ES256 sign ceiling | ${n(es?.per_s)}/s = ${pct(esRatio)} of ` +
  `${n(sign.ES256.ceiling)}/s${esSoak ? ` (soak: ${n(esSoak.per_s)}/s = ${pct(esSoak.per_s / sign.ES256.ceiling)})` : ''} | ${esRatio >= 0.5 ? 'met' : '**not met**'} |`);
const soaked = Object.entries(mem).filter(([, m]) => m.end.requests >= 1000000);
if (soaked.length) {
  for (const [alg, m] of soaked)
    p(`| ${alg}: VmRSS after 1,000,000 requests ≤ 1.2x that after 10,000 | ${m.ratio.toFixed(2)}x ` +
      `(${n(m.end.requests)} requests) | ${m.ratio <= 1.2 ? 'met' : '**not met**'} |`);
} else {
  p('| VmRSS after 1,000,000 requests ≤ 1.2x that after 10,000 | soak shorter than 1,000,000 requests | not measured |');
}
const health = get('health', 'ES256');
if (health && es) {
  // What bounds a grant here: client and server share the CPUs, and the round trip alone
  // (the same client, the same server, no signature and no store) is measured in this run.
  const hRatio = health.per_s / sign.ES256.ceiling;
  p();
  p(`Where the 50% target stands on this machine: \`GET /health\` — the same client, server and`);
  p(`connections with no signature and no store write — answered ${n(health.per_s)}/s, ` +
    `${pct(hRatio)} of the sign ceiling, at ${n(health.server_cpu_us_per_req)} µs of server and ` +
    `${n(health.client_cpu_us_per_req, 1)} µs of client CPU per request.`);
  p(`A refresh grant adds one ES256 signature (${n(1e6 / sign.ES256.per_s_1thread, 1)} µs on one ` +
    `core) and a durable store write to that same round trip, so on ${os.cpus().length} CPUs ` +
    `shared by client and server it cannot reach ${hRatio < 0.5 ? 'even the rate of the round trip alone, which is itself below 50%' : 'the round-trip rate'}.` +
    ` A grant costs ${n(es.server_cpu_us_per_req)} µs of server CPU here.`);
  // The CPU budget: at 50% of the ceiling every grant may use at most this much CPU in all.
  const budget = (os.cpus().length * 1e6) / (0.5 * sign.ES256.ceiling);
  const floor = health.server_cpu_us_per_req + health.client_cpu_us_per_req + 1e6 / sign.ES256.per_s_1thread;
  p(`In CPU terms: at 50% of the ceiling a grant may cost at most ${n(budget, 1)} µs of CPU in all ` +
    `(${os.cpus().length} CPUs / half the ceiling); the round trip plus the signature alone ` +
    `cost ${n(floor, 1)} µs, before any store work${floor > budget ? ', so the target is out of reach on this machine' : ''}.`);
  p('The ratio is meaningful on a machine where the client runs elsewhere and the server has');
  p('the cores to itself.');
}
p();
p('```json');
for (const r of rows) p(JSON.stringify(r));
p('```');
process.stdout.write(out.join('\n') + '\n');
JS
echo "wrote the service section of docs/benchmarks.md" >&2
if [ -z "$report_only" ] && [ -n "$pg" ] && [ "$client" = epoll ]; then
  bench/pg_service.sh "$build" "$seconds" "$connections" "$client_threads" "$threads" "$pg_rounds" "$pg_cmd"
fi
