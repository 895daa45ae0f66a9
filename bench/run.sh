#!/bin/sh
# Build tokensmith in Release, run its benchmark and node-casbin's on the same shapes, and write
# docs/benchmarks.md. Usage: bench/run.sh [--min-time SECONDS] [--runs N]
# Raw results stay in bench/results/ (not committed).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

min_time=0.5
runs=5
while [ $# -gt 0 ]; do
  case "$1" in
    --min-time) min_time=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "usage: bench/run.sh [--min-time SECONDS] [--runs N]" >&2; exit 2 ;;
  esac
done

cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DTS_BUILD_TESTS=OFF >/dev/null
cmake --build build-bench -j2 --target authz_bench

if [ ! -d node_modules/casbin ]; then
  npm ci --no-audit --no-fund
fi

mkdir -p bench/results
echo "running tokensmith benchmark..." >&2
./build-bench/bench/authz_bench --min-time "$min_time" --runs "$runs" --threads 2 \
  > bench/results/tokensmith.jsonl
echo "running node-casbin benchmark..." >&2
node bench/node_casbin_bench.js --min-time "$min_time" --runs "$runs" \
  > bench/results/node-casbin.jsonl

# Only the authz section of docs/benchmarks.md is rewritten; other sections are kept.
node bench/report.js bench/results/tokensmith.jsonl bench/results/node-casbin.jsonl \
  "bench/run.sh --min-time $min_time --runs $runs" | node bench/splice.js docs/benchmarks.md authz
echo "wrote docs/benchmarks.md" >&2
