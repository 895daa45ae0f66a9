#!/usr/bin/env bash
# Set up and run every test: unit, conformance, interop (node casbin), under ASan+UBSan with
# warnings as errors, then a short run of every libFuzzer target. Debian 12, as root.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

# House style: every C file is clang-formatted (.clang-format).
git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror

JOBS=$(nproc)
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Debug -DTS_WERROR=ON -DTS_SANITIZE=ON -DTS_BUILD_BENCH=ON
cmake --build build-test -j"$JOBS"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir build-test --output-on-failure -j"$JOBS"

# Fuzz smoke: each target briefly from its seed corpus.
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTS_FUZZ=ON -DTS_SANITIZE=ON -DTS_WERROR=ON \
  -DTS_BUILD_TESTS=OFF -DTS_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz -j"$JOBS"
for f in fuzz/fuzz_*.c; do
  name=$(basename "$f" .c)
  corpus="fuzz/corpus/${name#fuzz_}"
  work=$(mktemp -d)
  [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
  echo "fuzz: $name for ${FUZZ_SECONDS}s"
  ./build-fuzz/fuzz/"$name" -max_total_time="$FUZZ_SECONDS" -max_len=4096 -timeout=10 \
    -print_final_stats=0 "$work" 2>&1 | tail -n 3
  rm -rf "$work"
done
echo "all tests passed"
