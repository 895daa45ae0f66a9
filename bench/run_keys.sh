#!/bin/sh
# Signatures per second of the service's keyring with its key in a file and in a PKCS#11 token
# (SoftHSM2), ES256 and PS256, 1 and 2 signing threads (bench/keys_bench.c): what keyBackend
# pkcs11 costs per issued token. Rounds alternate the backends; medians are reported.
# Rewrites the "keys" section of docs/benchmarks.md (other sections are kept).
# Usage: bench/run_keys.sh [--seconds S] [--rounds R] [--report-only] [--stdout]
#   --seconds      length of each measurement (default 3)
#   --rounds       rounds per backend, algorithm and thread count (default 5)
#   --report-only  rewrite the section from the last bench/results/keys.jsonl
#   --stdout       print the section instead of rewriting docs/benchmarks.md (a trial run)
# Needs softhsm2 (/usr/lib/softhsm/libsofthsm2.so, softhsm2-util). Raw results stay in
# bench/results/ (not committed).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

seconds=3
rounds=5
report_only=
to_stdout=
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --report-only) report_only=1; shift ;;
    --stdout) to_stdout=1; shift ;;
    *) echo "usage: bench/run_keys.sh [--seconds S] [--rounds R] [--report-only] [--stdout]" >&2; exit 2 ;;
  esac
done

build=${TS_BENCH_BUILD_DIR:-build-bench}
out=bench/results/keys.jsonl
if [ -z "$report_only" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTS_BUILD_TESTS=OFF >/dev/null
  cmake --build "$build" -j2 --target keys_bench ts_p11_keygen >/dev/null
  mkdir -p bench/results
  printf '{"case":"run","seconds":%s,"rounds":%s,"loadavg":"%s","cpus":%s}\n' "$seconds" \
    "$rounds" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(nproc)" > "$out"
  echo "keys_bench ($rounds rounds of ${seconds}s per case)..." >&2
  "$build"/bench/keys_bench --keygen "$build"/tokenservice/service/ts_p11_keygen \
    --seconds "$seconds" --rounds "$rounds" >> "$out"
  printf '{"case":"end","loadavg":"%s"}\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$out"
fi

cmd="bench/run_keys.sh --seconds $seconds --rounds $rounds"
report() {
  if [ -n "$to_stdout" ]; then cat; else node bench/splice.js docs/benchmarks.md keys; fi
}
node - "$out" "$cmd" <<'JS' | report
'use strict';
const fs = require('fs');
const [file, cmd] = process.argv.slice(2);
const rows = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const run = rows.find((r) => r.case === 'run') || {};
const end = rows.find((r) => r.case === 'end') || {};
const sig = rows.filter((r) => r.case === 'sign');
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const rate = (backend, alg, threads) =>
  median(sig.filter((r) => r.backend === backend && r.alg === alg && r.threads === threads)
    .map((r) => r.per_s));
const n = (x) => Math.round(x).toLocaleString('en-US');
const out = [];
const p = (s = '') => out.push(s);
p('## Signing keys: files and PKCS#11');
p();
p(`\`${cmd}\` (bench/keys_bench.c): \`ts_svc_keyring_sign()\` — what each issued token costs —`);
p('with the key in a PEM file (OpenSSL in the process) and in a SoftHSM2 token through its');
p('PKCS#11 module (keyBackend pkcs11: the session pool, `C_SignInit` + `C_Sign` per token).');
p(`Median of ${run.rounds} rounds of ${run.seconds} s, the backends alternating; ${run.cpus} CPUs,`);
p(`load average ${run.loadavg} at the start and ${end.loadavg} at the end (other work ran on the`);
p('machine: the figures are a floor, the ratios are what to read).');
p();
p('| alg | signing threads | key file (signatures/s) | SoftHSM2 (signatures/s) | SoftHSM2 / file |');
p('|---|---|---|---|---|');
for (const alg of ['ES256', 'PS256']) {
  for (const t of [1, 2]) {
    const f = rate('files', alg, t);
    const h = rate('pkcs11', alg, t);
    p(`| ${alg} | ${t} | ${n(f)} | ${n(h)} | ${(h / f).toFixed(2)} |`);
  }
}
p();
p('SoftHSM2 computes the same signatures with the same OpenSSL, in the same process; the');
p('difference is the PKCS#11 path: session and object lookups, and SoftHSM2 decrypting and');
p('rebuilding the private key at every `C_SignInit`. A network HSM adds its round trip to every');
p('signature instead, so its rate is set by its latency and the sessions it allows (the service');
p('opens up to 16).');
p();
p('<details><summary>Raw results</summary>');
p();
p('```json');
for (const r of rows) p(JSON.stringify(r));
p('```');
p();
p('</details>');
process.stdout.write(out.join('\n') + '\n');
JS
echo "wrote the keys section of docs/benchmarks.md" >&2
