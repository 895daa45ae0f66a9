#!/bin/sh
# Build tokensmith in Release, run the authn benchmark and node jose's on the same tokens, and
# rewrite the authn section of docs/benchmarks.md (other sections are kept).
# Usage: bench/run_authn.sh [--min-time SECONDS] [--runs N] [--http-seconds S]
# Raw results stay in bench/results/ (not committed).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

min_time=0.5
runs=5
http_seconds=3
while [ $# -gt 0 ]; do
  case "$1" in
    --min-time) min_time=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --http-seconds) http_seconds=$2; shift 2 ;;
    *) echo "usage: bench/run_authn.sh [--min-time SECONDS] [--runs N] [--http-seconds S]" >&2; exit 2 ;;
  esac
done

# TS_BENCH_BUILD_DIR picks another build directory (default build-bench, shared with run.sh).
build=${TS_BENCH_BUILD_DIR:-build-bench}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTS_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j2 --target authn_bench

if [ ! -d node_modules/jose ]; then
  npm ci --no-audit --no-fund
fi

mkdir -p bench/results
tokens=$(mktemp -d)
trap 'rm -rf "$tokens"' EXIT
echo "running tokensmith authn benchmark..." >&2
"./$build/bench/authn_bench" --min-time "$min_time" --runs "$runs" \
  --http-seconds "$http_seconds" --out "$tokens" > bench/results/authn.jsonl
echo "running node jose benchmark..." >&2
node bench/node_jose_bench.mjs "$tokens" --min-time "$min_time" --runs "$runs" \
  > bench/results/node-jose.jsonl

node bench/authn_report.mjs bench/results/authn.jsonl bench/results/node-jose.jsonl \
  "bench/run_authn.sh --min-time $min_time --runs $runs --http-seconds $http_seconds" |
  node bench/splice.js docs/benchmarks.md authn
echo "wrote the authn section of docs/benchmarks.md" >&2
