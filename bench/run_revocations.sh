#!/bin/sh
# Build tokensmith in Release, run the revocation-list benchmark (authn_revocations_bench) and
# rewrite the revocations section of docs/benchmarks.md (other sections are kept). The
# propagation time comes from tests/revocations (ctest -R revocations.e2e -V prints it) and is
# added below the table with --propagation "TEXT".
# Usage: bench/run_revocations.sh [--runs N] [--iterations N] [--propagation TEXT]
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

runs=7
iterations=2000000
propagation=
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --iterations) iterations=$2; shift 2 ;;
    --propagation) propagation=$2; shift 2 ;;
    *) echo "usage: bench/run_revocations.sh [--runs N] [--iterations N] [--propagation TEXT]" >&2; exit 2 ;;
  esac
done

# TS_BENCH_BUILD_DIR picks another build directory (default build-bench, shared with run.sh).
build=${TS_BENCH_BUILD_DIR:-build-bench}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTS_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j2 --target authn_revocations_bench

mkdir -p bench/results
"./$build/bench/authn_revocations_bench" --runs "$runs" --iterations "$iterations" \
  > bench/results/revocations.md
{
  cat bench/results/revocations.md
  if [ -n "$propagation" ]; then
    printf '\n%s\n' "$propagation"
  fi
} | node bench/splice.js docs/benchmarks.md revocations
echo "wrote the revocations section of docs/benchmarks.md" >&2
