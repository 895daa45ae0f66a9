#!/bin/sh
# A million rules: build tokensmith in Release, run bench/authz_million (load from a CSV file,
# peak RSS, decisions, reload under load) and node-casbin on the same shapes at the sizes it
# loads within a time limit, and write the "million" section of docs/benchmarks.md.
# Usage: bench/run_million.sh [--rules N] [--node-sizes N,N] [--node-limit SECONDS]
#                             [--min-time SECONDS] [--runs N] [--build-dir DIR]
# Raw results stay in bench/results/ (not committed).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

rules=1000000
node_sizes=100000,300000,1000000
node_limit=60
min_time=0.3
runs=5
build=build-bench
while [ $# -gt 0 ]; do
  case "$1" in
    --rules) rules=$2; shift 2 ;;
    --node-sizes) node_sizes=$2; shift 2 ;;
    --node-limit) node_limit=$2; shift 2 ;;
    --min-time) min_time=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    *) echo "usage: bench/run_million.sh [--rules N] [--node-sizes N,N] [--node-limit SECONDS]" \
         "[--min-time SECONDS] [--runs N] [--build-dir DIR]" >&2; exit 2 ;;
  esac
done

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTS_BUILD_TESTS=OFF -DTS_BUILD_BENCH=ON >/dev/null
cmake --build "$build" -j2 --target authz_million

if [ ! -d node_modules/casbin ]; then
  npm ci --no-audit --no-fund
fi

mkdir -p bench/results
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "running tokensmith (${rules} rules)..." >&2
"./$build/bench/authz_million" --rules "$rules" --dir "$tmp" --min-time "$min_time" \
  --runs "$runs" --readers 2 --reloads 6 > bench/results/million-tokensmith.jsonl
echo "running node-casbin (${node_sizes}, limit ${node_limit} s)..." >&2
node bench/node_casbin_million.js --sizes "$node_sizes" --limit "$node_limit" \
  --min-time "$min_time" --runs "$runs" > bench/results/million-node-casbin.jsonl

node bench/million_report.js bench/results/million-tokensmith.jsonl \
  bench/results/million-node-casbin.jsonl \
  "bench/run_million.sh --rules $rules --node-sizes $node_sizes --node-limit $node_limit --min-time $min_time --runs $runs" |
  node bench/splice.js docs/benchmarks.md million
echo "wrote docs/benchmarks.md" >&2
