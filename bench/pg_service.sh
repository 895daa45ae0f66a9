#!/bin/sh
# The store comparison of bench/run_service.sh (called by it; `bench/run_service.sh --pg-only`
# runs this part alone): ES256 refresh grants at the same load on
#   sqlite-1  one `tokensmith serve` on its SQLite store (synchronous=FULL),
#   pg-1      one serve on a PostgreSQL database,
#   pg-2      two serves on one PostgreSQL database, the client's connections split between them,
# each for the same time, in one run; the three are repeated ROUNDS times in turn (the machine
# is shared: each setup's median round is reported, every round's rate is shown). The PostgreSQL 15 cluster is started here
# (scripts/pg.sh, in a fresh directory, stopped on exit) and made durable like the SQLite
# store: fsync, synchronous_commit and full_page_writes on (pg.sh's test defaults are off).
# Server CPU is every serve process's; database CPU is the cluster's (postmaster and backends,
# from /proc). Rewrites the "service-pg" section of docs/benchmarks.md, placed after "service".
# Usage: bench/pg_service.sh BUILD_DIR SECONDS CONNECTIONS CLIENT_THREADS THREADS ROUNDS CMD
#        (run_service.sh passes its options; CMD is the reproduce line shown in the section)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ $# -eq 7 ] || { echo "usage: bench/pg_service.sh BUILD SECONDS CONNECTIONS CLIENT_THREADS THREADS ROUNDS CMD" >&2; exit 2; }
build=$1 seconds=$2 connections=$3 client_threads=$4 threads=$5 rounds=$6 cmd=$7
ts=$root/$build/tokensmith
sb=$root/$build/bench/service_bench
out=bench/results/service_pg.jsonl
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
mkdir -p bench/results

tmp=$(mktemp -d)
# The cluster's socket lives in its directory: keep the path short (sun_path).
pgdir=$(mktemp -d /tmp/tspg.XXXXXX)
pids=
cleanup() {
  for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
  for p in $pids; do wait "$p" 2>/dev/null || true; done
  scripts/pg.sh stop "$pgdir" >/dev/null 2>&1 || true
  rm -rf "$tmp" "$pgdir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

conninfo=$(scripts/pg.sh start "$pgdir")
psql_q() { "$PGBIN/psql" -X -q -t -A -v ON_ERROR_STOP=1 "$conninfo" -c "$1"; }
psql_q "ALTER SYSTEM SET fsync = on"
psql_q "ALTER SYSTEM SET synchronous_commit = on"
psql_q "ALTER SYSTEM SET full_page_writes = on"
psql_q "SELECT pg_reload_conf()" >/dev/null
sleep 1
settings=$(psql_q "SELECT string_agg(name || '=' || current_setting(name), ' ' ORDER BY name) FROM pg_settings WHERE name IN ('fsync','synchronous_commit','full_page_writes','shared_buffers','max_connections','wal_sync_method')")
pgversion=$("$PGBIN/postgres" --version)
postmaster=$(head -1 "$pgdir/data/postmaster.pid")

"$ts" keys generate --key-dir "$tmp/keys" --alg ES256 >/dev/null

# Every serve runs with a thread per connection (threadPerConnection, docs/operations.md),
# unless TOKENSMITH_THREAD_PER_CONNECTION=false is set for the pool of `threads` threads.
TOKENSMITH_THREAD_PER_CONNECTION=${TOKENSMITH_THREAD_PER_CONNECTION:-true}
export TOKENSMITH_THREAD_PER_CONNECTION
# start_serve NAME STORE: one serve on 127.0.0.1:0; sets $pid and $port.
start_serve() {
  mkdir -p "$tmp/$1"
  "$ts" serve --listen 127.0.0.1:0 --home "$tmp/$1" --key-dir "$tmp/keys" --store "$2" \
    --alg ES256 --threads "$threads" --max-connections-per-address 0 2>"$tmp/$1.log" &
  pid=$!
  pids="$pids $pid"
  port=
  i=0
  while [ $i -lt 100 ] && [ -z "$port" ]; do
    kill -0 "$pid" 2>/dev/null || break
    port=$(sed -n 's/.*"msg":"listening".*"port":\([0-9]*\).*/\1/p' "$tmp/$1.log" | tail -1)
    [ -n "$port" ] || sleep 0.1
    i=$((i + 1))
  done
  if [ -z "$port" ]; then
    echo "pg_service.sh: the $1 server did not start:" >&2
    cat "$tmp/$1.log" >&2
    exit 1
  fi
}

stop_serves() {
  for p in $pids; do kill -TERM "$p"; done
  for p in $pids; do wait "$p" || true; done
  pids=
}

# run NAME STORE REPLICAS [--db-pid PID]   (in round $round)
run() {
  name=$1 store=$2 n=$3
  shift 3
  urls=''
  spids=''
  k=1
  while [ $k -le "$n" ]; do
    start_serve "$name-r$round-$k" "$store"
    urls="$urls --url http://127.0.0.1:$port"
    spids="$spids --pid $pid"
    k=$((k + 1))
  done
  printf '{"case":"run","name":"%s","round":%d,"loadavg":"%s"}\n' "$name" "$round" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$out"
  echo "pg_service.sh: round $round/$rounds: $name ($n server(s), $seconds s)..." >&2
  # shellcheck disable=SC2086 # the URL and PID lists are words on purpose
  "$sb" $urls $spids --alg ES256 --store "$store" --connections "$connections" \
    --client-threads "$client_threads" --seconds "$seconds" --refresh-only "$name" "$@" >> "$out"
  stop_serves
}

pgstore() { # pgstore NAME: a fresh database for one PostgreSQL case; prints its conninfo
  psql_q "CREATE DATABASE $1" >/dev/null
  echo "$conninfo" | sed "s/dbname=[^ ]*/dbname=$1/"
}

: > "$out"
printf '{"case":"meta","postgres":"%s","settings":"%s"}\n' "$pgversion" "$settings" >> "$out"
round=1
while [ $round -le "$rounds" ]; do
  run sqlite-1 "$tmp/sqlite-1-r$round-1/tokensmith.db" 1
  s=$(pgstore "tsbench_pg1_r$round"); run pg-1 "$s" 1 --db-pid "$postmaster"
  s=$(pgstore "tsbench_pg2_r$round"); run pg-2 "$s" 2 --db-pid "$postmaster"
  round=$((round + 1))
done

# The section goes right after the single-server one the first time (splice.js appends missing
# sections at the end of the file).
node - docs/benchmarks.md <<'JS'
'use strict';
const fs = require('fs');
const f = process.argv[2];
let t = fs.readFileSync(f, 'utf8');
const anchor = '<!-- service:end -->\n';
if (!t.includes('<!-- service-pg:begin -->') && t.includes(anchor)) {
  t = t.replace(anchor, anchor + '\n<!-- service-pg:begin -->\n<!-- service-pg:end -->\n');
  fs.writeFileSync(f, t);
}
JS
node - "$out" "$cmd" "$threads" <<'JS' | node bench/splice.js docs/benchmarks.md service-pg
'use strict';
const fs = require('fs');
const os = require('os');
const { execSync } = require('child_process');
const [file, cmd, threads] = process.argv.slice(2);
const rows = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const meta = rows.find((r) => r.case === 'meta') || {};
// Each result line follows its run line: tag it with the round and the load average.
let cur = {};
for (const r of rows) {
  if (r.case === 'run') cur = r;
  else if (r.case !== 'meta') Object.assign(r, { round: cur.round, loadavg: cur.loadavg });
}
const all = (name) => rows.filter((r) => r.case === name).sort((a, b) => a.per_s - b.per_s);
// The round with the median rate (the lower middle one for an even count).
const get = (name) => { const l = all(name); return l[Math.floor((l.length - 1) / 2)]; };
const rates = (name) => rows.filter((r) => r.case === name).map((r) => n(r.per_s)).join(', ');
const nrounds = Math.max(0, ...rows.filter((r) => r.case === 'run').map((r) => r.round));
const sh = (c) => { try { return execSync(c, { encoding: 'utf8' }).trim(); } catch { return 'unknown'; } };
const n = (x, d = 0) => (x === undefined || x === null || !isFinite(x) ? 'n/a'
  : Number(x).toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }));
const pct = (x) => (x === undefined || !isFinite(x) ? 'n/a' : `${(100 * x).toFixed(1)}%`);
const out = [];
const p = (s = '') => out.push(s);
const label = { 'sqlite-1': 'SQLite, 1 replica', 'pg-1': 'PostgreSQL, 1 replica', 'pg-2': 'PostgreSQL, 2 replicas' };
const sq = get('sqlite-1') || {};
const pg1 = get('pg-1') || {};
const pg2 = get('pg-2') || {};

p('## Token service on PostgreSQL: one and two replicas against SQLite');
p();
p('This section is generated by `bench/run_service.sh` (the `--pg-only` part, bench/pg_service.sh);');
p('do not edit it by hand.');
p();
p('ES256 refresh grants (every connection rotates its own refresh family, as in the refresh');
p('phase above) against `tokensmith serve` (Release build, ' +
  (process.env.TOKENSMITH_THREAD_PER_CONNECTION === 'true'
    ? 'a thread per connection (`threadPerConnection`), ' + threads + ' threads sizing the store pool'
    : threads + ' server threads') + ') in three');
p('setups, one after the other in one run, each for the same time and with the same client');
p('(`service_bench --refresh-only`, epoll over keep-alive HTTP/1.1 connections, one request in');
p('flight on each):');
p();
p('- **SQLite, 1 replica**: the default store, a SQLite file with `synchronous=FULL`;');
p('- **PostgreSQL, 1 replica**: `--store` a database on a local PostgreSQL cluster (Unix socket,');
p('  same disk as the SQLite file), started by the script with `scripts/pg.sh` and made durable');
p('  like the SQLite store: `fsync`, `synchronous_commit` and `full_page_writes` on;');
p('- **PostgreSQL, 2 replicas**: two serves on one database (the shared store they are meant');
p('  for), the client\'s connections split evenly between them, one epoll thread per server.');
p();
p('Each setup gets a fresh store (a new SQLite file, a new database) and bootstrap tokens created');
p('directly in it. Server CPU is the user + system time of every serve process over the phase,');
p('database CPU that of the whole cluster (the postmaster, its backends and the backends it has');
p('reaped, from `/proc/PID/stat`), both divided by the grants answered. Client, servers and');
p(`database share the machine's ${os.cpus().length} CPUs.`);
p();
p('### Machine and run');
p();
p(`- date: ${fs.statSync(file).mtime.toISOString()}`);
p(`- CPU: ${os.cpus()[0]?.model ?? 'unknown'}, \`nproc\` = ${os.cpus().length} (client, servers and database share them; the machine is shared with other work: load average at the start of each setup in the table)`);
p(`- kernel: ${os.type()} ${os.release()}`);
p(`- ${meta.postgres ?? 'PostgreSQL: unknown'}; settings: ${meta.settings ?? 'unknown'}`);
p(`- SQLite ${sh('pkg-config --modversion sqlite3')}; OpenSSL: ${sh('openssl version')}`);
p(`- stores on: ${sh('df -T "${TMPDIR:-/tmp}" | tail -1 | awk \'{print $2}\'')} (\`\${TMPDIR:-/tmp}\` and /tmp)`);
p(`- ${sq.connections ?? '?'} connections, ${n(sq.seconds, 1)} s per setup and round, ${nrounds} rounds ` +
  '(SQLite, PostgreSQL 1, PostgreSQL 2 in turn, each round on fresh stores); each row is the setup\'s ' +
  'median round by rate, its other columns from that same round');
p();
p('Reproduce from the repository root (needs the PostgreSQL 15 server binaries, see');
p('`scripts/pg.sh`; runs only this comparison):');
p();
p('```sh');
p(cmd);
p('```');
p();
p('| setup | grants | per second | vs SQLite, 1 replica | p50 ms | p99 ms | server CPU µs/grant | database CPU µs/grant | server + database µs/grant | client CPU µs/grant | load average at start | rates of all rounds /s |');
p('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|');
for (const [name, r] of [['sqlite-1', sq], ['pg-1', pg1], ['pg-2', pg2]]) {
  if (!r.case) continue;
  const errs = [r.errors ? `${n(r.errors)} errors` : '', r.transport_errors ? `${n(r.transport_errors)} transport errors` : '']
    .filter(Boolean).join(', ');
  const db = r.db_cpu_us_per_req;
  p(`| ${label[name]} | ${n(r.requests)}${errs ? ` (${errs})` : ''} | ${n(r.per_s)} | ${pct(r.per_s / sq.per_s)} | ` +
    `${n(r.p50_ms, 2)} | ${n(r.p99_ms, 2)} | ${n(r.server_cpu_us_per_req)} | ${db === undefined ? '—' : n(db)} | ` +
    `${n(r.server_cpu_us_per_req + (db ?? 0))} | ${n(r.client_cpu_us_per_req, 1)} | ${r.loadavg ?? 'n/a'} (round ${r.round}) | ${rates(name)} |`);
}
p();
p('### Targets');
p();
p('| target | measured | met |');
p('|---|---|---|');
const ratio = pg1.per_s / sq.per_s;
p(`| PostgreSQL, 1 replica ≥ 50% of the SQLite grant rate (database on the same ${os.cpus().length} CPUs) | ` +
  `medians ${n(pg1.per_s)}/s = ${pct(ratio)} of ${n(sq.per_s)}/s; per round ` +
  rows.filter((r) => r.case === 'pg-1').map((r) => {
    const s1 = rows.find((x) => x.case === 'sqlite-1' && x.round === r.round);
    return s1 ? pct(r.per_s / s1.per_s) : 'n/a';
  }).join(', ') + ` | ${ratio >= 0.5 ? 'met' : '**not met**'} |`);
// The issue's targets are for one replica; two replicas on the same 2 CPUs are shown for scale.
for (const [name, r] of [['pg-1', pg1]])
  if (r.case)
    p(`| ${label[name]}: p99 ≤ 50 ms at ${r.connections} connections | ${n(r.p99_ms, 2)} ms (median round; all rounds: ` +
      `${rows.filter((x) => x.case === name).map((x) => n(x.p99_ms, 1)).join(', ')} ms) | ${r.p99_ms <= 50 ? 'met' : '**not met**'} |`);
if (pg2.case) {
  p();
  p(`Two replicas (not a target: two servers, the database and the client on the same ${os.cpus().length} CPUs): p99 ` +
    `${n(pg2.p99_ms, 2)} ms (all rounds: ${rows.filter((x) => x.case === 'pg-2').map((x) => n(x.p99_ms, 1)).join(', ')} ms).`);
}
if (sq.case) {
  // The machine is shared: the SQLite row of the same run shows what its load does to the tail.
  p();
  p(`For scale on this machine and at this load: in the same run, SQLite's p99 was ${n(sq.p99_ms, 2)} ms ` +
    `(p50 ${n(sq.p50_ms, 2)} ms)${sq.p99_ms > 50 ? ', itself above 50 ms' : ''}. CPU the benchmark's own ` +
    'processes kept busy (rate × CPU per grant of servers, database and client): ' +
    [['sqlite-1', sq], ['pg-1', pg1], ['pg-2', pg2]].filter(([, r]) => r.case).map(([name, r]) =>
      `${label[name]}: ${n(r.per_s * (r.server_cpu_us_per_req + (r.db_cpu_us_per_req ?? 0) + r.client_cpu_us_per_req) / 1e6, 2)}`)
      .join(', ') + ` of ${os.cpus().length} CPUs (the remainder: idle while commits wait, or the machine's other work).`);
}
p();
p('### Published figures of other servers');
p();
p('Not measured here, on other hardware and other flows; listed for scale only, as their');
p('publishers state them:');
p();
p('- **Keycloak**: its high-availability guide, "Concepts for sizing CPU and memory resources"');
p('  (<https://www.keycloak.org/high-availability/single-cluster/concepts-memory-and-cpu-sizing>),');
p('  as stated in the Red Hat build of Keycloak 26.4 edition');
p('  (<https://docs.redhat.com/ja/documentation/red_hat_build_of_keycloak/26.4/html/high_availability_guide/multi-cluster-concepts-memory-and-cpu-sizing->):');
p('  1 vCPU per 120 refresh-token requests per second (tested up to 435/s) and 1 vCPU per 120');
p('  client-credentials grants per second (tested up to 2,000/s; most of that CPU goes into new');
p('  TLS connections), with the sessions in an Aurora PostgreSQL database sized separately');
p('  (0.35 to 0.7 vCPU per 100 login/logout/refresh requests per second). 120 grants per vCPU');
p(`  is about ${n(1e6 / 120)} µs of Keycloak CPU per refresh grant, database excluded; earlier`);
p('  editions of the guide gave other ratios (for example 350 refresh requests per second per');
p('  vCPU per Pod in a three-node cluster).');
p('- **ORY Hydra**: no published token-endpoint rate was found. Hydra\'s own benchmark script');
p('  (`scripts/run-bench.sh`,');
p('  <https://github.com/ory/hydra/blob/a52494d561653839f2c46ad3342542c4a9702f54/scripts/run-bench.sh>)');
p('  runs `hey` against the in-memory store only and says figures against MySQL or PostgreSQL');
p('  are not published because they depend too much on the deployment; its generated results');
p('  were not found. Ory\'s article on tuning Hydra\'s persistence layer');
p('  (<https://www.ory.sh/oauth2-oidc-server-performance-tuning-scale/>) describes fewer');
p('  database writes per flow for a user peaking above 600 logins per second, without a');
p('  token-endpoint rate per CPU.');
p();
p('```json');
for (const r of rows) p(JSON.stringify(r));
p('```');
process.stdout.write(out.join('\n') + '\n');
JS
echo "wrote the service-pg section of docs/benchmarks.md" >&2
